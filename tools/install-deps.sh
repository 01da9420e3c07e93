#!/usr/bin/env bash
# Installs the Debian packages the tests use and a fresh machine may lack:
# ninja-build (a real posix_spawn user for the preload shim tests), python3
# (os.posix_spawn under the shim) and pkgconf (a program built against the
# installed library, t-install).  The library itself needs none.
set -eu
need=()
command -v ninja >/dev/null 2>&1 || need+=(ninja-build)
[ -x /usr/bin/python3 ] || need+=(python3)
command -v pkg-config >/dev/null 2>&1 || need+=(pkgconf)
[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
	echo "install-deps: need root to install ${need[*]}" >&2
	exit 1
fi
apt-get update -qq >/dev/null
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
