// SPDX-License-Identifier: MIT
/*
 * The primed engine (forkless-primed(7)): a child of an image gets the
 * spawn's argv, environment and /proc view, a canary of its own, glibc's
 * thread state right and no fd of the image's; a replaced program runs the
 * new one; every refusal falls back to the clone engine and says why; an
 * image killed is primed again; a fork of the caller does not use the
 * caller's images; threads share one image.
 */
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "util.h"

#define E FL_ENGINE_PRIMED

static char helper[PATH_MAX], trace_file[] = "/tmp/fl-primed-trace-XXXXXX", dir[] = "/tmp/fl-primed-XXXXXX";

/* The file's contents (up to LEN-1 bytes), "" if missing. */
static char *slurp(const char *file, char *buf, size_t len)
{
	int fd = open(file, O_RDONLY | O_CLOEXEC);
	ssize_t n = fd < 0 ? 0 : read(fd, buf, len - 1);

	if (fd >= 0)
		close(fd);
	buf[n > 0 ? n : 0] = 0;
	return buf;
}

/* The value of "KEY=" in a report, cut at the line's end, or "". */
static const char *field(const char *report, const char *key, char *buf, size_t len)
{
	char pat[64];
	const char *p;

	snprintf(pat, sizeof(pat), "\n%s=", key);
	p = !strncmp(report, pat + 1, strlen(pat + 1)) ? report - 1 : strstr(report, pat);
	if (!p) {
		buf[0] = 0;
		return buf;
	}
	p += strlen(pat);
	snprintf(buf, len, "%.*s", (int)strcspn(p, "\n"), p);
	return buf;
}

/* Spawns PATH with ARGV and ENVP on ENGINE, waits; the engine that ran in
 * *ENGINE_RAN.  Returns the wait status, or -1. */
static int run(const char *path, char *const *argv, char *const *envp, int *engine_ran)
{
	fl_spec *spec;
	fl_child child;
	int status = -1, ret;

	if (fl_spec_new(&spec) < 0)
		return -1;
	fl_spec_set_path(spec, path);
	fl_spec_set_engine(spec, E);
	ret = fl_spawn(spec, &(fl_spawn_args){ .argv = argv, .envp = envp }, &child, NULL);
	if (ret == 0) {
		*engine_ran = child.engine;
		fl_child_wait(&child, &status);
	}
	fl_spec_free(spec);
	return ret == 0 ? status : -1;
}

/* The caller's fds a child inherits, as the helper lists them ("0,1,2,"). */
static char *inherited(char *buf, size_t len)
{
	DIR *d = opendir("/proc/self/fd");

	buf[0] = 0;
	for (struct dirent *e; d && (e = readdir(d));) {
		int fd = atoi(e->d_name);

		if (e->d_name[0] != '.' && fd != dirfd(d) && !(fcntl(fd, F_GETFD) & FD_CLOEXEC) &&
		    strlen(buf) + 16 < len)
			strcat(strcat(buf, e->d_name), ",");
	}
	if (d)
		closedir(d);
	return buf;
}

