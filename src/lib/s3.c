#include "s3.h"

#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <openssl/evp.h>
#include <openssl/md5.h>

#include "s3xml.h"
#include "sigv4.h"
#include "util.h"

enum { DEFAULT_ATTEMPTS = 5, DEFAULT_TIMEOUT = 30, SMALL_BODY = 64 << 10 };
#define BACKOFF_BASE_MS 100
#define BACKOFF_CAP_MS 20000

/* ---- configuration ---------------------------------------------------- */

/* The settings read from one profile of the AWS files. */
struct profile {
	char *access_key, *secret_key, *session_token;
	char *region, *endpoint, *ca_bundle, *max_attempts, *addressing_style;
	int found;
};

static void profile_release(struct profile *p)
{
	free(p->access_key);
	free(p->secret_key);
	free(p->session_token);
	free(p->region);
	free(p->endpoint);
	free(p->ca_bundle);
	free(p->max_attempts);
	free(p->addressing_style);
	memset(p, 0, sizeof(*p));
}

static char *trim(char *s)
{
	char *end;

	while (isspace((unsigned char)*s))
		s++;
	end = s + strlen(s);
	while (end > s && isspace((unsigned char)end[-1]))
		*--end = '\0';
	return s;
}

static void set_once(char **field, const char *value)
{
	if (!*field && *value)
		*field = xstrdup(value);
}

/*
 * Reads section [name] of an AWS INI file into p, keeping what p already
 * holds.  A missing file is not an error; an unreadable one is.
 */
static int read_profile(const char *file, const char *section,
			struct profile *p, struct buf *err)
{
	FILE *f = fopen(file, "r");
	char line[4096], parent[64] = "";
	int in = 0;

	if (!f) {
		if (errno == ENOENT || errno == ENOTDIR)
			return 0;
		buf_setf(err, "cannot open '%s': %s", file, strerror(errno));
		return -1;
	}
	while (fgets(line, sizeof(line), f)) {
		int indented = line[0] == ' ' || line[0] == '\t';
		char *s = trim(line), *eq, *k, *v;

		if (!*s || *s == '#' || *s == ';')
			continue;
		if (*s == '[') {
			char *end = strchr(s, ']');

			if (end)
				*end = '\0';
			in = !strcmp(trim(s + 1), section);
			p->found |= in;
			parent[0] = '\0';
			continue;
		}
		if (!in || !(eq = strchr(s, '=')))
			continue;
		*eq = '\0';
		k = trim(s);
		v = trim(eq + 1);
		if (!indented && !*v) {
			snprintf(parent, sizeof(parent), "%s", k);
			continue;
		}
		if (indented && !strcmp(parent, "s3")) {
			if (!strcmp(k, "addressing_style"))
				set_once(&p->addressing_style, v);
			if (!strcmp(k, "endpoint_url"))
				set_once(&p->endpoint, v);
			continue;
		}
		parent[0] = '\0';
		if (!strcmp(k, "aws_access_key_id"))
			set_once(&p->access_key, v);
		else if (!strcmp(k, "aws_secret_access_key"))
			set_once(&p->secret_key, v);
		else if (!strcmp(k, "aws_session_token"))
			set_once(&p->session_token, v);
		else if (!strcmp(k, "region"))
			set_once(&p->region, v);
		else if (!strcmp(k, "endpoint_url"))
			set_once(&p->endpoint, v);
		else if (!strcmp(k, "ca_bundle"))
			set_once(&p->ca_bundle, v);
		else if (!strcmp(k, "max_attempts"))
			set_once(&p->max_attempts, v);
	}
	fclose(f);
	return 0;
}

static const char *env(const char *name)
{
	const char *v = getenv(name);

	return v && *v ? v : NULL;
}

static char *first_of(const char *a, const char *b, const char *c)
{
	const char *v = a ? a : b ? b : c;

	return v ? xstrdup(v) : NULL;
}

