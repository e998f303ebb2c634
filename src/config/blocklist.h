/*
 * blocklist.h - the fingerprints of blocklist_file, for the key policy.
 *
 * The file: one fingerprint per line (40 hex digits for v4, 64 for
 * v5/v6; blanks inside, as gpg prints them, and a 0x prefix are fine),
 * '#' starts a comment (at the start of a line or after a blank), blank
 * lines are ignored.  onak's Evil32 list
 * (/usr/share/doc/onak/evil32.blacklist.gz, gunzipped) is one.  Key IDs
 * are refused: the keys such lists exist for collide on them.
 *
 * A struct blocklist is a sorted array, searched by bisection, so the
 * 23,846 Evil32 fingerprints cost one lookup per key and subkey.  It is
 * read where the policy is set up (policy check, and phase B's doors),
 * not by config_load: most commands never need it.  The operator's own
 * `block add` list lives in the spool (phase B); blocklist_policy_fn is
 * the lookup a struct policy takes, and phase B's lookup can consult
 * both.
 */
#ifndef PB_BLOCKLIST_H
#define PB_BLOCKLIST_H

#include <stddef.h>

#include "openpgp/pgp.h"
#include "util/err.h"

struct blocklist_entry {
	unsigned char len;		/* 20 or 32 */
	unsigned char fpr[PGP_FPR_MAX];
};

struct blocklist {
	struct blocklist_entry *e;	/* sorted; owned */
	size_t n;
};

#define BLOCKLIST_MAX_FILE (64u << 20)	/* a bigger file is an error */

/* blocklist_load - read path into bl (which it initialises).  A line that
 * is not a fingerprint is a PB_ECONFIG error naming path and line; so is
 * an unreadable or oversized file.  On error bl is empty. */
int blocklist_load(const char *path, struct blocklist *bl, struct pb_err *err);

/* blocklist_parse - the same for text already in memory (name in
 * errors); bl must be initialised (zeroed) or hold earlier entries. */
int blocklist_parse(const char *name, const char *text, size_t len,
		    struct blocklist *bl, struct pb_err *err);

/* blocklist_add - fpr (20 or 32 bytes; others are ignored) appended to
 * bl (zeroed or holding entries); blocklist_sort must follow before a
 * lookup (one sort for a whole list). */
void blocklist_add(struct blocklist *bl, const unsigned char *fpr,
		   size_t fpr_len);
void blocklist_sort(struct blocklist *bl);

/* blocklist_contains - 1 if fpr (fpr_len bytes) is on the list. */
int blocklist_contains(const struct blocklist *bl, const unsigned char *fpr,
		       size_t fpr_len);

/* blocklist_policy_fn - blocklist_contains as a policy_blocked_fn; ctx is
 * the struct blocklist. */
int blocklist_policy_fn(void *ctx, const unsigned char *fpr, size_t fpr_len);

void blocklist_free(struct blocklist *bl);

#endif
