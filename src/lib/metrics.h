/*
 * Prometheus textfile-collector metrics (--metrics FILE on every program).
 *
 * The file is written whole under a temporary name and renamed, so a
 * collector never reads half of it.  It holds, for the program:
 *	customertrack_rows_total{program="..."}	rows handled by this run
 *	customertrack_files_total{program="..."}	files handled by this run
 *	customertrack_errors_total{program="..."}	errors (rejected rows, failed files)
 *	customertrack_duration_seconds{program="..."}	this run's duration
 *	customertrack_last_run_timestamp_seconds{program="..."}
 *	customertrack_last_success_timestamp_seconds{program="..."}
 *	customertrack_up{program="..."}			1 if this run succeeded
 * A failed run keeps the last success time that the file already held.
 */
#ifndef METRICS_H
#define METRICS_H

struct metrics {
	const char *path;	/* NULL: metrics_write() does nothing */
	const char *program;
	double started;		/* now_monotonic() at metrics_init() */
	long long rows;
	long long files;
	long long errors;
};

void metrics_init(struct metrics *m, const char *path, const char *program);
/* Writes the file (success: whether the run succeeded).  Returns 0 or -1
 * with errno set; the caller warns but does not fail the run for it. */
int metrics_write(struct metrics *m, int success);

#endif
