#!/bin/sh
# make-mails.sh - (re)build the fixture mails for tests/mail/test_mailparse.c.
#
# The generated .eml files are committed, so tests never run this; run it
# after changing a key under ../keys or a mail below, then check
# `git diff` (the multipart/signed signature carries a timestamp, so that
# one file changes on every run).  Tools: sh, sed, base64 (coreutils),
# perl with MIME::QuotedPrint, gpg.
#
#   sh tests/data/mails/make-mails.sh
set -eu

here=$(cd "$(dirname "$0")" && pwd)
keys="$here/../keys"
cd "$here"

GNUPGHOME=$(mktemp -d)
export GNUPGHOME
trap 'rm -rf "$GNUPGHOME"' EXIT
gpg -q --batch --import "$keys/alice.asc" "$keys/bob.asc" "$keys/carol.asc" \
	"$keys/dave-secret.asc" 2>/dev/null
alice=FE144C003EC2F056976C38BA3268C6A75E3A732B
bob=CB5E676296A30F057AC88C6E45398AB92CB795F3
carol=A76F4AAEA3C2F24D7DF35167900AE6306CA91734

b64() { base64 -w 76 "$@"; }
qp() { perl -MMIME::QuotedPrint -0777 -ne 'print encode_qp($_)'; }
crlf() { sed 's/$/\r/'; }

# 01: SKS's own mailsync mail, verbatim (no MIME-Version, "Content-type",
# no final newline), as SKS 1.1.6 piped it into its sendmail_cmd: captured
# once and kept as it is, so it is not rebuilt here.

# 02: pksd/onak-style incremental: several keys in ONE armor block, two
# X-KeyServer-Sent headers (one in onak's "X-Keyserver-Sent" spelling),
# no MIME-Version.
{
	cat <<'EOF'
From: PGP Key Server <PGP-Public-Keys@Keys.Peer.Example>
To: pgp-public-keys@sks.example
Subject: incremental
Message-ID: <20240101120000.AB12@keys.peer.example>
Date: Mon, 01 Jan 2024 12:00:00 +0000
X-KeyServer-Sent: pgp-public-keys@keys.origin.example
X-Keyserver-Sent: PGP Key Server <PGP-Public-Keys@Keys.Peer.Example>
Precedence: list
Content-Type: application/pgp-keys

EOF
	gpg --export --armor $alice $bob $carol
} >02-pks-incremental.eml

# 03: as an MTA hands 02 to a pipe: mbox From line, Return-Path,
# Delivered-To, X-Original-To; plus folded Subject and X-KeyServer-Sent.
{
	cat <<'EOF'
From pgp-public-keys@keys.peer.example  Mon Jan  1 12:00:01 2024
Return-Path: <pgp-public-keys@keys.peer.example>
X-Original-To: pgp-public-keys@sks.example
Delivered-To: pgp-public-keys@sks.example
Received: from keys.peer.example (keys.peer.example [192.0.2.7])
	by sks.example (Postfix) with ESMTP id 4Tq1x02XyZz9sW
	for <pgp-public-keys@sks.example>; Mon,  1 Jan 2024 12:00:01 +0000 (UTC)
From: PGP Key Server <PGP-Public-Keys@Keys.Peer.Example>
To: pgp-public-keys@sks.example
Subject:
 incremental
Message-ID: <20240101120000.AB12@keys.peer.example>
X-KeyServer-Sent: pgp-public-keys@keys.origin.example
X-KeyServer-Sent: PGP Key Server
	<PGP-Public-Keys@Keys.Peer.Example>
Precedence: list
MIME-Version: 1.0
Content-Type: application/pgp-keys

EOF
	gpg --export --armor $alice $bob $carol
} >03-mbox-from.eml

# 04: 03 with CRLF line ends throughout.
crlf <03-mbox-from.eml >04-crlf.eml

# 05: application/pgp-keys, base64 transfer encoding.
{
	cat <<'EOF'
From: pgp-public-keys@keys.peer.example
To: pgp-public-keys@sks.example
Subject: incremental
Message-ID: <b64.1@keys.peer.example>
X-KeyServer-Sent: pgp-public-keys@keys.peer.example
MIME-Version: 1.0
Content-Type: application/pgp-keys
Content-Transfer-Encoding: base64

EOF
	b64 "$keys/alice.asc"
} >05-base64-pgp-keys.eml

