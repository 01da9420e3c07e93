/* SPDX-License-Identifier: MIT */
/* What the tests share: engines to loop over, spawning with captured output,
 * and the leak checks (fds, zombies) every test runs after each spawn. */
#ifndef FL_TEST_UTIL_H
#define FL_TEST_UTIL_H

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "forkless.h"
#include "tap.h"

/* 1 in a ThreadSanitizer build (gcc says so one way, clang the other). */
#if defined(__SANITIZE_THREAD__)
#define TEST_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define TEST_TSAN 1
#endif
#endif
#ifndef TEST_TSAN
#define TEST_TSAN 0
#endif

/* The directory of the build (set by `make check`), for the helper programs. */
static __attribute__((unused)) const char *build_dir(void)
{
	const char *b = getenv("FL_BUILD");

	return b && *b ? b : "build";
}

/* Path of a program under the build directory, in a static buffer per call site. */
static __attribute__((unused)) const char *build_path(char *buf, size_t len, const char *name)
{
	snprintf(buf, len, "%s/%s", build_dir(), name);
	return buf;
}

/* Open fds of this process, not counting the one used to list them. */
static __attribute__((unused)) int fd_count(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0;

	if (!d)
		return -1;
	while ((e = readdir(d)))
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n - 1;
}

/* For the helpers' benchmarks: a monotonic clock in us, and qsort's order
 * for the samples. */
static __attribute__((unused)) double now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static __attribute__((unused)) int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* 1 if some child of this process is a zombie (left unreaped). */
static __attribute__((unused)) int has_zombie(void)
{
	siginfo_t si;

	si.si_pid = 0;
	if (waitid(P_ALL, 0, &si, WEXITED | WNOHANG | WNOWAIT) < 0)
		return 0;	/* ECHILD: no children at all */
	return si.si_pid != 0;
}

/* Children of this process (of any of its threads) running the program at
 * EXE, a full path: a child a spawn left behind, not an engine's helper. */
static __attribute__((unused)) int children_running(const char *exe)
{
	char path[320], target[4096];
	DIR *d = opendir("/proc/self/task");
	struct dirent *e;
	int child, left = 0;

	while (d && (e = readdir(d))) {
		FILE *f;

		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/self/task/%s/children", e->d_name);
		f = fopen(path, "re");
		while (f && fscanf(f, "%d", &child) == 1) {
			ssize_t n;

			snprintf(path, sizeof(path), "/proc/%d/exe", child);
			n = readlink(path, target, sizeof(target) - 1);
			target[n > 0 ? n : 0] = 0;
			if (n > 0 && !strcmp(target, exe))
				left++;
		}
		if (f)
			fclose(f);
	}
	if (d)
		closedir(d);
	return left;
}

/* Processes running the program at EXE, a full path, of which this process
 * holds a pidfd: an engine's own (a primed image, which children_running
 * counts too), not a child a spawn left behind (spawned through the
 * posix_spawn ABI, which gives no pidfd). */
static __attribute__((unused)) int pidfd_held_running(const char *exe)
{
	char path[320], target[4096];
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int held = 0;

	while (d && (e = readdir(d))) {
		ssize_t n;
		pid_t pid;

		snprintf(path, sizeof(path), "/proc/self/fd/%s", e->d_name);
		n = readlink(path, target, sizeof(target) - 1);
		target[n > 0 ? n : 0] = 0;
		if (strcmp(target, "anon_inode:[pidfd]"))
			continue;
		pid = fl_pidfd_getpid(atoi(e->d_name));
		snprintf(path, sizeof(path), "/proc/%d/exe", (int)pid);
		n = pid > 0 ? readlink(path, target, sizeof(target) - 1) : -1;
		target[n > 0 ? n : 0] = 0;
		held += n > 0 && !strcmp(target, exe);
	}
	if (d)
		closedir(d);
	return held;
}

/* The engine that made this thread's last child of fl_posix_spawn or
 * fl_pidfd_spawn (an engine may hand a spawn to another: the primed engine
 * a program it refuses to the clone engine).  libforkless's own record
 * (src/compat.c), not public: the tests link the static library. */
int fl_compat_engine_ran(void);

/* 1 unless FL_TEST_ENGINES (a comma-separated list of engine names, for a
 * run under valgrind or a debugger) is set and leaves ENGINE out.  The
 * primed engine only when named, or in a test that defines TEST_PRIMED
 * before this header (and ends the images, fl_primed_stop, before it
 * counts fds): its images hold two fds per program spawned. */
