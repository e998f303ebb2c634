/*
 * test_config.c - config parsing: every key, units, and errors that name
 * file, line and key.
 */
#include "config/blocklist.h"
#include "config/config.h"
#include "lib/unit.h"
#include "util/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int
parse(struct config *cfg, const char *text, struct pb_err *err)
{
	config_defaults(cfg);
	if (config_parse_text(cfg, "test.conf", text, strlen(text), err) != 0)
		return -1;
	return config_finish(cfg, err);
}

static void
test_defaults(void)
{
	struct config cfg;
	struct pb_err err;

	CHECK_OK(parse(&cfg, "", &err), &err);
	CHECK_STR(cfg.spool_dir, "/var/spool/pksbridge");
	CHECK_STR(cfg.keydb, "gnupg:/var/spool/pksbridge/gnupg");
	CHECK(strncmp(cfg.from_addr, "pgp-public-keys@", 16) == 0);
	CHECK_STR(cfg.mailsync_file, "/etc/sks/mailsync");
	CHECK_STR(cfg.smtp_host, "127.0.0.1");
	CHECK_INT(cfg.smtp_port, 25);
	CHECK(cfg.sendmail_argv == NULL);
	CHECK_INT(cfg.max_message_size, 16 << 20);
	CHECK_INT(cfg.max_keys_per_message, 1000);
	CHECK_INT(cfg.max_key_size, 1 << 20);
	CHECK_INT(cfg.dedup_ttl, 7 * 86400);
	CHECK_INT(cfg.retry_count, 5);
	CHECK_INT(config_retry_delay(&cfg, 1), 60);
	CHECK_INT(config_retry_delay(&cfg, 5), 4 * 3600);
	CHECK_INT(config_retry_delay(&cfg, 50), 4 * 3600);
	CHECK_INT(cfg.max_queue_lifetime, 5 * 86400);
	CHECK_INT(cfg.batch_window, 30);
	CHECK_INT(cfg.max_batch_keys, 100);
	CHECK_INT(cfg.max_batch_bytes, 1 << 20);
	CHECK_INT(cfg.log_dest, LOG_DEST_SYSLOG);
	CHECK_INT(cfg.mail_commands, 1);
	CHECK_INT(cfg.reply_limit.count, 10);
	CHECK_INT(cfg.reply_limit.period, 3600);
	CHECK_INT(cfg.reply_limit_total.count, 1000);
	CHECK_INT(cfg.reply_limit_total.period, 3600);
	CHECK_INT(cfg.max_reply_keys, 25);
	CHECK_INT(cfg.third_party_certs, POLICY_TP_OWNER);
	CHECK_INT(cfg.max_certs_per_uid, 100);
	CHECK_INT(cfg.max_uid_size, 1024);
	CHECK_INT(cfg.max_sig_size, 8192);
	CHECK_INT(cfg.user_attributes_keep, 0);
	CHECK(cfg.blocklist_file == NULL);
	config_free(&cfg);
}

