# tests/lib/mtaroot.sh - a minimal Debian 12 of its own for an MTA that
# cannot be installed on this host.
#
# Source after tests/lib.sh.  Debian's postfix and opensmtpd conflict with
# exim4, this host's MTA (and the one the other tests run), so each runs in
# a system of its own: a minimal bookworm built by mmdebstrap with the MTA
# and pksbridge's run-time libraries, cached in build-mtaroot/, and
# for each test run an overlay on it (the cached image is never written),
# chrooted, in a private mount namespace.  A chroot shares this host's
# network, so the MTA listens on a loopback port that the test, SKS and the
# smtpsink reach as usual; TEST_TMP is bound in at its own path, so
# fixtures, spools, configs and pksbridge (pb_setup copies it into
# TEST_TMP) have the same names inside and out.
#
#   mtaroot_image NAME PACKAGE...   the cached image with these packages
#                             (built first if needed, ~30 s, under a lock);
#                             sets MTAROOT_IMAGE.  Returns 1 after a not_ok
#                             if it cannot be built.
#   mtaroot_prepare DIR       the overlay's directories in DIR; the test may
#                             then write files into DIR/upper (at their
#                             path in the system) before mtaroot_enter
#   mtaroot_users USER...     copy these users and their groups from this
#                             host's passwd/group into DIR/upper/etc (same
#                             uids: the spool's owners must agree);
#                             MTAROOT_HOME_USER and MTAROOT_HOME set one
#                             user's home directory in the copy
#   mtaroot_enter [PATH...]   mount and chroot: the overlay at DIR/root,
#                             /proc, /dev, TEST_TMP and each PATH (a mount
#                             point under TEST_TMP, such as a test's tmpfs)
#                             at its own path; a holder process keeps the
#                             namespace (its pid: MTAROOT_PID)
#   mtaroot_run COMMAND...    run COMMAND in that system (nsenter)
#   mtaroot_leave             stop the holder (once the MTA has stopped,
#                             the namespace then ends)
#   mtaroot_need_libs BINARY VAR  true if BINARY finds all its libraries
#                             there; else a not_ok that names them and the
#                             package list VAR to add their packages to
#
# Every process chrooted there is killed at exit (tests/lib.sh kills what
# runs with a root directory under TEST_TMP), and with the last one the
# namespace and all its mounts go: nothing is ever mounted on this host.
#
# Needs root, mmdebstrap, unshare and nsenter; in the fresh Debian 12 that
# CI builds (.ci/run), this nests: the image is built inside it.

MTAROOT_SUITE=bookworm
# Beside the build directories, not in one: the Makefile includes every
# *.d under $(BUILD), and a Debian system has many directories so named.
# One cache serves every build flavour (build, build-asan).
MTAROOT_CACHE=${MTAROOT_CACHE:-$TOP/build-mtaroot}
MTAROOT_IMAGE=
MTAROOT_DIR=
MTAROOT_PID=
MTAROOT_HOME_USER=
MTAROOT_HOME=

mtaroot_image() {
	_mi_name=$1
	shift
	need_root "mmdebstrap and chroot need root" || return 1
	need_cmd mmdebstrap unshare nsenter flock || return 1
	# Keyed by what goes in, so a changed package list builds anew.
	_mi_key=$(echo "$MTAROOT_SUITE $*" | md5sum | cut -c1-12)
	MTAROOT_IMAGE=$MTAROOT_CACHE/$_mi_name-$_mi_key
	mkdir -p "$MTAROOT_CACHE" || return 1
	exec 9>"$MTAROOT_CACHE/$_mi_name.lock"
	flock 9
	if [ ! -x "$MTAROOT_IMAGE/usr/bin/env" ]; then
		rm -rf "$MTAROOT_CACHE/$_mi_name"-*
		_mi_t=$(date +%s)
		if ! mmdebstrap --variant=apt --include="$(echo "$*" | tr ' ' ,)" \
			"$MTAROOT_SUITE" "$MTAROOT_IMAGE.tmp" \
			>"$MTAROOT_CACHE/$_mi_name.log" 2>&1 ||
			! mv "$MTAROOT_IMAGE.tmp" "$MTAROOT_IMAGE"; then
			rm -rf "$MTAROOT_IMAGE.tmp"
			exec 9>&-
			not_ok "mmdebstrap builds the $_mi_name system ($*)"
			_t_quote "$MTAROOT_CACHE/$_mi_name.log"
			return 1
		fi
		echo "# built the $_mi_name system in $(($(date +%s) - _mi_t)) s: $MTAROOT_IMAGE"
	fi
	exec 9>&-
}

