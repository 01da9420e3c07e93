// SPDX-License-Identifier: MIT
/*
 * The caller's state of the moment (state.h), captured.  Child-side rules
 * (child.c) although it runs in the caller too: the zygote's snapshot child
 * runs it between clone and its exit, on the caller's memory.  So raw
 * syscalls only, our own parsing, and no libc.
 *
 * One read of /proc/thread-self/status gives what would otherwise take ~130
 * syscalls (the ignored signals, the bounding and ambient capability sets);
 * the rest is one syscall each.  It needs one free fd.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/prctl.h>
#include <sys/resource.h>

#include "internal.h"
#include "state.h"

/* The value after KEY on the line at P (ending at END), in BASE (8, 10 or
 * 16).  Ends at the first character that is not a digit. */
static FL_CHILD_SIDE uint64_t parse_num(const char *p, const char *end, int base)
{
	uint64_t v = 0;

	while (p < end && (*p == ' ' || *p == '\t'))
		p++;
	for (; p < end; p++) {
		int d = *p >= '0' && *p <= '9' ? *p - '0' : *p >= 'a' && *p <= 'f' ? *p - 'a' + 10 : 99;

		if (d >= base)
			break;
		v = v * (uint64_t)base + (uint64_t)d;
	}
	return v;
}

static FL_CHILD_SIDE int starts(const char *p, const char *end, const char *key)
{
	for (; *key; p++, key++)
		if (p >= end || *p != *key)
			return 0;
	return 1;
}

/* Takes the fields wanted from one line of the status file.  Returns a bit
 * per field found. */
static FL_CHILD_SIDE int status_line(struct fl_state *st, const char *p, const char *end)
{
	static const char *const caps[] = { "CapInh:", "CapPrm:", "CapEff:", "CapBnd:", "CapAmb:" };
	uint64_t *to[] = { &st->caps.inh, &st->caps.prm, &st->caps.eff, &st->caps.bnd, &st->caps.amb };

	if (starts(p, end, "SigIgn:")) {
		st->ignored = parse_num(p + 7, end, 16);
		return 1;
	}
	if (starts(p, end, "Seccomp_filters:")) {
		st->filters = (uint32_t)parse_num(p + 16, end, 10);
		return 0;	/* absent before Linux 5.9 */
	}
	for (int i = 0; i < 5; i++)
		if (starts(p, end, caps[i])) {
			*to[i] = parse_num(p + 7, end, 16);
			return 2 << i;
		}
	return 0;
}

/* The calling thread's status file, line by line through a small buffer:
 * the Groups line can be far longer than it, and is skipped (getgroups
 * gives the groups). */
static FL_CHILD_SIDE int read_status(struct fl_state *st)
{
	char buf[1024];
	long have = 0, n;
	int fd = fl_sys_openat(AT_FDCWD, "/proc/thread-self/status", O_RDONLY | O_CLOEXEC, 0), found = 0;
	int skipping = 0;

	if (fd < 0)
		return fd;
	st->filters = 0;
	while ((n = fl_sys_read(fd, buf + have, sizeof(buf) - (size_t)have)) > 0) {
		char *p = buf, *end = buf + have + n, *nl;

		for (;;) {
			for (nl = p; nl < end && *nl != '\n'; nl++)
				;
			if (nl == end)
				break;
			if (!skipping)
				found |= status_line(st, p, nl);
			skipping = 0;
			p = nl + 1;
		}
		have = end - p;
		if (have == (long)sizeof(buf)) {
			/* A line longer than the buffer: not one we want. */
			skipping = 1;
			have = 0;
		}
		for (long i = 0; i < have; i++)
			buf[i] = p[i];
	}
	fl_sys_close(fd);
	if (n < 0)
		return (int)n;
	return found == 63 ? 0 : -EIO;
}

/* What both readers read the same way: ids, groups, no_new_privs, rlimits,
 * scheduling, affinity, I/O priority, personality, timer slack. */
