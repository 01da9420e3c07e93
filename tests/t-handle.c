// SPDX-License-Identifier: MIT
/*
 * The child handle under every engine: fl_child_wait's status for exit codes
 * and signals, fl_child_trywait (0 while the child runs, 1 once reaped),
 * fl_child_kill through the pidfd, fl_child_fd polling readable at exit,
 * fl_child_wait interrupted by a signal (-EINTR, the child still waitable),
 * fl_child_release (the caller reaps), and -ECHILD / -ESRCH once reaped;
 * the same by pid with FL_SPEC_NO_PIDFD.
 */
#include <poll.h>
#include <stdio.h>
#include <sys/time.h>

#include "util.h"

/* Whether this kernel gives pidfds (Linux 5.3; not under valgrind 3.19). */
static int have_pidfd(void)
{
	return fl_feature(FL_FEAT_PIDFD_OPEN) == 1 || fl_feature(FL_FEAT_CLONE_PIDFD) == 1;
}

static void on_alarm(int sig)
{
	(void)sig;
}

static int spawn_helper(int e, const char *mode, const char *arg, fl_child *child)
{
	char *argv[] = { (char *)helper_path(), (char *)mode, (char *)arg, NULL };
	fl_spec *spec;
	fl_report rep;
	int ret;

	state_spec(&spec, e);
	ret = spawn_exec(spec, &(fl_spawn_args){ .argv = argv }, child, &rep);
	fl_spec_free(spec);
	return ret;
}

static void test_status(int e)
{
	const char *E = fl_engine_name(e);
	static const char *const codes[] = { "0", "3", "255" };
	static const int sigs[] = { SIGTERM, SIGKILL, SIGUSR1 };
	fl_child child;
	int fds = fd_count(), status, ret;

	for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++) {
		ret = spawn_helper(e, "exit", codes[i], &child);
		ok(ret == 0 && child.pid > 0 && child.engine == e, "%s: spawned (pid %d)", E, child.pid);
		if (have_pidfd())
			ok(child.pidfd >= 0, "%s: with a pidfd", E);
		else
			skip("no pidfd on this kernel (Linux 5.3)", "%s: with a pidfd", E);
		status = -1;
		ret = fl_child_wait(&child, &status);
		ok(ret == 0 && WIFEXITED(status) && WEXITSTATUS(status) == atoi(codes[i]), "%s: exit %s (status 0x%x)", E,
		   codes[i], status);
	}
	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++) {
		char sig[8];

		snprintf(sig, sizeof(sig), "%d", sigs[i]);
		ret = spawn_helper(e, "kill", sig, &child);
		status = -1;
		ret = ret ? ret : fl_child_wait(&child, &status);
		ok(ret == 0 && WIFSIGNALED(status) && WTERMSIG(status) == sigs[i] && !WIFEXITED(status),
		   "%s: killed by signal %d (status 0x%x)", E, sigs[i], status);
	}
	check_clean(E, fds);
}

static void test_trywait_kill_poll(int e)
{
	const char *E = fl_engine_name(e);
	fl_child child;
	struct pollfd pfd;
	int fds = fd_count(), status = -1, ret, fd;

	ret = spawn_helper(e, "sleep", "30", &child);
	ok(ret == 0, "%s: a sleeper (ret %d)", E, ret);
	if (ret)
		return;
	ok(fl_child_trywait(&child, &status) == 0, "%s: trywait while it runs: 0", E);
	fd = fl_child_fd(&child);
	ok(fd >= 0 ? fd == child.pidfd : (fd == -ENOSYS && !have_pidfd()), "%s: fl_child_fd is the pidfd (%d)", E, fd);
	pfd = (struct pollfd){ .fd = fd, .events = POLLIN };
	if (fd >= 0)
		ok(poll(&pfd, 1, 0) == 0, "%s: not readable while it runs", E);
	ok(fl_child_kill(&child, 0) == 0, "%s: signal 0: it exists", E);
	ok(fl_child_kill(&child, SIGTERM) == 0, "%s: fl_child_kill SIGTERM", E);
	if (fd >= 0) {
		ret = poll(&pfd, 1, 10000);
		ok(ret == 1 && (pfd.revents & POLLIN), "%s: the pidfd polls readable once it exits", E);
	} else {
		skip("no pidfd on this kernel (Linux 5.3)", "%s: polling for the exit", E);
	}
	/* (Without a pidfd to poll, give it up to 10 s to die.) */
	for (int i = 0; i < 1000 && (ret = fl_child_trywait(&child, &status)) == 0 && fd < 0; i++)
		usleep(10000);
	ok(ret == 1 && WIFSIGNALED(status) && WTERMSIG(status) == SIGTERM,
	   "%s: trywait after exit: 1, killed by SIGTERM (status 0x%x)", E, status);
	ok(child.pidfd == -1, "%s: the pidfd is closed once reaped", E);
	ok(fl_child_kill(&child, SIGTERM) == -ESRCH, "%s: kill after reaping: -ESRCH", E);
	ok(fl_child_wait(&child, &status) == -ECHILD, "%s: wait after reaping: -ECHILD", E);
	ok(fl_child_trywait(&child, &status) == -ECHILD, "%s: trywait after reaping: -ECHILD", E);
	ok(fl_child_fd(&child) < 0, "%s: no fd after reaping", E);
	check_clean(E, fds);
}

