#include "wh.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/select.h>
#include <time.h>

#include <sql.h>
#include <sqlext.h>

#include "sigv4.h"
#include "sqlfiles.h"
#include "util.h"

#define MAX_PARAMS 32		/* '?' markers in one statement */
#define INSERT_ROWS 2000	/* rows per execute of a bulk insert */
#define INSERT_BYTES (4 << 20)	/* and at most about so many bytes */
#define MAX_COLUMNS 32
/* The advisory lock key that serialises migrations, as pg.c's ("ctmigr"). */
#define MIGRATE_LOCK "109351702980466"
#define PG_EPOCH 946684800LL	/* 2000-01-01 in Unix time */

struct wh_result {
	PGresult *pg;		/* libpq's, or NULL */
	int rows, cols;
	char **v;		/* ODBC: rows * cols values, NULL for SQL NULL */
	size_t n, alloc;
};

/* A bulk insert under way (ODBC), or only its mark (libpq). */
struct wh_copy {
	int ncols;
	char types[MAX_COLUMNS];
	SQLHSTMT st;
	struct buf pending;	/* COPY bytes not yet parsed */
	int header_seen, trailer_seen;
	struct buf text;	/* the batch's values, each NUL-terminated */
	size_t *off;		/* per row and column: where in text */
	SQLLEN *len;		/* its length, or SQL_NULL_DATA */
	int nrows;
	char *bind;		/* the bound arrays, column after column */
	SQLLEN *ind;
};

int wh_is_odbc(const char *db)
{
	return db && !strncmp(db, "odbc:", 5);
}

struct pg *wh_libpq(struct wh *wh)
{
	return wh->driver == WH_LIBPQ ? &wh->pg : NULL;
}

/* Takes pg's last error as the warehouse's.  Returns -1. */
static int pg_failed(struct wh *wh)
{
	buf_setf(&wh->err, "%s", wh->pg.err.buf);
	wh->temporary = wh->pg.temporary;
	return -1;
}

/* ODBC SQLSTATEs that may pass on a retry: the driver's time-outs, and
 * the server's own temporary states, which psqlODBC passes through. */
static int odbc_state_temporary(const char *state)
{
	return !strcmp(state, "HYT00") || !strcmp(state, "HYT01") ||
	       pg_sqlstate_temporary(state);
}

/*
 * Records the diagnostics of handle h in wh->err, prefixed by what, and
 * classifies them by the first SQLSTATE.  Returns -1.
 */
static int odbc_fail(struct wh *wh, SQLSMALLINT type, SQLHANDLE h,
		     const char *what)
{
	SQLCHAR state[6], msg[1024], first[6] = "";
	SQLINTEGER native;
	SQLSMALLINT len, i;
	size_t start;

	buf_reset(&wh->err);
	if (what)
		buf_addf(&wh->err, "%s: ", what);
	start = wh->err.len;
	for (i = 1; h && SQLGetDiagRec(type, h, i, state, &native, msg,
				       sizeof(msg), &len) == SQL_SUCCESS; i++) {
		char *p;

		if (i == 1)
			memcpy(first, state, sizeof(first));
		/* psqlODBC's "ERROR: ...;\nError while executing the query" */
		for (p = (char *)msg; *p; p++)
			if (*p == '\n')
				*p = ' ';
		if (wh->err.len > start)
			buf_adds(&wh->err, "; ");
		buf_addf(&wh->err, "%s (SQLSTATE %s)", msg, state);
	}
	if (wh->err.len == start)
		buf_adds(&wh->err, "unknown ODBC error");
	buf_rtrim(&wh->err);
	wh->temporary = odbc_state_temporary((char *)first);
	return -1;
}

static int odbc_ok(SQLRETURN rc)
{
	return rc == SQL_SUCCESS || rc == SQL_SUCCESS_WITH_INFO;
}

static void odbc_disconnect(struct wh *wh)
{
	if (wh->dbc) {
		SQLDisconnect(wh->dbc);
		SQLFreeHandle(SQL_HANDLE_DBC, wh->dbc);
	}
	if (wh->env)
		SQLFreeHandle(SQL_HANDLE_ENV, wh->env);
	wh->dbc = wh->env = NULL;
	wh->in_transaction = 0;
}

