#!/bin/sh
# tests/integration/mail_noreply.sh - every rule that keeps a mail
# command from being answered, each with a mail through a real Exim (SMTP
# with the envelope sender chosen, so the Return-Path is Exim's own) into
# the real pksbridge; every sender has a mailbox, so a reply that should
# not exist would show.  Each request is recorded as a suppressed reply
# entry saying why; one control request beside them is answered.
#
#   RFC 3834's rules: a null sender, MAILER-DAEMON, owner-*, *-request,
#   Auto-Submitted other than "no" (auto-replied, auto-generated),
#   List-*, Precedence bulk, junk and list, any X-KeyServer-Sent, a loop
#   (our own X-KeyServer-Sent), mail_commands: no.  Ours beside them:
#   postmaster, a PKS peer of ours, our own address, X-Auto-Response-
#   Suppress: All, keys under a Subject that is no command.  INCREMENTAL
#   is no request at all: no reply entry.  Auto-Submitted: no is answered.
. "$(dirname "$0")/../lib.sh"
. "$TOP/tests/lib/sks.sh"
. "$TOP/tests/lib/sks_it.sh"
. "$TOP/tests/lib/mta.sh"
. "$TOP/tests/lib/pksbridge.sh"

need_cmd sks exim4 curl python3 || done_testing
pb_setup || done_testing
US=pgp-public-keys@bridge.test
PEER=pgp-public-keys@pks.test
SKS=$TEST_TMP/sks
sks_port=$(free_port)
sks_start "$SKS" "$sks_port" 2>"$TEST_TMP/sks.err" ||
	{ not_ok "SKS starts" "$(cat "$TEST_TMP/sks.err")"; done_testing; }
curl -s -o /dev/null --data-urlencode "keytext@$TEST_DATA/keys/collide-c.asc" \
	"http://127.0.0.1:$sks_port/pks/add"

MB=$TEST_TMP/mailboxes
mkdir -p "$MB" && chmod 777 "$MB"
S=$TEST_TMP/spool
mta_port=$(free_port)
pb_spool "$S"
echo "$PEER" >"$TEST_TMP/mailsync"
pb_conf "$TEST_TMP/on.conf" "$S" "keydb: hkp://127.0.0.1:$sks_port" \
	"smtp_relay: 127.0.0.1:$mta_port" "log: stderr"
pb_conf "$TEST_TMP/off.conf" "$S" "keydb: hkp://127.0.0.1:$sks_port" \
	"smtp_relay: 127.0.0.1:$mta_port" "log: stderr" "mail_commands: no"
aliases=$TEST_TMP/aliases
mta_alias "$aliases" pgp-public-keys "$PB_BIN" -c "$TEST_TMP/on.conf" ingest
mta_alias "$aliases" pgp-public-keys-off "$PB_BIN" -c "$TEST_TMP/off.conf" ingest
# Every sender below has a mailbox, so that a reply to it would be seen.
SENDERS="alice bob mailer-daemon owner-keys keys-request postmaster"
for u in $SENDERS; do
	mta_mailbox "$aliases" "$u@client.test" "$MB/$u.mbox"
done
mta_mailbox "$aliases" "$PEER" "$MB/peer.mbox"
MTA_DOMAINS="bridge.test:client.test:pks.test"
MTA_PIPE_USER=$PB_USER
MTA_PIPE_GROUP=$PB_GROUP
mta_start "$TEST_TMP/exim" "$mta_port" "$aliases" || done_testing

# send NAME ENVELOPE_SENDER SUBJECT [HEADER...] - one request through
# Exim to pgp-public-keys@bridge.test (or NAME=off: to the alias whose
# configuration says mail_commands: no), its Message-ID <NAME@client.test>.
send() {
	_sd_name=$1
	_sd_from=$2
	_sd_subj=$3
	shift 3
	{
		echo "From: somebody@client.test"
		echo "To: $US"
		echo "Subject: $_sd_subj"
		echo "Message-ID: <$_sd_name@client.test>"
		for _sd_h in "$@"; do echo "$_sd_h"; done
		echo
		if [ "$_sd_name" = keymail ]; then
			cat "$TEST_DATA/keys/bob.asc"
		else
			echo "GnuPG 1.4.23 email keyserver request"
		fi
	} >"$TEST_TMP/$_sd_name.eml"
	_sd_to=$US
	[ "$_sd_name" = off ] && _sd_to=pgp-public-keys-off@bridge.test
	_sd_id=$(mta_send "$_sd_from" "$_sd_to" "$TEST_TMP/$_sd_name.eml") &&
		mta_wait "$_sd_id"
}

