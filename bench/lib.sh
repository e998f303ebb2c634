# bench/lib.sh - shared by the scenario scripts bench/s*.sh (bench/run
# runs them).  Source it first thing:
#
#     . "$(dirname "$0")/lib.sh"
#
# It builds on the test helpers, so a benchmark cleans up the way a test
# does: tests/lib.sh gives TEST_TMP (removed at exit), spawn_daemon /
# stop_daemon, free_port, wait_until, and kills every process it started
# when the script ends, however it ends; tests/lib/sks.sh runs the
# throwaway SKS; tests/lib/sks_it.sh writes PKS mails (pks_mail).
#
#   PB, SKS_ADD_MAIL, RUNSTAT, KEYSPLIT, DRIVE   the programs measured and
#                     the measuring tools
#   RAW               where the scenario leaves its raw figures
#                     ($BENCH_RAW/<scenario>, read by bench/report.py)
#   bench_keys        print the "FPR FILE" list of the 905 Debian keys,
#                     split once per bench run (BENCH_KEYS) or here
#   bench_sks NAME [SENDMAIL_CMD]   a fresh SKS in TEST_TMP/NAME on a
#                     free port: sets SKS_DIR, SKS_PORT, SKS_SPOOL
#   bench_pb_conf FILE SPOOL KEYDB [LINE...]   a pksbridge.conf
#   bench_runner CONF LOG   "pksbridge run" as in production; waits until
#                     it listens for wake-ups; sets RUNNER_PID
#   bench_pending CONF   entries the runner still has to deliver
#   proc_cpu PID      CPU seconds (user + system) of PID and of the children
#                     it has waited for, from /proc
#   rand_pause MAX    sleep a uniformly random 0..MAX seconds
#   say TEXT          a progress line
#
# BENCH_QUICK=1 makes every scenario small (a smoke run, minutes, whose
# figures mean little); the scenario scripts document their own knobs.

TOP=${TOP:-$(cd "$(dirname "$0")/.." && pwd)}
BUILD=${BUILD:-build}
export TOP BUILD
. "$TOP/tests/lib.sh"
. "$TOP/tests/lib/sks.sh"
. "$TOP/tests/lib/sks_it.sh"

PB=$TOP/$BUILD/pksbridge
RUNSTAT=$TOP/$BUILD/tests/tools/runstat
KEYSPLIT=$TOP/$BUILD/tests/tools/keysplit
SMTPSINK_BIN=$TOP/$BUILD/tests/tools/smtpsink
DRIVE="python3 $TOP/bench/drive.py"
SKS_ADD_MAIL=${SKS_ADD_MAIL:-/usr/lib/sks/sks_add_mail}
BENCH_QUICK=${BENCH_QUICK:-0}
BENCH_RAW=${BENCH_RAW:-$TOP/bench/results/raw}
RAW=$BENCH_RAW/$TEST_NAME
rm -rf "$RAW"
mkdir -p "$RAW"

for _b_f in "$PB" "$RUNSTAT" "$KEYSPLIT" "$SMTPSINK_BIN" "$SKS_ADD_MAIL"; do
	if [ ! -x "$_b_f" ]; then
		not_ok "missing $_b_f (make test-bins; apt-get install sks)"
		done_testing
	fi
done
case "$TEST_TMP" in
*'#'*) not_ok "no '#' in $TEST_TMP (SKS reads it as a comment)"; done_testing ;;
esac

say() {
	echo "# $TEST_NAME: $*"
}

bench_keys() {
	if [ -n "${BENCH_KEYS:-}" ] && [ -s "$BENCH_KEYS/list" ]; then
		cat "$BENCH_KEYS/list"
		return
	fi
	if [ ! -s "$TEST_TMP/keys/list" ]; then
		mkdir -p "$TEST_TMP/keys"
		"$KEYSPLIT" "$DEBKEYS_RING" "$TEST_TMP/keys" >"$TEST_TMP/keys/list" ||
			return 1
	fi
	cat "$TEST_TMP/keys/list"
}

bench_sks() {
	SKS_DIR=$TEST_TMP/$1
	_bs_n=0
	while :; do
		SKS_PORT=$(free_port) || return 1
		# SKS also binds the recon port, PORT + 1.
		port_in_use $((SKS_PORT + 1)) || break
		_bs_n=$((_bs_n + 1))
		[ $_bs_n -lt 20 ] || return 1
	done
	sks_start "$SKS_DIR" "$SKS_PORT" "${2:-cat >/dev/null}" || return 1
	SKS_SPOOL=$SKS_DIR/var/spool/sks
	# sks_start runs "sks db" as a plain background job; the test
	# library's exit hook finds it by its command line (TEST_TMP).
}

bench_pb_conf() {
	_bc_file=$1
	_bc_spool=$2
	_bc_keydb=$3
	shift 3
	mkdir -p "$_bc_spool" && chmod 700 "$_bc_spool"
	printf '%s\n' "# written by bench/lib.sh" "spool_dir: $_bc_spool" \
		"keydb: $_bc_keydb" "log: stderr" "mailsync_file: $TEST_TMP/mailsync" \
		"from_addr: pgp-public-keys@bridge.test" "$@" >"$_bc_file"
	[ -e "$TEST_TMP/mailsync" ] || : >"$TEST_TMP/mailsync"
}

bench_runner() {
	spawn_daemon "$2" "$PB" -c "$1" run
	RUNNER_PID=$SPAWNED_PID
	_br_spool=$(sed -n 's/^spool_dir: //p' "$1")
	wait_until 20 test -p "$_br_spool/wakeup"
}

bench_pending() {
	"$PB" -c "$1" queue list --json | wc -l
}

rand_pause() {
	_rp=$(od -An -N2 -tu2 /dev/urandom | tr -d ' ')
	_rp=$(echo "$_rp $1" | awk '{ printf "%.3f", $1 / 65536 * $2 }')
	sleep "$_rp"
}

proc_cpu() {
	# Fields 14-17 of /proc/PID/stat, after the ")" that ends the name.
	sed 's/.*) //' "/proc/$1/stat" 2>/dev/null |
		awk -v hz="$(getconf CLK_TCK)" '{ printf "%.2f", ($12 + $13 + $14 + $15) / hz }'
}
