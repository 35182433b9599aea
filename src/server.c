/*
 * server: listeners and accept (see server.h).
 */
#include "config.h"

#include <errno.h>
#include <ev.h>
#include <fcntl.h>
#include <arpa/inet.h>
#include <stdlib.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "conn.h"
#include "log.h"
#include "loop.h"
#include "mem.h"
#include "server.h"
#include "settings.h"

#define MAX_LISTENERS 8

typedef struct listener {
    ev_io io;
    bool tcp;
} listener_t;

#define MAX_ALLOWED 32

/* Clients allowed on TCP listeners (FCGI_WEB_SERVER_ADDRS); none: any. */
static struct allowed {
    struct sockaddr_storage addr[MAX_ALLOWED];
    size_t n;
} allowed;

static _Thread_local struct {
    listener_t ls[MAX_LISTENERS];
    size_t n;
    bool paused;            /* graceful stop: never resume */
    bool full;              /* at max_conns or out of descriptors */
    ev_timer retry;
    ev_tstamp last_emfile_log;
    ev_tstamp last_denied_log;
} srv;

static int
set_nonblock(int fd)
{
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
        return -1;
    return 0;
}

/* The socket files this process bound: removed at exit only if still so. */
#define MAX_OWNED 64
static struct {
    dev_t dev;
    ino_t ino;
    char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
} owned[MAX_OWNED];
static size_t nowned;

/* True when something accepts connections on the socket at sun. */
static bool
in_use(const struct sockaddr_un *sun)
{
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return false;
    int rc = connect(fd, (const struct sockaddr *)sun, sizeof(*sun));
    /* EAGAIN: a listener whose backlog is full is still a listener. */
    bool used = rc == 0 || errno == EAGAIN || errno == EINPROGRESS;
    close(fd);
    return used;
}

bool
evf_listen_unix_ours(const char *path)
{
    struct stat st;
    if (lstat(path, &st) < 0)
        return false;
    for (size_t i = 0; i < nowned; i++)
        if (owned[i].dev == st.st_dev && owned[i].ino == st.st_ino &&
            strcmp(owned[i].path, path) == 0)
            return true;
    return false;
}

static int
listen_unix(const char *path, int backlog, unsigned mode, char *err,
            size_t errlen)
{
    struct sockaddr_un sun = { .sun_family = AF_UNIX };
    if (strlen(path) >= sizeof(sun.sun_path)) {
        snprintf(err, errlen, "unix socket path too long: %s", path);
        return -1;
    }
    strcpy(sun.sun_path, path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        snprintf(err, errlen, "socket: %s", strerror(errno));
        return -1;
    }
    /*
     * A socket file left by a previous run is replaced; other files are
     * not touched, nor is a socket something still accepts on (a running
     * instance would be left unreachable).
     */
    struct stat st;
    if (lstat(path, &st) == 0 && S_ISSOCK(st.st_mode)) {
        if (in_use(&sun)) {
            snprintf(err, errlen, "unix:%s: another process is listening "
                     "on it (not replaced)", path);
            close(fd);
            return -1;
        }
        unlink(path);
    }
    if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
        snprintf(err, errlen, "bind unix:%s: %s", path, strerror(errno));
        close(fd);
        return -1;
    }
    if (lstat(path, &st) == 0 && nowned < MAX_OWNED) {
        owned[nowned].dev = st.st_dev;
        owned[nowned].ino = st.st_ino;
        snprintf(owned[nowned].path, sizeof(owned[nowned].path), "%s", path);
        nowned++;
    }
    if (chmod(path, mode) < 0) {
        snprintf(err, errlen, "chmod %s: %s", path, strerror(errno));
        close(fd);
        return -1;
    }
    if (listen(fd, backlog) < 0) {
        snprintf(err, errlen, "listen unix:%s: %s", path, strerror(errno));
        close(fd);
        return -1;
    }
    return fd;
}

int
evf_listen_check(const char *addr, char *err, size_t errlen)
{
    if (strncmp(addr, "unix:", 5) == 0) {
        struct sockaddr_un sun;
        if (!addr[5] || strlen(addr + 5) >= sizeof(sun.sun_path)) {
            snprintf(err, errlen, "bad unix socket path in '%s'", addr);
            return -1;
        }
        return 0;
    }
    char host[256];
    const char *port;
    if (addr[0] == '[') {
        const char *end = strchr(addr, ']');
        if (!end || end[1] != ':' || (size_t)(end - addr - 1) >= sizeof(host))
            goto bad;
        memcpy(host, addr + 1, (size_t)(end - addr - 1));
        host[end - addr - 1] = '\0';
        port = end + 2;
    } else {
        const char *colon = strrchr(addr, ':');
        if (!colon || (size_t)(colon - addr) >= sizeof(host))
            goto bad;
        memcpy(host, addr, (size_t)(colon - addr));
        host[colon - addr] = '\0';
        port = colon + 1;
    }
    char *end;
    long p = strtol(port, &end, 10);
    if (end == port || *end || p < 0 || p > 65535)
        goto bad;
    struct addrinfo hints = { .ai_socktype = SOCK_STREAM,
                              .ai_flags = AI_PASSIVE | AI_NUMERICSERV },
                    *res;
    const char *h = host[0] && strcmp(host, "*") ? host : NULL;
    int gai = getaddrinfo(h, port, &hints, &res);
    if (gai) {
        snprintf(err, errlen, "address '%s': %s", addr, gai_strerror(gai));
        return -1;
    }
    freeaddrinfo(res);
    return 0;
bad:
    snprintf(err, errlen, "bad address '%s' (want HOST:PORT, [V6]:PORT or "
             "unix:/path)", addr);
    return -1;
}

