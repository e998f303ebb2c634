# tests/lib/lab.sh - the end-to-end lab (issue 7): SKS <-> pksbridge <->
# Exim <-> onak, a real PKS-protocol keyserver, all on loopback in
# TEST_TMP.  Source after tests/lib.sh, tests/lib/sks.sh,
# tests/lib/sks_it.sh, tests/lib/outbound_it.sh, tests/lib/mta.sh and
# tests/lib/pksbridge.sh (in that order: pksbridge.sh's pb_conf wins).
#
#                     HKP /pks/add                 SMTP
#   SKS  <---------- pksbridge runner --------------------> Exim
#    |  sendmail_cmd     ^        ^ ingest (pipe)            |  |
#    +-> pksbridge ------+        +--- pgp-public-keys@bridge.test
#        sendmail (queue)              pgp-public-keys@pks.test --> onak-mail.pl
#                                      user@user.test  (a mailbox)     |
#                          onak's mta: smtpsubmit -> Exim  <-----------+
#
#   lab_start               build and start everything (needs root: Exim,
#                           users); returns 1 after a not_ok if it cannot
#   lab_stop                stop the runner, Exim and SKS
#   lab_onak ARG...         onak with the lab's onak.ini, as the pipe user
#   onak_has FPR            onak serves the key (onak get 0xFPR)
#   onak_has_all FILE       onak serves every fingerprint listed in FILE
#   onak_count_of FILE      how many of those onak serves
#   onak_sig_on FPR KEYID   onak's vindex of FPR lists a signature by KEYID
#   sks_has_all FILE / sks_count_of FILE    the same, asked over HKP
#   sks_sig_on FPR KEYID    SKS's vindex of FPR lists a signature by KEYID
#   user_mail OUT KEYFILE [FROM]   a user's "Subject: ADD" mail to onak
#   user_send FILE...       submit mails by SMTP to Exim, one session
#   mails DIR               the mails a tap recorded (oldest first)
#   mails_since DIR T       those that arrived after T (now_s output)
#   count_since DIR T       how many
#   from_bridge FILE / from_onak FILE   whose mail it is (X-KeyServer-Sent)
#   lab_trace T             every mail delivered since T, with the time it
#                           arrived, where, from whom, its Subject, its
#                           X-KeyServer-Sent headers and how many keys
#   now_s                   wall clock, seconds with nanoseconds
#   elapsed T               seconds since T, one decimal
#   set_lab_conf LINE...    rewrite pksbridge's config with these extra
#                           lines (read anew by every pksbridge process;
#                           the runner is sent SIGHUP)
#   from_gateway FILE       the mail is a bridge's or the pool's
#                           (X-KeyServer-Sent names the bridge or the pool)
#
# The keyserver pool (scenario 6), started by pool_start after the rest:
#
#   SKS node A (127.0.0.1) <--- recon (gossip) ---> SKS node B (127.0.0.2)
#     |  ^ HKP                                        |  ^ HKP
#     v  |                                            v  |
#   gateway A: pksbridge, spool,              gateway B: its own spool,
#   runner; mailsync_file = A's mailsync      runner, mailsync_file
#     ^ ingest (pipe)     | SMTP                ^ ingest     | SMTP
#     |                   v                     |            v
#   Exim, port POOL_MX_A --+-- pgp-public-keys@pool.test --+-- port POOL_MX_B
#
#   Both gateways and both SKS nodes have from_addr $LAB_POOL, and both
#   nodes list onak as their only mailsync peer.  Exim listens on a port
#   per node, as each node's MTA would, and routes the pool address by
#   the port it came in on (router "pool", $received_port) to that
#   node's gateway.  onak's syncsite is the pool address; its mta
#   (smtpsubmit --mx) sends each mail for pool.test to the next node's
#   port in turn, as a sender picks among equal MX records (alternating,
#   so that the lab knows both get mail).  Each runner relays through
#   its own node's port.
#
#   pool_start              start it (returns 1 after a not_ok if it cannot)
#   pool_stop               stop runners, recon and SKS of both nodes
#   pool_conf A|B [LINE...] rewrite that gateway's config, extra LINEs
#   pool_port A|B           that node's HKP port
#   pool_conf_of A|B        that gateway's config file
#   pool_served A|B FPR     that node serves the key
#   pool_count_of A|B FILE  how many of FILE's fingerprints it serves
#   pool_sent_by FILE       which gateway (A, B) sent this mail to onak
#                           (its Message-ID in that runner's log), else ?
#   pool_settled            nothing in flight: Exim's queue empty, onak
#                           idle, nothing pending at either gateway
#
# Where the mail goes (tests/lab/tap records every mail on its way in):
#   $LAB_IN/onak     mail delivered to pgp-public-keys@pks.test (onak)
#   $LAB_IN/bridge   mail delivered to pgp-public-keys@bridge.test (ingest)
#   $LAB_IN/user     mail to user@user.test (onak's "Reply to ADD")
#   $LAB_IN/bounce   mail to mailer-daemon@pks.test (onak's envelope
#                    sender) and postmaster: bounces, which must not happen
#   $LAB_IN/poolA, $LAB_IN/poolB   mail for the pool address taken in by
#                    gateway A's, B's ingest (every attempt: a deferred
#                    one has "75" in its .rc)
#
# onak: Debian's package, /usr/bin/onak with its db4 backend in
# $LAB/onak/db, and a copy of its onak-mail.pl whose config path
# (/etc/onak.ini, and the old /etc/onak.conf it prefers) is changed to
# the lab's by sed at run time; its bin_dir holds a wrapper that runs
# /usr/bin/onak -c $LAB/onak/onak.ini (onak-mail.pl runs "onak -u add"
# without -c).  onak's mta is tests/lab/smtpsubmit into the lab's Exim.
#
# onak-mail.pl saves each mail in mail_dir, and the one copy that gets its
# O_EXCL lock file processes every mail it finds in one readdir pass; a
# copy that finds the lock taken just exits.  A mail saved while that pass
# is under way is then left in mail_dir until the next mail arrives
# (with 200 mails at once, over half of them were stranded).  So Exim
# runs onak-mail.pl under flock(1) on $LAB_ONAK/serial.lock: one copy at a
# time, each finds its own mail.  An onak operator needs the same.

