/*
 * snow-load: loads every staged CSV file not yet loaded into customer_raw,
 * each exactly once and in one transaction with its load_history row, the
 * way Snowpipe loads a stage.  The stage is an S3 prefix or a directory;
 * rows are checked in C and sent by binary COPY (src/lib/load.c), or
 * through ODBC (--db odbc:...) by INSERTs of many rows.  Also checks
 * files without loading (--validate) and prints the load history.  With
 * --dialect snowflake it has Snowflake run COPY INTO from its stage.
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
#include "csv.h"
#include "load.h"
#include "metrics.h"
#include "util.h"
#include "wh.h"

static volatile sig_atomic_t stopping;
static int quiet;		/* -q: no summary line */
static int progress_shown;	/* a progress line is on the terminal */

/* What one pass over the stage did. */
struct tally {
	long long files_loaded, files_partial, files_failed, files_already;
	long long files_busy, files_purged;
	long long rows_loaded, rows_rejected;
};

static void usage(FILE *out)
{
	fprintf(out,
		"usage: snow-load [-q] [--db CONNINFO] [--on-error abort|skip_file|continue]\n"
		"                 [--force] [--purge] [--watch [SECS]] [--metrics FILE]\n"
		"                 [--endpoint URL] [--region REGION] STAGE\n"
		"       snow-load --dialect snowflake [--dry-run] [--db odbc:...] [--on-error MODE]\n"
		"                 [--force] [--purge] [--watch [SECS]] [--metrics FILE] STAGE\n"
		"       snow-load --validate [--endpoint URL] [--region REGION] STAGE | -\n"
		"       snow-load [--db CONNINFO] --history [--since TIME] [STAGE]\n");
	if (out != stdout)
		return;
	fprintf(out,
		"\nLoads each CSV file in STAGE (s3://BUCKET/PREFIX/ or a directory) into\n"
		"customer_raw once, with its load_history row, in one transaction.\n\n"
		"      --db CONNINFO      libpq URI or key=value string (PG* variables),\n"
		"                         or odbc:ODBC-CONNECTION-STRING\n"
		"      --dialect D        postgres (default), or snowflake: COPY INTO from\n"
		"                         the Snowflake stage STAGE (@name; else\n"
		"                         @customer_stage), which keeps the load history\n"
		"      --dry-run          with snowflake: print the SQL, send nothing\n"
		"      --on-error MODE    abort: stop the run; skip_file (default): record\n"
		"                         the file as failed; continue: load the good rows\n"
		"      --force            load files again even if loaded (duplicates rows)\n"
		"      --purge            delete each staged file once it is loaded\n"
		"      --validate         check every staged file (or standard input: -),\n"
		"                         print each bad row, load nothing (no database)\n"
		"      --watch [SECS]     keep polling the stage every SECS (1)\n"
		"      --history          print load_history, newest last\n"
		"      --since TIME       with --history: from TIME (a time or an interval)\n"
		"      --endpoint URL     S3 endpoint (AWS_ENDPOINT_URL)\n"
		"      --region REGION    S3 region (AWS_REGION)\n"
		"      --metrics FILE     write Prometheus metrics to FILE at the end\n"
		"  -q, --quiet            no summary line\n"
		"  -h, --help             show this help;  -V, --version  show the version\n"
		"\nExit status: 0 all loaded, 1 a row or file rejected or a permanent error,\n"
		"2 usage, 75 a temporary failure (retry later).\n"
		"\nExample: * * * * * snow-load --db postgresql:///warehouse s3://bucket/in/\n");
}

static void on_signal(int sig)
{
	(void)sig;
	stopping = 1;
}

/* "s" unless n is 1, for "%lld file%s". */
static const char *plural(long long n)
{
	return n == 1 ? "" : "s";
}

/* Shows how far the load of a file is, on a terminal only. */
static void show_progress(const struct stage_file *f, long long rows, void *arg)
{
	(void)arg;
	fprintf(stderr, "\r%s: loading '%s': %lld rows\033[K", progname, f->name, rows);
	progress_shown = 1;
}

