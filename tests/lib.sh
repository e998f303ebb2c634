# tests/lib.sh - shared helpers for the shell integration tests.
#
# tests/run runs each tests/integration/*.sh as `sh SCRIPT` and counts the
# lines starting "ok - " and "not ok - ".  A script sources this file first:
#
#     . "$(dirname "$0")/../lib.sh"
#
# and gets:
#   TEST_NAME       the script's base name; it prefixes every result line
#   TEST_TMP        a fresh directory for this run (mode 0755, so the
#                   unprivileged users an MTA runs filters as can reach
#                   fixtures in it), removed at exit
#   ok, not_ok, check, check_rc, check_eq, check_grep     result lines
#   wait_for        poll a command until it succeeds or time runs out
#   bench           a measured speed: reported, and a check only under
#                   make bench (PB_BENCH=1); a test bounds time only to
#                   catch a hang
#   need_cmd, need_root   a missing tool or privilege is a failure, never a
#                   skip: CI runs as root with every package installed
#   free_port, port_listening   loopback TCP ports, read from /proc/net/tcp
#   spawn_daemon, stop_daemon   daemons in their own process group
#   show_on_failure files whose tails are printed if any check failed
#   STANDIN, standin_setup, standin_exit, standin_count, standin_received,
#   standin_last    the stand-in filter fixture (tests/data/bin) that plays
#                   pksbridge's part in the harness's own tests
#   make_mail       a small PKS-style mail carrying a fixture key
#   done_testing    end the script; the exit status says whether all passed
#
# At exit (normal, failed, or by signal) every process the test started is
# killed: the process groups of spawn_daemon, any process whose command line
# names TEST_TMP (exim's delivery processes, filters, procmail), and all
# their descendants.  A plain `cmd &` that is none of these is not tracked:
# start background processes with spawn_daemon.  Set PB_KEEP_TMP=1 to keep
# TEST_TMP for a post-mortem.
#
# POSIX sh (dash): no arrays, no [[ ]], no /dev/tcp, no `local`.  Helper
# variables are prefixed with _ and the helper's initials to avoid clashes;
# check/wait_for must not be nested (they share scratch variables).

# A misspelt variable ends the script, which then reports "ended before
# done_testing", rather than silently testing an empty string.
set -u

TOP=${TOP:-$(cd "$(dirname "$0")/../.." && pwd)}
TEST_DATA=${TEST_DATA:-$TOP/tests/data}
TEST_NAME=$(basename "$0" .sh)
export TOP TEST_DATA

_t_pass=0
_t_fail=0
_t_done=
_t_pids=
_t_show=

TEST_TMP=$(mktemp -d "${TMPDIR:-/tmp}/pb-$TEST_NAME.XXXXXX") || {
	echo "not ok - $TEST_NAME: mktemp -d failed"
	exit 1
}
chmod 755 "$TEST_TMP"

# _t_quote FILE - the last lines of FILE as TAP comments.
_t_quote() {
	[ -s "$1" ] || return 0
	tail -n "${2:-25}" "$1" | sed 's/^/#   /'
}

# ok DESCRIPTION - one passed check.
ok() {
	_t_pass=$((_t_pass + 1))
	echo "ok - $TEST_NAME: $1"
}

# not_ok DESCRIPTION [DETAIL...] - one failed check; details become comments.
not_ok() {
	_t_fail=$((_t_fail + 1))
	echo "not ok - $TEST_NAME: $1"
	shift
	for _no_d in "$@"; do echo "#   $_no_d"; done
	return 1
}

# check DESCRIPTION COMMAND... - passes if COMMAND exits 0.  COMMAND may be
# a shell function; its output is shown only when it fails.
check() {
	_c_desc=$1
	shift
	"$@" >"$TEST_TMP/.check.out" 2>&1
	_c_rc=$?
	if [ "$_c_rc" -eq 0 ]; then
		ok "$_c_desc"
		return 0
	fi
	not_ok "$_c_desc" "command: $*" "exit status: $_c_rc"
	_t_quote "$TEST_TMP/.check.out"
	return 1
}

