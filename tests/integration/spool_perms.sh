#!/bin/sh
# spool_perms.sh - a spool and the users around it (issue 21, operator
# items 1 and 2):
#
#   1. root checking the configuration ("pksbridge queue stats", as the
#      wiring guide says) in a fresh private spool owned by the pipe user
#      leaves every file it made to that owner: the pipe user's ingest
#      works afterwards (it used to exit 75 for ever on a root:root 0600
#      Berkeley DB environment);
#   2. a user outside the spool's owner and group gets exit 77
#      (EX_NOPERM) from an operator command and 75 from ingest, and a
#      message that names the spool, its owner and mode and the fix, not
#      an internal lock file;
#   3. a file inside that someone else owns (what root left before 1.)
#      is named with the chown that mends it, and exits 77 / 75 too.
. "$(dirname "$0")/../lib.sh"
need_root || done_testing
need_cmd runuser || done_testing

PB=$TEST_TMP/bin/pksbridge
# The checkout may be out of nobody's reach: a copy of the binary.
mkdir -p "$TEST_TMP/bin" && cp "$TOP/${BUILD:-build}/pksbridge" "$PB" &&
	chmod 755 "$TEST_TMP/bin" "$PB"
S=$TEST_TMP/spool
C=$TEST_TMP/pb.conf
mkdir -m 700 "$S" && chown nobody:nogroup "$S"
printf 'spool_dir: %s\nlog: stderr\nkeydb: gnupg:%s/gnupg\nmail_commands: no\n' \
	"$S" "$S" >"$C"
chmod 644 "$C"
cp "$TOP/contrib/samples/01-sks-incremental.eml" "$TEST_TMP/m1.eml"
chmod 644 "$TEST_TMP/m1.eml"

as() {	# as USER COMMAND... - run COMMAND as USER
	_as_u=$1
	shift
	runuser -u "$_as_u" -- "$@"
}
# not_owned DIR - the files under DIR that are not nobody's, one a line.
not_owned() {
	find "$1" ! -user nobody
}

# --- 1. root's check creates nothing of root's ----------------------------
check_rc "1: queue stats as root on a fresh spool owned by nobody: exit 0" 0 \
	"$PB" -c "$C" queue stats
check "1: ... it made the environment (the spool is not empty)" \
	test -n "$(ls -A "$S")"
check_eq "1: ... and every file in the spool is nobody's" "$(not_owned "$S")" ""
check_rc "1: nobody's ingest works afterwards (exit 0)" 0 \
	as nobody "$PB" -c "$C" ingest <"$TEST_TMP/m1.eml"
check_rc "1: queue list --all as root still works (exit 0)" 0 \
	"$PB" -c "$C" queue list --all
check_eq "1: ... and the spool is still all nobody's" "$(not_owned "$S")" ""

# --- 2. a user outside the spool ------------------------------------------
as daemon "$PB" -c "$C" queue stats >"$TEST_TMP/2.out" 2>&1
check_eq "2: queue stats as daemon (not the owner, not in its group): exit 77" \
	"$?" 77
check_grep "2: ... names the spool, its owner and mode" \
	"spool_dir $S: Permission denied to daemon: the spool belongs to nobody:nogroup, mode 0700" \
	"$TEST_TMP/2.out"
check_grep "2: ... and the fix" "run as nobody or as a member of group nogroup" \
	"$TEST_TMP/2.out"
check "2: ... not an internal file" sh -c "! grep -E 'spool\\.(heal|open|users)|__db' '$TEST_TMP/2.out'"
as daemon "$PB" -c "$C" ingest <"$TEST_TMP/m1.eml" >"$TEST_TMP/2i.out" 2>&1
check_eq "2: ingest as daemon: exit 75 (the MTA retries)" "$?" 75
check_grep "2: ... with the same message" "Permission denied to daemon: the spool belongs to nobody:nogroup" \
	"$TEST_TMP/2i.out"

# --- 3. a file inside that is not the owner's -----------------------------
rm -rf "$S" && mkdir -m 700 "$S" && chown nobody:nogroup "$S"
# What a root check left before: the environment, root:root 0600.
(umask 077 && : >"$S/spool.heal")
check_eq "3: (set-up) a root:root file in nobody's spool" \
	"$(stat -c %U:%G "$S/spool.heal")" root:root
as nobody "$PB" -c "$C" queue stats >"$TEST_TMP/3.out" 2>&1
check_eq "3: queue stats as nobody: exit 77" "$?" 77
check_grep "3: ... names the file, its owner and the chown that mends it" \
	"spool_dir $S: Permission denied to nobody: its files must belong to the spool's owner nobody:nogroup, and spool.heal belongs to root:root; as root: chown -R nobody:nogroup $S" \
	"$TEST_TMP/3.out"
as nobody "$PB" -c "$C" ingest <"$TEST_TMP/m1.eml" >"$TEST_TMP/3i.out" 2>&1
check_eq "3: nobody's ingest: exit 75" "$?" 75
check_grep "3: ... with the same message" "chown -R nobody:nogroup $S" "$TEST_TMP/3i.out"
chown -R nobody:nogroup "$S"
check_rc "3: after the chown, nobody's ingest works (exit 0)" 0 \
	as nobody "$PB" -c "$C" ingest <"$TEST_TMP/m1.eml"

done_testing