static void test_exact(void)
{
	char report[65536], v[3 * PATH_MAX], want[3 * PATH_MAX], file[] = "/tmp/fl-primed-r-XXXXXX";
	char *argv[] = { helper, file, (char *)"a b", (char *)"", (char *)"c", NULL };
	char *envp[] = { (char *)"A=1", (char *)"EMPTY=", (char *)"PATH=/bin", NULL };
	int engine = -1, status, fd = mkstemp(file), cloexec[2];

	close(fd);
	/* A close-on-exec fd of the caller's: closed as an exec would. */
	if (pipe2(cloexec, O_CLOEXEC) < 0)
		cloexec[0] = cloexec[1] = -1;
	status = run(helper, argv, envp, &engine);
	slurp(file, report, sizeof(report));
	ok(engine == E && WIFEXITED(status) && WEXITSTATUS(status) == 5, "a primed child ran main and exited with argc (engine %s, status %#x)",
	   fl_engine_name(engine), status);
	snprintf(want, sizeof(want), "argc=5\nargv=%s\nargv=%s\nargv=a b\nargv=\nargv=c\nenv=A=1\nenv=EMPTY=\nenv=PATH=/bin\n",
		 helper, file);
	ok(!strncmp(report, want, strlen(want)) && !strncmp(report + strlen(want), "cmdline=", 8),
	   "main's argv and environ are the spawn's, nothing more");
	snprintf(want, sizeof(want), "%s|%s|a b||c|", helper, file);
	ok(!strcmp(field(report, "cmdline", v, sizeof(v)), want), "/proc/PID/cmdline is the spawn's argv (%s)", v);
	ok(!strcmp(field(report, "environ", v, sizeof(v)), "A=1|EMPTY=|PATH=/bin|"),
	   "/proc/PID/environ is the spawn's environment (%s)", v);
	ok(!strcmp(field(report, "name", v, sizeof(v)), helper) &&
	   !strcmp(field(report, "short", want, sizeof(want)), "helper-primed"),
	   "program_invocation_name and its short form are argv[0]'s (%s, %s)", v, want);
	ok(atoi(field(report, "ppid", v, sizeof(v))) == getpid(), "the child is the caller's own (ppid %s)", v);
	ok(!strcmp(field(report, "tid", v, sizeof(v)), "0"), "glibc's tid in the thread descriptor is the child's (pthread_kill: %s)", v);
	ok(!strcmp(field(report, "fds", v, sizeof(v)), inherited(want, sizeof(want))),
	   "the child has the caller's fds without close-on-exec, none of the image's (%s)", v);
	close(cloexec[0]);
	close(cloexec[1]);
	unlink(file);
}

static void test_canary(void)
{
	char report[65536], c[2][64], file[] = "/tmp/fl-primed-c-XXXXXX";
	char *argv[] = { helper, file, NULL };
	int engine = -1, fd = mkstemp(file);

	close(fd);
	for (int i = 0; i < 2; i++) {
		run(helper, argv, environ, &engine);
		field(slurp(file, report, sizeof(report)), "canary", c[i], sizeof(c[i]));
	}
	ok(engine == E && c[0][0] && strcmp(c[0], c[1]) && strtoul(c[0], NULL, 16) % 256 == 0,
	   "two children of one image have different canaries, low byte 0 (%s, %s)", c[0], c[1]);
	unlink(file);
}

/* Copies FROM to TO (mode 755) by way of a temporary name and a rename, as
 * a package manager replaces a program. */
static int install(const char *from, const char *to, mode_t mode)
{
	char tmp[PATH_MAX + 16], buf[65536];
	int in = open(from, O_RDONLY | O_CLOEXEC), out;
	ssize_t n;

	snprintf(tmp, sizeof(tmp), "%s.new", to);
	out = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0700);
	if (in < 0 || out < 0)
		return -1;
	while ((n = read(in, buf, sizeof(buf))) > 0)
		if (write(out, buf, (size_t)n) != n)
			return -1;
	close(in);
	fchmod(out, mode);
	close(out);
	return rename(tmp, to);
}

static void test_replaced(void)
{
	char prog[PATH_MAX + 8], file[] = "/tmp/fl-primed-p-XXXXXX", report[4096];
	char *argv[] = { prog, file, NULL };
	int engine = -1, status, fd = mkstemp(file);

	close(fd);
	snprintf(prog, sizeof(prog), "%s/prog", dir);
	install(helper, prog, 0755);
	status = run(prog, argv, environ, &engine);
	ok(engine == E && WIFEXITED(status) && WEXITSTATUS(status) == 2 && *slurp(file, report, sizeof(report)),
	   "a copy of the helper runs primed");
	unlink(file);
	install("/bin/true", prog, 0755);
	status = run(prog, argv, environ, &engine);
	ok(engine == E && WIFEXITED(status) && WEXITSTATUS(status) == 0 && access(file, F_OK) < 0,
	   "replaced on disk, the new program runs (primed again: %s, status %#x)", fl_engine_name(engine), status);
	unlink(prog);
}

