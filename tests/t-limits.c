// SPDX-License-Identifier: MIT
/*
 * Spawns at the edges of the limits (issue 8), through the posix_spawn ABI
 * under every engine, each compared with glibc's posix_spawn in the same
 * situation: RLIMIT_NOFILE at the number of open fds +0, +1, +2 (plain, with
 * an addopen of the lowest free fd, with a dup2 onto an fd above the limit),
 * a full table (limit 64, every fd open, addclosefrom_np(3)), an inherited
 * fd above the soft limit when the zygote starts, RLIMIT_NPROC reached,
 * RLIMIT_AS just above the caller's size (before the engines are warmed, and
 * after); pidfd_spawn with no fd free; the first spawn of a process whose
 * fd table is full (the kernel probe), plain and as glibc's tst-spawn3 makes
 * it (every fd below the limit open, file actions closing them), under each
 * engine; and the primed engine's spawns once a limit that kept it from
 * priming is lifted.
 *
 * A spawn must do what glibc's does, or fail with the errno glibc would
 * give; fork, pool and zygote may also fail with EMFILE where they need an
 * fd glibc does not.  Either way: no child left, no fd leaked, no crash.
 * The limits are set in forked workers, which report on a pipe.
 *
 * The primed engine refuses a static program, so it spawns helper-fds-dyn,
 * the same helper dynamically linked, and is compared with glibc spawning
 * that one (whose loader needs an fd of its own); its image is primed
 * before the limits are set, as the zygote is started, and each record
 * says which engine made the child: a primed spawn handed to the clone
 * engine fails its check.
 */
#include <signal.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdio.h>
#include <sys/resource.h>

#define TEST_PRIMED 1	/* its images end before the fds are counted */
#include "util.h"

/* One outcome: the file action's add, the spawn, the child's wait status,
 * the engine that made the child, whether the caller was clean after it. */
struct rec {
	int kase, engine;	/* engine 0: glibc's posix_spawn */
	int dyn;		/* the child is helper-fds-dyn */
	int add, ret, status, ran, clean;
};

/* Who spawns, and which helper: glibc both (the static one for the
 * engines, the dynamic one for the primed engine's comparison). */
struct run {
	int engine, dyn;
};

enum { PLAIN, ADDOPEN, DUP2_ABOVE };
static const char *const variants[] = { "plain", "addopen of the lowest free fd", "dup2 onto an fd above the limit" };
#define NOFILE_CASES 9	/* +0, +1, +2 times the variants: kase = 3 * extra + variant */
enum { FULL_TABLE = NOFILE_CASES, INHERITED_HIGH, NPROC, AS, AS_WARM, FIRST_FULL, NCASES };
#define NO_ACTIONS NCASES	/* spawn_one's KASE for a spawn without file actions or limits */

static char helper[4096], helper_dyn[4096];

static const char *engine_label(int engine, int dyn)
{
	return engine ? fl_engine_name(engine) : dyn ? "glibc (dynamic child)" : "glibc";
}

static const char *helper_of(int dyn)
{
	return dyn ? helper_dyn : helper;
}

static void case_name(int kase, char *buf, size_t len)
{
	if (kase < NOFILE_CASES)
		snprintf(buf, len, "RLIMIT_NOFILE at open fds +%d, %s", kase / 3, variants[kase % 3]);
	else
		snprintf(buf, len, "%s",
			 kase == FULL_TABLE ? "a full table (limit 64), addclosefrom_np(3)"
			 : kase == INHERITED_HIGH ? "an fd above the soft limit when the zygote or image starts"
			 : kase == NPROC ? "RLIMIT_NPROC reached"
			 : kase == AS	 ? "RLIMIT_AS just above the caller's size"
			 : kase == AS_WARM ? "RLIMIT_AS just above the caller's size, engines warmed before"
					 : "the process's first spawn, a full table (limit 64), each filler closed");
}

/* posix_spawn of the helper ("exit": it needs no fd) by RUN's engine (0:
 * glibc's), with the actions KASE asks for; the add's and the spawn's
 * results, the child's wait status and the engine that made it into R.
 * Adds and spawns with the limits as they are. */
