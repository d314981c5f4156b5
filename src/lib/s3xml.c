#include "s3xml.h"

#include <stdlib.h>
#include <string.h>

#include <expat.h>

struct parse {
	XML_Parser parser;
	struct buf path;
	struct buf text;
	s3xml_fn fn;
	void *arg;
	int stopped;
};

static void XMLCALL on_start(void *data, const XML_Char *name,
			     const XML_Char **attrs)
{
	struct parse *p = data;

	(void)attrs;
	if (p->path.len)
		buf_addch(&p->path, '/');
	buf_adds(&p->path, name);
	buf_reset(&p->text);
}

static void XMLCALL on_text(void *data, const XML_Char *s, int len)
{
	struct parse *p = data;

	buf_add(&p->text, s, len);
}

static void XMLCALL on_end(void *data, const XML_Char *name)
{
	struct parse *p = data;
	char *slash;

	(void)name;
	if (!p->stopped && p->fn(p->path.buf, p->text.buf, p->text.len, p->arg) < 0) {
		p->stopped = 1;
		XML_StopParser(p->parser, XML_FALSE);
	}
	slash = strrchr(p->path.buf, '/');
	buf_setlen(&p->path, slash ? (size_t)(slash - p->path.buf) : 0);
	buf_reset(&p->text);
}

int s3xml_parse(const char *xml, size_t len, s3xml_fn fn, void *arg,
		struct buf *err)
{
	struct parse p = { NULL, BUF_INIT, BUF_INIT, fn, arg, 0 };
	int ret = 0;

	p.parser = XML_ParserCreate("UTF-8");
	if (!p.parser) {
		buf_setf(err, "cannot create an XML parser");
		return -1;
	}
	XML_SetUserData(p.parser, &p);
	XML_SetElementHandler(p.parser, on_start, on_end);
	XML_SetCharacterDataHandler(p.parser, on_text);
	if (len > (size_t)INT32_MAX) {
		buf_setf(err, "XML answer too large");
		ret = -1;
	} else if (XML_Parse(p.parser, xml, (int)len, XML_TRUE) != XML_STATUS_OK) {
		if (!p.stopped)
			buf_setf(err, "malformed XML answer: %s at line %lu",
				 XML_ErrorString(XML_GetErrorCode(p.parser)),
				 (unsigned long)XML_GetCurrentLineNumber(p.parser));
		ret = -1;
	}
	XML_ParserFree(p.parser);
	buf_release(&p.path);
	buf_release(&p.text);
	return ret;
}

struct find {
	const char *path;
	struct buf *value;
	int found;
};

static int find_one(const char *path, const char *text, size_t len, void *arg)
{
	struct find *f = arg;

	if (!f->found && !strcmp(path, f->path)) {
		buf_reset(f->value);
		buf_add(f->value, text, len);
		f->found = 1;
	}
	return 0;
}

int s3xml_find(const char *xml, size_t len, const char *path,
	       struct buf *value, struct buf *err)
{
	struct find f = { path, value, 0 };

	if (s3xml_parse(xml, len, find_one, &f, err) < 0)
		return -1;
	return f.found;
}

struct list {
	s3_list_fn fn;
	void *arg;
	struct buf key, etag, size, modified;
	int *truncated;
	struct buf *next_token;
	struct buf *err;
	int root_seen;
};

/* Copies text into b, without the quotes S3 puts around an ETag. */
static void set_text(struct buf *b, const char *text, size_t len, int unquote)
{
	buf_reset(b);
	if (unquote && len >= 2 && text[0] == '"' && text[len - 1] == '"') {
		text++;
		len -= 2;
	}
	buf_add(b, text, len);
}

static int list_one(const char *path, const char *text, size_t len, void *arg)
{
	struct list *l = arg;
	const char *p = "ListBucketResult";
	size_t plen = strlen(p);

	if (strncmp(path, p, plen) || (path[plen] && path[plen] != '/')) {
		buf_setf(l->err, "unexpected XML answer: '%s' instead of a ListBucketResult", path);
		return -1;
	}
	l->root_seen = 1;
	path += plen;
	if (!strcmp(path, "/IsTruncated")) {
		*l->truncated = len == 4 && !memcmp(text, "true", 4);
	} else if (!strcmp(path, "/NextContinuationToken")) {
		set_text(l->next_token, text, len, 0);
	} else if (!strcmp(path, "/Contents/Key")) {
		set_text(&l->key, text, len, 0);
	} else if (!strcmp(path, "/Contents/ETag")) {
		set_text(&l->etag, text, len, 1);
	} else if (!strcmp(path, "/Contents/Size")) {
		set_text(&l->size, text, len, 0);
	} else if (!strcmp(path, "/Contents/LastModified")) {
		set_text(&l->modified, text, len, 0);
	} else if (!strcmp(path, "/Contents")) {
		struct s3_object obj;
		char *end;

		obj.key = l->key.buf;
		obj.etag = l->etag.buf;
		obj.last_modified = l->modified.buf;
		obj.size = strtoull(l->size.buf, &end, 10);
		if (!l->key.len || end == l->size.buf || *end) {
			buf_setf(l->err, "malformed object entry in a ListBucketResult");
			return -1;
		}
		if (l->fn(&obj, l->arg) < 0) {
			buf_setf(l->err, "listing stopped");
			return -1;
		}
		buf_reset(&l->key);
		buf_reset(&l->etag);
		buf_reset(&l->size);
		buf_reset(&l->modified);
	}
	return 0;
}

int s3xml_list(const char *xml, size_t len, s3_list_fn fn, void *arg,
	       int *truncated, struct buf *next_token, struct buf *err)
{
	struct list l = { fn, arg, BUF_INIT, BUF_INIT, BUF_INIT, BUF_INIT,
			  truncated, next_token, err, 0 };
	int ret;

	*truncated = 0;
	buf_reset(next_token);
	ret = s3xml_parse(xml, len, list_one, &l, err);
	if (ret == 0 && !l.root_seen) {
		buf_setf(err, "empty XML answer instead of a ListBucketResult");
		ret = -1;
	}
	buf_release(&l.key);
	buf_release(&l.etag);
	buf_release(&l.size);
	buf_release(&l.modified);
	return ret;
}
