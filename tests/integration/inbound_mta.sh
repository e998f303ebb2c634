#!/bin/sh
# tests/integration/inbound_mta.sh - PKS mail through a real Exim into the
# real pksbridge, keys checked in the real GnuPG keyring (the default
# gnupg:<spool_dir>/gnupg key database), set up as docs/WIRING.md
# recommends: an /etc/aliases-style pipe run as a dedicated user that owns
# a setgid, group-shared spool, with an operator in that group.
#
#   1. delivery: exim logs it completed, the key is in the keyring, the
#      entry is done (seen by the operator), spool files are group-shared
#   2. exit 75: a broken config, a missing spool, an unwritable spool, bad
#      arguments before and after the command name: exim defers, logs our
#      error text; after the fix a queue run delivers.  Nothing bounces.
#   3. the MTA-facing rules: silent on success, stdin read to EOF (also on
#      failure, also beyond max_message_size), only 0 or 75
#   4. 20 mails at once: exim delivers in parallel, all 20 keys arrive
#   5. the other wiring WIRING.md allows: the pipe as nobody with the
#      spool's group, writing into the same spool and keyring
. "$(dirname "$0")/../lib.sh"
. "$TOP/tests/lib/mta.sh"
. "$TOP/tests/lib/pksbridge.sh"

need_cmd exim4 curl gpg || done_testing
pb_setup || done_testing
DEBIAN_KEYRING=/usr/share/keyrings/debian-keyring.gpg
check "Debian's keyring is installed (real keys for the parallel test)" \
	test -s "$DEBIAN_KEYRING" || done_testing

# --- fixtures ---------------------------------------------------------------
S=$TEST_TMP/spool		# the recommended setup
S2=$TEST_TMP/spool-missing	# created only after exim deferred to it
S3=$TEST_TMP/spool-root		# exists, but the pipe user cannot write it
C=$TEST_TMP/pksbridge.conf
pb_spool "$S"
pb_conf "$C" "$S"
pb_conf "$TEST_TMP/bad.conf" "$S" "bogus_key: 1"
pb_conf "$TEST_TMP/nospool.conf" "$S2"
mkdir -p "$S3" && chmod 2770 "$S3"	# root:root, as if chown was forgotten
pb_conf "$TEST_TMP/rootspool.conf" "$S3"
K=$S/gnupg			# the default key database of $C

# 24 real keys from Debian's keyring, small (export-minimal), one file
# each: the whole keyring is read once, then a small one for each export.
dk=$TEST_TMP/debkeys
mkdir -p "$dk/big" "$dk/small" && chmod 700 "$dk/big" "$dk/small"
echo no-autostart >"$dk/big/gpg.conf"
echo no-autostart >"$dk/small/gpg.conf"
gpg --homedir "$dk/big" --no-default-keyring --keyring "$DEBIAN_KEYRING" \
	--with-colons --list-keys 2>/dev/null |
	awk -F: '$1 == "pub" { p = 1 } $1 == "fpr" && p { print $10; p = 0 }' |
	awk 'NR % 37 == 1' | head -n 24 >"$dk/fprs"
gpg --homedir "$dk/big" --no-default-keyring --keyring "$DEBIAN_KEYRING" \
	--export-options export-minimal --export $(cat "$dk/fprs") 2>/dev/null |
	gpg --homedir "$dk/small" --batch --import 2>/dev/null
for f in $(cat "$dk/fprs"); do
	gpg --homedir "$dk/small" --armor --export "$f" >"$dk/$f.asc" 2>/dev/null
done
nk=0
for f in $(cat "$dk/fprs"); do [ -s "$dk/$f.asc" ] && nk=$((nk + 1)); done
check_eq "24 Debian keys exported, one file each" "$nk" 24
head -n 20 "$dk/fprs" >"$dk/parallel"
spare=$(sed -n 21p "$dk/fprs")		# in the oversized mails
k22=$(sed -n 22p "$dk/fprs")		# direct success
k23=$(sed -n 23p "$dk/fprs")		# the 1.5 MB mail through exim
k24=$(sed -n 24p "$dk/fprs")		# direct, as nobody

