/*
 * libFuzzer target for the parsing of S3's XML answers (src/lib/s3xml.c):
 * ListObjectsV2 results, errors, and the multipart documents.  Any input
 * must be parsed or rejected without a crash, a leak or undefined
 * behaviour, and every listed object must have a key.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "buf.h"
#include "s3xml.h"

static int check_object(const struct s3_object *obj, void *arg)
{
	(void)arg;
	if (!obj->key || !*obj->key || !obj->etag || !obj->last_modified)
		abort();
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct buf err = BUF_INIT, token = BUF_INIT, value = BUF_INIT;
	const char *xml = (const char *)data;
	int truncated;

	s3xml_list(xml, size, check_object, NULL, &truncated, &token, &err);
	s3xml_find(xml, size, "Error/Code", &value, &err);
	s3xml_find(xml, size, "InitiateMultipartUploadResult/UploadId", &value, &err);
	buf_release(&err);
	buf_release(&token);
	buf_release(&value);
	return 0;
}