static void clear_progress(void)
{
	if (progress_shown)
		fputs("\r\033[K", stderr);
	progress_shown = 0;
}

/* Prints a bad row for --validate: "file:line: reason". */
static int print_bad_row(const struct csv_row *row, void *arg)
{
	const struct stage_file *f = arg;

	if (row->error)
		printf("%s:%lld: %s\n", f->name, row->line, row->error);
	return 0;
}

static int validate_chunk(const char *data, size_t len, void *arg)
{
	return csv_reader_feed(arg, data, len);
}

/* What --validate found. */
struct checked {
	long long files, rows, bad, bad_files;
	double started;
};

/* Ends the check of a file: prints its own error, counts its rows. */
static void end_check(struct csv_reader *r, const char *name, struct checked *c)
{
	if (r->err.len) {
		printf("%s: %s\n", name, r->err.buf);
		c->bad_files++;
	}
	c->files++;
	c->rows += r->rows;
	c->bad += r->bad;
}

/* Prints the summary of --validate; returns the exit status. */
static int summarize_check(const struct checked *c, int status)
{
	if (status == EXIT_OK && (c->bad || c->bad_files))
		status = EXIT_FAIL;
	if (!quiet)
		warnmsg("validated %lld file%s (%lld row%s) in %.2f s: %lld bad "
			"row%s, %lld bad file%s", c->files, plural(c->files),
			c->rows, plural(c->rows), now_monotonic() - c->started,
			c->bad, plural(c->bad), c->bad_files, plural(c->bad_files));
	return status;
}

/* Checks every staged file and prints each error; loads nothing. */
static int validate_stage(struct stage *st)
{
	struct checked c = { 0, 0, 0, 0, now_monotonic() };
	struct stage_list list;
	size_t i;
	int status = EXIT_OK;

	if (stage_list(st, &list) < 0) {
		warnmsg("%s", st->err.buf);
		return st->temporary ? EXIT_TEMPFAIL : EXIT_FAIL;
	}
	for (i = 0; i < list.n && !stopping; i++) {
		struct csv_reader r;
		int ret;

		csv_reader_init(&r, print_bad_row, &list.v[i]);
		ret = stage_read(st, &list.v[i], validate_chunk, &r);
		if (ret < 0 && st->err.len) {
			warnmsg("%s", st->err.buf);
			status = st->temporary ? EXIT_TEMPFAIL : EXIT_FAIL;
			csv_reader_release(&r);
			break;
		}
		if (ret == 0)
			csv_reader_finish(&r);
		end_check(&r, list.v[i].name, &c);
		csv_reader_release(&r);
	}
	stage_list_release(&list);
	return summarize_check(&c, status);
}

/* Checks the CSV on standard input (--validate -), named "-". */
static int validate_stdin(void)
{
	struct checked c = { 0, 0, 0, 0, now_monotonic() };
	struct stage_file f = { "-", "", 0, 0 };
	struct csv_reader r;
	char *chunk = xmalloc(1 << 16);
	ssize_t n;
	int ret = 0, status = EXIT_OK;

	csv_reader_init(&r, print_bad_row, &f);
	while (ret == 0 && (n = read(STDIN_FILENO, chunk, 1 << 16)) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			warnmsg("cannot read standard input: %s", strerror(errno));
			status = EXIT_FAIL;
			break;
		}
		ret = csv_reader_feed(&r, chunk, (size_t)n);
	}
	if (status == EXIT_OK) {
		if (ret == 0)
			csv_reader_finish(&r);
		end_check(&r, f.name, &c);
	}
	csv_reader_release(&r);
	free(chunk);
	return summarize_check(&c, status);
}

/* Deletes a loaded file from the stage (--purge); a failure only warns. */
static void purge_file(struct stage *st, const struct stage_file *f,
		       struct tally *t)
{
	if (stage_delete(st, f) < 0)
		warnmsg("%s", st->err.buf);
	else
		t->files_purged++;
}

