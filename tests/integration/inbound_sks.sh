#!/bin/sh
# tests/integration/inbound_sks.sh - the real pksbridge binary feeding a
# real throwaway SKS (tests/lib/sks.sh); every key is checked through SKS's
# own HKP lookup.  Real keys from Debian's keyring.
#
#   * sks_add_mail BASEDIR, invoked through a symlink of that name, with no
#     pksbridge.conf (defaults from BASEDIR: spool BASEDIR/pksbridge, keydb
#     sks:BASEDIR) and with an explicit $PKSBRIDGE_CONF: one key, several
#     keys in two armor blocks, a base64 MIME mail, a broken block next to
#     a good one (quarantined with a reason, the good key served), a
#     resent mail (duplicate, no second spool file), an SKS running as
#     another user than the filter (SKS C, as nobody), a BASEDIR without
#     messages/, no BASEDIR at all (exit 75).  SKS scans its messages/
#     only every 10 s, so these run first and are checked last.
#   * keydb hkp:// with "pksbridge ingest": the key is served as soon as
#     ingest exits; latency from starting ingest to the key being served,
#     p50 and max over 20 one-key mails (SKS B).
#   * duplicates (also eight concurrent copies) and loops end to end: SKS B
#     gets no second /pks/add.
#   * the JSON contract of queue list/stats/show and dedup lookup.
#
# Needs root (CI runs as root): SKS C runs as nobody, and if pksbridge's
# default configuration file exists it is hidden in a mount namespace.
# The retry paths (key database down, the runner, max_queue_lifetime) are
# in inbound_sks_retry.sh.
. "$(dirname "$0")/../lib.sh"
. "$TOP/tests/lib/sks.sh"
. "$TOP/tests/lib/sks_it.sh"

need_cmd sks gpg curl python3 base64 runuser || done_testing
if [ ! -x "$PKSBRIDGE" ]; then
	not_ok "no pksbridge binary at $PKSBRIDGE (build it first)"
	done_testing
fi

need_root "SKS C runs as nobody, as Debian's runs as debian-sks" || done_testing

SA=$TEST_TMP/sks-a		# fed through its messages/ spool
SB=$TEST_TMP/sks-b		# fed over HKP
SC=$TEST_TMP/sks-c		# spool-fed too, but running as nobody
show_on_failure "$SA/sks-db.log" "$SB/sks-db.log" "$SC/sks-db.log" \
	"$TEST_TMP/ingest.log"
PA=$(free_port) && PB=$(free_port) && PC=$(free_port) ||
	{ not_ok "no free port"; done_testing; }
if ! sks_start "$SA" "$PA" 2>"$TEST_TMP/sks-a.err"; then
	not_ok "SKS A starts on port $PA" "$(cat "$TEST_TMP/sks-a.err")"
	done_testing
fi
SA_T0=$(date +%s)
# The checkout may be under /root, out of nobody's reach: copy sks.sh.
cp "$TOP/tests/lib/sks.sh" "$TEST_TMP/bin/sks.sh" && chmod 644 "$TEST_TMP/bin/sks.sh"
mkdir -p "$SC" && chown nobody:nogroup "$SC"
if ! runuser -u nobody -- sh -c '. "$1" && sks_start "$2" "$3"' sh \
	"$TEST_TMP/bin/sks.sh" "$SC" "$PC" 2>"$TEST_TMP/sks-c.err"; then
	not_ok "SKS C starts as nobody on port $PC" "$(cat "$TEST_TMP/sks-c.err")"
	done_testing
fi
if ! sks_start "$SB" "$PB" 2>"$TEST_TMP/sks-b.err"; then
	not_ok "SKS B starts on port $PB" "$(cat "$TEST_TMP/sks-b.err")"
	done_testing
fi
ok "three throwaway SKS servers answer HKP (ports $PA, $PB, $PC as nobody)"

if ! debkeys_pick 35; then
	not_ok "35 keys of at most 16 KB exported from $DEBKEYS_RING"
	done_testing
