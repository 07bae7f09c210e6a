// SPDX-License-Identifier: MIT
/*
 * kturn_conf lifetime (defaults, free), diagnostics, cross-field validation
 * and the conf__load sequence. Parsing lives in conf_parse.c, the option
 * table in conf_opts.c.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "kturn/stun.h"
#include "conf_int.h"

void conf__defaults(struct kturn_conf *c)
{
	memset(c, 0, sizeof(*c));
	c->listening_port = 3478;
	c->tls_listening_port = 5349;
	c->min_port = 49152;
	c->max_port = 65535;
	c->rest_api_separator = ':';
	c->stale_nonce = 600;
	c->max_allocate_lifetime = 3600;
	c->default_allocate_lifetime = 600;
	c->tcp_idle_timeout = 30;
	c->connection_timeout = 30;
	c->auth_fail_burst = 5;
	c->auth_fail_rate = 1;
	c->channel_lifetime = 600;
	c->permission_lifetime = 300;
	c->prometheus_port = 9641;
	c->data_plane = CONF_DATA_PLANE_AUTO;
	c->max_message_size = STUN_MAX_MSG_LEN;
	/*
	 * Unlike coturn 4.6 (off), kturn names itself in responses by default:
	 * operators see which server answered; no-software-attribute turns it off.
	 */
	c->software_attribute = true;
}

void conf_strv__free(struct conf_strv *v)
{
	for (size_t i = 0; i < v->n; i++)
		free(v->v[i]);
	free(v->v);
	v->v = NULL;
	v->n = 0;
}

int conf_strv__push(struct conf_strv *v, const char *s)
{
	char **nv = reallocarray(v->v, v->n + 1, sizeof(*nv));
	char *copy;

	if (!nv)
		return -ENOMEM;
	v->v = nv;
	copy = strdup(s);
	if (!copy)
		return -ENOMEM;
	v->v[v->n++] = copy;
	return 0;
}

bool conf_strv__has(const struct conf_strv *v, const char *s)
{
	for (size_t i = 0; i < v->n; i++)
		if (!strcmp(v->v[i], s))
			return true;
	return false;
}

static void users_free(struct conf_users *u)
{
	for (size_t i = 0; i < u->n; i++) {
		free(u->v[i].name);
		free(u->v[i].password);
	}
	free(u->v);
}

static void owned_free(struct kturn_conf *c)
{
	struct conf_strv *strvs[] = {
		&c->listening_ips,	   &c->relay_ips,	  &c->external_ips,
		&c->static_auth_secrets,   &c->alternate_servers, &c->tls_alternate_servers,
		&c->tcp_alternate_servers, &c->reported,
	};
	char *strs[] = {
		c->config_file,	       c->realm,       c->cert, c->pkey, c->log_file, c->pidfile,
		c->prometheus_address, c->bpf_pin_dir,
	};

	for (size_t i = 0; i < sizeof(strvs) / sizeof(strvs[0]); i++)
		conf_strv__free(strvs[i]);
	for (size_t i = 0; i < sizeof(strs) / sizeof(strs[0]); i++)
		free(strs[i]);
	free(c->control_socket);
	free(c->node_name);
}

void conf__free(struct kturn_conf *c)
{
	if (!c)
		return;
	owned_free(c);
	users_free(&c->users);
	free(c->allowed_peer_ips.v);
	free(c->denied_peer_ips.v);
	for (size_t i = 0; i < c->n_diags; i++) {
		free(c->diags[i].option);
		free(c->diags[i].msg);
	}
	free(c->diags);
	memset(c, 0, sizeof(*c));
}

const char *conf_src__str(const struct conf_src *src, char *buf, size_t cap)
{
	if (!src->file)
		return "command line";
	snprintf(buf, cap, "%s:%u", src->file, src->line);
	return buf;
}

static int diag_push(struct kturn_conf *c, enum log_level level, const char *option, char *msg)
{
	struct conf_diag *nd = reallocarray(c->diags, c->n_diags + 1, sizeof(*nd));
	char *opt = option ? strdup(option) : NULL;

	if (!nd || (option && !opt)) {
		if (nd)
			c->diags = nd;
		free(opt);
		free(msg);
		return -ENOMEM;
	}
	c->diags = nd;
	nd[c->n_diags++] = (struct conf_diag){.level = level, .option = opt, .msg = msg};
	if (level == LOG_ERR)
		c->n_errors++;
	return 0;
}

/* Returns -EINVAL for an error (so callers can `return conf_diag__add(...)`), else 0. */
int conf_diag__add(struct kturn_conf *c, enum log_level level, const char *option, const char *fmt,
		   ...)
{
	va_list ap;
	char *msg;
	int n, err;

	va_start(ap, fmt);
	n = vasprintf(&msg, fmt, ap);
	va_end(ap);
	if (n < 0)
		return -ENOMEM;
	err = diag_push(c, level, option, msg);
	if (err)
		return err;
	return level == LOG_ERR ? -EINVAL : 0;
}

int conf_diag__bad_value(struct kturn_conf *c, const struct conf_opt *o, const char *val,
			 const struct conf_src *src, const char *why)
{
	char where[512], name[64];

	return conf_diag__add(c, LOG_ERR, o->name, "option '%s' (%s): invalid value '%s': %s",
			      conf_opts__display(o, name, sizeof(name)),
			      conf_src__str(src, where, sizeof(where)), val, why);
}

void conf__log_diags(const struct kturn_conf *c)
{
	for (size_t i = 0; i < c->n_diags; i++)
		log__write(c->diags[i].level, "%s", c->diags[i].msg);
}

enum log_level conf__log_level(const struct kturn_conf *c)
{
	switch (c->verbose) {
	case CONF_VERBOSE_EXTRA:
		return LOG_DEBUG;
	case CONF_VERBOSE_NORMAL:
		return LOG_INFO;
	default:
		return LOG_WARN;
	}
}

bool conf__ip_ranges_match(const struct conf_ip_ranges *r, int family, const void *addr)
{
	size_t n = family == AF_INET ? 4 : 16;

	for (size_t i = 0; i < r->n; i++) {
		const struct conf_ip_range *e = &r->v[i];

		if (e->family == family && memcmp(addr, e->lo, n) >= 0 &&
		    memcmp(addr, e->hi, n) <= 0)
			return true;
	}
	return false;
}

/* Early pass over argv (-c, -n, -h, --version), the file, argv, validation. */
int conf__load(struct kturn_conf *c, int argc, char **argv)
{
	int ret = 0, err;

	err = conf_parse__early(c, argc, argv);
	if (err)
		return err;
	if (c->show_help || c->show_version)
		return 0;
	if (c->config_file && !c->no_config_file) {
		err = conf__load_file(c, c->config_file);
		if (err && err != -EINVAL)
			return err;
		ret = err;
	}
	err = conf__parse_args(c, argc, argv);
	if (err == -ENOMEM)
		return err;
	ret = ret ? ret : err;
	err = conf__validate(c);
	return ret ? ret : err;
}
