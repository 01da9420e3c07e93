#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# system, popen and pclose through the shim against glibc's: helper-shell runs
# its cases (statuses, the shell's signals and mask, the caller's while system
# waits, threads in system at once and one cancelled there, SIGCHLD ignored,
# popen's modes, pclose, the fds each popen child holds, threads in popen at
# once) once without the shim and once with it per engine; the reports must
# be the same and the trace must show every call made through the shim.  Then
# where /bin/sh cannot run (/dev/null mounted over it), and two programs of a
# Debian base system that call glibc's system (mawk) and popen (GNU sed's e).
set -u
. "$(dirname "$0")/tap.sh"
. "$(dirname "$0")/preload.sh"
SHELL_HELPER=$B/tests/helper-shell
export FL_BUILD=$B
ENGINES="auto fork vfork posix clone async pool zygote"

# A fresh scratch directory per run: the report names it DIR.
report() {
	rm -rf "$T/work"
	mkdir "$T/work"
	timeout -s KILL 300 "$SHELL_HELPER" report "$T/work"
}

# N lines of the trace for CALL under engine E (auto: whichever is the default).
traced() {
	local want=$2
	[ "$2" = auto ] && want='[a-z]*'
	grep -c "^forkless-preload: $1 /bin/sh ok [0-9]* engine=$want\$" "$T/trace" 2> /dev/null
}

report > "$T/glibc" 2> "$T/err"
ok $? "the cases under glibc ($(grep -c '^== ' "$T/glibc") of them)"
read -r _ _ _ _ n_system _ n_popen < <(grep '^calls that spawn:' "$T/glibc")
ran=""	# the engines this build has
for e in $ENGINES; do
	under_shim $e report || continue
	ran="$ran $e"
	same_as_glibc $e
	[ "$(traced system $e)" = "$n_system" ] && [ "$(traced popen $e)" = "$n_popen" ]
	ok $? "FORKLESS_ENGINE=$e: the shim made all $n_system system and $n_popen popen spawns"
done

# No shell: system says 127 and errno, system(NULL) 0, popen NULL and ENOMEM.
noshell() {
	unshare -m sh -c 'mount --bind /dev/null /bin/sh && exec env "$@"' sh "$@" "$SHELL_HELPER" noshell
}
if ! unshare -m sh -c 'mount --bind /dev/null /bin/sh' 2> /dev/null; then
	skip "no mount namespace here (unshare -m as root)" "where /bin/sh cannot run"
else
	noshell > "$T/noshell.glibc"
	grep -q '^system: 0x7f00 ' "$T/noshell.glibc"
	ok $? "no /bin/sh: glibc's system says 127"
	for e in $ran; do
		rm -f "$T/trace"
		noshell FORKLESS_TRACE="$T/trace" FORKLESS_ENGINE=$e LD_PRELOAD="$SHIM" > "$T/noshell.$e" 2> /dev/null
		diff "$T/noshell.glibc" "$T/noshell.$e" > "$T/diff" &&
			[ "$(grep -c '^forkless-preload: system /bin/sh error 13 ' "$T/trace")" = 2 ]
		ok $? "no /bin/sh, FORKLESS_ENGINE=$e: as glibc, the shim's system failing with EACCES"
		[ -s "$T/diff" ] && diag_file "$T/diff"
	done
fi

# Real programs: mawk's system() and GNU sed's e command (popen) are glibc's.
cat > "$T/prog.awk" <<'AWK'
BEGIN {
	print "exit 3:", system("exit 3")
	print "killed:", system("kill -TERM $$")
	print "echo:", system("echo from system")
}
AWK
printf '%s\n' 'echo one' 'exit 4' 'echo two; echo three' > "$T/prog.sed.in"
real() {
	mawk -f "$T/prog.awk"
	sed 'e' "$T/prog.sed.in"
	sed '1e echo before' "$T/prog.sed.in"
}
if ! command -v mawk > /dev/null || ! sed --version 2> /dev/null | grep -q GNU; then
	skip "mawk or GNU sed missing" "mawk and sed"
else
	real > "$T/real.glibc" 2>&1
	for e in $ran; do
		rm -f "$T/trace"
		FORKLESS_TRACE=$T/trace FORKLESS_ENGINE=$e LD_PRELOAD=$SHIM real > "$T/real.$e" 2>&1
		diff "$T/real.glibc" "$T/real.$e" > "$T/diff" &&
			[ "$(traced system $e)" = 3 ] && [ "$(traced popen $e)" = 4 ]
		ok $? "mawk system() and sed's e, FORKLESS_ENGINE=$e: as glibc, made by the shim"
		[ -s "$T/diff" ] && diag_file "$T/diff"
	done
fi
tap_done
exit $?
