// SPDX-License-Identifier: MIT
/*
 * The control commands (kturn/ctl.h): gather from every worker, render as
 * JSON (for scripts and tests) or as a table (for people).
 */
#include <errno.h>
#include <arpa/inet.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "kturn/ctl.h"
#include "kturn/metrics.h"
#include "kturn/net.h"
#include "kturn/server.h"
#include "kturn/turn_info.h"
#include "kturn/workers.h"

struct req {
	const struct ctl_daemon *d;
	bool json;
	struct strbuf *out;
};

static uint64_t mono_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000 + (uint64_t)t.tv_nsec / 1000000;
}

static const char *addr_str(const struct sockaddr_storage *ss, char *buf)
{
	if (ss->ss_family != AF_INET && ss->ss_family != AF_INET6)
		return "-";
	return net_addr_str((const struct sockaddr *)ss, buf, NET_ADDRSTRLEN);
}

/* The IP address alone (permissions have no port). */
static const char *ip_str(const struct sockaddr_storage *ss, char *buf)
{
	const void *ip = ss->ss_family == AF_INET6
				 ? (const void *)&((const struct sockaddr_in6 *)ss)->sin6_addr
				 : (const void *)&((const struct sockaddr_in *)ss)->sin_addr;

	return inet_ntop(ss->ss_family, ip, buf, NET_ADDRSTRLEN) ? buf : "-";
}

static void on_allocs(struct server *s, unsigned worker, void *arg)
{
	struct turn_info_list *l = arg;
	struct turn_server *ts = server__turn(s);

	l->worker = worker;
	if (ts)
		turn_server__list_allocs(ts, l);
}

static void on_pairs(struct server *s, unsigned worker, void *arg)
{
	struct turn_info_list *l = arg;
	struct turn_server *ts = server__turn(s);

	l->worker = worker;
	if (ts)
		turn_server__list_pairs(ts, l);
}

/* Run fn on every worker; a worker that has stopped is skipped. */
static void each_worker(const struct ctl_daemon *d, workers_fn fn, void *arg)
{
	for (unsigned i = 0; i < workers__count(d->workers); i++)
		workers__call(d->workers, i, fn, arg);
}

static int cmd_status(struct req *r)
{
	const struct ctl_daemon *d = r->d;
	struct turn_metrics m;
	uint64_t by_relay[2] = {0, 0}, pairs = 0;
	uint64_t up = (mono_ms() - d->start_ms) / 1000;

	metrics__gather(d->workers, &m);
	for (int t = 0; t < 3; t++)
		for (int k = 0; k < 2; k++)
			by_relay[k] += m.allocs[t][k];
	for (int p = 0; p < TURN_PLANE_N; p++)
		pairs += m.pairs[p];
	if (r->json) {
		strbuf__printf(r->out, "{\"version\":");
		strbuf__json_str(r->out, KTURN_VERSION);
		strbuf__printf(r->out, ",\"node\":");
		strbuf__json_str(r->out, d->node);
		strbuf__printf(r->out,
			       ",\"pid\":%d,\"uptime_s\":%" PRIu64
			       ",\"workers\":%u,\"data_plane\":",
			       (int)getpid(), up, workers__count(d->workers));
		strbuf__json_str(r->out, d->data_plane);
		strbuf__printf(r->out, ",\"pin_dir\":");
		strbuf__json_str(r->out, d->pin_dir);
		strbuf__printf(r->out,
			       ",\"allocations\":%" PRIu64
			       ",\"allocations_by_relay\":{\"udp\":%" PRIu64 ",\"tcp\":%" PRIu64
			       "},\"pairs\":%" PRIu64 ",\"pairs_by_plane\":{",
			       by_relay[0] + by_relay[1], by_relay[0], by_relay[1], pairs);
		for (int p = TURN_PLANE_SOCKMAP; p < TURN_PLANE_N; p++)
			strbuf__printf(r->out, "%s\"%s\":%" PRIu64,
				       p == TURN_PLANE_SOCKMAP ? "" : ",", turn_plane_name(p),
				       m.pairs[p]);
		strbuf__printf(r->out, "},\"peers_waiting\":%" PRIu64 "}\n", m.peers_waiting);
		return 0;
	}
	strbuf__printf(
		r->out,
		"version       %s\nnode          %s\npid           %d\nuptime        %" PRIu64
		" s\nworkers       %u\ndata plane    %s%s%s%s\n",
		KTURN_VERSION, d->node, (int)getpid(), up, workers__count(d->workers),
		d->data_plane, d->pin_dir ? " (maps pinned in " : "", d->pin_dir ? d->pin_dir : "",
		d->pin_dir ? ")" : "");
	strbuf__printf(r->out,
		       "allocations   %" PRIu64 " (udp relay %" PRIu64 ", tcp relay %" PRIu64
		       ")\npairs         %" PRIu64 " (sockmap %" PRIu64 ", splice %" PRIu64
		       ", tls %" PRIu64 "); %" PRIu64 " peer connection(s) waiting for a bind\n",
		       by_relay[0] + by_relay[1], by_relay[0], by_relay[1], pairs,
		       m.pairs[TURN_PLANE_SOCKMAP], m.pairs[TURN_PLANE_SPLICE],
		       m.pairs[TURN_PLANE_TLS], m.peers_waiting);
	return 0;
}

