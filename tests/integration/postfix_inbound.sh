#!/bin/sh
# tests/integration/postfix_inbound.sh - PKS mail through a real Postfix
# (Debian's postfix 3.7, in a Debian 12 of its own: tests/lib/mtaroot.sh)
# into the real pksbridge, keys checked in the real GnuPG keyring (the
# default gnupg:<spool_dir>/gnupg key database), every way of wiring that
# contrib/postfix, contrib/procmail and docs/WIRING.md describe:
#
#   1. /etc/aliases (root-owned): local(8) runs the pipe as default_privs,
#      nobody:nogroup; the key arrives, every spool file is nobody's; into
#      the recommended spool (2770 pksbridge:pksbridge) nobody cannot
#      write, and the mail is deferred
#   2. a full spool (a small tmpfs, filled): pksbridge exits 75, Postfix
#      defers with pksbridge's reason and bounces nothing; with space
#      again, postqueue -f delivers it
#   3. contrib/postfix/master.cf's pipe(8) transport, as written (flags,
#      user=, argv=), chosen by contrib/postfix/transport through main.cf's
#      transport_maps: a broken config defers with pksbridge's reason,
#      fixed it delivers, as the pksbridge user; the address must also be
#      a local recipient (contrib's "pgp-public-keys: root" alias) or
#      smtpd refuses it; what the flags add, and user=nobody:GROUP, seen by
#      a stand-in on copies of the transport line
#   4. contrib/postfix/pksbridge-aliases, an alias map owned by the
#      pksbridge user (main.cf's second way): the pipe runs as that user
#   5. procmail from the pksbridge user's ~/.forward (Debian sks's
#      forward.postfix) with contrib/procmail/pksbridge.procmailrc: a broken
#      config makes the recipe's `e` branch exit 75, Postfix defers; fixed,
#      postqueue -f delivers, nothing went to $DEFAULT
. "$(dirname "$0")/../lib.sh"
. "$TOP/tests/lib/mtaroot.sh"
. "$TOP/tests/lib/mta.sh"
. "$TOP/tests/lib/postfix.sh"
. "$TOP/tests/lib/procmail.sh"
. "$TOP/tests/lib/pksbridge.sh"

need_cmd curl gpg mount umount || done_testing
pb_setup || done_testing
SKS_FORWARD=/etc/sks/forward.postfix
check "Debian sks's $SKS_FORWARD is installed" test -s "$SKS_FORWARD" ||
	done_testing

# --- fixtures ---------------------------------------------------------------
# One spool per way, owned by root with the pksbridge group, so that who
# created its files shows who ran pksbridge.  nobody (1, 2) runs with
# nogroup only, and a group it is not in would not even stay on the
# directories it creates (the kernel drops their setgid bit): its spools
# are nobody:nogroup, and only nobody can look into them.
spool_for() {
	mkdir -p "$1" && chown "$2" "$1" && chmod 2770 "$1"
}
S1=$TEST_TMP/spool-aliases
FS=$TEST_TMP/fs
S2=$FS/spool
S3=$TEST_TMP/spool-pipe
S4=$TEST_TMP/spool-map
S5=$TEST_TMP/spool-procmail
mkdir "$FS"
if ! mount -t tmpfs -o size=16m,mode=0755 pb-pf-fullfs "$FS"; then
	not_ok "mount -t tmpfs on $FS"
	done_testing
fi
# Unmount at exit, after everything that may use it has been killed (and
# before pb_setup's users go).
trap '_pf_rc=$?; _t_kill_all; umount "$FS" 2>/dev/null || umount -l "$FS"; _pb_remove_users; (exit $_pf_rc); _t_exit' EXIT
S1S=$TEST_TMP/spool-shared
pb_spool "$S1S"
spool_for "$S1" nobody:nogroup
spool_for "$S2" nobody:nogroup
spool_for "$S3" "root:$PB_GROUP"
spool_for "$S4" "root:$PB_GROUP"
spool_for "$S5" "root:$PB_GROUP"
pb_conf "$TEST_TMP/c1.conf" "$S1"
pb_conf "$TEST_TMP/c1s.conf" "$S1S"
pb_conf "$TEST_TMP/c2.conf" "$S2"
pb_conf "$TEST_TMP/c3.conf" "$S3"
pb_conf "$TEST_TMP/c3.bad" "$S3" "bogus_key: 1"
cp "$TEST_TMP/c3.bad" "$TEST_TMP/c3.live"
pb_conf "$TEST_TMP/c4.conf" "$S4"
pb_conf "$TEST_TMP/c5.conf" "$S5"
pb_conf "$TEST_TMP/c5.bad" "$S5" "bogus_key: 1"
cp "$TEST_TMP/c5.bad" "$TEST_TMP/c5.live"

