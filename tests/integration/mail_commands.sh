#!/bin/sh
# tests/integration/mail_commands.sh - the mail commands answered from a
# real SKS (keydb sks:BASEDIR, so the lookups find SKS's HKP port in its
# sksconf), replies taken by a real SMTP server (smtpsink), sent by the
# runner's reply worker, by the filter inline, and by run --once:
#
#   1. GET of a short key ID two keys share: one reply with both, each
#      named by its full fingerprint, that gpg --import takes whole; the
#      entry is kind reply, done, its peer the requester
#   2. INDEX, VERBOSE INDEX, no match, a Subject that is no command, a
#      request without a Message-ID (no In-Reply-To)
#   3. HELP: the built-in text, the operator's file, a translation, a
#      language without one
#   4. ADD: the key reaches SKS, the reply says "new key"; LAST 1 then
#      sends it (the dedup index saw it change), LAST 100000 says how far
#      back this gateway remembers
#   5. SKS down: the reply is deferred, saying why; SKS back, queue retry:
#      sent.  A relay refusing the requester (550): failed
#   6. sendmail_cmd: the reply goes to the command with -f "<>" before
#      the recipient
. "$(dirname "$0")/../lib.sh"
. "$TOP/tests/lib/sks.sh"
. "$TOP/tests/lib/sks_it.sh"
. "$TOP/tests/lib/smtpsink.sh"
. "$TOP/tests/lib/mailcmd_it.sh"

need_cmd sks gpg curl python3 || done_testing
K=$TEST_DATA/keys
C=BD5C2399CD95E4461856F0EF60B74832F7923026
D=C562077F5495A4F13AD187162C1B67B3F7923026
BOB=$(awk '$1 == "bob" { print $2 }' "$K/fingerprints.txt")
CHECK=$REPLY_CHECK
US=$MC_US

mc_sks collide-c collide-d
port=$SKS_PORT
show_on_failure "$TEST_TMP/runner.log" "$SKS/sks-db.log"
both_served() { sks_wait_key "$port" "$C" 10 && sks_wait_key "$port" "$D" 10; }
check "SKS serves both keys of short ID F7923026" both_served
mc_sink
CONFDIR=$TEST_TMP/etc
mkdir -p "$CONFDIR"
CONF=$CONFDIR/pksbridge.conf
# conf LINE... - the configuration, keydb sks: (the lookups then find
# SKS's HKP port in its sksconf), with LINEs.
conf() {
	mc_conf "$CONF" "$TEST_TMP/spool" "keydb: sks:$SKS/var/spool/sks" \
		"reply_limit: 100/1h" "retry_schedule: 1h" "$@"
}
conf