# 06: text/plain, quoted-printable (soft line breaks, =3D in the CRC line,
# UTF-8 encoded as =C3=BC); 06-qp-body.txt is the decoded text the test
# expects back.
cat >06-qp-body.txt <<'EOF'
Hallo, hier ist mein Schlüssel. This first line is deliberately longer than seventy-six characters so that it needs a soft line break.
EOF
cat "$keys/bob.asc" >>06-qp-body.txt
{
	cat <<'EOF'
From: Bob Example <bob@example.org>
To: pgp-public-keys@sks.example
Subject: ADD
Message-ID: <qp.1@example.org>
MIME-Version: 1.0
Content-Type: text/plain; charset=utf-8
Content-Transfer-Encoding: quoted-printable

EOF
	qp <06-qp-body.txt
} >06-qp-text.eml

# 07: multipart/mixed, text + application/pgp-keys attachment with a
# filename.
{
	cat <<'EOF'
From: Carol Example <carol@example.org>
To: pgp-public-keys@sks.example
Subject: ADD
Message-ID: <mixed.1@example.org>
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="------------mixed0123456789"

This is a multi-part message in MIME format.
--------------mixed0123456789
Content-Type: text/plain; charset=UTF-8; format=flowed
Content-Transfer-Encoding: 7bit

Please add my key.

--------------mixed0123456789
Content-Type: application/pgp-keys; name="carol.asc"
Content-Disposition: attachment; filename="carol.asc"
Content-Transfer-Encoding: 7bit

EOF
	cat "$keys/carol.asc"
	cat <<'EOF'

--------------mixed0123456789--
EOF
} >07-multipart-mixed.eml

# 08: three levels of multipart: mixed > alternative > related; an image
# that must be skipped; a base64 pgp-keys attachment at the top.
{
	cat <<'EOF'
From: Alice Example <alice@example.org>
To: pgp-public-keys@sks.example
Subject: ADD
Message-ID: <nested.1@example.org>
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary=outer

--outer
Content-Type: multipart/alternative; boundary="alt"

--alt
Content-Type: text/plain

Keys below and attached.
--alt
Content-Type: multipart/related; boundary="rel"; type="text/plain"

--rel
Content-Type: text/plain; charset=us-ascii

EOF
	cat "$keys/alice.asc"
	cat <<'EOF'
--rel
Content-Type: image/png
Content-Transfer-Encoding: base64

iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR4nGNgYGBgAAAABQABpfZFQAAAAABJRU5ErkJggg==
--rel--
--alt--

--outer
Content-Type: application/pgp-keys; name=bob.asc
Content-Transfer-Encoding: base64

EOF
	b64 "$keys/bob.asc"
	cat <<'EOF'
--outer--
EOF
} >08-nested-multipart.eml

# 09: a forwarded mail (message/rfc822) whose own body is multipart with a
# base64 key.
{
	cat <<'EOF'
From: Dave Example <dave@example.org>
To: pgp-public-keys@sks.example
Subject: Fwd: ADD
Message-ID: <fwd.1@example.org>
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="fwd-boundary"

--fwd-boundary
Content-Type: text/plain

Forwarding Carol's mail.

--fwd-boundary
Content-Type: message/rfc822
Content-Disposition: inline

From: Carol Example <carol@example.org>
To: dave@example.org
Subject: ADD
Message-ID: <inner.1@example.org>
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="inner-boundary"

--inner-boundary
Content-Type: text/plain

My key, signed by Alice.
--inner-boundary
Content-Type: application/pgp-keys
Content-Transfer-Encoding: base64

EOF
	b64 "$keys/carol-signed.asc"
	cat <<'EOF'
--inner-boundary--

--fwd-boundary--
EOF
} >09-forward-rfc822.eml

# 10: multipart/signed (RFC 3156) with a real detached signature by dave
# over the canonical first part (CRLF, without the line break that
# belongs to the delimiter); the signature part is not handed over.
{
	printf 'Content-Type: text/plain; charset=us-ascii\n\n'
	cat "$keys/dave.asc"
} >10-signed-part.txt
crlf <10-signed-part.txt | perl -0777 -pe 's/\r\n\z//' | gpg -q --batch --pinentry-mode loopback \
	--passphrase '' --armor --detach-sign --digest-algo SHA256 \
	-o 10-signed-part.sig
{
	cat <<'EOF'
From: Dave Example <dave@example.org>
To: pgp-public-keys@sks.example
Subject: ADD
Message-ID: <signed.1@example.org>
MIME-Version: 1.0
Content-Type: multipart/signed; micalg=pgp-sha256;
 protocol="application/pgp-signature"; boundary="sig-b"

This is an OpenPGP/MIME signed message (RFC 4880 and 3156)
--sig-b
EOF
	cat 10-signed-part.txt
	cat <<'EOF'
--sig-b
Content-Type: application/pgp-signature; name="signature.asc"
Content-Disposition: attachment; filename="signature.asc"

EOF
	cat 10-signed-part.sig
	cat <<'EOF'
--sig-b--
EOF
} >10-multipart-signed.eml
rm -f 10-signed-part.txt 10-signed-part.sig

