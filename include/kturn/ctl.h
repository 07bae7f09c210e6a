/* SPDX-License-Identifier: MIT */
/*
 * kturnd's control socket, for kturnctl: a unix stream socket (mode 0600,
 * the daemon's user; only that user or root may talk to it) served by the
 * main thread's event loop.
 *
 * Protocol, one exchange per connection:
 *   request  one line, at most CTL_LINE_MAX bytes, '\n'-terminated:
 *            FORMAT COMMAND [ARG]      FORMAT is "json" or "text"
 *            commands: status | allocations | pairs | kill ID | users reload
 *   reply    a status line, "ok\n" or "error <reason>\n", then the body in
 *            FORMAT (json: one JSON document; text: a human table), then
 *            the server closes the connection.
 * Example:
 *   $ printf 'json kill 7\n' | socat - UNIX-CONNECT:/run/kturn/kturnd.sock
 *   ok
 *   {"killed":7}
 *
 * The allocations and pairs live in the workers: a command asks each one in
 * turn (workers__call) and waits for its answer, so nothing is shared. A
 * command takes a few milliseconds; the main thread does nothing else
 * meanwhile but signals, which wait.
 */
#ifndef KTURN_CTL_H
#define KTURN_CTL_H

#include <stdint.h>

#include "kturn/loop.h"
#include "kturn/strbuf.h"

#define CTL_SOCKET_DEFAULT "/run/kturn/kturnd.sock"
#define CTL_LINE_MAX	   1024

struct workers;
struct ctl_server;

/* What the commands need from the daemon. */
struct ctl_daemon {
	struct workers *workers;
	const char *node;	/* kturn-node-name */
	const char *data_plane; /* "sockmap" or "splice" */
	const char *pin_dir;	/* sockmap plane: where the maps are pinned; else NULL */
	uint64_t start_ms;	/* CLOCK_MONOTONIC ms at start, for uptime */
	/* users reload: re-read the credentials as SIGHUP does; 0 or -errno */
	int (*reload)(void *arg);
	void *reload_arg;
};

/*
 * Listen on path (its directory is made, mode 0755, when missing). A stale
 * socket left by a dead kturnd is replaced; -EADDRINUSE when a live one
 * answers there. d must outlive the server. 0 or -errno.
 */
int ctl_server__new(struct ctl_server **out, struct loop *l, const char *path,
		    const struct ctl_daemon *d);
/* Stop listening; unlink the socket if it is still ours. NULL is a no-op. */
void ctl_server__free(struct ctl_server *c);

/*
 * Run one request line (without its newline): the reply body goes to out.
 * 0, or -errno with a one-line reason in *why (-EINVAL: bad request,
 * -ENOENT: no such allocation).
 */
int ctl__run(const struct ctl_daemon *d, const char *line, struct strbuf *out, const char **why);

#endif /* KTURN_CTL_H */
