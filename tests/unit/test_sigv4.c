/*
 * Signature V4 against every case of AWS's test suite (tests/data/sigv4)
 * and of the S3 API Reference's worked examples (tests/data/sigv4-s3):
 * for each, the canonical request, the string to sign and the
 * Authorization header (or presigned signature, or chunk signatures) must
 * equal AWS's files byte for byte.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "buf.h"
#include "sigv4.h"
#include "util.h"

/* The suite's one case whose .creq disagrees with its own .sts and .authz. */
#define INCONSISTENT "post-x-www-form-urlencoded"

struct tcase {
	char *dir;	/* .../get-vanilla */
	char *name;	/* get-vanilla */
	int s3;		/* from sigv4-s3: S3's rules and keys */
};

static const char *top(void)
{
	const char *t = getenv("CT_TOP");

	return t && *t ? t : ".";
}

/* Reads dir/name.ext into b; returns 0, or -1 if there is no such file. */
static int slurp(struct buf *b, const struct tcase *c, const char *ext)
{
	struct buf path = BUF_INIT;
	char chunk[4096];
	size_t n;
	FILE *f;

	buf_setf(&path, "%s/%s.%s", c->dir, c->name, ext);
	f = fopen(path.buf, "rb");
	buf_release(&path);
	buf_reset(b);
	if (!f)
		return -1;
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		buf_add(b, chunk, n);
	fclose(f);
	return 0;
}

/* A request as the suite's .req file describes it. */
struct req {
	struct buf method, path, query, body;
	struct sigv4_header h[32];
	size_t nh;
	char *names[32], *values[32];
};

/*
 * Parses a .req file: "METHOD URI HTTP/1.1", headers (a line starting with
 * white space continues the previous header's value: its lines become
 * values of that header, which the signer joins with commas), an empty
 * line, the body.
 */
static void parse_req(struct req *r, const char *text)
{
	const char *p = text, *eol, *sp, *http, *q;

	memset(r, 0, sizeof(*r));
	eol = strchr(p, '\n');
	if (!eol)
		eol = p + strlen(p);
	sp = strchr(p, ' ');
	buf_add(&r->method, p, sp - p);
	http = strstr(sp, " HTTP/");
	assert_non_null(http);
	q = memchr(sp + 1, '?', http - sp - 1);
	buf_add(&r->path, sp + 1, (q ? q : http) - sp - 1);
	if (q)
		buf_add(&r->query, q + 1, http - q - 1);
	p = *eol ? eol + 1 : eol;
	while (*p && *p != '\n') {
		const char *colon;

		eol = strchr(p, '\n');
		if (!eol)
			eol = p + strlen(p);
		if ((*p == ' ' || *p == '\t') && r->nh > 0) {
			r->names[r->nh] = xstrdup(r->names[r->nh - 1]);
			r->values[r->nh] = xstrndup(p, eol - p);
		} else {
			colon = memchr(p, ':', eol - p);
			assert_non_null(colon);
			r->names[r->nh] = xstrndup(p, colon - p);
			r->values[r->nh] = xstrndup(colon + 1, eol - colon - 1);
		}
		r->h[r->nh].name = r->names[r->nh];
		r->h[r->nh].value = r->values[r->nh];
		r->nh++;
		assert_true(r->nh < 32);
		p = *eol ? eol + 1 : eol;
	}
	if (*p == '\n')
		buf_adds(&r->body, p + 1);
}

static void req_release(struct req *r)
{
	size_t i;

	for (i = 0; i < r->nh; i++) {
		free(r->names[i]);
		free(r->values[i]);
	}
	buf_release(&r->method);
	buf_release(&r->path);
	buf_release(&r->query);
	buf_release(&r->body);
}

static const char *header(const struct req *r, const char *name)
{
	size_t i;

	for (i = 0; i < r->nh; i++)
		if (!strcasecmp(r->names[i], name))
			return r->values[i] + strspn(r->values[i], " ");
	return NULL;
}

/* Removes the spaces after commas ("a, b" to "a,b"): the S3 pages print
 * the Authorization header without them, the general suite with. */
static void squeeze(struct buf *b)
{
	size_t i, j;

	for (i = j = 0; i < b->len; i++)
		if (!(b->buf[i] == ' ' && i > 0 && b->buf[i - 1] == ','))
			b->buf[j++] = b->buf[i];
	buf_setlen(b, j);
}

/* Removes "&X-Amz-Signature=..." from a presigned URL's query. */
static void strip_signature(struct buf *query)
{
	char *s = strstr(query->buf, "&X-Amz-Signature=");

	if (s)
		buf_setlen(query, s - query->buf);
}