int
evf_listen(const char *addr, int backlog, unsigned mode, char *err,
           size_t errlen)
{
    if (strncmp(addr, "unix:", 5) == 0)
        return listen_unix(addr + 5, backlog, mode, err, errlen);

    char host[256];
    const char *port;
    if (addr[0] == '[') {
        const char *end = strchr(addr, ']');
        if (!end || end[1] != ':' || (size_t)(end - addr - 1) >= sizeof(host)) {
            snprintf(err, errlen, "bad address '%s' (want [V6]:PORT)", addr);
            return -1;
        }
        memcpy(host, addr + 1, (size_t)(end - addr - 1));
        host[end - addr - 1] = '\0';
        port = end + 2;
    } else {
        const char *colon = strrchr(addr, ':');
        if (!colon || (size_t)(colon - addr) >= sizeof(host)) {
            snprintf(err, errlen, "bad address '%s' (want HOST:PORT, "
                     "[V6]:PORT or unix:/path)", addr);
            return -1;
        }
        memcpy(host, addr, (size_t)(colon - addr));
        host[colon - addr] = '\0';
        port = colon + 1;
    }
    struct addrinfo hints = {
        .ai_family = AF_UNSPEC,
        .ai_socktype = SOCK_STREAM,
        .ai_flags = AI_PASSIVE | AI_NUMERICSERV,
    }, *res;
    const char *h = host[0] && strcmp(host, "*") ? host : NULL;
    int gai = getaddrinfo(h, port, &hints, &res);
    if (gai) {
        snprintf(err, errlen, "address '%s': %s", addr, gai_strerror(gai));
        return -1;
    }
    int fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        snprintf(err, errlen, "socket: %s", strerror(errno));
        freeaddrinfo(res);
        return -1;
    }
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (res->ai_family == AF_INET6)
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
    if (bind(fd, res->ai_addr, res->ai_addrlen) < 0 ||
        listen(fd, backlog) < 0) {
        snprintf(err, errlen, "listen %s: %s", addr, strerror(errno));
        close(fd);
        freeaddrinfo(res);
        return -1;
    }
    freeaddrinfo(res);
    return fd;
}

bool
evf_listen_inherited(void)
{
    /* The FastCGI spec's test: a listening socket has no peer. */
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    if (getpeername(0, (struct sockaddr *)&ss, &len) == 0 ||
        errno != ENOTCONN)
        return false;
    int acc = 0;
    len = sizeof(acc);
    return getsockopt(0, SOL_SOCKET, SO_ACCEPTCONN, &acc, &len) == 0 && acc;
}

/* Parse list into *t.  0, or -1 with a message in err. */
static int
parse_allowed(const char *list, struct allowed *t, char *err, size_t errlen)
{
    char buf[1024];
    t->n = 0;
    if (!list)
        return 0;
    if (strlen(list) >= sizeof(buf)) {
        snprintf(err, errlen, "the list is longer than %zu bytes",
                 sizeof(buf) - 1);
        return -1;
    }
    snprintf(buf, sizeof(buf), "%s", list);
    for (char *save, *tok = strtok_r(buf, " ,\t", &save); tok;
         tok = strtok_r(NULL, " ,\t", &save)) {
        if (t->n == MAX_ALLOWED) {
            snprintf(err, errlen, "at most %d allowed clients", MAX_ALLOWED);
            return -1;
        }
        struct sockaddr_storage *ss = &t->addr[t->n];
        memset(ss, 0, sizeof(*ss));
        struct sockaddr_in *in = (struct sockaddr_in *)ss;
        struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
        if (inet_pton(AF_INET, tok, &in->sin_addr) == 1) {
            ss->ss_family = AF_INET;
        } else if (inet_pton(AF_INET6, tok, &in6->sin6_addr) == 1) {
            ss->ss_family = AF_INET6;
        } else {
            snprintf(err, errlen, "allowed client '%s' is not an IPv4 or "
                     "IPv6 address", tok);
            return -1;
        }
        t->n++;
    }
    return 0;
}

int
evf_server_allow_check(const char *list, char *err, size_t errlen)
{
    static struct allowed scratch;
    return parse_allowed(list, &scratch, err, errlen);
}

