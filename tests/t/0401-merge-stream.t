#!/bin/sh
# scd-merge as a stream consumer: the offset (merged loads) commits with
# the merge, so a merge killed midway and run again gives the tables of an
# uninterrupted one; two overlapping runs never merge a load twice (the
# second waits on the advisory lock, then finds nothing left); --watch
# merges on snow-load's NOTIFY, and by polling when no NOTIFY comes.
. "${CT_TOP:-.}/tests/lib.sh"
new_db
export PGTZ=UTC
lock_key=7166741551542052717

# load_events DB N SEED: one load of N generated events into database DB.
load_events() {
	gen-customers -q -n "$2" --seed "$3" --customers $(($2 / 2)) \
		--start 2026-11-22T00:00:00Z >"ev$3.csv" || return 1
	awk -v f="customer_$3.csv" 'NR > 1 { print $0 ",\"" f "\"," NR }' \
		"ev$3.csv" >"ev$3.rows"
	psql -X -q -v ON_ERROR_STOP=1 -d "$1" <<SQL
BEGIN;
INSERT INTO load_history (stage, file, etag, size, status)
VALUES ('test', 'customer_$3.csv', 'e', 0, 'loaded');
CREATE TEMP TABLE r ON COMMIT DROP AS SELECT * FROM customer_raw WITH NO DATA;
\copy r (customer_id, first_name, last_name, email, street, city, state, country, update_timestamp, op, _file, _row) FROM 'ev$3.rows' (FORMAT csv)
INSERT INTO customer_raw (customer_id, first_name, last_name, email, street, city, state, country, update_timestamp, op, _file, _row, _load_id)
SELECT customer_id, first_name, last_name, email, street, city, state, country, update_timestamp, op, _file, _row, currval('load_history_load_id_seq') FROM r;
COMMIT;
SQL
}
dump() {
	psql -X -q -At -d "$1" -c "SELECT * FROM customer ORDER BY customer_id" -c \
		"SELECT * FROM customer_history ORDER BY customer_id, start_time, end_time"
}
# until SECS CMD...: polls CMD every 0.1 s until it succeeds, at most SECS.
until_ok() {
	n=$(($1 * 10)); shift
	while [ $n -gt 0 ]; do "$@" && return 0; sleep 0.1; n=$((n - 1)); done
	return 1
}
q() { psql -X -q -At -c "$1"; }

ref="${PGDATABASE}_ref"
dropdb --if-exists "$ref"; createdb "$ref"
ok "the reference database is set up" scd-merge --db "dbname=$ref"
ok "scd-merge sets up the test database" scd-merge
for seed in 1 2 3; do
	ok "load $seed of 20000 events" load_events "$ref" 20000 $seed
	load_events "$PGDATABASE" 20000 $seed
done
ok "an uninterrupted merge of the reference" scd-merge --db "dbname=$ref"
dump "$ref" >expect

# A psql session of our own, fed through a fifo: hold_start, hold SQL...,
# until_ok SECS printed TEXT (until it has printed TEXT), hold_end.
hold_start() {
	rm -f ctl; mkfifo ctl
	psql -X -q -At <ctl >holder.out 2>&1 &
	holder=$!
	exec 3>ctl
}
hold() { printf '%s\n' "$@" >&3; }
printed() { grep -q "$1" holder.out; }
hold_end() { exec 3>&-; wait $holder; }

# A merge killed midway: it has written the tables and waits to record its
# offset (a session holds the load_history rows); the client is killed,
# then its backend (as a crash would end it).
hold_start
hold "BEGIN;" "SELECT load_id FROM load_history FOR UPDATE;" "\\echo held"
ok "a session holds the load_history rows" until_ok 20 printed held
scd-merge 2>kill.err &
pid=$!
blocked() { [ "$(q "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND query LIKE '%scd_merge()%' AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()")" -gt 0 ]; }
ok "the merge does its work and waits to record the offset" until_ok 30 blocked
kill -9 $pid
wait $pid 2>/dev/null
q "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND query LIKE '%scd_merge()%' AND pid <> pg_backend_pid()" >/dev/null
hold "ROLLBACK;"
hold_end
gone() { [ "$(q "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND query LIKE '%scd_merge()%' AND pid <> pg_backend_pid()")" -eq 0 ]; }
ok "its backend is gone" until_ok 20 gone
is "$(q 'SELECT count(*) FROM load_history WHERE merged_at IS NOT NULL')" 0 \
	"the killed merge committed no offset"
is "$(q 'SELECT count(*) FROM customer_history')" 0 "and no rows"
ok "a re-run merges" scd-merge
dump "$PGDATABASE" >actual
is "$(cat actual)" "$(cat expect)" "and gives the tables of an uninterrupted merge"

# Two overlapping runs: both wait on a held lock, one merges, one finds
# nothing.
for seed in 4 5; do load_events "$ref" 20000 $seed; load_events "$PGDATABASE" 20000 $seed; done
ok "the reference merges loads 4 and 5" scd-merge --db "dbname=$ref"
dump "$ref" >expect
hold_start
hold "SELECT pg_advisory_lock($lock_key);" "\\echo locked"
ok "a session holds the merge lock" until_ok 20 printed locked
scd-merge 2>run1.err & p1=$!
scd-merge 2>run2.err & p2=$!
waiting() { [ "$(q "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted AND database = (SELECT oid FROM pg_database WHERE datname = current_database())")" -eq 2 ]; }
ok "both runs wait for the lock" until_ok 20 waiting
hold "SELECT pg_advisory_unlock($lock_key);"
hold_end
wait $p1; s1=$?
wait $p2; s2=$?
is "$s1 $s2" "0 0" "both runs succeed"
is "$(cat run1.err run2.err | grep -c '^scd-merge: merged 40000 events of 2 loads')" 1 \
	"exactly one of them merges the two loads"
dump "$PGDATABASE" >actual
is "$(cat actual)" "$(cat expect)" "and the tables equal the reference"

# --watch: a NOTIFY wakes it long before its 60 s poll.
scd-merge --watch 60 --metrics watch.prom 2>watch.err &
watcher=$!
listening() { [ "$(q "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND query LIKE '%FROM scd_merge()%' AND state = 'idle'")" -gt 0 ]; }
ok "scd-merge --watch listens" until_ok 20 listening
load_events "$PGDATABASE" 1000 6
q "NOTIFY customertrack_loaded, '6'" >/dev/null
all_merged() { [ "$(q 'SELECT count(*) FROM load_history WHERE merged_at IS NULL')" -eq 0 ]; }
ok "--watch merges a load on its NOTIFY" until_ok 10 all_merged
counted() { grep -q '^customertrack_rows_total{program="scd-merge"} 1000$' watch.prom; }
ok "--watch writes its metrics after each merge" until_ok 10 counted
kill -TERM $watcher
wait $watcher
is "$?" 0 "--watch ends with status 0 on SIGTERM"

scd-merge --watch 0.5 2>watch.err &
watcher=$!
ok "scd-merge --watch 0.5 listens" until_ok 20 listening
load_events "$PGDATABASE" 1000 7
ok "--watch merges a load without NOTIFY by polling" until_ok 10 all_merged
kill -INT $watcher
wait $watcher
is "$?" 0 "--watch ends with status 0 on SIGINT"
ok "--verify passes after all of this" scd-merge --verify
dropdb "$ref"
done_testing