static int odbc_connect(struct wh *wh)
{
	SQLRETURN rc;

	if (!odbc_ok(SQLAllocHandle(SQL_HANDLE_ENV, SQL_NULL_HANDLE, &wh->env)) ||
	    !odbc_ok(SQLSetEnvAttr(wh->env, SQL_ATTR_ODBC_VERSION,
				   (SQLPOINTER)SQL_OV_ODBC3, 0)) ||
	    !odbc_ok(SQLAllocHandle(SQL_HANDLE_DBC, wh->env, &wh->dbc))) {
		buf_setf(&wh->err, "cannot set up ODBC");
		wh->temporary = 0;
		return -1;
	}
	SQLSetConnectAttr(wh->dbc, SQL_ATTR_LOGIN_TIMEOUT, (SQLPOINTER)30, 0);
	rc = SQLDriverConnect(wh->dbc, NULL, (SQLCHAR *)wh->conninfo, SQL_NTS,
			      NULL, 0, NULL, SQL_DRIVER_NOPROMPT);
	if (!odbc_ok(rc)) {
		odbc_fail(wh, SQL_HANDLE_DBC, wh->dbc,
			  "cannot connect to the database");
		odbc_disconnect(wh);
		return -1;
	}
	return 0;
}

int wh_connect(struct wh *wh, const char *db)
{
	memset(wh, 0, sizeof(*wh));
	buf_init(&wh->err, 0);
	buf_init(&wh->pg.err, 0);
	if (!wh_is_odbc(db)) {
		wh->driver = WH_LIBPQ;
		return pg_connect(&wh->pg, db) < 0 ? pg_failed(wh) : 0;
	}
	wh->driver = WH_ODBC;
	wh->conninfo = xstrdup(db + 5);
	return odbc_connect(wh);
}

static void copy_free(struct wh *wh);

void wh_release(struct wh *wh)
{
	copy_free(wh);
	if (wh->driver == WH_LIBPQ)
		pg_release(&wh->pg);
	else
		odbc_disconnect(wh);
	free(wh->conninfo);
	wh->conninfo = NULL;
	buf_release(&wh->err);
}

int wh_reset(struct wh *wh)
{
	SQLUINTEGER dead = SQL_CD_FALSE;

	if (wh->driver == WH_LIBPQ) {
		if (!wh->pg.conn)
			return pg_failed(wh);
		if (PQstatus(wh->pg.conn) == CONNECTION_BAD)
			PQreset(wh->pg.conn);
		if (PQstatus(wh->pg.conn) == CONNECTION_BAD) {
			pg_fail(&wh->pg, NULL, "cannot connect to the database");
			return pg_failed(wh);
		}
		return 0;
	}
	if (wh->dbc && odbc_ok(SQLGetConnectAttr(wh->dbc, SQL_ATTR_CONNECTION_DEAD,
						 &dead, 0, NULL)) &&
	    dead == SQL_CD_FALSE)
		return 0;
	copy_free(wh);
	odbc_disconnect(wh);
	return odbc_connect(wh);
}

/* ---- statements ------------------------------------------------------ */

/* Skips a dollar-quoted body that starts at s ("$$" or "$tag$"), if any. */
static const char *skip_dollar_quote(const char *s)
{
	const char *t = s + 1, *end;
	size_t n;

	while (*t == '_' || (*t >= 'a' && *t <= 'z') || (*t >= 'A' && *t <= 'Z') ||
	       (t > s + 1 && *t >= '0' && *t <= '9'))
		t++;
	if (*t != '$')
		return NULL;
	n = (size_t)(t - s + 1);
	for (end = t + 1; (end = strchr(end, '$')); end++)
		if (!strncmp(end, s, n))
			return end + n;
	return s + strlen(s);
}

