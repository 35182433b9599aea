/*
 * pg_conn: sending batches on a libpq connection in pipeline mode and
 * collecting their results without blocking (see pg.h).
 *
 * DESIGN.  A batch is a list of slots, one per result libpq will return:
 * a statement's, or a Prepare's for a named statement not yet prepared on
 * the connection (sent just before its first use, in the same round
 * trip).  In pipeline mode PQgetResult returns each slot's result, then
 * NULL, and after the sync a PGRES_PIPELINE_SYNC result: the batch is
 * done.  After an error the server skips to the sync, and libpq returns
 * PGRES_PIPELINE_ABORTED for the skipped statements.
 */
#include "config.h"

#include <string.h>

#include "mem.h"
#include "pg.h"

bool
evf__pg_is_prepared(const pg_conn_t *c, const char *name)
{
    for (size_t i = 0; i < c->nprepared; i++)
        if (strcmp(c->prepared[i], name) == 0)
            return true;
    return false;
}

int
evf__pg_add_prepared(pg_conn_t *c, const char *name)
{
    char *copy = evf_mem_strdup(name);
    char **v = copy ? evf_realloc(c->prepared,
                                  (c->nprepared + 1) * sizeof(*v)) : NULL;
    if (!v) {
        evf_free(copy);
        return -1;
    }
    v[c->nprepared++] = copy;
    c->prepared = v;
    return 0;
}

void
evf__pg_forget_prepared(pg_conn_t *c, const char *name)
{
    for (size_t i = 0; i < c->nprepared; i++)
        if (strcmp(c->prepared[i], name) == 0) {
            evf_free(c->prepared[i]);
            c->prepared[i] = c->prepared[--c->nprepared];
            return;
        }
}

size_t
evf__pg_slots_needed(const pg_conn_t *c, size_t n, const evf_pg_stmt *stmts)
{
    size_t slots = n;
    for (size_t i = 0; i < n; i++) {
        if (!stmts[i].name || evf__pg_is_prepared(c, stmts[i].name))
            continue;
        /* Prepared once per batch even if it appears several times. */
        bool seen = false;
        for (size_t k = 0; k < i && !seen; k++)
            seen = stmts[k].name && strcmp(stmts[k].name, stmts[i].name) == 0;
        if (!seen)
            slots++;
    }
    return slots;
}

int
evf__pg_send(pg_conn_t *c, pg_batch_t *b, size_t n, const evf_pg_stmt *stmts)
{
    PGconn *pg = c->pg;
    size_t s = 0;
    b->next = 0;
    b->done = false;
    b->error = NULL;
    for (size_t i = 0; i < n; i++) {
        const evf_pg_stmt *st = &stmts[i];
        if (st->name && !evf__pg_is_prepared(c, st->name)) {
            if (evf__pg_add_prepared(c, st->name) < 0)
                return PG_LOST;
            b->slots[s].res = NULL;
            b->slots[s].name = st->name;
            b->slots[s++].prepare = true;
            if (!PQsendPrepare(pg, st->name, st->sql, st->nparams, NULL))
                return PG_LOST;
        }
        b->slots[s].res = NULL;
        b->slots[s].name = NULL;
        b->slots[s++].prepare = false;
        int ok = st->name
            ? PQsendQueryPrepared(pg, st->name, st->nparams, st->params,
                                  NULL, NULL, 0)
            : PQsendQueryParams(pg, st->sql, st->nparams, NULL, st->params,
                                NULL, NULL, 0);
        if (!ok)
            return PG_LOST;
    }
    b->n = s;
    if (!PQpipelineSync(pg))
        return PG_LOST;
    return 0;
}

bool
evf__pg_error_is_fatal(const PGresult *res)
{
    const char *st = PQresultErrorField(res, PG_DIAG_SQLSTATE);
    if (!st)    /* libpq's own error: the connection went wrong */
        return true;
    return strncmp(st, "08", 2) == 0 || strncmp(st, "57P", 3) == 0;
}

/* Put res in the current slot (or drop it).  False: the session is gone. */
static bool
collect(pg_conn_t *c, pg_batch_t *b, PGresult *res)
{
    ExecStatusType st = PQresultStatus(res);
    if (b->next >= b->n) {  /* more results than statements: ignore */
        PQclear(res);
        return true;
    }
    pg_slot_t *slot = &b->slots[b->next];
    if (slot->res) {        /* only the first result of a statement */
        PQclear(res);
        return true;
    }
    slot->res = res;
    if (st == PGRES_FATAL_ERROR) {
        if (slot->prepare)
            evf__pg_forget_prepared(c, slot->name);
        if (!b->error)
            b->error = res;
        if (evf__pg_error_is_fatal(res))
            return false;
    } else if (st == PGRES_PIPELINE_ABORTED && slot->prepare) {
        evf__pg_forget_prepared(c, slot->name);
    }
    return true;
}

int
evf__pg_pump(pg_conn_t *c, bool readable)
{
    PGconn *pg = c->pg;
    pg_batch_t *b = c->batch;
    if (readable && !PQconsumeInput(pg))
        return PG_LOST;
    while (b && !b->done && !PQisBusy(pg)) {
        if (PQstatus(pg) == CONNECTION_BAD)
            return PG_LOST;
        PGresult *res = PQgetResult(pg);
        if (!res) {
            if (b->next < b->n)
                b->next++;
            continue;
        }
        if (PQresultStatus(res) == PGRES_PIPELINE_SYNC) {
            PQclear(res);
            b->done = true;
            break;
        }
        if (!collect(c, b, res))
            return PG_LOST;
    }
    if (PQstatus(pg) == CONNECTION_BAD)
        return PG_LOST;
    if (b && b->done)
        return PG_DONE;
    int f = PQflush(pg);
    if (f < 0)
        return PG_LOST;
    return PG_RD | (f ? PG_WR : 0);
}

void
evf__pg_batch_clear(pg_batch_t *b)
{
    for (size_t i = 0; i < b->n; i++)
        if (b->slots[i].res) {
            PQclear(b->slots[i].res);
            b->slots[i].res = NULL;
        }
    b->error = NULL;
}
