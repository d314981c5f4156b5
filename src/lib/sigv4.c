#include "sigv4.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>

#include "util.h"

static int is_unreserved(unsigned char c)
{
	return isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~';
}

void sigv4_uri_encode(struct buf *out, const char *s, size_t len, int keep_slash)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t i;

	buf_grow(out, len);
	for (i = 0; i < len; i++) {
		unsigned char c = s[i];

		if ((c < 0x80 && is_unreserved(c)) || (keep_slash && c == '/')) {
			buf_addch(out, c);
		} else {
			buf_addch(out, '%');
			buf_addch(out, hex[c >> 4]);
			buf_addch(out, hex[c & 15]);
		}
	}
}

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = tolower(c);
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* Appends s[0..len) with its %XX escapes decoded. */
static void uri_decode(struct buf *out, const char *s, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++) {
		int hi, lo;

		if (s[i] == '%' && i + 2 < len && (hi = hexval(s[i + 1])) >= 0 &&
		    (lo = hexval(s[i + 2])) >= 0) {
			buf_addch(out, hi << 4 | lo);
			i += 2;
		} else {
			buf_addch(out, s[i]);
		}
	}
}

void sigv4_sha256_hex(struct buf *out, const void *data, size_t len)
{
	unsigned char md[SHA256_DIGEST_LENGTH];

	SHA256(data, len, md);
	buf_addhex(out, md, sizeof(md));
}

/*
 * Removes dot segments and empty segments from a decoded absolute path
 * (RFC 3986 section 5.2.4, plus "//" to "/"), keeping a final slash.
 */
static void normalize_path(struct buf *path)
{
	struct buf out = BUF_INIT;
	const char *p = path->buf;
	int trailing = path->len > 0 && path->buf[path->len - 1] == '/';

	while (*p) {
		const char *seg;
		size_t n;

		while (*p == '/')
			p++;
		seg = p;
		while (*p && *p != '/')
			p++;
		n = p - seg;
		if (n == 0 || (n == 1 && seg[0] == '.'))
			continue;
		if (n == 2 && seg[0] == '.' && seg[1] == '.') {
			char *slash = strrchr(out.buf, '/');

			buf_setlen(&out, slash ? (size_t)(slash - out.buf) : 0);
			continue;
		}
		buf_addch(&out, '/');
		buf_add(&out, seg, n);
	}
	if (out.len == 0 || (trailing && out.buf[out.len - 1] != '/'))
		buf_addch(&out, '/');
	buf_release(path);
	*path = out;
}

static void canonical_uri(struct buf *out, const struct sigv4_request *req)
{
	struct buf path = BUF_INIT;
	const char *p = req->path && *req->path ? req->path : "/";

	buf_adds(&path, p);
	if (req->normalize_path)
		normalize_path(&path);
	if (path.len == 0 || path.buf[0] != '/')
		buf_addch(out, '/');
	sigv4_uri_encode(out, path.buf, path.len, 1);
	buf_release(&path);
}

struct param {
	char *name;	/* encoded */
	char *value;	/* encoded */
};

static int param_cmp(const void *a, const void *b)
{
	const struct param *x = a, *y = b;
	int c = strcmp(x->name, y->name);

	return c ? c : strcmp(x->value, y->value);
}

/* Returns s[0..len) decoded, then encoded for the canonical query (caller frees). */
static char *reencode(const char *s, size_t len)
{
	struct buf dec = BUF_INIT, enc = BUF_INIT;

	uri_decode(&dec, s, len);
	sigv4_uri_encode(&enc, dec.buf, dec.len, 0);
	buf_release(&dec);
	return buf_detach(&enc, NULL);
}

static void canonical_query(struct buf *out, const char *query)
{
	struct param *params = NULL;
	size_t n = 0, alloc = 0, i;
	const char *p = query;

	while (p && *p) {
		const char *end = strchr(p, '&'), *eq;

		if (!end)
			end = p + strlen(p);
		if (end > p) {
			eq = memchr(p, '=', end - p);
			if (n == alloc) {
				alloc = alloc ? 2 * alloc : 8;
				params = xrealloc(params, alloc * sizeof(*params));
			}
			params[n].name = reencode(p, (eq ? eq : end) - p);
			params[n].value = eq ? reencode(eq + 1, end - eq - 1) : xstrdup("");
			n++;
		}
		p = *end ? end + 1 : end;
	}
	if (n)
		qsort(params, n, sizeof(*params), param_cmp);
	for (i = 0; i < n; i++) {
		buf_addf(out, "%s%s=%s", i ? "&" : "", params[i].name, params[i].value);
		free(params[i].name);
		free(params[i].value);
	}
	free(params);
}

struct hdr {
	char *name;	/* lowercase */
	struct buf value;
	size_t order;
};

static int hdr_cmp(const void *a, const void *b)
{
	const struct hdr *x = a, *y = b;
	int c = strcmp(x->name, y->name);

	if (c)
		return c;
	return x->order < y->order ? -1 : x->order > y->order;
}

