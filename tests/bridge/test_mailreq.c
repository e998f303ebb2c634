/*
 * test_mailreq.c - the request record a reply entry keeps: every field
 * survives the round trip; ADD lines are bounded and made text; a
 * References value keeps only what can be in a Message-ID; a damaged
 * record (cut short, a bad kind, a control character where the reply
 * would show it) is refused, never half read.
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
	mailreq_add_line(&r, "key %s: new key", "BD5C2399CD95E4461856F0EF60B74832F7923026");
	mailreq_add_line(&r, "line\nwith\rbreaks and \xff bad byte");
	mailreq_encode(&r, &b);
	CHECK_OK(mailreq_decode(b.data, b.len, &got, &err), &err);
	CHECK_INT(got.cmd.kind, MAILCMD_GET);
	CHECK_STR(got.cmd.name, "GET");
	CHECK_INT(got.cmd.search_kind, MAILCMD_SEARCH_KEYID32);
	CHECK_STR(got.cmd.search, "0xF7923026");
	CHECK_INT(got.cmd.looks_like_command, 1);
	CHECK_STR(got.references, "<a@b> <c@d>   <e @f>");
	CHECK_INT(got.nlines, 2);
	CHECK_STR(got.lines[0], "key BD5C2399CD95E4461856F0EF60B74832F7923026: new key");
	CHECK_STR(got.lines[1], "line with breaks and ? bad byte");
	mailreq_free(&got);
	mailreq_free(&r);
	buf_free(&b);

	/* LAST and HELP's fields. */
	mailcmd_parse("LAST 100000", &r.cmd);
	mailreq_encode(&r, &b);
	CHECK_OK(mailreq_decode(b.data, b.len, &got, &err), &err);
	CHECK_INT(got.cmd.days, 100000);
	CHECK(got.references == NULL && got.nlines == 0);
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
test_line_bounds(void)
{
	struct mailreq r = { 0 };
	char big[2000];

	memset(big, 'x', sizeof big - 1);
	big[sizeof big - 1] = '\0';
	mailreq_add_line(&r, "%s", big);
	CHECK_INT(strlen(r.lines[0]), MAILREQ_LINE_MAX);
	for (int i = 0; i < MAILREQ_LINES_MAX + 50; i++)
		mailreq_add_line(&r, "key %d", i);
	CHECK_INT(r.nlines, MAILREQ_LINES_MAX + 1);
	CHECK(strstr(r.lines[MAILREQ_LINES_MAX], "and more") != NULL);
	mailreq_free(&r);
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
		{ "ADD lines bounded", test_line_bounds },
		{ "damaged records refused", test_damaged },
		{ NULL, NULL },
	};

	return unit_run(argc, argv, "mailreq", tests);
}
