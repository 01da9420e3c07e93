#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# make check runs every test through this (prove --exec): it runs TEST as
# prove would and keeps all the test wrote, TAP and diagnostics on stdout,
# sanitizer reports and errors on stderr, in $FL_LOGS/NAME.log, in the order
# written.  A test that did not pass (a non-zero exit, a "not ok" line, no
# plan) also gets NAME.failed.  prove -f shows only the "not ok" lines, not
# the diagnostics under them; after a failed run `tap-log.sh --report DIR`
# prints the whole log of each failed test, so that a failure that does not
# come back on a second run still shows why it happened.
#
#   tap-log.sh TEST [ARGS...]      (FL_LOGS set)
#   tap-log.sh --report DIR
set -u

if [ "${1-}" = --report ]; then
	found=0
	for mark in "$2"/*.failed; do
		[ -e "$mark" ] || continue
		found=1
		log=${mark%.failed}.log
		echo "======== $(basename "$log" .log): its whole output ($(cat "$mark")) ========"
		cat "$log"
		echo "======== end of $(basename "$log" .log) ========"
	done
	[ $found = 1 ] || echo "tap-log: prove failed, but no test left a failure mark; the logs are in $2"
	exit 0
fi

name=$(basename "$1")
log=$FL_LOGS/$name.log
rm -f "$FL_LOGS/$name.failed"
: >"$log"
# Both streams go on to prove as they were (stderr to the terminal) and are
# appended to the one log; the test gets fds 0, 1 and 2 only, and with
# pipefail the pipelines end with its status.
set -o pipefail
{ "$@" 2>&1 1>&3 3>&- | tee -a "$log" >&2 3>&-; } 3>&1 | tee -a "$log"
status=$?
why=
if [ "$status" -ne 0 ]; then
	why="exit status $status"
elif grep -q '^not ok' "$log"; then
	why="a test point failed"
elif ! grep -qE '^1\.\.[0-9]+' "$log"; then
	why="no plan"
fi
[ -z "$why" ] || echo "$why" >"$FL_LOGS/$name.failed"
exit "$status"