static __attribute__((unused)) int engine_wanted(int engine)
{
	const char *list = getenv("FL_TEST_ENGINES"), *name = fl_engine_name(engine);
	size_t n = name ? strlen(name) : 0;

#ifndef TEST_PRIMED
	if (!list || !*list)
		return engine != FL_ENGINE_PRIMED;
#else
	if (engine == FL_ENGINE_PRIMED) {
		/* The image's library, from the build (a static test has no
		 * libforkless.so beside which to find it). */
		char rel[4096], abs[PATH_MAX];

		if (realpath(build_path(rel, sizeof(rel), "libforkless-primed.so"), abs))
			setenv("FORKLESS_PRIMED_LIB", abs, 0);
	}
	if (!list || !*list)
		return 1;
#endif
	for (const char *p = list; name && (p = strstr(p, name)); p += n)
		if ((p == list || p[-1] == ',') && (p[n] == ',' || !p[n]))
			return 1;
	return 0;
}

/* Loop over every engine this build and kernel can run (those named in
 * FL_TEST_ENGINES, if it is set).  Each is warmed first (fl_engine_warm):
 * the zygote's socket and pidfd then exist before a test counts its fds. */
#define for_each_engine(e) \
	for (int e = FL_ENGINE_AUTO + 1; e < FL_ENGINE_COUNT; e++) \
		if (fl_engine_supported(e) == 0 && engine_wanted(e) && fl_engine_warm(e) == 0)

/* fl_spawn, then the exec's outcome (immediate for all engines but async). */
static __attribute__((unused)) int spawn_exec(const fl_spec *spec, const fl_spawn_args *args, fl_child *child, fl_report *report)
{
	int ret = fl_spawn(spec, args, child, report);

	if (ret < 0)
		return ret;
	return fl_child_wait_exec(child, report);
}

/* The state helper: prints what a child can observe of itself (see
 * tests/helper-state.c).  A template made by this points at it. */
static __attribute__((unused)) int state_spec(fl_spec **spec, int engine)
{
	char path[4096];
	int ret = fl_spec_new(spec);

	if (ret < 0)
		return ret;
	ret = fl_spec_set_path(*spec, build_path(path, sizeof(path), "tests/helper-state"));
	if (ret == 0 && engine)
		ret = fl_spec_set_engine(*spec, engine);
	return ret;
}

/*
 * Spawns SPEC (a state_spec) with ARGS, with argv { helper, "state", FILE }:
 * the helper writes its state to FILE, which is read into OUT.  The child is
 * waited for; *STATUS gets its wait status, *ENGINE (if not NULL) the engine
 * that made it.  Returns the spawn's result.
 */
static __attribute__((unused)) int run_state_engine(const fl_spec *spec, const fl_spawn_args *args, char *out,
						    size_t outlen, int *status, fl_report *report, int *engine)
{
	char file[] = "/tmp/fl-state-XXXXXX", helper[4096];
	char *argv[] = { build_path(helper, sizeof(helper), "tests/helper-state") ? helper : NULL,
			 (char *)"state", file, NULL };
	fl_spawn_args a = args ? *args : (fl_spawn_args){ 0 };
	fl_child child;
	int fd = mkstemp(file), ret;
	ssize_t n;

	out[0] = 0;
	if (fd < 0)
		return -errno;
	/* Writable by a child that runs under other ids (t-creds). */
	fchmod(fd, 0666);
	close(fd);
	a.argv = argv;
	ret = spawn_exec(spec, &a, &child, report);
	if (ret == 0 && engine)
		*engine = child.engine;
	if (ret == 0) {
		fl_child_wait(&child, status);
		fd = open(file, O_RDONLY | O_CLOEXEC);
		n = fd >= 0 ? read(fd, out, outlen - 1) : -1;
		out[n > 0 ? n : 0] = 0;
		if (fd >= 0)
			close(fd);
	}
	unlink(file);
	return ret;
}

static __attribute__((unused)) int run_state(const fl_spec *spec, const fl_spawn_args *args, char *out, size_t outlen,
		     int *status, fl_report *report)
{
	return run_state_engine(spec, args, out, outlen, status, report, NULL);
}

/* The value of "KEY=value" line KEY in a state dump, into VAL; NULL if absent. */
static __attribute__((unused)) const char *state_get(const char *state, const char *key, char *val, size_t len)
{
	size_t klen = strlen(key);

	for (const char *line = state; line && *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL) {
		if (!strncmp(line, key, klen) && line[klen] == '=') {
			size_t vlen = strcspn(line + klen + 1, "\n");

			if (vlen >= len)
				vlen = len - 1;
			memcpy(val, line + klen + 1, vlen);
			val[vlen] = 0;
			return val;
		}
	}
	return NULL;
}

