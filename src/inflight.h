/* SPDX-License-Identifier: MIT */
/*
 * In-flight children (inflight.c), shared by the async and pool engines: the
 * blocks their children run on, and the records that carry an exec outcome
 * from the moment the kernel reports it to the moment the handle asks.
 */
#ifndef FL_INFLIGHT_H
#define FL_INFLIGHT_H

#include <pthread.h>
#include <sys/resource.h>
#include <stdbool.h>
#include <stdint.h>

#include "internal.h"
#include "state.h"
#include "sys.h"

/*
 * A block: one mapping [guard | stack | struct fl_block].  The child runs on
 * the stack and reads the job in the block, so both stay valid after the
 * spawn call returns: the block is handed back only once the kernel has
 * cleared `tid` (CLONE_CHILD_CLEARTID: at exec or exit, when the child stops
 * using the parent's memory), or once the child is known dead.
 */
#define FL_BLOCK_STACK (64 * 1024)	/* as FL_STACK_SIZE: see child.c */
#define FL_BLOCK_AREA (60 * 1024)	/* argv/envp copies; larger ones go to the heap */
#define FL_POOL_GROUPS 64		/* a caller with more groups is not served by the pool */

struct fl_arec;

struct fl_block {
	volatile uint32_t tid;		/* nonzero until the kernel clears it */
	volatile uint32_t wake;		/* pool: the parked child's futex word */
	struct fl_block *prev, *next;	/* on the busy list, the free list, or the pool's */
	struct fl_arec *rec;		/* the handle's record, while busy */
	char *heap;			/* copies that did not fit in area */
	void *owner;			/* engine-private (the pool's bookkeeping) */
	pid_t pid;			/* the child on it (pool: the parked one) */
	/* pool: the process that made the parked child, what the child is
	 * (read at its birth, or the error that read met), and what the
	 * spawning thread is at the hand-off (state.h) */
	pid_t creator;
	uint32_t filters;		/* the seccomp filters of the thread that made it */
	int have_error;
	struct fl_state have, want;
	gid_t have_groups[FL_POOL_GROUPS], want_groups[FL_POOL_GROUPS];
	struct fl_job job;		/* what the child runs */
	char area[FL_BLOCK_AREA];
};

/* The record of one async or pooled child, pointed to by fl_child._priv[0]
 * until the handle has taken the outcome.  Written under the engine lock. */
struct fl_arec {
	struct fl_block *blk;		/* while the outcome is not known */
	struct fl_arec *next;		/* free list */
	pid_t pid;
	int pidfd;			/* the handle's: the library reaps a failed child through it */
	int exec_fd;			/* FL_SPEC_EXEC_FD: the pipe's read end, else -1 */
	int error, step;		/* the outcome, once settled */
	int status;			/* the wait status, if the library reaped the child */
	bool settled, reaped;
	bool late_pidfd;		/* FL_JOB_LATE_PIDFD: not reaped before fl_inflight_late_pidfd */
};

/* A free block (mapped if none is free), or NULL.  Takes the lock. */
struct fl_block *fl_block_get(void);
/* Gives BLK back: kept for reuse or unmapped.  Called with the lock held. */
void fl_block_put_locked(struct fl_block *blk);
/* Copies JOB into BLK, with every array it points to that the caller may
 * free or change after the spawn returns (argv, envp, the /bin/sh argv).
 * 0 or -ENOMEM. */
int fl_block_load(struct fl_block *blk, const struct fl_job *job);
/* A record (from the free list), or NULL.  Takes the lock. */
struct fl_arec *fl_arec_get(void);
/* Gives REC back.  Called with the lock held. */
void fl_arec_put_locked(struct fl_arec *rec);
/* For a new child: settles what finished since the last spawn (failed
 * children are reaped there even if their handles are never asked), then
 * takes a block and a record; one round of the lock for the three.  0, or
 * -ENOMEM with neither taken. */
int fl_inflight_begin(struct fl_block **blk, struct fl_arec **rec);
/* Gives back what fl_inflight_begin took for a child that was not made
 * (either may be NULL).  Takes the lock. */
void fl_inflight_give_back(struct fl_block *blk, struct fl_arec *rec);
/* Puts a started child's block on the busy list and ties it to REC and the
 * handle.  Takes the lock. */
void fl_inflight_track(struct fl_block *blk, struct fl_arec *rec, fl_child *child);
/* Settles every busy block whose child is done.  Called with the lock held. */
void fl_inflight_scan_locked(void);
/* The lock of blocks and records (the pool keeps its parked list under it
 * too), and after a fork the clean-up of what the parent left; the pool's
 * parked children are forgotten by FORGET_LOCKED, called with the lock
 * held in a forked child. */
void fl_inflight_lock(void);
void fl_inflight_unlock(void);
void fl_inflight_on_fork_locked(void (*forget_locked)(void));
/* The lock without waiting: false if another thread holds it. */
bool fl_inflight_trylock(void);

#endif /* FL_INFLIGHT_H */
