// SPDX-License-Identifier: MIT
/*
 * The Prometheus text exposition format (0.0.4) for one scrape: a HELP and a
 * TYPE line before each family's samples, counters named *_total, label
 * values escaped, histogram buckets cumulative with le="+Inf" == _count.
 */
#include <inttypes.h>
#include <stdbool.h>

#include "kturn/handler.h"
#include "kturn/metrics.h"

static void family(struct strbuf *o, const char *name, const char *type, const char *help)
{
	strbuf__printf(o, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void build_info(struct strbuf *o, const char *node)
{
	family(o, "kturn_build_info", "gauge", "kturnd version and node name (always 1).");
	strbuf__puts(o, "kturn_build_info{version=\"");
	strbuf__prom_label(o, KTURN_VERSION);
	strbuf__puts(o, "\",node=\"");
	strbuf__prom_label(o, node ? node : "");
	strbuf__puts(o, "\"} 1\n");
}

static void gauges(struct strbuf *o, const struct turn_metrics *m)
{
	static const char *const type[3] = {"UDP", "TCP", "TLS"};

	family(o, "turn_total_allocations", "gauge",
	       "Allocations alive, by client transport (coturn's metric and label).");
	for (int t = 0; t < 3; t++)
		strbuf__printf(o, "turn_total_allocations{type=\"%s\"} %" PRIu64 "\n", type[t],
			       m->allocs[t][0] + m->allocs[t][1]);
	family(o, "kturn_allocations", "gauge",
	       "Allocations alive, by client transport and relay transport (tcp: RFC 6062).");
	for (int t = 0; t < 3; t++)
		for (int k = 0; k < 2; k++)
			strbuf__printf(
				o, "kturn_allocations{transport=\"%s\",relay=\"%s\"} %" PRIu64 "\n",
				kt_transport_name(t), k ? "tcp" : "udp", m->allocs[t][k]);
	family(o, "kturn_bridged_pairs", "gauge", "RFC 6062 pairs bridged now, by data plane.");
	for (int p = TURN_PLANE_SOCKMAP; p < TURN_PLANE_N; p++)
		strbuf__printf(o, "kturn_bridged_pairs{plane=\"%s\"} %" PRIu64 "\n",
			       turn_plane_name(p), m->pairs[p]);
	family(o, "kturn_peer_connections_waiting", "gauge",
	       "RFC 6062 peer connections waiting for a ConnectionBind.");
	strbuf__printf(o, "kturn_peer_connections_waiting %" PRIu64 "\n", m->peers_waiting);
}

static void traffic(struct strbuf *o, const struct turn_stats *c)
{
	family(o, "kturn_relayed_bytes_total", "counter",
	       "Payload bytes relayed, by data plane and direction (to_peer: from the client).");
	for (int p = 0; p < TURN_PLANE_N; p++)
		for (int d = 0; d < TURN_DIR_N; d++)
			strbuf__printf(o,
				       "kturn_relayed_bytes_total{plane=\"%s\",direction=\"%s\"} "
				       "%" PRIu64 "\n",
				       turn_plane_name(p), turn_dir_name(d), c->bytes[p][d]);
	family(o, "kturn_relayed_packets_total", "counter",
	       "Datagrams relayed (udp) and skbs redirected by BPF (sockmap), by direction.");
	for (int p = TURN_PLANE_UDP; p <= TURN_PLANE_SOCKMAP; p++)
		for (int d = 0; d < TURN_DIR_N; d++)
			strbuf__printf(o,
				       "kturn_relayed_packets_total{plane=\"%s\",direction=\"%s\"} "
				       "%" PRIu64 "\n",
				       turn_plane_name(p), turn_dir_name(d), c->packets[p][d]);
}

static void errors(struct strbuf *o, const struct turn_stats *c)
{
	family(o, "kturn_auth_failures_total", "counter",
	       "Requests refused by authentication, by reason (missing_integrity is the "
	       "normal first 401 of a client).");
	for (int f = 0; f < TURN_AUTH_N; f++)
		strbuf__printf(o, "kturn_auth_failures_total{reason=\"%s\"} %" PRIu64 "\n",
			       turn_auth_fail_name(f), c->auth_fail[f]);
	/* the codes a TURN server sends, always (stable series); others once seen */
	static const int common[] = {400, 401, 403, 420, 437, 438, 441,
				     442, 443, 446, 447, 486, 508};
	bool always[TURN_STATS_CODE_N] = {false};

	for (size_t i = 0; i < sizeof(common) / sizeof(common[0]); i++)
		always[common[i] - TURN_STATS_CODE_MIN] = true;
	family(o, "kturn_error_responses_total", "counter",
	       "TURN error responses sent, by ERROR-CODE.");
	for (int i = 0; i < TURN_STATS_CODE_N; i++)
		if (c->errors[i] || always[i])
			strbuf__printf(o, "kturn_error_responses_total{code=\"%d\"} %" PRIu64 "\n",
				       i + TURN_STATS_CODE_MIN, c->errors[i]);
}

static void bind_histogram(struct strbuf *o, const struct turn_stats *c)
{
	const char *name = "kturn_connection_bind_duration_seconds";
	uint64_t cum = 0;

	family(o, name, "histogram",
	       "RFC 6062: from the ConnectionAttempt (or the Connect success) to the bridged "
	       "ConnectionBind.");
	for (int i = 0; i < TURN_BIND_BUCKETS; i++) {
		cum += c->bind_bucket[i];
		strbuf__printf(o, "%s_bucket{le=\"%g\"} %" PRIu64 "\n", name, turn_bind_bounds[i],
			       cum);
	}
	cum += c->bind_bucket[TURN_BIND_BUCKETS];
	strbuf__printf(o, "%s_bucket{le=\"+Inf\"} %" PRIu64 "\n", name, cum);
	strbuf__printf(o, "%s_sum %.9f\n", name, (double)c->bind_sum_ns / 1e9);
	strbuf__printf(o, "%s_count %" PRIu64 "\n", name, c->bind_count);
}

void metrics__render(const struct turn_metrics *m, const char *node, struct strbuf *out)
{
	build_info(out, node);
	gauges(out, m);
	traffic(out, &m->c);
	errors(out, &m->c);
	bind_histogram(out, &m->c);
}
