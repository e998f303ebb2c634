/*
 * test_mailparse.c - headers and MIME walking: the fixture mails under
 * tests/data/mails (what SKS, PKS, onak and users send, as MTAs hand it
 * over), and hostile mails built in memory (deep nesting, 100,000 parts,
 * 10 MB header lines, NUL bytes, boundary tricks, bad base64), which must
 * neither crash, hang nor use memory far beyond their size.
 */
#include "lib/unit.h"
#include "mail/mailparse.h"
#include "util/buf.h"
#include "util/log.h"
#include "util/xalloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define PUB_BEGIN "-----BEGIN PGP PUBLIC KEY BLOCK-----"
#define PRIV_BEGIN "-----BEGIN PGP PRIVATE KEY BLOCK-----"
/* PUB_BEGIN "\n" in base64. */
#define LEAF_B64 "LS0tLS1CRUdJTiBQR1AgUFVCTElDIEtFWSBCTE9DSy0tLS0tCg=="

/* ---- collecting what the walk hands over ---------------------------- */

struct collect {
	struct buf summary;	/* "type:N[sM]," per part: N public, M
				 * private armor BEGIN lines */
	struct buf data;	/* every part's bytes, concatenated */
	size_t nparts;
	size_t nproblems;
	char problem[512];	/* the reasons, "; "-joined, truncated */
	size_t stop_after;	/* return 7 from this part on (0: never) */
};

static void
collect_init(struct collect *c)
{
	memset(c, 0, sizeof *c);
	buf_init(&c->summary);
	buf_init(&c->data);
}

static void
collect_free(struct collect *c)
{
	buf_free(&c->summary);
	buf_free(&c->data);
}

static size_t
count(const char *data, size_t len, const char *needle)
{
	size_t n = 0, nl = strlen(needle);
	const char *p = data, *end = data + len, *hit;

	while (p < end && (hit = memmem(p, (size_t)(end - p), needle, nl))) {
		n++;
		p = hit + nl;
	}
	return n;
}

static int
on_part(void *ctx, const char *type, const char *data, size_t len)
{
	struct collect *c = ctx;
	size_t priv = count(data, len, PRIV_BEGIN);

	c->nparts++;
	/* Summaries of huge walks would be huge; the first parts suffice. */
	if (c->nparts <= 64) {
		buf_printf(&c->summary, "%s%s:%zu", c->nparts > 1 ? "," : "",
			   type, count(data, len, PUB_BEGIN));
		if (priv)
			buf_printf(&c->summary, "s%zu", priv);
		buf_append(&c->data, data, len);
	}
	if (c->stop_after && c->nparts >= c->stop_after)
		return 7;
	return 0;
}

static void
on_problem(void *ctx, const char *reason)
{
	struct collect *c = ctx;
	size_t used = strlen(c->problem);

	c->nproblems++;
	snprintf(c->problem + used, sizeof c->problem - used, "%s%s",
		 used ? "; " : "", reason);
}

static int
walk(const char *msg, size_t len, struct collect *c)
{
	return mail_walk_parts(msg, len, on_part, on_problem, c);
}

static int
walk_str(const char *msg, struct collect *c)
{
	return walk(msg, strlen(msg), c);
}

static char *
read_mail(const char *name, size_t *len)
{
	char rel[256];

	snprintf(rel, sizeof rel, "mails/%s", name);
	return unit_read_file(unit_data_path(rel), len);
}

static char *
read_key(const char *name, size_t *len)
{
	char rel[256];

	snprintf(rel, sizeof rel, "keys/%s", name);
	return unit_read_file(unit_data_path(rel), len);
}

/* Timing and RSS limits mean nothing under valgrind or sanitizers. */
static int
instrumented(void)
{
#if defined(__SANITIZE_ADDRESS__)
	return 1;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(memory_sanitizer)
	return 1;
#endif
#endif
	return getenv("VALGRIND") != NULL || getenv("PB_SLOW_TESTS") != NULL;
}

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- fixture mails ---------------------------------------------------- */

struct hdr_case {
	const char *file;
	const char *subject;
	const char *message_id;
	const char *from;
	const char *keyserver_sent;	/* space-joined */
	const char *content_type;
};

static const struct hdr_case hdr_cases[] = {
	{ "01-sks-mailsync.eml", "incremental", NULL,
	  "pgp-public-keys@sks.example", "pgp-public-keys@sks.example",
	  "application/pgp-keys" },
	{ "02-pks-incremental.eml", "incremental",
	  "20240101120000.AB12@keys.peer.example",
	  "pgp-public-keys@keys.peer.example",
	  "pgp-public-keys@keys.origin.example pgp-public-keys@keys.peer.example",
	  "application/pgp-keys" },
	{ "03-mbox-from.eml", "incremental",
	  "20240101120000.AB12@keys.peer.example",
	  "pgp-public-keys@keys.peer.example",
	  "pgp-public-keys@keys.origin.example pgp-public-keys@keys.peer.example",
	  "application/pgp-keys" },
	{ "04-crlf.eml", "incremental",
	  "20240101120000.AB12@keys.peer.example",
	  "pgp-public-keys@keys.peer.example",
	  "pgp-public-keys@keys.origin.example pgp-public-keys@keys.peer.example",
	  "application/pgp-keys" },
	{ "05-base64-pgp-keys.eml", "incremental", "b64.1@keys.peer.example",
	  "pgp-public-keys@keys.peer.example",
	  "pgp-public-keys@keys.peer.example", "application/pgp-keys" },
	{ "06-qp-text.eml", "ADD", "qp.1@example.org", "bob@example.org", "",
	  "text/plain" },
	{ "07-multipart-mixed.eml", "ADD", "mixed.1@example.org",
	  "carol@example.org", "", "multipart/mixed" },
	{ "08-nested-multipart.eml", "ADD", "nested.1@example.org",
	  "alice@example.org", "", "multipart/mixed" },
	{ "09-forward-rfc822.eml", "Fwd: ADD", "fwd.1@example.org",
	  "dave@example.org", "", "multipart/mixed" },
	{ "10-multipart-signed.eml", "ADD", "signed.1@example.org",
	  "dave@example.org", "", "multipart/signed" },
	{ "11-two-blocks.eml", "ADD", "two.1@example.org", "alice@example.org",
	  "", "text/plain" },
	{ "12-add-user.eml", "ADD", "add.1@example.org", "carol@example.org",
	  "", "text/plain" },
	{ "13-no-key.eml", "help", "nokey.1@example.net",
	  "someone@example.net", "", "text/plain" },
	{ "14-broken-crc.eml", "incremental", NULL,
	  "pgp-public-keys@keys.peer.example",
	  "pgp-public-keys@keys.peer.example", "text/plain" },
	{ "15-private-key.eml", "ADD", "secret.1@example.org",
	  "dave@example.org", "", "text/plain" },
	{ "16-octet-stream.eml", "ADD", "octet.1@example.org",
	  "alice@example.org", "", "multipart/mixed" },
	{ "17-8bit.eml", "ADD", NULL, "bob@example.org", "", "text/plain" },
	{ "18-mixed-eol.eml", "ADD", NULL, "carol@example.org", "",
	  "multipart/mixed" },
	{ "19-digest.eml", "key digest", NULL, "list@example.org", "",
	  "multipart/digest" },
};

