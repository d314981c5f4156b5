#!/bin/sh
# Property test of DESIGN §3: random events (late, duplicated, deleted,
# resurrected, same-instant, NULL and "") split into files and delivered in
# random orders and batches, some files twice, give after every scd-merge
# run the tables that an independent replay of the delivered events gives.
# CT_SEED=N reproduces a run; CT_ROUNDS sets its size (300 keys a round).
. "${CT_TOP:-.}/tests/lib.sh"
new_db
seed=${CT_SEED:-$(od -An -N4 -tu4 /dev/urandom | tr -d ' ')}
ok "scd-merge creates its tables" scd-merge
if python3 "$top/tests/scd_property.py" --seed "$seed" --rounds "${CT_ROUNDS:-60}" >out 2>&1; then
	pass "$(cat out)"
else
	fail "the tables differ from the replay (CT_SEED=$seed reproduces this run)"
	diag "$(head -n 60 out)"
fi
done_testing
