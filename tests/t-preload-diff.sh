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
tap_done
exit $?
