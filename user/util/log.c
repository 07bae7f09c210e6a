// SPDX-License-Identifier: MIT
/*
 * Levelled log lines: "2026-11-25T20:31:00.123Z info  message".
 *
 * The sink is an fd number that never changes after log__open: log__reopen
 * swaps the file behind it with dup3(), which the kernel does atomically, so
 * workers writing concurrently land in the old or the new file, never in a
 * closed or reused descriptor. Each line is built in a buffer of PIPE_BUF
 * bytes and written with one write(2): appends to a regular file (O_APPEND)
 * and writes of at most PIPE_BUF bytes to a pipe (journald, docker) do not
 * interleave with other writers.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "kturn/log.h"

#define LOG_LINE_MAX   PIPE_BUF
#define LOG_TRUNC_MARK "...\n"

static int log_fd = STDERR_FILENO;
static char *log_path; /* NULL when the sink is stderr or stdout */
static enum log_level log_lvl = LOG_INFO;

static const char *const level_words[] = {
	[LOG_ERR] = "err",
	[LOG_WARN] = "warn",
	[LOG_INFO] = "info",
	[LOG_DEBUG] = "debug",
};

static int open_file(const char *path)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOCTTY, 0640);

	return fd < 0 ? -errno : fd;
}

static int std_sink(const char *path)
{
	if (!path || !strcmp(path, "-") || !strcmp(path, "stderr"))
		return STDERR_FILENO;
	if (!strcmp(path, "stdout"))
		return STDOUT_FILENO;
	return -1;
}

int log__open(const char *path, enum log_level level)
{
	int fd = std_sink(path);
	char *copy = NULL;

	if (level < LOG_ERR || level > LOG_DEBUG)
		return -EINVAL;
	if (fd < 0) {
		copy = strdup(path);
		if (!copy)
			return -ENOMEM;
		fd = open_file(path);
		if (fd < 0) {
			free(copy);
			return fd;
		}
	}
	log__close();
	log_fd = fd;
	log_path = copy;
	log_lvl = level;
	return 0;
}

void log__close(void)
{
	if (log_path)
		close(log_fd);
	free(log_path);
	log_path = NULL;
	log_fd = STDERR_FILENO;
}

enum log_level log__level(void)
{
	return log_lvl;
}

int log__reopen(void)
{
	int fd, err = 0;

	if (!log_path)
		return 0;
	fd = open_file(log_path);
	if (fd < 0)
		return fd;
	if (dup3(fd, log_fd, O_CLOEXEC) < 0)
		err = -errno;
	close(fd);
	return err;
}

/* "2026-11-25T20:31:00.123Z info  " into buf; returns its length. */
static size_t format_prefix(char *buf, size_t cap, enum log_level level)
{
	struct timespec ts;
	struct tm tm;
	size_t n;
	int m;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	n = strftime(buf, cap, "%Y-%m-%dT%H:%M:%S", &tm);
	m = snprintf(buf + n, cap - n, ".%03ldZ %-5s ", ts.tv_nsec / 1000000L, level_words[level]);
	return n + (m > 0 ? (size_t)m : 0);
}

/*
 * Copy msg into out, escaping control characters as \xNN so a message (a
 * username from the network, say) can never start a line of its own.
 * Returns the bytes written, or stops early when out is full.
 */
static size_t sanitize(char *out, size_t cap, const char *msg, size_t len, bool *truncated)
{
	size_t o = 0;

	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)msg[i];
		bool ctl = (c < 0x20 && c != '\t') || c == 0x7f;
		size_t need = ctl ? 4 : 1;

		if (o + need > cap) {
			*truncated = true;
			break;
		}
		if (ctl)
			snprintf(out + o, 5, "\\x%02x", c);
		else
			out[o] = (char)c;
		o += need;
	}
	return o;
}

static void write_all(const char *buf, size_t len)
{
	while (len) {
		ssize_t n = write(log_fd, buf, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return;
		buf += n;
		len -= (size_t)n;
	}
}

/* log.h cannot say it (its API is fixed); lets the compiler check vsnprintf. */
__attribute__((format(printf, 2, 0))) void log__vwrite(enum log_level level, const char *fmt,
						       va_list ap);

void log__vwrite(enum log_level level, const char *fmt, va_list ap)
{
	char line[LOG_LINE_MAX];
	char msg[LOG_LINE_MAX];
	const size_t room = sizeof(line) - (sizeof(LOG_TRUNC_MARK) - 1);
	bool truncated = false;
	int saved_errno = errno;
	size_t n, len;
	int m;

	if (level < LOG_ERR || level > LOG_DEBUG || level > log_lvl)
		return;
	m = vsnprintf(msg, sizeof(msg), fmt, ap);
	if (m < 0)
		m = 0;
	len = (size_t)m < sizeof(msg) ? (size_t)m : sizeof(msg) - 1;
	truncated = len < (size_t)m;
	if (len && msg[len - 1] == '\n')
		len--;
	n = format_prefix(line, room, level);
	n += sanitize(line + n, room - n, msg, len, &truncated);
	if (truncated) {
		memcpy(line + n, LOG_TRUNC_MARK, sizeof(LOG_TRUNC_MARK) - 1);
		n += sizeof(LOG_TRUNC_MARK) - 1;
	} else {
		line[n++] = '\n';
	}
	write_all(line, n);
	errno = saved_errno;
}

void log__write(enum log_level level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log__vwrite(level, fmt, ap);
	va_end(ap);
}
