# SPDX-License-Identifier: MIT
# shellcheck shell=bash
# What the t-preload-*.sh tests share, sourced after tap.sh:
#   . "$(dirname "$0")/tap.sh"; . "$(dirname "$0")/preload.sh"
# B (the build directory, absolute), SHIM (the preload shim), HELPER
# (tests/helper-compat), T (a temporary directory, removed at exit).  Exits
# with a TAP skip if the shim is not built or is built with a sanitizer (an
# instrumented shim cannot be preloaded into programs that are not).
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