# check_rc DESCRIPTION WANT COMMAND... - passes if COMMAND exits with WANT.
check_rc() {
	_c_desc=$1
	_c_want=$2
	shift 2
	"$@" >"$TEST_TMP/.check.out" 2>&1
	_c_rc=$?
	if [ "$_c_rc" -eq "$_c_want" ]; then
		ok "$_c_desc"
		return 0
	fi
	not_ok "$_c_desc" "command: $*" "exit status: got $_c_rc, want $_c_want"
	_t_quote "$TEST_TMP/.check.out"
	return 1
}

# check_eq DESCRIPTION GOT WANT - passes if the two strings are equal.
check_eq() {
	if [ "$2" = "$3" ]; then
		ok "$1"
		return 0
	fi
	not_ok "$1" "got:  '$2'" "want: '$3'"
}

# check_grep DESCRIPTION ERE FILE - passes if a line of FILE matches ERE.
check_grep() {
	if grep -Eq -- "$2" "$3" 2>/dev/null; then
		ok "$1"
		return 0
	fi
	not_ok "$1" "no line matches /$2/ in $3"
	_t_quote "$3"
	return 1
}

# wait_until TIMEOUT_S COMMAND... - poll COMMAND every 0.1 s until it exits
# 0 (return 0) or TIMEOUT_S seconds have passed (return 1).  No result line.
wait_until() {
	_wu_end=$(($(date +%s) + $1))
	shift
	while :; do
		"$@" >"$TEST_TMP/.wait.out" 2>&1 && return 0
		[ "$(date +%s)" -ge "$_wu_end" ] && return 1
		sleep 0.1
	done
}

# wait_for DESCRIPTION TIMEOUT_S COMMAND... - wait_until, reported as a check.
wait_for() {
	_wf_desc=$1
	_wf_timeout=$2
	shift 2
	if wait_until "$_wf_timeout" "$@"; then
		ok "$_wf_desc"
		return 0
	fi
	not_ok "$_wf_desc" "timed out after ${_wf_timeout}s: $*"
	_t_quote "$TEST_TMP/.wait.out"
	return 1
}

# bench WHAT VALUE TARGET UNIT - a speed measured by a test: one
# "# bench: WHAT: VALUE UNIT (target <= TARGET UNIT)" line, which make bench
# (bench/s8_tests.sh) collects.  Only there (PB_BENCH=1) is it a check: on a
# loaded two-core machine a wall-clock target fails for reasons that are not
# the code's, so `make check` bounds times only to catch a hang.
bench() {
	echo "# bench: $1: $2 $4 (target <= $3 $4)"
	[ "${PB_BENCH:-0}" = 1 ] || return 0
	check "$1 <= $3 $4 (got $2 $4)" test "$2" -le "$3"
}

# need_cmd COMMAND... - fail (not skip) for each command not installed.
need_cmd() {
	_nc_rc=0
	for _nc in "$@"; do
		command -v "$_nc" >/dev/null 2>&1 && continue
		not_ok "required command $_nc is not installed" \
			"install the test dependencies: sh scripts/bootstrap"
		_nc_rc=1
	done
	return $_nc_rc
}

# need_root WHY - fail (not skip) unless running as root.
need_root() {
	[ "$(id -u)" -eq 0 ] && return 0
	not_ok "must run as root: $1" "CI runs the tests as root; so must you"
}

# port_in_use PORT - true if any local TCP socket (v4 or v6) has PORT.
port_in_use() {
	_pu_hex=$(printf '%04X' "$1")
	awk -v p="$_pu_hex" '$2 ~ /:/ { n = split($2, a, ":");
		if (a[n] == p) found = 1 } END { exit !found }' \
		/proc/net/tcp /proc/net/tcp6 2>/dev/null
}

# port_listening PORT - true if something listens on TCP PORT.
port_listening() {
	_pl_hex=$(printf '%04X' "$1")
	awk -v p="$_pl_hex" '$4 == "0A" { n = split($2, a, ":");
		if (a[n] == p) found = 1 } END { exit !found }' \
		/proc/net/tcp /proc/net/tcp6 2>/dev/null
}