static FL_CHILD_SIDE int read_common(struct fl_state *st, gid_t *groups, uint32_t cap)
{
	uint32_t *ids[2] = { st->uid, st->gid };
	long ret;

	for (int i = 0; i < 2; i++) {
		ret = fl_sys3(i ? __NR_getresgid : __NR_getresuid, &ids[i][0], &ids[i][1], &ids[i][2]);
		if (ret < 0)
			return (int)ret;
		/* setfs[ug]id answers the current id; -1 changes nothing. */
		ids[i][3] = (uint32_t)fl_sys1(i ? __NR_setfsgid : __NR_setfsuid, -1);
	}
	ret = fl_sys2(__NR_getgroups, cap, groups);
	if (ret == -EINVAL)	/* more than CAP: the count alone */
		ret = fl_sys2(__NR_getgroups, 0, NULL);
	if (ret < 0)
		return (int)ret;
	st->ngroups = (uint32_t)ret;
	st->nnp = fl_sys2(__NR_prctl, PR_GET_NO_NEW_PRIVS, 0) == 1;
	for (int r = 0; r < FL_NLIMITS; r++)
		if (fl_sys4(__NR_prlimit64, 0, r, NULL, &st->limits[r]) < 0)
			st->limits[r].rlim_cur = st->limits[r].rlim_max = RLIM_INFINITY;
	ret = fl_sys_sched_get(0, &st->sched);
	if (ret < 0)
		return (int)ret;
	/* What the clone engine's child, a fork of this thread, has. */
	fl_sched_forked(&st->sched);
	for (int i = 0; i < FL_CPUSET_BYTES; i++)
		st->cpuset[i] = 0;
	st->cpuset_len = (int32_t)fl_sys3(__NR_sched_getaffinity, 0, FL_CPUSET_BYTES, st->cpuset);
	st->ioprio = (int32_t)fl_sys2(__NR_ioprio_get, 1, 0);	/* IOPRIO_WHO_PROCESS, this thread */
	st->persona = (uint32_t)fl_sys1(__NR_personality, 0xffffffff);
	st->slack = fl_sys1(__NR_prctl, PR_GET_TIMERSLACK);
	return 0;
}

FL_CHILD_SIDE int fl_state_capture(struct fl_state *st, gid_t *groups, uint32_t cap)
{
	int ret = read_status(st);

	return ret < 0 ? ret : read_common(st, groups, cap);
}

FL_CHILD_SIDE int fl_state_self(struct fl_state *st, gid_t *groups, uint32_t cap)
{
	struct { uint32_t version; int pid; } head = { 0x20080522, 0 };	/* _LINUX_CAPABILITY_VERSION_3 */
	struct { uint32_t eff, prm, inh; } now[2];
	long ret;

	st->ignored = 0;
	for (int sig = 1; sig < 65; sig++) {
		struct fl_ksigaction old;

		if (fl_sys_sigaction(sig, NULL, &old) == 0 && old.handler == SIG_IGN)
			st->ignored |= 1ull << (sig - 1);
	}
	ret = fl_sys2(__NR_capget, &head, now);
	if (ret < 0)
		return (int)ret;
	st->caps.eff = now[0].eff | (uint64_t)now[1].eff << 32;
	st->caps.prm = now[0].prm | (uint64_t)now[1].prm << 32;
	st->caps.inh = now[0].inh | (uint64_t)now[1].inh << 32;
	st->caps.bnd = st->caps.amb = 0;
	for (int c = 0; c < 64; c++) {
		/* EINVAL past the last capability the kernel knows */
		if (fl_sys2(__NR_prctl, PR_CAPBSET_READ, c) == 1)
			st->caps.bnd |= 1ull << c;
		if (fl_sys3(__NR_prctl, PR_CAP_AMBIENT, PR_CAP_AMBIENT_IS_SET, c) == 1)
			st->caps.amb |= 1ull << c;
	}
	st->filters = 0;
	return read_common(st, groups, cap);
}

int fl_state_ignored(uint64_t *ignored)
{
	struct fl_state st;
	int ret = read_status(&st);

	if (ret == 0)
		*ignored = st.ignored;
	return ret;
}

uint32_t fl_state_filters(void)
{
	struct fl_state st;

	return read_status(&st) == 0 ? st.filters : 0;
}