static void alloc_json(struct strbuf *o, const struct turn_alloc_info *a, bool first)
{
	char b1[NET_ADDRSTRLEN], b2[NET_ADDRSTRLEN];

	strbuf__printf(o, "%s{\"id\":%u,\"worker\":%u,\"user\":", first ? "" : ",", a->id,
		       a->worker);
	if (a->user[0])
		strbuf__json_str(o, a->user);
	else
		strbuf__puts(o, "null");
	strbuf__printf(o,
		       ",\"transport\":\"%s\",\"client\":\"%s\",\"server\":\"%s\","
		       "\"relay_transport\":\"%s\",\"relayed\":[",
		       kt_transport_name(a->transport), addr_str(&a->client, b1),
		       addr_str(&a->server, b2), a->tcp ? "tcp" : "udp");
	for (unsigned i = 0; i < a->n_relay; i++)
		strbuf__printf(o, "%s\"%s\"", i ? "," : "", addr_str(&a->relay[i], b1));
	strbuf__puts(o, "],\"permitted\":[");
	for (size_t i = 0; i < a->n_permitted; i++)
		strbuf__printf(o, "%s\"%s\"", i ? "," : "", ip_str(&a->permitted[i], b1));
	strbuf__printf(o,
		       "],\"permissions\":%zu,\"channels\":%zu,\"peers\":%u,\"pairs\":%u,"
		       "\"bytes_to_peer\":%" PRIu64 ",\"bytes_to_client\":%" PRIu64
		       ",\"packets_to_peer\":%" PRIu64 ",\"packets_to_client\":%" PRIu64
		       ",\"dropped\":%" PRIu64 ",\"lifetime_left_s\":%" PRIu64 ",\"bpf\":",
		       a->perms, a->channels, a->peers, a->pairs, a->bytes[0], a->bytes[1],
		       a->packets[0], a->packets[1], a->dropped, a->lifetime_left_s);
	if (a->has_bpf)
		strbuf__printf(o,
			       "{\"up_bytes\":%llu,\"up_packets\":%llu,\"down_bytes\":%llu,"
			       "\"down_packets\":%llu,\"redirect_fail\":%llu,\"pauses\":%llu}}",
			       (unsigned long long)a->bpf.up_bytes,
			       (unsigned long long)a->bpf.up_packets,
			       (unsigned long long)a->bpf.down_bytes,
			       (unsigned long long)a->bpf.down_packets,
			       (unsigned long long)a->bpf.redirect_fail,
			       (unsigned long long)a->bpf.pauses);
	else
		strbuf__puts(o, "null}");
}

