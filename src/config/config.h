/*
 * config.h - pksbridge.conf: SKS sksconf-style "key: value" lines.
 *
 * Every key of the contract is parsed and validated here; an unknown key,
 * a bad value or an unreadable file is an error naming file, line and key.
 * The struct config is the process's configuration: filled once by main()
 * (and again on SIGHUP by the runner), then read everywhere.
 */
#ifndef PB_CONFIG_H
#define PB_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#include "openpgp/policy.h"
#include "util/err.h"
#include "util/ratelimit.h"

#ifndef SYSCONFDIR
#define SYSCONFDIR "/etc"
#endif
#define CONFIG_DEFAULT_PATH SYSCONFDIR "/pksbridge.conf"
#define CONFIG_MAX_RETRY 32

struct config {
	char *path;			/* file read, NULL = built-in defaults */
	char *spool_dir;
	char *keydb;			/* "sks:DIR", "hkp://H:P", "gnupg:DIR" */
	char *from_addr;		/* as written, may be "Name <a@b>" */
	char *from_addr_bare;		/* just a@b, lower-cased domain */
	char *mailsync_file;
	char *smtp_relay;		/* as written */
	char *smtp_host;
	unsigned smtp_port;
	char *sendmail_cmd;		/* as written, NULL if unset */
	char **sendmail_argv;		/* split on blanks, NULL-terminated */
	uint64_t max_message_size;
	uint64_t max_keys_per_message;
	uint64_t max_key_size;
	int64_t dedup_ttl;		/* seconds */
	int64_t retry_schedule[CONFIG_MAX_RETRY]; /* seconds; last repeats */
	size_t retry_count;
	int64_t max_queue_lifetime;
	int64_t batch_window;
	uint64_t max_batch_keys;
	uint64_t max_batch_bytes;
	int log_dest;			/* LOG_DEST_SYSLOG or LOG_DEST_STDERR */
	int mail_commands;		/* answer mail commands (yes/no) */
	struct ratelimit reply_limit;	/* replies per envelope sender */
	struct ratelimit reply_limit_total; /* replies in all */
	uint64_t max_reply_keys;	/* keys in one reply, 1..1000 */
	/* The key policy (openpgp/policy.h; config_policy_settings). */
	enum policy_third_party third_party_certs;
	uint64_t max_certs_per_uid;	/* 0..100000 */
	uint64_t max_uid_size;
	uint64_t max_sig_size;
	int user_attributes_keep;	/* user_attributes: keep */
	char *blocklist_file;		/* NULL if unset; readable when set
					 * (config/blocklist.h reads it) */
	unsigned keydb_set : 1;		/* keydb given explicitly */
};

/* config_defaults - fill cfg with the built-in defaults (allocates;
 * release with config_free). */
void config_defaults(struct config *cfg);

/* config_load - defaults, then the file at path on top.  A missing file
 * is an error unless missing_ok (the implicit default path). */
int config_load(struct config *cfg, const char *path, int missing_ok,
		struct pb_err *err);

/* config_parse_text - parse config text (for tests and fuzzing); name is
 * used in error messages.  cfg must already hold defaults. */
int config_parse_text(struct config *cfg, const char *name, const char *text,
		      size_t len, struct pb_err *err);

/* config_finish - derive dependent defaults (keydb from spool_dir) and
 * check cross-key constraints; config_load calls it. */
int config_finish(struct config *cfg, struct pb_err *err);

/* config_path - the path to use: -c argument, else $PKSBRIDGE_CONF, else
 * the built-in default; *explicit_r tells whether it was chosen. */
const char *config_path(const char *cli_path, int *explicit_r);

void config_free(struct config *cfg);

/* Value parsers, exported for the CLI (--since, purge) and tests. */
int config_parse_duration(const char *s, int64_t *out);
int config_parse_size(const char *s, uint64_t *out);
/* config_parse_ratelimit - "N/DURATION" ("10/1h", "1000/1d", "5/90s";
 * N 1..100000, the period 1 s .. 366 d, see ratelimit.h) into *lim; -1
 * if malformed or out of range. */
int config_parse_ratelimit(const char *s, struct ratelimit *lim);
/* config_format_duration - "1h30m"-style; buf of at least 32 bytes. */
const char *config_format_duration(int64_t secs, char *buf, size_t len);

/* config_policy_settings - the key policy's settings from cfg (now: 0,
 * the clock; the gnupg: exception off: the caller knows its door). */
void config_policy_settings(const struct config *cfg,
			    struct policy_settings *s);

/* config_retry_delay - the delay before attempt number attempts+1. */
int64_t config_retry_delay(const struct config *cfg, unsigned attempts);

/* config_extract_addr - the bare address from "Name <a@b>" or "a@b";
 * caller frees; NULL if there is no plausible address. */
char *config_extract_addr(const char *s);

#endif