/* Spawns PROG with ENVP and checks it ran on the clone engine with WHY in
 * the trace. */
static void refused(const char *prog, char *const *envp, const char *why, const char *what)
{
	char *argv[] = { (char *)prog, (char *)"-", NULL }, trace[65536];
	int engine = -1, status = run(prog, argv, envp, &engine);

	slurp(trace_file, trace, sizeof(trace));
	ok(status != -1 && engine == FL_ENGINE_CLONE && strstr(trace, why),
	   "%s: refused, run on the clone engine, and traced (%s)", what, fl_engine_name(engine));
}

/* A relative path with a chdir step is found in the step's directory, as
 * exec finds it, not in the caller's: the primed engine hands it on.  And
 * a step that changes the credentials is handed on too. */
static void test_steps(void)
{
	char top[PATH_MAX + 16], sub[PATH_MAX + 16], here[PATH_MAX], trace[65536];
	char *argv[] = { (char *)"prog", NULL };
	fl_spec *spec;
	fl_child child;
	int status = -1, ret;

	snprintf(top, sizeof(top), "%s/prog", dir);
	snprintf(sub, sizeof(sub), "%s/sub", dir);
	mkdir(sub, 0755);
	install("/bin/false", top, 0755);
	snprintf(sub, sizeof(sub), "%s/sub/prog", dir);
	install("/bin/true", sub, 0755);
	if (!getcwd(here, sizeof(here)) || chdir(dir) < 0 || fl_spec_new(&spec) < 0) {
		ok(0, "a relative program and a chdir step: set up");
		return;
	}
	fl_spec_set_path(spec, "prog");
	fl_spec_set_engine(spec, E);
	fl_act_chdir(fl_spec_actions(spec), "sub", 0);
	for (int i = 0; i < 2; i++) {
		ret = fl_spawn(spec, &(fl_spawn_args){ .argv = argv }, &child, NULL);
		if (ret == 0)
			fl_child_wait(&child, &status);
		ok(ret == 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0 && child.engine == FL_ENGINE_CLONE,
		   "a relative program and a chdir step: the step's directory's program runs, handed on (%d, status %#x, %s)",
		   ret, status, ret ? "-" : fl_engine_name(child.engine));
	}
	fl_spec_free(spec);
	slurp(trace_file, trace, sizeof(trace));
	ok(strstr(trace, "a step changes what its exec would see") != NULL, "and traced why");
	if (chdir(here) < 0)
		diag("chdir back: %s", strerror(errno));
	unlink(sub);
	unlink(top);
	snprintf(sub, sizeof(sub), "%s/sub", dir);
	rmdir(sub);
}

static void test_refusals(void)
{
	char prog[PATH_MAX + 8], firstinsn[4096];
	char *thread_env[] = { (char *)"HELPER_PRIMED_THREAD=1", NULL }, *fd_env[] = { (char *)"HELPER_PRIMED_FD=1", NULL };
	char *shared_env[] = { (char *)"HELPER_PRIMED_SHARED=1", NULL };
	int fd;

	refused(build_path(firstinsn, sizeof(firstinsn), "firstinsn"), environ, "not a dynamically linked", "a static program");
	snprintf(prog, sizeof(prog), "%s/script", dir);
	fd = open(prog, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0755);
	ok(fd >= 0 && write(fd, "#!/bin/sh\nexit 0\n", 17) == 17, "a script written");
	close(fd);
	refused(prog, environ, "a script", "a script");
	snprintf(prog, sizeof(prog), "%s/setid", dir);
	install(helper, prog, 04755);
	refused(prog, environ, "set-id", "a set-user-ID program");
	unlink(prog);
	refused(helper, thread_env, "threads started before main", "a program whose constructor starts a thread");
	refused(helper, fd_env, "fds opened before main", "a program whose constructor opens a fd");
	refused(helper, shared_env, "shared memory mapped before main", "a program whose constructor maps shared memory");
}