# free_port - print a TCP port no local socket uses, picked at random from
# 20000-31999 (below Linux's ephemeral range, so outgoing connections do not
# take it between this check and the daemon's bind()).
free_port() {
	_fp_n=0
	while [ $_fp_n -lt 200 ]; do
		_fp=$(($(od -An -N2 -tu2 /dev/urandom) % 12000 + 20000))
		if ! port_in_use "$_fp"; then
			echo "$_fp"
			return 0
		fi
		_fp_n=$((_fp_n + 1))
	done
	echo "free_port: no free port found" >&2
	return 1
}

# spawn_daemon LOGFILE COMMAND... - start COMMAND in the background in a new
# session (so it and all its children form one process group we can kill),
# output appended to LOGFILE.  Sets SPAWNED_PID; the group is killed at exit.
spawn_daemon() {
	_sd_log=$1
	shift
	# A background job of a non-interactive shell is not a group leader,
	# so setsid(1) calls setsid() and execs without forking: $! is the
	# daemon itself and, from now on, also its process group id.
	setsid "$@" >>"$_sd_log" 2>&1 </dev/null &
	SPAWNED_PID=$!
	_t_pids="$_t_pids $SPAWNED_PID"
}

# stop_daemon PID [TIMEOUT_S] - SIGTERM the daemon's process group, wait for
# the daemon to exit (SIGKILL after TIMEOUT_S, default 10).  Returns 1 if it
# needed SIGKILL.
stop_daemon() {
	_st_pid=$1
	kill -TERM "-$_st_pid" 2>/dev/null || kill -TERM "$_st_pid" 2>/dev/null
	_st_rc=0
	if ! wait_until "${2:-10}" _t_gone "$_st_pid"; then
		kill -KILL "-$_st_pid" 2>/dev/null || kill -KILL "$_st_pid" 2>/dev/null
		_st_rc=1
	fi
	wait "$_st_pid" 2>/dev/null
	_st_new=
	for _st_p in $_t_pids; do
		[ "$_st_p" = "$_st_pid" ] || _st_new="$_st_new $_st_p"
	done
	_t_pids=$_st_new
	return $_st_rc
}

# _t_gone PID - true once PID has exited (a zombie counts as exited).
_t_gone() {
	[ -r "/proc/$1/stat" ] || return 0
	# The state follows the ")" that ends the command name.
	case "$(sed 's/.*) //; s/ .*//' "/proc/$1/stat" 2>/dev/null)" in
	Z | X | "") return 0 ;;
	esac
	return 1
}

# _t_strays - pids of processes whose command line names TEST_TMP: exim's
# delivery processes (which may have left the daemon's process group),
# filters, procmail; and of those chrooted under TEST_TMP (an MTA in a
# system of its own, tests/lib/mtaroot.sh, whose daemons detach), whose
# /proc/PID/root names TEST_TMP after a prefix when this test itself runs
# chrooted (the link's path starts at the outermost root).  The pattern
# brackets its last character so that grep does not find itself.
_t_strays() {
	_ts_pat=$(printf '%s' "$TEST_TMP" | sed 's/\./\\./g; s/.$/[&]/')
	grep -l -a -e "$_ts_pat" /proc/[0-9]*/cmdline 2>/dev/null |
		sed 's|^/proc/||; s|/cmdline$||'
	# One ls for all: a readlink per process would fork hundreds of times.
	ls -l /proc/[0-9]*/root 2>/dev/null | awk -v t="$TEST_TMP/" '{
		i = index($0, " -> ")
		if (i == 0 || index(substr($0, i + 4), t) == 0) next
		p = substr($0, 1, i - 1)
		sub(/\/root$/, "", p)
		sub(/.*\/proc\//, "", p)
		print p
	}'
}

