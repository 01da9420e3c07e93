// SPDX-License-Identifier: MIT
/*
 * Many threads spawning through the posix_spawn ABI while others churn
 * memory and fds and signals fly (issue 8's scenario), under every engine.
 *
 * Each engine runs in a process of its own (a runner: this program
 * re-executed with "run"), twice: calling fl_posix_spawn with the engine set
 * on the attribute, and calling glibc's posix_spawn with LD_PRELOAD naming
 * the preload shim and FORKLESS_ENGINE the engine.  The runner makes its own
 * process group, so its signal storm reaches only itself, its children and
 * the engine's helpers; it prints one summary line, from which this process
 * writes the TAP lines, and a runner that crashes or hangs is a failed check
 * rather than a lost test.
 *
 * The primed engine refuses a static program, so its runners spawn
 * helper-fds-dyn, the same helper dynamically linked, and check that the
 * primed engine made every child rather than handing it to the clone engine:
 * by the engine libforkless records per spawn (fl_posix_spawn), by
 * FORKLESS_TRACE's lines (the shim), and no refusal traced.
 *
 * In a runner: FL_STRESS_THREADS threads (4) each spawn FL_STRESS_SPAWNS
 * times (40) tests/helper-fds with POSIX_SPAWN_SETSIGMASK = {SIGUSR1,
 * SIGUSR2}, a dup2 of a pipe onto fd 1 and addclosefrom_np(3); 4 threads
 * malloc/free and open/close two files, one always with O_CLOEXEC, the other
 * never; a thread sends SIGUSR1 and SIGUSR2 to the group in turn, about
 * 10000 a second.  SIGUSR1's handler has SA_RESTART, SIGUSR2's not; only
 * the spawning threads leave them unblocked.  `make stress` runs the issue's
 * 8 threads x 750.  FL_STRESS_TIMEOUT (seconds, 300) ends a hung runner.
 */
#include <dlfcn.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>

#define TEST_PRIMED 1	/* a runner ends its images before it counts fds */
#include "util.h"

/* ---- the runner ----------------------------------------------------------- */

/* The spawn API a runner calls: glibc's names (the shim's under LD_PRELOAD)
 * or libforkless's. */
struct api {
	int (*spawn)(pid_t *, const char *, const posix_spawn_file_actions_t *, const posix_spawnattr_t *,
		     char *const[], char *const[]);
	int (*fa_init)(posix_spawn_file_actions_t *);
	int (*fa_destroy)(posix_spawn_file_actions_t *);
	int (*fa_dup2)(posix_spawn_file_actions_t *, int, int);
	int (*fa_closefrom)(posix_spawn_file_actions_t *, int);
	int (*attr_init)(posix_spawnattr_t *);
	int (*attr_destroy)(posix_spawnattr_t *);
	int (*attr_flags)(posix_spawnattr_t *, short);
	int (*attr_mask)(posix_spawnattr_t *, const sigset_t *);
};

static const struct api glibc_api = {
	posix_spawn, posix_spawn_file_actions_init, posix_spawn_file_actions_destroy,
	posix_spawn_file_actions_adddup2, posix_spawn_file_actions_addclosefrom_np, posix_spawnattr_init,
	posix_spawnattr_destroy, posix_spawnattr_setflags, posix_spawnattr_setsigmask,
};
static const struct api fl_api = {
	fl_posix_spawn, fl_posix_spawn_file_actions_init, fl_posix_spawn_file_actions_destroy,
	fl_posix_spawn_file_actions_adddup2, fl_posix_spawn_file_actions_addclosefrom_np, fl_posix_spawnattr_init,
	fl_posix_spawnattr_destroy, fl_posix_spawnattr_setflags, fl_posix_spawnattr_setsigmask,
};

static const struct api *api;
static int run_engine;		/* set on the attribute; 0 under the shim */
static char helper[4096], cx_file[64], plain_file[64], stderr_target[4096];
static atomic_int stop;
static atomic_long signals_sent, handled;