int s3_config_load(struct s3_config *cfg, const char *endpoint,
		   const char *region, struct buf *err)
{
	struct profile p = { 0 };
	struct buf path = BUF_INIT;
	const char *name = env("AWS_PROFILE"), *home = env("HOME"), *file, *v;
	int explicit = name != NULL, ret = -1;
	long long n;

	memset(cfg, 0, sizeof(*cfg));
	if (!name)
		name = env("AWS_DEFAULT_PROFILE");
	if (!name)
		name = "default";

	/* The credentials file names a profile [x], the config file [profile x]. */
	file = env("AWS_SHARED_CREDENTIALS_FILE");
	if (!file && home) {
		buf_setf(&path, "%s/.aws/credentials", home);
		file = path.buf;
	}
	if (file && read_profile(file, name, &p, err) < 0)
		goto out;
	file = env("AWS_CONFIG_FILE");
	if (!file && home) {
		buf_setf(&path, "%s/.aws/config", home);
		file = path.buf;
	}
	if (file) {
		struct buf section = BUF_INIT;

		buf_setf(&section, strcmp(name, "default") ? "profile %s" : "%s", name);
		ret = read_profile(file, section.buf, &p, err);
		buf_release(&section);
		if (ret < 0)
			goto out;
		ret = -1;
	}
	if (explicit && !p.found && !(env("AWS_ACCESS_KEY_ID") && env("AWS_SECRET_ACCESS_KEY"))) {
		buf_setf(err, "profile '%s' not found in ~/.aws/credentials or ~/.aws/config", name);
		goto out;
	}

	if (env("AWS_ACCESS_KEY_ID") && env("AWS_SECRET_ACCESS_KEY")) {
		cfg->access_key = xstrdup(env("AWS_ACCESS_KEY_ID"));
		cfg->secret_key = xstrdup(env("AWS_SECRET_ACCESS_KEY"));
		cfg->session_token = first_of(env("AWS_SESSION_TOKEN"),
					      env("AWS_SECURITY_TOKEN"), NULL);
	} else if (p.access_key && p.secret_key) {
		cfg->access_key = xstrdup(p.access_key);
		cfg->secret_key = xstrdup(p.secret_key);
		cfg->session_token = first_of(p.session_token, NULL, NULL);
	} else {
		buf_setf(err, "no credentials: set AWS_ACCESS_KEY_ID and "
			 "AWS_SECRET_ACCESS_KEY, or profile '%s' in ~/.aws/credentials", name);
		goto out;
	}
	cfg->endpoint = first_of(endpoint && *endpoint ? endpoint : NULL,
				 env("AWS_ENDPOINT_URL_S3"),
				 env("AWS_ENDPOINT_URL") ? env("AWS_ENDPOINT_URL") : p.endpoint);
	if (cfg->endpoint) {
		size_t len = strlen(cfg->endpoint);

		while (len > 0 && cfg->endpoint[len - 1] == '/')
			cfg->endpoint[--len] = '\0';
		if (strncmp(cfg->endpoint, "http://", 7) && strncmp(cfg->endpoint, "https://", 8)) {
			buf_setf(err, "endpoint '%s' is not an http:// or https:// URL", cfg->endpoint);
			goto out;
		}
	}
	cfg->region = first_of(region && *region ? region : NULL,
			       env("AWS_REGION") ? env("AWS_REGION") : env("AWS_DEFAULT_REGION"),
			       p.region ? p.region : "us-east-1");
	cfg->ca_bundle = first_of(env("AWS_CA_BUNDLE"), p.ca_bundle, NULL);
	cfg->path_style = cfg->endpoint != NULL;
	if (p.addressing_style)
		cfg->path_style = !strcmp(p.addressing_style, "path") ||
			(cfg->path_style && strcmp(p.addressing_style, "virtual"));
	cfg->max_attempts = DEFAULT_ATTEMPTS;
	v = env("AWS_MAX_ATTEMPTS") ? env("AWS_MAX_ATTEMPTS") : p.max_attempts;
	if (v) {
		if (parse_ll(v, 1, 100, &n) < 0) {
			buf_setf(err, "max_attempts '%s' is not a number from 1 to 100", v);
			goto out;
		}
		cfg->max_attempts = (int)n;
	}
	cfg->timeout = DEFAULT_TIMEOUT;
	ret = 0;
out:
	if (ret < 0)
		s3_config_release(cfg);
	profile_release(&p);
	buf_release(&path);
	return ret;
}

void s3_config_release(struct s3_config *cfg)
{
	free(cfg->endpoint);
	free(cfg->region);
	free(cfg->access_key);
	if (cfg->secret_key) {
		memset(cfg->secret_key, 0, strlen(cfg->secret_key));
		free(cfg->secret_key);
	}
	free(cfg->session_token);
	free(cfg->ca_bundle);
	memset(cfg, 0, sizeof(*cfg));
}

int s3_parse_url(const char *url, char **bucket, char **key)
{
	const char *b, *slash;

	if (strncmp(url, "s3://", 5))
		return -1;
	b = url + 5;
	slash = strchr(b, '/');
	if (slash == b || !*b)
		return -1;
	*bucket = slash ? xstrndup(b, slash - b) : xstrdup(b);
	*key = xstrdup(slash ? slash + 1 : "");
	return 0;
}

/* ---- digests ---------------------------------------------------------- */

static void md5(unsigned char out[16], const void *data, size_t len)
{
	unsigned int n = 16;

	EVP_Digest(data, len, out, &n, EVP_md5(), NULL);
}

void s3_content_md5(struct buf *out, const void *data, size_t len)
{
	unsigned char d[16], b64[32];

	md5(d, data, len);
	EVP_EncodeBlock(b64, d, 16);
	buf_reset(out);
	buf_adds(out, (char *)b64);
}

