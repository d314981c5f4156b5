/*
 * What every program needs: exit codes, allocation that dies on failure,
 * and err(3)-style messages prefixed with the program's name.
 */
#ifndef UTIL_H
#define UTIL_H

#include <stdio.h>
#include <stdlib.h>

/* Exit codes of DESIGN §4. */
enum {
	EXIT_OK = 0,
	EXIT_FAIL = 1,		/* permanent: bad input, rejected request, SQL */
	EXIT_USAGE = 2,
	EXIT_TEMPFAIL = 75	/* network, 5xx, throttling, database down */
};

/* The program's name for messages; set by util_init() from argv[0]. */
extern const char *progname;
void util_init(const char *argv0);

void *xmalloc(size_t n);
void *xcalloc(size_t nmemb, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);

/* "progname: message" on stderr. */
void warnmsg(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* warnmsg() then exit(code). */
void diemsg(int code, const char *fmt, ...)
	__attribute__((format(printf, 2, 3), noreturn));
/* diemsg() with EXIT_FAIL; for what cannot happen and allocation failure. */
void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

/* Prints "progname VERSION" to stdout and exits 0. */
void print_version(void) __attribute__((noreturn));
/* Flushes and closes stdout; dies if that fails (a full disk, a closed pipe). */
void close_stdout(void);

/* Seconds since an arbitrary point, from CLOCK_MONOTONIC. */
double now_monotonic(void);

/* Parses a whole decimal number within [min, max]; returns 0 or -1. */
int parse_ll(const char *s, long long min, long long max, long long *out);
/* Parses a whole floating-point number within [min, max]; returns 0 or -1. */
int parse_double(const char *s, double min, double max, double *out);

#endif
