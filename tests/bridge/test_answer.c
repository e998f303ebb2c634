/*
 * test_answer.c - what a reply says: an ADD's facts, each in its words
 * and in order (the one place that writes them), bounded; HELP from the
 * file beside the configuration, else the built-in text; a Subject that
 * is no command.
 */
#include "bridge/answer.h"
#include "bridge/mailreq.h"
#include "lib/unit.h"
#include "mail/replymail.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define FPR "FE144C003EC2F056976C38BA3268C6A75E3A732B"

static void
key_fact(struct mailreq *mr, enum mailreq_fact_kind kind, const char *uid,
	 const char *why)
{
	struct mailreq_fact f = { .kind = kind };

	snprintf(f.fpr, sizeof f.fpr, "%s", FPR);
	f.uid = (char *)uid;
	f.why = (char *)why;
	mailreq_add_fact(mr, &f);
}

static void
test_add_facts(void)
{
	struct config cfg;
	struct mailreq mr = { 0 };
	struct mailreq_fact f = { .kind = MAILREQ_ADDED, .uids = 1, .sigs = 2 };
	struct answer a;
	struct pb_err err;

	config_defaults(&cfg);
	cfg.dedup_ttl = 7 * 86400;
	mailcmd_parse("ADD", &mr.cmd);
	key_fact(&mr, MAILREQ_SEEN, NULL, NULL);
	key_fact(&mr, MAILREQ_REJECTED, "Alice", "no valid self-signature");
	key_fact(&mr, MAILREQ_NEW, "Alice <alice@example.org>", NULL);
	snprintf(f.fpr, sizeof f.fpr, "%s", FPR);
	mailreq_add_fact(&mr, &f);
	key_fact(&mr, MAILREQ_ADDED, NULL, NULL);
	key_fact(&mr, MAILREQ_ACCEPTED, NULL, NULL);
	f = (struct mailreq_fact){ .kind = MAILREQ_MERGED_LATER };
	mailreq_add_fact(&mr, &f);
	f = (struct mailreq_fact){ .kind = MAILREQ_DB_REFUSED, .why = "HTTP 400" };
	mailreq_add_fact(&mr, &f);
	f = (struct mailreq_fact){ .kind = MAILREQ_REFUSED,
				   .why = "no public key block found" };
	mailreq_add_fact(&mr, &f);
	CHECK_OK(answer_compose(&cfg, NULL, NULL, NULL, NULL, &mr, 0, 1000, &a, &err), &err);
	CHECK_STR(buf_str(&a.text),
		  "Your ADD was processed:\n\n"
		  "  " FPR ": nothing new (this keyserver received it within the last 7d)\n"
		  "  " FPR ": refused: GnuPG rejected it: no valid self-signature\n"
		  "  " FPR " (Alice <alice@example.org>): new key\n"
		  "  " FPR " (no user ID): 1 new user ID, 2 new signatures\n"
		  "  " FPR " (no user ID): nothing new\n"
		  "  " FPR " (no user ID): accepted\n"
		  "  (handed to SKS, which merges keys within about ten seconds "
		  "and reports no refusals)\n"
		  "  refused: HTTP 400\n"
		  "  refused: no public key block found\n");
	CHECK_INT(a.keys.nkeys, 0);
	answer_free(&a);
	mailreq_free(&mr);
	config_free(&cfg);
}

static void
test_add_bounds(void)
{
	struct config cfg;
	struct mailreq mr = { 0 };
	struct answer a;
	struct pb_err err;
	char big[1000];

	config_defaults(&cfg);
	mailcmd_parse("ADD", &mr.cmd);
	CHECK_OK(answer_compose(&cfg, NULL, NULL, NULL, NULL, &mr, 0, 1000, &a, &err), &err);
	CHECK(strstr(buf_str(&a.text), "  (nothing to report)\n") != NULL);
	answer_free(&a);
	/* A line is cut at MAILREQ_TEXT_MAX bytes; past MAILREQ_FACTS_MAX
	 * facts one line says there were more. */
	memset(big, 'u', sizeof big - 1);
	big[sizeof big - 1] = '\0';
	for (int i = 0; i < MAILREQ_FACTS_MAX + 1; i++)
		key_fact(&mr, MAILREQ_NEW, big, NULL);
	CHECK_OK(answer_compose(&cfg, NULL, NULL, NULL, NULL, &mr, 0, 1000, &a, &err), &err);
	{
		const char *t = buf_str(&a.text);
		const char *first = strstr(t, "  " FPR " (");
		const char *eol = first ? strchr(first, '\n') : NULL;

		CHECK(first && eol);
		CHECK_INT(eol - first, 2 + MAILREQ_TEXT_MAX);
		CHECK(strstr(t, "  ... and more (an ADD reply lists at most 2000)\n")
		      != NULL);
	}
	answer_free(&a);
	mailreq_free(&mr);
	config_free(&cfg);
}

static void
test_help_and_unknown(void)
{
	struct config cfg;
	struct mailreq mr = { 0 };
	struct answer a;
	struct pb_err err;
	char dir[512], path[600];
	FILE *f;

	config_defaults(&cfg);
	snprintf(dir, sizeof dir, "%s/answer", unit_tmpdir());
	mkdir(dir, 0700);
	snprintf(path, sizeof path, "%s/pksbridge.conf", dir);
	cfg.path = strdup(path);
	mailcmd_parse("HELP", &mr.cmd);
	CHECK_OK(answer_compose(&cfg, NULL, NULL, NULL, NULL, &mr, 0, 1000, &a, &err), &err);
	CHECK_STR(buf_str(&a.text), replymail_default_help());
	answer_free(&a);
	/* A help file beside the configuration wins, per language. */
	snprintf(path, sizeof path, "%s/pksbridge-help.de.txt", dir);
	CHECK((f = fopen(path, "w")) != NULL);
	fputs("Hilfe\n", f);
	fclose(f);
	mailcmd_parse("HELP de", &mr.cmd);
	CHECK_OK(answer_compose(&cfg, NULL, NULL, NULL, NULL, &mr, 0, 1000, &a, &err), &err);
	CHECK_STR(buf_str(&a.text), "Hilfe\n");
	answer_free(&a);
	mailcmd_parse("MGET 0x12345678", &mr.cmd);
	CHECK_OK(answer_compose(&cfg, NULL, NULL, NULL, NULL, &mr, 0, 1000, &a, &err), &err);
	CHECK(strstr(buf_str(&a.text), "is not a command of this keyserver") != NULL);
	CHECK(strstr(buf_str(&a.text), "Subject HELP") != NULL);
	answer_free(&a);
	config_free(&cfg);
}

int
main(int argc, char **argv)
{
	static const struct unit_test tests[] = {
		{ "an ADD's facts, each in its words", test_add_facts },
		{ "an ADD's report bounded", test_add_bounds },
		{ "HELP, and a Subject that is no command", test_help_and_unknown },
		{ NULL, NULL },
	};

	return unit_run(argc, argv, "answer", tests);
}
