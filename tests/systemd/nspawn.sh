#!/bin/sh
# tests/systemd/nspawn.sh - the Debian package's runner under a real
# systemd: a minimal Debian 12 with systemd (mmdebstrap), the package
# installed in it, booted with systemd-nspawn -b, and driven from outside
# with nsenter.  `make test-systemd` runs it (after make deb); it is not
# part of make check (it needs root, systemd-nspawn and a minute or two).
#
#   * the unit starts (Type=notify: READY=1 arrived), as the pksbridge user;
#   * an ingest as nobody with group pksbridge (an MTA's pipe) is delivered
#     by the runner in its sandbox (the GnuPG key check made its home
#     under RestrictSUIDSGID=yes);
#   * systemctl reload (SIGHUP) reloads; a broken file on reload keeps the
#     old configuration and the unit running;
#   * a broken config at start leaves the unit failed with status 78 and
#     no restart (RestartPreventExitStatus=78), 15 s after (RestartSec=10s);
#   * with PB_SYSTEMD_EXIM=1 (Exim installed in the container, a minute
#     more): sendmail_cmd through Exim's setuid sendmail fails under the
#     shipped sandbox, and goes through with the drop-in the unit's
#     comment gives.
. "$(dirname "$0")/../lib.sh"
need_root || done_testing
need_cmd mmdebstrap systemd-nspawn nsenter || done_testing

DEB=$(ls "$TOP/${BUILD:-build}"/pksbridge_*_*.deb 2>/dev/null | tail -n 1)
[ -n "$DEB" ] || { not_ok "a package in ${BUILD:-build}/ (make deb first)"; done_testing; }
R=$TEST_TMP/root
BOOT=$TEST_TMP/boot.log
show_on_failure "$BOOT" "$TEST_TMP/mm.log"

if ! mmdebstrap --variant=apt --include=systemd,systemd-sysv,dbus,procps \
	bookworm "$R" >"$TEST_TMP/mm.log" 2>&1; then
	not_ok "mmdebstrap a Debian 12 with systemd"
	done_testing
fi
cp "$DEB" "$R/root/" || { not_ok "copy $DEB"; done_testing; }
# Installed before the boot (postinst enables the unit; with no systemd
# running it is started at boot).  --register=no --keep-unit: no
# machined or systemd on the host to ask.
NSPAWN="systemd-nspawn -q --register=no --keep-unit -D $R"
check "apt install ./$(basename "$DEB") in the container" $NSPAWN --pipe sh -c \
	"cd /root && apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends ./$(basename "$DEB")"

spawn_daemon "$BOOT" $NSPAWN -b
NS=$SPAWNED_PID
# in_ct COMMAND... - run COMMAND in the booted container (its pid 1's
# namespaces and root).
CT_PID=
ct_init() {
	CT_PID=$(pgrep -P "$(pgrep -P "$NS" -x systemd-nspawn || echo "$NS")" -x systemd)
	[ -n "$CT_PID" ]
}
wait_for "the container boots (its systemd runs)" 60 ct_init
in_ct() { nsenter -t "$CT_PID" -a "$@"; }
booted() {
	_b=$(in_ct systemctl is-system-running 2>/dev/null)
	[ "$_b" = running ] || [ "$_b" = degraded ]
}
wait_for "... and finishes starting up" 90 booted
prop() { in_ct systemctl show -p "$1" --value pksbridge; }

check_eq "pksbridge.service is active (running) after boot" \
	"$(prop ActiveState) $(prop SubState)" "active running"
check_eq "... as the pksbridge user" "$(prop User)" pksbridge
check "... and said READY=1 (Type=notify: 'Started' is logged only then)" \
	sh -c "nsenter -t $CT_PID -a journalctl -u pksbridge --no-pager | grep -q 'Started pksbridge.service'"

# An MTA's pipe: nobody, with the spool's group.
check "ingest as nobody:pksbridge in the container: exit 0" in_ct sh -c \
	'setpriv --reuid=nobody --regid=pksbridge --clear-groups pksbridge ingest </usr/share/doc/pksbridge/contrib/samples/01-sks-incremental.eml'
