// SPDX-License-Identifier: MIT
/*
 * kturn-bench: load generator for STUN/TURN servers (kturnd, coturn, ...).
 *
 *   kturn-bench binding [-s HOST] [-p PORT] [-T udp|tcp] [-c CONC] [-n COUNT | -d SECONDS]
 *                       [--timeout MS] [--json] [-q]
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kturn/bench.h"
#include "kturn/net.h"

static void usage(FILE *f)
{
	fprintf(f, "usage: kturn-bench MODE [options]\n"
		   "modes:\n"
		   "  binding    STUN Binding round trips (rate and latency)\n"
		   "options:\n"
		   "  -s, --server IP       server address (default 127.0.0.1)\n"
		   "  -p, --port PORT       server port (default 3478)\n"
		   "  -T, --transport T     udp or tcp (default udp)\n"
		   "  -c, --concurrency N   sockets, one request in flight each (default 1)\n"
		   "  -n, --count N         stop after N responses\n"
		   "  -d, --duration SEC    stop after SEC seconds (default 5)\n"
		   "      --timeout MS      UDP loss timeout (default 1000)\n"
		   "      --json            print the result as JSON\n"
		   "  -q, --quiet           no per-second progress lines\n");
}

static void print_result(const struct bench_binding_opts *o, struct bench_binding_result *r,
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

static int parse_binding(int argc, char **argv, struct bench_binding_opts *o, bool *json)
{
	static const struct option longopts[] = {
		{"server", required_argument, NULL, 's'},
		{"port", required_argument, NULL, 'p'},
		{"transport", required_argument, NULL, 'T'},
		{"concurrency", required_argument, NULL, 'c'},
		{"count", required_argument, NULL, 'n'},
		{"duration", required_argument, NULL, 'd'},
		{"timeout", required_argument, NULL, 't'},
		{"json", no_argument, NULL, 'j'},
		{"quiet", no_argument, NULL, 'q'},
		{"help", no_argument, NULL, 'h'},
		{0},
	};
	const char *host = "127.0.0.1";
	long port = 3478;
	int c;

	*o = (struct bench_binding_opts){
		.concurrency = 1, .seconds = 5, .timeout_ms = 1000, .progress = true};
	while ((c = getopt_long(argc, argv, "s:p:T:c:n:d:qh", longopts, NULL)) != -1) {
		switch (c) {
		case 's':
			host = optarg;
			break;
		case 'p':
			port = strtol(optarg, NULL, 10);
			break;
		case 'T':
			o->tcp = !strcmp(optarg, "tcp");
			break;
		case 'c':
			o->concurrency = (unsigned)strtoul(optarg, NULL, 10);
			break;
		case 'n':
			o->count = strtoull(optarg, NULL, 10);
			break;
		case 'd':
			o->seconds = strtod(optarg, NULL);
			break;
		case 't':
			o->timeout_ms = (unsigned)strtoul(optarg, NULL, 10);
			break;
		case 'j':
			*json = true;
			break;
		case 'q':
			o->progress = false;
			break;
		case 'h':
			usage(stdout);
			exit(0);
		default:
			return -1;
		}
	}
	if (port < 1 || port > 65535 || o->concurrency < 1 || o->concurrency > 10000 ||
	    net_addr_parse(host, (uint16_t)port, &o->server) < 0) {
		fprintf(stderr, "kturn-bench: invalid server, port or concurrency\n");
		return -1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct bench_binding_opts o;
	struct bench_binding_result r;
	bool json = false;
	int err;

	if (argc < 2 || strcmp(argv[1], "binding")) {
		usage(stderr);
		return 2;
	}
	if (parse_binding(argc - 1, argv + 1, &o, &json) < 0)
		return 2;
	err = bench_binding__run(&o, &r);
	if (err) {
		fprintf(stderr, "kturn-bench: %s\n", strerror(-err));
		bench_lat__free(&r.lat);
		return 1;
	}
	print_result(&o, &r, json);
	bench_lat__free(&r.lat);
	return r.bad || !r.ok ? 1 : 0;
}
