// SPDX-License-Identifier: MIT
/*
 * A program that spawns through <spawn.h> by glibc's names: glibc's own, or
 * the preload shim's when LD_PRELOAD names it.  The t-preload-*.sh tests run
 * it both ways and compare.
 *
 *   helper-compat scenarios          every scenario of compat-scenarios.h, a report each
 *   helper-compat oldabi DIR         posix_spawn(p) of a script without "#!" through both
 *                                    symbol versions (GLIBC_2.2.5 retries it with /bin/sh)
 *   helper-compat spawn N            posix_spawn of /bin/true N times
 *   helper-compat bench N FIRSTINSN  latency to the child's first instruction: glibc's own
 *                                    posix_spawn, the one bound by name (the shim's under
 *                                    LD_PRELOAD), fl_posix_spawn; then posix_spawnp found in
 *                                    the 5th of 5 PATH entries; min and median in us
 */
#include <dlfcn.h>

#include "util.h"
#include "compat-scenarios.h"

/* glibc's pre-2.15 ABI, as a program linked in 2010 calls it. */
int old_posix_spawn(pid_t *, const char *, const posix_spawn_file_actions_t *, const posix_spawnattr_t *,
		    char *const[], char *const[]);
int old_posix_spawnp(pid_t *, const char *, const posix_spawn_file_actions_t *, const posix_spawnattr_t *,
		     char *const[], char *const[]);
__asm__(".symver old_posix_spawn, posix_spawn@GLIBC_2.2.5");
__asm__(".symver old_posix_spawnp, posix_spawnp@GLIBC_2.2.5");

/* The children's environment: ours without the variables that differ
 * between a run with the shim and one without. */
static char **filtered_environ(void)
{
	size_t n = 0, k = 0;
	char **v;

	while (environ[n])
		n++;
	v = calloc(n + 1, sizeof(*v));
	for (size_t i = 0; v && i < n; i++)
		if (strncmp(environ[i], "LD_PRELOAD=", 11) && strncmp(environ[i], "FORKLESS_", 9))
			v[k++] = environ[i];
	return v;
}

static int run_scenarios(void)
{
	static char out[1 << 17];
	int null = open("/dev/null", O_RDWR | O_CLOEXEC), keep = fcntl(1, F_DUPFD_CLOEXEC, 40);

	/* The children get /dev/null as stdout and stderr, the same in every
	 * run; the reports go to the old stdout, moved out of their way. */
	if (null < 0 || keep < 0 || !freopen("/dev/null", "w", stdout) || dup2(null, 1) < 0 || dup2(null, 2) < 0 ||
	    !(stdout = fdopen(keep, "w")))
		return 1;
	close(null);
	if (sc_setup(helper_path()) < 0)
		return 1;
	sc_envp = filtered_environ();
	for (size_t i = 0; i < N_SCENARIOS; i++) {
		const struct scenario *sc = &scenarios[i];

		printf("== %s\n", sc->name);
		if ((sc->other_euid && geteuid() != 0) ||
		    (sc->fa[0].path && !strcmp(sc->fa[0].path, "@PTY") && !sc_pty[0])) {
			printf("skipped\n");
			continue;
		}
		sc_run(&libc_api, sc, 0, out, sizeof(out));
		fputs(out, stdout);
		printf("leak-free %d\n", !has_zombie());
	}
	sc_cleanup();
	return 0;
}

