#!/bin/sh
# The Snowflake dialect (sql/snowflake/) cannot run here: no Snowflake.
# What can be checked is checked: every file parses with sqlfluff's
# Snowflake grammar, so do the statements inside customer_merge()'s body,
# a broken copy fails that parse (the check can fail), and the files keep
# the rules of issue 7: pipe with METADATA$FILENAME/FILE_ROW_NUMBER,
# append-only stream, a root task WHEN SYSTEM$STREAM_HAS_DATA that merges
# in one transaction, no TRUNCATE, no ERROR_ON_NONDETERMINISTIC_MERGE.
. "${CT_TOP:-.}/tests/lib.sh"
sf="$top/sql/snowflake"

if ! command -v sqlfluff >/dev/null 2>&1; then
	echo "1..0 # SKIP sqlfluff is not installed (tools/deps installs it)"
	exit 0
fi

# parse FILE: sqlfluff's Snowflake grammar accepts every statement of FILE.
parse() { sqlfluff parse --dialect snowflake "$1" >parse.out 2>&1 && ! grep -q unparsable parse.out; }

# The SQL statements of customer_merge()'s transaction, without the
# Snowflake Scripting around them (which sqlfluff does not know).
merge_body() {
	awk '/^\$\$$/ { inside = !inside; next } inside' "$1" |
	sed -n '/BEGIN TRANSACTION;/,/COMMIT;/p' |
	grep -v -e ':=' -e '^ *IF (' -e '^ *END IF;' | sed 's/:n_[a-z]*/0/g'
}

files=$(ls "$sf"/[0-9][0-9][0-9]_*.sql)
is "$(ls "$sf" | grep -cv '^[0-9][0-9][0-9]_[a-z0-9_]*\.sql$')" 0 \
	"every file in sql/snowflake/ is named NNN_name.sql"
for f in $files; do
	ok "$(basename "$f") parses as Snowflake SQL" parse "$f"
done
merge_body "$sf/003_merge.sql" >body.sql
ok "customer_merge() has a transaction of at least five statements" \
	test "$(grep -c ';$' body.sql)" -ge 7
ok "the statements inside customer_merge() parse as Snowflake SQL" parse body.sql

# The check fails when a statement is broken.
sed 's/WHEN MATCHED AND s.gone THEN DELETE/WHEN MATCHED AND s.gone THEN DELET/' body.sql >broken.sql
exits 1 "a misspelt MERGE clause fails the parse" parse broken.sql
sed 's/^CREATE PIPE IF NOT EXISTS customer_pipe/CREATE PIPE IF NOT EXISTS customer_pipe AUTO_INGEST TRUE/' \
	"$sf/002_ingest.sql" >broken.sql
exits 1 "a pipe option without '=' fails the parse" parse broken.sql

all=$(cat $files)
has() { printf '%s\n' "$all" | grep -Eq -- "$1"; }
ok "the pipe auto-ingests into customer_raw" has 'CREATE PIPE IF NOT EXISTS customer_pipe'
ok "the pipe records METADATA\$FILENAME and METADATA\$FILE_ROW_NUMBER" \
	sh -c 'sed -n "/CREATE PIPE/,/;\$/p" "$1" | grep -q "METADATA\\\$FILENAME" &&
	       sed -n "/CREATE PIPE/,/;\$/p" "$1" | grep -q "METADATA\\\$FILE_ROW_NUMBER"' sh "$sf/002_ingest.sql"
ok "AUTO_INGEST is on" has 'AUTO_INGEST = TRUE'
ok "the stream on customer_raw is append-only" sh -c \
	'sed -n "/CREATE STREAM/,/;\$/p" "$1" | grep -q "ON TABLE customer_raw" &&
	 sed -n "/CREATE STREAM/,/;\$/p" "$1" | grep -q "APPEND_ONLY = TRUE"' sh "$sf/002_ingest.sql"
ok "the root task runs only when the stream has data" \
	has "WHEN SYSTEM\\\$STREAM_HAS_DATA\\('customer_raw_stream'\\)"
ok "a child task follows the root task" has 'AFTER customer_merge_task'
ok "the merge is one transaction: BEGIN TRANSACTION ... COMMIT, ROLLBACK on error" \
	sh -c 'grep -q "BEGIN TRANSACTION;" "$1" && grep -q "COMMIT;" "$1" && grep -q "ROLLBACK;" "$1"' \
	sh "$sf/003_merge.sql"
ok "the MERGE source is deduplicated with QUALIFY ROW_NUMBER()" \
	has 'QUALIFY ROW_NUMBER\(\) OVER'
is "$(cat $files | grep -v '^ *--' | grep -ci truncate)" 0 "no TRUNCATE anywhere"
is "$(cat $files | grep -ci ERROR_ON_NONDETERMINISTIC)" 0 "no ERROR_ON_NONDETERMINISTIC_MERGE"
has_text() { cat $files | grep -qF -- "$1"; }
ok "the file format reads a quoted \"\" as a string" \
	has_text "FIELD_OPTIONALLY_ENCLOSED_BY = '\"'"
ok "the file format reads an unquoted empty field as NULL" has_text "EMPTY_FIELD_AS_NULL = TRUE"
ok "the file format has no other NULL marker" has_text "NULL_IF = ()"

# Snowflake commits each DDL statement: a file must be safe to apply again.
is "$(printf '%s\n' "$all" | grep -E '^CREATE ' | grep -Ev 'IF NOT EXISTS|^CREATE OR REPLACE (VIEW|PROCEDURE)')" "" \
	"every CREATE may run twice (IF NOT EXISTS, or OR REPLACE for views and procedures)"
is "$(printf '%s\n' "$all" | grep -E 'CREATE OR REPLACE (PIPE|STREAM|TABLE|TASK)')" "" \
	"no OR REPLACE on a pipe, stream, table or task (it would lose load history or offsets)"
# The files are embedded in C strings (tools/embed-sql): no trigraphs.
is "$(cat $files | grep -c '??')" 0 "no '??' in the SQL (a C trigraph once embedded)"
done_testing
