#!/bin/sh
# tests/integration/policy_doors.sh - the key policy at every door of the
# bridge, with the real components: a throwaway SKS as the key database
# (hkp://), tests/tools/smtpsink as the relay that takes the mail for the
# PKS peer and the replies, keys made as attackers made them by
# tests/tools/pgpgen.py, and what crossed checked with gpg --list-packets.
#
#   inbound (PKS incremental -> SKS):
#     * a no-modify flood: SKS serves no third-party certification
#     * an open flood: SKS serves at most max_certs_per_uid (100)
#     * a forged, an oversized and a photo user ID: dropped, the valid
#       user ID served
#     * 50,000 certifications (6 MB): trimmed and served, not quarantined
#     * a blocked key with a revocation: entry blocked, SKS serves the
#       revocation and no user ID; a blocked key without one: not served
#     * a PKS delta of 500 certifications for a key SKS holds: judged
#       against the stored key (open: the cap arrives; no-modify: none,
#       the entry quarantined with the policy's reason)
#   outbound (ADD -> the PKS peer):
#     * ADD of a no-modify flood: the peer gets the key, no certification
#     * ADD of a hard-revoked key: the peer gets it with no user ID
#   replies:
#     * GET of an open flood SKS got behind the bridge's back: at most the
#       cap in the reply
#     * GET and INDEX of a blocked key SKS holds: no key in the reply
#     * LAST: a blocked key this gateway saw change is withheld
#   accounting: the policy= log line per key.
. "$(dirname "$0")/../lib.sh"
. "$TOP/tests/lib/sks.sh"
. "$TOP/tests/lib/sks_it.sh"
. "$TOP/tests/lib/smtpsink.sh"
. "$TOP/tests/lib/mailcmd_it.sh"
. "$TOP/tests/lib/outbound_it.sh"

need_cmd sks gpg curl python3 || done_testing
GEN="python3 $TOP/tests/tools/pgpgen.py"
PEER=peer@pks.example
LOG=$TEST_TMP/pb.log
: >"$LOG"

mc_sks
mc_sink
show_on_failure "$LOG" "$SKS/sks-db.log"
CONF=$TEST_TMP/pksbridge.conf
K=$TEST_TMP/keys
mkdir -p "$K"
BLOCK=$TEST_TMP/block.list

# The attack shapes; gen NAME SHAPE ARGS... writes K/NAME.asc and sets
# fpr_NAME (pgpgen prints the fingerprint on stderr).
gen() {
	_g_name=$1
	shift
	_g_fpr=$($GEN shape "$@" --seed "$_g_name" --out "$K/$_g_name.asc" 2>&1 >/dev/null)
	eval "fpr_$_g_name=\$_g_fpr"
}
gen nomod flood --certs 2000 --no-modify
gen open flood --certs 2000
gen forged forged-uid
gen big big-uid
gen photo photo
gen hardrev revoked
gen blockrev revoked --reason 1
gen blockplain flood --certs 1
gen addflood flood --certs 2000 --no-modify
gen behind flood --certs 2000
gen behindblocked flood --certs 3
$GEN shape flood --seed big50k --certs 50000 --out "$K/big50k.asc" \
	2>"$K/big50k.fpr" >/dev/null
fpr_big50k=$(cat "$K/big50k.fpr")
printf '# blocked in this test\n%s\n%s\n%s\n' "$fpr_blockrev" "$fpr_blockplain" \
	"$fpr_behindblocked" >"$BLOCK"
echo "$PEER" >"$TEST_TMP/peers"
mc_conf "$CONF" "$TEST_TMP/spool" "mailsync_file: $TEST_TMP/peers" \
	"reply_limit: 100/1h" "batch_window: 0s" "blocklist_file: $BLOCK"

