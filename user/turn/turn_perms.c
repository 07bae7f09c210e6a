// SPDX-License-Identifier: MIT
/*
 * Permissions and channel bindings of one allocation (RFC 8656 §9, §12).
 *
 * Storage is two compact arrays sized by the caps, scanned linearly: an
 * allocation usually has a handful of peers and even at the default caps
 * (256/64) a scan compares fixed 20-byte keys, no pointer chasing. Removal
 * swaps the last entry in, so arrays stay dense.
 *
 * A channel entry lives through two phases: bound (now < expires) and
 * cooldown (expires <= now < expires + 5 min), during which its number and
 * peer stay reserved. Cooldown entries occupy a channel slot, so the cap
 * bounds memory.
 */
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "kturn/stun.h"
#include "kturn/turn_perms.h"

struct peer_key {
	uint16_t family;
	uint16_t port; /* network order; 0 for permission keys */
	uint8_t addr[16];
};

struct perm {
	struct peer_key key;
	uint64_t expires_ms;
};

struct chan {
	struct peer_key peer;
	uint16_t ch;
	uint64_t expires_ms;
};

struct turn_perms {
	size_t max_perms, n_perms;
	size_t max_chans, n_chans;
	struct perm *perms;
	struct chan *chans;
};

static int key_from(const struct sockaddr *sa, bool with_port, struct peer_key *k)
{
	memset(k, 0, sizeof(*k));
	if (!sa)
		return -EINVAL;
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)sa;

		memcpy(k->addr, &in->sin_addr, 4);
		k->port = with_port ? in->sin_port : 0;
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;

		memcpy(k->addr, &in6->sin6_addr, 16);
		k->port = with_port ? in6->sin6_port : 0;
	} else {
		return -EAFNOSUPPORT;
	}
	k->family = sa->sa_family;
	return 0;
}

static bool key_eq(const struct peer_key *a, const struct peer_key *b)
{
	return memcmp(a, b, sizeof(*a)) == 0;
}

static void key_to_sockaddr(const struct peer_key *k, struct sockaddr_storage *out)
{
	memset(out, 0, sizeof(*out));
	if (k->family == AF_INET) {
		struct sockaddr_in *in = (struct sockaddr_in *)out;

		in->sin_family = AF_INET;
		in->sin_port = k->port;
		memcpy(&in->sin_addr, k->addr, 4);
	} else {
		struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)out;

		in6->sin6_family = AF_INET6;
		in6->sin6_port = k->port;
		memcpy(&in6->sin6_addr, k->addr, 16);
	}
}

/* now + s seconds, saturating. */
static uint64_t deadline(uint64_t now_ms, uint32_t s)
{
	uint64_t d = (uint64_t)s * 1000u;

	return now_ms > UINT64_MAX - d ? UINT64_MAX : now_ms + d;
}

static uint64_t cooldown_end(const struct chan *c)
{
	return c->expires_ms > UINT64_MAX - TURN_CHANNEL_COOLDOWN_MS
		       ? UINT64_MAX
		       : c->expires_ms + TURN_CHANNEL_COOLDOWN_MS;
}

struct turn_perms *turn_perms__create(size_t max_perms, size_t max_channels)
{
	struct turn_perms *p;

	if (!max_perms || !max_channels)
		return NULL;
	p = calloc(1, sizeof(*p));
	if (!p)
		return NULL;
	p->perms = calloc(max_perms, sizeof(*p->perms));
	p->chans = calloc(max_channels, sizeof(*p->chans));
	if (!p->perms || !p->chans) {
		turn_perms__free(p);
		return NULL;
	}
	p->max_perms = max_perms;
	p->max_chans = max_channels;
	return p;
}

void turn_perms__free(struct turn_perms *p)
{
	if (!p)
		return;
	free(p->perms);
	free(p->chans);
	free(p);
}

static struct perm *perm_find(const struct turn_perms *p, const struct peer_key *k)
{
	for (size_t i = 0; i < p->n_perms; i++)
		if (key_eq(&p->perms[i].key, k))
			return &p->perms[i];
	return NULL;
}

/* Slot for key k: existing entry, a free slot, or an expired one reused. */
static struct perm *perm_slot(struct turn_perms *p, const struct peer_key *k, uint64_t now_ms)
{
	struct perm *e = perm_find(p, k);

	if (e)
		return e;
	if (p->n_perms < p->max_perms)
		return &p->perms[p->n_perms++];
	for (size_t i = 0; i < p->n_perms; i++)
		if (p->perms[i].expires_ms <= now_ms)
			return &p->perms[i];
	return NULL;
}

int turn_perms__permit(struct turn_perms *p, const struct sockaddr *peer, uint64_t now_ms,
		       uint32_t lifetime_s)
{
	struct peer_key k;
	struct perm *e;
	int err;

	if (!p)
		return -EINVAL;
	err = key_from(peer, false, &k);
	if (err)
		return err;
	e = perm_slot(p, &k, now_ms);
	if (!e)
		return -ENOSPC;
	e->key = k;
	e->expires_ms = deadline(now_ms, lifetime_s);
	return 0;
}

bool turn_perms__allowed(const struct turn_perms *p, const struct sockaddr *peer, uint64_t now_ms)
{
	struct peer_key k;
	const struct perm *e;

	if (!p || key_from(peer, false, &k))
		return false;
	e = perm_find(p, &k);
	return e && now_ms < e->expires_ms;
}

