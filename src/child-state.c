// SPDX-License-Identifier: MIT
/*
 * The child's side of the state transfer (state.h): a child made away from
 * the caller's own clone takes on the caller's state of the moment.
 * Child-side rules (child.c): raw syscalls only, nothing written but its own
 * process state; built like child.c.
 */
#include <errno.h>
#include <linux/prctl.h>
#include <sys/resource.h>

#include "internal.h"
#include "state.h"

static FL_CHILD_SIDE int bytes_differ(const void *a, const void *b, size_t n)
{
	const unsigned char *x = a, *y = b;

	for (size_t i = 0; i < n; i++)
		if (x[i] != y[i])
			return 1;
	return 0;
}

FL_CHILD_SIDE int fl_state_apply(const struct fl_state *want, const gid_t *wgroups, const struct fl_state *have,
				 const gid_t *hgroups)
{
	int ret;

	for (int r = 0; r < FL_NLIMITS; r++)
		if (bytes_differ(&want->limits[r], &have->limits[r], sizeof(struct rlimit)) &&
		    (ret = (int)fl_sys4(__NR_prlimit64, 0, r, &want->limits[r], NULL)) < 0)
			return ret;
	if (want->cpuset_len > 0 && (want->cpuset_len != have->cpuset_len ||
				     bytes_differ(want->cpuset, have->cpuset, (size_t)want->cpuset_len)) &&
	    (ret = (int)fl_sys3(__NR_sched_setaffinity, 0, want->cpuset_len, want->cpuset)) < 0)
		return ret;

	/* Dispositions: handled signals are default already (the engines make
	 * their children with CLONE_CLEAR_SIGHAND); the ignored ones are
	 * HAVE's. */
	for (int sig = 1; sig < 65; sig++) {
		uint64_t bit = 1ull << (sig - 1);
		struct fl_ksigaction sa = { .handler = (want->ignored & bit) ? SIG_IGN : SIG_DFL };

		if (sig == SIGKILL || sig == SIGSTOP || !((want->ignored ^ have->ignored) & bit))
			continue;
		fl_sys_sigaction(sig, &sa, NULL);
	}

	/* The nice value apart: sched_setattr leaves it alone under a
	 * real-time policy. */
	if (want->sched.nice != have->sched.nice &&
	    (ret = (int)fl_sys3(__NR_setpriority, PRIO_PROCESS, 0, want->sched.nice)) < 0)
		return ret;
	if (fl_sched_differ(&want->sched, &have->sched) && (ret = fl_sys_sched_set(&want->sched)) < 0)
		return ret;
	if (want->ioprio >= 0 && want->ioprio != have->ioprio &&
	    (ret = (int)fl_sys3(__NR_ioprio_set, 1, 0, want->ioprio)) < 0)
		return ret;
	if (want->persona != have->persona && (ret = (int)fl_sys1(__NR_personality, want->persona)) < 0)
		return ret;
	/* A slack of 0 (a real-time thread's) cannot be set: 0 means the
	 * default.  The zygote forks a new zygote for such a caller. */
	if (want->slack > 0 && want->slack != have->slack &&
	    (ret = (int)fl_sys2(__NR_prctl, PR_SET_TIMERSLACK, want->slack)) < 0)
		return ret;
	/* It can be set, never cleared. */
	if (want->nnp && !have->nnp && (ret = (int)fl_sys2(__NR_prctl, PR_SET_NO_NEW_PRIVS, 1)) < 0)
		return ret;

	/* Credentials last.  The bounding set first, while CAP_SETPCAP is still
	 * there; the other capability sets once the ids are the caller's. */
	if ((ret = fl_caps_bounding(have->caps.bnd, want->caps.bnd)) < 0)
		return ret;
	if ((want->ngroups != have->ngroups || bytes_differ(wgroups, hgroups, want->ngroups * sizeof(gid_t))) &&
	    (ret = (int)fl_sys2(__NR_setgroups, want->ngroups, wgroups)) < 0)
		return ret;
	if ((want->gid[0] != have->gid[0] || want->gid[1] != have->gid[1] || want->gid[2] != have->gid[2]) &&
	    (ret = (int)fl_sys3(__NR_setresgid, want->gid[0], want->gid[1], want->gid[2])) < 0)
		return ret;
	if (want->gid[3] != want->gid[1])
		fl_sys1(__NR_setfsgid, want->gid[3]);
	if ((want->uid[0] != have->uid[0] || want->uid[1] != have->uid[1] || want->uid[2] != have->uid[2]) &&
	    (ret = (int)fl_sys3(__NR_setresuid, want->uid[0], want->uid[1], want->uid[2])) < 0)
		return ret;
	if (want->uid[3] != want->uid[1])
		fl_sys1(__NR_setfsuid, want->uid[3]);
	return fl_caps_take(&want->caps, have->caps.amb);
}
