// SPDX-License-Identifier: MIT
/*
 * The async engine: fl_spawn returns before the exec, the outcome arrives
 * later (blocking, non-blocking, by a pollable fd); failure reports name the
 * step; a failed child is reaped by the library even when its handle is never
 * asked; a stack is never reused while a child still runs on it; argv, envp
 * and environ may change once fl_spawn has returned; the template may be
 * freed at once.  After each: no fd leaked, no zombie.
 */
#include <poll.h>
#include <pthread.h>
#include <stdio.h>

#include "util.h"

#define E FL_ENGINE_ASYNC

static int async_spec(fl_spec **spec, const char *path)
{
	int ret = fl_spec_new(spec);

	if (ret == 0)
		ret = fl_spec_set_path(*spec, path ? path : helper_path());
	if (ret == 0)
		ret = fl_spec_set_engine(*spec, E);
	return ret;
}

/* Waits until the child has exited, without reaping it. */
static void wait_dead(const fl_child *child)
{
	struct pollfd p = { .fd = child->pidfd, .events = POLLIN };

	poll(&p, 1, 5000);
}

static void test_outcomes(void)
{
	fl_spec *spec;
	fl_child child;
	fl_report rep;
	char *argv[] = { (char *)"helper", (char *)"exit", (char *)"7", NULL };
	fl_spawn_args args = { .argv = argv };
	int fds = fd_count(), status = -1, ret, polls = 0;

	async_spec(&spec, NULL);
	ret = fl_spawn(spec, &args, &child, &rep);
	ok(ret == 0 && child.pid > 0 && child.pidfd >= 0, "spawn returns with a child (ret %d)", ret);
	while ((ret = fl_child_poll_exec(&child, &rep)) == 1)
		polls++, usleep(100);
	ok(ret == 0, "poll_exec: exec'd (ret %d after %d polls)", ret, polls);
	ok(fl_child_wait_exec(&child, &rep) == 0, "wait_exec after poll_exec: still 0");
	ret = fl_child_wait(&child, &status);
	ok(ret == 0 && WIFEXITED(status) && WEXITSTATUS(status) == 7, "exit status 7 (status 0x%x)", status);
	check_clean("exec'd child", fds);

	/* A missing program: the spawn succeeds, the outcome says ENOENT at exec. */
	fl_spec_set_path(spec, "/nonexistent/program");
	ret = fl_spawn(spec, NULL, &child, &rep);
	ok(ret == 0, "missing program: spawn returns 0 (ret %d)", ret);
	ret = fl_child_wait_exec(&child, &rep);
	ok(ret == -ENOENT && rep.error == ENOENT && rep.step == FL_STEP_EXEC,
	   "missing program: wait_exec -ENOENT at exec (ret %d, step %d)", ret, rep.step);
	ok(fl_child_wait(&child, &status) == -ECHILD, "its handle is released");
	check_clean("failed exec", fds);

	/* A failing step: its index. */
	fl_spec_set_path(spec, helper_path());
	fl_act_umask(fl_spec_actions(spec), 022, 0);
	fl_act_chdir(fl_spec_actions(spec), "/nonexistent/dir", 0);
	ret = fl_spawn(spec, NULL, &child, &rep);
	if (ret == 0)
		while ((ret = fl_child_poll_exec(&child, &rep)) == 1)
			usleep(100);
	ok(ret == -ENOENT && rep.step == 1, "failing chdir: poll_exec -ENOENT at step 1 (ret %d, step %d)", ret,
	   rep.step);
	check_clean("failed step", fds);

	/* fl_child_wait without wait_exec on a failed child: the exit status
	 * the library reaped (127). */
	ret = fl_spawn(spec, NULL, &child, &rep);
	if (ret == 0)
		ret = fl_child_wait(&child, &status);
	ok(ret == 0 && WIFEXITED(status) && WEXITSTATUS(status) == 127,
	   "failed child, fl_child_wait alone: exit 127 (status 0x%x)", status);
	check_clean("failed child waited", fds);
	fl_spec_free(spec);
}

