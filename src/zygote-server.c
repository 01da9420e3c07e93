// SPDX-License-Identifier: MIT
/*
 * The zygote's side: the process forked from the caller at fl_zygote_start
 * (or the first spawn), serving requests until the caller closes its end.
 * See zygote-client.c for the engine as a whole.
 */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <linux/prctl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "inflight.h"
#include "sys.h"

#include "zygote.h"

/* ---- what the zygote knows of itself (its state is the caller's at start) -- */

struct zself {
	struct rlimit limits[NLIMITS];
	int32_t nice;
	uint8_t cpuset[CPUSET_BYTES];
	int32_t cpuset_len;
	uint64_t ignored;
	uint32_t ruid, euid, suid, fsuid, rgid, egid, sgid, fsgid;
	uint32_t ngroups;
	gid_t groups[NGROUPS_MAX];
	bool nnp;
	struct fl_caps caps;
	struct fl_sched_attr sched;
	int32_t ioprio;
	uint32_t persona;
	int64_t slack;
};

/* ---- the zygote process --------------------------------------------------- */

static struct zself self;
static char *zstack;

static void zself_read(void)
{
	struct status_info st;

	fl_read_limits(self.limits, &self.nice, self.cpuset, &self.cpuset_len);
	if (fl_read_status(&st) == 0) {
		self.ignored = st.ignored;
		self.ruid = st.uid[0], self.euid = st.uid[1], self.suid = st.uid[2], self.fsuid = st.uid[3];
		self.rgid = st.gid[0], self.egid = st.gid[1], self.sgid = st.gid[2], self.fsgid = st.gid[3];
		self.ngroups = st.ngroups;
		memcpy(self.groups, st.groups, st.ngroups * sizeof(gid_t));
		self.nnp = st.nnp;
		self.caps = st.caps;
	}
	fl_sys_sched_get(0, &self.sched);
	fl_read_misc(&self.ioprio, &self.persona, &self.slack);
}

/* Everything a zygote child needs, laid out by the zygote from a request. */
struct zjob {
	struct fl_job job;
	struct fl_spec spec;
	struct fl_actions acts[2];
	const struct zreq *req;
	const char *base;		/* the request */
	int *fds;			/* received, in the zygote's numbering */
	int *moved;			/* the child's copies of them (the zygote's fds stay as they are) */
	int report_w;			/* callback mode: the report pipe's write end */
};

static FL_CHILD_SIDE int bytes_differ(const void *a, const void *b, size_t n)
{
	const unsigned char *x = a, *y = b;

	for (size_t i = 0; i < n; i++)
		if (x[i] != y[i])
			return 1;
	return 0;
}

/*
 * The zygote's child takes on the caller's state.  Child-side rules (see
 * child.c): raw syscalls, nothing written but our own job.  The fds: every
 * received one first goes above the highest target (so no target clobbers a
 * source), then everything below is closed, then each lands on its number
 * with its flag, then the rest above is closed but for the two the library
 * still needs (exec fd, report pipe), which are already above.
 */
