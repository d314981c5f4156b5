# shellcheck shell=sh
# Shared by the shell tests in tests/t/: TAP output, assertions, and a
# database and a bucket of the test's own on the local stack.
#
#	. "${CT_TOP:-.}/tests/lib.sh"
#	ok "gen-customers prints a header" test -s out.csv
#	is "$(cat actual)" "$(cat expect)" "the table equals the replay"
#	exits 2 "an unknown option is a usage error" gen-customers --bogus
#	done_testing

set -u
top=${CT_TOP:-$(cd "$(dirname "$0")/../.." && pwd)}
export PATH="${CT_BIN:-$top/bin}:$PATH"
tap_n=0
tap_failed=0
t_name=$(basename "$0" .t | tr -c 'a-z0-9_\n' '_')
tmp=$(mktemp -d "${TMPDIR:-/tmp}/ct-$t_name.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
cd "$tmp" || exit 1

pass() { tap_n=$((tap_n + 1)); echo "ok $tap_n - $1"; }
fail() {
	tap_n=$((tap_n + 1)); tap_failed=$((tap_failed + 1))
	echo "not ok $tap_n - $1"
}
diag() { printf '%s\n' "$@" | sed 's/^/# /'; }

# ok DESC CMD...: passes when CMD succeeds.
ok() {
	desc=$1; shift
	if "$@" >"$tmp/.out" 2>&1; then pass "$desc"; else fail "$desc"; diag "command: $*" "$(tail -n 20 "$tmp/.out")"; fi
}
# is GOT EXPECTED DESC: passes when the two strings are equal; shows a diff.
is() {
	if [ "$1" = "$2" ]; then pass "$3"; else
		fail "$3"
		printf '%s\n' "$2" >"$tmp/.expect"; printf '%s\n' "$1" >"$tmp/.actual"
		diag "$(diff -u "$tmp/.expect" "$tmp/.actual" | head -n 40)"
	fi
}
# exits CODE DESC CMD...: passes when CMD exits with CODE; its stderr is in $tmp/.err.
exits() {
	code=$1 desc=$2; shift 2
	"$@" >"$tmp/.out" 2>"$tmp/.err"
	got=$?
	if [ "$got" -eq "$code" ]; then pass "$desc"; else
		fail "$desc"; diag "command: $*" "exit $got, expected $code" "$(tail -n 10 "$tmp/.err")"
	fi
}
# grep_err PATTERN DESC: the last exits' stderr matches PATTERN (ERE).
grep_err() {
	if grep -Eq -- "$1" "$tmp/.err"; then pass "$2"; else
		fail "$2"; diag "stderr does not match /$1/:" "$(cat "$tmp/.err")"
	fi
}
done_testing() {
	echo "1..$tap_n"
	[ "$tap_failed" -eq 0 ]
	exit $?
}

# new_db: a fresh database of this test's own, as PGDATABASE.
new_db() {
	PGDATABASE="t_${t_name}_$$"
	export PGDATABASE
	dropdb --if-exists "$PGDATABASE" 2>/dev/null
	createdb "$PGDATABASE" || { echo "Bail out! cannot create a database"; exit 1; }
}
# sql QUERY: runs QUERY, prints unaligned rows with | between fields.
sql() { psql -X -q -At -v ON_ERROR_STOP=1 -c "$1"; }

# s3curl METHOD PATH [curl args]: a signed request to the local S3 server.
s3curl() {
	m=$1 p=$2; shift 2
	curl -sS -X "$m" --aws-sigv4 "aws:amz:${AWS_REGION}:s3" \
		--user "$AWS_ACCESS_KEY_ID:$AWS_SECRET_ACCESS_KEY" \
		-H 'x-amz-content-sha256: UNSIGNED-PAYLOAD' "$@" "$AWS_ENDPOINT_URL$p"
}
# new_bucket: a fresh bucket of this test's own, as $bucket.
new_bucket() {
	bucket="t-$(echo "$t_name" | tr '_' '-')-$$"
	s3curl PUT "/$bucket" -o /dev/null -w '' || { echo "Bail out! cannot create a bucket"; exit 1; }
}
