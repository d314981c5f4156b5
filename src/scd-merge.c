/*
 * scd-merge: merges the raw rows that snow-load brought into customer_raw
 * into the dimension tables customer (SCD1) and customer_history (SCD2),
 * exactly as a replay of every event in order would (DESIGN §3).  The merge
 * itself is scd_merge() in sql/postgres/002_scd.sql; this program applies
 * the migrations, calls it once or on every load (--watch), and offers the
 * read-only views --as-of and --verify.  Through ODBC (--db odbc:...) it
 * does the same; with --dialect snowflake it calls customer_merge() of
 * sql/snowflake/003_merge.sql instead.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "metrics.h"
#include "util.h"
#include "wh.h"

/* The columns whose change may open a new version. */
static const char *const attribute_columns[] = {
	"first_name", "last_name", "email", "street", "city", "state",
	"country", NULL
};

static volatile sig_atomic_t stopping;
static int quiet;		/* -q: no summary lines */
static int snowflake;		/* --dialect snowflake */

static void usage(FILE *out)
{
	fprintf(out,
		"usage: scd-merge [-q] [--db CONNINFO] [--dialect postgres|snowflake]\n"
		"                 [--history-columns LIST] [--watch [SECS]] [--metrics FILE]\n"
		"       scd-merge [--db CONNINFO] --as-of TIME\n"
		"       scd-merge [--db CONNINFO] [--dialect postgres|snowflake] --verify\n");
	if (out != stdout)
		return;
	fprintf(out,
		"\nMerges the rows snow-load put in customer_raw into customer (SCD1) and\n"
		"customer_history (SCD2), as a replay of all events in time order would.\n\n"
		"      --db CONNINFO      libpq URI or key=value string (PG* variables),\n"
		"                         or odbc:ODBC-CONNECTION-STRING\n"
		"      --dialect D        postgres (default), or snowflake: CALL\n"
		"                         customer_merge() (sql/snowflake/, via ODBC)\n"
		"      --history-columns LIST\n"
		"                         columns whose change opens a version, kept for\n"
		"                         later runs (first_name,...,country: all seven)\n"
		"      --watch [SECS]     merge on every load (NOTIFY), and every SECS (5)\n"
		"                         (through ODBC: every SECS)\n"
		"      --as-of TIME       print the dimension as of TIME as CSV\n"
		"      --verify           check the tables' invariants, exit 1 if broken\n"
		"      --metrics FILE     write Prometheus metrics to FILE at the end\n"
		"  -q, --quiet            no summary line\n"
		"  -h, --help             show this help;  -V, --version  show the version\n"
		"\nExample: */5 * * * * scd-merge --db postgresql:///warehouse\n");
}

static void on_signal(int sig)
{
	(void)sig;
	stopping = 1;
}

/* Makes SIGINT and SIGTERM end --watch after the current merge. */
static void catch_signals(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
}

/* Exits with the code a failure of wh deserves, after the metrics. */
static void die_wh(struct wh *wh, struct metrics *m)
{
	int code = wh->temporary ? EXIT_TEMPFAIL : EXIT_FAIL;

	m->errors++;
	if (metrics_write(m, 0) < 0)
		warnmsg("cannot write '%s': %s", m->path, strerror(errno));
	diemsg(code, "%s", wh->err.buf);
}

/*
 * Turns "email,city" into the array literal {email,city} after checking
 * each name.  Returns 0 or -1 with a message printed.
 */
static int history_columns_literal(const char *list, struct buf *out)
{
	char *copy = xstrdup(list), *name, *save = NULL;
	int i, n = 0;

	buf_setf(out, "{");
	for (name = strtok_r(copy, ",", &save); name;
	     name = strtok_r(NULL, ",", &save)) {
		for (i = 0; attribute_columns[i]; i++)
			if (!strcmp(name, attribute_columns[i]))
				break;
		if (!attribute_columns[i]) {
			warnmsg("unknown history column '%s'", name);
			free(copy);
			return -1;
		}
		buf_addf(out, "%s%s", n++ ? "," : "", name);
	}
	buf_addch(out, '}');
	free(copy);
	return 0;
}

/* Stores the set of history columns for this and later merges. */
static int set_history_columns(struct wh *wh, const char *literal)
{
	const char *params[1] = { literal };
	struct wh_result *res = wh_query(wh, "UPDATE scd_settings SET "
					 "history_columns = $1::text[]", 1, params);

	if (!res)
		return -1;
	wh_result_free(res);
	return 0;
}

