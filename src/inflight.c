// SPDX-License-Identifier: MIT
/*
 * In-flight children: those still running on our memory after the spawn
 * call returned (the async engine's, the pool's).  Each runs on a block (its
 * stack and a copy of its job, see inflight.h); a record carries its exec
 * outcome from the moment the kernel reports it to the moment the handle
 * asks.
 *
 * A block is reused only after the kernel has cleared the child's
 * CLONE_CHILD_CLEARTID word, which it does in mm_release(), when the child
 * leaves our address space by exec or exit; from then on the child never
 * touches the stack again.  (Some kernels leave the word alone when the child
 * dumps core; a waiter that times out therefore asks the pidfd whether the
 * child is dead.)  The failure report is in the block's job, written by the
 * child before it exits; the library reaps a failed child itself, on the next
 * spawn's scan or when the handle asks, so a failed child never stays a zombie
 * and its block never leaks.
 *
 * The template and the call's action list are read in place by a child that
 * has not exec'd yet: fl_spec_free and fl_actions_free wait for those
 * children (fl_inflight_quiesce).
 */
#include <errno.h>
#include <linux/futex.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "inflight.h"
#include "sys.h"


#define MAP_BYTES (FL_STACK_GUARD + FL_BLOCK_STACK + sizeof(struct fl_block))
#define KEEP_FREE 32		/* free blocks kept mapped; more are unmapped */
#define WAIT_SLICE_NS 20000000	/* a waiter rechecks the pidfd this often (20 ms) */

static pthread_mutex_t inflight_lock = PTHREAD_MUTEX_INITIALIZER;

static struct fl_block *busy, *free_blocks;
static int nfree;
static struct fl_arec *free_recs;
static bool stale;		/* a fork copied the busy list: its children are the parent's */
static bool used;		/* an async or pooled child was ever made (fl_inflight_quiesce's fast path) */
static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;
static void (*forget_hook)(void);	/* the pool's, once it has parked a child */

/* ---- fork: the busy blocks of the parent are not ours -------------------- */

static void before_fork(void)
{
	pthread_mutex_lock(&inflight_lock);
}

static void after_fork_parent(void)
{
	fl_inflight_unlock();
}

/* Runs in every forked child, the fork engine's included: so it only sets a
 * flag; the clean-up waits for the next use. */
static void after_fork_child(void)
{
	stale = true;
	fl_inflight_unlock();
}

static void register_atfork(void)
{
	pthread_atfork(before_fork, after_fork_parent, after_fork_child);
}

/* The children on the busy list belong to the process we were forked from:
 * their words will never clear here.  Their handles answer -ECHILD. */
static void drop_stale_locked(void)
{
	struct fl_block *blk, *next;

	for (blk = busy; blk; blk = next) {
		next = blk->next;
		if (blk->rec) {
			blk->rec->blk = NULL;
			blk->rec->settled = blk->rec->reaped = true;
			blk->rec->error = ECHILD;
			blk->rec->step = FL_STEP_SPAWN;
			blk->rec->status = 0;
		}
		free(blk->heap);
		munmap((char *)blk - FL_STACK_GUARD - FL_BLOCK_STACK, MAP_BYTES);
	}
	busy = NULL;
	if (forget_hook)
		forget_hook();
	stale = false;
}

static void lock(void)
{
	pthread_mutex_lock(&inflight_lock);
	if (stale)
		drop_stale_locked();
}

void fl_inflight_lock(void)
{
	pthread_once(&atfork_once, register_atfork);
	lock();
}

void fl_inflight_unlock(void)
{
	pthread_mutex_unlock(&inflight_lock);
}

void fl_inflight_on_fork_locked(void (*forget_locked)(void))
{
	forget_hook = forget_locked;
}

bool fl_inflight_trylock(void)
{
	if (pthread_mutex_trylock(&inflight_lock) != 0)
		return false;
	if (stale)
		drop_stale_locked();
	return true;
}

/* ---- blocks --------------------------------------------------------------- */

static struct fl_block *map_block(void)
{
	char *base = mmap(NULL, MAP_BYTES, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK,
			  -1, 0);

	if (base == MAP_FAILED)
		return NULL;
	if (mprotect(base, FL_STACK_GUARD, PROT_NONE) < 0) {
		munmap(base, MAP_BYTES);
		return NULL;
	}
	return (struct fl_block *)(base + FL_STACK_GUARD + FL_BLOCK_STACK);
}

