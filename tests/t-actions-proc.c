// SPDX-License-Identifier: MIT
/*
 * The process actions under every engine: chdir, fchdir, umask, setsid,
 * setpgid, tcsetpgrp, priority, affinity, rlimit, no_new_privs, unshare,
 * cgroup, pdeathsig (with the getppid recheck), sigmask, sigdefault; hard
 * steps whose failure is ignored and linked ones that abort with their index.
 *
 * The whole test runs in a new session whose controlling terminal is a pty
 * it makes, so that tcsetpgrp has a terminal to hand over.
 */
#include <limits.h>
#include <sched.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <termios.h>

#include "util.h"

static char dir[] = "/tmp/fl-proc-XXXXXX";
static int tty = -1;		/* the pty's slave: our controlling terminal */
static const char *no_tty;	/* why not, if we have none */

static int get_int(const char *state, const char *key)
{
	char val[64];

	return state_get(state, key, val, sizeof(val)) ? atoi(val) : -1;
}

static void test_dirs(int e)
{
	const char *E = fl_engine_name(e);
	char out[65536], cwd[PATH_MAX];
	fl_spec *spec;
	fl_report rep;
	int status, ret, fds = fd_count(), dfd;

	getcwd(cwd, sizeof(cwd));
	state_spec(&spec, e);
	fl_act_chdir(fl_spec_actions(spec), dir, 0);
	ret = run_state(spec, NULL, out, sizeof(out), &status, &rep);
	ok(ret == 0 && state_is(out, "cwd", dir), "%s: chdir: the child runs in %s (ret %d)", E, dir, ret);
	fl_spec_free(spec);

	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	state_spec(&spec, e);
	fl_act_fchdir(fl_spec_actions(spec), dfd, 0);
	ret = run_state(spec, NULL, out, sizeof(out), &status, &rep);
	ok(ret == 0 && state_is(out, "cwd", dir), "%s: fchdir: the child runs in %s (ret %d)", E, dir, ret);
	fl_spec_free(spec);
	close(dfd);

	/* Linked: the spawn fails at the step.  Hard: ignored, and the next runs. */
	state_spec(&spec, e);
	fl_act_chdir(fl_spec_actions(spec), "/", 0);
	fl_act_chdir(fl_spec_actions(spec), "/nope", 0);
	fl_act_chdir(fl_spec_actions(spec), dir, 0);
	ret = run_state(spec, NULL, out, sizeof(out), &status, &rep);
	ok(ret == -ENOENT && rep.error == ENOENT && step_is(e, rep.step, 1),
	   "%s: linked chdir to a missing dir: -ENOENT at step 1 (ret %d step %d)", E, ret, rep.step);
	fl_spec_free(spec);
	state_spec(&spec, e);
	fl_act_chdir(fl_spec_actions(spec), "/nope", FL_HARD);
	fl_act_chdir(fl_spec_actions(spec), "/", FL_HARD);
	ret = run_state(spec, NULL, out, sizeof(out), &status, &rep);
	if (!cannot_express(e, ret, "a hard step"))
		ok(ret == 0 && state_is(out, "cwd", "/"), "%s: hard chdir to a missing dir ignored, the next ran (ret %d)", E,
		   ret);
	fl_spec_free(spec);
	state_spec(&spec, e);
	fl_act_chdir(fl_spec_actions(spec), "/nope", FL_HARD);
	fl_act_fchdir(fl_spec_actions(spec), 99, 0);
	ret = run_state(spec, NULL, out, sizeof(out), &status, &rep);
	if (!cannot_express(e, ret, "a hard step"))
		ok(ret == -EBADF && rep.step == 1, "%s: a hard failure, then a linked one: -EBADF at step 1 (ret %d step %d)", E,
		   ret, rep.step);
	fl_spec_free(spec);
	check_clean(E, fds);
}

