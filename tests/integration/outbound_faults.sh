#!/bin/sh
# tests/integration/outbound_faults.sh - per-peer delivery (each peer its own entries and retries)
# with faults injected on the peer side.  Real parts: a throwaway SKS
# whose sendmail_cmd is "pksbridge -c CONF sendmail -t -oi", its mailsync
# file listing five PKS peers, all played by one smtpsink whose script
# makes each fail its own way; "pksbridge run" as a daemon with
# batch_window 2s and retry_schedule 1s.
#
#   ok     accepts at once
#   tmp    RCPT answered 450: deferred, retried every 1 s, delivered once
#          the sink accepts again
#   perm   RCPT answered 550: that peer's entry fails, no retry
#   slow   a tarpit: 15 s before each RCPT reply.  It must not delay the
#          others: their mails are in while it still hangs
#   reset  the connection reset after the first line of DATA: deferred,
#          then delivered
#
# Then the same with sendmail_cmd instead of SMTP (a second SKS and
# spool): tests/data/bin/rec-sendmail records argv and stdin and exits 0
# (ok), 75 (tmp: deferred, retried, delivered once it exits 0) or 67
# (perm: failed, never retried).
. "$(dirname "$0")/../lib.sh"
. "$TOP/tests/lib/sks.sh"
. "$TOP/tests/lib/sks_it.sh"
. "$TOP/tests/lib/smtpsink.sh"
. "$TOP/tests/lib/outbound_it.sh"

ob_need

OK=pgp-public-keys@ok.example
TMP=pgp-public-keys@tmp.example
PERM=pgp-public-keys@perm.example
SLOW=pgp-public-keys@slow.example
RESET=pgp-public-keys@reset.example
SLOW_SECS=15
KEYS=$TEST_DATA/keys
ALICE=$(awk '$1 == "alice" { print $2 }' "$KEYS/fingerprints.txt")
BOB=$(awk '$1 == "bob" { print $2 }' "$KEYS/fingerprints.txt")
SINK=$TEST_TMP/sink
SA=$TEST_TMP/sks-a
SB=$TEST_TMP/sks-b
CA=$TEST_TMP/a.conf
CB=$TEST_TMP/b.conf
REC=$TEST_TMP/rec
show_on_failure "$TEST_TMP/runner-a.log" "$TEST_TMP/runner-b.log" \
	"$SA/sks-db.log" "$SB/sks-db.log"

smtpsink_start "$SINK" || done_testing
smtpsink_script "$SINK" \
	"rcpt 450 <$TMP> 4.7.1 greylisted, try again later" \
	"rcpt 550 <$PERM> 5.1.1 no such user" \
	"rcpt-delay $SLOW_SECS <$SLOW>" \
	"reset-in-data <$RESET>"
PA=$(free_port) && PB=$(free_port) || { not_ok "no free port"; done_testing; }
ob_conf "$CA" "$TEST_TMP/spool-a" "smtp_relay: 127.0.0.1:$SMTPSINK_PORT" \
	"batch_window: 2s" "retry_schedule: 1s"
mkdir -p "$TEST_TMP/bin" "$REC"
cp "$TEST_DATA/bin/rec-sendmail" "$TEST_TMP/bin/rec-sendmail"
ob_conf "$CB" "$TEST_TMP/spool-b" "sendmail_cmd: $TEST_TMP/bin/rec-sendmail $REC -oi" \
	"batch_window: 2s" "retry_schedule: 1s"
echo 75 >"$REC/exit.$TMP"
echo 67 >"$REC/exit.$PERM"
if ! ob_sks_start "$SA" "$PA" "$CA" "$OK" "$TMP" "$PERM" "$SLOW" "$RESET" \
	2>"$TEST_TMP/sks.err" ||
	! ob_sks_start "$SB" "$PB" "$CB" "$OK" "$TMP" "$PERM" 2>"$TEST_TMP/sks.err"; then
	not_ok "two SKS start (ports $PA, $PB)" "$(cat "$TEST_TMP/sks.err")"
	done_testing
