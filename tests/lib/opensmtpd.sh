# tests/lib/opensmtpd.sh - a real, throwaway OpenSMTPD for integration
# tests.
#
# Source after tests/lib.sh, tests/lib/mtaroot.sh and tests/lib/mta.sh
# (for smtp_submit).  Debian's opensmtpd conflicts with exim4, so it runs
# in a Debian 12 of its own (tests/lib/mtaroot.sh), as tests/lib/postfix.sh
# runs Postfix.
#
#   os_start DIR PORT LINES_FILE [PATH...]
#       write /etc/smtpd.conf there: listen on 127.0.0.1:PORT, the lines
#       of LINES_FILE (tables, actions, match rules), then the system's
#       /etc/aliases for the rest of domain bridge.test; copy in the users
#       $OS_USERS (default: pb_setup's PB_USER and PB_OPER); start smtpd in
#       the foreground (smtpd -d, its log in OS_LOG) and wait until it
#       listens.  Files the test wants in that system's /etc can be
#       written under DIR/upper/etc after mtaroot_prepare DIR.  Returns 1
#       after a not_ok if it cannot.
#   os_stop                stop it
#   os_send FROM TO FILE   submit FILE by SMTP (smtp_submit); prints the
#                          message id
#   os_attempts ID         delivery attempts logged for message ID ("mda
#                          delivery evpid=ID... result=...")
#   os_wait ID [N] [TIMEOUT_S]   wait (default 20 s) for N (1) attempts
#   os_result ID           the result of the last one: Ok, TempFail, ...
#   os_queue_count         envelopes in the queue (smtpctl show queue)
#   os_schedule            smtpctl schedule all: retry everything now
#   os_run COMMAND...      run COMMAND in OpenSMTPD's system
#
# The packages: opensmtpd and what pksbridge needs at run time (as in
# tests/lib/postfix.sh).

OS_PACKAGES="opensmtpd gnupg libgpgme11 libdb5.3 liblockfile1 libnettle8
libcurl3-gnutls"
OS_DOMAIN=bridge.test
OS_USERS=
OS_DIR=
OS_PORT=
OS_PID=
OS_LOG=

os_start() {
	need_root "OpenSMTPD runs chrooted (tests/lib/mtaroot.sh)" || return 1
	need_cmd curl || return 1
	OS_DIR=$1
	OS_PORT=$2
	OS_LOG=$1/smtpd.log
	_os_lines=$3
	shift 3
	mtaroot_image opensmtpd $OS_PACKAGES || return 1
	mtaroot_prepare "$OS_DIR"
	mtaroot_users ${OS_USERS:-${PB_USER:-} ${PB_OPER:-}}
	{
		echo "# Written by tests/lib/opensmtpd.sh for one test run."
		echo "listen on 127.0.0.1 port $OS_PORT"
		cat "$_os_lines"
		echo 'table aliases file:/etc/aliases'
		echo 'action "local" mbox alias <aliases>'
		echo "match from any for domain \"$OS_DOMAIN\" action \"local\""
	} >"$OS_DIR/upper/etc/smtpd.conf"
	show_on_failure "$OS_LOG" "$OS_DIR/holder.log" "$OS_DIR/setup.log"
	mtaroot_enter "$@" || return 1
	if [ -n "${PB_BIN:-}" ]; then
		mtaroot_need_libs "$PB_BIN" "OS_PACKAGES (tests/lib/opensmtpd.sh)" ||
			return 1
	fi
	if ! os_run smtpd -n -f /etc/smtpd.conf >"$OS_DIR/setup.log" 2>&1; then
		not_ok "smtpd -n accepts the test configuration"
		_t_quote "$OS_DIR/setup.log"
		return 1
	fi
	# nsenter execs smtpd: its pid is the daemon's, its group all of them.
	spawn_daemon "$OS_LOG" nsenter --target "$MTAROOT_PID" --mount --root \
		--wd -- smtpd -d -f /etc/smtpd.conf
	OS_PID=$SPAWNED_PID
	if ! wait_until 15 port_listening "$OS_PORT"; then
		not_ok "smtpd starts listening on 127.0.0.1:$OS_PORT"
		return 1
	fi
}

os_stop() {
	[ -n "$OS_PID" ] || return 0
	stop_daemon "$OS_PID" 20
	_ost_rc=$?
	OS_PID=
	return $_ost_rc
}

os_run() {
	mtaroot_run "$@"
}

os_send() {
	smtp_submit "$OS_PORT" "$1" "$2" "$3" \
		's/^< 250 2\.0\.0 \([0-9a-f]*\) Message accepted for delivery.*/\1/p'
}

os_attempts() {
	grep -c " mda delivery evpid=$1[0-9a-f]* .* result=" "$OS_LOG"
}

# _os_attempted ID N - true once ID has had N delivery attempts.
_os_attempted() {
	[ "$(os_attempts "$1")" -ge "$2" ]
}

os_wait() {
	wait_until "${3:-20}" _os_attempted "$1" "${2:-1}"
}

os_result() {
	sed -n "s/.* mda delivery evpid=$1[0-9a-f]* .* result=\([A-Za-z]*\).*/\1/p" \
		"$OS_LOG" | tail -n 1
}

os_queue_count() {
	os_run smtpctl show queue | grep -c '|'
}

os_schedule() {
	os_run smtpctl schedule all
}
