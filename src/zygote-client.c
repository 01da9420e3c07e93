// SPDX-License-Identifier: MIT
/*
 * The zygote engine: a small single-threaded helper process, forked from the
 * caller early (fl_zygote_start, or the first spawn), makes the children.  A
 * spawn is a request over a SOCK_SEQPACKET socketpair (zygote.h); the fds the
 * child needs travel with it (SCM_RIGHTS), and the child's pidfd comes back
 * the same way.  This is the caller's side; zygote-server.c the zygote's.
 *
 * Why: the caller's size never matters (the zygote's address space is the
 * caller's as it was at the start), and a user callback may run in the child
 * with fork semantics (fl_spawn_fn), which no CLONE_VM engine can offer.
 *
 * The zygote makes each child with clone3(CLONE_PARENT): the child is the
 * caller's own child, not the zygote's, so it is waited for, signalled and
 * reaped through its pidfd like any other (no exit-status relay is needed),
 * its parent pid is the caller's, and its exit sends the caller SIGCHLD.
 * (So the zygote itself must be a SIGCHLD child of the caller: CLONE_PARENT
 * gives the child its maker's exit signal.  A waitpid(-1) of the caller
 * therefore sees the zygote, and waits while it lives.)
 *
 * A child must look, at exec, like one the clone engine makes at the moment
 * of the spawn, but the zygote froze the caller's state at its start.  So
 * each spawn sends the caller's state of that moment, taken by a snapshot: a
 * clone of the spawning thread without CLONE_FILES or CLONE_FS, made on the
 * thread's kept stack (CLONE_VM | CLONE_VFORK, as the clone engine's child).
 * The kernel copies the fd table and the fs at that clone at one instant, so
 * what the snapshot sends (every fd without close-on-exec, the ones the
 * steps name, the cwd, the umask) is the caller's table of one instant,
 * whatever other threads open or close meanwhile; it captures the rest of
 * the state (state.h) as a fork of the thread has it.  Being a process of
 * its own, it can make room for the fds it needs (its own RLIMIT_NOFILE), so
 * a caller with a full fd table can still spawn.
 *
 * What stays the zygote's (the caller's at the start): process group and
 * session, namespaces, cgroup, root directory, oom_score_adj.  Seccomp
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
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "internal.h"
#include "zygote.h"

/* ---- the zygote's state, in the caller ------------------------------------ */

static pthread_mutex_t zlock = PTHREAD_MUTEX_INITIALIZER;
static int zsock = -1, zpidfd = -1;
static pid_t zpid = -1;
static pthread_once_t zatfork_once = PTHREAD_ONCE_INIT;

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
		fl_zygote_main(sv[1], caller, main_thread, NULL);
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
	zpidfd = fl_pidfd_for(NULL, pid);
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
	if (b->err)
		return;
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

		if (b->err)
			return;
		za = (struct zact *)(b->p + off) + i;
		*za = (struct zact){ a->op, a->flags, a->fd, a->fd2, a->arg, a->arg2, a->size, data, (uint32_t)len };
	}
	off = put(b, acts->order, (size_t)acts->n * sizeof(int));
	if (!b->err)
		((struct zreq *)b->p)->off_order[list] = off;
}

/* Whether an action names FD as an fd the caller has (and the child needs).
 * Run by the snapshot: child side. */
static FL_CHILD_SIDE bool names_fd(const struct fl_job *job, int fd)
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

/* Builds the request for JOB into B: all but the state, which the
 * snapshot fills in.  Room for GROUPS_CAP supplementary groups. */
static int build_request(const struct fl_job *job, struct buf *b, uint32_t groups_cap)
{
	const struct fl_spec *spec = job->spec;
	struct zreq *q;
	uint32_t off, n;

	b->len = 0;
	b->err = 0;
	put(b, NULL, sizeof(struct zreq));
	if (b->err)
		return b->err;
	q = (struct zreq *)b->p;
	q->magic = ZMAGIC;
	q->want_pidfd = fl_job_pidfd_at_clone(job);
	q->spec_flags = spec->flags;
	q->parent_pid = job->parent_pid;
	q->cgroup_step = job->cgroup_step;
	q->exec_fd = job->exec_fd;
	q->search_next = spec->search_next;
	q->search_eacces = spec->search_eacces;
	q->sh = job->sh_argv != NULL;
	q->groups_cap = groups_cap;

	off = put(b, NULL, groups_cap * sizeof(gid_t));
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
	if (job->fn) {
		off = put(b, job->fn_data, job->fn_len);
		q = (struct zreq *)b->p;
		q->has_fn = 1;
		q->fn = (uintptr_t)job->fn;
		q->off_fn_data = off;
		q->fn_len = (uint32_t)job->fn_len;
	}
	if (b->err)
		return b->err;
	if (b->len > MAX_REQUEST)
		return -E2BIG;
	((struct zreq *)b->p)->size = (uint32_t)b->len;
	return 0;
}

