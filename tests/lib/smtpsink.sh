# tests/lib/smtpsink.sh - the smtpsink test SMTP server from sh.
#
# Source after tests/lib.sh.  smtpsink (tests/tools/smtpsink.c) is a real
# SMTP server on 127.0.0.1 that stores what it accepts and misbehaves as
# a script file tells it; see the head of that file for the directives.
#
#   smtpsink_start DIR [PORT]   start a sink storing into DIR (created)
#                               with script DIR/script, in its own process
#                               group (killed at exit like every
#                               spawn_daemon); PORT 0 or omitted: any free
#                               port.  Waits until it listens; sets
#                               SMTPSINK_PORT and SMTPSINK_PID.  Returns 1
#                               (with a not_ok) if it did not start.
#   smtpsink_script DIR LINE... replace DIR/script with these lines; the
#                               next connection obeys them
#   smtpsink_count DIR          number of messages stored in DIR
#   smtpsink_stop               stop the sink started last
#
# Messages are DIR/msg.N, envelopes DIR/msg.N.env (HELO/EHLO, MAIL FROM,
# RCPT TO lines, PIPELINED yes|no).

SMTPSINK_BIN=${SMTPSINK_BIN:-$TOP/${BUILD:-build}/tests/tools/smtpsink}
SMTPSINK_PORT=
SMTPSINK_PID=

# _ss_listening DIR - true once the sink in DIR said where it listens.
_ss_listening() {
	grep -q '^listening [0-9][0-9]*$' "$1/sink.log"
}

smtpsink_start() {
	_ss_dir=$1
	_ss_port=${2:-0}
	mkdir -p "$_ss_dir"
	[ -e "$_ss_dir/script" ] || : >"$_ss_dir/script"
	if [ ! -x "$SMTPSINK_BIN" ]; then
		not_ok "smtpsink is built" "missing $SMTPSINK_BIN (make test-bins)"
		return 1
	fi
	: >"$_ss_dir/sink.log"
	spawn_daemon "$_ss_dir/sink.log" "$SMTPSINK_BIN" -p "$_ss_port" \
		-d "$_ss_dir" -s "$_ss_dir/script"
	SMTPSINK_PID=$SPAWNED_PID
	if ! wait_until 10 _ss_listening "$_ss_dir"; then
		not_ok "smtpsink starts" "$(cat "$_ss_dir/sink.log")"
		return 1
	fi
	SMTPSINK_PORT=$(sed -n 's/^listening \([0-9][0-9]*\)$/\1/p' \
		"$_ss_dir/sink.log" | head -n 1)
}

smtpsink_script() {
	_ss_dir=$1
	shift
	printf '%s\n' "$@" >"$_ss_dir/script.tmp" && \
		mv "$_ss_dir/script.tmp" "$_ss_dir/script"
}

smtpsink_count() {
	_ss_n=0
	for _ss_f in "$1"/msg.*; do
		case "$_ss_f" in
		*.env | *'msg.*') ;;
		*) _ss_n=$((_ss_n + 1)) ;;
		esac
	done
	echo "$_ss_n"
}

smtpsink_stop() {
	[ -n "$SMTPSINK_PID" ] && stop_daemon "$SMTPSINK_PID"
	SMTPSINK_PID=
}