static void test_umask_prio_limits(int e)
{
	const char *E = fl_engine_name(e);
	char out[65536], want[64];
	fl_spec *spec;
	fl_report rep;
	cpu_set_t set;
	struct rlimit rl = { 100, 200 }, huge = { 1ul << 30, 1ul << 30 };
	int status, ret, fds = fd_count(), idx, cpu;

	state_spec(&spec, e);
	fl_act_umask(fl_spec_actions(spec), 027, 0);
	ret = run_state(spec, NULL, out, sizeof(out), &status, &rep);
	if (!cannot_express(e, ret, "umask"))
		ok(ret == 0 && state_is(out, "Umask", "0027"), "%s: umask 027 (ret %d)", E, ret);
	fl_spec_free(spec);

	state_spec(&spec, e);
	fl_act_priority(fl_spec_actions(spec), 5, 0);
	ret = run_state(spec, NULL, out, sizeof(out), &status, &rep);
	if (!cannot_express(e, ret, "priority"))
		ok(ret == 0 && get_int(out, "nice") == 5, "%s: priority 5 (ret %d, nice %d)", E, ret, get_int(out, "nice"));
	fl_spec_free(spec);
	if (geteuid() == 0) {
		state_spec(&spec, e);
		fl_act_priority(fl_spec_actions(spec), -5, 0);
		ret = run_state(spec, NULL, out, sizeof(out), &status, &rep);
		if (!cannot_express(e, ret, "priority"))
			ok(ret == 0 && get_int(out, "nice") == -5, "%s: priority -5 as root (ret %d)", E, ret);
		fl_spec_free(spec);
	}

	/* One CPU of those we may run on. */
	sched_getaffinity(0, sizeof(set), &set);
	for (cpu = 0; cpu < CPU_SETSIZE - 1 && !CPU_ISSET(cpu, &set); cpu++)
		;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	snprintf(want, sizeof(want), "%d", cpu);
	state_spec(&spec, e);
	fl_act_affinity(fl_spec_actions(spec), &set, sizeof(set), 0);
	ret = run_state(spec, NULL, out, sizeof(out), &status, &rep);
	if (!cannot_express(e, ret, "affinity"))
		ok(ret == 0 && state_is(out, "Cpus_allowed_list", want), "%s: affinity: CPU %d only (ret %d)", E, cpu, ret);
	fl_spec_free(spec);
	CPU_ZERO(&set);
	CPU_SET(CPU_SETSIZE - 1, &set);	/* a CPU this machine does not have */
	state_spec(&spec, e);
	fl_act_umask(fl_spec_actions(spec), 022, 0);
	idx = fl_act_affinity(fl_spec_actions(spec), &set, sizeof(set), 0);
	ret = run_state(spec, NULL, out, sizeof(out), &status, &rep);
	if (!cannot_express(e, ret, "umask and affinity"))
		ok(ret == -EINVAL && rep.step == idx, "%s: affinity to CPU %d only: -EINVAL at step %d (ret %d step %d)", E,
		   CPU_SETSIZE - 1, idx, ret, rep.step);
	fl_spec_free(spec);

	state_spec(&spec, e);
	fl_act_rlimit(fl_spec_actions(spec), RLIMIT_NOFILE, &rl, 0);
	fl_act_rlimit(fl_spec_actions(spec), RLIMIT_CORE, &(struct rlimit){ 0, 0 }, 0);
	ret = run_state(spec, NULL, out, sizeof(out), &status, &rep);
	snprintf(want, sizeof(want), "rlimit.%d", RLIMIT_NOFILE);
	if (!cannot_express(e, ret, "rlimit"))
		ok(ret == 0 && state_is(out, want, "100 200") && state_is(out, "rlimit.4", "0 0"),
		   "%s: rlimit NOFILE 100 200, CORE 0 0 (ret %d)", E, ret);
	fl_spec_free(spec);
	state_spec(&spec, e);
	fl_act_rlimit(fl_spec_actions(spec), RLIMIT_NOFILE, &huge, 0);	/* above fs.nr_open */
	ret = run_state(spec, NULL, out, sizeof(out), &status, &rep);
	if (!cannot_express(e, ret, "rlimit"))
		ok(ret == -EPERM && rep.step == 0, "%s: rlimit NOFILE above nr_open: -EPERM at step 0 (ret %d step %d)", E, ret,
		   rep.step);
	fl_spec_free(spec);

	state_spec(&spec, e);
	fl_act_no_new_privs(fl_spec_actions(spec), 0);
	ret = run_state(spec, NULL, out, sizeof(out), &status, &rep);
	if (!cannot_express(e, ret, "no_new_privs"))
		ok(ret == 0 && state_is(out, "NoNewPrivs", "1"), "%s: no_new_privs (ret %d)", E, ret);
	fl_spec_free(spec);
	state_spec(&spec, e);
	ret = run_state(spec, NULL, out, sizeof(out), &status, &rep);
	ok(ret == 0 && state_is(out, "NoNewPrivs", "0") && state_is(out, "Umask", "0022") &&
	   get_int(out, "nice") == getpriority(PRIO_PROCESS, 0),
	   "%s: without actions: the caller's umask, nice, no_new_privs (ret %d)", E, ret);
	fl_spec_free(spec);
	check_clean(E, fds);
}

