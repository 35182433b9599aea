/*
 * Unit tests for the HTTP client (http_client.c): easy handles kept from
 * one transfer to the next must not carry one request's method, body or
 * headers into the next.  A handler (/call) makes the evf_http call the
 * test put in `g.opts` against an upstream played by a thread here: it
 * answers every request with the request's own bytes (head and body), so
 * the test sees exactly what the client sent.  The transfers run one
 * after another on the same loop, so each reuses the handle (and the
 * connection) the previous one left.
 */
#include "config.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "app.h"
#include "coro.h"
#include "evfcgi.h"
#include "fcgi_peer.h"
#include "http_client.h"
#include "log.h"
#include "settings.h"
#include "unit.h"

#define MAX_CLIENTS 8

static struct {
    evf_http_opts opts;         /* the next call's */
    int rc;
    long status;
    char seen[4096];            /* the answer's body: the request sent */
    char url[64];
    int stop[2];                /* a byte ends the upstream thread */
    int lfd;
    pthread_t th;
} g;

/* ---- the upstream: echoes each request -------------------------------- */

typedef struct client {
    int fd;
    char in[8192];
    size_t len;
} client_t;

/* The length of a whole request at the start of c->in, or 0. */
static size_t
whole_request(const client_t *c)
{
    const char *end = memmem(c->in, c->len, "\r\n\r\n", 4);
    if (!end)
        return 0;
    size_t head = (size_t)(end - c->in) + 4, body = 0;
    const char *clen = memmem(c->in, head, "Content-Length: ", 16);
    if (clen)
        body = strtoul(clen + 16, NULL, 10);
    return c->len >= head + body ? head + body : 0;
}

/* Answer one request: 200, its bytes as the body (none for HEAD). */
static void
echo(client_t *c, size_t n)
{
    char hdr[128];
    bool head = strncmp(c->in, "HEAD ", 5) == 0;
    int h = snprintf(hdr, sizeof(hdr), "HTTP/1.1 200 OK\r\n"
                     "Content-Type: text/plain\r\n"
                     "Content-Length: %zu\r\n\r\n", n);
    if (write(c->fd, hdr, (size_t)h) != h ||
        (!head && write(c->fd, c->in, n) != (ssize_t)n)) {
        close(c->fd);
        c->fd = -1;
        return;
    }
    memmove(c->in, c->in + n, c->len - n);
    c->len -= n;
}

static void *
upstream(void *arg)
{
    client_t cs[MAX_CLIENTS];
    (void)arg;
    for (int i = 0; i < MAX_CLIENTS; i++)
        cs[i].fd = -1;
    for (;;) {
        struct pollfd p[MAX_CLIENTS + 2];
        p[0] = (struct pollfd){ .fd = g.stop[0], .events = POLLIN };
        p[1] = (struct pollfd){ .fd = g.lfd, .events = POLLIN };
        for (int i = 0; i < MAX_CLIENTS; i++)
            p[i + 2] = (struct pollfd){ .fd = cs[i].fd, .events = POLLIN };
        if (poll(p, MAX_CLIENTS + 2, 10000) <= 0 || p[0].revents)
            break;
        if (p[1].revents & POLLIN) {
            int fd = accept(g.lfd, NULL, NULL);
            for (int i = 0; fd >= 0 && i < MAX_CLIENTS; i++)
                if (cs[i].fd < 0) {
                    cs[i].fd = fd, cs[i].len = 0, fd = -1;
                }
            if (fd >= 0)
                close(fd);
        }
        for (int i = 0; i < MAX_CLIENTS; i++) {
            client_t *c = &cs[i];
            if (c->fd < 0 || !p[i + 2].revents)
                continue;
            ssize_t n = read(c->fd, c->in + c->len, sizeof(c->in) - c->len);
            if (n <= 0) {
                close(c->fd);
                c->fd = -1;
                continue;
            }
            c->len += (size_t)n;
            size_t whole;
            while (c->fd >= 0 && (whole = whole_request(c)))
                echo(c, whole);
        }
    }
    for (int i = 0; i < MAX_CLIENTS; i++)
        if (cs[i].fd >= 0)
            close(cs[i].fd);
    return NULL;
}

/* ---- the app ----------------------------------------------------------- */

static void
h_call(evf_req *r)
{
    evf_http_response resp;
    g.rc = evf_http(r, &g.opts, &resp);
    g.status = resp.status;
    snprintf(g.seen, sizeof(g.seen), "%s", resp.body);
    evf_json_printf(r, 200, "{}");
}

static const evf_route routes[] = {
    EVF_GET("/call", h_call),
    EVF_END
};

static const evf_app app = {
    .abi = EVF_ABI_VERSION,
    .name = "http_client",
    .routes = routes,
};

