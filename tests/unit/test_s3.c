/*
 * The S3 client against a scripted HTTP server in this process: what it
 * sends (Content-MD5, the signed payload hash, continuation tokens), how
 * it checks ETags, which failures it retries and how it reports them, and
 * how it reads its configuration.  The real server is exercised by
 * tests/t/02*.t; these cover what s3rver cannot show.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "buf.h"
#include "s3.h"
#include "s3xml.h"
#include "sigv4.h"
#include "util.h"

/* ---- a scripted server ------------------------------------------------ */

struct answer {
	int status;
	const char *headers;	/* extra header lines, each ending in \r\n */
	const char *body;
};

static struct {
	int fd;
	int port;
	const struct answer *script;
	int nscript;
	int served;
	struct buf requests[16];	/* head and body of each request */
	pthread_mutex_t lock;
} srv = { .lock = PTHREAD_MUTEX_INITIALIZER };

/* Serves one connection: requests in turn, answered from the script. */
static void serve(int c)
{
	struct buf in = BUF_INIT;
	char chunk[65536];

	for (;;) {
		char *end, *cl;
		size_t head, want;
		ssize_t n;
		const struct answer *a;
		struct buf out = BUF_INIT;
		int i;

		while (!(end = strstr(in.buf, "\r\n\r\n"))) {
			if ((n = read(c, chunk, sizeof(chunk))) <= 0)
				goto done;
			buf_add(&in, chunk, n);
		}
		head = end + 4 - in.buf;
		cl = strcasestr(in.buf, "\ncontent-length:");
		want = head + (cl && cl < end ? strtoul(cl + 16, NULL, 10) : 0);
		while (in.len < want) {
			if ((n = read(c, chunk, sizeof(chunk))) <= 0)
				goto done;
			buf_add(&in, chunk, n);
		}
		pthread_mutex_lock(&srv.lock);
		i = srv.served++;
		if (i < 16) {
			buf_reset(&srv.requests[i]);
			buf_add(&srv.requests[i], in.buf, want);
		}
		a = i < srv.nscript ? &srv.script[i] : NULL;
		pthread_mutex_unlock(&srv.lock);
		buf_setf(&out, "HTTP/1.1 %d X\r\n%sContent-Length: %zu\r\n\r\n%s",
			 a ? a->status : 500, a && a->headers ? a->headers : "",
			 a && a->body ? strlen(a->body) : 0, a && a->body ? a->body : "");
		if (write(c, out.buf, out.len) != (ssize_t)out.len) {
			buf_release(&out);
			goto done;
		}
		buf_release(&out);
		memmove(in.buf, in.buf + want, in.len - want);
		buf_setlen(&in, in.len - want);
	}
done:
	buf_release(&in);
	close(c);
}

static void *serve_thread(void *arg)
{
	serve((int)(intptr_t)arg);
	return NULL;
}

/* Accepts connections, each served by a thread of its own. */
static void *server_main(void *arg)
{
	pthread_t t;
	int c;

	(void)arg;
	while ((c = accept(srv.fd, NULL, NULL)) >= 0)
		if (pthread_create(&t, NULL, serve_thread, (void *)(intptr_t)c) == 0)
			pthread_detach(t);
	return NULL;
}

static void start_server(void)
{
	struct sockaddr_in sa = { 0 };
	socklen_t len = sizeof(sa);
	pthread_t t;

	srv.fd = socket(AF_INET, SOCK_STREAM, 0);
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(srv.fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(srv.fd, 8) < 0)
		die("cannot listen");
	getsockname(srv.fd, (struct sockaddr *)&sa, &len);
	srv.port = ntohs(sa.sin_port);
	pthread_create(&t, NULL, server_main, NULL);
	pthread_detach(t);
}

static void script(const struct answer *a, int n)
{
	pthread_mutex_lock(&srv.lock);
	srv.script = a;
	srv.nscript = n;
	srv.served = 0;
	pthread_mutex_unlock(&srv.lock);
}

/* A client of the scripted server, with fast retries. */
struct client {
	struct s3_config cfg;
	struct s3 s3;
};

