#!/bin/sh
# tests/integration/outbound_sks.sh - SKS's mailsync through pksbridge, end
# to end, with real parts: a throwaway SKS whose sendmail_cmd is
# "pksbridge -c CONF sendmail -t -oi" (run by SKS through /bin/sh -c) and
# whose mailsync file lists three PKS peers, played by one smtpsink that
# pksbridge's smtp_relay points at; "pksbridge run" as a daemon with
# batch_window 2s and max_batch_keys 8.
#
#   1. Keys POSTed to SKS /pks/add reach every peer exactly once, as
#      well-formed incremental mails (the outbound mail format of outmail.h, checked on the raw bytes
#      the sink stored: headers, To = that peer only, one armor block,
#      lines <= 76, 7bit, CRLF), and real gpg reads the POSTed
#      fingerprints back out of them.
#   2. Echo suppression (only local changes go out): a key that came from PKS through
#      "pksbridge ingest" (keydb hkp://SKS) is merged by SKS and mailsynced
#      back into pksbridge sendmail: recorded suppressed, and nothing
#      reaches any peer.  The same key with a new certification POSTed
#      locally goes out trimmed by the key policy: carol was made by
#      GnuPG 2.2, whose self-signature sets no-modify, so alice's
#      certification stays behind (third_party_certs: owner).  A key
#      whose owner leaves no-modify unset (pgpgen) goes out with its
#      third-party certification.
#   3. Coalescing: 20 keys POSTed within one SKS mailsync round reach each
#      peer in at most ceil(20/8) = 3 mails, none over 8 keys.
# At the end every peer has been sent each key exactly once, every mail
# passes the format check, Message-IDs are unique, and every mail SKS
# piped into pksbridge was taken in; a key piped in again is suppressed
# for every peer (never the same packets twice).
. "$(dirname "$0")/../lib.sh"
. "$TOP/tests/lib/sks.sh"
. "$TOP/tests/lib/sks_it.sh"
. "$TOP/tests/lib/smtpsink.sh"
. "$TOP/tests/lib/outbound_it.sh"

ob_need

P1=pgp-public-keys@peer1.example
P2=pgp-public-keys@peer2.example
P3=pgp-public-keys@peer3.example
PEERS="$P1 $P2 $P3"
KEYS=$TEST_DATA/keys
fpr_of() {
	awk -v n="$1" '$1 == n { print $2 }' "$KEYS/fingerprints.txt"
}
ALICE=$(fpr_of alice)
BOB=$(fpr_of bob)
CAROL=$(fpr_of carol)
SINK=$TEST_TMP/sink
S=$TEST_TMP/sks
C=$TEST_TMP/pb.conf
show_on_failure "$TEST_TMP/runner.log" "$S/sks-db.log" "$TEST_TMP/ingest.log"

smtpsink_start "$SINK" || done_testing
PORT=$(free_port) || { not_ok "no free port"; done_testing; }
ob_conf "$C" "$TEST_TMP/spool" "smtp_relay: 127.0.0.1:$SMTPSINK_PORT" \
	"keydb: hkp://127.0.0.1:$PORT" "batch_window: 2s" "retry_schedule: 1s" \
	"max_batch_keys: 8"
if ! ob_sks_start "$S" "$PORT" "$C" $PEERS 2>"$TEST_TMP/sks.err"; then
	not_ok "SKS starts on port $PORT" "$(cat "$TEST_TMP/sks.err")"
	done_testing
fi
ok "SKS answers on port $PORT, sendmail_cmd: pksbridge -c CONF sendmail -t -oi"
ob_runner "$C" "$TEST_TMP/runner.log"
check "the runner runs" wait_until 30 grep -q 'runner started' "$TEST_TMP/runner.log"

# all_peers_have FPR... - every peer has been sent every FPR.
all_peers_have() {
	for _ap in $PEERS; do peer_has "$SINK" "$_ap" "$@" || return 1; done
}
# outbound_pending - outbound entries not finished yet.
outbound_pending() {
	"$PKSBRIDGE" -c "$C" queue list --json >"$TEST_TMP/pending.json" &&
		$PBJSON count "$TEST_TMP/pending.json" direction=outbound
}

# ---------------------------------------------------------------------------
# 1. Keys POSTed to SKS reach every peer as incremental mails
# ---------------------------------------------------------------------------
# Two requests (SKS reads only the first armor block of a POST).
check "POST alice and bob to SKS /pks/add" \
	sks_post "$PORT" "$KEYS/alice.asc" "$KEYS/bob.asc"
wait_for "every peer is sent alice and bob (SKS mailsyncs every 10 s)" 30 \
	all_peers_have "$ALICE" "$BOB"
for p in $PEERS; do
	check_eq "$p: alice and bob once each" \
		"$(peer_fprs "$SINK" "$p" | tr '\n' ' ')" \
		"$(printf '%s\n' "$ALICE" "$BOB" | sort | tr '\n' ' ')"
