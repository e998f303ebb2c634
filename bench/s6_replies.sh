#!/bin/sh
# bench/s6_replies.sh - scenario 6, replies to mail commands: one
# "GET 0x<short key ID>" mail at a time (what gpg1 --recv-keys sends),
# from the start of "pksbridge ingest" until the loopback SMTP server
# (tests/tools/smtpsink) has accepted the reply, keydb hkp:// to a
# throwaway SKS holding the keys:
#
#   runner    "pksbridge run" listens: the filter commits and wakes it,
#             its reply worker looks the key up and sends the reply
#   runner4   the same, four requests at a time
#   inline    no runner: the filter sends the reply itself
#
# And what a GET costs SKS: its CPU time (user + system, from /proc)
# over the replies of the runner path, against the same number of
# direct HKP lookups (op=get&options=mr of the same short key IDs, one
# connection each, as a client does), each less what SKS uses idle over
# the same time (measured before); and how many HKP requests a reply
# makes, counted by a small TCP relay in front of SKS (bench/hkpcount.py)
# during one more pass (path "counted", not timed).
#
# Knobs: BENCH_REPLY_N requests per path (200; quick: 20).  Raw figures:
# $RAW/<path>.jsonl (drive.py reply), $RAW/sks_load.json.
. "$(dirname "$0")/lib.sh"
. "$TOP/tests/lib/smtpsink.sh"

if [ "$BENCH_QUICK" = 1 ]; then N=${BENCH_REPLY_N:-20}; else N=${BENCH_REPLY_N:-200}; fi

bench_keys | while read -r fpr f; do
	[ "$(wc -c <"$f")" -le 16384 ] && echo "$fpr $f"
done | head -n "$N" >"$TEST_TMP/keys.list"
# Short key IDs that two of them share would make some replies carry
# two keys: keep the first of each.
awk '!seen[substr($1, length($1) - 7)]++' "$TEST_TMP/keys.list" >"$TEST_TMP/keys.uniq"
N=$(wc -l <"$TEST_TMP/keys.uniq")

if ! bench_sks sks 2>"$TEST_TMP/sks.err"; then
	not_ok "SKS starts" "$(cat "$TEST_TMP/sks.err")"
	done_testing
fi
$DRIVE bulk --port "$SKS_PORT" --list "$TEST_TMP/keys.uniq" --parallel 4 --post \
	--settle 5 >"$RAW/post.json"
check "SKS serves the $N keys" python3 -c "import json,sys; j=json.load(open(sys.argv[1])); sys.exit(j['served'] != j['mails'])" "$RAW/post.json"
SKS_PID=$(cat "$SKS_DIR/sks-db.pid")
smtpsink_start "$TEST_TMP/sink" || done_testing
conf=$TEST_TMP/pb.conf
bench_pb_conf "$conf" "$TEST_TMP/spool" "hkp://127.0.0.1:$SKS_PORT" \
	"smtp_relay: 127.0.0.1:$SMTPSINK_PORT" "reply_limit: 100000/1h" \
	"reply_limit_total: 100000/1h"

