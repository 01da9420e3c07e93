// SPDX-License-Identifier: MIT
/*
 * The fd actions under every engine: dup2 (and dup2(fd, fd) clearing
 * close-on-exec), close, open (flags, mode, and glibc's O_CLOEXEC behaviour),
 * closefrom; the library's own fds (the fork engine's report pipe) surviving
 * a closefrom and a dup2 onto their number; a bad fd failing with -EBADF at
 * the right step; a builder refusing a negative fd.  What the child has is
 * read from the state helper's dump of its fds at exec.
 */
#include <limits.h>
#include <stdio.h>
#include <sys/stat.h>

#include "util.h"

static char dir[] = "/tmp/fl-fd-XXXXXX";

static const char *in_dir(char *buf, size_t len, const char *name)
{
	snprintf(buf, len, "%s/%s", dir, name);
	return buf;
}

/* The lowest fd not open, as open() would pick it. */
static int lowest_free(void)
{
	int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);

	close(fd);
	return fd;
}

static void test_dup2(int e)
{
	const char *E = fl_engine_name(e);
	char path[PATH_MAX], out[65536], target[PATH_MAX];
	fl_spec *spec;
	fl_report rep;
	int status, ret, fds;
	int src = open(in_dir(path, sizeof(path), "src"), O_RDWR | O_CREAT | O_CLOEXEC, 0600);

	fds = fd_count();
	state_spec(&spec, e);
	ok(fl_act_dup2(fl_spec_actions(spec), src, 10, 0) == 0, "%s: dup2 added at index 0", E);
	ret = run_state(spec, NULL, out, sizeof(out), &status, &rep);
	ok(ret == 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0, "%s: dup2 %d 10: spawned (ret %d)", E, src, ret);
	ok(state_fd(out, 10, target, sizeof(target)) && !strcmp(target, path), "%s: fd 10 is the file", E);
	ok(strstr(out, "fd.10=") && strstr(strstr(out, "fd.10="), "cloexec=0"), "%s: fd 10 without close-on-exec", E);
	ok(!state_fd(out, src, NULL, 0), "%s: the close-on-exec source %d is not inherited", E, src);
	fl_spec_free(spec);

	/* dup2(fd, fd) does nothing in the kernel; POSIX says it clears the flag. */
	state_spec(&spec, e);
	ok(fl_act_dup2(fl_spec_actions(spec), src, src, 0) == 0, "%s: dup2 %d %d added", E, src, src);
	ret = run_state(spec, NULL, out, sizeof(out), &status, &rep);
	ok(ret == 0 && state_fd(out, src, target, sizeof(target)) && !strcmp(target, path),
	   "%s: dup2(fd, fd) clears close-on-exec: fd %d inherited (ret %d)", E, src, ret);
	fl_spec_free(spec);
	close(src);
	check_clean(E, fds - 1);
}

static void test_close(int e)
{
	const char *E = fl_engine_name(e);
	char path[PATH_MAX], out[65536];
	fl_spec *spec;
	fl_report rep;
	int status, ret, fds;
	int keep = open(in_dir(path, sizeof(path), "src"), O_RDONLY);	/* inherited */

	fds = fd_count();
	state_spec(&spec, e);
	ret = run_state(spec, NULL, out, sizeof(out), &status, &rep);
	ok(ret == 0 && state_fd(out, keep, NULL, 0), "%s: an fd without close-on-exec is inherited (ret %d)", E, ret);
	ok(fl_act_close(fl_spec_actions(spec), keep, 0) == 0, "%s: close added", E);
	ret = run_state(spec, NULL, out, sizeof(out), &status, &rep);
	ok(ret == 0 && !state_fd(out, keep, NULL, 0) && state_fd(out, 0, NULL, 0),
	   "%s: close %d: not inherited, fd 0 still is (ret %d)", E, keep, ret);
	fl_spec_free(spec);
	close(keep);
	check_clean(E, fds - 1);
}

