// SPDX-License-Identifier: MIT
/*
 * The pool engine: children made ahead of time, parked on a futex on their
 * own stacks (the blocks of inflight.c), each handed a job and woken.
 * Process creation leaves the spawn: a spawn wakes a parked child, waits
 * until it has taken the job, and returns; the exec's outcome comes later, as
 * with the async engine (fl_child_wait_exec), through the same records.
 *
 * A pooled child must be, at exec, what the clone engine would make at the
 * moment of the spawn, though it was made earlier:
 * - fds, cwd, umask, root: it is made with CLONE_FILES | CLONE_FS, sharing
 *   the caller's fd table and fs while parked, and unshares both when it
 *   takes the job, so it gets private copies as they are then.  The caller
 *   waits for that before fl_spawn returns: a close() by the caller right
 *   after the spawn (the usual end of a pipe handed over) must not reach it.
 * - signal mask: the caller's at the spawn, in the job, as for every engine.
 * - the rest of the state (state.h): the spawning thread captures its own
 *   at the hand-off, and the child takes it on where it differs from what
 *   it read of itself at its birth (child-state.c).  Seccomp filters
 *   cannot be given: a thread whose filters are not those the pool was
 *   made with empties the pool, and its spawn goes to the async engine (a
 *   child made now), as does a spawn whose state cannot be captured (no fd
 *   free for /proc) or carried (more than FL_POOL_GROUPS groups, a timer
 *   slack of 0).
 * - environment: resolved at the spawn, as for every engine.
 *
 * Size: fl_pool_set_size (FL_POOL_SIZE children by default), filled by
 * fl_engine_warm or the first spawn; each spawn makes one replacement after
 * its child has taken the job; an empty pool makes a child on the spot.
 * Parked children end at exit() (a destructor), else within a second of the
 * process (they look at their parent pid); after fork() the child process
 * forgets its parent's pool.
 */
#include <errno.h>
#include <linux/futex.h>
#include <linux/prctl.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "inflight.h"
#include "sys.h"

#define FL_POOL_SIZE 2

enum { PARKED = 0, GO, TAKEN, QUIT };

static struct fl_block *parked;		/* under the in-flight lock */
static int nparked, target = FL_POOL_SIZE;
/* ---- the parked child's side ------------------------------------------------ */

static FL_CHILD_SIDE __attribute__((noreturn)) void give_up(struct fl_block *blk, int err)
{
	blk->job.slot.error = -err;
	blk->job.slot.step = FL_STEP_SPAWN;
	fl_sys_exit(127);
}

/*
 * The parked child.  Child-side rules (child.c): raw syscalls only, every
 * signal blocked (the parent blocked them around clone), nothing written but
 * its block.  It sleeps until woken with GO (a job) or QUIT.
 */
static FL_CHILD_SIDE int parked_main(void *arg)
{
	struct fl_block *blk = arg;
	int err;

	/* What it is at birth, read now, off the spawn's path, with no fd: it
	 * shares the caller's fd table. */
	blk->have_error = fl_state_self(&blk->have, blk->have_groups, FL_POOL_GROUPS);
	if (!blk->have_error && blk->have.ngroups > FL_POOL_GROUPS)
		blk->have_error = -ENOSPC;

	/*
	 * Parked.  Not PR_SET_PDEATHSIG to die with the caller: that fires when
	 * the thread that made it exits, with the process alive, leaving a
	 * zombie.  Instead it looks every second whether its parent is still
	 * the process that made it (the parent stays when only a thread goes);
	 * a process that died leaves its parked children a second at most.
	 */
	for (;;) {
		struct timespec second = { 1, 0 };
		uint32_t w = __atomic_load_n(&blk->wake, __ATOMIC_ACQUIRE);

		if (w == GO)
			break;
		if (w == QUIT || fl_sys_getppid() != blk->creator)
			fl_sys_exit(0);
		fl_sys4(__NR_futex, &blk->wake, FUTEX_WAIT_PRIVATE, w, &second);
	}
	/* Private copies of the caller's fd table and fs, as they are now. */
	err = (int)fl_sys1(__NR_unshare, CLONE_FILES | CLONE_FS);
	__atomic_store_n(&blk->wake, TAKEN, __ATOMIC_RELEASE);
	fl_sys3(__NR_futex, &blk->wake, FUTEX_WAKE_PRIVATE, 1);
	if (err < 0 || (err = blk->have_error) < 0 ||
	    (err = fl_state_apply(&blk->want, blk->want_groups, &blk->have, blk->have_groups)) < 0)
		give_up(blk, err);
	return fl_child_main(&blk->job);
}

