#!/bin/sh
# SPDX-License-Identifier: MIT
# The examples a user copies: each builds with the line its comment gives,
# clean under -Wall -Wextra -Werror with gcc and clang, and prints what it
# should under every engine this build and kernel can run.  The complete C
# programs in the README are built too, so the README cannot drift from the
# API.
cd "$(dirname "$0")/.." || exit 1

. ./tests/tap.sh

build=${FL_BUILD:-build}
lib=$build/libforkless.a
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT

if [ ! -f "$lib" ]; then
	ok 1 "$lib exists (run make first)"
	tap_done
	exit 1
fi

# A library built for `make asan` / `make tsan` needs the same runtime in
# the program, from the compiler that built it.
cc=${CC:-cc}
san=
syms=$(nm "$lib" 2>/dev/null | grep -o '__[atu][sb]*san_' | sort -u)
case $syms in *__asan_*) san="$san -fsanitize=address" ;; esac
case $syms in *__ubsan_*) san="$san -fsanitize=undefined" ;; esac
case $syms in *__tsan_*) san="$san -fsanitize=thread" ;; esac
if [ -n "$san" ]; then
	strings -a "$lib" | grep -q 'clang version' && cc=clang
	san="$san -fno-omit-frame-pointer"
fi

# 1. Warnings: every example, with each compiler installed.
for c in gcc clang; do
	if ! command -v $c >/dev/null 2>&1; then
		skip "$c is not installed" "examples build clean with $c"
		continue
	fi
	for ex in examples/*.c; do
		$c -Wall -Wextra -Werror -Iinclude -c "$ex" -o "$tmp/x.o" 2>"$tmp/err"
		ok $? "$ex: no warning with $c -Wall -Wextra -Werror"
		diag_file "$tmp/err"
	done
done

# The header alone, under strict standards and as C++: no feature macro needed.
printf '#include <forkless.h>\nint fl_header_only;\n' >"$tmp/h.c"
for c in gcc clang; do
	command -v $c >/dev/null 2>&1 || continue
	for std in c99 c11; do
		$c -std=$std -pedantic -Wall -Wextra -Werror -Iinclude -c "$tmp/h.c" -o "$tmp/h.o" 2>"$tmp/err"
		ok $? "forkless.h builds with $c -std=$std -pedantic, no feature macro"
		diag_file "$tmp/err"
	done
done
if command -v g++ >/dev/null 2>&1; then
	g++ -std=c++11 -Wall -Wextra -Werror -Iinclude -x c++ -c "$tmp/h.c" -o "$tmp/h.o" 2>"$tmp/err"
	ok $? "forkless.h builds as C++11"
	diag_file "$tmp/err"
fi

# 2. The build line of each example's comment, as written, with only the
# compiler, the build directory and the output named here.
for ex in examples/*.c; do
	name=$(basename "$ex" .c)
	line=$(sed -n 's/^ \* Build: //p' "$ex")
	case $line in
	"cc "*"$ex "*) ;;
	*)
		ok 1 "$ex: its comment gives the line that builds it (found: '$line')"
		continue
		;;
	esac
	line=$(echo "$line" | sed "s|^cc |$cc $san -o $tmp/$name |; s|build/libforkless\.a|$lib|")
	# shellcheck disable=SC2086 # the line is words without quotes
	$line 2>"$tmp/err"
	ok $? "$ex builds with: $line"
	diag_file "$tmp/err"
done

# 3. What each prints, under each engine.  Engine names from the library.
cat >"$tmp/engines.c" <<'EOF'
#include <forkless.h>
#include <stdio.h>
int main(void)
{
	for (int e = FL_ENGINE_AUTO + 1; e < FL_ENGINE_COUNT; e++)
		if (fl_engine_supported(e) == 0)
			puts(fl_engine_name(e));
	return 0;
}
EOF
# shellcheck disable=SC2086
$cc $san -Iinclude -o "$tmp/engines" "$tmp/engines.c" "$lib" -pthread 2>"$tmp/err"
ok $? "list the engines"
engines=$("$tmp/engines")
[ -n "$engines" ]
ok $? "some engine runs here: $(echo "$engines" | tr "\n" " ")"

cat >"$tmp/want.spawn-template" <<'EOF'
call 1
call 1: exited with 0
call 2
call 2: exited with 0
call 3
call 3: exited with 0
EOF
cat >"$tmp/want.redirect" <<EOF
the child wrote: $(uname -s)
and exited with 0
EOF
cat >"$tmp/want.report" <<'EOF'
failed: step 1 (chdir "/nonexistent/dir"): No such file or directory
ran, exited with 0
failed: exec "/nonexistent/program": No such file or directory
EOF
# The children end in their own time: compare the lines in any order.
cat >"$tmp/want.event-loop" <<'EOF'
child 0 (sleep 0.3) exited with 3
child 1 (sleep 0.1) exited with 1
child 2 (sleep 0.2) exited with 2
EOF

for e in $engines; do
	for ex in examples/*.c; do
		name=$(basename "$ex" .c)
		if [ ! -x "$tmp/$name" ]; then
			ok 1 "$name under $e: built"
			continue
		fi
		if [ ! -f "$tmp/want.$name" ]; then
			ok 1 "$name under $e: this test knows what it should print"
			continue
		fi
		if [ "$e" = posix ] && [ "$name" = report ]; then
			skip "posix_spawn cannot express umask and FL_HARD steps" "$name under $e"
			continue
		fi
		FORKLESS_ENGINE=$e timeout 60 "$tmp/$name" >"$tmp/out" 2>"$tmp/err"
		st=$?
		if [ "$name" = event-loop ]; then
			sort "$tmp/out" >"$tmp/out.sorted" && mv "$tmp/out.sorted" "$tmp/out"
		fi
		cmp -s "$tmp/out" "$tmp/want.$name" && [ $st -eq 0 ] && [ ! -s "$tmp/err" ]
		ok $? "$name under $e: prints what it should, exit 0 (got $st), nothing on stderr"
		if ! cmp -s "$tmp/out" "$tmp/want.$name"; then
			diff "$tmp/want.$name" "$tmp/out" | sed 's/^/#   /'
		fi
		diag_file "$tmp/err"
	done
done

# 4. The README's complete programs (a ```c block with a main) build clean.
for md in README.md; do
	[ -f "$md" ] || continue
	awk -v dir="$tmp" -v base="$(basename "$md" .md)" '
		/^```c[ \t]*$/ { k++; file = dir "/" base "-" k ".c"; inside = 1; next }
		/^```/ { inside = 0; next }
		inside { print > file }' "$md"
	for f in "$tmp/$(basename "$md" .md)"-*.c; do
		[ -f "$f" ] || continue
		grep -q 'main(' "$f" || continue
		# shellcheck disable=SC2086
		$cc $san -Wall -Wextra -Werror -Iinclude -o "$tmp/readme" "$f" "$lib" -pthread 2>"$tmp/err"
		ok $? "$md: the C program of block $(basename "$f" .c | sed 's/.*-//') builds clean"
		diag_file "$tmp/err"
	done
done

tap_done
exit $?
