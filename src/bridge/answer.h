/*
 * answer.h - what the reply to a mail command says, asked of the key
 * database (and, for LAST, of the dedup index) when the reply is sent.
 *
 *   HELP [LANG]   the help text: pksbridge-help.LANG.txt, else
 *                 pksbridge-help.txt, in the configuration file's
 *                 directory (read at every reply, so an edit needs no
 *                 restart; at most 64 KB), else the built-in text
 *   GET           the matching keys, each named by its full fingerprint
 *                 in the text (a short key ID can match several keys:
 *                 all are sent, and the text says so), then the keys
 *   INDEX         the matching keys, one block each: algorithm, size,
 *                 long key ID, dates, fingerprint, primary user ID;
 *                 VERBOSE INDEX every user ID
 *   LAST <days>   the keys this gateway saw change in that many days, as
 *                 far back as its dedup index remembers (dedup_ttl), and
 *                 the text says which window it answered
 *   ADD           what became of each key (the lines of the request)
 *   anything else why it is not a command, and to send HELP
 *
 * More matches than max_reply_keys are counted and not sent: the text
 * asks for a narrower search.  The text is UTF-8 with LF line ends and
 * may hold what the key database says (user IDs): replymail.h makes it
 * safe.  The keys are those the database returned for the search,
 * trimmed by the key policy (a blocked key, or one with nothing valid
 * left, is neither sent nor listed), never more than max_reply_keys.
 *
 * answer.c is the only place that writes a reply's words: one row per
 * command in its table of answers.
 */
#ifndef PB_ANSWER_H
#define PB_ANSWER_H

#include <stdint.h>

#include "bridge/gate.h"
#include "bridge/mailreq.h"
#include "config/config.h"
#include "keydb/keydb.h"
#include "openpgp/pgp.h"
#include "spool/spool.h"
#include "util/buf.h"
#include "util/err.h"

#define ANSWER_HELP_MAX (64u << 10)

struct answer {
	struct buf text;
	struct pgp_keylist keys;	/* to send (GET, LAST); may be empty */
};

/* answer_compose - the answer to mr as of now, asking db (and sp for
 * LAST) within timeout_ms, with the keys and index entries it returns
 * through the key policy gate (gate.h; NULL: none, for tests of the
 * words alone); qid (or NULL) names the reply in the policy's log lines.  0 with *a filled (free with answer_free);
 * -1 with PB_ETEMP when the key database cannot answer now (the reply
 * is then tried again later, and asks again). */
int answer_compose(const struct config *cfg, struct keydb *db,
		   const struct gate *gate, const char *qid, struct spool *sp, const struct mailreq *mr, int64_t now,
		   int timeout_ms, struct answer *a, struct pb_err *err);

void answer_free(struct answer *a);

/* answer_add_lines - an ADD's report as it stands in mr (its facts, in
 * words), each line after prefix (queue show prints them too). */
void answer_add_lines(const struct config *cfg, const struct mailreq *mr,
		      const char *prefix, struct buf *out);

/* answer_needs_db - the answer to c asks the key database: the caller
 * opens it (the others are answered with db NULL). */
int answer_needs_db(const struct mailcmd *c);

/* answer_help_path - the help file for lang ("" for the default) into
 * out: in the directory of cfg->path (of the built-in configuration
 * path when there is no file). */
void answer_help_path(const struct config *cfg, const char *lang, char *out,
		      size_t len);

#endif
