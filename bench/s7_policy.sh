#!/bin/sh
# bench/s7_policy.sh - scenario 7, the key policy's cost (SPEC "Key
# policy", Cost: an ordinary key adds at most 1 ms; a key of 50,000
# certifications takes at most 1 s of CPU and 64 MB of memory):
#
#   debian     every key of Debian's keyring judged in process
#              (tests/tools/policy_bench keyring): CPU per key, the
#              fastest of BENCH_POLICY_REPS runs (3), mean and
#              percentiles
#   flood      a key of BENCH_POLICY_CERTS (50,000; quick: 5,000)
#              third-party certifications from as many throwaway Ed25519
#              keys (tests/tools/pgpgen.py), three ways: the owner's
#              self-signature sets no-modify (owner: all dropped), it
#              does not (owner: the newest 100 kept), and the owner
#              attested 100 of them (approved: a 1PA3PC digest per
#              certification).  For each: the judgement alone
#              (policy_bench one: its CPU, the process's peak RSS), and
#              the whole command an operator runs, `pksbridge policy
#              filter` on the armored key (runstat: CPU and peak RSS,
#              armor decoding and output included).
#
# Raw figures: $RAW/debian.json, $RAW/<flood>-judge.json,
# $RAW/<flood>-cli.txt (runstat: wall_us cpu_us maxrss_kb status),
# $RAW/floods ("NAME CERTS BYTES").  No SKS runs here.
. "$(dirname "$0")/lib.sh"

if [ "$BENCH_QUICK" = 1 ]; then CERTS=${BENCH_POLICY_CERTS:-5000}; else CERTS=${BENCH_POLICY_CERTS:-50000}; fi
REPS=${BENCH_POLICY_REPS:-3}
PBENCH=$TOP/$BUILD/tests/tools/policy_bench
GEN="python3 $TOP/tests/tools/pgpgen.py"
[ -x "$PBENCH" ] || { not_ok "missing $PBENCH (make test-bins)"; done_testing; }

if [ -r /usr/share/keyrings/debian-keyring.gpg ]; then
	check "policy: every Debian key judged" sh -c \
		"'$PBENCH' keyring /usr/share/keyrings/debian-keyring.gpg $REPS >'$RAW/debian.json'"
	say "debian: $(cat "$RAW/debian.json")"
else
	not_ok "policy: /usr/share/keyrings/debian-keyring.gpg missing (apt-get install debian-keyring)"
fi

printf 'log: stderr\nmax_key_size: 64M\n' >"$TEST_TMP/pb.conf"
printf 'log: stderr\nmax_key_size: 64M\nthird_party_certs: approved\n' >"$TEST_TMP/approved.conf"
: >"$RAW/floods"
for f in nomodify open attested; do
	case $f in
	nomodify) $GEN shape flood --seed bench-nomod --certs "$CERTS" --no-modify \
			--out "$TEST_TMP/$f.asc" 2>/dev/null; mode=owner; conf=pb.conf ;;
	open) $GEN shape flood --seed bench-open --certs "$CERTS" \
			--out "$TEST_TMP/$f.asc" 2>/dev/null; mode=owner; conf=pb.conf ;;
	attested) $GEN shape attested --seed bench-att --certs "$CERTS" --approve 100 \
			--out "$TEST_TMP/$f.asc" 2>/dev/null; mode=approved; conf=approved.conf ;;
	esac
	echo "$f $CERTS $(wc -c <"$TEST_TMP/$f.asc")" >>"$RAW/floods"
	check "policy: $f flood judged" sh -c \
		"'$PBENCH' one '$TEST_TMP/$f.asc' $mode >'$RAW/$f-judge.json'"
	# The kept key to a file, runstat's figures to the raw file.
	"$RUNSTAT" sh -c "exec '$PB' -c '$TEST_TMP/$conf' policy filter \
		'$TEST_TMP/$f.asc' >'$TEST_TMP/$f.out'" >"$RAW/$f-cli.txt" 2>"$TEST_TMP/$f.err"
	check "policy: $f: pksbridge policy filter exits 0" \
		awk '$4 != 0 { exit 1 }' "$RAW/$f-cli.txt"
	say "$f ($CERTS certifications, $(wc -c <"$TEST_TMP/$f.asc") bytes armored): judge $(cat "$RAW/$f-judge.json"); cli $(cat "$RAW/$f-cli.txt") (wall_us cpu_us maxrss_kb status)"
done
done_testing
