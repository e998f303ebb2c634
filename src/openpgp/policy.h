/*
 * policy.h - the key policy (SPEC "Key policy"): what of one OpenPGP key
 * may cross the bridge, decided in process, packet by packet.
 *
 * Input: one transferable public key as its packets (pgp_key.data, or
 * any buffer that frames as exactly one key), the settings, optionally
 * the key database's copy of the same key, and a blocklist lookup.
 * Output: the kept packets, byte for byte as they came (never
 * re-encoded: a packet this code does not understand is either kept
 * whole or dropped with a reason, never changed), a verdict, and counts
 * of what was dropped, by reason.
 *
 * What it enforces (each rule names the reason its drops are counted
 * under; the names are stable, they are the keys of the JSON "policy"
 * object and of the log line "policy=kept:N,third_party:N,..."):
 *
 *   secret          secret key and subkey packets never pass (a secret
 *                   primary key: the whole key is refused)
 *   blocked         the primary or a bound subkey fingerprint is blocked:
 *                   only the primary key packet and its valid key
 *                   revocations (0x20 by the key itself) pass
 *   hard_revoked    a valid key revocation whose reason is absent, 0 or 2
 *                   (HIP-5): user IDs, user attributes, certifications
 *                   and direct-key signatures go; the primary key, its
 *                   revocations and its subkeys with their bindings and
 *                   revocations stay (with keep_uids_when_revoked, the
 *                   gnupg: exception, self-signed user IDs stay too)
 *   unbound         a user ID, user attribute or subkey without a valid
 *                   binding self-signature (a binding whose hashed Key
 *                   Flags say "sign" needs a valid embedded
 *                   back-signature 0x19), with all its signatures; one
 *                   whose only valid self-signature is its revocation
 *                   stays, with it (a cleaned key keeps just that, and
 *                   the revocation must travel)
 *   bad_sig         a signature claiming to be by the key itself that
 *                   does not verify or cannot be verified here
 *   future          a signature dated more than a day ahead of now
 *   superseded      an older self-signature of the same kind on the same
 *                   component (binding, revocation, direct-key,
 *                   attestation) than the newest valid one: GnuPG and
 *                   Sequoia use only the newest, and checking the older
 *                   ones would let a forged flood cost a verification
 *                   each; also an older revocation by the same
 *                   third-party issuer
 *   third_party     a third-party certification third_party_certs does
 *                   not let through (none; approved: not attested by the
 *                   newest valid 1PA3PC attestation; owner: neither
 *                   attested nor on a user ID whose newest valid
 *                   self-certification leaves no-modify unset; a
 *                   revocation carries no key server preferences, so a
 *                   user ID bound only by its revocation consents to
 *                   nothing); third-party signatures of other
 *                   kinds (direct-key, on a subkey, key revocations by a
 *                   key not named as a designated revoker)
 *   cap             over max_certs_per_uid third-party certifications on
 *                   one user ID (attested ones rank first, then the
 *                   newest); a third-party certification revocation
 *                   stays with the issuer's kept certification
 *   uid_size        a user ID over max_uid_size, with its signatures
 *   sig_size        a signature packet over max_sig_size
 *   user_attribute  user attributes (photo IDs), with their signatures,
 *                   under user_attributes: drop
 *   duplicate       a packet repeated within the key
 *   misplaced       a signature of a type that does not belong where it
 *                   is (a certification on a subkey, ...)
 *   malformed       a signature packet that does not parse
 *   packet_type     packets of other types (trust, marker, padding,
 *                   unknown tags)
 *   over_budget     signatures left unverified because the key used up
 *                   POLICY_VERIFY_BUDGET_US: only a hostile key gets
 *                   there
 *
 * Third-party certifications are never verified (the bridge does not
 * hold the certifiers' keys): they are decided by count, size and the
 * owner's consent.  Everything that claims to be by the key itself and
 * is kept has been verified, at most once per call.
 *
 * Cost: framing and the cheap rules run first; then only what a decision
 * needs is verified, newest first: per component the newest valid
 * binding, revocation and attestation (and the key revocations).  An
 * ordinary key costs one verification per user ID and subkey.
 *
 * A key whose primary key this code cannot verify with (a version other
 * than 4, an unknown algorithm or curve: sigverify.h's UNKNOWN) is
 * "unjudged": only the rules that need no cryptography apply (secret,
 * the sizes, user_attribute, duplicate, packet_type, misplaced,
 * malformed, future, a blocked primary, and per component at most
 * max_certs_per_uid signatures from the key's own key ID and as many
 * from others, newest first, counted as cap; third_party_certs: none
 * drops all others).
 *
 * Deltas.  pksd and onak forward only the packets a merge added: a
 * primary key packet, a user ID and a new certification, without the
 * self-signature that binds the user ID.  Judged alone, such a key loses
 * that certification ("unbound") and the result says needs_stored.  The
 * caller then fetches the key database's copy and judges again with it
 * as `stored`: the delta is judged as part of the merged key (stored
 * packets bind, set the owner's no-modify flag, take their places under
 * the cap), and only the delta's own packets that the merged key keeps
 * are output, with the component packets they hang under.  A delta
 * whose every packet the stored key already holds comes out EMPTY with
 * `stored` counting them.
 *
 * How the bridge (phase B) calls it, at every door:
 *
 *   struct policy pol = { .blocked = fn, .blocked_ctx = bl };
 *   policy_settings_init(&pol.set);   then copy the config's values
 *   for each key:
 *     policy_judge(&pol, key->data, key->len, NULL, 0, &res, &err)
 *     if res.needs_stored (only where the key database can be asked):
 *       fetch the stored key (HKP op=get&options=mr, the GnuPG keyring:
 *       the binary transferable public key of the same fingerprint);
 *       not found: keep the first result; cannot ask: defer the entry;
 *       found: policy_result_free, policy_judge(..., stored, len, ...)
 *     switch res.verdict:
 *       KEPT, UNJUDGED: deliver res.kept (UNJUDGED: say so in the entry)
 *       BLOCKED: record "blocked"; deliver res.kept if not empty (the
 *                revocations), never in a reply
 *       EMPTY: nothing to deliver (record why)
 *       TOO_LARGE: quarantine with res.why
 *     policy_result_log / policy_result_json for the log and the queue
 *     policy_result_free
 *
 * pgp_split_keys' max_key_size must then be generous (max_message_size),
 * because max_key_size applies after trimming, here.
 */
