#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdarg.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "gen.h"
#include "gen_data.h"
#include "metrics.h"
#include "util.h"

/* With --seed and neither --start nor --rate, the stream starts here. */
#define SEEDED_START "2026-01-01T00:00:00Z"
#define OUT_SIZE (256 * 1024)

static volatile sig_atomic_t stop;
static struct metrics metrics;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static void usage(FILE *f)
{
	fprintf(f,
"usage: gen-customers [-q] [-n ROWS] [--seed N] [--customers N]\n"
"                     [--update-ratio F] [--delete-ratio F] [--dup-ratio F]\n"
"                     [--late-ratio F] [--foreign-ratio F] [--country CODE]\n"
"                     [--start TIME] [--step SECS | --rate ROWS_PER_SEC]\n"
"                     [-o DIR [--file-rows N] [--interval SECS]] [--metrics FILE]\n");
	if (f != stdout)
		return;
	fputs("\n"
"Writes realistic customer change events as CSV to standard output, or as\n"
"files customer_YYYYmmddHHMMSS[_N].csv that appear atomically in DIR.\n"
"\n"
"  -n, --rows N           rows to write; 0 runs until SIGINT or SIGTERM (10000)\n"
"      --seed N           seed of the stream; same seed, same bytes (random)\n"
"      --customers N      key space: customer ids 1..N (100000)\n"
"      --update-ratio F   share of upserts that update a customer (0.6)\n"
"      --delete-ratio F   share of rows that delete a customer, op D (0.02)\n"
"      --dup-ratio F      share of rows that re-send an earlier row (0.01)\n"
"      --late-ratio F     share of updates and deletes that arrive late (0.01)\n"
"      --foreign-ratio F  share of addresses abroad (0.02)\n"
"      --country CODE     home country: US CA MX GB DE IE (US)\n"
"      --start TIME       time of the first event, ISO 8601 or @EPOCH (now;\n"
"                         " SEEDED_START " with --seed and no --rate)\n"
"      --step SECS        event time between rows (0.001)\n"
"      --rate R           write R rows per second, event time = wall time\n"
"  -o, --output-dir DIR   write rotated files into DIR\n"
"      --file-rows N      rows per file; 0: no limit (10000 without --interval)\n"
"      --interval SECS    start a new file every SECS seconds of event time\n"
"      --metrics FILE     write Prometheus metrics to FILE at the end\n"
"  -q, --quiet            no summary line\n"
"  -h, --help             show this help;  -V, --version  show the version\n"
"\n"
"Example: gen-customers --seed 1 -n 100000 --delete-ratio 0.05 > events.csv\n", f);
}

/* Where rows go: standard output, or the current file of the directory. */
struct out {
	const char *dir;	/* NULL: standard output */
	int fd;			/* -1: no file open */
	char tmp[4096];		/* the file being written; "" if none */
	int64_t file_start;	/* event time of the file's first row */
	long long file_rows;	/* rows in the current file */
	long long files;	/* files completed */
	char last_stamp[32];	/* the second of the last file's name */
	int last_n;		/* and its suffix: a name is never used twice */
	char *buf;
	size_t len;
};

/* Reports a failure to write, removes the file being written, records the
 * failed run in the metrics, and exits 1. */
static void fail(struct out *o, const char *fmt, ...)
	__attribute__((format(printf, 2, 3), noreturn));
static void fail(struct out *o, const char *fmt, ...)
{
	char msg[8192];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	warnmsg("%s", msg);
	if (o->tmp[0])
		unlink(o->tmp);
	metrics.files = o->files;
	metrics_write(&metrics, 0);
	exit(EXIT_FAIL);
}

static void out_flush(struct out *o)
{
	size_t off = 0;

	while (off < o->len) {
		ssize_t w = write(o->dir ? o->fd : STDOUT_FILENO, o->buf + off, o->len - off);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && !o->dir)
			fail(o, "cannot write to standard output: %s", strerror(errno));
		if (w < 0)
			fail(o, "cannot write '%s': %s", o->tmp, strerror(errno));
		off += (size_t)w;
	}
	o->len = 0;
}

/* Formats an event time as YYYYmmddHHMMSS for a file name. */
static void file_stamp(char *out, size_t size, int64_t us)
{
	time_t t = (time_t)(us / 1000000);
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(out, size, "%Y%m%d%H%M%S", &tm);
}

