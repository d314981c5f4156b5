/* Unit tests of the customer event generator: names, times, tables,
 * determinism, and every row read back by the project's CSV reader. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "csv.h"
#include "gen.h"
#include "gen_data.h"

static struct gen_options options(uint64_t seed)
{
	struct gen_options o = { .seed = seed, .customers = 5000, .update_ratio = 0.6,
		.delete_ratio = 0.05, .dup_ratio = 0.05, .late_ratio = 0.1,
		.foreign_ratio = 0.2, .start_us = 1795313448123456LL, .step_us = 1000 };

	return o;
}

static void names_are_capitalized_as_people_write_them(void **state)
{
	char out[32];

	(void)state;
	gen_capitalize(out, "MARY", 0);
	assert_string_equal(out, "Mary");
	gen_capitalize(out, "MCDONALD", 1);
	assert_string_equal(out, "McDonald");
	gen_capitalize(out, "MACDONALD", 1);
	assert_string_equal(out, "MacDonald");
	gen_capitalize(out, "MACK", 1);
	assert_string_equal(out, "Mack");
	assert_int_equal(gen_capitalize(out, "OBRIEN", 1), 7);
	assert_string_equal(out, "O'Brien");
	gen_capitalize(out, "ODELL", 1);
	assert_string_equal(out, "Odell");
	gen_capitalize(out, "OBRIEN", 0);	/* first names keep their spelling */
	assert_string_equal(out, "Obrien");
}

static void times_format_with_microseconds(void **state)
{
	char out[32];

	(void)state;
	assert_int_equal(gen_format_time(out, 1795313448123456LL), 27);
	out[27] = '\0';
	assert_string_equal(out, "2026-11-22T02:10:48.123456Z");
	gen_format_time(out, 0);
	assert_string_equal(out, "1970-01-01T00:00:00.000000Z");
}

static void times_parse_in_iso_8601(void **state)
{
	int64_t us;

	(void)state;
	assert_int_equal(gen_parse_time("2026-11-22T02:10:48.123456Z", &us), 0);
	assert_true(us == 1795313448123456LL);
	assert_int_equal(gen_parse_time("2026-11-22 03:10:48.123456+01:00", &us), 0);
	assert_true(us == 1795313448123456LL);
	assert_int_equal(gen_parse_time("2026-11-21T21:10:48.123456-0500", &us), 0);
	assert_true(us == 1795313448123456LL);
	assert_int_equal(gen_parse_time("2000-02-29T23:59:59", &us), 0);
	assert_true(us == 951868799000000LL);
	assert_int_equal(gen_parse_time("2000-03-01", &us), 0);
	assert_true(us == 951868800000000LL);
	assert_int_equal(gen_parse_time("@1795313448", &us), 0);
	assert_true(us == 1795313448000000LL);
	assert_int_equal(gen_parse_time("2026-02-30", &us), -1);
	assert_int_equal(gen_parse_time("2026-11-22T25:00:00Z", &us), -1);
	assert_int_equal(gen_parse_time("2026-11-22T02:10", &us), -1);
	assert_int_equal(gen_parse_time("2026-11-22Z junk", &us), -1);
	assert_int_equal(gen_parse_time("1969-12-31", &us), -1);
	assert_int_equal(gen_parse_time("yesterday", &us), -1);
}

static void no_table_value_needs_quoting(void **state)
{
	unsigned i, j;

	(void)state;
	for (i = 0; i < gen_countries_count; i++) {
		assert_null(strpbrk(gen_countries[i].name, ",\"\r\n"));
		for (j = 0; j < gen_countries[i].count; j++) {
			assert_null(strpbrk(gen_countries[i].places[j].city, ",\"\r\n"));
			if (gen_countries[i].places[j].state)
				assert_null(strpbrk(gen_countries[i].places[j].state, ",\"\r\n"));
		}
	}
	for (i = 0; i < gen_street_names_count; i++)
		assert_null(strpbrk(gen_street_names[i], ",\"\r\n"));
	for (i = 0; i < gen_street_suffixes_count; i++)
		assert_null(strpbrk(gen_street_suffixes[i], ",\"\r\n"));
	for (i = 0; i < gen_domains_count; i++)
		assert_null(strpbrk(gen_domains[i].name, ",\"\r\n@ "));
}

