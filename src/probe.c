// SPDX-License-Identifier: MIT
/*
 * Kernel features, probed once and cached.  A feature counts as missing on
 * the errnos that mean "not supported" (ENOSYS; EINVAL for an unknown flag;
 * EPERM, which container seccomp profiles answer for clone3), so a fallback is
 * taken there and nowhere else.  Any other failure (EMFILE in a process whose
 * fd table is full, EAGAIN at its RLIMIT_NPROC, ENOMEM) says nothing about
 * the kernel: the feature is off for that call and probed again when next
 * asked for, until its answer is known; an answer once known is kept.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "internal.h"
#include "sys.h"

/* One bit per feature: whether it is there, whether that is known.  Read
 * without the lock; a probe runs under it and publishes whole words. */
#define BIT(f) (1u << (f))
static _Atomic uint32_t have, known;
static pthread_mutex_t probe_lock = PTHREAD_MUTEX_INITIALIZER;
static int why[FL_FEAT_COUNT];	/* a feature still unknown: the errno that left it so */

/* What one probe found: the features there, the ones it could tell. */
struct found {
	uint32_t have, known;
};

static void found_set(struct found *r, enum fl_feature f, bool there)
{
	r->have = there ? r->have | BIT(f) : r->have & ~BIT(f);
	r->known |= BIT(f);
}

/* F is still unknown, for ERR (not an answer). */
static void found_unsure(enum fl_feature f, long err)
{
	why[f] = (int)err;
}

/* The errnos that mean "the kernel has no such thing" (see the top). */
static bool means_missing(long err)
{
	return err == -ENOSYS || err == -EINVAL || err == -EPERM;
}

static const char *const feature_names[FL_FEAT_COUNT] = {
	[FL_FEAT_CLONE3] = "clone3",
	[FL_FEAT_CLONE_PIDFD] = "clone_pidfd",
	[FL_FEAT_CLEAR_SIGHAND] = "clone_clear_sighand",
	[FL_FEAT_INTO_CGROUP] = "clone_into_cgroup",
	[FL_FEAT_PIDFD_OPEN] = "pidfd_open",
	[FL_FEAT_PIDFD_SEND_SIGNAL] = "pidfd_send_signal",
	[FL_FEAT_WAITID_PIDFD] = "waitid_pidfd",
	[FL_FEAT_CLOSE_RANGE] = "close_range",
	[FL_FEAT_EXECVEAT] = "execveat",
	[FL_FEAT_IOURING_WAITID] = "io_uring_waitid",
	[FL_FEAT_PIDFD_INFO_EXIT] = "pidfd_info_exit",
};

/* PIDFD_GET_INFO (Linux 6.13): the first published struct pidfd_info, 64
 * bytes; exit_code took the place of a spare field in 6.15. */
struct fl_pidfd_info {
	uint64_t mask, cgroupid;
	uint32_t pid, tgid, ppid, ruid, rgid, euid, egid, suid, sgid, fsuid, fsgid;
	int32_t exit_code;
};
#define FL_PIDFD_GET_INFO _IOWR(0xFF, 11, struct fl_pidfd_info)

/* io_uring's probe of supported opcodes (IORING_REGISTER_PROBE). */
#define FL_IORING_REGISTER_PROBE 8
#define FL_IO_URING_OP_SUPPORTED 1
struct fl_uring_params {
	uint32_t sq_entries, cq_entries, flags, sq_thread_cpu, sq_thread_idle, features, wq_fd;
	uint32_t resv[3];
	uint64_t sq_off[5], cq_off[5];
};
struct fl_uring_probe {
	uint8_t last_op, ops_len;
	uint16_t resv;
	uint32_t resv2[3];
	struct { uint8_t op, resv; uint16_t flags; uint32_t resv2; } ops[256];
};

