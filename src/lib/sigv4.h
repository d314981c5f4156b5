/*
 * AWS Signature Version 4: the canonical request, the string to sign, the
 * signing key and the Authorization header, as the AWS General Reference
 * and the S3 API Reference define them.  Pure functions over struct buf:
 * no I/O, no clock (the caller passes the time), nothing kept.
 */
#ifndef SIGV4_H
#define SIGV4_H

#include <stddef.h>

#include "buf.h"

struct sigv4_header {
	const char *name;	/* any case; compared and signed in lowercase */
	const char *value;	/* trimmed, inner runs of spaces collapsed */
};

struct sigv4_request {
	const char *method;		/* "GET", "PUT", ... */
	const char *path;		/* decoded ("/my key", "/100%"), encoded here */
	const char *query;		/* without '?', NULL or "" for none; each
					   name and value is decoded, then encoded */
	const struct sigv4_header *headers;
	size_t nheaders;		/* every header given is signed */
	const char *payload_hash;	/* hex SHA-256, or "UNSIGNED-PAYLOAD" */
	int normalize_path;		/* remove "." / ".." / "//" (not for S3) */
};

struct sigv4_key {
	const char *access_key;
	const char *secret_key;
	const char *region;	/* "us-east-1" */
	const char *service;	/* "s3" */
	const char *amz_date;	/* "20150830T123600Z" (x-amz-date) */
};

/* Appends s percent-encoded as SigV4 wants: all but A-Z a-z 0-9 - . _ ~
 * become %XX (uppercase); '/' too unless keep_slash. */
void sigv4_uri_encode(struct buf *out, const char *s, size_t len, int keep_slash);

/* Appends the lowercase hex SHA-256 of data (64 characters). */
void sigv4_sha256_hex(struct buf *out, const void *data, size_t len);

/*
 * Sets out to the canonical request of req, and signed_headers (may be
 * NULL) to its "host;x-amz-date" list.  Header names that repeat are
 * joined into one line, their values separated by commas in the given
 * order.
 */
void sigv4_canonical_request(struct buf *out, struct buf *signed_headers,
			     const struct sigv4_request *req);

/* Sets out to the credential scope: "20150830/us-east-1/service/aws4_request". */
void sigv4_scope(struct buf *out, const struct sigv4_key *key);

/* Sets out to the string to sign of a canonical request. */
void sigv4_string_to_sign(struct buf *out, const struct sigv4_key *key,
			  const char *canonical_request);

/* Sets out to the hex signature of a string to sign. */
void sigv4_signature(struct buf *out, const struct sigv4_key *key,
		     const char *string_to_sign);

/*
 * Signs req with key and sets out to the Authorization header's value
 * ("AWS4-HMAC-SHA256 Credential=..., SignedHeaders=..., Signature=...").
 * creq and sts (may be NULL) receive the intermediate texts, for tests.
 */
void sigv4_authorization(struct buf *out, const struct sigv4_key *key,
			 const struct sigv4_request *req,
			 struct buf *creq, struct buf *sts);

#endif