# served FPR OUT - what SKS serves for FPR, into OUT.
served() {
	curl -s -m 10 -o "$2" \
		"http://127.0.0.1:$SKS_PORT/pks/lookup?op=get&options=mr&search=0x$1"
}
# count WHAT FILE - packets of a kind in FILE: cert (third-party and
# self certifications, class 0x10..0x13 by others counted apart: cert3
# is class 0x10, which pgpgen's throwaway certifiers use and GnuPG's
# self-signatures never do), uid, uat, keyrev.
count() {
	case $1 in
	cert3) _c_re='sigclass 0x10' ;;
	uid) _c_re='^:user ID packet:' ;;
	uat) _c_re='^:attribute packet:' ;;
	keyrev) _c_re='sigclass 0x20' ;;
	esac
	gpg --list-packets "$2" 2>/dev/null | grep -c "$_c_re"
}
# pks_in NAME MAIL... - a PKS incremental mail with those files, ingested
# and everything due delivered.
pks_in() {
	_pi_id=$1
	shift
	pks_mail "$TEST_TMP/$_pi_id.eml" "$_pi_id@pks.example" "$@"
	"$PKSBRIDGE" -c "$CONF" ingest <"$TEST_TMP/$_pi_id.eml" >>"$LOG" 2>&1 &&
		"$PKSBRIDGE" -c "$CONF" run --once >>"$LOG" 2>&1
}
# person NAME SUBJECT [FILE] - a person's mail (a mail command), ingested
# and everything due delivered.
person() {
	{
		echo "Return-Path: <alice@client.test>"
		echo "From: alice@client.test"
		echo "To: $MC_US"
		echo "Subject: $2"
		echo "Message-ID: <$1@client.test>"
		echo
		[ -n "${3:-}" ] && cat "$3"
	} >"$TEST_TMP/$1.eml"
	"$PKSBRIDGE" -c "$CONF" ingest <"$TEST_TMP/$1.eml" >>"$LOG" 2>&1 &&
		"$PKSBRIDGE" -c "$CONF" run --once >>"$LOG" 2>&1
}
state_of() {
	pb_field "$CONF" state message_id="$1" | head -n 1
}

# --- inbound ---------------------------------------------------------------
check "a no-modify flood of 2000 certifications: ingested and delivered" \
	pks_in nomod "$K/nomod.asc"
served "$fpr_nomod" "$TEST_TMP/s-nomod"
check_eq "... SKS serves it with no third-party certification" \
	"$(count cert3 "$TEST_TMP/s-nomod") $(count uid "$TEST_TMP/s-nomod")" "0 1"
check_grep "... the log line counts what the policy dropped" \
	"key=$fpr_nomod, door=keydb, verdict=kept, policy=kept:3,third_party:2000" "$LOG"
pb_list "$CONF" "$TEST_TMP/list.json"
check "... queue list --all --json keeps its contract, policy objects included" \
	$PBJSON list "$TEST_TMP/list.json"
check "... queue show --json: the key's policy object counts the drops" python3 -c '
import json, subprocess, sys
pb, conf, msgid = sys.argv[1:4]
for l in open(sys.argv[4]):
    e = json.loads(l)
    if e["message_id"] == msgid:
        break
s = json.loads(subprocess.check_output([pb, "-c", conf, "queue", "show", e["id"], "--json"]))
p = s["keys"][0]["policy"]
assert p["verdict"] == "kept" and p["kept"] == 3, p
assert p["dropped"] == {"third_party": 2000}, p
' "$PKSBRIDGE" "$CONF" nomod@pks.example "$TEST_TMP/list.json"

check "an open flood of 2000 certifications" pks_in open "$K/open.asc"
served "$fpr_open" "$TEST_TMP/s-open"
check_eq "... SKS serves max_certs_per_uid (100) of them" \
	"$(count cert3 "$TEST_TMP/s-open")" 100

check "forged, oversized and photo user IDs, one mail" \
	pks_in ids "$K/forged.asc" "$K/big.asc" "$K/photo.asc"
