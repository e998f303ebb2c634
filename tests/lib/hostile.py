#!/usr/bin/env python3
"""tests/lib/hostile.py - write the hostile mails of
tests/integration/hostile_ingest.sh into a directory.

    python3 hostile.py KEYDIR OUTDIR

KEYDIR is tests/data/keys.  Every mail is a PKS mail ("Subject:
incremental", a unique Message-ID) built around the fixture keys, so the
test can tell which good key must still get through.  OUTDIR/NAME.eml is
the mail; the shell test knows what each one must do.  Keys are
re-armored here (with a correct CRC-24) after their packets were tampered
with, so that the armor is never what is being tested unless it is.
"""
import base64
import os
import sys


def crc24(data):
    crc = 0xB704CE
    for b in data:
        crc ^= b << 16
        for _ in range(8):
            crc <<= 1
            if crc & 0x1000000:
                crc ^= 0x1864CFB
    return crc & 0xFFFFFF


def armor(data):
    b64 = base64.b64encode(data).decode()
    lines = [b64[i:i + 64] for i in range(0, len(b64), 64)]
    crc = base64.b64encode(crc24(data).to_bytes(3, "big")).decode()
    return ("-----BEGIN PGP PUBLIC KEY BLOCK-----\n\n" + "\n".join(lines) +
            "\n=" + crc + "\n-----END PGP PUBLIC KEY BLOCK-----\n").encode()


def dearmor(path):
    body, on = [], False
    for line in open(path, encoding="ascii"):
        line = line.strip()
        if line.startswith("-----BEGIN"):
            on, seen_blank = True, False
            continue
        if not on:
            continue
        if not seen_blank:
            seen_blank = line == ""
            continue
        if line.startswith("=") or line.startswith("-----END"):
            break
        body.append(line)
    return base64.b64decode("".join(body))


def packets(data):
    """[(tag, header, body)] of an OpenPGP packet sequence."""
    out, i = [], 0
    while i < len(data):
        c = data[i]
        if c & 0x40:
            tag, o = c & 0x3F, data[i + 1]
            if o < 192:
                hl, bl = 2, o
            elif o < 224:
                hl, bl = 3, ((o - 192) << 8) + data[i + 2] + 192
            else:
                hl, bl = 6, int.from_bytes(data[i + 2:i + 6], "big")
        else:
            tag, lt = (c >> 2) & 0xF, c & 3
            hl = (2, 3, 5)[lt]
            bl = int.from_bytes(data[i + 1:i + hl], "big")
        out.append((tag, data[i:i + hl], data[i + hl:i + hl + bl]))
        i += hl + bl
    return out


def newlen(n):
    """A new-format (RFC 4880 4.2.2) body length."""
    if n < 192:
        return bytes([n])
    if n < 8384:
        return bytes([((n - 192) >> 8) + 192, (n - 192) & 0xFF])
    return b"\xff" + n.to_bytes(4, "big")


def packet(tag, body):
    """A new-format packet with a 5-octet length."""
    return bytes([0xC0 | tag, 0xFF]) + len(body).to_bytes(4, "big") + body


def headers(msgid, extra=b"", ctype=b"text/plain"):
    return (b"From: pgp-public-keys@pks.example\n"
            b"To: pgp-public-keys@bridge.test\n"
            b"Subject: incremental\n"
            b"Message-ID: <" + msgid.encode() + b"@hostile.example>\n"
            b"X-KeyServer-Sent: pgp-public-keys@pks.example\n" + extra +
            b"MIME-Version: 1.0\nContent-Type: " + ctype + b"\n\n")