/* A free block off its list, or NULL.  Called with the lock held. */
static struct fl_block *block_pop_locked(void)
{
	struct fl_block *blk = free_blocks;

	__atomic_store_n(&used, true, __ATOMIC_RELEASE);
	if (blk) {
		free_blocks = blk->next;
		nfree--;
	}
	return blk;
}

/* BLK (or a new block, if NULL) made ready for a child; NULL if none can be mapped. */
static struct fl_block *block_ready(struct fl_block *blk)
{
	if (!blk)
		blk = map_block();
	if (blk) {
		blk->prev = blk->next = NULL;
		blk->rec = NULL;
		blk->heap = NULL;
		blk->owner = NULL;
	}
	return blk;
}

struct fl_block *fl_block_get(void)
{
	struct fl_block *blk;

	pthread_once(&atfork_once, register_atfork);
	lock();
	blk = block_pop_locked();
	fl_inflight_unlock();
	return block_ready(blk);
}

void fl_block_put_locked(struct fl_block *blk)
{
	free(blk->heap);
	blk->heap = NULL;
	blk->rec = NULL;
	if (nfree >= KEEP_FREE) {
		munmap((char *)blk - FL_STACK_GUARD - FL_BLOCK_STACK, MAP_BYTES);
		return;
	}
	blk->next = free_blocks;
	free_blocks = blk;
	nfree++;
}

/* Room for V (its pointers, and its strings if STRINGS) and its count. */
static size_t vec_bytes(char *const *v, size_t *count, bool strings)
{
	size_t n = 0, bytes = 0;

	for (; v[n]; n++)
		if (strings)
			bytes += strlen(v[n]) + 1;
	*count = n;
	return (n + 1) * sizeof(char *) + bytes;
}

/* Lays V out at *P (pointers first, aligned; its strings after them if
 * STRINGS, else the pointers kept), advancing *P. */
static char **vec_copy(char *const *v, size_t n, char **p, bool strings)
{
	char **out = (char **)*p, *s = *p + (n + 1) * sizeof(char *);

	if (!strings) {
		memcpy(out, v, n * sizeof(char *));
		out[n] = NULL;
		*p = s;
		return out;
	}
	for (size_t i = 0; i < n; i++) {
		size_t len = strlen(v[i]) + 1;

		out[i] = memcpy(s, v[i], len);
		s += len;
	}
	out[n] = NULL;
	*p = s + (-(uintptr_t)s & (sizeof(char *) - 1));
	return out;
}

/*
 * Whether the strings of ENVP must be copied too, or only its array.  glibc
 * never frees a string of environ (setenv keeps every one it made for the
 * life of the process, and the others are the caller's: the initial ones on
 * the stack, putenv's), while setenv may free or move the array itself.  So
 * for environ under glibc the array is copied and its strings are not: a
 * string given to putenv(3) must stay as it is until the child has executed
 * its program (fl_spawn(3)).  Any other libc (musl frees what setenv
 * replaces), and any envp the call gave, is copied whole.
 */
static bool env_strings_copied(char *const *envp)
{
#ifdef __GLIBC__
	return envp != environ;
#else
	(void)envp;
	return true;
#endif
}

int fl_block_load(struct fl_block *blk, const struct fl_job *job)
{
	const struct fl_spec *spec = job->spec;
	struct fl_job *j = &blk->job;
	bool copy_argv = job->argv != spec->argv, copy_envp = job->envp != spec->envp;
	/* fl_spawn's default argv, { spec->path, NULL }: the string is the
	 * template's, which lives as long as the child reads it. */
	bool argv_strings = copy_argv && !(job->argv[0] == spec->path && !job->argv[1]);
	bool envp_strings = copy_envp && env_strings_copied(job->envp);
	size_t argc = 0, envc = 0, need = 0, sh_n = 0;
	char *p;

	memcpy(j, job, sizeof(*j));
	/* The template's own argv and envp live as long as it does (fl_spec_free
	 * waits); what the call gave, the defaults made on fl_spawn's stack and
	 * environ (setenv may move it at any time) are copied. */
	if (copy_argv)
		need += vec_bytes(job->argv, &argc, argv_strings) + sizeof(char *);
	else
		for (; job->argv[argc]; argc++)
			;
	if (copy_envp)
		need += vec_bytes(job->envp, &envc, envp_strings) + sizeof(char *);
	if (job->sh_argv) {
		sh_n = (argc ? argc : 1) + 2;
		need += sh_n * sizeof(char *);
	}
	p = blk->area;
	if (need > sizeof(blk->area)) {
		p = blk->heap = malloc(need);
		if (!p)
			return -ENOMEM;
	}
	if (copy_argv)
		j->argv = vec_copy(job->argv, argc, &p, argv_strings);
	if (copy_envp)
		j->envp = vec_copy(job->envp, envc, &p, envp_strings);
	if (job->sh_argv) {
		/* { "/bin/sh", <path, set by the child>, argv[1..], NULL } */
		j->sh_argv = (char **)p;
		j->sh_argv[0] = (char *)"/bin/sh";
		j->sh_argv[1] = NULL;
		for (size_t i = 1; i < argc; i++)
			j->sh_argv[i + 1] = j->argv[i];
		j->sh_argv[sh_n - 1] = NULL;
	}
	return 0;
}