static int
str_eq(const char *got, const char *want)
{
	if (got == NULL || want == NULL)
		return got == want;
	return strcmp(got, want) == 0;
}

static void
test_fixture_headers(void)
{
	size_t i, k;

	for (i = 0; i < sizeof hdr_cases / sizeof hdr_cases[0]; i++) {
		const struct hdr_case *tc = &hdr_cases[i];
		struct mail_headers h;
		struct pb_err err;
		struct buf ks = BUF_INIT;
		size_t len;
		char *msg = read_mail(tc->file, &len);

		CHECK_MSG(msg != NULL, "%s: cannot read", tc->file);
		CHECK_OK(mail_parse_headers(msg, len, &h, &err), &err);
		for (k = 0; k < h.n_keyserver_sent; k++)
			buf_printf(&ks, "%s%s", k ? " " : "",
				   h.keyserver_sent[k]);
		CHECK_MSG(str_eq(h.subject, tc->subject), "%s: subject \"%s\"",
			  tc->file, h.subject ? h.subject : "(null)");
		CHECK_MSG(str_eq(h.message_id, tc->message_id),
			  "%s: message_id \"%s\"", tc->file,
			  h.message_id ? h.message_id : "(null)");
		CHECK_MSG(str_eq(h.from, tc->from), "%s: from \"%s\"", tc->file,
			  h.from ? h.from : "(null)");
		CHECK_MSG(strcmp(buf_str(&ks), tc->keyserver_sent) == 0,
			  "%s: keyserver_sent \"%s\"", tc->file, buf_str(&ks));
		CHECK_MSG(str_eq(h.content_type, tc->content_type),
			  "%s: content_type \"%s\"", tc->file, h.content_type);
		buf_free(&ks);
		mail_headers_free(&h);
		free(msg);
	}
}

struct part_case {
	const char *file;
	const char *summary;
};

static const struct part_case part_cases[] = {
	{ "01-sks-mailsync.eml", "application/pgp-keys:1" },
	{ "02-pks-incremental.eml", "application/pgp-keys:1" },
	{ "03-mbox-from.eml", "application/pgp-keys:1" },
	{ "04-crlf.eml", "application/pgp-keys:1" },
	{ "05-base64-pgp-keys.eml", "application/pgp-keys:1" },
	{ "06-qp-text.eml", "text/plain:1" },
	{ "07-multipart-mixed.eml", "text/plain:0,application/pgp-keys:1" },
	{ "08-nested-multipart.eml",
	  "text/plain:0,text/plain:1,application/pgp-keys:1" },
	{ "09-forward-rfc822.eml",
	  "text/plain:0,text/plain:0,application/pgp-keys:1" },
	{ "10-multipart-signed.eml", "text/plain:1" },
	{ "11-two-blocks.eml", "text/plain:2" },
	{ "12-add-user.eml", "text/plain:1" },
	{ "13-no-key.eml", "text/plain:0" },
	{ "14-broken-crc.eml", "text/plain:2" },
	{ "15-private-key.eml", "text/plain:1s1" },
	{ "16-octet-stream.eml", "text/plain:0,application/octet-stream:2" },
	{ "17-8bit.eml", "text/plain:1" },
	{ "18-mixed-eol.eml", "text/plain:0,application/pgp-keys:1" },
	{ "19-digest.eml", "text/plain:1,application/pgp-keys:1" },
};

static void
test_fixture_parts(void)
{
	size_t i;

	for (i = 0; i < sizeof part_cases / sizeof part_cases[0]; i++) {
		const struct part_case *tc = &part_cases[i];
		struct collect c;
		size_t len;
		char *msg = read_mail(tc->file, &len);

		CHECK_MSG(msg != NULL, "%s: cannot read", tc->file);
		collect_init(&c);
		CHECK_INT(walk(msg, len, &c), 0);
		CHECK_MSG(strcmp(buf_str(&c.summary), tc->summary) == 0,
			  "%s: parts \"%s\", want \"%s\"", tc->file,
			  buf_str(&c.summary), tc->summary);
		CHECK_MSG(c.nproblems == 0, "%s: problems: %s", tc->file,
			  c.problem);
		collect_free(&c);
		free(msg);
	}
}

/* The decoded bytes are exactly what was encoded. */
static void
check_decoded(const char *mail, const char *expect_path, int from_keys,
	      const char *also)
{
	struct collect c;
	struct buf want = BUF_INIT, got = BUF_INIT;
	size_t len;
	char *msg = read_mail(mail, &len), *exp, *exp2 = NULL;

	exp = from_keys ? read_key(expect_path, &len) : read_mail(expect_path, &len);
	CHECK(msg != NULL && exp != NULL);
	buf_append(&want, exp, len);
	if (also) {
		exp2 = read_key(also, &len);
		CHECK(exp2 != NULL);
		buf_append(&want, exp2, len);
	}
	collect_init(&c);
	CHECK_INT(walk(msg, strlen(msg), &c), 0);
	buf_append(&got, c.data.data, c.data.len);
	/* Only the key part counts: drop what precedes the first armor. */
	{
		const char *g = buf_str(&got), *s = strstr(g, "-----BEGIN");
		const char *w = buf_str(&want), *ws = strstr(w, "-----BEGIN");

		CHECK(s != NULL && ws != NULL);
		CHECK_MSG(strcmp(s, ws) == 0, "%s: decoded text differs", mail);
	}
	collect_free(&c);
	buf_free(&want);
	buf_free(&got);
	free(msg);
	free(exp);
	free(exp2);
}

