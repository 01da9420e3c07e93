// SPDX-License-Identifier: MIT
/*
 * forkless bench: the io_uring_spawn talk's method (DESIGN.md, "How
 * performance is measured").  For each method of making a process:
 *
 *   t0  clock_gettime(CLOCK_MONOTONIC) just before the spawn call
 *   t1  the same just after it returns: t1 - t0 is the time the calling
 *       thread was blocked
 *   t2  the child's own first instruction (build/firstinsn reads the clock
 *       with a raw syscall and writes it to fd 3): t2 - t0 is the latency
 *
 * then the child is reaped (not timed).  Minimum and median over the
 * iterations, for a parent in three states: as it is, with 1 GiB mapped but
 * untouched, and with 1 GiB touched (4 KiB pages).  glibc's posix_spawn and
 * posix_spawnp and a raw vfork+execve and clone3+execve are measured in the
 * same run, so every claim is a ratio taken side by side.
 *
 * The methods are interleaved round by round (round r runs each method once,
 * in an order shuffled each round) so that noise from other work on this
 * shared machine falls on all of them alike, not on whichever ran during a
 * busy minute; for the same reason a long run measures the states in four
 * passes that take turns.  A method whose iterations are slow (fork with
 * 1 GiB touched takes ~20 ms each) gets fewer samples, spread over the same
 * rounds, so that it stays within a time budget per cell; the output says so.
 *
 * Three engines are measured apart, each alone after the others in each
 * pass, because they leave work behind that would fall on whichever method
 * came next.  fork: each fork() write-protects the parent's private memory,
 * so the next spawn by any method would pay copy-on-write faults for the
 * pages it writes (the parent's stack, a library's cached child stack).
 * pool: after a spawn returns, the replacement child it makes is still
 * starting and parking.  zygote: the helper process is still finishing its
 * side of the request.  Measured interleaved, they inflated every other
 * method's median by a third in this benchmark's own runs.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <gnu/libc-version.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

extern char **environ;

/* The fd the child writes its time to: tools/firstinsn.c's FIRSTINSN_FD.  The
 * pipe's write end sits there, without close-on-exec, for the whole run, so
 * every method passes it on with no setup step of its own. */
#define BENCH_FD 3

#define MAX_STATES 4		/* base, mapped, touched; the plot's sweep has 4 sizes */
#define PROBE_ROUNDS 20		/* rounds every method runs before slow ones are thinned */
#define WARMUP 5		/* untimed spawns per method and state */
#ifndef WATCHDOG_S
#define WATCHDOG_S 60		/* a round that takes longer has a spawn that hangs */
#endif
#define STR_(x) #x
#define STR(x) STR_(x)
#define LABEL_W 44		/* the width of the tables' first column */

/* ---- what is spawned ---------------------------------------------------------- */

enum { T_FIRSTINSN, T_TRUE, T_COUNT };

struct target {
	char path[PATH_MAX];	/* absolute */
	char file[PATH_MAX];	/* for posix_spawnp: a name its PATH search finds late */
	char *argv[2];
};

static struct target targets[T_COUNT];

/* --dup2: the time pipe's write end sits at dup_from, close-on-exec, and every
 * method puts it at BENCH_FD with a dup2 step of its own (a posix_spawn file
 * action, an engine's fl_act_dup2, a dup3 in the raw children), as a program
 * that hands a child a pipe would.  Else -1: the pipe is at BENCH_FD already,
 * open across exec, and no method has a step. */
static int dup_from = -1;
static posix_spawn_file_actions_t dup_actions;		/* glibc's, made by glibc */
static posix_spawn_file_actions_t fl_dup_actions;	/* forkless's posix_spawn's, made by it */
#define SPAWN_ACTIONS (dup_from >= 0 ? &dup_actions : NULL)
#define FL_SPAWN_ACTIONS (dup_from >= 0 ? &fl_dup_actions : NULL)

/* --glibc: the glibc rows run in a helper, this program re-executed under
 * another glibc's loader and libc, which takes requests on a pipe. */
struct glibc_helper {
	bool on;
	fl_child child;
	int req, rep;		/* our ends of its stdin and stdout */
	char version[32];
};
static struct glibc_helper helper;

/* ---- results -------------------------------------------------------------------- */

struct cell {
	bool ran;
	int n;			/* samples taken */
	int error;		/* positive errno of a failure, 0 if none */
	char why[200];		/* the failure as text */
	double lat_min, lat_med, blk_min, blk_med;	/* µs */
	double iter_us;		/* median time of a whole iteration, spawn to reaped */
};

struct tput {
	int n, error;
	char why[200];
	double total_us;
};

/* ---- methods ---------------------------------------------------------------------- */

struct proc {
	pid_t pid;		/* the references' child */
	fl_child child;		/* the engines' child */
	/* A glibc row run by the --glibc helper: it timed the call and reaped
	 * the child itself. */
	bool remote;
	int status;
	int64_t t0, t1, t2;	/* call, return, reaped */
};

struct method;
/* The timed call: returns once the calling thread may go on, 0 or -errno. */
typedef int (*start_fn)(struct method *m, int target, struct proc *p, char *why, size_t len);
typedef int (*posix_spawn_fn)(pid_t *, const char *, const posix_spawn_file_actions_t *,
			      const posix_spawnattr_t *, char *const[], char *const[]);

struct method {
	const char *id;		/* its name for --methods */
	const char *label;	/* its row title */
	start_fn start;
	posix_spawn_fn psfn;	/* for start_posix_spawn: which posix_spawn */
	bool search;		/* posix_spawnp: the program by name, found in PATH's last entry */
	bool afork;		/* start_clone3: without CLONE_VFORK */
	int engine;		/* a forkless engine, or 0 for a reference */
	unsigned flags;		/* the engine's template's fl_spec_set_flags */
	int group;		/* 0: interleaved with the others; else measured alone, after them */
#define GROUP_LAST 3

	/* filled at run time */
	bool on;
	char label_buf[48];
	fl_spec *spec[T_COUNT];
	struct cell cell[MAX_STATES];
	struct cell sweep[MAX_STATES];
	struct tput tput;
};

static int start_posix_spawn(struct method *m, int t, struct proc *p, char *why, size_t len);
static int start_vfork(struct method *m, int t, struct proc *p, char *why, size_t len);
#if defined(__x86_64__)
static int start_clone3(struct method *m, int t, struct proc *p, char *why, size_t len);
#endif
static int start_engine(struct method *m, int t, struct proc *p, char *why, size_t len);

/*
 * The reference methods.  The forkless engines follow, one row per engine
 * fl_engine_supported() accepts, added at run time: an engine added to the
 * library appears here by itself.
 */
static const struct method reference_methods[] = {
	{ .id = "glibc-spawn", .label = "glibc posix_spawn", .start = start_posix_spawn, .psfn = posix_spawn },
	{ .id = "glibc-spawnp", .label = "glibc posix_spawnp (PATH of 5, last)", .start = start_posix_spawn,
	  .psfn = posix_spawnp, .search = true },
	/* forkless's drop-in posix_spawn: the same calls, the same objects */
	{ .id = "fl-spawn", .label = "posix_spawn via forkless", .start = start_posix_spawn,
	  .psfn = fl_posix_spawn },
	{ .id = "fl-spawnp", .label = "posix_spawnp via forkless (PATH of 5, last)",
	  .start = start_posix_spawn, .psfn = fl_posix_spawnp, .search = true },
	{ .id = "raw-vfork", .label = "raw vfork + execve", .start = start_vfork },
#if defined(__x86_64__)	/* their child is a few lines of assembly */
	{ .id = "raw-clone3", .label = "raw clone3 vfork + execve", .start = start_clone3 },
	{ .id = "raw-afork", .label = "raw clone3 afork (no VFORK) + execve", .start = start_clone3,
	  .afork = true },
#endif
};

#define N_REFS (sizeof(reference_methods) / sizeof(reference_methods[0]))
#define MAX_METHODS (N_REFS + FL_ENGINE_COUNT + 2)

/* ---- the run ---------------------------------------------------------------------- */

struct state {
	const char *id;
	char label[48];
	size_t bytes;
	bool touch;
};

struct bench {
	struct method m[MAX_METHODS];
	int nm;
	struct state states[MAX_STATES];
	int ns;
	int iterations, tput_n, prog_n;
	double budget_us;	/* per cell, for slow methods */
	long memory_mib;
	bool json, quick, do_main, do_tput, do_progs;
	const char *plot;
	int plot_iterations;
	struct state sweep[MAX_STATES];
	int nsweep;
	int pipe_r;
	bool path_set;
	char *saved_path;
	bool tty;
	int64_t started, last_progress;
	double total_s;
};

static volatile sig_atomic_t stopping;
static const char *volatile current_method;	/* for the watchdog's message */

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* ---- the --glibc helper -------------------------------------------------------------- */

/* A request: OP 'l' (one spawn of firstinsn), 't' (/bin/true), 'b' (the
 * batch), 'v' (the version); SEARCH for posix_spawnp. */
struct helper_req {
	char op, search;
};

struct helper_rep {
	int error;		/* positive errno of the spawn */
	int status;
	int64_t t0, t1, t2;	/* call, return, reaped (the batch: all started, all reaped) */
	char version[32];
};

