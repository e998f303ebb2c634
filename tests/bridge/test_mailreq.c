/*
 * test_mailreq.c - the request record a reply entry keeps: every field
 * survives the round trip, an ADD's facts included; the facts are
 * bounded and their texts made text; a References value keeps only what
 * can be in a Message-ID; a damaged record (cut short, a bad kind, a
 * control character where the reply would show it, a fact of no kind
 * or with a bad fingerprint) is refused, never half read; an older
 * pksbridge's reply lines are still read.
 */
#include "bridge/mailreq.h"
#include "lib/unit.h"
#include "spool/record.h"

#include <stdio.h>
#include <string.h>

static void
test_roundtrip(void)
{
	struct mailreq r = { 0 }, got;
	struct buf b = BUF_INIT;
	struct pb_err err;

	mailcmd_parse("GET 0xf7923026", &r.cmd);
	mailreq_set_references(&r, "<a@b>\t<c@d>\r\n <e\001@f>");
	{
		struct mailreq_fact f = { .kind = MAILREQ_ADDED, .sigs = 2,
					  .uids = 1 };
		struct mailreq_fact bad = { .kind = MAILREQ_REFUSED,
					    .why = "line\nwith\rbreaks and \xff bad byte" };

		snprintf(f.fpr, sizeof f.fpr, "BD5C2399CD95E4461856F0EF60B74832F7923026");
		f.uid = "Alice <alice@example.org>";
		mailreq_add_fact(&r, &f);
		mailreq_add_fact(&r, &bad);
	}
	mailreq_encode(&r, &b);
	CHECK_OK(mailreq_decode(b.data, b.len, &got, &err), &err);
	CHECK_INT(got.cmd.kind, MAILCMD_GET);
	CHECK_STR(got.cmd.name, "GET");
	CHECK_INT(got.cmd.search_kind, MAILCMD_SEARCH_KEYID32);
	CHECK_STR(got.cmd.search, "0xF7923026");
	CHECK_INT(got.cmd.looks_like_command, 1);
	CHECK_STR(got.references, "<a@b> <c@d>   <e @f>");
	CHECK_INT(got.nfacts, 2);
	CHECK_INT(got.facts[0].kind, MAILREQ_ADDED);
	CHECK_STR(got.facts[0].fpr, "BD5C2399CD95E4461856F0EF60B74832F7923026");
	CHECK_STR(got.facts[0].uid, "Alice <alice@example.org>");
	CHECK_INT(got.facts[0].uids, 1);
	CHECK_INT(got.facts[0].sigs, 2);
	CHECK_INT(got.facts[0].subkeys, 0);
	CHECK(got.facts[0].why == NULL);
	CHECK_INT(got.facts[1].kind, MAILREQ_REFUSED);
	CHECK_STR(got.facts[1].fpr, "");
	CHECK_STR(got.facts[1].why, "line with breaks and ? bad byte");
	mailreq_free(&got);
	mailreq_free(&r);
	buf_free(&b);

	/* LAST and HELP's fields. */
	mailcmd_parse("LAST 100000", &r.cmd);
	mailreq_encode(&r, &b);
	CHECK_OK(mailreq_decode(b.data, b.len, &got, &err), &err);
	CHECK_INT(got.cmd.days, 100000);
	CHECK(got.references == NULL && got.nfacts == 0 && got.nlines == 0);
	mailreq_free(&got);
	buf_reset(&b);
	mailcmd_parse("help DE", &r.cmd);
	mailreq_encode(&r, &b);
	CHECK_OK(mailreq_decode(b.data, b.len, &got, &err), &err);
	CHECK_STR(got.cmd.lang, "de");
	mailreq_free(&got);
	buf_free(&b);
}

