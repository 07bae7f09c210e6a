// SPDX-License-Identifier: MIT
/*
 * kturnctl: inspect a kturn host. This stage reads the pinned BPF maps
 * (works while kturnd runs and after it died); the control-socket commands
 * (status, allocations, kill, users reload) come with the control plane.
 *
 *   kturnctl [--pin-dir DIR] [--json] info
 *   kturnctl [--pin-dir DIR] [--json] pairs
 */
#include <bpf/bpf.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kturn/bpf_abi.h"

struct ctl {
	const char *pin_dir;
	bool json;
};

static int open_pinned(const struct ctl *c, const char *name)
{
	char path[512];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", c->pin_dir, name);
	fd = bpf_obj_get(path);
	if (fd < 0)
		fprintf(stderr, "kturnctl: %s: %s\n", path, strerror(errno));
	return fd;
}

static int read_info(const struct ctl *c, struct kturn_info *info)
{
	__u32 key = 0;
	int fd = open_pinned(c, KTURN_MAP_INFO), err = 0;

	if (fd < 0)
		return -errno;
	if (bpf_map_lookup_elem(fd, &key, info) < 0)
		err = -errno;
	close(fd);
	return err;
}

static int cmd_info(const struct ctl *c)
{
	struct kturn_info info;
	bool alive;
	int err = read_info(c, &info);

	if (err)
		return err;
	alive = info.owner_pid && kill((pid_t)info.owner_pid, 0) == 0;
	if (c->json)
		printf("{\"pin_dir\":\"%s\",\"abi_version\":%u,\"owner_pid\":%u,"
		       "\"owner_alive\":%s,\"max_socks\":%u}\n",
		       c->pin_dir, info.abi_version, info.owner_pid, alive ? "true" : "false",
		       info.max_socks);
	else
		printf("pin dir      %s\nabi version  %u%s\nowner pid    %u (%s)\nmax sockets  "
		       "%u\n",
		       c->pin_dir, info.abi_version,
		       info.abi_version == KTURN_BPF_ABI_VERSION ? "" : " (not this kturnctl's)",
		       info.owner_pid, alive ? "running" : "gone", info.max_socks);
	return 0;
}

static void print_pair_row(const struct ctl *c, __u64 cookie, const struct kturn_sock_link *l,
			   const struct kturn_sock_counters *k, bool first)
{
	if (c->json) {
		printf("%s{\"cookie\":%" PRIu64 ",\"partner\":%" PRIu64 ",\"alloc_id\":%u,"
		       "\"pair_id\":%u,\"side\":\"%s\",\"fwd_bytes\":%" PRIu64
		       ",\"fwd_packets\":%" PRIu64 ",\"pass_bytes\":%" PRIu64
		       ",\"redirect_fail\":%" PRIu64 ",\"pauses\":%" PRIu64 "}",
		       first ? "" : ",", (uint64_t)cookie, (uint64_t)l->partner_cookie, l->alloc_id,
		       l->pair_id, l->flags & KTURN_LINK_F_SIDE_B ? "peer" : "client",
		       (uint64_t)k->fwd_bytes, (uint64_t)k->fwd_packets, (uint64_t)k->pass_bytes,
		       (uint64_t)k->redirect_fail, (uint64_t)k->pauses);
		return;
	}
	printf("%-20" PRIu64 " %-20" PRIu64 " %10u %10u %-6s %14" PRIu64 " %10" PRIu64 " %10" PRIu64
	       " %6" PRIu64 " %6" PRIu64 "\n",
	       (uint64_t)cookie, (uint64_t)l->partner_cookie, l->alloc_id, l->pair_id,
	       l->flags & KTURN_LINK_F_SIDE_B ? "peer" : "client", (uint64_t)k->fwd_bytes,
	       (uint64_t)k->fwd_packets, (uint64_t)k->pass_bytes, (uint64_t)k->redirect_fail,
	       (uint64_t)k->pauses);
}

/* One row per spliced socket: its link and the bytes it received. */
static int cmd_pairs(const struct ctl *c)
{
	int link_fd = open_pinned(c, KTURN_MAP_LINK), cnt_fd = open_pinned(c, KTURN_MAP_SOCK_CNT);
	__u64 key, next, *prev = NULL;
	bool first = true;
	int err = 0;

	if (link_fd < 0 || cnt_fd < 0) {
		err = -ENOENT;
		goto out;
	}
	if (c->json)
		printf("[");
	else
		printf("%-20s %-20s %10s %10s %-6s %14s %10s %10s %6s %6s\n", "cookie", "partner",
		       "alloc", "pair", "side", "fwd_bytes", "fwd_pkts", "parked", "fail",
		       "pauses");
	while (bpf_map_get_next_key(link_fd, prev, &next) == 0) {
		struct kturn_sock_link l;
		struct kturn_sock_counters k = {0};

		key = next;
		prev = &key;
		if (bpf_map_lookup_elem(link_fd, &key, &l) < 0)
			continue; /* removed meanwhile */
		bpf_map_lookup_elem(cnt_fd, &key, &k);
		print_pair_row(c, key, &l, &k, first);
		first = false;
	}
	if (c->json)
		printf("]\n");
out:
	if (link_fd >= 0)
		close(link_fd);
	if (cnt_fd >= 0)
		close(cnt_fd);
	return err;
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: kturnctl [--pin-dir DIR] [--json] COMMAND\n"
		"commands:\n"
		"  info     the pinned data plane: ABI version, owner process\n"
		"  pairs    spliced sockets with their partner and counters\n"
		"default pin dir: %s\n",
		KTURN_PIN_DIR_DEFAULT);
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"pin-dir", required_argument, NULL, 'd'},
		{"json", no_argument, NULL, 'j'},
		{"help", no_argument, NULL, 'h'},
		{0},
	};
	struct ctl c = {.pin_dir = KTURN_PIN_DIR_DEFAULT};
	int opt, err;

	while ((opt = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		if (opt == 'd')
			c.pin_dir = optarg;
		else if (opt == 'j')
			c.json = true;
		else {
			usage(opt == 'h' ? stdout : stderr);
			return opt == 'h' ? 0 : 2;
		}
	}
	if (optind != argc - 1) {
		usage(stderr);
		return 2;
	}
	if (!strcmp(argv[optind], "info"))
		err = cmd_info(&c);
	else if (!strcmp(argv[optind], "pairs"))
		err = cmd_pairs(&c);
	else {
		usage(stderr);
		return 2;
	}
	return err ? 1 : 0;
}
