# tests/lib/mailcmd_it.sh - what the mail command tests
# (tests/integration/mail_*.sh) share: a real SKS holding fixture keys, a
# real SMTP server taking the replies, a configuration pointing at both.
# Source after tests/lib.sh, tests/lib/sks.sh, tests/lib/sks_it.sh and
# tests/lib/smtpsink.sh.
#
#   MC_US                 pksbridge's from_addr in these tests
#   REPLY_CHECK           tests/lib/reply_check.py (the reply format)
#   mc_sks [KEY...]       a throwaway SKS in TEST_TMP/sks on a free port,
#                         holding tests/data/keys/KEY.asc (POSTed); sets
#                         SKS and SKS_PORT; ends the test if it does not
#                         start
#   mc_sink               tests/tools/smtpsink in TEST_TMP/sink; sets SINK
#   mc_conf FILE SPOOL [LINE...]   a pksbridge.conf: SPOOL (made 0700),
#                         keydb hkp:// to that SKS, from_addr MC_US,
#                         smtp_relay the sink, an empty mailsync file,
#                         log: stderr, then the LINEs (a key given again
#                         there wins)

MC_US=pgp-public-keys@bridge.test
REPLY_CHECK="python3 $TOP/tests/lib/reply_check.py"

mc_sks() {
	SKS=$TEST_TMP/sks
	SKS_PORT=$(free_port)
	if ! sks_start "$SKS" "$SKS_PORT" 2>"$TEST_TMP/sks.err"; then
		not_ok "SKS starts" "$(cat "$TEST_TMP/sks.err")"
		done_testing
	fi
	for _mk in "$@"; do
		curl -s -o /dev/null --data-urlencode "keytext@$TEST_DATA/keys/$_mk.asc" \
			"http://127.0.0.1:$SKS_PORT/pks/add"
	done
}

mc_sink() {
	smtpsink_start "$TEST_TMP/sink" || done_testing
	SINK=$TEST_TMP/sink
}

mc_conf() {
	_mc_file=$1
	mkdir -p -m 700 "$2"
	: >"$TEST_TMP/mailsync"
	_mc_spool=$2
	shift 2
	pb_conf "$_mc_file" "spool_dir: $_mc_spool" "keydb: hkp://127.0.0.1:$SKS_PORT" \
		"from_addr: $MC_US" "smtp_relay: 127.0.0.1:$SMTPSINK_PORT" \
		"mailsync_file: $TEST_TMP/mailsync" "log: stderr" "$@"
}
