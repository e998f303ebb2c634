#!/usr/bin/env python3
"""pgpgen - OpenPGP v4 test keys built from RFC 4880 with python3-cryptography.

The test suites need keys that no other mail of a run carries (so that a
repeated key can never hide a lost mail) and, for the key policy, keys shaped
as attackers shaped them (floods of certifications, forged user IDs).  GnuPG
takes about a second per generated key; Ed25519 signing here takes tens of
microseconds, so thousands of keys cost seconds.

Every key is derived from a seed string, so a run can be repeated exactly:
the same seed gives the same key and the same fingerprint.

    pgpgen.py unique --count N --out DIR [--prefix P] [--time T]

writes DIR/<i>.asc for i = 1..N, each one armored key (an Ed25519 primary key,
one user ID "pgpgen P-i <P-i@pgpgen.test>" with a valid self-signature) and
prints "FPR FILE" per key, as tests/tools/keysplit does.

As a library (import pgpgen): Key, uid_packet, self_cert, certify, armor,
and the packet and subpacket encoders, for tests that build stranger keys.
"""

import argparse
import hashlib
import os
import struct
import sys

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

ED25519_OID = bytes.fromhex("2b06010401da470f01")
PK_EDDSA = 22
HASH_SHA256 = 8
# RFC 4880 5.2.1 signature types used here.
SIG_GENERIC_CERT = 0x10
SIG_POSITIVE_CERT = 0x13
SIG_KEY_REVOCATION = 0x20
SIG_CERT_REVOCATION = 0x30
# RFC 4880 5.2.3.1 subpacket types used here.
SUB_CREATION = 2
SUB_KEYSERVER_PREFS = 23
SUB_PRIMARY_UID = 25
SUB_KEY_FLAGS = 27
SUB_REASON = 29
SUB_ISSUER = 16
SUB_ISSUER_FPR = 33
# Packet tags.
TAG_SIGNATURE = 2
TAG_PUBLIC_KEY = 6
TAG_USER_ID = 13
TAG_PUBLIC_SUBKEY = 14
TAG_USER_ATTRIBUTE = 17

DEFAULT_TIME = 1700000000  # 2023-11-14: fixed, so keys are reproducible


def packet(tag, body):
    """One packet with a new-format header (RFC 4880 4.2.2)."""
    n = len(body)
    if n < 192:
        hdr = bytes([n])
    elif n < 8384:
        n -= 192
        hdr = bytes([(n >> 8) + 192, n & 0xFF])
    else:
        hdr = b"\xff" + struct.pack(">I", n)
    return bytes([0xC0 | tag]) + hdr + body


def mpi(b):
    """An MPI of the big-endian unsigned integer in b (leading zeros cut)."""
    b = b.lstrip(b"\0")
    bits = 0 if not b else (len(b) - 1) * 8 + b[0].bit_length()
    return struct.pack(">H", bits) + b


def subpacket(typ, data, critical=False):
    n = len(data) + 1
    if n < 192:
        hdr = bytes([n])
    elif n < 8384:
        m = n - 192
        hdr = bytes([(m >> 8) + 192, m & 0xFF])
    else:
        hdr = b"\xff" + struct.pack(">I", n)
    return hdr + bytes([typ | (0x80 if critical else 0)]) + data


