// SPDX-License-Identifier: MIT
/*
 * Batches and the reaper.
 *
 * fl_spawn_batch starts every child before it collects any exec outcome, so
 * with the async engine N execs overlap and the caller pays N process
 * creations, not N execs.
 *
 * The reaper waits for any of many children.  Where the kernel has
 * IORING_OP_WAITID (Linux 6.7) it is an io_uring of our own, driven with the
 * raw syscalls (the library depends on libc and the kernel only, not
 * liburing): one waitid request per child, which reaps it in the kernel and
 * hands back its siginfo; else epoll on the pidfds, each readable once its
 * child has exited, then waitid on it.  The choice is made at run time.
 */
#include <errno.h>
#include <linux/io_uring.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"
#include "sys.h"

/* ---- batches -------------------------------------------------------------- */

FL_API int fl_spawn_batch(size_t n, const fl_spec *const specs[], size_t nspecs, const fl_spawn_args args[],
			  unsigned flags, fl_child children[], fl_report reports[])
{
	int running = 0;

	if (!n || !specs || !children || !reports || (nspecs != 1 && nspecs != n) ||
	    (flags & ~FL_BATCH_NOWAIT))
		return -EINVAL;
	/* No pidfd while the batch starts: every child copies the caller's fd
	 * table at clone and closes its close-on-exec fds at exec, so with the
	 * pidfds of the children before it open each child would cost more than
	 * the one before.  They are opened once all have started; a child
	 * cannot be reaped meanwhile but by a wait for any child elsewhere in
	 * the process (fl_spawn_batch(3)). */
	for (size_t i = 0; i < n; i++) {
		const fl_spec *spec = specs[nspecs == 1 ? 0 : i];

		if (fl_spawn_job(spec, args ? &args[i] : NULL, &children[i], &reports[i], FL_JOB_LATE_PIDFD) == 0)
			reports[i] = (fl_report){ 0, 0 };
	}
	for (size_t i = 0; i < n; i++) {
		const fl_spec *spec = specs[nspecs == 1 ? 0 : i];

		if (!reports[i].error && children[i].pidfd < 0 && !(spec->flags & FL_SPEC_NO_PIDFD))
			fl_inflight_late_pidfd(&children[i]);
	}
	/* Only now the outcomes: the execs of async children ran meanwhile. */
	for (size_t i = 0; i < n; i++) {
		if (reports[i].error)
			continue;
		if (!(flags & FL_BATCH_NOWAIT) && fl_child_wait_exec(&children[i], &reports[i]) < 0)
			continue;
		running++;
	}
	return running;
}

/* ---- the reaper ------------------------------------------------------------ */

enum { BACKEND_URING, BACKEND_EPOLL };

#define RING_ENTRIES 64		/* submission slots; a full ring is submitted and reused */
#define CQ_ENTRIES 4096		/* completions kept before the kernel's overflow list */

/* One child held.  Its address is the request's user_data and holds the
 * siginfo the kernel writes: entries are allocated one by one and never move. */
struct entry {
	fl_child *child;
	siginfo_t si;
	struct entry *next;	/* free list */
	struct entry *all;	/* every entry the reaper allocated, for fl_reaper_free */
	bool busy;		/* a waitid request is in flight */
};

struct fl_reaper {
	int backend;
	int fd;
	int count;
	struct entry *free_entries, *all_entries;
	/* io_uring */
	char *sq_ring, *cq_ring;
	size_t sq_bytes, cq_bytes, sqes_bytes;
	struct io_uring_sqe *sqes;
	unsigned *sq_head, *sq_tail, *sq_mask, *sq_array;
	unsigned *cq_head, *cq_tail, *cq_mask;
	struct io_uring_cqe *cqes;
	unsigned sq_entries;
	unsigned unsubmitted;
};

static int uring_enter(struct fl_reaper *r, unsigned submit, unsigned wait, unsigned flags, void *arg,
		       size_t argsz)
{
	return (int)fl_sys6(__NR_io_uring_enter, r->fd, submit, wait, flags, (long)arg, (long)argsz);
}

