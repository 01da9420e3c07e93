#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The command: `forkless run` (steps, environment, the failure report and its
# exit codes, the child's status passed through), under every engine;
# `forkless probe`; `forkless bench --quick --json` (parses, has every method).
# TAP.  Binaries from $FL_BUILD (set by `make check`), else build/.
set -u

B=${FL_BUILD:-build}
F=$B/forkless
n=0
failed=0
tmp=$(mktemp -d /tmp/fl-cli-XXXXXX)
trap 'rm -rf "$tmp"' EXIT

ok() {	# ok COND-STATUS DESCRIPTION
	n=$((n + 1))
	if [ "$1" -eq 0 ]; then
		echo "ok $n - $2"
	else
		echo "not ok $n - $2"
		failed=$((failed + 1))
	fi
}
is() {	# is GOT WANT DESCRIPTION
	[ "$1" = "$2" ]
	local r=$?
	ok $r "$3"
	[ $r -eq 0 ] || printf '#   got:  %s\n#   want: %s\n' "$1" "$2"
}
skip() {
	n=$((n + 1))
	echo "ok $n - $2 # SKIP $1"
}
json() {	# json FILE PYTHON-EXPR: prints the expression over the parsed file
	python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$1" "$2" 2>/dev/null
}

if [ ! -x "$F" ]; then
	echo "1..0 # SKIP $F not built"
	exit 0
fi

# ---- version and help ------------------------------------------------------------
out=$("$F" --version)
[[ $out =~ ^forkless\ [0-9]+\.[0-9]+ ]]
ok $? "--version prints the version ($out)"
"$F" help run | grep -q -- '--rlimit NAME=SOFT'
ok $? "help run lists the options"
"$F" nonsense 2>/dev/null
is $? 125 "an unknown command exits 125"

# ---- probe ---------------------------------------------------------------------------
out=$("$F" probe)
ok $? "probe runs"
grep -q '^  clone3 ' <<<"$out" && grep -q '^default engine: ' <<<"$out" && grep -q '^  clone engine ' <<<"$out"
ok $? "probe names the features, the default engine and the fallbacks"
"$F" probe --json >"$tmp/probe.json"
ok $? "probe --json runs"
is "$(json "$tmp/probe.json" 'd["engines"][d["default_engine"]] and "clone3" in d["features"]')" True \
	"probe --json parses; its default engine is a supported one"
engines=$(json "$tmp/probe.json" '" ".join(e for e, s in d["engines"].items() if s)')
[ -n "$engines" ]
ok $? "probe --json lists supported engines: $engines"
# fork: never the automatic choice, and present in every build (TSan's has no vfork)
is "$(FORKLESS_ENGINE=fork "$F" probe --json 2>/dev/null >"$tmp/p2.json"; json "$tmp/p2.json" 'd["default_engine"]')" \
	fork "FORKLESS_ENGINE picks the default engine probe reports"

# ---- run: status, steps, environment -----------------------------------------------------
"$F" run -- sh -c 'exit 3'
is $? 3 "run passes the child's exit status through"
"$F" run -- sh -c 'kill -KILL $$'
is $? 137 "run exits 128+N when signal N killed the child"
is "$("$F" run --chdir "$tmp" -- pwd)" "$tmp" "--chdir"
is "$("$F" run --umask 027 -- sh -c umask)" 0027 "--umask"
is "$(A=0 B=2 "$F" run --env A=1 --unset B -- sh -c 'echo "$A,${B-unset}"')" "1,unset" "--env, --unset"
is "$("$F" run --env-clear --env ONLY=1 -- /usr/bin/env)" "ONLY=1" "--env-clear"
is "$("$F" run --rlimit nofile=100:200 -- sh -c 'ulimit -Sn; ulimit -Hn' | tr '\n' ' ')" "100 200 " \
	"--rlimit nofile=SOFT:HARD"
is "$("$F" run --rlimit core=0 -- sh -c 'ulimit -Sc; ulimit -Hc' | tr '\n' ' ')" "0 0 " "--rlimit with one value sets both"
"$F" run --stdout "$tmp/out" --stderr "$tmp/err" -- sh -c 'echo to-out; echo to-err >&2'
is "$(cat "$tmp/out")/$(cat "$tmp/err")" "to-out/to-err" "--stdout, --stderr"
is "$(echo ignored | "$F" run --stdin "$tmp/out" -- cat)" "to-out" "--stdin"
is "$("$F" run --sigmask INT,TERM -- grep SigBlk /proc/self/status)" "SigBlk:	0000000000004002" "--sigmask"
is "$("$F" run --setsid -- sh -c 'read -r pid comm state ppid pgrp sid rest </proc/$$/stat; [ "$sid" = $$ ] && echo leader')" \
	leader "--setsid: the child leads its session"
