/*
 * A growable byte buffer, after git's strbuf.
 *
 * Invariants: buf is never NULL and always NUL-terminated, so it can be
 * handed to any function that wants a C string; len never counts the NUL.
 * Initialise with BUF_INIT or buf_init(); buf_detach() is the only way to
 * take ownership of the bytes.  Allocation failure dies (see xmalloc()).
 */
#ifndef BUF_H
#define BUF_H

#include <stdarg.h>
#include <stddef.h>

struct buf {
	size_t alloc;
	size_t len;
	char *buf;
};

extern char buf_slopbuf[];
#define BUF_INIT { 0, 0, buf_slopbuf }

void buf_init(struct buf *b, size_t hint);
/* Frees the bytes and leaves b empty and ready for reuse. */
void buf_release(struct buf *b);
/* Returns the bytes, which the caller frees, and leaves b empty. */
char *buf_detach(struct buf *b, size_t *len);
/* Makes room for at least extra more bytes. */
void buf_grow(struct buf *b, size_t extra);
/* Sets the length (at most alloc - 1) and the NUL after it. */
void buf_setlen(struct buf *b, size_t len);
#define buf_reset(b) buf_setlen((b), 0)

void buf_add(struct buf *b, const void *data, size_t len);
void buf_adds(struct buf *b, const char *s);
void buf_addch(struct buf *b, int c);
void buf_addf(struct buf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void buf_vaddf(struct buf *b, const char *fmt, va_list ap);
/* Replaces the contents with the formatted text. */
void buf_setf(struct buf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Adds bytes as lowercase hexadecimal. */
void buf_addhex(struct buf *b, const unsigned char *data, size_t len);
/* Adds s between two q characters, each q inside it doubled (SQL's
 * quoting: q = '\'' for a literal, '"' for an identifier). */
void buf_addquoted(struct buf *b, const char *s, char q);
/* Removes trailing white space. */
void buf_rtrim(struct buf *b);

#endif
