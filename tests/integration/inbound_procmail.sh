#!/bin/sh
# tests/integration/inbound_procmail.sh - the procmail recipe we ship
# (contrib/procmail/pksbridge.procmailrc) with the real procmail and the
# real pksbridge, keys checked in the real GnuPG keyring: procmail runs as
# the user that owns the spool, as from that user's ~/.forward.
#
#   1. pksbridge succeeds: procmail exits 0, the key is imported
#   2. a broken config: pksbridge exits 75, and so does procmail (the
#      recipe's `e` branch with EXITCODE=75); nothing falls through to
#      DEFAULT, the key is not delivered; once fixed, the same mail goes in
#   3. the chain Exim -> procmail -> pksbridge: Exim defers while the config
#      is broken and delivers on the queue run after the fix
. "$(dirname "$0")/../lib.sh"
. "$TOP/tests/lib/procmail.sh"
. "$TOP/tests/lib/mta.sh"
. "$TOP/tests/lib/pksbridge.sh"

need_cmd procmail exim4 curl gpg || done_testing
pb_setup || done_testing

S=$TEST_TMP/spool
K=$S/gnupg
C=$TEST_TMP/pksbridge.conf
pb_spool "$S"
pb_conf "$C" "$S"
pb_conf "$TEST_TMP/bad.conf" "$S" "bogus_key: 1"

# procmail ignores an rcfile in a directory others may write to, and the
# user it runs as needs a directory of its own for LOGFILE and DEFAULT.
rc=$TEST_TMP/rc
pm=$TEST_TMP/pm
mkdir -p "$rc" "$pm" && chmod 755 "$rc"
chown "$PB_USER:$PB_GROUP" "$pm" && chmod 700 "$pm"
cp "$PROCMAIL_RECIPE" "$rc/pksbridge.procmailrc" && chmod 644 "$rc/pksbridge.procmailrc"
RECIPE=$rc/pksbridge.procmailrc
PROCMAIL_LOG=$pm/log
PROCMAIL_DEFAULT=$pm/default
show_on_failure "$PROCMAIL_LOG"
# procmail_run calls $PROCMAIL: run it as the spool's user.
PROCMAIL=$TEST_TMP/bin/procmail-as-user
printf '#!/bin/sh\nexec runuser -u %s -- /usr/bin/procmail "$@"\n' "$PB_USER" \
	>"$PROCMAIL" && chmod 755 "$PROCMAIL"

# as_user FILE COMMAND... - read FILE as the spool's user (pm is 0700).
as_user() {
	pb_as "$PB_USER" "$@"
}

# --- 1. success ----------------------------------------------------------------
m1=$(pb_mail "$TEST_TMP/m1" incremental "$TEST_DATA/keys/alice.asc")
check_rc "1: pksbridge succeeds: procmail exits 0" 0 \
	procmail_run "$RECIPE" "PKSBRIDGE=$PB_BIN -c $C" <"$TEST_TMP/m1"
check "1: alice's key is in the keyring" pb_has_key "$K" "$(pb_fpr alice)"
check_eq "1: the entry is done" "$(pb_state "$C" "$m1")" done
check "1: nothing went to DEFAULT" test ! -e "$PROCMAIL_DEFAULT"
check_rc "1: procmail logged no program failure" 1 \
	as_user grep -q 'Program failure' "$PROCMAIL_LOG"

# --- 2. broken config: 75 all the way, nothing lost ---------------------------
m2=$(pb_mail "$TEST_TMP/m2" incremental "$TEST_DATA/keys/bob.asc")
check_rc "2: broken config: procmail exits 75" 75 \
	procmail_run "$RECIPE" "PKSBRIDGE=$PB_BIN -c $TEST_TMP/bad.conf" \
	<"$TEST_TMP/m2"
check "2: procmail logs pksbridge's exit status" \
	as_user grep -q 'Program failure (75)' "$PROCMAIL_LOG"
