// SPDX-License-Identifier: MIT
/*
 * The preload shim, build/libforkless-preload.so: with LD_PRELOAD naming it,
 * a program's posix_spawn, posix_spawnp, their file-action and attribute
 * functions, pidfd_spawn(p) and pidfd_getpid are forkless's (compat.c).
 *
 * Symbol versions: each function is exported under the version glibc gives
 * it (src/preload.map), so a program's versioned references bind here.
 * posix_spawn and posix_spawnp have two: GLIBC_2.15, the current one, and
 * GLIBC_2.2.5, which programs linked against glibc before 2.15 (2011) use and
 * which still retries an ENOEXEC failure with /bin/sh; each caller gets the
 * one it was linked against.  The GLIBC_2.39 node (pidfd_spawn(p), the cgroup
 * attribute, pidfd_getpid) serves programs that look them up at run time or
 * run on a glibc that has them: one linked against 2.39 needs libc.so.6 to
 * define the node itself before any lookup.
 *
 * Nothing happens at load: no constructor, thread or fd.  The engine is
 * chosen, the kernel probed and glibc's own functions found at the first
 * spawn.  FORKLESS_TRACE=FILE appends a line per spawn to FILE, to check that
 * the shim is in use (opened and closed at each spawn: no fd is kept).
 * x86_64 only: the GLIBC_2.2.5 node is that architecture's base version.
 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "internal.h"

#ifndef __x86_64__
#error "the preload shim's symbol versions are x86_64's (GLIBC_2.2.5 base)"
#endif

#define SHIM __attribute__((visibility("default")))

void *fl_preload_glibc_sym(const char *name, bool old_abi)
{
	/* RTLD_NEXT: the objects loaded after this one, glibc among them;
	 * dlsym finds a symbol's default version, dlvsym an older one. */
	return old_abi ? dlvsym(RTLD_NEXT, name, "GLIBC_2.2.5") : dlsym(RTLD_NEXT, name);
}

static const char *call_names[] = {
	"posix_spawn", "posix_spawnp", "posix_spawn@GLIBC_2.2.5", "posix_spawnp@GLIBC_2.2.5",
	"pidfd_spawn", "pidfd_spawnp",
};

/* One line per spawn to $FORKLESS_TRACE (read at each call: the cost is a
 * getenv, and only a traced run pays for the file). */