static void
test_decoded_exact(void)
{
	check_decoded("05-base64-pgp-keys.eml", "alice.asc", 1, NULL);
	if (unit_failed())
		return;
	check_decoded("06-qp-text.eml", "06-qp-body.txt", 0, NULL);
	if (unit_failed())
		return;
	check_decoded("16-octet-stream.eml", "alice.asc", 1, "bob.asc");
	if (unit_failed())
		return;
	check_decoded("09-forward-rfc822.eml", "carol-signed.asc", 1, NULL);
}

/* The UTF-8 of the quoted-printable part comes back as UTF-8. */
static void
test_qp_utf8(void)
{
	struct collect c;
	size_t len;
	char *msg = read_mail("06-qp-text.eml", &len);

	CHECK(msg != NULL);
	collect_init(&c);
	CHECK_INT(walk(msg, len, &c), 0);
	CHECK(strstr(buf_str(&c.summary), "text/plain") != NULL);
	{
		static const char want[] = "Schl\303\274ssel. This first line is "
			"deliberately longer than seventy-six characters so";

		CHECK(memmem(c.data.data, c.data.len, want, sizeof want - 1));
	}
	collect_free(&c);
	free(msg);
}

/* quoted-printable details (RFC 2045 6.7), decoded bytes compared. */
static void
test_quoted_printable(void)
{
	static const struct {
		const char *in, *want;
		size_t want_len;	/* 0: strlen(want) */
	} cases[] = {
		{ "=41=4a=3D=3d", "AJ==", 0 },
		{ "soft=\nbreak, soft=\r\nbreak, padded= \t\nbreak",
		  "softbreak, softbreak, paddedbreak", 0 },
		{ "trailing blanks  \nare dropped\t\r\nhere", "trailing blanks\n"
		  "are dropped\r\nhere", 0 },
		{ "inner  blanks stay", "inner  blanks stay", 0 },
		{ "=ZZ=4=\x01 kept", "=ZZ=4=\x01 kept", 0 },
		{ "end=", "end", 0 },
		{ "end= \t", "end", 0 },
		{ "end=\r", "end", 0 },
		{ "blank at the end \t", "blank at the end", 0 },
		{ "=00nul", "\0nul", 4 },
	};
	size_t i;

	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct buf m = BUF_INIT;
		struct collect c;
		size_t wl = cases[i].want_len ? cases[i].want_len :
			    strlen(cases[i].want);

		buf_printf(&m, "Content-Transfer-Encoding: quoted-printable\n\n"
			   "%s", cases[i].in);
		collect_init(&c);
		CHECK_INT(walk((char *)m.data, m.len, &c), 0);
		CHECK_MSG(c.data.len == wl &&
			  memcmp(c.data.data, cases[i].want, wl) == 0,
			  "case %zu: got \"%.*s\"", i, (int)c.data.len,
			  (char *)c.data.data);
		CHECK_INT(c.nproblems, 0);
		collect_free(&c);
		buf_free(&m);
	}
}

/* ---- headers, in memory ----------------------------------------------- */

static void
test_skip_from_line(void)
{
	static const struct {
		const char *in;
		size_t want;
	} cases[] = {
		{ "From a@b.example Mon Jan  1 00:00:00 2024\nSubject: x\n", 42 },
		{ "From a@b.example Mon Jan  1 00:00:00 2024\r\nSubject: x\n", 43 },
		{ "From a@b.example", 16 },
		{ "From: a@b.example\n", 0 },
		{ "From : a@b.example\n", 0 },
		{ "Fromage: yes\n", 0 },
		{ "from a@b.example x\n", 0 },
		{ ">From a@b\n", 0 },
		{ "", 0 },
		{ "From", 0 },
	};
	size_t i;

	for (i = 0; i < sizeof cases / sizeof cases[0]; i++)
		CHECK_MSG(mail_skip_from_line(cases[i].in, strlen(cases[i].in))
			  == cases[i].want, "case %zu", i);
}

struct hdr_mem_case {
	const char *name;
	const char *mail;
	const char *subject;
	const char *message_id;
	const char *from;
	const char *keyserver_sent;
	const char *content_type;
};

