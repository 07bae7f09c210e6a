// SPDX-License-Identifier: MIT
/* Request handling without sockets: bytes in, exact response bytes out. */
#include <arpa/inet.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "kturn/handler.h"
#include "kturn/net.h"
#include "kturn/stun.h"

static const uint8_t TID[STUN_TID_LEN] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};

struct fixture {
	struct handler_opts opts;
	struct sockaddr_storage client, local;
	struct msg_src src;
	uint8_t out[HANDLER_REPLY_MAX];
	struct stun_msg resp;
};

static int setup(void **state)
{
	static struct fixture f;

	memset(&f, 0, sizeof(f));
	f.opts.software = "kturn/test";
	net_addr_parse("192.0.2.7", 40000, &f.client);
	net_addr_parse("198.51.100.1", 3478, &f.local);
	f.src = (struct msg_src){KT_TRANSPORT_UDP, (struct sockaddr *)&f.client,
				 (struct sockaddr *)&f.local, NULL};
	*state = &f;
	return 0;
}

/* Build a request with optional extra attribute and fingerprint. */
static size_t request(uint8_t *buf, size_t cap, uint16_t method, enum stun_class cls,
		      uint16_t extra_attr, bool fingerprint)
{
	struct stun_builder b;
	uint32_t v = 0;

	stun_build__init(&b, buf, cap, method, cls, TID);
	if (extra_attr)
		stun_build__attr(&b, extra_attr, &v, sizeof(v));
	if (fingerprint)
		stun_build__fingerprint(&b);
	return (size_t)stun_build__finish(&b);
}

static ssize_t handle(struct fixture *f, const uint8_t *req, size_t len)
{
	ssize_t n = handler__stun(&f->opts, &f->src, req, len, f->out, sizeof(f->out));

	if (n > 0)
		assert_int_equal(stun_msg__parse(&f->resp, f->out, (size_t)n), 0);
	return n;
}

static void binding_success_exact_bytes(void **state)
{
	struct fixture *f = *state;
	uint8_t req[64];
	size_t len = request(req, sizeof(req), STUN_BINDING, STUN_REQUEST, 0, false);
	static const uint8_t expect[] = {
		0x01,
		0x01,
		0x00,
		0x1c,
		0x21,
		0x12,
		0xa4,
		0x42,
		1,
		2,
		3,
		4,
		5,
		6,
		7,
		8,
		9,
		10,
		11,
		12,
		/* XOR-MAPPED-ADDRESS 192.0.2.7:40000 */
		0x00,
		0x20,
		0x00,
		0x08,
		0x00,
		0x01,
		(40000 >> 8) ^ 0x21,
		(40000 & 0xff) ^ 0x12,
		192 ^ 0x21,
		0 ^ 0x12,
		2 ^ 0xa4,
		7 ^ 0x42,
		/* SOFTWARE "kturn/test" + 2 bytes padding */
		0x80,
		0x22,
		0x00,
		0x0a,
		'k',
		't',
		'u',
		'r',
		'n',
		'/',
		't',
		'e',
		's',
		't',
		0,
		0,
	};

	assert_int_equal(handle(f, req, len), sizeof(expect));
	assert_memory_equal(f->out, expect, sizeof(expect));
	assert_int_equal(f->resp.fp_off, 0);
}

static void fingerprint_only_when_asked_or_configured(void **state)
{
	struct fixture *f = *state;
	uint8_t req[64];
	size_t len = request(req, sizeof(req), STUN_BINDING, STUN_REQUEST, 0, true);

	assert_true(handle(f, req, len) > 0);
	assert_int_not_equal(f->resp.fp_off, 0);
	assert_int_equal(stun_msg__check_fingerprint(&f->resp), 0);

	len = request(req, sizeof(req), STUN_BINDING, STUN_REQUEST, 0, false);
	f->opts.fingerprint = true;
	assert_true(handle(f, req, len) > 0);
	assert_int_equal(stun_msg__check_fingerprint(&f->resp), 0);
}

