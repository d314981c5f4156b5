/*
 * The customer event generator behind gen-customers: a deterministic
 * stream of CSV rows (DESIGN §1) that a real customer table could emit.
 *
 * A key space of customers 1..N is filled with new customers, whose names
 * follow the census frequencies; later rows update them the way people
 * change (a move, a new email, a new surname), delete them (op D), re-send
 * an earlier row byte for byte, or arrive late (an event time older than the
 * key's latest).  Everything follows from the seed: the same options give
 * the same bytes.  Memory is about 30 bytes per customer plus a fixed
 * ~300 KiB, whatever the number of rows.
 *
 *	struct gen g;
 *	char row[GEN_ROW_MAX];
 *	gen_init(&g, &opts);
 *	fwrite(row, 1, gen_header(row), stdout);
 *	for (;;) fwrite(row, 1, gen_row(&g, row), stdout);
 *	gen_release(&g);
 */
#ifndef GEN_H
#define GEN_H

#include <stddef.h>
#include <stdint.h>

/* No row is longer than this, newline included. */
#define GEN_ROW_MAX 512
/* How many recent rows a re-send (--dup-ratio) may copy. */
#define GEN_RECENT 256

struct gen_options {
	uint64_t seed;
	uint64_t customers;	/* the key space: ids 1 .. customers */
	double update_ratio;	/* of the upserts, the share that update a live key */
	double delete_ratio;	/* of all rows, the share that delete (op D) */
	double dup_ratio;	/* of all rows, the share that re-send an earlier row */
	double late_ratio;	/* of updates and deletes, the share that are late */
	double foreign_ratio;	/* of new addresses, the share abroad */
	unsigned country;	/* home country: an index in gen_countries[] */
	int64_t start_us;	/* time of the first event, µs since the epoch */
	double step_us;		/* time from one event to the next, µs */
};

/* What the rows so far were; rows = news + updates + deletes + dups. */
struct gen_stats {
	long long rows, news, updates, deletes, dups, late;
};

struct gen_alias {
	unsigned n;
	uint32_t *prob;		/* per 2^32: keep this entry, else take alias */
	uint32_t *alias;
};

struct gen_name {
	uint8_t caplen, lowlen;
	char cap[22];		/* as written: McDonald, O'Brien */
	char low[22];		/* for mail addresses: mcdonald, obrien */
};

struct gen_customer;

struct gen {
	struct gen_options opt;
	uint64_t rng[4];
	uint64_t p_dup, p_delete, p_update, p_late, p_foreign;	/* per 2^64 */
	struct gen_name *firsts, *lasts;
	unsigned nmale;		/* firsts[0..nmale) are male, the rest female */
	struct gen_alias male, female, surname, domain, foreign;
	struct gen_alias *places;	/* one per country */
	struct gen_customer *cust;	/* [0] unused */
	uint64_t created, live;
	uint64_t *email_seen;		/* a bit per hash of a number-less address */
	unsigned email_bits;
	uint64_t email_serial;		/* numbered addresses handed out */
	char *recent;			/* GEN_RECENT rows of GEN_ROW_MAX bytes */
	uint16_t recent_len[GEN_RECENT];
	unsigned recent_next, recent_count;
	uint64_t index;			/* rows generated */
	int64_t ts_sec;			/* the second whose text is in ts_prefix */
	char ts_prefix[24];		/* "2026-11-22T02:10:48." */
	struct gen_stats stats;
};

/* Sets g up for the options (which it copies); dies only if out of memory. */
void gen_init(struct gen *g, const struct gen_options *opt);
/* Frees what g holds. */
void gen_release(struct gen *g);
/* Writes the header line to out (GEN_ROW_MAX bytes); returns its length. */
size_t gen_header(char *out);
/* Writes the next row, newline included, to out (GEN_ROW_MAX bytes);
 * returns its length. */
size_t gen_row(struct gen *g, char *out);
/* The time of the next row before its jitter (µs since the epoch); rows
 * are spread at random within [gen_next_time, gen_next_time + step). */
int64_t gen_next_time(const struct gen *g);

/* Writes a census name (capitals) as people write it: Mary, McDonald,
 * O'Brien; surname says whether the Mc/O' rules apply.  out holds at least
 * strlen(name) + 2 bytes; returns the length, without the NUL it adds. */
size_t gen_capitalize(char *out, const char *name, int surname);
/* Writes us (µs since the epoch, >= 0) as 2026-11-22T02:10:48.123456Z
 * (27 bytes, no NUL); returns 27. */
size_t gen_format_time(char *out, int64_t us);
/* Parses an ISO 8601 time (2026-11-22, 2026-11-22T02:10:48[.123456],
 * with Z, +HH:MM or -HH:MM; UTC without), or @SECONDS since the epoch, into
 * µs since the epoch; returns 0 or -1. */
int gen_parse_time(const char *s, int64_t *us);

#endif
