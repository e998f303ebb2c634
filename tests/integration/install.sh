#!/bin/sh
# tests/integration/install.sh - "make install" and "make uninstall" into a
# DESTDIR, as a packager or an operator would run them:
#
#   * the default layout (PREFIX=/usr/local): binary, the sks_add_mail
#     symlink, man pages, config, docs, contrib, systemd unit, sysusers.d
#     and tmpfiles.d entries, with their modes;
#   * the installed binary runs (--version, --help) and the installed
#     sks_add_mail symlink takes a PKS mail into a BASEDIR as SKS's program
#     would (keys end up in BASEDIR/messages, the entry is done);
#   * every installed man page renders with man -l, groff warnings on,
#     nothing on stderr; the installed systemd units pass
#     systemd-analyze verify without a word;
#   * PREFIX=/usr sysconfdir=/etc mandir=... in a separate build: the
#     binary's default config is /etc/pksbridge.conf, and the man pages,
#     units and contrib files name the installed paths, not /usr/local;
#   * uninstall leaves no file behind, but keeps an edited pksbridge.conf,
#     and install never overwrites one.
. "$(dirname "$0")/../lib.sh"

need_cmd make man groff systemd-analyze unshare || done_testing
BUILD=${BUILD:-build}
PB=${PKSBRIDGE:-$TOP/$BUILD/pksbridge}
[ -x "$PB" ] || { not_ok "no $PB (make first)"; done_testing; }
unset PKSBRIDGE_CONF

D=$TEST_TMP/dest
# CONF_GROUP: a group every Debian system has, standing in for pksbridge.
if make -C "$TOP" --no-print-directory install BUILD="$BUILD" DESTDIR="$D" \
	CONF_GROUP=nogroup >"$TEST_TMP/install.log" 2>&1; then
	ok "make install DESTDIR=... (default PREFIX)"
else
	not_ok "make install DESTDIR=... (default PREFIX)" "$(tail -n 20 "$TEST_TMP/install.log")"
	done_testing
fi
show_on_failure "$TEST_TMP/install.log"
SB=$D/usr/local/sbin
# mode PATH - the octal mode of PATH.
mode() { stat -c %a "$1" 2>/dev/null; }
check_eq "pksbridge in sbindir, 0755" "$(mode "$SB/pksbridge")" 755
check_eq "sks_add_mail is a symlink to pksbridge" "$(readlink "$SB/sks_add_mail")" pksbridge
for _f in share/man/man8/pksbridge.8 share/man/man8/sks_add_mail.8 \
	share/man/man5/pksbridge.conf.5 \
	share/doc/pksbridge/README.md share/doc/pksbridge/WIRING.md \
	share/doc/pksbridge/SECURITY.md \
	share/doc/pksbridge/JSON.md share/doc/pksbridge/pksbridge-help.txt \
	share/doc/pksbridge/contrib/postfix/master.cf \
	share/doc/pksbridge/contrib/exim/30_pksbridge \
	share/doc/pksbridge/contrib/sks/sksconf.snippet \
	share/doc/pksbridge/contrib/procmail/pksbridge.procmailrc \
	lib/systemd/system/pksbridge.service \
	lib/systemd/system/pksbridge-purge.timer \
	lib/sysusers.d/pksbridge.conf lib/tmpfiles.d/pksbridge.conf; do
	check_eq "installed $_f, 0644" "$(mode "$D/usr/local/$_f")" 644
done
check "the installed config is the sample" cmp "$TOP/conf/pksbridge.conf" \
	"$D/usr/local/etc/pksbridge.conf"
check_eq "... 0640 root:CONF_GROUP (readable by the spool's group only)" \
	"$(stat -c '%a %U:%G' "$D/usr/local/etc/pksbridge.conf")" "640 root:nogroup"
make -C "$TOP" --no-print-directory install BUILD="$BUILD" DESTDIR="$D-nogroup" \
	CONF_GROUP=pb-no-such-group >"$TEST_TMP/install-ng.log" 2>&1
check_eq "without its group: 0644, never 0640 root:root" \
	"$(stat -c '%a %U:%G' "$D-nogroup/usr/local/etc/pksbridge.conf")" "644 root:root"
check_grep "... and a note saying how to fix it" \
	"note: .*pksbridge.conf is 0644: no group pb-no-such-group" "$TEST_TMP/install-ng.log"
rm -rf "$D-nogroup"

check_eq "installed pksbridge --version" "$("$SB/pksbridge" --version)" \
	"pksbridge $(cat "$TOP/VERSION")"
check "installed pksbridge --help" sh -c "'$SB/pksbridge' --help | grep -q '^usage: pksbridge'"

