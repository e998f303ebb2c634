#!/bin/sh
# bench/s4_concurrency.sh - scenario 4, ingest throughput at 1, 2, 4, 8
# and 16 concurrent filter processes: mails per second of the delivery
# step (the MTA's view: how fast the filter takes mail off its hands),
# fsync on (pksbridge always commits durably before it exits 0; SKS's
# sks_add_mail never fsyncs).  One-key PKS mails of Debian keys, a
# different key in every mail; keys go to a messages/ directory, as in
# scenario 3:
#
#   native     sks_add_mail DIR
#   pksbridge  pksbridge ingest, keydb sks:DIR, the runner running as in
#              production (a filter that finds the inline delivery slot
#              taken leaves its entry to the runner); also the time until
#              the runner has delivered every entry
#
# Each level gets a fresh spool (primed with one mail).  Knobs:
# BENCH_TP_MAILS (400; quick: 100), BENCH_TP_LEVELS ("1 2 4 8 16").
# Raw figures: $RAW/<filter>-<level>.json (drive.py bulk output, plus
# "drained_s" for pksbridge).
. "$(dirname "$0")/lib.sh"

if [ "$BENCH_QUICK" = 1 ]; then N=${BENCH_TP_MAILS:-100}; else N=${BENCH_TP_MAILS:-400}; fi
LEVELS=${BENCH_TP_LEVELS:-1 2 4 8 16}

mkdir -p "$TEST_TMP/mail"
bench_keys | head -n "$N" >"$TEST_TMP/keys.list"
: >"$TEST_TMP/mails.list"
i=0
while read -r fpr f; do
	i=$((i + 1))
	pks_mail "$TEST_TMP/mail/$i.eml" "tp-$i@pks.example" "$f"
	echo "$fpr $TEST_TMP/mail/$i.eml" >>"$TEST_TMP/mails.list"
done <"$TEST_TMP/keys.list"
N=$i
pks_mail "$TEST_TMP/prime.eml" "prime@pks.example" "$TEST_DATA/keys/alice.asc"
say "$N mails, $(du -sk "$TEST_TMP/mail" | cut -f1) KB"

for c in $LEVELS; do
	d=$TEST_TMP/native-$c
	mkdir -p "$d/messages"
	$DRIVE bulk --list "$TEST_TMP/mails.list" --parallel "$c" -- \
		"$SKS_ADD_MAIL" "$d" >"$RAW/native-$c.json"
	rm -rf "$d"

	d=$TEST_TMP/pb-$c
	mkdir -p "$d/sks/messages"
	bench_pb_conf "$d/conf" "$d/spool" "sks:$d/sks"
	"$PB" -c "$d/conf" ingest <"$TEST_TMP/prime.eml" 2>/dev/null
	if ! bench_runner "$d/conf" "$d/runner.log"; then
		not_ok "runner starts" "$(tail -n 5 "$d/runner.log")"
		continue
	fi
	t0=$(now_ms)
	$DRIVE bulk --list "$TEST_TMP/mails.list" --parallel "$c" -- \
		"$PB" -c "$d/conf" ingest >"$d/out.json"
	wait_until 300 sh -c '[ "$("$1" -c "$2" queue list --json | wc -l)" -eq 0 ]' _ "$PB" "$d/conf"
	t1=$(now_ms)
	stop_daemon "$RUNNER_PID"
	files=$(ls "$d/sks/messages" | wc -l)
	sed "s/}\$/, \"drained_s\": $(echo "$t0 $t1" | awk '{ printf "%.2f", ($2 - $1) / 1000 }'), \"message_files\": $files}/" \
		"$d/out.json" >"$RAW/pksbridge-$c.json"
	say "$c: native $(sed 's/.*"mails_per_s": \([0-9.]*\).*/\1/' "$RAW/native-$c.json") mails/s; pksbridge $(sed 's/.*"mails_per_s": \([0-9.]*\).*/\1/' "$RAW/pksbridge-$c.json") mails/s, all delivered after $(sed 's/.*"drained_s": \([0-9.]*\).*/\1/' "$RAW/pksbridge-$c.json") s"
	check "$c at a time: no filter failed" grep -q '"failed_handovers": 0,' "$RAW/pksbridge-$c.json"
	rm -rf "$d"
done
done_testing
