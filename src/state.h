/* SPDX-License-Identifier: MIT */
/* The caller's state of the moment, read for a child made away from it. */
#ifndef FL_STATE_H
#define FL_STATE_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/resource.h>
#include <sys/types.h>

#include "sys.h"

#define NLIMITS 16		/* RLIM_NLIMITS on Linux */
#define CPUSET_BYTES 128	/* 1024 CPUs */

/* Fields of /proc/thread-self/status: umask, ignored signals, ids, groups,
 * no_new_privs, capabilities (one read instead of 64 rt_sigaction calls and
 * several others). */
struct status_info {
	uint32_t umask;
	uint64_t ignored;
	bool nnp;
	struct fl_caps caps;
	uint32_t filters;	/* Seccomp_filters (a kernel without them: 0) */
	uint32_t uid[4], gid[4];
	uint32_t ngroups;
	gid_t groups[NGROUPS_MAX];
};

int fl_read_status(struct status_info *st);
void fl_read_limits(struct rlimit *limits, int32_t *nice, uint8_t *cpuset, int32_t *cpuset_len);
void fl_read_misc(int32_t *ioprio, uint32_t *persona, int64_t *slack);

#endif /* FL_STATE_H */
