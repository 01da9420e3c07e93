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
 * - dispositions: CLONE_CLEAR_SIGHAND at birth made handled signals default;
 *   the ignored ones are those of its birth, so it reads the caller's
 *   SigIgn now (/proc) and changes the difference.
 * - no_new_privs: set if the spawning thread has it (read by the thread).
 * - rlimits (the process's: prlimit on its pid, by the child), nice value,
 *   scheduling policy, CPU affinity (the spawning thread's, which it reads
 *   itself before the hand-off: it may be gone when the child catches up);
 *   set where they differ from the child's own.
 * - credentials and the like: the caller compares its uids, gids,
 *   supplementary groups, capabilities (effective, permitted, inheritable),
 *   seccomp mode, I/O priority, personality and timer slack with those the
 *   pool was made with; if they changed, the pool is emptied and the spawn
 *   goes to the async engine (a child made now).  Not noticed: filters
 *   added to a filtered thread, a change of the bounding or ambient set
 *   alone, oom_score_adj.
 * - environment: resolved at the spawn, as for every engine.
 * The catching up costs the child about 20 syscalls between the wake and
 * the setup steps: see the benchmark for what that leaves of the gain.
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

static struct fl_block *parked;		/* under fl_async_lock */
static int nparked, target = FL_POOL_SIZE;
/* The credentials the pool was made with. */
struct creds {
	uid_t ids[6];		/* ruid euid suid rgid egid sgid */
	uint64_t groups;	/* a digest of the supplementary groups, in order */
	int seccomp;		/* the seccomp mode: no child can be given filters */
	uint32_t caps[6];	/* effective, permitted, inheritable (capget) */
	long ioprio, persona, slack;	/* I/O priority, personality, timer slack */
};
static struct creds pool_creds;
static bool pool_creds_set;

/* ---- the parked child's side ------------------------------------------------ */

static FL_CHILD_SIDE void u64_to_dec(char *p, uint64_t v)
{
	char tmp[24];
	int n = 0;

	do
		tmp[n++] = (char)('0' + v % 10);
	while (v /= 10);
	while (n)
		*p++ = tmp[--n];
	*p = 0;
}

/* The value of KEY in BUF, a /proc status text, read as hex; -1 if absent. */
static FL_CHILD_SIDE int64_t status_field(const char *buf, long n, const char *key)
{
	for (long i = 0; i < n; i++) {
		uint64_t v = 0;
		int k = 0;

		while (key[k] && buf[i + k] == key[k])
			k++;
		if (key[k])
			continue;
		for (i += k; buf[i] == ' ' || buf[i] == '\t'; i++)
			;
		for (; buf[i]; i++) {
			char c = buf[i];
			int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;

			if (d < 0)
				break;
			v = v << 4 | (uint64_t)d;
		}
		return (int64_t)(v & INT64_MAX);
	}
	return -1;
}

/* SigIgn (the process's) of /proc/PID/status: 0, or -errno.  Only after
 * the unshare: the open must not show in the caller's fd table. */
static FL_CHILD_SIDE int read_sigign(pid_t pid, uint64_t *ignored)
{
	char path[40] = "/proc/", buf[2048], *p = path + 6;
	const char *tail = "/status";
	int64_t ign;
	long n;
	int fd;

	u64_to_dec(p, (uint64_t)pid);
	while (*p)
		p++;
	while ((*p++ = *tail++))
		;
	fd = fl_sys_openat(AT_FDCWD, path, O_RDONLY | O_CLOEXEC, 0);
	if (fd < 0)
		return fd;
	n = fl_sys_read(fd, buf, sizeof(buf) - 1);
	fl_sys_close(fd);
	if (n <= 0)
		return n < 0 ? (int)n : -EIO;
	buf[n] = 0;
	ign = status_field(buf, n, "SigIgn:");
	if (ign < 0)
		return -EIO;
	*ignored = (uint64_t)ign;
	return 0;
}

static FL_CHILD_SIDE int limits_differ(const struct rlimit *a, const struct rlimit *b)
{
	return a->rlim_cur != b->rlim_cur || a->rlim_max != b->rlim_max;
}

/* The caller's state now, where it can differ from ours at birth. */
static FL_CHILD_SIDE int catch_up(struct fl_block *blk)
{
	pid_t caller = blk->creator;
	struct fl_sched_attr *sched_now = &blk->caller_sched, sched_ours;	/* no struct copy here: see sys.h */
	uint64_t ign;
	int ret, nice;

	ret = read_sigign(caller, &ign);
	if (ret < 0)
		return ret;
	/* It can only be set, never cleared: the thread's children have it. */
	if (blk->caller_nnp && (ret = (int)fl_sys2(__NR_prctl, PR_SET_NO_NEW_PRIVS, 1)) < 0)
		return ret;
	for (int sig = 1; sig < 65; sig++) {
		uint64_t bit = 1ull << (sig - 1);
		struct fl_ksigaction sa = { .handler = (ign & bit) ? SIG_IGN : SIG_DFL };

		if (sig != SIGKILL && sig != SIGSTOP && ((ign ^ blk->born_ignored) & bit))
			fl_sys_sigaction(sig, &sa, NULL);
	}
	for (int r = 0; r < 16; r++) {
		struct rlimit now;

		if (fl_sys4(__NR_prlimit64, caller, r, NULL, &now) == 0 && limits_differ(&now, &blk->born_limits[r]) &&
		    (ret = (int)fl_sys4(__NR_prlimit64, 0, r, &now, NULL)) < 0)
			return ret;
	}
	/* Scheduling as a fork of the spawning thread would have it. */
	if ((ret = fl_sys_sched_get(0, &sched_ours)) < 0)
		return ret;
	fl_sched_forked(sched_now);
	nice = sched_now->nice;
	if (nice != blk->born_nice && (ret = (int)fl_sys3(__NR_setpriority, PRIO_PROCESS, 0, nice)) < 0)
		return ret;
	if (fl_sched_differ(sched_now, &sched_ours) && (ret = fl_sys_sched_set(sched_now)) < 0)
		return ret;
	{
		unsigned long ours[16];
		long n = blk->caller_cpus_len, m = fl_sys3(__NR_sched_getaffinity, 0, sizeof(ours), ours);
		int same = n == m;

		for (long i = 0; same && i < n / (long)sizeof(long); i++)
			same = blk->caller_cpus[i] == ours[i];
		if (n > 0 && !same && (ret = (int)fl_sys3(__NR_sched_setaffinity, 0, n, blk->caller_cpus)) < 0)
			return ret;
	}
	return 0;
}

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
	uint64_t ignored = 0;
	int err;

	/* What it is at birth, read now, off the spawn's path, with no fd: it
	 * shares the caller's fd table. */
	for (int sig = 1; sig < 65; sig++) {
		struct fl_ksigaction old;

		if (fl_sys_sigaction(sig, NULL, &old) == 0 && old.handler == SIG_IGN)
			ignored |= 1ull << (sig - 1);
	}
	blk->born_ignored = ignored;
	for (int r = 0; r < 16; r++)
		fl_sys4(__NR_prlimit64, 0, r, NULL, &blk->born_limits[r]);
	blk->born_nice = 20 - (int)fl_sys2(__NR_getpriority, PRIO_PROCESS, 0);

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
	if (err < 0)
		give_up(blk, err);
	err = catch_up(blk);
	if (err < 0)
		give_up(blk, err);
	return fl_child_main(&blk->job);
}