/* Says what happened to one file and counts it.  Returns an exit status. */
static int report_file(const struct stage_file *f, const struct load_result *res,
		       struct tally *t)
{
	if (res->busy) {
		t->files_busy++;
		return EXIT_OK;
	}
	if (res->already) {
		t->files_already++;
		return EXIT_OK;
	}
	if (res->duplicated)
		warnmsg("'%s' was loaded before: --force duplicated its rows",
			f->name);
	t->rows_loaded += res->rows_loaded;
	t->rows_rejected += res->rows_rejected;
	if (!strcmp(res->status, "loaded")) {
		t->files_loaded++;
		return EXIT_OK;
	}
	if (!strcmp(res->status, "partially_loaded")) {
		t->files_partial++;
		warnmsg("'%s': %lld row%s rejected, the first at %s", f->name,
			res->rows_rejected, plural(res->rows_rejected),
			res->first_error.buf);
	} else {
		t->files_failed++;
		warnmsg("'%s' %s: %s", f->name, strcmp(res->status, "skipped") ?
			"rejected" : "rejected, skipped", res->first_error.buf);
	}
	return EXIT_FAIL;
}

/*
 * Loads every new file of the stage once (one listing, one history query).
 * Returns an exit status: 0, 1 if anything was rejected or failed for
 * good, 75 if something failed that a later run may get through.
 */
static int load_stage(struct wh *wh, struct stage *st,
		      const struct load_options *o, int purge, struct tally *t)
{
	struct stage_list list, done = { 0 };
	struct load_result res;
	struct buf err = BUF_INIT;
	size_t i;
	int status = EXIT_OK, temporary;

	if (stage_list(st, &list) < 0) {
		warnmsg("%s", st->err.buf);
		return st->temporary ? EXIT_TEMPFAIL : EXIT_FAIL;
	}
	if (!o->force && load_filter_new(wh, st, &list, &done) < 0) {
		warnmsg("cannot read the load history: %s", wh->err.buf);
		stage_list_release(&list);
		return wh->temporary ? EXIT_TEMPFAIL : EXIT_FAIL;
	}
	t->files_already += done.n;
	for (i = 0; purge && i < done.n; i++)
		if (done.v[i].loaded)
			purge_file(st, &done.v[i], t);
	stage_list_release(&done);

	load_result_init(&res);
	for (i = 0; i < list.n && !stopping; i++) {
		int ret = load_file(wh, st, &list.v[i], o, &res, &err, &temporary);

		clear_progress();
		if (ret < 0) {
			warnmsg("cannot load '%s': %s", list.v[i].name, err.buf);
			status = temporary ? EXIT_TEMPFAIL : EXIT_FAIL;
			break;
		}
		if (res.vanished) {
			warnmsg("'%s' is gone from the stage: %s", list.v[i].name,
				err.buf);
			continue;
		}
		if (report_file(&list.v[i], &res, t) != EXIT_OK)
			status = EXIT_FAIL;
		if (purge && res.status && (!strcmp(res.status, "loaded") ||
					    !strcmp(res.status, "partially_loaded")))
			purge_file(st, &list.v[i], t);
		if (o->on_error == LOAD_ABORT && res.status &&
		    !strcmp(res.status, "failed")) {
			warnmsg("stopping: --on-error abort");
			break;
		}
	}
	stage_list_release(&list);
	load_result_release(&res);
	buf_release(&err);
	return status;
}