# The demo: a PKS mail through the installed drop-in, no configuration
# file (the defaults derive from BASEDIR), keys into SKS's spool.  If this
# machine has a default config file, hide it in a mount namespace.
BASE=$TEST_TMP/sks
mkdir -p "$BASE/messages"
"$SB/pksbridge" --help >"$TEST_TMP/help"
DEFAULT_CONF=$(sed -n 's|^ *\(/[^ ]*/pksbridge\.conf\))$|\1|p' "$TEST_TMP/help")
check_eq "the installed binary's default config is sysconfdir's" \
	"$DEFAULT_CONF" /usr/local/etc/pksbridge.conf
if [ -e "$DEFAULT_CONF" ]; then
	unshare -m sh -c 'mount -t tmpfs -o size=64k pb-noconf "$0" && exec "$@"' \
		"$(dirname "$DEFAULT_CONF")" "$SB/sks_add_mail" "$BASE" \
		<"$TEST_DATA/mails/02-pks-incremental.eml" >"$TEST_TMP/demo.out" 2>&1
else
	"$SB/sks_add_mail" "$BASE" <"$TEST_DATA/mails/02-pks-incremental.eml" \
		>"$TEST_TMP/demo.out" 2>&1
fi
check_eq "installed sks_add_mail BASEDIR < mail: exit 0" "$?" 0
check_eq "installed sks_add_mail: silent" "$(cat "$TEST_TMP/demo.out")" ""
check "the keys are in BASEDIR/messages as a .ready file SKS reads" sh -c \
	"grep -l -- '-----BEGIN PGP PUBLIC KEY BLOCK-----' '$BASE'/messages/*.ready"
printf 'spool_dir: %s/pksbridge\n' "$BASE" >"$TEST_TMP/demo.conf"
check_eq "its queue entry is done" \
	"$("$SB/pksbridge" -c "$TEST_TMP/demo.conf" queue list --all --json |
		sed -n 's/.*"state":"\([a-z]*\)".*/\1/p')" done

# Man pages render, with groff's warnings.
for _m in "$D"/usr/local/share/man/man*/*; do
	LC_ALL=C.UTF-8 MANWIDTH=80 man --warnings -l "$_m" >"$TEST_TMP/man.out" 2>"$TEST_TMP/man.err"
	_rc=$?
	if [ "$_rc" -eq 0 ] && [ ! -s "$TEST_TMP/man.err" ] &&
		[ "$(wc -l <"$TEST_TMP/man.out")" -gt 30 ]; then
		ok "man -l ${_m##*/}: renders, nothing on stderr"
	else
		not_ok "man -l ${_m##*/}: renders, nothing on stderr" "exit $_rc" \
			"$(head -n 5 "$TEST_TMP/man.err")"
	fi
done
check_grep "pksbridge(8) has a SPOOL PERMISSIONS section" "^SPOOL PERMISSIONS" \
	"$(LC_ALL=C MANWIDTH=80 man -l "$D/usr/local/share/man/man8/pksbridge.8" >"$TEST_TMP/p8.txt" 2>&1; echo "$TEST_TMP/p8.txt")"
# Every key of the configuration has an entry in pksbridge.conf(5).
LC_ALL=C MANWIDTH=80 man -l "$D/usr/local/share/man/man5/pksbridge.conf.5" >"$TEST_TMP/p5.txt" 2>&1
for _k in spool_dir keydb from_addr mailsync_file smtp_relay sendmail_cmd \
	max_message_size max_keys_per_message max_key_size dedup_ttl \
	retry_schedule max_queue_lifetime batch_window max_batch_keys \
	max_batch_bytes log mail_commands reply_limit reply_limit_total \
	max_reply_keys third_party_certs max_certs_per_uid max_uid_size \
	max_sig_size user_attributes blocklist_file; do
	grep -q "^     $_k: " "$TEST_TMP/p5.txt" || not_ok "pksbridge.conf(5) has no entry for $_k"
done
ok "pksbridge.conf(5) has an entry for every key"

# systemd-analyze verify: the units as installed, with ExecStart pointing
# into DESTDIR (verify checks that the program exists) and MANPATH there
# (it checks Documentation= man pages too).  It exits 0 even for unknown
# directives, so any output fails.
mkdir "$TEST_TMP/units"
for _u in pksbridge.service pksbridge-purge.service pksbridge-purge.timer; do
	sed "s|/usr/local/sbin|$SB|g" "$D/usr/local/lib/systemd/system/$_u" \
		>"$TEST_TMP/units/$_u"
done
(cd "$TEST_TMP/units" && MANPATH=$D/usr/local/share/man systemd-analyze verify \
	./pksbridge.service ./pksbridge-purge.service ./pksbridge-purge.timer) \
	>"$TEST_TMP/verify.out" 2>&1
_rc=$?
if [ "$_rc" -eq 0 ] && [ ! -s "$TEST_TMP/verify.out" ]; then
	ok "systemd-analyze verify: the installed units, not a word"
