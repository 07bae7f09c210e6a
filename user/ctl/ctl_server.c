// SPDX-License-Identifier: MIT
/*
 * The control socket itself (kturn/ctl.h): listen, take one request line per
 * connection, answer, close. Clients are local and short-lived; each is
 * served to the end with 2-second socket timeouts, so a stuck client costs
 * the main thread at most that.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "kturn/ctl.h"
#include "kturn/log.h"

#define CTL_IO_TIMEOUT_S 2

struct ctl_server {
	struct loop *loop;
	struct loop_watch w;
	const struct ctl_daemon *d;
	char *path;
	dev_t dev; /* of the socket file we made: unlink only that one */
	ino_t ino;
};

static int sun_of(const char *path, struct sockaddr_un *sun)
{
	if (strlen(path) >= sizeof(sun->sun_path))
		return -ENAMETOOLONG;
	memset(sun, 0, sizeof(*sun));
	sun->sun_family = AF_UNIX;
	strcpy(sun->sun_path, path);
	return 0;
}

/* The directory of path, made when missing (one level). */
static int make_parent(const char *path)
{
	char *dir = strdup(path), *slash;
	int err = 0;

	if (!dir)
		return -ENOMEM;
	slash = strrchr(dir, '/');
	if (slash && slash != dir) {
		*slash = '\0';
		if (mkdir(dir, 0755) < 0 && errno != EEXIST)
			err = -errno;
	}
	free(dir);
	return err;
}

/* A socket file at path: -EADDRINUSE when someone answers, else removed. */
static int clear_stale(const struct sockaddr_un *sun)
{
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int err = 0;

	if (fd < 0)
		return -errno;
	if (connect(fd, (const struct sockaddr *)sun, sizeof(*sun)) == 0)
		err = -EADDRINUSE;
	else if (errno == ECONNREFUSED && unlink(sun->sun_path) < 0 && errno != ENOENT)
		err = -errno;
	close(fd);
	return err;
}

static int listen_unix(const char *path)
{
	struct sockaddr_un sun;
	mode_t old;
	int fd, err = sun_of(path, &sun);

	if (!err)
		err = make_parent(path);
	if (!err)
		err = clear_stale(&sun);
	if (err)
		return err;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	old = umask(0177); /* never a moment with a wider mode; no other thread makes files */
	err = bind(fd, (const struct sockaddr *)&sun, sizeof(sun)) < 0 ? -errno : 0;
	umask(old);
	if (!err && chmod(path, 0600) < 0)
		err = -errno;
	if (!err && listen(fd, 16) < 0)
		err = -errno;
	if (err) {
		close(fd);
		return err;
	}
	return fd;
}

/* Only our own user (or root) may command us, whatever the file mode says. */
static bool peer_allowed(int fd)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0)
		return false;
	return cred.uid == 0 || cred.uid == geteuid();
}

/* Read one line (NUL-terminated, newline stripped); 0 or -errno. */
static int read_line(int fd, char *line, size_t cap)
{
	size_t n = 0;

	while (n < cap - 1) {
		ssize_t r = read(fd, line + n, cap - 1 - n);
		char *nl;

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -errno;
		if (r == 0)
			break;
		n += (size_t)r;
		line[n] = '\0';
		nl = memchr(line, '\n', n);
		if (nl) {
			*nl = '\0';
			return 0;
		}
	}
	line[n] = '\0';
	return n < cap - 1 ? 0 : -E2BIG;
}

static void write_all(int fd, const char *s, size_t len)
{
	while (len) {
		ssize_t n = send(fd, s, len, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return;
		s += n;
		len -= (size_t)n;
	}
}

static void serve_one(struct ctl_server *c, int fd)
{
	struct timeval tv = {.tv_sec = CTL_IO_TIMEOUT_S};
	char line[CTL_LINE_MAX + 1];
	const char *why = NULL;
	struct strbuf out, reply;
	int err;

	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	strbuf__init(&out);
	strbuf__init(&reply);
	if (!peer_allowed(fd)) {
		err = -EPERM;
		why = "not the daemon's user";
	} else if ((err = read_line(fd, line, sizeof(line))) < 0) {
		why = err == -E2BIG ? "request line too long" : "cannot read the request";
	} else {
		klog_debug("control: %s", line);
		err = ctl__run(c->d, line, &out, &why);
	}
	if (!err && strbuf__failed(&out)) {
		err = -ENOMEM;
		why = "out of memory";
	}
	if (err)
		strbuf__printf(&reply, "error %s\n", why ? why : strerror(-err));
	else
		strbuf__printf(&reply, "ok\n%s", out.len ? out.s : "");
	if (!strbuf__failed(&reply))
		write_all(fd, reply.s, reply.len);
	strbuf__free(&reply);
	strbuf__free(&out);
}

static void on_accept(struct loop_watch *w, uint32_t events)
{
	struct ctl_server *c = w->arg;

	for (int i = 0; i < 8; i++) {
		int fd = accept4(w->fd, NULL, NULL, SOCK_CLOEXEC); /* blocking, with timeouts */

		if (fd < 0) {
			if (errno != EAGAIN && errno != EINTR)
				klog_warn("control socket accept: %s", strerror(errno));
			return;
		}
		serve_one(c, fd);
		close(fd);
	}
}

int ctl_server__new(struct ctl_server **out, struct loop *l, const char *path,
		    const struct ctl_daemon *d)
{
	struct ctl_server *c = calloc(1, sizeof(*c));
	struct stat st;
	int fd, err;

	if (!c)
		return -ENOMEM;
	c->path = strdup(path);
	if (!c->path) {
		free(c);
		return -ENOMEM;
	}
	fd = listen_unix(path);
	if (fd < 0) {
		free(c->path);
		free(c);
		return fd;
	}
	if (stat(path, &st) == 0) {
		c->dev = st.st_dev;
		c->ino = st.st_ino;
	}
	c->loop = l;
	c->d = d;
	loop_watch__init(&c->w, fd, on_accept, c);
	err = loop__add(l, &c->w, EPOLLIN);
	if (err) {
		c->w.fd = -1;
		close(fd);
		ctl_server__free(c);
		return err;
	}
	*out = c;
	return 0;
}

void ctl_server__free(struct ctl_server *c)
{
	struct stat st;

	if (!c)
		return;
	if (c->w.fd >= 0) {
		loop__del(c->loop, &c->w);
		close(c->w.fd);
	}
	if (c->ino && stat(c->path, &st) == 0 && st.st_dev == c->dev && st.st_ino == c->ino)
		unlink(c->path);
	free(c->path);
	free(c);
}