static void print_summary(const struct tally *t, double secs)
{
	struct buf b = BUF_INIT;
	long long files = t->files_loaded + t->files_partial;

	buf_addf(&b, "loaded %lld row%s from %lld file%s in %.2f s (%.0f rows/s)",
		 t->rows_loaded, plural(t->rows_loaded), files, plural(files),
		 secs, secs > 0 ? t->rows_loaded / secs : 0.0);
	if (t->rows_rejected || t->files_failed)
		buf_addf(&b, "; %lld row%s rejected, %lld file%s failed",
			 t->rows_rejected, plural(t->rows_rejected),
			 t->files_failed, plural(t->files_failed));
	if (t->files_already)
		buf_addf(&b, "; %lld file%s already loaded", t->files_already,
			 plural(t->files_already));
	if (t->files_busy)
		buf_addf(&b, "; %lld file%s left to another run", t->files_busy,
			 plural(t->files_busy));
	if (t->files_purged)
		buf_addf(&b, "; %lld file%s purged", t->files_purged,
			 plural(t->files_purged));
	warnmsg("%s", b.buf);
	buf_release(&b);
}

static void add_to_metrics(struct metrics *m, const struct tally *t)
{
	m->rows += t->rows_loaded;
	m->files += t->files_loaded + t->files_partial + t->files_failed;
	m->errors += t->rows_rejected + t->files_failed;
}

/*
 * Polls the stage every secs until a signal; temporary failures are
 * retried.  With --on-error abort, a failure ends the watch.  Returns the
 * exit status.
 */
static int watch_stage(struct wh *wh, struct stage *st, const struct load_options *o,
		       int purge, double secs, struct metrics *m)
{
	struct timespec ts;

	while (!stopping) {
		struct tally t = { 0 };
		double started = now_monotonic();
		int status = load_stage(wh, st, o, purge, &t);

		if (!quiet && t.files_loaded + t.files_partial + t.files_failed)
			print_summary(&t, now_monotonic() - started);
		add_to_metrics(m, &t);
		if (metrics_write(m, status == EXIT_OK) < 0)
			warnmsg("cannot write metrics '%s': %s", m->path, strerror(errno));
		if (o->on_error == LOAD_ABORT && status == EXIT_FAIL)
			return EXIT_FAIL;
		if (wh_reset(wh) < 0)
			warnmsg("%s", wh->err.buf);
		ts.tv_sec = (time_t)secs;
		ts.tv_nsec = (long)((secs - (double)ts.tv_sec) * 1e9);
		while (!stopping && nanosleep(&ts, &ts) < 0 && errno == EINTR)
			;
	}
	return EXIT_OK;
}

/* Turns --since into a time: a timestamp, or an interval back from now. */
static char *since_time(struct wh *wh, const char *since)
{
	const char *params[1] = { since };
	struct wh_result *res;
	char *v;

	res = wh_query(wh, "SELECT $1::timestamptz", 1, params);
	if (!res)
		res = wh_query(wh, "SELECT now() - $1::interval", 1, params);
	if (!res)
		return NULL;
	v = xstrdup(wh_value(res, 0, 0));
	wh_result_free(res);
	return v;
}

/* Prints load_history as tab-separated lines, like COPY_HISTORY. */
static int print_history(struct wh *wh, const char *stage, const char *since)
{
	const char *params[2] = { NULL, NULL };
	struct wh_result *res;
	char *from = NULL, *name = NULL;
	int i, j, n;

	if (since && !(from = since_time(wh, since)))
		diemsg(EXIT_USAGE, "invalid time '%s'", since);
	if (stage && !(name = stage_name(stage)))
		name = xstrdup(stage);	/* a directory gone since */
	params[0] = from;
	params[1] = name;
	res = wh_query(wh, "SELECT load_id, to_char(loaded_at AT TIME ZONE 'UTC',"
		       " 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), stage, file, status,"
		       " rows_loaded, rows_rejected, forced, coalesce(first_error, '')"
		       " FROM load_history"
		       " WHERE ($1::timestamptz IS NULL OR loaded_at >= $1::timestamptz)"
		       " AND ($2::text IS NULL OR stage = $2::text)"
		       " ORDER BY loaded_at, load_id", 2, params);
	free(from);
	free(name);
	if (!res) {
		warnmsg("cannot read the load history: %s", wh->err.buf);
		return wh->temporary ? EXIT_TEMPFAIL : EXIT_FAIL;
	}
	printf("load_id\tloaded_at\tstage\tfile\tstatus\trows_loaded\t"
	       "rows_rejected\tforced\tfirst_error\n");
	n = wh_result_cols(res);
	for (i = 0; i < wh_result_rows(res); i++)
		for (j = 0; j < n; j++) {
			const char *v = wh_value(res, i, j);

			if (j == 7)	/* forced: "t" or "f" whatever the driver */
				v = wh_true(v) ? "t" : "f";
			printf("%s%c", v ? v : "", j + 1 < n ? '\t' : '\n');
		}
	wh_result_free(res);
	return EXIT_OK;
}

