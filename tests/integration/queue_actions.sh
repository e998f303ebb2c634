#!/bin/sh
# tests/integration/queue_actions.sh - the operator actions of "pksbridge
# queue" on the fixture queue (tests/data/queue/fixture.spec): retry, hold,
# release, delete by id, by "-" (ids on stdin, as a listing prints them)
# and by --all plus filters; flush (due now, and the runner woken through
# the spool's FIFO); purge by age; the counts on stderr and the log line
# per entry; usage errors that say what to do.
. "$(dirname "$0")/../lib.sh"

need_cmd python3 || done_testing
QF=$TOP/${BUILD:-build}/tests/tools/qfixture
PB=${PKSBRIDGE:-$TOP/${BUILD:-build}/pksbridge}
for _f in "$QF" "$PB"; do
	[ -x "$_f" ] || { not_ok "no $_f (make test-bins)"; done_testing; }
done
PKSBRIDGE_NOW=1700000000
TZ=UTC
export PKSBRIDGE_NOW TZ
unset PKSBRIDGE_CONF
_n=0

# fresh - a new spool holding the fixture queue: sets S, C, and id N.
fresh() {
	_n=$((_n + 1))
	S=$TEST_TMP/spool$_n
	C=$TEST_TMP/pb$_n.conf
	mkdir -m 700 "$S"
	printf 'spool_dir: %s\nlog: stderr\n' "$S" >"$C"
	"$QF" "$S" <"$TEST_DATA/queue/fixture.spec" >"$TEST_TMP/ids" ||
		not_ok "qfixture"
}
id() { sed -n "${1}p" "$TEST_TMP/ids"; }
# state ID - the entry's state ("gone" if there is none).
state() {
	"$PB" -c "$C" queue list --all --json | python3 -c '
import json, sys
for l in sys.stdin:
    e = json.loads(l)
    if e["id"] == sys.argv[1]:
        print(e["state"]); break
else:
    print("gone")' "$1"
}
# field ID NAME - one JSON field of the entry.
field() {
	"$PB" -c "$C" queue list --all --json | python3 -c '
import json, sys
for l in sys.stdin:
    e = json.loads(l)
    if e["id"] == sys.argv[1]:
        print(e[sys.argv[2]])' "$1" "$2"
}
count() { "$PB" -c "$C" queue list --json "$@" | wc -l; }
# run ARGS... - pksbridge -c C ARGS; stdout in OUT, stderr in ERR, rc in RC.
run() {
	"$PB" -c "$C" "$@" >"$TEST_TMP/out" 2>"$TEST_TMP/err" </dev/null
	RC=$?
}
ERR=$TEST_TMP/err

fresh
# Spec line 7 is the deferred outbound entry for b@keys.b.example.
D=$(id 7)
run queue hold "$D"
check_eq "hold ID: exit 0" "$RC" 0
check_eq "hold ID: the entry is held" "$(state "$D")" held
check_grep "hold ID: count on stderr, as postsuper" "^Held: 1 entry$" "$ERR"
check_grep "hold ID: a log line starting with the queue id (log: stderr)" \
	"^pksbridge/queue\[[0-9]+\]: $D: action=hold, operator=[^,]+, old_state=deferred, state=held$" "$ERR"
run queue hold "$D"
check_grep "hold of a held entry: says why nothing changed" \
	"$D: not changed: held, not pending" "$ERR"
check_grep "hold of a held entry: Held: 0 entries" "^Held: 0 entries$" "$ERR"

# Ids on stdin the way a listing prints them ("ID!" for held ones).
"$PB" -c "$C" queue list --state held | grep -E '^[0-9A-F]{14}!' |
	cut -c1-15 >"$TEST_TMP/held.ids"
check_eq "three held entries listed" "$(wc -l <"$TEST_TMP/held.ids")" 3
"$PB" -c "$C" queue release - <"$TEST_TMP/held.ids" >/dev/null 2>"$ERR"
check_grep "release - (ids from stdin, with the listing's '!'): all three" \
	"^Released: 3 entries$" "$ERR"
check_eq "released: back to deferred (it was held from deferred)" \
	"$(state "$D")" deferred
check_eq "nothing held any more" "$(count --state held)" 0

# retry --all + filters: only that peer's deferred and failed entries.
run queue retry --all --peer @keys.b.example
check_grep "retry --all --peer: Requeued: 2 entries (deferred + released)" \
	"^Requeued: 2 entries$" "$ERR"