int wh_odbc_markers(const char *sql, int nparams, struct buf *out,
		    int *order, int max)
{
	const char *s = sql, *e;
	int n = 0;

	buf_reset(out);
	while (*s) {
		if (*s == '\'' || *s == '"') {
			for (e = s + 1; *e && *e != *s; e++)
				;
			e += *e != '\0';	/* '' is two strings in a row */
		} else if (s[0] == '-' && s[1] == '-') {
			e = s + strcspn(s, "\n");
		} else if (s[0] == '/' && s[1] == '*') {
			e = strstr(s + 2, "*/");
			e = e ? e + 2 : s + strlen(s);
		} else if (s[0] == '$' && s[1] >= '0' && s[1] <= '9') {
			long k = strtol(s + 1, (char **)&e, 10);

			if (k < 1 || k > nparams || n == max)
				return -1;
			order[n++] = (int)k - 1;
			buf_addch(out, '?');
			s = e;
			continue;
		} else if (*s == '$' && (e = skip_dollar_quote(s))) {
			;
		} else {
			e = s + 1;
		}
		buf_add(out, s, (size_t)(e - s));
		s = e;
	}
	return n;
}

/* Appends one value to res, NULL for SQL NULL (taken over). */
static void result_add(struct wh_result *res, char *v)
{
	if (res->n == res->alloc) {
		res->alloc = res->alloc ? 2 * res->alloc : 64;
		res->v = xrealloc(res->v, res->alloc * sizeof(*res->v));
	}
	res->v[res->n++] = v;
}

/* Frees the values of res and leaves it empty. */
static void result_clear(struct wh_result *res)
{
	size_t i;

	for (i = 0; i < res->n; i++)
		free(res->v[i]);
	res->n = 0;
	res->rows = res->cols = 0;
}

/* Reads column col of the current row as text; *v NULL for NULL. */
static SQLRETURN odbc_get_text(SQLHSTMT st, SQLUSMALLINT col, char **v)
{
	struct buf b = BUF_INIT;
	char chunk[4096];
	SQLLEN ind;
	SQLRETURN rc;

	*v = NULL;
	for (;;) {
		rc = SQLGetData(st, col, SQL_C_CHAR, chunk, sizeof(chunk), &ind);
		if (rc == SQL_NO_DATA)
			break;
		if (!odbc_ok(rc)) {
			buf_release(&b);
			return rc;
		}
		if (ind == SQL_NULL_DATA) {
			buf_release(&b);
			return SQL_SUCCESS;
		}
		if (ind == SQL_NO_TOTAL || ind >= (SQLLEN)sizeof(chunk)) {
			buf_add(&b, chunk, sizeof(chunk) - 1);
			continue;
		}
		buf_add(&b, chunk, (size_t)ind);
		if (rc == SQL_SUCCESS)
			break;
	}
	*v = buf_detach(&b, NULL);
	return SQL_SUCCESS;
}

/* Fetches every row of the statement's current result into res. */
static int odbc_fetch(struct wh *wh, SQLHSTMT st, struct wh_result *res)
{
	SQLSMALLINT ncols;
	SQLRETURN rc;
	int c;

	if (!odbc_ok(SQLNumResultCols(st, &ncols)) || ncols <= 0)
		return 0;
	result_clear(res);
	res->cols = ncols;
	while (odbc_ok(rc = SQLFetch(st))) {
		for (c = 0; c < ncols; c++) {
			char *v;

			if (!odbc_ok(odbc_get_text(st, (SQLUSMALLINT)(c + 1), &v)))
				return odbc_fail(wh, SQL_HANDLE_STMT, st, NULL);
			result_add(res, v);
		}
		res->rows++;
	}
	if (rc != SQL_NO_DATA)
		return odbc_fail(wh, SQL_HANDLE_STMT, st, NULL);
	return 0;
}

/*
 * Runs sql through ODBC with its parameters; keeps the rows of the last
 * result that has columns.  Returns the result or NULL.
 */
