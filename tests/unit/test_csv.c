/* Unit tests of the CSV reader and row checks (src/lib/csv.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "csv.h"
#include "util.h"

#define HEADER "customer_id,first_name,last_name,email,street,city,state," \
	"country,update_timestamp,op\n"
#define GOOD "1,Ann,Lee,a@x.org,1 Main St,Oslo,,NO,2026-11-22T02:10:48.123456Z,I\n"

/* What the reader handed over, one line per row: "line|error" or "line|ok|fields". */
struct seen {
	struct buf out;
	int stop_after;
};

static int record_row(const struct csv_row *row, void *arg)
{
	struct seen *s = arg;
	int i;

	buf_addf(&s->out, "%lld|", row->line);
	if (row->error) {
		buf_addf(&s->out, "%s\n", row->error);
	} else {
		buf_addf(&s->out, "%lld|%lld", row->customer_id,
			 (long long)row->timestamp);
		for (i = 1; i < CSV_NCOLUMNS; i++)
			buf_addf(&s->out, "|%s", row->field[i].null ? "\\N" :
				 row->field[i].data);
		buf_addch(&s->out, '\n');
	}
	return --s->stop_after == 0 ? -1 : 0;
}

/* Reads text in pieces of step bytes; returns the reader's result. */
static int read_text(const char *text, size_t len, size_t step,
		     struct seen *s, struct buf *err)
{
	struct csv_reader r;
	size_t i;
	int ret = 0;

	buf_init(&s->out, 0);
	csv_reader_init(&r, record_row, s);
	for (i = 0; i < len && ret == 0; i += step)
		ret = csv_reader_feed(&r, text + i, len - i < step ? len - i : step);
	if (ret == 0)
		ret = csv_reader_finish(&r);
	if (err) {
		buf_init(err, 0);
		buf_adds(err, r.err.buf);
	}
	csv_reader_release(&r);
	return ret;
}

static void good_row_has_its_values(void **state)
{
	struct seen s = { BUF_INIT, 0 };
	const char *text = HEADER GOOD "2,\"\",,\"q \"\"x\"\"\",,,,,2000-01-01T00:00:00+00:00,\n";

	(void)state;
	assert_int_equal(read_text(text, strlen(text), 1 << 20, &s, NULL), 0);
	assert_string_equal(s.out.buf,
		"2|1|848628648123456|Ann|Lee|a@x.org|1 Main St|Oslo|\\N|NO|2026-11-22T02:10:48.123456Z|I\n"
		"3|2|0||\\N|q \"x\"|\\N|\\N|\\N|\\N|2000-01-01T00:00:00+00:00|\\N\n");
	buf_release(&s.out);
}

static void any_piece_size_gives_the_same_rows(void **state)
{
	const char *text = "\xef\xbb\xbf" HEADER GOOD
		"3,\"multi\r\nline\",b,c,d,e,f,g,2026-01-01T00:00:00Z,U\r\n"
		"bad,a,b,c,d,e,f,g,2026-01-01T00:00:00Z,D\r\n"
		"\n"
		"4,a,b,c,d,e,f,g,2026-01-01T00:00:00Z,D";
	struct seen whole = { BUF_INIT, 0 }, s = { BUF_INIT, 0 };
	size_t step;

	(void)state;
	assert_int_equal(read_text(text, strlen(text), 1 << 20, &whole, NULL), 0);
	assert_non_null(strstr(whole.out.buf, "3|3|820540800000000|multi\r\nline|"));
	assert_non_null(strstr(whole.out.buf, "5|customer_id 'bad' is not an integer"));
	assert_non_null(strstr(whole.out.buf, "7|4|"));
	for (step = 1; step < 9; step++) {
		assert_int_equal(read_text(text, strlen(text), step, &s, NULL), 0);
		assert_string_equal(s.out.buf, whole.out.buf);
		buf_release(&s.out);
	}
	for (step = 100; step < strlen(text); step += 7) {
		assert_int_equal(read_text(text, strlen(text), step, &s, NULL), 0);
		assert_string_equal(s.out.buf, whole.out.buf);
		buf_release(&s.out);
	}
	buf_release(&whole.out);
}