aliases=$TEST_TMP/aliases
mta_alias "$aliases" pgp-public-keys "$PB_BIN" -c "$C" ingest
mta_alias "$aliases" pks-badconf "$PB_BIN" -c "$TEST_TMP/bad.conf" ingest
mta_alias "$aliases" pks-nospool "$PB_BIN" -c "$TEST_TMP/nospool.conf" ingest
mta_alias "$aliases" pks-rootspool "$PB_BIN" -c "$TEST_TMP/rootspool.conf" ingest
mta_alias "$aliases" pks-badarg "$PB_BIN" -c "$C" ingest --bogus
mta_alias "$aliases" pks-badopt "$PB_BIN" --bogus -c "$C" ingest
mta_alias "$aliases" pks-nofile "$PB_BIN" -c "$C" ingest -c

# The pipe runs as the dedicated user.  (Exim cannot log a pipe's output
# on success in this config: log_output excludes log_fail_output.  Part 3
# checks the silence directly, in Exim's environment.)
MTA_PIPE_USER=$PB_USER
MTA_PIPE_GROUP=$PB_GROUP
port=$(free_port)
mta_start "$TEST_TMP/exim" "$port" "$aliases" || done_testing
ML=$TEST_TMP/exim/log/mainlog

# send NAME MAIL - submit MAIL to NAME@bridge.test; sets ID (empty on failure).
send() {
	ID=$(mta_send peer@pks.example "$1@bridge.test" "$2")
	[ -n "$ID" ] && mta_wait "$ID"
}

# --- 1. the recommended setup: delivered ------------------------------------
m=$(pb_mail "$TEST_TMP/m1" incremental "$TEST_DATA/keys/alice.asc")
check "1: exim accepts the mail and ends its delivery attempt" \
	send pgp-public-keys "$TEST_TMP/m1"
check "1: exim delivers to the pipe (=>)" \
	mta_log_grep "$ID => \|$PB_BIN -c $C ingest <pgp-public-keys@bridge\.test>"
check "1: exim logs the message Completed" mta_log_grep "$ID Completed"
check_eq "1: nothing is left in exim's queue" "$(mta_queue_count)" 0
check "1: alice's key is in the gnupg keyring (gpg --list-keys)" \
	pb_has_key "$K" "$(pb_fpr alice)"
check_eq "1: the operator (group member) sees the entry done" \
	"$(pb_state "$C" "$m")" done
pb_entry "$C" "$m" >"$TEST_TMP/e1"
check_grep "1: the entry lists alice's fingerprint" "$(pb_fpr alice)" "$TEST_TMP/e1"
check_eq "1: every spool file belongs to the pipe user and the group" \
	"$(find "$S" ! -user "$PB_USER" -o ! -group "$PB_GROUP")" ""
check_eq "1: the Berkeley DB files are 0660 (group-shared, not others)" \
	"$(find "$S" -maxdepth 1 -type f ! -perm 0660)" ""
check_eq "1: every directory is 2770 (setgid, group-shared)" \
	"$(find "$S" -type d ! -perm 2770)" ""
check_eq "1: nothing in the spool is open to others" \
	"$(find "$S" -perm /o=rwx)" ""
check "1: the keyring is group read-write" test -n \
	"$(find "$K/pubring.kbx" -perm -0660)"

