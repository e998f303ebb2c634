# fault_keydb.sh - the key database failing under load, with the real
# binary, the runner as a daemon and a real SKS over hkp://.  What
# inbound_sks_retry.sh does not cover already (one deferred entry at a
# time, retry/hold/release wakeups, max_queue_lifetime):
#
#   A. SKS down for a while with a backlog: 20 mails ingested while it is
#      down all exit 0 at once and stay deferred (none fails, the runner
#      keeps retrying); SKS back, every one is delivered;
#   B. SKS hung (SIGSTOP: connections are accepted, nothing answers):
#      ingests still exit 0 (their inline attempt is bounded), and once
#      SKS continues (SIGCONT) everything is delivered;
#   C. SKS SIGKILLed in the middle of deliveries: whatever it did not
#      confirm is retried after it restarts; every key ends up in SKS.
# Checked throughout: no entry fails, no process crashes, db_verify is
# clean at the end.
. "$(dirname "$0")/../lib.sh"
. "$TOP/tests/lib/sks.sh"
need_cmd sks gpg curl python3 db5.3_verify || done_testing

PB=$TOP/${BUILD:-build}/pksbridge
KEYSPLIT=$TOP/${BUILD:-build}/tests/tools/keysplit
SPOOL=$TEST_TMP/spool
CONF=$TEST_TMP/pb.conf
SB=$TEST_TMP/sks
mkdir -m 700 "$SPOOL" "$TEST_TMP/keys" "$TEST_TMP/mails"
show_on_failure "$TEST_TMP/ingest.log" "$TEST_TMP/runner.log" "$SB/sks-db.log"
PORT=$(free_port) || { not_ok "no free port"; done_testing; }
cat >"$CONF" <<EOF
spool_dir: $SPOOL
keydb: hkp://127.0.0.1:$PORT
retry_schedule: 1s
log: stderr
EOF
"$KEYSPLIT" /usr/share/keyrings/debian-keyring.gpg "$TEST_TMP/keys" 60 0 16384 \
	>"$TEST_TMP/keys.txt"
check_eq "60 Debian keys of at most 16 KB" "$(wc -l <"$TEST_TMP/keys.txt" | tr -d ' ')" 60
pks_key_mails "$TEST_TMP/keys.txt" "$TEST_TMP/mails" keydb

# ingest_range FROM TO - ingest those mails, 4 at a time; prints the exit
# statuses that were not 0.
ingest_range() {
	# The mail number is passed as $1, not substituted by xargs -I,
	# which would also rewrite a letter of $TEST_TMP's random name.
	seq "$1" "$2" | xargs -P 4 -n 1 sh -c \
		"'$PB' -c '$CONF' ingest <'$TEST_TMP/mails/'\$1 2>>'$TEST_TMP/ingest.log' || echo \$1:\$?" ingest
}
# pending - how many inbound entries are still pending.
pending() {
	"$PB" -c "$CONF" queue list --json | grep -c '"direction":"inbound"'
}
# states FROM TO - "state" of each of those mails' entries, sorted, counted.
states() {
	"$PB" -c "$CONF" queue list --all --json | python3 -c '
import collections, json, sys
lo, hi = int(sys.argv[1]), int(sys.argv[2])
c = collections.Counter()
for l in sys.stdin:
    e = json.loads(l)
    n = int(e["message_id"].split("-")[1].split("@")[0])
    if lo <= n <= hi:
        c[e["state"]] += 1
print(" ".join("%s=%d" % kv for kv in sorted(c.items())))' "$1" "$2"
}
# served FROM TO - SKS serves every key of those mails.
served() {
	for _n in $(seq "$1" "$2"); do
		sks_wait_key "$PORT" "$(cat "$TEST_TMP/mails/$_n.fpr")" 0 || return 1
	done
}
done_range() {
	[ "$(states "$1" "$2")" = "done=$(($2 - $1 + 1))" ]
}

spawn_daemon "$TEST_TMP/runner.log" "$PB" -c "$CONF" run
RUNNER=$SPAWNED_PID
wait_for "the runner starts" 10 test -p "$SPOOL/wakeup"

# --- A. down for a while -----------------------------------------------------
t0=$(date +%s%N)
check_eq "A: 20 ingests with SKS down all exit 0" "$(ingest_range 1 20)" ""
check "A: ... at once, not after an inline timeout ($((($(date +%s%N) - t0) / 1000000)) ms for 20)" \
	test $((($(date +%s%N) - t0) / 1000000)) -lt 8000
sleep 3
check_eq "A: after 3 s of retries all 20 are still deferred, none failed" \
	"$(states 1 20)" "deferred=20"
attempts=$("$PB" -c "$CONF" queue list --json | python3 -c '
import json, sys
print(min(json.loads(l)["attempts"] for l in sys.stdin))')
check "A: ... and the runner kept retrying (every entry tried at least twice: $attempts)" \
	test "$attempts" -ge 2
if ! sks_start "$SB" "$PORT" 2>"$TEST_TMP/sks.err"; then
	not_ok "A: SKS starts" "$(cat "$TEST_TMP/sks.err")"
	done_testing
fi
t0=$(date +%s%N)
wait_for "A: SKS back, the runner delivers all 20" 20 done_range 1 20 &&
	echo "# A: backlog of 20 delivered $((($(date +%s%N) - t0) / 1000000)) ms after SKS came back"
check "A: SKS serves all 20 keys" served 1 20

# --- B. hung -----------------------------------------------------------------
SKSPID=$(cat "$SB/sks-db.pid")
kill -STOP "$SKSPID"
t0=$(date +%s%N)
ingest_range 21 30 >"$TEST_TMP/b.rc" &
B=$!
sleep 3
kill -CONT "$SKSPID"
wait "$B"
check_eq "B: 10 ingests while SKS was stopped (SIGSTOP) for 3 s: all exit 0" \
	"$(cat "$TEST_TMP/b.rc")" ""
check "B: ... none held up by the hung SKS beyond the filters' bounds ($((($(date +%s%N) - t0) / 1000000)) ms for all)" \
	test $((($(date +%s%N) - t0) / 1000000)) -lt 30000
wait_for "B: SKS continued, all 10 delivered" 45 done_range 21 30
check "B: SKS serves them" served 21 30

# --- C. killed mid-delivery --------------------------------------------------
ingest_range 31 60 >"$TEST_TMP/c.rc" &
C=$!
sleep 0.3
kill -KILL "$SKSPID"
wait "$C"
check_eq "C: 30 ingests while SKS was SIGKILLed among them: all exit 0" \
	"$(cat "$TEST_TMP/c.rc")" ""
sleep 1
echo "# C: when SKS died: $(states 31 60)"
rm -f "$SB/sks-db.pid"
if ! sks_start "$SB" "$PORT" 2>"$TEST_TMP/sks.err"; then
	not_ok "C: SKS restarts" "$(cat "$TEST_TMP/sks.err")"
	done_testing
fi
wait_for "C: SKS restarted, all 30 delivered" 30 done_range 31 60
check "C: SKS serves every one of the 60 keys" served 1 60

check_eq "nothing pending, nothing failed" "$(pending) $(states 1 60)" "0 done=60"
check "the runner is still running, and never crashed" \
	sh -c "kill -0 $RUNNER && ! grep -Eq 'fatal|watchdog' '$TEST_TMP/runner.log'"
check "no ingest crashed" sh -c "! grep -q 'fatal signal' '$TEST_TMP/ingest.log'"
stop_daemon "$RUNNER"
sks_stop "$SB"
check_spool_verified "$SPOOL"
done_testing
