// SPDX-License-Identifier: MIT
/*
 * Batches and the reaper: fl_spawn_batch (one template with N argument sets,
 * N templates, failures among them) under every engine; the reaper on
 * io_uring (IORING_OP_WAITID, where the kernel has it) and on epoll (forced),
 * reporting each child once with its own status; timeouts, the pollable fd,
 * async children that fail, freeing a reaper that still holds children; a
 * reaper made in a process whose first probe met a full fd table.  After
 * each: no fd leaked, no zombie.
 */
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <sys/resource.h>

#include "util.h"

#define N 16

static char nums[N][12];

/* argv sets { helper, "exit", i } */
static void exit_args(fl_spawn_args *args, char *(*argv)[4])
{
	for (int i = 0; i < N; i++) {
		snprintf(nums[i], sizeof(nums[i]), "%d", i);
		argv[i][0] = (char *)"helper";
		argv[i][1] = (char *)"exit";
		argv[i][2] = nums[i];
		argv[i][3] = NULL;
		args[i] = (fl_spawn_args){ .argv = argv[i] };
	}
}

/* Reaps every child of CHILDREN[0..n) that runs through a reaper with FLAGS;
 * returns how many were reported with the right status (exit i, or 127 for
 * those in FAILED). */
static int reap_all(unsigned flags, fl_child *children, int n, const fl_report *reports, int *seen_twice)
{
	fl_reaper *r;
	int right = 0, seen[N] = { 0 };

	if (fl_reaper_new(&r, flags) < 0)
		return -1;
	for (int i = 0; i < n; i++)
		if (!reports[i].error)
			fl_reaper_add(r, &children[i]);
	for (;;) {
		fl_child *c;
		int status, ret = fl_reaper_wait(r, 5000, &c, &status);
		long i;

		if (ret != 1)
			break;
		i = c - children;
		if (i < 0 || i >= n) {
			right = -1000;
			continue;
		}
		if (seen[i]++)
			(*seen_twice)++;
		if (WIFEXITED(status) && WEXITSTATUS(status) == (int)i)
			right++;
	}
	fl_reaper_free(r);
	return right;
}

static void test_batch(int e, unsigned reaper_flags, const char *how)
{
	const char *E = fl_engine_name(e);
	fl_spec *spec;
	fl_child children[N];
	fl_report reports[N];
	fl_spawn_args args[N];
	char *argv[N][4];
	int fds = fd_count(), ret, twice = 0;

	state_spec(&spec, e);
	exit_args(args, argv);
	ret = fl_spawn_batch(N, (const fl_spec *const[]){ spec }, 1, args, 0, children, reports);
	ok(ret == N, "%s: one template, %d argument sets: %d run", E, N, ret);
	ret = reap_all(reaper_flags, children, N, reports, &twice);
	ok(ret == N && !twice, "%s/%s: each reaped once with its own status (%d right, %d twice)", E, how, ret,
	   twice);
	fl_spec_free(spec);
	check_clean(E, fds);
}

/* N templates under ENGINE, every EVERY-th missing its program; the others
 * exit with their index. */
struct mixed {
	fl_spec *good, *bad;
	const fl_spec *specs[N];
	fl_child children[N];
	fl_report reports[N];
	fl_spawn_args args[N];
	char *argv[N][4];
};

static void mixed_init(struct mixed *m, int engine, int every)
{
	state_spec(&m->good, engine);
	state_spec(&m->bad, engine);
	fl_spec_set_path(m->bad, "/nonexistent/program");
	exit_args(m->args, m->argv);
	for (int i = 0; i < N; i++)
		m->specs[i] = i % every ? m->good : m->bad;
}

static void mixed_free(struct mixed *m)
{
	fl_spec_free(m->good);
	fl_spec_free(m->bad);
}

static void test_mixed(int e)
{
	const char *E = fl_engine_name(e);
	struct mixed m;
	fl_child *children = m.children;
	fl_report *reports = m.reports;
	int fds = fd_count(), ret, wrong = 0, twice = 0, expect = 0;

	mixed_init(&m, e, 3);
	for (int i = 0; i < N; i++)
		expect += i % 3 != 0;
	ret = fl_spawn_batch(N, m.specs, N, m.args, 0, children, reports);
	for (int i = 0; i < N; i++)
		if (i % 3 ? reports[i].error != 0
			  : reports[i].error != ENOENT ||
				    !step_is(e, reports[i].step, FL_STEP_EXEC))
			wrong++;
	ok(ret == expect && !wrong, "%s: %d templates, a third missing: %d run, %d outcomes wrong", E, N, ret, wrong);
	ret = reap_all(0, children, N, reports, &twice);
	ok(ret == expect && !twice, "%s: the others reaped (%d)", E, ret);
	mixed_free(&m);
	check_clean(E, fds);
}

