/*
 * evfcgi.h: the API an application is written against.
 *
 * An application is a table of routes (method + path template -> handler)
 * built into a shared object that evfcgid loads (evfcgid -a app.so), or
 * linked into a program that calls evf_main() itself.
 *
 * Handlers are written straight-line.  Each await (evf_sleep, evf_wait_fd,
 * evf_gather, evf_stream_write) suspends only the calling request: the
 * daemon's event loop serves other requests meanwhile and resumes the
 * handler when its timer fires or its socket is ready.  A handler runs on a
 * coroutine with its own stack, on the loop's thread.
 *
 * Cancellation.  When the front-end goes away (the FastCGI connection
 * closes, or FCGI_ABORT_REQUEST arrives), a suspended handler is never
 * resumed: its pending awaits are stopped, the cleanups it registered with
 * evf_defer() run in reverse order, its evf_alloc() memory is freed and its
 * stack is reused.  So anything a handler holds across an await must be
 * released through evf_defer() or come from evf_alloc().
 *
 * Memory.  Strings returned by the request accessors and memory from
 * evf_alloc() belong to the request and live until it ends.
 */
#ifndef EVFCGI_H
#define EVFCGI_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * 2: evf_query, evf_route, evf_dep and evf_app grew fields (parameters in
 * headers and cookies, forms, models, the OpenAPI fields, middleware and
 * CORS, exception handlers): an app built against ABI 1 would have its
 * tables misread, so it is refused.
 */
#define EVF_ABI_VERSION 2

/* Results of awaits, as negative numbers (0 is success). */
#define EVF_ETIMEDOUT   (-110)  /* a deadline passed before the await ended */
#define EVF_ECANCELED   (-125)  /* only seen by code outside a handler */
#define EVF_EGONE       (-32)   /* the client went away (streaming writes) */
#define EVF_EINVAL      (-22)   /* bad argument */
#define EVF_EBUSY       (-16)   /* the thread pool's queue is full */

typedef struct evf_req evf_req;
typedef struct evf_app_ctx evf_app_ctx;
typedef struct json_object json_object;

typedef void (*evf_handler_fn)(evf_req *r);
typedef void (*evf_task_fn)(evf_req *r, void *arg);
typedef struct evf_dep evf_dep;
typedef struct evf_security evf_security;   /* toolkit: security schemes */

/*
 * A dependency (FastAPI's Depends).  resolve() produces the value; it may
 * await, and it may evf_raise(), which answers that error: the handler
 * never runs.  Its sub-dependencies (deps) are resolved first.  In one
 * request a dependency runs once and its value is shared by everything
 * that needs it.  A no_cache one (FastAPI's use_cache=False) is not
 * resolved ahead: each evf_depends() call runs it afresh, so every
 * dependant gets its own value.  A blocking dependency's resolve() runs on
 * the thread pool: it must not await or call evf_depends (declare what it
 * needs instead); it may evf_alloc, evf_defer, evf_teardown, evf_raise.
 *
 * Order: a dependency's sub-dependencies are all resolved before it;
 * independent dependencies (the ones a route or a dependency lists) are
 * resolved concurrently on the loop, started in the order listed; the
 * handler runs once all of its dependencies are resolved.  A cycle is
 * refused when the app loads.  Values live as long as the request (return
 * evf_alloc() memory, or register a teardown).
 */
struct evf_dep {
    const char *name;
    void *(*resolve)(evf_req *r);
    const evf_dep *const *deps;     /* NULL-terminated, or NULL */
    bool no_cache;
    bool blocking;
    /* ---- toolkit (issue 13) ---- */
    /*
     * The security scheme this dependency checks (EVF_HTTP_BEARER() and
     * the other helpers set it), for the OpenAPI document; NULL otherwise.
     */
    const evf_security *security;
};

#define EVF_DEPS(...) ((const evf_dep *const[]){ __VA_ARGS__, NULL })

/* Typed parameters, for path templates ({name:int}) and query specs. */
typedef enum evf_type {
    EVF_STR = 0,
    EVF_INT,
    EVF_FLOAT,
    EVF_BOOL,
    EVF_PATH,       /* path templates only: the rest of the path, with '/' */
    /* Forms and uploads: in a route's .form only, an uploaded file. */
    EVF_FILE
} evf_type;

/*
 * ---- toolkit (issue 13): where a declared parameter comes from ----------
 * A declared parameter is read from the query string (the default), a
 * request header or a cookie.
 */
typedef enum evf_in {
    EVF_IN_QUERY = 0,
    EVF_IN_HEADER,
    EVF_IN_COOKIE
} evf_in;

/*
 * A query parameter a route declares.  The router validates declared
 * parameters before the handler runs and answers 422 listing every bad one
 * (path and query), as FastAPI does.  A parameter without a default is
 * required unless .optional is set.  Bounds apply to EVF_INT and EVF_FLOAT.
 */
typedef struct evf_query {
    const char *name;
    evf_type type;
    const char *def;        /* default, as it would be written in the URL */
    bool optional;          /* absent and no default: accessors say absent */
    bool has_ge, has_le;
    double ge, le;          /* inclusive bounds */
    /* ---- toolkit (issue 13): headers, cookies, lists, choices ---- */
    /*
     * in: where the value is read.  EVF_IN_HEADER reads the header named
     * alias, or else name with each '_' turned into '-' (user_agent reads
     * User-Agent, as FastAPI's Header does); EVF_IN_COOKIE the cookie
     * named alias or name.  Errors name alias, or else name, in their loc:
     * ["header", "user_agent"].  Read any declared parameter with the
     * evf_query_* accessors, by its declared name, wherever it comes from.
     */
    evf_in in;
    const char *alias;
    /*
     * list (query only): every occurrence is collected (?tag=a&tag=b) and
     * each is converted and bounded; read them with evf_query_count and
     * evf_query_*_at.  min_items/max_items (max 0: no limit) bound the
     * count (pydantic's too_short / too_long).  A list given no value is
     * "missing" unless optional, then empty; def does not apply to lists.
     */
    bool list;
    size_t min_items, max_items;
    /*
     * choices: the only values allowed (an Enum of strings), NULL-ended;
     * any other value is refused with pydantic's "enum" error.
     */
    const char *const *choices;
} evf_query;

#define EVF_Q(n, t, ...)    { .name = (n), .type = (t), __VA_ARGS__ }

typedef struct evf_route {
    const char *method;     /* "GET", "POST", ... */
    const char *path;       /* "/items/{item_id:int}" */
    evf_handler_fn handler;
    const evf_query *query; /* array ended by an entry with name NULL */
    double deadline;        /* seconds for every await of the request; 0: none */
    /*
     * At the deadline, the await returns EVF_ETIMEDOUT to the handler
     * instead of the framework answering 504 (see evf_set_deadline).
     */
    bool deadline_returns;
    bool json_body;         /* parse the body as JSON before the handler */
    const evf_dep *const *deps; /* resolved before the handler: EVF_DEPS() */
    /*
     * Run the handler on the thread pool (FastAPI's plain `def` routes):
     * it may block; it must not await.  The response API works the same;
     * a stream is sent when the handler returns.  If the client leaves,
     * evf_is_disconnected() turns true and the result is dropped.
     */
    bool blocking;
    /*
     * Forms and uploads: the form fields and files the body carries
     * (urlencoded or multipart/form-data), declared like query parameters
     * (EVF_FILE for files); ended by an entry with name NULL.  See
     * evf_form_str and evf_files.
     */
    const evf_query *form;
    /* ---- toolkit (issue 13) ---- */
    /* The route's own data, for its handler: evf_route_data(r). */
    void *data;
    /* ---- Models (request bodies, responses; see "Models" below) ---- */
    /*
     * The request body: JSON parsed and validated into a new struct of this
     * model before the handler runs (implies json_body); the handler reads
     * it with evf_body_model().  Its errors join the path and query ones in
     * the one 422.
     */
    const struct evf_model *body;
    /* What evf_respond_model() serializes (only the model's fields). */
    const struct evf_model *response_model;
    int status_code;            /* evf_respond_model's status; 0: 200 */
    bool response_exclude_none; /* leave null fields out of the response */
    /* Other answers, for the docs only: EVF_RESPONSES(), or NULL. */
    const struct evf_response_doc *responses;
    /* ---- OpenAPI document (/openapi.json, /docs, /redoc) ---- */
    const char *handler_name;   /* set by EVF_ROUTE: the handler's name */
    const char *operation_id;   /* NULL: FastAPI's, from name, path, method */
    const char *summary;        /* NULL: the handler's name, "Read Item" */
    const char *description;
    const char *const *tags;    /* NULL-ended: EVF_TAGS("items") */
    bool hidden;                /* left out of the document */
} evf_route;

