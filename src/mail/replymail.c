/*
 * replymail.c - compose the reply to a mail command (see replymail.h).
 *
 * Headers first, into a scratch buffer: every refusal happens there, so
 * a refused reply leaves nothing in the caller's buffer.  The armor comes
 * from armor.h's streaming writer with its LF turned into CRLF on the
 * way, so the keys are held once as binary and never as LF text.
 * Date, Message-ID (outmail_stamp), the header checks and the CRLF armor
 * writer are outmail.h's, shared with the sync mail.
 */
#include "mail/replymail.h"
#include "openpgp/armor.h"
#include "mail/outmail.h"
#include "util/utf8.h"

#include <stdio.h>
#include <string.h>

#define HEADER_LINE_MAX 998	/* RFC 5322 2.1.1, without the CRLF */
#define FOLD_AT 78		/* RFC 5322 2.1.1's SHOULD */
#define QP_LINE_MAX 76		/* RFC 2045 6.7 (5) */
#define MSGID_MAX 995		/* as mailparse accepts them */
#define EW_CHUNK 45		/* bytes per encoded word: 60 base64 chars,
				 * 72 with "=?UTF-8?B?" and "?=" */

static const char default_help[] =
	"This is an OpenPGP keyserver that answers mail.  Put ONE command in\n"
	"the Subject of a mail to this address; the body is read only for ADD.\n"
	"\n"
	"  HELP                 this text\n"
	"  GET <search>         the keys that match, ready to import: save this\n"
	"                       reply and run \"gpg --import FILE\"\n"
	"  INDEX <search>       a list of the keys that match\n"
	"  VERBOSE INDEX <search>  the same, with every user ID\n"
	"  LAST <days>          the keys this keyserver saw change in that many\n"
	"                       days (at most as far back as it remembers)\n"
	"  ADD                  with your public key in the body (ASCII armor):\n"
	"                       adds it; the reply says what changed\n"
	"\n"
	"<search> is a key ID or fingerprint written 0x followed by 8, 16 or 40\n"
	"(or 64) hex digits, or words of a user ID (name or email address).\n"
	"Searches work as the key database behind this server does them.\n"
	"\n"
	"A short key ID (8 hex digits) can match several different keys: the\n"
	"reply lists each by its full fingerprint.  Check the fingerprint with\n"
	"the key's owner before you trust a key.\n"
	"\n"
	"Replies go to the envelope sender of your mail, and only so many per\n"
	"hour; automatic mail (lists, bounces, vacation replies) is not\n"
	"answered.\n";

const char *
replymail_default_help(void)
{
	return default_help;
}

/* msgid_ok - what may stand between < and > in a Message-ID we repeat:
 * the rule mailparse applies to the ones it reports. */
static int
msgid_ok(const char *id, size_t n)
{
	if (n == 0 || n > MSGID_MAX)
		return 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)id[i];

		if (c < 0x21 || c > 0x7e || c == '<' || c == '>')
			return 0;
	}
	return 1;
}

/* put_references - "References:" with the request's last
 * REPLYMAIL_REFS_MAX well-formed ids and then the request's own id,
 * folded before an id that would pass FOLD_AT (an id is at most 997
 * characters with its brackets, so every line stays within 998). */
static void
put_references(struct buf *b, const char *refs, const char *id)
{
	const char *keep[REPLYMAIL_REFS_MAX + 1];
	size_t keep_len[REPLYMAIL_REFS_MAX + 1], n = 0, col;
	const char *p = refs;

	while (p && *p) {
		const char *lt = strchr(p, '<'), *gt;

		if (lt == NULL || (gt = strchr(lt + 1, '>')) == NULL)
			break;
		if (msgid_ok(lt + 1, (size_t)(gt - lt - 1)) &&
		    !((size_t)(gt - lt - 1) == strlen(id) &&
		      memcmp(lt + 1, id, strlen(id)) == 0)) {
			if (n == REPLYMAIL_REFS_MAX) {
				memmove(keep, keep + 1, (n - 1) * sizeof *keep);
				memmove(keep_len, keep_len + 1,
					(n - 1) * sizeof *keep_len);
				n--;
			}
			keep[n] = lt + 1;
			keep_len[n++] = (size_t)(gt - lt - 1);
		}
		p = gt + 1;
	}
	keep[n] = id;
	keep_len[n++] = strlen(id);
	buf_puts(b, "References:");
	col = strlen("References:");
	for (size_t i = 0; i < n; i++) {
		if (i > 0 && col + 3 + keep_len[i] > FOLD_AT) {
			buf_puts(b, "\r\n");
			col = 0;
		}
		buf_printf(b, " <%.*s>", (int)keep_len[i], keep[i]);
		col += 3 + keep_len[i];
	}
	buf_puts(b, "\r\n");
}

