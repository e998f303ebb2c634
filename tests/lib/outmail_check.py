#!/usr/bin/env python3
"""tests/lib/outmail_check.py - check one outbound mail as an SMTP peer
received it (the raw bytes smtpsink stored: dots unstuffed, CRLF kept)
against the outbound mail format (src/mail/outmail.h), for the outbound integration tests.

  outmail_check.py MSG PEER FROM_ADDR

Exit 0 if the mail keeps the contract, else 1 with one line per problem
on stdout.  What it checks:
  * on the wire: every line ends in CRLF (no bare CR or LF), only 7-bit
    bytes, no NUL, body lines at most 76 characters, header lines at most
    998;
  * headers, each exactly once: From = FROM_ADDR, To = PEER and nobody
    else, Subject: incremental, X-KeyServer-Sent = FROM_ADDR,
    Precedence: list, MIME-Version: 1.0, Content-Type:
    application/pgp-keys, a Date that parses (RFC 5322) and is within
    10 minutes of now, a Message-ID <left@right>, Auto-Submitted:
    auto-generated (RFC 3834); no Cc or Bcc; a
    Content-Transfer-Encoding, if any, is 7bit;
  * the envelope beside it (MSG.env): MAIL FROM:<FROM_ADDR> and exactly
    one RCPT TO:<PEER>;
  * body: exactly one armor block (BEGIN/END PGP PUBLIC KEY BLOCK), a
    CRC line before its END, nothing but blank lines around it.
Prints the Message-ID on the line "msgid <ID>" when all is well, so the
caller can check that Message-IDs are unique.
"""
import email.utils
import re
import sys
import time

SINGLE = ("from", "to", "subject", "x-keyserver-sent", "precedence",
          "mime-version", "content-type", "date", "message-id",
          "auto-submitted")


def wire_lines(raw, probs):
    """The lines of a mail as an SMTP server stored it (CRLF kept), with
    the problems of its wire form appended to probs: not ending in CRLF,
    a NUL or 8-bit byte (our mail is 7bit), a bare CR or LF.  Shared with
    reply_check.py."""
    if not raw.endswith(b"\r\n"):
        probs.append("the message does not end with CRLF")
    if b"\0" in raw:
        probs.append("NUL byte in the message")
    if any(b >= 0x80 for b in raw):
        probs.append("8-bit byte in the message (must be 7bit)")
    lines = raw.split(b"\r\n")
    if lines and lines[-1] == b"":
        lines.pop()
    for n, l in enumerate(lines, 1):
        if b"\n" in l or b"\r" in l:
            probs.append("line %d: bare CR or LF (every line must end CRLF)" % n)
            break
    return lines


def main():
    if len(sys.argv) != 4:
        print("usage: outmail_check.py MSG PEER FROM_ADDR")
        return 2
    path, peer, from_addr = sys.argv[1:]
    probs = []
    with open(path, "rb") as f:
        raw = f.read()
    if not raw:
        print("empty message")
        return 1
    lines = wire_lines(raw, probs)
    text = [l.decode("ascii", "replace") for l in lines]
    try:
        blank = text.index("")
    except ValueError:
        probs.append("no blank line between header and body")
        blank = len(text)
    head, body = text[:blank], text[blank + 1:]

    # Unfold the header.
    fields = []
    for n, l in enumerate(head, 1):
        if len(l) > 998:
            probs.append("header line %d longer than 998" % n)
        if l[:1] in (" ", "\t") and fields:
            fields[-1][1] += " " + l.strip()
            continue
        m = re.match(r"^([!-9;-~]+):[ \t]*(.*)$", l)
        if not m:
            probs.append("header line %d is not a field: %.60r" % (n, l))
            continue
        fields.append([m.group(1), m.group(2).strip()])
    by = {}
    for name, value in fields:
        by.setdefault(name.lower(), []).append(value)
    for name in SINGLE:
        got = by.get(name, [])
        if len(got) != 1:
            probs.append("%s: %d times, want exactly once" % (name, len(got)))
    one = {k: v[0] for k, v in by.items() if v}

    def want(name, ok, what):
        if name in one and not ok(one[name]):
            probs.append("%s is %r, want %s" % (name, one[name], what))

    want("from", lambda v: email.utils.parseaddr(v)[1] == from_addr, from_addr)
    want("to", lambda v: [a for _, a in email.utils.getaddresses([v])] == [peer],
         "only " + peer)
    want("subject", lambda v: v == "incremental", "incremental")
    want("x-keyserver-sent", lambda v: v == from_addr, from_addr)
    want("precedence", lambda v: v.lower() == "list", "list")
    want("mime-version", lambda v: v.split("(")[0].strip() == "1.0", "1.0")
    want("content-type",
         lambda v: v.split(";")[0].strip().lower() == "application/pgp-keys",
         "application/pgp-keys")
    want("auto-submitted", lambda v: v.lower() == "auto-generated",
         "auto-generated")
    want("message-id", lambda v: re.match(r"^<[^<>@\s]+@[^<>@\s]+>$", v),
         "<left@right>")

    def date_ok(v):
        try:
            d = email.utils.parsedate_to_datetime(v)
        except (TypeError, ValueError):
            return False
        return d is not None and abs(d.timestamp() - time.time()) < 600

    want("date", date_ok, "an RFC 5322 date within 10 minutes of now")
    if "content-transfer-encoding" in one:
        want("content-transfer-encoding", lambda v: v.lower() == "7bit", "7bit")
    for bad in ("cc", "bcc"):
        if bad in by:
            probs.append("%s header present" % bad)

    for n, l in enumerate(body, 1):
        if len(l) > 76:
            probs.append("body line %d has %d characters (max 76)" % (n, len(l)))
            break
    begins = [i for i, l in enumerate(body)
              if l == "-----BEGIN PGP PUBLIC KEY BLOCK-----"]
    ends = [i for i, l in enumerate(body)
            if l == "-----END PGP PUBLIC KEY BLOCK-----"]
    if len(begins) != 1 or len(ends) != 1 or ends[0] < begins[0]:
        probs.append("body: %d BEGIN and %d END lines, want one armor block"
                     % (len(begins), len(ends)))
    else:
        b, e = begins[0], ends[0]
        if any(l.strip() for l in body[:b] + body[e + 1:]):
            probs.append("body: text outside the armor block")
        if not re.match(r"^=[A-Za-z0-9+/]{4}$", body[e - 1]):
            probs.append("body: no CRC line before END")

    try:
        with open(path + ".env", encoding="ascii") as f:
            env = f.read().splitlines()
        if "MAIL FROM:<%s>" % from_addr not in env:
            probs.append("envelope: MAIL FROM is not <%s>" % from_addr)
        rcpts = [l for l in env if l.startswith("RCPT TO:")]
        if rcpts != ["RCPT TO:<%s>" % peer]:
            probs.append("envelope: recipients %r, want only <%s>" % (rcpts, peer))
    except OSError as e:
        probs.append("envelope: %s" % e)

    for p in probs:
        print(p)
    if probs:
        return 1
    print("msgid %s" % one.get("message-id"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
