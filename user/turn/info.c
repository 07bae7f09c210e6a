// SPDX-License-Identifier: MIT
/*
 * kturnctl and /metrics views of one worker (kturn/turn_info.h): walks its
 * allocations and peer connections on the worker's own thread.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kturn/dataplane.h"
#include "kturn/sockmap_pair.h"
#include "kturn/splice_pair.h"
#include "kturn/tls_pair.h"
#include "kturn/turn_info.h"
#include "kturn/turn_perms.h"
#include "turn_int.h"

void turn_info_list__free(struct turn_info_list *l)
{
	free(l->allocs);
	free(l->pairs);
	*l = (struct turn_info_list){0};
}

static void *grow(void *arr, size_t *cap, size_t n, size_t size, int *err)
{
	size_t c = *cap ? *cap * 2 : 16;
	void *p;

	if (n < *cap)
		return arr;
	p = realloc(arr, c * size);
	if (!p) {
		*err = -ENOMEM;
		return NULL;
	}
	*cap = c;
	return p;
}

/* The plane of a bound peer connection, and its bytes so far. */
static bool peer_plane(struct turn_peer *pc, enum turn_plane *plane, struct pair_stats *st)
{
	*st = (struct pair_stats){{0, 0}};
	if (pc->spair) {
		*plane = TURN_PLANE_SOCKMAP;
		sockmap_pair__stats(pc->spair, st);
	} else if (pc->pair) {
		*plane = TURN_PLANE_SPLICE;
		splice_pair__stats(pc->pair, st);
	} else if (pc->tpair) {
		*plane = TURN_PLANE_TLS;
		tls_pair__stats(pc->tpair, st);
	} else {
		return false;
	}
	return true;
}

static void alloc_info(struct turn_alloc *a, struct turn_alloc_info *ai)
{
	struct turn_server *ts = a->ts;
	uint64_t now = loop__now_ms(ts->loop);

	memset(ai, 0, sizeof(*ai));
	ai->id = a->id;
	if (a->user)
		snprintf(ai->user, sizeof(ai->user), "%s", a->user);
	ai->transport = a->conn->transport;
	ai->tcp = a->tcp;
	ai->client = a->conn->client;
	ai->server = a->conn->local;
	ai->n_relay = a->n_relay;
	for (unsigned i = 0; i < a->n_relay && i < 2; i++)
		ai->relay[i] = a->relay[i].addr;
	ai->perms = turn_perms__perm_count(a->perms, now);
	ai->channels = turn_perms__channel_count(a->perms, now);
	ai->n_permitted = turn_perms__list(a->perms, now, ai->permitted, TURN_INFO_MAX_PERMS);
	ai->bytes[0] = a->up_bytes;
	ai->bytes[1] = a->down_bytes;
	ai->packets[0] = a->up_pkts;
	ai->packets[1] = a->down_pkts;
	ai->dropped = a->dropped;
	ai->lifetime_left_s = a->expiry_ms > now ? (a->expiry_ms - now + 999) / 1000 : 0;
	for (struct turn_peer *pc = a->peers; pc; pc = pc->next) {
		enum turn_plane plane;
		struct pair_stats st;

		ai->peers++;
		if (!peer_plane(pc, &plane, &st))
			continue;
		ai->pairs++;
		ai->bytes[0] += st.bytes[0];
		ai->bytes[1] += st.bytes[1];
	}
	if (a->tcp && ts->o->sockmap && sockmap__alloc_read(ts->o->sockmap, a->id, &ai->bpf) == 0) {
		ai->has_bpf = true;
		ai->packets[0] += ai->bpf.up_packets;
		ai->packets[1] += ai->bpf.down_packets;
	}
}

void turn_server__list_allocs(struct turn_server *ts, struct turn_info_list *l)
{
	for (struct turn_alloc *a = ts->allocs; a && !l->err; a = a->next) {
		struct turn_alloc_info *arr =
			grow(l->allocs, &l->cap_allocs, l->n_allocs, sizeof(*arr), &l->err);

		if (!arr)
			return;
		l->allocs = arr;
		alloc_info(a, &arr[l->n_allocs]);
		arr[l->n_allocs++].worker = l->worker;
	}
}

