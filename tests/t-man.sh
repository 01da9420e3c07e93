#!/bin/sh
# SPDX-License-Identifier: MIT
# The man pages: every fl_ function the public header declares has a page in
# docs/ (its own or a .so link to the page that documents it, naming it in
# NAME), every page has the sections a reader looks for, and every page
# renders without a groff warning.  The header is read now, not listed here,
# so a function added later without a page fails this test.
# Few processes: each costs a millisecond or more on our machines.
cd "$(dirname "$0")/.." || exit 1

. ./tests/tap.sh

tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT

# The functions the header declares: preprocessed (no comments, macros
# expanded), every fl_ name followed by '('.  A function-pointer typedef
# such as (*fl_fn)(...) has ')' after its name, so it does not count.
cc=${CC:-cc}
command -v "$cc" >/dev/null 2>&1 || cc=gcc
if ! "$cc" -E -P -D_GNU_SOURCE -Iinclude include/forkless.h >"$tmp/h.i" 2>"$tmp/cc.err"; then
	ok 1 "preprocess include/forkless.h with $cc: $(head -1 "$tmp/cc.err")"
	tap_done
	exit 1
fi
grep -o '\bfl_[A-Za-z0-9_]*[[:space:]]*(' "$tmp/h.i" | sed 's/[[:space:](]*$//' | sort -u >"$tmp/funcs"
count=$(wc -l <"$tmp/funcs")
[ "$count" -gt 0 ]
ok $? "the header declares fl_ functions ($count)"
[ -e docs/forkless.7 ]
ok $? "docs/forkless.7, the overview, exists"

# One pass over every page.  Out, one line each, tab-separated, no field
# empty (read would merge two tabs):
#   page FILE missing-sections spdx(0/1) link(0/1) target-exists(0/1)
#   func NAME page-found(path or -) named-there(0/1)
awk -v funcs="$tmp/funcs" '
function base(p) { sub(/.*\//, "", p); return p }
function finish() {
	if (file == "")
		return
	miss = ""
	if (!link[file]) {
		split(need[file], want, " ")
		for (i in want)
			if (!((file, want[i]) in seen))
				miss = miss " " want[i]
	}
	pages[++np] = file "\t" (miss == "" ? "-" : substr(miss, 2)) "\t" spdx "\t" (link[file] ? 1 : 0)
}
FNR == 1 {
	finish()
	file = FILENAME; spdx = 0; inname = 0
	need[file] = file ~ /\.3$/ ? "NAME SYNOPSIS DESCRIPTION RETURN_VALUE ERRORS" : "NAME SYNOPSIS DESCRIPTION"
	exists[base(file)] = 1
}
/SPDX-License-Identifier/ { spdx = 1 }
/^\.so[ \t]/ { link[file] = 1; target[file] = base($2) }
/^\.SH/ {
	s = $0; sub(/^\.SH[ \t]+/, "", s); gsub(/"/, "", s); gsub(/ /, "_", s)
	seen[file, s] = 1
	inname = (s == "NAME")
	next
}
inname {
	s = $0; sub(/\\-.*/, "", s)
	k = split(s, w, /[ \t,]+/)
	for (i = 1; i <= k; i++)
		if (w[i] != "")
			named[base(file), w[i]] = 1
}
END {
	finish()
	for (i = 1; i <= np; i++) {
		split(pages[i], f, "\t")
		t = f[4] ? ((target[f[1]] in exists) ? 1 : 0) : 1
		print "page\t" pages[i] "\t" t
	}
	while ((getline fn < funcs) > 0) {
		page = fn ".3"
		if (!(page in exists)) { print "func\t" fn "\t-\t0"; continue }
		if (("docs/" page) in target)
			page = target["docs/" page]
		print "func\t" fn "\tdocs/" page "\t" ((page in exists) && ((page, fn) in named) ? 1 : 0)
	}
}' docs/*.[1-8] >"$tmp/table"

tab=$(printf '\t')
while IFS="$tab" read -r kind a b c d e; do
	case $kind in
	func)
		if [ "$b" = - ]; then
			ok 1 "$a has a man page (no docs/$a.3)"
		else
			[ "$c" = 1 ]
			ok $? "$a has a man page ($b, which names it)"
		fi
		;;
	page)
		if [ "$d" = 1 ]; then
			[ "$e" = 1 ]
			ok $? "$a links to a page that exists"
			continue
		fi
		desc="$a has its sections"
		[ "$b" = - ] || desc="$desc (missing: $b)"
		[ "$b" = - ]
		ok $? "$desc"
		[ "$c" = 1 ]
		ok $? "$a has an SPDX line"
		;;
	esac
done <"$tmp/table"

# Every reference to one of our pages (".BR fl_spawn (3)") finds it.
grep -ohE '\b(fl_[A-Za-z0-9_]+|forkless) \([1-8]\)' docs/*.[1-8] | sort -u >"$tmp/refs"
while read -r name sec; do
	sec=${sec#(}
	sec=${sec%)}
	[ -e "docs/$name.$sec" ]
	ok $? "the pages' references to $name($sec) find docs/$name.$sec"
done <"$tmp/refs"

# Rendering, all pages in one groff run, from a tree laid out as installed
# (man1/, man3/, man7/) so that the .so links resolve.  Any warning (-ww:
# all of them, more than `man --warnings` asks for) fails the page it names.
if ! command -v groff >/dev/null 2>&1; then
	skip "groff is not installed (apt-get install groff-base)" "pages render without warnings"
else
	for s in 1 3 7; do
		ln -s "$PWD/docs" "$tmp/man$s"
	done
	list=
	for p in docs/*.[137]; do
		[ -e "$p" ] && ! grep -q '^\.so' "$p" && list="$list man${p##*.}/${p#docs/}"
	done
	# shellcheck disable=SC2086 # a list of file names without spaces
	(cd "$tmp" && groff -k -t -man -Tutf8 -ww -z $list) >"$tmp/warn" 2>&1
	for rel in $list; do
		! grep -qF "$rel:" "$tmp/warn"
		ok $? "docs/${rel#man?/} renders without warnings"
		grep -F "$rel:" "$tmp/warn" | sed 's/^/#   /'
	done
	# What no page can be blamed for (a broken groff, say) fails too.
	! grep -qv 'man[137]/' "$tmp/warn"
	ok $? "groff ran clean$(grep -v 'man[137]/' "$tmp/warn" | head -1 | sed 's/^/: /')"
fi

tap_done
exit $?
