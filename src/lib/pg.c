#include "pg.h"

#include <string.h>

#include <openssl/evp.h>

#include "sqlfiles.h"
#include "util.h"

/* The advisory lock key that serialises migrations ("ctmigr"). */
#define MIGRATE_LOCK 0x63746d696772LL

/* SQLSTATE classes and codes that may pass on a retry. */
static int sqlstate_temporary(const char *state)
{
	static const char *const codes[] = {
		"40001", "40P01", "55P03", "57P01", "57P02", "57P03", "57014", NULL
	};
	int i;

	if (!state)
		return 1;	/* no server answer at all: the connection broke */
	if (!strncmp(state, "08", 2) || !strncmp(state, "53", 2))
		return 1;
	for (i = 0; codes[i]; i++)
		if (!strcmp(state, codes[i]))
			return 1;
	return 0;
}

int pg_fail(struct pg *pg, const PGresult *res, const char *what)
{
	const char *msg, *state = NULL;

	buf_reset(&pg->err);
	if (what)
		buf_addf(&pg->err, "%s: ", what);
	if (res && PQresultErrorMessage(res)[0]) {
		msg = PQresultErrorMessage(res);
		state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
	} else {
		msg = pg->conn ? PQerrorMessage(pg->conn) : "no connection";
	}
	buf_adds(&pg->err, msg);
	buf_rtrim(&pg->err);
	pg->temporary = sqlstate_temporary(state) ||
		(pg->conn && PQstatus(pg->conn) == CONNECTION_BAD);
	return -1;
}

int pg_connect(struct pg *pg, const char *conninfo)
{
	buf_init(&pg->err, 0);
	pg->temporary = 0;
	pg->conn = PQconnectdb(conninfo ? conninfo : "");
	if (PQstatus(pg->conn) != CONNECTION_OK) {
		pg_fail(pg, NULL, "cannot connect to the database");
		pg->temporary = 1;
		return -1;
	}
	return pg_exec(pg, "SET client_min_messages = warning");
}

void pg_release(struct pg *pg)
{
	if (pg->conn)
		PQfinish(pg->conn);
	pg->conn = NULL;
	buf_release(&pg->err);
}

int pg_exec(struct pg *pg, const char *sql)
{
	PGresult *res = PQexec(pg->conn, sql);
	int ok = PQresultStatus(res) == PGRES_COMMAND_OK ||
		 PQresultStatus(res) == PGRES_TUPLES_OK;

	if (!ok)
		pg_fail(pg, res, NULL);
	PQclear(res);
	return ok ? 0 : -1;
}

PGresult *pg_query(struct pg *pg, const char *sql, int nparams,
		   const char *const *params)
{
	PGresult *res = PQexecParams(pg->conn, sql, nparams, NULL, params,
				     NULL, NULL, 0);

	if (PQresultStatus(res) == PGRES_COMMAND_OK ||
	    PQresultStatus(res) == PGRES_TUPLES_OK)
		return res;
	pg_fail(pg, res, NULL);
	PQclear(res);
	return NULL;
}

void pg_quote_ident(struct buf *b, const char *s)
{
	buf_addch(b, '"');
	for (; *s; s++) {
		if (*s == '"')
			buf_addch(b, '"');
		buf_addch(b, *s);
	}
	buf_addch(b, '"');
}

static void sha256_hex(const char *text, char out[65])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int n = 0, i;

	EVP_Digest(text, strlen(text), md, &n, EVP_sha256(), NULL);
	for (i = 0; i < n && i < 32; i++)
		sprintf(out + 2 * i, "%02x", md[i]);
	out[64] = '\0';
}

/* Applies one migration file unless it is recorded; checks it if it is. */
static int apply_migration(struct pg *pg, const struct sql_file *f)
{
	const char *params[2];
	char sum[65];
	PGresult *res;
	int applied;

	sha256_hex(f->text, sum);
	params[0] = f->name;
	res = pg_query(pg, "SELECT checksum FROM schema_migrations WHERE name = $1",
		       1, params);
	if (!res)
		return -1;
	applied = PQntuples(res) > 0;
	if (applied && strcmp(PQgetvalue(res, 0, 0), sum)) {
		PQclear(res);
		buf_setf(&pg->err, "migration '%s' was changed after it was "
			 "applied (checksum differs); add a new file instead",
			 f->name);
		pg->temporary = 0;
		return -1;
	}
	PQclear(res);
	if (applied)
		return 0;
	if (pg_exec(pg, f->text) < 0) {
		char *msg = xstrdup(pg->err.buf);

		buf_setf(&pg->err, "migration '%s': %s", f->name, msg);
		free(msg);
		return -1;
	}
	params[1] = sum;
	res = pg_query(pg, "INSERT INTO schema_migrations (name, checksum) "
		       "VALUES ($1, $2)", 2, params);
	if (!res)
		return -1;
	PQclear(res);
	return 0;
}

int pg_migrate(struct pg *pg)
{
	const struct sql_file *f;
	char lock[64];

	snprintf(lock, sizeof(lock), "SELECT pg_advisory_lock(%lld)", MIGRATE_LOCK);
	if (pg_exec(pg, lock) < 0)
		return -1;
	if (pg_exec(pg, "CREATE TABLE IF NOT EXISTS schema_migrations ("
		    " name text PRIMARY KEY, checksum text NOT NULL,"
		    " applied_at timestamptz NOT NULL DEFAULT now())") < 0)
		goto fail;
	for (f = sql_files_postgres; f->name; f++) {
		if (pg_exec(pg, "BEGIN") < 0)
			goto fail;
		if (apply_migration(pg, f) < 0) {
			PQclear(PQexec(pg->conn, "ROLLBACK"));
			goto fail;
		}
		if (pg_exec(pg, "COMMIT") < 0)
			goto fail;
	}
	snprintf(lock, sizeof(lock), "SELECT pg_advisory_unlock(%lld)", MIGRATE_LOCK);
	return pg_exec(pg, lock);
fail:
	snprintf(lock, sizeof(lock), "SELECT pg_advisory_unlock(%lld)", MIGRATE_LOCK);
	PQclear(PQexec(pg->conn, lock));
	return -1;
}
