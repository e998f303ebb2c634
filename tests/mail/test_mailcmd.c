/*
 * test_mailcmd.c - the mail command parser: every command and what
 * gpg1's mail helper sends, the search classification (key IDs of every
 * length, text, 0x followed by junk), the bounds (10,000-character
 * Subject, LAST 100000, overlong searches), and RFC 2047 decoding that
 * must never let a CR or LF through.
 */
#include "mail/mailcmd.h"
#include "lib/unit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct parse_case {
	const char *subject;		/* decoded */
	enum mailcmd_kind kind;
	const char *name;
	enum mailcmd_search_kind search_kind;
	const char *search;		/* NULL: don't check */
	uint32_t days;
	int looks;
};

static void
test_parse_table(void)
{
	static const struct parse_case cases[] = {
		/* What gpgkeys_mailto sends (gnupg1 1.4.23, captured). */
		{ "GET 0xBF8C9658", MAILCMD_GET, "GET", MAILCMD_SEARCH_KEYID32, "0xBF8C9658", 0, 1 },
		{ "GET alice", MAILCMD_GET, "GET", MAILCMD_SEARCH_TEXT, "alice", 0, 1 },
		{ "GET bob@example.org", MAILCMD_GET, "GET", MAILCMD_SEARCH_TEXT, "bob@example.org", 0, 1 },
		{ "ADD", MAILCMD_ADD, "ADD", MAILCMD_SEARCH_NONE, NULL, 0, 1 },
		/* Case, blanks, every ID length. */
		{ "  get   0xf7923026  ", MAILCMD_GET, "GET", MAILCMD_SEARCH_KEYID32, "0xF7923026", 0, 1 },
		{ "Get 0X60b74832f7923026", MAILCMD_GET, "GET", MAILCMD_SEARCH_KEYID64, "0x60B74832F7923026", 0, 1 },
		{ "GET 0xBD5C2399CD95E4461856F0EF60B74832F7923026", MAILCMD_GET, "GET", MAILCMD_SEARCH_FPR_V4, "0xBD5C2399CD95E4461856F0EF60B74832F7923026", 0, 1 },
		{ "GET 0xabababababababababababababababababababababababababababababababab", MAILCMD_GET, "GET", MAILCMD_SEARCH_FPR_V5, "0xABABABABABABABABABABABABABABABABABABABABABABABABABABABABABABABAB", 0, 1 },
		{ "INDEX Alice   Test", MAILCMD_INDEX, "INDEX", MAILCMD_SEARCH_TEXT, "Alice Test", 0, 1 },
		{ "verbose\tindex alice", MAILCMD_VINDEX, "VERBOSE INDEX", MAILCMD_SEARCH_TEXT, "alice", 0, 1 },
		{ "VERBOSE INDEX 0x9CDAB933", MAILCMD_VINDEX, "VERBOSE INDEX", MAILCMD_SEARCH_KEYID32, "0x9CDAB933", 0, 1 },
		{ "INDEX M\xc3\xbcller", MAILCMD_INDEX, "INDEX", MAILCMD_SEARCH_TEXT, "M\xc3\xbcller", 0, 1 },
		{ "LAST 1", MAILCMD_LAST, "LAST", MAILCMD_SEARCH_NONE, NULL, 1, 1 },
		{ "LAST 100000", MAILCMD_LAST, "LAST", MAILCMD_SEARCH_NONE, NULL, 100000, 1 },
		{ "LAST 999999999", MAILCMD_LAST, "LAST", MAILCMD_SEARCH_NONE, NULL, 999999999, 1 },
		{ "HELP", MAILCMD_HELP, "HELP", MAILCMD_SEARCH_NONE, NULL, 0, 1 },
		{ "incremental", MAILCMD_INCREMENTAL, "INCREMENTAL", MAILCMD_SEARCH_NONE, NULL, 0, 1 },
		{ "ADD my new key", MAILCMD_ADD, "ADD", MAILCMD_SEARCH_NONE, NULL, 0, 1 },
		/* Not IDs: 0x + junk, wrong lengths, two IDs. */
		{ "GET 0xZZZZ", MAILCMD_BAD_ARG, "GET", MAILCMD_SEARCH_BAD_ID, "0xZZZZ", 0, 1 },
		{ "GET 0x1234567", MAILCMD_BAD_ARG, "GET", MAILCMD_SEARCH_BAD_ID, "0x1234567", 0, 1 },
		{ "GET 0x123456789", MAILCMD_BAD_ARG, "GET", MAILCMD_SEARCH_BAD_ID, NULL, 0, 1 },
		{ "GET 0xABABABABABABABABABABABABABABABAB", MAILCMD_BAD_ARG, "GET", MAILCMD_SEARCH_BAD_ID, NULL, 0, 1 },
		{ "GET 0x", MAILCMD_BAD_ARG, "GET", MAILCMD_SEARCH_BAD_ID, "0x", 0, 1 },
		{ "GET 0xF7923026 0x9CDAB933", MAILCMD_BAD_ARG, "GET", MAILCMD_SEARCH_BAD_ID, NULL, 0, 1 },
		{ "GET 0xF7923026g", MAILCMD_BAD_ARG, "GET", MAILCMD_SEARCH_BAD_ID, NULL, 0, 1 },
		{ "GET 0xAB\tCD", MAILCMD_BAD_ARG, "GET", MAILCMD_SEARCH_BAD_ID, "0xAB CD", 0, 1 },
		/* Hex without 0x is a word, as in SKS. */
		{ "GET F7923026", MAILCMD_GET, "GET", MAILCMD_SEARCH_TEXT, "F7923026", 0, 1 },
		/* Missing or bad arguments. */
		{ "GET", MAILCMD_BAD_ARG, "GET", MAILCMD_SEARCH_NONE, NULL, 0, 1 },
		{ "INDEX   ", MAILCMD_BAD_ARG, "INDEX", MAILCMD_SEARCH_NONE, NULL, 0, 1 },
		{ "VERBOSE INDEX", MAILCMD_BAD_ARG, "VERBOSE INDEX", MAILCMD_SEARCH_NONE, NULL, 0, 1 },
		{ "LAST", MAILCMD_BAD_ARG, "LAST", MAILCMD_SEARCH_NONE, NULL, 0, 1 },
		{ "LAST 0", MAILCMD_BAD_ARG, "LAST", MAILCMD_SEARCH_NONE, NULL, 0, 1 },
		{ "LAST -3", MAILCMD_BAD_ARG, "LAST", MAILCMD_SEARCH_NONE, NULL, 0, 1 },
		{ "LAST 7 days", MAILCMD_BAD_ARG, "LAST", MAILCMD_SEARCH_NONE, NULL, 0, 1 },
		{ "LAST 1234567890", MAILCMD_BAD_ARG, "LAST", MAILCMD_SEARCH_NONE, NULL, 0, 1 },
		{ "LAST 99999999999999999999999", MAILCMD_BAD_ARG, "LAST", MAILCMD_SEARCH_NONE, NULL, 0, 1 },
		/* Not commands. */
		{ "MGET F605A5|3A738B", MAILCMD_UNKNOWN, "MGET", MAILCMD_SEARCH_NONE, NULL, 0, 1 },
		{ "STATUS", MAILCMD_UNKNOWN, "STATUS", MAILCMD_SEARCH_NONE, NULL, 0, 1 },
		{ "VERBOSE GET x", MAILCMD_UNKNOWN, "VERBOSE", MAILCMD_SEARCH_NONE, NULL, 0, 1 },
		{ "Re: GET 0xF7923026", MAILCMD_UNKNOWN, "RE:", MAILCMD_SEARCH_NONE, NULL, 0, 0 },
		{ "Reply to GET 0xF7923026", MAILCMD_UNKNOWN, "REPLY", MAILCMD_SEARCH_NONE, NULL, 0, 0 },
		{ "Cheap watches", MAILCMD_UNKNOWN, "CHEAP", MAILCMD_SEARCH_NONE, NULL, 0, 0 },
		{ "GETTING keys", MAILCMD_UNKNOWN, "GETTING", MAILCMD_SEARCH_NONE, NULL, 0, 0 },
		{ "\xc3\xbc GET", MAILCMD_UNKNOWN, "", MAILCMD_SEARCH_NONE, NULL, 0, 0 },
		{ "", MAILCMD_NONE, "", MAILCMD_SEARCH_NONE, NULL, 0, 0 },
		{ "  \t ", MAILCMD_NONE, "", MAILCMD_SEARCH_NONE, NULL, 0, 0 },
	};

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		const struct parse_case *t = &cases[i];
		struct mailcmd c;

		mailcmd_parse(t->subject, &c);
		CHECK_MSG(c.kind == t->kind, "case %zu \"%s\": kind %s, want %s",
			  i, t->subject, mailcmd_kind_name(c.kind),
			  mailcmd_kind_name(t->kind));
		CHECK_MSG(strcmp(c.name, t->name) == 0, "case %zu: name \"%s\", "
			  "want \"%s\"", i, c.name, t->name);
		CHECK_MSG(c.search_kind == t->search_kind, "case %zu \"%s\": "
			  "search kind %d, want %d", i, t->subject,
			  (int)c.search_kind, (int)t->search_kind);
		if (t->search)
			CHECK_MSG(strcmp(c.search, t->search) == 0, "case %zu: "
				  "search \"%s\", want \"%s\"", i, c.search,
				  t->search);
		CHECK_MSG(c.days == t->days, "case %zu: days %u", i, c.days);
		CHECK_MSG(c.looks_like_command == t->looks, "case %zu \"%s\": "
			  "looks_like_command %d", i, t->subject,
			  c.looks_like_command);
		if (c.kind == MAILCMD_UNKNOWN || c.kind == MAILCMD_BAD_ARG)
			CHECK_MSG(c.reason[0] != '\0', "case %zu: no reason", i);
	}
	mailcmd_parse(NULL, &(struct mailcmd){ 0 });
}

