/*
 * test_outmail.c - the outbound PKS mail: header order and values, CRLF
 * and line lengths, Date and Message-ID, header injection and address
 * checks, and the round trip through pksbridge's own inbound parser
 * (mail_parse_headers, mail_walk_parts, armor_scan, pgp_split_keys) for
 * the fixture keys and all of Debian's keyring.
 */
#include "config/config.h"
#include "lib/unit.h"
#include "mail/mailparse.h"
#include "mail/outmail.h"
#include "openpgp/armor.h"
#include "openpgp/pgp.h"
#include "util/buf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define NOW 1700000000		/* Tue, 14 Nov 2023 22:13:20 +0000 */

static int
take_block(void *ctx, const struct armor_block *blk)
{
	struct pgp_keylist *list = ctx;

	if (blk->kind == ARMOR_PUBLIC_KEY && blk->ok)
		pgp_split_keys(blk->data, blk->len, NULL, list);
	return 0;
}

/* load_keys - the keys of the fixtures (tests/data/keys/NAME.asc). */
static int
load_keys(const char *const *names, struct pgp_keylist *list)
{
	memset(list, 0, sizeof *list);
	for (size_t i = 0; names[i]; i++) {
		char rel[64], *text;
		size_t len;

		snprintf(rel, sizeof rel, "keys/%s.asc", names[i]);
		text = unit_read_file(unit_data_path(rel), &len);
		if (!text)
			return -1;
		armor_scan(text, len, 1 << 20, take_block, list);
		free(text);
	}
	return 0;
}

static int
config_with(struct config *cfg, const char *from, struct pb_err *err)
{
	char text[600];

	config_defaults(cfg);
	snprintf(text, sizeof text, "from_addr: %s\n", from);
	return config_parse_text(cfg, "test.conf", text, strlen(text), err);
}

/* What the inbound side makes of a mail. */
struct parsed {
	struct pgp_keylist keys;
	size_t blocks;
	size_t parts;
};

static int
count_block(void *ctx, const struct armor_block *blk)
{
	struct parsed *p = ctx;

	p->blocks++;
	if (blk->kind == ARMOR_PUBLIC_KEY && blk->ok)
		pgp_split_keys(blk->data, blk->len, NULL, &p->keys);
	return 0;
}

static int
take_part(void *ctx, const char *type, const char *data, size_t len)
{
	struct parsed *p = ctx;

	(void)type;
	p->parts++;
	armor_scan(data, len, 64u << 20, count_block, p);
	return 0;
}

static void
parse_back(const struct buf *mail, struct parsed *p)
{
	memset(p, 0, sizeof *p);
	mail_walk_parts((const char *)mail->data, mail->len, take_part, NULL, p);
}

/* same_keys - the parsed keys are the sent ones, in order, byte for byte. */
static int
same_keys(const struct pgp_keylist *got, const struct pgp_key *want, size_t n)
{
	if (got->nkeys != n)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (got->keys[i].len != want[i].len ||
		    memcmp(got->keys[i].data, want[i].data, want[i].len) != 0 ||
		    strcmp(got->keys[i].fpr_hex, want[i].fpr_hex) != 0)
			return 0;
	return 1;
}

