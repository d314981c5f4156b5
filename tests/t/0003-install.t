#!/bin/sh
# make install puts the programs, man pages and SQL under DESTDIR/PREFIX, and
# an installed program needs nothing from the source tree.
. "${CT_TOP:-.}/tests/lib.sh"
new_db

build=${CT_BUILD:-$top/build}
bin=${CT_BIN:-$top/bin}
ok "make install with DESTDIR and PREFIX succeeds" \
	make -s -C "$top" BUILD="$build" BIN="$bin" install DESTDIR="$tmp/root" PREFIX=/opt/ct
for t in gen-customers s3-put snow-load scd-merge; do
	ok "$t is installed and prints its version" "$tmp/root/opt/ct/bin/$t" --version
	ok "the man page of $t is installed and lints clean" \
		mandoc -Tlint -Wwarning "$tmp/root/opt/ct/share/man/man1/$t.1"
	exits 0 "$t --help exits 0" "$tmp/root/opt/ct/bin/$t" --help
	is "$(head -c 6 "$tmp/.out")" "usage:" "$t --help prints its usage on stdout"
	cp "$tmp/.out" "$tmp/help"
	exits 2 "$t with an unknown option is a usage error" "$tmp/root/opt/ct/bin/$t" --no-such-option
	grep_err "^$t: " "$t names itself in its usage error"
	grep_err "^usage: $t " "$t prints its synopsis in a usage error"
	ok "$t keeps the rest of its help for --help" \
		test "$(wc -l <"$tmp/.err")" -lt "$(wc -l <"$tmp/help")"
done
ok "the SQL is installed beside them" test -f "$tmp/root/opt/ct/share/customertrack/sql/postgres/001_init.sql"

# Run the installed scd-merge from elsewhere: it carries its migrations.
(cd / && "$tmp/root/opt/ct/bin/scd-merge") 2>"$tmp/merge.err"
is "$?" 0 "an installed scd-merge run from / creates the schema"
is "$(sql "SELECT count(*) FROM schema_migrations")" \
	"$(ls "$top/sql/postgres" | grep -c '\.sql$')" "it applied every migration it carries"
ok "make uninstall removes what install put" \
	make -s -C "$top" BUILD="$build" BIN="$bin" uninstall DESTDIR="$tmp/root" PREFIX=/opt/ct
is "$(find "$tmp/root" -type f | wc -l)" 0 "nothing is left behind"
done_testing
