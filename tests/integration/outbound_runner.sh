#!/bin/sh
# tests/integration/outbound_runner.sh - a runner stopped mid-send loses
# nothing.  Real parts: a throwaway SKS whose sendmail_cmd is "pksbridge
# -c CONF sendmail -t -oi", two PKS peers played by one smtpsink that
# hangs after the message data (dot-delay: the mail is only stored if the
# client is still there when it answers), "pksbridge run" as a daemon.
#
#   1. SIGKILL to the runner's whole process group (a crash, or systemd
#      killing the unit) while both peers hang in DATA: the entries stay
#      queued, nothing was stored; a new runner claims them again (the
#      dead processes' leases do not hold it up).
#   2. SIGTERM to that runner while both hang in DATA: it exits within
#      2 s with status 0, takes its per-peer children with it, and the
#      entries stay queued.
#   3. A runner started once the peers accept again delivers each entry
#      exactly once.
#   4. SIGKILL to the runner alone (its per-peer children live on, still
#      in DATA) and a new runner started at once: the orphans finish their
#      sends, the new runner sends nothing twice and does not spin on the
#      entries they hold.
#   5. The environment recovered (db5.3_recover, as DB_REGISTER does after
#      a process died inside Berkeley DB) while two sends are in flight:
#      the runner opens it again and goes on delivering, the in-flight
#      mails are recorded done (their leases survived: the claim is
#      synced), and nothing is sent twice.
. "$(dirname "$0")/../lib.sh"
. "$TOP/tests/lib/sks.sh"
. "$TOP/tests/lib/sks_it.sh"
. "$TOP/tests/lib/smtpsink.sh"
. "$TOP/tests/lib/outbound_it.sh"

ob_need

P1=pgp-public-keys@peer1.example
P2=pgp-public-keys@peer2.example
KEYS=$TEST_DATA/keys
ALICE=$(awk '$1 == "alice" { print $2 }' "$KEYS/fingerprints.txt")
BOB=$(awk '$1 == "bob" { print $2 }' "$KEYS/fingerprints.txt")
SINK=$TEST_TMP/sink
S=$TEST_TMP/sks
C=$TEST_TMP/pb.conf
LOG=$TEST_TMP/runner.log
show_on_failure "$LOG" "$S/sks-db.log" "$TEST_TMP/queue.log" \
	"$TEST_TMP/runner2.log"

smtpsink_start "$SINK" || done_testing
smtpsink_script "$SINK" "dot-delay 300"
PORT=$(free_port) || { not_ok "no free port"; done_testing; }
ob_conf "$C" "$TEST_TMP/spool" "smtp_relay: 127.0.0.1:$SMTPSINK_PORT" \
	"batch_window: 2s" "retry_schedule: 1s"
if ! ob_sks_start "$S" "$PORT" "$C" "$P1" "$P2" 2>"$TEST_TMP/sks.err"; then
	not_ok "SKS starts on port $PORT" "$(cat "$TEST_TMP/sks.err")"
	done_testing
fi
ok "SKS answers on port $PORT, sendmail_cmd: pksbridge sendmail"

# hanging N - N sends are in the sink's dot-delay: their data is complete
# (the sink closed its temporary file) and unanswered.
hanging() {
	_hg=0
	for _hf in "$SINK"/tmp.*; do
		[ -f "$_hf" ] && grep -q -- '-----END PGP PUBLIC KEY BLOCK-----' "$_hf" &&
			_hg=$((_hg + 1))
	done
	[ "$_hg" -eq "$1" ]
}
# pending_for FPR - how many outbound entries for FPR are still queued.
pending_for() {
	"$PKSBRIDGE" -c "$C" queue list --json >"$TEST_TMP/pending.json" \
		2>>"$TEST_TMP/queue.log" &&
		$PBJSON count "$TEST_TMP/pending.json" direction=outbound keys="$1"
}
# runner_procs [CONF] - pids of live "pksbridge -c CONF run" processes (the
# runner and its per-peer children); CONF defaults to $C.
runner_procs() {
	for _rp in /proc/[0-9]*; do
		[ "$(tr '\0' ' ' 2>/dev/null <"$_rp/cmdline")" = "$PKSBRIDGE -c ${1:-$C} run " ] ||
			continue
		_t_gone "${_rp#/proc/}" || echo "${_rp#/proc/}"
	done
}
# cpu_ticks PID - CPU time (clock ticks) of PID and its reaped children.
cpu_ticks() {
	sed 's/.*) //' "/proc/$1/stat" | awk '{ print $12 + $13 + $14 + $15 }'
}
# both_have FPR - both peers have been sent FPR.
both_have() {
	peer_has "$SINK" "$P1" "$1" && peer_has "$SINK" "$P2" "$1"
}
# mails_with PEER FPR - how many mails to PEER hold FPR.
mails_with() {
	peer_msgs "$SINK" "$1" | while read -r _mw; do
		mail_fprs "$_mw" | grep -qx "$2" && echo "$_mw"
	done | grep -c .
}