#define EVF_TAGS(...) ((const char *const[]){ __VA_ARGS__, NULL })

#define EVF_ROUTE(m, p, h, ...) \
    { .method = (m), .path = (p), .handler = (h), .handler_name = #h, \
      __VA_ARGS__ }
#define EVF_GET(p, h, ...)      EVF_ROUTE("GET", p, h, __VA_ARGS__)
#define EVF_POST(p, h, ...)     EVF_ROUTE("POST", p, h, __VA_ARGS__)
#define EVF_PUT(p, h, ...)      EVF_ROUTE("PUT", p, h, __VA_ARGS__)
#define EVF_DELETE(p, h, ...)   EVF_ROUTE("DELETE", p, h, __VA_ARGS__)
#define EVF_PATCH(p, h, ...)    EVF_ROUTE("PATCH", p, h, __VA_ARGS__)
#define EVF_END                 { .method = NULL }

/*
 * An application.  A loadable app exports exactly one of these under the
 * name evf_app_entry, which EVF_APP() defines.  startup runs once per worker
 * before it accepts (return non-zero to refuse to start); shutdown runs
 * when the worker stops.
 */
typedef struct evf_app {
    unsigned abi;           /* EVF_ABI_VERSION */
    const char *name;
    const evf_route *routes;
    int (*startup)(evf_app_ctx *app);
    void (*shutdown)(evf_app_ctx *app);
    const evf_dep *const *deps;     /* for every route of the app */
    /* ---- middleware and CORS (evfcgi(3) "Middleware", "CORS") ---- */
    const struct evf_middleware *const *middleware; /* NULL-ended */
    const struct evf_cors *cors;    /* built-in CORS; NULL: conf only */
    /* ---- toolkit (issue 13) ---- */
    /* The app's exception handlers: see evf_exception_handler. */
    const struct evf_exception_handler *exception_handlers;
} evf_app;

#define EVF_APP_SYMBOL "evf_app_entry"
#define EVF_APP(n, r, ...)                                              \
    extern const evf_app evf_app_entry;                                 \
    const evf_app evf_app_entry = {                                     \
        .abi = EVF_ABI_VERSION, .name = (n), .routes = (r), __VA_ARGS__ }

/* The value of an app option (conf "app" options), or NULL. */
const char *evf_app_option(evf_app_ctx *app, const char *key);

/*
 * Run a FastCGI daemon serving app, with evfcgid's command line (argv).
 * For programs that link libevfcgi instead of being loaded by evfcgid; works
 * under spawn-fcgi.  Returns the process exit status.
 */
int evf_main(int argc, char **argv, const evf_app *app);

/* Request data.  Returned strings live as long as the request. */
const char *evf_method(evf_req *r);
const char *evf_path(evf_req *r);               /* percent-decoded */
const char *evf_param(evf_req *r, const char *cgi_name);  /* raw CGI param */
const char *evf_header(evf_req *r, const char *name);  /* case-insensitive */
const void *evf_body(evf_req *r, size_t *len);
json_object *evf_body_json(evf_req *r);         /* borrowed; .json_body */

/* Path parameters, validated by the router before the handler runs. */
int64_t evf_path_int(evf_req *r, const char *name);
double evf_path_float(evf_req *r, const char *name);
const char *evf_path_str(evf_req *r, const char *name);

/*
 * Query parameters.  Declared ones are validated; *_int and *_float return
 * the default or 0 when absent.  evf_query_str works for any name and
 * returns NULL when absent.  evf_query_has says whether it was given.
 */
bool evf_query_has(evf_req *r, const char *name);
int64_t evf_query_int(evf_req *r, const char *name);
double evf_query_float(evf_req *r, const char *name);
bool evf_query_bool(evf_req *r, const char *name);
const char *evf_query_str(evf_req *r, const char *name);

/*
 * The value of dependency d for this request: resolved already if the
 * route declared it (directly or below), otherwise resolved now (it may
 * await).  NULL if it could not be (the request is then being answered).
 */
void *evf_depends(evf_req *r, const evf_dep *d);

/*
 * Teardown (the code after `yield` in a FastAPI dependency): fn(r, arg)
 * runs after the response was sent, in reverse order of registration, also
 * when the request failed or was aborted.  It runs on the loop and must
 * not await or block: it never needs a pool thread, so teardowns cannot
 * deadlock the pool (fastapi#3205).
 */
int evf_teardown(evf_req *r, void (*fn)(evf_req *r, void *arg), void *arg);

/*
 * Background task (FastAPI's BackgroundTasks): fn(r, arg) runs after the
 * response was sent, as a task that may await; the request's data and
 * dependency values stay valid until background tasks and then teardowns
 * have run.  Its output goes nowhere.  Not run if the request is aborted.
 */
int evf_background(evf_req *r, evf_task_fn fn, void *arg);

/* Request-scoped memory and cleanups (run in reverse order at the end). */
void *evf_alloc(evf_req *r, size_t size);
char *evf_strdup(evf_req *r, const char *s);
int evf_defer(evf_req *r, void (*fn)(void *arg), void *arg);

/*
 * Responses.  A request is answered once: by evf_respond and its helpers,
 * by evf_raise, or by a stream.  Headers added before the answer go with
 * it.  These return 0, or a negative number when the request was already
 * answered or the client is gone.  A header name must be an RFC 9110
 * token other than Status and Content-Length (evfcgi writes those), and
 * no value may hold a control byte but HTAB (CR and LF would start a
 * header of their own): evf_add_header refuses them (EVF_EINVAL), a
 * content type with one makes the answer a logged 500 (EVF_EINVAL), and
 * evf_raise_headers sends its answer without such a header (logged).
 */
int evf_add_header(evf_req *r, const char *name, const char *value);
int evf_respond(evf_req *r, int status, const char *content_type,
                const void *body, size_t len);
