/*
 * Unit tests for the Redis client (redis.c) without a Redis: the test
 * plays the server on a unix socket in a temporary directory, on the same
 * loop, and answers each command with bytes it chooses (fcgi_peer.h plays
 * the web server).  A real redis-server is used by the integration tests.
 *
 * Covered: URL parsing; the accessors on NULL; a nested reply read
 * through the typed accessors (copied into the request's memory); an
 * error reply (EVF_EREDISCMD, 500 through evf_redis_raise); a reply that
 * breaks the protocol, and no server at all (EVF_EREDIS, 503 with
 * Retry-After); a pipeline of commands from concurrent requests on one
 * connection, answered in order.  Under AddressSanitizer this checks the
 * reply copies.
 */
#include "config.h"

#include <ev.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "app.h"
#include "conn.h"
#include "coro.h"
#include "evfcgi.h"
#include "fcgi_peer.h"
#include "future.h"
#include "log.h"
#include "loop.h"
#include "pool.h"
#include "redis.h"
#include "settings.h"
#include "stats.h"
#include "unit.h"

/* ---- the fake server ------------------------------------------------------ */

static struct {
    char dir[64];
    char path[100];
    int lfd;                /* listening; -1: none */
    int fd;                 /* the client's connection; -1: none */
    ev_io lio, rio;
    const char *answer;     /* sent for each command read */
    size_t alen;
    unsigned commands;      /* commands seen (one per read of '*') */
} srv = { .lfd = -1, .fd = -1 };

static void
srv_read(struct ev_loop *loop, ev_io *w, int revents)
{
    char buf[4096];
    (void)revents;
    ssize_t n = read(srv.fd, buf, sizeof(buf));
    if (n <= 0) {
        ev_io_stop(loop, w);
        close(srv.fd);
        srv.fd = -1;
        return;
    }
    /* Each command starts with '*' (the client sends arrays). */
    for (ssize_t i = 0; i < n; i++)
        if (buf[i] == '*') {
            srv.commands++;
            if (write(srv.fd, srv.answer, srv.alen) != (ssize_t)srv.alen)
                CU_FAIL("the fake server could not answer");
        }
}

static void
srv_accept(struct ev_loop *loop, ev_io *w, int revents)
{
    (void)w, (void)revents;
    int fd = accept(srv.lfd, NULL, NULL);
    if (fd < 0)
        return;
    if (srv.fd >= 0) {
        ev_io_stop(loop, &srv.rio);
        close(srv.fd);
    }
    srv.fd = fd;
    ev_io_init(&srv.rio, srv_read, fd, EV_READ);
    ev_io_start(loop, &srv.rio);
}

static void
srv_listen(void)
{
    struct sockaddr_un a = { .sun_family = AF_UNIX };
    snprintf(a.sun_path, sizeof(a.sun_path), "%s", srv.path);
    srv.lfd = socket(AF_UNIX, SOCK_STREAM, 0);
    CU_ASSERT_FATAL(srv.lfd >= 0);
    unlink(srv.path);
    CU_ASSERT_FATAL(bind(srv.lfd, (struct sockaddr *)&a, sizeof(a)) == 0);
    CU_ASSERT_FATAL(listen(srv.lfd, 16) == 0);
    ev_io_init(&srv.lio, srv_accept, srv.lfd, EV_READ);
    ev_io_start(cl.loop, &srv.lio);
}

static void
srv_stop(void)
{
    if (srv.fd >= 0) {
        ev_io_stop(cl.loop, &srv.rio);
        close(srv.fd);
        srv.fd = -1;
    }
    if (srv.lfd >= 0) {
        ev_io_stop(cl.loop, &srv.lio);
        close(srv.lfd);
        srv.lfd = -1;
        unlink(srv.path);
    }
}

/* ---- the app --------------------------------------------------------------- */

/* /get: one command; describe the reply. */
static void
h_get(evf_req *r)
{
    const evf_redis_reply *x;
    int rc = evf_redis(r, &x, "GET %s", "k");
    if (rc < 0) {
        evf_redis_raise(r, rc, x);
        return;
    }
    const evf_redis_reply *inner = evf_redis_at(x, 2);
    long long i = 0;
    bool is_int = evf_redis_int(evf_redis_at(x, 1), &i);
    size_t len = 0;
    const char *s = evf_redis_str(evf_redis_at(x, 0), &len);
    evf_json_printf(r, 200, "{\"type\":%d,\"len\":%zu,\"s\":\"%s\","
                    "\"slen\":%zu,\"i\":%lld,\"is_int\":%d,\"inner\":[%d,%d,\"%s\"],"
                    "\"past\":%d}",
                    evf_redis_type(x), evf_redis_len(x), s ? s : "-", len,
                    i, is_int, evf_redis_type(evf_redis_at(inner, 0)),
                    evf_redis_type(evf_redis_at(inner, 1)),
                    evf_redis_str(evf_redis_at(inner, 1), NULL) ?
                    evf_redis_str(evf_redis_at(inner, 1), NULL) : "-",
                    evf_redis_at(x, 4) == NULL);
}