/* needs_encoding - a search that cannot stand in the Subject as it is:
 * 8-bit text, or "=?" that a reader would take for an encoded word. */
static int
needs_encoding(const char *s)
{
	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		if (*p >= 0x80)
			return 1;
	return strstr(s, "=?") != NULL;
}

/* put_subject - "Subject: Reply to CMD[ SEARCH]".  The search (at most
 * REPLYMAIL_SUBJECT_SEARCH_MAX bytes of it, whole UTF-8 characters, then
 * "...") goes as RFC 2047 B-encoded UTF-8 words, each on its own folded
 * line, when needs_encoding; else as printable ASCII.  The unfolded
 * blank before the first word separates it from the command. */
static int
put_subject(struct buf *b, const char *cmd, const char *search,
	    struct pb_err *err)
{
	size_t n, shown = 0, start;
	int cut;

	if (!outmail_value_ok(cmd) || strlen(cmd) > 64)
		return pb_err_set(err, PB_EDATA, "command name unusable in a "
				  "Subject");
	buf_printf(b, "Subject: Reply to %s", cmd);
	if (search == NULL || *search == '\0') {
		buf_puts(b, "\r\n");
		return 0;
	}
	n = strlen(search);
	while (shown < n) {
		uint32_t cp;
		size_t l = utf8_char((const unsigned char *)search + shown,
				     n - shown, &cp);

		if (l == 0 || utf8_control(cp))
			return pb_err_set(err, PB_EDATA, "search holds a control "
					  "character or invalid UTF-8");
		if (shown + l > REPLYMAIL_SUBJECT_SEARCH_MAX)
			break;
		shown += l;
	}
	cut = shown < n;
	if (!needs_encoding(search)) {
		buf_printf(b, " %.*s%s\r\n", (int)shown, search, cut ? "..." : "");
		return 0;
	}
	start = 0;
	while (start < shown) {
		size_t end = start;

		/* Encoded words may not split a character (RFC 2047 5). */
		while (end < shown) {
			uint32_t cp;
			size_t l = utf8_char((const unsigned char *)search + end,
					     shown - end, &cp);

			if (end + l - start > EW_CHUNK)
				break;
			end += l;
		}
		/* Every word on a folded line of its own, the first too, so
		 * that no line passes 78 characters. */
		buf_puts(b, "\r\n =?UTF-8?B?");
		armor_base64_encode((const unsigned char *)search + start,
				    end - start, 0, b);
		buf_puts(b, "?=");
		start = end;
	}
	buf_puts(b, cut ? "\r\n ...\r\n" : "\r\n");
	return 0;
}

/* clean_text - the body text as valid UTF-8 with LF line ends: CRLF and
 * lone CR become LF, other controls but TAB and invalid bytes '?'.  Sets
 * *ascii when it is all US-ASCII, *longest to the longest line. */
