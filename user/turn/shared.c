// SPDX-License-Identifier: MIT
/*
 * What every worker must agree on, behind one mutex: relay ports (a port is
 * never handed out twice while in use, whichever worker holds it), EVEN-PORT
 * reservations (redeemed by another client, maybe on another worker),
 * allocation quotas and the alternate-server ceiling. All of it is touched
 * once per Allocate or deallocation, never per packet, so a plain mutex is
 * cheap enough.
 */
#include <errno.h>
#include <search.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/rand.h>

#include "kturn/auth_limit.h"
#include "kturn/peer_filter.h"
#include "kturn/port_pool.h"
#include "turn_int.h"

struct reservation {
	uint64_t token;
	uint16_t port;
	int family;	  /* of the relayed address the reserving allocation got */
	uint64_t expires; /* CLOCK_MONOTONIC seconds */
};

/* CONNECTION-ID -> the worker whose allocation holds that peer connection. */
struct conn_slot {
	uint32_t id; /* 0: empty */
	struct turn_server *owner;
	void *ptr;
};

struct user_count {
	char *name;
	uint32_t n;
};

/* alternate-server, tcp-alternate-server, tls-alternate-server */
struct alt_list {
	struct sockaddr_storage *v;
	size_t n;
	size_t next; /* round robin */
};

struct turn_shared {
	pthread_mutex_t mu;
	struct alt_list alt[TURN_ALT_LISTS];
	struct turn_opts o;
	struct port_pool *ports;
	struct auth *auth;
	struct peer_filter *pf;
	void *users; /* tsearch tree of struct user_count */
	size_t total;
	struct reservation *resv;
	size_t n_resv, cap_resv;
	uint32_t next_alloc_id;
	struct conn_slot *ids; /* open addressing, linear probing, tombstone-free */
	size_t n_ids, cap_ids;

	/* failed authentications per source; has its own lock, not mu */
	struct auth_limit *limit;
	_Atomic uint64_t rate_bps; /* relayed, all workers: written once a second by main */
};

static uint64_t mono_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec;
}

int turn_shared__new(struct turn_shared **out, const struct turn_opts *o, struct auth *auth,
		     struct peer_filter *pf)
{
	struct turn_shared *sh = calloc(1, sizeof(*sh));
	int err;

	if (!sh)
		return -ENOMEM;
	sh->o = *o;
	err = port_pool__new(&sh->ports, o->min_port, o->max_port);
	if (!err)
		err = auth_limit__new(&sh->limit, o->auth_fail_burst, o->auth_fail_rate);
	if (err) {
		port_pool__free(sh->ports);
		free(sh);
		return err;
	}
	pthread_mutex_init(&sh->mu, NULL);
	sh->auth = auth;
	sh->pf = pf;
	*out = sh;
	return 0;
}

static void user_free(void *p)
{
	struct user_count *u = p;

	free(u->name);
	free(u);
}

void turn_shared__free(struct turn_shared *sh)
{
	if (!sh)
		return;
	for (int i = 0; i < TURN_ALT_LISTS; i++)
		free(sh->alt[i].v);
	tdestroy(sh->users, user_free);
	free(sh->ids);
	free(sh->resv);
	port_pool__free(sh->ports);
	auth_limit__free(sh->limit);
	auth__free(sh->auth);
	peer_filter__free(sh->pf);
	pthread_mutex_destroy(&sh->mu);
	free(sh);
}

struct auth *turn_shared__auth(struct turn_shared *sh)
{
	return sh->auth;
}

const struct turn_opts *turn_shared__opts(const struct turn_shared *sh)
{
	return &sh->o;
}

struct peer_filter *turn_shared__filter(struct turn_shared *sh)
{
	return sh->pf;
}

struct auth_limit *turn_shared__auth_limit(struct turn_shared *sh)
{
	return sh->limit;
}

size_t turn_shared__allocations(struct turn_shared *sh)
{
	size_t n;

	pthread_mutex_lock(&sh->mu);
	n = sh->total;
	pthread_mutex_unlock(&sh->mu);
	return n;
}

/* Reservations nobody redeemed in time give their port back. Locked. */
static void expire_reservations(struct turn_shared *sh)
{
	uint64_t now = mono_s();

	for (size_t i = 0; i < sh->n_resv;) {
		if (sh->resv[i].expires > now) {
			i++;
			continue;
		}
		port_pool__put(sh->ports, sh->resv[i].port);
		sh->resv[i] = sh->resv[--sh->n_resv];
	}
}

int turn_shared__port(struct turn_shared *sh, uint16_t *port)
{
	int err;

	pthread_mutex_lock(&sh->mu);
	expire_reservations(sh);
	err = port_pool__get(sh->ports, port);
	pthread_mutex_unlock(&sh->mu);
	return err;
}

