/*
 * The interchange CSV of DESIGN §1, read and checked: a streaming reader
 * built on libcsv that hands over one validated row at a time.
 *
 * Bytes go in with csv_reader_feed() in pieces of any size (a file read,
 * an S3 body chunk); each complete row comes out through the callback,
 * with its line number, its raw text, its fields, and either the parsed
 * customer_id and update_timestamp or the reason it is bad.  Memory stays
 * bounded by CSV_ROW_MAX whatever the input.
 *
 * The rules: RFC 4180 with LF or CRLF line ends, a UTF-8 byte order mark
 * ignored, blank lines ignored, spaces around unquoted fields ignored (as
 * libcsv does).  An unquoted empty field is NULL, a quoted "" the empty
 * string.  The first row is the header and must name the columns of
 * DESIGN §1 in order (op optional); a bad header fails the whole file.
 *
 * A row is bad when its field count differs from the header's, a field is
 * longer than CSV_FIELD_MAX, a field holds invalid UTF-8 or a NUL byte,
 * customer_id is not an integer in 1..2^63-1, update_timestamp is not an
 * ISO 8601 time with a UTC offset, op is not empty, I, U or D, its quotes
 * are malformed, it is ended by a CR alone (not CRLF), or it is longer
 * than CSV_ROW_MAX.
 */
#ifndef CSV_H
#define CSV_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"

/* The columns, in file order. */
enum csv_column {
	CSV_CUSTOMER_ID,
	CSV_FIRST_NAME,
	CSV_LAST_NAME,
	CSV_EMAIL,
	CSV_STREET,
	CSV_CITY,
	CSV_STATE,
	CSV_COUNTRY,
	CSV_UPDATE_TIMESTAMP,
	CSV_OP,
	CSV_NCOLUMNS
};

#define CSV_FIELD_MAX (1 << 20)	/* bytes in one field */
#define CSV_ROW_MAX (4 << 20)	/* bytes in one row, line ends included */

/* The column names of the header, indexed by enum csv_column. */
extern const char *const csv_column_names[CSV_NCOLUMNS];

struct csv_field {
	const char *data;	/* NUL-terminated; "" when null */
	size_t len;
	int null;		/* an unquoted empty field */
};

struct csv_row {
	long long line;		/* where the row starts; the header is line 1 */
	const char *raw;	/* the row as written, without its line end */
	size_t raw_len;
	int nfields;		/* as found, even beyond CSV_NCOLUMNS */
	struct csv_field field[CSV_NCOLUMNS];	/* op is null if absent */
	long long customer_id;	/* when valid */
	int64_t timestamp;	/* microseconds since 2000-01-01 00:00 UTC */
	const char *error;	/* NULL for a valid row, else why it is bad */
};

/* Called per data row (not the header); returns 0 to go on, -1 to stop. */
typedef int (*csv_row_fn)(const struct csv_row *row, void *arg);

struct csv_parser;	/* libcsv's */

struct csv_reader {
	struct csv_parser *parser;
	csv_row_fn fn;
	void *arg;
	struct buf in;		/* an incomplete line, from the open row's start */
	const char *base;	/* what is being parsed: in.buf or the caller's */
	size_t base_len;
	size_t fed;		/* bytes of base already given to libcsv */
	size_t row_start;	/* where the open row starts in base */
	size_t piece_end;	/* the end of the piece being parsed */
	long long line;		/* the line that begins at in.buf + fed */
	long long row_line;
	struct buf fields;	/* the open row's fields, each NUL-terminated */
	size_t off[CSV_NCOLUMNS], len[CSV_NCOLUMNS];
	char null[CSV_NCOLUMNS];
	int nfields;
	int too_long;		/* 1 + index of the first oversized field */
	int ncolumns;		/* from the header; 0 until it is read */
	int skipping;		/* discarding up to the next line end */
	int bare_cr;		/* the range being parsed ends in a lone CR */
	int started;		/* the first bytes (and a BOM) were seen */
	int stopped;		/* fn asked to stop, or the file failed */
	long long rows;		/* data rows handed to fn */
	long long bad;		/* of which were bad */
	struct buf reason;	/* the current row's error */
	struct buf err;		/* why the whole file failed */
};

void csv_reader_init(struct csv_reader *r, csv_row_fn fn, void *arg);
void csv_reader_release(struct csv_reader *r);

/*
 * Parses the next piece of the file, calling fn for each row completed.
 * Returns 0, or -1 when fn asked to stop or the file failed (r->err says
 * why, e.g. a bad header; it is empty when fn stopped).
 */
int csv_reader_feed(struct csv_reader *r, const void *data, size_t len);
/* Ends the file: parses what is left, checks a header was seen. */
int csv_reader_finish(struct csv_reader *r);

/*
 * Checks a row whose fields are filled in (nfields, field[]), given the
 * header's column count, and sets customer_id and timestamp, or error
 * (pointing into reason).  Returns 0 for a valid row, -1 for a bad one.
 */
int csv_check_row(struct csv_row *row, int ncolumns, struct buf *reason);

/*
 * Parses an ISO 8601 time with a UTC offset ("2026-11-22T02:10:48.123456Z",
 * "2026-11-22 03:10:48+01:00") into microseconds since 2000-01-01 00:00
 * UTC, rounding beyond microseconds.  Returns 0 or -1.
 */
int csv_parse_timestamp(const char *s, size_t len, int64_t *out);

/*
 * Returns 0 if s is valid UTF-8 without NUL bytes, else -1 with the
 * offset of the first bad byte in *bad.
 */
int csv_check_utf8(const char *s, size_t len, size_t *bad);

/*
 * Appends s to b as readable text: invalid UTF-8 and NUL bytes become
 * U+FFFD, and at most max bytes of s are taken ("..." marks the cut).
 */
void csv_add_sanitized(struct buf *b, const char *s, size_t len, size_t max);

#endif
