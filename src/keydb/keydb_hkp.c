/*
 * keydb_hkp.c - the hkp://HOST:PORT key database: POST /pks/add to an HKP
 * keyserver (SKS, Hockeypuck, ...) with libcurl.
 *
 * The body is exactly "keytext=" and the percent-encoded armor block.
 * SKS reads it with Scanf "keytext=%s", which stops at the first blank,
 * and then percent-decodes: so every byte that is not a letter or digit is
 * encoded, newlines and "+" included.  SKS drops a request body over 5 MB
 * without an answer (curl sees the connection close), so keys go out in
 * batches whose body stays under 4 MB; a key too big for a body of its own
 * is refused here (PB_EPERM) instead of being retried for days.
 *
 * Status: 2xx is success, unless the page says "Add failed": SKS answers
 * 200 even when it refuses a key (see sks_refusal), and 500, not 4xx, for
 * a body it cannot decode; keys reach us armored by us and validated by
 * keycheck.c, so a 500 is treated as the server's trouble.  5xx, 408,
 * 429, connection failures and timeouts are PB_ETEMP; other 4xx are
 * PB_EPERM.
 *
 * timeout_ms bounds the whole put, all batches together (0: no bound).
 * No signals (CURLOPT_NOSIGNAL), no proxies from the environment (the key
 * database is ours, normally on this host), no redirects, http only.
 *
 * Lookups (the mail commands) are GET /pks/lookup with options=mr, the
 * machine-readable form of the HKP draft: op=get for the keys (one
 * request: the keys carry their fingerprints and user IDs, and a key ID
 * matches few keys), op=index or op=vindex for a listing.  What SKS
 * answers (measured, SKS 1.1.6): 200 with the keys or the listing; 404
 * for no match; 500 with "Too many responses" when more keys match than
 * its max_matches, without a count; 500 for a search it cannot parse
 * (any "0x..." but 8, 16 or 40 hex digits, so also a 64-digit
 * fingerprint).  A 500 for a 64-digit fingerprint is therefore "cannot
 * search that", any other 500 the server's trouble (PB_ETEMP), like a
 * timeout or a refused connection.  An answer is read up to
 * LOOKUP_GET_MAX (keys) or REPLY_MAX (listings); a longer one counts as
 * too many.
 *
 * libcurl is loaded with dlopen() on first use, not linked: it brings 31
 * shared libraries (LDAP, Kerberos, OpenSSL, ...) that every ingest would
 * otherwise map and relocate, about 3 MB of its resident size, although
 * only this backend uses them.  curl.h still gives the types.
 */
#include "keydb/keydb.h"
#include "util/clock.h"

#include <curl/curl.h>
#include <dlfcn.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "openpgp/armor.h"
#include "util/buf.h"
#include "util/log.h"
#include "util/xalloc.h"

#ifndef PB_VERSION
#define PB_VERSION "0"
#endif

#define HKP_BODY_MAX (4u << 20)		/* one POST body, bytes */
#define HKP_DEFAULT_PORT 11371
#define REPLY_MAX (1u << 20)		/* reply bytes kept and read */
#define LOOKUP_GET_MAX (16u << 20)	/* op=get answer bytes kept */

/* The part of libcurl this backend uses, resolved at run time. */
struct curl_api {
	void *dl;
	CURLcode (*global_init)(long);
	void (*global_cleanup)(void);
	CURL *(*easy_init)(void);
	void (*easy_reset)(CURL *);
	CURLcode (*easy_setopt)(CURL *, CURLoption, ...);
	CURLcode (*easy_perform)(CURL *);
	CURLcode (*easy_getinfo)(CURL *, CURLINFO, ...);
	const char *(*easy_strerror)(CURLcode);
	void (*easy_cleanup)(CURL *);
	struct curl_slist *(*slist_append)(struct curl_slist *, const char *);
	void (*slist_free_all)(struct curl_slist *);
};

struct hkp_db {
	struct keydb db;
	char *post_url;		/* http://HOST:PORT[/PATH]/pks/add */
	char *lookup_url;	/* http://HOST:PORT[/PATH]/pks/lookup */
	CURL *lookup_handle;	/* kept between lookups: its connection too */
	int curl_inited;
	struct curl_api api;
};