static void spawn_one(const struct run *run, int kase, int lowest_free, int limit, struct rec *r)
{
	int engine = run->engine;
	const char *path = helper_of(run->dyn);
	char *argv[] = { (char *)path, (char *)"exit", NULL }, *envp[] = { NULL };
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	int (*init)(posix_spawn_file_actions_t *) = engine ? fl_posix_spawn_file_actions_init
							    : posix_spawn_file_actions_init;
	int (*destroy)(posix_spawn_file_actions_t *) = engine ? fl_posix_spawn_file_actions_destroy
							       : posix_spawn_file_actions_destroy;
	pid_t pid = -1;

	r->engine = engine;
	r->dyn = run->dyn;
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
	else if (kase == FIRST_FULL)
		for (int k = lowest_free; k < limit && !r->add; k++)
			r->add = (engine ? fl_posix_spawn_file_actions_addclose : posix_spawn_file_actions_addclose)(
				&fa, k);
	r->ret = engine ? fl_posix_spawn(&pid, path, &fa, &attr, argv, envp)
			: posix_spawn(&pid, path, &fa, NULL, argv, envp);
	r->ran = engine ? fl_compat_engine_ran() : 0;
	if (r->ret == 0)
		while (waitpid(pid, &r->status, 0) < 0 && errno == EINTR)
			;
	destroy(&fa);
	if (engine)
		fl_posix_spawnattr_destroy(&attr);
}

/* Children running either helper but the primed images (which this
 * process holds pidfds of). */
static int children_left(void)
{
	return children_running(helper) + children_running(helper_dyn) - pidfd_held_running(helper_dyn);
}

/* After a spawn, with fds free again: the caller holds FDS fds, has no
 * zombie and no child running the helper.  Reaps what was left, so the
 * next case starts clean. */
static int clean_after(int fds)
{
	int clean = fd_count() == fds && !has_zombie() && !children_left();
	siginfo_t si;

	for (int i = 0; i < 100 && children_left(); i++)
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

/* Every engine the tests run, glibc first (and glibc with the dynamic
 * helper, if the primed engine runs); the count. */
static int engines_list(struct run *list)
{
	int n = 0;

	list[n++] = (struct run){ 0, 0 };
	if (fl_engine_supported(FL_ENGINE_PRIMED) == 0 && engine_wanted(FL_ENGINE_PRIMED))
		list[n++] = (struct run){ 0, 1 };
	for (int e = FL_ENGINE_AUTO + 1; e < FL_ENGINE_COUNT; e++)
		if (fl_engine_supported(e) == 0 && engine_wanted(e))
			list[n++] = (struct run){ e, e == FL_ENGINE_PRIMED };
	return n;
}

/* The primed engine's image of the dynamic helper, primed now, with fds
 * free and no limit reached (the engine has no warm call: an image is of
 * a program). */
static void prime_helper(void)
{
	struct run primed = { FL_ENGINE_PRIMED, 1 };
	struct rec r;

	if (fl_engine_supported(FL_ENGINE_PRIMED) == 0 && engine_wanted(FL_ENGINE_PRIMED))
		spawn_one(&primed, NO_ACTIONS, 0, 0, &r);
}

/* Opens /dev/null (fd 1's) at every free fd below the highest one open. */
static void fill_holes(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int top = 0;

	while (d && (e = readdir(d)))
		if (e->d_name[0] != '.' && atoi(e->d_name) != dirfd(d) && atoi(e->d_name) > top)
			top = atoi(e->d_name);
	if (d)
		closedir(d);
	for (int k = 0; k < top; k++)
		if (fcntl(k, F_GETFD) < 0)
			dup2(1, k);
}

/* A worker's fd table: 0-2 (stdout to /dev/null: the helper's output must
 * not reach the TAP stream), the report pipe at 3, the engines' own fds
 * above, with no hole: a hole they left (priming an image closes the
 * image's end of its channel) is filled with /dev/null.  Returns the number
 * of fds. */
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
	if (warm)
		prime_helper();
	fill_holes();
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
	struct run list[FL_ENGINE_COUNT + 2];
	int n = engines_list(list), fds = dense_table(&fd, true);
	struct rlimit saved;
	struct rec r;

	getrlimit(RLIMIT_NOFILE, &saved);
	for (int kase = 0; kase < NOFILE_CASES; kase++)
		for (int i = 0; i < n; i++) {
			set_nofile(fds + kase / 3);
			spawn_one(&list[i], kase, fds, fds + kase / 3, &r);
			setrlimit(RLIMIT_NOFILE, &saved);
			r.clean = clean_after(fds);
			send_rec(fd, &r);
		}
	/* Every fd up to 64 open (not close-on-exec: closefrom has work). */
	for (int i = 0; i < n && fds < 64; i++) {
		for (int k = fds; k < 64; k++)
			dup2(0, k);
		set_nofile(64);
		spawn_one(&list[i], FULL_TABLE, 64, 64, &r);
		setrlimit(RLIMIT_NOFILE, &saved);
		close_range(fds, 63, 0);
		r.clean = clean_after(fds);
		send_rec(fd, &r);
	}
	/* An fd at 100, opened before the soft limit went down to 64; the
	 * zygote starts (again) after that, and the primed image. */
	for (int i = 0; i < n; i++) {
		int base;

		fl_zygote_stop();
		fl_primed_stop();
		base = fd_count();
		dup2(0, 100);
		set_nofile(64);
		spawn_one(&list[i], INHERITED_HIGH, 0, 64, &r);
		setrlimit(RLIMIT_NOFILE, &saved);
		close(100);
		fl_zygote_stop();	/* a zygote started by the spawn holds fds */
		fl_primed_stop();	/* and an image */
		r.clean = clean_after(base);
		send_rec(fd, &r);
	}
}