LAB=$TEST_TMP
LAB_IN=$LAB/in
LAB_BIN=$LAB/bin
LAB_CONF=$LAB/pksbridge.conf
LAB_SPOOL=$LAB/spool
LAB_SKS=$LAB/sks
LAB_ONAK=$LAB/onak
LAB_BRIDGE=pgp-public-keys@bridge.test
LAB_PKS=pgp-public-keys@pks.test
LAB_USER=user@user.test
LAB_POOL=pgp-public-keys@pool.test
LAB_POOLDIR=$LAB/pool
# The pool's recon: gossip every 3 s (SKS takes minutes).
LAB_GOSSIP=${LAB_GOSSIP:-0.05}
LAB_BATCH_WINDOW=${LAB_BATCH_WINDOW:-2s}
LAB_MAX_BATCH_KEYS=${LAB_MAX_BATCH_KEYS:-50}
LAB_RETRY=${LAB_RETRY:-3s}
# Where Debian's onak package put its mail script (and, beside it, the
# backends directory).
ONAK_MAIL_PL=${ONAK_MAIL_PL:-$(dpkg -L onak 2>/dev/null | grep '/onak-mail\.pl$' | head -n 1)}
ONAK_MAIL_PL=${ONAK_MAIL_PL:-/usr/lib/x86_64-linux-gnu/onak/onak-mail.pl}
LAB_FLOCK=$(command -v flock 2>/dev/null || echo /usr/bin/flock)
SKS_PORT=
MTA_PORT=
RUNNER_PID=
POOL_MX_A=
POOL_MX_B=
POOL_SKS_A=
POOL_SKS_B=
POOL_RUNNER_A=
POOL_RUNNER_B=
# onak's sync site and mta (pool_start points them at the pool).
ONAK_SYNCSITE=$LAB_BRIDGE
ONAK_MTA_EXTRA=