static const struct hdr_mem_case hdr_mem_cases[] = {
	{ "names are case-insensitive",
	  "SUBJECT: incremental\nmessage-id: <A@B>\nfrom: X@Y.Z\n"
	  "x-keyserver-sent: K@S\nCONTENT-TYPE: Application/PGP-Keys\n\n",
	  "incremental", "A@B", "x@y.z", "k@s", "application/pgp-keys" },
	{ "first Subject wins, folded with CRLF and tabs",
	  "Subject: one\r\n\ttwo\r\n  three\r\nSubject: later\r\n\r\nbody",
	  "one\ttwo  three", NULL, NULL, "", "text/plain" },
	{ "control characters in the subject",
	  "Subject: a\001b\rc\n\n", "a b c", NULL, NULL, "", "text/plain" },
	{ "encoded-words are left alone",
	  "Subject: =?UTF-8?Q?Schl=C3=BCssel?=\n\n",
	  "=?UTF-8?Q?Schl=C3=BCssel?=", NULL, NULL, "", "text/plain" },
	{ "empty subject", "Subject:\n\n", "", NULL, NULL, "", "text/plain" },
	{ "message-id with a control character is unusable",
	  "Message-ID: <a\001b@c>\n\n", NULL, NULL, NULL, "", "text/plain" },
	{ "message-id with a bare CR is unusable",
	  "Message-ID: <a\rBcc: x@y>\n\n", NULL, NULL, NULL, "", "text/plain" },
	{ "message-id with a space is unusable",
	  "Message-ID: <a b@c>\n\n", NULL, NULL, NULL, "", "text/plain" },
	{ "message-id with 8-bit bytes is unusable",
	  "Message-ID: <a\303\274@c>\n\n", NULL, NULL, NULL, "", "text/plain" },
	{ "message-id without >", "Message-ID: <abc@d\n\n", NULL, NULL, NULL,
	  "", "text/plain" },
	{ "empty message-id", "Message-ID: <>\n\n", NULL, NULL, NULL, "",
	  "text/plain" },
	{ "bare message-id", "Message-ID:  abc@d  \n\n", NULL, "abc@d", NULL,
	  "", "text/plain" },
	{ "folded message-id, comment after",
	  "Message-ID:\n <x.y@z> (sent by pksd)\n\n", NULL, "x.y@z", NULL, "",
	  "text/plain" },
	{ "addresses: display names, comments, lists",
	  "From: \"Doe, John\" <John.Doe@Example.COM>\n"
	  "X-KeyServer-Sent: pgp@a.example (keyserver)\n"
	  "X-KeyServer-Sent: A <pgp@b.example>, pgp@c.example\n"
	  "X-KeyServer-Sent: <PGP@D.EXAMPLE>\n\n",
	  NULL, NULL, "john.doe@example.com",
	  "pgp@a.example pgp@b.example pgp@c.example pgp@d.example",
	  "text/plain" },
	{ "addresses libetpan would invent are not taken",
	  "From: a b@c.example\nX-KeyServer-Sent: just garbage\n"
	  "X-KeyServer-Sent: <>\nX-KeyServer-Sent:\n\n",
	  NULL, NULL, "b@c.example", "", "text/plain" },
	{ "address with a control character",
	  "From: <a\001b@c.example>\n\n", NULL, NULL, NULL, "", "text/plain" },
	{ "no header section at all",
	  "-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nabc\n", NULL, NULL, NULL,
	  "", "text/plain" },
	{ "a non-header line ends the headers",
	  "Subject: ADD\n-----BEGIN PGP PUBLIC KEY BLOCK-----\nFrom: x@y\n",
	  "ADD", NULL, NULL, "", "text/plain" },
	{ "mbox From line and MTA headers",
	  "From pgp@peer.example Mon Jan  1 00:00:00 2024\n"
	  "Return-Path: <pgp@peer.example>\nDelivered-To: me@here\n"
	  "X-Original-To: me@here\nFrom: pgp@peer.example\n\n",
	  NULL, NULL, "pgp@peer.example", "", "text/plain" },
	{ "obsolete blank before the colon",
	  "Subject : spaced\n\n", "spaced", NULL, NULL, "", "text/plain" },
	{ "unparsable content type counts as text/plain",
	  "Content-Type: application\n\n", NULL, NULL, NULL, "",
	  "text/plain" },
	{ "content type with comments and parameters",
	  "Content-Type: (c) Multipart/Mixed (x); boundary=\"q\"\n\n", NULL,
	  NULL, NULL, "", "multipart/mixed" },
	{ "header without a final line break",
	  "Subject: end", "end", NULL, NULL, "", "text/plain" },
	{ "empty mail", "", NULL, NULL, NULL, "", "text/plain" },
};

static void
test_headers_in_memory(void)
{
	size_t i, k;

	for (i = 0; i < sizeof hdr_mem_cases / sizeof hdr_mem_cases[0]; i++) {
		const struct hdr_mem_case *tc = &hdr_mem_cases[i];
		struct mail_headers h;
		struct pb_err err;
		struct buf ks = BUF_INIT;

		CHECK_OK(mail_parse_headers(tc->mail, strlen(tc->mail), &h,
					    &err), &err);
		for (k = 0; k < h.n_keyserver_sent; k++)
			buf_printf(&ks, "%s%s", k ? " " : "",
				   h.keyserver_sent[k]);
		CHECK_MSG(str_eq(h.subject, tc->subject), "%s: subject \"%s\"",
			  tc->name, h.subject ? h.subject : "(null)");
		CHECK_MSG(str_eq(h.message_id, tc->message_id),
			  "%s: message_id \"%s\"", tc->name,
			  h.message_id ? h.message_id : "(null)");
		CHECK_MSG(str_eq(h.from, tc->from), "%s: from \"%s\"", tc->name,
			  h.from ? h.from : "(null)");
		CHECK_MSG(strcmp(buf_str(&ks), tc->keyserver_sent) == 0,
			  "%s: keyserver_sent \"%s\"", tc->name, buf_str(&ks));
		CHECK_MSG(str_eq(h.content_type, tc->content_type),
			  "%s: content_type \"%s\"", tc->name, h.content_type);
		buf_free(&ks);
		mail_headers_free(&h);
	}
}

/* A hostile mail with a million X-KeyServer-Sent headers keeps 1024. */
static void
test_keyserver_sent_cap(void)
{
	struct buf m = BUF_INIT;
	struct mail_headers h;
	struct pb_err err;
	int i;

	for (i = 0; i < 5000; i++)
		buf_printf(&m, "X-KeyServer-Sent: k%d@s.example\n", i);
	buf_puts(&m, "\nbody\n");
	CHECK_OK(mail_parse_headers((char *)m.data, m.len, &h, &err), &err);
	CHECK_INT(h.n_keyserver_sent, 1024);
	CHECK_STR(h.keyserver_sent[0], "k0@s.example");
	CHECK_STR(h.keyserver_sent[1023], "k1023@s.example");
	mail_headers_free(&h);
	buf_free(&m);
}

/* ---- MIME edge cases, in memory ------------------------------------- */

struct walk_case {
	const char *name;
	const char *mail;
	const char *summary;
	const char *problem;	/* substring of the reasons, or NULL: none */
};