static void
test_every_key(void)
{
	struct config cfg;
	struct pb_err err;
	const char *text =
		"# a comment\n"
		"spool_dir: /tmp/spool   # trailing comment\n"
		"keydb: hkp://127.0.0.1:11371\n"
		"from_addr: \"PGP Key Server <PGP-Public-Keys@Example.ORG>\"\n"
		"mailsync_file: /etc/sks/mailsync\r\n"
		"smtp_relay: [::1]:2525\n"
		"sendmail_cmd: /usr/sbin/sendmail -t -oi\n"
		"max_message_size: 2M\n"
		"max_keys_per_message: 10\n"
		"max_key_size: 64K\n"
		"dedup_ttl: 1d12h\n"
		"retry_schedule: 10s, 1m,1h\n"
		"max_queue_lifetime: 2d\n"
		"batch_window: 5s\n"
		"max_batch_keys: 7\n"
		"max_batch_bytes: 512K\n"
		"\n"
		"log: stderr\n"
		"mail_commands: no\n"
		"reply_limit: 3/10m\n"
		"reply_limit_total: 50/1d\n"
		"max_reply_keys: 5\n";

	CHECK_OK(parse(&cfg, text, &err), &err);
	CHECK_STR(cfg.spool_dir, "/tmp/spool");
	CHECK_STR(cfg.keydb, "hkp://127.0.0.1:11371");
	CHECK_STR(cfg.from_addr_bare, "pgp-public-keys@example.org");
	CHECK_STR(cfg.smtp_host, "::1");
	CHECK_INT(cfg.smtp_port, 2525);
	CHECK_STR(cfg.sendmail_argv[0], "/usr/sbin/sendmail");
	CHECK_STR(cfg.sendmail_argv[2], "-oi");
	CHECK(cfg.sendmail_argv[3] == NULL);
	CHECK_INT(cfg.max_message_size, 2 << 20);
	CHECK_INT(cfg.max_keys_per_message, 10);
	CHECK_INT(cfg.max_key_size, 64 << 10);
	CHECK_INT(cfg.dedup_ttl, 36 * 3600);
	CHECK_INT(cfg.retry_count, 3);
	CHECK_INT(config_retry_delay(&cfg, 1), 10);
	CHECK_INT(config_retry_delay(&cfg, 3), 3600);
	CHECK_INT(config_retry_delay(&cfg, 9), 3600);
	CHECK_INT(cfg.max_queue_lifetime, 2 * 86400);
	CHECK_INT(cfg.batch_window, 5);
	CHECK_INT(cfg.max_batch_keys, 7);
	CHECK_INT(cfg.max_batch_bytes, 512 << 10);
	CHECK_INT(cfg.log_dest, LOG_DEST_STDERR);
	CHECK_INT(cfg.mail_commands, 0);
	CHECK_INT(cfg.reply_limit.count, 3);
	CHECK_INT(cfg.reply_limit.period, 600);
	CHECK_INT(cfg.reply_limit_total.count, 50);
	CHECK_INT(cfg.reply_limit_total.period, 86400);
	CHECK_INT(cfg.max_reply_keys, 5);
	config_free(&cfg);
}

static void
test_errors_name_file_line_key(void)
{
	static const struct { const char *text, *want; } cases[] = {
		{ "bogus_key: 1\n", "test.conf, line 1: unknown key \"bogus_key\"" },
		{ "\n\nmax_key_size: lots\n", "test.conf, line 3: max_key_size:" },
		{ "dedup_ttl: 7x\n", "test.conf, line 1: dedup_ttl:" },
		{ "keydb: mysql:foo\n", "test.conf, line 1: keydb:" },
		/* Checked by the key database layer's own rules: a relative
		 * directory was accepted here and refused at delivery. */
		{ "keydb: sks:var/spool/sks\n", "test.conf, line 1: keydb: sks: "
		  "needs an absolute directory" },
		{ "keydb: hkp://host:0\n", "test.conf, line 1: keydb: bad port" },
		{ "smtp_relay: host:0\n", "test.conf, line 1: smtp_relay:" },
		{ "smtp_relay: host:99999\n", "test.conf, line 1: smtp_relay:" },
		{ "from_addr: nobody\n", "test.conf, line 1: from_addr:" },
		{ "log: file\n", "test.conf, line 1: log:" },
		{ "retry_schedule: 1m,,x\n", "test.conf, line 1: retry_schedule:" },
		{ "spool_dir: relative/path\n", "test.conf, line 1: spool_dir:" },
		{ "sendmail_cmd: sendmail -t\n", "test.conf, line 1: sendmail_cmd:" },
		{ "spool_dir\n", "test.conf, line 1: expected \"key: value\"" },
		{ "log:\n", "test.conf, line 1: log: missing value" },
		{ "mail_commands: maybe\n", "test.conf, line 1: mail_commands: expected yes or no" },
		{ "reply_limit: 10\n", "test.conf, line 1: reply_limit: expected N/DURATION" },
		{ "reply_limit_total: 0/1h\n", "test.conf, line 1: reply_limit_total:" },
		{ "max_reply_keys: 0\n", "test.conf, line 1: max_reply_keys: expected a number" },
		{ "max_reply_keys: 1001\n", "test.conf, line 1: max_reply_keys:" },
		{ "max_reply_keys: 5K\n", "test.conf, line 1: max_reply_keys:" },
		{ "third_party_certs: some\n", "test.conf, line 1: "
		  "third_party_certs: expected owner, approved, none or all" },
		{ "max_certs_per_uid: 100001\n", "test.conf, line 1: "
		  "max_certs_per_uid: expected a number from 0 to 100000" },
		{ "max_certs_per_uid: -1\n", "test.conf, line 1: max_certs_per_uid:" },
		{ "max_certs_per_uid: 1K\n", "test.conf, line 1: max_certs_per_uid:" },
		{ "max_uid_size: 8\n", "test.conf, line 1: max_uid_size:" },
		{ "max_sig_size: 64\n", "test.conf, line 1: max_sig_size:" },
		{ "user_attributes: yes\n", "test.conf, line 1: user_attributes: "
		  "expected drop or keep" },
		{ "blocklist_file: evil32.list\n", "test.conf, line 1: "
		  "blocklist_file: expected an absolute path" },
		{ "\nblocklist_file: /nonexistent/evil32\n", "test.conf, line 2: "
		  "blocklist_file: cannot read it: No such file" },
	};

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct config cfg;
		struct pb_err err;

		pb_err_clear(&err);
		CHECK_MSG(parse(&cfg, cases[i].text, &err) == -1,
			  "case %zu accepted", i);
		CHECK_INT(err.status, PB_ECONFIG);
		CHECK_MSG(strncmp(err.msg, cases[i].want, strlen(cases[i].want)) == 0,
			  "case %zu: got \"%s\", want prefix \"%s\"", i, err.msg,
			  cases[i].want);
		config_free(&cfg);
	}
}