now_s() {
	date +%s.%N
}

elapsed() {
	awk -v a="$1" -v b="$(now_s)" 'BEGIN { printf "%.1f", b - a }'
}

# _lab_conf_write LINE... - pksbridge's config (world-readable: SKS runs
# sendmail as root, the runner and the pipe as PB_USER).
_lab_conf_write() {
	{
		echo "# the lab's pksbridge (tests/lib/lab.sh)"
		echo "spool_dir: $LAB_SPOOL"
		echo "keydb: hkp://127.0.0.1:$SKS_PORT"
		echo "from_addr: $LAB_BRIDGE"
		echo "mailsync_file: $LAB_SKS/etc/sks/mailsync"
		echo "smtp_relay: 127.0.0.1:$MTA_PORT"
		echo "retry_schedule: $LAB_RETRY"
		echo "batch_window: $LAB_BATCH_WINDOW"
		echo "max_batch_keys: $LAB_MAX_BATCH_KEYS"
		echo "log: stderr"
		for _lc in "$@"; do echo "$_lc"; done
	} >"$LAB_CONF.tmp" && chmod 644 "$LAB_CONF.tmp" && mv "$LAB_CONF.tmp" "$LAB_CONF"
}

set_lab_conf() {
	_lab_conf_write "$@" || return 1
	[ -n "$RUNNER_PID" ] && kill -HUP "$RUNNER_PID"
	return 0
}

# _onak_ini - onak's config (read anew by every onak run), with
# ONAK_SYNCSITE as its one sync site and ONAK_MTA_EXTRA on its mta line.
_onak_ini() {
	cat >"$LAB_ONAK/onak.ini.tmp" <<EOF
; the lab's onak (tests/lib/lab.sh)
[main]
backend=lab
backends_dir=$(dirname "$ONAK_MAIL_PL")/backends
logfile=$LAB_ONAK/onak.log
loglevel=3
use_keyd=false
max_reply_keys=-1

[verification]
check_sighash=true
drop_v3=true

[mail]
maintainer_email=PGP Key Server Administrator <pgp-keyserver-admin@pks.test>
mail_dir=$LAB_ONAK/mail
mta=$LAB_BIN/smtpsubmit -p $MTA_PORT$ONAK_MTA_EXTRA -t -oi -fmailer-daemon@pks.test
bin_dir=$LAB_ONAK/bin
this_site=$LAB_PKS
syncsite=$ONAK_SYNCSITE

[backend:lab]
type=db4
location=$LAB_ONAK/db
EOF
	chmod 644 "$LAB_ONAK/onak.ini.tmp" &&
		mv "$LAB_ONAK/onak.ini.tmp" "$LAB_ONAK/onak.ini"
}

# _onak_setup - onak's tree, config, wrapper and the copied mail script.
_onak_setup() {
	mkdir -p "$LAB_ONAK/db" "$LAB_ONAK/mail" "$LAB_ONAK/bin" || return 1
	_onak_ini || return 1
	printf '#!/bin/sh\nexec /usr/bin/onak -c %s "$@"\n' "$LAB_ONAK/onak.ini" \
		>"$LAB_ONAK/bin/onak"
	# onak-mail.pl logs its mta's output nowhere; smtpsubmit logs here.
	sed -e "s|/etc/onak\.ini|$LAB_ONAK/onak.ini|g" \
		-e "s|/etc/onak\.conf|$LAB_ONAK/onak.conf-absent|g" \
		"$ONAK_MAIL_PL" >"$LAB_ONAK/bin/onak-mail.pl" || return 1
	chmod 755 "$LAB_ONAK/bin/onak" "$LAB_ONAK/bin/onak-mail.pl"
	# A script that no longer names /etc/onak.ini would read the
	# system's config: refuse to run it.
	grep -q "$LAB_ONAK/onak.ini" "$LAB_ONAK/bin/onak-mail.pl" &&
		! grep -q '/etc/onak' "$LAB_ONAK/bin/onak-mail.pl" || {
		echo "onak-mail.pl: the config path was not replaced" >&2
		return 1
	}
	: >"$LAB_ONAK/onak.log"
	: >"$LAB_ONAK/smtpsubmit.log"
	chown -R "$PB_USER:$PB_GROUP" "$LAB_ONAK"
	chmod 755 "$LAB_ONAK"
}