static struct wh_result *odbc_run(struct wh *wh, const char *sql, int nparams,
				  const char *const *params)
{
	struct wh_result *res = xcalloc(1, sizeof(*res));
	struct buf text = BUF_INIT;
	int order[MAX_PARAMS], n = 0, k;
	SQLLEN ind[MAX_PARAMS];
	SQLHSTMT st = NULL;
	SQLRETURN rc;

	if (nparams > 0) {
		n = wh_odbc_markers(sql, nparams, &text, order, MAX_PARAMS);
		if (n < 0) {
			buf_setf(&wh->err, "bad parameters in '%.40s...'", sql);
			wh->temporary = 0;
			goto fail;
		}
		sql = text.buf;
	}
	if (!odbc_ok(SQLAllocHandle(SQL_HANDLE_STMT, wh->dbc, &st))) {
		odbc_fail(wh, SQL_HANDLE_DBC, wh->dbc, NULL);
		st = NULL;
		goto fail;
	}
	for (k = 0; k < n; k++) {
		const char *p = params[order[k]];
		SQLULEN size = p && *p ? strlen(p) : 1;

		ind[k] = p ? SQL_NTS : SQL_NULL_DATA;
		if (!odbc_ok(SQLBindParameter(st, (SQLUSMALLINT)(k + 1),
					      SQL_PARAM_INPUT, SQL_C_CHAR,
					      SQL_VARCHAR, size, 0, (SQLPOINTER)p,
					      0, &ind[k]))) {
			odbc_fail(wh, SQL_HANDLE_STMT, st, NULL);
			goto fail;
		}
	}
	rc = SQLExecDirect(st, (SQLCHAR *)sql, SQL_NTS);
	while (rc != SQL_NO_DATA) {
		if (!odbc_ok(rc)) {
			odbc_fail(wh, SQL_HANDLE_STMT, st, NULL);
			goto fail;
		}
		if (odbc_fetch(wh, st, res) < 0)
			goto fail;
		rc = SQLMoreResults(st);
	}
	SQLFreeHandle(SQL_HANDLE_STMT, st);
	buf_release(&text);
	return res;
fail:
	if (st)
		SQLFreeHandle(SQL_HANDLE_STMT, st);
	buf_release(&text);
	wh_result_free(res);
	return NULL;
}

int wh_exec(struct wh *wh, const char *sql)
{
	struct wh_result *res;

	if (wh->driver == WH_LIBPQ)
		return pg_exec(&wh->pg, sql) < 0 ? pg_failed(wh) : 0;
	res = odbc_run(wh, sql, 0, NULL);
	if (!res)
		return -1;
	wh_result_free(res);
	return 0;
}

struct wh_result *wh_query(struct wh *wh, const char *sql, int nparams,
			   const char *const *params)
{
	struct wh_result *res;
	PGresult *q;

	if (wh->driver == WH_ODBC)
		return odbc_run(wh, sql, nparams, params);
	q = pg_query(&wh->pg, sql, nparams, params);
	if (!q) {
		pg_failed(wh);
		return NULL;
	}
	res = xcalloc(1, sizeof(*res));
	res->pg = q;
	res->rows = PQntuples(q);
	res->cols = PQnfields(q);
	return res;
}

int wh_result_rows(const struct wh_result *res)
{
	return res->rows;
}

int wh_result_cols(const struct wh_result *res)
{
	return res->cols;
}

const char *wh_value(const struct wh_result *res, int row, int col)
{
	if (row < 0 || row >= res->rows || col < 0 || col >= res->cols)
		return NULL;
	if (res->pg)
		return PQgetisnull(res->pg, row, col) ? NULL :
			PQgetvalue(res->pg, row, col);
	return res->v[(size_t)row * (size_t)res->cols + (size_t)col];
}

int wh_true(const char *value)
{
	return value && (value[0] == 't' || value[0] == '1');
}

void wh_result_free(struct wh_result *res)
{
	if (!res)
		return;
	if (res->pg)
		PQclear(res->pg);
	result_clear(res);
	free(res->v);
	free(res);
}

void wh_quote_literal(struct buf *b, const char *s)
{
	buf_addquoted(b, s, '\'');
}

/* ---- transactions and migrations --------------------------------------- */

/* Sets ODBC's autocommit on or off.  Returns 0 or -1. */
static int odbc_autocommit(struct wh *wh, int on)
{
	if (!odbc_ok(SQLSetConnectAttr(wh->dbc, SQL_ATTR_AUTOCOMMIT,
				       (SQLPOINTER)(uintptr_t)(on ? SQL_AUTOCOMMIT_ON :
							       SQL_AUTOCOMMIT_OFF), 0)))
		return odbc_fail(wh, SQL_HANDLE_DBC, wh->dbc, NULL);
	wh->in_transaction = !on;
	return 0;
}

int wh_begin(struct wh *wh)
{
	if (wh->driver == WH_LIBPQ)
		return wh_exec(wh, "BEGIN");
	return odbc_autocommit(wh, 0);
}

