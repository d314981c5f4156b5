/*
 * S3's XML answers, parsed with expat: ListObjectsV2 results, errors, and
 * the small documents of multipart uploads.  No I/O; every function takes
 * the whole document and returns 0, or -1 with a message in err.
 */
#ifndef S3XML_H
#define S3XML_H

#include <stddef.h>

#include "buf.h"
#include "s3.h"

/*
 * Called at the end of each element with its path from the root
 * ("ListBucketResult/Contents/Key") and its text; returns 0 to go on,
 * -1 to stop the parse (which then fails with the message in err, if the
 * callback set one).
 */
typedef int (*s3xml_fn)(const char *path, const char *text, size_t len,
			void *arg);

int s3xml_parse(const char *xml, size_t len, s3xml_fn fn, void *arg,
		struct buf *err);

/*
 * Sets value to the text of the first element at path ("Error/Code").
 * Returns 1 if found, 0 if not, -1 if the document is not XML.
 */
int s3xml_find(const char *xml, size_t len, const char *path,
	       struct buf *value, struct buf *err);

/*
 * Parses a ListBucketResult, calling fn for each Contents entry (the
 * object's strings live until fn returns).  *truncated and next_token
 * receive IsTruncated and NextContinuationToken.  Returns 0 or -1 (not
 * XML, not a ListBucketResult, or fn returned -1; err says which).
 */
int s3xml_list(const char *xml, size_t len, s3_list_fn fn, void *arg,
	       int *truncated, struct buf *next_token, struct buf *err);

#endif
