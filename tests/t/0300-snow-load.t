#!/bin/sh
# snow-load on a local stage and on S3: each file loads once with its
# load_history row, a re-run loads nothing, --on-error abort, skip_file and
# continue, --force, --purge, --validate without a database, --history,
# the NOTIFY after a load, paging through a stage of more than 1000
# objects, and the usage errors and exit codes of DESIGN §4.
. "${CT_TOP:-.}/tests/lib.sh"
new_db
new_bucket
export PGTZ=UTC
H=customer_id,first_name,last_name,email,street,city,state,country,update_timestamp,op
mkdir stage

exits 0 "--help exits 0" snow-load --help
cp "$tmp/.out" help.out
ok "--help prints the synopsis" grep -q 'usage: snow-load' help.out
exits 0 "--version exits 0" snow-load --version
exits 2 "no stage is a usage error" snow-load
exits 2 "a bad --on-error is a usage error" snow-load --on-error maybe stage
grep_err "invalid --on-error 'maybe'" "the message names the bad value"
exits 2 "a bad --watch interval is a usage error" snow-load --watch=-1 stage
exits 2 "--since without --history is a usage error" snow-load --since '1 hour' stage
exits 1 "a missing directory is a permanent failure" snow-load nowhere
grep_err "^snow-load: cannot open stage 'nowhere': No such file" "and says which stage"
exits 75 "an unreachable database is a temporary failure" \
	snow-load --db "host=$tmp/none" stage

exits 75 "an unreachable S3 endpoint is a temporary failure" \
	env AWS_MAX_ATTEMPTS=1 snow-load --endpoint http://127.0.0.1:1 "s3://$bucket/in/"
grep_err "^snow-load: cannot list 's3://$bucket/in/'" "and says which stage"
exits 1 "a malformed S3 stage is a permanent failure" snow-load s3:///in/
grep_err "invalid stage 's3:///in/'" "with a clear message"

cat >stage/customer_20261122010000.csv <<EOF
$H
1,Ann,Lee,ann@example.com,1 Main St,Oslo,,NO,2026-11-22T01:00:00Z,
2,"Bo ""B""","",bo@example.com,"2 Side St, Apt 3",Bergen,,NO,2026-11-22T02:00:00+01:00,I
EOF
printf '%s\r\n%s\r\n' "$H" '3,Cy,Dee,cy@example.com,3 Rd,Oslo,,NO,2026-11-22T01:00:00.5Z,D' \
	>stage/customer_20261122020000.csv
printf 'not,a,staged,file\n' >stage/notes.txt
printf '%s\n' "$H" >stage/.customer_20261122030000.csv.tmp

exits 0 "a first run loads the stage" snow-load stage
grep_err "^snow-load: loaded 3 rows from 2 files in" "it ends with a summary line"
is "$(sql "SELECT customer_id, first_name, last_name IS NULL, last_name, street, state IS NULL,
	update_timestamp, op, _file, _row FROM customer_raw ORDER BY _file, _row")" \
"1|Ann|f|Lee|1 Main St|t|2026-11-22 01:00:00+00||customer_20261122010000.csv|2
2|Bo \"B\"|f||2 Side St, Apt 3|t|2026-11-22 01:00:00+00|I|customer_20261122010000.csv|3
3|Cy|f|Dee|3 Rd|t|2026-11-22 01:00:00.5+00|D|customer_20261122020000.csv|2" \
	"rows land as written: NULL for unquoted empty, '' for quoted, times with offsets, CRLF"
is "$(sql "SELECT file, status, rows_loaded, rows_rejected, (SELECT count(*) FROM customer_raw r
	WHERE r._load_id = h.load_id) FROM load_history h ORDER BY file")" \
"customer_20261122010000.csv|loaded|2|0|2
customer_20261122020000.csv|loaded|1|0|1" \
	"one load_history row per file, whose load_id the rows carry; other names are ignored"
exits 0 "a second run succeeds" snow-load stage
grep_err "loaded 0 rows from 0 files .*2 files already loaded" "and loads nothing"
is "$(sql 'SELECT count(*) FROM customer_raw')" 3 "no row is loaded twice"

# The same name with new contents (a new ETag) is a new file.
touch -d '2026-01-01 00:00:00' stage/customer_20261122020000.csv
exits 0 "a changed file is loaded again" snow-load stage
is "$(sql "SELECT count(*) FROM load_history WHERE file = 'customer_20261122020000.csv'")" 2 \
	"as a second load_history row"

exits 0 "--force reloads everything" snow-load --force stage
grep_err "'customer_20261122010000.csv' was loaded before: --force duplicated its rows" \
	"and warns that it duplicates rows"
is "$(sql 'SELECT count(*), count(DISTINCT _load_id) FROM customer_raw')" "7|5" \
	"forced rows are distinct loads"