fi
ok "35 keys exported from Debian's keyring"
for i in $(seq 1 35); do eval "K$i=\$(debkey $i)"; done
M=$TEST_TMP/mails
mkdir -p "$M"

# ---------------------------------------------------------------------------
# 1. sks_add_mail BASEDIR, as Debian's procmail recipe runs it
# ---------------------------------------------------------------------------
BASE=$(sks_spool "$SA")
SAM=$TEST_TMP/bin/sks_add_mail
ln -s "$PKSBRIDGE" "$SAM"
DROP_CONF=$TEST_TMP/dropin-spool.conf	# only to inspect BASE/pksbridge
pb_conf "$DROP_CONF" "spool_dir: $BASE/pksbridge"

# Without a configuration file: pksbridge's default path must not exist,
# but it is outside the test's control.  If it exists, hide it in a private
# mount namespace (the test runs as root, as CI does).
DEFAULT_CONF=$("$PKSBRIDGE" --help | grep -o '/[^ )]*pksbridge\.conf' | head -n 1)
check "pksbridge --help names the default configuration file" \
	test -n "$DEFAULT_CONF"
if [ -e "$DEFAULT_CONF" ]; then
	echo "# $DEFAULT_CONF exists: hidden by a tmpfs in a mount namespace"
	no_conf() {
		env -u PKSBRIDGE_CONF unshare -m sh -c \
			'mount -t tmpfs -o size=64k pb-noconf "$0" && exec "$@"' \
			"$(dirname "$DEFAULT_CONF")" "$@"
	}
else
	echo "# $DEFAULT_CONF does not exist"
	no_conf() {
		env -u PKSBRIDGE_CONF "$@"
	}
fi

# dropin MAIL [BASEDIR] - sks_add_mail BASEDIR (default: SKS A's) < MAIL,
# with no configuration file; it must exit 0 and say nothing.
dropin() {
	no_conf "$SAM" "${2:-$BASE}" <"$1" >"$TEST_TMP/dropin.out" 2>&1
	_di_rc=$?
	cat "$TEST_TMP/dropin.out"
	[ "$_di_rc" -eq 0 ] && [ ! -s "$TEST_TMP/dropin.out" ]
}

pks_mail "$M/d1" d1@pks.example "$(debkey_asc "$K1")"
check "sks_add_mail BASEDIR (no config): one key, exit 0, silent" dropin "$M/d1"
check "no config: our spool is created as BASEDIR/pksbridge" \
	test -d "$BASE/pksbridge" -a -f "$BASE/pksbridge/queue.db"
check_eq "no config: the mail is one entry, delivered to the SKS spool" \
	"$(pb_field "$DROP_CONF" state message_id=d1@pks.example)" done

# Several keys: one armor block with three keys, then a second block.
# SKS's own sks_add_mail would pass only the first block to SKS.
gpg --homedir "$DEBKEYS_DIR/gnupg" -q --batch --no-default-keyring \
	--keyring "$DEBKEYS_RING" --armor --export "$K2" "$K3" "$K4" \
	>"$M/three.asc" 2>/dev/null
check_eq "one armor block holds three keys" \
	"$(gpg --homedir "$DEBKEYS_DIR/gnupg" -q --with-colons --show-keys \
		"$M/three.asc" 2>/dev/null | grep -c '^pub')" 3
{ echo "Keys follow."; cat "$M/three.asc"; echo; echo "And one more:"; \
	cat "$(debkey_asc "$K5")"; } >"$M/d2.body"
pks_mail "$M/d2" d2@pks.example "$M/d2.body"
check "sks_add_mail: four keys in two armor blocks" dropin "$M/d2"
check_eq "the four keys are one entry" \
	"$(pb_field "$DROP_CONF" keys message_id=d2@pks.example | tr ' ' '\n' | sort)" \
	"$(printf '%s\n' "$K2" "$K3" "$K4" "$K5" | sort)"

pks_mail_base64 "$M/d3" d3@pks.example "$(debkey_asc "$K6")"
check "sks_add_mail: a base64 MIME application/pgp-keys mail" dropin "$M/d3"

