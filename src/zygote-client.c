// SPDX-License-Identifier: MIT
/*
 * The zygote engine: a small single-threaded helper process, forked from the
 * caller early (fl_zygote_start, or the first spawn), makes the children.  A
 * spawn is a request over a SOCK_SEQPACKET socketpair; the fds the child needs
 * travel with it (SCM_RIGHTS), and the child's pidfd comes back the same way.
 *
 * Why: the caller's size never matters (the zygote's address space is the
 * caller's as it was at the start), and a user callback may run in the child
 * with fork semantics (fl_spawn_fn), which no CLONE_VM engine can offer.
 *
 * The zygote makes each child with clone3(CLONE_PARENT): the child is the
 * caller's own child, not the zygote's, so it is waited for, signalled and
 * reaped through its pidfd like any other (no exit-status relay is needed),
 * its parent pid is the caller's, and its exit sends the caller SIGCHLD.
 * Without a callback the zygote's child shares the zygote's memory (CLONE_VM |
 * CLONE_VFORK), as the clone engine's does the caller's; with one it is a
 * fork of the zygote, and reports a failure down a pipe.
 *
 * A child must look, at exec, like one the clone engine makes at the moment
 * of the spawn, but the zygote froze the caller's state at its start.  So the
 * request carries the caller's current state, and the child takes it on
 * before the actions: its fd table (the caller's fds that survive exec and the
 * ones the actions name, at their numbers, with their close-on-exec flags),
 * cwd, umask, signal mask, ignored signals, rlimits, nice value, scheduling
 * policy, CPU affinity, I/O priority, personality, timer slack,
 * no_new_privs, uids, gids and groups, capabilities (the five sets),
 * environment.  What stays the zygote's (the caller's at the start):
 * process group and session, namespaces, cgroup, root directory,
 * oom_score_adj (a /proc file: two more opens a spawn).  Seccomp
 * filters (and a real-time thread's timer slack of 0) cannot be given: a
 * caller whose are not the zygote's gets a new zygote, forked from it at
 * that spawn.
 *
 * The zygote ends with the caller: EOF on its socket, and PR_SET_PDEATHSIG
 * (with a parent recheck) when the main thread started it;
 * one that died (EOF or EPIPE on the socket) is reaped and started again, and
 * the request retried once.  After fork() the child process does not use
 * the parent's zygote: the zygote's children would be the parent's.
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

/* ---- the zygote's state, in the caller ------------------------------------ */

static pthread_mutex_t zlock = PTHREAD_MUTEX_INITIALIZER;
static int zsock = -1, zpidfd = -1;
static pid_t zpid = -1;
static uint32_t zfilters;	/* the seccomp filters it was forked with */
static int64_t zslack;		/* and timer slack */
static pthread_once_t zatfork_once = PTHREAD_ONCE_INIT;
static __thread struct {
	int (*fn)(void *, size_t);
	const void *data;
	size_t len;
} pending_fn;

/* The forked child is not the zygote's caller: its spawns would make
 * children of the parent.  It forgets the zygote (closing is all it takes:
 * the parent keeps its own end).  No prepare handler taking zlock: the
 * zygote itself is forked with zlock held.  A fork while another thread
 * held it leaves it held in the child, hence the new lock. */
static void zafter_fork_child(void)
{
	if (zsock >= 0)
		close(zsock);
	if (zpidfd >= 0)
		close(zpidfd);
	zsock = zpidfd = -1;
	zpid = -1;
	pthread_mutex_init(&zlock, NULL);
}

static void zregister_atfork(void)
{
	pthread_atfork(NULL, NULL, zafter_fork_child);
}

/* ---- starting and stopping, in the caller --------------------------------- */

