# crash_runner.sh - nothing that ingest acknowledged is lost when SIGKILL
# hits the ingest filters AND the queue runner at random moments, with a
# real key database (a throwaway SKS over hkp://, or with
# CRASH_KEYDB=gnupg a GnuPG keyring).
#
# CRASH_MAILS mails (default 80), each with a key no other mail of the run
# carries (tests/tools/pgpgen.py), a Debian key of at most 32 KB (used in
# turn, for real sizes) and a Message-ID of its own, are ingested
# CRASH_PAR at a time (default 8); a third of
# the ingests are SIGKILLed after 0-60 ms.  Meanwhile the runner runs as
# a daemon ("pksbridge run", restarted at once by a keeper as systemd
# would) and is SIGKILLed every 0.02-0.3 s.  Then, as an MTA would, every
# mail whose ingest did not exit 0 is handed over again (still under
# runner kills).  Then recovery and a run: the killing stops and
# "run --once" drains the queue.
#
# Checked: ingest exits only 0, 75 or by the signal, and none crashed;
# the runner exits only by this suite's SIGKILL or the final SIGTERM, and
# its watchdog never fired; the entry every acknowledged ingest logged is
# done (a retry of a mail that an earlier, killed ingest had committed
# may be a duplicate); every mail whose ingest exited 0 has its own key
# in the key database (and after the MTA's retries, every mail); no
# entry is left pending (ready, deferred, held),
# none failed; db_verify finds no damage; no gpg or gpg-agent is left
# behind by the killed processes.  Counts are reported.  `make test-crash`
# runs this with 500 mails.
. "$(dirname "$0")/../lib.sh"
. "$TOP/tests/lib/sks.sh"
need_cmd gpg db5.3_verify python3 curl || done_testing

PB=$TOP/${BUILD:-build}/pksbridge
KEYSPLIT=$TOP/${BUILD:-build}/tests/tools/keysplit
N=${CRASH_MAILS:-80}
PAR=${CRASH_PAR:-8}
KEYDB=${CRASH_KEYDB:-hkp}
SPOOL=$TEST_TMP/spool
RING=$TEST_TMP/keyring
CONF=$TEST_TMP/pb.conf
mkdir -m 700 "$SPOOL" "$TEST_TMP/keys" "$TEST_TMP/ballast" "$TEST_TMP/mails" \
	"$TEST_TMP/rc" "$TEST_TMP/rc2" "$TEST_TMP/out" "$TEST_TMP/out2" "$TEST_TMP/runner"
show_on_failure "$TEST_TMP/ingest.log" "$TEST_TMP/runner.log" \
	"$TEST_TMP/drain.log" "$TEST_TMP/sks/sks-db.log"
t_start=$(date +%s)

case $KEYDB in
hkp)
	need_cmd sks || done_testing
	PORT=$(free_port) || { not_ok "no free port"; done_testing; }
	if ! sks_start "$TEST_TMP/sks" "$PORT" 2>"$TEST_TMP/sks.err"; then
		not_ok "SKS starts on port $PORT" "$(cat "$TEST_TMP/sks.err")"
		done_testing
	fi
	KEYDB_LINE="keydb: hkp://127.0.0.1:$PORT"
	;;
gnupg)
	KEYDB_LINE="keydb: gnupg:$RING"
	;;
*)
	not_ok "CRASH_KEYDB must be hkp or gnupg, not $KEYDB"
	done_testing
	;;
esac
cat >"$CONF" <<EOF
spool_dir: $SPOOL
$KEYDB_LINE
retry_schedule: 1s
log: stderr
EOF

"$KEYSPLIT" /usr/share/keyrings/debian-keyring.gpg "$TEST_TMP/ballast" "$N" 0 32768 \
	>"$TEST_TMP/ballast.txt"
unique_keys "$N" "$TEST_TMP/keys" crash-runner >"$TEST_TMP/keys.txt"
check_eq "a key of its own for each of the $N mails" \
	"$(cut -d' ' -f1 "$TEST_TMP/keys.txt" | sort -u | wc -l | tr -d ' ')" "$N"
pks_key_mails "$TEST_TMP/keys.txt" "$TEST_TMP/mails" crash-runner "$TEST_TMP/ballast.txt"

# The runner under a keeper that restarts it the moment it dies (as
# systemd's Restart= would), started through spawn_daemon so that lib.sh
# kills the lot at exit whatever happens.
cat >"$TEST_TMP/runner/keeper" <<'EOF'
#!/bin/sh
# keeper PB CONF DIR - run "PB -c CONF run" again whenever it dies, until
# DIR/stop exists; DIR/pid is the current runner, DIR/starts counts,
# DIR/exits has "PID STATUS" per runner.
while [ ! -e "$3/stop" ]; do
	"$1" -c "$2" run &
	p=$!
	echo $p >"$3/pid"
	echo start >>"$3/starts"
	wait $p
	echo "$p $?" >>"$3/exits"
