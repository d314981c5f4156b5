/*
 * s3-put: uploads files, standard input, or every complete file of a
 * spool directory to S3, signed with Signature V4.  Small objects go in
 * one PUT, large ones and standard input of unknown length in parts;
 * objects and parts are sent in parallel by a pool of workers, each
 * keeping its own connection.  See man/s3-put.1.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "metrics.h"
#include "s3.h"
#include "util.h"

#define MIB (1024LL * 1024)
#define MIN_PART (5 * MIB)
#define MAX_PART (5 * 1024 * MIB)
#define MAX_PARTS 10000
#define RESCAN_SECS 60

/* One object to upload, from a file or from standard input. */
struct upload {
	char *path;		/* NULL: standard input */
	int fd;			/* the file, open while its parts are sent; -1 */
	char *key;
	int spool;		/* remove (or move to done_dir) once uploaded */
	long long size;
	long long part_size;
	char *upload_id;	/* multipart only */
	char **etags;		/* one per part */
	int nparts;		/* parts known so far */
	int parts_left;		/* queued or running */
	int all_queued;		/* no more parts will come */
	int failed;
	int temporary;
	struct buf err;
};

/* A unit of work: a whole upload (part 0) or one of its parts. */
struct task {
	struct task *next;
	struct upload *up;
	int part;
	char *data;		/* a part read from standard input, or NULL */
	size_t len;
};

static struct {
	struct s3_config cfg;
	const char *bucket;
	long long part_size;
	int jobs;
	const char *done_dir;

	pthread_mutex_t lock;
	pthread_cond_t cond;		/* the queue or the counts changed */
	struct task *head, *tail;
	int pending;			/* uploads not finished yet */
	int buffers;			/* stdin parts held in memory */
	int stopping;

	long long files, bytes, failed_perm, failed_temp;
	int quiet;			/* -q: no summary line */
	long long sent;			/* bytes acknowledged, parts included */
	struct metrics *metrics;
} g = { .lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER };

/* The signal (SIGINT, SIGTERM) that asked a run without --watch to stop. */
static volatile sig_atomic_t interrupted;

static void on_signal(int sig)
{
	interrupted = sig;
}

static void usage(FILE *out)
{
	fputs("usage: s3-put [-q] [--endpoint URL] [--region REGION] [--jobs N] [--part-size SIZE]\n"
	      "              [--path-style] [--ca-bundle FILE] [--read-timeout SECS]\n"
	      "              [--metrics FILE] FILE... s3://BUCKET/PREFIX/\n"
	      "       s3-put [options] - s3://BUCKET/KEY\n"
	      "       s3-put [options] --spool DIR [--watch] [--done-dir DIR] s3://BUCKET/PREFIX/\n",
	      out);
	if (out != stdout)
		return;
	fputs("\n"
	      "Uploads files (each as PREFIX/<its base name>), standard input, or every\n"
	      "complete file of a spool directory to S3, signed with Signature V4.\n"
	      "\n"
	      "      --endpoint URL     S3-compatible endpoint (AWS_ENDPOINT_URL); path style\n"
	      "      --region REGION    region (AWS_REGION, AWS_DEFAULT_REGION, us-east-1)\n"
	      "  -j, --jobs N           parallel uploads and parts (16)\n"
	      "      --part-size SIZE   multipart above SIZE, in parts of SIZE (8M; 5M to 5G)\n"
	      "      --path-style       bucket in the path, not the host name\n"
	      "      --ca-bundle FILE   verify TLS with these CAs (AWS_CA_BUNDLE)\n"
	      "      --read-timeout S   abandon and retry a request stalled for S seconds\n"
	      "      --spool DIR        upload each complete file of DIR, then remove it\n"
	      "      --watch            with --spool: keep waiting for new files\n"
	      "      --done-dir DIR     with --spool: move uploaded files to DIR instead\n"
	      "      --metrics FILE     write Prometheus metrics to FILE\n"
	      "  -q, --quiet            no summary line\n"
	      "  -h, --help             show this help;  -V, --version  show the version\n"
	      "\n"
	      "Exit status: 0 all uploaded, 1 a permanent failure, 2 usage, 75 a temporary\n"
	      "failure that outlived the retries (retry later).\n"
	      "\n"
	      "Example: * * * * * s3-put --spool /var/spool/customers s3://bucket/in/\n", out);
}