static int reserve(struct turn_shared *sh, uint16_t port, int family, uint64_t *token)
{
	if (sh->n_resv == sh->cap_resv) {
		size_t cap = sh->cap_resv ? sh->cap_resv * 2 : 16;
		struct reservation *r = realloc(sh->resv, cap * sizeof(*r));

		if (!r)
			return -ENOMEM;
		sh->resv = r;
		sh->cap_resv = cap;
	}
	do {
		if (RAND_bytes((unsigned char *)token, sizeof(*token)) != 1)
			return -EIO;
	} while (!*token);
	sh->resv[sh->n_resv++] =
		(struct reservation){*token, port, family, mono_s() + TURN_RESERVATION_S};
	return 0;
}

int turn_shared__even_port(struct turn_shared *sh, bool want_reserve, int family, uint16_t *port,
			   uint64_t *token)
{
	int err;

	pthread_mutex_lock(&sh->mu);
	expire_reservations(sh);
	err = port_pool__get_even_pair(sh->ports, port);
	if (!err && want_reserve)
		err = reserve(sh, (uint16_t)(*port + 1), family, token);
	if (err == 0 && !want_reserve)
		port_pool__put(sh->ports, (uint16_t)(*port + 1));
	else if (err && err != -EADDRNOTAVAIL) {
		port_pool__put(sh->ports, *port);
		port_pool__put(sh->ports, (uint16_t)(*port + 1));
	}
	pthread_mutex_unlock(&sh->mu);
	return err;
}

int turn_shared__redeem(struct turn_shared *sh, uint64_t token, uint16_t *port, int *family)
{
	int err = -ENOENT;

	pthread_mutex_lock(&sh->mu);
	expire_reservations(sh);
	for (size_t i = 0; i < sh->n_resv; i++) {
		if (sh->resv[i].token != token)
			continue;
		*port = sh->resv[i].port;
		*family = sh->resv[i].family;
		sh->resv[i] = sh->resv[--sh->n_resv];
		err = 0;
		break;
	}
	pthread_mutex_unlock(&sh->mu);
	return err;
}

uint32_t turn_shared__alloc_id(struct turn_shared *sh)
{
	uint32_t id;

	pthread_mutex_lock(&sh->mu);
	id = ++sh->next_alloc_id;
	if (!id)
		id = ++sh->next_alloc_id;
	pthread_mutex_unlock(&sh->mu);
	return id;
}

void turn_shared__put_port(struct turn_shared *sh, uint16_t port)
{
	pthread_mutex_lock(&sh->mu);
	port_pool__put(sh->ports, port);
	pthread_mutex_unlock(&sh->mu);
}

static int user_cmp(const void *a, const void *b)
{
	return strcmp(((const struct user_count *)a)->name, ((const struct user_count *)b)->name);
}

/* The user's counter, created at 0 when asked to. Locked. */
static struct user_count *user_get(struct turn_shared *sh, const char *name, bool create)
{
	struct user_count key = {.name = (char *)name}, *u, **found;

	found = tfind(&key, &sh->users, user_cmp);
	if (found || !create)
		return found ? *found : NULL;
	u = calloc(1, sizeof(*u));
	if (!u || !(u->name = strdup(name))) {
		free(u);
		return NULL;
	}
	if (!tsearch(u, &sh->users, user_cmp)) {
		user_free(u);
		return NULL;
	}
	return u;
}

int turn_shared__set_alternates(struct turn_shared *sh, enum turn_alt_list which,
				const struct sockaddr_storage *v, size_t n)
{
	struct alt_list *l = &sh->alt[which];
	struct sockaddr_storage *copy = NULL;

	if (n && !(copy = calloc(n, sizeof(*copy))))
		return -ENOMEM;
	if (n)
		memcpy(copy, v, n * sizeof(*copy));
	pthread_mutex_lock(&sh->mu);
	free(l->v);
	*l = (struct alt_list){copy, n, 0};
	pthread_mutex_unlock(&sh->mu);
	return 0;
}

/* The next alternate of this family after the last one given out. Locked. */
static bool alt_next(struct alt_list *l, int family, struct sockaddr_storage *out)
{
	for (size_t k = 0; k < l->n; k++) {
		size_t i = (l->next + k) % l->n;

		if (l->v[i].ss_family != family)
			continue;
		*out = l->v[i];
		l->next = (i + 1) % l->n;
		return true;
	}
	return false;
}

void turn_shared__set_rate(struct turn_shared *sh, uint64_t bps)
{
	atomic_store_explicit(&sh->rate_bps, bps, memory_order_relaxed);
}

uint64_t turn_shared__rate(const struct turn_shared *sh)
{
	return atomic_load_explicit(&sh->rate_bps, memory_order_relaxed);
}

/*
 * Whether Allocate goes to an alternate server: at/over a ceiling
 * (allocations, relayed rate), or always when neither is set. Locked.
 */
static bool at_ceiling(struct turn_shared *sh)
{
	const struct turn_opts *o = &sh->o;

	if (!o->alt_max_allocs && !o->alt_max_bps)
		return true;
	return (o->alt_max_allocs && sh->total >= o->alt_max_allocs) ||
	       (o->alt_max_bps && turn_shared__rate(sh) >= o->alt_max_bps);
}

