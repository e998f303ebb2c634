/*
 * fuzz_mailparse.c - libFuzzer entry point for mailparse: any byte string
 * is a mail; mail_parse_headers and mail_walk_parts must neither crash,
 * hang nor read outside it.  The callbacks read every byte handed to them
 * so that the sanitizers see a part that points outside the mail or a
 * freed decode buffer.  make fuzz builds and runs it (fuzz/run); by hand:
 *
 *   make fuzz-build
 *   build-fuzz/fuzz_mailparse -max_total_time=60 -max_len=65536 \
 *     -timeout=5 CORPUS_DIR tests/data/mails
 *
 * With -DFUZZ_STANDALONE (and without -fsanitize=fuzzer) it gets a main()
 * that runs each file named on the command line once, to replay a crash
 * or measure one mail (`/usr/bin/time -v`) with any compiler.
 */
#include "mail/mailparse.h"

#include <stddef.h>
#include <stdint.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct sink {
	unsigned long sum;
	size_t parts;
	size_t problems;
};

static int
on_part(void *ctx, const char *type, const char *data, size_t len)
{
	struct sink *s = ctx;
	size_t i;

	s->parts++;
	s->sum += strlen(type);
	for (i = 0; i < len; i++)
		s->sum += (unsigned char)data[i];
	return 0;
}

static void
on_problem(void *ctx, const char *reason)
{
	struct sink *s = ctx;

	s->problems++;
	s->sum += strlen(reason);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mail_headers h;
	struct pb_err err;
	struct sink s = { 0, 0, 0 };
	size_t i;

	if (mail_parse_headers((const char *)data, size, &h, &err) == 0) {
		s.sum += h.subject ? strlen(h.subject) : 0;
		s.sum += h.message_id ? strlen(h.message_id) : 0;
		s.sum += h.from ? strlen(h.from) : 0;
		s.sum += strlen(h.content_type);
		for (i = 0; i < h.n_keyserver_sent; i++)
			s.sum += strlen(h.keyserver_sent[i]);
		mail_headers_free(&h);
	}
	mail_walk_parts((const char *)data, size, on_part, on_problem, &s);
	{
		/* The reads above must not be optimised away. */
		volatile unsigned long keep = s.sum + s.parts + s.problems;

		(void)keep;
	}
	return 0;
}

#ifdef FUZZ_STANDALONE
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

/* Reads each file with exactly one allocation of its size, so that a
 * peak RSS measurement shows the parser's memory, not stdio's. */
int
main(int argc, char **argv)
{
	int i;

	for (i = 1; i < argc; i++) {
		struct stat st;
		FILE *f = fopen(argv[i], "rb");
		uint8_t *buf;

		if (f == NULL || fstat(fileno(f), &st) != 0) {
			perror(argv[i]);
			return 1;
		}
		buf = malloc((size_t)st.st_size + 1);
		if (buf == NULL ||
		    fread(buf, 1, (size_t)st.st_size, f) != (size_t)st.st_size) {
			fprintf(stderr, "%s: read failed\n", argv[i]);
			return 1;
		}
		fclose(f);
		LLVMFuzzerTestOneInput(buf, (size_t)st.st_size);
		free(buf);
	}
	return 0;
}
#endif
