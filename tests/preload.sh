# SPDX-License-Identifier: MIT
# shellcheck shell=bash
# What the t-preload-*.sh tests share, sourced after tap.sh:
#   . "$(dirname "$0")/tap.sh"; . "$(dirname "$0")/preload.sh"
# B (the build directory, absolute), SHIM (the preload shim), HELPER
# (tests/helper-compat), T (a temporary directory, removed at exit), and the
# functions under_shim and same_as_glibc below.  Exits with a TAP skip if the
# shim is not built or is built with a sanitizer (an instrumented shim cannot
# be preloaded into programs that are not).
B=$(cd "${FL_BUILD:-build}" && pwd)
SHIM=$B/libforkless-preload.so
HELPER=$B/tests/helper-compat
if [ ! -e "$SHIM" ] || [ ! -x "$HELPER" ]; then
	echo "1..0 # SKIP $SHIM or $HELPER not built"
	exit 0
fi
if readelf -d "$SHIM" | grep -q 'libasan\|libtsan\|libubsan'; then
	echo "1..0 # SKIP the shim is built with a sanitizer: it cannot be preloaded into other programs"
	exit 0
fi
T=$(mktemp -d /tmp/fl-preload-XXXXXX)
trap 'rm -rf "$T"' EXIT

# under_shim E CMD...: CMD (a program or a function) with the shim,
# FORKLESS_ENGINE=E and a fresh trace in $T/trace; its output in $T/E.  False,
# after a TAP skip, if this build has no engine E.
under_shim() {
	local e=$1
	shift
	rm -f "$T/trace"
	FORKLESS_TRACE=$T/trace FORKLESS_ENGINE=$e LD_PRELOAD=$SHIM "$@" > "$T/$e" 2> "$T/err"
	if grep -q "not an engine" "$T/err"; then
		skip "this build has no $e engine" "$e"
		return 1
	fi
}

# same_as_glibc E: the TAP point that $T/E, the run under the shim, is
# $T/glibc, the run without; the first lines of the difference if not.  A
# pty's number is the kernel's next free one, which other processes on the
# machine move between the two runs: not compared.
same_as_glibc() {
	sed 's#/dev/pts/[0-9]*#/dev/pts/N#g' "$T/glibc" > "$T/glibc.n"
	sed 's#/dev/pts/[0-9]*#/dev/pts/N#g' "$T/$1" > "$T/$1.n"
	diff "$T/glibc.n" "$T/$1.n" > "$T/diff"
	ok $? "FORKLESS_ENGINE=$1: every report as glibc's"
	[ -s "$T/diff" ] && head -20 "$T/diff" | diag_file /dev/stdin
}