/* ---- records -------------------------------------------------------------- */

/* A free record off its list, or NULL.  Called with the lock held. */
static struct fl_arec *arec_pop_locked(void)
{
	struct fl_arec *rec = free_recs;

	if (rec)
		free_recs = rec->next;
	return rec;
}

/* REC (or a new record, if NULL) cleared; NULL if none can be allocated. */
static struct fl_arec *arec_ready(struct fl_arec *rec)
{
	if (!rec)
		rec = malloc(sizeof(*rec));
	if (rec)
		memset(rec, 0, sizeof(*rec));
	return rec;
}

struct fl_arec *fl_arec_get(void)
{
	struct fl_arec *rec;

	lock();
	rec = arec_pop_locked();
	fl_inflight_unlock();
	return arec_ready(rec);
}

void fl_inflight_give_back(struct fl_block *blk, struct fl_arec *rec)
{
	fl_inflight_lock();
	if (rec)
		fl_arec_put_locked(rec);
	if (blk)
		fl_block_put_locked(blk);
	fl_inflight_unlock();
}

int fl_inflight_begin(struct fl_block **blk, struct fl_arec **rec)
{
	struct fl_block *b;
	struct fl_arec *r;

	fl_inflight_lock();
	fl_inflight_scan_locked();
	b = block_pop_locked();
	r = arec_pop_locked();
	fl_inflight_unlock();
	b = block_ready(b);
	r = arec_ready(r);
	if (!b || !r) {
		fl_inflight_give_back(b, r);
		return -ENOMEM;
	}
	*blk = b;
	*rec = r;
	return 0;
}

void fl_arec_put_locked(struct fl_arec *rec)
{
	rec->next = free_recs;
	free_recs = rec;
}

void fl_inflight_track(struct fl_block *blk, struct fl_arec *rec, fl_child *child)
{
	rec->blk = blk;
	rec->pid = child->pid;
	rec->pidfd = child->pidfd;
	child->_priv[0] = rec;
	lock();
	blk->rec = rec;
	blk->prev = NULL;
	blk->next = busy;
	if (busy)
		busy->prev = blk;
	busy = blk;
	fl_inflight_unlock();
}

/* ---- settling: the child exec'd or failed --------------------------------- */

static void unlink_busy(struct fl_block *blk)
{
	if (blk->prev)
		blk->prev->next = blk->next;
	else
		busy = blk->next;
	if (blk->next)
		blk->next->prev = blk->prev;
}

/* BLK's child has left our memory (its word is clear, or it is dead): take
 * the outcome into the record, reap a failed child, give the block back. */
/* REC's child failed before exec: it exits with 127 right after clearing the
 * word, so this waits microseconds.  ECHILD if the caller's own SIGCHLD
 * handling took it first, or SIGCHLD is ignored. */
static void reap_failed_locked(struct fl_arec *rec)
{
	siginfo_t si;
	int ret;

	si.si_pid = 0;
	do
		ret = rec->pidfd >= 0 ? waitid(P_PIDFD, rec->pidfd, &si, WEXITED)
				      : waitid(P_PID, rec->pid, &si, WEXITED);
	while (ret < 0 && errno == EINTR);
	rec->status = ret == 0 && si.si_pid ? fl_status_of(&si) : 127 << 8;
	rec->reaped = true;
}

static void settle_locked(struct fl_block *blk)
{
	struct fl_arec *rec = blk->rec;

	unlink_busy(blk);
	if (rec) {
		rec->error = blk->job.slot.error;
		rec->step = blk->job.slot.step;
		/* A child whose pidfd is still to come is reaped once it has one
		 * (fl_inflight_late_pidfd): its pid stays its own until then. */
		if (rec->error && !rec->late_pidfd)
			reap_failed_locked(rec);
		rec->settled = true;
		rec->blk = NULL;
	}
	fl_block_put_locked(blk);
}

