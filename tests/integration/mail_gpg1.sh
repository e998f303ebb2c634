#!/bin/sh
# tests/integration/mail_gpg1.sh - the real client: GnuPG 1.4's
# "--keyserver mailto:" (gpgkeys_mailto, Debian's gnupg1) through a real
# Exim into pksbridge, answered from a real SKS, the reply back through
# the same Exim into the requester's mailbox, imported with gpg1.
#
#   1. gpg1 --recv-keys 0x<C's fingerprint>: gpgkeys_mailto sends
#      "GET 0xF7923026" (the last 8 digits), which two keys share; the
#      reply names both by their full fingerprints and gpg1 --import of
#      the mailbox imports both
#   2. gpg1 --send-keys with mail-from=: the ADD mail has gpgkeys_mailto's
#      broken "From:  <>", the reply still reaches the sender (it goes to
#      the envelope sender), the key reaches SKS, and the key goes out to
#      the PKS peer as sync mail
#   3. gpg1 --search-keys: "GET <word>", answered
#   4. Exim's sendmail given "-f FROM_ADDR -f <>", as pksbridge runs a
#      sendmail_cmd with a -f of its own for a reply (mail_commands.sh
#      shows those arguments): the last -f counts, the mail leaves from
#      the null sender
#   and gpgkeys_mailto's quirk each time: gpg1 exits 2 after every send
#   ("keyserver communications error"), which is not ours.
. "$(dirname "$0")/../lib.sh"
. "$TOP/tests/lib/sks.sh"
. "$TOP/tests/lib/sks_it.sh"
. "$TOP/tests/lib/mta.sh"
. "$TOP/tests/lib/pksbridge.sh"

need_cmd gpg1 sks exim4 curl unshare python3 || done_testing
[ -x /usr/lib/gnupg1/gpgkeys_mailto ] ||
	{ not_ok "gpgkeys_mailto is installed (Debian package gnupg1)"; done_testing; }
pb_setup || done_testing
K=$TEST_DATA/keys
C=BD5C2399CD95E4461856F0EF60B74832F7923026
D=C562077F5495A4F13AD187162C1B67B3F7923026
BOB=$(pb_fpr bob)
US=pgp-public-keys@bridge.test
PEER=pgp-public-keys@pks.test
ALICE=alice@client.test
CHECK="python3 $TOP/tests/lib/reply_check.py"

SKS=$TEST_TMP/sks
sks_port=$(free_port)
sks_start "$SKS" "$sks_port" 2>"$TEST_TMP/sks.err" ||
	{ not_ok "SKS starts" "$(cat "$TEST_TMP/sks.err")"; done_testing; }
for k in collide-c collide-d; do
	curl -s -o /dev/null --data-urlencode "keytext@$K/$k.asc" \
		"http://127.0.0.1:$sks_port/pks/add"
done
sks_wait_key "$sks_port" "$C" 10 && sks_wait_key "$sks_port" "$D" 10 ||
	not_ok "SKS serves the two keys of short ID F7923026"

MB=$TEST_TMP/mailboxes
REQ=$TEST_TMP/requests
mkdir -p "$MB" "$REQ" "$TEST_TMP/bin" && chmod 777 "$MB" "$REQ"
cp "$TOP/tests/lab/tap" "$TEST_TMP/bin/tap" && chmod 755 "$TEST_TMP/bin/tap"
S=$TEST_TMP/spool
CONF=$TEST_TMP/pksbridge.conf
mta_port=$(free_port)
pb_spool "$S"
echo "$PEER" >"$TEST_TMP/mailsync"
pb_conf "$CONF" "$S" "keydb: hkp://127.0.0.1:$sks_port" \
	"smtp_relay: 127.0.0.1:$mta_port" "batch_window: 1s" "log: stderr"
aliases=$TEST_TMP/aliases
# What pksbridge is handed is recorded on the way (tests/lab/tap).
mta_alias "$aliases" pgp-public-keys "$TEST_TMP/bin/tap" "$REQ" \
	"$PB_BIN" -c "$CONF" ingest
mta_mailbox "$aliases" "$ALICE" "$MB/alice.mbox"
mta_mailbox "$aliases" "$PEER" "$MB/peer.mbox"
MTA_DOMAINS="bridge.test:client.test:pks.test"
MTA_PIPE_USER=$PB_USER
MTA_PIPE_GROUP=$PB_GROUP
mta_start "$TEST_TMP/exim" "$mta_port" "$aliases" || done_testing
spawn_daemon "$TEST_TMP/runner.log" runuser -u "$PB_USER" -- \
	"$PB_BIN" -c "$CONF" run