/* Adds a task at the end of the queue, or at its front (parts of an
 * upload already begun go first, so that memory stays bounded). */
static void enqueue(struct task *t, int front)
{
	pthread_mutex_lock(&g.lock);
	if (front) {
		t->next = g.head;
		g.head = t;
		if (!g.tail)
			g.tail = t;
	} else {
		t->next = NULL;
		if (g.tail)
			g.tail->next = t;
		else
			g.head = t;
		g.tail = t;
	}
	pthread_cond_broadcast(&g.cond);
	pthread_mutex_unlock(&g.lock);
}

static struct task *new_task(struct upload *up, int part, char *data, size_t len)
{
	struct task *t = xcalloc(1, sizeof(*t));

	t->up = up;
	t->part = part;
	t->data = data;
	t->len = len;
	return t;
}

/* Records a failure of up from the s3 handle's error (under g.lock or
 * before the upload is shared). */
static void fail_upload(struct upload *up, const char *what, const char *msg, int temporary)
{
	if (up->failed)
		return;
	up->failed = 1;
	up->temporary = temporary;
	buf_setf(&up->err, "%s: %s", what, msg);
}

/* Reports the end of an upload and removes a spooled file once it is safe. */
static void finish_upload(struct upload *up)
{
	const char *name = up->path ? up->path : "-";

	if (!up->failed && up->spool) {
		if (g.done_dir) {
			struct buf to = BUF_INIT;
			const char *base = strrchr(up->path, '/');

			buf_setf(&to, "%s/%s", g.done_dir, base ? base + 1 : up->path);
			if (rename(up->path, to.buf) < 0)
				fail_upload(up, "cannot move", strerror(errno), 0);
			buf_release(&to);
		} else if (unlink(up->path) < 0 && errno != ENOENT) {
			fail_upload(up, "cannot remove", strerror(errno), 0);
		}
	}
	pthread_mutex_lock(&g.lock);
	if (up->failed) {
		warnmsg("cannot upload '%s' to 's3://%s/%s': %s", name, g.bucket,
			up->key, up->err.buf);
		if (up->temporary)
			g.failed_temp++;
		else
			g.failed_perm++;
	} else {
		printf("s3://%s/%s\n", g.bucket, up->key);
		g.files++;
		g.bytes += up->size;
		if (!up->upload_id)
			g.sent += up->size;
	}
	g.pending--;
	pthread_cond_broadcast(&g.cond);
	pthread_mutex_unlock(&g.lock);
	free(up->path);
	free(up->key);
	free(up->upload_id);
	if (up->etags) {
		int i;

		for (i = 0; i < up->nparts; i++)
			free(up->etags[i]);
		free(up->etags);
	}
	buf_release(&up->err);
	if (up->fd >= 0)
		close(up->fd);
	free(up);
}

/* Completes (or, after a failure, aborts) a multipart upload whose parts are all done. */
static void complete_multipart(struct s3 *s3, struct upload *up)
{
	struct buf etag = BUF_INIT;

	if (!up->failed) {
		if (s3_multipart_complete(s3, g.bucket, up->key, up->upload_id,
					  up->etags, up->nparts, &etag) < 0)
			fail_upload(up, "CompleteMultipartUpload", s3->err.buf, s3->temporary);
	}
	if (up->failed && s3_multipart_abort(s3, g.bucket, up->key, up->upload_id) < 0)
		warnmsg("cannot abort the upload of 's3://%s/%s' (id '%s'): %s",
			g.bucket, up->key, up->upload_id, s3->err.buf);
	buf_release(&etag);
	finish_upload(up);
}