int s3_etag_matches(const char *etag, const char *md5_hex)
{
	size_t i;

	for (i = 0; etag[i]; i++)
		if (!isxdigit((unsigned char)etag[i]))
			return 1;
	if (i != 32)
		return 1;
	return !strcasecmp(etag, md5_hex);
}

/* ---- requests --------------------------------------------------------- */

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;

static void curl_setup(void)
{
	curl_global_init(CURL_GLOBAL_DEFAULT);
}

int s3_init(struct s3 *s3, struct s3_config *cfg)
{
	pthread_once(&curl_once, curl_setup);
	memset(s3, 0, sizeof(*s3));
	buf_init(&s3->err, 0);
	s3->cfg = cfg;
	s3->curl = curl_easy_init();
	if (!s3->curl) {
		buf_setf(&s3->err, "cannot start libcurl");
		return -1;
	}
	return 0;
}

void s3_release(struct s3 *s3)
{
	if (s3->curl)
		curl_easy_cleanup(s3->curl);
	s3->curl = NULL;
	buf_release(&s3->err);
}

/* One S3 call: what to send and where the answer goes. */
struct request {
	const char *method;
	const char *bucket;
	const char *key;	/* decoded; NULL or "" for the bucket */
	const char *query;	/* encoded, without '?' */
	const void *body;
	size_t len;
	int md5;		/* send Content-MD5 and check the ETag */
	s3_write_fn fn;		/* a 2xx answer's body goes here... */
	void *arg;
	struct buf *resp;	/* ...or here */
	struct buf *etag;	/* the ETag header, without quotes */
	int use_fd;		/* the body is len bytes of fd at offset */
	int fd;
	long long offset;
};

/* The state of one attempt, shared with libcurl's callbacks. */
struct attempt {
	struct s3 *s3;
	const struct request *req;
	size_t sent;
	int delivered;		/* fn has seen bytes */
	int stopped;		/* fn returned -1 */
	struct buf body;	/* the answer (an error's XML, or resp) */
	struct buf etag;
	int kms;		/* the ETag is not an MD5 */
	double last_progress;	/* when bytes last moved (now_monotonic) */
	curl_off_t last_total;
	int stalled;		/* abandoned for lack of progress */
};

static size_t on_read(char *out, size_t size, size_t n, void *data)
{
	struct attempt *a = data;
	size_t left = a->req->len - a->sent, want = size * n;

	if (want > left)
		want = left;
	if (a->req->use_fd) {
		ssize_t got = pread(a->req->fd, out, want, a->req->offset + a->sent);

		if (got < 0 || (got == 0 && want > 0))
			return CURL_READFUNC_ABORT;
		want = (size_t)got;
	} else {
		memcpy(out, (const char *)a->req->body + a->sent, want);
	}
	a->sent += want;
	return want;
}

static int on_seek(void *data, curl_off_t offset, int origin)
{
	struct attempt *a = data;

	if (origin != SEEK_SET || offset < 0 || (size_t)offset > a->req->len)
		return CURL_SEEKFUNC_FAIL;
	a->sent = (size_t)offset;
	return CURL_SEEKFUNC_OK;
}

static size_t on_write(char *data, size_t size, size_t n, void *arg)
{
	struct attempt *a = arg;
	long status = 0;

	curl_easy_getinfo(a->s3->curl, CURLINFO_RESPONSE_CODE, &status);
	if (status >= 200 && status < 300 && a->req->fn) {
		a->delivered = 1;
		if (a->req->fn(data, size * n, a->req->arg) < 0) {
			a->stopped = 1;
			return 0;
		}
		return size * n;
	}
	if (a->body.len < (64u << 20) || (status >= 200 && status < 300))
		buf_add(&a->body, data, size * n);
	return size * n;
}

static size_t on_header(char *data, size_t size, size_t n, void *arg)
{
	struct attempt *a = arg;
	size_t len = size * n;

	if (len > 5 && !strncasecmp(data, "ETag:", 5)) {
		const char *v = data + 5, *end = data + len;

		while (v < end && (*v == ' ' || *v == '"'))
			v++;
		while (end > v && (end[-1] == '\r' || end[-1] == '\n' ||
				   end[-1] == ' ' || end[-1] == '"'))
			end--;
		buf_reset(&a->etag);
		buf_add(&a->etag, v, end - v);
	} else if (len > 29 && !strncasecmp(data, "x-amz-server-side-encryption:", 29) &&
		   strstr(data, "aws:kms")) {
		a->kms = 1;
	}
	return len;
}

/* Abandons a transfer when no byte has moved for the configured timeout
 * (libcurl's low-speed check averages over seconds and reacts late). */
