// SPDX-License-Identifier: MIT
/*
 * fl_spec_set_file's PATH search (execvp's rules) and what a spawn does with
 * its result, under every engine: a name with '/', empty entries, PATH
 * unset, entries that are files, EACCES winning over ENOENT, non-executable
 * files and directories named like the program skipped; the resolved file
 * replaced later (the new one runs), deleted (the later entries are tried,
 * then a clear -ENOENT); per-call argv and envp; envp NULL meaning environ
 * at the moment of each spawn.
 *
 * The programs are small scripts that exit with a code naming their place.
 */
#include <limits.h>
#include <stdio.h>
#include <sys/stat.h>

#include "util.h"

static char dir[] = "/tmp/fl-path-XXXXXX";

static const char *at(const char *name)
{
	static char buf[8][PATH_MAX];
	static int next;
	char *p = buf[next++ % 8];

	snprintf(p, PATH_MAX, "%s/%s", dir, name);
	return p;
}

static void script(const char *name, int code, mode_t mode)
{
	char text[64];

	snprintf(text, sizeof(text), "#!/bin/sh\nexit %d\n", code);
	write_file(at(name), text, mode);
}

static void set_path(const char *a, const char *b)
{
	char buf[2 * PATH_MAX + 2];

	snprintf(buf, sizeof(buf), "%s%s%s", a, b ? ":" : "", b ? b : "");
	setenv("PATH", buf, 1);
}

/* The exit code of SPEC run under engine E, or -errno of the spawn. */
static int run_code(fl_spec *spec, int e, fl_report *rep)
{
	int status, ret;

	fl_spec_set_engine(spec, e);
	ret = spawn_wait(spec, NULL, &status, rep);
	if (ret < 0)
		return ret;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 1000 + status;
}

/* Resolution does not depend on the engine: checked once. */
static void test_resolution(void)
{
	char cwd[PATH_MAX], buf[PATH_MAX];
	fl_spec *spec;
	int ret;

	getcwd(cwd, sizeof(cwd));
	fl_spec_new(&spec);

	set_path(at("a"), at("b"));
	ok(fl_spec_set_file(spec, "prog") == 0 && !strcmp(fl_spec_path(spec), at("a/prog")),
	   "first entry with the program wins: %s", fl_spec_path(spec));
	ok(fl_spec_set_file(spec, "a/prog") == 0 && !strcmp(fl_spec_path(spec), "a/prog"),
	   "a name with '/' is a path, not searched");
	set_path("/nonexistent", at("b"));
	ok(fl_spec_set_file(spec, "prog") == 0 && !strcmp(fl_spec_path(spec), at("b/prog")), "a missing entry is skipped");
	set_path(at("file"), at("b"));
	ok(fl_spec_set_file(spec, "prog") == 0 && !strcmp(fl_spec_path(spec), at("b/prog")),
	   "an entry that is a file (ENOTDIR) is skipped");
	set_path(at("noexec"), at("b"));
	ok(fl_spec_set_file(spec, "prog") == 0 && !strcmp(fl_spec_path(spec), at("b/prog")),
	   "a non-executable match is skipped for a later executable one");
	set_path(at("isdir"), at("b"));
	ok(fl_spec_set_file(spec, "prog") == 0 && !strcmp(fl_spec_path(spec), at("b/prog")),
	   "a directory named like the program is skipped");
	set_path(at("noexec"), "/nonexistent");
	ok(fl_spec_set_file(spec, "prog") == -EACCES, "only a non-executable match: -EACCES (before a missing entry)");
	set_path("/nonexistent", at("noexec"));
	ok(fl_spec_set_file(spec, "prog") == -EACCES, "only a non-executable match: -EACCES (after a missing entry)");
	set_path("/nonexistent", at("isdir"));
	ok(fl_spec_set_file(spec, "prog") == -EACCES, "only a directory of that name: -EACCES, as execvp");
	set_path("/nonexistent", at("empty"));
	ok(fl_spec_set_file(spec, "prog") == -ENOENT, "nowhere: -ENOENT");
	set_path("/nonexistent", at("file"));
	ok(fl_spec_set_file(spec, "prog") == -ENOTDIR, "nowhere, last entry a file: -ENOTDIR (the last entry's error, as execvp)");
	set_path(at("file"), "/nonexistent");
	ok(fl_spec_set_file(spec, "prog") == -ENOENT, "nowhere, last entry missing: -ENOENT");
	ok(!strcmp(fl_spec_path(spec), at("b/prog")), "a failed search leaves the template's program as it was");
	ok(fl_spec_set_file(spec, "") == -ENOENT, "empty name: -ENOENT");
	memset(buf, 'x', NAME_MAX + 1);
	buf[NAME_MAX + 1] = 0;
	ok(fl_spec_set_file(spec, buf) == -ENAMETOOLONG, "a name over NAME_MAX: -ENAMETOOLONG");

	/* Empty entries are the current directory: leading, inner, trailing. */
	chdir(at("cwd"));
	setenv("PATH", ":/nonexistent", 1);
	ok(fl_spec_set_file(spec, "prog") == 0 && !strcmp(fl_spec_path(spec), "prog"), "leading empty entry: cwd");
	set_path("/nonexistent:", at("b"));
	ok(fl_spec_set_file(spec, "prog") == 0 && !strcmp(fl_spec_path(spec), "prog"), "inner empty entry: cwd");
	setenv("PATH", "/nonexistent:", 1);
	ok(fl_spec_set_file(spec, "prog") == 0 && !strcmp(fl_spec_path(spec), "prog"), "trailing empty entry: cwd");
	setenv("PATH", "/nonexistent", 1);
	ok(fl_spec_set_file(spec, "prog") == -ENOENT, "no empty entry: cwd not searched");
	chdir(cwd);

	/* No PATH: glibc's default, /bin:/usr/bin. */
	unsetenv("PATH");
	ret = fl_spec_set_file(spec, "true");	/* before reading the path it sets */
	ok(ret == 0 && !strcmp(fl_spec_path(spec), "/bin/true"), "PATH unset: /bin:/usr/bin searched: %s",
	   fl_spec_path(spec));
	ok(fl_spec_set_file(spec, "prog") == -ENOENT, "PATH unset: not in the current directory");
	fl_spec_free(spec);
}

