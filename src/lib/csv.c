#include "csv.h"

#include <string.h>
#include <strings.h>

/* libcsv's header has this module's name; reach it by its path. */
#include "/usr/include/csv.h"

#include "util.h"

const char *const csv_column_names[CSV_NCOLUMNS] = {
	"customer_id", "first_name", "last_name", "email", "street", "city",
	"state", "country", "update_timestamp", "op"
};

/*
 * Rows are parsed strictly; a row strict parsing refuses is parsed again
 * leniently, where a quote inside an unquoted field is a character (as
 * csv-spectrum has it: 37°36'37.8"N), and is bad only if that leaves a
 * quote open at its line's end ("a"b, text after a closing quote).
 */
#define PARSER_OPTIONS (CSV_STRICT | CSV_STRICT_FINI | CSV_EMPTY_IS_NULL)
#define LENIENT_OPTIONS CSV_EMPTY_IS_NULL
#define FIELD_BEGUN 2		/* libcsv's state inside a field */
#define ROW_MAX_TEXT "4194304"	/* CSV_ROW_MAX */
#define QUOTE_MAX 40		/* bytes of a value quoted in a reason */

static const char bom[] = "\xef\xbb\xbf";

int csv_check_utf8(const char *s, size_t len, size_t *bad)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0;

	while (i < len) {
		unsigned c = p[i], lo = 0x80, hi = 0xbf, n, k;

		/* Eight ASCII bytes at a time: no high bit, no zero byte. */
		while (i + 8 <= len) {
			uint64_t v;

			memcpy(&v, p + i, 8);
			if ((v & 0x8080808080808080ULL) ||
			    ((v - 0x0101010101010101ULL) & ~v & 0x8080808080808080ULL))
				break;
			i += 8;
		}
		if (i >= len)
			break;
		c = p[i];
		if (c >= 0x01 && c < 0x80) {
			i++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf)
			n = 1;
		else if (c >= 0xe0 && c <= 0xef) {
			n = 2;
			if (c == 0xe0)
				lo = 0xa0;
			else if (c == 0xed)
				hi = 0x9f;
		} else if (c >= 0xf0 && c <= 0xf4) {
			n = 3;
			if (c == 0xf0)
				lo = 0x90;
			else if (c == 0xf4)
				hi = 0x8f;
		} else
			goto fail;
		if (i + n >= len)
			goto fail;
		for (k = 1; k <= n; k++) {
			unsigned b = p[i + k];

			if (b < lo || b > hi)
				goto fail;
			lo = 0x80;
			hi = 0xbf;
		}
		i += n + 1;
	}
	return 0;
fail:
	*bad = i;
	return -1;
}

void csv_add_sanitized(struct buf *b, const char *s, size_t len, size_t max)
{
	size_t i = 0, bad;
	int cut = len > max;

	if (cut)
		len = max;
	while (i < len) {
		size_t n;

		if (csv_check_utf8(s + i, len - i, &bad) == 0) {
			buf_add(b, s + i, len - i);
			break;
		}
		buf_add(b, s + i, bad);
		i += bad;
		/* A sequence cut by max is not an invalid one. */
		n = 1;
		if (cut && len - i < 4 && (unsigned char)s[i] >= 0xc2) {
			size_t want = (unsigned char)s[i] >= 0xf0 ? 4 :
				      (unsigned char)s[i] >= 0xe0 ? 3 : 2;

			if (len - i < want)
				break;
		}
		buf_add(b, "\xef\xbf\xbd", 3);
		i += n;
	}
	if (cut)
		buf_adds(b, "...");
}

/* Appends a value for a reason: sanitized, short, control characters as '?'. */
static void add_quoted(struct buf *b, const char *s, size_t len)
{
	size_t start = b->len, i;

	buf_addch(b, '\'');
	csv_add_sanitized(b, s, len, QUOTE_MAX);
	for (i = start + 1; i < b->len; i++)
		if ((unsigned char)b->buf[i] < 0x20 || b->buf[i] == 0x7f)
			b->buf[i] = '?';
	buf_addch(b, '\'');
}