int wh_commit(struct wh *wh)
{
	if (wh->driver == WH_LIBPQ)
		return wh_exec(wh, "COMMIT");
	if (!odbc_ok(SQLEndTran(SQL_HANDLE_DBC, wh->dbc, SQL_COMMIT))) {
		odbc_fail(wh, SQL_HANDLE_DBC, wh->dbc, "COMMIT failed");
		SQLEndTran(SQL_HANDLE_DBC, wh->dbc, SQL_ROLLBACK);
		odbc_autocommit(wh, 1);
		return -1;
	}
	return odbc_autocommit(wh, 1);
}

void wh_rollback(struct wh *wh)
{
	PGresult *res;

	copy_free(wh);
	if (wh->driver == WH_ODBC) {
		if (wh->dbc && wh->in_transaction) {
			SQLEndTran(SQL_HANDLE_DBC, wh->dbc, SQL_ROLLBACK);
			SQLSetConnectAttr(wh->dbc, SQL_ATTR_AUTOCOMMIT,
					  (SQLPOINTER)SQL_AUTOCOMMIT_ON, 0);
			wh->in_transaction = 0;
		}
		return;
	}
	if (PQtransactionStatus(wh->pg.conn) == PQTRANS_ACTIVE) {
		PQputCopyEnd(wh->pg.conn, "cancelled");
		while ((res = PQgetResult(wh->pg.conn)))
			PQclear(res);
	}
	PQclear(PQexec(wh->pg.conn, "ROLLBACK"));
}

/* Applies one migration file unless it is recorded; checks it if it is. */
static int apply_migration(struct wh *wh, const struct sql_file *f)
{
	struct buf sum = BUF_INIT;
	const char *params[2];
	struct wh_result *res;
	const char *applied;
	int ret = -1;

	sigv4_sha256_hex(&sum, f->text, strlen(f->text));
	params[0] = f->name;
	params[1] = sum.buf;
	res = wh_query(wh, "SELECT checksum FROM schema_migrations WHERE name = $1",
		       1, params);
	if (!res)
		goto out;
	applied = wh_value(res, 0, 0);
	if (applied && strcmp(applied, sum.buf)) {
		buf_setf(&wh->err, "migration '%s' was changed after it was "
			 "applied (checksum differs); add a new file instead",
			 f->name);
		wh->temporary = 0;
	} else if (applied) {
		ret = 0;
	} else if (wh_exec(wh, f->text) < 0) {
		char *msg = xstrdup(wh->err.buf);

		buf_setf(&wh->err, "migration '%s': %s", f->name, msg);
		free(msg);
	} else {
		wh_result_free(res);
		res = wh_query(wh, "INSERT INTO schema_migrations (name, checksum)"
			       " VALUES ($1, $2)", 2, params);
		ret = res ? 0 : -1;
	}
out:
	wh_result_free(res);
	buf_release(&sum);
	return ret;
}

int wh_migrate(struct wh *wh)
{
	const struct sql_file *f;

	if (wh_exec(wh, "SELECT pg_advisory_lock(" MIGRATE_LOCK ")") < 0)
		return -1;
	if (wh_exec(wh, "CREATE TABLE IF NOT EXISTS schema_migrations ("
		    " name text PRIMARY KEY, checksum text NOT NULL,"
		    " applied_at timestamptz NOT NULL DEFAULT now())") < 0)
		goto fail;
	for (f = sql_files_postgres; f->name; f++) {
		if (wh_begin(wh) < 0)
			goto fail;
		if (apply_migration(wh, f) < 0) {
			wh_rollback(wh);
			goto fail;
		}
		if (wh_commit(wh) < 0)
			goto fail;
	}
	return wh_exec(wh, "SELECT pg_advisory_unlock(" MIGRATE_LOCK ")");
fail:
	{
		struct buf keep = BUF_INIT;
		int temporary = wh->temporary;

		buf_adds(&keep, wh->err.buf);
		wh_exec(wh, "SELECT pg_advisory_unlock(" MIGRATE_LOCK ")");
		buf_setf(&wh->err, "%s", keep.buf);
		wh->temporary = temporary;
		buf_release(&keep);
	}
	return -1;
}

/* ---- bulk insert ------------------------------------------------------- */