/* Marks a part done; the worker that finishes the last part completes the upload. */
static void part_done(struct s3 *s3, struct upload *up)
{
	int last;

	pthread_mutex_lock(&g.lock);
	last = --up->parts_left == 0 && up->all_queued;
	pthread_mutex_unlock(&g.lock);
	if (last)
		complete_multipart(s3, up);
}

/* Sends part t->part of an upload, from memory or from its file. */
static void run_part(struct s3 *s3, struct task *t)
{
	struct upload *up = t->up;
	struct buf etag = BUF_INIT;
	long long off = (t->part - 1) * up->part_size;
	size_t len = t->len;
	int failed, ret = 0;

	pthread_mutex_lock(&g.lock);
	failed = up->failed;
	pthread_mutex_unlock(&g.lock);
	if (!failed && t->data) {
		ret = s3_multipart_put(s3, g.bucket, up->key, up->upload_id, t->part,
				       t->data, len, &etag);
	} else if (!failed) {
		len = (size_t)(up->size - off < up->part_size ? up->size - off : up->part_size);
		ret = s3_multipart_put_file(s3, g.bucket, up->key, up->upload_id, t->part,
					    up->fd, off, len, &etag);
	}
	if (ret < 0) {
		pthread_mutex_lock(&g.lock);
		fail_upload(up, "UploadPart", s3->err.buf, s3->temporary);
		pthread_mutex_unlock(&g.lock);
	} else if (!failed) {
		pthread_mutex_lock(&g.lock);
		up->etags[t->part - 1] = buf_detach(&etag, NULL);
		g.sent += len;
		pthread_mutex_unlock(&g.lock);
	}
	if (t->data) {
		free(t->data);
		pthread_mutex_lock(&g.lock);
		g.buffers--;
		pthread_cond_broadcast(&g.cond);
		pthread_mutex_unlock(&g.lock);
	}
	buf_release(&etag);
	part_done(s3, up);
}

/* The part size for a file of size bytes: at least the one asked for,
 * large enough to need at most 10,000 parts. */
static long long part_size_for(long long size)
{
	long long ps = g.part_size;

	while ((size + ps - 1) / ps > MAX_PARTS)
		ps *= 2;
	return ps > MAX_PART ? MAX_PART : ps;
}

/* Starts the upload of a file: one PUT when small, else queues its parts. */
static void run_file(struct s3 *s3, struct upload *up)
{
	struct stat st;
	int fd, i;

	if (up->failed) {
		finish_upload(up);
		return;
	}
	fd = open(up->path, O_RDONLY | O_CLOEXEC);

	up->fd = fd;
	if (fd < 0 || fstat(fd, &st) < 0) {
		fail_upload(up, "cannot open", strerror(errno), 0);
		goto done;
	}
	up->size = st.st_size;
	if (up->size <= g.part_size || !S_ISREG(st.st_mode)) {
		if (!S_ISREG(st.st_mode)) {
			fail_upload(up, "cannot upload", "not a regular file", 0);
		} else if (s3_put_file(s3, g.bucket, up->key, fd, 0, (size_t)up->size, NULL) < 0) {
			fail_upload(up, "PutObject", s3->err.buf, s3->temporary);
		}
		goto done;
	}
	up->part_size = part_size_for(up->size);
	up->nparts = (int)((up->size + up->part_size - 1) / up->part_size);
	if (s3_multipart_create(s3, g.bucket, up->key, &up->err) < 0) {
		fail_upload(up, "CreateMultipartUpload", s3->err.buf, s3->temporary);
		goto done;
	}
	up->upload_id = buf_detach(&up->err, NULL);
	up->etags = xcalloc(up->nparts, sizeof(char *));
	up->parts_left = up->nparts;
	up->all_queued = 1;
	for (i = up->nparts; i >= 1; i--)
		enqueue(new_task(up, i, NULL, 0), 1);
	return;
done:
	finish_upload(up);
}

