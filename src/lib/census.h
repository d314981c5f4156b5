/*
 * The US Census 1990 name frequency lists (data/names/), built into the
 * program by tools/embed-names.  Names are in capitals, as published;
 * weight is the frequency in thousandths of a percent (MARY: 2629).
 */
#ifndef CENSUS_H
#define CENSUS_H

struct census_name {
	const char *name;
	unsigned weight;
};

extern const struct census_name census_first_male[];
extern const unsigned census_first_male_count;
extern const struct census_name census_first_female[];
extern const unsigned census_first_female_count;
extern const struct census_name census_surnames[];
extern const unsigned census_surnames_count;

#endif
