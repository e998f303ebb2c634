# tests/lib/mta.sh - a real, throwaway Exim for integration tests.
#
# Source after tests/lib.sh.  It runs Debian's exim4 (exim4-daemon-light)
# with its own configuration, written into the test's directory; the
# system's /etc/exim4 and /var/spool/exim4 are never used or touched.
#
#   mta_start DIR PORT ALIASES_FILE   write DIR/exim.conf, start the daemon
#                                     on 127.0.0.1:PORT, wait until it listens
#   mta_stop                          stop it (and its delivery processes)
#   mta_alias FILE NAME COMMAND...    append `NAME: "|COMMAND..."` to FILE
#   mta_send FROM TO FILE             submit FILE by SMTP to 127.0.0.1:PORT
#                                     (curl); prints Exim's message id; safe
#                                     to run several at once
#   smtp_submit PORT FROM TO FILE SED the same for any SMTP server on
#                                     127.0.0.1:PORT, SED taking the id
#                                     from the dialogue
#   mta_wait ID [TIMEOUT_S]           wait until the delivery attempt Exim
#                                     started for ID after receiving it is over
#   mta_queue_count                   messages in Exim's queue (exim -bpc)
#   mta_run_queue                     deliver everything now (exim -qff)
#   mta_log_grep ERE                  grep Exim's mainlog
#   mta_exim ARG...                   exim4 -C DIR/exim.conf ARG...
#   mta_mailbox FILE NAME MBOX        append an alias that delivers NAME's
#                                     mail to the mbox file MBOX (each mail
#                                     with Exim's "From " line on top)
#   mta_gpg1 SENDER GPG1-ARG...       run gpg1 with its mail helper's
#                                     /usr/sbin/sendmail -t handing the
#                                     mail to this Exim as SENDER (see
#                                     there); returns gpg1's status
#
# The configuration: domain bridge.test is local (or the colon-separated
# list $MTA_DOMAINS); unknown local parts are refused at RCPT; a redirect
# router looks each recipient up in ALIASES_FILE (lsearch, /etc/aliases
# syntax), first as local_part@domain, then as the bare local part, and
# sends `|command` entries to the pipe transport `pksb_pipe`, which runs
# the command as
# $MTA_PIPE_USER:$MTA_PIPE_GROUP (default nobody:nogroup, what Postfix uses
# for a root-owned /etc/aliases) with Exim's default temp_errors (75:73, so
# exit 75 defers and any other non-zero exit bounces), a `From ` line and
# Return-path:, Envelope-to:, Delivery-date: and Delivered-To: headers (the
# last added by us, as Postfix's local(8) does; Exim has no such option).
# Retry rule F,1h,1m: a deferred message stays queued; mta_run_queue (-qff)
# retries it at once.  Extra lines: $MTA_EXTRA_MAIN (main section),
# $MTA_EXTRA_TRANSPORT (pksb_pipe options, e.g. "timeout = 10s"),
# $MTA_EXTRA_ROUTERS (routers tried before the aliases router; they may
# use the pipe transport pksb_pipe).  $MTA_EXTRA_PORTS: more ports to
# listen on, colon-separated (a router can tell them apart by
# $received_port, which Exim keeps with a queued message).
#
# Privilege, and why the config sets exim_user = root.  Exim keeps root
# privilege under -C only for root callers, or for the Exim user when the
# file is listed in TRUSTED_CONFIG_LIST (Debian: /etc/exim4/trusted_configs,
# absent by default).  A daemon started by root with -C receives fine, but
# its reception process runs as exim_user (Debian-exim) and re-executes
# exim for the delivery; that re-exec "lost privilege for using -C option",
# so the pipe transport cannot setuid to its `user` ("unable to set gid=...
# or uid=...") and the message is frozen.  Listing each test's config in
# /etc/exim4/trusted_configs would work but edits a system file per test
# run.  Instead the test config sets exim_user = exim_group = root: Exim
# then never leaves root, the re-exec keeps privilege, and the pipe still
# runs as $MTA_PIPE_USER (initgroups gives it that user's groups only, not
# root's).  Consequently the tests must run as root (as CI does); as any
# other user mta_start reports a failure instead of skipping.
#
# mta_send uses curl's SMTP client (curl is a test dependency); swaks is not
# installed and dash has no /dev/tcp.

MTA_EXIM=${MTA_EXIM:-/usr/sbin/exim4}
MTA_PIPE_USER=${MTA_PIPE_USER:-nobody}
MTA_PIPE_GROUP=${MTA_PIPE_GROUP:-nogroup}
MTA_DOMAIN=bridge.test
MTA_DOMAINS=${MTA_DOMAINS:-$MTA_DOMAIN}
MTA_EXTRA_MAIN=${MTA_EXTRA_MAIN:-}
MTA_EXTRA_TRANSPORT=${MTA_EXTRA_TRANSPORT:-}
MTA_EXTRA_ROUTERS=${MTA_EXTRA_ROUTERS:-}
MTA_EXTRA_PORTS=${MTA_EXTRA_PORTS:-}
MTA_DIR=
MTA_CONF=
MTA_PORT=
MTA_PID=

