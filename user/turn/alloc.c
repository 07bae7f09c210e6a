// SPDX-License-Identifier: MIT
/*
 * Allocations of one worker: the 5-tuple table (UDP clients; a stream
 * connection carries its allocation itself), relay sockets, and the one
 * timer per allocation that expires it and its permissions and channels.
 */
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "kturn/dataplane.h"
#include "kturn/log.h"
#include "kturn/net.h"
#include "kturn/turn_perms.h"
#include "turn_int.h"

static uint64_t mix(uint64_t h, const void *p, size_t n)
{
	const uint8_t *b = p;

	for (size_t i = 0; i < n; i++)
		h = (h ^ b[i]) * 0x100000001b3ull;
	return h;
}

/* Keyed hash of (client, local): the key is random per worker. */
static size_t bucket_of(const struct turn_server *ts, const struct turn_conn *c)
{
	const struct sockaddr *sa[2] = {(const struct sockaddr *)&c->client,
					(const struct sockaddr *)&c->local};
	uint64_t h = ts->hash_key;

	for (int i = 0; i < 2; i++) {
		if (sa[i]->sa_family == AF_INET) {
			const struct sockaddr_in *s = (const void *)sa[i];

			h = mix(h, &s->sin_addr, 4);
			h = mix(h, &s->sin_port, 2);
		} else {
			const struct sockaddr_in6 *s = (const void *)sa[i];

			h = mix(h, &s->sin6_addr, 16);
			h = mix(h, &s->sin6_port, 2);
		}
	}
	h ^= h >> 29;
	return (size_t)(h % ts->n_buckets);
}

static bool same_tuple(const struct turn_conn *a, const struct turn_conn *b)
{
	return a->transport == b->transport &&
	       net_addr_equal((const struct sockaddr *)&a->client,
			      (const struct sockaddr *)&b->client) &&
	       net_addr_equal((const struct sockaddr *)&a->local,
			      (const struct sockaddr *)&b->local);
}

struct turn_alloc *turn_alloc__find(struct turn_server *ts, const struct turn_conn *c)
{
	if (c->transport != KT_TRANSPORT_UDP)
		return c->alloc;
	for (struct turn_alloc *a = ts->buckets[bucket_of(ts, c)]; a; a = a->hnext)
		if (same_tuple(&a->udp_conn, c))
			return a;
	return NULL;
}

static void table_grow(struct turn_server *ts)
{
	size_t n = ts->n_buckets * 2;
	struct turn_alloc **b = calloc(n, sizeof(*b));
	struct turn_alloc **old = ts->buckets;
	size_t old_n = ts->n_buckets;

	if (!b)
		return; /* longer chains, still correct */
	ts->buckets = b;
	ts->n_buckets = n;
	for (size_t i = 0; i < old_n; i++) {
		while (old[i]) {
			struct turn_alloc *a = old[i];
			size_t k = bucket_of(ts, a->conn);

			old[i] = a->hnext;
			a->hnext = b[k];
			b[k] = a;
		}
	}
	free(old);
}

static void table_insert(struct turn_server *ts, struct turn_alloc *a)
{
	size_t k;

	if (ts->n_allocs >= ts->n_buckets)
		table_grow(ts);
	k = bucket_of(ts, a->conn);
	a->hnext = ts->buckets[k];
	ts->buckets[k] = a;
}

static void table_remove(struct turn_server *ts, struct turn_alloc *a)
{
	struct turn_alloc **pp = &ts->buckets[bucket_of(ts, a->conn)];

	while (*pp && *pp != a)
		pp = &(*pp)->hnext;
	if (*pp)
		*pp = a->hnext;
}

static void alloc_timer(struct loop_timer *t)
{
	struct turn_alloc *a = t->arg;

	if (loop__now_ms(a->ts->loop) >= a->expiry_ms) {
		turn_alloc__free(a, "expired");
		return;
	}
	turn_alloc__rearm(a);
}