lab_onak() {
	runuser -u "$PB_USER" -- "$LAB_ONAK/bin/onak" "$@"
}

onak_has() {
	lab_onak get "0x$1" 2>/dev/null | grep -q '^-----BEGIN PGP PUBLIC KEY BLOCK'
}

# onak_count_of FILE - one onak run per key, all in one shell as PB_USER.
onak_count_of() {
	runuser -u "$PB_USER" -- sh -c '
		n=0
		while read -r f; do
			"$1" get "0x$f" 2>/dev/null |
				grep -q "^-----BEGIN PGP PUBLIC KEY BLOCK" && n=$((n + 1))
		done <"$2"
		echo $n' sh "$LAB_ONAK/bin/onak" "$1"
}

onak_has_all() {
	[ "$(onak_count_of "$1")" -eq "$(wc -l <"$1")" ]
}

onak_sig_on() {
	lab_onak vindex "0x$1" 2>/dev/null | grep -qi "^sig  *0x$2 "
}

sks_count_of() {
	_sc_n=0
	while read -r _sc_f; do
		sks_served "$SKS_PORT" "$_sc_f" && _sc_n=$((_sc_n + 1))
	done <"$1"
	echo "$_sc_n"
}

sks_has_all() {
	[ "$(sks_count_of "$1")" -eq "$(wc -l <"$1")" ]
}

sks_sig_on() {
	# SKS's machine-readable vindex has no sig lines; the HTML one links
	# each signer.
	curl -s -m 5 "http://127.0.0.1:$SKS_PORT/pks/lookup?op=vindex&search=0x$1" |
		grep -qi "search=0x$2\""
}

user_mail() {
	_um_id="$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')@user.test"
	{
		echo "From: ${3:-Lab User <$LAB_USER>}"
		echo "To: $LAB_PKS"
		echo "Subject: ADD"
		echo "Date: $(LC_ALL=C date -R)"
		echo "Message-ID: <$_um_id>"
		echo
		cat "$2"
	} >"$1"
}

user_send() {
	SMTPSUBMIT_LOG=$LAB/user-submit.log "$LAB_BIN/smtpsubmit" -p "$MTA_PORT" \
		--files "$@"
}

mails() {
	ls "$1" 2>/dev/null | grep '\.eml$' | sort -n | sed "s|^|$1/|"
}

mails_since() {
	mails "$1" | awk -v t="$2" '{ n = $0; sub(/.*\//, "", n); split(n, a, ".");
		if ((a[1] "." a[2]) + 0 > t + 0) print }'
}

count_since() {
	mails_since "$1" "$2" | wc -l | tr -d ' '
}

# _hdr FILE NAME - the values of header NAME in FILE's header, one a line.
_hdr() {
	awk -v h="$2" 'BEGIN { h = tolower(h) ":" }
		/^$/ { exit }
		{ l = tolower($0); if (index(l, h) == 1) { v = substr($0, length(h) + 1);
		  sub(/^[ \t]*/, "", v); sub(/\r$/, "", v); print v } }' "$1"
}

from_bridge() {
	_hdr "$1" X-KeyServer-Sent | grep -qix "$LAB_BRIDGE"
}

from_gateway() {
	_hdr "$1" X-KeyServer-Sent | grep -qix -e "$LAB_BRIDGE" -e "$LAB_POOL"
}

from_onak() {
	_hdr "$1" X-KeyServer-Sent | grep -qix "$LAB_PKS"
}