for n in forged big photo; do
	eval "f=\$fpr_$n"
	served "$f" "$TEST_TMP/s-$n"
	check_eq "... $n: SKS serves the valid user ID only, no photo" \
		"$(count uid "$TEST_TMP/s-$n") $(count uat "$TEST_TMP/s-$n")" "1 0"
done

check "50,000 certifications ($(wc -c <"$K/big50k.asc") bytes armored)" \
	pks_in big50k "$K/big50k.asc"
check_eq "... the entry is done, not quarantined" "$(state_of big50k@pks.example)" done
served "$fpr_big50k" "$TEST_TMP/s-big50k"
check_eq "... SKS serves it trimmed to the cap" "$(count cert3 "$TEST_TMP/s-big50k")" 100
big_id=$(pb_field "$CONF" id message_id=big50k@pks.example)
echo "# 50,000 certifications, delivery: $(grep "$big_id: to=<" "$LOG" | sed 's/.*\(delay=[^,]*\).*/\1/')"

check "a blocked key with a (soft) revocation" pks_in blockrev "$K/blockrev.asc"
check_eq "... the entry is blocked" "$(state_of blockrev@pks.example)" blocked
served "$fpr_blockrev" "$TEST_TMP/s-blockrev"
check_eq "... SKS serves its revocation and no user ID" \
	"$(count keyrev "$TEST_TMP/s-blockrev") $(count uid "$TEST_TMP/s-blockrev")" "1 0"
check "a blocked key without a revocation" pks_in blockplain "$K/blockplain.asc"
check_eq "... the entry is blocked" "$(state_of blockplain@pks.example)" blocked
check "... SKS does not have it" sks_absent "$SKS_PORT" "$fpr_blockplain"

# The operator's list in the spool (block add), merged with blocklist_file.
gen opsblock flood --certs 1
"$PKSBRIDGE" -c "$CONF" block add "$fpr_opsblock" --reason "takedown 42" \
	>"$TEST_TMP/block.out" 2>&1
check_eq "block add FPR --reason: exit 0" "$?" 0
check_grep "... the change is logged with its reason" \
	"action=block, operator=.*, fingerprint=$fpr_opsblock, reason=\"takedown 42\"" \
	"$TEST_TMP/block.out"
"$PKSBRIDGE" -c "$CONF" block list >"$TEST_TMP/block.list.out" 2>&1
check_grep "... block list shows it with its reason" "^$fpr_opsblock .*takedown 42" \
	"$TEST_TMP/block.list.out"
check "a key on the operator's list" pks_in opsblock "$K/opsblock.asc"
check_eq "... the entry is blocked" "$(state_of opsblock@pks.example)" blocked
check "... SKS does not have it" sks_absent "$SKS_PORT" "$fpr_opsblock"
check_rc "block remove of a fingerprint not on the list: 65" 65 \
	"$PKSBRIDGE" -c "$CONF" block remove "$fpr_open"
check_rc "block add of a key ID: 64" 64 "$PKSBRIDGE" -c "$CONF" block add 0x9240B012
check "block remove FPR: exit 0" "$PKSBRIDGE" -c "$CONF" block remove "$fpr_opsblock"
check_eq "... block list --json is empty" \
	"$("$PKSBRIDGE" -c "$CONF" block list --json | wc -l)" 0

# Deltas: the stored key goes to SKS behind the bridge's back, then PKS
# sends only the new packets (primary key, user ID, certifications, no
# self-signature), as pksd and onak do.
python3 - "$TOP/tests/tools" "$K" <<'EOF'
import sys
sys.path.insert(0, sys.argv[1])
import pgpgen as g
for name, nomod in (("dopen", False), ("dnomod", True), ("ddown", False)):
    key, data = g.shape_flood(name, 500, nomod)
    p = g.split_packets(data)
    stored = g.packet(6, p[0][1]) + g.packet(13, p[1][1]) + g.packet(2, p[2][1])
    delta = g.packet(6, p[0][1]) + g.packet(13, p[1][1]) + b"".join(
        g.packet(2, b) for _, b in p[3:])
    open("%s/%s-stored.asc" % (sys.argv[2], name), "w").write(g.armor(stored))
    open("%s/%s-delta.asc" % (sys.argv[2], name), "w").write(g.armor(delta))
    open("%s/%s.fpr" % (sys.argv[2], name), "w").write(key.fingerprint() + "\n")
