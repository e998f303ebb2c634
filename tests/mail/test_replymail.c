/*
 * test_replymail.c - the reply to a mail command: RFC 3834 headers in
 * order, threading (In-Reply-To, References, folding), the Subject
 * (plain, encoded words that our own decoder reads back, bounds), every
 * header refusal (CR/LF, controls, bad addresses and Message-IDs), the
 * text as 7bit or quoted-printable, and the GET reply with the two keys
 * of an evil32-style short-ID collision: read back through pksbridge's
 * own inbound parser, and imported by the real gpg from the raw mail.
 */
#include "util/buf.h"
#include "config/config.h"
#include "mail/mailcmd.h"
#include "mail/mailparse.h"
#include "openpgp/pgp.h"
#include "mail/replymail.h"
#include "lib/unit.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define NOW 1700000000		/* Tue, 14 Nov 2023 22:13:20 +0000 */
#define US "pgp-public-keys@bridge.test"
#define FPR_C "BD5C2399CD95E4461856F0EF60B74832F7923026"
#define FPR_D "C562077F5495A4F13AD187162C1B67B3F7923026"
#define JA "\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e \xe3\x81\xae " \
	"\xe3\x83\xa6\xe3\x83\xbc\xe3\x82\xb6\xe3\x83\xbc"

static void
setup_cfg(struct config *cfg)
{
	config_defaults(cfg);
	free(cfg->from_addr);
	free(cfg->from_addr_bare);
	cfg->from_addr = strdup("PGP keyserver <" US ">");
	cfg->from_addr_bare = strdup(US);
}

/* header_end - offset of the blank line ending the header section. */
static size_t
header_end(const struct buf *m)
{
	const char *p = strstr(buf_str(m), "\r\n\r\n");

	return p ? (size_t)(p - buf_str(m)) + 2 : 0;
}

/* header_names - the names of the header fields, in order, one per line
 * ("From\nTo\n..."); continuation lines are skipped. */
static void
header_names(const struct buf *m, char *out, size_t outlen)
{
	const char *p = buf_str(m), *end = p + header_end(m);
	size_t o = 0;

	while (p < end) {
		const char *eol = strstr(p, "\r\n"), *colon;

		if (*p != ' ' && *p != '\t' && (colon = memchr(p, ':',
							   (size_t)(eol - p))))
			o += (size_t)snprintf(out + o, outlen - o, "%.*s\n",
					      (int)(colon - p), p);
		p = eol + 2;
	}
}

/* lines_ok - CRLF only, no line over 998 characters, no bare CR or LF. */
static int
lines_ok(const struct buf *m, size_t max)
{
	size_t col = 0;

	for (size_t i = 0; i < m->len; i++) {
		unsigned char c = m->data[i];

		if (c == '\r') {
			if (i + 1 >= m->len || m->data[i + 1] != '\n')
				return 0;
			i++;
			col = 0;
			continue;
		}
		if (c == '\n' || c == '\0')
			return 0;
		if (++col > max)
			return 0;
	}
	return 1;
}