done
EOF
start_keeper() {
	rm -f "$TEST_TMP/runner/stop"
	spawn_daemon "$TEST_TMP/runner.log" sh "$TEST_TMP/runner/keeper" "$PB" \
		"$CONF" "$TEST_TMP/runner"
	KEEPER=$SPAWNED_PID
}
start_keeper
wait_for "the runner starts (its wakeup FIFO appears)" 10 test -p "$SPOOL/wakeup"

# term_runner - SIGTERM the current runner (again: the keeper may just
# have started a new one); true once the keeper has ended.
term_runner() {
	kill -TERM "$(cat "$TEST_TMP/runner/pid")" 2>/dev/null
	_t_gone "$KEEPER"
}
# no_ours_running - no pksbridge process of this test runs any more.
no_ours_running() {
	! _t_strays | while read -r _op; do
		tr '\0' ' ' <"/proc/$_op/cmdline" 2>/dev/null
		echo
	done | grep -q "pksbridge -c $CONF"
}
# A SIGKILL that lands while its victim holds one of the Berkeley DB
# environment's mutexes used to leave the spool wedged until an operator
# stopped the runner and ran db5.3_recover; now it heals itself
# (pksbridge(8) SPOOL RECOVERY).  Should it still end wedged, that is a
# failure: counted, and the old recovery done so that the suite can go
# on and report the rest.
LOGPOS=0
recoveries=0
wedged() {
	spool_wedged "$TEST_TMP/ingest.log" "$LOGPOS"
}
operator_recovery() {
	recoveries=$((recoveries + 1))
	not_ok "the spool healed itself (needed db5.3_recover after mail $((i - 1)))" \
		"$(tail -c +$((LOGPOS + 1)) "$TEST_TMP/ingest.log" | grep -E 'watchdog|another process' | head -n 3)"
	: >"$TEST_TMP/killer.pause"
	touch "$TEST_TMP/runner/stop"
	wait_until 15 term_runner || stop_daemon "$KEEPER"
	wait_until 90 no_ours_running
	timeout -s KILL 120 db5.3_recover -h "$SPOOL" >>"$TEST_TMP/recover.log" 2>&1
	LOGPOS=$(wc -c <"$TEST_TMP/ingest.log")
	start_keeper
	rm -f "$TEST_TMP/killer.pause"
}
: >"$TEST_TMP/kills"

rnd() {
	od -An -N2 -tu2 /dev/urandom | tr -d ' '
}

# killer - SIGKILL the current runner every 0.02-0.3 s until
# TEST_TMP/killer.stop exists (or this script is gone).
killer() {
	while [ ! -e "$TEST_TMP/killer.stop" ] && kill -0 $$ 2>/dev/null; do
		sleep "$(printf "0.%03d" $(($(rnd) % 280 + 20)))"
		[ -e "$TEST_TMP/killer.pause" ] && continue
		_kp=$(cat "$TEST_TMP/runner/pid" 2>/dev/null)
		[ -n "$_kp" ] && kill -KILL "$_kp" 2>/dev/null &&
			echo "$_kp" >>"$TEST_TMP/runner/killed" &&
			date +%s%3N >>"$TEST_TMP/kills"
	done
}
killer &
KILLER=$!

# ingest_one N RCDIR KILL OUTDIR - one ingest of mail N, its status into
# RCDIR/N and its output (which names its queue id) into OUTDIR/N; with
# KILL=1, SIGKILLed with probability 1/3 after 0-60 ms.  A hang past the
# filter's own watchdog (60 s once the mail is read) is a failure
# (status 124).
ingest_one() {
	timeout 90 "$PB" -c "$CONF" ingest <"$TEST_TMP/mails/$1" \
		>"$4/$1" 2>&1 &
	_pid=$!
	if [ "$3" = 1 ] && [ $(($(rnd) % 3)) -eq 0 ]; then
		# A third at once (before the commit), the rest within 60 ms.
		[ $(($(rnd) % 3)) -eq 0 ] ||
			sleep "$(printf "0.%03d" $(($(rnd) % 60)))"
		# The whole process group (timeout(1) leads one): the
		# ingest itself, as an MTA's time limit kills it.
		if kill -KILL "-$_pid" 2>/dev/null || kill -KILL "$_pid" 2>/dev/null; then
			date +%s%3N >>"$TEST_TMP/kills"
		fi
	fi
	wait "$_pid"
	echo $? >"$2/$1"
}

