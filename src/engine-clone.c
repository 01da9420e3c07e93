// SPDX-License-Identifier: MIT
/*
 * The clone engine, the default: clone3(CLONE_VM | CLONE_VFORK | CLONE_PIDFD |
 * CLONE_CLEAR_SIGHAND) on the thread's cached stack.  No page tables are
 * copied, so the cost does not grow with the parent; the kernel resets the
 * signal handlers (one flag instead of ~64 rt_sigaction calls); the pidfd comes
 * with the child.  Where clone3 is missing or refused (seccomp answers EPERM),
 * glibc's clone() with the same flags but CLONE_CLEAR_SIGHAND.
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>

#include "internal.h"
#include "sys.h"

int fl_engine_clone(struct fl_job *job, fl_child *child)
{
	struct fl_saved saved;
	char *stack = fl_stack_of_thread();
	int pidfd = -1, err;
	bool want_pidfd = fl_job_pidfd_at_clone(job);
	long pid;

	if (!stack)
		return -ENOMEM;
	/* Where the kernel clears the handlers, most children need no blocked
	 * signals: no rt_sigprocmask here then, nor in the child. */
	fl_signals_hold(job, &saved);
#ifdef FL_HAVE_CLONE3_ASM
	if (fl_has(FL_FEAT_CLONE3)) {
		struct fl_clone_args ca = {
			.flags = CLONE_VM | CLONE_VFORK |
				 (want_pidfd ? CLONE_PIDFD : 0),
			.pidfd = (uintptr_t)&pidfd,
			.exit_signal = SIGCHLD,
			.stack = (uintptr_t)stack,
			.stack_size = FL_STACK_SIZE + FL_STACK_GUARD,
		};

		if (fl_has(FL_FEAT_CLEAR_SIGHAND)) {
			ca.flags |= CLONE_CLEAR_SIGHAND;
			job->flags |= FL_JOB_SIGHAND_CLEARED;
		}
		if (job->cgroup_fd >= 0 && fl_has(FL_FEAT_INTO_CGROUP)) {
			ca.flags |= CLONE_INTO_CGROUP;
			ca.cgroup = job->cgroup_fd;
			job->flags |= FL_JOB_IN_CGROUP;
		}
		pid = fl_clone3(&ca, fl_child_main, job);
	} else
#endif
	{
		int flags = CLONE_VM | CLONE_VFORK | SIGCHLD;

		if (want_pidfd)
			flags |= CLONE_PIDFD;
		pid = clone(fl_child_main, stack + FL_STACK_SIZE + FL_STACK_GUARD, flags, job, &pidfd);
		if (pid < 0)
			pid = -errno;
	}
	fl_signals_restore(&saved);

	if (pid < 0) {
		/* clone3 refuses a bad cgroup itself: that is the cgroup step's failure. */
		if (job->flags & FL_JOB_IN_CGROUP)
			job->slot.step = job->cgroup_step;
		return (int)pid;
	}
	if (job->slot.error) {
		int cancel;

		/* Not cancelled in the wait: that would leave the zombie. */
		err = job->slot.error;
		pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &cancel);
		fl_reap_failed((pid_t)pid, pidfd);
		pthread_setcancelstate(cancel, NULL);
		return -err;
	}
	child->pid = (pid_t)pid;
	child->pidfd = pidfd;	/* CLONE_PIDFD filled it, where asked and probed */
	return 0;
}
