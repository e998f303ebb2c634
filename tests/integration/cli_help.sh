#!/bin/sh
# tests/integration/cli_help.sh - --help for every command and subcommand,
# --version, and usage errors that say what to do: help goes to stdout
# with exit 0, needs no configuration file or spool, and describes the
# command asked about; a mistake exits 64 with a pointer to --help.
. "$(dirname "$0")/../lib.sh"

PB=${PKSBRIDGE:-$TOP/${BUILD:-build}/pksbridge}
[ -x "$PB" ] || { not_ok "no $PB (make first)"; done_testing; }
# Help must work on a machine with no configuration at all.
PKSBRIDGE_CONF=$TEST_TMP/no-such.conf
export PKSBRIDGE_CONF

# help_ok "ARGS" WORD - "pksbridge ARGS" prints help naming WORD.
help_ok() {
	# shellcheck disable=SC2086
	"$PB" $1 >"$TEST_TMP/h.out" 2>"$TEST_TMP/h.err"
	_h_rc=$?
	if [ "$_h_rc" -eq 0 ] && [ ! -s "$TEST_TMP/h.err" ] &&
		head -n 1 "$TEST_TMP/h.out" | grep -q '^usage: ' &&
		grep -q -- "$2" "$TEST_TMP/h.out"; then
		ok "pksbridge $1: usage on stdout, exit 0, about $2"
	else
		not_ok "pksbridge $1: usage on stdout, exit 0, about $2" \
			"exit $_h_rc" "stderr: $(cat "$TEST_TMP/h.err")" \
			"stdout: $(head -n 3 "$TEST_TMP/h.out")"
	fi
}

help_ok "--help" "COMMAND"
help_ok "-h" "COMMAND"
help_ok "help" "COMMAND"
help_ok "-c /nonexistent --help" "COMMAND"
help_ok "ingest --help" "origin"
help_ok "ingest -h" "origin"
help_ok "run --help" "once"
help_ok "sendmail --help" "sendmail_cmd"
help_ok "-c /nonexistent sendmail --help" "sendmail_cmd"
help_ok "--help" "sendmail \[-t\]"
help_ok "dedup --help" "FINGERPRINT"
help_ok "dedup lookup --help" "FINGERPRINT"
help_ok "policy --help" "policy filter"
help_ok "policy check --help" "--stored FILE"
help_ok "policy filter --help" "--stored FILE"
help_ok "queue --help" "queue purge DURATION"
help_ok "queue help" "queue flush"
help_ok "queue help purge" "queue purge DURATION"
for _sub in list show stats retry hold release delete flush purge; do
	help_ok "queue $_sub --help" "queue $_sub"
done
help_ok "queue list --all --help" "--state S"
help_ok "queue stats --help" "--prometheus"
help_ok "queue retry --help" "FILTERS"

# The drop-in, by its own name.
mkdir -p "$TEST_TMP/bin"
ln -s "$PB" "$TEST_TMP/bin/sks_add_mail"
"$TEST_TMP/bin/sks_add_mail" --help >"$TEST_TMP/s.out" 2>"$TEST_TMP/s.err"
check_eq "sks_add_mail --help: exit 0" "$?" 0
check_grep "sks_add_mail --help: its usage" "^usage: sks_add_mail BASEDIR" "$TEST_TMP/s.out"

check_eq "--version prints the version" "$("$PB" --version)" \
	"pksbridge $(cat "$TOP/VERSION")"
check_eq "-V prints the version" "$("$PB" -V)" "pksbridge $(cat "$TOP/VERSION")"

# err_ok "ARGS" CODE ERE - "pksbridge ARGS" exits CODE, stderr matches ERE.
err_ok() {
	# shellcheck disable=SC2086
	"$PB" $1 >"$TEST_TMP/e.out" 2>"$TEST_TMP/e.err" </dev/null
	_e_rc=$?
	if [ "$_e_rc" -eq "$2" ] && grep -Eq -- "$3" "$TEST_TMP/e.err"; then
		ok "pksbridge $1: exit $2, says /$3/"
	else
		not_ok "pksbridge $1: exit $2, says /$3/" "exit $_e_rc" \
			"stderr: $(cat "$TEST_TMP/e.err")"
	fi
}

err_ok "" 64 "^usage: pksbridge"
err_ok "frobnicate" 64 'unknown command "frobnicate" \(try --help\)'
err_ok "--frobnicate" 64 'unknown option --frobnicate \(try --help\)'
err_ok "queue" 64 "^usage: pksbridge \[-c FILE\] queue COMMAND"
err_ok "queue frobnicate" 64 'unknown command "frobnicate" \(one of list, show, stats, retry, hold, release, delete, flush, purge'
err_ok "queue list --frobnicate" 64 'see pksbridge queue list --help'
err_ok "queue show" 64 'which entry\? Give its ID'
err_ok "queue purge" 64 'Give a DURATION, e.g\. "queue purge 30d"'
err_ok "dedup" 64 "^usage: pksbridge \[-c FILE\] dedup lookup"
err_ok "dedup frobnicate" 64 'the one command is "lookup"'
err_ok "dedup lookup 1234" 64 '40 \(v4\) or 64 \(v5/v6\) hex digits'
err_ok "run --frobnicate" 64 'unknown argument --frobnicate'
err_ok "sendmail -Z" 64 "illegal option -- Z"
err_ok "sendmail -bs" 64 "unsupported mode -bs"
err_ok "queue list" 78 "no-such\.conf: cannot open"
# An operator command on a spool that is not there: how to create it.
printf 'spool_dir: %s/no-spool\n' "$TEST_TMP" >"$TEST_TMP/nospool.conf"
err_ok "-c $TEST_TMP/nospool.conf queue list" 78 \
	"no-spool: No such file or directory \(create it, e\.g\. install -d -m 2770 -o pksbridge -g pksbridge DIR.*SPOOL PERMISSIONS"
printf 'spool_dir: %s\nmax_key_size: lots\n' "$TEST_TMP" >"$TEST_TMP/badval.conf"
err_ok "-c $TEST_TMP/badval.conf queue stats" 78 \
	'badval\.conf, line 2: max_key_size: .*"lots" \(see pksbridge\.conf\(5\)\)'

done_testing