exits 0 "--history prints the load history" snow-load --history
is "$(head -n 1 "$tmp/.out")" \
	"$(printf 'load_id\tloaded_at\tstage\tfile\tstatus\trows_loaded\trows_rejected\tforced\tfirst_error')" \
	"with a header line"
is "$(tail -n +2 "$tmp/.out" | cut -f 4,5,6,8 | sort | uniq -c | sed 's/^ *//')" \
"1 customer_20261122010000.csv	loaded	2	f
1 customer_20261122010000.csv	loaded	2	t
2 customer_20261122020000.csv	loaded	1	f
1 customer_20261122020000.csv	loaded	1	t" "and one line per load"
exits 0 "--history --since in the future prints only the header" \
	snow-load --history --since '2999-01-01'
is "$(wc -l <"$tmp/.out")" 1 "which it does"
exits 0 "--since takes an interval too" snow-load --history --since "1 hour" stage
is "$(wc -l <"$tmp/.out")" 6 "and STAGE filters the history"
exits 2 "a bad --since is a usage error" snow-load --history --since 'yesterday-ish'

# --on-error: one good file, one with a bad row in the middle, one more good.
mkdir bad
good_file() { printf '%s\n' "$H" "$1,A,B,a@b.c,1 St,X,,NO,2026-11-22T01:00:00Z,"; }
good_file 10 >bad/customer_1.csv
{ printf '%s\n' "$H" '11,A,B,a@b.c,1 St,X,,NO,2026-11-22T01:00:00Z,' \
	'12,A,B,a@b.c,1 St,X,,NO,2026-11-22T01:00:00,' \
	'13,A,B,a@b.c,1 St,X,,NO,2026-11-22T01:00:00Z,X' \
	'14,A,B,a@b.c,1 St,X,,NO,2026-11-22T01:00:00Z,U'; } >bad/customer_2.csv