static void
test_headers(void)
{
	struct config cfg;
	struct buf m = BUF_INIT;
	struct pb_err err;
	struct replymail r = { 0 };
	char names[512], msgid[REPLYMAIL_MSGID_MAX];
	struct mail_headers h;

	setup_cfg(&cfg);
	r.to = "alice@client.test";
	r.command = "HELP";
	r.in_reply_to = "E1xYXjJ-0000g3-1g@bridge.test";
	r.text = replymail_default_help();
	CHECK_OK(replymail_compose(&cfg, &r, NOW, &m, msgid, &err), &err);
	header_names(&m, names, sizeof names);
	CHECK_STR(names, "From\nTo\nSubject\nDate\nMessage-ID\nIn-Reply-To\n"
		  "References\nAuto-Submitted\nMIME-Version\nContent-Type\n"
		  "Content-Transfer-Encoding\n");
	CHECK(strstr(buf_str(&m), "From: PGP keyserver <" US ">\r\n") != NULL);
	CHECK(strstr(buf_str(&m), "To: alice@client.test\r\n") != NULL);
	CHECK(strstr(buf_str(&m), "Subject: Reply to HELP\r\n") != NULL);
	CHECK(strstr(buf_str(&m), "Date: Tue, 14 Nov 2023 22:13:20 +0000\r\n") != NULL);
	CHECK(strstr(buf_str(&m), "In-Reply-To: <E1xYXjJ-0000g3-1g@bridge.test>\r\n") != NULL);
	CHECK(strstr(buf_str(&m), "References: <E1xYXjJ-0000g3-1g@bridge.test>\r\n") != NULL);
	CHECK(strstr(buf_str(&m), "Auto-Submitted: auto-replied\r\n") != NULL);
	CHECK(strstr(buf_str(&m), "Content-Type: text/plain; charset=us-ascii\r\n"
		     "Content-Transfer-Encoding: 7bit\r\n\r\nThis is an OpenPGP") != NULL);
	CHECK(strstr(buf_str(&m), "Precedence") == NULL);
	CHECK(strstr(buf_str(&m), "X-KeyServer-Sent") == NULL);
	CHECK(strstr(msgid, "@bridge.test") != NULL);
	CHECK(lines_ok(&m, 998));
	/* Our own parser reads it as we meant it. */
	CHECK_OK(mail_parse_headers((const char *)m.data, m.len, &h, &err), &err);
	CHECK_STR(h.subject, "Reply to HELP");
	CHECK_STR(h.message_id, msgid);
	CHECK_STR(h.from, US);
	CHECK_INT(h.n_recipients, 1);
	CHECK_STR(h.recipients[0], "alice@client.test");
	mail_headers_free(&h);

	/* Without a request Message-ID: no threading headers at all. */
	buf_reset(&m);
	r.in_reply_to = NULL;
	CHECK_OK(replymail_compose(&cfg, &r, NOW, &m, NULL, &err), &err);
	header_names(&m, names, sizeof names);
	CHECK_STR(names, "From\nTo\nSubject\nDate\nMessage-ID\nAuto-Submitted\n"
		  "MIME-Version\nContent-Type\nContent-Transfer-Encoding\n");
	buf_free(&m);
	config_free(&cfg);
}

static void
test_references(void)
{
	struct config cfg;
	struct buf m = BUF_INIT;
	struct pb_err err;
	struct replymail r = { 0 };
	char id[996], refs[4096];
	const char *p;

	setup_cfg(&cfg);
	r.to = "alice@client.test";
	r.command = "GET";
	r.search = "alice";
	r.text = "nothing";
	r.in_reply_to = "req@client.test";
	/* Earlier ids kept, junk between them skipped, the request's own id
	 * not repeated, at most REPLYMAIL_REFS_MAX earlier ones. */
	r.references = "<a@x> junk <b@x>\r\n <bad id@x> <req@client.test> <c@x";
	CHECK_OK(replymail_compose(&cfg, &r, NOW, &m, NULL, &err), &err);
	CHECK(strstr(buf_str(&m), "References: <a@x> <b@x> <req@client.test>\r\n") != NULL);
	buf_reset(&m);
	refs[0] = '\0';
	for (int i = 0; i < 30; i++)
		snprintf(refs + strlen(refs), sizeof refs - strlen(refs),
			 "<r%d@x.test> ", i);
	r.references = refs;
	CHECK_OK(replymail_compose(&cfg, &r, NOW, &m, NULL, &err), &err);
	p = strstr(buf_str(&m), "References:");
	CHECK(p != NULL);
	CHECK(strstr(p, "<r19@x.test>") == NULL);
	CHECK(strstr(p, "<r20@x.test>") != NULL);
	CHECK(strstr(p, "<r29@x.test>") != NULL);
	CHECK(lines_ok(&m, 78));	/* folded, text lines short too */
	/* The longest Message-ID mailparse accepts: its own folded line. */
	buf_reset(&m);
	memset(id, 'i', 990);
	memcpy(id + 990, "@x.t", 5);
	r.in_reply_to = id;
	r.references = "<a@x>";
	CHECK_OK(replymail_compose(&cfg, &r, NOW, &m, NULL, &err), &err);
	CHECK(lines_ok(&m, 998));
	CHECK(strstr(buf_str(&m), "In-Reply-To:\r\n <iii") != NULL);
	CHECK(strstr(buf_str(&m), "References: <a@x>\r\n <iii") != NULL);
	buf_free(&m);
	config_free(&cfg);
}

