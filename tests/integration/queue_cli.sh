#!/bin/sh
# tests/integration/queue_cli.sh - what "pksbridge queue" shows, for people
# and for scripts, on a queue in every state (tests/data/queue/fixture.spec,
# built by tests/tools/qfixture without ingest or a runner):
#
#   * golden tests of the human output (list with and without --all and
#     filters, stats, show, an empty queue): the clock is fixed with the
#     test-only PKSBRIDGE_NOW and TZ=UTC; queue ids, which come from the
#     real clock, are replaced by Q0000000000001... in the order created.
#     PB_UPDATE_GOLDEN=1 (that value only) writes the new output into a
#     golden file that differs, and still reports that file as not ok,
#     so that a rewrite is a review (git diff), never a pass.
#   * JSON: the docs/JSON.md contract (tests/lib/pbjson.py), every field
#     documented in docs/JSON.md and every documented field present, the
#     per-peer "peers" object of stats --json, filters with --json.
#   * stats --prometheus: a strict parser of the text format 0.0.4 (HELP
#     and TYPE before samples, one block per family, escapes, no duplicate
#     series), and its numbers equal those of stats --json.
#   * queue list | head stops quietly (EPIPE), exit 0, nothing on stderr.
. "$(dirname "$0")/../lib.sh"

need_cmd python3 || done_testing
QF=$TOP/${BUILD:-build}/tests/tools/qfixture
PB=${PKSBRIDGE:-$TOP/${BUILD:-build}/pksbridge}
GOLD=$TEST_DATA/queue
for _f in "$QF" "$PB"; do
	[ -x "$_f" ] || { not_ok "no $_f (make test-bins)"; done_testing; }
done

PKSBRIDGE_NOW=1700000000
TZ=UTC
export PKSBRIDGE_NOW TZ
unset PKSBRIDGE_CONF

S=$TEST_TMP/spool
C=$TEST_TMP/pb.conf
mkdir -m 700 "$S"
printf 'spool_dir: %s\nlog: stderr\n' "$S" >"$C"

# Empty first.
check_eq "queue list on an empty queue" "$("$PB" -c "$C" queue list)" \
	"Queue is empty"
check_eq "queue list with filters, nothing matching" \
	"$("$PB" -c "$C" queue list --state held)" "No matching entries"
check_eq "queue list --json on an empty queue prints nothing" \
	"$("$PB" -c "$C" queue list --json --all)" ""

if ! "$QF" "$S" <"$GOLD/fixture.spec" >"$TEST_TMP/ids" 2>"$TEST_TMP/qf.err"; then
	not_ok "qfixture builds the queue" "$(cat "$TEST_TMP/qf.err")"
	done_testing
fi
NIDS=$(wc -l <"$TEST_TMP/ids")
check_eq "qfixture made one entry per spec line" "$NIDS" \
	"$(grep -cv '^#' "$GOLD/fixture.spec")"
# id N (1-based, spec order)
id() { sed -n "${1}p" "$TEST_TMP/ids"; }
awk '{ printf "s/%s/Q%013d/g\n", $1, NR }' "$TEST_TMP/ids" >"$TEST_TMP/ids.sed"

# Only "1" asks for a rewrite: another value is a typo, never a quiet
# rewrite (nor a quiet comparison).
GOLDEN_UPDATE=${PB_UPDATE_GOLDEN:-0}
case "$GOLDEN_UPDATE" in
0 | 1) ;;
*) not_ok "PB_UPDATE_GOLDEN is 1 or unset (got '$GOLDEN_UPDATE')"
	GOLDEN_UPDATE=0 ;;
esac

# golden NAME ARGS... - run pksbridge -c C ARGS, ids normalised, against
# tests/data/queue/NAME; stderr must be empty and the exit status 0.
golden() {
	_g_name=$1
	shift
	"$PB" -c "$C" "$@" >"$TEST_TMP/g.raw" 2>"$TEST_TMP/g.err"
	_g_rc=$?
	sed -f "$TEST_TMP/ids.sed" "$TEST_TMP/g.raw" >"$TEST_TMP/g.out"
	# A failed run never becomes a golden file.
	if [ "$_g_rc" -ne 0 ] || [ -s "$TEST_TMP/g.err" ]; then
		not_ok "pksbridge $* ($_g_name): exit 0, quiet stderr" \
			"exit $_g_rc" "$(cat "$TEST_TMP/g.err")"
		return
	fi
	if diff -u "$GOLD/$_g_name" "$TEST_TMP/g.out" >"$TEST_TMP/g.diff"; then
		ok "pksbridge $* matches golden $_g_name"
		return
	fi
	if [ "$GOLDEN_UPDATE" = 1 ]; then
		cp "$TEST_TMP/g.out" "$GOLD/$_g_name"
		not_ok "pksbridge $* matches golden $_g_name" \
			"PB_UPDATE_GOLDEN=1: rewrote $GOLD/$_g_name; review it (git diff)"
	else
		not_ok "pksbridge $* matches golden $_g_name"
	fi
	_t_quote "$TEST_TMP/g.diff" 60
}

