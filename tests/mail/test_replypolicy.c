/*
 * test_replypolicy.c - who gets a reply: the envelope sender's sources
 * in order (Return-Path, mbox From line, $SENDER), and every no-reply
 * rule with its own verdict: null and MAILER-DAEMON senders, owner-* and
 * *-request, unusable and own addresses, Auto-Submitted, List-*,
 * Precedence, X-Auto-Response-Suppress, sync traffic, loops,
 * mail_commands off, INCREMENTAL and Subject-less mail; our additions:
 * postmaster, PKS peers, keys under a Subject that is no command.
 */
#include "mail/mailcmd.h"
#include "mail/replypolicy.h"
#include "lib/unit.h"

#include <string.h>

#define US "pgp-public-keys@bridge.test"

static char *const PEERS[] = { "pgp-public-keys@pks.test", "keys@onak.test" };
static const struct reply_options ON = { 1, US, 1, PEERS, 2 };

static void
decide(const struct reply_request *req, const char *subject,
       const struct reply_options *opt, struct reply_decision *d)
{
	struct mailcmd c;

	mailcmd_parse(subject, &c);
	replypolicy_decide(req, &c, opt, d);
}

static void
test_envelope_sender(void)
{
	static const struct {
		const char *rp, *from_line, *env;
		int r;
		const char *want;
	} cases[] = {
		/* As Exim hands it over (captured in the gpg1 prototype). */
		{ "<alice@client.test>", "alice@client.test Tue Dec 01 23:57:49 2026", "alice@client.test", 1, "alice@client.test" },
		/* Return-Path wins over the others. */
		{ "<a@x.test>", "b@y.test Tue", "c@z.test", 1, "a@x.test" },
		{ "  <a@x.test> ", NULL, NULL, 1, "a@x.test" },
		{ "<@relay.test,@r2.test:a@x.test>", NULL, NULL, 1, "a@x.test" },
		{ "<>", "alice@client.test Tue", "alice@client.test", 0, "" },
		{ "", NULL, NULL, -1, "" },
		{ "a@x.test", NULL, NULL, -1, "" },	/* brackets required */
		{ "<a@x.test", NULL, NULL, -1, "" },
		{ "<a b@x.test>", NULL, NULL, -1, "" },
		{ "<\"a b\"@x.test>", NULL, NULL, -1, "" },
		{ "<a@x.test\r\nBcc: y@z>", NULL, NULL, -1, "" },
		/* Then the From line, then $SENDER. */
		{ NULL, "b@y.test Tue Dec  1 23:00:00 2026", "c@z.test", 1, "b@y.test" },
		{ NULL, "MAILER-DAEMON Tue Dec  1 23:00:00 2026", NULL, 1, "MAILER-DAEMON" },
		{ NULL, "<> Tue", NULL, 0, "" },
		{ NULL, NULL, "c@z.test", 1, "c@z.test" },
		{ NULL, NULL, "", 0, "" },
		{ NULL, NULL, "<>", 0, "" },
		{ NULL, NULL, NULL, -1, "" },
	};

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct reply_request req = { 0 };
		char out[REPLY_ADDR_MAX + 1];
		int r;

		req.return_path = cases[i].rp;
		req.from_line = cases[i].from_line;
		req.env_sender = cases[i].env;
		r = replypolicy_envelope_sender(&req, out);
		CHECK_MSG(r == cases[i].r, "case %zu: %d, want %d", i, r,
			  cases[i].r);
		CHECK_MSG(strcmp(out, cases[i].want) == 0, "case %zu: \"%s\"",
			  i, out);
	}
	{
		/* Longer than SMTP allows. */
		struct reply_request req = { 0 };
		char rp[400], out[REPLY_ADDR_MAX + 1];

		rp[0] = '<';
		memset(rp + 1, 'a', 330);
		memcpy(rp + 331, "@x.test>", 9);
		req.return_path = rp;
		CHECK_INT(replypolicy_envelope_sender(&req, out), -1);
	}
}

struct rule_case {
	const char *subject;
	struct reply_request req;
	enum reply_verdict want;
	const char *reason_part;
};