/* curl_load - dlopen libcurl (Debian's GnuTLS flavour first, as the
 * build uses its headers) and resolve what we call. */
static int
curl_load(struct curl_api *a, struct pb_err *err)
{
	static const char *const names[] = {
		"libcurl-gnutls.so.4", "libcurl.so.4",
	};
	struct { const char *sym; void **slot; } syms[] = {
		{ "curl_global_init", (void **)&a->global_init },
		{ "curl_global_cleanup", (void **)&a->global_cleanup },
		{ "curl_easy_init", (void **)&a->easy_init },
		{ "curl_easy_reset", (void **)&a->easy_reset },
		{ "curl_easy_setopt", (void **)&a->easy_setopt },
		{ "curl_easy_perform", (void **)&a->easy_perform },
		{ "curl_easy_getinfo", (void **)&a->easy_getinfo },
		{ "curl_easy_strerror", (void **)&a->easy_strerror },
		{ "curl_easy_cleanup", (void **)&a->easy_cleanup },
		{ "curl_slist_append", (void **)&a->slist_append },
		{ "curl_slist_free_all", (void **)&a->slist_free_all },
	};

	if (a->dl)
		return 0;
	for (size_t i = 0; i < sizeof names / sizeof names[0] && !a->dl; i++)
		a->dl = dlopen(names[i], RTLD_NOW | RTLD_LOCAL);
	if (!a->dl)
		return pb_err_set(err, PB_EUNAVAIL, "cannot load libcurl "
				  "(package libcurl3-gnutls): %s", dlerror());
	for (size_t i = 0; i < sizeof syms / sizeof syms[0]; i++) {
		*syms[i].slot = dlsym(a->dl, syms[i].sym);
		if (!*syms[i].slot) {
			dlclose(a->dl);
			a->dl = NULL;
			return pb_err_set(err, PB_EUNAVAIL, "libcurl lacks %s",
					  syms[i].sym);
		}
	}
	return 0;
}

struct reply {
	struct buf text;	/* the first max bytes */
	size_t max;		/* 0: REPLY_MAX */
	int truncated;		/* there was more */
};

static size_t
reply_cb(char *data, size_t size, size_t nmemb, void *userp)
{
	struct reply *r = userp;
	size_t n = size * nmemb;
	size_t max = r->max ? r->max : REPLY_MAX;
	size_t room = max - r->text.len;

	if (n > room)
		r->truncated = 1;
	buf_append(&r->text, data, n < room ? n : room);
	return n;	/* keep reading; we only keep the start */
}

/* reply_summary - the reply as one short line of text: tags dropped,
 * blanks collapsed, non-printables replaced.  out has outlen bytes. */
static void
reply_summary(const struct reply *r, char *out, size_t outlen)
{
	size_t o = 0;
	int in_tag = 0, space = 1;

	for (size_t i = 0; i < r->text.len && o + 1 < outlen; i++) {
		unsigned char c = r->text.data[i];

		if (c == '<') {
			in_tag = 1;
		} else if (c == '>' && in_tag) {
			in_tag = 0;
			c = ' ';
		}
		if (in_tag)
			continue;
		if (c <= ' ') {
			if (!space)
				out[o++] = ' ';
			space = 1;
			continue;
		}
		out[o++] = c < 0x7f ? (char)c : '?';
		space = 0;
	}
	while (o > 0 && out[o - 1] == ' ')
		o--;
	out[o] = '\0';
}

/* sks_refusal - SKS answers 200 even when it refuses keys, writing one
 * "Add failed..." line per refused key (dbserver.ml).  Returns PB_EPERM
 * if a key was refused for its content (malformed, a bare revocation),
 * PB_ETEMP if for another reason (an exception inside SKS: it could be
 * its database), PB_OK if nothing was refused.  "identical key already
 * exists" is what we want: the key is there. */