static void copy_free(struct wh *wh)
{
	struct wh_copy *c = wh->copy;

	if (!c)
		return;
	if (c->st)
		SQLFreeHandle(SQL_HANDLE_STMT, c->st);
	buf_release(&c->pending);
	buf_release(&c->text);
	free(c->off);
	free(c->len);
	free(c->bind);
	free(c->ind);
	free(c);
	wh->copy = NULL;
}

/* The SQL type a column of the given letter is cast to. */
static const char *copy_type_name(char type)
{
	return type == 'i' ? "bigint" : type == 'z' ? "timestamptz" : "text";
}

int wh_copy_begin(struct wh *wh, const char *before, const char *table,
		  const char *columns, const char *types)
{
	struct buf sql = BUF_INIT;
	struct wh_copy *c;
	size_t i;

	copy_free(wh);
	if (wh->driver == WH_LIBPQ) {
		PGresult *res;
		int ok;

		buf_addf(&sql, "%s%sCOPY %s (%s) FROM STDIN (FORMAT binary)",
			 before ? before : "", before ? "; " : "", table, columns);
		res = PQexec(wh->pg.conn, sql.buf);
		buf_release(&sql);
		ok = PQresultStatus(res) == PGRES_COPY_IN;
		if (!ok)
			pg_fail(&wh->pg, res, NULL);
		PQclear(res);
		if (!ok)
			return pg_failed(wh);
		wh->copy = xcalloc(1, sizeof(*wh->copy));
		return 0;
	}
	if (strlen(types) > MAX_COLUMNS) {
		buf_setf(&wh->err, "too many columns for a bulk insert");
		wh->temporary = 0;
		return -1;
	}
	if (before && wh_exec(wh, before) < 0)
		return -1;
	c = wh->copy = xcalloc(1, sizeof(*c));
	c->ncols = (int)strlen(types);
	memcpy(c->types, types, (size_t)c->ncols);
	buf_init(&c->pending, 0);
	buf_init(&c->text, 0);
	c->off = xmalloc(INSERT_ROWS * (size_t)c->ncols * sizeof(*c->off));
	c->len = xmalloc(INSERT_ROWS * (size_t)c->ncols * sizeof(*c->len));
	c->ind = xmalloc(INSERT_ROWS * (size_t)c->ncols * sizeof(*c->ind));
	buf_addf(&sql, "INSERT INTO %s (%s) VALUES (", table, columns);
	for (i = 0; types[i]; i++)
		buf_addf(&sql, "%sCAST(? AS %s)", i ? ", " : "",
			 copy_type_name(types[i]));
	buf_addch(&sql, ')');
	if (!odbc_ok(SQLAllocHandle(SQL_HANDLE_STMT, wh->dbc, &c->st))) {
		c->st = NULL;
		odbc_fail(wh, SQL_HANDLE_DBC, wh->dbc, NULL);
		goto fail;
	}
	if (!odbc_ok(SQLPrepare(c->st, (SQLCHAR *)sql.buf, SQL_NTS))) {
		odbc_fail(wh, SQL_HANDLE_STMT, c->st, NULL);
		goto fail;
	}
	buf_release(&sql);
	return 0;
fail:
	buf_release(&sql);
	copy_free(wh);
	return -1;
}

/* Sends the rows of the batch in one execute, bound column after column. */
static int copy_flush(struct wh *wh)
{
	struct wh_copy *c = wh->copy;
	size_t width[MAX_COLUMNS], at[MAX_COLUMNS], total = 0;
	int r, k, n = c->ncols;

	if (!c->nrows)
		return 0;
	for (k = 0; k < n; k++) {
		width[k] = 2;
		for (r = 0; r < c->nrows; r++)
			if (c->len[r * n + k] >= (SQLLEN)width[k])
				width[k] = (size_t)c->len[r * n + k] + 1;
		at[k] = total;
		total += width[k] * (size_t)c->nrows;
	}
	free(c->bind);
	c->bind = xmalloc(total);
	SQLFreeStmt(c->st, SQL_RESET_PARAMS);
	SQLSetStmtAttr(c->st, SQL_ATTR_PARAM_BIND_TYPE,
		       (SQLPOINTER)SQL_PARAM_BIND_BY_COLUMN, 0);
	SQLSetStmtAttr(c->st, SQL_ATTR_PARAMSET_SIZE,
		       (SQLPOINTER)(uintptr_t)c->nrows, 0);
	for (k = 0; k < n; k++) {
		char *col = c->bind + at[k];
		SQLLEN *ind = c->ind + (size_t)k * INSERT_ROWS;

		for (r = 0; r < c->nrows; r++) {
			SQLLEN len = c->len[r * n + k];

			ind[r] = len;
			if (len != SQL_NULL_DATA)
				memcpy(col + (size_t)r * width[k],
				       c->text.buf + c->off[r * n + k],
				       (size_t)len + 1);
		}
		if (!odbc_ok(SQLBindParameter(c->st, (SQLUSMALLINT)(k + 1),
					      SQL_PARAM_INPUT, SQL_C_CHAR,
					      SQL_VARCHAR, width[k] - 1, 0, col,
					      (SQLLEN)width[k], ind)))
			return odbc_fail(wh, SQL_HANDLE_STMT, c->st, NULL);
	}
	if (!odbc_ok(SQLExecute(c->st)))
		return odbc_fail(wh, SQL_HANDLE_STMT, c->st, NULL);
	c->nrows = 0;
	buf_reset(&c->text);
	return 0;
}

