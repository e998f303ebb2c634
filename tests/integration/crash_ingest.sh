# crash_ingest.sh - nothing that ingest acknowledged is lost, whatever
# moment a process is killed at.
#
# CRASH_MAILS mails (default 40), each carrying a key no other mail of
# the run carries (tests/tools/pgpgen.py) and a real Debian key (used in
# turn, for real sizes), are ingested CRASH_PAR at a time (default 8)
# while SIGKILL hits random ingest processes after random delays.  Then
# the runner runs once (to finish what killed processes left), and: the
# entry every acknowledged ingest logged is done (by queue id); every
# mail whose ingest exited 0 has its own key in the GnuPG keyring
# (checked with gpg); every ingest exited only 0, 75 or by the signal,
# none crashed; no entry is left pending; and db_verify finds no damage.
. "$(dirname "$0")/../lib.sh"
need_cmd gpg db5.3_verify python3 || done_testing

PB=$TOP/${BUILD:-build}/pksbridge
KEYSPLIT=$TOP/${BUILD:-build}/tests/tools/keysplit
N=${CRASH_MAILS:-40}
PAR=${CRASH_PAR:-8}
SPOOL=$TEST_TMP/spool
RING=$TEST_TMP/keyring
mkdir -m 700 "$SPOOL" "$TEST_TMP/keys" "$TEST_TMP/ballast" "$TEST_TMP/mails" \
	"$TEST_TMP/rc" "$TEST_TMP/out"
cat >"$TEST_TMP/pb.conf" <<EOF
spool_dir: $SPOOL
keydb: gnupg:$RING
retry_schedule: 1s
log: stderr
EOF
show_on_failure "$TEST_TMP/ingest.log"

"$KEYSPLIT" /usr/share/keyrings/debian-keyring.gpg "$TEST_TMP/ballast" "$N" 100 \
	>"$TEST_TMP/ballast.txt"
unique_keys "$N" "$TEST_TMP/keys" crash-ingest >"$TEST_TMP/keys.txt"
check_eq "a key of its own for each of the $N mails" \
	"$(cut -d' ' -f1 "$TEST_TMP/keys.txt" | sort -u | wc -l | tr -d ' ')" "$N"
pks_key_mails "$TEST_TMP/keys.txt" "$TEST_TMP/mails" crash "$TEST_TMP/ballast.txt"

# ingest_one N - one ingest, SIGKILLed with probability 1/3 after 0-60 ms.
# A hang is a failure (status 124), not something to wait out: the
# filter's own watchdog exits 75 60 s after it has read the mail (an MTA's
# limit is far longer: Exim's pipe timeout is an hour), so 90 s is a hang.
ingest_one() {
	timeout 90 "$PB" -c "$TEST_TMP/pb.conf" ingest <"$TEST_TMP/mails/$1" \
		>"$TEST_TMP/out/$1" 2>&1 &
	_pid=$!
	if [ $(($(od -An -N1 -tu1 /dev/urandom) % 3)) -eq 0 ]; then
		# A third at once (before the commit), the rest within 60 ms.
		[ $(($(od -An -N1 -tu1 /dev/urandom) % 3)) -eq 0 ] ||
			sleep "$(printf "0.%03d" $(($(od -An -N1 -tu1 /dev/urandom) % 60)))"
		# The whole process group (timeout(1) leads one): the
		# ingest itself, as an MTA's time limit kills it.
		if kill -KILL "-$_pid" 2>/dev/null || kill -KILL "$_pid" 2>/dev/null; then
			date +%s%3N >>"$TEST_TMP/kills"
		fi
	fi
	wait "$_pid"
	echo $? >"$TEST_TMP/rc/$1"
}

# A SIGKILL that lands while its victim holds one of the Berkeley DB
# environment's mutexes used to leave the spool wedged until an operator
# ran db5.3_recover; now it heals itself (pksbridge(8) SPOOL RECOVERY).
# Should a batch still end wedged, that is a failure: counted, and
# db5.3_recover run so that the suite can go on and report the rest.
LOGPOS=0
recoveries=0
wedged() {
	spool_wedged "$TEST_TMP/ingest.log" "$LOGPOS"
}
operator_recovery() {
	recoveries=$((recoveries + 1))
	not_ok "the spool healed itself (batch ending at mail $((i - 1)) needed db5.3_recover)" \
		"$(tail -c +$((LOGPOS + 1)) "$TEST_TMP/ingest.log" | grep -E 'watchdog|another process' | head -n 3)"
	timeout -s KILL 120 db5.3_recover -h "$SPOOL" >>"$TEST_TMP/recover.log" 2>&1
	LOGPOS=$(wc -c <"$TEST_TMP/ingest.log")
}
: >"$TEST_TMP/kills"
: >"$TEST_TMP/serve_ms"