static void test_spawn(int e)
{
	const char *E = fl_engine_name(e);
	char cwd[PATH_MAX], buf[256];
	fl_spec *spec;
	fl_report rep;
	int fds = fd_count(), code;

	getcwd(cwd, sizeof(cwd));
	fl_spec_new(&spec);
	set_path(at("noexec"), at("b"));
	fl_spec_set_file(spec, "prog");
	code = run_code(spec, e, &rep);
	ok(code == 12, "%s: the executable later match runs (code %d)", E, code);
	set_path("/nonexistent:", at("b"));
	chdir(at("cwd"));
	fl_spec_set_file(spec, "prog");
	code = run_code(spec, e, &rep);
	ok(code == 13, "%s: empty entry: the program in the current directory runs (code %d)", E, code);
	chdir(dir);
	fl_spec_set_file(spec, "a/prog");
	code = run_code(spec, e, &rep);
	ok(code == 11, "%s: a relative path with '/' runs (code %d)", E, code);
	chdir(cwd);
	unsetenv("PATH");
	fl_spec_set_file(spec, "true");
	code = run_code(spec, e, &rep);
	ok(code == 0, "%s: PATH unset: /bin/true runs (code %d)", E, code);

	/* Replaced after the search: an upgrade renames a new file over it. */
	script("r/prog", 21, 0755);
	set_path(at("r"), at("b"));
	fl_spec_set_file(spec, "prog");
	code = run_code(spec, e, &rep);
	ok(code == 21, "%s: the file found runs (code %d)", E, code);
	script("r/prog.new", 22, 0755);
	rename(at("r/prog.new"), at("r/prog"));
	code = run_code(spec, e, &rep);
	ok(code == 22, "%s: renamed over: the new file runs (code %d)", E, code);
	/* Deleted: the later entries are searched, as execvp would. */
	unlink(at("r/prog"));
	code = run_code(spec, e, &rep);
	ok(code == 12, "%s: deleted: the later entry's program runs (code %d)", E, code);
	/* Deleted with nothing after it: a clear ENOENT. */
	script("r/prog", 21, 0755);
	setenv("PATH", at("r"), 1);
	fl_spec_set_file(spec, "prog");
	unlink(at("r/prog"));
	code = run_code(spec, e, &rep);
	fl_report_format(spec, NULL, &rep, buf, sizeof(buf));
	ok(code == -ENOENT && step_is(e, rep.step, FL_STEP_EXEC),
	   "%s: deleted, no later entry: -ENOENT at exec (code %d): %s", E, code, buf);
	/* Deleted, and only a non-executable one later: EACCES wins. */
	script("r/prog", 21, 0755);
	set_path(at("r"), at("noexec"));
	fl_spec_set_file(spec, "prog");
	unlink(at("r/prog"));
	code = run_code(spec, e, &rep);
	ok(code == -EACCES, "%s: deleted, a non-executable one later: -EACCES (code %d)", E, code);
	/* Made non-executable: EACCES. */
	script("r/prog", 21, 0755);
	setenv("PATH", at("r"), 1);
	fl_spec_set_file(spec, "prog");
	chmod(at("r/prog"), 0644);
	code = run_code(spec, e, &rep);
	ok(code == -EACCES, "%s: made non-executable: -EACCES (code %d)", E, code);
	unlink(at("r/prog"));
	/* Not found again in an entry before it: the search was done once. */
	script("r/prog", 21, 0755);
	set_path(at("a"), at("r"));
	unlink(at("a/prog"));
	fl_spec_set_file(spec, "prog");
	script("a/prog", 11, 0755);
	code = run_code(spec, e, &rep);
	ok(code == 21, "%s: a file created earlier in PATH later is not seen by the template (code %d)", E, code);
	unlink(at("r/prog"));
	fl_spec_free(spec);
	check_clean(E, fds);
}