is "$("$F" run --argv0 renamed -- sh -c 'echo $0')" renamed "--argv0"

# ---- run: failures --------------------------------------------------------------------------
err=$("$F" run --chdir /nonexistent/dir -- true 2>&1)
st=$?
is "$err" 'forkless: step 0 (chdir "/nonexistent/dir"): No such file or directory' "the failure report names the step"
is $st 127 "a failed step exits 127"
err=$("$F" run --umask 022 --setsid --chdir /nonexistent/dir -- true 2>&1)
is "$err" 'forkless: step 2 (chdir "/nonexistent/dir"): No such file or directory' "the report gives the step's index"
is "$("$F" run --hard --chdir /nonexistent/dir -- sh -c 'echo ran')" ran "--hard: a failing step is ignored"
err=$("$F" run -- /nonexistent/program 2>&1)
st=$?
is "$err" 'forkless: exec "/nonexistent/program": No such file or directory' "a missing program is reported"
is $st 127 "a missing program exits 127"
"$F" run -- no-such-command-anywhere 2>/dev/null
is $? 127 "a command not found in PATH exits 127"
printf 'plain text\n' >"$tmp/text"
chmod 644 "$tmp/text"
"$F" run -- "$tmp/text" 2>/dev/null
is $? 126 "a file that is not executable exits 126"
chmod 755 "$tmp/text"
"$F" run --no-path -- "$tmp/text" 2>/dev/null
is $? 126 "ENOEXEC exits 126"
printf 'echo sh-ran\n' >"$tmp/script"
chmod 755 "$tmp/script"
is "$("$F" run --sh -- "$tmp/script")" sh-ran "--sh runs an ENOEXEC file with /bin/sh"
"$F" run --umask 999 -- true 2>/dev/null
is $? 125 "a bad option value exits 125"
"$F" run --hard --env A=1 -- true 2>/dev/null
is $? 125 "--hard before a non-step is refused"
"$F" run 2>/dev/null
is $? 125 "no command exits 125"

# ---- run: credentials -----------------------------------------------------------------------
err=$("$F" run --user no-such-user-anywhere -- true 2>&1)
is $? 125 "--user of an unknown user exits 125, as a bad option value"
grep -q 'no-such-user-anywhere: no such user' <<<"$err"
ok $? "--user of an unknown user says so ($err)"
if [ "$(id -u)" -ne 0 ]; then
	skip "not root" "--user nobody: uid, gid and groups"
	skip "not root" "--user: supplementary groups from the group database"
	skip "not root" "--uid alone keeps the caller's gid and groups"
elif ! id nobody >/dev/null 2>&1; then
	skip "no user nobody here" "--user nobody: uid, gid and groups"
else
	is "$("$F" run --user nobody -- id)" "$(id nobody)" "--user nobody: uid, gid and groups are nobody's"
	# A user with a supplementary group, if the database has one.
	member=$(getent group | awk -F: '$4 != "" { split($4, m, ","); print m[1]; exit }')
	if [ -n "$member" ] && id "$member" >/dev/null 2>&1; then
		is "$("$F" run --user "$member" -- id -G)" "$(id -G "$member")" \
			"--user $member: its supplementary groups from the group database"
	else
		skip "no user here is a member of a group" "--user: supplementary groups from the group database"
	fi
	is "$("$F" run --uid nobody -- id -u -n):$("$F" run --uid nobody -- id -g):$("$F" run --uid nobody -- id -G)" \
		"nobody:$(id -g):$(id -G)" "--uid alone keeps the caller's gid and groups (as the manual warns)"
fi

# ---- run: every engine -------------------------------------------------------------------
for e in $engines; do
	is "$("$F" run --engine "$e" --chdir "$tmp" -- pwd)" "$tmp" "--engine $e: chdir, and a child that runs"
	err=$("$F" run --engine "$e" --chdir /nonexistent/dir -- true 2>&1)
	st=$?
	if [ "$e" = posix ]; then
		# posix_spawn cannot say which step failed
		[ $st -eq 127 ] && [[ $err == *"No such file or directory"* ]]
		ok $? "--engine $e: a failing step exits 127 with its error"
	else
		is "$err/$st" 'forkless: step 0 (chdir "/nonexistent/dir"): No such file or directory/127' \
			"--engine $e: a failing step is reported"
	fi
	"$F" run --engine "$e" -- sh -c 'exit 7'
	is $? 7 "--engine $e: exit status"
done