/* What the spawning threads saw, summed. */
static atomic_int spawned, failed, exit0, reported, cx_leaks, plain_leaks, by_engine;
static atomic_int errnos[256];
static atomic_uint bad_status;	/* the first wait status that was not exit 0 */
static char first_leak[256];
static atomic_flag leak_noted = ATOMIC_FLAG_INIT;

static void on_signal(int sig)
{
	(void)sig;
	atomic_fetch_add_explicit(&handled, 1, memory_order_relaxed);
}

/* Reads the child's listing (already written: the child was waited for) and
 * counts the fds it should not have had. */
static void check_listing(int fd, pid_t pid, const char *own_pipe)
{
	char buf[8192], *line, *save;
	size_t len = 0;
	ssize_t n;

	while (len < sizeof(buf) - 1 && ((n = read(fd, buf + len, sizeof(buf) - 1 - len)) > 0 || (n < 0 && errno == EINTR)))
		if (n > 0)
			len += n;
	buf[len] = 0;
	if (len >= 4 && !strcmp(buf + len - 4, "end\n"))
		atomic_fetch_add(&reported, 1);
	for (line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *target = strchr(line, ' ');
		int child_fd = atoi(line);

		if (!target)
			continue;
		target++;
		/* Below the bound: fd 0 may be the plain file (the churn's fds
		 * take number 0 too), fd 1 is the spawn's own pipe, fd 2 the
		 * runner's stderr; above it, any fd is foreign.  The runner's fds
		 * are all close-on-exec but the plain file's. */
		if ((child_fd == 0 && !strcmp(target, plain_file)) || (child_fd == 1 && !strcmp(target, own_pipe)) ||
		    (child_fd == 2 && !strcmp(target, stderr_target)))
			continue;
		if (!strcmp(target, plain_file))
			atomic_fetch_add(&plain_leaks, 1);
		else
			atomic_fetch_add(&cx_leaks, 1);
		if (!atomic_flag_test_and_set(&leak_noted))
			snprintf(first_leak, sizeof(first_leak), "child %d had fd %d -> %s", (int)pid, child_fd, target);
	}
}

static void *spawner(void *arg)
{
	int count = *(int *)arg;
	sigset_t both;
	posix_spawnattr_t attr;
	char *argv[] = { helper, NULL }, *envp[] = { NULL };

	sigemptyset(&both);
	sigaddset(&both, SIGUSR1);
	sigaddset(&both, SIGUSR2);
	api->attr_init(&attr);
	api->attr_flags(&attr, POSIX_SPAWN_SETSIGMASK);
	api->attr_mask(&attr, &both);
	if (run_engine)
		fl_posix_spawnattr_setengine_np(&attr, run_engine);
	pthread_sigmask(SIG_UNBLOCK, &both, NULL);
	for (int i = 0; i < count; i++) {
		posix_spawn_file_actions_t fa;
		int p[2], ret, status;
		char own_pipe[64];
		struct stat st;
		pid_t pid, w;

		if (pipe2(p, O_CLOEXEC) < 0) {
			atomic_fetch_add(&errnos[errno & 255], 1);
			atomic_fetch_add(&failed, 1);
			continue;
		}
		fcntl(p[0], F_SETFL, O_NONBLOCK);
		fstat(p[1], &st);
		snprintf(own_pipe, sizeof(own_pipe), "pipe:[%lu]", (unsigned long)st.st_ino);
		api->fa_init(&fa);
		api->fa_dup2(&fa, p[1], 1);
		api->fa_closefrom(&fa, 3);
		ret = api->spawn(&pid, helper, &fa, &attr, argv, envp);
		api->fa_destroy(&fa);
		close(p[1]);
		if (ret != 0) {
			atomic_fetch_add(&errnos[ret & 255], 1);
			atomic_fetch_add(&failed, 1);
			close(p[0]);
			continue;
		}
		atomic_fetch_add(&spawned, 1);
		if (run_engine && fl_compat_engine_ran() == run_engine)
			atomic_fetch_add(&by_engine, 1);
		do
			w = waitpid(pid, &status, 0);
		while (w < 0 && errno == EINTR);
		if (w == pid && status == 0)
			atomic_fetch_add(&exit0, 1);
		else {
			unsigned none = 0;

			atomic_compare_exchange_strong(&bad_status, &none, w == pid ? (unsigned)status | 0x80000000u : 0xffffffffu);
		}
		/* The child wrote less than a pipe holds: its listing is there. */
		check_listing(p[0], pid, own_pipe);
		close(p[0]);
	}
	api->attr_destroy(&attr);
	return NULL;
}

