// SPDX-License-Identifier: MIT
/* Log lines: format, level filter, escaping, truncation, reopen, threads. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <regex.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "kturn/log.h"

#define LINE_RE                                                                                    \
	"^([0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2})\\.[0-9]{3}Z (err  |warn |info "  \
	"|debug) (.*)$"

struct fixture {
	char dir[64];
	char path[128];
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	strcpy(f->dir, "/tmp/kturn-test-log-XXXXXX");
	if (!mkdtemp(f->dir))
		return -1;
	snprintf(f->path, sizeof(f->path), "%s/kturn.log", f->dir);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	char old[160];

	log__close();
	snprintf(old, sizeof(old), "%s.1", f->path);
	unlink(f->path);
	unlink(old);
	rmdir(f->dir);
	free(f);
	return 0;
}

/* The whole file, NUL-terminated; caller frees. */
static char *xslurp(const char *path)
{
	FILE *fp = fopen(path, "r");
	char *buf;
	long n;

	assert_non_null(fp);
	fseek(fp, 0, SEEK_END);
	n = ftell(fp);
	rewind(fp);
	buf = malloc((size_t)n + 1);
	assert_int_equal(fread(buf, 1, (size_t)n, fp), (size_t)n);
	buf[n] = '\0';
	fclose(fp);
	return buf;
}

/* Split text into lines (in place); returns the count. */
static size_t split_lines(char *text, char **lines, size_t max)
{
	size_t n = 0;

	for (char *s = text; *s && n < max;) {
		char *nl = strchr(s, '\n');

		assert_non_null(nl); /* every line is terminated */
		*nl = '\0';
		lines[n++] = s;
		s = nl + 1;
	}
	return n;
}

/* Check the line's shape and return its level word and message. */
static void xparse(const char *line, char *level, char *msg, size_t cap)
{
	regmatch_t m[4];
	regex_t re;
	struct tm tm = {0};
	time_t t, now = time(NULL);

	assert_int_equal(regcomp(&re, LINE_RE, REG_EXTENDED), 0);
	if (regexec(&re, line, 4, m, 0))
		fail_msg("bad log line: '%s'", line);
	regfree(&re);
	assert_non_null(strptime(line, "%Y-%m-%dT%H:%M:%S", &tm));
	t = timegm(&tm);
	assert_true(t <= now && now - t <= 5); /* UTC, and now */
	snprintf(level, 8, "%.*s", (int)(m[2].rm_eo - m[2].rm_so), line + m[2].rm_so);
	snprintf(msg, cap, "%s", line + m[3].rm_so);
}

