/*
 * keycheck.h - key validation with GnuPG through GPGME.
 *
 * Before a key reaches the key database, GnuPG itself must be able to
 * parse it: a key it cannot parse is reported, never delivered.  Our own packet framing (pgp.h) is only framing;
 * this module asks gpg, once per batch of keys, which of them it accepts.
 * Secret material never gets here (pgp.h drops it).
 */
#ifndef PB_KEYCHECK_H
#define PB_KEYCHECK_H

#include <gpgme.h>
#include <stddef.h>

#include "openpgp/pgp.h"
#include "util/err.h"

struct keycheck;

/* A GPGME data object that hands gpg the keys one after the other, so a
 * large batch is never concatenated into one more copy in memory.  The
 * reader holds the position; it and the keys must outlive the object
 * (release with gpgme_data_release). */
struct keycheck_reader {
	const struct pgp_key *keys;
	const size_t *idx;	/* keys[idx[i]], or keys[i] when NULL */
	size_t n;
	size_t i;		/* current key */
	size_t off;		/* bytes of it already read */
};

gpgme_error_t keycheck_data_new(gpgme_data_t *dh, struct keycheck_reader *rd,
				const struct pgp_key *keys, const size_t *idx,
				size_t n);

/* keycheck_gpgme_init - initialise GPGME once per process, the cheap way:
 * without gpgconf (GPGME would otherwise run gpgconf three times and
 * gpgsm once to describe engines we never use: 4 of the 6 processes it
 * starts per ingest).  gpg is then found at its build-time path
 * (/usr/bin/gpg on Debian).  Used by the gnupg: backend too. */
int keycheck_gpgme_init(struct pb_err *err);

/* keycheck_mkhome - create the GnuPG home dir if it is missing: 0770
 * (plus the parent's setgid bit) when its parent directory is
 * group-writable, i.e. a spool shared by the MTA's pipe user, the runner
 * and operators (spool.h), else 0700.  *file_mode_r is the mode for files
 * we create in it: 0660 or 0600.  An existing dir is left as it is.  Used
 * by the gnupg: backend too. */
int keycheck_mkhome(const char *home, int *file_mode_r, struct pb_err *err);

/* keycheck_open - prepare a checker whose gpg uses scratch_home as its
 * home directory (created by keycheck_mkhome if missing; it is never
 * written to by the check itself).  Returns -1 with PB_EUNAVAIL if GPGME or gpg is missing.
 * Release with keycheck_close. */
int keycheck_open(const char *scratch_home, struct keycheck **kc_r,
		  struct pb_err *err);
void keycheck_close(struct keycheck *kc);

/* keycheck_keys - for each of keys[0..n), set accepted[i] to 1 if GnuPG
 * parsed it as a public key with the same primary fingerprint, else 0 and
 * reasons[i] (if reasons is not NULL) to a static short text.  Returns -1
 * only when gpg could not be run at all (the caller retries later), never
 * because a key was bad. */
int keycheck_keys(struct keycheck *kc, const struct pgp_key *keys, size_t n,
		  unsigned char *accepted, const char **reasons,
		  struct pb_err *err);

/* keycheck_unbound - true if reason (from keycheck_keys) says GnuPG parsed
 * the key, with its fingerprint, but found no valid self-signature or no
 * user ID bound by one.  That is what a PKS delta looks like: onak and
 * pksd send their peers only the packets a merge added (a key's primary
 * key packet with just a new certification, subkey or revocation, without
 * the self-signatures the receiver already has), and a key database that
 * merges packets into the key it holds (SKS) completes it. */
int keycheck_unbound(const char *reason);

#endif
