// SPDX-License-Identifier: MIT
/*
 * The zygote's side: the process forked from the caller at fl_zygote_start
 * (or the first spawn), serving requests until the caller closes its end.
 * Single-threaded; its children share its memory (CLONE_VM | CLONE_VFORK)
 * but for the callback's, which are forks.  See zygote-client.c for the
 * engine as a whole and zygote.h for what travels.
 */
#include <errno.h>
#include <limits.h>
#include <linux/prctl.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"
#include "zygote.h"

/* ---- the messages, both sides ----------------------------------------------- */

long fl_zmsg_recv(int sock, void *buf, size_t len, int *fds, int maxfds, int *nfds)
{
	char cbuf[CMSG_SPACE((FDS_PER_MSG + 1) * sizeof(int))];
	struct iovec iov = { buf, len };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf,
			     .msg_controllen = sizeof(cbuf) };
	long n;

	*nfds = 0;
	do
		n = fl_sys3(__NR_recvmsg, sock, &mh, MSG_CMSG_CLOEXEC);
	while (n == -EINTR);
	if (n < 0)
		return n;
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
				fl_sys_close(fd);
		}
	}
	if (mh.msg_flags & MSG_TRUNC)
		return -EMSGSIZE;
	if (mh.msg_flags & MSG_CTRUNC)
		return -EMFILE;	/* the data is whole; fds were lost */
	return n;
}

/* Child side too (the snapshot sends): raw syscalls, no memcpy. */
FL_CHILD_SIDE int fl_zmsg_send(int sock, const void *buf, size_t len, const int *fds, int nfds)
{
	union {
		char buf[CMSG_SPACE((FDS_PER_MSG + 1) * sizeof(int))];
		struct cmsghdr align;
	} cbuf;
	struct iovec iov = { (void *)buf, len };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	long n;

	if (nfds) {
		struct cmsghdr *c = (struct cmsghdr *)cbuf.buf;
		int *to = (int *)CMSG_DATA(c);

		mh.msg_control = cbuf.buf;
		mh.msg_controllen = CMSG_SPACE(nfds * sizeof(int));
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(nfds * sizeof(int));
		for (int i = 0; i < nfds; i++)
			to[i] = fds[i];
	}
	do
		n = fl_sys3(__NR_sendmsg, sock, &mh, MSG_NOSIGNAL);
	while (n == -EINTR);
	return n < 0 ? (int)n : 0;
}

/* ---- what the zygote is: the caller's state at its start ---------------------- */

static struct fl_state self;
static gid_t *self_groups;
static uint32_t self_filters;
static char *zstack;
/* The primed image's entry into the program's main (fl_zygote_main). */
static int (*zenter)(struct fl_job *job);

static int self_read(void)
{
	uint32_t cap = 64;

	for (;;) {
		gid_t *g = realloc(self_groups, cap * sizeof(gid_t));
		int ret;

		if (!g)
			return -ENOMEM;
		self_groups = g;
		ret = fl_state_self(&self, g, cap);
		if (ret < 0)
			return ret;
		if (self.ngroups <= cap)
			break;
		cap = self.ngroups;
	}
	self_filters = fl_state_filters();
	return 0;
}

/* ---- a request, received ------------------------------------------------------ */


/* Whether [OFF, OFF + LEN) lies inside the request. */
static bool inside(const struct zin *in, uint64_t off, uint64_t len)
{
	return off <= in->len && len <= in->len - off;
}

/* Whether COUNT strings lie one after another from OFF inside it. */
static bool strings_inside(const struct zin *in, uint32_t off, uint32_t count)
{
	const char *end = in->base + in->len, *s = in->base + off;

	if (off >= in->len && count)
		return false;
	for (uint32_t i = 0; i < count; i++) {
		const char *nul = memchr(s, 0, (size_t)(end - s));

		if (!nul)
			return false;
		s = nul + 1;
	}
	return true;
}

