/*
 * extract.c - headers, keys and problems of one mail (see extract.h).
 */
#include "mail/extract.h"
#include "openpgp/armor.h"
#include "util/xalloc.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Bounds on what a quarantined piece keeps for the operator to inspect:
 * enough to diagnose, never enough to fill the spool. */
#define QUARANTINE_TEXT_MAX (64 * 1024)
#define QUARANTINE_TOTAL_MAX (1024 * 1024)
#define REASONS_MAX 1500

static void
add_reason(struct extract *a, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void
add_reason(struct extract *a, const char *fmt, ...)
{
	va_list ap;

	a->nreasons++;
	if (a->reasons.len >= REASONS_MAX)
		return;
	if (a->reasons.len)
		buf_puts(&a->reasons, "; ");
	va_start(ap, fmt);
	buf_vprintf(&a->reasons, fmt, ap);
	va_end(ap);
}

static void
keep_raw(struct extract *a, const char *label, const char *text, size_t len)
{
	if (a->raw.len >= QUARANTINE_TOTAL_MAX)
		return;
	if (len > QUARANTINE_TEXT_MAX)
		len = QUARANTINE_TEXT_MAX;
	if (len > QUARANTINE_TOTAL_MAX - a->raw.len)
		len = QUARANTINE_TOTAL_MAX - a->raw.len;
	buf_printf(&a->raw, "### %s\n", label);
	buf_append(&a->raw, text, len);
	if (len && text[len - 1] != '\n')
		buf_putc(&a->raw, '\n');
}

/* keep_broken_block - what a quarantined broken armor block keeps: its
 * header lines (BEGIN, Version:, Comment: ...) and its END line, never
 * its base64 body.  A block that does not decode cannot be checked for
 * secret key material (the labels lie: a PUBLIC KEY BLOCK may hold a
 * secret key, and a corrupted tag byte hides one), and the reason
 * recorded next to it already says what is wrong with it. */
static void
keep_broken_block(struct extract *a, const char *label, const char *text,
		  size_t len)
{
	struct buf kept = BUF_INIT;
	const char *p = text, *end = text + len;
	size_t body_lines = 0;
	int in_headers = 1, first = 1;

	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *eol = nl ? nl + 1 : end;
		size_t ll = (size_t)(eol - p);
		int blank = ll <= 2 && (ll == 0 || p[0] == '\n' || p[0] == '\r');

		/* The CRC line ("=" and 4 characters) is a checksum, and
		 * says which CRC the armor claimed. */
		if (first || (in_headers && !blank && memchr(p, ':', ll)) ||
		    (ll >= 5 && memcmp(p, "-----", 5) == 0) ||
		    (p[0] == '=' && ll <= 7)) {
			buf_append(&kept, p, ll);
		} else if (!blank) {
			in_headers = 0;
			body_lines++;
		} else {
			in_headers = 0;
		}
		first = 0;
		p = eol;
	}
	if (kept.len && kept.data[kept.len - 1] != '\n')
		buf_putc(&kept, '\n');
	buf_printf(&kept, "[%zu line(s) of the block not kept: a broken block "
		   "may hide secret key material]\n", body_lines);
	keep_raw(a, label, (const char *)kept.data, kept.len);
	buf_free(&kept);
}

/* header_section_len - the length of the mail's header section (up to
 * and including the empty line), or len if it has no body. */
static size_t
header_section_len(const char *mail, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		if (mail[i] != '\n')
			continue;
		if (i + 1 < len && mail[i + 1] == '\n')
			return i + 2;
		if (i + 2 < len && mail[i + 1] == '\r' && mail[i + 2] == '\n')
			return i + 3;
	}
	return len;
}

struct part_ctx {
	struct extract *a;
	struct pgp_limits limits;
	size_t max_decoded;
	const char *text;	/* the part being scanned, for keep_raw */
	unsigned partno;
};

static int
on_block(void *vctx, const struct armor_block *blk)
{
	struct part_ctx *pc = vctx;
	struct extract *a = pc->a;

	switch (blk->kind) {
	case ARMOR_PUBLIC_KEY:
		a->npub_blocks++;
		if (!blk->ok) {
			char label[256];

			add_reason(a, "part %u, armor block at byte %zu: %s",
				   pc->partno, blk->offset, blk->error);
			snprintf(label, sizeof label, "part %u, byte %zu: %s",
				 pc->partno, blk->offset, blk->error);
			keep_broken_block(a, label, pc->text + blk->offset,
					  blk->text_len);
			break;
		}
		pgp_split_keys(blk->data, blk->len, &pc->limits, &a->keys);
		break;
	case ARMOR_PRIVATE_KEY:
		/* Never kept, not even in quarantine. */
		add_reason(a, "part %u: secret key block dropped (secret key "
			   "material is never stored)", pc->partno);
		break;
	case ARMOR_OTHER:
		break;
	}
	return 0;
}

