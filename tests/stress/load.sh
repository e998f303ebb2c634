# load.sh - LOAD_MAILS PKS mails (default 2,000) from LOAD_PAR concurrent
# "pksbridge ingest" processes (default 16) while the runner delivers to
# a real SKS over hkp://.  `make test-load` runs it; it takes minutes.
#
# The mails carry the Debian keys of at most 32 KB (660 of them), so keys
# repeat, as they do on the PKS network: mail i carries key i mod K, every
# 7th mail one more key, and every 50th mail is an earlier mail sent again
# (same Message-ID).  That fixes what must happen, whatever the
# interleaving:
#   * every key is new in exactly one entry, which SKS gets (sum of the
#     keys of "done" entries = distinct keys, each served by SKS);
#   * every resent mail is a duplicate by Message-ID;
#   * every other mail whose keys were all accepted before is a duplicate
#     with "nothing new";
#   * nothing else: no ingest exits anything but 0 (no 75: the spool must
#     keep up), nothing stays pending, no watchdog fires (no deadlock).
# Reported: ingest latency (p50/p95/max, CPU), throughput, the time until
# the queue is drained and SKS has every key, and the duplicate counts.
. "$(dirname "$0")/../lib.sh"
. "$TOP/tests/lib/sks.sh"
need_cmd sks gpg curl python3 db5.3_verify xargs || done_testing

PB=$TOP/${BUILD:-build}/pksbridge
KEYSPLIT=$TOP/${BUILD:-build}/tests/tools/keysplit
RUNSTAT=$TOP/${BUILD:-build}/tests/tools/runstat
M=${LOAD_MAILS:-2000}
PAR=${LOAD_PAR:-16}
SPOOL=$TEST_TMP/spool
CONF=$TEST_TMP/pb.conf
mkdir -m 700 "$SPOOL" "$TEST_TMP/keys" "$TEST_TMP/mails" "$TEST_TMP/stat"
show_on_failure "$TEST_TMP/ingest.log" "$TEST_TMP/runner.log" \
	"$TEST_TMP/sks/sks-db.log"

PORT=$(free_port) || { not_ok "no free port"; done_testing; }
if ! sks_start "$TEST_TMP/sks" "$PORT" 2>"$TEST_TMP/sks.err"; then
	not_ok "SKS starts on port $PORT" "$(cat "$TEST_TMP/sks.err")"
	done_testing
fi
cat >"$CONF" <<EOF
spool_dir: $SPOOL
keydb: hkp://127.0.0.1:$PORT
retry_schedule: 5s
log: stderr
EOF

"$KEYSPLIT" /usr/share/keyrings/debian-keyring.gpg "$TEST_TMP/keys" 100000 0 32768 \
	>"$TEST_TMP/keys.txt"
K=$(wc -l <"$TEST_TMP/keys.txt" | tr -d ' ')
check "at least 100 Debian keys of at most 32 KB ($K)" test "$K" -ge 100

# The mails, written by one awk: mail i's Message-ID, its key files.
awk -v m="$M" -v k="$K" -v dir="$TEST_TMP/mails" '
	{ fpr[NR - 1] = $1; file[NR - 1] = $2 }
	END {
		for (i = 1; i <= m; i++) {
			src = i
			if (i % 50 == 0 && i > 25) src = i - 25	# a resend
			a = (src - 1) % k
			keys = a
			if (src % 7 == 0) keys = keys " " (a + 1) % k
			print src, keys > (dir "/" i ".plan")
		}
	}' "$TEST_TMP/keys.txt"
i=1
while [ $i -le "$M" ]; do
	read -r src keys <"$TEST_TMP/mails/$i.plan"
	{
		echo "From pgp-public-keys@pks.example $(LC_ALL=C date -u '+%a %b %e %H:%M:%S %Y')"
		echo "From: pgp-public-keys@pks.example"
		echo "To: pgp-public-keys@bridge.test"
		echo "Subject: incremental"
		echo "Message-ID: <load-$src@pks.example>"
		echo "X-KeyServer-Sent: pgp-public-keys@pks.example"
		echo "Content-Type: application/pgp-keys"
		echo
		for n in $keys; do
			sed -n "$((n + 1))p" "$TEST_TMP/keys.txt" | cut -d' ' -f2 | xargs cat
		done
	} >"$TEST_TMP/mails/$i"
	i=$((i + 1))