good_file 15 >bad/customer_3.csv
abs=$(cd bad && pwd -P)
status_of() { sql "SELECT status || ' ' || rows_loaded || ' ' || rows_rejected || ' ' ||
	coalesce(first_error, '') FROM load_history WHERE stage = '$abs' AND file = '$1'
	ORDER BY load_id DESC LIMIT 1"; }

exits 1 "--on-error skip_file (the default): a bad row skips its file" snow-load bad
grep_err "'customer_2.csv' rejected, skipped: line 3: update_timestamp '2026-11-22T01:00:00' is not an ISO 8601 time with a UTC offset" \
	"and says which row and why"
is "$(status_of customer_2.csv)" \
	"skipped 0 1 line 3: update_timestamp '2026-11-22T01:00:00' is not an ISO 8601 time with a UTC offset" \
	"the file is recorded skipped (Snowflake's Load skipped), with its first error"
is "$(sql "SELECT count(*) FROM customer_raw WHERE customer_id BETWEEN 11 AND 14")" 0 \
	"and loads no row"
is "$(status_of customer_3.csv)" "loaded 1 0 " "the run goes on with the next file"

cp -R bad abort
exits 1 "--on-error abort: a bad row stops the run" snow-load --on-error abort abort
grep_err "stopping: --on-error abort" "and says so"
abs=$(cd abort && pwd -P)
is "$(status_of customer_2.csv | cut -d' ' -f 1-3)" "failed 0 1" "the bad file is recorded failed"
is "$(status_of customer_3.csv)" "" "the files after it are left for later"
abs=$(cd bad && pwd -P)
exits 0 "a skipped file is not retried until it changes" snow-load bad

exits 1 "--on-error continue with --force loads the good rows, and says rows were rejected" \
	snow-load --on-error continue --force bad
grep_err "'customer_2.csv': 2 rows rejected, the first at line 3" "it warns"
is "$(status_of customer_2.csv)" \
	"partially_loaded 2 2 line 3: update_timestamp '2026-11-22T01:00:00' is not an ISO 8601 time with a UTC offset" \
	"the file is partially_loaded"
is "$(sql "SELECT customer_id, _row FROM customer_raw WHERE customer_id BETWEEN 11 AND 14 ORDER BY 1")" \
	"11|2
14|5" "its good rows are loaded"
is "$(sql "SELECT e.file, e.line, e.reason, e.raw FROM load_errors e JOIN load_history h USING (load_id)
	WHERE h.status = 'partially_loaded' ORDER BY line")" \
"customer_2.csv|3|update_timestamp '2026-11-22T01:00:00' is not an ISO 8601 time with a UTC offset|12,A,B,a@b.c,1 St,X,,NO,2026-11-22T01:00:00,
customer_2.csv|4|op 'X' is not I, U, D or empty|13,A,B,a@b.c,1 St,X,,NO,2026-11-22T01:00:00Z,X" \
	"each bad row is in load_errors with its line, reason and raw text"

# --validate needs no database and loads nothing.
exits 1 "--validate finds the bad rows" env PGHOST="$tmp/none" snow-load --validate bad
is "$(cat "$tmp/.out")" \
"customer_2.csv:3: update_timestamp '2026-11-22T01:00:00' is not an ISO 8601 time with a UTC offset
customer_2.csv:4: op 'X' is not I, U, D or empty" "and prints each of them on stdout"
grep_err "validated 3 files \(6 rows\) in .*: 2 bad rows, 0 bad files" "with a summary on stderr"
exits 0 "--validate of a good stage exits 0" env PGHOST="$tmp/none" snow-load --validate stage
cat bad/customer_2.csv >stdin.csv
exits 1 "--validate - reads standard input" sh -c 'snow-load --validate - <stdin.csv'
is "$(cat "$tmp/.out")" \
"-:3: update_timestamp '2026-11-22T01:00:00' is not an ISO 8601 time with a UTC offset
-:4: op 'X' is not I, U, D or empty" "and names it '-'"

# --purge deletes what was loaded, and what an earlier run loaded.
mkdir purge
good_file 20 >purge/customer_1.csv
exits 0 "a run without --purge" snow-load purge
good_file 21 >purge/customer_2.csv
{ printf '%s\n' "$H" 'x'; } >purge/customer_3.csv
exits 1 "a run with --purge" snow-load --purge purge
is "$(ls purge)" "customer_3.csv" "removes the loaded files, old and new, and keeps the skipped one"
exits 0 "a later run with --purge" snow-load --purge purge
is "$(ls purge)" "customer_3.csv" "keeps the file an earlier run skipped"

# S3: a stage of 1001 objects takes more than one page of ListObjectsV2.
mkdir many
i=0
while [ $i -lt 1001 ]; do
	printf '%s\n%s\n' "$H" "$((i + 100)),A,B,a@b.c,1 St,X,,NO,2026-11-22T01:00:00Z," \
		>many/customer_$(printf %04d $i).csv
	i=$((i + 1))
done
ok "s3-put stages 1001 files" s3-put --jobs 8 many/*.csv "s3://$bucket/many/"

# Listen for the NOTIFY before loading; psql prints it after its next query.
mkfifo listen.in
psql -X -q <listen.in >listen.out 2>&1 &
listener=$!
exec 3>listen.in
echo 'LISTEN customertrack_loaded;' >&3
n=0
until [ "$(sql "SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'LISTEN%'
	AND state = 'idle' AND datname = current_database()")" -ge 1 ] || [ $n -ge 100 ]; do
	n=$((n + 1)); sleep 0.1
done

exits 0 "snow-load loads an S3 stage" snow-load "s3://$bucket/many/"
grep_err "loaded 1001 rows from 1001 files" "every object of every page"
echo 'SELECT 1;' >&3
exec 3>&-
wait $listener
is "$(grep -c 'notification "customertrack_loaded" with payload "[0-9]*"' listen.out)" 1001 \
	"each load sends NOTIFY customertrack_loaded with its load_id"
is "$(sql "SELECT count(*), min(stage) FROM load_history WHERE stage LIKE 's3://%'")" \
	"1001|s3://$bucket/many/" "the history names the S3 stage"
exits 0 "a second run on S3 loads nothing" snow-load --purge "s3://$bucket/many"
grep_err "loaded 0 rows from 0 files .*1001 files already loaded; 1001 files purged" \
	"and --purge deletes the loaded objects"
is "$(s3curl GET "/$bucket?list-type=2&prefix=many/" | grep -c '<Key>')" 0 "the stage is empty"

# --watch loads files as they appear and stops on SIGTERM.
mkdir watch
snow-load --watch 0.1 watch 2>watch.err &
watcher=$!
good_file 30 >watch/.tmp && mv watch/.tmp watch/customer_1.csv
n=0
until [ "$(sql "SELECT count(*) FROM customer_raw WHERE customer_id = 30")" = 1 ] || [ $n -ge 150 ]; do
	n=$((n + 1)); sleep 0.1
done
is "$(sql "SELECT count(*) FROM customer_raw WHERE customer_id = 30")" 1 "--watch loads a file that appears"
kill -TERM $watcher
wait $watcher
is "$?" 0 "--watch exits 0 on SIGTERM"

mkdir watch_abort
{ printf '%s\n' "$H" 'x'; } >watch_abort/customer_1.csv
exits 1 "--watch --on-error abort ends at a rejected file" \
	snow-load --watch 0.1 --on-error abort watch_abort
grep_err "'customer_1.csv' rejected: line 2: expected 10 fields, found 1" "and says why"

done_testing
