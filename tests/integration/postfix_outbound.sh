#!/bin/sh
# tests/integration/postfix_outbound.sh - outbound mailsync through a real
# Postfix (Debian's postfix 3.7, in a Debian 12 of its own:
# tests/lib/mtaroot.sh) to the PKS peers, played by one smtpsink that
# Postfix relays everything to (relayhost).  A real SKS, whose
# sendmail_cmd is "pksbridge sendmail -t -oi", takes one POSTed key and
# mailsyncs it to four peers: four outbound entries, held, then
# released and sent one at a time, each a different way:
#
#   0. sendmail_cmd: Postfix's /usr/sbin/sendmail -oi, no -f: pksbridge
#      adds "-f from_addr", so the envelope sender is from_addr, not the
#      runner's user (where bounces would go nowhere useful)
#   A. sendmail_cmd: Postfix's /usr/sbin/sendmail -oi -f FROM_ADDR
#      (pksbridge adds "-- PEER"), the runner (run --once) in Postfix's
#      system, where that sendmail is
#   B. sendmail_cmd: /usr/sbin/sendmail -i -t -f FROM_ADDR (pksbridge.conf(5)'s
#      example, plus -f: Postfix takes the recipient from To:)
#   C. smtp_relay: Postfix's smtpd on its loopback port; first with Postfix
#      stopped (the entry is deferred, nothing lost), then again once it
#      runs
#   R. a reply to a mail command (HELP), ingested in Postfix's system with
#      no runner, so sent at once by B's sendmail_cmd: pksbridge puts
#      "-f <>" after the configured "-f FROM_ADDR", and Postfix's sendmail
#      takes the last -f and "<>" as the null sender
#
# Each time: Postfix logs it relayed to the sink, the peer got exactly one
# mail, with the key (real gpg), keeping the outbound mail format and its envelope
# (MAIL FROM:<from_addr>) as it left Postfix, and the entry is done.
. "$(dirname "$0")/../lib.sh"
. "$TOP/tests/lib/sks.sh"
. "$TOP/tests/lib/sks_it.sh"
. "$TOP/tests/lib/smtpsink.sh"
. "$TOP/tests/lib/outbound_it.sh"
. "$TOP/tests/lib/mtaroot.sh"
. "$TOP/tests/lib/mta.sh"
. "$TOP/tests/lib/postfix.sh"

ob_need
P1=pgp-public-keys@peer1.example
P2=pgp-public-keys@peer2.example
P3=pgp-public-keys@peer3.example
P0=pgp-public-keys@peer0.example
KEYS=$TEST_DATA/keys
ALICE=$(awk '$1 == "alice" { print $2 }' "$KEYS/fingerprints.txt")
SINK=$TEST_TMP/sink
S=$TEST_TMP/sks
SP=$TEST_TMP/spool
show_on_failure "$S/sks-db.log" "$TEST_TMP/run.log"

smtpsink_start "$SINK" || done_testing
PF_RELAY_PORT=$SMTPSINK_PORT
pfport=$(free_port) || { not_ok "no free port"; done_testing; }
: >"$TEST_TMP/aliases"
# The runner in Postfix's system runs the binary tests/run names, so the
# checkout is bound in.  No batching: one entry, one mail.
PB_BIN=$PKSBRIDGE
pf_start "$TEST_TMP/postfix" "$pfport" "$TEST_TMP/aliases" "$TOP" || done_testing

# Three configurations of one spool, one for each way out.
C0=$TEST_TMP/0.conf
CA=$TEST_TMP/a.conf
CB=$TEST_TMP/b.conf
CC=$TEST_TMP/c.conf
ob_conf "$C0" "$SP" "batch_window: 0s" "sendmail_cmd: /usr/sbin/sendmail -oi"
ob_conf "$CA" "$SP" "batch_window: 0s" \
	"sendmail_cmd: /usr/sbin/sendmail -oi -f $FROM_ADDR"
ob_conf "$CB" "$SP" "batch_window: 0s" \
	"sendmail_cmd: /usr/sbin/sendmail -i -t -f $FROM_ADDR"
ob_conf "$CC" "$SP" "batch_window: 0s" "smtp_relay: 127.0.0.1:$pfport" \
	"retry_schedule: 1s"

skport=$(free_port) || { not_ok "no free port"; done_testing; }
if ! ob_sks_start "$S" "$skport" "$CA" "$P0" "$P1" "$P2" "$P3" 2>"$TEST_TMP/sks.err"; then
	not_ok "SKS starts on port $skport" "$(cat "$TEST_TMP/sks.err")"
	done_testing
fi
check "POST alice to SKS /pks/add" sks_post "$skport" "$KEYS/alice.asc"
# four_ready - the intake has queued alice for the four peers.
four_ready() {
	[ "$(pb_count "$CA" direction=outbound state=ready keys="$ALICE")" -eq 4 ]
}
wait_for "SKS mailsyncs it into pksbridge sendmail: one entry per peer" 30 four_ready
check "hold them all" "$PKSBRIDGE" -c "$CA" queue hold --all
sks_stop "$S"

# sink_has_more N0 - the sink holds more than N0 messages.
sink_has_more() {
	[ "$(smtpsink_count "$SINK")" -gt "$1" ]
}