/* ---- the snapshot: a clone of the spawning thread sends the request ------------ */

struct snap {
	const struct fl_job *job;
	struct buf *b;
	int sock;
	int error;		/* the snapshot's, or 0 */
};

/* Child side, all of it: the snapshot runs on the caller's memory between
 * clone and its exit (child.c's rules). */

/* Sends the fd table part in PART (N entries) with its FDS. */
static FL_CHILD_SIDE int send_part(int sock, int32_t *part, uint32_t n, const int *fds, int nfds, bool last)
{
	struct ztable *t = (struct ztable *)part;

	t->magic = ZTABLE;
	t->n = n;
	t->last = last;
	return fl_zmsg_send(sock, part, sizeof(*t) + n * 2 * sizeof(int32_t), fds, nfds);
}

/* The next open fd at or after *POS: from the /proc listing DIR if there is
 * one, else by asking each number up to LIMIT.  -1 at the end. */
struct fd_walk {
	int dir;
	char buf[1024];
	long len, off;
	int next, limit;
};

static FL_CHILD_SIDE int next_fd(struct fd_walk *w)
{
	if (w->dir < 0) {
		while (w->next < w->limit)
			if (fl_sys_fcntl(w->next++, F_GETFD, 0) >= 0)
				return w->next - 1;
		return -1;
	}
	for (;;) {
		if (w->off >= w->len) {
			w->len = fl_sys3(__NR_getdents64, w->dir, w->buf, sizeof(w->buf));
			w->off = 0;
			if (w->len <= 0)
				return -1;
		}
		{
			/* struct linux_dirent64: ino 8, off 8, reclen 2, type 1, name */
			const char *d = w->buf + w->off, *name = d + 19;
			unsigned short reclen = (unsigned short)((unsigned char)d[16] | (unsigned char)d[17] << 8);
			int fd = 0;

			w->off += reclen;
			if (*name < '0' || *name > '9')
				continue;	/* . and .. */
			for (; *name; name++)
				fd = fd * 10 + (*name - '0');
			if (fd != w->dir)
				return fd;
		}
	}
}