static void bad_header_fails_the_file(void **state)
{
	struct seen s = { BUF_INIT, 0 };
	struct buf err;
	const char *text = "id,name\n1,2\n";

	(void)state;
	assert_int_equal(read_text(text, strlen(text), 4, &s, &err), -1);
	assert_non_null(strstr(err.buf, "bad header on line 1"));
	assert_string_equal(s.out.buf, "");
	buf_release(&err);
	buf_release(&s.out);
	assert_int_equal(read_text("", 0, 4, &s, &err), -1);
	assert_non_null(strstr(err.buf, "no header"));
	buf_release(&err);
	buf_release(&s.out);
}

static void header_without_op_is_accepted(void **state)
{
	struct seen s = { BUF_INIT, 0 };
	const char *text = "customer_id,first_name,last_name,email,street,city,"
		"state,country,update_timestamp\n5,a,b,c,d,e,f,g,2026-01-01 01:00:00+01\n"
		"6,a,b,c,d,e,f,g,2026-01-01T00:00:00Z,D\n";

	(void)state;
	assert_int_equal(read_text(text, strlen(text), 7, &s, NULL), 0);
	assert_string_equal(s.out.buf,
		"2|5|820540800000000|a|b|c|d|e|f|g|2026-01-01 01:00:00+01|\\N\n"
		"3|expected 9 fields, found 10\n");
	buf_release(&s.out);
}

static void each_bad_row_has_a_reason(void **state)
{
	static const struct { const char *row, *reason; } cases[] = {
		{ "1,a,b,c,d,e,f,g,2026-01-01T00:00:00Z\n", "expected 10 fields, found 9" },
		{ ",a,b,c,d,e,f,g,2026-01-01T00:00:00Z,\n", "customer_id is empty" },
		{ "0,a,b,c,d,e,f,g,2026-01-01T00:00:00Z,\n", "customer_id '0' is not" },
		{ "9223372036854775808,a,b,c,d,e,f,g,2026-01-01T00:00:00Z,\n", "is not an integer" },
		{ "-1,a,b,c,d,e,f,g,2026-01-01T00:00:00Z,\n", "is not an integer" },
		{ "1,a,b,c,d,e,f,g,,\n", "update_timestamp is empty" },
		{ "1,a,b,c,d,e,f,g,2026-01-01T00:00:00,\n", "not an ISO 8601 time with a UTC offset" },
		{ "1,a,b,c,d,e,f,g,2026-02-29T00:00:00Z,\n", "not an ISO 8601 time" },
		{ "1,a,b,c,d,e,f,g,2026-01-01T24:00:00Z,\n", "not an ISO 8601 time" },
		{ "1,a,b,c,d,e,f,g,2026-01-01T00:00:00Z,X\n", "op 'X' is not I, U, D or empty" },
		{ "1,a,b,c,d,e,f,g,2026-01-01T00:00:00Z,DD\n", "op 'DD' is not" },
		{ "1,a\xff,b,c,d,e,f,g,2026-01-01T00:00:00Z,\n", "invalid UTF-8 in field 'first_name' at offset 1 (byte 0xff)" },
		{ "1,a,\xc0\x80,c,d,e,f,g,2026-01-01T00:00:00Z,\n", "invalid UTF-8 in field 'last_name'" },
		{ "1,a,b,\xed\xa0\x80,d,e,f,g,2026-01-01T00:00:00Z,\n", "invalid UTF-8 in field 'email'" },
		{ "1,a,b,c,d\xe2\x82,e,f,g,2026-01-01T00:00:00Z,\n", "invalid UTF-8 in field 'street'" },
		{ "1,a,b,c,d,x\0y,f,g,2026-01-01T00:00:00Z,\n", "NUL byte in field 'city' at offset 1" },
		{ "1,\"a\"b,b,c,d,e,f,g,2026-01-01T00:00:00Z,\n", "malformed quotes" },
		{ "1,a,\"b\" x,c,d,e,f,g,2026-01-01T00:00:00Z,\n", "malformed quotes" },
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct seen s = { BUF_INIT, 0 };
		struct buf text = BUF_INIT;
		size_t rowlen = strlen(cases[i].row);

		if (strstr(cases[i].reason, "NUL"))
			rowlen = strlen(cases[i].row) + 1 + strlen(cases[i].row + strlen(cases[i].row) + 1);
		buf_adds(&text, HEADER);
		buf_add(&text, cases[i].row, rowlen);
		buf_adds(&text, GOOD);
		assert_int_equal(read_text(text.buf, text.len, 5, &s, NULL), 0);
		if (!strstr(s.out.buf, cases[i].reason) || strncmp(s.out.buf, "2|", 2))
			fail_msg("case %zu: got '%s', want '%s'", i, s.out.buf,
				 cases[i].reason);
		/* the reader goes on with the next row */
		assert_non_null(strstr(s.out.buf, "\n3|1|"));
		buf_release(&s.out);
		buf_release(&text);
	}
}