static void file_open(struct out *o, int64_t us)
{
	char stamp[32];

	file_stamp(stamp, sizeof(stamp), us);
	snprintf(o->tmp, sizeof(o->tmp), "%s/.customer_%s_%ld.csv.tmp", o->dir, stamp, (long)getpid());
	o->fd = open(o->tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (o->fd < 0)
		fail(o, "cannot create '%s': %s", o->tmp, strerror(errno));
	o->file_start = us;
	o->file_rows = 0;
	o->len = gen_header(o->buf);
}

/* Completes the current file: its bytes on disk, then its final name
 * (with _1, _2, ... when the name is taken), which never replaces a file.
 * A name this run used is never used again, even once a consumer such as
 * s3-put --spool has removed the file: a second upload under the same key
 * would overwrite the first. */
static void file_close(struct out *o)
{
	char stamp[32], name[4200];
	int n;

	out_flush(o);
	if (fsync(o->fd))
		fail(o, "cannot write '%s': %s", o->tmp, strerror(errno));
	if (close(o->fd))
		fail(o, "cannot write '%s': %s", o->tmp, strerror(errno));
	o->fd = -1;
	file_stamp(stamp, sizeof(stamp), o->file_start);
	n = strcmp(stamp, o->last_stamp) ? 0 : o->last_n + 1;
	for (;; n++) {
		if (n)
			snprintf(name, sizeof(name), "%s/customer_%s_%d.csv", o->dir, stamp, n);
		else
			snprintf(name, sizeof(name), "%s/customer_%s.csv", o->dir, stamp);
		/* A rename, so that watchers see the name appear (inotify's
		 * IN_MOVED_TO; a hard link would raise only IN_CREATE). */
		if (renameat2(AT_FDCWD, o->tmp, AT_FDCWD, name, RENAME_NOREPLACE) == 0)
			goto done;
		if (errno == EEXIST)
			continue;
		if (errno != EINVAL && errno != ENOSYS)
			fail(o, "cannot rename '%s' to '%s': %s", o->tmp, name, strerror(errno));
		/* No RENAME_NOREPLACE on this file system: a hard link. */
		if (link(o->tmp, name) == 0)
			break;
		if (errno == EEXIST)
			continue;
		/* No hard links either: check, then rename. */
		if (access(name, F_OK) == 0)
			continue;
		if (rename(o->tmp, name) == 0)
			goto done;
		fail(o, "cannot rename '%s' to '%s': %s", o->tmp, name, strerror(errno));
	}
	unlink(o->tmp);
done:
	memcpy(o->last_stamp, stamp, sizeof(stamp));
	o->last_n = n;
	o->tmp[0] = '\0';
	o->files++;
}

/* Sleeps until the monotonic time t, or until a signal asks to stop. */
static void sleep_until(double t)
{
	struct timespec ts;

	ts.tv_sec = (time_t)t;
	ts.tv_nsec = (long)((t - (double)ts.tv_sec) * 1e9);
	while (!stop && clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
		;
}

struct run {
	long long rows;		/* 0: until a signal */
	double rate;		/* 0: as fast as possible */
	long long file_rows;
	double interval;	/* seconds; 0: none */
	int quiet;
};

/* Whether the current file is complete before the row at event time us. */
static int file_full(const struct out *o, const struct run *r, int64_t us)
{
	return o->fd >= 0 && ((r->file_rows && o->file_rows >= r->file_rows) ||
			      (r->interval && us >= o->file_start + (int64_t)(r->interval * 1e6)));
}

/*
 * Waits for row i's deadline, t0 + i / rate: an absolute time, so that the
 * pace never drifts.  Flushes first, so that a slow stream is seen row by
 * row, and closes a file whose interval ends before.  Returns -1 if a
 * signal asked to stop.
 */
static int wait_for_row(const struct gen *g, struct out *o, const struct run *r,
			double t0, long long i)
{
	double due = t0 + i / r->rate;

	if (now_monotonic() >= due)
		return 0;
	out_flush(o);
	if (o->fd >= 0 && r->interval) {
		double close_at = t0 + (o->file_start - g->opt.start_us) / 1e6 + r->interval;

		if (close_at < due) {
			sleep_until(close_at);
			if (stop)
				return -1;
			file_close(o);
		}
	}
	sleep_until(due);
	return stop ? -1 : 0;
}

/* Writes the rows, paced by the rate, into the output; stops early on a signal. */
static void generate(struct gen *g, struct out *o, const struct run *r)
{
	double t0 = now_monotonic(), shown = t0, t;
	int progress = !r->quiet && isatty(STDERR_FILENO);
	long long i;

	if (!o->dir)
		o->len = gen_header(o->buf);
	for (i = 0; (!r->rows || i < r->rows) && !stop; i++) {
		int64_t us = gen_next_time(g);

		if (r->rate && wait_for_row(g, o, r, t0, i))
			break;
		if (o->dir) {
			if (file_full(o, r, us))
				file_close(o);
			if (o->fd < 0)
				file_open(o, us);
			o->file_rows++;
		}
		if (o->len > OUT_SIZE - GEN_ROW_MAX)
			out_flush(o);
		o->len += gen_row(g, o->buf + o->len);
		if (progress && (r->rate || !(i & 0xffff)) && (t = now_monotonic()) >= shown + 1) {
			fprintf(stderr, "\r%s: %lld rows, %lld files", progname, i + 1, o->files);
			shown = t;
		}
	}
	if (o->dir && o->fd >= 0)
		file_close(o);
	else
		out_flush(o);
	if (progress && shown > t0)
		fputs("\r\033[K", stderr);
}

static double ratio_arg(const char *name, const char *arg)
{
	double v;

	if (parse_double(arg, 0, 1, &v))
		diemsg(EXIT_USAGE, "invalid %s '%s': expected a number from 0 to 1", name, arg);
	return v;
}

static unsigned country_arg(const char *arg)
{
	unsigned i;

	for (i = 0; i < gen_countries_count; i++)
		if (!strcasecmp(arg, gen_countries[i].code) || !strcasecmp(arg, gen_countries[i].name))
			return i;
	diemsg(EXIT_USAGE, "unknown country '%s': expected US, CA, MX, GB, DE or IE", arg);
}

enum {
	OPT_COUNTRY = 256, OPT_CUSTOMERS, OPT_DELETE, OPT_DUP, OPT_FILE_ROWS,
	OPT_FOREIGN, OPT_INTERVAL, OPT_LATE, OPT_METRICS, OPT_RATE, OPT_SEED,
	OPT_START, OPT_STEP, OPT_UPDATE
};

static const struct option longopts[] = {
	{ "country", required_argument, 0, OPT_COUNTRY },
	{ "customers", required_argument, 0, OPT_CUSTOMERS },
	{ "delete-ratio", required_argument, 0, OPT_DELETE },
	{ "dup-ratio", required_argument, 0, OPT_DUP },
	{ "file-rows", required_argument, 0, OPT_FILE_ROWS },
	{ "foreign-ratio", required_argument, 0, OPT_FOREIGN },
	{ "help", no_argument, 0, 'h' },
	{ "interval", required_argument, 0, OPT_INTERVAL },
	{ "late-ratio", required_argument, 0, OPT_LATE },
	{ "metrics", required_argument, 0, OPT_METRICS },
	{ "output-dir", required_argument, 0, 'o' },
	{ "quiet", no_argument, 0, 'q' },
	{ "rate", required_argument, 0, OPT_RATE },
	{ "rows", required_argument, 0, 'n' },
	{ "seed", required_argument, 0, OPT_SEED },
	{ "start", required_argument, 0, OPT_START },
	{ "step", required_argument, 0, OPT_STEP },
	{ "update-ratio", required_argument, 0, OPT_UPDATE },
	{ "version", no_argument, 0, 'V' },
	{ 0, 0, 0, 0 }
};

/*
 * gen-customers: writes a realistic, reproducible stream of customer change
 * events (new customers, updates, deletes, re-sends, late events) as the CSV
 * of DESIGN §1, to standard output or as rotated files in a spool directory.
 */
int main(int argc, char **argv)
{
	struct gen_options opt = { .customers = 100000, .update_ratio = 0.6,
		.delete_ratio = 0.02, .dup_ratio = 0.01, .late_ratio = 0.01,
		.foreign_ratio = 0.02, .step_us = 1000 };
	struct run run = { .rows = 10000, .file_rows = -1 };
	struct out out = { .fd = -1 };
	const char *start = NULL, *metrics_path = NULL;
	struct sigaction sa;
	struct gen g;
	int have_seed = 0, c;
	long long v;
	double secs;

	util_init(argv[0]);
	argv[0] = (char *)progname;	/* getopt's messages name the program alone */
	while ((c = getopt_long(argc, argv, "hn:o:qV", longopts, NULL)) != -1) {
		switch (c) {
		case 'h':
			usage(stdout);
			close_stdout();
			return EXIT_OK;
		case 'n':
			if (parse_ll(optarg, 0, INT64_MAX, &run.rows))
				diemsg(EXIT_USAGE, "invalid row count '%s'", optarg);
			break;
		case 'o':
			out.dir = optarg;
			break;
		case 'q':
			run.quiet = 1;
			break;
		case 'V':
			print_version();
		case OPT_COUNTRY:
			opt.country = country_arg(optarg);
			break;
		case OPT_CUSTOMERS:
			if (parse_ll(optarg, 1, 100000000, &v))
				diemsg(EXIT_USAGE, "invalid customer count '%s': expected 1 to 100000000", optarg);
			opt.customers = (uint64_t)v;
			break;
		case OPT_DELETE:
			opt.delete_ratio = ratio_arg("delete ratio", optarg);
			break;
		case OPT_DUP:
			opt.dup_ratio = ratio_arg("dup ratio", optarg);
			break;
		case OPT_FILE_ROWS:
			if (parse_ll(optarg, 0, INT64_MAX, &run.file_rows))
				diemsg(EXIT_USAGE, "invalid file row count '%s'", optarg);
			break;
		case OPT_FOREIGN:
			opt.foreign_ratio = ratio_arg("foreign ratio", optarg);
			break;
		case OPT_INTERVAL:
			if (parse_double(optarg, 0.001, 1e9, &run.interval))
				diemsg(EXIT_USAGE, "invalid interval '%s': expected seconds > 0", optarg);
			break;
		case OPT_LATE:
			opt.late_ratio = ratio_arg("late ratio", optarg);
			break;
		case OPT_METRICS:
			metrics_path = optarg;
			break;
		case OPT_RATE:
			if (parse_double(optarg, 0.001, 1e9, &run.rate))
				diemsg(EXIT_USAGE, "invalid rate '%s': expected rows per second > 0", optarg);
			break;
		case OPT_SEED:
			if (parse_ll(optarg, 0, INT64_MAX, &v))
				diemsg(EXIT_USAGE, "invalid seed '%s': expected a whole number >= 0", optarg);
			opt.seed = (uint64_t)v;
			have_seed = 1;
			break;
		case OPT_START:
			start = optarg;
			break;
		case OPT_STEP:
			if (parse_double(optarg, 0, 86400, &secs))
				diemsg(EXIT_USAGE, "invalid step '%s': expected seconds from 0 to 86400", optarg);
			opt.step_us = secs * 1e6;
			break;
		case OPT_UPDATE:
			opt.update_ratio = ratio_arg("update ratio", optarg);
			break;
		default:
			usage(stderr);
			return EXIT_USAGE;
		}
	}
	argc -= optind;
	argv += optind;
	if (argc > 0)
		diemsg(EXIT_USAGE, "unexpected argument '%s'", argv[0]);
	if (opt.delete_ratio + opt.dup_ratio > 1)
		diemsg(EXIT_USAGE, "delete ratio and dup ratio add up to more than 1");
	if (!out.dir && (run.file_rows >= 0 || run.interval))
		diemsg(EXIT_USAGE, "--file-rows and --interval need -o DIR");
	if (run.file_rows < 0)
		run.file_rows = run.interval ? 0 : 10000;
	if (run.rate)
		opt.step_us = 1e6 / run.rate;
	if (start) {
		if (gen_parse_time(start, &opt.start_us))
			diemsg(EXIT_USAGE, "invalid start time '%s': expected ISO 8601, e.g. 2026-11-22T02:10:48Z", start);
	} else if (have_seed && !run.rate) {
		gen_parse_time(SEEDED_START, &opt.start_us);
	} else {
		struct timespec ts;

		clock_gettime(CLOCK_REALTIME, &ts);
		opt.start_us = (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
	}
	if (!have_seed && getrandom(&opt.seed, sizeof(opt.seed), 0) != sizeof(opt.seed))
		opt.seed = (uint64_t)opt.start_us ^ ((uint64_t)getpid() << 32);
	metrics_init(&metrics, metrics_path, "gen-customers");
	if (out.dir && access(out.dir, W_OK | X_OK))
		fail(&out, "cannot write to directory '%s': %s", out.dir, strerror(errno));

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	gen_init(&g, &opt);
	out.buf = xmalloc(OUT_SIZE);
	generate(&g, &out, &run);
	if (!out.dir)
		close_stdout();

	secs = now_monotonic() - metrics.started;
	if (!run.quiet) {
		fprintf(stderr, "%s: %lld rows (%lld new, %lld updates, %lld deletes, "
			"%lld re-sends, %lld late)", progname, g.stats.rows, g.stats.news,
			g.stats.updates, g.stats.deletes, g.stats.dups, g.stats.late);
		if (out.dir)
			fprintf(stderr, " in %lld files", out.files);
		fprintf(stderr, ", seed %llu, %.2f s, %.0f rows/s\n", (unsigned long long)opt.seed,
			secs, secs > 0 ? g.stats.rows / secs : 0.0);
	}
	metrics.rows = g.stats.rows;
	metrics.files = out.files;
	if (metrics_write(&metrics, 1))
		warnmsg("cannot write metrics '%s': %s", metrics_path, strerror(errno));
	gen_release(&g);
	free(out.buf);
	return EXIT_OK;
}