/* The bytes of data the child reads for step A, past what its size says. */
static uint64_t data_needs(const struct zact *a)
{
	switch (a->op) {
	case FL_OP_SIGMASK: case FL_OP_SIGDEFAULT:
		return sizeof(uint64_t);	/* the kernel's mask */
	case FL_OP_SCHED:
		return sizeof(struct sched_param);
	case FL_OP_RLIMIT:
		return sizeof(struct rlimit);
	case FL_OP_SETGROUPS:
		return a->arg < 0 || a->arg > 65536 ? UINT64_MAX : (uint64_t)a->arg * sizeof(gid_t);
	default:
		return 0;
	}
}

/* A request is checked whole before anything is built from it: a lying
 * one (offsets, counts, steps out of range) makes no child. */
static bool request_valid(const struct zin *in)
{
	const struct zreq *q = (const struct zreq *)in->base;
	uint32_t strs[] = { q->off_path, q->off_file, q->off_search };

	if (in->len < sizeof(*q) || q->magic != ZMAGIC || q->size != in->len)
		return false;
	for (int i = 0; i < 3; i++)
		if (strs[i] && !strings_inside(in, strs[i], 1))
			return false;
	if (!strings_inside(in, q->off_argv, q->argc) || !strings_inside(in, q->off_envp, q->envc) ||
	    q->argc > MAX_REQUEST / 2 || q->envc > MAX_REQUEST / 2)
		return false;
	if (q->state.ngroups > q->groups_cap || q->groups_cap > 65536 ||
	    !inside(in, q->off_groups, (uint64_t)q->groups_cap * sizeof(gid_t)))
		return false;
	if (q->has_fn && !inside(in, q->off_fn_data, q->fn_len))
		return false;
	for (int list = 0; list < 2; list++) {
		const struct zact *a = (const struct zact *)(in->base + q->off_acts[list]);
		const int *order = (const int *)(in->base + q->off_order[list]);
		uint32_t n = q->nacts[list];

		if (!n)
			continue;
		if (n > MAX_REQUEST / sizeof(*a) || q->off_acts[list] % 8 || q->off_order[list] % 8 ||
		    !inside(in, q->off_acts[list], (uint64_t)n * sizeof(*a)) ||
		    !inside(in, q->off_order[list], (uint64_t)n * sizeof(int)))
			return false;
		for (uint32_t i = 0; i < n; i++) {
			if (a[i].op >= FL_OP_COUNT || order[i] < 0 || (uint32_t)order[i] >= n ||
			    !inside(in, a[i].data_off, a[i].data_len) || (a[i].data_len && a[i].size > a[i].data_len))
				return false;
			/* A path is a string inside its data; the fixed-size data
			 * the child reads is all there. */
			if ((a[i].op == FL_OP_OPEN || a[i].op == FL_OP_CHDIR) && !a[i].size &&
			    (!a[i].data_len || in->base[a[i].data_off + a[i].data_len - 1]))
				return false;
			if (a[i].data_len < data_needs(&a[i]))
				return false;
		}
	}
	return true;
}

/* ---- the child ------------------------------------------------------------------ */

/* Everything a zygote child needs, laid out by the zygote from a request. */
struct zjob {
	struct fl_job job;
	struct fl_spec spec;
	struct fl_actions acts[2];
	const struct zreq *req;
	const char *base;		/* the request */
	const struct zin *in;
	int *moved;			/* the child's copies of the received fds */
	int report_w;			/* callback mode: the report pipe's write end */
	struct fl_state have;		/* the zygote's state, as the child changes it */
	char **argv, **envp, **sh_argv;
};

/*
 * The zygote's child takes on the caller's fd table, cwd and umask of the
 * snapshot, then the rest of its state (child-state.c).  Child-side rules
 * (see child.c): raw syscalls, nothing written but our own job.  The fds:
 * every received one first goes above the highest target (so no target
 * clobbers a source), then everything below is closed, then each lands on
 * its number with its flag, then the rest above is closed but for the two
 * the library still needs (exec fd, report pipe), which are already above.
 */
