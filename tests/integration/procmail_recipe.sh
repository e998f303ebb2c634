#!/bin/sh
# tests/integration/procmail_recipe.sh - the procmail recipe we ship
# (contrib/procmail/pksbridge.procmailrc) against the real procmail, with
# the stand-in filter fixture in place of pksbridge: its exit status must
# reach the MTA (0 stays 0, any failure becomes 75), while Debian's shipped
# /etc/sks/procmail (no `w` flag) reports success whatever the filter does.
# Last, the whole chain Exim -> procmail -> filter, both recipes.
. "$(dirname "$0")/../lib.sh"
. "$TOP/tests/lib/procmail.sh"
. "$TOP/tests/lib/mta.sh"

need_cmd procmail || done_testing

f=$TEST_TMP/filter
standin_setup "$f" 0
make_mail "$TEST_TMP/incremental" incremental
make_mail "$TEST_TMP/add" ADD
make_mail "$TEST_TMP/other" "Re: hello"

# run_ours [-t] MAIL - procmail with our recipe and the stand-in.
run_ours() {
	_ro_t=
	[ "$1" = -t ] && { _ro_t=-t; shift; }
	procmail_run $_ro_t "$PROCMAIL_RECIPE" "PKSBRIDGE=$STANDIN $f" <"$1"
}

# --- our recipe -------------------------------------------------------------
check_rc "ours, filter exits 0: procmail exits 0" 0 \
	run_ours "$TEST_TMP/incremental"
check_eq "ours, filter exits 0: the filter ran once" "$(standin_count "$f")" 1
msg=$(standin_last "$f")
check_eq "ours: the filter is called as PKSBRIDGE ingest" "$(cat "$msg.args")" ingest
# Like Exim's pipe transport, procmail ends the mail with an empty line.
sed '1,/^$/d' "$msg" >"$TEST_TMP/body"
{ cat "$TEST_DATA/keys/alice.asc"; echo; } >"$TEST_TMP/body.want"
check "ours: the filter gets the body intact, plus procmail's empty line" \
	cmp "$TEST_TMP/body" "$TEST_TMP/body.want"
check_grep "ours: the filter gets the mail headers" '^Subject: incremental$' "$msg"

standin_exit "$f" 75
check_rc "ours, filter exits 75: procmail exits 75" 75 \
	run_ours "$TEST_TMP/incremental"
check_grep "ours, filter exits 75: procmail logs the failure" \
	'Program failure \(75\)' "$PROCMAIL_LOG"
check_rc "ours, filter exits 75, procmail -t: exits 75" 75 \
	run_ours -t "$TEST_TMP/incremental"
standin_exit "$f" 1
check_rc "ours, filter exits 1: procmail exits 75, not a bouncing code" 75 \
	run_ours "$TEST_TMP/incremental"
check "ours, a failure never falls through to DEFAULT" \
	test ! -e "$PROCMAIL_DEFAULT"
check_eq "ours: the filter ran for each of those" "$(standin_count "$f")" 4

standin_exit "$f" 0
check_rc "ours, Subject ADD (PKS's upper case): procmail exits 0" 0 \
	run_ours "$TEST_TMP/add"
check_eq "ours, Subject ADD: the filter ran" "$(standin_count "$f")" 5
printf 'From: alice@client.test\nSubject: GET 0xF7923026\n\nrequest\n' >"$TEST_TMP/get"
check_rc "ours, Subject GET 0xF7923026 (a mail command): procmail exits 0" 0 \
	run_ours "$TEST_TMP/get"
check_eq "ours, Subject GET: the filter ran" "$(standin_count "$f")" 6
printf 'From: alice@client.test\nSubject: getting started\n\nhi\n' >"$TEST_TMP/getting"
check_rc "ours, Subject getting started: procmail exits 0" 0 \
	run_ours "$TEST_TMP/getting"
check_eq "ours, Subject getting started: the filter did not run" \
	"$(standin_count "$f")" 6
check_rc "ours, other Subject: procmail exits 0 (the e recipe stays idle)" 0 \
	run_ours "$TEST_TMP/other"
check_eq "ours, other Subject: the filter did not run" "$(standin_count "$f")" 6
check_grep "ours, other Subject: the mail goes on to DEFAULT" \
	'^Subject: Re: hello$' "$PROCMAIL_DEFAULT"

# --- Debian's /etc/sks/procmail ----------------------------------------------
d=$TEST_TMP/debian
standin_setup "$d" 75
check "Debian's recipe is installed and pipes to sks_add_mail" \
	procmail_debian_rc "$TEST_TMP/debian.rc" "$STANDIN" "$d"
