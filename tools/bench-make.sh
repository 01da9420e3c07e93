#!/bin/sh
# SPDX-License-Identifier: MIT
#
# Issue 9's build: two dozen small C files (a dozen small functions each),
# compiled -O1 by Debian's clang-14 under `make -j2`, plain and through the
# preload shim with FORKLESS_ENGINE=primed, taking turns; prints each run's
# wall time and the ratio, checks the objects are byte for byte the same, and
# counts the compiler spawns the primed engine made (FORKLESS_TRACE).
#
#   tools/bench-make.sh [ROUNDS] [BUILD_DIR]     (default 3, build)
set -eu
rounds=${1:-3}
build=$(cd "${2:-build}" && pwd)
cc=${CC_PRIMED:-clang-14}
command -v "$cc" >/dev/null || { echo "bench-make: $cc not installed" >&2; exit 77; }
dir=$(mktemp -d /tmp/forkless-make-XXXXXX)
trap 'rm -rf "$dir"' EXIT

for f in $(seq 1 24); do
	for g in $(seq 1 12); do
		printf 'int f%d_%d(int x, int y) { int s = 0; for (int i = 0; i < x; i++) s += i * y + %d; return s ^ %d; }\n' \
			"$f" "$g" "$g" "$f"
	done >"$dir/f$f.c"
done
{
	printf 'OBJ = %s\n' "$(seq -f 'f%g.o' 1 24 | tr '\n' ' ')"
	printf 'all: $(OBJ)\n%%.o: %%.c\n\t%s -O1 -c $< -o $@\n' "$cc"
} >"$dir/Makefile"

now() { date +%s.%N; }
build_once() {	# $1: plain or primed; prints the seconds
	rm -f "$dir"/*.o
	t0=$(now)
	if [ "$1" = primed ]; then
		: >"$dir/trace"
		FORKLESS_ENGINE=primed FORKLESS_TRACE="$dir/trace" LD_PRELOAD="$build/libforkless-preload.so" \
			make -s -j2 -C "$dir" >/dev/null
	else
		make -s -j2 -C "$dir" >/dev/null
	fi
	t1=$(now)
	awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }'
}

build_once plain >/dev/null	# the page cache warm for both
mkdir "$dir/ref"
cp "$dir"/*.o "$dir/ref/"
for r in $(seq 1 "$rounds"); do
	p=$(build_once plain)
	q=$(build_once primed)
	same=yes
	for o in "$dir"/ref/*.o; do
		cmp -s "$o" "$dir/$(basename "$o")" || same=no
	done
	n=$(grep -c 'engine=primed' "$dir/trace" || true)
	awk -v r="$r" -v p="$p" -v q="$q" -v s="$same" -v n="$n" \
		'BEGIN { printf "round %d: plain %.2f s, primed %.2f s, primed/plain %.2f, objects the same: %s, spawns primed: %d of 24\n", r, p, q, q / p, s, n }'
done