/* Checks the chunk signatures of the streaming example (chunks.tsv). */
static void check_chunks(const struct tcase *c, const struct sigv4_key *key,
			 const char *seed)
{
	struct buf prev = BUF_INIT, sts = BUF_INIT, sig = BUF_INIT, want = BUF_INIT;
	struct buf scope = BUF_INIT;
	static const size_t sizes[] = { 65536, 1024, 0 };
	char ext[16];
	int i;

	buf_adds(&prev, seed);
	sigv4_scope(&scope, key);
	for (i = 0; i < 3; i++) {
		char *data = xmalloc(sizes[i] + 1);

		memset(data, 'a', sizes[i]);
		buf_setf(&sts, "AWS4-HMAC-SHA256-PAYLOAD\n%s\n%s\n%s\n", key->amz_date,
			 scope.buf, prev.buf);
		sigv4_sha256_hex(&sts, "", 0);
		buf_addch(&sts, '\n');
		sigv4_sha256_hex(&sts, data, sizes[i]);
		snprintf(ext, sizeof(ext), "sts");
		{
			struct tcase chunk = { c->dir, NULL, 1 };
			char name[16];

			snprintf(name, sizeof(name), "chunk-%d", i + 1);
			chunk.name = name;
			assert_int_equal(slurp(&want, &chunk, ext), 0);
		}
		assert_string_equal(sts.buf, want.buf);
		sigv4_signature(&sig, key, sts.buf);
		buf_reset(&prev);
		buf_add(&prev, sig.buf, sig.len);
		free(data);
	}
	assert_string_equal(prev.buf,
		"b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9");
	buf_release(&prev);
	buf_release(&sts);
	buf_release(&sig);
	buf_release(&want);
	buf_release(&scope);
}

static void test_case(void **state)
{
	const struct tcase *c = *state;
	struct buf text = BUF_INIT, want = BUF_INIT, creq = BUF_INIT, sts = BUF_INIT;
	struct buf auth = BUF_INIT, hash = BUF_INIT, date = BUF_INIT;
	struct sigv4_request sr;
	struct sigv4_key key;
	struct req r;
	int presigned;

	assert_int_equal(slurp(&text, c, "req"), 0);
	parse_req(&r, text.buf);
	/* The suite signs a form-encoded body as the query, its payload as empty. */
	if (header(&r, "Content-Type") && strstr(header(&r, "Content-Type"),
						 "x-www-form-urlencoded") && r.body.len) {
		buf_add(&r.query, r.body.buf, r.body.len);
		buf_reset(&r.body);
	}
	presigned = slurp(&text, c, "url") == 0;
	if (presigned) {
		const char *q = strchr(text.buf, '?');

		buf_reset(&r.query);
		buf_adds(&r.query, q + 1);
		strip_signature(&r.query);
		buf_adds(&date, strstr(text.buf, "X-Amz-Date=") + 11);
		buf_setlen(&date, 16);
		buf_adds(&hash, "UNSIGNED-PAYLOAD");
	} else {
		buf_adds(&date, header(&r, "X-Amz-Date"));
		if (c->s3)
			buf_adds(&hash, header(&r, "x-amz-content-sha256"));
		else
			sigv4_sha256_hex(&hash, r.body.buf, r.body.len);
	}
	sr = (struct sigv4_request){ r.method.buf, r.path.buf, r.query.buf, r.h, r.nh,
				     hash.buf, !c->s3 };
	if (c->s3) {
		/* The chunked example signs headers S3 expects, not Content-Length. */
		key = (struct sigv4_key){ "AKIAIOSFODNN7EXAMPLE",
			"wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "us-east-1", "s3", date.buf };
	} else {
		key = (struct sigv4_key){ "AKIDEXAMPLE",
			"wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "us-east-1", "service",
			date.buf };
	}
	sigv4_authorization(&auth, &key, &sr, &creq, &sts);

	assert_int_equal(slurp(&want, c, "creq"), 0);
	if (strcmp(c->name, INCONSISTENT)) {
		assert_string_equal(creq.buf, want.buf);
	} else {
		/* Known-inconsistent: its .creq's SignedHeaders line omits
		 * content-type, which its .sts and .authz sign (see NOTICE).
		 * Ours must be the file's with that one line corrected. */
		struct buf fixed = BUF_INIT;
		const char *line = strstr(want.buf, "\nhost;x-amz-date\n");

		assert_non_null(line);
		buf_add(&fixed, want.buf, line - want.buf);
		buf_addf(&fixed, "\ncontent-type;%s", line + 1);
		assert_string_equal(creq.buf, fixed.buf);
		print_message("# " INCONSISTENT ": AWS's .creq has a wrong SignedHeaders "
			      "line (known inconsistency of the suite, tests/data/sigv4/NOTICE); "
			      "compared with that line corrected, .sts and .authz exactly\n");
		buf_release(&fixed);
	}
	assert_int_equal(slurp(&want, c, "sts"), 0);
	assert_string_equal(sts.buf, want.buf);
	if (presigned) {
		struct buf sig = BUF_INIT;

		sigv4_signature(&sig, &key, sts.buf);
		assert_int_equal(slurp(&want, c, "sig"), 0);
		assert_string_equal(sig.buf, want.buf);
		buf_release(&sig);
	} else {
		assert_int_equal(slurp(&want, c, "authz"), 0);
		squeeze(&want);
		squeeze(&auth);
		assert_string_equal(auth.buf, want.buf);
	}
	if (!strcmp(c->name, "put-object-chunked"))
		check_chunks(c, &key, strrchr(auth.buf, '=') + 1);
	req_release(&r);
	buf_release(&text);
	buf_release(&want);
	buf_release(&creq);
	buf_release(&sts);
	buf_release(&auth);
	buf_release(&hash);
	buf_release(&date);
}

static struct tcase cases[64];
static size_t ncases;

/* Adds every directory under dir that holds a NAME.req as a case. */
static void find_cases(const char *dir, int s3)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	struct buf path = BUF_INIT;
	struct stat st;

	if (!d)
		return;
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		buf_setf(&path, "%s/%s/%s.req", dir, e->d_name, e->d_name);
		if (stat(path.buf, &st) == 0 && ncases < 64) {
			buf_setf(&path, "%s/%s", dir, e->d_name);
			cases[ncases].dir = xstrdup(path.buf);
			cases[ncases].name = xstrdup(e->d_name);
			cases[ncases].s3 = s3;
			ncases++;
			continue;
		}
		buf_setf(&path, "%s/%s", dir, e->d_name);
		if (stat(path.buf, &st) == 0 && S_ISDIR(st.st_mode))
			find_cases(path.buf, s3);
	}
	closedir(d);
	buf_release(&path);
}

