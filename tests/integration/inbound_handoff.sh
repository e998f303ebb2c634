# inbound_handoff.sh - one inline deliverer at a time, the rest to the
# runner, which delivers in batches; and nobody waits for a runner that
# is not there.
#
# The inline slot is an flock on SPOOL/inline.lock; holding it with
# flock(1) makes every ingest find it taken, deterministically.
. "$(dirname "$0")/../lib.sh"
need_cmd gpg flock || done_testing

PB=$TOP/${BUILD:-build}/pksbridge
KEYSPLIT=$TOP/${BUILD:-build}/tests/tools/keysplit
SPOOL=$TEST_TMP/spool
RING=$TEST_TMP/keyring
mkdir -m 700 "$SPOOL" "$TEST_TMP/keys" "$TEST_TMP/mails"
cat >"$TEST_TMP/pb.conf" <<EOF
spool_dir: $SPOOL
keydb: gnupg:$RING
retry_schedule: 1s
log: stderr
EOF
show_on_failure "$TEST_TMP/runner.log" "$TEST_TMP/ingest.log"
"$KEYSPLIT" /usr/share/keyrings/debian-keyring.gpg "$TEST_TMP/keys" 42 300 \
	>"$TEST_TMP/keys.txt"
i=0
while read -r fpr file; do
	i=$((i + 1))
	{
		echo "Subject: incremental"
		echo "Message-ID: <handoff-$i@pks.example>"
		echo
		cat "$file"
	} >"$TEST_TMP/mails/$i"
	echo "$fpr" >"$TEST_TMP/mails/$i.fpr"
done <"$TEST_TMP/keys.txt"

in_ring() {
	gpg --homedir "$RING" --with-colons --list-keys "$1" >/dev/null 2>&1
}
state_of() {	# state_of MESSAGE-ID-NUMBER
	"$PB" -c "$TEST_TMP/pb.conf" queue list --all --json |
		python3 -c 'import json,sys
for l in sys.stdin:
    e = json.loads(l)
    if e["message_id"] == "handoff-%s@pks.example" % sys.argv[1]:
        print(e["state"])' "$1"
}
ingest() {
	"$PB" -c "$TEST_TMP/pb.conf" ingest <"$TEST_TMP/mails/$1" \
		>>"$TEST_TMP/ingest.log" 2>&1
}

# 1. Slot taken, no runner: the ingest delivers anyway.
flock "$SPOOL/inline.lock" sleep 30 &
holder=$!
wait_until 5 test -e "$SPOOL/inline.lock"
sleep 0.2
check_rc "slot taken, no runner: ingest exits 0" 0 ingest 1
check "slot taken, no runner: the ingest delivered the key itself" \
	in_ring "$(cat "$TEST_TMP/mails/1.fpr")"
check_eq "and the entry is done" "$(state_of 1)" done

# 2. Slot taken, runner listening: the ingest hands over, the runner
#    delivers.
spawn_daemon "$TEST_TMP/runner.log" "$PB" -c "$TEST_TMP/pb.conf" run
runner=$SPAWNED_PID
wait_for "the runner listens on its wakeup FIFO" 10 test -p "$SPOOL/wakeup"
sleep 0.3
check_rc "slot taken, runner there: ingest exits 0" 0 ingest 2
wait_for "the runner delivered the handed-over key" 15 \
	in_ring "$(cat "$TEST_TMP/mails/2.fpr")"
wait_until 5 sh -c "[ \"\$(\"$PB\" -c \"$TEST_TMP/pb.conf\" queue list --json)\" = '' ]"
check_eq "and the entry is done" "$(state_of 2)" done
check_grep "the runner logged the delivery" "status=delivered" "$TEST_TMP/runner.log"
check "the ingest itself did not deliver it" \
	sh -c "! grep -q 'status=delivered' '$TEST_TMP/ingest.log' || [ \$(grep -c 'status=delivered' '$TEST_TMP/ingest.log') -eq 1 ]"
kill "$holder" 2>/dev/null
wait "$holder" 2>/dev/null

# 3. A burst of 40 with the runner: everything delivered, some inline,
#    the rest in runner batches.
start=$(date +%s)
i=3
while [ $i -le 42 ]; do
	j=0
	pids=
	while [ $j -lt 8 ] && [ $i -le 42 ]; do
		ingest $i &
		pids="$pids $!"
		i=$((i + 1))
		j=$((j + 1))
	done
	# Not a bare wait: that would wait for the runner too.
	for p in $pids; do
		wait "$p"
	done
done
all_in() {
	n=3
	while [ $n -le 42 ]; do
		in_ring "$(cat "$TEST_TMP/mails/$n.fpr")" || return 1
		n=$((n + 1))
	done
}
wait_for "all 40 keys of the burst are in the keyring" 30 all_in
wait_until 10 sh -c "[ \"\$(\"$PB\" -c \"$TEST_TMP/pb.conf\" queue list --json)\" = '' ]"
check_eq "nothing left pending" "$("$PB" -c "$TEST_TMP/pb.conf" queue list --json | wc -l | tr -d ' ')" 0
echo "# burst: $(grep -c 'status=delivered' "$TEST_TMP/ingest.log") delivered inline in all, runner log has $(grep -c 'status=delivered' "$TEST_TMP/runner.log") deliveries, $(( $(date +%s) - start )) s"
check_rc "the runner stops on SIGTERM" 0 stop_daemon "$runner"
done_testing
