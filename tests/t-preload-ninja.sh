#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# A real posix_spawn user under the shim: ninja (it starts every command with
# posix_spawn, with file actions, a signal mask, signal defaults and a process
# group).  A generated build of 2000 edges, and a failing one, built with and
# without the shim: the same files, output and exit status, and every command
# spawned by the shim (FORKLESS_TRACE).  The edges' commands are shell
# builtins, so that each costs one exec (/bin/sh) and the test stays short.
set -u
. "$(dirname "$0")/tap.sh"
. "$(dirname "$0")/preload.sh"
N=2000
if ! command -v ninja > /dev/null; then
	echo "1..0 # SKIP ninja is not installed (tools/install-deps.sh installs it)"
	exit 0
fi

# The project: N edges writing a file each, one edge over all of them.
gen() {
	mkdir -p "$1"
	{
		echo 'rule gen'
		echo '  command = echo "$out from $in" > $out'
		echo 'rule cat'
		echo '  command = cat $in > $out'
		echo 'build src: phony'
		for i in $(seq 1 $N); do
			echo "build out/f$i: gen src"
		done
		printf 'build all.txt: cat'
		for i in $(seq 1 $N); do printf ' out/f%s' "$i"; done
		echo
		echo 'default all.txt'
	} > "$1/build.ninja"
}
gen "$T/plain"
gen "$T/shim"
ninja -C "$T/plain" -j4 > "$T/plain.out" 2>&1
plain_rc=$?
FORKLESS_TRACE=$T/trace LD_PRELOAD=$SHIM ninja -C "$T/shim" -j4 > "$T/shim.out" 2>&1
shim_rc=$?
[ "$plain_rc" = 0 ] && [ "$shim_rc" = 0 ]
ok $? "$N-edge build: both succeed ($plain_rc, $shim_rc)"
diff -r -x '.ninja_*' "$T/plain" "$T/shim" > /dev/null
ok $? "$N-edge build: the same files"
[ "$(grep -c "^forkless-preload: posix_spawn /bin/sh ok " "$T/trace")" = $((N + 1)) ]
ok $? "$N-edge build: the shim spawned every command ($(wc -l < "$T/trace") traced)"

# A failing build, -j1 -k0 so the output is deterministic: a command that
# fails, one not found, one killed by a signal, and edges that succeed.
fail_project() {
	mkdir -p "$1"
	cat > "$1/build.ninja" <<'NINJA'
rule run
  command = $cmd
build ok1: run
  cmd = echo one > ok1
build bad: run
  cmd = echo failing; exit 3
build missing: run
  cmd = no-such-command-here
build killed: run
  cmd = kill -KILL $$$$
build ok2: run
  cmd = echo two > ok2
NINJA
}
fail_project "$T/fplain"
fail_project "$T/fshim"
(cd "$T/fplain" && ninja -j1 -k0) > "$T/fplain.out" 2>&1
plain_rc=$?
(cd "$T/fshim" && LD_PRELOAD=$SHIM ninja -j1 -k0) > "$T/fshim.out" 2>&1
shim_rc=$?
[ "$plain_rc" = "$shim_rc" ] && [ "$plain_rc" != 0 ]
ok $? "failing build: the same exit status ($plain_rc, $shim_rc)"
diff "$T/fplain.out" "$T/fshim.out" > "$T/fdiff"
ok $? "failing build: the same output"
[ -s "$T/fdiff" ] && diag_file "$T/fdiff"
diff -r -x '.ninja_*' "$T/fplain" "$T/fshim" > /dev/null
ok $? "failing build: the same files"
tap_done
exit $?