class Key:
    """An Ed25519 key (primary or subkey) derived from a seed string."""

    def __init__(self, seed, created=DEFAULT_TIME):
        digest = hashlib.sha256(("pgpgen:" + seed).encode()).digest()
        self.sk = ed25519.Ed25519PrivateKey.from_private_bytes(digest)
        self.pk = self.sk.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        self.created = created
        self.body = (bytes([4]) + struct.pack(">I", created) +
                     bytes([PK_EDDSA, len(ED25519_OID)]) + ED25519_OID +
                     mpi(b"\x40" + self.pk))
        self.fpr = hashlib.sha1(self.hashed_material()).digest()

    def hashed_material(self):
        """The key as it enters a signature hash (0x99, length, body)."""
        return b"\x99" + struct.pack(">H", len(self.body)) + self.body

    def fingerprint(self):
        return self.fpr.hex().upper()

    def keyid(self):
        return self.fpr[-8:]

    def packet(self, tag=TAG_PUBLIC_KEY):
        return packet(tag, self.body)

    def sign(self, sigtype, material, hashed=b"", unhashed=None,
             created=None, break_sig=False):
        """A v4 signature packet by this key over material (the bytes that
        precede the signature's own fields in the hash, RFC 4880 5.2.4).
        hashed is extra hashed subpackets; a creation time and the issuer
        fingerprint are always added.  break_sig flips a bit of the
        signature value, for a signature that cannot verify."""
        when = self.created if created is None else created
        hsub = (subpacket(SUB_CREATION, struct.pack(">I", when)) +
                subpacket(SUB_ISSUER_FPR, b"\x04" + self.fpr) + hashed)
        head = (bytes([4, sigtype, PK_EDDSA, HASH_SHA256]) +
                struct.pack(">H", len(hsub)) + hsub)
        trailer = b"\x04\xff" + struct.pack(">I", len(head))
        h = hashlib.sha256(material + head + trailer).digest()
        sig = bytearray(self.sk.sign(h))
        if break_sig:
            sig[5] ^= 0x01
        usub = (subpacket(SUB_ISSUER, self.keyid()) if unhashed is None
                else unhashed)
        body = (head + struct.pack(">H", len(usub)) + usub + h[:2] +
                mpi(bytes(sig[:32])) + mpi(bytes(sig[32:])))
        return packet(TAG_SIGNATURE, body)


def uid_material(uid):
    return b"\xb4" + struct.pack(">I", len(uid)) + uid


def uid_packet(uid):
    return packet(TAG_USER_ID, uid)


def self_cert(key, uid, no_modify=False, extra=b"", break_sig=False,
              created=None):
    """A positive self-certification of uid (bytes) by key: sign and certify
    flags; no_modify sets the keyserver no-modify flag as GnuPG 2.2 does."""
    hashed = subpacket(SUB_KEY_FLAGS, b"\x03")
    if no_modify:
        hashed += subpacket(SUB_KEYSERVER_PREFS, b"\x80")
    return key.sign(SIG_POSITIVE_CERT, key.hashed_material() +
                    uid_material(uid), hashed + extra, break_sig=break_sig,
                    created=created)


def certify(signer, key, uid, created=None, break_sig=False):
    """A third-party generic certification of key's uid by signer."""
    return signer.sign(SIG_GENERIC_CERT, key.hashed_material() +
                       uid_material(uid), created=created,
                       break_sig=break_sig)


def crc24(data):
    crc = 0xB704CE
    for byte in data:
        crc ^= byte << 16
        for _ in range(8):
            crc <<= 1
            if crc & 0x1000000:
                crc ^= 0x1864CFB
    return crc & 0xFFFFFF


def armor(data, kind="PUBLIC KEY BLOCK"):
    import base64
    b64 = base64.b64encode(data).decode()
    lines = [b64[i:i + 64] for i in range(0, len(b64), 64)]
    crc = base64.b64encode(struct.pack(">I", crc24(data))[1:]).decode()
    return ("-----BEGIN PGP %s-----\n\n%s\n=%s\n-----END PGP %s-----\n"
            % (kind, "\n".join(lines), crc, kind))


def simple_key(seed, created=DEFAULT_TIME, no_modify=False):
    """(Key, binary key): a primary key with one self-signed user ID named
    after the seed."""
    key = Key(seed, created)
    uid = ("pgpgen %s <%s@pgpgen.test>" % (seed, seed)).encode()
    return key, key.packet() + uid_packet(uid) + self_cert(
        key, uid, no_modify=no_modify)


def cmd_unique(a):
    os.makedirs(a.out, exist_ok=True)
    out = []
    for i in range(1, a.count + 1):
        key, data = simple_key("%s-%d" % (a.prefix, i), a.time)
        path = os.path.join(a.out, "%d.asc" % i)
        with open(path, "w") as f:
            f.write(armor(data))
        out.append("%s %s\n" % (key.fingerprint(), path))
    sys.stdout.write("".join(out))


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    u = sub.add_parser("unique", help="N distinct small keys, one per file")
    u.add_argument("--count", type=int, required=True)
    u.add_argument("--out", required=True)
    u.add_argument("--prefix", default="k")
    u.add_argument("--time", type=int, default=DEFAULT_TIME)
    u.set_defaults(fn=cmd_unique)
    a = p.parse_args()
    a.fn(a)


if __name__ == "__main__":
    main()