wait_until 10 grep -q 'runner started' "$TEST_TMP/runner.log" ||
	not_ok "the runner starts" "$(tail -n 5 "$TEST_TMP/runner.log")"
show_on_failure "$TEST_TMP/runner.log" "$TEST_TMP/gpg1.out"

export GNUPGHOME=$TEST_TMP/gpg1-home
mkdir -m 700 "$GNUPGHOME"
KS="--keyserver mailto:$US"
# mails MBOX - how many mails MBOX holds.
mails() { grep -c '^From ' "$1" 2>/dev/null; }
# more_mails MBOX N - MBOX holds more than N mails (counted at each poll).
more_mails() { [ "$(mails "$1")" -gt "$2" ]; }
# more_requests N - pksbridge was handed more than N mails.
more_requests() { [ "$(ls "$REQ"/*.eml 2>/dev/null | wc -l)" -gt "$1" ]; }
# reply_state STATE - alice's first reply entry is in STATE.
reply_state() {
	[ "$(pb_as "$PB_OPER" "$PB_BIN" -c "$CONF" queue list --all --json |
		$PBJSON get /dev/stdin state kind=reply peer=$ALICE |
		head -n 1)" = "$1" ]
}
# last_mail MBOX OUT - the last mail of MBOX into OUT, with CRLF line
# ends as on the wire (for reply_check.py).
last_mail() {
	awk '/^From / { n++; out = "" } { m[n] = m[n] $0 "\n" }
	     END { printf "%s", m[n] }' "$1" | sed '1d; s/$/\r/' >"$2"
}

# --- 1. --recv-keys of a key whose short ID another key shares -----------------
mta_gpg1 "$ALICE" --batch $KS --keyserver-options mail-from=$ALICE \
	--recv-keys 0x$C >"$TEST_TMP/gpg1.out" 2>&1 </dev/null