/* A worker: takes tasks from the queue until it is told to stop. */
static void *worker(void *arg)
{
	struct s3 s3;

	(void)arg;
	if (s3_init(&s3, &g.cfg) < 0)
		die("%s", s3.err.buf);
	for (;;) {
		struct task *t;

		pthread_mutex_lock(&g.lock);
		while (!g.head && !g.stopping)
			pthread_cond_wait(&g.cond, &g.lock);
		t = g.head;
		if (t) {
			g.head = t->next;
			if (!g.head)
				g.tail = NULL;
		}
		pthread_mutex_unlock(&g.lock);
		if (!t)
			break;
		if (interrupted) {
			pthread_mutex_lock(&g.lock);
			fail_upload(t->up, "cannot upload", "interrupted", 1);
			pthread_mutex_unlock(&g.lock);
		}
		if (t->part == 0 && t->data) {
			t->up->size = t->len;
			if (!t->up->failed && s3_put_object(&s3, g.bucket, t->up->key, t->data, t->len, NULL) < 0)
				fail_upload(t->up, "PutObject", s3.err.buf, s3.temporary);
			free(t->data);
			pthread_mutex_lock(&g.lock);
			g.buffers--;
			pthread_mutex_unlock(&g.lock);
			finish_upload(t->up);
		} else if (t->part == 0) {
			run_file(&s3, t->up);
		} else {
			run_part(&s3, t);
		}
		free(t);
	}
	s3_release(&s3);
	return NULL;
}

static struct upload *new_upload(const char *path, const char *key, int spool)
{
	struct upload *up = xcalloc(1, sizeof(*up));

	up->path = path ? xstrdup(path) : NULL;
	up->fd = -1;
	up->key = xstrdup(key);
	up->spool = spool;
	up->part_size = g.part_size;
	buf_init(&up->err, 0);
	pthread_mutex_lock(&g.lock);
	g.pending++;
	pthread_mutex_unlock(&g.lock);
	return up;
}

/* Waits until every upload queued so far has finished, showing the
 * progress twice a second when standard error is a terminal. */
static void wait_idle(void)
{
	int tty = isatty(2), shown = 0;

	pthread_mutex_lock(&g.lock);
	while (g.pending > 0) {
		struct timespec ts;

		if (!tty) {
			pthread_cond_wait(&g.cond, &g.lock);
			continue;
		}
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += 500000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		if (pthread_cond_timedwait(&g.cond, &g.lock, &ts) != 0) {
			fprintf(stderr, "\r%s: %lld files, %.1f MiB sent, %d in progress\033[K",
				progname, g.files, g.sent / (double)MIB, g.pending);
			shown = 1;
		}
	}
	if (shown)
		fputs("\r\033[K", stderr);
	pthread_mutex_unlock(&g.lock);
}

/* Reads up to len bytes of fd (fewer only at end of file).  Returns the count or -1. */
static ssize_t read_full(int fd, char *p, size_t len)
{
	size_t got = 0;

	while (got < len) {
		ssize_t n = read(fd, p + got, len - got);

		if (n < 0 && errno == EINTR && !interrupted)
			continue;
		if (n < 0)
			return -1;
		if (n == 0)
			break;
		got += n;
	}
	return (ssize_t)got;
}

/* Allocates a part buffer once fewer than jobs + 1 are held, and fills it
 * from standard input.  Returns the byte count (0 at end of input) or -1. */
static ssize_t read_part(int fd, char **data)
{
	ssize_t n;

	pthread_mutex_lock(&g.lock);
	while (g.buffers >= g.jobs + 1)
		pthread_cond_wait(&g.cond, &g.lock);
	g.buffers++;
	pthread_mutex_unlock(&g.lock);
	*data = xmalloc((size_t)g.part_size);
	n = read_full(fd, *data, (size_t)g.part_size);
	if (n <= 0) {
		free(*data);
		*data = NULL;
		pthread_mutex_lock(&g.lock);
		g.buffers--;
		pthread_mutex_unlock(&g.lock);
	}
	return n;
}

