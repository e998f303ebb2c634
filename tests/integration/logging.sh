#!/bin/sh
# tests/integration/logging.sh - what pksbridge logs, and where.
#
#   * log: stderr (foreground use): every line is
#     "pksbridge/<command>[PID]: ", and every line about a mail starts
#     with its queue id, Postfix style "ID: key=value, ..., status=...":
#     ingest's acceptance and delivery lines, the runner's, an operator's.
#   * log: syslog (the default), through the real syslog(3): the test runs
#     the commands in a private mount namespace whose /dev holds a
#     datagram socket at /dev/log played by a small listener (no syslog
#     daemon runs here, and nothing outside the namespace sees it).  Every
#     datagram must carry facility mail, the ident pksbridge/<command>
#     with the PID, and the queue id first for mail events; a successful
#     ingest prints nothing on stdout or stderr.
. "$(dirname "$0")/../lib.sh"

need_cmd python3 unshare mount || done_testing
PB=${PKSBRIDGE:-$TOP/${BUILD:-build}/pksbridge}
[ -x "$PB" ] || { not_ok "no $PB (make first)"; done_testing; }
unset PKSBRIDGE_CONF PKSBRIDGE_NOW
MAIL=$TEST_DATA/mails/02-pks-incremental.eml
MAIL2=$TEST_DATA/mails/05-base64-pgp-keys.eml
IDRE='[0-9A-F]{14}'

# A: log: stderr.
S=$TEST_TMP/spool
C=$TEST_TMP/stderr.conf
mkdir -m 700 "$S"
# Port 9 (discard) is closed: delivery defers at once.
printf 'spool_dir: %s\nkeydb: hkp://127.0.0.1:9\nlog: stderr\n' "$S" >"$C"
"$PB" -c "$C" ingest <"$MAIL" >"$TEST_TMP/a.out" 2>"$TEST_TMP/a.err"
check_eq "ingest (log: stderr) exits 0" "$?" 0
check_eq "ingest prints nothing on stdout" "$(cat "$TEST_TMP/a.out")" ""
check "every stderr line is 'pksbridge/ingest[PID]: ...', one PID" sh -c \
	"grep -Evq '^pksbridge/ingest\[[0-9]+\]: ' '$TEST_TMP/a.err' && exit 1;
	 [ \$(sed 's/\].*//' '$TEST_TMP/a.err' | sort -u | wc -l) -eq 1 ]"
ID=$(sed -En "s/^pksbridge\/ingest\[[0-9]+\]: ($IDRE): from=.*/\1/p" "$TEST_TMP/a.err")
check_grep "acceptance: 'ID: from=<>, message-id=<...>, size=, origin=, keys=, new=, status=ready'" \
	"^pksbridge/ingest\[[0-9]+\]: $IDRE: from=<[^>]*>, message-id=<20240101120000\.AB12@keys\.peer\.example>, size=[0-9]+, origin=pks, keys=[0-9]+, new=[0-9]+, status=ready$" \
	"$TEST_TMP/a.err"
# from= is the envelope sender: the Return-Path the delivering MTA added
# wins over $SENDER and the mbox From line (Postfix sets no $SENDER for
# an alias pipe: from=<> read as a bounce), and it is <> only for one.
{ printf 'From other@mbox.example Thu Jan  1 00:00:00 2024\nReturn-Path: <alice@client.example>\n'
  sed 's/^Message-I[Dd]:.*/Message-ID: <rp.1@keys.peer.example>/' "$MAIL"; } >"$TEST_TMP/rp.eml"
SENDER=env@sender.example "$PB" -c "$C" ingest <"$TEST_TMP/rp.eml" 2>"$TEST_TMP/rp.err"
check_grep "from= is the Return-Path the MTA added (not \$SENDER, not the From line)" \
	"^pksbridge/ingest\[[0-9]+\]: $IDRE: from=<alice@client\.example>, message-id=<rp\.1@keys\.peer\.example>" \
	"$TEST_TMP/rp.err"
{ printf 'Return-Path: <>\n'
  sed 's/^Message-I[Dd]:.*/Message-ID: <rp.2@keys.peer.example>/' "$MAIL"; } >"$TEST_TMP/rp2.eml"
"$PB" -c "$C" ingest <"$TEST_TMP/rp2.eml" 2>"$TEST_TMP/rp2.err"
check_grep "... and <> for a null sender" \
	"^pksbridge/ingest\[[0-9]+\]: $IDRE: from=<>, message-id=<rp\.2@keys\.peer\.example>" \
	"$TEST_TMP/rp2.err"