static void test_args(void)
{
	fl_spec *spec;
	fl_child c[2];
	fl_report rep[2];
	fl_reaper *r;

	state_spec(&spec, 0);
	ok(fl_spawn_batch(0, (const fl_spec *const[]){ spec }, 1, NULL, 0, c, rep) == -EINVAL, "batch of 0: -EINVAL");
	ok(fl_spawn_batch(2, (const fl_spec *const[]){ spec, spec }, 3, NULL, 0, c, rep) == -EINVAL,
	   "nspecs neither 1 nor n: -EINVAL");
	ok(fl_spawn_batch(2, NULL, 1, NULL, 0, c, rep) == -EINVAL, "no templates: -EINVAL");
	ok(fl_reaper_new(&r, 0x80) == -EINVAL, "reaper: unknown flag -EINVAL");
	fl_reaper_new(&r, 0);
	ok(fl_reaper_wait(r, 0, NULL, NULL) == -ECHILD, "empty reaper: -ECHILD");
	ok(fl_reaper_add(r, &(fl_child){ .pid = -1, .pidfd = -1 }) == -ECHILD, "adding no child: -ECHILD");
	fl_reaper_free(r);
	fl_reaper_free(NULL);
	fl_spec_free(spec);
}

/* Timeouts, the pollable fd, and freeing a reaper that still holds a child. */
static void test_reaper_misc(unsigned flags, const char *how)
{
	fl_spec *spec;
	fl_child child, *c = NULL;
	fl_report rep;
	fl_reaper *r;
	char *argv[] = { (char *)"helper", (char *)"sleep", (char *)"10", NULL };
	fl_spawn_args args = { .argv = argv };
	int fds = fd_count(), status = -1, ret;
	struct pollfd p;

	if (fl_reaper_new(&r, flags) < 0) {
		ok(0, "%s: reaper made", how);
		return;
	}
	ok(!strcmp(fl_reaper_backend(r), how), "%s: backend %s", how, fl_reaper_backend(r));
	state_spec(&spec, FL_ENGINE_CLONE);
	spawn_exec(spec, &args, &child, &rep);
	ok(fl_reaper_add(r, &child) == 0 && fl_reaper_count(r) == 1, "%s: added", how);
	ok(fl_reaper_wait(r, 0, &c, &status) == 0, "%s: timeout 0, child running: 0", how);
	ret = fl_reaper_wait(r, 30, &c, &status);
	ok(ret == 0, "%s: timeout 30 ms: 0 (ret %d)", how, ret);
	p = (struct pollfd){ .fd = fl_reaper_fd(r), .events = POLLIN };
	ok(poll(&p, 1, 0) == 0, "%s: its fd not readable yet", how);
	fl_child_kill(&child, SIGTERM);
	ok(poll(&p, 1, 5000) == 1, "%s: its fd readable once the child died", how);
	ret = fl_reaper_wait(r, -1, &c, &status);
	ok(ret == 1 && c == &child && WIFSIGNALED(status) && WTERMSIG(status) == SIGTERM,
	   "%s: reported killed by SIGTERM (ret %d, status 0x%x)", how, ret, status);
	ok(fl_reaper_count(r) == 0 && fl_child_wait(&child, NULL) == -ECHILD, "%s: the handle is done", how);

	/* A reaper freed with a child in it leaves the child to its handle. */
	spawn_exec(spec, &args, &child, &rep);
	fl_reaper_add(r, &child);
	fl_reaper_free(r);
	fl_child_kill(&child, SIGKILL);
	ret = fl_child_wait(&child, &status);
	ok(ret == 0 && WIFSIGNALED(status), "%s: after fl_reaper_free the child is still the handle's (ret %d)",
	   how, ret);
	fl_spec_free(spec);
	check_clean(how, fds);
}

/* Async children added before their exec outcome, some failing: each is
 * reported once, the failed ones with the exit status 127 the library saw. */
static void test_async_failures(unsigned flags, const char *how)
{
	struct mixed m;
	fl_child *children = m.children;
	fl_reaper *r;
	int fds = fd_count(), ret, right = 0, seen[N] = { 0 }, twice = 0;

	mixed_init(&m, FL_ENGINE_ASYNC, 2);
	ret = fl_spawn_batch(N, m.specs, N, m.args, FL_BATCH_NOWAIT, children, m.reports);
	ok(ret == N, "async/%s: %d started without waiting for the execs", how, ret);
	fl_reaper_new(&r, flags);
	for (int i = 0; i < N; i++)
		fl_reaper_add(r, &children[i]);
	for (;;) {
		fl_child *c;
		int status;
		long i;

		if (fl_reaper_wait(r, 5000, &c, &status) != 1)
			break;
		i = c - children;
		if (seen[i]++)
			twice++;
		if (WIFEXITED(status) && WEXITSTATUS(status) == (i % 2 ? i : 127))
			right++;
	}
	fl_reaper_free(r);
	ok(right == N && !twice, "async/%s: each reported once, failed ones with exit 127 (%d right)", how, right);
	mixed_free(&m);
	check_clean("async failures", fds);
}