static void
test_help_lang(void)
{
	static const struct { const char *s, *lang; } cases[] = {
		{ "HELP", "" }, { "HELP en", "en" }, { "help DE", "de" },
		{ "HELP pt-BR", "pt-br" }, { "HELP zh-Hant", "zh-hant" },
		{ "HELP e", "" }, { "HELP english please", "" },
		{ "HELP ../../etc/passwd", "" }, { "HELP en/../x", "" },
		{ "HELP abcdefgh-12345678", "abcdefgh-12345678" },
		{ "HELP abcdefghi", "" }, { "HELP en-123456789", "" },
		{ "HELP en-", "" }, { "HELP -en", "" },
	};

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct mailcmd c;

		mailcmd_parse(cases[i].s, &c);
		CHECK_INT(c.kind, MAILCMD_HELP);
		CHECK_MSG(strcmp(c.lang, cases[i].lang) == 0, "\"%s\": lang "
			  "\"%s\", want \"%s\"", cases[i].s, c.lang,
			  cases[i].lang);
	}
}

static void
test_search_bounds(void)
{
	char s[600];
	struct mailcmd c;
	size_t n;

	/* Exactly the bound: fine; one more: refused, never cut into a
	 * different search. */
	memcpy(s, "GET ", 4);
	memset(s + 4, 'a', MAILCMD_SEARCH_MAX);
	s[4 + MAILCMD_SEARCH_MAX] = '\0';
	mailcmd_parse(s, &c);
	CHECK_INT(c.kind, MAILCMD_GET);
	CHECK_INT(strlen(c.search), MAILCMD_SEARCH_MAX);
	strcat(s, "a");
	mailcmd_parse(s, &c);
	CHECK_INT(c.kind, MAILCMD_BAD_ARG);
	CHECK(strstr(c.reason, "longer") != NULL);
	CHECK(strlen(c.search) <= MAILCMD_SEARCH_MAX);

	/* Blank runs count once. */
	n = 0;
	n += (size_t)snprintf(s, sizeof s, "INDEX a");
	for (int i = 0; i < 200; i++)
		s[n++] = ' ';
	s[n++] = 'b';
	s[n] = '\0';
	mailcmd_parse(s, &c);
	CHECK_INT(c.kind, MAILCMD_INDEX);
	CHECK_STR(c.search, "a b");

	/* A cut never splits a UTF-8 sequence: 2-byte characters across
	 * the bound. */
	n = (size_t)snprintf(s, sizeof s, "GET a");
	for (int i = 0; i < 200; i++) {
		s[n++] = '\xc3';
		s[n++] = '\xbc';
	}
	s[n] = '\0';
	mailcmd_parse(s, &c);
	CHECK_INT(c.kind, MAILCMD_BAD_ARG);
	n = strlen(c.search);
	CHECK(n <= MAILCMD_SEARCH_MAX);
	CHECK(n % 2 == 1);		/* "a" + whole "ü"s */
	CHECK((unsigned char)c.search[n - 1] == 0xbc);

	/* A junk ID is kept bounded too. */
	memcpy(s, "GET 0x", 6);
	memset(s + 6, 'Z', 500);
	s[506] = '\0';
	mailcmd_parse(s, &c);
	CHECK_INT(c.search_kind, MAILCMD_SEARCH_BAD_ID);
	CHECK_INT(strlen(c.search), MAILCMD_SEARCH_MAX);
}

