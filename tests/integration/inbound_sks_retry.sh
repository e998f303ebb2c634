#!/bin/sh
# tests/integration/inbound_sks_retry.sh - a key database that is down
# loses nothing, with the real pksbridge binary and a real
# throwaway SKS reached over hkp://:
#
#   A. ingest while SKS is down exits 0 and leaves a deferred entry (with
#      last_error and next_attempt); "run --once" leaves it alone until it
#      is due; after SKS starts, "queue retry ID" + "run --once" deliver it.
#   B. the foreground runner ("pksbridge run", retry_schedule: 1s) retries
#      by itself and delivers once SKS is up; it wakes at once when ingest
#      queues a deferred entry and when "queue release" frees a held one
#      (otherwise it would sleep for a minute); it never delivers a held
#      entry; SIGTERM stops it with exit status 0.
#   C. with max_queue_lifetime: 2s an entry fails for good on a later run;
#      "queue retry" still delivers it once SKS is up.
. "$(dirname "$0")/../lib.sh"
. "$TOP/tests/lib/sks.sh"
. "$TOP/tests/lib/sks_it.sh"

need_cmd sks gpg curl python3 || done_testing
if [ ! -x "$PKSBRIDGE" ]; then
	not_ok "no pksbridge binary at $PKSBRIDGE (build it first)"
	done_testing
fi
if ! debkeys_pick 5; then
	not_ok "5 keys of at most 16 KB exported from $DEBKEYS_RING"
	done_testing
fi
for i in 1 2 3 4 5; do eval "K$i=\$(debkey $i)"; done
M=$TEST_TMP/mails
mkdir -p "$M"
show_on_failure "$TEST_TMP/ingest.log" "$TEST_TMP/runner.log" \
	"$TEST_TMP/sks-a/sks-db.log" "$TEST_TMP/sks-b/sks-db.log" \
	"$TEST_TMP/sks-c/sks-db.log"

# ingest CONF MAIL - pksbridge ingest, its log appended to ingest.log.
ingest() {
	"$PKSBRIDGE" -c "$1" ingest <"$2" >>"$TEST_TMP/ingest.log" 2>&1
}

# field CONF FIELD MSGID - one field of the entry for that Message-ID.
field() {
	pb_field "$1" "$2" "message_id=$3"
}

# state_is CONF MSGID STATE - true if that entry is in STATE.
state_is() {
	[ "$(field "$1" state "$2")" = "$3" ]
}

# newconf NAME PORT LINE... - a configuration with its own spool,
# delivering to hkp://127.0.0.1:PORT.
newconf() {
	_nc_name=$1
	_nc_port=$2
	shift 2
	mkdir -p "$TEST_TMP/spool-$_nc_name"
	pb_conf "$TEST_TMP/$_nc_name.conf" "spool_dir: $TEST_TMP/spool-$_nc_name" \
		"keydb: hkp://127.0.0.1:$_nc_port" "log: stderr" \
		"from_addr: pgp-public-keys@bridge.test" "$@"
}

# ---------------------------------------------------------------------------
# A. SKS down at ingest; queue retry + run --once once it is up
# ---------------------------------------------------------------------------
PA=$(free_port) || { not_ok "no free port"; done_testing; }
newconf a "$PA"
CA=$TEST_TMP/a.conf
pks_mail "$M/a1" a1@pks.example "$(debkey_asc "$K1")"
t0=$(now_ms)
check "ingest with SKS down exits 0" ingest "$CA" "$M/a1"
dt=$(($(now_ms) - t0))
bench "inbound_sks_retry: ingest with SKS down (no inline timeout wait)" "$dt" 3000 ms
pb_list "$CA" "$TEST_TMP/a.list"
check "queue list --all --json of a deferred entry keeps the contract" \
	$PBJSON list "$TEST_TMP/a.list"
check_eq "the entry is deferred after one attempt" \
	"$(field "$CA" state a1@pks.example) $(field "$CA" attempts a1@pks.example)" \
	"deferred 1"
