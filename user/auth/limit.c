// SPDX-License-Identifier: MIT
/*
 * Failed-authentication token buckets per source, in a fixed-size
 * set-associative table (see kturn/auth_limit.h). Tokens are kept in
 * thousandths so a refill of per_s tokens a second is per_s thousandths a
 * millisecond, in integers.
 */
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/rand.h>

#include "kturn/auth_limit.h"

#define MILLI 1000

struct slot {
	uint8_t key[16]; /* IPv4 as ::ffff:a.b.c.d, IPv6 as its /64 */
	bool used;
	bool logged;	    /* a line was logged since the bucket last had a token */
	uint64_t milli;	    /* tokens, thousandths */
	uint64_t stamp_ms;  /* when milli was last refilled */
	uint64_t logged_ms; /* last log line for this source */
	uint64_t refused;   /* refusals since that line */
};

struct auth_limit {
	pthread_mutex_t mu;
	uint64_t cap;	/* burst, thousandths */
	uint64_t per_s; /* thousandths per millisecond */
	uint64_t seed[2];
	struct slot *slots; /* AUTH_LIMIT_SETS * AUTH_LIMIT_WAYS */
};

int auth_limit__new(struct auth_limit **out, uint32_t burst, uint32_t per_s)
{
	struct auth_limit *l;

	*out = NULL;
	if (!burst || !per_s)
		return 0;
	l = calloc(1, sizeof(*l));
	if (!l)
		return -ENOMEM;
	l->slots = calloc((size_t)AUTH_LIMIT_SETS * AUTH_LIMIT_WAYS, sizeof(*l->slots));
	if (!l->slots) {
		free(l);
		return -ENOMEM;
	}
	if (RAND_bytes((unsigned char *)l->seed, sizeof(l->seed)) != 1) {
		free(l->slots);
		free(l);
		return -EIO;
	}
	l->cap = (uint64_t)burst * MILLI;
	l->per_s = per_s;
	pthread_mutex_init(&l->mu, NULL);
	*out = l;
	return 0;
}

void auth_limit__free(struct auth_limit *l)
{
	if (!l)
		return;
	pthread_mutex_destroy(&l->mu);
	free(l->slots);
	free(l);
}

static void source_key(const struct sockaddr *sa, uint8_t key[16])
{
	memset(key, 0, 16);
	if (sa->sa_family == AF_INET) {
		key[10] = key[11] = 0xff;
		memcpy(key + 12, &((const struct sockaddr_in *)sa)->sin_addr, 4);
		return;
	}
	if (sa->sa_family != AF_INET6)
		return;
	memcpy(key, &((const struct sockaddr_in6 *)sa)->sin6_addr, 16);
	if (!IN6_IS_ADDR_V4MAPPED((const struct in6_addr *)key))
		memset(key + 8, 0, 8); /* the /64 */
}

/* A keyed mix (not a MAC: the key only keeps sets unpredictable). */
static size_t set_of(const struct auth_limit *l, const uint8_t key[16])
{
	uint64_t w[2], h = l->seed[0];

	memcpy(w, key, sizeof(w));
	for (int i = 0; i < 2; i++) {
		h ^= w[i] + l->seed[1];
		h *= 0x9e3779b97f4a7c15ULL;
		h ^= h >> 29;
	}
	return (size_t)(h % AUTH_LIMIT_SETS) * AUTH_LIMIT_WAYS;
}

static void refill(const struct auth_limit *l, struct slot *s, uint64_t now_ms)
{
	uint64_t add;

	if (now_ms <= s->stamp_ms)
		return;
	add = (now_ms - s->stamp_ms) * l->per_s;
	s->milli = add >= l->cap - s->milli ? l->cap : s->milli + add;
	s->stamp_ms = now_ms;
}

static struct slot *lookup(struct auth_limit *l, const uint8_t key[16])
{
	struct slot *set = l->slots + set_of(l, key);

	for (int i = 0; i < AUTH_LIMIT_WAYS; i++)
		if (set[i].used && !memcmp(set[i].key, key, 16))
			return &set[i];
	return NULL;
}

/* A free way, else the way with the most tokens. */
static struct slot *victim(struct auth_limit *l, const uint8_t key[16], uint64_t now_ms)
{
	struct slot *set = l->slots + set_of(l, key), *best = &set[0];

	for (int i = 0; i < AUTH_LIMIT_WAYS; i++) {
		if (!set[i].used)
			return &set[i];
		refill(l, &set[i], now_ms);
		if (set[i].milli > best->milli)
			best = &set[i];
	}
	return best;
}

/* An empty bucket: refused; logged the first time and then once a minute. */
static enum auth_limit_verdict refuse(struct slot *s, uint64_t now_ms, uint64_t *refused)
{
	s->refused++;
	if (s->logged && now_ms - s->logged_ms < AUTH_LIMIT_LOG_MS)
		return AUTH_LIMIT_REFUSE;
	s->logged = true;
	s->logged_ms = now_ms;
	*refused = s->refused;
	s->refused = 0;
	return AUTH_LIMIT_LOG;
}

enum auth_limit_verdict auth_limit__check(struct auth_limit *l, const struct sockaddr *src,
					  uint64_t now_ms, uint64_t *refused)
{
	enum auth_limit_verdict v = AUTH_LIMIT_PASS;
	uint8_t key[16];
	struct slot *s;

	*refused = 0;
	if (!l)
		return AUTH_LIMIT_PASS;
	source_key(src, key);
	pthread_mutex_lock(&l->mu);
	s = lookup(l, key);
	if (s) {
		refill(l, s, now_ms);
		if (s->milli < MILLI)
			v = refuse(s, now_ms, refused);
		else
			s->logged = false;
	}
	pthread_mutex_unlock(&l->mu);
	return v;
}

void auth_limit__fail(struct auth_limit *l, const struct sockaddr *src, uint64_t now_ms)
{
	uint8_t key[16];
	struct slot *s;

	if (!l)
		return;
	source_key(src, key);
	pthread_mutex_lock(&l->mu);
	s = lookup(l, key);
	if (!s) {
		s = victim(l, key, now_ms);
		*s = (struct slot){.used = true, .milli = l->cap, .stamp_ms = now_ms};
		memcpy(s->key, key, 16);
	}
	refill(l, s, now_ms);
	s->milli = s->milli >= MILLI ? s->milli - MILLI : 0;
	pthread_mutex_unlock(&l->mu);
}
