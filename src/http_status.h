/*
 * http_status: HTTP status codes and their reason phrases, pure.
 *
 * The reason phrase goes in the "Status: 404 Not Found" line a FastCGI
 * responder sends, and in the detail of an error answered for a bare
 * status ({"detail": "Not Found"}, as Starlette does).
 */
#ifndef EVF_HTTP_STATUS_H
#define EVF_HTTP_STATUS_H

/*
 * The reason phrase of status: for every registered code from 100 to 511
 * the phrase Starlette uses (Python's http.HTTPStatus: "Request Entity
 * Too Large" for 413, "Unprocessable Entity" for 422); for any other code
 * the name of its class, "Informational" (below 200), "Success",
 * "Redirection", "Client Error" or "Server Error" (500 and above).  Never
 * NULL; a static string.
 */
const char *evf_http_reason(int status);

#endif