# _mta_write_config DIR PORT ALIASES_FILE - the whole Exim configuration.
_mta_write_config() {
	cat >"$1/exim.conf" <<EOF
# Written by tests/lib/mta.sh for one test run; see that file.
exim_user = root
exim_group = root
primary_hostname = $MTA_DOMAIN
qualify_domain = $MTA_DOMAIN
domainlist local_domains = $MTA_DOMAINS
spool_directory = $1/spool
log_file_path = $1/log/%slog
pid_file_path = $1/exim.pid
daemon_smtp_ports = $2${MTA_EXTRA_PORTS:+ : $MTA_EXTRA_PORTS}
local_interfaces = <; 127.0.0.1
# No DNS, ident or TLS: the tests run offline.
host_lookup =
rfc1413_hosts =
tls_advertise_hosts =
keep_environment =
log_selector = +all
acl_smtp_rcpt = acl_rcpt
$MTA_EXTRA_MAIN

begin acl

acl_rcpt:
  accept hosts = :
  require message = relay not permitted
          domains = +local_domains
  require verify = recipient
  accept

begin routers

$MTA_EXTRA_ROUTERS

aliases:
  driver = redirect
  domains = +local_domains
  allow_fail
  allow_defer
  data = \${lookup{\$local_part@\$domain}lsearch{$3}{\$value}{\${lookup{\$local_part}lsearch{$3}}}}
  pipe_transport = pksb_pipe

begin transports

pksb_pipe:
  driver = pipe
  user = $MTA_PIPE_USER
  group = $MTA_PIPE_GROUP
  initgroups
  # Exim's default, spelled out: these exit codes defer, all others bounce.
  temp_errors = 75:73
  return_fail_output
  log_defer_output
  log_fail_output
  return_path_add
  envelope_to_add
  delivery_date_add
  headers_add = Delivered-To: \$local_part@\$domain
  $MTA_EXTRA_TRANSPORT

begin retry

*  *  F,1h,1m
EOF
}

# mta_start DIR PORT ALIASES_FILE - configure and start Exim; returns 1
# after a "not ok" line if it cannot.  Sets MTA_DIR MTA_CONF MTA_PORT MTA_PID.
mta_start() {
	need_root "exim -C keeps root privilege only for root (tests/lib/mta.sh)" ||
		return 1
	need_cmd "$MTA_EXIM" curl runuser || return 1
	MTA_DIR=$1
	MTA_PORT=$2
	MTA_CONF=$1/exim.conf
	mkdir -p "$1/spool" "$1/log" || return 1
	# A command the pipe user cannot run would only show up as a
	# bounce; say what is wrong instead.  The checkout is often under
	# /root: copy programs into TEST_TMP (tests/lib.sh does for STANDIN).
	for _ms_cmd in $(sed -n 's/^[^#:]*: *"|\([^ "]*\).*/\1/p' "$3"); do
		runuser -u "$MTA_PIPE_USER" -- test -x "$_ms_cmd" && continue
		not_ok "exim: pipe user $MTA_PIPE_USER cannot execute $_ms_cmd" \
			"are it and its directories readable and searchable by everyone?"
		return 1
	done
	_mta_write_config "$1" "$2" "$3"
	show_on_failure "$1/log/mainlog" "$1/log/paniclog" "$1/log/daemon.out"
	if ! "$MTA_EXIM" -C "$MTA_CONF" -bV >"$1/log/config-check.out" 2>&1; then
		not_ok "exim rejects the test configuration $MTA_CONF"
		_t_quote "$1/log/config-check.out"
		return 1
	fi
	# -bdf: stay in the foreground, so spawn_daemon knows the pid.  No
	# -q interval: nothing retries deferred mail until mta_run_queue.
	spawn_daemon "$1/log/daemon.out" "$MTA_EXIM" -C "$MTA_CONF" -bdf
	MTA_PID=$SPAWNED_PID
	if ! wait_until 15 port_listening "$2"; then
		not_ok "exim daemon did not start listening on 127.0.0.1:$2"
		return 1
	fi
}

# mta_stop - stop the daemon started by mta_start.
mta_stop() {
	[ -n "$MTA_PID" ] || return 0
	stop_daemon "$MTA_PID"
	_ms_rc=$?
	MTA_PID=
	return $_ms_rc
}

# mta_exim ARG... - run exim4 with the test configuration.
mta_exim() {
	"$MTA_EXIM" -C "$MTA_CONF" "$@"
}

# mta_alias FILE NAME COMMAND... - add an /etc/aliases-style pipe entry.
# Words are joined with single spaces; Exim splits them again (no shell).
mta_alias() {
	_ma_file=$1
	_ma_name=$2
	shift 2
	printf '%s: "|%s"\n' "$_ma_name" "$*" >>"$_ma_file"
}