fi
ok "two SKS answer, each with pksbridge sendmail as its sendmail_cmd"
ob_runner "$CA" "$TEST_TMP/runner-a.log"
RA=$RUNNER_PID
ob_runner "$CB" "$TEST_TMP/runner-b.log"
RB=$RUNNER_PID

# entry CONF PEER FIELD - FIELD of the outbound entry for PEER.
entry() {
	pb_field "$1" "$3" direction=outbound "peer=$2"
}
# state_is CONF PEER STATE
state_is() {
	[ "$(entry "$1" "$2" state)" = "$3" ]
}
# attempts_at_least CONF PEER N STATE - in STATE after at least N attempts.
attempts_at_least() {
	state_is "$1" "$2" "$4" && [ "$(entry "$1" "$2" attempts)" -ge "$3" ]
}
rec_calls() {
	for _rc in "$REC"/call.*.args; do
		[ -f "$_rc" ] && [ -f "${_rc%.args}" ] || continue
		[ "$(tail -n 1 "$_rc")" = "$1" ] && echo "${_rc%.args}"
	done
}
rec_count() {
	rec_calls "$1" | grep -c .
}

check "POST alice to SKS A (SMTP peers)" sks_post "$PA" "$KEYS/alice.asc"
check "POST bob to SKS B (sendmail_cmd peers)" sks_post "$PB" "$KEYS/bob.asc"

# ---------------------------------------------------------------------------
# SMTP: one sink, five peers, four faults
# ---------------------------------------------------------------------------
queued() {
	[ "$(pb_count "$CA" direction=outbound)" -ge 5 ]
}
wait_for "SKS A mailsyncs alice into pksbridge: five entries, one per peer" 30 queued
created=$(entry "$CA" "$OK" created)
wait_for "$OK is sent alice" 30 peer_has "$SINK" "$OK" "$ALICE"
t_ok=$(stat -c %Y "$(peer_msgs "$SINK" "$OK")")
check_eq "... while $SLOW still hangs in its tarpit (no mail, entry not done)" \
	"$(peer_count "$SINK" "$SLOW") $(entry "$CA" "$SLOW" state)" "0 ready"
# Sent before the tarpit could have let $SLOW go: the dead peer did not
# delay it.  How soon after the batch window is bench's.
check "... before $SLOW's tarpit ends ($((t_ok - created)) s < $SLOW_SECS s)" \
	test $((t_ok - created)) -lt "$SLOW_SECS"
bench "outbound_faults: intake -> accepted by a healthy peer beside a tarpit" \
	"$((t_ok - created))" 5 s
wait_for "$PERM: 550 fails its entry" 30 state_is "$CA" "$PERM" failed
check "... last_error quotes the 550" sh -c \
	"$PBJSON get '$TEST_TMP/.pb_list.json' last_error direction=outbound peer=$PERM | grep -q '550 5.1.1 no such user'"
wait_for "$TMP: 450 defers, and it is retried per retry_schedule (1 s)" 30 \
	attempts_at_least "$CA" "$TMP" 3 deferred
check "... last_error quotes the 450" sh -c \
	"$PBJSON get '$TEST_TMP/.pb_list.json' last_error direction=outbound peer=$TMP | grep -q '450 4.7.1'"
wait_for "$RESET: a reset mid-DATA defers" 30 \
	attempts_at_least "$CA" "$RESET" 1 deferred
check "... and says the connection went" sh -c \
	"$PBJSON get '$TEST_TMP/.pb_list.json' last_error direction=outbound peer=$RESET | grep -Ei 'reset|closed|broken'"
check_eq "... nothing stored for $TMP, $PERM or $RESET yet" \
	"$(peer_count "$SINK" "$TMP")$(peer_count "$SINK" "$PERM")$(peer_count "$SINK" "$RESET")" 000
check_eq "$SLOW is still hanging, nothing stored for it" \
	"$(peer_count "$SINK" "$SLOW") $(entry "$CA" "$SLOW" state)" "0 ready"

# The sink accepts tmp and reset again; perm and slow stay as they are.
smtpsink_script "$SINK" "rcpt 550 <$PERM> 5.1.1 no such user" \
	"rcpt-delay $SLOW_SECS <$SLOW>"
wait_for "$TMP is delivered once the sink accepts again" 30 \
	peer_has "$SINK" "$TMP" "$ALICE"
