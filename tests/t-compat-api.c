// SPDX-License-Identifier: MIT
/*
 * The posix_spawn objects and their functions: the same answers as glibc's
 * for every add and set (EBADF ranges, EINVAL flags and policies), glibc's
 * layout (a forkless attribute object read by glibc's getters and the other
 * way round; a zeroed object is an empty one), objects filled by glibc's own
 * functions handed to glibc whole, the errno rules, NULL argv and envp, a
 * negative cgroup fd under every engine, and one file-actions object shared
 * by 8 threads spawning at once.
 */
#include <pthread.h>
#include <stdbool.h>

#include "util.h"

extern char **environ;

/* Each add or set, through glibc's function and ours: the same answer. */
static void same_answers(void)
{
	posix_spawn_file_actions_t g, f;
	posix_spawnattr_t ga, fa;
	long max = sysconf(_SC_OPEN_MAX);
	const int fds[] = { -1, 0, 3, (int)max - 1, (int)max, 1 << 30 };
	const short flagsets[] = { 0, POSIX_SPAWN_RESETIDS | POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGDEF |
				      POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSCHEDPARAM |
				      POSIX_SPAWN_SETSCHEDULER | POSIX_SPAWN_USEVFORK | POSIX_SPAWN_SETSID,
				   0x200, 0x400, -1 };
	const int policies[] = { SCHED_OTHER, SCHED_FIFO, SCHED_RR, SCHED_BATCH, SCHED_IDLE, 42, -1 };

	posix_spawn_file_actions_init(&g);
	fl_posix_spawn_file_actions_init(&f);
	for (size_t i = 0; i < sizeof(fds) / sizeof(fds[0]); i++) {
		int fd = fds[i];

		ok(posix_spawn_file_actions_addclose(&g, fd) == fl_posix_spawn_file_actions_addclose(&f, fd),
		   "addclose(%d): same answer", fd);
		ok(posix_spawn_file_actions_addopen(&g, fd, "x", O_RDONLY, 0) ==
		   fl_posix_spawn_file_actions_addopen(&f, fd, "x", O_RDONLY, 0), "addopen(%d): same answer", fd);
		ok(posix_spawn_file_actions_adddup2(&g, fd, 1) == fl_posix_spawn_file_actions_adddup2(&f, fd, 1) &&
		   posix_spawn_file_actions_adddup2(&g, 1, fd) == fl_posix_spawn_file_actions_adddup2(&f, 1, fd),
		   "adddup2 with %d: same answers", fd);
		ok(posix_spawn_file_actions_addfchdir_np(&g, fd) == fl_posix_spawn_file_actions_addfchdir_np(&f, fd),
		   "addfchdir_np(%d): same answer", fd);
		ok(posix_spawn_file_actions_addclosefrom_np(&g, fd) ==
		   fl_posix_spawn_file_actions_addclosefrom_np(&f, fd), "addclosefrom_np(%d): same answer", fd);
		ok(posix_spawn_file_actions_addtcsetpgrp_np(&g, fd) ==
		   fl_posix_spawn_file_actions_addtcsetpgrp_np(&f, fd), "addtcsetpgrp_np(%d): same answer", fd);
	}
	{
		char longpath[PATH_MAX + 100];

		memset(longpath, 'a', sizeof(longpath) - 1);
		longpath[sizeof(longpath) - 1] = 0;
		ok(posix_spawn_file_actions_addchdir_np(&g, longpath) == 0 &&
		   fl_posix_spawn_file_actions_addchdir_np(&f, longpath) == 0,
		   "addchdir_np of a path longer than PATH_MAX: accepted by both (it fails in the child)");
	}
	ok(fl_posix_spawn_file_actions_addopen(&f, 3, NULL, O_RDONLY, 0) == EINVAL,
	   "addopen of a NULL path: EINVAL (glibc would crash)");
	posix_spawn_file_actions_destroy(&g);
	fl_posix_spawn_file_actions_destroy(&f);

	posix_spawnattr_init(&ga);
	fl_posix_spawnattr_init(&fa);
	for (size_t i = 0; i < sizeof(flagsets) / sizeof(flagsets[0]); i++)
		ok(posix_spawnattr_setflags(&ga, flagsets[i]) == fl_posix_spawnattr_setflags(&fa, flagsets[i]),
		   "setflags(0x%hx): same answer", flagsets[i]);
	ok(fl_posix_spawnattr_setflags(&fa, FL_POSIX_SPAWN_SETCGROUP) == 0,
	   "setflags accepts glibc 2.39's SETCGROUP (0x100), which 2.36 refuses");
	for (size_t i = 0; i < sizeof(policies) / sizeof(policies[0]); i++)
		ok(posix_spawnattr_setschedpolicy(&ga, policies[i]) ==
		   fl_posix_spawnattr_setschedpolicy(&fa, policies[i]), "setschedpolicy(%d): same answer", policies[i]);
	posix_spawnattr_destroy(&ga);
	fl_posix_spawnattr_destroy(&fa);
}