static void *churner(void *arg)
{
	unsigned seed = (unsigned)(uintptr_t)arg;
	int fds[16], n = 0;

	while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
		unsigned r = rand_r(&seed);
		void *m = malloc(16 + r % 65536);

		if (m)
			memset(m, 1, 16);
		free(m);
		if (n < 16 && (r & 1)) {
			int cx = (r >> 1) & 1, fd = open(cx ? cx_file : plain_file, O_RDONLY | (cx ? O_CLOEXEC : 0));

			if (fd >= 0)
				fds[n++] = fd;
		} else if (n > 0) {
			int k = (r >> 2) % n;

			close(fds[k]);
			fds[k] = fds[--n];
		}
	}
	while (n > 0)
		close(fds[--n]);
	return NULL;
}

/* About 10000 signals a second: a sleep of 100 us lasts longer on a busy
 * machine, so each wake-up sends what the clock says is due. */
static void *signaller(void *arg)
{
	struct timespec gap = { 0, 100000 }, start, now;
	long due;

	(void)arg;
	clock_gettime(CLOCK_MONOTONIC, &start);
	for (long i = 0; !atomic_load_explicit(&stop, memory_order_relaxed);) {
		clock_gettime(CLOCK_MONOTONIC, &now);
		due = ((now.tv_sec - start.tv_sec) * 1000000000L + now.tv_nsec - start.tv_nsec) / 100000;
		for (; i < due && !atomic_load_explicit(&stop, memory_order_relaxed); i++) {
			kill(0, i & 1 ? SIGUSR2 : SIGUSR1);	/* our process group: setpgid made it */
			atomic_fetch_add_explicit(&signals_sent, 1, memory_order_relaxed);
		}
		nanosleep(&gap, NULL);
	}
	return NULL;
}

static int env_int(const char *name, int dflt)
{
	const char *v = getenv(name);

	return v && *v ? atoi(v) : dflt;
}

static void *nothing(void *arg)
{
	return arg;
}

/* argv: "run" <engine> "shim"|"direct" ["cold"]: COLD, no spawn before the
 * storm.  Prints the summary line. */
