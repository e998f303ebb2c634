#!/bin/sh
# crash_plant.sh - the crash suites' loss checks fail when a loss is
# there.  A check that has never been seen to fail proves nothing, so
# crash_ops.sh and crash_ingest.sh run here, small, on build-plant/ (make
# plant-build): a build in which an intake that committed one of the
# listed mails deletes its entries again and still exits 0
# (filters/plant.h).
#
# Expected: each suite reports the planted mails that were acknowledged
# as lost, both by queue id and by key, and every other check of the
# suite still passes (the plant breaks nothing else).  Half the intakes
# of crash_ops are killed at random, so sixteen mails are planted: the
# chance that none of them is acknowledged is 2^-16.
. "$(dirname "$0")/../lib.sh"
PLANT=build-plant
need_cmd gpg db5.3_verify python3 || done_testing
if [ ! -x "$TOP/$PLANT/pksbridge" ]; then
	not_ok "the plant build exists ($PLANT/pksbridge: run make plant-build)"
	done_testing
fi

# run_planted SUITE MSGIDS ENV... - SUITE on the plant build; its output
# in TEST_TMP/SUITE.out.
run_planted() {
	_rp_suite=$1
	_rp_ids=$2
	shift 2
	env BUILD=$PLANT PKSBRIDGE="$TOP/$PLANT/pksbridge" PB_PLANT_LOSS="$_rp_ids" \
		"$@" sh "$TOP/tests/integration/$_rp_suite.sh" \
		>"$TEST_TMP/$_rp_suite.out" 2>&1
}
# failed SUITE - the descriptions of SUITE's failed checks, one per line,
# without their counts in parentheses.
failed() {
	sed -n "s/^not ok - $1: //p" "$TEST_TMP/$1.out" | sed 's/ ([^)]*)$//' | sort
}
show_on_failure "$TEST_TMP/crash_ops.out" "$TEST_TMP/crash_ingest.out"

ids=
for n in $(seq 1 16); do ids="$ids crash-ops-$n@sks.test"; done
run_planted crash_ops "$ids" CRASH_OPS_ROUNDS=3 CRASH_PAR=8
check_grep "crash_ops: the planted entries are reported missing by queue id" \
	"got: +'[0-9]+ [0-9A-F]{14}: missing" "$TEST_TMP/crash_ops.out"
check_eq "crash_ops: its loss checks, and only those, fail" "$(failed crash_ops)" \
	"every entry of an acknowledged intake is done (or suppressed as already sent), or deleted by this suite
every key whose intake exited 0 reached both peers"

ids=
for n in $(seq 1 8); do ids="$ids crash-$n@pks.example"; done
run_planted crash_ingest "$ids" CRASH_MAILS=16 CRASH_PAR=8
check_grep "crash_ingest: the planted entries are reported missing by queue id" \
	"got: +'[0-9]+ [0-9A-F]{14}: missing" "$TEST_TMP/crash_ingest.out"
check_eq "crash_ingest: its loss checks, and only those, fail" "$(failed crash_ingest)" \
	"every acknowledged ingest's entry is done
every acknowledged mail's key is in the keyring"
done_testing