# The fixture is sync mail To: pgp-public-keys@sks.example, and this
# from_addr is the default, pgp-public-keys@HOSTNAME.
check_grep "sync mail not to from_addr: 'ID: sync mail to <addr> does not name from_addr <...>: ...', a warning" \
	"^pksbridge/ingest\[[0-9]+\]: ${ID:-NOID}: sync mail to <pgp-public-keys@sks\.example> does not name from_addr <pgp-public-keys@[^>]+>: a keyserver that lists us as <pgp-public-keys@sks\.example> will mail our changes back" \
	"$TEST_TMP/a.err"
check_grep "delivery: 'ID: to=<keydb>, keys=, delay=, attempts=1, status=deferred (why)', same ID" \
	"^pksbridge/ingest\[[0-9]+\]: ${ID:-NOID}: to=<hkp://127\.0\.0\.1:9>, keys=0, delay=[0-9.]+, attempts=1, status=deferred \(.+\)$" \
	"$TEST_TMP/a.err"
"$PB" -c "$C" queue retry "$ID" >/dev/null 2>&1
"$PB" -c "$C" run --once >"$TEST_TMP/run.out" 2>"$TEST_TMP/run.err"
check_grep "runner: 'pksbridge/run[PID]: ID: to=..., attempts=2, status=deferred'" \
	"^pksbridge/run\[[0-9]+\]: ${ID:-NOID}: to=<hkp://127\.0\.0\.1:9>, keys=0, delay=[0-9.]+, attempts=2, status=deferred \(.+\)$" \
	"$TEST_TMP/run.err"
mkdir -m 700 "$TEST_TMP/spool-us"
printf 'spool_dir: %s\nkeydb: hkp://127.0.0.1:9\nlog: stderr\nfrom_addr: PGP-Public-Keys@SKS.example\n' \
	"$TEST_TMP/spool-us" >"$TEST_TMP/us.conf"
"$PB" -c "$TEST_TMP/us.conf" ingest <"$MAIL" >/dev/null 2>"$TEST_TMP/us.err"
check_eq "... and none when from_addr is the To address (in any case): taken, no warning" \
	"$(grep -c 'status=ready$' "$TEST_TMP/us.err") $(grep -c 'does not name from_addr' "$TEST_TMP/us.err")" "1 0"
printf 'spool_dir: %s\nbogus_key: 1\nlog: stderr\n' "$S" >"$TEST_TMP/bad.conf"
"$PB" -c "$TEST_TMP/bad.conf" ingest <"$MAIL" >/dev/null 2>"$TEST_TMP/bad.err"
check_eq "ingest with a broken config exits 75" "$?" 75
check_grep "a failure about no entry: 'error: ' prefix, what is wrong, where to look" \
	"^pksbridge/ingest(\[[0-9]+\])?: (error: )?temporary failure, mail deferred: .*bad\.conf, line 2: unknown key \"bogus_key\" \(pksbridge\.conf\(5\) lists the keys\)$" \
	"$TEST_TMP/bad.err"

# B: syslog, in a mount namespace with our own /dev/log.
need_root "a private mount namespace for /dev/log" || done_testing
S2=$TEST_TMP/spool2
C2=$TEST_TMP/syslog.conf
mkdir -m 700 "$S2"
printf 'spool_dir: %s\nkeydb: hkp://127.0.0.1:9\n' "$S2" >"$C2"
cat >"$TEST_TMP/listen.py" <<'EOF'
# Bind /dev/log, record each datagram (one per line, as text, a newline
# inside one shown as \n) until the stop file appears or 60 s pass.
import os, socket, sys, time
out, stop = sys.argv[1], sys.argv[2]
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind("/dev/log")
s.settimeout(0.2)
with open(out, "w") as f:
    f.write("READY\n"); f.flush()
    end = time.time() + 60
    while time.time() < end:
        try:
            d = s.recv(65536).decode("utf-8", "replace")
            f.write(d.replace("\n", "\\n") + "\n"); f.flush()
        except socket.timeout:
            if os.path.exists(stop):
                break
