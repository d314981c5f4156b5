#!/bin/sh
# The programs apply sql/postgres/ themselves, once, also when several start
# at the same time, and refuse to run on a schema whose applied migration
# was edited afterwards.
. "${CT_TOP:-.}/tests/lib.sh"
new_db

mkdir stage
scd-merge 2>err1 & p1=$!
snow-load stage 2>err2 & p2=$!
wait $p1; r1=$?
wait $p2; r2=$?
is "$r1 $r2" "0 0" "scd-merge and snow-load started together both succeed on an empty database"
files=$(ls "$top/sql/postgres" | grep -c '\.sql$')
is "$(sql "SELECT count(*) FROM schema_migrations")" "$files" \
	"each migration file is recorded once"
is "$(sql "SELECT count(*) FROM information_schema.tables
	WHERE table_schema = 'public' AND table_name IN
	('customer_raw', 'customer', 'customer_history', 'load_history', 'load_errors')")" 5 \
	"the tables of DESIGN §2 exist (customer_history a view)"
ok "a second run applies nothing and succeeds" scd-merge

sql "UPDATE schema_migrations SET checksum = 'edited' WHERE name = '001_init.sql'"
exits 1 "an applied migration that changed is a permanent error" scd-merge
grep_err "^scd-merge: .*001_init\.sql.*changed" "the message names the migration"

exits 75 "an unreachable database is a temporary failure" \
	scd-merge --db "host=$tmp port=1 connect_timeout=2"
grep_err "^scd-merge: " "the message starts with the program's name"
done_testing