break_crc "$(debkey_asc "$K8")" "$M/broken.asc"
check "the broken copy differs from the key only in its CRC line" \
	sh -c "diff '$(debkey_asc "$K8")' '$M/broken.asc' | grep -c '^[<>]' | grep -qx 2"
{ echo "A broken block, then a good one."; cat "$M/broken.asc"; echo; \
	cat "$(debkey_asc "$K7")"; } >"$M/d4.body"
pks_mail "$M/d4" d4@pks.example "$M/d4.body"
check "sks_add_mail: a broken armor block next to a good one, exit 0" \
	dropin "$M/d4"
pb_list "$DROP_CONF" "$TEST_TMP/drop.json"
check_eq "the broken block is quarantined" \
	"$($PBJSON count "$TEST_TMP/drop.json" message_id=d4@pks.example state=quarantined)" 1
check "the quarantine says why: CRC" sh -c "$PBJSON get '$TEST_TMP/drop.json' \
	last_error message_id=d4@pks.example state=quarantined | grep -i 'crc'"
check_eq "the good key beside it is delivered" \
	"$($PBJSON count "$TEST_TMP/drop.json" message_id=d4@pks.example state=done keys="$K7")" 1

# The same mail again: recorded as a duplicate, not written to SKS again.
check "sks_add_mail: the first mail resent, exit 0" dropin "$M/d1"
check_eq "the resent mail is a duplicate" \
	"$(pb_count "$DROP_CONF" message_id=d1@pks.example state=duplicate)" 1

# With an explicit $PKSBRIDGE_CONF: its spool_dir, and keydb sks:BASEDIR
# unless the file sets keydb itself.
mkdir -p "$TEST_TMP/spool-conf"
pb_conf "$TEST_TMP/dropin.conf" "spool_dir: $TEST_TMP/spool-conf"
pks_mail "$M/d5" d5@pks.example "$(debkey_asc "$K9")"
check "sks_add_mail with \$PKSBRIDGE_CONF (no keydb in it): exit 0, silent" \
	sh -c "PKSBRIDGE_CONF='$TEST_TMP/dropin.conf' '$SAM' '$BASE' <'$M/d5' >'$TEST_TMP/out' 2>&1 && test ! -s '$TEST_TMP/out'"
check_eq "\$PKSBRIDGE_CONF: the entry is in the configured spool" \
	"$(pb_field "$TEST_TMP/dropin.conf" state message_id=d5@pks.example)" done
check_eq "\$PKSBRIDGE_CONF: nothing in BASEDIR/pksbridge" \
	"$(pb_count "$DROP_CONF" message_id=d5@pks.example)" 0
mkdir -p "$TEST_TMP/spool-conf2"
pb_conf "$TEST_TMP/dropin-hkp.conf" "spool_dir: $TEST_TMP/spool-conf2" \
	"keydb: hkp://127.0.0.1:$PB"
pks_mail "$M/d6" d6@pks.example "$(debkey_asc "$K10")"
check "sks_add_mail with keydb: hkp:// in \$PKSBRIDGE_CONF: exit 0" \
	sh -c "PKSBRIDGE_CONF='$TEST_TMP/dropin-hkp.conf' '$SAM' '$BASE' <'$M/d6'"
check "the configured keydb wins over BASEDIR: SKS B serves the key at once" \
	sks_served "$PB" "$K10"

# SKS's user need not be the MTA's pipe user (Debian: debian-sks; the
# filter may run as root, nobody, Debian-exim): SKS C runs as nobody and
# must be able to read what sks_add_mail (here as root) leaves it.
pks_mail "$M/d7" d7@pks.example "$(debkey_asc "$K35")"
check "sks_add_mail into the spool of an SKS running as another user" \
	dropin "$M/d7" "$(sks_spool "$SC")"