static int setup(void **state)
{
	struct client *c = xcalloc(1, sizeof(*c));
	struct buf ep = BUF_INIT, err = BUF_INIT;

	buf_setf(&ep, "http://127.0.0.1:%d", srv.port);
	setenv("AWS_ACCESS_KEY_ID", "AKIDTEST", 1);
	setenv("AWS_SECRET_ACCESS_KEY", "secret-test-key", 1);
	unsetenv("AWS_MAX_ATTEMPTS");
	if (s3_config_load(&c->cfg, ep.buf, "us-east-1", &err) < 0)
		die("%s", err.buf);
	c->cfg.max_attempts = 3;
	c->cfg.timeout = 5;
	s3_init(&c->s3, &c->cfg);
	buf_release(&ep);
	buf_release(&err);
	*state = c;
	return 0;
}

static int teardown(void **state)
{
	struct client *c = *state;

	s3_release(&c->s3);
	s3_config_release(&c->cfg);
	free(c);
	return 0;
}

/* The value of a header of request i, or NULL. */
static char *request_header(int i, const char *name)
{
	static char value[256];
	struct buf pat = BUF_INIT;
	const char *p;
	size_t n;

	buf_setf(&pat, "\r\n%s: ", name);
	p = strcasestr(srv.requests[i].buf, pat.buf);
	if (!p) {
		buf_release(&pat);
		return NULL;
	}
	p += pat.len;
	n = strcspn(p, "\r");
	buf_release(&pat);
	snprintf(value, sizeof(value), "%.*s", (int)n, p);
	return value;
}

/* ---- tests ------------------------------------------------------------ */

static void test_put_sends_md5_and_payload_hash(void **state)
{
	struct client *c = *state;
	static const struct answer ok[] = {
		{ 200, "ETag: \"5d41402abc4b2a76b9719d911017c592\"\r\n", NULL } };
	struct buf etag = BUF_INIT, want = BUF_INIT;

	script(ok, 1);
	assert_int_equal(s3_put_object(&c->s3, "bkt", "a/b c.csv", "hello", 5, &etag), 0);
	assert_string_equal(etag.buf, "5d41402abc4b2a76b9719d911017c592");
	assert_non_null(strstr(srv.requests[0].buf, "PUT /bkt/a/b%20c.csv HTTP/1.1\r\n"));
	assert_string_equal(request_header(0, "Content-MD5"), "XUFAKrxLKna5cZ2REBfFkg==");
	sigv4_sha256_hex(&want, "hello", 5);
	assert_string_equal(request_header(0, "x-amz-content-sha256"), want.buf);
	assert_non_null(strstr(request_header(0, "Authorization"),
		"SignedHeaders=content-md5;host;x-amz-content-sha256;x-amz-date,"));
	assert_null(strstr(srv.requests[0].buf, "secret-test-key"));
	assert_true(srv.requests[0].len >= 5 &&
		    !memcmp(srv.requests[0].buf + srv.requests[0].len - 5, "hello", 5));
	buf_release(&etag);
	buf_release(&want);
}

static void test_session_token_is_signed(void **state)
{
	struct client *c = *state;
	static const struct answer ok[] = { { 204, NULL, NULL } };

	c->cfg.session_token = xstrdup("token/with+chars=");
	script(ok, 1);
	assert_int_equal(s3_delete_object(&c->s3, "bkt", "k"), 0);
	assert_string_equal(request_header(0, "x-amz-security-token"), "token/with+chars=");
	assert_non_null(strstr(request_header(0, "Authorization"),
		"SignedHeaders=host;x-amz-content-sha256;x-amz-date;x-amz-security-token,"));
}

static void test_put_rejects_wrong_etag(void **state)
{
	struct client *c = *state;
	static const struct answer bad[] = {
		{ 200, "ETag: \"00000000000000000000000000000000\"\r\n", NULL } };

	script(bad, 1);
	assert_int_equal(s3_put_object(&c->s3, "bkt", "k", "hello", 5, NULL), -1);
	assert_non_null(strstr(c->s3.err.buf, "BadDigest"));
	assert_int_equal(c->s3.temporary, 0);
	assert_int_equal(srv.served, 1);
}