# ---- bench ---------------------------------------------------------------------------------
# The bench's own watchdog ends a run whose spawn hangs (60 s); timeout is
# there in case the watchdog itself fails.
timeout -s KILL 240 "$F" bench --quick --iterations 20 --memory 64 --json >"$tmp/bench.json" 2>"$tmp/bench.err"
ok $? "bench --quick --json runs"
sed 's/^/#   /' "$tmp/bench.err"
is "$(json "$tmp/bench.json" '"parsed"')" parsed "bench --json output parses"
want="glibc-spawn glibc-spawnp fl-spawn fl-spawnp raw-vfork"
[ "$(uname -m)" = x86_64 ] && want="$want raw-clone3 raw-afork"
# The primed engine has its own section (--programs): the timed child is
# static, which it refuses.
want="$want $(echo "$engines" | sed 's/ *primed//; s/clone/clone clone-nopidfd/; s/async/async async-nopidfd/')"
is "$(json "$tmp/bench.json" '" ".join(m["id"] for m in d["methods"])')" "$want" "bench has every method"
# The real programs' section: /bin/true always, spawned by the primed engine.
is "$(json "$tmp/bench.json" '[p for p in d["programs"] if p["label"] == "/bin/true"][0]["all_primed"]')" True \
	"bench --json has the programs section, /bin/true primed"
is "$(json "$tmp/bench.json" '" ".join(m["id"] for m in d["methods"] for s in d["states"] if "error" in m["results"][s] or m["results"][s]["n"] < 1)')" "" \
	"every method has samples in every state"
is "$(json "$tmp/bench.json" 'all(m["results"][s]["latency_us"]["min"] > 0 and m["results"][s]["blocked_us"]["min"] > 0 for m in d["methods"] for s in d["states"])')" True \
	"latencies and blocked times are positive"
is "$(json "$tmp/bench.json" 'all(m["throughput"]["spawns_per_s"] > 0 for m in d["methods"])')" True \
	"every method has a throughput figure"
is "$(json "$tmp/bench.json" '"clone / raw-vfork: latency median" in [r["name"] for r in d["ratios"]] or "clone / raw-clone3: latency median" in [r["name"] for r in d["ratios"]]')" True \
	"each engine is compared with the raw method it is built on"
"$F" bench --child /bin/true --iterations 2 --states base --methods clone --no-throughput >"$tmp/fail.out"
st=$?
[ $st -eq 1 ] && grep -q 'wrote no time' "$tmp/fail.out"
ok $? "bench fails, and says why, when the child writes no time (exit $st)"
# --dup2 and --glibc: the glibc rows under a glibc given by its directory
# (here the one this program runs on), every method placing the pipe itself.
libc_dir=$(dirname "$(ldd "$F" | awk '$1 == "libc.so.6" { print $3 }')")
out=$(timeout -s KILL 120 "$F" bench --iterations 3 --methods glibc-spawn,glibc-spawnp,clone --states base \
	--no-throughput --dup2 --glibc "$libc_dir" 2>&1)
st=$?
[ $st -eq 0 ] && grep -q "^glibc rows: glibc .* from $libc_dir" <<<"$out" &&
	grep -q '^glibc [0-9.]* posix_spawnp .*|  *[0-9.]* / ' <<<"$out" && grep -q '^--dup2:' <<<"$out"
ok $? "bench --dup2 --glibc DIR runs the glibc rows in a helper under DIR's loader (exit $st)"
[ $st -eq 0 ] || sed 's/^/#   /' <<<"$out"
"$F" bench --iterations 2 --methods glibc-spawn --states base --no-throughput --glibc /nonexistent \
	>/dev/null 2>"$tmp/glibc.err"
st=$?
[ $st -eq 1 ] && grep -q 'no ld-linux' "$tmp/glibc.err"
ok $? "bench --glibc with a directory that holds no loader fails and says so (exit $st)"
"$F" bench --methods no-such-method 2>/dev/null
is $? 125 "bench --methods with an unknown name exits 125"
out=$("$F" bench --iterations 3 --methods clone --states base --no-throughput)
grep -q '^forkless clone  *|' <<<"$out"
ok $? "bench prints a table"
out=$("$F" bench --iterations 2 --memory 8 --methods clone --states base --no-throughput --plot "$tmp/plot.png")
if command -v gnuplot >/dev/null; then
	[ -s "$tmp/plot.png" ] && [ -s "$tmp/plot.dat" ]
	ok $? "--plot draws the plot with gnuplot"
else
	skip "gnuplot is not installed" "--plot draws the plot with gnuplot"
fi
# Without gnuplot in PATH (the children are found by absolute path).
out=$(PATH=/nonexistent "$F" bench --iterations 2 --memory 8 --methods clone --states base --no-throughput \
	--plot "$tmp/noplot.png")
[ -s "$tmp/noplot.dat" ] && [ -s "$tmp/noplot.gp" ] && [ ! -e "$tmp/noplot.png" ] &&
	grep -q 'apt-get install gnuplot-nox' <<<"$out"
ok $? "--plot without gnuplot keeps the data and says how to get it"

echo "1..$n"
[ $failed -eq 0 ]