static const struct walk_case walk_cases[] = {
	{ "non-MIME mail with SKS's Content-type",
	  "Subject: incremental\nContent-type: application/pgp-keys\n\n"
	  PUB_BEGIN "\n", "application/pgp-keys:1", NULL },
	{ "no Content-Type: text/plain",
	  "Subject: x\n\n" PUB_BEGIN "\n", "text/plain:1", NULL },
	{ "skipped types",
	  "Content-Type: multipart/mixed; boundary=b\n\n"
	  "--b\nContent-Type: image/png\n\n" PUB_BEGIN "\n"
	  "--b\nContent-Type: application/pgp-signature\n\nsig\n"
	  "--b\nContent-Type: application/pgp-encrypted\n\nVersion: 1\n"
	  "--b\nContent-Type: message/delivery-status\n\nx\n"
	  "--b\nContent-Type: text/html\n\n<p>hi</p>\n"
	  "--b\nContent-Type: application/pgp\n\npgp\n"
	  "--b--\n", "text/html:0,application/pgp:0", NULL },
	{ "missing close delimiter: the last part runs to the end",
	  "Content-Type: multipart/mixed; boundary=b\n\n"
	  "--b\n\none\n--b\n\n" PUB_BEGIN "\n",
	  "text/plain:0,text/plain:1", NULL },
	{ "boundary as a prefix inside a part is content",
	  "Content-Type: multipart/mixed; boundary=b\n\n"
	  "--b\n\n--bb\n--b x\n--b-\n" PUB_BEGIN "\n--b--\n",
	  "text/plain:1", NULL },
	{ "transport padding after a delimiter, junk after the close",
	  "Content-Type: multipart/mixed; boundary=\"b c\"\n\n"
	  "--b c \t\r\n\r\n" PUB_BEGIN "\r\n--b c--junk\r\n\r\nepilogue "
	  PUB_BEGIN "\n", "text/plain:1", NULL },
	{ "preamble is not content",
	  "Content-Type: multipart/mixed; boundary=b\n\n"
	  PUB_BEGIN "\n--b\n\nx\n--b--\n", "text/plain:0", NULL },
	{ "delimiter right at the body start, empty parts dropped",
	  "Content-Type: multipart/mixed; boundary=b\n\n"
	  "--b\n--b\n\n\n--b\n\nx\n--b--\n", "text/plain:0", NULL },
	{ "inner multipart reusing the outer boundary",
	  "Content-Type: multipart/mixed; boundary=b\n\n"
	  "--b\nContent-Type: multipart/mixed; boundary=b\n\n"
	  "--b\n\n" PUB_BEGIN "\n--b--\n", "text/plain:1", NULL },
	{ "empty boundary parameter",
	  "Content-Type: multipart/mixed; boundary=\"\"\n\n--\n\n" PUB_BEGIN
	  "\n----\n", "text/plain:1",
	  "multipart/mixed without a boundary parameter" },
	{ "no boundary parameter",
	  "Content-Type: multipart/alternative\n\n" PUB_BEGIN "\n",
	  "text/plain:1", "multipart/alternative without a boundary" },
	{ "no delimiter line at all",
	  "Content-Type: multipart/mixed; boundary=zz\n\n--z\n" PUB_BEGIN "\n",
	  "text/plain:1", "has no boundary delimiter line" },
	{ "invalid base64: decoded, and the raw text too",
	  "Content-Type: application/pgp-keys\n"
	  "Content-Transfer-Encoding: base64\n\n" PUB_BEGIN "\n\nmQINBF==\n",
	  "application/pgp-keys:0,text/plain:1",
	  "invalid characters in a base64 MIME part" },
	{ "unknown transfer encoding",
	  "Content-Type: text/plain\nContent-Transfer-Encoding: x-uuencode\n\n"
	  PUB_BEGIN "\n", "text/plain:1",
	  "unknown Content-Transfer-Encoding \"x-uuencode\"" },
	{ "base64 message/rfc822",
	  "Content-Type: message/rfc822\nContent-Transfer-Encoding: base64\n\n"
	  "U3ViamVjdDogeAoKLS0tLS1CRUdJTiBQR1AgUFVCTElDIEtFWSBCTE9DSy0tLS0tCg==\n",
	  "text/plain:1", "base64-encoded message/rfc822 part" },
	{ "message/rfc822 with no body",
	  "Content-Type: message/rfc822\n\n", "", NULL },
	{ "multipart with base64 transfer encoding is walked anyway",
	  "Content-Type: multipart/mixed; boundary=b\n"
	  "Content-Transfer-Encoding: base64\n\n--b\n\n" PUB_BEGIN "\n--b--\n",
	  "text/plain:1", NULL },
	{ "transfer encoding names: case, comments",
	  "Content-Type: application/pgp-keys\n"
	  "Content-Transfer-Encoding: (by hand) BASE64 \n\n" LEAF_B64 "\n",
	  "application/pgp-keys:1", NULL },
	{ "explicit identity encodings",
	  "Content-Type: multipart/mixed; boundary=b\n\n"
	  "--b\nContent-Transfer-Encoding: 7BIT\n\n" PUB_BEGIN "\n"
	  "--b\nContent-Transfer-Encoding: 8bit\n\n" PUB_BEGIN "\n"
	  "--b\nContent-Transfer-Encoding: binary\n\n" PUB_BEGIN "\n--b--\n",
	  "text/plain:1,text/plain:1,text/plain:1", NULL },
	{ "a transfer encoding name is a whole token",
	  "Content-Transfer-Encoding: base64x\n\n" PUB_BEGIN "\n",
	  "text/plain:1", "unknown Content-Transfer-Encoding \"base64x\"" },
	{ "a media type is a whole token",
	  "Content-Type: textual/plain\n\n" PUB_BEGIN "\n", "", NULL },
	{ "type without subtype counts as text/plain",
	  "Content-Type: application\n\n" PUB_BEGIN "\n", "text/plain:1",
	  NULL },
};

static void
test_walk_cases(void)
{
	size_t i;

	for (i = 0; i < sizeof walk_cases / sizeof walk_cases[0]; i++) {
		const struct walk_case *tc = &walk_cases[i];
		struct collect c;

		collect_init(&c);
		CHECK_INT(walk_str(tc->mail, &c), 0);
		CHECK_MSG(strcmp(buf_str(&c.summary), tc->summary) == 0,
			  "%s: parts \"%s\", want \"%s\"", tc->name,
			  buf_str(&c.summary), tc->summary);
		if (tc->problem == NULL)
			CHECK_MSG(c.nproblems == 0, "%s: problems: %s", tc->name,
				  c.problem);
		else
			CHECK_MSG(c.nproblems == 1 &&
				  strstr(c.problem, tc->problem) != NULL,
				  "%s: problems (%zu): %s", tc->name,
				  c.nproblems, c.problem);
		collect_free(&c);
	}
}

