/*
 * testclient: the TestClient of evfcgi_test.h, split in two files.
 *
 * testclient.c owns the client (the app's registration and lifespan, the
 * private loop and pool, the overrides) and each exchange: it is a second
 * owner of requests beside conn.c (evf_req_owner_ops), feeding PARAMS and
 * STDIN and decoding the STDOUT records the request writes.
 *
 * testclient_msg.c is pure: a request (evf_client_req) turned into the
 * CGI variables a web server would send and the body bytes (JSON,
 * urlencoded form, multipart), and an answer's CGI head parsed into the
 * response's status and headers.  Single-threaded, like the client.
 */
#ifndef EVF_TESTCLIENT_H
#define EVF_TESTCLIENT_H

#include <stddef.h>

#include "buf.h"
#include "evfcgi_test.h"

/*
 * Encode req's PARAMS stream (FastCGI name-value pairs) into params and
 * its body into body (both empty on entry, the caller frees them).
 * 0, EVF_EINVAL (a malformed request: no leading '/', a header without
 * ':', ...; logged), or -ENOMEM.
 */
int evf__tc_encode(const evf_client_req *req, evf_buf_t *params,
                   evf_buf_t *body);

/*
 * head[0..len) is the CGI head of an answer (header lines, each ended by
 * CRLF, without the blank line): fill resp's status (Status:, else 200)
 * and headers (Status left out).  0 or -ENOMEM.
 */
int evf__tc_parse_head(const char *head, size_t len, evf_client_resp *resp);

#endif