static void test_open(int e)
{
	const char *E = fl_engine_name(e);
	char path[PATH_MAX], other[PATH_MAX], out[65536], target[PATH_MAX], val[64];
	fl_spec *spec;
	fl_report rep;
	struct stat st;
	int status, ret, fds = fd_count(), fd, low;
	mode_t old_umask;

	/* Flags and mode: created under the caller's umask, truncated, appending. */
	in_dir(path, sizeof(path), "opened");
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	ok(write(fd, "old contents", 12) == 12, "%s: a file with contents", E);
	close(fd);
	unlink(path);
	state_spec(&spec, e);
	ok(fl_act_open(fl_spec_actions(spec), 12, path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND, 0666, 0) == 0,
	   "%s: open added", E);
	old_umask = umask(027);
	ret = run_state(spec, NULL, out, sizeof(out), &status, &rep);
	umask(old_umask);
	ok(ret == 0 && state_fd(out, 12, target, sizeof(target)) && !strcmp(target, path),
	   "%s: open 12: the file is fd 12 (ret %d)", E, ret);
	ok(state_get(out, "fdflags.12", val, sizeof(val)) &&
	   (strtol(val, NULL, 8) & O_ACCMODE) == O_WRONLY && (strtol(val, NULL, 8) & O_APPEND),
	   "%s: fd 12 is write-only and appending (flags %s)", E, val);
	ok(strstr(out, "fd.12=") && strstr(strstr(out, "fd.12="), "cloexec=0"), "%s: fd 12 not close-on-exec", E);
	ok(stat(path, &st) == 0 && (st.st_mode & 0777) == 0640, "%s: created 0666 under umask 027: %o", E,
	   st.st_mode & 0777);
	fl_spec_free(spec);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	ok(write(fd, "old contents", 12) == 12, "%s: contents again", E);
	close(fd);
	state_spec(&spec, e);
	fl_act_open(fl_spec_actions(spec), 12, path, O_WRONLY | O_TRUNC, 0, 0);
	ret = run_state(spec, NULL, out, sizeof(out), &status, &rep);
	ok(ret == 0 && stat(path, &st) == 0 && st.st_size == 0, "%s: O_TRUNC truncated (ret %d, size %lld)", E, ret,
	   (long long)st.st_size);
	fl_spec_free(spec);

	/* Onto an fd the caller has open: the new file replaces it. */
	fd = open(in_dir(other, sizeof(other), "src"), O_RDONLY);
	state_spec(&spec, e);
	fl_act_open(fl_spec_actions(spec), fd, path, O_RDONLY, 0, 0);
	ret = run_state(spec, NULL, out, sizeof(out), &status, &rep);
	ok(ret == 0 && state_fd(out, fd, target, sizeof(target)) && !strcmp(target, path),
	   "%s: open onto the open fd %d replaces it (ret %d)", E, fd, ret);
	fl_spec_free(spec);
	close(fd);

	/*
	 * O_CLOEXEC as glibc has it: the target is closed, the file opened, and
	 * moved to the target with dup2 only if it did not land there.  So at a
	 * number above the lowest free fd the fd is inherited (dup2 cleared the
	 * flag); at the lowest free number (here: an open fd, closed first) it
	 * keeps close-on-exec and the program does not get it.
	 */
	state_spec(&spec, e);
	fl_act_open(fl_spec_actions(spec), 20, path, O_RDONLY | O_CLOEXEC, 0, 0);
	ret = run_state(spec, NULL, out, sizeof(out), &status, &rep);
	ok(ret == 0 && state_fd(out, 20, target, sizeof(target)) && !strcmp(target, path),
	   "%s: O_CLOEXEC open at 20 (not the lowest free): inherited, as glibc (ret %d)", E, ret);
	fl_spec_free(spec);
	low = lowest_free();
	fd = open(in_dir(other, sizeof(other), "src"), O_RDONLY);	/* lands at LOW */
	state_spec(&spec, e);
	fl_act_open(fl_spec_actions(spec), fd, path, O_RDONLY | O_CLOEXEC, 0, 0);
	ret = run_state(spec, NULL, out, sizeof(out), &status, &rep);
	ok(fd == low && ret == 0 && !state_fd(out, fd, NULL, 0),
	   "%s: O_CLOEXEC open onto the open fd %d, lowest once closed: lands there, closed at exec, as glibc (ret %d)",
	   E, fd, ret);
	fl_spec_free(spec);
	close(fd);

	/* A file that cannot be opened: the step's errno and index. */
	state_spec(&spec, e);
	fl_act_chdir(fl_spec_actions(spec), "/", 0);
	fl_act_open(fl_spec_actions(spec), 12, "/nonexistent/file", O_RDONLY, 0, 0);
	ret = run_state(spec, NULL, out, sizeof(out), &status, &rep);
	ok(ret == -ENOENT && rep.error == ENOENT && step_is(e, rep.step, 1),
	   "%s: open of a missing file: -ENOENT at step 1 (ret %d step %d)", E, ret, rep.step);
	fl_spec_free(spec);
	check_clean(E, fds);
}