static int uring_setup(struct fl_reaper *r)
{
	struct io_uring_params p;

	memset(&p, 0, sizeof(p));
	p.flags = IORING_SETUP_CQSIZE;
	p.cq_entries = CQ_ENTRIES;
	r->fd = (int)fl_sys2(__NR_io_uring_setup, RING_ENTRIES, &p);
	if (r->fd < 0)
		return r->fd;
	/* IORING_FEAT_SINGLE_MMAP (5.4) and EXT_ARG (5.11) are older than
	 * IORING_OP_WAITID, so a kernel that has the opcode has them. */
	r->sq_bytes = p.sq_off.array + p.sq_entries * sizeof(unsigned);
	r->cq_bytes = p.cq_off.cqes + p.cq_entries * sizeof(struct io_uring_cqe);
	if (r->cq_bytes > r->sq_bytes)
		r->sq_bytes = r->cq_bytes;
	r->sq_ring = mmap(NULL, r->sq_bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, r->fd,
			  IORING_OFF_SQ_RING);
	if (r->sq_ring == MAP_FAILED)
		goto fail;
	r->cq_ring = r->sq_ring;
	r->sqes_bytes = p.sq_entries * sizeof(struct io_uring_sqe);
	r->sqes = mmap(NULL, r->sqes_bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, r->fd,
		       IORING_OFF_SQES);
	if (r->sqes == MAP_FAILED) {
		munmap(r->sq_ring, r->sq_bytes);
		goto fail;
	}
	r->sq_head = (unsigned *)(r->sq_ring + p.sq_off.head);
	r->sq_tail = (unsigned *)(r->sq_ring + p.sq_off.tail);
	r->sq_mask = (unsigned *)(r->sq_ring + p.sq_off.ring_mask);
	r->sq_array = (unsigned *)(r->sq_ring + p.sq_off.array);
	r->cq_head = (unsigned *)(r->cq_ring + p.cq_off.head);
	r->cq_tail = (unsigned *)(r->cq_ring + p.cq_off.tail);
	r->cq_mask = (unsigned *)(r->cq_ring + p.cq_off.ring_mask);
	r->cqes = (struct io_uring_cqe *)(r->cq_ring + p.cq_off.cqes);
	r->sq_entries = p.sq_entries;
	return 0;
fail:
	close(r->fd);
	return -ENOMEM;
}

/* Hands the queued requests to the kernel. */
static int uring_submit(struct fl_reaper *r)
{
	while (r->unsubmitted) {
		int ret = uring_enter(r, r->unsubmitted, 0, 0, NULL, 0);

		if (ret == -EINTR)
			continue;
		if (ret < 0)
			return ret;
		r->unsubmitted -= (unsigned)ret;
	}
	return 0;
}

/* A free submission slot, submitting the queue first if the ring is full. */
static struct io_uring_sqe *uring_sqe(struct fl_reaper *r)
{
	unsigned tail = *r->sq_tail;

	if (tail - __atomic_load_n(r->sq_head, __ATOMIC_ACQUIRE) >= r->sq_entries) {
		if (uring_submit(r) < 0)
			return NULL;
	}
	if (tail - __atomic_load_n(r->sq_head, __ATOMIC_ACQUIRE) >= r->sq_entries)
		return NULL;
	return memset(&r->sqes[tail & *r->sq_mask], 0, sizeof(struct io_uring_sqe));
}

static void uring_queue(struct fl_reaper *r)
{
	unsigned tail = *r->sq_tail;

	r->sq_array[tail & *r->sq_mask] = tail & *r->sq_mask;
	__atomic_store_n(r->sq_tail, tail + 1, __ATOMIC_RELEASE);
	r->unsubmitted++;
}

/* waitid(P_PIDFD, pidfd, &e->si, WEXITED) as a request: the id in fd, the id
 * type in len, the options in file_index, the siginfo in addr2. */
static int uring_add(struct fl_reaper *r, struct entry *e)
{
	struct io_uring_sqe *sqe = uring_sqe(r);
	fl_child *c = e->child;

	if (!sqe)
		return -EBUSY;
	sqe->opcode = FL_IORING_OP_WAITID;
	sqe->fd = c->pidfd >= 0 ? c->pidfd : c->pid;
	sqe->len = c->pidfd >= 0 ? P_PIDFD : P_PID;
	sqe->file_index = WEXITED;
	sqe->addr2 = (uintptr_t)&e->si;
	sqe->user_data = (uintptr_t)e;
	uring_queue(r);
	e->busy = true;
	return uring_submit(r);
}

/* ---- entries ---- */

static struct entry *entry_get(struct fl_reaper *r)
{
	struct entry *e = r->free_entries;

	if (e) {
		r->free_entries = e->next;
	} else {
		e = malloc(sizeof(*e));
		if (!e)
			return NULL;
		e->all = r->all_entries;
		r->all_entries = e;
	}
	e->child = NULL;
	e->next = NULL;
	e->busy = false;
	memset(&e->si, 0, sizeof(e->si));
	return e;
}

static void entry_put(struct fl_reaper *r, struct entry *e)
{
	e->next = r->free_entries;
	r->free_entries = e;
}