static void test_put_accepts_kms_etag(void **state)
{
	struct client *c = *state;
	static const struct answer kms[] = {
		{ 200, "ETag: \"00000000000000000000000000000000\"\r\n"
		       "x-amz-server-side-encryption: aws:kms\r\n", NULL } };

	script(kms, 1);
	assert_int_equal(s3_put_object(&c->s3, "bkt", "k", "hello", 5, NULL), 0);
}

static void test_retries_slowdown_then_succeeds(void **state)
{
	struct client *c = *state;
	static const struct answer a[] = {
		{ 503, NULL, "<Error><Code>SlowDown</Code><Message>Reduce</Message></Error>" },
		{ 500, NULL, "<Error><Code>InternalError</Code></Error>" },
		{ 200, "ETag: \"5d41402abc4b2a76b9719d911017c592\"\r\n", NULL } };

	script(a, 3);
	assert_int_equal(s3_put_object(&c->s3, "bkt", "k", "hello", 5, NULL), 0);
	assert_int_equal(srv.served, 3);
}

static void test_throttling_outlives_retries(void **state)
{
	struct client *c = *state;
	static const struct answer a[] = {
		{ 400, NULL, "<Error><Code>RequestTimeout</Code><Message>idle</Message></Error>" },
		{ 429, NULL, "" },
		{ 503, NULL, "<Error><Code>SlowDown</Code><Message>Reduce</Message></Error>" },
		{ 200, NULL, NULL } };

	script(a, 4);
	assert_int_equal(s3_delete_object(&c->s3, "bkt", "k"), -1);
	assert_int_equal(srv.served, 3);
	assert_int_equal(c->s3.temporary, 1);
	assert_string_equal(c->s3.err.buf, "SlowDown: Reduce (HTTP 503) (after 3 attempts)");
}

static void test_permanent_error_is_not_retried(void **state)
{
	struct client *c = *state;
	static const struct answer a[] = {
		{ 403, NULL, "<?xml version=\"1.0\"?><Error><Code>SignatureDoesNotMatch</Code>"
			     "<Message>The signature does not match</Message></Error>" },
		{ 200, NULL, NULL } };

	script(a, 2);
	assert_int_equal(s3_put_object(&c->s3, "bkt", "k", "x", 1, NULL), -1);
	assert_int_equal(srv.served, 1);
	assert_int_equal(c->s3.temporary, 0);
	assert_int_equal(c->s3.status, 403);
	assert_string_equal(c->s3.err.buf,
		"SignatureDoesNotMatch: The signature does not match (HTTP 403)");
}

static void test_error_in_200_complete_is_an_error(void **state)
{
	struct client *c = *state;
	static const struct answer a[] = {
		{ 200, NULL, "<Error><Code>InternalError</Code><Message>x</Message></Error>" },
		{ 200, NULL, "<CompleteMultipartUploadResult><ETag>\"abc-2\"</ETag>"
			     "</CompleteMultipartUploadResult>" } };
	char *etags[] = { "e1", "e2" };
	struct buf etag = BUF_INIT;

	script(a, 2);
	assert_int_equal(s3_multipart_complete(&c->s3, "bkt", "k", "id/1", etags, 2, &etag), 0);
	assert_int_equal(srv.served, 2);
	assert_string_equal(etag.buf, "abc-2");
	assert_non_null(strstr(srv.requests[1].buf, "POST /bkt/k?uploadId=id%2F1 HTTP/1.1"));
	assert_non_null(strstr(srv.requests[1].buf,
		"<Part><PartNumber>2</PartNumber><ETag>\"e2\"</ETag></Part>"));
	buf_release(&etag);
}