int evf_text(evf_req *r, int status, const char *text);
int evf_json(evf_req *r, int status, json_object *obj); /* takes obj */
int evf_json_printf(evf_req *r, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/*
 * FastAPI's HTTPException: answer {"detail": detail} with that status
 * (detail NULL: the status's reason phrase), then end the request's tasks
 * like an exception: the handler does not go on (its cleanups and the
 * dependencies' teardowns run).  Headers added for a success answer are
 * not sent with the error.  Returns only when called outside the
 * request's handler, tasks or pool function (e.g. in a teardown).
 */
int evf_raise(evf_req *r, int status, const char *detail);
/*
 * The same with headers ("Name: value" strings, NULL-ended), as
 * HTTPException(headers=...): a 401 with WWW-Authenticate, a 429 with
 * Retry-After.
 */
int evf_raise_headers(evf_req *r, int status, const char *detail,
                      const char *const *headers);

/*
 * Streaming: begin sends the status and headers, write sends a chunk and
 * awaits while the connection's output is above its high-water mark, end
 * finishes the response.  write returns EVF_EGONE once the client left.
 */
int evf_stream_begin(evf_req *r, int status, const char *content_type);
int evf_stream_write(evf_req *r, const void *data, size_t len);
int evf_stream_printf(evf_req *r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
int evf_stream_end(evf_req *r);

/*
 * Awaits.  Each suspends only the calling request.  They return 0 (or the
 * ready events), or EVF_ETIMEDOUT when the request's deadline passed first.
 */
int evf_sleep(evf_req *r, double seconds);

#define EVF_READ  0x01
#define EVF_WRITE 0x02
/* Wait until fd is readable/writable; timeout < 0: none.  Returns events. */
int evf_wait_fd(evf_req *r, int fd, int events, double timeout);

/*
 * Run fn(r, args[i]) for i < n as concurrent sub-tasks of this request and
 * await them all (asyncio.gather).  Results travel through args.
 */
int evf_gather(evf_req *r, size_t n, evf_task_fn fn, void *const *args);

/*
 * Await fn(arg) run on the thread pool (asyncio.to_thread): the loop serves
 * other requests meanwhile.  Returns 0 once fn returned, or EVF_EBUSY at
 * once when the pool's queue is full.  A thread cannot be interrupted: if
 * the request's deadline passes (504) or it is cancelled, fn still runs to
 * its end (arg stays valid until then) and its result is dropped.  With
 * evf_deadline_returns, the await waits for fn past the deadline.
 */
int evf_to_thread(evf_req *r, void (*fn)(void *arg), void *arg);

/*
 * Deadline for this request, seconds from now (asyncio.timeout); 0 removes
 * it.  It bounds every await (sleep, wait_fd, gather, streaming writes
 * waiting for the client, evf_http, evf_to_thread).  By default, when it
 * passes the framework answers 504 {"detail":"Gateway Timeout"}, the
 * handler is not resumed, and its cleanups and dependency teardowns run,
 * as on a client disconnect.
 */
void evf_set_deadline(evf_req *r, double seconds);
/*
 * Opt in (on true) to degrade gracefully: from now on an await that
 * reaches the deadline returns EVF_ETIMEDOUT to the handler, which answers
 * as it likes.  A route can start so with .deadline_returns = true.
 */
void evf_deadline_returns(evf_req *r, bool on);

/*
 * HTTP client (the seed's httpx.AsyncClient): libcurl's multi-socket
 * interface driven by the loop.  The await suspends only this request;
 * connections to an upstream are reused across requests; name resolution
 * never blocks the loop.  The timeout (and the request's deadline, if
 * sooner) bounds the whole transfer.  If the request is cancelled, the
 * transfer is aborted (the upstream sees its connection closed).
 */
typedef struct evf_http_opts {
    const char *method;             /* default "GET" */
    const char *url;
    const char *const *headers;     /* "Name: value" strings, NULL-ended */
    const void *body;
    size_t body_len;
    double timeout;                 /* seconds; 0: only the deadline */
    bool raise_for_status;          /* non-2xx answers are EVF_EHTTPSTATUS */
    /*
     * HTTP/2: https URLs negotiate it (ALPN); requests to one upstream
     * then share one connection, multiplexed, instead of one connection
     * per request in flight.  http URLs speak it from the first byte (h2c
     * "prior knowledge") only with libcurl 8 or later: libcurl 7.x breaks
     * reused h2c connections, so there they stay HTTP/1.1.
     */
    bool http2;
    const char *ca_file;    /* PEM CA bundle for https; NULL: the system's */
    /*
     * Most bytes of the answer's body kept (its headers apart); a bigger
     * answer fails with EVF_EHTTP.  0: the client's default (8 MiB, or
     * max_body if smaller); never more than that default.
     */
    size_t max_answer;
} evf_http_opts;

typedef struct evf_http_response {
    long status;                    /* 0 when no answer came */
    char *body;                     /* NUL-terminated; the request owns it */
    size_t body_len;
    char *headers;                  /* the header block, as received */
    const char *error;              /* what went wrong, for messages */
} evf_http_response;

#define EVF_EHTTP       (-1100)     /* refused, reset, unresolvable: 502 */
#define EVF_EHTTPSTATUS (-1101)     /* non-2xx with raise_for_status: 502 */

/*
 * Perform the request and await its answer.  Returns 0, EVF_ETIMEDOUT,
 * EVF_EHTTP or EVF_EHTTPSTATUS (resp is filled as far as it got).
 */
int evf_http(evf_req *r, const evf_http_opts *o, evf_http_response *resp);

/*
 * Answer an evf_http failure as users expect and end the request (as
 * evf_raise): 504 {"detail":"Gateway Timeout"} for a timeout, 502
 * {"detail":"Bad Gateway"} otherwise.  The cause (the upstream's status,
 * libcurl's error with its address or host name) goes to the error log,
 * never to the client.
 */
int evf_http_raise(evf_req *r, int rc, const evf_http_response *resp);

/* True once the client is gone (useful between awaits and in loops). */
bool evf_is_disconnected(evf_req *r);

/* Logging, with the route and request in the line. */
void evf_log(evf_req *r, int level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
#define EVF_LOG_ERROR 3
#define EVF_LOG_WARN  4
#define EVF_LOG_INFO  6
#define EVF_LOG_DEBUG 7

/*
 * HTTP status codes by name (FastAPI's status module, without its
 * HTTP_nnn_ infix): evf_json(r, EVF_HTTP_CREATED, obj),
 * evf_raise(r, EVF_HTTP_NOT_FOUND, "Item not found").  Any int is still
 * accepted where a status is expected.  The names are RFC 9110's; the
 * older names of 413, 414, 416 and 422 are kept as aliases.
 */
typedef enum evf_http_status {
    EVF_HTTP_CONTINUE                            = 100,
    EVF_HTTP_SWITCHING_PROTOCOLS                 = 101,
    EVF_HTTP_PROCESSING                          = 102,
    EVF_HTTP_EARLY_HINTS                         = 103,

    EVF_HTTP_OK                                  = 200,
    EVF_HTTP_CREATED                             = 201,
    EVF_HTTP_ACCEPTED                            = 202,
    EVF_HTTP_NON_AUTHORITATIVE_INFORMATION       = 203,
    EVF_HTTP_NO_CONTENT                          = 204,
    EVF_HTTP_RESET_CONTENT                       = 205,
    EVF_HTTP_PARTIAL_CONTENT                     = 206,
    EVF_HTTP_MULTI_STATUS                        = 207,
    EVF_HTTP_ALREADY_REPORTED                    = 208,
    EVF_HTTP_IM_USED                             = 226,

    EVF_HTTP_MULTIPLE_CHOICES                    = 300,
    EVF_HTTP_MOVED_PERMANENTLY                   = 301,
    EVF_HTTP_FOUND                               = 302,
    EVF_HTTP_SEE_OTHER                           = 303,
    EVF_HTTP_NOT_MODIFIED                        = 304,
    EVF_HTTP_USE_PROXY                           = 305,
    EVF_HTTP_TEMPORARY_REDIRECT                  = 307,
    EVF_HTTP_PERMANENT_REDIRECT                  = 308,

    EVF_HTTP_BAD_REQUEST                         = 400,
    EVF_HTTP_UNAUTHORIZED                        = 401,
    EVF_HTTP_PAYMENT_REQUIRED                    = 402,
    EVF_HTTP_FORBIDDEN                           = 403,
    EVF_HTTP_NOT_FOUND                           = 404,
    EVF_HTTP_METHOD_NOT_ALLOWED                  = 405,
    EVF_HTTP_NOT_ACCEPTABLE                      = 406,
    EVF_HTTP_PROXY_AUTHENTICATION_REQUIRED       = 407,
    EVF_HTTP_REQUEST_TIMEOUT                     = 408,
    EVF_HTTP_CONFLICT                            = 409,
    EVF_HTTP_GONE                                = 410,
    EVF_HTTP_LENGTH_REQUIRED                     = 411,
    EVF_HTTP_PRECONDITION_FAILED                 = 412,
    EVF_HTTP_CONTENT_TOO_LARGE                   = 413,
    EVF_HTTP_REQUEST_ENTITY_TOO_LARGE            = 413,   /* RFC 7231's name */
    EVF_HTTP_URI_TOO_LONG                        = 414,
    EVF_HTTP_REQUEST_URI_TOO_LONG                = 414,   /* RFC 7231's name */
    EVF_HTTP_UNSUPPORTED_MEDIA_TYPE              = 415,
    EVF_HTTP_RANGE_NOT_SATISFIABLE               = 416,
    EVF_HTTP_REQUESTED_RANGE_NOT_SATISFIABLE     = 416,   /* RFC 7231's name */
    EVF_HTTP_EXPECTATION_FAILED                  = 417,
    EVF_HTTP_IM_A_TEAPOT                         = 418,
    EVF_HTTP_MISDIRECTED_REQUEST                 = 421,
    EVF_HTTP_UNPROCESSABLE_CONTENT               = 422,
    EVF_HTTP_UNPROCESSABLE_ENTITY                = 422,   /* RFC 7231's name */
    EVF_HTTP_LOCKED                              = 423,
    EVF_HTTP_FAILED_DEPENDENCY                   = 424,
    EVF_HTTP_TOO_EARLY                           = 425,
    EVF_HTTP_UPGRADE_REQUIRED                    = 426,
    EVF_HTTP_PRECONDITION_REQUIRED               = 428,
    EVF_HTTP_TOO_MANY_REQUESTS                   = 429,
    EVF_HTTP_REQUEST_HEADER_FIELDS_TOO_LARGE     = 431,
    EVF_HTTP_UNAVAILABLE_FOR_LEGAL_REASONS       = 451,

    EVF_HTTP_INTERNAL_SERVER_ERROR               = 500,
    EVF_HTTP_NOT_IMPLEMENTED                     = 501,
    EVF_HTTP_BAD_GATEWAY                         = 502,
    EVF_HTTP_SERVICE_UNAVAILABLE                 = 503,
    EVF_HTTP_GATEWAY_TIMEOUT                     = 504,
    EVF_HTTP_VERSION_NOT_SUPPORTED               = 505,
    EVF_HTTP_VARIANT_ALSO_NEGOTIATES             = 506,
    EVF_HTTP_INSUFFICIENT_STORAGE                = 507,
    EVF_HTTP_LOOP_DETECTED                       = 508,
    EVF_HTTP_NOT_EXTENDED                        = 510,
    EVF_HTTP_NETWORK_AUTHENTICATION_REQUIRED     = 511
} evf_http_status;

/*
 * ---- Futures: awaiting any callback API (asyncio.Future) ----------------
 *
 * A future is a one-shot result that a callback resolves and a handler
 * awaits.  Create it for the request, hand evf_future_resolve and the
 * future (as the callback's user pointer) to the library, then await it:
 *
 *     static void on_done(void *ud, int status, char *data)
 *     {
 *         evf_future_resolve(ud, status < 0 ? EVF_EINVAL : 0, data);
 *     }
 *     ...
 *     evf_future *f = evf_future_new(r, free);
 *     lib_start(evf_loop(), on_done, f);
 *     void *data;
 *     if (evf_future_await(r, f, &data) < 0) ...
 *
 * The await suspends only this request and is bounded by its deadline (504
 * by default; EVF_ETIMEDOUT with evf_deadline_returns, and the future may
 * be awaited again).  If the request is cancelled or expires meanwhile,
 * the handler is never resumed.
 *
 * Ownership.  The future belongs to both sides: the request's reference
 * goes when the request ends, the resolver's when it resolves.  So the
 * resolver may resolve at any time, even after the request ended (the
 * value is then freed at once and nothing else happens), but must resolve
 * exactly once: a library that will never call back (its operation was
 * cancelled) must be made to call evf_future_resolve(f, EVF_ECANCELED,
 * NULL), or the future's few bytes are never freed.  The value belongs to
 * the future: free_value(value) runs when the future goes (at the end of
 * the request, or at once when resolved after it); NULL: never freed.
 *
 * Threads.  evf_future_new and evf_future_await: the loop thread, inside
 * an async handler (not a blocking one).  evf_future_resolve: any thread;
 * off the loop it is posted to the loop (ev_async) and takes effect there.
 */
typedef struct evf_future evf_future;

/* A new future of r; NULL when out of memory or called off the loop. */
evf_future *evf_future_new(evf_req *r, void (*free_value)(void *value));
/*
 * Resolve f with result (0 or a negative EVF_E* code, passed through to
 * the awaiter) and value.  Any thread, exactly once.
 */
void evf_future_resolve(evf_future *f, int result, void *value);
/*
 * Await f: returns the result it was resolved with and sets *value (may be
 * NULL) to its value, borrowed from the future; EVF_ETIMEDOUT (opted in)
 * or EVF_EINVAL (not r's future, or awaited by another task).
 */
int evf_future_await(evf_req *r, evf_future *f, void **value);
/* True once f was resolved on the loop (loop thread). */
bool evf_future_done(const evf_future *f);

/*
 * The worker's libev loop, for libraries with a libev adapter (hiredis,
 * libcurl, c-ares ...).  Rules: use it only from the loop thread (handlers,
 * dependencies, teardowns, the app's startup and shutdown hooks, watcher
 * callbacks), never from a blocking handler or another thread; do not run
 * or break it (evfcgid does); watchers started on it must be stopped by
 * the app's shutdown hook; a watcher callback must not block.  Each worker
 * process has its own loop, made after the fork: create clients on it in
 * startup or on first use, never in the master.
 */
struct ev_loop;
struct ev_loop *evf_loop(void);

/*
 * ---- Redis (hiredis on the loop) ------------------------------------------
 *
 * One connection per worker, made on the worker's loop by the first
 * command (after the fork), shared by every request: commands from
 * concurrent requests are pipelined on it.  Configure it in the app's
 * startup hook and close it in its shutdown hook:
 *
 *     evf_redis_open(evf_app_option(app, "redis_url"));
 *     ...
 *     const evf_redis_reply *v;
 *     int rc = evf_redis(r, &v, "GET item:%lld", (long long)id);
 *     if (rc < 0)
 *         return (void)evf_redis_raise(r, rc, v);
 *
 * Commands are hiredis format strings (%s, %b for binary-safe bytes with
 * a length, %d, %lld ...; each %s is one argument, never split on spaces).
 * A command awaits its reply and suspends only this request; the request's
 * deadline applies (504).  Replies belong to the request (valid until it
 * ends).  Failures: Redis unreachable, the connection lost during the
 * command, or no answer within the URL's timeout (default 5 s) give
 * EVF_EREDIS, answered 503 by evf_redis_raise; the cause is logged.  After
 * a failed connection attempt commands fail at once until a backoff (50 ms
 * doubling to 2 s) passes, then the next command reconnects.
 */
#define EVF_EREDIS      (-1200)     /* Redis unreachable or gone: 503 */
#define EVF_EREDISCMD   (-1201)     /* Redis answered an error reply */

typedef struct evf_redis_reply evf_redis_reply;

enum evf_redis_type {
    EVF_REDIS_NIL = 0,
    EVF_REDIS_STRING,
    EVF_REDIS_INTEGER,
    EVF_REDIS_ARRAY,
    EVF_REDIS_STATUS,       /* +OK */
    EVF_REDIS_ERROR         /* -ERR ...: the command returns EVF_EREDISCMD */
};

/*
 * Where this worker's Redis is: redis://HOST[:PORT][/DB] (HOST an IP
 * address: names would be resolved on the loop) or unix:/PATH, optionally
 * followed by ?timeout=SECONDS.  Loop thread (startup hook).  0, or
 * EVF_EINVAL for a bad URL (logged).  Nothing is connected yet.
 */
int evf_redis_open(const char *url);
/* Close the connection: pending commands get EVF_EREDIS (shutdown hook). */
void evf_redis_close(void);

/*
 * Send a command and await its reply (*reply: NULL on failure).  Returns
 * 0, EVF_EREDIS, EVF_EREDISCMD (*reply holds the error), or EVF_ETIMEDOUT
 * with evf_deadline_returns.
 */
int evf_redis(evf_req *r, const evf_redis_reply **reply, const char *fmt,
              ...);
/*
 * Pipelining: send several commands first, then await each reply.  send
 * never suspends; a failure shows when its reply is awaited.
 */
evf_future *evf_redis_send(evf_req *r, const char *fmt, ...);
int evf_redis_get(evf_req *r, evf_future *f, const evf_redis_reply **reply);
/*
 * Answer a failed command and end the request (as evf_raise): 503 with
 * Retry-After for EVF_EREDIS, 504 for EVF_ETIMEDOUT, 500 for an error
 * reply (logged, never sent to the client).
 */
int evf_redis_raise(evf_req *r, int rc, const evf_redis_reply *reply);

/*
 * Reading a reply.  Every accessor accepts NULL (a NIL reply), so a reply
 * of an unexpected shape never crashes: it reads as absent.
 */
int evf_redis_type(const evf_redis_reply *x);
/* STRING, STATUS, ERROR: the bytes (NUL-terminated), else NULL. */
const char *evf_redis_str(const evf_redis_reply *x, size_t *len);
/* INTEGER, or a STRING holding a decimal integer: true and *v. */
bool evf_redis_int(const evf_redis_reply *x, long long *v);
/* ARRAY: its element count and elements (NULL out of range), else 0. */
size_t evf_redis_len(const evf_redis_reply *x);
const evf_redis_reply *evf_redis_at(const evf_redis_reply *x, size_t i);

/*
 * ---- Middleware (Starlette's middleware, as two hooks) ------------------
 *
 * An app's middleware runs around every request the app answers: its
 * routes, the router's own 404, 405 and 422, raised errors and the 500 of
 * a handler that gave no answer.  Requests no route matched (404, 405) and
 * requests refused during intake (413, 431) go through the middleware of
 * the first loaded app that declares some.
 *
 * before(r, &state) runs before routing's answer and the handler, in the
 * declared order; state (NULL at first) is the middleware's own, for this
 * request, passed to its after hook.  A before hook that answers the
 * request (evf_respond, evf_json, evf_text, evf_raise) short-circuits it:
 * the middlewares after it and the handler do not run.
 *
 * after(r, status, state) runs in reverse order, for every middleware
 * whose before ran, once the answer's status is known and before its head
 * is written: it may add headers (evf_add_header) to any answer, success,
 * error or stream (before the stream's head goes out), and must not answer
 * itself.  Hooks never await; before runs on the loop, after on the thread
 * that answers (a pool thread for a blocking route).  An app without
 * middleware or CORS pays nothing for either.
 */
typedef struct evf_middleware {
    const char *name;
    void (*before)(evf_req *r, void **state);           /* or NULL */
    void (*after)(evf_req *r, int status, void *state); /* or NULL */
} evf_middleware;

#define EVF_MIDDLEWARE(...) \
    ((const struct evf_middleware *const[]){ __VA_ARGS__, NULL })

/*
 * Built-in request-id middleware: reuses the request's X-Request-ID when it
 * is a sane token (1 to 128 of A-Z a-z 0-9 - _ . : + / =), else makes a
 * random UUID; sets X-Request-ID on every answer, and the access log's
 * $x_request_id.
 */
extern const evf_middleware evf_request_id_middleware;
/* The request id (the request-id middleware's), or NULL. */
const char *evf_request_id(evf_req *r);

/*
 * ---- CORS (FastAPI's CORSMiddleware) ------------------------------------
 *
 * Lists are NULL-ended; "*" in allow_origins allows any origin, in
 * allow_methods every method, in allow_headers every header.
 * allow_origin_regex is a POSIX extended regex matched against the whole
 * Origin.  Conf options of the app (cors_allow_origins, ...; see
 * evfcgid.conf(5)) override these fields, and enable CORS for an app that
 * gives none.  CORS runs after the app's own middleware (innermost).
 */
typedef struct evf_cors {
    const char *const *allow_origins;
    const char *allow_origin_regex;
    const char *const *allow_methods;   /* NULL: GET */
    const char *const *allow_headers;
    bool allow_credentials;
    const char *const *expose_headers;
    int max_age;                        /* seconds; 0: 600; < 0: 0 */
} evf_cors;

#define EVF_STRS(...) ((const char *const[]){ __VA_ARGS__, NULL })

/*
 * ---- Forms and uploads ----------------------------------------------------
 *
 * A route that declares .form reads an application/x-www-form-urlencoded
 * or multipart/form-data body.  Fields are declared like query parameters
 * and validated with them (422, loc ["body", name]); an EVF_FILE entry is
 * an uploaded file, required unless .optional.  A multipart body is
 * parsed as it arrives: files go to temporary files in upload_dir, never
 * all in memory, within max_upload_size (per file), max_upload_total and
 * max_upload_files (413 beyond).  Undeclared file parts are dropped.  A
 * malformed body is answered 400.  The temporary files are closed and
 * removed when the request ends, however it ends.
 */
typedef struct evf_upload {
    const char *field;          /* the form field's name */
    const char *filename;       /* as the client sent it: not a safe path */
    const char *content_type;   /* application/octet-stream when not given */
    uint64_t size;              /* bytes */
    int fd;                     /* open on the file, at offset 0 */
    const char *path;           /* the temporary file */
} evf_upload;

/*
 * The files uploaded under name, in the order sent: *n of them (an array
 * that lives as long as the request), or NULL with *n 0.  evf_file: the
 * first one, or NULL.
 */
const evf_upload *evf_files(evf_req *r, const char *name, size_t *n);
const evf_upload *evf_file(evf_req *r, const char *name);

/*
 * Form fields, as the query accessors: declared ones are validated; *_int,
 * *_float and *_bool give the default or 0 when absent; evf_form_str works
 * for any name (NULL when absent; the first value when repeated).
 */
bool evf_form_has(evf_req *r, const char *name);
const char *evf_form_str(evf_req *r, const char *name);
int64_t evf_form_int(evf_req *r, const char *name);
double evf_form_float(evf_req *r, const char *name);
bool evf_form_bool(evf_req *r, const char *name);

/*
 * ---- Toolkit (issue 13): lists, cookies, security, exception handlers,
 * route data and app state ------------------------------------------------
 */

/*
 * A declared list parameter (evf_query .list): how many values it has,
 * and the i-th (0-based) as text or typed (validated before the handler
 * ran).  Out of range, or not a declared list: 0, NULL or false.
 */
size_t evf_query_count(evf_req *r, const char *name);
const char *evf_query_str_at(evf_req *r, const char *name, size_t i);
int64_t evf_query_int_at(evf_req *r, const char *name, size_t i);
double evf_query_float_at(evf_req *r, const char *name, size_t i);
bool evf_query_bool_at(evf_req *r, const char *name, size_t i);

/*
 * The request cookie named name (declared or not), or NULL.  The Cookie
 * header is parsed on first use (or before the handler when a cookie
 * parameter is declared), leniently as Starlette does: pairs split at
 * ';', name and value trimmed, a quoted value unquoted, a later
 * duplicate wins, a chunk without '=' is a value with an empty name.
 */
const char *evf_cookie(evf_req *r, const char *name);

/* SameSite attribute of a response cookie. */
typedef enum evf_samesite {
    EVF_SAMESITE_DEFAULT = 0,   /* Lax, as Starlette */
    EVF_SAMESITE_LAX,
    EVF_SAMESITE_STRICT,
    EVF_SAMESITE_NONE,          /* needs .secure */
    EVF_SAMESITE_OMIT           /* no SameSite attribute */
} evf_samesite;

/*
 * Attributes of a response cookie; all optional.  path NULL is "/".
 * max_age is sent when has_max_age (0 or less: expire now); expires, a
 * Unix time, when not 0 (as an IMF-fixdate).
 */
typedef struct evf_cookie_opts {
    bool has_max_age;
    int64_t max_age;
    int64_t expires;
    const char *path;
    const char *domain;
    bool secure;
    bool httponly;
    evf_samesite samesite;
} evf_cookie_opts;

/*
 * Add a Set-Cookie header to the answer (o may be NULL: defaults).  The
 * name must be an RFC 6265 token, the value cookie-octets (optionally in
 * double quotes: no space, comma, semicolon, backslash or control byte),
 * path and domain free of ';' and control bytes, SameSite=None only with
 * Secure: anything else is refused (EVF_EINVAL) and nothing is added, so
 * no header can be injected.  0 or EVF_EINVAL (also when answered).
 */
int evf_set_cookie(evf_req *r, const char *name, const char *value,
                   const evf_cookie_opts *o);
/* Expire the cookie now (Max-Age=0, Expires in 1970), same rules. */
int evf_delete_cookie(evf_req *r, const char *name,
                      const evf_cookie_opts *o);

/*
 * Security schemes, as dependencies (FastAPI's fastapi.security).  Each
 * helper macro defines a dependency named var whose value is an
 * evf_credentials (request memory), e.g.
 *
 *     EVF_HTTP_BEARER(bearer);
 *     EVF_HTTP_BASIC(basic, .realm = "admin");
 *     EVF_API_KEY_HEADER(api_key, "X-API-Key", .no_auto_error = true);
 *
 *     static void me(evf_req *r)
 *     {
 *         const evf_credentials *c = evf_depends(r, &bearer);
 *         ...
 *     }
 *     EVF_GET("/me", me, .deps = EVF_DEPS(&bearer))
 *
 * Answers, as FastAPI's (0.12x): missing credentials (or another scheme
 * in Authorization) are 401 {"detail":"Not authenticated"} with
 * WWW-Authenticate: Bearer, Basic (Basic realm="R" with a realm) or
 * APIKey.  For Basic, credentials that are not base64 of ASCII
 * "user:password" get the same 401 even with no_auto_error.  With
 * no_auto_error, missing credentials make the value NULL instead, and the
 * route decides.  Checking the token or password is the app's: do it in
 * a dependency of its own that depends on the scheme.
 */
typedef enum evf_security_kind {
    EVF_SEC_HTTP_BEARER = 1,
    EVF_SEC_HTTP_BASIC,
    EVF_SEC_API_KEY
} evf_security_kind;

struct evf_security {
    evf_security_kind kind;
    const char *type;           /* OpenAPI type: "http" or "apiKey" */
    const char *scheme;         /* "bearer", "basic"; NULL for apiKey */
    const char *name;           /* apiKey: the header/query/cookie name */
    evf_in in;                  /* apiKey: where it is looked for */
    const char *scheme_name;    /* OpenAPI component name */
    const char *description;
    const char *bearer_format;  /* bearer: a hint, e.g. "JWT" */
    const char *realm;          /* basic */
    bool no_auto_error;         /* missing: NULL, not 401 */
};

typedef struct evf_credentials {
    const char *scheme;         /* as sent ("Bearer"); apiKey: NULL */
    const char *credentials;    /* the token, the API key, Basic's base64 */
    const char *username;       /* Basic only */
    const char *password;       /* Basic only */
} evf_credentials;

/*
 * Check the request against s: the credentials (request memory), NULL
 * when missing with no_auto_error; otherwise answers the 401 and ends
 * the request as evf_raise does.  The helpers' resolve() calls it.
 */
evf_credentials *evf_security_check(evf_req *r, const evf_security *s);

#define EVF_SECURITY_DEP_(var, ...)                                     \
    static const evf_security var##_scheme_ = { __VA_ARGS__ };          \
    static void *var##_resolve_(evf_req *r)                             \
    {                                                                   \
        return evf_security_check(r, &var##_scheme_);                   \
    }                                                                   \
    static const evf_dep var = { .name = #var,                          \
                                 .resolve = var##_resolve_,             \
                                 .security = &var##_scheme_ }
#define EVF_HTTP_BEARER(var, ...)                                       \
    EVF_SECURITY_DEP_(var, .kind = EVF_SEC_HTTP_BEARER, .type = "http", \
                      .scheme = "bearer", .in = EVF_IN_HEADER,          \
                      .scheme_name = "HTTPBearer", __VA_ARGS__)
#define EVF_HTTP_BASIC(var, ...)                                        \
    EVF_SECURITY_DEP_(var, .kind = EVF_SEC_HTTP_BASIC, .type = "http",  \
                      .scheme = "basic", .in = EVF_IN_HEADER,           \
                      .scheme_name = "HTTPBasic", __VA_ARGS__)
#define EVF_API_KEY_HEADER(var, key, ...)                               \
    EVF_SECURITY_DEP_(var, .kind = EVF_SEC_API_KEY, .type = "apiKey",   \
                      .name = (key), .in = EVF_IN_HEADER,               \
                      .scheme_name = "APIKeyHeader", __VA_ARGS__)
#define EVF_API_KEY_QUERY(var, key, ...)                                \
    EVF_SECURITY_DEP_(var, .kind = EVF_SEC_API_KEY, .type = "apiKey",   \
                      .name = (key), .in = EVF_IN_QUERY,                \
                      .scheme_name = "APIKeyQuery", __VA_ARGS__)
#define EVF_API_KEY_COOKIE(var, key, ...)                               \
    EVF_SECURITY_DEP_(var, .kind = EVF_SEC_API_KEY, .type = "apiKey",   \
                      .name = (key), .in = EVF_IN_COOKIE,               \
                      .scheme_name = "APIKeyCookie", __VA_ARGS__)

/*
 * Exception handlers (FastAPI's app.exception_handler).  An app's table
 * (evf_app .exception_handlers, ended by status 0) replaces the answer of
 * an error: the framework's 404, 405, 422 and 500, any evf_raise status,
 * or an app-defined error code (EVF_APP_ERROR and up) passed to
 * evf_raise.  The handler gets the request, the status (or code), the
 * detail (NULL for 422) and, for 422, the error list (borrowed, as in
 * {"detail": errors}; take a reference to keep it); it answers with
 * evf_respond, evf_json ... (the error's own headers, such as Allow or
 * WWW-Authenticate, are already on the answer).  If it does not answer,
 * the framework's answer goes out; an app code without a handler answers
 * 500.  Handlers run on the loop (or the pool thread of a blocking
 * handler that raised) and must not await; an evf_raise inside one is
 * answered with the framework's body for that raise.  404 and 405 belong
 * to no route: the first loaded app with a handler for them answers
 * them.
 */
#define EVF_APP_ERROR 1000

typedef struct evf_exception_handler {
    int status;                 /* 0 ends the table */
    void (*fn)(evf_req *r, int status, const char *detail,
               json_object *errors);
} evf_exception_handler;

/* The .data of the route r matched (NULL for none). */
void *evf_route_data(evf_req *r);

/*
 * App state: what the app's startup hook made (pools, caches), for its
 * handlers.  Set it in startup (each worker runs startup: the state is
 * per worker); evf_app_state returns it for a request of one of the
 * app's routes, NULL otherwise.  The app frees it in shutdown.
 */
void evf_app_set_state(evf_app_ctx *app, void *state);
void *evf_app_state_of(evf_app_ctx *app);
void *evf_app_state(evf_req *r);

/*
 * ---- Models: validated request bodies and serialized responses ---------
 *
 * A model describes a C struct field by field (pydantic's BaseModel): the
 * JSON key, where the member is, its type and its constraints.  A route
 * with .body = &model gets its JSON body parsed and validated into a new
 * struct before the handler runs; every error (with the path and query
 * ones) is answered in one 422 exactly as FastAPI with pydantic v2 shapes
 * it.  A route with .response_model serializes a struct the handler fills
 * with evf_respond_model().
 *
 *     struct item {
 *         const char *name;           // EVF_F_STR
 *         double price;               // EVF_F_FLOAT
 *         evf_str_array tags;         // EVF_F_ARRAY_STR
 *         const char *description;    // EVF_F_OPT_STR: NULL is null
 *         int kind;                   // EVF_F_ENUM: index into the values
 *     };
 *     EVF_MODEL(item_model, struct item, "Item",
 *         .forbid_extra = true,
 *         .fields = EVF_FIELDS(
 *             EVF_F_STR(struct item, name, .min_length = 1,
 *                       .max_length = 50),
 *             EVF_F_FLOAT(struct item, price, EVF_GT(0)),
 *             EVF_F_ARRAY_STR(struct item, tags, .max_length = 10,
 *                             .def = "[]"),
 *             EVF_F_OPT_STR(struct item, description, .def = "null"),
 *             EVF_F_ENUM(struct item, kind,
 *                        EVF_ENUM_VALUES("tool", "food", "toy"),
 *                        .def = "\"tool\"")));
 *
 * C types, checked at compile time by the EVF_F_* macros:
 *   STR     const char * (or char *): NUL-terminated UTF-8
 *   INT     int64_t                  FLOAT   double       BOOL   bool
 *   ENUM    int (or a C enum): the index of the value in the list
 *   MODEL   a pointer to the nested model's struct
 *   ARRAY_x EVF_ARRAY(element type) {size_t n; T *v;}: evf_str_array,
 *           evf_int_array, evf_float_array, evf_bool_array,
 *           evf_enum_array, or EVF_ARRAY(struct x) for models (the
 *           elements are the structs themselves, contiguous)
 * Nullable fields (Optional[T] / T | None) use the EVF_F_OPT_* macros:
 *   OPT_STR, OPT_MODEL: NULL is null.  OPT_INT, OPT_FLOAT, OPT_BOOL:
 *   evf_opt_int, evf_opt_float, evf_opt_bool ({bool has; T v;}, has false
 *   is null).  OPT_ENUM: int, -1 is null.  OPT_ARRAY_x: v NULL is null
 *   (an empty array has a non-NULL v).
 *
 * A field without a default is required ("missing" when absent).  The
 * default is JSON text ("[]", "\"tool\"", "null", "1.5"), parsed when the
 * app loads and validated against the field's own constraints then: a bad
 * default, a bad pattern, a model without a name or fields, or a field
 * whose size does not match its type refuses the app.  Bounds are given
 * with EVF_GE/EVF_GT/EVF_LE/EVF_LT (a bound set without its has_ flag is
 * refused at load).  min_length/max_length count characters of strings
 * and items of arrays; max_length 0 means no limit.  pattern is a POSIX
 * extended regex searched in the string (anchor it with ^...$ to match
 * all of it, as pydantic's pattern is searched too).
 *
 * Memory: the struct, its strings, arrays and nested structs are request
 * memory (evf_alloc), valid until the request ends.  Extra JSON keys are
 * ignored, or errors (extra_forbidden) with .forbid_extra.  Elements of
 * arrays are never null.  Models are read-only once declared; one model
 * may be used by many routes and nested in many models.
 */
typedef enum evf_ftype {
    EVF_FT_STR = 1,
    EVF_FT_INT,             /* int64_t */
    EVF_FT_FLOAT,           /* double */
    EVF_FT_BOOL,
    EVF_FT_ENUM,            /* one of enum_values, as its index */
    EVF_FT_MODEL            /* a nested model */
} evf_ftype;

typedef struct evf_model evf_model;

/* One field of a model.  Declare it with the EVF_F_* macros. */
typedef struct evf_field {
    const char *name;       /* the member's name, and the JSON key */
    const char *alias;      /* the JSON key instead of name, or NULL */
    size_t offset;          /* offsetof(struct, member) */
    size_t csize;           /* sizeof(member): checked when the app loads */
    evf_ftype type;         /* of the field, or of an array's elements */
    bool array;             /* a JSON array of type */
    bool nullable;          /* null accepted (the EVF_F_OPT_* macros) */
    const evf_model *model;             /* EVF_FT_MODEL */
    const char *const *enum_values;     /* EVF_FT_ENUM: NULL-ended */
    const char *def;        /* default as JSON text; NULL: required */
    size_t min_length;      /* strings: characters; arrays: items */
    size_t max_length;      /* 0: no limit */
    bool has_ge, has_gt, has_le, has_lt;    /* use EVF_GE() ... */
    double ge, gt, le, lt;  /* INT and FLOAT (of arrays: each element) */
    const char *pattern;    /* STR: POSIX extended regex, or NULL */
    const char *description;    /* for the docs */
    const char *example;    /* for the docs: JSON text, or NULL */
} evf_field;

/* A model (a pydantic BaseModel).  Declare it with EVF_MODEL. */
struct evf_model {
    const char *name;       /* the schema name in the docs: "Item" */
    size_t size;            /* sizeof the struct */
    const evf_field *fields;    /* EVF_FIELDS(...): ended by name NULL */
    bool forbid_extra;      /* unknown keys are errors (extra_forbidden) */
    const char *description;    /* for the docs */
};

/* An array member of a model struct. */
#define EVF_ARRAY(T)    struct { size_t n; T *v; }
typedef EVF_ARRAY(const char *) evf_str_array;
typedef EVF_ARRAY(int64_t) evf_int_array;
typedef EVF_ARRAY(double) evf_float_array;
typedef EVF_ARRAY(bool) evf_bool_array;
typedef EVF_ARRAY(int) evf_enum_array;

/* Nullable scalars: has is false when the value is null. */
typedef struct evf_opt_int { bool has; int64_t v; } evf_opt_int;
typedef struct evf_opt_float { bool has; double v; } evf_opt_float;
typedef struct evf_opt_bool { bool has; bool v; } evf_opt_bool;

/*
 * Declare a model: var is the evf_model object, T its struct, schema the
 * name in the docs; then .fields = EVF_FIELDS(...) and the other options.
 * EVF_MODEL_DECLARE(var, T) declares one defined in another file (needed
 * before nesting it with EVF_F_MODEL there).
 */
#define EVF_MODEL(var, T, schema, ...)                                  \
    typedef T evf__model_t_##var;                                       \
    const evf_model var = { .name = (schema), .size = sizeof(T),       \
                            __VA_ARGS__ }
#define EVF_MODEL_DECLARE(var, T)                                       \
    typedef T evf__model_t_##var;                                       \
    extern const evf_model var
#define EVF_FIELDS(...) \
    ((const evf_field[]){ __VA_ARGS__, { .name = NULL } })
#define EVF_ENUM_VALUES(...) ((const char *const[]){ __VA_ARGS__, NULL })
#define EVF_GE(x)       .has_ge = true, .ge = (x)
#define EVF_GT(x)       .has_gt = true, .gt = (x)
#define EVF_LE(x)       .has_le = true, .le = (x)
#define EVF_LT(x)       .has_lt = true, .lt = (x)

/* Compile-time checks of the field macros (0, or a compile error). */
#define EVF__CHECK(cond, msg) \
    (0 * sizeof(struct { _Static_assert(cond, msg); char c; }))
#define EVF__MEMBER(T, m)   (((T *)0)->m)
#define EVF__IS(T, m, ...)  \
    _Generic(&EVF__MEMBER(T, m), __VA_ARGS__: 1, default: 0)
#define EVF__FIELD(T, m, ft, chk, ...)                                  \
    { .name = #m, .offset = offsetof(T, m) + (chk),                     \
      .csize = sizeof(EVF__MEMBER(T, m)), .type = (ft), __VA_ARGS__ }
#define EVF__SCALAR(T, m, ft, ok, ...)                                  \
    EVF__FIELD(T, m, ft, EVF__CHECK(ok, "evfcgi: member " #m            \
                                    " has the wrong C type"), __VA_ARGS__)
#define EVF__STR_OK(T, m)   \
    _Generic(&EVF__MEMBER(T, m), const char **: 1, char **: 1, default: 0)
#define EVF__ENUM_OK(T, m)  \
    _Generic(&EVF__MEMBER(T, m), int *: 1, unsigned *: 1, default: 0)
#define EVF__MODEL_OK(T, m, mdl) \
    _Generic(&EVF__MEMBER(T, m), evf__model_t_##mdl **: 1, default: 0)
/* An EVF_ARRAY member whose elements have type E (a pointer test). */
#define EVF__ARRAY_OK(T, m, ...)                                        \
    (_Generic(EVF__MEMBER(T, m).v, __VA_ARGS__: 1, default: 0) &&       \
     _Generic(&EVF__MEMBER(T, m).n, size_t *: 1, default: 0) &&         \
     offsetof(T, m.v) - offsetof(T, m) == sizeof(size_t))
#define EVF__ARRAY(T, m, ft, ok, ...) \
    EVF__SCALAR(T, m, ft, ok, .array = true, __VA_ARGS__)

#define EVF_F_STR(T, m, ...) \
    EVF__SCALAR(T, m, EVF_FT_STR, EVF__STR_OK(T, m), __VA_ARGS__)
#define EVF_F_INT(T, m, ...) \
    EVF__SCALAR(T, m, EVF_FT_INT, EVF__IS(T, m, int64_t *), __VA_ARGS__)
#define EVF_F_FLOAT(T, m, ...) \
    EVF__SCALAR(T, m, EVF_FT_FLOAT, EVF__IS(T, m, double *), __VA_ARGS__)
#define EVF_F_BOOL(T, m, ...) \
    EVF__SCALAR(T, m, EVF_FT_BOOL, EVF__IS(T, m, bool *), __VA_ARGS__)
#define EVF_F_ENUM(T, m, values, ...)                                   \
    EVF__SCALAR(T, m, EVF_FT_ENUM, EVF__ENUM_OK(T, m),                  \
                .enum_values = (values), __VA_ARGS__)
#define EVF_F_MODEL(T, m, mdl, ...)                                   \
    EVF__SCALAR(T, m, EVF_FT_MODEL, EVF__MODEL_OK(T, m, mdl),         \
                .model = &(mdl), __VA_ARGS__)

#define EVF_F_OPT_STR(T, m, ...)                                        \
    EVF__SCALAR(T, m, EVF_FT_STR, EVF__STR_OK(T, m), .nullable = true,  \
                __VA_ARGS__)
#define EVF_F_OPT_INT(T, m, ...)                                        \
    EVF__SCALAR(T, m, EVF_FT_INT, EVF__IS(T, m, evf_opt_int *),         \
                .nullable = true, __VA_ARGS__)
#define EVF_F_OPT_FLOAT(T, m, ...)                                      \
    EVF__SCALAR(T, m, EVF_FT_FLOAT, EVF__IS(T, m, evf_opt_float *),     \
                .nullable = true, __VA_ARGS__)
#define EVF_F_OPT_BOOL(T, m, ...)                                       \
    EVF__SCALAR(T, m, EVF_FT_BOOL, EVF__IS(T, m, evf_opt_bool *),       \
                .nullable = true, __VA_ARGS__)
#define EVF_F_OPT_ENUM(T, m, values, ...)                               \
    EVF__SCALAR(T, m, EVF_FT_ENUM, EVF__ENUM_OK(T, m),                  \
                .enum_values = (values), .nullable = true, __VA_ARGS__)
#define EVF_F_OPT_MODEL(T, m, mdl, ...)                               \
    EVF__SCALAR(T, m, EVF_FT_MODEL, EVF__MODEL_OK(T, m, mdl),         \
                .model = &(mdl), .nullable = true, __VA_ARGS__)

#define EVF_F_ARRAY_STR(T, m, ...)                                      \
    EVF__ARRAY(T, m, EVF_FT_STR,                                        \
               EVF__ARRAY_OK(T, m, const char **: 1, char **), __VA_ARGS__)
#define EVF_F_ARRAY_INT(T, m, ...)                                      \
    EVF__ARRAY(T, m, EVF_FT_INT, EVF__ARRAY_OK(T, m, int64_t *),        \
               __VA_ARGS__)
#define EVF_F_ARRAY_FLOAT(T, m, ...)                                    \
    EVF__ARRAY(T, m, EVF_FT_FLOAT, EVF__ARRAY_OK(T, m, double *),       \
               __VA_ARGS__)
#define EVF_F_ARRAY_BOOL(T, m, ...)                                     \
    EVF__ARRAY(T, m, EVF_FT_BOOL, EVF__ARRAY_OK(T, m, bool *),          \
               __VA_ARGS__)
#define EVF_F_ARRAY_ENUM(T, m, values, ...)                             \
    EVF__ARRAY(T, m, EVF_FT_ENUM,                                       \
               EVF__ARRAY_OK(T, m, int *: 1, unsigned *),               \
               .enum_values = (values), __VA_ARGS__)
#define EVF_F_ARRAY_MODEL(T, m, mdl, ...)                             \
    EVF__ARRAY(T, m, EVF_FT_MODEL,                                      \
               EVF__ARRAY_OK(T, m, evf__model_t_##mdl *),             \
               .model = &(mdl), __VA_ARGS__)
/* Nullable arrays: v NULL is null. */
#define EVF_F_OPT_ARRAY_STR(T, m, ...) \
    EVF_F_ARRAY_STR(T, m, .nullable = true, __VA_ARGS__)
#define EVF_F_OPT_ARRAY_INT(T, m, ...) \
    EVF_F_ARRAY_INT(T, m, .nullable = true, __VA_ARGS__)
#define EVF_F_OPT_ARRAY_FLOAT(T, m, ...) \
    EVF_F_ARRAY_FLOAT(T, m, .nullable = true, __VA_ARGS__)
#define EVF_F_OPT_ARRAY_BOOL(T, m, ...) \
    EVF_F_ARRAY_BOOL(T, m, .nullable = true, __VA_ARGS__)
#define EVF_F_OPT_ARRAY_ENUM(T, m, values, ...) \
    EVF_F_ARRAY_ENUM(T, m, values, .nullable = true, __VA_ARGS__)
#define EVF_F_OPT_ARRAY_MODEL(T, m, mdl, ...) \
    EVF_F_ARRAY_MODEL(T, m, mdl, .nullable = true, __VA_ARGS__)

/*
 * Another answer of a route, for the docs (FastAPI's responses=): status,
 * description, and the body's model (NULL: FastAPI's {"detail": string}
 * shape, as evf_raise answers).
 */
typedef struct evf_response_doc {
    int status;
    const char *description;
    const evf_model *model;
} evf_response_doc;

#define EVF_RESPONSES(...) \
    ((const evf_response_doc[]){ __VA_ARGS__, { .status = 0 } })

/*
 * The route's validated body (a struct of its .body model, request
 * memory), or NULL when the route declares no body model.
 */
void *evf_body_model(evf_req *r);

/*
 * Answer obj (a struct of the route's .response_model) as JSON with the
 * route's .status_code (200 if 0): only the model's fields, nulls left out
 * with .response_exclude_none.  0, or EVF_EINVAL (no response model, or
 * already answered) as evf_respond.
 */
int evf_respond_model(evf_req *r, const void *obj);

/*
 * obj (a struct of model m) as a new JSON object, the caller's to put:
 * only the model's fields; null ones left out when exclude_none.  NULL
 * when out of memory, or when m or obj is NULL.
 */
json_object *evf_model_to_json(const evf_model *m, const void *obj,
                               bool exclude_none);

#ifdef __cplusplus
}
#endif

#endif /* EVFCGI_H */