/* The pids of this process's children that run PROG (its images: every
 * spawned child was waited for). */
static int images_of(const char *prog, pid_t *pids, int max)
{
	char path[64], buf[4096], exe[PATH_MAX];
	int n = 0, fd;
	ssize_t len;

	snprintf(path, sizeof(path), "/proc/self/task/%d/children", getpid());
	fd = open(path, O_RDONLY | O_CLOEXEC);
	len = fd < 0 ? 0 : read(fd, buf, sizeof(buf) - 1);
	if (fd >= 0)
		close(fd);
	buf[len > 0 ? len : 0] = 0;
	for (char *p = buf; *p && n < max;) {
		pid_t pid = (pid_t)strtol(p, &p, 10);

		snprintf(path, sizeof(path), "/proc/%d/exe", pid);
		len = readlink(path, exe, sizeof(exe) - 1);
		exe[len > 0 ? len : 0] = 0;
		if (pid > 0 && !strcmp(exe, prog))
			pids[n++] = pid;
		while (*p == ' ')
			p++;
	}
	return n;
}

/* The one pid in NOW[N] that is not in WAS[M], or -1. */
static pid_t new_one(const pid_t *now, int n, const pid_t *was, int m)
{
	pid_t found = -1;

	for (int i = 0; i < n; i++) {
		bool old = false;

		for (int k = 0; k < m; k++)
			old |= now[i] == was[k];
		if (!old) {
			if (found != -1)
				return -1;
			found = now[i];
		}
	}
	return found;
}

static void test_killed(void)
{
	char *argv[] = { helper, (char *)"-", NULL }, *envp[] = { (char *)"KILLED=1", NULL };
	pid_t was[16], now[16], before, after;
	int engine = -1, status, m, n;
	siginfo_t si;

	/* Its own environment: an image of its own. */
	m = images_of(helper, was, 16);
	run(helper, argv, envp, &engine);
	n = images_of(helper, now, 16);
	before = new_one(now, n, was, m);
	if (!ok(before > 0, "the image is a child of the caller (%d)", (int)before))
		return;
	kill(before, SIGKILL);
	/* Dead, not reaped: the engine reaps its own image. */
	waitid(P_PID, before, &si, WEXITED | WNOWAIT);
	status = run(helper, argv, envp, &engine);
	n = images_of(helper, now, 16);
	after = new_one(now, n, was, m);
	ok(engine == E && WIFEXITED(status) && WEXITSTATUS(status) == 2 && after > 0 && after != before,
	   "an image killed is primed again (%d, then %d)", (int)before, (int)after);
	ok(waitid(P_PID, before, &si, WEXITED | WNOHANG) < 0 && errno == ECHILD, "and the dead one was reaped");
}

#define RENEW 40

static void test_renew(void)
{
	char *argv[] = { helper, (char *)"-", NULL }, *envp[] = { (char *)"RENEWED=1", NULL };
	pid_t was[16], now[16], first = -1, same = -1, next = -1;
	int engine = -1, m = images_of(helper, was, 16), good = 0;

	for (int i = 0; i <= RENEW; i++) {
		int status = run(helper, argv, envp, &engine), n = images_of(helper, now, 16);

		good += engine == E && WIFEXITED(status) && WEXITSTATUS(status) == 2;
		if (i == 0)
			first = new_one(now, n, was, m);
		else if (i == RENEW - 1)
			same = new_one(now, n, was, m);
		else if (i == RENEW)
			next = new_one(now, n, was, m);
	}
	ok(good == RENEW + 1 && first > 0 && same == first && next > 0 && next != first,
	   "FORKLESS_PRIMED_RENEW=%d: an image makes %d children, then another is primed (%d, %d, %d)", RENEW,
	   RENEW, (int)first, (int)same, (int)next);
}