/* The library reaps a failed child whose handle is not asked: on the next spawn. */
static void test_reaped_unasked(void)
{
	fl_spec *bad, *good;
	fl_child failed, running;
	fl_report rep;
	char *argv[] = { (char *)"helper", (char *)"sleep", (char *)"10", NULL };
	fl_spawn_args args = { .argv = argv };
	int fds = fd_count(), ret, status;

	async_spec(&bad, "/nonexistent/program");
	async_spec(&good, NULL);
	ret = fl_spawn(bad, NULL, &failed, &rep);
	wait_dead(&failed);
	ok(ret == 0 && has_zombie(), "failed child is dead and not reaped yet");
	ret = fl_spawn(good, &args, &running, &rep);
	ok(ret == 0 && !has_zombie(), "the next spawn reaped it (ret %d)", ret);
	ok(fl_child_wait_exec(&running, &rep) == 0, "the next child exec'd");
	ok(fl_child_wait_exec(&failed, &rep) == -ENOENT && rep.step == FL_STEP_EXEC,
	   "the failed handle still tells -ENOENT at exec");
	fl_child_kill(&running, SIGKILL);
	ok(fl_child_wait(&running, &status) == 0 && WIFSIGNALED(status), "killed child reaped");
	fl_spec_free(bad);
	fl_spec_free(good);
	check_clean("reaped unasked", fds);

	/* fl_child_release of a child not yet exec'd: the outcome is settled
	 * first, a failure reaped by the library. */
	async_spec(&bad, "/nonexistent/program");
	ret = fl_spawn(bad, NULL, &failed, &rep);
	fl_child_release(&failed);
	ok(ret == 0 && !has_zombie(), "released failed child reaped");
	fl_spec_free(bad);
	check_clean("release", fds);
}

/* The exec fd: readable once the outcome is known, for an event loop. */
static void test_exec_fd(void)
{
	fl_spec *spec;
	fl_child child;
	fl_report rep;
	int fds = fd_count(), ret, fd, status;
	struct pollfd p;

	async_spec(&spec, NULL);
	ok(fl_spec_set_flags(spec, FL_SPEC_EXEC_FD) == 0, "FL_SPEC_EXEC_FD accepted");
	for (int fail = 0; fail < 2; fail++) {
		char *argv[] = { (char *)"helper", (char *)"exit", (char *)"0", NULL };
		fl_spawn_args args = { .argv = argv };

		fl_spec_set_path(spec, fail ? "/nonexistent/program" : helper_path());
		ret = fl_spawn(spec, &args, &child, &rep);
		fd = fl_child_exec_fd(&child);
		ok(ret == 0 && fd >= 0 && fd != child.pidfd, "%s: an exec fd (%d)", fail ? "failing" : "good", fd);
		p = (struct pollfd){ .fd = fd, .events = POLLIN };
		ok(poll(&p, 1, 5000) == 1 && (p.revents & (POLLIN | POLLHUP)), "%s: it polls readable",
		   fail ? "failing" : "good");
		ret = fl_child_poll_exec(&child, &rep);
		ok(fail ? ret == -ENOENT : ret == 0, "%s: poll_exec then answers at once (ret %d)",
		   fail ? "failing" : "good", ret);
		ok(fl_child_exec_fd(&child) == -ENOENT, "%s: the exec fd is gone", fail ? "failing" : "good");
		if (!fail)
			fl_child_wait(&child, &status);
		check_clean("exec fd", fds);
	}
	fl_spec_free(spec);
	fl_spec_new(&spec);
	fl_spec_set_path(spec, helper_path());
	fl_spec_set_engine(spec, FL_ENGINE_CLONE);
	fl_spec_set_argv(spec, (char *[]){ (char *)"helper", (char *)"exit", (char *)"0", NULL });
	ret = spawn_exec(spec, NULL, &child, &rep);
	ok(ret == 0 && fl_child_exec_fd(&child) == -ENOENT, "clone engine: no exec fd");
	fl_child_wait(&child, &status);
	fl_spec_free(spec);
}

/*
 * No stack is reused while a child still runs on it.  Many children in a
 * row, each with its own argv (copied into its block) and a setup long
 * enough to overlap the next spawns; each must exit with its own number.
 * A block reused before the kernel cleared the word would hand a running
 * child another's argv (or crash it).
 */
#define ROUNDS 64

struct round {
	int base, wrong, failed;
};