done
m=$(peer_msgs "$SINK" "$P1" | head -n 1)
check "the first mail to $P1 keeps the outbound mail format" mail_ok "$m" "$P1"
check "the raw bytes end every line with CRLF" crlf_only "$m"
rm -rf "$TEST_TMP/imp" && mkdir -m 700 "$TEST_TMP/imp"
check "real gpg imports the keys from the mails to $P1 into a new home" \
	gpg --homedir "$TEST_TMP/imp" --batch -q --import $(peer_msgs "$SINK" "$P1")
check_eq "... and lists the POSTed fingerprints" \
	"$(gpg --homedir "$TEST_TMP/imp" --batch -q --with-colons --list-keys 2>/dev/null |
		awk -F: '/^pub:/ { w = 1; next } /^fpr:/ && w { print $10; w = 0 }' | sort | tr '\n' ' ')" \
	"$(printf '%s\n' "$ALICE" "$BOB" | sort | tr '\n' ' ')"
gpgconf --homedir "$TEST_TMP/imp" --kill all 2>/dev/null	# --import started an agent
check_eq "the outbound entries are done, one per peer and key" \
	"$(pb_count "$C" direction=outbound state=done)" 6
wait_until 30 test "$(outbound_pending)" = 0
check_eq "nothing outbound left pending" "$(outbound_pending)" 0

# ---------------------------------------------------------------------------
# 2. Echo suppression: PKS -> ingest -> SKS -> mailsync -> suppressed
# ---------------------------------------------------------------------------
tx0=$(sks_transmitted "$S")
msgs0=$(smtpsink_count "$SINK")
pks_mail "$TEST_TMP/carol.eml" carol@pks.example "$KEYS/carol.asc"
check "pksbridge ingest of a PKS mail with carol's key exits 0" \
	sh -c "'$PKSBRIDGE' -c '$C' ingest <'$TEST_TMP/carol.eml' >>'$TEST_TMP/ingest.log' 2>&1"
# carol_done - the runner (woken by the ingest) has delivered carol.
carol_done() {
	[ "$(pb_field "$C" state direction=inbound message_id=carol@pks.example)" = done ]
}
wait_for "... delivered to SKS over hkp:// (by the woken runner)" 30 carol_done
check "SKS serves carol" sks_served "$PORT" "$CAROL"
# suppressed_carol - the echo of carol has been recorded as suppressed.
suppressed_carol() {
	[ "$(pb_count "$C" direction=outbound state=suppressed keys="$CAROL")" -ge 1 ]
}
wait_for "SKS mailsyncs carol back into pksbridge sendmail: recorded suppressed" \
	30 suppressed_carol
check "SKS did hand the key to sendmail_cmd" test "$(sks_transmitted "$S")" -gt "$tx0"
check "the suppressed entry says why (an echo of PKS traffic)" sh -c \
	"$PBJSON get '$TEST_TMP/.pb_list.json' last_error state=suppressed keys=$CAROL | grep -i 'echo'"
check_eq "... and names no peer (nothing was queued for any)" \
	"$(pb_field "$C" peer state=suppressed keys="$CAROL" | sort -u)" null
sleep 4		# batch_window + 2 s: anything queued would be out by now
check_eq "no mail reached any peer" "$(smtpsink_count "$SINK")" "$msgs0"
check_eq "no outbound entry is pending" "$(outbound_pending)" 0

# A local change to that key (a new certification, by alice) goes out.
tx0=$(sks_transmitted "$S")
check "POST carol-signed (carol + alice's certification) to SKS" \
	sks_post "$PORT" "$KEYS/carol-signed.asc"
wait_for "every peer is sent carol with the new certification" 30 \
	all_peers_have "$CAROL"
for p in $PEERS; do
	m=$(peer_msgs "$SINK" "$p" | while read -r f; do
		mail_fprs "$f" | grep -qx "$CAROL" && echo "$f"; done)
	check_eq "$p: carol in exactly one mail" "$(echo "$m" | wc -l)" 1
	check_rc "$p: that mail holds no certification of carol by alice (no-modify: the key policy keeps it back)" 1 sh -c \
		"gpg --homedir '$OB_GNUPG' --batch -q --with-colons --with-sig-list \
			--show-keys '$m' 2>/dev/null | grep -q '^sig:[^:]*::[0-9]*:${ALICE#????????????????????????}:'"
done
# The owner allows certifications (no-modify unset): one goes out with it.
python3 "$TOP/tests/tools/pgpgen.py" shape flood --seed obopen --certs 1 \
	--out "$TEST_TMP/obopen.asc" 2>"$TEST_TMP/obopen.fpr" >/dev/null
OBOPEN=$(cat "$TEST_TMP/obopen.fpr")
check "POST a key with no-modify unset and one third-party certification" \
	sks_post "$PORT" "$TEST_TMP/obopen.asc"
wait_for "every peer is sent it" 30 all_peers_have "$OBOPEN"
for p in $PEERS; do
	m=$(peer_msgs "$SINK" "$p" | while read -r f; do
		mail_fprs "$f" | grep -qx "$OBOPEN" && echo "$f"; done)
	check_eq "$p: ... with its third-party certification" \
		"$(gpg --list-packets "$m" 2>/dev/null | grep -c 'sigclass 0x10')" 1
