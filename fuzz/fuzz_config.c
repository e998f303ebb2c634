/*
 * fuzz_config.c - libFuzzer entry point for the configuration parser:
 * the input is a pksbridge.conf (config_parse_text, then config_finish as
 * config_load does), and its first line is also given to the value
 * parsers on their own (durations, sizes, addresses).
 *
 * Invariants: an error names the file, line and says what is wrong; an
 * accepted configuration is one every command can use as it stands
 * (absolute spool_dir, a retry schedule of positive steps, a plain
 * sendmail argv with an absolute program, a from_addr with a usable
 * bare address, a port in range, a max_message_size that the filters'
 * "limit + 1" read cannot wrap); a parsed duration formats and parses
 * back to itself.  Built by "make fuzz".
 */
#include "config/config.h"
#include "util/log.h"
#include "util/xalloc.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check_accepted(const struct config *cfg)
{
	if (!cfg->spool_dir || cfg->spool_dir[0] != '/' || !cfg->keydb ||
	    !cfg->keydb[0] || !cfg->from_addr_bare ||
	    strpbrk(cfg->from_addr_bare, " \t\r\n<>") || !cfg->smtp_host ||
	    cfg->smtp_port == 0 || cfg->smtp_port > 65535)
		abort();
	if (cfg->retry_count == 0 || cfg->retry_count > CONFIG_MAX_RETRY)
		abort();
	for (size_t i = 0; i < cfg->retry_count; i++)
		if (cfg->retry_schedule[i] <= 0)
			abort();
	if (cfg->max_message_size < 1024 || cfg->max_message_size >= SIZE_MAX ||
	    cfg->max_key_size < 64 || cfg->max_keys_per_message == 0 ||
	    cfg->max_queue_lifetime <= 0)
		abort();
	if ((cfg->sendmail_cmd == NULL) != (cfg->sendmail_argv == NULL))
		abort();
	if (cfg->sendmail_argv) {
		if (cfg->sendmail_argv[0] == NULL || cfg->sendmail_argv[0][0] != '/')
			abort();
		for (char **a = cfg->sendmail_argv; *a; a++)
			if ((*a)[0] == '\0' || strpbrk(*a, " \t"))
				abort();
	}
}

static void
check_values(const char *s)
{
	int64_t d, d2;
	uint64_t sz;
	char buf[64];
	char *addr;

	if (config_parse_duration(s, &d) == 0) {
		if (d < 0)
			abort();
		config_format_duration(d, buf, sizeof buf);
		if (config_parse_duration(buf, &d2) != 0 || d2 != d)
			abort();
	}
	(void)config_parse_size(s, &sz);
	addr = config_extract_addr(s);
	if (addr) {
		if (!strchr(addr, '@') || strpbrk(addr, " \t\r\n<>(),;:\""))
			abort();
		free(addr);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct config cfg;
	struct pb_err err;
	const char *text = (const char *)data;
	const char *nl;
	char *first;

	log_open("fuzz", 0, 0);
	config_defaults(&cfg);
	if (config_parse_text(&cfg, "fuzz.conf", text, size, &err) == 0) {
		if (config_finish(&cfg, &err) != 0)
			abort();
		check_accepted(&cfg);
	} else if (strncmp(err.msg, "fuzz.conf, line ", 16) != 0) {
		abort();
	}
	config_free(&cfg);

	nl = memchr(text, '\n', size);
	first = xstrndup(text, nl ? (size_t)(nl - text) : size);
	check_values(first);
	free(first);
	return 0;
}
