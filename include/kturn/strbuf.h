/* SPDX-License-Identifier: MIT */
/*
 * A growable NUL-terminated text buffer for replies that are built once and
 * sent (kturnctl answers, /metrics pages), with the two escapings they need.
 *
 * Out of memory is sticky: later appends are no-ops and strbuf__failed()
 * says so, so a caller checks once at the end instead of after every line.
 */
#ifndef KTURN_STRBUF_H
#define KTURN_STRBUF_H

#include <stdbool.h>
#include <stddef.h>

struct strbuf {
	char *s;    /* NUL-terminated when len > 0 or after any append */
	size_t len; /* bytes before the NUL */
	size_t cap;
	bool oom;
};

void strbuf__init(struct strbuf *b);
void strbuf__free(struct strbuf *b);
__attribute__((format(printf, 2, 3))) void strbuf__printf(struct strbuf *b, const char *fmt, ...);
void strbuf__puts(struct strbuf *b, const char *s);
/* s as a JSON string, quotes included (control characters as \u00XX). NULL: null. */
void strbuf__json_str(struct strbuf *b, const char *s);
/* s escaped for a Prometheus label value (backslash, quote, newline), no quotes. */
void strbuf__prom_label(struct strbuf *b, const char *s);
static inline bool strbuf__failed(const struct strbuf *b)
{
	return b->oom;
}
/* Hand the text over (caller frees); the buffer is empty afterwards. NULL on oom. */
char *strbuf__take(struct strbuf *b, size_t *len);

#endif /* KTURN_STRBUF_H */
