# tests/lib/outbound_it.sh - helpers for the outbound integration tests
# (tests/integration/outbound_*.sh): a real throwaway SKS whose
# sendmail_cmd is "pksbridge -c CONF sendmail -t -oi", PKS peers played by
# one smtpsink, "pksbridge run" as a daemon.  Source after tests/lib.sh,
# tests/lib/sks.sh, tests/lib/sks_it.sh and tests/lib/smtpsink.sh.
#
#   FROM_ADDR                 pksbridge's from_addr in these tests
#   ob_conf FILE SPOOL LINE...   a pksbridge.conf with its own spool (created),
#                             from_addr, log: stderr, and the LINEs
#   ob_sks_start BASEDIR PORT CONF PEER...  sks_start with pksbridge as
#                             sendmail_cmd, the PEERs as its mailsync file
#                             (SKS reads that file each time it sends)
#   ob_runner CONF LOG        "pksbridge -c CONF run" as a daemon; sets
#                             RUNNER_PID
#   sks_post PORT FILE...     POST each armored key file to SKS /pks/add
#                             (separately); non-zero unless all got 200
#   sks_transmitted BASEDIR   how many keys SKS has handed to sendmail_cmd
#   sks_intakes BASEDIR       how many "pksbridge sendmail" runs logged an
#                             intake (their stderr goes to SKS's log)
#   peer_msgs DIR PEER        the sink's messages to PEER (by envelope)
#   peer_count DIR PEER       how many
#   peer_msgs_after DIR PEER N   those stored after the sink's N-th message
#   crlf_only FILE            true if FILE is lines that all end in CRLF
#   mail_fprs FILE...         primary key fingerprints in the files, one a
#                             line, in order (real gpg, --show-keys)
#   peer_fprs DIR PEER        every fingerprint in every mail to PEER,
#                             sorted, repeats kept
#   peer_has DIR PEER FPR...  true if the mails to PEER hold every FPR
#   mail_ok MSG PEER          tests/lib/outmail_check.py on one message
#   debkeys_split N [MAX]     N Debian keys of at most MAX (16384) armored
#                             bytes, split by tests/tools/keysplit; their
#                             files listed in $DEBSPLIT/list, "FPR FILE"

FROM_ADDR=pgp-public-keys@bridge.test
OUTMAIL_CHECK="python3 $TOP/tests/lib/outmail_check.py"
KEYSPLIT=${KEYSPLIT:-$TOP/${BUILD:-build}/tests/tools/keysplit}
OB_GNUPG=$TEST_TMP/gnupg-check
DEBSPLIT=$TEST_TMP/debsplit
mkdir -p "$OB_GNUPG" && chmod 700 "$OB_GNUPG"

# ob_need - end the test unless SKS, gpg, curl and python3 are here, the
# pksbridge binary is built, and no '#' is in the paths SKS's sksconf
# will hold (SKS reads it as a comment).
ob_need() {
	need_cmd sks gpg curl python3 || done_testing
	if [ ! -x "$PKSBRIDGE" ]; then
		not_ok "no pksbridge binary at $PKSBRIDGE (build it first)"
		done_testing
	fi
	case "$TEST_TMP$PKSBRIDGE" in
	*'#'*) not_ok "no '#' in $TEST_TMP or $PKSBRIDGE (SKS reads it as a comment)"
		done_testing ;;
	esac
}

ob_conf() {
	_oc_file=$1
	_oc_spool=$2
	shift 2
	mkdir -p "$_oc_spool"
	pb_conf "$_oc_file" "spool_dir: $_oc_spool" "from_addr: $FROM_ADDR" \
		"log: stderr" "$@"
}

ob_sks_start() {
	_os_base=$1
	_os_port=$2
	_os_conf=$3
	shift 3
	sks_start "$_os_base" "$_os_port" \
		"$PKSBRIDGE -c $_os_conf sendmail -t -oi" || return 1
	printf '%s\n' "# the PKS peers of this test" "$@" \
		>"$_os_base/etc/sks/mailsync"
}