static FL_CHILD_SIDE int snapshot_table(const struct snap *sn, int cwd, int skip)
{
	const struct fl_job *job = sn->job;
	int32_t part[3 + 2 * FDS_PER_MSG];
	int fds[FDS_PER_MSG + 1], nfds = 0, high = job->acts[0]->max_fd, fd, ret;
	uint32_t n = 0;
	struct fd_walk w = { .dir = -1 };
	struct rlimit nofile;

	if (job->acts[1] && job->acts[1]->max_fd > high)
		high = job->acts[1]->max_fd;
	fds[nfds++] = cwd;
	w.dir = fl_sys_openat(AT_FDCWD, "/proc/self/fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
	if (w.dir < 0) {
		/* No /proc, or not one fd free even after making room: ask
		 * every number the table can hold. */
		if (fl_sys4(__NR_prlimit64, 0, RLIMIT_NOFILE, NULL, &nofile) < 0)
			return w.dir;
		w.limit = nofile.rlim_cur > MAX_TABLE ? (int)MAX_TABLE : (int)nofile.rlim_cur;
	}
	while ((fd = next_fd(&w)) >= 0) {
		int flags, kind;

		if (fd == cwd || fd == skip)
			continue;
		flags = fl_sys_fcntl(fd, F_GETFD, 0);
		if (flags < 0)
			continue;
		if (!(flags & FD_CLOEXEC))
			kind = FD_KEEP;
		else if (fd == job->exec_fd || names_fd(job, fd))
			kind = FD_CLOEXEC_REAL;
		else if (fd <= high)
			kind = FD_PLACEHOLDER;
		else
			continue;
		part[3 + 2 * n] = fd;
		part[3 + 2 * n + 1] = kind;
		n++;
		if (kind != FD_PLACEHOLDER)
			fds[nfds++] = fd;
		if (n == FDS_PER_MSG || nfds == FDS_PER_MSG + 1) {
			if ((ret = send_part(sn->sock, part, n, fds, nfds, false)) < 0)
				goto out;
			n = 0;
			nfds = 0;
		}
	}
	ret = send_part(sn->sock, part, n, fds, nfds, true);
out:
	if (w.dir >= 0)
		fl_sys_close(w.dir);
	return ret;
}

static FL_CHILD_SIDE int snapshot_main(void *arg)
{
	struct snap *sn = arg;
	struct buf *b = sn->b;
	struct zreq *q = (struct zreq *)b->p;
	struct rlimit nofile, room;
	int cwd, memfd = -1, ret;

	/* Room for its own fds (the listing, the cwd, a memfd), in this
	 * process only; the caller's limit is what is sent. */
	if ((ret = (int)fl_sys4(__NR_prlimit64, 0, RLIMIT_NOFILE, NULL, &nofile)) < 0)
		goto out;
	room = nofile;
	room.rlim_cur = room.rlim_max;
	if (room.rlim_cur != nofile.rlim_cur)
		fl_sys4(__NR_prlimit64, 0, RLIMIT_NOFILE, &room, NULL);
	ret = fl_state_capture(&q->state, (gid_t *)(b->p + q->off_groups), q->groups_cap);
	if (ret < 0)
		goto out;
	q->state.limits[RLIMIT_NOFILE] = nofile;
	if (q->state.ngroups > q->groups_cap) {
		ret = -ENOSPC;	/* the caller makes room and asks again */
		goto out;
	}
	q->umask = (uint32_t)fl_sys1(__NR_umask, 0);
	fl_sys1(__NR_umask, q->umask);
	cwd = fl_sys_openat(AT_FDCWD, ".", O_PATH | O_DIRECTORY | O_CLOEXEC, 0);
	if (cwd < 0) {
		ret = cwd;
		goto out;
	}
	if (b->len <= INLINE_MAX) {
		ret = fl_zmsg_send(sn->sock, b->p, b->len, NULL, 0);
	} else {
		/* Too big for one datagram: the request goes in a memfd, sent
		 * with its header alone. */
		size_t done = 0;

		q->in_memfd = 1;
		memfd = (int)fl_sys2(__NR_memfd_create, "forkless-zygote", MFD_CLOEXEC);
		ret = memfd;
		while (memfd >= 0 && done < b->len) {
			long n = fl_sys_write(memfd, b->p + done, b->len - done);

			if (n <= 0) {
				ret = n < 0 ? (int)n : -EIO;
				break;
			}
			done += (size_t)n;
		}
		if (memfd >= 0 && done == b->len)
			ret = fl_zmsg_send(sn->sock, q, sizeof(*q), &memfd, 1);
	}
	if (ret >= 0)
		ret = snapshot_table(sn, cwd, memfd);
out:
	sn->error = ret < 0 ? ret : 0;
	return 0;
}

/* Sends JOB's request (built in B) on SOCK through a snapshot and reads the
 * reply. */
static int exchange(struct fl_job *job, int sock, struct buf *b, struct zreply *rep, int *pidfd)
{
	struct snap sn = { job, b, sock, 0 };
	struct fl_saved saved;
	char *stack = fl_stack_of_thread();
	siginfo_t si;
	int got;
	long pid, n;

	if (!stack)
		return -ENOMEM;
	/* The snapshot runs on our memory with no handler of ours allowed:
	 * every signal blocked around it, the mask of the moment sent. */
	fl_signals_block(job, &saved);
	((struct zreq *)b->p)->mask = job->mask;
#ifdef FL_HAVE_CLONE3_ASM
	{
		struct fl_clone_args ca = {
			.flags = CLONE_VM | CLONE_VFORK,
			/* No exit signal: a waitpid(-1) of the caller never sees
			 * it, and it is reaped here. */
			.exit_signal = 0,
			.stack = (uintptr_t)stack,
			.stack_size = FL_STACK_SIZE + FL_STACK_GUARD,
		};

		pid = fl_has(FL_FEAT_CLONE3) ? fl_clone3(&ca, snapshot_main, &sn) : -ENOSYS;
	}
	if (pid == -ENOSYS)
#endif
	{
		pid = clone(snapshot_main, stack + FL_STACK_SIZE + FL_STACK_GUARD, CLONE_VM | CLONE_VFORK, &sn);
		if (pid < 0)
			pid = -errno;
	}
	fl_signals_restore(&saved);
	if (pid < 0)
		return (int)pid;
	while (waitid(P_PID, (id_t)pid, &si, WEXITED | __WALL) < 0 && errno == EINTR)
		;
	if (sn.error)
		return sn.error == -ENOTCONN ? -EPIPE : sn.error;
	n = fl_zmsg_recv(sock, rep, sizeof(*rep), pidfd, 1, &got);
	if (!got)
		*pidfd = -1;
	if (n == 0)
		return -ECONNRESET;
	if (n == -EMFILE)
		/* No fd was free for the pidfd: the child is handled by its pid,
		 * safe while it is ours and not reaped (fl_child_wait). */
		n = sizeof(*rep);
	if (n < 0)
		return (int)n;
	return n == sizeof(*rep) ? 0 : -EPROTO;
}

/* Each thread's request buffer, kept from spawn to spawn, so a spawn
 * allocates nothing once the thread has made one. */
struct ztls {
	struct buf b;
	uint32_t groups_cap;
};

static pthread_key_t tls_key;
static pthread_once_t tls_once = PTHREAD_ONCE_INIT;
static __thread struct ztls *tls;

static void tls_free(void *arg)
{
	struct ztls *t = arg;

	free(t->b.p);
	free(t);
}

static void tls_make_key(void)
{
	pthread_key_create(&tls_key, tls_free);
}

int fl_zreq_send(struct fl_job *job, int sock, struct zreply *rep, int *pidfd)
{
	int ret;

	if (!tls) {
		pthread_once(&tls_once, tls_make_key);
		tls = calloc(1, sizeof(*tls));
		if (!tls)
			return -ENOMEM;
		tls->groups_cap = 64;
		pthread_setspecific(tls_key, tls);
	}
	for (;;) {
		ret = build_request(job, &tls->b, tls->groups_cap);
		if (ret == 0)
			ret = exchange(job, sock, &tls->b, rep, pidfd);
		if (ret != -ENOSPC)
			return ret;
		/* More groups than room: the snapshot said how many. */
		tls->groups_cap = ((struct zreq *)tls->b.p)->state.ngroups;
	}
}

int fl_zreq_outcome(struct fl_job *job, fl_child *child, const struct zreply *rep, int pidfd)
{
	if (rep->error) {
		job->slot.error = rep->error == ZRESTART ? EAGAIN : rep->error;
		job->slot.step = rep->step;
		if (rep->pid > 0)
			fl_reap_failed(rep->pid, pidfd);
		else if (pidfd >= 0)
			close(pidfd);
		return -job->slot.error;
	}
	child->pid = rep->pid;
	child->pidfd = pidfd;
	return 0;
}

int fl_engine_zygote(struct fl_job *job, fl_child *child)
{
	struct zreply rep;
	int pidfd = -1, ret, cancel;
	bool restarted = false, retried = false;

	/* A cancellation inside the exchange would leave the protocol half
	 * way: not here. */
	pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &cancel);
	pthread_mutex_lock(&zlock);
	for (;;) {
		ret = start_locked();
		if (ret < 0)
			break;
		ret = fl_zreq_send(job, zsock, &rep, &pidfd);
		if ((ret == -EPIPE || ret == -ECONNRESET) && !retried) {
			/* It died (killed, crashed): reap it, start another, once. */
			stop_locked();
			retried = true;
			continue;
		}
		if (ret == 0 && rep.error == ZRESTART && !restarted) {
			/* It cannot make this caller's child: one forked now can. */
			stop_locked();
			restarted = true;
			continue;
		}
		break;
	}
	pthread_mutex_unlock(&zlock);
	pthread_setcancelstate(cancel, NULL);
	if (ret < 0)
		return ret;
	return fl_zreq_outcome(job, child, &rep, pidfd);
}
