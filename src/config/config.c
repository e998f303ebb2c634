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
	cfg->max_key_size = 4u << 20;
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
	if (cfg->sendmail_argv) {
		for (char **a = cfg->sendmail_argv; *a; a++)
			free(*a);
		free(cfg->sendmail_argv);
	}
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

static int
set_key(struct config *cfg, const char *key, const char *v, const char *where,
	struct pb_err *err)
{
	uint64_t sz;
	int64_t d;

#define BAD(what) pb_err_set(err, PB_ECONFIG, "%s: %s: %s: \"%s\" (see " \
				   "pksbridge.conf(5))", where, key, what, v)
	if (strcmp(key, "spool_dir") == 0) {
		if (v[0] != '/')
			return BAD("must be an absolute path");
		set_str(&cfg->spool_dir, v);
	} else if (strcmp(key, "keydb") == 0) {
		struct pb_err kerr;

		if (keydb_check(v, &kerr) != 0)
			return BAD(kerr.msg);
		set_str(&cfg->keydb, v);
		cfg->keydb_set = 1;
	} else if (strcmp(key, "from_addr") == 0) {
		char *bare = config_extract_addr(v);

		if (!bare)
			return BAD("not an email address");
		set_str(&cfg->from_addr, v);
		free(cfg->from_addr_bare);
		cfg->from_addr_bare = bare;
	} else if (strcmp(key, "mailsync_file") == 0) {
		set_str(&cfg->mailsync_file, v);
	} else if (strcmp(key, "smtp_relay") == 0) {
		char *host;
		unsigned port;

		if (parse_hostport(v, &host, &port) != 0)
			return BAD("expected HOST:PORT");
		set_str(&cfg->smtp_relay, v);
		free(cfg->smtp_host);
		cfg->smtp_host = host;
		cfg->smtp_port = port;
	} else if (strcmp(key, "sendmail_cmd") == 0) {
		char **argv = NULL;

		if (split_argv(v, &argv) != 0 || argv[0][0] != '/') {
			if (argv) {
				for (char **a = argv; *a; a++)
					free(*a);
				free(argv);
			}
			return BAD("expected an absolute program path and arguments");
		}
		if (cfg->sendmail_argv) {
			for (char **a = cfg->sendmail_argv; *a; a++)
				free(*a);
			free(cfg->sendmail_argv);
		}
		cfg->sendmail_argv = argv;
		set_str(&cfg->sendmail_cmd, v);
	} else if (strcmp(key, "max_message_size") == 0) {
		if (config_parse_size(v, &sz) != 0 || sz < 1024)
			return BAD("expected a size of at least 1K (suffix K, M or G)");
		cfg->max_message_size = sz;
	} else if (strcmp(key, "max_keys_per_message") == 0) {
		if (config_parse_size(v, &sz) != 0 || sz == 0)
			return BAD("expected a positive number");
		cfg->max_keys_per_message = sz;
	} else if (strcmp(key, "max_key_size") == 0) {
		if (config_parse_size(v, &sz) != 0 || sz < 64)
			return BAD("expected a size (suffix K, M or G)");
		cfg->max_key_size = sz;
	} else if (strcmp(key, "dedup_ttl") == 0) {
		if (config_parse_duration(v, &d) != 0)
			return BAD("expected a duration (suffix s, m, h or d)");
		cfg->dedup_ttl = d;
	} else if (strcmp(key, "retry_schedule") == 0) {
		char *copy = xstrdup(v), *save = NULL, *tok;
		size_t n = 0;

		for (tok = strtok_r(copy, ", \t", &save); tok;
		     tok = strtok_r(NULL, ", \t", &save)) {
			if (n == CONFIG_MAX_RETRY ||
			    config_parse_duration(tok, &d) != 0 || d <= 0) {
				free(copy);
				return BAD("expected a comma-separated list of positive durations");
			}
			cfg->retry_schedule[n++] = d;
		}
		free(copy);
		if (n == 0)
			return BAD("expected at least one duration");
		cfg->retry_count = n;
	} else if (strcmp(key, "max_queue_lifetime") == 0) {
		if (config_parse_duration(v, &d) != 0 || d <= 0)
			return BAD("expected a positive duration");
		cfg->max_queue_lifetime = d;
	} else if (strcmp(key, "batch_window") == 0) {
		if (config_parse_duration(v, &d) != 0)
			return BAD("expected a duration");
		cfg->batch_window = d;
	} else if (strcmp(key, "max_batch_keys") == 0) {
		if (config_parse_size(v, &sz) != 0 || sz == 0)
			return BAD("expected a positive number");
		cfg->max_batch_keys = sz;
	} else if (strcmp(key, "max_batch_bytes") == 0) {
		if (config_parse_size(v, &sz) != 0 || sz < 1024)
			return BAD("expected a size of at least 1K");
		cfg->max_batch_bytes = sz;
	} else if (strcmp(key, "log") == 0) {
		if (strcmp(v, "syslog") == 0)
			cfg->log_dest = LOG_DEST_SYSLOG;
		else if (strcmp(v, "stderr") == 0)
			cfg->log_dest = LOG_DEST_STDERR;
		else
			return BAD("expected syslog or stderr");
	} else {
		return pb_err_set(err, PB_ECONFIG, "%s: unknown key \"%s\" "
				  "(pksbridge.conf(5) lists the keys)", where, key);
	}
	return 0;
#undef BAD
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