# --- 2. exit 75: exim defers, logs why; fixed, a queue run delivers ---------
# NAME:KEY:CONF:SPOOL:LOG_ERE - one broken setup each.
cases="
badconf:carol:$TEST_TMP/bad.conf:$S:unknown key .bogus_key
nospool:alice:$TEST_TMP/nospool.conf:$S2:spool_dir $S2: No such file
rootspool:alice:$TEST_TMP/rootspool.conf:$S3:$S3.*Permission denied
badarg:erin-revoked:$C:$S:bad arguments
badopt:bob:$C:$S:unknown option --bogus
nofile:dave:$C:$S:-c needs a file name
"
erin=C7BCF106FC0A9E678D980041ECF15A4680969277
echo "erin-revoked	$erin" >"$TEST_TMP/fprs"
cat "$TEST_DATA/keys/fingerprints.txt" >>"$TEST_TMP/fprs"
kfpr() { awk -v n="$1" '$1 == n { print $2 }' "$TEST_TMP/fprs"; }
ndefer=0
while IFS=: read -r name key conf spool ere <&3; do
	[ -n "$name" ] || continue
	msgid=$(pb_mail "$TEST_TMP/$name.eml" incremental "$TEST_DATA/keys/$key.asc")
	echo "$msgid" >"$TEST_TMP/$name.msgid"
	check "2 $name: exim accepts the mail and ends its delivery attempt" \
		send "pks-$name" "$TEST_TMP/$name.eml"
	echo "$ID" >"$TEST_TMP/$name.id"
	check "2 $name: exim defers on exit 75" \
		mta_log_grep "$ID == .*<pks-$name@bridge\.test> .* defer .*returned 75"
	# log_defer_output (tests/lib/mta.sh): the first line we printed.
	check "2 $name: exim's log has pksbridge's reason" \
		mta_log_grep "$ID <.*>: pksb_pipe transport output: .*temporary failure, mail deferred: .*$ere"
	ndefer=$((ndefer + 1))
	check_eq "2 $name: the mail waits in exim's queue" \
		"$(mta_queue_count)" "$ndefer"
done 3<<EOF
$cases
EOF
check_rc "2: the key of the broken-config mail is not in the keyring yet" 1 \
	pb_has_key "$K" "$(kfpr carol)"

# The fixes an operator makes.
pb_conf "$TEST_TMP/bad.conf" "$S"
pb_spool "$S2"
chown "$PB_USER:$PB_GROUP" "$S3"
sed -i 's/ ingest --bogus"/ ingest"/; s/ --bogus -c / -c /; s/ ingest -c"/ ingest"/' \
	"$aliases"
check "2: a queue run after the fixes" mta_run_queue
check_eq "2: exim's queue is empty" "$(mta_queue_count)" 0
while IFS=: read -r name key conf spool ere <&3; do
	[ -n "$name" ] || continue
	ID=$(cat "$TEST_TMP/$name.id")
	check "2 $name: delivered after the fix (Completed)" \
		mta_log_grep "$ID Completed"
	check "2 $name: $key's key is in $(basename "$spool")/gnupg" \
		pb_has_key "$spool/gnupg" "$(kfpr "$key")"
	check_eq "2 $name: its entry is done" \
		"$(pb_state "$conf" "$(cat "$TEST_TMP/$name.msgid")")" done
done 3<<EOF
$cases
EOF

# --- 3. MTA-facing rules ------------------------------------------------------
# feed FILE OUT COMMAND... - COMMAND with FILE on stdin through a pipe;
# stdout to OUT.out, stderr to OUT.err; OUT.wrc gets the writer's status,
# which is 0 only if the command read everything.  Returns COMMAND's status.
feed() {
	_fd_in=$1
	_fd_out=$2
	shift 2
	{ cat "$_fd_in"; echo $? >"$_fd_out.wrc"; } | "$@" >"$_fd_out.out" 2>"$_fd_out.err"
}
# as_pipe COMMAND... - COMMAND as the pipe user, in the environment Exim
# gives a pipe (spec 29.4: PATH /bin:/usr/bin, the user's HOME, ...).
as_pipe() {
	pb_as "$PB_USER" env -i PATH=/bin:/usr/bin HOME=/nonexistent \
		USER="$PB_USER" LOGNAME="$PB_USER" LOCAL_PART=pgp-public-keys \
		DOMAIN=bridge.test SENDER=peer@pks.example \
		RECIPIENT=pgp-public-keys@bridge.test "$@"
}

big=$(pb_mail "$TEST_TMP/big.eml" incremental "$dk/$k23.asc" 1572864)
huge=$(pb_mail "$TEST_TMP/huge.eml" incremental "$dk/$spare.asc" 3145728)
check "3: the large mail is over 1.5 MB" \
	test "$(wc -c <"$TEST_TMP/big.eml")" -gt 1572864
check "3: exim accepts a 1.5 MB mail and ends its delivery attempt" \
	send pgp-public-keys "$TEST_TMP/big.eml"