static void trace(unsigned how, const char *file, const posix_spawnattr_t *attr, const int *out, int err)
{
	const char *to = getenv("FORKLESS_TRACE");
	unsigned which = (how & FL_COMPAT_PIDFD ? 4 : how & FL_COMPAT_SHELL ? 2 : 0) + (how & FL_COMPAT_PATH ? 1 : 0);
	char line[512];
	int fd, saved = errno, len, engine = 0;

	if (!to || !*to)
		return;
	/* The engine the spawn used: the attribute's, else the default. */
	if (!attr || fl_posix_spawnattr_getengine_np(attr, &engine) != 0 || !engine)
		engine = fl_engine_default();
	len = snprintf(line, sizeof(line), "forkless-preload: %s %s %s %d engine=%s\n", call_names[which],
		       file ? file : "(null)", err ? "error" : "ok", err ? err : out ? *out : 0,
		       fl_engine_name(engine));
	if (len >= (int)sizeof(line))
		len = sizeof(line) - 1;
	fd = open(to, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
	if (fd >= 0) {
		/* One write to an O_APPEND file: lines from many processes stay
		 * whole.  A trace that cannot be written changes nothing. */
		ssize_t n = write(fd, line, len);

		(void)n;
		close(fd);
	}
	errno = saved;
}

static int shim_spawn(int *out, const char *file, const posix_spawn_file_actions_t *fa,
		      const posix_spawnattr_t *attr, char *const argv[], char *const envp[], unsigned how)
{
	int err = fl_compat_spawn(out, file, fa, attr, argv, envp, how);

	trace(how, file, attr, out, err);
	return err;
}

/* ---- the spawns, under both of glibc's versions ---------------------------- */

#define SPAWN(fn, how) \
	SHIM int fn(pid_t *pid, const char *file, const posix_spawn_file_actions_t *fa, \
		    const posix_spawnattr_t *attr, char *const argv[], char *const envp[]); \
	SHIM int fn(pid_t *pid, const char *file, const posix_spawn_file_actions_t *fa, \
		    const posix_spawnattr_t *attr, char *const argv[], char *const envp[]) \
	{ \
		return shim_spawn(pid, file, fa, attr, argv, envp, how); \
	}

SPAWN(fl_shim_posix_spawn, 0)
SPAWN(fl_shim_posix_spawnp, FL_COMPAT_PATH)
SPAWN(fl_shim_posix_spawn_old, FL_COMPAT_SHELL)
SPAWN(fl_shim_posix_spawnp_old, FL_COMPAT_PATH | FL_COMPAT_SHELL)
SPAWN(pidfd_spawn, FL_COMPAT_PIDFD)
SPAWN(pidfd_spawnp, FL_COMPAT_PIDFD | FL_COMPAT_PATH)

__asm__(".symver fl_shim_posix_spawn, posix_spawn@@GLIBC_2.15");
__asm__(".symver fl_shim_posix_spawnp, posix_spawnp@@GLIBC_2.15");
__asm__(".symver fl_shim_posix_spawn_old, posix_spawn@GLIBC_2.2.5");
__asm__(".symver fl_shim_posix_spawnp_old, posix_spawnp@GLIBC_2.2.5");

SHIM pid_t pidfd_getpid(int pidfd);
SHIM pid_t pidfd_getpid(int pidfd)
{
	pid_t pid = fl_pidfd_getpid(pidfd);

	if (pid < 0) {
		errno = -pid;	/* this one is a libc call: -1 and errno */
		return -1;
	}
	return pid;
}

/* ---- file actions and attributes: glibc's names for compat.c's -------------- */

#define FORWARD(name, params, args) \
	SHIM int name params; \
	SHIM int name params { return fl_##name args; }

typedef posix_spawn_file_actions_t fa_t;
typedef posix_spawnattr_t attr_t;

FORWARD(posix_spawn_file_actions_init, (fa_t *fa), (fa))
FORWARD(posix_spawn_file_actions_destroy, (fa_t *fa), (fa))
FORWARD(posix_spawn_file_actions_addopen, (fa_t *fa, int fd, const char *path, int oflag, mode_t mode),
	(fa, fd, path, oflag, mode))
FORWARD(posix_spawn_file_actions_addclose, (fa_t *fa, int fd), (fa, fd))
FORWARD(posix_spawn_file_actions_adddup2, (fa_t *fa, int fd, int newfd), (fa, fd, newfd))
FORWARD(posix_spawn_file_actions_addchdir_np, (fa_t *fa, const char *path), (fa, path))
FORWARD(posix_spawn_file_actions_addfchdir_np, (fa_t *fa, int fd), (fa, fd))
FORWARD(posix_spawn_file_actions_addclosefrom_np, (fa_t *fa, int from), (fa, from))
FORWARD(posix_spawn_file_actions_addtcsetpgrp_np, (fa_t *fa, int fd), (fa, fd))
FORWARD(posix_spawnattr_init, (attr_t *attr), (attr))
FORWARD(posix_spawnattr_destroy, (attr_t *attr), (attr))
FORWARD(posix_spawnattr_getflags, (const attr_t *attr, short *flags), (attr, flags))
FORWARD(posix_spawnattr_setflags, (attr_t *attr, short flags), (attr, flags))
FORWARD(posix_spawnattr_getpgroup, (const attr_t *attr, pid_t *pgroup), (attr, pgroup))
FORWARD(posix_spawnattr_setpgroup, (attr_t *attr, pid_t pgroup), (attr, pgroup))
FORWARD(posix_spawnattr_getsigmask, (const attr_t *attr, sigset_t *mask), (attr, mask))
FORWARD(posix_spawnattr_setsigmask, (attr_t *attr, const sigset_t *mask), (attr, mask))
FORWARD(posix_spawnattr_getsigdefault, (const attr_t *attr, sigset_t *set), (attr, set))
FORWARD(posix_spawnattr_setsigdefault, (attr_t *attr, const sigset_t *set), (attr, set))
FORWARD(posix_spawnattr_getschedparam, (const attr_t *attr, struct sched_param *param), (attr, param))
FORWARD(posix_spawnattr_setschedparam, (attr_t *attr, const struct sched_param *param), (attr, param))
FORWARD(posix_spawnattr_getschedpolicy, (const attr_t *attr, int *policy), (attr, policy))
FORWARD(posix_spawnattr_setschedpolicy, (attr_t *attr, int policy), (attr, policy))
FORWARD(posix_spawnattr_getcgroup_np, (const attr_t *attr, int *cgroup), (attr, cgroup))
FORWARD(posix_spawnattr_setcgroup_np, (attr_t *attr, int cgroup), (attr, cgroup))