def main():
    keydir, out = sys.argv[1], sys.argv[2]
    asc = {n: open(os.path.join(keydir, n + ".asc"), "rb").read()
           for n in ("alice", "bob", "carol")}
    binkey = {n: dearmor(os.path.join(keydir, n + ".asc"))
              for n in ("alice", "bob", "carol")}
    mails = {}

    # MIME nested 5,000 deep, alice at the top, bob at the bottom.
    deep = asc["bob"]
    for d in range(5000):
        b = b"d%d" % d
        deep = (b"Content-Type: multipart/mixed; boundary=\"" + b + b"\"\n\n--" +
                b + b"\n" + deep + b"\n--" + b + b"--\n")
    mails["deep"] = (headers("deep", ctype=b"multipart/mixed; boundary=\"top\"") +
                     b"--top\nContent-Type: text/plain\n\n" + asc["alice"] +
                     b"\n--top\n" + deep + b"\n--top--\n")

    # 100,000 tiny parts, then bob.
    parts = b"".join(b"--p\nContent-Type: text/plain\n\nx\n" for _ in range(100000))
    mails["parts"] = (headers("parts", ctype=b"multipart/mixed; boundary=p") +
                      parts + b"--p\n\n" + asc["bob"] + b"\n--p--\n")

    # A 10 MB header line (several, in fact: Subject and an X- header).
    big = b"A" * (10 << 20)
    mails["bigheader"] = (b"Subject: " + big + b"\nX-Big: " + big[:1 << 20] +
                          b"\n" + headers("bigheader") + asc["alice"])

    # NUL bytes in headers and around the armor.
    mails["nul"] = (headers("nul", extra=b"X-Junk: a\0b\0c\n") +
                    b"\0\0\0 before\n" + asc["alice"] + b"\0 after \0\n")

    # Invalid UTF-8: in the headers, and in alice's uid (same length, so
    # the framing holds but the self-signature no longer does), with a
    # good key (carol) beside it.
    pk = packets(binkey["alice"])
    bad = b""
    for tag, hdr, body in pk:
        if tag == 13:
            body = b"\xff\xfe\xc0\xaf" + body[4:]
        bad += hdr + body
    mails["utf8"] = (b"From: \"\xff\xfe Bad \xc3\" <x@y.example>\n" +
                     headers("utf8", extra=b"X-Bad: \xed\xa0\x80\xf8\x88\n") +
                     armor(bad) + b"\n" + asc["carol"])

    # Boundary tricks.
    special = b"'()+_,-./:=? x"
    mails["bnd-special"] = (
        headers("bnd-special", ctype=b"multipart/mixed; boundary=\"" + special + b"\"") +
        b"--" + special + b"\n\npreamble part\n--" + special + b"\n" +
        b"Content-Type: text/plain\n\n" + asc["alice"] + b"\n--" + special + b"--\n")
    mails["bnd-prefix"] = (
        headers("bnd-prefix", ctype=b"multipart/mixed; boundary=\"BB\"") +
        b"--BB\nContent-Type: text/plain\n\n--BBX is not a delimiter\n --BB nor this\n" +
        asc["alice"] + b"\n--BB--\n")
    # A key after the close delimiter, in the epilogue, is not content:
    # the mail has no key, and is kept in quarantine for the operator.
    mails["bnd-epilogue"] = (
        headers("bnd-epilogue", ctype=b"multipart/mixed; boundary=\"e\"") +
        b"--e\n\nno key here\n--e--\n" + asc["alice"])
    mails["bnd-unclosed"] = (
        headers("bnd-unclosed", ctype=b"multipart/mixed; boundary=\"u\"") +
        b"--u\n\nfirst\n--u\nContent-Type: application/pgp-keys\n\n" + asc["alice"])
    long70 = b"L" * 70
    mails["bnd-70"] = (
        headers("bnd-70", ctype=b"multipart/mixed; boundary=\"" + long70 + b"\"") +
        b"--" + long70 + b"\n\n" + asc["alice"] + b"\n--" + long70 + b"--\n")
    long500 = b"M" * 500
    mails["bnd-500"] = (
        headers("bnd-500", ctype=b"multipart/mixed; boundary=\"" + long500 + b"\"") +
        b"--" + long500 + b"\n\n" + asc["alice"] + b"\n--" + long500 + b"--\n")
    mails["bnd-twice"] = (
        headers("bnd-twice", ctype=b"multipart/mixed; boundary=\"a\"; boundary=\"b\"") +
        b"--a\n\n--b\n\n" + asc["alice"] + b"\n--b--\n--a--\n")
    mails["bnd-reuse"] = (
        headers("bnd-reuse", ctype=b"multipart/mixed; boundary=\"r\"") +
        b"--r\nContent-Type: multipart/alternative; boundary=\"r\"\n\n--r\n\n" +
        asc["alice"] + b"\n--r--\n--r--\n")
    mails["bnd-empty"] = (
        headers("bnd-empty", ctype=b"multipart/mixed; boundary=\"\"") +
        b"--\n\n" + asc["alice"] + b"\n----\n")

    # A length field pointing far past the buffer, after a good key.
    mails["pastend"] = (headers("pastend") + armor(
        binkey["alice"] + bytes([0xC0 | 13, 0xFF, 0xFF, 0xFF, 0xFF, 0xF0]) +
        b"short") + b"\n" + asc["carol"])

    # A partial-length public key packet (not allowed for keys), and
    # carol, good, in a block of her own.
    pkt = packets(binkey["bob"])[0][2]
    partial = bytes([0xC6, 0xE0 | 5]) + pkt[:32] + newlen(len(pkt) - 32) + pkt[32:]
    mails["partial"] = headers("partial") + armor(partial) + b"\n" + asc["carol"]

    # A key with 100,000 signatures (distinct, 50 bytes each: 5 MB) and no
    # self-signature: the key policy leaves nothing valid; then bob in the
    # same block.
    a = packets(binkey["alice"])
    sigs = b"".join(
        packet(2, bytes([4, 0x10, 22, 8, 0, 0, 0, 0]) + i.to_bytes(4, "big") +
               bytes(36)) for i in range(100000))
    mails["sigs"] = headers("sigs") + armor(
        a[0][1] + a[0][2] + a[1][1] + a[1][2] + sigs + binkey["bob"])

    # Duplicate packets: every packet of carol's key but the primary key
    # packet twice (a second primary key packet starts a second key).
    cp = packets(binkey["carol"])
    dup = cp[0][1] + cp[0][2] + b"".join(h + b + h + b for _, h, b in cp[1:])
    mails["dup"] = headers("dup") + armor(dup)

    # Encoded-word CR/LF injection in every header we read or log.
    inj = b"=?utf-8?q?x=0D=0ABcc:_evil@evil.example=0D=0AX-Injected:_yes?="
    mails["inject"] = (
        b"From: \"" + inj + b"\" <user@example.org>\n"
        b"To: pgp-public-keys@bridge.test\n"
        b"Subject: ADD " + inj + b"\n"
        b"Message-ID: <inj=0D=0AX-Injected:yes@hostile.example>\n"
        b"X-KeyServer-Sent: " + inj + b"\n"
        b"Content-Type: text/plain\n\n" + asc["bob"])
    # The same for the sendmail intake: a To: whose display name holds
    # the injection, and one that is nothing but an encoded word.
    mails["inject-out"] = (
        b"To: \"" + inj + b"\" <peer@pks.example>, " + inj + b"\n"
        b"Cc: =?utf-8?b?cGVlckBwa3MuZXhhbXBsZQ0KQmNjOiBldmlsQGV2aWwuZXhhbXBsZQ==?=\n"
        b"From: sks@bridge.test\n"
        b"Subject: incremental " + inj + b"\n\n" + asc["carol"])

    for name, data in mails.items():
        with open(os.path.join(out, name + ".eml"), "wb") as f:
            f.write(data)


main()
