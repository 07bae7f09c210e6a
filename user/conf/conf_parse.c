// SPDX-License-Identifier: MIT
/*
 * Both front ends of the option table: turnserver.conf lines and argv.
 *
 * File syntax, as coturn reads it: `name`, `name=value`, `name = value`,
 * `name value`; the name ends at the first blank or '=' and any run of
 * blanks and '=' after it is skipped. Leading and trailing blanks are
 * dropped; a value in double quotes loses the quotes (coturn strips a leading
 * '"' and a trailing one if present). '#' starts a comment only at the start
 * of a line: "realm=a#b" is the realm "a#b", as in coturn. Names are
 * case-sensitive (verbose and Verbose differ). Unlike coturn, a line of any
 * length is read whole (coturn splits lines at 1024 bytes); lines over
 * CONF_LINE_MAX are an error.
 *
 * Command line, as getopt_long reads coturn's table: `--name value`,
 * `--name=value`, `-X value`, `-Xvalue`, clustered flags `-af`. Flags take a
 * value only as `--flag=value`. Long names must be spelled out (getopt's
 * unique-prefix abbreviations are not accepted). "--" ends the options; kturnd
 * takes no operands.
 */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf_int.h"

#define CONF_LINE_MAX 65536

static const struct conf_src cli_src = {.file = NULL, .line = 0};

enum once_kind { ONCE_UNKNOWN, ONCE_IGNORED, ONCE_CLI_ONLY };

/* Each unknown or ignored option is reported at its first occurrence only. */
static int warn_once(struct kturn_conf *c, const char *name, const struct conf_src *src,
		     enum once_kind kind)
{
	char where[512];
	const char *w = conf_src__str(src, where, sizeof(where));
	int err;

	if (conf_strv__has(&c->reported, name))
		return 0;
	err = conf_strv__push(&c->reported, name);
	if (err)
		return err;
	switch (kind) {
	case ONCE_UNKNOWN:
		return conf_diag__add(c, LOG_WARN, name, "unknown option '%s' (%s); ignored", name,
				      w);
	case ONCE_IGNORED:
		return conf_diag__add(c, LOG_WARN, name,
				      "option '%s' (%s) is not supported by kturn; ignored", name,
				      w);
	default:
		return conf_diag__add(c, LOG_WARN, name,
				      "option '%s' (%s) is only valid on the command line; ignored",
				      name, w);
	}
}

int conf_parse__unknown(struct kturn_conf *c, const char *name, const struct conf_src *src)
{
	return warn_once(c, name, src, ONCE_UNKNOWN);
}

static int store_uint(struct kturn_conf *c, const struct conf_opt *o, const char *val,
		      const struct conf_src *src)
{
	char *field = (char *)c + o->off, why[96];
	uint64_t v = o->bare;

	if (val && conf_value__uint(val, o->min, o->max, &v)) {
		snprintf(why, sizeof(why), "expected an integer in %" PRIu64 "..%" PRIu64, o->min,
			 o->max);
		return conf_diag__bad_value(c, o, val, src, why);
	}
	switch (o->size) {
	case 2:
		*(uint16_t *)field = (uint16_t)v;
		break;
	case 4:
		*(uint32_t *)field = (uint32_t)v;
		break;
	default:
		*(uint64_t *)field = v;
	}
	return 0;
}

static int store_enum(struct kturn_conf *c, const struct conf_opt *o, const char *val,
		      const struct conf_src *src)
{
	char why[128] = "expected one of";
	size_t n = strlen(why);

	for (int i = 0; o->names[i]; i++) {
		if (!strcmp(val, o->names[i])) {
			memcpy((char *)c + o->off, &i, sizeof(i));
			return 0;
		}
		n += (size_t)snprintf(why + n, sizeof(why) - n, "%s %s", i ? "," : "", o->names[i]);
		n = n < sizeof(why) ? n : sizeof(why) - 1;
	}
	return conf_diag__bad_value(c, o, val, src, why);
}

static int store_str(struct kturn_conf *c, const struct conf_opt *o, const char *val,
		     const struct conf_src *src)
{
	char **field = (char **)((char *)c + o->off);
	const char *why = o->check ? o->check(val) : NULL;
	char *copy;

	if (why)
		return conf_diag__bad_value(c, o, val, src, why);
	if (o->kind == KIND_STRV)
		return conf_strv__push((struct conf_strv *)field, val);
	copy = strdup(val);
	if (!copy)
		return -ENOMEM;
	free(*field);
	*field = copy;
	return 0;
}