golden list.txt queue list
golden list-all.txt queue list --all
golden list-outbound-b.txt queue list --all --direction outbound --peer @keys.b.example
golden list-state.txt queue list --state held,failed
golden list-since.txt queue list --all --since 1h
golden stats.txt queue stats
golden stats.prom queue stats --prometheus
golden show-quarantined.txt queue show "$(id 8)"
golden show-deferred.txt queue show "$(id 6)"

# The table itself: ages, marks, reasons, keys capped at 10 per entry.
"$PB" -c "$C" queue list --all >"$TEST_TMP/all.txt" 2>&1
check_grep "an entry being delivered is marked '*'" "^$(id 14)\* " "$TEST_TMP/all.txt"
check_grep "a held entry is marked '!'" "^$(id 9)! " "$TEST_TMP/all.txt"
check_grep "the deferred entry: age, next attempt, attempts, last error" \
	"^ {16}\(next attempt in 12m, 3 attempts: hkp://127.0.0.1:11371: connection refused\)$" \
	"$TEST_TMP/all.txt"
check_grep "twelve keys: ten shown, the rest counted" \
	"^ {16}\(2 more keys: queue show $(id 1)\)$" "$TEST_TMP/all.txt"
check_grep "footer counts all 14 entries" "^-- [0-9]+ Kbytes in 14 Entries\.$" \
	"$TEST_TMP/all.txt"

# JSON: the contract of docs/JSON.md, field by field.
"$PB" -c "$C" queue list --all --json >"$TEST_TMP/list.json"
"$PB" -c "$C" queue stats --json >"$TEST_TMP/stats.json"
"$PB" -c "$C" queue show "$(id 8)" --json >"$TEST_TMP/show.json"
check "queue list --all --json keeps the docs/JSON.md contract" \
	python3 "$TOP/tests/lib/pbjson.py" list "$TEST_TMP/list.json"
check "queue stats --json agrees with queue list --all --json" \
	python3 "$TOP/tests/lib/pbjson.py" stats "$TEST_TMP/stats.json" "$TEST_TMP/list.json"
check_eq "list --json --all lists every entry" \
	"$(wc -l <"$TEST_TMP/list.json")" 14
check_eq "list --json without --all: the pending ones" \
	"$("$PB" -c "$C" queue list --json | wc -l)" 6
check_eq "list --json --state done --direction outbound" \
	"$("$PB" -c "$C" queue list --json --state done --direction outbound |
		python3 -c 'import json,sys; print(sorted(json.loads(l)["peer"] for l in sys.stdin))')" \
	"['a@a.example', 'b@keys.b.example']"
check_eq "list --json --all --peer A@A.EXAMPLE (any case)" \
	"$("$PB" -c "$C" queue list --json --all --peer A@A.EXAMPLE | wc -l)" 3
check_eq "list --json --since 1h --all: created within the hour" \
	"$("$PB" -c "$C" queue list --json --since 1h --all | wc -l)" 6

cat >"$TEST_TMP/docs.py" <<'EOF'
# Every field the CLI prints is documented in docs/JSON.md, and every
# documented field is printed.  JSON.md documents each object in a section
# whose heading names the command; field rows start "| `name` |".
import json, re, sys
doc = open(sys.argv[1], encoding="utf-8").read()
sections = {}
cur = None
for line in doc.splitlines():
    m = re.match(r"^#+ .*`(pksbridge [^`]*)`", line)
    if m:
        cur = m.group(1)
        sections[cur] = set()
        continue
    m = re.match(r"^\| `([A-Za-z_.*\[\]]+)` \|", line)
    if m and cur:
        sections[cur].add(m.group(1))
