/*
 * tls.h: EVF_TLS, the storage class of the hot per-thread state (the
 * loop, the connection registry, the coroutine pool, the running task).
 *
 * libevfcgi is loaded with the program that uses it (evfcgid and test
 * programs link it; apps are loaded after it), so these thread-locals can
 * live in the static TLS block and be reached without a call into the
 * dynamic linker on every access (about 290 instructions per request
 * otherwise).  Only small ones use it, a few hundred bytes in all, so that
 * a program loading the library late with dlopen() still finds room in
 * the C library's reserve.  Larger thread-locals stay _Thread_local.
 */
#ifndef EVF_TLS_H
#define EVF_TLS_H

#ifdef __GNUC__
#define EVF_TLS _Thread_local __attribute__((tls_model("initial-exec")))
#else
#define EVF_TLS _Thread_local
#endif

#endif
