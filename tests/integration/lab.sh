#!/bin/sh
# tests/integration/lab.sh - the end-to-end lab (issue 7): a throwaway SKS,
# pksbridge, ONE real Exim and onak (Debian's PKS-protocol keyserver, its
# onak-mail.pl behind an alias pipe), all on loopback; topology in
# tests/lib/lab.sh.  Both networks talk through the bridge:
#
#   1.  a user mails "Subject: ADD" to onak -> onak mails an incremental
#       to the bridge -> SKS serves the key; SKS's mailsync echo of it is
#       suppressed, so onak gets nothing back
#   1b. the user mails "Subject: GET 0x<short ID>" to the bridge and gets
#       that key, which came from onak, back from SKS: gpg imports the
#       reply
#   2.  a key POSTed to SKS -> pksbridge -> Exim -> onak serves it; onak
#       sends nothing back (X-KeyServer-Sent names the bridge)
#   3.  a new certification on a key both sides have, POSTed to SKS,
#       reaches onak as that change; the key (tests/tools/pgpgen.py) is
#       one whose self-signature leaves the keyserver no-modify flag
#       unset, so the key policy's default (third_party_certs: owner)
#       lets a third-party certification through
#   3b. the same the other way: a user ADDs that key, newly certified by
#       dave (gpg --quick-sign-key), to onak, whose incremental carries
#       only the delta (PKS style) -> the bridge judges it against SKS's
#       copy -> SKS has the new certification; nothing comes back to onak
#   3c. the opposite of 3: carol, made by GnuPG 2.2 (no-modify set),
#       with alice's certification POSTed to SKS: onak gets carol, never
#       the certification
#   3d. the opposite of 3b: bob (no-modify) newly certified by dave,
#       ADDed at onak: the delta is judged against SKS's bob and refused
#       (quarantined, third_party), SKS never has dave's certification
#   4.  Exim stopped: pksbridge's mail waits in its queue (deferred,
#       connection refused), and is delivered once Exim is back
#   5.  $LAB_KEYS keys each way at once (POSTed to SKS; ADDed to onak,
#       one user mail per key): all arrive, mails counted both ways
#   6.  a keyserver pool (issue 22; docs/WIRING.md "A keyserver pool"):
#       two more SKS nodes in recon, each with its own gateway, one
#       from_addr, the pool address routed by Exim to both, onak syncing
#       with the pool address:
#   6a. at once, a key POSTed at each node and two ADDed to onak: each
#       POSTed key reaches onak once, from that node's gateway; each of
#       onak's reaches one gateway and its node; recon carries every key
#       to the other node, which mailsyncs none; nothing comes back
#   6b. a mail that already passed the pool, relayed back to it, is
#       recorded as a loop by the other gateway
#   6c. gateway A unavailable (its config broken: ingest exits 75): Exim
#       defers A's mail while gateway B keeps the pool fed; once A is
#       back Exim delivers, and no key is lost ($LAB_POOL_KEYS ADDed to
#       onak, default LAB_KEYS / 10, at least 4)
#
# Each scenario ends with a PASS/FAIL line and the mail it caused; a
# summary table ends the run, and one for the pool's mail by direction.
# tests/lab/run (make lab) runs this with 200 keys each way; the default
# test run (tests/run) uses $LAB_KEYS, default 20, to stay within a
# couple of minutes.
. "$(dirname "$0")/../lib.sh"
. "$TOP/tests/lib/sks.sh"
. "$TOP/tests/lib/sks_it.sh"
. "$TOP/tests/lib/outbound_it.sh"
. "$TOP/tests/lib/mta.sh"
. "$TOP/tests/lib/pksbridge.sh"
. "$TOP/tests/lib/lab.sh"

