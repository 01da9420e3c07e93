#!/usr/bin/env bash
# Installs the Debian packages the tests use and a fresh machine may lack:
# ninja-build (a real posix_spawn user for the preload shim tests), python3
# (os.posix_spawn under the shim), pkgconf (a program built against the
# installed library, t-install), and clang with its sanitizer and libFuzzer
# runtimes (make fuzz; the second compiler of make check).  Debian's clang
# only recommends the runtimes (libclang-rt-14-dev in Debian 12, which
# libclang-rt-dev names), so a clang installed without recommends cannot
# link -fsanitize=fuzzer: that link is what is checked.  The library itself
# needs none of these.
set -eu
need=()
command -v ninja >/dev/null 2>&1 || need+=(ninja-build)
[ -x /usr/bin/python3 ] || need+=(python3)
command -v pkg-config >/dev/null 2>&1 || need+=(pkgconf)
fuzzer_links() {
	printf '%s\n' 'int LLVMFuzzerTestOneInput(const unsigned char *d, unsigned long n);' \
		'int LLVMFuzzerTestOneInput(const unsigned char *d, unsigned long n) { return d && n; }' |
		clang -fsanitize=fuzzer,address,undefined -x c -o /dev/null - >/dev/null 2>&1
}
if ! command -v clang >/dev/null 2>&1; then
	need+=(clang libclang-rt-dev)
elif ! fuzzer_links; then
	need+=(libclang-rt-dev)
fi
[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
	echo "install-deps: need root to install ${need[*]}" >&2
	exit 1
fi
apt-get update -qq >/dev/null
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