FL_API int fl_reaper_new(fl_reaper **out, unsigned flags)
{
	struct fl_reaper *r;
	int ret;

	if (!out || (flags & ~FL_REAPER_EPOLL))
		return -EINVAL;
	r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	if (!(flags & FL_REAPER_EPOLL) && fl_has(FL_FEAT_IOURING_WAITID) && uring_setup(r) == 0) {
		r->backend = BACKEND_URING;
	} else {
		/* ENOSYS only where the kernel has no pidfds: a probe that
		 * found no fd free gives EMFILE, as epoll_create1 would. */
		ret = fl_probe(FL_FEAT_PIDFD_OPEN);
		if (ret <= 0) {
			free(r);
			return ret < 0 ? ret : -ENOSYS;
		}
		r->backend = BACKEND_EPOLL;
		r->fd = epoll_create1(EPOLL_CLOEXEC);
		if (r->fd < 0) {
			ret = -errno;
			free(r);
			return ret;
		}
	}
	*out = r;
	return 0;
}

FL_API int fl_reaper_add(fl_reaper *r, fl_child *child)
{
	struct entry *e;
	int ret;

	if (!r || !child)
		return -EINVAL;
	if (child->pid <= 0 || (child->_state & FL_CHILD_REAPED))
		return -ECHILD;
	if (r->backend == BACKEND_EPOLL && child->pidfd < 0)
		return -ENOSYS;
	e = entry_get(r);
	if (!e)
		return -ENOMEM;
	e->child = child;
	if (r->backend == BACKEND_URING) {
		ret = uring_add(r, e);
	} else {
		struct epoll_event ev = { .events = EPOLLIN, .data.ptr = e };

		ret = epoll_ctl(r->fd, EPOLL_CTL_ADD, child->pidfd, &ev) < 0 ? -errno : 0;
	}
	if (ret < 0 && !e->busy) {
		entry_put(r, e);
		return ret;
	}
	r->count++;
	return ret < 0 ? ret : 0;
}

/*
 * The kernel reaped E's child (RES 0, siginfo in e->si) or could not (RES
 * < 0: ECHILD when someone else reaped it first, the library's reaping of a
 * failed async child included).  Finishes the handle as fl_child_wait would.
 */
static int uring_finish(struct entry *e, int res)
{
	fl_child *c = e->child;
	int status = -1, st = -1;

	if (c->_priv[0] && fl_inflight_settle(c, true, NULL, &st) < 0 && (c->_state & FL_CHILD_REAPED))
		status = st;	/* a failed async child: the library has its status */
	if (res == 0 && e->si.si_pid)
		status = fl_status_of(&e->si);
	fl_child_done(c);
	return status;
}

/* Takes one completion, if any: 1 with *CHILD and *STATUS, else 0. */
static int uring_reap_one(struct fl_reaper *r, fl_child **child, int *status)
{
	unsigned head = *r->cq_head;

	while (head != __atomic_load_n(r->cq_tail, __ATOMIC_ACQUIRE)) {
		struct io_uring_cqe *cqe = &r->cqes[head & *r->cq_mask];
		struct entry *e = (struct entry *)(uintptr_t)cqe->user_data;
		int res = cqe->res;

		__atomic_store_n(r->cq_head, ++head, __ATOMIC_RELEASE);
		if (!e)
			continue;	/* a cancel request's own completion */
		e->busy = false;
		*child = e->child;
		*status = uring_finish(e, res);
		entry_put(r, e);
		r->count--;
		return 1;
	}
	return 0;
}

/* Milliseconds left of TIMEOUT_MS since START (-1 stays -1). */
static int left_ms(int timeout_ms, const struct timespec *start)
{
	struct timespec now;
	long spent;

	if (timeout_ms <= 0)
		return timeout_ms;
	clock_gettime(CLOCK_MONOTONIC, &now);
	spent = (now.tv_sec - start->tv_sec) * 1000 + (now.tv_nsec - start->tv_nsec) / 1000000;
	return spent >= timeout_ms ? 0 : timeout_ms - (int)spent;
}

/* Both waits go on after EINTR, with what is left of the timeout: io_uring's
 * task work interrupts sleeping syscalls of the thread with no signal at all. */
static int uring_wait(struct fl_reaper *r, int timeout_ms, fl_child **child, int *status)
{
	struct timespec start;

	clock_gettime(CLOCK_MONOTONIC, &start);
	for (;;) {
		struct __kernel_timespec ts = { timeout_ms / 1000, (timeout_ms % 1000) * 1000000L };
		struct io_uring_getevents_arg arg = { .ts = (uintptr_t)&ts };
		int ret;

		if (uring_reap_one(r, child, status))
			return 1;
		timeout_ms = left_ms(timeout_ms, &start);
		ts.tv_sec = timeout_ms / 1000;
		ts.tv_nsec = (timeout_ms % 1000) * 1000000L;
		if (timeout_ms == 0)
			return 0;
		if (timeout_ms < 0)
			ret = uring_enter(r, r->unsubmitted, 1, IORING_ENTER_GETEVENTS, NULL, 0);
		else
			ret = uring_enter(r, r->unsubmitted, 1, IORING_ENTER_GETEVENTS | IORING_ENTER_EXT_ARG,
					  &arg, sizeof(arg));
		if (ret >= 0) {
			r->unsubmitted -= (unsigned)ret < r->unsubmitted ? (unsigned)ret : r->unsubmitted;
			continue;
		}
		if (ret == -ETIME)
			return uring_reap_one(r, child, status);
		if (ret != -EINTR)
			return ret;
	}
}

