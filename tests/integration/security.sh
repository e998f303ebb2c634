# security.sh - the security promises of docs/SECURITY.md that the other
# tests do not already check, through the real binary:
#
#   1. no shell anywhere: no system()/popen()/exec*l*() or "/bin/sh" in
#      src/ and filters/, none imported by the binary, and a sendmail_cmd
#      full of shell syntax runs as plain words;
#   2. secret-key material is never stored (not a byte of it in any spool
#      file, Berkeley DB log and regions included) nor forwarded (not in
#      any outbound mail), whatever armor label or size it comes in;
#   3. a private spool (0700) gets 0600 files and 0700 directories; a
#      world-writable spool or configuration file is refused by the
#      filters (75) and the operator commands (78), creating nothing;
#   4. a crash in a filter exits 75 (before the commit), never by the
#      signal; the runner's watchdog exits 75.
# The group-shared spool (2770, 0660 files) and the filter running with
# the MTA pipe user's rights are checked with a real Exim in
# inbound_mta.sh (parts 1 and 5).
. "$(dirname "$0")/../lib.sh"
need_cmd gpg python3 nm || done_testing

PB=$TOP/${BUILD:-build}/pksbridge
fpr() {
	awk -v n="$1" '$1 == n { print $2 }' "$TEST_DATA/keys/fingerprints.txt"
}

# --- 1. no shell ------------------------------------------------------------
SHELL_RE='(^|[^_[:alnum:]])(system|popen|execl|execlp|execle)[[:space:]]*\(|"/bin/sh"|"sh",[[:space:]]*"-c"'
printf 'int f(void) { return system("x"); }\nchar *s = "/bin/sh";\n' >"$TEST_TMP/planted.c"
check_eq "1: the shell pattern finds a planted system() and /bin/sh (self-test)" \
	"$(grep -cE "$SHELL_RE" "$TEST_TMP/planted.c")" 2
check_eq "1: no system(), popen(), execl*() or \"/bin/sh\" in src/ and filters/" \
	"$(cd "$TOP" && grep -rnE --include="*.[ch]" "$SHELL_RE" src filters)" ""
check_eq "1: the binary imports none of system, popen, execl, execlp, execle" \
	"$(nm -D --undefined-only "$PB" | grep -E ' (system|popen|execl|execlp|execle)(@|$)')" ""