EOF
check "deltas: the stored keys POSTed to SKS directly" \
	sks_post "$SKS_PORT" "$K/dopen-stored.asc" "$K/dnomod-stored.asc" \
	"$K/ddown-stored.asc"
fpr_dopen=$(cat "$K/dopen.fpr")
fpr_dnomod=$(cat "$K/dnomod.fpr")
check "a delta of 500 certifications for the stored open key" \
	pks_in dopen "$K/dopen-delta.asc"
served "$fpr_dopen" "$TEST_TMP/s-dopen"
check_eq "... judged against the stored key: the cap arrives" \
	"$(count cert3 "$TEST_TMP/s-dopen")" 100
check_grep "... the log line: 100 certifications kept under the primary key and user ID (alone, the delta binds nothing)" \
	"key=$fpr_dopen, door=keydb, verdict=kept, policy=kept:102,cap:400" "$LOG"
check "a delta of 500 certifications for the stored no-modify key" \
	pks_in dnomod "$K/dnomod-delta.asc"
served "$fpr_dnomod" "$TEST_TMP/s-dnomod"
check_eq "... none arrives" "$(count cert3 "$TEST_TMP/s-dnomod")" 0
check_eq "... the entry is quarantined" "$(state_of dnomod@pks.example)" quarantined
check_grep "... with the policy's count" \
	"key=$fpr_dnomod, door=keydb, verdict=empty, policy=kept:0,stored:2,third_party:500" "$LOG"
# SKS down: a delta is never delivered unjudged, it waits.
sks_stop "$SKS"
fpr_ddown=$(cat "$K/ddown.fpr")
pks_mail "$TEST_TMP/ddown.eml" ddown@pks.example "$K/ddown-delta.asc"
"$PKSBRIDGE" -c "$CONF" ingest <"$TEST_TMP/ddown.eml" >>"$LOG" 2>&1
check_eq "a delta while SKS is down: deferred" "$(state_of ddown@pks.example)" deferred
check "... last_error: the stored copy could not be fetched" sh -c \
	"'$PKSBRIDGE' -c '$CONF' queue list --all --json | grep -q 'stored copy of $fpr_ddown'"
sks_start "$SKS" "$SKS_PORT" 2>>"$LOG" || { not_ok "SKS restarts"; done_testing; }
ddown_id=$(pb_field "$CONF" id message_id=ddown@pks.example)
"$PKSBRIDGE" -c "$CONF" queue retry "$ddown_id" >>"$LOG" 2>&1
"$PKSBRIDGE" -c "$CONF" run --once >>"$LOG" 2>&1
check_eq "SKS back, queue retry and run --once: the delta is delivered" \
	"$(state_of ddown@pks.example)" done
served "$fpr_ddown" "$TEST_TMP/s-ddown"
check_eq "... judged against the stored key: the cap arrives" \
	"$(count cert3 "$TEST_TMP/s-ddown")" 100

# --- outbound: ADD goes to the PKS peer ---------------------------------------
n0=$(smtpsink_count "$SINK")
check "ADD of a no-modify flood" person addflood ADD "$K/addflood.asc"
pm=$(peer_msgs_after "$SINK" "$PEER" "$n0" | tail -n 1)
check "... the peer gets a mail" test -n "$pm"
check_eq "... with the key, no third-party certification" \
	"$(count uid "$pm") $(count cert3 "$pm")" "1 0"
