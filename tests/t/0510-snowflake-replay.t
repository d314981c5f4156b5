#!/bin/sh
# The Snowflake merge's semantics, run here on PostgreSQL against
# sql/postgres/'s scd_merge(), over the same events arriving
# out of order in batches, with ties, duplicates, deletes, resurrections,
# bad ops, NULL beside "" and a file loaded twice:
#  - the statements of customer_merge()'s transaction
#    (sql/snowflake/003_merge.sql), run batch by batch on Snowflake-shaped
#    tables (001_init.sql) with a table standing in for the stream, must
#    leave the same customer and customer_history as scd_merge();
#  - the view customer_replay must equal that history;
#  - the view scd_violations must find nothing there, and find a break.
# Two independent implementations of DESIGN §3 against each other.  The
# translation to PostgreSQL is mechanical: Snowflake type names become
# PostgreSQL's, and QUALIFY becomes a subquery on the same ROW_NUMBER();
# the database sorts text as bytes (C), as Snowflake does.
. "${CT_TOP:-.}/tests/lib.sh"
sf="$top/sql/snowflake/003_merge.sql"
if ! grep -q 'CREATE FUNCTION scd_merge' "$top"/sql/postgres/*.sql 2>/dev/null; then
	echo "1..0 # SKIP sql/postgres has no scd_merge() to compare with"
	exit 0
fi
PGDATABASE="t_${t_name}_$$"
export PGDATABASE PGTZ=UTC
dropdb --if-exists "$PGDATABASE" 2>/dev/null
createdb --template=template0 --lc-collate=C --lc-ctype=C "$PGDATABASE" ||
	{ echo "Bail out! cannot create a database"; exit 1; }
trap 'dropdb --if-exists "$PGDATABASE" 2>/dev/null; rm -rf "$tmp"' EXIT

# view NAME: the CREATE VIEW statement of NAME, as PostgreSQL SQL.
view() {
	sed -n "/^CREATE OR REPLACE VIEW $1 AS/,/;\$/p" "$sf" | sed 's/TIMESTAMP_TZ/timestamptz/g'
}

# pg_types: Snowflake's type names as PostgreSQL's.
pg_types() {
	sed -e 's/NUMBER(19, 0)/bigint/g' -e 's/TIMESTAMP_[LT]*TZ([0-9])/timestamptz/g' \
	    -e 's/TIMESTAMP_TZ/timestamptz/g' -e 's/VARCHAR/text/g' \
	    -e 's/CURRENT_TIMESTAMP()/now()/g' -e 's/^CREATE TRANSIENT TABLE/CREATE TABLE/'
}
# merge_sql: customer_merge()'s transaction without the Snowflake Scripting
# around it (IF and := lines), QUALIFY ... = 1 as a subquery.
merge_sql() {
	awk '/^\$\$$/ { inside = !inside; next } inside' "$sf" |
	sed -n '/BEGIN TRANSACTION;/,/COMMIT;/p' |
	grep -v -e ':=' -e '^ *IF (' -e '^ *END IF;' -e 'INTO merge_history' -e 'VALUES (CURRENT_TIMESTAMP(), :n_keys' |
	perl -0pe 's/USING \(\n(\s*)SELECT\n(.*?)\n\s*QUALIFY (ROW_NUMBER\(\) OVER \(.*?\)) = 1\n/USING (SELECT * FROM (\n$1SELECT $3 AS qualify_rn,\n$2\n) AS q WHERE qualify_rn = 1\n/s' |
	sed -e 's/^ *BEGIN TRANSACTION;/BEGIN; SET LOCAL search_path = sf;/' -e 's/^ *COMMIT;/DELETE FROM customer_raw_stream; COMMIT;/'
}

ok "the PostgreSQL schema applies" sh -c \
	'for f in "$1"/sql/postgres/[0-9]*.sql; do psql -X -q -v ON_ERROR_STOP=1 -f "$f" || exit 1; done' \
	sh "$top"

{
	echo "CREATE SCHEMA sf; SET search_path = sf;"
	sed -n '/^CREATE \(TRANSIENT \)*TABLE/,/;$/p' "$top/sql/snowflake/001_init.sql" | pg_types
	echo "CREATE TABLE customer_raw_stream AS SELECT *, 'INSERT'::text AS metadata\$action FROM customer_raw;"
	view customer_replay
} >sf.sql
ok "the Snowflake tables and customer_replay create on PostgreSQL (schema sf)" \
	psql -X -q -v ON_ERROR_STOP=1 -f sf.sql
merge_sql >merge.sql
ok "customer_merge()'s statements translate (MERGE, QUALIFY as a subquery)" \
	sh -c 'grep -q "MERGE INTO customer" merge.sql && grep -q "qualify_rn = 1" merge.sql && ! grep -v "^ *--" merge.sql | grep -q QUALIFY'

# Events: 40 keys, 14 files of 30 rows, 6 distinct instants (many ties),
# two names and three cities (NULL, "", Oslo) so that equal re-sends and
# NULL/"" changes are common.  The seed makes it the same every run.
awk -v seed=5 'BEGIN {
	srand(seed)
	for (f = 1; f <= 14; f++) {
		file = sprintf("in/customer_202611221000%02d.csv", f)
		for (r = 2; r <= 31; r++) {
			k = 1 + int(rand() * 40)
			ts = sprintf("2026-11-22 10:00:0%d+00", int(rand() * 6))
			x = rand()
			op = x < 0.15 ? "'\''D'\''" : x < 0.20 ? "'\''X'\''" : x < 0.40 ? "NULL" : x < 0.60 ? "'\'''\''" : x < 0.80 ? "'\''U'\''" : "'\''I'\''"
			fn = rand() < 0.5 ? "'\''Ann'\''" : "'\''Bob'\''"
			y = rand(); city = y < 0.3 ? "NULL" : y < 0.6 ? "'\'''\''" : "'\''Oslo'\''"
			printf "%d\t(%d, %s, %s, '\''%s'\'', clock_timestamp(), %s, '\''%s'\'', %d, currval('\''load_history_load_id_seq'\''))\n", f, k, fn, city, ts, op, file, r
		}
	}
}' >events.tsv
is "$(wc -l <events.tsv | tr -d ' ')" 420 "420 events in 14 files"

# load FILE_NO: loads one file as snow-load would (a load_history row and
# its rows with that load_id), in a transaction; a second load of a
# file is a forced one.
load() {
	{
		echo "BEGIN;"
		echo "INSERT INTO load_history (stage, file, etag, size, status, forced)
		      SELECT 's3://t/in/', 'in/f$1', 'e$1', 1, 'loaded',
		             EXISTS (SELECT 1 FROM load_history WHERE file = 'in/f$1');"
		echo "INSERT INTO customer_raw (customer_id, first_name, city, update_timestamp, _loaded_at, op, _file, _row, _load_id) VALUES"
		awk -F '\t' -v f="$1" '$1 == f { printf "%s%s", sep, $2; sep = ",\n" }' events.tsv
		echo ";"
		# The same rows into Snowflake's table, as the pipe would, and so
		# into the stream.
		echo "WITH pipe AS (INSERT INTO sf.customer_raw SELECT customer_id, first_name,
		          last_name, email, street, city, state, country, update_timestamp, op,
		          _file, _row, clock_timestamp()
		      FROM customer_raw WHERE _load_id = currval('load_history_load_id_seq')
		      RETURNING *)
		      INSERT INTO sf.customer_raw_stream SELECT pipe.*, 'INSERT' FROM pipe;"
		echo "COMMIT;"
	} | psql -X -q -v ON_ERROR_STOP=1 >/dev/null
}
# Files arrive out of order, three at a time with a merge after each
# batch; file 4 arrives twice (a forced reload) and the last batch is
# merged twice.
for batch in "9 2 13" "5 4 11" "1 14 7" "4 3 12" "8 6 10"; do
	for f in $batch; do load "$f" || fail "load file $f"; done
	sql "SELECT * FROM scd_merge()" >/dev/null || fail "scd_merge() after files $batch"
	psql -X -q -v ON_ERROR_STOP=1 -f merge.sql >/dev/null || fail "customer_merge() after files $batch"
done
sql "SELECT * FROM scd_merge()" >/dev/null
ok "customer_merge() run again with an empty stream" psql -X -q -v ON_ERROR_STOP=1 -f merge.sql
ok "scd_merge() leaves history" test "$(sql 'SELECT count(*) FROM customer_history')" -gt 40

view customer_replay >replay.sql
ok "the Snowflake file holds the view customer_replay" grep -q 'FROM customer_raw' replay.sql
ok "customer_replay creates on PostgreSQL" psql -X -q -v ON_ERROR_STOP=1 -f replay.sql
view scd_violations >violations.sql
# on the Snowflake-shaped tables, where customer_history is a table
ok "scd_violations creates on PostgreSQL" \
	env PGOPTIONS="-c search_path=sf" psql -X -q -v ON_ERROR_STOP=1 -f violations.sql

cols="customer_id, first_name, last_name, email, street, city, state, country, start_time, end_time, is_current"
sql "SELECT $cols FROM customer_history ORDER BY $cols" >expect
sql "SELECT $cols FROM customer_replay ORDER BY $cols" >actual
is "$(cat actual)" "$(cat expect)" "customer_replay equals scd_merge()'s customer_history, version for version"
sql "SELECT $cols FROM sf.customer_history ORDER BY $cols" >actual
is "$(cat actual)" "$(cat expect)" "customer_merge() leaves the customer_history that scd_merge() does"
ccols="customer_id, first_name, last_name, email, street, city, state, country, update_timestamp"
is "$(sql "SELECT $ccols FROM sf.customer ORDER BY 1")" "$(sql "SELECT $ccols FROM customer ORDER BY 1")" \
	"customer_merge() leaves the customer that scd_merge() does"
ok "the events give zero-length versions (two upserts at one instant)" \
	test "$(sql 'SELECT count(*) FROM customer_history WHERE start_time = end_time')" -gt 0
ok "the events give deletes (a version closed with no successor at its end)" \
	test "$(sql 'SELECT count(*) FROM customer_history h WHERE NOT is_current AND NOT EXISTS
		(SELECT 1 FROM customer_history n WHERE n.customer_id = h.customer_id AND n.start_time = h.end_time)')" -gt 0
sql "SELECT customer_id, first_name, city, start_time FROM customer_replay WHERE is_current ORDER BY 1" >expect
sql "SELECT customer_id, first_name, city, update_timestamp FROM customer ORDER BY 1" >actual
is "$(cat actual)" "$(cat expect)" "customer equals customer_replay's current versions"

is "$(sql 'SELECT count(*) FROM sf.scd_violations')" 0 "scd_violations finds nothing in a correct merge"
sql "UPDATE sf.customer_history SET end_time = end_time + interval '1 hour'
     WHERE customer_id = (SELECT min(customer_id) FROM sf.customer_history WHERE NOT is_current AND start_time < end_time)
       AND NOT is_current AND start_time < end_time" >/dev/null
ok "scd_violations finds overlapping versions" \
	test "$(sql "SELECT count(*) FROM sf.scd_violations WHERE problem = 'overlapping versions'")" -ge 1
sql "UPDATE sf.customer SET city = 'Bergen' WHERE customer_id = (SELECT min(customer_id) FROM sf.customer)" >/dev/null
is "$(sql "SELECT count(*) FROM sf.scd_violations WHERE problem = 'customer differs from its current version'")" 1 \
	"scd_violations finds a customer row that differs from its current version"
done_testing