#ifndef PB_POLICY_H
#define PB_POLICY_H

#include <stddef.h>
#include <stdint.h>

#include "openpgp/pgp.h"
#include "util/buf.h"
#include "util/err.h"

enum policy_third_party {
	POLICY_TP_NONE,
	POLICY_TP_APPROVED,
	POLICY_TP_OWNER,
	POLICY_TP_ALL,
};

struct policy_settings {
	enum policy_third_party third_party;	/* third_party_certs */
	size_t max_certs_per_uid;
	size_t max_uid_size;
	size_t max_sig_size;
	size_t max_key_size;		/* of the kept key */
	int keep_user_attributes;	/* user_attributes: keep */
	int keep_uids_when_revoked;	/* the gnupg: exception: a hard-revoked
					 * key keeps its self-signed user IDs
					 * (for a keyring that does not hold
					 * the key yet; GnuPG refuses a new key
					 * without one) */
	int64_t now;			/* Unix time to judge at; 0: now */
};

/* policy_settings_init - SPEC's defaults: owner, 100, 1K, 8K, 1M, drop,
 * no exception, now. */
void policy_settings_init(struct policy_settings *s);

/* policy_third_party_parse - "none", "approved", "owner", "all"; -1 if
 * none of them.  policy_third_party_name is the reverse. */
int policy_third_party_parse(const char *s, enum policy_third_party *tp);
const char *policy_third_party_name(enum policy_third_party tp);

/* policy_blocked_fn - 1 if the fingerprint (20 or 32 bytes) is on the
 * blocklist, else 0. */
typedef int (*policy_blocked_fn)(void *ctx, const unsigned char *fpr,
				 size_t fpr_len);

/* An optional memory of signatures verified by earlier calls (phase B:
 * beside the dedup index), so that traffic repeating a key costs no
 * verification.  The id is SHA-256 over the primary key, the component
 * and the signature packet (everything the verification depended on),
 * so a remembered signature moved onto another user ID or key is not
 * taken as verified.  Only GOOD results are remembered. */
#define POLICY_SIGID_LEN 32
struct policy_sigcache {
	int (*known_good)(void *ctx, const unsigned char id[POLICY_SIGID_LEN]);
	void (*remember_good)(void *ctx,
			      const unsigned char id[POLICY_SIGID_LEN]);
	void *ctx;
};

/* One configured policy: settings, blocklist, cache.  Read-only during
 * policy_judge, so one may serve many calls. */
struct policy {
	struct policy_settings set;
	policy_blocked_fn blocked;	/* NULL: nothing is blocked */
	void *blocked_ctx;
	const struct policy_sigcache *cache;	/* NULL: none */
};