static void pair_info(struct turn_peer *pc, enum turn_plane plane, const struct pair_stats *st,
		      struct turn_pair_info *pi)
{
	memset(pi, 0, sizeof(*pi));
	pi->alloc_id = pc->a->id;
	pi->pair_id = pc->id;
	pi->client = pc->data_client;
	pi->peer = pc->addr;
	pi->plane = plane;
	pi->bytes[0] = st->bytes[0];
	pi->bytes[1] = st->bytes[1];
	if (pc->spair) {
		struct kturn_sock_counters k[2];

		sockmap_pair__counters(pc->spair, k, pi->cookie);
		pi->packets[0] = k[0].fwd_packets;
		pi->packets[1] = k[1].fwd_packets;
	}
}

void turn_server__list_pairs(struct turn_server *ts, struct turn_info_list *l)
{
	for (struct turn_alloc *a = ts->allocs; a && !l->err; a = a->next) {
		for (struct turn_peer *pc = a->peers; pc && !l->err; pc = pc->next) {
			struct turn_pair_info *arr;
			enum turn_plane plane;
			struct pair_stats st;

			if (!peer_plane(pc, &plane, &st))
				continue;
			arr = grow(l->pairs, &l->cap_pairs, l->n_pairs, sizeof(*arr), &l->err);
			if (!arr)
				return;
			l->pairs = arr;
			pair_info(pc, plane, &st, &arr[l->n_pairs]);
			arr[l->n_pairs++].worker = l->worker;
		}
	}
}

int turn_server__kill(struct turn_server *ts, uint32_t id)
{
	for (struct turn_alloc *a = ts->allocs; a; a = a->next) {
		if (a->id != id)
			continue;
		turn_alloc__free(a, "killed by kturnctl");
		turn_server__flush(ts);
		return 0;
	}
	return -ENOENT;
}

/* A live allocation's share: gauges, and counters not yet in ts->stats. */
static void alloc_metrics(struct turn_alloc *a, struct turn_metrics *m)
{
	struct turn_server *ts = a->ts;
	unsigned t = a->conn->transport < 3 ? a->conn->transport : 0;
	struct kturn_alloc_counters k;

	m->allocs[t][a->tcp]++;
	if (!a->tcp) {
		m->c.bytes[TURN_PLANE_UDP][TURN_DIR_TO_PEER] += a->up_bytes;
		m->c.bytes[TURN_PLANE_UDP][TURN_DIR_TO_CLIENT] += a->down_bytes;
		m->c.packets[TURN_PLANE_UDP][TURN_DIR_TO_PEER] += a->up_pkts;
		m->c.packets[TURN_PLANE_UDP][TURN_DIR_TO_CLIENT] += a->down_pkts;
		return;
	}
	if (ts->o->sockmap && sockmap__alloc_read(ts->o->sockmap, a->id, &k) == 0) {
		m->c.packets[TURN_PLANE_SOCKMAP][TURN_DIR_TO_PEER] += k.up_packets;
		m->c.packets[TURN_PLANE_SOCKMAP][TURN_DIR_TO_CLIENT] += k.down_packets;
	}
	for (struct turn_peer *pc = a->peers; pc; pc = pc->next) {
		enum turn_plane plane;
		struct pair_stats st;

		if (!peer_plane(pc, &plane, &st)) {
			m->peers_waiting++;
			continue;
		}
		m->pairs[plane]++;
		m->c.bytes[plane][TURN_DIR_TO_PEER] += st.bytes[0];
		m->c.bytes[plane][TURN_DIR_TO_CLIENT] += st.bytes[1];
	}
}

void turn_server__metrics(struct turn_server *ts, struct turn_metrics *acc)
{
	turn_stats__add(&acc->c, &ts->stats);
	for (struct turn_alloc *a = ts->allocs; a; a = a->next)
		alloc_metrics(a, acc);
}
