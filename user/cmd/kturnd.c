// SPDX-License-Identifier: MIT
/* kturnd: parse the configuration, open the log, run the server loop. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#include "kturn/conf.h"
#include "kturn/ctl.h"
#include "kturn/dataplane.h"
#include "kturn/log.h"
#include "kturn/loop.h"
#include "kturn/metrics.h"
#include "kturn/net.h"
#include "kturn/server.h"
#include "kturn/stun.h"
#include "kturn/tls.h"
#include "kturn/turn.h"
#include "kturn/workers.h"

#define SOFTWARE "kturn/" KTURN_VERSION

/*
 * kturn-alternate-max-bps: once a second the main thread sums what every
 * worker relayed (as a scrape does) and stores the rate of the last second
 * in turn_shared, where Allocate compares it with the ceiling.
 */
struct rate_sampler {
	struct loop_timer t;
	struct turn_metrics *m; /* scratch: a scrape is too big for the stack */
	uint64_t bytes;		/* relayed at the last sample */
	uint64_t at_ms;		/* CLOCK_MONOTONIC of the last sample */
};

struct daemon {
	int argc; /* for re-reading the configuration on SIGHUP */
	char **argv;
	struct turn_shared *turn;
	struct sockmap *sm; /* NULL: splice() plane only */
	struct loop *loop;  /* the main thread's: signals only */
	struct workers *workers;
	struct loop_watch sig;
	int sigfd;
	struct ctl_daemon ctl_d; /* what kturnctl's commands see */
	struct ctl_server *ctl;
	struct metrics *metrics;
	struct tls_store *tls; /* NULL: no TLS listener */
	struct rate_sampler rate;
	char node[256];
};

/*
 * The TLS listener's certificate and key, re-read from the (re-read) paths.
 * A listener cannot be added or removed here: that takes a restart.
 */
static int reload_tls(struct daemon *d, const struct kturn_conf *c)
{
	if (!d->tls) {
		if (!c->no_tls && c->cert && c->pkey)
			klog_warn("reload: no TLS listener runs; a restart starts one");
		return 0;
	}
	if (c->no_tls || !c->cert || !c->pkey) {
		klog_warn("reload: TLS is now off or has no cert/pkey; the TLS listener keeps its "
			  "certificate until kturnd restarts");
		return 0;
	}
	return tls_store__reload(d->tls, c->cert, c->pkey);
}

/*
 * Re-read the configuration: credentials and the TLS certificate change,
 * allocations and connections stay. Each part that fails keeps its current
 * value. 0 or -errno (the first failure).
 */
static int reload(struct daemon *d)
{
	struct kturn_conf c;
	int err, tls_err;

	conf__defaults(&c);
	err = conf__load(&c, d->argc, d->argv);
	conf__log_diags(&c);
	if (err) {
		klog_err("reload: configuration has errors, keeping the current credentials and "
			 "TLS certificate");
		conf__free(&c);
		return -EINVAL;
	}
	if (d->turn && (err = turn_shared__reload(d->turn, &c)) < 0)
		klog_err("reload failed: %s", strerror(-err));
	tls_err = reload_tls(d, &c);
	conf__free(&c);
	return err ? err : tls_err;
}

static int ctl_reload(void *arg)
{
	klog_info("kturnctl: reloading credentials and TLS certificate");
	return reload(arg);
}

static void on_signal(struct loop_watch *w, uint32_t events)
{
	struct daemon *d = w->arg;
	struct signalfd_siginfo si;

	while (read(d->sigfd, &si, sizeof(si)) == sizeof(si)) {
		if (si.ssi_signo == SIGHUP) {
			klog_info("SIGHUP: reopening log, reloading credentials and TLS cert");
			log__reopen();
			reload(d);
			continue;
		}
		klog_info("%s: shutting down", strsignal((int)si.ssi_signo));
		loop__stop(d->loop);
	}
}

static int signals_setup(struct daemon *d)
{
	sigset_t set;

	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	if (sigprocmask(SIG_BLOCK, &set, NULL) < 0)
		return -errno;
	d->sigfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
	if (d->sigfd < 0)
		return -errno;
	loop_watch__init(&d->sig, d->sigfd, on_signal, d);
	return loop__add(d->loop, &d->sig, EPOLLIN);
}

