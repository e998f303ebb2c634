#!/bin/sh
# tests/tools/shortid_collide.sh - make two valid, self-signed RSA keys
# whose 32-bit key IDs are equal (an evil32-style collision), as
# tests/data/keys/collide-c.asc and collide-d.asc were made.
#
#   sh tests/tools/shortid_collide.sh OUTDIR
#
# Writes OUTDIR/collide-c.asc and OUTDIR/collide-d.asc and prints their
# fingerprints.  Needs gpg (2.2) and python3; takes a few seconds.
#
# Why it is cheap: a v4 fingerprint is SHA-1 over the key packet, which
# holds the key's creation time, so one key pair gives a new fingerprint
# per second of creation time.  Sweeping 2^17 creation times of two key
# pairs gives about four pairs of equal 32-bit IDs (birthday bound).
# GnuPG then re-creates each key from the same key pair (Key-Grip) with
# the chosen time (Creation-Date) and signs it properly, so the keys are
# as valid as any.  The times lie in 2020 so that no clock finds them in
# the future.  gpg1 cannot use ed25519 keys, so the keys are RSA.
set -e
out=${1:?usage: shortid_collide.sh OUTDIR}
mkdir -p "$out"
out=$(cd "$out" && pwd)
home=$(mktemp -d)
trap 'gpgconf --homedir "$home" --kill gpg-agent 2>/dev/null; rm -rf "$home"' EXIT
chmod 700 "$home"
g() { gpg --homedir "$home" --batch --trust-model always --pinentry-mode loopback --passphrase '' "$@"; }
for n in c d; do
	g --quick-gen-key "seed $n <seed-$n@collide.test>" rsa2048 sign never 2>/dev/null
	g --export "seed-$n@collide.test" >"$home/$n.gpg"
	g --with-colons --with-keygrip --list-keys "seed-$n@collide.test" |
		awk -F: '$1 == "grp" { print $10; exit }' >"$home/$n.grip"
done
# The sweep: the first packet is the public key packet (old format,
# two-octet length, as gpg writes an RSA-2048 key).
python3 - "$home/c.gpg" "$home/d.gpg" >"$home/times" <<'PY'
import hashlib, struct, sys
def body(path):
    d = open(path, 'rb').read()
    assert d[0] & 0xC0 == 0x80 and d[0] & 3 == 1, "unexpected packet header"
    n = struct.unpack('>H', d[1:3])[0]
    return d[3:3 + n]
def tail(b, t):
    b = b[:1] + struct.pack('>I', t) + b[5:]
    return hashlib.sha1(b'\x99' + struct.pack('>H', len(b)) + b).digest()[-4:]
c, d = body(sys.argv[1]), body(sys.argv[2])
base, n = 1577836800, 1 << 17
seen = {tail(c, t): t for t in range(base, base + n)}
for t in range(base, base + n):
    k = tail(d, t)
    if k in seen:
        print(seen[k], t)
        break
else:
    sys.exit("no collision found; widen the sweep")
PY
read tc td <"$home/times"
for spec in "c C $tc" "d D $td"; do
	set -- $spec
	g --gen-key 2>/dev/null <<GEN
Key-Type: rsa
Key-Length: 2048
Key-Grip: $(cat "$home/$1.grip")
Key-Usage: sign
Name-Real: Collide $2 short
Name-Email: $1-short@collide.test
Creation-Date: seconds=$3
Expire-Date: 0
%no-protection
%commit
GEN
	g --armor --export "$1-short@collide.test" >"$out/collide-$1.asc"
	g --with-colons --list-keys "$1-short@collide.test" |
		awk -F: -v n="collide-$1" '$1 == "fpr" { print n "\t" $10; exit }'
done
