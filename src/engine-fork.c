// SPDX-License-Identifier: MIT
/* The fork engine: fork() + the child side.  The reference slow path: its cost
 * grows with the parent's mapped memory (page tables copied, pages marked
 * copy-on-write), which is what the benchmark shows. */
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include "internal.h"
#include "sys.h"

int fl_engine_fork(struct fl_job *job, fl_child *child)
{
	struct fl_saved saved;
	struct fl_slot report;
	int pipefd[2], err;
	long n;
	pid_t pid;

	/* The child shares no memory: it reports a failure down a pipe, which
	 * close-on-exec closes on success. */
	if (pipe2(pipefd, O_CLOEXEC) < 0)
		return -errno;
	job->report_fd = pipefd[1];
	fl_signals_block(job, &saved);
	pid = fork();
	if (pid == 0) {
		/* Not the caller's fd: without it the child's fd table is the
		 * caller's plus the report end, as close to the other engines'
		 * as a pipe allows (an open step lands where it would there). */
		fl_sys_close(pipefd[0]);
		fl_child_main(job);
	}
	err = errno;
	fl_signals_restore(&saved);
	close(pipefd[1]);
	if (pid < 0) {
		close(pipefd[0]);
		return -err;
	}
	do
		n = fl_sys_read(pipefd[0], &report, sizeof(report));
	while (n == -EINTR);
	close(pipefd[0]);
	if (n == sizeof(report)) {
		job->slot = report;
		fl_reap_failed(pid, -1);
		return -report.error;
	}
	child->pid = pid;
	child->pidfd = fl_pidfd_for(job, pid);
	return 0;
}
