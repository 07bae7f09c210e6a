// SPDX-License-Identifier: MIT
/* Growable text buffer; see kturn/strbuf.h. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kturn/strbuf.h"

void strbuf__init(struct strbuf *b)
{
	*b = (struct strbuf){0};
}

void strbuf__free(struct strbuf *b)
{
	free(b->s);
	strbuf__init(b);
}

/* Room for need more bytes plus the NUL. */
static bool reserve(struct strbuf *b, size_t need)
{
	size_t cap = b->cap ? b->cap : 256;
	char *s;

	if (b->oom)
		return false;
	if (b->len + need + 1 <= b->cap)
		return true;
	while (cap < b->len + need + 1)
		cap *= 2;
	s = realloc(b->s, cap);
	if (!s) {
		b->oom = true;
		return false;
	}
	b->s = s;
	b->cap = cap;
	return true;
}

void strbuf__printf(struct strbuf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (!reserve(b, 0))
		return;
	va_start(ap, fmt);
	n = vsnprintf(b->s + b->len, b->cap - b->len, fmt, ap);
	va_end(ap);
	if (n < 0) {
		b->oom = true;
		return;
	}
	if ((size_t)n >= b->cap - b->len) {
		if (!reserve(b, (size_t)n))
			return;
		va_start(ap, fmt);
		vsnprintf(b->s + b->len, b->cap - b->len, fmt, ap);
		va_end(ap);
	}
	b->len += (size_t)n;
}

static void putc_(struct strbuf *b, char c)
{
	if (!reserve(b, 1))
		return;
	b->s[b->len++] = c;
	b->s[b->len] = '\0';
}

void strbuf__puts(struct strbuf *b, const char *s)
{
	size_t n = strlen(s);

	if (!reserve(b, n))
		return;
	memcpy(b->s + b->len, s, n + 1);
	b->len += n;
}

void strbuf__json_str(struct strbuf *b, const char *s)
{
	if (!s) {
		strbuf__puts(b, "null");
		return;
	}
	putc_(b, '"');
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\') {
			putc_(b, '\\');
			putc_(b, (char)c);
		} else if (c < 0x20 || c == 0x7f) {
			strbuf__printf(b, "\\u%04x", c);
		} else {
			putc_(b, (char)c);
		}
	}
	putc_(b, '"');
}

void strbuf__prom_label(struct strbuf *b, const char *s)
{
	for (; *s; s++) {
		if (*s == '\\')
			strbuf__puts(b, "\\\\");
		else if (*s == '"')
			strbuf__puts(b, "\\\"");
		else if (*s == '\n')
			strbuf__puts(b, "\\n");
		else
			putc_(b, *s);
	}
}

char *strbuf__take(struct strbuf *b, size_t *len)
{
	char *s;

	if (b->oom || !reserve(b, 0)) {
		strbuf__free(b);
		return NULL;
	}
	b->s[b->len] = '\0';
	s = b->s;
	if (len)
		*len = b->len;
	strbuf__init(b);
	return s;
}