done
R=0
for f in "$TEST_TMP"/mails/*.plan; do
	n=$(basename "$f" .plan)
	read -r src keys <"$f"
	[ "$src" != "$n" ] && R=$((R + 1))
done
# Distinct keys actually used.
cat "$TEST_TMP"/mails/*.plan | cut -d' ' -f2- | tr ' ' '\n' | sort -u >"$TEST_TMP/used"
KU=$(wc -l <"$TEST_TMP/used" | tr -d ' ')
# The plan, checked against its own rule (every 50th mail from the 50th
# on is a resend), so that the counts below rest on something this
# script did not just derive from them.
check_eq "$M mails written, $R of them resends (every 50th)" \
	"$(ls "$TEST_TMP"/mails | grep -cv '\.plan$') $R" "$M $((M / 50))"
check "... over $KU distinct keys, at most $K" test "$KU" -ge 1 -a "$KU" -le "$K"

spawn_daemon "$TEST_TMP/runner.log" "$PB" -c "$CONF" run
RUNNER=$SPAWNED_PID
wait_for "the runner starts" 10 test -p "$SPOOL/wakeup"

# One ingest under runstat: "WALL_US CPU_US MAXRSS_KB STATUS" per mail.
cat >"$TEST_TMP/one" <<EOF
#!/bin/sh
exec "$RUNSTAT" -i "$TEST_TMP/mails/\$1" timeout 120 "$PB" -c "$CONF" ingest \
	>"$TEST_TMP/stat/\$1" 2>>"$TEST_TMP/ingest.log"
EOF
t0=$(date +%s%N)
seq 1 "$M" | xargs -P "$PAR" -n 1 sh "$TEST_TMP/one"
t1=$(date +%s%N)
ingest_ms=$(((t1 - t0) / 1000000))

python3 - "$TEST_TMP/stat" "$M" >"$TEST_TMP/latency" <<'EOF'
import os, sys
d, m = sys.argv[1], int(sys.argv[2])
rows, bad = [], {}
for n in range(1, m + 1):
    try:
        w, c, rss, st = open(os.path.join(d, str(n))).read().split()
    except (OSError, ValueError):
        bad[str(n)] = "no result"
        continue
    if st != "0":
        bad[str(n)] = st
    rows.append((int(w), int(c), int(rss)))
rows.sort()
q = lambda p: rows[min(len(rows) - 1, int(p * len(rows)))][0] / 1000
print("bad", " ".join("%s:%s" % kv for kv in sorted(bad.items())[:20]))
print("lat p50=%.0fms p95=%.0fms max=%.0fms cpu_mean=%.0fms rss_max=%dKB" % (
    q(0.5), q(0.95), rows[-1][0] / 1000,
    sum(r[1] for r in rows) / len(rows) / 1000, max(r[2] for r in rows)))
EOF
check_eq "every ingest exits 0 (no 75, no hang, no crash)" \
	"$(sed -n 's/^bad *//p' "$TEST_TMP/latency")" ""
check "no ingest crashed or hit its watchdog" \
	sh -c "! grep -E 'fatal signal|watchdog' '$TEST_TMP/ingest.log'"

# drained - nothing pending any more.
drained() {
	[ -z "$("$PB" -c "$CONF" queue list --json)" ]
}
wait_for "the runner drains the queue (no deadlock)" 600 drained
t2=$(date +%s%N)
drain_ms=$(((t2 - t1) / 1000000))
check "the runner is still running" kill -0 "$RUNNER"
check "the runner never hit its watchdog" \
	sh -c "! grep -E 'watchdog|fatal' '$TEST_TMP/runner.log'"

