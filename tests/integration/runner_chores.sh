#!/bin/sh
# runner_chores.sh - a runner that has had to recover the spool again and
# again still does every job it has: it delivers, it answers mail
# commands, and it sweeps the dedup index and the reply buckets when
# their entries expire.  (A full-size crash run once logged "dedup
# expiry: ... keeps needing recovery"; the sweep then waited an hour for
# its next turn.  A failed sweep is now tried again within seconds.)
#
# ROUNDS times: an ingest is SIGKILLed inside Berkeley DB's log mutex
# (wedge_ingest, as spool_wedge.sh does), the runner recovers the spool
# itself, the MTA hands the mail over again, and a user asks for its key
# with GET.  Then: the runner is the same process, it recovered every
# time, every key was delivered and every GET answered, the dedup index
# empties once dedup_ttl has passed (the sweep logged after the last
# recovery), the reply buckets are swept, and an operator's queue purge
# works.
. "$(dirname "$0")/../lib.sh"
need_cmd gdb gpg python3 || done_testing

PB=$PKSBRIDGE
ROUNDS=${CHORES_ROUNDS:-4}
SPOOL=$TEST_TMP/spool
RING=$TEST_TMP/keyring
CONF=$TEST_TMP/pb.conf
mkdir -m 700 "$SPOOL" "$TEST_TMP/keys" "$TEST_TMP/mails" "$TEST_TMP/replies"
: >"$TEST_TMP/mailsync"
# Short lifetimes, so that the sweeps have something to do within the
# test: the runner sweeps every quarter of the shortest one.
cat >"$CONF" <<EOF
spool_dir: $SPOOL
keydb: gnupg:$RING
from_addr: pgp-public-keys@bridge.test
mailsync_file: $TEST_TMP/mailsync
sendmail_cmd: $TEST_DATA/bin/mail-sink $TEST_TMP/replies
dedup_ttl: 8s
reply_limit: 100/8s
retry_schedule: 1s
log: stderr
EOF
show_on_failure "$TEST_TMP/log" "$TEST_TMP/runner.log" "$TEST_TMP/gdb.out"
unique_keys "$ROUNDS" "$TEST_TMP/keys" chores >"$TEST_TMP/keys.txt"
pks_key_mails "$TEST_TMP/keys.txt" "$TEST_TMP/mails" chores

ingest() { "$PB" -c "$CONF" ingest <"$1" >>"$TEST_TMP/log" 2>&1; }
in_ring() { gpg --homedir "$RING" --batch --list-keys "$1" >/dev/null 2>&1; }
recoveries() { grep -c ': recovered: ' "$TEST_TMP/runner.log"; }
replies() { ls "$TEST_TMP/replies" | grep -c '^mail\.'; }
replies_at_least() { [ "$(replies)" -ge "$1" ]; }
dedup_entries() {
	"$PB" -c "$CONF" queue stats --json | python3 -c \
		'import json, sys; print(json.load(sys.stdin)["dedup_entries"])'
}
dedup_empty() { [ "$(dedup_entries)" -eq 0 ]; }
# get_mail N FILE - a user's GET for mail N's key, as gpg1's mailto
# helper sends it (envelope sender from the MTA's Return-Path).
get_mail() {
	printf '%s\n' "Return-Path: <user$1@client.test>" "From: user$1@client.test" \
		"To: pgp-public-keys@bridge.test" "Subject: GET 0x$(cat "$TEST_TMP/mails/$1.fpr")" \
		"Message-ID: <get-$1@client.test>" "" "" >"$2"
}

spawn_daemon "$TEST_TMP/runner.log" "$PB" -c "$CONF" run
runner=$SPAWNED_PID
wait_for "the runner starts" 10 grep -q 'runner started' "$TEST_TMP/runner.log"

r=0
while [ "$r" -lt "$ROUNDS" ]; do
	r=$((r + 1))
	n0=$(recoveries)
	check "round $r: an ingest stopped inside the log mutex" \
		wedge_ingest "$CONF" "$TEST_TMP/mails/$r" "$TEST_TMP/log"
	stop_wedge
	wait_for "round $r: ... SIGKILLed there, and the runner recovers the spool" 15 \
		sh -c "[ \$(grep -c ': recovered: ' '$TEST_TMP/runner.log') -gt $n0 ]"
	check "round $r: the MTA's retry of the mail exits 0" \
		timeout 30 "$PB" -c "$CONF" ingest <"$TEST_TMP/mails/$r"
	wait_for "round $r: the runner delivers its key" 30 \
		in_ring "$(cat "$TEST_TMP/mails/$r.fpr")"
	get_mail "$r" "$TEST_TMP/get.$r"
	check "round $r: a GET for the key is taken" ingest "$TEST_TMP/get.$r"
	wait_for "round $r: ... and answered" 30 replies_at_least "$r"
done
last=$(recoveries)
check "the runner recovered the spool itself every round ($last times)" \
	test "$last" -ge "$ROUNDS"
check "... and is still the same process" kill -0 "$runner"
check_eq "every reply carries the key asked for" \
	"$(for m in "$TEST_TMP"/replies/mail.*; do
		gpg --batch --with-colons --import-options show-only --import "$m" 2>/dev/null |
			awk -F: '$1 == "fpr" { print $10; exit }'
	done | sort | tr '\n' ' ')" \
	"$(cat "$TEST_TMP"/mails/*.fpr | sort | tr '\n' ' ')"

# The sweeps, after the last recovery: the log from that point on (a
# sweep that a recovery interrupted is tried again; it must come).
check "the dedup index held the keys (dedup_entries > 0)" test "$(dedup_entries)" -gt 0
wait_for "it is empty again once dedup_ttl (8 s) has passed" 40 dedup_empty
check "... swept by the runner after its last recovery" \
	sh -c "awk -v n=$last '/: recovered: / { c++ } c >= n' '$TEST_TMP/runner.log' |
		grep -q 'dedup: expired [0-9]* records'"
wait_for "the reply buckets are swept after the last recovery too" 40 \
	sh -c "awk -v n=$last '/: recovered: / { c++ } c >= n' '$TEST_TMP/runner.log' |
		grep -q 'reply limits: expired [0-9]* buckets'"
sleep 2
check "an operator's queue purge works" "$PB" -c "$CONF" queue purge 1s
check_eq "... and leaves nothing finished behind" \
	"$("$PB" -c "$CONF" queue list --all --json | wc -l | tr -d ' ')" 0
stop_daemon "$runner"
done_testing