check_eq "retry: the entry is ready" "$(state "$D")" ready
check_eq "retry: due now" "$(field "$D" next_attempt)" "$PKSBRIDGE_NOW"
check_eq "retry --peer left the other peer's failed entry alone" \
	"$(state "$(id 2)")" failed
check_eq "retry --peer left inbound entries alone" "$(state "$(id 6)")" deferred
check_grep "retry without a runner: says how to start one" \
	"no runner is running for .*: the entries are due now.*pksbridge run --once" "$ERR"
run queue retry ALL --state failed
check_eq "retry ALL (postsuper's spelling) --state failed: the failed entry" \
	"$(state "$(id 2)")" ready

# Usage errors say what to do, and exit 64.
run queue retry --peer a@a.example
check_eq "filters without --all: exit 64" "$RC" 64
check_grep "filters without --all: says so" "only together with --all" "$ERR"
run queue hold "$D" --all
check_eq "IDs and --all together: exit 64" "$RC" 64
run queue delete
check_eq "delete with nothing to delete: exit 64" "$RC" 64
check_grep "delete with nothing: names the ways to say which" \
	"Give IDs, \"-\" \(ids on stdin\) or --all" "$ERR"
run queue list --state bogus
check_eq "list --state bogus: exit 64" "$RC" 64
check_grep "list --state bogus: lists the states" \
	"--state wants .*ready, deferred, held" "$ERR"
run queue frobnicate
check_eq "unknown queue command: exit 64" "$RC" 64
check_grep "unknown queue command: lists the commands" "one of list, show" "$ERR"
run queue delete 0123456789ABCD
check_eq "delete of an unknown id: exit 65" "$RC" 65
check_grep "delete of an unknown id: says so" "0123456789ABCD: no such queue entry" "$ERR"
run queue delete 0123456789ABCDEF
check_grep "an id longer than an id is not cut down to one" \
	"0123456789ABCDEF: no such queue entry" "$ERR"

# delete --all removes finished entries only, unless --state names others.
fresh
_finished=$(count --all --state finished)
run queue delete --all
check_grep "delete --all: every finished entry ($_finished)" \
	"^Deleted: $_finished entries$" "$ERR"
check_eq "delete --all left the pending ones" "$(count --all)" 6
run queue delete --all --state held --direction outbound
check_grep "delete --all --state held --direction outbound: one" \
	"^Deleted: 1 entry$" "$ERR"
check_grep "delete: logged as removed" \
	"^pksbridge/queue\[[0-9]+\]: $(id 9): action=delete, operator=[^,]+, old_state=held, state=removed$" "$ERR"
check_eq "the inbound held entry stays" "$(state "$(id 4)")" held

# flush: every deferred entry due now; held ones stay; the runner woken.
fresh
run queue flush
check_grep "flush: Flushed: 2 entries (both deferred)" "^Flushed: 2 entries$" "$ERR"
check_eq "flush: the deferred inbound entry is due now" \
	"$(field "$(id 6)" next_attempt)" "$PKSBRIDGE_NOW"
check_eq "flush: still deferred (the runner decides)" "$(state "$(id 6)")" deferred
check_eq "flush: held entries stay held" "$(state "$(id 4)")" held
check_grep "flush without a runner: says so" "no runner is running" "$ERR"
run queue flush --state deferred
check_eq "flush takes no --state: exit 64" "$RC" 64
# flush is for deferred entries only: a ready one waiting for its batch
# window keeps its time (issue 21: it used to be flushed too).
_n=$((_n + 1))
S=$TEST_TMP/spool$_n
C=$TEST_TMP/pb$_n.conf
mkdir -m 700 "$S"
printf 'spool_dir: %s\nlog: stderr\n' "$S" >"$C"
printf '%s\n' \
	"outbound|ready|local|a@a.example|1699999990|1699999990|0|1700000025|-|900|-|-|A76F4AAEA3C2F24D7DF35167900AE6306CA91734|-" \
	"outbound|deferred|local|b@b.example|1699990000|1699999400|2|1700003000|-|900|451 later|-|A76F4AAEA3C2F24D7DF35167900AE6306CA91734|-" \
	"reply|deferred|local|alice@client.test|1699999000|1699999500|1|1700000600|-|1500|451 later|-|-|-" \
	| "$QF" "$S" >"$TEST_TMP/ids"
