#!/bin/sh
# tests/integration/mta_harness.sh - proves tests/lib/mta.sh against a real
# Exim, with the stand-in filter fixture in place of pksbridge, and records
# the Exim behaviour pksbridge is built around: what a pipe command gets on
# stdin and runs as, that exit 75 defers and the mail is delivered again
# after a queue run, and that exit 1 bounces the mail back to the sender
# (a peer keyserver) -- the reason pksbridge's MTA-facing commands exit only
# 0 or 75.
. "$(dirname "$0")/../lib.sh"
. "$TOP/tests/lib/mta.sh"

need_cmd exim4 curl || done_testing

keys=$TEST_TMP/keys	# pgp-public-keys, through contrib's example alias
tempfail=$TEST_TMP/tempfail
broken=$TEST_TMP/broken
peer=$TEST_TMP/peer	# the sender's mailbox: where bounces land
standin_setup "$keys" 0
standin_setup "$tempfail" 75
standin_setup "$broken" 1
standin_setup "$peer" 0

aliases=$TEST_TMP/aliases
example=$TOP/contrib/aliases/pksbridge.aliases
check_grep "contrib aliases example pipes pgp-public-keys to pksbridge ingest" \
	'^pgp-public-keys: "\|/usr/local/sbin/pksbridge ingest"$' "$example"
sed -n "s|/usr/local/sbin/pksbridge |$STANDIN $keys |p" "$example" |
	grep -v '^#' >"$aliases"
mta_alias "$aliases" tempfail "$STANDIN" "$tempfail" ingest
mta_alias "$aliases" broken "$STANDIN" "$broken" ingest
mta_alias "$aliases" peer "$STANDIN" "$peer"

port=$(free_port)
check_rc "free_port picks a port nothing uses" 1 port_in_use "$port"
mta_start "$TEST_TMP/exim" "$port" "$aliases" || done_testing
check "exim listens on the picked loopback port" port_listening "$port"

# --- 1. exit 0: delivered, and what the filter sees -------------------------
make_mail "$TEST_TMP/m1" incremental
id=$(mta_send peer@bridge.test pgp-public-keys@bridge.test "$TEST_TMP/m1")
check "exit 0: exim accepts a mail for pgp-public-keys over SMTP" test -n "$id"
check "exit 0: exim finishes the delivery attempt" mta_wait "$id"
check "exit 0: exim logs the delivery to the pipe" \
	mta_log_grep "$id => \|$STANDIN $keys ingest <pgp-public-keys@bridge.test>"
check_eq "exit 0: the filter ran once" "$(standin_count "$keys")" 1
msg=$(standin_last "$keys")
check_eq "exit 0: stdin starts with exim's mbox From_ line" \
	"$(head -n 1 "$msg" | cut -d' ' -f1-2)" "From peer@bridge.test"
check_grep "exit 0: exim adds Return-path" '^Return-path: <peer@bridge\.test>$' "$msg"
check_grep "exit 0: exim adds Envelope-to" '^Envelope-to: pgp-public-keys@bridge\.test$' "$msg"
check_grep "exit 0: the test transport adds Delivered-To" \
	'^Delivered-To: pgp-public-keys@bridge\.test$' "$msg"
check_grep "exit 0: the mail's own headers arrive" '^Subject: incremental$' "$msg"
# Exim's pipe transport has message_suffix "\n": the body gains a last
# empty line.
sed '1,/^$/d' "$msg" >"$TEST_TMP/m1.body"
{ cat "$TEST_DATA/keys/alice.asc"; echo; } >"$TEST_TMP/m1.want"
check "exit 0: the body arrives intact, plus exim's trailing empty line" \
	cmp "$TEST_TMP/m1.body" "$TEST_TMP/m1.want"
check_eq "exit 0: the filter gets the alias's arguments" "$(cat "$msg.args")" ingest
check_eq "exit 0: the filter runs as the transport's user, with only its groups" \
	"$(cat "$msg.cred")" "$(id nobody)"
check_grep "exit 0: exim passes RECIPIENT in the environment" \
	'^RECIPIENT=pgp-public-keys@bridge\.test$' "$msg.env"
check_eq "exit 0: nothing is left in exim's queue" "$(mta_queue_count)" 0

# --- 2. exit 75: deferred, then delivered by a queue run --------------------
make_mail "$TEST_TMP/m2" incremental
id=$(mta_send peer@bridge.test tempfail@bridge.test "$TEST_TMP/m2")
check "exit 75: exim accepts a mail for the failing filter" test -n "$id"
check "exit 75: exim finishes the delivery attempt" mta_wait "$id"
check "exit 75: defers: exim logs ==" \
	mta_log_grep "$id == .* defer .*returned 75"
check_eq "exit 75: the deferred mail stays in exim's queue" "$(mta_queue_count)" 1
check_eq "exit 75: the filter saw it once" "$(standin_count "$tempfail")" 1
standin_exit "$tempfail" 0
check "exit 75: a forced queue run completes" mta_run_queue
check "exit 75: the fixed filter gets the mail: exim logs =>" mta_log_grep "$id => "
check "exit 75: exim completes the message" mta_log_grep "$id Completed"
check_eq "exit 75: the queue is empty again" "$(mta_queue_count)" 0
check_eq "exit 75: the filter got the mail a second time" "$(standin_count "$tempfail")" 2
check_eq "exit 75: the sender got no bounce for a deferral" "$(standin_count "$peer")" 0

# --- 3. exit 1: bounced to the sender ---------------------------------------
make_mail "$TEST_TMP/m3" incremental
mid=$(sed -n 's/^Message-ID: //p' "$TEST_TMP/m3")
id=$(mta_send peer@bridge.test broken@bridge.test "$TEST_TMP/m3")
check "exit 1: exim accepts a mail for the broken filter" test -n "$id"
check "exit 1: exim finishes the delivery attempt" mta_wait "$id"
check "exit 1: a permanent failure: exim logs **" \
	mta_log_grep "$id \*\* .*returned 1"
check "exit 1: exim generates a bounce (sender <>)" mta_log_grep "<= <> R=$id "
check_eq "exit 1: nothing waits in the queue: the mail is gone" "$(mta_queue_count)" 0
wait_for "exit 1: the bounce reaches the sending keyserver" 20 \
	standin_received "$peer" 1
bounce=$(standin_last "$peer")
check_grep "exit 1: the bounce is exim's failure report" \
	'^Subject: Mail delivery failed' "$bounce"
check_grep "exit 1: the bounce quotes the failed mail" "^Message-ID: $mid\$" "$bounce"

# --- 4. unknown local parts are refused at RCPT ----------------------------
refused() { ! mta_send "$@"; }
check "an unknown recipient is refused in the SMTP dialogue" \
	refused peer@bridge.test nosuchuser@bridge.test "$TEST_TMP/m1"
check "exim logs the refusal" mta_log_grep "rejected RCPT <nosuchuser@bridge\.test>"

check "exim's paniclog stays empty" test ! -s "$TEST_TMP/exim/log/paniclog"
check "mta_stop stops exim within 10s" mta_stop
check_eq "no process of this test is left running" "$(_t_doomed)" ""
check_rc "the port is free again" 1 port_listening "$port"
done_testing
