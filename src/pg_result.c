/*
 * pg_result: the typed accessors of evfcgi_pg.h on results (libpq's
 * PGresult, text format).  The request owns the results (pg.c frees them
 * when it ends); these only read them.
 */
#include "config.h"

#include <errno.h>
#include <libpq-fe.h>
#include <stdlib.h>
#include <string.h>

#include "evfcgi_pg.h"

#define RES(res) ((const PGresult *)(res))

int
evf_pg_ntuples(const evf_pg_result *res)
{
    return res ? PQntuples(RES(res)) : 0;
}

int
evf_pg_nfields(const evf_pg_result *res)
{
    return res ? PQnfields(RES(res)) : 0;
}

int64_t
evf_pg_affected(const evf_pg_result *res)
{
    const char *s = res ? PQcmdTuples((PGresult *)RES(res)) : "";
    return *s ? strtoll(s, NULL, 10) : 0;
}

const char *
evf_pg_text(const evf_pg_result *res, int row, int col)
{
    if (!res || row < 0 || col < 0 || row >= PQntuples(RES(res)) ||
        col >= PQnfields(RES(res)) || PQgetisnull(RES(res), row, col))
        return NULL;
    return PQgetvalue(RES(res), row, col);
}

bool
evf_pg_isnull(const evf_pg_result *res, int row, int col)
{
    return evf_pg_text(res, row, col) == NULL;
}

int64_t
evf_pg_int64(const evf_pg_result *res, int row, int col)
{
    const char *s = evf_pg_text(res, row, col);
    if (!s)
        return 0;
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    return end == s || *end || errno ? 0 : v;
}

int
evf_pg_int(const evf_pg_result *res, int row, int col)
{
    int64_t v = evf_pg_int64(res, row, col);
    return v < INT32_MIN || v > INT32_MAX ? 0 : (int)v;
}

double
evf_pg_float(const evf_pg_result *res, int row, int col)
{
    const char *s = evf_pg_text(res, row, col);
    if (!s)
        return 0;
    char *end;
    double v = strtod(s, &end);
    return end == s || *end ? 0 : v;
}

bool
evf_pg_bool(const evf_pg_result *res, int row, int col)
{
    const char *s = evf_pg_text(res, row, col);
    return s && (strcmp(s, "t") == 0 || strcmp(s, "true") == 0);
}
