#!/bin/sh
# spool_wedge.sh - the state that used to need an operator, reached on
# every run, and the spool healing itself from it (pksbridge(8) SPOOL
# RECOVERY).
#
# gdb stops an ingest at the entry of Berkeley DB's __log_flush_int,
# which runs with the log region's mutex held (log/log_put.c: every
# caller takes LOG_SYSTEM_LOCK first), and the ingest is SIGKILLed
# there.  Debian's libdb5.3 uses plain pthread mutexes: that mutex stays
# held for ever, which Berkeley DB's own db5.3_stat -l shows by blocking.
#
#   A. a live ingest blocked on that mutex (started while the holder was
#      stopped) leaves once the holder is dead: exit 75, so the MTA
#      retries, within a few seconds;
#   B. the next ingest heals the spool (recovery with no process
#      attached) and exits 0 within 10 s; the recovery is logged once,
#      as a warning, naming the dead process; db_verify is clean; what
#      was acknowledged before is still there, and the mails the killed
#      and the blocked ingest carried arrive when the MTA retries them;
#   C. the same with a runner attached: the runner leaves the
#      environment and recovers it itself, stays up (same pid), and
#      delivers what comes next;
#   D. a queue command blocked by a wedge made while it runs exits 75
#      within seconds instead of hanging, and works again at once;
#   E. a runner blocked on the dead process's mutex (retrying an entry
#      every second) starts itself again in the same process, recovers
#      the spool and goes on.
. "$(dirname "$0")/../lib.sh"
need_cmd gdb gpg db5.3_stat db5.3_verify timeout || done_testing

PB=$TOP/${BUILD:-build}/pksbridge
KEYSPLIT=$TOP/${BUILD:-build}/tests/tools/keysplit
SPOOL=$TEST_TMP/spool
RING=$TEST_TMP/keyring
CONF=$TEST_TMP/pb.conf
mkdir -m 700 "$SPOOL" "$TEST_TMP/keys" "$TEST_TMP/mails"
cat >"$CONF" <<EOF
spool_dir: $SPOOL
keydb: gnupg:$RING
retry_schedule: 1s
log: stderr
EOF
show_on_failure "$TEST_TMP/log" "$TEST_TMP/gdb.out"
"$KEYSPLIT" /usr/share/keyrings/debian-keyring.gpg "$TEST_TMP/keys" 8 100 \
	>"$TEST_TMP/keys.txt"
pks_key_mails "$TEST_TMP/keys.txt" "$TEST_TMP/mails" wedge

ingest() { "$PB" -c "$CONF" ingest <"$TEST_TMP/mails/$1" >>"$TEST_TMP/log" 2>&1; }
in_ring() { gpg --homedir "$RING" --batch --list-keys "$(cat "$TEST_TMP/mails/$1.fpr")" >/dev/null 2>&1; }
# recoveries - how many times the log says the spool was recovered.
recoveries() { grep -c 'warning: spool .*: recovered: ' "$TEST_TMP/log"; }

check "mail 1 is ingested before anything goes wrong" ingest 1

# wedge N - ingest of mail N stopped inside the log mutex (wedge_ingest in
# lib.sh); stop_wedge kills it there.
wedge() {
	wedge_ingest "$CONF" "$TEST_TMP/mails/$1" "$TEST_TMP/log"
}

# --- A: a waiter on the dead process's mutex leaves ----------------------------
check "A: ingest of mail 2 stopped at __log_flush_int (log mutex held)" wedge 2
ingest 3 &
waiter=$!
sleep 2
check "A: ingest of mail 3 waits for that mutex meanwhile" kill -0 "$waiter"
stop_wedge
t0=$(date +%s)
timeout -s KILL 5 db5.3_stat -h "$SPOOL" -l >/dev/null 2>&1
check_eq "A: the mutex stays held by the dead process: db5.3_stat -l blocks (killed after 5 s)" "$?" 137
wait "$waiter"
rc=$?
t1=$(date +%s)
check_eq "A: the blocked ingest exits 75 (the MTA retries)" "$rc" 75
check "A: ... within 10 s of the holder's death ($((t1 - t0)) s)" test $((t1 - t0)) -le 10
check_grep "A: ... saying why" 'stayed attached .* while the spool needs recovery' "$TEST_TMP/log"

# --- B: the next command heals it ------------------------------------------------
n0=$(recoveries)
t0=$(date +%s)
check "B: ingest of mail 4 exits 0" timeout 20 sh -c "'$PB' -c '$CONF' ingest <'$TEST_TMP/mails/4' >>'$TEST_TMP/log' 2>&1"
t1=$(date +%s)
check "B: ... within 10 s ($((t1 - t0)) s)" test $((t1 - t0)) -le 10
check_eq "B: the recovery is logged once, as a warning" "$(($(recoveries) - n0))" 1
check_grep "B: ... naming the process that died" \
	"the process.* that died: .*$victim" "$TEST_TMP/log"
