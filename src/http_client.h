/*
 * http_client: the async HTTP client behind evf_http() (evfcgi.h).
 *
 * libcurl's multi-socket interface driven by the loop of the calling
 * thread; see http_client.c.
 */
#ifndef EVF_HTTP_CLIENT_H
#define EVF_HTTP_CLIENT_H

/*
 * The most bytes of one upstream body (or header block) evf_http keeps:
 * 8 MiB, or max_body when that is smaller.  Past it the call fails with
 * EVF_EHTTP ("upstream answer too large"), at once when the upstream
 * announced the length.
 */
#define EVF_HTTP_MAX_ANSWER ((size_t)8 << 20)

/* curl_global_init, once, before any thread starts.  0 or -1. */
int evf_http_global_init(void);

/* Drop this thread's multi handle and its cached connections. */
void evf_http_shutdown(void);

#endif