static FL_CHILD_SIDE int take_state(struct zjob *z)
{
	const struct zreq *q = z->req;
	const int32_t *table = (const int32_t *)(z->base + q->off_table);
	int top = -1, filler = -1, next = q->has_cwd, ret;

	for (uint32_t i = 0; i < q->ntable; i++)
		if (table[2 * i] > top)
			top = table[2 * i];
	if (q->has_cwd && (ret = (int)fl_sys1(__NR_fchdir, z->fds[0])) < 0)
		return ret;
	for (uint32_t i = 0; i < q->nfds; i++) {
		int moved = fl_sys_fcntl(z->fds[i], F_DUPFD_CLOEXEC, top + 1);

		if (moved < 0)
			return moved;
		z->moved[i] = filler = moved;
	}
	if (z->report_w >= 0) {
		int moved = fl_sys_fcntl(z->report_w, F_DUPFD_CLOEXEC, top + 1);

		if (moved < 0)
			return moved;
		z->report_w = filler = moved;
	}
	if (top >= 0 && (ret = fl_sys_close_range(0, (unsigned)top, 0)) < 0)
		return ret;
	for (uint32_t i = 0; i < q->ntable; i++) {
		int kind = table[2 * i + 1];

		if (kind == FD_PLACEHOLDER) {
			if (filler < 0 && (filler = fl_sys_openat(AT_FDCWD, "/", O_PATH | O_CLOEXEC, 0)) < 0)
				return filler;
			ret = fl_sys_dup3(filler, table[2 * i], O_CLOEXEC);
		} else {
			ret = fl_sys_dup3(z->moved[next++], table[2 * i], kind == FD_CLOEXEC_REAL ? O_CLOEXEC : 0);
		}
		if (ret < 0)
			return ret;
	}
	z->job.exec_fd = q->exec_fd;
	z->job.report_fd = z->report_w;
	/* All that is left above the table: the moved copies, the zygote's
	 * own; the report pipe stays until exec. */
	if (z->report_w > top + 1)
		fl_sys_close_range((unsigned)top + 1, (unsigned)z->report_w - 1, 0);
	fl_sys_close_range((unsigned)(z->report_w > top ? z->report_w : top) + 1, ~0u, 0);

	fl_sys1(__NR_umask, q->umask);
	for (int r = 0; r < NLIMITS; r++)
		if (bytes_differ(&q->limits[r], &self.limits[r], sizeof(struct rlimit)) &&
		    (ret = (int)fl_sys4(__NR_prlimit64, 0, r, &q->limits[r], NULL)) < 0)
			return ret;
	if (q->nice != self.nice && (ret = (int)fl_sys3(__NR_setpriority, PRIO_PROCESS, 0, q->nice)) < 0)
		return ret;
	if (q->cpuset_len > 0 && (q->cpuset_len != self.cpuset_len ||
				  bytes_differ(q->cpuset, self.cpuset, (size_t)q->cpuset_len)) &&
	    (ret = (int)fl_sys3(__NR_sched_setaffinity, 0, q->cpuset_len, q->cpuset)) < 0)
		return ret;

	/* Dispositions: CLONE_CLEAR_SIGHAND made the handled ones default; the
	 * ignored ones are the zygote's, which were the caller's at the start. */
	for (int sig = 1; sig < 65; sig++) {
		uint64_t bit = 1ull << (sig - 1);
		struct fl_ksigaction sa = { .handler = (q->ignored & bit) ? SIG_IGN : SIG_DFL };

		if (sig == SIGKILL || sig == SIGSTOP || !((q->ignored ^ self.ignored) & bit))
			continue;
		fl_sys_sigaction(sig, &sa, NULL);
	}

	if (fl_sched_differ(&q->sched, &self.sched) && (ret = fl_sys_sched_set(&q->sched)) < 0)
		return ret;
	if (q->ioprio >= 0 && q->ioprio != self.ioprio &&
	    (ret = (int)fl_sys3(__NR_ioprio_set, 1, 0, q->ioprio)) < 0)
		return ret;
	if (q->persona != self.persona && (ret = (int)fl_sys1(__NR_personality, q->persona)) < 0)
		return ret;
	/* A slack of 0 (a real-time thread's) cannot be set: 0 means the default. */
	if (q->slack > 0 && q->slack != self.slack &&
	    (ret = (int)fl_sys2(__NR_prctl, PR_SET_TIMERSLACK, q->slack)) < 0)
		return ret;
	if (q->nnp && !self.nnp && (ret = (int)fl_sys2(__NR_prctl, PR_SET_NO_NEW_PRIVS, 1)) < 0)
		return ret;

	/* Credentials last: they can take away the right to do the rest.  The
	 * bounding set first, while CAP_SETPCAP is still there; the other
	 * capability sets once the ids are the caller's. */
	if ((ret = fl_caps_bounding(self.caps.bnd, q->caps.bnd)) < 0)
		return ret;
	if (q->ngroups != self.ngroups ||
	    bytes_differ(z->base + q->off_groups, self.groups, q->ngroups * sizeof(gid_t))) {
		ret = (int)fl_sys2(__NR_setgroups, q->ngroups, z->base + q->off_groups);
		if (ret < 0)
			return ret;
	}
	if ((q->rgid != self.rgid || q->egid != self.egid || q->sgid != self.sgid) &&
	    (ret = (int)fl_sys3(__NR_setresgid, q->rgid, q->egid, q->sgid)) < 0)
		return ret;
	if (q->fsgid != q->egid)
		fl_sys1(__NR_setfsgid, q->fsgid);
	if ((q->ruid != self.ruid || q->euid != self.euid || q->suid != self.suid) &&
	    (ret = (int)fl_sys3(__NR_setresuid, q->ruid, q->euid, q->suid)) < 0)
		return ret;
	if (q->fsuid != q->euid)
		fl_sys1(__NR_setfsuid, q->fsuid);
	return fl_caps_take(&q->caps, self.caps.amb);
}

