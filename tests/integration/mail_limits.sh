#!/bin/sh
# tests/integration/mail_limits.sh - reply_limit, reply_limit_total and
# max_reply_keys, with the real pksbridge, a real SKS and a real SMTP
# server (smtpsink):
#
#   1. reply_limit 3/1h: a flood of 10 GETs from one sender gets 3
#      replies, 7 are recorded as refused by the sender's limit; another
#      sender right after is still answered (the flood did not drain the
#      total, which is charged only for replies the sender's own limit
#      allowed)
#   2. reply_limit_total 8/1h: five more senders, one request each: four
#      answered, the fifth refused by the total
#   3. 12 GETs from one new sender at once (12 filters in parallel, one
#      spool): exactly 3 answered (the bucket is read for update in the
#      transaction that records the reply)
#   4. max_reply_keys 1: GET of the short ID two keys share says how many
#      matched and sends no key
. "$(dirname "$0")/../lib.sh"
. "$TOP/tests/lib/sks.sh"
. "$TOP/tests/lib/sks_it.sh"
. "$TOP/tests/lib/smtpsink.sh"
. "$TOP/tests/lib/mailcmd_it.sh"

need_cmd sks curl python3 || done_testing
US=$MC_US
CHECK=$REPLY_CHECK
mc_sks collide-c collide-d
mc_sink
CONF=$TEST_TMP/pb.conf
# conf SPOOL LINE... - the configuration, with a spool of its own (a
# spool keeps its rate buckets across configurations).
conf() {
	_cf_spool=$TEST_TMP/$1
	shift
	mc_conf "$CONF" "$_cf_spool" "$@"
}
conf spool1 "reply_limit: 3/1h" "reply_limit_total: 8/1h"
SEQ=0
# get FROM - one GET 0xF7923026 from FROM, ingested (the filter sends
# its reply inline: no runner); its Message-ID is <N.FROM>, N counting
# up (get_n FROM N: N given, for requests sent in the background).
get_n() {
	printf 'Return-Path: <%s>\nFrom: %s\nSubject: GET 0xF7923026\nMessage-ID: <%s.%s>\n\nrequest\n' \
		"$1" "$1" "$2" "$1" | "$PKSBRIDGE" -c "$CONF" ingest 2>>"$TEST_TMP/ingest.log"
}
get() {
	SEQ=$((SEQ + 1))
	get_n "$1" "$SEQ"
}
# replies_to ADDR - how many replies the sink has for ADDR.
replies_to() {
	grep -l "^RCPT TO:<$1>" "$SINK"/msg.*.env 2>/dev/null | wc -l | tr -d ' '
}
# entries ADDR STATE - reply entries to ADDR in STATE.
entries() {
	pb_count "$CONF" kind=reply peer="$1" state="$2"
}

# --- 1. a flood from one sender ---------------------------------------------------
i=0
while [ $i -lt 10 ]; do get a@client.test; i=$((i + 1)); done
check_eq "1: 10 GETs from a@: 3 replies sent" "$(replies_to a@client.test)" 3
check_eq "1: ... 3 entries done, 7 suppressed" \
	"$(entries a@client.test done) $(entries a@client.test suppressed)" "3 7"
pb_field "$CONF" last_error kind=reply peer=a@client.test state=suppressed |
	sort -u >"$TEST_TMP/why"
check_grep "1: ... each saying the sender's limit was reached, and when it frees up" \
	'^no reply: reply_limit 3/3600s for <a@client.test> reached \(next in [0-9]+s\)$' \
	"$TEST_TMP/why"
get b@client.test
check_eq "1: b@ right after a@'s flood: answered" "$(replies_to b@client.test)" 1

# --- 2. the total ---------------------------------------------------------------------
for u in c d e f g; do get $u@client.test; done
check_eq "2: five more senders: four answered (3 + 1 + 4 = reply_limit_total 8)" \
	"$(($(replies_to c@client.test) + $(replies_to d@client.test) + $(replies_to e@client.test) + $(replies_to f@client.test)))" 4
check_eq "2: ... the fifth refused" "$(entries g@client.test suppressed)" 1
check_grep "2: ... by the total" '^no reply: reply_limit_total 8/3600s reached' \
	"$(pb_field "$CONF" last_error kind=reply peer=g@client.test >"$TEST_TMP/why"; echo "$TEST_TMP/why")"
check_eq "2: the sink got 8 replies in all" "$(smtpsink_count "$SINK")" 8

# --- 3. 12 at once from one sender ------------------------------------------------------
conf spool3 "reply_limit: 3/1h"
i=0
pids=
while [ $i -lt 12 ]; do
	SEQ=$((SEQ + 1))
	get_n p@client.test "$SEQ" &
	pids="$pids $!"
	i=$((i + 1))
done
wait $pids
check_eq "3: 12 GETs from p@ at once: 12 reply entries" \
	"$(pb_count "$CONF" kind=reply peer=p@client.test)" 12
check_eq "3: ... exactly 3 sent, 9 refused" \
	"$(entries p@client.test done) $(entries p@client.test suppressed)" "3 9"
check_eq "3: ... the sink has 3 for p@" "$(replies_to p@client.test)" 3

# --- 4. max_reply_keys -------------------------------------------------------------------
conf spool4 "max_reply_keys: 1"
n=$(smtpsink_count "$SINK")
get m@client.test
check "4: max_reply_keys 1: a reply in the format" sh -c \
	"$CHECK '$SINK/msg.$((n + 1))' m@client.test $US $SEQ.m@client.test >'$TEST_TMP/r.txt'"
check_grep "4: ... saying 2 keys match and at most 1 is sent" \
	'^2 keys match 0xF7923026; this keyserver sends at most 1 in one reply\.$' "$TEST_TMP/r.txt"
check_grep "4: ... no key part" '^keys-part: no$' "$TEST_TMP/r.txt"
check "4: ... no armor block at all" sh -c \
	"! grep -q 'BEGIN PGP PUBLIC KEY BLOCK' '$SINK/msg.$((n + 1))'"

check "nothing logged an error" sh -c "! grep -Ei 'error|panic' '$TEST_TMP/ingest.log'"
smtpsink_stop
sks_stop "$SKS"
done_testing