LAB_KEYS=${LAB_KEYS:-20}
# Scenario 5's wait: onak handles one mail at a time (about 0.35 s each
# here, 2 per key ADDed to it), SKS polls every 10 s; generous, since
# other tests may share the machine.
S5_WAIT=$((120 + 2 * LAB_KEYS))
KEYS=$TEST_DATA/keys
GEN="python3 $TOP/tests/tools/pgpgen.py"
fpr_of() {
	awk -v n="$1" '$1 == n { print $2 }' "$KEYS/fingerprints.txt"
}
ALICE=$(fpr_of alice)
BOB=$(fpr_of bob)
CAROL=$(fpr_of carol)
DAVE=$(fpr_of dave)
ALICE_ID=${ALICE#????????????????????????}
DAVE_ID=${DAVE#????????????????????????}
SUMMARY=$TEST_TMP/summary
POOL_SUMMARY=$TEST_TMP/pool-summary
if [ -z "${LAB_POOL_KEYS:-}" ]; then
	LAB_POOL_KEYS=$((LAB_KEYS / 10))
	[ "$LAB_POOL_KEYS" -ge 4 ] || LAB_POOL_KEYS=4
fi

# --- scenario bookkeeping ----------------------------------------------------
# scen_begin NUMBER TITLE; scen_time TEXT (the scenario's headline
# timing); scen_end.  A scenario passes if none of its checks failed.
scen_begin() {
	SC_NUM=$1
	SC_TITLE=$2
	SC_T0=$(now_s)
	SC_FAIL0=$_t_fail
	SC_TIME=-
	SC_POOL0=
	[ -n "${POOL_SKS_A:-}" ] && SC_POOL0=$(pool_snap)
	echo
	echo "=== scenario $1: $2"
}

scen_time() {
	SC_TIME=$1
}

# at_least N COMMAND... - COMMAND prints a number of at least N (for
# wait_for, which must run the count anew on every poll).
at_least() {
	_al_n=$1
	shift
	[ "$("$@")" -ge "$_al_n" ]
}

# mails_from DIR T PRED - how many mails in DIR since T satisfy PRED FILE.
mails_from() {
	_mf_n=0
	for _mf in $(mails_since "$1" "$2"); do
		"$3" "$_mf" && _mf_n=$((_mf_n + 1))
	done
	echo "$_mf_n"
}

not_from_gateway() {
	! from_gateway "$1"
}

# delivered FILE - the tap's recipient program took this mail (exit 0).
delivered() {
	[ "$(cat "$1.rc" 2>/dev/null)" = 0 ]
}

deferred() {
	[ "$(cat "$1.rc" 2>/dev/null)" = 75 ]
}

sent_by_a() {
	from_gateway "$1" && [ "$(pool_sent_by "$1")" = A ]
}

sent_by_b() {
	from_gateway "$1" && [ "$(pool_sent_by "$1")" = B ]
}

# pool_snap - the pool's counters that only logs keep: intakes SKS
# A and B handed to their gateway's sendmail (taken, refused with 75),
# keys each node's recon fetched.
pool_snap() {
	for _sn in a b; do
		printf '%s %s %s ' "$(sks_intakes "$LAB_POOLDIR/$_sn")" \
			"$(grep -c 'pksbridge/sendmail.*temporary failure' "$LAB_POOLDIR/$_sn/sks-db.log")" \
			"$(sks_recon_keys "$LAB_POOLDIR/$_sn")"
	done
	echo
}

scen_end() {
	_se_res=PASS
	[ "$_t_fail" -gt "$SC_FAIL0" ] && _se_res=FAIL
	_se_ob=$(mails_from "$LAB_IN/onak" "$SC_T0" from_gateway)
	_se_ou=$(mails_from "$LAB_IN/onak" "$SC_T0" not_from_gateway)
	_se_b=$(( $(mails_from "$LAB_IN/bridge" "$SC_T0" delivered) + \
		$(mails_from "$LAB_IN/poolA" "$SC_T0" delivered) + \
		$(mails_from "$LAB_IN/poolB" "$SC_T0" delivered) ))
	_se_u=$(count_since "$LAB_IN/user" "$SC_T0")
	_se_x=$(count_since "$LAB_IN/bounce" "$SC_T0")
	if [ -n "${LAB_TRACE_SUMMARY:-}" ]; then
		echo "# mail delivered during scenario $SC_NUM (by destination and sender):"
		lab_trace_summary "$SC_T0"
	else
		echo "# mail delivered during scenario $SC_NUM (seconds since it began):"
		lab_trace "$SC_T0"
	fi
	echo "=== scenario $SC_NUM: $_se_res ($(elapsed "$SC_T0") s) - $SC_TITLE"
	printf '%-3s|%-4s|%s|%s|%s|%s|%s|%s|%s|%s\n' "$SC_NUM" "$_se_res" \
		"$(elapsed "$SC_T0")" "$SC_TIME" "$_se_ob" "$_se_ou" "$_se_b" \
		"$_se_u" "$_se_x" "$SC_TITLE" >>"$SUMMARY"
	if [ -n "$SC_POOL0" ]; then
		# shellcheck disable=SC2086
		set -- $SC_POOL0 $(pool_snap)
		printf '%s|%s|%s|%s|%s|%s|%s|%s|%s|%s|%s|%s|%s|%s|%s|%s\n' "$SC_NUM" "$_se_res" \
			"$(mails_from "$LAB_IN/onak" "$SC_T0" sent_by_a)" \
			"$(mails_from "$LAB_IN/onak" "$SC_T0" sent_by_b)" \
			"$_se_ou" \
			"$(mails_from "$LAB_IN/poolA" "$SC_T0" delivered)" \
			"$(mails_from "$LAB_IN/poolA" "$SC_T0" deferred)" \
			"$(mails_from "$LAB_IN/poolB" "$SC_T0" delivered)" \
			"$(mails_from "$LAB_IN/poolB" "$SC_T0" deferred)" \
			"$(($7 - $1))" "$(($8 - $2))" "$((${10} - $4))" "$((${11} - $5))" \
			"$((${12} - $6))" "$(($9 - $3))" "$_se_u/$_se_x" >>"$POOL_SUMMARY"
	fi
	LAB_TRACE_SUMMARY=
}

# lab_trace_summary T - the mail since T grouped by destination, sender
# and Subject: how many, when the first and last arrived.
lab_trace_summary() {
	for _ls_d in onak bridge poolA poolB user bounce; do
		for _ls_f in $(mails_since "$LAB_IN/$_ls_d" "$1"); do
			_ls_n=${_ls_f##*/}
			_ls_rc=
			[ -f "$_ls_f.rc" ] && [ "$(cat "$_ls_f.rc")" != 0 ] &&
				_ls_rc=" (EXIT $(cat "$_ls_f.rc"))"
			printf '%s|%s|%s|%s\n' "$(lab_dest_name "$_ls_d")$_ls_rc" \
				"$(_hdr "$_ls_f" From | head -n 1 | sed 's/.*<\(.*\)>.*/\1/')" \
				"$(_hdr "$_ls_f" Subject | head -n 1)" \
				"${_ls_n%.*.eml}"
		done
	done | awk -F'|' -v t0="$1" '
		{ k = $1 "|" $2 "|" $3; n[k]++; t = $4 - t0
		  if (!(k in lo) || t < lo[k]) lo[k] = t
		  if (!(k in hi) || t > hi[k]) hi[k] = t }
		END { for (k in n) { split(k, a, "|")
			printf "#   %4d mail(s) to %-18s from %-38s \"%s\", +%.1fs .. +%.1fs\n", n[k], a[1], a[2], a[3], lo[k], hi[k] } }' |
		sort -k5
}

# settled - nothing in flight: Exim's queue is empty, onak has processed
# its mail, pksbridge has nothing pending.
settled() {
	[ "$(mta_queue_count)" = 0 ] || return 1
	[ ! -e "$LAB_ONAK/mail/onak-mail.lck" ] || return 1
	[ -z "$(ls "$LAB_ONAK/mail" | grep '\.onak$')" ] || return 1
	"$PKSBRIDGE" -c "$LAB_CONF" queue list --json >"$TEST_TMP/.pending" &&
		[ ! -s "$TEST_TMP/.pending" ]
}

# suppressed_for FPR - an outbound entry for FPR was recorded suppressed.
suppressed_for() {
	[ "$(pb_count "$LAB_CONF" direction=outbound state=suppressed keys="$1")" -ge 1 ]
}

# mail_has FILE FPR - the mail carries that key.
mail_has() {
	mail_fprs "$1" | grep -qix "$2"
}

# mails_hold DIR T FPR - every mail in DIR since T, and it holds FPR.
only_mail_holds() {
	_oh=$(mails_since "$1" "$2")
	[ "$(echo "$_oh" | grep -c .)" = 1 ] && mail_has "$_oh" "$3"
}

# --- the lab -----------------------------------------------------------------
echo "# building the lab in $TEST_TMP"
T_START=$(now_s)
lab_start || done_testing
ok "the lab runs: SKS on 127.0.0.1:$SKS_PORT, Exim on 127.0.0.1:$MTA_PORT, onak (db4), pksbridge runner as $PB_USER ($(elapsed "$T_START") s)"
echo "#   SKS sendmail_cmd: $PB_BIN -c $LAB_CONF sendmail -t -oi; mailsync: $LAB_PKS"
echo "#   Exim: $LAB_BRIDGE -> pksbridge ingest, $LAB_PKS -> onak-mail.pl, $LAB_USER -> mailbox"
echo "#   onak: this_site $LAB_PKS, syncsite $LAB_BRIDGE, mta smtpsubmit -> Exim"
echo "#   pksbridge: keydb hkp://127.0.0.1:$SKS_PORT, smtp_relay 127.0.0.1:$MTA_PORT, batch_window $LAB_BATCH_WINDOW, max_batch_keys $LAB_MAX_BATCH_KEYS, retry_schedule $LAB_RETRY"

# Real keys for scenarios 4, 5 and 6: LAB_KEYS each way, 3, and
# 6 + LAB_POOL_KEYS for the pool.
NEED=$((2 * LAB_KEYS + 9 + LAB_POOL_KEYS))
if ! debkeys_split "$NEED" 24576; then
	not_ok "$NEED keys split from $DEBKEYS_RING" "$(cat "$DEBSPLIT/split.err")"
	done_testing
fi
sed -n "1,${LAB_KEYS}p" "$DEBSPLIT/list" >"$TEST_TMP/sks-side.list"
sed -n "$((LAB_KEYS + 1)),$((2 * LAB_KEYS))p" "$DEBSPLIT/list" >"$TEST_TMP/onak-side.list"
sed -n "$((2 * LAB_KEYS + 1)),$((2 * LAB_KEYS + 3))p" "$DEBSPLIT/list" >"$TEST_TMP/mta-down.list"
sed -n "$((2 * LAB_KEYS + 4)),${NEED}p" "$DEBSPLIT/list" >"$TEST_TMP/pool.list"
for l in sks-side onak-side mta-down pool; do
	awk '{ print $1 }' "$TEST_TMP/$l.list" >"$TEST_TMP/$l.fprs"
done

# ---------------------------------------------------------------------------
scen_begin 1 "user ADD to onak -> pksbridge -> SKS; echo suppressed"
user_mail "$TEST_TMP/s1.eml" "$KEYS/alice.asc"
t=$(now_s)
check "1: Exim takes the user's ADD mail (alice) for $LAB_PKS" \
	user_send "$TEST_TMP/s1.eml"
if wait_for "1: SKS serves alice (onak -> incremental -> pksbridge ingest -> HKP)" \
	30 sks_served "$SKS_PORT" "$ALICE"; then
	scen_time "SKS serves it $(elapsed "$t") s after the ADD"
fi
check "1: onak serves alice" onak_has "$ALICE"
wait_for "1: SKS mailsyncs alice into pksbridge sendmail: recorded suppressed (echo)" \
	30 suppressed_for "$ALICE"
echo "# 1: echo suppressed $(elapsed "$t") s after the ADD"
sleep 3		# batch_window + 1: a queued echo would be on its way
wait_until 20 settled
check_eq "1: mails into onak: the user's ADD only (nothing came back)" \
	"$(count_since "$LAB_IN/onak" "$t")" 1
check_eq "1: mails into the bridge: one" "$(count_since "$LAB_IN/bridge" "$t")" 1
m=$(mails_since "$LAB_IN/bridge" "$t")
check_eq "1: ... onak's incremental, X-KeyServer-Sent: $LAB_PKS" \
	"$(_hdr "$m" Subject)|$(ksent_line "$m")" "incremental|$LAB_PKS"
check "1: ... holding alice" mail_has "$m" "$ALICE"
check_eq "1: pksbridge ingest took it (exit 0)" "$(cat "$m.rc")" 0
check_eq "1: its inbound entry is done, origin pks" \
	"$(pb_field "$LAB_CONF" state direction=inbound keys="$ALICE") $(pb_field "$LAB_CONF" origin direction=inbound keys="$ALICE")" \
	"done pks"
check_eq "1: pksbridge sent alice to no peer" \
	"$(pb_count "$LAB_CONF" direction=outbound state=done keys="$ALICE")" 0
check_eq "1: onak answered the user (Reply to ADD)" \
	"$(_hdr "$(mails_since "$LAB_IN/user" "$t")" Subject)" "Reply to ADD"
scen_end

# ---------------------------------------------------------------------------
scen_begin 1b "user GET to pksbridge -> the key that came from onak, from SKS"
ALICE_SHORT=${ALICE#????????????????????????????????}
{
	echo "From: Lab User <$LAB_USER>"
	echo "To: $LAB_BRIDGE"
	echo "Subject: GET 0x$ALICE_SHORT"
	echo "Date: $(LC_ALL=C date -R)"
	echo "Message-ID: <get-alice@user.test>"
	echo
	echo "GnuPG 1.4.23 email keyserver request"
} >"$TEST_TMP/s1b.eml"
t=$(now_s)
check "1b: Exim takes the user's GET 0x$ALICE_SHORT for $LAB_BRIDGE" \
	user_send "$TEST_TMP/s1b.eml"
if wait_for "1b: the reply reaches the user's mailbox" 30 \
	at_least 1 count_since "$LAB_IN/user" "$t"; then
	scen_time "the reply arrives $(elapsed "$t") s after the GET"
fi
m=$(mails_since "$LAB_IN/user" "$t" | head -n 1)
check_eq "1b: ... Subject: Reply to GET 0x$ALICE_SHORT, Auto-Submitted: auto-replied" \
	"$(_hdr "$m" Subject)|$(_hdr "$m" Auto-Submitted)" "Reply to GET 0x$ALICE_SHORT|auto-replied"
check_grep "1b: ... sent with the null envelope sender" '^Return-path: <>' "$m"
G1B=$TEST_TMP/user-gnupg
mkdir -m 700 "$G1B"
check "1b: gpg --import of the reply imports alice's key" sh -c \
	"gpg --homedir '$G1B' --batch --no-autostart --import '$m' 2>/dev/null &&
	 gpg --homedir '$G1B' --batch --no-autostart --with-colons --list-keys $ALICE |
	 grep -q '^fpr:::::::::$ALICE:'"
check_eq "1b: pksbridge's reply entry: kind reply, done, to the user" \
	"$(pb_field "$LAB_CONF" kind message_id=get-alice@user.test) $(pb_field "$LAB_CONF" state message_id=get-alice@user.test) $(pb_field "$LAB_CONF" peer message_id=get-alice@user.test)" \
	"reply done $LAB_USER"
wait_until 10 settled
check_eq "1b: mails into onak: none (a reply is no sync mail)" \
	"$(count_since "$LAB_IN/onak" "$t")" 0
scen_end

# ---------------------------------------------------------------------------
scen_begin 2 "POST to SKS -> pksbridge -> Exim -> onak; nothing comes back"
t=$(now_s)
check "2: POST bob to SKS /pks/add" sks_post "$SKS_PORT" "$KEYS/bob.asc"
if wait_for "2: onak serves bob (SKS mailsync -> pksbridge -> Exim -> onak-mail.pl)" \
	40 onak_has "$BOB"; then
	scen_time "onak serves it $(elapsed "$t") s after the POST"
fi
wait_until 20 settled
sleep 1
check_eq "2: mails into onak: one" "$(count_since "$LAB_IN/onak" "$t")" 1
m=$(mails_since "$LAB_IN/onak" "$t")
check_eq "2: ... pksbridge's incremental, X-KeyServer-Sent: $LAB_BRIDGE" \
	"$(_hdr "$m" Subject)|$(ksent_line "$m")" "incremental|$LAB_BRIDGE"
check "2: ... holding bob" mail_has "$m" "$BOB"
check_eq "2: mails into the bridge: none (onak saw the bridge in X-KeyServer-Sent)" \
	"$(count_since "$LAB_IN/bridge" "$t")" 0
check_grep "2: onak's log: it synced with 0 sites" \
	'onak-mail\[[0-9]+\]: Syncing with 0 sites' "$LAB_ONAK/onak.log"
check_eq "2: pksbridge's entry for bob to $LAB_PKS is done" \
	"$(pb_field "$LAB_CONF" state direction=outbound peer="$LAB_PKS" keys="$BOB")" done
scen_end

# ---------------------------------------------------------------------------
scen_begin 3 "a new certification POSTed to SKS reaches onak as that change"
# An owner who leaves no-modify unset (pgpgen; GnuPG 2.2 always sets it):
# lab3 alone, then lab3 with one certification by a throwaway key.  The
# same seed makes the same key, so lab3-signed adds only that.
$GEN shape flood --seed lab3 --certs 0 --out "$TEST_TMP/lab3.asc" 2>"$TEST_TMP/lab3.fpr" >/dev/null
$GEN shape flood --seed lab3 --certs 1 --out "$TEST_TMP/lab3-signed.asc" 2>/dev/null >/dev/null
LAB3=$(cat "$TEST_TMP/lab3.fpr")
LAB3_CERTIFIER=$(gpg --list-packets "$TEST_TMP/lab3-signed.asc" 2>/dev/null |
	awk '/^:signature packet:/ { for (i = 1; i <= NF; i++) if ($i == "keyid") k = $(i + 1) }
		/sigclass 0x10/ { print k }' |
	head -n 1)
check "3: pgpgen made lab3 (no-modify unset) and its certifier's key ID" \
	test -n "$LAB3" -a -n "$LAB3_CERTIFIER"
check "3: POST lab3 to SKS" sks_post "$SKS_PORT" "$TEST_TMP/lab3.asc"
wait_for "3: onak serves lab3" 40 onak_has "$LAB3"
wait_until 20 settled
check_rc "3: onak has no certification on lab3 yet" 1 \
	onak_sig_on "$LAB3" "$LAB3_CERTIFIER"
t=$(now_s)
check "3: POST lab3-signed (lab3 + a third-party certification) to SKS" \
	sks_post "$SKS_PORT" "$TEST_TMP/lab3-signed.asc"
if wait_for "3: onak lists the certification on lab3" 40 \
	onak_sig_on "$LAB3" "$LAB3_CERTIFIER"; then
	scen_time "onak has it $(elapsed "$t") s after the POST"
fi
wait_until 20 settled
sleep 1
check "3: one mail into onak since the POST, holding lab3" \
	only_mail_holds "$LAB_IN/onak" "$t" "$LAB3"
m=$(mails_since "$LAB_IN/onak" "$t" | head -n 1)
check "3: ... with the certification in it" sh -c \
	"gpg --list-packets '$m' 2>/dev/null | grep -q 'sigclass 0x10'"
check_eq "3: mails into the bridge: none" "$(count_since "$LAB_IN/bridge" "$t")" 0
scen_end

# ---------------------------------------------------------------------------
scen_begin 3b "a new certification ADDed at onak reaches SKS (a PKS delta)"
# lab3 with a new certification by dave, made here with dave's secret key.
G=$TEST_TMP/signer
mkdir -m 700 "$G"
gpg --homedir "$G" --batch -q --import "$KEYS/dave-secret.asc" "$TEST_TMP/lab3.asc" \
	"$KEYS/bob.asc" 2>/dev/null
for k in "$LAB3" "$BOB"; do
	gpg --homedir "$G" --batch -q --pinentry-mode loopback --passphrase '' \
		-u "$DAVE" --quick-sign-key "$k" >/dev/null 2>&1
done
gpg --homedir "$G" --batch -q --armor --export "$LAB3" >"$TEST_TMP/lab3-dave.asc" 2>/dev/null
gpg --homedir "$G" --batch -q --armor --export "$BOB" >"$TEST_TMP/bob-signed.asc" 2>/dev/null
gpgconf --homedir "$G" --kill all 2>/dev/null
check "3b: lab3 with dave's new certification made (gpg --quick-sign-key)" sh -c \
	"gpg --homedir '$OB_GNUPG' --batch -q --with-colons --with-sig-list \
		--show-keys '$TEST_TMP/lab3-dave.asc' 2>/dev/null | grep -q '^sig:[^:]*::[0-9]*:$DAVE_ID:'"
check_rc "3b: SKS has no certification by dave on lab3 yet" 1 \
	sks_sig_on "$LAB3" "$DAVE_ID"
user_mail "$TEST_TMP/s3b.eml" "$TEST_TMP/lab3-dave.asc"
t=$(now_s)
check "3b: Exim takes the user's ADD of lab3-dave for $LAB_PKS" \
	user_send "$TEST_TMP/s3b.eml"
wait_for "3b: onak lists dave's certification on lab3" 30 onak_sig_on "$LAB3" "$DAVE_ID"
wait_for "3b: onak mails its incremental to the bridge" 30 \
	at_least 1 count_since "$LAB_IN/bridge" "$t"
m=$(mails_since "$LAB_IN/bridge" "$t" | head -n 1)
echo "# 3b: onak's incremental carries the delta only: $(gpg --list-packets "$m" 2>/dev/null |
	grep -c '^:') packets (lab3-dave has $(gpg --list-packets "$TEST_TMP/lab3-dave.asc" 2>/dev/null | grep -c '^:'))"
if wait_for "3b: SKS lists dave's certification on lab3" 30 sks_sig_on "$LAB3" "$DAVE_ID"; then
	scen_time "SKS has it $(elapsed "$t") s after the ADD"
fi
check_eq "3b: pksbridge ingest took it (exit 0)" "$(cat "$m.rc" 2>/dev/null)" 0
check_eq "3b: nothing of it was quarantined" \
	"$(pb_count "$LAB_CONF" direction=inbound state=quarantined)" 0
# SKS mailsyncs the merged lab3 back within 10 s; the new packets came
# from PKS and the rest was sent to onak in scenario 3: nothing to send.
# echoed - SKS's echo of the merged lab3 was recorded suppressed.
echoed() {
	pb_count "$LAB_CONF" direction=outbound state=suppressed keys="$1" >"$TEST_TMP/.echoed" &&
		[ "$(cat "$TEST_TMP/.echoed")" -ge 1 ]
}
wait_for "3b: SKS mailsyncs the merged lab3 into pksbridge sendmail: suppressed" 30 \
	echoed "$LAB3"
pb_field "$LAB_CONF" last_error direction=outbound state=suppressed keys="$LAB3" |
	sed 's/^/# 3b: why: /'
sleep 3
wait_until 20 settled
check_eq "3b: mails into onak since the ADD: the user's ADD only" \
	"$(count_since "$LAB_IN/onak" "$t")" 1
scen_end

# ---------------------------------------------------------------------------
scen_begin 3c "a certification on a no-modify key POSTed to SKS does not reach onak"
check "3c: POST carol, then carol-signed (+ alice's certification) to SKS" \
	sks_post "$SKS_PORT" "$KEYS/carol.asc"
wait_for "3c: onak serves carol" 40 onak_has "$CAROL"
wait_until 20 settled
t=$(now_s)
check "3c: POST carol-signed" sks_post "$SKS_PORT" "$KEYS/carol-signed.asc"
# carol_again - SKS mailsynced carol-signed into the bridge: its entry
# finished (suppressed: trimmed, it is carol, already sent).
carol_again() {
	[ "$(pb_count "$LAB_CONF" direction=outbound keys="$CAROL")" -ge 2 ] &&
		[ "$(pb_count "$LAB_CONF" direction=outbound state=ready keys="$CAROL")" = 0 ] &&
		[ "$(pb_count "$LAB_CONF" direction=outbound state=deferred keys="$CAROL")" = 0 ]
}
wait_for "3c: SKS mailsyncs carol-signed into pksbridge sendmail, and it finishes" 30 carol_again
wait_until 20 settled
check_rc "3c: onak has no certification by alice on carol" 1 \
	onak_sig_on "$CAROL" "$ALICE_ID"
check_eq "3c: mails into onak since the POST: none (trimmed, carol was sent already)" \
	"$(count_since "$LAB_IN/onak" "$t")" 0
scen_end

# ---------------------------------------------------------------------------
scen_begin 3d "a certification on a no-modify key ADDed at onak does not reach SKS"
check "3d: SKS has no certification by dave on bob" \
	test "$(sks_sig_on "$BOB" "$DAVE_ID"; echo $?)" = 1
user_mail "$TEST_TMP/s3d.eml" "$TEST_TMP/bob-signed.asc"
t=$(now_s)
check "3d: Exim takes the user's ADD of bob-signed for $LAB_PKS" \
	user_send "$TEST_TMP/s3d.eml"
wait_for "3d: onak lists dave's certification on bob" 30 onak_sig_on "$BOB" "$DAVE_ID"
wait_for "3d: onak mails its incremental to the bridge" 30 \
	at_least 1 count_since "$LAB_IN/bridge" "$t"
wait_until 20 settled
m=$(mails_since "$LAB_IN/bridge" "$t" | head -n 1)
check_eq "3d: pksbridge ingest took it (exit 0)" "$(cat "$m.rc" 2>/dev/null)" 0
check_eq "3d: the delta is quarantined by the key policy (judged against SKS's bob)" \
	"$(pb_count "$LAB_CONF" direction=inbound state=quarantined keys="$BOB")" 1
pb_field "$LAB_CONF" last_error direction=inbound state=quarantined keys="$BOB" |
	sed 's/^/# 3d: why: /'
sleep 11	# SKS would have merged it by now
check_rc "3d: SKS has no certification by dave on bob" 1 sks_sig_on "$BOB" "$DAVE_ID"
scen_end

# ---------------------------------------------------------------------------
scen_begin 4 "Exim down: pksbridge's mail waits in its queue, then arrives"
check "4: Exim stops" mta_stop
check_rc "4: nothing listens on the Exim port" 1 port_listening "$MTA_PORT"
t=$(now_s)
check "4: POST 3 keys to SKS while Exim is down" \
	sks_post "$SKS_PORT" $(awk '{ print $2 }' "$TEST_TMP/mta-down.list")
# deferred_refused - pksbridge tried and deferred for the refused connection.
deferred_refused() {
	pb_field "$LAB_CONF" last_error direction=outbound state=deferred \
		peer="$LAB_PKS" | grep -qi 'refused'
}
wait_for "4: pksbridge's entries for onak are deferred: connection refused" \
	40 deferred_refused
echo "# 4: $(pb_field "$LAB_CONF" last_error direction=outbound state=deferred | sort -u | head -n 1)"
# retried - some entry has been tried at least twice.
retried() {
	pb_field "$LAB_CONF" attempts direction=outbound state=deferred |
		awk '$1 >= 2 { f = 1 } END { exit !f }'
}
wait_for "4: ... and retried while Exim stays down" 30 retried
check_eq "4: onak has none of the 3 keys" "$(onak_count_of "$TEST_TMP/mta-down.fprs")" 0
n_def=$(pb_count "$LAB_CONF" direction=outbound state=deferred)
echo "# 4: Exim was down for $(elapsed "$t") s; $n_def entries deferred in pksbridge's queue"
mta_start "$LAB/exim" "$MTA_PORT" "$LAB/aliases" || done_testing
t_up=$(now_s)
if wait_for "4: Exim is back: onak serves all 3 keys" 40 \
	onak_has_all "$TEST_TMP/mta-down.fprs"; then
	scen_time "onak has them $(elapsed "$t_up") s after Exim is back"
fi
wait_until 20 settled
check_eq "4: no outbound entry failed or is left pending" \
	"$(pb_count "$LAB_CONF" direction=outbound state=failed) $(pb_count "$LAB_CONF" direction=outbound state=deferred) $(pb_count "$LAB_CONF" direction=outbound state=ready)" \
	"0 0 0"
nm=$(count_since "$LAB_IN/onak" "$t")
check "4: they came in at most 3 mails (got $nm)" test "$nm" -ge 1 -a "$nm" -le 3
check_eq "4: mails into the bridge: none" "$(count_since "$LAB_IN/bridge" "$t")" 0
scen_end

# ---------------------------------------------------------------------------
N=$LAB_KEYS
B=$(( (N + LAB_MAX_BATCH_KEYS - 1) / LAB_MAX_BATCH_KEYS ))
scen_begin 5 "$N keys each way at once: POSTed to SKS, ADDed to onak"
LAB_TRACE_SUMMARY=1
i=0
: >"$TEST_TMP/s5-mails"
while read -r f file; do
	i=$((i + 1))
	user_mail "$TEST_TMP/s5-$i.eml" "$file" "User $i <user@user.test>"
	echo "$TEST_TMP/s5-$i.eml" >>"$TEST_TMP/s5-mails"
done <"$TEST_TMP/onak-side.list"
tx0=$(sks_transmitted "$LAB_SKS")
t=$(now_s)
(sks_post "$SKS_PORT" $(awk '{ print $2 }' "$TEST_TMP/sks-side.list") \
	>"$TEST_TMP/s5-post.out" 2>&1; echo $? >"$TEST_TMP/s5-post.rc"
 echo "$(elapsed "$t")" >"$TEST_TMP/s5-post.time") &
p1=$!
(user_send $(cat "$TEST_TMP/s5-mails") >"$TEST_TMP/s5-send.out" 2>&1
 echo $? >"$TEST_TMP/s5-send.rc"; echo "$(elapsed "$t")" >"$TEST_TMP/s5-send.time") &
p2=$!
wait $p1 $p2
check_eq "5: $N POSTs to SKS answered 200 (in $(cat "$TEST_TMP/s5-post.time") s)" \
	"$(cat "$TEST_TMP/s5-post.rc")" 0
check_eq "5: Exim took the $N users' ADD mails, one SMTP session (in $(cat "$TEST_TMP/s5-send.time") s)" \
	"$(cat "$TEST_TMP/s5-send.rc")" 0
if wait_for "5: onak serves all $N keys POSTed to SKS" "$S5_WAIT" \
	onak_has_all "$TEST_TMP/sks-side.fprs"; then
	t_onak=$(elapsed "$t")
else
	t_onak=">$S5_WAIT"
	echo "# 5: onak serves $(onak_count_of "$TEST_TMP/sks-side.fprs") of $N"
fi
if wait_for "5: SKS serves all $N keys ADDed to onak" "$S5_WAIT" \
	sks_has_all "$TEST_TMP/onak-side.fprs"; then
	t_sks=$(elapsed "$t")
else
	t_sks=">$S5_WAIT"
	echo "# 5: SKS serves $(sks_count_of "$TEST_TMP/onak-side.fprs") of $N"
fi
echo "# 5: all keys on the other side: onak after $t_onak s, SKS after $t_sks s"
scen_time "SKS->onak ${t_onak} s, onak->SKS ${t_sks} s"
# SKS mailsyncs all 2N (the N POSTed, the N pksbridge delivered) into
# pksbridge sendmail; then nothing must be left in flight.
wait_for "5: SKS handed all $((2 * N)) keys to pksbridge sendmail" 120 \
	at_least "$((2 * N + tx0))" sks_transmitted "$LAB_SKS"
sleep 3
wait_until 60 settled
stranded=$(ls "$LAB_ONAK/mail" | grep -c '\.onak$')
check_eq "5: onak left no mail unprocessed in its mail_dir" "$stranded" 0
# The mails, both ways.
ob=$(mails_from "$LAB_IN/onak" "$t" from_bridge)
ou=$(mails_from "$LAB_IN/onak" "$t" not_from_gateway)
bo=$(count_since "$LAB_IN/bridge" "$t")
ur=$(count_since "$LAB_IN/user" "$t")
echo "# 5: mails: users -> onak $ou, pksbridge -> onak $ob (ceil($N/$LAB_MAX_BATCH_KEYS) = $B),"
echo "#    onak -> pksbridge $bo, onak -> users $ur; SKS -> pksbridge sendmail $(($(sks_transmitted "$LAB_SKS") - tx0))"
check_eq "5: onak got the $N user mails" "$ou" "$N"
check "5: pksbridge -> onak: $ob mails for $N keys, batched (at least $B, at most $((B + 2)))" \
	test "$ob" -ge "$B" -a "$ob" -le "$((B + 2))"
for f in $(mails_since "$LAB_IN/onak" "$t"); do
	from_bridge "$f" && mail_fprs "$f"
done | sort >"$TEST_TMP/s5-to-onak"
check_eq "5: ... carrying exactly the $N POSTed keys, each once (no echo of onak's)" \
	"$(cat "$TEST_TMP/s5-to-onak" | tr '\n' ' ')" \
	"$(sort "$TEST_TMP/sks-side.fprs" | tr '\n' ' ')"
check_eq "5: onak -> pksbridge: one incremental per ADD it processed" \
	"$bo" "$((N - stranded))"
for f in $(mails_since "$LAB_IN/bridge" "$t"); do mail_fprs "$f"; done |
	sort >"$TEST_TMP/s5-to-bridge"
check_eq "5: ... carrying the keys ADDed to onak, each once (no echo of SKS's)" \
	"$(cat "$TEST_TMP/s5-to-bridge" | tr '\n' ' ')" \
	"$(sort "$TEST_TMP/onak-side.fprs" | tr '\n' ' ')"
check_eq "5: every pksbridge ingest exited 0" \
	"$(cat $(mails_since "$LAB_IN/bridge" "$t" | sed 's/$/.rc/') 2>/dev/null | sort -u | tr '\n' ' ')" "0 "
pb_field "$LAB_CONF" keys direction=outbound state=suppressed | tr ' ' '\n' |
	sort -u >"$TEST_TMP/s5-suppressed"
check_eq "5: pksbridge recorded SKS's echo of every key ADDed to onak as suppressed" \
	"$(sort "$TEST_TMP/onak-side.fprs" | comm -23 - "$TEST_TMP/s5-suppressed" | wc -l | tr -d ' ')" 0
scen_end


# ---------------------------------------------------------------------------
# The keyserver pool (tests/lib/lab.sh, "The keyserver pool").  Keys:
# K1 POSTed at node A, K2 at node B, K3 and K4 ADDed to onak (6a); K5
# POSTed at B and K6 at A while gateway A is down, and LAB_POOL_KEYS
# more ADDed to onak then (6c).
pool_key() {
	sed -n "${1}p" "$TEST_TMP/pool.list" | awk "{ print \$$2 }"
}
K1=$(pool_key 1 1)
K2=$(pool_key 2 1)
K3=$(pool_key 3 1)
K4=$(pool_key 4 1)
K5=$(pool_key 5 1)
K6=$(pool_key 6 1)
sed -n "7,\$p" "$TEST_TMP/pool.list" >"$TEST_TMP/pool-out.list"
awk '{ print $1 }' "$TEST_TMP/pool-out.list" >"$TEST_TMP/pool-out.fprs"
P=$(wc -l <"$TEST_TMP/pool-out.fprs" | tr -d ' ')
CONF_A=$LAB_POOLDIR/a.conf
CONF_B=$LAB_POOLDIR/b.conf

# onak_from_pool T - "A:FPR" or "B:FPR" for each key in each mail the
# pool's gateways sent onak since T, sorted.
onak_from_pool() {
	for _op_m in $(mails_since "$LAB_IN/onak" "$1"); do
		from_gateway "$_op_m" || continue
		_op_g=$(pool_sent_by "$_op_m")
		mail_fprs "$_op_m" | sed "s/^/$_op_g:/"
	done | sort | tr '\n' ' '
}

# gw_keys CONF SELECTOR... - the keys of a gateway's entries, sorted, once.
gw_keys() {
	_gk_conf=$1
	shift
	pb_field "$_gk_conf" keys "$@" | tr ' ' '\n' | grep . | sort -u | tr '\n' ' '
}

# tapped_keys DIR T [PRED] - the keys in the mails a tap recorded since T
# (those satisfying PRED), sorted.
tapped_keys() {
	for _tk in $(mails_since "$1" "$2"); do
		[ -z "${3:-}" ] || "$3" "$_tk" || continue
		mail_fprs "$_tk"
	done | sort | tr '\n' ' '
}

# both_serve FPR... - both nodes serve every one of these keys.
both_serve() {
	for _bs in "$@"; do
		pool_served A "$_bs" && pool_served B "$_bs" || return 1
	done
}

# post_at A|B KEYFILE... - POST the keys to that node.
post_at() {
	_pa_port=$(pool_port "$1")
	shift
	sks_post "$_pa_port" "$@"
}

# onak_has_keys FPR... - onak serves every one of these keys.
onak_has_keys() {
	for _ohk in "$@"; do
		onak_has "$_ohk" || return 1
	done
}

# both_serve_all FILE - both nodes serve every fingerprint listed in FILE.
both_serve_all() {
	[ "$(pool_count_of A "$1")" -eq "$(wc -l <"$1")" ] &&
		[ "$(pool_count_of B "$1")" -eq "$(wc -l <"$1")" ]
}

# echo_suppressed CONF FPR - the gateway recorded its node's mailsync of
# FPR (which it had delivered from PKS) as suppressed.
echo_suppressed() {
	[ "$(pb_count "$1" direction=outbound state=suppressed keys="$2")" -ge 1 ]
}

echo
echo "# building the keyserver pool"
T_POOL=$(now_s)
pool_start || done_testing
ok "the pool runs: SKS A 127.0.0.1:$POOL_SKS_A and SKS B 127.0.0.2:$POOL_SKS_B in recon (gossip_interval $LAB_GOSSIP min), gateways A and B with their runners ($(elapsed "$T_POOL") s)"
echo "#   from_addr of both SKS nodes and both gateways: $LAB_POOL; mailsync of both: $LAB_PKS"
echo "#   Exim: $LAB_POOL in on port $POOL_MX_A -> gateway A ingest, on port $POOL_MX_B -> gateway B ingest"
echo "#   onak: syncsite $LAB_POOL, its mta alternating between ports $POOL_MX_A and $POOL_MX_B"
echo "#   gateway A: keydb hkp://127.0.0.1:$POOL_SKS_A, smtp_relay 127.0.0.1:$POOL_MX_A; gateway B: keydb hkp://127.0.0.1:$POOL_SKS_B, smtp_relay 127.0.0.1:$POOL_MX_B"
syncs0=$(grep -c 'Syncing with 0 sites' "$LAB_ONAK/onak.log")

# ---------------------------------------------------------------------------
scen_begin 6a "pool: a key POSTed at each node and two ADDed to onak, at once"
for i in 3 4; do
	user_mail "$TEST_TMP/s6a-$i.eml" "$(pool_key "$i" 2)" "User $i <user@user.test>"
done
t=$(now_s)
check "6a: POST K1 to node A" post_at A "$(pool_key 1 2)"
check "6a: POST K2 to node B" post_at B "$(pool_key 2 2)"
check "6a: Exim takes two users' ADD mails (K3, K4) for $LAB_PKS" \
	user_send "$TEST_TMP/s6a-3.eml" "$TEST_TMP/s6a-4.eml"
t_onak=-
wait_for "6a: onak serves K1 and K2" 40 onak_has_keys "$K1" "$K2" &&
	t_onak=$(elapsed "$t")
if wait_for "6a: both nodes serve all four keys (gateways, recon)" 60 \
	both_serve "$K1" "$K2" "$K3" "$K4"; then
	scen_time "onak $t_onak s, both nodes $(elapsed "$t") s"
fi
check_eq "6a: onak mailed the pool two incrementals, one by each node's port: gateway A took $(tapped_keys "$LAB_IN/poolA" "$t"), gateway B $(tapped_keys "$LAB_IN/poolB" "$t")" \
	"$(count_since "$LAB_IN/poolA" "$t") $(count_since "$LAB_IN/poolB" "$t")" "1 1"
check_eq "6a: ... K3 and K4 between them, each ingest exit 0" \
	"$(printf '%s\n' $(tapped_keys "$LAB_IN/poolA" "$t" delivered) $(tapped_keys "$LAB_IN/poolB" "$t" delivered) | sort | tr '\n' ' ')" \
	"$(printf '%s\n' "$K3" "$K4" | sort | tr '\n' ' ')"
KA=$(tapped_keys "$LAB_IN/poolA" "$t" | tr -d ' ')
KB=$(tapped_keys "$LAB_IN/poolB" "$t" | tr -d ' ')
# echoes_seen - each gateway recorded its node's mailsync of the key it
# delivered (from PKS) as suppressed.
echoes_seen() {
	echo_suppressed "$CONF_A" "$KA" && echo_suppressed "$CONF_B" "$KB"
}
wait_for "6a: each gateway records its node's mailsync of the key it delivered as suppressed (echo)" 30 \
	echoes_seen
sleep 3
wait_until 30 pool_settled
check_eq "6a: onak got one mail per POSTed key, K1 from gateway A, K2 from gateway B" \
	"$(onak_from_pool "$t")" "$(printf 'A:%s\nB:%s\n' "$K1" "$K2" | sort | tr '\n' ' ')"
check_eq "6a: ... and the two ADDs, nothing else (nothing echoed back)" \
	"$(count_since "$LAB_IN/onak" "$t")" 4
check_eq "6a: the pool took nothing more (onak saw $LAB_POOL in X-KeyServer-Sent)" \
	"$(( $(count_since "$LAB_IN/poolA" "$t") + $(count_since "$LAB_IN/poolB" "$t") ))" 2
check_eq "6a: gateway A queued K1 for onak, gateway B K2 (recon copies are not mailsynced)" \
	"$(gw_keys "$CONF_A" direction=outbound state=done)|$(gw_keys "$CONF_B" direction=outbound state=done)" "$K1 |$K2 "
check_eq "6a: each gateway took in only its own of K3, K4 (recon brought the other)" \
	"$(gw_keys "$CONF_A" direction=inbound)|$(gw_keys "$CONF_B" direction=inbound)|$(gw_keys "$CONF_A" keys="$KB")|$(gw_keys "$CONF_B" keys="$KA")" \
	"$KA |$KB ||"
scen_end
# ---------------------------------------------------------------------------
scen_begin 6b "pool: a mail that passed the pool, relayed back, is a loop at the other gateway"
m=
for f in $(mails "$LAB_IN/onak"); do
	sent_by_a "$f" && mail_has "$f" "$K1" && m=$f && break
done
{
	echo "From: PGP Key Server <pgp-public-keys@relay.test>"
	echo "To: $LAB_POOL"
	echo "Subject: incremental"
	echo "Date: $(LC_ALL=C date -R)"
	echo "Message-ID: <relayed-k1@relay.test>"
	echo "Precedence: list"
	# As it left the pool, and a relaying keyserver's own line.
	_hdr "$m" X-KeyServer-Sent | sed 's/^/X-KeyServer-Sent: /'
	echo "X-KeyServer-Sent: pgp-public-keys@relay.test"
	echo "Content-Type: application/pgp-keys"
	echo
	sed '1,/^$/d' "$m"
} >"$TEST_TMP/s6b.eml"
check "6b: the mail holds K1 as gateway A sent it to onak, X-KeyServer-Sent: $LAB_POOL" \
	sh -c "grep -qix 'X-KeyServer-Sent: $LAB_POOL' '$TEST_TMP/s6b.eml' && grep -q 'BEGIN PGP PUBLIC KEY BLOCK' '$TEST_TMP/s6b.eml'"
t=$(now_s)
check "6b: relayed back to the pool by node B's MX port ($POOL_MX_B)" \
	"$LAB_BIN/smtpsubmit" -p "$POOL_MX_B" -f pgp-public-keys@relay.test "$LAB_POOL" \
	<"$TEST_TMP/s6b.eml"
# looped - gateway B recorded the relayed mail as a loop.
looped() {
	[ "$(pb_field "$CONF_B" state message_id=relayed-k1@relay.test)" = loop ]
}
wait_for "6b: gateway B records it as a loop" 30 looped
scen_time "a loop at gateway B"
sleep 3
wait_until 30 pool_settled
check_eq "6b: gateway B's ingest took it (exit 0), and sent nothing for it" \
	"$(count_since "$LAB_IN/poolB" "$t")|$(mails_from "$LAB_IN/poolB" "$t" delivered)|$(pb_count "$CONF_B" direction=outbound keys="$K1")" "1|1|0"
check_eq "6b: mails into onak: none" "$(count_since "$LAB_IN/onak" "$t")" 0
scen_end

# ---------------------------------------------------------------------------
scen_begin 6c "pool: gateway A down (ingest exits 75): B keeps the pool fed; nothing lost"
[ "$P" -gt 6 ] && LAB_TRACE_SUMMARY=1
check "6c: gateway A's config broken (an operator's bad edit)" \
	pool_conf A "retry_schedule: whenever"
check_rc "6c: ... gateway A's ingest now exits 75" 75 \
	sh -c "echo | runuser -u '$PB_USER' -- '$PB_BIN' -c '$CONF_A' ingest 2>/dev/null"
i=0
: >"$TEST_TMP/s6c-mails"
while read -r f file; do
	i=$((i + 1))
	user_mail "$TEST_TMP/s6c-$i.eml" "$file" "User $i <user@user.test>"
	echo "$TEST_TMP/s6c-$i.eml" >>"$TEST_TMP/s6c-mails"
done <"$TEST_TMP/pool-out.list"
t=$(now_s)
refused0=$(grep -c 'pksbridge/sendmail.*temporary failure' "$LAB_POOLDIR/a/sks-db.log")
check "6c: Exim takes $P users' ADD mails for $LAB_PKS" user_send $(cat "$TEST_TMP/s6c-mails")
check "6c: POST K5 to node B" post_at B "$(pool_key 5 2)"
check "6c: POST K6 to node A" post_at A "$(pool_key 6 2)"
# poolAB_tapped N - N mails for the pool have reached the two gateways.
poolAB_tapped() {
	[ $(( $(count_since "$LAB_IN/poolA" "$t") + $(count_since "$LAB_IN/poolB" "$t") )) -ge "$1" ]
}
wait_for "6c: onak mails its $P incrementals to the pool" $((60 + 2 * P)) poolAB_tapped "$P"
nA=$(count_since "$LAB_IN/poolA" "$t")
nB=$(count_since "$LAB_IN/poolB" "$t")
tapped_keys "$LAB_IN/poolA" "$t" | tr ' ' '\n' | grep . >"$TEST_TMP/s6c-A.fprs"
tapped_keys "$LAB_IN/poolB" "$t" | tr ' ' '\n' | grep . >"$TEST_TMP/s6c-B.fprs"
echo "# 6c: onak's $P incrementals: $nA by node A's port (gateway A down), $nB by node B's"
check "6c: both nodes' ports got some ($nA, $nB)" test "$nA" -ge 1 -a "$nB" -ge 1
check_eq "6c: gateway A's ingest exited 75 for each of its $nA, gateway B's 0 for its $nB" \
	"$(mails_from "$LAB_IN/poolA" "$t" deferred) $(mails_from "$LAB_IN/poolB" "$t" delivered)" "$nA $nB"
if wait_for "6c: gateway B feeds the pool: both nodes serve B's $nB keys (gateway B, recon)" \
	$((60 + 2 * P)) both_serve_all "$TEST_TMP/s6c-B.fprs"; then
	t_b=$(elapsed "$t")
fi
wait_for "6c: ... and onak serves K5, POSTed at node B (gateway B)" 40 onak_has "$K5"
check_eq "6c: Exim holds A's $nA mails, deferred" "$(mta_queue_count)" "$nA"
check_grep "6c: ... Exim's log says: the pool router's pipe to gateway A returned 75, deferred" \
	"poolA .*<$LAB_POOL> R=pool T=pksb_pipe defer .*returned 75" "$MTA_DIR/log/mainlog"
check_grep "6c: ... and why, in pksbridge's words" \
	"poolA .*pksb_pipe transport output: pksbridge/ingest: temporary failure, mail deferred: .*retry_schedule" \
	"$MTA_DIR/log/mainlog"
check_eq "6c: neither node has A's $nA keys while A is down" \
	"$(pool_count_of A "$TEST_TMP/s6c-A.fprs") $(pool_count_of B "$TEST_TMP/s6c-A.fprs")" "0 0"
# sks_a_refused N - SKS A's sendmail (gateway A's intake) exited 75 at
# least N times in this scenario.
sks_a_refused() {
	[ $(( $(grep -c 'pksbridge/sendmail.*temporary failure' "$LAB_POOLDIR/a/sks-db.log") - refused0 )) -ge "$1" ]
}
wait_for "6c: node A's SKS cannot hand K6 to its gateway (sendmail exit 75; it retries every 10 s)" 30 \
	sks_a_refused 1
check_rc "6c: ... so onak has no K6 yet" 1 onak_has "$K6"
echo "# 6c: gateway A was down for $(elapsed "$t") s"
check "6c: gateway A's config fixed" pool_conf A
t_up=$(now_s)
check "6c: Exim's queue run (exim -qff) delivers A's mail" mta_run_queue
if wait_for "6c: both nodes serve A's $nA keys (gateway A, recon)" $((60 + 2 * P)) \
	both_serve_all "$TEST_TMP/s6c-A.fprs"; then
	scen_time "B's keys ${t_b:-?} s; A's $(elapsed "$t_up") s after A is back"
fi
wait_for "6c: onak serves K6: SKS A's next try went through gateway A" 40 onak_has "$K6"
# a_echoes - gateway A recorded SKS A's mailsync of each of A's keys
# as suppressed.
a_echoes() {
	while read -r _ae; do
		echo_suppressed "$CONF_A" "$_ae" || return 1
	done <"$TEST_TMP/s6c-A.fprs"
}
wait_for "6c: gateway A records its node's mailsync of A's $nA keys as suppressed (echo)" 30 \
	a_echoes
sleep 3
wait_until 60 pool_settled
check_eq "6c: Exim's queue is empty; gateway A's ingest took each of its $nA mails once (exit 0)" \
	"$(mta_queue_count) $(mails_from "$LAB_IN/poolA" "$t" delivered)" "0 $nA"
check_eq "6c: ... the same keys it had deferred" \
	"$(tapped_keys "$LAB_IN/poolA" "$t" delivered)" "$(tapped_keys "$LAB_IN/poolA" "$t" deferred)"
check_eq "6c: nothing lost: both nodes serve all $P keys ADDed to onak" \
	"$(pool_count_of A "$TEST_TMP/pool-out.fprs") $(pool_count_of B "$TEST_TMP/pool-out.fprs")" "$P $P"
check_eq "6c: onak got K5 from gateway B and K6 from gateway A, once each" \
	"$(onak_from_pool "$t")" "$(printf 'A:%s\nB:%s\n' "$K6" "$K5" | sort | tr '\n' ' ')"
check_eq "6c: ... besides the $P ADDs, nothing (no echo of the $P keys)" \
	"$(mails_from "$LAB_IN/onak" "$t" not_from_gateway)" "$P"
scen_end

# ---------------------------------------------------------------------------
echo
echo "=== the pool, all of scenario 6"
pool_all() {
	cut -d' ' -f1 "$TEST_TMP/pool.list"
}
pool_all >"$TEST_TMP/pool-all.fprs"
NP=$(wc -l <"$TEST_TMP/pool-all.fprs" | tr -d ' ')
check_eq "pool: both nodes and onak serve all $NP keys of scenario 6" \
	"$(pool_count_of A "$TEST_TMP/pool-all.fprs") $(pool_count_of B "$TEST_TMP/pool-all.fprs") $(onak_count_of "$TEST_TMP/pool-all.fprs")" \
	"$NP $NP $NP"
# What reached a node only by recon must be nowhere in its gateway: SKS
# does not mailsync it.
for g in A B; do
	conf=$(pool_conf_of $g)
	gw_keys "$conf" | tr ' ' '\n' | grep . >"$TEST_TMP/gw-$g.fprs"
	{
		[ $g = A ] && printf '%s\n' "$K1" "$K6"
		[ $g = B ] && printf '%s\n' "$K2" "$K5"
		gw_keys "$conf" direction=inbound | tr ' ' '\n' | grep .
	} | sort -u >"$TEST_TMP/gw-$g.own"
	check_eq "pool: gateway $g's entries name only keys POSTed at node $g or taken in by gateway $g" \
		"$(comm -23 "$TEST_TMP/gw-$g.fprs" "$TEST_TMP/gw-$g.own" | tr '\n' ' ')" ""
	check_eq "pool: gateway $g sent onak exactly the keys POSTed at node $g" \
		"$(gw_keys "$conf" direction=outbound state=done)" \
		"$(if [ $g = A ]; then printf '%s\n' "$K1" "$K6"; else printf '%s\n' "$K2" "$K5"; fi | sort | tr '\n' ' ')"
	check_eq "pool: gateway $g: no entry failed, quarantined or pending" \
		"$(pb_count "$conf" state=failed) $(pb_count "$conf" state=quarantined) $("$PKSBRIDGE" -c "$conf" queue list --json | wc -l | tr -d ' ')" \
		"0 0 0"
done
check_eq "pool: onak synced none of the pool's mails onward (X-KeyServer-Sent)" \
	"$(( $(grep -c 'Syncing with 0 sites' "$LAB_ONAK/onak.log") - syncs0 ))" \
	"$(mails_from "$LAB_IN/onak" "$T_POOL" from_gateway)"
echo "# pool: recon fetched $(sks_recon_keys "$LAB_POOLDIR/b") key(s) at node B, $(sks_recon_keys "$LAB_POOLDIR/a") at node A"
echo "# pool: scenario 6 took $(elapsed "$T_POOL") s, building the pool included"
for g in a b; do
	echo "# gateway $(echo $g | tr ab AB)'s queue at the end:"
	"$PKSBRIDGE" -c "$LAB_POOLDIR/$g.conf" queue stats | sed 's/^/#   /'
done

# ---------------------------------------------------------------------------
echo
echo "=== the whole run"
check_eq "no mail bounced (mailer-daemon, postmaster)" \
	"$(mails "$LAB_IN/bounce" | wc -l | tr -d ' ')" 0
# A bounce is Exim's own mail from <> about another one (R=ID); the
# bridge's replies come from <> too, by SMTP from the bridge.
check_eq "Exim never bounced or failed a delivery (no <= <> R=, no **)" \
	"$(grep -c -e ' <= <> R=' -e ' \*\* ' "$LAB/exim/log/mainlog")" 0
pb_list "$LAB_CONF" "$TEST_TMP/final.json"
check "queue list --all --json keeps the JSON contract" $PBJSON list "$TEST_TMP/final.json"
check_eq "no pksbridge entry failed or is pending; quarantined only 3d's delta" \
	"$($PBJSON count "$TEST_TMP/final.json" state=failed) $($PBJSON count "$TEST_TMP/final.json" state=quarantined) $("$PKSBRIDGE" -c "$LAB_CONF" queue list --json | wc -l | tr -d ' ')" \
	"0 1 0"
check "the runners logged no error (the bridge's, gateway A's, gateway B's)" sh -c \
	"! grep -Ei 'error|panic|assert' '$LAB/runner.log' '$LAB_POOLDIR/a-runner.log' '$LAB_POOLDIR/b-runner.log'"
echo "# pksbridge's queue at the end:"
"$PKSBRIDGE" -c "$LAB_CONF" queue stats | sed 's/^/#   /'
lab_stop
check_eq "no process of the lab is left running" "$(_t_doomed)" ""

echo
echo "=== summary (lab: $LAB_KEYS keys each way; $(elapsed "$T_START") s in all)"
printf '%-3s %-4s %7s  %-44s %9s %9s %9s %7s %6s  %s\n' "#" result "time/s" \
	"headline timing" "bridge>onak" "users>onak" "onak>bridge" "replies" bounces scenario
while IFS='|' read -r n r tt st ob ou b u x title; do
	printf '%-3s %-4s %7s  %-44s %9s %9s %9s %7s %6s  %s\n' "$n" "$r" "$tt" "$st" \
		"$ob" "$ou" "$b" "$u" "$x" "$title"
done <"$SUMMARY"
echo "#   (bridge>onak: mails from the bridge or a pool gateway; onak>bridge: mails a bridge or pool ingest took, exit 0)"
echo
echo "=== the pool's mail by direction (scenario 6; $LAB_POOL_KEYS keys ADDed to onak in 6c)"
printf '%-3s %-4s %6s %6s %10s %6s %9s %6s %9s %11s %11s %9s %9s %s\n' "#" result \
	"A>onak" "B>onak" "users>onak" "onak>A" "(defer75)" "onak>B" "(defer75)" \
	"skA>gwA(75)" "skB>gwB(75)" "recon A>B" "recon B>A" "replies/bounces"
while IFS='|' read -r n r ao bo uo ia da ib db sa ra sb rb rab rba ux; do
	printf '%-3s %-4s %6s %6s %10s %6s %9s %6s %9s %11s %11s %9s %9s %s\n' "$n" "$r" \
		"$ao" "$bo" "$uo" "$ia" "$da" "$ib" "$db" "$sa($ra)" "$sb($rb)" "$rab" "$rba" "$ux"
done <"$POOL_SUMMARY"
echo "#   A>onak, B>onak: mails gateway A, B sent onak; onak>A, onak>B: mails for the pool address gateway A's, B's ingest took (exit 0), (defer75) attempts it deferred"
echo "#   skA>gwA: mails SKS node A handed its gateway's sendmail (75: refused, SKS retries); recon A>B: keys node B fetched from node A"
done_testing