rc=$?
check_eq "1: gpg1 --recv-keys exits 2 after sending (gpgkeys_mailto's quirk)" "$rc" 2
wait_for "1: pksbridge received the request through Exim" 20 more_requests 0
req=$(ls "$REQ"/*.eml | head -n 1)
check_grep "1: gpgkeys_mailto asked for the last 8 digits: GET 0xF7923026" \
	'^Subject: GET 0xF7923026$' "$req"
check_grep "1: ... with the envelope sender in Return-path" \
	"^Return-path: <$ALICE>\$" "$req"
check_eq "1: pksbridge ingest exited 0" "$(cat "$req.rc")" 0
wait_for "1: the reply reaches alice's mailbox through Exim" 30 \
	more_mails "$MB/alice.mbox" 0
last_mail "$MB/alice.mbox" "$TEST_TMP/r1.eml"
check "1: the reply keeps the format" sh -c \
	"$CHECK '$TEST_TMP/r1.eml' $ALICE $US >'$TEST_TMP/r1.txt'"
check_grep "1: Exim delivered it with the null envelope sender" '^Return-path: <>' \
	"$MB/alice.mbox"
check_grep "1: the text names key C by its full fingerprint" \
	'BD5C 2399 CD95 E446 1856  F0EF 60B7 4832 F792 3026' "$TEST_TMP/r1.txt"
check_grep "1: ... and key D" 'C562 077F 5495 A4F1 3AD1  8716 2C1B 67B3 F792 3026' \
	"$TEST_TMP/r1.txt"
G1=$TEST_TMP/gpg1-import
mkdir -m 700 "$G1"
check "1: gpg1 --import of the mailbox" gpg1 --homedir "$G1" --batch \
	--import "$MB/alice.mbox"
gpg1 --homedir "$G1" --batch --with-colons --fingerprint >"$TEST_TMP/g1.list" 2>/dev/null
check_grep "1: ... imports key C" "^fpr:::::::::$C:" "$TEST_TMP/g1.list"
check_grep "1: ... and key D" "^fpr:::::::::$D:" "$TEST_TMP/g1.list"
# The runner marks the entry done only after Exim's answer to the end of
# DATA, and Exim may deliver to the mailbox before that answer is read:
# the mailbox is no sign that the commit happened yet, so wait for it.
wait_for "1: the reply entry is done, kind reply, to alice" 10 reply_state done

# --- 2. --send-keys with mail-from=: "From:  <>" -------------------------------
gpg1 --homedir "$GNUPGHOME" --batch --import "$K/bob.asc" 2>/dev/null
nreq=$(ls "$REQ"/*.eml | wc -l)
nalice=$(mails "$MB/alice.mbox")
mta_gpg1 "$ALICE" --batch $KS --keyserver-options mail-from=$ALICE \
	--send-keys 0x$BOB >"$TEST_TMP/gpg1.out" 2>&1 </dev/null
rc=$?
check_eq "2: gpg1 --send-keys exits 2 after sending (gpgkeys_mailto's quirk)" "$rc" 2
wait_for "2: pksbridge received the ADD through Exim" 20 more_requests "$nreq"
req=$(ls "$REQ"/*.eml | sort | tail -n 1)
check_grep "2: an ADD" '^Subject: ADD$' "$req"
check_grep "2: ... whose From is gpgkeys_mailto's broken 'From:  <>'" '^From:  <>$' "$req"
wait_for "2: SKS serves bob's key" 20 sks_served "$sks_port" "$BOB"
wait_for "2: the ADD reply reaches alice (the envelope sender)" 30 \
	more_mails "$MB/alice.mbox" "$nalice"
last_mail "$MB/alice.mbox" "$TEST_TMP/r2.eml"
check "2: the ADD reply keeps the format" sh -c \
	"$CHECK '$TEST_TMP/r2.eml' $ALICE $US >'$TEST_TMP/r2.txt'"
check_grep "2: ... Subject: Reply to ADD" '^subject: Reply to ADD$' "$TEST_TMP/r2.txt"
check_grep "2: ... bob's key was a new key for SKS" "$BOB \(.*\): new key" "$TEST_TMP/r2.txt"
wait_for "2: the key goes to the PKS peer as sync mail" 30 \
	more_mails "$MB/peer.mbox" 0
check_grep "2: ... Subject: incremental, Auto-Submitted: auto-generated" \
	'^Auto-Submitted: auto-generated$' "$MB/peer.mbox"
check "2: ... holding bob's key" sh -c "gpg --homedir '$TEST_TMP/gpg1-import' \
	--batch --no-autostart --with-colons --show-keys '$MB/peer.mbox' 2>/dev/null |
	grep -q '^fpr:::::::::$BOB:'"
check_eq "2: no reply went to the PKS peer" \
	"$(grep -c '^Subject: Reply to' "$MB/peer.mbox")" 0

# --- 3. --search-keys: GET <word> ------------------------------------------------
nalice=$(mails "$MB/alice.mbox")
t0=$(date +%s)
mta_gpg1 "$ALICE" --batch $KS --keyserver-options mail-from=$ALICE \
	--search-keys collide >"$TEST_TMP/gpg1.out" 2>&1 </dev/null
check_eq "3: gpg1 --search-keys exits 2 (the quirk)" "$?" 2
echo "# 3: gpg1 --search-keys took $(($(date +%s) - t0)) s"
wait_for "3: a reply reaches alice" 30 more_mails "$MB/alice.mbox" "$nalice"
last_mail "$MB/alice.mbox" "$TEST_TMP/r3.eml"
check "3: the reply keeps the format" sh -c \
	"$CHECK '$TEST_TMP/r3.eml' $ALICE $US >'$TEST_TMP/r3.txt'"
check_grep "3: gpgkeys_mailto sent GET collide, answered with both keys" \
	'^2 keys match collide:$' "$TEST_TMP/r3.txt"

# --- 4. sendmail_cmd with its own -f, then pksbridge's -f <> --------------------
nalice=$(mails "$MB/alice.mbox")
printf 'From: %s\nTo: %s\nSubject: Reply to HELP\n\ntext\n' "$US" "$ALICE" |
	mta_exim -oi -f "$US" -f '<>' -- "$ALICE"
check_eq "4: Exim's sendmail -oi -f $US -f '<>' accepts the mail" "$?" 0
wait_for "4: Exim delivers it to alice" 30 more_mails "$MB/alice.mbox" "$nalice"
check_eq "4: ... from the null sender (the last -f counts)" \
	"$(awk '/^From / { n++ } n == '"$((nalice + 1))"' && /^Return-path:/' "$MB/alice.mbox")" \
	"Return-path: <>"

check_eq "Exim never bounced or failed a delivery (no <= <> from us bounced, no **)" \
	"$(grep -c -e ' \*\* ' "$TEST_TMP/exim/log/mainlog")" 0
check "the runner logged no error" sh -c "! grep -Ei 'error|panic' '$TEST_TMP/runner.log'"
mta_stop
sks_stop "$SKS"
done_testing
