# The end-to-end pipeline test, shared by tests/t/0001-pipeline.t (libpq)
# and tests/t/0600-odbc.t (ODBC): gen-customers and hand-written events go
# through the four programs (spool -> s3-put -> S3 -> snow-load ->
# scd-merge), twice, and customer and customer_history must hold exactly
# the history that DESIGN §3 defines: an update, a duplicate, an equal
# re-send, a delete, a resurrection, and changes from and to NULL.
#
# Source it after tests/lib.sh, new_db and new_bucket, then call
# pipeline_test.  With $db set, snow-load and scd-merge get --db "$db" and
# a PGDATABASE that does not exist, so that only $db can reach the tables;
# the checks themselves use psql and the PG* variables.

# Runs a program with --db "$db" when db is set (getopt takes options
# after the operands too).
db_run() {
	if [ -n "${db:-}" ]; then
		PGDATABASE=no_such_database "$@" --db "$db"
	else
		"$@"
	fi
}

# Writes a file the way a producer must: a temporary name, then a rename.
put_spool() { cat >"spool/.$1.tmp" && mv "spool/.$1.tmp" "spool/$1"; }

# The test itself (its body is not indented: it holds here-documents).
pipeline_test() {
mkdir spool

put_spool customer_20261122010000.csv <<'CSV'
customer_id,first_name,last_name,email,street,city,state,country,update_timestamp,op
9000000001,Ada,Lovelace,ada@example.com,12 St James Sq,London,LDN,UK,2026-11-22T01:00:00Z,
9000000002,Alan,Turing,alan@example.com,2 Bletchley Park,,BKM,UK,2026-11-22T01:00:00Z,I
9000000002,Alan,Turing,alan@example.com,2 Bletchley Park,,BKM,UK,2026-11-22T01:00:00Z,I
9000000003,Grace,Hopper,grace@example.com,"1 Navy Yard, Suite 2",Arlington,VA,US,2026-11-22T01:00:00Z,
9000000001,Ada,Lovelace,ada@analytical.org,12 St James Sq,London,LDN,UK,2026-11-22T02:00:00Z,U
CSV
put_spool customer_20261122030000.csv <<'CSV'
customer_id,first_name,last_name,email,street,city,state,country,update_timestamp,op
9000000001,Ada,Lovelace,ada@analytical.org,12 St James Sq,London,LDN,UK,2026-11-22T03:00:00Z,
9000000002,Alan,Turing,alan@example.com,2 Bletchley Park,"",BKM,UK,2026-11-22T03:00:00Z,U
9000000003,,,,,,,,2026-11-22T03:00:00Z,D
CSV
gen-customers -n 2000 --seed 7 --customers 500 --start 2026-11-22T00:00:00Z \
	-o spool --file-rows 1000 2>gen.err
is "$(ls spool | grep -c '^customer_[0-9_]*\.csv$')" 4 \
	"gen-customers writes 2000 rows as two rotated files beside the two by hand"

pipeline() {
	s3-put --spool spool "s3://$bucket/in/" &&
	db_run snow-load "s3://$bucket/in/" &&
	db_run scd-merge
}
ok "first run: s3-put, snow-load and scd-merge succeed" pipeline
is "$(ls -A spool)" "" "s3-put empties the spool"
is "$(s3curl GET "/$bucket?list-type=2&prefix=in%2F" | grep -o '<Key>[^<]*</Key>' | wc -l)" \
	4 "every spooled file is in the bucket"

put_spool customer_20261122040000.csv <<'CSV'
customer_id,first_name,last_name,email,street,city,state,country,update_timestamp,op
9000000003,Grace,Hopper,grace@navy.mil,"1 Navy Yard, Suite 2",Arlington,VA,US,2026-11-22T04:00:00Z,
9000000001,Ada,King,ada@analytical.org,12 St James Sq,,LDN,UK,2026-11-22T04:00:00Z,U
CSV
ok "second run succeeds" pipeline
ok "a third run with nothing new succeeds" pipeline

is "$(sql "SELECT count(*) FROM customer_raw")" 2010 \
	"customer_raw holds every row once (2000 generated, 10 by hand)"

t="9999-12-31 00:00:00+00"
expect_customer="9000000001|Ada|King|ada@analytical.org|12 St James Sq|<NULL>|LDN|UK|2026-11-22 04:00:00+00
9000000002|Alan|Turing|alan@example.com|2 Bletchley Park||BKM|UK|2026-11-22 03:00:00+00
9000000003|Grace|Hopper|grace@navy.mil|1 Navy Yard, Suite 2|Arlington|VA|US|2026-11-22 04:00:00+00"
is "$(psql -X -At -P null='<NULL>' -c "SELECT customer_id, first_name, last_name,
	email, street, city, state, country, update_timestamp FROM customer
	WHERE customer_id >= 9000000000 ORDER BY customer_id")" \
	"$expect_customer" "customer holds the latest state of each live key"

expect_history="9000000001|Ada|Lovelace|ada@example.com|London|2026-11-22 01:00:00+00|2026-11-22 02:00:00+00|f
9000000001|Ada|Lovelace|ada@analytical.org|London|2026-11-22 02:00:00+00|2026-11-22 04:00:00+00|f
9000000001|Ada|King|ada@analytical.org|<NULL>|2026-11-22 04:00:00+00|$t|t
9000000002|Alan|Turing|alan@example.com|<NULL>|2026-11-22 01:00:00+00|2026-11-22 03:00:00+00|f
9000000002|Alan|Turing|alan@example.com||2026-11-22 03:00:00+00|$t|t
9000000003|Grace|Hopper|grace@example.com|Arlington|2026-11-22 01:00:00+00|2026-11-22 03:00:00+00|f
9000000003|Grace|Hopper|grace@navy.mil|Arlington|2026-11-22 04:00:00+00|$t|t"
is "$(psql -X -At -P null='<NULL>' -c "SELECT customer_id, first_name, last_name,
	email, city, start_time, end_time, is_current FROM customer_history
	WHERE customer_id >= 9000000000 ORDER BY customer_id, start_time")" \
	"$expect_history" "customer_history holds every version with exact intervals"

# The generated events, replayed independently: a key is live when its
# last event (by time, then file, then row) is not a delete.
live=$(sql "COPY (SELECT customer_id, update_timestamp, _file, _row, coalesce(op, '')
	FROM customer_raw WHERE customer_id < 9000000000) TO STDOUT WITH CSV" |
	python3 -c '
import csv, sys
last = {}
for cid, ts, f, row, op in csv.reader(sys.stdin):
	k = (ts, f.encode(), int(row))
	if cid not in last or k > last[cid][0]:
		last[cid] = (k, op)
print(sum(1 for k, op in last.values() if op != "D"))')
is "$(sql "SELECT count(*) FROM customer WHERE customer_id < 9000000000")" "$live" \
	"customer holds exactly the live generated keys"
ok "scd-merge --verify finds the invariants hold" db_run scd-merge --verify
is "$(sql "SELECT count(*) FROM load_history WHERE status = 'loaded'")" 5 \
	"load_history records each of the five files as loaded once"
}
