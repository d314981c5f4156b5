/* Unit tests of the Prometheus textfile writer. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "buf.h"
#include "metrics.h"

static char dir[] = "/tmp/ct-metrics.XXXXXX";

static void slurp(const char *path, struct buf *b)
{
	char chunk[4096];
	size_t n;
	FILE *f = fopen(path, "r");

	assert_non_null(f);
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		buf_add(b, chunk, n);
	fclose(f);
}

/* The value of a metric line "name{program="p"} value", or -1. */
static double value_of(const char *text, const char *name)
{
	const char *p = text;
	size_t n = strlen(name);

	while ((p = strstr(p, name))) {
		if ((p == text || p[-1] == '\n') && p[n] == '{')
			return strtod(strchr(p, '}') + 1, NULL);
		p += n;
	}
	return -1;
}

static void writes_counts_and_success(void **state)
{
	struct metrics m;
	struct buf path = BUF_INIT, text = BUF_INIT;

	(void)state;
	buf_addf(&path, "%s/ok.prom", dir);
	metrics_init(&m, path.buf, "snow-load");
	m.rows = 1234;
	m.files = 3;
	m.errors = 2;
	assert_int_equal(metrics_write(&m, 1), 0);
	slurp(path.buf, &text);
	assert_non_null(strstr(text.buf, "customertrack_rows_total{program=\"snow-load\"} 1234\n"));
	assert_true(value_of(text.buf, "customertrack_files_total") == 3);
	assert_true(value_of(text.buf, "customertrack_errors_total") == 2);
	assert_true(value_of(text.buf, "customertrack_up") == 1);
	assert_true(value_of(text.buf, "customertrack_last_success_timestamp_seconds") > 1.7e9);
	assert_non_null(strstr(text.buf, "# TYPE customertrack_duration_seconds gauge\n"));
	buf_release(&path);
	buf_release(&text);
}

static void failure_keeps_the_last_success_time(void **state)
{
	struct metrics m;
	struct buf path = BUF_INIT, text = BUF_INIT;
	FILE *f;

	(void)state;
	buf_addf(&path, "%s/fail.prom", dir);
	f = fopen(path.buf, "w");
	fputs("customertrack_last_success_timestamp_seconds{program=\"x\"} 1700000000\n", f);
	fclose(f);
	metrics_init(&m, path.buf, "x");
	assert_int_equal(metrics_write(&m, 0), 0);
	slurp(path.buf, &text);
	assert_true(value_of(text.buf, "customertrack_last_success_timestamp_seconds") == 1700000000);
	assert_true(value_of(text.buf, "customertrack_up") == 0);
	buf_release(&path);
	buf_release(&text);
}

static void unwritable_directory_fails_and_leaves_nothing(void **state)
{
	struct metrics m;

	(void)state;
	metrics_init(&m, "/nonexistent-dir/x.prom", "x");
	assert_int_equal(metrics_write(&m, 1), -1);
	metrics_init(&m, NULL, "x");	/* no --metrics: nothing to do */
	assert_int_equal(metrics_write(&m, 1), 0);
}

static int setup(void **state)
{
	(void)state;
	return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
	struct buf cmd = BUF_INIT;
	int rc;

	(void)state;
	buf_addf(&cmd, "rm -rf '%s'", dir);
	rc = system(cmd.buf);
	buf_release(&cmd);
	return rc;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(writes_counts_and_success),
		cmocka_unit_test(failure_keeps_the_last_success_time),
		cmocka_unit_test(unwritable_directory_fails_and_leaves_nothing),
	};

	return cmocka_run_group_tests_name("metrics", tests, setup, teardown);
}
