/*
 * log: the daemon's error log.
 *
 * One line per event: time, level, then the message.  Goes to stderr until
 * evf_log_open() names a file or syslog.  Safe to call from any thread (one
 * write(2) per line).
 */
#ifndef EVF_LOG_H
#define EVF_LOG_H

#include <stdarg.h>
#include <stdint.h>

enum {
    EVF_LOG_LVL_ERROR = 3,
    EVF_LOG_LVL_WARN = 4,
    EVF_LOG_LVL_NOTICE = 5,
    EVF_LOG_LVL_INFO = 6,
    EVF_LOG_LVL_DEBUG = 7
};

/* Lines above level are dropped. */
void evf_log_set_level(int level);
int evf_log_level(void);
/* "error", "warn", ... for a level. */
const char *evf_log_level_name(int level);
/* Parse "error", "warn", ...; returns -1 when unknown. */
int evf_log_parse_level(const char *name);

/* "stderr", "syslog" or a file path.  Returns 0 or -errno. */
int evf_log_open(const char *target);
/* Reopen the file after rotation (SIGUSR1). */
int evf_log_reopen(void);

void evf_log_msg(int level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void evf_log_vmsg(int level, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));

/*
 * Failed writes of the log files (issue 14, item 10).  A write of the
 * error log or the access log (which: EVF_LOG_FILE_*) that fails (disk
 * full) calls evf_log_write_failed(which, counter, errno): counter (may be
 * NULL) is incremented atomically, and a line naming the file and the
 * cause goes to stderr, at most one every 10 seconds for each file (with
 * the count since the last).
 * evf_log_count_failures() says where this process counts the error log's
 * failures (a worker: its statistics slot); NULL: nowhere.
 */
void evf_log_count_failures(uint64_t *counter);
enum { EVF_LOG_FILE_ERROR, EVF_LOG_FILE_ACCESS };
void evf_log_write_failed(int which, uint64_t *counter, int err);

#define evf_log_error(...)  evf_log_msg(EVF_LOG_LVL_ERROR, __VA_ARGS__)
#define evf_log_warn(...)   evf_log_msg(EVF_LOG_LVL_WARN, __VA_ARGS__)
#define evf_log_notice(...) evf_log_msg(EVF_LOG_LVL_NOTICE, __VA_ARGS__)
#define evf_log_info(...)   evf_log_msg(EVF_LOG_LVL_INFO, __VA_ARGS__)
#define evf_log_debug(...)  evf_log_msg(EVF_LOG_LVL_DEBUG, __VA_ARGS__)

#endif