static void
clean_text(const char *t, struct buf *out, int *ascii, size_t *longest)
{
	size_t n = strlen(t), i = 0, line = 0;

	*ascii = 1;
	*longest = 0;
	buf_reserve(out, n + 2);
	while (i < n) {
		uint32_t cp;
		size_t l = utf8_char((const unsigned char *)t + i, n - i, &cp);

		if (t[i] == '\r' || t[i] == '\n') {
			i += (t[i] == '\r' && i + 1 < n && t[i + 1] == '\n') ? 2 : 1;
			buf_putc(out, '\n');
			if (line > *longest)
				*longest = line;
			line = 0;
			continue;
		}
		if (l == 0 || (utf8_control(cp) && cp != '\t')) {
			buf_putc(out, '?');
			i += l ? l : 1;
			line++;
			continue;
		}
		if (cp >= 0x80)
			*ascii = 0;
		buf_append(out, t + i, l);
		i += l;
		line++;
	}
	if (line > *longest)
		*longest = line;
	if (out->len == 0 || out->data[out->len - 1] != '\n')
		buf_putc(out, '\n');
}

/* put_crlf - text with LF line ends appended with CRLF. */
static void
put_crlf(struct buf *b, const char *t, size_t n)
{
	const char *end = t + n, *nl;

	while (t < end && (nl = memchr(t, '\n', (size_t)(end - t))) != NULL) {
		buf_append(b, t, (size_t)(nl - t));
		buf_append(b, "\r\n", 2);
		t = nl + 1;
	}
	buf_append(b, t, (size_t)(end - t));
}

void
replymail_qp(const char *text, size_t len, struct buf *out)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t i = 0, col = 0;

	while (i < len) {
		unsigned char c = (unsigned char)text[i];
		char enc[4];
		size_t elen;
		int at_eol;

		if (c == '\n' || (c == '\r' && i + 1 < len && text[i + 1] == '\n')) {
			buf_append(out, "\r\n", 2);
			i += c == '\r' ? 2 : 1;
			col = 0;
			continue;
		}
		at_eol = i + 1 == len || text[i + 1] == '\n' ||
			 (text[i + 1] == '\r' && i + 2 < len && text[i + 2] == '\n');
		/* Literal: printable but '=', blanks not before a line end,
		 * and not the F of a "From " starting a line (mbox readers
		 * would quote it). */
		if (((c >= 33 && c <= 126 && c != '=') ||
		     ((c == ' ' || c == '\t') && !at_eol)) &&
		    !(col == 0 && c == 'F' && len - i >= 5 &&
		      memcmp(text + i, "From ", 5) == 0)) {
			enc[0] = (char)c;
			elen = 1;
		} else {
			enc[0] = '=';
			enc[1] = hex[c >> 4];
			enc[2] = hex[c & 15];
			elen = 3;
		}
		/* Room for the character and, unless the line ends right
		 * after it, a soft break's "=". */
		if (col + elen > QP_LINE_MAX - (at_eol ? 0 : 1)) {
			buf_append(out, "=\r\n", 3);
			col = 0;
		}
		buf_append(out, enc, elen);
		col += elen;
		i++;
	}
}

void
replymail_format_fpr(const char *hex, char *out, size_t outlen)
{
	size_t n = strlen(hex), o = 0;

	if ((n != 40 && n != 64) || outlen < 96) {
		snprintf(out, outlen, "%s", hex);
		return;
	}
	for (size_t i = 0; i < n; i++) {
		if (i > 0 && i % 4 == 0)
			out[o++] = ' ';
		if (n == 40 && i == 20)
			out[o++] = ' ';
		out[o++] = hex[i];
	}
	out[o] = '\0';
}

/* put_text_part - Content-Type/-Transfer-Encoding and the text: 7bit if
 * it can be (ASCII, lines within 998, and, inside a multipart, free of
 * "=_" so that it cannot hold the boundary), else quoted-printable. */
static void
put_text_part(struct buf *b, const char *text, int in_multipart)
{
	struct buf clean = BUF_INIT;
	size_t longest;
	int ascii, plain;

	clean_text(text ? text : "", &clean, &ascii, &longest);
	plain = ascii && longest <= HEADER_LINE_MAX &&
		!(in_multipart && strstr(buf_str(&clean), "=_") != NULL);
	buf_printf(b, "Content-Type: text/plain; charset=%s\r\n"
		   "Content-Transfer-Encoding: %s\r\n\r\n",
		   ascii ? "us-ascii" : "utf-8", plain ? "7bit" : "quoted-printable");
	if (plain)
		put_crlf(b, (const char *)clean.data, clean.len);
	else
		replymail_qp((const char *)clean.data, clean.len, b);
	buf_free(&clean);
}

