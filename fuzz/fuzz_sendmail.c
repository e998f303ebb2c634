/*
 * fuzz_sendmail.c - libFuzzer entry point for the outbound intake,
 * "pksbridge sendmail": its command line and the header handling that
 * decides who a mail goes to, as cmd_sendmail (filters/sendmail.c) runs
 * them, then the outbound mail composed for every peer found.
 *
 * Input: argv words separated by NUL bytes, ended by an empty word (two
 * NULs in a row); the rest is the mail on stdin.  argv[0] is "sendmail".
 *
 * Invariants: a refused command line says why; -f points into argv; the
 * lone-dot cut only ever shortens the mail and leaves no lone "." line;
 * every peer is a bare address (an '@', no blank, no control character,
 * so nothing that could start a header line) and appears once whatever
 * its case; for every peer outmail_compose either refuses, leaving the
 * buffer untouched, or writes a header section of CRLF-terminated lines
 * with no other CR or LF whose To: line is exactly the peer.
 * Built by "make fuzz".
 */
#include "cmd/commands.h"
#include "config/config.h"
#include "mail/extract.h"
#include "mail/outmail.h"
#include "openpgp/pgp.h"
#include "sendmail.h"
#include "util/buf.h"
#include "util/log.h"
#include "util/xalloc.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MAX_WORDS 64

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* cmd_sendmail, in the same object as the functions fuzzed here, calls
 * main.c's cmd_load_config; this target never runs it, so a stand-in
 * satisfies the linker without pulling in main(). */
int
cmd_load_config(const struct cmd_ctx *ctx, struct config *cfg,
		struct pb_err *err)
{
	(void)ctx;
	config_defaults(cfg);
	return pb_err_set(err, PB_ECONFIG, "not in the fuzzer");
}

static int
has_lone_dot(const struct buf *mail)
{
	const char *p = (const char *)mail->data, *end = p + mail->len;

	for (const char *line = p; line < end;) {
		const char *nl = memchr(line, '\n', (size_t)(end - line));
		size_t ll = nl ? (size_t)(nl - line) : (size_t)(end - line);

		if ((ll == 1 && line[0] == '.') ||
		    (ll == 2 && line[0] == '.' && line[1] == '\r'))
			return 1;
		line = nl ? nl + 1 : end;
	}
	return 0;
}

static void
check_peer(const char *peer)
{
	if (!strchr(peer, '@'))
		abort();
	for (const unsigned char *p = (const unsigned char *)peer; *p; p++)
		if (*p <= 0x20 || *p == 0x7f)
			abort();
}

/* check_composed - the header section of out[start..) */
static void
check_composed(const struct buf *out, size_t start, const char *peer)
{
	const char *p = (const char *)out->data + start;
	const char *end = (const char *)out->data + out->len;
	const char *hdr_end = NULL;
	int to_seen = 0;

	for (const char *q = p; q + 3 < end; q++) {
		if (memcmp(q, "\r\n\r\n", 4) == 0) {
			hdr_end = q + 2;
			break;
		}
	}
	if (!hdr_end)
		abort();
	while (p < hdr_end) {
		const char *crlf = memmem(p, (size_t)(hdr_end - p), "\r\n", 2);
		size_t len;

		if (!crlf)
			abort();
		len = (size_t)(crlf - p);
		if (memchr(p, '\r', len) || memchr(p, '\n', len) || len > 998)
			abort();
		if (len >= 4 && memcmp(p, "To: ", 4) == 0) {
			if (len - 4 != strlen(peer) || memcmp(p + 4, peer, len - 4))
				abort();
			to_seen++;
		}
		p = crlf + 2;
	}
	if (to_seen != 1)
		abort();
}

static void
compose_for(const struct config *cfg, const char *peer)
{
	static const unsigned char blob[] = { 0x99, 0x00, 0x01, 0x04 };
	struct pgp_key key;
	struct buf out = BUF_INIT;
	struct pb_err err;
	char msgid[OUTMAIL_MSGID_MAX];
	size_t start;

	memset(&key, 0, sizeof key);
	key.data = (unsigned char *)blob;
	key.len = sizeof blob;
	buf_append(&out, "x", 1);	/* something before: must survive */
	start = out.len;
	if (outmail_compose(cfg, peer, &key, 1, 1700000000, &out, msgid,
			    &err) == 0) {
		if (!outmail_addr_ok(peer))
			abort();
		check_composed(&out, start, peer);
	} else if (out.len != start || outmail_addr_ok(peer)) {
		abort();
	}
	buf_free(&out);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *argv[MAX_WORDS + 2];
	int argc = 1;
	size_t pos = 0;
	struct sm_opts o;
	struct pb_err err;
	struct buf mail = BUF_INIT;
	struct extract x;
	struct config cfg;
	char **peers = NULL;
	size_t npeers = 0, before;

	log_open("fuzz", 0, 0);
	argv[0] = xstrdup("sendmail");
	while (pos < size && argc < MAX_WORDS) {
		const uint8_t *nul = memchr(data + pos, 0, size - pos);
		size_t wl = nul ? (size_t)(nul - (data + pos)) : size - pos;

		if (wl == 0) {
			pos++;
			break;
		}
		argv[argc++] = xstrndup((const char *)data + pos, wl);
		pos += wl + (nul != NULL);
	}
	argv[argc] = NULL;

	if (sendmail_parse_args(argc, argv, &o, &err) != 0) {
		if (err.msg[0] == '\0')
			abort();
		goto out_args;
	}
	if (o.sender) {
		int inside = 0;

		for (int i = 1; i < argc; i++)
			inside |= o.sender >= argv[i] &&
				  o.sender <= argv[i] + strlen(argv[i]);
		if (!inside)
			abort();
	}
	if (o.help)
		goto out_args;

	buf_append(&mail, data + pos, size - pos);
	before = mail.len;
	if (!o.ignore_dot) {
		sendmail_cut_at_dot(&mail);
		if (mail.len > before || has_lone_dot(&mail))
			abort();
	}
	extract_headers(&x, (const char *)buf_str(&mail), mail.len);
	for (size_t i = 0; i < o.nrcpts; i++)
		sendmail_add_peer(&peers, &npeers, o.rcpts[i]);
	if (o.extract_to)
		for (size_t i = 0; i < x.h.n_recipients; i++)
			sendmail_add_peer(&peers, &npeers, x.h.recipients[i]);
	config_defaults(&cfg);
	for (size_t i = 0; i < npeers; i++) {
		check_peer(peers[i]);
		for (size_t k = 0; k < i; k++)
			if (strcasecmp(peers[k], peers[i]) == 0)
				abort();
		compose_for(&cfg, peers[i]);
	}
	config_free(&cfg);
	extract_free(&x);
	for (size_t i = 0; i < npeers; i++)
		free(peers[i]);
	free(peers);
	buf_free(&mail);
out_args:
	free(o.rcpts);
	for (int i = 0; i < argc; i++)
		free(argv[i]);
	return 0;
}