# sent_one WAY PEER N0 - the checks of one way out; N0: the sink's message
# count before.
sent_one() {
	_so_n=$(smtpsink_count "$SINK")
	check_eq "$1: the sink got one more mail" "$_so_n" $(($3 + 1))
	check_eq "$1: ... for $2" "$(peer_msgs_after "$SINK" "$2" "$3" | wc -l)" 1
	_so_m=$(peer_msgs_after "$SINK" "$2" "$3" | head -n 1)
	check "$1: it holds alice's key (gpg --show-keys)" \
		test "$(mail_fprs "$_so_m")" = "$ALICE"
	check "$1: as it left Postfix it keeps the outbound mail format, MAIL FROM:<$FROM_ADDR> too" \
		mail_ok "$_so_m" "$2"
	check_grep "$1: ... and came through Postfix (its Received: line)" \
		"^(Received: |[[:space:]]+)by $PF_DOMAIN \\(Postfix" "$_so_m"
	check_grep "$1: Postfix logs the relay to the sink" \
		"to=<$2>, relay=127\\.0\\.0\\.1\\[127\\.0\\.0\\.1\\]:$SMTPSINK_PORT, .*status=sent" \
		"$PF_LOG"
	check_eq "$1: the entry is done" \
		"$(pb_field "$CA" state direction=outbound peer="$2")" done
}

# release PEER - let the held entry for PEER go; sets N0, the sink's count.
release() {
	N0=$(smtpsink_count "$SINK")
	"$PKSBRIDGE" -c "$CA" queue release --all --peer "$1" >/dev/null 2>&1
}
# via_sendmail WAY PEER CONF - release PEER's entry and send it with run
# --once in Postfix's system, CONF's sendmail_cmd being Postfix's.
via_sendmail() {
	release "$2"
	check "$1: run --once in Postfix's system, sendmail_cmd $(sed -n 's/^sendmail_cmd: //p' "$3")" \
		pf_run "$PKSBRIDGE" -c "$3" run --once
	wait_for "$1: Postfix delivers it to the sink" 20 sink_has_more "$N0"
}

# --- 0. sendmail_cmd without -f ---------------------------------------------
via_sendmail 0 "$P0" "$C0"
m=$(peer_msgs_after "$SINK" "$P0" "$N0" | head -n 1)
check "0: it holds alice's key" test "$(mail_fprs "$m")" = "$ALICE"
check_grep "0: ... and its envelope sender is from_addr, not the runner's user" \
	"^MAIL FROM:<$FROM_ADDR>" "$m.env"
check_eq "0: the entry is done" \
	"$(pb_field "$CA" state direction=outbound peer="$P0")" done

# --- A. sendmail_cmd: Postfix's sendmail, recipients as arguments ----------
via_sendmail A "$P1" "$CA"
sent_one A "$P1" "$N0"

# --- B. sendmail_cmd: Postfix's sendmail -t --------------------------------
via_sendmail B "$P2" "$CB"
sent_one B "$P2" "$N0"

# --- R. a reply through Postfix's sendmail, from the null sender ------------
N0=$(smtpsink_count "$SINK")
printf '%s\n' "Return-Path: <alice@client.test>" \
	"From: Alice <alice@client.test>" "To: $FROM_ADDR" "Subject: HELP" \
	"Message-ID: <help-via-postfix@client.test>" \
	"Date: Thu, 14 Nov 2024 10:00:00 +0000" "" "" >"$TEST_TMP/help.eml"
check "R: ingest of a HELP request in Postfix's system (no runner: the reply is sent at once)" \
	pf_run "$PKSBRIDGE" -c "$CB" ingest <"$TEST_TMP/help.eml"
wait_for "R: Postfix delivers the reply to the sink" 20 sink_has_more "$N0"
m=$(peer_msgs_after "$SINK" alice@client.test "$N0" | head -n 1)
check_grep "R: it is the reply to HELP" "^Subject: .*HELP" "$m"
check_grep "R: ... marked Auto-Submitted: auto-replied" \
	"^Auto-Submitted: auto-replied" "$m"
check_grep "R: it left Postfix with MAIL FROM:<> (not from_addr, B's -f)" \
	"^MAIL FROM:<>" "$m.env"
check_grep "R: Postfix received it from the null sender" \
	"from=<>, size=" "$PF_LOG"
check_eq "R: the reply entry is done" \
	"$(pb_field "$CA" state message_id=help-via-postfix@client.test)" done

# --- C. smtp_relay: Postfix's smtpd ----------------------------------------
release "$P3"
check "C: Postfix stopped" pf_stop
check "C: run --once with smtp_relay 127.0.0.1:$pfport (nothing listens)" \
	"$PKSBRIDGE" -c "$CC" run --once
check_eq "C: the entry is deferred" \
	"$(pb_field "$CA" state direction=outbound peer="$P3")" deferred
check_grep "C: ... saying the relay was not there" \
	"relay .*127\\.0\\.0\\.1.*$pfport" "$TEST_TMP/.pb_list.json"
check_eq "C: nothing reached the sink" "$(smtpsink_count "$SINK")" "$N0"
check "C: Postfix started again" pf_restart
sleep 1	# retry_schedule 1s: due again
check "C: run --once again" "$PKSBRIDGE" -c "$CC" run --once
wait_for "C: Postfix delivers it to the sink" 20 sink_has_more "$N0"
sent_one C "$P3" "$N0"
check_grep "C: Postfix received it from pksbridge over SMTP, from_addr as sender" \
	"from=<$FROM_ADDR>, size=" "$PF_LOG"

check_eq "no outbound entry is left pending" \
	"$(pb_count "$CA" direction=outbound state=ready) $(pb_count "$CA" direction=outbound state=deferred) $(pb_count "$CA" direction=outbound state=held)" \
	"0 0 0"
check_eq "Postfix's queue is empty" "$(pf_queue_count)" 0
check_eq "Postfix bounced nothing" "$(grep -c 'status=bounced' "$PF_LOG")" 0
check "postfix stops" pf_stop
check "its system's holder stops" mtaroot_leave
smtpsink_stop
check_eq "no process left behind" "$(_t_doomed)" ""
done_testing