mtaroot_prepare() {
	MTAROOT_DIR=$1
	rm -f "$1/rooted"
	mkdir -p "$1/upper/etc" "$1/work" "$1/root"
}

mtaroot_users() {
	for _mu_f in passwd group; do
		[ -e "$MTAROOT_DIR/upper/etc/$_mu_f" ] ||
			cp "$MTAROOT_IMAGE/etc/$_mu_f" "$MTAROOT_DIR/upper/etc/$_mu_f"
	done
	for _mu in "$@"; do
		getent passwd "$_mu" | awk -F: -v OFS=: -v u="$MTAROOT_HOME_USER" \
			-v h="$MTAROOT_HOME" '$1 == u && h != "" { $6 = h } { print }' \
			>>"$MTAROOT_DIR/upper/etc/passwd"
		getent group "$_mu" >>"$MTAROOT_DIR/upper/etc/group"
	done
}

# _mtaroot_rooted - true once the holder has chrooted (nsenter then finds
# the system at its root): it says so from inside, in a file of the bound
# TEST_TMP.  (/proc/PID/root cannot tell: across mount namespaces its link
# names the path from the outermost root, which differs when the test
# itself runs in a chroot, as in CI's fresh system.)
_mtaroot_rooted() {
	[ -e "$MTAROOT_DIR/rooted" ]
}

mtaroot_enter() {
	_me_d=$MTAROOT_DIR
	# The script is fixed text; paths arrive as its arguments.
	spawn_daemon "$_me_d/holder.log" unshare --mount --propagation private \
		sh -c '
		set -e
		img=$1 d=$2 tmp=$3
		shift 3
		mount -t overlay overlay \
			-o "lowerdir=$img,upperdir=$d/upper,workdir=$d/work" "$d/root"
		mount -t proc proc "$d/root/proc"
		mount --rbind /dev "$d/root/dev"
		for p in "$tmp" "$@"; do
			mkdir -p "$d/root$p"
			mount --bind "$p" "$d/root$p"
		done
		exec chroot "$d/root" sh -c "touch \"\$1\" && exec sleep infinity" \
			holder "$d/rooted"' \
		mtaroot "$MTAROOT_IMAGE" "$_me_d" "$TEST_TMP" "$@"
	MTAROOT_PID=$SPAWNED_PID
	if ! wait_until 10 _mtaroot_rooted; then
		not_ok "the chroot in $_me_d/root is set up (overlay, /proc, /dev, binds)"
		_t_quote "$_me_d/holder.log"
		return 1
	fi
}

mtaroot_run() {
	nsenter --target "$MTAROOT_PID" --mount --root --wd -- "$@"
}

mtaroot_need_libs() {
	mtaroot_run ldd "$1" >"$MTAROOT_DIR/ldd.out" 2>&1 &&
		! grep -q 'not found' "$MTAROOT_DIR/ldd.out" && return 0
	not_ok "$1 finds its libraries in the chroot of $MTAROOT_IMAGE" \
		"$(grep 'not found' "$MTAROOT_DIR/ldd.out")" \
		"add their packages to $2"
	return 1
}

mtaroot_leave() {
	[ -n "$MTAROOT_PID" ] || return 0
	stop_daemon "$MTAROOT_PID"
	_ml_rc=$?
	MTAROOT_PID=
	return $_ml_rc
}
