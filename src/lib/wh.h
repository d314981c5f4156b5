/*
 * The warehouse: one interface to the database the programs write into,
 * with two drivers chosen by the --db string.  A string starting with
 * "odbc:" is an ODBC connection string (unixODBC: "DSN=name" or
 * "Driver=...;Server=...;..."); anything else is a libpq URI or key=value
 * string, and goes to src/lib/pg.c.
 *
 * SQL is PostgreSQL's, with parameters written $1, $2, ... in both
 * drivers (ODBC gets them as '?' markers).  A parameter is text, NULL for
 * SQL NULL; cast it in the SQL ($1::bigint) where the column is not text.
 * Errors are kept in wh->err, with whether they are temporary (exit 75):
 * for ODBC, SQLSTATE class 08, HYT00 and HYT01 and the server's own
 * retryable codes.
 *
 * What only one driver has: libpq has LISTEN/NOTIFY (ODBC polls) and the
 * connection itself for COPY's fast path (wh->pg); see wh_libpq().
 */
#ifndef WH_H
#define WH_H

#include <stddef.h>

#include "buf.h"
#include "pg.h"

enum wh_driver { WH_LIBPQ, WH_ODBC };

struct wh_copy;
struct wh_result;

struct wh {
	enum wh_driver driver;
	struct pg pg;		/* WH_LIBPQ: the connection */
	void *env, *dbc;	/* WH_ODBC: SQLHENV and SQLHDBC */
	char *conninfo;		/* WH_ODBC: the string after "odbc:" */
	struct buf err;		/* the last error, without a final newline */
	int temporary;		/* whether the last error may pass on a retry */
	int in_transaction;	/* WH_ODBC: autocommit is off */
	struct wh_copy *copy;	/* a bulk insert under way, or NULL */
};

/*
 * Connects to db (see above); NULL or "" is libpq with its defaults and
 * PG* variables.  Returns 0 or -1 (wh->err); wh_release() it either way.
 */
int wh_connect(struct wh *wh, const char *db);
/* Closes the connection and frees what wh holds. */
void wh_release(struct wh *wh);
/* Whether db names the ODBC driver. */
int wh_is_odbc(const char *db);
/* The libpq connection, or NULL with the ODBC driver. */
struct pg *wh_libpq(struct wh *wh);
/* Reconnects when the connection broke.  Returns 0 or -1. */
int wh_reset(struct wh *wh);

/* Runs SQL without parameters that returns no rows.  Returns 0 or -1. */
int wh_exec(struct wh *wh, const char *sql);
/*
 * Runs a statement with text parameters ($1 ... $nparams, NULL for SQL
 * NULL) and returns its rows, which the caller frees with
 * wh_result_free(), or NULL on error.
 */
struct wh_result *wh_query(struct wh *wh, const char *sql, int nparams,
			   const char *const *params);
int wh_result_rows(const struct wh_result *res);
int wh_result_cols(const struct wh_result *res);
/* A value as text, or NULL for SQL NULL; owned by res. */
const char *wh_value(const struct wh_result *res, int row, int col);
/* Whether a boolean value is true: libpq says "t", psqlODBC "1". */
int wh_true(const char *value);
void wh_result_free(struct wh_result *res);

/* Transactions.  wh_rollback() also ends a bulk insert under way. */
int wh_begin(struct wh *wh);
int wh_commit(struct wh *wh);
void wh_rollback(struct wh *wh);

/*
 * Applies the embedded sql/postgres/ files not yet recorded in
 * schema_migrations, each in its own transaction, under an advisory lock
 * so that concurrent programs apply each file once; through either
 * driver.  Fails (permanently) if an applied file's checksum no longer
 * matches.  Returns 0 or -1.
 */
int wh_migrate(struct wh *wh);

/*
 * Bulk insert into table (columns, comma-separated) fed with PostgreSQL's
 * binary COPY data (copy.h: header, tuples, trailer) in pieces of any
 * size.  types has a letter per column: 'i' bigint, 't' text, 'z'
 * timestamptz (microseconds since 2000).  libpq runs COPY FROM STDIN
 * (FORMAT binary), after before when it is not NULL (one round trip);
 * ODBC runs before, then INSERTs a few thousand rows per execute with
 * array binding.  wh_copy_end() keeps the rows when why is NULL, else
 * cancels the insert (the rows already sent stay until a rollback).
 * Each returns 0 or -1.
 */
int wh_copy_begin(struct wh *wh, const char *before, const char *table,
		  const char *columns, const char *types);
int wh_copy_put(struct wh *wh, const char *data, size_t len);
int wh_copy_end(struct wh *wh, const char *why);

/*
 * LISTEN on channel; with ODBC, which has no notifications, does nothing
 * and wh_wait() just sleeps.  Returns 0 or -1.
 */
int wh_listen(struct wh *wh, const char *channel);
/*
 * Waits up to secs for a notification on a channel listened to (one
 * already received returns at once), or for a signal.  Returns 0 or -1.
 */
int wh_wait(struct wh *wh, double secs);

/* Appends s to b as an SQL string literal ('it''s'). */
void wh_quote_literal(struct buf *b, const char *s);

/*
 * Rewrites PostgreSQL's $N parameters in sql as ODBC's '?' markers into
 * out (quoted strings, quoted names, comments and $$ bodies untouched),
 * and sets order[k] to the index (from 0) of the parameter of the k-th
 * marker.  Returns the number of markers, or -1 when there are more than
 * max or one names a parameter beyond nparams.
 */
int wh_odbc_markers(const char *sql, int nparams, struct buf *out,
		    int *order, int max);

#endif