run queue flush
check_grep "flush: only the two deferred entries" "^Flushed: 2 entries$" "$ERR"
check_eq "flush: the ready entry keeps its batch window" \
	"$(field "$(id 1)" next_attempt)" 1700000025
check_eq "flush: the deferred ones are due now" \
	"$(field "$(id 2)" next_attempt) $(field "$(id 3)" next_attempt)" \
	"$PKSBRIDGE_NOW $PKSBRIDGE_NOW"
run queue flush --help
check_eq "flush --help: exit 0" "$RC" 0
check "flush --help lists only what flush accepts (no --state, no --since)" \
	sh -c "grep -q -- '--direction' '$TEST_TMP/out' && grep -q -- '--peer' '$TEST_TMP/out' && ! grep -q -e '--state' -e '--since' '$TEST_TMP/out'"
# --direction reply: what the Dir column calls reply.
check_eq "list --direction reply: the reply only" \
	"$("$PB" -c "$C" queue list --json --direction reply | python3 -c 'import json,sys; print(" ".join(json.loads(l)["peer"] for l in sys.stdin))')" \
	"alice@client.test"
check_eq "list --direction outbound: sync mail and replies" \
	"$(count --direction outbound)" 3
# The listing piped into an action: header, footer and continuation
# lines are not ids.
"$PB" -c "$C" queue list | "$PB" -c "$C" queue hold - >"$TEST_TMP/out" 2>"$TEST_TMP/err"
check_eq "queue list | queue hold -: exit 0" "$?" 0
check_grep "... every listed entry held" "^Held: 3 entries$" "$ERR"
printf 'NOSUCHID\n' | "$PB" -c "$C" queue hold - >"$TEST_TMP/out" 2>"$TEST_TMP/err"
check_eq "... while an id that is not there still fails (65)" "$?" 65

# A stand-in runner: the reading end of the spool's wakeup FIFO.
mkfifo -m 600 "$S/wakeup"
cat >"$TEST_TMP/fifo.py" <<'EOF'
import os, select, sys
fd = os.open(sys.argv[1], os.O_RDONLY | os.O_NONBLOCK)
open(sys.argv[2], "w").write("listening\n")
r, _, _ = select.select([fd], [], [], 20)
open(sys.argv[2], "a").write("woken\n" if r and os.read(fd, 16) else "timeout\n")
EOF
spawn_daemon "$TEST_TMP/fifo.log" python3 "$TEST_TMP/fifo.py" "$S/wakeup" "$TEST_TMP/fifo.state"
wait_until 10 grep -q listening "$TEST_TMP/fifo.state"
run queue flush
check_eq "flush with nothing deferred: exit 0" "$RC" 0
check_grep "flush with a runner: Flushed: 0 entries" "^Flushed: 0 entries$" "$ERR"
wait_for "flush wakes the runner even with nothing to reschedule (postqueue -f)" 10 \
	grep -q woken "$TEST_TMP/fifo.state"
if grep -q "no runner" "$ERR"; then
	not_ok "flush with a runner listening does not complain"
else
	ok "flush with a runner listening does not complain"
fi

# purge: finished entries last changed more than DURATION ago.
fresh
_old=$("$PB" -c "$C" queue list --all --json --state finished | python3 -c '
import json, sys
print(sum(1 for l in sys.stdin if json.loads(l)["updated"] < 1700000000 - 86400))')
run queue purge 1d --dry-run
check_grep "purge 1d --dry-run: counts ($_old)" "^Would delete: $_old entries$" "$ERR"
check_eq "purge --dry-run deletes nothing" "$(count --all)" 14
run queue purge 1d
check_grep "purge 1d: Deleted: $_old entries" "^Deleted: $_old entries$" "$ERR"
check_eq "purge 1d: the rest is there" "$(count --all)" $((14 - _old))
check_eq "purge kept the failed entry? no: it finished 4 days ago" \
	"$(state "$(id 2)")" gone
check_eq "purge kept the recent done entry (1d 3m ago? no: 23h58m)" \
	"$(state "$(id 5)")" done
check_eq "purge never touches pending entries, however old" \
	"$(state "$(id 4)")" held
run queue purge 1d --state held
check_eq "purge --state held: exit 64" "$RC" 64
check_grep "purge --state held: says to use delete" "use \"queue delete\"" "$ERR"
run queue purge
check_eq "purge without a DURATION: exit 64" "$RC" 64
run queue purge soon
check_eq "purge with a bad DURATION: exit 64" "$RC" 64

done_testing
