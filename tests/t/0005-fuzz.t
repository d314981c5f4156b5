#!/bin/sh
# Every libFuzzer target (tests/fuzz/fuzz_*.c) runs for a short while from
# its seed corpus (tests/fuzz/corpus/<target>/, if any) without a crash, a
# leak or undefined behaviour.  Longer runs: FUZZ_SECONDS=600.
. "${CT_TOP:-.}/tests/lib.sh"
build=${CT_BUILD:-$top/build}
secs=${FUZZ_SECONDS:-10}

n=0
for src in "$top"/tests/fuzz/fuzz_*.c; do
	[ -e "$src" ] || continue
	name=$(basename "$src" .c)
	n=$((n + 1))
	ok "$name is built" test -x "$build/fuzz/$name"
	mkdir -p "corpus/$name"
	[ -d "$top/tests/fuzz/corpus/$name" ] && cp -R "$top/tests/fuzz/corpus/$name/." "corpus/$name/"
	ok "$name runs ${secs}s without a finding" \
		"$build/fuzz/$name" -max_total_time="$secs" -timeout=10 -rss_limit_mb=1024 \
		-print_final_stats=0 "corpus/$name"
done
ok "there are fuzz targets" test "$n" -gt 0
done_testing
