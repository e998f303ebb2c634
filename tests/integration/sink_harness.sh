#!/bin/sh
# sink_harness.sh - the file-writing stand-ins of the test harness
# (tests/data/bin/mail-sink, rec-sendmail, standin-filter, tests/lab/tap)
# never let one delivery replace another.  A sink that named its files by
# $$ lost 21 mails in a full-size crash run once pid_max wrapped
# (issue 17); one that numbered them by counting a listing loses a mail
# whenever two deliveries run at once.
#
# Each stand-in gets PAR deliveries at once, each with a body of its own,
# and must keep every body exactly once.  mail-sink, which numbers mails,
# is also shown a collision: a mail.N already there when its counter
# reaches N.  It must refuse with 75 (a sendmail that could not queue:
# the sender keeps the mail) and leave the old file untouched.
. "$(dirname "$0")/../lib.sh"
need_cmd flock mktemp || done_testing
BIN=$TEST_DATA/bin
PAR=100

# deliver_all CMD... - PAR runs of CMD at once, run N with the body
# "body N" on stdin; each status in TEST_TMP/rc.N.
deliver_all() {
	_da_i=1
	while [ "$_da_i" -le "$PAR" ]; do
		(echo "body $_da_i" | "$@"; echo $? >"$TEST_TMP/rc.$_da_i") &
		_da_i=$((_da_i + 1))
	done
	wait
}
# kept FILE... - the bodies the files hold, one line per file, sorted.
kept() {
	cat "$@" 2>/dev/null | sort
}
want=$(seq 1 "$PAR" | sed 's/^/body /' | sort)
statuses() {
	cat "$TEST_TMP"/rc.* | sort -u | tr '\n' ' '
}

mkdir "$TEST_TMP/sink"
deliver_all "$BIN/mail-sink" "$TEST_TMP/sink" -i -- peer@example.test
check_eq "mail-sink: $PAR deliveries at once all exit 0" "$(statuses)" "0 "
check_eq "mail-sink: ... and every body is kept exactly once" \
	"$(kept "$TEST_TMP"/sink/mail.*)" "$want"
check_eq "mail-sink: ... numbered 0 to $((PAR - 1))" \
	"$(ls "$TEST_TMP/sink" | sed -n 's/^mail\.//p' | sort -n | tr '\n' ' ')" \
	"$(seq 0 $((PAR - 1)) | tr '\n' ' ')"
check_eq "mail-sink: the arguments are kept beside each mail" \
	"$(tr '\n' ' ' <"$TEST_TMP/sink/args.7")" "-i -- peer@example.test "
rm -f "$TEST_TMP"/rc.*

next=$(cat "$TEST_TMP/sink/.seq")
echo "an earlier mail" >"$TEST_TMP/sink/mail.$next"
echo "a later mail" | "$BIN/mail-sink" "$TEST_TMP/sink" 2>"$TEST_TMP/collide.err"
check_eq "mail-sink: a collision exits 75" "$?" 75
check_grep "mail-sink: ... saying so" 'refusing to overwrite' "$TEST_TMP/collide.err"
check_eq "mail-sink: ... and the earlier mail is untouched" \
	"$(cat "$TEST_TMP/sink/mail.$next")" "an earlier mail"
echo "the retry" | "$BIN/mail-sink" "$TEST_TMP/sink"
check_eq "mail-sink: the sender's retry gets the next number" \
	"$(cat "$TEST_TMP/sink/mail.$((next + 1))")" "the retry"

mkdir "$TEST_TMP/rec"
deliver_all "$BIN/rec-sendmail" "$TEST_TMP/rec" -- peer@example.test
check_eq "rec-sendmail: every body is kept exactly once" \
	"$(ls "$TEST_TMP"/rec/call.* | grep -v '\.args$' | xargs cat | sort)" "$want"
rm -f "$TEST_TMP"/rc.*

mkdir "$TEST_TMP/standin"
deliver_all "$BIN/standin-filter" "$TEST_TMP/standin"
check_eq "standin-filter: every body is kept exactly once" \
	"$(ls "$TEST_TMP"/standin/msg.* | grep -Ev '\.(args|cred|env|tmp)$' | xargs cat | sort)" "$want"
rm -f "$TEST_TMP"/rc.*

mkdir "$TEST_TMP/tap"
deliver_all "$TOP/tests/lab/tap" "$TEST_TMP/tap"
check_eq "lab tap: every body is kept exactly once" \
	"$(kept "$TEST_TMP"/tap/*.eml)" "$want"
done_testing