static void stop_locked(void)
{
	if (zsock >= 0)
		close(zsock);	/* EOF: the zygote exits */
	zsock = -1;
	if (zpidfd >= 0) {
		siginfo_t si;

		while (waitid(P_PIDFD, zpidfd, &si, WEXITED) < 0 && errno == EINTR)
			;
		close(zpidfd);
	} else if (zpid > 0) {
		while (waitpid(zpid, NULL, 0) < 0 && errno == EINTR)
			;
	}
	zpidfd = -1;
	zpid = -1;
}

static int start_locked(void)
{
	int sv[2], ret;
	pid_t caller, pid;
	uint64_t all = ~0ull;
	sigset_t old;
	bool main_thread;

	if (zsock >= 0)
		return 0;
	caller = getpid();
	main_thread = syscall(SYS_gettid) == caller;
	{
		struct status_info st;

		zfilters = fl_read_status(&st) == 0 ? st.filters : 0;
		zslack = prctl(PR_GET_TIMERSLACK);
	}
	pthread_once(&zatfork_once, zregister_atfork);
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
		return -errno;
	/* fork(), not a CLONE_VM clone: the zygote needs its own memory.  Its
	 * atfork handlers run, ours included (the zygote forgets this end).
	 * Every signal blocked across it: the zygote has the caller's
	 * handlers, and none may run there, not even before it blocks them
	 * itself for good. */
	fl_sys_sigprocmask(SIG_SETMASK, (const sigset_t *)&all, &old);
	pid = fork();
	if (pid == 0) {
		close(sv[0]);
		fl_zygote_main(sv[1], caller, main_thread);
	}
	ret = errno;
	fl_sys_sigprocmask(SIG_SETMASK, &old, NULL);
	close(sv[1]);
	if (pid < 0) {
		close(sv[0]);
		return -ret;
	}
	zsock = sv[0];
	zpid = pid;
	zpidfd = fl_pidfd_for(pid);
	return 0;
}

FL_API int fl_zygote_start(void)
{
	int ret;

	pthread_mutex_lock(&zlock);
	ret = start_locked();
	pthread_mutex_unlock(&zlock);
	return ret;
}

FL_API void fl_zygote_stop(void)
{
	pthread_mutex_lock(&zlock);
	stop_locked();
	pthread_mutex_unlock(&zlock);
}

FL_API pid_t fl_zygote_pid(void)
{
	pid_t pid;

	pthread_mutex_lock(&zlock);
	pid = zsock >= 0 ? zpid : -1;
	pthread_mutex_unlock(&zlock);
	return pid;
}

/* ---- the request, built in the caller ------------------------------------- */

struct buf {
	char *p;
	size_t len, cap;
	int err;
};

static uint32_t put(struct buf *b, const void *data, size_t len)
{
	size_t off = (b->len + 7) & ~(size_t)7;

	if (off + len > b->cap) {
		size_t cap = b->cap ? b->cap : 4096;
		char *p;

		while (cap < off + len)
			cap *= 2;
		p = realloc(b->p, cap);
		if (!p) {
			b->err = -ENOMEM;
			return 0;
		}
		b->p = p;
		b->cap = cap;
	}
	if (data)
		memcpy(b->p + off, data, len);
	else
		memset(b->p + off, 0, len);
	b->len = off + len;
	return (uint32_t)off;
}

static uint32_t put_str(struct buf *b, const char *s)
{
	return s ? put(b, s, strlen(s) + 1) : 0;
}

/* Strings of V one after another; the count in *N. */
static uint32_t put_vector(struct buf *b, char *const *v, uint32_t *n)
{
	size_t total = 0;
	uint32_t off;
	char *p;

	for (*n = 0; v[*n]; (*n)++)
		total += strlen(v[*n]) + 1;
	off = put(b, NULL, total);
	if (b->err)
		return 0;
	p = b->p + off;
	for (uint32_t i = 0; i < *n; i++) {
		size_t len = strlen(v[i]) + 1;

		memcpy(p, v[i], len);
		p += len;
	}
	return off;
}