/* Appends a header value trimmed, with inner runs of white space as one space. */
static void add_trimmed(struct buf *out, const char *v)
{
	int space = 0, any = 0;

	for (; *v; v++) {
		if (isspace((unsigned char)*v)) {
			space = 1;
			continue;
		}
		if (space && any)
			buf_addch(out, ' ');
		buf_addch(out, *v);
		space = 0;
		any = 1;
	}
}

void sigv4_canonical_request(struct buf *out, struct buf *signed_headers,
			     const struct sigv4_request *req)
{
	struct hdr *h = xcalloc(req->nheaders, sizeof(*h));
	size_t n = 0, i;
	struct buf names = BUF_INIT;

	for (i = 0; i < req->nheaders; i++) {
		char *p;

		h[i].name = xstrdup(req->headers[i].name);
		for (p = h[i].name; *p; p++)
			*p = tolower((unsigned char)*p);
		buf_init(&h[i].value, 0);
		add_trimmed(&h[i].value, req->headers[i].value);
		h[i].order = i;
	}
	qsort(h, req->nheaders, sizeof(*h), hdr_cmp);

	buf_reset(out);
	buf_addf(out, "%s\n", req->method);
	canonical_uri(out, req);
	buf_addch(out, '\n');
	canonical_query(out, req->query);
	buf_addch(out, '\n');
	for (i = 0; i < req->nheaders; i++) {
		if (i > 0 && !strcmp(h[i].name, h[i - 1].name)) {
			buf_addf(out, ",%s", h[i].value.buf);
			continue;
		}
		buf_addf(out, "%s%s:%s", i ? "\n" : "", h[i].name, h[i].value.buf);
		buf_addf(&names, "%s%s", n++ ? ";" : "", h[i].name);
	}
	buf_addf(out, "\n\n%s\n%s", names.buf,
		 req->payload_hash ? req->payload_hash : "UNSIGNED-PAYLOAD");
	if (signed_headers) {
		buf_reset(signed_headers);
		buf_add(signed_headers, names.buf, names.len);
	}
	for (i = 0; i < req->nheaders; i++) {
		free(h[i].name);
		buf_release(&h[i].value);
	}
	free(h);
	buf_release(&names);
}

void sigv4_scope(struct buf *out, const struct sigv4_key *key)
{
	buf_reset(out);
	buf_add(out, key->amz_date, 8);
	buf_addf(out, "/%s/%s/aws4_request", key->region, key->service);
}

void sigv4_string_to_sign(struct buf *out, const struct sigv4_key *key,
			  const char *canonical_request)
{
	struct buf scope = BUF_INIT;

	sigv4_scope(&scope, key);
	buf_reset(out);
	buf_addf(out, "AWS4-HMAC-SHA256\n%s\n%s\n", key->amz_date, scope.buf);
	sigv4_sha256_hex(out, canonical_request, strlen(canonical_request));
	buf_release(&scope);
}

static void hmac(unsigned char out[32], const void *key, size_t keylen,
		 const void *data, size_t len)
{
	unsigned int n = 32;

	HMAC(EVP_sha256(), key, (int)keylen, data, len, out, &n);
}

void sigv4_signature(struct buf *out, const struct sigv4_key *key,
		     const char *string_to_sign)
{
	struct buf secret = BUF_INIT;
	unsigned char k[32];

	buf_addf(&secret, "AWS4%s", key->secret_key);
	hmac(k, secret.buf, secret.len, key->amz_date, 8);
	hmac(k, k, 32, key->region, strlen(key->region));
	hmac(k, k, 32, key->service, strlen(key->service));
	hmac(k, k, 32, "aws4_request", 12);
	hmac(k, k, 32, string_to_sign, strlen(string_to_sign));
	buf_reset(out);
	buf_addhex(out, k, 32);
	memset(secret.buf, 0, secret.len);
	buf_release(&secret);
}

void sigv4_authorization(struct buf *out, const struct sigv4_key *key,
			 const struct sigv4_request *req,
			 struct buf *creq, struct buf *sts)
{
	struct buf c = BUF_INIT, s = BUF_INIT, names = BUF_INIT;
	struct buf scope = BUF_INIT, sig = BUF_INIT;

	sigv4_canonical_request(&c, &names, req);
	sigv4_string_to_sign(&s, key, c.buf);
	sigv4_signature(&sig, key, s.buf);
	sigv4_scope(&scope, key);
	buf_reset(out);
	buf_addf(out, "AWS4-HMAC-SHA256 Credential=%s/%s, SignedHeaders=%s, "
		 "Signature=%s", key->access_key, scope.buf, names.buf, sig.buf);
	if (creq) {
		buf_reset(creq);
		buf_add(creq, c.buf, c.len);
	}
	if (sts) {
		buf_reset(sts);
		buf_add(sts, s.buf, s.len);
	}
	buf_release(&c);
	buf_release(&s);
	buf_release(&names);
	buf_release(&scope);
	buf_release(&sig);
}
