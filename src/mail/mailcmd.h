/*
 * mailcmd.h - the PKS mail command in a request's Subject.
 *
 * People and GnuPG 1.4's mail helper talk to pgp-public-keys@ with the
 * command in the Subject, as pksd read it: HELP [LANG], ADD, INCREMENTAL,
 * GET <search>, INDEX <search>, VERBOSE INDEX <search>, LAST <days>;
 * keywords in any case, words separated by blanks.  This module turns a
 * raw Subject into one of those, with its argument checked and
 * classified, or into a precise reason why it is not one.
 *
 * Everything here comes from a mail nobody vouches for, and parts of it
 * end up in a reply's headers: decoding works on a bounded prefix (a
 * Subject longer than MAILCMD_SUBJECT_MAX is refused, never cut into a
 * different command), the decoded text never holds a control character
 * (an encoded word can decode to CR LF), it is valid UTF-8, and every
 * argument has a length and value bound.  A search "0x" followed by
 * anything but 8, 16, 40 or 64 hex digits is not a key ID and not a text
 * search either: SKS fails on every "0x..." search it cannot parse as an
 * ID, so asking it would only turn a typo into a server error.
 */
#ifndef PB_MAILCMD_H
#define PB_MAILCMD_H

#include <stddef.h>
#include <stdint.h>

#define MAILCMD_SUBJECT_MAX 1024	/* raw Subject bytes decoded, at most */
#define MAILCMD_SEARCH_MAX 256		/* bytes of a text search */
#define MAILCMD_DAYS_DIGITS 9		/* LAST takes 1..999999999 */
#define MAILCMD_LANG_MAX 18		/* "xxxxxxxx-yyyyyyyy" and the NUL */

enum mailcmd_kind {
	MAILCMD_NONE,		/* no Subject, or only blanks: not a request */
	MAILCMD_HELP,
	MAILCMD_ADD,
	MAILCMD_INCREMENTAL,
	MAILCMD_GET,
	MAILCMD_INDEX,
	MAILCMD_VINDEX,		/* VERBOSE INDEX */
	MAILCMD_LAST,
	MAILCMD_UNKNOWN,	/* not a command we answer: reason says why */
	MAILCMD_BAD_ARG,	/* a command with an unusable argument */
	MAILCMD_TOO_LONG,	/* Subject over MAILCMD_SUBJECT_MAX */
};
/* The highest kind, which records of requests check theirs against.  A
 * new kind goes at the end (reply entries store these numbers), and this
 * moves with it. */
#define MAILCMD_KIND_MAX MAILCMD_TOO_LONG

enum mailcmd_search_kind {
	MAILCMD_SEARCH_NONE,	/* no search (HELP, ADD, LAST, ...) */
	MAILCMD_SEARCH_KEYID32,	/* 0x + 8 hex: a short key ID */
	MAILCMD_SEARCH_KEYID64,	/* 0x + 16 hex: a long key ID */
	MAILCMD_SEARCH_FPR_V4,	/* 0x + 40 hex */
	MAILCMD_SEARCH_FPR_V5,	/* 0x + 64 hex (v5/v6 keys) */
	MAILCMD_SEARCH_TEXT,	/* anything else not starting with 0x */
	MAILCMD_SEARCH_BAD_ID,	/* 0x + something that is no key ID */
};

struct mailcmd {
	enum mailcmd_kind kind;
	/* The command as it will be named in a reply ("GET", "VERBOSE
	 * INDEX", ...); for UNKNOWN the first word, upper-cased, printable
	 * ASCII, at most 16 characters ("" if it had none of those). */
	char name[17];
	enum mailcmd_search_kind search_kind;
	/* The search: for IDs "0x" + upper-case hex; for text the words
	 * with blank runs made one space; for BAD_ID the text as given
	 * (bounded).  Valid UTF-8, no control characters. */
	char search[MAILCMD_SEARCH_MAX + 1];
	uint32_t days;			/* LAST */
	char lang[MAILCMD_LANG_MAX];	/* HELP LANG, lower-cased, or "" */
	/* The first word is a keyserver command word (GET, INDEX, MGET,
	 * STATUS, ...) even when kind is UNKNOWN or BAD_ID: lets a caller
	 * answer mistakes in commands without answering every spam Subject. */
	int looks_like_command;
	char reason[160];		/* UNKNOWN/BAD_ID/TOO_LONG: why */
};

/* mailcmd_decode_subject - raw (a Subject as mailparse reports it:
 * unfolded, encoded words as they are, NULL if absent) decoded: RFC 2047
 * encoded words to UTF-8, then every control character (C0, DEL, C1)
 * made a space and every byte that is not valid UTF-8 made '?', blanks
 * trimmed.  Only the first MAILCMD_SUBJECT_MAX bytes of raw are looked
 * at; *too_long_r (if not NULL) says whether raw was longer.  Returns a
 * string the caller frees; "" for NULL. */
char *mailcmd_decode_subject(const char *raw, int *too_long_r);

/* mailcmd_parse - the command in a decoded Subject (as from
 * mailcmd_decode_subject; NULL = none).  Never fails: what is not a
 * command we answer is UNKNOWN, BAD_ARG or NONE with a reason. */
void mailcmd_parse(const char *subject, struct mailcmd *cmd);

/* mailcmd_from_raw - decode and parse in one step; a raw Subject longer
 * than MAILCMD_SUBJECT_MAX is MAILCMD_TOO_LONG, whatever it starts with. */
void mailcmd_from_raw(const char *raw_subject, struct mailcmd *cmd);

/* mailcmd_answered - true for the kinds that get a reply when the reply
 * policy allows one: all but NONE and INCREMENTAL (sync traffic). */
int mailcmd_answered(const struct mailcmd *cmd);

/* mailcmd_kind_name - "get", "vindex", "too-long", ...: for logs, the
 * queue and tests. */
const char *mailcmd_kind_name(enum mailcmd_kind kind);

#endif