static void alloc_row(struct strbuf *o, const struct turn_alloc_info *a)
{
	char c[NET_ADDRSTRLEN], s[NET_ADDRSTRLEN], r0[NET_ADDRSTRLEN], r1[NET_ADDRSTRLEN];
	char relayed[2 * NET_ADDRSTRLEN + 2];

	snprintf(relayed, sizeof(relayed), "%s%s%s", a->n_relay ? addr_str(&a->relay[0], r0) : "-",
		 a->n_relay > 1 ? "," : "", a->n_relay > 1 ? addr_str(&a->relay[1], r1) : "");
	strbuf__printf(o,
		       "%-10u %-12.12s %-4s %-21s %-21s %-4s %-21s %5zu/%-5zu %5u %14" PRIu64
		       " %14" PRIu64 " %7" PRIu64 "\n",
		       a->id, a->user[0] ? a->user : "-", kt_transport_name(a->transport),
		       addr_str(&a->client, c), addr_str(&a->server, s), a->tcp ? "tcp" : "udp",
		       relayed, a->perms, a->channels, a->pairs, a->bytes[0], a->bytes[1],
		       a->lifetime_left_s);
}

/* Each worker's allocations or pairs, then one table or JSON array of them. */
static int list_out(struct req *r, workers_fn gather, const char *header,
		    void (*row)(struct req *r, const struct turn_info_list *l, size_t i), bool pairs)
{
	struct turn_info_list l = {0};
	size_t n;

	each_worker(r->d, gather, &l);
	if (l.err) {
		turn_info_list__free(&l);
		return l.err;
	}
	strbuf__puts(r->out, r->json ? "[" : header);
	n = pairs ? l.n_pairs : l.n_allocs;
	for (size_t i = 0; i < n; i++)
		row(r, &l, i);
	if (r->json)
		strbuf__puts(r->out, "]\n");
	turn_info_list__free(&l);
	return 0;
}

static void alloc_out(struct req *r, const struct turn_info_list *l, size_t i)
{
	if (r->json)
		alloc_json(r->out, &l->allocs[i], i == 0);
	else
		alloc_row(r->out, &l->allocs[i]);
}

static int cmd_allocations(struct req *r)
{
	char header[256];

	snprintf(header, sizeof(header),
		 "%-10s %-12s %-4s %-21s %-21s %-4s %-21s %11s %5s %14s %14s %7s\n", "id", "user",
		 "tr", "client", "server", "rtr", "relayed", "perms/chans", "pairs",
		 "bytes_to_peer", "bytes_to_client", "left_s");
	return list_out(r, on_allocs, header, alloc_out, false);
}

static void pair_out(struct req *r, const struct turn_pair_info *p, bool first)
{
	char c[NET_ADDRSTRLEN], pe[NET_ADDRSTRLEN];

	if (r->json) {
		strbuf__printf(r->out,
			       "%s{\"alloc_id\":%u,\"pair_id\":%u,\"worker\":%u,\"client\":\"%s\","
			       "\"peer\":\"%s\",\"plane\":\"%s\",\"bytes_to_peer\":%" PRIu64
			       ",\"bytes_to_client\":%" PRIu64 ",\"packets_to_peer\":%" PRIu64
			       ",\"packets_to_client\":%" PRIu64 ",\"cookie_client\":%" PRIu64
			       ",\"cookie_peer\":%" PRIu64 "}",
			       first ? "" : ",", p->alloc_id, p->pair_id, p->worker,
			       addr_str(&p->client, c), addr_str(&p->peer, pe),
			       turn_plane_name(p->plane), p->bytes[0], p->bytes[1], p->packets[0],
			       p->packets[1], p->cookie[0], p->cookie[1]);
		return;
	}
	strbuf__printf(r->out,
		       "%-10u %-10u %-21s %-21s %-7s %14" PRIu64 " %14" PRIu64 " %10" PRIu64
		       " %10" PRIu64 "\n",
		       p->alloc_id, p->pair_id, addr_str(&p->client, c), addr_str(&p->peer, pe),
		       turn_plane_name(p->plane), p->bytes[0], p->bytes[1], p->packets[0],
		       p->packets[1]);
}