static FL_CHILD_SIDE int take_fds(struct zjob *z)
{
	const struct zin *in = z->in;
	struct rlimit *nofile = &z->have.limits[RLIMIT_NOFILE];
	int top = -1, filler = -1, next = 1, ret;

	for (uint32_t i = 0; i < in->ntable; i++)
		if (in->table[2 * i] > top)
			top = in->table[2 * i];
	/* Room up to the highest number the table needs and the copies
	 * above it: the caller may hold fds above its own limit (opened
	 * before it was lowered).  Its limit comes back with the state. */
	if ((uint64_t)top + (uint64_t)in->nfds + 2 > nofile->rlim_cur) {
		struct rlimit room = { (rlim_t)top + (rlim_t)in->nfds + 64, (rlim_t)top + (rlim_t)in->nfds + 64 };

		if (room.rlim_max < nofile->rlim_max)
			room.rlim_max = nofile->rlim_max;
		if (fl_sys4(__NR_prlimit64, 0, RLIMIT_NOFILE, &room, NULL) == 0)
			*nofile = room;
	}
	if ((ret = (int)fl_sys1(__NR_fchdir, in->fds[0])) < 0)
		return ret;
	for (int i = 1; i < in->nfds; i++) {
		int moved = fl_sys_fcntl(in->fds[i], F_DUPFD_CLOEXEC, top + 1);

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
	for (uint32_t i = 0; i < in->ntable; i++) {
		int kind = in->table[2 * i + 1];

		if (kind == FD_PLACEHOLDER) {
			if (filler < 0 && (filler = fl_sys_openat(AT_FDCWD, "/", O_PATH | O_CLOEXEC, 0)) < 0)
				return filler;
			ret = fl_sys_dup3(filler, in->table[2 * i], O_CLOEXEC);
		} else {
			ret = fl_sys_dup3(z->moved[next++], in->table[2 * i], kind == FD_CLOEXEC_REAL ? O_CLOEXEC : 0);
		}
		if (ret < 0)
			return ret;
	}
	z->job.exec_fd = z->req->exec_fd;
	z->job.report_fd = z->report_w;
	/* All that is left above the table: the moved copies, the zygote's
	 * own; the report pipe stays until exec. */
	if (z->report_w > top + 1)
		fl_sys_close_range((unsigned)top + 1, (unsigned)z->report_w - 1, 0);
	fl_sys_close_range((unsigned)(z->report_w > top ? z->report_w : top) + 1, ~0u, 0);
	fl_sys1(__NR_umask, z->req->umask);
	return 0;
}

static FL_CHILD_SIDE int zygote_child(void *arg)
{
	struct zjob *z = arg;
	const struct zreq *q = z->req;
	int ret = take_fds(z);

	if (ret == 0)
		ret = fl_state_apply(&q->state, (const gid_t *)(z->base + q->off_groups), &z->have, self_groups);
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

static void zjob_free(struct zjob *z)
{
	if (!z)
		return;
	free(z->acts[0].v);
	free(z->acts[1].v);
	free(z->moved);
	free(z->argv);
	free(z->envp);
	free(z->sh_argv);
	free(z);
}

/* Lays out the child's job from a checked request: NULL (no memory) or a
 * zjob for zjob_free. */
static struct zjob *zjob_build(const struct zin *in)
{
	char *base = in->base;
	const struct zreq *q = (const struct zreq *)base;
	struct zjob *z = calloc(1, sizeof(*z));

	if (!z)
		return NULL;
	z->req = q;
	z->base = base;
	z->in = in;
	z->have = self;
	z->report_w = -1;
	z->moved = calloc((size_t)in->nfds + 1, sizeof(int));
	z->spec.path = q->off_path ? base + q->off_path : NULL;
	z->spec.file = q->off_file ? base + q->off_file : NULL;
	z->spec.search = q->off_search ? base + q->off_search : NULL;
	z->spec.search_next = (size_t)q->search_next;
	z->spec.search_eacces = q->search_eacces;
	z->spec.flags = q->spec_flags;
	z->spec.exec_fd = q->exec_fd;
	z->argv = build_vector(base, q->off_argv, q->argc);
	z->envp = build_vector(base, q->off_envp, q->envc);
	if (!z->moved || !z->argv || !z->envp || build_actions(&z->acts[0], q, base, 0) < 0 ||
	    build_actions(&z->acts[1], q, base, 1) < 0)
		goto fail;
	if (q->sh) {
		uint32_t n = (q->argc ? q->argc : 1) + 2;

		z->sh_argv = calloc(n, sizeof(char *));
		if (!z->sh_argv)
			goto fail;
		z->sh_argv[0] = (char *)"/bin/sh";
		for (uint32_t i = 1; i < q->argc; i++)
			z->sh_argv[i + 1] = z->argv[i];
	}
	z->job.spec = &z->spec;
	z->job.argv = z->argv;
	z->job.envp = z->envp;
	z->job.sh_argv = z->sh_argv;
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
	return z;
fail:
	zjob_free(z);
	return NULL;
}

int fl_zreq_lay_out(const struct zin *in)
{
	struct zjob *z = zjob_build(in);

	zjob_free(z);
	return z ? 0 : -ENOMEM;
}

/* Makes the child a request asks for; fills the reply.  Returns the child's
 * pidfd in the zygote, or -1. */
static int zygote_spawn(const struct zin *in, struct zreply *rep)
{
	const struct zreq *q = in->req;
	struct zjob *z = zjob_build(in);
	int pidfd = -1, pipefd[2] = { -1, -1 }, ret = -ENOMEM;
	long pid;

	rep->pid = -1;
	rep->step = FL_STEP_SPAWN;
	if (!z)
		goto out;
	if (zenter) {
		/* A primed child keeps the dispositions the program's own start
		 * gave the image (the caller's ignored ones, which its image
		 * was keyed by, and its constructors' handlers), as the
		 * program exec'd would have them at main. */
		z->job.flags = FL_JOB_SIGHAND_CLEARED;
		z->have.ignored = q->state.ignored;
	}
	if (q->has_fn || zenter) {
		/* Fork semantics: the child has its own copy of the zygote, so it
		 * reports down a pipe (closed by exec, or by a primed child as it
		 * enters main: EOF means it made it). */
		if (pipe2(pipefd, O_CLOEXEC) < 0) {
			ret = -errno;
			goto out;
		}
		z->report_w = pipefd[1];
		z->job.hook = zenter ? zenter : run_callback;
		z->job.hook_arg = z;
	}

	{
		/* A primed child never execs: the image does not wait for it
		 * (no CLONE_VFORK) but for its report. */
		struct fl_clone_args ca = {
			.flags = CLONE_PARENT | (zenter ? 0 : CLONE_VFORK) | (q->has_fn || zenter ? 0 : CLONE_VM) |
				 (q->want_pidfd ? CLONE_PIDFD : 0) |
				 (fl_has(FL_FEAT_CLEAR_SIGHAND) && !zenter ? CLONE_CLEAR_SIGHAND : 0),
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
	if (q->has_fn || zenter) {
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
	zjob_free(z);
	return pidfd;
}

/* ---- the loop ------------------------------------------------------------------- */

static int grow(void *pp, uint32_t *cap, uint32_t need, size_t size)
{
	void *p;
	uint32_t c = *cap ? *cap : 64;

	if (need <= *cap)
		return 0;
	while (c < need)
		c *= 2;
	p = realloc(*(void **)pp, (size_t)c * size);
	if (!p)
		return -ENOMEM;
	*(void **)pp = p;
	*cap = c;
	return 0;
}

/* The fd table parts that follow a request, up to the last.  What goes
 * wrong is kept in in->error; the parts are read to the last either way, so
 * the next request starts where it should.  Returns 0, or -1 at EOF or a
 * broken socket. */
static int recv_table(int sock, struct zin *in)
{
	static int32_t part[3 + 2 * FDS_PER_MSG + 1];
	bool first = true;
	int32_t last = -1;	/* the numbers ascend */

	for (;;) {
		const struct ztable *t = (const struct ztable *)part;
		int got, want = first, fds[FDS_PER_MSG + 1];
		long n = fl_zmsg_recv(sock, part, sizeof(part), fds, FDS_PER_MSG + 1, &got);
		uint32_t fds_cap = (uint32_t)in->fds_cap;

		if (n == 0 || (n < 0 && n != -EMSGSIZE && n != -EMFILE))
			return -1;
		if (n < 0) {
			/* No fd left here (the fds cut off), or a part too long. */
			in->error = in->error ? in->error : n == -EMFILE ? EMFILE : EPROTO;
		} else if ((size_t)n < sizeof(*t) || t->magic != ZTABLE || t->n > FDS_PER_MSG ||
			   (size_t)n != sizeof(*t) + t->n * 2 * sizeof(int32_t)) {
			in->error = EPROTO;
		}
		if (!in->error) {
			const int32_t *e = part + 3;

			for (uint32_t i = 0; i < t->n; i++) {
				if (e[2 * i] <= last || (uint32_t)e[2 * i] >= MAX_TABLE ||
				    e[2 * i + 1] < FD_KEEP || e[2 * i + 1] > FD_PLACEHOLDER) {
					in->error = EPROTO;
					break;
				}
				last = e[2 * i];
				want += e[2 * i + 1] != FD_PLACEHOLDER;
			}
			if (!in->error && (got != want || in->ntable + t->n > MAX_TABLE))
				in->error = EPROTO;
		}
		if (!in->error && (grow(&in->table, &in->table_cap, in->ntable + t->n, 2 * sizeof(int32_t)) < 0 ||
				   grow(&in->fds, &fds_cap, (uint32_t)(in->nfds + got), sizeof(int)) < 0))
			in->error = ENOMEM;
		in->fds_cap = (int)fds_cap;
		if (in->error) {
			for (int i = 0; i < got; i++)
				close(fds[i]);
		} else {
			/* (An empty part may come before any room was made.) */
			if (t->n)
				memcpy(in->table + 2 * in->ntable, part + 3, t->n * 2 * sizeof(int32_t));
			in->ntable += t->n;
			if (got)
				memcpy(in->fds + in->nfds, fds, (size_t)got * sizeof(int));
			in->nfds += got;
		}
		first = false;
		if ((n >= (long)sizeof(*t) || n == -EMFILE) && t->magic == ZTABLE && t->last)
			return 0;
	}
}

int fl_zreq_recv(int sock, struct zin *in)
{
	static char inbuf[INLINE_MAX + sizeof(struct zreq)];
	const struct zreq *q = (const struct zreq *)inbuf;
	int head_fd = -1, got;
	long n = fl_zmsg_recv(sock, inbuf, sizeof(inbuf), &head_fd, 1, &got);

	if (n == 0 || (n < 0 && n != -EMSGSIZE && n != -EMFILE))
		return -1;
	in->base = inbuf;
	in->len = n > 0 ? (size_t)n : 0;
	in->mapped = 0;
	in->ntable = 0;
	in->nfds = 0;
	in->error = n == -EMFILE ? EMFILE : n < 0 ? EPROTO : 0;
	if (!in->error && in->len >= sizeof(*q) && q->magic == ZMAGIC && q->in_memfd) {
		/* The request proper is in the memfd. */
		struct stat st;

		if (got != 1 || fstat(head_fd, &st) < 0 || (uint64_t)st.st_size < sizeof(*q) ||
		    (uint64_t)st.st_size > MAX_REQUEST) {
			in->error = EPROTO;
		} else {
			in->base = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, head_fd, 0);
			if (in->base == MAP_FAILED) {
				in->base = inbuf;
				in->error = ENOMEM;
			} else {
				in->len = in->mapped = (size_t)st.st_size;
			}
		}
	} else if (got) {
		in->error = EPROTO;
	}
	if (got)
		close(head_fd);
	if (!in->error && !request_valid(in))
		in->error = EPROTO;
	if (recv_table(sock, in) < 0) {
		fl_zreq_done(in);
		return -1;
	}
	if (!in->error && in->nfds < 1)
		in->error = EPROTO;	/* no cwd */
	in->req = (const struct zreq *)in->base;
	return 0;
}

void fl_zreq_done(struct zin *in)
{
	close_all(in->fds, in->nfds);
	in->nfds = 0;
	if (in->mapped)
		munmap(in->base, in->mapped);
	in->mapped = 0;
}

__attribute__((noreturn)) void fl_zygote_main(int sock, pid_t caller, bool main_thread,
					      int (*enter)(struct fl_job *job))
{
	static struct zin in;
	uint64_t all = ~0ull;
	struct rlimit nofile;

	/* Ends with the caller: at EOF on the socket (every copy of the
	 * caller's end closed, which its death does), and by a parent-death
	 * signal, with the recheck for a caller that died before the prctl.
	 * That signal fires when the starting *thread* exits: only when the
	 * main thread started it, or a worker thread's end would kill it. */
	if (main_thread)
		prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != caller)
		_exit(0);
	/* Named, for ps and for tools that look at a process's children; a
	 * primed image keeps the program's name, which its children show. */
	zenter = enter;
	if (!enter)
		prctl(PR_SET_NAME, "forkless-zygote");
	/* No handler of the caller's ever runs here; the children get their
	 * mask from the request. */
	fl_sys_sigprocmask(SIG_SETMASK, (const sigset_t *)&all, NULL);
	/* Hold none of the caller's fds (a pipe's reader waits for every
	 * writer to close): only the socket stays. */
	if (sock > 0)
		fl_sys_close_range(0, (unsigned)sock - 1, 0);
	fl_sys_close_range((unsigned)sock + 1, ~0u, 0);
	/* Room for the fds of a caller whose table is full: its children get
	 * the caller's limit back with its state. */
	if (getrlimit(RLIMIT_NOFILE, &nofile) == 0 && nofile.rlim_cur < nofile.rlim_max) {
		nofile.rlim_cur = nofile.rlim_max;
		setrlimit(RLIMIT_NOFILE, &nofile);
	}
	zstack = fl_stack_map();
	if (self_read() < 0 || !zstack)
		_exit(1);

	for (;;) {
		struct zreply rep = { 0, FL_STEP_SPAWN, -1 };
		int pidfd = -1;

		if (fl_zreq_recv(sock, &in) < 0)
			_exit(0);
		/* What no child of this zygote can be given: the caller's seccomp
		 * filters, a timer slack of 0 (a real-time thread's, kept by a
		 * fork with reset-on-fork: prctl takes 0 for "the default"). */
		if (!in.error && (in.req->state.filters != self_filters ||
				  (in.req->state.slack == 0) != (self.slack == 0)))
			in.error = ZRESTART;
		rep.error = in.error;
		if (!in.error)
			pidfd = zygote_spawn(&in, &rep);
		fl_zreq_done(&in);
		/* The caller reaps a failed child itself: it is its child. */
		fl_zmsg_send(sock, &rep, sizeof(rep), pidfd >= 0 ? &pidfd : NULL, pidfd >= 0);
		if (pidfd >= 0)
			close(pidfd);
	}
}
