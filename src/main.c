/*
 * main.c - the pksbridge command.
 *
 * One binary, several roles, as smtpctl/sendmail do it: the role comes
 * from argv[0] ("sks_add_mail") or from the first non-option argument.
 * main() owns nothing but dispatch; each command returns its exit code.
 */
#include "cmd/commands.h"
#include "util/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

static void
usage(FILE *f)
{
	fprintf(f,
		"usage: pksbridge [-c FILE] COMMAND [ARGS]\n"
		"\n"
		"Mail gateway between the SKS and PKS keyserver networks.\n"
		"\n"
		"MTA-facing commands (exit 0, or 75 so the MTA retries):\n"
		"  ingest [--origin pks|local]    read one PKS mail on stdin\n"
		"  sendmail [-t] [-i] [-f ADDR] [RCPT...]\n"
		"                                 outbound intake for SKS's sendmail_cmd\n"
		"  (as sks_add_mail BASEDIR)      drop-in for SKS's sks_add_mail\n"
		"\n"
		"Operator commands:\n"
		"  run [--once]                   the queue runner\n"
		"  queue list [--all] [--json] [FILTERS]\n"
		"                                 what is in flight\n"
		"  queue show ID [--json]         one entry, payload included\n"
		"  queue stats [--json|--prometheus]\n"
		"                                 counts, ages, per-peer state\n"
		"  queue retry|hold|release|delete ID...|-|--all [FILTERS]\n"
		"  queue flush                    deferred entries due now, wake the runner\n"
		"  queue purge DURATION           delete finished entries older than that\n"
		"  dedup lookup FINGERPRINT [--json]\n"
		"                                 what the dedup index knows about a key\n"
		"  policy check|filter [FILE|-] [--json]\n"
		"                                 the key policy on keys, queueing nothing\n"
		"  block add FPR... [--reason TEXT] | block remove FPR... | block list [--json]\n"
		"                                 the operator's blocklist\n"
		"\n"
		"  -c FILE    configuration file (default: $PKSBRIDGE_CONF, else\n"
		"             " CONFIG_DEFAULT_PATH ")\n"
		"  --help     this text; COMMAND --help for one command\n"
		"  --version  the version\n"
		"\n"
		"See pksbridge(8), pksbridge.conf(5), sks_add_mail(8).\n");
}

/* is_filter - an MTA-facing command, which exits only 0 or 75. */
static int
is_filter(const char *cmd)
{
	return strcmp(cmd, "ingest") == 0 || strcmp(cmd, "sks_add_mail") == 0;
}

/* filter_command - the MTA-facing command among argv[from..], or NULL.
 * Used when the arguments cannot be parsed, so which word is the command
 * is a guess; any of them naming a filter makes the failure a deferral
 * (exit 75) rather than a usage error that the MTA would bounce. */
static const char *
filter_command(int argc, char **argv, int from)
{
	for (int i = from; i < argc; i++)
		if (is_filter(argv[i]))
			return argv[i];
	return NULL;
}

static const char *
base_name(const char *p)
{
	const char *s = strrchr(p, '/');

	return s ? s + 1 : p;
}

/* take_config_opt - remove "-c FILE" / "--config FILE" / "--config=FILE"
 * from argv[from..] (commands accept it after their name too). */
static int
take_config_opt(int *argc, char **argv, int from, const char **path)
{
	for (int i = from; i < *argc; i++) {
		int n = 0;

		if ((strcmp(argv[i], "-c") == 0 || strcmp(argv[i], "--config") == 0)) {
			if (i + 1 >= *argc)
				return -1;
			*path = argv[i + 1];
			n = 2;
		} else if (strncmp(argv[i], "--config=", 9) == 0) {
			*path = argv[i] + 9;
			n = 1;
		} else if (strcmp(argv[i], "--") == 0) {
			break;
		}
		if (n) {
			memmove(&argv[i], &argv[i + n],
				(size_t)(*argc - i - n + 1) * sizeof *argv);
			*argc -= n;
			i--;
		}
	}
	return 0;
}

int
main(int argc, char **argv)
{
	struct cmd_ctx ctx = { NULL, argc > 0 ? argv[0] : "pksbridge" };
	const char *cmd;
	int i;

	log_open(NULL, LOG_DEST_STDERR, 0);
	if (strcmp(base_name(ctx.argv0), "sks_add_mail") == 0)
		return cmd_sks_add_mail(&ctx, argc, argv);

	for (i = 1; i < argc && argv[i][0] == '-'; i++) {
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			usage(stdout);
			return 0;
		} else if (strcmp(argv[i], "--version") == 0 ||
			   strcmp(argv[i], "-V") == 0) {
			printf("pksbridge %s\n", PB_VERSION);
			return 0;
		} else if ((strcmp(argv[i], "-c") == 0 ||
			    strcmp(argv[i], "--config") == 0) && i + 1 < argc) {
			ctx.config_path = argv[++i];
		} else if (strncmp(argv[i], "--config=", 9) == 0) {
			ctx.config_path = argv[i] + 9;
		} else if (strncmp(argv[i], "-c", 2) == 0 && argv[i][2]) {
			ctx.config_path = argv[i] + 2;
		} else {
			const char *fc = filter_command(argc, argv, i + 1);
			char why[256];

			snprintf(why, sizeof why, "unknown option %s", argv[i]);
			if (fc)
				return cmd_filter_bad_usage(fc, why);
			log_stderr("%s (try --help)", why);
			return EX_USAGE;
		}
	}
	if (i >= argc) {
		usage(stderr);
		return EX_USAGE;
	}
	cmd = argv[i];
	argc -= i;
	argv += i;
	/* sendmail has its own -c semantics (ignored, as in Postfix). */
	if (strcmp(cmd, "sendmail") != 0 &&
	    take_config_opt(&argc, argv, 1, &ctx.config_path) != 0) {
		if (is_filter(cmd))
			return cmd_filter_bad_usage(cmd, "-c needs a file name");
		log_stderr("-c needs a file name");
		return EX_USAGE;
	}
	if (strcmp(cmd, "ingest") == 0)
		return cmd_ingest(&ctx, argc, argv);
	if (strcmp(cmd, "sks_add_mail") == 0)
		return cmd_sks_add_mail(&ctx, argc, argv);
	if (strcmp(cmd, "sendmail") == 0)
		return cmd_sendmail(&ctx, argc, argv);
	if (strcmp(cmd, "run") == 0)
		return cmd_run(&ctx, argc, argv);
	if (strcmp(cmd, "queue") == 0)
		return cmd_queue(&ctx, argc, argv);
	if (strcmp(cmd, "dedup") == 0)
		return cmd_dedup(&ctx, argc, argv);
	if (strcmp(cmd, "policy") == 0)
		return cmd_policy(&ctx, argc, argv);
	if (strcmp(cmd, "block") == 0)
		return cmd_block(&ctx, argc, argv);
	if (strcmp(cmd, "help") == 0) {
		usage(stdout);
		return 0;
	}
	log_stderr("unknown command \"%s\" (try --help)", cmd);
	return EX_USAGE;
}
