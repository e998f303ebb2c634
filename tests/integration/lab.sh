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
#       reaches onak as that change
#   3b. the same the other way: a user ADDs a newly certified key to
#       onak, whose incremental carries only the delta (PKS style) ->
#       SKS has the new certification; nothing comes back to onak
#   4.  Exim stopped: pksbridge's mail waits in its queue (deferred,
#       connection refused), and is delivered once Exim is back
#   5.  $LAB_KEYS keys each way at once (POSTed to SKS; ADDed to onak,
#       one user mail per key): all arrive, mails counted both ways
#
# Each scenario ends with a PASS/FAIL line and the mail it caused; a
# summary table ends the run.  tests/lab/run (make lab) runs this with
# 200 keys each way; the default test run (tests/run) uses $LAB_KEYS,
# default 20, to stay within a couple of minutes.
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

# --- scenario bookkeeping ----------------------------------------------------
# scen_begin NUMBER TITLE; scen_time TEXT (the scenario's headline
# timing); scen_end.  A scenario passes if none of its checks failed.
scen_begin() {
	SC_NUM=$1
	SC_TITLE=$2
	SC_T0=$(now_s)
	SC_FAIL0=$_t_fail
	SC_TIME=-
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

not_from_bridge() {
	! from_bridge "$1"
}

scen_end() {
	_se_res=PASS
	[ "$_t_fail" -gt "$SC_FAIL0" ] && _se_res=FAIL
	_se_ob=$(mails_from "$LAB_IN/onak" "$SC_T0" from_bridge)
	_se_ou=$(mails_from "$LAB_IN/onak" "$SC_T0" not_from_bridge)
	_se_b=$(count_since "$LAB_IN/bridge" "$SC_T0")
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
	LAB_TRACE_SUMMARY=
}

# lab_trace_summary T - the mail since T grouped by destination, sender
# and Subject: how many, when the first and last arrived.
lab_trace_summary() {
	for _ls_d in onak bridge user bounce; do
		for _ls_f in $(mails_since "$LAB_IN/$_ls_d" "$1"); do
			_ls_n=${_ls_f##*/}
			printf '%s|%s|%s|%s\n' "$_ls_d" \
				"$(_hdr "$_ls_f" From | head -n 1 | sed 's/.*<\(.*\)>.*/\1/')" \
				"$(_hdr "$_ls_f" Subject | head -n 1)" \
				"${_ls_n%.*.eml}"
		done
	done | awk -F'|' -v t0="$1" '
		{ k = $1 "|" $2 "|" $3; n[k]++; t = $4 - t0
		  if (!(k in lo) || t < lo[k]) lo[k] = t
		  if (!(k in hi) || t > hi[k]) hi[k] = t }
		END { for (k in n) { split(k, a, "|")
			d = a[1] == "onak" ? "onak (pks.test)" : a[1] == "bridge" ? "pksbridge ingest" : a[1] == "user" ? "user mailbox" : "BOUNCE"
			printf "#   %4d mail(s) to %-18s from %-38s \"%s\", +%.1fs .. +%.1fs\n", n[k], d, a[2], a[3], lo[k], hi[k] } }' |
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

# Real keys for scenarios 4 and 5: LAB_KEYS each way plus 3.
NEED=$((2 * LAB_KEYS + 3))
if ! debkeys_split "$NEED" 24576; then
	not_ok "$NEED keys split from $DEBKEYS_RING" "$(cat "$DEBSPLIT/split.err")"
	done_testing
fi
sed -n "1,${LAB_KEYS}p" "$DEBSPLIT/list" >"$TEST_TMP/sks-side.list"
sed -n "$((LAB_KEYS + 1)),$((2 * LAB_KEYS))p" "$DEBSPLIT/list" >"$TEST_TMP/onak-side.list"
sed -n "$((2 * LAB_KEYS + 1)),$((2 * LAB_KEYS + 3))p" "$DEBSPLIT/list" >"$TEST_TMP/mta-down.list"
for l in sks-side onak-side mta-down; do
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
check "3: POST carol to SKS" sks_post "$SKS_PORT" "$KEYS/carol.asc"
wait_for "3: onak serves carol" 40 onak_has "$CAROL"
wait_until 20 settled
check_rc "3: onak has no certification by alice on carol yet" 1 \
	onak_sig_on "$CAROL" "$ALICE_ID"
t=$(now_s)
check "3: POST carol-signed (carol + alice's certification) to SKS" \
	sks_post "$SKS_PORT" "$KEYS/carol-signed.asc"
if wait_for "3: onak lists alice's certification on carol" 40 \
	onak_sig_on "$CAROL" "$ALICE_ID"; then
	scen_time "onak has it $(elapsed "$t") s after the POST"
fi
wait_until 20 settled
sleep 1
check "3: one mail into onak since the POST, holding carol" \
	only_mail_holds "$LAB_IN/onak" "$t" "$CAROL"
m=$(mails_since "$LAB_IN/onak" "$t" | head -n 1)
check "3: ... with alice's certification in it" sh -c \
	"gpg --homedir '$OB_GNUPG' --batch -q --with-colons --with-sig-list \
		--show-keys '$m' 2>/dev/null | grep -q '^sig:[^:]*::[0-9]*:$ALICE_ID:'"
check_eq "3: mails into the bridge: none" "$(count_since "$LAB_IN/bridge" "$t")" 0
scen_end

# ---------------------------------------------------------------------------
scen_begin 3b "a new certification ADDed at onak reaches SKS (a PKS delta)"
# bob with a new certification by dave, made here with dave's secret key.
G=$TEST_TMP/signer
mkdir -m 700 "$G"
gpg --homedir "$G" --batch -q --import "$KEYS/dave-secret.asc" "$KEYS/bob.asc" 2>/dev/null
gpg --homedir "$G" --batch -q --pinentry-mode loopback --passphrase '' \
	-u "$DAVE" --quick-sign-key "$BOB" >/dev/null 2>&1
gpg --homedir "$G" --batch -q --armor --export "$BOB" >"$TEST_TMP/bob-signed.asc" 2>/dev/null
gpgconf --homedir "$G" --kill all 2>/dev/null
check "3b: bob with dave's new certification made (gpg --quick-sign-key)" sh -c \
	"gpg --homedir '$OB_GNUPG' --batch -q --with-colons --with-sig-list \
		--show-keys '$TEST_TMP/bob-signed.asc' 2>/dev/null | grep -q '^sig:[^:]*::[0-9]*:$DAVE_ID:'"
check_rc "3b: SKS has no certification by dave on bob yet" 1 \
	sks_sig_on "$BOB" "$DAVE_ID"
user_mail "$TEST_TMP/s3b.eml" "$TEST_TMP/bob-signed.asc"
t=$(now_s)
check "3b: Exim takes the user's ADD of bob-signed for $LAB_PKS" \
	user_send "$TEST_TMP/s3b.eml"
wait_for "3b: onak lists dave's certification on bob" 30 onak_sig_on "$BOB" "$DAVE_ID"
wait_for "3b: onak mails its incremental to the bridge" 30 \
	at_least 1 count_since "$LAB_IN/bridge" "$t"
m=$(mails_since "$LAB_IN/bridge" "$t" | head -n 1)
echo "# 3b: onak's incremental carries the delta only: $(gpg --list-packets "$m" 2>/dev/null |
	grep -c '^:') packets (bob-signed has $(gpg --list-packets "$TEST_TMP/bob-signed.asc" 2>/dev/null | grep -c '^:'))"
if wait_for "3b: SKS lists dave's certification on bob" 30 sks_sig_on "$BOB" "$DAVE_ID"; then
	scen_time "SKS has it $(elapsed "$t") s after the ADD"
fi
check_eq "3b: pksbridge ingest took it (exit 0)" "$(cat "$m.rc" 2>/dev/null)" 0
check_eq "3b: nothing of it was quarantined" \
	"$(pb_count "$LAB_CONF" direction=inbound state=quarantined)" 0
# SKS mailsyncs the merged bob back within 10 s; the new packets came
# from PKS and the rest was sent to onak in scenario 2: nothing to send.
# echoed - SKS's echo of the merged bob was recorded suppressed.
echoed() {
	pb_count "$LAB_CONF" direction=outbound state=suppressed keys="$BOB" >"$TEST_TMP/.echoed" &&
		[ "$(cat "$TEST_TMP/.echoed")" -ge 1 ]
}
wait_for "3b: SKS mailsyncs the merged bob into pksbridge sendmail: suppressed" 30 echoed
pb_field "$LAB_CONF" last_error direction=outbound state=suppressed keys="$BOB" |
	sed 's/^/# 3b: why: /'
sleep 3
wait_until 20 settled
check_eq "3b: mails into onak since the ADD: the user's ADD only" \
	"$(count_since "$LAB_IN/onak" "$t")" 1
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
ou=$(mails_from "$LAB_IN/onak" "$t" not_from_bridge)
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
check_eq "no pksbridge entry failed, quarantined or is pending" \
	"$($PBJSON count "$TEST_TMP/final.json" state=failed) $($PBJSON count "$TEST_TMP/final.json" state=quarantined) $("$PKSBRIDGE" -c "$LAB_CONF" queue list --json | wc -l | tr -d ' ')" \
	"0 0 0"
check "the runner logged no error" sh -c \
	"! grep -Ei 'error|panic|assert' '$LAB/runner.log'"
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
done_testing
