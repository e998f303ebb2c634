/*
 * config.c - pksbridge.conf parsing and validation (see config.h).
 *
 * The format follows SKS's sksconf so operators meet nothing new:
 * "key: value" per line, '#' starts a comment (at the start of a line or
 * after blank space), blank lines are ignored.
 */
#include "config/config.h"
#include "keydb/keydb.h"
#include "util/log.h"
#include "util/xalloc.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define DEFAULT_SPOOL "/var/spool/pksbridge"

static void
set_str(char **slot, const char *v)
{
	free(*slot);
	*slot = v ? xstrdup(v) : NULL;
}

static void
free_argv(char **argv)
{
	for (char **a = argv; a && *a; a++)
		free(*a);
	free(argv);
}

void
config_defaults(struct config *cfg)
{
	char host[256];

	memset(cfg, 0, sizeof *cfg);
	set_str(&cfg->spool_dir, DEFAULT_SPOOL);
	if (gethostname(host, sizeof host) != 0 || host[0] == '\0')
		strcpy(host, "localhost");
	host[sizeof host - 1] = '\0';
	cfg->from_addr = xasprintf("pgp-public-keys@%s", host);
	cfg->from_addr_bare = config_extract_addr(cfg->from_addr);
	set_str(&cfg->mailsync_file, "/etc/sks/mailsync");
	set_str(&cfg->smtp_relay, "127.0.0.1:25");
	set_str(&cfg->smtp_host, "127.0.0.1");
	cfg->smtp_port = 25;
	cfg->max_message_size = 16u << 20;
	cfg->max_keys_per_message = 1000;
	cfg->max_key_size = 1u << 20;
	cfg->dedup_ttl = 7 * 86400;
	cfg->retry_schedule[0] = 60;
	cfg->retry_schedule[1] = 300;
	cfg->retry_schedule[2] = 900;
	cfg->retry_schedule[3] = 3600;
	cfg->retry_schedule[4] = 4 * 3600;
	cfg->retry_count = 5;
	cfg->max_queue_lifetime = 5 * 86400;
	cfg->batch_window = 30;
	cfg->max_batch_keys = 100;
	cfg->max_batch_bytes = 1u << 20;
	cfg->log_dest = LOG_DEST_SYSLOG;
	cfg->mail_commands = 1;
	cfg->reply_limit = (struct ratelimit){ 10, 3600 };
	cfg->reply_limit_total = (struct ratelimit){ 1000, 3600 };
	cfg->max_reply_keys = 25;
	cfg->third_party_certs = POLICY_TP_OWNER;
	cfg->max_certs_per_uid = 100;
	cfg->max_uid_size = 1024;
	cfg->max_sig_size = 8192;
	cfg->user_attributes_keep = 0;
}

void
config_free(struct config *cfg)
{
	free(cfg->path);
	free(cfg->spool_dir);
	free(cfg->keydb);
	free(cfg->from_addr);
	free(cfg->from_addr_bare);
	free(cfg->mailsync_file);
	free(cfg->smtp_relay);
	free(cfg->smtp_host);
	free(cfg->sendmail_cmd);
	free_argv(cfg->sendmail_argv);
	free(cfg->blocklist_file);
	memset(cfg, 0, sizeof *cfg);
}

int
config_parse_duration(const char *s, int64_t *out)
{
	int64_t total = 0;
	int any = 0;

	/* Accept "90", "30s", "5m", "1h30m", "7d". */
	while (*s) {
		char *end;
		long long v;
		int64_t mult;

		if (!isdigit((unsigned char)*s))
			return -1;
		errno = 0;
		v = strtoll(s, &end, 10);
		if (errno || v < 0)
			return -1;
		switch (*end) {
		case '\0': mult = 1; break;
		case 's': mult = 1; end++; break;
		case 'm': mult = 60; end++; break;
		case 'h': mult = 3600; end++; break;
		case 'd': mult = 86400; end++; break;
		case 'w': mult = 7 * 86400; end++; break;
		default: return -1;
		}
		if (v > (INT64_MAX / 4) / mult || total > INT64_MAX / 4 - v * mult)
			return -1;
		total += v * mult;
		any = 1;
		s = end;
	}
	if (!any)
		return -1;
	*out = total;
	return 0;
}