static void
test_subject(void)
{
	static const struct {
		const char *cmd, *search, *want;	/* want: whole line */
	} plain[] = {
		{ "GET", "0xF7923026", "Subject: Reply to GET 0xF7923026\r\n" },
		{ "VERBOSE INDEX", "Alice Test", "Subject: Reply to VERBOSE INDEX Alice Test\r\n" },
		{ "LAST", NULL, "Subject: Reply to LAST\r\n" },
		{ "MGET", "", "Subject: Reply to MGET\r\n" },
	};
	static const char *const encoded[] = {
		"M\xc3\xbcller",
		"=?UTF-8?Q?GET?=",
		/* Japanese, twice: more than one encoded word. */
		JA " " JA,
	};
	struct config cfg;
	struct buf m = BUF_INIT;
	struct pb_err err;
	struct replymail r = { 0 };
	struct mail_headers h;
	char big[400];

	setup_cfg(&cfg);
	r.to = "alice@client.test";
	r.text = "x";
	for (size_t i = 0; i < sizeof plain / sizeof plain[0]; i++) {
		buf_reset(&m);
		r.command = plain[i].cmd;
		r.search = plain[i].search;
		CHECK_OK(replymail_compose(&cfg, &r, NOW, &m, NULL, &err), &err);
		CHECK_MSG(strstr(buf_str(&m), plain[i].want) != NULL, "case %zu",
			  i);
	}
	/* Encoded words: ASCII only on the wire, lines short, and our own
	 * decoder gives the search back exactly. */
	r.command = "INDEX";
	for (size_t i = 0; i < sizeof encoded / sizeof encoded[0]; i++) {
		char want[300], *dec;

		buf_reset(&m);
		r.search = encoded[i];
		CHECK_OK(replymail_compose(&cfg, &r, NOW, &m, NULL, &err), &err);
		CHECK(lines_ok(&m, 78));
		for (size_t k = 0; k < header_end(&m); k++)
			CHECK(m.data[k] < 0x80);
		CHECK(strstr(buf_str(&m), "=?UTF-8?B?") != NULL);
		CHECK_OK(mail_parse_headers((const char *)m.data, m.len, &h,
					    &err), &err);
		dec = mailcmd_decode_subject(h.subject, NULL);
		snprintf(want, sizeof want, "Reply to INDEX %s", encoded[i]);
		CHECK_MSG(strcmp(dec, want) == 0, "case %zu: \"%s\"", i, dec);
		free(dec);
		mail_headers_free(&h);
	}
	/* Long searches: shown up to the bound, then "...". */
	memset(big, 'a', 300);
	big[300] = '\0';
	buf_reset(&m);
	r.search = big;
	CHECK_OK(replymail_compose(&cfg, &r, NOW, &m, NULL, &err), &err);
	CHECK(strstr(buf_str(&m), "aaa...\r\n") != NULL);
	CHECK(lines_ok(&m, 998));
	for (int i = 0; i < 150; i++) {
		big[2 * i] = '\xc3';
		big[2 * i + 1] = '\xbc';
	}
	big[300] = '\0';
	buf_reset(&m);
	CHECK_OK(replymail_compose(&cfg, &r, NOW, &m, NULL, &err), &err);
	CHECK_OK(mail_parse_headers((const char *)m.data, m.len, &h, &err), &err);
	{
		char *dec = mailcmd_decode_subject(h.subject, NULL);

		/* 100 whole characters, none cut in half. */
		CHECK_INT(strlen(dec), strlen("Reply to INDEX ") + 200 + 4);
		CHECK(strcmp(dec + strlen(dec) - 4, " ...") == 0);
		free(dec);
	}
	mail_headers_free(&h);
	buf_free(&m);
	config_free(&cfg);
}