static int by_name(const void *a, const void *b)
{
	return strcmp(((const struct tcase *)a)->dir, ((const struct tcase *)b)->dir);
}

/* Unit checks of the encoder and normaliser beyond the suite. */
static void test_uri_encode(void **state)
{
	struct buf b = BUF_INIT;

	(void)state;
	sigv4_uri_encode(&b, "a b/c~d+e$f=%", 13, 1);
	assert_string_equal(b.buf, "a%20b/c~d%2Be%24f%3D%25");
	buf_reset(&b);
	sigv4_uri_encode(&b, "a/b", 3, 0);
	assert_string_equal(b.buf, "a%2Fb");
	buf_release(&b);
}

static void test_s3_keeps_double_slashes(void **state)
{
	struct sigv4_header h[] = { { "Host", "b.s3.amazonaws.com" } };
	struct sigv4_request r = { "GET", "/my-object//example//photo.user", NULL, h, 1,
				   "UNSIGNED-PAYLOAD", 0 };
	struct buf creq = BUF_INIT;

	(void)state;
	sigv4_canonical_request(&creq, NULL, &r);
	assert_non_null(strstr(creq.buf, "\n/my-object//example//photo.user\n"));
	buf_release(&creq);
}

static void test_path_is_encoded_once(void **state)
{
	struct sigv4_header h[] = { { "Host", "b.s3.amazonaws.com" } };
	struct sigv4_request r = { "PUT", "/100%41 x.csv", NULL, h, 1, "UNSIGNED-PAYLOAD", 0 };
	struct buf creq = BUF_INIT;

	(void)state;
	sigv4_canonical_request(&creq, NULL, &r);
	assert_non_null(strstr(creq.buf, "\n/100%2541%20x.csv\n"));
	buf_release(&creq);
}

int main(void)
{
	struct buf dir = BUF_INIT;
	struct CMUnitTest *tests;
	size_t i, n = 0;
	int ret;

	buf_setf(&dir, "%s/tests/data/sigv4", top());
	find_cases(dir.buf, 0);
	buf_setf(&dir, "%s/tests/data/sigv4-s3", top());
	find_cases(dir.buf, 1);
	qsort(cases, ncases, sizeof(*cases), by_name);
	tests = xcalloc(ncases + 3, sizeof(*tests));
	for (i = 0; i < ncases; i++) {
		tests[n].name = strcmp(cases[i].name, INCONSISTENT) ? cases[i].name :
			INCONSISTENT " (known-inconsistent .creq, see NOTICE)";
		tests[n].test_func = test_case;
		tests[n].initial_state = &cases[i];
		n++;
	}
	tests[n++] = (struct CMUnitTest){ "uri_encode", test_uri_encode, NULL, NULL, NULL };
	tests[n++] = (struct CMUnitTest){ "path_is_encoded_once",
					  test_path_is_encoded_once, NULL, NULL, NULL };
	tests[n++] = (struct CMUnitTest){ "s3_keeps_double_slashes",
					  test_s3_keeps_double_slashes, NULL, NULL, NULL };
	if (ncases != 37) {
		fprintf(stderr, "test_sigv4: found %zu cases under %s/tests/data, expected 37\n",
			ncases, top());
		return 1;
	}
	ret = _cmocka_run_group_tests("sigv4", tests, n, NULL, NULL);
	free(tests);
	buf_release(&dir);
	return ret;
}