static void
test_decode(void)
{
	static const struct { const char *raw, *want; } cases[] = {
		{ "GET 0xF7923026", "GET 0xF7923026" },
		{ "=?utf-8?B?R0VUIDB4Rjc5MjMwMjY=?=", "GET 0xF7923026" },
		{ "=?UTF-8?Q?GET_0xF7923026?=", "GET 0xF7923026" },
		{ "INDEX =?ISO-8859-1?Q?M=FCller?=", "INDEX M\xc3\xbcller" },
		/* Encoded CR LF become blanks: no header can start. */
		{ "=?UTF-8?Q?GET_alice=0D=0ABcc:_x@y?=", "GET alice  Bcc: x@y" },
		{ "=?UTF-8?B?R0VUIGFsaWNlDQpCY2M6IHhAeQ==?=", "GET alice  Bcc: x@y" },
		/* Controls in the raw text (mailparse already makes them
		 * spaces, but this must not rely on it). */
		{ "GET a\rb\nc\x01" "d\x7f" "e", "GET a b c d e" },
		/* Raw 8-bit that is not UTF-8 shows as '?'. */
		{ "GET caf\xe9", "GET caf?" },
		{ "GET caf\xc3\xa9", "GET caf\xc3\xa9" },
		/* C1 controls (U+0085 NEL) become spaces too. */
		{ "=?UTF-8?B?R0VUIGHChWI=?=", "GET a b" },
		/* An encoded NUL ends the decoded text: text is lost, never
		 * gained. */
		{ "=?UTF-8?Q?GET_a=00b?=", "GET a" },
		{ "  HELP  ", "HELP" },
		{ "", "" },
	};

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		int too_long = -1;
		char *d = mailcmd_decode_subject(cases[i].raw, &too_long);

		CHECK_MSG(strcmp(d, cases[i].want) == 0, "case %zu: \"%s\", "
			  "want \"%s\"", i, d, cases[i].want);
		CHECK_INT(too_long, 0);
		CHECK(strpbrk(d, "\r\n") == NULL);
		free(d);
	}
	{
		char *d = mailcmd_decode_subject(NULL, NULL);

		CHECK_STR(d, "");
		free(d);
	}
}