static int runner(const char *engine_name, bool shim, bool cold)
{
	int threads = env_int("FL_STRESS_THREADS", 4), each = env_int("FL_STRESS_SPAWNS", 40);
	pthread_t spawners[64], churners[4], sig, first;
	struct sigaction sa = { .sa_handler = on_signal };
	sigset_t both;
	Dl_info where = { 0 };
	int fds_cold, fds_before, fds_after, warm = !cold, zombie, left, images;
	char errs[1024] = "", exe[4096];
	size_t elen = 0;

	if (threads > 64)
		threads = 64;
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	alarm(env_int("FL_STRESS_TIMEOUT", 300));
	if (setpgid(0, 0) < 0)
		return 2;
	/* glibc gives its signal 33 (SIGSETXID) a handler at the first
	 * pthread_create, and glibc's posix_spawn leaves 32 and 33 ignored in
	 * its children (make's recipes are): without a first thread now, the
	 * ignored signals, which key the primed engine's images, would change
	 * between the spawn before the storm and the others. */
	pthread_create(&first, NULL, nothing, NULL);
	pthread_join(first, NULL);
	/* Only the fds made here: the leak checks then know every one.  No
	 * stdin: the churn's fds take number 0 too, below the closefrom bound,
	 * where a close-on-exec one must still not reach a child. */
	close_range(3, ~0u, 0);
	close(0);
	if (readlink("/proc/self/fd/2", stderr_target, sizeof(stderr_target) - 1) < 0)
		strcpy(stderr_target, "(none)");
	api = shim ? &glibc_api : &fl_api;
	run_engine = shim ? 0 : fl_engine_from_name(engine_name);
	if (!realpath(build_path(exe, sizeof(exe),
				 strcmp(engine_name, "primed") ? "tests/helper-fds" : "tests/helper-fds-dyn"),
		      helper))
		return 2;
	snprintf(cx_file, sizeof(cx_file), "/tmp/fl-stress-cx-%d", (int)getpid());
	snprintf(plain_file, sizeof(plain_file), "/tmp/fl-stress-plain-%d", (int)getpid());
	if (write_file(cx_file, "", 0600) < 0 || write_file(plain_file, "", 0600) < 0)
		return 2;
	dladdr(dlsym(RTLD_DEFAULT, "posix_spawn"), &where);

	sigemptyset(&both);
	sigaddset(&both, SIGUSR1);
	sigaddset(&both, SIGUSR2);
	pthread_sigmask(SIG_BLOCK, &both, NULL);	/* every thread but the spawners */
	sa.sa_flags = SA_RESTART;
	sigaction(SIGUSR1, &sa, NULL);
	sa.sa_flags = 0;
	sigaction(SIGUSR2, &sa, NULL);

	/* One spawn first, alone (unless COLD): the engine's own fds (a
	 * zygote's socket) are then made before the fds are counted.  The
	 * primed engine's images are ended before the last count, so its count
	 * is the one from before its first image; but the shim's images (its
	 * own copy of the library) live as long as the runner: their fds stay
	 * counted, and they are told from children left running by the pidfds
	 * held of them. */
	fds_cold = fd_count();
	if (warm)
		spawner(&warm);
	fds_before = fd_count();
	for (int i = 0; i < 4; i++)
		pthread_create(&churners[i], NULL, churner, (void *)(uintptr_t)(i + 1));
	pthread_create(&sig, NULL, signaller, NULL);
	for (int i = 0; i < threads; i++)
		pthread_create(&spawners[i], NULL, spawner, &each);
	for (int i = 0; i < threads; i++)
		pthread_join(spawners[i], NULL);
	atomic_store(&stop, 1);
	for (int i = 0; i < 4; i++)
		pthread_join(churners[i], NULL);
	pthread_join(sig, NULL);
	unlink(cx_file);
	unlink(plain_file);
	fl_primed_stop();
	if (!strcmp(engine_name, "primed") && !shim)
		fds_before = fds_cold;
	fds_after = fd_count();
	zombie = has_zombie();
	images = pidfd_held_running(helper);
	left = children_running(helper) - images;
	for (int e = 0; e < 256; e++)
		if (errnos[e] && elen < sizeof(errs) - 64)
			elen += snprintf(errs + elen, sizeof(errs) - elen, "%s%s:%d", elen ? "," : "", strerrorname_np(e) ? strerrorname_np(e) : "?",
					 errnos[e]);
	printf("calls=%d spawned=%d failed=%d exit0=%d reported=%d cx_leaks=%d plain_leaks=%d zombie=%d left=%d "
	       "images=%d by_engine=%d fds_before=%d fds_after=%d shim=%d bad_status=%#x signals=%ld handled=%ld "
	       "errnos=%s\n",
	       warm + threads * each, spawned, failed, exit0, reported, cx_leaks, plain_leaks, zombie, left, images, by_engine, fds_before,
	       fds_after, where.dli_fname && strstr(where.dli_fname, "libforkless-preload") != NULL, bad_status,
	       signals_sent, handled, *errs ? errs : "-");
	if (*first_leak)
		printf("first_leak=%s\n", first_leak);
	fflush(stdout);
	return 0;
}

