# fault_fullfs.sh - the spool on a full file system: a small tmpfs mounted
# for the test (unmounted at exit, whatever happens).
#
#   1. a spool that works, the runner running as a daemon;
#   2. the file system filled up: ingest and the sendmail intake exit 75
#      (having read the whole mail), saying why; nothing crashes (no
#      SIGBUS from a mapped Berkeley DB region: see spool.c back_regions),
#      the runner keeps running, the queue can still be listed;
#   3. the tmpfs grown (mount -o remount,size=): the MTA's retries go in,
#      the runner delivers them, db_verify finds no damage;
#   4. a spool created for the first time on a full file system: 75, then
#      it works once there is space.
. "$(dirname "$0")/../lib.sh"
need_root "the test mounts a tmpfs" || done_testing
need_cmd gpg db5.3_verify mount umount timeout || done_testing

PB=$TOP/${BUILD:-build}/pksbridge
FS=$TEST_TMP/fs
mkdir "$FS"
if ! mount -t tmpfs -o size=32m,mode=0755 pb-fullfs "$FS"; then
	not_ok "mount -t tmpfs on $FS"
	done_testing
fi
# Unmount at exit: after lib.sh has killed whatever still uses it.
trap '_ff_rc=$?; _t_kill_all; umount "$FS" 2>/dev/null || umount -l "$FS"; (exit $_ff_rc); _t_exit' EXIT
SPOOL=$FS/spool
CONF=$TEST_TMP/pb.conf
RING=$TEST_TMP/keyring
mkdir -m 700 "$SPOOL" "$FS/spool2"
cat >"$CONF" <<EOF
spool_dir: $SPOOL
keydb: gnupg:$RING
retry_schedule: 1s
log: stderr
mailsync_file: $TEST_TMP/mailsync
from_addr: pgp-public-keys@bridge.test
EOF
echo "peer@pks.example" >"$TEST_TMP/mailsync"
sed "s|^spool_dir: .*|spool_dir: $FS/spool2|" "$CONF" >"$TEST_TMP/pb2.conf"
show_on_failure "$TEST_TMP/ingest.log" "$TEST_TMP/runner.log"

FPR_ALICE=$(awk '$1 == "alice" { print $2 }' "$TEST_DATA/keys/fingerprints.txt")
FPR_BOB=$(awk '$1 == "bob" { print $2 }' "$TEST_DATA/keys/fingerprints.txt")
FPR_CAROL=$(awk '$1 == "carol" { print $2 }' "$TEST_DATA/keys/fingerprints.txt")

# mail FILE ID KEY - a PKS mail padded to 300 KB (more than a pipe holds,
# so a filter that stopped reading early would be noticed).
mail() {
	{
		echo "From: pgp-public-keys@pks.example"
		echo "Subject: incremental"
		echo "Message-ID: <$2@pks.example>"
		echo
		cat "$TEST_DATA/keys/$3.asc"
		echo
		awk 'BEGIN { for (i = 0; i < 4800; i++) printf "%063d\n", i }'
	} >"$1"
}
mail "$TEST_TMP/a" full-a alice
mail "$TEST_TMP/b" full-b bob
mail "$TEST_TMP/c" full-c carol

# ingest CONF MAIL - exit status of ingest; "read" is appended to
# TEST_TMP/wrote.MAIL once the writer has handed over every byte.
ingest() {
	_in=$(basename "$2")
	rm -f "$TEST_TMP/wrote.$_in"
	{ cat "$2" && echo read >"$TEST_TMP/wrote.$_in"; } |
		timeout 90 "$PB" -c "$1" ingest 2>>"$TEST_TMP/ingest.log"
}

# 1. A working spool and runner.
check_rc "1: ingest with space: exit 0" 0 ingest "$CONF" "$TEST_TMP/a"
spawn_daemon "$TEST_TMP/runner.log" "$PB" -c "$CONF" run
RUNNER=$SPAWNED_PID
wait_for "1: the runner starts" 10 test -p "$SPOOL/wakeup"

