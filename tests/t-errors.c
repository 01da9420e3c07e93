// SPDX-License-Identifier: MIT
/*
 * Every error path under every engine: a missing program (ENOENT), a file
 * without execute permission (EACCES), a path through a file (ENOTDIR), a
 * file that is no program (ENOEXEC, and the /bin/sh retry when asked for),
 * an argv too big (E2BIG), a template with no program (EINVAL), fds or
 * processes exhausted in the parent; the report (errno, step) and its
 * formatted text;
 * after each: no fd left open, no zombie.
 */
#include <limits.h>
#include <stdio.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include "util.h"

static char dir[] = "/tmp/fl-err-XXXXXX";

static const char *in_dir(char *buf, size_t len, const char *name)
{
	snprintf(buf, len, "%s/%s", dir, name);
	return buf;
}

static void make_file(const char *name, const char *contents, mode_t mode)
{
	char path[PATH_MAX];

	write_file(in_dir(path, sizeof(path), name), contents, mode);
}

/* Spawns PATH and expects failure -ERR at exec.  For posix the step is unknown. */
static void expect_exec_error(int e, const char *path, int err, const char *what)
{
	const char *E = fl_engine_name(e);
	fl_spec *spec;
	fl_child child;
	fl_report rep;
	int fds = fd_count(), ret;

	fl_spec_new(&spec);
	fl_spec_set_engine(spec, e);
	fl_spec_set_path(spec, path);
	ret = spawn_exec(spec, NULL, &child, &rep);
	if (ret == 0)	/* wrong, but leave no zombie behind */
		fl_child_wait(&child, NULL);
	ok(ret == -err && rep.error == err &&
	   step_is(e, rep.step, FL_STEP_EXEC),
	   "%s: %s: -%s at exec (ret %d, error %d, step %d)", E, what, strerrorname_np(err), ret, rep.error, rep.step);
	fl_spec_free(spec);
	check_clean(what, fds);
}

static void test_exec_errors(int e)
{
	const char *E = fl_engine_name(e);
	char path[PATH_MAX], buf[512];
	fl_spec *spec;
	fl_report rep;
	int status = -1, ret, fds;

	expect_exec_error(e, "/nonexistent/program", ENOENT, "missing program");
	expect_exec_error(e, in_dir(path, sizeof(path), "noexec"), EACCES, "file without x permission");
	expect_exec_error(e, "/etc/passwd/x", ENOTDIR, "path through a file");
	expect_exec_error(e, dir, EACCES, "a directory");
	expect_exec_error(e, in_dir(path, sizeof(path), "garbage"), ENOEXEC, "garbage file, no shebang");
	expect_exec_error(e, in_dir(path, sizeof(path), "script"), ENOEXEC, "script without shebang, no flag");
	expect_exec_error(e, in_dir(path, sizeof(path), "badinterp"), ENOENT, "script whose interpreter is missing");

	/* With FL_SPEC_ENOEXEC_SH the script runs through /bin/sh, as execvp would. */
	fds = fd_count();
	fl_spec_new(&spec);
	fl_spec_set_engine(spec, e);
	fl_spec_set_path(spec, in_dir(path, sizeof(path), "script"));
	ok(fl_spec_set_flags(spec, FL_SPEC_ENOEXEC_SH) == 0, "%s: FL_SPEC_ENOEXEC_SH set", E);
	fl_act_open(fl_spec_actions(spec), 2, "/dev/null", O_WRONLY, 0, 0);	/* sh's complaints */
	ret = spawn_wait(spec, NULL, &status, &rep);
	if (!cannot_express(e, ret, "the /bin/sh retry")) {
		ok(ret == 0 && WIFEXITED(status) && WEXITSTATUS(status) == 7,
		   "%s: script without shebang runs via /bin/sh: exit 7 (ret %d status 0x%x)", E, ret, status);
		/* A long argv (the library builds sh's argv on the heap past 64). */
		{
			char *argv[80];

			argv[0] = (char *)"script";
			for (int i = 1; i < 79; i++)
				argv[i] = (char *)"x";
			argv[79] = NULL;
			ret = spawn_wait(spec, &(fl_spawn_args){ .argv = argv }, &status, &rep);
			ok(ret == 0 && WIFEXITED(status) && WEXITSTATUS(status) == 7,
			   "%s: ... with 79 arguments too (ret %d status 0x%x)", E, ret, status);
		}
		fl_spec_set_path(spec, in_dir(path, sizeof(path), "args"));
		ret = spawn_wait(spec, &(fl_spawn_args){ .argv = (char *[]){ "args", "a", "b", "c", NULL } }, &status, &rep);
		ok(ret == 0 && WIFEXITED(status) && WEXITSTATUS(status) == 3,
		   "%s: via /bin/sh, the arguments after argv[0] reach the script: $# is 3 (status 0x%x)", E, status);
		fl_spec_set_path(spec, in_dir(path, sizeof(path), "garbage"));
		ret = spawn_wait(spec, NULL, &status, &rep);
		ok(ret == 0 && WIFEXITED(status) && WEXITSTATUS(status) != 0,
		   "%s: a garbage file via /bin/sh: sh runs and fails (ret %d, exit %d)", E, ret,
		   WIFEXITED(status) ? WEXITSTATUS(status) : -1);
	}
	fl_spec_free(spec);
	check_clean(E, fds);

	/* The report's text for exec. */
	fl_spec_new(&spec);
	fl_spec_set_engine(spec, e);
	fl_spec_set_path(spec, "/nonexistent/program");
	ret = spawn_wait(spec, NULL, &status, &rep);
	fl_report_format(spec, NULL, &rep, buf, sizeof(buf));
	ok(!strcmp(buf, e == FL_ENGINE_POSIX ? "setup or exec of \"/nonexistent/program\": No such file or directory"
					     : "exec \"/nonexistent/program\": No such file or directory"),
	   "%s: formatted: %s", E, buf);
	fl_spec_free(spec);
}