static void probe_uring(struct found *r)
{
	struct fl_uring_params params;
	struct fl_uring_probe *probe;
	int ring;
	long ret;

	memset(&params, 0, sizeof(params));
	ring = (int)fl_sys2(__NR_io_uring_setup, 1, &params);
	if (ring < 0) {
		if (means_missing(ring))
			found_set(r, FL_FEAT_IOURING_WAITID, false);
		else
			found_unsure(FL_FEAT_IOURING_WAITID, ring);
		return;
	}
	probe = calloc(1, sizeof(*probe));
	ret = probe ? fl_sys4(__NR_io_uring_register, ring, FL_IORING_REGISTER_PROBE, probe, 256) : -ENOMEM;
	if (ret >= 0)
		found_set(r, FL_FEAT_IOURING_WAITID, probe->last_op >= FL_IORING_OP_WAITID &&
			  (probe->ops[FL_IORING_OP_WAITID].flags & FL_IO_URING_OP_SUPPORTED));
	else if (means_missing(ret))
		found_set(r, FL_FEAT_IOURING_WAITID, false);
	free(probe);
	close(ring);
}

static int exit_at_once(void *arg)
{
	(void)arg;
	return 0;
}

/* The features clone3 brings, all missing (a kernel or sandbox without it). */
static void no_clone3(struct found *r)
{
	found_set(r, FL_FEAT_CLONE3, false);
	found_set(r, FL_FEAT_CLEAR_SIGHAND, false);
	found_set(r, FL_FEAT_INTO_CGROUP, false);
	found_set(r, FL_FEAT_PIDFD_INFO_EXIT, false);
}

#ifdef FL_HAVE_CLONE3_ASM
/* The features clone3 brings, unknown still, for ERR. */
static void clone3_unsure(long err)
{
	found_unsure(FL_FEAT_CLONE3, err);
	found_unsure(FL_FEAT_CLONE_PIDFD, err);
	found_unsure(FL_FEAT_CLEAR_SIGHAND, err);
	found_unsure(FL_FEAT_INTO_CGROUP, err);
}

/* A throwaway child of clone3 with CLONE_VM | CLONE_VFORK | FLAGS (and
 * CGROUP, for CLONE_INTO_CGROUP) on STACK, reaped: 0, or -errno.  With
 * CLONE_PIDFD its pidfd, in *PIDFD, outlives the reaping. */
static long clone3_child(char *stack, uint64_t flags, uint64_t cgroup, int *pidfd)
{
	struct fl_clone_args ca = {
		.flags = CLONE_VM | CLONE_VFORK | flags,
		.pidfd = (uintptr_t)pidfd,
		/* No SIGCHLD: a program's SIGCHLD handler (and a posix_spawn
		 * caller, under the shim) never sees this child. */
		.exit_signal = 0,
		.stack = (uintptr_t)stack,
		.stack_size = FL_STACK_SIZE + FL_STACK_GUARD,
		.cgroup = cgroup,
	};
	long pid = fl_clone3(&ca, exit_at_once, NULL);

	if (pid < 0)
		return pid;
	waitpid((pid_t)pid, NULL, __WALL);	/* __WALL: a child without exit signal */
	return 0;
}
#endif

/*
 * clone3 and its flags that matter, known only by making a process: one
 * throwaway child per flag set tried.  Never with CLONE_PIDFD, which needs
 * a free fd: a process whose fd table is full must still learn that it has
 * clone3 (CLONE_PIDFD's answer comes from this and the pidfd probe's; see
 * probe).  What is known already is not asked again.
 */