int
config_parse_size(const char *s, uint64_t *out)
{
	char *end;
	unsigned long long v;
	uint64_t mult = 1;

	if (!isdigit((unsigned char)*s))
		return -1;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno)
		return -1;
	switch (*end) {
	case '\0': break;
	case 'k': case 'K': mult = 1024; end++; break;
	case 'm': case 'M': mult = 1024 * 1024; end++; break;
	case 'g': case 'G': mult = 1024ull * 1024 * 1024; end++; break;
	default: return -1;
	}
	/* Allow "16MB"/"4KB" as people write them. */
	if (mult != 1 && (*end == 'b' || *end == 'B'))
		end++;
	if (*end != '\0' || v > UINT64_MAX / mult)
		return -1;
	*out = v * mult;
	return 0;
}

int
config_parse_ratelimit(const char *s, struct ratelimit *lim)
{
	const char *slash;
	char *end;
	unsigned long long n;
	int64_t period;

	if (s == NULL || (slash = strchr(s, '/')) == NULL ||
	    !isdigit((unsigned char)s[0]))
		return -1;
	errno = 0;
	n = strtoull(s, &end, 10);
	if (errno || end != slash || config_parse_duration(slash + 1, &period) != 0 ||
	    !ratelimit_valid(n, period))
		return -1;
	lim->count = (uint32_t)n;
	lim->period = period;
	return 0;
}

const char *
config_format_duration(int64_t secs, char *buf, size_t len)
{
	static const struct { int64_t n; char u; } units[] = {
		{ 86400, 'd' }, { 3600, 'h' }, { 60, 'm' }, { 1, 's' },
	};
	size_t off = 0;

	if (len == 0)
		return buf;
	buf[0] = '\0';
	if (secs <= 0) {
		snprintf(buf, len, "0s");
		return buf;
	}
	for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
		if (secs >= units[i].n) {
			int n = snprintf(buf + off, len - off, "%lld%c",
					 (long long)(secs / units[i].n), units[i].u);
			if (n < 0 || (size_t)n >= len - off)
				break;
			off += (size_t)n;
			secs %= units[i].n;
		}
	}
	return buf;
}

void
config_policy_settings(const struct config *cfg, struct policy_settings *s)
{
	policy_settings_init(s);
	s->third_party = cfg->third_party_certs;
	s->max_certs_per_uid = (size_t)cfg->max_certs_per_uid;
	s->max_uid_size = cfg->max_uid_size > SIZE_MAX ? SIZE_MAX :
		(size_t)cfg->max_uid_size;
	s->max_sig_size = cfg->max_sig_size > SIZE_MAX ? SIZE_MAX :
		(size_t)cfg->max_sig_size;
	s->max_key_size = cfg->max_key_size > SIZE_MAX ? SIZE_MAX :
		(size_t)cfg->max_key_size;
	s->keep_user_attributes = cfg->user_attributes_keep;
}

int64_t
config_retry_delay(const struct config *cfg, unsigned attempts)
{
	if (cfg->retry_count == 0)
		return 3600;
	if (attempts == 0)
		attempts = 1;
	if (attempts > cfg->retry_count)
		attempts = (unsigned)cfg->retry_count;
	return cfg->retry_schedule[attempts - 1];
}

/* has_control - any C0 control character or DEL: nothing an address
 * may hold, and CR/LF would start a new header line wherever it goes. */
static int
has_control(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return 1;
	return 0;
}

char *
config_extract_addr(const char *s)
{
	const char *lt = strrchr(s, '<'), *start, *end;
	char *addr, *at;

	if (lt) {
		start = lt + 1;
		end = strchr(start, '>');
		if (!end)
			return NULL;
	} else {
		start = s;
		while (*start == ' ' || *start == '\t' || *start == '"')
			start++;
		end = start + strlen(start);
		while (end > start && (end[-1] == ' ' || end[-1] == '\t' ||
				       end[-1] == '"'))
			end--;
	}
	addr = xstrndup(start, (size_t)(end - start));
	at = strrchr(addr, '@');
	if (!at || at == addr || at[1] == '\0' ||
	    strpbrk(addr, " <>(),;:\"") != NULL || has_control(addr)) {
		free(addr);
		return NULL;
	}
	/* The domain is case-insensitive; the local part is compared
	 * case-insensitively too, as every keyserver address is. */
	for (char *p = addr; *p; p++)
		*p = (char)tolower((unsigned char)*p);
	return addr;
}

