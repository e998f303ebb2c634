# hostile_ingest.sh - hostile mails through the real "pksbridge ingest",
# each into a spool of its own (so dedup never hides a key), then
# "run --once" into a GnuPG keyring.  The mails come from
# tests/lib/hostile.py.  For every one: exit 0, bounded time and memory,
# the good keys of the mail delivered (into the keyring), the bad piece
# quarantined with a precise reason, and `queue list --all --json` valid
# JSON in valid UTF-8.  Plus: every log line stays one line, and CR/LF
# hidden in encoded words never reaches outbound mail headers.
#
# The parsers' own unit tests cover the same ground at the function level
# (test_mailparse: deep_hostile, many_parts, huge_header_lines,
# nul_and_invalid_utf8, walk_cases; test_pgp: hostile lengths, truncated
# everywhere, limits, uid sanitizing; test_armor: broken blocks, size
# limit, linear time; test_inbound: broken CRC beside a good key, too
# large, secret key never stored); this is the same through the binary.
. "$(dirname "$0")/../lib.sh"
need_cmd gpg python3 || done_testing

PB=$TOP/${BUILD:-build}/pksbridge
RUNSTAT=$TOP/${BUILD:-build}/tests/tools/runstat
HM=$TEST_TMP/mails
mkdir -p "$HM" "$TEST_TMP/cap"
if ! python3 "$TOP/tests/lib/hostile.py" "$TEST_DATA/keys" "$HM"; then
	not_ok "tests/lib/hostile.py writes the mails"
	done_testing
fi
fpr() {
	awk -v n="$1" '$1 == n { print $2 }' "$TEST_DATA/keys/fingerprints.txt"
}
# The outbound mail capture: each mail and its arguments, numbered.
capture_cmd "$TEST_TMP/cap.sh" "$TEST_TMP/cap"
echo "peer@pks.example" >"$TEST_TMP/mailsync"

# conf NAME - a spool, keyring and configuration of its own.
conf() {
	mkdir -m 700 -p "$TEST_TMP/$1/spool"
	cat >"$TEST_TMP/$1/pb.conf" <<EOF
spool_dir: $TEST_TMP/$1/spool
keydb: gnupg:$TEST_TMP/$1/ring
max_message_size: 32M
mailsync_file: $TEST_TMP/mailsync
from_addr: pgp-public-keys@bridge.test
sendmail_cmd: $TEST_TMP/cap.sh -t -oi
batch_window: 0s
log: stderr
EOF
	echo "$TEST_TMP/$1/pb.conf"
}

# case NAME - ingest NAME.eml (under runstat) and run --once; leaves
# NAME/stat ("WALL_US CPU_US MAXRSS_KB STATUS"), NAME/log, NAME/all.json.
case_run() {
	_c=$(conf "$1")
	"$RUNSTAT" -i "$HM/$1.eml" "$PB" -c "$_c" ingest \
		>"$TEST_TMP/$1/stat" 2>"$TEST_TMP/$1/log"
	"$PB" -c "$_c" run --once 2>>"$TEST_TMP/$1/log"
	"$PB" -c "$_c" queue list --all --json >"$TEST_TMP/$1/all.json"
}

# expect NAME "KEY..." [REGEX] - NAME exited 0 within 10 s and 200 MB;
# every KEY (alice, bob, carol) is in a done entry and in NAME's keyring;
# the JSON listing is valid; with REGEX, a quarantined entry's reason
# matches it, without, nothing is quarantined.
expect() {
	python3 - "$TEST_TMP/$1" "$2" "${3:-}" \
		"$(fpr alice) $(fpr bob) $(fpr carol)" <<'EOF'
import json, re, subprocess, sys
d, want, rx, fprs = sys.argv[1], sys.argv[2].split(), sys.argv[3], sys.argv[4].split()
names = dict(zip(("alice", "bob", "carol"), fprs))
probs = []
wall, cpu, rss, st = open(d + "/stat").read().split()
if st != "0":
    probs.append("ingest exit status %s" % st)
if int(wall) > 10_000_000:
    probs.append("ingest took %.1f s" % (int(wall) / 1e6))
if int(rss) > 200 * 1024:
    probs.append("ingest peak RSS %d KB" % int(rss))
raw = open(d + "/all.json", "rb").read()
try:
    entries = [json.loads(l) for l in raw.decode("utf-8").splitlines()]
except ValueError as e:
    entries = []
    probs.append("queue list --all --json is not valid UTF-8 JSON: %s" % e)
done = {k["fingerprint"] for e in entries if e["state"] == "done" for k in e["keys"]}
ring = subprocess.run(["gpg", "--homedir", d + "/ring", "--with-colons",
                       "--list-keys"], capture_output=True, text=True).stdout
for w in want:
    if names[w] not in done:
        probs.append("%s not in a done entry" % w)
    if ":%s:" % names[w] not in ring:
        probs.append("%s not in the keyring" % w)
q = [e["last_error"] or "" for e in entries if e["state"] == "quarantined"]
if rx and not any(re.search(rx, r) for r in q):
    probs.append("no quarantined entry matching /%s/ (quarantined: %s)" % (rx, q))
if not rx and q:
    probs.append("unexpected quarantine: %s" % q)
if any(e["state"] in ("ready", "deferred", "held", "failed") for e in entries):
    probs.append("entries pending or failed: %s" %
                 [(e["id"], e["state"], e["last_error"]) for e in entries])
for p in probs:
    print(p)
sys.exit(1 if probs else 0)
EOF
}

# one_line_logs NAME - every line NAME's processes logged is one log line.
one_line_logs() {
	awk '!/^pksbridge\/[a-z_]+\[[0-9]+\]: / || length($0) > 2048 { bad = 1; print }
		END { exit bad }' "$TEST_TMP/$1/log"
}

