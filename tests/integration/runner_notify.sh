#!/bin/sh
# tests/integration/runner_notify.sh - the runner under a Type=notify
# manager: "pksbridge run" sends READY=1 to $NOTIFY_SOCKET once it listens
# and STOPPING=1 on SIGTERM, then exits 0; mail keeps flowing meanwhile.  systemd itself is not
# running here; a small datagram listener plays its part, as sd_notify(3)
# describes the protocol.
. "$(dirname "$0")/../lib.sh"

need_cmd python3 || done_testing
PB=${PKSBRIDGE:-$TOP/${BUILD:-build}/pksbridge}
[ -x "$PB" ] || { not_ok "no $PB (make first)"; done_testing; }
unset PKSBRIDGE_CONF PKSBRIDGE_NOW

S=$TEST_TMP/spool
C=$TEST_TMP/pb.conf
mkdir -m 700 "$S"
printf 'spool_dir: %s\nkeydb: gnupg:%s/gnupg\nlog: stderr\n' "$S" "$TEST_TMP" >"$C"
mkdir -m 700 "$TEST_TMP/gnupg"
SOCK=$TEST_TMP/notify.sock
cat >"$TEST_TMP/listen.py" <<'EOF'
import os, socket, sys, time
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
s.settimeout(0.2)
end = time.time() + 60
with open(sys.argv[2], "w") as f:
    while time.time() < end:
        try:
            d = s.recv(4096).decode()
        except socket.timeout:
            continue
        f.write(d.replace("\n", "|") + "\n"); f.flush()
        if "STOPPING=1" in d:
            break
EOF
spawn_daemon "$TEST_TMP/listen.log" python3 "$TEST_TMP/listen.py" "$SOCK" "$TEST_TMP/notes"
wait_until 10 test -S "$SOCK"
NOTIFY_SOCKET=$SOCK spawn_daemon "$TEST_TMP/run.log" "$PB" -c "$C" run
RUN=$SPAWNED_PID
show_on_failure "$TEST_TMP/run.log" "$TEST_TMP/notes"
wait_for "run sends READY=1 (with a STATUS) on \$NOTIFY_SOCKET" 15 \
	grep -q '^READY=1|STATUS=' "$TEST_TMP/notes"

# Mail keeps flowing with the runner there.
"$PB" -c "$C" ingest <"$TEST_DATA/mails/02-pks-incremental.eml" >/dev/null 2>&1
check_eq "ingest with a runner: exit 0" "$?" 0
wait_for "the entry is delivered (done)" 30 sh -c \
	"'$PB' -c '$C' queue list --all --json | grep -q '\"state\":\"done\"'"

stop_daemon "$RUN" 15
check_eq "run stops on SIGTERM within 15 s" "$?" 0
wait_for "run sends STOPPING=1 when it stops" 10 grep -q '^STOPPING=1$' "$TEST_TMP/notes"
check_grep "run logged its start and its stop" "runner stopping on signal" "$TEST_TMP/run.log"

# Without NOTIFY_SOCKET nothing is sent and nothing is said about it.
"$PB" -c "$C" run --once >"$TEST_TMP/once.log" 2>&1
check_eq "run --once without a manager: exit 0" "$?" 0
if grep -q notify "$TEST_TMP/once.log"; then
	not_ok "run --once says nothing about sd_notify" "$(cat "$TEST_TMP/once.log")"
else
	ok "run --once says nothing about sd_notify"
fi

done_testing