/* Listening addresses from the configuration; both wildcards when none is set. */
static int listen_addrs(const struct kturn_conf *c, uint16_t port, struct sockaddr_storage **out,
			size_t *n)
{
	static const char *const any[] = {"0.0.0.0", "::"};
	size_t count = c->listening_ips.n ? c->listening_ips.n : 2;
	struct sockaddr_storage *a = calloc(count, sizeof(*a));

	if (!a)
		return -ENOMEM;
	for (size_t i = 0; i < count; i++) {
		const char *ip = c->listening_ips.n ? c->listening_ips.v[i] : any[i];

		if (net_addr_parse(ip, port, &a[i]) < 0) {
			klog_err("listening-ip '%s' is not an IP address", ip);
			free(a);
			return -EINVAL;
		}
	}
	*out = a;
	*n = count;
	return 0;
}

static int pidfile_write(const char *path)
{
	char buf[32];
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	int len = snprintf(buf, sizeof(buf), "%d\n", (int)getpid());

	if (fd < 0)
		return -errno;
	if (write(fd, buf, (size_t)len) != len) {
		int err = -errno;

		close(fd);
		return err;
	}
	return close(fd) < 0 ? -errno : 0;
}

/*
 * Options the configuration parser stores but this build does not act on
 * yet (the TURN relay, auth, TLS, metrics arrive in later versions): say so
 * once at start, so no operator believes a limit or a filter is enforced.
 * Remove a line here in the commit that implements the option.
 */
static void warn_inert_options(const struct kturn_conf *c)
{
	const struct {
		bool set;
		const char *name;
	} inert[] = {
		{c->syslog, "syslog"},
	};

	for (size_t i = 0; i < sizeof(inert) / sizeof(inert[0]); i++)
		if (inert[i].set)
			klog_warn("option '%s' is accepted but not implemented yet by kturnd %s; "
				  "it has no effect",
				  inert[i].name, KTURN_VERSION);
}

/*
 * Every relayed TCP pair holds two descriptors (four more on the splice
 * plane, for its pipes): take the whole hard limit, as a server must.
 */
static void raise_fd_limit(void)
{
	struct rlimit r;

	if (getrlimit(RLIMIT_NOFILE, &r) < 0 || r.rlim_cur >= r.rlim_max)
		return;
	r.rlim_cur = r.rlim_max;
	if (setrlimit(RLIMIT_NOFILE, &r) == 0)
		klog_info("file descriptor limit raised to %llu", (unsigned long long)r.rlim_cur);
}

static void log_startup(const struct kturn_conf *c)
{
	warn_inert_options(c);
	klog_info("kturnd %s starting (pid %d)", KTURN_VERSION, (int)getpid());
	if (c->realm)
		klog_info("realm %s", c->realm);
	for (size_t i = 0; i < c->users.n; i++)
		klog_info("user %s", c->users.v[i].name);
}

/* kturn-workers, 0 = one per online CPU. */
static unsigned worker_count(const struct kturn_conf *c)
{
	long n = c->workers ? (long)c->workers : sysconf(_SC_NPROCESSORS_ONLN);

	return n > 0 ? (unsigned)n : 1;
}

/*
 * TURN over TLS when a certificate and key are configured and no-tls is not
 * set; like coturn, no certificate means no TLS listener (said at start).
 */
static int tls_setup(const struct kturn_conf *c, struct daemon *d, struct server_opts *so,
		     struct sockaddr_storage **addrs)
{
	int err;

	if (c->no_tls)
		return 0;
	if (!c->cert || !c->pkey) {
		klog_warn("no cert/pkey configured: TLS listener on port %u not started",
			  c->tls_listening_port);
		return 0;
	}
	err = tls_store__new(&d->tls, c->cert, c->pkey);
	if (err) {
		klog_err("cannot use cert %s / pkey %s", c->cert, c->pkey);
		return err;
	}
	so->tls = d->tls;
	err = listen_addrs(c, c->tls_listening_port, addrs, &so->n_tls_listen);
	so->tls_listen = *addrs;
	return err;
}

/*
 * kturn-data-plane: auto and splice never load BPF; sockmap insists (fails
 * to start without it).
 */