int
evf_server_allow(const char *list, char *err, size_t errlen)
{
    static struct allowed next;
    if (parse_allowed(list, &next, err, errlen) < 0)
        return -1;
    allowed = next;
    return 0;
}

static bool
client_allowed(const struct sockaddr_storage *ss)
{
    if (!allowed.n)
        return true;
    for (size_t i = 0; i < allowed.n; i++) {
        const struct sockaddr_storage *a = &allowed.addr[i];
        if (a->ss_family != ss->ss_family)
            continue;
        if (a->ss_family == AF_INET &&
            ((const struct sockaddr_in *)a)->sin_addr.s_addr ==
                ((const struct sockaddr_in *)ss)->sin_addr.s_addr)
            return true;
        if (a->ss_family == AF_INET6 &&
            memcmp(&((const struct sockaddr_in6 *)a)->sin6_addr,
                   &((const struct sockaddr_in6 *)ss)->sin6_addr, 16) == 0)
            return true;
    }
    return false;
}

static void
set_accepting(bool on)
{
    struct ev_loop *loop = evf__loop();
    for (size_t i = 0; i < srv.n; i++) {
        if (on)
            ev_io_start(loop, &srv.ls[i].io);
        else
            ev_io_stop(loop, &srv.ls[i].io);
    }
}

static void
conn_closed(void)
{
    if (srv.full && !srv.paused && !ev_is_active(&srv.retry) &&
        evf_conn_count() < evf_settings.max_conns) {
        srv.full = false;
        set_accepting(true);
    }
}

static void
retry_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop, (void)w, (void)revents;
    if (!srv.paused && evf_conn_count() < evf_settings.max_conns) {
        srv.full = false;
        set_accepting(true);
    }
}

static void
accept_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    listener_t *l = (listener_t *)w;
    (void)revents;
    /*
     * With other workers on the same socket, one connection per wake-up:
     * they were woken too, so a burst of new connections (a web server
     * opening its kept-alive upstream connections) spreads over them, and
     * a busy worker takes fewer.  Taking all at once, the first worker
     * awake kept every connection for as long as they live.  Alone, up to
     * 64 per wake-up.
     */
    int most = evf_settings.workers > 1 ? 1 : 64;

    for (int i = 0; i < most; i++) {
        if (evf_conn_count() >= evf_settings.max_conns) {
            /* Leave the rest in the backlog until a connection closes. */
            srv.full = true;
            set_accepting(false);
            return;
        }
        struct sockaddr_storage peer;
        socklen_t plen = sizeof(peer);
        int fd = accept4(w->fd, (struct sockaddr *)&peer, &plen,
                         SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                return;
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS ||
                errno == ENOMEM) {
                ev_tstamp now = ev_now(loop);
                if (now - srv.last_emfile_log > 10) {
                    srv.last_emfile_log = now;
                    evf_log_error("accept: %s with %zu connections open; "
                                  "pausing accept for 100 ms (raise "
                                  "the open files limit, or lower "
                                  "max connections)", strerror(errno),
                                  evf_conn_count());
                }
                srv.full = true;
                set_accepting(false);
                ev_timer_set(&srv.retry, 0.1, 0.);
                ev_timer_start(loop, &srv.retry);
                return;
            }
            evf_log_error("accept: %s", strerror(errno));
            return;
        }
        if (l->tcp && !client_allowed(&peer)) {
            char host[64] = "?";
            getnameinfo((struct sockaddr *)&peer, plen, host, sizeof(host),
                        NULL, 0, NI_NUMERICHOST);
            ev_tstamp now = ev_now(loop);
            if (now - srv.last_denied_log > 10) {
                srv.last_denied_log = now;
                evf_log_warn("connection from %s refused: not in "
                             "allowed_clients", host);
            }
            close(fd);
            continue;
        }
        if (l->tcp) {
            int one = 1;
            setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        }
        if (!evf_conn_new(fd)) {
            evf_log_error("out of memory for a new connection");
            close(fd);
        }
    }
}

int
evf_server_add(int fd)
{
    if (srv.n == MAX_LISTENERS)
        return -1;
    if (set_nonblock(fd) < 0)
        return -1;
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    listener_t *l = &srv.ls[srv.n++];
    l->tcp = getsockname(fd, (struct sockaddr *)&ss, &len) == 0 &&
             (ss.ss_family == AF_INET || ss.ss_family == AF_INET6);
    ev_io_init(&l->io, accept_cb, fd, EV_READ);
    ev_io_start(evf__loop(), &l->io);
    ev_init(&srv.retry, retry_cb);
    evf_conn_on_close(conn_closed);
    return 0;
}

void
evf_server_pause(void)
{
    srv.paused = true;
    set_accepting(false);
    ev_timer_stop(evf__loop(), &srv.retry);
}

void
evf_server_stop(bool close_fds)
{
    evf_server_pause();
    for (size_t i = 0; i < srv.n; i++)
        if (close_fds)
            close(srv.ls[i].io.fd);
    srv.n = 0;
    srv.paused = false;
}