static int store(struct kturn_conf *c, const struct conf_opt *o, const char *val,
		 const struct conf_src *src)
{
	bool b = true;

	switch (o->kind) {
	case KIND_BOOL:
		if (val && conf_value__bool(val, &b))
			return conf_diag__bad_value(
				c, o, val, src,
				"expected a boolean (yes/no, true/false, on/off, 1/0)");
		*(bool *)((char *)c + o->off) = b;
		return 0;
	case KIND_UINT:
		return store_uint(c, o, val, src);
	case KIND_ENUM:
		return store_enum(c, o, val, src);
	case KIND_STR:
	case KIND_STRV:
		return store_str(c, o, val, src);
	default:
		return o->set(c, o, val, src);
	}
}

/* val is NULL when the option was given bare. */
int conf_parse__apply(struct kturn_conf *c, const struct conf_opt *o, const char *val,
		      const struct conf_src *src)
{
	char nb[8], where[512];
	const char *name = conf_opts__display(o, nb, sizeof(nb));

	if (val && !*val)
		val = NULL;
	if ((o->flags & OPT_CLI_ONLY) && src->file)
		return warn_once(c, name, src, ONCE_CLI_ONLY);
	if (o->kind == KIND_IGNORED)
		return warn_once(c, name, src, ONCE_IGNORED);
	if (!val && o->arg == ARG_REQUIRED)
		return conf_diag__add(c, LOG_ERR, o->name, "option '%s' (%s): missing value", name,
				      conf_src__str(src, where, sizeof(where)));
	return store(c, o, val, src);
}

/* ---- turnserver.conf ---- */

/* Strip coturn-style double quotes in place. */
static char *unquote(struct kturn_conf *c, const char *name, char *val, const struct conf_src *src)
{
	char where[512];
	size_t n;

	if (!val || val[0] != '"')
		return val;
	n = strlen(++val);
	if (n && val[n - 1] == '"')
		val[n - 1] = '\0';
	else
		conf_diag__add(c, LOG_WARN, name,
			       "option '%s' (%s): no closing '\"'; value taken as '%s'", name,
			       conf_src__str(src, where, sizeof(where)), val);
	return val;
}

static int parse_line(struct kturn_conf *c, char *s, const struct conf_src *src)
{
	const struct conf_opt *o;
	char *name, *val = NULL, where[512];
	size_t len;

	s += strspn(s, " \t");
	len = strlen(s);
	while (len && isspace((unsigned char)s[len - 1]))
		s[--len] = '\0';
	if (!len || s[0] == '#')
		return 0;
	if (s[len - 1] == ';')
		conf_diag__add(c, LOG_WARN, NULL,
			       "%s: line ends with ';', which is kept as part of it",
			       conf_src__str(src, where, sizeof(where)));
	name = s;
	s += strcspn(s, " \t=");
	if (*s) {
		*s++ = '\0';
		val = s + strspn(s, " \t=");
	}
	val = unquote(c, name, val, src);
	o = conf_opts__find(name, strlen(name));
	if (!o)
		return conf_parse__unknown(c, name, src);
	return conf_parse__apply(c, o, val, src);
}

static int check_line(struct kturn_conf *c, const char *line, size_t n, const struct conf_src *src)
{
	char where[512];

	if (n > CONF_LINE_MAX)
		return conf_diag__add(c, LOG_ERR, NULL,
				      "%s: line is %zu bytes long, over the %d limit",
				      conf_src__str(src, where, sizeof(where)), n, CONF_LINE_MAX);
	if (memchr(line, '\0', n))
		return conf_diag__add(c, LOG_ERR, NULL, "%s: line contains a NUL byte",
				      conf_src__str(src, where, sizeof(where)));
	return 0;
}

static int read_lines(struct kturn_conf *c, FILE *f, struct conf_src *src)
{
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	int ret = 0, err;

	while ((n = getline(&line, &cap, f)) >= 0) {
		src->line++;
		err = check_line(c, line, (size_t)n, src);
		if (!err)
			err = parse_line(c, line, src);
		if (err == -ENOMEM) {
			ret = err;
			break;
		}
		ret = ret ? ret : err;
	}
	free(line);
	return ret;
}

