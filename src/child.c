// SPDX-License-Identifier: MIT
/*
 * The child side: the only code that runs between clone and exec.
 *
 * Rules, for every function in this file:
 * - raw syscalls only (sys.h).  No libc: in a CLONE_VM child a libc wrapper can
 *   take a lock another parent thread holds, write the parent's errno, or (like
 *   glibc's setuid) signal every thread of the process it thinks it is in.
 * - no malloc, no static or global writes; the only parent memory written is
 *   the job (the parent's scratch for this spawn, its report slot above all).
 * - a bounded stack: the largest frame holds one PATH_MAX buffer.
 * - all signals stay blocked until just before exec; handlers are default by
 *   then, so no handler of the parent ever runs here.  Where the kernel reset
 *   the handlers at clone, the engine may leave the caller's mask in place
 *   instead (FL_JOB_MASK_KEPT: see fl_signals_hold in engine.c).
 * Built without stack protector or sanitizers (see the Makefile).
 */
#include <errno.h>
#include <limits.h>
#include <linux/prctl.h>
#include <stddef.h>
#include <sys/ioctl.h>
#include <termios.h>

#include "internal.h"
#include "sys.h"

/* memset/memcpy are libc calls; the compiler must not make any here. */
static void copy_bytes(char *dst, const char *src, size_t n)
{
	for (size_t i = 0; i < n; i++)
		((volatile char *)dst)[i] = src[i];
}

static size_t str_len(const char *s)
{
	size_t n = 0;

	while (s[n])
		n++;
	return n;
}

static uint64_t to_kmask(const void *sigset)
{
	uint64_t m;

	copy_bytes((char *)&m, sigset, sizeof(m));
	return m;
}

/* Without CLONE_CLEAR_SIGHAND: handled signals back to default, ignored ones
 * left ignored (what exec itself would do, done before the mask opens). */
static void reset_handlers(void)
{
	struct fl_ksigaction old, dfl = { .handler = SIG_DFL };

	for (int sig = 1; sig < 65; sig++) {
		if (sig == SIGKILL || sig == SIGSTOP)
			continue;
		if (fl_sys_sigaction(sig, NULL, &old) < 0)
			continue;
		if (old.handler != SIG_DFL && old.handler != SIG_IGN)
			fl_sys_sigaction(sig, &dfl, NULL);
	}
}

/* An fd the library itself needs until exec (the report pipe, the execveat
 * fd) must not be clobbered by a step that targets its number: move it above
 * every fd a step creates.  Not F_DUPFD to any free fd: a later step might
 * target that one too. */
static int keep_clear(struct fl_job *job, int fd)
{
	int *mine[] = { &job->report_fd, &job->exec_fd };

	for (int i = 0; i < 2; i++) {
		int above, moved;

		if (*mine[i] != fd)
			continue;
		above = job->acts[0]->max_fd;
		if (job->acts[1] && job->acts[1]->max_fd > above)
			above = job->acts[1]->max_fd;
		if (above == INT_MAX)
			return -EBADF;	/* what that step's dup2 or open would give */
		moved = fl_sys_fcntl(fd, F_DUPFD_CLOEXEC, above > fd ? above + 1 : fd + 1);
		if (moved < 0)
			return moved;
		fl_sys_close(fd);
		*mine[i] = moved;
	}
	return 0;
}

