/*
 * request_int.h: the request's layout, shared by request.c (life cycle,
 * tasks, responses, awaits) and inputs.c (params, path and query values,
 * validation, accessors).  Nothing else includes it.
 */
#ifndef EVF_REQUEST_INT_H
#define EVF_REQUEST_INT_H

#include <ev.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "app.h"
#include "buf.h"
#include "coro.h"
#include "mem.h"
#include "pool.h"
#include "request.h"
#include "router.h"

#define container_of(p, type, member) \
    ((type *)((char *)(p) - offsetof(type, member)))

enum stage { S_PARAMS, S_STDIN, S_RUNNING };

typedef struct pair {
    const char *name, *value;
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

typedef struct task task_t;
struct task {
    evf_coro_t *coro;
    evf_req *req;
    task_t *next;           /* the request's live tasks */
    task_t *parent;         /* gather: the awaiting task */
    unsigned children;      /* gather: children still running */
    evf_task_fn fn;         /* NULL: the route handler */
    void *arg;
    ev_timer timer;
    ev_io io;
    int timer_result;       /* what the timer means: 0 or EVF_ETIMEDOUT */
    int result;
    bool in_pool;           /* awaiting evf_to_thread */
    bool background;        /* an evf_background task */
    bool orphaned;          /* dropped while in_pool: the job frees it */
    struct pool_job *job;   /* while in_pool */
};

#define ARENA0 1024

struct evf_req {
    void *owner;
    const evf_req_owner_ops *ops;
    evf_req *link;
    uint16_t id;
    uint8_t flags;
    uint8_t stage;
    int reject;             /* 413 or 431 to answer instead of running */
    evf_buf_t raw;          /* PARAMS stream while it arrives */
    size_t scan;            /* raw: start of the first pair not yet seen */
    evf_buf_t body;
    pair_t *params;
    size_t nparams;
    pair_t *query;
    size_t nquery;
    bool query_parsed;
    const char *method;
    const char *path;
    evf_route_entry_t *route;
    value_t *pvals;         /* path parameters */
    size_t npvals;
    value_t *qvals;         /* declared query parameters */
    size_t nqvals;
    json_object *json;
    char *hdrs;             /* extra response headers, "N: v\r\n"... */
    size_t hdrs_len;
    bool answered;
    bool counted;           /* in the route's in-flight count */
    bool logged;            /* access log line written */
    bool streaming;
    bool raised;
    int status;
    uint64_t bytes_out;
    task_t *tasks;
    task_t *drain_task;
    double deadline;        /* absolute, ev_now() clock; 0: none */
    defer_t *defers;
    teardown_t *teardowns;      /* newest first: run in reverse order */
    background_t *bg, **bg_tail;
    unsigned bg_running;
    bool detached;              /* answered; background tasks still run */
    evf_req *dnext, *dprev;     /* the detached list */
    void *deps_cache;
    ev_tstamp t0;
    /*
     * Ownership with the pool.  While a blocking handler runs (on_pool),
     * the pool thread owns the request: the loop only sets `cancelled`.
     * Pool jobs in flight (jobs) keep the request's memory alive after it
     * was cancelled; the last one to finish releases it.
     */
    bool on_pool;
    atomic_bool cancelled;
    unsigned jobs;
    evf_buf_t pend;         /* output written on the pool thread */
    /*
     * A blocking dependency (or to_thread function) may allocate from the
     * arena, or register a cleanup, on a pool thread while sibling tasks do
     * the same on the loop: while jobs are out, both sides take this lock.
     */
    pthread_mutex_t mem_lock;
    evf_arena_t arena;
    char arena0[ARENA0];
};

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
 * parameters and JSON body (inputs.c).  True when the handler may run;
 * otherwise the 422 has been answered.
 */
bool evf__req_validate(evf_req *r, const evf_match_t *m);

#endif
