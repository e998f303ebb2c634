/*
 * sendmail.c - "pksbridge sendmail": the outbound intake, a drop-in for
 * the sendmail that SKS's mailsync pipes its mail into (sendmail_cmd,
 * by default "sendmail -t -oi").
 *
 * It queues and returns: one durable outbound entry per recipient (the
 * arguments and, with -t, To/Cc/Bcc: SKS addresses each mail to the
 * peers of its own mailsync file, so that file stays the one list, and
 * mailsync_file is for ADD mails alone), and
 * never the network, because SKS calls it synchronously from its single
 * event loop.  The command line is read the way Postfix's sendmail reads
 * it: known-but-unused options and every -oX except -oi are ignored,
 * an unknown option letter or an unsupported -b mode exits 64 (as
 * Postfix and msmtp do); everything else exits 0 or 75 only.
 */
#include "bridge/handoff.h"
#include "bridge/outbound.h"
#include "cmd/commands.h"
#include "filter.h"
#include "plant.h"
#include "mail/extract.h"
#include "sendmail.h"
#include "spool/spool.h"
#include "util/log.h"
#include "util/xalloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sysexits.h>

#define GUARD_SECS 120
#define SPOOL_GUARD_SECS 60	/* after the mail is read; see ingest.c */

/* Postfix sendmail's option letters (sendmail/sendmail.c); a ':' marks
 * one taking an argument. */
static const char optstring[] = "A:B:C:F:GIL:N:O:R:UV:X:b:ce:f:h:imno:p:r:q:tvx";

static void
sendmail_usage(FILE *f)
{
	fprintf(f,
		"usage: pksbridge [-c FILE] sendmail [-t] [-i] [-oi] [-f ADDR] [RCPT...]\n"
		"\n"
		"Outbound intake for SKS's sendmail_cmd: read one mail on stdin and\n"
		"queue its keys for each recipient, a PKS peer (the arguments, and\n"
		"with -t the To/Cc/Bcc addresses; SKS names every peer of its\n"
		"mailsync file), then return at once; \"pksbridge run\" sends.\n"
		"Keys that only echo what came from PKS are suppressed.  Other\n"
		"sendmail options are accepted and ignored, as Postfix does.\n"
		"Exits 0 once queued, 75 if that failed, 64 for an unknown option.\n");
}

static int
takes_arg(int c)
{
	const char *p = strchr(optstring, c);

	return p && p[1] == ':';
}

int
sendmail_parse_args(int argc, char **argv, struct sm_opts *o,
		    struct pb_err *err)
{
	int i;

	memset(o, 0, sizeof *o);
	for (i = 1; i < argc; i++) {
		const char *a = argv[i];

		if (strcmp(a, "--help") == 0) {
			o->help = 1;
			return 0;
		}
		if (strcmp(a, "--") == 0) {
			i++;
			break;
		}
		if (a[0] != '-' || a[1] == '\0')
			break;
		for (const char *p = a + 1; *p; p++) {
			const char *val = NULL;
			int c = (unsigned char)*p;

			if (!strchr(optstring, c) || c == ':')
				return pb_err_set(err, PB_EUSAGE,
						  "illegal option -- %c", c);
			if (takes_arg(c)) {
				if (p[1]) {
					val = p + 1;
				} else if (i + 1 < argc) {
					val = argv[++i];
				} else {
					return pb_err_set(err, PB_EUSAGE,
							  "option requires an "
							  "argument -- %c", c);
				}
			}
			switch (c) {
			case 't':
				o->extract_to = 1;
				break;
			case 'i':
				o->ignore_dot = 1;
				break;
			case 'o':
				/* -oi: like -i; every other -oX is ignored. */
				if (strcmp(val, "i") == 0)
					o->ignore_dot = 1;
				break;
			case 'f':
			case 'r':
				o->sender = val;
				break;
			case 'b':
				if (strcmp(val, "m") != 0)
					return pb_err_set(err, PB_EUSAGE,
							  "unsupported mode -b%s "
							  "(only -bm)", val);
				break;
			case 'q':
				return pb_err_set(err, PB_EUSAGE, "-q: queue runs "
						  "are \"pksbridge run\"");
			case 'n':
				return pb_err_set(err, PB_EUSAGE, "-n option not "
						  "supported");
			default:
				break;	/* known, meaningless here */
			}
			if (val)
				break;	/* the rest of the word was the value */
		}
	}
	for (; i < argc; i++) {
		o->rcpts = xreallocarray(o->rcpts, o->nrcpts + 1, sizeof *o->rcpts);
		o->rcpts[o->nrcpts++] = argv[i];
	}
	return 0;
}

void
sendmail_cut_at_dot(struct buf *mail)
{
	const char *p = (const char *)mail->data, *end = p + mail->len;

	for (const char *line = p; line < end;) {
		const char *nl = memchr(line, '\n', (size_t)(end - line));
		size_t ll = nl ? (size_t)(nl - line) : (size_t)(end - line);

		if ((ll == 1 && line[0] == '.') ||
		    (ll == 2 && line[0] == '.' && line[1] == '\r')) {
			mail->len = (size_t)(line - p);
			mail->data[mail->len] = '\0';
			return;
		}
		line = nl ? nl + 1 : end;
	}
}

void
sendmail_add_peer(char ***peers, size_t *n, const char *raw)
{
	char *a = config_extract_addr(raw);

	if (!a)
		return;
	for (size_t i = 0; i < *n; i++) {
		if (strcasecmp((*peers)[i], a) == 0) {
			free(a);
			return;
		}
	}
	*peers = xreallocarray(*peers, *n + 1, sizeof **peers);
	(*peers)[(*n)++] = a;
}