static uint32_t get_be32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	       (uint32_t)p[2] << 8 | p[3];
}

/* Puts a binary COPY field of the given type in the batch as text, at i. */
static void copy_add_value(struct wh_copy *c, size_t i, char type,
			   const unsigned char *p, uint32_t len)
{
	char tmp[64];

	c->off[i] = c->text.len;
	if (type == 't' || len != 8) {
		buf_add(&c->text, p, len);
	} else {
		int64_t v = (int64_t)((uint64_t)get_be32(p) << 32 | get_be32(p + 4));

		if (type == 'i') {
			snprintf(tmp, sizeof(tmp), "%lld", (long long)v);
		} else if (v == INT64_MAX || v == INT64_MIN) {
			snprintf(tmp, sizeof(tmp), "%sinfinity", v < 0 ? "-" : "");
		} else {
			int64_t us = v % 1000000;
			time_t secs = (time_t)(v / 1000000 + PG_EPOCH);
			struct tm tm;

			if (us < 0)
				us += 1000000, secs--;
			gmtime_r(&secs, &tm);
			snprintf(tmp, sizeof(tmp), "%04d-%02d-%02d %02d:%02d:%02d.%06lld+00",
				 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
				 tm.tm_hour, tm.tm_min, tm.tm_sec, (long long)us);
		}
		buf_adds(&c->text, tmp);
	}
	c->len[i] = (SQLLEN)(c->text.len - c->off[i]);
	buf_addch(&c->text, '\0');
}

/*
 * Parses the complete tuples in c->pending into the batch, flushing it
 * when full.  Returns 0 or -1.
 */
static int copy_parse(struct wh *wh)
{
	struct wh_copy *c = wh->copy;
	const unsigned char *p = (const unsigned char *)c->pending.buf;
	size_t pos = 0, end = c->pending.len;
	int k;

	if (!c->header_seen) {
		if (end < 19)
			return 0;
		if (memcmp(p, "PGCOPY\n\377\r\n\0", 11))
			goto bad;
		pos = 19 + get_be32(p + 15);
		c->header_seen = 1;
	}
	while (!c->trailer_seen && pos + 2 <= end) {
		int16_t nf = (int16_t)(p[pos] << 8 | p[pos + 1]);
		size_t q = pos + 2, base = (size_t)c->nrows * (size_t)c->ncols;

		if (nf == -1) {
			c->trailer_seen = 1;
			pos += 2;
			break;
		}
		if (nf != c->ncols)
			goto bad;
		for (k = 0; k < nf; k++) {	/* is the whole tuple here? */
			uint32_t len;

			if (q + 4 > end)
				goto partial;
			len = get_be32(p + q);
			q += 4 + (len == 0xffffffffu ? 0 : len);
			if (q > end)
				goto partial;
		}
		q = pos + 2;
		for (k = 0; k < nf; k++) {
			uint32_t len = get_be32(p + q);

			q += 4;
			if (len == 0xffffffffu) {
				c->len[base + (size_t)k] = SQL_NULL_DATA;
				c->off[base + (size_t)k] = 0;
				continue;
			}
			copy_add_value(c, base + (size_t)k, c->types[k], p + q, len);
			q += len;
		}
		pos = q;
		if (++c->nrows == INSERT_ROWS || c->text.len >= INSERT_BYTES) {
			if (copy_flush(wh) < 0)
				return -1;
			p = (const unsigned char *)c->pending.buf;
		}
	}
partial:
	memmove(c->pending.buf, c->pending.buf + pos, end - pos);
	buf_setlen(&c->pending, end - pos);
	return 0;
bad:
	buf_setf(&wh->err, "malformed bulk insert data");
	wh->temporary = 0;
	return -1;
}

