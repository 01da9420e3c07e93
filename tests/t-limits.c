// SPDX-License-Identifier: MIT
/*
 * Spawns at the edges of the limits (issue 8), through the posix_spawn ABI
 * under every engine, each compared with glibc's posix_spawn in the same
 * situation: RLIMIT_NOFILE at the number of open fds +0, +1, +2 (plain, with
 * an addopen of the lowest free fd, with a dup2 onto an fd above the limit),
 * a full table (limit 64, every fd open, addclosefrom_np(3)), an inherited
 * fd above the soft limit when the zygote starts, RLIMIT_NPROC reached,
 * RLIMIT_AS just above the caller's size; pidfd_spawn with no fd free; and
 * the first spawn of a process whose fd table is full (the kernel probe).
 *
 * A spawn must do what glibc's does, or fail with the errno glibc would
 * give; fork, pool and zygote may also fail with EMFILE where they need an
 * fd glibc does not.  Either way: no child left, no fd leaked, no crash.
 * The limits are set in forked workers, which report on a pipe.
 */
#include <signal.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdio.h>
#include <sys/resource.h>

#include "util.h"

/* One outcome: the file action's add, the spawn, the child's wait status,
 * whether the caller was clean after it. */
struct rec {
	int kase, engine;	/* engine 0: glibc's posix_spawn */
	int add, ret, status, clean;
};

enum { PLAIN, ADDOPEN, DUP2_ABOVE };
static const char *const variants[] = { "plain", "addopen of the lowest free fd", "dup2 onto an fd above the limit" };
#define NOFILE_CASES 9	/* +0, +1, +2 times the variants: kase = 3 * extra + variant */
enum { FULL_TABLE = NOFILE_CASES, INHERITED_HIGH, NPROC, AS, NCASES };

static char helper[4096];

static const char *engine_label(int engine)
{
	return engine ? fl_engine_name(engine) : "glibc";
}

static void case_name(int kase, char *buf, size_t len)
{
	if (kase < NOFILE_CASES)
		snprintf(buf, len, "RLIMIT_NOFILE at open fds +%d, %s", kase / 3, variants[kase % 3]);
	else
		snprintf(buf, len, "%s",
			 kase == FULL_TABLE ? "a full table (limit 64), addclosefrom_np(3)"
			 : kase == INHERITED_HIGH ? "an fd above the soft limit when the zygote starts"
			 : kase == NPROC ? "RLIMIT_NPROC reached"
					 : "RLIMIT_AS just above the caller's size");
}

/* posix_spawn of the helper ("exit": it needs no fd) by ENGINE (0: glibc's),
 * with the actions KASE asks for; the add's and the spawn's results and the
 * child's wait status into R.  Adds and spawns with the limits as they are. */
static void spawn_one(int engine, int kase, int lowest_free, int limit, struct rec *r)
{
	char *argv[] = { helper, (char *)"exit", NULL }, *envp[] = { NULL };
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	int (*init)(posix_spawn_file_actions_t *) = engine ? fl_posix_spawn_file_actions_init
							    : posix_spawn_file_actions_init;
	int (*destroy)(posix_spawn_file_actions_t *) = engine ? fl_posix_spawn_file_actions_destroy
							       : posix_spawn_file_actions_destroy;
	pid_t pid = -1;

	r->engine = engine;
	r->kase = kase;
	r->add = 0;
	r->status = -1;
	init(&fa);
	if (engine) {
		fl_posix_spawnattr_init(&attr);
		fl_posix_spawnattr_setengine_np(&attr, engine);
	}
	if (kase < NOFILE_CASES && kase % 3 == ADDOPEN)
		r->add = (engine ? fl_posix_spawn_file_actions_addopen : posix_spawn_file_actions_addopen)(
			&fa, lowest_free, "/dev/null", O_RDONLY, 0);
	else if (kase < NOFILE_CASES && kase % 3 == DUP2_ABOVE)
		r->add = (engine ? fl_posix_spawn_file_actions_adddup2 : posix_spawn_file_actions_adddup2)(
			&fa, 0, limit + 5);
	else if (kase == FULL_TABLE)
		r->add = (engine ? fl_posix_spawn_file_actions_addclosefrom_np
				 : posix_spawn_file_actions_addclosefrom_np)(&fa, 3);
	r->ret = engine ? fl_posix_spawn(&pid, helper, &fa, &attr, argv, envp)
			: posix_spawn(&pid, helper, &fa, NULL, argv, envp);
	if (r->ret == 0)
		while (waitpid(pid, &r->status, 0) < 0 && errno == EINTR)
			;
	destroy(&fa);
	if (engine)
		fl_posix_spawnattr_destroy(&attr);
}

