// SPDX-License-Identifier: MIT
/*
 * The /metrics HTTP endpoint on libmicrohttpd's own polling thread. A scrape
 * blocks that thread while the workers answer (milliseconds); nothing else
 * is served there.
 */
#include <errno.h>
#include <microhttpd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kturn/log.h"
#include "kturn/metrics.h"

#define CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

struct metrics {
	struct MHD_Daemon *mhd;
	char *node;
	struct workers *workers;
};

static enum MHD_Result reply(struct MHD_Connection *conn, unsigned status, const char *type,
			     char *body, size_t len, enum MHD_ResponseMemoryMode mode)
{
	struct MHD_Response *r = MHD_create_response_from_buffer(len, body, mode);
	enum MHD_Result ret;

	if (!r) {
		if (mode == MHD_RESPMEM_MUST_FREE)
			free(body);
		return MHD_NO;
	}
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
	ret = MHD_queue_response(conn, status, r);
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
				  const char *method, const char *version, const char *upload_data,
				  size_t *upload_data_size, void **ctx)
{
	struct metrics *m = cls;
	struct turn_metrics tm;
	struct strbuf out;
	size_t len;
	char *body;

	if (strcmp(method, MHD_HTTP_METHOD_GET) && strcmp(method, MHD_HTTP_METHOD_HEAD))
		return reply(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "text/plain",
			     (char *)"GET /metrics\n", 13, MHD_RESPMEM_PERSISTENT);
	if (strcmp(url, "/metrics"))
		return reply(conn, MHD_HTTP_NOT_FOUND, "text/plain",
			     (char *)"not found: try /metrics\n", 24, MHD_RESPMEM_PERSISTENT);
	metrics__gather(m->workers, &tm);
	strbuf__init(&out);
	metrics__render(&tm, m->node, &out);
	body = strbuf__take(&out, &len);
	if (!body)
		return reply(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "text/plain",
			     (char *)"out of memory\n", 14, MHD_RESPMEM_PERSISTENT);
	return reply(conn, MHD_HTTP_OK, CONTENT_TYPE, body, len, MHD_RESPMEM_MUST_FREE);
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
	char msg[256];

	vsnprintf(msg, sizeof(msg), fmt, ap);
	msg[strcspn(msg, "\n")] = '\0';
	klog_warn("metrics http: %s", msg);
}

int metrics__start(struct metrics **out, const struct metrics_opts *o)
{
	struct metrics *m = calloc(1, sizeof(*m));
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG;

	if (!m)
		return -ENOMEM;
	m->node = strdup(o->node ? o->node : "");
	m->workers = o->workers;
	if (!m->node) {
		free(m);
		return -ENOMEM;
	}
	if (o->addr.ss_family == AF_INET6)
		flags |= MHD_USE_IPv6;
	m->mhd = MHD_start_daemon(flags, 0, NULL, NULL, on_request, m, MHD_OPTION_EXTERNAL_LOGGER,
				  mhd_log, NULL, MHD_OPTION_SOCK_ADDR,
				  (const struct sockaddr *)&o->addr, MHD_OPTION_CONNECTION_LIMIT,
				  (unsigned)32, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)10,
				  MHD_OPTION_END);
	if (!m->mhd) {
		int err = errno ? -errno : -EADDRNOTAVAIL;

		free(m->node);
		free(m);
		return err;
	}
	*out = m;
	return 0;
}

void metrics__stop(struct metrics *m)
{
	if (!m)
		return;
	MHD_stop_daemon(m->mhd);
	free(m->node);
	free(m);
}
