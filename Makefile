# pksbridge - mail gateway between the SKS and PKS keyserver networks.
#
#   make            build build/pksbridge (and the sks_add_mail link)
#   make check      bootstrap packages, build, run unit + integration tests
#   make run        the demo: ingest bundled PKS mails into a GnuPG keyring
#   make install    PREFIX=/usr/local DESTDIR= (sbindir, mandir, sysconfdir)
#   make asan       the same tests in an AddressSanitizer+UBSan build
#   make asan-unit  only the unit tests, in that build (what CI runs)
#   make test-bins  build the program and the unit test binaries, run nothing
#
# Everything built goes under $(BUILD) so several flavours can coexist.

PREFIX     ?= /usr/local
EXEC_PREFIX ?= $(PREFIX)
SBINDIR    ?= $(EXEC_PREFIX)/sbin
sbindir    ?= $(SBINDIR)
MANDIR     ?= $(PREFIX)/share/man
mandir     ?= $(MANDIR)
SYSCONFDIR ?= $(if $(filter /usr,$(PREFIX)),/etc,$(PREFIX)/etc)
sysconfdir ?= $(SYSCONFDIR)
DOCDIR     ?= $(PREFIX)/share/doc/pksbridge
DESTDIR    ?=

BUILD      ?= build
CC         ?= cc
PKG_CONFIG ?= pkg-config
VERSION    := $(shell cat VERSION 2>/dev/null || echo 0.0.0)

PKGS       := libetpan gpgme nettle
# libcurl: headers only; keydb_hkp.c dlopen()s it (see there).
PKG_CFLAGS := $(shell $(PKG_CONFIG) --cflags $(PKGS) libcurl 2>/dev/null)
# libetpan is linked statically: we use its MIME, IMF and SMTP objects,
# and the shared library would drag in GnuTLS, SASL and p11-kit, whose
# relocation alone doubled the filter's start-up CPU (every mail starts
# a process).  Its .pc also adds dpkg's gcc-only -specs flag (clang
# rejects it) and -z now; both are dropped, --as-needed trims the rest.
PKG_LIBS   := -Wl,--as-needed -Wl,-Bstatic -letpan -Wl,-Bdynamic \
              $(filter-out -letpan -specs=% -Wl%,$(shell $(PKG_CONFIG) --libs --static libetpan 2>/dev/null)) \
              $(shell $(PKG_CONFIG) --libs gpgme nettle 2>/dev/null)

WARN       := -Wall -Wextra -Werror -Wshadow -Wpointer-arith -Wstrict-prototypes \
              -Wmissing-prototypes -Wformat=2 -Wno-format-nonliteral
CFLAGS     ?= -O2 -g
ALL_CFLAGS := -std=c17 -D_GNU_SOURCE $(WARN) $(CFLAGS) $(EXTRA_CFLAGS) \
              -DPB_VERSION='"$(VERSION)"' -DSYSCONFDIR='"$(sysconfdir)"' \
              -Isrc $(PKG_CFLAGS)
LDLIBS_ALL := $(PKG_LIBS) -ldb $(EXTRA_LDFLAGS)

