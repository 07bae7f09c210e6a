// SPDX-License-Identifier: MIT
/*
 * kturnctl: inspect and steer a kturn host. Commands ask kturnd over its
 * control socket (protocol: include/kturn/ctl.h); when kturnd is not
 * reachable, kturnctl says so and shows what the pinned BPF maps still hold
 * (they outlive the process), exiting with 3.
 */
#include <bpf/bpf.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "kturn/bpf_abi.h"
#include "kturn/ctl.h"

/* exit statuses */
#define EXIT_OK		 0
#define EXIT_FAIL	 1
#define EXIT_USAGE	 2
#define EXIT_UNREACHABLE 3

#define REPLY_TIMEOUT_S 10

struct ctl {
	const char *pin_dir;
	const char *socket;
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
		       ",\"redirect_fail\":%" PRIu64 ",\"pauses\":%" PRIu64
		       ",\"repeated_bytes\":%" PRIu64 "}",
		       first ? "" : ",", (uint64_t)cookie, (uint64_t)l->partner_cookie, l->alloc_id,
		       l->pair_id, l->flags & KTURN_LINK_F_SIDE_B ? "peer" : "client",
		       (uint64_t)k->fwd_bytes, (uint64_t)k->fwd_packets, (uint64_t)k->pass_bytes,
		       (uint64_t)k->redirect_fail, (uint64_t)k->pauses,
		       (uint64_t)k->repeated_bytes);
		return;
	}
	printf("%-20" PRIu64 " %-20" PRIu64 " %10u %10u %-6s %14" PRIu64 " %10" PRIu64 " %10" PRIu64
	       " %6" PRIu64 " %6" PRIu64 " %10" PRIu64 "\n",
	       (uint64_t)cookie, (uint64_t)l->partner_cookie, l->alloc_id, l->pair_id,
	       l->flags & KTURN_LINK_F_SIDE_B ? "peer" : "client", (uint64_t)k->fwd_bytes,
	       (uint64_t)k->fwd_packets, (uint64_t)k->pass_bytes, (uint64_t)k->redirect_fail,
	       (uint64_t)k->pauses, (uint64_t)k->repeated_bytes);
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
		printf("%-20s %-20s %10s %10s %-6s %14s %10s %10s %6s %6s %10s\n", "cookie",
		       "partner", "alloc", "pair", "side", "fwd_bytes", "fwd_pkts", "parked",
		       "fail", "pauses", "repeated");
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

/* kturn_alloc_cnt as pinned: what the BPF plane counted per allocation. */
static int cmd_pinned_allocs(const struct ctl *c)
{
	int fd = open_pinned(c, KTURN_MAP_ALLOC_CNT);
	__u32 key, next, *prev = NULL;
	bool first = true;

	if (fd < 0)
		return -ENOENT;
	if (c->json)
		printf("[");
	else
		printf("%-10s %14s %10s %14s %10s\n", "alloc", "up_bytes", "up_pkts", "down_bytes",
		       "down_pkts");
	while (bpf_map_get_next_key(fd, prev, &next) == 0) {
		struct kturn_alloc_counters k;

		key = next;
		prev = &key;
		if (bpf_map_lookup_elem(fd, &key, &k) < 0)
			continue;
		if (c->json)
			printf("%s{\"alloc_id\":%u,\"up_bytes\":%llu,\"up_packets\":%llu,"
			       "\"down_bytes\":%llu,\"down_packets\":%llu}",
			       first ? "" : ",", key, (unsigned long long)k.up_bytes,
			       (unsigned long long)k.up_packets, (unsigned long long)k.down_bytes,
			       (unsigned long long)k.down_packets);
		else
			printf("%-10u %14llu %10llu %14llu %10llu\n", key,
			       (unsigned long long)k.up_bytes, (unsigned long long)k.up_packets,
			       (unsigned long long)k.down_bytes,
			       (unsigned long long)k.down_packets);
		first = false;
	}
	if (c->json)
		printf("]\n");
	close(fd);
	return 0;
}