/* Whether a report's STEP is WANT, allowing the posix engine's "unknown"
 * (glibc's posix_spawn does not say which step failed). */
static __attribute__((unused)) int step_is(int engine, int step, int want)
{
	return step == want || (engine == FL_ENGINE_POSIX && step == FL_STEP_UNKNOWN);
}

/* A forked process with a pipe to us: returns 0 in the child, which keeps
 * the write end in *FD; the child's pid in the parent, which keeps the read
 * end in *FD; -1 (a failed test point) if the pipe or the fork failed. */
static __attribute__((unused)) pid_t fork_piped(int *fd)
{
	int p[2];
	pid_t pid;

	if (pipe2(p, O_CLOEXEC) < 0) {
		ok(0, "pipe: %s", strerror(errno));
		return -1;
	}
	fflush(stdout);	/* the child must not print our buffered TAP lines again */
	pid = fork();
	if (pid < 0)
		ok(0, "fork: %s", strerror(errno));
	close(p[pid == 0 ? 0 : 1]);
	*fd = p[pid == 0 ? 1 : 0];
	if (pid < 0)
		close(*fd);
	return pid;
}

/* The state helper's path, in a buffer that lives as long as the process;
 * made once, since the thread tests call this from many threads. */
static char helper_path_buf[4096];

static void helper_path_make(void)
{
	build_path(helper_path_buf, sizeof(helper_path_buf), "tests/helper-state");
}

static __attribute__((unused)) const char *helper_path(void)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;

	pthread_once(&once, helper_path_make);
	return helper_path_buf;
}

/*
 * The posix engine answers -ENOTSUP for a template glibc's posix_spawn cannot
 * express: that is a skip with the reason, never a pass.  Returns 1 if it
 * skipped (RET was that answer), else 0.
 */
static __attribute__((unused)) int cannot_express(int engine, int ret, const char *what)
{
	char why[256];

	if (engine != FL_ENGINE_POSIX || ret != -ENOTSUP)
		return 0;
	snprintf(why, sizeof(why), "posix_spawn cannot express %s", what);
	skip(why, "%s: %s", fl_engine_name(engine), what);
	return 1;
}

/* spawn_exec, then waits for the child: *STATUS gets its wait status.  The
 * spawn's result. */
static __attribute__((unused)) int spawn_wait(const fl_spec *spec, const fl_spawn_args *args, int *status,
					      fl_report *report)
{
	fl_child child;
	int ret = spawn_exec(spec, args, &child, report);

	*status = -1;
	if (ret == 0)
		fl_child_wait(&child, status);
	return ret;
}

/* The leak checks after a spawn: the process has FDS fds again and no zombie.
 * WHAT names the case in the TAP line. */
static __attribute__((unused)) void check_clean(const char *what, int fds)
{
	int now = fd_count();

	ok(now == fds, "%s: no fd leaked (%d, was %d)", what, now, fds);
	ok(!has_zombie(), "%s: no zombie", what);
}

/* 1 if fd N is open in a state dump, with its target in TARGET (if not NULL). */
static __attribute__((unused)) int state_fd(const char *state, int fd, char *target, size_t len)
{
	char key[32], val[4096];

	snprintf(key, sizeof(key), "fd.%d", fd);
	if (!state_get(state, key, val, sizeof(val)))
		return 0;
	if (target) {
		val[strcspn(val, " ")] = 0;	/* drop " cloexec=..." */
		snprintf(target, len, "%s", val);
	}
	return 1;
}

/* 1 if the state's KEY is exactly WANT, trailing spaces aside (the kernel
 * ends some status lines with one). */
static __attribute__((unused)) int state_is(const char *state, const char *key, const char *want)
{
	char val[4096];
	size_t n;

	if (!state_get(state, key, val, sizeof(val)))
		return 0;
	n = strlen(val);
	while (n && val[n - 1] == ' ')
		val[--n] = 0;
	return !strcmp(val, want);
}

/* Writes a file of CONTENTS with MODE (whatever the umask); 0 or -errno. */
static __attribute__((unused)) int write_file(const char *path, const char *contents, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode), ret = 0;
	size_t len = strlen(contents);

	if (fd < 0 || write(fd, contents, len) != (ssize_t)len || fchmod(fd, mode) < 0)
		ret = -errno;
	if (fd >= 0)
		close(fd);
	if (ret < 0)
		diag("cannot write %s: %s", path, strerror(-ret));
	return ret;
}

#endif