check "last_error says what failed (connecting to 127.0.0.1:$PA)" \
	sh -c "$PBJSON get '$TEST_TMP/a.list' last_error message_id=a1@pks.example |
		grep -E '127\\.0\\.0\\.1:?$PA.*([Cc]onnect|refused)'"
created=$(field "$CA" created a1@pks.example)
next=$(field "$CA" next_attempt a1@pks.example)
check "next_attempt is the first retry_schedule step (1m) after creation ($created -> $next)" \
	test "$next" -ge $((created + 59)) -a "$next" -le $((created + 62))
"$PKSBRIDGE" -c "$CA" queue list --json >"$TEST_TMP/a.pending"
check "queue list --json (pending only) keeps the contract" \
	$PBJSON list "$TEST_TMP/a.pending"
check_eq "... and shows the deferred entry" \
	"$($PBJSON count "$TEST_TMP/a.pending" state=deferred)" 1
check "run --once before it is due" "$PKSBRIDGE" -c "$CA" run --once
check_eq "... leaves it alone" \
	"$(field "$CA" state a1@pks.example) $(field "$CA" attempts a1@pks.example)" \
	"deferred 1"

if ! sks_start "$TEST_TMP/sks-a" "$PA" 2>"$TEST_TMP/sks-a.err"; then
	not_ok "SKS starts on port $PA" "$(cat "$TEST_TMP/sks-a.err")"
	done_testing
fi
ok "SKS now runs on port $PA"
check "SKS does not have the key yet" sks_absent "$PA" "$K1"
id=$(field "$CA" id a1@pks.example)
check "queue retry $id" "$PKSBRIDGE" -c "$CA" queue retry "$id"
check_eq "... makes it ready, due now" \
	"$(field "$CA" state a1@pks.example) $(($(field "$CA" next_attempt a1@pks.example) <= $(date +%s)))" \
	"ready 1"
check "run --once" "$PKSBRIDGE" -c "$CA" run --once
check_eq "... delivers it: done, second attempt, no error left" \
	"$(field "$CA" state a1@pks.example) $(field "$CA" attempts a1@pks.example) $(field "$CA" last_error a1@pks.example)" \
	"done 2 null"
check "SKS serves the key" sks_served "$PA" "$K1"
sks_stop "$TEST_TMP/sks-a"

# ---------------------------------------------------------------------------
# B. The foreground runner
# ---------------------------------------------------------------------------
PB=$(free_port) || { not_ok "no free port"; done_testing; }
SB=$TEST_TMP/sks-b
newconf b "$PB" "retry_schedule: 1s"
CB=$TEST_TMP/b.conf
pks_mail "$M/b2" b2@pks.example "$(debkey_asc "$K2")"
check "ingest with SKS down: exit 0" ingest "$CB" "$M/b2"
spawn_daemon "$TEST_TMP/runner.log" "$PKSBRIDGE" -c "$CB" run
RUNNER=$SPAWNED_PID
wait_for "the runner starts (its wakeup FIFO appears)" 30 \
	test -p "$TEST_TMP/spool-b/wakeup"
# attempts_at_least CONF MSGID N
attempts_at_least() {
	[ "$(field "$1" attempts "$2")" -ge "$3" ]
}
wait_for "the runner retries by itself while SKS is down (attempts >= 3)" 30 \
	attempts_at_least "$CB" b2@pks.example 3
check_eq "... the entry stays deferred" "$(field "$CB" state b2@pks.example)" deferred
if ! sks_start "$SB" "$PB" 2>"$TEST_TMP/sks-b.err"; then
	not_ok "SKS starts on port $PB" "$(cat "$TEST_TMP/sks-b.err")"
	done_testing
fi
t0=$(now_ms)
wait_for "once SKS is up the runner delivers without help" 30 \
	sks_served "$PB" "$K2" &&
	bench "inbound_sks_retry: SKS up -> delivered by the runner (retry_schedule 1s)" \
		"$(($(now_ms) - t0))" 3000 ms
