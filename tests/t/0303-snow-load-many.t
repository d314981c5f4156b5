#!/bin/sh
# snow-load on a stage of 10,000 files: every file loads once, and a
# re-run finds them all loaded with one query for the whole stage (not
# one per file), so that it takes a fraction of the first run's time.
. "${CT_TOP:-.}/tests/lib.sh"
new_db
mkdir many
awk 'BEGIN {
	h = "customer_id,first_name,last_name,email,street,city,state,country,update_timestamp,op"
	for (i = 0; i < 10000; i++) {
		f = sprintf("many/customer_20261122%06d.csv", i)
		print h >f
		printf "%d,A,B,a@b.c,1 St,X,,NO,2026-11-22T01:00:00Z,\n", i + 1 >f
		close(f)
	}
}'
exits 0 "snow-load loads a stage of 10000 files" snow-load many
grep_err "loaded 10000 rows from 10000 files" "every one of them"
is "$(sql 'SELECT count(*), count(DISTINCT customer_id), count(DISTINCT _load_id) FROM customer_raw')" \
	"10000|10000|10000" "each once, in a load of its own"
sql "SELECT pg_stat_reset()" >/dev/null
calls() { sql "SELECT coalesce(sum(xact_commit + xact_rollback), 0) FROM pg_stat_database
	WHERE datname = current_database()"; }
exits 0 "a re-run succeeds" snow-load many
grep_err "loaded 0 rows from 0 files .*; 10000 files already loaded" "and finds every file loaded"
n=$(calls)
is "$(test "$n" -ge 1 && test "$n" -lt 100 && echo few)" few \
	"with a handful of transactions, not one per file"
diag "transactions of the re-run: $n"
done_testing