static int on_progress(void *arg, curl_off_t dltotal, curl_off_t dlnow,
		       curl_off_t ultotal, curl_off_t ulnow)
{
	struct attempt *a = arg;
	long timeout = a->s3->cfg->timeout > 0 ? a->s3->cfg->timeout : DEFAULT_TIMEOUT;
	double now = now_monotonic();

	(void)dltotal;
	(void)ultotal;
	if (dlnow + ulnow != a->last_total || a->last_progress == 0) {
		a->last_total = dlnow + ulnow;
		a->last_progress = now;
	} else if (now - a->last_progress > timeout) {
		a->stalled = 1;
		return 1;
	}
	return 0;
}

/* Appends the URL's host[:port] (as libcurl sends it in Host). */
static void url_host(struct buf *out, const char *url)
{
	const char *h = strstr(url, "://"), *end;

	h = h ? h + 3 : url;
	end = h + strcspn(h, "/?");
	buf_add(out, h, end - h);
}

/* Sets url to the request's address, and path to its decoded path. */
static void build_url(struct s3 *s3, const struct request *req,
		      struct buf *url, struct buf *path)
{
	const struct s3_config *cfg = s3->cfg;
	const char *key = req->key ? req->key : "";
	int path_style = cfg->path_style || strchr(req->bucket, '.');

	buf_reset(url);
	buf_reset(path);
	if (cfg->endpoint && path_style) {
		buf_adds(url, cfg->endpoint);
	} else if (cfg->endpoint) {
		const char *h = strstr(cfg->endpoint, "://") + 3;

		buf_add(url, cfg->endpoint, h - cfg->endpoint);
		buf_addf(url, "%s.%s", req->bucket, h);
	} else if (path_style) {
		buf_addf(url, "https://s3.%s.amazonaws.com", cfg->region);
	} else {
		buf_addf(url, "https://%s.s3.%s.amazonaws.com", req->bucket, cfg->region);
	}
	if (path_style) {
		buf_addch(path, '/');
		buf_adds(path, req->bucket);
		if (*key)
			buf_addch(path, '/');
	} else {
		buf_addch(path, '/');
	}
	buf_adds(path, key);
	sigv4_uri_encode(url, path->buf, path->len, 1);
	if (req->query && *req->query)
		buf_addf(url, "?%s", req->query);
}

/* Whether an S3 error code names a condition that passes on a retry. */
static int code_is_temporary(const char *code)
{
	static const char *const codes[] = {
		"SlowDown", "RequestTimeout", "InternalError", "ServiceUnavailable",
		"Throttling", "ThrottlingException", "RequestTimeTooSkewed",
		"OperationAborted", "RequestLimitExceeded", NULL
	};
	int i;

	for (i = 0; codes[i]; i++)
		if (!strcmp(code, codes[i]))
			return 1;
	return 0;
}

/* Whether a libcurl failure is one a retry may cure (the network, a timeout). */
static int curl_is_temporary(CURLcode rc)
{
	switch (rc) {
	case CURLE_UNSUPPORTED_PROTOCOL:
	case CURLE_URL_MALFORMAT:
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_SSL_CERTPROBLEM:
	case CURLE_SSL_CIPHER:
	case CURLE_NOT_BUILT_IN:
	case CURLE_OUT_OF_MEMORY:
		return 0;
	default:
		return 1;
	}
}

/*
 * Makes one attempt.  Returns 0 on success, or -1 with s3->err set,
 * s3->temporary telling whether to retry.
 */