/* ---- the caller's side ---------------------------------------------------------- */

/* A new parked child on a fresh block in *OUT: 0, or -errno. */
static int make_parked(struct fl_block **out)
{
	struct fl_block *blk;
	uint64_t all = ~0ull;
	sigset_t old;
	long pid = -ENOSYS;

#ifdef FL_HAVE_CLONE3_ASM
	/* ENOSYS only where the kernel lacks them; a probe that could not
	 * tell (RLIMIT_NPROC reached, no memory) gives its own error, the one
	 * this child would meet. */
	int there = fl_probe(FL_FEAT_CLONE3);

	if (there == 1)
		there = fl_probe(FL_FEAT_CLEAR_SIGHAND);
	if (there < 0)
		return there;
#endif
	blk = fl_block_get();
	if (!blk)
		return -ENOMEM;
	blk->wake = PARKED;
	blk->tid = 1;
	blk->creator = getpid();
	blk->filters = fl_state_filters();
	/* Started with every signal blocked: none may run on its stack. */
	fl_sys_sigprocmask(SIG_SETMASK, (const sigset_t *)&all, &old);
#ifdef FL_HAVE_CLONE3_ASM
	if (there == 1) {
		struct fl_clone_args ca = {
			.flags = CLONE_VM | CLONE_FILES | CLONE_FS | CLONE_CHILD_CLEARTID | CLONE_CLEAR_SIGHAND,
			.child_tid = (uintptr_t)&blk->tid,
			.exit_signal = SIGCHLD,
			.stack = (uintptr_t)blk - FL_BLOCK_STACK - FL_STACK_GUARD,
			.stack_size = FL_BLOCK_STACK + FL_STACK_GUARD,
		};

		pid = fl_clone3(&ca, parked_main, blk);
	}
#endif
	fl_sys_sigprocmask(SIG_SETMASK, &old, NULL);
	if (pid < 0) {
		fl_inflight_lock();
		fl_block_put_locked(blk);
		fl_inflight_unlock();
		return (int)pid;
	}
	blk->pid = (pid_t)pid;
	*out = blk;
	return 0;
}

/* Ends a parked child (it is ours, not reaped: P_PID is safe). */
static void quit_parked(struct fl_block *blk)
{
	siginfo_t si;

	__atomic_store_n(&blk->wake, QUIT, __ATOMIC_RELEASE);
	fl_sys3(__NR_futex, &blk->wake, FUTEX_WAKE_PRIVATE, 1);
	while (waitid(P_PID, blk->pid, &si, WEXITED) < 0 && errno == EINTR)
		;
}

/* Called with the lock held after a fork: the parked children are the
 * parent's; their blocks here are copies nobody runs on. */
static void forget_locked(void)
{
	while (parked) {
		struct fl_block *blk = parked;

		parked = blk->next;
		blk->wake = PARKED;
		fl_block_put_locked(blk);
	}
	nparked = 0;
}

/* Ends the parked children of LIST (taken off the pool) and frees their blocks. */
static void end_all(struct fl_block *list)
{
	while (list) {
		struct fl_block *blk = list;

		list = blk->next;
		quit_parked(blk);
		fl_inflight_lock();
		fl_block_put_locked(blk);
		fl_inflight_unlock();
	}
}

/* Empties the pool (the caller's credentials changed since it was made). */
static void drain_locked(void)
{
	struct fl_block *list = parked;

	parked = NULL;
	nparked = 0;
	fl_inflight_unlock();
	end_all(list);
}

/* At exit() the parked children end at once, not within the second their
 * parent check takes: they share the process's fd table, so until they go
 * every fd the process had stays open (a pipe's reader would wait for its
 * EOF).  Left to that check if another thread is inside the library. */
static void __attribute__((destructor)) end_at_exit(void)
{
	if (fl_inflight_trylock())
		drain_locked();
}

/* Parks children until the pool holds TARGET. */
static int fill(void)
{
	for (;;) {
		struct fl_block *blk;
		int ret;

		fl_inflight_lock();
		if (nparked >= target) {
			fl_inflight_unlock();
			return 0;
		}
		fl_inflight_unlock();
		ret = make_parked(&blk);
		if (ret < 0)
			return ret;
		fl_inflight_lock();
		fl_inflight_on_fork_locked(forget_locked);
		blk->next = parked;
		parked = blk;
		nparked++;
		fl_inflight_unlock();
	}
}