int
replymail_compose(const struct config *cfg, const struct replymail *r,
		  int64_t now, struct buf *out, char *msgid_out,
		  struct pb_err *err)
{
	struct buf h = BUF_INIT;
	struct outmail_stamp st;
	char boundary[REPLYMAIL_MSGID_MAX + 16];
	size_t total = 0;
	int rc = -1;

	if (!outmail_addr_ok(r->to))
		return pb_err_set(err, PB_EDATA, "requester address is not a "
				  "plain user@domain");
	if (r->command == NULL)
		return pb_err_set(err, PB_EDATA, "no command to answer");
	if (r->in_reply_to && !msgid_ok(r->in_reply_to, strlen(r->in_reply_to)))
		return pb_err_set(err, PB_EDATA, "the request's Message-ID is "
				  "unusable in In-Reply-To");
	if (outmail_stamp(cfg, now, &st, err) != 0)
		return -1;

	if (outmail_header(&h, "From", cfg->from_addr, err) != 0 ||
	    outmail_header(&h, "To", r->to, err) != 0 ||
	    put_subject(&h, r->command, r->search, err) != 0 ||
	    outmail_header(&h, "Date", st.date, err) != 0 ||
	    outmail_header(&h, "Message-ID", st.bracketed, err) != 0)
		goto out;
	if (r->in_reply_to) {
		char irt[MSGID_MAX + 3];

		snprintf(irt, sizeof irt, "<%s>", r->in_reply_to);
		/* The longest ids fit only on a line of their own. */
		if (strlen("In-Reply-To: ") + strlen(irt) > FOLD_AT)
			buf_printf(&h, "In-Reply-To:\r\n %s\r\n", irt);
		else if (outmail_header(&h, "In-Reply-To", irt, err) != 0)
			goto out;
		put_references(&h, r->references, r->in_reply_to);
	}
	if (outmail_header(&h, "Auto-Submitted", "auto-replied", err) != 0 ||
	    outmail_header(&h, "MIME-Version", "1.0", err) != 0)
		goto out;

	for (size_t i = 0; i < r->nkeys; i++)
		total += r->keys[i].len;
	buf_reserve(out, h.len + 1024 + (r->text ? strlen(r->text) * 3 : 0) +
			 total / 48 * 66 + 66);
	buf_append(out, h.data, h.len);
	if (r->nkeys == 0) {
		put_text_part(out, r->text, 0);
	} else {
		struct armor_writer w;

		/* "=_" cannot occur in quoted-printable or base64 text, and
		 * put_text_part keeps it out of 7bit text. */
		snprintf(boundary, sizeof boundary, "=_pksbridge_%.200s",
			 st.msgid);
		for (char *p = boundary; *p; p++)
			if (*p == '@')
				*p = '.';
		buf_printf(out, "Content-Type: multipart/mixed; boundary=\"%s\"\r\n"
			   "\r\nThis is a MIME message.  The keys are in the "
			   "second part.\r\n\r\n--%s\r\n", boundary, boundary);
		put_text_part(out, r->text, 1);
		buf_printf(out, "\r\n--%s\r\nContent-Type: application/pgp-keys\r\n"
			   "Content-Transfer-Encoding: 7bit\r\n\r\n", boundary);
		armor_writer_begin(&w, outmail_armor_crlf, out);
		for (size_t i = 0; i < r->nkeys; i++)
			armor_writer_add(&w, r->keys[i].data, r->keys[i].len);
		armor_writer_end(&w);	/* outmail_armor_crlf cannot fail */
		buf_printf(out, "\r\n--%s--\r\n", boundary);
	}
	if (msgid_out)
		snprintf(msgid_out, REPLYMAIL_MSGID_MAX, "%s", st.msgid);
	rc = 0;
out:
	buf_free(&h);
	return rc;
}