/*
 * The Snowflake merge: customer_merge() answers what it did, e.g.
 * "merged 120 keys, 340 versions".  Returns 0 or -1.
 */
static int merge_snowflake(struct wh *wh, struct metrics *m)
{
	double started = now_monotonic();
	struct wh_result *res = wh_query(wh, "CALL customer_merge()", 0, NULL);
	const char *answer;

	if (!res)
		return -1;
	answer = wh_value(res, 0, 0);
	m->files++;
	if (answer && strncmp(answer, "merged 0 keys", 13) && !quiet)
		warnmsg("customer_merge(): %s in %.3f s", answer,
			now_monotonic() - started);
	wh_result_free(res);
	return 0;
}

/*
 * Runs one merge and reports it on stderr when it merged anything.
 * Returns 0 or -1 (see wh->err).
 */
static int merge_once(struct wh *wh, struct metrics *m)
{
	double started = now_monotonic();
	struct wh_result *res;
	long long loads, events;

	if (snowflake)
		return merge_snowflake(wh, m);
	res = wh_query(wh, "SELECT loads, events, keys, late_keys, versions,"
		       " deleted FROM scd_merge()", 0, NULL);
	if (!res)
		return -1;
	loads = atoll(wh_value(res, 0, 0));
	events = atoll(wh_value(res, 0, 1));
	m->files += loads;
	m->rows += events;
	if (loads > 0 && !quiet)
		warnmsg("merged %lld events of %lld loads: %s keys (%s late), "
			"%s new versions, %s customers deleted in %.3f s",
			events, loads, wh_value(res, 0, 2), wh_value(res, 0, 3),
			wh_value(res, 0, 4), wh_value(res, 0, 5),
			now_monotonic() - started);
	wh_result_free(res);
	return 0;
}

