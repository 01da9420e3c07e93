// SPDX-License-Identifier: MIT
/*
 * The pool engine: a child parked before the caller changed its state has,
 * at exec, the caller's state of the moment of the spawn: fds (one opened
 * after the parking is there; one closed right after fl_spawn returned is
 * still there), cwd, umask, ignored signals, rlimits; a change of effective
 * ids empties the pool; fl_pool_set_size ends parked children without
 * leaving zombies; a forked process uses a pool of its own.  After each: no
 * fd leaked, no zombie.
 */
#include <grp.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>

#include "util.h"

#define E FL_ENGINE_POOL

/* Spawns the state helper through the pool; returns the spawn's result with
 * the state in OUT.  BETWEEN runs right after fl_spawn returned, before the
 * exec's outcome is waited for. */
static int pool_state(fl_spec *spec, char *out, size_t len, void (*between)(void))
{
	char file[] = "/tmp/fl-pool-XXXXXX";
	char *argv[] = { (char *)helper_path(), (char *)"state", file, NULL };
	fl_child child;
	fl_report rep;
	int fd = mkstemp(file), ret, status;
	ssize_t n;

	out[0] = 0;
	fchmod(fd, 0666);
	close(fd);
	ret = fl_spawn(spec, &(fl_spawn_args){ .argv = argv }, &child, &rep);
	if (between)
		between();
	if (ret == 0)
		ret = fl_child_wait_exec(&child, &rep);
	if (ret == 0) {
		fl_child_wait(&child, &status);
		fd = open(file, O_RDONLY | O_CLOEXEC);
		n = fd >= 0 ? read(fd, out, len - 1) : -1;
		out[n > 0 ? n : 0] = 0;
		close(fd);
	}
	unlink(file);
	return ret;
}

static int late_fd = -1;
static char old_cwd[PATH_MAX];

static void undo_at_once(void)
{
	close(late_fd);
	chdir(old_cwd);
}

static void test_moment(void)
{
	fl_spec *spec;
	char out[65536], val[4096], dir[] = "/tmp/fl-pooldir-XXXXXX", key[32];
	struct rlimit old, low;
	mode_t mask;
	int fds, ret, lowest;

	ok(fl_engine_warm(E) == 0, "pool filled");
	fds = fd_count();
	state_spec(&spec, E);
	/* All of this after the children were parked. */
	getcwd(old_cwd, sizeof(old_cwd));
	mkdtemp(dir);
	chdir(dir);
	mask = umask(077);
	signal(SIGUSR1, SIG_IGN);
	getrlimit(RLIMIT_NOFILE, &old);
	low = old;
	low.rlim_cur = 300;
	setrlimit(RLIMIT_NOFILE, &low);
	lowest = fcntl(0, F_DUPFD, 0);
	close(lowest);
	late_fd = open("/dev/null", O_RDONLY);
	ok(late_fd == lowest, "no parked child holds an fd of the shared table (opened %d)", late_fd);

	/* fd and cwd undone as soon as fl_spawn returns: the child took its
	 * copies before. */
	ret = pool_state(spec, out, sizeof(out), undo_at_once);
	ok(ret == 0, "spawn (ret %d)", ret);
	ok(state_fd(out, late_fd, val, sizeof(val)) && !strcmp(val, "/dev/null"),
	   "the fd opened after the parking, closed after the spawn, is there (%d)", late_fd);
	ok(state_get(out, "cwd", val, sizeof(val)) && !strcmp(val, dir), "cwd of the moment of the spawn (%s)", val);
	ok(state_get(out, "Umask", val, sizeof(val)) && strtol(val, NULL, 8) == 077, "umask of the moment (%s)", val);
	ok(state_get(out, "ignored.10", val, sizeof(val)) != NULL, "SIGUSR1 ignored, as since the parking");
	snprintf(key, sizeof(key), "rlimit.%d", RLIMIT_NOFILE);
	ok(state_get(out, key, val, sizeof(val)) && atoi(val) == 300, "RLIMIT_NOFILE of the moment (%s)", val);

	/* And back: the next child follows. */
	setrlimit(RLIMIT_NOFILE, &old);
	signal(SIGUSR1, SIG_DFL);
	umask(mask);
	rmdir(dir);
	ret = pool_state(spec, out, sizeof(out), NULL);
	snprintf(key, sizeof(key), "rlimit.%d", RLIMIT_NOFILE);
	ok(ret == 0 && !state_get(out, "ignored.10", val, sizeof(val)) && state_get(out, key, val, sizeof(val)) &&
	   (rlim_t)atoll(val) == old.rlim_cur && !state_fd(out, late_fd, NULL, 0),
	   "changes undone: the next child follows");
	fl_spec_free(spec);
	check_clean("moment", fds);
}

