#!/bin/sh
# End to end through libpq: the pipeline of tests/pipeline.sh (hand-written
# and generated events through the four programs, twice) must leave the
# exact customer and customer_history that DESIGN §3 defines.
. "${CT_TOP:-.}/tests/lib.sh"
. "$top/tests/pipeline.sh"
new_db
new_bucket
export PGTZ=UTC
db=
pipeline_test
done_testing
