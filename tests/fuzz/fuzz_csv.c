/*
 * libFuzzer target for the CSV reader and row checks (src/lib/csv.c).
 * Any input must be read without a crash, a leak or undefined behaviour;
 * every valid row's fields must be good UTF-8 without NUL; and reading
 * the input in small pieces, or in two, must give exactly the rows that
 * reading it whole gives.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "csv.h"

/* Records each row into a buf, so that two readings can be compared. */
static int record(const struct csv_row *row, void *arg)
{
	struct buf *out = arg;
	size_t bad;
	int i;

	buf_addf(out, "%lld|%d|", row->line, row->nfields);
	if (row->error) {
		buf_addf(out, "E:%s\n", row->error);
		return 0;
	}
	if (row->customer_id < 1)
		abort();
	buf_addf(out, "%lld|%lld", row->customer_id, (long long)row->timestamp);
	for (i = 0; i < CSV_NCOLUMNS; i++) {
		const struct csv_field *f = &row->field[i];

		if (csv_check_utf8(f->data, f->len, &bad) != 0 || f->len > CSV_FIELD_MAX)
			abort();
		buf_addf(out, "|%d:", f->null);
		buf_add(out, f->data, f->len);
	}
	buf_add(out, "\n", 1);
	return 0;
}

/* Reads data in a first piece of first bytes, then pieces of step bytes. */
static void read_in_pieces(const uint8_t *data, size_t size, size_t first,
			   size_t step, struct buf *out)
{
	struct csv_reader r;
	size_t i, n;
	int ret = 0;

	csv_reader_init(&r, record, out);
	for (i = 0; i < size && ret == 0; i += n) {
		n = i ? step : first;
		if (n > size - i)
			n = size - i;
		ret = csv_reader_feed(&r, data + i, n);
	}
	if (ret == 0)
		csv_reader_finish(&r);
	buf_addf(out, "err:%s rows:%lld bad:%lld\n", r.err.buf, r.rows, r.bad);
	csv_reader_release(&r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct buf whole = BUF_INIT, pieces = BUF_INIT, split = BUF_INIT;
	size_t step = size ? data[0] % 13 + 1 : 1;
	size_t at = size > 1 ? data[1] % size + 1 : 1;

	read_in_pieces(data, size, size ? size : 1, 1, &whole);
	read_in_pieces(data, size, step, step, &pieces);
	/* a short first piece, then the rest parsed where it lies */
	read_in_pieces(data, size, at, size ? size : 1, &split);
	if (whole.len != pieces.len || memcmp(whole.buf, pieces.buf, whole.len) ||
	    whole.len != split.len || memcmp(whole.buf, split.buf, whole.len))
		abort();
	buf_release(&whole);
	buf_release(&pieces);
	buf_release(&split);
	return 0;
}
