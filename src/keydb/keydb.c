/*
 * keydb.c - the key database schemes (see keydb.h): the one place that
 * knows "gnupg:DIR", "sks:BASEDIR" and "hkp://HOST[:PORT][/PATH]"
 * ("http://" is taken as a synonym).  The configuration checks a keydb
 * value here, so that a bad one is refused when the file is read, with
 * its line, and not at the first delivery.  Directories must be
 * absolute: the filter runs in whatever directory the MTA chose.
 * Opening only parses; each backend touches files or the network in
 * put(), so a keyserver that is down never keeps a command from starting.
 */
#include "keydb/keydb.h"

#include <string.h>

static const struct scheme {
	const char *prefix;
	int dir_arg;		/* the rest is an absolute directory, else the
				 * whole value goes to init (a URL) */
	int merges;		/* see keydb_merges */
	int (*init)(const char *arg, struct keydb **db_r, struct pb_err *err);
} schemes[] = {
	{ "gnupg:", 1, 0, keydb_gnupg_init },
	{ "sks:", 1, 1, keydb_sks_init },
	{ "hkp://", 0, 1, keydb_hkp_init },
	{ "http://", 0, 1, keydb_hkp_init },
};

static const struct scheme *
find(const char *spec)
{
	for (size_t i = 0; spec && i < sizeof schemes / sizeof schemes[0]; i++)
		if (strncmp(spec, schemes[i].prefix, strlen(schemes[i].prefix)) == 0)
			return &schemes[i];
	return NULL;
}

/* open_spec - keydb_open, with errors that do not repeat spec. */
static int
open_spec(const char *spec, struct keydb **db_r, struct pb_err *err)
{
	const struct scheme *s = find(spec);
	const char *arg;

	*db_r = NULL;
	if (spec == NULL || *spec == '\0')
		return pb_err_set(err, PB_ECONFIG, "empty value");
	if (!s)
		return pb_err_set(err, PB_ECONFIG, "expected gnupg:DIR, "
				  "sks:BASEDIR or hkp://HOST:PORT");
	if (!s->dir_arg)
		return s->init(spec, db_r, err);
	arg = spec + strlen(s->prefix);
	if (arg[0] != '/')
		return pb_err_set(err, PB_ECONFIG, "%s needs an absolute "
				  "directory", s->prefix);
	return s->init(arg, db_r, err);
}

int
keydb_open(const char *spec, struct keydb **db_r, struct pb_err *err)
{
	if (open_spec(spec, db_r, err) != 0)
		return pb_err_prefix(err, "keydb %s: ", spec ? spec : "");
	return 0;
}

int
keydb_check(const char *spec, struct pb_err *err)
{
	struct keydb *db;

	if (open_spec(spec, &db, err) != 0)
		return -1;
	db->close(db);
	return 0;
}

int
keydb_merges(const char *spec)
{
	const struct scheme *s = find(spec);

	return s && s->merges;
}