# direct - the same lookups straight from a client, one connection each.
direct() {
	python3 - "$SKS_PORT" "$TEST_TMP/keys.uniq" <<'EOF'
import http.client, json, sys, time
port, path = int(sys.argv[1]), sys.argv[2]
ms, ok = [], 0
for line in open(path):
    fpr = line.split()[0]
    t0 = time.monotonic()
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    c.request("GET", "/pks/lookup?op=get&options=mr&search=0x" + fpr[-8:])
    r = c.getresponse()
    r.read()
    c.close()
    ms.append((time.monotonic() - t0) * 1000)
    ok += r.status == 200
ms.sort()
print(json.dumps({"requests": len(ms), "ok": ok, "p50_ms": round(ms[len(ms) // 2], 2),
                  "p90_ms": round(ms[int(len(ms) * 0.9)], 2)}))
EOF
}
# cpu_over SECONDS - SKS's CPU seconds over a pause of that long.
cpu_over() {
	_co0=$(proc_cpu "$SKS_PID")
	sleep "$1"
	awk -v a="$_co0" -v b="$(proc_cpu "$SKS_PID")" 'BEGIN { printf "%.2f", b - a }'
}
now_s() { date +%s.%N; }

next=1
# run_path NAME PARALLEL - N requests, PARALLEL at a time.
run_path() {
	$DRIVE reply --list "$TEST_TMP/keys.uniq" --sink "$TEST_TMP/sink" \
		--first "$next" --parallel "$2" -- "$PB" -c "$conf" ingest \
		>"$RAW/$1.jsonl"
	_rc=$?
	check_eq "$1: $N replies, all accepted by the sink" "$_rc" 0
	next=$((next + N))
	say "$1: $(python3 -c '
import json, sys
v = sorted(json.loads(l)["reply_ms"] for l in open(sys.argv[1]) if json.loads(l)["reply_ms"] is not None)
print("p50 %.1f ms, p90 %.1f ms, max %.1f ms" % (v[len(v) // 2], v[int(len(v) * 0.9)], v[-1]))' "$RAW/$1.jsonl")"
}

if ! bench_runner "$conf" "$TEST_TMP/runner.log"; then
	not_ok "runner starts" "$(tail -n 5 "$TEST_TMP/runner.log")"
	done_testing
fi
# SKS keeps working for a while after taking keys (its database syncs):
# let it settle, and measure what it costs idle, so that the figures
# below are the lookups' own.
sleep 10
idle=$(cpu_over 10)
c0=$(proc_cpu "$SKS_PID")
t0=$(now_s)
direct >"$RAW/direct.json"
t1=$(now_s)
c1=$(proc_cpu "$SKS_PID")
check "direct op=get: every lookup answered 200" python3 -c \
	"import json,sys; j=json.load(open(sys.argv[1])); sys.exit(j['ok'] != j['requests'])" "$RAW/direct.json"
cpu0=$(proc_cpu "$SKS_PID")
t2=$(now_s)
run_path runner 1
t3=$(now_s)
cpu1=$(proc_cpu "$SKS_PID")
run_path runner4 4
stop_daemon "$RUNNER_PID"
run_path inline 1


# How many requests SKS gets per reply: the runner again, through the
# counting relay.
cport=$(free_port)
spawn_daemon "$TEST_TMP/hkpcount.log" python3 "$TOP/bench/hkpcount.py" \
	"$cport" "$SKS_PORT" "$TEST_TMP/hkpcount"
wait_until 10 port_listening "$cport"
sed -i "s|^keydb: .*|keydb: hkp://127.0.0.1:$cport|" "$conf"
bench_runner "$conf" "$TEST_TMP/runner2.log"
run_path counted 1
stop_daemon "$RUNNER_PID"
sleep 0.5
counted=$(cat "$TEST_TMP/hkpcount" 2>/dev/null || echo 0)
cat >"$RAW/sks_load.json" <<EOF
{"replies": $N, "sks_cpu_s_replies": $(awk -v a="$cpu0" -v b="$cpu1" 'BEGIN { printf "%.2f", b - a }'),
 "replies_s": $(awk -v a="$t2" -v b="$t3" 'BEGIN { printf "%.2f", b - a }'),
 "direct": $N, "sks_cpu_s_direct": $(awk -v a="$c0" -v b="$c1" 'BEGIN { printf "%.2f", b - a }'),
 "direct_s": $(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }'),
 "sks_cpu_s_idle_per_s": $(awk -v i="$idle" 'BEGIN { printf "%.4f", i / 10 }'),
 "sks_requests_counted": $counted, "replies_counted": $N}
EOF
say "SKS CPU: $(cat "$RAW/sks_load.json" | tr -d '\n')"
smtpsink_stop
sks_stop "$SKS_DIR"
done_testing