static int attempt_once(struct s3 *s3, const struct request *req, struct attempt *a,
			const char *payload_hash, const char *content_md5)
{
	const struct s3_config *cfg = s3->cfg;
	CURL *curl = s3->curl;
	struct buf url = BUF_INIT, path = BUF_INIT, host = BUF_INIT, auth = BUF_INIT;
	struct buf line = BUF_INIT;
	struct sigv4_header h[5];
	struct sigv4_request sr;
	struct sigv4_key key;
	struct curl_slist *headers = NULL;
	char amz_date[17], errbuf[CURL_ERROR_SIZE] = "";
	time_t now = time(NULL);
	struct tm tm;
	size_t nh = 0, i;
	CURLcode rc;
	int ret = -1;

	build_url(s3, req, &url, &path);
	url_host(&host, url.buf);
	gmtime_r(&now, &tm);
	strftime(amz_date, sizeof(amz_date), "%Y%m%dT%H%M%SZ", &tm);
	h[nh++] = (struct sigv4_header){ "host", host.buf };
	h[nh++] = (struct sigv4_header){ "x-amz-content-sha256", payload_hash };
	h[nh++] = (struct sigv4_header){ "x-amz-date", amz_date };
	if (content_md5)
		h[nh++] = (struct sigv4_header){ "content-md5", content_md5 };
	if (cfg->session_token)
		h[nh++] = (struct sigv4_header){ "x-amz-security-token", cfg->session_token };
	sr = (struct sigv4_request){ req->method, path.buf, req->query, h, nh,
				     payload_hash, 0 };
	key = (struct sigv4_key){ cfg->access_key, cfg->secret_key, cfg->region,
				  "s3", amz_date };
	sigv4_authorization(&auth, &key, &sr, NULL, NULL);

	for (i = 1; i < nh; i++) {
		buf_setf(&line, "%s: %s", h[i].name, h[i].value);
		headers = curl_slist_append(headers, line.buf);
	}
	buf_setf(&line, "Authorization: %s", auth.buf);
	headers = curl_slist_append(headers, line.buf);
	headers = curl_slist_append(headers, "Expect:");
	if (req->body || req->use_fd)
		headers = curl_slist_append(headers, "Content-Type: application/octet-stream");

	curl_easy_reset(curl);
	curl_easy_setopt(curl, CURLOPT_URL, url.buf);
	curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
	curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(curl, CURLOPT_USERAGENT, "customertrack/" CT_VERSION);
	curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, 10L);
	curl_easy_setopt(curl, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(curl, CURLOPT_XFERINFOFUNCTION, on_progress);
	curl_easy_setopt(curl, CURLOPT_XFERINFODATA, a);
	curl_easy_setopt(curl, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
	if (cfg->ca_bundle)
		curl_easy_setopt(curl, CURLOPT_CAINFO, cfg->ca_bundle);
	curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_write);
	curl_easy_setopt(curl, CURLOPT_WRITEDATA, a);
	curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(curl, CURLOPT_HEADERDATA, a);
	if (req->body && req->len <= SMALL_BODY) {
		/* Sent with the headers, in one write. */
		curl_easy_setopt(curl, CURLOPT_POSTFIELDS, req->body);
		curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->len);
		curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, req->method);
	} else if (req->body || req->use_fd) {
		curl_easy_setopt(curl, CURLOPT_UPLOAD, 1L);
		curl_easy_setopt(curl, CURLOPT_READFUNCTION, on_read);
		curl_easy_setopt(curl, CURLOPT_READDATA, a);
		curl_easy_setopt(curl, CURLOPT_SEEKFUNCTION, on_seek);
		curl_easy_setopt(curl, CURLOPT_SEEKDATA, a);
		curl_easy_setopt(curl, CURLOPT_INFILESIZE_LARGE, (curl_off_t)req->len);
		curl_easy_setopt(curl, CURLOPT_UPLOAD_BUFFERSIZE, 512L * 1024);
		if (strcmp(req->method, "PUT"))
			curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, req->method);
	} else if (!strcmp(req->method, "HEAD")) {
		curl_easy_setopt(curl, CURLOPT_NOBODY, 1L);
	} else if (strcmp(req->method, "GET")) {
		curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, req->method);
	}

	rc = curl_easy_perform(curl);
	curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &s3->status);
	s3->temporary = 0;
	if (a->stopped) {
		buf_setf(&s3->err, "%s s3://%s/%s: stopped by the receiver",
			 req->method, req->bucket, req->key ? req->key : "");
	} else if (a->stalled) {
		s3->temporary = 1;
		buf_setf(&s3->err, "RequestTimeout: no progress for %ld s",
			 cfg->timeout > 0 ? cfg->timeout : (long)DEFAULT_TIMEOUT);
	} else if (rc != CURLE_OK) {
		s3->temporary = curl_is_temporary(rc);
		buf_setf(&s3->err, "%s", *errbuf ? errbuf : curl_easy_strerror(rc));
	} else if (s3->status < 200 || s3->status > 299 ||
		   (!strcmp(req->method, "POST") && s3xml_find(a->body.buf, a->body.len,
						"Error/Code", &line, &s3->err) == 1)) {
		struct buf code = BUF_INIT, msg = BUF_INIT, perr = BUF_INIT;

		s3xml_find(a->body.buf, a->body.len, "Error/Code", &code, &perr);
		s3xml_find(a->body.buf, a->body.len, "Error/Message", &msg, &perr);
		s3->temporary = s3->status >= 500 || s3->status == 429 ||
			code_is_temporary(code.buf);
		if (code.len)
			buf_setf(&s3->err, "%s%s%s (HTTP %ld)", code.buf,
				 msg.len ? ": " : "", msg.buf, s3->status);
		else
			buf_setf(&s3->err, "HTTP %ld", s3->status);
		buf_release(&code);
		buf_release(&msg);
		buf_release(&perr);
	} else {
		ret = 0;
	}
	curl_slist_free_all(headers);
	memset(auth.buf, 0, auth.len);
	buf_release(&auth);
	buf_release(&url);
	buf_release(&path);
	buf_release(&host);
	buf_release(&line);
	return ret;
}