/* Effective ids changed since the parking: the pool is emptied, the child
 * made now (async engine), with the ids the clone engine's child has. */
static void test_ids(void)
{
	fl_spec *spec, *clone;
	char out[65536], ref[65536], val[4096] = "", want[4096] = "?";
	int fds = fd_count(), ret;

	if (geteuid() != 0) {
		skip("needs root to change the effective uid and back", "pool: ids of the moment");
		return;
	}
	fl_engine_warm(E);
	state_spec(&spec, E);
	state_spec(&clone, FL_ENGINE_CLONE);
	setegid(65534);
	seteuid(65534);
	ret = pool_state(spec, out, sizeof(out), NULL);
	run_state(clone, NULL, ref, sizeof(ref), &(int){ 0 }, NULL);
	seteuid(0);
	setegid(0);
	state_get(ref, "Uid", want, sizeof(want));
	ok(ret == 0 && state_get(out, "Uid", val, sizeof(val)) && !strcmp(val, want) && strstr(val, "65534"),
	   "effective uid of the moment (Uid %s, clone's %s)", val, want);
	ret = pool_state(spec, out, sizeof(out), NULL);
	ok(ret == 0 && state_get(out, "Uid", val, sizeof(val)) &&
	   !strstr(val, "65534"), "back to root: the next child too (Uid %s)", val);
	fl_spec_free(spec);
	fl_spec_free(clone);
	check_clean("ids", fds);
}

/* Supplementary groups changed since the parking: the same. */
static void test_groups(void)
{
	fl_spec *spec, *clone;
	char out[65536], ref[65536], val[4096] = "", want[4096] = "?";
	gid_t saved[256], now[] = { 4242, 4343 };
	int fds = fd_count(), n = getgroups(256, saved), ret;

	if (geteuid() != 0 || n < 0) {
		skip("needs root to change the supplementary groups and back", "pool: groups of the moment");
		return;
	}
	fl_engine_warm(E);
	state_spec(&spec, E);
	state_spec(&clone, FL_ENGINE_CLONE);
	setgroups(2, now);
	ret = pool_state(spec, out, sizeof(out), NULL);
	run_state(clone, NULL, ref, sizeof(ref), &(int){ 0 }, NULL);
	setgroups((size_t)n, saved);
	state_get(ref, "Groups", want, sizeof(want));
	ok(ret == 0 && state_get(out, "Groups", val, sizeof(val)) && !strcmp(val, want) && strstr(val, "4343"),
	   "groups of the moment (Groups %s, clone's %s)", val, want);
	ret = pool_state(spec, out, sizeof(out), NULL);
	ok(ret == 0 && state_get(out, "Groups", val, sizeof(val)) && !strstr(val, "4343"),
	   "groups restored: the next child too (Groups %s)", val);
	fl_spec_free(spec);
	fl_spec_free(clone);
	check_clean("groups", fds);
}

