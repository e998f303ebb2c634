#!/bin/sh
# bench/s3_filter.sh - scenario 3, filter cost per mail: wall time, CPU
# (user + system, children such as gpg included) and peak RSS of one
# filter run, as tests/tools/runstat measures them, for mails of about
# 1 KB, 30 KB, 1 MB and 16 MB:
#
#   native     /usr/lib/sks/sks_add_mail DIR (copies the mail into DIR's
#              messages/; SKS parses it later, in its own process)
#   pksbridge  pksbridge ingest, keydb sks:DIR: parse, validate with gpg,
#              commit with fsync, write the keys into DIR's messages/
#
# Both hand the keys to the same place, a messages/ directory (no SKS
# runs: this measures the filters alone).  Each pksbridge run gets a
# fresh spool, primed with one small mail first, so that every run sees
# new keys and none pays for creating the Berkeley DB environment.
# The mails: 1 KB, an ed25519 key made here (Debian's smallest key is
# 1.7 KB armored); 30 KB, one Debian key of 24-36 KB; 1 MB and 16 MB,
# as many Debian keys as fit, one armor block per key.
#
# Knobs: BENCH_FILTER_REPS runs per size and filter (5; quick: 2), the
# 16 MB mail half as many (at least 1).  Raw figures: $RAW/sizes
# ("LABEL BYTES KEYS") and $RAW/<label>-<filter>.txt (runstat lines:
# wall_us cpu_us maxrss_kb status).
. "$(dirname "$0")/lib.sh"

if [ "$BENCH_QUICK" = 1 ]; then REPS=${BENCH_FILTER_REPS:-2}; else REPS=${BENCH_FILTER_REPS:-5}; fi
BIGREPS=$(( (REPS + 1) / 2 ))
G=$TEST_TMP/gnupg-gen
mkdir -p "$G" "$TEST_TMP/mail" && chmod 700 "$G"

gen_key() {	# gen_key NAME > armored key
	gpg --homedir "$G" --batch -q --passphrase '' --pinentry-mode loopback \
		--quick-gen-key "$1 <$1@bench.example>" ed25519 sign never 2>/dev/null &&
		gpg --homedir "$G" --batch -q --armor --export "$1@bench.example"
}
gen_key prime >"$TEST_TMP/prime.asc" && gen_key small >"$TEST_TMP/small.asc" || {
	not_ok "gpg makes two ed25519 keys"
	done_testing
}
pks_mail "$TEST_TMP/mail/prime.eml" "prime@pks.example" "$TEST_TMP/prime.asc"
pks_mail "$TEST_TMP/mail/1K.eml" "1k@pks.example" "$TEST_TMP/small.asc"

bench_keys >"$TEST_TMP/all.list"
f30=$(while read -r fpr f; do
	sz=$(wc -c <"$f")
	[ "$sz" -ge 24000 ] && [ "$sz" -le 36000 ] && { echo "$f"; break; }
done <"$TEST_TMP/all.list")
pks_mail "$TEST_TMP/mail/30K.eml" "30k@pks.example" "$f30"

fill() {	# fill LABEL BYTES - a mail of as many keys as fit in BYTES
	_total=0
	while read -r fpr f; do
		_sz=$(wc -c <"$f")
		[ $((_total + _sz)) -gt "$2" ] && continue
		_total=$((_total + _sz))
		echo "$f"
		[ $((_total + 1700)) -gt "$2" ] && break
	done <"$TEST_TMP/all.list" >"$TEST_TMP/$1.list"
	# shellcheck disable=SC2046
	pks_mail "$TEST_TMP/mail/$1.eml" "$1@pks.example" $(cat "$TEST_TMP/$1.list")
}
fill 1M $((1024 * 1024 - 1000))
fill 16M $((16 * 1024 * 1024 - 1000))

: >"$RAW/sizes"
for s in 1K 30K 1M 16M; do
	k=$(grep -c -- '-----BEGIN PGP PUBLIC KEY BLOCK-----' "$TEST_TMP/mail/$s.eml")
	echo "$s $(wc -c <"$TEST_TMP/mail/$s.eml") $k" >>"$RAW/sizes"
done
say "mails (label bytes keys): $(tr '\n' ';' <"$RAW/sizes")"

n=0
for s in 1K 30K 1M 16M; do
	reps=$REPS
	[ "$s" = 16M ] && reps=$BIGREPS
	r=0
	while [ $r -lt "$reps" ]; do
		r=$((r + 1))
		n=$((n + 1))
		d=$TEST_TMP/run$n
		mkdir -p "$d/native/messages" "$d/sks/messages"
		"$RUNSTAT" -i "$TEST_TMP/mail/$s.eml" "$SKS_ADD_MAIL" "$d/native" \
			>>"$RAW/$s-native.txt" 2>/dev/null
		bench_pb_conf "$d/conf" "$d/spool" "sks:$d/sks" "max_message_size: 17M"
		"$PB" -c "$d/conf" ingest <"$TEST_TMP/mail/prime.eml" 2>/dev/null
		"$RUNSTAT" -i "$TEST_TMP/mail/$s.eml" "$PB" -c "$d/conf" ingest \
			>>"$RAW/$s-pksbridge.txt" 2>"$d/ingest.err"
		"$PB" -c "$d/conf" queue list --all --json >"$d/list.json"
		# What became of the mail: the keys must have reached messages/.
		echo "$s $(grep -c '"state":"done"' "$d/list.json") $(ls "$d/sks/messages" | wc -l)" \
			>>"$RAW/outcome"
		rm -rf "$d"
	done
	say "$s: native $(awk '{ printf "%s ", $1 }' "$RAW/$s-native.txt")us; pksbridge $(awk '{ printf "%s ", $1 }' "$RAW/$s-pksbridge.txt")us (wall)"
done
check "every filter run exited 0" sh -c "cat '$RAW'/*.txt | awk '\$4 != 0 { exit 1 }'"
done_testing