struct intake {
	const struct config *cfg;
	const struct extract *x;
	char **peers;
	size_t npeers;
	const char *sender;
	uint64_t size;
	struct outbound_result res;
	char quarantine_id[QID_LEN + 1];
};

static int
intake_fn(struct spool *sp, DB_TXN *txn, void *vctx, struct pb_err *err)
{
	struct intake *in = vctx;
	int64_t now = spool_now();

	in->quarantine_id[0] = '\0';
	if (outbound_enqueue(sp, txn, in->cfg, in->x, NULL, in->peers,
			     in->npeers, in->sender, in->size, NULL, now,
			     &in->res, err) != 0)
		return -1;
	if (in->x->nreasons > 0) {
		/* What could not be used (no key, a broken block, a secret
		 * key) is recorded, never sent. */
		struct q_source src = {
			in->sender, in->x->h.message_id, in->size,
			in->res.first_id[0] ? in->res.first_id : NULL,
		};
		struct q_entry e;
		int r;

		q_entry_new_quarantine(&e, Q_OUTBOUND, Q_ORIGIN_LOCAL,
				       buf_str(&in->x->reasons), &src);
		e.payload_kind = in->x->raw.len ? Q_PAYLOAD_RAW : Q_PAYLOAD_NONE;
		r = queue_insert(sp, txn, &e, in->x->raw.data, in->x->raw.len, err);
		if (r == 0)
			memcpy(in->quarantine_id, e.id, sizeof e.id);
		q_entry_free(&e);
		return r;
	}
	return 0;
}

int
cmd_sendmail(const struct cmd_ctx *ctx, int argc, char **argv)
{
	struct sm_opts o;
	struct config cfg;
	struct pb_err err, cerr;
	struct buf mail = BUF_INIT;
	struct extract x;
	struct intake in;
	struct spool *sp = NULL;
	uint64_t total = 0;
	int cfg_ok, rc = FILTER_EXIT_TEMPFAIL;

	if (sendmail_parse_args(argc, argv, &o, &err) != 0) {
		/* As Postfix: a usage error, before reading anything. */
		log_stderr("sendmail: %s", err.msg);
		sendmail_usage(stderr);
		free(o.rcpts);
		return EX_USAGE;
	}
	if (o.help) {
		sendmail_usage(stdout);
		free(o.rcpts);
		return 0;
	}
	filter_begin("sendmail", GUARD_SECS);
	cfg_ok = cmd_load_config(ctx, &cfg, &cerr) == 0;
	if (cfg_ok)
		log_set_dest(cfg.log_dest);
	if (filter_read_stdin(cfg_ok ? (size_t)cfg.max_message_size + 1 : 0, &mail,
			      &total, &err) != 0) {
		rc = filter_tempfail(&err);
		goto out_nocfg;
	}
	filter_guard(SPOOL_GUARD_SECS);
	if (!cfg_ok) {
		rc = filter_tempfail(&cerr);
		goto out_nocfg;
	}
	if (!o.ignore_dot)
		sendmail_cut_at_dot(&mail);
	if (mail.len > cfg.max_message_size)
		mail.len = cfg.max_message_size;

	memset(&in, 0, sizeof in);
	extract_headers(&x, (const char *)buf_str(&mail), mail.len);
	extract_body(&x, &cfg, (const char *)buf_str(&mail), mail.len, total);
	buf_free(&mail);
	for (size_t i = 0; i < o.nrcpts; i++)
		sendmail_add_peer(&in.peers, &in.npeers, o.rcpts[i]);
	if (o.extract_to)
		for (size_t i = 0; i < x.h.n_recipients; i++)
			sendmail_add_peer(&in.peers, &in.npeers, x.h.recipients[i]);

	if (spool_open(cfg.spool_dir, &sp, &err) != 0) {
		rc = filter_tempfail(&err);
		goto out;
	}
	spool_set_leave(sp, filter_leave, NULL);
	in.cfg = &cfg;
	in.x = &x;
	in.sender = o.sender;
	in.size = total;
	if (spool_txn(sp, SPOOL_SYNC, intake_fn, &in, &err) != 0) {
		rc = filter_tempfail(&err);
		goto out;
	}
	filter_committed();
	log_info(in.res.first_id[0] ? in.res.first_id : NULL,
		 "from=<%s>, size=%llu, keys=%zu, peers=%zu, queued=%zu, "
		 "suppressed=%zu, echoes=%zu", o.sender ? o.sender : "",
		 (unsigned long long)total, x.keys.nkeys, in.npeers, in.res.nready,
		 in.res.nsuppressed, in.res.nechoes);
	outbound_log_queued(&in.res);
	for (size_t i = 0; i < in.res.nready; i++) {
		const char *id = in.res.queued[i].id;

		plant_loss(sp, &id, 1);
	}
	if (in.quarantine_id[0])
		log_notice(in.quarantine_id, "status=quarantined (%s)",
			   buf_str(&x.reasons));
	if (in.res.nready)
		handoff_wake(sp);
	rc = FILTER_EXIT_OK;
out:
	outbound_result_free(&in.res);
	extract_free(&x);
	for (size_t i = 0; i < in.npeers; i++)
		free(in.peers[i]);
	free(in.peers);
	if (sp)
		spool_close(sp);
out_nocfg:
	buf_free(&mail);
	config_free(&cfg);
	free(o.rcpts);
	return rc;
}
