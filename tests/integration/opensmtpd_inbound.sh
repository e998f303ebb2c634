#!/bin/sh
# tests/integration/opensmtpd_inbound.sh - PKS mail through a real
# OpenSMTPD (Debian's opensmtpd 6.8, in a Debian 12 of its own:
# tests/lib/mtaroot.sh) into the real pksbridge, wired as
# contrib/opensmtpd/smtpd.conf says, keys checked with the real gpg:
#
#   1. a broken config: pksbridge exits 75 (having read the whole 300 KB
#      mail), OpenSMTPD keeps it queued as a temporary failure; fixed,
#      "smtpctl schedule all" delivers it, as the table's user
#   2. OpenSMTPD's rule that a command must read all of its input: /bin/true
#      on the same mail is a temporary failure ("mda exited prematurely"),
#      so 1's delivery shows pksbridge read to EOF; and so it does for a
#      3 MB mail over max_message_size, which it quarantines
#   3. what contrib says of OpenSMTPD: the mda command runs through a shell
#      (a quoted argument arrives as one), /etc/aliases commands run as
#      OpenSMTPD's own user
. "$(dirname "$0")/../lib.sh"
. "$TOP/tests/lib/mtaroot.sh"
. "$TOP/tests/lib/mta.sh"
. "$TOP/tests/lib/opensmtpd.sh"
. "$TOP/tests/lib/pksbridge.sh"

need_cmd curl gpg || done_testing
pb_setup || done_testing

S=$TEST_TMP/spool
mkdir -p "$S" && chown "root:$PB_GROUP" "$S" && chmod 2770 "$S"
C=$TEST_TMP/pksbridge.conf
pb_conf "$C" "$S"
pb_conf "$TEST_TMP/bad.conf" "$S" "bogus_key: 1"
LIVE=$TEST_TMP/live.conf
cp "$TEST_TMP/bad.conf" "$LIVE"
rec=$TEST_TMP/rec
standin_setup "$rec" 0
sys=$TEST_TMP/sys
standin_setup "$sys" 0

O=$TEST_TMP/opensmtpd
mtaroot_prepare "$O"
# contrib's table, for the test's pksbridge user, and addresses of the
# test's own for the other commands.
mkdir -p "$O/upper/etc/smtpd"
sed "s/ pksbridge\$/ $PB_USER/" "$TOP/contrib/opensmtpd/pksbridge-aliases" \
	>"$O/upper/etc/smtpd/pksbridge-aliases"
printf '%s\n' "pks-noread: $PB_USER" "pks-args: $PB_USER" \
	>>"$O/upper/etc/smtpd/pksbridge-aliases"
cp "$MTAROOT_CACHE"/opensmtpd-*/etc/aliases "$O/upper/etc/aliases" 2>/dev/null ||
	: >"$O/upper/etc/aliases"
printf 'pks-sysalias: "|%s %s"\n' "$STANDIN" "$sys" >>"$O/upper/etc/aliases"
# contrib's lines, with this test's binary, config and domain.
sed -e "s|/usr/local/sbin/pksbridge|$PB_BIN|" \
	-e "s|/usr/local/etc/pksbridge.conf|$LIVE|" \
	-e "s|@keys\\.example\\.org\"|@$OS_DOMAIN\"|" \
	"$TOP/contrib/opensmtpd/smtpd.conf" >"$TEST_TMP/lines"
check_eq "contrib's smtpd.conf, adapted: its table, action and match lines" \
	"$(grep -c '^\(table\|action\|match\) ' "$TEST_TMP/lines")" 3
cat >>"$TEST_TMP/lines" <<EOF
action "noread" mda "/bin/true" alias <pksbridge-aliases>
action "args" mda "$STANDIN $rec 'one arg'" alias <pksbridge-aliases>
match from any for rcpt-to "pks-noread@$OS_DOMAIN" action "noread"
match from any for rcpt-to "pks-args@$OS_DOMAIN" action "args"
EOF

port=$(free_port)
os_start "$O" "$port" "$TEST_TMP/lines" || done_testing

