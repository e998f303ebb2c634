#!/bin/sh
# outbound_unsent.sh - SPEC rule 6: packets count as sent to a peer only
# once a delivery of them to that peer has succeeded.  An entry that is
# deleted, one that fails for good, and one whose delivery is killed
# mid-way leave their packets unsent, so the next intake that carries
# them (SKS's mailsync of the same key, through "pksbridge sendmail")
# queues them again, and they reach the peer.  The opposite too: once a
# delivery succeeded, the same packets again are suppressed for that
# peer.
#
# The peer's sendmail is tests/data/bin/rec-sendmail: it records each
# mail and exits as told (0 delivered, 67 failed for good), or, for the
# kill case, a stand-in that records its start and waits to be killed.
. "$(dirname "$0")/../lib.sh"
need_cmd gpg python3 || done_testing

PB=$PKSBRIDGE
PEER=pgp-public-keys@peer.example
SPOOL=$TEST_TMP/spool
CONF=$TEST_TMP/pb.conf
REC=$TEST_TMP/rec
mkdir -m 700 "$SPOOL" "$TEST_TMP/keys"
mkdir "$REC"
echo "$PEER" >"$TEST_TMP/mailsync"
# The kill case's sendmail: it says it started, then waits to be killed.
cat >"$TEST_TMP/hang-sendmail" <<EOF
#!/bin/sh
cat >/dev/null
touch "$TEST_TMP/hang.started"
exec sleep 60
EOF
chmod 755 "$TEST_TMP/hang-sendmail"
# conf SENDMAIL_CMD - the configuration, with that sendmail_cmd.
conf() {
	cat >"$CONF" <<EOF
spool_dir: $SPOOL
keydb: gnupg:$TEST_TMP/keyring
from_addr: pgp-public-keys@bridge.test
mailsync_file: $TEST_TMP/mailsync
sendmail_cmd: $1
batch_window: 0s
retry_schedule: 1s
log: stderr
EOF
}
conf "$TEST_DATA/bin/rec-sendmail $REC -i"
show_on_failure "$TEST_TMP/log"
unique_keys 4 "$TEST_TMP/keys" unsent >"$TEST_TMP/keys.txt"
fpr() { sed -n "${1}s/ .*//p" "$TEST_TMP/keys.txt"; }

# intake N - SKS's mailsync of key N, as SKS pipes it into its sendmail_cmd.
intake() {
	printf '%s\n' "To: $PEER" "From: pgp-public-keys@sks.test" \
		"Subject: incremental" "X-KeyServer-Sent: pgp-public-keys@sks.test" "" |
		cat - "$TEST_TMP/keys/$1.asc" |
		"$PB" -c "$CONF" sendmail -t -oi >>"$TEST_TMP/log" 2>&1
}
# state_of N - the states of the entries holding key N, in creation order.
state_of() {
	"$PB" -c "$CONF" queue list --all --json | python3 -c '
import json, sys
fpr = sys.argv[1]
print(" ".join(e["state"] for e in map(json.loads, sys.stdin)
               if any(k["fingerprint"] == fpr for k in e["keys"])))' "$(fpr "$1")"
}
# id_of N - the id of the newest entry holding key N.
id_of() {
	"$PB" -c "$CONF" queue list --all --json | python3 -c '
import json, sys
fpr = sys.argv[1]
ids = [e["id"] for e in map(json.loads, sys.stdin)
       if any(k["fingerprint"] == fpr for k in e["keys"])]
print(ids[-1] if ids else "")' "$(fpr "$1")"
}
# at_peer N - how many mails the peer got that carry key N.
at_peer() {
	_ap=0
	for _ap_m in "$REC"/call.*; do
		case $_ap_m in *.args | *.tmp) continue ;; esac
		[ -e "$_ap_m" ] || continue
		gpg --batch --with-colons --import-options show-only --import "$_ap_m" 2>/dev/null |
			grep -q "^fpr:.*:$(fpr "$1"):" && _ap=$((_ap + 1))
	done
	echo "$_ap"
}
run_once() { "$PB" -c "$CONF" run --once >>"$TEST_TMP/log" 2>&1; }

# --- a delivered key is suppressed the next time ------------------------------
check "key 1: intake" intake 1
check "key 1: delivered" run_once
check_eq "key 1: the peer has it" "$(at_peer 1)" 1
check "key 1: the same key again" intake 1
check_eq "key 1: ... is suppressed for the peer, which has it" "$(state_of 1)" "done suppressed"

# --- deleted before delivery ------------------------------------------------------
check "key 2: intake" intake 2
check_eq "key 2: queued" "$(state_of 2)" "ready"
check "key 2: the operator deletes the entry" "$PB" -c "$CONF" queue delete "$(id_of 2)"
check "key 2: the same key again" intake 2
check_eq "key 2: ... is queued again (the deleted entry sent nothing)" "$(state_of 2)" "ready"
check "key 2: delivered" run_once
check_eq "key 2: the peer has it" "$(at_peer 2)" 1

# --- failed for good ----------------------------------------------------------------
echo 67 >"$REC/exit.$PEER"
check "key 3: intake" intake 3
ls "$REC" >"$TEST_TMP/calls.before"
run_once
check_eq "key 3: the peer refuses it for good: failed" "$(state_of 3)" "failed"
check_eq "key 3: ... after one attempt" "$(at_peer 3)" 1
# rec-sendmail records a mail it then refuses: what the peer kept is
# what it accepted, so the refused call goes.
ls "$REC" | grep '^call\.' | grep -vxF -f "$TEST_TMP/calls.before" | sed "s|^|$REC/|" | xargs rm -f
check_eq "key 3: ... and the peer has nothing" "$(at_peer 3)" 0
echo 0 >"$REC/exit.$PEER"
check "key 3: the same key again" intake 3
check_eq "key 3: ... is queued again (the failed entry sent nothing)" \
	"$(state_of 3)" "failed ready"
check "key 3: delivered" run_once
check_eq "key 3: the peer has it" "$(at_peer 3)" 1

# --- delivery killed mid-way --------------------------------------------------------
conf "$TEST_TMP/hang-sendmail"
check "key 4: intake" intake 4
spawn_daemon "$TEST_TMP/hang-runner.log" "$PB" -c "$CONF" run --once
runner=$SPAWNED_PID
wait_for "key 4: the delivery to the peer is under way" 20 test -e "$TEST_TMP/hang.started"
# The runner, its delivery child and the sendmail: the whole group dies.
kill -KILL "-$runner" 2>/dev/null || kill -KILL "$runner"
stop_daemon "$runner"
conf "$TEST_DATA/bin/rec-sendmail $REC -i"
check "key 4: the same key again" intake 4
check_eq "key 4: ... is queued again (the killed delivery sent nothing)" \
	"$(state_of 4 | cut -d' ' -f2)" "ready"
check "key 4: delivered" run_once
check_eq "key 4: the peer has it" "$(at_peer 4)" 1
done_testing
