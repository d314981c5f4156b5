/*
 * An S3 client: configuration the way the AWS CLI reads it, and the
 * object calls the programs need, signed with Signature V4 (sigv4.h),
 * over libcurl, with retries of temporary failures.
 *
 * Every call returns 0 or -1; on -1, s3->err holds the message (with S3's
 * error code, e.g. "SlowDown: Please reduce your request rate") and
 * s3->temporary says whether the failure may pass on a later run.
 */
#ifndef S3_H
#define S3_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"

struct s3_config {
	char *endpoint;		/* "http://127.0.0.1:4569"; NULL for AWS */
	char *region;		/* "us-east-1" when nothing says otherwise */
	char *access_key;
	char *secret_key;	/* never printed */
	char *session_token;	/* NULL unless temporary credentials */
	char *ca_bundle;	/* NULL: the system's */
	int path_style;		/* 1 for custom endpoints or --path-style */
	int max_attempts;	/* per request, including the first */
	long timeout;		/* seconds without progress before a request
				   is abandoned (and retried); 0: 30 */
};

/*
 * Fills cfg from, in order of precedence: the overrides (NULL for none),
 * the AWS_* environment, and AWS_PROFILE (or "default") in
 * ~/.aws/credentials and ~/.aws/config.  Returns 0, or -1 with a message
 * in err (no credentials found, an unreadable file).
 */
int s3_config_load(struct s3_config *cfg, const char *endpoint,
		   const char *region, struct buf *err);
void s3_config_release(struct s3_config *cfg);

/* Splits "s3://bucket/some/prefix" into its parts (caller frees). */
int s3_parse_url(const char *url, char **bucket, char **key);

struct s3_object {
	const char *key;
	const char *etag;	/* without quotes */
	uint64_t size;
	const char *last_modified;
};

/* Called per chunk of a body; returns 0 to go on, -1 to stop. */
typedef int (*s3_write_fn)(const char *data, size_t len, void *arg);
/* Called per listed object; returns 0 to go on, -1 to stop. */
typedef int (*s3_list_fn)(const struct s3_object *obj, void *arg);

struct s3 {
	struct s3_config *cfg;
	void *curl;		/* a reused easy handle (keeps the connection) */
	struct buf err;
	int temporary;
	long status;		/* HTTP status of the last response */
};

int s3_init(struct s3 *s3, struct s3_config *cfg);
void s3_release(struct s3 *s3);

/*
 * Lists every object under prefix (ListObjectsV2, following continuation
 * tokens), in S3's order (by key), calling fn for each.
 */
int s3_list_objects(struct s3 *s3, const char *bucket, const char *prefix,
		    s3_list_fn fn, void *arg);

/*
 * Streams an object's body to fn as it arrives, never holding it whole.
 * etag_out (may be NULL) receives the ETag without quotes.  A retry after
 * part of the body was delivered is not done: fn has seen bytes, so the
 * call fails (temporary) and the caller starts over.
 */
int s3_get_object(struct s3 *s3, const char *bucket, const char *key,
		  s3_write_fn fn, void *arg, struct buf *etag_out);

/* Uploads data as one PUT (signed payload hash, Content-MD5, ETag check). */
int s3_put_object(struct s3 *s3, const char *bucket, const char *key,
		  const void *data, size_t len, struct buf *etag_out);

/* Uploads len bytes of fd from offset as one PUT, read twice (to hash,
 * then to send) and never held in memory whole. */
int s3_put_file(struct s3 *s3, const char *bucket, const char *key, int fd,
		long long offset, size_t len, struct buf *etag_out);

int s3_delete_object(struct s3 *s3, const char *bucket, const char *key);

/*
 * Multipart uploads.  s3_multipart_create() sets upload_id; each part
 * (numbered from 1, at most 10,000, each but the last at least 5 MiB) is
 * sent with s3_multipart_put() (Content-MD5, ETag checked, retried on its
 * own), whose ETag (without quotes) goes into etag_out; then
 * s3_multipart_complete() with the parts' ETags in order (an ETag of S3's
 * multipart form, "<md5 of the parts' md5s>-N", is checked), or
 * s3_multipart_abort() so that no parts are left behind.
 */
int s3_multipart_create(struct s3 *s3, const char *bucket, const char *key,
			struct buf *upload_id);
int s3_multipart_put(struct s3 *s3, const char *bucket, const char *key,
		     const char *upload_id, int part, const void *data,
		     size_t len, struct buf *etag_out);
/* s3_multipart_put() of len bytes of fd from offset, streamed like s3_put_file(). */
int s3_multipart_put_file(struct s3 *s3, const char *bucket, const char *key,
			  const char *upload_id, int part, int fd, long long offset,
			  size_t len, struct buf *etag_out);
int s3_multipart_complete(struct s3 *s3, const char *bucket, const char *key,
			  const char *upload_id, char *const *etags,
			  int nparts, struct buf *etag_out);
int s3_multipart_abort(struct s3 *s3, const char *bucket, const char *key,
		       const char *upload_id);

/* Sets out to the base64 of data's MD5 (the Content-MD5 header's value). */
void s3_content_md5(struct buf *out, const void *data, size_t len);
/* Whether an ETag (without quotes) is the hex MD5 given; an ETag that is
 * not 32 hex digits (multipart, encrypted) is not compared and passes. */
int s3_etag_matches(const char *etag, const char *md5_hex);

#endif