/* Channel entries still reserved (bound or cooling down) at now_ms. */
static struct chan *chan_by_num(const struct turn_perms *p, uint16_t ch, uint64_t now_ms)
{
	for (size_t i = 0; i < p->n_chans; i++)
		if (p->chans[i].ch == ch && now_ms < cooldown_end(&p->chans[i]))
			return &p->chans[i];
	return NULL;
}

static struct chan *chan_by_peer(const struct turn_perms *p, const struct peer_key *k,
				 uint64_t now_ms)
{
	for (size_t i = 0; i < p->n_chans; i++)
		if (key_eq(&p->chans[i].peer, k) && now_ms < cooldown_end(&p->chans[i]))
			return &p->chans[i];
	return NULL;
}

static struct chan *chan_free_slot(struct turn_perms *p, uint64_t now_ms)
{
	if (p->n_chans < p->max_chans)
		return &p->chans[p->n_chans];
	for (size_t i = 0; i < p->n_chans; i++)
		if (now_ms >= cooldown_end(&p->chans[i]))
			return &p->chans[i];
	return NULL;
}

/* Conflict error for an entry that is someone else's: live or cooling. */
static int chan_conflict(const struct chan *c, uint64_t now_ms)
{
	return now_ms < c->expires_ms ? -EEXIST : -EBUSY;
}

int turn_perms__bind_channel(struct turn_perms *p, uint16_t ch, const struct sockaddr *peer,
			     uint64_t now_ms, uint32_t chan_lifetime_s, uint32_t perm_lifetime_s)
{
	struct peer_key k;
	struct chan *c, *other;
	int err;

	if (!p || !stun_channel_any(ch))
		return -EINVAL;
	err = key_from(peer, true, &k);
	if (err)
		return err;
	c = chan_by_num(p, ch, now_ms);
	if (c && !key_eq(&c->peer, &k))
		return chan_conflict(c, now_ms);
	other = chan_by_peer(p, &k, now_ms);
	if (other && other != c)
		return chan_conflict(other, now_ms);
	if (!c) {
		c = chan_free_slot(p, now_ms);
		if (!c)
			return -ENOSPC;
	}
	/* Permission last-but-one: it is the only other step that can fail. */
	err = turn_perms__permit(p, peer, now_ms, perm_lifetime_s);
	if (err)
		return err;
	if (c == &p->chans[p->n_chans])
		p->n_chans++;
	c->peer = k;
	c->ch = ch;
	c->expires_ms = deadline(now_ms, chan_lifetime_s);
	return 0;
}

int turn_perms__channel_peer(const struct turn_perms *p, uint16_t ch, uint64_t now_ms,
			     struct sockaddr_storage *out)
{
	const struct chan *c;

	if (!p || !out)
		return -EINVAL;
	c = chan_by_num(p, ch, now_ms);
	if (!c || now_ms >= c->expires_ms)
		return -ENOENT;
	key_to_sockaddr(&c->peer, out);
	return 0;
}

int turn_perms__peer_channel(const struct turn_perms *p, const struct sockaddr *peer,
			     uint64_t now_ms, uint16_t *ch)
{
	struct peer_key k;
	const struct chan *c;
	int err;

	if (!p || !ch)
		return -EINVAL;
	err = key_from(peer, true, &k);
	if (err)
		return err;
	c = chan_by_peer(p, &k, now_ms);
	if (!c || now_ms >= c->expires_ms)
		return -ENOENT;
	*ch = c->ch;
	return 0;
}

static uint64_t min_future(uint64_t best, uint64_t t, uint64_t now_ms)
{
	return t > now_ms && t < best ? t : best;
}

uint64_t turn_perms__expire(struct turn_perms *p, uint64_t now_ms)
{
	uint64_t next = UINT64_MAX;
	size_t i;

	if (!p)
		return UINT64_MAX;
	for (i = 0; i < p->n_perms;) {
		if (p->perms[i].expires_ms <= now_ms) {
			p->perms[i] = p->perms[--p->n_perms];
			continue;
		}
		next = min_future(next, p->perms[i].expires_ms, now_ms);
		i++;
	}
	for (i = 0; i < p->n_chans;) {
		if (cooldown_end(&p->chans[i]) <= now_ms) {
			p->chans[i] = p->chans[--p->n_chans];
			continue;
		}
		next = min_future(next, p->chans[i].expires_ms, now_ms);
		next = min_future(next, cooldown_end(&p->chans[i]), now_ms);
		i++;
	}
	return next;
}

size_t turn_perms__perm_count(const struct turn_perms *p, uint64_t now_ms)
{
	size_t n = 0;

	for (size_t i = 0; p && i < p->n_perms; i++)
		n += now_ms < p->perms[i].expires_ms;
	return n;
}

size_t turn_perms__channel_count(const struct turn_perms *p, uint64_t now_ms)
{
	size_t n = 0;

	for (size_t i = 0; p && i < p->n_chans; i++)
		n += now_ms < p->chans[i].expires_ms;
	return n;
}

size_t turn_perms__list(const struct turn_perms *p, uint64_t now_ms, struct sockaddr_storage *out,
			size_t max)
{
	size_t n = 0;

	for (size_t i = 0; p && i < p->n_perms && n < max; i++)
		if (now_ms < p->perms[i].expires_ms)
			key_to_sockaddr(&p->perms[i].key, &out[n++]);
	return n;
}