/* Sleeps a random time in [0, min(cap, base * 2^attempt)) ms: full jitter. */
static void backoff(int attempt)
{
	long long ceiling = (long long)BACKOFF_BASE_MS << (attempt < 20 ? attempt : 20);
	struct timespec ts;
	long ms;

	if (ceiling > BACKOFF_CAP_MS)
		ceiling = BACKOFF_CAP_MS;
	ms = (long)arc4random_uniform((uint32_t)ceiling);
	ts.tv_sec = ms / 1000;
	ts.tv_nsec = (ms % 1000) * 1000000L;
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* One digest of a file's range, computed by hash_range() (in a thread of its own). */
struct range_digest {
	const EVP_MD *md;
	int fd;
	long long offset;
	size_t len;
	unsigned char out[EVP_MAX_MD_SIZE];
	int err;		/* errno of a failed read, or -1 if the file shrank */
};

static void *hash_range(void *arg)
{
	enum { CHUNK = 1 << 20 };
	struct range_digest *r = arg;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	unsigned char *chunk = xmalloc(CHUNK);
	unsigned int n;
	size_t done = 0;

	EVP_DigestInit_ex(ctx, r->md, NULL);
	while (done < r->len) {
		size_t want = r->len - done < CHUNK ? r->len - done : CHUNK;
		ssize_t got = pread(r->fd, chunk, want, r->offset + done);

		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0) {
			r->err = got < 0 ? errno : -1;
			break;
		}
		EVP_DigestUpdate(ctx, chunk, got);
		done += got;
	}
	EVP_DigestFinal_ex(ctx, r->out, &n);
	EVP_MD_CTX_free(ctx);
	free(chunk);
	return NULL;
}

/*
 * Sets hash, md5hex and cmd5 to the SHA-256, MD5 and Content-MD5 of a body
 * read from a file; a large body is hashed by two threads at once (SHA-256
 * and MD5 each take about as long).  Returns 0 or -1 (a read error).
 */
static int digest_fd(struct s3 *s3, const struct request *req, struct buf *hash,
		     struct buf *md5hex, struct buf *cmd5)
{
	struct range_digest sha = { EVP_sha256(), req->fd, req->offset, req->len, { 0 }, 0 };
	struct range_digest m5 = { EVP_md5(), req->fd, req->offset, req->len, { 0 }, 0 };
	unsigned char b64[32];
	pthread_t t;
	int threaded = req->len >= (4u << 20) && pthread_create(&t, NULL, hash_range, &sha) == 0;

	hash_range(&m5);
	if (threaded)
		pthread_join(t, NULL);
	else
		hash_range(&sha);
	if (sha.err || m5.err) {
		int e = sha.err ? sha.err : m5.err;

		buf_setf(&s3->err, "cannot read: %s", e > 0 ? strerror(e) : "the file shrank");
		s3->temporary = 0;
		return -1;
	}
	buf_addhex(hash, sha.out, 32);
	buf_addhex(md5hex, m5.out, 16);
	EVP_EncodeBlock(b64, m5.out, 16);
	buf_adds(cmd5, (char *)b64);
	return 0;
}

/*
 * Sends req, retrying temporary failures with backoff up to max_attempts
 * times, and checks the ETag of a PUT against the MD5 of what was sent.
 */
static int perform(struct s3 *s3, const struct request *req)
{
	struct buf hash = BUF_INIT, cmd5 = BUF_INIT, md5hex = BUF_INIT;
	int max = s3->cfg->max_attempts > 0 ? s3->cfg->max_attempts : DEFAULT_ATTEMPTS;
	int n, ret = -1;

	if (req->use_fd) {
		if (digest_fd(s3, req, &hash, &md5hex, &cmd5) < 0)
			return -1;
	} else {
		sigv4_sha256_hex(&hash, req->body ? req->body : "", req->body ? req->len : 0);
		if (req->md5) {
			unsigned char d[16];

			md5(d, req->body, req->len);
			buf_addhex(&md5hex, d, 16);
			s3_content_md5(&cmd5, req->body, req->len);
		}
	}
	for (n = 0; n < max; n++) {
		struct attempt a = { s3, req, 0, 0, 0, BUF_INIT, BUF_INIT, 0, 0, 0, 0 };

		if (n > 0)
			backoff(n);
		ret = attempt_once(s3, req, &a, hash.buf, req->md5 ? cmd5.buf : NULL);
		if (ret == 0) {
			if (req->etag) {
				buf_reset(req->etag);
				buf_add(req->etag, a.etag.buf, a.etag.len);
			}
			if (req->resp) {
				buf_reset(req->resp);
				buf_add(req->resp, a.body.buf, a.body.len);
			}
			if (req->md5 && !a.kms && !s3_etag_matches(a.etag.buf, md5hex.buf)) {
				buf_setf(&s3->err, "BadDigest: the ETag '%s' is not the MD5 "
					 "'%s' of what was sent", a.etag.buf, md5hex.buf);
				s3->temporary = 0;
				ret = -1;
			}
		}
		buf_release(&a.body);
		buf_release(&a.etag);
		if (ret == 0 || !s3->temporary || a.delivered || a.stopped)
			break;
	}
	if (ret < 0 && s3->temporary && n >= max && max > 1)
		buf_addf(&s3->err, " (after %d attempts)", max);
	buf_release(&hash);
	buf_release(&cmd5);
	buf_release(&md5hex);
	return ret;
}