static void
test_headers_in_order(void)
{
	static const char *const names[] = { "alice", "bob", "carol", NULL };
	static const char *const want[] = {
		"From: PGP Key Server <pgp-public-keys@Bridge.Example>",
		"To: pgp-public-keys@pks.example.org",
		"Subject: incremental",
		"X-KeyServer-Sent: pgp-public-keys@bridge.example",
		"Precedence: list",
		"MIME-Version: 1.0",
		"Content-Type: application/pgp-keys",
		"Content-Transfer-Encoding: 7bit",
		"Date: Tue, 14 Nov 2023 22:13:20 +0000",
		"Message-ID: <",
		"Auto-Submitted: auto-generated",
	};
	struct pgp_keylist keys;
	struct config cfg;
	struct buf mail = BUF_INIT;
	struct pb_err err;
	char msgid[OUTMAIL_MSGID_MAX], expect_id[300];
	const char *p;
	size_t i;

	CHECK(load_keys(names, &keys) == 0);
	CHECK_INT(keys.nkeys, 3);
	CHECK_OK(config_with(&cfg, "PGP Key Server <pgp-public-keys@Bridge.Example>",
			     &err), &err);
	CHECK_OK(outmail_compose(&cfg, "pgp-public-keys@pks.example.org",
				 keys.keys, keys.nkeys, NOW, &mail, msgid, &err),
		 &err);
	p = (const char *)mail.data;
	for (i = 0; i < sizeof want / sizeof want[0]; i++) {
		const char *eol = strstr(p, "\r\n");

		CHECK(eol != NULL);
		CHECK_MSG(strncmp(p, want[i], strlen(want[i])) == 0,
			  "header %zu: \"%.*s\"", i, (int)(eol - p), p);
		/* Exactly, but for the Message-ID's value. */
		if (want[i][strlen(want[i]) - 1] != '<')
			CHECK_MSG((size_t)(eol - p) == strlen(want[i]),
				  "header %zu: \"%.*s\"", i, (int)(eol - p), p);
		p = eol + 2;
	}
	/* Message-ID: <NOW.PID.16hex@domain>, and msgid_out without <>. */
	snprintf(expect_id, sizeof expect_id, "%d.%ld.", NOW, (long)getpid());
	CHECK_MSG(strncmp(msgid, expect_id, strlen(expect_id)) == 0, "%s", msgid);
	CHECK_MSG(strlen(msgid) == strlen(expect_id) + 16 +
		  strlen("@bridge.example") &&
		  strcmp(msgid + strlen(msgid) - 15, "@bridge.example") == 0,
		  "%s", msgid);
	CHECK(strstr((const char *)mail.data, msgid) != NULL);
	/* Then the blank line and the body, nothing else in between. */
	CHECK_MSG(strncmp(p - 2, "\r\n\r\n-----BEGIN PGP PUBLIC KEY BLOCK-----"
			  "\r\n", 41) == 0, "%.60s", p - 2);
	CHECK(mail.len > 40 && memcmp(mail.data + mail.len - 36,
				      "-----END PGP PUBLIC KEY BLOCK-----\r\n",
				      36) == 0);
	pgp_keylist_free(&keys);
	buf_free(&mail);
	config_free(&cfg);
}

/* CRLF everywhere, no bare CR, 7bit, body lines at most 76 columns. */
static void
test_line_ends_and_lengths(void)
{
	static const char *const names[] = { "alice", "bob", "carol-signed",
					     "dave", NULL };
	struct pgp_keylist keys;
	struct config cfg;
	struct buf mail = BUF_INIT;
	struct pb_err err;
	char msgid[OUTMAIL_MSGID_MAX];
	size_t col = 0, lines = 0;

	CHECK(load_keys(names, &keys) == 0);
	CHECK_OK(config_with(&cfg, "pgp-public-keys@bridge.example", &err), &err);
	CHECK_OK(outmail_compose(&cfg, "peer@pks.example", keys.keys,
				 keys.nkeys, NOW, &mail, msgid, &err), &err);
	for (size_t i = 0; i < mail.len; i++) {
		unsigned char c = mail.data[i];

		CHECK_MSG(c < 0x80, "8-bit byte at %zu", i);
		if (c == '\r') {
			CHECK_MSG(i + 1 < mail.len && mail.data[i + 1] == '\n',
				  "bare CR at %zu", i);
			continue;
		}
		if (c == '\n') {
			CHECK_MSG(i > 0 && mail.data[i - 1] == '\r',
				  "bare LF at %zu", i);
			CHECK_MSG(col <= 76, "line %zu has %zu columns", lines, col);
			col = 0;
			lines++;
			continue;
		}
		CHECK_MSG(c >= 0x20, "control byte %u at %zu", c, i);
		col++;
	}
	CHECK_INT(col, 0);	/* ends with CRLF */
	CHECK(lines > 20);
	pgp_keylist_free(&keys);
	buf_free(&mail);
	config_free(&cfg);
}