static void
test_fact_bounds(void)
{
	struct mailreq r = { 0 }, got;
	struct mailreq_fact f = { .kind = MAILREQ_REJECTED };
	struct buf b = BUF_INIT;
	struct pb_err err;
	char big[2000];

	memset(big, 'x', sizeof big - 1);
	big[sizeof big - 1] = '\0';
	f.why = big;
	mailreq_add_fact(&r, &f);
	CHECK_INT(strlen(r.facts[0].why), MAILREQ_TEXT_MAX);
	CHECK(r.facts[0].why != big);	/* a copy */
	f.why = NULL;
	for (int i = 0; i < MAILREQ_FACTS_MAX + 50; i++)
		mailreq_add_fact(&r, &f);
	CHECK_INT(r.nfacts, MAILREQ_FACTS_MAX);
	CHECK_INT(r.more_facts, 1);
	mailreq_encode(&r, &b);
	CHECK_OK(mailreq_decode(b.data, b.len, &got, &err), &err);
	CHECK_INT(got.nfacts, MAILREQ_FACTS_MAX);
	CHECK_INT(got.more_facts, 1);
	mailreq_free(&got);
	mailreq_free(&r);
	buf_free(&b);
}

/* A record an older pksbridge wrote: the ADD reply's lines, already in
 * words (tag 10). */
static void
test_old_lines(void)
{
	struct mailreq got;
	struct buf b = BUF_INIT;
	struct pb_err err;

	rec_begin(&b);
	rec_put_u64(&b, 1, MAILCMD_ADD);
	rec_put_str(&b, 2, "ADD");
	rec_put_str(&b, 10, "ABCD: new key");
	CHECK_OK(mailreq_decode(b.data, b.len, &got, &err), &err);
	CHECK_INT(got.nlines, 1);
	CHECK_STR(got.lines[0], "ABCD: new key");
	CHECK_INT(got.nfacts, 0);
	mailreq_free(&got);
	buf_free(&b);
}

static void
test_damaged(void)
{
	struct mailreq r = { 0 }, got;
	struct buf b = BUF_INIT;
	struct pb_err err;

	mailcmd_parse("INDEX alice", &r.cmd);
	mailreq_encode(&r, &b);
	/* Cut short. */
	CHECK(mailreq_decode(b.data, b.len - 3, &got, &err) == -1);
	CHECK_INT(err.status, PB_EDATA);
	CHECK(mailreq_decode(b.data, 0, &got, &err) == -1);
	buf_free(&b);
	/* A kind that does not exist. */
	rec_begin(&b);
	rec_put_u64(&b, 1, 999);
	CHECK(mailreq_decode(b.data, b.len, &got, &err) == -1);
	/* A CR LF in the search, which the reply's Subject would show. */
	rec_begin(&b);
	rec_put_str(&b, 4, "alice\r\nBcc: x@y");
	CHECK(mailreq_decode(b.data, b.len, &got, &err) == -1);
	/* A search longer than its field. */
	{
		char big[MAILCMD_SEARCH_MAX + 10];

		memset(big, 'a', sizeof big - 1);
		big[sizeof big - 1] = '\0';
		rec_begin(&b);
		rec_put_str(&b, 4, big);
		CHECK(mailreq_decode(b.data, b.len, &got, &err) == -1);
	}
	/* A fact of no kind, or with a fingerprint that is no hex. */
	{
		struct mailreq bad = { 0 };
		struct mailreq_fact f = { .kind = MAILREQ_NEW };
		struct buf fb = BUF_INIT;

		mailcmd_parse("ADD", &bad.cmd);
		snprintf(f.fpr, sizeof f.fpr, "NOT HEX");
		mailreq_add_fact(&bad, &f);
		mailreq_encode(&bad, &fb);
		CHECK(mailreq_decode(fb.data, fb.len, &got, &err) == -1);
		buf_reset(&fb);
		bad.facts[0].kind = 0;
		bad.facts[0].fpr[0] = '\0';
		mailreq_encode(&bad, &fb);
		CHECK(mailreq_decode(fb.data, fb.len, &got, &err) == -1);
		mailreq_free(&bad);
		buf_free(&fb);
	}
	/* An unknown tag is skipped. */
	rec_begin(&b);
	rec_put_str(&b, 200, "from a newer version");
	CHECK_OK(mailreq_decode(b.data, b.len, &got, &err), &err);
	mailreq_free(&got);
	buf_free(&b);
}

int
main(int argc, char **argv)
{
	static const struct unit_test tests[] = {
		{ "round trip", test_roundtrip },
		{ "ADD facts bounded", test_fact_bounds },
		{ "an older version's reply lines", test_old_lines },
		{ "damaged records refused", test_damaged },
		{ NULL, NULL },
	};

	return unit_run(argc, argv, "mailreq", tests);
}
