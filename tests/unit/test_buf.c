/* Unit tests of struct buf: growth, formatting, ownership. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "buf.h"

static void empty_buffer_is_an_empty_string(void **state)
{
	struct buf b = BUF_INIT;

	(void)state;
	assert_string_equal(b.buf, "");
	assert_int_equal(b.len, 0);
	buf_release(&b);
}

static void add_grows_and_stays_terminated(void **state)
{
	struct buf b = BUF_INIT;
	int i;

	(void)state;
	for (i = 0; i < 10000; i++)
		buf_addch(&b, 'a' + i % 26);
	assert_int_equal(b.len, 10000);
	assert_int_equal(b.buf[10000], '\0');
	assert_int_equal(b.buf[26], 'a');
	buf_release(&b);
}

static void addf_formats_long_text(void **state)
{
	struct buf b = BUF_INIT;
	char big[300];

	(void)state;
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	buf_addf(&b, "%s-%d", big, 42);
	assert_int_equal(b.len, 299 + 3);
	assert_string_equal(b.buf + 299, "-42");
	buf_setf(&b, "%s", "short");
	assert_string_equal(b.buf, "short");
	buf_release(&b);
}

static void detach_hands_over_the_bytes(void **state)
{
	struct buf b = BUF_INIT;
	size_t len;
	char *p;

	(void)state;
	buf_adds(&b, "hello  \n");
	buf_rtrim(&b);
	p = buf_detach(&b, &len);
	assert_string_equal(p, "hello");
	assert_int_equal(len, 5);
	assert_int_equal(b.len, 0);
	assert_string_equal(b.buf, "");
	free(p);
	p = buf_detach(&b, NULL);	/* an empty buffer detaches as "" */
	assert_string_equal(p, "");
	free(p);
}

static void addhex_is_lowercase(void **state)
{
	struct buf b = BUF_INIT;
	const unsigned char bytes[] = { 0x00, 0xab, 0xff };

	(void)state;
	buf_addhex(&b, bytes, sizeof(bytes));
	assert_string_equal(b.buf, "00abff");
	buf_release(&b);
}

static void addquoted_doubles_the_quote(void **state)
{
	struct buf b = BUF_INIT;

	(void)state;
	buf_addquoted(&b, "it's \"x\"", '\'');
	assert_string_equal(b.buf, "'it''s \"x\"'");
	buf_reset(&b);
	buf_addquoted(&b, "a\"b", '"');
	assert_string_equal(b.buf, "\"a\"\"b\"");
	buf_release(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(empty_buffer_is_an_empty_string),
		cmocka_unit_test(add_grows_and_stays_terminated),
		cmocka_unit_test(addf_formats_long_text),
		cmocka_unit_test(detach_hands_over_the_bytes),
		cmocka_unit_test(addhex_is_lowercase),
		cmocka_unit_test(addquoted_doubles_the_quote),
	};

	return cmocka_run_group_tests_name("buf", tests, NULL, NULL);
}
