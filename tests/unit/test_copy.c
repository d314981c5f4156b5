/* Unit tests of the binary COPY writer (src/lib/copy.c, copy.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "copy.h"

static void header_and_trailer_are_pgcopy(void **state)
{
	struct buf b = BUF_INIT;

	(void)state;
	copy_add_header(&b);
	assert_int_equal(b.len, 19);
	assert_memory_equal(b.buf, "PGCOPY\n\377\r\n\0\0\0\0\0\0\0\0\0", 19);
	buf_reset(&b);
	copy_add_trailer(&b);
	assert_int_equal(b.len, 2);
	assert_memory_equal(b.buf, "\377\377", 2);
	buf_release(&b);
}

static void fields_are_length_prefixed_big_endian(void **state)
{
	struct buf b = BUF_INIT;

	(void)state;
	copy_add_tuple(&b, 3);
	copy_add_int8(&b, -2);
	copy_add_null(&b);
	copy_add_text(&b, "h\xc3\xa9", 3);
	assert_int_equal(b.len, 2 + 12 + 4 + 7);
	assert_memory_equal(b.buf,
		"\0\3" "\0\0\0\10\377\377\377\377\377\377\377\376" "\377\377\377\377"
		"\0\0\0\3h\xc3\xa9", 25);
	buf_release(&b);
}

static void put_writes_what_add_appends(void **state)
{
	struct buf a = BUF_INIT;
	char out[64], *p = out;

	(void)state;
	copy_add_tuple(&a, 13);
	copy_add_int8(&a, 9223372036854775807LL);
	copy_add_null(&a);
	copy_add_text(&a, "", 0);
	copy_add_text(&a, "abc", 3);
	p = copy_put_tuple(p, 13);
	p = copy_put_int8(p, 9223372036854775807LL);
	p = copy_put_null(p);
	p = copy_put_text(p, "", 0);
	p = copy_put_text(p, "abc", 3);
	assert_int_equal((size_t)(p - out), a.len);
	assert_int_equal(a.len, COPY_TUPLE_SIZE + COPY_INT8_SIZE + COPY_NULL_SIZE +
			 COPY_TEXT_SIZE(0) + COPY_TEXT_SIZE(3));
	assert_memory_equal(out, a.buf, a.len);
	buf_release(&a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(header_and_trailer_are_pgcopy),
		cmocka_unit_test(fields_are_length_prefixed_big_endian),
		cmocka_unit_test(put_writes_what_add_appends),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