t0=$(date +%s)
i=1
while [ $i -le "$N" ]; do
	j=0
	pids=
	b0=$i
	while [ $j -lt "$PAR" ] && [ $i -le "$N" ]; do
		ingest_one $i "$TEST_TMP/rc" 1 "$TEST_TMP/out" &
		pids="$pids $!"
		i=$((i + 1))
		j=$((j + 1))
	done
	# shellcheck disable=SC2086
	wait $pids
	while [ "$b0" -lt "$i" ]; do
		cat "$TEST_TMP/out/$b0" >>"$TEST_TMP/ingest.log"
		b0=$((b0 + 1))
	done
	wedged && operator_recovery
done
t_ingest=$(($(date +%s) - t0))

tally_rcs "$TEST_TMP/rc"
check_eq "ingest exits only 0, 75 or killed" "$bad" ""
# A crash inside the filter exits 0 or 75 too (filter.c), but says so.
check "no ingest crashed (no \"fatal signal\" in their output)" \
	sh -c "! grep -E '$CRASH_LINES' '$TEST_TMP/ingest.log'"
# One blocked on a mutex that a killed process held gives up after 60 s
# with 75 (the MTA retries): counted, not a failure.
watchdogs=$(grep -c 'watchdog expired' "$TEST_TMP/ingest.log")
check_eq "every mail was tried once" "$((acked + killed + tempfail))" "$N"

touch "$TEST_TMP/killer.stop"
wait "$KILLER"
touch "$TEST_TMP/runner/stop"
if wait_until 10 term_runner; then
	ok "the keeper and the last runner stop on SIGTERM"
else
	_rp=$(cat "$TEST_TMP/runner/pid")
	not_ok "the keeper and the last runner stop on SIGTERM within 10 s" \
		"runner $_rp: $(tr '\0' ' ' <"/proc/$_rp/cmdline" 2>/dev/null)" \
		"state: $(grep State "/proc/$_rp/status" 2>/dev/null)" \
		"wchan: $(cat "/proc/$_rp/wchan" 2>/dev/null)"
	command -v gdb >/dev/null && gdb -p "$_rp" -batch -ex bt 2>/dev/null |
		grep '^#' | sed 's/^/#   /'
	stop_daemon "$KEEPER"
fi
# The last runner may have been killed inside the environment too.
probe() {
	timeout -s KILL 30 "$PB" -c "$CONF" queue stats >/dev/null 2>&1
}
# From the last kill (of the runner or of an ingest) until a command
# works: the spool heals itself within 10 s.
last=$(sort -n "$TEST_TMP/kills" | tail -n 1)
serve=$(serve_ms "$CONF" "${last:-$(date +%s%3N)}")
check "the spool serves again ${serve} ms after the last kill (at most 10 s)" \
	test "$serve" -le 10000
if wedged || ! probe; then
	operator_recovery
	touch "$TEST_TMP/runner/stop"
	wait_until 15 term_runner || stop_daemon "$KEEPER"
fi
check_eq "operator recoveries (db5.3_recover) needed" "$recoveries" 0
heals=$(cat "$TEST_TMP/ingest.log" "$TEST_TMP/runner.log" | grep -c ': recovered: ')
kills=$(wc -l <"$TEST_TMP/kills" | tr -d ' ')