# ksent_line FILE - the X-KeyServer-Sent values, comma-separated.
ksent_line() {
	_hdr "$1" X-KeyServer-Sent | paste -sd, - | sed 's/,/, /g'
}

lab_trace() {
	for _lt_d in onak bridge poolA poolB user bounce; do
		mails_since "$LAB_IN/$_lt_d" "$1" | sed "s|\$| $_lt_d|"
	done | awk '{ n = $1; sub(/.*\//, "", n); split(n, a, "."); print a[1] "." a[2], $0 }' |
		sort -n | while read -r _lt_t _lt_f _lt_d; do
		_lt_k=$(mail_fprs "$_lt_f" | wc -l)
		_lt_s=$(_hdr "$_lt_f" Subject | head -n 1)
		_lt_from=$(_hdr "$_lt_f" From | head -n 1 | sed 's/.*<\(.*\)>.*/\1/')
		_lt_x=$(ksent_line "$_lt_f")
		_lt_rc=
		[ -f "$_lt_f.rc" ] && [ "$(cat "$_lt_f.rc")" != 0 ] &&
			_lt_rc=" EXIT $(cat "$_lt_f.rc")"
		printf '#   +%6.1fs  %-18s <- %-38s %-12s %4s key(s)%s%s\n' \
			"$(awk -v a="$1" -v b="$_lt_t" 'BEGIN { print b - a }')" \
			"$(lab_dest_name "$_lt_d")" \
			"$_lt_from" "\"$_lt_s\"" "$_lt_k" \
			"${_lt_x:+  X-KeyServer-Sent: $_lt_x}" "$_lt_rc"
	done
}

# lab_dest_name DIR - how the trace names the tap directory DIR.
lab_dest_name() {
	case $1 in
	onak) echo "onak (pks.test)" ;;
	bridge) echo "pksbridge ingest" ;;
	poolA) echo "pool: gateway A" ;;
	poolB) echo "pool: gateway B" ;;
	user) echo "user mailbox" ;;
	*) echo "BOUNCE" ;;
	esac
}

# _lab_aliases FILE - the Exim aliases of the lab.
_lab_aliases() {
	: >"$1"
	mta_alias "$1" "$LAB_BRIDGE" "$LAB_BIN/tap" "$LAB_IN/bridge" \
		"$PB_BIN" -c "$LAB_CONF" ingest
	# One onak-mail.pl at a time (see the top of this file).
	mta_alias "$1" "$LAB_PKS" "$LAB_BIN/tap" "$LAB_IN/onak" \
		"$LAB_FLOCK" "$LAB_ONAK/serial.lock" "$LAB_ONAK/bin/onak-mail.pl"
	mta_alias "$1" "$LAB_USER" "$LAB_BIN/tap" "$LAB_IN/user"
	# The pool address, by the port it came in on (router "pool").
	mta_alias "$1" "$LAB_POOL/$POOL_MX_A" "$LAB_BIN/tap" "$LAB_IN/poolA" \
		"$PB_BIN" -c "$LAB_POOLDIR/a.conf" ingest
	mta_alias "$1" "$LAB_POOL/$POOL_MX_B" "$LAB_BIN/tap" "$LAB_IN/poolB" \
		"$PB_BIN" -c "$LAB_POOLDIR/b.conf" ingest
	mta_alias "$1" mailer-daemon@pks.test "$LAB_BIN/tap" "$LAB_IN/bounce"
	mta_alias "$1" postmaster "$LAB_BIN/tap" "$LAB_IN/bounce"
}