SP1=$TEST_TMP/s1
mkdir -m 700 "$SP1" "$TEST_TMP/cap"
capture_cmd "$TEST_TMP/cap.sh" "$TEST_TMP/cap"
echo "peer@pks.example" >"$TEST_TMP/mailsync"
# Every word a shell would act on; sendmail_cmd is split on blanks only.
cat >"$TEST_TMP/s1.conf" <<EOF
spool_dir: $SP1
keydb: gnupg:$TEST_TMP/ring1
mailsync_file: $TEST_TMP/mailsync
from_addr: pgp-public-keys@bridge.test
sendmail_cmd: $TEST_TMP/cap.sh \$(touch\${IFS}$TEST_TMP/pwned1) ;touch $TEST_TMP/pwned2 |x \`id\` >$TEST_TMP/pwned3
batch_window: 0s
log: stderr
EOF
# An outbound mail whose headers are shell syntax too.
{
	echo 'To: peer@pks.example'
	echo "From: \$(touch $TEST_TMP/pwned4)@bridge.test"
	echo "Subject: incremental \`touch $TEST_TMP/pwned5\`"
	echo
	cat "$TEST_DATA/keys/alice.asc"
} >"$TEST_TMP/out1"
check_rc "1: sendmail intake of a mail full of shell syntax: exit 0" 0 \
	sh -c "'$PB' -c '$TEST_TMP/s1.conf' sendmail -t -oi <'$TEST_TMP/out1'"
check_rc "1: the runner sends it through sendmail_cmd" 0 \
	"$PB" -c "$TEST_TMP/s1.conf" run --once
check_eq "1: ... which ran as plain words (argv, no shell; from_addr's -f, the peer after --)" \
	"$(tr '\n' ' ' <"$TEST_TMP/cap/args.0")" \
	"\$(touch\${IFS}$TEST_TMP/pwned1) ;touch $TEST_TMP/pwned2 |x \`id\` >$TEST_TMP/pwned3 -f pgp-public-keys@bridge.test -- peer@pks.example "
check_eq "1: ... and nothing of it was executed" \
	"$(ls "$TEST_TMP" | grep pwned)" ""

# --- 2. secret-key material is never stored or forwarded --------------------
SP2=$TEST_TMP/s2
mkdir -m 700 "$SP2"
cat >"$TEST_TMP/s2.conf" <<EOF
spool_dir: $SP2
keydb: gnupg:$TEST_TMP/ring2
mailsync_file: $TEST_TMP/mailsync
from_addr: pgp-public-keys@bridge.test
sendmail_cmd: $TEST_TMP/cap.sh -t -oi
batch_window: 0s
max_message_size: 64K
log: stderr
EOF
# The secret key's secret part (the last 24 bytes of its secret-key
# packet) in every form it could be stored in: binary, and base64 at
# each of the three alignments armor lines can give it.
python3 - "$TEST_DATA/keys/dave-secret.asc" "$TEST_TMP" <<'EOF'
import base64, os, sys
exec(open(os.path.join(os.environ["TOP"], "tests/lib/hostile.py")).read()
     .split("def main():")[0])
asc, out = sys.argv[1], sys.argv[2]
sec = dearmor(asc)
body = [b for t, h, b in packets(sec) if t == 5][0]
chunk = body[-24:]
open(out + "/secret.pat", "w").write("\n".join(
    [chunk.hex()] + [base64.b64encode(chunk[i:i + 18]).decode() for i in range(3)]) + "\n")
open(out + "/dave.bin", "wb").write(sec)
a = armor(sec).decode().splitlines()
hdr = "From: a@b.example\nSubject: ADD\nMessage-ID: <%s@secret.example>\n\n"
# 2: secret packets under a PUBLIC KEY BLOCK label, valid CRC
pub = ["-----BEGIN PGP PUBLIC KEY BLOCK-----"] + a[1:-1] + ["-----END PGP PUBLIC KEY BLOCK-----"]
open(out + "/sec2", "w").write(hdr % "s2" + "\n".join(pub) + "\n")
# 3: the same with a broken CRC
bad = [("=AAAA" if l != "=AAAA" else "=BBBB") if l.startswith("=") and len(l) == 5
       else l for l in pub]
open(out + "/sec3", "w").write(hdr % "s3" + "\n".join(bad) + "\n")
# 4: a PRIVATE KEY BLOCK at the top of a mail over max_message_size
open(out + "/sec4", "w").write(hdr % "s4" + open(asc).read() + "x" * 70000 + "\n")
EOF
# 1: the fixture mail, a private block beside dave's public key (an ADD,
# so dave's public key also goes out to the peer).
cp "$TEST_DATA/mails/15-private-key.eml" "$TEST_TMP/sec1"

# secret_in FILE... - the files (read as bytes) holding any form of the
# secret part, one per line; exit 1 if none.
secret_in() {
	python3 - "$TEST_TMP/secret.pat" "$@" <<'EOF'
import sys
pats = open(sys.argv[1]).read().split()
raw = [bytes.fromhex(pats[0])] + [p.encode() for p in pats[1:]]
hit = sorted({f for f in sys.argv[2:] for p in raw if p in open(f, "rb").read()})
print("\n".join(hit))
sys.exit(0 if hit else 1)
EOF
}
check "2: secret_in finds the secret part in the armored secret key (self-test)" \
	secret_in "$TEST_DATA/keys/dave-secret.asc"
check "2: ... and in its binary form (self-test)" secret_in "$TEST_TMP/dave.bin"

for n in 1 2 3 4; do
	check_rc "2: ingest of secret-key mail $n: exit 0" 0 \
		sh -c "'$PB' -c '$TEST_TMP/s2.conf' ingest <'$TEST_TMP/sec$n' 2>>'$TEST_TMP/s2.log'"
done
check_rc "2: sendmail intake of the secret key alone: exit 0" 0 \
	sh -c "{ echo 'To: peer@pks.example'; echo; cat '$TEST_DATA/keys/dave-secret.asc'; } |
		'$PB' -c '$TEST_TMP/s2.conf' sendmail -t -oi 2>>'$TEST_TMP/s2.log'"
check_rc "2: run --once" 0 sh -c "'$PB' -c '$TEST_TMP/s2.conf' run --once 2>>'$TEST_TMP/s2.log'"
"$PB" -c "$TEST_TMP/s2.conf" queue list --all --json >"$TEST_TMP/s2.json" 2>>"$TEST_TMP/s2.log"
check_eq "2: every secret-key piece is quarantined (four inbound, one outbound)" \
	"$(python3 -c 'import json,sys
q = [e for e in map(json.loads, open(sys.argv[1])) if e["state"] == "quarantined"]
print(len(q))' "$TEST_TMP/s2.json")" 5
check "2: dave's public key (beside the private block in mail 1) got through" \
	sh -c "gpg --homedir '$TEST_TMP/ring2' --with-colons --list-keys $(fpr dave) >/dev/null 2>&1"
: >"$TEST_TMP/s2.show"
for id in $(python3 -c 'import json,sys
for l in open(sys.argv[1]): print(json.loads(l)["id"])' "$TEST_TMP/s2.json"); do
	"$PB" -c "$TEST_TMP/s2.conf" queue show "$id" >>"$TEST_TMP/s2.show" 2>&1
	"$PB" -c "$TEST_TMP/s2.conf" queue show "$id" --json >>"$TEST_TMP/s2.show" 2>&1
done
check_eq "2: no spool file holds any of it (DB files, log, regions)" \
	"$(secret_in $(find "$SP2" -type f))" ""
check_eq "2: nor queue show, text or JSON, of any entry, nor a log line" \
	"$(secret_in "$TEST_TMP/s2.show" "$TEST_TMP/s2.log")" ""
check "2: ... nor does \"PRIVATE KEY\" appear in queue show" \
	sh -c "! grep -q 'PRIVATE KEY' '$TEST_TMP/s2.show'"
check_eq "2: dave's public key went out to the peer, in one more mail" \
	"$(ls "$TEST_TMP/cap" | grep -c '^mail')" 2
check_eq "2: no outbound mail holds any of the secret part" \
	"$(secret_in "$TEST_TMP"/cap/mail.*)" ""

# --- 3. permissions ----------------------------------------------------------
SP3=$TEST_TMP/s3
mkdir -m 700 "$SP3"
printf 'spool_dir: %s\nlog: stderr\n' "$SP3" >"$TEST_TMP/s3.conf"
check_rc "3: ingest into a private spool (0700), default keyring in it" 0 \
	sh -c "'$PB' -c '$TEST_TMP/s3.conf' ingest <'$TEST_DATA/mails/02-pks-incremental.eml' 2>/dev/null"
"$PB" -c "$TEST_TMP/s3.conf" run --once 2>/dev/null
check "3: ... the keys reached the default keyring (SPOOL/gnupg)" \
	sh -c "gpg --homedir '$SP3/gnupg' --with-colons --list-keys $(fpr alice) >/dev/null 2>&1"
check_eq "3: every file in a private spool is 0600" \
	"$(find "$SP3" -type f ! -perm 0600 ! -name 'S.*')" ""
check_eq "3: every directory is 0700" "$(find "$SP3" -type d ! -perm 0700)" ""
check_eq "3: nothing is open to group or others" "$(find "$SP3" -perm /go=rwx ! -type s)" ""

SP4=$TEST_TMP/s4
mkdir "$SP4" && chmod 0777 "$SP4"
printf 'spool_dir: %s\nlog: stderr\n' "$SP4" >"$TEST_TMP/s4.conf"
check_rc "3: ingest refuses a world-writable spool: 75" 75 \
	sh -c "'$PB' -c '$TEST_TMP/s4.conf' ingest <'$TEST_DATA/mails/02-pks-incremental.eml' 2>'$TEST_TMP/s4.err'"
check_grep "3: ... saying so" 'refusing a world-writable spool' "$TEST_TMP/s4.err"
check_rc "3: queue list refuses it too: 78" 78 "$PB" -c "$TEST_TMP/s4.conf" queue list
check_rc "3: so does run --once: 78" 78 "$PB" -c "$TEST_TMP/s4.conf" run --once
check_eq "3: nothing was created in it" "$(ls -A "$SP4")" ""

printf 'spool_dir: %s\nlog: stderr\n' "$SP3" >"$TEST_TMP/ww.conf"
chmod 0666 "$TEST_TMP/ww.conf"
check_rc "3: ingest refuses a world-writable configuration file: 75" 75 \
	sh -c "'$PB' -c '$TEST_TMP/ww.conf' ingest <'$TEST_DATA/mails/02-pks-incremental.eml' 2>'$TEST_TMP/ww.err'"
check_grep "3: ... saying so" 'refusing a world-writable configuration file' "$TEST_TMP/ww.err"
check_rc "3: the sendmail intake: 75" 75 \
	sh -c "'$PB' -c '$TEST_TMP/ww.conf' sendmail -t </dev/null 2>/dev/null"
check_rc "3: queue list: 78" 78 "$PB" -c "$TEST_TMP/ww.conf" queue list
check_rc "3: through \$PKSBRIDGE_CONF too: 78" 78 \
	env PKSBRIDGE_CONF="$TEST_TMP/ww.conf" "$PB" queue stats

# --- 4. crashes and watchdogs -----------------------------------------------
mkfifo "$TEST_TMP/fifo"
# crash SIGNAL - an ingest still reading its mail gets SIGNAL; prints its
# exit status.
crash() {
	"$PB" -c "$TEST_TMP/s3.conf" ingest <"$TEST_TMP/fifo" 2>"$TEST_TMP/crash.err" &
	_cp=$!
	exec 7>"$TEST_TMP/fifo"
	printf 'Subject: incremental\n\n' >&7
	sleep 0.3
	kill "-$1" "$_cp"
	exec 7>&-
	wait "$_cp"
	echo $?
}
check_eq "4: SIGSEGV in a filter before the commit: exit 75, not death by the signal" \
	"$(crash SEGV)" 75
check_grep "4: ... saying so on stderr" 'fatal signal 11' "$TEST_TMP/crash.err"
check_eq "4: SIGBUS: 75" "$(crash BUS)" 75
check_eq "4: SIGABRT: 75" "$(crash ABRT)" 75
spawn_daemon "$TEST_TMP/runner.log" "$PB" -c "$TEST_TMP/s3.conf" run
R=$SPAWNED_PID
wait_for "4: the runner starts" 10 test -p "$SP3/wakeup"
kill -ALRM "$R"
wait_until 5 _t_gone "$R"
wait "$R"
check_eq "4: the runner's watchdog (SIGALRM) makes it exit 75" "$?" 75
check_grep "4: ... saying why" 'watchdog' "$TEST_TMP/runner.log"
done_testing