check "3: ... Completed" mta_log_grep "$ID Completed"
check_eq "3: ... its entry is done" "$(pb_state "$C" "$big")" done
check "3: ... its key is in the keyring" pb_has_key "$K" "$k23"
check "3: exim accepts a 3 MB mail (over max_message_size 2M) and delivers" \
	send pgp-public-keys "$TEST_TMP/huge.eml"
check "3: ... Completed" mta_log_grep "$ID Completed"
check_eq "3: ... its entry is quarantined" "$(pb_state "$C" "$huge")" quarantined
pb_entry "$C" "$huge" >"$TEST_TMP/e3"
check_grep "3: ... with the size as the reason" \
	'"last_error":"message of [0-9]+ bytes exceeds max_message_size' "$TEST_TMP/e3"
check_rc "3: ... and its key is not delivered" 1 pb_has_key "$K" "$spare"

d=$TEST_TMP/direct
mkdir -p "$d" && chmod 755 "$d"
pb_mail "$TEST_TMP/big2.eml" incremental "$dk/$k22.asc" \
	1572864 >"$TEST_TMP/big2.id"
check_rc "3: direct, success: exit 0" 0 \
	feed "$TEST_TMP/big2.eml" "$d/ok" as_pipe "$PB_BIN" -c "$C" ingest
check_eq "3: direct, success: stdin read to EOF" "$(cat "$d/ok.wrc")" 0
check_eq "3: direct, success: nothing on stdout or stderr" \
	"$(cat "$d/ok.out" "$d/ok.err")" ""
check_eq "3: direct, success: entry done" \
	"$(pb_state "$C" "$(cat "$TEST_TMP/big2.id")")" done
huge2=$(pb_mail "$TEST_TMP/huge2.eml" incremental "$dk/$spare.asc" 3145728)
check_rc "3: direct, over max_message_size: exit 0" 0 \
	feed "$TEST_TMP/huge2.eml" "$d/huge" as_pipe "$PB_BIN" -c "$C" ingest
check_eq "3: direct, over max_message_size: stdin read to EOF" \
	"$(cat "$d/huge.wrc")" 0
check_eq "3: direct, over max_message_size: silent" \
	"$(cat "$d/huge.out" "$d/huge.err")" ""
check_eq "3: direct, over max_message_size: quarantined" \
	"$(pb_state "$C" "$huge2")" quarantined