static void ipv6_client_mapped(void **state)
{
	struct fixture *f = *state;
	struct sockaddr_storage got;
	struct stun_attr a;
	uint8_t req[64];
	size_t len = request(req, sizeof(req), STUN_BINDING, STUN_REQUEST, 0, false);

	net_addr_parse("2001:db8::42", 5555, &f->client);
	assert_true(handle(f, req, len) > 0);
	assert_true(stun_msg__find(&f->resp, STUN_ATTR_XOR_MAPPED_ADDRESS, &a));
	assert_int_equal(stun_attr__xaddr(&a, f->resp.tid, &got), 0);
	assert_true(net_addr_equal((struct sockaddr *)&got, (struct sockaddr *)&f->client));
}

static void unknown_required_gets_420(void **state)
{
	struct fixture *f = *state;
	uint8_t req[64];
	size_t len = request(req, sizeof(req), STUN_BINDING, STUN_REQUEST, 0x0031, false);
	struct stun_attr a;
	uint16_t types[4];
	size_t n;
	int code;
	const char *reason;
	size_t rlen;

	assert_true(handle(f, req, len) > 0);
	assert_int_equal(f->resp.cls, STUN_ERROR);
	assert_memory_equal(f->resp.tid, TID, STUN_TID_LEN);
	assert_true(stun_msg__find(&f->resp, STUN_ATTR_ERROR_CODE, &a));
	assert_int_equal(stun_attr__error(&a, &code, &reason, &rlen), 0);
	assert_int_equal(code, 420);
	assert_true(stun_msg__find(&f->resp, STUN_ATTR_UNKNOWN_ATTRIBUTES, &a));
	assert_int_equal(stun_attr__unknown(&a, types, 4, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(types[0], 0x0031);
}

static void unknown_optional_ignored(void **state)
{
	struct fixture *f = *state;
	uint8_t req[64];
	size_t len = request(req, sizeof(req), STUN_BINDING, STUN_REQUEST, 0x8050, false);

	assert_true(handle(f, req, len) > 0);
	assert_int_equal(f->resp.cls, STUN_SUCCESS);
}

static void indication_and_response_get_nothing(void **state)
{
	struct fixture *f = *state;
	uint8_t req[64];
	size_t len = request(req, sizeof(req), STUN_BINDING, STUN_INDICATION, 0, false);

	assert_int_equal(handle(f, req, len), 0);
	len = request(req, sizeof(req), STUN_BINDING, STUN_SUCCESS, 0, false);
	assert_int_equal(handle(f, req, len), 0);
	/* Unknown comprehension-required attribute in an indication: silently dropped. */
	len = request(req, sizeof(req), STUN_BINDING, STUN_INDICATION, 0x0031, false);
	assert_int_equal(handle(f, req, len), 0);
}

static void unsupported_method_gets_400(void **state)
{
	struct fixture *f = *state;
	uint8_t req[64];
	size_t len = request(req, sizeof(req), 0x0FF, STUN_REQUEST, 0, false);
	struct stun_attr a;
	int code;
	const char *reason;
	size_t rlen;

	assert_true(handle(f, req, len) > 0);
	assert_int_equal(f->resp.method, 0x0FF);
	assert_true(stun_msg__find(&f->resp, STUN_ATTR_ERROR_CODE, &a));
	assert_int_equal(stun_attr__error(&a, &code, &reason, &rlen), 0);
	assert_int_equal(code, 400);
}

static void malformed_and_bad_fingerprint(void **state)
{
	struct fixture *f = *state;
	uint8_t req[64];
	size_t len = request(req, sizeof(req), STUN_BINDING, STUN_REQUEST, 0, true);

	req[len - 1] ^= 1; /* FINGERPRINT no longer matches: dropped, no answer */
	assert_int_equal(handle(f, req, len), 0);
	req[4] = 0; /* magic cookie broken: not STUN */
	assert_int_equal(handle(f, req, len), -EBADMSG);
	assert_int_equal(handle(f, req, 7), -EBADMSG);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(binding_success_exact_bytes, setup),
		cmocka_unit_test_setup(fingerprint_only_when_asked_or_configured, setup),
		cmocka_unit_test_setup(ipv6_client_mapped, setup),
		cmocka_unit_test_setup(unknown_required_gets_420, setup),
		cmocka_unit_test_setup(unknown_optional_ignored, setup),
		cmocka_unit_test_setup(indication_and_response_get_nothing, setup),
		cmocka_unit_test_setup(unsupported_method_gets_400, setup),
		cmocka_unit_test_setup(malformed_and_bad_fingerprint, setup),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