static void pair_row(struct req *r, const struct turn_info_list *l, size_t i)
{
	pair_out(r, &l->pairs[i], i == 0);
}

static int cmd_pairs(struct req *r)
{
	char header[256];

	snprintf(header, sizeof(header), "%-10s %-10s %-21s %-21s %-7s %14s %14s %10s %10s\n",
		 "alloc", "pair", "client", "peer", "plane", "bytes_to_peer", "bytes_to_client",
		 "pkts_up", "pkts_down");
	return list_out(r, on_pairs, header, pair_row, true);
}

struct kill_call {
	uint32_t id;
	int err;
};

static void on_kill(struct server *s, unsigned worker, void *arg)
{
	struct kill_call *k = arg;
	struct turn_server *ts = server__turn(s);

	if (ts && k->err == -ENOENT)
		k->err = turn_server__kill(ts, k->id);
}

static int cmd_kill(struct req *r, const char *arg, const char **why)
{
	struct kill_call k = {.err = -ENOENT};
	char *end;
	unsigned long v;

	errno = 0;
	v = arg ? strtoul(arg, &end, 10) : 0;
	if (!arg || errno || *end || !v || v > UINT32_MAX) {
		*why = "usage: kill ALLOCATION-ID";
		return -EINVAL;
	}
	k.id = (uint32_t)v;
	each_worker(r->d, on_kill, &k);
	if (k.err) {
		*why = "no such allocation";
		return k.err;
	}
	if (r->json)
		strbuf__printf(r->out, "{\"killed\":%u}\n", k.id);
	else
		strbuf__printf(r->out, "allocation %u deleted\n", k.id);
	return 0;
}

static int cmd_reload(struct req *r, const char **why)
{
	int err = r->d->reload ? r->d->reload(r->d->reload_arg) : -ENOTSUP;

	if (err) {
		*why = "reload failed: the configuration has errors or the TLS certificate cannot "
		       "be used (see the log); what failed keeps its current value";
		return err;
	}
	strbuf__puts(r->out, r->json ? "{\"reloaded\":true}\n" : "credentials reloaded\n");
	return 0;
}

int ctl__run(const struct ctl_daemon *d, const char *line, struct strbuf *out, const char **why)
{
	char buf[CTL_LINE_MAX + 1], *save = NULL, *fmt, *cmd, *arg, *extra;
	struct req r = {.d = d, .out = out};

	snprintf(buf, sizeof(buf), "%s", line);
	fmt = strtok_r(buf, " \t\r", &save);
	cmd = strtok_r(NULL, " \t\r", &save);
	arg = strtok_r(NULL, " \t\r", &save);
	extra = strtok_r(NULL, " \t\r", &save);
	*why = "bad request: FORMAT COMMAND [ARG], FORMAT json or text";
	if (!fmt || !cmd || extra || (strcmp(fmt, "json") && strcmp(fmt, "text")))
		return -EINVAL;
	r.json = !strcmp(fmt, "json");
	if (!strcmp(cmd, "status") && !arg)
		return cmd_status(&r);
	if (!strcmp(cmd, "allocations") && !arg)
		return cmd_allocations(&r);
	if (!strcmp(cmd, "pairs") && !arg)
		return cmd_pairs(&r);
	if (!strcmp(cmd, "kill"))
		return cmd_kill(&r, arg, why);
	if (!strcmp(cmd, "users") && arg && !strcmp(arg, "reload"))
		return cmd_reload(&r, why);
	*why = "unknown command (status, allocations, pairs, kill ID, users reload)";
	return -EINVAL;
}
