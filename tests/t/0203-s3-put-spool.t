#!/bin/sh
# s3-put --spool: --watch uploads files as they are completed (renamed or
# closed) in the directory and stops cleanly on SIGTERM; a kill -9 in the
# middle of a run loses no file: the next run uploads what is left.
. "${CT_TOP:-.}/tests/lib.sh"
new_bucket

keys() {
	s3curl GET "/$bucket?list-type=2&prefix=$(printf %s "$1" | sed 's,/,%2F,g')" |
		grep -o '<Key>[^<]*</Key>' | sed 's/<[^>]*>//g' | sort
}
# wait_for DESC CMD...: polls CMD for up to 15 s.
wait_for() {
	desc=$1; shift
	i=0
	until "$@" >/dev/null 2>&1; do
		i=$((i + 1))
		if [ $i -ge 150 ]; then fail "$desc"; return 1; fi
		sleep 0.1
	done
	pass "$desc"
}
spool_empty() { [ -z "$(ls -A spool | grep -v '^\.')" ]; }

mkdir spool
printf 'old\n' >spool/customer_0.csv
s3-put --spool spool --watch --metrics watch.prom "s3://$bucket/w/" >watch.out 2>watch.err &
pid=$!
wait_for "--watch first uploads what the spool already holds" spool_empty
printf 'one\n' >spool/.customer_1.csv.tmp
mv spool/.customer_1.csv.tmp spool/customer_1.csv
wait_for "a file renamed into the spool is uploaded and removed" spool_empty
printf 'two\n' >spool/customer_2.csv
wait_for "a file written in the spool is uploaded once closed" spool_empty
printf 'partial\n' >spool/.customer_3.csv.tmp
is "$(keys w/)" "$(printf 'w/customer_0.csv\nw/customer_1.csv\nw/customer_2.csv')" \
	"the three files are in S3, the temporary one is not"
three_in_metrics() { grep -qx 'customertrack_files_total{program="s3-put"} 3' watch.prom; }
wait_for "--watch keeps its metrics current while it runs" three_in_metrics
gen-customers -q -n 50 --seed 1 -o spool
wait_for "a file gen-customers completes in the spool is uploaded at once" spool_empty
kill -TERM $pid
wait $pid
is "$?" 0 "--watch exits 0 on SIGTERM"
ok "the temporary file is left alone" test -f spool/.customer_3.csv.tmp
is "$(sort watch.out)" "$(printf 's3://%s/w/customer_%s.csv\n' "$bucket" 0 "$bucket" 1 "$bucket" 2 "$bucket" 20260101000000)" \
	"each upload is printed"

# kill -9 in the middle of a run, then run again: no file is lost.
mkdir big
i=0
while [ $i -lt 400 ]; do echo "row $i" >"big/customer_$i.csv"; i=$((i + 1)); done
ls big | sort >expect
s3-put --jobs 2 --spool big "s3://$bucket/k/" >/dev/null 2>&1 &
pid=$!
has_some() { [ "$(ls big | wc -l)" -lt 390 ]; }
wait_for "the first run has uploaded some files" has_some
kill -9 $pid
wait $pid 2>/dev/null
left=$(ls big | wc -l)
diag "$left files were left by the killed run"
exits 0 "a second run uploads what is left" s3-put --spool big "s3://$bucket/k/"
is "$(ls -A big)" "" "the spool is empty"
is "$(keys k/ | sed 's,^k/,,')" "$(cat expect)" "every file is in S3, none lost"

done_testing
