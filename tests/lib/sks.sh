# tests/lib/sks.sh - run a throwaway SKS keyserver (Debian's sks 1.1.6) for
# tests: its own directory tree, loopback only, no peers, stopped at the
# end.  Source it from sh, then:
#
#   sks_start BASEDIR PORT [SENDMAIL_CMD]
#       Lay out BASEDIR the way Debian's sks expects with -basedir (its
#       build joins every path to it: DIR/etc/sks/sksconf, DIR/var/lib/sks/DB,
#       DIR/var/spool/sks/messages ...), build an empty key
#       database, start "sks db" in the background (HKP on 127.0.0.1:PORT)
#       and wait until it answers.  SENDMAIL_CMD is SKS's sendmail_cmd for
#       mailsync (run by /bin/sh -c, mail on stdin); default: discard.
#       The inbound spool (for keydb sks:...) is BASEDIR/var/spool/sks and
#       its messages/ directory.  Returns non-zero, printing the end of
#       SKS's log, if it does not come up within $SKS_START_TIMEOUT (20) s.
#       SKS's from_addr (its X-KeyServer-Sent identity) is $SKS_FROM_ADDR,
#       default pgp-public-keys@sks.test.  $SKS_ADDRESS, if set, is the
#       node's own loopback address (its hostname and recon_address, for
#       recon below); HKP answers there and on 127.0.0.1.
#       $SKS_EXTRA_CONF: more sksconf lines (e.g. gossip_interval).
#   sks_recon_start BASEDIR PEER...
#       "sks recon" beside the running "sks db", gossiping with each PEER
#       (ADDRESS:RECON_PORT, written to its membership file); waits until
#       it listens.  SKS 1.1.6 skips a member whose IP address is its own
#       (its hostname's) and then loops for ever looking for another, so
#       nodes on one machine need different loopback addresses
#       (SKS_ADDRESS); it binds its outgoing recon to recon_address, which
#       the peer's membership must name.  Output: BASEDIR/sks-recon.log.
#       sks_stop stops it too.
#   sks_recon_keys BASEDIR
#       How many keys this node's recon has fetched from its peers.
#   sks_stop BASEDIR
#       SIGTERM (SKS then syncs and closes its database), SIGKILL after
#       10 s.  Safe to call twice or when nothing runs.
#   sks_wait_key PORT FPR TIMEOUT
#       Poll SKS's own HKP lookup (op=index, machine-readable) until it
#       serves the key with fingerprint FPR; non-zero after TIMEOUT seconds.
#       SKS only scans messages/ every 10 s and is deaf to HKP while it
#       merges, so allow ~20 s for keys delivered through the spool.
#   sks_spool BASEDIR
#       Print the directory to use as keydb sks:DIR.
#
# SKS reads its sksconf after the command line and treats "#" anywhere as
# a comment, so BASEDIR and SENDMAIL_CMD must not contain "#".  Needs sks
# and curl.  The db process's output goes to BASEDIR/sks-db.log.

sks_log_tail() {
	[ -f "$1/sks-db.log" ] && tail -n 20 "$1/sks-db.log" >&2
	return 0
}