# _t_doomed - the live processes this test started: the spawn_daemon pids,
# the strays, and every descendant of either (a filter's children need not
# mention TEST_TMP).  Never this shell; zombies count as gone.
_t_doomed() {
	{
		echo $_t_pids $(_t_strays)
		cat /proc/[0-9]*/stat 2>/dev/null
	} | awk -v self="$$" '
	NR == 1 { for (i = 1; i <= NF; i++) seed[$i] = 1; next }
	{
		pid = $1
		sub(/.*\) /, "")	# the fields after "(command name)"
		if ($1 == "Z" || $1 == "X") next
		parent[pid] = $2
	}
	END {
		for (p in seed) doomed[p] = 1
		do {
			more = 0
			for (p in parent)
				if (!(p in doomed) && (parent[p] in doomed)) {
					doomed[p] = 1
					more = 1
				}
		} while (more)
		for (p in doomed)
			if ((p in parent) && p != self) print p
	}'
}

# _t_kill_all - SIGTERM everything _t_doomed finds (and the spawn_daemon
# process groups), SIGKILL what is still there after 5 s.
_t_kill_all() {
	for _ka_p in $_t_pids; do kill -TERM "-$_ka_p" 2>/dev/null; done
	_ka_n=0
	while _ka_live=$(_t_doomed) && [ -n "$_ka_live" ]; do
		if [ $_ka_n -ge 50 ]; then
			echo "# still running 5s after SIGTERM, killing:" $_ka_live
			for _ka_p in $_t_pids; do kill -KILL "-$_ka_p" 2>/dev/null; done
			kill -KILL $_ka_live 2>/dev/null
			return
		fi
		[ $((_ka_n % 10)) -eq 0 ] && kill -TERM $_ka_live 2>/dev/null
		sleep 0.1
		_ka_n=$((_ka_n + 1))
	done
}

# show_on_failure FILE... - print these files' tails if any check failed.
show_on_failure() {
	_t_show="$_t_show $*"
}

_t_exit() {
	_te_rc=$?
	trap - EXIT
	if [ -z "$_t_done" ]; then
		not_ok "script ended before done_testing (exit status $_te_rc)"
	fi
	_t_kill_all
	if [ "$_t_fail" -gt 0 ]; then
		for _te_f in $_t_show; do
			[ -s "$_te_f" ] || continue
			echo "# --- $_te_f"
			_t_quote "$_te_f" 40
		done
	fi
	if [ -n "${PB_KEEP_TMP:-}" ]; then
		echo "# kept $TEST_TMP"
	else
		rm -rf "$TEST_TMP"
	fi
	[ "$_t_fail" -eq 0 ] && exit 0
	exit 1
}
trap _t_exit EXIT
trap 'exit 129' HUP
trap 'exit 130' INT
trap 'exit 143' TERM

# done_testing - end the script: exit 0 if every check passed, else 1.
done_testing() {
	_t_done=1
	[ $((_t_pass + _t_fail)) -gt 0 ] || not_ok "no checks ran"
	exit
}

# --- the stand-in filter fixture (tests/data/bin/standin-filter) -----------

# STANDIN: the fixture, copied into TEST_TMP because the checkout (often
# under /root) may not be searchable by the user an MTA runs filters as.
STANDIN=$TEST_TMP/bin/standin-filter
mkdir -p "$TEST_TMP/bin" && chmod 755 "$TEST_TMP/bin"
cp "$TEST_DATA/bin/standin-filter" "$STANDIN" && chmod 755 "$STANDIN"

# standin_setup DIR [EXIT] - a world-writable record directory for one
# stand-in, which will exit with EXIT (default 0).  The filter command is
# then "$STANDIN DIR [ARG...]".
standin_setup() {
	mkdir -p "$1" && chmod 777 "$1"
	standin_exit "$1" "${2:-0}"
}

# standin_exit DIR EXIT - make the stand-in recording into DIR exit EXIT
# from its next run on.
standin_exit() {
	echo "$2" >"$1/exit" && chmod 644 "$1/exit"
}

# standin_msgs DIR - the mails the stand-in received, oldest first.
standin_msgs() {
	for _sm in "$1"/msg.*; do
		case "$_sm" in
		*.tmp | *.args | *.cred | *.env) ;;
		*) [ -f "$_sm" ] && echo "$_sm" ;;
		esac
	done
}