# request FILE SUBJECT [FROM] [MSGID|-] - a request mail as an MTA hands
# it over (Return-Path on top); prints its Message-ID.
request() {
	_rq_id=${4:-$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')@client.test}
	{
		echo "Return-Path: <${3:-alice@client.test}>"
		echo "From: ${3:-alice@client.test}"
		echo "To: $US"
		echo "Subject: $2"
		[ "$_rq_id" = - ] || echo "Message-ID: <$_rq_id>"
		echo
		echo "GnuPG 1.4.23 email keyserver request"
	} >"$1"
	echo "$_rq_id"
}
# ask SUBJECT [FROM] [MSGID|-] - ingest a request; sets MSGID; waits
# until the sink has one more message, sets REPLY to it.
ask() {
	_ak_n=$(smtpsink_count "$SINK")
	MSGID=$(request "$TEST_TMP/req.eml" "$@")
	"$PKSBRIDGE" -c "$CONF" ingest <"$TEST_TMP/req.eml" >>"$TEST_TMP/ingest.log" 2>&1
	_ak_rc=$?
	REPLY=
	wait_until 20 test -e "$SINK/msg.$((_ak_n + 1))" &&
		REPLY=$SINK/msg.$((_ak_n + 1))
	return $_ak_rc
}
# reply_ok TO [IRT] - the last reply keeps the format; its text in
# $TEST_TMP/reply.txt.
reply_ok() {
	[ -n "$REPLY" ] && $CHECK "$REPLY" "$1" "$US" "${2:-$MSGID}" >"$TEST_TMP/reply.txt"
}

# --- 1. GET 0xF7923026 through the runner's reply worker ---------------------
spawn_daemon "$TEST_TMP/runner.log" "$PKSBRIDGE" -c "$CONF" run
RUNNER=$SPAWNED_PID
wait_until 10 test -p "$TEST_TMP/spool/wakeup"
check_rc "1: ingest of GET 0xF7923026 exits 0" 0 ask "GET 0xF7923026"
check "1: a reply reaches the SMTP sink" test -n "$REPLY"
check "1: the reply keeps the format (headers, null sender, one recipient)" \
	reply_ok alice@client.test
check_grep "1: Subject: Reply to GET 0xF7923026" '^subject: Reply to GET 0xF7923026$' \
	"$TEST_TMP/reply.txt"
check_grep "1: the text names key C by its full fingerprint" \
	'BD5C 2399 CD95 E446 1856  F0EF 60B7 4832 F792 3026' "$TEST_TMP/reply.txt"
check_grep "1: ... and key D" 'C562 077F 5495 A4F1 3AD1  8716 2C1B 67B3 F792 3026' \
	"$TEST_TMP/reply.txt"
check_grep "1: ... and says they are different keys" 'DIFFERENT keys' "$TEST_TMP/reply.txt"
check_grep "1: the keys are in a part of their own" '^keys-part: yes$' "$TEST_TMP/reply.txt"
G=$TEST_TMP/gpg-import
mkdir -m 700 "$G"
check "1: gpg --import of the raw reply mail" \
	gpg --homedir "$G" --batch --no-autostart --import "$REPLY"
check "1: ... imports key C" sh -c "gpg --homedir '$G' --batch --no-autostart \
	--with-colons --list-keys $C | grep -q '^fpr:::::::::$C:'"
check "1: ... and key D" sh -c "gpg --homedir '$G' --batch --no-autostart \
	--with-colons --list-keys $D | grep -q '^fpr:::::::::$D:'"
check_eq "1: the reply entry: kind reply, done, to the requester" \
	"$(pb_field "$CONF" kind message_id="$MSGID") $(pb_field "$CONF" state message_id="$MSGID") $(pb_field "$CONF" peer message_id="$MSGID")" \
	"reply done alice@client.test"
# The size a listing shows is the reply's own, not its request's: the
# mail as composed, which the sink got (give or take its line ends).
_rs=$(pb_field "$CONF" size message_id="$MSGID")
_ms=$(wc -c <"$REPLY")
_ml=$(wc -l <"$REPLY")
check "1: the reply entry's size is the reply's ($_rs; the sink got $_ms bytes, $_ml lines)" \
	test "$_rs" -ge $((_ms - _ml - 10)) -a "$_rs" -le $((_ms + _ml + 10))
check_eq "1: the GET made no other entry (no inbound, no quarantine)" \
	"$(pb_count "$CONF" message_id="$MSGID")" 1
check_grep "1: the runner's reply worker sent it" "kind=reply, .*status=sent" \
	"$TEST_TMP/runner.log"

# --- 2. INDEX, VERBOSE INDEX, no match, not a command, no Message-ID ----------
ask "INDEX collide"
check "2: INDEX collide: a reply in the format" reply_ok alice@client.test
check_grep "2: INDEX lists key C with its long key ID" \
	'^pub  rsa2048/0x60B74832F7923026 2020-01-02' "$TEST_TMP/reply.txt"
check_grep "2: ... and its fingerprint" \
	'Fingerprint: C562 077F 5495 A4F1 3AD1  8716 2C1B 67B3 F792 3026' "$TEST_TMP/reply.txt"
check_grep "2: INDEX sends no keys" '^keys-part: no$' "$TEST_TMP/reply.txt"
ask "VERBOSE INDEX collide"
check "2: VERBOSE INDEX: a reply in the format" reply_ok alice@client.test
check_grep "2: ... Subject names the command" '^subject: Reply to VERBOSE INDEX collide$' \
	"$TEST_TMP/reply.txt"
check_grep "2: ... with the user IDs" '^uid  Collide D short <d-short@collide.test>' \
	"$TEST_TMP/reply.txt"
ask "GET nobody-here@nowhere.test"
check "2: a search without match: a reply in the format" reply_ok alice@client.test
check_grep "2: ... it says no key matches" '^No key matches nobody-here@nowhere.test\.' \
	"$TEST_TMP/reply.txt"
ask "MGET F605A5|3A738B"
check "2: MGET: a reply in the format" reply_ok alice@client.test
check_grep "2: ... not a command of this keyserver" 'MGET is not a command of this keyserver' \
	"$TEST_TMP/reply.txt"
check_grep "2: ... pointing to HELP" 'Subject HELP' "$TEST_TMP/reply.txt"
ask "HELP" alice@client.test -
check "2: a request without Message-ID: no In-Reply-To, no References" \
	reply_ok alice@client.test -

# --- 3. HELP -----------------------------------------------------------------
ask "HELP"
check "3: HELP: a reply in the format" reply_ok alice@client.test
check_grep "3: the built-in help lists GET" '^  GET <search>' "$TEST_TMP/reply.txt"
printf 'Custom help of this keyserver.\nAsk GET.\n' >"$CONFDIR/pksbridge-help.txt"
printf 'Hilfe zu diesem Schl\303\274sselserver.\n' >"$CONFDIR/pksbridge-help.de.txt"
ask "HELP"
check "3: with pksbridge-help.txt: a reply" reply_ok alice@client.test
check_grep "3: ... the operator's text" '^Custom help of this keyserver\.$' "$TEST_TMP/reply.txt"
ask "help de"
check "3: HELP de: a reply (quoted-printable UTF-8 text)" reply_ok alice@client.test
check_grep "3: ... Subject: Reply to HELP de" '^subject: Reply to HELP de$' "$TEST_TMP/reply.txt"
check_grep "3: ... the German text, decoded" 'Hilfe zu diesem Schlüsselserver' "$TEST_TMP/reply.txt"
ask "HELP fr"
check "3: HELP fr (no such file): the default file" reply_ok alice@client.test
check_grep "3: ... is the operator's text" '^Custom help' "$TEST_TMP/reply.txt"

# --- 4. ADD, then LAST -----------------------------------------------------------
_n=$(smtpsink_count "$SINK")
{
	echo "Return-Path: <bob@client.test>"
	echo "From: bob@client.test"
	echo "Subject: ADD"
	echo "Message-ID: <add-bob@client.test>"
	echo
	cat "$K/bob.asc"
} >"$TEST_TMP/add.eml"
check_rc "4: ingest of bob's ADD exits 0" 0 \
	"$PKSBRIDGE" -c "$CONF" ingest <"$TEST_TMP/add.eml"
wait_for "4: SKS serves bob (through its messages/ spool)" 40 \
	sks_served "$port" "$BOB"
wait_until 20 test -e "$SINK/msg.$((_n + 1))" && REPLY=$SINK/msg.$((_n + 1))
check "4: the ADD reply reaches the sink, in the format" sh -c \
	"$CHECK '$REPLY' bob@client.test $US add-bob@client.test >'$TEST_TMP/reply.txt'"
check_grep "4: ... it says bob's key is a new key" "^  $BOB \(.*\): new key$" \
	"$TEST_TMP/reply.txt"
check_grep "4: ... and that SKS merges it later" 'handed to SKS' "$TEST_TMP/reply.txt"
ask "LAST 1"
check "4: LAST 1: a reply in the format" reply_ok alice@client.test
# fpr_text FPR - a fingerprint as the replies write it (as gpg does).
fpr_text() {
	echo "$1" | sed 's/\(....\)/\1 /g' |
		awk '{ print $1, $2, $3, $4, $5 "  " $6, $7, $8, $9, $10 }'
}
check_grep "4: ... lists bob's key, changed today" "$(fpr_text "$BOB")" \
	"$TEST_TMP/reply.txt"
check_grep "4: ... and sends it" '^keys-part: yes$' "$TEST_TMP/reply.txt"
ask "LAST 100000"
check "4: LAST 100000: a bounded reply in the format" reply_ok alice@client.test
check_grep "4: ... saying how far back this gateway remembers" \
	'remembers changes for 7d .*LAST 100000 is' "$TEST_TMP/reply.txt"
check_eq "4: ... one key, no more" "$(grep -c '^      ' "$TEST_TMP/reply.txt")" 1

# --- 5. retries and refusals ------------------------------------------------------
check "5: the runner stops" stop_daemon "$RUNNER"
sks_stop "$SKS"
MSGID=$(request "$TEST_TMP/req.eml" "GET 0xF7923026")
"$PKSBRIDGE" -c "$CONF" ingest <"$TEST_TMP/req.eml"
check_eq "5: SKS down: the reply is deferred (inline attempt, no runner)" \
	"$(pb_field "$CONF" state message_id="$MSGID")" deferred
check_grep "5: ... saying that the key database did not answer" \
	"127\.0\.0\.1:$port" "$(pb_field "$CONF" last_error message_id="$MSGID" >"$TEST_TMP/le"; echo "$TEST_TMP/le")"
sks_start "$SKS" "$port" 2>"$TEST_TMP/sks.err" || not_ok "SKS starts again"
ID=$(pb_field "$CONF" id message_id="$MSGID")
_n=$(smtpsink_count "$SINK")
check "5: queue retry of the deferred reply" "$PKSBRIDGE" -c "$CONF" queue retry "$ID"
check "5: run --once sends it" "$PKSBRIDGE" -c "$CONF" run --once
check_eq "5: ... the entry is done" "$(pb_field "$CONF" state message_id="$MSGID")" done
check_eq "5: ... the sink has it" "$(smtpsink_count "$SINK")" $((_n + 1))
smtpsink_script "$SINK" "rcpt 550 <carol@client.test> 5.1.1 no such user"
MSGID=$(request "$TEST_TMP/req.eml" "GET 0xF7923026" carol@client.test)
"$PKSBRIDGE" -c "$CONF" ingest <"$TEST_TMP/req.eml"
check_eq "5: a relay refusing the requester (550): the reply failed" \
	"$(pb_field "$CONF" state message_id="$MSGID")" failed
check_grep "5: ... with the relay's words" '550 5\.1\.1 no such user' \
	"$(pb_field "$CONF" last_error message_id="$MSGID" >"$TEST_TMP/le"; echo "$TEST_TMP/le")"
smtpsink_script "$SINK"

# --- 6. sendmail_cmd --------------------------------------------------------------
capture_cmd "$TEST_TMP/capture" "$TEST_TMP/captured"
conf "sendmail_cmd: $TEST_TMP/capture -oi"
MSGID=$(request "$TEST_TMP/req.eml" "GET 0xF7923026")
"$PKSBRIDGE" -c "$CONF" ingest <"$TEST_TMP/req.eml"
check_eq "6: sendmail_cmd: the reply is done" "$(pb_field "$CONF" state message_id="$MSGID")" done
check_eq "6: ... the command got -f <> before the recipient" \
	"$(cat "$TEST_TMP/captured/args.0" | tr '\n' ' ')" "-oi -f <> -- alice@client.test "
check_grep "6: ... and the reply (LF line ends)" '^Subject: Reply to GET 0xF7923026$' \
	"$TEST_TMP/captured/mail.0"

pb_list "$CONF" "$TEST_TMP/all.json"
check "queue list --all --json keeps the JSON contract (kind included)" \
	$PBJSON list "$TEST_TMP/all.json"
check "nothing logged an error" sh -c "! grep -Ei 'error|panic' '$TEST_TMP/ingest.log' '$TEST_TMP/runner.log'"
smtpsink_stop
sks_stop "$SKS"
done_testing
