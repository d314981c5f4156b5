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

#endif
