#!/bin/sh
# bench/s1_latency.sh - scenario 1, inbound latency: one-key PKS mails,
# one at a time, from the moment the MTA hands the mail over to the moment
# SKS's HKP serves the key (op=get, polled every 10 ms by bench/drive.py,
# which also starts the handover).  Three paths, each with a fresh SKS:
#
#   native   /usr/lib/sks/sks_add_mail SPOOL (SKS's own program)
#   hkp      pksbridge ingest, keydb hkp://127.0.0.1:PORT, runner running
#   sks      pksbridge ingest, keydb sks:SPOOL, runner running
#
# SKS polls its messages/ directory 10 s after its previous scan ended,
# so a mail waits for the next scan: before each mail the script sleeps a
# uniformly random 0-BENCH_LAT_PAUSE s (default 10), so that mails arrive
# at random points of SKS's cycle as real mail does (without the pause
# every mail would land just after a scan and wait the full 10 s).  The
# hkp path does not depend on that cycle and pauses 0.2 s.
#
# Knobs: BENCH_LAT_N mails per path (20; quick: 5), BENCH_LAT_PAUSE.
# Raw figures: $RAW/<path>.jsonl, one drive.py line per mail.
. "$(dirname "$0")/lib.sh"

if [ "$BENCH_QUICK" = 1 ]; then N=${BENCH_LAT_N:-5}; else N=${BENCH_LAT_N:-20}; fi
PAUSE=${BENCH_LAT_PAUSE:-10}

# Keys of at most 16 KB, as in the integration tests: a typical key, and
# SKS merges it in milliseconds.
mkdir -p "$TEST_TMP/mail"
bench_keys | while read -r fpr f; do
	[ "$(wc -c <"$f")" -le 16384 ] && echo "$fpr $f"
done | head -n "$N" >"$TEST_TMP/keys.list"
if [ "$(wc -l <"$TEST_TMP/keys.list")" -ne "$N" ]; then
	not_ok "$N keys of at most 16 KB in $DEBKEYS_RING"
	done_testing
fi
i=0
while read -r fpr f; do
	i=$((i + 1))
	pks_mail "$TEST_TMP/mail/$i.eml" "lat-$i@pks.example" "$f"
done <"$TEST_TMP/keys.list"

run_path() {	# run_path NAME
	_p=$1
	if ! bench_sks "sks-$_p" 2>"$TEST_TMP/sks-$_p.err"; then
		not_ok "$_p: SKS starts" "$(cat "$TEST_TMP/sks-$_p.err")"
		return 1
	fi
	conf=$TEST_TMP/$_p.conf
	case $_p in
	native) set -- "$SKS_ADD_MAIL" "$SKS_SPOOL" ;;
	hkp) bench_pb_conf "$conf" "$TEST_TMP/spool-$_p" "hkp://127.0.0.1:$SKS_PORT"
		set -- "$PB" -c "$conf" ingest ;;
	sks) bench_pb_conf "$conf" "$TEST_TMP/spool-$_p" "sks:$SKS_SPOOL"
		set -- "$PB" -c "$conf" ingest ;;
	esac
	if [ "$_p" != native ] && ! bench_runner "$conf" "$TEST_TMP/runner-$_p.log"; then
		not_ok "$_p: runner starts" "$(tail -n 5 "$TEST_TMP/runner-$_p.log")"
		sks_stop "$SKS_DIR"
		return 1
	fi
	# SKS's first scan comes 10 s after it starts; start the clock of
	# the first mail at a random point of a cycle, like every other.
	_i=0
	_bad=0
	while read -r fpr f; do
		_i=$((_i + 1))
		if [ "$_p" = hkp ]; then sleep 0.2; else rand_pause "$PAUSE"; fi
		$DRIVE latency --port "$SKS_PORT" --fpr "$fpr" \
			--mail "$TEST_TMP/mail/$_i.eml" --timeout 60 -- "$@" \
			>>"$RAW/$_p.jsonl" || _bad=$((_bad + 1))
	done <"$TEST_TMP/keys.list"
	say "$_p: $(tr '\n' ' ' <"$RAW/$_p.jsonl" | sed 's/"handover_ms": [0-9.]*, //g; s/"rc": 0//g; s/[{}",]//g; s/served_ms: //g')"
	check_eq "$_p: all $N keys served" "$_bad" 0
	[ "$_p" != native ] && stop_daemon "$RUNNER_PID"
	sks_stop "$SKS_DIR"
}

for p in ${BENCH_LAT_PATHS:-native hkp sks}; do
	say "$p: $N mails"
	run_path "$p"
done
done_testing
