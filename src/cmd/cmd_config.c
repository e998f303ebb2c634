/*
 * cmd_config.c - the configuration every command runs with (see
 * commands.h): -c FILE, else $PKSBRIDGE_CONF, else the built-in path,
 * which may be absent (then the built-in defaults apply).
 */
#include "cmd/commands.h"

int
cmd_load_config(const struct cmd_ctx *ctx, struct config *cfg,
		struct pb_err *err)
{
	int explicit_path;
	const char *path = config_path(ctx->config_path, &explicit_path);

	return config_load(cfg, path, !explicit_path, err);
}
