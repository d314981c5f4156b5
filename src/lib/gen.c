#include "gen.h"

#include <ctype.h>
#include <string.h>
#include <time.h>

#include "census.h"
#include "gen_data.h"
#include "util.h"

enum { NEVER = 0, LIVE = 1, DELETED = 2 };

/* One customer's current values, as indexes into the tables. */
struct gen_customer {
	uint32_t email_num;	/* 0: the address has no number */
	uint32_t last_s;	/* latest event, whole seconds after the start */
	uint16_t first, last, email_last;
	uint16_t street, number, apt, place;
	uint8_t suffix, email_pattern, email_domain, country, state;
};

/* xoshiro256** (Blackman and Vigna), seeded through splitmix64. */
static inline uint64_t rotl(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

static inline uint64_t next_random(struct gen *g)
{
	uint64_t *s = g->rng;
	uint64_t result = rotl(s[1] * 5, 7) * 9;
	uint64_t t = s[1] << 17;

	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = rotl(s[3], 45);
	return result;
}

static uint64_t splitmix64(uint64_t *x)
{
	uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* A number in [0, n), by Lemire's multiply-shift. */
static inline uint64_t uniform(struct gen *g, uint64_t n)
{
	return (uint64_t)(((unsigned __int128)next_random(g) * n) >> 64);
}

static inline int chance(struct gen *g, uint64_t p)
{
	return p && next_random(g) <= p;
}

/* A probability as a threshold out of 2^64 for chance(). */
static uint64_t threshold(double p)
{
	if (p <= 0)
		return 0;
	if (p >= 1)
		return UINT64_MAX;
	return (uint64_t)(p * 18446744073709551616.0);
}

/* Builds a Walker alias table (Vose's method, exact integer arithmetic)
 * for drawing index i with probability weight(i) / sum. */
static void alias_init(struct gen_alias *a, unsigned n,
		       unsigned (*weight)(const void *, unsigned), const void *arg)
{
	uint64_t *p = xcalloc(n, sizeof(*p));
	unsigned *small = xcalloc(n, sizeof(*small)), *large = xcalloc(n, sizeof(*large));
	unsigned ns = 0, nl = 0, i;
	uint64_t total = 0;

	a->n = n;
	a->prob = xcalloc(n, sizeof(*a->prob));
	a->alias = xcalloc(n, sizeof(*a->alias));
	for (i = 0; i < n; i++)
		total += weight(arg, i);
	for (i = 0; i < n; i++) {
		p[i] = (uint64_t)weight(arg, i) * n;
		a->alias[i] = i;
		a->prob[i] = UINT32_MAX;
		if (total && p[i] < total)
			small[ns++] = i;
		else
			large[nl++] = i;
	}
	while (ns && nl) {
		unsigned s = small[--ns], l = large[--nl];

		a->prob[s] = (uint32_t)((p[s] << 32) / total);
		a->alias[s] = l;
		p[l] = p[l] + p[s] - total;
		if (p[l] < total)
			small[ns++] = l;
		else
			large[nl++] = l;
	}
	free(p);
	free(small);
	free(large);
}

static inline unsigned alias_draw(struct gen *g, const struct gen_alias *a)
{
	uint64_t r = next_random(g);
	unsigned i = (unsigned)(((r >> 32) * a->n) >> 32);

	return (uint32_t)r < a->prob[i] ? i : a->alias[i];
}

static void alias_release(struct gen_alias *a)
{
	free(a->prob);
	free(a->alias);
}

static unsigned census_weight(const void *arg, unsigned i)
{
	return ((const struct census_name *)arg)[i].weight;
}

static unsigned place_weight(const void *arg, unsigned i)
{
	return ((const struct gen_place *)arg)[i].weight;
}

static unsigned domain_weight(const void *arg, unsigned i)
{
	return ((const struct gen_domain *)arg)[i].weight;
}

static unsigned foreign_weight(const void *arg, unsigned i)
{
	unsigned home = *(const unsigned *)arg;

	return i == home ? 0 : gen_countries[i].foreign_weight;
}

/* Surnames written with an apostrophe; the census drops it. */
static const char *const irish_o[] = {
	"OBRIEN", "OCONNOR", "ONEAL", "ONEIL", "ONEILL", "ODONNELL",
	"OCONNELL", "OHARA", "OLEARY", "OROURKE", "OKEEFE", "OSULLIVAN",
};

size_t gen_capitalize(char *out, const char *name, int surname)
{
	size_t i, n = 0, upper_at = 0;

	if (surname) {
		for (i = 0; i < sizeof(irish_o) / sizeof(irish_o[0]); i++)
			if (!strcmp(name, irish_o[i])) {
				out[n++] = 'O';
				out[n++] = '\'';
				name++;
				break;
			}
		if (!strncmp(name, "MC", 2) && name[2])
			upper_at = 2;
		else if (!strcmp(name, "MACDONALD"))
			upper_at = 3;
	}
	for (i = 0; name[i]; i++) {
		int c = (unsigned char)name[i];

		if (i == 0 || i == upper_at || name[i - 1] == '-' || name[i - 1] == '\'')
			out[n++] = (char)toupper(c);
		else
			out[n++] = (char)tolower(c);
	}
	out[n] = '\0';
	return n;
}

static void name_init(struct gen_name *nm, const char *census, int surname)
{
	size_t i;

	nm->caplen = (uint8_t)gen_capitalize(nm->cap, census, surname);
	nm->lowlen = 0;
	for (i = 0; i < nm->caplen; i++)
		if (isalpha((unsigned char)nm->cap[i]))
			nm->low[nm->lowlen++] = (char)tolower((unsigned char)nm->cap[i]);
	nm->low[nm->lowlen] = '\0';
}

void gen_init(struct gen *g, const struct gen_options *opt)
{
	uint64_t x = opt->seed;
	unsigned i, bits;

	memset(g, 0, sizeof(*g));
	g->opt = *opt;
	for (i = 0; i < 4; i++)
		g->rng[i] = splitmix64(&x);
	g->p_dup = threshold(opt->dup_ratio);
	/* Deletes are a share of all rows, drawn among the rows that are not re-sends. */
	g->p_delete = opt->dup_ratio < 1 ? threshold(opt->delete_ratio / (1 - opt->dup_ratio)) : 0;
	g->p_update = threshold(opt->update_ratio);
	g->p_late = threshold(opt->late_ratio);
	g->p_foreign = gen_countries_count > 1 ? threshold(opt->foreign_ratio) : 0;

	g->nmale = census_first_male_count;
	g->firsts = xcalloc(census_first_male_count + census_first_female_count, sizeof(*g->firsts));
	for (i = 0; i < census_first_male_count; i++)
		name_init(&g->firsts[i], census_first_male[i].name, 0);
	for (i = 0; i < census_first_female_count; i++)
		name_init(&g->firsts[g->nmale + i], census_first_female[i].name, 0);
	g->lasts = xcalloc(census_surnames_count, sizeof(*g->lasts));
	for (i = 0; i < census_surnames_count; i++)
		name_init(&g->lasts[i], census_surnames[i].name, 1);
	alias_init(&g->male, census_first_male_count, census_weight, census_first_male);
	alias_init(&g->female, census_first_female_count, census_weight, census_first_female);
	alias_init(&g->surname, census_surnames_count, census_weight, census_surnames);
	alias_init(&g->domain, gen_domains_count, domain_weight, gen_domains);
	alias_init(&g->foreign, gen_countries_count, foreign_weight, &g->opt.country);
	g->places = xcalloc(gen_countries_count, sizeof(*g->places));
	for (i = 0; i < gen_countries_count; i++)
		alias_init(&g->places[i], gen_countries[i].count, place_weight, gen_countries[i].places);

	g->cust = xcalloc(opt->customers + 1, sizeof(*g->cust));
	/* About 16 bits per customer keeps false "taken" answers rare. */
	for (bits = 16; bits < 30 && (1ULL << bits) < opt->customers * 16; bits++)
		;
	g->email_bits = bits;
	g->email_seen = xcalloc((size_t)1 << (bits - 6), sizeof(uint64_t));
	g->recent = xmalloc((size_t)GEN_RECENT * GEN_ROW_MAX);
	g->ts_sec = INT64_MIN;
}

void gen_release(struct gen *g)
{
	unsigned i;

	free(g->firsts);
	free(g->lasts);
	alias_release(&g->male);
	alias_release(&g->female);
	alias_release(&g->surname);
	alias_release(&g->domain);
	alias_release(&g->foreign);
	for (i = 0; i < gen_countries_count; i++)
		alias_release(&g->places[i]);
	free(g->places);
	free(g->cust);
	free(g->email_seen);
	free(g->recent);
	memset(g, 0, sizeof(*g));
}

static const char header[] =
	"customer_id,first_name,last_name,email,street,city,state,country,update_timestamp,op\n";

size_t gen_header(char *out)
{
	memcpy(out, header, sizeof(header) - 1);
	return sizeof(header) - 1;
}

/* Writes v in decimal; returns the number of bytes. */
static inline size_t put_uint(char *out, uint64_t v)
{
	char tmp[20];
	size_t n = 0, i;

	do {
		tmp[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	for (i = 0; i < n; i++)
		out[i] = tmp[n - 1 - i];
	return n;
}

static inline size_t put_str(char *out, const char *s, size_t len)
{
	memcpy(out, s, len);
	return len;
}

static void put_digits(char *out, unsigned v, int width)
{
	while (width-- > 0) {
		out[width] = (char)('0' + v % 10);
		v /= 10;
	}
}

/* Writes "YYYY-mm-ddTHH:MM:SS." for a second since the epoch (20 bytes). */
static void put_second(char *out, int64_t sec)
{
	time_t t = (time_t)sec;
	struct tm tm;

	gmtime_r(&t, &tm);
	put_digits(out, (unsigned)(tm.tm_year + 1900), 4);
	out[4] = '-';
	put_digits(out + 5, (unsigned)tm.tm_mon + 1, 2);
	out[7] = '-';
	put_digits(out + 8, (unsigned)tm.tm_mday, 2);
	out[10] = 'T';
	put_digits(out + 11, (unsigned)tm.tm_hour, 2);
	out[13] = ':';
	put_digits(out + 14, (unsigned)tm.tm_min, 2);
	out[16] = ':';
	put_digits(out + 17, (unsigned)tm.tm_sec, 2);
	out[19] = '.';
}

size_t gen_format_time(char *out, int64_t us)
{
	put_second(out, us / 1000000);
	put_digits(out + 20, (unsigned)(us % 1000000), 6);
	out[26] = 'Z';
	return 27;
}

/* gen_format_time() with the text of the current second kept in g. */
static size_t put_time(struct gen *g, char *out, int64_t us)
{
	int64_t sec = us / 1000000;

	if (sec != g->ts_sec) {
		put_second(g->ts_prefix, sec);
		g->ts_sec = sec;
	}
	memcpy(out, g->ts_prefix, 20);
	put_digits(out + 20, (unsigned)(us % 1000000), 6);
	out[26] = 'Z';
	return 27;
}

static int parse_digits(const char **s, int n, int *v)
{
	*v = 0;
	while (n--) {
		if (!isdigit((unsigned char)**s))
			return -1;
		*v = *v * 10 + (*(*s)++ - '0');
	}
	return 0;
}

int gen_parse_time(const char *s, int64_t *us)
{
	struct tm tm = { 0 };
	int y, mo, d, h = 0, mi = 0, sec = 0, oh, om, sign;
	int64_t frac = 0, scale = 100000, secs;
	long long at;

	if (*s == '@') {
		if (parse_ll(s + 1, 0, 253402300799LL, &at))
			return -1;
		*us = at * 1000000;
		return 0;
	}
	if (parse_digits(&s, 4, &y) || *s++ != '-' || parse_digits(&s, 2, &mo) ||
	    *s++ != '-' || parse_digits(&s, 2, &d))
		return -1;
	if (*s == 'T' || *s == 't' || *s == ' ') {
		s++;
		if (parse_digits(&s, 2, &h) || *s++ != ':' || parse_digits(&s, 2, &mi) ||
		    *s++ != ':' || parse_digits(&s, 2, &sec))
			return -1;
		if (*s == '.' || *s == ',') {
			if (!isdigit((unsigned char)*++s))
				return -1;
			for (; isdigit((unsigned char)*s); s++, scale /= 10)
				frac += (*s - '0') * scale;
		}
	}
	secs = 0;
	if (*s == 'Z' || *s == 'z') {
		s++;
	} else if (*s == '+' || *s == '-') {
		sign = *s++ == '+' ? 1 : -1;
		if (parse_digits(&s, 2, &oh))
			return -1;
		if (*s == ':')
			s++;
		if (parse_digits(&s, 2, &om) || oh > 23 || om > 59)
			return -1;
		secs = -sign * (oh * 3600 + om * 60);
	}
	if (*s || y < 1970 || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 ||
	    mi > 59 || sec > 60)
		return -1;
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = sec;
	secs += (int64_t)timegm(&tm);
	if (tm.tm_mday != d || secs < 0)	/* timegm() normalised 2026-02-30 */
		return -1;
	*us = secs * 1000000 + frac;
	return 0;
}

/* Email patterns, out of 100: the share of each way to build the local part. */
enum { EM_FIRST_DOT_LAST, EM_FIRSTLAST, EM_INITIAL_LAST, EM_INITIAL_DOT_LAST,
       EM_FIRST_UNDER_LAST, EM_LAST_DOT_FIRST, EM_FIRST_INITIAL, EM_FIRST };
static const uint8_t email_share[] = { 34, 14, 15, 9, 8, 7, 6, 7 };

/* Writes the local part of an address (without its number). */
static size_t put_email_local(char *out, const struct gen_name *f,
			      const struct gen_name *l, unsigned pattern)
{
	size_t n = 0;

	switch (pattern) {
	case EM_FIRST_DOT_LAST:
	case EM_FIRSTLAST:
	case EM_FIRST_UNDER_LAST:
		n += put_str(out, f->low, f->lowlen);
		if (pattern != EM_FIRSTLAST)
			out[n++] = pattern == EM_FIRST_DOT_LAST ? '.' : '_';
		n += put_str(out + n, l->low, l->lowlen);
		break;
	case EM_INITIAL_LAST:
	case EM_INITIAL_DOT_LAST:
		out[n++] = f->low[0];
		if (pattern == EM_INITIAL_DOT_LAST)
			out[n++] = '.';
		n += put_str(out + n, l->low, l->lowlen);
		break;
	case EM_LAST_DOT_FIRST:
		n += put_str(out, l->low, l->lowlen);
		out[n++] = '.';
		n += put_str(out + n, f->low, f->lowlen);
		break;
	case EM_FIRST_INITIAL:
		n += put_str(out, f->low, f->lowlen);
		out[n++] = l->low[0];
		break;
	default:
		n += put_str(out, f->low, f->lowlen);
		break;
	}
	return n;
}

/* Writes a customer's address: local part, its number if any, @domain. */
static size_t put_email(const struct gen *g, char *out, const struct gen_customer *c)
{
	size_t n = put_email_local(out, &g->firsts[c->first], &g->lasts[c->email_last],
				   c->email_pattern);
	const struct gen_domain *d = &gen_domains[c->email_domain];

	if (c->email_num)
		n += put_uint(out + n, c->email_num);
	out[n++] = '@';
	return n + put_str(out + n, d->name, strlen(d->name));
}

/*
 * A number no other address has had: the serial counts numbered addresses,
 * and each run of serials maps one-to-one onto numbers of one length
 * (10..99, then 100..999, ...), scrambled by an affine map.
 */
static uint32_t unique_email_number(struct gen *g)
{
	uint64_t j = g->email_serial++, base = 10, size = 90;

	while (j >= size && base < 100000000) {
		j -= size;
		base *= 10;
		size = base * 9;
	}
	return (uint32_t)(base + (j * 7919 + size / 3) % size);
}

/* Gives c a new address built from its names: number-less while that
 * address is free, else with a number no one has. */
static void new_email(struct gen *g, struct gen_customer *c)
{
	char local[GEN_ROW_MAX];
	unsigned r = (unsigned)uniform(g, 100), p = 0;
	uint64_t h = 0xcbf29ce484222325ULL, bit;
	size_t n, i;

	while (r >= email_share[p]) {
		r -= email_share[p];
		p++;
	}
	c->email_pattern = (uint8_t)p;
	c->email_domain = (uint8_t)alias_draw(g, &g->domain);
	c->email_last = c->last;
	c->email_num = 0;
	n = put_email(g, local, c);
	for (i = 0; i < n; i++)
		h = (h ^ (unsigned char)local[i]) * 0x100000001b3ULL;
	bit = h >> (64 - g->email_bits);
	if (g->email_seen[bit >> 6] & (1ULL << (bit & 63)))
		c->email_num = unique_email_number(g);
	else
		g->email_seen[bit >> 6] |= 1ULL << (bit & 63);
}

/* Gives c a new home: street, number, sometimes a flat, city and state. */
static void new_address(struct gen *g, struct gen_customer *c)
{
	static const uint16_t tens[] = { 10, 100, 1000, 10000 };
	unsigned digits = (unsigned)uniform(g, 20);

	digits = digits < 2 ? 0 : digits < 8 ? 1 : digits < 15 ? 2 : 3;
	c->number = (uint16_t)(1 + uniform(g, tens[digits] - 1));
	c->street = (uint16_t)uniform(g, gen_street_names_count);
	c->suffix = (uint8_t)uniform(g, gen_street_suffixes_count);
	c->apt = uniform(g, 100) < 15 ? (uint16_t)(1 + uniform(g, 400)) : 0;
	c->country = (uint8_t)g->opt.country;
	if (chance(g, g->p_foreign))
		c->country = (uint8_t)alias_draw(g, &g->foreign);
	c->place = (uint16_t)alias_draw(g, &g->places[c->country]);
}

static void new_customer(struct gen *g, struct gen_customer *c)
{
	if (uniform(g, 2))
		c->first = (uint16_t)alias_draw(g, &g->male);
	else
		c->first = (uint16_t)(g->nmale + alias_draw(g, &g->female));
	c->last = (uint16_t)alias_draw(g, &g->surname);
	new_address(g, c);
	new_email(g, c);
}

/* Changes what a real customer changes: a move, a new address, a new
 * surname (with a new address half the time), or a move and a new address. */
static void change_customer(struct gen *g, struct gen_customer *c)
{
	unsigned kind = (unsigned)uniform(g, 100);
	uint16_t old;

	if (kind < 45 || kind >= 90)
		new_address(g, c);
	if (kind >= 45 && kind < 75) {
		new_email(g, c);
	} else if (kind >= 75 && kind < 90) {
		old = c->last;
		do
			c->last = (uint16_t)alias_draw(g, &g->surname);
		while (c->last == old);
		if (uniform(g, 2))
			new_email(g, c);
	} else if (kind >= 90) {
		new_email(g, c);
	}
}

/* Writes the row of customer id with values c at time us. */
static size_t put_row(struct gen *g, char *out, uint64_t id,
		      const struct gen_customer *c, int64_t us, int delete)
{
	const struct gen_name *f = &g->firsts[c->first], *l = &g->lasts[c->last];
	const struct gen_country *co = &gen_countries[c->country];
	const struct gen_place *pl = &co->places[c->place];
	const char *s;
	size_t n = put_uint(out, id);

	out[n++] = ',';
	n += put_str(out + n, f->cap, f->caplen);
	out[n++] = ',';
	n += put_str(out + n, l->cap, l->caplen);
	out[n++] = ',';
	n += put_email(g, out + n, c);
	out[n++] = ',';
	if (c->apt)
		out[n++] = '"';
	n += put_uint(out + n, c->number);
	out[n++] = ' ';
	s = gen_street_names[c->street];
	n += put_str(out + n, s, strlen(s));
	out[n++] = ' ';
	s = gen_street_suffixes[c->suffix];
	n += put_str(out + n, s, strlen(s));
	if (c->apt) {
		n += put_str(out + n, ", Apt ", 6);
		n += put_uint(out + n, c->apt);
		out[n++] = '"';
	}
	out[n++] = ',';
	n += put_str(out + n, pl->city, strlen(pl->city));
	out[n++] = ',';
	if (pl->state)
		n += put_str(out + n, pl->state, strlen(pl->state));
	out[n++] = ',';
	n += put_str(out + n, co->name, strlen(co->name));
	out[n++] = ',';
	n += put_time(g, out + n, us);
	out[n++] = ',';
	if (delete)
		out[n++] = 'D';
	out[n++] = '\n';
	return n;
}

/* A live customer at random, or 0 when a few tries find none. */
static uint64_t pick_live(struct gen *g)
{
	int tries;

	if (!g->live)
		return 0;
	for (tries = 0; tries < 16; tries++) {
		uint64_t id = 1 + uniform(g, g->created);

		if (g->cust[id].state == LIVE)
			return id;
	}
	return 0;
}

int64_t gen_next_time(const struct gen *g)
{
	return g->opt.start_us + (int64_t)((double)g->index * g->opt.step_us);
}

/* The time of a late event of c: within the minute before its latest. */
static int64_t late_time(struct gen *g, const struct gen_customer *c)
{
	int64_t t = g->opt.start_us + (int64_t)c->last_s * 1000000 - 1 -
		    (int64_t)uniform(g, 60000000);

	return t < 0 ? 0 : t;
}

size_t gen_row(struct gen *g, char *out)
{
	int64_t us = gen_next_time(g);
	uint64_t id = 0;
	struct gen_customer *c, changed;
	int delete = 0, late = 0;
	size_t n;

	if (g->opt.step_us >= 2)
		us += (int64_t)uniform(g, (uint64_t)g->opt.step_us);
	g->index++;
	g->stats.rows++;
	if (g->recent_count && chance(g, g->p_dup)) {
		unsigned i = (unsigned)uniform(g, g->recent_count);

		i = (g->recent_next + GEN_RECENT - 1 - i) % GEN_RECENT;
		g->stats.dups++;
		n = g->recent_len[i];
		memcpy(out, g->recent + (size_t)i * GEN_ROW_MAX, n);
		return n;
	}
	if (chance(g, g->p_delete))
		delete = (id = pick_live(g)) != 0;
	else if (chance(g, g->p_update))
		id = pick_live(g);
	if (!id) {
		/* A new customer: the next unused id, else one deleted before,
		 * else (the key space is full of live ones) an update. */
		if (g->created < g->opt.customers) {
			id = ++g->created;
		} else {
			id = 1 + uniform(g, g->opt.customers);
			if (g->cust[id].state == LIVE)
				goto update;
		}
		c = &g->cust[id];
		new_customer(g, c);
		c->state = LIVE;
		g->live++;
		g->stats.news++;
	} else {
update:
		c = &g->cust[id];
		late = chance(g, g->p_late);
		if (late) {
			/* An event from the past: the current values stay. */
			g->stats.late++;
			us = late_time(g, c);
			changed = *c;
			c = &changed;
		}
		if (delete) {
			g->stats.deletes++;
			if (!late) {
				c->state = DELETED;
				g->live--;
			}
		} else {
			g->stats.updates++;
			change_customer(g, c);
		}
	}
	if (!late && us >= g->opt.start_us)
		c->last_s = (uint32_t)((us - g->opt.start_us) / 1000000);
	n = put_row(g, out, id, c, us, delete);
	memcpy(g->recent + (size_t)g->recent_next * GEN_ROW_MAX, out, n);
	g->recent_len[g->recent_next] = (uint16_t)n;
	g->recent_next = (g->recent_next + 1) % GEN_RECENT;
	if (g->recent_count < GEN_RECENT)
		g->recent_count++;
	return n;
}