static void same_seed_gives_same_rows(void **state)
{
	struct gen_options o = options(42);
	struct gen a, b, c;
	char ra[GEN_ROW_MAX], rb[GEN_ROW_MAX], rc[GEN_ROW_MAX];
	int i, differ = 0;

	(void)state;
	gen_init(&a, &o);
	gen_init(&b, &o);
	o.seed = 43;
	gen_init(&c, &o);
	for (i = 0; i < 20000; i++) {
		size_t na = gen_row(&a, ra), nb = gen_row(&b, rb), nc = gen_row(&c, rc);

		assert_int_equal(na, nb);
		assert_memory_equal(ra, rb, na);
		differ += na != nc || memcmp(ra, rc, na);
	}
	assert_true(differ > 19000);
	gen_release(&a);
	gen_release(&b);
	gen_release(&c);
}

struct seen {
	long long rows, deletes, quoted, null_states;
	int64_t last_ts;
};

static int check_row(const struct csv_row *row, void *arg)
{
	struct seen *s = arg;

	if (row->error)
		fail_msg("line %lld: %s: %.*s", row->line, row->error, (int)row->raw_len, row->raw);
	assert_int_equal(row->nfields, CSV_NCOLUMNS);
	assert_true(row->customer_id >= 1 && row->customer_id <= 5000);
	assert_false(row->field[CSV_FIRST_NAME].null);
	assert_false(row->field[CSV_EMAIL].null);
	assert_non_null(strchr(row->field[CSV_EMAIL].data, '@'));
	s->deletes += row->field[CSV_OP].len == 1;
	s->quoted += row->raw[0] && strchr(row->raw, '"') != NULL;
	s->null_states += row->field[CSV_STATE].null;
	s->rows++;
	return 0;
}

static void every_row_reads_back_with_the_csv_reader(void **state)
{
	struct gen_options o = options(7);
	struct csv_reader r;
	struct seen s = { 0 };
	struct gen g;
	char row[GEN_ROW_MAX];
	int i;

	(void)state;
	gen_init(&g, &o);
	csv_reader_init(&r, check_row, &s);
	assert_int_equal(csv_reader_feed(&r, row, gen_header(row)), 0);
	for (i = 0; i < 50000; i++) {
		size_t n = gen_row(&g, row);

		assert_true(n < GEN_ROW_MAX && row[n - 1] == '\n');
		assert_int_equal(csv_reader_feed(&r, row, n), 0);
	}
	assert_int_equal(csv_reader_finish(&r), 0);
	assert_int_equal(s.rows, 50000);
	assert_int_equal(r.bad, 0);
	assert_true(s.deletes > 0 && s.quoted > 0 && s.null_states > 0);
	assert_int_equal(g.stats.rows, g.stats.news + g.stats.updates + g.stats.deletes + g.stats.dups);
	csv_reader_release(&r);
	gen_release(&g);
}

static void event_times_advance_by_the_step(void **state)
{
	struct gen_options o = options(3);
	struct gen g;
	char row[GEN_ROW_MAX];

	(void)state;
	o.step_us = 2500000;
	gen_init(&g, &o);
	assert_true(gen_next_time(&g) == o.start_us);
	gen_row(&g, row);
	gen_row(&g, row);
	assert_true(gen_next_time(&g) == o.start_us + 5000000);
	gen_release(&g);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(names_are_capitalized_as_people_write_them),
		cmocka_unit_test(times_format_with_microseconds),
		cmocka_unit_test(times_parse_in_iso_8601),
		cmocka_unit_test(no_table_value_needs_quoting),
		cmocka_unit_test(same_seed_gives_same_rows),
		cmocka_unit_test(every_row_reads_back_with_the_csv_reader),
		cmocka_unit_test(event_times_advance_by_the_step),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