static void test_e2big(int e)
{
	const char *E = fl_engine_name(e);
	size_t big = 200 * 1024;	/* over MAX_ARG_STRLEN (32 pages) */
	char *arg = malloc(big + 1), **many = calloc(42, sizeof(char *));
	char *argv[] = { (char *)"true", arg, NULL };
	fl_spec *spec;
	fl_report rep;
	int fds = fd_count(), ret, status;

	memset(arg, 'x', big);
	arg[big] = 0;
	fl_spec_new(&spec);
	fl_spec_set_engine(spec, e);
	fl_spec_set_path(spec, "/bin/true");
	ret = spawn_wait(spec, &(fl_spawn_args){ .argv = argv }, &status, &rep);
	ok(ret == -E2BIG && step_is(e, rep.step, FL_STEP_EXEC),
	   "%s: one argument of 200 KiB: -E2BIG at exec (ret %d step %d)", E, ret, rep.step);
	/* 40 of 100 KiB: 4 MB, over a quarter of the 8 MiB stack limit. */
	arg[100 * 1024] = 0;
	many[0] = (char *)"true";
	for (int i = 1; i < 41; i++)
		many[i] = arg;
	ret = spawn_wait(spec, &(fl_spawn_args){ .argv = many }, &status, &rep);
	ok(ret == -E2BIG, "%s: 4 MB of arguments: -E2BIG (ret %d)", E, ret);
	/* The template's own argv can be too big just the same. */
	arg[100 * 1024] = 'x';
	fl_spec_set_argv(spec, argv);
	ret = spawn_wait(spec, NULL, &status, &rep);
	ok(ret == -E2BIG, "%s: a template argv of 200 KiB: -E2BIG (ret %d)", E, ret);
	fl_spec_free(spec);
	free(arg);
	free(many);
	check_clean(E, fds);
}

