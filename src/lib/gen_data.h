/*
 * Static tables for gen-customers: cities with their states by country,
 * street names and suffixes, mail domains (src/lib/gen_data.c).
 */
#ifndef GEN_DATA_H
#define GEN_DATA_H

struct gen_place {
	const char *city;
	const char *state;	/* NULL where the country has none */
	unsigned weight;
};

struct gen_country {
	const char *name;	/* as written in the country column */
	const char *code;	/* ISO 3166-1 alpha-2, accepted by --country */
	const struct gen_place *places;
	unsigned count;
	unsigned foreign_weight;	/* how often foreign customers come from here */
};

struct gen_domain {
	const char *name;
	unsigned weight;
};

extern const struct gen_country gen_countries[];
extern const unsigned gen_countries_count;
extern const char *const gen_street_names[];
extern const unsigned gen_street_names_count;
extern const char *const gen_street_suffixes[];
extern const unsigned gen_street_suffixes_count;
extern const struct gen_domain gen_domains[];
extern const unsigned gen_domains_count;

#endif
