/* SPDX-License-Identifier: MIT */
/*
 * The one state transfer of the engines that make a child away from the
 * caller's own clone (pool, zygote, primed): the caller's state of the
 * moment, captured in the caller (state.c), taken on by the child
 * (child-state.c).  The child's fd table, cwd and umask travel apart: the
 * pool unshares them from the caller, the zygote receives a snapshot
 * (zygote-client.c).
 *
 * What a child takes is what a clone of the spawning thread would have at
 * that instant: its signal dispositions (ignored or not), rlimits, nice
 * value and scheduling (as a fork gets them: reset-on-fork applied), CPU
 * affinity, I/O priority, personality, timer slack, no_new_privs, uids,
 * gids, supplementary groups and the five capability sets.  Seccomp filters
 * cannot be given to a process: an engine whose children would lack the
 * caller's must not use them (the zygote forks a new zygote, the pool
 * empties itself).
 */
#ifndef FL_STATE_H
#define FL_STATE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/resource.h>
#include <sys/types.h>

#include "sys.h"

#define FL_NLIMITS 16		/* RLIM_NLIMITS on Linux */
#define FL_CPUSET_BYTES 128	/* 1024 CPUs */

struct fl_state {
	uint64_t ignored;		/* signals set to SIG_IGN, kernel mask bits */
	uint32_t nnp;			/* no_new_privs */
	uint32_t filters;		/* seccomp filters (never given: see above) */
	uint32_t uid[4], gid[4];	/* real, effective, saved, filesystem */
	uint32_t ngroups;		/* the groups themselves are kept apart */
	struct fl_caps caps;
	struct rlimit limits[FL_NLIMITS];
	struct fl_sched_attr sched;	/* as a fork of the thread has it; its nice too */
	int32_t cpuset_len;		/* sched_getaffinity's answer, or -errno */
	uint8_t cpuset[FL_CPUSET_BYTES];
	int32_t ioprio;
	uint32_t persona;
	int64_t slack;			/* timer slack, ns */
};

/* state.c, in the caller: the calling thread's state now, its groups into
 * GROUPS (room for CAP).  0, or -errno; st->ngroups may exceed CAP: then
 * call again with room for them. */
int fl_state_capture(struct fl_state *st, gid_t *groups, uint32_t cap);
/* The same without an fd (~200 syscalls instead of a /proc read), for a
 * child that shares the caller's fd table.  Leaves st->filters 0. */
int fl_state_self(struct fl_state *st, gid_t *groups, uint32_t cap);
/* The seccomp filters of the calling thread (0 without any, or on a kernel
 * that does not say). */
uint32_t fl_state_filters(void);
/* The calling thread's ignored signals (kernel mask bits) in *IGNORED: 0, or
 * -errno (no fd free, no /proc). */
int fl_state_ignored(uint64_t *ignored);

/*
 * child-state.c, child side (raw syscalls, no libc, no sanitizer):
 * fl_state_apply makes the calling process's state WANT (groups WGROUPS)
 * where it differs from HAVE (groups HGROUPS), what it has; credentials
 * last, as they can take away the right to do the rest.  0 or -errno.
 */
int fl_state_apply(const struct fl_state *want, const gid_t *wgroups, const struct fl_state *have,
		   const gid_t *hgroups);

#endif /* FL_STATE_H */
