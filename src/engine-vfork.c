// SPDX-License-Identifier: MIT
/* The vfork engine: vfork() + the child side, on the parent's own stack.
 * The calling thread sleeps until the child execs or exits; the child writes
 * its report into the job, which the parent reads when it wakes. */
#include <errno.h>
#include <unistd.h>

#include "internal.h"

/* vfork returns twice: keep it in a frame with nothing the child could
 * clobber for the parent. */
static __attribute__((noinline)) pid_t vfork_child(struct fl_job *job)
{
	pid_t pid = vfork();

	if (pid == 0)
		fl_child_main(job);
	return pid;
}

int fl_engine_vfork(struct fl_job *job, fl_child *child)
{
	struct fl_saved saved;
	pid_t pid;
	int err;

	fl_signals_block(job, &saved);
	pid = vfork_child(job);
	err = errno;
	fl_signals_restore(&saved);
	if (pid < 0)
		return -err;
	if (job->slot.error) {
		fl_reap_failed(pid, -1);
		return -job->slot.error;
	}
	child->pid = pid;
	child->pidfd = fl_pidfd_for(job, pid);
	return 0;
}