wait_for "... and records it as done" 30 state_is "$CB" b2@pks.example done

# Wakeup by ingest: the runner has nothing due and sleeps up to a minute.
# An ingest hands its entry to the listening runner (it does not deliver
# inline when a runner listens) and nudges it; the runner's attempt fails
# (SKS is down), the entry is deferred for 1 s, and the runner must then
# retry within about a second of SKS coming back.
sks_stop "$SB"
pks_mail "$M/b3" b3@pks.example "$(debkey_asc "$K3")"
check "ingest while SKS is down again: exit 0" ingest "$CB" "$M/b3"
t0=$(now_ms)
b3_deferred() {
	[ "$(field "$CB" state b3@pks.example)" = deferred ]
}
wait_for "... the woken runner tries it at once and defers it" 30 b3_deferred
if ! sks_start "$SB" "$PB" 2>"$TEST_TMP/sks-b.err"; then
	not_ok "SKS restarts on port $PB" "$(cat "$TEST_TMP/sks-b.err")"
	done_testing
fi
wait_for "the runner, woken by ingest, delivers" 30 \
	sks_served "$PB" "$K3" &&
	bench "inbound_sks_retry: ingest exit -> served by the woken runner (SKS restarted meanwhile)" \
		"$(($(now_ms) - t0))" 8000 ms

# Wakeup by "queue release": a held entry is never delivered; released,
# it is due at once and the sleeping runner must come for it.
sks_stop "$SB"
pks_mail "$M/b4" b4@pks.example "$(debkey_asc "$K4")"
check "ingest while SKS is down: exit 0" ingest "$CB" "$M/b4"
id=$(field "$CB" id b4@pks.example)
check "queue hold $id" "$PKSBRIDGE" -c "$CB" queue hold "$id"
check_eq "... held" "$(field "$CB" state b4@pks.example)" held
if ! sks_start "$SB" "$PB" 2>"$TEST_TMP/sks-b.err"; then
	not_ok "SKS restarts on port $PB" "$(cat "$TEST_TMP/sks-b.err")"
	done_testing
fi
sleep 2.5	# more than two retry_schedule steps
check_eq "the runner leaves a held entry alone" \
	"$(field "$CB" state b4@pks.example)" held
check "... SKS does not have its key" sks_absent "$PB" "$K4"
check "queue release $id" "$PKSBRIDGE" -c "$CB" queue release "$id"
t0=$(now_ms)
wait_for "the runner, woken by release, delivers" 30 \
	sks_served "$PB" "$K4" &&
	bench "inbound_sks_retry: queue release -> served by the woken runner" \
		"$(($(now_ms) - t0))" 3000 ms
wait_for "... done" 30 state_is "$CB" b4@pks.example done

check "the runner is still running" kill -0 "$RUNNER"
kill -TERM "$RUNNER"
t0=$(now_ms)
if wait_until 30 _t_gone "$RUNNER"; then
	wait "$RUNNER"
	rc=$?
	ok "SIGTERM stops the runner ($(($(now_ms) - t0)) ms)"
	bench "inbound_sks_retry: SIGTERM -> runner gone" "$(($(now_ms) - t0))" 1000 ms
	check_eq "... with exit status 0" "$rc" 0
else
	not_ok "SIGTERM stops the runner within 30 s"
fi
check_grep "... and it logs why it stopped" 'stopping on signal' "$TEST_TMP/runner.log"
check "... leaving no error in its log" \
	sh -c "! grep -Ei 'error|panic|fatal' '$TEST_TMP/runner.log'"
sks_stop "$SB"

