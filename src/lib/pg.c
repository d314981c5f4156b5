#include "pg.h"

#include <string.h>

#include "util.h"

int pg_sqlstate_temporary(const char *state)
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
	pg->temporary = pg_sqlstate_temporary(state) ||
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
	buf_addquoted(b, s, '"');
}
