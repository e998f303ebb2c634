#!/bin/sh
# tests/integration/outbound_bench.sh - the full SKS chain with 200 keys
# (the issue's benchmark): 200 Debian keys POSTed to a throwaway SKS
# /pks/add one by one; SKS pipes them through its sendmail_cmd
# ("pksbridge -c CONF sendmail -t -oi") one mail per key to three PKS
# peers; "pksbridge run" (a daemon, batch_window and max_batch_keys at
# their defaults, 30s and 100) sends them through one smtpsink.
#
# Checks: every peer gets every key exactly once, in at most
# ceil(200 / 100) = 2 mails, each well-formed; pksbridge took in every mail
# SKS piped to it.  Prints as "# " lines: how many sendmail intakes SKS
# made, the time from the last POST to the last mail accepted by the
# sink (and its parts), and mails/s and keys/s to the sink.
#
# It takes about 50 s (SKS's 10 s mailsync round plus the 30 s batch
# window).  PB_BENCH_KEYS=N runs it with another number of keys.
. "$(dirname "$0")/../lib.sh"
. "$TOP/tests/lib/sks.sh"
. "$TOP/tests/lib/sks_it.sh"
. "$TOP/tests/lib/smtpsink.sh"
. "$TOP/tests/lib/outbound_it.sh"

ob_need

N=${PB_BENCH_KEYS:-200}
MAXB=100
WANT_MAILS=$(( (N + MAXB - 1) / MAXB ))
PEERS="pgp-public-keys@peer1.example pgp-public-keys@peer2.example pgp-public-keys@peer3.example"
NPEERS=3
SINK=$TEST_TMP/sink
S=$TEST_TMP/sks
C=$TEST_TMP/pb.conf
show_on_failure "$TEST_TMP/runner.log" "$S/sks-db.log"

if ! debkeys_split "$N"; then
	not_ok "$N keys of at most 16 KB split from $DEBKEYS_RING" \
		"$(cat "$DEBSPLIT/split.err")"
	done_testing
fi
awk '{ print $1 }' "$DEBSPLIT/list" | sort >"$TEST_TMP/want"
check_eq "$N distinct Debian keys split" "$(uniq "$TEST_TMP/want" | wc -l)" "$N"

smtpsink_start "$SINK" || done_testing
PORT=$(free_port) || { not_ok "no free port"; done_testing; }
ob_conf "$C" "$TEST_TMP/spool" "smtp_relay: 127.0.0.1:$SMTPSINK_PORT"
if ! ob_sks_start "$S" "$PORT" "$C" $PEERS 2>"$TEST_TMP/sks.err"; then
	not_ok "SKS starts on port $PORT" "$(cat "$TEST_TMP/sks.err")"
	done_testing
fi
ok "SKS answers on port $PORT, sendmail_cmd: pksbridge sendmail -t -oi"
ob_runner "$C" "$TEST_TMP/runner.log"

t0=$(now_ms)
check "POST the $N keys to SKS /pks/add, one request each" \
	sks_post "$PORT" $(awk '{ print $2 }' "$DEBSPLIT/list")
t_post=$(now_ms)
echo "# $N POSTs took $((t_post - t0)) ms; the last one returned at $(date -d "@$((t_post / 1000))" +%T).$(printf %03d $((t_post % 1000)))"

delivered() {
	[ "$(smtpsink_count "$SINK")" -ge $((WANT_MAILS * NPEERS)) ] &&
		for _p in $PEERS; do
			[ "$(peer_fprs "$SINK" "$_p" | wc -l)" -ge "$N" ] || return 1
		done
}
wait_for "every peer is sent all $N keys" 120 delivered
sleep 3		# anything more would be a duplicate
last=0
first=99999999999999
for f in "$SINK"/msg.*; do
	case "$f" in *.env) continue ;; esac
	t=$(stat -c '%.3Y' "$f" | tr -d .)
	[ "$t" -gt "$last" ] && last=$t
	[ "$t" -lt "$first" ] && first=$t
done
nmails=$(smtpsink_count "$SINK")
for p in $PEERS; do
	check "$p: at most $WANT_MAILS mails (got $(peer_count "$SINK" "$p"))" \
		test "$(peer_count "$SINK" "$p")" -le "$WANT_MAILS"
	check_eq "$p: each of the $N keys exactly once" \
		"$(peer_fprs "$SINK" "$p" | md5sum)" "$(md5sum <"$TEST_TMP/want")"
done
bad=
for f in "$SINK"/msg.*; do
	case "$f" in *.env) continue ;; esac
	rcpt=$(sed -n 's/^RCPT TO:<\(.*\)>$/\1/p' "$f.env" | head -n 1)
	mail_ok "$f" "$rcpt" >/dev/null || bad="$bad $(basename "$f")"
done
check_eq "every mail keeps the outbound mail format" "$bad" ""
intakes=$(sks_intakes "$S")
check_eq "SKS piped $N mails into pksbridge sendmail, all taken in" \
	"$(sks_transmitted "$S") $intakes" "$N $N"

# When SKS handed over the first and the last key (its log has seconds).
tx_first=$(grep -m 1 'Message transmitted for key' "$S/sks-db.log" | cut -c12-19)
tx_last=$(grep 'Message transmitted for key' "$S/sks-db.log" | tail -n 1 | cut -c12-19)
span=$((last - first))
echo "# SKS made $intakes sendmail intakes (one per key) between $tx_first and $tx_last; pksbridge sent $nmails mails ($WANT_MAILS per peer at most, $NPEERS peers)"
echo "# last POST -> first mail accepted by the sink: $((first - t_post)) ms, -> last mail accepted: $((last - t_post)) ms (SKS's mailsync round <= 10 s, then batch_window 30 s, then the sends)"
echo "# to the sink: $nmails mails, $((N * NPEERS)) keys, first to last accepted in $span ms: $(python3 -c "import sys; s=max(int(sys.argv[1]),1)/1000; print('%.1f mails/s, %.0f keys/s' % (int(sys.argv[2])/s, int(sys.argv[3])/s))" "$span" "$nmails" $((N * NPEERS))) (a peer's second mail waits until one of its keys is due: SKS's intakes spread over $tx_first-$tx_last)"
grep 'status=sent' "$TEST_TMP/runner.log" | sed -n 's/.*mail_keys=\([0-9]*\), delay=\([0-9.]*\).*msgid=<\([^>]*\)>.*/\3 \1 \2/p' |
	sort -u | awk '{ n++; k += $2; if ($3 > d) d = $3 } END { printf "# runner: %d mails, %d keys, longest send %.2f s\n", n, k, d }'

stop_daemon "$RUNNER_PID"
sks_stop "$S"
smtpsink_stop
check_eq "no process left behind" "$(_t_strays)" ""
done_testing