static void
test_refusals(void)
{
	static const struct {
		const char *to, *cmd, *search, *irt;
	} cases[] = {
		{ "alice@client.test\r\nBcc: x@y.test", "GET", "a", NULL },
		{ "alice@client.test", "GET\r\nBcc: x@y.test", "a", NULL },
		{ "alice@client.test", "GET", "a\r\nBcc: x@y.test", NULL },
		{ "alice@client.test", "GET", "a\nb", NULL },
		{ "alice@client.test", "GET", "a\x01", NULL },
		{ "alice@client.test", "GET", "a\xc2\x85" "b", NULL },	/* NEL */
		{ "alice@client.test", "GET", "caf\xe9", NULL },	/* not UTF-8 */
		{ "alice@client.test", "GET", "a", "x@y>\r\nBcc: z@w" },
		{ "alice@client.test", "GET", "a", "a b@c" },
		{ "alice@client.test", "GET", "a", "" },
		{ "root", "GET", "a", NULL },
		{ "-oQ/tmp@x.test", "GET", "a", NULL },
		{ "", "GET", "a", NULL },
		{ NULL, "GET", "a", NULL },
		{ "alice@client.test", NULL, "a", NULL },
		{ "alice@client.test", "G\xc3\xa9T", "a", NULL },
	};
	struct config cfg;
	struct buf m = BUF_INIT;
	struct pb_err err;

	setup_cfg(&cfg);
	buf_puts(&m, "KEEP");
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct replymail r = { 0 };

		r.to = cases[i].to;
		r.command = cases[i].cmd;
		r.search = cases[i].search;
		r.in_reply_to = cases[i].irt;
		r.text = "x";
		CHECK_MSG(replymail_compose(&cfg, &r, NOW, &m, NULL, &err) == -1,
			  "case %zu accepted", i);
		CHECK_INT(err.status, PB_EDATA);
		CHECK_MSG(m.len == 4 && strcmp(buf_str(&m), "KEEP") == 0,
			  "case %zu left text in the buffer", i);
	}
	/* A bad from_addr and an impossible date. */
	{
		struct replymail r = { "alice@client.test", "GET", "a", NULL,
				       NULL, "x", NULL, 0 };

		CHECK(replymail_compose(&cfg, &r, (int64_t)1 << 50, &m, NULL,
					&err) == -1);
		free(cfg.from_addr_bare);
		cfg.from_addr_bare = strdup("nobody");
		CHECK(replymail_compose(&cfg, &r, NOW, &m, NULL, &err) == -1);
		CHECK_STR(buf_str(&m), "KEEP");
	}
	buf_free(&m);
	config_free(&cfg);
}

/* The decoded text part of a mail, LF line ends. */
struct text_got {
	struct buf text;
	int parts;
};

static int
take_text(void *ctx, const char *type, const char *data, size_t len)
{
	struct text_got *g = ctx;

	g->parts++;
	if (strcmp(type, "text/plain") != 0)
		return 0;
	for (size_t i = 0; i < len; i++)
		if (!(data[i] == '\r' && i + 1 < len && data[i + 1] == '\n'))
			buf_putc(&g->text, data[i]);
	return 0;
}

static void
test_text(void)
{
	struct config cfg;
	struct buf m = BUF_INIT, longline = BUF_INIT;
	struct pb_err err;
	struct replymail r = { 0 };
	struct text_got g;

	setup_cfg(&cfg);
	r.to = "alice@client.test";
	r.command = "INDEX";
	r.search = "alice";
	/* Non-ASCII, controls, CR, "From ", '=', trailing blanks. */
	r.text = "pub  M\xc3\xbcller <m@x>\r\nFrom here\n\x1b[31mred\x07\n"
		 "a = b  \n\ttab\rlast";
	CHECK_OK(replymail_compose(&cfg, &r, NOW, &m, NULL, &err), &err);
	CHECK(strstr(buf_str(&m), "charset=utf-8\r\nContent-Transfer-Encoding: "
		     "quoted-printable\r\n") != NULL);
	CHECK(strstr(buf_str(&m), "\r\n=46rom here\r\n") != NULL);
	CHECK(lines_ok(&m, 76));
	memset(&g, 0, sizeof g);
	mail_walk_parts((const char *)m.data, m.len, take_text, NULL, &g);
	CHECK_INT(g.parts, 1);
	CHECK_STR(buf_str(&g.text), "pub  M\xc3\xbcller <m@x>\nFrom here\n"
		  "?[31mred?\na = b  \n\ttab\nlast\n");
	buf_free(&g.text);

	/* A 10,000-character line in ASCII text: quoted-printable too,
	 * every line within 76, and it reads back whole. */
	for (int i = 0; i < 10000; i++)
		buf_putc(&longline, "abc= "[i % 5]);
	buf_reset(&m);
	r.text = buf_str(&longline);
	CHECK_OK(replymail_compose(&cfg, &r, NOW, &m, NULL, &err), &err);
	CHECK(strstr(buf_str(&m), "charset=us-ascii\r\nContent-Transfer-Encoding: "
		     "quoted-printable") != NULL);
	CHECK(lines_ok(&m, 76));
	memset(&g, 0, sizeof g);
	mail_walk_parts((const char *)m.data, m.len, take_text, NULL, &g);
	buf_putc(&longline, '\n');
	CHECK_STR(buf_str(&g.text), buf_str(&longline));
	buf_free(&g.text);
	buf_free(&longline);
	buf_free(&m);
	config_free(&cfg);
}

