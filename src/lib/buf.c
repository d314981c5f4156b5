#include "buf.h"

#include <stdio.h>
#include <string.h>

#include "util.h"

char buf_slopbuf[1];

void buf_init(struct buf *b, size_t hint)
{
	b->alloc = b->len = 0;
	b->buf = buf_slopbuf;
	if (hint)
		buf_grow(b, hint);
}

void buf_release(struct buf *b)
{
	if (b->alloc)
		free(b->buf);
	buf_init(b, 0);
}

char *buf_detach(struct buf *b, size_t *len)
{
	char *p;

	if (len)
		*len = b->len;
	if (!b->alloc)
		buf_grow(b, 0);
	p = b->buf;
	buf_init(b, 0);
	return p;
}

void buf_grow(struct buf *b, size_t extra)
{
	size_t need;

	if (b->len + extra + 1 < b->len)
		die("buffer size overflow");
	need = b->len + extra + 1;
	if (need <= b->alloc)
		return;
	if (!b->alloc)
		b->buf = NULL;
	b->alloc = b->alloc ? b->alloc : 64;
	while (b->alloc < need)
		b->alloc = b->alloc < (1u << 20) ? b->alloc * 2 : b->alloc + b->alloc / 2;
	b->buf = xrealloc(b->buf, b->alloc);
	b->buf[b->len] = '\0';
}

void buf_setlen(struct buf *b, size_t len)
{
	if (!b->alloc) {
		if (len)
			die("buf_setlen beyond an empty buffer");
		return;
	}
	if (len >= b->alloc)
		die("buf_setlen beyond the buffer");
	b->len = len;
	b->buf[len] = '\0';
}

void buf_add(struct buf *b, const void *data, size_t len)
{
	if (!len)
		return;
	buf_grow(b, len);
	memcpy(b->buf + b->len, data, len);
	b->len += len;
	b->buf[b->len] = '\0';
}

void buf_adds(struct buf *b, const char *s)
{
	buf_add(b, s, strlen(s));
}

void buf_addch(struct buf *b, int c)
{
	buf_grow(b, 1);
	b->buf[b->len++] = (char)c;
	b->buf[b->len] = '\0';
}

void buf_vaddf(struct buf *b, const char *fmt, va_list ap)
{
	va_list cp;
	int n;

	buf_grow(b, 64);
	va_copy(cp, ap);
	n = vsnprintf(b->buf + b->len, b->alloc - b->len, fmt, cp);
	va_end(cp);
	if (n < 0)
		die("vsnprintf failed");
	if ((size_t)n >= b->alloc - b->len) {
		buf_grow(b, (size_t)n);
		n = vsnprintf(b->buf + b->len, b->alloc - b->len, fmt, ap);
	}
	b->len += (size_t)n;
}

void buf_addf(struct buf *b, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	buf_vaddf(b, fmt, ap);
	va_end(ap);
}

void buf_setf(struct buf *b, const char *fmt, ...)
{
	va_list ap;

	buf_reset(b);
	va_start(ap, fmt);
	buf_vaddf(b, fmt, ap);
	va_end(ap);
}

void buf_addhex(struct buf *b, const unsigned char *data, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	size_t i;

	buf_grow(b, 2 * len);
	for (i = 0; i < len; i++) {
		b->buf[b->len++] = hex[data[i] >> 4];
		b->buf[b->len++] = hex[data[i] & 15];
	}
	b->buf[b->len] = '\0';
}

void buf_addquoted(struct buf *b, const char *s, char q)
{
	buf_addch(b, q);
	for (; *s; s++) {
		if (*s == q)
			buf_addch(b, q);
		buf_addch(b, *s);
	}
	buf_addch(b, q);
}

void buf_rtrim(struct buf *b)
{
	while (b->len && strchr(" \t\r\n", b->buf[b->len - 1]))
		b->len--;
	if (b->alloc)
		b->buf[b->len] = '\0';
}
