#!/bin/sh
# tests/integration/mail_hostile.sh - hostile mail commands, with the real
# pksbridge, a real SKS and a real SMTP server: each gets a bounded reply
# or none, and no reply ever carries a header it should not, goes to
# anyone but the envelope sender, or has a line over 998 characters.
#
#   a Subject of 10,000 characters; encoded words (Q and B) that decode
#   to CR LF and a Bcc: header; "0x" followed by junk (answered "not a key
#   ID", SKS never asked); LAST 100000 (answered for what the gateway
#   remembers); LAST with 11 digits; a search of 300 bytes; a non-ASCII
#   search (an encoded-word Subject, quoted-printable text); a
#   Return-Path folded around a Bcc: (no usable sender: no reply); a
#   References header of 100,000 bytes.
. "$(dirname "$0")/../lib.sh"
. "$TOP/tests/lib/sks.sh"
. "$TOP/tests/lib/sks_it.sh"
. "$TOP/tests/lib/smtpsink.sh"
. "$TOP/tests/lib/mailcmd_it.sh"

need_cmd sks curl python3 || done_testing
US=$MC_US
CHECK=$REPLY_CHECK
mc_sks
mc_sink
CONF=$TEST_TMP/pb.conf
mc_conf "$CONF" "$TEST_TMP/spool" "reply_limit: 100/1h"

# hostile NAME - ingest $TEST_TMP/NAME.eml; then REPLY is the reply the
# sink got for it, or empty.
hostile() {
	_h_n=$(smtpsink_count "$SINK")
	"$PKSBRIDGE" -c "$CONF" ingest <"$TEST_TMP/$1.eml" 2>>"$TEST_TMP/ingest.log"
	_h_rc=$?
	REPLY=
	[ -e "$SINK/msg.$((_h_n + 1))" ] && REPLY=$SINK/msg.$((_h_n + 1))
	return $_h_rc
}
# mail NAME SUBJECT-LINE [HEADER...] - a request with the Subject header
# line as given (folded or encoded as the test wants).
mail() {
	_m_name=$1
	_m_subj=$2
	shift 2
	{
		echo "Return-Path: <alice@client.test>"
		echo "From: alice@client.test"
		printf '%s\n' "$_m_subj"
		echo "Message-ID: <$_m_name@client.test>"
		for _m_h in "$@"; do printf '%s\n' "$_m_h"; done
		echo
		echo "request"
	} >"$TEST_TMP/$_m_name.eml"
}
# answered NAME - the reply to NAME exists and keeps the format (its
# checked text in TEST_TMP/NAME.txt).
answered() {
	[ -n "$REPLY" ] &&
		$CHECK "$REPLY" alice@client.test "$US" "$1@client.test" >"$TEST_TMP/$1.txt"
}
# header_lines MSG - the reply's header section, one line each.
header_lines() {
	tr -d '\r' <"$1" | sed '/^$/q'
}

long=$(awk 'BEGIN { s = "GET "; for (i = 0; i < 10000; i++) s = s "x"; print s }')
mail long "Subject: $long"
check_rc "10,000-character Subject: ingest exits 0" 0 hostile long
check "... answered, in the format" answered long
check_grep "... saying the Subject is too long" 'longer than 1024 bytes' "$TEST_TMP/long.txt"
check "... the reply is small (under 4 KB), the Subject not echoed" \
	test "$(wc -c <"$REPLY")" -lt 4096
check_grep "... Subject: Reply to your mail" '^subject: Reply to your mail$' "$TEST_TMP/long.txt"

mail crlfq 'Subject: =?UTF-8?Q?GET_alice=0D=0ABcc:_evil@evil.test?='
check_rc "encoded word (Q) decoding to CR LF Bcc:: ingest exits 0" 0 hostile crlfq
check "... answered, in the format (one recipient, no Bcc header)" answered crlfq
check_eq "... the reply's Subject is one line, the CR LF made blanks" \
	"$(header_lines "$REPLY" | grep -c '^Subject: Reply to GET alice Bcc: evil@evil.test$')" 1
check_eq "... no header of the reply names evil.test but that Subject" \
	"$(header_lines "$REPLY" | grep -v '^Subject:' | grep -c evil)" 0