static void
test_nul_and_invalid_utf8(void)
{
	static const char mail[] =
		"Subject: a\0b\nFrom: x\0@y\nContent-Type: multipart/mixed; "
		"boundary=b\n\n--b\nContent-Type: text/plain\0junk\n\n"
		"\0\377\376\300\200" PUB_BEGIN "\n\0\n--b\n\n\xc3\x28\n--b--\n";
	struct collect c;
	struct mail_headers h;
	struct pb_err err;

	CHECK_OK(mail_parse_headers(mail, sizeof mail - 1, &h, &err), &err);
	CHECK_STR(h.subject, "a b");
	CHECK(h.from == NULL);
	CHECK_STR(h.content_type, "multipart/mixed");
	mail_headers_free(&h);

	collect_init(&c);
	CHECK_INT(walk(mail, sizeof mail - 1, &c), 0);
	CHECK_STR(buf_str(&c.summary), "text/plain:1,text/plain:0");
	/* Every byte of the first part arrives, NULs included. */
	CHECK_INT(c.data.len, 5 + strlen(PUB_BEGIN) + 2 + 2);
	CHECK_INT(c.nproblems, 0);
	collect_free(&c);
}

/* part_cb's non-zero value stops the walk and is returned. */
static void
test_stop(void)
{
	struct collect c;
	size_t len;
	char *msg = read_mail("08-nested-multipart.eml", &len);

	CHECK(msg != NULL);
	collect_init(&c);
	c.stop_after = 2;
	CHECK_INT(walk(msg, len, &c), 7);
	CHECK_INT(c.nparts, 2);
	collect_free(&c);
	free(msg);
}

static int
count_part(void *ctx, const char *type, const char *data, size_t len)
{
	(void)type;
	(void)data;
	(void)len;
	++*(size_t *)ctx;
	return 0;
}

static void
test_null_problem_cb(void)
{
	const char *m = "Content-Type: multipart/mixed\n\n" PUB_BEGIN "\n";
	size_t n = 0;

	CHECK_INT(mail_walk_parts(m, strlen(m), count_part, NULL, &n), 0);
	CHECK_INT(n, 1);
}

/* ---- depth ----------------------------------------------------------- */

/* nested - levels multiparts inside each other (distinct boundaries), a
 * base64 application/pgp-keys leaf (alice) at the bottom; or, with
 * rfc822, message/rfc822 levels. */
static void
nested(struct buf *m, int levels, int rfc822, const char *leaf_b64)
{
	int i;

	for (i = 0; i < levels; i++) {
		if (rfc822)
			buf_puts(m, "Content-Type: message/rfc822\n\n");
		else
			buf_printf(m, "Content-Type: multipart/mixed; "
				   "boundary=\"b%d\"\n\n--b%d\n", i, i);
	}
	buf_printf(m, "Content-Type: application/pgp-keys\n"
		   "Content-Transfer-Encoding: base64\n\n%s\n", leaf_b64);
	if (!rfc822)
		for (i = levels - 1; i >= 0; i--)
			buf_printf(m, "--b%d--\n", i);
}

static void
test_depth_limit(void)
{
	int rfc822;

	for (rfc822 = 0; rfc822 <= 1; rfc822++) {
		struct buf m = BUF_INIT;
		struct collect c;

		/* MAIL_MAX_MIME_DEPTH containers: the leaf is still reached. */
		nested(&m, MAIL_MAX_MIME_DEPTH, rfc822, LEAF_B64);
		collect_init(&c);
		CHECK_INT(walk((char *)m.data, m.len, &c), 0);
		CHECK_STR(buf_str(&c.summary), "application/pgp-keys:1");
		CHECK_MSG(c.nproblems == 0, "problems: %s", c.problem);
		collect_free(&c);

		/* One more: reported, the raw body scanned as text (where
		 * the base64 key is invisible). */
		buf_reset(&m);
		nested(&m, MAIL_MAX_MIME_DEPTH + 1, rfc822, LEAF_B64);
		collect_init(&c);
		CHECK_INT(walk((char *)m.data, m.len, &c), 0);
		CHECK_STR(buf_str(&c.summary), "text/plain:0");
		CHECK_INT(c.nproblems, 1);
		CHECK_STR(c.problem, "MIME nested deeper than 32 levels");
		collect_free(&c);
		buf_free(&m);
	}
}

/* 5,000 levels of multipart, 100,000 of message/rfc822: no stack
 * overflow, linear time, an inline key at the bottom still found. */
static void
test_deep_hostile(void)
{
	static const struct {
		int levels, rfc822;
	} cases[] = { { 5000, 0 }, { 100000, 1 }, { 100000, 0 } };
	size_t i;

	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct buf m = BUF_INIT;
		struct collect c;
		double t;
		int k;

		for (k = 0; k < cases[i].levels; k++) {
			if (cases[i].rfc822)
				buf_puts(&m, "Content-Type: message/rfc822\n\n");
			else
				buf_printf(&m, "Content-Type: multipart/mixed; "
					   "boundary=\"b%d\"\n\n--b%d\n", k, k);
		}
		buf_puts(&m, "\n" PUB_BEGIN "\n");
		collect_init(&c);
		t = now();
		CHECK_INT(walk((char *)m.data, m.len, &c), 0);
		t = now() - t;
		printf("# %d levels of %s (%zu bytes): %.3f s\n",
		       cases[i].levels, cases[i].rfc822 ? "message/rfc822" :
		       "multipart", m.len, t);
		CHECK_STR(buf_str(&c.summary), "text/plain:1");
		CHECK_STR(c.problem, "MIME nested deeper than 32 levels");
		/* A hang's bound; the speed is make bench's. */
		CHECK_MSG(instrumented() || t < 30.0, "took %.3f s", t);
		printf("# bench: test_mailparse: %d levels of %s: %.0f ms (target <= 1000 ms)\n",
		       cases[i].levels, cases[i].rfc822 ? "message/rfc822" :
		       "multipart", t * 1000);
		collect_free(&c);
		buf_free(&m);
	}
}

/* ---- size ------------------------------------------------------------ */