# 2. Full.
dd if=/dev/zero of="$FS/filler" bs=64k >/dev/null 2>&1
check_eq "2: the file system is full" "$(df -P "$FS" | awk 'NR == 2 { print $4 }')" 0
: >"$TEST_TMP/ingest.log"
check_rc "2: ingest on a full file system exits 75" 75 ingest "$CONF" "$TEST_TMP/b"
check "2: ... after reading the whole mail" test -s "$TEST_TMP/wrote.b"
check_grep "2: ... saying why (No space left on device)" \
	'temporary failure, mail deferred: .*No space left on device' "$TEST_TMP/ingest.log"
check_rc "2: a second one too" 75 ingest "$CONF" "$TEST_TMP/c"
{
	echo "To: peer@pks.example"
	echo "From: sks@bridge.test"
	echo "Subject: incremental"
	echo
	cat "$TEST_DATA/keys/carol.asc"
} >"$TEST_TMP/out"
check_rc "2: the sendmail intake exits 75 too" 75 \
	sh -c "timeout 90 '$PB' -c '$CONF' sendmail -t -oi <'$TEST_TMP/out' 2>>'$TEST_TMP/ingest.log'"
# A process that died of SIGBUS inside Berkeley DB leaves the spool
# wedged: everything after would only wait out watchdogs.
check "2: nothing crashed (no \"fatal signal\", e.g. SIGBUS)" \
	sh -c "! grep -q 'fatal signal' '$TEST_TMP/ingest.log'" || done_testing
sleep 2	# the runner wakes every second (retry_schedule) and checkpoints
check "2: the runner is still running" kill -0 "$RUNNER"
check_rc "2: queue list works on a full file system" 0 \
	timeout 30 "$PB" -c "$CONF" queue list --all --json
check_eq "2: ... and shows the mail from before, and no other" \
	"$(timeout 30 "$PB" -c "$CONF" queue list --all --json | grep -c '"message_id":"full-')" 1

# 3. Space returns: the tmpfs grows.
check "3: mount -o remount,size=96m" mount -o remount,size=96m "$FS"
check_rc "3: the MTA's retry of mail b: exit 0" 0 ingest "$CONF" "$TEST_TMP/b"
check_rc "3: ... and of mail c: exit 0" 0 ingest "$CONF" "$TEST_TMP/c"
check_rc "3: ... and of the outbound mail" 0 \
	sh -c "timeout 90 '$PB' -c '$CONF' sendmail -t -oi <'$TEST_TMP/out'"
drained_in() {
	[ -z "$("$PB" -c "$CONF" queue list --json --direction inbound)" ]
}
wait_for "3: the runner delivers what is pending" 20 drained_in
have=$(gpg --homedir "$RING" --with-colons --list-keys 2>/dev/null |
	awk -F: '$1 == "pub" { w = 1 } $1 == "fpr" && w { print $10; w = 0 }' | sort | tr '\n' ' ')
want=$(printf '%s\n' "$FPR_ALICE" "$FPR_BOB" "$FPR_CAROL" | sort | tr '\n' ' ')
check_eq "3: the keyring has all three keys" "$have" "$want"
check "3: the runner is still running, never crashed" \
	sh -c "kill -0 $RUNNER && ! grep -Eq 'fatal|watchdog' '$TEST_TMP/runner.log'"
stop_daemon "$RUNNER"
check_spool_verified "$SPOOL" 3

# 4. A spool created on a full file system.
dd if=/dev/zero of="$FS/filler2" bs=64k >/dev/null 2>&1
: >"$TEST_TMP/ingest.log"
check_rc "4: the first ingest into a new spool on a full file system exits 75" 75 \
	ingest "$TEST_TMP/pb2.conf" "$TEST_TMP/a"
check "4: ... without crashing" sh -c "! grep -q 'fatal signal' '$TEST_TMP/ingest.log'"
rm -f "$FS/filler" "$FS/filler2"
check_rc "4: with space again, it goes in" 0 ingest "$TEST_TMP/pb2.conf" "$TEST_TMP/a"
check_eq "4: ... as one entry" \
	"$("$PB" -c "$TEST_TMP/pb2.conf" queue list --all --json | grep -c '"message_id":"full-a')" 1
done_testing
