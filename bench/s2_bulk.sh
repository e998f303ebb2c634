#!/bin/sh
# bench/s2_bulk.sh - scenario 2, inbound bulk: the keys of Debian's
# debian-keyring (905), each as its own PKS mail, 4 deliveries at a time;
# the wall time of the delivery step and the time until SKS serves every
# key (bench/drive.py polls op=index key by key; the JSON keeps a lower
# bound too), and the CPU time SKS, the handover processes and the runner
# spent on it.  Three runs, each with a fresh SKS:
#
#   post       the same keys POSTed straight to SKS's /pks/add, 4 at a
#              time: what SKS's own merge allows (the reference)
#   native     sks_add_mail into SKS's messages/ (merged on its 10 s poll)
#   pksbridge  pksbridge ingest, keydb hkp://, with the runner running
#
# Knobs: BENCH_BULK_KEYS (all 905; quick: 100), BENCH_BULK_PARALLEL (4),
# BENCH_BULK_PATHS ("post native pksbridge"; add "sks" for pksbridge with
# keydb sks:).  Raw figures: $RAW/<path>.json.
. "$(dirname "$0")/lib.sh"

if [ "$BENCH_QUICK" = 1 ]; then N=${BENCH_BULK_KEYS:-100}; else N=${BENCH_BULK_KEYS:-905}; fi
P=${BENCH_BULK_PARALLEL:-4}

bench_keys | head -n "$N" >"$TEST_TMP/keys.list"
mkdir -p "$TEST_TMP/mail"
: >"$TEST_TMP/mails.list"
i=0
while read -r fpr f; do
	i=$((i + 1))
	pks_mail "$TEST_TMP/mail/$i.eml" "bulk-$i@pks.example" "$f"
	echo "$fpr $TEST_TMP/mail/$i.eml" >>"$TEST_TMP/mails.list"
done <"$TEST_TMP/keys.list"
N=$i
say "$N keys, $(du -sk "$TEST_TMP/mail" | cut -f1) KB of mail, $P at a time"

run_path() {	# run_path NAME
	_p=$1
	if ! bench_sks "sks-$_p" 2>"$TEST_TMP/sks-$_p.err"; then
		not_ok "$_p: SKS starts" "$(cat "$TEST_TMP/sks-$_p.err")"
		return 1
	fi
	conf=$TEST_TMP/$_p.conf
	list=$TEST_TMP/mails.list
	case $_p in
	post) set -- --post; list=$TEST_TMP/keys.list ;;
	native) set -- -- "$SKS_ADD_MAIL" "$SKS_SPOOL" ;;
	pksbridge) bench_pb_conf "$conf" "$TEST_TMP/spool-$_p" "hkp://127.0.0.1:$SKS_PORT"
		set -- -- "$PB" -c "$conf" ingest ;;
	sks) bench_pb_conf "$conf" "$TEST_TMP/spool-$_p" "sks:$SKS_SPOOL"
		set -- -- "$PB" -c "$conf" ingest ;;
	esac
	if [ -e "$conf" ] && ! bench_runner "$conf" "$TEST_TMP/runner-$_p.log"; then
		not_ok "$_p: runner starts" "$(tail -n 5 "$TEST_TMP/runner-$_p.log")"
		sks_stop "$SKS_DIR"
		return 1
	fi
	sks_pid=$(cat "$SKS_DIR/sks-db.pid")
	c0=$(proc_cpu "$sks_pid")
	$DRIVE bulk --port "$SKS_PORT" --list "$list" --parallel "$P" "$@" \
		>"$TEST_TMP/$_p.json"
	# CPU spent on the keys: SKS's merge, the handover processes (with
	# their gpg children), the runner (with its gpg children).
	c1=$(proc_cpu "$sks_pid")
	rc=0.00
	[ -e "$conf" ] && rc=$(proc_cpu "$RUNNER_PID")
	sed "s/}\$/, \"sks_cpu_s\": $(echo "$c0 $c1" | awk '{ printf "%.2f", $2 - $1 }'), \"runner_cpu_s\": $rc}/" \
		"$TEST_TMP/$_p.json" >"$RAW/$_p.json"
	say "$_p: $(cat "$RAW/$_p.json")"
	check "$_p: every key served" grep -q "\"served\": $N," "$RAW/$_p.json"
	if [ -e "$conf" ]; then
		"$PB" -c "$conf" queue stats --json >"$RAW/$_p.queue.json" 2>&1
		stop_daemon "$RUNNER_PID"
	fi
	sks_stop "$SKS_DIR"
}

for p in ${BENCH_BULK_PATHS:-post native pksbridge}; do
	run_path "$p"
done
done_testing