# standin_count DIR - how many mails the stand-in received.
standin_count() {
	standin_msgs "$1" | wc -l | tr -d ' '
}

# standin_received DIR N - true once the stand-in has received N mails (a
# command for wait_for, which must re-count on every poll).
standin_received() {
	[ "$(standin_count "$1")" -ge "$2" ]
}

# standin_last DIR - the newest mail the stand-in received (its .args,
# .cred and .env files sit beside it).
standin_last() {
	standin_msgs "$1" | tail -n 1
}

# check_spool_verified SPOOL [LABEL] - one check: db5.3_verify (30 s
# each at most) finds no damage in any database of SPOOL.  Its output
# goes to $TEST_TMP/verify.log, shown if a check fails.
check_spool_verified() {
	_sv_ok=1
	for _sv_db in "$1"/*.db; do
		timeout -s KILL 30 db5.3_verify -h "$1" "$(basename "$_sv_db")" \
			>>"$TEST_TMP/verify.log" 2>&1 || _sv_ok=0
	done
	show_on_failure "$TEST_TMP/verify.log"
	check_eq "${2:+$2: }db_verify finds no damage" "$_sv_ok" 1
}

# capture_cmd SCRIPT DIR - write SCRIPT, a sendmail_cmd stand-in that
# stores each mail it is given as DIR/mail.N and its arguments, one per
# line, as DIR/args.N (N counts from 0; tests/data/bin/mail-sink, whose
# counter no two deliveries can share).
capture_cmd() {
	mkdir -p "$2"
	cat >"$1" <<EOF
#!/bin/sh
exec "$TEST_DATA/bin/mail-sink" "$2" "\$@"
EOF
	chmod 755 "$1"
}

# wedge_ingest CONF MAIL LOG - "pksbridge -c CONF ingest <MAIL" under gdb,
# stopped at the entry of Berkeley DB's __log_flush_int, which runs with
# the log region's mutex held (log/log_put.c: every caller takes
# LOG_SYSTEM_LOCK first); its output appended to LOG.  Sets victim (the
# ingest's pid) and _wi_gdb; false if it did not get there within 30 s.
# stop_wedge then SIGKILLs the ingest where it stands: a process dead
# inside the environment, holding a mutex, as a kill -9 leaves it.
wedge_ingest() {
	rm -f "$TEST_TMP/wedge.go"
	gdb -q -nx -batch \
		-ex 'set breakpoint pending on' -ex 'set confirm off' \
		-ex 'handle SIGALRM nostop noprint pass' \
		-ex 'break __log_flush_int' \
		-ex "run -c $1 ingest <$2 >>$3 2>&1" \
		-ex 'info inferiors' -ex 'bt 3' \
		-ex "shell touch $TEST_TMP/wedge.stopped; while [ ! -e $TEST_TMP/wedge.go ]; do sleep 0.1; done" \
		--args "$PKSBRIDGE" >"$TEST_TMP/gdb.out" 2>&1 </dev/null &
	_wi_gdb=$!
	rm -f "$TEST_TMP/wedge.stopped"
	wait_until 30 test -e "$TEST_TMP/wedge.stopped" || return 1
	victim=$(sed -n 's/^[* ]*1 *process \([0-9][0-9]*\).*/\1/p' "$TEST_TMP/gdb.out" | head -n 1)
	[ -n "$victim" ] && grep -q '__log_flush_int' "$TEST_TMP/gdb.out"
}
stop_wedge() {
	kill -KILL "$victim"
	touch "$TEST_TMP/wedge.go"
	wait "$_wi_gdb" 2>/dev/null
	wait_until 10 sh -c "! kill -0 $victim 2>/dev/null"
}

# spool_wedged LOG OFFSET - true if LOG, from byte OFFSET on, says a
# filter gave up on a spool that did not heal itself: its watchdog
# expired, or another opener held the spool for 30 s (which would need
# an operator: the crash tests count it, and must count none).
spool_wedged() {
	tail -c +$(($2 + 1)) "$1" 2>/dev/null |
		grep -Eq 'another process has been opening|watchdog expired'
}

