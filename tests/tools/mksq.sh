#!/bin/sh
# tests/tools/mksq.sh OUTDIR - remake the 1PA3PC fixtures of
# tests/data/policy with the real `sq key attest-certifications` (Debian
# 12's sq 0.27) and GnuPG, as a key owner would:
#
#   sq-attested.asc   a key made by sq (no no-modify flag), certified by
#                     bob (sq, Ed25519), carol (sq, RSA-3072) and dave
#                     (gpg, whose certification carries its issuer in the
#                     unhashed area); attested by sq twice (first bob and
#                     carol, then all three); then erin (gpg) certifies,
#                     unattested.  The newest attestation approves bob,
#                     carol and dave; erin is not approved.
#   sq-nomodify.asc   a pgpgen key whose self-signature sets no-modify
#                     (as GnuPG 2.2 does), ten pgpgen certifications, sq
#                     attests the first four (it is given only those), the
#                     other six are added afterwards.
#   sq-certifiers.asc the certifiers' public keys (so gpg --check-sigs can
#                     tell good from bad in the tests).
#
# The fixtures are committed (sq's signatures are salted and dated, so a
# remake differs byte for byte; what the tests check does not).
set -eu
out=$1
here=$(cd "$(dirname "$0")" && pwd)
w=$(mktemp -d "${TMPDIR:-/tmp}/mksq.XXXXXX")
trap 'rm -rf "$w"' EXIT
export GNUPGHOME="$w/gnupg"
mkdir -m 700 "$GNUPGHOME"
sq_() { sq "$@" 2>/dev/null; }

sq_ key generate --userid "<alice@sq.test>" --export "$w/alice.key"
sq_ key generate --userid "<bob@sq.test>" --export "$w/bob.key"
sq_ key generate -c rsa3k --userid "<carol@sq.test>" --export "$w/carol.key"
for n in dave erin; do
	gpg -q --batch --passphrase '' --quick-gen-key "$n <$n@gpg.test>" \
		ed25519 sign never 2>/dev/null
done
sq_ key extract-cert "$w/alice.key" >"$w/alice.cert"
sq_ certify "$w/bob.key" "$w/alice.cert" "<alice@sq.test>" >"$w/a1"
sq_ certify "$w/carol.key" "$w/a1" "<alice@sq.test>" >"$w/a2"
sq_ keyring merge "$w/alice.key" "$w/a2" >"$w/a3"
sq_ key attest-certifications "$w/a3" >"$w/a4"	# bob, carol
gpg -q --batch --import "$w/alice.cert" >/dev/null 2>&1
fpr=$(sq_ inspect "$w/alice.cert" | sed -n 's/^ *Fingerprint: *//p' | head -n 1)
gpg -q --batch --yes -u dave@gpg.test --quick-sign-key "$fpr" >/dev/null 2>&1
gpg -q --batch --export "$fpr" >"$w/dave.cert"
sq_ keyring merge "$w/a4" "$w/dave.cert" >"$w/a5"
sq_ key attest-certifications "$w/a5" >"$w/a6"	# bob, carol, dave
gpg -q --batch --yes -u erin@gpg.test --quick-sign-key "$fpr" >/dev/null 2>&1
gpg -q --batch --export "$fpr" >"$w/erin.cert"
sq_ keyring merge "$w/a6" "$w/erin.cert" >"$w/a7"
sq_ key extract-cert "$w/a7" >"$out/sq-attested.asc"

# The no-modify key: pgpgen's secret key, four certifications attested.
python3 "$here/pgpgen.py" secret --seed nomod --no-modify >"$w/n.key"
python3 -c '
import sys
sys.path.insert(0, sys.argv[1])
import pgpgen as g
key = g.Key("nomod")
uid = g.seed_uid("nomod")
key2, data = g.simple_key("nomod", no_modify=True)
certs = [g.certify(g.Key("nomod-cert-%d" % i), key, uid,
                   created=g.DEFAULT_TIME + 1 + i) for i in range(10)]
open(sys.argv[2] + "/first4", "w").write(g.armor(data + b"".join(certs[:4])))
open(sys.argv[2] + "/last6", "w").write(g.armor(key.packet() + g.uid_packet(uid) + b"".join(certs[4:])))
' "$here" "$w"
sq_ keyring merge "$w/n.key" "$w/first4" >"$w/n1"
sq_ key attest-certifications "$w/n1" >"$w/n2"
sq_ key extract-cert "$w/n2" >"$w/n3"
sq_ keyring merge "$w/n3" "$w/last6" >"$out/sq-nomodify.asc"

{ for n in bob carol; do sq_ key extract-cert "$w/$n.key"; done
  gpg -q --batch --armor --export dave@gpg.test erin@gpg.test; } >"$out/sq-certifiers.asc"
echo "mksq: wrote $out/sq-attested.asc $out/sq-nomodify.asc $out/sq-certifiers.asc"