static int open_data_plane(const struct kturn_conf *c, struct sockmap **sm)
{
	struct sockmap_opts o = {
		.pin_dir = c->bpf_pin_dir,
		.clean_incompatible = true,
		.unpin_on_close = true,
	};
	int err;

	*sm = NULL;
	/*
	 * auto is splice for now: on the sockmap plane, after the kernel has
	 * repeated an skb on the parking path (cut by kturnd), the last bytes
	 * of a burst can stay in the socket with no verdict to come until more
	 * data arrives (README "Data planes"; include/kturn/sockmap_pair.h).
	 */
	if (c->data_plane != CONF_DATA_PLANE_SOCKMAP) {
		klog_info("data plane: splice (kturn-data-plane=%s)",
			  c->data_plane == CONF_DATA_PLANE_SPLICE ? "splice" : "auto");
		return 0;
	}
	err = sockmap__open(sm, &o);
	if (!err) {
		klog_info("data plane: sockmap, maps pinned in %s", sockmap__pin_dir(*sm));
		return 0;
	}
	klog_err("kturn-data-plane=sockmap: cannot load the BPF data plane: %s", strerror(-err));
	return err;
}

static uint64_t mono_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000 + (uint64_t)t.tv_nsec / 1000000;
}

#define RATE_PERIOD_MS 1000

static void rate_sample(struct loop_timer *t)
{
	struct daemon *d = t->arg;
	struct rate_sampler *r = &d->rate;
	uint64_t now = mono_ms(), bytes, dt;

	metrics__gather(d->workers, r->m);
	bytes = metrics__relayed_bytes(r->m);
	dt = now > r->at_ms ? now - r->at_ms : 1;
	/* counters only grow; a smaller sum (a worker skipped while stopping) counts as 0 */
	turn_shared__set_rate(d->turn, bytes > r->bytes ? (bytes - r->bytes) * 8 * 1000 / dt : 0);
	r->bytes = bytes;
	r->at_ms = now;
	loop__timer_arm(d->loop, t, RATE_PERIOD_MS);
}

/* Only with kturn-alternate-max-bps: otherwise nobody reads the rate. */
static int rate_setup(const struct kturn_conf *c, struct daemon *d)
{
	if (!c->alternate_max_bps)
		return 0;
	d->rate.m = malloc(sizeof(*d->rate.m));
	if (!d->rate.m)
		return -ENOMEM;
	d->rate.at_ms = mono_ms();
	loop_timer__init(&d->rate.t, rate_sample, d);
	klog_info("alternate-server bandwidth ceiling: %" PRIu64 " bits/s relayed",
		  c->alternate_max_bps);
	return loop__timer_arm(d->loop, &d->rate.t, RATE_PERIOD_MS);
}

/*
 * kturnctl's socket. Not fatal: a TURN server that cannot be inspected
 * still serves (e.g. a second instance on the default path); said once.
 */
static void control_setup(const struct kturn_conf *c, struct daemon *d)
{
	const char *path = c->control_socket ? c->control_socket : CTL_SOCKET_DEFAULT;
	int err;

	if (!*path || !strcmp(path, "none"))
		return;
	d->ctl_d = (struct ctl_daemon){
		.workers = d->workers,
		.node = d->node,
		.data_plane = d->sm ? "sockmap" : "splice",
		.pin_dir = d->sm ? sockmap__pin_dir(d->sm) : NULL,
		.start_ms = mono_ms(),
		.reload = ctl_reload,
		.reload_arg = d,
	};
	err = ctl_server__new(&d->ctl, d->loop, path, &d->ctl_d);
	if (err)
		klog_warn("control socket %s: %s; kturnctl cannot reach this kturnd", path,
			  err == -EADDRINUSE ? "another kturnd answers there" : strerror(-err));
	else
		klog_info("control socket %s", path);
}

/* prometheus: /metrics on prometheus-address (else the first listening-ip, else any). */
static int metrics_setup(const struct kturn_conf *c, struct daemon *d)
{
	const char *ip = c->prometheus_address ? c->prometheus_address
			 : c->listening_ips.n  ? c->listening_ips.v[0]
					       : "0.0.0.0";
	struct metrics_opts o = {.node = d->node, .workers = d->workers};
	int err;

	if (!c->prometheus)
		return 0;
	if (net_addr_parse(ip, c->prometheus_port, &o.addr) < 0) {
		klog_err("prometheus-address '%s' is not an IP address", ip);
		return -EINVAL;
	}
	err = metrics__start(&d->metrics, &o);
	if (err)
		klog_err("prometheus: cannot serve on %s port %u: %s", ip, c->prometheus_port,
			 strerror(-err));
	else
		klog_info("prometheus metrics on http://%s%s%s:%u/metrics",
			  o.addr.ss_family == AF_INET6 ? "[" : "", ip,
			  o.addr.ss_family == AF_INET6 ? "]" : "", c->prometheus_port);
	return err;
}

