/*
 * Loading staged files into customer_raw, each exactly once: the stage
 * (an S3 prefix or a local directory), and the load of one file in one
 * transaction with its load_history row, streamed through the CSV reader
 * into binary COPY by a reader thread while this one sends.
 *
 * Exactly once rests on three things: the rows and the load_history row
 * commit together or not at all (a killed run leaves nothing); a
 * transaction-scoped advisory lock per (stage, file) keeps two runs from
 * loading one file at the same time; and a unique index on (stage, file,
 * etag) among unforced loads refuses a second record of the same file.
 */
#ifndef LOAD_H
#define LOAD_H

#include <stdint.h>

#include "buf.h"
#include "s3.h"
#include "wh.h"

struct stage {
	char *url;		/* "s3://bucket/prefix/" or the directory's path */
	char *dir;		/* a local directory, or NULL */
	char *bucket, *prefix;	/* an S3 stage; prefix is "" or ends in '/' */
	struct s3_config cfg;
	struct s3 s3;
	struct buf err;
	int temporary;
	int vanished;		/* the file was gone when it was read */
};

struct stage_file {
	char *name;		/* within the stage: the key minus the prefix */
	char *etag;		/* S3's ETag; for a file, its mtime and size */
	uint64_t size;
	int loaded;		/* load_filter_new(): loaded before, not failed */
};

struct stage_list {
	struct stage_file *v;
	size_t n, alloc;
};

/* Called per chunk of a file's bytes; returns 0 to go on, -1 to stop. */
typedef int (*stage_write_fn)(const char *data, size_t len, void *arg);

/*
 * The name load_history knows a stage by: "s3://BUCKET/PREFIX/" with its
 * final slash, or a directory's real path.  Returns it (caller frees), or
 * NULL if url is invalid or the directory does not exist (errno).
 */
char *stage_name(const char *url);

/*
 * Opens "s3://BUCKET/PREFIX/" (with the AWS configuration, endpoint and
 * region may be NULL) or a local directory.  Returns 0 or -1 (st->err).
 */
int stage_open(struct stage *st, const char *url, const char *endpoint,
	       const char *region);
void stage_close(struct stage *st);

/*
 * Lists the stage's files whose names end in ".csv" and do not start with
 * a dot (temporary names), and are UTF-8, sorted by name (bytewise).  The caller releases out.
 */
int stage_list(struct stage *st, struct stage_list *out);
void stage_list_release(struct stage_list *l);

/*
 * Streams a file to fn in chunks.  When fn stops the read, returns -1
 * with st->err empty.  For S3 the object's ETag must still be the listed
 * one, else the read fails (temporary: it changed under us).
 */
int stage_read(struct stage *st, const struct stage_file *f,
	       stage_write_fn fn, void *arg);
int stage_delete(struct stage *st, const struct stage_file *f);

enum load_on_error { LOAD_ABORT, LOAD_SKIP_FILE, LOAD_CONTINUE };

struct load_options {
	enum load_on_error on_error;
	int force;		/* load even if already loaded */
	/* If set, called from the reader thread every batch of rows. */
	void (*progress)(const struct stage_file *f, long long rows, void *arg);
	void *progress_arg;
};

struct load_result {
	long long load_id;	/* 0 if nothing was recorded */
	const char *status;	/* "loaded", "partially_loaded", "failed" */
	long long rows_loaded;
	long long rows_rejected;
	struct buf first_error;	/* "line N: reason", or the file's error */
	int already;		/* skipped: loaded before, or by another run now */
	int busy;		/* skipped: another run holds the file */
	int duplicated;		/* forced over an earlier successful load */
	int vanished;		/* skipped: gone from the stage since listed */
};

void load_result_init(struct load_result *res);
void load_result_release(struct load_result *res);

/*
 * Loads one file into customer_raw in one transaction with its
 * load_history row (and its load_errors rows under LOAD_CONTINUE), and
 * sends NOTIFY customertrack_loaded with the load_id when rows were
 * loaded.  A file with bad rows is recorded per o->on_error (failed
 * under LOAD_ABORT, skipped under LOAD_SKIP_FILE, partially_loaded or
 * failed under LOAD_CONTINUE), which is
 * still a success of this call, and so is a file gone from the stage
 * since it was listed (res->vanished, err says so; nothing recorded).
 * Returns 0 with res filled in, or -1 when nothing could be recorded:
 * err holds why and *temporary whether a later run may succeed.
 */
int load_file(struct wh *wh, struct stage *st, const struct stage_file *f,
	      const struct load_options *o, struct load_result *res,
	      struct buf *err, int *temporary);

/*
 * Keeps only the files of list that have no unforced load_history row
 * for this stage (name and ETag); moves the others to done, which the
 * caller releases too.  One query, whatever the number of files.
 */
int load_filter_new(struct wh *wh, struct stage *st, struct stage_list *list,
		    struct stage_list *done);

/*
 * Writes into out the statement snow-load --dialect snowflake sends:
 * COPY INTO customer_raw from the Snowflake stage (as the pipe of
 * sql/snowflake/002_ingest.sql does), with ON_ERROR from o->on_error,
 * FORCE for o->force and PURGE for purge.  stage is "@name", or NULL
 * for @customer_stage.  Returns 0, or -1 if stage is no plain name.
 */
int load_snowflake_sql(struct buf *out, const char *stage,
		       const struct load_options *o, int purge);

#endif