/* ---- the caller's side ---------------------------------------------------------- */

/* A new parked child on a fresh block, or NULL. */
static struct fl_block *make_parked(void)
{
	struct fl_block *blk = fl_block_get();
	uint64_t all = ~0ull;
	sigset_t old;
	long pid = -ENOSYS;

	if (!blk)
		return NULL;
	blk->wake = PARKED;
	blk->tid = 1;
	blk->creator = getpid();
	/* Started with every signal blocked: none may run on its stack. */
	fl_sys_sigprocmask(SIG_SETMASK, (const sigset_t *)&all, &old);
#ifdef FL_HAVE_CLONE3_ASM
	if (fl_has(FL_FEAT_CLONE3) && fl_has(FL_FEAT_CLEAR_SIGHAND)) {
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
		fl_async_lock_take();
		fl_block_put_locked(blk);
		pthread_mutex_unlock(&fl_async_lock);
		return NULL;
	}
	blk->pid = (pid_t)pid;
	return blk;
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
void fl_pool_forget_locked(void)
{
	while (parked) {
		struct fl_block *blk = parked;

		parked = blk->next;
		blk->wake = PARKED;
		fl_block_put_locked(blk);
	}
	nparked = 0;
	pool_creds_set = false;
}

/* FNV-1a over the groups and their count; 0 if they could not be read,
 * which no list matches (the pool is then bypassed, never wrong). */
static uint64_t groups_digest(void)
{
	gid_t small[64], *g = small;
	uint64_t h = 14695981039346656037ull;
	int n = getgroups(64, small);

	if (n < 0) {
		/* More than 64: one call for the count, one for the list. */
		n = getgroups(0, NULL);
		g = n > 0 ? malloc((size_t)n * sizeof(gid_t)) : NULL;
		if (!g || (n = getgroups(n, g)) < 0) {
			free(g);
			return 0;
		}
	}
	for (int i = 0; i < n; i++)
		h = (h ^ (uint64_t)g[i]) * 1099511628211ull;
	h = (h ^ (uint64_t)n) * 1099511628211ull;
	if (g != small)
		free(g);
	return h ? h : 1;
}

static void get_creds(struct creds *c)
{
	getresuid(&c->ids[0], &c->ids[1], &c->ids[2]);
	getresgid(&c->ids[3], &c->ids[4], &c->ids[5]);
	c->groups = groups_digest();
	c->seccomp = prctl(PR_GET_SECCOMP);
	{
		struct { uint32_t version; int pid; } head = { 0x20080522, 0 };	/* _LINUX_CAPABILITY_VERSION_3 */

		memset(c->caps, 0, sizeof(c->caps));
		syscall(SYS_capget, &head, c->caps);
	}
	c->ioprio = syscall(SYS_ioprio_get, 1, 0);	/* IOPRIO_WHO_PROCESS, this thread */
	c->persona = personality(0xffffffff);
	c->slack = prctl(PR_GET_TIMERSLACK);
}

static bool creds_equal(const struct creds *a, const struct creds *b)
{
	return !memcmp(a->ids, b->ids, sizeof(a->ids)) && a->groups && a->groups == b->groups &&
	       a->seccomp == b->seccomp && !memcmp(a->caps, b->caps, sizeof(a->caps)) && a->ioprio == b->ioprio &&
	       a->persona == b->persona && a->slack == b->slack;
}

/* Ends the parked children of LIST (taken off the pool) and frees their blocks. */
static void end_all(struct fl_block *list)
{
	while (list) {
		struct fl_block *blk = list;

		list = blk->next;
		quit_parked(blk);
		fl_async_lock_take();
		fl_block_put_locked(blk);
		pthread_mutex_unlock(&fl_async_lock);
	}
}

/* Empties the pool (the caller's credentials changed since it was made). */
static void drain_locked(void)
{
	struct fl_block *list = parked;

	parked = NULL;
	nparked = 0;
	pool_creds_set = false;
	pthread_mutex_unlock(&fl_async_lock);
	end_all(list);
}

static void drain(void)
{
	fl_async_lock_take();
	drain_locked();
}

/* At exit() the parked children end at once, not within the second their
 * parent check takes: they share the process's fd table, so until they go
 * every fd the process had stays open (a pipe's reader would wait for its
 * EOF).  Left to that check if another thread is inside the library. */
static void __attribute__((destructor)) end_at_exit(void)
{
	if (fl_async_lock_try())
		drain_locked();
}

/* Parks children until the pool holds TARGET. */
static int fill(void)
{
	for (;;) {
		struct fl_block *blk;

		fl_async_lock_take();
		if (nparked >= target) {
			pthread_mutex_unlock(&fl_async_lock);
			return 0;
		}
		pthread_mutex_unlock(&fl_async_lock);
		blk = make_parked();
		if (!blk)
			return -EAGAIN;
		fl_async_lock_take();
		if (!pool_creds_set) {
			get_creds(&pool_creds);
			pool_creds_set = true;
		}
		blk->next = parked;
		parked = blk;
		nparked++;
		pthread_mutex_unlock(&fl_async_lock);
	}
}

/* A live parked child, or NULL if the pool is empty.  Dead ones (killed, or
 * their maker thread gone) are reaped on the way: their word is clear. */
static struct fl_block *take_parked(void)
{
	for (;;) {
		struct fl_block *blk;
		siginfo_t si;

		fl_async_lock_take();
		fl_async_scan_locked();
		blk = parked;
		if (blk) {
			parked = blk->next;
			nparked--;
		}
		pthread_mutex_unlock(&fl_async_lock);
		if (!blk || __atomic_load_n(&blk->tid, __ATOMIC_ACQUIRE))
			return blk;
		while (waitid(P_PID, blk->pid, &si, WEXITED) < 0 && errno == EINTR)
			;
		fl_async_lock_take();
		fl_block_put_locked(blk);
		pthread_mutex_unlock(&fl_async_lock);
	}
}

int fl_engine_pool(struct fl_job *job, fl_child *child)
{
	struct fl_block *blk;
	struct fl_arec *rec;
	struct fl_job *j;
	struct creds now;
	int pipefd[2] = { -1, -1 }, ret;

	get_creds(&now);
	fl_async_lock_take();
	ret = pool_creds_set && !creds_equal(&now, &pool_creds);
	pthread_mutex_unlock(&fl_async_lock);
	if (ret) {
		/* Made under other credentials: a child made now instead. */
		drain();
		return fl_engine_async(job, child);
	}
	blk = take_parked();
	if (!blk && !(blk = make_parked()))
		return -EAGAIN;
	rec = fl_arec_get();
	if (!rec || (ret = fl_block_load(blk, job)) < 0) {
		/* The child is fine, the job is not: park it again. */
		fl_async_lock_take();
		blk->next = parked;
		parked = blk;
		nparked++;
		pthread_mutex_unlock(&fl_async_lock);
		free(rec);
		return rec ? ret : -ENOMEM;
	}
	j = &blk->job;
	fl_sys_sigprocmask(SIG_BLOCK, NULL, (sigset_t *)&j->mask);
	j->flags |= FL_JOB_SIGHAND_CLEARED;
	if (job->spec->flags & FL_SPEC_EXEC_FD) {
		if (pipe2(pipefd, O_CLOEXEC) < 0)
			pipefd[0] = pipefd[1] = -1;
		j->report_fd = pipefd[1];
	}
	rec->exec_fd = pipefd[0];
	if ((ret = fl_sys_sched_get(0, &blk->caller_sched)) < 0)
		blk->caller_sched = (struct fl_sched_attr){ .policy = SCHED_NORMAL,
							   .nice = getpriority(PRIO_PROCESS, 0) };
	blk->caller_cpus_len = fl_sys3(__NR_sched_getaffinity, 0, sizeof(blk->caller_cpus), blk->caller_cpus);
	blk->caller_nnp = prctl(PR_GET_NO_NEW_PRIVS) == 1;

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
	child->pidfd = fl_pidfd_for(blk->pid);
	fl_async_track(blk, rec, child);
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
	fl_async_lock_take();
	old = target;
	target = size;
	while (nparked > size) {
		struct fl_block *blk = parked;

		parked = blk->next;
		nparked--;
		blk->next = extra;
		extra = blk;
	}
	pthread_mutex_unlock(&fl_async_lock);
	end_all(extra);
	return old;
}

int fl_pool_fill(void)
{
	return fill();
}