static void test_closefrom(int e)
{
	const char *E = fl_engine_name(e);
	char out[65536];
	fl_spec *spec;
	fl_report rep;
	int status, ret, fds = fd_count(), idx;
	int null = open("/dev/null", O_RDONLY);

	dup2(null, 40);
	dup2(null, 41);
	dup2(null, 42);
	close(null);
	state_spec(&spec, e);
	fl_act_closefrom(fl_spec_actions(spec), 41, 0);
	ret = run_state(spec, NULL, out, sizeof(out), &status, &rep);
	ok(ret == 0 && state_fd(out, 40, NULL, 0) && !state_fd(out, 41, NULL, 0) && !state_fd(out, 42, NULL, 0) &&
	   state_fd(out, 0, NULL, 0) && state_fd(out, 1, NULL, 0),
	   "%s: closefrom 41: 40 and below kept, 41 and 42 closed (ret %d)", E, ret);
	fl_spec_free(spec);

	/* The fork engine reports on a pipe: after closefrom(3) a failing step
	 * must still be reported, not taken for a successful exec. */
	state_spec(&spec, e);
	fl_act_closefrom(fl_spec_actions(spec), 3, 0);
	fl_act_chdir(fl_spec_actions(spec), "/nope", 0);
	ret = run_state(spec, NULL, out, sizeof(out), &status, &rep);
	ok(ret == -ENOENT && step_is(e, rep.step, 1),
	   "%s: closefrom 3 then a failing chdir: still reported, step 1 (ret %d step %d)", E, ret, rep.step);
	fl_spec_free(spec);

	/* The same after dup2 onto every number the library's fds could have. */
	state_spec(&spec, e);
	for (int fd = 3; fd <= 30; fd++)
		fl_act_dup2(fl_spec_actions(spec), 40, fd, 0);
	idx = fl_act_chdir(fl_spec_actions(spec), "/nope", 0);
	ret = run_state(spec, NULL, out, sizeof(out), &status, &rep);
	ok(ret == -ENOENT && step_is(e, rep.step, idx),
	   "%s: dup2 onto fds 3..30, then a failing chdir: reported at step %d (ret %d step %d)", E, idx, ret, rep.step);
	fl_spec_free(spec);
	state_spec(&spec, e);
	for (int fd = 3; fd <= 30; fd++)
		fl_act_dup2(fl_spec_actions(spec), 40, fd, 0);
	ret = run_state(spec, NULL, out, sizeof(out), &status, &rep);
	ok(ret == 0 && state_fd(out, 3, NULL, 0) && state_fd(out, 30, NULL, 0), "%s: dup2 onto fds 3..30: spawned (ret %d)",
	   E, ret);
	fl_spec_free(spec);
	close(40);
	close(41);
	close(42);
	check_clean(E, fds);
}

/*
 * dup2(n, n) for every n: the child must end up with the caller's fds only
 * (those it had open, close-on-exec or not), never one of the library's: the
 * report pipe of the fork engine is not the caller's fd, and clearing its
 * close-on-exec would also make the spawn wait for the program to exit.
 */
static void test_dup2_self_all(int e)
{
	const char *E = fl_engine_name(e);
	char out[65536], what[64];
	fl_spec *spec;
	fl_report rep;
	int status, ret, fds = fd_count(), extra = 0, missing = 0;

	state_spec(&spec, e);
	for (int fd = 3; fd <= 30; fd++)
		fl_act_dup2(fl_spec_actions(spec), fd, fd, FL_HARD);
	ret = run_state(spec, NULL, out, sizeof(out), &status, &rep);
	if (!cannot_express(e, ret, "a hard (failure-ignored) step")) {
		for (int fd = 3; fd <= 30; fd++) {
			int mine = fcntl(fd, F_GETFD) >= 0, theirs = state_fd(out, fd, NULL, 0);

			/* The helper's own listing fd is not in the dump. */
			extra += theirs && !mine;
			missing += mine && !theirs;
			if (theirs && !mine)
				diag("%s: fd %d in the child is not the caller's: %s", E, fd,
				     state_fd(out, fd, what, sizeof(what)) ? what : "?");
		}
		ok(ret == 0 && !extra && !missing,
		   "%s: dup2(n, n) for n in 3..30 (hard): the caller's fds, no others (ret %d, %d extra, %d missing)", E,
		   ret, extra, missing);
	}
	fl_spec_free(spec);
	check_clean(E, fds);
}