# NAME|ENVELOPE SENDER|SUBJECT|HEADER|WHAT THE REASON SAYS
cases="
null||GET 0xF7923026||the envelope sender is null
mdaemon|MAILER-DAEMON@client.test|GET 0xF7923026||the envelope sender is null
owner|owner-keys@client.test|GET 0xF7923026||is a list address
request|keys-request@client.test|GET 0xF7923026||list address
postmaster|postmaster@client.test|GET 0xF7923026||is a postmaster
peer|$PEER|GET 0xF7923026||one of our PKS peers
own|$US|GET 0xF7923026||is our own address
autoreplied|alice@client.test|GET 0xF7923026|Auto-Submitted: auto-replied|Auto-Submitted: auto-replied
autogen|alice@client.test|GET 0xF7923026|Auto-Submitted: auto-generated|Auto-Submitted: auto-generated
listid|alice@client.test|GET 0xF7923026|List-Id: <keys.client.test>|list mail \(List-\* header\)
bulk|alice@client.test|GET 0xF7923026|Precedence: bulk|Precedence: bulk
junk|alice@client.test|GET 0xF7923026|Precedence: junk|Precedence: junk
list|alice@client.test|GET 0xF7923026|Precedence: list|Precedence: list
sync|alice@client.test|GET 0xF7923026|X-KeyServer-Sent: $PEER|PKS sync traffic
loop|alice@client.test|GET 0xF7923026|X-KeyServer-Sent: $US|X-KeyServer-Sent names our own address
suppress|alice@client.test|GET 0xF7923026|X-Auto-Response-Suppress: All|X-Auto-Response-Suppress
keymail|alice@client.test|Here is my key||the Subject is not a command and the mail carries keys
off|alice@client.test|GET 0xF7923026||mail_commands is off
"
old_ifs=$IFS
IFS='
'
for c in $cases; do
	IFS='|'
	set -- $c
	IFS=$old_ifs
	if [ -n "$4" ]; then send "$1" "$2" "$3" "$4"; else send "$1" "$2" "$3"; fi
	IFS='
'
done
IFS=$old_ifs
send incremental alice@client.test incremental "X-KeyServer-Sent: $PEER"
send control bob@client.test "GET 0xF7923026" "Auto-Submitted: no"
check "the runner, once: nothing else to send" \
	pb_as "$PB_OPER" "$PB_BIN" -c "$TEST_TMP/on.conf" run --once
check_eq "Exim has nothing queued" "$(mta_queue_count)" 0
# The replies that went out are back through Exim by now.
sleep 1

IFS='
'
for c in $cases; do
	IFS='|'
	set -- $c
	IFS=$old_ifs
	name=$1 why=$5
	check_eq "$name: one reply entry, suppressed" \
		"$(pb_count "$TEST_TMP/on.conf" message_id="$name@client.test" kind=reply) $(pb_field "$TEST_TMP/on.conf" state message_id="$name@client.test" kind=reply)" \
		"1 suppressed"
	pb_field "$TEST_TMP/on.conf" last_error message_id="$name@client.test" \
		kind=reply >"$TEST_TMP/why"
	check_grep "$name: why: ...$why..." "^no reply: .*$why" "$TEST_TMP/why"
	IFS='
'
done
IFS=$old_ifs
check_eq "keymail: bob's key is still taken as key mail (inbound, delivered)" \
	"$(pb_field "$TEST_TMP/on.conf" state message_id=keymail@client.test direction=inbound)" done
check_eq "INCREMENTAL is no request: no reply entry" \
	"$(pb_count "$TEST_TMP/on.conf" message_id=incremental@client.test kind=reply)" 0
check_eq "Auto-Submitted: no is answered: the reply is done" \
	"$(pb_field "$TEST_TMP/on.conf" state message_id=control@client.test)" done
check_eq "... and in bob's mailbox" "$(grep -c '^Subject: Reply to GET 0xF7923026' "$MB/bob.mbox")" 1
for u in alice mailer-daemon owner-keys keys-request postmaster peer; do
	check_eq "no mail at all in $u's mailbox" "$(cat "$MB/$u.mbox" 2>/dev/null | wc -c)" 0
done
check_eq "pksbridge sent Exim exactly one mail (from <>: the control's reply)" \
	"$(grep -c ' <= .* H=(bridge\.test) ' "$TEST_TMP/exim/log/mainlog") $(grep -c ' <= <> H=(bridge\.test) ' "$TEST_TMP/exim/log/mainlog")" "1 1"
check_eq "nothing bounced or failed in Exim" \
	"$(grep -c ' \*\* ' "$TEST_TMP/exim/log/mainlog")" 0
mta_stop
sks_stop "$SKS"
done_testing
