/*
 * qfixture - test tool: fill a spool with queue entries exactly as
 * described, for golden tests of the queue CLI (any state, peer, age,
 * error), without going through ingest or a runner.
 *
 *   qfixture SPOOL_DIR < SPEC
 *
 * SPEC has one entry per line, '|'-separated fields ('-' = none/0):
 *
 *   dir|state|origin|peer|created|updated|attempts|next|lease|size|error|msgid|keys|payload
 *
 * dir inbound|outbound|reply (an outbound reply to a mail command),
 * state by name, origin pks|local, times in Unix
 * seconds, keys as FPR[=uid][;FPR[=uid]...], payload raw text ("\n" for
 * a newline).  Blank lines and lines starting with '#' are skipped.
 * Prints the id of each entry created, one per line, in order.
 */
#include "spool/queue.h"
#include "spool/spool.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *
field(char **p)
{
	char *s = *p, *bar;

	if (!s)
		return NULL;
	bar = strchr(s, '|');
	if (bar) {
		*bar = '\0';
		*p = bar + 1;
	} else {
		*p = NULL;
	}
	return s;
}

static const char *
opt(const char *s)
{
	return s && strcmp(s, "-") != 0 ? s : NULL;
}

static long long
num(const char *s)
{
	return opt(s) ? strtoll(s, NULL, 10) : 0;
}

struct ins {
	struct q_entry *e;
	const char *payload;
	size_t len;
};

static int
insert_fn(struct spool *sp, DB_TXN *txn, void *vctx, struct pb_err *err)
{
	struct ins *c = vctx;

	return queue_insert(sp, txn, c->e, c->payload, c->len, err);
}

int
main(int argc, char **argv)
{
	struct spool *sp;
	struct pb_err err;
	char line[8192];
	int lineno = 0;

	if (argc != 2) {
		fprintf(stderr, "usage: qfixture SPOOL_DIR < SPEC\n");
		return 64;
	}
	if (spool_open(argv[1], &sp, &err) != 0) {
		fprintf(stderr, "qfixture: %s\n", err.msg);
		return 1;
	}
	while (fgets(line, sizeof line, stdin)) {
		char *p = line, *f[14], *k, upd[32];
		struct q_entry e;
		struct ins c;
		char *payload = NULL;
		int i;

		lineno++;
		line[strcspn(line, "\n")] = '\0';
		if (line[0] == '\0' || line[0] == '#')
			continue;
		for (i = 0; i < 14; i++)
			f[i] = field(&p);
		if (!f[13]) {
			fprintf(stderr, "qfixture: line %d: want 14 fields\n", lineno);
			return 1;
		}
		memset(&e, 0, sizeof e);
		e.dir = strcmp(f[0], "inbound") == 0 ? Q_INBOUND : Q_OUTBOUND;
		e.kind = strcmp(f[0], "reply") == 0 ? Q_KIND_REPLY : Q_KIND_SYNC;
		if (q_state_from_name(f[1], &e.state) != 0) {
			fprintf(stderr, "qfixture: line %d: state %s\n", lineno, f[1]);
			return 1;
		}
		e.held_from = QS_DEFERRED;
		e.origin = strcmp(f[2], "local") == 0 ? Q_ORIGIN_LOCAL : Q_ORIGIN_PKS;
		e.peer = opt(f[3]) ? strdup(f[3]) : NULL;
		e.created = num(f[4]);
		e.attempts = (uint32_t)num(f[6]);
		e.next_attempt = num(f[7]);
		e.lease_until = num(f[8]);
		/* pid 1 lives as long as the machine: a lease that is live
		 * (queue list marks it '*') for as long as the test runs. */
		e.lease_pid = e.lease_until ? 1 : 0;
		e.size = (uint64_t)num(f[9]);
		e.last_error = opt(f[10]) ? strdup(f[10]) : NULL;
		e.message_id = opt(f[11]) ? strdup(f[11]) : NULL;
		for (k = opt(f[12]) ? strtok(f[12], ";") : NULL; k;
		     k = strtok(NULL, ";")) {
			char *eq = strchr(k, '=');

			if (eq)
				*eq++ = '\0';
			q_entry_add_key(&e, k, eq);
		}
		if (opt(f[13])) {
			char *s, *d;

			payload = strdup(f[13]);
			for (s = d = payload; *s; s++) {
				if (s[0] == '\\' && s[1] == 'n') {
					*d++ = '\n';
					s++;
				} else {
					*d++ = *s;
				}
			}
			*d = '\0';
			e.payload_kind = Q_PAYLOAD_RAW;
		}
		/* queue_insert stamps "updated" with spool_now(). */
		snprintf(upd, sizeof upd, "%lld", num(f[5]) ? num(f[5]) : e.created);
		setenv("PKSBRIDGE_NOW", upd, 1);
		c.e = &e;
		c.payload = payload;
		c.len = payload ? strlen(payload) : 0;
		if (spool_txn(sp, SPOOL_NOSYNC, insert_fn, &c, &err) != 0) {
			fprintf(stderr, "qfixture: line %d: %s\n", lineno, err.msg);
			return 1;
		}
		printf("%s\n", e.id);
		free(payload);
		q_entry_free(&e);
	}
	spool_checkpoint(sp, 1);
	spool_close(sp);
	return 0;
}