probs = []
def fields(obj, prefix=""):
    out = set()
    for k, v in obj.items():
        out.add(prefix + k)
        # peers is keyed by address; a key's policy object has a section
        # of its own (its fields are checked by tests/lib/pbjson.py).
        if isinstance(v, dict) and prefix + k not in ("peers", "keys[].policy"):
            out |= fields(v, prefix + k + ".")
        if isinstance(v, list) and v and isinstance(v[0], dict):
            out |= fields(v[0], prefix + k + "[].")
    return out
def peers(obj):
    out = set()
    for p in obj.get("peers", {}).values():
        out |= fields(p, "peers.*.")
    return out
def compare(section, got):
    want = sections.get(section)
    if want is None:
        probs.append("docs/JSON.md has no section for `%s`" % section)
        return
    for f in sorted(got - want):
        probs.append("%s: field %s is printed but not documented" % (section, f))
    for f in sorted(want - got):
        probs.append("%s: field %s is documented but not printed" % (section, f))
lst = [json.loads(l) for l in open(sys.argv[2])]
got = set()
for e in lst:
    got |= fields(e)
compare("pksbridge queue list --json", got)
st = json.loads(open(sys.argv[3]).read())
st_fields = fields(st) | peers(st)
# The state names inside inbound/outbound are documented as a group.
st_fields = {re.sub(r"^(inbound|outbound|peers\.\*\.states)\.[a-z]+$", r"\1.STATE", f)
             for f in st_fields}
compare("pksbridge queue stats --json", st_fields)
sh = json.loads(open(sys.argv[4]).read())
compare("pksbridge queue show ID --json", fields(sh) - got)
dd = json.loads(open(sys.argv[5]).read())
compare("pksbridge dedup lookup FINGERPRINT --json", fields(dd))
for p in probs:
    print(p)
sys.exit(1 if probs else 0)
EOF
# A dedup record to document, from a real ingest into a spool of its own
# (key database unreachable: the entry just waits).
S2=$TEST_TMP/spool2
C2=$TEST_TMP/pb2.conf
mkdir -m 700 "$S2"
printf 'spool_dir: %s\nkeydb: hkp://127.0.0.1:9\nlog: stderr\n' "$S2" >"$C2"
"$PB" -c "$C2" ingest <"$TEST_DATA/mails/02-pks-incremental.eml" \
	>"$TEST_TMP/ingest2.log" 2>&1
ALICE=FE144C003EC2F056976C38BA3268C6A75E3A732B
"$PB" -c "$C2" dedup lookup "$ALICE" --json >"$TEST_TMP/dedup.json" 2>&1
check "dedup lookup --json: a known key (alice, ingested)" \
	python3 "$TOP/tests/lib/pbjson.py" dedup "$TEST_TMP/dedup.json" "$ALICE"
"$PB" -c "$C2" dedup lookup 0123456789ABCDEF0123456789ABCDEF01234567 --json \
	>"$TEST_TMP/dedup-unknown.json" 2>/dev/null
check_eq "dedup lookup --json: an unknown key exits 65" "$?" 65
# A write that fails (a full disk, here /dev/full) is an I/O error, said
# on stderr, not a silent success.
for _fmt in "" --json; do
	"$PB" -c "$C2" dedup lookup "$ALICE" $_fmt >/dev/full 2>"$TEST_TMP/full.err"
	check_eq "dedup lookup $_fmt >/dev/full: exit 74" "$?" 74
	check_grep "dedup lookup $_fmt >/dev/full: says why" \
		"writing to standard output: No space left on device" "$TEST_TMP/full.err"
done
check_eq "dedup lookup --json: an unknown key is {fingerprint, known: false}" \
	"$(cat "$TEST_TMP/dedup-unknown.json")" \
	'{"fingerprint":"0123456789ABCDEF0123456789ABCDEF01234567","known":false}'
# An inbound entry the key policy judged, for its keys[].policy, from a
# real ingest delivered into a GnuPG keyring of its own (no server).
S3=$TEST_TMP/spool3
C3=$TEST_TMP/pb3.conf
mkdir -m 700 "$S3"
printf 'spool_dir: %s\nkeydb: gnupg:%s\nlog: stderr\n' "$S3" "$TEST_TMP/ring3" >"$C3"
"$PB" -c "$C3" ingest <"$TEST_DATA/mails/02-pks-incremental.eml" \
	>"$TEST_TMP/ingest3.log" 2>&1