static void
test_many_parts(void)
{
	struct buf m = BUF_INIT;
	struct collect c;
	double t;
	int i;

	buf_puts(&m, "Content-Type: multipart/mixed; boundary=b\n\n");
	for (i = 0; i < 100000; i++)
		buf_puts(&m, "--b\n\nx\n");
	buf_puts(&m, "--b\nContent-Type: application/pgp-keys\n\n" PUB_BEGIN
		 "\n--b--\n");
	collect_init(&c);
	t = now();
	CHECK_INT(walk((char *)m.data, m.len, &c), 0);
	t = now() - t;
	printf("# 100,001 parts (%zu bytes): %.3f s\n", m.len, t);
	CHECK_INT(c.nparts, 100001);
	CHECK_INT(c.nproblems, 0);
	CHECK_MSG(instrumented() || t < 30.0, "took %.3f s", t);
	printf("# bench: test_mailparse: 100,001 parts: %.0f ms (target <= 1000 ms)\n",
	       t * 1000);
	collect_free(&c);
	buf_free(&m);
}

/* 10 MB single header lines, of every header we look at. */
static void
test_huge_header_lines(void)
{
	static const char *const names[] = {
		"Subject", "Message-ID", "From", "X-KeyServer-Sent",
		"Content-Type", "Content-Transfer-Encoding", "X-Junk",
	};
	const size_t big = 10u << 20;
	size_t i;

	for (i = 0; i < sizeof names / sizeof names[0]; i++) {
		struct buf m = BUF_INIT;
		struct mail_headers h;
		struct pb_err err;
		struct collect c;
		double t;

		buf_printf(&m, "%s: ", names[i]);
		if (strcmp(names[i], "Content-Type") == 0)
			buf_puts(&m, "text/plain; x=\"");
		buf_reserve(&m, big);
		memset(m.data + m.len, strcmp(names[i], "From") == 0 ? 'a' : 'x',
		       big);
		m.len += big;
		if (strcmp(names[i], "X-KeyServer-Sent") == 0)
			memcpy(m.data + m.len - 200, "@k, a@b, ", 9);
		buf_puts(&m, "\n\n" PUB_BEGIN "\n");
		t = now();
		CHECK_OK(mail_parse_headers((char *)m.data, m.len, &h, &err),
			 &err);
		if (strcmp(names[i], "Subject") == 0)
			CHECK_INT(strlen(h.subject), big);
		else
			CHECK(h.subject == NULL);
		CHECK(h.message_id == NULL);	/* too long */
		CHECK(h.from == NULL);
		CHECK_STR(h.content_type, "text/plain");
		mail_headers_free(&h);
		collect_init(&c);
		CHECK_INT(walk((char *)m.data, m.len, &c), 0);
		t = now() - t;
		CHECK_MSG(strcmp(buf_str(&c.summary), "text/plain:1") == 0,
			  "%s: %s", names[i], buf_str(&c.summary));
		CHECK_MSG(instrumented() || t < 30.0, "%s: took %.3f s",
			  names[i], t);
		printf("# bench: test_mailparse: a 10 MB %s line: %.0f ms (target <= 2000 ms)\n",
		       names[i], t * 1000);
		collect_free(&c);
		buf_free(&m);
	}
}

/* current_rss_kb - resident set size now, from /proc/self/statm. */
static long
current_rss_kb(void)
{
	long pages = 0, resident = 0;
	FILE *f = fopen("/proc/self/statm", "r");

	if (f == NULL)
		return -1;
	if (fscanf(f, "%ld %ld", &pages, &resident) != 2)
		resident = -1;
	fclose(f);
	return resident < 0 ? -1 : resident * (sysconf(_SC_PAGESIZE) / 1024);
}

/* peak_extra_kb - in a child (so that earlier tests' peaks do not count):
 * build a 16 MB mail of the given kind, walk it, and return how far the
 * peak RSS rose above the RSS with the mail in memory. */
static long
peak_extra_kb(int kind, size_t size, size_t *nparts_out)
{
	int pfd[2], status;
	long extra = -1, got[2] = { -1, -1 };
	pid_t pid;

	if (pipe(pfd) != 0)
		return -1;
	pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		static const char hdr_b64[] = "Content-Type: application/pgp-keys\n"
			"Content-Transfer-Encoding: base64\n\n";
		static const char hdr_mp[] = "Content-Type: multipart/mixed; "
			"boundary=b\n\n";
		char *m = malloc(size);
		size_t i, len = 0;
		struct rusage ru;
		long before, v;
		size_t nparts = 0;

		if (m == NULL)
			_exit(1);
		if (kind == 0) {	/* one base64 part, 76-column lines */
			memcpy(m, hdr_b64, sizeof hdr_b64 - 1);
			len = sizeof hdr_b64 - 1;
			for (i = 0; len < size; len++, i++)
				m[len] = (i % 77 == 76) ? '\n' :
					"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"[i % 64];
		} else if (kind == 2) {	/* quoted-printable empty lines */
			static const char hdr_qp[] =
				"Content-Transfer-Encoding: quoted-printable\n\n";

			memcpy(m, hdr_qp, sizeof hdr_qp - 1);
			len = sizeof hdr_qp - 1;
			memset(m + len, '\n', size - len);
			len = size;
		} else {		/* tiny parts */
			memcpy(m, hdr_mp, sizeof hdr_mp - 1);
			len = sizeof hdr_mp - 1;
			while (len + 7 <= size) {
				memcpy(m + len, "--b\n\nx\n", 7);
				len += 7;
			}
			memset(m + len, '\n', size - len);
			len = size;
		}
		before = current_rss_kb();
		mail_walk_parts(m, len, count_part, NULL, &nparts);
		getrusage(RUSAGE_SELF, &ru);
		v = before < 0 || nparts == 0 ? -1 : ru.ru_maxrss - before;
		/* statm and ru_maxrss are read differently: when the walk
		 * adds nothing, the difference is noise around zero. */
		if (v < 0 && before >= 0 && nparts > 0)
			v = 0;
		got[0] = v;
		got[1] = (long)nparts;
		if (write(pfd[1], got, sizeof got) != (ssize_t)sizeof got)
			_exit(1);
		_exit(0);
	}
	close(pfd[1]);
	if (read(pfd[0], got, sizeof got) == (ssize_t)sizeof got) {
		extra = got[0];
		*nparts_out = got[1] < 0 ? 0 : (size_t)got[1];
	}
	close(pfd[0]);
	waitpid(pid, &status, 0);
	return extra;
}