static void probe_clone3(struct found *r)
{
#ifdef FL_HAVE_CLONE3_ASM
	uint64_t clear = CLONE_CLEAR_SIGHAND;
	char *stack;
	long ret;

	/* A NULL struct: EINVAL or EFAULT where clone3 exists. */
	ret = r->known & BIT(FL_FEAT_CLONE3) ? 0 : fl_sys2(__NR_clone3, NULL, 0);
	if (ret == -ENOSYS || ret == -EPERM) {
		no_clone3(r);
		return;
	}
	stack = fl_stack_map();
	if (!stack) {
		clone3_unsure(-ENOMEM);
		return;
	}
	if (!(r->known & BIT(FL_FEAT_CLONE3))) {
		ret = clone3_child(stack, clear, 0, NULL);
		if (ret == -EINVAL) {
			clear = 0;	/* Linux 5.3 and 5.4 */
			ret = clone3_child(stack, clear, 0, NULL);
		}
		if (ret == 0) {
			found_set(r, FL_FEAT_CLONE3, true);
			found_set(r, FL_FEAT_CLEAR_SIGHAND, clear);
		} else if (means_missing(ret)) {
			no_clone3(r);
		} else {
			clone3_unsure(ret);	/* EAGAIN (RLIMIT_NPROC), ENOMEM */
		}
	}
	if ((r->have & BIT(FL_FEAT_CLONE3)) && !(r->known & BIT(FL_FEAT_INTO_CGROUP))) {
		/* With a cgroup fd that cannot be open: EBADF where the flag is
		 * known, EINVAL where it is not.  No process is made either way. */
		ret = clone3_child(stack, CLONE_INTO_CGROUP, 0x7fffffff, NULL);
		if (ret == -EBADF || ret == 0 || means_missing(ret))
			found_set(r, FL_FEAT_INTO_CGROUP, ret == -EBADF);
		else
			found_unsure(FL_FEAT_INTO_CGROUP, ret);
	}
	munmap(stack, FL_STACK_SIZE + FL_STACK_GUARD);
#else
	no_clone3(r);
#endif
}

/* Whether a reaped child's exit status can be read through its pidfd: a
 * child of its own, with CLONE_PIDFD, made only when the feature is asked
 * for (no spawn needs it). */
static void probe_exit_info(struct found *r)
{
#ifdef FL_HAVE_CLONE3_ASM
	struct fl_pidfd_info info = { .mask = PIDFD_INFO_EXIT };
	char *stack = fl_stack_map();
	int pidfd = -1;
	long ret = stack ? clone3_child(stack, CLONE_PIDFD, 0, &pidfd) : -ENOMEM;

	if (ret == 0 && pidfd >= 0)
		found_set(r, FL_FEAT_PIDFD_INFO_EXIT,
			  ioctl(pidfd, FL_PIDFD_GET_INFO, &info) == 0 && (info.mask & PIDFD_INFO_EXIT));
	else if (means_missing(ret))
		found_set(r, FL_FEAT_PIDFD_INFO_EXIT, false);
	else
		found_unsure(FL_FEAT_PIDFD_INFO_EXIT, ret);	/* EMFILE: no fd for the pidfd */
	if (pidfd >= 0)
		close(pidfd);
	if (stack)
		munmap(stack, FL_STACK_SIZE + FL_STACK_GUARD);
#else
	(void)r;
#endif
}

static void probe_pidfds(struct found *r)
{
	int self = fl_sys_pidfd_open(getpid(), 0);
	siginfo_t si;

	if (self < 0) {
		enum fl_feature group[] = { FL_FEAT_PIDFD_OPEN, FL_FEAT_PIDFD_SEND_SIGNAL, FL_FEAT_WAITID_PIDFD,
					    FL_FEAT_CLONE_PIDFD };

		for (int i = 0; i < 4; i++)
			if (!means_missing(self))
				found_unsure(group[i], self);
			else if (group[i] != FL_FEAT_CLONE_PIDFD)
				found_set(r, group[i], false);
		return;
	}
	found_set(r, FL_FEAT_PIDFD_OPEN, true);
	found_set(r, FL_FEAT_PIDFD_SEND_SIGNAL, fl_sys_pidfd_send_signal(self, 0) == 0);
	/* P_PIDFD of a process that is not our child: ECHILD if known. */
	found_set(r, FL_FEAT_WAITID_PIDFD, waitid(P_PIDFD, self, &si, WEXITED | WNOHANG) < 0 && errno == ECHILD);
	close(self);
}

/* Probes what is not known yet (under probe_lock) and publishes it; the
 * exit info, which no spawn needs and which costs a child of its own, only
 * when it is the feature ASKED. */
