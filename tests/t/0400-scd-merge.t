#!/bin/sh
# scd-merge on hand-written events (DESIGN §3): duplicates, an equal
# re-send, NULL and "" changes, a delete and a resurrection, same-instant
# upserts, then late events that split and cut history, a forced reload,
# a re-run; --as-of, --verify, --history-columns, and the exit codes.
. "${CT_TOP:-.}/tests/lib.sh"
new_db
export PGTZ=UTC

# load NAME: puts the CSV on stdin into customer_raw as snow-load does,
# one load_history row and its rows (_row = line number) in one transaction.
load() {
	cat >"$1"
	awk -v f="$1" 'NR > 1 { print $0 ",\"" f "\"," NR }' "$1" >"$1.rows"
	psql -X -q -v ON_ERROR_STOP=1 <<SQL
BEGIN;
INSERT INTO load_history (stage, file, etag, size, status, forced)
VALUES ('test', '$1', 'etag', 0, 'loaded', ${FORCED:-false});
CREATE TEMP TABLE r ON COMMIT DROP AS SELECT * FROM customer_raw WITH NO DATA;
\copy r (customer_id, first_name, last_name, email, street, city, state, country, update_timestamp, op, _file, _row) FROM '$1.rows' (FORMAT csv)
INSERT INTO customer_raw (customer_id, first_name, last_name, email, street, city, state, country, update_timestamp, op, _file, _row, _load_id)
SELECT customer_id, first_name, last_name, email, street, city, state, country, update_timestamp, op, _file, _row, currval('load_history_load_id_seq') FROM r;
COMMIT;
SQL
	[ $? -eq 0 ] || { echo "Bail out! cannot load $1"; exit 1; }
}
# The tables, NULL shown as ~, times as HH:MI (all events are on one day).
q() { psql -X -q -At -P null='~' -c "$1"; }
tables() {
	q "SELECT customer_id, first_name, email, to_char(update_timestamp, 'HH24:MI')
	   FROM customer ORDER BY 1"
	q "SELECT customer_id, first_name, email, to_char(start_time, 'HH24:MI'),
	          CASE WHEN end_time = '9999-12-31' THEN 'inf' ELSE to_char(end_time, 'HH24:MI') END,
	          is_current
	   FROM customer_history ORDER BY 1, start_time, end_time, email"
}
h='customer_id,first_name,last_name,email,street,city,state,country,update_timestamp,op'

ok "--help prints the usage" sh -c 'scd-merge --help | grep -q "^usage: scd-merge"'
ok "--version prints the version" sh -c 'scd-merge --version | grep -Eq "^scd-merge [0-9]"'
exits 2 "an unknown option is a usage error" scd-merge --bogus
grep_err "^scd-merge: unknown option '--bogus'" "and says which"
exits 2 "an operand is a usage error" scd-merge extra
exits 2 "--watch takes a number of seconds" scd-merge --watch=soon
exits 2 "an unknown history column is a usage error" scd-merge --history-columns email,age
grep_err "unknown history column 'age'" "and names it"
exits 75 "an unreachable database is a temporary failure" \
	scd-merge --db "host=$tmp port=1 connect_timeout=2"
grep_err "^scd-merge: cannot connect" "and says so"

exits 0 "a merge with nothing loaded succeeds" scd-merge
is "$(q 'SELECT count(*) FROM customer_history')" 0 "and creates an empty history"