W=$TEST_TMP/spool-ww
pb_spool "$W" && chmod 2777 "$W"
pb_conf "$TEST_TMP/ww.conf" "$W"
pb_conf "$TEST_TMP/badval.conf" "$S" "max_message_size: lots"
# NAME|ERE|ARGS - failures that must exit 75 (fields split on |).
fails="
ingest --bogus|bad arguments|-c $C ingest --bogus
bad config value|max_message_size|-c $TEST_TMP/badval.conf ingest
world-writable spool|world-writable|-c $TEST_TMP/ww.conf ingest
missing config file|nonexistent|-c $TEST_TMP/nonexistent.conf ingest
unknown option before ingest|--bogus|--bogus -c $C ingest
-c without a file after ingest|-c needs a file name|-c $C ingest -c
bad --origin|bad arguments|-c $C ingest --origin=mars
"
old_ifs=$IFS
IFS='
'
for f in $fails; do
	IFS=$old_ifs
	name=${f%%|*}
	rest=${f#*|}
	ere=${rest%%|*}
	args=${rest#*|}
	check_rc "3: $name: exit 75" 75 \
		feed "$TEST_TMP/big.eml" "$d/f" as_pipe "$PB_BIN" $args
	check_eq "3: $name: stdin read to EOF" "$(cat "$d/f.wrc")" 0
	check_grep "3: $name: stderr says why" "$ere" "$d/f.err"
	check_eq "3: $name: nothing on stdout" "$(cat "$d/f.out")" ""
	IFS='
'
done
IFS=$old_ifs
check "3: nothing was created in the world-writable spool" \
	test -z "$(ls -A "$W")"
check_rc "3: --help exits 0" 0 "$PB_BIN" --help
check_grep "3: ... and prints the usage on stdout" '^usage: pksbridge' \
	"$TEST_TMP/.check.out"
check_rc "3: ingest --help exits 0" 0 "$PB_BIN" ingest --help
check_grep "3: ... and prints ingest's usage" '^usage: pksbridge .*ingest' \
	"$TEST_TMP/.check.out"

# --- 4. 20 mails at once --------------------------------------------------------
i=0
for f in $(cat "$dk/parallel"); do
	i=$((i + 1))
	pb_mail "$TEST_TMP/p$i.eml" incremental "$dk/$f.asc" >"$TEST_TMP/p$i.msgid"
done
start=$(date +%s)
i=0
senders=
while [ $i -lt 20 ]; do
	i=$((i + 1))
	(mta_send peer@pks.example pgp-public-keys@bridge.test \
		"$TEST_TMP/p$i.eml" >"$TEST_TMP/p$i.id" 2>&1) &
	senders="$senders $!"
done
wait $senders	# not a bare wait: that would wait for exim as well
# all_completed N - true once exim logged Completed for N of the 20.
all_completed() {
	_ac=0
	for _ac_i in $(seq 1 20); do
		_ac_id=$(cat "$TEST_TMP/p$_ac_i.id")
		[ -n "$_ac_id" ] && grep -q " $_ac_id Completed" "$ML" && _ac=$((_ac + 1))
	done
	[ "$_ac" -ge "$1" ]
}
wait_for "4: exim completes all 20 deliveries" 60 all_completed 20
echo "# 4: 20 parallel deliveries took $(($(date +%s) - start)) s"
# Parallel: some delivery started before another one had finished.
# in_flight - the most of the 20 that exim had received but not yet
# completed at one time (by the order of its log lines).
in_flight() {
	awk -v ids="$(cat "$TEST_TMP"/p*.id | tr '\n' ' ')" '
	BEGIN { n = split(ids, a, " "); for (i = 1; i <= n; i++) want[a[i]] = 1 }
	{ for (i = 1; i < NF; i++) if ($i in want) break
	  if (!($i in want)) next
	  if ($(i + 1) == "<=") cur++
	  else if ($(i + 1) == "Completed") cur--
	  if (cur > max) max = cur }
	END { print max + 0 }' "$ML"
}
echo "# 4: at most $(in_flight) of the 20 in flight at once"
check "4: exim had several of them in flight at once" test "$(in_flight)" -ge 2
check_eq "4: exim's queue is empty" "$(mta_queue_count)" 0
ndone=0
nstate=
for i in $(seq 1 20); do
	st=$(pb_state "$C" "$(cat "$TEST_TMP/p$i.msgid")")
	[ "$st" = done ] && ndone=$((ndone + 1))
	nstate="$nstate $st"
done
# done by the filter itself: no runner runs here, and concurrent gpg
# imports must not fail each other (they did: see keydb_gnupg.c).
check_eq "4: 20 entries are done, all by the inline delivery" "$ndone" 20 ||
	echo "# 4: states:$nstate"
nkeys=$(pb_as "$PB_USER" gpg --homedir "$K" --with-colons --list-keys \
	$(cat "$dk/parallel") 2>/dev/null | grep -c '^pub:')
check_eq "4: all 20 keys are in the keyring" "$nkeys" 20

# --- 5. the pipe as nobody, with the spool's group --------------------------
# A key whose owner leaves the keyserver no-modify flag unset (pgpgen;
# GnuPG 2.2 sets it on every key it makes, and then the key policy lets
# no third-party certification through: carol-signed's would not pass),
# delivered by the pksbridge user's pipe; then the same key with one third-party
# certification: new packets for a key the pksbridge user imported.
GEN="python3 $TOP/tests/tools/pgpgen.py"
$GEN shape flood --seed mta5 --certs 0 --out "$TEST_TMP/mta5.asc" \
	2>"$TEST_TMP/mta5.fpr" >/dev/null
$GEN shape flood --seed mta5 --certs 1 --out "$TEST_TMP/mta5-signed.asc" \
	2>/dev/null >/dev/null
MTA5=$(cat "$TEST_TMP/mta5.fpr")
MTA5_CERTIFIER=$(gpg --list-packets "$TEST_TMP/mta5-signed.asc" 2>/dev/null |
	awk '/^:signature packet:/ { for (i = 1; i <= NF; i++) if ($i == "keyid") k = $(i + 1) }
		/sigclass 0x10/ { print k }' | head -n 1)
m5a=$(pb_mail "$TEST_TMP/m5a.eml" incremental "$TEST_TMP/mta5.asc")
check "5: mta5 (no-modify unset) through the $PB_USER pipe" \
	send pgp-public-keys "$TEST_TMP/m5a.eml"
check_eq "5: ... delivered into the keyring" "$(pb_state "$C" "$m5a")" done
check "5: exim stops" mta_stop
MTA_PIPE_USER=nobody
mta_start "$TEST_TMP/exim" "$port" "$aliases" || done_testing
# has_sig FPR SIGNER_KEYID - gpg lists a certification by SIGNER on FPR.
has_sig() {
	pb_as "$PB_USER" gpg --homedir "$K" --with-colons --list-sigs "$1" \
		2>/dev/null | grep -q "^sig:[^:]*:[^:]*:[^:]*:$2:"
}
check_rc "5: before: mta5 (no-modify unset) has no third-party certification in the keyring" 1 \
	has_sig "$MTA5" "$MTA5_CERTIFIER"
m5=$(pb_mail "$TEST_TMP/m5.eml" incremental "$TEST_TMP/mta5-signed.asc")
check "5: nobody:$PB_GROUP: exim accepts the mail and ends its attempt" \
	send pgp-public-keys "$TEST_TMP/m5.eml"
check "5: nobody:$PB_GROUP: exim logs Completed" mta_log_grep "$ID Completed"
check_eq "5: nobody:$PB_GROUP: the entry is done (key check and import ran)" \
	"$(pb_state "$C" "$m5")" done
check "5: nobody:$PB_GROUP: the certification is in the keyring" \
	has_sig "$MTA5" "$MTA5_CERTIFIER"
pb_mail "$TEST_TMP/m5b.eml" incremental "$dk/$k24.asc" >"$TEST_TMP/m5b.id"
check_rc "5: direct, as nobody:$PB_GROUP: exit 0" 0 \
	feed "$TEST_TMP/m5b.eml" "$d/nobody" setpriv --reuid=nobody \
	--regid="$PB_GROUP" --clear-groups env -i PATH=/bin:/usr/bin \
	HOME=/nonexistent "$PB_BIN" -c "$C" ingest
check_eq "5: direct, as nobody:$PB_GROUP: silent (no gpg ownership warning)" \
	"$(cat "$d/nobody.out" "$d/nobody.err")" ""
check_eq "5: direct, as nobody:$PB_GROUP: entry done" \
	"$(pb_state "$C" "$(cat "$TEST_TMP/m5b.id")")" done
check_eq "5: files nobody created still belong to the group, 0660" \
	"$(find "$S" -maxdepth 1 -type f ! -group "$PB_GROUP" -o -maxdepth 1 -type f ! -perm 0660)" ""
check_eq "5: the keyring stays group read-write" \
	"$(find "$K/pubring.kbx" -perm -0660)" "$K/pubring.kbx"
check_rc "5: the operator can run the queue runner" 0 \
	pb_as "$PB_OPER" "$PB_BIN" -c "$C" run --once
check_rc "5: ... and ask for stats" 0 \
	pb_as "$PB_OPER" "$PB_BIN" -c "$C" queue stats --json

# --- never a bounce -------------------------------------------------------------
check_eq "no delivery ever failed permanently (no ** in exim's log)" \
	"$(grep -c ' \*\* ' "$ML")" 0
check_eq "exim never generated a bounce (no <= <>)" "$(grep -c ' <= <> ' "$ML")" 0
check "exim's paniclog stays empty" test ! -s "$TEST_TMP/exim/log/paniclog"
check "exim stops" mta_stop
check_eq "no process of this test is left running" "$(_t_doomed)" ""
done_testing