static int epoll_reap(struct fl_reaper *r, int timeout_ms, fl_child **child, int *status)
{
	struct epoll_event ev;
	struct timespec start;

	clock_gettime(CLOCK_MONOTONIC, &start);
	for (;;) {
		int n = epoll_wait(r->fd, &ev, 1, left_ms(timeout_ms, &start));
		struct entry *e;
		int ret;

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return 0;
		e = ev.data.ptr;
		/* Readable: the child has exited.  Out of the set before the
		 * wait closes its pidfd. */
		epoll_ctl(r->fd, EPOLL_CTL_DEL, e->child->pidfd, NULL);
		*status = -1;
		ret = fl_child_trywait(e->child, status);
		if (ret == 0) {
			/* not exited after all (cannot happen for a pidfd): back in */
			struct epoll_event again = { .events = EPOLLIN, .data.ptr = e };

			epoll_ctl(r->fd, EPOLL_CTL_ADD, e->child->pidfd, &again);
			continue;
		}
		if (ret < 0)
			fl_child_done(e->child);	/* reaped elsewhere: status unknown (-1) */
		*child = e->child;
		entry_put(r, e);
		r->count--;
		return 1;
	}
}

FL_API int fl_reaper_wait(fl_reaper *r, int timeout_ms, fl_child **child, int *status)
{
	fl_child *c = NULL;
	int st = -1, ret;

	if (!r)
		return -EINVAL;
	if (!r->count)
		return -ECHILD;
	if (r->backend == BACKEND_URING)
		ret = uring_wait(r, timeout_ms, &c, &st);
	else
		ret = epoll_reap(r, timeout_ms, &c, &st);
	if (ret == 1) {
		if (child)
			*child = c;
		if (status)
			*status = st;
	}
	return ret;
}

FL_API int fl_reaper_count(const fl_reaper *r)
{
	return r ? r->count : 0;
}

FL_API int fl_reaper_fd(const fl_reaper *r)
{
	return r ? r->fd : -EINVAL;
}

FL_API const char *fl_reaper_backend(const fl_reaper *r)
{
	if (!r)
		return NULL;
	return r->backend == BACKEND_URING ? "io_uring" : "epoll";
}

/* Cancels the requests still in flight and waits for their completions, so
 * the kernel writes no siginfo into freed memory.  A child that exits in the
 * meantime is reaped by its request: its handle is marked done. */
static void uring_drain(struct fl_reaper *r)
{
	struct io_uring_sqe *sqe = uring_sqe(r);

	if (sqe) {
		sqe->opcode = IORING_OP_ASYNC_CANCEL;
		sqe->fd = -1;
		sqe->cancel_flags = IORING_ASYNC_CANCEL_ANY;
		sqe->user_data = 0;
		uring_queue(r);
		uring_submit(r);
	}
	while (r->count) {
		unsigned head = *r->cq_head;

		while (head != __atomic_load_n(r->cq_tail, __ATOMIC_ACQUIRE)) {
			struct io_uring_cqe *cqe = &r->cqes[head & *r->cq_mask];
			struct entry *e = (struct entry *)(uintptr_t)cqe->user_data;

			if (e) {
				if (cqe->res == 0 && e->si.si_pid)
					uring_finish(e, 0);
				e->busy = false;
				entry_put(r, e);
				r->count--;
			}
			__atomic_store_n(r->cq_head, ++head, __ATOMIC_RELEASE);
		}
		if (r->count) {
			int ret = uring_enter(r, 0, 1, IORING_ENTER_GETEVENTS, NULL, 0);

			if (ret < 0 && ret != -EINTR)
				break;
		}
	}
}

FL_API void fl_reaper_free(fl_reaper *r)
{
	struct entry *e, *next;

	if (!r)
		return;
	if (r->backend == BACKEND_URING) {
		uring_drain(r);
		munmap(r->sqes, r->sqes_bytes);
		munmap(r->sq_ring, r->sq_bytes);
	}
	close(r->fd);
	for (e = r->all_entries; e; e = next) {
		next = e->all;
		free(e);
	}
	free(r);
}