static enum pb_status
sks_refusal(const struct reply *r)
{
	static const char tag[] = "Add failed";
	const char *s = r->text.len ? (const char *)r->text.data : "";
	enum pb_status st = PB_OK;

	for (const char *p = s; (p = strstr(p, tag)); p += sizeof tag - 1) {
		const char *rest = p + sizeof tag - 1;

		if (strncmp(rest, ": identical key already exists", 30) == 0)
			continue;
		if (strncmp(rest, ": Malformed Key", 15) == 0 ||
		    strncmp(rest, ": This is a stand-alone", 23) == 0)
			return PB_EPERM;
		st = PB_ETEMP;
	}
	return st;
}

/* build_body - "keytext=" and the armored keys, every non-alphanumeric
 * byte percent-encoded. */
static void
build_body(const struct pgp_key *keys, size_t n, struct buf *body)
{
	static const char hex[] = "0123456789ABCDEF";
	struct buf armor = BUF_INIT;
	struct armor_writer w;

	armor_writer_begin(&w, armor_out_buf, &armor);
	for (size_t i = 0; i < n; i++)
		armor_writer_add(&w, keys[i].data, keys[i].len);
	armor_writer_end(&w);
	buf_reset(body);
	buf_reserve(body, 8 + armor.len + armor.len / 8);
	buf_puts(body, "keytext=");
	for (size_t i = 0; i < armor.len; i++) {
		unsigned char c = armor.data[i];

		if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		    (c >= '0' && c <= '9')) {
			buf_putc(body, c);
		} else {
			buf_putc(body, '%');
			buf_putc(body, hex[c >> 4]);
			buf_putc(body, hex[c & 15]);
		}
	}
	buf_free(&armor);
}

/* estimate - body bytes for raw key bytes: base64 is 4/3, about 1/32 of
 * its characters ("+", "/") and one newline per 64 become three bytes
 * each: 1.48 per raw byte; 1.5 plus the armor lines errs on the big side,
 * so a batch rarely has to shrink after the exact build. */
static size_t
estimate(size_t raw)
{
	return raw / 2 * 3 + 3 + 300;
}

/* post - one request.  Returns 0 on 2xx. */
static int
post(struct hkp_db *h, CURL *c, const struct buf *body, int64_t deadline,
     size_t nkeys, struct pb_err *err)
{
	struct curl_slist *hdrs = NULL;
	struct reply reply = { BUF_INIT, 0, 0 };
	enum pb_status refused;
	int ret;
	char errbuf[CURL_ERROR_SIZE] = "", summary[200];
	long timeout = 0, code = 0;
	CURLcode rc;

	if (deadline != INT64_MAX) {
		int64_t left = deadline - clock_ms();

		if (left <= 0)
			return pb_err_set(err, PB_ETEMP, "%s: timed out before "
					  "sending %zu keys", h->db.name, nkeys);
		timeout = left > LONG_MAX ? LONG_MAX : (long)left;
	}
	h->api.easy_reset(c);
	/* "Expect: 100-continue" would cost SKS a 1 s wait per big body. */
	hdrs = h->api.slist_append(hdrs, "Expect:");
	hdrs = h->api.slist_append(hdrs, "Content-Type: application/x-www-form-urlencoded");
	if (!hdrs)
		return pb_err_set(err, PB_EOS, "curl_slist_append failed");
	h->api.easy_setopt(c, CURLOPT_URL, h->post_url);
	h->api.easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	h->api.easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http");
	h->api.easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
	h->api.easy_setopt(c, CURLOPT_PROXY, "");
	h->api.easy_setopt(c, CURLOPT_USERAGENT, "pksbridge/" PB_VERSION);
	h->api.easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
	h->api.easy_setopt(c, CURLOPT_POST, 1L);
	h->api.easy_setopt(c, CURLOPT_POSTFIELDS, (const char *)body->data);
	h->api.easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body->len);
	h->api.easy_setopt(c, CURLOPT_TIMEOUT_MS, timeout);
	h->api.easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, timeout);
	h->api.easy_setopt(c, CURLOPT_WRITEFUNCTION, reply_cb);
	h->api.easy_setopt(c, CURLOPT_WRITEDATA, &reply);
	h->api.easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
	rc = h->api.easy_perform(c);
	h->api.easy_setopt(c, CURLOPT_HTTPHEADER, NULL);
	h->api.easy_setopt(c, CURLOPT_ERRORBUFFER, NULL);
	h->api.slist_free_all(hdrs);
	if (rc != CURLE_OK) {
		buf_free(&reply.text);
		return pb_err_set(err, PB_ETEMP, "%s: %s", h->post_url,
				  errbuf[0] ? errbuf : h->api.easy_strerror(rc));
	}
	h->api.easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
	reply_summary(&reply, summary, sizeof summary);
	if (code >= 200 && code < 300) {
		refused = sks_refusal(&reply);
		ret = refused == PB_OK ? 0 :
		      pb_err_set(err, refused, "%s: HTTP %ld but keys refused "
				 "(of %zu): %s", h->post_url, code, nkeys, summary);
	} else {
		ret = pb_err_set(err, (code >= 400 && code < 500 && code != 408 &&
				       code != 429) ? PB_EPERM : PB_ETEMP,
				 "%s: HTTP %ld for %zu keys: %s", h->post_url, code,
				 nkeys, summary[0] ? summary : "(no text)");
	}
	buf_free(&reply.text);
	return ret;
}

