#!/bin/sh
# crash_ops.sh - SIGKILL where crash_ingest.sh and crash_runner.sh do not
# reach: inside the outbound intake ("pksbridge sendmail", as SKS's
# mailsync runs it), inside the operator's queue hold / release / retry /
# delete, and inside the runner's delivery to a PKS peer (its sendmail_cmd
# child and the commit after it).  The spool must heal itself every time.
#
# CRASH_OPS_ROUNDS rounds (default 12).  In each: CRASH_PAR intakes
# (default 8), SIGKILLed with probability 1/2 after 0-40 ms; one queue
# action, killed the same way; all the while a runner (restarted at once
# by a keeper, as systemd would) and its delivery children are
# SIGKILLed every 0.05-0.3 s.  After each round: the time from its last
# kill until "queue stats" works.  Then the killing stops, held entries
# are released, and "run --once" drains the queue.
#
# Every mail carries a key of its own, that no other mail of the run
# carries (tests/tools/pgpgen.py), and a Debian key of at most 16 KB
# (used in turn, for real sizes).  The peers' sendmail is
# tests/data/bin/mail-sink, which numbers mails under a lock and never
# overwrites one.
#
# Checked: intakes exit only 0, 75 or by the signal; queue actions only
# 0, 1 (nothing matched), 75 or by the signal; the runner exits only by
# a SIGKILL this suite sent, or on the final SIGTERM, and no watchdog
# fired; no operator recovery was needed; the spool served again within
# 10 s of every round's last kill; every entry an acknowledged intake
# logged (one per peer) ended done, unless this suite deleted it (only
# done entries, chosen and written down before the delete); every key
# whose intake exited 0 reached both peers (imported from what the peers
# received, with gpg); every mail the runner logged as sent is at its
# peer; nothing is left pending; db_verify finds no damage.  Counts are
# reported.
. "$(dirname "$0")/../lib.sh"
need_cmd gpg db5.3_verify pgrep python3 || done_testing

PB=$TOP/${BUILD:-build}/pksbridge
KEYSPLIT=$TOP/${BUILD:-build}/tests/tools/keysplit
ROUNDS=${CRASH_OPS_ROUNDS:-12}
PAR=${CRASH_PAR:-8}
N=$((ROUNDS * PAR))
SPOOL=$TEST_TMP/spool
CONF=$TEST_TMP/pb.conf
PEERS="pgp-public-keys@peer1.example pgp-public-keys@peer2.example"
mkdir -m 700 "$SPOOL" "$TEST_TMP/keys" "$TEST_TMP/ballast" "$TEST_TMP/mails" \
	"$TEST_TMP/rc" "$TEST_TMP/out" "$TEST_TMP/runner" "$TEST_TMP/peer"
show_on_failure "$TEST_TMP/log" "$TEST_TMP/runner.log"
cat >"$CONF" <<EOF
spool_dir: $SPOOL
keydb: gnupg:$TEST_TMP/keyring
from_addr: pgp-public-keys@bridge.test
sendmail_cmd: $TEST_DATA/bin/mail-sink $TEST_TMP/peer -i
retry_schedule: 1s
batch_window: 0s
log: stderr
EOF

"$KEYSPLIT" /usr/share/keyrings/debian-keyring.gpg "$TEST_TMP/ballast" "$N" 0 16384 \
	>"$TEST_TMP/ballast.txt"
unique_keys "$N" "$TEST_TMP/keys" crash-ops >"$TEST_TMP/keys.txt"
check_eq "a key of its own for each of the $N mails" \
	"$(cut -d' ' -f1 "$TEST_TMP/keys.txt" | sort -u | wc -l | tr -d ' ')" "$N"
nb=$(wc -l <"$TEST_TMP/ballast.txt" | tr -d ' ')
# As SKS's mailsync writes them (../shared/samples/sks-mailsync-outbound.eml),
# with a Message-ID, which SKS does not write, to tell the mails apart.
i=0
while read -r fpr file; do
	i=$((i + 1))
	{
		printf '%s\n' "To: $(echo "$PEERS" | sed 's/ /, /')" \
			"From: pgp-public-keys@sks.test" "Subject: incremental" \
			"Message-ID: <crash-ops-$i@sks.test>" \
			"Precedence: list" "Content-type: application/pgp-keys" \
			"X-KeyServer-Sent: pgp-public-keys@sks.test" ""
		cat "$file"
		cat "$(sed -n "$(((i - 1) % nb + 1))s/^[^ ]* //p" "$TEST_TMP/ballast.txt")"
	} >"$TEST_TMP/mails/$i"
	echo "$fpr" >"$TEST_TMP/mails/$i.fpr"
done <"$TEST_TMP/keys.txt"