static int
split_argv(const char *s, char ***argv_r)
{
	char **argv = NULL;
	size_t n = 0;

	/* Plain blank-separated words: this is an argv for execve, not a
	 * shell line, so quotes and metacharacters have no meaning. */
	while (*s) {
		const char *start;

		while (*s == ' ' || *s == '\t')
			s++;
		if (!*s)
			break;
		start = s;
		while (*s && *s != ' ' && *s != '\t')
			s++;
		argv = xreallocarray(argv, n + 2, sizeof *argv);
		argv[n++] = xstrndup(start, (size_t)(s - start));
	}
	if (n == 0)
		return -1;
	argv[n] = NULL;
	*argv_r = argv;
	return 0;
}

static int
parse_hostport(const char *v, char **host_r, unsigned *port_r)
{
	const char *colon;
	char *end;
	unsigned long port = 25;
	char *host;

	if (*v == '[') {
		const char *rb = strchr(v, ']');

		if (!rb || rb == v + 1)
			return -1;
		host = xstrndup(v + 1, (size_t)(rb - v - 1));
		colon = rb[1] == ':' ? rb + 1 : NULL;
		if (!colon && rb[1] != '\0') {
			free(host);
			return -1;
		}
	} else {
		colon = strrchr(v, ':');
		host = xstrndup(v, colon ? (size_t)(colon - v) : strlen(v));
		if (host[0] == '\0' || strchr(host, ':')) {
			free(host);
			return -1;
		}
	}
	if (colon) {
		errno = 0;
		port = strtoul(colon + 1, &end, 10);
		if (errno || *end || colon[1] == '\0' || port == 0 || port > 65535) {
			free(host);
			return -1;
		}
	}
	*host_r = host;
	*port_r = (unsigned)port;
	return 0;
}

/*
 * The keys of pksbridge.conf, as Postfix keeps its parameters: a table
 * of names, each with the setter that parses and checks its value and,
 * for the generic setters, the field it fills and the least value it
 * takes.  A setter returns -1 for a bad value, with why filled when the
 * key's own text ("what") is not precise enough.
 */
struct key;
typedef int (*setter)(struct config *cfg, const struct key *k, const char *v,
		      char *why, size_t why_len);

struct key {
	const char *name;
	setter set;
	size_t off;		/* offsetof the field (generic setters) */
	uint64_t min;		/* least value (sizes, numbers, durations) */
	const char *what;	/* what a bad value should have been */
};

#define FIELD(cfg, k, type) ((type *)(void *)((char *)(cfg) + (k)->off))

static int
set_string(struct config *cfg, const struct key *k, const char *v, char *why,
	   size_t why_len)
{
	(void)why;
	(void)why_len;
	set_str(FIELD(cfg, k, char *), v);
	return 0;
}

static int
set_abs_path(struct config *cfg, const struct key *k, const char *v, char *why,
	     size_t why_len)
{
	if (v[0] != '/')
		return -1;
	return set_string(cfg, k, v, why, why_len);
}

/* set_size - a size (K, M, G suffixes) or a plain count. */
static int
set_size(struct config *cfg, const struct key *k, const char *v, char *why,
	 size_t why_len)
{
	uint64_t sz;

	(void)why;
	(void)why_len;
	if (config_parse_size(v, &sz) != 0 || sz < k->min)
		return -1;
	*FIELD(cfg, k, uint64_t) = sz;
	return 0;
}

static int
set_duration(struct config *cfg, const struct key *k, const char *v, char *why,
	     size_t why_len)
{
	int64_t d;

	(void)why;
	(void)why_len;
	if (config_parse_duration(v, &d) != 0 || d < (int64_t)k->min)
		return -1;
	*FIELD(cfg, k, int64_t) = d;
	return 0;
}

/* set_keydb - checked by the key database layer's own rules. */
static int
set_keydb(struct config *cfg, const struct key *k, const char *v, char *why,
	  size_t why_len)
{
	struct pb_err kerr;

	(void)k;
	if (keydb_check(v, &kerr) != 0) {
		snprintf(why, why_len, "%s", kerr.msg);
		return -1;
	}
	set_str(&cfg->keydb, v);
	cfg->keydb_set = 1;
	return 0;
}

static int
set_from_addr(struct config *cfg, const struct key *k, const char *v,
	      char *why, size_t why_len)
{
	char *bare = config_extract_addr(v);

	(void)k;
	(void)why;
	(void)why_len;
	if (!bare)
		return -1;
	set_str(&cfg->from_addr, v);
	free(cfg->from_addr_bare);
	cfg->from_addr_bare = bare;
	return 0;
}

