/*
 * main.c - the pksbridge command: picks the role from argv[0]
 * (sks_add_mail) or from the first argument, and owns exit codes.
 */
#include <stdio.h>
#include <string.h>

int
main(int argc, char **argv)
{
	if (argc > 1 && strcmp(argv[1], "--version") == 0) {
		printf("pksbridge %s\n", PB_VERSION);
		return 0;
	}
	return 64;
}