void fl_inflight_late_pidfd(fl_child *child)
{
	struct fl_arec *rec = child->_priv[0];
	int fd = fl_pidfd_for(NULL, child->pid);

	if (!rec) {
		child->pidfd = fd;
		return;
	}
	fl_inflight_lock();
	rec->pidfd = fd;
	rec->late_pidfd = false;
	if (rec->settled && rec->error && !rec->reaped)
		reap_failed_locked(rec);
	fl_inflight_unlock();
	child->pidfd = fd;
}

void fl_inflight_scan_locked(void)
{
	struct fl_block *blk, *next;

	for (blk = busy; blk; blk = next) {
		next = blk->next;
		if (__atomic_load_n(&blk->tid, __ATOMIC_ACQUIRE) == 0)
			settle_locked(blk);
	}
}

/* 1 if the child behind REC has exited (a zombie or gone). */
static bool child_dead(const struct fl_arec *rec)
{
	siginfo_t si;

	si.si_pid = 0;
	if (rec->pidfd >= 0)
		return waitid(P_PIDFD, rec->pidfd, &si, WEXITED | WNOHANG | WNOWAIT) < 0 || si.si_pid != 0;
	return waitid(P_PID, rec->pid, &si, WEXITED | WNOHANG | WNOWAIT) < 0 || si.si_pid != 0;
}

/* Sleeps until BLK's word changes from 1 or a slice passes; then, if the word
 * is still set but the child is dead (a core dump keeps the word on some
 * kernels), settles it.  Called and returns with the lock held. */
static void wait_block_locked(struct fl_block *blk)
{
	struct timespec slice = { 0, WAIT_SLICE_NS };
	struct fl_arec *rec = blk->rec;
	long ret;

	fl_inflight_unlock();
	/* Shared, not FUTEX_PRIVATE_FLAG: the kernel wakes the word with a
	 * shared FUTEX_WAKE, and the two kinds of key never match. */
	ret = fl_sys4(__NR_futex, &blk->tid, FUTEX_WAIT, 1, &slice);
	lock();
	if (ret == -ETIMEDOUT && blk->rec == rec && rec && rec->blk == blk && blk->tid && child_dead(rec))
		settle_locked(blk);
}

int fl_inflight_settle(fl_child *child, bool block, fl_report *report, int *status)
{
	struct fl_arec *rec = child->_priv[0];
	int error, step, st, exec_fd;
	bool reaped;

	if (!rec)
		return 0;
	if (!block && rec->exec_fd >= 0) {
		/* The exec pipe is readable once the child wrote its report (it
		 * exits next) or exec closed it (after the word was cleared):
		 * either way the outcome is a moment away, and the caller was told
		 * it could ask now. */
		struct pollfd p = { .fd = rec->exec_fd, .events = POLLIN };

		block = poll(&p, 1, 0) == 1;
	}
	lock();
	for (;;) {
		struct fl_block *blk = rec->blk;

		if (rec->settled)
			break;
		if (__atomic_load_n(&blk->tid, __ATOMIC_ACQUIRE) == 0) {
			settle_locked(blk);
			break;
		}
		if (!block) {
			fl_inflight_unlock();
			return 1;
		}
		wait_block_locked(blk);
	}
	error = rec->error;
	step = rec->step;
	st = rec->status;
	reaped = rec->reaped;
	exec_fd = rec->exec_fd;
	fl_arec_put_locked(rec);
	fl_inflight_unlock();

	child->_priv[0] = NULL;
	if (exec_fd >= 0)
		close(exec_fd);
	if (!error)
		return 0;
	if (report)
		*report = (fl_report){ error, step };
	if (status)
		*status = st;
	if (reaped) {
		/* The library reaped it: the handle is done. */
		if (child->pidfd >= 0)
			close(child->pidfd);
		child->pidfd = -1;
		child->_state |= FL_CHILD_REAPED;
	}
	return -error;
}

void fl_inflight_quiesce(const void *owner)
{
	if (!__atomic_load_n(&used, __ATOMIC_ACQUIRE) || !owner)
		return;
	lock();
	for (;;) {
		struct fl_block *blk;

		fl_inflight_scan_locked();
		for (blk = busy; blk; blk = blk->next)
			if ((const void *)blk->job.spec == owner || (const void *)blk->job.acts[1] == owner)
				break;
		if (!blk)
			break;
		wait_block_locked(blk);
	}
	fl_inflight_unlock();
}
