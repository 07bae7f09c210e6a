// SPDX-License-Identifier: MIT
/*
 * kturn-bench: load generator for STUN/TURN servers (kturnd, coturn, ...).
 * It is the TURN client and the peer at once; see usage() for the modes.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kturn/bench.h"
#include "kturn/net.h"

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: kturn-bench MODE [options]\n"
		"Load generator for STUN/TURN servers (kturnd, coturn, ...): it is the TURN\n"
		"client and the peer in one process and verifies every byte it relays.\n"
		"\n"
		"Modes:\n"
		"  binding       STUN Binding round trips (rate and latency)\n"
		"  bulk          -P bridged RFC 6062 TCP pairs carrying a verified byte stream\n"
		"                (--dir up|down|both, -n MiB per pair or -d seconds); Gb/s\n"
		"                total and per pair, sender and receiver side\n"
		"  pingpong      one bridged TCP pair (or -T udp: a UDP allocation with a\n"
		"                channel) echoing -l byte messages; round trips/s, p50/p90/p99\n"
		"  connections   -k bridged TCP pairs set up, each echoing a small message both\n"
		"                ways, held --hold seconds and checked again; setup rate\n"
		"  allocs        allocations per second: Allocate, 401, authenticated Allocate,\n"
		"                Refresh(LIFETIME 0), on a new connection each (-c in parallel)\n"
		"  udp           a UDP allocation: the client sends -l byte packets over a\n"
		"                channel (or Send indications); the peer sinks them (or echoes\n"
		"                with --echo); packets/s sent and received, loss\n"
		"\n"
		"Server and credentials:\n"
		"  -s, --server IP         server address (default 127.0.0.1)\n"
		"  -p, --port PORT         server port (default 3478)\n"
		"  -u, --user USER         long-term credential user name (realm from the 401)\n"
		"  -w, --password PASS     its password\n"
		"  -T, --transport T       udp or tcp (binding default udp; allocs default tcp;\n"
		"                          pingpong default tcp; udp mode always udp)\n"
		"      --peer-ip IP        address the peer listens on and sends from\n"
		"                          (default 127.0.0.1)\n"
		"      --direct            same workload without a relay: the client talks to\n"
		"                          the peer directly (a ceiling to compare with)\n"
		"\n"
		"Workload:\n"
		"  -P, --parallel N        bulk: bridged pairs (default 1)\n"
		"      --dir D             bulk: up (client to peer), down or both (default up)\n"
		"      --flow F            RFC 6062 flow: peer (the peer connects to the relayed\n"
		"                          address, ConnectionAttempt; default) or client (the\n"
		"                          client sends Connect to the peer's listener)\n"
		"  -n, --count N           bulk: MiB per pair and direction; binding, pingpong,\n"
		"                          allocs, udp: stop after N round trips/allocations/\n"
		"                          packets\n"
		"  -d, --duration SEC      stop after SEC seconds (default 5)\n"
		"  -l, --length BYTES      pingpong, udp: message size (default 64)\n"
		"  -k, --connections K     connections: bridged pairs (default 100)\n"
		"      --hold SEC          connections: hold them this long (default 1)\n"
		"      --pairs-per-alloc N bridged pairs per allocation (default 100)\n"
		"  -c, --concurrency N     binding: sockets; allocs: parallel clients (default 1)\n"
		"  -b, --rate PPS          udp: packets per second (default: as fast as possible)\n"
		"      --send-indication   udp, pingpong -T udp: Send/Data indications instead\n"
		"                          of ChannelData\n"
		"      --echo              udp: the peer echoes every packet back\n"
		"      --timeout MS        a signalling step or packet unanswered this long\n"
		"                          fails (default 5000; binding: UDP loss, 1000)\n"
		"      --inject-corruption for testing the checker: the sender changes the first\n"
		"                          byte of every stream or message\n"
		"\n"
		"Output:\n"
		"      --json              print one JSON object with every number\n"
		"  -q, --quiet             no progress line each second on stderr\n"
		"  -h, --help              this help\n"
		"  -V, --version           print the version\n"
		"\n"
		"Examples:\n"
		"  kturn-bench bulk -s 10.0.0.1 -u alice -w secret -P 4 --dir both -d 10\n"
		"  kturn-bench bulk --direct -P 4 --dir both -d 10\n"
		"  kturn-bench pingpong -s 10.0.0.1 -u alice -w secret -T udp -l 200 -n 100000\n"
		"  kturn-bench connections -s 10.0.0.1 -u alice -w secret -k 10000 --hold 30\n"
		"  kturn-bench allocs -s 10.0.0.1 -u alice -w secret -c 8 -d 10 --json\n"
		"  kturn-bench udp -s 10.0.0.1 -u alice -w secret -l 1200 -b 100000 --echo\n"
		"\n"
		"Exit status: 0 when every content check passed and nothing failed, 1 when a\n"
		"check or an operation failed, 2 for bad usage.\n");
}

enum {
	OPT_PEER_IP = 256,
	OPT_DIRECT,
	OPT_DIR,
	OPT_FLOW,
	OPT_HOLD,
	OPT_PPA,
	OPT_SENDIND,
	OPT_ECHO,
	OPT_TIMEOUT,
	OPT_CORRUPT,
	OPT_JSON
};

static const struct option longopts[] = {
	{"server", required_argument, NULL, 's'},
	{"port", required_argument, NULL, 'p'},
	{"user", required_argument, NULL, 'u'},
	{"password", required_argument, NULL, 'w'},
	{"transport", required_argument, NULL, 'T'},
	{"parallel", required_argument, NULL, 'P'},
	{"count", required_argument, NULL, 'n'},
	{"duration", required_argument, NULL, 'd'},
	{"length", required_argument, NULL, 'l'},
	{"connections", required_argument, NULL, 'k'},
	{"concurrency", required_argument, NULL, 'c'},
	{"rate", required_argument, NULL, 'b'},
	{"quiet", no_argument, NULL, 'q'},
	{"help", no_argument, NULL, 'h'},
	{"version", no_argument, NULL, 'V'},
	{"peer-ip", required_argument, NULL, OPT_PEER_IP},
	{"direct", no_argument, NULL, OPT_DIRECT},
	{"dir", required_argument, NULL, OPT_DIR},
	{"flow", required_argument, NULL, OPT_FLOW},
	{"hold", required_argument, NULL, OPT_HOLD},
	{"pairs-per-alloc", required_argument, NULL, OPT_PPA},
	{"send-indication", no_argument, NULL, OPT_SENDIND},
	{"echo", no_argument, NULL, OPT_ECHO},
	{"timeout", required_argument, NULL, OPT_TIMEOUT},
	{"inject-corruption", no_argument, NULL, OPT_CORRUPT},
	{"json", no_argument, NULL, OPT_JSON},
	{0},
};

struct raw_args {
	const char *host, *peer_ip, *transport;
	long port;
	double count;
	long timeout;
};

static int parse_enum(const char *v, const char *a, const char *b, const char *c)
{
	return !strcmp(v, a) ? 1 : !strcmp(v, b) ? 2 : (c && !strcmp(v, c)) ? 3 : -1;
}

/* Server, credentials and output options; 1 if c is not one of them. */
static int parse_common(int c, struct bench_opts *o, struct raw_args *ra)
{
	switch (c) {
	case 's':
		ra->host = optarg;
		return 0;
	case 'p':
		ra->port = strtol(optarg, NULL, 10);
		return 0;
	case 'u':
		o->user = optarg;
		return 0;
	case 'w':
		o->pass = optarg;
		return 0;
	case 'T':
		ra->transport = optarg;
		return 0;
	case OPT_PEER_IP:
		ra->peer_ip = optarg;
		return 0;
	case OPT_DIRECT:
		o->direct = true;
		return 0;
	case OPT_TIMEOUT:
		ra->timeout = strtol(optarg, NULL, 10);
		return 0;
	case OPT_JSON:
		o->json = true;
		return 0;
	case 'q':
		o->progress = false;
		return 0;
	case 'h':
		usage(stdout);
		exit(0);
	case 'V':
		printf("kturn-bench %s\n", KTURN_VERSION);
		exit(0);
	}
	return 1;
}