/* Queues part number part of an upload from standard input. */
static void queue_stdin_part(struct upload *up, int part, char *data, size_t len)
{
	pthread_mutex_lock(&g.lock);
	if (part > up->nparts) {
		up->etags = xrealloc(up->etags, part * sizeof(char *));
		up->etags[part - 1] = NULL;
		up->nparts = part;
	}
	up->parts_left++;
	up->size += len;
	pthread_mutex_unlock(&g.lock);
	enqueue(new_task(up, part, data, len), 0);
}

/*
 * Uploads a stream (standard input, a pipe) to key: one PUT if it fits in
 * a part, else a multipart upload whose parts are read here and sent by
 * the workers, with at most jobs + 1 parts in memory.  path is NULL for
 * standard input.
 */
static void put_stream(struct s3 *s3, int fd, const char *path, const char *key)
{
	struct upload *up = new_upload(path, key, 0);
	char *first, *data = NULL;
	ssize_t n1 = read_part(fd, &first), n = 0;
	int part = 1, last;

	if (n1 == (ssize_t)g.part_size)
		n = read_part(fd, &data);
	if (n1 < 0 || n < 0) {
		fail_upload(up, "cannot read", strerror(errno), 0);
		free(first);
		finish_upload(up);
		return;
	}
	if (n == 0) {		/* it fits in one PUT */
		if (!first) {
			first = xstrdup("");
			pthread_mutex_lock(&g.lock);
			g.buffers++;
			pthread_mutex_unlock(&g.lock);
		}
		enqueue(new_task(up, 0, first, n1 > 0 ? n1 : 0), 0);
		return;
	}
	if (s3_multipart_create(s3, g.bucket, key, &up->err) < 0) {
		fail_upload(up, "CreateMultipartUpload", s3->err.buf, s3->temporary);
		free(first);
		free(data);
		pthread_mutex_lock(&g.lock);
		g.buffers -= 2;
		pthread_mutex_unlock(&g.lock);
		finish_upload(up);
		return;
	}
	up->upload_id = buf_detach(&up->err, NULL);
	queue_stdin_part(up, part++, first, n1);
	for (;;) {
		queue_stdin_part(up, part++, data, n);
		if (n < g.part_size || up->failed)
			break;
		if (part > MAX_PARTS) {
			pthread_mutex_lock(&g.lock);
			fail_upload(up, "cannot upload", "more than 10000 parts; "
				    "use a larger --part-size", 0);
			pthread_mutex_unlock(&g.lock);
			break;
		}
		n = read_part(fd, &data);
		if (n <= 0) {
			if (n < 0) {
				pthread_mutex_lock(&g.lock);
				fail_upload(up, "cannot read", strerror(errno), 0);
				pthread_mutex_unlock(&g.lock);
			}
			break;
		}
	}
	pthread_mutex_lock(&g.lock);
	up->all_queued = 1;
	last = up->parts_left == 0;
	pthread_mutex_unlock(&g.lock);
	if (last)
		complete_multipart(s3, up);
}

/* Whether a spooled name is complete: not hidden, not a temporary name. */
static int is_complete_name(const char *name)
{
	static const char *const temp[] = { ".tmp", ".part", ".partial", "~", ".swp", NULL };
	size_t len = strlen(name), n;
	int i;

	if (name[0] == '.' || len == 0)
		return 0;
	for (i = 0; temp[i]; i++) {
		n = strlen(temp[i]);
		if (len > n && !strcmp(name + len - n, temp[i]))
			return 0;
	}
	return 1;
}