static void test_session(int e)
{
	const char *E = fl_engine_name(e);
	char out[65536], sleep_argv1[] = "sleep", sleep_argv2[] = "30";
	char *sleep_argv[] = { (char *)helper_path(), sleep_argv1, sleep_argv2, NULL };
	fl_spawn_args sleeper_args = { .argv = sleep_argv };
	fl_spec *spec;
	fl_child sleeper;
	fl_report rep;
	int status, ret, fds = fd_count(), pid;

	state_spec(&spec, e);
	fl_act_setsid(fl_spec_actions(spec), 0);
	ret = run_state(spec, NULL, out, sizeof(out), &status, &rep);
	pid = get_int(out, "pid");
	ok(ret == 0 && pid > 0 && get_int(out, "sid") == pid && get_int(out, "pgid") == pid && !strstr(out, "tcpgrp."),
	   "%s: setsid: its own session and group, no terminal (ret %d)", E, ret);
	fl_spec_free(spec);

	state_spec(&spec, e);
	fl_act_setpgid(fl_spec_actions(spec), 0, 0);
	ret = run_state(spec, NULL, out, sizeof(out), &status, &rep);
	pid = get_int(out, "pid");
	ok(ret == 0 && get_int(out, "pgid") == pid && get_int(out, "sid") == getsid(0),
	   "%s: setpgid 0: its own group, our session (ret %d)", E, ret);

	/* Into an existing group: a sleeper's. */
	ret = spawn_exec(spec, &sleeper_args, &sleeper, &rep);
	ok(ret == 0, "%s: a sleeper in its own group (ret %d)", E, ret);
	if (ret == 0) {
		fl_spec *join;

		state_spec(&join, e);
		fl_act_setpgid(fl_spec_actions(join), sleeper.pid, 0);
		ret = run_state(join, NULL, out, sizeof(out), &status, &rep);
		ok(ret == 0 && get_int(out, "pgid") == sleeper.pid, "%s: setpgid %d: joined the sleeper's group (ret %d)", E,
		   sleeper.pid, ret);
		fl_spec_free(join);
		fl_child_kill(&sleeper, SIGKILL);
		fl_child_wait(&sleeper, NULL);
	}
	fl_spec_free(spec);

	/* A group that does not exist in our session. */
	state_spec(&spec, e);
	fl_act_setpgid(fl_spec_actions(spec), 0x3ffffff0, 0);
	ret = run_state(spec, NULL, out, sizeof(out), &status, &rep);
	ok(ret == -EPERM && step_is(e, rep.step, 0), "%s: setpgid to a missing group: -EPERM (ret %d step %d)", E, ret, rep.step);
	fl_spec_free(spec);
	check_clean(E, fds);
}