static void test_args(int e)
{
	const char *E = fl_engine_name(e);
	char *targv[] = { (char *)"helper", (char *)"exit", (char *)"5", NULL };
	char *cargv[] = { (char *)"helper", (char *)"exit", (char *)"6", NULL };
	char *tenv[] = { (char *)"FL_A=1", NULL }, *cenv[] = { (char *)"FL_B=2", NULL };
	char out[65536];
	fl_spec *spec;
	fl_report rep;
	int fds = fd_count(), status, ret;

	state_spec(&spec, e);
	fl_spec_set_argv(spec, targv);
	ret = spawn_wait(spec, NULL, &status, &rep);
	ok(ret == 0 && WEXITSTATUS(status) == 5, "%s: the template's argv (exit %d)", E, WEXITSTATUS(status));
	ret = spawn_wait(spec, &(fl_spawn_args){ .argv = cargv }, &status, &rep);
	ok(ret == 0 && WEXITSTATUS(status) == 6, "%s: the call's argv wins (exit %d)", E, WEXITSTATUS(status));
	fl_spec_set_argv(spec, NULL);

	/* envp NULL: environ as it is at each spawn. */
	setenv("FL_T", "1", 1);
	ret = run_state(spec, NULL, out, sizeof(out), &status, &rep);
	ok(ret == 0 && strstr(out, "env.FL_T=1\n"), "%s: the environment at spawn: FL_T=1", E);
	setenv("FL_T", "2", 1);
	ret = run_state(spec, NULL, out, sizeof(out), &status, &rep);
	ok(ret == 0 && strstr(out, "env.FL_T=2\n"), "%s: changed between spawns: FL_T=2", E);
	unsetenv("FL_T");
	ret = run_state(spec, NULL, out, sizeof(out), &status, &rep);
	ok(ret == 0 && !strstr(out, "env.FL_T="), "%s: unset between spawns: gone", E);

	fl_spec_set_envp(spec, tenv);
	ret = run_state(spec, NULL, out, sizeof(out), &status, &rep);
	ok(ret == 0 && strstr(out, "env.FL_A=1\n") && !strstr(out, "env.PATH="), "%s: the template's envp, only it", E);
	ret = run_state(spec, &(fl_spawn_args){ .envp = cenv }, out, sizeof(out), &status, &rep);
	ok(ret == 0 && strstr(out, "env.FL_B=2\n") && !strstr(out, "env.FL_A="), "%s: the call's envp wins", E);
	ret = run_state(spec, &(fl_spawn_args){ .envp = (char *[]){ NULL } }, out, sizeof(out), &status, &rep);
	ok(ret == 0 && !strstr(out, "env."), "%s: an empty envp: no environment", E);
	fl_spec_set_envp(spec, NULL);
	fl_spec_free(spec);
	check_clean(E, fds);
}

int main(void)
{
	char *saved = getenv("PATH") ? strdup(getenv("PATH")) : NULL;
	static const char *const dirs[] = { "a", "b", "noexec", "isdir", "isdir/prog", "cwd", "r", "empty" };

	if (!mkdtemp(dir)) {
		diag("mkdtemp: %s", strerror(errno));
		return 1;
	}
	for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++)
		mkdir(at(dirs[i]), 0755);
	script("a/prog", 11, 0755);
	script("b/prog", 12, 0755);
	script("cwd/prog", 13, 0755);
	script("noexec/prog", 14, 0644);
	script("file", 15, 0755);

	test_resolution();
	for_each_engine(e) {
		test_spawn(e);
		test_args(e);
	}
	if (saved)
		setenv("PATH", saved, 1);
	{
		static const char *const files[] = { "a/prog", "b/prog", "cwd/prog", "noexec/prog", "file", "r/prog" };

		for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++)
			unlink(at(files[i]));
		for (size_t i = sizeof(dirs) / sizeof(dirs[0]); i-- > 0;)
			rmdir(at(dirs[i]));
		rmdir(dir);
	}
	free(saved);
	return done();
}
