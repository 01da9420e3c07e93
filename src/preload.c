// SPDX-License-Identifier: MIT
/*
 * The preload shim, build/libforkless-preload.so: with LD_PRELOAD naming it,
 * a program's posix_spawn, posix_spawnp, their file-action and attribute
 * functions, pidfd_spawn(p) and pidfd_getpid are forkless's (compat.c), and
 * so are system, popen and pclose (the end of this file).
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
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
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

/* One line per spawn to $FORKLESS_TRACE (read at each call: the cost is a
 * getenv, and only a traced run pays for the file).  CALL is the function
 * the program called. */
static void trace(const char *call, const char *file, const int *out, int err)
{
	const char *to = getenv("FORKLESS_TRACE");
	char line[512];
	int fd, saved = errno, len, engine;

	if (!to || !*to)
		return;
	/* The engine that really made the child (one may hand it to another). */
	engine = fl_compat_engine_ran();
	len = snprintf(line, sizeof(line), "forkless-preload: %s %s %s %d engine=%s\n", call,
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
	static const char *const names[] = {
		"posix_spawn", "posix_spawnp", "posix_spawn@GLIBC_2.2.5", "posix_spawnp@GLIBC_2.2.5",
		"pidfd_spawn", "pidfd_spawnp",
	};
	unsigned which = (how & FL_COMPAT_PIDFD ? 4 : how & FL_COMPAT_SHELL ? 2 : 0) + (how & FL_COMPAT_PATH ? 1 : 0);
	int err = fl_compat_spawn(out, file, fa, attr, argv, envp, how);

	trace(names[which], file, out, err);
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

/* ---- system, popen, pclose ------------------------------------------------ */

/*
 * glibc's system and popen spawn through its hidden __posix_spawn, which no
 * preload reaches, so the shim has its own: glibc 2.36's (stdlib's
 * sysdeps/posix/system.c with the release branch's fix for BZ #30163, as
 * Debian 12 ships it, and libio/iopopen.c), step for step, with the spawn
 * made by fl_compat_spawn.  fl_posix_spawn(3) lists what they keep.
 */

static const char shell_path[] = "/bin/sh";

/* "sh -c LINE" as glibc runs it (no "--" before LINE until glibc 2.37). */
static int shell_spawn(const char *call, pid_t *pid, const posix_spawn_file_actions_t *fa,
		       const posix_spawnattr_t *attr, const char *line)
{
	char *argv[] = { (char *)"sh", (char *)"-c", (char *)line, NULL };
	int err = fl_compat_spawn(pid, shell_path, fa, attr, argv, environ, 0);

	trace(call, shell_path, pid, err);
	return err;
}

/*
 * SIGINT and SIGQUIT are process-wide: the first of the threads in system
 * ignores them and saves what they were, the last puts that back.  SIGCHLD
 * is blocked per thread, by each for its own wait.
 */
static struct {
	pthread_mutex_t lock;
	unsigned users;
	struct sigaction intr, quit;
} sys_signals = { .lock = PTHREAD_MUTEX_INITIALIZER };

static void system_leave(void)
{
	pthread_mutex_lock(&sys_signals.lock);
	if (--sys_signals.users == 0) {
		sigaction(SIGINT, &sys_signals.intr, NULL);
		sigaction(SIGQUIT, &sys_signals.quit, NULL);
	}
	pthread_mutex_unlock(&sys_signals.lock);
}

/* A thread cancelled in its wait kills the shell and reaps it, so that no
 * child outlives the call; its mask stays, the thread is ending. */
static void system_cancelled(void *arg)
{
	pid_t pid = *(const pid_t *)arg;
	int cancel;

	kill(pid, SIGKILL);
	pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &cancel);
	while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
		;
	pthread_setcancelstate(cancel, NULL);
	system_leave();
}

static int run_system(const char *line)
{
	struct sigaction ign = { .sa_handler = SIG_IGN };
	sigset_t chld, omask, reset;
	posix_spawnattr_t attr;
	pid_t pid;
	int status = -1, err, cancel;

	sigemptyset(&reset);
	pthread_mutex_lock(&sys_signals.lock);
	if (sys_signals.users++ == 0) {
		sigaction(SIGINT, &ign, &sys_signals.intr);
		sigaction(SIGQUIT, &ign, &sys_signals.quit);
	}
	/* The shell gets back the caller's dispositions unless they were SIG_IGN
	 * (a handler would not survive exec anyway). */
	if (sys_signals.intr.sa_handler != SIG_IGN)
		sigaddset(&reset, SIGINT);
	if (sys_signals.quit.sa_handler != SIG_IGN)
		sigaddset(&reset, SIGQUIT);
	pthread_mutex_unlock(&sys_signals.lock);
	sigemptyset(&chld);
	sigaddset(&chld, SIGCHLD);
	pthread_sigmask(SIG_BLOCK, &chld, &omask);

	fl_posix_spawnattr_init(&attr);
	fl_posix_spawnattr_setsigmask(&attr, &omask);
	fl_posix_spawnattr_setsigdefault(&attr, &reset);
	fl_posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK);
	/* glibc's spawn is no cancellation point; an engine may wait inside
	 * ours (for the child's exec), and a cancellation there would leave
	 * the reference taken. */
	pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &cancel);
	err = shell_spawn("system", &pid, NULL, &attr, line);
	pthread_setcancelstate(cancel, NULL);
	fl_posix_spawnattr_destroy(&attr);
	if (err == 0) {
		/* The wait is system's cancellation point (deferred, even for a
		 * thread that asked for asynchronous cancellation). */
		pthread_cleanup_push_defer_np(system_cancelled, &pid);
		if (TEMP_FAILURE_RETRY(waitpid(pid, &status, 0)) != pid)
			status = -1;
		pthread_cleanup_pop_restore_np(0);
	} else {
		status = W_EXITCODE(127, 0);	/* POSIX: as if the shell had exited 127 */
	}
	system_leave();
	pthread_sigmask(SIG_SETMASK, &omask, NULL);
	if (err)
		errno = err;
	return status;
}

