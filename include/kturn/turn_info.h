/* SPDX-License-Identifier: MIT */
/*
 * A worker's allocations and pairs as kturnctl sees them, and killing one.
 *
 * Every function here runs on the worker thread that owns ts (the control
 * socket reaches it through workers__call), so it reads the worker's state
 * without locks; it writes only into the caller's list, which the caller
 * reads after workers__call returned (the call's mutex orders the two).
 */
#ifndef KTURN_TURN_INFO_H
#define KTURN_TURN_INFO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "kturn/bpf_abi.h"
#include "kturn/handler.h"
#include "kturn/stun.h"
#include "kturn/turn_stats.h"

struct turn_server;

#define TURN_INFO_MAX_PERMS 8 /* permission addresses listed per allocation */

struct turn_alloc_info {
	uint32_t id;
	unsigned worker;
	char user[STUN_MAX_USERNAME + 1]; /* "" when anonymous */
	enum kt_transport transport;	  /* of the client's 5-tuple */
	bool tcp;			  /* relay transport: RFC 6062 */
	struct sockaddr_storage client, server;
	struct sockaddr_storage relay[2];
	unsigned n_relay;
	size_t perms, channels;
	struct sockaddr_storage permitted[TURN_INFO_MAX_PERMS]; /* the first perms, port 0 */
	size_t n_permitted;
	unsigned peers, pairs; /* peer connections, of which bound */
	/* relayed so far, gone pairs included: [0] to the peer, [1] to the client */
	uint64_t bytes[2], packets[2];
	uint64_t dropped;
	uint64_t lifetime_left_s;
	bool has_bpf; /* kturn_alloc_cnt holds an entry (a pair went on the sockmap plane) */
	struct kturn_alloc_counters bpf;
};

struct turn_pair_info {
	uint32_t alloc_id;
	uint32_t pair_id; /* CONNECTION-ID */
	unsigned worker;
	struct sockaddr_storage client; /* the client's data connection */
	struct sockaddr_storage peer;
	enum turn_plane plane;
	uint64_t bytes[2];   /* [0] client -> peer, [1] peer -> client */
	uint64_t packets[2]; /* skbs redirected by BPF; sockmap plane only */
	uint64_t cookie[2];  /* socket cookies [0] client, [1] peer; sockmap plane only */
};

struct turn_info_list {
	struct turn_alloc_info *allocs;
	size_t n_allocs, cap_allocs;
	struct turn_pair_info *pairs;
	size_t n_pairs, cap_pairs;
	unsigned worker; /* stamped on every entry appended */
	int err;	 /* -ENOMEM once an append failed */
};

void turn_info_list__free(struct turn_info_list *l);
/* Append this worker's allocations / bound pairs to l. */
void turn_server__list_allocs(struct turn_server *ts, struct turn_info_list *l);
void turn_server__list_pairs(struct turn_server *ts, struct turn_info_list *l);
/* Delete allocation id as a Refresh with LIFETIME 0 would. 0, or -ENOENT if not here. */
int turn_server__kill(struct turn_server *ts, uint32_t id);
/* Add this worker's gauges and counters (gone + live) into acc. */
void turn_server__metrics(struct turn_server *ts, struct turn_metrics *acc);

#endif /* KTURN_TURN_INFO_H */