static void *spawn_many(void *arg)
{
	struct round *r = arg;
	fl_spec *spec;
	fl_child child[ROUNDS];
	char num[ROUNDS][16], pad[ROUNDS][2048];

	async_spec(&spec, NULL);
	for (int k = 0; k < 40; k++)	/* hard steps: a slower setup widens the window */
		fl_act_open(fl_spec_actions(spec), 100 + k, "/dev/null", O_RDONLY, 0, FL_HARD);
	for (int i = 0; i < ROUNDS; i++) {
		char *argv[] = { (char *)"helper", (char *)"exit", num[i], pad[i], NULL };
		fl_spawn_args args = { .argv = argv };

		snprintf(num[i], sizeof(num[i]), "%d", (r->base + i) % 100);
		memset(pad[i], 'a' + i % 26, sizeof(pad[i]) - 1);
		pad[i][sizeof(pad[i]) - 1] = 0;
		if (fl_spawn(spec, &args, &child[i], NULL) < 0) {
			r->failed++;
			child[i].pid = -1;
		}
		/* the caller's copies change at once */
		memset(num[i], 'x', 4);
	}
	for (int i = 0; i < ROUNDS; i++) {
		int status = -1;

		if (child[i].pid < 0)
			continue;
		if (fl_child_wait(&child[i], &status) < 0 || !WIFEXITED(status) ||
		    WEXITSTATUS(status) != (r->base + i) % 100)
			r->wrong++;
	}
	fl_spec_free(spec);
	return NULL;
}

static void test_no_early_reuse(void)
{
	struct round r[2] = { { 0, 0, 0 }, { 50, 0, 0 } };
	pthread_t t;
	int fds = fd_count();

	pthread_create(&t, NULL, spawn_many, &r[1]);
	spawn_many(&r[0]);
	pthread_join(t, NULL);
	ok(!r[0].failed && !r[1].failed, "%d children spawned from 2 threads", 2 * ROUNDS);
	ok(!r[0].wrong && !r[1].wrong, "each exited with its own argv (%d wrong)", r[0].wrong + r[1].wrong);
	check_clean("no early reuse", fds);
}

/* environ and the template change or go right after the spawn. */
static void test_after_return(void)
{
	fl_spec *spec;
	fl_child child;
	fl_report rep;
	char out[65536], val[256], file[] = "/tmp/fl-async-XXXXXX";
	char *argv[] = { (char *)"helper", (char *)"state", file, NULL };
	fl_spawn_args args = { .argv = argv };
	int fds = fd_count(), ret, status = -1, fd = mkstemp(file);
	ssize_t n;

	close(fd);
	setenv("FL_ASYNC_T", "before", 1);
	async_spec(&spec, NULL);
	ret = fl_spawn(spec, &args, &child, &rep);
	/* Both at once, before the child can have exec'd. */
	setenv("FL_ASYNC_T", "after-and-much-longer-to-force-a-new-string", 1);
	fl_spec_free(spec);
	ok(ret == 0 && fl_child_wait_exec(&child, &rep) == 0, "exec'd after the template was freed");
	fl_child_wait(&child, &status);
	fd = open(file, O_RDONLY | O_CLOEXEC);
	n = fd >= 0 ? read(fd, out, sizeof(out) - 1) : -1;
	out[n > 0 ? n : 0] = 0;
	close(fd);
	unlink(file);
	ok(state_get(out, "env.FL_ASYNC_T", val, sizeof(val)) && !strcmp(val, "before"),
	   "the child has environ as it was at the spawn (%s)", val);
	unsetenv("FL_ASYNC_T");
	check_clean("after return", fds);
}

/* The caller's signal mask, not the all-blocked mask of the spawn, at exec. */
static void test_mask(void)
{
	fl_spec *spec;
	fl_report rep;
	sigset_t set, old;
	char out[65536], val[256];
	int status = -1, fds = fd_count(), ret;

	async_spec(&spec, NULL);
	sigemptyset(&set);
	sigaddset(&set, SIGUSR2);
	pthread_sigmask(SIG_BLOCK, &set, &old);
	ret = run_state(spec, NULL, out, sizeof(out), &status, &rep);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	ok(ret == 0 && state_get(out, "SigBlk", val, sizeof(val)) &&
	   strtoull(val, NULL, 16) == 1ull << (SIGUSR2 - 1), "mask at exec is the caller's (SigBlk %s)", val);
	fl_spec_free(spec);
	check_clean("mask", fds);
}

int main(void)
{
	if (fl_engine_supported(E) < 0) {
		skip("the async engine needs clone with CLONE_VM and CLONE_CHILD_CLEARTID", "async engine");
		return done();
	}
	fl_engine_warm(E);
	test_outcomes();
	test_reaped_unasked();
	test_exec_fd();
	test_no_early_reuse();
	test_after_return();
	test_mask();
	return done();
}