check "... under 4 KB (the flood was $(wc -c <"$K/addflood.asc") bytes)" \
	test "$(wc -c <"$pm")" -lt 4096
n0=$(smtpsink_count "$SINK")
check "ADD of a hard-revoked key" person hardrev ADD "$K/hardrev.asc"
pm=$(peer_msgs_after "$SINK" "$PEER" "$n0" | tail -n 1)
check_eq "... the peer gets its revocation and subkey, no user ID" \
	"$(count keyrev "$pm") $(count uid "$pm") $(gpg --list-packets "$pm" 2>/dev/null | grep -c '^:public sub key packet:')" \
	"1 0 1"
served "$fpr_hardrev" "$TEST_TMP/s-hardrev"
check_eq "... and SKS serves it with no user ID" "$(count uid "$TEST_TMP/s-hardrev")" 0

# --- replies ------------------------------------------------------------------
check "an open flood and a blocked key POSTed to SKS behind the bridge's back" \
	sks_post "$SKS_PORT" "$K/behind.asc" "$K/behindblocked.asc"
served "$fpr_behind" "$TEST_TMP/s-behind"
check_eq "... SKS serves all 2000" "$(count cert3 "$TEST_TMP/s-behind")" 2000
n0=$(smtpsink_count "$SINK")
check "GET of the flooded key" person get1 "GET 0x$fpr_behind"
rp=$SINK/msg.$((n0 + 1))
check_eq "... the reply carries it trimmed to the cap" \
	"$(count uid "$rp") $(count cert3 "$rp")" "1 100"
n0=$(smtpsink_count "$SINK")
check "GET of the blocked key" person get2 "GET 0x$fpr_behindblocked"
rp=$SINK/msg.$((n0 + 1))
check_eq "... the reply carries no key" "$(grep -c 'BEGIN PGP PUBLIC KEY BLOCK' "$rp")" 0
check_grep "... and says nothing matches" "No key matches" "$rp"
n0=$(smtpsink_count "$SINK")
check "INDEX of the blocked key" person idx "INDEX 0x$fpr_behindblocked"
rp=$SINK/msg.$((n0 + 1))
check_grep "... the reply does not list it" "No key matches" "$rp"

n0=$(smtpsink_count "$SINK")
check "LAST 1" person last1 "LAST 1"
rp=$SINK/msg.$((n0 + 1))
check_grep "... says the key policy withheld the blocked key SKS holds" \
	"not sent: this keyserver's key policy passes" "$rp"
check_eq "... and does not carry it" \
	"$(gpg --list-packets "$rp" 2>/dev/null | grep -ci "keyid: ${fpr_blockrev#????????????????????????}")" 0

# --- accounting: Prometheus counters ------------------------------------------
"$PKSBRIDGE" -c "$CONF" queue stats --prometheus >"$TEST_TMP/stats.prom" 2>&1
check "queue stats --prometheus: the policy's counters" python3 -c '
import re, sys
v = {}
for l in open(sys.argv[1]):
    m = re.match(r"(pksbridge_policy_\w+)\{door=\"(\w+)\",\w+=\"(\w+)\"\} (\d+)$", l)
    if m:
        v[m.group(1, 2, 3)] = int(m.group(4))
d = "pksbridge_policy_dropped_packets_total"
k = "pksbridge_policy_keys_total"
# keydb: 2000 (nomod) + 500 (dnomod) third-party, at least
assert v.get((d, "keydb", "third_party"), 0) >= 2500, v
# 1900 + 49900 + 400 + 400 over the cap
assert v.get((d, "keydb", "cap"), 0) >= 52600, v
assert v.get((k, "keydb", "blocked"), 0) == 3, v
assert v.get((d, "peer", "third_party"), 0) >= 2000, v
assert v.get((d, "peer", "hard_revoked"), 0) >= 3, v
assert "# TYPE pksbridge_policy_keys_total counter" in open(sys.argv[1]).read()
' "$TEST_TMP/stats.prom"
done_testing
