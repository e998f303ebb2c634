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

    pgpgen.py shape NAME [--out FILE] [--binary] [--seed S] [options]

writes one key shaped as attackers shaped them (the key policy's tests,
tests/openpgp/test_policy.c, and pksbridge policy check), armored unless
--binary, and prints its fingerprint.  NAME is one of:

    flood         --certs N third-party certifications, each by a throwaway
                  key of its own, on one user ID ([--no-modify]: the owner's
                  self-signature sets the keyserver no-modify flag, as
                  GnuPG 2.2 does)
    forged-uid    a valid user ID, and another one whose self-signature
                  does not verify (someone else's name appended)
    big-uid       a valid user ID, and one of --size bytes (1500)
    photo         a valid user ID, and a photo ID (user attribute) of
                  --size bytes (20000) with a valid self-signature
    revoked       a key revocation with --reason R (none: no reason
                  subpacket; 0 no reason, 1 superseded, 2 compromised,
                  3 retired, 32 user ID invalid) and one certification
    subkeys       an encryption subkey, a signing subkey with a valid
                  back-signature, one without, one with a broken one
    attested      --certs N certifications, the first --approve M of them
                  attested by the owner (1PA3PC, type 0x16, computed here
                  as Sequoia does)
    broken        valid self-signature, plus third-party certifications
                  and a key revocation whose signatures do not verify
    future        a self-signature and a certification dated --days
                  (2) days ahead of --time
    forged-flood  a valid user ID and --certs more, each with a
                  self-signature that hashes right but does not verify
    algo          one key of --algo A (rsa2048, rsa3072, dsa2048, dsa1024,
                  p256, p384, p521, brainpool256, ed25519legacy, ed25519,
                  ed448), self-signed with --hash H (sha256; md5, sha1,
                  ripemd160, sha224, sha384, sha512, sha3-256, sha3-512),
                  [--break] its self-signature broken

    pgpgen.py shapes --out DIR      every shape above, DIR/NAME.gpg
    pgpgen.py algos --out DIR       a good and a broken key per algorithm
                                    and hash, DIR/ALGO-HASH-good|bad.gpg

    pgpgen.py secret --seed S [--binary] [--no-modify]

writes the Ed25519 key of seed S (one user ID, its self-signature as
simple_key makes it) as an unprotected secret key, for `sq key
attest-certifications` (the tests' reference for 1PA3PC).

As a library (import pgpgen): Key and the other algorithms' keys,
uid_packet, self_cert, certify, revoke_key, revoke_uid, bind_subkey,
attest, attest_digest, photo_packet, the shape builders, armor, and the
packet and subpacket encoders.
"""

import argparse
import hashlib
import os
import struct
import sys

from cryptography.hazmat.primitives import hashes as chashes
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519
from cryptography.hazmat.primitives.asymmetric import rsa, utils

ED25519_OID = bytes.fromhex("2b06010401da470f01")
PK_RSA = 1
PK_DSA = 17
PK_ECDSA = 19
PK_EDDSA = 22
PK_ED25519 = 27
PK_ED448 = 28
HASH_SHA256 = 8
# RFC 9580 9.5: hash ids, their hashlib names and the DER prefix of an RSA
# PKCS#1 v1.5 signature.
HASHES = {
    1: ("md5", "3020300c06082a864886f70d020505000410"),
    2: ("sha1", "3021300906052b0e03021a05000414"),
    3: ("ripemd160", "3021300906052b2403020105000414"),
    8: ("sha256", "3031300d060960864801650304020105000420"),
    9: ("sha384", "3041300d060960864801650304020205000430"),
    10: ("sha512", "3051300d060960864801650304020305000440"),
    11: ("sha224", "302d300d06096086480165030402040500041c"),
    12: ("sha3_256", "3031300d060960864801650304020805000420"),
    14: ("sha3_512", "3051300d060960864801650304020a05000440"),
}
HASH_IDS = {"md5": 1, "sha1": 2, "ripemd160": 3, "sha256": 8, "sha384": 9,
            "sha512": 10, "sha224": 11, "sha3-256": 12, "sha3-512": 14}
CURVES = {  # name: (OID, cryptography curve, hash for cryptography)
    "p256": ("2a8648ce3d030107", ec.SECP256R1),
    "p384": ("2b81040022", ec.SECP384R1),
    "p521": ("2b81040023", ec.SECP521R1),
    "brainpool256": ("2b2403030208010107", ec.BrainpoolP256R1),
}
# RFC 4880 5.2.1 signature types used here.
SIG_GENERIC_CERT = 0x10
SIG_POSITIVE_CERT = 0x13
SIG_ATTESTATION = 0x16
SIG_SUBKEY_BINDING = 0x18
SIG_PRIMARY_BINDING = 0x19
SIG_DIRECT_KEY = 0x1F
SIG_KEY_REVOCATION = 0x20
SIG_SUBKEY_REVOCATION = 0x28
SIG_CERT_REVOCATION = 0x30
# RFC 4880 5.2.3.1 subpacket types used here.
SUB_CREATION = 2
SUB_KEYSERVER_PREFS = 23
SUB_PRIMARY_UID = 25
SUB_KEY_FLAGS = 27
SUB_REASON = 29
SUB_ISSUER = 16
SUB_EMBEDDED_SIG = 32
SUB_ISSUER_FPR = 33
SUB_ATTESTED_CERTS = 37
# Packet tags.
TAG_SIGNATURE = 2
TAG_SECRET_KEY = 5
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
    """An Ed25519 key (primary or subkey, algorithm 22, the form GnuPG 2.2
    makes) derived from a seed string."""

    algo = PK_EDDSA

    def __init__(self, seed, created=DEFAULT_TIME):
        digest = hashlib.sha256(("pgpgen:" + seed).encode()).digest()
        self.seed = digest
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

    def secret_body(self):
        """The unprotected secret key packet body (RFC 4880 5.5.3): the
        public part, S2K usage 0, the secret MPI, its checksum."""
        sec = mpi(self.seed)
        return (self.body + b"\x00" + sec +
                struct.pack(">H", sum(sec) & 0xFFFF))

    def fields(self, digest, break_sig=False):
        """The algorithm-specific signature fields over digest."""
        sig = bytearray(self.sk.sign(digest))
        if break_sig:
            sig[5] ^= 0x01
        return mpi(bytes(sig[:32])) + mpi(bytes(sig[32:]))

    def sign(self, sigtype, material, hashed=b"", unhashed=None,
             created=None, break_sig=False, hash_algo=HASH_SHA256):
        """A v4 signature packet by this key over material (the bytes that
        precede the signature's own fields in the hash, RFC 4880 5.2.4).
        hashed is extra hashed subpackets; a creation time and the issuer
        fingerprint are always added.  break_sig flips a bit of the
        signature value, for a signature that cannot verify."""
        return packet(TAG_SIGNATURE, self.sig_body(
            sigtype, material, hashed, unhashed, created, break_sig,
            hash_algo))

    def sig_body(self, sigtype, material, hashed=b"", unhashed=None,
                 created=None, break_sig=False, hash_algo=HASH_SHA256):
        """The body of the packet sign() makes."""
        when = self.created if created is None else created
        hsub = (subpacket(SUB_CREATION, struct.pack(">I", when)) +
                subpacket(SUB_ISSUER_FPR, b"\x04" + self.fpr) + hashed)
        head = (bytes([4, sigtype, self.algo, hash_algo]) +
                struct.pack(">H", len(hsub)) + hsub)
        trailer = b"\x04\xff" + struct.pack(">I", len(head))
        h = hashlib.new(HASHES[hash_algo][0], material + head +
                        trailer).digest()
        usub = (subpacket(SUB_ISSUER, self.keyid()) if unhashed is None
                else unhashed)
        return (head + struct.pack(">H", len(usub)) + usub + h[:2] +
                self.fields(h, break_sig))


def _int_bytes(n):
    return n.to_bytes((n.bit_length() + 7) // 8, "big")


class AlgoKey(Key):
    """A key of another algorithm (RFC 9580 5.5.5), for verification
    tests: rsa2048, rsa3072, dsa1024, dsa2048, p256, p384, p521,
    brainpool256, ed25519legacy (as Key), ed25519 (27), ed448 (28).
    Random, not derived from a seed (RSA and DSA key generation cannot
    be seeded here); the signatures use the hash each sign() asks for."""

    def __init__(self, kind, created=DEFAULT_TIME):
        self.kind = kind
        self.created = created
        head = bytes([4]) + struct.pack(">I", created)
        if kind.startswith("rsa"):
            self.algo = PK_RSA
            self.sk = rsa.generate_private_key(65537, int(kind[3:]))
            pn = self.sk.public_key().public_numbers()
            key = mpi(_int_bytes(pn.n)) + mpi(_int_bytes(pn.e))
        elif kind.startswith("dsa"):
            self.algo = PK_DSA
            self.sk = dsa.generate_private_key(int(kind[3:]))
            pn = self.sk.public_key().public_numbers()
            pp = pn.parameter_numbers
            key = b"".join(mpi(_int_bytes(v)) for v in (pp.p, pp.q, pp.g,
                                                         pn.y))
        elif kind in CURVES:
            self.algo = PK_ECDSA
            oid, curve = CURVES[kind]
            oid = bytes.fromhex(oid)
            self.sk = ec.generate_private_key(curve())
            point = self.sk.public_key().public_bytes(
                serialization.Encoding.X962,
                serialization.PublicFormat.UncompressedPoint)
            key = bytes([len(oid)]) + oid + mpi(point)
        elif kind == "ed25519legacy":
            self.algo = PK_EDDSA
            self.sk = ed25519.Ed25519PrivateKey.generate()
            raw = self.sk.public_key().public_bytes(
                serialization.Encoding.Raw, serialization.PublicFormat.Raw)
            key = bytes([len(ED25519_OID)]) + ED25519_OID + mpi(b"\x40" + raw)
        elif kind in ("ed25519", "ed448"):
            self.algo = PK_ED25519 if kind == "ed25519" else PK_ED448
            self.sk = (ed25519.Ed25519PrivateKey.generate() if
                       kind == "ed25519" else ed448.Ed448PrivateKey.generate())
            key = self.sk.public_key().public_bytes(
                serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        else:
            raise ValueError("unknown algorithm %r" % kind)
        self.body = head + bytes([self.algo]) + key
        self.fpr = hashlib.sha1(self.hashed_material()).digest()

    def fields(self, digest, break_sig=False):
        if self.algo == PK_RSA:
            # PKCS#1 v1.5 by hand, so that any hash (RIPEMD-160, MD5)
            # can be used: 00 01 FF.. 00 DigestInfo.
            pv = self.sk.private_numbers()
            n = pv.public_numbers.n
            k = (n.bit_length() + 7) // 8
            t = bytes.fromhex(HASHES[self._hash][1]) + digest
            em = b"\x00\x01" + b"\xff" * (k - len(t) - 3) + b"\x00" + t
            sig = pow(int.from_bytes(em, "big"), pv.d, n)
            if break_sig:
                sig ^= 1 << 20
            return mpi(_int_bytes(sig))
        if self.algo in (PK_DSA, PK_ECDSA):
            if self.algo == PK_DSA:
                der = self.sk.sign(digest, utils.Prehashed(self._chash()))
            else:
                der = self.sk.sign(digest, ec.ECDSA(utils.Prehashed(
                    self._chash())))
            r, s_ = utils.decode_dss_signature(der)
            if break_sig:
                s_ ^= 1 << 5
            return mpi(_int_bytes(r)) + mpi(_int_bytes(s_))
        sig = bytearray(self.sk.sign(digest))
        if break_sig:
            sig[5] ^= 0x01
        if self.algo == PK_EDDSA:
            return mpi(bytes(sig[:32])) + mpi(bytes(sig[32:]))
        return bytes(sig)

    def sig_v3(self, sigtype, material, created=None, hash_algo=2,
               break_sig=False):
        """A v3 signature (RFC 4880 5.2.2), as PGP 2 to 6 made them: the
        hash covers the material (a user ID without its 0xB4 prefix),
        the type and the creation time; no subpackets."""
        when = self.created if created is None else created
        tail = bytes([sigtype]) + struct.pack(">I", when)
        self._hash = hash_algo
        h = hashlib.new(HASHES[hash_algo][0], material + tail).digest()
        return packet(TAG_SIGNATURE, bytes([3, 5]) + tail + self.keyid() +
                      bytes([self.algo, hash_algo]) + h[:2] +
                      self.fields(h, break_sig))

    def _chash(self):
        name = HASHES[self._hash][0]
        return {"sha1": chashes.SHA1, "sha224": chashes.SHA224,
                "sha256": chashes.SHA256, "sha384": chashes.SHA384,
                "sha512": chashes.SHA512, "md5": chashes.MD5,
                "sha3_256": chashes.SHA3_256,
                "sha3_512": chashes.SHA3_512}[name]()

    def sig_body(self, sigtype, material, hashed=b"", unhashed=None,
                 created=None, break_sig=False, hash_algo=HASH_SHA256):
        self._hash = hash_algo
        return Key.sig_body(self, sigtype, material, hashed, unhashed,
                            created, break_sig, hash_algo)


def uid_material(uid):
    return b"\xb4" + struct.pack(">I", len(uid)) + uid


def uat_material(body):
    return b"\xd1" + struct.pack(">I", len(body)) + body


def uid_packet(uid):
    return packet(TAG_USER_ID, uid)


def photo_body(size):
    """A user attribute body holding one image subpacket (RFC 4880
    5.12.1: version-1 image header, JPEG) of about size bytes."""
    img = b"\xff\xd8\xff\xe0" + bytes((i * 7) & 0xFF for i in range(size))
    head = b"\x10\x00\x01\x01" + b"\x00" * 12
    return subpacket(1, head + img)


def photo_packet(size):
    return packet(TAG_USER_ATTRIBUTE, photo_body(size))


def self_cert(key, uid, no_modify=False, extra=b"", break_sig=False,
              created=None, hash_algo=HASH_SHA256, attribute=False):
    """A positive self-certification of uid (bytes) by key: sign and certify
    flags; no_modify sets the keyserver no-modify flag as GnuPG 2.2 does.
    attribute: uid is a user attribute body."""
    hashed = subpacket(SUB_KEY_FLAGS, b"\x03")
    if no_modify:
        hashed += subpacket(SUB_KEYSERVER_PREFS, b"\x80")
    mat = uat_material(uid) if attribute else uid_material(uid)
    return key.sign(SIG_POSITIVE_CERT, key.hashed_material() + mat,
                    hashed + extra, break_sig=break_sig, created=created,
                    hash_algo=hash_algo)


def certify(signer, key, uid, created=None, break_sig=False):
    """A third-party generic certification of key's uid by signer."""
    return signer.sign(SIG_GENERIC_CERT, key.hashed_material() +
                       uid_material(uid), created=created,
                       break_sig=break_sig)


def revoke_cert(signer, key, uid, created=None):
    """A certification revocation (0x30) of uid on key by signer (the key
    itself: the user ID is withdrawn; another key: its certification)."""
    return signer.sign(SIG_CERT_REVOCATION, key.hashed_material() +
                       uid_material(uid), created=created)


def revoke_key(key, reason=None, created=None, break_sig=False):
    """A key revocation (0x20); reason None leaves the Reason for
    Revocation subpacket out (a hard revocation under HIP-5)."""
    hashed = b"" if reason is None else subpacket(
        SUB_REASON, bytes([reason]) + b"pgpgen")
    return key.sign(SIG_KEY_REVOCATION, key.hashed_material(), hashed,
                    created=created, break_sig=break_sig)


def subkey_material(key, sub):
    return key.hashed_material() + sub.hashed_material()


def bind_subkey(key, sub, flags=0x0C, backsig=True, break_backsig=False,
                created=None, break_sig=False):
    """A subkey binding (0x18) of sub to key with Key Flags flags; for a
    signing subkey (flags & 0x02) backsig embeds sub's primary-key binding
    signature (0x19), break_backsig a broken one."""
    hashed = subpacket(SUB_KEY_FLAGS, bytes([flags]))
    if backsig:
        back = sub.sig_body(SIG_PRIMARY_BINDING, subkey_material(key, sub),
                            created=created, break_sig=break_backsig)
        hashed += subpacket(SUB_EMBEDDED_SIG, back)
    return key.sign(SIG_SUBKEY_BINDING, subkey_material(key, sub), hashed,
                    created=created, break_sig=break_sig)


def attest_digest(sig_packet, hash_algo=HASH_SHA256):
    """The 1PA3PC digest of a v4 certification (its whole packet, as
    packet() makes it): hash of 0x88, the four-octet length and the body
    with the unhashed subpacket area left out (a zero length kept), as
    Sequoia computes it (Signature4::hash_for_confirmation)."""
    body = split_packets(sig_packet)[0][1]
    hl = struct.unpack(">H", body[4:6])[0]
    ul = struct.unpack(">H", body[6 + hl:8 + hl])[0]
    stripped = body[:6 + hl] + b"\x00\x00" + body[8 + hl + ul:]
    return hashlib.new(HASHES[hash_algo][0], b"\x88" + struct.pack(
        ">I", len(stripped)) + stripped).digest()


def attest(key, uid, certs, created=None, hash_algo=HASH_SHA256):
    """The owner's attestation (0x16) of the certification packets certs
    on uid: one critical Attested Certifications subpacket, the digests
    sorted (draft-dkg-openpgp-1pa3pc)."""
    digests = sorted(attest_digest(c, hash_algo) for c in certs)
    return key.sign(SIG_ATTESTATION, key.hashed_material() +
                    uid_material(uid), subpacket(SUB_ATTESTED_CERTS,
                                                 b"".join(digests), True),
                    created=created, hash_algo=hash_algo)


def split_packets(data):
    """[(tag, body)] of a binary key (new- and old-format headers)."""
    out, pos = [], 0
    while pos < len(data):
        c = data[pos]
        if c & 0x40:
            tag, o = c & 0x3F, data[pos + 1]
            if o < 192:
                hl, bl = 2, o
            elif o < 224:
                hl, bl = 3, ((o - 192) << 8) + data[pos + 2] + 192
            else:
                hl, bl = 6, struct.unpack(">I", data[pos + 2:pos + 6])[0]
        else:
            tag, lt = (c >> 2) & 0xF, c & 3
            hl = {0: 2, 1: 3, 2: 5}[lt]
            bl = int.from_bytes(data[pos + 1:pos + hl], "big")
        out.append((tag, data[pos + hl:pos + hl + bl]))
        pos += hl + bl
    return out


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


def seed_uid(seed):
    return ("pgpgen %s <%s@pgpgen.test>" % (seed, seed)).encode()


# --- attack shapes: each returns (Key, binary key) ----------------------

def shape_flood(seed, certs, no_modify=False, t=DEFAULT_TIME):
    """certs valid third-party certifications, each by a throwaway key,
    dated t+1, t+2, ... (so that "the newest" is well defined)."""
    key, data = simple_key(seed, t, no_modify)
    uid = seed_uid(seed)
    parts = [data]
    for i in range(certs):
        parts.append(certify(Key("%s-cert-%d" % (seed, i), t), key, uid,
                             created=t + 1 + i))
    return key, b"".join(parts)


def shape_forged_uid(seed, t=DEFAULT_TIME):
    key, data = simple_key(seed, t)
    forged = b"Someone Else <someone@example.org>"
    return key, data + uid_packet(forged) + self_cert(key, forged,
                                                      break_sig=True)


def shape_big_uid(seed, size=1500, t=DEFAULT_TIME):
    key, data = simple_key(seed, t)
    big = (b"Big " + b"x" * size)[:size - 20] + b" <big@pgpgen.test>"
    return key, data + uid_packet(big) + self_cert(key, big)


def shape_photo(seed, size=20000, t=DEFAULT_TIME):
    key, data = simple_key(seed, t)
    uat = photo_body(size)
    return key, data + packet(TAG_USER_ATTRIBUTE, uat) + self_cert(
        key, uat, attribute=True)


def shape_revoked(seed, reason=None, t=DEFAULT_TIME):
    """A key revocation (reason None: no reason subpacket), a user ID with
    one third-party certification, and an encryption subkey."""
    key = Key(seed, t)
    uid = seed_uid(seed)
    sub = Key(seed + "-sub", t)
    return key, (key.packet() + revoke_key(key, reason, created=t + 10) +
                 uid_packet(uid) + self_cert(key, uid) +
                 certify(Key(seed + "-certifier", t), key, uid, created=t + 1) +
                 sub.packet(TAG_PUBLIC_SUBKEY) + bind_subkey(key, sub, 0x0C))


def shape_subkeys(seed, t=DEFAULT_TIME):
    """Four subkeys: encryption (kept), signing with a valid back-signature
    (kept), signing without one and signing with a broken one (dropped)."""
    key, data = simple_key(seed, t)
    subs = [Key("%s-sub-%d" % (seed, i), t) for i in range(4)]
    return key, (data +
                 subs[0].packet(TAG_PUBLIC_SUBKEY) +
                 bind_subkey(key, subs[0], 0x0C) +
                 subs[1].packet(TAG_PUBLIC_SUBKEY) +
                 bind_subkey(key, subs[1], 0x02) +
                 subs[2].packet(TAG_PUBLIC_SUBKEY) +
                 bind_subkey(key, subs[2], 0x02, backsig=False) +
                 subs[3].packet(TAG_PUBLIC_SUBKEY) +
                 bind_subkey(key, subs[3], 0x02, break_backsig=True))


def shape_attested(seed, certs, approve, no_modify=True, t=DEFAULT_TIME):
    """certs third-party certifications on a no-modify user ID, the first
    approve of them attested by the owner (dated after them)."""
    key, data = simple_key(seed, t, no_modify)
    uid = seed_uid(seed)
    cs = [certify(Key("%s-cert-%d" % (seed, i), t), key, uid,
                  created=t + 1 + i) for i in range(certs)]
    return key, (data + attest(key, uid, cs[:approve],
                               created=t + certs + 10) + b"".join(cs))


def shape_broken(seed, t=DEFAULT_TIME):
    """A valid key, with three certifications whose signatures do not
    verify (third-party: kept by count, they cannot be checked) and a
    broken key revocation (dropped: bad_sig)."""
    key, data = simple_key(seed, t)
    uid = seed_uid(seed)
    bad = [certify(Key("%s-cert-%d" % (seed, i), t), key, uid,
                   created=t + 1 + i, break_sig=True) for i in range(3)]
    return key, (key.packet() + revoke_key(key, None, created=t + 5,
                                           break_sig=True) +
                 data[len(key.packet()):] + b"".join(bad))


def shape_future(seed, days=2, t=DEFAULT_TIME):
    """A valid self-signature, a newer one and a certification dated days
    ahead of t."""
    key, data = simple_key(seed, t)
    uid = seed_uid(seed)
    ahead = t + days * 86400
    return key, (data + self_cert(key, uid, created=ahead) +
                 certify(Key(seed + "-certifier", t), key, uid, created=ahead))


def shape_forged_flood(seed, uids, t=DEFAULT_TIME):
    """A valid user ID, then uids user IDs whose self-signatures hash
    right (their quick-check octets match) but do not verify: each costs
    a verifier a public-key operation."""
    key, data = simple_key(seed, t)
    parts = [data]
    for i in range(uids):
        uid = ("Forged %d <forged-%d@pgpgen.test>" % (i, i)).encode()
        parts.append(uid_packet(uid) + self_cert(key, uid, break_sig=True))
    return key, b"".join(parts)


def shape_algo(kind, hash_name="sha256", break_sig=False, t=DEFAULT_TIME):
    key = AlgoKey(kind, t)
    uid = ("pgpgen %s %s <%s@pgpgen.test>" % (kind, hash_name, kind)).encode()
    return key, (key.packet() + uid_packet(uid) +
                 self_cert(key, uid, break_sig=break_sig,
                           hash_algo=HASH_IDS[hash_name]))


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


def write_out(a, key, data):
    out = data if a.binary else armor(data).encode()
    if a.out:
        with open(a.out, "wb") as f:
            f.write(out)
    else:
        sys.stdout.buffer.write(out)
    if a.out or a.binary:
        sys.stderr.write(key.fingerprint() + "\n")


def cmd_shape(a):
    n = a.name
    if n == "flood":
        kd = shape_flood(a.seed, a.certs, a.no_modify, a.time)
    elif n == "forged-uid":
        kd = shape_forged_uid(a.seed, a.time)
    elif n == "big-uid":
        kd = shape_big_uid(a.seed, a.size or 1500, a.time)
    elif n == "photo":
        kd = shape_photo(a.seed, a.size or 20000, a.time)
    elif n == "revoked":
        kd = shape_revoked(a.seed, None if a.reason == "none"
                           else int(a.reason), a.time)
    elif n == "subkeys":
        kd = shape_subkeys(a.seed, a.time)
    elif n == "attested":
        kd = shape_attested(a.seed, a.certs, a.approve, True, a.time)
    elif n == "broken":
        kd = shape_broken(a.seed, a.time)
    elif n == "future":
        kd = shape_future(a.seed, a.days, a.time)
    elif n == "forged-flood":
        kd = shape_forged_flood(a.seed, a.certs, a.time)
    elif n == "algo":
        kd = shape_algo(a.algo, a.hash, a.break_sig, a.time)
    else:
        sys.exit("pgpgen: unknown shape %r" % n)
    write_out(a, *kd)


# What cmd_shapes writes: file name, builder.
SHAPES = [
    ("flood-nomodify", lambda t: shape_flood("nomodflood", 300, True, t)),
    ("flood-open", lambda t: shape_flood("open", 300, False, t)),
    ("flood-5000", lambda t: shape_flood("flood5k", 5000, False, t)),
    ("attested", lambda t: shape_attested("att", 10, 3, True, t)),
    ("forged-uid", lambda t: shape_forged_uid("forged", t)),
    ("big-uid", lambda t: shape_big_uid("big", 1500, t)),
    ("photo", lambda t: shape_photo("photo", 20000, t)),
    ("subkeys", lambda t: shape_subkeys("subs", t)),
    ("broken", lambda t: shape_broken("broken", t)),
    ("future", lambda t: shape_future("future", 2, t)),
    ("forged-flood", lambda t: shape_forged_flood("ff", 5000, t)),
] + [("revoked-%s" % r, (lambda r: lambda t: shape_revoked(
    "rev" + r, None if r == "none" else int(r), t))(r))
     for r in ("none", "0", "1", "2", "3", "32")]

# What cmd_algos writes: algorithm, hash.
ALGOS = [("rsa2048", h) for h in ("md5", "sha1", "ripemd160", "sha224",
                                  "sha256", "sha384", "sha512", "sha3-256",
                                  "sha3-512")] + [
    ("rsa3072", "sha256"), ("dsa1024", "sha1"), ("dsa2048", "sha256"),
    ("p256", "sha256"), ("p384", "sha384"), ("p521", "sha512"),
    ("brainpool256", "sha256"), ("ed25519legacy", "sha256"),
    ("ed25519legacy", "sha512"), ("ed25519", "sha256"), ("ed448", "sha512")]


def cmd_shapes(a):
    """Every shape of SHAPES as DIR/NAME.gpg (binary); prints
    "NAME FINGERPRINT" per shape."""
    os.makedirs(a.out, exist_ok=True)
    for name, build in SHAPES:
        key, data = build(a.time)
        with open(os.path.join(a.out, name + ".gpg"), "wb") as f:
            f.write(data)
        sys.stdout.write("%s %s\n" % (name, key.fingerprint()))


def cmd_algos(a):
    """A good and a broken self-signed key per ALGOS entry, as
    DIR/ALGO-HASH-good.gpg and -bad.gpg; prints "FILE ALGO HASH
    good|bad" per file."""
    os.makedirs(a.out, exist_ok=True)
    for kind, h in ALGOS:
        key = AlgoKey(kind, a.time)
        uid = ("pgpgen %s %s <%s@pgpgen.test>" % (kind, h, kind)).encode()
        for verdict in ("good", "bad"):
            data = (key.packet() + uid_packet(uid) + self_cert(
                key, uid, break_sig=verdict == "bad",
                hash_algo=HASH_IDS[h]))
            name = "%s-%s-%s.gpg" % (kind, h, verdict)
            with open(os.path.join(a.out, name), "wb") as f:
                f.write(data)
            sys.stdout.write("%s %s %s %s\n" % (name, kind, h, verdict))
    # A v3 self-signature on a v4 key (PGP 5 and 6 made such keys).
    key = AlgoKey("rsa2048", a.time)
    uid = b"pgpgen rsa2048 v3 <v3@pgpgen.test>"
    for verdict in ("good", "bad"):
        data = (key.packet() + uid_packet(uid) + key.sig_v3(
            SIG_POSITIVE_CERT, key.hashed_material() + uid,
            break_sig=verdict == "bad"))
        name = "rsa2048-sha1v3-%s.gpg" % verdict
        with open(os.path.join(a.out, name), "wb") as f:
            f.write(data)
        sys.stdout.write("%s rsa2048 sha1v3 %s\n" % (name, verdict))


def cmd_secret(a):
    key, data = simple_key(a.seed, a.time, a.no_modify)
    sec = packet(TAG_SECRET_KEY, key.secret_body()) + data[len(key.packet()):]
    out = sec if a.binary else armor(sec, "PRIVATE KEY BLOCK").encode()
    sys.stdout.buffer.write(out)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    u = sub.add_parser("unique", help="N distinct small keys, one per file")
    u.add_argument("--count", type=int, required=True)
    u.add_argument("--out", required=True)
    u.add_argument("--prefix", default="k")
    u.add_argument("--time", type=int, default=DEFAULT_TIME)
    u.set_defaults(fn=cmd_unique)
    sh = sub.add_parser("shape", help="one key shaped as attackers did")
    sh.add_argument("name")
    sh.add_argument("--seed", default="victim")
    sh.add_argument("--out")
    sh.add_argument("--binary", action="store_true")
    sh.add_argument("--time", type=int, default=DEFAULT_TIME)
    sh.add_argument("--certs", type=int, default=1000)
    sh.add_argument("--approve", type=int, default=0)
    sh.add_argument("--no-modify", action="store_true")
    sh.add_argument("--size", type=int, default=0)
    sh.add_argument("--reason", default="none")
    sh.add_argument("--days", type=int, default=2)
    sh.add_argument("--algo", default="ed25519legacy")
    sh.add_argument("--hash", default="sha256", choices=sorted(HASH_IDS))
    sh.add_argument("--break", dest="break_sig", action="store_true")
    sh.set_defaults(fn=cmd_shape)
    ss = sub.add_parser("shapes", help="every shape, binary, into a dir")
    ss.add_argument("--out", required=True)
    ss.add_argument("--time", type=int, default=DEFAULT_TIME)
    ss.set_defaults(fn=cmd_shapes)
    al = sub.add_parser("algos", help="good and bad keys per algorithm")
    al.add_argument("--out", required=True)
    al.add_argument("--time", type=int, default=DEFAULT_TIME)
    al.set_defaults(fn=cmd_algos)
    se = sub.add_parser("secret", help="an unprotected secret key, for sq")
    se.add_argument("--seed", default="victim")
    se.add_argument("--binary", action="store_true")
    se.add_argument("--no-modify", action="store_true")
    se.add_argument("--time", type=int, default=DEFAULT_TIME)
    se.set_defaults(fn=cmd_secret)
    a = p.parse_args()
    a.fn(a)


if __name__ == "__main__":
    main()