/* Make the call in g.opts through a request; g.seen: what was sent. */
static void
call(uint16_t id)
{
    g.rc = 1;
    g.status = 0;
    g.seen[0] = '\0';
    send_get(id, "/call");
    CU_ASSERT_TRUE(ended(id, 10.0));
    CU_ASSERT_EQUAL(g.rc, 0);
    CU_ASSERT_EQUAL(g.status, 200);
}

static bool
sent(const char *what)
{
    return strstr(g.seen, what) != NULL;
}

/* ---- tests ------------------------------------------------------------- */

static void
test_no_residue(void)
{
    static const char *const hdrs[] = { "X-Test: yes", NULL };
    open_conn();

    g.opts = (evf_http_opts){ .url = g.url, .method = "POST",
                              .body = "abc", .body_len = 3,
                              .headers = hdrs };
    call(1);
    CU_ASSERT_TRUE(sent("POST /echo HTTP/1.1\r\n"));
    CU_ASSERT_TRUE(sent("X-Test: yes\r\n"));
    CU_ASSERT_TRUE(sent("Content-Length: 3\r\n"));
    CU_ASSERT_TRUE(sent("\r\n\r\nabc"));

    /* The next plain GET has none of it. */
    g.opts = (evf_http_opts){ .url = g.url };
    call(2);
    CU_ASSERT_TRUE(sent("GET /echo HTTP/1.1\r\n"));
    CU_ASSERT_FALSE(sent("X-Test"));
    CU_ASSERT_FALSE(sent("Content-Length"));
    CU_ASSERT_FALSE(sent("abc"));
    CU_ASSERT_TRUE(sent("User-Agent: evfcgi/"));

    /* A HEAD, then a GET gets a body again. */
    g.opts = (evf_http_opts){ .url = g.url, .method = "HEAD" };
    call(3);
    CU_ASSERT_STRING_EQUAL(g.seen, "");
    g.opts = (evf_http_opts){ .url = g.url };
    call(4);
    CU_ASSERT_TRUE(sent("GET /echo HTTP/1.1\r\n"));

    /* A cap and a timeout, then a call without them. */
    g.opts = (evf_http_opts){ .url = g.url, .max_answer = 10 };
    g.rc = 0;
    send_get(5, "/call");
    CU_ASSERT_TRUE(ended(5, 10.0));
    CU_ASSERT_EQUAL(g.rc, EVF_EHTTP);
    g.opts = (evf_http_opts){ .url = g.url, .timeout = 5 };
    call(6);
    g.opts = (evf_http_opts){ .url = g.url };
    call(7);
    CU_ASSERT_TRUE(sent("GET /echo HTTP/1.1\r\n"));

    /* A PUT with a body after plain GETs: both are sent. */
    g.opts = (evf_http_opts){ .url = g.url, .method = "PUT",
                              .body = "xyz", .body_len = 3 };
    call(8);
    CU_ASSERT_TRUE(sent("PUT /echo HTTP/1.1\r\n"));
    CU_ASSERT_TRUE(sent("\r\n\r\nxyz"));
    finish_conn();
}

static CU_TestInfo tests[] = {
    { "kept handles carry nothing to the next call", test_no_residue },
    CU_TEST_INFO_NULL,
};

static int
init(void)
{
    struct sockaddr_in a = { .sin_family = AF_INET };
    socklen_t alen = sizeof(a);

    if (peer_init() < 0 || evf_http_global_init() < 0 || pipe(g.stop) < 0)
        return -1;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    g.lfd = socket(AF_INET, SOCK_STREAM, 0);
    if (g.lfd < 0 || bind(g.lfd, (struct sockaddr *)&a, sizeof(a)) < 0 ||
        listen(g.lfd, 16) < 0 ||
        getsockname(g.lfd, (struct sockaddr *)&a, &alen) < 0)
        return -1;
    snprintf(g.url, sizeof(g.url), "http://127.0.0.1:%u/echo",
             ntohs(a.sin_port));
    if (pthread_create(&g.th, NULL, upstream, NULL) != 0)
        return -1;
    evf_log_set_level(EVF_LOG_LVL_ERROR);
    evf_settings.request_deadline = 0;
    return evf_app_register(&app, "http_client") < 0 ? -1 : 0;
}

static int
cleanup(void)
{
    disconnect();
    evf_conn_close_all();
    evf_http_shutdown();
    evf_apps_free();
    evf_coro_pool_destroy();
    peer_free();
    if (write(g.stop[1], "x", 1) == 1)
        pthread_join(g.th, NULL);
    close(g.lfd);
    close(g.stop[0]);
    close(g.stop[1]);
    return 0;
}

int
main(void)
{
    return unit_main("http_client", init, cleanup, tests);
}
