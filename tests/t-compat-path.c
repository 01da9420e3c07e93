// SPDX-License-Identifier: MIT
/*
 * posix_spawnp searches PATH at every call: a program created earlier in PATH
 * between two calls is the one the second runs, one removed or made
 * non-executable is passed over, one replaced (renamed over) runs anew.  Each
 * step through glibc's posix_spawnp and fl_posix_spawnp under every engine:
 * the same program runs (told apart by exit status).
 */
#include <limits.h>

#include "util.h"

extern char **environ;

static char dir_a[PATH_MAX], dir_b[PATH_MAX];

/* DIR/prog: a script that exits with CODE, made with a rename (as package
 * managers replace binaries). */
static void put_prog(const char *dir, int code, mode_t mode)
{
	char tmp[PATH_MAX + 16], final[PATH_MAX + 16], text[64];
	int fd, len = snprintf(text, sizeof(text), "#!/bin/sh\nexit %d\n", code);

	snprintf(tmp, sizeof(tmp), "%s/.prog.tmp", dir);
	snprintf(final, sizeof(final), "%s/prog", dir);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	if (fd < 0 || write(fd, text, len) != len || close(fd) < 0 || chmod(tmp, mode) < 0 || rename(tmp, final) < 0)
		diag("could not write %s: %s", final, strerror(errno));
}

/* The exit status of "prog" run by SPAWNP (255 + error if the spawn failed). */
static int run(int (*spawnp)(pid_t *, const char *, const posix_spawn_file_actions_t *, const posix_spawnattr_t *,
			     char *const[], char *const[]),
	       int engine)
{
	char *argv[] = { (char *)"prog", NULL };
	posix_spawnattr_t attr;
	pid_t pid;
	int status = -1, ret;

	fl_posix_spawnattr_init(&attr);
	if (engine)
		fl_posix_spawnattr_setengine_np(&attr, engine);
	ret = spawnp(&pid, "prog", NULL, engine ? &attr : NULL, argv, environ);
	if (ret)
		return 255 + ret;
	waitpid(pid, &status, 0);
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

int main(void)
{
	char root[] = "/tmp/fl-path-XXXXXX", path[2 * PATH_MAX + 2], cmd[PATH_MAX + 16];

	if (!mkdtemp(root)) {
		skip("no temporary directory", "PATH search");
		return done();
	}
	snprintf(dir_a, sizeof(dir_a), "%s/a", root);
	snprintf(dir_b, sizeof(dir_b), "%s/b", root);
	mkdir(dir_a, 0755);
	mkdir(dir_b, 0755);
	snprintf(path, sizeof(path), "%s:%s", dir_a, dir_b);
	setenv("PATH", path, 1);

	for (int e = FL_ENGINE_AUTO; e < FL_ENGINE_COUNT; e++) {
		const char *name = e ? fl_engine_name(e) : "default";
		int fds, g, f;
		char prog_a[PATH_MAX + 8];

		/* Warmed first: the zygote's socket and pidfd are the library's. */
		if (e && fl_engine_warm(e) < 0)
			continue;
		fds = fd_count();
		snprintf(prog_a, sizeof(prog_a), "%s/prog", dir_a);
		unlink(prog_a);
		put_prog(dir_b, 2, 0755);
		g = run(posix_spawnp, 0);
		f = run(fl_posix_spawnp, e);
		ok(g == 2 && f == g, "%s: found in the second entry (glibc %d, forkless %d)", name, g, f);

		put_prog(dir_a, 3, 0755);
		g = run(posix_spawnp, 0);
		f = run(fl_posix_spawnp, e);
		ok(g == 3 && f == g, "%s: created in the first entry since: it runs (glibc %d, forkless %d)", name, g, f);

		put_prog(dir_a, 4, 0755);
		g = run(posix_spawnp, 0);
		f = run(fl_posix_spawnp, e);
		ok(g == 4 && f == g, "%s: replaced by a rename: the new one runs (glibc %d, forkless %d)", name, g, f);

		chmod(prog_a, 0644);
		g = run(posix_spawnp, 0);
		f = run(fl_posix_spawnp, e);
		ok(g == 2 && f == g, "%s: made non-executable: passed over (glibc %d, forkless %d)", name, g, f);

		unlink(prog_a);
		snprintf(cmd, sizeof(cmd), "%s/prog", dir_b);
		unlink(cmd);
		g = run(posix_spawnp, 0);
		f = run(fl_posix_spawnp, e);
		ok(g == 255 + ENOENT && f == g, "%s: removed everywhere: ENOENT (glibc %d, forkless %d)", name, g, f);
		ok(fd_count() == fds && !has_zombie(), "%s: no fd leaked, no zombie", name);
	}
	setenv("PATH", "/usr/bin:/bin", 1);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
	if (system(cmd) != 0)
		diag("could not remove %s", root);
	return done();
}