/* RLIMIT_NPROC reached: as nobody (root is not held to it), no engine
 * warmed before but the primed image, primed as nobody before the limit
 * (the image is one of nobody's processes: the limit is then reached
 * already). */
static void nproc_worker(int fd, int unused __attribute__((unused)))
{
	struct run list[FL_ENGINE_COUNT + 2];
	int n = engines_list(list), fds;
	struct rlimit one = { 1, 1 };
	struct rec r;

	dense_table(&fd, false);
	if (geteuid() == 0 && (setresgid(65534, 65534, 65534) < 0 || setresuid(65534, 65534, 65534) < 0))
		_exit(2);
	prime_helper();
	fds = fd_count();
	if (setrlimit(RLIMIT_NPROC, &one) < 0)
		_exit(2);
	for (int i = 0; i < n; i++) {
		spawn_one(&list[i], NPROC, 0, 0, &r);
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
 * engine's, seen by the test rather than suffered.  ARG: the engine's index
 * in engines_list times 2, plus 1 to warm that engine first. */
static void as_worker(int fd, int arg)
{
	struct run list[FL_ENGINE_COUNT + 2];
	bool warm = arg % 2;
	int fds;
	struct rlimit rl;
	struct rec r;

	engines_list(list);
	dense_table(&fd, false);
	/* Unless warmed: the first spawn starts the zygote or the pool, or
	 * primes the image, as in a program that lowered the limit at its
	 * start.  Warmed (the engine under test only): they were running
	 * before, as in a program that lowered it later. */
	if (warm && list[arg / 2].engine) {
		fl_engine_warm(list[arg / 2].engine);
		if (list[arg / 2].engine == FL_ENGINE_PRIMED)
			prime_helper();
		fill_holes();
	}
	fds = fd_count();
	rl.rlim_cur = rl.rlim_max = vm_size() + as_headroom;
	setrlimit(RLIMIT_AS, &rl);
	spawn_one(&list[arg / 2], warm ? AS_WARM : AS, 0, 0, &r);
	if (!warm) {
		fl_zygote_stop();	/* the zygote the spawn started holds fds */
		fl_primed_stop();	/* and the image */
	}
	r.clean = clean_after(fds);
	send_rec(fd, &r);
	/* The pool's parked children, forks of this worker, hold the report
	 * pipe until they see it end: ended now, the worker's end is seen at
	 * once. */
	fl_pool_set_size(0);
}

/* A process's first spawn with every fd below the limit open, by the
 * engine at ARG in engines_list, as glibc's tst-spawn3 makes it: file
 * actions close the fillers, so glibc needs no fd, and the kernel probe
 * (the first spawn's) has none. */
static void first_full_worker(int fd, int arg)
{
	struct run list[FL_ENGINE_COUNT + 2];
	int fds;
	struct rlimit saved;
	struct rec r;

	engines_list(list);
	fds = dense_table(&fd, false);
	getrlimit(RLIMIT_NOFILE, &saved);
	for (int k = fds; k < 64; k++)
		dup2(0, k);
	set_nofile(64);
	spawn_one(&list[arg], FIRST_FULL, fds, 64, &r);
	setrlimit(RLIMIT_NOFILE, &saved);
	close_range(fds, 63, 0);
	fl_zygote_stop();	/* the zygote the spawn started holds fds */
	fl_primed_stop();	/* and the image */
	r.clean = clean_after(fds);
	send_rec(fd, &r);
	fl_pool_set_size(0);	/* see as_worker */
}

/* ---- pidfd_spawn and the kernel probe with no fd free ---------------------- */

/* pidfd_spawn of the helper by ENGINE: the result, *PIDFD as it came back. */
static int pidfd_spawn_one(int engine, int *pidfd)
{
	const char *path = helper_of(engine == FL_ENGINE_PRIMED);
	char *argv[] = { (char *)path, (char *)"exit", NULL }, *envp[] = { NULL };
	posix_spawnattr_t attr;
	int ret;

	fl_posix_spawnattr_init(&attr);
	fl_posix_spawnattr_setengine_np(&attr, engine);
	*pidfd = -2;
	ret = fl_pidfd_spawn(pidfd, path, NULL, &attr, argv, envp);
	fl_posix_spawnattr_destroy(&attr);
	return ret;
}

/* pidfd_spawn with no fd free under each engine (warmed: the zygote and the
 * pool are running, the image primed): a record per engine, .ret the
 * spawn's, .status the pidfd it returned (-2: left alone). */
static void pidfd_worker(int fd, int unused __attribute__((unused)))
{
	struct run list[FL_ENGINE_COUNT + 2];
	int n = engines_list(list), fds = dense_table(&fd, true);
	struct rlimit saved;
	struct rec r;

	getrlimit(RLIMIT_NOFILE, &saved);
	for (int i = 0; i < n; i++) {
		int pidfd;

		if (!list[i].engine)
			continue;
		r = (struct rec){ .kase = 0, .engine = list[i].engine };
		set_nofile(fds);
		r.ret = pidfd_spawn_one(list[i].engine, &pidfd);
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

/* ---- the primed engine after a limit kept it from priming ------------------ */

/* A first primed spawn where the image cannot be primed (no fd free for its
 * channel; RLIMIT_AS too tight for any spawn to start it), then one with
 * the limit lifted: the first may fail as glibc's would or be handed to the
 * clone engine, but the limit was the caller's of the moment, not the
 * program's, so the second must be primed.  FORKLESS_TRACE's first line
 * says why the engine handed a spawn on. */
struct retry {
	struct rec glibc, first, later;
	char why[512];
};

static void retry_worker(int fd, bool as)
{
	struct run glibc_dyn = { 0, 1 }, primed = { FL_ENGINE_PRIMED, 1 };
	int fds = dense_table(&fd, false), res = as ? RLIMIT_AS : RLIMIT_NOFILE;
	char trace[64];
	struct retry t = { .why = "" };
	struct rlimit saved, rl;
	FILE *f;

	/* The report pipe close-on-exec again (dup2 cleared it): the child's
	 * loader then has an fd once exec has closed it. */
	fcntl(fd, F_SETFD, FD_CLOEXEC);
	snprintf(trace, sizeof(trace), "/tmp/fl-limits-trace-%d", (int)getpid());
	setenv("FORKLESS_TRACE", trace, 1);
	getrlimit(res, &saved);
	rl = saved;
	rl.rlim_cur = as ? (rlim_t)(vm_size() + as_headroom) : (rlim_t)fds;
	setrlimit(res, &rl);
	spawn_one(&glibc_dyn, as ? AS : NO_ACTIONS, 0, 0, &t.glibc);
	spawn_one(&primed, as ? AS : NO_ACTIONS, 0, 0, &t.first);
	setrlimit(res, &saved);
	spawn_one(&primed, NO_ACTIONS, 0, 0, &t.later);
	fl_primed_stop();
	unsetenv("FORKLESS_TRACE");
	f = fopen(trace, "re");
	if (f && fgets(t.why, sizeof(t.why), f))
		t.why[strcspn(t.why, "\n")] = 0;
	if (f)
		fclose(f);
	unlink(trace);
	t.later.clean = clean_after(fds);
	if (write(fd, &t, sizeof(t)) != sizeof(t))
		_exit(3);
}

static void test_primed_retry(bool as)
{
	const char *limit = as ? "RLIMIT_AS just above the caller's size" : "no fd free";
	struct retry t;
	int fd, status = -1, got;
	pid_t pid;

	if (fl_engine_supported(FL_ENGINE_PRIMED) < 0 || !engine_wanted(FL_ENGINE_PRIMED))
		return;
	pid = fork_piped(&fd);
	if (pid < 0)
		return;
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		retry_worker(fd, as);
		_exit(0);
	}
	got = read(fd, &t, sizeof(t)) == sizeof(t);
	close(fd);
	waitpid(pid, &status, 0);
	if (!ok(got && WIFEXITED(status) && WEXITSTATUS(status) == 0,
		"primed, first spawn at %s: the worker ended normally (wait status %#x)", limit, status))
		return;
	diag("primed, first spawn at %s: spawn %d, status %#x, made by %s; the trace's first line: %s", limit, t.first.ret,
	     t.first.status, fl_engine_name(t.first.ran), *t.why ? t.why : "-");
	/* Under RLIMIT_AS any engine may fail with ENOMEM. */
	ok((t.first.ret == t.glibc.ret && (t.first.ret || t.first.status == t.glibc.status)) ||
		   (as && t.first.ret == ENOMEM),
	   "primed, first spawn at %s: as glibc, or an allowed failure (spawn %d, status %#x; glibc: %d, status %#x)",
	   limit, t.first.ret, t.first.status, t.glibc.ret, t.glibc.status);
	ok(t.later.ret == 0 && t.later.status == 0, "primed, the limit lifted: the next spawn runs (%d, status %#x)",
	   t.later.ret, t.later.status);
	/* A priming failed for the caller's limit of the moment is not the
	 * program's refusal. */
	ok(t.later.ran == FL_ENGINE_PRIMED,
	   "primed, after a first spawn at %s, the limit lifted: the primed engine makes the child (%s did)", limit,
	   fl_engine_name(t.later.ran));
	ok(t.later.clean, "primed, after a first spawn at %s: no fd leaked, no child left", limit);
}

/* ---- the TAP side --------------------------------------------------------- */

/* What may differ from glibc: a spawn needing an fd it has not got. */
static bool may_need_fd(int engine, int kase)
{
	if (kase == FIRST_FULL)
		/* Not the pool: its first child needs none (not even for the
		 * kernel probe), and its state is then read by the async engine. */
		return engine == FL_ENGINE_FORK || engine == FL_ENGINE_ZYGOTE;
	return (engine == FL_ENGINE_FORK || engine == FL_ENGINE_POOL || engine == FL_ENGINE_ZYGOTE) &&
	       (kase < NOFILE_CASES || kase == FULL_TABLE);
}

static void report(const struct rec *r, const struct rec *glibc)
{
	const char *E = engine_label(r->engine, r->dyn);
	char what[256], line[1024];
	bool same, allowed;

	case_name(r->kase, what, sizeof(what));
	if (!r->engine) {
		diag("%s: %s: add %d, spawn %d (%s), status %#x", what, E, r->add, r->ret, strerror(r->ret), r->status);
		ok(r->clean, "%s: %s: no fd leaked, no child left", E, what);
		return;
	}
	/* Checks of the primed engine's children, not of the clone engine's:
	 * its image was primed before the limit, but in the RLIMIT_AS case
	 * that primes it under the limit, where it cannot be (no spawn can
	 * start it) and the clone engine's failure is the spawn's; a first
	 * spawn at a full table cannot prime it either (no fd for its
	 * channel), and hands the child to the clone engine. */
	if (r->engine == FL_ENGINE_PRIMED)
		ok(r->ran == FL_ENGINE_PRIMED || (r->kase == AS && r->ret != 0) ||
		   (r->kase == FIRST_FULL && r->ran == FL_ENGINE_CLONE),
		   "%s: %s: the primed engine made the child, or handed it on as said (made by %s, spawn %d)", E, what,
		   fl_engine_name(r->ran), r->ret);
	same = glibc && r->add == glibc->add && r->ret == glibc->ret &&
	       (r->ret != 0 || (WIFEXITED(r->status) && WIFEXITED(glibc->status) &&
				WEXITSTATUS(r->status) == WEXITSTATUS(glibc->status)));
	/* Under RLIMIT_AS any engine may run out (ENOMEM, glibc's errno there)
	 * where glibc did not, or succeed where it ran out. */
	allowed = (may_need_fd(r->engine, r->kase) && r->ret == EMFILE) ||
		  ((r->kase == AS || r->kase == AS_WARM) && (r->ret == ENOMEM || (r->ret == 0 && r->status == 0)));
	snprintf(line, sizeof(line),
		 "%s: %s: as glibc, or an allowed clean failure (add %d, spawn %d %s, status %#x; glibc: spawn %d, status %#x)",
		 E, what, r->add, r->ret, strerror(r->ret), r->status, glibc ? glibc->ret : -1,
		 glibc ? glibc->status : -1);
	ok(same || allowed, "%s", line);
	ok(r->clean, "%s: %s: no fd leaked, no child left", E, what);
}

/* Runs WORKER(fd, arg) in a forked process and reports its records. */
#define PIDFD_WORKER (-1)	/* run_worker's ARG for pidfd_worker */
static struct rec glibc[NCASES][2];	/* glibc's outcome of each case, as met, by helper */
static bool have_glibc[NCASES][2];

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
				glibc[r.kase][r.dyn] = r;
				have_glibc[r.kase][r.dyn] = true;
			}
			report(&r, have_glibc[r.kase][r.dyn] ? &glibc[r.kase][r.dyn] : NULL);
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
	const char *E = engine_label(r->engine, 0);

	ok(r->ret == EMFILE, "%s: pidfd_spawn with no fd free: EMFILE (%d %s, pidfd %d)", E, r->ret, strerror(r->ret),
	   r->status);
	ok(r->clean, "%s: pidfd_spawn with no fd free: no child made, no fd leaked", E);
}

int main(void)
{
	char path[4096];
	struct run list[FL_ENGINE_COUNT + 2];
	int n;

	if (!realpath(build_path(path, sizeof(path), "tests/helper-fds"), helper) ||
	    !realpath(build_path(path, sizeof(path), "tests/helper-fds-dyn"), helper_dyn)) {
		diag("no %s: %s", path, strerror(errno));
		return 1;
	}
	if (getenv("FL_LIMITS_AS_ROOM"))
		as_headroom = atol(getenv("FL_LIMITS_AS_ROOM"));
	/* First: each worker's spawn must be its process's first. */
	n = engines_list(list);
	for (int i = 0; i < n; i++) {
		char what[96];

		snprintf(what, sizeof(what), "first spawn at a full table, %s",
			 engine_label(list[i].engine, list[i].dyn));
		run_worker(first_full_worker, i, what);
	}
	test_probe_full_table();
	run_worker(pidfd_worker, PIDFD_WORKER, "pidfd_spawn with no fd free");
	run_worker(nofile_worker, 0, "RLIMIT_NOFILE");
	run_worker(nproc_worker, 0, "RLIMIT_NPROC");
	for (int i = 0; i < n; i++) {
		char what[64];

		for (int warm = 0; warm < 2; warm++) {
			snprintf(what, sizeof(what), "RLIMIT_AS, %s%s", engine_label(list[i].engine, list[i].dyn),
				 warm ? ", warmed" : "");
			run_worker(as_worker, 2 * i + warm, what);
		}
	}
	test_primed_retry(false);
	test_primed_retry(true);
	return done();
}