SHIM int system(const char *line);
SHIM int system(const char *line)
{
	/* NULL asks whether there is a shell: one that runs "exit 0". */
	return line ? run_system(line) : run_system("exit 0") == 0;
}

/*
 * The streams popen made, with their children.  A child of popen closes the
 * streams of the earlier popen calls still open (POSIX), so the list is
 * read, the spawn made and the new stream added under one lock.  LIVE counts
 * them for fclose's fast path.
 */
struct piped {
	FILE *fp;
	pid_t pid;
	struct piped *next;
};

static struct {
	pthread_mutex_t lock;
	struct piped *list;
	unsigned long live;
} piped = { .lock = PTHREAD_MUTEX_INITIALIZER };

typedef int close_fn(FILE *);

/* glibc's fclose or pclose, found past the shim at the first call. */
static close_fn *glibc_close(const char *name, close_fn **cache)
{
	close_fn *fn = __atomic_load_n(cache, __ATOMIC_ACQUIRE);

	if (!fn) {
		fn = (close_fn *)fl_preload_glibc_sym(name, false);
		__atomic_store_n(cache, fn, __ATOMIC_RELEASE);
	}
	return fn;
}

static int glibc_fclose(FILE *fp)
{
	static close_fn *fn;

	return glibc_close("fclose", &fn)(fp);
}

