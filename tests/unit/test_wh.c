/*
 * Unit tests of the warehouse interface (src/lib/wh.c) that need no
 * database: the ODBC parameter markers, literals, the driver choice and
 * the SQL that snow-load --dialect snowflake sends.  The drivers
 * themselves are tested against PostgreSQL by tests/t/0600-odbc.t.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "load.h"
#include "wh.h"

static void markers_replace_parameters_in_order(void **state)
{
	struct buf out = BUF_INIT;
	int order[8];

	(void)state;
	assert_int_equal(wh_odbc_markers("SELECT $2::bigint, $1, $2 || $10", 10,
					 &out, order, 8), 4);
	assert_string_equal(out.buf, "SELECT ?::bigint, ?, ? || ?");
	assert_int_equal(order[0], 1);
	assert_int_equal(order[1], 0);
	assert_int_equal(order[2], 1);
	assert_int_equal(order[3], 9);
	buf_release(&out);
}

static void markers_leave_quotes_comments_and_bodies(void **state)
{
	const char *sql = "SELECT '$1 it''s', \"$1\" -- $1\n"
		" /* $1 */ $$ $1 $$, $f$ $1 $f$, $1";
	struct buf out = BUF_INIT;
	int order[4];

	(void)state;
	assert_int_equal(wh_odbc_markers(sql, 1, &out, order, 4), 1);
	assert_string_equal(out.buf, "SELECT '$1 it''s', \"$1\" -- $1\n"
			    " /* $1 */ $$ $1 $$, $f$ $1 $f$, ?");
	assert_int_equal(order[0], 0);
	buf_release(&out);
}

static void markers_refuse_unknown_parameters(void **state)
{
	struct buf out = BUF_INIT;
	int order[2];

	(void)state;
	assert_int_equal(wh_odbc_markers("SELECT $3", 2, &out, order, 2), -1);
	assert_int_equal(wh_odbc_markers("SELECT $0", 2, &out, order, 2), -1);
	assert_int_equal(wh_odbc_markers("SELECT $1, $1, $1", 1, &out, order, 2), -1);
	buf_release(&out);
}

static void literal_doubles_quotes(void **state)
{
	struct buf b = BUF_INIT;

	(void)state;
	wh_quote_literal(&b, "it's");
	assert_string_equal(b.buf, "'it''s'");
	buf_release(&b);
}

static void odbc_is_chosen_by_prefix(void **state)
{
	(void)state;
	assert_true(wh_is_odbc("odbc:DSN=x"));
	assert_false(wh_is_odbc("postgresql:///db"));
	assert_false(wh_is_odbc("dbname=odbc:"));
	assert_false(wh_is_odbc(NULL));
	assert_true(wh_true("t"));
	assert_true(wh_true("1"));
	assert_false(wh_true("f"));
	assert_false(wh_true("0"));
	assert_false(wh_true(NULL));
}

static void snowflake_copy_into_names_stage_and_options(void **state)
{
	struct load_options o = { LOAD_SKIP_FILE, 0, NULL, NULL };
	struct buf sql = BUF_INIT;

	(void)state;
	assert_int_equal(load_snowflake_sql(&sql, NULL, &o, 0), 0);
	assert_string_equal(sql.buf,
		"COPY INTO customer_raw (customer_id, first_name, last_name,"
		" email, street, city, state, country, update_timestamp, op,"
		" _file, _row, _loaded_at)"
		" FROM (SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10,"
		" METADATA$FILENAME, METADATA$FILE_ROW_NUMBER,"
		" METADATA$START_SCAN_TIME FROM @customer_stage)"
		" FILE_FORMAT = (FORMAT_NAME = 'customer_csv')"
		" PATTERN = '.*customer_[0-9]{14}(_[0-9]+)?[.]csv'"
		" ON_ERROR = SKIP_FILE");
	o.on_error = LOAD_ABORT;
	o.force = 1;
	assert_int_equal(load_snowflake_sql(&sql, "@db.cdc.other/in", &o, 1), 0);
	assert_non_null(strstr(sql.buf, " FROM @db.cdc.other/in)"));
	assert_non_null(strstr(sql.buf, " ON_ERROR = ABORT_STATEMENT FORCE = TRUE"
			       " PURGE = TRUE"));
	o.on_error = LOAD_CONTINUE;
	o.force = 0;
	assert_int_equal(load_snowflake_sql(&sql, NULL, &o, 0), 0);
	assert_non_null(strstr(sql.buf, " ON_ERROR = CONTINUE"));
	assert_int_equal(load_snowflake_sql(&sql, "@x; DROP TABLE t", &o, 0), -1);
	assert_int_equal(load_snowflake_sql(&sql, "customer_stage", &o, 0), -1);
	assert_int_equal(load_snowflake_sql(&sql, "@", &o, 0), -1);
	buf_release(&sql);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(markers_replace_parameters_in_order),
		cmocka_unit_test(markers_leave_quotes_comments_and_bodies),
		cmocka_unit_test(markers_refuse_unknown_parameters),
		cmocka_unit_test(literal_doubles_quotes),
		cmocka_unit_test(odbc_is_chosen_by_prefix),
		cmocka_unit_test(snowflake_copy_into_names_stage_and_options),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