rnd() { od -An -N2 -tu2 /dev/urandom | tr -d ' '; }
: >"$TEST_TMP/kills"
# maybe_kill PID - SIGKILL PID with probability 1/2, after 0-40 ms.
maybe_kill() {
	[ $(($(rnd) % 2)) -eq 0 ] || return 0
	[ $(($(rnd) % 4)) -eq 0 ] || sleep "$(printf "0.%03d" $(($(rnd) % 40)))"
	kill -KILL "$1" 2>/dev/null && date +%s%3N >>"$TEST_TMP/kills"
}
intake_one() {
	"$PB" -c "$CONF" sendmail -t -oi <"$TEST_TMP/mails/$1" >"$TEST_TMP/out/$1" 2>&1 &
	_p=$!
	maybe_kill "$_p"
	wait "$_p"
	echo $? >"$TEST_TMP/rc/$1"
}
OPS="hold release retry delete"
# A delete takes done entries only, named one by one and written down in
# TEST_TMP/deleted first, so that the check by queue id can tell an entry
# this suite deleted from one that was lost.
op_one() {
	_op=$1
	case $1 in
	delete)
		_ids=$("$PB" -c "$CONF" queue list --all --json 2>>"$TEST_TMP/log" |
			python3 -c 'import json, sys
print(" ".join([e["id"] for e in map(json.loads, sys.stdin)
                if e["state"] == "done"][:20]))')
		[ -n "$_ids" ] || return 0
		printf '%s\n' $_ids >>"$TEST_TMP/deleted"
		# shellcheck disable=SC2086
		set -- delete $_ids ;;
	*) set -- "$1" --all ;;
	esac
	"$PB" -c "$CONF" queue "$@" >>"$TEST_TMP/log" 2>&1 &
	_p=$!
	maybe_kill "$_p"
	wait "$_p"
	echo "$_op $?" >>"$TEST_TMP/op.rc"
}

cat >"$TEST_TMP/runner/keeper" <<'EOF'
#!/bin/sh
# keeper PB CONF DIR - run "PB -c CONF run" again whenever it dies, until
# DIR/stop exists; DIR/pid is the current runner, DIR/exits "PID STATUS".
while [ ! -e "$3/stop" ]; do
	"$1" -c "$2" run &
	p=$!
	echo $p >"$3/pid"
	wait $p
	echo "$p $?" >>"$3/exits"
done
EOF
spawn_daemon "$TEST_TMP/runner.log" sh "$TEST_TMP/runner/keeper" "$PB" "$CONF" \
	"$TEST_TMP/runner"
KEEPER=$SPAWNED_PID
wait_for "the runner starts" 10 test -p "$SPOOL/wakeup"
# killer - the runner or one of its delivery children, every 0.05-0.3 s.
killer() {
	while [ ! -e "$TEST_TMP/killer.stop" ] && kill -0 $$ 2>/dev/null; do
		sleep "$(printf "0.%03d" $(($(rnd) % 250 + 50)))"
		_r=$(cat "$TEST_TMP/runner/pid" 2>/dev/null) || continue
		_v=$_r
		_kids=$(pgrep -P "$_r" 2>/dev/null)
		[ -n "$_kids" ] && [ $(($(rnd) % 2)) -eq 0 ] && _v=$(echo "$_kids" | head -n 1)
		kill -KILL "$_v" 2>/dev/null && date +%s%3N >>"$TEST_TMP/kills" &&
			echo "$_v" >>"$TEST_TMP/runner.killed"
	done
}
killer &
KILLER=$!

: >"$TEST_TMP/serve_ms"
: >"$TEST_TMP/op.rc"
: >"$TEST_TMP/deleted"
t0=$(date +%s)
i=1
r=0
while [ $r -lt "$ROUNDS" ]; do
	r=$((r + 1))
	pids=
	j=0
	while [ $j -lt "$PAR" ]; do
		intake_one $i &
		pids="$pids $!"
		i=$((i + 1))
		j=$((j + 1))
	done
	op_one "$(echo $OPS | cut -d' ' -f$(($(rnd) % 4 + 1)))" &
	pids="$pids $!"
	# shellcheck disable=SC2086
	wait $pids
	last=$(sort -n "$TEST_TMP/kills" | tail -n 1)
	serve_ms "$CONF" "${last:-$(date +%s%3N)}" >>"$TEST_TMP/serve_ms"
done
t_rounds=$(($(date +%s) - t0))
touch "$TEST_TMP/killer.stop"
wait "$KILLER"
last=$(sort -n "$TEST_TMP/kills" | tail -n 1)
serve_ms "$CONF" "$last" >>"$TEST_TMP/serve_ms"
touch "$TEST_TMP/runner/stop"
kill -TERM "$(cat "$TEST_TMP/runner/pid")" 2>/dev/null
wait_until 15 _t_gone "$KEEPER" || stop_daemon "$KEEPER"

