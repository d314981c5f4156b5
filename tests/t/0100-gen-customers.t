#!/bin/sh
# gen-customers: its options and their errors, byte-identical output for a
# seed, rotated files that appear whole, a clean stop on SIGTERM and SIGINT,
# pacing by --rate, and files that the loader's reader accepts.
. "${CT_TOP:-.}/tests/lib.sh"

exits 0 "--help exits 0" gen-customers --help
ok "--help lists every option" sh -c 'gen-customers --help >help.txt &&
	for o in rows seed customers update-ratio delete-ratio dup-ratio late-ratio \
		foreign-ratio country start step rate output-dir file-rows interval metrics quiet; do
		grep -q -- "--$o" help.txt || { echo "no --$o"; exit 1; }; done'
ok "--version prints the version" sh -c 'gen-customers --version | grep -Eq "^gen-customers [0-9]"'

exits 2 "an unknown option is a usage error" gen-customers --bogus
exits 2 "a ratio above 1 is a usage error" gen-customers --update-ratio 1.5
grep_err "gen-customers: invalid update ratio '1.5'" "it names the ratio and the value"
exits 2 "a row count that is no number is a usage error" gen-customers -n 12x
grep_err "invalid row count '12x'" "it names the row count"
exits 2 "a bad start time is a usage error" gen-customers --start 2026-13-01
grep_err "invalid start time '2026-13-01'" "it names the start time"
exits 2 "an unknown country is a usage error" gen-customers --country XX
exits 2 "--file-rows without -o is a usage error" gen-customers --file-rows 5
exits 2 "deletes and re-sends above all rows is a usage error" gen-customers --delete-ratio 0.6 --dup-ratio 0.5
exits 2 "an operand is a usage error" gen-customers extra
exits 1 "a missing output directory is a failure" gen-customers -o "$tmp/none"
grep_err "cannot write to directory '.*none'" "it names the directory"
exits 1 "a failed run still writes its metrics" gen-customers -o "$tmp/none" --metrics fail.prom
ok "a failed run reports up 0" grep -q '^customertrack_up{program="gen-customers"} 0$' fail.prom
exits 1 "a full disk fails the run" sh -c 'gen-customers -n 10 >/dev/full'
grep_err "cannot write to standard output" "it says it cannot write"

gen-customers --seed 5 -n 20000 >a.csv 2>a.err
gen-customers --seed 5 -n 20000 >b.csv 2>/dev/null
ok "the same seed gives byte-identical output" cmp a.csv b.csv
gen-customers --seed 6 -n 20000 >c.csv 2>/dev/null
ok "another seed gives other output" sh -c '! cmp -s a.csv c.csv'
ok "the first event is in the first second of 2026" grep -q '^[0-9]*,.*,2026-01-01T00:00:00\.' a.csv
is "$(wc -l <a.csv)" 20001 "-n 20000 writes a header and 20000 rows"
ok "the summary line counts the rows" grep -Eq '^gen-customers: 20000 rows \(.* new, .* updates, .* deletes' a.err
gen-customers -q --seed 5 -n 20000 --start '2026-11-22T03:10:48+01:00' --step 0.5 >s.csv
is "$(sed -n 2p s.csv | cut -d, -f9 | cut -c1-19)" "2026-11-22T02:10:48" "--start with an offset is taken in UTC"
is "$(tail -n 1 s.csv | cut -d, -f9 | cut -c1-16)" "2026-11-22T04:57" "--step spaces the events"

mkdir d1 d2
gen-customers -q --seed 9 -n 25000 --file-rows 10000 -o d1
gen-customers -q --seed 9 -n 25000 --file-rows 10000 -o d2
is "$(ls -A d1 | tr '\n' ' ')" "customer_20260101000000.csv customer_20260101000010.csv customer_20260101000020.csv " \
	"-o DIR writes files named by their first event, rotated by --file-rows"
ok "the same seed gives the same files" diff -r d1 d2
is "$(cat d1/*.csv | grep -vc '^customer_id,')" 25000 "the files hold every row"
is "$(grep -c '^customer_id,' d1/*.csv | cut -d: -f2 | tr '\n' ' ')" "1 1 1 " "each file has one header"
mkdir d3
gen-customers -q --seed 9 -n 3000 --file-rows 1000 --step 0.0001 -o d3
gen-customers -q --seed 9 -n 1000 --file-rows 1000 --step 0.0001 -o d3
is "$(ls -A d3 | tr '\n' ' ')" "customer_20260101000000.csv customer_20260101000000_1.csv customer_20260101000000_2.csv customer_20260101000000_3.csv " \
	"files that fall in the same second get _N, never replacing one"
