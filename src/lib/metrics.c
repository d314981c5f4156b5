#include "metrics.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "util.h"

void metrics_init(struct metrics *m, const char *path, const char *program)
{
	memset(m, 0, sizeof(*m));
	m->path = path;
	m->program = program;
	m->started = now_monotonic();
}

/* The last success time recorded in an earlier file, or 0. */
static double previous_success(const char *path)
{
	static const char name[] = "customertrack_last_success_timestamp_seconds";
	char line[512];
	double t = 0;
	FILE *f = fopen(path, "r");

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f)) {
		char *p;

		if (strncmp(line, name, sizeof(name) - 1))
			continue;
		p = strrchr(line, ' ');
		if (p)
			t = strtod(p + 1, NULL);
	}
	fclose(f);
	return t;
}

static void add_metric(struct buf *b, const char *name, const char *type,
		       const char *help, const char *program, double value)
{
	buf_addf(b, "# HELP %s %s\n# TYPE %s %s\n%s{program=\"%s\"} %.17g\n",
		 name, help, name, type, name, program, value);
}

int metrics_write(struct metrics *m, int success)
{
	struct buf b = BUF_INIT, tmp = BUF_INIT;
	double now = (double)time(NULL);
	double last_success;
	FILE *f;
	int ok;

	if (!m->path)
		return 0;
	last_success = success ? now : previous_success(m->path);
	add_metric(&b, "customertrack_rows_total", "counter",
		   "Rows handled by the last run.", m->program, (double)m->rows);
	add_metric(&b, "customertrack_files_total", "counter",
		   "Files handled by the last run.", m->program, (double)m->files);
	add_metric(&b, "customertrack_errors_total", "counter",
		   "Errors (rejected rows, failed files) in the last run.",
		   m->program, (double)m->errors);
	add_metric(&b, "customertrack_duration_seconds", "gauge",
		   "Duration of the last run.", m->program,
		   now_monotonic() - m->started);
	add_metric(&b, "customertrack_last_run_timestamp_seconds", "gauge",
		   "When the last run ended.", m->program, now);
	add_metric(&b, "customertrack_last_success_timestamp_seconds", "gauge",
		   "When the last successful run ended.", m->program, last_success);
	add_metric(&b, "customertrack_up", "gauge",
		   "Whether the last run succeeded.", m->program, success ? 1 : 0);

	buf_addf(&tmp, "%s.tmp.%ld", m->path, (long)getpid());
	f = fopen(tmp.buf, "w");
	ok = f && fwrite(b.buf, 1, b.len, f) == b.len;
	if (f && fclose(f) != 0)
		ok = 0;
	if (ok && rename(tmp.buf, m->path) != 0)
		ok = 0;
	if (!ok) {
		int e = errno;

		unlink(tmp.buf);
		errno = e;
	}
	buf_release(&b);
	buf_release(&tmp);
	return ok ? 0 : -1;
}