void turn_alloc__rearm(struct turn_alloc *a)
{
	uint64_t now = loop__now_ms(a->ts->loop);
	uint64_t next = turn_perms__expire(a->perms, now);

	if (next > a->expiry_ms)
		next = a->expiry_ms;
	loop__timer_arm(a->ts->loop, &a->timer, next > now ? next - now : 0);
}

struct turn_alloc *turn_alloc__new(struct turn_server *ts, struct turn_conn *c,
				   const uint8_t tid[STUN_TID_LEN], const char *user)
{
	struct turn_alloc *a = calloc(1, sizeof(*a));

	if (!a)
		return NULL;
	a->ts = ts;
	a->id = turn_shared__alloc_id(ts->sh);
	a->perms = turn_perms__create(TURN_PERMS_DEFAULT_MAX_PERMS, TURN_PERMS_DEFAULT_MAX_CHANS);
	a->user = user ? strdup(user) : NULL;
	if (!a->perms || (user && !a->user)) {
		turn_perms__free(a->perms);
		free(a->user);
		free(a);
		return NULL;
	}
	if (c->transport == KT_TRANSPORT_UDP) {
		a->udp_conn = *c;
		a->conn = &a->udp_conn;
	} else {
		a->conn = c;
	}
	memcpy(a->tid, tid, STUN_TID_LEN);
	loop_timer__init(&a->timer, alloc_timer, a);
	for (unsigned i = 0; i < TURN_MAX_RELAYS; i++) {
		a->relay[i].w.fd = -1;
		loop_timer__init(&a->relay[i].retry, NULL, &a->relay[i]);
	}
	return a;
}

static int relay_socket(const struct sockaddr_storage *addr, bool df)
{
	const struct sockaddr *sa = (const struct sockaddr *)addr;
	int fd = net_udp_bind(sa, 0);
	int v = df ? IP_PMTUDISC_DO : IP_PMTUDISC_DONT;

	if (fd < 0)
		return fd;
	if (sa->sa_family == AF_INET)
		setsockopt(fd, IPPROTO_IP, IP_MTU_DISCOVER, &v, sizeof(v));
	else
		setsockopt(fd, IPPROTO_IPV6, IPV6_MTU_DISCOVER, &v, sizeof(v));
	return fd;
}

int turn_alloc__watch_relay(struct turn_alloc *a, int fd, const struct sockaddr_storage *addr,
			    loop_io_cb cb)
{
	struct turn_relay *r = &a->relay[a->n_relay];
	int err;

	if (a->n_relay == TURN_MAX_RELAYS) {
		close(fd);
		return -ENOSPC;
	}
	r->addr = *addr;
	r->a = a;
	loop_watch__init(&r->w, fd, cb, r);
	err = loop__add(a->ts->loop, &r->w, EPOLLIN);
	if (err) {
		close(fd);
		r->w.fd = -1;
		return err;
	}
	a->n_relay++;
	return 0;
}

int turn_alloc__add_relay(struct turn_alloc *a, const struct sockaddr_storage *addr, bool df)
{
	int fd = relay_socket(addr, df);

	return fd < 0 ? fd : turn_alloc__watch_relay(a, fd, addr, turn_relay__io);
}

struct turn_relay *turn_alloc__relay(struct turn_alloc *a, int family)
{
	for (unsigned i = 0; i < a->n_relay; i++)
		if (a->relay[i].addr.ss_family == family)
			return &a->relay[i];
	return NULL;
}

void turn_alloc__set_lifetime(struct turn_alloc *a, uint32_t lifetime_s)
{
	a->lifetime_s = lifetime_s;
	a->expiry_ms = loop__now_ms(a->ts->loop) + (uint64_t)lifetime_s * 1000;
	turn_alloc__rearm(a);
}

void turn_alloc__activate(struct turn_alloc *a, uint32_t lifetime_s)
{
	struct turn_server *ts = a->ts;

	if (a->conn->transport == KT_TRANSPORT_UDP)
		table_insert(ts, a);
	else
		a->conn->alloc = a;
	a->next = ts->allocs;
	if (a->next)
		a->next->prev = a;
	ts->allocs = a;
	ts->n_allocs++;
	turn_alloc__set_lifetime(a, lifetime_s);
	turn_alloc__log(a, "allocate", NULL);
}