/* closefrom(3) in ranges around the fds the library still needs. */
static int close_from(struct fl_job *job, int low)
{
	int keep[2] = { job->report_fd, job->exec_fd };
	int ret;

	if (keep[0] > keep[1]) {
		int t = keep[0];

		keep[0] = keep[1];
		keep[1] = t;
	}
	for (int i = 0; i < 2; i++) {
		if (keep[i] < low)
			continue;
		if (keep[i] > low) {
			ret = fl_sys_close_range(low, keep[i] - 1, 0);
			if (ret < 0)
				goto fallback;
		}
		low = keep[i] + 1;
	}
	ret = fl_sys_close_range(low, ~0u, 0);
	if (ret == 0 || ret != -ENOSYS)
		return ret;

fallback:
	/* Before Linux 5.9: close what /proc/self/fd lists; never a loop up to
	 * RLIMIT_NOFILE, which can be a million. */
	{
		char buf[1024];
		int dir = fl_sys_openat(AT_FDCWD, "/proc/self/fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
		long n;

		if (dir < 0)
			return dir;
		while ((n = fl_sys3(__NR_getdents64, dir, buf, sizeof(buf))) > 0) {
			int closed = 0;

			for (long off = 0; off < n;) {
				int fd = fl_dirent_fd(buf, &off);

				if (fd >= low && fd != dir && fd != keep[0] && fd != keep[1]) {
					fl_sys_close(fd);
					closed++;
				}
			}
			/* Closing changes the listing: read it again from the top. */
			if (closed)
				fl_sys3(__NR_lseek, dir, 0, SEEK_SET);
		}
		fl_sys_close(dir);
		return n < 0 ? (int)n : 0;
	}
}

static int do_open(struct fl_job *job, const struct fl_action *a)
{
	int fd, ret = keep_clear(job, a->fd);

	if (ret < 0)
		return ret;
	/* As glibc (and POSIX: "shall be closed before"): the target goes
	 * first, so an open at the fd limit or of a single-open device works,
	 * and the file lands at its number when that is the lowest free one
	 * (keeping O_CLOEXEC then, as glibc's does). */
	fl_sys_close(a->fd);
	fd = fl_sys_openat(AT_FDCWD, a->data, (int)a->arg, (int)a->arg2);
	if (fd < 0 || fd == a->fd)
		return fd < 0 ? fd : 0;
	/* Moved to its number, without close-on-exec. */
	ret = fl_sys_dup3(fd, a->fd, 0);
	fl_sys_close(fd);
	return ret < 0 ? ret : 0;
}

static int do_cgroup(int dirfd)
{
	int fd = fl_sys_openat(dirfd, "cgroup.procs", O_WRONLY | O_CLOEXEC, 0);
	long ret;

	if (fd < 0)
		return fd;
	ret = fl_sys_write(fd, "0", 1);	/* "0": the writing process */
	fl_sys_close(fd);
	return ret < 0 ? (int)ret : 0;
}

/* Sets each signal of SET (the kernel's bits) to HANDLER; SIGKILL and SIGSTOP
 * cannot change and are skipped.  0, or the first error. */
static int set_handlers(uint64_t set, void *handler)
{
	struct fl_ksigaction sa = { .handler = handler };
	int ret;

	for (int sig = 1; sig < 65; sig++)
		if ((set >> (sig - 1)) & 1 && sig != SIGKILL && sig != SIGSTOP &&
		    (ret = fl_sys_sigaction(sig, &sa, NULL)) < 0)
			return ret;
	return 0;
}

/* posix_spawn's close as glibc does it: a fd that is not open is no error,
 * unless it is out of the range RLIMIT_NOFILE allows (POSIX wants EBADF for
 * those; glibc checks the limit only once the close has failed). */
static int close_spawn(struct fl_job *job, int fd)
{
	struct { uint64_t cur, max; } nofile;
	int ret = fd == job->report_fd || fd == job->exec_fd ? -EBADF : fl_sys_close(fd);

	if (ret == 0 || fl_sys4(__NR_prlimit64, 0, RLIMIT_NOFILE, NULL, &nofile) < 0)
		return 0;
	return (uint64_t)fd >= nofile.cur ? ret : 0;
}

static int run_action(struct fl_job *job, const struct fl_action *a, uint64_t *mask)
{
	int ret;

	switch (a->op) {
	case FL_OP_DUP2:
		if (a->fd2 == job->report_fd || a->fd2 == job->exec_fd)
			return -EBADF;	/* the caller never had that fd */
		if (a->fd == a->fd2)	/* dup2 would do nothing; POSIX says the flag goes */
			return fl_sys_fcntl(a->fd, F_SETFD, 0);
		if ((ret = keep_clear(job, a->fd)) < 0)
			return ret;
		ret = fl_sys_dup3(a->fd2, a->fd, 0);
		return ret < 0 ? ret : 0;
	case FL_OP_CLOSE:
		if (a->fd == job->report_fd || a->fd == job->exec_fd)
			return -EBADF;
		return fl_sys_close(a->fd);
	case FL_OP_OPEN:
		return do_open(job, a);
	case FL_OP_CHDIR:
		return (int)fl_sys1(__NR_chdir, a->data);
	case FL_OP_FCHDIR:
		return (int)fl_sys1(__NR_fchdir, a->fd);
	case FL_OP_CLOSEFROM:
		return close_from(job, a->fd);
	case FL_OP_UMASK:
		fl_sys1(__NR_umask, a->arg);
		return 0;
	case FL_OP_SETSID:
		ret = (int)fl_sys0(__NR_setsid);
		return ret < 0 ? ret : 0;
	case FL_OP_SETPGID:
		return (int)fl_sys2(__NR_setpgid, 0, a->arg);
	case FL_OP_TCSETPGRP: {
		int pgrp = (int)fl_sys1(__NR_getpgid, 0);

		/* SIGTTOU is blocked here, so a background group may take the terminal. */
		return (int)fl_sys3(__NR_ioctl, a->fd, TIOCSPGRP, &pgrp);
	}
	case FL_OP_SIGMASK:
		*mask = to_kmask(a->data);	/* applied just before exec */
		return 0;
	case FL_OP_SIGDEFAULT:
		return set_handlers(to_kmask(a->data), SIG_DFL);
	case FL_OP_SIGIGNORE:
		set_handlers((uint64_t)a->arg, SIG_IGN);	/* as glibc: unchecked */
		return 0;
	case FL_OP_CLOSE_SPAWN:
		return close_spawn(job, a->fd);
	case FL_OP_SCHED:
		if (a->arg < 0)
			return (int)fl_sys2(__NR_sched_setparam, 0, a->data);
		return (int)fl_sys3(__NR_sched_setscheduler, 0, a->arg, a->data);
	case FL_OP_RESETIDS:
		/* glibc's order, uid first; setres[ug]id change this process only,
		 * where libc's seteuid would signal the parent's threads. */
		ret = (int)fl_sys3(__NR_setresuid, -1, fl_sys0(__NR_getuid), -1);
		return ret < 0 ? ret : (int)fl_sys3(__NR_setresgid, -1, fl_sys0(__NR_getgid), -1);
	case FL_OP_RLIMIT:
		return (int)fl_sys4(__NR_prlimit64, 0, a->arg, a->data, NULL);
	case FL_OP_PRIORITY:
		return (int)fl_sys3(__NR_setpriority, PRIO_PROCESS, 0, a->arg);
	case FL_OP_AFFINITY:
		return (int)fl_sys3(__NR_sched_setaffinity, 0, a->size, a->data);
	case FL_OP_SETGROUPS:
		return (int)fl_sys2(__NR_setgroups, a->arg, a->data);
	case FL_OP_SETGID:
		return (int)fl_sys1(__NR_setgid, a->arg);
	case FL_OP_SETUID:
		return (int)fl_sys1(__NR_setuid, a->arg);
	case FL_OP_PDEATHSIG:
		ret = (int)fl_sys2(__NR_prctl, PR_SET_PDEATHSIG, a->arg);
		/* The parent may have died before the prctl: then no signal will
		 * come, so send it now (the child was reparented already). */
		if (ret == 0 && fl_sys_getppid() != job->parent_pid)
			fl_sys_kill(fl_sys_getpid(), (int)a->arg);
		return ret;
	case FL_OP_NO_NEW_PRIVS:
		return (int)fl_sys5(__NR_prctl, PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
	case FL_OP_UNSHARE:
		return (int)fl_sys1(__NR_unshare, a->arg);
	case FL_OP_CGROUP:
		if (job->flags & FL_JOB_IN_CGROUP)
			return 0;	/* clone3 did it */
		return do_cgroup(a->fd);
	}
	return -EINVAL;
}

/* execve, and for ENOEXEC the /bin/sh retry when the template asks for it. */
static int try_exec(struct fl_job *job, const char *path)
{
	int ret = fl_sys_execve(path, job->argv, job->envp);

	if (ret == -ENOEXEC && job->sh_argv) {
		bool given = job->spec->flags & FL_SPEC_SH_AS_GIVEN;
		int sh;

		job->sh_argv[1] = given && job->spec->file ? job->spec->file : (char *)path;
		sh = fl_sys_execve("/bin/sh", job->sh_argv, job->envp);
		if (given)
			ret = sh;
	}
	return ret;
}

/* The errors for which execvp goes on with the next PATH entry. */
static int search_skips(int err)
{
	return err == -ENOENT || err == -ENOTDIR || err == -ESTALE || err == -ENODEV ||
	       err == -ETIMEDOUT || err == -EACCES;
}

/* The exec; it returns only on failure.  For a PATH search the template found
 * the file already; if its exec fails in a way execvp skips, go on with the
 * later PATH entries, keeping execvp's rule that EACCES wins over ENOENT. */
static int exec_program(struct fl_job *job)
{
	const struct fl_spec *spec = job->spec;
	const char *next;
	char candidate[PATH_MAX];
	size_t flen;
	int ret, eacces;

	if (job->exec_fd >= 0)
		return fl_sys_execveat(job->exec_fd, "", job->argv, job->envp, AT_EMPTY_PATH);
	ret = try_exec(job, spec->path);
	if (!spec->search)
		return ret;
	flen = str_len(spec->file);
	eacces = spec->search_eacces;
	next = spec->search_next == FL_SEARCH_END ? NULL : spec->search + spec->search_next;
	for (;;) {
		const char *dir = next;
		size_t dlen = 0;

		if (ret == -EACCES)
			eacces = 1;
		else if (!search_skips(ret))
			return ret;
		if (!dir)	/* as execvp: EACCES, else the last entry's error */
			return eacces ? -EACCES : ret;
		while (dir[dlen] && dir[dlen] != ':')
			dlen++;
		next = dir[dlen] ? dir + dlen + 1 : NULL;
		ret = -ENOENT;	/* an entry too long to join is skipped */
		if (dlen + 1 + flen >= sizeof(candidate))
			continue;
		if (dlen) {	/* an empty entry is the current directory */
			copy_bytes(candidate, dir, dlen);
			candidate[dlen++] = '/';
		}
		copy_bytes(candidate + dlen, spec->file, flen + 1);
		ret = try_exec(job, candidate);
	}
}

static __attribute__((noreturn)) void fail(struct fl_job *job, int err, int step)
{
	job->slot.error = -err;
	job->slot.step = step;
	if (job->report_fd >= 0) {
		struct fl_slot report = { -err, step };

		fl_sys_write(job->report_fd, &report, sizeof(report));
	}
	fl_sys_exit(127);
}

int fl_child_main(void *arg)
{
	struct fl_job *job = arg;
	uint64_t mask = job->mask;
	int base = 0, ret;

	if (!(job->flags & FL_JOB_SIGHAND_CLEARED))
		reset_handlers();

	for (int list = 0; list < 2; list++) {
		const struct fl_actions *acts = job->acts[list];

		if (!acts)
			continue;
		for (int k = 0; k < acts->n; k++) {
			int i = acts->order[k];
			const struct fl_action *a = &acts->v[i];

			ret = run_action(job, a, &mask);
			if (ret < 0 && !(a->flags & FL_HARD))
				fail(job, ret, base + i);
		}
		base += acts->n;
	}
	/* The zygote's user callback, or the primed image's entry into main
	 * (which never returns): in a forked child of the zygote or the image
	 * (zygote-server.c); never set by other engines. */
	if (job->hook) {
		job->mask = mask;	/* a primed child's hook sets it itself */
		if ((ret = job->hook(job)) < 0)
			fail(job, ret, FL_STEP_CALLBACK);
	}

	if (!(job->flags & FL_JOB_MASK_KEPT))
		fl_sys_sigprocmask(SIG_SETMASK, (const sigset_t *)&mask, NULL);
	ret = exec_program(job);
	fail(job, ret, FL_STEP_EXEC);
}
