/*
 * PostgreSQL's binary COPY format (PGCOPY), written into a struct buf:
 * a header, then per tuple its field count and each field as a 32-bit
 * length (-1 for NULL) and the bytes in network order, then a trailer.
 * The bytes go to the server with PQputCopyData() after
 * "COPY t (...) FROM STDIN (FORMAT binary)".
 */
#ifndef COPY_H
#define COPY_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "buf.h"

/* The signature, flags and header extension that start the data. */
void copy_add_header(struct buf *b);
/* The end-of-data marker (a field count of -1). */
void copy_add_trailer(struct buf *b);

/* Starts a tuple of nfields fields; add exactly that many next. */
void copy_add_tuple(struct buf *b, int nfields);
void copy_add_null(struct buf *b);
/* A bigint (int8), or a timestamptz given in microseconds since 2000. */
void copy_add_int8(struct buf *b, int64_t v);
/* A text value, which must be valid in the server's encoding, no NUL. */
void copy_add_text(struct buf *b, const char *s, size_t len);

/*
 * The same, written at p into room already made (buf_grow()), for the
 * rows of a big COPY; each returns the end of what it wrote.  Sizes:
 * COPY_TUPLE_SIZE, COPY_NULL_SIZE, COPY_INT8_SIZE, COPY_TEXT_SIZE(len).
 */
#define COPY_TUPLE_SIZE 2
#define COPY_NULL_SIZE 4
#define COPY_INT8_SIZE 12
#define COPY_TEXT_SIZE(len) (4 + (len))

static inline char *copy_put_be32(char *p, uint32_t v)
{
	p[0] = (char)(v >> 24), p[1] = (char)(v >> 16);
	p[2] = (char)(v >> 8), p[3] = (char)v;
	return p + 4;
}

static inline char *copy_put_tuple(char *p, int nfields)
{
	p[0] = (char)(nfields >> 8), p[1] = (char)nfields;
	return p + 2;
}

static inline char *copy_put_null(char *p)
{
	return copy_put_be32(p, 0xffffffffu);
}

static inline char *copy_put_int8(char *p, int64_t v)
{
	p = copy_put_be32(p, 8);
	p = copy_put_be32(p, (uint32_t)((uint64_t)v >> 32));
	return copy_put_be32(p, (uint32_t)v);
}

static inline char *copy_put_text(char *p, const char *s, size_t len)
{
	p = copy_put_be32(p, (uint32_t)len);
	memcpy(p, s, len);
	return p + len;
}

#endif