/* curl_ready - libcurl loaded and initialised (once per handle). */
static int
curl_ready(struct hkp_db *h, struct pb_err *err)
{
	if (h->curl_inited)
		return 0;
	/* Process-wide and reference-counted: balanced in hkp_close.  Here,
	 * not in init, so that opening touches nothing. */
	if (curl_load(&h->api, err) != 0)
		return -1;
	if (h->api.global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		return pb_err_set(err, PB_EUNAVAIL, "curl_global_init failed");
	h->curl_inited = 1;
	return 0;
}

static int
hkp_put(struct keydb *db, const char *qid, const struct pgp_key *keys,
	size_t n, int timeout_ms, struct pb_err *err)
{
	struct hkp_db *h = db->priv;
	int64_t deadline = timeout_ms > 0 ? clock_ms() + timeout_ms : INT64_MAX;
	struct buf body = BUF_INIT, toobig = BUF_INIT;
	size_t ntoobig = 0, nsent = 0, nposts = 0;
	CURL *c;
	int ret = -1;

	if (n == 0)
		return 0;
	if (curl_ready(h, err) != 0)
		return -1;
	c = h->api.easy_init();
	if (!c)
		return pb_err_set(err, PB_EOS, "curl_easy_init failed");
	for (size_t i = 0; i < n;) {
		size_t m = 1, est = estimate(keys[i].len);

		while (i + m < n && est + estimate(keys[i + m].len) <= HKP_BODY_MAX)
			est += estimate(keys[i + m++].len);
		for (;;) {
			build_body(keys + i, m, &body);
			if (body.len <= HKP_BODY_MAX || m == 1)
				break;
			m = m > 2 ? m * 3 / 4 : 1;
		}
		if (body.len > HKP_BODY_MAX) {
			if (ntoobig < 3)
				buf_printf(&toobig, "%s%s", ntoobig ? ", " : "",
					   keys[i].fpr_hex);
			ntoobig++;
			i++;
			continue;
		}
		if (post(h, c, &body, deadline, m, err) != 0)
			goto out;
		nposts++;
		nsent += m;
		i += m;
	}
	if (ntoobig) {
		pb_err_set(err, PB_EPERM, "%s: %zu keys too big for one %u-byte "
			   "HKP request (%s%s); %zu others sent", db->name,
			   ntoobig, HKP_BODY_MAX, buf_str(&toobig),
			   ntoobig > 3 ? ", ..." : "", nsent);
		goto out;
	}
	log_info(qid, "keydb=%s, keys=%zu, requests=%zu", db->name, n, nposts);
	ret = 0;
out:
	h->api.easy_cleanup(c);
	buf_free(&body);
	buf_free(&toobig);
	return ret;
}

/* ---- lookups ---------------------------------------------------------- */

/* url_escape - s percent-encoded for a query string (all but
 * alphanumerics and "-._~", as RFC 3986 leaves unreserved). */
static void
url_escape(const char *s, struct buf *out)
{
	static const char hex[] = "0123456789ABCDEF";

	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
		    (*p >= '0' && *p <= '9') || strchr("-._~", *p)) {
			buf_putc(out, *p);
		} else {
			buf_putc(out, '%');
			buf_putc(out, hex[*p >> 4]);
			buf_putc(out, hex[*p & 15]);
		}
	}
}