static void
test_memory_16mb(void)
{
	const size_t size = 16u << 20;
	size_t n0 = 0, n1 = 0, n2 = 0;
	long kb0, kb1, kb2;

	kb0 = peak_extra_kb(0, size, &n0);
	kb1 = peak_extra_kb(1, size, &n1);
	kb2 = peak_extra_kb(2, size, &n2);
	/* Every build walks the three mails to their end: one part, the
	 * tiny parts (the 16 MB of "--b\n\nx\n" is 2,396,745 of them), one
	 * part. */
	CHECK_INT(n0, 1);
	CHECK_INT(n1, (size - (sizeof "Content-Type: multipart/mixed; "
				"boundary=b\n\n" - 1)) / 7);
	CHECK_INT(n2, 1);
	if (instrumented()) {
		/* A sanitizer's or valgrind's shadow memory is most of the
		 * RSS: the bound below is for the real build. */
		printf("# 16 MB mail: RSS bound not checked (instrumented build)\n");
		return;
	}
	printf("# 16 MB mail: peak RSS above the mail itself: one base64 part "
	       "%ld KB, 2.4M tiny parts %ld KB, quoted-printable newlines "
	       "%ld KB\n", kb0, kb1, kb2);
	CHECK(kb0 >= 0 && kb1 >= 0 && kb2 >= 0);
	/* Under 3x in all: the mail plus less than twice its size. */
	CHECK_MSG(kb0 < (long)(size / 1024), "base64 part: +%ld KB", kb0);
	CHECK_MSG(kb1 < (long)(size / 1024) / 4, "tiny parts: +%ld KB", kb1);
	CHECK_MSG(kb2 < (long)(size / 1024) * 5 / 4, "quoted-printable: +%ld KB",
		  kb2);
}

/* The headers a reply to a mail command is decided on: the first of
 * each (the MTA's Return-Path is on top), the mbox From line, any List-*
 * header, References kept from its end when it is very long. */
static void
test_reply_headers(void)
{
	static const char mail[] =
		"From alice@client.test Tue Dec 01 23:57:49 2026\r\n"
		"Return-path: <alice@client.test>\r\n"
		"Return-Path: <forged@evil.example>\r\n"
		"Auto-Submitted:\r\n  no\r\n"
		"Auto-Submitted: auto-replied\r\n"
		"Precedence: Bulk\r\n"
		"X-Auto-Response-Suppress: OOF, AutoReply\r\n"
		"References: <a@b> <c@d>\r\n"
		"List-Unsubscribe: <mailto:x@y>\r\n"
		"Subject: GET 0xF7923026\r\n"
		"\r\nbody\r\n";
	struct mail_headers h;
	struct pb_err err;
	struct buf big = BUF_INIT;

	CHECK_OK(mail_parse_headers(mail, strlen(mail), &h, &err), &err);
	CHECK_STR(h.from_line, "alice@client.test Tue Dec 01 23:57:49 2026");
	CHECK_STR(h.return_path, "<alice@client.test>");
	CHECK_STR(h.auto_submitted, "no");
	CHECK_STR(h.precedence, "Bulk");
	CHECK_STR(h.auto_response_suppress, "OOF, AutoReply");
	CHECK_STR(h.references, "<a@b> <c@d>");
	CHECK_INT(h.has_list_header, 1);
	CHECK_STR(h.subject, "GET 0xF7923026");
	mail_headers_free(&h);

	/* None of them: all NULL, no List-*. */
	CHECK_OK(mail_parse_headers("Subject: x\n\nbody\n", 18, &h, &err), &err);
	CHECK(h.from_line == NULL && h.return_path == NULL &&
	      h.auto_submitted == NULL && h.precedence == NULL &&
	      h.auto_response_suppress == NULL && h.references == NULL);
	CHECK_INT(h.has_list_header, 0);
	mail_headers_free(&h);

	/* A 100,000-byte References keeps its last MAIL_HEADER_KEEP bytes,
	 * and a Return-Path with an encoded CR LF has no line break. */
	buf_puts(&big, "Return-Path: <a@b>\r\n\t<c@d>\r\nReferences:");
	for (int i = 0; i < 10000; i++)
		buf_printf(&big, " <%05d@x>", i);
	buf_puts(&big, "\r\n\r\n");
	CHECK_OK(mail_parse_headers((const char *)big.data, big.len, &h, &err),
		 &err);
	CHECK_INT(strlen(h.references), MAIL_HEADER_KEEP);
	CHECK(strstr(h.references, "<09999@x>") != NULL);
	CHECK(strstr(h.references, "<00000@x>") == NULL);
	CHECK_STR(h.return_path, "<a@b>\t<c@d>");
	mail_headers_free(&h);
	buf_free(&big);
}

static const struct unit_test tests[] = {
	{ "reply headers: first of each, From line, List-*", test_reply_headers },
	{ "fixture_headers", test_fixture_headers },
	{ "fixture_parts", test_fixture_parts },
	{ "decoded_exact", test_decoded_exact },
	{ "qp_utf8", test_qp_utf8 },
	{ "quoted_printable", test_quoted_printable },
	{ "skip_from_line", test_skip_from_line },
	{ "headers_in_memory", test_headers_in_memory },
	{ "keyserver_sent_cap", test_keyserver_sent_cap },
	{ "walk_cases", test_walk_cases },
	{ "nul_and_invalid_utf8", test_nul_and_invalid_utf8 },
	{ "stop", test_stop },
	{ "null_problem_cb", test_null_problem_cb },
	{ "depth_limit", test_depth_limit },
	{ "deep_hostile", test_deep_hostile },
	{ "many_parts", test_many_parts },
	{ "huge_header_lines", test_huge_header_lines },
	{ "memory_16mb", test_memory_16mb },
	{ NULL, NULL },
};

int
main(int argc, char **argv)
{
	return unit_run(argc, argv, "mailparse", tests);
}