/* Workload options; -1 for anything unknown. */
static int parse_workload(int c, struct bench_opts *o, struct raw_args *ra)
{
	switch (c) {
	case 'P':
		o->pairs = (unsigned)strtoul(optarg, NULL, 10);
		return 0;
	case 'n':
		ra->count = strtod(optarg, NULL);
		return 0;
	case 'd':
		o->seconds = strtod(optarg, NULL);
		return 0;
	case 'l':
		o->msg_len = (unsigned)strtoul(optarg, NULL, 10);
		return 0;
	case 'k':
		o->conns = (unsigned)strtoul(optarg, NULL, 10);
		return 0;
	case 'c':
		o->concurrency = (unsigned)strtoul(optarg, NULL, 10);
		return 0;
	case 'b':
		o->pps = strtoull(optarg, NULL, 10);
		return 0;
	case OPT_DIR:
		o->dir = (enum bench_dir)parse_enum(optarg, "up", "down", "both");
		return 0;
	case OPT_FLOW:
		o->client_flow = parse_enum(optarg, "peer", "client", NULL) == 2;
		return parse_enum(optarg, "peer", "client", NULL) < 0 ? -1 : 0;
	case OPT_HOLD:
		o->hold = strtod(optarg, NULL);
		return 0;
	case OPT_PPA:
		o->per_alloc = (unsigned)strtoul(optarg, NULL, 10);
		return 0;
	case OPT_SENDIND:
		o->send_ind = true;
		return 0;
	case OPT_ECHO:
		o->echo = true;
		return 0;
	case OPT_CORRUPT:
		o->corrupt = true;
		return 0;
	}
	return -1;
}

