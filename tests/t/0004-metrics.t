#!/bin/sh
# --metrics FILE: every program writes the Prometheus textfile format with
# what its run did, atomically, and a failed run says so but keeps the time
# of the last success.
. "${CT_TOP:-.}/tests/lib.sh"
new_db
new_bucket

metric() { sed -n "s/^customertrack_$1{program=\"$2\"} //p" "$3"; }

ok "gen-customers runs with --metrics" sh -c 'gen-customers -n 250 --seed 1 --metrics gen.prom >gen.csv'
is "$(metric rows_total gen-customers gen.prom)" 250 "gen-customers counts its rows"
is "$(metric up gen-customers gen.prom)" 1 "gen-customers reports success"

mkdir stage
cp gen.csv stage/customer_20261122000000.csv
ok "s3-put runs with --metrics" s3-put --metrics put.prom stage/customer_20261122000000.csv "s3://$bucket/in/"
is "$(metric files_total s3-put put.prom)" 1 "s3-put counts its files"

ok "snow-load runs with --metrics" snow-load --metrics load.prom "s3://$bucket/in/"
is "$(metric rows_total snow-load load.prom)" 250 "snow-load counts the rows it loaded"
is "$(metric files_total snow-load load.prom)" 1 "snow-load counts the files it loaded"

ok "scd-merge runs with --metrics" scd-merge --metrics merge.prom
is "$(metric rows_total scd-merge merge.prom)" 250 "scd-merge counts the raw rows it merged"
last=$(metric last_success_timestamp_seconds scd-merge merge.prom)
ok "the last success time is a recent Unix time" test "${last%.*}" -gt 1700000000

exits 75 "scd-merge fails on an unreachable database" \
	scd-merge --metrics merge.prom --db "host=$tmp port=1 connect_timeout=2"
is "$(metric up scd-merge merge.prom)" 0 "a failed run reports up 0"
is "$(metric last_success_timestamp_seconds scd-merge merge.prom)" "$last" \
	"a failed run keeps the time of the last success"
is "$(ls -A | grep -c '\.tmp')" 0 "no temporary metrics file is left behind"
done_testing
