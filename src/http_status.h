/*
 * http_status: HTTP status codes' reason phrases.  Pure.
 */
#ifndef EVF_HTTP_STATUS_H
#define EVF_HTTP_STATUS_H

/* The reason phrase of status (a generic one for unknown codes). */
const char *evf_http_reason(int status);

#endif