aliases=$TEST_TMP/aliases
mta_alias "$aliases" pgp-public-keys "$PB_BIN" -c "$TEST_TMP/c1.conf" ingest
mta_alias "$aliases" pks-shared "$PB_BIN" -c "$TEST_TMP/c1s.conf" ingest
mta_alias "$aliases" pks-full "$PB_BIN" -c "$TEST_TMP/c2.conf" ingest
# contrib/postfix/main.cf: the transport_maps address must still be a
# local recipient; contrib suggests an alias to root that is never used.
echo "pks-pipe: root" >>"$aliases"
echo "pks-rec: root" >>"$aliases"
echo "pks-nobody: root" >>"$aliases"
echo "pks-procmail: $PB_USER" >>"$aliases"

port=$(free_port)
P=$TEST_TMP/postfix
mtaroot_prepare "$P"
E=$P/upper/etc/postfix

# 3: contrib's master.cf service, with this test's user, binary and config
# in place of the installed ones, and two copies that record their input:
# one as written, one with user=nobody:GROUP.
rec=$TEST_TMP/rec
standin_setup "$rec" 0
recn=$TEST_TMP/rec-nobody
standin_setup "$recn" 0
sed -e "s|user=pksbridge|user=$PB_USER|" \
	-e "s|/usr/local/sbin/pksbridge|$PB_BIN|" \
	-e "s|/usr/local/etc/pksbridge.conf|$TEST_TMP/c3.live|" \
	"$TOP/contrib/postfix/master.cf" >"$TEST_TMP/master.cf.pksbridge"
# twin NAME DIR USER - the service line and its flags line, renamed, with
# the stand-in recording into DIR as argv and user=USER.
twin() {
	sed -n "s/^pksbridge\( .*pipe\)\$/$1\1/p; /^  flags=/p" \
		"$TEST_TMP/master.cf.pksbridge" |
		sed "s|argv=.*|argv=$STANDIN $2|; s|user=[^ ]*|user=$3|"
}
check_eq "3: contrib's master.cf, adapted: flags, user and argv as written" \
	"$(grep '^  flags=' "$TEST_TMP/master.cf.pksbridge")" \
	"  flags=FRO user=$PB_USER argv=$PB_BIN -c $TEST_TMP/c3.live ingest"
PF_EXTRA_MASTER=$(cat "$TEST_TMP/master.cf.pksbridge"
	twin pksbridge-rec "$rec" "$PB_USER"
	twin pksbridge-nobody "$recn" "nobody:$PB_GROUP")
mkdir -p "$E"
sed "s/^pgp-public-keys@keys\.example\.org\([[:space:]]\)/pks-pipe@$PF_DOMAIN\1/" \
	"$TOP/contrib/postfix/transport" >"$E/transport"
printf '%s\t%s\n' "pks-rec@$PF_DOMAIN" pksbridge-rec: \
	"pks-nobody@$PF_DOMAIN" pksbridge-nobody: \
	"pks-noalias@$PF_DOMAIN" pksbridge: >>"$E/transport"
check "3: contrib's transport map names the pksbridge transport" \
	grep -q "^pks-pipe@$PF_DOMAIN[[:space:]]*pksbridge:\$" "$E/transport"

# 4: contrib's alias map, for its own address here, owned as contrib says.
sed 's/^pgp-public-keys:/pks-map:/; s|/usr/local/sbin/pksbridge|'"$PB_BIN"'|; s|/usr/local/etc/pksbridge.conf|'"$TEST_TMP/c4.conf"'|' \
	"$TOP/contrib/postfix/pksbridge-aliases" >"$E/pksbridge-aliases"
chown "$PB_USER:$PB_GROUP" "$E/pksbridge-aliases"
chmod 644 "$E/pksbridge-aliases"
# main.cf: contrib's line for way 1 from the start; way 2's lines
# (uncommented) once its map is built, as an operator would.
PF_EXTRA_MAIN=$(grep '^transport_maps = ' "$TOP/contrib/postfix/main.cf")
sed -n 's/^#\(\(alias_maps\|alias_database\) = .*\)/\1/p' \
	"$TOP/contrib/postfix/main.cf" >"$TEST_TMP/main.cf.way2"