static int parse_opt(int c, struct bench_opts *o, struct raw_args *ra)
{
	int r = parse_common(c, o, ra);

	return r <= 0 ? r : parse_workload(c, o, ra);
}

static int finish_opts(struct bench_opts *o, const struct raw_args *ra)
{
	bool bulk = !strcmp(o->mode, "bulk");

	if (ra->transport && parse_enum(ra->transport, "udp", "tcp", NULL) < 0)
		return -1;
	o->udp = ra->transport ? !strcmp(ra->transport, "udp") : !strcmp(o->mode, "binding");
	if (!strcmp(o->mode, "udp"))
		o->udp = true;
	o->timeout_ms = ra->timeout > 0		      ? (unsigned)ra->timeout
			: !strcmp(o->mode, "binding") ? 1000
						      : 5000;
	if (o->udp && (bulk || !strcmp(o->mode, "connections")))
		return -1; /* RFC 6062 pairs are TCP */
	if (bulk)
		o->bytes = (uint64_t)(ra->count * 1048576.0);
	else
		o->count = (uint64_t)ra->count;
	if (ra->port < 1 || ra->port > 65535 || (int)o->dir < 0 || !o->pairs || !o->conns ||
	    !o->per_alloc || !o->concurrency || o->concurrency > 10000 || o->msg_len < 16 ||
	    o->msg_len > 65000 || o->seconds <= 0 || (o->user && !o->pass))
		return -1;
	if (net_addr_parse(ra->host, (uint16_t)ra->port, &o->server) < 0 ||
	    net_addr_parse(ra->peer_ip, 0, &o->peer_ip) < 0)
		return -1;
	return 0;
}