static void quote_inside_an_unquoted_field_is_a_character(void **state)
{
	struct seen s = { BUF_INIT, 0 };
	const char *text = HEADER "1,a\"b,37.8\"N 121\"W,c,d,e,f,g,2026-01-01T00:00:00Z,\n"
		"2,\"x\ny\",\"z,\"\" \",c,d,e,f,g,2026-01-01T00:00:00Z,\n";

	(void)state;
	assert_int_equal(read_text(text, strlen(text), 3, &s, NULL), 0);
	assert_string_equal(s.out.buf,
		"2|1|820540800000000|a\"b|37.8\"N 121\"W|c|d|e|f|g|2026-01-01T00:00:00Z|\\N\n"
		"3|2|820540800000000|x\ny|z,\" |c|d|e|f|g|2026-01-01T00:00:00Z|\\N\n");
	buf_release(&s.out);
}

static void lone_cr_ends_a_row_that_is_rejected(void **state)
{
	struct seen s = { BUF_INIT, 0 };
	const char *text = HEADER "1,a,b,c,d,e,f,g,2026-01-01T00:00:00Z,\r"
		"2,a,b,c,d,e,f,g,2026-01-01T00:00:00Z,\n"
		"3,\"x\ry\",b,c,d,e,f,g,2026-01-01T00:00:00Z,\r\n"
		"4,a,b,c,d,e,f,g,2026-01-01T00:00:00Z,\r";

	(void)state;
	assert_int_equal(read_text(text, strlen(text), 5, &s, NULL), 0);
	assert_string_equal(s.out.buf,
		"2|a CR alone ends the row (lines must end in LF or CRLF)\n"
		"2|2|820540800000000|a|b|c|d|e|f|g|2026-01-01T00:00:00Z|\\N\n"
		"3|3|820540800000000|x\ry|b|c|d|e|f|g|2026-01-01T00:00:00Z|\\N\n"
		"4|4|820540800000000|a|b|c|d|e|f|g|2026-01-01T00:00:00Z|\\N\n");
	buf_release(&s.out);
}

static void big_field_is_rejected_and_reading_goes_on(void **state)
{
	struct seen s = { BUF_INIT, 0 };
	struct buf text = BUF_INIT;
	size_t n = 2 << 20;
	char *big = xmalloc(n);

	(void)state;
	memset(big, 'x', n);
	buf_adds(&text, HEADER "1,");
	buf_add(&text, big, n);
	buf_adds(&text, ",b,c,d,e,f,g,2026-01-01T00:00:00Z,\n" GOOD);
	assert_int_equal(read_text(text.buf, text.len, 65536, &s, NULL), 0);
	assert_string_equal(strchr(s.out.buf, '\n') + 1,
		"3|1|848628648123456|Ann|Lee|a@x.org|1 Main St|Oslo|\\N|NO|2026-11-22T02:10:48.123456Z|I\n");
	assert_non_null(strstr(s.out.buf, "2|field 'first_name' is longer than 1048576 bytes"));
	buf_release(&s.out);
	buf_release(&text);
	free(big);
}

