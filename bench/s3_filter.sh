#!/bin/sh
# bench/ingest.sh - cost of the inbound filter, measured, not assumed.
#
#   sh bench/ingest.sh [BUILD_DIR]        (make bench runs this)
#
# 1. one ~30 KB one-key PKS mail (real Debian keys, a different key each
#    time so dedup never short-cuts): median wall time, CPU time (user +
#    system, gpg children included) and peak RSS per ingest, for the
#    gnupg: and sks: key databases;
# 2. one ~16 MB mail: wall, CPU, peak RSS (target: RSS <= 3 x mail size);
# 3. throughput of 4 concurrent ingest processes, fsync on, 400 mails,
#    with the runner running (as in production), and the time until all
#    of them are delivered.
# Prints a table and writes bench/results/ingest.json.
set -eu
BUILD=${1:-build}
TOP=$(cd "$(dirname "$0")/.." && pwd)
PB=$TOP/$BUILD/pksbridge
KEYSPLIT=$TOP/$BUILD/tests/tools/keysplit
RUNSTAT=$TOP/$BUILD/tests/tools/runstat
OUT=$TOP/bench/results
mkdir -p "$OUT"
W=$(mktemp -d /tmp/pb-bench.XXXXXX)
trap 'rm -rf "$W"' EXIT
mkdir -p "$W/keys" "$W/m30" "$W/mq"

"$KEYSPLIT" /usr/share/keyrings/debian-keyring.gpg "$W/keys" >"$W/all.txt"

mail() {	# mail N KEYFILE... > FILE
	n=$1; shift
	printf 'From: pgp-public-keys@pks.example\nTo: pgp-public-keys@bridge.example\n'
	printf 'Subject: incremental\nMessage-ID: <bench-%s@pks.example>\n' "$n"
	printf 'X-KeyServer-Sent: pgp-public-keys@pks.example\n\n'
	cat "$@"
}

# ~30 KB keys: armored size between 24 and 36 KB.
i=0
while read -r fpr f; do
	sz=$(wc -c <"$f")
	[ "$sz" -ge 24000 ] && [ "$sz" -le 36000 ] || continue
	i=$((i + 1))
	mail "s$i" "$f" >"$W/m30/$i.eml"
	[ $i -ge 40 ] && break
done <"$W/all.txt"
N30=$i
# Mails for the throughput run: every key, cycled to 400 mails with a
# fresh spool per backend, so each mail is new.
i=0
while read -r fpr f; do
	i=$((i + 1))
	mail "q$i" "$f" >"$W/mq/$i.eml"
	[ $i -ge 400 ] && break
done <"$W/all.txt"
NQ=$i
# The 16 MB mail: as many keys as fit in 16 MB of armor in one block.
: >"$W/big.bin"
total=0
while read -r fpr f; do
	sz=$(wc -c <"$f")
	[ $((total + sz)) -gt $((15 * 1024 * 1024 + 700000)) ] && break
	total=$((total + sz))
	echo "$f"
done <"$W/all.txt" >"$W/big.list"
# shellcheck disable=SC2046
mail big $(cat "$W/big.list") >"$W/big.eml"
BIGSZ=$(wc -c <"$W/big.eml")

setup() {	# setup NAME KEYDB -> config path
	d=$W/$1
	rm -rf "$d"
	mkdir -p "$d/spool" "$d/sks/messages"
	chmod 700 "$d/spool"
	printf 'spool_dir: %s/spool\nkeydb: %s\nmax_message_size: 17M\n' "$d" "$2" >"$d/conf"
	echo "$d/conf"
}

median() { sort -n | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }

one_key() {	# one_key NAME KEYDB
	conf=$(setup "$1" "$2")
	: >"$W/$1.times"
	for m in "$W"/m30/*.eml; do
		"$RUNSTAT" -i "$m" "$PB" -c "$conf" ingest >>"$W/$1.times"
	done
	# runstat: wall_us cpu_us (children included) maxrss_kb status
	wall=$(awk '{printf "%.1f\n", $1/1000}' "$W/$1.times" | median)
	cpu=$(awk '{printf "%.1f\n", $2/1000}' "$W/$1.times" | median)
	rss=$(awk '{print $3}' "$W/$1.times" | median)
	maxrss=$(awk '{print $3}' "$W/$1.times" | sort -n | tail -1)
	printf '%-34s %8s ms %8s ms %8s KB %8s KB\n' "30 KB one-key mail, $1" "$wall" "$cpu" "$rss" "$maxrss"
	echo "\"one_key_$1\": {\"mails\": $N30, \"wall_ms_median\": $wall, \"cpu_ms_median\": $cpu, \"rss_kb_median\": $rss, \"rss_kb_max\": $maxrss}," >>"$W/json"
}

pending() { "$PB" -c "$1" queue list --json | wc -l; }

# throughput NAME KEYDB - 4 ingests at a time, with the runner running as
# it does in production (the ingests hand their entries to it when the
# inline slot is taken); also how long until everything is delivered.
throughput() {
	conf=$(setup "tp-$1" "$2")
	"$PB" -c "$conf" run >"$W/tp-$1/runner.log" 2>&1 &
	runner=$!
	while [ ! -p "$W/tp-$1/spool/wakeup" ]; do sleep 0.1; done
	start=$(date +%s.%N)
	ls "$W"/mq/*.eml | xargs -P 4 -I{} sh -c '"$1" -c "$2" ingest < "$3"' _ "$PB" "$conf" {}
	end=$(date +%s.%N)
	while [ "$(pending "$conf")" -gt 0 ]; do sleep 0.1; done
	delivered=$(date +%s.%N)
	kill "$runner"
	wait "$runner" || true
	dsecs=$(echo "$start $delivered" | awk '{printf "%.2f", $2-$1}')
	done_n=$("$PB" -c "$conf" queue stats --json | python3 -c 'import json,sys; d=json.load(sys.stdin)["inbound"]; print(sum(d.values()))')
	rate=$(echo "$NQ $start $end" | awk '{printf "%.0f", $1/($3-$2)}')
	secs=$(echo "$start $end" | awk '{printf "%.2f", $2-$1}')
	printf '%-34s %8s mails/s (%s mails in %s s, all %s delivered after %s s)\n' "4 concurrent ingests, $1" "$rate" "$NQ" "$secs" "$done_n" "$dsecs"
	echo "\"throughput_4way_$1\": {\"mails\": $NQ, \"seconds\": $secs, \"mails_per_s\": $rate, \"all_delivered_s\": $dsecs}," >>"$W/json"
}

echo "pksbridge ingest benchmark on $(nproc) cores, $(uname -r), $(date -u +%Y-%m-%dT%H:%MZ)"
printf '%-34s %11s %11s %11s %11s\n' "" "wall (p50)" "CPU (p50)" "RSS (p50)" "RSS (max)"
: >"$W/json"
one_key gnupg "gnupg:$W/gnupg/keyring"
one_key sks "sks:$W/sks/sks"
conf=$(setup big "sks:$W/big/sks")
"$RUNSTAT" -i "$W/big.eml" "$PB" -c "$conf" ingest >"$W/big.t"
read -r bwu bcu bm _ <"$W/big.t"
bw=$(echo "$bwu" | awk '{printf "%.2f", $1/1e6}')
bu=$(echo "$bcu" | awk '{printf "%.2f", $1/1e6}')
bs=0
nbig=$(wc -l <"$W/big.list")
state=$("$PB" -c "$conf" queue list --all --json | python3 -c 'import json,sys; print(",".join(json.loads(l)["state"] for l in sys.stdin))')
ratio=$(echo "$bm $BIGSZ" | awk '{printf "%.2f", $1*1024/$2}')
printf '%-34s %8s s  %8s s  %8s KB  = %s x the mail (%s keys, %s)\n' "16 MB mail ($BIGSZ bytes), sks" "$bw" \
	"$(echo "$bu $bs" | awk '{print $1+$2}')" "$bm" "$ratio" "$nbig" "$state"
echo "\"big_mail\": {\"bytes\": $BIGSZ, \"keys\": $nbig, \"wall_s\": $bw, \"cpu_s\": $(echo "$bu $bs" | awk '{print $1+$2}'), \"rss_kb\": $bm, \"rss_ratio\": $ratio, \"state\": \"$state\"}," >>"$W/json"
throughput sks "sks:$W/tp-sks/sks"
throughput gnupg "gnupg:$W/tp-gnupg/keyring"
{
	echo "{"
	echo "\"machine\": {\"cores\": $(nproc), \"kernel\": \"$(uname -r)\"},"
	cat "$W/json"
	echo "\"date\": \"$(date -u +%Y-%m-%dT%H:%MZ)\""
	echo "}"
} >"$OUT/ingest.json"
echo "written: bench/results/ingest.json"
