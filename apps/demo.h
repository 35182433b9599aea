/*
 * demo.h: what the demo app's files (demo.c, demo_<part>.c) share.
 */
#ifndef EVF_APPS_DEMO_H
#define EVF_APPS_DEMO_H

#include "evfcgi.h"

/* ---- middleware and CORS (demo_web.c) ---- */
/* Request id, then the timing header (X-Process-Time, milliseconds). */
extern const evf_middleware *const demo_middleware[];
/* CORS for http://app.example.test: GET, POST, credentials allowed. */
extern const evf_cors demo_cors;

#endif