# ---------------------------------------------------------------------------
# 1. SIGKILL the whole runner mid-send
# ---------------------------------------------------------------------------
ob_runner "$C" "$LOG"
R=$RUNNER_PID
check "POST alice to SKS" sks_post "$PORT" "$KEYS/alice.asc"
wait_for "both peers' sends hang after the data" 30 hanging 2
check_eq "the runner has a child per peer" "$(runner_procs | wc -l)" 3
kill -KILL "-$R"
wait_for "SIGKILL to the runner's process group ends them all" 30 \
	test -z "$(runner_procs)"
wait "$R" 2>/dev/null
check_eq "the sink stored nothing (the client went away before the reply)" \
	"$(smtpsink_count "$SINK")" 0
check_eq "both entries are still queued (queue list --json is JSON after the crash)" \
	"$(pending_for "$ALICE")" 2
check_eq "... ready, no attempt recorded" \
	"$($PBJSON get "$TEST_TMP/pending.json" state direction=outbound | sort -u) $($PBJSON get "$TEST_TMP/pending.json" attempts direction=outbound | sort -u)" \
	"ready 0"

# ---------------------------------------------------------------------------
# 2. A new runner takes them up again; SIGTERM while it hangs
# ---------------------------------------------------------------------------
ob_runner "$C" "$LOG"
R=$RUNNER_PID
wait_for "a new runner claims both entries again, despite the dead leases" 20 \
	hanging 2
t0=$(now_ms)
kill -TERM "$R"
wait "$R"
rc=$?
dt=$(($(now_ms) - t0))
_t_pids=$(echo "$_t_pids" | sed "s/ $R\$//; s/ $R / /")
check_eq "SIGTERM mid-send: the runner exits with status 0" "$rc" 0
check "... not hanging (${dt} ms, bound 30 s)" test "$dt" -lt 30000
bench "outbound_runner: SIGTERM mid-send -> runner gone" "$dt" 2000 ms
wait_for "... and its per-peer children are gone" 30 test -z "$(runner_procs)"
check_grep "... saying why" 'runner stopping on signal' "$LOG"
check_eq "both entries are still queued" "$(pending_for "$ALICE")" 2
wait_until 30 hanging 0
check_eq "the sink stored nothing" "$(smtpsink_count "$SINK")" 0

# ---------------------------------------------------------------------------
# 3. The peers accept again: delivered, once
# ---------------------------------------------------------------------------
smtpsink_script "$SINK"
ob_runner "$C" "$LOG"
R=$RUNNER_PID
wait_for "a restarted runner delivers alice to both peers" 15 both_have "$ALICE"
sleep 2
for p in "$P1" "$P2"; do
	check_eq "$p: alice in exactly one mail" "$(mails_with "$p" "$ALICE")" 1
done
check_eq "both entries are done" \
	"$(pb_field "$C" state direction=outbound keys="$ALICE" | sort -u)" done
stop_daemon "$R"

# ---------------------------------------------------------------------------
# 4. SIGKILL to the runner alone: its children finish, no resend
# ---------------------------------------------------------------------------
smtpsink_script "$SINK" "dot-delay 6"
ob_runner "$C" "$LOG"
R=$RUNNER_PID
check "POST bob to SKS" sks_post "$PORT" "$KEYS/bob.asc"
wait_for "both peers' sends of bob hang after the data" 30 hanging 2
kids=$(runner_procs | grep -vx "$R" | tr '\n' ' ')
kill -KILL "$R"
wait "$R" 2>/dev/null
_t_pids="$_t_pids $kids"	# cleaned up at exit whatever happens
check "SIGKILL to the runner alone leaves its two children sending" \
	sh -c "test \$(echo $kids | wc -w) -eq 2 && kill -0 $kids"
ob_runner "$C" "$LOG"
R=$RUNNER_PID
cpu0=$(cpu_ticks "$R")
wait_for "the orphaned children complete their sends" 15 both_have "$BOB"
cpu=$(($(cpu_ticks "$R") - cpu0))
# The entries are due and leased by the orphans: a runner that forks a
# child for their peer anyway gets one that finds nothing to claim, and
# does so again as soon as it exits (thousands of forks a second).
check "meanwhile the new runner leaves the leased entries alone (CPU ${cpu} ticks < 20)" \
	test "$cpu" -lt 20
wait_for "... and record them done" 30 sh -c \
	"test \"\$('$PKSBRIDGE' -c '$C' queue list --json | grep -c '$BOB')\" -eq 0"
sleep 4		# batch_window + retry + margin: a resend would be out by now
for p in "$P1" "$P2"; do
	check_eq "$p: bob in exactly one mail (the new runner did not resend)" \
		"$(mails_with "$p" "$BOB")" 1
