#!/bin/sh
# SPDX-License-Identifier: MIT
# `make install PREFIX=...` as a user runs it: every file where the README
# says, then a program built against the installed copy alone, through
# pkg-config, linked dynamically and statically, that spawns a child.
cd "$(dirname "$0")/.." || exit 1

. ./tests/tap.sh

build=${FL_BUILD:-build}
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
prefix=$tmp/usr

# A make of its own, not a child of `make check`'s (no jobserver to inherit).
env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make -s install B="$build" PREFIX="$prefix" > "$tmp/out" 2>&1
ok $? "make install PREFIX=$prefix"
diag_file "$tmp/out"
for f in lib/libforkless.a lib/libforkless.so lib/libforkless.so.0 lib/libforkless-preload.so \
	lib/pkgconfig/forkless.pc include/forkless.h bin/forkless \
	share/man/man3/fl_spawn.3 share/man/man3/fl_posix_spawn.3 share/man/man7/forkless.7 \
	share/man/man1/forkless.1; do
	[ -e "$prefix/$f" ]
	ok $? "installed: $f"
done

# A library built with a sanitizer needs its runtime in the program too.
san=
case $(nm "$build/libforkless.a" 2>/dev/null | grep -o '__[atu][sb]*san_' | sort -u | tr '\n' ' ') in
*__tsan_*) san=-fsanitize=thread ;;
*__asan_*) san="-fsanitize=address,undefined" ;;
esac

cat > "$tmp/use.c" <<'EOF'
#include <forkless.h>
#include <stdio.h>

int main(void)
{
	fl_spec *spec;
	fl_child child;
	int status = -1;

	if (fl_spec_new(&spec) < 0 || fl_spec_set_file(spec, "true") < 0 || fl_spawn(spec, NULL, &child, NULL) < 0 ||
	    fl_child_wait(&child, &status) < 0)
		return 1;
	fl_spec_free(spec);
	printf("status %d\n", status);
	return status;
}
EOF
PKG_CONFIG_PATH=$prefix/lib/pkgconfig
export PKG_CONFIG_PATH
if ! command -v pkg-config > /dev/null 2>&1; then
	skip "pkg-config is not installed (tools/install-deps.sh installs it)" "a program built through pkg-config"
else
	# shellcheck disable=SC2046
	cc $san -o "$tmp/use" "$tmp/use.c" $(pkg-config --cflags --libs forkless) 2> "$tmp/err"
	ok $? "builds with pkg-config --cflags --libs forkless"
	diag_file "$tmp/err"
	[ "$(LD_LIBRARY_PATH=$prefix/lib "$tmp/use")" = "status 0" ]
	ok $? "runs against the installed shared library and spawns a child"
	LD_LIBRARY_PATH=$prefix/lib ldd "$tmp/use" | grep -q "$prefix/lib/libforkless.so.0"
	ok $? "the shared library it loads is the installed one"
	# shellcheck disable=SC2046
	cc $san -static-libgcc -o "$tmp/use-static" "$tmp/use.c" $(pkg-config --cflags forkless) \
		"$prefix/lib/libforkless.a" $(pkg-config --static --libs-only-other forkless) 2> "$tmp/err"
	ok $? "links statically with pkg-config --static (Libs.private: -pthread)"
	diag_file "$tmp/err"
	[ "$("$tmp/use-static")" = "status 0" ]
	ok $? "the static program spawns a child"
fi
tap_done
exit $?