/* After a spawn, with fds free again: the caller holds FDS fds, has no
 * zombie and no child running the helper.  Reaps what was left, so the
 * next case starts clean. */
static int clean_after(int fds)
{
	int clean = fd_count() == fds && !has_zombie() && !children_running(helper);
	siginfo_t si;

	for (int i = 0; i < 100 && children_running(helper); i++)
		usleep(10000);	/* a child left running: let it end, then reap it */
	si.si_pid = 0;
	while (waitid(P_ALL, 0, &si, WEXITED | WNOHANG) == 0 && si.si_pid)
		si.si_pid = 0;
	return clean;
}

static void send_rec(int fd, const struct rec *r)
{
	if (write(fd, r, sizeof(*r)) != sizeof(*r))
		_exit(3);
}

/* Every engine the tests run, 0 (glibc) first; the count. */
static int engines_list(int *list)
{
	int n = 0;

	list[n++] = 0;
	for (int e = FL_ENGINE_AUTO + 1; e < FL_ENGINE_COUNT; e++)
		if (fl_engine_supported(e) == 0 && engine_wanted(e))
			list[n++] = e;
	return n;
}

/* A worker's fd table: 0-2 (stdout to /dev/null: the helper's output must
 * not reach the TAP stream), the report pipe at 3, the engines' own fds
 * above, with no hole.  Returns the number of fds. */
static int dense_table(int *fd, bool warm)
{
	int null = open("/dev/null", O_RDWR);

	dup2(null, 1);
	if (null > 2)
		close(null);
	if (*fd != 3) {
		dup2(*fd, 3);
		close(*fd);
		*fd = 3;
	}
	close_range(4, ~0u, 0);
	for (int e = FL_ENGINE_AUTO + 1; warm && e < FL_ENGINE_COUNT; e++)
		if (fl_engine_supported(e) == 0 && engine_wanted(e))
			fl_engine_warm(e);
	return fd_count();
}

static void set_nofile(rlim_t soft)
{
	struct rlimit rl;

	getrlimit(RLIMIT_NOFILE, &rl);
	rl.rlim_cur = soft;
	setrlimit(RLIMIT_NOFILE, &rl);
}

/* The fd-limit cases, in one worker. */
static void nofile_worker(int fd, int unused __attribute__((unused)))
{
	int list[FL_ENGINE_COUNT + 1], n = engines_list(list), fds = dense_table(&fd, true);
	struct rlimit saved;
	struct rec r;

	getrlimit(RLIMIT_NOFILE, &saved);
	for (int kase = 0; kase < NOFILE_CASES; kase++)
		for (int i = 0; i < n; i++) {
			set_nofile(fds + kase / 3);
			spawn_one(list[i], kase, fds, fds + kase / 3, &r);
			setrlimit(RLIMIT_NOFILE, &saved);
			r.clean = clean_after(fds);
			send_rec(fd, &r);
		}
	/* Every fd up to 64 open (not close-on-exec: closefrom has work). */
	for (int i = 0; i < n && fds < 64; i++) {
		for (int k = fds; k < 64; k++)
			dup2(0, k);
		set_nofile(64);
		spawn_one(list[i], FULL_TABLE, 64, 64, &r);
		setrlimit(RLIMIT_NOFILE, &saved);
		close_range(fds, 63, 0);
		r.clean = clean_after(fds);
		send_rec(fd, &r);
	}
	/* An fd at 100, opened before the soft limit went down to 64; the
	 * zygote starts (again) after that. */
	for (int i = 0; i < n; i++) {
		int base;

		fl_zygote_stop();
		base = fd_count();
		dup2(0, 100);
		set_nofile(64);
		spawn_one(list[i], INHERITED_HIGH, 0, 64, &r);
		setrlimit(RLIMIT_NOFILE, &saved);
		close(100);
		fl_zygote_stop();	/* a zygote started by the spawn holds fds */
		r.clean = clean_after(base);
		send_rec(fd, &r);
	}
}

