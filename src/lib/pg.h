/*
 * PostgreSQL through libpq: connecting, running SQL, and errors that know
 * whether they are temporary (exit 75) or permanent (exit 1).
 */
#ifndef PG_H
#define PG_H

#include <libpq-fe.h>

#include "buf.h"

struct pg {
	PGconn *conn;
	struct buf err;		/* the last error, without a final newline */
	int temporary;		/* whether the last error may pass on a retry */
};

/*
 * Connects with a libpq URI or key=value string; NULL or "" uses libpq's
 * defaults and the PG* variables.  Returns 0 or -1 (see pg->err).
 */
int pg_connect(struct pg *pg, const char *conninfo);
/* Closes the connection and frees what pg holds. */
void pg_release(struct pg *pg);

/* Runs SQL that returns no rows.  Returns 0 or -1. */
int pg_exec(struct pg *pg, const char *sql);
/*
 * Runs a query with text parameters (NULL for SQL NULL) and returns its
 * result, which the caller frees with PQclear(), or NULL on error.
 */
PGresult *pg_query(struct pg *pg, const char *sql, int nparams,
		   const char *const *params);

/*
 * Records the error of a failed result (or of the connection when res is
 * NULL) in pg->err, prefixed by what, and classifies it.  Returns -1.
 */
int pg_fail(struct pg *pg, const PGresult *res, const char *what);

/*
 * Whether a server's SQLSTATE may pass on a retry: connection exceptions
 * (08), insufficient resources (53), serialization failures, deadlocks,
 * lock timeouts, shutdowns, cancels; NULL (no answer at all) too.
 */
int pg_sqlstate_temporary(const char *state);

/* Appends s to b as a quoted SQL identifier ("a""b"). */
void pg_quote_ident(struct buf *b, const char *s);

#endif