static int
set_smtp_relay(struct config *cfg, const struct key *k, const char *v,
	       char *why, size_t why_len)
{
	char *host;
	unsigned port;

	(void)k;
	(void)why;
	(void)why_len;
	if (parse_hostport(v, &host, &port) != 0)
		return -1;
	set_str(&cfg->smtp_relay, v);
	free(cfg->smtp_host);
	cfg->smtp_host = host;
	cfg->smtp_port = port;
	return 0;
}

static int
set_sendmail_cmd(struct config *cfg, const struct key *k, const char *v,
		 char *why, size_t why_len)
{
	char **argv = NULL;

	(void)k;
	(void)why;
	(void)why_len;
	if (split_argv(v, &argv) != 0 || argv[0][0] != '/') {
		free_argv(argv);
		return -1;
	}
	free_argv(cfg->sendmail_argv);
	cfg->sendmail_argv = argv;
	set_str(&cfg->sendmail_cmd, v);
	return 0;
}

static int
set_retry_schedule(struct config *cfg, const struct key *k, const char *v,
		   char *why, size_t why_len)
{
	char *copy = xstrdup(v), *save = NULL, *tok;
	int64_t d;
	size_t n = 0;

	(void)k;
	for (tok = strtok_r(copy, ", \t", &save); tok;
	     tok = strtok_r(NULL, ", \t", &save)) {
		if (n == CONFIG_MAX_RETRY || config_parse_duration(tok, &d) != 0 ||
		    d <= 0) {
			free(copy);
			return -1;
		}
		cfg->retry_schedule[n++] = d;
	}
	free(copy);
	if (n == 0) {
		snprintf(why, why_len, "expected at least one duration");
		return -1;
	}
	cfg->retry_count = n;
	return 0;
}

static int
set_log(struct config *cfg, const struct key *k, const char *v, char *why,
	size_t why_len)
{
	(void)k;
	(void)why;
	(void)why_len;
	if (strcmp(v, "syslog") == 0)
		cfg->log_dest = LOG_DEST_SYSLOG;
	else if (strcmp(v, "stderr") == 0)
		cfg->log_dest = LOG_DEST_STDERR;
	else
		return -1;
	return 0;
}

/* set_yes_no - a switch, written as sksconf's boolean keys are. */
static int
set_yes_no(struct config *cfg, const struct key *k, const char *v, char *why,
	   size_t why_len)
{
	(void)why;
	(void)why_len;
	if (strcmp(v, "yes") == 0 || strcmp(v, "true") == 0 ||
	    strcmp(v, "on") == 0)
		*FIELD(cfg, k, int) = 1;
	else if (strcmp(v, "no") == 0 || strcmp(v, "false") == 0 ||
		 strcmp(v, "off") == 0)
		*FIELD(cfg, k, int) = 0;
	else
		return -1;
	return 0;
}

static int
set_ratelimit(struct config *cfg, const struct key *k, const char *v,
	      char *why, size_t why_len)
{
	(void)why;
	(void)why_len;
	return config_parse_ratelimit(v, FIELD(cfg, k, struct ratelimit));
}

/* set_count - a plain number from k->min to 1000 (no size suffix). */
static int
set_count(struct config *cfg, const struct key *k, const char *v, char *why,
	  size_t why_len)
{
	char *end;
	unsigned long long n;

	(void)why;
	(void)why_len;
	if (!isdigit((unsigned char)v[0]))
		return -1;
	errno = 0;
	n = strtoull(v, &end, 10);
	if (errno || *end != '\0' || n < k->min || n > 1000)
		return -1;
	*FIELD(cfg, k, uint64_t) = n;
	return 0;
}

/* set_third_party - owner, approved, none or all. */
static int
set_third_party(struct config *cfg, const struct key *k, const char *v,
		char *why, size_t why_len)
{
	(void)k;
	(void)why;
	(void)why_len;
	return policy_third_party_parse(v, &cfg->third_party_certs);
}

/* set_certs - a plain number from 0 to 100000. */
static int
set_certs(struct config *cfg, const struct key *k, const char *v, char *why,
	  size_t why_len)
{
	char *end;
	unsigned long long n;

	(void)why;
	(void)why_len;
	if (!isdigit((unsigned char)v[0]))
		return -1;
	errno = 0;
	n = strtoull(v, &end, 10);
	if (errno || *end != '\0' || n > 100000)
		return -1;
	*FIELD(cfg, k, uint64_t) = n;
	return 0;
}