/* Every byte value inside an encoded word, and every one raw: the output
 * never holds a control character and is always valid UTF-8. */
static void
test_decode_never_controls(void)
{
	char raw[64];

	for (int b = 0; b < 256; b++) {
		char *d;

		snprintf(raw, sizeof raw, "=?UTF-8?Q?GET_a=%02Xb?=", b);
		d = mailcmd_decode_subject(raw, NULL);
		for (const unsigned char *p = (const unsigned char *)d; *p; p++)
			CHECK_MSG(*p >= 0x20 && *p != 0x7f, "byte %02X gave "
				  "control %02X", b, *p);
		free(d);
		if (b == 0)
			continue;
		snprintf(raw, sizeof raw, "GET a%cb", b);
		d = mailcmd_decode_subject(raw, NULL);
		for (const unsigned char *p = (const unsigned char *)d; *p; p++)
			CHECK_MSG(*p >= 0x20 && *p != 0x7f && *p < 0x80,
				  "raw byte %02X gave %02X", b, *p);
		free(d);
	}
}

static void
test_too_long(void)
{
	char *s = malloc(10001 + 8);
	struct mailcmd c;
	int too_long;
	char *d;

	CHECK(s != NULL);
	/* 10,000 characters: refused as a whole, whatever it starts with. */
	memcpy(s, "GET ", 4);
	memset(s + 4, 'x', 9996);
	s[10000] = '\0';
	mailcmd_from_raw(s, &c);
	CHECK_INT(c.kind, MAILCMD_TOO_LONG);
	CHECK_INT(c.looks_like_command, 1);
	CHECK_STR(c.search, "");
	CHECK(strstr(c.reason, "1024") != NULL);
	d = mailcmd_decode_subject(s, &too_long);
	CHECK_INT(too_long, 1);
	CHECK(strlen(d) <= MAILCMD_SUBJECT_MAX);
	free(d);

	/* Exactly the bound is still parsed. */
	memset(s + 4, 'x', MAILCMD_SUBJECT_MAX - 4);
	s[MAILCMD_SUBJECT_MAX] = '\0';
	mailcmd_from_raw(s, &c);
	CHECK_INT(c.kind, MAILCMD_BAD_ARG);	/* search over 256 bytes */
	s[300] = '\0';
	mailcmd_from_raw(s, &c);
	CHECK_INT(c.kind, MAILCMD_BAD_ARG);
	s[4 + MAILCMD_SEARCH_MAX] = '\0';
	mailcmd_from_raw(s, &c);
	CHECK_INT(c.kind, MAILCMD_GET);

	/* Many encoded words, many times the bound. */
	s[0] = '\0';
	for (int i = 0; i < 400; i++)
		strcat(s, "=?UTF-8?Q?a?= ");
	mailcmd_from_raw(s, &c);
	CHECK_INT(c.kind, MAILCMD_TOO_LONG);
	free(s);
}