/* Reads exactly n decimal digits. */
static int read_digits(const char *s, int n, int *out)
{
	int v = 0, i;

	for (i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	*out = v;
	return 0;
}

/* Days from 1970-01-01 to a proleptic Gregorian date (after H. Hinnant). */
static int64_t days_from_civil(int y, int m, int d)
{
	int64_t era;
	unsigned yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = (unsigned)(y - era * 400);
	doy = (153 * (unsigned)(m + (m > 2 ? -3 : 9)) + 2) / 5 + (unsigned)d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (int64_t)doe - 719468;
}

static int days_in_month(int y, int m)
{
	static const int days[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;

	return days[m - 1] + (m == 2 && leap);
}

int csv_parse_timestamp(const char *s, size_t len, int64_t *out)
{
	const char *p = s, *end = s + len;
	int y, mo, d, h, mi, sec = 0, oh = 0, om = 0, sign = 1, ndig = 0;
	int64_t frac = 0, days, secs;

	if (len < 17 || read_digits(p, 4, &y) || p[4] != '-' ||
	    read_digits(p + 5, 2, &mo) || p[7] != '-' || read_digits(p + 8, 2, &d))
		return -1;
	if (p[10] != 'T' && p[10] != 't' && p[10] != ' ')
		return -1;
	p += 11;
	if (read_digits(p, 2, &h) || p[2] != ':' || read_digits(p + 3, 2, &mi))
		return -1;
	p += 5;
	if (p < end && *p == ':') {
		if (end - p < 3 || read_digits(p + 1, 2, &sec))
			return -1;
		p += 3;
		if (p < end && (*p == '.' || *p == ',')) {
			for (p++; p < end && *p >= '0' && *p <= '9'; p++, ndig++) {
				if (ndig < 6)
					frac = frac * 10 + (*p - '0');
				else if (ndig == 6 && *p >= '5')
					frac++;	/* rounds, as PostgreSQL does */
			}
			if (!ndig)
				return -1;
			for (; ndig < 6; ndig++)
				frac *= 10;
		}
	}
	if (p < end && (*p == 'Z' || *p == 'z')) {
		p++;
	} else if (p < end && (*p == '+' || *p == '-')) {
		sign = *p++ == '-' ? -1 : 1;
		if (end - p < 2 || read_digits(p, 2, &oh))
			return -1;
		p += 2;
		if (p < end && *p == ':')
			p++;
		if (p < end) {
			if (end - p < 2 || read_digits(p, 2, &om))
				return -1;
			p += 2;
		}
	} else {
		return -1;	/* no offset: the time would mean nothing */
	}
	if (p != end)
		return -1;
	if (y < 1 || mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo) ||
	    h > 23 || mi > 59 || sec > 59 || oh > 15 || om > 59)
		return -1;
	days = days_from_civil(y, mo, d) - 10957;	/* from 2000-01-01 */
	secs = days * 86400 + h * 3600 + mi * 60 + sec - sign * (oh * 3600 + om * 60);
	*out = secs * 1000000 + frac;
	return 0;
}

static int bad_row(struct csv_row *row, struct buf *reason, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int bad_row(struct csv_row *row, struct buf *reason, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	buf_vaddf(reason, fmt, ap);
	va_end(ap);
	row->error = reason->buf;
	return -1;
}

/* Parses customer_id: decimal digits only, 1 .. 2^63-1. */
static int parse_customer_id(const char *s, size_t len, long long *out)
{
	unsigned long long v = 0;
	size_t i;

	if (!len)
		return -1;
	for (i = 0; i < len; i++) {
		unsigned dgt = (unsigned char)s[i] - '0';

		if (dgt > 9 || v > (9223372036854775807ULL - dgt) / 10)
			return -1;
		v = v * 10 + dgt;
	}
	if (v < 1)
		return -1;
	*out = (long long)v;
	return 0;
}

/* csv_check_row(), told whether the row's raw text is known to be good UTF-8. */
static int check_row(struct csv_row *row, int ncolumns, struct buf *reason,
		     int utf8_known)
{
	const struct csv_field *f;
	size_t off;
	int i;

	buf_reset(reason);
	row->error = NULL;
	if (row->nfields != ncolumns)
		return bad_row(row, reason, "expected %d fields, found %d",
			       ncolumns, row->nfields);
	for (i = 0; i < ncolumns && !utf8_known; i++) {
		f = &row->field[i];
		if (f->len > CSV_FIELD_MAX)
			return bad_row(row, reason, "field '%s' is %zu bytes long, "
				       "more than %d", csv_column_names[i],
				       f->len, CSV_FIELD_MAX);
		if (csv_check_utf8(f->data, f->len, &off) == 0)
			continue;
		if (!f->data[off])
			return bad_row(row, reason, "NUL byte in field '%s' at "
				       "offset %zu", csv_column_names[i], off);
		return bad_row(row, reason, "invalid UTF-8 in field '%s' at "
			       "offset %zu (byte 0x%02x)", csv_column_names[i],
			       off, (unsigned char)f->data[off]);
	}
	f = &row->field[CSV_CUSTOMER_ID];
	if (f->null || !f->len)
		return bad_row(row, reason, "customer_id is empty");
	if (parse_customer_id(f->data, f->len, &row->customer_id) < 0) {
		buf_adds(reason, "customer_id ");
		add_quoted(reason, f->data, f->len);
		return bad_row(row, reason, " is not an integer in "
			       "1..9223372036854775807");
	}
	f = &row->field[CSV_UPDATE_TIMESTAMP];
	if (f->null || !f->len)
		return bad_row(row, reason, "update_timestamp is empty");
	if (csv_parse_timestamp(f->data, f->len, &row->timestamp) < 0) {
		buf_adds(reason, "update_timestamp ");
		add_quoted(reason, f->data, f->len);
		return bad_row(row, reason, " is not an ISO 8601 time with "
			       "a UTC offset");
	}
	f = &row->field[CSV_OP];
	if (ncolumns > CSV_OP && f->len &&
	    (f->len != 1 || !strchr("IUD", f->data[0]))) {
		buf_adds(reason, "op ");
		add_quoted(reason, f->data, f->len);
		return bad_row(row, reason, " is not I, U, D or empty");
	}
	return 0;
}

int csv_check_row(struct csv_row *row, int ncolumns, struct buf *reason)
{
	return check_row(row, ncolumns, reason, 0);
}

static void parser_reset(struct csv_reader *r)
{
	csv_free(r->parser);
	csv_init(r->parser, PARSER_OPTIONS);
}

static void row_reset(struct csv_reader *r)
{
	buf_reset(&r->fields);
	r->nfields = 0;
	r->too_long = 0;
}

void csv_reader_init(struct csv_reader *r, csv_row_fn fn, void *arg)
{
	memset(r, 0, sizeof(*r));
	r->parser = xmalloc(sizeof(*r->parser));
	csv_init(r->parser, PARSER_OPTIONS);	/* fails only for NULL */
	r->fn = fn;
	r->arg = arg;
	r->line = 1;
	r->row_line = 1;
	buf_init(&r->in, 0);
	r->base = r->in.buf;
	buf_init(&r->fields, 0);
	buf_init(&r->reason, 0);
	buf_init(&r->err, 0);
}

void csv_reader_release(struct csv_reader *r)
{
	csv_free(r->parser);
	free(r->parser);
	r->parser = NULL;
	buf_release(&r->in);
	buf_release(&r->fields);
	buf_release(&r->reason);
	buf_release(&r->err);
}

static void fail_file(struct csv_reader *r, const char *why)
{
	if (why && !r->err.len)
		buf_adds(&r->err, why);
	r->stopped = 1;
}

/* The header names the columns of DESIGN §1, op optional. */
static void check_header(struct csv_reader *r)
{
	int i, n = r->nfields;
	struct buf want = BUF_INIT;

	for (i = 0; i < CSV_NCOLUMNS && i < n; i++)
		if (r->len[i] != strlen(csv_column_names[i]) ||
		    strcasecmp(r->fields.buf + r->off[i], csv_column_names[i]))
			break;
	if ((n == CSV_NCOLUMNS || n == CSV_NCOLUMNS - 1) && i == n) {
		r->ncolumns = n;
		return;
	}
	for (i = 0; i < CSV_NCOLUMNS - 1; i++)
		buf_addf(&want, "%s%s", i ? "," : "", csv_column_names[i]);
	buf_setf(&r->err, "bad header on line %lld: expected '%s[,op]'",
		 r->row_line, want.buf);
	buf_release(&want);
	fail_file(r, NULL);
}

/* Hands a finished row (or, with error, a row the reader rejected) to fn. */
static void deliver(struct csv_reader *r, const char *error)
{
	struct csv_row row;
	const char *raw = r->base + r->row_start;
	size_t raw_len = r->piece_end - r->row_start;
	int i;

	if (r->stopped)
		return;
	while (raw_len && (raw[raw_len - 1] == '\n' || raw[raw_len - 1] == '\r'))
		raw_len--;
	if (!r->ncolumns) {
		if (error)
			buf_setf(&r->err, "bad header on line %lld: %s",
				 r->row_line, error);
		else
			check_header(r);
		if (error)
			fail_file(r, NULL);
		return;
	}
	memset(&row, 0, sizeof(row));
	row.line = r->row_line;
	row.raw = raw;
	row.raw_len = raw_len;
	row.nfields = r->nfields;
	for (i = 0; i < CSV_NCOLUMNS; i++) {
		int have = i < r->nfields;

		row.field[i].data = have ? r->fields.buf + r->off[i] : "";
		row.field[i].len = have ? r->len[i] : 0;
		row.field[i].null = have ? r->null[i] : 1;
	}
	buf_reset(&r->reason);
	if (error) {
		buf_adds(&r->reason, error);
		row.error = r->reason.buf;
	} else if (r->too_long && r->nfields == r->ncolumns) {
		buf_addf(&r->reason, "field '%s' is longer than %d bytes",
			 csv_column_names[r->too_long - 1], CSV_FIELD_MAX);
		row.error = r->reason.buf;
	} else {
		size_t off;

		/* Fields are the raw bytes less ASCII quotes and commas, so
		 * a raw row of good UTF-8 has only good fields: one check. */
		check_row(&row, r->ncolumns, &r->reason,
			  csv_check_utf8(raw, raw_len, &off) == 0);
	}
	r->rows++;
	if (row.error)
		r->bad++;
	if (r->fn(&row, r->arg) < 0)
		r->stopped = 1;
}

static void on_field(void *data, size_t len, void *arg)
{
	struct csv_reader *r = arg;
	int i = r->nfields;

	if (r->nfields < 1 << 30)
		r->nfields++;
	if (r->stopped || i >= CSV_NCOLUMNS)
		return;
	if (len > CSV_FIELD_MAX) {
		if (!r->too_long)
			r->too_long = i + 1;
		len = 0;
	}
	r->null[i] = data == NULL;
	r->off[i] = r->fields.len;
	r->len[i] = len;
	buf_grow(&r->fields, len + 1);
	if (len)
		memcpy(r->fields.buf + r->fields.len, data, len);
	r->fields.buf[r->fields.len + len] = '\0';
	buf_setlen(&r->fields, r->fields.len + len + 1);
}

static const char bare_cr[] =
	"a CR alone ends the row (lines must end in LF or CRLF)";

static void on_row(int c, void *arg)
{
	struct csv_reader *r = arg;

	deliver(r, c == '\r' && r->bare_cr ? bare_cr : NULL);
	row_reset(r);
}

static const char malformed[] = "malformed quotes (text after a closing quote)";

/*
 * Parses the open row again, from its start to end, with a lenient
 * parser; delivers it if that ends the row, else rejects it.
 */
static void parse_leniently(struct csv_reader *r, size_t end)
{
	struct csv_parser p;
	int last = end == r->row_start || r->base[end - 1] != '\n';

	row_reset(r);
	csv_init(&p, LENIENT_OPTIONS);
	csv_parse(&p, r->base + r->row_start, end - r->row_start,
		  on_field, on_row, r);
	/* the file's last line may end without a line end */
	if (last && !(p.pstate == FIELD_BEGUN && p.quoted))
		csv_fini(&p, on_field, on_row, r);
	if (p.pstate != 0) {	/* libcsv's ROW_NOT_BEGUN */
		row_reset(r);
		deliver(r, malformed);
	}
	csv_free(&p);
	row_reset(r);
}

/* Parses in[start, end), a line or part of one; bare: it ends in a lone CR. */
static void parse_range(struct csv_reader *r, size_t start, size_t end, int bare)
{
	size_t n;

	if (r->parser->pstate == 0) {	/* libcsv's ROW_NOT_BEGUN */
		r->row_start = start;
		r->row_line = r->line;
	}
	r->piece_end = end;
	r->bare_cr = bare;
	n = csv_parse(r->parser, r->base + start, end - start,
		      on_field, on_row, r);
	if (n != end - start) {
		if (csv_error(r->parser) == CSV_EPARSE) {
			parse_leniently(r, end);
		} else {
			buf_setf(&r->err, "cannot parse: %s",
				 csv_strerror(csv_error(r->parser)));
			fail_file(r, NULL);
		}
		parser_reset(r);
		row_reset(r);
	}
	r->bare_cr = 0;
	if (r->parser->pstate == 0)
		r->row_start = end;
}

/*
 * Parses in[start, end): whole lines, or the file's last bytes.  libcsv
 * ends a row at a CR; one not followed by LF splits the piece there, so
 * that a row it ends is known (and rejected: its line number would be
 * shared).
 */
static void parse_piece(struct csv_reader *r, size_t start, size_t end)
{
	const char *cr;
	size_t at = start;

	while (!r->stopped &&
	       (cr = memchr(r->base + at, '\r', end - at)) &&
	       (size_t)(cr - r->base) + 1 < end) {
		at = (size_t)(cr - r->base) + 1;
		if (r->base[at] == '\n')
			continue;
		parse_range(r, start, at, 1);
		start = at;
	}
	if (!r->stopped && start < end)
		parse_range(r, start, end, 0);
	r->fed = end;
	if (end > 0 && r->base[end - 1] == '\n')
		r->line++;
	if (r->parser->pstate == 0) {
		r->row_start = end;
		r->row_line = r->line;
	}
}

/* Drops the bytes before the open row, so that in holds only what counts. */
static void compact(struct csv_reader *r)
{
	if (!r->row_start)
		return;
	memmove(r->in.buf, r->in.buf + r->row_start, r->in.len - r->row_start);
	buf_setlen(&r->in, r->in.len - r->row_start);
	r->fed -= r->row_start;
	r->row_start = 0;
}

/* Parses the complete lines of base[fed, base_len).  Returns 0 or -1. */
static int parse_lines(struct csv_reader *r)
{
	const char *nl;

	while (!r->stopped &&
	       (nl = memchr(r->base + r->fed, '\n', r->base_len - r->fed)))
		parse_piece(r, r->fed, (size_t)(nl + 1 - r->base));
	return r->stopped ? -1 : 0;
}

/*
 * Keeps what follows the last complete line, from the open row's start,
 * in in (where the next bytes will complete it), or rejects the row if it
 * has grown too long.  Returns 0 or -1.
 */
static int keep_rest(struct csv_reader *r)
{
	size_t rest = r->base_len - r->row_start;

	if (rest > CSV_ROW_MAX) {
		r->piece_end = r->base_len;
		deliver(r, "row is longer than " ROW_MAX_TEXT " bytes (an unbalanced quote?)");
		parser_reset(r);
		row_reset(r);
		buf_reset(&r->in);
		r->fed = r->row_start = 0;
		r->skipping = 1;
	} else if (r->base == r->in.buf) {
		compact(r);
	} else {
		buf_add(&r->in, r->base + r->row_start, rest);
		r->fed -= r->row_start;
		r->row_start = 0;
	}
	r->base = r->in.buf;
	r->base_len = r->in.len;
	return r->stopped ? -1 : 0;
}

/*
 * Bytes go through in only while a line is incomplete (or the BOM not yet
 * known); whole lines are parsed where the caller has them.
 */
int csv_reader_feed(struct csv_reader *r, const void *data, size_t len)
{
	const char *p = data, *nl;

	if (r->stopped)
		return -1;
	if (r->skipping) {
		nl = memchr(p, '\n', len);
		if (!nl)
			return 0;
		r->skipping = 0;
		r->line++;
		len -= (size_t)(nl + 1 - p);
		p = nl + 1;
	}
	if (!r->started) {
		buf_add(&r->in, p, len);
		if (r->in.len < 3 && !memchr(r->in.buf, '\n', r->in.len))
			return 0;
		r->started = 1;
		if (r->in.len >= 3 && !memcmp(r->in.buf, bom, 3)) {
			memmove(r->in.buf, r->in.buf + 3, r->in.len - 3);
			buf_setlen(&r->in, r->in.len - 3);
		}
		r->base = r->in.buf;
		r->base_len = r->in.len;
		return parse_lines(r) < 0 ? -1 : keep_rest(r);
	}
	while (r->in.len && len) {	/* complete what in holds, line by line */
		size_t n;

		nl = memchr(p, '\n', len);
		n = nl ? (size_t)(nl + 1 - p) : len;
		buf_add(&r->in, p, n);
		p += n;
		len -= n;
		r->base = r->in.buf;
		r->base_len = r->in.len;
		if (parse_lines(r) < 0 || keep_rest(r) < 0)
			return -1;
		if (r->skipping)
			return csv_reader_feed(r, p, len);
	}
	if (!len)
		return 0;
	r->base = p;
	r->base_len = len;
	r->fed = r->row_start = 0;
	if (parse_lines(r) < 0) {
		r->base = r->in.buf;
		r->base_len = r->in.len;
		return -1;
	}
	return keep_rest(r);
}

int csv_reader_finish(struct csv_reader *r)
{
	if (r->stopped)
		return -1;
	r->started = 1;
	r->base = r->in.buf;
	r->base_len = r->in.len;
	if (!r->skipping) {
		if (r->fed < r->in.len)
			parse_piece(r, r->fed, r->in.len);
		r->piece_end = r->in.len;
		if (!r->stopped &&
		    csv_fini(r->parser, on_field, on_row, r) != 0) {
			deliver(r, "unterminated quoted field at the end of the file");
			parser_reset(r);
		}
	}
	row_reset(r);
	if (!r->stopped && !r->ncolumns)
		fail_file(r, "no header: the file is empty");
	return r->stopped ? -1 : 0;
}