/* ---- the TAP side --------------------------------------------------------- */

struct summary {
	int calls, spawned, failed, exit0, reported, cx_leaks, plain_leaks, zombie, left, images, by_engine,
		fds_before, fds_after, shim;
	unsigned bad_status;
	long signals, handled;
	char errnos[1024], first_leak[300];
};

/* What the runner's FORKLESS_TRACE file says: the spawns the shim traced
 * as made by ENGINE, the primed engine's refusals, and the first of those. */
struct traced {
	int by_engine, refused;
	char first_refusal[300];
};

static void read_trace(const char *path, const char *engine, struct traced *t)
{
	char line[4096], want[64];
	FILE *f = fopen(path, "re");

	snprintf(want, sizeof(want), " engine=%s\n", engine);
	while (f && fgets(line, sizeof(line), f)) {
		size_t n = strlen(line);

		if (!strncmp(line, "forkless-preload: ", 18) && n > strlen(want) && !strcmp(line + n - strlen(want), want))
			t->by_engine++;
		else if (!strncmp(line, "forkless-primed: ", 17) && !t->refused++)
			snprintf(t->first_refusal, sizeof(t->first_refusal), "%s", strtok(line, "\n"));
	}
	if (f)
		fclose(f);
}

static void run_one(const char *self, const char *engine, bool shim, bool cold)
{
	char line[4096] = "", leak[4096] = "", shim_path[4096], trace[64];
	const char *form = shim ? "shim" : cold ? "fl_posix_spawn, no spawn before the storm" : "fl_posix_spawn";
	bool primed = !strcmp(engine, "primed");
	struct summary s = { 0 };
	struct traced t = { 0 };
	int fd, status = -1, parsed = 0;
	pid_t pid;
	FILE *f;

	snprintf(trace, sizeof(trace), "/tmp/fl-stress-trace-%d", (int)getpid());
	unlink(trace);
	pid = fork_piped(&fd);
	if (pid < 0)
		return;
	if (pid == 0) {
		if (fd != 1 && (dup2(fd, 1) < 0 || close(fd) < 0))
			_exit(2);
		if (shim) {
			setenv("LD_PRELOAD", build_path(shim_path, sizeof(shim_path), "libforkless-preload.so"), 1);
			setenv("FORKLESS_ENGINE", engine, 1);
		}
		/* Where the primed engine's children come from (the other
		 * engines' runs stay as they were: no trace file opened). */
		if (primed)
			setenv("FORKLESS_TRACE", trace, 1);
		execl(self, self, "run", engine, shim ? "shim" : "direct", cold ? "cold" : (char *)NULL, (char *)NULL);
		_exit(127);
	}
	f = fdopen(fd, "r");
	while (f && fgets(line, sizeof(line), f)) {
		if (!strncmp(line, "calls=", 6))
			parsed = sscanf(line,
					"calls=%d spawned=%d failed=%d exit0=%d reported=%d cx_leaks=%d plain_leaks=%d "
					"zombie=%d left=%d images=%d by_engine=%d fds_before=%d fds_after=%d shim=%d bad_status=%x "
					"signals=%ld handled=%ld errnos=%1023s",
					&s.calls, &s.spawned, &s.failed, &s.exit0, &s.reported, &s.cx_leaks, &s.plain_leaks,
					&s.zombie, &s.left, &s.images, &s.by_engine, &s.fds_before, &s.fds_after, &s.shim, &s.bad_status,
					&s.signals, &s.handled, s.errnos);
		else if (!strncmp(line, "first_leak=", 11))
			snprintf(leak, sizeof(leak), "%s", line + 11);
	}
	if (f)
		fclose(f);
	waitpid(pid, &status, 0);
	read_trace(trace, engine, &t);
	unlink(trace);
	if (!ok(WIFEXITED(status) && WEXITSTATUS(status) == 0 && parsed == 18,
		"%s/%s: the runner ran to its end (wait status %#x)", engine, form, status))
		return;
	diag("%s/%s: %d calls, %ld signals sent, %ld handled by spawning threads", engine, form, s.calls, s.signals,
	     s.handled);
	if (primed)
		diag("%s/%s: %d image(s) still running at the end", engine, form, s.images);
	if (shim)
		ok(s.shim, "%s/%s: posix_spawn is the preload shim's", engine, form);
	if (primed) {
		int made = shim ? t.by_engine : s.by_engine;

		/* (A cold run primes while signals reach the caller's group: the
		 * image starts with every signal blocked.)  A pass on children
		 * the clone engine made would say nothing of the primed engine. */
		ok(made == s.spawned && s.spawned > 0, "%s/%s: the primed engine made every child (%d of %d, by %s)",
		   engine, form, made, s.spawned, shim ? "the shim's trace" : "the engine recorded");
		ok(t.refused == 0, "%s/%s: no spawn was refused and handed to the clone engine (%d: %s)", engine, form,
		   t.refused, t.refused ? t.first_refusal : "-");
	}
	ok(s.failed == 0, "%s/%s: every spawn returned 0 (%d failed: %s)", engine, form, s.failed,
	   s.errnos);
	ok(s.exit0 == s.spawned, "%s/%s: every child exited 0 (%d of %d; first other status %#x)",
	   engine, form, s.exit0, s.spawned, s.bad_status & 0x7fffffff);
	ok(s.reported == s.spawned, "%s/%s: every child listed its fds (%d of %d)", engine,
	   form, s.reported, s.spawned);
	ok(s.cx_leaks == 0, "%s/%s: no close-on-exec fd reached a child (%d did)", engine, form,
	   s.cx_leaks);
	ok(s.plain_leaks == 0, "%s/%s: no other fd above the closefrom bound reached a child (%d did)",
	   engine, form, s.plain_leaks);
	if (*leak)
		diag("%s/%s: first: %s", engine, form, strtok(leak, "\n"));
	ok(!s.zombie, "%s/%s: no zombie left", engine, form);
	ok(s.left == 0, "%s/%s: no child left running (%d)", engine, form, s.left);
	ok(s.fds_after == s.fds_before, "%s/%s: no fd leaked in the caller (%d, was %d)", engine, form, s.fds_after,
	   s.fds_before);
}

