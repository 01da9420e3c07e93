// SPDX-License-Identifier: MIT
/*
 * The async engine (afork): clone3(CLONE_VM | CLONE_PIDFD | CLONE_CLEAR_SIGHAND
 * | CLONE_CHILD_CLEARTID) without CLONE_VFORK.  The calling thread is back as
 * soon as the child exists; the exec's outcome is collected later
 * (fl_child_wait_exec, fl_child_poll_exec).
 *
 * Because the caller runs on while the child has not exec'd yet, nothing the
 * child reads may live in the caller's frame: the job, argv, envp and the
 * /bin/sh argv are copied into a block (inflight.c) at the top of the child's
 * stack mapping (no allocation while they fit in FL_BLOCK_AREA).
 */
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "inflight.h"
#include "sys.h"

/* ---- the engine ----------------------------------------------------------- */

int fl_engine_async(struct fl_job *job, fl_child *child)
{
	struct fl_block *blk;
	struct fl_arec *rec;
	struct fl_saved saved;
	struct fl_job *j;
	int pidfd = -1, pipefd[2] = { -1, -1 }, ret;
	bool late_pidfd = job->flags & FL_JOB_LATE_PIDFD;
	bool want_pidfd = fl_job_pidfd_at_clone(job);
	long pid;

	if ((ret = fl_inflight_begin(&blk, &rec)) < 0)
		return ret;
	ret = fl_block_load(blk, job);
	if (ret < 0) {
		fl_inflight_give_back(blk, rec);
		return ret;
	}
	j = &blk->job;
	if (job->spec->flags & FL_SPEC_EXEC_FD) {
		/* The write end closes at exec (close-on-exec) or exit: the read
		 * end polls readable then; a failure report arrives on it too. */
		if (pipe2(pipefd, O_CLOEXEC) < 0) {
			ret = -errno;
			fl_inflight_give_back(blk, rec);
			return ret;
		}
		j->report_fd = pipefd[1];
	}
	rec->exec_fd = pipefd[0];
	blk->tid = 1;

	/* Signals as for the clone engine: blocked by the caller until the
	 * child has its own mask, where the child needs that at all.  Never
	 * left to the child's first step: a signal that reached it before that
	 * step would find the default disposition (CLONE_CLEAR_SIGHAND) and a
	 * mask without the blocks its spawn asked for, and could kill it. */
	fl_signals_hold(j, &saved);
#ifdef FL_HAVE_CLONE3_ASM
	if (fl_has(FL_FEAT_CLONE3)) {
		struct fl_clone_args ca = {
			.flags = CLONE_VM | CLONE_CHILD_CLEARTID | (want_pidfd ? CLONE_PIDFD : 0),
			.pidfd = (uintptr_t)&pidfd,
			.child_tid = (uintptr_t)&blk->tid,
			.exit_signal = SIGCHLD,
			.stack = (uintptr_t)blk - FL_BLOCK_STACK - FL_STACK_GUARD,
			.stack_size = FL_BLOCK_STACK + FL_STACK_GUARD,
		};

		if (fl_has(FL_FEAT_CLEAR_SIGHAND)) {
			ca.flags |= CLONE_CLEAR_SIGHAND;
			j->flags |= FL_JOB_SIGHAND_CLEARED;
		}
		if (j->cgroup_fd >= 0 && fl_has(FL_FEAT_INTO_CGROUP)) {
			ca.flags |= CLONE_INTO_CGROUP;
			ca.cgroup = j->cgroup_fd;
			j->flags |= FL_JOB_IN_CGROUP;
		}
		pid = fl_clone3(&ca, fl_child_main, j);
	} else
#endif
	{
		int flags = CLONE_VM | CLONE_CHILD_CLEARTID | SIGCHLD;

		if (want_pidfd)
			flags |= CLONE_PIDFD;
		pid = clone(fl_child_main, (char *)blk, flags, j, &pidfd, NULL, &blk->tid);
		if (pid < 0)
			pid = -errno;
	}
	fl_signals_restore(&saved);
	if (pipefd[1] >= 0)
		close(pipefd[1]);
	if (pid < 0) {
		if (j->flags & FL_JOB_IN_CGROUP)
			job->slot.step = j->cgroup_step;
		if (pipefd[0] >= 0)
			close(pipefd[0]);
		fl_inflight_give_back(blk, rec);
		return (int)pid;
	}
	child->pid = (pid_t)pid;
	child->pidfd = pidfd;
	blk->pid = (pid_t)pid;
	rec->late_pidfd = late_pidfd;
	fl_inflight_track(blk, rec, child);
	return 0;
}

/* A few blocks mapped and touched, so the first spawns pay no mmap or page
 * faults. */
int fl_async_warm(void)
{
	struct fl_block *blk[4] = { NULL };

	for (int i = 0; i < 4; i++)
		blk[i] = fl_block_get();
	fl_inflight_lock();
	for (int i = 0; i < 4; i++)
		if (blk[i])
			fl_block_put_locked(blk[i]);
	fl_inflight_unlock();
	return 0;
}