static void
test_qp(void)
{
	static const struct { const char *in, *want; } cases[] = {
		{ "abc", "abc" },
		{ "a=b", "a=3Db" },
		{ "end \n", "end=20\r\n" },
		{ "tab\t", "tab=09" },
		{ "From x\nFrom y", "=46rom x\r\n=46rom y" },
		{ " From", " From" },
		{ "\xc3\xbc", "=C3=BC" },
		{ "a\r\nb", "a\r\nb" },
		{ "", "" },
	};
	struct buf b = BUF_INIT;
	char line[200];

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		buf_reset(&b);
		replymail_qp(cases[i].in, strlen(cases[i].in), &b);
		CHECK_MSG(strcmp(buf_str(&b), cases[i].want) == 0, "case %zu: "
			  "\"%s\"", i, buf_str(&b));
	}
	/* Soft breaks: 76 at most, "=" included, never inside "=XX". */
	for (size_t n = 70; n < 160; n++) {
		memset(line, '=', n);
		line[n] = '\0';
		buf_reset(&b);
		replymail_qp(line, n, &b);
		CHECK(lines_ok(&b, 76));
		for (const char *p = buf_str(&b); (p = strstr(p, "=\r\n")); p += 3)
			CHECK(p[-1] != '=' || p[-2] == '=' || p[-3] == '=');
		memset(line, 'x', n);
		buf_reset(&b);
		replymail_qp(line, n, &b);
		CHECK(lines_ok(&b, 76));
	}
	buf_free(&b);
}

static void
test_format_fpr(void)
{
	char out[128];

	replymail_format_fpr(FPR_C, out, sizeof out);
	CHECK_STR(out, "BD5C 2399 CD95 E446 1856  F0EF 60B7 4832 F792 3026");
	replymail_format_fpr("ABABABABABABABABABABABABABABABABABABABABABABABABABABABABABABABAB",
			     out, sizeof out);
	CHECK_STR(out, "ABAB ABAB ABAB ABAB ABAB ABAB ABAB ABAB ABAB ABAB ABAB "
		  "ABAB ABAB ABAB ABAB ABAB");
	replymail_format_fpr("F7923026", out, sizeof out);
	CHECK_STR(out, "F7923026");
}

/* The GET reply for the short ID both collide-c and collide-d have. */
static int
compose_get(struct config *cfg, struct pgp_keylist *keys, struct buf *m,
	    struct pb_err *err)
{
	char text[512], fc[128], fd[128];
	struct replymail r = { 0 };