int main(int argc, char **argv)
{
	char self[4096];
	bool shim_usable = !TEST_TSAN;

	if ((argc == 4 || argc == 5) && !strcmp(argv[1], "run"))
		return runner(argv[2], !strcmp(argv[3], "shim"), argc == 5 && !strcmp(argv[4], "cold"));
#if defined(__SANITIZE_ADDRESS__)
	shim_usable = false;
#endif
	if (!realpath("/proc/self/exe", self)) {
		diag("realpath /proc/self/exe: %s", strerror(errno));
		return 1;
	}
	for (int e = FL_ENGINE_AUTO + 1; e < FL_ENGINE_COUNT; e++) {
		char shim[4096];

		if (fl_engine_supported(e) < 0 || !engine_wanted(e))
			continue;
		run_one(self, fl_engine_name(e), false, false);
		if (!shim_usable || access(build_path(shim, sizeof(shim), "libforkless-preload.so"), R_OK) < 0)
			skip("no uninstrumented preload shim in this build", "%s/shim: the scenario under the shim",
			     fl_engine_name(e));
		else
			run_one(self, fl_engine_name(e), true, false);
		/* The primed engine's first image primed under the storm. */
		if (e == FL_ENGINE_PRIMED)
			run_one(self, fl_engine_name(e), false, true);
	}
	return done();
}