sks_start() {
	_sks_base=$1
	_sks_port=$2
	_sks_sendmail=${3:-"cat >/dev/null"}
	if [ -z "$_sks_base" ] || [ -z "$_sks_port" ]; then
		echo "usage: sks_start BASEDIR PORT [SENDMAIL_CMD]" >&2
		return 2
	fi
	_sks_hkp=127.0.0.1
	_sks_host=
	if [ -n "${SKS_ADDRESS:-}" ]; then
		_sks_host="hostname: $SKS_ADDRESS"
		[ "$SKS_ADDRESS" = 127.0.0.1 ] || _sks_hkp="$SKS_ADDRESS 127.0.0.1"
	fi
	case "$_sks_base$_sks_sendmail${SKS_FROM_ADDR:-}${SKS_EXTRA_CONF:-}" in
	*'#'*) echo "sks_start: '#' cannot appear in sksconf values" >&2; return 2 ;;
	esac
	command -v sks >/dev/null 2>&1 || { echo "sks_start: sks is not installed" >&2; return 1; }
	command -v curl >/dev/null 2>&1 || { echo "sks_start: curl is not installed" >&2; return 1; }
	mkdir -p "$_sks_base" || return 1
	_sks_base=$(cd "$_sks_base" && pwd) || return 1
	mkdir -p "$_sks_base/etc/sks" "$_sks_base/var/lib/sks" "$_sks_base/var/run/sks" \
		"$_sks_base/var/spool/sks/messages" \
		"$_sks_base/var/spool/sks/failed_messages" || return 1
	{
		[ -n "$_sks_host" ] && echo "$_sks_host"
		cat <<EOF
hkp_address: $_sks_hkp
hkp_port: $_sks_port
recon_address: ${SKS_ADDRESS:-127.0.0.1}
recon_port: $((_sks_port + 1))
from_addr: ${SKS_FROM_ADDR:-pgp-public-keys@sks.test}
sendmail_cmd: $_sks_sendmail
EOF
		[ -n "${SKS_EXTRA_CONF:-}" ] && echo "$SKS_EXTRA_CONF"
	} >"$_sks_base/etc/sks/sksconf"
	# Another server on the port would answer our readiness probe.
	if curl -s -o /dev/null -m 2 "http://127.0.0.1:$_sks_port/"; then
		echo "sks_start: something already answers on port $_sks_port" >&2
		return 1
	fi
	: >"$_sks_base/etc/sks/mailsync"
	: >"$_sks_base/etc/sks/membership"
	# "sks db" refuses to start without a key database (Keydb.Unsafe.No_db);
	# building from an empty seed takes a few milliseconds.
	if [ ! -d "$_sks_base/var/lib/sks/DB" ]; then
		: >"$_sks_base/empty-seed.pgp"
		if ! (cd "$_sks_base" && sks build "$_sks_base/empty-seed.pgp" -n 10 \
			-cache 100 -basedir "$_sks_base" -stdoutlog) \
			>"$_sks_base/sks-build.log" 2>&1 </dev/null; then
			echo "sks_start: sks build failed:" >&2
			tail -n 20 "$_sks_base/sks-build.log" >&2
			return 1
		fi
	fi
	(cd "$_sks_base" && exec sks db -basedir "$_sks_base" -stdoutlog) \
		>"$_sks_base/sks-db.log" 2>&1 </dev/null &
	echo $! >"$_sks_base/sks-db.pid"
	_sks_deadline=$(( $(date +%s) + ${SKS_START_TIMEOUT:-20} ))
	while :; do
		if curl -s -o /dev/null -m 2 \
			"http://127.0.0.1:$_sks_port/pks/lookup?op=stats"; then
			return 0
		fi
		if ! sks_running "$_sks_base"; then
			echo "sks_start: sks db exited:" >&2
			sks_log_tail "$_sks_base"
			rm -f "$_sks_base/sks-db.pid"
			return 1
		fi
		if [ "$(date +%s)" -ge "$_sks_deadline" ]; then
			echo "sks_start: no HKP answer on port $_sks_port:" >&2
			sks_log_tail "$_sks_base"
			sks_stop "$_sks_base"
			return 1
		fi
		sleep 0.2
	done
}

# sks_running BASEDIR - is the db process alive?  A zombie counts as gone:
# this machine's PID 1 is not init and may never reap it.
sks_running() {
	[ -f "$1/sks-db.pid" ] || return 1
	_sks_pid=$(cat "$1/sks-db.pid")
	[ -n "$_sks_pid" ] || return 1
	kill -0 "$_sks_pid" 2>/dev/null || return 1
	_sks_state=$(sed -n 's/^State:[[:space:]]*\([A-Z]\).*/\1/p' "/proc/$_sks_pid/status" 2>/dev/null)
	[ "$_sks_state" != Z ]
}

sks_stop() {
	_sks_recon_stop "$1"
	[ -f "$1/sks-db.pid" ] || return 0
	_sks_pid=$(cat "$1/sks-db.pid")
	if sks_running "$1"; then
		kill -TERM "$_sks_pid" 2>/dev/null
		_sks_i=0
		while sks_running "$1" && [ "$_sks_i" -lt 100 ]; do
			sleep 0.1
			_sks_i=$((_sks_i + 1))
		done
		if sks_running "$1"; then
			kill -KILL "$_sks_pid" 2>/dev/null
			sleep 0.1
		fi
	fi
	rm -f "$1/sks-db.pid"
	return 0
}