/* RLIMIT_NPROC reached: as nobody (root is not held to it), no engine
 * warmed before. */
static void nproc_worker(int fd, int unused __attribute__((unused)))
{
	int list[FL_ENGINE_COUNT + 1], n = engines_list(list), fds;
	struct rlimit one = { 1, 1 };
	struct rec r;

	fds = dense_table(&fd, false);
	if ((geteuid() == 0 && (setresgid(65534, 65534, 65534) < 0 || setresuid(65534, 65534, 65534) < 0)) ||
	    setrlimit(RLIMIT_NPROC, &one) < 0)
		_exit(2);
	for (int i = 0; i < n; i++) {
		spawn_one(list[i], NPROC, 0, 0, &r);
		r.clean = clean_after(fds);
		send_rec(fd, &r);
	}
}

/* The worker's address space, bytes (VmSize). */
static long vm_size(void)
{
	char line[256];
	long kb = -1;
	FILE *f = fopen("/proc/self/status", "re");

	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "VmSize: %ld kB", &kb) == 1)
			break;
	if (f)
		fclose(f);
	return kb * 1024;
}

/* Room left under RLIMIT_AS, bytes (FL_LIMITS_AS_ROOM). */
static long as_headroom = 64 * 1024;

/* RLIMIT_AS just above the size: one worker per engine, so a crash is one
 * engine's, seen by the test rather than suffered. */
static void as_worker(int fd, int engine)
{
	int fds = dense_table(&fd, false);
	struct rlimit rl;
	struct rec r;

	/* No engine warmed: the first spawn starts the zygote or the pool, as
	 * in a program that lowered the limit at its start. */
	rl.rlim_cur = rl.rlim_max = vm_size() + as_headroom;
	setrlimit(RLIMIT_AS, &rl);
	spawn_one(engine, AS, 0, 0, &r);
	fl_zygote_stop();	/* the zygote the spawn started holds fds */
	r.clean = clean_after(fds);
	send_rec(fd, &r);
}

/* ---- pidfd_spawn and the kernel probe with no fd free ---------------------- */

/* pidfd_spawn of the helper by ENGINE: the result, *PIDFD as it came back. */
static int pidfd_spawn_one(int engine, int *pidfd)
{
	char *argv[] = { helper, (char *)"exit", NULL }, *envp[] = { NULL };
	posix_spawnattr_t attr;
	int ret;

	fl_posix_spawnattr_init(&attr);
	fl_posix_spawnattr_setengine_np(&attr, engine);
	*pidfd = -2;
	ret = fl_pidfd_spawn(pidfd, helper, NULL, &attr, argv, envp);
	fl_posix_spawnattr_destroy(&attr);
	return ret;
}

/* pidfd_spawn with no fd free under each engine (warmed: the zygote and the
 * pool are running): a record per engine, .ret the spawn's, .status the
 * pidfd it returned (-2: left alone). */
static void pidfd_worker(int fd, int unused __attribute__((unused)))
{
	int list[FL_ENGINE_COUNT + 1], n = engines_list(list), fds = dense_table(&fd, true);
	struct rlimit saved;
	struct rec r;

	getrlimit(RLIMIT_NOFILE, &saved);
	for (int i = 1; i < n; i++) {
		int pidfd;

		r = (struct rec){ .kase = 0, .engine = list[i] };
		set_nofile(fds);
		r.ret = pidfd_spawn_one(list[i], &pidfd);
		setrlimit(RLIMIT_NOFILE, &saved);
		r.status = pidfd;
		if (r.ret == 0 && pidfd >= 0)
			close(pidfd);	/* not waited for: the clean check sees it */
		r.clean = clean_after(fds);
		send_rec(fd, &r);
	}
}

/* What a process whose first spawn met a full fd table knows later. */
struct probe_result {
	int first_ret, first_status;	/* the clone engine's posix_spawn, no fd free */
	int pidfd_ret, pidfd;		/* pidfd_spawn then */
	int clean;			/* no child and no fd left by those two */
	int feature[FL_FEAT_COUNT];	/* with fds free again */
	int later_ret, later_pidfd, later_status;	/* pidfd_spawn then */
	int pool_ret, pool_status;	/* and the pool's posix_spawn */
};