static void test_complete_checks_multipart_etag(void **state)
{
	struct client *c = *state;
	/* Parts "hello" and "world": S3's ETag is md5(md5(p1) md5(p2))-2. */
	static const struct answer a[] = {
		{ 200, NULL, "<CompleteMultipartUploadResult><ETag>\"065947336a2f2a95ba8899f3675c3be6-2\"</ETag>"
			     "</CompleteMultipartUploadResult>" },
		{ 200, NULL, "<CompleteMultipartUploadResult><ETag>\"00000000000000000000000000000000-2\"</ETag>"
			     "</CompleteMultipartUploadResult>" },
		{ 200, NULL, "<CompleteMultipartUploadResult><ETag>\"d41d8cd98f00b204e9800998ecf8427e\"</ETag>"
			     "</CompleteMultipartUploadResult>" } };
	char *etags[] = { "5d41402abc4b2a76b9719d911017c592", "7d793037a0760186574b0282f2f435e7" };
	struct buf etag = BUF_INIT;

	script(a, 3);
	assert_int_equal(s3_multipart_complete(&c->s3, "bkt", "k", "u", etags, 2, &etag), 0);
	assert_string_equal(etag.buf, "065947336a2f2a95ba8899f3675c3be6-2");
	assert_int_equal(s3_multipart_complete(&c->s3, "bkt", "k", "u", etags, 2, &etag), -1);
	assert_non_null(strstr(c->s3.err.buf, "BadDigest"));
	assert_int_equal(c->s3.temporary, 0);
	/* Not S3's form (another server's): not compared. */
	assert_int_equal(s3_multipart_complete(&c->s3, "bkt", "k", "u", etags, 2, &etag), 0);
	buf_release(&etag);
}

static void test_create_and_abort_requests(void **state)
{
	struct client *c = *state;
	static const struct answer a[] = {
		{ 200, NULL, "<?xml version=\"1.0\"?><InitiateMultipartUploadResult>"
			     "<Bucket>bkt</Bucket><Key>k</Key><UploadId>id+1/2</UploadId>"
			     "</InitiateMultipartUploadResult>" },
		{ 204, NULL, NULL },
		{ 200, NULL, "<Nothing/>" } };
	struct buf id = BUF_INIT;

	script(a, 3);
	assert_int_equal(s3_multipart_create(&c->s3, "bkt", "k", &id), 0);
	assert_string_equal(id.buf, "id+1/2");
	assert_non_null(strstr(srv.requests[0].buf, "POST /bkt/k?uploads= HTTP/1.1\r\n"));
	assert_int_equal(s3_multipart_abort(&c->s3, "bkt", "k", id.buf), 0);
	assert_non_null(strstr(srv.requests[1].buf, "DELETE /bkt/k?uploadId=id%2B1%2F2 HTTP/1.1\r\n"));
	assert_int_equal(s3_multipart_create(&c->s3, "bkt", "k", &id), -1);
	assert_non_null(strstr(c->s3.err.buf, "no UploadId"));
	buf_release(&id);
}

static void test_part_checks_md5(void **state)
{
	struct client *c = *state;
	static const struct answer a[] = {
		{ 200, "ETag: \"ffffffffffffffffffffffffffffffff\"\r\n", NULL } };

	script(a, 1);
	assert_int_equal(s3_multipart_put(&c->s3, "bkt", "k", "up", 7, "hello", 5, NULL), -1);
	assert_non_null(strstr(c->s3.err.buf, "BadDigest"));
	assert_non_null(strstr(srv.requests[0].buf, "PUT /bkt/k?partNumber=7&uploadId=up "));
	assert_string_equal(request_header(0, "Content-MD5"), "XUFAKrxLKna5cZ2REBfFkg==");
}

struct seen {
	int n;
	char keys[4][32];
};

static int collect(const struct s3_object *obj, void *arg)
{
	struct seen *s = arg;

	if (s->n < 4)
		snprintf(s->keys[s->n], 32, "%s:%s:%llu", obj->key, obj->etag,
			 (unsigned long long)obj->size);
	s->n++;
	return 0;
}

static void test_list_follows_continuation_tokens(void **state)
{
	struct client *c = *state;
	static const struct answer a[] = {
		{ 200, NULL, "<?xml version=\"1.0\"?><ListBucketResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
			"<IsTruncated>true</IsTruncated><NextContinuationToken>t/1+=</NextContinuationToken>"
			"<Contents><Key>in/a</Key><ETag>&quot;e1&quot;</ETag><Size>10</Size></Contents>"
			"<Contents><Key>in/b &amp; c</Key><ETag>\"e2\"</ETag><Size>20</Size></Contents>"
			"</ListBucketResult>" },
		{ 200, NULL, "<ListBucketResult><IsTruncated>false</IsTruncated>"
			"<Contents><Key>in/d</Key><ETag>\"e3\"</ETag><Size>30</Size></Contents>"
			"</ListBucketResult>" } };
	struct seen s = { 0 };

	script(a, 2);
	assert_int_equal(s3_list_objects(&c->s3, "bkt", "in/", collect, &s), 0);
	assert_int_equal(s.n, 3);
	assert_string_equal(s.keys[0], "in/a:e1:10");
	assert_string_equal(s.keys[1], "in/b & c:e2:20");
	assert_string_equal(s.keys[2], "in/d:e3:30");
	assert_non_null(strstr(srv.requests[0].buf, "GET /bkt?list-type=2&prefix=in%2F HTTP"));
	assert_non_null(strstr(srv.requests[1].buf,
		"GET /bkt?list-type=2&continuation-token=t%2F1%2B%3D&prefix=in%2F HTTP"));
}