t0=$(date +%s)
i=1
while [ $i -le "$N" ]; do
	j=0
	b0=$i
	while [ $j -lt "$PAR" ] && [ $i -le "$N" ]; do
		ingest_one $i &
		i=$((i + 1))
		j=$((j + 1))
	done
	wait
	# Each ingest wrote its own output (which names its queue id); the
	# batch's go into one log too, in mail order.
	while [ "$b0" -lt "$i" ]; do
		cat "$TEST_TMP/out/$b0" >>"$TEST_TMP/ingest.log"
		b0=$((b0 + 1))
	done
	wedged && operator_recovery
	# The time from this batch's last kill until a command works.
	last=$(sort -n "$TEST_TMP/kills" | tail -n 1)
	if [ -n "$last" ] && [ "$last" != "${prev_last:-}" ]; then
		serve_ms "$TEST_TMP/pb.conf" "$last" >>"$TEST_TMP/serve_ms"
		prev_last=$last
	fi
done
t_ingest=$(($(date +%s) - t0))
kills=$(wc -l <"$TEST_TMP/kills" | tr -d ' ')
check_eq "operator recoveries (db5.3_recover) needed" "$recoveries" 0
check "the spool served again within 10 s of every batch's last kill ($(ms_summary "$TEST_TMP/serve_ms"))" \
	test "$(ms_max "$TEST_TMP/serve_ms")" -le 10000
heals=$(grep -c ': recovered: ' "$TEST_TMP/ingest.log")

tally_rcs "$TEST_TMP/rc"
check_eq "ingest exits only 0, 75 or killed" "$bad" ""
check "no ingest crashed" sh -c "! grep -E '$CRASH_LINES' '$TEST_TMP/ingest.log'"
echo "# $acked of $N ingests exited 0, $killed were killed ($kills SIGKILLs), in ${t_ingest}s;" \
	"healed itself $heals times; operator recoveries: $recoveries;" \
	"from the last kill until serving: $(ms_summary "$TEST_TMP/serve_ms")"

# Finish what the killed ones left (their leases die with them) with the
# runner as an operator runs it, a daemon: hundreds of entries with large
# keys into a GnuPG keyring of a thousand and more keys can outlast one
# batch's time limit, and the daemon halves its batches until they go
# through (runner.c, adapt_batch), where each "run --once" would start
# again from the full size.
drained() {
	[ -z "$("$PB" -c "$TEST_TMP/pb.conf" queue list --json)" ]
}
spawn_daemon "$TEST_TMP/drain.log" "$PB" -c "$TEST_TMP/pb.conf" run
drainer=$SPAWNED_PID
show_on_failure "$TEST_TMP/drain.log"
# The budget grows with the suite.
wait_for "the runner delivers everything left after the crashes" $((60 + N / 5)) drained
stop_daemon "$drainer"
# By queue id: the entry each acknowledged ingest logged was delivered.
acked_ids "$TEST_TMP/rc" "$TEST_TMP/out" \
	's/^.*: \([0-9A-F]\{14\}\): from=<.*, status=.*$/\1/p' >"$TEST_TMP/acked.ids"
check_eq "every acknowledged ingest logged its entry" \
	"$(wc -l <"$TEST_TMP/acked.ids" | tr -d ' ')" "$acked"
"$PB" -c "$TEST_TMP/pb.conf" queue list --all --json >"$TEST_TMP/all.json"
check_eq "every acknowledged ingest's entry is done" \
	"$(lost_ids "$TEST_TMP/acked.ids" "$TEST_TMP/all.json" done | head -n 20)" ""
# By key, with gpg.
gpg --homedir "$RING" --with-colons --list-keys 2>/dev/null |
	awk -F: '$1 == "pub" { w = 1 } $1 == "fpr" && w { print $10; w = 0 }' >"$TEST_TMP/have"
lost=
for f in "$TEST_TMP"/rc/*; do
	n=$(basename "$f")
	[ "$(cat "$f")" = 0 ] || continue
	grep -qx "$(cat "$TEST_TMP/mails/$n.fpr")" "$TEST_TMP/have" || lost="$lost $n"
done
check_eq "every acknowledged mail's key is in the keyring" "$lost" ""
"$PB" -c "$TEST_TMP/pb.conf" queue list --json >"$TEST_TMP/pending"
check_eq "no entry left pending" "$(wc -l <"$TEST_TMP/pending" | tr -d ' ')" 0
check_spool_verified "$SPOOL"
done_testing