ob_runner() {
	spawn_daemon "$2" "$PKSBRIDGE" -c "$1" run
	RUNNER_PID=$SPAWNED_PID
}

sks_post() {
	_sp_port=$1
	shift
	for _sp_f in "$@"; do
		_sp_code=$(curl -s -m 30 -o /dev/null -w '%{http_code}' \
			--data-urlencode "keytext@$_sp_f" \
			"http://127.0.0.1:$_sp_port/pks/add") || return 1
		[ "$_sp_code" = 200 ] || { echo "POST $_sp_f: HTTP $_sp_code" >&2; return 1; }
	done
}

sks_transmitted() {
	grep -c 'Message transmitted for key' "$1/sks-db.log"
}

sks_intakes() {
	grep -c 'pksbridge/sendmail\[[0-9]*\]: .*from=<.*, peers=' "$1/sks-db.log"
}

peer_msgs() {
	for _pm_e in "$1"/msg.*.env; do
		[ -f "$_pm_e" ] || continue
		grep -qix "RCPT TO:<$2>" "$_pm_e" && echo "${_pm_e%.env}"
	done
}

peer_msgs_after() {
	peer_msgs "$1" "$2" | while read -r _pa_f; do
		[ "${_pa_f##*.}" -gt "$3" ] && echo "$_pa_f"
	done
}

crlf_only() {
	_co_lf=$(tr -cd '\n' <"$1" | wc -c)
	_co_crlf=$(grep -c "$(printf '\r')\$" "$1")
	_co_cr=$(tr -cd '\r' <"$1" | wc -c)
	[ "$_co_lf" -gt 0 ] && [ "$_co_lf" -eq "$_co_crlf" ] &&
		[ "$_co_cr" -eq "$_co_lf" ] && [ "$(tail -c 1 "$1" | od -An -c | tr -d ' ')" = '\n' ]
}

peer_count() {
	peer_msgs "$1" "$2" | wc -l | tr -d ' '
}

mail_fprs() {
	gpg --homedir "$OB_GNUPG" --batch -q --with-colons --show-keys "$@" \
		2>/dev/null |
		awk -F: '/^pub:/ { want = 1; next }
			/^fpr:/ && want { print $10; want = 0 }'
}

peer_fprs() {
	_pf_msgs=$(peer_msgs "$1" "$2")
	[ -n "$_pf_msgs" ] || return 0
	# One gpg run per mail: --show-keys reads only the first armor block
	# of a file.
	for _pf_m in $_pf_msgs; do mail_fprs "$_pf_m"; done | sort
}

peer_has() {
	_ph_dir=$1
	_ph_peer=$2
	shift 2
	peer_fprs "$_ph_dir" "$_ph_peer" >"$TEST_TMP/.peer_has"
	for _ph_f in "$@"; do
		grep -qix "$_ph_f" "$TEST_TMP/.peer_has" || return 1
	done
}

mail_ok() {
	$OUTMAIL_CHECK "$1" "$2" "$FROM_ADDR"
}

debkeys_split() {
	_ds_want=$1
	_ds_max=${2:-16384}
	mkdir -p "$DEBSPLIT/all" || return 1
	"$KEYSPLIT" "$DEBKEYS_RING" "$DEBSPLIT/all" $((_ds_want * 3 + 50)) \
		>"$DEBSPLIT/split" 2>"$DEBSPLIT/split.err" || return 1
	: >"$DEBSPLIT/list"
	_ds_n=0
	while read -r _ds_fpr _ds_file; do
		[ "$(wc -c <"$_ds_file")" -le "$_ds_max" ] || continue
		echo "$_ds_fpr $_ds_file" >>"$DEBSPLIT/list"
		_ds_n=$((_ds_n + 1))
		[ "$_ds_n" -ge "$_ds_want" ] && break
	done <"$DEBSPLIT/split"
	[ "$_ds_n" -ge "$_ds_want" ]
}