done
check_eq "bob's entries are done after one attempt" \
	"$(pb_field "$C" state direction=outbound keys="$BOB" | sort -u) $(pb_field "$C" attempts direction=outbound keys="$BOB" | sort -u)" \
	"done 1"
bad=
for f in "$SINK"/msg.*; do
	case "$f" in *.env) continue ;; esac
	rcpt=$(sed -n 's/^RCPT TO:<\(.*\)>$/\1/p' "$f.env" | head -n 1)
	mail_ok "$f" "$rcpt" >/dev/null || bad="$bad $(basename "$f")"
done
check_eq "every mail stored keeps the outbound mail format" "$bad" ""

stop_daemon "$R"
check_eq "no runner process left" "$(runner_procs)" ""

# ---------------------------------------------------------------------------
# 5. The environment recovered under a runner with sends in flight
# ---------------------------------------------------------------------------
# A recovery panics every process still in the environment: the runner's
# watcher makes it reopen (spool/heal.h).  db5.3_recover, run on the live
# spool, is the harshest form: it does not even wait for the others to
# leave.  Its own spool and peers, fed the way SKS feeds it.
if command -v db5.3_recover >/dev/null 2>&1; then
	C2=$TEST_TMP/pb2.conf
	ob_conf "$C2" "$TEST_TMP/spool2" "smtp_relay: 127.0.0.1:$SMTPSINK_PORT" \
		"batch_window: 1s" "retry_schedule: 1s"
	P3=pgp-public-keys@peer3.example
	P4=pgp-public-keys@peer4.example
	# sks_mail FILE KEY - a mail as SKS's mailsync pipes it.
	sks_mail() {
		printf '%s\n' "To: $P3, $P4" "From: pgp-public-keys@sks.test" \
			"Subject: incremental" "Precedence: list" \
			"Content-type: application/pgp-keys" \
			"X-KeyServer-Sent: pgp-public-keys@sks.test" ""
		cat "$1"
	}
	smtpsink_script "$SINK" "dot-delay 5"
	spawn_daemon "$TEST_TMP/runner2.log" "$PKSBRIDGE" -c "$C2" run
	R=$SPAWNED_PID
	msgs0=$(smtpsink_count "$SINK")
	sks_mail "$KEYS/alice.asc" | "$PKSBRIDGE" -c "$C2" sendmail -t -oi \
		2>>"$TEST_TMP/queue.log"
	check_eq "pksbridge sendmail takes alice for two more peers" "$?" 0
	wait_for "both sends hang after the data" 15 hanging 2
	check "db5.3_recover on the live spool" db5.3_recover -h "$TEST_TMP/spool2"
	# both_got FPR - P3 and P4 have been sent FPR.
	both_got() {
		[ "$(mails_with "$P3" "$1")" -ge 1 ] && [ "$(mails_with "$P4" "$1")" -ge 1 ]
	}
	wait_for "the sends in flight complete" 15 both_got "$ALICE"
	wait_for "... and their per-peer children exit" 10 \
		test "$(runner_procs "$C2" | wc -l)" -eq 1
	pb_list "$C2" "$TEST_TMP/c2.json" 2>>"$TEST_TMP/queue.log"
	check_eq "the entries in flight are recorded done (not suppressed), one attempt" \
		"$($PBJSON get "$TEST_TMP/c2.json" state direction=outbound keys="$ALICE" | sort -u) $($PBJSON get "$TEST_TMP/c2.json" attempts direction=outbound keys="$ALICE" | sort -u)" \
		"done 1"
	sks_mail "$KEYS/bob.asc" | "$PKSBRIDGE" -c "$C2" sendmail -t -oi \
		2>>"$TEST_TMP/queue.log"
	check_eq "pksbridge sendmail takes bob after the recovery" "$?" 0
	wait_for "the runner carries on: bob reaches both peers" 10 both_got "$BOB"
	check_grep "... after opening the recovered environment again" \
		'being recovered.*opening it again' "$TEST_TMP/runner2.log"
	sleep 3
	for p in "$P3" "$P4"; do
		check_eq "$p: alice once and bob once" \
			"$(mails_with "$p" "$ALICE") $(mails_with "$p" "$BOB")" "1 1"
	done
	pb_list "$C2" "$TEST_TMP/c2.json" 2>>"$TEST_TMP/queue.log"
	check_eq "all four entries are done" \
		"$($PBJSON get "$TEST_TMP/c2.json" state direction=outbound | sort | uniq -c | tr -s ' ')" \
		" 4 done"
	stop_daemon "$R"
else
	not_ok "db5.3_recover is installed (db5.3-util)"
fi
sks_stop "$S"
smtpsink_stop
check_eq "no process left behind" "$(_t_strays)" ""
done_testing