/* Attribute objects are glibc's layout: each side reads what the other wrote. */
static void same_layout(void)
{
	posix_spawnattr_t a;
	sigset_t set, back;
	struct sched_param sp = { .sched_priority = 3 }, spback;
	short flags;
	pid_t pg;
	int policy, cgroup, engine;

	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	fl_posix_spawnattr_init(&a);
	fl_posix_spawnattr_setflags(&a, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK);
	fl_posix_spawnattr_setpgroup(&a, 42);
	fl_posix_spawnattr_setsigmask(&a, &set);
	fl_posix_spawnattr_setschedparam(&a, &sp);
	fl_posix_spawnattr_setschedpolicy(&a, SCHED_RR);
	posix_spawnattr_getflags(&a, &flags);
	posix_spawnattr_getpgroup(&a, &pg);
	posix_spawnattr_getsigmask(&a, &back);
	posix_spawnattr_getschedparam(&a, &spback);
	posix_spawnattr_getschedpolicy(&a, &policy);
	ok(flags == (POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK) && pg == 42 && sigismember(&back, SIGUSR1) &&
	   !sigismember(&back, SIGUSR2) && spback.sched_priority == 3 && policy == SCHED_RR,
	   "glibc's getters read what the fl_ setters wrote");

	posix_spawnattr_init(&a);
	posix_spawnattr_setsigdefault(&a, &set);
	posix_spawnattr_setpgroup(&a, 7);
	fl_posix_spawnattr_getsigdefault(&a, &back);
	fl_posix_spawnattr_getpgroup(&a, &pg);
	fl_posix_spawnattr_getcgroup_np(&a, &cgroup);
	fl_posix_spawnattr_getengine_np(&a, &engine);
	ok(sigismember(&back, SIGUSR1) && pg == 7 && cgroup == 0 && engine == FL_ENGINE_AUTO,
	   "the fl_ getters read what glibc's setters wrote; the spare fields are 0 (auto engine)");
	ok(fl_posix_spawnattr_setcgroup_np(&a, 9) == 0 && fl_posix_spawnattr_getcgroup_np(&a, &cgroup) == 0 &&
	   cgroup == 9, "cgroup_np: set, then get");
	ok(fl_posix_spawnattr_setengine_np(&a, FL_ENGINE_CLONE) == 0 &&
	   fl_posix_spawnattr_getengine_np(&a, &engine) == 0 && engine == FL_ENGINE_CLONE,
	   "engine_np: set, then get");
	ok(fl_posix_spawnattr_setengine_np(&a, 99) == EINVAL && fl_posix_spawnattr_setengine_np(&a, -1) == EINVAL,
	   "engine_np: an unknown engine is refused");
	ok(fl_posix_spawnattr_setengine_np(&a, FL_ENGINE_ZYGOTE) == 0 &&
	   fl_posix_spawnattr_getengine_np(&a, &engine) == 0 && engine == FL_ENGINE_ZYGOTE,
	   "engine_np: the zygote is one (its children are the caller's)");
}