else
	not_ok "systemd-analyze verify: the installed units, not a word" "exit $_rc" \
		"$(cat "$TEST_TMP/verify.out")"
fi
check_grep "the unit is Type=notify (the runner sends READY=1)" "^Type=notify$" \
	"$D/usr/local/lib/systemd/system/pksbridge.service"
check_grep "the unit does not restart on a broken config (RestartPreventExitStatus=78)" \
	"^RestartPreventExitStatus=78$" "$D/usr/local/lib/systemd/system/pksbridge.service"
# ... which is the runner's exit status for one: what that line relies on.
printf 'spool_dir: %s\nbogus_key: 1\n' "$TEST_TMP" >"$TEST_TMP/broken.conf"
check_rc "... and the runner exits 78 on a broken config" 78 \
	"$SB/pksbridge" -c "$TEST_TMP/broken.conf" run
check_grep "the tmpfiles.d entry creates the spool 2770 pksbridge:pksbridge" \
	"^d /var/spool/pksbridge 2770 pksbridge pksbridge -$" \
	"$D/usr/local/lib/tmpfiles.d/pksbridge.conf"

# Install over an edited config: kept, the new sample beside it.
echo "log: stderr" >>"$D/usr/local/etc/pksbridge.conf"
make -C "$TOP" --no-print-directory install BUILD="$BUILD" DESTDIR="$D" \
	>"$TEST_TMP/install2.log" 2>&1
check_grep "install over an edited config keeps it" "^log: stderr$" \
	"$D/usr/local/etc/pksbridge.conf"
check "... and puts the new sample beside it" cmp "$TOP/conf/pksbridge.conf" \
	"$D/usr/local/etc/pksbridge.conf.dist"
make -C "$TOP" --no-print-directory uninstall BUILD="$BUILD" DESTDIR="$D" \
	>"$TEST_TMP/uninstall.log" 2>&1
check_eq "uninstall with an edited config: only that file is left" \
	"$(cd "$D" && find . \( -type f -o -type l \) | sort)" "./usr/local/etc/pksbridge.conf"
check_grep "uninstall says it kept the edited config" "kept .*pksbridge.conf \(edited" \
	"$TEST_TMP/uninstall.log"

# A fresh install and uninstall: nothing left.
rm -rf "$D"
make -C "$TOP" --no-print-directory install BUILD="$BUILD" DESTDIR="$D" >/dev/null 2>&1
make -C "$TOP" --no-print-directory uninstall BUILD="$BUILD" DESTDIR="$D" \
	>"$TEST_TMP/uninstall.log" 2>&1
check_eq "make uninstall leaves no file or link behind" \
	"$(cd "$D" && find . \( -type f -o -type l \) | sort)" ""

# Another layout, in a build of its own: PREFIX=/usr, sysconfdir=/etc.
D2=$TEST_TMP/dest2
if make -C "$TOP" --no-print-directory -j2 install BUILD="$TEST_TMP/build-usr" \
	PREFIX=/usr sysconfdir=/etc mandir=/usr/share/man DESTDIR="$D2" \
	>"$TEST_TMP/install-usr.log" 2>&1; then
	ok "make install PREFIX=/usr sysconfdir=/etc mandir=/usr/share/man"
else
	not_ok "make install PREFIX=/usr sysconfdir=/etc mandir=/usr/share/man" \
		"$(tail -n 20 "$TEST_TMP/install-usr.log")"
fi
check "PREFIX=/usr: /usr/sbin/pksbridge, /etc/pksbridge.conf, /usr/share/man/man8" \
	test -x "$D2/usr/sbin/pksbridge" -a -f "$D2/etc/pksbridge.conf" \
	-a -f "$D2/usr/share/man/man8/pksbridge.8" \
	-a -f "$D2/usr/lib/systemd/system/pksbridge.service"
check_grep "PREFIX=/usr: the binary's default config is /etc/pksbridge.conf" \
	"^ +/etc/pksbridge\.conf\)$" \
	"$("$D2/usr/sbin/pksbridge" --help >"$TEST_TMP/help2" 2>&1; echo "$TEST_TMP/help2")"
check_grep "PREFIX=/usr: the unit runs /usr/sbin/pksbridge -c /etc/pksbridge.conf" \
	"^ExecStart=/usr/sbin/pksbridge -c /etc/pksbridge.conf run$" \
	"$D2/usr/lib/systemd/system/pksbridge.service"
check_grep "PREFIX=/usr: pksbridge(8) names /etc/pksbridge.conf" \
	"^\.It Pa /etc/pksbridge\.conf$" "$D2/usr/share/man/man8/pksbridge.8"
check_eq "PREFIX=/usr: no installed text file mentions /usr/local" \
	"$(grep -rl /usr/local "$D2" --exclude=pksbridge)" ""
rm -rf "$TEST_TMP/build-usr"

done_testing