/* The key policy's keys, and what config_policy_settings makes of them. */
static void
test_policy_keys(void)
{
	struct config cfg;
	struct pb_err err;
	struct policy_settings ps;
	char text[600];

	snprintf(text, sizeof text,
		 "third_party_certs: approved\n"
		 "max_certs_per_uid: 0\n"
		 "max_uid_size: 2K\n"
		 "max_sig_size: 64K\n"
		 "user_attributes: keep\n"
		 "max_key_size: 2M\n"
		 "blocklist_file: %s\n", unit_data_path("policy/blocklist.txt"));
	CHECK_OK(parse(&cfg, text, &err), &err);
	CHECK_INT(cfg.third_party_certs, POLICY_TP_APPROVED);
	CHECK_INT(cfg.max_certs_per_uid, 0);
	CHECK_INT(cfg.max_uid_size, 2048);
	CHECK_INT(cfg.max_sig_size, 65536);
	CHECK_INT(cfg.user_attributes_keep, 1);
	CHECK_STR(cfg.blocklist_file, unit_data_path("policy/blocklist.txt"));
	config_policy_settings(&cfg, &ps);
	CHECK_INT(ps.third_party, POLICY_TP_APPROVED);
	CHECK_INT(ps.max_certs_per_uid, 0);
	CHECK_INT(ps.max_uid_size, 2048);
	CHECK_INT(ps.max_sig_size, 65536);
	CHECK_INT(ps.max_key_size, 2 << 20);
	CHECK_INT(ps.keep_user_attributes, 1);
	CHECK_INT(ps.keep_uids_when_revoked, 0);
	config_free(&cfg);
	for (int m = POLICY_TP_NONE; m <= POLICY_TP_ALL; m++) {
		snprintf(text, sizeof text, "third_party_certs: %s\n",
			 policy_third_party_name((enum policy_third_party)m));
		CHECK_OK(parse(&cfg, text, &err), &err);
		CHECK_INT(cfg.third_party_certs, m);
		config_free(&cfg);
	}
}

/* blocklist_file: fingerprints as people write them, comments, errors
 * with their line; and the real Evil32 list onak ships. */