static int
set_user_attributes(struct config *cfg, const struct key *k, const char *v,
		    char *why, size_t why_len)
{
	(void)k;
	(void)why;
	(void)why_len;
	if (strcmp(v, "drop") == 0)
		cfg->user_attributes_keep = 0;
	else if (strcmp(v, "keep") == 0)
		cfg->user_attributes_keep = 1;
	else
		return -1;
	return 0;
}

/* set_blocklist_file - an absolute path that can be read now, so that a
 * wrong one is an error naming this line; its contents are read where
 * the policy is set up (blocklist_load), with their own line numbers. */
static int
set_blocklist_file(struct config *cfg, const struct key *k, const char *v,
		   char *why, size_t why_len)
{
	(void)k;
	if (v[0] != '/')
		return -1;
	if (access(v, R_OK) != 0) {
		snprintf(why, why_len, "cannot read it: %s", strerror(errno));
		return -1;
	}
	set_str(&cfg->blocklist_file, v);
	return 0;
}

#define OFF(field) offsetof(struct config, field)

static const struct key keys[] = {
	{ "spool_dir", set_abs_path, OFF(spool_dir), 0,
	  "must be an absolute path" },
	{ "keydb", set_keydb, 0, 0, "" },
	{ "from_addr", set_from_addr, 0, 0, "not an email address" },
	{ "mailsync_file", set_string, OFF(mailsync_file), 0, "" },
	{ "smtp_relay", set_smtp_relay, 0, 0, "expected HOST:PORT" },
	{ "sendmail_cmd", set_sendmail_cmd, 0, 0,
	  "expected an absolute program path and arguments" },
	{ "max_message_size", set_size, OFF(max_message_size), 1024,
	  "expected a size of at least 1K (suffix K, M or G)" },
	{ "max_keys_per_message", set_size, OFF(max_keys_per_message), 1,
	  "expected a positive number" },
	{ "max_key_size", set_size, OFF(max_key_size), 64,
	  "expected a size (suffix K, M or G)" },
	{ "dedup_ttl", set_duration, OFF(dedup_ttl), 0,
	  "expected a duration (suffix s, m, h or d)" },
	{ "retry_schedule", set_retry_schedule, 0, 0,
	  "expected a comma-separated list of positive durations" },
	{ "max_queue_lifetime", set_duration, OFF(max_queue_lifetime), 1,
	  "expected a positive duration" },
	{ "batch_window", set_duration, OFF(batch_window), 0,
	  "expected a duration" },
	{ "max_batch_keys", set_size, OFF(max_batch_keys), 1,
	  "expected a positive number" },
	{ "max_batch_bytes", set_size, OFF(max_batch_bytes), 1024,
	  "expected a size of at least 1K" },
	{ "log", set_log, 0, 0, "expected syslog or stderr" },
	{ "mail_commands", set_yes_no, OFF(mail_commands), 0,
	  "expected yes or no" },
	{ "reply_limit", set_ratelimit, OFF(reply_limit), 0,
	  "expected N/DURATION such as 10/1h (N 1..100000, at most 366d)" },
	{ "reply_limit_total", set_ratelimit, OFF(reply_limit_total), 0,
	  "expected N/DURATION such as 1000/1h (N 1..100000, at most 366d)" },
	{ "max_reply_keys", set_count, OFF(max_reply_keys), 1,
	  "expected a number from 1 to 1000" },
	{ "third_party_certs", set_third_party, 0, 0,
	  "expected owner, approved, none or all" },
	{ "max_certs_per_uid", set_certs, OFF(max_certs_per_uid), 0,
	  "expected a number from 0 to 100000" },
	{ "max_uid_size", set_size, OFF(max_uid_size), 16,
	  "expected a size of at least 16 (suffix K or M)" },
	{ "max_sig_size", set_size, OFF(max_sig_size), 128,
	  "expected a size of at least 128 (suffix K or M)" },
	{ "user_attributes", set_user_attributes, 0, 0,
	  "expected drop or keep" },
	{ "blocklist_file", set_blocklist_file, 0, 0,
	  "expected an absolute path" },
};

static int
set_key(struct config *cfg, const char *key, const char *v, const char *where,
	struct pb_err *err)
{
	char why[PB_ERR_MSGLEN] = "";

	for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
		const struct key *k = &keys[i];

		if (strcmp(key, k->name) != 0)
			continue;
		if (k->set(cfg, k, v, why, sizeof why) == 0)
			return 0;
		return pb_err_set(err, PB_ECONFIG, "%s: %s: %s: \"%s\" (see "
				  "pksbridge.conf(5))", where, key,
				  why[0] ? why : k->what, v);
	}
	return pb_err_set(err, PB_ECONFIG, "%s: unknown key \"%s\" "
			  "(pksbridge.conf(5) lists the keys)", where, key);
}