static int serve(const struct kturn_conf *c, struct daemon *d)
{
	struct sockaddr_storage *addrs = NULL, *tls_addrs = NULL;
	bool wrote_pidfile = false;
	struct server_opts so = {
		.handler = {.software = c->software_attribute ? SOFTWARE : NULL,
			    .fingerprint = c->fingerprint},
		.udp = !c->no_udp,
		.tcp = !c->no_tcp,
		.max_msg = c->max_message_size,
		.tcp_idle_ms = c->tcp_idle_timeout * 1000,
		.tcp_tx_max = 256 * 1024,
	};
	int err = open_data_plane(c, &d->sm);

	if (!err)
		err = turn_shared__from_conf(&d->turn, c, so.handler.software, d->sm);

	so.turn = d->turn;
	if (!err)
		err = listen_addrs(c, c->listening_port, &addrs, &so.n_listen);

	so.listen = addrs;
	if (!err)
		err = tls_setup(c, d, &so, &tls_addrs);
	/* Signals are blocked before the workers start, so they inherit the mask. */
	if (!err)
		err = loop__new(&d->loop);
	if (!err)
		err = signals_setup(d);
	if (!err)
		err = workers__start(&d->workers, worker_count(c), &so);
	if (!err) {
		control_setup(c, d);
		err = metrics_setup(c, d);
	}
	if (!err)
		err = rate_setup(c, d);
	if (!err && c->pidfile && (err = pidfile_write(c->pidfile)) < 0)
		klog_err("cannot write pidfile %s: %s", c->pidfile, strerror(-err));
	else if (!err && c->pidfile)
		wrote_pidfile = true;
	if (!err) {
		klog_info("kturnd ready: %u worker%s", workers__count(d->workers),
			  workers__count(d->workers) == 1 ? "" : "s");
		err = loop__run(d->loop);
	}
	metrics__stop(d->metrics); /* both ask the workers: before they stop */
	ctl_server__free(d->ctl);
	workers__stop(d->workers); /* closes every allocation */
	turn_shared__free(d->turn);
	sockmap__close(d->sm); /* after the workers: no pair is left in the maps */
	if (d->sigfd > 0)
		close(d->sigfd);
	loop__free(d->loop);
	free(d->rate.m);
	tls_store__free(d->tls); /* after the workers: no session is made any more */
	free(tls_addrs);
	free(addrs);
	if (wrote_pidfile) /* never another instance's */
		unlink(c->pidfile);
	return err;
}

int main(int argc, char **argv)
{
	struct kturn_conf c;
	struct daemon d = {.sigfd = -1, .argc = argc, .argv = argv, .node = ""};
	int err, lerr;

	conf__defaults(&c);
	err = conf__load(&c, argc, argv);
	if (!err && c.show_help) {
		conf__usage(stdout, argv[0]);
		conf__free(&c);
		return 0;
	}
	if (!err && c.show_version) {
		printf("kturnd %s\n", KTURN_VERSION);
		conf__free(&c);
		return 0;
	}
	lerr = log__open(c.log_file, conf__log_level(&c));
	if (lerr < 0) {
		fprintf(stderr, "kturnd: cannot open log file %s: %s\n", c.log_file,
			strerror(-lerr));
		log__open(NULL, conf__log_level(&c));
	}
	conf__log_diags(&c);
	if (err) {
		/* Configuration errors always reach the terminal too. */
		for (size_t i = 0; c.log_file && i < c.n_diags; i++)
			if (c.diags[i].level == LOG_ERR)
				fprintf(stderr, "kturnd: %s\n", c.diags[i].msg);
		conf__free(&c);
		return 2;
	}
	if (c.node_name)
		snprintf(d.node, sizeof(d.node), "%s", c.node_name);
	else if (gethostname(d.node, sizeof(d.node) - 1) < 0)
		snprintf(d.node, sizeof(d.node), "unknown");
	log_startup(&c);
	raise_fd_limit();
	err = serve(&c, &d);
	if (err)
		klog_err("kturnd: %s", strerror(-err));
	else
		klog_info("kturnd stopped");
	conf__free(&c);
	log__close();
	return err ? 1 : 0;
}