/* ---- the calls -------------------------------------------------------- */

struct list_state {
	s3_list_fn fn;
	void *arg;
};

int s3_list_objects(struct s3 *s3, const char *bucket, const char *prefix,
		    s3_list_fn fn, void *arg)
{
	struct buf query = BUF_INIT, token = BUF_INIT, resp = BUF_INIT, err = BUF_INIT;
	int ret = 0, truncated;

	do {
		struct request req = { .method = "GET", .bucket = bucket,
			       .resp = &resp };

		buf_setf(&query, "list-type=2");
		if (token.len) {
			buf_adds(&query, "&continuation-token=");
			sigv4_uri_encode(&query, token.buf, token.len, 0);
		}
		if (prefix && *prefix) {
			buf_adds(&query, "&prefix=");
			sigv4_uri_encode(&query, prefix, strlen(prefix), 0);
		}
		req.query = query.buf;
		if (perform(s3, &req) < 0) {
			ret = -1;
			break;
		}
		if (s3xml_list(resp.buf, resp.len, fn, arg, &truncated, &token, &err) < 0) {
			buf_setf(&s3->err, "listing s3://%s/%s: %s", bucket,
				 prefix ? prefix : "", err.buf);
			s3->temporary = 0;
			ret = -1;
			break;
		}
		if (truncated && !token.len) {
			buf_setf(&s3->err, "listing s3://%s/%s: truncated without a "
				 "continuation token", bucket, prefix ? prefix : "");
			s3->temporary = 0;
			ret = -1;
		}
	} while (ret == 0 && truncated);
	buf_release(&query);
	buf_release(&token);
	buf_release(&resp);
	buf_release(&err);
	return ret;
}

int s3_get_object(struct s3 *s3, const char *bucket, const char *key,
		  s3_write_fn fn, void *arg, struct buf *etag_out)
{
	struct request req = { .method = "GET", .bucket = bucket, .key = key, .fn = fn,
			       .arg = arg, .etag = etag_out };

	return perform(s3, &req);
}

int s3_put_object(struct s3 *s3, const char *bucket, const char *key,
		  const void *data, size_t len, struct buf *etag_out)
{
	struct request req = { .method = "PUT", .bucket = bucket, .key = key,
			       .body = data ? data : "", .len = len, .md5 = 1,
			       .etag = etag_out };

	return perform(s3, &req);
}

int s3_put_file(struct s3 *s3, const char *bucket, const char *key, int fd,
		long long offset, size_t len, struct buf *etag_out)
{
	enum { SMALL = 1 << 20 };
	struct request req = { .method = "PUT", .bucket = bucket, .key = key,
			       .len = len, .md5 = 1, .etag = etag_out, .use_fd = 1,
			       .fd = fd, .offset = offset };

	/* A small file is read once, to hash and send from memory. */
	if (len <= SMALL) {
		char *data = xmalloc(len + 1);
		size_t got = 0;
		int ret;

		while (got < len) {
			ssize_t n = pread(fd, data + got, len - got, offset + got);

			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0) {
				buf_setf(&s3->err, "cannot read: %s", n < 0 ? strerror(errno) :
					 "the file shrank");
				s3->temporary = 0;
				free(data);
				return -1;
			}
			got += n;
		}
		ret = s3_put_object(s3, bucket, key, data, len, etag_out);
		free(data);
		return ret;
	}
	return perform(s3, &req);
}

int s3_delete_object(struct s3 *s3, const char *bucket, const char *key)
{
	struct request req = { .method = "DELETE", .bucket = bucket, .key = key };

	return perform(s3, &req);
}

int s3_multipart_create(struct s3 *s3, const char *bucket, const char *key,
			struct buf *upload_id)
{
	struct buf resp = BUF_INIT, err = BUF_INIT;
	struct request req = { .method = "POST", .bucket = bucket, .key = key,
			       .query = "uploads=", .body = "", .resp = &resp };
	int ret = perform(s3, &req);

	if (ret == 0 && s3xml_find(resp.buf, resp.len,
				   "InitiateMultipartUploadResult/UploadId",
				   upload_id, &err) != 1) {
		buf_setf(&s3->err, "no UploadId in the answer to CreateMultipartUpload%s%s",
			 err.len ? ": " : "", err.buf);
		s3->temporary = 0;
		ret = -1;
	}
	buf_release(&resp);
	buf_release(&err);
	return ret;
}

/* Sets query to "partNumber=N&uploadId=ID" (or just the upload id when part is 0). */
static void upload_query(struct buf *query, int part, const char *upload_id)
{
	buf_reset(query);
	if (part > 0)
		buf_addf(query, "partNumber=%d&", part);
	buf_adds(query, "uploadId=");
	sigv4_uri_encode(query, upload_id, strlen(upload_id), 0);
}

