#!/bin/sh
# bench/s8_tests.sh - scenario 8, the speeds the tests measure: the
# integration and unit tests below time what they do (ingest -> served by
# SKS, a one-key sendmail intake, the runner's wake-ups and its stop, the
# SMTP and key database timeouts) and print one "# bench: ..." line per
# figure (tests/lib.sh bench, and printf in the C tests).  `make check`
# bounds those times only to catch a hang, since a wall-clock target fails
# on a loaded two-core machine for reasons that are not the code's; here,
# with PB_BENCH=1, each target is a check, and the figures go to
# $RAW/bench.txt for bench/report.py.
#
# Knobs: BENCH_TESTS (the tests/run names to run).
. "$(dirname "$0")/lib.sh"

TESTS=${BENCH_TESTS:-"inbound_sks outbound_sendmail outbound_runner outbound_faults outbound_sks test_smtp test_keydb"}
# tests/run prints every test's lines and ends "N passed, N failed"; a
# failed target is a "not ok" line, which bench/run counts.
PB_BENCH=1 BUILD=$BUILD sh "$TOP/tests/run" $TESTS >"$RAW/tests.log" 2>&1
rc=$?
grep '^# bench: ' "$RAW/tests.log" | sed 's/^# bench: //' >"$RAW/bench.txt"
grep '^not ok' "$RAW/tests.log"
tail -n 1 "$RAW/tests.log"
check_eq "every test ran and passed (tests/run exit status)" "$rc" 0
check "the tests reported their figures" test -s "$RAW/bench.txt"
done_testing
