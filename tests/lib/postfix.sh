# tests/lib/postfix.sh - a real, throwaway Postfix for integration tests.
#
# Source after tests/lib.sh, tests/lib/mtaroot.sh and tests/lib/mta.sh
# (for mta_alias and smtp_submit).  Debian's postfix conflicts with exim4,
# so it runs in a Debian 12 of its own (tests/lib/mtaroot.sh): chrooted,
# its configuration written fresh for each test into that system's /etc,
# its queue in the test's overlay, never this host's.
#
#   pf_start DIR PORT ALIASES_FILE [PATH...]
#       configure and start Postfix: smtpd on 127.0.0.1:PORT, domain
#       bridge.test local, ALIASES_FILE as its root-owned /etc/aliases (so
#       local(8) runs its pipes as default_privs, nobody), the users
#       $PF_USERS (default: pb_setup's PB_USER and PB_OPER) copied in,
#       PATHs bound in (mtaroot_enter); waits until it listens.  Returns 1
#       after a not_ok if it cannot.
#   pf_stop / pf_restart   postfix stop, and start again (queue kept)
#   pf_send FROM TO FILE   submit FILE by SMTP (smtp_submit); prints the
#                          queue id
#   pf_attempts ID         how many delivery attempts Postfix logged for ID
#                          (its "ID: to=<...>, ..., status=..." lines)
#   pf_wait ID [N] [TIMEOUT_S]  wait (default 20 s) until ID has had N
#                          (default 1) attempts; false on timeout
#   pf_status ID           the status of ID's last attempt: sent, deferred,
#                          bounced
#   pf_queue_count         messages in Postfix's queue (postqueue -j)
#   pf_flush               postqueue -f: deferred mail is retried now
#   pf_log_grep ERE        grep the maillog
#   pf_run COMMAND...      run COMMAND in Postfix's system
#
# The configuration (main.cf below): no DNS, no TLS, IPv4 only (there is
# no ::1 here); logging to master's stdout (maillog_file = /dev/stdout,
# the container setup of MAILLOG_README), which lands in PF_LOG; no
# daemon chroot (the chroot column of Debian's master.cf.proto set to n).
# Deferred mail is retried only by pf_flush (the backoff times are far
# above a test's length).  With $PF_RELAY_PORT set, mail for other domains
# goes to [127.0.0.1]:PF_RELAY_PORT (an smtpsink).  $PF_EXTRA_MAIN and
# $PF_EXTRA_MASTER are appended to main.cf and master.cf; files the test
# wants there beforehand can be written under DIR/upper/etc/postfix after
# mtaroot_prepare DIR, which pf_start then does not undo.
#
# The packages: postfix, procmail (for recipes under Postfix), and what
# pksbridge needs at run time: the libraries ldd lists for it, gnupg (GPGME
# runs gpg), libcurl3-gnutls (keydb_hkp.c dlopen()s it).

PF_PACKAGES="postfix procmail gnupg libgpgme11 libdb5.3 liblockfile1 libnettle8
libcurl3-gnutls"
PF_DOMAIN=bridge.test
PF_RELAY_PORT=${PF_RELAY_PORT:-}
PF_EXTRA_MAIN=${PF_EXTRA_MAIN:-}
PF_EXTRA_MASTER=${PF_EXTRA_MASTER:-}
PF_USERS=
PF_DIR=
PF_PORT=
PF_PID=
PF_LOG=

