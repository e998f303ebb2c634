#!/bin/sh
# tests/integration/policy_cli.sh - "pksbridge policy check|filter" on
# attack shapes made by tests/tools/pgpgen.py, on real mails and on
# Debian's keyring, with what it keeps checked by gpg: a no-modify flood
# leaves no third-party certification, an open one at most the cap, a
# forged user ID goes, a blocklisted key leaves only its revocation, a
# delta is judged against a stored key; exit codes as SPEC says.
. "$(dirname "$0")/../lib.sh"

PB=${PKSBRIDGE:-$TOP/${BUILD:-build}/pksbridge}
[ -x "$PB" ] || { not_ok "no $PB (make first)"; done_testing; }
need_cmd gpg python3 || done_testing
GEN="python3 $TOP/tests/tools/pgpgen.py"
G=$TEST_TMP/gnupg
mkdir -m 700 "$G"
conf=$TEST_TMP/pb.conf
printf 'log: stderr\n' >"$conf"

# sigs FILE - "GOOD BAD UIDS" as gpg --show-keys --with-sig-check sees FILE.
sigs() {
	GNUPGHOME=$G gpg --batch --with-colons --with-sig-check --show-keys "$1" \
		2>/dev/null | awk -F: '
		$1 == "uid" { u++ }
		($1 == "sig" || $1 == "rev") && $2 == "!" { g++ }
		($1 == "sig" || $1 == "rev") && $2 == "-" { b++ }
		END { printf "%d %d %d\n", g, b, u }'
}
# certs FILE - third-party certifications (class 10) in FILE.
certs() {
	gpg --list-packets "$1" 2>/dev/null | grep -c 'sigclass 0x10'
}

$GEN shape flood --seed nomod --certs 2000 --no-modify --out "$TEST_TMP/nomod.asc" 2>/dev/null
$GEN shape flood --seed open --certs 2000 --out "$TEST_TMP/open.asc" 2>/dev/null
$GEN shape forged-uid --out "$TEST_TMP/forged.asc" 2>/dev/null
$GEN shape revoked --reason 1 --binary --out "$TEST_TMP/rev.gpg" 2>/dev/null
fpr_rev=$($GEN shape revoked --reason 1 --binary 2>&1 >/dev/null)

# A no-modify flood: nothing of the 2000 passes.
"$PB" -c "$conf" policy check "$TEST_TMP/nomod.asc" >"$TEST_TMP/c1" 2>&1
check_eq "check: exit 0" "$?" 0
check_grep "check: the flood's certifications are third_party" \
	"policy=kept:3,third_party:2000" "$TEST_TMP/c1"
"$PB" -c "$conf" policy filter "$TEST_TMP/nomod.asc" >"$TEST_TMP/f1.asc" 2>"$TEST_TMP/f1.err"
check_eq "filter: exit 0" "$?" 0
check_eq "filter: gpg sees no certification left" "$(certs "$TEST_TMP/f1.asc")" 0
check_eq "filter: gpg calls the self-signature good" "$(sigs "$TEST_TMP/f1.asc")" "1 0 1"
check_grep "filter: counts on stderr" "1 keys in, 1 out" "$TEST_TMP/f1.err"

# An open flood: the cap.
"$PB" -c "$conf" policy filter "$TEST_TMP/open.asc" >"$TEST_TMP/f2.asc" 2>/dev/null
check_eq "open flood: gpg sees max_certs_per_uid (100) certifications" \
	"$(certs "$TEST_TMP/f2.asc")" 100
printf 'log: stderr\nthird_party_certs: none\n' >"$TEST_TMP/none.conf"
"$PB" -c "$TEST_TMP/none.conf" policy filter "$TEST_TMP/open.asc" >"$TEST_TMP/f3.asc" 2>/dev/null
check_eq "third_party_certs: none: no certification" "$(certs "$TEST_TMP/f3.asc")" 0
printf 'log: stderr\nmax_certs_per_uid: 7\nthird_party_certs: all\n' >"$TEST_TMP/seven.conf"
"$PB" -c "$TEST_TMP/seven.conf" policy filter "$TEST_TMP/nomod.asc" >"$TEST_TMP/f4.asc" 2>/dev/null
check_eq "third_party_certs: all, max_certs_per_uid: 7: seven" "$(certs "$TEST_TMP/f4.asc")" 7

# A forged user ID: gpg sees one user ID and no bad signature.
"$PB" -c "$conf" policy filter "$TEST_TMP/forged.asc" >"$TEST_TMP/f5.asc" 2>/dev/null
check_eq "forged user ID: one user ID left, all good" "$(sigs "$TEST_TMP/f5.asc")" "1 0 1"

# JSON.
"$PB" -c "$conf" policy check --json "$TEST_TMP/open.asc" >"$TEST_TMP/j1" 2>&1
check "check --json: one object with the policy counts" python3 -c '
import json, sys
o = [json.loads(l) for l in open(sys.argv[1])]
assert len(o) == 1, o
p = o[0]["policy"]
assert p["verdict"] == "kept" and p["kept"] == 103, p
assert p["dropped"] == {"cap": 1900}, p
assert len(o[0]["fingerprint"]) == 40
' "$TEST_TMP/j1"