static FL_CHILD_SIDE int zygote_child(void *arg)
{
	struct zjob *z = arg;
	int ret = take_state(z);

	if (ret < 0) {
		z->job.slot.error = -ret;
		z->job.slot.step = FL_STEP_SPAWN;
		if (z->job.report_fd >= 0) {
			struct fl_slot rep = { -ret, FL_STEP_SPAWN };

			fl_sys_write(z->job.report_fd, &rep, sizeof(rep));
		}
		fl_sys_exit(127);
	}
	return fl_child_main(&z->job);
}

/* fl_job.hook in callback mode: the user's function, in the forked child. */
static int run_callback(struct fl_job *job)
{
	struct zjob *z = job->hook_arg;
	int (*fn)(void *, size_t) = (int (*)(void *, size_t))(uintptr_t)z->req->fn;

	return fn((void *)(z->base + z->req->off_fn_data), z->req->fn_len);
}

/* Points DST at the request's action list LIST. */
static int build_actions(struct fl_actions *dst, const struct zreq *q, const char *base, int list)
{
	const struct zact *src = (const struct zact *)(base + q->off_acts[list]);

	fl_actions_init(dst);
	dst->n = dst->cap = (int)q->nacts[list];
	dst->max_fd = q->max_fd[list];
	dst->cgroups = q->cgroups[list];
	dst->ops = q->ops[list];
	dst->order = (int *)(base + q->off_order[list]);
	if (!dst->n)
		return 0;
	dst->v = calloc((size_t)dst->n, sizeof(*dst->v));
	if (!dst->v)
		return -ENOMEM;
	for (int i = 0; i < dst->n; i++) {
		struct fl_action *a = &dst->v[i];

		a->op = src[i].op;
		a->flags = src[i].flags;
		a->fd = src[i].fd;
		a->fd2 = src[i].fd2;
		a->arg = (long)src[i].arg;
		a->arg2 = (long)src[i].arg2;
		a->size = (size_t)src[i].size;
		a->data = src[i].data_len ? (void *)(base + src[i].data_off) : NULL;
	}
	return 0;
}

/* A vector of COUNT strings laid one after another at OFF. */
static char **build_vector(const char *base, uint32_t off, uint32_t count)
{
	char **v = malloc((count + 1) * sizeof(char *));
	const char *s = base + off;

	if (!v)
		return NULL;
	for (uint32_t i = 0; i < count; i++) {
		v[i] = (char *)s;
		s += strlen(s) + 1;
	}
	v[count] = NULL;
	return v;
}

/* Closes the N fds received: usually the lowest numbers, one run, one call. */
static void close_all(const int *fds, int n)
{
	int lo = n ? fds[0] : 0, hi = lo;

	for (int i = 1; i < n; i++) {
		lo = fds[i] < lo ? fds[i] : lo;
		hi = fds[i] > hi ? fds[i] : hi;
	}
	if (n && hi - lo + 1 == n) {
		fl_sys_close_range((unsigned)lo, (unsigned)hi, 0);
		return;
	}
	for (int i = 0; i < n; i++)
		close(fds[i]);
}

/* Makes the child a request asks for; fills the reply.  Returns the child's
 * pidfd in the zygote, or -1. */