cat "$TEST_TMP"/out/* >>"$TEST_TMP/log"
tally_rcs "$TEST_TMP/rc"
check_eq "intakes exit only 0, 75 or killed" "$bad" ""
check_eq "queue actions exit only 0, 1, 75 or killed" \
	"$(grep -v -E ' (0|1|75|137)$' "$TEST_TMP/op.rc" | sort | uniq -c | tr '\n' ' ')" ""
check_eq "the runner exited only by this suite's SIGKILL, or on SIGTERM" \
	"$(unsent_kills "$TEST_TMP/runner/exits" "$TEST_TMP/runner.killed")" ""
check "no process crashed or hit its watchdog" \
	sh -c "! grep -E '$CRASH_LINES|filter watchdog expired' '$TEST_TMP/log' '$TEST_TMP/runner.log'"
wedges=$(grep -c 'another process has been opening' "$TEST_TMP/log")
check_eq "no opener waited out the 30 s spool lock (a wedge)" "$wedges" 0
check "the spool served again within 10 s of every round's last kill ($(ms_summary "$TEST_TMP/serve_ms"))" \
	test "$(ms_max "$TEST_TMP/serve_ms")" -le 10000

check "queue release --all (what a killed hold left held)" \
	sh -c "'$PB' -c '$CONF' queue release --all >>'$TEST_TMP/log' 2>&1; [ \$? -le 1 ]"
drained() {
	"$PB" -c "$CONF" run --once >>"$TEST_TMP/log" 2>&1 || return 1
	[ -z "$("$PB" -c "$CONF" queue list --json)" ]
}
wait_for "run --once delivers everything left" 60 drained

# By queue id: each acknowledged intake logged one queued entry per peer.
acked_ids "$TEST_TMP/rc" "$TEST_TMP/out" \
	's/^.*: \([0-9A-F]\{14\}\): to=<.*status=queued$/\1/p' >"$TEST_TMP/acked.ids"
check_eq "every acknowledged intake logged an entry for each peer" \
	"$(wc -l <"$TEST_TMP/acked.ids" | tr -d ' ')" "$((acked * 2))"
"$PB" -c "$CONF" queue list --all --json >"$TEST_TMP/all.json"
# suppressed: a runner killed after its mail left but before it recorded
# the entry finds, at the retry, every packet already sent to that peer
# (seen at full size).  Whether the keys arrived is checked by key below.
check_eq "every entry of an acknowledged intake is done (or suppressed as already sent), or deleted by this suite" \
	"$(lost_ids "$TEST_TMP/acked.ids" "$TEST_TMP/all.json" done,suppressed "$TEST_TMP/deleted" | head -n 20)" ""

# By key: what each peer received, imported with gpg.
lost=
for peer in $PEERS; do
	home=$TEST_TMP/gpg-$peer
	mkdir -m 700 "$home"
	for m in "$TEST_TMP"/peer/mail.*; do
		grep -qix -- "$peer" "${m%/mail.*}/args.${m##*/mail.}" && echo "$m"
	done >"$home.mails"
	xargs gpg --homedir "$home" --batch --import <"$home.mails" >/dev/null 2>&1
	gpg --homedir "$home" --with-colons --list-keys 2>/dev/null |
		awk -F: '$1 == "pub" { w = 1 } $1 == "fpr" && w { print $10; w = 0 }' >"$home.have"
	for f in "$TEST_TMP"/rc/*; do
		n=$(basename "$f")
		[ "$(cat "$f")" = 0 ] || continue
		grep -qx "$(cat "$TEST_TMP/mails/$n.fpr")" "$home.have" || lost="$lost $peer:$n"
	done
done
check_eq "every key whose intake exited 0 reached both peers" "$lost" ""
# The sink itself: a mail the runner handed over and then lost (as a
# sink that names files by pid lost them) shows here.
grep -h 'status=sent$' "$TEST_TMP/runner.log" "$TEST_TMP/log" |
	sed -n 's/.* to=<\([^>]*\)>.* msgid=\(<[^>]*>\).*/\1 \2/p' | sort -u >"$TEST_TMP/sent"
for m in "$TEST_TMP"/peer/mail.*; do
	id=$(sed -n '/^$/q; s/^Message-ID: *//Ip' "$m")
	echo "$(tail -n 1 "${m%/mail.*}/args.${m##*/mail.}") $id"
done | sort -u >"$TEST_TMP/received"
check_eq "every mail the runner logged as sent ($(wc -l <"$TEST_TMP/sent" | tr -d ' ')) is at its peer" \
	"$(comm -23 "$TEST_TMP/sent" "$TEST_TMP/received" | head -n 5)" ""
check_spool_verified "$SPOOL"
kills=$(wc -l <"$TEST_TMP/kills" | tr -d ' ')
heals=$(cat "$TEST_TMP/log" "$TEST_TMP/runner.log" | grep -c ': recovered: ')
echo "# $ROUNDS rounds in ${t_rounds}s: $N intakes ($acked acknowledged, $killed killed," \
	"$tempfail deferred), $(wc -l <"$TEST_TMP/op.rc" | tr -d ' ') queue actions," \
	"runner or its children killed $(wc -l <"$TEST_TMP/runner.killed" 2>/dev/null || echo 0) times"
echo "# $kills SIGKILLs; healed itself $heals times; operator recoveries: $wedges;" \
	"from the last kill until serving: $(ms_summary "$TEST_TMP/serve_ms")"
done_testing