static void test_bad_fd(int e)
{
	const char *E = fl_engine_name(e);
	char out[65536];
	fl_spec *spec;
	fl_report rep;
	int status, ret, fds = fd_count(), idx;

	state_spec(&spec, e);
	fl_act_chdir(fl_spec_actions(spec), "/", 0);
	fl_act_dup2(fl_spec_actions(spec), 1, 11, 0);
	idx = fl_act_dup2(fl_spec_actions(spec), 99, 10, 0);
	fl_act_chdir(fl_spec_actions(spec), "/nope", 0);
	ret = run_state(spec, NULL, out, sizeof(out), &status, &rep);
	ok(idx == 2 && ret == -EBADF && rep.error == EBADF &&
	   step_is(e, rep.step, 2),
	   "%s: dup2 from the closed fd 99: -EBADF at step 2 (ret %d step %d)", E, ret, rep.step);
	fl_spec_free(spec);

	state_spec(&spec, e);
	fl_act_umask(fl_spec_actions(spec), 022, FL_HARD);
	fl_act_fchdir(fl_spec_actions(spec), 99, 0);
	ret = run_state(spec, NULL, out, sizeof(out), &status, &rep);
	if (!cannot_express(e, ret, "umask"))
		ok(ret == -EBADF && rep.step == 1, "%s: fchdir to the closed fd 99: -EBADF at step 1 (ret %d step %d)", E,
		   ret, rep.step);
	fl_spec_free(spec);
	check_clean(E, fds);
}

static void test_builder(void)
{
	fl_actions *acts;

	ok(fl_actions_new(&acts) == 0, "builder: a list");
	ok(fl_act_dup2(acts, -1, 3, 0) == -EBADF, "builder: dup2 from -1: -EBADF");
	ok(fl_act_dup2(acts, 3, -1, 0) == -EBADF, "builder: dup2 onto -1: -EBADF");
	ok(fl_act_close(acts, -1, 0) == -EBADF, "builder: close -1: -EBADF");
	ok(fl_act_open(acts, -2, "/dev/null", O_RDONLY, 0, 0) == -EBADF, "builder: open onto -2: -EBADF");
	ok(fl_act_fchdir(acts, -1, 0) == -EBADF, "builder: fchdir -1: -EBADF");
	ok(fl_act_closefrom(acts, -1, 0) == -EBADF, "builder: closefrom -1: -EBADF");
	ok(fl_act_tcsetpgrp(acts, -1, 0) == -EBADF, "builder: tcsetpgrp -1: -EBADF");
	ok(fl_act_cgroup(acts, -1, 0) == -EBADF, "builder: cgroup -1: -EBADF");
	ok(fl_actions_count(acts) == 0, "builder: nothing was added");
	ok(fl_act_dup2(acts, 0, 0, 0) == 0 && fl_act_close(acts, 5, FL_HARD) == 1, "builder: fd 0 is valid");
	fl_actions_free(acts);
}

int main(void)
{
	char path[PATH_MAX];
	int fd;

	if (!mkdtemp(dir)) {
		diag("mkdtemp: %s", strerror(errno));
		return 1;
	}
	fd = open(in_dir(path, sizeof(path), "src"), O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
	close(fd);
	test_builder();
	for_each_engine(e) {
		test_dup2(e);
		test_close(e);
		test_open(e);
		test_closefrom(e);
		test_dup2_self_all(e);
		test_bad_fd(e);
	}
	unlink(in_dir(path, sizeof(path), "src"));
	unlink(in_dir(path, sizeof(path), "opened"));
	rmdir(dir);
	return done();
}