static int zygote_spawn(char *base, int *fds, struct zreply *rep)
{
	const struct zreq *q = (const struct zreq *)base;
	struct zjob *z = calloc(1, sizeof(*z));
	char **argv = NULL, **envp = NULL, **sh_argv = NULL;
	int pidfd = -1, pipefd[2] = { -1, -1 }, ret = -ENOMEM;
	long pid;

	rep->pid = -1;
	rep->step = FL_STEP_SPAWN;
	if (!z)
		goto out;
	z->req = q;
	z->base = base;
	z->fds = fds;
	z->moved = calloc(q->nfds + 1, sizeof(int));
	if (!z->moved)
		goto out;
	z->report_w = -1;
	z->spec.path = q->off_path ? base + q->off_path : NULL;
	z->spec.file = q->off_file ? base + q->off_file : NULL;
	z->spec.search = q->off_search ? base + q->off_search : NULL;
	z->spec.search_next = (size_t)q->search_next;
	z->spec.search_eacces = q->search_eacces;
	z->spec.flags = q->spec_flags;
	z->spec.exec_fd = q->exec_fd;
	if (build_actions(&z->acts[0], q, base, 0) < 0 || build_actions(&z->acts[1], q, base, 1) < 0)
		goto out;
	argv = build_vector(base, q->off_argv, q->argc);
	envp = build_vector(base, q->off_envp, q->envc);
	if (!argv || !envp)
		goto out;
	if (q->sh) {
		uint32_t n = (q->argc ? q->argc : 1) + 2;

		sh_argv = calloc(n, sizeof(char *));
		if (!sh_argv)
			goto out;
		sh_argv[0] = (char *)"/bin/sh";
		for (uint32_t i = 1; i < q->argc; i++)
			sh_argv[i + 1] = argv[i];
	}
	z->job.spec = &z->spec;
	z->job.argv = argv;
	z->job.envp = envp;
	z->job.sh_argv = sh_argv;
	z->job.acts[0] = &z->acts[0];
	z->job.acts[1] = q->nacts[1] ? &z->acts[1] : NULL;
	z->job.exec_fd = -1;
	z->job.cgroup_fd = -1;
	z->job.cgroup_step = q->cgroup_step;
	z->job.report_fd = -1;
	z->job.parent_pid = q->parent_pid;
	z->job.flags = fl_has(FL_FEAT_CLEAR_SIGHAND) ? FL_JOB_SIGHAND_CLEARED : 0;
	z->job.mask = q->mask;
	z->job.slot.error = 0;
	z->job.slot.step = FL_STEP_SPAWN;
	if (q->has_fn) {
		/* Fork semantics: the child has its own copy of the zygote, so it
		 * reports down a pipe (closed by exec: EOF means exec'd). */
		if (pipe2(pipefd, O_CLOEXEC) < 0) {
			ret = -errno;
			goto out;
		}
		z->report_w = pipefd[1];
		z->job.hook = run_callback;
		z->job.hook_arg = z;
	}

	{
		struct fl_clone_args ca = {
			.flags = CLONE_PARENT | CLONE_VFORK | CLONE_PIDFD | (q->has_fn ? 0 : CLONE_VM) |
				 (fl_has(FL_FEAT_CLEAR_SIGHAND) ? CLONE_CLEAR_SIGHAND : 0),
			.pidfd = (uintptr_t)&pidfd,
			.stack = (uintptr_t)zstack,
			.stack_size = FL_STACK_SIZE + FL_STACK_GUARD,
		};

		pid = fl_clone3(&ca, zygote_child, z);
	}
	if (pipefd[1] >= 0)
		close(pipefd[1]);
	if (pid < 0) {
		ret = (int)pid;
		goto out;
	}
	rep->pid = (int32_t)pid;
	ret = 0;
	if (q->has_fn) {
		struct fl_slot slot;
		long n;

		do
			n = fl_sys_read(pipefd[0], &slot, sizeof(slot));
		while (n == -EINTR);
		if (n == sizeof(slot)) {
			ret = -slot.error;
			rep->step = slot.step;
		}
	} else if (z->job.slot.error) {
		ret = -z->job.slot.error;
		rep->step = z->job.slot.step;
	}
out:
	if (pipefd[0] >= 0)
		close(pipefd[0]);
	rep->error = -ret;
	if (!ret)
		rep->step = 0;
	if (z) {
		free(z->acts[0].v);
		free(z->acts[1].v);
		free(z->moved);
	}
	free(z);
	free(argv);
	free(envp);
	free(sh_argv);
	return pidfd;
}

/* Receives one message with its fds into BUF/FDS.  Returns its length, 0 at
 * EOF, or -errno. */
long fl_zmsg_recv(int sock, void *buf, size_t len, int *fds, int maxfds, int *nfds)
{
	char cbuf[CMSG_SPACE(FDS_PER_MSG * sizeof(int))];
	struct iovec iov = { buf, len };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf,
			     .msg_controllen = sizeof(cbuf) };
	long n;

	*nfds = 0;
	do
		n = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
		int k = (int)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));

		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		for (int i = 0; i < k; i++) {
			int fd;

			memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
			if (*nfds < maxfds)
				fds[(*nfds)++] = fd;
			else
				close(fd);
		}
	}
	if (mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC))
		return -EMSGSIZE;
	return n;
}

