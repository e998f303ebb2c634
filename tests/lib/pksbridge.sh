# tests/lib/pksbridge.sh - the real pksbridge binary set up the way
# docs/WIRING.md tells an operator to: a dedicated system user and group
# that own a setgid, group-shared spool, and an operator account in that
# group.  For the integration tests that drive it through a real MTA.
#
# Source after tests/lib.sh (needs root: it creates users).
#
#   pb_setup                  create the users (PB_USER, with its own group
#                             PB_GROUP, and PB_OPER, a member of PB_GROUP),
#                             copy the binary to PB_BIN; removed at exit
#   pb_spool DIR              mkdir DIR as the operator would: 2770
#                             PB_USER:PB_GROUP
#   pb_conf FILE SPOOL [LINE...]   a config with spool_dir SPOOL, log to
#                             syslog (the default), an empty mailsync file,
#                             max_message_size $PB_MAX_SIZE, extra LINEs
#   pb_as USER COMMAND...     run COMMAND as USER (with USER's groups)
#   pb_mail FILE SUBJECT KEYFILE [PAD_BYTES]
#                             a PKS mail (text/plain, inline armor) with a
#                             unique Message-ID, padded with PAD_BYTES of
#                             text after the key; prints the Message-ID
#   pb_has_key GNUPGHOME FPR [USER]  gpg --with-colons --list-keys FPR in
#                             that home (run as USER, default PB_USER): true
#                             if gpg lists it
#   pb_entry CONF MSGID [USER]  the queue list --all --json line of the
#                             entry for that Message-ID (queried as USER,
#                             default PB_OPER)
#   pb_state CONF MSGID [USER]  that entry's state
#   pb_fpr NAME               a fixture key's fingerprint
#   pb_created_by DIR USER    every file and directory below DIR (there
#                             are some) belongs to USER: in a spool owned
#                             by root, who ran pksbridge
#
# The users get the GECOS "$PB_GECOS" and TEST_TMP as their (never created)
# home, so that pb_setup can remove the users of a run that was killed
# before its cleanup (their TEST_TMP is gone) without touching those of a
# run still going on.

PB_GECOS="pksbridge integration test"
PB_MAX_SIZE=${PB_MAX_SIZE:-2M}
PB_USER=
PB_GROUP=
PB_OPER=
PB_BIN=$TEST_TMP/bin/pksbridge
PKSBRIDGE_BUILT=${PKSBRIDGE:-$TOP/${BUILD:-build}/pksbridge}

# _pb_remove_users - delete the users (and their groups) of this run.
_pb_remove_users() {
	for _pr_u in $PB_OPER $PB_USER; do
		getent passwd "$_pr_u" >/dev/null 2>&1 && userdel "$_pr_u"
		getent group "$_pr_u" >/dev/null 2>&1 && groupdel "$_pr_u"
	done
	PB_USER=
	PB_OPER=
}

# _pb_remove_stale - delete test users whose TEST_TMP no longer exists.
_pb_remove_stale() {
	getent passwd | awk -F: -v g="$PB_GECOS" '$5 == g { print $1 ":" $6 }' |
		while IFS=: read -r _ps_u _ps_home; do
			[ -e "$_ps_home" ] && continue
			userdel "$_ps_u" 2>/dev/null
			getent group "$_ps_u" >/dev/null 2>&1 && groupdel "$_ps_u"
		done
}

# pb_setup - users, binary, and the exit hook that removes the users once
# every process of the test (which may run as them) has been killed.
pb_setup() {
	need_root "the test creates system users" || return 1
	need_cmd useradd userdel groupdel runuser gpg || return 1
	if [ ! -x "$PKSBRIDGE_BUILT" ]; then
		not_ok "no pksbridge binary at $PKSBRIDGE_BUILT (run make first)"
		return 1
	fi
	_pb_remove_stale
	_ps_tag=$(od -An -N3 -tx1 /dev/urandom | tr -d ' \n')
	PB_USER=pbu$_ps_tag
	PB_GROUP=$PB_USER
	PB_OPER=pbo$_ps_tag
	# Cleanup first: lib.sh's own exit trap ends the script, so ours runs
	# before it.  lib.sh's _t_kill_all ends the processes first, or
	# userdel would refuse users that still run something.
	trap '_pb_rc=$?; _t_kill_all; _pb_remove_users; (exit $_pb_rc); _t_exit' EXIT
	useradd -r -M -U -d "$TEST_TMP" -s /usr/sbin/nologin -c "$PB_GECOS" \
		"$PB_USER" || { not_ok "useradd $PB_USER failed"; return 1; }
	useradd -r -M -U -G "$PB_GROUP" -d "$TEST_TMP" -s /usr/sbin/nologin \
		-c "$PB_GECOS" "$PB_OPER" ||
		{ not_ok "useradd $PB_OPER failed"; return 1; }
	# The checkout may sit under /root, which the pipe user cannot reach.
	cp "$PKSBRIDGE_BUILT" "$PB_BIN" && chmod 755 "$PB_BIN"
	: >"$TEST_TMP/mailsync" && chmod 644 "$TEST_TMP/mailsync"
}

pb_spool() {
	mkdir -p "$1" && chown "$PB_USER:$PB_GROUP" "$1" && chmod 2770 "$1"
}

pb_conf() {
	_pc_file=$1
	_pc_spool=$2
	shift 2
	{
		echo "# written by tests/lib/pksbridge.sh"
		echo "spool_dir: $_pc_spool"
		echo "mailsync_file: $TEST_TMP/mailsync"
		echo "from_addr: pgp-public-keys@bridge.test"
		echo "max_message_size: $PB_MAX_SIZE"
		for _pc_l in "$@"; do echo "$_pc_l"; done
	} >"$_pc_file" && chmod 644 "$_pc_file"
}

pb_as() {
	_pa_u=$1
	shift
	runuser -u "$_pa_u" -- "$@"
}

pb_mail() {
	_pm_id="$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')@pks.example"
	{
		echo "From: pgp-public-keys@pks.example"
		echo "To: pgp-public-keys@bridge.test"
		echo "Subject: $2"
		echo "Date: $(LC_ALL=C date -R)"
		echo "Message-ID: <$_pm_id>"
		echo "X-KeyServer-Sent: pgp-public-keys@pks.example"
		echo "Precedence: list"
		echo "Content-Type: text/plain; charset=us-ascii"
		echo
		cat "$3"
		if [ "${4:-0}" -gt 0 ]; then
			echo
			# 64-byte lines of text, as much as asked for.
			awk -v n="$4" 'BEGIN { l = sprintf("%63s", ""); gsub(/ /, "z", l);
				for (i = 0; i < n; i += 64) print l }'
		fi
	} >"$1"
	echo "$_pm_id"
}

pb_has_key() {
	pb_as "${3:-$PB_USER}" gpg --homedir "$1" --with-colons --list-keys "$2" \
		2>/dev/null | grep -q "^fpr:::::::::$2:"
}

pb_entry() {
	pb_as "${3:-$PB_OPER}" "$PB_BIN" -c "$1" queue list --all --json |
		grep -F "\"message_id\":\"$2\""
}

pb_state() {
	pb_entry "$1" "$2" "${3:-$PB_OPER}" | sed -n 's/.*"state":"\([a-z]*\)".*/\1/p'
}

pb_fpr() {
	awk -v n="$1" '$1 == n { print $2 }' "$TEST_DATA/keys/fingerprints.txt"
}

pb_created_by() {
	[ -n "$(find "$1" -mindepth 1)" ] &&
		[ -z "$(find "$1" -mindepth 1 ! -user "$2")" ]
}
