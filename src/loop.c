/*
 * loop: per-thread loop pointer (see loop.h).
 */
#include "config.h"

#include <ev.h>
#include <time.h>

#include "loop.h"
#include "tls.h"

static EVF_TLS struct ev_loop *current;

struct ev_loop *
evf__loop(void)
{
    return current ? current : EV_DEFAULT;
}

void
evf__loop_set(struct ev_loop *loop)
{
    current = loop;
}

double
evf__now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}