SHIM FILE *popen(const char *command, const char *mode);
SHIM FILE *popen(const char *command, const char *mode)
{
	bool rd = false, wr = false, cloexec = false;
	posix_spawn_file_actions_t fa;
	struct piped *p;
	int fds[2], parent, child, target, cancel, err;

	for (const char *m = mode; *m; m++) {
		if (*m == 'r') {
			rd = true;
		} else if (*m == 'w') {
			wr = true;
		} else if (*m == 'e') {
			cloexec = true;
		} else {
			errno = EINVAL;
			return NULL;
		}
	}
	if (rd == wr) {
		errno = EINVAL;	/* neither, or both */
		return NULL;
	}
	/* Both ends close-on-exec, so that no other thread's child gets them;
	 * the child's end loses it in the child by dup2. */
	if (pipe2(fds, O_CLOEXEC) < 0)
		return NULL;
	parent = rd ? 0 : 1;
	child = !parent;
	target = rd ? STDOUT_FILENO : STDIN_FILENO;
	p = malloc(sizeof(*p));
	err = p ? 0 : ENOMEM;
	/* A child end already on its target would keep close-on-exec through
	 * dup2(fd, fd): move it. */
	if (!err && fds[child] == target) {
		int moved = fcntl(target, F_DUPFD_CLOEXEC, 0);

		if (moved < 0) {
			err = ENOMEM;
		} else {
			close(fds[child]);
			fds[child] = moved;
		}
	}
	if (!err && !(p->fp = fdopen(fds[parent], rd ? "r" : "w")))
		err = ENOMEM;
	if (err) {
		close(fds[0]);
		close(fds[1]);
		free(p);
		errno = err;
		return NULL;
	}

	fl_posix_spawn_file_actions_init(&fa);
	err = fl_posix_spawn_file_actions_adddup2(&fa, fds[child], target);
	/* No cancellation point in glibc's popen either; one here would leave
	 * the list locked. */
	pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &cancel);
	pthread_mutex_lock(&piped.lock);
	/* A stream on the target fd was replaced by the dup2 already. */
	for (struct piped *q = piped.list; q && !err; q = q->next) {
		int fd = fileno_unlocked(q->fp);

		if (fd != target)
			err = fl_posix_spawn_file_actions_addclose(&fa, fd);
	}
	if (!err)
		err = shell_spawn("popen", &p->pid, &fa, NULL, command);
	if (!err) {
		close(fds[child]);
		if (!cloexec)
			fcntl(fds[parent], F_SETFD, 0);
		p->next = piped.list;
		piped.list = p;
		__atomic_add_fetch(&piped.live, 1, __ATOMIC_RELAXED);
	}
	pthread_mutex_unlock(&piped.lock);
	pthread_setcancelstate(cancel, NULL);
	fl_posix_spawn_file_actions_destroy(&fa);
	if (err) {
		/* glibc says ENOMEM for every failure past the pipe. */
		close(fds[child]);
		glibc_fclose(p->fp);
		free(p);
		errno = ENOMEM;
		return NULL;
	}
	return p->fp;
}

/* FP's record, taken off the list, or NULL if popen did not make it. */
static struct piped *piped_take(FILE *fp)
{
	struct piped **at, *p = NULL;

	if (!__atomic_load_n(&piped.live, __ATOMIC_RELAXED))
		return NULL;
	pthread_mutex_lock(&piped.lock);
	for (at = &piped.list; *at; at = &(*at)->next) {
		if ((*at)->fp == fp) {
			p = *at;
			*at = p->next;
			__atomic_sub_fetch(&piped.live, 1, __ATOMIC_RELAXED);
			break;
		}
	}
	pthread_mutex_unlock(&piped.lock);
	return p;
}

/*
 * glibc closes a popen stream as any other (its pclose is fclose), with a
 * close function that waits: the result is the child's status, or, if that
 * is 0, the flush's (EOF if it failed).  A close that fails (the fd closed
 * behind the stream's back) returns -1 and leaves the child unreaped.
 */
static int piped_close(struct piped *p)
{
	bool open = fcntl(fileno_unlocked(p->fp), F_GETFD) >= 0;
	pid_t pid = p->pid, got;
	int ret = glibc_fclose(p->fp), status, cancel;

	free(p);
	if (!open)
		return -1;
	/* POSIX: no signal is blocked or ignored for this wait. */
	pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &cancel);
	do
		got = waitpid(pid, &status, 0);
	while (got < 0 && errno == EINTR);
	pthread_setcancelstate(cancel, NULL);
	if (got < 0)
		return -1;
	return status ? status : ret;
}

/* Any other stream is glibc's: its pclose is its fclose. */
SHIM int pclose(FILE *fp);
SHIM int pclose(FILE *fp)
{
	static close_fn *fn;
	struct piped *p = piped_take(fp);

	return p ? piped_close(p) : glibc_close("pclose", &fn)(fp);
}

/* fclose too: with glibc, fclose of a popen stream waits for its child. */
SHIM int fclose(FILE *fp);
SHIM int fclose(FILE *fp)
{
	struct piped *p = piped_take(fp);

	return p ? piped_close(p) : glibc_fclose(fp);
}