load customer_20261122000001.csv <<CSV
$h
1,Ann,Lee,ann@x,1 Main,Boston,MA,US,2026-11-22T01:00:00Z,
2,Bob,Ray,,2 Elm,Austin,TX,US,2026-11-22T01:00:00Z,I
1,Ann,Lee,ann@x,1 Main,Boston,MA,US,2026-11-22T01:00:00Z,
1,Ann,Lee,ann@y,1 Main,Boston,MA,US,2026-11-22T02:00:00Z,U
2,Bob,Ray,,2 Elm,Austin,TX,US,2026-11-22T02:00:00Z,U
2,Bob,Ray,"",2 Elm,Austin,TX,US,2026-11-22T03:00:00Z,U
3,Cy,Oh,c@x,3 Oak,Reno,NV,US,2026-11-22T01:00:00Z,
3,,,,,,,,2026-11-22T02:00:00Z,D
3,Cy,Oh,c@x,3 Oak,Reno,NV,US,2026-11-22T04:00:00Z,
4,Di,Wu,d@x,4 Ash,Provo,UT,US,2026-11-22T01:00:00Z,
4,Di,Wu,d@z,4 Ash,Provo,UT,US,2026-11-22T01:00:00Z,
5,,,,,,,,2026-11-22T01:00:00Z,D
CSV
exits 0 "the first merge succeeds" scd-merge
grep_err "^scd-merge: merged 12 events of 1 loads: 5 keys" "and sums up what it merged"
tables >actual
cat >expect <<'EOF2'
1|Ann|ann@y|02:00
2|Bob||03:00
3|Cy|c@x|04:00
4|Di|d@z|01:00
1|Ann|ann@x|01:00|02:00|f
1|Ann|ann@y|02:00|inf|t
2|Bob|~|01:00|03:00|f
2|Bob||03:00|inf|t
3|Cy|c@x|01:00|02:00|f
3|Cy|c@x|04:00|inf|t
4|Di|d@x|01:00|01:00|f
4|Di|d@z|01:00|inf|t
EOF2
is "$(cat actual)" "$(cat expect)" \
	"update, duplicate, equal re-send, NULL to \"\", delete, resurrection, same instant"

# A file whose name sorts first arrives last, with late events.
load customer_20261122000000.csv <<CSV
$h
1,Ann,Lee,ann@late,1 Main,Boston,MA,US,2026-11-22T01:30:00Z,
2,,,,,,,,2026-11-22T02:30:00Z,D
4,Di,Wu,d@y,4 Ash,Provo,UT,US,2026-11-22T01:00:00Z,
CSV
exits 0 "merging late events succeeds" scd-merge
grep_err "3 keys \(3 late\)" "and counts the late keys"
tables >actual
cat >expect <<'EOF2'
1|Ann|ann@y|02:00
2|Bob||03:00
3|Cy|c@x|04:00
4|Di|d@z|01:00
1|Ann|ann@x|01:00|01:30|f
1|Ann|ann@late|01:30|02:00|f
1|Ann|ann@y|02:00|inf|t
2|Bob|~|01:00|02:30|f
2|Bob||03:00|inf|t
3|Cy|c@x|01:00|02:00|f
3|Cy|c@x|04:00|inf|t
4|Di|d@x|01:00|01:00|f
4|Di|d@y|01:00|01:00|f
4|Di|d@z|01:00|inf|t
EOF2
is "$(cat actual)" "$(cat expect)" \
	"late events split a version, a late delete cuts one, ties go by file name"

exits 0 "a second run succeeds" scd-merge
tables >again
is "$(cat again)" "$(cat expect)" "and changes nothing"
cp customer_20261122000001.csv again.csv
FORCED=true load customer_20261122000001.csv <again.csv
exits 0 "a forced reload of the first file merges" scd-merge
grep_err "merged 12 events" "all its rows again"
tables >again
is "$(cat again)" "$(cat expect)" "and changes nothing"
is "$(q 'SELECT count(*) FROM load_history WHERE merged_at IS NULL')" 0 \
	"every load is marked merged"

scd-merge --as-of 2026-11-22T01:45:00Z >asof.csv 2>asof.err
cat >expect <<'EOF2'
customer_id,first_name,last_name,email,street,city,state,country,update_timestamp
1,Ann,Lee,ann@late,1 Main,Boston,MA,US,2026-11-22T01:30:00.000000Z
2,Bob,Ray,,2 Elm,Austin,TX,US,2026-11-22T01:00:00.000000Z
3,Cy,Oh,c@x,3 Oak,Reno,NV,US,2026-11-22T01:00:00.000000Z
4,Di,Wu,d@z,4 Ash,Provo,UT,US,2026-11-22T01:00:00.000000Z
EOF2
is "$(cat asof.csv)" "$(cat expect)" "--as-of prints the dimension at that time as CSV"
is "$(scd-merge --as-of 2026-11-22T02:45:00+00:00 | cut -d, -f1,4 | tr '\n' ' ')" \
	"customer_id,email 1,ann@y 4,d@z " "--as-of skips deleted keys"