static void
test_rules(void)
{
	static const struct rule_case cases[] = {
		{ "GET 0xF7923026", { .return_path = "<alice@client.test>" }, REPLY_OK, NULL },
		{ "HELP", { .env_sender = "bob@client.test" }, REPLY_OK, NULL },
		{ "Cheap watches", { .return_path = "<alice@client.test>" }, REPLY_OK, NULL },
		{ "GET 0xZZZZ", { .return_path = "<alice@client.test>" }, REPLY_OK, NULL },
		/* Not requests. */
		{ "incremental", { .return_path = "<peer@pks.test>" }, REPLY_NOT_ASKED, NULL },
		{ "", { .return_path = "<alice@client.test>" }, REPLY_NOT_ASKED, NULL },
		/* Senders. */
		{ "GET alice", { .return_path = "<>" }, REPLY_NULL_SENDER, "null" },
		{ "GET alice", { .return_path = "<MAILER-DAEMON@mx.test>" }, REPLY_NULL_SENDER, "null" },
		{ "GET alice", { .return_path = "<mailer-daemon@mx.test>" }, REPLY_NULL_SENDER, "null" },
		{ "GET alice", { .from_line = "MAILER-DAEMON Tue Dec  1 2026" }, REPLY_NULL_SENDER, "null" },
		{ "GET alice", { .env_sender = "" }, REPLY_NULL_SENDER, "null" },
		{ "GET alice", { .loop = 0 }, REPLY_NO_SENDER, "no usable" },
		{ "GET alice", { .return_path = "<owner-keys@lists.test>" }, REPLY_LIST_ADDRESS, "list address" },
		{ "GET alice", { .return_path = "<OWNER-keys@lists.test>" }, REPLY_LIST_ADDRESS, "list address" },
		{ "GET alice", { .return_path = "<keys-request@lists.test>" }, REPLY_LIST_ADDRESS, "list address" },
		{ "GET alice", { .return_path = "<keys-Request@lists.test>" }, REPLY_LIST_ADDRESS, "list address" },
		{ "GET alice", { .return_path = "<owner@lists.test>" }, REPLY_OK, NULL },
		{ "GET alice", { .return_path = "<request@lists.test>" }, REPLY_OK, NULL },
		{ "GET alice", { .return_path = "<" US ">" }, REPLY_OWN_ADDRESS, "our own" },
		{ "GET alice", { .return_path = "<PGP-Public-Keys@Bridge.Test>" }, REPLY_OWN_ADDRESS, "our own" },
		{ "GET alice", { .return_path = "<root>" }, REPLY_BAD_SENDER, "plain address" },
		{ "GET alice", { .return_path = "<-oQ/tmp/x@evil.test>" }, REPLY_BAD_SENDER, "plain address" },
		{ "GET alice", { .return_path = "<a@[127.0.0.1]>" }, REPLY_BAD_SENDER, "plain address" },
		{ "GET alice", { .return_path = "<a@x.test\nBcc: b@y.test>" }, REPLY_NO_SENDER, "no usable" },
		/* The request's own headers. */
		{ "GET alice", { .return_path = "<alice@client.test>", .auto_submitted = "auto-replied" }, REPLY_AUTO_SUBMITTED, "auto-replied" },
		{ "GET alice", { .return_path = "<alice@client.test>", .auto_submitted = "auto-generated" }, REPLY_AUTO_SUBMITTED, "auto-generated" },
		{ "GET alice", { .return_path = "<alice@client.test>", .auto_submitted = "Auto-Replied; owner-email=x@y" }, REPLY_AUTO_SUBMITTED, "auto-replied" },
		{ "GET alice", { .return_path = "<alice@client.test>", .auto_submitted = "" }, REPLY_AUTO_SUBMITTED, "(empty)" },
		{ "GET alice", { .return_path = "<alice@client.test>", .auto_submitted = "no" }, REPLY_OK, NULL },
		{ "GET alice", { .return_path = "<alice@client.test>", .auto_submitted = " No (a person wrote this)" }, REPLY_OK, NULL },
		{ "GET alice", { .return_path = "<alice@client.test>", .has_list_header = 1 }, REPLY_LIST_HEADER, "List-*" },
		{ "GET alice", { .return_path = "<alice@client.test>", .precedence = "bulk" }, REPLY_PRECEDENCE, "bulk" },
		{ "GET alice", { .return_path = "<alice@client.test>", .precedence = "JUNK" }, REPLY_PRECEDENCE, "junk" },
		{ "GET alice", { .return_path = "<alice@client.test>", .precedence = " list" }, REPLY_PRECEDENCE, "list" },
		{ "GET alice", { .return_path = "<alice@client.test>", .precedence = "first-class" }, REPLY_OK, NULL },
		{ "GET alice", { .return_path = "<alice@client.test>", .auto_response_suppress = "OOF, AutoReply" }, REPLY_SUPPRESS_HEADER, "Suppress" },
		{ "GET alice", { .return_path = "<alice@client.test>", .auto_response_suppress = "All" }, REPLY_SUPPRESS_HEADER, "Suppress" },
		{ "GET alice", { .return_path = "<alice@client.test>", .auto_response_suppress = "DR, NDR" }, REPLY_OK, NULL },
		{ "GET alice", { .return_path = "<alice@client.test>", .auto_response_suppress = "oof" }, REPLY_SUPPRESS_HEADER, "Suppress" },
		/* Our additions: postmaster, our own PKS peers. */
		{ "GET alice", { .return_path = "<postmaster@mx.test>" }, REPLY_SYSTEM_ADDRESS, "postmaster" },
		{ "GET alice", { .return_path = "<PostMaster@mx.test>" }, REPLY_SYSTEM_ADDRESS, "postmaster" },
		{ "GET alice", { .return_path = "<Keys@Onak.Test>" }, REPLY_PEER, "PKS peers" },
		{ "GET alice", { .return_path = "<keys@onak2.test>" }, REPLY_OK, NULL },
		/* Keys under a Subject that is no command: key mail, no reply;
		 * under a command (or a mistaken one), answered. */
		{ "my new key", { .return_path = "<alice@client.test>", .carries_keys = 1 }, REPLY_KEY_MAIL, "carries keys" },
		{ "GET 0xF7923026", { .return_path = "<alice@client.test>", .carries_keys = 1 }, REPLY_OK, NULL },
		{ "MGET x", { .return_path = "<alice@client.test>", .carries_keys = 1 }, REPLY_OK, NULL },
		{ "GET alice", { .return_path = "<alice@client.test>", .n_keyserver_sent = 1 }, REPLY_SYNC_TRAFFIC, "sync" },
		{ "GET alice", { .return_path = "<alice@client.test>", .n_keyserver_sent = 2, .loop = 1 }, REPLY_LOOP, "own address" },
		/* A loop wins over everything, sync traffic over the sender. */
		{ "GET alice", { .return_path = "<>", .n_keyserver_sent = 1, .loop = 1 }, REPLY_LOOP, "own" },
		{ "GET alice", { .return_path = "<>", .n_keyserver_sent = 1 }, REPLY_SYNC_TRAFFIC, "sync" },
		/* ADD mails get a reply; INCREMENTAL ones never. */
		{ "ADD", { .return_path = "<alice@client.test>" }, REPLY_OK, NULL },
		{ "INCREMENTAL", { .return_path = "<alice@client.test>" }, REPLY_NOT_ASKED, NULL },
	};

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct reply_decision d;

		decide(&cases[i].req, cases[i].subject, &ON, &d);
		CHECK_MSG(d.verdict == cases[i].want, "case %zu: %s (%s), want "
			  "%s", i, replypolicy_verdict_name(d.verdict), d.reason,
			  replypolicy_verdict_name(cases[i].want));
		if (cases[i].reason_part)
			CHECK_MSG(strstr(d.reason, cases[i].reason_part) != NULL &&
				  strncmp(d.reason, "no reply: ", 10) == 0,
				  "case %zu: reason \"%s\"", i, d.reason);
		else
			CHECK_MSG(d.reason[0] == '\0', "case %zu: reason \"%s\"",
				  i, d.reason);
		for (const char *p = d.reason; *p; p++)
			CHECK(*p >= 0x20 && *p < 0x7f);
		for (const char *p = d.to; *p; p++)
			CHECK(*p >= 0x20 && *p < 0x7f);
	}
}

