# tests/lib/sks_it.sh - helpers for the integration tests that run the real
# pksbridge binary against a real throwaway SKS (tests/integration/
# inbound_sks*.sh).  Source after tests/lib.sh and tests/lib/sks.sh.
#
#   debkeys_pick N [MAX_BYTES]  export the first N keys of Debian's keyring
#                          whose binary export is at most MAX_BYTES (default
#                          16384, so that SKS merges them quickly) as armored
#                          files; needs gpg (a private GNUPGHOME in TEST_TMP,
#                          the system keyring is only read)
#   debkey I               fingerprint of the I-th picked key (1-based)
#   debkey_asc FPR         path of that key's armored export
#   pks_mail OUT MSGID FILE...   a PKS "incremental" mail whose body is the
#                          FILEs (armored keys, text) concatenated; one
#                          X-KeyServer-Sent header per word of $PKS_SENT
#                          (default pgp-public-keys@pks.example)
#   pks_mail_base64 OUT MSGID FILE...  the same, MIME application/pgp-keys
#                          with Content-Transfer-Encoding: base64
#   break_crc IN OUT       a copy of armored key IN with a wrong CRC-24
#   pb_conf FILE LINE...   write a pksbridge.conf, one "key: value" per LINE
#   pb_list CONF OUT       `queue list --all --json` into OUT (exit status
#                          of pksbridge)
#   pb_field CONF FIELD NAME=VALUE...  FIELD of the entries matching all
#                          selectors, one per line (tests/lib/pbjson.py get)
#   pb_count CONF NAME=VALUE...      how many entries match
#   sks_served PORT FPR    one HKP lookup: true if SKS serves the key now
#   sks_absent PORT FPR    one HKP lookup: SKS answers "not found"
#   sks_posts BASEDIR      how many /pks/add requests SKS has handled
#   sks_spool_files BASEDIR   how many message files SKS has merged
#   now_ms                 wall clock in milliseconds
#
# PBJSON is the JSON checker; PKSBRIDGE the binary under test (tests/run
# exports it).

PKSBRIDGE=${PKSBRIDGE:-$TOP/${BUILD:-build}/pksbridge}
PBJSON="python3 $TOP/tests/lib/pbjson.py"
DEBKEYS_RING=${DEBKEYS_RING:-/usr/share/keyrings/debian-keyring.gpg}
DEBKEYS_DIR=$TEST_TMP/debkeys
PKS_SENT=${PKS_SENT:-pgp-public-keys@pks.example}

_dk_gpg() {
	gpg --homedir "$DEBKEYS_DIR/gnupg" --batch -q --no-default-keyring \
		--no-auto-check-trustdb --keyring "$DEBKEYS_RING" "$@"
}

debkeys_pick() {
	_dk_want=$1
	_dk_max=${2:-16384}
	mkdir -p "$DEBKEYS_DIR/gnupg" || return 1
	chmod 700 "$DEBKEYS_DIR/gnupg"
	: >"$DEBKEYS_DIR/list"
	_dk_n=0
	_dk_gpg --with-colons --list-keys 2>/dev/null |
		awk -F: '/^pub/ { want = 1; next } /^fpr/ && want { print $10; want = 0 }' \
			>"$DEBKEYS_DIR/all" || return 1
	while read -r _dk_f; do
		_dk_gpg --export "$_dk_f" >"$DEBKEYS_DIR/tmp.gpg" 2>/dev/null || continue
		_dk_size=$(wc -c <"$DEBKEYS_DIR/tmp.gpg")
		[ "$_dk_size" -gt 0 ] && [ "$_dk_size" -le "$_dk_max" ] || continue
		_dk_gpg --armor --export "$_dk_f" >"$DEBKEYS_DIR/$_dk_f.asc" 2>/dev/null ||
			return 1
		echo "$_dk_f" >>"$DEBKEYS_DIR/list"
		_dk_n=$((_dk_n + 1))
		[ "$_dk_n" -ge "$_dk_want" ] && break
	done <"$DEBKEYS_DIR/all"
	rm -f "$DEBKEYS_DIR/tmp.gpg"
	[ "$_dk_n" -ge "$_dk_want" ]
}

debkey() {
	sed -n "${1}p" "$DEBKEYS_DIR/list"
}

debkey_asc() {
	echo "$DEBKEYS_DIR/$1.asc"
}

_pks_headers() {
	echo "From pgp-public-keys@pks.example $(LC_ALL=C date -u '+%a %b %e %H:%M:%S %Y')"
	echo "Return-Path: <pgp-public-keys@pks.example>"
	echo "Delivered-To: pgp-public-keys@bridge.test"
	echo "From: pgp-public-keys@pks.example"
	echo "To: pgp-public-keys@bridge.test"
	echo "Subject: incremental"
	echo "Date: $(LC_ALL=C date -R)"
	echo "Message-ID: <$1>"
	for _ph_s in $PKS_SENT; do
		echo "X-KeyServer-Sent: $_ph_s"
	done
	echo "Precedence: list"
}

pks_mail() {
	_pm_out=$1
	_pm_id=$2
	shift 2
	{
		_pks_headers "$_pm_id"
		echo "Content-Type: application/pgp-keys"
		echo
		cat "$@"
	} >"$_pm_out"
}

pks_mail_base64() {
	_pm_out=$1
	_pm_id=$2
	shift 2
	{
		_pks_headers "$_pm_id"
		echo "MIME-Version: 1.0"
		echo "Content-Type: application/pgp-keys"
		echo "Content-Transfer-Encoding: base64"
		echo
		cat "$@" | base64
	} >"$_pm_out"
}

break_crc() {
	# The CRC line is "=" and four base64 characters (data lines never
	# start with "="); any other four make a different CRC.
	awk '/^=....$/ { print ($0 == "=AAAA" ? "=BBBB" : "=AAAA"); next }
		{ print }' "$1" >"$2"
}

pb_conf() {
	_pc_file=$1
	shift
	printf '%s\n' "# written by tests/lib/sks_it.sh" "$@" >"$_pc_file"
}

pb_list() {
	"$PKSBRIDGE" -c "$1" queue list --all --json >"$2"
}

pb_field() {
	_pq_conf=$1
	shift
	pb_list "$_pq_conf" "$TEST_TMP/.pb_list.json" || return 1
	$PBJSON get "$TEST_TMP/.pb_list.json" "$@"
}

pb_count() {
	_pq_conf=$1
	shift
	pb_list "$_pq_conf" "$TEST_TMP/.pb_list.json" || return 1
	$PBJSON count "$TEST_TMP/.pb_list.json" "$@"
}

sks_served() {
	sks_wait_key "$1" "$2" 0
}

# sks_absent PORT FPR - SKS answers the lookup, and has no such key (a
# server that does not answer is not "absent").
sks_absent() {
	_sa_code=$(curl -s -m 5 -o "$TEST_TMP/.sks_absent" -w '%{http_code}' \
		"http://127.0.0.1:$1/pks/lookup?op=index&options=mr&search=0x$2")
	[ "$_sa_code" = 404 ] && ! grep -qi "^pub:$2:" "$TEST_TMP/.sks_absent"
}

sks_posts() {
	grep -c 'Handling /pks/add' "$1/sks-db.log"
}

sks_spool_files() {
	grep -c 'Adding list of [0-9]* keys from file' "$1/sks-db.log"
}

now_ms() {
	echo $(($(date +%s%N) / 1000000))
}