/* The inbound parser gets back exactly the keys sent, from one block. */
static void
test_round_trip(void)
{
	static const char *const names[] = { "alice", "bob", "carol-signed",
					     "dave", "erin-revoked", NULL };
	struct pgp_keylist keys;
	struct mail_headers h;
	struct config cfg;
	struct parsed got;
	struct buf mail = BUF_INIT;
	struct pb_err err;
	char msgid[OUTMAIL_MSGID_MAX];

	CHECK(load_keys(names, &keys) == 0);
	CHECK_INT(keys.nkeys, 5);
	CHECK_OK(config_with(&cfg, "Keys <pgp-public-keys@bridge.example>", &err),
		 &err);
	CHECK_OK(outmail_compose(&cfg, "pgp-public-keys@pks.example", keys.keys,
				 keys.nkeys, NOW, &mail, msgid, &err), &err);
	CHECK_OK(mail_parse_headers((const char *)mail.data, mail.len, &h, &err),
		 &err);
	CHECK_STR(h.subject, "incremental");
	CHECK_STR(h.from, "pgp-public-keys@bridge.example");
	CHECK_STR(h.message_id, msgid);
	CHECK_STR(h.content_type, "application/pgp-keys");
	CHECK_INT(h.n_keyserver_sent, 1);
	CHECK_STR(h.keyserver_sent[0], "pgp-public-keys@bridge.example");
	mail_headers_free(&h);
	parse_back(&mail, &got);
	CHECK_INT(got.parts, 1);
	CHECK_INT(got.blocks, 1);
	CHECK_INT(got.keys.nproblems, 0);
	CHECK(same_keys(&got.keys, keys.keys, keys.nkeys));
	pgp_keylist_free(&got.keys);
	pgp_keylist_free(&keys);
	buf_free(&mail);
	config_free(&cfg);
}

/* All of Debian's keyring (905 keys, some large) in one mail. */
static void
test_round_trip_debian_keyring(void)
{
	struct pgp_keylist keys;
	struct config cfg;
	struct parsed got;
	struct buf mail = BUF_INIT;
	struct pb_err err;
	char msgid[OUTMAIL_MSGID_MAX];
	size_t len;
	char *data = unit_read_file("/usr/share/keyrings/debian-keyring.gpg",
				    &len);

	CHECK_MSG(data != NULL, "debian-keyring not readable (package debian-keyring)");
	memset(&keys, 0, sizeof keys);
	pgp_split_keys((unsigned char *)data, len, NULL, &keys);
	free(data);
	CHECK_MSG(keys.nkeys > 800, "%zu keys", keys.nkeys);
	CHECK_OK(config_with(&cfg, "pgp-public-keys@bridge.example", &err), &err);
	CHECK_OK(outmail_compose(&cfg, "peer@pks.example", keys.keys, keys.nkeys,
				 NOW, &mail, msgid, &err), &err);
	parse_back(&mail, &got);
	CHECK_INT(got.blocks, 1);
	CHECK(same_keys(&got.keys, keys.keys, keys.nkeys));
	pgp_keylist_free(&got.keys);
	pgp_keylist_free(&keys);
	buf_free(&mail);
	config_free(&cfg);
}

/* RFC 5322 dates in UTC, whatever the local time zone. */
static void
test_dates(void)
{
	static const struct { int64_t t; const char *want; } cases[] = {
		{ 0, "Thu, 1 Jan 1970 00:00:00 +0000" },
		{ 951782400, "Tue, 29 Feb 2000 00:00:00 +0000" },
		{ 1704067199, "Sun, 31 Dec 2023 23:59:59 +0000" },
		{ 1719792000, "Mon, 1 Jul 2024 00:00:00 +0000" },
		{ 4102444800LL, "Fri, 1 Jan 2100 00:00:00 +0000" },
	};
	static const char *const names[] = { "alice", NULL };
	struct pgp_keylist keys;
	struct config cfg;
	struct pb_err err;
	char msgid[OUTMAIL_MSGID_MAX];

	setenv("TZ", "America/New_York", 1);
	CHECK(load_keys(names, &keys) == 0);
	CHECK_OK(config_with(&cfg, "pgp-public-keys@bridge.example", &err), &err);
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct buf mail = BUF_INIT;
		const char *d;

		CHECK_OK(outmail_compose(&cfg, "peer@pks.example", keys.keys, 1,
					 cases[i].t, &mail, msgid, &err), &err);
		d = strstr((const char *)mail.data, "\r\nDate: ");
		CHECK(d != NULL);
		CHECK_MSG(strncmp(d + 8, cases[i].want, strlen(cases[i].want)) == 0 &&
			  d[8 + strlen(cases[i].want)] == '\r', "%.40s", d + 8);
		buf_free(&mail);
	}
	{
		struct buf mail = BUF_INIT;

		CHECK_INT(outmail_compose(&cfg, "peer@pks.example", keys.keys, 1,
					  -1, &mail, msgid, &err), -1);
		CHECK_INT(err.status, PB_EDATA);
	}
	unsetenv("TZ");
	pgp_keylist_free(&keys);
	config_free(&cfg);
}

