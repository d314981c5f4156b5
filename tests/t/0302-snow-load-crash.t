#!/bin/sh
# snow-load exactly once: a kill -9 while reading a file, during COPY,
# just before COMMIT, or at a random moment of a long COPY, followed by a
# re-run, leaves exactly one copy of every row; two runs at once load each
# file once.  SNOW_LOAD_TEST_STOP=read|copy|commit makes snow-load stop
# itself (SIGSTOP) at that point so that the kill lands there.
. "${CT_TOP:-.}/tests/lib.sh"
new_db

# wait_until CMD...: polls CMD for up to 20 s; returns its last status.
wait_until() {
	n=0
	until "$@"; do
		n=$((n + 1))
		[ $n -ge 200 ] && return 1
		sleep 0.1
	done
}
is_stopped() { case $(ps -o stat= -p "$1") in T*) return 0 ;; esac; return 1; }
no_backend() {
	[ "$(sql "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'snow-load'
		AND datname = current_database() AND pid <> pg_backend_pid()")" = 0 ]
}
rows_of() { sql "SELECT count(*) FROM customer_raw r JOIN load_history h ON h.load_id = r._load_id
	WHERE h.stage = '$(cd "$1" && pwd -P)'"; }
dups_of() { sql "SELECT count(*) - count(DISTINCT (_file, _row)) FROM customer_raw r
	JOIN load_history h ON h.load_id = r._load_id WHERE h.stage = '$(cd "$1" && pwd -P)'"; }
history_of() { sql "SELECT count(*) FROM load_history WHERE stage = '$(cd "$1" && pwd -P)'"; }

mkdir files
for i in 1 2 3; do
	gen-customers -q -n 20000 --seed $i >files/customer_2026112200000$i.csv
done

for point in read copy commit; do
	cp -R files "at_$point"
	SNOW_LOAD_TEST_STOP=$point snow-load "at_$point" 2>/dev/null &
	pid=$!
	if wait_until is_stopped $pid; then pass "snow-load stops at '$point'"; else fail "snow-load stops at '$point'"; fi
	kill -9 $pid
	wait $pid 2>/dev/null
	wait_until no_backend
	is "$(rows_of "at_$point"):$(history_of "at_$point")" "0:0" \
		"killed at '$point': no row and no history of the unfinished load"
	exits 0 "a re-run after the kill at '$point' succeeds" snow-load "at_$point"
	is "$(rows_of "at_$point"):$(dups_of "at_$point"):$(history_of "at_$point")" "60000:0:3" \
		"and every row is there once"
done

# The same during an S3 download.
new_bucket
ok "s3-put stages the files" s3-put files/*.csv "s3://$bucket/in/"
SNOW_LOAD_TEST_STOP=read snow-load "s3://$bucket/in/" 2>/dev/null &
pid=$!
if wait_until is_stopped $pid; then pass "snow-load stops while it downloads"; else fail "snow-load stops while it downloads"; fi
kill -9 $pid
wait $pid 2>/dev/null
wait_until no_backend
s3_rows() { sql "SELECT count(*) FROM customer_raw r JOIN load_history h ON h.load_id = r._load_id
	WHERE h.stage = 's3://$bucket/in/'"; }
is "$(s3_rows)" 0 "killed while downloading: no row"
exits 0 "the re-run succeeds" snow-load "s3://$bucket/in/"
is "$(s3_rows)" 60000 "and loads every row once"

# A file that goes away between the listing and its load is skipped.
mkdir gone
cp files/* gone/
SNOW_LOAD_TEST_STOP=list snow-load gone 2>gone.err &
pid=$!
wait_until is_stopped $pid
rm gone/customer_20261122000002.csv
kill -CONT $pid
wait $pid
is "$?" 0 "a file gone since the listing is no failure"
ok "it is named in a warning" grep -q "'customer_20261122000002.csv' is gone from the stage" gone.err
is "$(rows_of gone):$(history_of gone)" "40000:2" "and the other files are loaded"

# A kill at whatever moment a long COPY has reached.
mkdir long
gen-customers -q -n 400000 --seed 9 >long/customer_20261122000000.csv
snow-load long 2>/dev/null &
pid=$!
copying() {
	[ "$(sql "SELECT count(*) FROM pg_stat_progress_copy p JOIN pg_stat_activity a USING (pid)
		WHERE a.application_name = 'snow-load' AND p.tuples_processed > 0")" -ge 1 ]
}
if wait_until copying; then pass "the long load reaches COPY"; else fail "the long load reaches COPY"; fi
kill -9 $pid
wait $pid 2>/dev/null
wait_until no_backend
# (Should the COPY have ended just before the kill, all of it is there.)
case $(rows_of long):$(history_of long) in
0:0 | 400000:1) pass "killed in COPY: the load is all there or not at all" ;;
*) fail "killed in COPY: the load is all there or not at all"; diag "$(rows_of long) rows" ;;
esac
exits 0 "the re-run succeeds" snow-load long
is "$(rows_of long):$(dups_of long):$(history_of long)" "400000:0:1" "and loads every row once"

# Two runs at once: each file is loaded by one of them.
mkdir both
i=0
while [ $i -lt 20 ]; do
	gen-customers -q -n 2000 --seed $((i + 100)) >both/customer_202611220000$(printf %02d $i).csv
	i=$((i + 1))
done
snow-load both 2>one.err &
one=$!
snow-load both 2>two.err
two_status=$?
wait $one
is "$?:$two_status" "0:0" "two runs at once both succeed"
is "$(rows_of both):$(dups_of both):$(history_of both)" "40000:0:20" "and load each file once"
is "$(cat one.err two.err | sed -n 's/.*loaded [0-9]* rows from \([0-9]*\) files.*/\1/p' |
	awk '{ s += $1 } END { print s }')" 20 "between them"

done_testing
