/* The SQL files under sql/, built into the programs by tools/embed-sql. */
#ifndef SQLFILES_H
#define SQLFILES_H

struct sql_file {
	const char *name;	/* "001_init.sql" */
	const char *text;	/* the whole file */
};

/* Sorted by name and ended by an entry whose name is NULL. */
extern const struct sql_file sql_files_postgres[];
extern const struct sql_file sql_files_snowflake[];

#endif