/* Parked children end without zombies; a fork gets its own pool. */
static void test_size_and_fork(void)
{
	fl_spec *spec;
	char out[65536], val[64];
	int fds = fd_count(), status = -1, old;
	pid_t pid;

	old = fl_pool_set_size(4);
	ok(old >= 0 && fl_engine_warm(E) == 0, "pool of 4 filled (was %d)", old);
	ok(fl_pool_set_size(0) == 4 && !has_zombie(), "emptied: no zombie left");
	ok(fl_pool_set_size(-1) == -EINVAL, "negative size: -EINVAL");
	state_spec(&spec, E);
	ok(pool_state(spec, out, sizeof(out), NULL) == 0, "size 0: the child is made on the spot");
	fl_pool_set_size(old);
	fl_engine_warm(E);

	fflush(stdout);
	pid = fork();
	if (pid == 0) {
		int good = pool_state(spec, out, sizeof(out), NULL) == 0 && state_get(out, "ppid", val, sizeof(val)) &&
			   atoi(val) == getpid();

		fl_pool_set_size(0);
		_exit(good ? 0 : 1);
	}
	waitpid(pid, &status, 0);
	ok(WIFEXITED(status) && WEXITSTATUS(status) == 0, "a forked process spawns through a pool of its own");
	ok(pool_state(spec, out, sizeof(out), NULL) == 0 && state_get(out, "ppid", val, sizeof(val)) &&
	   atoi(val) == getpid(), "ours still works");
	fl_spec_free(spec);
	check_clean("size and fork", fds);
}

/* A thread that spawns and ends at once: the child catches up after the
 * spawn returns, so what it takes of the thread (nice value, scheduling,
 * affinity) must not be read from the thread then. */
struct short_lived {
	fl_spec *spec;
	char *const *argv;
	fl_child child;
	int ret;
};

static void *spawn_and_end(void *arg)
{
	struct short_lived *s = arg;

	setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), 3);	/* this thread's own */
	s->ret = fl_spawn(s->spec, &(fl_spawn_args){ .argv = s->argv }, &s->child, NULL);
	return NULL;
}

static void test_thread_gone(void)
{
	char file[] = "/tmp/fl-pool-XXXXXX", out[65536], val[64] = "";
	char *argv[] = { (char *)helper_path(), (char *)"state", file, NULL };
	struct short_lived s = { .argv = argv, .ret = -1 };
	int fd = mkstemp(file), status = -1, fds;
	pthread_t t;
	ssize_t n = -1;

	close(fd);
	fl_engine_warm(E);
	fds = fd_count();
	state_spec(&s.spec, E);
	pthread_create(&t, NULL, spawn_and_end, &s);
	pthread_join(t, NULL);
	if (s.ret == 0 && fl_child_wait_exec(&s.child, NULL) == 0 && fl_child_wait(&s.child, &status) == 0) {
		fd = open(file, O_RDONLY | O_CLOEXEC);
		n = fd >= 0 ? read(fd, out, sizeof(out) - 1) : -1;
		if (fd >= 0)
			close(fd);
	}
	out[n > 0 ? n : 0] = 0;
	ok(WIFEXITED(status) && WEXITSTATUS(status) == 0 && state_get(out, "nice", val, sizeof(val)) &&
	   atoi(val) == 3, "the spawning thread ended at once: its child still has its nice value (%s)", val);
	unlink(file);
	fl_spec_free(s.spec);
	check_clean("thread gone", fds);
}

/* The parked children share the process's fd table: at exit() they end
 * with it, so a pipe's reader sees EOF as soon as the process is gone. */
static void test_exit(void)
{
	struct pollfd pfd;
	int fd, status = -1;
	pid_t pid = fork_piped(&fd);

	if (pid < 0)
		return;
	if (pid == 0)
		exit(fl_engine_warm(E) == 0 ? 0 : 1);	/* exit(), not _exit(): as a program ends */
	waitpid(pid, &status, 0);
	pfd = (struct pollfd){ .fd = fd, .events = POLLIN };
	ok(WIFEXITED(status) && WEXITSTATUS(status) == 0 && poll(&pfd, 1, 0) == 1 && (pfd.revents & POLLHUP),
	   "after exit() no parked child holds the process's fds: EOF at once");
	close(fd);
}

int main(void)
{
	if (fl_engine_supported(E) < 0) {
		skip("the pool engine needs clone3 with CLONE_CLEAR_SIGHAND (Linux 5.5)", "pool engine");
		return done();
	}
	test_moment();
	test_ids();
	test_groups();
	test_size_and_fork();
	test_thread_gone();
	test_exit();
	fl_pool_set_size(0);
	return done();
}