	memset(keys, 0, sizeof *keys);
	if (unit_load_keys("keys/collide-c.asc", keys) != 0 ||
	    unit_load_keys("keys/collide-d.asc", keys) != 0 || keys->nkeys != 2)
		return pb_err_set(err, PB_EIO, "fixture keys missing");
	replymail_format_fpr(keys->keys[0].fpr_hex, fc, sizeof fc);
	replymail_format_fpr(keys->keys[1].fpr_hex, fd, sizeof fd);
	snprintf(text, sizeof text, "2 keys match 0xF7923026:\n\n  %s\n    %s\n"
		 "  %s\n    %s\n\nDifferent keys can share a short key ID.\n",
		 fc, keys->keys[0].uid, fd, keys->keys[1].uid);
	r.to = "alice@client.test";
	r.command = "GET";
	r.search = "0xF7923026";
	r.in_reply_to = "E1xYXjJ-0000g3-1g@bridge.test";
	r.text = text;
	r.keys = keys->keys;
	r.nkeys = keys->nkeys;
	return replymail_compose(cfg, &r, NOW, m, NULL, err);
}

static int
count_parts(void *ctx, const char *type, const char *data, size_t len)
{
	struct pgp_keylist *keys = ctx;

	if (strcmp(type, "application/pgp-keys") == 0)
		unit_armor_keys(data, len, keys);
	return 0;
}

static void
test_get_round_trip(void)
{
	struct config cfg;
	struct buf m = BUF_INIT;
	struct pb_err err;
	struct pgp_keylist keys, back;
	const char *armor;

	setup_cfg(&cfg);
	CHECK_OK(compose_get(&cfg, &keys, &m, &err), &err);
	CHECK(lines_ok(&m, 998));
	CHECK(strstr(buf_str(&m), "Content-Type: multipart/mixed; boundary=\"=_pksbridge_") != NULL);
	armor = strstr(buf_str(&m), "Content-Type: application/pgp-keys\r\n"
		       "Content-Transfer-Encoding: 7bit\r\n\r\n"
		       "-----BEGIN PGP PUBLIC KEY BLOCK-----\r\n");
	CHECK(armor != NULL);
	CHECK(lines_ok(&m, 998));
	/* One block, both keys, byte for byte; both full fingerprints in
	 * the text. */
	armor = strstr(armor, "-----BEGIN PGP");
	CHECK(strstr(armor + 10, "-----BEGIN PGP") == NULL);
	CHECK(strstr(armor, "-----END PGP PUBLIC KEY BLOCK-----\r\n\r\n--=_pksbridge_") != NULL);
	CHECK(strstr(buf_str(&m), "BD5C 2399 CD95 E446 1856  F0EF 60B7 4832 F792 3026") != NULL);
	CHECK(strstr(buf_str(&m), "C562 077F 5495 A4F1 3AD1  8716 2C1B 67B3 F792 3026") != NULL);
	memset(&back, 0, sizeof back);
	mail_walk_parts((const char *)m.data, m.len, count_parts, NULL, &back);
	CHECK_INT(back.nkeys, 2);
	CHECK_STR(back.keys[0].fpr_hex, FPR_C);
	CHECK_STR(back.keys[1].fpr_hex, FPR_D);
	CHECK(back.keys[0].len == keys.keys[0].len &&
	      memcmp(back.keys[0].data, keys.keys[0].data, keys.keys[0].len) == 0);
	pgp_keylist_free(&back);
	pgp_keylist_free(&keys);
	buf_free(&m);
	config_free(&cfg);
}

/* run_gpg - gpg --homedir HOME --batch --import FILE, no shell; its exit
 * status, or -1 if it could not run. */
static int
run_gpg(const char *gpg, const char *home, const char *file)
{
	pid_t pid = fork();
	int st;

	if (pid < 0)
		return -1;
	if (pid == 0) {
		int dn = open("/dev/null", O_WRONLY);

		if (dn >= 0) {
			dup2(dn, 1);
			dup2(dn, 2);
		}
		/* gpg1 starts no agent and knows no --no-autostart. */
		if (strcmp(gpg, "gpg1") == 0)
			execlp(gpg, gpg, "--homedir", home, "--batch",
			       "--import", file, (char *)NULL);
		else
			execlp(gpg, gpg, "--homedir", home, "--batch",
			       "--no-autostart", "--import", file, (char *)NULL);
		_exit(127);
	}
	if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st))
		return -1;
	return WEXITSTATUS(st);
}

/* list_fprs - gpg --list-keys --with-colons of HOME into out: the fpr
 * lines' fingerprints, one per line. */