static void test_eintr(int e)
{
	const char *E = fl_engine_name(e);
	struct sigaction sa = { .sa_handler = on_alarm }, old;	/* no SA_RESTART */
	struct itimerval tv = { .it_value = { 0, 50000 } };
	fl_child child;
	int fds = fd_count(), status = -1, ret;

	if (spawn_helper(e, "sleep", "30", &child) != 0) {
		ok(0, "%s: a sleeper", E);
		return;
	}
	sigemptyset(&sa.sa_mask);
	sigaction(SIGALRM, &sa, &old);
	setitimer(ITIMER_REAL, &tv, NULL);
	ret = fl_child_wait(&child, &status);
	sigaction(SIGALRM, &old, NULL);
	ok(ret == -EINTR, "%s: wait interrupted by a handler: -EINTR (ret %d)", E, ret);
	ok(fl_child_kill(&child, SIGKILL) == 0 && fl_child_wait(&child, &status) == 0 && WIFSIGNALED(status) &&
	   WTERMSIG(status) == SIGKILL,
	   "%s: still the caller's to kill and wait for (status 0x%x)", E, status);
	check_clean(E, fds);
}

static void test_release(int e)
{
	const char *E = fl_engine_name(e);
	fl_child child;
	int fds = fd_count(), status = -1;
	pid_t pid;

	if (spawn_helper(e, "sleep", "30", &child) != 0) {
		ok(0, "%s: a sleeper", E);
		return;
	}
	pid = child.pid;
	fl_child_release(&child);
	ok(child.pidfd == -1 && fd_count() == fds, "%s: release closes the pidfd", E);
	ok(fl_child_kill(&child, SIGKILL) == -ESRCH, "%s: kill after release: -ESRCH", E);
	ok(fl_child_wait(&child, &status) == -ECHILD, "%s: wait after release: -ECHILD", E);
	ok(kill(pid, SIGKILL) == 0 && waitpid(pid, &status, 0) == pid && WIFSIGNALED(status),
	   "%s: the caller kills and reaps it by pid", E);
	fl_child_release(NULL);
	check_clean(E, fds);
}

/* FL_SPEC_NO_PIDFD: a handle without a pidfd, handled by pid throughout. */
static void test_no_pidfd(int e)
{
	const char *E = fl_engine_name(e);
	char *argv[] = { (char *)helper_path(), (char *)"sleep", (char *)"30", NULL };
	fl_spec *spec;
	fl_report rep;
	fl_child child;
	int fds = fd_count(), status = -1, ret;

	state_spec(&spec, e);
	ok(fl_spec_set_flags(spec, FL_SPEC_NO_PIDFD) == 0, "%s: FL_SPEC_NO_PIDFD taken", E);
	ret = spawn_exec(spec, &(fl_spawn_args){ .argv = argv }, &child, &rep);
	fl_spec_free(spec);
	ok(ret == 0 && child.pid > 0 && child.pidfd == -1 && fl_child_fd(&child) == -ENOSYS,
	   "%s: no pidfd: spawned, none in the handle (ret %d, pidfd %d)", E, ret, child.pidfd);
	if (ret)
		return;
	ok(fds == fd_count(), "%s: no pidfd: no fd held while it runs", E);
	ok(fl_child_trywait(&child, &status) == 0, "%s: no pidfd: trywait while it runs: 0", E);
	ok(fl_child_kill(&child, SIGTERM) == 0, "%s: no pidfd: fl_child_kill by pid", E);
	ret = fl_child_wait(&child, &status);
	ok(ret == 0 && WIFSIGNALED(status) && WTERMSIG(status) == SIGTERM, "%s: no pidfd: waited by pid (status 0x%x)",
	   E, status);
	ok(fl_child_kill(&child, SIGTERM) == -ESRCH, "%s: no pidfd: kill after reaping: -ESRCH", E);
	check_clean(E, fds);
}

int main(void)
{
	fl_child none = { .pid = -1, .pidfd = -1 };

	ok(fl_child_wait(NULL, NULL) == -ECHILD, "wait(NULL): -ECHILD");
	ok(fl_child_trywait(NULL, NULL) == -ECHILD, "trywait(NULL): -ECHILD");
	ok(fl_child_kill(NULL, SIGTERM) == -ESRCH, "kill(NULL): -ESRCH");
	ok(fl_child_fd(NULL) < 0, "fd(NULL): negative");
	ok(fl_child_wait(&none, NULL) == -ECHILD, "wait on a handle with no child: -ECHILD");
	for_each_engine(e) {
		test_status(e);
		test_trywait_kill_poll(e);
		test_eintr(e);
		test_release(e);
		test_no_pidfd(e);
	}
	return done();
}