int
config_parse_text(struct config *cfg, const char *name, const char *text,
		  size_t len, struct pb_err *err)
{
	const char *p = text, *end = text + len;
	unsigned lineno = 0;

	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *eol = nl ? nl : end;
		char where[512];
		char *line, *s, *colon, *key, *val, *e;

		lineno++;
		snprintf(where, sizeof where, "%s, line %u", name, lineno);
		if (memchr(p, '\0', (size_t)(eol - p)) != NULL)
			return pb_err_set(err, PB_ECONFIG, "%s: NUL byte in line", where);
		line = xstrndup(p, (size_t)(eol - p));
		p = nl ? nl + 1 : end;
		/* Strip comments: '#' at line start or after blank space. */
		for (s = line; *s; s++) {
			if (*s == '#' && (s == line || s[-1] == ' ' || s[-1] == '\t')) {
				*s = '\0';
				break;
			}
		}
		/* Trim. */
		for (s = line; *s == ' ' || *s == '\t' || *s == '\r'; s++)
			;
		e = s + strlen(s);
		while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r'))
			*--e = '\0';
		if (*s == '\0') {
			free(line);
			continue;
		}
		colon = strchr(s, ':');
		if (!colon) {
			pb_err_set(err, PB_ECONFIG,
				   "%s: expected \"key: value\", got \"%.60s\"",
				   where, s);
			free(line);
			return -1;
		}
		*colon = '\0';
		key = s;
		e = colon;
		while (e > key && (e[-1] == ' ' || e[-1] == '\t'))
			*--e = '\0';
		for (val = colon + 1; *val == ' ' || *val == '\t'; val++)
			;
		if (*val == '\0') {
			pb_err_set(err, PB_ECONFIG, "%s: %s: missing value",
				   where, key);
			free(line);
			return -1;
		}
		if (set_key(cfg, key, val, where, err) != 0) {
			free(line);
			return -1;
		}
		free(line);
	}
	return 0;
}

int
config_finish(struct config *cfg, struct pb_err *err)
{
	(void)err;
	if (!cfg->keydb_set) {
		free(cfg->keydb);
		cfg->keydb = xasprintf("gnupg:%s/gnupg", cfg->spool_dir);
	}
	return 0;
}

int
config_load(struct config *cfg, const char *path, int missing_ok,
	    struct pb_err *err)
{
	struct buf_file { char *data; size_t len; } f = { NULL, 0 };
	struct stat st;
	int fd, r;

	config_defaults(cfg);
	if (path == NULL)
		return config_finish(cfg, err);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ENOENT && missing_ok)
			return config_finish(cfg, err);
		return pb_err_set(err, PB_ECONFIG, "%s: cannot open: %s",
				  path, strerror(errno));
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return pb_err_set(err, PB_ECONFIG, "%s: not a regular file", path);
	}
	if (st.st_mode & S_IWOTH) {
		close(fd);
		return pb_err_set(err, PB_ECONFIG,
				  "%s: refusing a world-writable configuration file",
				  path);
	}
	if (st.st_size > 1 << 20) {
		close(fd);
		return pb_err_set(err, PB_ECONFIG, "%s: too large", path);
	}
	f.data = xmalloc((size_t)st.st_size + 1);
	while (f.len < (size_t)st.st_size) {
		ssize_t n = read(fd, f.data + f.len, (size_t)st.st_size - f.len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			int e = errno;

			close(fd);
			free(f.data);
			return pb_err_set(err, PB_ECONFIG, "%s: read error: %s",
					  path, n < 0 ? strerror(e) : "short read");
		}
		f.len += (size_t)n;
	}
	close(fd);
	cfg->path = xstrdup(path);
	r = config_parse_text(cfg, path, f.data, f.len, err);
	free(f.data);
	if (r != 0)
		return -1;
	return config_finish(cfg, err);
}

const char *
config_path(const char *cli_path, int *explicit_r)
{
	const char *env;

	if (cli_path) {
		*explicit_r = 1;
		return cli_path;
	}
	env = getenv("PKSBRIDGE_CONF");
	if (env && *env) {
		*explicit_r = 1;
		return env;
	}
	*explicit_r = 0;
	return CONFIG_DEFAULT_PATH;
}
