# pksbridge - mail gateway between the SKS and PKS keyserver networks.
#
#   make            build build/pksbridge (and the sks_add_mail link)
#   make check      bootstrap packages, build, run unit + integration tests
#   make run        the demo: ingest bundled PKS mails into a GnuPG keyring
#   make bench      pksbridge vs SKS's own mail path, table + bench/results/
#   make install    PREFIX=/usr/local DESTDIR= (sbindir, mandir, sysconfdir,
#                   docdir, systemdunitdir, sysusersdir, tmpfilesdir)
#   make uninstall  the same variables; keeps an edited pksbridge.conf
#   make lint-man   mandoc -Tlint on the man pages (what CI runs)
#   make deb        the Debian package, $(BUILD)/pksbridge_VERSION_ARCH.deb
#   make test-systemd  that package's runner under a real systemd (nspawn)
#   make asan       the same tests in an AddressSanitizer+UBSan build
#   make asan-unit  only the unit tests, in that build (what CI runs)
#   make test-bins  build the program and the unit test binaries, run nothing
#   make fuzz       build the libFuzzer targets into build-fuzz/ (clang,
#                   -fsanitize=fuzzer,address,undefined) and run each for
#                   FUZZ_SECONDS (default 60); fails on any crash
#   make test-crash the long crash-safety suite (over 5,000 SIGKILLs)
#   make test-load  the load suite (2,000 mails, 16 ingests at once, SKS)
#   make lab        the end-to-end lab: SKS <-> pksbridge <-> Exim <-> onak on
#                   loopback, 200 keys each way (LAB_KEYS=N to change), and
#                   a keyserver pool: two SKS in recon, a gateway each
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
docdir     ?= $(DOCDIR)
# systemd looks in /usr/local/lib/... too, so these follow PREFIX.
systemdunitdir ?= $(PREFIX)/lib/systemd/system
sysusersdir ?= $(PREFIX)/lib/sysusers.d
tmpfilesdir ?= $(PREFIX)/lib/tmpfiles.d
DESTDIR    ?=

BUILD      ?= build
CC         ?= cc
PKG_CONFIG ?= pkg-config
VERSION    := $(shell cat VERSION 2>/dev/null || echo 0.0.0)

# hogweed is Nettle's public-key half (RSA, DSA, ECDSA, EdDSA): the key
# policy verifies signatures with it (openpgp/sigverify.c), and fills its
# GMP bignums itself, hence gmp.
PKGS       := libetpan gpgme nettle hogweed gmp
# The package flags are asked of pkg-config when a recipe first needs them,
# never while make reads this file: on a fresh machine `make run` and `make
# check` install the packages (scripts/bootstrap) only after that, and
# flags read at parse time were empty there (undefined gpgme_* at link).
# lazy_once NAME,VALUE: NAME is recursive until first expanded, then
# becomes a simple variable holding VALUE, so pkg-config runs once per make.
lazy_once  = $(eval $(1) := $(2))$($(1))
# pkg_config ARGS: pkg-config's answer, or a stop that says what to do,
# instead of a link that fails forty lines later.
pkg_config = $(call pkg_answer,$(shell $(PKG_CONFIG) $(1) 2>/dev/null || echo PKG_CONFIG_FAILED))
pkg_answer = $(if $(filter PKG_CONFIG_FAILED,$(1)),$(error pkg-config does not \
  know all of $(PKGS) libcurl: install the build packages first (as root: \
  make bootstrap)),$(1))
, := ,
# libcurl: headers only; keydb_hkp.c dlopen()s it (see there).
PKG_CFLAGS = $(call lazy_once,PKG_CFLAGS,$(call pkg_config,--cflags $(PKGS) libcurl))
# libetpan is linked statically: we use its MIME, IMF and SMTP objects,
# and the shared library would drag in GnuTLS, SASL and p11-kit, whose
# relocation alone doubled the filter's start-up CPU (every mail starts
# a process).  Its .pc also adds dpkg's gcc-only -specs flag (clang
# rejects it) and -z now; both are dropped, --as-needed trims the rest.
PKG_LIBS   = $(call lazy_once,PKG_LIBS,-Wl$(,)--as-needed -Wl$(,)-Bstatic -letpan -Wl$(,)-Bdynamic \
              $(filter-out -letpan -specs=% -Wl%,$(call pkg_config,--libs --static libetpan)) \
              $(call pkg_config,--libs gpgme nettle hogweed gmp))

