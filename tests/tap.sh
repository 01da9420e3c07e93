# SPDX-License-Identifier: MIT
# shellcheck shell=sh
# TAP for the shell tests (the counterpart of tap.h), POSIX sh:
#   . "$(dirname "$0")/tap.sh"
#   ok STATUS DESCRIPTION...	a test point; STATUS 0 passes (pass it $?)
#   skip REASON DESCRIPTION...	a point that cannot run here, and why
#   diag_file FILE		FILE's lines as TAP comments
#   tap_done			the plan; use as `tap_done; exit $?`
tap_n=0
tap_failed=0

ok() {
	tap_st=$1
	shift
	tap_n=$((tap_n + 1))
	if [ "$tap_st" -eq 0 ]; then
		echo "ok $tap_n - $*"
	else
		echo "not ok $tap_n - $*"
		tap_failed=1
	fi
}

skip() {
	tap_why=$1
	shift
	tap_n=$((tap_n + 1))
	echo "ok $tap_n - $* # SKIP $tap_why"
}

diag_file() {
	sed 's/^/#   /' "$1"
}

tap_done() {
	echo "1..$tap_n"
	return $tap_failed
}
