#!/usr/bin/env python3
"""tests/lib/reply_check.py - check one reply to a mail command as the SMTP
sink received it (raw bytes, dots unstuffed, CRLF kept) against the reply
format (src/mail/replymail.h), for the mail command integration tests.

  reply_check.py MSG TO FROM_ADDR [IN_REPLY_TO]

Exit 0 if the reply keeps the contract, else 1 with one line per problem.
What it checks:
  * on the wire (outmail_check.wire_lines, as for sync mail): CRLF line
    ends only, 7-bit, no NUL; header lines at most
    998 characters, the whole mail at most 20 MB;
  * headers, each exactly once: From = FROM_ADDR, To = TO and nobody else,
    Subject starting "Reply to ", a Date that parses, a Message-ID
    <left@right>, Auto-Submitted: auto-replied, MIME-Version: 1.0; no Cc,
    Bcc, Reply-To, X-KeyServer-Sent or Precedence; In-Reply-To <ID> and a
    References ending in <ID> when IN_REPLY_TO is given, neither when it
    is "-";
  * the envelope beside it (MSG.env), when there is one: MAIL FROM:<>
    (the null sender) and exactly one RCPT TO:<TO>;
  * the body: a text/plain part (7bit or quoted-printable), and, when
    there is a second part, application/pgp-keys 7bit holding one armor
    block.
On success prints "subject: ...", "keys-part: yes|no" and then the decoded
text of the text part, so that the caller can grep it.
"""
import email
import email.policy
import email.utils
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from outmail_check import wire_lines  # noqa: E402


def main():
    if len(sys.argv) not in (4, 5):
        print("usage: reply_check.py MSG TO FROM_ADDR [IN_REPLY_TO|-]")
        return 2
    path, to, from_addr = sys.argv[1:4]
    irt = sys.argv[4] if len(sys.argv) == 5 else None
    probs = []
    raw = open(path, "rb").read()
    if len(raw) > 20 << 20:
        probs.append("reply larger than 20 MB")
    lines = wire_lines(raw, probs)
    try:
        blank = lines.index(b"")
    except ValueError:
        blank = len(lines)
        probs.append("no blank line after the header")
    for n, l in enumerate(lines[:blank], 1):
        if len(l) > 998:
            probs.append("header line %d: %d characters" % (n, len(l)))
        if n > 1 and l[:1] not in (b" ", b"\t") and b":" not in l:
            probs.append("header line %d is not a field" % n)

    msg = email.message_from_bytes(raw.replace(b"\r\n", b"\n"),
                                   policy=email.policy.compat32)
    def once(name):
        v = msg.get_all(name, [])
        if len(v) != 1:
            probs.append("%s: %d times, want once" % (name, len(v)))
            return ""
        return re.sub(r"\s+", " ", str(v[0])).strip()

    if email.utils.parseaddr(once("From"))[1].lower() != from_addr.lower():
        probs.append("From is not %s" % from_addr)
    rcpts = [a for _, a in email.utils.getaddresses(msg.get_all("To", []))]
    if rcpts != [to]:
        probs.append("To is %r, want only %s" % (rcpts, to))
    subject = once("Subject")
    if not subject.startswith("Reply to "):
        probs.append("Subject %r does not start 'Reply to '" % subject)
    try:
        email.utils.parsedate_to_datetime(once("Date"))
    except (TypeError, ValueError):
        probs.append("Date does not parse")
    if not re.match(r"^<[^<>@\s]+@[^<>@\s]+>$", once("Message-ID")):
        probs.append("Message-ID is not <left@right>")
    if once("Auto-Submitted").lower() != "auto-replied":
        probs.append("Auto-Submitted is not auto-replied")
    if once("MIME-Version") != "1.0":
        probs.append("MIME-Version is not 1.0")
    for bad in ("Cc", "Bcc", "Reply-To", "X-KeyServer-Sent", "Precedence"):
        if msg.get_all(bad):
            probs.append("%s header present" % bad)
    if irt and irt != "-":
        if once("In-Reply-To") != "<%s>" % irt:
            probs.append("In-Reply-To is not <%s>" % irt)
        if not once("References").endswith("<%s>" % irt):
            probs.append("References does not end with <%s>" % irt)
    elif irt == "-":
        for h in ("In-Reply-To", "References"):
            if msg.get_all(h):
                probs.append("%s present for a request without Message-ID" % h)

    env = path + ".env"
    if os.path.exists(env):
        e = open(env).read().splitlines()
        if "MAIL FROM:<>" not in e:
            probs.append("envelope sender is not <> (%r)" %
                         [l for l in e if l.startswith("MAIL")])
        r = [l for l in e if l.startswith("RCPT TO:")]
        if r != ["RCPT TO:<%s>" % to]:
            probs.append("envelope recipients %r, want only %s" % (r, to))

    parts = list(msg.walk()) if msg.is_multipart() else [msg]
    leaves = [p for p in parts if not p.is_multipart()]
    text = None
    keys = False
    for p in leaves:
        ct = p.get_content_type()
        cte = (p.get("Content-Transfer-Encoding") or "7bit").lower()
        if ct == "text/plain" and text is None:
            if cte not in ("7bit", "quoted-printable"):
                probs.append("text part is %s" % cte)
            text = p.get_payload(decode=True).decode("utf-8", "replace")
        elif ct == "application/pgp-keys":
            if cte != "7bit":
                probs.append("key part is %s, want 7bit" % cte)
            body = p.get_payload()
            if body.count("-----BEGIN PGP PUBLIC KEY BLOCK-----") != 1:
                probs.append("key part holds not exactly one armor block")
            keys = True
        else:
            probs.append("unexpected part %s" % ct)
    if text is None:
        probs.append("no text/plain part")
    if probs:
        for p in probs:
            print(p)
        return 1
    print("subject: %s" % subject)
    print("keys-part: %s" % ("yes" if keys else "no"))
    sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