static int parse(int argc, char **argv, struct bench_opts *o)
{
	struct raw_args ra = {.host = "127.0.0.1", .peer_ip = "127.0.0.1", .port = 3478};
	int c;

	*o = (struct bench_opts){.mode = argv[0],
				 .progress = true,
				 .pairs = 1,
				 .conns = 100,
				 .per_alloc = 100,
				 .concurrency = 1,
				 .msg_len = 64,
				 .dir = BENCH_UP,
				 .seconds = 5,
				 .hold = 1};
	while ((c = getopt_long(argc, argv, "s:p:u:w:T:P:n:d:l:k:c:b:qhV", longopts, NULL)) != -1)
		if (parse_opt(c, o, &ra) < 0)
			return -1;
	if (optind < argc || finish_opts(o, &ra) < 0) {
		fprintf(stderr, "kturn-bench: invalid arguments (see kturn-bench --help)\n");
		return -1;
	}
	return 0;
}

static void print_binding(const struct bench_binding_opts *o, struct bench_binding_result *r,
			  bool json)
{
	double rate = r->elapsed_s > 0 ? (double)r->ok / r->elapsed_s : 0;
	double p50 = bench_lat__pct(&r->lat, 50) / 1e3, p90 = bench_lat__pct(&r->lat, 90) / 1e3,
	       p99 = bench_lat__pct(&r->lat, 99) / 1e3;

	if (json) {
		printf("{\"mode\":\"binding\",\"transport\":\"%s\",\"concurrency\":%u,"
		       "\"sent\":%llu,\"ok\":%llu,\"bad\":%llu,\"lost\":%llu,"
		       "\"elapsed_s\":%.3f,\"rate_per_s\":%.1f,"
		       "\"p50_us\":%.1f,\"p90_us\":%.1f,\"p99_us\":%.1f}\n",
		       o->tcp ? "tcp" : "udp", o->concurrency, (unsigned long long)r->sent,
		       (unsigned long long)r->ok, (unsigned long long)r->bad,
		       (unsigned long long)r->lost, r->elapsed_s, rate, p50, p90, p99);
		return;
	}
	printf("binding/%s  concurrency %u  %.2f s\n", o->tcp ? "tcp" : "udp", o->concurrency,
	       r->elapsed_s);
	printf("  sent %llu  ok %llu  bad %llu  lost %llu\n", (unsigned long long)r->sent,
	       (unsigned long long)r->ok, (unsigned long long)r->bad, (unsigned long long)r->lost);
	printf("  %.0f req/s  latency p50 %.1f us  p90 %.1f us  p99 %.1f us\n", rate, p50, p90,
	       p99);
}

static int run_binding(const struct bench_opts *bo)
{
	struct bench_binding_opts o = {.server = bo->server,
				       .tcp = !bo->udp,
				       .concurrency = bo->concurrency,
				       .count = bo->count,
				       .seconds = bo->seconds,
				       .timeout_ms = bo->timeout_ms,
				       .progress = bo->progress};
	struct bench_binding_result r;
	int err = bench_binding__run(&o, &r);

	if (!err)
		print_binding(&o, &r, bo->json);
	bench_lat__free(&r.lat);
	return err ? err : (r.bad || !r.ok ? 1 : 0);
}

static const struct {
	const char *name;
	int (*run)(const struct bench_opts *o);
} modes[] = {
	{"binding", run_binding},	   {"bulk", bench_bulk__run},
	{"pingpong", bench_pingpong__run}, {"connections", bench_conns__run},
	{"allocs", bench_allocs__run},	   {"udp", bench_udp__run},
};

int main(int argc, char **argv)
{
	struct bench_opts o;

	if (argc >= 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
		usage(stdout);
		return 0;
	}
	if (argc >= 2 && (!strcmp(argv[1], "--version") || !strcmp(argv[1], "-V"))) {
		printf("kturn-bench %s\n", KTURN_VERSION);
		return 0;
	}
	for (size_t i = 0; argc >= 2 && i < sizeof(modes) / sizeof(modes[0]); i++) {
		int err;

		if (strcmp(argv[1], modes[i].name))
			continue;
		if (parse(argc - 1, argv + 1, &o) < 0)
			return 2;
		err = modes[i].run(&o);
		if (err < 0)
			fprintf(stderr, "kturn-bench %s: %s\n", o.mode, strerror(-err));
		return err < 0 ? 1 : err;
	}
	usage(stderr);
	return 2;
}