static int
list_fprs(const char *home, char *out, size_t outlen)
{
	int fds[2], st;
	pid_t pid;
	char buf[8192];
	size_t got = 0, o = 0;
	ssize_t n;

	if (pipe(fds) != 0 || (pid = fork()) < 0)
		return -1;
	if (pid == 0) {
		dup2(fds[1], 1);
		close(fds[0]);
		execlp("gpg", "gpg", "--homedir", home, "--batch", "--no-autostart",
		       "--with-colons", "--list-keys", (char *)NULL);
		_exit(127);
	}
	close(fds[1]);
	while ((n = read(fds[0], buf + got, sizeof buf - 1 - got)) > 0)
		got += (size_t)n;
	close(fds[0]);
	waitpid(pid, &st, 0);
	buf[got] = '\0';
	out[0] = '\0';
	for (char *line = strtok(buf, "\n"); line; line = strtok(NULL, "\n"))
		if (strncmp(line, "fpr:::::::::", 12) == 0 && strlen(line) >= 52)
			o += (size_t)snprintf(out + o, outlen - o, "%.40s\n",
					      line + 12);
	return 0;
}

/* The real client: gpg imports both keys from the raw reply mail, as
 * "gpg --import reply.eml" would (gpg1 does the same through Exim in
 * the integration test). */
static void
test_gpg_imports_reply(void)
{
	struct config cfg;
	struct buf m = BUF_INIT;
	struct pb_err err;
	struct pgp_keylist keys;
	char path[512], home[512], fprs[512];
	FILE *f;

	setup_cfg(&cfg);
	CHECK_OK(compose_get(&cfg, &keys, &m, &err), &err);
	pgp_keylist_free(&keys);
	snprintf(path, sizeof path, "%s/reply.eml", unit_tmpdir());
	snprintf(home, sizeof home, "%s/gnupg", unit_tmpdir());
	CHECK(mkdir(home, 0700) == 0);
	f = fopen(path, "wb");
	CHECK(f != NULL);
	/* As a mailbox has it: an mbox From line and Return-Path on top. */
	fputs("From MAILER-DAEMON Tue Nov 14 22:13:20 2023\r\nReturn-path: <>\r\n", f);
	fwrite(m.data, 1, m.len, f);
	fclose(f);
	CHECK_INT(run_gpg("gpg", home, path), 0);
	CHECK_OK(list_fprs(home, fprs, sizeof fprs) == 0 ? 0 : -1, &err);
	CHECK(strstr(fprs, FPR_C "\n") != NULL);
	CHECK(strstr(fprs, FPR_D "\n") != NULL);
	/* GnuPG 1.4, the mail client's own gpg (scripts/bootstrap
	 * installs gnupg1). */
	NEED_TOOL("/usr/bin/gpg1");
	snprintf(home, sizeof home, "%s/gnupg1", unit_tmpdir());
	CHECK(mkdir(home, 0700) == 0);
	CHECK_INT(run_gpg("gpg1", home, path), 0);
	buf_free(&m);
	config_free(&cfg);
}

/* The sample installed for operators to copy and translate is the
 * built-in text, word for word. */
static void
test_help_sample(void)
{
	const char *top = getenv("TOP");
	char path[4096];
	size_t len;
	char *text;

	snprintf(path, sizeof path, "%s/conf/pksbridge-help.txt",
		 top && *top ? top : ".");
	text = unit_read_file(path, &len);
	CHECK_MSG(text != NULL, "cannot read %s", path);
	CHECK_MSG(strcmp(text, replymail_default_help()) == 0,
		  "%s differs from the built-in HELP text", path);
	free(text);
}

int
main(int argc, char **argv)
{
	static const struct unit_test tests[] = {
		{ "headers", test_headers },
		{ "references", test_references },
		{ "subject", test_subject },
		{ "refusals", test_refusals },
		{ "text", test_text },
		{ "qp", test_qp },
		{ "format_fpr", test_format_fpr },
		{ "get_round_trip", test_get_round_trip },
		{ "gpg_imports_reply", test_gpg_imports_reply },
		{ "help sample = built-in text", test_help_sample },
		{ NULL, NULL },
	};

	return unit_run(argc, argv, "replymail", tests);
}