static void
test_message_ids_differ(void)
{
	static const char *const names[] = { "alice", NULL };
	struct pgp_keylist keys;
	struct config cfg;
	struct buf mail = BUF_INIT;
	struct pb_err err;
	char a[OUTMAIL_MSGID_MAX], b[OUTMAIL_MSGID_MAX];

	CHECK(load_keys(names, &keys) == 0);
	CHECK_OK(config_with(&cfg, "pgp-public-keys@bridge.example", &err), &err);
	CHECK_OK(outmail_compose(&cfg, "peer@pks.example", keys.keys, 1, NOW,
				 &mail, a, &err), &err);
	CHECK_OK(outmail_compose(&cfg, "peer@pks.example", keys.keys, 1, NOW,
				 &mail, b, &err), &err);
	CHECK_MSG(strcmp(a, b) != 0, "%s twice", a);
	pgp_keylist_free(&keys);
	buf_free(&mail);
	config_free(&cfg);
}

static void
test_addr_ok(void)
{
	static const struct { const char *addr; int ok; } cases[] = {
		{ "a@b", 1 },
		{ "pgp-public-keys@pks.example.org", 1 },
		{ "a.b+c@x-y.z", 1 },
		{ "o'hara@mail.example.ie", 1 },
		{ "PGP-Public-Keys@Example.ORG", 1 },
		{ "a@b\r\nBcc: evil@x", 0 },
		{ "a@b\n", 0 },
		{ "Name <a@b>", 0 },
		{ "<a@b>", 0 },
		{ "a@b, c@d", 0 },
		{ "a@b,c@d", 0 },
		{ "a@", 0 },
		{ "@b", 0 },
		{ "a@@b", 0 },
		{ "a@b@c", 0 },
		{ "a..b@c", 0 },
		{ ".a@b", 0 },
		{ "a.@b", 0 },
		{ "-t@b", 0 },
		{ "a@-b.c", 0 },
		{ "a@b-.c", 0 },
		{ "a@b..c", 0 },
		{ "a@.b", 0 },
		{ "a@b.", 0 },
		{ "a@[127.0.0.1]", 0 },
		{ "\"q\"@b", 0 },
		{ "a b@c", 0 },
		{ "a@b c", 0 },
		{ "a@b_c.d", 0 },
		{ "caf\xc3\xa9@b", 0 },
		{ "", 0 },
		{ "nodomain", 0 },
	};
	char local65[80], longdom[300];

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
		CHECK_MSG(outmail_addr_ok(cases[i].addr) == cases[i].ok,
			  "\"%s\": want %d", cases[i].addr, cases[i].ok);
	CHECK(!outmail_addr_ok(NULL));
	memset(local65, 'a', 65);
	strcpy(local65 + 65, "@b");
	CHECK(!outmail_addr_ok(local65));
	strcpy(local65 + 64, "@b");
	CHECK(outmail_addr_ok(local65));
	/* 64-character label: too long for DNS. */
	strcpy(longdom, "a@");
	memset(longdom + 2, 'x', 64);
	strcpy(longdom + 66, ".org");
	CHECK(!outmail_addr_ok(longdom));
	/* 254-character domain of short labels. */
	strcpy(longdom, "a@");
	for (int i = 0; i < 127; i++)
		strcat(longdom, i ? ".x" : "x");
	CHECK_INT(strlen(longdom + 2), 253);
	CHECK(outmail_addr_ok(longdom));
	strcat(longdom, "y");
	CHECK(!outmail_addr_ok(longdom));
}