int conf__load_file(struct kturn_conf *c, const char *path)
{
	struct conf_src src = {.file = path, .line = 0};
	FILE *f = fopen(path, "re");
	int err;

	if (!f) {
		err = -errno;
		conf_diag__add(c, LOG_ERR, NULL, "cannot open configuration file '%s': %s", path,
			       strerror(-err));
		return err;
	}
	errno = 0;
	err = read_lines(c, f, &src);
	if (err != -ENOMEM && ferror(f)) {
		err = errno ? -errno : -EIO;
		conf_diag__add(c, LOG_ERR, NULL, "cannot read configuration file '%s': %s", path,
			       strerror(-err));
	}
	fclose(f);
	return err;
}

/* ---- argv ---- */

static bool all_digits(const char *s)
{
	return *s && strspn(s, "0123456789") == strlen(s);
}

/* In the early pass only OPT_EARLY options are applied; nothing is reported. */
static int cli_apply(struct kturn_conf *c, const struct conf_opt *o, const char *val, bool early)
{
	if (early && !(o->flags & OPT_EARLY))
		return 0;
	return conf_parse__apply(c, o, val, &cli_src);
}

static int long_opt(struct kturn_conf *c, int argc, char **argv, int *i, bool early)
{
	const char *name = argv[*i] + 2, *eq = strchr(name, '='), *val = eq ? eq + 1 : NULL;
	size_t len = eq ? (size_t)(eq - name) : strlen(name);
	const struct conf_opt *o = conf_opts__find(name, len);
	char *dup;
	int err;

	if (!o) {
		/* Unknown arity: a following non-option word is taken as its value. */
		if (!eq && *i + 1 < argc && argv[*i + 1][0] != '-')
			(*i)++;
		if (early)
			return 0;
		dup = strndup(name, len);
		if (!dup)
			return -ENOMEM;
		err = conf_parse__unknown(c, dup, &cli_src);
		free(dup);
		return err;
	}
	if (!eq && *i + 1 < argc &&
	    (o->arg == ARG_REQUIRED || (o->arg == ARG_OPTIONAL && all_digits(argv[*i + 1]))))
		val = argv[++*i];
	return cli_apply(c, o, val, early);
}

static int short_opts(struct kturn_conf *c, int argc, char **argv, int *i, bool early)
{
	const char *a = argv[*i];
	int ret = 0, err;

	for (size_t j = 1; a[j]; j++) {
		const struct conf_opt *o = conf_opts__find_short(a[j]);
		const char *val = NULL;
		char name[3] = {'-', a[j], '\0'};

		if (!o) {
			err = early ? 0 : conf_parse__unknown(c, name, &cli_src);
		} else if (o->arg == ARG_REQUIRED) {
			if (a[j + 1])
				val = a + j + 1 + (a[j + 1] == '='); /* -p3478, coturn's -p=3478 */
			else if (*i + 1 < argc)
				val = argv[++*i];
			err = cli_apply(c, o, val, early);
			if (err == -ENOMEM)
				return err;
			return ret ? ret : err;
		} else {
			err = cli_apply(c, o, NULL, early);
		}
		if (err == -ENOMEM)
			return err;
		ret = ret ? ret : err;
	}
	return ret;
}

static int walk_args(struct kturn_conf *c, int argc, char **argv, bool early)
{
	bool options = true;
	int ret = 0, err;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];

		if (options && !strcmp(a, "--")) {
			options = false;
			continue;
		}
		if (options && a[0] == '-' && a[1] == '-')
			err = long_opt(c, argc, argv, &i, early);
		else if (options && a[0] == '-' && a[1])
			err = short_opts(c, argc, argv, &i, early);
		else
			err = early ? 0
				    : conf_diag__add(c, LOG_ERR, NULL,
						     "unexpected argument '%s' (command line)", a);
		if (err == -ENOMEM)
			return err;
		ret = ret ? ret : err;
	}
	return ret;
}

int conf__parse_args(struct kturn_conf *c, int argc, char **argv)
{
	return walk_args(c, argc, argv, false);
}

/* The main pass reports whatever is wrong; drop what the early pass said. */
int conf_parse__early(struct kturn_conf *c, int argc, char **argv)
{
	size_t n_diags = c->n_diags, n_errors = c->n_errors;
	int err = walk_args(c, argc, argv, true);

	for (size_t i = n_diags; i < c->n_diags; i++) {
		free(c->diags[i].option);
		free(c->diags[i].msg);
	}
	c->n_diags = n_diags;
	c->n_errors = n_errors;
	return err == -ENOMEM ? err : 0;
}