for m in "$HM"/*.eml; do
	n=$(basename "$m" .eml)
	[ "$n" = inject-out ] && continue
	case_run "$n"
	echo "# $n: $(wc -c <"$m" | tr -d ' ') bytes; wall_us cpu_us maxrss_kb status: $(cat "$TEST_TMP/$n/stat")"
done

check "MIME nested 5,000 deep: both keys found, the nesting reported" \
	expect deep "alice bob" 'nested deeper than 32'
check "100,000 tiny parts: the key after them delivered" expect parts "bob"
check "a 10 MB header line: the key delivered" expect bigheader "alice"
check "... and the log lines stay short single lines" one_line_logs bigheader
check "NUL bytes in headers and body: the key delivered" expect nul "alice"
check "invalid UTF-8 in headers and in a uid: the good key delivered, the other quarantined, JSON valid" \
	expect utf8 "carol" 'GnuPG rejected key '"$(fpr alice)"'.*self-signature'
id=$(python3 -c 'import json,sys
for l in open(sys.argv[1]):
    e = json.loads(l)
    if e["state"] == "quarantined": print(e["id"])' "$TEST_TMP/utf8/all.json")
"$PB" -c "$TEST_TMP/utf8/pb.conf" queue show "$id" --json >"$TEST_TMP/utf8/show.json"
check "... queue show --json of it is valid UTF-8 JSON, the uid's bad bytes replaced" \
	python3 -c 'import json,sys
e = json.loads(open(sys.argv[1], "rb").read().decode("utf-8"))
uid = e["keys"][0]["uid"]
sys.exit(0 if uid.endswith("e Example <alice@example.org>") and not uid.startswith("Alic") else 1)' \
	"$TEST_TMP/utf8/show.json"
check "boundary of RFC 2046 special characters" expect bnd-special "alice"
check "a line starting with the boundary is not a delimiter" expect bnd-prefix "alice"
check "no close delimiter" expect bnd-unclosed "alice"
check "a 70-character boundary" expect bnd-70 "alice"
check "a 500-character boundary" expect bnd-500 "alice"
check "two boundary parameters" expect bnd-twice "alice"
check "an inner multipart reusing the outer boundary" expect bnd-reuse "alice"
check "an empty boundary: scanned as text, and said so" \
	expect bnd-empty "alice" 'without a boundary'
check "a key in the epilogue is no content, but the mail is kept in quarantine" \
	expect bnd-epilogue "" 'no public key block found'
check "a length field pointing past the buffer: quarantined, the next block's key delivered" \
	expect pastend "carol" 'runs past the end of the data'
check "a partial-length key packet: quarantined, the next block's key delivered" \
	expect partial "carol" 'partial body length'
check "a key with 100,000 garbage signatures and no self-signature: nothing valid left (key policy), quarantined; the next key delivered" \
	expect sigs "bob" 'the key policy rejected key .*: nothing valid left'
check "duplicate packets: the key delivered once" expect dup "carol"
check_eq "... as one key in the keyring" \
	"$(gpg --homedir "$TEST_TMP/dup/ring" --with-colons --list-keys 2>/dev/null | grep -c '^pub:')" 1

# CR/LF hidden in encoded words: inbound (an ADD, so it goes out to the
# peer too) and through the sendmail intake.
check "encoded-word CR/LF in every header: the key delivered" expect inject "bob"
check "... every log line stays one line" one_line_logs inject
check_grep "... the Message-ID is logged literally, not decoded" \
	'message-id=<inj=0D=0AX-Injected:yes@hostile.example>' "$TEST_TMP/inject/log"
check_rc "the sendmail intake takes the injection mail too" 0 \
	sh -c "'$PB' -c '$TEST_TMP/inject/pb.conf' sendmail -t -oi <'$HM/inject-out.eml' 2>>'$TEST_TMP/inject/log'"
check_eq "... finding one peer only (the display names and encoded words are no addresses)" \
	"$("$PB" -c "$TEST_TMP/inject/pb.conf" queue list --json --direction outbound |
		python3 -c 'import json,sys; print(sorted({json.loads(l)["peer"] for l in sys.stdin}))')" \
	"['peer@pks.example']"
"$PB" -c "$TEST_TMP/inject/pb.conf" run --once 2>>"$TEST_TMP/inject/log"
check_eq "the runner sent both outbound mails (the ADD's and the intake's)" \
	"$(ls "$TEST_TMP/cap" | grep -c '^mail')" 2
# The header section of every mail sent: exactly the fixed fields.
python3 - "$TEST_TMP/cap" >"$TEST_TMP/headers" <<'EOF'
import glob, sys
for f in sorted(glob.glob(sys.argv[1] + "/mail.*")):
    head = open(f, "rb").read().split(b"\n\n", 1)[0].decode("ascii", "replace")
    print(" ".join(l.split(":", 1)[0] for l in head.split("\n")))
EOF
check_eq "... their header fields are exactly the fixed ones (no Bcc, no X-Injected)" \
	"$(sort -u "$TEST_TMP/headers")" \
	"From To Subject X-KeyServer-Sent Precedence MIME-Version Content-Type Content-Transfer-Encoding Date Message-ID Auto-Submitted"
# Each mail's own header section (sed -s: one range per file, not one
# over the files run together, which read only the first).
check "... and nothing of the injection anywhere in them" \
	sh -c "! sed -s -n '1,/^\$/p' '$TEST_TMP'/cap/mail.* | grep -Ei 'evil|inject'"
check "... every log line stays one line" one_line_logs inject
done_testing