check_eq "3, 4: contrib's main.cf has transport_maps and the two alias maps" \
	"$(cut -d' ' -f1 "$TEST_TMP/main.cf.way2" | tr '\n' ' ')$PF_EXTRA_MAIN" \
	"alias_maps alias_database transport_maps = hash:/etc/postfix/transport"

# 5: the pksbridge user's home, as an SKS host's debian-sks has it.
H=$TEST_TMP/home
mkdir -p "$H/rc"
cp "$SKS_FORWARD" "$H/.forward"
cp "$PROCMAIL_RECIPE" "$H/rc/pksbridge.procmailrc"
cat >"$H/.procmailrc" <<EOF
# As contrib/procmail/pksbridge.procmailrc says: PKSBRIDGE first.
PKSBRIDGE="$PB_BIN -c $TEST_TMP/c5.live"
LOGFILE=$H/procmail.log
DEFAULT=$H/default
INCLUDERC=$H/rc/pksbridge.procmailrc
EOF
chown -R "$PB_USER:$PB_GROUP" "$H"
chmod 755 "$H" && chmod 644 "$H/.forward" "$H/.procmailrc"
show_on_failure "$H/procmail.log"
MTAROOT_HOME_USER=$PB_USER
MTAROOT_HOME=$H

pf_start "$P" "$port" "$aliases" "$FS" || done_testing
# What contrib's main.cf and master.cf tell the operator to run.
check "3: postmap /etc/postfix/transport" pf_run postmap /etc/postfix/transport
# A plain postalias as root runs as the map's owner, who cannot create the
# .db in root's /etc/postfix: the first build keeps root (-o), then the
# .db goes to the owner, from whom local(8) takes the pipe's user.
check_rc "4: plain postalias of the new map fails (runs as its owner)" 1 \
	pf_run postalias /etc/postfix/pksbridge-aliases
check_grep "4: ... because the owner cannot create the .db in /etc/postfix" \
	'fatal: open database /etc/postfix/pksbridge-aliases\.db: Permission denied' \
	"$TEST_TMP/.check.out"
check "4: postalias -o (the first build keeps root's privileges)" \
	pf_run postalias -o /etc/postfix/pksbridge-aliases
check "4: chown of the .db to the map's owner" \
	pf_run chown "$PB_USER" /etc/postfix/pksbridge-aliases.db
check "4: contrib's alias_maps and alias_database lines (postconf -e)" \
	pf_run postconf -e "$(sed -n 1p "$TEST_TMP/main.cf.way2")" \
	"$(sed -n 2p "$TEST_TMP/main.cf.way2")"
check "4: from now on a plain newaliases works" pf_run newaliases
check_eq "4: ... and leaves the .db with the map's owner" \
	"$(pf_run stat -c %U /etc/postfix/pksbridge-aliases.db 2>&1)" "$PB_USER"
check "3, 4: postfix reload" pf_run postfix reload

# send NAME MAIL - submit MAIL to NAME@bridge.test and wait for Postfix's
# first delivery attempt; sets ID (empty on failure).
send() {
	ID=$(pf_send peer@pks.example "$1@$PF_DOMAIN" "$2")
	[ -n "$ID" ] && pf_wait "$ID"
}

# flush_delivers N ID WHAT - after a fix: postqueue -f, and Postfix's next
# attempt delivers ID.
flush_delivers() {
	_fd_n=$(($(pf_attempts "$2") + 1))
	check "$1: $3: postqueue -f" pf_flush
	check "$1: ... postfix tries again" pf_wait "$2" "$_fd_n"
	check_eq "$1: ... and delivers it" "$(pf_status "$2")" sent
}

# --- 1. /etc/aliases: the pipe runs as nobody ---------------------------------
m=$(pb_mail "$TEST_TMP/m1" incremental "$TEST_DATA/keys/alice.asc")
check "1: postfix accepts the mail and makes a delivery attempt" \
	send pgp-public-keys "$TEST_TMP/m1"
check "1: local(8) delivers it to the alias's command" \
	pf_log_grep "$ID: to=<pgp-public-keys@$PF_DOMAIN>, relay=local, .*status=sent \(delivered to command: $PB_BIN -c $TEST_TMP/c1.conf ingest\)"
check_eq "1: nothing is left in postfix's queue" "$(pf_queue_count)" 0
check "1: alice's key is in the keyring (gpg --list-keys)" \
	pb_has_key "$S1/gnupg" "$(pb_fpr alice)" nobody
check_eq "1: the entry is done" "$(pb_state "$TEST_TMP/c1.conf" "$m" nobody)" done
check "1: pksbridge ran as nobody (it created every spool file)" \
	pb_created_by "$S1" nobody
