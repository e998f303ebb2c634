#!/bin/sh
# bench/s5_outbound.sh - scenario 5, outbound: Debian keys POSTed to SKS's
# /pks/add one after the other; SKS's mailsync pipes one mail per key into
# its sendmail_cmd every 10 s.  How many mails reach the loopback SMTP
# server (tests/tools/smtpsink, playing the one PKS peer) and when the
# last is accepted:
#
#   native     sendmail_cmd = a tiny submitter: curl's SMTP client
#              ("curl smtp://127.0.0.1:SINK --mail-rcpt PEER -T -"), one
#              SMTP transaction per mail SKS pipes to it, as msmtp would
#   pksbridge  sendmail_cmd = "pksbridge sendmail -t -oi"; "pksbridge run"
#              (batch_window 30 s, max_batch_keys 100: the defaults) sends
#              batches to the sink
#
# Knobs: BENCH_OUT_KEYS (200; quick: 30).  Raw figures: $RAW/<path>.json.
. "$(dirname "$0")/lib.sh"
. "$TOP/tests/lib/smtpsink.sh"
. "$TOP/tests/lib/outbound_it.sh"

if [ "$BENCH_QUICK" = 1 ]; then N=${BENCH_OUT_KEYS:-30}; else N=${BENCH_OUT_KEYS:-200}; fi
PEER=pgp-public-keys@peer1.example
command -v curl >/dev/null || { not_ok "curl is installed"; done_testing; }

bench_keys | while read -r fpr f; do
	[ "$(wc -c <"$f")" -le 16384 ] && echo "$fpr $f"
done | head -n "$N" >"$TEST_TMP/keys.list"
awk '{ print toupper($1) }' "$TEST_TMP/keys.list" | sort >"$TEST_TMP/want"
printf '%s\n' "# the one PKS peer" "$PEER" >"$TEST_TMP/mailsync"

run_path() {	# run_path NAME
	_p=$1
	sink=$TEST_TMP/sink-$_p
	smtpsink_start "$sink" || return 1
	conf=$TEST_TMP/$_p.conf
	case $_p in
	native) cmd="curl -s -S --crlf smtp://127.0.0.1:$SMTPSINK_PORT --mail-from pgp-public-keys@sks.test --mail-rcpt $PEER -T -" ;;
	pksbridge) bench_pb_conf "$conf" "$TEST_TMP/spool-$_p" unused: \
			"smtp_relay: 127.0.0.1:$SMTPSINK_PORT"
		sed -i '/^keydb: /d' "$conf"
		cmd="$PB -c $conf sendmail -t -oi" ;;
	esac
	if ! bench_sks "sks-$_p" "$cmd" 2>"$TEST_TMP/sks-$_p.err"; then
		not_ok "$_p: SKS starts" "$(cat "$TEST_TMP/sks-$_p.err")"
		smtpsink_stop
		return 1
	fi
	cp "$TEST_TMP/mailsync" "$SKS_DIR/etc/sks/mailsync"
	if [ -e "$conf" ] && ! bench_runner "$conf" "$TEST_TMP/runner-$_p.log"; then
		not_ok "$_p: runner starts" "$(tail -n 5 "$TEST_TMP/runner-$_p.log")"
		sks_stop "$SKS_DIR"
		smtpsink_stop
		return 1
	fi
	t0=$(now_ms)
	$DRIVE bulk --port "$SKS_PORT" --list "$TEST_TMP/keys.list" --parallel 1 \
		--post --settle 0 >"$TEST_TMP/post-$_p.json"
	t_post=$(now_ms)
	# Done when SKS has handed every key over and nothing is left in
	# pksbridge's queue; then wait a little for anything more.
	wait_until 300 sh -c '[ "$(grep -c "Message transmitted for key" "$1/sks-db.log")" -ge "$2" ]' \
		_ "$SKS_DIR" "$N"
	if [ -e "$conf" ]; then
		wait_until 300 sh -c '[ "$("$1" -c "$2" queue list --json | wc -l)" -eq 0 ]' _ "$PB" "$conf"
	fi
	wait_until 60 test "$(smtpsink_count "$sink")" -ge 1
	sleep 3
	last=0
	for f in "$sink"/msg.*; do
		case "$f" in *.env) continue ;; esac
		t=$(stat -c '%.3Y' "$f" | tr -d .)
		[ "$t" -gt "$last" ] && last=$t
	done
	mails=$(smtpsink_count "$sink")
	keys=$(peer_fprs "$sink" "$PEER" | wc -l)
	distinct=$(peer_fprs "$sink" "$PEER" | sort -u | comm -12 - "$TEST_TMP/want" | wc -l)
	transmitted=$(sks_transmitted "$SKS_DIR")
	printf '{"keys_posted": %s, "sks_transmitted": %s, "mails": %s, "keys_in_mails": %s, "distinct_keys_delivered": %s, "post_s": %s, "last_accepted_s": %s, "last_post_to_last_accepted_s": %s}\n' \
		"$N" "$transmitted" "$mails" "$keys" "$distinct" \
		"$(echo "$t0 $t_post" | awk '{ printf "%.2f", ($2 - $1) / 1000 }')" \
		"$(echo "$t0 $last" | awk '{ printf "%.2f", ($2 - $1) / 1000 }')" \
		"$(echo "$t_post $last" | awk '{ printf "%.2f", ($2 - $1) / 1000 }')" >"$RAW/$_p.json"
	say "$_p: $(cat "$RAW/$_p.json")"
	check_eq "$_p: every key reached the peer" "$distinct" "$N"
	[ -e "$conf" ] && stop_daemon "$RUNNER_PID"
	sks_stop "$SKS_DIR"
	smtpsink_stop
}

for p in ${BENCH_OUT_PATHS:-native pksbridge}; do
	run_path "$p"
done
done_testing
