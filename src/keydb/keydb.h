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
 */
#ifndef PB_KEYDB_H
#define PB_KEYDB_H

#include <stddef.h>

#include "openpgp/pgp.h"
#include "util/err.h"

struct keydb {
	/* name - the backend spec, for logs ("hkp://127.0.0.1:11371"). */
	const char *name;

	/* put - store keys[0..n) (each a whole transferable public key).
	 * qid names the queue entry for logs and file names.  timeout_ms
	 * bounds the whole call (0 or less: no bound).  Returns 0 once the
	 * database has the keys durably (or has accepted them for merging,
	 * as SKS's spool does); -1 with PB_ETEMP when trying again later may
	 * work (database down, timeout, HTTP 5xx), PB_EPERM when it will not
	 * (HTTP 4xx, a key the database refuses for its content). */
	int (*put)(struct keydb *db, const char *qid, const struct pgp_key *keys,
		   size_t n, int timeout_ms, struct pb_err *err);

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

/* keydb_merges - true if the backend named by spec merges the packets it
 * is given into the key it already holds (sks:, hkp://), so that a PKS
 * delta (keycheck_unbound) is worth delivering.  A GnuPG keyring is not
 * one: gpg drops user IDs and subkeys without a self-signature. */
int keydb_merges(const char *spec);

/* Backend constructors, called by keydb_open. */
int keydb_gnupg_init(const char *home, struct keydb **db_r, struct pb_err *err);
int keydb_sks_init(const char *basedir, struct keydb **db_r, struct pb_err *err);
int keydb_hkp_init(const char *url, struct keydb **db_r, struct pb_err *err);

#endif