/* Sends req to part of an upload (its query set here). */
static int perform_with_upload(struct s3 *s3, struct request *req, int part,
			       const char *upload_id)
{
	struct buf query = BUF_INIT;
	int ret;

	upload_query(&query, part, upload_id);
	req->query = query.buf;
	ret = perform(s3, req);
	buf_release(&query);
	return ret;
}

int s3_multipart_put(struct s3 *s3, const char *bucket, const char *key,
		     const char *upload_id, int part, const void *data,
		     size_t len, struct buf *etag_out)
{
	struct request req = { .method = "PUT", .bucket = bucket, .key = key,
			       .body = data ? data : "", .len = len, .md5 = 1,
			       .etag = etag_out };

	return perform_with_upload(s3, &req, part, upload_id);
}

int s3_multipart_put_file(struct s3 *s3, const char *bucket, const char *key,
			  const char *upload_id, int part, int fd, long long offset,
			  size_t len, struct buf *etag_out)
{
	struct request req = { .method = "PUT", .bucket = bucket, .key = key,
			       .len = len, .md5 = 1, .etag = etag_out, .use_fd = 1,
			       .fd = fd, .offset = offset };

	return perform_with_upload(s3, &req, part, upload_id);
}

/*
 * Sets out to the ETag S3 gives a multipart object: the hex MD5 of the
 * parts' binary MD5s, "-", the number of parts; or leaves it empty if a
 * part's ETag is not an MD5.
 */
static void multipart_etag(struct buf *out, char *const *etags, int nparts)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	unsigned char d[16];
	unsigned int n;
	int i, j;

	buf_reset(out);
	EVP_DigestInit_ex(ctx, EVP_md5(), NULL);
	for (i = 0; i < nparts; i++) {
		if (strlen(etags[i]) != 32 || strspn(etags[i], "0123456789abcdefABCDEF") != 32) {
			EVP_MD_CTX_free(ctx);
			return;
		}
		for (j = 0; j < 16; j++) {
			unsigned int byte;

			sscanf(etags[i] + 2 * j, "%2x", &byte);
			d[j] = (unsigned char)byte;
		}
		EVP_DigestUpdate(ctx, d, 16);
	}
	EVP_DigestFinal_ex(ctx, d, &n);
	EVP_MD_CTX_free(ctx);
	buf_addhex(out, d, 16);
	buf_addf(out, "-%d", nparts);
}

int s3_multipart_complete(struct s3 *s3, const char *bucket, const char *key,
			  const char *upload_id, char *const *etags,
			  int nparts, struct buf *etag_out)
{
	struct buf query = BUF_INIT, body = BUF_INIT, resp = BUF_INIT, err = BUF_INIT;
	struct buf etag = BUF_INIT, want = BUF_INIT;
	struct request req = { .method = "POST", .bucket = bucket, .key = key,
			       .resp = &resp };
	int i, ret;

	upload_query(&query, 0, upload_id);
	buf_adds(&body, "<CompleteMultipartUpload xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">");
	for (i = 0; i < nparts; i++)
		buf_addf(&body, "<Part><PartNumber>%d</PartNumber><ETag>\"%s\"</ETag></Part>",
			 i + 1, etags[i]);
	buf_adds(&body, "</CompleteMultipartUpload>");
	req.query = query.buf;
	req.body = body.buf;
	req.len = body.len;
	ret = perform(s3, &req);
	if (ret == 0 && s3xml_find(resp.buf, resp.len, "CompleteMultipartUploadResult/ETag",
				   &etag, &err) == 1) {
		const char *e = etag.buf;
		size_t n = etag.len;

		if (n >= 2 && e[0] == '"' && e[n - 1] == '"') {
			memmove(etag.buf, e + 1, n - 2);
			buf_setlen(&etag, n - 2);
		}
		multipart_etag(&want, etags, nparts);
		if (want.len && strchr(etag.buf, '-') && strcasecmp(etag.buf, want.buf)) {
			buf_setf(&s3->err, "BadDigest: the ETag '%s' is not '%s', the MD5 "
				 "of the parts' MD5s", etag.buf, want.buf);
			s3->temporary = 0;
			ret = -1;
		}
	}
	if (etag_out) {
		buf_reset(etag_out);
		buf_add(etag_out, etag.buf, etag.len);
	}
	buf_release(&etag);
	buf_release(&want);
	buf_release(&query);
	buf_release(&body);
	buf_release(&resp);
	buf_release(&err);
	return ret;
}

int s3_multipart_abort(struct s3 *s3, const char *bucket, const char *key,
		       const char *upload_id)
{
	struct request req = { .method = "DELETE", .bucket = bucket, .key = key };

	return perform_with_upload(s3, &req, 0, upload_id);
}