int fl_zmsg_send(int sock, const void *buf, size_t len, const int *fds, int nfds)
{
	char cbuf[CMSG_SPACE(FDS_PER_MSG * sizeof(int))];
	struct iovec iov = { (void *)buf, len };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	long n;

	if (nfds) {
		struct cmsghdr *c;

		memset(cbuf, 0, sizeof(cbuf));
		mh.msg_control = cbuf;
		mh.msg_controllen = CMSG_SPACE(nfds * sizeof(int));
		c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(nfds * sizeof(int));
		memcpy(CMSG_DATA(c), fds, nfds * sizeof(int));
	}
	do
		n = sendmsg(sock, &mh, MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	return n < 0 ? -errno : 0;
}

__attribute__((noreturn)) void fl_zygote_main(int sock, pid_t caller, bool main_thread)
{
	static char inbuf[INLINE_MAX + sizeof(struct zreq)];
	uint64_t all = ~0ull;

	/* Ends with the caller: at EOF on the socket (every copy of the
	 * caller's end closed, which its death does), and by a parent-death
	 * signal, with the recheck for a caller that died before the prctl.
	 * That signal fires when the starting *thread* exits: only when the
	 * main thread started it, or a worker thread's end would kill it. */
	if (main_thread)
		prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != caller)
		_exit(0);
	/* Named, for ps and for tools that look at a process's children. */
	prctl(PR_SET_NAME, "forkless-zygote");
	/* No handler of the caller's ever runs here; the children get their
	 * mask from the request. */
	fl_sys_sigprocmask(SIG_SETMASK, (const sigset_t *)&all, NULL);
	/* Hold none of the caller's fds (a pipe's reader waits for every
	 * writer to close): only the socket stays. */
	if (sock > 0)
		fl_sys_close_range(0, (unsigned)sock - 1, 0);
	fl_sys_close_range((unsigned)sock + 1, ~0u, 0);
	zself_read();
	zstack = fl_stack_map();
	if (!zstack)
		_exit(1);

	for (;;) {
		int *fds, nfds, got, pidfd;
		struct zreply rep = { 0, FL_STEP_SPAWN, -1 };
		struct zreq *q;
		char *base = inbuf;
		size_t mapped = 0;
		long n;

		fds = NULL;
		{
			int first[FDS_PER_MSG];

			n = fl_zmsg_recv(sock, inbuf, sizeof(inbuf), first, FDS_PER_MSG, &got);
			if (n == 0)
				_exit(0);	/* the caller closed its end */
			q = (struct zreq *)inbuf;
			if (n < (long)sizeof(uint32_t) * 3 || q->magic != ZMAGIC || q->nfds > (1u << 20)) {
				for (int i = 0; i < got; i++)
					close(first[i]);
				if (n < 0 && n != -EMSGSIZE)
					_exit(1);
				rep.error = EPROTO;
				fl_zmsg_send(sock, &rep, sizeof(rep), NULL, 0);
				continue;
			}
			fds = malloc((q->nfds + 1) * sizeof(int));
			if (!fds)
				_exit(1);
			memcpy(fds, first, got * sizeof(int));
		}
		nfds = got;
		/* The rest of the fds, FDS_PER_MSG a message. */
		while (nfds < (int)q->nfds) {
			uint32_t tag;

			n = fl_zmsg_recv(sock, &tag, sizeof(tag), fds + nfds, (int)q->nfds - nfds, &got);
			if (n <= 0)
				_exit(n == 0 ? 0 : 1);
			nfds += got;
		}
		if (q->in_memfd) {
			/* The request proper is in the memfd, the first fd. */
			struct stat st;

			if (nfds < 1 || fstat(fds[0], &st) < 0 || (uint64_t)st.st_size < sizeof(*q) ||
			    (uint64_t)st.st_size > MAX_REQUEST) {
				rep.error = EPROTO;
			} else {
				mapped = (size_t)st.st_size;
				base = mmap(NULL, mapped, PROT_READ | PROT_WRITE, MAP_PRIVATE, fds[0], 0);
				if (base == MAP_FAILED) {
					rep.error = ENOMEM;
					mapped = 0;
				}
			}
			close(fds[0]);
			memmove(fds, fds + 1, (size_t)(--nfds) * sizeof(int));
			q = (struct zreq *)base;
		}
		pidfd = -1;
		if (!rep.error)
			pidfd = zygote_spawn(base, fds, &rep);
		close_all(fds, nfds);
		free(fds);
		if (mapped)
			munmap(base, mapped);
		/* The caller reaps a failed child itself: it is its child. */
		fl_zmsg_send(sock, &rep, sizeof(rep), pidfd >= 0 ? &pidfd : NULL, pidfd >= 0);
		if (pidfd >= 0)
			close(pidfd);
	}
}
