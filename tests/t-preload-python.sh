#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Python's os.posix_spawn and os.posix_spawnp under the shim (Debian's
# /usr/bin/python3, which calls glibc's posix_spawn): file actions (open,
# dup2, close), setpgroup, setsid, setsigmask, setsigdef, resetids,
# scheduler, PATH search, and errors raised as OSError with the errno the
# call returned.  The same script with and without the shim: the same output,
# and the spawns made by the shim (FORKLESS_TRACE).
set -u
. "$(dirname "$0")/tap.sh"
. "$(dirname "$0")/preload.sh"
PY=/usr/bin/python3
if [ ! -x "$PY" ]; then
	echo "1..0 # SKIP $PY is not installed (tools/install-deps.sh installs it)"
	exit 0
fi

cat > "$T/spawn.py" <<'PY'
import os, signal, sys

helper, work = sys.argv[1], sys.argv[2]
# The report goes to argv[3]; the children get /dev/null as stdout and
# stderr, the same in both runs.
sys.stdout = open(sys.argv[3], "w")
sys.stderr = sys.stdout
null = os.open("/dev/null", os.O_RDWR)
os.dup2(null, 1)
os.dup2(null, 2)
env = {k: v for k, v in os.environ.items() if k != "LD_PRELOAD" and not k.startswith("FORKLESS_")}

def state(name, **kw):
    """Spawn the state helper with KW, print what it saw (pids named)."""
    out = os.path.join(work, name + ".state")
    try:
        pid = os.posix_spawn(helper, [helper, "state", out], env, **kw)
    except OSError as e:
        print(name, "raised", type(e).__name__, e.errno)
        return
    _, status = os.waitpid(pid, 0)
    print(name, "status", status)
    names = {str(pid): "CHILD", str(os.getpid()): "PARENT"}
    with open(out) as f:
        for line in f:
            key, _, val = line.rstrip("\n").partition("=")
            if key.startswith("env.") or key.startswith("ns."):
                continue
            print("  " + key + "=" + names.get(val, val).replace(work, "WORK"))

def status(name, fn, path, argv, **kw):
    try:
        pid = fn(path, argv, env, **kw)
    except OSError as e:
        print(name, "raised", type(e).__name__, e.errno)
        return
    print(name, "status", os.waitpid(pid, 0)[1])

os.chdir(work)
signal.signal(signal.SIGUSR1, signal.SIG_IGN)
signal.signal(signal.SIGUSR2, lambda *a: None)
state("plain")
state("file_actions", file_actions=[
    (os.POSIX_SPAWN_OPEN, 5, "out.txt", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o640),
    (os.POSIX_SPAWN_DUP2, 5, 6),
    (os.POSIX_SPAWN_CLOSE, 0),
    (os.POSIX_SPAWN_OPEN, 0, "/dev/null", os.O_RDONLY, 0)])
state("setpgroup", setpgroup=0)
state("setsid", setsid=True)
state("signals", setsigmask=[signal.SIGINT, signal.SIGTERM], setsigdef=[signal.SIGUSR1, signal.SIGUSR2])
state("resetids", resetids=True)
state("scheduler", scheduler=(os.SCHED_OTHER, os.sched_param(0)))
state("bad file action", file_actions=[(os.POSIX_SPAWN_OPEN, 5, "no/such/dir/x", os.O_RDONLY, 0)])
state("bad pgroup", setpgroup=1)
status("spawn /bin/sh exit 4", os.posix_spawn, "/bin/sh", ["sh", "-c", "exit 4"])
status("spawn missing", os.posix_spawn, "/no/such/program", ["x"])
status("spawn a directory", os.posix_spawn, "/", ["x"])
status("spawnp sh", os.posix_spawnp, "sh", ["sh", "-c", "exit 5"])
status("spawnp missing", os.posix_spawnp, "no-such-program-anywhere", ["x"])
PY

"$PY" "$T/spawn.py" "$B/tests/helper-state" "$T" "$T/plain"
ok $? "python3 script under glibc"
FORKLESS_TRACE=$T/trace LD_PRELOAD=$SHIM "$PY" "$T/spawn.py" "$B/tests/helper-state" "$T" "$T/shim"
ok $? "python3 script under the shim"
diff "$T/plain" "$T/shim" > "$T/diff"
ok $? "os.posix_spawn(p): the same results ($(grep -c 'status\|raised' "$T/plain") spawns compared)"
[ -s "$T/diff" ] && head -20 "$T/diff" | diag_file /dev/stdin
[ "$(grep -c '^forkless-preload: posix_spawnp\? ' "$T/trace" 2> /dev/null)" -ge 14 ]
ok $? "the shim made them ($(wc -l < "$T/trace" 2> /dev/null) traced)"
tap_done
exit $?