# The MTA retries what was not acknowledged, until it is.
retried=0 still=
for f in "$TEST_TMP"/rc/*; do
	n=$(basename "$f")
	[ "$(cat "$f")" = 0 ] && continue
	retried=$((retried + 1))
	for try in 1 2 3; do
		ingest_one "$n" "$TEST_TMP/rc2" 0 "$TEST_TMP/out2"
		cat "$TEST_TMP/out2/$n" >>"$TEST_TMP/ingest.log"
		[ "$(cat "$TEST_TMP/rc2/$n")" = 0 ] && break
	done
	[ "$(cat "$TEST_TMP/rc2/$n")" = 0 ] || still="$still $n"
done
check_eq "the MTA's retries of killed and deferred mails are acknowledged" "$still" ""

rkills=$(wc -l <"$TEST_TMP/runner/killed" 2>/dev/null || echo 0)
rstarts=$(wc -l <"$TEST_TMP/runner/starts" 2>/dev/null || echo 0)
# 143: SIGTERM before the runner had set up its handler (just restarted).
# Any other end (a segfault, an abort, a kill this suite did not send,
# the watchdog's 75) is a crash.  Berkeley DB's "fatal region error",
# quoted in a warning when a recovery invalidates the runner's handles,
# is not: CRASH_LINES matches only what a real crash writes.
check_eq "the runner exited only by this suite's SIGKILL, or on SIGTERM" \
	"$(unsent_kills "$TEST_TMP/runner/exits" "$TEST_TMP/runner/killed")" ""
check "the runner never crashed nor hit its watchdog" \
	sh -c "! grep -E '$CRASH_LINES' '$TEST_TMP/runner.log'"
check "the runner was killed at least once" test "$rkills" -ge 1

# Recovery and a run: the first open after the last kill recovers the
# environment; run --once until nothing is pending (retry_schedule 1s).
drained() {
	"$PB" -c "$CONF" run --once >>"$TEST_TMP/drain.log" 2>&1 || return 1
	[ -z "$("$PB" -c "$CONF" queue list --json)" ]
}
t0=$(date +%s)
wait_for "recovery and run --once deliver everything left" $((30 + N / 10)) drained
t_drain=$(($(date +%s) - t0))

# in_keydb FPR - the key database has the key now.
if [ "$KEYDB" = hkp ]; then
	in_keydb() {
		sks_wait_key "$PORT" "$1" 0
	}
else
	gpg --homedir "$RING" --with-colons --list-keys 2>/dev/null |
		awk -F: '$1 == "pub" { w = 1 } $1 == "fpr" && w { print $10; w = 0 }' \
			>"$TEST_TMP/have"
	in_keydb() {
		grep -qx "$1" "$TEST_TMP/have"
	}
fi
# By queue id: the entry each acknowledged ingest logged was delivered.
"$PB" -c "$CONF" queue list --all --json >"$TEST_TMP/all.json"
ids_re='s/^.*: \([0-9A-F]\{14\}\): from=<.*, status=.*$/\1/p'
acked_ids "$TEST_TMP/rc" "$TEST_TMP/out" "$ids_re" >"$TEST_TMP/acked.ids"
acked_ids "$TEST_TMP/rc2" "$TEST_TMP/out2" "$ids_re" >"$TEST_TMP/acked2.ids"
check_eq "every acknowledged ingest logged its entry" \
	"$(cat "$TEST_TMP/acked.ids" "$TEST_TMP/acked2.ids" | wc -l | tr -d ' ')" \
	"$((acked + retried - $(echo $still | wc -w)))"
check_eq "every acknowledged ingest's entry is done" \
	"$(lost_ids "$TEST_TMP/acked.ids" "$TEST_TMP/all.json" done | head -n 20)" ""
check_eq "every acknowledged retry's entry is done, or a duplicate of one" \
	"$(lost_ids "$TEST_TMP/acked2.ids" "$TEST_TMP/all.json" done,duplicate | head -n 20)" ""
# By key.
lost_acked= lost_any=
for f in "$TEST_TMP"/rc/*; do
	n=$(basename "$f")
	in_keydb "$(cat "$TEST_TMP/mails/$n.fpr")" && continue
	lost_any="$lost_any $n"
	[ "$(cat "$f")" = 0 ] && lost_acked="$lost_acked $n"
done
check_eq "every mail whose ingest exited 0 has its key in the key database ($KEYDB)" \
	"$lost_acked" ""
check_eq "after the MTA's retries, every mail's key is there" "$lost_any" ""

python3 - "$TEST_TMP/all.json" >"$TEST_TMP/states" <<'EOF'
import collections, json, sys
c = collections.Counter(json.loads(l)["state"] for l in open(sys.argv[1]))
print(" ".join("%s=%d" % kv for kv in sorted(c.items())))
EOF
states=$(cat "$TEST_TMP/states")
"$PB" -c "$CONF" queue list --json >"$TEST_TMP/pending"
check_eq "no entry left pending (ready, deferred, held)" \
	"$(wc -l <"$TEST_TMP/pending" | tr -d ' ')" 0
check "no entry failed or quarantined ($states)" \
	sh -c "! grep -Eq 'failed|quarantined' '$TEST_TMP/states'"
check_spool_verified "$SPOOL"
# leftovers - processes of this test other than SKS (which still runs):
# a gpg or gpg-agent orphaned by a killed ingest or runner would show.
leftovers() {
	_t_strays | while read -r _lp; do
		_lc=$(tr '\0' ' ' <"/proc/$_lp/cmdline" 2>/dev/null) || continue
		case $_lc in
		"sks "* | "") ;;
		*) echo "$_lp: $_lc" ;;
		esac
	done
}
no_leftovers() {
	[ -z "$(leftovers)" ]
}
wait_until 5 no_leftovers
check_eq "no process (gpg, gpg-agent, pksbridge) left behind" "$(leftovers)" ""
echo "# $N mails, $PAR at a time, keydb $KEYDB: $acked acknowledged at once," \
	"$killed ingests killed, $tempfail deferred (75; $watchdogs by the watchdog)," \
	"$retried handed over again;" \
	"runner killed $rkills times, started $rstarts times"
echo "# $kills SIGKILLs; healed itself $heals times; operator recoveries:" \
	"$recoveries; from the last kill until serving: ${serve} ms" 
echo "# entries: $states;" \
	"ingest phase ${t_ingest}s, drain ${t_drain}s," \
	"total $(($(date +%s) - t_start))s"
done_testing
