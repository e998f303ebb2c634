/*
 * fuzz_armor.c - libFuzzer entry point for armor_scan (make fuzz builds
 * and runs it).  Any text is scanned under a decode limit; the reported
 * blocks must lie inside the text, respect the limit, say why they are
 * bad, and every good block must come back unchanged from an
 * armor_encode_pubkey / armor_scan round trip.
 */
#include "openpgp/armor.h"
#include "util/buf.h"

#include <stdlib.h>
#include <string.h>

#define MAX_DECODED 65536

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct scan_ctx {
	size_t text_len;
	const struct armor_block *want;	/* round trip: the original block */
	int seen;
};

static int
check_copy(void *vctx, const struct armor_block *blk)
{
	struct scan_ctx *ctx = vctx;

	if (!blk->ok || blk->kind != ARMOR_PUBLIC_KEY || blk->has_crc != 1 ||
	    blk->len != ctx->want->len ||
	    memcmp(blk->data, ctx->want->data, blk->len) != 0)
		abort();
	ctx->seen++;
	return 0;
}

static int
check_block(void *vctx, const struct armor_block *blk)
{
	struct scan_ctx *ctx = vctx;

	if (blk->offset >= ctx->text_len ||
	    blk->text_len > ctx->text_len - blk->offset)
		abort();
	if (!blk->ok) {
		if (blk->error[0] == '\0' || blk->data != NULL)
			abort();
		return 0;
	}
	if (blk->error[0] != '\0' || blk->len == 0 || blk->len > MAX_DECODED)
		abort();
	{
		struct buf out = BUF_INIT;
		struct scan_ctx inner = { 0, blk, 0 };

		armor_encode_pubkey(blk->data, blk->len, &out);
		inner.text_len = out.len;
		armor_scan((const char *)out.data, out.len, MAX_DECODED,
			   check_copy, &inner);
		if (inner.seen != 1)
			abort();
		buf_free(&out);
	}
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct scan_ctx ctx = { size, NULL, 0 };

	armor_scan((const char *)data, size, MAX_DECODED, check_block, &ctx);
	return 0;
}
