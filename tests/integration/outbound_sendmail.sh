#!/bin/sh
# tests/integration/outbound_sendmail.sh - "pksbridge sendmail", the
# outbound intake SKS runs as its sendmail_cmd, on its own (no SKS, no
# runner: what it leaves in the queue is the result):
#
#   * a mail exactly as SKS's mailsync writes it (To: all peers, no Date,
#     no Message-ID, no final newline) with -t -oi: exit 0, silent, one
#     ready entry per peer; Cc and argument recipients are peers too,
#     each peer once whatever its case; no recipient at all: suppressed,
#     saying so;
#   * sendmail flags SKS or an admin might pass: -odq -oem -v -i -f x@y
#     accepted (the sender recorded), -bm accepted; an unknown option and
#     -bs exit 64 before reading stdin; -q too;
#   * a mail without keys: recorded quarantined with a reason, exit 0;
#   * stdin is always read to EOF: past max_message_size, past a lone "."
#     without -i, and with a broken configuration (exit 75); a missing
#     spool is 75 as well;
#   * speed: the median wall time of a one-key intake over 50 runs
#     (tests/tools/runstat), target <= 20 ms.
. "$(dirname "$0")/../lib.sh"
. "$TOP/tests/lib/sks_it.sh"

need_cmd python3 || done_testing
if [ ! -x "$PKSBRIDGE" ]; then
	not_ok "no pksbridge binary at $PKSBRIDGE (build it first)"
	done_testing
fi
RUNSTAT=$TOP/${BUILD:-build}/tests/tools/runstat
KEYS=$TEST_DATA/keys
ALICE=$(awk '$1 == "alice" { print $2 }' "$KEYS/fingerprints.txt")
P1=pgp-public-keys@peer1.example
P2=pgp-public-keys@peer2.example
P3=pgp-public-keys@peer3.example
P4=pgp-public-keys@peer4.example
M=$TEST_TMP/mails
mkdir -p "$M" "$TEST_TMP/spool"
C=$TEST_TMP/pb.conf
# The default log (syslog): on success nothing may reach stdout/stderr.
pb_conf "$C" "spool_dir: $TEST_TMP/spool" "from_addr: pgp-public-keys@bridge.test" \
	"max_message_size: 64K"

# sks_mail OUT KEYFILE [EXTRA_HEADER...] - as SKS's mailsync writes it:
# these headers in this order, no Date or Message-ID, one armor block, no
# newline at the end.
sks_mail() {
	_sm_out=$1
	_sm_key=$2
	shift 2
	{
		printf '%s\n' "To: $P1, $P2" "From: pgp-public-keys@sks.test" \
			"Reply-To: pgp-public-keys@sks.test" \
			"Errors-To: pgp-public-keys@sks.test" "Subject: incremental" \
			"Precedence: list" "Content-type: application/pgp-keys" \
			"X-KeyServer-Sent: pgp-public-keys@sks.test" "$@" ""
		cat "$_sm_key"
	} | head -c -1 >"$_sm_out"
}
# intake ARGS... < MAIL - pksbridge -c C sendmail ARGS; output to $TEST_TMP/out.
intake() {
	"$PKSBRIDGE" -c "$C" sendmail "$@" >"$TEST_TMP/out" 2>&1
}
# list_all - queue list --all --json into $TEST_TMP/list.json.
list_all() {
	"$PKSBRIDGE" -c "$C" queue list --all --json >"$TEST_TMP/list.json"
}
# count NAME=VALUE... - how many entries match (list_all first).
count() {
	list_all && $PBJSON count "$TEST_TMP/list.json" "$@"
}

# ---------------------------------------------------------------------------
# What SKS sends
# ---------------------------------------------------------------------------
sks_mail "$M/sks.eml" "$KEYS/alice.asc"
check "the SKS-style mail has no final newline" \
	test "$(tail -c 1 "$M/sks.eml" | od -An -c | tr -d ' ')" = "-"
intake -t -oi <"$M/sks.eml"
check_eq "sendmail -t -oi < SKS mail: exit 0" "$?" 0
check_eq "... nothing on stdout or stderr" "$(cat "$TEST_TMP/out")" ""
check_eq "... one ready entry per To: peer, with alice" \
	"$(count direction=outbound state=ready keys="$ALICE") $($PBJSON get "$TEST_TMP/list.json" peer direction=outbound | sort | tr '\n' ' ')" \
	"2 $P1 $P2 "