/* Connected to kturnd's control socket, or -errno. */
static int ctl_connect(const struct ctl *c)
{
	struct timeval tv = {.tv_sec = REPLY_TIMEOUT_S};
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	int fd, err;

	if (strlen(c->socket) >= sizeof(sun.sun_path))
		return -ENAMETOOLONG;
	strcpy(sun.sun_path, c->socket);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
		err = -errno;
		close(fd);
		return err;
	}
	return fd;
}

/* The whole reply (NUL-terminated, caller frees) or NULL with errno set. */
static char *read_reply(int fd)
{
	size_t len = 0, cap = 4096;
	char *buf = malloc(cap), *n;
	ssize_t r;

	while (buf) {
		if (len + 1 == cap) {
			n = realloc(buf, cap * 2);
			if (!n)
				break;
			buf = n;
			cap *= 2;
		}
		r = read(fd, buf + len, cap - 1 - len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			break;
		if (r == 0) {
			buf[len] = '\0';
			return buf;
		}
		len += (size_t)r;
	}
	free(buf);
	return NULL;
}

/*
 * One request to kturnd. EXIT_OK with the body on stdout, EXIT_FAIL with
 * kturnd's reason on stderr, or EXIT_UNREACHABLE (said on stderr).
 */
static int ctl_request(const struct ctl *c, const char *cmd)
{
	char line[CTL_LINE_MAX + 2], *reply, *body;
	int fd = ctl_connect(c), len;

	if (fd < 0) {
		fprintf(stderr, "kturnctl: kturnd is not reachable at %s: %s\n", c->socket,
			strerror(-fd));
		return EXIT_UNREACHABLE;
	}
	len = snprintf(line, sizeof(line), "%s %s\n", c->json ? "json" : "text", cmd);
	if (len < 0 || (size_t)len >= sizeof(line) || write(fd, line, (size_t)len) != len ||
	    !(reply = read_reply(fd))) {
		fprintf(stderr, "kturnctl: %s: %s\n", c->socket, strerror(errno ? errno : EIO));
		close(fd);
		return EXIT_UNREACHABLE;
	}
	close(fd);
	body = strchr(reply, '\n');
	body = body ? body + 1 : reply + strlen(reply);
	if (!strncmp(reply, "ok\n", 3)) {
		fputs(body, stdout);
		free(reply);
		return EXIT_OK;
	}
	body[-1 + (body > reply)] = '\0';
	fprintf(stderr, "kturnctl: %s\n",
		!strncmp(reply, "error ", 6) ? reply + 6 : "malformed reply from kturnd");
	free(reply);
	return EXIT_FAIL;
}

/* A command kturnd answers; when it is gone, fall back to the pinned maps. */
static int run_live(const struct ctl *c, const char *cmd, int (*pinned)(const struct ctl *),
		    int *pinned_err)
{
	int rc = ctl_request(c, cmd), err;

	if (rc != EXIT_UNREACHABLE || !pinned)
		return rc;
	fprintf(stderr, "kturnctl: showing what the pinned maps in %s hold\n", c->pin_dir);
	err = pinned(c);
	if (pinned_err)
		*pinned_err = err;
	return EXIT_UNREACHABLE;
}

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: kturnctl [OPTION]... COMMAND [ARG]\n"
		"Inspect and control a running kturnd (TURN server) through its control\n"
		"socket, and read the BPF maps its sockmap data plane pins.\n"
		"\n"
		"Commands:\n"
		"  status          version, node, uptime, workers, data plane, allocation and\n"
		"                  bridged pair counts\n"
		"  allocations     one row per allocation: id, user, client 5-tuple, relayed\n"
		"                  address(es), permissions/channels, pairs, bytes each way,\n"
		"                  lifetime left\n"
		"  pairs           one row per bridged RFC 6062 pair: client and peer address,\n"
		"                  data plane, bytes and packets each way, socket cookies\n"
		"  kill ID         delete allocation ID as a Refresh with LIFETIME 0 would,\n"
		"                  closing its peer connections and pairs\n"
		"  users reload    re-read the credentials and the TLS certificate from the\n"
		"                  configuration (as SIGHUP)\n"
		"  info            the pinned data plane: ABI version, owner process (maps only)\n"
		"\n"
		"Options:\n"
		"  -s, --socket PATH   kturnd's control socket (default %s)\n"
		"  -d, --pin-dir DIR   pinned BPF maps (default %s)\n"
		"  -j, --json          JSON output for scripts instead of tables\n"
		"  -h, --help          this help\n"
		"  -V, --version       print the version and exit\n"
		"\n"
		"When kturnd is not reachable, kturnctl says so on stderr; status, allocations\n"
		"and pairs then print what the pinned maps still hold (per socket for pairs,\n"
		"per allocation for allocations, the owner for status).\n"
		"\n"
		"Exit status: 0 success (also pairs answered from the pinned maps alone),\n"
		"1 failure (kturnd refused the command, e.g. no such allocation; maps not\n"
		"readable), 2 usage error, 3 kturnd not reachable (status, allocations,\n"
		"kill, users reload).\n",
		CTL_SOCKET_DEFAULT, KTURN_PIN_DIR_DEFAULT);
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"pin-dir", required_argument, NULL, 'd'}, {"socket", required_argument, NULL, 's'},
		{"json", no_argument, NULL, 'j'},	   {"help", no_argument, NULL, 'h'},
		{"version", no_argument, NULL, 'V'},	   {0},
	};
	struct ctl c = {.pin_dir = KTURN_PIN_DIR_DEFAULT, .socket = CTL_SOCKET_DEFAULT};
	const char *cmd, *arg;
	char line[CTL_LINE_MAX];
	int opt, nargs;

	while ((opt = getopt_long(argc, argv, "d:s:jhV", longopts, NULL)) != -1) {
		if (opt == 'd') {
			c.pin_dir = optarg;
		} else if (opt == 's') {
			c.socket = optarg;
		} else if (opt == 'j') {
			c.json = true;
		} else if (opt == 'V') {
			printf("kturnctl %s\n", KTURN_VERSION);
			return EXIT_OK;
		} else {
			usage(opt == 'h' ? stdout : stderr);
			return opt == 'h' ? EXIT_OK : EXIT_USAGE;
		}
	}
	nargs = argc - optind;
	cmd = nargs > 0 ? argv[optind] : "";
	arg = nargs > 1 ? argv[optind + 1] : NULL;
	if (nargs == 1 && !strcmp(cmd, "info"))
		return cmd_info(&c) ? EXIT_FAIL : EXIT_OK;
	if (nargs == 1 && !strcmp(cmd, "status"))
		return run_live(&c, "status", cmd_info, NULL);
	if (nargs == 1 && !strcmp(cmd, "allocations"))
		return run_live(&c, "allocations", cmd_pinned_allocs, NULL);
	if (nargs == 1 && !strcmp(cmd, "pairs")) {
		/* the pinned maps hold every spliced socket: a full answer on their own */
		int err = -ENOENT, rc = run_live(&c, "pairs", cmd_pairs, &err);

		return rc == EXIT_UNREACHABLE && !err ? EXIT_OK : rc;
	}
	if (nargs == 2 && !strcmp(cmd, "kill") && strspn(arg, "0123456789") == strlen(arg)) {
		snprintf(line, sizeof(line), "kill %s", arg);
		return run_live(&c, line, NULL, NULL);
	}
	if (nargs == 2 && !strcmp(cmd, "users") && !strcmp(arg, "reload"))
		return run_live(&c, "users reload", NULL, NULL);
	usage(stderr);
	return EXIT_USAGE;
}