delivered() {
	in_ct runuser -u pksbridge -- pksbridge queue list --all --json |
		grep -q '"state": *"done"'
}
wait_for "... and the sandboxed runner delivers it (done)" 30 delivered
check "... without a chmod refused by the sandbox" sh -c \
	"! nsenter -t $CT_PID -a journalctl -u pksbridge --no-pager | grep -q 'Operation not permitted'"

# SIGHUP.
in_ct systemctl reload pksbridge
wait_for "systemctl reload: the runner reloads its configuration" 15 sh -c \
	"nsenter -t $CT_PID -a journalctl -u pksbridge --no-pager | grep -q 'configuration reloaded from /etc/pksbridge.conf'"
in_ct cp /etc/pksbridge.conf /root/good.conf
in_ct sh -c 'echo "bogus_key: 1" >>/etc/pksbridge.conf'
in_ct systemctl reload pksbridge
wait_for "a broken file on reload: the old configuration is kept" 15 sh -c \
	"nsenter -t $CT_PID -a journalctl -u pksbridge --no-pager | grep -q 'reload failed, keeping the old configuration'"
check_eq "... and the unit keeps running" "$(prop ActiveState)" active

# A broken config at start.
in_ct systemctl restart pksbridge >/dev/null 2>&1
sleep 15	# RestartSec=10s, and a margin
check_eq "a broken config at start: failed, exit status 78, no restart after 15 s" \
	"$(prop ActiveState) $(prop ExecMainStatus) $(prop NRestarts)" "failed 78 0"
in_ct cp /root/good.conf /etc/pksbridge.conf
in_ct systemctl start pksbridge
check_eq "... fixed and started again: active" "$(prop ActiveState)" active

if [ "${PB_SYSTEMD_EXIM:-0}" = 1 ]; then
	check "Exim installed in the container" in_ct sh -c \
		'DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends exim4-daemon-light >/tmp/exim.log 2>&1'
	in_ct sh -c 'printf "sendmail_cmd: /usr/sbin/sendmail -oi\nbatch_window: 1s\n" >>/etc/pksbridge.conf'
	in_ct systemctl restart pksbridge
	# A key of its own, so that it counts as a local change.
	in_ct sh -c 'export GNUPGHOME=$(mktemp -d); gpg --batch -q --passphrase "" --quick-gen-key "Local Test <local@ct.test>" ed25519 sign never 2>/dev/null; { printf "To: root@localhost\nSubject: incremental\n\n"; gpg --export --armor; } >/tmp/out.eml'
	check "pksbridge sendmail -t (SKS's intake) in the container: exit 0" \
		in_ct sh -c 'runuser -u pksbridge -- pksbridge sendmail -t -oi </tmp/out.eml'
	out_state() {
		in_ct runuser -u pksbridge -- pksbridge queue list --all --json --direction outbound |
			grep -q "\"state\": *\"$1\""
	}
	wait_for "the shipped sandbox: Exim's setuid sendmail fails (state failed)" 30 out_state failed
	in_ct sh -c 'mkdir -p /etc/systemd/system/pksbridge.service.d &&
		sed -n "/^#   \[Service\]/,/^#   LockPersonality=no/s/^#   //p" /lib/systemd/system/pksbridge.service \
		>/etc/systemd/system/pksbridge.service.d/sendmail.conf'
	check "the unit's drop-in for an MTA's sendmail is there" \
		in_ct grep -q '^NoNewPrivileges=no' /etc/systemd/system/pksbridge.service.d/sendmail.conf
	in_ct systemctl daemon-reload
	in_ct systemctl restart pksbridge
	in_ct sh -c 'runuser -u pksbridge -- pksbridge queue retry --all'
	wait_for "with that drop-in, Exim's sendmail takes the mail (state done)" 30 out_state done
fi

in_ct systemctl poweroff >/dev/null 2>&1
wait_until 30 _t_gone "$NS"
check "the container powers off" _t_gone "$NS"
done_testing
