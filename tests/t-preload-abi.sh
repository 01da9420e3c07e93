#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The preload shim's face: it exports glibc's spawn names, system, popen,
# pclose and fclose under glibc's symbol versions and nothing else; it adds no
# thread and no fd to a program that never spawns; each caller gets the behaviour of the posix_spawn version it
# was linked against (GLIBC_2.2.5 retries a script without "#!" with /bin/sh,
# GLIBC_2.15 does not); FORKLESS_ENGINE picks the engine, an unknown one is
# reported once; FORKLESS_TRACE shows that the shim is in use.
set -u
. "$(dirname "$0")/tap.sh"
. "$(dirname "$0")/preload.sh"

# 1. Exactly glibc's names, under glibc's versions (x86_64).
cat > "$T/want" <<'LIST'
fclose@@GLIBC_2.2.5
pclose@@GLIBC_2.2.5
pidfd_getpid@@GLIBC_2.39
pidfd_spawn@@GLIBC_2.39
pidfd_spawnp@@GLIBC_2.39
popen@@GLIBC_2.2.5
posix_spawn@@GLIBC_2.15
posix_spawn@GLIBC_2.2.5
posix_spawn_file_actions_addchdir_np@@GLIBC_2.29
posix_spawn_file_actions_addclose@@GLIBC_2.2.5
posix_spawn_file_actions_addclosefrom_np@@GLIBC_2.34
posix_spawn_file_actions_adddup2@@GLIBC_2.2.5
posix_spawn_file_actions_addfchdir_np@@GLIBC_2.29
posix_spawn_file_actions_addopen@@GLIBC_2.2.5
posix_spawn_file_actions_addtcsetpgrp_np@@GLIBC_2.35
posix_spawn_file_actions_destroy@@GLIBC_2.2.5
posix_spawn_file_actions_init@@GLIBC_2.2.5
posix_spawnattr_destroy@@GLIBC_2.2.5
posix_spawnattr_getcgroup_np@@GLIBC_2.39
posix_spawnattr_getflags@@GLIBC_2.2.5
posix_spawnattr_getpgroup@@GLIBC_2.2.5
posix_spawnattr_getschedparam@@GLIBC_2.2.5
posix_spawnattr_getschedpolicy@@GLIBC_2.2.5
posix_spawnattr_getsigdefault@@GLIBC_2.2.5
posix_spawnattr_getsigmask@@GLIBC_2.2.5
posix_spawnattr_init@@GLIBC_2.2.5
posix_spawnattr_setcgroup_np@@GLIBC_2.39
posix_spawnattr_setflags@@GLIBC_2.2.5
posix_spawnattr_setpgroup@@GLIBC_2.2.5
posix_spawnattr_setschedparam@@GLIBC_2.2.5
posix_spawnattr_setschedpolicy@@GLIBC_2.2.5
posix_spawnattr_setsigdefault@@GLIBC_2.2.5
posix_spawnattr_setsigmask@@GLIBC_2.2.5
posix_spawnp@@GLIBC_2.15
posix_spawnp@GLIBC_2.2.5
system@@GLIBC_2.2.5
LIST
readelf --dyn-syms -W "$SHIM" | awk '$7 != "UND" && ($5 == "GLOBAL" || $5 == "WEAK") && $4 == "FUNC" { print $8 }' |
	sort > "$T/got"
diff "$T/want" "$T/got" > "$T/symdiff"
ok $? "exports exactly glibc's spawn functions, system, popen, pclose and fclose under glibc's versions"
[ -s "$T/symdiff" ] && diag_file "$T/symdiff"
readelf -d "$SHIM" | grep NEEDED | grep -qv 'libc\.so\.6\|ld-linux'
ok $((! $?)) "needs libc.so.6 (and the dynamic loader) only"

# 2. Nothing at load: the same fds and one thread in programs that never spawn.
# Each lists its own (/proc/self): the shell's own list would race with the
# pipes it opens for the pipeline that reads it.
probe='ls /proc/self/fd | tr "\n" " "; grep Threads /proc/self/status'
plain=$(/bin/sh -c "$probe")
shimmed=$(LD_PRELOAD=$SHIM /bin/sh -c "$probe")
[ "$plain" = "$shimmed" ]
ok $? "no fd, no thread at load ($shimmed)"
LD_PRELOAD=$SHIM /bin/sh -c 'grep -q libforkless-preload /proc/$$/maps'
ok $? "loaded: /proc/PID/maps shows it"

# 3. Each caller gets the version it was linked against.
mkdir "$T/plain" "$T/shim"
"$HELPER" oldabi "$T/plain" > "$T/old.plain"
LD_PRELOAD=$SHIM "$HELPER" oldabi "$T/shim" > "$T/old.shim"
diff "$T/old.plain" "$T/old.shim" > "$T/olddiff"
ok $? "both symbol versions behave as glibc's"
[ -s "$T/olddiff" ] && diag_file "$T/olddiff"
grep -q '^posix_spawn@GLIBC_2.2.5: ret=0 status=0x0 ran=1$' "$T/old.shim"
ok $? "GLIBC_2.2.5 posix_spawn runs a script without #! through /bin/sh"
grep -q '^posix_spawn@@GLIBC_2.15: ret=8 ' "$T/old.shim"
ok $? "GLIBC_2.15 posix_spawn returns ENOEXEC for it"
grep -q '^posix_spawnp@GLIBC_2.2.5 from dir: ret=0 status=0x200 ran=0$' "$T/old.shim"
ok $? "GLIBC_2.2.5 posix_spawnp hands sh the bare name, as glibc (sh cannot find it: status 2)"

# 4. FORKLESS_ENGINE: every engine name works; an unknown one is said once.
for e in auto fork vfork posix clone async pool zygote; do
	out=$(FORKLESS_ENGINE=$e LD_PRELOAD=$SHIM "$HELPER" spawn 3 2> "$T/err")
	if grep -q "not an engine" "$T/err"; then
		skip "this build has no $e engine" "FORKLESS_ENGINE=$e"
		continue
	fi
	[ "$out" = "spawned 3" ] && [ ! -s "$T/err" ]
	ok $? "FORKLESS_ENGINE=$e: spawns, says nothing"
done
out=$(FORKLESS_ENGINE=bogus LD_PRELOAD=$SHIM "$HELPER" spawn 3 2> "$T/err")
[ "$out" = "spawned 3" ] && [ "$(grep -c 'FORKLESS_ENGINE=bogus' "$T/err")" = 1 ] && [ "$(wc -l < "$T/err")" = 1 ]
ok $? "FORKLESS_ENGINE=bogus: one message on stderr, the default engine"

# 5. FORKLESS_TRACE: a line per spawn.
FORKLESS_TRACE=$T/trace LD_PRELOAD=$SHIM "$HELPER" spawn 5 > /dev/null
[ "$(grep -c '^forkless-preload: posix_spawn /bin/true ok ' "$T/trace")" = 5 ]
ok $? "FORKLESS_TRACE: one line per spawn"

tap_done
exit $?
