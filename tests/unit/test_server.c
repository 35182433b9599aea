/*
 * test_server: listening sockets and accepting (suite "server").
 *
 * Covered: the listen address forms evf_listen_check() takes and refuses
 * (numeric hosts and localhost only: nothing here asks a name server);
 * binding TCP and unix sockets (the socket file's mode, a stale socket
 * file replaced, another file left alone, a path too long); the check for
 * a listening socket inherited on fd 0 (spawn-fcgi); allowed_clients
 * (a TCP peer not in the list closed at once, one in it served, unix
 * sockets not concerned, bad entries refused); accepting paused at
 * max_conns and resumed when a connection closes.  Accepting runs on a
 * real libev loop (fcgi_peer.h's).
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "conn.h"
#include "fcgi_peer.h"
#include "log.h"
#include "loop.h"
#include "server.h"
#include "settings.h"
#include "stats.h"
#include "unit.h"

static char dir[256];       /* a temporary directory for unix sockets */

/* ---- helpers ----------------------------------------------------------- */

/* The port a TCP socket is bound to. */
static unsigned
port_of(int fd)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    CU_ASSERT_FATAL(getsockname(fd, (struct sockaddr *)&ss, &len) == 0);
    if (ss.ss_family == AF_INET6)
        return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    return ntohs(((struct sockaddr_in *)&ss)->sin_port);
}

/* A connected, non-blocking client socket to 127.0.0.1:port. */
static int
tcp_client(unsigned port)
{
    struct sockaddr_in in = { .sin_family = AF_INET,
                              .sin_port = htons((uint16_t)port) };
    in.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    CU_ASSERT_FATAL(fd >= 0);
    CU_ASSERT_FATAL(connect(fd, (struct sockaddr *)&in, sizeof(in)) == 0);
    nonblock(fd);
    return fd;
}

static int
unix_client(const char *path)
{
    struct sockaddr_un un = { .sun_family = AF_UNIX };
    snprintf(un.sun_path, sizeof(un.sun_path), "%s", path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    CU_ASSERT_FATAL(fd >= 0);
    CU_ASSERT_FATAL(connect(fd, (struct sockaddr *)&un, sizeof(un)) == 0);
    nonblock(fd);
    return fd;
}

/* arg: an int fd; true once the server closed it (end of file or reset). */
static bool
closed_by_server(const void *arg)
{
    char c;
    ssize_t n = recv(*(const int *)arg, &c, 1, MSG_DONTWAIT);
    return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK);
}

/* arg: a uint64_t; true once that many connections were accepted in all. */
static bool
accepted_reaches(const void *arg)
{
    return evf_stats.accepted_conn >= *(const uint64_t *)arg;
}

static bool
one_conn(const void *arg)
{
    (void)arg;
    return evf_conn_count() == 1;
}

/* Close every connection and listener of a test. */
static void
stop_all(void)
{
    evf_conn_close_all();
    evf_server_stop(true);
}

/* ---- addresses ---------------------------------------------------------- */

static void
test_listen_check(void)
{
    static const char *const good[] = {
        "127.0.0.1:9000", "*:9000", ":9000", "0.0.0.0:0", "[::1]:9000",
        "localhost:80", "unix:/run/evfcgi/evfcgi.sock", "unix:relative.sock",
    };
    static const char *const bad[] = {
        "9000", "127.0.0.1", "127.0.0.1:", "127.0.0.1:65536",
        "127.0.0.1:-1", "127.0.0.1:80x", "[::1]9000", "[::1", "[::1]:",
        "unix:", "",
    };
    char err[256];

    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        err[0] = '\0';
        if (evf_listen_check(good[i], err, sizeof(err)) != 0) {
            fprintf(stderr, "\n    '%s' refused: %s\n", good[i], err);
            CU_FAIL("a good listen address was refused");
        }
    }
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        err[0] = '\0';
        if (evf_listen_check(bad[i], err, sizeof(err)) == 0) {
            fprintf(stderr, "\n    '%s' accepted\n", bad[i]);
            CU_FAIL("a bad listen address was accepted");
        } else {
            /* The message names the address. */
            char quoted[64];
            snprintf(quoted, sizeof(quoted), "'%s'", bad[i]);
            CU_ASSERT_PTR_NOT_NULL(strstr(err, quoted));
        }
    }
    char longp[200] = "unix:/";
    memset(longp + 6, 'x', sizeof(longp) - 7);
    longp[sizeof(longp) - 1] = '\0';
    CU_ASSERT_EQUAL(evf_listen_check(longp, err, sizeof(err)), -1);
    CU_ASSERT_EQUAL(evf_listen(longp, 16, 0600, err, sizeof(err)), -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "too long"));
}

/* ---- binding ------------------------------------------------------------ */