static void test_list_rejects_garbage(void **state)
{
	struct client *c = *state;
	static const struct answer a[] = { { 200, NULL, "<html>nope" },
		{ 200, NULL, "<Foo><Contents/></Foo>" },
		{ 200, NULL, "<ListBucketResult><Contents><Key>k</Key><Size>x</Size>"
			     "</Contents></ListBucketResult>" } };
	struct seen s = { 0 };

	script(a, 3);
	assert_int_equal(s3_list_objects(&c->s3, "bkt", "", collect, &s), -1);
	assert_int_equal(c->s3.temporary, 0);
	assert_non_null(strstr(c->s3.err.buf, "malformed XML answer"));
	assert_int_equal(s3_list_objects(&c->s3, "bkt", "", collect, &s), -1);
	assert_non_null(strstr(c->s3.err.buf, "'Foo/Contents' instead of a ListBucketResult"));
	assert_int_equal(s3_list_objects(&c->s3, "bkt", "", collect, &s), -1);
	assert_non_null(strstr(c->s3.err.buf, "malformed object entry"));
	assert_int_equal(s.n, 0);
}

static int gather(const char *data, size_t len, void *arg)
{
	buf_add(arg, data, len);
	return 0;
}

static void test_get_streams_and_does_not_retry_404(void **state)
{
	struct client *c = *state;
	static const struct answer a[] = {
		{ 200, "ETag: \"abc\"\r\n", "some,csv\n" },
		{ 404, NULL, "<Error><Code>NoSuchKey</Code><Message>gone</Message></Error>" } };
	struct buf body = BUF_INIT, etag = BUF_INIT;

	script(a, 2);
	assert_int_equal(s3_get_object(&c->s3, "bkt", "k", gather, &body, &etag), 0);
	assert_string_equal(body.buf, "some,csv\n");
	assert_string_equal(etag.buf, "abc");
	buf_reset(&body);
	assert_int_equal(s3_get_object(&c->s3, "bkt", "k", gather, &body, &etag), -1);
	assert_int_equal(body.len, 0);
	assert_int_equal(c->s3.temporary, 0);
	assert_string_equal(c->s3.err.buf, "NoSuchKey: gone (HTTP 404)");
	buf_release(&body);
	buf_release(&etag);
}

static void test_virtual_hosted_style(void **state)
{
	static const struct answer ok[] = {
		{ 200, "ETag: \"5d41402abc4b2a76b9719d911017c592\"\r\n", NULL },
		{ 200, "ETag: \"5d41402abc4b2a76b9719d911017c592\"\r\n", NULL } };
	struct s3_config cfg;
	struct s3 s3;
	struct buf ep = BUF_INIT, err = BUF_INIT, host = BUF_INIT;

	(void)state;
	buf_setf(&ep, "http://localhost:%d", srv.port);
	assert_int_equal(s3_config_load(&cfg, ep.buf, NULL, &err), 0);
	assert_int_equal(cfg.path_style, 1);
	cfg.path_style = 0;
	s3_init(&s3, &cfg);
	script(ok, 2);
	/* curl resolves *.localhost to the loopback address itself. */
	if (s3_put_object(&s3, "bkt", "in/a.csv", "hello", 5, NULL) < 0)
		fail_msg("%s", s3.err.buf);
	assert_non_null(strstr(srv.requests[0].buf, "PUT /in/a.csv HTTP/1.1\r\n"));
	buf_setf(&host, "bkt.localhost:%d", srv.port);
	assert_string_equal(request_header(0, "Host"), host.buf);
	/* A bucket with dots would not match a TLS wildcard: path style. */
	if (s3_put_object(&s3, "b.k.t", "a", "hello", 5, NULL) < 0)
		fail_msg("%s", s3.err.buf);
	assert_non_null(strstr(srv.requests[1].buf, "PUT /b.k.t/a HTTP/1.1\r\n"));
	s3_release(&s3);
	s3_config_release(&cfg);
	buf_release(&ep);
	buf_release(&err);
	buf_release(&host);
}

