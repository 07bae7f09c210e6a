// SPDX-License-Identifier: MIT
/*
 * The failed-authentication limit around auth__check (kturn/auth_limit.h).
 *
 * Only a request that carries MESSAGE-INTEGRITY and still gets a 401 counts:
 * auth__check answers those only after the NONCE proved valid for the
 * client's IP, so the source received our challenge at that address - a
 * spoofed source cannot spend another address's budget. The bare first
 * request every client sends (401 challenge) and stale nonces (438) never
 * count.
 *
 * A limited source's authenticated requests get the same 401 + challenge
 * (RFC 8489 §9.2.4) without their credentials being checked: a right guess
 * is indistinguishable from a wrong one, a real client gets a prompt final
 * answer instead of retransmitting into silence for 39.5 s (§6.2.1), and
 * the answer is no larger than the challenge anyone gets without
 * credentials, so it adds no amplification.
 */
#include <string.h>

#include "kturn/auth_limit.h"
#include "kturn/log.h"
#include "kturn/net.h"
#include "turn_int.h"

static bool authenticated(const struct turn_req *rq)
{
	return rq->m->mi_off || rq->m->mi256_off;
}

bool turn_req__auth_limited(struct turn_req *rq)
{
	struct auth_limit *l = turn_shared__auth_limit(rq->ts->sh);
	char client[NET_ADDRSTRLEN];
	enum auth_limit_verdict v;
	uint64_t refused;

	if (!l || !authenticated(rq))
		return false;
	v = auth_limit__check(l, (const void *)&rq->conn->client, loop__now_ms(rq->ts->loop),
			      &refused);
	if (v == AUTH_LIMIT_PASS)
		return false;
	if (v == AUTH_LIMIT_LOG) {
		net_addr_str((const struct sockaddr *)&rq->conn->client, client, sizeof(client));
		klog_warn("auth rate-limited client=%s transport=%s refused=%llu reason=\"too many "
			  "wrong credentials from this source\"",
			  client, kt_transport_name(rq->conn->transport),
			  (unsigned long long)refused);
	}
	memset(&rq->auth, 0, sizeof(rq->auth));
	rq->auth.code = 401;
	rq->auth.why = "rate-limited";
	rq->limited = true;
	return true;
}

void turn_req__auth_failed(struct turn_req *rq)
{
	struct auth_limit *l = turn_shared__auth_limit(rq->ts->sh);

	if (l && rq->auth.code == 401 && authenticated(rq))
		auth_limit__fail(l, (const void *)&rq->conn->client, loop__now_ms(rq->ts->loop));
}