static void test_fork(void)
{
	static char report[65536];
	char v[64], file[] = "/tmp/fl-primed-f-XXXXXX";
	char *argv[] = { helper, file, NULL };
	int engine = -1, status, fd = mkstemp(file);
	pid_t pid;

	close(fd);
	fflush(stdout);
	pid = fork();
	if (pid == 0) {
		pid_t img;

		prctl(PR_SET_PDEATHSIG, SIGKILL);
		status = run(helper, argv, environ, &engine);
		field(slurp(file, report, sizeof(report)), "ppid", v, sizeof(v));
		_exit(engine == E && WIFEXITED(status) && atoi(v) == getpid() && images_of(helper, &img, 1) == 1 ? 0 : 1);
	}
	waitpid(pid, &status, 0);
	ok(WIFEXITED(status) && WEXITSTATUS(status) == 0,
	   "a fork of the caller primes its own image: its children are its own (status %#x)", status);
	status = run(helper, argv, environ, &engine);
	field(slurp(file, report, sizeof(report)), "ppid", v, sizeof(v));
	ok(engine == E && WIFEXITED(status) && atoi(v) == getpid(), "and the caller's image still serves the caller");
	unlink(file);
}

#define THREADS 8
#define PER_THREAD 20

static void *spawner(void *arg)
{
	char *argv[] = { helper, (char *)"-", (char *)"x", NULL };
	long good = 0;

	(void)arg;
	for (int i = 0; i < PER_THREAD; i++) {
		int engine = -1, status = run(helper, argv, environ, &engine);

		good += engine == E && WIFEXITED(status) && WEXITSTATUS(status) == 3;
	}
	return (void *)good;
}

static void test_threads(void)
{
	pthread_t t[THREADS];
	long good = 0;
	pid_t img[4];
	int n = images_of(helper, img, 4);

	for (int i = 0; i < THREADS; i++)
		pthread_create(&t[i], NULL, spawner, NULL);
	for (int i = 0; i < THREADS; i++) {
		void *r;

		pthread_join(t[i], &r);
		good += (long)r;
	}
	ok(good == THREADS * PER_THREAD && images_of(helper, img, 4) == n,
	   "%d threads spawning through one image: %ld of %d right", THREADS, good, THREADS * PER_THREAD);
}

int main(void)
{
	char lib[4096];
	int fd;

	setpgid(0, 0);
	if (fl_engine_supported(E) < 0) {
		printf("1..0 # SKIP the primed engine is x86_64 only\n");
		return 0;
	}
	setenv("FORKLESS_PRIMED_LIB", build_path(lib, sizeof(lib), "libforkless-primed.so"), 0);
	if (access(getenv("FORKLESS_PRIMED_LIB"), R_OK) < 0) {
		printf("1..0 # SKIP libforkless-primed.so not built\n");
		return 0;
	}
	if (!realpath(build_path(lib, sizeof(lib), "tests/helper-primed"), helper)) {
		printf("1..0 # SKIP tests/helper-primed not built\n");
		return 0;
	}
	fd = mkstemp(trace_file);
	close(fd);
	setenv("FORKLESS_TRACE", trace_file, 1);
	snprintf(lib, sizeof(lib), "%d", RENEW);
	setenv("FORKLESS_PRIMED_RENEW", lib, 1);
	if (!mkdtemp(dir))
		return 1;

	test_exact();
	test_canary();
	test_replaced();
	test_refusals();
	test_steps();
	test_killed();
	test_renew();
	test_fork();
	test_threads();

	unlink(trace_file);
	rmdir(dir);
	ok(!has_zombie(), "no zombie left");
	return done();
}
