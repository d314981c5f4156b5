#!/bin/sh
# The programs apply sql/postgres/ themselves, once, also when several start
# at the same time, and refuse to run on a schema whose applied migration
# was edited afterwards.
. "${CT_TOP:-.}/tests/lib.sh"
new_db

mkdir stage
scd-merge 2>err1 & p1=$!
snow-load stage 2>err2 & p2=$!
wait $p1; r1=$?
wait $p2; r2=$?
is "$r1 $r2" "0 0" "scd-merge and snow-load started together both succeed on an empty database"
files=$(ls "$top/sql/postgres" | grep -c '\.sql$')
is "$(sql "SELECT count(*) FROM schema_migrations")" "$files" \
	"each migration file is recorded once"
is "$(sql "SELECT count(*) FROM information_schema.tables
	WHERE table_schema = 'public' AND table_name IN
	('customer_raw', 'customer', 'customer_history', 'load_history', 'load_errors')")" 5 \
	"the tables of DESIGN §2 exist (customer_history a view)"
ok "a second run applies nothing and succeeds" scd-merge

sql "UPDATE schema_migrations SET checksum = 'edited' WHERE name = '001_init.sql'"
exits 1 "an applied migration that changed is a permanent error" scd-merge
grep_err "^scd-merge: .*001_init\.sql.*changed" "the message names the migration"

# An upgrade keeps what was merged: a database at schema 2 (its files
# applied by hand and recorded as the programs record them), merged by
# schema 2's scd_merge(), shows the same customer_history after scd-merge
# applies schema 3, and merges on from there as a fresh one would.
createdb "${PGDATABASE}_up" || { echo "Bail out! cannot create a database"; exit 1; }
PGDATABASE="${PGDATABASE}_up"
events() {
	gen-customers -q -n 3000 --customers 400 --seed "$1" --delete-ratio 0.1 \
		--late-ratio 0.1 --dup-ratio 0.05 >ev.csv
	psql -X -q -v ON_ERROR_STOP=1 <<SQL
CREATE TEMP TABLE ev (customer_id bigint, first_name text, last_name text,
    email text, street text, city text, state text, country text,
    update_timestamp timestamptz, op text);
\\copy ev FROM 'ev.csv' CSV HEADER
INSERT INTO load_history (stage, file, etag, size, status)
VALUES ('s', 'customer_$1.csv', 'e', 0, 'loaded');
INSERT INTO customer_raw SELECT ev.*, 'customer_$1.csv', row_number() OVER (),
    now(), currval('load_history_load_id_seq') FROM ev;
SQL
}
history() { sql "SELECT customer_id, first_name, email, start_time, end_time, is_current
	FROM customer_history ORDER BY 1, 4, 5, 3"; }
sql "CREATE TABLE schema_migrations (name text PRIMARY KEY, checksum text NOT NULL,
	applied_at timestamptz NOT NULL DEFAULT now())"
for f in 001_init.sql 002_scd.sql; do
	psql -X -q -v ON_ERROR_STOP=1 -f "$top/sql/postgres/$f" ||
		{ echo "Bail out! cannot apply $f"; exit 1; }
	sql "INSERT INTO schema_migrations VALUES ('$f', '$(sha256sum <"$top/sql/postgres/$f" | cut -d' ' -f1)')"
done
events 1
sql "SELECT scd_merge()" >/dev/null
history >before
reader="ct_reader_$$"
sql "CREATE ROLE $reader; GRANT SELECT ON customer_history TO $reader"
ok "schema 2 holds versions to carry over" \
	test "$(sql "SELECT count(*) FROM customer_history WHERE NOT is_current")" -gt 100
ok "scd-merge applies schema 3 over schema 2" scd-merge
is "$(history)" "$(cat before)" "customer_history is the same after the upgrade"
ok "and verifies" scd-merge --verify
is "$(sql "SET ROLE $reader; SELECT count(*) FROM customer_history")" "$(wc -l <before | tr -d ' ')" \
	"a role that could read the table can read the view"
events 2
ok "a merge after the upgrade succeeds" scd-merge
history >after
PGDATABASE="${PGDATABASE%_up}_fresh"
createdb "$PGDATABASE" && scd-merge -q
events 1; events 2
ok "a fresh database merges the same events" scd-merge
is "$(history)" "$(cat after)" "to the same customer_history"
dropdb "${PGDATABASE%_fresh}_up"; dropdb "$PGDATABASE"
PGDATABASE="${PGDATABASE%_fresh}"
sql "DROP ROLE $reader"

exits 75 "an unreachable database is a temporary failure" \
	scd-merge --db "host=$tmp port=1 connect_timeout=2"
grep_err "^scd-merge: " "the message starts with the program's name"
done_testing