static void probe(enum fl_feature asked)
{
	struct found r = { atomic_load_explicit(&have, memory_order_relaxed),
			   atomic_load_explicit(&known, memory_order_relaxed) };
	const uint32_t clone3_bits = BIT(FL_FEAT_CLONE3) | BIT(FL_FEAT_CLEAR_SIGHAND) | BIT(FL_FEAT_INTO_CGROUP);
	const uint32_t pidfd_bits = BIT(FL_FEAT_PIDFD_OPEN) | BIT(FL_FEAT_WAITID_PIDFD);

	if ((r.known & clone3_bits) != clone3_bits)
		probe_clone3(&r);
	if (asked == FL_FEAT_PIDFD_INFO_EXIT && (r.have & BIT(FL_FEAT_CLONE3)) &&
	    !(r.known & BIT(FL_FEAT_PIDFD_INFO_EXIT)))
		probe_exit_info(&r);
	if ((r.known & pidfd_bits) != pidfd_bits)
		probe_pidfds(&r);
	/* Linux 5.3 has pidfds but cannot wait on them (P_PIDFD is 5.4): hand
	 * out none there, so every pidfd the library holds can be waited on.
	 * CLONE_PIDFD: clone3's, or without clone3 clone()'s (Linux 5.2, told
	 * by pidfd_open's presence).  (WAITID_PIDFD known: PIDFD_OPEN too.) */
	if (r.known & BIT(FL_FEAT_WAITID_PIDFD)) {
		bool can_wait = r.have & BIT(FL_FEAT_WAITID_PIDFD);

		found_set(&r, FL_FEAT_PIDFD_OPEN, can_wait && (r.have & BIT(FL_FEAT_PIDFD_OPEN)));
		if (r.known & BIT(FL_FEAT_CLONE3))
			found_set(&r, FL_FEAT_CLONE_PIDFD,
				  can_wait && (r.have & (BIT(FL_FEAT_CLONE3) | BIT(FL_FEAT_PIDFD_OPEN))));
	}
	if (!(r.known & BIT(FL_FEAT_CLOSE_RANGE))) {
		long ret = fl_sys_close_range(~0u, ~0u, 0);

		if (ret == 0 || means_missing(ret))
			found_set(&r, FL_FEAT_CLOSE_RANGE, ret == 0);
	}
	if (!(r.known & BIT(FL_FEAT_EXECVEAT))) {
		long ret = fl_sys_execveat(-1, "", NULL, NULL, AT_EMPTY_PATH);

		if (ret == -EBADF || means_missing(ret))
			found_set(&r, FL_FEAT_EXECVEAT, ret == -EBADF);
	}
	if (!(r.known & BIT(FL_FEAT_IOURING_WAITID)))
		probe_uring(&r);
	/* Unknown still: off for now (the fallback needs nothing more). */
	atomic_store_explicit(&have, r.have & r.known, memory_order_relaxed);
	atomic_store_explicit(&known, r.known, memory_order_release);
}

int fl_probe(enum fl_feature f)
{
	int err;

	if (fl_has(f))
		return 1;
	if (atomic_load_explicit(&known, memory_order_acquire) & BIT(f))
		return 0;
	pthread_mutex_lock(&probe_lock);
	err = why[f];
	pthread_mutex_unlock(&probe_lock);
	return err < 0 ? err : -EAGAIN;
}

bool fl_has(enum fl_feature f)
{
	/* Only an unknown answer costs a probe: a feature whose probe keeps
	 * failing (a full fd table) slows only the calls that ask for it. */
	if (!(atomic_load_explicit(&known, memory_order_acquire) & BIT(f))) {
		pthread_mutex_lock(&probe_lock);
		if (!(atomic_load_explicit(&known, memory_order_relaxed) & BIT(f)))
			probe(f);
		pthread_mutex_unlock(&probe_lock);
	}
	return atomic_load_explicit(&have, memory_order_relaxed) & BIT(f);
}

FL_API int fl_feature(int feature)
{
	if (feature < 0 || feature >= FL_FEAT_COUNT)
		return -EINVAL;
	return fl_has(feature);
}

FL_API const char *fl_feature_name(int feature)
{
	if (feature < 0 || feature >= FL_FEAT_COUNT)
		return NULL;
	return feature_names[feature];
}