/* /pipe: three commands sent before any reply is awaited. */
static void
h_pipe(evf_req *r)
{
    evf_future *f[3];
    long long sum = 0;
    for (int i = 0; i < 3; i++)
        f[i] = evf_redis_send(r, "INCR %s", "n");
    for (int i = 0; i < 3; i++) {
        const evf_redis_reply *x;
        long long v;
        int rc = evf_redis_get(r, f[i], &x);
        if (rc < 0 || !evf_redis_int(x, &v)) {
            evf_redis_raise(r, rc < 0 ? rc : EVF_EREDIS, x);
            return;
        }
        sum += v;
    }
    evf_json_printf(r, 200, "{\"sum\":%lld}", sum);
}

static const evf_route routes[] = {
    EVF_GET("/get", h_get),
    EVF_GET("/pipe", h_pipe),
    EVF_END
};

static const evf_app app = {
    .abi = EVF_ABI_VERSION,
    .name = "redis",
    .routes = routes,
};

static bool
settled(const void *arg)
{
    (void)arg;
    return evf_stats.in_flight == 0 && evf__redis_pending() == 0 &&
           evf__future_live() == 0;
}

/* ---- tests ------------------------------------------------------------------ */

static void
test_urls(void)
{
    static const char *const bad[] = {
        "http://127.0.0.1", "redis://", "redis://127.0.0.1:0",
        "redis://127.0.0.1:70000", "redis://127.0.0.1/x", "unix:rel/path",
        "redis://127.0.0.1?timeout=0", "redis://127.0.0.1?db=1", NULL,
    };
    for (const char *const *u = bad; *u; u++)
        CU_ASSERT_EQUAL(evf_redis_open(*u), EVF_EINVAL);
    CU_ASSERT_EQUAL(evf_redis_open(NULL), EVF_EINVAL);
    CU_ASSERT_EQUAL(evf_redis_open("redis://127.0.0.1"), 0);
    CU_ASSERT_EQUAL(evf_redis_open("redis://127.0.0.1:6380/2?timeout=0.5"),
                    0);
    CU_ASSERT_EQUAL(evf_redis_open("unix:/tmp/x.sock"), 0);
    evf_redis_close();
    evf_redis_close();      /* twice is harmless */
}

static void
test_accessors_null(void)
{
    long long v = 7;
    size_t len = 9;
    CU_ASSERT_EQUAL(evf_redis_type(NULL), EVF_REDIS_NIL);
    CU_ASSERT_PTR_NULL(evf_redis_str(NULL, &len));
    CU_ASSERT_EQUAL(len, 0);
    CU_ASSERT_FALSE(evf_redis_int(NULL, &v));
    CU_ASSERT_EQUAL(v, 7);
    CU_ASSERT_EQUAL(evf_redis_len(NULL), 0);
    CU_ASSERT_PTR_NULL(evf_redis_at(NULL, 0));
}

static void
open_redis(void)
{
    char url[160];
    snprintf(url, sizeof(url), "unix:%s", srv.path);
    CU_ASSERT_EQUAL_FATAL(evf_redis_open(url), 0);
}

#define ONE(a, ...) one((a), sizeof(a) - 1, __VA_ARGS__)

/* Serve answer on the fake server; GET uri; check status and body. */
static void
one(const char *answer, size_t alen, const char *uri, int status,
    const char *body)
{
    open_conn();
    srv.answer = answer;
    srv.alen = alen;
    srv.commands = 0;
    srv_listen();
    open_redis();
    send_get(1, uri);
    CU_ASSERT_TRUE(ended(1, 10.0));
    CU_ASSERT_EQUAL(status_of(1), status);
    CU_ASSERT_TRUE(body_is(1, body));
    CU_ASSERT_TRUE(run_until(settled, NULL, 5.0));
    evf_redis_close();
    srv_stop();
    finish_conn();
}