static void unbalanced_quote_is_one_bad_row(void **state)
{
	struct seen s = { BUF_INIT, 0 };
	const char *text = HEADER "1,\"open,b,c,d,e,f,g,2026-01-01T00:00:00Z,\n" GOOD GOOD;
	struct buf big = BUF_INIT;
	int i;

	(void)state;
	assert_int_equal(read_text(text, strlen(text), 3, &s, NULL), 0);
	assert_string_equal(s.out.buf, "2|unterminated quoted field at the end of the file\n");
	buf_release(&s.out);

	/* Longer than a row may be: rejected, then reading starts again. */
	buf_adds(&big, HEADER "1,\"open\n");
	for (i = 0; i < 100000; i++)
		buf_adds(&big, "filler,filler,filler,filler,filler,filler\n");
	assert_int_equal(read_text(big.buf, big.len, 65536, &s, NULL), -0);
	assert_non_null(strstr(s.out.buf, "2|row is longer than 4194304 bytes"));
	buf_release(&s.out);
	buf_release(&big);
}

static void callback_can_stop_the_reader(void **state)
{
	struct seen s = { BUF_INIT, 1 };
	const char *text = HEADER GOOD GOOD GOOD;

	(void)state;
	assert_int_equal(read_text(text, strlen(text), 10, &s, NULL), -1);
	assert_string_equal(strchr(s.out.buf, '|') + 1,
		"1|848628648123456|Ann|Lee|a@x.org|1 Main St|Oslo|\\N|NO|2026-11-22T02:10:48.123456Z|I\n");
	buf_release(&s.out);
}

static void timestamps_convert_to_postgres_microseconds(void **state)
{
	int64_t t, u;

	(void)state;
	assert_int_equal(csv_parse_timestamp("2000-01-01T00:00:00Z", 20, &t), 0);
	assert_int_equal(t, 0);
	assert_int_equal(csv_parse_timestamp("2000-01-01T01:00:00+01:00", 25, &t), 0);
	assert_int_equal(t, 0);
	assert_int_equal(csv_parse_timestamp("1999-12-31T19:00-0500", 21, &t), 0);
	assert_int_equal(t, 0);
	assert_int_equal(csv_parse_timestamp("1970-01-01T00:00:00.0000005Z", 28, &t), 0);
	assert_int_equal(t, -946684800000000LL + 1);
	assert_int_equal(csv_parse_timestamp("2024-02-29 12:00:00.5z", 22, &t), 0);
	assert_int_equal(csv_parse_timestamp("2024-02-29 12:00:00.500000+00", 29, &u), 0);
	assert_int_equal(t, u);
	assert_int_equal(csv_parse_timestamp("2100-02-29T00:00:00Z", 20, &t), -1);
	assert_int_equal(csv_parse_timestamp("2026-11-22T02:10:48.Z", 21, &t), -1);
	assert_int_equal(csv_parse_timestamp("2026-11-22T02:10:48Zjunk", 24, &t), -1);
	assert_int_equal(csv_parse_timestamp("2026-11-22", 10, &t), -1);
}

static void sanitized_text_is_valid_utf8(void **state)
{
	struct buf b = BUF_INIT;
	size_t bad;

	(void)state;
	csv_add_sanitized(&b, "a\xff\0b\xc3\xa9", 6, 100);
	assert_string_equal(b.buf, "a\xef\xbf\xbd\xef\xbf\xbd" "b\xc3\xa9");
	assert_int_equal(csv_check_utf8(b.buf, b.len, &bad), 0);
	buf_reset(&b);
	csv_add_sanitized(&b, "ab\xc3\xa9", 4, 3);
	assert_string_equal(b.buf, "ab...");
	buf_release(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(good_row_has_its_values),
		cmocka_unit_test(any_piece_size_gives_the_same_rows),
		cmocka_unit_test(bad_header_fails_the_file),
		cmocka_unit_test(header_without_op_is_accepted),
		cmocka_unit_test(each_bad_row_has_a_reason),
		cmocka_unit_test(quote_inside_an_unquoted_field_is_a_character),
		cmocka_unit_test(lone_cr_ends_a_row_that_is_rejected),
		cmocka_unit_test(big_field_is_rejected_and_reading_goes_on),
		cmocka_unit_test(unbalanced_quote_is_one_bad_row),
		cmocka_unit_test(callback_can_stop_the_reader),
		cmocka_unit_test(timestamps_convert_to_postgres_microseconds),
		cmocka_unit_test(sanitized_text_is_valid_utf8),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