is "$(scd-merge --as-of 2026-11-22T00:00:00Z)" \
	"customer_id,first_name,last_name,email,street,city,state,country,update_timestamp" \
	"--as-of before any event prints the header only"
is "$(q "SELECT count(*) FROM customer_as_of('2026-11-22T05:00Z')")" 4 \
	"customer_as_of() is there for SQL users"
exits 2 "--as-of rejects a bad time" scd-merge --as-of yesterday-ish
grep_err "invalid time 'yesterday-ish'" "and names it"
exits 2 "--as-of and --verify exclude each other" scd-merge --as-of now --verify

exits 0 "--verify passes on merged tables" scd-merge --verify
# customer holds the current versions, so what can break is in the
# closed ones.
closed() { q "UPDATE customer_history_closed SET $1" >/dev/null; }
closed "end_time = '2026-11-22T05:00Z' WHERE customer_id = 3 AND start_time = '2026-11-22T01:00Z'"
exits 1 "--verify fails on overlapping versions" scd-merge --verify
grep_err "^scd-merge: customer '3': overlapping versions" "and names the key"
closed "end_time = '2026-11-22T02:00Z' WHERE customer_id = 3 AND start_time = '2026-11-22T01:00Z'"
closed "start_time = '2026-11-22T03:00Z' WHERE customer_id = 3 AND start_time = '2026-11-22T01:00Z'"
exits 1 "--verify fails on a version that ends before it starts" scd-merge --verify
grep_err "customer '3': start_time after end_time" "and names the key"
closed "start_time = '2026-11-22T01:00Z' WHERE customer_id = 3 AND start_time = '2026-11-22T03:00Z'"
closed "end_time = '9999-12-31' WHERE customer_id = 2 AND start_time = '2026-11-22T01:00Z'"
exits 1 "--verify fails on a closed version left open" scd-merge --verify
grep_err "customer '2': closed version without an end" "and names the key"
closed "end_time = '2026-11-22T02:30Z' WHERE customer_id = 2 AND start_time = '2026-11-22T01:00Z'"
exits 0 "--verify passes once repaired" scd-merge --verify

# History on chosen columns: email and street changes update in place.
load customer_20261122000002.csv <<CSV
$h
10,Eve,Ng,e@1,1 Pine,Lima,OH,US,2026-11-22T01:00:00Z,
10,Eve,Ng,e@2,2 Pine,Lima,OH,US,2026-11-22T02:00:00Z,
10,Eva,Ng,e@3,2 Pine,Lima,OH,US,2026-11-22T03:00:00Z,
10,Eva,Ng,e@4,2 Pine,Lima,OH,US,2026-11-22T04:00:00Z,
CSV
exits 0 "--history-columns sets the columns that open versions" \
	scd-merge --history-columns first_name,last_name,city,state,country
is "$(q "SELECT first_name || ' ' || email || ' ' || street || ' ' || to_char(start_time, 'HH24') || '-' || to_char(end_time, 'HH24') FROM customer_history WHERE customer_id = 10 ORDER BY start_time" | tr '\n' ';')" \
	"Eve e@2 2 Pine 01-03;Eva e@4 2 Pine 03-00;" \
	"a change of other columns updates the current version in place"
is "$(q "SELECT email || ' ' || to_char(update_timestamp, 'HH24') FROM customer WHERE customer_id = 10")" \
	"e@4 03" "customer has the latest values and its version's start"
exits 0 "--verify passes with chosen history columns" scd-merge --verify

# --watch outlives an unreachable database: it says so and retries.
scd-merge --watch 0.1 --db "host=$tmp port=1 connect_timeout=1" 2>down.err &
watcher=$!
n=100
while [ $n -gt 0 ] && [ "$(grep -c 'retrying in 0.1 s' down.err)" -lt 2 ]; do sleep 0.1; n=$((n - 1)); done
ok "--watch retries an unreachable database" test "$(grep -c 'retrying in 0.1 s' down.err)" -ge 2
kill -TERM $watcher
wait $watcher
is "$?" 0 "and ends with status 0 on SIGTERM"
done_testing