done

# ---------------------------------------------------------------------------
# 3. Coalescing: 20 keys within one mailsync round, max_batch_keys 8
# ---------------------------------------------------------------------------
if ! debkeys_split 20; then
	not_ok "20 small keys split from $DEBKEYS_RING" "$(cat "$DEBSPLIT/split.err")"
	done_testing
fi
BURST=$(awk '{ print $1 }' "$DEBSPLIT/list")
# SKS sends what is queued every 10 s: POST right after a round, so that
# the 20 keys go out in one round, all within one batch_window.
wait_until 15 test "$(sks_transmitted "$S")" -gt "$tx0"
msgs0=$(smtpsink_count "$SINK")
t0=$(now_ms)
check "POST 20 Debian keys to SKS, one request each" \
	sks_post "$PORT" $(awk '{ print $2 }' "$DEBSPLIT/list")
echo "# 20 POSTs took $(($(now_ms) - t0)) ms"
wait_for "every peer is sent all 20 keys" 40 all_peers_have $BURST
wait_until 30 test "$(outbound_pending)" = 0
for p in $PEERS; do
	new=$(peer_msgs_after "$SINK" "$p" "$msgs0")
	n=$(echo "$new" | grep -c .)
	check "$p: the 20 keys came in at most 3 mails (got $n)" test "$n" -le 3
	most=0
	for f in $new; do
		k=$(mail_fprs "$f" | wc -l)
		[ "$k" -gt "$most" ] && most=$k
	done
	check "$p: no mail holds more than max_batch_keys 8 keys (most: $most)" \
		test "$most" -le 8
done

# ---------------------------------------------------------------------------
# Every peer, every key, exactly once; every mail well-formed
# ---------------------------------------------------------------------------
sleep 3		# a resend, if any, would come within batch_window + 1 s
want=$(printf '%s\n' "$ALICE" "$BOB" "$CAROL" "$OBOPEN" $BURST | sort | tr '\n' ' ')
for p in $PEERS; do
	check_eq "$p was sent each of the 24 keys exactly once" \
		"$(peer_fprs "$SINK" "$p" | tr '\n' ' ')" "$want"
done
bad=
: >"$TEST_TMP/msgids"
for f in "$SINK"/msg.*; do
	case "$f" in *.env) continue ;; esac
	rcpt=$(sed -n 's/^RCPT TO:<\(.*\)>$/\1/p' "$f.env" | head -n 1)
	if out=$(mail_ok "$f" "$rcpt"); then
		echo "$out" | sed -n 's/^msgid //p' >>"$TEST_TMP/msgids"
	else
		bad="$bad $(basename "$f"): $(echo "$out" | head -n 2 | tr '\n' ';')"
	fi
done
check_eq "all $(smtpsink_count "$SINK") mails keep the outbound mail format (format, envelope, CRLF, 7bit, <= 76)" \
	"$bad" ""
check_eq "their Message-IDs are unique" \
	"$(sort "$TEST_TMP/msgids" | uniq -d | head -n 3)" ""
check_eq "SKS handed every key it sent to pksbridge sendmail (intakes = transmissions)" \
	"$(sks_intakes "$S")" "$(sks_transmitted "$S")"
echo "# SKS sent $(sks_transmitted "$S") mails through sendmail_cmd; pksbridge sent $(smtpsink_count "$SINK") to 3 peers"
pb_list "$C" "$TEST_TMP/final.json"
check "queue list --all --json keeps the JSON contract" $PBJSON list "$TEST_TMP/final.json"
check_eq "no outbound entry failed or is left pending" \
	"$($PBJSON count "$TEST_TMP/final.json" direction=outbound state=failed) $(outbound_pending)" "0 0"

# A peer is never sent the same packets twice within
# dedup_ttl (SKS pipes a key again when, say, its sendmail_cmd failed).
msgs0=$(smtpsink_count "$SINK")
{ printf '%s\n' "To: $P1, $P2, $P3" "From: pgp-public-keys@sks.test" \
	"Subject: incremental" "Message-ID: <again@sks.test>" ""
  cat "$KEYS/alice.asc"; } >"$TEST_TMP/again.eml"
check "alice piped into pksbridge sendmail once more: exit 0" sh -c \
	"'$PKSBRIDGE' -c '$C' sendmail -t -oi <'$TEST_TMP/again.eml' 2>>'$TEST_TMP/intake.log'"
check_eq "... recorded suppressed for each of the three peers" \
	"$(pb_field "$C" peer message_id=again@sks.test state=suppressed | sort | tr '\n' ' ')" \
	"$(printf '%s\n' $PEERS | sort | tr '\n' ' ')"
sleep 3
check_eq "... and no peer is sent it again" "$(smtpsink_count "$SINK")" "$msgs0"

stop_daemon "$RUNNER_PID"
check "the runner stops on SIGTERM" _t_gone "$RUNNER_PID"
sks_stop "$S"
smtpsink_stop
check_eq "no process left behind" "$(_t_strays)" ""
done_testing