# smtp_submit PORT FROM TO FILE SED - submit FILE over SMTP to
# 127.0.0.1:PORT, as a peer would, and print the message id that the sed
# script SED (sed -n) takes from curl's log of the dialogue (the server's
# replies are the lines "< ...").  On failure prints the dialogue to
# stderr and returns curl's status (1 if curl succeeded but SED found no
# id).  CRs are stripped first: curl --crlf turns every LF into CRLF on
# the wire.  The other MTA libraries (tests/lib/postfix.sh) use it too.
smtp_submit() {
	# mktemp, not $$: parallel senders in subshells share $$.
	_mse_log=$(mktemp "$TEST_TMP/.smtp_submit.XXXXXX") || return 1
	sed 's/\r$//' "$4" | curl -v -sS --max-time 30 \
		--url "smtp://127.0.0.1:$1/client.test" \
		--mail-from "$2" --mail-rcpt "$3" --upload-file - --crlf \
		>/dev/null 2>"$_mse_log"
	_mse_rc=$?
	_mse_id=$(sed -n "$5" "$_mse_log" | tail -n 1)
	if [ "$_mse_rc" -ne 0 ] || [ -z "$_mse_id" ]; then
		grep -E '^[<>*]' "$_mse_log" >&2
		rm -f "$_mse_log"
		[ "$_mse_rc" -ne 0 ] || _mse_rc=1
		return $_mse_rc
	fi
	rm -f "$_mse_log"
	echo "$_mse_id"
}

# mta_send FROM TO FILE - submit FILE to the daemon (smtp_submit); prints
# the message id from Exim's "250 OK id=..." reply.
mta_send() {
	smtp_submit "$MTA_PORT" "$1" "$2" "$3" \
		's/^< 250 OK id=\([-0-9A-Za-z]*\).*/\1/p'
}

# _mta_attempt_pid ID - the pid of the process that ended a delivery attempt
# for ID: it logged "ID Completed" (all done), "ID ==" (deferred) or
# "ID Frozen".  (The log_selector +pid puts "[PID]" before the id.)
_mta_attempt_pid() {
	sed -n "s/.* \[\([0-9]*\)\] $1 \(Completed\|==\|Frozen\).*/\1/p" \
		"$MTA_DIR/log/mainlog" | tail -n 1 | grep .
}

# mta_wait ID [TIMEOUT_S] - wait (default 20 s) until Exim's first delivery
# attempt for ID has ended and its process has exited, so the message is
# unlocked and a queue run will not skip it.  Returns 1 on timeout.
mta_wait() {
	wait_until "${2:-20}" _mta_attempt_pid "$1" || return 1
	wait_until "${2:-20}" _t_gone "$(_mta_attempt_pid "$1")"
}

# mta_queue_count - how many messages Exim holds (deferred or frozen).
mta_queue_count() {
	mta_exim -bpc
}

# mta_run_queue - one forced queue run over every message, frozen ones
# included, ignoring retry times; returns when it is done.
mta_run_queue() {
	mta_exim -qff
}

# mta_mailbox FILE NAME MBOX - an alias appending NAME's mail to MBOX, as
# a user's mailbox (the pipe user must be able to write MBOX's directory).
mta_mailbox() {
	_mb_prog=$TEST_TMP/bin/mta-mbox
	if [ ! -x "$_mb_prog" ]; then
		mkdir -p "$TEST_TMP/bin"
		printf '#!/bin/sh\ncat >>"$1"\n' >"$_mb_prog"
		chmod 755 "$_mb_prog"
	fi
	mta_alias "$1" "$2" "$_mb_prog" "$3"
}

# mta_gpg1 SENDER GPG1-ARG... - gpg1, whose mail helper (gpgkeys_mailto,
# Debian's gnupg1) runs the hardcoded "/usr/sbin/sendmail -t", with that
# sendmail being this test's Exim (-C its configuration, -f SENDER) in a
# private mount namespace; the host's sendmail is never touched.  On
# Debian /usr/sbin/sendmail is a symlink to exim4, and a bind mount over
# it lands on exim4 itself, so the real exim4 is first bound to a path of
# our own, which the wrapper then runs.  Needs root (unshare -m).
mta_gpg1() {
	_mg_sender=$1
	shift
	_mg_w=$TEST_TMP/.gpg1-sendmail
	mkdir -p "$_mg_w"
	: >"$_mg_w/exim-real"
	{
		echo '#!/bin/sh'
		echo 'case " $* " in'
		echo "*\" -t \"*) exec \"$_mg_w/exim-real\" -C \"$MTA_CONF\" -f \"$_mg_sender\" \"\$@\" ;;"
		echo "*) exec \"$_mg_w/exim-real\" -C \"$MTA_CONF\" \"\$@\" ;;"
		echo 'esac'
	} >"$_mg_w/sendmail"
	chmod 755 "$_mg_w/sendmail"
	unshare -m sh -c 'mount --make-rprivate / &&
		mount --bind "$1" "$2/exim-real" &&
		mount --bind "$2/sendmail" /usr/sbin/sendmail &&
		shift 2 && exec gpg1 "$@"' sh "$MTA_EXIM" "$_mg_w" "$@"
}

# mta_log_grep ERE - print the mainlog lines matching ERE; false if none.
mta_log_grep() {
	grep -E -- "$1" "$MTA_DIR/log/mainlog"
}
