// SPDX-License-Identifier: MIT
/*
 * Kernel features, probed once and cached.  A feature counts as missing on
 * the errnos that mean "not supported" (ENOSYS; EINVAL for an unknown flag;
 * EPERM, which container seccomp profiles answer for clone3), so a fallback is
 * taken there and nowhere else.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "internal.h"
#include "sys.h"

static bool features[FL_FEAT_COUNT];
static pthread_once_t probe_once = PTHREAD_ONCE_INIT;

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

static bool uring_has_waitid(void)
{
	struct fl_uring_params params;
	struct fl_uring_probe *probe;
	int ring;
	bool has = false;

	memset(&params, 0, sizeof(params));
	ring = (int)fl_sys2(__NR_io_uring_setup, 1, &params);
	if (ring < 0)
		return false;
	probe = calloc(1, sizeof(*probe));
	if (probe && fl_sys4(__NR_io_uring_register, ring, FL_IORING_REGISTER_PROBE, probe, 256) >= 0)
		has = probe->last_op >= FL_IORING_OP_WAITID &&
		      (probe->ops[FL_IORING_OP_WAITID].flags & FL_IO_URING_OP_SUPPORTED);
	free(probe);
	close(ring);
	return has;
}

static int exit_at_once(void *arg)
{
	(void)arg;
	return 0;
}

/* The flags that matter are only known by making a process: one throwaway
 * CLONE_VM child per flag set tried, once per process. */
static void probe_clone3(void)
{
#ifdef FL_HAVE_CLONE3_ASM
	char *stack;
	long ret = fl_sys2(__NR_clone3, NULL, 0);

	/* A NULL struct: EINVAL or EFAULT where clone3 exists. */
	if (ret == -ENOSYS || ret == -EPERM)
		return;
	stack = fl_stack_map();
	if (!stack)
		return;
	for (int with_clear = 1; with_clear >= 0; with_clear--) {
		int pidfd = -1;
		struct fl_clone_args ca = {
			.flags = CLONE_VM | CLONE_VFORK | CLONE_PIDFD |
				 (with_clear ? CLONE_CLEAR_SIGHAND : 0),
			.pidfd = (uintptr_t)&pidfd,
			/* No SIGCHLD: a program's SIGCHLD handler (and a posix_spawn
			 * caller, under the shim) never sees this child. */
			.exit_signal = 0,
			.stack = (uintptr_t)stack,
			.stack_size = FL_STACK_SIZE + FL_STACK_GUARD,
		};
		long pid = fl_clone3(&ca, exit_at_once, NULL);

		if (pid == -EINVAL)
			continue;
		if (pid < 0)
			break;
		features[FL_FEAT_CLONE3] = features[FL_FEAT_CLONE_PIDFD] = true;
		features[FL_FEAT_CLEAR_SIGHAND] = with_clear;
		waitpid((pid_t)pid, NULL, __WALL);	/* __WALL: a child without exit signal */
		if (pidfd >= 0) {
			struct fl_pidfd_info info = { .mask = PIDFD_INFO_EXIT };

			/* The child is reaped: its exit status is all the info left. */
			features[FL_FEAT_PIDFD_INFO_EXIT] =
				ioctl(pidfd, FL_PIDFD_GET_INFO, &info) == 0 && (info.mask & PIDFD_INFO_EXIT);
			close(pidfd);
		}
		break;
	}
	if (features[FL_FEAT_CLONE3]) {
		/* With a cgroup fd that cannot be open: EBADF where the flag is known,
		 * EINVAL where it is not.  No process is made either way. */
		struct fl_clone_args ca = {
			.flags = CLONE_VM | CLONE_VFORK | CLONE_INTO_CGROUP,
			.exit_signal = 0,
			.stack = (uintptr_t)stack,
			.stack_size = FL_STACK_SIZE + FL_STACK_GUARD,
			.cgroup = 0x7fffffff,
		};
		long pid = fl_clone3(&ca, exit_at_once, NULL);

		if (pid > 0)
			waitpid((pid_t)pid, NULL, __WALL);
		features[FL_FEAT_INTO_CGROUP] = pid == -EBADF;
	}
	munmap(stack, FL_STACK_SIZE + FL_STACK_GUARD);
#endif
}

static void probe(void)
{
	int self = fl_sys_pidfd_open(getpid(), 0);
	siginfo_t si;

	probe_clone3();
	if (self >= 0) {
		features[FL_FEAT_PIDFD_OPEN] = true;
		features[FL_FEAT_PIDFD_SEND_SIGNAL] = fl_sys_pidfd_send_signal(self, 0) == 0;
		/* P_PIDFD of a process that is not our child: ECHILD if known. */
		features[FL_FEAT_WAITID_PIDFD] =
			waitid(P_PIDFD, self, &si, WEXITED | WNOHANG) < 0 && errno == ECHILD;
		close(self);
	}
	if (!features[FL_FEAT_CLONE3]) {
		/* Linux 5.2 has CLONE_PIDFD in clone() without clone3 */
		features[FL_FEAT_CLONE_PIDFD] = features[FL_FEAT_PIDFD_OPEN];
	}
	/* Linux 5.3 has pidfds but cannot wait on them (P_PIDFD is 5.4): hand
	 * out none there, so every pidfd the library holds can be waited on. */
	if (!features[FL_FEAT_WAITID_PIDFD])
		features[FL_FEAT_CLONE_PIDFD] = features[FL_FEAT_PIDFD_OPEN] = false;
	features[FL_FEAT_CLOSE_RANGE] = fl_sys_close_range(~0u, ~0u, 0) == 0;
	features[FL_FEAT_EXECVEAT] = fl_sys_execveat(-1, "", NULL, NULL, AT_EMPTY_PATH) == -EBADF;
	features[FL_FEAT_IOURING_WAITID] = uring_has_waitid();
}

bool fl_has(enum fl_feature f)
{
	pthread_once(&probe_once, probe);
	return features[f];
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