static void test_steps(int e)
{
	const char *E = fl_engine_name(e);
	char buf[512], want[512];
	fl_spec *spec;
	fl_actions *call;
	fl_report rep;
	int fds = fd_count(), ret, status;

	/* A failing step of the template, and its text. */
	fl_spec_new(&spec);
	fl_spec_set_engine(spec, e);
	fl_spec_set_path(spec, "/bin/true");
	fl_act_dup2(fl_spec_actions(spec), 2, 20, 0);
	fl_act_chdir(fl_spec_actions(spec), "/nope", 0);
	ret = spawn_wait(spec, NULL, &status, &rep);
	fl_report_format(spec, NULL, &rep, buf, sizeof(buf));
	ok(ret == -ENOENT && rep.error == ENOENT, "%s: chdir /nope: -ENOENT (ret %d)", E, ret);
	ok(!strcmp(buf, e == FL_ENGINE_POSIX ? "setup or exec of \"/bin/true\": No such file or directory"
					     : "step 1 (chdir \"/nope\"): No such file or directory"),
	   "%s: formatted: %s", E, buf);

	/* A failing step of the call: numbered after the template's two. */
	fl_spec_free(spec);
	fl_spec_new(&spec);
	fl_spec_set_engine(spec, e);
	fl_spec_set_path(spec, "/bin/true");
	fl_act_dup2(fl_spec_actions(spec), 2, 20, 0);
	fl_act_chdir(fl_spec_actions(spec), "/", 0);
	fl_actions_new(&call);
	fl_act_close(call, 20, 0);
	fl_act_dup2(call, 99, 21, 0);
	ret = spawn_wait(spec, &(fl_spawn_args){ .actions = call }, &status, &rep);
	fl_report_format(spec, &(fl_spawn_args){ .actions = call }, &rep, buf, sizeof(buf));
	ok(ret == -EBADF && step_is(e, rep.step, 3),
	   "%s: the call's second step fails: step 3 (ret %d step %d)", E, ret, rep.step);
	snprintf(want, sizeof(want), "%s", e == FL_ENGINE_POSIX ? "setup or exec of \"/bin/true\": Bad file descriptor"
								  : "step 3 (dup2 99 21): Bad file descriptor");
	ok(!strcmp(buf, want), "%s: formatted: %s", E, buf);
	/* The call's list is not consumed: a second spawn fails alike. */
	ret = spawn_wait(spec, &(fl_spawn_args){ .actions = call }, &status, &rep);
	ok(ret == -EBADF, "%s: the same spawn again fails the same way (ret %d)", E, ret);
	fl_actions_free(call);
	fl_spec_free(spec);
	check_clean(E, fds);
}

static void test_invalid(int e)
{
	const char *E = fl_engine_name(e);
	fl_spec *spec;
	fl_child child;
	fl_report rep = { 99, 99 };
	char buf[256];
	int fds = fd_count(), ret;

	fl_spec_new(&spec);
	fl_spec_set_engine(spec, e);
	ret = fl_spawn(spec, NULL, &child, &rep);
	ok(ret == -EINVAL && rep.error == EINVAL && rep.step == FL_STEP_SPAWN,
	   "%s: a template with no program: -EINVAL at spawn (ret %d step %d)", E, ret, rep.step);
	fl_report_format(spec, NULL, &rep, buf, sizeof(buf));
	ok(!strcmp(buf, "spawn \"?\": Invalid argument"), "%s: formatted: %s", E, buf);
	ok(fl_spawn(spec, NULL, NULL, &rep) == -EINVAL, "%s: no child handle: -EINVAL", E);
	fl_spec_set_path(spec, "/bin/true");
	ok(fl_spawn(spec, NULL, NULL, NULL) == -EINVAL, "%s: no child handle, no report: -EINVAL", E);
	fl_spec_free(spec);
	check_clean(E, fds);
}

/*
 * No fd left to make a pidfd or a pipe with: the spawn fails cleanly with
 * EMFILE at spawn, or runs without a pidfd (an engine that needs no fd to
 * make the process); either way nothing is left behind.
 */
static void test_no_fds(int e)
{
	const char *E = fl_engine_name(e);
	struct rlimit old, low;
	fl_spec *spec;
	fl_child child;
	fl_report rep;
	int fds, ret, status = -1, top = 0, null, filled[1024], nfilled = 0;

	fl_spec_new(&spec);
	fl_spec_set_engine(spec, e);
	fl_spec_set_path(spec, "/bin/true");
	fds = fd_count();
	null = open("/dev/null", O_RDONLY | O_CLOEXEC);
	for (int fd = 0; fd < 1024; fd++)
		if (fcntl(fd, F_GETFD) >= 0)
			top = fd;
	for (int fd = 0; fd <= top; fd++)	/* fill the holes */
		if (fcntl(fd, F_GETFD) < 0 && dup3(null, fd, O_CLOEXEC) == fd)
			filled[nfilled++] = fd;
	getrlimit(RLIMIT_NOFILE, &old);
	low = old;
	low.rlim_cur = top + 1;	/* every fd number is taken or over the limit */
	setrlimit(RLIMIT_NOFILE, &low);
	ret = fl_spawn(spec, NULL, &child, &rep);
	if (ret == 0)
		ret = fl_child_wait(&child, &status);
	setrlimit(RLIMIT_NOFILE, &old);
	for (int i = 0; i < nfilled; i++)
		close(filled[i]);
	close(null);
	ok((ret == 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0) ||
	   (ret == -EMFILE && rep.error == EMFILE && rep.step == FL_STEP_SPAWN),
	   "%s: no fd free: runs without a pidfd, or -EMFILE at spawn (ret %d step %d)", E, ret, rep.step);
	fl_spec_free(spec);
	check_clean(E, fds);
}

