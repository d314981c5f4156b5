#!/bin/sh
# scd-merge after the real snow-load: files loaded from a local stage out of
# order (the later-named file first), one of them forced in again, merge to
# the history DESIGN §3 defines; and scd-merge --watch merges what
# snow-load --watch loads, woken by its NOTIFY.
. "${CT_TOP:-.}/tests/lib.sh"
if ! command -v snow-load >/dev/null; then
	echo "1..0 # SKIP snow-load is not built"
	exit 0
fi
new_db
export PGTZ=UTC
mkdir stage later
h='customer_id,first_name,last_name,email,street,city,state,country,update_timestamp,op'
cat >later/customer_20261122020000.csv <<CSV
$h
7,Ida,Bell,ida@2,7 Elm,Troy,NY,US,2026-11-22T02:00:00Z,
8,,,,,,,,2026-11-22T02:00:00Z,D
CSV
cat >later/customer_20261122010000.csv <<CSV
$h
7,Ida,Bell,ida@1,7 Elm,Troy,NY,US,2026-11-22T01:00:00Z,
8,Max,Roe,max@1,8 Oak,Erie,PA,US,2026-11-22T01:00:00Z,
8,Max,Roe,max@1,8 Oak,Erie,PA,US,2026-11-22T01:30:00Z,
7,Ida,Bell,ida@3,7 Elm,Troy,NY,US,2026-11-22T03:00:00Z,
CSV
history() {
	psql -X -q -At -c "SELECT customer_id, email, to_char(start_time, 'HH24:MI'),
		CASE WHEN is_current THEN 'now' ELSE to_char(end_time, 'HH24:MI') END
		FROM customer_history ORDER BY 1, start_time"
}
expect='7|ida@1|01:00|02:00
7|ida@2|02:00|03:00
7|ida@3|03:00|now
8|max@1|01:00|02:00'

mv later/customer_20261122020000.csv stage/
ok "snow-load loads the later file" snow-load -q stage
ok "scd-merge merges it" scd-merge -q
mv later/customer_20261122010000.csv stage/
ok "snow-load loads the earlier file" snow-load -q stage
ok "scd-merge merges its late events" scd-merge -q
is "$(history)" "$expect" "the history is the replay of both files in time order"
ok "snow-load --force loads the files again" snow-load -q --force stage
exits 0 "scd-merge merges the reloaded rows" scd-merge
grep_err "merged 6 events of 2 loads" "all six of them"
is "$(history)" "$expect" "and the history does not change"
is "$(psql -X -q -At -c 'SELECT customer_id || email FROM customer ORDER BY 1')" "7ida@3" \
	"customer holds the live customer's latest values"

# Both watching: a file dropped in the stage reaches customer_history.
snow-load -q --watch 0.2 stage 2>load.err & loader=$!
scd-merge -q --watch 30 2>merge.err & merger=$!
cat >later/customer_20261122040000.csv <<CSV
$h
9,Kim,Lu,kim@1,9 Ash,Waco,TX,US,2026-11-22T04:00:00Z,
CSV
mv later/customer_20261122040000.csv stage/
seen() { [ "$(psql -X -q -At -c 'SELECT count(*) FROM customer_history WHERE customer_id = 9')" = 1 ]; }
n=100
while [ $n -gt 0 ] && ! seen; do sleep 0.1; n=$((n - 1)); done
ok "a file dropped in the stage reaches customer_history within 10 s" seen
kill -TERM $loader $merger
wait $loader; wait $merger
is "$?" 0 "scd-merge --watch stops cleanly"
done_testing