static int
on_part(void *vctx, const char *type, const char *data, size_t len)
{
	struct part_ctx *pc = vctx;

	(void)type;
	pc->partno++;
	pc->text = data;
	armor_scan(data, len, pc->max_decoded, on_block, pc);
	return 0;
}

static void
on_problem(void *vctx, const char *reason)
{
	struct part_ctx *pc = vctx;

	add_reason(pc->a, "%s", reason);
}

void
extract_headers(struct extract *x, const char *mail, size_t len)
{
	struct pb_err err;

	memset(x, 0, sizeof *x);
	if (mail_parse_headers(mail, len, &x->h, &err) != 0)
		add_reason(x, "headers: %s", err.msg);
}

/* pack_keys - move the keys' bytes into the payload. */
static void
pack_keys(struct extract *x)
{
	x->key_off = xcalloc(x->keys.nkeys + 1, sizeof *x->key_off);
	for (size_t i = 0; i < x->keys.nkeys; i++) {
		struct pgp_key *k = &x->keys.keys[i];

		x->key_off[i] = x->payload.len;
		pgp_keyseq_add(&x->payload, k->data, k->len);
		free(k->data);
		k->data = NULL;
	}
	x->key_off[x->keys.nkeys] = x->payload.len;
}

void
extract_body(struct extract *x, const struct config *cfg, const char *mail,
	     size_t len, uint64_t total_size)
{
	struct part_ctx pc;

	memset(&pc, 0, sizeof pc);
	pc.a = x;
	/* max_key_size applies to the key the policy has trimmed (at
	 * delivery): refusing a flooded key here would freeze its owner's
	 * next genuine update, so a key is bounded only by the mail. */
	pc.limits.max_key_size = cfg->max_message_size;
	pc.limits.max_keys = cfg->max_keys_per_message;
	pc.max_decoded = cfg->max_message_size;
	if (total_size > cfg->max_message_size) {
		char label[128];
		size_t hl = header_section_len(mail, len);

		x->too_large = 1;
		add_reason(x, "message of %llu bytes exceeds max_message_size "
			   "(%llu)", (unsigned long long)total_size,
			   (unsigned long long)cfg->max_message_size);
		/* Only the header section: the body was never parsed, so
		 * nothing says whether it holds secret key material. */
		if (hl > QUARANTINE_TEXT_MAX)
			hl = QUARANTINE_TEXT_MAX;
		snprintf(label, sizeof label, "the header section of the message "
			 "(%zu bytes; the body is not kept)", hl);
		keep_raw(x, label, mail, hl);
		pack_keys(x);
		return;
	}
	mail_walk_parts(mail, len, on_part, on_problem, &pc);
	for (size_t i = 0; i < x->keys.nproblems; i++) {
		const struct pgp_problem *p = &x->keys.problems[i];

		if (p->fpr_hex[0])
			add_reason(x, "key %s: %s", p->fpr_hex, p->reason);
		else
			add_reason(x, "%s", p->reason);
	}
	if (x->npub_blocks == 0 && x->nreasons == 0) {
		add_reason(x, "no public key block found");
		x->no_key_block = 1;
	} else if (x->keys.nkeys == 0 && x->nreasons == 0)
		add_reason(x, "no public key in the key blocks");
	if (x->reasons.len >= REASONS_MAX)
		buf_printf(&x->reasons, " (%zu problems in all)", x->nreasons);
	pack_keys(x);
}

void
extract_payload_subset(const struct extract *x, const unsigned char *take,
		       struct buf *out)
{
	for (size_t i = 0; i < x->keys.nkeys; i++)
		if (take[i])
			buf_append(out, x->payload.data + x->key_off[i],
				   x->key_off[i + 1] - x->key_off[i]);
}

void
extract_free(struct extract *x)
{
	mail_headers_free(&x->h);
	pgp_keylist_free(&x->keys);
	buf_free(&x->reasons);
	buf_free(&x->raw);
	buf_free(&x->payload);
	free(x->key_off);
	memset(x, 0, sizeof *x);
}