/* One spawn of the script through FN; prints what a caller sees. */
static void old_case(const char *what, api_spawn_fn *fn, const char *file)
{
	char *argv[] = { (char *)file, (char *)"arg1", NULL };
	posix_spawn_file_actions_t fa;
	pid_t pid = -1;
	int status = -1, ret;

	unlink("ran.out");
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
	ret = fn(&pid, file, &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	if (ret == 0)
		waitpid(pid, &status, 0);
	printf("%s: ret=%d status=0x%x ran=%d\n", what, ret, ret ? 0 : status, access("ran.out", F_OK) == 0);
}

static int run_oldabi(const char *dir)
{
	static char path[PATH_MAX + 8];
	int fd;

	if (chdir(dir) < 0 || mkdir("bin", 0755) < 0)
		return 1;
	/* A shell script without "#!": only a /bin/sh retry runs it.  It
	 * writes ran.out, with its $0 and first argument, in its cwd. */
	fd = open("bin/noshebang", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0755);
	if (fd < 0 || write(fd, "echo \"$0 $1\" > ran.out\n", 23) != 23)
		return 1;
	close(fd);
	snprintf(path, sizeof(path), "%s/bin", dir);
	setenv("PATH", path, 1);
	old_case("posix_spawn@GLIBC_2.2.5", old_posix_spawn, "bin/noshebang");
	old_case("posix_spawn@@GLIBC_2.15", posix_spawn, "bin/noshebang");
	old_case("posix_spawnp@@GLIBC_2.15", posix_spawnp, "noshebang");
	/* The old posix_spawnp hands sh the bare name, not the file found:
	 * from dir/bin sh finds it, from dir it does not. */
	old_case("posix_spawnp@GLIBC_2.2.5 from dir", old_posix_spawnp, "noshebang");
	if (chdir("bin") < 0)
		return 1;
	old_case("posix_spawnp@GLIBC_2.2.5 from dir/bin", old_posix_spawnp, "noshebang");
	return 0;
}

static int run_spawn(int n)
{
	char *argv[] = { (char *)"true", NULL };

	for (int i = 0; i < n; i++) {
		pid_t pid;
		int ret = posix_spawn(&pid, "/bin/true", NULL, NULL, argv, environ);

		if (ret) {
			printf("posix_spawn: %s\n", strerror(ret));
			return 1;
		}
		waitpid(pid, NULL, 0);
	}
	printf("spawned %d\n", n);
	return 0;
}

/* ---- bench ---------------------------------------------------------------- */

struct method {
	const char *name;
	api_spawn_fn *fn;
	const char *file;
	double *lat, *blocked;
};

/* One spawn: the time from the call to the child's first instruction (which
 * firstinsn writes to fd 3), and the time the call held this thread. */
static int one(struct method *m, int i, int rd)
{
	char *argv[] = { (char *)"firstinsn", NULL };
	struct timespec child;
	double t0, t1;
	pid_t pid;
	int ret;

	t0 = now_us();
	ret = m->fn(&pid, m->file, NULL, NULL, argv, environ);
	t1 = now_us();
	if (ret || read(rd, &child, sizeof(child)) != sizeof(child))
		return -1;
	m->lat[i] = child.tv_sec * 1e6 + child.tv_nsec / 1e3 - t0;
	m->blocked[i] = t1 - t0;
	waitpid(pid, NULL, 0);
	return 0;
}

static void report(const struct method *m, int n, double glibc_median)
{
	qsort(m->lat, n, sizeof(double), cmp_double);
	qsort(m->blocked, n, sizeof(double), cmp_double);
	printf("%-44s min %7.1f  median %7.1f  blocked median %7.1f", m->name, m->lat[0], m->lat[n / 2],
	       m->blocked[n / 2]);
	if (glibc_median > 0)
		printf("  median/glibc %.2f", m->lat[n / 2] / glibc_median);
	printf("\n");
}

static int run_bench(int n, const char *firstinsn)
{
	void *libc = dlopen("libc.so.6", RTLD_NOW | RTLD_NOLOAD);
	api_spawn_fn *glibc_spawn = libc ? (api_spawn_fn *)dlvsym(libc, "posix_spawn", "GLIBC_2.15") : NULL;
	api_spawn_fn *glibc_spawnp = libc ? (api_spawn_fn *)dlvsym(libc, "posix_spawnp", "GLIBC_2.15") : NULL;
	bool shim = getenv("LD_PRELOAD") != NULL;
	char dir[] = "/tmp/fl-bench-XXXXXX", path[512] = "", link[128];
	struct method m[6] = {
		{ "glibc posix_spawn", glibc_spawn, firstinsn, NULL, NULL },
		{ shim ? "posix_spawn via the preload shim" : "posix_spawn (no shim: glibc)", posix_spawn, firstinsn,
		  NULL, NULL },
		{ "posix_spawn via forkless (fl_posix_spawn)", fl_posix_spawn, firstinsn, NULL, NULL },
		{ "glibc posix_spawnp, 5th of 5 PATH entries", glibc_spawnp, "firstinsn", NULL, NULL },
		{ shim ? "posix_spawnp via the shim, 5th of 5" : "posix_spawnp (no shim), 5th of 5", posix_spawnp,
		  "firstinsn", NULL, NULL },
		{ "fl_posix_spawnp, 5th of 5 PATH entries", fl_posix_spawnp, "firstinsn", NULL, NULL },
	};
	int pipefd[2], rd;

	/* firstinsn writes to fd 3, left open across exec (no setup step); the
	 * read end goes out of its way first. */
	if (!glibc_spawn || !glibc_spawnp || !mkdtemp(dir) || pipe2(pipefd, O_CLOEXEC) < 0 ||
	    (rd = fcntl(pipefd[0], F_DUPFD_CLOEXEC, 10)) < 0 || dup2(pipefd[1], 3) != 3)
		return 1;
	for (int i = 1; i <= 5; i++) {
		char sub[64];

		snprintf(sub, sizeof(sub), "%s/d%d", dir, i);
		mkdir(sub, 0755);
		snprintf(path + strlen(path), sizeof(path) - strlen(path), "%s%s", i > 1 ? ":" : "", sub);
	}
	snprintf(link, sizeof(link), "%s/d5/firstinsn", dir);
	if (symlink(firstinsn, link) < 0)
		return 1;
	setenv("PATH", path, 1);
	for (int k = 0; k < 6; k++) {
		m[k].lat = calloc(n, sizeof(double));
		m[k].blocked = calloc(n, sizeof(double));
	}
	/* Interleaved, so that the machine's drift touches all alike. */
	for (int i = 0; i < n; i++)
		for (int k = 0; k < 6; k++)
			if (one(&m[k], i, rd) < 0) {
				fprintf(stderr, "%s failed\n", m[k].name);
				return 1;
			}
	printf("%d spawns each, microseconds (time to the child's first instruction)\n", n);
	for (int k = 0; k < 6; k++)
		report(&m[k], n, k % 3 ? m[k - k % 3].lat[n / 2] : 0);
	unlink(link);
	for (int i = 5; i >= 1; i--) {
		snprintf(link, sizeof(link), "%s/d%d", dir, i);
		rmdir(link);
	}
	rmdir(dir);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc >= 2 && !strcmp(argv[1], "scenarios"))
		return run_scenarios();
	if (argc >= 3 && !strcmp(argv[1], "oldabi"))
		return run_oldabi(argv[2]);
	if (argc >= 3 && !strcmp(argv[1], "spawn"))
		return run_spawn(atoi(argv[2]));
	if (argc >= 4 && !strcmp(argv[1], "bench")) {
		char firstinsn[PATH_MAX];	/* absolute: PATH entries link to it */

		return realpath(argv[3], firstinsn) ? run_bench(atoi(argv[2]), firstinsn) : 1;
	}
	fprintf(stderr, "usage: helper-compat scenarios | oldabi DIR | spawn N | bench N FIRSTINSN\n");
	return 2;
}