static void test_unreachable_is_temporary(void **state)
{
	struct s3_config cfg;
	struct s3 s3;
	struct buf err = BUF_INIT;

	(void)state;
	assert_int_equal(s3_config_load(&cfg, "http://127.0.0.1:1", NULL, &err), 0);
	cfg.max_attempts = 2;
	s3_init(&s3, &cfg);
	assert_int_equal(s3_delete_object(&s3, "bkt", "k"), -1);
	assert_int_equal(s3.temporary, 1);
	assert_non_null(strstr(s3.err.buf, "after 2 attempts"));
	s3_release(&s3);
	s3_config_release(&cfg);
}

/* ---- configuration ---------------------------------------------------- */

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static void test_config_from_profile(void **state)
{
	char dir[] = "/tmp/test_s3.XXXXXX";
	struct buf path = BUF_INIT, err = BUF_INIT;
	struct s3_config cfg;

	(void)state;
	assert_non_null(mkdtemp(dir));
	buf_setf(&path, "%s/credentials", dir);
	write_file(path.buf, "[default]\naws_access_key_id = D\naws_secret_access_key = DS\n\n"
		   "[ct]\naws_access_key_id=K\naws_secret_access_key = S\naws_session_token = T\n");
	setenv("AWS_SHARED_CREDENTIALS_FILE", path.buf, 1);
	buf_setf(&path, "%s/config", dir);
	write_file(path.buf, "[default]\nregion = eu-west-1\n[profile ct]\nregion = eu-north-1\n"
		   "endpoint_url = http://example.test:9000/\nmax_attempts = 7\n"
		   "s3 =\n  addressing_style = virtual\n");
	setenv("AWS_CONFIG_FILE", path.buf, 1);
	unsetenv("AWS_ACCESS_KEY_ID");
	unsetenv("AWS_SECRET_ACCESS_KEY");
	unsetenv("AWS_SESSION_TOKEN");
	unsetenv("AWS_REGION");
	unsetenv("AWS_DEFAULT_REGION");
	unsetenv("AWS_ENDPOINT_URL");
	unsetenv("AWS_ENDPOINT_URL_S3");
	unsetenv("AWS_MAX_ATTEMPTS");

	setenv("AWS_PROFILE", "ct", 1);
	assert_int_equal(s3_config_load(&cfg, NULL, NULL, &err), 0);
	assert_string_equal(cfg.access_key, "K");
	assert_string_equal(cfg.secret_key, "S");
	assert_string_equal(cfg.session_token, "T");
	assert_string_equal(cfg.region, "eu-north-1");
	assert_string_equal(cfg.endpoint, "http://example.test:9000");
	assert_int_equal(cfg.max_attempts, 7);
	assert_int_equal(cfg.path_style, 0);
	s3_config_release(&cfg);

	/* The environment wins over the profile; arguments over both. */
	setenv("AWS_ACCESS_KEY_ID", "EK", 1);
	setenv("AWS_SECRET_ACCESS_KEY", "ES", 1);
	setenv("AWS_REGION", "ap-south-1", 1);
	assert_int_equal(s3_config_load(&cfg, "https://other.test", NULL, &err), 0);
	assert_string_equal(cfg.access_key, "EK");
	assert_null(cfg.session_token);
	assert_string_equal(cfg.region, "ap-south-1");
	assert_string_equal(cfg.endpoint, "https://other.test");
	s3_config_release(&cfg);
	unsetenv("AWS_ACCESS_KEY_ID");
	unsetenv("AWS_SECRET_ACCESS_KEY");
	unsetenv("AWS_REGION");

	unsetenv("AWS_PROFILE");
	assert_int_equal(s3_config_load(&cfg, NULL, NULL, &err), 0);
	assert_string_equal(cfg.access_key, "D");
	assert_string_equal(cfg.region, "eu-west-1");
	assert_null(cfg.endpoint);
	assert_int_equal(cfg.path_style, 0);
	assert_int_equal(cfg.max_attempts, 5);
	s3_config_release(&cfg);

	setenv("AWS_PROFILE", "missing", 1);
	assert_int_equal(s3_config_load(&cfg, NULL, NULL, &err), -1);
	assert_string_equal(err.buf, "profile 'missing' not found in ~/.aws/credentials or ~/.aws/config");
	unsetenv("AWS_PROFILE");
	unsetenv("AWS_SHARED_CREDENTIALS_FILE");
	unsetenv("AWS_CONFIG_FILE");
	buf_setf(&path, "rm -rf %s", dir);
	assert_int_equal(system(path.buf), 0);
	buf_release(&path);
	buf_release(&err);
}

