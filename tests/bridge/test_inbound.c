/*
 * test_inbound.c - the fate of one inbound mail: which entries, which
 * states, which keys, which reasons.  Real fixture mails, a real spool.
 */
#include "bridge/inbound.h"
#include "bridge/mailreq.h"
#include "lib/unit.h"
#include "mail/extract.h"
#include "openpgp/pgp.h"
#include "spool/queue.h"
#include "spool/spool.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define ALICE "FE144C003EC2F056976C38BA3268C6A75E3A732B"
#define BOB "CB5E676296A30F057AC88C6E45398AB92CB795F3"
#define CAROL "A76F4AAEA3C2F24D7DF35167900AE6306CA91734"
#define DAVE "CFA46AC155E6016A3AEE722199F839DC72D2E7C2"

static struct spool *
fresh_spool(const char *name, struct config *cfg)
{
	static char path[512];
	struct spool *sp = NULL;
	struct pb_err err;

	snprintf(path, sizeof path, "%s/%s", unit_tmpdir(), name);
	mkdir(path, 0700);
	config_defaults(cfg);
	free(cfg->from_addr_bare);
	cfg->from_addr_bare = strdup("pgp-public-keys@bridge.test");
	if (spool_open(path, &sp, &err) != 0)
		unit_fail(__FILE__, __LINE__, "spool_open: %s", err.msg);
	return sp;
}

static int
accept_file(struct spool *sp, const struct config *cfg, const char *name,
	    enum inbound_origin origin, struct inbound_result *res)
{
	struct inbound_opts o = { origin, "sender@example.org", 0, 0 };
	struct pb_err err;
	size_t len;
	char *mail = unit_read_file(unit_data_path(name), &len);
	int r;

	if (!mail) {
		unit_fail(__FILE__, __LINE__, "cannot read %s", name);
		return -1;
	}
	o.total_size = len;
	r = inbound_accept(sp, cfg, mail, len, &o, res, &err);
	if (r != 0)
		unit_fail(__FILE__, __LINE__, "inbound_accept %s: %s", name, err.msg);
	free(mail);
	return r;
}

/* accept_request - inbound_accept of an in-memory mail, $SENDER sender. */
static int
accept_request(struct spool *sp, const struct config *cfg, const char *text,
	    const char *sender, struct inbound_result *res)
{
	struct inbound_opts o = { INBOUND_ORIGIN_AUTO, sender, strlen(text), 0 };
	struct pb_err err;
	int r = inbound_accept(sp, cfg, text, strlen(text), &o, res, &err);

	if (r != 0)
		unit_fail(__FILE__, __LINE__, "inbound_accept: %s", err.msg);
	return r;
}

static int
entry_has_key(const struct q_entry *e, const char *fpr)
{
	for (size_t i = 0; i < e->nkeys; i++)
		if (strcmp(e->keys[i].fpr, fpr) == 0)
			return 1;
	return 0;
}

/* body_lines_in - 1 if any base64 body line (40 characters or more, no
 * blank, no colon) of the file rel appears in text. */
static int
body_lines_in(const char *text, const char *rel)
{
	size_t len;
	char *f = unit_read_file(unit_data_path(rel), &len), *line, *save = NULL;
	int found = 0;

	if (!f)
		return 1;
	for (line = strtok_r(f, "\r\n", &save); line && !found;
	     line = strtok_r(NULL, "\r\n", &save))
		if (strlen(line) >= 40 && !strpbrk(line, " :") &&
		    strstr(text, line))
			found = 1;
	free(f);
	return found;
}

/* accept_text - inbound_accept of a mail in memory; total_size as given. */
static int
accept_text(struct spool *sp, const struct config *cfg, const char *mail,
	    size_t total, struct inbound_result *res)
{
	struct inbound_opts o = { INBOUND_ORIGIN_AUTO, NULL, total, 0 };
	struct pb_err err;
	size_t len = strlen(mail);
	int r = inbound_accept(sp, cfg, mail,
			       len < cfg->max_message_size ? len :
			       (size_t)cfg->max_message_size, &o, res, &err);

	if (r != 0)
		unit_fail(__FILE__, __LINE__, "inbound_accept: %s", err.msg);
	return r;
}

/* A secret key under a PUBLIC KEY BLOCK label with a broken CRC: the
 * block cannot be decoded, so it cannot be checked, so its body is not
 * kept in quarantine (it used to be, verbatim). */
