// SPDX-License-Identifier: MIT
/* The child handle: wait, signal, poll, through the pidfd where there is one
 * (a bare pid can be reused once the child is reaped). */
#include <errno.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "inflight.h"
#include "sys.h"

#define CHILD_REAPED FL_CHILD_REAPED

/* siginfo of a reaped child as a waitpid(2) status word. */
int fl_status_of(const siginfo_t *si)
{
	switch (si->si_code) {
	case CLD_EXITED:
		return (si->si_status & 0xff) << 8;
	case CLD_DUMPED:
		return (si->si_status & 0x7f) | 0x80;
	default:
		return si->si_status & 0x7f;
	}
}

void fl_child_done(fl_child *child)
{
	child->_state |= CHILD_REAPED;
	if (child->pidfd >= 0)
		close(child->pidfd);
	child->pidfd = -1;
}

static int wait_child(fl_child *child, int *status, int options)
{
	siginfo_t si;
	int ret;

	if (!child || child->pid <= 0 || (child->_state & CHILD_REAPED))
		return -ECHILD;
	if (child->_priv[0]) {
		/* An async or pooled child: its exec outcome first.  One that
		 * failed was reaped by the library, which kept its status. */
		int st = 0;

		ret = fl_inflight_settle(child, !(options & WNOHANG), NULL, &st);
		if (ret == 1)
			return 0;
		if (ret < 0 && (child->_state & CHILD_REAPED)) {
			if (status)
				*status = st;
			return 1;
		}
	}
	si.si_pid = 0;
	if (child->pidfd >= 0)
		ret = waitid(P_PIDFD, child->pidfd, &si, WEXITED | options);
	else
		ret = waitid(P_PID, child->pid, &si, WEXITED | options);
	if (ret < 0)
		return -errno;
	if (si.si_pid == 0)
		return 0;	/* WNOHANG and still running */
	if (status)
		*status = fl_status_of(&si);
	fl_child_done(child);
	return 1;
}

FL_API int fl_child_wait_exec(fl_child *child, fl_report *report)
{
	if (report)
		*report = (fl_report){ 0, 0 };
	if (!child || child->pid <= 0)
		return -ECHILD;
	return fl_inflight_settle(child, true, report, NULL);
}

FL_API int fl_child_poll_exec(fl_child *child, fl_report *report)
{
	if (report)
		*report = (fl_report){ 0, 0 };
	if (!child || child->pid <= 0)
		return -ECHILD;
	return fl_inflight_settle(child, false, report, NULL);
}

FL_API int fl_child_exec_fd(const fl_child *child)
{
	const struct fl_arec *rec = child ? child->_priv[0] : NULL;

	return rec && rec->exec_fd >= 0 ? rec->exec_fd : -ENOENT;
}

FL_API int fl_child_wait(fl_child *child, int *status)
{
	int ret = wait_child(child, status, 0);

	return ret < 0 ? ret : 0;
}

FL_API int fl_child_trywait(fl_child *child, int *status)
{
	return wait_child(child, status, WNOHANG);
}

FL_API int fl_child_kill(const fl_child *child, int sig)
{
	if (!child || child->pid <= 0 || (child->_state & CHILD_REAPED))
		return -ESRCH;
	if (child->pidfd >= 0 && fl_has(FL_FEAT_PIDFD_SEND_SIGNAL))
		return fl_sys_pidfd_send_signal(child->pidfd, sig);
	return kill(child->pid, sig) < 0 ? -errno : 0;
}

FL_API int fl_child_fd(const fl_child *child)
{
	return child && child->pidfd >= 0 ? child->pidfd : -ENOSYS;
}

FL_API void fl_child_release(fl_child *child)
{
	if (!child)
		return;
	/* An async or pooled child not yet exec'd: wait for the outcome, so a
	 * failed one is reaped by the library rather than left to the caller. */
	if (child->_priv[0])
		fl_inflight_settle(child, true, NULL, NULL);
	fl_child_done(child);
}