# serve_ms CONF SINCE_MS - how many milliseconds after SINCE_MS (a
# date +%s%3N value: the last kill) "pksbridge queue stats" works with
# CONF, trying again until it does; false after 60 s (and the time so far).
serve_ms() {
	_sm_end=$(($(date +%s) + 60))
	until timeout -s KILL 30 "$PKSBRIDGE" -c "$1" queue stats >/dev/null 2>&1; do
		if [ "$(date +%s)" -ge "$_sm_end" ]; then
			echo $(($(date +%s%3N) - $2))
			return 1
		fi
		sleep 0.05
	done
	echo $(($(date +%s%3N) - $2))
}

# ms_summary FILE - "p50 P / p99 P / max M ms (N)" of the numbers in FILE.
ms_summary() {
	sort -n "$1" | awk '{ v[NR] = $1 } END {
		if (NR == 0) { print "none"; exit }
		p50 = v[int((NR - 1) * 0.50) + 1]; p99 = v[int((NR - 1) * 0.99) + 1]
		printf "p50 %d / p99 %d / max %d ms (%d)\n", p50, p99, v[NR], NR }'
}

# ms_max FILE - the largest number in FILE (0 if none).
ms_max() {
	sort -n "$1" | tail -n 1 | grep . || echo 0
}

# CRASH_LINES - an extended regex for what pksbridge writes when it really
# crashes or gives up blocked: the filters' handler for a fatal signal,
# the runner's watchdog, a sanitizer or glibc's heap checks.  Not
# Berkeley DB's "fatal region error", which a handled warning quotes when
# another process's recovery invalidates a handle (spool/heal.c raises
# that panic on purpose).
CRASH_LINES='pksbridge: fatal signal |pksbridge/run: fatal: watchdog|ERROR: AddressSanitizer|runtime error: |double free|malloc\(\): |free\(\): |corrupted '

# unsent_kills EXITS KILLED - "PID:STATUS" for each line "PID STATUS" of
# EXITS (a keeper's record of its runners) that is no clean end: status
# 0, 143 (the final SIGTERM), or 137 for a PID listed in KILLED (one per
# line: the SIGKILLs the suite sent).  Empty if every exit is accounted
# for; a signal the suite did not send (a segfault, an abort, an OOM
# kill) shows here.
unsent_kills() {
	[ -e "$1" ] || return 0
	awk -v killed=" $(cat "$2" 2>/dev/null | tr '\n' ' ') " '
	     $2 == 0 || $2 == 143 || ($2 == 137 && index(killed, " " $1 " ")) { next }
	     { printf "%s:%s ", $1, $2 }' "$1"
}

