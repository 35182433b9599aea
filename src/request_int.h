/*
 * request_int.h: the request's layout, private to the request layer:
 * request.c (memory, intake, awaits), inputs.c (params, typed values,
 * validation, accessors), response.c (the answer) and exchange.c (start,
 * finish, abort, background).  Nothing outside those includes it.
 */
#ifndef EVF_REQUEST_INT_H
#define EVF_REQUEST_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "buf.h"
#include "fifo.h"
#include "mem.h"
#include "request.h"
#include "route.h"
#include "router.h"
#include "task.h"

enum stage { S_PARAMS, S_STDIN, S_RUNNING };

typedef struct pair {
    const char *name, *value;
    size_t vlen;            /* query pairs: the decoded length (past a NUL) */
} pair_t;

typedef struct value {
    const char *name;
    const char *text;       /* NULL: absent */
    evf_type type;
    union {
        int64_t i;
        double f;
        bool b;
    } v;
    /* ---- toolkit: a declared list's values (text set to the first) */
    struct value *items;
    size_t nitems;
} value_t;

typedef struct defer {
    struct defer *next;
    void (*fn)(void *);
    void *arg;
} defer_t;

typedef struct teardown {
    struct teardown *next;
    void (*fn)(evf_req *r, void *arg);
    void *arg;
} teardown_t;

typedef struct background {
    struct background *next;
    evf_task_fn fn;
    void *arg;
} background_t;

#define ARENA0 1024
/*
 * The PARAMS stream's first bytes go to raw0, inside the request: a web
 * server's usual few hundred bytes cost no allocation.  A longer stream
 * moves to the heap.  The request itself lives at the top of the stack
 * slot its handler will run on (coro.h's evf_coro_slot_take), so a
 * request waiting in an await touches one page in all.
 */
#define RAW0 1024

struct evf_req {
    evf_coro_slot_t *slot;  /* the stack slot the request lives in */
    void *owner;
    const evf_req_owner_ops *ops;
    evf_req *link;
    uint16_t id;
    uint8_t flags;
    uint8_t stage;
    int reject;             /* 413, 431 or 503 to answer instead of running */
    evf_buf_t raw;          /* PARAMS stream while it arrives */
    size_t scan;            /* raw: start of the first pair not yet seen */
    size_t npairs;          /* pairs stored at the start of raw so far */
    evf_buf_t body;
    pair_t *params;
    size_t nparams;
    pair_t *query;
    size_t nquery;
    bool query_parsed;
    const char *method;
    const char *path;
    size_t path_len;        /* decoded; beyond strlen(path) if it had %00 */
    const evf_router_t *router; /* the owner's route table, at start */
    evf_route_entry_t *route;
    value_t *pvals;         /* path parameters */
    size_t npvals;
    value_t *qvals;         /* declared query parameters */
    size_t nqvals;
    json_object *json;
    json_object *errors;    /* the 422 list, answered after the deps */
    void *body_model;       /* the validated .body struct (arena), issue 12 */
    char *hdrs;             /* extra response headers, "N: v\r\n"... */
    size_t hdrs_len;
    bool answered;
    bool counted;           /* in the route's in-flight count */
    bool logged;            /* access log line written */
    bool streaming;
    int status;
    int raise_status;       /* raised on a pool thread: the loop answers */
    const char *raise_detail;
    const char *const *raise_headers;
    uint64_t bytes_out;
    evf_tasks_t tasks;      /* the handler's task and its children */
    evf_task_t *drain_task; /* a stream write waiting for the peer */
    defer_t *defers;
    teardown_t *teardowns;      /* newest first: run in reverse order */
    background_t *bg, **bg_tail;
    bool detached;              /* answered; background tasks still run */
    evf_req *dnext, *dprev;     /* the detached list */
    void *deps_cache;
    double t0;                  /* loop clock at start */
    double started;             /* monotonic clock at start */
    double begun;               /* loop clock at BEGIN_REQUEST */
    /*
     * Ownership with the pool.  While a blocking handler runs (on_pool),
     * the pool thread owns the request: the loop only sets the tasks'
     * cancelled flag.  Pool jobs out keep the request's memory alive after
     * it was cancelled; the last one to come back releases it.
     */
    bool on_pool;
    evf_buf_t pend;         /* output written on the pool thread */
    /*
     * A blocking dependency (or to_thread function) may allocate from the
     * arena, or register a cleanup, on a pool thread while sibling tasks do
     * the same on the loop: while jobs are out, both sides take this lock.
     */
    pthread_mutex_t mem_lock;
    /* Forms and uploads (forms.c). */
    struct evf_forms *forms;    /* a multipart body being streamed */
    bool forms_checked;         /* the first STDIN bytes were looked at */
    const char *reject_detail;  /* static, for reject; NULL: the reason */
    /* ---- toolkit (params.c, exc.c) ---- */
    pair_t *cookies;        /* the Cookie header, parsed on first use */
    size_t ncookies;
    bool cookies_parsed;
    bool in_exc_handler;    /* an exception handler is answering */
    evf_arena_t arena;
    /* ---- middleware (middleware.c) ---- */
    const struct evf_mw_chain *mw;  /* the app's chain; NULL: none */
    void **mw_state;                /* one per middleware */
    unsigned mw_entered;            /* before hooks that ran */
    bool mw_after_done;
    const char *mw_origin;          /* a CORS simple request's Origin */
    const char *xrid;               /* the request id, or NULL */
    char arena0[ARENA0];
    uint8_t raw0[RAW0];
};

