/*
 * keydb.h - the key database interface (after onak's struct onak_dbctx).
 *
 * pksbridge never stores keys itself: it hands them to the operator's key
 * database.  Each backend is a table of function pointers filled by its
 * init function, chosen by the keydb config value:
 *
 *   gnupg:DIR        import into that GnuPG home with GPGME
 *   sks:BASEDIR      drop a message into BASEDIR/messages for SKS's db
 *                    server (SKS merges it with newkey=false, so it is not
 *                    mailsynced back out)
 *   hkp://HOST:PORT  POST /pks/add to any HKP keyserver (SKS included)
 *
 * and each answers the searches of the mail commands (lookup): HKP's
 * /pks/lookup for hkp:// and for sks: (at the HKP address in that SKS's
 * sksconf), a GPGME key listing for gnupg:.
 */
#ifndef PB_KEYDB_H
#define PB_KEYDB_H

#include <stddef.h>

#include "openpgp/pgp.h"
#include "util/err.h"

/* A search, as the mail commands ask it (mail/mailcmd.h checked it). */
enum keydb_search {
	KEYDB_SEARCH_KEYID,	/* "0x" + 8 or 16 hex digits */
	KEYDB_SEARCH_FPR,	/* "0x" + 40 or 64 hex digits */
	KEYDB_SEARCH_TEXT,	/* words of a user ID, matched as the
				 * database's own search does it */
};

enum keydb_want {
	KEYDB_WANT_INDEX,	/* fingerprints and user IDs (INDEX) */
	KEYDB_WANT_VINDEX,	/* the same, verbose where the database
				 * says more (VERBOSE INDEX) */
	KEYDB_WANT_KEYS,	/* the keys themselves (GET, LAST) */
};

struct keydb_query {
	enum keydb_search kind;
	const char *search;	/* "0x" + upper-case hex, or 1..256 bytes of
				 * UTF-8 text without control characters */
	enum keydb_want want;
	size_t max;		/* more matches than this are counted, not
				 * returned (max_reply_keys) */
	size_t max_key_size;	/* a bigger key is left out (max_key_size) */
};

/* One matching key, as an index shows it. */
struct keydb_match {
	char fpr[2 * PGP_FPR_MAX + 1];	/* upper-case hex; a database that
					 * lists only key IDs gives those */
	unsigned algo, bits;		/* 0: not known */
	int64_t created, expires;	/* Unix seconds; 0: not known/never */
	unsigned flags;			/* KEYDB_REVOKED | ... */
	char **uids;			/* as the database has them (not yet
					 * made safe for display) */
	size_t nuids;
};

#define KEYDB_REVOKED 1u
#define KEYDB_EXPIRED 2u
#define KEYDB_DISABLED 4u

/* What a lookup found.  No match is nmatched 0, not an error. */
struct keydb_answer {
	size_t nmatched;	/* keys that match (too_many: unknown) */
	int too_many;		/* the database would not list them all */
	int unsupported;	/* it cannot do this search at all */
	char why[200];		/* for too_many and unsupported: its words */
	struct keydb_match *matches;	/* INDEX, VINDEX: up to max */
	size_t nmatches;
	struct pgp_keylist keys;	/* KEYS: every match, when nmatched
					 * <= max; else none */
};

void keydb_answer_free(struct keydb_answer *a);

/* For the backends: building an answer. */

/* keydb_answer_add_match - a->nmatched counted up; the match appended to
 * a->matches (and returned) while there are fewer than max, else NULL. */
struct keydb_match *keydb_answer_add_match(struct keydb_answer *a,
					   const char *fpr, size_t max);
/* keydb_match_add_uid - a copy of uid[0..len) appended to m. */
void keydb_match_add_uid(struct keydb_match *m, const char *uid, size_t len);
/* keydb_answer_take_keys - the keys in binary[0..len) (one or more
 * transferable public keys, as the database exported them) become
 * a->keys and a->nmatched; over q->max they are counted and dropped.
 * Secret key material and keys over q->max_key_size are never kept. */
void keydb_answer_take_keys(struct keydb_answer *a, const struct keydb_query *q,
			    const unsigned char *binary, size_t len);
/* keydb_answer_take_armor - the same for every public key armor block in
 * text[0..len). */
void keydb_answer_take_armor(struct keydb_answer *a,
			     const struct keydb_query *q, const char *text,
			     size_t len);

/* What a backend does with the keys put() hands it (struct keydb.does),
 * so that nothing outside keydb/ needs to read the keydb value. */
#define KEYDB_MERGES 1u		/* merges their packets into the key it
				 * holds (sks:, hkp://): a PKS delta, whose
				 * packets lack their self-signatures, is
				 * worth delivering.  A GnuPG keyring is not
				 * one: gpg drops user IDs and subkeys
				 * without a self-signature. */
#define KEYDB_REPORTS_REFUSALS 2u /* put() returns once the keys are in,
				 * and fails when the database refuses one
				 * (hkp://, gnupg:); without it (sks:) put()
				 * only hands them to a spool that the
				 * database merges later, about ten seconds
				 * on, and no refusal is ever reported */

struct keydb {
	/* name - the backend spec, for logs ("hkp://127.0.0.1:11371"). */
	const char *name;

	/* does - KEYDB_MERGES | KEYDB_REPORTS_REFUSALS, as this backend
	 * does them. */
	unsigned does;

	/* put - store keys[0..n) (each a whole transferable public key).
	 * qid names the queue entry for logs and file names.  timeout_ms
	 * bounds the whole call (0 or less: no bound).  Returns 0 once the
	 * database has the keys durably (or has accepted them for merging,
	 * as SKS's spool does); -1 with PB_ETEMP when trying again later may
	 * work (database down, timeout, HTTP 5xx), PB_EPERM when it will not
	 * (HTTP 4xx, a key the database refuses for its content). */
	int (*put)(struct keydb *db, const char *qid, const struct pgp_key *keys,
		   size_t n, int timeout_ms, struct pb_err *err);

	/* lookup - answer q into *a (zeroed first; free it with
	 * keydb_answer_free, also after a failure).  timeout_ms bounds the
	 * call.  -1 with PB_ETEMP when asking again later may work (down,
	 * timeout, a server error); a search the database cannot do is no
	 * failure but a->unsupported. */
	int (*lookup)(struct keydb *db, const struct keydb_query *q,
		      struct keydb_answer *a, int timeout_ms, struct pb_err *err);

	/* prepare - load what lookups need (libraries) without touching the
	 * database, so that a process forked afterwards finds it loaded;
	 * NULL when there is nothing to load.  -1 if it cannot be loaded. */
	int (*prepare)(struct keydb *db, struct pb_err *err);

	/* close - release everything; db is invalid afterwards. */
	void (*close)(struct keydb *db);

	void *priv;
};

/* keydb_open - the backend named by spec.  Cheap: no connection is made
 * and no file is touched until put().  Release with db->close(db). */
int keydb_open(const char *spec, struct keydb **db_r, struct pb_err *err);

/* keydb_check - 0 if spec names a backend keydb_open accepts, else -1
 * with err saying what is wrong (for the configuration's checks). */
int keydb_check(const char *spec, struct pb_err *err);

/* Backend constructors, called by keydb_open. */
int keydb_gnupg_init(const char *home, struct keydb **db_r, struct pb_err *err);
int keydb_sks_init(const char *basedir, struct keydb **db_r, struct pb_err *err);
int keydb_hkp_init(const char *url, struct keydb **db_r, struct pb_err *err);

#endif