/* Header injection and bad addresses: refused, buffer untouched. */
static void
test_refusals(void)
{
	static const char *const names[] = { "alice", NULL };
	static const struct { const char *from, *peer, *why; } cases[] = {
		{ "Keys <k@bridge.example>\r\nBcc: evil@x", "p@pks.example",
		  "From header" },
		{ "Keys\n <k@bridge.example>", "p@pks.example", "From header" },
		{ "Keys\t<k@bridge.example>", "p@pks.example", "From header" },
		{ "Keys\x7f <k@bridge.example>", "p@pks.example", "From header" },
		{ "Schl\xc3\xbcssel <k@bridge.example>", "p@pks.example",
		  "From header" },
		{ "k@bridge.example", "p@pks.example\r\nBcc: evil@x", "peer" },
		{ "k@bridge.example", "Peer <p@pks.example>", "peer" },
		{ "k@bridge.example", "p@pks.example, q@pks.example", "peer" },
		{ "k@bridge.example", "", "peer" },
	};
	struct pgp_keylist keys;
	struct config cfg;
	struct pb_err err;
	char msgid[OUTMAIL_MSGID_MAX], longfrom[1100];

	CHECK(load_keys(names, &keys) == 0);
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct buf mail = BUF_INIT;

		/* Straight into the struct: the config parser is not the
		 * only way a value gets there. */
		config_defaults(&cfg);
		free(cfg.from_addr);
		cfg.from_addr = strdup(cases[i].from);
		buf_puts(&mail, "kept");
		CHECK_MSG(outmail_compose(&cfg, cases[i].peer, keys.keys, 1, NOW,
					  &mail, msgid, &err) == -1,
			  "case %zu accepted", i);
		CHECK_INT(err.status, PB_EDATA);
		CHECK_MSG(strstr(err.msg, cases[i].why) != NULL, "case %zu: %s",
			  i, err.msg);
		CHECK_INT(mail.len, 4);
		CHECK_STR((const char *)mail.data, "kept");
		buf_free(&mail);
		config_free(&cfg);
	}
	/* A From line over 998 characters. */
	config_defaults(&cfg);
	memset(longfrom, 'K', 1000);
	strcpy(longfrom + 1000, " <k@bridge.example>");
	free(cfg.from_addr);
	cfg.from_addr = strdup(longfrom);
	{
		struct buf mail = BUF_INIT;

		CHECK_INT(outmail_compose(&cfg, "p@pks.example", keys.keys, 1,
					  NOW, &mail, msgid, &err), -1);
		CHECK_INT(err.status, PB_EDATA);
		CHECK_INT(mail.len, 0);
		/* No keys. */
		free(cfg.from_addr);
		cfg.from_addr = strdup("k@bridge.example");
		CHECK_INT(outmail_compose(&cfg, "p@pks.example", keys.keys, 0,
					  NOW, &mail, msgid, &err), -1);
		CHECK_INT(err.status, PB_EDATA);
		/* A from_addr_bare that is not an address. */
		free(cfg.from_addr_bare);
		cfg.from_addr_bare = strdup("k@bridge.example\r\nX: y");
		CHECK_INT(outmail_compose(&cfg, "p@pks.example", keys.keys, 1,
					  NOW, &mail, msgid, &err), -1);
		CHECK_INT(err.status, PB_EDATA);
		CHECK_INT(mail.len, 0);
		buf_free(&mail);
	}
	config_free(&cfg);
	pgp_keylist_free(&keys);
}

int
main(int argc, char **argv)
{
	static const struct unit_test tests[] = {
		{ "headers_in_order", test_headers_in_order },
		{ "line_ends_and_lengths", test_line_ends_and_lengths },
		{ "round_trip", test_round_trip },
		{ "round_trip_debian_keyring", test_round_trip_debian_keyring },
		{ "dates", test_dates },
		{ "message_ids_differ", test_message_ids_differ },
		{ "addr_ok", test_addr_ok },
		{ "refusals", test_refusals },
		{ NULL, NULL },
	};

	return unit_run(argc, argv, "outmail", tests);
}
