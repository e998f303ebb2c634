#!/bin/sh
# smtpsink_harness.sh - the test SMTP server and its sh helpers
# (tests/lib/smtpsink.sh) on their own, driven by curl's SMTP client:
# a mail is stored with its envelope, a script change applies to the next
# connection, a refused recipient stores nothing, a second sink runs
# beside the first, and the per-recipient faults (rcpt-delay,
# reset-in-data <ADDR>, dot-delay) hit only their recipient.
. "$(dirname "$0")/../lib.sh"
. "$TOP/tests/lib/smtpsink.sh"

need_cmd curl || done_testing

# send DIR RCPT FILE - submit FILE to the sink serving DIR.
send() {
	sed 's/\r$//' "$3" | curl -sS --max-time 20 \
		--url "smtp://127.0.0.1:$(cat "$1/port")/client.test" \
		--mail-from "me@client.test" --mail-rcpt "$2" --upload-file - \
		--crlf >/dev/null 2>"$1/curl.err"
}

# fails COMMAND... - true if COMMAND fails.
fails() {
	! "$@"
}

printf 'Subject: one\n\n.leading dot\nbody\n' >"$TEST_TMP/mail"

A=$TEST_TMP/a
smtpsink_start "$A" || done_testing
echo "$SMTPSINK_PORT" >"$A/port"
check "sink A listens on its port" port_listening "$SMTPSINK_PORT"
check "a mail is accepted" send "$A" peer@pks.test "$TEST_TMP/mail"
check_eq "one message stored" 1 "$(smtpsink_count "$A")"
check_grep "the envelope names the recipient" '^RCPT TO:<peer@pks.test>$' \
	"$A/msg.1.env"
check_grep "and the sender" '^MAIL FROM:<me@client.test>$' "$A/msg.1.env"
check "the message arrives as sent, dot unstuffed, CRLF" \
	cmp "$A/msg.1" "$(# fails COMMAND... - true if COMMAND fails.
fails() {
	! "$@"
}

printf 'Subject: one\r\n\r\n.leading dot\r\nbody\r\n' \
		>"$TEST_TMP/want"; echo "$TEST_TMP/want")"

smtpsink_script "$A" "rcpt 550 <gone@pks.test> 5.1.1 no such user"
check_rc "a scripted 550 at RCPT fails the send" 55 \
	send "$A" gone@pks.test "$TEST_TMP/mail"
check_grep "curl saw the scripted reply" "550" "$A/curl.err"
check "other recipients still pass" send "$A" peer@pks.test "$TEST_TMP/mail"
check_eq "two messages stored" 2 "$(smtpsink_count "$A")"

B=$TEST_TMP/b
PORT_A=$SMTPSINK_PORT
PID_A=$SMTPSINK_PID
smtpsink_start "$B" "$(free_port)" || done_testing
echo "$SMTPSINK_PORT" >"$B/port"
check "sink B has its own port" test "$SMTPSINK_PORT" != "$PORT_A"
smtpsink_script "$B" "greeting 421 4.3.2 closed"
check "a 421 greeting fails the send" fails send "$B" peer@pks.test \
	"$TEST_TMP/mail"
check_grep "with the scripted reply" "421" "$B/curl.err"
check_eq "B stored nothing" 0 "$(smtpsink_count "$B")"
smtpsink_stop
check "stopping B leaves A running" kill -0 "$PID_A"
check "A still takes mail" send "$A" peer@pks.test "$TEST_TMP/mail"
check_eq "three messages in A" 3 "$(smtpsink_count "$A")"

# Per-recipient misbehaviour, so one sink can play several peers.
# took COMMAND... - run it; how long it took in $ms, its status in $took_rc.
took() {
	_tm_0=$(date +%s%N)
	"$@"
	took_rc=$?
	ms=$((($(date +%s%N) - _tm_0) / 1000000))
}
smtpsink_script "$A" "rcpt-delay 1.5 <slow@pks.test>"
took send "$A" slow@pks.test "$TEST_TMP/mail"
check_eq "rcpt-delay: the slow recipient's mail is taken" "$took_rc" 0
check "... after the delay (${ms} ms >= 1500)" test "$ms" -ge 1500
took send "$A" peer@pks.test "$TEST_TMP/mail"
check "... another recipient is answered at once (${ms} ms < 1000)" \
	test "$took_rc" -eq 0 -a "$ms" -lt 1000
check_eq "five messages in A" "$(smtpsink_count "$A")" 5

smtpsink_script "$A" "reset-in-data <reset@pks.test>"
check "reset-in-data <ADDR>: that recipient's mail fails" \
	fails send "$A" reset@pks.test "$TEST_TMP/mail"
check "... another recipient's passes" send "$A" peer@pks.test "$TEST_TMP/mail"
check_eq "six messages in A" "$(smtpsink_count "$A")" 6

smtpsink_script "$A" "dot-delay 3 <hang@pks.test>"
# A client that dies while the sink hangs after the data: nothing stored.
# (curl --max-time would send QUIT and wait for the reply to it.)
(sed 's/\r$//' "$TEST_TMP/mail" | timeout -s KILL 1 curl -sS \
	--url "smtp://127.0.0.1:$(cat "$A/port")/client.test" \
	--mail-from me@client.test --mail-rcpt hang@pks.test --upload-file - \
	--crlf >/dev/null) 2>/dev/null
check "dot-delay: a client killed meanwhile fails" test "$?" -ne 0
sleep 3
check_eq "... and its message is dropped, not stored" "$(smtpsink_count "$A")" 6
took send "$A" hang@pks.test "$TEST_TMP/mail"
check "... a client that waits gets it stored (${ms} ms >= 3000)" \
	test "$took_rc" -eq 0 -a "$ms" -ge 3000
took send "$A" peer@pks.test "$TEST_TMP/mail"
check "... another recipient is not delayed (${ms} ms < 1000)" \
	test "$took_rc" -eq 0 -a "$ms" -lt 1000
check_eq "eight messages in A" "$(smtpsink_count "$A")" 8

done_testing