/* Spawns /bin/sh -c CMD through fl_posix_spawn; its exit status, or -errno-ish. */
static int sh_status(const posix_spawn_file_actions_t *fa, const posix_spawnattr_t *attr, const char *cmd,
		     char *const envp[])
{
	char *argv[] = { (char *)"sh", (char *)"-c", (char *)cmd, NULL };
	pid_t pid;
	int status, ret = fl_posix_spawn(&pid, "/bin/sh", fa, attr, argv, envp);

	if (ret)
		return -ret;
	waitpid(pid, &status, 0);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 256;
}

static void objects(void)
{
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	char *argv[] = { (char *)"true", NULL };
	pid_t pid = -5;
	int fds = fd_count(), ret;

	/* A zeroed object, never initialised, is an empty one, as in glibc. */
	memset(&fa, 0, sizeof(fa));
	ok(fl_posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0) == 0 &&
	   sh_status(&fa, NULL, "echo not shown; test -c /dev/stdout", environ) == 0,
	   "a zeroed file-actions object takes actions");
	fl_posix_spawn_file_actions_destroy(&fa);

	/* glibc's functions filled it: glibc's posix_spawn gets it whole. */
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 5, "/dev/null", O_RDONLY, 0);
	ok(sh_status(&fa, NULL, "test -r /dev/fd/5", environ) == 0,
	   "an object filled by glibc's own functions works (handed to glibc)");
	/* ...and ours too: refused, with errno. */
	fl_posix_spawn_file_actions_addclose(&fa, 5);
	errno = 0;
	ret = fl_posix_spawn(&pid, "/bin/true", &fa, NULL, argv, environ);
	ok(ret == EINVAL && errno == EINVAL && pid == -5, "an object filled by both glibc and forkless: EINVAL");
	/* Ours frees both parts (glibc's by glibc's destroy). */
	fl_posix_spawn_file_actions_destroy(&fa);

	/* A glibc-initialised attribute object drives a forkless spawn. */
	posix_spawnattr_init(&attr);
	posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP);
	posix_spawnattr_setpgroup(&attr, 0);
	ok(sh_status(NULL, &attr, "test \"$(ps -o pgid= -p $$ | tr -d ' ')\" = $$", environ) == 0,
	   "an attribute object set by glibc's functions (setpgroup 0)");
	posix_spawnattr_destroy(&attr);

	/* errno: the error after a failure, untouched after a success. */
	errno = 1234;
	ret = fl_posix_spawn(&pid, "/bin/true", NULL, NULL, argv, environ);
	ok(ret == 0 && errno == 1234, "errno untouched by a success");
	waitpid(pid, NULL, 0);
	errno = 0;
	pid = -5;
	ret = fl_posix_spawn(&pid, "/nonexistent", NULL, NULL, argv, environ);
	ok(ret == ENOENT && errno == ENOENT && pid == -5, "a failure returns the error, sets errno, leaves *pid");
	ok(fl_posix_spawn(NULL, "/bin/true", NULL, NULL, argv, environ) == 0, "a NULL pid is allowed");
	while (waitpid(-1, NULL, 0) > 0)
		;

	/* NULL argv and envp are empty lists, as execve takes them. */
	ok(sh_status(NULL, NULL, "test \"$(env | grep -v ^PWD=)\" = \"\"", NULL) == 0,
	   "a NULL envp is an empty environment (sh adds only PWD)");
	ret = fl_posix_spawn(&pid, "/bin/true", NULL, NULL, NULL, environ);
	ok(ret == 0 || ret == EINVAL, "a NULL argv does not crash (%d)", ret);
	if (ret == 0)
		waitpid(pid, NULL, 0);
	ok(fd_count() == fds && !has_zombie(), "objects: no fd leaked, no zombie");
}

/* FL_POSIX_SPAWN_SETCGROUP with a negative cgroup fd: the setter takes it,
 * as glibc's; the spawn fails with EINVAL under every engine, before any
 * child is made, as glibc 2.39's (its clone3 refuses the cgroup, a negative
 * int become a number above INT_MAX).  Without the flag the field means
 * nothing. */