void turn_alloc__log(const struct turn_alloc *a, const char *event, const char *detail)
{
	char client[NET_ADDRSTRLEN], local[NET_ADDRSTRLEN], r0[NET_ADDRSTRLEN] = "-",
							    r1[NET_ADDRSTRLEN] = "-";

	net_addr_str((const struct sockaddr *)&a->conn->client, client, sizeof(client));
	net_addr_str((const struct sockaddr *)&a->conn->local, local, sizeof(local));
	if (a->n_relay > 0)
		net_addr_str((const struct sockaddr *)&a->relay[0].addr, r0, sizeof(r0));
	if (a->n_relay > 1)
		net_addr_str((const struct sockaddr *)&a->relay[1].addr, r1, sizeof(r1));
	klog_info("turn %s id=%u user=%s transport=%s relay_transport=%s client=%s server=%s "
		  "relay=%s relay6=%s "
		  "lifetime=%u up_bytes=%llu up_pkts=%llu down_bytes=%llu down_pkts=%llu "
		  "dropped=%llu%s%s",
		  event, a->id, a->user ? a->user : "-", kt_transport_name(a->conn->transport),
		  a->tcp ? "tcp" : "udp", client, local, r0, r1, a->lifetime_s,
		  (unsigned long long)a->up_bytes, (unsigned long long)a->up_pkts,
		  (unsigned long long)a->down_bytes, (unsigned long long)a->down_pkts,
		  (unsigned long long)a->dropped, detail ? " reason=" : "", detail ? detail : "");
}

void turn_alloc__free(struct turn_alloc *a, const char *why)
{
	struct turn_server *ts = a->ts;
	bool live = a->prev || a->next || ts->allocs == a;

	if (live) {
		turn_alloc__log(a, "deallocate", why);
		if (a->conn->transport == KT_TRANSPORT_UDP) {
			table_remove(ts, a);
		} else {
			a->conn->alloc = NULL;
			if (a->conn->alloc_gone)
				a->conn->alloc_gone(a->conn);
		}
		if (a->prev)
			a->prev->next = a->next;
		else
			ts->allocs = a->next;
		if (a->next)
			a->next->prev = a->prev;
		ts->n_allocs--;
		turn_shared__quota_release(ts->sh, a->user);
	}
	loop__timer_cancel(ts->loop, &a->timer);
	while (a->peers)
		turn_peer__free(a->peers, why ? why : "allocation closed");
	if (a->tcp && ts->o->sockmap) {
		struct kturn_alloc_counters k;

		sockmap__alloc_remove(ts->o->sockmap, a->id, &k);
		ts->stats.packets[TURN_PLANE_SOCKMAP][TURN_DIR_TO_PEER] += k.up_packets;
		ts->stats.packets[TURN_PLANE_SOCKMAP][TURN_DIR_TO_CLIENT] += k.down_packets;
	} else if (!a->tcp) {
		ts->stats.bytes[TURN_PLANE_UDP][TURN_DIR_TO_PEER] += a->up_bytes;
		ts->stats.bytes[TURN_PLANE_UDP][TURN_DIR_TO_CLIENT] += a->down_bytes;
		ts->stats.packets[TURN_PLANE_UDP][TURN_DIR_TO_PEER] += a->up_pkts;
		ts->stats.packets[TURN_PLANE_UDP][TURN_DIR_TO_CLIENT] += a->down_pkts;
	}
	for (unsigned i = 0; i < a->n_relay; i++) {
		loop__timer_cancel(ts->loop, &a->relay[i].retry);
		loop__del(ts->loop, &a->relay[i].w);
		close(a->relay[i].w.fd);
		turn_shared__put_port(ts->sh, net_addr_port((const void *)&a->relay[i].addr));
	}
	turn_perms__free(a->perms);
	free(a->user);
	free(a);
}