: >"$PROCMAIL_LOG"
check_rc "Debian, filter exits 75: procmail exits 0 (the bug)" 0 \
	procmail_run "$TEST_TMP/debian.rc" <"$TEST_TMP/incremental"
# Without `w` procmail does not even wait for the filter to finish.
wait_for "Debian, filter exits 75: the filter did run" 10 standin_received "$d" 1
check_rc "Debian: procmail never noticed the failure" 1 \
	grep -q 'Program failure' "$PROCMAIL_LOG"
check_rc "Debian, filter exits 75, procmail -t: still exits 0" 0 \
	procmail_run -t "$TEST_TMP/debian.rc" <"$TEST_TMP/incremental"
standin_exit "$d" 1
check_rc "Debian, filter exits 1: procmail exits 0" 0 \
	procmail_run "$TEST_TMP/debian.rc" <"$TEST_TMP/incremental"

# --- Exim -> procmail -> filter ------------------------------------------------
# As on an SKS host: Exim pipes to procmail (sks ships ~/.forward
# "|/usr/bin/procmail"), here as nobody, with -m and the rcfile under test.
# PKSBRIDGE points at a one-word wrapper because Exim splits the alias
# command on spaces.
# procmail ignores a "suspicious" rcfile, e.g. one in a directory others
# may write to, so the rcfiles and procmail's writable files live apart.
pm=$TEST_TMP/pm
rc=$TEST_TMP/rc
mkdir -p "$pm" "$rc" && chmod 777 "$pm" && chmod 755 "$rc"
cp "$PROCMAIL_RECIPE" "$rc/ours.rc"
eo=$TEST_TMP/exim-ours
ed=$TEST_TMP/exim-debian
standin_setup "$eo" 75
standin_setup "$ed" 75
printf '#!/bin/sh\nexec %s %s "$@"\n' "$STANDIN" "$eo" >"$TEST_TMP/bin/ours"
chmod 755 "$TEST_TMP/bin/ours"
procmail_debian_rc "$rc/debian.rc" "$STANDIN" "$ed"
chmod 644 "$rc/ours.rc" "$rc/debian.rc"
aliases=$TEST_TMP/aliases
mta_alias "$aliases" pks-ours /usr/bin/procmail -m MAILDIR="$pm" \
	LOGFILE="$pm/log" DEFAULT="$pm/default" PKSBRIDGE="$TEST_TMP/bin/ours" \
	"$rc/ours.rc"
mta_alias "$aliases" pks-debian /usr/bin/procmail -m MAILDIR="$pm" \
	LOGFILE="$pm/log" DEFAULT="$pm/default" "$rc/debian.rc"
show_on_failure "$pm/log"

port=$(free_port)
mta_start "$TEST_TMP/exim" "$port" "$aliases" || done_testing

id=$(mta_send peer@pks.example pks-ours@bridge.test "$TEST_TMP/incremental")
check "exim+ours: exim accepts the mail" test -n "$id"
check "exim+ours: exim finishes the delivery attempt" mta_wait "$id"
check_eq "exim+ours: the filter ran (as nobody)" \
	"$(cat "$(standin_last "$eo").cred" 2>/dev/null)" "$(id nobody)"
check "exim+ours, filter exits 75: exim defers" \
	mta_log_grep "$id == .* defer .*returned 75"
check_eq "exim+ours: the mail waits in exim's queue" "$(mta_queue_count)" 1
standin_exit "$eo" 0
check "exim+ours: a queue run after the fix delivers it" mta_run_queue
check "exim+ours: exim logs the delivery" mta_log_grep "$id Completed"
check_eq "exim+ours: the filter got the mail again" "$(standin_count "$eo")" 2

id=$(mta_send peer@pks.example pks-debian@bridge.test "$TEST_TMP/incremental")
check "exim+Debian: exim accepts the mail" test -n "$id"
check "exim+Debian: exim finishes the delivery attempt" mta_wait "$id"
wait_for "exim+Debian: the filter ran (and exited 75)" 10 standin_received "$ed" 1
check "exim+Debian: exim logs it delivered (the mail is lost)" \
	mta_log_grep "$id => .*R=aliases T=pksb_pipe"
check_eq "exim+Debian: nothing is left to retry" "$(mta_queue_count)" 0
check "exim's paniclog stays empty" test ! -s "$TEST_TMP/exim/log/paniclog"
done_testing