pb_mail "$TEST_TMP/m1s" incremental "$TEST_DATA/keys/bob.asc" >/dev/null
check "1: into the recommended spool: postfix makes a delivery attempt" \
	send pks-shared "$TEST_TMP/m1s"
check "1: ... and defers: nobody cannot write that spool" \
	pf_log_grep "$ID: to=<pks-shared@$PF_DOMAIN>, .*status=deferred \(temporary failure\. Command output: .*temporary failure, mail deferred: .*$S1S.*Permission denied"
check "1: (that mail removed: postsuper -d)" pf_run postsuper -d "$ID"

# --- 2. a full spool: 75, deferred, delivered later ---------------------------
m=$(pb_mail "$TEST_TMP/m2a" incremental "$TEST_DATA/keys/bob.asc")
check "2: with space: delivered" send pks-full "$TEST_TMP/m2a"
check_eq "2: ... status=sent" "$(pf_status "$ID")" sent
dd if=/dev/zero of="$FS/filler" bs=64k >/dev/null 2>&1
check_eq "2: the file system is full" "$(df -P "$FS" | awk 'NR == 2 { print $4 }')" 0
m2=$(pb_mail "$TEST_TMP/m2" incremental "$TEST_DATA/keys/carol.asc")
check "2: full: postfix accepts the mail and makes a delivery attempt" \
	send pks-full "$TEST_TMP/m2"
ID2=$ID
check "2: full: postfix defers it, with pksbridge's reason" \
	pf_log_grep "$ID2: to=<pks-full@$PF_DOMAIN>, .*status=deferred \(temporary failure\. Command output: .*temporary failure, mail deferred: .*No space left on device"
check_eq "2: full: the mail waits in postfix's queue" "$(pf_queue_count)" 1
pf_run postqueue -j >"$TEST_TMP/q2.json"
check_grep "2: full: postqueue -j shows it deferred, with the reason" \
	'"queue_name": *"deferred".*"delay_reason": *"temporary failure\. Command output: .*No space left on device' \
	"$TEST_TMP/q2.json"
check_rc "2: full: carol's key is not in the keyring" 1 \
	pb_has_key "$S2/gnupg" "$(pb_fpr carol)" nobody
rm -f "$FS/filler"
flush_delivers 2 "$ID2" "space again"
check_eq "2: postfix's queue is empty" "$(pf_queue_count)" 0
check "2: carol's key is in the keyring" \
	pb_has_key "$S2/gnupg" "$(pb_fpr carol)" nobody
check_eq "2: the entry is done" "$(pb_state "$TEST_TMP/c2.conf" "$m2" nobody)" done
check_spool_verified "$S2" 2

# --- 3. contrib's pipe(8) transport ------------------------------------------
m=$(pb_mail "$TEST_TMP/m3" incremental "$TEST_DATA/keys/dave.asc")
check "3: broken config: postfix accepts mail for the transport_maps address" \
	send pks-pipe "$TEST_TMP/m3"
ID3=$ID
check "3: ... pipe(8) defers it, with pksbridge's reason" \
	pf_log_grep "$ID3: to=<pks-pipe@$PF_DOMAIN>, relay=pksbridge, .*status=deferred \(temporary failure\. Command output: pksbridge/ingest: temporary failure, mail deferred: .*unknown key \"bogus_key\""
cp "$TEST_TMP/c3.conf" "$TEST_TMP/c3.live"
flush_delivers 3 "$ID3" "the config fixed"
check "3: ... through the pksbridge service" \
	pf_log_grep "$ID3: to=<pks-pipe@$PF_DOMAIN>, relay=pksbridge, .*status=sent \(delivered via pksbridge service\)"
check "3: dave's key is in the keyring" pb_has_key "$S3/gnupg" "$(pb_fpr dave)"
check_eq "3: the entry is done" "$(pb_state "$TEST_TMP/c3.conf" "$m")" done
check "3: pksbridge ran as user= (it created every spool file)" \
	pb_created_by "$S3" "$PB_USER"
check "3: the stand-in on the same transport line gets a mail" \
	send pks-rec "$TEST_TMP/m3"
msg=$(standin_last "$rec")
check_grep "3: flags=F: a \"From sender date\" line first" \
	'^From peer@pks\.example ' "$msg"