LIB_SRCS   := $(filter-out src/main.c,$(wildcard src/*.c)) $(wildcard filters/*.c)
LIB_OBJS   := $(patsubst %.c,$(BUILD)/%.o,$(LIB_SRCS))
LIB        := $(BUILD)/libpksbridge.a
BIN        := $(BUILD)/pksbridge
TEST_SRCS  := $(wildcard tests/test_*.c)
TEST_BINS  := $(patsubst tests/%.c,$(BUILD)/tests/%,$(TEST_SRCS))
TEST_LIB_SRCS := $(filter-out $(TEST_SRCS),$(wildcard tests/*.c))
# Helper programs for integration tests and benchmarks (not unit tests).
TOOL_SRCS  := $(wildcard tests/tools/*.c)
TOOL_BINS  := $(patsubst tests/tools/%.c,$(BUILD)/tests/tools/%,$(TOOL_SRCS))
TEST_LIB_OBJS := $(patsubst %.c,$(BUILD)/%.o,$(TEST_LIB_SRCS))

.PHONY: all check unit integration run install uninstall clean asan bootstrap \
        bench fuzz lint man-lint

all: $(BIN) $(BUILD)/sks_add_mail

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -MMD -MP -c -o $@ $<

$(LIB): $(LIB_OBJS)
	@rm -f $@
	ar rcs $@ $^

$(BIN): $(BUILD)/src/main.o $(LIB)
	$(CC) $(ALL_CFLAGS) -o $@ $^ $(LDLIBS_ALL)

# The drop-in is the same binary, chosen by argv[0] as smtpctl does.
$(BUILD)/sks_add_mail: $(BIN)
	ln -sf pksbridge $@

$(BUILD)/tests/tools/%: $(BUILD)/tests/tools/%.o $(LIB)
	$(CC) $(ALL_CFLAGS) -o $@ $^ $(LDLIBS_ALL)

$(BUILD)/tests/test_%: $(BUILD)/tests/test_%.o $(TEST_LIB_OBJS) $(LIB)
	$(CC) $(ALL_CFLAGS) -o $@ $^ $(LDLIBS_ALL)

bootstrap:
	@sh scripts/bootstrap

# Unit tests, then integration tests with real SKS, exim4, procmail, gpg.
# tests/run prints one line per test and ends with "N passed, N failed".
check: bootstrap
	$(MAKE) all $(TEST_BINS) $(TOOL_BINS)
	BUILD=$(BUILD) sh tests/run $(TESTS)

unit: all $(TEST_BINS) $(TOOL_BINS)
	BUILD=$(BUILD) sh tests/run --unit

integration: all $(TEST_BINS) $(TOOL_BINS)
	BUILD=$(BUILD) sh tests/run --integration

asan:
	$(MAKE) BUILD=build-asan CC=clang \
	  CFLAGS="-O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all" \
	  EXTRA_LDFLAGS="-fsanitize=address,undefined" check

# Integration tests drive real daemons whose timing an ASan build stretches;
# CI runs the unit tests under the sanitizers and everything in `check`.
asan-unit:
	$(MAKE) asan TESTS=--unit

test-bins: all $(TEST_BINS) $(TOOL_BINS)

.PHONY: asan-unit test-bins

run: bootstrap all
	sh scripts/demo $(BIN)

install: all
	install -d $(DESTDIR)$(sbindir) $(DESTDIR)$(mandir)/man8 $(DESTDIR)$(mandir)/man5 \
	  $(DESTDIR)$(sysconfdir) $(DESTDIR)$(DOCDIR)
	install -m 0755 $(BIN) $(DESTDIR)$(sbindir)/pksbridge
	ln -sf pksbridge $(DESTDIR)$(sbindir)/sks_add_mail
	for m in man/*.8; do [ -e "$$m" ] && install -m 0644 $$m $(DESTDIR)$(mandir)/man8/; done; true
	for m in man/*.5; do [ -e "$$m" ] && install -m 0644 $$m $(DESTDIR)$(mandir)/man5/; done; true
	[ -e $(DESTDIR)$(sysconfdir)/pksbridge.conf ] || \
	  install -m 0644 conf/pksbridge.conf $(DESTDIR)$(sysconfdir)/pksbridge.conf
	cp -R contrib $(DESTDIR)$(DOCDIR)/
	install -m 0644 README.md $(DESTDIR)$(DOCDIR)/

uninstall:
	rm -f $(DESTDIR)$(sbindir)/pksbridge $(DESTDIR)$(sbindir)/sks_add_mail
	for m in man/*.8; do rm -f $(DESTDIR)$(mandir)/man8/$$(basename $$m); done
	for m in man/*.5; do rm -f $(DESTDIR)$(mandir)/man5/$$(basename $$m); done
	rm -rf $(DESTDIR)$(DOCDIR)

clean:
	rm -rf build build-asan build-fuzz

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
