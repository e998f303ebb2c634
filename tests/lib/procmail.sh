# tests/lib/procmail.sh - run the real procmail on a test rcfile.
#
# Source after tests/lib.sh.
#
#   procmail_run [-t] RCFILE [VAR=VALUE...] <MAIL
#       procmail -m (mail filter mode: one rcfile, no ~/.procmailrc, no
#       /etc/procmailrc) with the assignments, which procmail evaluates before
#       the rcfile; returns procmail's exit status.  Every run also gets
#       LOGFILE=$PROCMAIL_LOG and DEFAULT=$PROCMAIL_DEFAULT, so what the
#       rcfile does not deliver lands in the test directory, never in root's
#       system mailbox.  -t: fail softly (exit 75 instead of 73 when nothing
#       could be delivered).
#   procmail_debian_rc OUT FILTER...
#       write Debian's shipped /etc/sks/procmail to OUT, with its
#       "/usr/lib/sks/sks_add_mail /var/spool/sks" replaced by FILTER...
#
#   PROCMAIL_RECIPE   the recipe we ship, contrib/procmail/pksbridge.procmailrc;
#                     it runs "$PKSBRIDGE ingest", so pass
#                     "PKSBRIDGE=$STANDIN DIR" to run a stand-in
#   PROCMAIL_LOG, PROCMAIL_DEFAULT   files in TEST_TMP (see above)
#
# procmail clears its environment (procmail(1) -p), so variables reach the
# rcfile only as command-line assignments.

PROCMAIL=${PROCMAIL:-/usr/bin/procmail}
PROCMAIL_RECIPE=$TOP/contrib/procmail/pksbridge.procmailrc
PROCMAIL_LOG=$TEST_TMP/procmail.log
PROCMAIL_DEFAULT=$TEST_TMP/procmail.default
SKS_PROCMAIL=${SKS_PROCMAIL:-/etc/sks/procmail}
show_on_failure "$PROCMAIL_LOG"

procmail_run() {
	_pr_soft=
	if [ "$1" = -t ]; then
		_pr_soft=-t
		shift
	fi
	_pr_rc=$1
	shift
	"$PROCMAIL" $_pr_soft -m LOGFILE="$PROCMAIL_LOG" \
		DEFAULT="$PROCMAIL_DEFAULT" "$@" "$_pr_rc"
}

procmail_debian_rc() {
	_pd_out=$1
	shift
	if ! grep -q '^| /usr/lib/sks/sks_add_mail /var/spool/sks$' "$SKS_PROCMAIL"; then
		echo "$SKS_PROCMAIL does not pipe to sks_add_mail as expected" >&2
		return 1
	fi
	sed "s#^| /usr/lib/sks/sks_add_mail /var/spool/sks\$#| $*#" \
		"$SKS_PROCMAIL" >"$_pd_out"
}