static void cgroup_fd(void)
{
	char *argv[] = { (char *)"true", NULL };
	const int bad[] = { -1, INT_MIN };
	bool pidfds = fl_feature(FL_FEAT_WAITID_PIDFD) == 1;

	for_each_engine(e) {
		const char *E = fl_engine_name(e);
		posix_spawnattr_t attr;
		int fds = fd_count(), status = -1;
		pid_t pid = -5;

		fl_posix_spawnattr_init(&attr);
		fl_posix_spawnattr_setengine_np(&attr, e);
		fl_posix_spawnattr_setflags(&attr, FL_POSIX_SPAWN_SETCGROUP);
		for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
			int set = fl_posix_spawnattr_setcgroup_np(&attr, bad[i]), got = 0, ret, pidfd = -5;

			fl_posix_spawnattr_getcgroup_np(&attr, &got);
			errno = 0;
			ret = fl_posix_spawn(&pid, "/bin/true", NULL, &attr, argv, environ);
			ok(set == 0 && got == bad[i] && ret == EINVAL && errno == EINVAL && pid == -5,
			   "%s: SETCGROUP, cgroup fd %d: set (%d), then the spawn fails with EINVAL (%d %s)", E, bad[i],
			   set, ret, strerror(ret));
			if (!pidfds) {
				skip("no waitid P_PIDFD (Linux 5.4)", "%s: pidfd_spawn, cgroup fd %d", E, bad[i]);
				continue;
			}
			ret = fl_pidfd_spawn(&pidfd, "/bin/true", NULL, &attr, argv, environ);
			ok(ret == EINVAL && pidfd == -5, "%s: pidfd_spawn, SETCGROUP, cgroup fd %d: EINVAL (%d %s)", E,
			   bad[i], ret, strerror(ret));
		}
		fl_posix_spawnattr_setflags(&attr, 0);
		if (fl_posix_spawn(&pid, "/bin/true", NULL, &attr, argv, environ) == 0)
			waitpid(pid, &status, 0);
		ok(status == 0, "%s: without SETCGROUP, a cgroup fd of %d means nothing (status %#x)", E, INT_MIN, status);
		fl_posix_spawnattr_destroy(&attr);
		ok(fd_count() == fds && !has_zombie(), "%s: cgroup fd: no fd leaked, no zombie", E);
	}
}

struct shared {
	const posix_spawn_file_actions_t *fa;
	const posix_spawnattr_t *attr;
	int failures;
};

static void *spawner(void *arg)
{
	struct shared *s = arg;
	char *argv[] = { (char *)"sh", (char *)"-c", (char *)"test -w /dev/fd/9 && test -r /dev/fd/0", NULL };

	for (int i = 0; i < 10; i++) {
		pid_t pid;
		int status = -1;

		if (fl_posix_spawn(&pid, "/bin/sh", s->fa, s->attr, argv, environ) != 0 ||
		    waitpid(pid, &status, 0) != pid || status != 0)
			__atomic_add_fetch(&s->failures, 1, __ATOMIC_RELAXED);
	}
	return NULL;
}

/* The objects are const to a spawn: threads share them, as with glibc. */
static void threads(void)
{
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	struct shared s = { &fa, &attr, 0 };
	pthread_t t[8];
	sigset_t none;
	int fds = fd_count();

	sigemptyset(&none);
	fl_posix_spawn_file_actions_init(&fa);
	fl_posix_spawn_file_actions_addopen(&fa, 9, "/dev/null", O_WRONLY, 0);
	fl_posix_spawn_file_actions_adddup2(&fa, 9, 0);
	fl_posix_spawnattr_init(&attr);
	fl_posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETPGROUP);
	fl_posix_spawnattr_setsigmask(&attr, &none);
	for (int i = 0; i < 8; i++)
		pthread_create(&t[i], NULL, spawner, &s);
	for (int i = 0; i < 8; i++)
		pthread_join(t[i], NULL);
	ok(s.failures == 0, "8 threads x 10 spawns sharing one file-actions and one attribute object (%d failed)",
	   s.failures);
	fl_posix_spawn_file_actions_destroy(&fa);
	ok(fd_count() == fds && !has_zombie(), "threads: no fd leaked, no zombie");
}

int main(void)
{
	same_answers();
	same_layout();
	objects();
	cgroup_fd();
	threads();
	return done();
}