static bool full_io(int fd, void *buf, size_t len, bool out)
{
	for (size_t done = 0; done < len;) {
		ssize_t n = out ? write(fd, (char *)buf + done, len - done) : read(fd, (char *)buf + done, len - done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return false;
		done += (size_t)n;
	}
	return true;
}

static bool helper_ask(char op, bool search, struct helper_rep *rep)
{
	struct helper_req q = { op, search };

	return full_io(helper.req, &q, sizeof(q), true) && full_io(helper.rep, rep, sizeof(*rep), false);
}

#define BATCH_N 1000

/* The helper's side: `forkless bench --glibc-helper PATH FILE TRUE DUP_FROM`,
 * run under the other glibc; requests on stdin, replies on stdout. */
static int glibc_helper_main(char **argv)
{
	static pid_t pids[BATCH_N];
	char *paths[2] = { argv[0], argv[2] }, *av[2][2] = { { argv[0], NULL }, { argv[2], NULL } };
	struct helper_req q;

	dup_from = atoi(argv[3]);
	if (dup_from >= 0 && (posix_spawn_file_actions_init(&dup_actions) != 0 ||
			      posix_spawn_file_actions_adddup2(&dup_actions, dup_from, BENCH_FD) != 0))
		return 1;
	while (full_io(0, &q, sizeof(q), false)) {
		struct helper_rep r = { 0 };
		int t = q.op == 'l' ? 0 : 1, n = 0;
		const char *what = q.search && t == 0 ? argv[1] : paths[t];
		posix_spawn_fn fn = q.search ? posix_spawnp : posix_spawn;

		switch (q.op) {
		case 'v':
			snprintf(r.version, sizeof(r.version), "%s", gnu_get_libc_version());
			break;
		case 'l':
		case 't':
			r.t0 = now_ns();
			r.error = fn(&pids[0], what, t == 0 ? SPAWN_ACTIONS : NULL, NULL, av[t], environ);
			r.t1 = now_ns();
			if (!r.error)
				while (waitpid(pids[0], &r.status, 0) < 0 && errno == EINTR)
					;
			r.t2 = now_ns();
			break;
		case 'b':
			r.t0 = now_ns();
			for (; n < BATCH_N && !r.error; n++)
				r.error = posix_spawn(&pids[n], paths[1], NULL, NULL, av[1], environ);
			r.t1 = now_ns();
			for (int i = 0; i < n - (r.error != 0); i++)
				waitpid(pids[i], NULL, 0);
			r.t2 = now_ns();
			break;
		default:
			return 1;
		}
		if (!full_io(1, &r, sizeof(r), true))
			return 1;
	}
	return 0;
}

/* Starts the helper: DIR's loader runs this program with DIR's libraries
 * first, through the public API. */
static bool glibc_helper_start(const char *dir, char *why, size_t len)
{
	static const char *const loaders[] = { "ld-linux-x86-64.so.2", "ld-linux-aarch64.so.1" };
	char loader[PATH_MAX], self[PATH_MAX], dupstr[16];
	int req[2] = { -1, -1 }, rep[2] = { -1, -1 }, ret = -ENOENT;
	fl_spec *spec = NULL;
	fl_actions *acts;
	fl_report report;
	struct helper_rep r;
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);

	if (n < 0) {
		snprintf(why, len, "/proc/self/exe: %s", strerror(errno));
		return false;
	}
	self[n] = 0;
	for (size_t i = 0; i < sizeof(loaders) / sizeof(loaders[0]) && ret == -ENOENT; i++) {
		snprintf(loader, sizeof(loader), "%s/%s", dir, loaders[i]);
		ret = access(loader, X_OK) == 0 ? 0 : -ENOENT;
	}
	if (ret < 0) {
		snprintf(why, len, "%s has no ld-linux-x86-64.so.2 or ld-linux-aarch64.so.1", dir);
		return false;
	}
	snprintf(dupstr, sizeof(dupstr), "%d", dup_from);
	if (pipe2(req, O_CLOEXEC) < 0 || pipe2(rep, O_CLOEXEC) < 0) {
		ret = -errno;
		goto fail;
	}
	char *argv[] = { loader, (char *)"--library-path", (char *)dir, self, (char *)"bench", (char *)"--glibc-helper",
			 targets[T_FIRSTINSN].path, targets[T_FIRSTINSN].file, targets[T_TRUE].path, dupstr, NULL };

	acts = NULL;
	if ((ret = fl_spec_new(&spec)) < 0 || (ret = fl_spec_set_path(spec, loader)) < 0 ||
	    (ret = fl_spec_set_argv(spec, argv)) < 0)
		goto fail;
	acts = fl_spec_actions(spec);
	if ((ret = fl_act_dup2(acts, req[0], 0, 0)) < 0 || (ret = fl_act_dup2(acts, rep[1], 1, 0)) < 0 ||
	    (dup_from >= 0 && (ret = fl_act_dup2(acts, dup_from, dup_from, 0)) < 0))
		goto fail;
	if ((ret = fl_spawn(spec, NULL, &helper.child, &report)) < 0) {
		fl_report_format(spec, NULL, &report, why, len);
		fl_spec_free(spec);
		spec = NULL;
		ret = 0;
		goto fail;
	}
	fl_spec_free(spec);
	close(req[0]);
	close(rep[1]);
	helper.req = req[1];
	helper.rep = rep[0];
	helper.on = true;
	if (!helper_ask('v', false, &r)) {
		snprintf(why, len, "%s did not answer (not a glibc build for this machine?)", loader);
		return false;
	}
	snprintf(helper.version, sizeof(helper.version), "%s", r.version);
	return true;
fail:
	if (ret < 0)
		snprintf(why, len, "starting the helper under %s: %s", loader, strerror(-ret));
	fl_spec_free(spec);
	for (int i = 0; i < 2; i++) {
		if (req[i] >= 0)
			close(req[i]);
		if (rep[i] >= 0)
			close(rep[i]);
	}
	return false;
}

static void glibc_helper_stop(void)
{
	if (!helper.on)
		return;
	close(helper.req);	/* EOF: the helper ends */
	close(helper.rep);
	fl_child_wait(&helper.child, NULL);
	helper.on = false;
}

/* ---- starting a child ------------------------------------------------------------------ */

/* Whether M is a glibc row (timed by the helper under --glibc). */
static bool is_glibc(const struct method *m)
{
	return m->psfn == posix_spawn || m->psfn == posix_spawnp;
}

/* glibc's posix_spawn or posix_spawnp (or the compat layer's): the timed
 * call is the whole of it, which returns once the child has exec'd. */
static int start_posix_spawn(struct method *m, int t, struct proc *p, char *why, size_t len)
{
	const struct target *tg = &targets[t];
	int err;

	if (helper.on && is_glibc(m)) {
		struct helper_rep r;

		if (!helper_ask(t == T_FIRSTINSN ? 'l' : 't', m->search, &r)) {
			snprintf(why, len, "the --glibc helper is gone");
			return -EPIPE;
		}
		p->remote = true;
		p->status = r.status;
		p->t0 = r.t0;
		p->t1 = r.t1;
		p->t2 = r.t2;
		err = r.error;
	} else {
		err = m->psfn(&p->pid, m->search ? tg->file : tg->path,
			      t != T_FIRSTINSN ? NULL : is_glibc(m) ? SPAWN_ACTIONS : FL_SPAWN_ACTIONS, NULL, tg->argv,
			      environ);
	}
	if (err)
		snprintf(why, len, "%s: %s", m->label, strerror(err));
	return -err;
}

/* The textbook vfork: the child may only exec or _exit. */
static int start_vfork(struct method *m, int t, struct proc *p, char *why, size_t len)
{
	const struct target *tg = &targets[t];
	pid_t pid;

	(void)m;
	pid = vfork();
	if (pid == 0) {
		if (dup_from >= 0 && dup2(dup_from, BENCH_FD) < 0)
			_exit(127);
		execve(tg->path, tg->argv, environ);
		_exit(127);
	}
	if (pid < 0) {
		int err = errno;

		snprintf(why, len, "vfork: %s", strerror(err));
		return -err;
	}
	p->pid = pid;
	return 0;
}

#if defined(__x86_64__)
/*
 * The floors the clone and async engines are judged against (ANCHORS.md):
 * clone3 with CLONE_VM | CLONE_VFORK (the clone engine's), or CLONE_VM alone
 * (afork, the async engine's), and nothing else, on a stack made once, the
 * child going straight to execve (after a dup2 of the time pipe with
 * --dup2, the step the engines then run too).  The child runs inside this one
 * asm statement and never leaves it (execve, or exit(127)), touching neither
 * stack nor memory, so no C code runs in it; the kernel keeps every register
 * but rax, rcx and r11 across syscall, which is how path, argv, envp and the
 * fd reach the child.
 */
static char clone3_stack[16384] __attribute__((aligned(16)));

static long raw_clone3_exec(uint64_t flags, int from_fd, const char *path, char *const argv[],
			    char *const envp[])
{
	struct {
		uint64_t flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls;
	} ca = {
		.flags = flags,
		.exit_signal = SIGCHLD,
		.stack = (uintptr_t)clone3_stack,
		.stack_size = sizeof(clone3_stack),
	};
	register const char *r8 __asm__("r8") = path;
	register char *const *r9 __asm__("r9") = argv;
	register char *const *r10 __asm__("r10") = envp;
	register long r12 __asm__("r12") = from_fd;
	long ret;

	__asm__ volatile(
		"syscall\n\t"			/* clone3(&ca, sizeof(ca)) */
		"test %%rax, %%rax\n\t"
		"jnz 1f\n\t"
		"test %%r12, %%r12\n\t"	/* the child: dup3(from_fd, 3, 0) if >= 0 */
		"js 2f\n\t"
		"mov %%r12, %%rdi\n\t"
		"mov $" STR(BENCH_FD) ", %%esi\n\t"
		"xor %%edx, %%edx\n\t"
		"mov $292, %%eax\n\t"
		"syscall\n"
		"2:\n\t"
		"mov %%r8, %%rdi\n\t"		/* execve(path, argv, envp) */
		"mov %%r9, %%rsi\n\t"
		"mov %%r10, %%rdx\n\t"
		"mov $59, %%eax\n\t"
		"syscall\n\t"
		"mov $127, %%edi\n\t"		/* exit(127) if it returns */
		"mov $60, %%eax\n\t"
		"syscall\n\t"
		"1:\n\t"
		: "=a"(ret)
		: "0"(435L), "D"(&ca), "S"(sizeof(ca)), "r"(r8), "r"(r9), "r"(r10), "r"(r12)
		: "rcx", "r11", "memory");
	return ret;
}

static int start_clone3(struct method *m, int t, struct proc *p, char *why, size_t len)
{
	const struct target *tg = &targets[t];
	long pid = raw_clone3_exec(m->afork ? CLONE_VM : CLONE_VM | CLONE_VFORK, dup_from, tg->path, tg->argv,
				   environ);

	if (pid < 0) {
		snprintf(why, len, "clone3: %s", strerror((int)-pid));
		return (int)pid;
	}
	p->pid = (pid_t)pid;
	return 0;
}
#endif

/* A forkless engine through the public API; the template was built once. */
static int start_engine(struct method *m, int t, struct proc *p, char *why, size_t len)
{
	fl_report rep;
	int ret = fl_spawn(m->spec[t], NULL, &p->child, &rep);

	if (ret < 0)
		fl_report_format(m->spec[t], NULL, &rep, why, len);
	return ret;
}

/* After the timed part: the exec's outcome (the async engine reports it
 * later), then the child reaped.  Returns the wait status or -errno. */
static int finish(struct method *m, int t, struct proc *p, char *why, size_t len)
{
	int status = 0, ret;

	if (p->remote)
		return p->status;
	if (m->engine) {
		fl_report rep;

		ret = fl_child_wait_exec(&p->child, &rep);
		if (ret < 0) {
			fl_report_format(m->spec[t], NULL, &rep, why, len);
			return ret;
		}
		do
			ret = fl_child_wait(&p->child, &status);
		while (ret == -EINTR);
	} else {
		do
			ret = waitpid(p->pid, &status, 0) < 0 ? -errno : 0;
		while (ret == -EINTR);
	}
	if (ret < 0) {
		snprintf(why, len, "wait: %s", strerror(-ret));
		return ret;
	}
	return status;
}

/* One timed spawn of firstinsn: *LAT and *BLK in ns, *ITER the whole
 * iteration.  0, or -errno with WHY filled. */
static int measure(struct bench *b, struct method *m, int64_t *lat, int64_t *blk, int64_t *iter,
		   char *why, size_t len)
{
	struct proc p = { .pid = -1 };
	struct timespec t2;
	int64_t t0, t1;
	ssize_t n;
	int ret, status;

	current_method = m->id;
	t0 = now_ns();
	ret = m->start(m, T_FIRSTINSN, &p, why, len);
	t1 = now_ns();
	if (ret < 0)
		return ret;
	status = finish(m, T_FIRSTINSN, &p, why, len);
	if (status < 0)
		return status;
	/* The child has exited, so its time is in the pipe, or never will be. */
	n = read(b->pipe_r, &t2, sizeof(t2));
	*iter = now_ns() - t0;
	if (n != (ssize_t)sizeof(t2) || status != 0) {
		snprintf(why, len, "the child wrote %s and %s %d: did it inherit fd %d?",
			 n == (ssize_t)sizeof(t2) ? "its time" : "no time",
			 WIFSIGNALED(status) ? "died of signal" : "exited", WIFSIGNALED(status) ? WTERMSIG(status)
											   : WEXITSTATUS(status),
			 BENCH_FD);
		return -EPROTO;
	}
	if (p.remote) {
		t0 = p.t0;
		t1 = p.t1;
	}
	*lat = (int64_t)t2.tv_sec * 1000000000 + t2.tv_nsec - t0;
	*blk = t1 - t0;
	return 0;
}