/* Many children from one thread, then all reaped: the bench's batch row.
 * The batch opens their pidfds after it has started them all: each still
 * has one. */
static void test_many(int engine)
{
	enum { M = 200 };
	static fl_child children[M];
	static fl_report reports[M];
	const char *e = fl_engine_name(engine);
	fl_spec *spec;
	fl_reaper *r;
	char *argv[] = { (char *)"helper", (char *)"exit", (char *)"3", NULL };
	int fds = fd_count(), ret, reaped = 0, bad = 0, no_pidfd = 0;

	state_spec(&spec, engine);
	fl_spec_set_argv(spec, argv);
	ret = fl_spawn_batch(M, (const fl_spec *const[]){ spec }, 1, NULL, 0, children, reports);
	ok(ret == M, "%s: %d children spawned from one thread (%d)", e, M, ret);
	for (int i = 0; i < M; i++)
		no_pidfd += !reports[i].error && fl_child_fd(&children[i]) < 0;
	if (fl_feature(FL_FEAT_PIDFD_OPEN) == 1)
		ok(no_pidfd == 0, "%s: each has its pidfd (%d without)", e, no_pidfd);
	else
		skip("no pidfd_open (Linux 5.3)", "%s: each has its pidfd", e);
	fl_reaper_new(&r, 0);
	for (int i = 0; i < M; i++)
		if (!reports[i].error)
			fl_reaper_add(r, &children[i]);
	for (;;) {
		fl_child *c;
		int status;

		if (fl_reaper_wait(r, 10000, &c, &status) != 1)
			break;
		reaped++;
		bad += !WIFEXITED(status) || WEXITSTATUS(status) != 3;
	}
	fl_reaper_free(r);
	ok(reaped == ret && !bad, "%s: all %d reaped through %s, %d bad statuses", e, reaped,
	   fl_feature(FL_FEAT_IOURING_WAITID) == 1 ? "io_uring" : "epoll", bad);
	fl_spec_free(spec);
	check_clean("many", fds);
}

/* A process's first reaper, every fd in use: the probe of pidfds finds no
 * fd either, and that is no answer about the kernel.  Run in a fork before
 * this process probes anything. */
static void test_reaper_full_table(void)
{
	int res[2] = { 1, 1 }, fd, status = -1, got;
	pid_t pid = fork_piped(&fd);

	if (pid < 0)
		return;
	if (pid == 0) {
		struct rlimit rl;
		fl_reaper *r;
		int top = -1;

		prctl(PR_SET_PDEATHSIG, SIGKILL);
		getrlimit(RLIMIT_NOFILE, &rl);
		rl.rlim_cur = 64;
		setrlimit(RLIMIT_NOFILE, &rl);
		while ((got = open("/dev/null", O_RDONLY | O_CLOEXEC)) >= 0)
			top = got;
		res[0] = fl_reaper_new(&r, 0);
		if (res[0] == 0)
			fl_reaper_free(r);
		close_range(fd + 1, top, 0);
		res[1] = fl_reaper_new(&r, 0);
		if (res[1] == 0)
			fl_reaper_free(r);
		_exit(write(fd, res, sizeof(res)) == sizeof(res) ? 0 : 3);
	}
	got = read(fd, res, sizeof(res)) == sizeof(res);
	close(fd);
	waitpid(pid, &status, 0);
	ok(got && WIFEXITED(status) && WEXITSTATUS(status) == 0, "full table: the worker ended normally (status %#x)",
	   status);
	ok(res[0] == -EMFILE, "full table: a process's first reaper: -EMFILE, not a missing feature (%d %s)", res[0],
	   strerror(-res[0]));
	ok(res[1] == 0, "full table: with fds free again, a reaper is made (%d %s)", res[1], strerror(-res[1]));
}

int main(void)
{
	int uring;

	test_reaper_full_table();
	uring = fl_feature(FL_FEAT_IOURING_WAITID) == 1;
	test_args();
	for_each_engine(e) {
		test_batch(e, FL_REAPER_EPOLL, "epoll");
		if (uring)
			test_batch(e, 0, "io_uring");
		else
			skip("no IORING_OP_WAITID (Linux 6.7)", "%s: io_uring reaper", fl_engine_name(e));
		test_mixed(e);
	}
	test_reaper_misc(FL_REAPER_EPOLL, "epoll");
	if (uring) {
		test_reaper_misc(0, "io_uring");
		test_async_failures(0, "io_uring");
	} else {
		skip("no IORING_OP_WAITID (Linux 6.7)", "io_uring reaper");
	}
	test_async_failures(FL_REAPER_EPOLL, "epoll");
	test_many(FL_ENGINE_CLONE);
	test_many(FL_ENGINE_ASYNC);
	return done();
}