static void
test_blocklist(void)
{
	struct blocklist bl;
	struct pb_err err;
	unsigned char fpr[PGP_FPR_MAX];
	size_t fl;
	char cmd[900], path[800];
	double t0;

	CHECK_OK(blocklist_load(unit_data_path("policy/blocklist.txt"), &bl,
				&err), &err);
	CHECK_INT(bl.n, 4);	/* one of the five is a repeat */
	CHECK(pgp_fpr_from_hex("D500F06E96A8037DD87C088B002124C4290DB9CE", fpr,
			       &fl) == 0);
	CHECK(blocklist_contains(&bl, fpr, fl));
	CHECK(blocklist_policy_fn(&bl, fpr, fl));
	fpr[19] ^= 1;
	CHECK(!blocklist_contains(&bl, fpr, fl));
	CHECK(pgp_fpr_from_hex("0x 4EB4C5E91961E4BEDA74BE64003E9B25143321A8",
			       fpr, &fl) == 0);
	CHECK(blocklist_contains(&bl, fpr, fl));
	CHECK(pgp_fpr_from_hex("cb186c4f0609a697e4d52dfa6c722b0c1f1e27c18a56708f"
			       "6525ec27bad9acc9", fpr, &fl) == 0);
	CHECK(blocklist_contains(&bl, fpr, fl));
	/* The first 20 octets of a listed v6 fingerprint are not a v4
	 * fingerprint on the list. */
	CHECK(!blocklist_contains(&bl, fpr, 20));
	blocklist_free(&bl);

	memset(&bl, 0, sizeof bl);
	CHECK(blocklist_parse("x.list", "# ok\n\n002124C4290DB9CE\n", 23, &bl,
			      &err) != 0);
	CHECK_INT(err.status, PB_ECONFIG);
	CHECK_MSG(strncmp(err.msg, "x.list, line 3: \"002124C4290DB9CE\" is not "
			  "a fingerprint", 45) == 0, "%s", err.msg);
	blocklist_free(&bl);
	CHECK(blocklist_load("/nonexistent", &bl, &err) != 0);
	CHECK(strstr(err.msg, "/nonexistent") != NULL);

	/* onak's Evil32 list, as an operator would install it. */
	if (access("/usr/share/doc/onak/evil32.blacklist.gz", R_OK) != 0) {
		printf("# skip: onak's evil32.blacklist.gz missing\n");
		return;
	}
	snprintf(path, sizeof path, "%s/evil32.list", unit_tmpdir());
	snprintf(cmd, sizeof cmd, "gzip -dc /usr/share/doc/onak/evil32.blacklist.gz "
		 ">'%s'", path);
	CHECK(system(cmd) == 0);
	t0 = unit_ms();
	CHECK_OK(blocklist_load(path, &bl, &err), &err);
	printf("# blocklist: evil32: %zu fingerprints read in %.1f ms\n", bl.n,
	       unit_ms() - t0);
	CHECK_INT(bl.n, 23844);
	CHECK(pgp_fpr_from_hex("BB5649D0885E9496AF526BD7005C97E588A91FA3", fpr,
			       &fl) == 0);
	CHECK(blocklist_contains(&bl, fpr, fl));
	blocklist_free(&bl);
}

static void
test_units(void)
{
	int64_t d;
	uint64_t s;
	char buf[32];

	CHECK(config_parse_duration("90", &d) == 0 && d == 90);
	CHECK(config_parse_duration("1h30m", &d) == 0 && d == 5400);
	CHECK(config_parse_duration("", &d) == -1);
	CHECK(config_parse_duration("-5s", &d) == -1);
	CHECK(config_parse_duration("99999999999999999999d", &d) == -1);
	CHECK(config_parse_size("16M", &s) == 0 && s == 16u << 20);
	CHECK(config_parse_size("4k", &s) == 0 && s == 4096);
	CHECK(config_parse_size("1MB", &s) == 0 && s == 1u << 20);
	CHECK(config_parse_size("1T", &s) == -1);
	CHECK(config_parse_size("M", &s) == -1);
	CHECK_STR(config_format_duration(5400, buf, sizeof buf), "1h30m");
	CHECK_STR(config_format_duration(0, buf, sizeof buf), "0s");
}