static void probe_worker(int fd)
{
	char *argv[] = { helper, (char *)"exit", NULL }, *envp[] = { NULL };
	int fds = dense_table(&fd, false);
	struct probe_result p = { .first_status = -1, .later_status = -1, .pool_status = -1 };
	posix_spawnattr_t attr;
	struct rlimit saved;
	siginfo_t si;
	pid_t pid;

	getrlimit(RLIMIT_NOFILE, &saved);
	fl_posix_spawnattr_init(&attr);
	fl_posix_spawnattr_setengine_np(&attr, FL_ENGINE_CLONE);
	set_nofile(fds);
	p.first_ret = fl_posix_spawn(&pid, helper, NULL, &attr, argv, envp);
	if (p.first_ret == 0)
		waitpid(pid, &p.first_status, 0);
	p.pidfd_ret = pidfd_spawn_one(FL_ENGINE_CLONE, &p.pidfd);
	setrlimit(RLIMIT_NOFILE, &saved);
	if (p.pidfd_ret == 0 && p.pidfd >= 0)
		close(p.pidfd);
	p.clean = clean_after(fds);
	for (int f = 0; f < FL_FEAT_COUNT; f++)
		p.feature[f] = fl_feature(f);
	p.later_ret = pidfd_spawn_one(FL_ENGINE_CLONE, &p.later_pidfd);
	if (p.later_ret == 0 && p.later_pidfd >= 0 && waitid(P_PIDFD, p.later_pidfd, &si, WEXITED) == 0)
		p.later_status = si.si_code == CLD_EXITED ? si.si_status : 256 + si.si_status;
	if (p.later_ret == 0 && p.later_pidfd >= 0)
		close(p.later_pidfd);
	fl_posix_spawnattr_setengine_np(&attr, FL_ENGINE_POOL);
	p.pool_ret = fl_posix_spawn(&pid, helper, NULL, &attr, argv, envp);
	if (p.pool_ret == 0)
		waitpid(pid, &p.pool_status, 0);
	fl_posix_spawnattr_destroy(&attr);
	if (write(fd, &p, sizeof(p)) != sizeof(p))
		_exit(3);
}

/* Must run before anything in this process probes the kernel: the worker
 * is a fork, and its first spawn must be the process's first. */
static void test_probe_full_table(void)
{
	struct probe_result p;
	int fd, status = -1, got;
	pid_t pid = fork_piped(&fd);

	if (pid < 0)
		return;
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		probe_worker(fd);
		_exit(0);
	}
	got = read(fd, &p, sizeof(p)) == sizeof(p);
	close(fd);
	waitpid(pid, &status, 0);
	if (!ok(got && WIFEXITED(status) && WEXITSTATUS(status) == 0,
		"probe: the worker ended normally (wait status %#x)", status))
		return;
	ok(p.first_ret == 0 && p.first_status == 0,
	   "probe: a process's first spawn with no fd free runs (clone engine: %d, status %#x)", p.first_ret,
	   p.first_status);
	ok(p.pidfd_ret == EMFILE, "probe: pidfd_spawn with no fd free, before any probe could tell: EMFILE (%d %s)",
	   p.pidfd_ret, strerror(p.pidfd_ret));
	ok(p.clean, "probe: no child and no fd left by those spawns");
	for (int f = 0; f < FL_FEAT_COUNT; f++)
		ok(p.feature[f] == fl_feature(f), "probe: with fds free again, %s is %d as in a process probed so (%d)",
		   fl_feature_name(f), p.feature[f], fl_feature(f));
	ok(p.later_ret == 0 && p.later_pidfd >= 0 && p.later_status == 0,
	   "probe: then pidfd_spawn hands out a pidfd (%d, pidfd %d, status %d)", p.later_ret, p.later_pidfd,
	   p.later_status);
	ok(p.pool_ret == 0 && p.pool_status == 0, "probe: then the pool spawns (%d %s, status %#x)", p.pool_ret,
	   strerror(p.pool_ret), p.pool_status);
}

/* ---- the TAP side --------------------------------------------------------- */

/* What may differ from glibc: a spawn needing an fd it has not got. */
static bool may_need_fd(int engine, int kase)
{
	return (engine == FL_ENGINE_FORK || engine == FL_ENGINE_POOL || engine == FL_ENGINE_ZYGOTE) &&
	       (kase < NOFILE_CASES || kase == FULL_TABLE);
}