/* ---- statistics ------------------------------------------------------------------- */

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return (x > y) - (x < y);
}

/* Sorts V and returns its median in µs. */
static double median_us(int64_t *v, int n)
{
	qsort(v, n, sizeof(*v), cmp_i64);
	if (n == 0)
		return NAN;
	return (n % 2 ? (double)v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2.0) / 1000.0;
}

/* ---- progress ----------------------------------------------------------------------- */

static void progress(struct bench *b, bool force, const char *fmt, ...)
{
	int64_t now = now_ns();
	va_list ap;

	if (!b->tty || (!force && now - b->last_progress < 200000000))
		return;
	b->last_progress = now;
	fprintf(stderr, "\r\033[Kforkless bench [%3.0f s]: ", (now - b->started) / 1e9);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fflush(stderr);
}

static void progress_done(struct bench *b)
{
	if (b->tty)
		fprintf(stderr, "\r\033[K");
}

/* ---- parent memory ------------------------------------------------------------------ */

/* The parent's extra memory for a state: BYTES mapped, private and
 * anonymous, with 4 KiB pages (no transparent huge pages, which would make
 * fork's page-table copy 512 times smaller), written to if TOUCH. */
static void *state_memory(const struct state *st, char *why, size_t len)
{
	void *mem;

	if (!st->bytes)
		return NULL;
	mem = mmap(NULL, st->bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (mem == MAP_FAILED) {
		snprintf(why, len, "mmap of %zu MiB: %s", st->bytes >> 20, strerror(errno));
		return MAP_FAILED;
	}
	madvise(mem, st->bytes, MADV_NOHUGEPAGE);
	if (st->touch)
		memset(mem, 1, st->bytes);
	return mem;
}

/* ---- one state: every method, interleaved --------------------------------------------- */

static void fail_cell(struct cell *c, int err, const char *why)
{
	c->error = err < 0 ? -err : err;
	snprintf(c->why, sizeof(c->why), "%s", why);
}

/* The samples of one cell while a run goes on. */
struct samples {
	int64_t *lat, *blk, *wall;
	int plan;		/* the rounds it takes part in: all, or fewer when slow */
};

/* A small fixed-seed generator for the order within a round: the same run
 * after run, and no method always follows the same other one (a child
 * exiting on the other CPU, a TLB flush, could otherwise tax one method). */
static uint32_t next_random(uint32_t *state)
{
	*state ^= *state << 13;
	*state ^= *state >> 17;
	*state ^= *state << 5;
	return *state;
}

static void shuffle(int *order, int n, uint32_t *seed)
{
	for (int j = 0; j < n; j++)
		order[j] = j;
	for (int j = n - 1; j > 0; j--) {
		int k = (int)(next_random(seed) % (uint32_t)(j + 1)), t = order[j];

		order[j] = order[k];
		order[k] = t;
	}
}

/* Whether cell C takes part in round R: every round, or, for a method so
 * slow that the cell would go over its time budget, an even spread of fewer
 * rounds after the first PROBE, decided when round PROBE comes. */
static bool due(const struct bench *b, const struct cell *c, struct samples *sm, int r, int probe, int iters)
{
	long more, rounds;

	if (c->error)
		return false;
	if (r < probe)
		return true;
	if (r == probe) {
		double per = c->n ? median_us(sm->wall, c->n) : 0;

		if (per * iters > b->budget_us) {
			int want = (int)(b->budget_us / per);

			sm->plan = want < probe ? probe : want > iters ? iters : want;
		}
	}
	more = sm->plan - probe;
	rounds = iters - probe;
	return (r - probe + 1) * more / rounds != (r - probe) * more / rounds;
}

/* One sample of M into C, or C marked failed. */
static void sample(struct bench *b, struct method *m, struct cell *c, struct samples *sm)
{
	int64_t lat, blk, wall;
	char why[200];
	int ret = measure(b, m, &lat, &blk, &wall, why, sizeof(why));

	if (ret < 0) {
		fail_cell(c, ret, why);
		return;
	}
	sm->lat[c->n] = lat;
	sm->blk[c->n] = blk;
	sm->wall[c->n] = wall;
	c->n++;
}

/* Untimed spawns first: the library's one-time work (feature probe, the
 * thread's stack) and cold caches, or the copy-on-write faults a fork left,
 * stay out of the samples. */
static void warm_up(struct bench *b, struct method **active, struct cell **cells, int na, int group)
{
	char why[200];

	for (int i = 0; i < na; i++)
		for (int w = 0; w < WARMUP && active[i]->group == group && !cells[i]->error; w++) {
			int64_t lat, blk, wall;
			int ret = measure(b, active[i], &lat, &blk, &wall, why, sizeof(why));

			if (ret < 0)
				fail_cell(cells[i], ret, why);
		}
}

/*
 * Measures every method in every state of STATES, ITERS samples each.  The
 * states take turns in passes (a quarter of the rounds each, for a long run),
 * so that load that comes and goes on a shared machine falls on every state
 * alike, as the interleaving of methods within a round does for the methods.
 */
static void run_states(struct bench *b, struct state *states, int ns, int iters, bool sweep)
{
	static struct samples smp[MAX_STATES][MAX_METHODS];
	struct method *active[MAX_METHODS];
	int order[MAX_METHODS], na = 0, probe = iters < PROBE_ROUNDS ? iters : PROBE_ROUNDS;
	int passes = iters >= 400 ? 4 : 1;
	uint32_t seed = 0x9e3779b9;
	char why[200];

	for (int i = 0; i < b->nm; i++)
		if (b->m[i].on)
			active[na++] = &b->m[i];
	for (int s = 0; s < ns; s++)
		for (int i = 0; i < na; i++) {
			struct cell *c = sweep ? &active[i]->sweep[s] : &active[i]->cell[s];

			memset(c, 0, sizeof(*c));
			c->ran = true;
			smp[s][i].lat = calloc(iters, sizeof(int64_t));
			smp[s][i].blk = calloc(iters, sizeof(int64_t));
			smp[s][i].wall = calloc(iters, sizeof(int64_t));
			smp[s][i].plan = iters;
			if (!smp[s][i].lat || !smp[s][i].blk || !smp[s][i].wall) {
				cli_error("bench: out of memory");
				exit(1);
			}
		}

	for (int pass = 0; pass < passes && !stopping; pass++) {
		/* Each pass starts with another state, so that none always
		 * follows the freeing of the others' gigabyte. */
		for (int k = 0; k < ns && !stopping; k++) {
			int s = (k + pass) % ns;
			struct state *st = &states[s];
			struct cell *cells[MAX_METHODS];
			int r0 = pass * iters / passes, r1 = (pass + 1) * iters / passes;
			char pass_label[32] = "";
			void *mem;

			if (passes > 1)
				snprintf(pass_label, sizeof(pass_label), "pass %d of %d, ", pass + 1, passes);

			for (int i = 0; i < na; i++)
				cells[i] = sweep ? &active[i]->sweep[s] : &active[i]->cell[s];
			progress(b, true, "%s: preparing the parent's memory", st->label);
			current_method = NULL;
			alarm(WATCHDOG_S);
			mem = state_memory(st, why, sizeof(why));
			if (mem == MAP_FAILED) {
				for (int i = 0; i < na; i++)
					fail_cell(cells[i], ENOMEM, why);
				continue;
			}
			/* The methods of group 0 interleaved; then each of the
			 * others alone (see the top of this file). */
			for (int group = 0; group <= GROUP_LAST; group++) {
				warm_up(b, active, cells, na, group);
				for (int r = r0; r < r1 && !stopping; r++) {
					alarm(WATCHDOG_S);
					shuffle(order, na, &seed);
					for (int j = 0; j < na; j++) {
						int i = order[j];

						if (active[i]->group == group &&
						    due(b, cells[i], &smp[s][i], r, probe, iters))
							sample(b, active[i], cells[i], &smp[s][i]);
					}
					progress(b, false, "%s%s (%d of %d)%s: round %d of %d", pass_label,
						 st->label, k + 1, ns, group ? ", one engine apart" : "", r + 1, iters);
				}
			}
			if (mem)
				munmap(mem, st->bytes);
		}
	}

	for (int s = 0; s < ns; s++)
		for (int i = 0; i < na; i++) {
			struct cell *c = sweep ? &active[i]->sweep[s] : &active[i]->cell[s];
			struct samples *sm = &smp[s][i];

			if (!c->error && c->n) {
				c->lat_med = median_us(sm->lat, c->n);
				c->lat_min = sm->lat[0] / 1000.0;
				c->blk_med = median_us(sm->blk, c->n);
				c->blk_min = sm->blk[0] / 1000.0;
				c->iter_us = median_us(sm->wall, c->n);
			}
			free(sm->lat);
			free(sm->blk);
			free(sm->wall);
		}
}

/* ---- throughput: spawn + wait of /bin/true ------------------------------------------- */

static void run_throughput(struct bench *b)
{
	struct method *active[MAX_METHODS];
	int na = 0;
	char why[200];

	for (int i = 0; i < b->nm; i++)
		if (b->m[i].on) {
			active[na++] = &b->m[i];
			memset(&b->m[i].tput, 0, sizeof(b->m[i].tput));
		}
	for (int r = 0; r < b->tput_n && !stopping; r++) {
		alarm(WATCHDOG_S);
		for (int j = 0; j < na; j++) {
			struct method *m = active[(r + j) % na];
			struct proc p = { .pid = -1 };
			int64_t t0 = now_ns();
			int ret;

			if (m->tput.error)
				continue;
			current_method = m->id;
			ret = m->start(m, T_TRUE, &p, why, sizeof(why));
			if (ret >= 0)
				ret = finish(m, T_TRUE, &p, why, sizeof(why));
			if (ret > 0) {
				snprintf(why, sizeof(why), "/bin/true exited with status 0x%x", ret);
				ret = -EPROTO;
			}
			if (ret < 0) {
				m->tput.error = -ret;
				snprintf(m->tput.why, sizeof(m->tput.why), "%s", why);
				continue;
			}
			m->tput.total_us += ((p.remote ? p.t2 - p.t0 : now_ns() - t0)) / 1000.0;
			m->tput.n++;
		}
		progress(b, false, "throughput (spawn + wait of /bin/true): round %d of %d", r + 1, b->tput_n);
	}
}

/* ---- batch: many children from one thread, then all reaped -------------------------- */

/* The time to start BATCH_N children of /bin/true from one thread, and until
 * every one is reaped: glibc's posix_spawn in a loop then waitpid each, and
 * the clone and async engines through fl_spawn_batch then an fl_reaper. */
struct batch_row {
	char label[96];
	double start_ms, total_ms;
	char why[160];
};
static struct batch_row batch_rows[3];
static int batch_nrows;

static void batch_glibc(struct batch_row *row, pid_t *pids)
{
	const struct target *tg = &targets[T_TRUE];
	int64_t t0 = now_ns(), t1;
	int n = 0, err = 0;

	if (helper.on) {
		struct helper_rep r;

		if (!helper_ask('b', false, &r))
			snprintf(row->why, sizeof(row->why), "the --glibc helper is gone");
		else if (r.error)
			snprintf(row->why, sizeof(row->why), "posix_spawn: %s", strerror(r.error));
		row->start_ms = (r.t1 - r.t0) / 1e6;
		row->total_ms = (r.t2 - r.t0) / 1e6;
		return;
	}

	for (; n < BATCH_N && !err; n++)
		err = posix_spawn(&pids[n], tg->path, NULL, NULL, tg->argv, environ);
	t1 = now_ns();
	if (err) {
		n--;
		snprintf(row->why, sizeof(row->why), "posix_spawn: %s", strerror(err));
	}
	for (int i = 0; i < n; i++)
		waitpid(pids[i], NULL, 0);
	row->start_ms = (t1 - t0) / 1e6;
	row->total_ms = (now_ns() - t0) / 1e6;
}

static void batch_engine(struct batch_row *row, const fl_spec *spec, fl_child *children, fl_report *reports)
{
	const fl_spec *specs[1] = { spec };
	fl_reaper *reaper = NULL;
	int64_t t0 = now_ns(), t1;
	int started = fl_spawn_batch(BATCH_N, specs, 1, NULL, 0, children, reports), ret = 0;
	fl_child *done;

	t1 = now_ns();
	if (started < BATCH_N)
		snprintf(row->why, sizeof(row->why), "%d of %d started", started < 0 ? 0 : started, BATCH_N);
	if ((ret = fl_reaper_new(&reaper, 0)) < 0)
		snprintf(row->why, sizeof(row->why), "fl_reaper_new: %s", strerror(-ret));
	for (int i = 0; i < BATCH_N; i++) {
		if (reports[i].error)
			continue;
		if (!reaper || fl_reaper_add(reaper, &children[i]) < 0)
			fl_child_wait(&children[i], NULL);
	}
	while (reaper && fl_reaper_count(reaper) > 0 && fl_reaper_wait(reaper, -1, &done, NULL) >= 0)
		;
	row->start_ms = (t1 - t0) / 1e6;
	row->total_ms = (now_ns() - t0) / 1e6;
	fl_reaper_free(reaper);
}

/* The batch rows take turns, BATCH_ROUNDS times, each round in another
 * order, and each row shows its median round: one batch lasts seconds, long
 * enough for the load of a shared machine to come and go between rows. */
#define BATCH_ROUNDS 3

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static void run_batch(struct bench *b)
{
	static const int engines[] = { FL_ENGINE_CLONE, FL_ENGINE_ASYNC };
	enum { NROWS = 1 + sizeof(engines) / sizeof(engines[0]) };
	pid_t *pids = calloc(BATCH_N, sizeof(*pids));
	fl_child *children = calloc(BATCH_N, sizeof(*children));
	fl_report *reports = calloc(BATCH_N, sizeof(*reports));
	fl_spec *specs[NROWS] = { NULL };
	double start[NROWS][BATCH_ROUNDS], total[NROWS][BATCH_ROUNDS];
	struct rlimit nofile;
	int rounds = 0;

	if (!pids || !children || !reports)
		goto out;
	/* A pidfd per child alive at once: make room under RLIMIT_NOFILE. */
	if (getrlimit(RLIMIT_NOFILE, &nofile) == 0 && nofile.rlim_cur < 4 * BATCH_N &&
	    nofile.rlim_max > nofile.rlim_cur) {
		nofile.rlim_cur = nofile.rlim_max < 4 * BATCH_N ? nofile.rlim_max : 4 * BATCH_N;
		setrlimit(RLIMIT_NOFILE, &nofile);
	}
	batch_nrows = NROWS;
	memset(batch_rows, 0, sizeof(batch_rows));
	snprintf(batch_rows[0].label, sizeof(batch_rows[0].label), "glibc %s posix_spawn, then waitpid each",
		 helper.on ? helper.version : gnu_get_libc_version());
	for (int e = 1; e < NROWS; e++) {
		struct batch_row *row = &batch_rows[e];
		int ret;

		snprintf(row->label, sizeof(row->label), "forkless %s, fl_spawn_batch + reaper",
			 fl_engine_name(engines[e - 1]));
		if ((ret = fl_spec_new(&specs[e])) < 0 || (ret = fl_spec_set_path(specs[e], targets[T_TRUE].path)) < 0 ||
		    (ret = fl_spec_set_engine(specs[e], engines[e - 1])) < 0)
			snprintf(row->why, sizeof(row->why), "template: %s", strerror(-ret));
	}
	for (; rounds < BATCH_ROUNDS && !stopping; rounds++)
		for (int k = 0; k < NROWS && !stopping; k++) {
			int e = (k + rounds) % NROWS;
			struct batch_row *row = &batch_rows[e];

			if (row->why[0])
				continue;
			progress(b, true, "batch: %d children from one thread, round %d of %d", BATCH_N, rounds + 1,
				 BATCH_ROUNDS);
			alarm(WATCHDOG_S);
			current_method = row->label;
			if (e == 0)
				batch_glibc(row, pids);
			else
				batch_engine(row, specs[e], children, reports);
			start[e][rounds] = row->start_ms;
			total[e][rounds] = row->total_ms;
		}
	for (int e = 0; e < NROWS && rounds; e++) {
		if (batch_rows[e].why[0])
			continue;	/* printed as failed */
		qsort(start[e], rounds, sizeof(double), cmp_double);
		qsort(total[e], rounds, sizeof(double), cmp_double);
		batch_rows[e].start_ms = start[e][rounds / 2];
		batch_rows[e].total_ms = total[e][rounds / 2];
	}
out:
	for (int e = 0; e < NROWS; e++)
		fl_spec_free(specs[e]);
	free(pids);
	free(children);
	free(reports);
}

/* ---- real programs: spawn + wait of dynamically linked programs --------------------------- */

#define PROG_METHODS 3		/* glibc posix_spawnp, the clone engine, the primed engine */
#define PROG_MAX 3

struct prog_row {
	const char *label;
	char *argv[3];
	double *t[PROG_METHODS];	/* per round, us */
	int n;
	double prime_us;		/* the first primed spawn: priming, then the spawn */
	char why[200];			/* why the row is missing */
	bool primed;			/* every primed spawn ran on the primed engine */
};

static struct prog_row prog_rows[PROG_MAX];
static int prog_nrows;
static const char *const prog_methods[PROG_METHODS] = { "glibc posix_spawnp", "forkless clone", "forkless primed" };

/* True if NAME is an executable in PATH. */
static bool in_path(const char *name)
{
	const char *path = getenv("PATH");
	char buf[PATH_MAX];

	for (const char *p = path ? path : "/bin:/usr/bin"; *p;) {
		size_t n = strcspn(p, ":");

		snprintf(buf, sizeof(buf), "%.*s/%s", (int)n, p, name);
		if (access(buf, X_OK) == 0)
			return true;
		p += n + (p[n] == ':');
	}
	return false;
}

/* One spawn + wait of ROW's program by METHOD (stdout to /dev/null): the
 * time in us, or -1.  *ENGINE: the engine that ran. */
static double prog_spawn(struct prog_row *row, int method, fl_spec *const *specs,
			 const posix_spawn_file_actions_t *fa, int *engine)
{
	int64_t t0 = now_ns();
	int status = -1;

	if (method == 0) {
		pid_t pid;

		if (posix_spawnp(&pid, row->argv[0], fa, NULL, row->argv, environ) != 0 ||
		    waitpid(pid, &status, 0) < 0)
			return -1;
	} else {
		fl_child child;

		if (fl_spawn(specs[method - 1], &(fl_spawn_args){ .argv = row->argv }, &child, NULL) < 0)
			return -1;
		*engine = child.engine;
		fl_child_wait(&child, &status);
	}
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		return -1;
	return (now_ns() - t0) / 1000.0;
}

static void run_programs(struct bench *b)
{
	static const struct { const char *label, *name, *arg; } progs[PROG_MAX] = {
		{ "/bin/true", "/bin/true", NULL },
		{ "git --version", "git", "--version" },
		{ "clang-14 --version", "clang-14", "--version" },
	};
	posix_spawn_file_actions_t fa;
	int rounds = b->prog_n;

	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
	for (int i = 0; i < PROG_MAX && !stopping; i++) {
		struct prog_row *row = &prog_rows[prog_nrows++];
		fl_spec *specs[2] = { NULL, NULL };
		int engine = -1;

		*row = (struct prog_row){ .label = progs[i].label, .primed = true };
		row->argv[0] = (char *)progs[i].name;
		row->argv[1] = (char *)progs[i].arg;
		if (!in_path(progs[i].name) && access(progs[i].name, X_OK) < 0) {
			snprintf(row->why, sizeof(row->why), "not installed");
			continue;
		}
		for (int k = 0; k < 2; k++) {
			int ret = fl_spec_new(&specs[k]);

			if (ret == 0)
				ret = fl_spec_set_file(specs[k], progs[i].name);
			if (ret == 0)
				ret = fl_spec_set_engine(specs[k], k ? FL_ENGINE_PRIMED : FL_ENGINE_CLONE);
			if (ret == 0)
				ret = fl_act_open(fl_spec_actions(specs[k]), 1, "/dev/null", O_WRONLY, 0, 0);
			if (ret < 0)
				snprintf(row->why, sizeof(row->why), "template: %s", strerror(-ret));
		}
		for (int k = 0; k < PROG_METHODS; k++)
			row->t[k] = calloc((size_t)rounds, sizeof(double));
		if (!row->why[0] && (!row->t[0] || !row->t[1] || !row->t[2]))
			snprintf(row->why, sizeof(row->why), "out of memory");
		if (!row->why[0]) {
			/* The time to prime: the first spawn of a new image. */
			fl_primed_stop();
			row->prime_us = prog_spawn(row, 2, specs, &fa, &engine);
			row->primed &= engine == FL_ENGINE_PRIMED;
		}
		for (int r = 0; r < rounds && !row->why[0] && !stopping; r++) {
			alarm(WATCHDOG_S);
			/* The three take turns being first. */
			for (int j = 0; j < PROG_METHODS; j++) {
				int k = (r + j) % PROG_METHODS;
				double us = prog_spawn(row, k, specs, &fa, &engine);

				if (us < 0) {
					snprintf(row->why, sizeof(row->why), "%s: a spawn failed", prog_methods[k]);
					break;
				}
				row->t[k][r] = us;
				if (k == 2)
					row->primed &= engine == FL_ENGINE_PRIMED;
			}
			row->n = r + 1;
			progress(b, false, "programs (spawn + wait of %s): round %d of %d", row->label, r + 1, rounds);
		}
		fl_spec_free(specs[0]);
		fl_spec_free(specs[1]);
	}
	fl_primed_stop();
	posix_spawn_file_actions_destroy(&fa);
}

/* ROW's minimum and median per method (its samples sorted). */
static void prog_stats(struct prog_row *row, double *min, double *med)
{
	for (int k = 0; k < PROG_METHODS; k++) {
		qsort(row->t[k], (size_t)row->n, sizeof(double), cmp_double);
		min[k] = row->t[k][0];
		med[k] = row->t[k][row->n / 2];
	}
}

static void print_programs(void)
{
	printf("\nprograms: spawn + wait (stdout to /dev/null), min / median us, the methods taking turns;\n"
	       "ratio: primed / glibc; prime: the first primed spawn (the image's start, then the spawn)\n");
	printf("%-19s %19s %19s %19s %13s %8s\n", "", prog_methods[0], prog_methods[1], prog_methods[2],
	       "ratio min/med", "prime");
	for (int i = 0; i < prog_nrows; i++) {
		struct prog_row *row = &prog_rows[i];
		double min[PROG_METHODS], med[PROG_METHODS];

		if (!row->n) {
			printf("%-19s %s\n", row->label, row->why[0] ? row->why : "not measured");
			continue;
		}
		prog_stats(row, min, med);
		printf("%-19s %9.0f / %7.0f %9.0f / %7.0f %9.0f / %7.0f %6.2f / %4.2f %8.0f%s\n", row->label,
		       min[0], med[0], min[1], med[1], min[2], med[2], min[2] / min[0], med[2] / med[0], row->prime_us,
		       row->primed ? "" : "  (fell back: FORKLESS_TRACE says why)");
		if (row->why[0])
			printf("%-19s (stopped: %s)\n", "", row->why);
	}
}

/* ---- setup ------------------------------------------------------------------------------- */

static bool method_wanted(const char *list, const char *id)
{
	size_t len = strlen(id);

	if (!list)
		return true;
	for (const char *p = list; *p;) {
		size_t n = strcspn(p, ",");

		if (n == len && !strncmp(p, id, n))
			return true;
		p += n + (p[n] == ',');
	}
	return false;
}

/* Every name in LIST must be a method; prints the known ones otherwise. */
static bool check_methods(struct bench *b, const char *list)
{
	for (const char *p = list; p && *p;) {
		size_t n = strcspn(p, ",");
		bool found = false;

		for (int i = 0; i < b->nm; i++)
			found |= strlen(b->m[i].id) == n && !strncmp(p, b->m[i].id, n);
		for (int e = FL_ENGINE_AUTO + 1; !found && e < FL_ENGINE_COUNT; e++)
			if (strlen(fl_engine_name(e)) == n && !strncmp(p, fl_engine_name(e), n)) {
				cli_error("bench: the %s engine is not available in this build or on this kernel",
					  fl_engine_name(e));
				return false;
			}
		if (!found) {
			cli_error("bench: no method \"%.*s\"; the methods:", (int)n, p);
			for (int i = 0; i < b->nm; i++)
				fprintf(stderr, "  %-14s %s\n", b->m[i].id, b->m[i].label);
			return false;
		}
		p += n + (p[n] == ',');
	}
	return true;
}

static void add_methods(struct bench *b)
{
	for (size_t i = 0; i < N_REFS; i++)
		b->m[b->nm++] = reference_methods[i];
	for (int e = FL_ENGINE_AUTO + 1; e < FL_ENGINE_COUNT; e++) {
		struct method *m;

		/* The primed engine has its own section (run_programs): the
		 * timed child is static, which it refuses. */
		if (fl_engine_supported(e) != 0 || e == FL_ENGINE_PRIMED)
			continue;
		m = &b->m[b->nm++];
		memset(m, 0, sizeof(*m));
		m->id = fl_engine_name(e);
		snprintf(m->label_buf, sizeof(m->label_buf), "forkless %s", m->id);
		m->label = m->label_buf;
		m->start = start_engine;
		m->engine = e;
		m->group = e == FL_ENGINE_FORK ? 1 : e == FL_ENGINE_POOL ? 2 : e == FL_ENGINE_ZYGOTE ? 3 : 0;
		if (e == FL_ENGINE_CLONE || e == FL_ENGINE_ASYNC) {
			/* What the engine's pidfd (CLONE_PIDFD) costs. */
			b->m[b->nm] = *m;
			m = &b->m[b->nm++];
			m->id = e == FL_ENGINE_CLONE ? "clone-nopidfd" : "async-nopidfd";
			m->label = e == FL_ENGINE_CLONE ? "forkless clone, FL_SPEC_NO_PIDFD" : "forkless async, FL_SPEC_NO_PIDFD";
			m->flags = FL_SPEC_NO_PIDFD;
		}
	}
}

/* firstinsn beside this executable, unless --child names it. */
static bool find_child(const char *given, char *out, size_t len)
{
	char self[PATH_MAX];
	ssize_t n;

	if (given) {
		if (!realpath(given, out))
			return false;
	} else {
		n = readlink("/proc/self/exe", self, sizeof(self) - 1);
		if (n < 0)
			return false;
		self[n] = 0;
		*strrchr(self, '/') = 0;
		if ((size_t)snprintf(out, len, "%s/firstinsn", self) >= len)
			return false;
	}
	return access(out, X_OK) == 0;
}

static bool setup_targets(const char *child)
{
	struct target *t = &targets[T_FIRSTINSN];

	snprintf(t->path, sizeof(t->path), "%s", child);
	snprintf(t->file, sizeof(t->file), "%s", strrchr(child, '/') + 1);
	t->argv[0] = t->path;
	t = &targets[T_TRUE];
	snprintf(t->path, sizeof(t->path), "/bin/true");
	snprintf(t->file, sizeof(t->file), "/bin/true");
	t->argv[0] = t->path;
	return true;
}

/* The temporary directory and the four empty ones in it, removed with rmdir
 * alone, so that the watchdog may call remove_dirs too. */
static char tmp_dir[64];
static char empty_dirs[4][96];

static void remove_dirs(void)
{
	for (int i = 3; i >= 0; i--)
		if (empty_dirs[i][0])
			rmdir(empty_dirs[i]);
	if (tmp_dir[0])
		rmdir(tmp_dir);
}

/*
 * posix_spawnp's PATH: four empty directories, then firstinsn's, so a search
 * pays for four failed execve first (the common case of a program in
 * /usr/bin behind /usr/local/sbin:/usr/local/bin:/usr/sbin).  It is set for
 * the whole run so that every child gets the same environment.
 */
static bool setup_path(struct bench *b)
{
	char path[PATH_MAX * 2];
	const char *old = getenv("PATH");
	int off = 0;

	snprintf(tmp_dir, sizeof(tmp_dir), "/tmp/forkless-bench-XXXXXX");
	if (!mkdtemp(tmp_dir)) {
		tmp_dir[0] = 0;
		return false;
	}
	for (int i = 0; i < 4; i++) {
		snprintf(empty_dirs[i], sizeof(empty_dirs[i]), "%s/empty%d", tmp_dir, i + 1);
		if (mkdir(empty_dirs[i], 0755) < 0) {
			empty_dirs[i][0] = 0;
			return false;
		}
		off += snprintf(path + off, sizeof(path) - off, "%s:", empty_dirs[i]);
	}
	snprintf(path + off, sizeof(path) - off, "%.*s", (int)(strrchr(targets[0].path, '/') - targets[0].path),
		 targets[0].path);
	b->path_set = true;
	b->saved_path = old ? strdup(old) : NULL;
	return setenv("PATH", path, 1) == 0;
}

static void restore_path(struct bench *b)
{
	remove_dirs();
	tmp_dir[0] = 0;
	memset(empty_dirs, 0, sizeof(empty_dirs));
	if (!b->path_set)
		return;
	b->path_set = false;
	if (b->saved_path)
		setenv("PATH", b->saved_path, 1);
	else
		unsetenv("PATH");
	free(b->saved_path);
	b->saved_path = NULL;
}

/* The pipe the children write their time to, its write end at BENCH_FD. */
static bool setup_pipe(struct bench *b)
{
	int fds[2], r, w;

	if (pipe2(fds, O_CLOEXEC) < 0)
		return false;
	r = fds[0];
	w = fds[1];
	if (r == BENCH_FD) {
		r = fcntl(fds[0], F_DUPFD_CLOEXEC, BENCH_FD + 1);
		close(fds[0]);
		if (r < 0)
			return false;
	}
	/* Whatever was at BENCH_FD (a make jobserver, say) gives way; dup2
	 * leaves the new fd without close-on-exec, as the children need it. */
	if (w != BENCH_FD) {
		if (dup2(w, BENCH_FD) < 0)
			return false;
		close(w);
	} else if (fcntl(BENCH_FD, F_SETFD, 0) < 0) {
		return false;
	}
	if (dup_from >= 0) {
		/* --dup2: the write end away from BENCH_FD, close-on-exec;
		 * every method's own dup2 puts it there in the child. */
		dup_from = fcntl(BENCH_FD, F_DUPFD_CLOEXEC, 10);
		if (dup_from < 0 || close(BENCH_FD) < 0 || posix_spawn_file_actions_init(&dup_actions) != 0 ||
		    posix_spawn_file_actions_adddup2(&dup_actions, dup_from, BENCH_FD) != 0 ||
		    fl_posix_spawn_file_actions_init(&fl_dup_actions) != 0 ||
		    fl_posix_spawn_file_actions_adddup2(&fl_dup_actions, dup_from, BENCH_FD) != 0)
			return false;
	}
	b->pipe_r = r;
	/* Read only after the child has exited: never block on a child that
	 * wrote nothing. */
	return fcntl(b->pipe_r, F_SETFL, O_NONBLOCK) == 0;
}

static bool setup_specs(struct bench *b)
{
	for (int i = 0; i < b->nm; i++) {
		struct method *m = &b->m[i];

		if (!m->on || !m->engine)
			continue;
		for (int t = 0; t < T_COUNT; t++) {
			int ret = fl_spec_new(&m->spec[t]);

			if (ret == 0)
				ret = fl_spec_set_path(m->spec[t], targets[t].path);
			if (ret == 0)
				ret = fl_spec_set_argv(m->spec[t], targets[t].argv);
			if (ret == 0)
				ret = fl_spec_set_engine(m->spec[t], m->engine);
			if (ret == 0)
				ret = fl_spec_set_flags(m->spec[t], m->flags);
			if (ret == 0 && t == T_FIRSTINSN && dup_from >= 0)
				ret = fl_act_dup2(fl_spec_actions(m->spec[t]), dup_from, BENCH_FD, 0) < 0 ? -ENOMEM : 0;
			if (ret < 0) {
				cli_error("bench: template for %s: %s", m->id, strerror(-ret));
				return false;
			}
		}
	}
	return true;
}

/* ^C once: finish the round and print nothing.  Twice: at once (a spawn
 * that does not come back would otherwise keep the command forever). */
static void on_signal(int sig)
{
	if (stopping) {
		signal(sig, SIG_DFL);
		raise(sig);
	}
	stopping = 1;
}

/* The watchdog: a round (or a state's preparation) that takes over
 * WATCHDOG_S seconds means a spawn that never came back, a bug in the method
 * named; say so and stop rather than hang `make bench` or a test. */
static void on_watchdog(int sig)
{
	const char *m = current_method ? current_method : "(setup)";
	static const char a[] = "forkless bench: ", z[] = ": a spawn has not come back in "
		STR(WATCHDOG_S) " s; giving up\n";

	(void)sig;
	remove_dirs();
	if (write(2, a, sizeof(a) - 1) < 0 || write(2, m, strlen(m)) < 0 || write(2, z, sizeof(z) - 1) < 0)
		_exit(2);
	_exit(2);
}

/* ---- output ------------------------------------------------------------------------------ */

static struct method *find(struct bench *b, const char *id)
{
	for (int i = 0; i < b->nm; i++)
		if (b->m[i].on && !strcmp(b->m[i].id, id))
			return &b->m[i];
	return NULL;
}

static int state_index(struct bench *b, const char *id)
{
	for (int s = 0; s < b->ns; s++)
		if (!strcmp(b->states[s].id, id))
			return s;
	return -1;
}

static const struct cell *cell_of(struct bench *b, const char *method, const char *state)
{
	struct method *m = find(b, method);
	int s = state_index(b, state);

	if (!m || s < 0 || !m->cell[s].ran || m->cell[s].error || !m->cell[s].n)
		return NULL;
	return &m->cell[s];
}

/* A ratio with a target (issue 10's), or one printed for information (TARGET 0). */
struct ratio {
	char name[96];
	double value, target;
	int issue;
	bool pair;		/* one of pairs[], which the text prints as a table */
};

static int add_ratio(struct ratio *r, int n, int issue, double target, double value, const char *fmt, ...)
	__attribute__((format(printf, 6, 7)));

static int add_ratio(struct ratio *r, int n, int issue, double target, double value, const char *fmt, ...)
{
	va_list ap;

	if (!isfinite(value))
		return n;
	va_start(ap, fmt);
	vsnprintf(r[n].name, sizeof(r[n].name), fmt, ap);
	va_end(ap);
	r[n].value = value;
	r[n].target = target;
	r[n].issue = issue;
	r[n].pair = false;
	return n + 1;
}

/* Latency (or blocked, if BLOCKED) median (or minimum, if MIN) of A over B. */
static double ratio_of(struct bench *b, const char *x, const char *y, const char *sx, const char *sy, bool blocked,
		       bool min)
{
	const struct cell *a = cell_of(b, x, sx), *c = cell_of(b, y, sy);

	if (!a || !c)
		return NAN;
	if (min)
		return blocked ? a->blk_min / c->blk_min : a->lat_min / c->lat_min;
	return blocked ? a->blk_med / c->blk_med : a->lat_med / c->lat_med;
}

static double search_cost(struct bench *b, const char *spawnp, const char *spawn)
{
	const struct cell *p = cell_of(b, spawnp, "base"), *s = cell_of(b, spawn, "base");

	return p && s ? p->lat_med - s->lat_med : NAN;
}

/*
 * Each engine over the raw method it is built on, measured in the same run:
 * what forkless itself adds.  The targets are issue 10's (the clone engine
 * within 3 % of a raw clone3 vfork; the async engine's blocked time within
 * 15 % of a raw afork's, its latency within 5 %), at the minimum and the
 * median both; the other pairs inform.
 */
static const struct pair {
	const char *x, *y;
	double lat_target, blk_target;
} pairs[] = {
	{ "clone", "raw-clone3", 1.03, 1.03 },
	{ "async", "raw-afork", 1.05, 1.15 },
	{ "clone-nopidfd", "raw-clone3", 1.03, 1.03 },
	{ "async-nopidfd", "raw-afork", 1.05, 1.15 },
	{ "fl-spawn", "raw-clone3", 0, 0 },	/* posix_spawn via forkless: the clone engine */
	{ "fl-spawn", "clone", 0, 0 },
	{ "glibc-spawn", "raw-clone3", 0, 0 },
	{ "vfork", "raw-vfork", 0, 0 },
	{ "posix", "glibc-spawn", 0, 0 },
	{ "pool", "clone", 0, 0 },
	{ "zygote", "clone", 0, 0 },
};

static int ratios(struct bench *b, struct ratio *r)
{
	static const char *const what[4] = { "latency min", "latency median", "blocked min", "blocked median" };
	int n = 0;

	for (size_t i = 0; i < sizeof(pairs) / sizeof(pairs[0]); i++)
		for (int k = 0; k < 4; k++) {
			double target = k < 2 ? pairs[i].lat_target : pairs[i].blk_target;

			int before = n;

			n = add_ratio(r, n, target > 0 ? 10 : 0, target,
				      ratio_of(b, pairs[i].x, pairs[i].y, "base", "base", k >= 2, k % 2 == 0),
				      "%s / %s: %s", pairs[i].x, pairs[i].y, what[k]);
			if (n > before)
				r[before].pair = true;
		}
	/* What posix_spawnp's PATH search costs: a difference of medians, in µs. */
	n = add_ratio(r, n, 0, 0, search_cost(b, "glibc-spawnp", "glibc-spawn"),
		      "glibc posix_spawnp search cost, µs (spawnp - spawn)");
	n = add_ratio(r, n, 0, 0, search_cost(b, "fl-spawnp", "fl-spawn"),
		      "forkless posix_spawnp search cost, µs (spawnp - spawn)");
	for (int i = 0, t = state_index(b, "touched"); t >= 0 && i < b->nm; i++) {
		struct method *m = &b->m[i];

		if (m->on)
			n = add_ratio(r, n, 0, 0, ratio_of(b, m->id, m->id, "touched", "base", false, false),
				      "%s latency median: %s / base", m->id, b->states[t].label);
	}
	return n;
}

/* The pairs as a table: both ratios of latency and of blocked time. */
static void print_pairs(struct bench *b)
{
	bool header = false;

	for (size_t i = 0; i < sizeof(pairs) / sizeof(pairs[0]); i++) {
		const struct pair *pr = &pairs[i];
		char label[64];
		double v[4];
		bool any = false, met = true;

		for (int k = 0; k < 4; k++) {
			v[k] = ratio_of(b, pr->x, pr->y, "base", "base", k >= 2, k % 2 == 0);
			any |= isfinite(v[k]);
			if (isfinite(v[k]))
				met &= v[k] <= (k < 2 ? pr->lat_target : pr->blk_target);
		}
		if (!any)
			continue;
		if (!header) {
			printf("\neach engine over the method it is built on, same run, base state (min / median):\n");
			printf("%-30s | %-15s | %-15s | %s\n", "", "latency", "blocked", "issue 10 target");
			header = true;
		}
		snprintf(label, sizeof(label), "%s / %s", pr->x, pr->y);
		printf("%-30s | %6.3f / %6.3f | %6.3f / %6.3f", label, v[0], v[1], v[2], v[3]);
		if (pr->lat_target > 0)
			printf(" | <= %.2f / %.2f: %s", pr->lat_target, pr->blk_target, met ? "met" : "MISSED");
		printf("\n");
	}
}

static void print_us(double v)
{
	if (!isfinite(v))
		printf("%7s", "-");
	else if (v < 100)
		printf("%7.1f", v);
	else
		printf("%7.0f", v);
}

static void print_table(struct bench *b, bool blocked)
{
	printf("%s (µs, min / median):\n", blocked ? "time the calling thread was blocked in the spawn call"
						  : "latency from the spawn call to the child's first instruction");
	printf("%-*s", LABEL_W, "method");
	for (int s = 0; s < b->ns; s++)
		printf(" | %-17s", b->states[s].label);
	printf("\n%-*s", LABEL_W, "");
	for (int s = 0; s < b->ns; s++)
		printf(" | %7s / %-7s", "min", "median");
	printf("\n");
	for (int i = 0; i < b->nm; i++) {
		struct method *m = &b->m[i];

		if (!m->on)
			continue;
		printf("%-*s", LABEL_W, m->label);
		for (int s = 0; s < b->ns; s++) {
			const struct cell *c = &m->cell[s];

			printf(" | ");
			if (c->error || !c->n) {
				printf("%-17s", c->error ? "failed" : "no samples");
				continue;
			}
			print_us(blocked ? c->blk_min : c->lat_min);
			printf(" / ");
			print_us(blocked ? c->blk_med : c->lat_med);
			printf("%s", c->n < b->iterations ? "*" : "");
		}
		printf("\n");
	}
}

static void print_text(struct bench *b)
{
	struct ratio r[64];
	int nr = ratios(b, r);
	bool any_failed = false;

	if (b->do_main) {
		print_table(b, false);
		printf("\n");
		print_table(b, true);
		for (int i = 0; i < b->nm; i++)
			for (int s = 0; s < b->ns; s++) {
				const struct cell *c = &b->m[i].cell[s];

				if (!b->m[i].on || !c->ran)
					continue;
				if (c->error) {
					if (!any_failed)
						printf("\nfailures:\n");
					any_failed = true;
					printf("  %s, %s: %s\n", b->m[i].id, b->states[s].label, c->why);
				} else if (c->n < b->iterations) {
					printf("* %s, %s: %d iterations, not %d: each took ~%.1f ms, so it was kept to "
					       "~%.1f s, spread over the same rounds\n",
					       b->m[i].id, b->states[s].label, c->n, b->iterations, c->iter_us / 1000,
					       b->budget_us / 1e6);
				}
			}
	}
	if (b->do_tput) {
		printf("%sthroughput: spawn + wait of /bin/true, %d per method\n", b->do_main ? "\n" : "", b->tput_n);
		printf("%-*s | %10s | %9s\n", LABEL_W, "method", "spawns/s", "mean µs");
		for (int i = 0; i < b->nm; i++) {
			struct method *m = &b->m[i];

			if (!m->on)
				continue;
			if (m->tput.error || !m->tput.n)
				printf("%-*s | failed: %s\n", LABEL_W, m->label, m->tput.why);
			else
				printf("%-*s | %10.0f | %9.0f\n", LABEL_W, m->label, m->tput.n / (m->tput.total_us / 1e6),
				       m->tput.total_us / m->tput.n);
		}
	}
	if (b->do_tput && batch_nrows) {
		printf("\nbatch: %d children of /bin/true started from one thread, then all reaped (median of %d rounds)\n",
		       BATCH_N, BATCH_ROUNDS);
		printf("%-*s | %12s | %14s | %13s\n", LABEL_W, "method", "start all ms", "all reaped ms",
		       "µs per child");
		for (int i = 0; i < batch_nrows; i++)
			if (batch_rows[i].why[0])
				printf("%-*s | failed: %s\n", LABEL_W, batch_rows[i].label, batch_rows[i].why);
			else
				printf("%-*s | %12.1f | %14.1f | %13.0f\n", LABEL_W, batch_rows[i].label,
				       batch_rows[i].start_ms, batch_rows[i].total_ms,
				       batch_rows[i].total_ms * 1000 / BATCH_N);
	}
	print_pairs(b);
	for (int i = 0, header = 0; i < nr; i++) {
		if (r[i].pair)
			continue;
		if (!header++)
			printf("\nmore from this run (medians; µs where named):\n");
		printf("  %-56s %7.2f\n", r[i].name, r[i].value);
	}
}

static void json_number(double v)
{
	if (isfinite(v))
		printf("%.3f", v);
	else
		printf("null");
}

static void json_cell(const struct cell *c)
{
	if (c->error || !c->n) {
		printf("{\"error\": ");
		json_string(stdout, c->error ? c->why : "no samples");
		printf("}");
		return;
	}
	printf("{\"n\": %d, \"latency_us\": {\"min\": ", c->n);
	json_number(c->lat_min);
	printf(", \"median\": ");
	json_number(c->lat_med);
	printf("}, \"blocked_us\": {\"min\": ");
	json_number(c->blk_min);
	printf(", \"median\": ");
	json_number(c->blk_med);
	printf("}}");
}

static void print_json(struct bench *b, const char *machine)
{
	struct ratio r[64];
	int nr = ratios(b, r), first;

	printf("{\n  \"tool\": \"forkless bench\",\n  \"version\": \"%d.%d\",\n  \"machine\": ",
	       FL_VERSION_MAJOR, FL_VERSION_MINOR);
	json_string(stdout, machine);
	printf(",\n  \"child\": ");
	json_string(stdout, targets[T_FIRSTINSN].path);
	printf(",\n  \"iterations\": %d,\n  \"memory_mib\": %ld,\n  \"states\": [", b->do_main ? b->iterations : 0,
	       b->memory_mib);
	for (int s = 0; b->do_main && s < b->ns; s++) {
		printf("%s", s ? ", " : "");
		json_string(stdout, b->states[s].id);
	}
	printf("],\n  \"methods\": [");
	first = 1;
	for (int i = 0; i < b->nm; i++) {
		struct method *m = &b->m[i];

		if (!m->on)
			continue;
		printf("%s\n    {\"id\": ", first ? "" : ",");
		first = 0;
		json_string(stdout, m->id);
		printf(", \"label\": ");
		json_string(stdout, m->label);
		printf(", \"engine\": ");
		if (m->engine)
			json_string(stdout, fl_engine_name(m->engine));
		else
			printf("null");
		printf(",\n     \"results\": {");
		for (int s = 0; b->do_main && s < b->ns; s++) {
			printf("%s", s ? ", " : "");
			json_string(stdout, b->states[s].id);
			printf(": ");
			json_cell(&m->cell[s]);
		}
		printf("}");
		if (b->do_tput) {
			printf(",\n     \"throughput\": ");
			if (m->tput.error || !m->tput.n) {
				printf("{\"error\": ");
				json_string(stdout, m->tput.why);
				printf("}");
			} else {
				printf("{\"n\": %d, \"spawns_per_s\": ", m->tput.n);
				json_number(m->tput.n / (m->tput.total_us / 1e6));
				printf(", \"mean_us\": ");
				json_number(m->tput.total_us / m->tput.n);
				printf("}");
			}
		}
		if (b->plot) {
			printf(",\n     \"sweep_median_latency_us\": [");
			for (int s = 0; s < b->nsweep; s++) {
				printf("%s", s ? ", " : "");
				json_number(m->sweep[s].error || !m->sweep[s].n ? NAN : m->sweep[s].lat_med);
			}
			printf("]");
		}
		printf("}");
	}
	printf("\n  ],\n");
	if (b->plot) {
		printf("  \"sweep_memory_mib\": [");
		for (int s = 0; s < b->nsweep; s++)
			printf("%s%zu", s ? ", " : "", b->sweep[s].bytes >> 20);
		printf("],\n");
	}
	printf("  \"ratios\": [");
	for (int i = 0; i < nr; i++) {
		printf("%s\n    {\"name\": ", i ? "," : "");
		json_string(stdout, r[i].name);
		printf(", \"value\": ");
		json_number(r[i].value);
		if (r[i].target > 0)
			printf(", \"issue\": %d, \"target\": %.2f, \"met\": %s", r[i].issue, r[i].target,
			       r[i].value <= r[i].target ? "true" : "false");
		printf("}");
	}
	printf("\n  ],\n  \"batch\": [");
	for (int i = 0; i < batch_nrows; i++) {
		printf("%s\n    {\"label\": ", i ? "," : "");
		json_string(stdout, batch_rows[i].label);
		printf(", \"children\": %d, \"start_ms\": ", BATCH_N);
		json_number(batch_rows[i].why[0] ? NAN : batch_rows[i].start_ms);
		printf(", \"total_ms\": ");
		json_number(batch_rows[i].why[0] ? NAN : batch_rows[i].total_ms);
		printf("}");
	}
	printf("\n  ],\n  \"programs\": [");
	for (int i = 0; i < prog_nrows; i++) {
		struct prog_row *row = &prog_rows[i];
		double min[PROG_METHODS], med[PROG_METHODS];

		printf("%s\n    {\"label\": ", i ? "," : "");
		json_string(stdout, row->label);
		if (!row->n) {
			printf(", \"error\": ");
			json_string(stdout, row->why[0] ? row->why : "not measured");
			printf("}");
			continue;
		}
		prog_stats(row, min, med);
		printf(", \"rounds\": %d", row->n);
		for (int k = 0; k < PROG_METHODS; k++) {
			printf(", \"%s_us\": [", k == 0 ? "glibc" : k == 1 ? "clone" : "primed");
			json_number(min[k]);
			printf(", ");
			json_number(med[k]);
			printf("]");
		}
		printf(", \"primed_over_glibc\": [");
		json_number(min[2] / min[0]);
		printf(", ");
		json_number(med[2] / med[0]);
		printf("], \"prime_us\": ");
		json_number(row->prime_us);
		printf(", \"all_primed\": %s}", row->primed ? "true" : "false");
	}
	printf("\n  ],\n  \"seconds\": %.1f\n}\n", b->total_s);
}

/* ---- the plot -------------------------------------------------------------------------------- */

/* Writes BASE.dat and BASE.gp, and draws FILE with gnuplot where installed. */
static void plot(struct bench *b)
{
	char base[PATH_MAX], dat[PATH_MAX + 8], gp[PATH_MAX + 8];
	const char *dot = strrchr(b->plot, '.');
	size_t len = dot && !strcmp(dot, ".png") ? (size_t)(dot - b->plot) : strlen(b->plot);
	FILE *f;
	fl_spec *spec = NULL;
	fl_child child;
	fl_report rep;
	int col = 1, ret, status;

	snprintf(base, sizeof(base), "%.*s", (int)len, b->plot);
	snprintf(dat, sizeof(dat), "%s.dat", base);
	snprintf(gp, sizeof(gp), "%s.gp", base);
	f = fopen(dat, "we");
	if (!f) {
		cli_error("bench: %s: %s", dat, strerror(errno));
		return;
	}
	fprintf(f, "MiB");
	for (int i = 0; i < b->nm; i++)
		if (b->m[i].on)
			fprintf(f, "\t%s", b->m[i].id), col++;
	fprintf(f, "\n");
	for (int s = 0; s < b->nsweep; s++) {
		fprintf(f, "%zu", b->sweep[s].bytes >> 20);
		for (int i = 0; i < b->nm; i++) {
			const struct cell *c = &b->m[i].sweep[s];

			if (!b->m[i].on)
				continue;
			if (c->error || !c->n)
				fprintf(f, "\tNaN");
			else
				fprintf(f, "\t%.1f", c->lat_med);
		}
		fprintf(f, "\n");
	}
	fclose(f);
	f = fopen(gp, "we");
	if (!f) {
		cli_error("bench: %s: %s", gp, strerror(errno));
		return;
	}
	fprintf(f,
		"# forkless bench --plot: median latency to the child's first instruction\n"
		"# against the memory the parent has touched.  Data: %s\n"
		"set terminal png size 1000,640\n"
		"set output '%s'\n"
		"set datafile separator '\\t'\n"
		"set title \"forkless bench: spawn latency against parent memory (median of %d)\"\n"
		"set xlabel 'memory the parent has touched (MiB)'\n"
		"set ylabel 'latency to the first instruction (us, log scale)'\n"
		"set logscale y\n"
		"set grid\n"
		"set key outside right\n"
		"plot for [i=2:%d] '%s' using 1:i with linespoints title columnheader(i)\n",
		dat, b->plot, b->plot_iterations, col, dat);
	fclose(f);

	/* gnuplot, started the forkless way. */
	ret = fl_spec_new(&spec);
	if (ret == 0)
		ret = fl_spec_set_file(spec, "gnuplot");
	if (ret == -ENOENT || ret == -EACCES) {
		fprintf(b->json ? stderr : stdout,
			"\ngnuplot is not installed: the data is in %s and the script in %s.\n"
			"To draw %s: apt-get install gnuplot-nox, then gnuplot %s\n",
			dat, gp, b->plot, gp);
		fl_spec_free(spec);
		return;
	}
	if (ret == 0)
		ret = fl_spec_set_argv(spec, (char *[]){ (char *)"gnuplot", gp, NULL });
	if (ret == 0)
		ret = fl_spawn(spec, NULL, &child, &rep);
	if (ret == 0)
		ret = fl_child_wait_exec(&child, &rep);
	if (ret == 0) {
		ret = fl_child_wait(&child, &status);
		if (ret == 0 && status != 0) {
			cli_error("bench: gnuplot %s failed (status 0x%x); the data is in %s", gp, status, dat);
		} else if (ret == 0) {
			fprintf(b->json ? stderr : stdout, "\nplot: %s (data %s, script %s)\n", b->plot, dat, gp);
		}
	} else {
		char msg[512];

		fl_report_format(spec, NULL, &rep, msg, sizeof(msg));
		cli_error("bench: %s", msg);
	}
	fl_spec_free(spec);
}

/* ---- the command -------------------------------------------------------------------------- */

void usage_bench(FILE *out)
{
	fprintf(out,
		"usage: forkless bench [OPTIONS]\n"
		"\n"
		"Times process creation the io_uring_spawn talk's way: from the start of the\n"
		"spawn call to the first instruction of a tiny static child (firstinsn), and\n"
		"the time the calling thread is blocked; minimum and median.  Every forkless\n"
		"engine beside glibc posix_spawn, posix_spawnp (found in the 5th PATH entry),\n"
		"a raw vfork+execve, a raw clone3 vfork and a raw clone3 afork (no VFORK),\n"
		"interleaved in one run, with the parent as it is, with 1 GiB mapped and with\n"
		"1 GiB touched.  Then spawn + wait of /bin/true (throughput), a batch of 1000,\n"
		"and each engine over the raw method it is built on.\n"
		"\n"
		"  --iterations N      samples per method and state (default 2000; fork with\n"
		"                      much memory gets fewer, kept to a time budget)\n"
		"  --quick             a short run (100 iterations, 30 for throughput)\n"
		"  --methods A,B,...   only these (ids: glibc-spawn, glibc-spawnp, fl-spawn,\n"
		"                      fl-spawnp, raw-vfork, raw-clone3, raw-afork, the\n"
		"                      engine names, and clone-nopidfd and async-nopidfd:\n"
		"                      those engines with FL_SPEC_NO_PIDFD)\n"
		"  --states S,...      only these of base, mapped, touched\n"
		"  --memory MIB        the memory of the mapped and touched states (default 1024)\n"
		"  --throughput        only the throughput test (N from --iterations, default 300)\n"
		"  --no-throughput     skip it\n"
		"  --programs          only spawn + wait of real programs: /bin/true, git --version,\n"
		"                      clang-14 --version where installed, by glibc posix_spawnp, the\n"
		"                      clone engine and the primed engine, and the time to prime\n"
		"                      (N from --iterations, default 50)\n"
		"  --no-programs       skip it\n"
		"  --plot FILE.png     also measure the parent with 0, 1/4, 1/2 and all of --memory\n"
		"                      touched and plot the median latency with gnuplot (FILE.dat\n"
		"                      and FILE.gp are kept, to redraw it)\n"
		"  --child PATH        the timed child (default: firstinsn beside this program)\n"
		"  --json              print the results as JSON\n"
		"  --dup2              every method puts the time pipe at fd %d with a dup2 step of\n"
		"                      its own (the engines: an fl_act_dup2 in the template)\n"
		"  --glibc DIR         run the glibc rows under another glibc: DIR holds its\n"
		"                      ld-linux-x86-64.so.2 (or ld-linux-aarch64.so.1) and its\n"
		"                      libc.so.6 (and libm.so.6); this program runs again as a\n"
		"                      helper under that loader with --library-path DIR\n"
		"\n"
		"The child writes its time to fd %d, which stays open across the spawn.  Figures\n"
		"from one run only compare with each other: the machines are shared and noisy.\n",
		BENCH_FD, BENCH_FD);
}

int cmd_bench(int argc, char **argv)
{
	enum { OPT_ITER = 256, OPT_QUICK, OPT_METHODS, OPT_STATES, OPT_MEMORY, OPT_TPUT, OPT_NOTPUT, OPT_PLOT, OPT_CHILD, OPT_JSON,
	       OPT_DUP2, OPT_GLIBC, OPT_PROGS, OPT_NOPROGS };
	static const struct option opts[] = {
		{ "iterations", required_argument, NULL, OPT_ITER },
		{ "quick", no_argument, NULL, OPT_QUICK },
		{ "methods", required_argument, NULL, OPT_METHODS },
		{ "states", required_argument, NULL, OPT_STATES },
		{ "memory", required_argument, NULL, OPT_MEMORY },
		{ "throughput", no_argument, NULL, OPT_TPUT },
		{ "no-throughput", no_argument, NULL, OPT_NOTPUT },
		{ "programs", no_argument, NULL, OPT_PROGS },
		{ "no-programs", no_argument, NULL, OPT_NOPROGS },
		{ "plot", required_argument, NULL, OPT_PLOT },
		{ "child", required_argument, NULL, OPT_CHILD },
		{ "json", no_argument, NULL, OPT_JSON },
		{ "dup2", no_argument, NULL, OPT_DUP2 },
		{ "glibc", required_argument, NULL, OPT_GLIBC },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	static struct bench bench;
	struct bench *b = &bench;
	const char *methods = NULL, *states = "base,mapped,touched", *child = NULL, *glibc_dir = NULL;
	char child_path[PATH_MAX], machine[512];
	long iterations = -1, n;
	bool tput_only = false, no_tput = false, progs_only = false, no_progs = false;
	int c, status = 0;

	/* The --glibc helper, started by a bench under another glibc. */
	if (argc == 6 && !strcmp(argv[1], "--glibc-helper"))
		return glibc_helper_main(argv + 2);
	b->memory_mib = 1024;
	optind = 1;
	while ((c = getopt_long(argc, argv, "+h", opts, NULL)) != -1) {
		switch (c) {
		case OPT_ITER:
			if (!cli_parse_long(optarg, 1, 10000000, &iterations)) {
				cli_error("bench: --iterations %s: not a positive number", optarg);
				return CLI_EXIT_USAGE;
			}
			break;
		case OPT_QUICK:
			b->quick = true;
			break;
		case OPT_METHODS:
			methods = optarg;
			break;
		case OPT_STATES:
			states = optarg;
			break;
		case OPT_MEMORY:
			if (!cli_parse_long(optarg, 1, 1L << 20, &n)) {
				cli_error("bench: --memory %s: not a size in MiB", optarg);
				return CLI_EXIT_USAGE;
			}
			b->memory_mib = n;
			break;
		case OPT_TPUT:
			tput_only = true;
			break;
		case OPT_NOTPUT:
			no_tput = true;
			break;
		case OPT_PROGS:
			progs_only = true;
			break;
		case OPT_NOPROGS:
			no_progs = true;
			break;
		case OPT_PLOT:
			b->plot = optarg;
			break;
		case OPT_CHILD:
			child = optarg;
			break;
		case OPT_JSON:
			b->json = true;
			break;
		case OPT_DUP2:
			dup_from = BENCH_FD;	/* moved by setup_pipe */
			break;
		case OPT_GLIBC:
			glibc_dir = optarg;
			break;
		case 'h':
			usage_bench(stdout);
			return 0;
		default:
			usage_bench(stderr);
			return CLI_EXIT_USAGE;
		}
	}
	if (optind < argc) {
		cli_error("bench: unexpected argument \"%s\"", argv[optind]);
		return CLI_EXIT_USAGE;
	}
	if (tput_only && no_tput) {
		cli_error("bench: --throughput and --no-throughput together");
		return CLI_EXIT_USAGE;
	}
	if (progs_only && (no_progs || tput_only)) {
		cli_error("bench: --programs with --no-programs or --throughput");
		return CLI_EXIT_USAGE;
	}
	b->do_main = !tput_only && !progs_only;
	b->do_tput = !no_tput && !progs_only;
	b->do_progs = !no_progs && !tput_only;
	b->prog_n = progs_only && iterations > 0 ? (int)iterations : b->quick ? 10 : 50;
	b->iterations = iterations > 0 && !tput_only ? (int)iterations : b->quick ? 100 : 2000;
	b->tput_n = tput_only && iterations > 0 ? (int)iterations : b->quick ? 30 : 300;
	/* A slow cell (fork with 1 GiB touched) gets about 5 s: ~250 of its
	 * ~20 ms iterations here, enough for a stable median. */
	b->budget_us = b->quick ? 0.5e6 : 5e6;
	b->plot_iterations = b->quick ? 30 : b->iterations < 300 ? b->iterations : 300;
	b->tty = isatty(2);

	/* The states. */
	for (const char *p = states; *p;) {
		size_t len = strcspn(p, ",");
		struct state *st = &b->states[b->ns];

		if (b->ns == 3) {
			cli_error("bench: --states: at most base, mapped, touched");
			return CLI_EXIT_USAGE;
		}
		if (len == 4 && !strncmp(p, "base", 4))
			*st = (struct state){ .id = "base" }, snprintf(st->label, sizeof(st->label), "base");
		else if (len == 6 && !strncmp(p, "mapped", 6))
			*st = (struct state){ .id = "mapped", .bytes = (size_t)b->memory_mib << 20 };
		else if (len == 7 && !strncmp(p, "touched", 7))
			*st = (struct state){ .id = "touched", .bytes = (size_t)b->memory_mib << 20, .touch = true };
		else {
			cli_error("bench: --states: \"%.*s\" is none of base, mapped, touched", (int)len, p);
			return CLI_EXIT_USAGE;
		}
		if (st->bytes && b->memory_mib % 1024 == 0)
			snprintf(st->label, sizeof(st->label), "%ld GiB %s", b->memory_mib / 1024, st->id);
		else if (st->bytes)
			snprintf(st->label, sizeof(st->label), "%ld MiB %s", b->memory_mib, st->id);
		b->ns++;
		p += len + (p[len] == ',');
	}
	if (!b->ns && b->do_main) {
		cli_error("bench: --states: none given");
		return CLI_EXIT_USAGE;
	}
	if (b->plot) {
		/* 0, 256, 512 and 1024 MiB by default: quarters of --memory. */
		static const int quarters[] = { 0, 1, 2, 4 };

		for (int s = 0; s < 4; s++) {
			struct state *st = &b->sweep[s];
			long mib = b->memory_mib * quarters[s] / 4;

			*st = (struct state){ .id = "sweep", .bytes = (size_t)mib << 20, .touch = true };
			snprintf(st->label, sizeof(st->label), "plot: %ld MiB touched", mib);
		}
		b->nsweep = 4;
	}

	/* The methods. */
	add_methods(b);
	if (methods && !check_methods(b, methods))
		return CLI_EXIT_USAGE;
	for (int i = 0; i < b->nm; i++)
		b->m[i].on = method_wanted(methods, b->m[i].id);

	if (!find_child(child, child_path, sizeof(child_path))) {
		cli_error("bench: the timed child %s is missing or not executable (make builds build/firstinsn)",
			  child ? child : "firstinsn");
		return 1;
	}
	setup_targets(child_path);
	if (!setup_pipe(b) || !setup_specs(b)) {
		cli_error("bench: setup: %s", strerror(errno));
		return 1;
	}
	if (!setup_path(b)) {
		cli_error("bench: the PATH directories for posix_spawnp: %s", strerror(errno));
		restore_path(b);
		return 1;
	}
	if (glibc_dir) {
		char why[PATH_MAX + 200];

		if (!glibc_helper_start(glibc_dir, why, sizeof(why))) {
			cli_error("bench: --glibc %s: %s", glibc_dir, why);
			glibc_helper_stop();
			restore_path(b);
			return 1;
		}
	}
	/* The glibc rows name the glibc they run on. */
	for (int i = 0; i < b->nm; i++)
		if (is_glibc(&b->m[i])) {
			snprintf(b->m[i].label_buf, sizeof(b->m[i].label_buf), "glibc %s%s",
				 helper.on ? helper.version : gnu_get_libc_version(), b->m[i].label + strlen("glibc"));
			b->m[i].label = b->m[i].label_buf;
		}
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	signal(SIGALRM, on_watchdog);
	cli_machine(machine, sizeof(machine));

	b->started = now_ns();
	if (!b->json) {
		printf("forkless bench %d.%d on %s\n", FL_VERSION_MAJOR, FL_VERSION_MINOR, machine);
		if (b->do_main)
			printf("latency: spawn call to the first instruction of the child %s;\n"
			       "blocked: the spawn call's own duration.  %d iterations per cell; methods interleaved\n"
			       "in a shuffled order each round; fork, pool and zygote each alone after them (each leaves\n"
			       "work behind that would tax the next spawn)%s; parent memory with 4 KiB pages.\n",
			       child_path, b->iterations, b->iterations >= 400 ? "; states in 4 passes that take turns" : "");
		if (helper.on)
			printf("glibc rows: glibc %s from %s (its loader and libc, in a helper process); this program's own: %s.\n",
			       helper.version, glibc_dir, gnu_get_libc_version());
		if (dup_from >= 0)
			printf("--dup2: every method puts the time pipe at fd %d with a dup2 step of its own.\n", BENCH_FD);
		printf("command: forkless");
		for (int i = 0; i < argc; i++)
			printf(" %s", argv[i]);
		printf("\n\n");
		fflush(stdout);
	}
	if (b->do_main)
		run_states(b, b->states, b->ns, b->iterations, false);
	if (b->do_tput && !stopping) {
		run_throughput(b);
		if (!stopping)
			run_batch(b);
	}
	if (b->nsweep && !stopping)
		run_states(b, b->sweep, b->nsweep, b->plot_iterations, true);
	/* With the caller's PATH back: the programs are found in it. */
	restore_path(b);
	if (b->do_progs && !stopping)
		run_programs(b);
	alarm(0);
	progress_done(b);
	glibc_helper_stop();
	b->total_s = (now_ns() - b->started) / 1e9;
	if (stopping) {
		cli_error("bench: interrupted");
		status = 130;
	} else if (b->json) {
		print_json(b, machine);
	} else {
		print_text(b);
		if (b->do_progs)
			print_programs();
		printf("\ntotal time: %.*f s\n", b->total_s < 10 ? 1 : 0, b->total_s);
	}
	if (b->plot && !stopping)
		plot(b);
	/* A method that failed somewhere fails the command, for scripts and tests. */
	for (int i = 0; i < b->nm && !status; i++) {
		for (int s = 0; b->do_main && s < b->ns; s++)
			if (b->m[i].on && b->m[i].cell[s].error)
				status = 1;
		if (b->m[i].on && b->do_tput && b->m[i].tput.error)
			status = 1;
	}
	for (int i = 0; i < b->nm; i++)
		for (int t = 0; t < T_COUNT; t++)
			fl_spec_free(b->m[i].spec[t]);
	return status;
}