int turn_shared__quota_take(struct turn_shared *sh, const char *user)
{
	return turn_shared__admit(sh, user, KT_TRANSPORT_UDP, AF_UNSPEC, NULL);
}

int turn_shared__admit(struct turn_shared *sh, const char *user, enum kt_transport t, int family,
		       struct sockaddr_storage *alt)
{
	struct user_count *u = NULL;
	int err = 0;

	pthread_mutex_lock(&sh->mu);
	if (alt && (unsigned)t < TURN_ALT_LISTS && at_ceiling(sh) &&
	    alt_next(&sh->alt[t], family, alt))
		err = -EXDEV;
	else if (sh->o.total_quota && sh->total >= sh->o.total_quota)
		err = -EDQUOT;
	else if (user && !(u = user_get(sh, user, true)))
		err = -ENOMEM;
	else if (u && sh->o.user_quota && u->n >= sh->o.user_quota)
		err = -EDQUOT;
	if (!err) {
		sh->total++;
		if (u)
			u->n++;
	}
	pthread_mutex_unlock(&sh->mu);
	return err;
}

void turn_shared__quota_release(struct turn_shared *sh, const char *user)
{
	struct user_count *u;

	pthread_mutex_lock(&sh->mu);
	sh->total--;
	u = user ? user_get(sh, user, false) : NULL;
	if (u && --u->n == 0) {
		tdelete(u, &sh->users, user_cmp);
		user_free(u);
	}
	pthread_mutex_unlock(&sh->mu);
}

/* CONNECTION-IDs (RFC 6062): random, unique server-wide, found from any worker. */

static size_t id_home(uint32_t id, size_t cap)
{
	return (size_t)((id * 0x9E3779B1u) & (cap - 1));
}

static int ids_grow(struct turn_shared *sh)
{
	size_t cap = sh->cap_ids ? sh->cap_ids * 2 : 64;
	struct conn_slot *n = calloc(cap, sizeof(*n));

	if (!n)
		return -ENOMEM;
	for (size_t i = 0; i < sh->cap_ids; i++) {
		size_t k;

		if (!sh->ids[i].id)
			continue;
		for (k = id_home(sh->ids[i].id, cap); n[k].id; k = (k + 1) & (cap - 1))
			;
		n[k] = sh->ids[i];
	}
	free(sh->ids);
	sh->ids = n;
	sh->cap_ids = cap;
	return 0;
}

static struct conn_slot *id_find(struct turn_shared *sh, uint32_t id)
{
	if (!sh->cap_ids || !id)
		return NULL;
	for (size_t k = id_home(id, sh->cap_ids);; k = (k + 1) & (sh->cap_ids - 1)) {
		if (sh->ids[k].id == id)
			return &sh->ids[k];
		if (!sh->ids[k].id)
			return NULL;
	}
}

int turn_shared__conn_add(struct turn_shared *sh, struct turn_server *owner, void *ptr,
			  uint32_t *id)
{
	int err = 0;

	pthread_mutex_lock(&sh->mu);
	if ((sh->n_ids + 1) * 2 > sh->cap_ids)
		err = ids_grow(sh);
	while (!err) {
		if (RAND_bytes((unsigned char *)id, sizeof(*id)) != 1) {
			err = -EIO;
			break;
		}
		if (*id && !id_find(sh, *id))
			break;
	}
	if (!err) {
		size_t k = id_home(*id, sh->cap_ids);

		while (sh->ids[k].id)
			k = (k + 1) & (sh->cap_ids - 1);
		sh->ids[k] = (struct conn_slot){*id, owner, ptr};
		sh->n_ids++;
	}
	pthread_mutex_unlock(&sh->mu);
	return err;
}

struct turn_server *turn_shared__conn_owner(struct turn_shared *sh, uint32_t id, void **ptr)
{
	struct turn_server *owner = NULL;
	struct conn_slot *s;

	pthread_mutex_lock(&sh->mu);
	s = id_find(sh, id);
	if (s) {
		owner = s->owner;
		*ptr = s->ptr;
	}
	pthread_mutex_unlock(&sh->mu);
	return owner;
}

/* Remove with backward-shift deletion, so probing never needs tombstones. */
void turn_shared__conn_del(struct turn_shared *sh, uint32_t id)
{
	struct conn_slot *s;
	size_t i, j, mask;

	pthread_mutex_lock(&sh->mu);
	s = id_find(sh, id);
	if (s) {
		mask = sh->cap_ids - 1;
		i = (size_t)(s - sh->ids);
		for (j = (i + 1) & mask; sh->ids[j].id; j = (j + 1) & mask) {
			size_t h = id_home(sh->ids[j].id, sh->cap_ids);

			/* move j into the hole at i if its home is not in (i, j] */
			if (((j - h) & mask) >= ((j - i) & mask)) {
				sh->ids[i] = sh->ids[j];
				i = j;
			}
		}
		sh->ids[i].id = 0;
		sh->n_ids--;
	}
	pthread_mutex_unlock(&sh->mu);
}