/* Sleeps for secs, or until a signal asks to stop. */
static void pause_for(double secs)
{
	struct timespec ts;

	ts.tv_sec = (time_t)secs;
	ts.tv_nsec = (long)((secs - (double)ts.tv_sec) * 1e9);
	while (!stopping && nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/*
 * Connects, migrates (PostgreSQL only: on Snowflake sql/snowflake/ is
 * applied by hand) and, for --watch, listens.  Returns 0 or -1.
 */
static int open_database(struct wh *wh, const char *conninfo, int listen)
{
	if (wh_connect(wh, conninfo) < 0 || (!snowflake && wh_migrate(wh) < 0))
		return -1;
	return listen && !snowflake ? wh_listen(wh, "customertrack_loaded") : 0;
}

/*
 * Merges on every NOTIFY from snow-load, and every secs seconds in case
 * one is missed (through ODBC, only every secs), until a signal; the
 * metrics file is rewritten after each merge, with the totals of the
 * whole run.  A temporary failure is reported and retried after secs; a
 * permanent one ends the program.  *connected says whether wh is open.
 */
static void watch(struct wh *wh, int *connected, const char *conninfo,
		  double secs, struct metrics *m)
{
	while (!stopping) {
		if (!*connected) {
			*connected = 1;
			if (open_database(wh, conninfo, 1) < 0)
				goto failed;
		}
		if (merge_once(wh, m) < 0)
			goto failed;
		if (m->path && metrics_write(m, 1) < 0)
			warnmsg("cannot write '%s': %s", m->path, strerror(errno));
		if (wh_wait(wh, secs) < 0)
			goto failed;
		continue;
failed:
		if (!wh->temporary)
			die_wh(wh, m);
		warnmsg("%s; retrying in %g s", wh->err.buf, secs);
		m->errors++;
		wh_release(wh);
		*connected = 0;
		pause_for(secs);
	}
}

/* The query behind --as-of, for time given as $1 or inlined. */
#define AS_OF_SELECT "SELECT customer_id, first_name, last_name, email," \
	" street, city, state, country, to_char(update_timestamp AT" \
	" TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')" \
	" AS update_timestamp FROM customer_as_of(%s::timestamptz)" \
	" ORDER BY customer_id"

/* Streams the --as-of CSV out of COPY TO STDOUT (libpq). */
static int copy_as_of(struct wh *wh, const char *time, struct metrics *m)
{
	struct pg *pg = wh_libpq(wh);
	struct buf sql = BUF_INIT, lit = BUF_INIT;
	PGresult *res;
	char *data;
	int n;

	wh_quote_literal(&lit, time);	/* the server's own output */
	buf_adds(&sql, "COPY (");
	buf_addf(&sql, AS_OF_SELECT, lit.buf);
	buf_adds(&sql, ") TO STDOUT WITH (FORMAT csv, HEADER)");
	buf_release(&lit);
	res = PQexec(pg->conn, sql.buf);
	buf_release(&sql);
	if (PQresultStatus(res) != PGRES_COPY_OUT) {
		pg_fail(pg, res, NULL);
		PQclear(res);
		goto fail;
	}
	PQclear(res);
	while ((n = PQgetCopyData(pg->conn, &data, 0)) > 0) {
		fwrite(data, 1, (size_t)n, stdout);
		m->rows++;
		PQfreemem(data);
	}
	res = PQgetResult(pg->conn);
	if (n == -2 || PQresultStatus(res) != PGRES_COMMAND_OK) {
		pg_fail(pg, res, NULL);
		PQclear(res);
		goto fail;
	}
	PQclear(res);
	m->rows--;		/* the header */
	return 0;
fail:
	buf_setf(&wh->err, "%s", pg->err.buf);
	wh->temporary = pg->temporary;
	return -1;
}

/* Prints a CSV field as COPY does: NULL empty, empty text as "". */
static void put_csv_field(const char *v, int last)
{
	if (v && (!*v || strpbrk(v, ",\"\r\n") || !strcmp(v, "\\."))) {
		putchar('"');
		for (; *v; v++) {
			if (*v == '"')
				putchar('"');
			putchar(*v);
		}
		putchar('"');
	} else if (v) {
		fputs(v, stdout);
	}
	putchar(last ? '\n' : ',');
}

/* Prints the dimension as of time as CSV (DESIGN §1 columns). */
static int print_as_of(struct wh *wh, const char *time, struct metrics *m)
{
	const char *params[1] = { time };
	struct wh_result *res;
	struct buf sql = BUF_INIT;
	char *t;
	int r, c, ret = 0;

	res = wh_query(wh, "SELECT $1::timestamptz", 1, params);
	if (!res) {
		if (!wh->temporary)
			diemsg(EXIT_USAGE, "invalid time '%s'", time);
		return -1;
	}
	t = xstrdup(wh_value(res, 0, 0));
	wh_result_free(res);
	if (wh_libpq(wh)) {
		ret = copy_as_of(wh, t, m);
		free(t);
		return ret;
	}
	params[0] = t;
	buf_addf(&sql, AS_OF_SELECT, "$1");
	res = wh_query(wh, sql.buf, 1, params);
	buf_release(&sql);
	free(t);
	if (!res)
		return -1;
	printf("customer_id,first_name,last_name,email,street,city,state,"
	       "country,update_timestamp\n");
	for (r = 0; r < wh_result_rows(res); r++, m->rows++)
		for (c = 0; c < wh_result_cols(res); c++)
			put_csv_field(wh_value(res, r, c), c + 1 == wh_result_cols(res));
	wh_result_free(res);
	return 0;
}

/*
 * Checks the invariants; names the first offending key and returns 1, or
 * returns 0 when they hold, -1 on a database error.
 */
static int verify(struct wh *wh)
{
	struct wh_result *res = wh_query(wh, snowflake ?
		"SELECT customer_id, problem FROM scd_violations"
		" ORDER BY customer_id, problem LIMIT 1" :
		"SELECT customer_id, problem FROM scd_verify(1)", 0, NULL);

	if (!res)
		return -1;
	if (wh_result_rows(res) > 0) {
		warnmsg("customer '%s': %s", wh_value(res, 0, 0),
			wh_value(res, 0, 1));
		wh_result_free(res);
		return 1;
	}
	wh_result_free(res);
	res = wh_query(wh, "SELECT (SELECT count(*) FROM customer),"
		       " (SELECT count(*) FROM customer_history)", 0, NULL);
	if (!res)
		return -1;
	if (!quiet)
		warnmsg("verified %s customers and %s versions",
			wh_value(res, 0, 0), wh_value(res, 0, 1));
	wh_result_free(res);
	return 0;
}

/*
 * Applies the migrations and merges what snow-load has loaded (once, or on
 * every load with --watch); or prints the dimension as of a time; or
 * checks its invariants.
 */
int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "as-of", required_argument, NULL, 'a' },
		{ "db", required_argument, NULL, 'd' },
		{ "dialect", required_argument, NULL, 'D' },
		{ "help", no_argument, NULL, 'h' },
		{ "history-columns", required_argument, NULL, 'H' },
		{ "metrics", required_argument, NULL, 'm' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "verify", no_argument, NULL, 'c' + 256 },
		{ "version", no_argument, NULL, 'V' },
		{ "watch", optional_argument, NULL, 'w' },
		{ NULL, 0, NULL, 0 }
	};
	const char *conninfo = NULL, *as_of = NULL, *columns = NULL;
	const char *metrics_path = NULL, *interval = NULL;
	struct buf literal = BUF_INIT;
	struct metrics m;
	struct wh wh;
	double secs = 5;
	int c, watching = 0, checking = 0, status, connected = 1;

	util_init(argv[0]);
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":hqV", longopts, NULL)) != -1) {
		switch (c) {
		case 'a': as_of = optarg; break;
		case 'H': columns = optarg; break;
		case 'd': conninfo = optarg; break;
		case 'D':
			if (strcmp(optarg, "postgres") && strcmp(optarg, "snowflake"))
				diemsg(EXIT_USAGE, "invalid --dialect '%s': expected "
				       "postgres or snowflake", optarg);
			snowflake = !strcmp(optarg, "snowflake");
			break;
		case 'h': usage(stdout); close_stdout(); return EXIT_OK;
		case 'm': metrics_path = optarg; break;
		case 'q': quiet = 1; break;
		case 'c' + 256: checking = 1; break;
		case 'V': print_version();
		case 'w': watching = 1; interval = optarg; break;
		case ':':
			warnmsg("option '%s' needs an argument", argv[optind - 1]);
			usage(stderr);
			return EXIT_USAGE;
		default:
			warnmsg("unknown option '%s'", argv[optind - 1]);
			usage(stderr);
			return EXIT_USAGE;
		}
	}
	argc -= optind;
	argv += optind;
	if (watching && !interval && argc == 1)
		interval = *argv++, argc--;	/* --watch SECS */
	if (argc > 0) {
		warnmsg("unexpected argument '%s'", argv[0]);
		usage(stderr);
		return EXIT_USAGE;
	}
	if (interval && parse_double(interval, 0.01, 86400, &secs) < 0)
		diemsg(EXIT_USAGE, "invalid interval '%s'", interval);
	if (!!as_of + checking + watching > 1)
		diemsg(EXIT_USAGE, "--as-of, --verify and --watch exclude each other");
	if (columns && (as_of || checking))
		diemsg(EXIT_USAGE, "--history-columns goes with a merge");
	if (snowflake && (columns || as_of))
		diemsg(EXIT_USAGE, "--history-columns and --as-of go with "
		       "--dialect postgres");
	if (snowflake && !wh_is_odbc(conninfo))
		diemsg(EXIT_USAGE, "--dialect snowflake needs --db odbc:...");
	if (columns && history_columns_literal(columns, &literal) < 0)
		return EXIT_USAGE;

	metrics_init(&m, metrics_path, "scd-merge");
	if (watching)
		catch_signals();
	if (open_database(&wh, conninfo, watching) < 0) {
		if (!watching || !wh.temporary || columns)
			die_wh(&wh, &m);
		warnmsg("%s; retrying in %g s", wh.err.buf, secs);
		wh_release(&wh);	/* watch() connects again */
		connected = 0;
		pause_for(secs);
	}
	if (columns && set_history_columns(&wh, literal.buf) < 0)
		die_wh(&wh, &m);
	buf_release(&literal);

	if (as_of)
		status = print_as_of(&wh, as_of, &m);
	else if (checking)
		status = verify(&wh);
	else if (watching)
		watch(&wh, &connected, conninfo, secs, &m), status = 0;
	else
		status = merge_once(&wh, &m);
	if (status < 0)
		die_wh(&wh, &m);
	if (connected)
		wh_release(&wh);
	if (status > 0) {
		m.errors++;
		metrics_write(&m, 0);
		return EXIT_FAIL;
	}
	close_stdout();
	if (metrics_write(&m, 1) < 0)
		warnmsg("cannot write '%s': %s", metrics_path, strerror(errno));
	return EXIT_OK;
}