# The file's mode, in a messages/ directory no SKS scans, so it stays:
# readable by others, as SKS's own sks_add_mail leaves it (umask 022).
FAKE=$TEST_TMP/fake-sks
mkdir -p "$FAKE/messages"
check "sks_add_mail into a BASEDIR that no SKS scans" dropin "$M/d5" "$FAKE"
FAKEFILE=$(ls "$FAKE/messages"/pksbridge-*.ready 2>/dev/null | head -n 1)
[ -n "$FAKEFILE" ] || FAKEFILE=$FAKE/messages/none
check "exactly one .ready file, no temporary file left" \
	sh -c "test \$(ls -A '$FAKE/messages' | wc -l) -eq 1 && test -f '$FAKEFILE'"
check_eq "the message file is readable by SKS's user (mode 644)" \
	"$(stat -c %a "$FAKEFILE" 2>&1)" 644
check "the message file holds the key as one armor block SKS can read" \
	sh -c "grep -c -- '-----BEGIN PGP PUBLIC KEY BLOCK-----' '$FAKEFILE' | grep -qx 1 &&
		gpg --homedir '$DEBKEYS_DIR/gnupg' -q --with-colons --show-keys '$FAKEFILE' 2>/dev/null |
		grep -q '^fpr:::::::::$K9:'"

# A BASEDIR without messages/ (SKS not installed yet, a typo): the mail is
# still accepted, deferred, and a runner configured for that spool
# delivers it once the directory is there.
FAKE2=$TEST_TMP/fake-sks2
mkdir -p "$FAKE2"
check "sks_add_mail into a BASEDIR without messages/: exit 0" \
	dropin "$M/d5" "$FAKE2"
pb_conf "$TEST_TMP/fake2.conf" "spool_dir: $FAKE2/pksbridge" "keydb: sks:$FAKE2"
pb_list "$TEST_TMP/fake2.conf" "$TEST_TMP/fake2.list"
check_eq "... the entry is deferred" \
	"$($PBJSON get "$TEST_TMP/fake2.list" state message_id=d5@pks.example)" deferred
check "... last_error names the missing directory" sh -c \
	"$PBJSON get '$TEST_TMP/fake2.list' last_error message_id=d5@pks.example | grep -F '$FAKE2/messages'"
mkdir "$FAKE2/messages"
check "queue retry + run --once with a config for that spool" sh -c \
	"'$PKSBRIDGE' -c '$TEST_TMP/fake2.conf' queue retry \
		\$($PBJSON get '$TEST_TMP/fake2.list' id message_id=d5@pks.example) 2>/dev/null &&
	'$PKSBRIDGE' -c '$TEST_TMP/fake2.conf' run --once"
check "... delivers it into messages/" \
	sh -c "ls '$FAKE2/messages'/pksbridge-*.ready"

# The MTA must defer, never bounce, when sks_add_mail cannot work.
check_rc "sks_add_mail without BASEDIR exits 75" 75 no_conf "$SAM" <"$M/d1"
no_conf "$SAM" "$TEST_TMP/no-such-dir" <"$M/d1" >"$TEST_TMP/nodir.out" 2>&1
check_eq "sks_add_mail with a BASEDIR that does not exist exits 75" "$?" 75
check_grep "... and says why on stderr" "no-such-dir" "$TEST_TMP/nodir.out"

# ---------------------------------------------------------------------------
# 2. keydb hkp://: inline delivery by ingest, and its latency
# ---------------------------------------------------------------------------
HC=$TEST_TMP/hkp.conf
mkdir -p "$TEST_TMP/spool-hkp"
pb_conf "$HC" "spool_dir: $TEST_TMP/spool-hkp" "keydb: hkp://127.0.0.1:$PB" \
	"from_addr: pgp-public-keys@bridge.test" "log: stderr"

# ingest CONF MAIL - pksbridge ingest, its log appended to ingest.log.
ingest() {
	"$PKSBRIDGE" -c "$1" ingest <"$2" >>"$TEST_TMP/ingest.log" 2>&1
}