check "... the queue list keeps the JSON contract" $PBJSON list "$TEST_TMP/list.json"

# Cc and argument recipients; one peer given twice, in another case.
sks_mail "$M/cc.eml" "$KEYS/bob.asc" "Cc: $P3"
n0=$(count direction=outbound)
P1UP=$(echo "$P1" | tr 'a-z' 'A-Z')
intake -t -i "$P4" "$P1UP" <"$M/cc.eml"
check_eq "-t with Cc: and argument recipients: exit 0" "$?" 0
check_eq "... one entry each for To:, Cc: and the arguments, $P1 once" \
	"$(($(count direction=outbound) - n0))" 4

# No recipient at all: the peers are the recipients (SKS names every peer
# of its mailsync file), so nothing is queued, and the entry says why.
printf '%s\n' "From: pgp-public-keys@sks.test" "Subject: incremental" \
	"Message-ID: <norcpt@sks.test>" "Content-type: application/pgp-keys" "" \
	>"$M/norcpt.eml"
cat "$KEYS/carol.asc" >>"$M/norcpt.eml"
intake -t -oi <"$M/norcpt.eml"
check_eq "no recipient (no argument, no To/Cc/Bcc): exit 0" "$?" 0
check_eq "... nothing ready, one suppressed entry" \
	"$(count message_id=norcpt@sks.test state=ready) $($PBJSON count "$TEST_TMP/list.json" message_id=norcpt@sks.test state=suppressed)" \
	"0 1"
check_eq "... saying the mail named no recipient" \
	"$($PBJSON get "$TEST_TMP/list.json" last_error message_id=norcpt@sks.test)" \
	"no PKS peers: the mail named no recipient (none given, and no To/Cc/Bcc with -t)"

# ---------------------------------------------------------------------------
# Flags
# ---------------------------------------------------------------------------
n0=$(count direction=outbound)
intake -odq -oem -v -i -f x@y.example "$P1" <"$M/sks.eml"
check_eq "-odq -oem -v -i -f x@y.example PEER: accepted, exit 0" "$?" 0
check_eq "... queued, with the sender recorded" \
	"$(($(count direction=outbound) - n0)) $($PBJSON get "$TEST_TMP/list.json" sender direction=outbound | grep -c '^x@y.example$')" \
	"1 1"
intake -bm -t <"$M/sks.eml"
check_eq "-bm (the default mode) accepted" "$?" 0

# rc_without_eof ARGS... - exit status of sendmail ARGS whose stdin is a
# FIFO that never reaches EOF: only a command that does not read stdin
# returns (timeout's 124 otherwise).
mkfifo "$TEST_TMP/fifo"
rc_without_eof() {
	exec 3<>"$TEST_TMP/fifo"
	timeout 5 "$PKSBRIDGE" -c "$C" sendmail "$@" <&3 >"$TEST_TMP/out" 2>&1
	_re=$?
	exec 3>&-
	return $_re
}
check_rc "an unknown option (-Z): exit 64 without reading stdin" 64 \
	rc_without_eof -t -Z
check_grep "... saying which" "illegal option -- Z" "$TEST_TMP/out"
check_rc "-bs (SMTP on stdin): exit 64 without reading stdin" 64 \
	rc_without_eof -bs
check_rc "-q (a queue run): exit 64" 64 rc_without_eof -q

# ---------------------------------------------------------------------------
# A mail without keys
# ---------------------------------------------------------------------------
printf '%s\n' "To: $P1, $P2" "From: pgp-public-keys@sks.test" \
	"Subject: incremental" "Message-ID: <nokey@sks.test>" "" \
	"no key here, just text" >"$M/nokey.eml"
intake -t -oi <"$M/nokey.eml"
check_eq "a mail without keys: exit 0" "$?" 0
check_eq "... recorded quarantined" \
	"$(count message_id=nokey@sks.test state=quarantined direction=outbound)" 1
check "... with the reason" sh -c \
	"$PBJSON get '$TEST_TMP/list.json' last_error message_id=nokey@sks.test | grep -i 'no.*key'"