static int open_database(struct wh *wh, const char *conninfo, int migrate)
{
	setenv("PGAPPNAME", "snow-load", 0);
	if (wh_connect(wh, conninfo) < 0 || (migrate && wh_migrate(wh) < 0)) {
		warnmsg("%s", wh->err.buf);
		return wh->temporary ? EXIT_TEMPFAIL : EXIT_FAIL;
	}
	return EXIT_OK;
}

/* What the command line asks for. */
struct cmd {
	struct load_options o;
	const char *conninfo, *endpoint, *region, *metrics_path, *since;
	const char *stage;	/* NULL only with --history */
	int history, validate, watching, purge;
	int snowflake, dry_run;	/* --dialect snowflake, --dry-run */
	double secs;		/* --watch interval */
};

/* Parses the command line into c; exits on --help, --version and errors. */
static void parse_options(int argc, char **argv, struct cmd *c)
{
	static const struct option longopts[] = {
		{ "db", required_argument, NULL, 'd' },
		{ "dialect", required_argument, NULL, 'D' },
		{ "dry-run", no_argument, NULL, 'n' },
		{ "endpoint", required_argument, NULL, 'e' },
		{ "force", no_argument, NULL, 'f' },
		{ "help", no_argument, NULL, 'h' },
		{ "history", no_argument, NULL, 'H' },
		{ "metrics", required_argument, NULL, 'm' },
		{ "on-error", required_argument, NULL, 'o' },
		{ "purge", no_argument, NULL, 'p' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "region", required_argument, NULL, 'r' },
		{ "since", required_argument, NULL, 's' },
		{ "validate", no_argument, NULL, 'c' },
		{ "version", no_argument, NULL, 'V' },
		{ "watch", optional_argument, NULL, 'w' },
		{ NULL, 0, NULL, 0 }
	};
	const char *interval = NULL;
	int ch;

	memset(c, 0, sizeof(*c));
	c->o.on_error = LOAD_SKIP_FILE;
	c->secs = 1;
	while ((ch = getopt_long(argc, argv, ":hqV", longopts, NULL)) != -1) {
		switch (ch) {
		case 'c': c->validate = 1; break;
		case 'd': c->conninfo = optarg; break;
		case 'D':
			if (strcmp(optarg, "postgres") && strcmp(optarg, "snowflake"))
				diemsg(EXIT_USAGE, "invalid --dialect '%s': expected "
				       "postgres or snowflake", optarg);
			c->snowflake = !strcmp(optarg, "snowflake");
			break;
		case 'n': c->dry_run = 1; break;
		case 'e': c->endpoint = optarg; break;
		case 'f': c->o.force = 1; break;
		case 'h': usage(stdout); close_stdout(); exit(EXIT_OK);
		case 'H': c->history = 1; break;
		case 'm': c->metrics_path = optarg; break;
		case 'o':
			if (!strcmp(optarg, "abort"))
				c->o.on_error = LOAD_ABORT;
			else if (!strcmp(optarg, "skip_file"))
				c->o.on_error = LOAD_SKIP_FILE;
			else if (!strcmp(optarg, "continue"))
				c->o.on_error = LOAD_CONTINUE;
			else
				diemsg(EXIT_USAGE, "invalid --on-error '%s': expected "
				       "abort, skip_file or continue", optarg);
			break;
		case 'p': c->purge = 1; break;
		case 'q': quiet = 1; break;
		case 'r': c->region = optarg; break;
		case 's': c->since = optarg; break;
		case 'V': print_version();
		case 'w': c->watching = 1; interval = optarg; break;
		case ':':
			warnmsg("option '%s' needs a value", argv[optind - 1]);
			usage(stderr);
			exit(EXIT_USAGE);
		default:
			warnmsg("unknown option '%s'", argv[optind - 1]);
			usage(stderr);
			exit(EXIT_USAGE);
		}
	}
	argc -= optind;
	argv += optind;
	if (c->watching && !interval && argc == 2)
		interval = *argv++, argc--;	/* --watch SECS STAGE */
	if (interval && parse_double(interval, 0.01, 86400, &c->secs) < 0)
		diemsg(EXIT_USAGE, "invalid --watch interval '%s'", interval);
	if (c->since && !c->history)
		diemsg(EXIT_USAGE, "--since goes with --history");
	if (c->history + c->validate + c->watching > 1)
		diemsg(EXIT_USAGE, "--history, --validate and --watch exclude each other");
	if (argc != 1 && !(c->history && argc == 0)) {
		usage(stderr);
		exit(EXIT_USAGE);
	}
	c->stage = argc ? argv[0] : NULL;
	if (c->dry_run && !c->snowflake)
		diemsg(EXIT_USAGE, "--dry-run goes with --dialect snowflake");
	if (c->snowflake && (c->history || c->validate))
		diemsg(EXIT_USAGE, "--history and --validate go with --dialect "
		       "postgres (Snowflake keeps the load history)");
	if (c->snowflake && !c->dry_run && !wh_is_odbc(c->conninfo))
		diemsg(EXIT_USAGE, "--dialect snowflake needs --db odbc:...");
	if (!quiet && isatty(STDERR_FILENO))
		c->o.progress = show_progress;	/* cosmetics only */
}