/* A live parked child, or NULL if the pool is empty.  Dead ones (killed, or
 * their maker thread gone) are reaped on the way: their word is clear. */
static struct fl_block *take_parked(void)
{
	for (;;) {
		struct fl_block *blk;
		siginfo_t si;

		fl_inflight_lock();
		fl_inflight_scan_locked();
		blk = parked;
		if (blk) {
			parked = blk->next;
			nparked--;
		}
		fl_inflight_unlock();
		if (!blk || __atomic_load_n(&blk->tid, __ATOMIC_ACQUIRE))
			return blk;
		while (waitid(P_PID, blk->pid, &si, WEXITED) < 0 && errno == EINTR)
			;
		fl_inflight_lock();
		fl_block_put_locked(blk);
		fl_inflight_unlock();
	}
}

int fl_engine_pool(struct fl_job *job, fl_child *child)
{
	struct fl_block *blk;
	struct fl_arec *rec;
	struct fl_job *j;
	struct fl_state *want;
	int pipefd[2] = { -1, -1 }, ret;

	blk = take_parked();
	if (!blk && (ret = make_parked(&blk)) < 0)
		return ret;
	rec = fl_arec_get();
	if (!rec || (ret = fl_block_load(blk, job)) < 0) {
		/* The child is fine, the job is not: park it again. */
		fl_inflight_lock();
		blk->next = parked;
		parked = blk;
		nparked++;
		fl_inflight_unlock();
		free(rec);
		return rec ? ret : -ENOMEM;
	}
	/* The spawning thread's state, read by it before the hand-off: the
	 * thread may be gone when the child takes it on. */
	want = &blk->want;
	ret = fl_state_capture(want, blk->want_groups, FL_POOL_GROUPS);
	fl_inflight_lock();
	if (ret == 0 && want->filters != blk->filters)
		ret = -ESTALE;
	else if (ret == 0 && (want->ngroups > FL_POOL_GROUPS || want->slack == 0))
		ret = -ENOSPC;
	if (ret < 0) {
		/* Not a child the pool can make: park it again (or, made under
		 * other filters, empty the pool) and make one now. */
		blk->next = parked;
		parked = blk;
		nparked++;
		fl_arec_put_locked(rec);
		if (ret == -ESTALE)
			drain_locked();
		else
			fl_inflight_unlock();
		return FL_ENGINE_ASYNC;	/* fl_engine_run makes it there */
	}
	fl_inflight_unlock();
	j = &blk->job;
	fl_sys_sigprocmask(SIG_BLOCK, NULL, (sigset_t *)&j->mask);
	j->flags |= FL_JOB_SIGHAND_CLEARED;
	if (job->spec->flags & FL_SPEC_EXEC_FD) {
		if (pipe2(pipefd, O_CLOEXEC) < 0)
			pipefd[0] = pipefd[1] = -1;
		j->report_fd = pipefd[1];
	}
	rec->exec_fd = pipefd[0];

	/* Wake it, and wait until it has its own fd table and fs. */
	__atomic_store_n(&blk->wake, GO, __ATOMIC_RELEASE);
	fl_sys3(__NR_futex, &blk->wake, FUTEX_WAKE_PRIVATE, 1);
	for (;;) {
		struct timespec slice = { 0, 20000000 };
		uint32_t w = __atomic_load_n(&blk->wake, __ATOMIC_ACQUIRE);

		if (w == TAKEN || !__atomic_load_n(&blk->tid, __ATOMIC_ACQUIRE))
			break;
		fl_sys4(__NR_futex, &blk->wake, FUTEX_WAIT_PRIVATE, w, &slice);
	}
	if (pipefd[1] >= 0)
		close(pipefd[1]);
	child->pid = blk->pid;
	child->pidfd = fl_pidfd_for(job, blk->pid);
	fl_inflight_track(blk, rec, child);
	/* A replacement, now that this child has what it needs. */
	fill();
	return 0;
}

/* ---- public -------------------------------------------------------------------- */

FL_API int fl_pool_set_size(int size)
{
	struct fl_block *extra = NULL;
	int old;

	if (size < 0 || size > 1024)
		return -EINVAL;
	fl_inflight_lock();
	old = target;
	target = size;
	while (nparked > size) {
		struct fl_block *blk = parked;

		parked = blk->next;
		nparked--;
		blk->next = extra;
		extra = blk;
	}
	fl_inflight_unlock();
	end_all(extra);
	return old;
}

int fl_pool_warm(void)
{
	return fill();
}
