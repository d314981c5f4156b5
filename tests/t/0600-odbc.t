#!/bin/sh
# snow-load and scd-merge through ODBC (unixODBC with psqlODBC, driver
# "PostgreSQL Unicode") against the same local PostgreSQL: the end-to-end
# pipeline of tests/pipeline.sh gives the same tables as through libpq,
# exit codes keep their meaning (unreachable 75, SQL error 1), and
# --dialect snowflake shows the SQL it would send.
. "${CT_TOP:-.}/tests/lib.sh"
. "$top/tests/pipeline.sh"
if ! odbcinst -q -d -n "PostgreSQL Unicode" >/dev/null 2>&1; then
	echo "1..0 # SKIP psqlODBC (odbc-postgresql) is not installed"
	exit 0
fi
new_db
new_bucket
export PGTZ=UTC
odbc() {
	echo "odbc:Driver=PostgreSQL Unicode;Servername=$1;Port=$PGPORT;Database=$PGDATABASE;UID=$PGUSER"
}
db=$(odbc "$PGHOST")
pipeline_test

is "$(sql "SELECT count(*) FROM schema_migrations")" \
	"$(ls "$top"/sql/postgres/*.sql | wc -l)" \
	"the migrations applied through ODBC are recorded once each"

exits 0 "scd-merge --as-of works through ODBC" db_run scd-merge --as-of 2026-11-22T03:30:00Z
is "$(cat "$tmp/.out")" "$(scd-merge --as-of 2026-11-22T03:30:00Z)" \
	"--as-of prints the same CSV through ODBC as COPY does through libpq"

# --watch polls through ODBC (no LISTEN): a new load is merged in time.
PGDATABASE=no_such_database scd-merge -q --watch 0.2 --db "$db" 2>watch.err &
watcher=$!
put_spool customer_20261122050000.csv <<'CSV'
customer_id,first_name,last_name,email,street,city,state,country,update_timestamp,op
9000000004,Edsger,Dijkstra,ewd@example.com,,Austin,TX,US,2026-11-22T05:00:00Z,
CSV
s3-put --spool spool "s3://$bucket/in/" >/dev/null 2>&1 &&
	db_run snow-load -q "s3://$bucket/in/"
i=0
while [ "$(sql "SELECT count(*) FROM customer WHERE customer_id = 9000000004")" != 1 ] &&
	[ $i -lt 100 ]; do
	sleep 0.1; i=$((i + 1))
done
kill "$watcher"
wait "$watcher"
is "$(sql "SELECT city FROM customer WHERE customer_id = 9000000004")" Austin \
	"scd-merge --watch through ODBC merges a new load by polling"

# Bad rows through ODBC: skip_file records the file as skipped; continue
# loads the good rows and keeps the bad one in load_errors.
mkdir stage
printf '%s\n' 'customer_id,first_name,last_name,email,street,city,state,country,update_timestamp,op' \
	'9000000005,Ok,Row,,,,,,2026-11-22T06:00:00Z,' \
	'x,Bad,Row,,,,,,2026-11-22T06:00:00Z,' >stage/customer_20261122060000.csv
exits 1 "a file with a bad row is rejected through ODBC (exit 1)" \
	db_run snow-load stage
is "$(sql "SELECT status, rows_loaded FROM load_history WHERE file = 'customer_20261122060000.csv'")" \
	"skipped|0" "load_history records the rejected file, with no rows"
exits 1 "--force --on-error continue loads the good rows (exit 1 for the bad one)" \
	db_run snow-load --force --on-error continue stage
is "$(sql "SELECT count(*) FROM customer_raw WHERE _file = 'customer_20261122060000.csv'")|$(sql "SELECT line FROM load_errors")" \
	"1|3" "the good row is in customer_raw, the bad one in load_errors"
exits 0 "--history reads the load history through ODBC" db_run snow-load --history stage
is "$(cut -f 4,5,8 "$tmp/.out" | tail -n 2)" "customer_20261122060000.csv	skipped	f
customer_20261122060000.csv	partially_loaded	t" "--history lists both loads of the file"

# Exit codes through ODBC.
exits 75 "snow-load: an unreachable database is a temporary failure (75)" \
	snow-load --db "$(odbc /nonexistent)" stage
grep_err "cannot connect to the database" "the message says it cannot connect"
exits 75 "scd-merge: an unreachable database is a temporary failure (75)" \
	scd-merge --db "$(odbc /nonexistent)"
exits 1 "an unknown ODBC driver is a permanent failure (1)" \
	scd-merge --db "odbc:Driver=No Such Driver;Database=x"
sql "ALTER FUNCTION scd_verify(bigint) RENAME TO scd_verify_gone"
exits 1 "scd-merge: an SQL error through ODBC is a permanent failure (1)" \
	db_run scd-merge --verify
grep_err "scd_verify.*does not exist" "the message is the server's"
sql "ALTER FUNCTION scd_verify_gone(bigint) RENAME TO scd_verify"
sql "ALTER TABLE load_history RENAME TO load_history_gone"
touch -d '2026-11-22 07:00' stage/customer_20261122070000.csv
exits 1 "snow-load: an SQL error through ODBC is a permanent failure (1)" \
	db_run snow-load stage
sql "ALTER TABLE load_history_gone RENAME TO load_history"

# --dialect snowflake: the SQL is shown, nothing is sent.
exits 0 "snow-load --dialect snowflake --dry-run prints its SQL" \
	snow-load --dialect snowflake --dry-run --on-error continue --force s3://b/in/
grep -q "^COPY INTO customer_raw .* FROM @customer_stage) .* ON_ERROR = CONTINUE FORCE = TRUE;$" \
	"$tmp/.out" && pass "it is COPY INTO from @customer_stage with the options" ||
	fail "it is COPY INTO from @customer_stage with the options"
exits 2 "--dialect snowflake without an ODBC --db is a usage error" \
	scd-merge --dialect snowflake
exits 2 "an unknown --dialect is a usage error" snow-load --dialect oracle stage
done_testing