int wh_copy_put(struct wh *wh, const char *data, size_t len)
{
	if (!wh->copy) {
		buf_setf(&wh->err, "no bulk insert under way");
		wh->temporary = 0;
		return -1;
	}
	if (wh->driver == WH_LIBPQ) {
		if (PQputCopyData(wh->pg.conn, data, (int)len) != 1) {
			pg_fail(&wh->pg, NULL, "cannot send COPY data");
			return pg_failed(wh);
		}
		return 0;
	}
	buf_add(&wh->copy->pending, data, len);
	return copy_parse(wh);
}

int wh_copy_end(struct wh *wh, const char *why)
{
	PGresult *res;
	int ok;

	if (wh->driver == WH_ODBC) {
		ok = why || (wh->copy && copy_flush(wh) == 0);
		if (ok && !why && wh->copy->pending.len) {
			buf_setf(&wh->err, "bulk insert data ends in a partial row");
			wh->temporary = 0;
			ok = 0;
		}
		copy_free(wh);
		return ok ? 0 : -1;
	}
	copy_free(wh);
	if (PQputCopyEnd(wh->pg.conn, why) != 1) {
		pg_fail(&wh->pg, NULL, "cannot end COPY");
		return pg_failed(wh);
	}
	res = PQgetResult(wh->pg.conn);
	ok = PQresultStatus(res) == PGRES_COMMAND_OK;
	if (!ok && !why) {
		pg_fail(&wh->pg, res, "COPY failed");
		pg_failed(wh);
	}
	PQclear(res);
	while ((res = PQgetResult(wh->pg.conn)))
		PQclear(res);
	return ok ? 0 : -1;
}

/* ---- notifications ------------------------------------------------------ */

int wh_listen(struct wh *wh, const char *channel)
{
	struct buf sql = BUF_INIT;
	int ret;

	if (wh->driver == WH_ODBC)
		return 0;
	buf_adds(&sql, "LISTEN ");
	pg_quote_ident(&sql, channel);
	ret = wh_exec(wh, sql.buf);
	buf_release(&sql);
	return ret;
}

/* Takes the notifications libpq has received; returns how many. */
static int take_notifies(struct pg *pg)
{
	PGnotify *n;
	int count = 0;

	while ((n = PQnotifies(pg->conn))) {
		PQfreemem(n);
		count++;
	}
	return count;
}

int wh_wait(struct wh *wh, double secs)
{
	struct timeval tv;
	struct timespec ts;
	fd_set fds;
	int fd;

	if (wh->driver == WH_ODBC) {
		ts.tv_sec = (time_t)secs;
		ts.tv_nsec = (long)((secs - (double)ts.tv_sec) * 1e9);
		nanosleep(&ts, NULL);	/* a signal ends it early */
		return 0;
	}
	if (!PQconsumeInput(wh->pg.conn)) {
		pg_fail(&wh->pg, NULL, "lost the database connection");
		return pg_failed(wh);
	}
	if (take_notifies(&wh->pg) > 0)
		return 0;
	fd = PQsocket(wh->pg.conn);
	tv.tv_sec = (time_t)secs;
	tv.tv_usec = (suseconds_t)((secs - (double)tv.tv_sec) * 1e6);
	FD_ZERO(&fds);
	FD_SET(fd, &fds);
	if (select(fd + 1, &fds, NULL, NULL, &tv) < 0 && errno != EINTR) {
		buf_setf(&wh->err, "cannot wait for the database: %s", strerror(errno));
		wh->temporary = 1;
		return -1;
	}
	if (!PQconsumeInput(wh->pg.conn)) {
		pg_fail(&wh->pg, NULL, "lost the database connection");
		return pg_failed(wh);
	}
	take_notifies(&wh->pg);
	return 0;
}