/*
 * Counts and reports one row of the answer of Snowflake's COPY INTO:
 * file, status, rows_parsed, rows_loaded, error_limit, errors_seen,
 * first_error, ...  Returns an exit status.
 */
static int report_snowflake_file(const struct wh_result *res, int r,
				 struct tally *t)
{
	const char *file = wh_value(res, r, 0), *status = wh_value(res, r, 1);
	const char *error = wh_value(res, r, 6);
	long long loaded = atoll(wh_value(res, r, 3) ? wh_value(res, r, 3) : "0");
	long long seen = atoll(wh_value(res, r, 5) ? wh_value(res, r, 5) : "0");

	t->rows_loaded += loaded;
	t->rows_rejected += seen;
	if (status && !strcmp(status, "LOADED")) {
		t->files_loaded++;
		return EXIT_OK;
	}
	if (status && !strcmp(status, "PARTIALLY_LOADED")) {
		t->files_partial++;
		warnmsg("'%s': %lld row%s rejected, the first: %s", file, seen,
			plural(seen), error ? error : "");
	} else {
		t->files_failed++;
		warnmsg("'%s' rejected: %s", file ? file : "?", error ? error : "");
	}
	return EXIT_FAIL;
}

/*
 * Has Snowflake load the new files of its stage with COPY INTO (it keeps
 * the load history: a file loads once unless --force).  Returns an exit
 * status.
 */
static int load_snowflake(struct wh *wh, const char *sql, struct tally *t)
{
	struct wh_result *res = wh_query(wh, sql, 0, NULL);
	int r, status = EXIT_OK;

	if (!res) {
		warnmsg("COPY INTO failed: %s", wh->err.buf);
		return wh->temporary ? EXIT_TEMPFAIL : EXIT_FAIL;
	}
	/* "Copy executed with 0 files processed." is one column */
	for (r = 0; wh_result_cols(res) >= 7 && r < wh_result_rows(res); r++)
		if (report_snowflake_file(res, r, t) != EXIT_OK)
			status = EXIT_FAIL;
	wh_result_free(res);
	return status;
}