#define req_of_tasks(g) container_of((g), evf_req, tasks)

/* Free the PARAMS buffer (not when it is still raw0); it is empty after. */
static inline void
req_raw_free(evf_req *r)
{
    if (r->raw.data != r->raw0)
        evf_buf_free(&r->raw);
    r->raw = (evf_buf_t){ 0 };
}

/* The CGI param name, or NULL (pointers live as long as the request). */
static inline const char *
req_param(const evf_req *r, const char *name)
{
    for (size_t i = 0; i < r->nparams; i++)
        if (strcmp(r->params[i].name, name) == 0)
            return r->params[i].value;
    return NULL;
}

/* A NUL-terminated copy of s[0..n) in the request's arena, or NULL. */
char *evf__req_strndup(evf_req *r, const char *s, size_t n);

/*
 * Convert and check the matched route's path parameters, declared query
 * parameters and JSON body (inputs.c).  Errors are kept in r->errors, to be
 * answered (422) once the dependencies have run.  0, or -ENOMEM.
 */
int evf__req_validate(evf_req *r, const evf_match_t *m);

/* The handler's label for logs: the route, or the path. */
const char *evf__req_label(const evf_req *r);

/*
 * response.c: an error answer, {"detail": detail}, carrying only the given
 * headers ("Name: value" strings, NULL-ended; may be NULL), not those added
 * for a success answer.  0, EVF_EINVAL (already answered), EVF_EGONE.
 */
int evf__req_answer_error(evf_req *r, int status, const char *detail,
                          const char *const *headers);
/* Free what the request's pool thread wrote, or hand it to the owner. */
void evf__req_take_pending(evf_req *r);

/* ---- toolkit (issue 13) ---- */
/*
 * params.c: validate a declared query parameter q that is a list or has
 * choices into v (called in declaration order among the query
 * parameters), then, once the query is done, the declared header and
 * cookie parameters; errors go to *errs.  0, or -ENOMEM.
 */
int evf__params_query(evf_req *r, const evf_query *q, value_t *v,
                      json_object **errs);
int evf__params_validate(evf_req *r, json_object **errs);
/*
 * params.c: the declaration and value of the parameter declared as name
 * when it is not a plain query one (header, cookie, list); NULL if not.
 */
const value_t *evf__params_find(evf_req *r, const char *name,
                                const evf_query **decl);
/*
 * exc.c: run the app's exception handler for status, if any (errors: the
 * 422 list, borrowed).  True when it answered r.
 */
bool evf__req_exc_answer(evf_req *r, int status, const char *detail,
                         json_object *errors);
/* inputs.c: the decoded query pairs (parsed now if need be). */
const pair_t *evf__req_query(evf_req *r, size_t *n);

/* exchange.c: the request is answered or abandoned; free when possible. */
void evf__req_release(evf_req *r);
/* exchange.c: the input is complete: route and run r (may finish it). */
void evf__req_start(evf_req *r);
/* exchange.c: set up r's task group with the request's reports. */
void evf__req_tasks_init(evf_req *r);

#endif