static int
hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = (char)(c | 32);
	return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* unescape - the HKP machine-readable escaping (%XX) undone, into a
 * fresh string of at most n bytes (caller frees). */
static char *
unescape(const char *s, size_t n)
{
	char *out = xmalloc(n + 1);
	size_t o = 0;

	for (size_t i = 0; i < n; i++) {
		if (s[i] == '%' && i + 2 < n && hexval(s[i + 1]) >= 0 &&
		    hexval(s[i + 2]) >= 0) {
			out[o++] = (char)(hexval(s[i + 1]) << 4 | hexval(s[i + 2]));
			i += 2;
			continue;
		}
		out[o++] = s[i];
	}
	out[o] = '\0';
	return out;
}

/* field - the idx-th ':'-separated field of line[0..n), 0-based. */
static const char *
field(const char *line, size_t n, int idx, size_t *len_r)
{
	const char *p = line, *end = line + n;

	for (int i = 0; i < idx; i++) {
		const char *c = memchr(p, ':', (size_t)(end - p));

		if (!c) {
			*len_r = 0;
			return NULL;
		}
		p = c + 1;
	}
	const char *c = memchr(p, ':', (size_t)(end - p));

	*len_r = c ? (size_t)(c - p) : (size_t)(end - p);
	return p;
}

static int64_t
field_num(const char *line, size_t n, int idx)
{
	size_t len;
	const char *f = field(line, n, idx, &len);
	int64_t v = 0;

	for (size_t i = 0; f && i < len && i < 18; i++) {
		if (f[i] < '0' || f[i] > '9')
			return 0;
		v = v * 10 + (f[i] - '0');
	}
	return v;
}

/* parse_index - an options=mr listing: "pub:FPR:algo:bits:created:
 * expires:flags" per key, then its "uid:ESCAPED:created:expires:flags"
 * lines.  Other lines (info:, blank) are skipped. */
static void
parse_index(const struct buf *text, size_t max, struct keydb_answer *a)
{
	const char *p = text->len ? (const char *)text->data : "";
	const char *end = p + text->len;
	struct keydb_match *cur = NULL;

	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p), flen;
		const char *f;

		if (n > 0 && p[n - 1] == '\r')
			n--;
		if (n > 4 && memcmp(p, "pub:", 4) == 0) {
			char fpr[2 * PGP_FPR_MAX + 1];
			size_t o = 0;

			f = field(p, n, 1, &flen);
			for (size_t i = 0; f && i < flen && o + 1 < sizeof fpr; i++)
				if ((f[i] >= '0' && f[i] <= '9') ||
				    ((f[i] | 32) >= 'a' && (f[i] | 32) <= 'f'))
					fpr[o++] = f[i] >= 'a' ? (char)(f[i] - 32) : f[i];
			fpr[o] = '\0';
			cur = keydb_answer_add_match(a, fpr, max);
			if (cur) {
				cur->algo = (unsigned)field_num(p, n, 2);
				cur->bits = (unsigned)field_num(p, n, 3);
				cur->created = field_num(p, n, 4);
				cur->expires = field_num(p, n, 5);
				f = field(p, n, 6, &flen);
				for (size_t i = 0; f && i < flen; i++)
					cur->flags |= f[i] == 'r' ? KEYDB_REVOKED :
						      f[i] == 'e' ? KEYDB_EXPIRED :
						      f[i] == 'd' ? KEYDB_DISABLED : 0;
			}
		} else if (n > 4 && memcmp(p, "uid:", 4) == 0 && cur &&
			   cur->nuids < PGP_MAX_PROBLEMS) {
			f = field(p, n, 1, &flen);
			if (f && flen > 0) {
				char *u = unescape(f, flen);

				keydb_match_add_uid(cur, u, strlen(u));
				free(u);
			}
		}
		p = nl ? nl + 1 : end;
	}
}