"$PB" -c "$C3" queue list --all --json >"$TEST_TMP/list3.json" 2>&1
check "queue list --json: a delivered entry's keys carry their policy object" \
	grep -q '"policy":{"verdict":"kept"' "$TEST_TMP/list3.json"
cat "$TEST_TMP/list.json" "$TEST_TMP/list3.json" >"$TEST_TMP/list-doc.json"
check "docs/JSON.md documents every field printed, and nothing else" \
	python3 "$TEST_TMP/docs.py" "$TOP/docs/JSON.md" "$TEST_TMP/list-doc.json" \
	"$TEST_TMP/stats.json" "$TEST_TMP/show.json" "$TEST_TMP/dedup.json"

cat >"$TEST_TMP/peers.py" <<'EOF'
import json, sys
s = json.load(open(sys.argv[1]))
p = s["peers"]
want = {
    "a@a.example": dict(pending=1, deferred=0, held=0, failed=0,
                        oldest_pending_seconds=20, last_success=1699913700,
                        last_error=None, last_error_time=None),
    "b@keys.b.example": dict(pending=2, deferred=1, held=1, failed=0,
                             oldest_pending_seconds=7200,
                             last_success=1699901000,
                             last_error="451 4.3.0 try again later",
                             last_error_time=1699999400),
    "c@c.example": dict(pending=0, deferred=0, held=0, failed=1,
                        oldest_pending_seconds=0, last_success=None,
                        last_error="550 5.1.1 <c@c.example>: no such user",
                        last_error_time=1699600000),
}
bad = []
if sorted(p) != sorted(want):
    bad.append("peers %s, want %s" % (sorted(p), sorted(want)))
for peer, fields in want.items():
    for k, v in fields.items():
        if p.get(peer, {}).get(k) != v:
            bad.append("%s.%s = %r, want %r" % (peer, k, p.get(peer, {}).get(k), v))
    st = p.get(peer, {}).get("states", {})
    if sum(st.values()) != sum(1 for l in open(sys.argv[2])
                               if json.loads(l)["peer"] and
                               json.loads(l)["peer"].lower() == peer):
        bad.append("%s: states do not add up to its entries" % peer)
print("\n".join(bad))
sys.exit(1 if bad else 0)
EOF
check "stats --json: per-peer pending, deferred, last success, last error" \
	python3 "$TEST_TMP/peers.py" "$TEST_TMP/stats.json" "$TEST_TMP/list.json"

# Prometheus text format 0.0.4, parsed strictly.
cat >"$TEST_TMP/prom.py" <<'EOF'
import json, re, sys
text = open(sys.argv[1], encoding="utf-8").read()
stats = json.load(open(sys.argv[2]))
bad = []
if not text.endswith("\n"):
    bad.append("does not end with a newline")
NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
LABEL = r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\[\\"n])*)"'
sample_re = re.compile(r"^(%s)(?:\{(%s(?:,%s)*)\})? (\S+)$" % (NAME, LABEL, LABEL))
helped, typed, done, series = set(), {}, set(), {}
current = None
for n, line in enumerate(text.splitlines(), 1):
    if line.startswith("# HELP "):
        m = re.match(r"^# HELP (%s) (.+)$" % NAME, line)
        if not m:
            bad.append("line %d: bad HELP: %s" % (n, line)); continue
        name = m.group(1)
        if name in helped:
            bad.append("line %d: second HELP for %s" % (n, name))
        if name in done:
            bad.append("line %d: family %s split in two blocks" % (n, name))
        helped.add(name)
        if current and current != name:
            done.add(current)
        current = name
        continue
    if line.startswith("# TYPE "):
        m = re.match(r"^# TYPE (%s) (counter|gauge|histogram|summary|untyped)$" % NAME, line)
        if not m:
            bad.append("line %d: bad TYPE: %s" % (n, line)); continue
        if m.group(1) != current:
            bad.append("line %d: TYPE %s not right after its HELP" % (n, m.group(1)))
        typed[m.group(1)] = m.group(2)
        continue
    if line.startswith("#") or not line.strip():
        bad.append("line %d: unexpected line: %r" % (n, line)); continue
    m = sample_re.match(line)
    if not m:
        bad.append("line %d: not a sample: %r" % (n, line)); continue
    name = m.group(1)
    if name != current or name not in typed:
        bad.append("line %d: sample of %s outside its HELP/TYPE block" % (n, name))
    labels = tuple(re.findall(LABEL, m.group(2) or ""))
    if len({k for k, _ in labels}) != len(labels):
        bad.append("line %d: repeated label" % n)
    try:
        value = float(m.group(m.lastindex))
    except ValueError:
        bad.append("line %d: value %r" % (n, m.group(m.lastindex))); continue
    key = (name, labels)
    if key in series:
        bad.append("line %d: duplicate series %s%s" % (n, name, labels))
    series[key] = value
# The numbers are those of stats --json.
def get(name, **labels):
    for (n, ls), v in series.items():
        if n == name and dict(ls) == labels:
            return v
    return None
for d in ("inbound", "outbound"):
    for st, v in stats[d].items():
        if get("pksbridge_queue_entries", direction=d, state=st) != v:
            bad.append("queue_entries %s/%s != %d" % (d, st, v))
for f in ("oldest_pending_seconds", "dedup_entries"):
    if get("pksbridge_" + f) != stats[f]:
        bad.append("%s != %d" % (f, stats[f]))
for peer, p in stats["peers"].items():
    for st, v in p["states"].items():
        if get("pksbridge_peer_entries", peer=peer, state=st) != v:
            bad.append("peer_entries %s/%s != %d" % (peer, st, v))
    if get("pksbridge_peer_oldest_pending_seconds", peer=peer) != p["oldest_pending_seconds"]:
        bad.append("peer oldest %s" % peer)
    if get("pksbridge_peer_last_success_timestamp_seconds", peer=peer) != p["last_success"]:
        bad.append("peer last_success %s" % peer)
    if get("pksbridge_peer_last_error_timestamp_seconds", peer=peer) != p["last_error_time"]:
        bad.append("peer last_error_time %s" % peer)
if len(series) < 20:
    bad.append("only %d series" % len(series))
print("\n".join(bad))
sys.exit(1 if bad else 0)
EOF
"$PB" -c "$C" queue stats --prometheus >"$TEST_TMP/stats.prom"
check "stats --prometheus: valid text format 0.0.4, same numbers as --json" \
	python3 "$TEST_TMP/prom.py" "$TEST_TMP/stats.prom" "$TEST_TMP/stats.json"
check_rc "stats --json --prometheus together is a usage error" 64 \
	"$PB" -c "$C" queue stats --json --prometheus

# EPIPE: a reader that goes away ends the listing quietly.
: >"$TEST_TMP/many.spec"
_n=0
while [ $_n -lt 1500 ]; do
	echo "inbound|deferred|pks|-|$((PKSBRIDGE_NOW - _n))|-|1|$((PKSBRIDGE_NOW + 60))|-|1000|keydb down, and a long enough error text to fill the pipe quickly|m$_n@x|FE144C003EC2F056976C38BA3268C6A75E3A732B=Alice <alice@example.org>|-"
	_n=$((_n + 1))
done >"$TEST_TMP/many.spec"
"$QF" "$S" <"$TEST_TMP/many.spec" >/dev/null
for _args in "queue list" "queue list --json" "queue list --all"; do
	_rc=$({ "$PB" -c "$C" $_args 2>"$TEST_TMP/epipe.err"; echo $? >"$TEST_TMP/epipe.rc"; } | head -n 1 >/dev/null; cat "$TEST_TMP/epipe.rc")
	if [ "$_rc" = 0 ] && [ ! -s "$TEST_TMP/epipe.err" ]; then
		ok "$_args | head -1: exit 0, nothing on stderr"
	else
		not_ok "$_args | head -1: exit 0, nothing on stderr" "exit $_rc" \
			"$(cat "$TEST_TMP/epipe.err")"
	fi
done
# ... but a real write error is not swallowed.
if [ -w /dev/full ]; then
	"$PB" -c "$C" queue list >/dev/full 2>"$TEST_TMP/full.err"
	check_eq "queue list >/dev/full exits 74 (EX_IOERR)" "$?" 74
	check_grep "queue list >/dev/full says why" \
		"writing to standard output: No space left on device" "$TEST_TMP/full.err"
	"$PB" -c "$C" queue stats --json >/dev/full 2>/dev/null
	check_eq "queue stats --json >/dev/full exits 74" "$?" 74
fi

done_testing
