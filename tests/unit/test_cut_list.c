// SPDX-License-Identifier: MIT
/*
 * Cutting repeated bytes out of a parked stream read in arbitrary pieces:
 * whatever the read boundaries, the bytes kept are the stream without the
 * cut ranges, in order.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "kturn/cut_list.h"

#define STREAM 4096

/* Byte i of the raw stream. */
static uint8_t raw(uint64_t i)
{
	return (uint8_t)(i * 7 + (i >> 8));
}

/* Is raw offset i inside one of the ranges? */
static bool in_cut(const uint64_t (*r)[2], size_t nr, uint64_t i)
{
	for (size_t k = 0; k < nr; k++)
		if (i >= r[k][0] && i < r[k][0] + r[k][1])
			return true;
	return false;
}

/*
 * Read the whole raw stream in pieces of `step` bytes (rotating through
 * steps[]), cutting as sockmap_pair does, and compare with the expected
 * stream.
 */
static void check_pieces(const uint64_t (*r)[2], size_t nr, const size_t *steps, size_t nsteps)
{
	struct cut_list l = {0};
	uint8_t buf[STREAM], out[STREAM], want[STREAM];
	size_t nout = 0, nwant = 0, si = 0;
	uint64_t off = 0;

	for (size_t k = 0; k < nr; k++)
		assert_true(cut_list__add(&l, r[k][0], r[k][1]));
	for (uint64_t i = 0; i < STREAM; i++)
		if (!in_cut(r, nr, i))
			want[nwant++] = raw(i);
	while (off < STREAM) {
		size_t step = steps[si++ % nsteps];
		size_t n = step < STREAM - off ? step : (size_t)(STREAM - off);
		size_t kept;

		for (size_t i = 0; i < n; i++)
			buf[i] = raw(off + i);
		cut_list__done(&l, off); /* as sockmap_pair: before each read */
		kept = cut_list__apply(&l, off, buf, n);
		memcpy(out + nout, buf, kept);
		nout += kept;
		off += n;
	}
	assert_int_equal(nout, nwant);
	assert_memory_equal(out, want, nwant);
}

static void test_one_range_any_pieces(void **state)
{
	const uint64_t r[][2] = {{1000, 300}};
	const size_t steps[][3] = {
		{1, 1, 1}, {7, 13, 64}, {999, 1, 300}, {1000, 300, 5000}, {4096, 1, 1}};

	(void)state;
	for (size_t k = 0; k < sizeof(steps) / sizeof(steps[0]); k++)
		check_pieces(r, 1, steps[k], 3);
}

static void test_several_ranges_one_read(void **state)
{
	const uint64_t r[][2] = {{0, 10}, {100, 1}, {101, 50}, {4000, 96}};
	const size_t whole[] = {STREAM};
	const size_t odd[] = {3, 97, 33};

	(void)state;
	check_pieces(r, 4, whole, 1);
	check_pieces(r, 4, odd, 3);
}

static void test_whole_read_cut(void **state)
{
	struct cut_list l = {0};
	uint8_t buf[16] = {0};

	(void)state;
	assert_true(cut_list__add(&l, 100, 16));
	assert_int_equal(cut_list__apply(&l, 100, buf, 16), 0);
	assert_int_equal(cut_list__apply(&l, 84, buf, 16), 16);	 /* before it */
	assert_int_equal(cut_list__apply(&l, 116, buf, 16), 16); /* after it */
}

static void test_done_and_capacity(void **state)
{
	struct cut_list l = {0};

	(void)state;
	for (unsigned k = 0; k < KTURN_CUTS; k++)
		assert_true(cut_list__add(&l, 100 * k, 10));
	assert_false(cut_list__add(&l, 100 * KTURN_CUTS, 10)); /* full */
	cut_list__done(&l, 110);			       /* the first two are read past */
	assert_int_equal(l.n, KTURN_CUTS - 2);
	assert_int_equal(l.at[0], 200);
	assert_true(cut_list__add(&l, 100 * KTURN_CUTS, 10));
	assert_false(cut_list__add(&l, 5, 1)); /* before the last: out of order */
	cut_list__done(&l, UINT64_MAX);
	assert_int_equal(l.n, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_one_range_any_pieces),
		cmocka_unit_test(test_several_ranges_one_read),
		cmocka_unit_test(test_whole_read_cut),
		cmocka_unit_test(test_done_and_capacity),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