/* get_url - one GET of url into r; the HTTP status in *code_r. */
static int
get_url(struct hkp_db *h, const char *url, struct reply *r, int timeout_ms,
	long *code_r, struct pb_err *err)
{
	char errbuf[CURL_ERROR_SIZE] = "";
	CURL *c;
	CURLcode rc;

	if (curl_ready(h, err) != 0)
		return -1;
	if (!h->lookup_handle && !(h->lookup_handle = h->api.easy_init()))
		return pb_err_set(err, PB_EOS, "curl_easy_init failed");
	c = h->lookup_handle;
	/* A reset keeps the connection: the next lookup reuses it. */
	h->api.easy_reset(c);
	h->api.easy_setopt(c, CURLOPT_URL, url);
	h->api.easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	h->api.easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http");
	h->api.easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
	h->api.easy_setopt(c, CURLOPT_PROXY, "");
	h->api.easy_setopt(c, CURLOPT_USERAGENT, "pksbridge/" PB_VERSION);
	h->api.easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)(timeout_ms > 0 ? timeout_ms : 0));
	h->api.easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS,
			   (long)(timeout_ms > 0 ? timeout_ms : 0));
	h->api.easy_setopt(c, CURLOPT_WRITEFUNCTION, reply_cb);
	h->api.easy_setopt(c, CURLOPT_WRITEDATA, r);
	h->api.easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
	rc = h->api.easy_perform(c);
	h->api.easy_setopt(c, CURLOPT_ERRORBUFFER, NULL);
	if (rc != CURLE_OK)
		return pb_err_set(err, PB_ETEMP, "%s: %s", h->lookup_url,
				  errbuf[0] ? errbuf : h->api.easy_strerror(rc));
	*code_r = 0;
	h->api.easy_getinfo(c, CURLINFO_RESPONSE_CODE, code_r);
	return 0;
}

static int
hkp_lookup(struct keydb *db, const struct keydb_query *q,
	   struct keydb_answer *a, int timeout_ms, struct pb_err *err)
{
	struct hkp_db *h = db->priv;
	struct reply r = { BUF_INIT, 0, 0 };
	struct buf url = BUF_INIT;
	char summary[160];
	long code = 0;
	int rc = -1;

	memset(a, 0, sizeof *a);
	if (q->search == NULL || q->search[0] == '\0')
		return pb_err_set(err, PB_EDATA, "empty search");
	buf_printf(&url, "%s?op=%s&options=mr&search=", h->lookup_url,
		   q->want == KEYDB_WANT_KEYS ? "get" :
		   q->want == KEYDB_WANT_VINDEX ? "vindex" : "index");
	url_escape(q->search, &url);
	r.max = q->want == KEYDB_WANT_KEYS ? LOOKUP_GET_MAX : REPLY_MAX;
	if (get_url(h, buf_str(&url), &r, timeout_ms, &code, err) != 0)
		goto out;
	reply_summary(&r, summary, sizeof summary);
	if (code == 404) {
		rc = 0;		/* no match */
	} else if (code >= 200 && code < 300) {
		if (r.truncated) {
			a->too_many = 1;
			snprintf(a->why, sizeof a->why, "the answer is larger "
				 "than %u MB", (unsigned)(r.max >> 20));
		} else if (q->want == KEYDB_WANT_KEYS) {
			keydb_answer_take_armor(a, q, buf_str(&r.text), r.text.len);
		} else {
			parse_index(&r.text, q->max, a);
		}
		rc = 0;
	} else if (code >= 500 && strstr(buf_str(&r.text), "Too many") != NULL) {
		a->too_many = 1;
		snprintf(a->why, sizeof a->why, "%s", summary);
		rc = 0;
	} else if (code >= 500 && q->kind == KEYDB_SEARCH_FPR &&
		   strlen(q->search) == 2 + 64) {
		a->unsupported = 1;
		snprintf(a->why, sizeof a->why, "the key database cannot search "
			 "64-digit fingerprints (HTTP %ld: %.80s)", code, summary);
		rc = 0;
	} else if (code >= 400 && code < 500 && code != 408 && code != 429) {
		a->unsupported = 1;
		snprintf(a->why, sizeof a->why, "the key database refused the "
			 "search (HTTP %ld: %.80s)", code, summary);
		rc = 0;
	} else {
		pb_err_set(err, PB_ETEMP, "%s: HTTP %ld: %s", h->lookup_url, code,
			   summary[0] ? summary : "(no text)");
	}
out:
	buf_free(&r.text);
	buf_free(&url);
	return rc;
}

