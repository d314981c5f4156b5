#!/bin/sh
# snow-load on hostile input: the csv-spectrum cases split into the rows
# their JSON says, and unbalanced quotes, NUL bytes, a 2 MB field, invalid
# UTF-8, wrong column counts, a BOM, CRLF, an endless line and random
# bytes each give a clear per-row result (load_errors with --on-error
# continue) and never a crash.
. "${CT_TOP:-.}/tests/lib.sh"
new_db
export PGTZ=UTC
H=customer_id,first_name,last_name,email,street,city,state,country,update_timestamp,op
spectrum=$top/tests/data/csv

# csv-spectrum under our header: every row is one of the wrong width, at
# the line where the JSON's rows (and the newlines in their values) put it.
mkdir spectrum
: >expect
for f in "$spectrum"/csvs/*.csv; do
	name=$(basename "$f")
	{ printf '%s\n' "$H"; tail -n +2 "$f"; } >"spectrum/$name"
	jq -r --arg f "$name" '[if type == "array" then .[] else . end | [.[]]] as $rows
		| reduce range(0; $rows | length) as $i ({line: 2, out: ""};
			.out += "\($f):\(.line): expected 10 fields, found \($rows[$i] | length)\n"
			| .line += 1 + ([$rows[$i][] | [scan("\n")] | length] | add))
		| .out' "$spectrum/json/${name%.csv}.json" | sed '/^$/d' >>expect
done
exits 1 "--validate rejects every csv-spectrum row for its width" snow-load --validate spectrum
is "$(cat "$tmp/.out")" "$(cat expect)" "each at the line csv-spectrum's JSON puts it, with its field count"
mkdir raw && cp "$spectrum"/csvs/*.csv raw/
exits 1 "csv-spectrum files as they are fail on their header" snow-load --validate raw
is "$(grep -c ': bad header on line 1: expected' "$tmp/.out")" 12 "each of the 12 with a clear message"

# Hostile rows, each between good ones.
mkdir hostile
good() { printf '%s,A,B,a@b.c,1 St,X,,NO,2026-11-22T01:00:00Z,\n' "$1"; }
{ printf '%s\n' "$H"; good 1; printf '2,A,B,a@b.c,1 St,X,,NO,2026-11-22T01:00:00Z\n'
  printf '3,A,B,a@b.c,1 St,X,,NO,2026-11-22T01:00:00Z,,extra\n'; good 4; } >hostile/customer_01_width.csv
{ printf '%s\n' "$H"; good 5; printf '6,A\000B,B,a@b.c,1 St,X,,NO,2026-11-22T01:00:00Z,\n'; good 7; } \
	>hostile/customer_02_nul.csv
{ printf '%s\n' "$H"; printf '8,A,B,a@b.c,1 St,X\377,,NO,2026-11-22T01:00:00Z,\n'
  printf '9,A,B,\355\240\200,1 St,X,,NO,2026-11-22T01:00:00Z,\n'; good 10; } >hostile/customer_03_utf8.csv
{ printf '%s\n' "$H"; printf '11,A,B,a@b.c,"'; head -c 2097152 /dev/zero | tr '\0' x
  printf '",X,,NO,2026-11-22T01:00:00Z,\n'; good 12; } >hostile/customer_04_big_field.csv
{ printf '\357\273\277%s\r\n' "$H"; printf '13,"Multi\r\nLine",B,a@b.c,1 St,X,,NO,2026-11-22T01:00:00Z,U\r\n'
  good 14 | sed 's/$/\r/'; } >hostile/customer_05_bom_crlf.csv
{ printf '%s\n' "$H"; good 15; printf '16,A,"B"x,a@b.c,1 St,X,,NO,2026-11-22T01:00:00Z,\n'; good 17
  printf '18,"unbalanced,B,a@b.c,1 St,X,,NO,2026-11-22T01:00:00Z,\n'; good 19; } >hostile/customer_06_quotes.csv
{ printf '%s\n' "$H"; good 20; head -c 5000000 /dev/zero | tr '\0' y; printf '\n'; good 21; } \
	>hostile/customer_07_endless.csv
{ printf '%s\n' "$H"; head -c 200000 /dev/urandom; } >hostile/customer_08_random.csv

exits 1 "--on-error continue loads the good rows and rejects the bad ones" \
	snow-load --on-error continue hostile
cp "$tmp/.err" load.err
ok "snow-load did not crash, and summed up the run" grep -Eq 'loaded 12 rows from 7 files in .* rows rejected, 1 file failed' load.err
is "$(sql "SELECT customer_id FROM customer_raw WHERE customer_id < 100 ORDER BY 1" | tr '\n' ' ')" \
	"1 4 5 7 10 12 13 14 15 17 20 21 " "every good row is loaded, and only those"
is "$(sql "SELECT first_name FROM customer_raw WHERE customer_id = 13")" "$(printf 'Multi\r\nLine')" \
	"a quoted CRLF stays in its field; the BOM and the CRLF line ends go"
is "$(sql "SELECT file || ':' || line || ': ' || reason FROM load_errors
	WHERE file <> 'customer_08_random.csv' ORDER BY file, line")" \
"customer_01_width.csv:3: expected 10 fields, found 9
customer_01_width.csv:4: expected 10 fields, found 11
customer_02_nul.csv:3: NUL byte in field 'first_name' at offset 1
customer_03_utf8.csv:2: invalid UTF-8 in field 'city' at offset 1 (byte 0xff)
customer_03_utf8.csv:3: invalid UTF-8 in field 'email' at offset 0 (byte 0xed)
customer_04_big_field.csv:2: field 'street' is longer than 1048576 bytes
customer_06_quotes.csv:3: malformed quotes (text after a closing quote)
customer_06_quotes.csv:5: unterminated quoted field at the end of the file
customer_07_endless.csv:3: row is longer than 4194304 bytes (an unbalanced quote?)" \
	"each bad row has its line and a clear reason"
is "$(sql "SELECT raw FROM load_errors WHERE file IN ('customer_02_nul.csv', 'customer_03_utf8.csv')
	ORDER BY file, line")" \
	"$(printf '6,A\357\277\275B,B,a@b.c,1 St,X,,NO,2026-11-22T01:00:00Z,\n8,A,B,a@b.c,1 St,X\357\277\275,,NO,2026-11-22T01:00:00Z,\n9,A,B,\357\277\275\357\277\275\357\277\275,1 St,X,,NO,2026-11-22T01:00:00Z,')" \
	"raw text keeps NUL and bad bytes as U+FFFD"
is "$(sql "SELECT count(*) FROM customer_raw WHERE email LIKE '%\"%'")" 0 \
	"no row with a malformed quote is loaded"
is "$(sql "SELECT status FROM load_history WHERE file = 'customer_05_bom_crlf.csv'")" loaded \
	"a BOM and CRLF file is simply loaded"
is "$(sql "SELECT count(*) FROM load_history WHERE status = 'partially_loaded'")" 6 \
	"the files with bad rows are partially_loaded"
is "$(sql "SELECT max(length(raw)) <= 65536 + 3 FROM load_errors")" t "raw text is kept to 64 KiB"
exits 1 "--validate of random bytes reports, never crashes" snow-load --validate hostile

done_testing