/* Estimated CPU one key may spend verifying signatures (sigverify's
 * per-algorithm estimates: RSA-4096 90 us, Ed25519 110 us); past it the
 * remaining candidates are dropped as over_budget.  Ordinary keys use a
 * few hundred microseconds of it. */
#define POLICY_VERIFY_BUDGET_US 400000

enum policy_reason {
	POLICY_R_SECRET,
	POLICY_R_BLOCKED,
	POLICY_R_HARD_REVOKED,
	POLICY_R_UNBOUND,
	POLICY_R_BAD_SIG,
	POLICY_R_FUTURE,
	POLICY_R_SUPERSEDED,
	POLICY_R_THIRD_PARTY,
	POLICY_R_CAP,
	POLICY_R_UID_SIZE,
	POLICY_R_SIG_SIZE,
	POLICY_R_USER_ATTRIBUTE,
	POLICY_R_DUPLICATE,
	POLICY_R_MISPLACED,
	POLICY_R_MALFORMED,
	POLICY_R_PACKET_TYPE,
	POLICY_R_OVER_BUDGET,
	POLICY_NREASONS
};

/* policy_reason_name - the stable name of a reason ("third_party"). */
const char *policy_reason_name(enum policy_reason r);

enum policy_verdict {
	POLICY_KEPT,		/* deliver res.kept (maybe trimmed) */
	POLICY_UNJUDGED,	/* the primary key cannot be verified with:
				 * only the limits that need no
				 * cryptography applied; deliver res.kept,
				 * and say so (res.why) */
	POLICY_BLOCKED,		/* blocklisted: res.kept holds only the
				 * primary key and its valid revocations
				 * (empty if none) */
	POLICY_EMPTY,		/* nothing valid (or, for a delta, nothing
				 * new) is left: deliver nothing */
	POLICY_TOO_LARGE,	/* the kept key is over max_key_size:
				 * refuse (quarantine); res.kept is empty,
				 * res.kept_size says how large it was */
};

/* policy_verdict_name - "kept", "unjudged", "blocked", "empty",
 * "too_large". */
const char *policy_verdict_name(enum policy_verdict v);

struct policy_result {
	enum policy_verdict verdict;
	struct buf kept;		/* the kept packets, verbatim, key order
					 * (components with their signatures);
					 * owned: policy_result_free */
	size_t kept_size;		/* bytes of the kept key (also when
					 * TOO_LARGE) */
	/* Every packet of the judged key is counted exactly once: kept
	 * (output), stored (a delta's packet the stored key already has,
	 * not output) or dropped[reason]. */
	size_t kept_packets;
	size_t stored_packets;
	size_t dropped[POLICY_NREASONS];
	int hard_revoked;		/* a valid hard key revocation */
	int needs_stored;		/* judged alone, a component with no
					 * self-signature at all was dropped:
					 * a delta; judge again with the
					 * stored key (see above) */
	unsigned verified;		/* signature verifications made */
	unsigned cache_hits;		/* answered by the sigcache */
	unsigned char fpr[PGP_FPR_MAX];	/* the primary key's fingerprint */
	size_t fpr_len;
	char why[200];			/* UNJUDGED, BLOCKED, EMPTY, TOO_LARGE:
					 * why, one line */
};

/* policy_judge - judge one key (key[0..len): one transferable public
 * key, primary key packet first), or a delta against stored[0..
 * stored_len) (NULL: none; else the key database's copy of the same
 * primary key).  res is overwritten (not freed first) and must be freed
 * with policy_result_free whatever happens.  -1 with PB_EDATA only when
 * the input is not one key (broken framing, no primary key packet first,
 * a second primary key) or stored is not the same key; a bad key is not
 * an error, it is a verdict. */
int policy_judge(const struct policy *p, const unsigned char *key,
		 size_t len, const unsigned char *stored, size_t stored_len,
		 struct policy_result *res, struct pb_err *err);

void policy_result_free(struct policy_result *res);

/* policy_result_log - append "kept:N,stored:N,third_party:N,..." (kept
 * always, stored and every reason only when not zero) to out: the value
 * of the log line's policy= field. */
void policy_result_log(const struct policy_result *res, struct buf *out);

/* policy_result_json - append the JSON "policy" object:
 * {"verdict":"kept","kept":N,"stored":N,"dropped":{"third_party":N,...},
 *  "hard_revoked":false,"why":null}; dropped lists the non-zero
 * reasons. */
void policy_result_json(const struct policy_result *res, struct buf *out);

#endif