check "2: procmail's log has pksbridge's reason" \
	as_user grep -q 'temporary failure, mail deferred: .*unknown key "bogus_key"' \
	"$PROCMAIL_LOG"
check "2: the mail did not fall through to DEFAULT" test ! -e "$PROCMAIL_DEFAULT"
check_rc "2: bob's key is not in the keyring" 1 pb_has_key "$K" "$(pb_fpr bob)"
check_eq "2: pksbridge recorded nothing" "$(pb_state "$C" "$m2")" ""
check_rc "2: broken config, procmail -t: exits 75 too" 75 \
	procmail_run -t "$RECIPE" "PKSBRIDGE=$PB_BIN -c $TEST_TMP/bad.conf" \
	<"$TEST_TMP/m2"
check_rc "2: the MTA's retry after the fix: procmail exits 0" 0 \
	procmail_run "$RECIPE" "PKSBRIDGE=$PB_BIN -c $C" <"$TEST_TMP/m2"
check "2: bob's key is in the keyring now" pb_has_key "$K" "$(pb_fpr bob)"
check_eq "2: the entry is done" "$(pb_state "$C" "$m2")" done
check "2: still nothing in DEFAULT" test ! -e "$PROCMAIL_DEFAULT"

# --- 3. Exim -> procmail -> pksbridge ------------------------------------------
# As an SKS host's ~/.forward "|/usr/bin/procmail" would, with our rcfile.
# Exim splits the command on blanks, so PKSBRIDGE names a one-word wrapper;
# the config it uses is fixed in between.
chain_conf=$TEST_TMP/chain.conf
cp "$TEST_TMP/bad.conf" "$chain_conf"
printf '#!/bin/sh\nexec %s -c %s "$@"\n' "$PB_BIN" "$chain_conf" \
	>"$TEST_TMP/bin/pb-chain" && chmod 755 "$TEST_TMP/bin/pb-chain"
aliases=$TEST_TMP/aliases
mta_alias "$aliases" pgp-public-keys /usr/bin/procmail -m MAILDIR="$pm" \
	LOGFILE="$pm/chain.log" DEFAULT="$pm/default" \
	PKSBRIDGE="$TEST_TMP/bin/pb-chain" "$RECIPE"
show_on_failure "$pm/chain.log"
MTA_PIPE_USER=$PB_USER
MTA_PIPE_GROUP=$PB_GROUP
port=$(free_port)
mta_start "$TEST_TMP/exim" "$port" "$aliases" || done_testing

m3=$(pb_mail "$TEST_TMP/m3" incremental "$TEST_DATA/keys/carol.asc")
id=$(mta_send peer@pks.example pgp-public-keys@bridge.test "$TEST_TMP/m3")
check "3: exim accepts the mail and ends its delivery attempt" mta_wait "$id"
check "3: broken config: exim defers (procmail returned 75)" \
	mta_log_grep "$id == .* defer .*returned 75"
check "3: procmail's log has pksbridge's reason" \
	as_user grep -q 'temporary failure, mail deferred: .*unknown key' "$pm/chain.log"
check_eq "3: the mail waits in exim's queue" "$(mta_queue_count)" 1
check_rc "3: carol's key is not in the keyring yet" 1 \
	pb_has_key "$K" "$(pb_fpr carol)"
cp "$C" "$chain_conf"
check "3: a queue run after the fix" mta_run_queue
check "3: exim logs the delivery Completed" mta_log_grep "$id Completed"
check_eq "3: exim's queue is empty" "$(mta_queue_count)" 0
check "3: carol's key is in the keyring" pb_has_key "$K" "$(pb_fpr carol)"
check_eq "3: the entry is done" "$(pb_state "$C" "$m3")" done
check "3: nothing ever went to DEFAULT" test ! -e "$pm/default"
check_eq "3: exim never bounced" "$(mta_log_grep ' \*\* | <= <> ' | wc -l)" 0
check "exim stops" mta_stop
check_eq "no process of this test is left running" "$(_t_doomed)" ""
done_testing