static void
test_listen_tcp(void)
{
    char err[256];

    int fd = evf_listen("127.0.0.1:0", 16, 0600, err, sizeof(err));
    CU_ASSERT_FATAL(fd >= 0);
    unsigned port = port_of(fd);
    CU_ASSERT(port > 0);
    int acc = 0;
    socklen_t len = sizeof(acc);
    CU_ASSERT(getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &acc, &len) == 0 &&
              acc);
    CU_ASSERT(fcntl(fd, F_GETFD) & FD_CLOEXEC);
    int c = tcp_client(port);
    close(c);

    /* The same port again, while it listens: refused with the reason. */
    char addr[64];
    snprintf(addr, sizeof(addr), "127.0.0.1:%u", port);
    CU_ASSERT_EQUAL(evf_listen(addr, 16, 0600, err, sizeof(err)), -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, addr));
    CU_ASSERT_PTR_NOT_NULL(strstr(err, strerror(EADDRINUSE)));
    close(fd);

    CU_ASSERT_EQUAL(evf_listen("localhost", 16, 0600, err, sizeof(err)), -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "bad address 'localhost'"));

    /* IPv6, where the loopback has ::1. */
    fd = evf_listen("[::1]:0", 16, 0600, err, sizeof(err));
    if (fd >= 0) {
        struct sockaddr_storage ss;
        len = sizeof(ss);
        CU_ASSERT(getsockname(fd, (struct sockaddr *)&ss, &len) == 0 &&
                  ss.ss_family == AF_INET6);
        close(fd);
    }
}

static void
test_listen_unix(void)
{
    char path[300], addr[310], err[256];
    struct stat st;

    snprintf(path, sizeof(path), "%s/evf.sock", dir);
    snprintf(addr, sizeof(addr), "unix:%s", path);
    int fd = evf_listen(addr, 16, 0600, err, sizeof(err));
    CU_ASSERT_FATAL(fd >= 0);
    CU_ASSERT_FATAL(stat(path, &st) == 0);
    CU_ASSERT(S_ISSOCK(st.st_mode));
    CU_ASSERT_EQUAL(st.st_mode & 0777, 0600);
    close(unix_client(path));
    close(fd);

    /* The socket file left behind is replaced; the mode is applied. */
    CU_ASSERT_FATAL(lstat(path, &st) == 0 && S_ISSOCK(st.st_mode));
    fd = evf_listen(addr, 16, 0660, err, sizeof(err));
    CU_ASSERT_FATAL(fd >= 0);
    CU_ASSERT(stat(path, &st) == 0 && (st.st_mode & 0777) == 0660);
    close(unix_client(path));
    close(fd);
    unlink(path);

    /* Any other file is not touched. */
    FILE *f = fopen(path, "w");
    CU_ASSERT_FATAL(f != NULL);
    fputs("keep me\n", f);
    fclose(f);
    CU_ASSERT_EQUAL(evf_listen(addr, 16, 0600, err, sizeof(err)), -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "bind unix:"));
    CU_ASSERT(lstat(path, &st) == 0 && S_ISREG(st.st_mode) &&
              st.st_size == 8);
    unlink(path);

    /* A directory that does not exist. */
    snprintf(addr, sizeof(addr), "unix:%s/no/such/dir.sock", dir);
    CU_ASSERT_EQUAL(evf_listen(addr, 16, 0600, err, sizeof(err)), -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, strerror(ENOENT)));
}

/* fd 0 counts only when it is a listening socket. */
static void
test_inherited(void)
{
    char err[256];
    int saved = dup(0);
    CU_ASSERT_FATAL(saved >= 0);

    int l = evf_listen("127.0.0.1:0", 16, 0600, err, sizeof(err));
    CU_ASSERT_FATAL(l >= 0);
    CU_ASSERT_FATAL(dup2(l, 0) == 0);
    CU_ASSERT_TRUE(evf_listen_inherited());

    /* A connected socket (a web server's connection, say) is not. */
    int c = tcp_client(port_of(l));
    CU_ASSERT_FATAL(dup2(c, 0) == 0);
    CU_ASSERT_FALSE(evf_listen_inherited());
    close(c);
    close(l);

    /* Nor a socket bound but not listening. */
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in in = { .sin_family = AF_INET };
    in.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    CU_ASSERT_FATAL(bind(s, (struct sockaddr *)&in, sizeof(in)) == 0);
    CU_ASSERT_FATAL(dup2(s, 0) == 0);
    CU_ASSERT_FALSE(evf_listen_inherited());
    close(s);

    /* Nor a file, nor a closed descriptor. */
    int n = open("/dev/null", O_RDONLY);
    CU_ASSERT_FATAL(n >= 0 && dup2(n, 0) == 0);
    CU_ASSERT_FALSE(evf_listen_inherited());
    close(n);
    close(0);
    CU_ASSERT_FALSE(evf_listen_inherited());

    /* A listening unix socket is. */
    char addr[310];
    snprintf(addr, sizeof(addr), "unix:%s/inherit.sock", dir);
    l = evf_listen(addr, 16, 0600, err, sizeof(err));
    CU_ASSERT_FATAL(l >= 0 && dup2(l, 0) == 0);
    CU_ASSERT_TRUE(evf_listen_inherited());
    close(l);
    unlink(addr + 5);

    CU_ASSERT_FATAL(dup2(saved, 0) == 0);
    close(saved);
}

