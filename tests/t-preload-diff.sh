#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The shim against glibc, through a real program's calls: helper-compat runs
# every scenario of tests/compat-scenarios.h through glibc's names, once
# without the shim (glibc's posix_spawn) and once with it per engine
# (FORKLESS_ENGINE); the reports (return values, errno, the children's whole
# state, the files left) must be the same, and the shim must have made the
# spawns (FORKLESS_TRACE).
set -u
. "$(dirname "$0")/tap.sh"
. "$(dirname "$0")/preload.sh"
"$HELPER" scenarios > "$T/glibc"
ok $? "the scenarios under glibc ($(grep -c '^== ' "$T/glibc") of them)"
for e in auto fork vfork posix clone async pool zygote; do
	rm -f "$T/trace"
	FORKLESS_TRACE=$T/trace FORKLESS_ENGINE=$e LD_PRELOAD=$SHIM "$HELPER" scenarios > "$T/$e" 2> "$T/err"
	if grep -q "not an engine" "$T/err"; then
		skip "this build has no $e engine" "$e"
		continue
	fi
	diff "$T/glibc" "$T/$e" > "$T/diff"
	ok $? "FORKLESS_ENGINE=$e: every report as glibc's"
	[ -s "$T/diff" ] && head -20 "$T/diff" | diag_file /dev/stdin
	# Runs under other ids cannot write the trace: at least the others.
	[ "$(grep -c "engine=$e\|engine=clone" "$T/trace" 2> /dev/null)" -ge 70 ]
	ok $? "FORKLESS_ENGINE=$e: the shim made the spawns ($(wc -l < "$T/trace") traced)"
done
tap_done
exit $?
