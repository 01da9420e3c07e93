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
	under_shim $e "$HELPER" scenarios || continue
	same_as_glibc $e
	# Runs under other ids cannot write the trace: at least the others.
	[ "$(grep -c "engine=$e\|engine=clone" "$T/trace" 2> /dev/null)" -ge 70 ]
	ok $? "FORKLESS_ENGINE=$e: the shim made the spawns ($(wc -l < "$T/trace") traced)"
done
# The trace names the engine that really made each child: the primed engine
# hands a static program to the clone engine (make runs a recipe without
# shell syntax through posix_spawn itself).
if [ -e "$B/libforkless-primed.so" ] && [ -x "$B/tests/helper-fds" ] && command -v make > /dev/null; then
	printf 'all:\n\t%s\n\t/bin/true\n' "$B/tests/helper-fds" > "$T/mk"
	rm -f "$T/trace"
	FORKLESS_ENGINE=primed FORKLESS_TRACE="$T/trace" LD_PRELOAD="$SHIM" make -s -f "$T/mk" > /dev/null
	grep -q "posix_spawn $B/tests/helper-fds ok [0-9]* engine=clone\$" "$T/trace" &&
		grep -q "posix_spawn /bin/true ok [0-9]* engine=primed\$" "$T/trace"
	r=$?
	ok $r "FORKLESS_TRACE names the engine that made the child (primed, and clone for a static program)"
	[ $r -eq 0 ] || diag_file "$T/trace"
else
	skip "no primed library, static helper or make"
fi
tap_done
exit $?
