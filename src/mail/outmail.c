/*
 * outmail.c - compose the outbound PKS "incremental" mail (see outmail.h).
 *
 * Every check that can refuse the mail is a header check, made before the
 * body is written; a refused mail is cut back out of the caller's buffer.
 * The armor comes from armor.h's streaming writer, whose LF line ends are
 * turned into CRLF on the way into the buffer: the keys are never held a
 * second time as LF text.
 */
#include "mail/outmail.h"

#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "openpgp/armor.h"

#define HEADER_LINE_MAX 998	/* RFC 5322 2.1.1, without the CRLF */
#define LOCAL_MAX 64		/* RFC 5321 4.5.3.1.1 */
#define DOMAIN_MAX 253		/* 255 octets of wire format */
#define LABEL_MAX 63

/* is_atext - RFC 5322 atext: what a dot-atom local part may hold. */
static int
is_atext(int c)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9'))
		return 1;
	return c != '\0' && strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL;
}

/* domain_ok - LDH labels separated by single dots, as in DNS. */
static int
domain_ok(const char *d, size_t len)
{
	size_t label = 0;

	if (len == 0 || len > DOMAIN_MAX)
		return 0;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)d[i];

		if (c == '.') {
			if (label == 0 || d[i - 1] == '-')
				return 0;
			label = 0;
			continue;
		}
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '-'))
			return 0;
		if (label == 0 && c == '-')
			return 0;
		if (++label > LABEL_MAX)
			return 0;
	}
	return label != 0 && d[len - 1] != '-';
}

int
outmail_addr_ok(const char *addr)
{
	const char *at;
	size_t local;

	if (addr == NULL)
		return 0;
	at = strchr(addr, '@');
	if (at == NULL || strchr(at + 1, '@') != NULL)
		return 0;
	local = (size_t)(at - addr);
	/* A leading '-' is legal but would read as an option to a sendmail
	 * command; no keyserver address needs one. */
	if (local == 0 || local > LOCAL_MAX || addr[0] == '-' ||
	    addr[0] == '.' || addr[local - 1] == '.')
		return 0;
	for (size_t i = 0; i < local; i++) {
		if (addr[i] == '.') {
			if (addr[i + 1] == '.')
				return 0;
		} else if (!is_atext((unsigned char)addr[i])) {
			return 0;
		}
	}
	return domain_ok(at + 1, strlen(at + 1));
}

int
outmail_value_ok(const char *v)
{
	for (const unsigned char *p = (const unsigned char *)v; *p; p++)
		if (*p < 0x20 || *p >= 0x7f)
			return 0;
	return 1;
}

int
outmail_header(struct buf *b, const char *name, const char *value,
	       struct pb_err *err)
{
	if (!outmail_value_ok(value))
		return pb_err_set(err, PB_EDATA,
				  "%s header value contains a control or "
				  "non-ASCII character", name);
	if (strlen(name) + 2 + strlen(value) > HEADER_LINE_MAX)
		return pb_err_set(err, PB_EDATA,
				  "%s header longer than %d characters", name,
				  HEADER_LINE_MAX);
	buf_printf(b, "%s: %s\r\n", name, value);
	return 0;
}

int
outmail_armor_crlf(void *ctx, const char *text, size_t len)
{
	struct buf *b = ctx;
	const char *p = text, *end = text + len, *nl;

	buf_reserve(b, len + len / 32 + 2);
	while (p < end && (nl = memchr(p, '\n', (size_t)(end - p))) != NULL) {
		buf_append(b, p, (size_t)(nl - p));
		buf_append(b, "\r\n", 2);
		p = nl + 1;
	}
	buf_append(b, p, (size_t)(end - p));
	return 0;
}

/* make_msgid - "SECONDS.PID.RANDOM@domain": seconds and pid make it
 * unique on this host unless the clock goes back, the 64 random bits
 * cover that and several hosts sharing one from_addr.  -1 if it does not
 * fit in outlen. */
static int
make_msgid(const char *domain, int64_t now, char *out, size_t outlen)
{
	unsigned long long rnd = 0;
	struct timespec ts;

	if (getrandom(&rnd, sizeof rnd, GRND_NONBLOCK) != (ssize_t)sizeof rnd) {
		/* No entropy yet (early boot): the clock's nanoseconds still
		 * separate two mails composed in the same second. */
		clock_gettime(CLOCK_REALTIME, &ts);
		rnd ^= (unsigned long long)ts.tv_nsec * 0x9E3779B97F4A7C15ULL;
	}
	int len = snprintf(out, outlen, "%lld.%ld.%016llx@%s", (long long)now,
			   (long)getpid(), rnd, domain);

	return len < 0 || (size_t)len >= outlen ? -1 : 0;
}