static void
test_options(void)
{
	struct reply_request req = { .return_path = "<alice@client.test>" };
	struct reply_options off = { 0, US, 1, NULL, 0 }, strict = { 1, US, 0, NULL, 0 };
	struct reply_decision d;

	decide(&req, "GET alice", &off, &d);
	CHECK_INT(d.verdict, REPLY_OFF);
	CHECK_STR(d.to, "alice@client.test");
	/* Off, but INCREMENTAL is still no request at all. */
	decide(&req, "incremental", &off, &d);
	CHECK_INT(d.verdict, REPLY_NOT_ASKED);

	/* Answering only mistakes in commands. */
	decide(&req, "Cheap watches", &strict, &d);
	CHECK_INT(d.verdict, REPLY_NOT_A_COMMAND);
	decide(&req, "MGET alice", &strict, &d);
	CHECK_INT(d.verdict, REPLY_OK);
	decide(&req, "GET", &strict, &d);
	CHECK_INT(d.verdict, REPLY_OK);
	{
		char s[2000];
		struct mailcmd c;

		memcpy(s, "Buy ", 4);
		memset(s + 4, 'x', 1500);
		s[1504] = '\0';
		mailcmd_from_raw(s, &c);
		replypolicy_decide(&req, &c, &strict, &d);
		CHECK_INT(d.verdict, REPLY_NOT_A_COMMAND);
		memcpy(s, "GET ", 4);
		mailcmd_from_raw(s, &c);
		replypolicy_decide(&req, &c, &strict, &d);
		CHECK_INT(d.verdict, REPLY_OK);
	}
	/* No from_addr configured: nothing crashes, nothing matches. */
	{
		struct reply_options nofrom = { .mail_commands = 1, .answer_any_subject = 1 };

		decide(&req, "GET alice", &nofrom, &d);
		CHECK_INT(d.verdict, REPLY_OK);
	}
	CHECK_STR(replypolicy_verdict_name(REPLY_PRECEDENCE), "precedence");
}

int
main(int argc, char **argv)
{
	static const struct unit_test tests[] = {
		{ "envelope_sender", test_envelope_sender },
		{ "rules", test_rules },
		{ "options", test_options },
		{ NULL, NULL },
	};

	return unit_run(argc, argv, "replypolicy", tests);
}