/* Queues every complete regular file of dir; returns how many, or -1. */
static int scan_spool(const char *dir, const char *prefix)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	struct buf path = BUF_INIT, key = BUF_INIT;
	int n = 0;

	if (!d) {
		warnmsg("cannot open '%s': %s", dir, strerror(errno));
		return -1;
	}
	while ((e = readdir(d))) {
		struct stat st;

		if (!is_complete_name(e->d_name))
			continue;
		buf_setf(&path, "%s/%s", dir, e->d_name);
		if (stat(path.buf, &st) < 0 || !S_ISREG(st.st_mode))
			continue;
		buf_setf(&key, "%s%s", prefix, e->d_name);
		enqueue(new_task(new_upload(path.buf, key.buf, 1), 0, NULL, 0), 0);
		n++;
	}
	closedir(d);
	buf_release(&path);
	buf_release(&key);
	return n;
}

/*
 * Uploads the spool directory's complete files, then, with watch, waits
 * (inotify) for files closed or moved into it and uploads them, until
 * SIGINT or SIGTERM.  Files that failed are tried again at the next
 * event, or after RESCAN_SECS.
 */
static int run_spool(const char *dir, const char *prefix, int watch)
{
	int in = -1, sfd = -1;
	sigset_t set;

	if (watch) {
		sigemptyset(&set);
		sigaddset(&set, SIGINT);
		sigaddset(&set, SIGTERM);
		sfd = signalfd(-1, &set, SFD_CLOEXEC);
		in = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
		if (in < 0 || sfd < 0 ||
		    inotify_add_watch(in, dir, IN_CLOSE_WRITE | IN_MOVED_TO) < 0) {
			warnmsg("cannot watch '%s': %s", dir, strerror(errno));
			return -1;
		}
	}
	for (;;) {
		struct pollfd fds[2] = { { in, POLLIN, 0 }, { sfd, POLLIN, 0 } };
		char ev[4096];

		if (scan_spool(dir, prefix) < 0)
			return -1;
		wait_idle();
		fflush(stdout);
		if (!watch)
			return 0;
		/* A long run keeps its metrics current after each round. */
		g.metrics->files = g.files;
		g.metrics->errors = g.failed_perm + g.failed_temp;
		if (metrics_write(g.metrics, g.metrics->errors == 0) < 0)
			warnmsg("cannot write '%s': %s", g.metrics->path, strerror(errno));
		if (poll(fds, 2, RESCAN_SECS * 1000) < 0 && errno != EINTR)
			return -1;
		if (fds[1].revents)
			break;
		while (read(in, ev, sizeof(ev)) > 0)
			;
	}
	close(in);
	close(sfd);
	return 0;
}

static long long parse_size(const char *s)
{
	char *end;
	long long v;

	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno || end == s || v <= 0)
		return -1;
	switch (*end) {
	case 'k': case 'K': v *= 1024; end++; break;
	case 'm': case 'M': v *= MIB; end++; break;
	case 'g': case 'G': v *= 1024 * MIB; end++; break;
	}
	if (*end == 'i' && end[-1] != 'B')
		end++;
	if (*end == 'B')
		end++;
	return *end ? -1 : v;
}

/*
 * Splits the destination (the last operand) into the bucket and the key
 * or prefix, and checks that it suits the sources: a prefix ending in '/'
 * for several files, a key for standard input.
 */
static int parse_destination(int argc, char **argv, int spool, char **bucket,
			     char **prefix)
{
	const char *url = argv[argc - 1];
	size_t len;

	if (s3_parse_url(url, bucket, prefix) < 0) {
		warnmsg("invalid destination '%s': expected s3://BUCKET/PREFIX/", url);
		return -1;
	}
	len = strlen(*prefix);
	if ((spool || argc > 2) && len && (*prefix)[len - 1] != '/')
		warnmsg("destination '%s' must end with '/' for several files", url);
	else if (argc == 2 && !strcmp(argv[0], "-") && (!len || (*prefix)[len - 1] == '/'))
		warnmsg("destination '%s' must name a key for standard input", url);
	else
		return 0;
	free(*bucket);
	free(*prefix);
	return -1;
}