sks_spool() {
	echo "$1/var/spool/sks"
}

sks_wait_key() {
	_sks_port=$1
	_sks_fpr=$(echo "$2" | tr 'a-f' 'A-F')
	_sks_deadline=$(( $(date +%s) + $3 ))
	while :; do
		# SKS prints "pub:FINGERPRINT:..." in machine-readable indexes.
		if curl -s -m 5 "http://127.0.0.1:$_sks_port/pks/lookup?op=index&options=mr&search=0x$_sks_fpr" \
			| grep -qi "^pub:$_sks_fpr:"; then
			return 0
		fi
		if [ "$(date +%s)" -ge "$_sks_deadline" ]; then
			return 1
		fi
		sleep 0.5
	done
}

sks_recon_start() {
	_sr_base=$1
	shift
	if ! sks_running "$_sr_base"; then
		echo "sks_recon_start: no sks db runs in $_sr_base" >&2
		return 1
	fi
	for _sr_p in "$@"; do
		echo "${_sr_p%:*} ${_sr_p##*:}"
	done >"$_sr_base/etc/sks/membership"
	_sr_port=$(sed -n 's/^recon_port: *//p' "$_sr_base/etc/sks/sksconf")
	(cd "$_sr_base" && exec sks recon -basedir "$_sr_base" -stdoutlog) \
		>"$_sr_base/sks-recon.log" 2>&1 </dev/null &
	echo $! >"$_sr_base/sks-recon.pid"
	_sr_deadline=$(( $(date +%s) + ${SKS_START_TIMEOUT:-20} ))
	until _sks_listening "$_sr_port"; do
		if ! _sks_alive "$_sr_base/sks-recon.pid" ||
			[ "$(date +%s)" -ge "$_sr_deadline" ]; then
			echo "sks_recon_start: sks recon does not listen on port $_sr_port:" >&2
			tail -n 20 "$_sr_base/sks-recon.log" >&2
			_sks_recon_stop "$_sr_base"
			return 1
		fi
		sleep 0.2
	done
}

# _sks_listening PORT - something listens on TCP PORT (IPv4, any address).
_sks_listening() {
	_sl_hex=$(printf '%04X' "$1")
	awk -v p="$_sl_hex" '$4 == "0A" { n = split($2, a, ":");
		if (a[n] == p) found = 1 } END { exit !found }' /proc/net/tcp 2>/dev/null
}

# _sks_alive PIDFILE - that process runs (a zombie counts as gone).
_sks_alive() {
	[ -f "$1" ] || return 1
	_sa_pid=$(cat "$1")
	[ -n "$_sa_pid" ] && kill -0 "$_sa_pid" 2>/dev/null || return 1
	[ "$(sed -n 's/^State:[[:space:]]*\([A-Z]\).*/\1/p' "/proc/$_sa_pid/status" 2>/dev/null)" != Z ]
}

# _sks_recon_stop BASEDIR - SIGTERM the recon process, SIGKILL after 10 s.
_sks_recon_stop() {
	[ -f "$1/sks-recon.pid" ] || return 0
	_srs_pid=$(cat "$1/sks-recon.pid")
	if _sks_alive "$1/sks-recon.pid"; then
		kill -TERM "$_srs_pid" 2>/dev/null
		_srs_i=0
		while _sks_alive "$1/sks-recon.pid" && [ "$_srs_i" -lt 100 ]; do
			sleep 0.1
			_srs_i=$((_srs_i + 1))
		done
		_sks_alive "$1/sks-recon.pid" && kill -KILL "$_srs_pid" 2>/dev/null
	fi
	rm -f "$1/sks-recon.pid"
	return 0
}

# SKS logs "N keys received" for every batch it fetched.
sks_recon_keys() {
	awk '/ keys received$/ { n += $(NF - 2) } END { print n + 0 }' \
		"$1/sks-recon.log" 2>/dev/null
}
