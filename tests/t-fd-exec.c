// SPDX-License-Identifier: MIT
/*
 * The program given by fd (fl_spec_set_fd: execveat with AT_EMPTY_PATH),
 * under every engine: it runs, from an O_RDONLY or an O_PATH fd, after the
 * caller closed its own; the template's copy of the fd is close-on-exec in
 * the caller and never reaches the child, not even through a closefrom, a
 * dup2 onto its number or a dup2(n, n); a script run this way fails with
 * ENOENT (its interpreter cannot reopen it), as documented.
 */
#include <limits.h>
#include <stdio.h>
#include <sys/stat.h>

#include "util.h"

/* The fds of this process that point at PATH: their count, the last in *FD. */
static int fds_on(const char *path, int *fd)
{
	int n = 0;

	for (int i = 0; i < 1024; i++) {
		char link[64], target[PATH_MAX];
		ssize_t len;

		snprintf(link, sizeof(link), "/proc/self/fd/%d", i);
		len = readlink(link, target, sizeof(target) - 1);
		if (len <= 0)
			continue;
		target[len] = 0;
		if (!strcmp(target, path)) {
			*fd = i;
			n++;
		}
	}
	return n;
}

/* 1 if the state dump lists an fd pointing at PATH. */
static int child_has(const char *state, const char *path)
{
	char want[PATH_MAX + 2];

	snprintf(want, sizeof(want), "=%s ", path);
	return strstr(state, want) != NULL;
}

/* A template for engine E running PATH through an fd opened with OFLAG (the
 * caller's own fd closed again); the template's copy in *COPY.  0 or -errno. */
static int fd_spec(fl_spec **spec, int e, const char *path, int oflag, int *copy)
{
	int fd = open(path, oflag | O_CLOEXEC), ret;

	fl_spec_new(spec);
	fl_spec_set_engine(*spec, e);
	ret = fl_spec_set_fd(*spec, fd);
	if (fd >= 0)
		close(fd);
	*copy = -1;
	fds_on(path, copy);
	return ret;
}

static void test_fd(int e, int oflag, const char *how)
{
	const char *E = fl_engine_name(e);
	char real[PATH_MAX], out[65536];
	fl_spec *spec;
	fl_report rep;
	int status, ret, fds, copy = -1;

	realpath(helper_path(), real);
	fds = fd_count();
	ok(fd_spec(&spec, e, real, oflag, &copy) == 0, "%s: fl_spec_set_fd (%s)", E, how);
	ok(fl_spec_path(spec) == NULL, "%s: no path for an fd template", E);
	ok(fds_on(real, &copy) == 1 && (fcntl(copy, F_GETFD) & FD_CLOEXEC), "%s: the template's copy (fd %d) is close-on-exec",
	   E, copy);
	ret = run_state(spec, NULL, out, sizeof(out), &status, &rep);
	if (cannot_express(e, ret, "a program given by fd")) {
		fl_spec_free(spec);
		return;
	}
	ok(ret == 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0, "%s: runs after the caller closed its fd (ret %d)", E,
	   ret);
	ok(!child_has(out, real) && !state_fd(out, copy, NULL, 0), "%s: the child does not have the template's fd", E);

	/* The fd survives steps that would close or replace it. */
	fl_act_closefrom(fl_spec_actions(spec), 3, 0);
	ret = run_state(spec, NULL, out, sizeof(out), &status, &rep);
	ok(ret == 0 && !child_has(out, real), "%s: closefrom 3 first: runs (ret %d)", E, ret);
	fl_spec_free(spec);

	fd_spec(&spec, e, real, oflag, &copy);
	fl_act_dup2(fl_spec_actions(spec), 1, copy, 0);
	ret = run_state(spec, NULL, out, sizeof(out), &status, &rep);
	ok(ret == 0 && state_fd(out, copy, NULL, 0) && !child_has(out, real),
	   "%s: dup2 onto its number (%d): runs, the number is the caller's (ret %d)", E, copy, ret);
	fl_spec_free(spec);

	fd_spec(&spec, e, real, oflag, &copy);
	fl_act_dup2(fl_spec_actions(spec), copy, copy, FL_HARD);
	ret = run_state(spec, NULL, out, sizeof(out), &status, &rep);
	ok(ret == 0 && !child_has(out, real) && !state_fd(out, copy, NULL, 0),
	   "%s: dup2(%d, %d) (hard): runs, the fd is not handed over (ret %d)", E, copy, copy, ret);
	fl_act_dup2(fl_spec_actions(spec), copy, 10, 0);
	ret = run_state(spec, NULL, out, sizeof(out), &status, &rep);
	ok(ret == -EBADF && rep.step == 1, "%s: dup2 from the template's fd: -EBADF, not the caller's (ret %d step %d)", E,
	   ret, rep.step);
	fl_spec_free(spec);
	check_clean(E, fds);
}

static void test_script(int e, const char *dir)
{
	const char *E = fl_engine_name(e);
	char path[PATH_MAX], out[65536];
	fl_spec *spec;
	fl_report rep;
	int status, ret, fds = fd_count(), copy;

	snprintf(path, sizeof(path), "%s/script", dir);
	fd_spec(&spec, e, path, O_RDONLY, &copy);
	ret = run_state(spec, NULL, out, sizeof(out), &status, &rep);
	if (!cannot_express(e, ret, "a program given by fd"))
		ok(ret == -ENOENT && rep.step == FL_STEP_EXEC,
		   "%s: a script by fd: -ENOENT at exec, as documented (ret %d step %d)", E, ret, rep.step);
	fl_spec_free(spec);
	check_clean(E, fds);
}

int main(void)
{
	char dir[] = "/tmp/fl-fdexec-XXXXXX", path[PATH_MAX];
	fl_spec *spec;
	int fd;

	if (!fl_feature(FL_FEAT_EXECVEAT)) {
		skip("the kernel has no execveat (Linux 3.19)", "fd templates");
		return done();
	}
	mkdtemp(dir);
	snprintf(path, sizeof(path), "%s/script", dir);
	write_file(path, "#!/bin/sh\nexit 0\n", 0755);

	fl_spec_new(&spec);
	ok(fl_spec_set_fd(spec, -1) == -EBADF, "fl_spec_set_fd(-1): -EBADF");
	ok(fl_spec_set_fd(spec, 999) == -EBADF, "fl_spec_set_fd of a closed fd: -EBADF");
	ok(fl_spec_set_fd(NULL, 0) == -EINVAL, "fl_spec_set_fd without a template: -EINVAL");
	fd = fd_count();
	fl_spec_set_fd(spec, 0);
	fl_spec_set_path(spec, "/bin/true");
	ok(fd_count() == fd, "a path set after an fd releases the fd");
	fl_spec_free(spec);

	for_each_engine(e) {
		test_fd(e, O_RDONLY, "O_RDONLY");
		test_fd(e, O_PATH, "O_PATH");
		test_script(e, dir);
	}
	unlink(path);
	rmdir(dir);
	return done();
}