static void test_levels_and_format(void **state)
{
	struct fixture *f = *state;
	char *lines[16], level[8], msg[256], *text;
	static const char *const want[][2] = {
		{"err  ", "e 1 key=value"},
		{"warn ", "w 2"},
		{"info ", "i 3 trailing newline dropped"},
	};

	assert_int_equal(log__open(f->path, LOG_INFO), 0);
	assert_int_equal(log__level(), LOG_INFO);
	klog_err("e %d key=%s", 1, "value");
	klog_warn("w %d", 2);
	klog_info("i %d trailing newline dropped\n", 3);
	klog_debug("d %d", 4);
	log__write(LOG_DEBUG, "not shown either");
	log__close();

	text = xslurp(f->path);
	assert_int_equal(split_lines(text, lines, 16), 3);
	for (size_t i = 0; i < 3; i++) {
		xparse(lines[i], level, msg, sizeof(msg));
		assert_string_equal(level, want[i][0]);
		assert_string_equal(msg, want[i][1]);
	}
	free(text);
	struct stat st;
	assert_int_equal(stat(f->path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0640);
}

static void test_debug_level(void **state)
{
	struct fixture *f = *state;
	char *lines[4], level[8], msg[64], *text;

	assert_int_equal(log__open(f->path, LOG_DEBUG), 0);
	klog_debug("d %d", 4);
	log__close();
	text = xslurp(f->path);
	assert_int_equal(split_lines(text, lines, 4), 1);
	xparse(lines[0], level, msg, sizeof(msg));
	assert_string_equal(level, "debug");
	assert_string_equal(msg, "d 4");
	free(text);
}

/* A message cannot forge a line of its own. */
static void test_control_chars_escaped(void **state)
{
	struct fixture *f = *state;
	char *lines[4], level[8], msg[128], *text;

	assert_int_equal(log__open(f->path, LOG_INFO), 0);
	klog_warn("user=%s tab=\t", "bob\n2026-01-01T00:00:00.000Z err  forged\r\x7f");
	log__close();
	text = xslurp(f->path);
	assert_int_equal(split_lines(text, lines, 4), 1);
	xparse(lines[0], level, msg, sizeof(msg));
	assert_string_equal(msg,
			    "user=bob\\x0a2026-01-01T00:00:00.000Z err  forged\\x0d\\x7f tab=\t");
	free(text);
}

static void test_truncation(void **state)
{
	struct fixture *f = *state;
	char *big = malloc(3 * PIPE_BUF), *text, *lines[4];

	memset(big, 'z', 3 * PIPE_BUF - 1);
	big[3 * PIPE_BUF - 1] = '\0';
	assert_int_equal(log__open(f->path, LOG_INFO), 0);
	klog_info("%s", big);
	klog_info("after");
	log__close();
	text = xslurp(f->path);
	assert_int_equal(split_lines(text, lines, 4), 2);
	assert_true(strlen(lines[0]) + 1 <= PIPE_BUF);
	assert_true(strlen(lines[0]) + 1 > PIPE_BUF - 8);
	assert_string_equal(lines[0] + strlen(lines[0]) - 6, "zzz...");
	assert_non_null(strstr(lines[1], " info  after"));
	free(text);
	free(big);
}

static void test_reopen_after_rotation(void **state)
{
	struct fixture *f = *state;
	char rotated[160], *text;

	snprintf(rotated, sizeof(rotated), "%s.1", f->path);
	assert_int_equal(log__open(f->path, LOG_INFO), 0);
	klog_info("before rotation");
	assert_int_equal(rename(f->path, rotated), 0);
	klog_info("still the old file");
	assert_int_equal(log__reopen(), 0);
	klog_info("in the new file");
	log__close();

	text = xslurp(rotated);
	assert_non_null(strstr(text, "before rotation\n"));
	assert_non_null(strstr(text, "still the old file\n"));
	assert_null(strstr(text, "in the new file"));
	free(text);
	text = xslurp(f->path);
	assert_non_null(strstr(text, "in the new file\n"));
	assert_null(strstr(text, "before"));
	free(text);
}

static void test_open_errors(void **state)
{
	struct fixture *f = *state;
	char bad[160];

	snprintf(bad, sizeof(bad), "%s/missing/dir/k.log", f->dir);
	assert_int_equal(log__open(bad, LOG_INFO), -ENOENT);
	assert_int_equal(log__open(f->path, (enum log_level)7), -EINVAL);
	assert_int_equal(log__open(NULL, LOG_WARN), 0);
	assert_int_equal(log__level(), LOG_WARN);
	assert_int_equal(log__reopen(), 0); /* stderr: nothing to do */
	assert_int_equal(log__open("-", LOG_INFO), 0);
	assert_int_equal(log__open("stderr", LOG_INFO), 0);
}

/* stderr is the default sink; errno survives a log call. */
static void test_stderr_sink(void **state)
{
	struct fixture *f = *state;
	int saved = dup(STDERR_FILENO);
	int fd = open(f->path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	char *text, *lines[4], level[8], msg[64];

	assert_true(saved >= 0 && fd >= 0);
	assert_int_equal(log__open(NULL, LOG_INFO), 0);
	assert_int_equal(dup2(fd, STDERR_FILENO), STDERR_FILENO);
	errno = EAGAIN;
	klog_err("to stderr");
	assert_int_equal(errno, EAGAIN);
	assert_int_equal(dup2(saved, STDERR_FILENO), STDERR_FILENO);
	close(saved);
	close(fd);
	text = xslurp(f->path);
	assert_int_equal(split_lines(text, lines, 4), 1);
	xparse(lines[0], level, msg, sizeof(msg));
	assert_string_equal(level, "err  ");
	assert_string_equal(msg, "to stderr");
	free(text);
}

#define THREADS	   4
#define PER_THREAD 2000

static void *writer(void *arg)
{
	int id = (int)(intptr_t)arg;

	for (int i = 0; i < PER_THREAD; i++)
		klog_info("thread=%d seq=%d pad=%0200d", id, i, 0);
	return NULL;
}

/* Concurrent writers: every line whole, every sequence number present once. */
static void test_threads_do_not_interleave(void **state)
{
	struct fixture *f = *state;
	pthread_t t[THREADS];
	size_t max = THREADS * PER_THREAD + 1, n;
	char **lines = calloc(max, sizeof(*lines)), *text, level[8], msg[512];
	int next[THREADS] = {0};

	assert_int_equal(log__open(f->path, LOG_INFO), 0);
	for (int i = 0; i < THREADS; i++)
		assert_int_equal(pthread_create(&t[i], NULL, writer, (void *)(intptr_t)i), 0);
	for (int i = 0; i < THREADS; i++)
		pthread_join(t[i], NULL);
	log__close();

	text = xslurp(f->path);
	n = split_lines(text, lines, max);
	assert_int_equal(n, THREADS * PER_THREAD);
	for (size_t i = 0; i < n; i++) {
		int id, seq, used = 0;

		xparse(lines[i], level, msg, sizeof(msg));
		assert_int_equal(sscanf(msg, "thread=%d seq=%d pad=%*d%n", &id, &seq, &used), 2);
		assert_int_equal((size_t)used, strlen(msg));
		assert_true(id >= 0 && id < THREADS);
		assert_int_equal(seq, next[id]); /* per-thread order kept */
		next[id]++;
	}
	free(text);
	free(lines);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_levels_and_format, setup, teardown),
		cmocka_unit_test_setup_teardown(test_debug_level, setup, teardown),
		cmocka_unit_test_setup_teardown(test_control_chars_escaped, setup, teardown),
		cmocka_unit_test_setup_teardown(test_truncation, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reopen_after_rotation, setup, teardown),
		cmocka_unit_test_setup_teardown(test_open_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stderr_sink, setup, teardown),
		cmocka_unit_test_setup_teardown(test_threads_do_not_interleave, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