mail crlfb 'Subject: =?UTF-8?B?R0VUIGFsaWNlDQpCY2M6IGV2aWxAZXZpbC50ZXN0?='
check_rc "encoded word (B) decoding to CR LF Bcc:: ingest exits 0" 0 hostile crlfb
check "... answered, in the format" answered crlfb
check "... the envelope has one recipient, alice" sh -c \
	"grep -c '^RCPT TO:' '$REPLY.env' | grep -qx 1 && grep -q '^RCPT TO:<alice@client.test>$' '$REPLY.env'"

mail junk 'Subject: GET 0xZZZZ'
check_rc "GET 0xZZZZ: ingest exits 0" 0 hostile junk
check "... answered, in the format" answered junk
check_grep "... not a key ID" 'not a key ID' "$TEST_TMP/junk.txt"
check "... SKS was never asked (its log has no ZZZZ)" sh -c "! grep -q ZZZZ '$SKS/sks-db.log'"

mail last 'Subject: LAST 100000'
check_rc "LAST 100000: ingest exits 0" 0 hostile last
check "... answered, in the format" answered last
check_grep "... for what this gateway remembers" 'remembers changes for 7d' "$TEST_TMP/last.txt"
mail last11 'Subject: LAST 99999999999'
check_rc "LAST 99999999999: ingest exits 0" 0 hostile last11
check "... answered, in the format" answered last11
check_grep "... the argument refused" 'LAST needs a number of days' "$TEST_TMP/last11.txt"

big=$(awk 'BEGIN { s = ""; for (i = 0; i < 300; i++) s = s "y"; print s }')
mail search300 "Subject: GET $big"
check_rc "a 300-byte search: ingest exits 0" 0 hostile search300
check "... answered, in the format" answered search300
check_grep "... search longer than 256 bytes" 'search longer than 256 bytes' "$TEST_TMP/search300.txt"

mail utf8 'Subject: =?UTF-8?Q?GET_J=C3=BCrgen?='
check_rc "a non-ASCII search: ingest exits 0" 0 hostile utf8
check "... answered, in the format (7-bit on the wire)" answered utf8
check_grep "... its Subject an encoded word" '^ =\?UTF-8\?B\?' \
	"$(header_lines "$REPLY" >"$TEST_TMP/utf8.hdr"; echo "$TEST_TMP/utf8.hdr")"
check_grep "... its text names the search, decoded" 'No key matches Jürgen' "$TEST_TMP/utf8.txt"

{
	printf 'Return-Path: <alice@client.test\r\n Bcc: evil@evil.test>\r\n'
	printf 'From: alice@client.test\r\nSubject: GET 0xF7923026\r\n'
	printf 'Message-ID: <folded@client.test>\r\n\r\nrequest\r\n'
} >"$TEST_TMP/folded.eml"
check_rc "a Return-Path folded around a Bcc:: ingest exits 0" 0 hostile folded
check "... no reply" test -z "$REPLY"
check_grep "... recorded: no usable envelope sender" 'no usable envelope sender' \
	"$(pb_field "$CONF" last_error message_id=folded@client.test >"$TEST_TMP/why"; echo "$TEST_TMP/why")"

refs=$(awk 'BEGIN { s = "References:"; for (i = 0; i < 8000; i++) s = s sprintf(" <%05d@x.test>", i); print s }')
mail refs 'Subject: HELP' "$refs"
check_rc "a References header of 100,000 bytes: ingest exits 0" 0 hostile refs
check "... answered, in the format" answered refs
check_eq "... its References has at most 11 ids (10 kept and the request's)" \
	"$(header_lines "$REPLY" | awk '/^References:/ { on = 1 } on && /^[^ ]/ && !/^References:/ { on = 0 } on' |
		grep -o '<[^>]*>' | wc -l | tr -d ' ')" 11

check_eq "one reply per answered request (9), and no more" "$(smtpsink_count "$SINK")" 9
for f in "$SINK"/msg.*; do
	case "$f" in *.env) continue ;; esac
	awk 'length($0) > 999 { bad = 1 } END { exit bad }' "$f" ||
		not_ok "$(basename "$f") has a line over 998 characters"
done
ok "no reply has a line over 998 characters"
check "nothing logged an error" sh -c "! grep -Ei 'error|panic' '$TEST_TMP/ingest.log'"
smtpsink_stop
sks_stop "$SKS"
done_testing