# 11: two armor blocks in one text part, with text around them.
{
	cat <<'EOF'
From: alice@example.org
To: pgp-public-keys@sks.example
Subject: ADD
Message-ID: <two.1@example.org>

First Alice's key:

EOF
	cat "$keys/alice.asc"
	printf '\nand Bob'"'"'s:\n\n'
	cat "$keys/bob.asc"
	printf '\nThanks.\n'
} >11-two-blocks.eml

# 12: a user's ADD mail, no MIME headers at all.
{
	cat <<'EOF'
From: "Example, Carol" <Carol@Example.ORG>
To: pgp-public-keys@sks.example
Subject: ADD
Message-ID: <add.1@example.org>

EOF
	cat "$keys/carol.asc"
} >12-add-user.eml

# 13: no key at all.
cat >13-no-key.eml <<'EOF'
From: someone@example.net
To: pgp-public-keys@sks.example
Subject: help
Message-ID: <nokey.1@example.net>

How do I upload my key?
EOF

# 14: a block with a broken CRC-24 next to a good one.
{
	cat <<'EOF'
From: pgp-public-keys@keys.peer.example
To: pgp-public-keys@sks.example
Subject: incremental
X-KeyServer-Sent: pgp-public-keys@keys.peer.example

EOF
	sed 's/^=[A-Za-z0-9+\/]\{4\}$/=AAAA/' "$keys/bob.asc"
	cat "$keys/alice.asc"
} >14-broken-crc.eml

# 15: a secret key export (must never be stored or forwarded) plus the
# public key.
{
	cat <<'EOF'
From: Dave Example <dave@example.org>
To: pgp-public-keys@sks.example
Subject: ADD
Message-ID: <secret.1@example.org>

EOF
	cat "$keys/dave-secret.asc"
	cat "$keys/dave.asc"
} >15-private-key.eml

# 16: application/octet-stream attachment (base64, two blocks) next to a
# PDF that must be skipped.
cat "$keys/alice.asc" "$keys/bob.asc" >16-keys.asc
{
	cat <<'EOF'
From: alice@example.org
To: pgp-public-keys@sks.example
Subject: ADD
Message-ID: <octet.1@example.org>
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="=_octet"

--=_octet
Content-Type: text/plain

Two keys attached.
--=_octet
Content-Type: application/pdf; name="notes.pdf"
Content-Transfer-Encoding: base64

JVBERi0xLjQKJcfsj6IKMSAwIG9iago8PC9UeXBlL0NhdGFsb2c+PgplbmRvYmoKdHJhaWxlcgo8
PC9Sb290IDEgMCBSPj4KJSVFT0YK
--=_octet
Content-Type: application/octet-stream; name="keys.asc"
Content-Disposition: attachment; filename="keys.asc"
Content-Transfer-Encoding: base64

EOF
	b64 16-keys.asc
	cat <<'EOF'
--=_octet--
EOF
} >16-octet-stream.eml
rm -f 16-keys.asc

# 17: 8bit text/plain with UTF-8 and Latin-1 (invalid UTF-8) bytes.
{
	cat <<'EOF'
From: bob@example.org
To: pgp-public-keys@sks.example
Subject: ADD
MIME-Version: 1.0
Content-Type: text/plain; charset=utf-8
Content-Transfer-Encoding: 8bit

EOF
	printf 'Schl\303\274ssel / Schl\374ssel:\n'
	cat "$keys/bob.asc"
} >17-8bit.eml

# 18: mixed line ends: LF headers, a CRLF multipart body, LF inside one
# part.
{
	cat <<'EOF'
From: carol@example.org
To: pgp-public-keys@sks.example
Subject: ADD
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary=mix

EOF
	printf -- '--mix\r\nContent-Type: text/plain\r\n\r\nCRLF part\r\n'
	printf -- '--mix\nContent-Type: application/pgp-keys\n\n'
	cat "$keys/carol.asc"
	printf -- '--mix--\r\n'
} >18-mixed-eol.eml

# 19: multipart/digest: parts without Content-Type are message/rfc822.
{
	cat <<'EOF'
From: list@example.org
To: pgp-public-keys@sks.example
Subject: key digest
MIME-Version: 1.0
Content-Type: multipart/digest; boundary="dig"

--dig

From: alice@example.org
Subject: ADD

EOF
	cat "$keys/alice.asc"
	cat <<'EOF'
--dig

From: bob@example.org
Subject: ADD
Content-Type: application/pgp-keys
Content-Transfer-Encoding: base64

EOF
	b64 "$keys/bob.asc"
	cat <<'EOF'
--dig--
EOF
} >19-digest.eml