/* Prints the summary line, writes the metrics, and returns the exit code. */
static int report(struct metrics *m, const char *mfile, double t0)
{
	double secs = now_monotonic() - t0;
	int code = g.failed_perm ? EXIT_FAIL : g.failed_temp ? EXIT_TEMPFAIL : EXIT_OK;

	if (!g.quiet)
		warnmsg("uploaded %lld file%s, %.1f MiB in %.2f s (%.1f MiB/s), %lld failed",
			g.files, g.files == 1 ? "" : "s", g.bytes / (double)MIB, secs,
			secs > 0 ? g.bytes / (double)MIB / secs : 0.0,
			g.failed_perm + g.failed_temp);
	m->files = g.files;
	m->errors = g.failed_perm + g.failed_temp;
	if (metrics_write(m, code == EXIT_OK) < 0)
		warnmsg("cannot write '%s': %s", mfile, strerror(errno));
	return code;
}

/*
 * Queues the regular files for the workers, then reads the others (pipes,
 * devices: "s3-put <(cmd) ...") here, one after the other, as streams.
 */
static void put_files(struct s3 *s3, int argc, char **argv, const char *prefix)
{
	struct buf key = BUF_INIT;
	struct stat st;
	int i, pass;

	for (pass = 0; pass < 2; pass++) {
		for (i = 0; i < argc; i++) {
			const char *base = strrchr(argv[i], '/');
			int stream = stat(argv[i], &st) == 0 && !S_ISREG(st.st_mode) &&
				!S_ISDIR(st.st_mode);

			if (stream != pass)
				continue;
			buf_setf(&key, "%s%s", prefix, base ? base + 1 : argv[i]);
			if (argc == 1 && *prefix && prefix[strlen(prefix) - 1] != '/')
				buf_setf(&key, "%s", prefix);
			if (!stream) {
				enqueue(new_task(new_upload(argv[i], key.buf, 0), 0, NULL, 0), 0);
			} else {
				int fd = open(argv[i], O_RDONLY | O_CLOEXEC);

				if (fd < 0) {
					struct upload *up = new_upload(argv[i], key.buf, 0);

					fail_upload(up, "cannot open", strerror(errno), 0);
					finish_upload(up);
					continue;
				}
				put_stream(s3, fd, argv[i], key.buf);
				close(fd);
			}
		}
	}
	buf_release(&key);
}

