// SPDX-License-Identifier: MIT
/*
 * --help, generated from the option table; defaults are read from a
 * conf__defaults() instance so they cannot drift from the code.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "conf_int.h"

#define HELP_COL 32
#define WRAP_COL 80

static uint64_t default_uint(const struct kturn_conf *d, const struct conf_opt *o)
{
	const char *field = (const char *)d + o->off;

	switch (o->size) {
	case 2:
		return *(const uint16_t *)field;
	case 4:
		return *(const uint32_t *)field;
	default:
		return *(const uint64_t *)field;
	}
}

static void left_column(char *buf, size_t cap, const struct conf_opt *o)
{
	const char *mv = o->metavar ? o->metavar : "";
	const char *sep = o->arg == ARG_OPTIONAL || !o->metavar ? "" : " ";

	if (o->short_name && o->name)
		snprintf(buf, cap, "  -%c, --%s%s%s", o->short_name, o->name, sep, mv);
	else if (o->name)
		snprintf(buf, cap, "      --%s%s%s", o->name, sep, mv);
	else
		snprintf(buf, cap, "  -%c%s%s", o->short_name, sep, mv);
}

/* Print text from column col on, word-wrapped at WRAP_COL, indented HELP_COL. */
static void wrap(FILE *f, const char *text, size_t col)
{
	while (*text) {
		size_t word = strcspn(text, " ");

		if (col > HELP_COL && col + 1 + word > WRAP_COL) {
			fprintf(f, "\n%*s", HELP_COL, "");
			col = HELP_COL;
		} else if (col > HELP_COL) {
			fputc(' ', f);
			col++;
		}
		fprintf(f, "%.*s", (int)word, text);
		col += word;
		text += word;
		text += strspn(text, " ");
	}
	fputc('\n', f);
}

static void print_opt(FILE *f, const struct kturn_conf *d, const struct conf_opt *o)
{
	char left[96], help[256];
	int n;

	left_column(left, sizeof(left), o);
	n = fprintf(f, "%s", left);
	if (n >= HELP_COL - 1)
		fprintf(f, "\n%*s", HELP_COL, "");
	else
		fprintf(f, "%*s", HELP_COL - n, "");
	if (o->kind == KIND_UINT)
		snprintf(help, sizeof(help), "%s (default %" PRIu64 ")", o->help,
			 default_uint(d, o));
	else if (o->kind == KIND_ENUM)
		snprintf(help, sizeof(help), "%s (default %s)", o->help,
			 o->names[*(const int *)((const char *)d + o->off)]);
	else
		snprintf(help, sizeof(help), "%s", o->help ? o->help : "");
	wrap(f, help, HELP_COL);
}

static void print_ignored(FILE *f)
{
	size_t col = 2;

	fputs("\nAccepted for coturn compatibility, warned about and ignored:\n ", f);
	for (size_t i = 0; i < conf_n_opts; i++) {
		const struct conf_opt *o = &conf_opts[i];
		size_t len;

		if (o->kind != KIND_IGNORED)
			continue;
		len = strlen(o->name) + 1;
		if (col + len + 1 > WRAP_COL) {
			fputs("\n ", f);
			col = 1;
		}
		fprintf(f, " %s", o->name);
		col += len;
	}
	fputc('\n', f);
}

void conf__usage(FILE *f, const char *prog)
{
	struct kturn_conf d;

	conf__defaults(&d);
	fprintf(f,
		"Usage: %s [-c turnserver.conf] [options]\n\n"
		"Options use coturn's names; each can also be written in the file as name=value.\n"
		"The file is read first, then the command line: a single value given on the\n"
		"command line wins, list options (repeatable) accumulate from both.\n"
		"Flags accept --flag=yes|no|true|false|on|off|1|0.\n\n",
		prog);
	for (size_t i = 0; i < conf_n_opts; i++) {
		const struct conf_opt *o = &conf_opts[i];

		if (o->kind != KIND_IGNORED && !(o->flags & OPT_NO_HELP))
			print_opt(f, &d, o);
	}
	print_ignored(f);
	conf__free(&d);
}