# _pf_write_config DIR PORT ALIASES_FILE - main.cf, master.cf, aliases
# into the overlay's upper layer (before it is mounted).
_pf_write_config() {
	_pc_etc=$1/upper/etc
	mkdir -p "$_pc_etc/postfix"
	# A parameter set twice makes every Postfix command warn: a line of
	# PF_EXTRA_MAIN replaces the default's line.
	awk -F' *= *' '/^[a-z_0-9]+ *=/ { last[$1] = NR } { line[NR] = $0; name[NR] = $1 }
		END { for (i = 1; i <= NR; i++)
			if (!(name[i] in last) || last[name[i]] == i) print line[i] }' \
		>"$_pc_etc/postfix/main.cf" <<EOF
# Written by tests/lib/postfix.sh for one test run; see that file.
compatibility_level = 3.6
myhostname = $PF_DOMAIN
mydomain = $PF_DOMAIN
myorigin = \$mydomain
mydestination = $PF_DOMAIN
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
alias_maps = hash:/etc/aliases
alias_database = hash:/etc/aliases
maillog_file = /dev/stdout
# Offline: no DNS, no TLS.
smtpd_peername_lookup = no
smtp_dns_support_level = disabled
smtpd_tls_security_level = none
smtp_tls_security_level = none
biff = no
append_dot_mydomain = no
${PF_RELAY_PORT:+relayhost = [127.0.0.1]:$PF_RELAY_PORT}
$PF_EXTRA_MAIN
EOF
	# Debian's master.cf, with smtpd on the test's port and no daemon in
	# a chroot of its own (that needs /var/spool/postfix/etc, which only
	# Debian's init script sets up).
	awk -v listen="127.0.0.1:$2" '
		/^smtp +inet/ { $1 = listen }
		/^[a-z]/ && NF >= 8 { $5 = "n" }
		{ print }' "$MTAROOT_IMAGE/etc/postfix/master.cf.proto" \
		>"$_pc_etc/postfix/master.cf"
	[ -n "$PF_EXTRA_MASTER" ] && printf '%s\n' "$PF_EXTRA_MASTER" \
		>>"$_pc_etc/postfix/master.cf"
	cp "$3" "$_pc_etc/aliases" && chmod 644 "$_pc_etc/aliases"
}

pf_start() {
	need_root "Postfix runs chrooted (tests/lib/mtaroot.sh)" || return 1
	need_cmd curl || return 1
	PF_DIR=$1
	PF_PORT=$2
	PF_LOG=$1/maillog
	_ps_aliases=$3
	shift 3
	mtaroot_image postfix $PF_PACKAGES || return 1
	mtaroot_prepare "$PF_DIR"
	mtaroot_users ${PF_USERS:-${PB_USER:-} ${PB_OPER:-}}
	_pf_write_config "$PF_DIR" "$PF_PORT" "$_ps_aliases"
	show_on_failure "$PF_LOG" "$PF_DIR/holder.log" "$PF_DIR/setup.log"
	mtaroot_enter "$@" || return 1
	if [ -n "${PB_BIN:-}" ]; then
		mtaroot_need_libs "$PB_BIN" "PF_PACKAGES (tests/lib/postfix.sh)" ||
			return 1
	fi
	if ! { pf_run newaliases && pf_run postfix check; } \
		>"$PF_DIR/setup.log" 2>&1; then
		not_ok "postfix accepts the test configuration (newaliases, postfix check)"
		_t_quote "$PF_DIR/setup.log"
		return 1
	fi
	pf_restart
}

pf_restart() {
	spawn_daemon "$PF_LOG" nsenter --target "$MTAROOT_PID" --mount --root \
		--wd -- postfix start-fg
	PF_PID=$SPAWNED_PID
	if ! wait_until 15 port_listening "$PF_PORT"; then
		not_ok "postfix starts listening on 127.0.0.1:$PF_PORT"
		return 1
	fi
}

pf_stop() {
	[ -n "$PF_PID" ] || return 0
	pf_run postfix stop >>"$PF_DIR/setup.log" 2>&1
	# postfix-script start-fg exits once master has.
	stop_daemon "$PF_PID" 20
	_pst_rc=$?
	PF_PID=
	return $_pst_rc
}

pf_run() {
	mtaroot_run "$@"
}

pf_send() {
	smtp_submit "$PF_PORT" "$1" "$2" "$3" \
		's/^< 250 2\.0\.0 Ok: queued as \([0-9A-Za-z]*\).*/\1/p'
}

pf_attempts() {
	grep -c " $1: to=<.*, status=" "$PF_LOG"
}

# _pf_attempted ID N - true once ID has had N delivery attempts.
_pf_attempted() {
	[ "$(pf_attempts "$1")" -ge "$2" ]
}

pf_wait() {
	wait_until "${3:-20}" _pf_attempted "$1" "${2:-1}"
}

pf_status() {
	sed -n "s/.* $1: to=<.*, status=\([a-z]*\).*/\1/p" "$PF_LOG" | tail -n 1
}

pf_queue_count() {
	pf_run postqueue -j | grep -c '"queue_id"'
}

pf_flush() {
	pf_run postqueue -f
}

pf_log_grep() {
	grep -E -- "$1" "$PF_LOG"
}