/* "N/DURATION", the form of reply_limit and reply_limit_total. */
static void
test_ratelimit_values(void)
{
	static const struct { const char *s; int ok; uint32_t n; int64_t p; } cases[] = {
		{ "10/1h", 1, 10, 3600 }, { "1000/1h", 1, 1000, 3600 },
		{ "5/90s", 1, 5, 90 }, { "1/1d", 1, 1, 86400 },
		{ "100000/366d", 1, 100000, 366 * 86400 },
		{ "3/1h30m", 1, 3, 5400 }, { "7/60", 1, 7, 60 },
		{ "0/1h", 0, 0, 0 }, { "100001/1h", 0, 0, 0 },
		{ "10/0s", 0, 0, 0 }, { "10/367d", 0, 0, 0 },
		{ "10", 0, 0, 0 }, { "/1h", 0, 0, 0 }, { "10/", 0, 0, 0 },
		{ "-1/1h", 0, 0, 0 }, { " 10/1h", 0, 0, 0 }, { "10 /1h", 0, 0, 0 },
		{ "10/1x", 0, 0, 0 }, { "99999999999999999999/1h", 0, 0, 0 },
		{ "", 0, 0, 0 },
	};

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct ratelimit l = { 0, 0 };
		int r = config_parse_ratelimit(cases[i].s, &l);

		CHECK_MSG((r == 0) == cases[i].ok, "\"%s\": %d", cases[i].s, r);
		if (cases[i].ok) {
			CHECK_INT(l.count, cases[i].n);
			CHECK_INT(l.period, cases[i].p);
		}
	}
	CHECK(config_parse_ratelimit(NULL, &(struct ratelimit){ 0, 0 }) == -1);
}

static void
test_files(void)
{
	const char *dir = unit_tmpdir();
	char path[512];
	struct config cfg;
	struct pb_err err;
	FILE *f;

	snprintf(path, sizeof path, "%s/missing.conf", dir);
	CHECK(config_load(&cfg, path, 0, &err) == -1);
	CHECK(strstr(err.msg, "missing.conf: cannot open") != NULL);
	config_free(&cfg);
	CHECK_OK(config_load(&cfg, path, 1, &err), &err);
	CHECK(cfg.path == NULL);
	config_free(&cfg);

	snprintf(path, sizeof path, "%s/ok.conf", dir);
	f = fopen(path, "w");
	CHECK(f != NULL);
	fprintf(f, "spool_dir: %s/spool\n", dir);
	fclose(f);
	chmod(path, 0644);
	CHECK_OK(config_load(&cfg, path, 0, &err), &err);
	CHECK_STR(cfg.path, path);
	config_free(&cfg);

	chmod(path, 0666);
	CHECK(config_load(&cfg, path, 0, &err) == -1);
	CHECK(strstr(err.msg, "world-writable") != NULL);
	config_free(&cfg);
}

static void
test_extract_addr(void)
{
	char *a;

	a = config_extract_addr("PGP Key Server <pgp-public-keys@Host.Example>");
	CHECK_STR(a, "pgp-public-keys@host.example");
	free(a);
	a = config_extract_addr(" keys@x.org ");
	CHECK_STR(a, "keys@x.org");
	free(a);
	CHECK(config_extract_addr("no address") == NULL);
	CHECK(config_extract_addr("<broken@x") == NULL);
	CHECK(config_extract_addr("a@b\r\nBcc: x@y") == NULL);
	/* Found by fuzz_sendmail (tests/data/fuzz-regress/sendmail/
	 * rcpt-with-control-char): a recipient argument with a control
	 * character became an outbound peer. */
	CHECK(config_extract_addr("a@b.example\001X") == NULL);
	CHECK(config_extract_addr("a\177@b.example") == NULL);
	CHECK(config_extract_addr("Name <a@b\tc>") == NULL);
}

int
main(int argc, char **argv)
{
	static const struct unit_test tests[] = {
		{ "defaults", test_defaults },
		{ "every key", test_every_key },
		{ "errors name file, line and key", test_errors_name_file_line_key },
		{ "key policy keys", test_policy_keys },
		{ "blocklist_file", test_blocklist },
		{ "units", test_units },
		{ "reply limits: N/DURATION", test_ratelimit_values },
		{ "files", test_files },
		{ "extract address", test_extract_addr },
		{ NULL, NULL },
	};

	return unit_run(argc, argv, "config", tests);
}