pks_mail "$M/h1" h1@pks.example "$(debkey_asc "$K11")"
check "ingest with keydb hkp:// exits 0" ingest "$HC" "$M/h1"
check "SKS serves the key as soon as ingest has exited" sks_served "$PB" "$K11"
check_eq "the entry is done after one attempt" \
	"$(pb_field "$HC" state message_id=h1@pks.example) $(pb_field "$HC" attempts message_id=h1@pks.example)" \
	"done 1"

# Latency: from starting ingest to SKS serving the key, 20 one-key mails.
: >"$TEST_TMP/latency"
lat_fail=
for i in $(seq 12 31); do
	eval "f=\$K$i"
	pks_mail "$M/lat$i" "lat$i@pks.example" "$(debkey_asc "$f")"
	t0=$(now_ms)
	ingest "$HC" "$M/lat$i" || lat_fail="$lat_fail ingest-rc:$i"
	until sks_served "$PB" "$f"; do
		# A hang bound; the speed is bench's (below).
		if [ $(($(now_ms) - t0)) -gt 30000 ]; then
			lat_fail="$lat_fail timeout:$i"
			break
		fi
		sleep 0.01
	done
	echo $(($(now_ms) - t0)) >>"$TEST_TMP/latency"
done
check_eq "20 one-key mails: every ingest exits 0 and every key is served" \
	"$lat_fail" ""
sort -n "$TEST_TMP/latency" >"$TEST_TMP/latency.sorted"
p50=$(sed -n 10p "$TEST_TMP/latency.sorted")
lmax=$(tail -n 1 "$TEST_TMP/latency.sorted")
echo "# ingest -> served by SKS over hkp://, 20 one-key mails: p50 ${p50} ms, max ${lmax} ms (all: $(tr '\n' ' ' <"$TEST_TMP/latency"))"
bench "inbound_sks: ingest -> served by SKS (hkp://), p50 of 20" "$p50" 250 ms
bench "inbound_sks: ingest -> served by SKS (hkp://), max of 20" "$lmax" 1000 ms

# ---------------------------------------------------------------------------
# 5. duplicates and loops, end to end
# ---------------------------------------------------------------------------
pks_mail "$M/dup" dup@pks.example "$(debkey_asc "$K32")"
check "ingest: a new key" ingest "$HC" "$M/dup"
check "... served" sks_served "$PB" "$K32"
posts=$(sks_posts "$SB")
check "ingest: the same mail again, exit 0" ingest "$HC" "$M/dup"
check_eq "... recorded as a duplicate of the first" \
	"$(pb_field "$HC" state message_id=dup@pks.example | sort | tr '\n' ' ')" \
	"done duplicate "
pks_mail "$M/dup2" dup2@pks.example "$(debkey_asc "$K32")"
check "ingest: the same key under another Message-ID, exit 0" \
	ingest "$HC" "$M/dup2"
check_eq "... a duplicate too (nothing new in it)" \
	"$(pb_field "$HC" state message_id=dup2@pks.example)" duplicate
check "run --once delivers nothing more" "$PKSBRIDGE" -c "$HC" run --once
check_eq "SKS got no /pks/add for the duplicates" "$(sks_posts "$SB")" "$posts"

# The same new key in eight mails delivered at once (an MTA runs pipe
# deliveries concurrently): SKS gets it once.
posts=$(sks_posts "$SB")
for i in 1 2 3 4 5 6 7 8; do
	pks_mail "$M/par$i" "par$i@pks.example" "$(debkey_asc "$K34")"
done
pids=
for i in 1 2 3 4 5 6 7 8; do
	"$PKSBRIDGE" -c "$HC" ingest <"$M/par$i" >>"$TEST_TMP/ingest.log" 2>&1 &
	pids="$pids $!"
done
nfail=0
for p in $pids; do wait "$p" || nfail=$((nfail + 1)); done
check_eq "eight concurrent ingests of one key all exit 0" "$nfail" 0
pb_list "$HC" "$TEST_TMP/par.list"
check_eq "... one is delivered, seven are duplicates" \
	"$(for i in 1 2 3 4 5 6 7 8; do $PBJSON get "$TEST_TMP/par.list" state message_id=par$i@pks.example; done | sort | uniq -c | tr -s ' ' | tr '\n' ';')" \
	" 1 done; 7 duplicate;"