/* ---- accepting ---------------------------------------------------------- */

/*
 * allowed_clients: a TCP peer not in the list is closed at once (and no
 * connection made); one in it is served; unix sockets are not concerned.
 * The list only grows (one configuration per process).
 */
static void
test_allowed_clients(void)
{
    char err[256], addr[310];

    CU_ASSERT_EQUAL(evf_server_allow("bogus", err, sizeof(err)), -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "'bogus'"));
    CU_ASSERT_EQUAL(evf_server_allow("192.0.2.7, 2001:db8::1", err,
                                     sizeof(err)), 0);

    int l = evf_listen("127.0.0.1:0", 16, 0600, err, sizeof(err));
    CU_ASSERT_FATAL(l >= 0);
    CU_ASSERT_FATAL(evf_server_add(l) == 0);
    snprintf(addr, sizeof(addr), "unix:%s/allowed.sock", dir);
    int u = evf_listen(addr, 16, 0600, err, sizeof(err));
    CU_ASSERT_FATAL(u >= 0);
    CU_ASSERT_FATAL(evf_server_add(u) == 0);

    uint64_t accepted = evf_stats.accepted_conn;
    int c = tcp_client(port_of(l));
    CU_ASSERT_TRUE(run_until(closed_by_server, &c, 2.0));
    CU_ASSERT_EQUAL(evf_conn_count(), 0);
    CU_ASSERT_EQUAL(evf_stats.accepted_conn, accepted);
    close(c);

    /* Over a unix socket the list does not apply. */
    c = unix_client(addr + 5);
    uint64_t want = accepted + 1;
    CU_ASSERT_TRUE(run_until(accepted_reaches, &want, 2.0));
    CU_ASSERT_EQUAL(evf_conn_count(), 1);
    close(c);
    CU_ASSERT_TRUE(run_until(no_conn, NULL, 2.0));

    /* Once 127.0.0.1 is in the list, it is served. */
    CU_ASSERT_EQUAL(evf_server_allow("127.0.0.1", err, sizeof(err)), 0);
    c = tcp_client(port_of(l));
    want = accepted + 2;
    CU_ASSERT_TRUE(run_until(accepted_reaches, &want, 2.0));
    CU_ASSERT_TRUE(run_until(one_conn, NULL, 2.0));
    CU_ASSERT_FALSE(closed_by_server(&c));
    close(c);
    CU_ASSERT_TRUE(run_until(no_conn, NULL, 2.0));
    stop_all();
    unlink(addr + 5);
}

/* At max_conns, accepting waits; a connection closing resumes it. */
static void
test_max_conns(void)
{
    char err[256];
    unsigned max = evf_settings.max_conns;
    evf_settings.max_conns = 1;

    int l = evf_listen("127.0.0.1:0", 16, 0600, err, sizeof(err));
    CU_ASSERT_FATAL(l >= 0);
    CU_ASSERT_FATAL(evf_server_add(l) == 0);
    uint64_t accepted = evf_stats.accepted_conn, want = accepted + 1;
    int c1 = tcp_client(port_of(l));
    CU_ASSERT_TRUE(run_until(accepted_reaches, &want, 2.0));
    int c2 = tcp_client(port_of(l));   /* waits in the backlog */
    run_pending();
    CU_ASSERT_EQUAL(evf_stats.accepted_conn, accepted + 1);
    CU_ASSERT_EQUAL(evf_conn_count(), 1);
    CU_ASSERT_FALSE(closed_by_server(&c2));

    close(c1);
    want = accepted + 2;
    CU_ASSERT_TRUE(run_until(accepted_reaches, &want, 2.0));
    CU_ASSERT_TRUE(run_until(one_conn, NULL, 2.0));
    CU_ASSERT_FALSE(closed_by_server(&c2));
    close(c2);
    CU_ASSERT_TRUE(run_until(no_conn, NULL, 2.0));
    stop_all();
    evf_settings.max_conns = max;
}

/* ---- suite ------------------------------------------------------------ */

static int
init(void)
{
    const char *t = getenv("TMPDIR");
    snprintf(dir, sizeof(dir), "%s/evf-server-XXXXXX", t && *t ? t : "/tmp");
    if (!mkdtemp(dir))
        return -1;
    if (peer_init() < 0)
        return -1;
    evf_log_set_level(EVF_LOG_LVL_ERROR);
    evf_settings.max_conns = 64;
    evf_settings.max_reqs_per_conn = 16;
    return 0;
}

static int
cleanup(void)
{
    stop_all();
    peer_free();
    rmdir(dir);
    return 0;
}

static CU_TestInfo tests[] = {
    { "listen addresses checked", test_listen_check },
    { "TCP bind", test_listen_tcp },
    { "unix bind: mode, stale socket, other files", test_listen_unix },
    { "fd 0: only a listening socket", test_inherited },
    { "allowed_clients", test_allowed_clients },
    { "max_conns pauses accepting", test_max_conns },
    CU_TEST_INFO_NULL,
};

int
main(void)
{
    return unit_main("server", init, cleanup, tests);
}