# ---------------------------------------------------------------------------
# C. max_queue_lifetime
# ---------------------------------------------------------------------------
PC=$(free_port) || { not_ok "no free port"; done_testing; }
newconf c "$PC" "retry_schedule: 1s" "max_queue_lifetime: 2s"
CC=$TEST_TMP/c.conf
pks_mail "$M/c5" c5@pks.example "$(debkey_asc "$K5")"
check "ingest with the key database down (max_queue_lifetime: 2s): exit 0" \
	ingest "$CC" "$M/c5"
check_eq "... deferred, not failed, on its first attempt" \
	"$(field "$CC" state c5@pks.example)" deferred
created=$(field "$CC" created c5@pks.example)
while [ "$(date +%s)" -le $((created + 2)) ]; do sleep 0.2; done
check "run --once after the lifetime has passed" "$PKSBRIDGE" -c "$CC" run --once
pb_list "$CC" "$TEST_TMP/c.list"
check_eq "... the entry has failed for good" \
	"$($PBJSON get "$TEST_TMP/c.list" state message_id=c5@pks.example) $($PBJSON get "$TEST_TMP/c.list" next_attempt message_id=c5@pks.example)" \
	"failed null"
check "... last_error says it expired, and why it kept failing" \
	sh -c "$PBJSON get '$TEST_TMP/c.list' last_error message_id=c5@pks.example |
		grep -E 'expired.*127\\.0\\.0\\.1:?$PC'"
check "queue list --all --json keeps the contract for a failed entry" \
	$PBJSON list "$TEST_TMP/c.list"
"$PKSBRIDGE" -c "$CC" queue stats --json >"$TEST_TMP/c.stats"
check "queue stats --json counts it as failed, nothing pending" \
	sh -c "$PBJSON stats '$TEST_TMP/c.stats' '$TEST_TMP/c.list' &&
		python3 -c 'import json,sys; s=json.load(open(sys.argv[1])); sys.exit(s[\"inbound\"][\"failed\"] != 1 or s[\"oldest_pending_seconds\"] != 0)' '$TEST_TMP/c.stats'"
"$PKSBRIDGE" -c "$CC" queue list --json >"$TEST_TMP/c.pending"
check "queue list --json (pending) no longer shows it" test ! -s "$TEST_TMP/c.pending"
check "another run --once leaves it failed" "$PKSBRIDGE" -c "$CC" run --once
check_eq "... (attempts unchanged)" \
	"$(field "$CC" state c5@pks.example) $(field "$CC" attempts c5@pks.example)" \
	"failed $($PBJSON get "$TEST_TMP/c.list" attempts message_id=c5@pks.example)"
# A failed entry no longer makes its keys look seen: the same key resent
# (a new Message-ID) is queued again, not taken for a duplicate.
pks_mail "$M/c6" c6@pks.example "$(debkey_asc "$K5")"
check "the same key resent after the failure: ingest exit 0" ingest "$CC" "$M/c6"
c6_state=$(field "$CC" state c6@pks.example)
check "... queued again, not a duplicate of the failed entry (state $c6_state)" \
	sh -c "[ '$c6_state' = deferred ] || [ '$c6_state' = ready ]"
# Failed is not lost: the operator can retry it once the database is back.
if ! sks_start "$TEST_TMP/sks-c" "$PC" 2>"$TEST_TMP/sks-c.err"; then
	not_ok "SKS starts on port $PC" "$(cat "$TEST_TMP/sks-c.err")"
	done_testing
fi
id=$(field "$CC" id c5@pks.example)
check "queue retry of the failed entry, then run --once" sh -c \
	"'$PKSBRIDGE' -c '$CC' queue retry '$id' 2>/dev/null && '$PKSBRIDGE' -c '$CC' run --once"
check_eq "... delivers it (done, last_error cleared)" \
	"$(field "$CC" state c5@pks.example) $(field "$CC" last_error c5@pks.example)" \
	"done null"
check "... SKS serves the key" sks_served "$PC" "$K5"
sks_stop "$TEST_TMP/sks-c"
check_eq "no process left behind (gpg, gpg-agent, pksbridge, sks)" "$(_t_strays)" ""

done_testing