lab_start() {
	need_cmd sks onak exim4 perl python3 gpg curl flock || return 1
	if [ ! -r "$ONAK_MAIL_PL" ]; then
		not_ok "onak's mail script $ONAK_MAIL_PL is installed (Debian package onak)"
		return 1
	fi
	case "$TEST_TMP" in
	*'#'*) not_ok "no '#' in $TEST_TMP (SKS reads it as a comment)"; return 1 ;;
	esac
	pb_setup || return 1
	cp "$TOP/tests/lab/tap" "$TOP/tests/lab/smtpsubmit" "$LAB_BIN/" &&
		chmod 755 "$LAB_BIN/tap" "$LAB_BIN/smtpsubmit" || return 1
	mkdir -p "$LAB_IN/onak" "$LAB_IN/bridge" "$LAB_IN/user" "$LAB_IN/bounce" \
		"$LAB_IN/poolA" "$LAB_IN/poolB" &&
		chown "$PB_USER:$PB_GROUP" "$LAB_IN"/* && chmod 755 "$LAB_IN"/* || return 1
	pb_spool "$LAB_SPOOL" || return 1
	SKS_PORT=$(free_port) && MTA_PORT=$(free_port) || {
		not_ok "no free loopback ports"
		return 1
	}
	while [ "$MTA_PORT" = "$SKS_PORT" ] || [ "$MTA_PORT" = $((SKS_PORT + 1)) ]; do
		MTA_PORT=$(free_port)
	done
	POOL_MX_A=$(_lab_port) && POOL_MX_B=$(_lab_port) || {
		not_ok "no free loopback ports"
		return 1
	}
	_lab_conf_write || return 1
	_onak_setup 2>"$LAB/onak-setup.err" || {
		not_ok "onak is set up in $LAB_ONAK" "$(cat "$LAB/onak-setup.err")"
		return 1
	}
	show_on_failure "$LAB/runner.log" "$LAB_SKS/sks-db.log" "$LAB_ONAK/onak.log"
	# SKS: our pksbridge is its sendmail, onak its only mailsync peer, and
	# its identity is the bridge's (docs/WIRING.md).
	if ! SKS_FROM_ADDR=$LAB_BRIDGE sks_start "$LAB_SKS" "$SKS_PORT" \
		"$PB_BIN -c $LAB_CONF sendmail -t -oi" 2>"$LAB/sks.err"; then
		not_ok "SKS starts on 127.0.0.1:$SKS_PORT" "$(cat "$LAB/sks.err")"
		return 1
	fi
	printf '%s\n' "# PKS peers of the lab's SKS (and of pksbridge)" "$LAB_PKS" \
		>"$LAB_SKS/etc/sks/mailsync"
	chmod 644 "$LAB_SKS/etc/sks/mailsync"
	_lab_aliases "$LAB/aliases"
	MTA_DOMAINS="bridge.test : pks.test : user.test : pool.test"
	MTA_EXTRA_PORTS="$POOL_MX_A : $POOL_MX_B"
	MTA_EXTRA_ROUTERS="pool:
  driver = redirect
  domains = pool.test
  data = \${lookup{\$local_part@\$domain/\$received_port}lsearch{$LAB/aliases}}
  pipe_transport = pksb_pipe"
	MTA_PIPE_USER=$PB_USER
	MTA_PIPE_GROUP=$PB_GROUP
	# One SMTP session may carry hundreds of mails (the lab's users):
	# deliver each at once instead of queueing after the 10th.
	MTA_EXTRA_MAIN="smtp_accept_queue_per_connection = 0"
	mta_start "$LAB/exim" "$MTA_PORT" "$LAB/aliases" || return 1
	spawn_daemon "$LAB/runner.log" runuser -u "$PB_USER" -- \
		"$PB_BIN" -c "$LAB_CONF" run
	RUNNER_PID=$SPAWNED_PID
	wait_until 10 grep -q 'runner started' "$LAB/runner.log" || {
		not_ok "the pksbridge runner starts" "$(tail -n 5 "$LAB/runner.log")"
		return 1
	}
}

lab_stop() {
	[ -n "$RUNNER_PID" ] && stop_daemon "$RUNNER_PID"
	RUNNER_PID=
	pool_stop
	mta_stop
	sks_stop "$LAB_SKS"
}

# _lab_port - a free port none of the lab's others is, nor one above them
# (an SKS takes PORT and PORT + 1).
_lab_port() {
	_lp_i=0
	while [ "$_lp_i" -lt 50 ]; do
		_lp=$(free_port) || return 1
		_lp_i=$((_lp_i + 1))
		port_in_use $((_lp + 1)) && continue
		for _lp_o in $SKS_PORT $MTA_PORT $POOL_MX_A $POOL_MX_B $POOL_SKS_A $POOL_SKS_B; do
			[ "$_lp" = "$_lp_o" ] || [ "$_lp" = $((_lp_o + 1)) ] ||
				[ $((_lp + 1)) = "$_lp_o" ] || continue
			_lp=
			break
		done
		[ -n "$_lp" ] && echo "$_lp" && return 0
	done
	return 1
}

# --- the keyserver pool (scenario 6) -------------------------------------

pool_conf_of() {
	case $1 in A) echo "$LAB_POOLDIR/a.conf" ;; *) echo "$LAB_POOLDIR/b.conf" ;; esac
}

pool_port() {
	case $1 in A) echo "$POOL_SKS_A" ;; *) echo "$POOL_SKS_B" ;; esac
}

# pool_conf A|B [LINE...] - gateway A's or B's config: its own spool,
# the local node's HKP as keydb, that node's mailsync file, relay through
# that node's port of Exim, the pool's one from_addr.
pool_conf() {
	_pc_n=$(echo "$1" | tr AB ab)
	_pc_port=$(pool_port "$1")
	_pc_mx=$POOL_MX_A
	[ "$1" = B ] && _pc_mx=$POOL_MX_B
	shift
	{
		echo "# gateway $_pc_n of the lab's keyserver pool (tests/lib/lab.sh)"
		echo "spool_dir: $LAB_POOLDIR/$_pc_n-spool"
		echo "keydb: hkp://127.0.0.1:$_pc_port"
		echo "from_addr: $LAB_POOL"
		echo "mailsync_file: $LAB_POOLDIR/$_pc_n/etc/sks/mailsync"
		echo "smtp_relay: 127.0.0.1:$_pc_mx"
		echo "retry_schedule: $LAB_RETRY"
		echo "batch_window: $LAB_BATCH_WINDOW"
		echo "max_batch_keys: $LAB_MAX_BATCH_KEYS"
		echo "log: stderr"
		for _pc_l in "$@"; do echo "$_pc_l"; done
	} >"$LAB_POOLDIR/$_pc_n.conf.tmp" &&
		chmod 644 "$LAB_POOLDIR/$_pc_n.conf.tmp" &&
		mv "$LAB_POOLDIR/$_pc_n.conf.tmp" "$LAB_POOLDIR/$_pc_n.conf"
}

# _pool_node A|B ADDRESS - one node: SKS (its sendmail_cmd its gateway's
# intake), its mailsync file, the gateway's spool, config and runner.
_pool_node() {
	_pn_n=$(echo "$1" | tr AB ab)
	_pn_base=$LAB_POOLDIR/$_pn_n
	pb_spool "$LAB_POOLDIR/$_pn_n-spool" || return 1
	pool_conf "$1" || return 1
	if ! SKS_ADDRESS=$2 SKS_FROM_ADDR=$LAB_POOL \
		SKS_EXTRA_CONF="gossip_interval: $LAB_GOSSIP" \
		sks_start "$_pn_base" "$(pool_port "$1")" \
		"$PB_BIN -c $(pool_conf_of "$1") sendmail -t -oi" 2>"$LAB_POOLDIR/$_pn_n-sks.err"; then
		not_ok "pool: SKS node $1 starts on $2:$(pool_port "$1")" \
			"$(cat "$LAB_POOLDIR/$_pn_n-sks.err")"
		return 1
	fi
	printf '%s\n' "# PKS peers of pool node $1 (and of gateway $1)" "$LAB_PKS" \
		>"$_pn_base/etc/sks/mailsync"
	chmod 644 "$_pn_base/etc/sks/mailsync"
	spawn_daemon "$LAB_POOLDIR/$_pn_n-runner.log" runuser -u "$PB_USER" -- \
		"$PB_BIN" -c "$(pool_conf_of "$1")" run
	if [ "$1" = A ]; then POOL_RUNNER_A=$SPAWNED_PID; else POOL_RUNNER_B=$SPAWNED_PID; fi
	wait_until 10 grep -q 'runner started' "$LAB_POOLDIR/$_pn_n-runner.log" || {
		not_ok "pool: gateway $1's runner starts" \
			"$(tail -n 5 "$LAB_POOLDIR/$_pn_n-runner.log")"
		return 1
	}
}

# pool_start - both nodes in recon, both gateways, onak syncing with the
# pool address through its "MX" ports.
pool_start() {
	mkdir -p "$LAB_POOLDIR" || return 1
	POOL_SKS_A=$(_lab_port) && POOL_SKS_B=$(_lab_port) || {
		not_ok "pool: no free loopback ports"
		return 1
	}
	show_on_failure "$LAB_POOLDIR/a-runner.log" "$LAB_POOLDIR/b-runner.log" \
		"$LAB_POOLDIR/a/sks-db.log" "$LAB_POOLDIR/b/sks-db.log" \
		"$LAB_POOLDIR/a/sks-recon.log" "$LAB_POOLDIR/b/sks-recon.log"
	_pool_node A 127.0.0.1 && _pool_node B 127.0.0.2 || return 1
	for _ps in "A $LAB_POOLDIR/a 127.0.0.2:$((POOL_SKS_B + 1))" \
		"B $LAB_POOLDIR/b 127.0.0.1:$((POOL_SKS_A + 1))"; do
		set -- $_ps
		if ! sks_recon_start "$2" "$3" 2>"$LAB_POOLDIR/recon.err"; then
			not_ok "pool: SKS node $1's recon starts, gossiping with $3" \
				"$(cat "$LAB_POOLDIR/recon.err")"
			return 1
		fi
	done
	ONAK_SYNCSITE=$LAB_POOL
	ONAK_MTA_EXTRA=" --mx pool.test=$POOL_MX_A,$POOL_MX_B --mx-state $LAB_ONAK/mx.turn"
	_onak_ini
}

pool_stop() {
	for _pst in $POOL_RUNNER_A $POOL_RUNNER_B; do
		stop_daemon "$_pst"
	done
	POOL_RUNNER_A=
	POOL_RUNNER_B=
	[ -d "$LAB_POOLDIR/a" ] && sks_stop "$LAB_POOLDIR/a"
	[ -d "$LAB_POOLDIR/b" ] && sks_stop "$LAB_POOLDIR/b"
	return 0
}

pool_served() {
	sks_served "$(pool_port "$1")" "$2"
}

pool_count_of() {
	_pco_n=0
	while read -r _pco_f; do
		pool_served "$1" "$_pco_f" && _pco_n=$((_pco_n + 1))
	done <"$2"
	echo "$_pco_n"
}

pool_sent_by() {
	_psb_id=$(_hdr "$1" Message-ID | head -n 1 | tr -d '<> ')
	[ -n "$_psb_id" ] || { echo "?"; return; }
	if grep -qF "msgid=<$_psb_id>, status=sent" "$LAB_POOLDIR/a-runner.log"; then
		echo A
	elif grep -qF "msgid=<$_psb_id>, status=sent" "$LAB_POOLDIR/b-runner.log"; then
		echo B
	else
		echo "?"
	fi
}

pool_settled() {
	[ "$(mta_queue_count)" = 0 ] || return 1
	[ ! -e "$LAB_ONAK/mail/onak-mail.lck" ] || return 1
	[ -z "$(ls "$LAB_ONAK/mail" | grep '\.onak$')" ] || return 1
	for _pse in A B; do
		"$PKSBRIDGE" -c "$(pool_conf_of $_pse)" queue list --json >"$TEST_TMP/.pending" &&
			[ ! -s "$TEST_TMP/.pending" ] || return 1
	done
}
