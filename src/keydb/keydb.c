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
#include "openpgp/armor.h"
#include "util/xalloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct scheme {
	const char *prefix;
	int dir_arg;		/* the rest is an absolute directory, else the
				 * whole value goes to init (a URL) */
	int (*init)(const char *arg, struct keydb **db_r, struct pb_err *err);
} schemes[] = {
	{ "gnupg:", 1, keydb_gnupg_init },
	{ "sks:", 1, keydb_sks_init },
	{ "hkp://", 0, keydb_hkp_init },
	{ "http://", 0, keydb_hkp_init },
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

void
keydb_answer_free(struct keydb_answer *a)
{
	for (size_t i = 0; i < a->nmatches; i++) {
		for (size_t u = 0; u < a->matches[i].nuids; u++)
			free(a->matches[i].uids[u]);
		free(a->matches[i].uids);
	}
	free(a->matches);
	pgp_keylist_free(&a->keys);
	memset(a, 0, sizeof *a);
}

struct keydb_match *
keydb_answer_add_match(struct keydb_answer *a, const char *fpr, size_t max)
{
	struct keydb_match *m;

	a->nmatched++;
	if (a->nmatches >= max)
		return NULL;
	a->matches = xreallocarray(a->matches, a->nmatches + 1,
				   sizeof *a->matches);
	m = &a->matches[a->nmatches++];
	memset(m, 0, sizeof *m);
	snprintf(m->fpr, sizeof m->fpr, "%s", fpr);
	return m;
}

void
keydb_match_add_uid(struct keydb_match *m, const char *uid, size_t len)
{
	m->uids = xreallocarray(m->uids, m->nuids + 1, sizeof *m->uids);
	m->uids[m->nuids++] = xstrndup(uid, len);
}

/* Keys split per call: enough for max_reply_keys (at most 1000) and a
 * count beyond it, without letting a hostile answer fill memory. */
#define TAKE_MAX_KEYS 5000

void
keydb_answer_take_keys(struct keydb_answer *a, const struct keydb_query *q,
		       const unsigned char *binary, size_t len)
{
	struct pgp_limits lim = { q->max_key_size, TAKE_MAX_KEYS };

	pgp_split_keys(binary, len, &lim, &a->keys);
	a->nmatched = a->keys.nkeys;
	if (a->nmatched > q->max) {
		/* Counted, not sent: the reply asks for a narrower search. */
		pgp_keylist_free(&a->keys);
	}
}

struct take_ctx {
	struct keydb_answer *a;
	const struct keydb_query *q;
	struct buf all;
};

static int
take_block(void *ctx, const struct armor_block *blk)
{
	struct take_ctx *c = ctx;

	if (blk->kind == ARMOR_PUBLIC_KEY && blk->ok)
		buf_append(&c->all, blk->data, blk->len);
	return 0;
}

void
keydb_answer_take_armor(struct keydb_answer *a, const struct keydb_query *q,
			const char *text, size_t len)
{
	struct take_ctx c = { a, q, BUF_INIT };

	armor_scan(text, len, len, take_block, &c);
	keydb_answer_take_keys(a, q, c.all.data, c.all.len);
	buf_free(&c.all);
}
