/*
 * keydb.c - choose the key database backend from the keydb config value
 * (see keydb.h): "gnupg:DIR", "sks:BASEDIR" or "hkp://HOST[:PORT][/PATH]"
 * ("http://" is taken as a synonym, as config.c does).  Directories must
 * be absolute: the filter runs in whatever directory the MTA chose.
 * Opening only parses; each backend touches files or the network in
 * put(), so a keyserver that is down never keeps a command from starting.
 */
#include "keydb/keydb.h"

#include <string.h>

int
keydb_open(const char *spec, struct keydb **db_r, struct pb_err *err)
{
	*db_r = NULL;
	if (spec == NULL || *spec == '\0')
		return pb_err_set(err, PB_ECONFIG, "keydb: empty value");
	if (strncmp(spec, "gnupg:", 6) == 0) {
		if (spec[6] != '/')
			return pb_err_set(err, PB_ECONFIG,
					  "keydb %s: gnupg: needs an absolute directory",
					  spec);
		return keydb_gnupg_init(spec + 6, db_r, err);
	}
	if (strncmp(spec, "sks:", 4) == 0) {
		if (spec[4] != '/')
			return pb_err_set(err, PB_ECONFIG,
					  "keydb %s: sks: needs an absolute directory",
					  spec);
		return keydb_sks_init(spec + 4, db_r, err);
	}
	if (strncmp(spec, "hkp://", 6) == 0 || strncmp(spec, "http://", 7) == 0)
		return keydb_hkp_init(spec, db_r, err);
	return pb_err_set(err, PB_ECONFIG,
			  "keydb %s: expected gnupg:DIR, sks:BASEDIR or hkp://HOST:PORT",
			  spec);
}

int
keydb_merges(const char *spec)
{
	return spec != NULL && (strncmp(spec, "sks:", 4) == 0 ||
				strncmp(spec, "hkp://", 6) == 0 ||
				strncmp(spec, "http://", 7) == 0);
}