WARN       := -Wall -Wextra -Werror -Wshadow -Wpointer-arith -Wstrict-prototypes \
              -Wmissing-prototypes -Wformat=2 -Wno-format-nonliteral
CFLAGS     ?= -O2 -g
# Recursive (=), so that PKG_CFLAGS and PKG_LIBS are expanded only in recipes.
ALL_CFLAGS = -std=c17 -D_GNU_SOURCE $(WARN) $(CFLAGS) $(EXTRA_CFLAGS) \
              -DPB_VERSION='"$(VERSION)"' -DSYSCONFDIR='"$(sysconfdir)"' \
              -Isrc $(PKG_CFLAGS)
LDLIBS_ALL = $(PKG_LIBS) -ldb $(EXTRA_LDFLAGS)

# src/LAYER/*.c is the library, one folder per layer (src/README); main.c
# is the command.
LIB_SRCS   := $(wildcard src/*/*.c) $(wildcard filters/*.c)
LIB_OBJS   := $(patsubst %.c,$(BUILD)/%.o,$(LIB_SRCS))
LIB        := $(BUILD)/libpksbridge.a
BIN        := $(BUILD)/pksbridge
# Unit tests mirror src/: tests/LAYER/test_MODULE.c; tests/lib/*.c is
# what they share.
TEST_SRCS  := $(wildcard tests/*/test_*.c)
TEST_BINS  := $(patsubst tests/%.c,$(BUILD)/tests/%,$(TEST_SRCS))
TEST_LIB_SRCS := $(wildcard tests/lib/*.c)
# Helper programs for integration tests and benchmarks (not unit tests).
TOOL_SRCS  := $(wildcard tests/tools/*.c)
TOOL_BINS  := $(patsubst tests/tools/%.c,$(BUILD)/tests/tools/%,$(TOOL_SRCS))
TEST_LIB_OBJS := $(patsubst %.c,$(BUILD)/%.o,$(TEST_LIB_SRCS))

.PHONY: all check unit integration run install uninstall clean asan bootstrap \
        bench fuzz lint lint-man man-lint

all: $(BIN) $(BUILD)/sks_add_mail

# The compiled-in configuration path follows sysconfdir: the objects that
# hold it are rebuilt when it changes (make install sysconfdir=/etc after
# a plain make must not install a binary that looks in /usr/local/etc).
SYSCONF_STAMP := $(BUILD)/sysconfdir.stamp
ifneq ($(shell cat $(SYSCONF_STAMP) 2>/dev/null),$(sysconfdir))
$(shell mkdir -p $(BUILD) && echo '$(sysconfdir)' >$(SYSCONF_STAMP))
endif
$(BUILD)/src/config/config.o $(BUILD)/src/main.o $(BUILD)/filters/ingest.o: $(SYSCONF_STAMP)

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

$(TEST_BINS): $(BUILD)/tests/%: $(BUILD)/tests/%.o $(TEST_LIB_OBJS) $(LIB)
	$(CC) $(ALL_CFLAGS) -o $@ $(filter-out $(LIB),$^) $(LIB) $(LDLIBS_ALL)

# Test sources include their shared helpers as "lib/unit.h".
$(BUILD)/tests/%.o: ALL_CFLAGS += -Itests

# test_fuzz_regress replays tests/data/fuzz-regress/NAME/* through the
# fuzz targets themselves, compiled (with any compiler, no libFuzzer) under
# the names fuzz_one_NAME.
FUZZ_TARGETS := armor config extract mailcmd mailparse pgp policy sendmail
FUZZ_REGRESS_OBJS := $(patsubst %,$(BUILD)/fuzz/regress_%.o,$(FUZZ_TARGETS))
$(BUILD)/fuzz/regress_%.o: fuzz/fuzz_%.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -Ifilters -DLLVMFuzzerTestOneInput=fuzz_one_$* -MMD -MP -c -o $@ $<
$(BUILD)/tests/fuzz/test_fuzz_regress: $(FUZZ_REGRESS_OBJS)

bootstrap:
	@sh scripts/bootstrap

# Unit tests, then integration tests with real SKS, exim4, procmail, gpg.
# tests/run prints one line per test and ends with "N passed, N failed".
check: bootstrap
	$(MAKE) all $(TEST_BINS) $(TOOL_BINS) $(if $(filter --unit,$(TESTS)),,plant-build)
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

# The tools alone, named in the sub-make that builds them: $(TOOL_BINS)
# expanded by a parent make would carry the parent's $(BUILD).
tool-bins: $(TOOL_BINS)

.PHONY: asan-unit test-bins tool-bins

# Fuzzing: the library instrumented for coverage (fuzzer-no-link) and the
# sanitizers, each fuzz/fuzz_NAME.c linked against it with libFuzzer's
# main().  fuzz/run seeds each target from tests/data, replays
# tests/data/fuzz-regress/NAME, runs it and reports executions per target.
FUZZ_SECONDS ?= 60
FUZZ_BINS  := $(patsubst %,build-fuzz/fuzz_%,$(FUZZ_TARGETS))

fuzz-build:
	$(MAKE) BUILD=build-fuzz CC=clang \
	  CFLAGS="-O1 -g -fno-omit-frame-pointer -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=all" \
	  EXTRA_LDFLAGS="-fsanitize=fuzzer,address,undefined" $(FUZZ_BINS)

fuzz: fuzz-build
	FUZZ_SECONDS=$(FUZZ_SECONDS) FUZZ_TARGETS="$(FUZZ_TARGETS)" sh fuzz/run

$(BUILD)/fuzz_%: $(BUILD)/fuzz/fuzz_%.o $(LIB)
	$(CC) $(ALL_CFLAGS) -o $@ $^ $(LDLIBS_ALL)

# fuzz_sendmail drives filters/sendmail.c through its header.
$(BUILD)/fuzz/fuzz_sendmail.o: ALL_CFLAGS += -Ifilters

# The long suites (minutes; not part of `make check`).  CRASH_MAILS,
# CRASH_OPS_ROUNDS, CRASH_PAR, LOAD_MAILS and LOAD_PAR change their size;
# at the default size test-crash SIGKILLs over 5,000 times (each suite
# prints its count).
test-crash: all $(TOOL_BINS) plant-build
	BUILD=$(BUILD) CRASH_MAILS=$${CRASH_MAILS:-1000} \
	  CRASH_OPS_ROUNDS=$${CRASH_OPS_ROUNDS:-1700} CRASH_PAR=$${CRASH_PAR:-8} \
	  sh tests/run crash_ spool_wedge

test-load: all $(TOOL_BINS)
	BUILD=$(BUILD) sh tests/run --stress load

# A test build that loses acknowledged entries on purpose (filters/plant.h),
# for tests/integration/crash_plant.sh: the crash suites' loss checks must
# fail on it.
plant-build:
	$(MAKE) BUILD=build-plant EXTRA_CFLAGS=-DPB_PLANT_LOSS all tool-bins

.PHONY: fuzz-build test-crash test-load plant-build
# The end-to-end lab at full size (tests/lab/run); `make check` runs the
# same scenarios with 20 keys each way.
LAB_KEYS ?= 200
lab: bootstrap
	$(MAKE) all $(TOOL_BINS)
	BUILD=$(BUILD) LAB_KEYS=$(LAB_KEYS) sh tests/lab/run

.PHONY: lab

# Targets that bootstrap build in a sub-make, after the packages are in
# (a prerequisite list would let make -j compile beside the bootstrap).
run: bootstrap
	$(MAKE) all
	sh scripts/demo $(BIN)

# bench - pksbridge against SKS's own mail path (throwaway SKS on
# loopback, ~10 min; BENCH_QUICK=1 for a smoke run); see bench/run.
# Not part of check: it measures, it does not test.
bench: all $(TEST_BINS) $(TOOL_BINS)
	BUILD=$(BUILD) sh bench/run

# Man pages, the systemd units and the contrib files name the paths of the
# default installation (/usr/local/sbin, /usr/local/etc, the doc dir);
# INSTALL_SED rewrites them to the configured ones on the way in.
INSTALL_SED := sed -e 's|/usr/local/share/doc/pksbridge|$(docdir)|g' \
                   -e 's|/usr/local/share/man|$(mandir)|g' \
                   -e 's|/usr/local/lib/systemd/system|$(systemdunitdir)|g' \
                   -e 's|/usr/local/lib/sysusers.d|$(sysusersdir)|g' \
                   -e 's|/usr/local/lib/tmpfiles.d|$(tmpfilesdir)|g' \
                   -e 's|/usr/local/sbin|$(sbindir)|g' \
                   -e 's|/usr/local/etc|$(sysconfdir)|g'
MAN8       := $(wildcard man/*.8)
MAN5       := $(wildcard man/*.5)
# conf/pksbridge-help.txt is the built-in HELP text (test_replymail keeps
# them equal), for operators to copy beside pksbridge.conf and translate.
DOCS       := README.md docs/WIRING.md docs/JSON.md docs/SECURITY.md \
              conf/pksbridge-help.txt
UNITS      := contrib/systemd/pksbridge.service \
              contrib/systemd/pksbridge-purge.service \
              contrib/systemd/pksbridge-purge.timer

# install - never overwrites an existing pksbridge.conf (the shipped one
# is then left beside it as pksbridge.conf.dist, for comparison).
# pksbridge.conf is 0640 root:$(CONF_GROUP), readable by the group the
# MTA's pipe user, the runner and operators share (docs/SECURITY.md);
# where that group does not exist yet (or the installing user may not
# give files to it), 0644, with a note: 0640 root:root would lock the
# pipe user out of its own configuration.
CONF_GROUP ?= pksbridge
CONF_MODE = if getent group $(CONF_GROUP) >/dev/null && \
	  chgrp $(CONF_GROUP) $(1) 2>/dev/null; then chmod 0640 $(1); else \
	  chmod 0644 $(1); echo "note: $(1) is 0644: no group $(CONF_GROUP) to \
	  give it to (then: chgrp $(CONF_GROUP) FILE && chmod 0640 FILE)"; fi
install: all
	install -d $(DESTDIR)$(sbindir) $(DESTDIR)$(mandir)/man8 \
	  $(DESTDIR)$(mandir)/man5 $(DESTDIR)$(sysconfdir) $(DESTDIR)$(docdir) \
	  $(DESTDIR)$(systemdunitdir) $(DESTDIR)$(sysusersdir) $(DESTDIR)$(tmpfilesdir)
	install -m 0755 $(BIN) $(DESTDIR)$(sbindir)/pksbridge
	ln -sf pksbridge $(DESTDIR)$(sbindir)/sks_add_mail
	for m in $(MAN8); do \
	  $(INSTALL_SED) $$m >$(DESTDIR)$(mandir)/man8/$${m#man/} && \
	  chmod 0644 $(DESTDIR)$(mandir)/man8/$${m#man/} || exit 1; done
	for m in $(MAN5); do \
	  $(INSTALL_SED) $$m >$(DESTDIR)$(mandir)/man5/$${m#man/} && \
	  chmod 0644 $(DESTDIR)$(mandir)/man5/$${m#man/} || exit 1; done
	if [ -e $(DESTDIR)$(sysconfdir)/pksbridge.conf ]; then \
	  install -m 0644 conf/pksbridge.conf $(DESTDIR)$(sysconfdir)/pksbridge.conf.dist; \
	  echo "kept $(DESTDIR)$(sysconfdir)/pksbridge.conf (new sample: pksbridge.conf.dist)"; \
	else \
	  install -m 0600 conf/pksbridge.conf $(DESTDIR)$(sysconfdir)/pksbridge.conf && \
	  $(call CONF_MODE,$(DESTDIR)$(sysconfdir)/pksbridge.conf); \
	fi
	for u in $(UNITS); do \
	  $(INSTALL_SED) $$u >$(DESTDIR)$(systemdunitdir)/$${u#contrib/systemd/} && \
	  chmod 0644 $(DESTDIR)$(systemdunitdir)/$${u#contrib/systemd/} || exit 1; done
	$(INSTALL_SED) contrib/systemd/pksbridge.sysusers >$(DESTDIR)$(sysusersdir)/pksbridge.conf
	$(INSTALL_SED) contrib/systemd/pksbridge.tmpfiles >$(DESTDIR)$(tmpfilesdir)/pksbridge.conf
	chmod 0644 $(DESTDIR)$(sysusersdir)/pksbridge.conf $(DESTDIR)$(tmpfilesdir)/pksbridge.conf
	for f in $(DOCS); do \
	  $(INSTALL_SED) $$f >$(DESTDIR)$(docdir)/$${f##*/} && \
	  chmod 0644 $(DESTDIR)$(docdir)/$${f##*/} || exit 1; done
	for f in $$(find contrib -type f | sort); do \
	  install -d $(DESTDIR)$(docdir)/$${f%/*} && \
	  $(INSTALL_SED) $$f >$(DESTDIR)$(docdir)/$$f && \
	  chmod 0644 $(DESTDIR)$(docdir)/$$f || exit 1; done

# uninstall - removes what install put there; pksbridge.conf only if it
# is still the shipped one (an edited one is the operator's).
uninstall:
	rm -f $(DESTDIR)$(sbindir)/pksbridge $(DESTDIR)$(sbindir)/sks_add_mail
	for m in $(MAN8); do rm -f $(DESTDIR)$(mandir)/man8/$${m#man/}; done
	for m in $(MAN5); do rm -f $(DESTDIR)$(mandir)/man5/$${m#man/}; done
	for u in $(UNITS); do rm -f $(DESTDIR)$(systemdunitdir)/$${u#contrib/systemd/}; done
	rm -f $(DESTDIR)$(sysusersdir)/pksbridge.conf $(DESTDIR)$(tmpfilesdir)/pksbridge.conf
	rm -rf $(DESTDIR)$(docdir)
	rm -f $(DESTDIR)$(sysconfdir)/pksbridge.conf.dist
	if cmp -s conf/pksbridge.conf $(DESTDIR)$(sysconfdir)/pksbridge.conf; then \
	  rm -f $(DESTDIR)$(sysconfdir)/pksbridge.conf; \
	elif [ -e $(DESTDIR)$(sysconfdir)/pksbridge.conf ]; then \
	  echo "kept $(DESTDIR)$(sysconfdir)/pksbridge.conf (edited; remove it yourself)"; \
	fi

# deb - the Debian package (debian/, debhelper compat 13): the tracked and
# untracked-but-not-ignored files are copied to $(BUILD)/deb/ and built
# there with dpkg-buildpackage -us -uc -b (which writes beside its source
# tree, so never into the checkout's parent), then checked by lintian
# (no errors allowed); the .deb ends in $(BUILD)/.  debian/changelog's
# version must be VERSION's.  Needs debhelper, dpkg-dev and lintian, and
# the build packages (dpkg-checkbuilddeps names what is missing).
# lintian leaves its ELF cache (mldbm-elf-*) in TMPDIR: it gets one that
# goes with the staging tree.
DEB_DIR    = $(BUILD)/deb/pksbridge-$(VERSION)
deb:
	@v=$$(dpkg-parsechangelog -S Version); [ "$$v" = "$(VERSION)" ] || \
	  { echo "deb: debian/changelog is $$v, VERSION is $(VERSION)"; exit 1; }
	rm -rf $(BUILD)/deb && mkdir -p $(DEB_DIR)
	git ls-files -co --exclude-standard | grep -v '^build' | \
	  tar -cf - -T - | tar -xf - -C $(DEB_DIR)
	cd $(DEB_DIR) && dpkg-buildpackage -us -uc -b
	mkdir -p $(BUILD)/deb/tmp && TMPDIR=$(abspath $(BUILD))/deb/tmp \
	  lintian --fail-on error $(BUILD)/deb/pksbridge_$(VERSION)_*.changes
	cp $(BUILD)/deb/pksbridge_$(VERSION)_*.deb $(BUILD)/
	rm -rf $(DEB_DIR) $(BUILD)/deb/tmp

.PHONY: deb

# test-systemd - the package's runner under a real systemd (systemd-nspawn
# -b of a Debian 12 with the package): tests/systemd/nspawn.sh.  Needs
# root, mmdebstrap and systemd-container; PB_SYSTEMD_EXIM=1 adds Exim's
# sendmail against the unit's sandbox.
test-systemd: deb
	BUILD=$(BUILD) sh tests/run --systemd

.PHONY: test-systemd

# lint-man - mandoc -Tlint, every message counts except the two that
# depend on which other manuals this machine has installed.
lint-man:
	@command -v mandoc >/dev/null || { echo "lint-man: mandoc is not installed"; exit 1; }
	@out=$$(mandoc -Tlint $(MAN8) $(MAN5) 2>&1 | \
	  grep -v -e 'referenced manual not found' -e 'outdated mandoc.db'); \
	if [ -n "$$out" ]; then echo "$$out"; exit 1; fi; \
	echo "lint-man: $(MAN8) $(MAN5): clean"

man-lint: lint-man

# build-mtaroot/ is the cached Debian system the Postfix and OpenSMTPD tests
# run their MTA in (tests/lib/mtaroot.sh).
clean:
	rm -rf build build-asan build-fuzz build-clang build-gcc build-mtaroot build-systemd

# -type f: make deb's staging tree under $(BUILD) has sysusers.d/ and
# tmpfiles.d/ directories.
-include $(shell find $(BUILD) -name '*.d' -type f 2>/dev/null)
