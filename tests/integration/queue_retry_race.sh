#!/bin/sh
# tests/integration/queue_retry_race.sh - "queue retry" on an entry that a
# runner is delivering right now must not let a second process deliver it
# at the same time.
#
# The key database is a TCP server that accepts and never answers (a
# keyserver hung mid-request), so a "run --once" stays inside its
# delivery, holding the entry's lease, for as long as the test likes.
# Then: queue retry ID; a second "run --once"; the server counts the
# connections, so a second delivery of the same entry is seen, not
# inferred.
. "$(dirname "$0")/../lib.sh"

need_cmd python3 || done_testing
PB=${PKSBRIDGE:-$TOP/${BUILD:-build}/pksbridge}
[ -x "$PB" ] || { not_ok "no $PB (make)"; done_testing; }
unset PKSBRIDGE_CONF PKSBRIDGE_NOW

S=$TEST_TMP/spool
C=$TEST_TMP/pb.conf
mkdir -m 700 "$S"
PORT=$(free_port) || { not_ok "free_port"; done_testing; }
printf 'spool_dir: %s\nkeydb: hkp://127.0.0.1:%s\nlog: stderr\n' "$S" "$PORT" >"$C"

# hang_server PORT FILE: accept connections for ever, answer none, and
# write how many came to FILE.
cat >"$TEST_TMP/hang.py" <<'PY'
import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1])))
s.listen(16)
held, n = [], 0
while True:
    c, _ = s.accept()
    held.append(c)
    n += 1
    with open(sys.argv[2], "w") as f:
        f.write("%d\n" % n)
PY
CONNS=$TEST_TMP/conns
conns() { cat "$CONNS" 2>/dev/null || echo 0; }

# The mail goes in while nothing listens: the filter's own attempt is
# refused at once and the entry waits, deferred.
make_mail "$TEST_TMP/m1" incremental
"$PB" -c "$C" ingest <"$TEST_TMP/m1" 2>"$TEST_TMP/ingest.err"
check_eq "ingest with the key database down: exit 0" "$?" 0
ID=$("$PB" -c "$C" queue list --json | python3 -c '
import json, sys
print(json.loads(sys.stdin.readline())["id"])')
"$PB" -c "$C" queue list >"$TEST_TMP/list1"
check_grep "the entry is deferred" " deferred " "$TEST_TMP/list1"

spawn_daemon "$TEST_TMP/hang.log" python3 "$TEST_TMP/hang.py" "$PORT" "$CONNS"
wait_for "the hung key database listens" 10 port_listening "$PORT"

# Due now, and one runner takes it: it leases the entry and hangs in the
# POST until the test stops it.
"$PB" -c "$C" queue retry "$ID" 2>"$TEST_TMP/retry1.err"
check_grep "queue retry of the deferred entry requeues it" \
	"^Requeued: 1 entry" "$TEST_TMP/retry1.err"
spawn_daemon "$TEST_TMP/run1.log" "$PB" -c "$C" run --once
RUN1=$SPAWNED_PID
delivering() { "$PB" -c "$C" queue show "$ID" | grep -q "being delivered by pid $RUN1"; }
wait_for "run --once (pid $RUN1) is delivering the entry" 10 delivering
wait_for "its POST reached the key database" 10 sh -c "[ \"\$(cat '$CONNS' 2>/dev/null)\" = 1 ]"

# The race: retry while it is being delivered.
"$PB" -c "$C" queue retry "$ID" 2>"$TEST_TMP/retry2.err"
check_eq "queue retry of the entry being delivered: exit 0" "$?" 0
check_grep "queue retry refuses it: it is being delivered, by that pid" \
	"$ID: not changed: being delivered by pid $RUN1" "$TEST_TMP/retry2.err"
check_grep "queue retry reports nothing requeued" \
	"^Requeued: 0 entries" "$TEST_TMP/retry2.err"
check "the first runner still holds the lease" delivering

# A second runner must leave the entry alone while the first lives.
"$PB" -c "$C" run --once 2>"$TEST_TMP/run2.err"
check_eq "a second run --once: exit 0" "$?" 0
check_eq "the second runner did not deliver it too (connections to the key database)" \
	"$(conns)" 1
check "the first runner still holds the lease after the second ran" delivering

# The first runner is killed mid-delivery (it is stuck in its POST and
# would only see a SIGTERM after it): its lease dies with it, and the
# entry goes to whoever runs next.
kill -KILL "$RUN1"
wait "$RUN1" 2>/dev/null
"$PB" -c "$C" queue retry "$ID" 2>"$TEST_TMP/retry3.err"
check_grep "once the runner is gone, queue retry requeues the entry" \
	"^Requeued: 1 entry" "$TEST_TMP/retry3.err"
show_on_failure "$TEST_TMP/run1.log" "$TEST_TMP/run2.err" "$TEST_TMP/retry2.err"
done_testing