check "... SKS serves it" sks_served "$PB" "$K34"
check_eq "... after exactly one /pks/add" "$(sks_posts "$SB")" $((posts + 1))
posts=$(sks_posts "$SB")

# A mail that has already passed through us (PKS style: one
# X-KeyServer-Sent header per server, ours among them).
PKS_SENT="pgp-public-keys@pks.example pgp-public-keys@bridge.test" \
	pks_mail "$M/loop" loop@pks.example "$(debkey_asc "$K33")"
check "the loop mail names us in a X-KeyServer-Sent header" \
	grep -qx 'X-KeyServer-Sent: pgp-public-keys@bridge.test' "$M/loop"
check "ingest: a mail that names us in X-KeyServer-Sent, exit 0" \
	ingest "$HC" "$M/loop"
check_eq "... recorded as a loop" \
	"$(pb_field "$HC" state message_id=loop@pks.example)" loop
check "run --once after it" "$PKSBRIDGE" -c "$HC" run --once
check "... its key never reaches SKS" sks_absent "$PB" "$K33"
check_eq "... and SKS got no /pks/add for it" "$(sks_posts "$SB")" "$posts"
# The same key without our address is delivered: the loop verdict came
# from the header, not from the key.
pks_mail "$M/noloop" noloop@pks.example "$(debkey_asc "$K33")"
check "ingest: the same key in a mail not naming us" ingest "$HC" "$M/noloop"
check "... is served" sks_served "$PB" "$K33"

# ---------------------------------------------------------------------------
# 1 (cont.). What SKS A made of the sks_add_mail drop-ins
# ---------------------------------------------------------------------------
# SKS A scans messages/ 10 s after it started and then every 10 s more.
left=$((SA_T0 + 25 - $(date +%s)))
[ "$left" -lt 1 ] && left=1
wait_for "SKS A serves the key of the first drop-in mail" "$left" \
	sks_wait_key "$PA" "$K1" 0
for i in 2 3 4 5; do
	eval "f=\$K$i"
	check "SKS A serves key $((i - 1)) of 4 from the two-block mail" sks_served "$PA" "$f"
done
check "SKS A serves the key of the base64 mail" sks_served "$PA" "$K6"
check "SKS A serves the good key beside the broken block" sks_served "$PA" "$K7"
check "SKS A serves the key dropped in with \$PKSBRIDGE_CONF" \
	sks_served "$PA" "$K9"
check "SKS A does not have the broken block's key" sks_absent "$PA" "$K8"
check "SKS A does not have the key sent to the configured hkp:// keydb" \
	sks_absent "$PA" "$K10"
# Five delivered entries, five files: the resent mail wrote none.
check_eq "SKS A merged exactly five message files" "$(sks_spool_files "$SA")" 5
for id in d1 d2 d3 d4; do
	q=$(pb_field "$DROP_CONF" id "message_id=$id@pks.example" state=done)
	check "SKS A merged the file of entry $q ($id)" \
		grep -q "keys from file .*/pksbridge-$q-1\.ready\$" "$SA/sks-db.log"
done
check "SKS C, running as nobody, serves the key root dropped in" \
	sks_served "$PC" "$K35"
check "SKS C's failed_messages/ is empty" \
	test -z "$(ls -A "$(sks_spool "$SC")/failed_messages")"
check "SKS A's messages/ is empty" test -z "$(ls -A "$BASE/messages")"
check "SKS A's failed_messages/ is empty" \
	test -z "$(ls -A "$BASE/failed_messages")"

# ---------------------------------------------------------------------------
# 6. The JSON contract
# ---------------------------------------------------------------------------
for c in "$HC" "$DROP_CONF"; do
	name=$(basename "$c" .conf)
	pb_list "$c" "$TEST_TMP/$name.list"
	"$PKSBRIDGE" -c "$c" queue stats --json >"$TEST_TMP/$name.stats"
	check "$name: queue list --all --json: JSON Lines with docs/JSON.md's fields and types" \
		$PBJSON list "$TEST_TMP/$name.list"
	check "$name: queue stats --json: every state, dedup_entries, oldest_pending_seconds; counts match the list" \
		$PBJSON stats "$TEST_TMP/$name.stats" "$TEST_TMP/$name.list"