# The blocklist: only the revocation passes.
printf '# test\n%s\n' "$fpr_rev" >"$TEST_TMP/block.list"
printf 'log: stderr\nblocklist_file: %s\n' "$TEST_TMP/block.list" >"$TEST_TMP/bl.conf"
"$PB" -c "$TEST_TMP/bl.conf" policy check "$TEST_TMP/rev.gpg" >"$TEST_TMP/c2" 2>&1
check_grep "blocklist_file: the key is blocked" "verdict: blocked" "$TEST_TMP/c2"
"$PB" -c "$TEST_TMP/bl.conf" policy filter "$TEST_TMP/rev.gpg" >"$TEST_TMP/f6.asc" 2>/dev/null
check_eq "blocked: gpg sees the revocation, no user ID" "$(sigs "$TEST_TMP/f6.asc")" "1 0 0"
printf 'log: stderr\nblocklist_file: %s\n' "$TEST_TMP/nonexistent" >"$TEST_TMP/bad.conf"
check_rc "a blocklist_file that cannot be read: exit 78" 78 \
	"$PB" -c "$TEST_TMP/bad.conf" policy check "$TEST_TMP/rev.gpg"

# A delta against the stored key: the no-modify flag is in the stored
# self-signature only.
python3 - "$TOP/tests/tools" "$TEST_TMP" <<'EOF'
import sys
sys.path.insert(0, sys.argv[1])
import pgpgen as g
key, data = g.shape_flood("delta", 50, True)
p = g.split_packets(data)
stored = g.packet(6, p[0][1]) + g.packet(13, p[1][1]) + g.packet(2, p[2][1])
delta = g.packet(6, p[0][1]) + g.packet(13, p[1][1]) + b"".join(
    g.packet(2, b) for _, b in p[3:])
open(sys.argv[2] + "/stored.gpg", "wb").write(stored)
open(sys.argv[2] + "/delta.gpg", "wb").write(delta)
EOF
"$PB" -c "$conf" policy check "$TEST_TMP/delta.gpg" >"$TEST_TMP/c3" 2>&1
check_grep "a delta alone binds nothing" "verdict: empty" "$TEST_TMP/c3"
"$PB" -c "$conf" policy check --stored "$TEST_TMP/stored.gpg" "$TEST_TMP/delta.gpg" >"$TEST_TMP/c4" 2>&1
check_grep "the delta against the stored no-modify key: certifications refused" \
	"policy=kept:0,stored:2,third_party:50" "$TEST_TMP/c4"

# A mail, as ingest would parse it.
"$PB" -c "$conf" policy filter "$TEST_DATA/mails/07-multipart-mixed.eml" >"$TEST_TMP/f7.asc" 2>/dev/null
check_eq "a MIME mail: its key passes, gpg calls it good" \
	"$(sigs "$TEST_TMP/f7.asc" | cut -d' ' -f2)" 0
check_grep "a MIME mail: a key block out" "BEGIN PGP PUBLIC KEY BLOCK" "$TEST_TMP/f7.asc"

# Exit codes.
check_rc "no key in the input: 65" 65 "$PB" -c "$conf" policy check "$TEST_DATA/mails/13-no-key.eml"
check_rc "no such file: 66" 66 "$PB" -c "$conf" policy check "$TEST_TMP/nonexistent"
check_rc "no subcommand: 64" 64 "$PB" -c "$conf" policy
check_rc "unknown subcommand: 64" 64 "$PB" -c "$conf" policy judge
check_rc "unknown option: 64" 64 "$PB" -c "$conf" policy check --fast
printf 'third_party_certs: some\n' >"$TEST_TMP/wrong.conf"
check_rc "a bad third_party_certs: 78" 78 "$PB" -c "$TEST_TMP/wrong.conf" policy check "$TEST_TMP/rev.gpg"
check "stdin works, reading -" sh -c "'$PB' -c '$conf' policy check - <'$TEST_TMP/rev.gpg' | grep -q 'verdict: kept'"

# Debian's keyring, filtered whole: every key comes out, and gpg finds no
# bad signature in what does.
if [ -r /usr/share/keyrings/debian-keyring.gpg ]; then
	"$PB" -c "$conf" policy filter /usr/share/keyrings/debian-keyring.gpg \
		>"$TEST_TMP/debian.asc" 2>"$TEST_TMP/debian.err"
	check_grep "debian keyring: every key out" \
		"^policy filter: ([0-9]+) keys in, \\1 out" "$TEST_TMP/debian.err"
	check_eq "debian keyring: gpg finds no bad signature in the output" \
		"$(sigs "$TEST_TMP/debian.asc" | cut -d' ' -f2)" 0
else
	not_ok "debian keyring: /usr/share/keyrings/debian-keyring.gpg missing (apt-get install debian-keyring)"
fi
done_testing
