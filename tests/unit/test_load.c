/* Unit tests of the local stage of src/lib/load.c: names, listing, reading. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "load.h"

static char dir[] = "/tmp/test_load.XXXXXX";

static void write_file(const char *name, const char *text)
{
	char path[256];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static int setup(void **state)
{
	(void)state;
	if (!mkdtemp(dir))
		return -1;
	write_file("customer_2.csv", "two\n");
	write_file("customer_1.csv", "one\n");
	write_file(".customer_3.csv", "hidden\n");
	write_file("customer_4.csv.tmp", "temporary\n");
	write_file("notes.txt", "other\n");
	write_file("bad\xff.csv", "not UTF-8\n");
	return 0;
}

static int teardown(void **state)
{
	char cmd[300];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

static void stage_names_are_normalized(void **state)
{
	char *n;

	(void)state;
	n = stage_name("s3://bucket");
	assert_string_equal(n, "s3://bucket/");
	free(n);
	n = stage_name("s3://bucket/in");
	assert_string_equal(n, "s3://bucket/in/");
	free(n);
	n = stage_name("s3://bucket/in/");
	assert_string_equal(n, "s3://bucket/in/");
	free(n);
	assert_null(stage_name("s3:///in/"));
	assert_null(stage_name("/no/such/directory"));
	n = stage_name(dir);
	assert_non_null(n);
	assert_int_equal(n[0], '/');
	free(n);
}

static void listing_keeps_csv_files_in_name_order(void **state)
{
	struct stage st;
	struct stage_list l;

	(void)state;
	assert_int_equal(stage_open(&st, dir, NULL, NULL), 0);
	assert_int_equal(stage_list(&st, &l), 0);
	assert_int_equal(l.n, 2);
	assert_string_equal(l.v[0].name, "customer_1.csv");
	assert_string_equal(l.v[1].name, "customer_2.csv");
	assert_int_equal(l.v[0].size, 4);
	assert_string_not_equal(l.v[0].etag, "");
	stage_list_release(&l);
	stage_close(&st);
}

static int collect(const char *data, size_t len, void *arg)
{
	buf_add(arg, data, len);
	return 0;
}

static void reading_checks_the_file_did_not_change(void **state)
{
	struct stage st;
	struct stage_list l;
	struct buf got = BUF_INIT;
	char path[256];
	struct timespec times[2] = { { 0, 0 }, { 1000000000, 0 } };

	(void)state;
	assert_int_equal(stage_open(&st, dir, NULL, NULL), 0);
	assert_int_equal(stage_list(&st, &l), 0);
	assert_int_equal(stage_read(&st, &l.v[1], collect, &got), 0);
	assert_string_equal(got.buf, "two\n");

	snprintf(path, sizeof(path), "%s/%s", dir, l.v[1].name);
	assert_int_equal(utimensat(AT_FDCWD, path, times, 0), 0);
	assert_int_equal(stage_read(&st, &l.v[1], collect, &got), -1);
	assert_non_null(strstr(st.err.buf, "changed after it was listed"));
	assert_int_equal(st.temporary, 1);

	assert_int_equal(stage_delete(&st, &l.v[0]), 0);
	assert_int_equal(stage_read(&st, &l.v[0], collect, &got), -1);
	assert_int_equal(st.vanished, 1);
	assert_int_equal(stage_delete(&st, &l.v[0]), 0);	/* gone already: fine */
	buf_release(&got);
	stage_list_release(&l);
	stage_close(&st);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(stage_names_are_normalized),
		cmocka_unit_test(listing_keeps_csv_files_in_name_order),
		cmocka_unit_test(reading_checks_the_file_did_not_change),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