done
check_eq "hkp: the list shows done, duplicate and loop entries" \
	"$($PBJSON count "$TEST_TMP/hkp.list" state=done) $($PBJSON count "$TEST_TMP/hkp.list" state=duplicate) $($PBJSON count "$TEST_TMP/hkp.list" state=loop)" \
	"24 9 1"
check_eq "drop-in: the list shows done, quarantined and duplicate entries" \
	"$($PBJSON count "$TEST_TMP/dropin-spool.list" state=done) $($PBJSON count "$TEST_TMP/dropin-spool.list" state=quarantined) $($PBJSON count "$TEST_TMP/dropin-spool.list" state=duplicate)" \
	"4 1 1"
"$PKSBRIDGE" -c "$HC" queue list --json >"$TEST_TMP/pending.list"
check "queue list --json (pending only) is empty when all is finished" \
	test ! -s "$TEST_TMP/pending.list"
check "queue stats --json: dedup_entries counts the keys seen" \
	python3 -c 'import json,sys; s=json.load(open(sys.argv[1])); sys.exit(s["dedup_entries"] != 24 or s["oldest_pending_seconds"] != 0)' \
	"$TEST_TMP/hkp.stats"
q=$(pb_field "$HC" id message_id=h1@pks.example)
"$PKSBRIDGE" -c "$HC" queue show "$q" --json >"$TEST_TMP/show.json"
check "queue show ID --json: the entry and its payload" \
	$PBJSON show "$TEST_TMP/show.json" "$q"
check "queue show --json: the payload is the key" sh -c \
	"python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[\"payload\"])' '$TEST_TMP/show.json' |
	gpg --homedir '$DEBKEYS_DIR/gnupg' -q --with-colons --show-keys 2>/dev/null | grep -q '^fpr:::::::::$K11:'"
q=$(pb_field "$DROP_CONF" id message_id=d4@pks.example state=quarantined)
"$PKSBRIDGE" -c "$DROP_CONF" queue show "$q" --json >"$TEST_TMP/showq.json"
check "queue show ID --json of a quarantined entry: the mail as payload" \
	$PBJSON show "$TEST_TMP/showq.json" "$q"
"$PKSBRIDGE" -c "$HC" dedup lookup "$K11" --json >"$TEST_TMP/dedup.json"
check "dedup lookup FPR --json: a known key" $PBJSON dedup "$TEST_TMP/dedup.json" "$K11"
check "dedup lookup --json: last_seen_pks set, last_seen_local null" \
	python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); sys.exit(not (isinstance(d.get("last_seen_pks"), int) and d.get("last_seen_local") is None))' \
	"$TEST_TMP/dedup.json"
"$PKSBRIDGE" -c "$HC" dedup lookup "$K8" --json >"$TEST_TMP/dedup-unknown.json"
check "dedup lookup --json: an unknown key is {known: false}" \
	python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); sys.exit(d != {"fingerprint": sys.argv[2], "known": False})' \
	"$TEST_TMP/dedup-unknown.json" "$K8"

pids="$(cat "$SA/sks-db.pid") $(cat "$SB/sks-db.pid") $(cat "$SC/sks-db.pid")"
sks_stop "$SA"
sks_stop "$SB"
sks_stop "$SC"
# all_gone PID... - every PID has exited (zombies included: the one that
# ran as nobody is no child of ours, and PID 1 may never reap it).
all_gone() {
	for _ag in "$@"; do _t_gone "$_ag" || return 1; done
}
check "the SKS servers stop on SIGTERM" all_gone $pids
check_eq "no process left behind (gpg, gpg-agent, pksbridge)" "$(_t_strays)" ""
done_testing