EOF
cat >"$TEST_TMP/inns.sh" <<'EOF'
# Runs inside "unshare -m": a /dev of our own, with the device nodes the
# commands need and our listener at /dev/log.
set -e
T=$1 PB=$2 C=$3 MAIL=$4
mount --make-rprivate /
mkdir "$T/newdev"
mount -t tmpfs -o mode=755,size=1m pbdev "$T/newdev"
for n in null zero full random urandom; do
	touch "$T/newdev/$n"
	mount --bind "/dev/$n" "$T/newdev/$n"
done
ln -s /proc/self/fd "$T/newdev/fd"
mount --move "$T/newdev" /dev
python3 "$T/listen.py" "$T/syslog.txt" "$T/stop" &
i=0
until grep -q READY "$T/syslog.txt" 2>/dev/null; do
	i=$((i + 1)); [ $i -lt 100 ] || exit 3; sleep 0.1
done
set +e
"$PB" -c "$C" ingest <"$MAIL" >"$T/b.out" 2>"$T/b.err"
echo $? >"$T/b.rc"
id=$("$PB" -c "$C" queue list --json | sed -n 's/^{"id":"\([0-9A-F]*\)".*/\1/p' | head -n 1)
echo "$id" >"$T/b.id"
"$PB" -c "$C" queue hold "$id" >/dev/null 2>"$T/hold.err"
"$PB" -c "$T/bad.conf" ingest <"$MAIL" >/dev/null 2>&1
sleep 0.5
touch "$T/stop"
wait
EOF
if unshare -m sh "$TEST_TMP/inns.sh" "$TEST_TMP" "$PB" "$C2" "$MAIL2" \
	>"$TEST_TMP/ns.log" 2>&1; then
	ok "commands ran in a namespace with a /dev/log listener"
else
	not_ok "commands ran in a namespace with a /dev/log listener" \
		"$(cat "$TEST_TMP/ns.log")"
	done_testing
fi
SL=$TEST_TMP/syslog.txt
ID2=$(cat "$TEST_TMP/b.id")
check_eq "ingest (log: syslog) exits 0" "$(cat "$TEST_TMP/b.rc")" 0
check_eq "ingest (log: syslog) is silent on stdout and stderr" \
	"$(cat "$TEST_TMP/b.out" "$TEST_TMP/b.err")" ""
check_grep "syslog got the acceptance line: facility mail, info (<22>), ident[PID], ID first" \
	"^<22>[A-Z][a-z]{2} [ 0-9]{2} [0-9:]{8} pksbridge/ingest\[[0-9]+\]: ${ID2:-NOID}: from=<[^>]*>, message-id=<b64\.1@keys\.peer\.example>, .*status=ready$" "$SL"
check_grep "syslog got the delivery line, same ID, deferred at warning (<20>)" \
	"^<20>.* pksbridge/ingest\[[0-9]+\]: ${ID2:-NOID}: to=<hkp://127\.0\.0\.1:9>, .*status=deferred \(" "$SL"
check_grep "syslog got the operator's hold, as pksbridge/queue, ID first" \
	"^<22>.* pksbridge/queue\[[0-9]+\]: ${ID2:-NOID}: action=hold, operator=root, old_state=deferred, state=held$" "$SL"
check_grep "syslog got the count, as postsuper logs it" \
	"^<22>.* pksbridge/queue\[[0-9]+\]: action=hold, operator=root, entries=1$" "$SL"
check_grep "syslog got the broken config at error (<19>), with 'error: '" \
	"^<19>.* pksbridge/ingest\[[0-9]+\]: error: temporary failure, mail deferred: .*unknown key" "$SL"
check_grep "hold printed its count on stderr too" "^Held: 1 entry$" "$TEST_TMP/hold.err"
check "every datagram has facility mail and the ident pksbridge/COMMAND[PID]" \
	python3 - "$SL" <<'EOF'
import re, sys
n = 0
bad = []
for line in open(sys.argv[1]):
    if line.startswith("READY"):
        continue
    n += 1
    d = line.rstrip("\n")
    m = re.match(r"^<(\d+)>\w{3} [ \d]\d \d\d:\d\d:\d\d (pksbridge/[a-z_]+)\[(\d+)\]: ", d)
    if not m:
        bad.append("no ident: %r" % d)
    elif int(m.group(1)) >> 3 != 2:
        bad.append("facility %d, not mail (2): %r" % (int(m.group(1)) >> 3, d))
if n < 5:
    bad.append("only %d datagrams" % n)
print("\n".join(bad))
sys.exit(1 if bad else 0)
EOF
show_on_failure "$SL" "$TEST_TMP/ns.log"

done_testing