gen-customers -q --seed 9 -n 30000 --file-rows 0 --interval 8 -o d2
is "$(ls d2 | grep -c '^customer_202601010000\(08\|16\|24\)\.csv$')" 3 "--interval rotates by event time"
is "$(ls -A d1 d2 d3 | grep -c '^\.')" 0 "no temporary file is left behind"

# A stream until a signal: wait for two complete files, stop it, and check
# that every file is whole.
for sig in TERM INT; do
	mkdir "run$sig"
	gen-customers -n 0 --rate 20000 --file-rows 1500 -o "run$sig" 2>"run$sig.err" &
	pid=$!
	i=0
	while [ "$(ls "run$sig" | grep -c '^customer_')" -lt 2 ] && [ $i -lt 100 ]; do
		sleep 0.1; i=$((i + 1))
	done
	kill -"$sig" $pid
	wait $pid
	is "$?" 0 "SIGINT/SIGTERM stops -n 0 with exit 0 (SIG$sig)"
	is "$(ls -A "run$sig" | grep -vc '^customer_[0-9]\{14\}\(_[0-9]*\)\?\.csv$')" 0 \
		"SIG$sig leaves only complete, renamed files"
	total=$(cat "run$sig"/*.csv | grep -vc '^customer_id,')
	is "$total" "$(sed -n 's/.*: \([0-9]*\) rows (.*/\1/p' "run$sig.err")" \
		"SIG$sig: the files hold every row the summary counts"
	ok "SIG$sig: every file but the last holds 1500 rows, and each parses" python3 -c '
import csv, glob, sys
files = sorted(glob.glob(sys.argv[1] + "/*.csv"))
counts = []
for f in files:
    rows = list(csv.reader(open(f, newline="")))
    assert rows[0][0] == "customer_id" and all(len(r) == 10 for r in rows), f
    counts.append(len(rows) - 1)
assert len(counts) >= 2 and all(c == 1500 for c in counts[:-1]) and 0 < counts[-1] <= 1500, counts
' "run$sig"
done

start=$(date +%s%N)
gen-customers -q -n 600 --rate 1000 >rate.csv
ms=$(( ($(date +%s%N) - start) / 1000000 ))
ok "--rate 1000 writes 600 rows in about 0.6 s (took ${ms} ms)" test "$ms" -ge 590 -a "$ms" -lt 2000
ok "--rate spaces event times by 1/rate" python3 -c '
import csv, datetime, sys
rows = list(csv.reader(open(sys.argv[1])))[1:]
t = [datetime.datetime.fromisoformat(r[8].replace("Z", "+00:00")) for r in rows if r[9] == ""]
span = (t[-1] - t[0]).total_seconds()
assert 0.55 < span < 0.61, span
' rate.csv

mkdir d4
gen-customers -q -n 1500 --rate 1000 --interval 0.5 -o d4
is "$(for f in d4/*; do grep -vc '^customer_id,' "$f"; done | tr '\n' ' ')" "500 500 500 " \
	"--rate with --interval closes a file every interval"

ok "--metrics writes the row and file counts" sh -c 'gen-customers -q -n 300 -o d2 --metrics g.prom &&
	grep -q "^customertrack_rows_total{program=\"gen-customers\"} 300$" g.prom &&
	grep -q "^customertrack_files_total{program=\"gen-customers\"} 1$" g.prom'
ok "the built-in names are those of data/names" sh -c \
	"sh '$top/tools/embed-names' '$top/data/names' | cmp - '$top/src/lib/census_names.c'"

ok "snow-load --validate accepts every generated file" snow-load --validate d1

# A consumer (s3-put --spool) removes each file as it appears: a name must
# still never come twice, or the second upload overwrites the first.
mkdir d5 taken
gen-customers -q -n 0 --rate 400 --file-rows 20 -o d5 2>gen5.err & gen=$!
i=0
while [ $i -lt 300 ] && [ "$(ls taken | wc -l)" -lt 25 ]; do
	for f in d5/customer_*.csv; do
		[ -e "$f" ] && mv --backup=numbered "$f" taken/
	done
	sleep 0.02
	i=$((i + 1))
done
kill -TERM $gen; wait $gen
for f in d5/customer_*.csv; do [ -e "$f" ] && mv --backup=numbered "$f" taken/; done
ok "files were taken away while it wrote (several in one second)" \
	test "$(ls taken | grep -c '_[0-9]*\.csv$')" -gt 0
is "$(ls taken | grep -c '~')" 0 "no file name comes twice in a run"
done_testing