check "B: db5.3_stat -l no longer blocks" timeout -s KILL 5 db5.3_stat -h "$SPOOL" -l
check_spool_verified "$SPOOL" "B"
# What the MTA does with the mails of the killed and the blocked ingest.
check "B: the MTA's retry of mail 2 exits 0" ingest 2
check "B: ... and of mail 3" ingest 3
check "B: the runner delivers it all" timeout 60 "$PB" -c "$CONF" run --once
for i in 1 2 3 4; do
	check "B: mail $i's key is in the keyring" in_ring "$i"
done

# --- C: with a runner attached ------------------------------------------------
spawn_daemon "$TEST_TMP/runner.log" "$PB" -c "$CONF" run
runner=$!
wait_until 10 grep -q 'runner started' "$TEST_TMP/runner.log" ||
	not_ok "C: the runner starts" "$(tail -n 5 "$TEST_TMP/runner.log")"
show_on_failure "$TEST_TMP/runner.log"
# Counted before the kill: the runner's watcher may recover the spool
# within a tick of the death, before stop_wedge has even returned.
n0=$(grep -c ': recovered: ' "$TEST_TMP/runner.log")
check "C: ingest of mail 5 stopped at __log_flush_int" wedge 5
stop_wedge
wait_for "C: the runner recovers the spool itself" 10 \
	sh -c "[ \$(grep -c ': recovered: ' '$TEST_TMP/runner.log') -gt $n0 ]"
check "C: ... and is still running, the same process" kill -0 "$runner"
check "C: ingest of mail 6 exits 0" timeout 20 sh -c "'$PB' -c '$CONF' ingest <'$TEST_TMP/mails/6' >>'$TEST_TMP/log' 2>&1"
check "C: the retry of mail 5 exits 0" ingest 5
wait_for "C: the runner delivers mail 6" 20 in_ring 6
wait_for "C: ... and mail 5" 20 in_ring 5

# --- D: a queue command caught in a wedge -------------------------------------
stop_daemon "$runner"
check "D: ingest of mail 7 stopped at __log_flush_int" wedge 7
# queue retry writes (a transaction, so the log): it waits for the mutex.
( timeout -s KILL 30 "$PB" -c "$CONF" queue retry --all >>"$TEST_TMP/log" 2>&1; echo $? >"$TEST_TMP/q.rc" ) &
q=$!
sleep 1
stop_wedge
t0=$(date +%s)
wait "$q"
t1=$(date +%s)
check_eq "D: queue retry blocked by the wedge exits 75" "$(cat "$TEST_TMP/q.rc")" 75
check "D: ... within 10 s ($((t1 - t0)) s)" test $((t1 - t0)) -le 10
check "D: queue list works again at once" timeout 20 "$PB" -c "$CONF" queue list
check "D: the retry of mail 7 exits 0" ingest 7
check "D: ingest of mail 8 exits 0" ingest 8
check "D: run --once delivers them" timeout 60 "$PB" -c "$CONF" run --once
check "D: mail 7's key is in the keyring" in_ring 7
check "D: mail 8's key is in the keyring" in_ring 8
check_spool_verified "$SPOOL" "D"
# --- E: the runner blocked on the dead process's mutex ---------------------------
# A key database that refuses connections keeps one entry deferred, retried
# every second: each retry is a transaction, so the runner blocks on the
# log mutex while the victim holds it, and stays blocked once it is dead.
CONF2=$TEST_TMP/pb2.conf
mkdir -m 700 "$TEST_TMP/spool2"
sed -e 's|^keydb: .*|keydb: hkp://127.0.0.1:1|' \
	-e "s|^spool_dir: .*|spool_dir: $TEST_TMP/spool2|" "$CONF" >"$CONF2"
CONF_SAVE=$CONF
CONF=$CONF2
check "E: an entry the runner keeps retrying" ingest 1
spawn_daemon "$TEST_TMP/runner2.log" "$PB" -c "$CONF" run
runner=$!
wait_until 10 grep -q 'runner started' "$TEST_TMP/runner2.log" ||
	not_ok "E: the runner starts" "$(tail -n 5 "$TEST_TMP/runner2.log")"
show_on_failure "$TEST_TMP/runner2.log"
wait_for "E: ... and retries" 10 grep -q 'status=deferred' "$TEST_TMP/runner2.log"
check "E: ingest of mail 2 stopped at __log_flush_int" wedge 2
sleep 2
stop_wedge
t0=$(date +%s)
wait_for "E: the blocked runner starts itself again" 10 \
	grep -q 'runner: starting again' "$TEST_TMP/runner2.log"
wait_for "E: ... in the same process, and recovers the spool" 10 \
	grep -q ': recovered: ' "$TEST_TMP/runner2.log"
check "E: ... which is still running" kill -0 "$runner"
check "E: queue list works within 10 s of the death" \
	timeout 20 "$PB" -c "$CONF" queue list
t1=$(date +%s)
check "E: ... ($((t1 - t0)) s)" test $((t1 - t0)) -le 10
wait_for "E: the runner goes on retrying" 10 \
	sh -c "tail -n 3 '$TEST_TMP/runner2.log' | grep -q 'status=deferred'"
stop_daemon "$runner"
CONF=$CONF_SAVE

check "no log line sends the operator to db5.3_recover" \
	sh -c "! grep -q db5.3_recover '$TEST_TMP/log' '$TEST_TMP/runner.log' '$TEST_TMP/runner2.log'"
done_testing
