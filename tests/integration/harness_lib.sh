#!/bin/sh
# tests/integration/harness_lib.sh - tests tests/lib.sh itself: runs small
# scripts that source it and checks what they print, their exit status,
# and that no process they started survives them -- after success, after a
# failure that skips done_testing, and after SIGTERM.  Their output is kept
# in files: their "not ok" lines are expected and must not reach tests/run.
. "$(dirname "$0")/../lib.sh"

# A sleep length no other process on the machine will use, so that we can
# find the inner scripts' sleeps in /proc.
secs=7$$
export secs

# sleeps_alive - the pids of this test's sleeps still running.
sleeps_alive() {
	grep -l -a -x -e "sleep.$secs." /proc/[0-9]*/cmdline 2>/dev/null |
		sed 's|^/proc/||; s|/cmdline$||' | while read -r p; do
		_t_gone "$p" || echo "$p"
	done
}

# inner NAME BODY - write an inner test script; BODY runs after lib.sh.
inner() {
	{
		echo ". \"\$TOP/tests/lib.sh\""
		cat
	} >"$TEST_TMP/$1.sh"
}

# --- result helpers -----------------------------------------------------------
inner helpers <<'EOF'
ok "plain ok"
not_ok "plain not ok" "a detail"
check "check true" true
check "check false" sh -c 'echo some output; exit 3'
check_rc "check_rc 75" 75 sh -c 'exit 75'
check_rc "check_rc wrong" 75 true
check_eq "check_eq same" abc abc
check_eq "check_eq differ" abc abd
echo hello >"$TEST_TMP/f"
check_grep "check_grep match" '^hel+o$' "$TEST_TMP/f"
check_grep "check_grep miss" '^bye$' "$TEST_TMP/f"
wait_for "wait_for succeeds" 2 test -e "$TEST_TMP/f"
start=$(date +%s)
wait_for "wait_for times out" 1 false
echo "# waited $(($(date +%s) - start))s"
need_cmd sh no-such-command-pb
done_testing
EOF
sh "$TEST_TMP/helpers.sh" >"$TEST_TMP/helpers.out" 2>&1
check_eq "a script with failures exits 1" "$?" 1
grep -E '^(ok|not ok) ' "$TEST_TMP/helpers.out" >"$TEST_TMP/helpers.got"
cat >"$TEST_TMP/helpers.want" <<'EOF'
ok - helpers: plain ok
not ok - helpers: plain not ok
ok - helpers: check true
not ok - helpers: check false
ok - helpers: check_rc 75
not ok - helpers: check_rc wrong
ok - helpers: check_eq same
not ok - helpers: check_eq differ
ok - helpers: check_grep match
not ok - helpers: check_grep miss
ok - helpers: wait_for succeeds
not ok - helpers: wait_for times out
not ok - helpers: required command no-such-command-pb is not installed
EOF
check "result lines are exactly as expected" \
	diff "$TEST_TMP/helpers.want" "$TEST_TMP/helpers.got"
check_grep "check shows the failing command's output" '^#   some output$' \
	"$TEST_TMP/helpers.out"
check_grep "check shows the exit status" '^#   exit status: 3$' \
	"$TEST_TMP/helpers.out"
check_grep "check_eq shows got and want" "^#   want: 'abd'\$" "$TEST_TMP/helpers.out"
check_grep "wait_for gives up after its timeout" '^# waited [12]s$' \
	"$TEST_TMP/helpers.out"

inner allgood <<'EOF'
check "fine" true
done_testing
EOF
check "a script whose checks all pass exits 0" sh "$TEST_TMP/allgood.sh"

inner nochecks <<'EOF'
done_testing
EOF
sh "$TEST_TMP/nochecks.sh" >"$TEST_TMP/nochecks.out" 2>&1
check_eq "a script that checks nothing fails" "$?" 1
check_grep "... saying so" '^not ok - nochecks: no checks ran$' "$TEST_TMP/nochecks.out"

inner typo <<'EOF'
check_eq "a misspelt variable" "$no_such_variable" ""
done_testing
EOF
sh "$TEST_TMP/typo.sh" >"$TEST_TMP/typo.out" 2>&1
check_eq "a script using an unset variable fails" "$?" 1
check_grep "... reported as ending before done_testing" \
	'^not ok - typo: script ended before done_testing' "$TEST_TMP/typo.out"

# --- ports -------------------------------------------------------------------
p=$(free_port)
check "free_port prints a port in 20000-31999" \
	test "$p" -ge 20000 -a "$p" -le 31999
check_rc "... that no socket uses" 1 port_in_use "$p"

# --- cleanup -------------------------------------------------------------------
# The processes an inner script leaves: a daemon with a child (its process
# group), a script named by path under TEST_TMP that has a child (found by
# command line, its child by descent), and the same double-forked so that
# init adopts it.
inner spawner <<'EOF'
spawn_daemon "$TEST_TMP/d.log" sh -c 'sleep $secs & sleep $secs'
printf '#!/bin/sh\nsleep %s\n' "$secs" >"$TEST_TMP/bin/linger"
chmod 755 "$TEST_TMP/bin/linger"
"$TEST_TMP/bin/linger" &
("$TEST_TMP/bin/linger" &)
echo "$TEST_TMP" >"$OUT/tmpdir"
wait_until 10 sh -c "[ \$(grep -l -a -x -e 'sleep.$secs.' /proc/[0-9]*/cmdline 2>/dev/null | wc -l) -ge 4 ]"
[ $? -eq 0 ] && echo started >"$OUT/started"
case "$MODE" in
fail) not_ok "deliberate failure"; exit 1 ;;
signal) wait ;;	# a trapped signal interrupts wait, not a foreground sleep
ok) ok "fine"; done_testing ;;
esac
EOF
OUT=$TEST_TMP
export OUT

for MODE in ok fail signal; do
	export MODE
	rm -f "$TEST_TMP/started"
	if [ "$MODE" = signal ]; then
		sh "$TEST_TMP/spawner.sh" >"$TEST_TMP/spawner.out" 2>&1 &
		pid=$!
		wait_until 15 test -e "$TEST_TMP/started"
		kill -TERM "$pid"
		wait "$pid"
		rc=$?
		want=1
	else
		sh "$TEST_TMP/spawner.sh" >"$TEST_TMP/spawner.out" 2>&1
		rc=$?
		want=0
		[ "$MODE" = fail ] && want=1
	fi
	check "$MODE: the inner script started its processes" \
		test -e "$TEST_TMP/started"
	check_eq "$MODE: the inner script exits $want" "$rc" "$want"
	check_eq "$MODE: none of its processes is left" "$(sleeps_alive)" ""
	check "$MODE: its TEST_TMP is removed" test ! -e "$(cat "$TEST_TMP/tmpdir")"
	# Should lib.sh fail at this, do not leave its failure running.
	kill $(sleeps_alive) 2>/dev/null
done
check_grep "fail: the early exit is reported" \
	'^not ok - spawner: script ended before done_testing' "$TEST_TMP/spawner.out"
done_testing