static void report(const struct rec *r, const struct rec *glibc)
{
	char what[256];
	bool same, allowed;

	case_name(r->kase, what, sizeof(what));
	if (!r->engine) {
		diag("%s: glibc: add %d, spawn %d (%s), status %#x", what, r->add, r->ret, strerror(r->ret), r->status);
		ok(r->clean, "glibc: %s: no fd leaked, no child left", what);
		return;
	}
	same = glibc && r->add == glibc->add && r->ret == glibc->ret &&
	       (r->ret != 0 || (WIFEXITED(r->status) && WIFEXITED(glibc->status) &&
				WEXITSTATUS(r->status) == WEXITSTATUS(glibc->status)));
	/* Under RLIMIT_AS any engine may run out (ENOMEM, glibc's errno there)
	 * where glibc did not, or succeed where it ran out. */
	allowed = (may_need_fd(r->engine, r->kase) && r->ret == EMFILE) ||
		  (r->kase == AS && (r->ret == ENOMEM || (r->ret == 0 && r->status == 0)));
	ok(same || allowed,
	   "%s: %s: as glibc, or an allowed clean failure (add %d, spawn %d %s, status %#x; glibc: spawn %d, status %#x)", engine_label(r->engine),
	   what, r->add, r->ret, strerror(r->ret), r->status, glibc ? glibc->ret : -1, glibc ? glibc->status : -1);
	ok(r->clean, "%s: %s: no fd leaked, no child left", engine_label(r->engine), what);
}

/* Runs WORKER(fd, arg) in a forked process and reports its records. */
#define PIDFD_WORKER (-1)	/* run_worker's ARG for pidfd_worker */
static struct rec glibc[NCASES];	/* glibc's outcome of each case, as met */
static bool have_glibc[NCASES];

static void report_pidfd(const struct rec *r);

static void run_worker(void (*worker)(int, int), int arg, const char *what)
{
	struct rec r;
	int fd, status = -1, n = 0;
	pid_t pid = fork_piped(&fd);

	if (pid < 0)
		return;
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		worker(fd, arg);
		_exit(0);
	}
	while (read(fd, &r, sizeof(r)) == sizeof(r)) {
		if (arg == PIDFD_WORKER) {
			report_pidfd(&r);
		} else {
			if (!r.engine) {
				glibc[r.kase] = r;
				have_glibc[r.kase] = true;
			}
			report(&r, have_glibc[r.kase] ? &glibc[r.kase] : NULL);
		}
		n++;
	}
	close(fd);
	waitpid(pid, &status, 0);
	ok(WIFEXITED(status) && WEXITSTATUS(status) == 0 && n > 0,
	   "%s: the worker ended normally after %d spawns (wait status %#x)", what, n, status);
}

/* The pidfd_spawn records (see pidfd_worker), as their own lines. */
static void report_pidfd(const struct rec *r)
{
	const char *E = engine_label(r->engine);

	ok(r->ret == EMFILE, "%s: pidfd_spawn with no fd free: EMFILE (%d %s, pidfd %d)", E, r->ret, strerror(r->ret),
	   r->status);
	ok(r->clean, "%s: pidfd_spawn with no fd free: no child made, no fd leaked", E);
}

int main(void)
{
	char path[4096];
	int list[FL_ENGINE_COUNT + 1], n;

	if (!realpath(build_path(path, sizeof(path), "tests/helper-fds"), helper)) {
		diag("no %s: %s", path, strerror(errno));
		return 1;
	}
	if (getenv("FL_LIMITS_AS_ROOM"))
		as_headroom = atol(getenv("FL_LIMITS_AS_ROOM"));
	test_probe_full_table();
	n = engines_list(list);
	run_worker(pidfd_worker, PIDFD_WORKER, "pidfd_spawn with no fd free");
	run_worker(nofile_worker, 0, "RLIMIT_NOFILE");
	run_worker(nproc_worker, 0, "RLIMIT_NPROC");
	for (int i = 0; i < n; i++) {
		char what[64];

		snprintf(what, sizeof(what), "RLIMIT_AS, %s", engine_label(list[i]));
		run_worker(as_worker, list[i], what);
	}
	return done();
}