/* The data bytes of an action: a path is a string, the rest has a size. */
static size_t action_data_len(const struct fl_action *a)
{
	if (!a->data)
		return 0;
	if (!a->size && (a->op == FL_OP_OPEN || a->op == FL_OP_CHDIR))
		return strlen(a->data) + 1;
	return a->size;
}

static void put_actions(struct buf *b, struct zreq *q, const struct fl_actions *acts, int list)
{
	struct zact *za;
	uint32_t off;

	if (!acts || !acts->n)
		return;
	off = put(b, NULL, (size_t)acts->n * sizeof(struct zact));
	q = (struct zreq *)b->p;	/* put may move the buffer */
	q->nacts[list] = (uint32_t)acts->n;
	q->off_acts[list] = off;
	q->max_fd[list] = acts->max_fd;
	q->cgroups[list] = acts->cgroups;
	q->ops[list] = acts->ops;
	for (int i = 0; i < acts->n; i++) {
		const struct fl_action *a = &acts->v[i];
		size_t len = action_data_len(a);
		uint32_t data = len ? put(b, a->data, len) : 0;

		za = (struct zact *)(b->p + off) + i;
		*za = (struct zact){ a->op, a->flags, a->fd, a->fd2, a->arg, a->arg2, a->size, data, (uint32_t)len };
	}
	off = put(b, acts->order, (size_t)acts->n * sizeof(int));
	((struct zreq *)b->p)->off_order[list] = off;
}

/* Whether an action names FD as an fd the caller has (and the child needs). */
static bool names_fd(const struct fl_job *job, int fd)
{
	for (int list = 0; list < 2; list++) {
		const struct fl_actions *acts = job->acts[list];

		for (int i = 0; acts && i < acts->n; i++) {
			const struct fl_action *a = &acts->v[i];

			switch (a->op) {
			case FL_OP_DUP2:
				if (a->fd2 == fd || a->fd == fd)
					return true;
				break;
			case FL_OP_CLOSEFROM: case FL_OP_UMASK: case FL_OP_SETSID: case FL_OP_SETPGID:
			case FL_OP_SIGMASK: case FL_OP_SIGDEFAULT: case FL_OP_RLIMIT: case FL_OP_PRIORITY:
			case FL_OP_AFFINITY: case FL_OP_SETGROUPS: case FL_OP_SETGID: case FL_OP_SETUID:
			case FL_OP_PDEATHSIG: case FL_OP_NO_NEW_PRIVS: case FL_OP_UNSHARE: case FL_OP_CHDIR:
				break;
			default:	/* close, open, fchdir, tcsetpgrp, cgroup, and steps to come */
				if (a->fd == fd)
					return true;
			}
		}
	}
	return false;
}

/* The fds to send: grown as needed, kept per thread like the request
 * buffer, so a spawn allocates nothing once the thread has made one. */
struct fdvec {
	int *v;
	int n, cap;
};

static int fdvec_add(struct fdvec *f, int fd)
{
	if (f->n == f->cap) {
		int cap = f->cap ? 2 * f->cap : 64;
		int *v = realloc(f->v, (size_t)cap * sizeof(int));

		if (!v)
			return -ENOMEM;
		f->v = v;
		f->cap = cap;
	}
	f->v[f->n++] = fd;
	return 0;
}

/*
 * The caller's fd table as the child needs it, appended to B as (number,
 * kind) pairs; the fds to send appended to FDS.  Sent: every fd without
 * close-on-exec (it survives the exec), every fd a step names, the
 * template's exec fd.  A placeholder for the other close-on-exec fds up to
 * the highest fd a step makes (see FD_PLACEHOLDER).  The library's own
 * transient fds (the listing's, the cwd's) are opened outside this scan.
 */