static void
test_from_raw_encoded(void)
{
	struct mailcmd c;

	mailcmd_from_raw("=?UTF-8?Q?GET_0xF7923026?=", &c);
	CHECK_INT(c.kind, MAILCMD_GET);
	CHECK_STR(c.search, "0xF7923026");
	mailcmd_from_raw("=?UTF-8?Q?GET_alice=0D=0ABcc:_x@y?=", &c);
	CHECK_INT(c.kind, MAILCMD_GET);
	CHECK_INT(c.search_kind, MAILCMD_SEARCH_TEXT);
	CHECK_STR(c.search, "alice Bcc: x@y");
	mailcmd_from_raw(NULL, &c);
	CHECK_INT(c.kind, MAILCMD_NONE);
	CHECK(!mailcmd_answered(&c));
	mailcmd_from_raw("incremental", &c);
	CHECK(!mailcmd_answered(&c));
	mailcmd_from_raw("GET", &c);
	CHECK(mailcmd_answered(&c));
}

int
main(int argc, char **argv)
{
	static const struct unit_test tests[] = {
		{ "parse_table", test_parse_table },
		{ "help_lang", test_help_lang },
		{ "search_bounds", test_search_bounds },
		{ "decode", test_decode },
		{ "decode_never_controls", test_decode_never_controls },
		{ "too_long", test_too_long },
		{ "from_raw_encoded", test_from_raw_encoded },
		{ NULL, NULL },
	};

	return unit_run(argc, argv, "mailcmd", tests);
}