/*
 * No process may be made (RLIMIT_NPROC reached): every engine answers
 * -EAGAIN at the spawn step, with no fd and no zombie left.  Root is not
 * held to the limit, so a forked process drops to nobody first; it reports
 * each engine's outcome on a pipe, and we write the TAP lines.
 */
struct nproc_result {
	int engine, ret, step, clean;
};

static void test_no_procs(void)
{
	struct nproc_result r;
	int fd, status = -1, n = 0;
	pid_t pid = fork_piped(&fd);

	if (pid < 0)
		return;
	if (pid == 0) {
		struct rlimit one = { 1, 1 };

		if ((geteuid() == 0 && (setresgid(65534, 65534, 65534) < 0 || setresuid(65534, 65534, 65534) < 0)) ||
		    setrlimit(RLIMIT_NPROC, &one) < 0)
			_exit(2);
		for (int e = FL_ENGINE_AUTO + 1; e < FL_ENGINE_COUNT; e++) {
			fl_spec *spec;
			fl_child child;
			fl_report rep = { 0, 0 };
			int fds = fd_count();

			if (fl_engine_supported(e) < 0 || !engine_wanted(e))
				continue;
			fl_spec_new(&spec);
			fl_spec_set_engine(spec, e);
			fl_spec_set_path(spec, "/bin/true");
			r = (struct nproc_result){ e, fl_spawn(spec, NULL, &child, &rep), rep.step, 0 };
			if (r.ret == 0)
				fl_child_wait(&child, NULL);
			fl_spec_free(spec);
			r.clean = fd_count() == fds && !has_zombie();
			if (write(fd, &r, sizeof(r)) != sizeof(r))
				_exit(3);
		}
		_exit(0);
	}
	while (read(fd, &r, sizeof(r)) == sizeof(r)) {
		const char *E = fl_engine_name(r.engine);

		ok(r.ret == -EAGAIN && step_is(r.engine, r.step, FL_STEP_SPAWN),
		   "%s: no process may be made: -EAGAIN at spawn (ret %d step %d)", E, r.ret, r.step);
		ok(r.clean, "%s: no process may be made: no fd leaked, no zombie", E);
		n++;
	}
	close(fd);
	waitpid(pid, &status, 0);
	ok(WIFEXITED(status) && WEXITSTATUS(status) == 0 && n > 0, "the process at its RLIMIT_NPROC tried %d engines", n);
}

int main(void)
{
	if (!mkdtemp(dir)) {
		diag("mkdtemp: %s", strerror(errno));
		return 1;
	}
	make_file("noexec", "#!/bin/sh\nexit 0\n", 0644);
	make_file("garbage", "\x7f\x01\x02 this is no program\n(\n", 0755);
	make_file("script", "exit 7\n", 0755);
	make_file("args", "exit $#\n", 0755);
	make_file("badinterp", "#!/nonexistent/interpreter\n", 0755);
	for_each_engine(e) {
		test_exec_errors(e);
		test_e2big(e);
		test_steps(e);
		test_invalid(e);
		test_no_fds(e);
	}
	test_no_procs();
	ok(fl_spawn(NULL, NULL, &(fl_child){ 0 }, NULL) == -EINVAL, "no template: -EINVAL");
	{
		char path[PATH_MAX];
		const char *names[] = { "noexec", "garbage", "script", "args", "badinterp" };

		for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
			unlink(in_dir(path, sizeof(path), names[i]));
	}
	rmdir(dir);
	return done();
}