check_eq "... and nothing queued for a peer" \
	"$($PBJSON count "$TEST_TMP/list.json" message_id=nokey@sks.test state=ready)" 0

# ---------------------------------------------------------------------------
# stdin to EOF
# ---------------------------------------------------------------------------
# feed FILE... - writes the files to sendmail's stdin; the writer's exit
# status (141 if sendmail stopped reading early) goes to $TEST_TMP/wrc.
head -c 2000000 /dev/zero | tr '\0' 'x' | fold -w 70 >"$M/big.txt"
feed_to() {
	_ft_conf=$1
	shift
	_ft_files=$*
	{ sh -c 'cat "$@"; echo $? >"$0"' "$TEST_TMP/wrc" $_ft_files; } |
		"$PKSBRIDGE" -c "$_ft_conf" sendmail -t -oi >"$TEST_TMP/out" 2>&1
}
feed_to "$C" "$M/sks.eml" "$M/big.txt"
check_eq "2 MB past max_message_size (64K): exit 0" "$?" 0
check_eq "... and all of stdin was read (the writer saw no EPIPE)" \
	"$(cat "$TEST_TMP/wrc")" 0
printf '\n.\n' >"$M/dot.txt"
{ cat "$M/sks.eml"; cat "$M/dot.txt" "$M/big.txt"; } >"$M/dot.eml"
{ sh -c 'cat "$1"; echo $? >"$0"' "$TEST_TMP/wrc" "$M/dot.eml"; } |
	"$PKSBRIDGE" -c "$C" sendmail -t >"$TEST_TMP/out" 2>&1
check_eq "without -i, a lone '.' ends the mail: exit 0" "$?" 0
check_eq "... yet stdin is read to its end" "$(cat "$TEST_TMP/wrc")" 0

printf 'spool_dir: %s\nmax_key_size: lots\n' "$TEST_TMP/spool" >"$TEST_TMP/bad.conf"
feed_to "$TEST_TMP/bad.conf" "$M/sks.eml" "$M/big.txt"
check_eq "a broken configuration: exit 75 (never a bounce)" "$?" 75
check_eq "... after reading all of stdin" "$(cat "$TEST_TMP/wrc")" 0
check_grep "... naming the file, line and key" 'bad\.conf, line 2: max_key_size' \
	"$TEST_TMP/out"
printf 'spool_dir: %s\n' "$TEST_TMP/no-such-spool" >"$TEST_TMP/nospool.conf"
feed_to "$TEST_TMP/nospool.conf" "$M/sks.eml"
check_eq "a missing spool: exit 75" "$?" 75

# ---------------------------------------------------------------------------
# Speed: one-key intakes
# ---------------------------------------------------------------------------
if [ -x "$RUNSTAT" ]; then
	: >"$TEST_TMP/wall"
	bad=0
	for i in $(seq 1 50); do
		set -- $("$RUNSTAT" -i "$M/sks.eml" "$PKSBRIDGE" -c "$C" sendmail -t -oi)
		[ "${4:-x}" = 0 ] || bad=$((bad + 1))
		echo "${1:-999999}" >>"$TEST_TMP/wall"
	done
	check_eq "50 one-key intakes, every one exit 0" "$bad" 0
	sort -n "$TEST_TMP/wall" >"$TEST_TMP/wall.sorted"
	med=$(( ($(sed -n 25p "$TEST_TMP/wall.sorted") + $(sed -n 26p "$TEST_TMP/wall.sorted")) / 2 ))
	p90=$(sed -n 45p "$TEST_TMP/wall.sorted")
	echo "# pksbridge sendmail -t -oi, one key, two peers, 50 runs: median $((med / 1000)).$(( (med % 1000) / 100 )) ms, p90 $((p90 / 1000)).$(( (p90 % 1000) / 100 )) ms, min $(( $(head -n 1 "$TEST_TMP/wall.sorted") / 1000 )) ms, max $(( $(tail -n 1 "$TEST_TMP/wall.sorted") / 1000 )) ms"
	bench "outbound_sendmail: one-key intake, median of 50" "$((med / 1000))" 20 ms
else
	not_ok "runstat is built ($RUNSTAT; make test-bins)"
fi

done_testing