static void test_tcsetpgrp(int e)
{
	const char *E = fl_engine_name(e);
	char out[65536];
	fl_spec *spec;
	fl_report rep;
	int status, ret, fds = fd_count(), pid, null;

	if (tty < 0) {
		skip(no_tty, "%s: tcsetpgrp", E);
		return;
	}
	ok(tcgetpgrp(tty) == getpgrp(), "%s: we hold the terminal", E);
	state_spec(&spec, e);
	fl_act_setpgid(fl_spec_actions(spec), 0, 0);
	fl_act_tcsetpgrp(fl_spec_actions(spec), tty, 0);
	fl_act_dup2(fl_spec_actions(spec), tty, 0, 0);
	ret = run_state(spec, NULL, out, sizeof(out), &status, &rep);
	pid = get_int(out, "pid");
	ok(ret == 0 && pid > 0 && get_int(out, "tcpgrp.0") == pid,
	   "%s: setpgid 0 + tcsetpgrp: the child's group has the terminal (ret %d, tcpgrp %d, pid %d)", E, ret,
	   get_int(out, "tcpgrp.0"), pid);
	fl_spec_free(spec);
	/* Take it back (from a background group: SIGTTOU would stop us). */
	signal(SIGTTOU, SIG_IGN);
	tcsetpgrp(tty, getpgrp());
	signal(SIGTTOU, SIG_DFL);

	null = open("/dev/null", O_RDONLY | O_CLOEXEC);
	state_spec(&spec, e);
	fl_act_setpgid(fl_spec_actions(spec), 0, 0);
	fl_act_tcsetpgrp(fl_spec_actions(spec), null, 0);
	ret = run_state(spec, NULL, out, sizeof(out), &status, &rep);
	ok(ret == -ENOTTY && step_is(e, rep.step, 1), "%s: tcsetpgrp on /dev/null: -ENOTTY at step 1 (ret %d step %d)", E, ret,
	   rep.step);
	fl_spec_free(spec);
	close(null);
	check_clean(E, fds);
}