/* Runs one pass over the stage, with whichever dialect. */
static int load_once(const struct cmd *c, struct wh *wh, struct stage *st,
		     const char *sql, struct tally *t)
{
	if (c->snowflake)
		return load_snowflake(wh, sql, t);
	return load_stage(wh, st, &c->o, c->purge, t);
}

/* Connects and loads the stage, once or (--watch) until a signal. */
static int run_loads(const struct cmd *c, struct stage *st, const char *sql)
{
	double started = now_monotonic();
	struct tally t = { 0 };
	struct metrics m;
	struct wh wh;
	int status;

	metrics_init(&m, c->metrics_path, "snow-load");
	if ((status = open_database(&wh, c->conninfo, !c->snowflake)) != EXIT_OK) {
		metrics_write(&m, 0);
		wh_release(&wh);
		return status;
	}
	if (c->watching && !c->snowflake) {
		status = watch_stage(&wh, st, &c->o, c->purge, c->secs, &m);
	} else if (c->watching) {
		while (!stopping) {
			struct timespec ts;

			memset(&t, 0, sizeof(t));
			started = now_monotonic();
			status = load_snowflake(&wh, sql, &t);
			if (!quiet && t.files_loaded + t.files_partial + t.files_failed)
				print_summary(&t, now_monotonic() - started);
			add_to_metrics(&m, &t);
			metrics_write(&m, status == EXIT_OK);
			if (c->o.on_error == LOAD_ABORT && status == EXIT_FAIL)
				break;
			if (wh_reset(&wh) < 0)
				warnmsg("%s", wh.err.buf);
			ts.tv_sec = (time_t)c->secs;
			ts.tv_nsec = (long)((c->secs - (double)ts.tv_sec) * 1e9);
			nanosleep(&ts, NULL);
		}
		status = stopping ? EXIT_OK : status;
	} else {
		status = load_once(c, &wh, st, sql, &t);
		if (!quiet)
			print_summary(&t, now_monotonic() - started);
		add_to_metrics(&m, &t);
		if (metrics_write(&m, status == EXIT_OK) < 0)
			warnmsg("cannot write metrics '%s': %s", c->metrics_path,
				strerror(errno));
	}
	wh_release(&wh);
	return status;
}

/*
 * Loads the stage once, or keeps loading it (--watch); or checks its
 * files (--validate); or prints the load history (--history).
 */
int main(int argc, char **argv)
{
	struct cmd c;
	struct stage st;
	struct wh wh;
	struct buf sql = BUF_INIT;
	int status;

	util_init(argv[0]);
	parse_options(argc, argv, &c);
	if (c.snowflake) {
		if (load_snowflake_sql(&sql, c.stage[0] == '@' ? c.stage : NULL,
				       &c.o, c.purge) < 0)
			diemsg(EXIT_USAGE, "invalid Snowflake stage '%s'", c.stage);
		if (c.dry_run) {
			printf("%s;\n", sql.buf);
			close_stdout();
			return EXIT_OK;
		}
		signal(SIGINT, on_signal);
		signal(SIGTERM, on_signal);
		status = run_loads(&c, NULL, sql.buf);
		buf_release(&sql);
		return status;
	}
	if (c.history) {
		if ((status = open_database(&wh, c.conninfo, 1)) == EXIT_OK)
			status = print_history(&wh, c.stage, c.since);
		wh_release(&wh);
		if (status == EXIT_OK)
			close_stdout();
		return status;
	}
	if (c.validate && !strcmp(c.stage, "-")) {
		status = validate_stdin();
		close_stdout();
		return status;
	}
	if (stage_open(&st, c.stage, c.endpoint, c.region) < 0)
		diemsg(st.temporary ? EXIT_TEMPFAIL : EXIT_FAIL, "%s", st.err.buf);
	signal(SIGPIPE, SIG_IGN);
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	status = c.validate ? validate_stage(&st) : run_loads(&c, &st, NULL);
	stage_close(&st);
	close_stdout();
	return status;
}