/* make_date - now as an RFC 5322 date in UTC; -1 if the year is not
 * 1970..9999. */
static int
make_date(int64_t now, char *out, size_t len)
{
	static const char *const wday[] = {
		"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat" };
	static const char *const mon[] = {
		"Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep",
		"Oct", "Nov", "Dec" };
	time_t t = (time_t)now;
	struct tm tm;

	if (gmtime_r(&t, &tm) == NULL || tm.tm_year + 1900 > 9999 ||
	    tm.tm_year + 1900 < 1970)
		return -1;
	snprintf(out, len, "%s, %d %s %04d %02d:%02d:%02d +0000",
		 wday[tm.tm_wday], tm.tm_mday, mon[tm.tm_mon], tm.tm_year + 1900,
		 tm.tm_hour, tm.tm_min, tm.tm_sec);
	return 0;
}

int
outmail_stamp(const struct config *cfg, int64_t now, struct outmail_stamp *st,
	      struct pb_err *err)
{
	const char *domain;

	if (cfg->from_addr == NULL || !outmail_addr_ok(cfg->from_addr_bare))
		return pb_err_set(err, PB_EDATA,
				  "from_addr is not a plain user@domain");
	domain = strchr(cfg->from_addr_bare, '@') + 1;
	if (make_date(now, st->date, sizeof st->date) != 0)
		return pb_err_set(err, PB_EDATA, "date %lld out of range",
				  (long long)now);
	if (make_msgid(domain, now, st->msgid, sizeof st->msgid) != 0)
		return pb_err_set(err, PB_EDATA,
				  "from_addr domain too long for a Message-ID");
	snprintf(st->bracketed, sizeof st->bracketed, "<%s>", st->msgid);
	return 0;
}

int
outmail_compose(const struct config *cfg, const char *peer,
		const struct pgp_key *keys, size_t n, int64_t now,
		struct buf *out, char *msgid_out, struct pb_err *err)
{
	struct armor_writer w;
	struct outmail_stamp st;
	size_t total = 0, start = out->len;

	if (n == 0)
		return pb_err_set(err, PB_EDATA, "no keys to send");
	if (!outmail_addr_ok(peer))
		return pb_err_set(err, PB_EDATA,
				  "peer address is not a plain user@domain");
	if (outmail_stamp(cfg, now, &st, err) != 0)
		return -1;

	for (size_t i = 0; i < n; i++)
		total += keys[i].len;
	/* Base64 grows by 4/3, each 64-column line by 2 more (CRLF). */
	buf_reserve(out, 1024 + total / 48 * 66 + 66);
	/* Auto-Submitted (RFC 3834): sync mail is machine-made, so no
	 * responder (a vacation program, another keyserver's mail front
	 * end) answers it. */
	if (outmail_header(out, "From", cfg->from_addr, err) != 0 ||
	    outmail_header(out, "To", peer, err) != 0 ||
	    outmail_header(out, "Subject", "incremental", err) != 0 ||
	    outmail_header(out, "X-KeyServer-Sent", cfg->from_addr_bare, err) != 0 ||
	    outmail_header(out, "Precedence", "list", err) != 0 ||
	    outmail_header(out, "MIME-Version", "1.0", err) != 0 ||
	    outmail_header(out, "Content-Type", "application/pgp-keys", err) != 0 ||
	    outmail_header(out, "Content-Transfer-Encoding", "7bit", err) != 0 ||
	    outmail_header(out, "Date", st.date, err) != 0 ||
	    outmail_header(out, "Message-ID", st.bracketed, err) != 0 ||
	    outmail_header(out, "Auto-Submitted", "auto-generated", err) != 0) {
		/* Nothing of a refused mail stays in the caller's buffer. */
		out->len = start;
		out->data[start] = '\0';
		return -1;
	}
	buf_append(out, "\r\n", 2);
	armor_writer_begin(&w, outmail_armor_crlf, out);
	for (size_t i = 0; i < n; i++)
		armor_writer_add(&w, keys[i].data, keys[i].len);
	armor_writer_end(&w);	/* outmail_armor_crlf cannot fail */
	snprintf(msgid_out, OUTMAIL_MSGID_MAX, "%s", st.msgid);
	return 0;
}