"$PB" -c "$CONF" queue list --all --json >"$TEST_TMP/all.json"
python3 - "$TEST_TMP/all.json" "$TEST_TMP/mails" "$M" >"$TEST_TMP/counts" <<'EOF'
import collections, json, sys
st = collections.Counter()
dup_msgid = dup_nothing = dup_other = done_keys = 0
done_fprs = set()
nothing_new_fprs = []
by_msgid = collections.defaultdict(list)
for line in open(sys.argv[1]):
    e = json.loads(line)
    st[e["state"]] += 1
    why = e.get("last_error") or ""
    by_msgid[e.get("message_id")].append(
        e["state"] == "duplicate" and why.startswith("Message-ID"))
    if e["state"] == "done":
        done_keys += len(e["keys"])
        done_fprs.update(k["fingerprint"] for k in e["keys"])
    elif e["state"] == "duplicate":
        if why.startswith("Message-ID"):
            dup_msgid += 1
        elif why.startswith("nothing new"):
            dup_nothing += 1
            nothing_new_fprs.append([k["fingerprint"] for k in e["keys"]])
        else:
            dup_other += 1
# The plan says how many mails carry each Message-ID (load-SRC): all but
# the first of them must be a duplicate by Message-ID, whatever the order.
plan = collections.Counter()
for n in range(1, int(sys.argv[3]) + 1):
    plan["load-%s@pks.example" % open("%s/%d.plan" % (sys.argv[2], n)).read().split()[0]] += 1
msgid_bad = sorted(m for m, c in plan.items()
                   if len(by_msgid.get(m, by_msgid.get("<%s>" % m, []))) != c or
                   sum(by_msgid.get(m, by_msgid.get("<%s>" % m, []))) != c - 1)
# A "nothing new" duplicate carries only keys that a done entry delivered.
unknown = sum(1 for fs in nothing_new_fprs if not fs or any(f not in done_fprs for f in fs))
print("msgid_bad", " ".join(msgid_bad[:5]) + (" ..." if len(msgid_bad) > 5 else ""))
print("nothing_new_unknown", unknown)
print("states", " ".join("%s=%d" % kv for kv in sorted(st.items())))
print("entries", sum(st.values()))
print("done", st["done"])
print("done_keys", done_keys)
print("dup_msgid", dup_msgid)
print("dup_nothing", dup_nothing)
print("dup_other", dup_other)
EOF
get() {
	sed -n "s/^$1 //p" "$TEST_TMP/counts"
}
check_eq "one entry per mail, every one done or duplicate ($(get states))" \
	"$(get entries) $(($(get done) + $(get dup_msgid) + $(get dup_nothing)))" "$M $M"
check_eq "every distinct key was new in exactly one delivered entry" \
	"$(get done_keys)" "$KU"
check_eq "every resent mail is a duplicate by Message-ID" "$(get dup_msgid)" "$R"
check_eq "... per Message-ID: all of its mails but one (Message-IDs where not)" \
	"$(get msgid_bad)" ""
check_eq "every \"nothing new\" duplicate carries keys a done entry delivered" \
	"$(get nothing_new_unknown)" 0
check_eq "no duplicate for another reason" "$(get dup_other)" 0

# Every key used is in SKS (one HKP lookup each).
missing=
while read -r n; do
	fpr=$(sed -n "$((n + 1))p" "$TEST_TMP/keys.txt" | cut -d' ' -f1)
	sks_wait_key "$PORT" "$fpr" 0 || missing="$missing $fpr"
done <"$TEST_TMP/used"
t3=$(date +%s%N)
check_eq "SKS serves every one of the $KU keys (no lost delivery)" "$missing" ""
posts=$(grep -c 'Handling /pks/add' "$TEST_TMP/sks/sks-db.log")

kill -TERM "$RUNNER"
wait_until 10 _t_gone "$RUNNER"
check "the runner stops on SIGTERM" _t_gone "$RUNNER"
check_spool_verified "$SPOOL"

echo "# $M mails, $PAR ingests at a time, $KU distinct keys, keydb SKS over hkp://"
echo "# ingest phase: ${ingest_ms} ms ($((M * 1000 / (ingest_ms + 1))) mails/s);" \
	"per ingest: $(sed -n 's/^lat //p' "$TEST_TMP/latency")"
echo "# queue drained ${drain_ms} ms after the last ingest; all keys checked in SKS" \
	"$(((t3 - t0) / 1000000)) ms after the first; SKS handled $posts /pks/add requests"
echo "# entries: $(get states); duplicates explained: $(get dup_msgid) resent" \
	"Message-IDs (every 50th mail), $(get dup_nothing) mails whose keys had" \
	"all been delivered already ($M mails over $KU keys)"
done_testing