static int
hkp_prepare(struct keydb *db, struct pb_err *err)
{
	return curl_ready(db->priv, err);
}

static void
hkp_close(struct keydb *db)
{
	struct hkp_db *h;

	if (!db)
		return;
	h = db->priv;
	if (h->lookup_handle)
		h->api.easy_cleanup(h->lookup_handle);
	if (h->curl_inited)
		h->api.global_cleanup();	/* reference-counted by libcurl */
	/* Not dlclose'd: libcurl's dependencies (gnutls, ...) register
	 * atexit handlers and are shared with libetpan. */
	free((char *)db->name);
	free(h->post_url);
	free(h->lookup_url);
	free(h);
}

/* parse_url - hkp://HOST[:PORT][/PATH] or http://... into the URLs of
 * /pks/add and /pks/lookup.  HOST is a name, an IPv4 address or a
 * bracketed IPv6 address. */
static int
parse_url(const char *url, char **post_r, char **lookup_r, struct pb_err *err)
{
	const char *p, *hs, *he, *path;
	unsigned long port;
	int is_hkp = strncmp(url, "hkp://", 6) == 0;
	size_t plen;

	if (is_hkp)
		p = url + 6;
	else if (strncmp(url, "http://", 7) == 0)
		p = url + 7;
	else
		return pb_err_set(err, PB_ECONFIG, "not hkp:// or http://");
	port = is_hkp ? HKP_DEFAULT_PORT : 80;
	hs = p;
	if (*p == '[') {
		p++;
		while ((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f') ||
		       (*p >= 'A' && *p <= 'F') || *p == ':' || *p == '.')
			p++;
		if (*p != ']' || p == hs + 1)
			return pb_err_set(err, PB_ECONFIG, "bad IPv6 address");
		p++;
	} else {
		while ((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'z') ||
		       (*p >= 'A' && *p <= 'Z') || *p == '.' || *p == '-')
			p++;
		if (p == hs)
			return pb_err_set(err, PB_ECONFIG, "no host");
	}
	he = p;
	if (*p == ':') {
		char *end;

		if (p[1] < '0' || p[1] > '9')
			return pb_err_set(err, PB_ECONFIG, "bad port");
		port = strtoul(p + 1, &end, 10);
		if (port == 0 || port > 65535)
			return pb_err_set(err, PB_ECONFIG, "bad port");
		p = end;
	}
	if (*p != '\0' && *p != '/')
		return pb_err_set(err, PB_ECONFIG, "bad host or port");
	path = p;
	plen = strlen(path);
	for (size_t i = 0; i < plen; i++) {
		char c = path[i];

		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
		      (c >= 'A' && c <= 'Z') || c == '/' || c == '.' ||
		      c == '-' || c == '_' || c == '~'))
			return pb_err_set(err, PB_ECONFIG, "bad path");
	}
	while (plen > 0 && path[plen - 1] == '/')
		plen--;
	*post_r = xasprintf("http://%.*s:%lu%.*s/pks/add", (int)(he - hs), hs,
			    port, (int)plen, path);
	*lookup_r = xasprintf("http://%.*s:%lu%.*s/pks/lookup", (int)(he - hs),
			      hs, port, (int)plen, path);
	return 0;
}

int
keydb_hkp_init(const char *url, struct keydb **db_r, struct pb_err *err)
{
	struct hkp_db *h;
	char *post_url = NULL, *lookup_url = NULL;

	*db_r = NULL;
	if (parse_url(url, &post_url, &lookup_url, err) != 0)
		return -1;
	h = xcalloc(1, sizeof *h);
	h->post_url = post_url;
	h->lookup_url = lookup_url;
	h->db.name = xstrdup(url);
	h->db.does = KEYDB_MERGES | KEYDB_REPORTS_REFUSALS;
	h->db.put = hkp_put;
	h->db.lookup = hkp_lookup;
	h->db.prepare = hkp_prepare;
	h->db.close = hkp_close;
	h->db.priv = h;
	*db_r = &h->db;
	return 0;
}