static int collect_fds(const struct fl_job *job, struct buf *b, struct fdvec *fds, uint32_t *ntable)
{
	char dbuf[4096];
	int dir = open("/proc/self/fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int high = job->acts[0]->max_fd;
	long n;

	if (job->acts[1] && job->acts[1]->max_fd > high)
		high = job->acts[1]->max_fd;
	if (dir < 0)
		return -errno;
	*ntable = 0;
	while ((n = fl_sys3(__NR_getdents64, dir, dbuf, sizeof(dbuf))) > 0) {
		for (long off = 0; off < n;) {
			struct dirent64 *d = (struct dirent64 *)(dbuf + off);
			int32_t entry[2];
			int fd, flags;
			char *end;

			off += d->d_reclen;
			fd = (int)strtol(d->d_name, &end, 10);
			if (*end || end == d->d_name || fd == dir)
				continue;
			flags = fcntl(fd, F_GETFD);
			if (flags < 0)
				continue;
			entry[0] = fd;
			if (!(flags & FD_CLOEXEC))
				entry[1] = FD_KEEP;
			else if (fd == job->exec_fd || names_fd(job, fd))
				entry[1] = FD_CLOEXEC_REAL;
			else if (fd <= high)
				entry[1] = FD_PLACEHOLDER;
			else
				continue;
			if (entry[1] != FD_PLACEHOLDER && fdvec_add(fds, fd) < 0) {
				close(dir);
				return -ENOMEM;
			}
			put(b, entry, sizeof(entry));
			(*ntable)++;
		}
	}
	close(dir);
	return n < 0 ? (int)n : b->err;
}

/* Builds the request for JOB: the data into B, the fds to send into FDS
 * (the cwd's first, opened here: *CWD, for the caller to close). */
static int build_request(const struct fl_job *job, struct buf *b, struct fdvec *fds, int *cwd)
{
	const struct fl_spec *spec = job->spec;
	struct status_info st;
	struct zreq *q;
	uint32_t off, n, ntable = 0;
	int ret;

	b->len = 0;
	b->err = 0;
	fds->n = 0;
	ret = fl_read_status(&st);
	if (ret < 0)
		return ret;
	put(b, NULL, sizeof(struct zreq));
	if (b->err)
		return b->err;
	q = (struct zreq *)b->p;
	q->magic = ZMAGIC;
	q->umask = st.umask;
	q->ignored = st.ignored;
	q->nnp = st.nnp;
	q->caps = st.caps;
	q->filters = st.filters;
	fl_read_misc(&q->ioprio, &q->persona, &q->slack);
	q->ruid = st.uid[0], q->euid = st.uid[1], q->suid = st.uid[2], q->fsuid = st.uid[3];
	q->rgid = st.gid[0], q->egid = st.gid[1], q->sgid = st.gid[2], q->fsgid = st.gid[3];
	fl_read_limits(q->limits, &q->nice, q->cpuset, &q->cpuset_len);
	if (fl_sys_sched_get(0, &q->sched) == 0) {
		/* The clone engine's child is a fork of this thread. */
		fl_sched_forked(&q->sched);
		q->nice = q->sched.nice;
	}
	q->spec_flags = spec->flags;
	q->parent_pid = job->parent_pid;
	q->cgroup_step = job->cgroup_step;
	q->exec_fd = job->exec_fd;
	fl_sys_sigprocmask(SIG_BLOCK, NULL, (sigset_t *)&q->mask);
	q->search_next = spec->search_next;
	q->search_eacces = spec->search_eacces;
	q->sh = job->sh_argv != NULL;
	q->ngroups = st.ngroups;

	off = put(b, st.groups, st.ngroups * sizeof(gid_t));
	((struct zreq *)b->p)->off_groups = off;
	off = put_str(b, spec->path);
	((struct zreq *)b->p)->off_path = off;
	off = put_str(b, spec->file);
	((struct zreq *)b->p)->off_file = off;
	off = put_str(b, spec->search);
	((struct zreq *)b->p)->off_search = off;
	off = put_vector(b, job->argv, &n);
	((struct zreq *)b->p)->off_argv = off, ((struct zreq *)b->p)->argc = n;
	off = put_vector(b, job->envp, &n);
	((struct zreq *)b->p)->off_envp = off, ((struct zreq *)b->p)->envc = n;
	put_actions(b, (struct zreq *)b->p, job->acts[0], 0);
	put_actions(b, (struct zreq *)b->p, job->acts[1], 1);
	if (pending_fn.fn) {
		off = put(b, pending_fn.data, pending_fn.len);
		q = (struct zreq *)b->p;
		q->has_fn = 1;
		q->fn = (uintptr_t)pending_fn.fn;
		q->off_fn_data = off;
		q->fn_len = (uint32_t)pending_fn.len;
	}

	/* The cwd first, then the table's real fds in table order. */
	if (fdvec_add(fds, -1) < 0)
		return -ENOMEM;
	off = put(b, NULL, 0);
	ret = collect_fds(job, b, fds, &ntable);
	if (ret < 0)
		return ret;
	/* Opened after the listing: the library's fd must not be in the table. */
	*cwd = open(".", O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (*cwd >= 0) {
		fds->v[0] = *cwd;
	} else {
		memmove(fds->v, fds->v + 1, (size_t)(--fds->n) * sizeof(int));
	}
	q = (struct zreq *)b->p;
	q->has_cwd = *cwd >= 0;
	q->off_table = off;
	q->ntable = ntable;
	q->nfds = (uint32_t)fds->n;
	q->size = (uint32_t)b->len;
	return b->err;
}

/* Sends the request and reads the reply.  -EPIPE or -ECONNRESET: the zygote
 * is gone. */
static int exchange(struct buf *b, int *fds, int nfds, struct zreply *rep, int *pidfd)
{
	struct zreq *q = (struct zreq *)b->p;
	int first = nfds < FDS_PER_MSG ? nfds : FDS_PER_MSG, memfd = -1, ret;
	int got;
	long n;

	ret = b->len <= INLINE_MAX ? fl_zmsg_send(zsock, b->p, b->len, fds, first) : -EMSGSIZE;
	if (ret == -EMSGSIZE) {
		/* Too big for one datagram: the request goes in a memfd, sent as
		 * the first fd, with the header alone in the message. */
		int *with = malloc((size_t)(nfds + 1) * sizeof(int));
		struct zreq head = *q;

		memfd = memfd_create("forkless-zygote", MFD_CLOEXEC);
		if (!with || memfd < 0 || write(memfd, b->p, b->len) != (ssize_t)b->len) {
			free(with);
			if (memfd >= 0)
				close(memfd);
			return -ENOMEM;
		}
		with[0] = memfd;
		memcpy(with + 1, fds, (size_t)nfds * sizeof(int));
		head.in_memfd = 1;
		head.nfds = (uint32_t)nfds + 1;
		nfds++;
		first = nfds < FDS_PER_MSG ? nfds : FDS_PER_MSG;
		ret = fl_zmsg_send(zsock, &head, sizeof(head), with, first);
		for (int sent = first; ret == 0 && sent < nfds; sent += FDS_PER_MSG) {
			uint32_t tag = ZMORE;
			int k = nfds - sent < FDS_PER_MSG ? nfds - sent : FDS_PER_MSG;

			ret = fl_zmsg_send(zsock, &tag, sizeof(tag), with + sent, k);
		}
		free(with);
		close(memfd);
	} else {
		for (int sent = first; ret == 0 && sent < nfds; sent += FDS_PER_MSG) {
			uint32_t tag = ZMORE;
			int k = nfds - sent < FDS_PER_MSG ? nfds - sent : FDS_PER_MSG;

			ret = fl_zmsg_send(zsock, &tag, sizeof(tag), fds + sent, k);
		}
	}
	if (ret < 0)
		return ret == -ENOTCONN ? -EPIPE : ret;
	n = fl_zmsg_recv(zsock, rep, sizeof(*rep), pidfd, 1, &got);
	if (n == 0)
		return -ECONNRESET;
	if (n < 0)
		return (int)n;
	if (!got)
		*pidfd = -1;
	return n == sizeof(*rep) ? 0 : -EPROTO;
}

/* Each thread's request buffer and fd list, kept from spawn to spawn. */
struct ztls {
	struct buf b;
	struct fdvec fds;
};

static pthread_key_t tls_key;
static pthread_once_t tls_once = PTHREAD_ONCE_INIT;
static __thread struct ztls *tls;

static void tls_free(void *arg)
{
	struct ztls *t = arg;

	free(t->b.p);
	free(t->fds.v);
	free(t);
}

static void tls_make_key(void)
{
	pthread_key_create(&tls_key, tls_free);
}

int fl_engine_zygote(struct fl_job *job, fl_child *child)
{
	struct zreply rep;
	int cwd = -1, pidfd = -1, ret, cancel;

	if (!tls) {
		pthread_once(&tls_once, tls_make_key);
		tls = calloc(1, sizeof(*tls));
		if (!tls)
			return -ENOMEM;
		pthread_setspecific(tls_key, tls);
	}
	/* A cancellation inside the exchange would leave the protocol half
	 * way: not here. */
	pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &cancel);
	ret = build_request(job, &tls->b, &tls->fds, &cwd);
	if (ret == 0) {
		const struct zreq *q = (const struct zreq *)tls->b.p;

		pthread_mutex_lock(&zlock);
		/* What no child can be given: seccomp filters, and a timer slack
		 * of 0 (a real-time thread's, kept by a fork with reset-on-fork:
		 * prctl takes 0 for "the default").  If the calling thread's are
		 * not the zygote's, a zygote forked from it now has them. */
		if (zsock >= 0 && (q->filters != zfilters || (q->slack == 0) != (zslack == 0)))
			stop_locked();
		for (int attempt = 0; attempt < 2; attempt++) {
			ret = start_locked();
			if (ret < 0)
				break;
			ret = exchange(&tls->b, tls->fds.v, tls->fds.n, &rep, &pidfd);
			if (ret != -EPIPE && ret != -ECONNRESET)
				break;
			/* It died (killed, crashed): reap it, start another, once. */
			stop_locked();
		}
		pthread_mutex_unlock(&zlock);
	}
	if (cwd >= 0)
		close(cwd);
	pthread_setcancelstate(cancel, NULL);
	if (ret < 0)
		return ret;
	if (rep.error) {
		job->slot.error = rep.error;
		job->slot.step = rep.step;
		if (rep.pid > 0)
			fl_reap_failed(rep.pid, pidfd);
		else if (pidfd >= 0)
			close(pidfd);
		return -rep.error;
	}
	child->pid = rep.pid;
	child->pidfd = pidfd >= 0 ? pidfd : fl_pidfd_for(rep.pid);
	return 0;
}

FL_API int fl_spawn_fn(const fl_spec *spec, const fl_spawn_args *args, int (*fn)(void *data, size_t len),
		       const void *data, size_t len, fl_child *child, fl_report *report)
{
	struct fl_spec copy;
	int ret;

	if (report)
		*report = (fl_report){ EINVAL, FL_STEP_SPAWN };
	if (!spec || !fn || (len && !data) || len > MAX_REQUEST / 2)
		return -EINVAL;
	/* The template as it is, on the zygote: a shallow copy, read only
	 * while the request is built. */
	copy = *spec;
	copy.engine = FL_ENGINE_ZYGOTE;
	pending_fn.fn = fn;
	pending_fn.data = data;
	pending_fn.len = len;
	ret = fl_spawn(&copy, args, child, report);
	pending_fn.fn = NULL;
	return ret;
}
