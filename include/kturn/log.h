/* SPDX-License-Identifier: MIT */
/*
 * Levelled, structured log lines: "2026-11-25T20:31:00.123Z info  key=value ...".
 *
 * The sink is the one piece of process-wide state kturn keeps: it is set once
 * by main (log__open) before any thread starts, and only read afterwards.
 * Each line is written with a single write(2), so lines from workers never
 * interleave.
 */
#ifndef KTURN_LOG_H
#define KTURN_LOG_H

#include <stdarg.h>

enum log_level {
	LOG_ERR = 0,
	LOG_WARN = 1,
	LOG_INFO = 2,
	LOG_DEBUG = 3,
};

/* path NULL or "-" or "stderr": log to stderr. Returns 0 or -errno. */
int log__open(const char *path, enum log_level level);
void log__close(void);
enum log_level log__level(void);
/* Reopen the file (after rotation); no-op for stderr. */
int log__reopen(void);

void log__write(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void log__vwrite(enum log_level level, const char *fmt, va_list ap);

#define klog_err(...)  log__write(LOG_ERR, __VA_ARGS__)
#define klog_warn(...) log__write(LOG_WARN, __VA_ARGS__)
#define klog_info(...) log__write(LOG_INFO, __VA_ARGS__)
#define klog_debug(...)                                                                            \
	do {                                                                                       \
		if (log__level() >= LOG_DEBUG)                                                     \
			log__write(LOG_DEBUG, __VA_ARGS__);                                        \
	} while (0)

#endif /* KTURN_LOG_H */