# send NAME MAIL - submit MAIL to NAME@bridge.test and wait for the first
# delivery attempt; sets ID (empty on failure).
send() {
	ID=$(os_send peer@pks.example "$1@$OS_DOMAIN" "$2")
	[ -n "$ID" ] && os_wait "$ID"
}

# --- 1. a broken config: 75, queued, delivered once fixed -------------------
m1=$(pb_mail "$TEST_TMP/m1" incremental "$TEST_DATA/keys/alice.asc" 307200)
check "1: broken config: smtpd accepts the mail and tries to deliver it" \
	send pgp-public-keys "$TEST_TMP/m1"
ID1=$ID
check_eq "1: ... a temporary failure" "$(os_result "$ID1")" TempFail
check "1: ... with pksbridge's reason in smtpd's log" \
	grep -q "evpid=$ID1.*result=TempFail stat=Error (temporary failure: \"pksbridge/ingest: temporary failure, mail deferred: .*unknown key" \
	"$OS_LOG"
check_rc "1: ... not for unread input (pksbridge read it all)" 1 \
	grep -q "evpid=$ID1.*mda exited prematurely" "$OS_LOG"
check_eq "1: the mail stays queued" "$(os_queue_count)" 1
check_rc "1: alice's key is not in the keyring" 1 \
	pb_has_key "$S/gnupg" "$(pb_fpr alice)"
cp "$C" "$LIVE"
check "1: the config fixed: smtpctl schedule all" os_schedule
check "1: ... smtpd tries again" os_wait "$ID1" 2
check_eq "1: ... and delivers it" "$(os_result "$ID1")" Ok
check "1: ... as the table's user" \
	grep -q "evpid=$ID1.* user=$PB_USER .*result=Ok" "$OS_LOG"
check_eq "1: nothing is left in the queue" "$(os_queue_count)" 0
check "1: alice's key is in the keyring" pb_has_key "$S/gnupg" "$(pb_fpr alice)"
check_eq "1: the entry is done" "$(pb_state "$C" "$m1")" done
check "1: pksbridge ran as the table's user (it created every spool file)" \
	pb_created_by "$S" "$PB_USER"

# --- 2. input read to EOF ----------------------------------------------------
check "2: /bin/true as the command, on the same mail: smtpd tries" \
	send pks-noread "$TEST_TMP/m1"
check_eq "2: ... a temporary failure" "$(os_result "$ID")" TempFail
check "2: ... because it did not read the mail" \
	grep -q "evpid=$ID.*mda exited prematurely" "$OS_LOG"
os_run smtpctl remove "$ID" >/dev/null 2>&1
huge=$(pb_mail "$TEST_TMP/huge" incremental "$TEST_DATA/keys/bob.asc" 3145728)
check "2: a 3 MB mail, over max_message_size: smtpd tries" \
	send pgp-public-keys "$TEST_TMP/huge"
check_eq "2: ... and delivers it (pksbridge read it all)" "$(os_result "$ID")" Ok
check_eq "2: ... its entry is quarantined" "$(pb_state "$C" "$huge")" quarantined

# --- 3. what contrib/opensmtpd/smtpd.conf says of OpenSMTPD -------------------
check "3: a stand-in as the command: delivered" send pks-args "$TEST_TMP/m1"
check_eq "3: ... it was run through a shell: 'one arg' arrives as one argument" \
	"$(cat "$(standin_last "$rec").args" 2>/dev/null)" "one arg"
check "3: a command in /etc/aliases: delivered" send pks-sysalias "$TEST_TMP/m1"
check_eq "3: ... run as OpenSMTPD's own user, not the recipient's" \
	"$(cut -d' ' -f1 "$(standin_last "$sys").cred" 2>/dev/null)" \
	"uid=$(os_run id -u opensmtpd)(opensmtpd)"
check "3: ... and smtpd says so" \
	grep -q 'commands executed from aliases run with opensmtpd privileges' "$OS_LOG"

check_eq "smtpd bounced nothing (no PermFail)" \
	"$(grep -c 'result=PermFail' "$OS_LOG")" 0
check_eq "the queue is empty" "$(os_queue_count)" 0
check "smtpd stops" os_stop
check "its system's holder stops" mtaroot_leave
check_eq "no process of this test is left running" "$(_t_doomed)" ""
done_testing