wait_for "$RESET is delivered once the sink stops resetting" 30 \
	peer_has "$SINK" "$RESET" "$ALICE"
wait_for "$SLOW, the tarpit, is delivered in the end" $((SLOW_SECS + 30)) \
	peer_has "$SINK" "$SLOW" "$ALICE"
t_slow=$(stat -c %Y "$(peer_msgs "$SINK" "$SLOW")")
echo "# intake -> accepted: $OK $((t_ok - created)) s, $SLOW (tarpit ${SLOW_SECS} s per RCPT) $((t_slow - created)) s"
check "$SLOW was not sent before its tarpit let it ($((t_slow - created)) s)" \
	test $((t_slow - created)) -ge "$SLOW_SECS"
sleep 2
for p in "$OK" "$TMP" "$SLOW" "$RESET"; do
	check_eq "$p: exactly one mail, done" \
		"$(peer_count "$SINK" "$p") $(entry "$CA" "$p" state)" "1 done"
	check "$p: the mail keeps the outbound mail format" mail_ok "$(peer_msgs "$SINK" "$p")" "$p"
done
check_eq "$PERM: nothing stored, the entry failed after one attempt" \
	"$(peer_count "$SINK" "$PERM") $(entry "$CA" "$PERM" state) $(entry "$CA" "$PERM" attempts)" \
	"0 failed 1"

# ---------------------------------------------------------------------------
# sendmail_cmd: exit 0, 75, 67
# ---------------------------------------------------------------------------
rec_has() {
	[ "$(rec_count "$1")" -ge 1 ]
}
wait_for "SKS B's mail reaches $OK through the command" 30 rec_has "$OK"
f=$(rec_calls "$OK" | head -n 1)
check_eq "... called with the configured arguments, -f from_addr (no -f of its own), then -- PEER" \
	"$(tr '\n' ' ' <"$f.args")" "-oi -f $FROM_ADDR -- $OK "
check "... its stdin is the mail with LF line ends (no CR)" \
	sh -c "test -s '$f' && ! grep -q \"\$(printf '\\r')\" '$f'"
check_grep "... To: that peer only" "^To: $OK\$" "$f"
check_grep "... Subject: incremental" '^Subject: incremental$' "$f"
check_eq "... gpg reads bob out of it" "$(mail_fprs "$f")" "$BOB"
wait_for "... and the entry is done" 30 state_is "$CB" "$OK" done
wait_for "exit 75: $TMP is deferred and retried (1 s)" 30 \
	attempts_at_least "$CB" "$TMP" 2 deferred
check "... last_error gives the exit status" sh -c \
	"$PBJSON get '$TEST_TMP/.pb_list.json' last_error direction=outbound peer=$TMP | grep -q 75"
echo 0 >"$REC/exit.$TMP"
wait_for "... delivered once the command exits 0" 30 state_is "$CB" "$TMP" done
n=$(rec_count "$TMP")
check_eq "... the command ran once per attempt" "$n" "$(entry "$CB" "$TMP" attempts)"
wait_for "exit 67: $PERM fails" 30 state_is "$CB" "$PERM" failed
check "... last_error gives the exit status" sh -c \
	"$PBJSON get '$TEST_TMP/.pb_list.json' last_error direction=outbound peer=$PERM | grep -q 67"
sleep 2
check_eq "... it ran once and was never retried" \
	"$(rec_count "$PERM") $(entry "$CB" "$PERM" attempts)" "1 1"
check_eq "$OK got bob once" "$(rec_count "$OK")" 1

for c in "$CA" "$CB"; do
	pb_list "$c" "$TEST_TMP/final.json"
	check "$(basename "$c"): queue list --all --json keeps the JSON contract" \
		$PBJSON list "$TEST_TMP/final.json"
done
stop_daemon "$RA"
stop_daemon "$RB"
check "both runners stop on SIGTERM" sh -c "! kill -0 $RA 2>/dev/null && ! kill -0 $RB 2>/dev/null"
sks_stop "$SA"
sks_stop "$SB"
smtpsink_stop
check_eq "no process left behind" "$(_t_strays)" ""
done_testing