static void
test_secret_in_broken_public_block(void)
{
	struct config cfg;
	struct spool *sp = fresh_spool("secretbroken", &cfg);
	struct inbound_result r;
	struct buf mail = BUF_INIT, payload = BUF_INIT;
	struct pb_err err;
	size_t len;
	char *asc = unit_read_file(unit_data_path("keys/dave-secret.asc"), &len);
	char *line, *save = NULL;

	CHECK(sp != NULL && asc != NULL);
	buf_puts(&mail, "From: a@b.example\nSubject: incremental\n"
		 "Message-ID: <secretbroken@x.example>\n\n");
	for (line = strtok_r(asc, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		if (strstr(line, "BEGIN PGP PRIVATE KEY BLOCK"))
			line = "-----BEGIN PGP PUBLIC KEY BLOCK-----";
		else if (strstr(line, "END PGP PRIVATE KEY BLOCK"))
			line = "-----END PGP PUBLIC KEY BLOCK-----";
		else if (line[0] == '=' && strlen(line) == 5)
			line = strcmp(line, "=AAAA") ? "=AAAA" : "=BBBB";
		buf_printf(&mail, "%s\n", line);
	}
	free(asc);
	CHECK(accept_text(sp, &cfg, buf_str(&mail), mail.len, &r) == 0);
	CHECK_INT(r.state, QS_QUARANTINED);
	CHECK(strstr(r.reason, "CRC-24") != NULL);
	CHECK_OK(queue_get_payload(sp, NULL, r.id, &payload, &err), &err);
	CHECK(strstr(buf_str(&payload), "not kept") != NULL);
	CHECK(!body_lines_in(buf_str(&payload), "keys/dave-secret.asc"));
	buf_free(&mail);
	buf_free(&payload);
	spool_close(sp);
	config_free(&cfg);
}

/* A mail over max_message_size keeps its header section only: its body
 * was never parsed, and may hold a secret key (it used to be kept, the
 * first 64 KB of it). */
static void
test_too_large_keeps_headers_only(void)
{
	struct config cfg;
	struct spool *sp = fresh_spool("largesecret", &cfg);
	struct inbound_result r;
	struct buf mail = BUF_INIT, payload = BUF_INIT;
	struct pb_err err;
	size_t len;
	char *asc = unit_read_file(unit_data_path("keys/dave-secret.asc"), &len);

	CHECK(sp != NULL && asc != NULL);
	cfg.max_message_size = 4096;
	buf_puts(&mail, "From: a@b.example\nSubject: incremental\n"
		 "Message-ID: <largesecret@x.example>\n\n");
	buf_puts(&mail, asc);
	for (int i = 0; i < 200; i++)
		buf_puts(&mail, "padding padding padding padding padding\n");
	free(asc);
	CHECK(accept_text(sp, &cfg, buf_str(&mail), mail.len, &r) == 0);
	CHECK_INT(r.state, QS_QUARANTINED);
	CHECK(strstr(r.reason, "exceeds max_message_size") != NULL);
	CHECK_OK(queue_get_payload(sp, NULL, r.id, &payload, &err), &err);
	CHECK(strstr(buf_str(&payload), "Message-ID: <largesecret@x.example>") != NULL);
	CHECK(strstr(buf_str(&payload), "body is not kept") != NULL);
	CHECK(strstr(buf_str(&payload), "PRIVATE KEY") == NULL);
	CHECK(!body_lines_in(buf_str(&payload), "keys/dave-secret.asc"));
	buf_free(&mail);
	buf_free(&payload);
	spool_close(sp);
	config_free(&cfg);
}

static void
test_ready_then_nothing_new(void)
{
	struct config cfg;
	struct spool *sp = fresh_spool("ready", &cfg);
	struct inbound_result r;
	struct q_entry e;
	struct pb_err err;

	CHECK(sp != NULL);
	CHECK(accept_file(sp, &cfg, "mails/01-sks-mailsync.eml",
			  INBOUND_ORIGIN_AUTO, &r) == 0);
	CHECK_INT(r.state, QS_READY);
	CHECK_INT(r.origin, Q_ORIGIN_PKS);
	CHECK_INT(r.nkeys, 1);
	CHECK_INT(r.nnew, 1);
	CHECK_STR(r.quarantine_id, "");
	CHECK_OK(queue_get(sp, NULL, r.id, 0, &e, &err), &err);
	CHECK_INT(e.dir, Q_INBOUND);
	CHECK_INT(e.payload_kind, Q_PAYLOAD_KEYS);
	CHECK_INT(e.nkeys, 1);
	CHECK_STR(e.sender, "sender@example.org");
	CHECK(e.payload_len > 100);
	q_entry_free(&e);

	/* SKS's mail has no Message-ID: the packets make it a duplicate. */
	CHECK(accept_file(sp, &cfg, "mails/01-sks-mailsync.eml",
			  INBOUND_ORIGIN_AUTO, &r) == 0);
	CHECK_INT(r.state, QS_DUPLICATE);
	CHECK(strstr(r.reason, "nothing new") != NULL);
	CHECK_OK(queue_get(sp, NULL, r.id, 0, &e, &err), &err);
	CHECK_INT(e.state, QS_DUPLICATE);
	CHECK_INT(e.payload_kind, Q_PAYLOAD_NONE);
	q_entry_free(&e);
	spool_close(sp);
	config_free(&cfg);
}

static void
test_message_id_duplicate(void)
{
	struct config cfg;
	struct spool *sp = fresh_spool("msgid", &cfg);
	struct inbound_result r1, r2;

	CHECK(sp != NULL);
	CHECK(accept_file(sp, &cfg, "mails/02-pks-incremental.eml",
			  INBOUND_ORIGIN_AUTO, &r1) == 0);
	CHECK_INT(r1.state, QS_READY);
	CHECK(accept_file(sp, &cfg, "mails/02-pks-incremental.eml",
			  INBOUND_ORIGIN_AUTO, &r2) == 0);
	CHECK_INT(r2.state, QS_DUPLICATE);
	CHECK(strstr(r2.reason, "Message-ID") != NULL);
	CHECK(strstr(r2.reason, r1.id) != NULL);
	spool_close(sp);
	config_free(&cfg);
}

static void
test_loop(void)
{
	struct config cfg;
	struct spool *sp = fresh_spool("loop", &cfg);
	struct inbound_result r;

	CHECK(sp != NULL);
	/* The fixture's second X-KeyServer-Sent is "Name <Addr>" in mixed
	 * case: the comparison must see through both. */
	free(cfg.from_addr_bare);
	cfg.from_addr_bare = strdup("pgp-public-keys@keys.peer.example");
	CHECK(accept_file(sp, &cfg, "mails/02-pks-incremental.eml",
			  INBOUND_ORIGIN_AUTO, &r) == 0);
	CHECK_INT(r.state, QS_LOOP);
	CHECK(strstr(r.reason, "pgp-public-keys@keys.peer.example") != NULL);
	spool_close(sp);
	config_free(&cfg);
}

/* A mail without a key and without a command is quarantined; with a
 * command ("help") it is a request, whose reply entry stands for it. */
static void
test_no_key(void)
{
	static const char nocmd[] = "From: someone@example.net\n"
		"Subject: Hello\nMessage-ID: <nokey.2@example.net>\n\nHi\n";
	static const char nosubj[] = "From: someone@example.net\n"
		"Message-ID: <nokey.3@example.net>\n\nHi\n";
	struct config cfg;
	struct spool *sp = fresh_spool("nokey", &cfg);
	struct inbound_result r;
	struct q_entry e;
	struct pb_err err;

	CHECK(sp != NULL);
	CHECK(accept_file(sp, &cfg, "mails/13-no-key.eml", INBOUND_ORIGIN_AUTO,
			  &r) == 0);
	CHECK_INT(r.state, QS_READY);
	CHECK_STR(r.id, r.reply_id);
	CHECK_OK(queue_get(sp, NULL, r.id, 0, &e, &err), &err);
	CHECK_INT(e.kind, Q_KIND_REPLY);
	CHECK_STR(e.peer, "sender@example.org");
	q_entry_free(&e);
	/* "Hello" is a request too: the reply says it is not supported. */
	CHECK(accept_request(sp, &cfg, nocmd, "sender@example.org", &r) == 0);
	CHECK_INT(r.state, QS_READY);
	CHECK(r.reply_id[0] != '\0');
	/* No Subject: no request, quarantined as ever. */
	CHECK(accept_request(sp, &cfg, nosubj, "sender@example.org", &r) == 0);
	CHECK_INT(r.state, QS_QUARANTINED);
	CHECK(strstr(r.reason, "no public key block") != NULL);
	CHECK(r.reply_id[0] == '\0');
	spool_close(sp);
	config_free(&cfg);
}

/* mail - a request mail: Subject, a Return-Path, extra header lines,
 * a Message-ID of its own, and the body. */
static void
mail(struct buf *b, const char *return_path, const char *subject,
     const char *extra, const char *body_file)
{
	static unsigned seq;
	size_t len;
	char *body = body_file ? unit_read_file(unit_data_path(body_file), &len)
			       : NULL;

	buf_reset(b);
	if (return_path)
		buf_printf(b, "Return-Path: %s\n", return_path);
	buf_printf(b, "From: someone@client.test\nSubject: %s\n"
		   "Message-ID: <req.%u.%ld@client.test>\n%s\n%s", subject,
		   ++seq, (long)getpid(), extra ? extra : "",
		   body ? body : "GnuPG 1.4.23 email keyserver request\n");
	free(body);
}

/* reply_of - the reply entry of r (its state, reason, payload kind). */
static int
reply_of(struct spool *sp, const struct inbound_result *r, struct q_entry *e)
{
	struct pb_err err;

	if (!r->reply_id[0])
		return -1;
	return queue_get(sp, NULL, r->reply_id, 0, e, &err);
}

/* Requests at ingest: a GET is one reply entry and nothing else; the
 * no-reply rules and mail_commands: no suppress it with the reason; a
 * resend is a duplicate; INCREMENTAL is no request; keys under a
 * Subject that is no command are key mail; the rate limit. */
static void
test_requests(void)
{
	struct config cfg;
	struct spool *sp = fresh_spool("requests", &cfg);
	struct inbound_result r, r2;
	struct buf m = BUF_INIT;
	struct q_entry e;
	int ready = 0, limited = 0;

	CHECK(sp != NULL);
	mail(&m, "<alice@client.test>", "GET 0xF7923026", NULL, NULL);
	CHECK(accept_request(sp, &cfg, buf_str(&m), NULL, &r) == 0);
	CHECK_INT(r.state, QS_READY);
	CHECK_STR(r.id, r.reply_id);
	CHECK(reply_of(sp, &r, &e) == 0);
	CHECK_INT(e.dir, Q_OUTBOUND);
	CHECK_INT(e.kind, Q_KIND_REPLY);
	CHECK_INT(e.payload_kind, Q_PAYLOAD_REQUEST);
	CHECK_STR(e.peer, "alice@client.test");
	q_entry_free(&e);
	/* The same mail again: a duplicate of the reply entry. */
	CHECK(accept_request(sp, &cfg, buf_str(&m), NULL, &r2) == 0);
	CHECK_INT(r2.state, QS_DUPLICATE);
	CHECK(strstr(r2.reason, r.reply_id) != NULL);
	CHECK(r2.reply_id[0] == '\0');

	/* A null sender: recorded, not answered. */
	mail(&m, "<>", "GET 0xF7923026", NULL, NULL);
	CHECK(accept_request(sp, &cfg, buf_str(&m), "alice@client.test", &r) == 0);
	CHECK_INT(r.state, QS_SUPPRESSED);
	CHECK(reply_of(sp, &r, &e) == 0);
	CHECK(e.peer == NULL);
	CHECK(strstr(e.last_error, "no reply: the envelope sender is null") != NULL);
	q_entry_free(&e);
	/* Auto-Submitted, and the address kept for the operator. */
	mail(&m, "<bob@client.test>", "GET alice", "Auto-Submitted: auto-replied\n",
	     NULL);
	CHECK(accept_request(sp, &cfg, buf_str(&m), NULL, &r) == 0);
	CHECK_INT(r.state, QS_SUPPRESSED);
	CHECK(reply_of(sp, &r, &e) == 0);
	CHECK_STR(e.peer, "bob@client.test");
	CHECK(strstr(e.last_error, "Auto-Submitted: auto-replied") != NULL);
	q_entry_free(&e);
	/* INCREMENTAL without keys: no request, quarantined as ever. */
	mail(&m, "<peer@pks.test>", "incremental", NULL, NULL);
	CHECK(accept_request(sp, &cfg, buf_str(&m), NULL, &r) == 0);
	CHECK_INT(r.state, QS_QUARANTINED);
	CHECK(r.reply_id[0] == '\0');
	/* Keys under a Subject that is no command: key mail. */
	mail(&m, "<carol@client.test>", "my new key", NULL, "keys/carol.asc");
	CHECK(accept_request(sp, &cfg, buf_str(&m), NULL, &r) == 0);
	CHECK_INT(r.state, QS_READY);
	CHECK(r.reply_id[0] != '\0' && strcmp(r.id, r.reply_id) != 0);
	CHECK_INT(r.reply_state, QS_SUPPRESSED);

	/* mail_commands: no. */
	cfg.mail_commands = 0;
	mail(&m, "<carol@client.test>", "HELP", NULL, NULL);
	CHECK(accept_request(sp, &cfg, buf_str(&m), NULL, &r) == 0);
	CHECK_INT(r.state, QS_SUPPRESSED);
	CHECK(reply_of(sp, &r, &e) == 0);
	CHECK(strstr(e.last_error, "mail_commands is off") != NULL);
	q_entry_free(&e);
	cfg.mail_commands = 1;

	/* reply_limit 2/1h: the third GET from dave is refused; erin is
	 * still answered. */
	cfg.reply_limit = (struct ratelimit){ 2, 3600 };
	for (int i = 0; i < 3; i++) {
		mail(&m, "<dave@client.test>", "GET dave", NULL, NULL);
		CHECK(accept_request(sp, &cfg, buf_str(&m), NULL, &r) == 0);
		ready += r.reply_state == QS_READY;
		if (r.reply_state == QS_SUPPRESSED) {
			CHECK(reply_of(sp, &r, &e) == 0);
			limited += strstr(e.last_error, "reply_limit 2/3600s for "
					  "<dave@client.test> reached") != NULL;
			q_entry_free(&e);
		}
	}
	CHECK_INT(ready, 2);
	CHECK_INT(limited, 1);
	mail(&m, "<erin@client.test>", "GET erin", NULL, NULL);
	CHECK(accept_request(sp, &cfg, buf_str(&m), NULL, &r) == 0);
	CHECK_INT(r.reply_state, QS_READY);
	buf_free(&m);
	spool_close(sp);
	config_free(&cfg);
}

/* ADD: with a new key, the reply entry is made now and waits for the
 * inbound entry (its parent, which names it as its child); with nothing
 * new or no key, the reply entry is ready now, its facts saying so. */
static void
test_add_requests(void)
{
	struct config cfg;
	struct spool *sp = fresh_spool("adds", &cfg);
	struct inbound_result r;
	struct buf m = BUF_INIT;
	struct q_entry e, rep;
	struct mailreq mr;
	struct buf payload = BUF_INIT;
	struct pb_err err;

	CHECK(sp != NULL);
	mail(&m, "<alice@client.test>", "ADD", NULL, "keys/alice.asc");
	CHECK(accept_request(sp, &cfg, buf_str(&m), NULL, &r) == 0);
	CHECK_INT(r.state, QS_READY);
	CHECK_STR(r.deliver_id, r.id);
	CHECK(r.reply_id[0] != '\0');
	CHECK_INT(r.reply_waits, 1);
	CHECK_OK(queue_get(sp, NULL, r.id, 0, &e, &err), &err);
	CHECK_INT(e.dir, Q_INBOUND);
	CHECK_STR(e.child, r.reply_id);
	q_entry_free(&e);
	CHECK(reply_of(sp, &r, &rep) == 0);
	CHECK_INT(rep.state, QS_READY);
	CHECK_INT(rep.waiting, 1);
	CHECK_STR(rep.parent, r.id);
	CHECK_STR(rep.peer, "alice@client.test");
	CHECK(!q_entry_due(&rep, spool_now() + 3600));
	CHECK_OK(queue_get_payload(sp, NULL, rep.id, &payload, &err), &err);
	CHECK_OK(mailreq_decode(payload.data, payload.len, &mr, &err), &err);
	CHECK_INT(mr.cmd.kind, MAILCMD_ADD);
	CHECK_INT(mr.nfacts, 0);
	mailreq_free(&mr);
	q_entry_free(&rep);
	/* Again: nothing new, answered now. */
	mail(&m, "<alice@client.test>", "ADD", NULL, "keys/alice.asc");
	CHECK(accept_request(sp, &cfg, buf_str(&m), NULL, &r) == 0);
	CHECK_INT(r.state, QS_DUPLICATE);
	CHECK_INT(r.reply_state, QS_READY);
	CHECK_INT(r.reply_waits, 0);
	CHECK_STR(r.deliver_id, "");
	CHECK(reply_of(sp, &r, &rep) == 0);
	CHECK_INT(rep.waiting, 0);
	buf_reset(&payload);
	CHECK_OK(queue_get_payload(sp, NULL, rep.id, &payload, &err), &err);
	CHECK_OK(mailreq_decode(payload.data, payload.len, &mr, &err), &err);
	CHECK_INT(mr.nfacts, 1);
	CHECK_INT(mr.facts[0].kind, MAILREQ_SEEN);
	CHECK_STR(mr.facts[0].fpr, ALICE);
	mailreq_free(&mr);
	q_entry_free(&rep);
	/* No key at all: quarantined as ever, and answered. */
	mail(&m, "<alice@client.test>", "ADD", NULL, NULL);
	CHECK(accept_request(sp, &cfg, buf_str(&m), NULL, &r) == 0);
	CHECK_INT(r.state, QS_QUARANTINED);
	CHECK_INT(r.reply_state, QS_READY);
	CHECK(reply_of(sp, &r, &rep) == 0);
	buf_reset(&payload);
	CHECK_OK(queue_get_payload(sp, NULL, rep.id, &payload, &err), &err);
	CHECK_OK(mailreq_decode(payload.data, payload.len, &mr, &err), &err);
	CHECK_INT(mr.nfacts, 1);
	CHECK_INT(mr.facts[0].kind, MAILREQ_REFUSED);
	CHECK(strstr(mr.facts[0].why, "no public key block found") != NULL);
	CHECK_STR(rep.parent, r.id);
	mailreq_free(&mr);
	q_entry_free(&rep);
	buf_free(&payload);
	buf_free(&m);
	spool_close(sp);
	config_free(&cfg);
}

static void
test_broken_crc_beside_good(void)
{
	struct config cfg;
	struct spool *sp = fresh_spool("crc", &cfg);
	struct inbound_result r;
	struct q_entry e, q;
	struct buf payload = BUF_INIT;
	struct pb_err err;

	CHECK(sp != NULL);
	CHECK(accept_file(sp, &cfg, "mails/14-broken-crc.eml",
			  INBOUND_ORIGIN_AUTO, &r) == 0);
	/* The good key goes through; the broken block is quarantined. */
	CHECK_INT(r.state, QS_READY);
	CHECK(r.quarantine_id[0] != '\0');
	CHECK_OK(queue_get(sp, NULL, r.id, 0, &e, &err), &err);
	CHECK(entry_has_key(&e, ALICE));
	CHECK(!entry_has_key(&e, BOB));
	CHECK_OK(queue_get(sp, NULL, r.quarantine_id, 0, &q, &err), &err);
	CHECK_INT(q.state, QS_QUARANTINED);
	CHECK_STR(q.parent, r.id);
	CHECK(strstr(q.last_error, "CRC-24") != NULL);
	CHECK_INT(q.payload_kind, Q_PAYLOAD_RAW);
	CHECK_OK(queue_get_payload(sp, NULL, q.id, &payload, &err), &err);
	CHECK(strstr(buf_str(&payload), "BEGIN PGP PUBLIC KEY BLOCK") != NULL);
	CHECK(strstr(buf_str(&payload), "=AAAA") != NULL);
	/* ... but not its base64 body, which nobody can check for secret
	 * key material (see test_secret_in_broken_public_block). */
	CHECK(strstr(buf_str(&payload), "not kept") != NULL);
	CHECK(!body_lines_in(buf_str(&payload), "mails/14-broken-crc.eml"));
	q_entry_free(&e);
	q_entry_free(&q);
	buf_free(&payload);
	spool_close(sp);
	config_free(&cfg);
}

static void
test_secret_key_never_stored(void)
{
	struct config cfg;
	struct spool *sp = fresh_spool("secret", &cfg);
	struct inbound_result r;
	struct q_entry e, q;
	struct buf p1 = BUF_INIT, p2 = BUF_INIT;
	struct pb_err err;

	CHECK(sp != NULL);
	CHECK(accept_file(sp, &cfg, "mails/15-private-key.eml",
			  INBOUND_ORIGIN_AUTO, &r) == 0);
	CHECK_INT(r.state, QS_READY);
	CHECK_OK(queue_get(sp, NULL, r.id, 0, &e, &err), &err);
	CHECK(entry_has_key(&e, DAVE));
	CHECK_INT(e.nkeys, 1);
	CHECK(r.quarantine_id[0] != '\0');
	CHECK_OK(queue_get(sp, NULL, r.quarantine_id, 0, &q, &err), &err);
	CHECK(strstr(q.last_error, "secret") != NULL);
	CHECK_OK(queue_get_payload(sp, NULL, r.id, &p1, &err), &err);
	CHECK_OK(queue_get_payload(sp, NULL, r.quarantine_id, &p2, &err), &err);
	/* No secret-key packet (tag 5 or 7) reaches the delivered payload,
	 * and nothing of the private block reaches the quarantine. */
	{
		const unsigned char *kp;
		size_t off = 0, klen, nk = 0;

		while (pgp_keyseq_next(p1.data, p1.len, &off, &kp, &klen) == 1) {
			struct pgp_key k;

			CHECK_OK(pgp_parse_key_blob(kp, klen, &k, &err), &err);
			for (size_t i = 0; i < k.npackets; i++)
				CHECK_MSG(k.tags[i] != PGP_TAG_SECRET_KEY &&
					  k.tags[i] != PGP_TAG_SECRET_SUBKEY,
					  "secret packet %zu in payload", i);
			pgp_key_free_contents(&k);
			nk++;
		}
		CHECK_INT(nk, 1);
	}
	CHECK(strstr(buf_str(&p2), "PRIVATE KEY") == NULL);
	q_entry_free(&e);
	q_entry_free(&q);
	buf_free(&p1);
	buf_free(&p2);
	spool_close(sp);
	config_free(&cfg);
}

static void
test_too_large(void)
{
	struct config cfg;
	struct spool *sp = fresh_spool("large", &cfg);
	struct inbound_result r;
	struct inbound_opts o = { INBOUND_ORIGIN_AUTO, NULL, 0, 0 };
	struct pb_err err;
	struct q_entry e;
	size_t len;
	char *mail = unit_read_file(unit_data_path("mails/02-pks-incremental.eml"),
				    &len);

	CHECK(sp != NULL && mail != NULL);
	cfg.max_message_size = 2048;
	o.total_size = 50u << 20;
	CHECK_OK(inbound_accept(sp, &cfg, mail, 2048, &o, &r, &err), &err);
	CHECK_INT(r.state, QS_QUARANTINED);
	CHECK(strstr(r.reason, "exceeds max_message_size") != NULL);
	CHECK_OK(queue_get(sp, NULL, r.id, 0, &e, &err), &err);
	CHECK_INT(e.size, 50u << 20);
	/* The Message-ID of a truncated mail is still recorded. */
	CHECK_STR(e.message_id, "20240101120000.AB12@keys.peer.example");
	q_entry_free(&e);
	free(mail);
	spool_close(sp);
	config_free(&cfg);
}

static void
test_origin(void)
{
	struct config cfg;
	struct spool *sp = fresh_spool("origin", &cfg);
	struct inbound_result r;

	CHECK(sp != NULL);
	CHECK(accept_file(sp, &cfg, "mails/12-add-user.eml", INBOUND_ORIGIN_AUTO,
			  &r) == 0);
	CHECK_INT(r.origin, Q_ORIGIN_LOCAL);
	CHECK(accept_file(sp, &cfg, "mails/05-base64-pgp-keys.eml",
			  INBOUND_ORIGIN_PKS, &r) == 0);
	CHECK_INT(r.origin, Q_ORIGIN_PKS);
	spool_close(sp);
	config_free(&cfg);
}

/* names_us - inbound_names_us on the headers of mail text m. */
static int
names_us(const char *m, const char *from_addr)
{
	struct extract x;
	int r;

	extract_headers(&x, m, strlen(m));
	r = inbound_names_us(&x.h, from_addr);
	extract_free(&x);
	return r;
}

/* Sync mail must come to from_addr: a peer that lists us under another
 * address mails our changes back (a pool whose gateways' from_addr is
 * not the pool's address).  Accepted as any mail, with the flag set. */
static void
test_misaddressed(void)
{
	struct config cfg;
	struct spool *sp = fresh_spool("misaddressed", &cfg);
	struct inbound_result r;

	CHECK(sp != NULL);
	/* To: pgp-public-keys@sks.example, X-KeyServer-Sent of a peer. */
	CHECK(accept_file(sp, &cfg, "mails/02-pks-incremental.eml",
			  INBOUND_ORIGIN_AUTO, &r) == 0);
	CHECK_INT(r.misaddressed, 1);
	CHECK_INT(r.state, QS_READY);
	/* SKS's mail To: pgp-public-keys@peer.example, for that peer. */
	free(cfg.from_addr_bare);
	cfg.from_addr_bare = strdup("pgp-public-keys@peer.example");
	CHECK(accept_file(sp, &cfg, "mails/01-sks-mailsync.eml",
			  INBOUND_ORIGIN_AUTO, &r) == 0);
	CHECK_INT(r.misaddressed, 0);
	CHECK_INT(r.state, QS_READY);
	/* A user's ADD is no sync mail, whatever its To. */
	free(cfg.from_addr_bare);
	cfg.from_addr_bare = strdup("pgp-public-keys@bridge.test");
	CHECK(accept_file(sp, &cfg, "mails/12-add-user.eml", INBOUND_ORIGIN_AUTO,
			  &r) == 0);
	CHECK_INT(r.misaddressed, 0);
	spool_close(sp);
	config_free(&cfg);

	CHECK_INT(names_us("To: pgp-public-keys@pool.test\n"
			   "X-KeyServer-Sent: pgp-public-keys@pks.test\n\nx\n",
			   "pgp-public-keys@pool.test"), 1);
	/* Any of To, Cc, in any case, as "Name <addr>". */
	CHECK_INT(names_us("To: other@peer.test, Keys <PGP-Public-Keys@Pool.TEST>\n"
			   "X-KeyServer-Sent: pgp-public-keys@pks.test\n\nx\n",
			   "pgp-public-keys@pool.test"), 1);
	CHECK_INT(names_us("To: other@peer.test\nCc: pgp-public-keys@pool.test\n"
			   "X-KeyServer-Sent: pgp-public-keys@pks.test\n\nx\n",
			   "pgp-public-keys@pool.test"), 1);
	CHECK_INT(names_us("To: pgp-public-keys@node-a.pool.test\n"
			   "X-KeyServer-Sent: pgp-public-keys@pks.test\n\nx\n",
			   "pgp-public-keys@pool.test"), 0);
	/* No X-KeyServer-Sent, or no recipient header: nothing to judge. */
	CHECK_INT(names_us("To: someone@else.test\n\nx\n",
			   "pgp-public-keys@pool.test"), 1);
	CHECK_INT(names_us("X-KeyServer-Sent: pgp-public-keys@pks.test\n\nx\n",
			   "pgp-public-keys@pool.test"), 1);
}

static void
test_new_signature_is_new(void)
{
	struct config cfg;
	struct spool *sp = fresh_spool("newsig", &cfg);
	struct inbound_result r;

	CHECK(sp != NULL);
	CHECK(accept_file(sp, &cfg, "keys/carol.asc", INBOUND_ORIGIN_PKS, &r) == 0);
	CHECK_INT(r.state, QS_READY);
	CHECK(accept_file(sp, &cfg, "keys/carol.asc", INBOUND_ORIGIN_PKS, &r) == 0);
	CHECK_INT(r.state, QS_DUPLICATE);
	/* One certification more is something new. */
	CHECK(accept_file(sp, &cfg, "keys/carol-signed.asc", INBOUND_ORIGIN_PKS,
			  &r) == 0);
	CHECK_INT(r.state, QS_READY);
	CHECK_INT(r.nnew, 1);
	spool_close(sp);
	config_free(&cfg);
}

/* Every fixture with a public key block gives at least one key, and
 * every fixture gets exactly one fate. */
static void
test_corpus(void)
{
	static const struct { const char *file; const char *fpr; } cases[] = {
		{ "mails/01-sks-mailsync.eml", NULL },
		{ "mails/03-mbox-from.eml", NULL },
		{ "mails/04-crlf.eml", NULL },
		{ "mails/05-base64-pgp-keys.eml", ALICE },
		{ "mails/06-qp-text.eml", BOB },
		{ "mails/07-multipart-mixed.eml", CAROL },
		{ "mails/08-nested-multipart.eml", NULL },
		{ "mails/09-forward-rfc822.eml", NULL },
		{ "mails/10-multipart-signed.eml", NULL },
		{ "mails/11-two-blocks.eml", BOB },
		{ "mails/16-octet-stream.eml", BOB },
		{ "mails/17-8bit.eml", NULL },
		{ "mails/18-mixed-eol.eml", NULL },
		{ "mails/19-digest.eml", NULL },
	};

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct config cfg;
		char name[32];
		struct spool *sp;
		struct inbound_result r;
		struct q_entry e;
		struct pb_err err;

		snprintf(name, sizeof name, "corpus%zu", i);
		sp = fresh_spool(name, &cfg);
		CHECK(sp != NULL);
		CHECK(accept_file(sp, &cfg, cases[i].file, INBOUND_ORIGIN_PKS, &r) == 0);
		CHECK_MSG(r.state == QS_READY && r.nkeys >= 1,
			  "%s: state %s, %zu keys (%s)", cases[i].file,
			  q_state_name(r.state), r.nkeys, r.reason);
		CHECK_OK(queue_get(sp, NULL, r.id, 0, &e, &err), &err);
		if (cases[i].fpr)
			CHECK_MSG(entry_has_key(&e, cases[i].fpr), "%s: no %s",
				  cases[i].file, cases[i].fpr);
		q_entry_free(&e);
		spool_close(sp);
		config_free(&cfg);
	}
}

int
main(int argc, char **argv)
{
	static const struct unit_test tests[] = {
		{ "ready, then nothing new", test_ready_then_nothing_new },
		{ "Message-ID duplicate", test_message_id_duplicate },
		{ "loop", test_loop },
		{ "no key", test_no_key },
		{ "requests: reply entries, no-reply rules, limits", test_requests },
		{ "ADD requests", test_add_requests },
		{ "broken CRC beside a good key", test_broken_crc_beside_good },
		{ "secret key never stored", test_secret_key_never_stored },
		{ "too large", test_too_large },
		{ "secret key in a broken public block never stored",
		  test_secret_in_broken_public_block },
		{ "too large keeps the header section only",
		  test_too_large_keeps_headers_only },
		{ "origin", test_origin },
		{ "sync mail not addressed to from_addr", test_misaddressed },
		{ "new signature is new", test_new_signature_is_new },
		{ "corpus", test_corpus },
		{ NULL, NULL },
	};

	return unit_run(argc, argv, "inbound", tests);
}