static void test_parse_url(void **state)
{
	char *b, *k;

	(void)state;
	assert_int_equal(s3_parse_url("s3://bkt/in/x/", &b, &k), 0);
	assert_string_equal(b, "bkt");
	assert_string_equal(k, "in/x/");
	free(b);
	free(k);
	assert_int_equal(s3_parse_url("s3://bkt", &b, &k), 0);
	assert_string_equal(k, "");
	free(b);
	free(k);
	assert_int_equal(s3_parse_url("s3:///k", &b, &k), -1);
	assert_int_equal(s3_parse_url("http://bkt/k", &b, &k), -1);
}

static void test_content_md5_and_etag_match(void **state)
{
	struct buf b = BUF_INIT;

	(void)state;
	s3_content_md5(&b, "", 0);
	assert_string_equal(b.buf, "1B2M2Y8AsgTpgAmY7PhCfg==");
	assert_true(s3_etag_matches("D41D8CD98F00B204E9800998ECF8427E", "d41d8cd98f00b204e9800998ecf8427e"));
	assert_false(s3_etag_matches("d41d8cd98f00b204e9800998ecf8427f", "d41d8cd98f00b204e9800998ecf8427e"));
	assert_true(s3_etag_matches("d41d8cd98f00b204e9800998ecf8427f-3", "d41d8cd98f00b204e9800998ecf8427e"));
	buf_release(&b);
}

int main(void)
{
	const struct CMUnitTest net[] = {
		cmocka_unit_test(test_put_sends_md5_and_payload_hash),
		cmocka_unit_test(test_session_token_is_signed),
		cmocka_unit_test(test_put_rejects_wrong_etag),
		cmocka_unit_test(test_put_accepts_kms_etag),
		cmocka_unit_test(test_retries_slowdown_then_succeeds),
		cmocka_unit_test(test_throttling_outlives_retries),
		cmocka_unit_test(test_permanent_error_is_not_retried),
		cmocka_unit_test(test_error_in_200_complete_is_an_error),
		cmocka_unit_test(test_complete_checks_multipart_etag),
		cmocka_unit_test(test_create_and_abort_requests),
		cmocka_unit_test(test_part_checks_md5),
		cmocka_unit_test(test_list_follows_continuation_tokens),
		cmocka_unit_test(test_list_rejects_garbage),
		cmocka_unit_test(test_get_streams_and_does_not_retry_404),
		cmocka_unit_test(test_virtual_hosted_style),
		cmocka_unit_test(test_unreachable_is_temporary),
		cmocka_unit_test(test_config_from_profile),
		cmocka_unit_test(test_parse_url),
		cmocka_unit_test(test_content_md5_and_etag_match),
	};
	struct CMUnitTest *t = xcalloc(sizeof(net) / sizeof(net[0]), sizeof(*t));
	size_t i, n = sizeof(net) / sizeof(net[0]);
	int ret;

	start_server();
	for (i = 0; i < n; i++) {
		t[i] = net[i];
		t[i].setup_func = setup;
		t[i].teardown_func = teardown;
	}
	ret = _cmocka_run_group_tests("s3", t, n, NULL, NULL);
	free(t);
	return ret;
}
