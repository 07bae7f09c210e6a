/* SPDX-License-Identifier: MIT */
/*
 * Inside the configuration module: the option table row, value parsers, and
 * the diagnostics helpers shared by conf.c, conf_opts.c, conf_parse.c and
 * conf_value.c. Not for use outside user/conf/.
 */
#ifndef KTURN_CONF_INT_H
#define KTURN_CONF_INT_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "kturn/conf.h"

/* Where a value came from: file NULL means the command line. */
struct conf_src {
	const char *file;
	unsigned line;
};

/* How an option takes its value. */
enum opt_arg {
	ARG_NONE,     /* flag: bare = true; "=value" is a boolean */
	ARG_OPTIONAL, /* bare = opt->bare; "--x=v", "--x v" (v all digits), "x=v" */
	ARG_REQUIRED, /* "--x v", "--x=v", "-X v", "-Xv", "x=v", "x v" */
};

enum opt_kind {
	KIND_BOOL,    /* bool at off */
	KIND_UINT,    /* unsigned integer at off, `size` bytes wide, in [min, max] */
	KIND_STR,     /* char * at off, replaced; optional check() */
	KIND_STRV,    /* struct conf_strv at off, appended; optional check() */
	KIND_ENUM,    /* int-sized enum at off, value = index in names[] */
	KIND_SET,     /* set() does everything */
	KIND_IGNORED, /* a coturn option kturn does not implement */
};

enum opt_flags {
	OPT_CLI_ONLY = 1 << 0, /* -c, -n, -h, --version: not in a file */
	OPT_EARLY = 1 << 1,    /* applied by conf__load before the file is read */
	OPT_NO_HELP = 1 << 2,  /* alias or deprecated: keep it out of --help */
};

struct conf_opt;
typedef int (*conf_set_fn)(struct kturn_conf *c, const struct conf_opt *o, const char *val,
			   const struct conf_src *src);
/* Returns NULL if val is acceptable, else why not ("not an IP address"). */
typedef const char *(*conf_check_fn)(const char *val);

struct conf_opt {
	const char *name;	  /* long name, as coturn spells it; NULL for -c, -n */
	char short_name;	  /* coturn's short flag, or 0 */
	uint8_t arg;		  /* enum opt_arg */
	uint8_t kind;		  /* enum opt_kind */
	uint8_t flags;		  /* enum opt_flags */
	size_t off;		  /* offsetof(struct kturn_conf, field) */
	size_t size;		  /* KIND_UINT: sizeof the field */
	uint64_t min, max;	  /* KIND_UINT range */
	uint64_t bare;		  /* ARG_OPTIONAL: value when none is given */
	const char *const *names; /* KIND_ENUM, NULL-terminated */
	conf_set_fn set;
	conf_check_fn check;
	const char *metavar; /* "<port>" in --help */
	const char *help;
};

extern const struct conf_opt conf_opts[];
extern const size_t conf_n_opts;

/* conf_opts.c */
const struct conf_opt *conf_opts__find(const char *name, size_t len);
const struct conf_opt *conf_opts__find_short(char c);
const char *conf_opts__display(const struct conf_opt *o, char *buf, size_t cap);

/* conf_parse.c: apply one value (NULL when bare) from src. 0, -EINVAL, -ENOMEM. */
int conf_parse__apply(struct kturn_conf *c, const struct conf_opt *o, const char *val,
		      const struct conf_src *src);
int conf_parse__unknown(struct kturn_conf *c, const char *name, const struct conf_src *src);
/* Apply only -c, -n, -h, --help, --version from argv, silently. 0 or -ENOMEM. */
int conf_parse__early(struct kturn_conf *c, int argc, char **argv);

/* conf.c: diagnostics */
const char *conf_src__str(const struct conf_src *src, char *buf, size_t cap);
int conf_diag__add(struct kturn_conf *c, enum log_level level, const char *option, const char *fmt,
		   ...) __attribute__((format(printf, 4, 5)));
int conf_diag__bad_value(struct kturn_conf *c, const struct conf_opt *o, const char *val,
			 const struct conf_src *src, const char *why);
int conf_strv__push(struct conf_strv *v, const char *s);
void conf_strv__free(struct conf_strv *v);
bool conf_strv__has(const struct conf_strv *v, const char *s);

/* conf_value.c: value parsers, 0 or -EINVAL; *why says what was expected */
int conf_value__bool(const char *s, bool *out);
int conf_value__uint(const char *s, uint64_t min, uint64_t max, uint64_t *out);
int conf_value__ip(const char *s, int *family, uint8_t addr[16]);
int conf_value__ip_range(const char *s, struct conf_ip_range *r, const char **why);
int conf_value__user(const char *s, struct conf_user *u, const char **why);
const char *conf_value__check_ip(const char *s);
const char *conf_value__check_external_ip(const char *s);
const char *conf_value__check_host_port(const char *s);

#endif /* KTURN_CONF_INT_H */