check_eq "3: ... on the first line" "$(head -n 1 "$msg" | cut -c1-5)" "From "
check_grep "3: flags=R: Return-Path:" '^Return-Path: <peer@pks\.example>$' "$msg"
check_grep "3: flags=O: X-Original-To:" "^X-Original-To: pks-rec@$PF_DOMAIN\$" "$msg"
check_rc "3: no D flag: no Delivered-To:" 1 grep -q '^Delivered-To:' "$msg"
check_eq "3: ... and runs as user=, with that user's group only" \
	"$(sed 's/ groups=.*//' "$msg.cred")" \
	"uid=$(id -u "$PB_USER")($PB_USER) gid=$(id -g "$PB_USER")($PB_GROUP)"
check "3: the copy with user=nobody:$PB_GROUP gets a mail" \
	send pks-nobody "$TEST_TMP/m3"
check_eq "3: ... and runs as nobody with that group" \
	"$(sed 's/ groups=.*//' "$(standin_last "$recn").cred" 2>/dev/null)" \
	"uid=65534(nobody) gid=$(id -g "$PB_USER")($PB_GROUP)"
if pf_send peer@pks.example "pks-noalias@$PF_DOMAIN" "$TEST_TMP/m3" \
	>/dev/null 2>"$TEST_TMP/noalias.err"; then
	not_ok "3: an address in transport_maps that no alias knows is refused" \
		"postfix accepted mail for pks-noalias@$PF_DOMAIN"
else
	check_grep "3: an address in transport_maps that no alias knows is refused" \
		'^< 550 5\.1\.1 .*User unknown in local recipient table' \
		"$TEST_TMP/noalias.err"
fi

# --- 4. contrib's alias map owned by the pksbridge user ---------------------
m=$(pb_mail "$TEST_TMP/m4" incremental "$TEST_DATA/keys/alice.asc")
check "4: postfix accepts the mail" send pks-map "$TEST_TMP/m4"
check "4: local(8) delivers it to the map's command" \
	pf_log_grep "$ID: to=<pks-map@$PF_DOMAIN>, relay=local, .*status=sent \(delivered to command: $PB_BIN -c $TEST_TMP/c4.conf ingest\)"
check "4: alice's key is in that keyring" pb_has_key "$S4/gnupg" "$(pb_fpr alice)"
check_eq "4: the entry is done" "$(pb_state "$TEST_TMP/c4.conf" "$m")" done
check "4: pksbridge ran as the map's owner (it created every spool file)" \
	pb_created_by "$S4" "$PB_USER"

# --- 5. procmail from ~/.forward --------------------------------------------
m5=$(pb_mail "$TEST_TMP/m5" incremental "$TEST_DATA/keys/bob.asc")
check "5: broken config: postfix accepts the mail and makes a delivery attempt" \
	send pks-procmail "$TEST_TMP/m5"
ID5=$ID
check "5: broken config: postfix defers (procmail exited 75)" \
	pf_log_grep "$ID5: to=<$PB_USER@$PF_DOMAIN>, orig_to=<pks-procmail@$PF_DOMAIN>, relay=local, .*status=deferred \(temporary failure\)"
check "5: procmail's log has pksbridge's reason" \
	grep -q 'temporary failure, mail deferred: .*unknown key "bogus_key"' "$H/procmail.log"
check "5: procmail logs the failure of the w recipe" \
	grep -q 'Program failure (75)' "$H/procmail.log"
check_eq "5: the mail waits in postfix's queue" "$(pf_queue_count)" 1
check_rc "5: bob's key is not in the keyring yet" 1 \
	pb_has_key "$S5/gnupg" "$(pb_fpr bob)"
cp "$TEST_TMP/c5.conf" "$TEST_TMP/c5.live"
flush_delivers 5 "$ID5" "the config fixed"
check "5: bob's key is in the keyring" pb_has_key "$S5/gnupg" "$(pb_fpr bob)"
check_eq "5: the entry is done" "$(pb_state "$TEST_TMP/c5.conf" "$m5")" done
check "5: pksbridge ran as the .forward's owner" pb_created_by "$S5" "$PB_USER"
check "5: nothing ever went to DEFAULT" test ! -e "$H/default"

# --- never a bounce ---------------------------------------------------------
check_eq "no delivery bounced (no status=bounced)" \
	"$(pf_log_grep 'status=bounced' | wc -l)" 0
# (4's plain postalias logged its fatal error on purpose.)
check_eq "no Postfix daemon logged a fatal error or a panic" \
	"$(pf_log_grep ' postfix/[a-z]+\[[0-9]+\]: (fatal|panic):' | grep -v ' postfix/postalias\[' | wc -l)" 0
check "postfix stops" pf_stop
check "its system's holder stops" mtaroot_leave
check_eq "no process of this test is left running" "$(_t_doomed)" ""
done_testing