/* 1 if this kernel and our privileges allow these namespaces. */
static int can_unshare(int flags)
{
	pid_t pid = fork();
	int status;

	if (pid == 0)
		_exit(unshare(flags) == 0 ? 0 : 1);
	waitpid(pid, &status, 0);
	return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

static void test_unshare(int e)
{
	const char *E = fl_engine_name(e);
	char out[65536], mine[256], theirs[256];
	fl_spec *spec;
	fl_report rep;
	int status, ret, fds = fd_count();
	static const struct { int flag; const char *ns, *link; } cases[] = {
		{ CLONE_NEWUTS, "ns.uts", "/proc/self/ns/uts" },
		{ CLONE_NEWNS, "ns.mnt", "/proc/self/ns/mnt" },
		{ CLONE_NEWIPC, "ns.ipc", "/proc/self/ns/ipc" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		ssize_t n = readlink(cases[i].link, mine, sizeof(mine) - 1);

		mine[n > 0 ? n : 0] = 0;
		if (!can_unshare(cases[i].flag)) {
			skip("unshare is not permitted here (EPERM)", "%s: unshare %s", E, cases[i].ns);
			continue;
		}
		state_spec(&spec, e);
		fl_act_unshare(fl_spec_actions(spec), cases[i].flag, 0);
		ret = run_state(spec, NULL, out, sizeof(out), &status, &rep);
		if (!cannot_express(e, ret, "unshare"))
			ok(ret == 0 && state_get(out, cases[i].ns, theirs, sizeof(theirs)) && *theirs && strcmp(mine, theirs),
			   "%s: unshare: a new %s namespace (%s, ours %s; ret %d)", E, cases[i].ns, theirs, mine, ret);
		fl_spec_free(spec);
		/* Ours is untouched. */
		n = readlink(cases[i].link, theirs, sizeof(theirs) - 1);
		theirs[n > 0 ? n : 0] = 0;
		ok(!strcmp(mine, theirs), "%s: our %s namespace unchanged", E, cases[i].ns);
	}
	check_clean(E, fds);
}

/* The cgroup v2 mount to make test groups in, or NULL. */
static const char *cgroup2_root(void)
{
	static const char *const roots[] = { "/sys/fs/cgroup/unified", "/sys/fs/cgroup" };
	char probe[PATH_MAX];

	for (size_t i = 0; i < sizeof(roots) / sizeof(roots[0]); i++) {
		snprintf(probe, sizeof(probe), "%s/cgroup.procs", roots[i]);
		if (access(probe, W_OK) == 0 && access(roots[i], W_OK) == 0) {
			char ctl[PATH_MAX];

			/* v1 hierarchies have no cgroup.controllers */
			snprintf(ctl, sizeof(ctl), "%s/cgroup.controllers", roots[i]);
			if (access(ctl, F_OK) == 0)
				return roots[i];
		}
	}
	return NULL;
}

/* Removes a test cgroup. */
static void rm_cgroup(const char *path)
{
	/* The reaped child leaves the group at once; a few tries for safety. */
	for (int i = 0; i < 100 && rmdir(path) < 0 && errno == EBUSY; i++)
		usleep(10000);
}

static void test_cgroup(int e)
{
	const char *E = fl_engine_name(e);
	const char *root = cgroup2_root();
	char a[PATH_MAX], b[PATH_MAX], out[65536];
	fl_spec *spec;
	fl_report rep;
	int status, ret, fds, fa, fb, ftmp;

	if (!root) {
		skip("no writable cgroup v2 mount", "%s: cgroup", E);
		return;
	}
	snprintf(a, sizeof(a), "%s/fl-test-%d-%s-a", root, getpid(), E);
	snprintf(b, sizeof(b), "%s/fl-test-%d-%s-b", root, getpid(), E);
	if (mkdir(a, 0755) < 0 || mkdir(b, 0755) < 0) {
		skip("cannot make a cgroup here", "%s: cgroup (%s)", E, strerror(errno));
		rmdir(a);
		return;
	}
	fa = open(a, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	fb = open(b, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	ftmp = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	fds = fd_count();

	/* One step: clone3's CLONE_INTO_CGROUP where the engine uses it. */
	state_spec(&spec, e);
	fl_act_cgroup(fl_spec_actions(spec), fa, 0);
	ret = run_state(spec, NULL, out, sizeof(out), &status, &rep);
	if (!cannot_express(e, ret, "cgroup"))
		ok(ret == 0 && state_is(out, "cgroup", a + strlen(root)),
		   "%s: cgroup: the child runs in %s (ret %d)", E, a + strlen(root), ret);
	fl_spec_free(spec);

	/* Two steps: written to cgroup.procs, the last one wins. */
	state_spec(&spec, e);
	fl_act_cgroup(fl_spec_actions(spec), fa, 0);
	fl_act_cgroup(fl_spec_actions(spec), fb, 0);
	ret = run_state(spec, NULL, out, sizeof(out), &status, &rep);
	if (!cannot_express(e, ret, "cgroup"))
		ok(ret == 0 && state_is(out, "cgroup", b + strlen(root)), "%s: two cgroup steps: ends in %s (ret %d)", E,
		   b + strlen(root), ret);
	fl_spec_free(spec);

	/* A directory that is not a cgroup: the step fails (clone3 says EBADF,
	 * the cgroup.procs write ENOENT), with its index. */
	state_spec(&spec, e);
	fl_act_chdir(fl_spec_actions(spec), "/", 0);
	fl_act_cgroup(fl_spec_actions(spec), ftmp, 0);
	ret = run_state(spec, NULL, out, sizeof(out), &status, &rep);
	if (!cannot_express(e, ret, "cgroup"))
		ok(ret < 0 && rep.step == 1, "%s: cgroup step on a plain directory fails at step 1 (ret %d step %d)", E, ret,
		   rep.step);
	fl_spec_free(spec);
	check_clean(E, fds);
	close(fa);
	close(fb);
	close(ftmp);
	rm_cgroup(a);
	rm_cgroup(b);
	ok(access(a, F_OK) < 0 && access(b, F_OK) < 0, "%s: test cgroups removed", E);
}

static int in_openat(pid_t pid);

/* The pid of a child of PARENT for which WANT holds (any if WANT is NULL),
 * from /proc (no /proc/PID/task/TID/children on every kernel), or -1.  WANT:
 * the zygote engine's helper is a child of the caller too. */
static pid_t child_of(pid_t parent, int (*want)(pid_t))
{
	DIR *d = opendir("/proc");
	struct dirent *ent;
	pid_t found = -1;

	while (d && (ent = readdir(d)) && found < 0) {
		char path[300], buf[512], *p;
		int fd, ppid;
		ssize_t n;

		if (ent->d_name[0] < '0' || ent->d_name[0] > '9')
			continue;
		snprintf(path, sizeof(path), "/proc/%s/stat", ent->d_name);
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			continue;
		n = read(fd, buf, sizeof(buf) - 1);
		close(fd);
		buf[n > 0 ? n : 0] = 0;
		p = strrchr(buf, ')');	/* after the command name: " S ppid" */
		if (p && sscanf(p + 1, " %*c %d", &ppid) == 1 && ppid == parent &&
		    (!want || want(atoi(ent->d_name))))
			found = atoi(ent->d_name);
	}
	if (d)
		closedir(d);
	return found;
}

/* 1 once PID is blocked opening the FIFO: in openat, sleeping where a FIFO
 * open waits for its writer (not in its earlier open of /dev/null). */
static int in_openat(pid_t pid)
{
	char path[64], buf[64], wchan[64];
	int fd;
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/%d/wchan", pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	n = read(fd, wchan, sizeof(wchan) - 1);
	close(fd);
	wchan[n > 0 ? n : 0] = 0;
	if (strcmp(wchan, "wait_for_partner") != 0)
		return 0;
	snprintf(path, sizeof(path), "/proc/%d/syscall", pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	buf[n > 0 ? n : 0] = 0;
	return atoi(buf) == SYS_openat && buf[0] != '-';
}

/* A zygote engine helper other than ours (see test_pdeathsig). */
static int other_zygote(pid_t pid)
{
	char path[64], comm[32] = "";
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/comm", pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	if (read(fd, comm, sizeof(comm) - 1) < 0)
		comm[0] = 0;
	close(fd);
	return !strcmp(comm, "forkless-zygote\n") && pid != fl_zygote_pid();
}

static void test_pdeathsig(int e)
{
	const char *E = fl_engine_name(e);
	char out[65536], fifo[PATH_MAX];
	fl_spec *spec;
	fl_report rep;
	int status, ret, fds = fd_count(), w;
	pid_t parent, child = -1;

	state_spec(&spec, e);
	fl_act_pdeathsig(fl_spec_actions(spec), SIGUSR1, 0);
	ret = run_state(spec, NULL, out, sizeof(out), &status, &rep);
	if (cannot_express(e, ret, "pdeathsig")) {
		fl_spec_free(spec);
		return;
	}
	ok(ret == 0 && get_int(out, "pdeathsig") == SIGUSR1, "%s: pdeathsig SIGUSR1 set (ret %d)", E, ret);
	fl_spec_free(spec);

	/*
	 * The recheck: a parent that dies before the child's prctl sends no
	 * signal, so the child must look at getppid() and signal itself.  The
	 * child is held in an open of a FIFO (a step before the prctl) while
	 * its parent is killed; we are its subreaper and see how it ends.  Its
	 * stdout and stderr go to /dev/null first: a child stuck by a failure
	 * here must not hold the pipe prove reads.
	 */
	snprintf(fifo, sizeof(fifo), "%s/fifo-%s", dir, E);
	mkfifo(fifo, 0600);
	fflush(stdout);
	parent = fork();
	if (parent == 0) {
		char *argv[] = { (char *)helper_path(), (char *)"exit", (char *)"0", NULL };
		fl_child c;

		prctl(PR_SET_PDEATHSIG, SIGKILL);
		/* No parked children (pool engine) to outlive us. */
		fl_pool_set_size(0);
		state_spec(&spec, e);
		fl_spec_set_argv(spec, argv);
		fl_act_open(fl_spec_actions(spec), 1, "/dev/null", O_WRONLY, 0, 0);
		fl_act_open(fl_spec_actions(spec), 2, "/dev/null", O_WRONLY, 0, 0);
		fl_act_open(fl_spec_actions(spec), 10, fifo, O_RDONLY, 0, 0);
		fl_act_pdeathsig(fl_spec_actions(spec), SIGUSR1, 0);
		/* Stay the parent until killed (an async engine returns at once). */
		if (fl_spawn(spec, NULL, &c, NULL) == 0)
			fl_child_wait_exec(&c, NULL);
		for (;;)
			pause();
	}
	for (int i = 0; i < 10000 && child < 0; i++) {
		child = child_of(parent, in_openat);
		if (child < 0)
			usleep(1000);
	}
	for (int i = 0; i < 10000 && child > 0 && !in_openat(child); i++)
		usleep(1000);
	kill(parent, SIGKILL);
	waitpid(parent, NULL, 0);
	/* Lets the child's open return (a reader waiting in open counts). */
	w = open(fifo, O_WRONLY | O_NONBLOCK | O_CLOEXEC);
	if (w >= 0)
		close(w);
	ok(child > 0, "%s: the child of the killed parent found (%d)", E, child);
	if (child > 0) {
		status = -1;
		ret = waitpid(child, &status, 0);
		ok(ret == child && WIFSIGNALED(status) && WTERMSIG(status) == SIGUSR1,
		   "%s: parent died before the prctl: the child signalled itself (status 0x%x)", E, status);
	}
	/* The killed parent's zygote (zygote engine) came to us too, and dies
	 * by its own parent-death signal: reap it. */
	while ((child = child_of(getpid(), other_zygote)) > 0)
		waitpid(child, NULL, 0);
	unlink(fifo);
	check_clean(E, fds);
}

/* Kills and reaps whatever children are left (we are a subreaper). */
static void kill_leftovers(void)
{
	pid_t pid;

	while ((pid = child_of(getpid(), NULL)) > 0) {
		diag("killing a leftover child %d", pid);
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
	}
}

static void test_signals(int e)
{
	const char *E = fl_engine_name(e);
	char out[65536], key[32], val[256];
	fl_spec *spec;
	fl_report rep;
	sigset_t set;
	int status, ret, fds = fd_count();

	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	sigaddset(&set, SIGTERM);
	state_spec(&spec, e);
	fl_act_sigmask(fl_spec_actions(spec), &set, 0);
	ret = run_state(spec, NULL, out, sizeof(out), &status, &rep);
	ok(ret == 0 && state_is(out, "SigBlk", "0000000000004200"), "%s: sigmask USR1 TERM (ret %d)", E, ret);
	fl_spec_free(spec);

	/* Ignored in the caller: ignored in the child, unless sigdefault. */
	signal(SIGUSR2, SIG_IGN);
	snprintf(key, sizeof(key), "ignored.%d", SIGUSR2);
	state_spec(&spec, e);
	ret = run_state(spec, NULL, out, sizeof(out), &status, &rep);
	ok(ret == 0 && state_is(out, key, "1"), "%s: an ignored signal stays ignored (ret %d)", E, ret);
	sigemptyset(&set);
	sigaddset(&set, SIGUSR2);
	fl_act_sigdefault(fl_spec_actions(spec), &set, 0);
	ret = run_state(spec, NULL, out, sizeof(out), &status, &rep);
	/* (Not all of SigIgn: glibc's posix_spawn child leaves its internal
	 * signals 32 and 33 ignored.) */
	ok(ret == 0 && !state_get(out, key, val, sizeof(val)) && state_get(out, "SigIgn", val, sizeof(val)) &&
	   !(strtoull(val, NULL, 16) & (1ull << (SIGUSR2 - 1))),
	   "%s: sigdefault USR2: not ignored (ret %d)", E, ret);
	fl_spec_free(spec);
	signal(SIGUSR2, SIG_DFL);
	check_clean(E, fds);
}

/* Makes this process a session leader with a pty as its terminal. */
static void make_session(void)
{
	int master;

	if (setsid() < 0) {
		no_tty = "cannot start a session";
		return;
	}
	master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (master < 0 || grantpt(master) < 0 || unlockpt(master) < 0) {
		no_tty = "no pty (posix_openpt)";
		return;
	}
	/* A session leader without a terminal acquires the first it opens. */
	tty = open(ptsname(master), O_RDWR | O_CLOEXEC);
	if (tty < 0 || tcgetpgrp(tty) != getpgrp()) {
		no_tty = "the pty did not become the controlling terminal";
		if (tty >= 0)
			close(tty);
		tty = -1;
	}
}

int main(void)
{
	pid_t pid;
	int status;

	/* The test runs in a child that starts a session (we may lead a process
	 * group already, and setsid must not change prove's). */
	fflush(stdout);
	pid = fork();
	if (pid > 0) {
		waitpid(pid, &status, 0);
		return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
	}
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	make_session();
	/* Orphans of the pdeathsig test come to us. */
	prctl(PR_SET_CHILD_SUBREAPER, 1);
	umask(022);
	if (!mkdtemp(dir)) {
		diag("mkdtemp: %s", strerror(errno));
		return 1;
	}
	for_each_engine(e) {
		test_dirs(e);
		test_umask_prio_limits(e);
		test_session(e);
		test_tcsetpgrp(e);
		test_unshare(e);
		test_cgroup(e);
		test_pdeathsig(e);
		test_signals(e);
	}
	kill_leftovers();
	rmdir(dir);
	return done();
}