/* Starts the workers, runs the uploads, stops the workers. */
static void run(int argc, char **argv, const char *spool, int watch, char *prefix)
{
	pthread_t *threads = xcalloc(g.jobs, sizeof(*threads));
	struct s3 s3;
	sigset_t set;
	int i;

	/* Workers never see SIGINT or SIGTERM.  With --watch, run_spool()
	 * reads them from a signalfd; otherwise on_signal() notes them here,
	 * the uploads not yet begun fail, and multipart uploads are aborted. */
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	if (s3_init(&s3, &g.cfg) < 0)
		die("%s", s3.err.buf);
	for (i = 0; i < g.jobs; i++)
		if ((errno = pthread_create(&threads[i], NULL, worker, NULL)))
			die("cannot start a thread: %s", strerror(errno));
	if (!watch) {
		struct sigaction sa;

		memset(&sa, 0, sizeof(sa));
		sa.sa_handler = on_signal;
		sigaction(SIGINT, &sa, NULL);
		sigaction(SIGTERM, &sa, NULL);
		pthread_sigmask(SIG_UNBLOCK, &set, NULL);
	}
	if (spool) {
		if (run_spool(spool, prefix, watch) < 0)
			g.failed_perm++;
	} else if (argc == 1 && !strcmp(argv[0], "-")) {
		put_stream(&s3, 0, NULL, prefix);
	} else {
		put_files(&s3, argc, argv, prefix);
	}
	wait_idle();
	pthread_mutex_lock(&g.lock);
	g.stopping = 1;
	pthread_cond_broadcast(&g.cond);
	pthread_mutex_unlock(&g.lock);
	for (i = 0; i < g.jobs; i++)
		pthread_join(threads[i], NULL);
	s3_release(&s3);
	free(threads);
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "ca-bundle", required_argument, NULL, 'C' },
		{ "done-dir", required_argument, NULL, 'D' },
		{ "endpoint", required_argument, NULL, 'e' },
		{ "help", no_argument, NULL, 'h' },
		{ "jobs", required_argument, NULL, 'j' },
		{ "metrics", required_argument, NULL, 'M' },
		{ "part-size", required_argument, NULL, 'p' },
		{ "path-style", no_argument, NULL, 'P' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "read-timeout", required_argument, NULL, 't' },
		{ "region", required_argument, NULL, 'r' },
		{ "spool", required_argument, NULL, 's' },
		{ "version", no_argument, NULL, 'V' },
		{ "watch", no_argument, NULL, 'w' },
		{ NULL, 0, NULL, 0 }
	};
	const char *endpoint = NULL, *region = NULL, *ca = NULL, *spool = NULL, *mfile = NULL;
	long long jobs = 16, timeout = 0;
	int c, path_style = 0, watch = 0, code;
	char *bucket, *prefix;
	struct buf err = BUF_INIT;
	struct metrics m;
	double t0 = now_monotonic();

	util_init(argv[0]);
	argv[0] = (char *)progname;	/* getopt's messages name the program alone */
	g.part_size = 8 * MIB;
	while ((c = getopt_long(argc, argv, "hj:qV", longopts, NULL)) != -1) {
		switch (c) {
		case 'C': ca = optarg; break;
		case 'D': g.done_dir = optarg; break;
		case 'e': endpoint = optarg; break;
		case 'h': usage(stdout); close_stdout(); return EXIT_OK;
		case 'j':
			if (parse_ll(optarg, 1, 256, &jobs) < 0)
				diemsg(EXIT_USAGE, "invalid --jobs '%s': expected 1 to 256", optarg);
			break;
		case 'M': mfile = optarg; break;
		case 'p':
			g.part_size = parse_size(optarg);
			if (g.part_size < MIN_PART || g.part_size > MAX_PART)
				diemsg(EXIT_USAGE, "invalid --part-size '%s': expected 5M to 5G", optarg);
			break;
		case 'P': path_style = 1; break;
		case 'q': g.quiet = 1; break;
		case 'r': region = optarg; break;
		case 's': spool = optarg; break;
		case 't':
			if (parse_ll(optarg, 1, 3600, &timeout) < 0)
				diemsg(EXIT_USAGE, "invalid --read-timeout '%s': expected 1 to 3600", optarg);
			break;
		case 'V': print_version();
		case 'w': watch = 1; break;
		default: usage(stderr); return EXIT_USAGE;
		}
	}
	argc -= optind;
	argv += optind;
	if (argc < 1 || (!spool && argc < 2) || (spool && argc != 1) ||
	    (watch && !spool) || (g.done_dir && !spool)) {
		usage(stderr);
		return EXIT_USAGE;
	}
	if (parse_destination(argc, argv, spool != NULL, &bucket, &prefix) < 0)
		return EXIT_USAGE;
	if (s3_config_load(&g.cfg, endpoint, region, &err) < 0)
		diemsg(EXIT_FAIL, "%s", err.buf);
	if (path_style)
		g.cfg.path_style = 1;
	if (ca) {
		free(g.cfg.ca_bundle);
		g.cfg.ca_bundle = xstrdup(ca);
	}
	g.cfg.timeout = timeout ? timeout : g.cfg.timeout;
	g.jobs = (int)jobs;
	g.bucket = bucket;
	metrics_init(&m, mfile, "s3-put");
	g.metrics = &m;

	run(spool ? 0 : argc - 1, argv, spool, watch, prefix);
	code = report(&m, mfile, t0);
	if (interrupted) {
		signal(interrupted, SIG_DFL);
		raise(interrupted);
	}
	free(bucket);
	free(prefix);
	s3_config_release(&g.cfg);
	buf_release(&err);
	if (code == EXIT_OK)
		close_stdout();
	return code;
}