static void
test_nested_reply(void)
{
    ONE("*4\r\n$5\r\nfo\0oo\r\n:42\r\n*2\r\n$-1\r\n+OK\r\n$-1\r\n", "/get",
        200, "{\"type\":3,\"len\":4,\"s\":\"fo\",\"slen\":5,\"i\":42,"
        "\"is_int\":1,\"inner\":[0,4,\"OK\"],\"past\":1}");
}

static void
test_error_reply(void)
{
    ONE("-ERR boom\r\n", "/get", 500,
        "{\"detail\":\"Internal Server Error\"}");
}

static void
test_protocol_error(void)
{
    ONE("?what is this\r\n", "/get", 503,
        "{\"detail\":\"Service Unavailable\"}");
}

static void
test_no_server(void)
{
    open_conn();
    snprintf(srv.path, sizeof(srv.path), "%s/none.sock", srv.dir);
    open_redis();
    send_get(1, "/get");
    send_get(2, "/get");    /* within the backoff: fails at once */
    uint16_t ids[] = { 1, 2, 0 };
    CU_ASSERT_TRUE(run_until(all_ended, ids, 10.0));
    CU_ASSERT_EQUAL(status_of(1), 503);
    CU_ASSERT_EQUAL(status_of(2), 503);
    CU_ASSERT_TRUE(has_header(1, "Retry-After: 1"));
    CU_ASSERT_TRUE(body_is(2, "{\"detail\":\"Service Unavailable\"}"));
    CU_ASSERT_TRUE(run_until(settled, NULL, 5.0));
    evf_redis_close();
    snprintf(srv.path, sizeof(srv.path), "%s/redis.sock", srv.dir);
    finish_conn();
}

/* Three requests of three commands each, on one connection, in order. */
static void
test_pipeline(void)
{
    open_conn();
    srv.answer = ":5\r\n";
    srv.alen = 4;
    srv.commands = 0;
    srv_listen();
    open_redis();
    send_get(1, "/pipe");
    send_get(2, "/pipe");
    send_get(3, "/pipe");
    uint16_t ids[] = { 1, 2, 3, 0 };
    CU_ASSERT_TRUE(run_until(all_ended, ids, 10.0));
    for (uint16_t id = 1; id <= 3; id++) {
        CU_ASSERT_EQUAL(status_of(id), 200);
        CU_ASSERT_TRUE(body_is(id, "{\"sum\":15}"));
    }
    CU_ASSERT_EQUAL(srv.commands, 9);
    CU_ASSERT_TRUE(run_until(settled, NULL, 5.0));
    evf_redis_close();
    srv_stop();
    finish_conn();
}

/* ---- the suite ---------------------------------------------------------- */

static int
init(void)
{
    if (peer_init() < 0)
        return -1;
    snprintf(srv.dir, sizeof(srv.dir), "%s/evf-redis.XXXXXX",
             getenv("TMPDIR") && strlen(getenv("TMPDIR")) < 30 ?
             getenv("TMPDIR") : "/tmp");
    if (!mkdtemp(srv.dir))
        return -1;
    snprintf(srv.path, sizeof(srv.path), "%s/redis.sock", srv.dir);
    evf_log_set_level(EVF_LOG_LVL_ERROR);
    evf_settings.max_reqs_per_conn = 1024;
    evf_settings.out_high_water = 256 * 1024;
    evf_settings.out_low_water = 64 * 1024;
    evf_settings.request_deadline = 0;
    if (evf_pool_start(cl.loop, 2, 16) < 0)
        return -1;
    return evf_app_register(&app, "redis") < 0 ? -1 : 0;
}

static int
cleanup(void)
{
    disconnect();
    srv_stop();
    evf_redis_close();
    evf_conn_close_all();
    evf_pool_stop();
    evf__future_shutdown();
    evf_apps_free();
    evf_coro_pool_destroy();
    peer_free();
    rmdir(srv.dir);
    return 0;
}

static CU_TestInfo tests[] = {
    { "URLs", test_urls },
    { "accessors accept NULL", test_accessors_null },
    { "a nested reply through the accessors", test_nested_reply },
    { "an error reply: 500", test_error_reply },
    { "a reply that breaks the protocol: 503", test_protocol_error },
    { "no server: 503 with Retry-After", test_no_server },
    { "commands of concurrent requests pipelined", test_pipeline },
    CU_TEST_INFO_NULL,
};

int
main(void)
{
    CU_SuiteInfo suites[] = {
        { .pName = "redis", .pInitFunc = init, .pCleanupFunc = cleanup,
          .pTests = tests },
        CU_SUITE_INFO_NULL,
    };
    return unit_run(suites);
}