# tally_rcs DIR - the exit statuses the crash suites wrote, one file per
# process in DIR: sets acked (0), killed (137, SIGKILL), tempfail (75)
# and bad (" NAME:STATUS" for anything else).
tally_rcs() {
	acked=0 killed=0 tempfail=0 bad=
	for _tr_f in "$1"/*; do
		[ -e "$_tr_f" ] || continue
		case $(cat "$_tr_f") in
		0) acked=$((acked + 1)) ;;
		137) killed=$((killed + 1)) ;;
		75) tempfail=$((tempfail + 1)) ;;
		*) bad="$bad $(basename "$_tr_f"):$(cat "$_tr_f")" ;;
		esac
	done
}

# cycle_lines N FILE - FILE made N lines long by repeating its lines in
# order (for suites that need more mails than the Debian keyring has
# keys: a repeated key is a duplicate for the dedup index, which is
# work too).  False if FILE is empty.
cycle_lines() {
	[ -s "$2" ] || return 1
	awk -v n="$1" '{ l[NR] = $0 } END { for (i = 0; i < n; i++) print l[i % NR + 1] }' \
		"$2" >"$2.cycled" && mv "$2.cycled" "$2"
}

# pks_key_mails KEYS_TXT DIR ID [BALLAST_TXT] - one PKS incremental mail
# per line "FPR FILE" of KEYS_TXT (keysplit's or pgpgen's output), DIR/1,
# DIR/2, ..., each with Message-ID <ID-N@pks.example> and the key's
# fingerprint in DIR/N.fpr.  With BALLAST_TXT (more "FPR FILE" lines,
# used in turn), each mail carries that key too, after its own: real
# Debian keys give the crash suites real sizes, while the check follows
# the mail's own key.
pks_key_mails() {
	_pk_i=0
	_pk_nb=0
	[ -n "${4:-}" ] && _pk_nb=$(wc -l <"$4" | tr -d ' ')
	while read -r _pk_fpr _pk_file; do
		_pk_i=$((_pk_i + 1))
		{
			echo "From: pgp-public-keys@pks.example"
			echo "Subject: incremental"
			echo "Message-ID: <$3-$_pk_i@pks.example>"
			echo "X-KeyServer-Sent: pgp-public-keys@pks.example"
			echo
			cat "$_pk_file"
			[ "$_pk_nb" -gt 0 ] &&
				cat "$(sed -n "$(((_pk_i - 1) % _pk_nb + 1))s/^[^ ]* //p" "$4")"
		} >"$2/$_pk_i"
		echo "$_pk_fpr" >"$2/$_pk_i.fpr"
	done <"$1"
}

# unique_keys N DIR PREFIX - N keys that no other mail of the run carries
# (tests/tools/pgpgen.py: Ed25519, one self-signed user ID each, named
# PREFIX-1 ...), as DIR/1.asc ...; "FPR FILE" per key on stdout.  A suite
# that checks each acknowledged mail by its key needs this: with a key
# that repeats, another mail carrying it hides the loss.
unique_keys() {
	python3 "$TOP/tests/tools/pgpgen.py" unique --count "$1" --out "$2" \
		--prefix "$3"
}

# acked_ids RCDIR OUTDIR SED - "N QID" for every process whose status in
# RCDIR/N is 0, QID being each queue id its output OUTDIR/N names on a
# line that the sed -n script SED turns into the bare id.
acked_ids() {
	for _ai_f in "$1"/*; do
		[ "$(cat "$_ai_f")" = 0 ] || continue
		_ai_n=$(basename "$_ai_f")
		sed -n "$3" "$2/$_ai_n" | sed "s/^/$_ai_n /"
	done
}

# lost_ids ACKED LISTING STATES [DELETED] - the acknowledged entries that
# did not end well: "N QID: missing" or "N QID: state S" for each line
# "N QID" of ACKED whose entry is not in LISTING (queue list --all
# --json) in one of the comma-separated STATES, unless DELETED (queue
# ids, one per line) says the suite itself deleted it.  Empty if none.
lost_ids() {
	python3 - "$@" <<'EOF'
import json, sys
acked, listing, states = sys.argv[1], sys.argv[2], sys.argv[3].split(",")
deleted = set()
if len(sys.argv) > 4:
    deleted = set(l.strip() for l in open(sys.argv[4]) if l.strip())
state = {}
for line in open(listing):
    e = json.loads(line)
    state[e["id"]] = e["state"]
for line in open(acked):
    n, qid = line.split()
    if qid in deleted:
        continue
    if qid not in state:
        print("%s %s: missing" % (n, qid))
    elif state[qid] not in states:
        print("%s %s: state %s" % (n, qid, state[qid]))
EOF
}

# make_mail FILE SUBJECT [FROM] - a PKS-style mail to pgp-public-keys@
# bridge.test with a unique Message-ID and the alice fixture key as body.
make_mail() {
	_mm_id=$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')
	{
		echo "From: ${3:-pgp-public-keys@pks.example}"
		echo "To: pgp-public-keys@bridge.test"
		echo "Subject: $2"
		echo "Date: $(LC_ALL=C date -R)"
		echo "Message-ID: <$_mm_id@pks.example>"
		echo "X-KeyServer-Sent: ${3:-pgp-public-keys@pks.example}"
		echo "Precedence: list"
		echo "Content-Type: application/pgp-keys"
		echo
		cat "$TEST_DATA/keys/alice.asc"
	} >"$1"
}
