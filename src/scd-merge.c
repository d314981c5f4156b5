/*
 * scd-merge: merges the raw rows that snow-load brought into customer_raw
 * into the dimension tables customer (SCD1) and customer_history (SCD2),
 * exactly as a replay of every event in order would (DESIGN §3).  The merge
 * itself is scd_merge() in sql/postgres/002_scd.sql; this program applies
 * the migrations, calls it once or on every load (--watch), and offers the
 * read-only views --as-of and --verify.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/select.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "metrics.h"
#include "pg.h"
#include "util.h"

/* The columns whose change may open a new version. */
static const char *const attribute_columns[] = {
	"first_name", "last_name", "email", "street", "city", "state",
	"country", NULL
};

static volatile sig_atomic_t stopping;
static int quiet;		/* -q: no summary lines */

static void usage(FILE *out)
{
	fprintf(out,
		"usage: scd-merge [-q] [--db CONNINFO] [--history-columns LIST]\n"
		"                 [--watch [SECS]] [--metrics FILE]\n"
		"       scd-merge [--db CONNINFO] --as-of TIME\n"
		"       scd-merge [--db CONNINFO] --verify\n");
	if (out != stdout)
		return;
	fprintf(out,
		"\nMerges the rows snow-load put in customer_raw into customer (SCD1) and\n"
		"customer_history (SCD2), as a replay of all events in time order would.\n\n"
		"      --db CONNINFO      libpq URI or key=value string (PG* variables)\n"
		"      --history-columns LIST\n"
		"                         columns whose change opens a version, kept for\n"
		"                         later runs (first_name,...,country: all seven)\n"
		"      --watch [SECS]     merge on every load (NOTIFY), and every SECS (5)\n"
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

/* Exits with the code a failure of pg deserves, after the metrics. */
static void die_pg(struct pg *pg, struct metrics *m)
{
	int code = pg->temporary ? EXIT_TEMPFAIL : EXIT_FAIL;

	m->errors++;
	if (metrics_write(m, 0) < 0)
		warnmsg("cannot write '%s': %s", m->path, strerror(errno));
	diemsg(code, "%s", pg->err.buf);
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
static int set_history_columns(struct pg *pg, const char *literal)
{
	const char *params[1] = { literal };
	PGresult *res = pg_query(pg, "UPDATE scd_settings SET history_columns = $1::text[]",
				 1, params);

	if (!res)
		return -1;
	PQclear(res);
	return 0;
}

/*
 * Runs one merge and reports it on stderr when it merged anything.
 * Returns 0 or -1 (see pg->err).
 */
static int merge_once(struct pg *pg, struct metrics *m)
{
	double started = now_monotonic();
	PGresult *res = pg_query(pg, "SELECT loads, events, keys, late_keys, "
				 "versions, deleted FROM scd_merge()", 0, NULL);
	long long loads, events;

	if (!res)
		return -1;
	loads = atoll(PQgetvalue(res, 0, 0));
	events = atoll(PQgetvalue(res, 0, 1));
	m->files += loads;
	m->rows += events;
	if (loads > 0 && !quiet)
		warnmsg("merged %lld events of %lld loads: %s keys (%s late), "
			"%s new versions, %s customers deleted in %.3f s",
			events, loads, PQgetvalue(res, 0, 2), PQgetvalue(res, 0, 3),
			PQgetvalue(res, 0, 4), PQgetvalue(res, 0, 5),
			now_monotonic() - started);
	PQclear(res);
	return 0;
}

/* Takes the NOTIFYs libpq has received; returns how many. */
static int take_notifies(struct pg *pg)
{
	PGnotify *n;
	int count = 0;

	while ((n = PQnotifies(pg->conn))) {
		PQfreemem(n);
		count++;
	}
	return count;
}

/*
 * Waits up to secs for a NOTIFY, or a signal.  One that arrived during
 * the last merge is already in libpq's queue: then it returns at once.
 * Returns 0 or -1.
 */
static int wait_for_load(struct pg *pg, double secs)
{
	int fd = PQsocket(pg->conn);
	struct timeval tv;
	fd_set fds;

	if (!PQconsumeInput(pg->conn))
		return pg_fail(pg, NULL, "lost the database connection");
	if (take_notifies(pg) > 0)
		return 0;
	tv.tv_sec = (time_t)secs;
	tv.tv_usec = (suseconds_t)((secs - (double)tv.tv_sec) * 1e6);
	FD_ZERO(&fds);
	FD_SET(fd, &fds);
	if (select(fd + 1, &fds, NULL, NULL, &tv) < 0 && errno != EINTR) {
		buf_setf(&pg->err, "cannot wait for the database: %s", strerror(errno));
		pg->temporary = 1;
		return -1;
	}
	if (!PQconsumeInput(pg->conn))
		return pg_fail(pg, NULL, "lost the database connection");
	take_notifies(pg);
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

/* Connects, migrates and, for --watch, listens.  Returns 0 or -1. */
static int open_database(struct pg *pg, const char *conninfo, int listen)
{
	if (pg_connect(pg, conninfo) < 0 || pg_migrate(pg) < 0)
		return -1;
	return listen ? pg_exec(pg, "LISTEN customertrack_loaded") : 0;
}

/*
 * Merges on every NOTIFY from snow-load, and every secs seconds in case
 * one is missed, until a signal; the metrics file is rewritten after each
 * merge, with the totals of the whole run.  A temporary failure is reported and
 * retried after secs; a permanent one ends the program.
 */
static void watch(struct pg *pg, const char *conninfo, double secs,
		  struct metrics *m)
{
	while (!stopping) {
		if (!pg->conn && open_database(pg, conninfo, 1) < 0)
			goto failed;
		if (merge_once(pg, m) < 0)
			goto failed;
		if (m->path && metrics_write(m, 1) < 0)
			warnmsg("cannot write '%s': %s", m->path, strerror(errno));
		if (wait_for_load(pg, secs) < 0)
			goto failed;
		continue;
failed:
		if (!pg->temporary)
			die_pg(pg, m);
		warnmsg("%s; retrying in %g s", pg->err.buf, secs);
		m->errors++;
		pg_release(pg);
		pause_for(secs);
	}
}

/* Prints the dimension as of time as CSV (DESIGN §1 columns). */
static int print_as_of(struct pg *pg, const char *time, struct metrics *m)
{
	const char *params[1] = { time };
	struct buf sql = BUF_INIT;
	PGresult *res;
	char *lit, *data;
	int n;

	res = pg_query(pg, "SELECT $1::timestamptz", 1, params);
	if (!res) {
		if (!pg->temporary)
			diemsg(EXIT_USAGE, "invalid time '%s'", time);
		return -1;
	}
	lit = PQescapeLiteral(pg->conn, PQgetvalue(res, 0, 0),
			      strlen(PQgetvalue(res, 0, 0)));
	PQclear(res);
	if (!lit)
		return pg_fail(pg, NULL, "cannot quote the time");
	buf_addf(&sql, "COPY (SELECT customer_id, first_name, last_name, email,"
		 " street, city, state, country, to_char(update_timestamp AT"
		 " TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')"
		 " AS update_timestamp FROM customer_as_of(%s::timestamptz)"
		 " ORDER BY customer_id) TO STDOUT WITH (FORMAT csv, HEADER)", lit);
	PQfreemem(lit);
	res = PQexec(pg->conn, sql.buf);
	buf_release(&sql);
	if (PQresultStatus(res) != PGRES_COPY_OUT) {
		pg_fail(pg, res, NULL);
		PQclear(res);
		return -1;
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
		return -1;
	}
	PQclear(res);
	m->rows--;		/* the header */
	return 0;
}

/*
 * Checks the invariants; names the first offending key and returns 1, or
 * returns 0 when they hold, -1 on a database error.
 */
static int verify(struct pg *pg)
{
	PGresult *res = pg_query(pg, "SELECT customer_id, problem FROM scd_verify(1)",
				 0, NULL);

	if (!res)
		return -1;
	if (PQntuples(res) > 0) {
		warnmsg("customer '%s': %s", PQgetvalue(res, 0, 0),
			PQgetvalue(res, 0, 1));
		PQclear(res);
		return 1;
	}
	PQclear(res);
	res = pg_query(pg, "SELECT (SELECT count(*) FROM customer),"
		       " (SELECT count(*) FROM customer_history)", 0, NULL);
	if (!res)
		return -1;
	if (!quiet)
		warnmsg("verified %s customers and %s versions",
		PQgetvalue(res, 0, 0), PQgetvalue(res, 0, 1));
	PQclear(res);
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
	struct pg pg = { 0 };
	double secs = 5;
	int c, watching = 0, checking = 0, status;

	util_init(argv[0]);
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":hqV", longopts, NULL)) != -1) {
		switch (c) {
		case 'a': as_of = optarg; break;
		case 'H': columns = optarg; break;
		case 'd': conninfo = optarg; break;
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
	if (columns && history_columns_literal(columns, &literal) < 0)
		return EXIT_USAGE;

	metrics_init(&m, metrics_path, "scd-merge");
	if (watching)
		catch_signals();
	if (open_database(&pg, conninfo, watching) < 0) {
		if (!watching || !pg.temporary || columns)
			die_pg(&pg, &m);
		warnmsg("%s; retrying in %g s", pg.err.buf, secs);
		pg_release(&pg);	/* watch() connects again */
		pause_for(secs);
	}
	if (columns && set_history_columns(&pg, literal.buf) < 0)
		die_pg(&pg, &m);
	buf_release(&literal);

	if (as_of)
		status = print_as_of(&pg, as_of, &m);
	else if (checking)
		status = verify(&pg);
	else if (watching)
		watch(&pg, conninfo, secs, &m), status = 0;
	else
		status = merge_once(&pg, &m);
	if (status < 0)
		die_pg(&pg, &m);
	pg_release(&pg);
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
