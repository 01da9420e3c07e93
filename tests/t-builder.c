// SPDX-License-Identifier: MIT
/*
 * The builders and the names: what fl_act_* and fl_spec_* refuse (-EINVAL,
 * -EBADF, -ENAMETOOLONG) and that a refusal adds nothing; what
 * fl_actions_describe says for each kind of step; the run order (credentials
 * grouped at the first of them, seen through which step fails);
 * fl_report_format for each kind of report; engine and feature names;
 * FORKLESS_ENGINE, read by copies of this program run with it set.
 */
#include <grp.h>
#include <limits.h>
#include <stdio.h>

#include "util.h"

static void test_validation(void)
{
	char long_path[PATH_MAX + 1], name[NAME_MAX + 2];
	struct rlimit rl = { 10, 5 };
	sigset_t set;
	cpu_set_t cpus;
	fl_actions *a;
	fl_spec *spec;

	memset(long_path, 'x', PATH_MAX);
	long_path[0] = '/';
	long_path[PATH_MAX] = 0;
	memset(name, 'n', NAME_MAX + 1);
	name[NAME_MAX + 1] = 0;
	sigemptyset(&set);
	CPU_ZERO(&cpus);
	fl_actions_new(&a);

	ok(fl_act_chdir(NULL, "/", 0) == -EINVAL, "no list: -EINVAL");
	ok(fl_act_umask(a, 022, 1u << 7) == -EINVAL, "an unknown flag: -EINVAL");
	/* Found by tests/fuzz/builders.c: a step keeps 8 bits of its flags. */
	ok(fl_act_umask(a, 022, 1u << 24) == -EINVAL && fl_act_setsid(a, 1u << 8) == -EINVAL &&
	   fl_act_open(a, 3, "/dev/null", O_RDONLY, 0, 1u << 31) == -EINVAL && fl_actions_count(a) == 0,
	   "an unknown flag above the eighth bit: -EINVAL, nothing added");
	ok(fl_act_chdir(a, NULL, 0) == -EINVAL, "chdir NULL: -EINVAL");
	ok(fl_act_chdir(a, long_path, 0) == -ENAMETOOLONG, "chdir to a path of PATH_MAX bytes: -ENAMETOOLONG");
	ok(fl_act_open(a, 3, long_path, O_RDONLY, 0, 0) == -ENAMETOOLONG, "open of a path of PATH_MAX bytes: -ENAMETOOLONG");
	ok(fl_act_open(a, 3, NULL, O_RDONLY, 0, 0) == -EINVAL, "open NULL: -EINVAL");
	ok(fl_act_dup2(a, -1, 3, 0) == -EBADF && fl_act_close(a, -1, 0) == -EBADF && fl_act_fchdir(a, -3, 0) == -EBADF,
	   "negative fds: -EBADF");
	ok(fl_act_umask(a, 01000, 0) == -EINVAL, "umask 01000: -EINVAL");
	ok(fl_act_setpgid(a, -1, 0) == -EINVAL, "setpgid -1: -EINVAL");
	ok(fl_act_priority(a, -21, 0) == -EINVAL && fl_act_priority(a, 20, 0) == -EINVAL, "nice outside -20..19: -EINVAL");
	ok(fl_act_rlimit(a, RLIMIT_NOFILE, &rl, 0) == -EINVAL, "rlimit with cur > max: -EINVAL");
	ok(fl_act_rlimit(a, -1, &(struct rlimit){ 1, 1 }, 0) == -EINVAL &&
	   fl_act_rlimit(a, RLIM_NLIMITS, &(struct rlimit){ 1, 1 }, 0) == -EINVAL,
	   "rlimit of an unknown resource: -EINVAL");
	ok(fl_act_rlimit(a, RLIMIT_NOFILE, NULL, 0) == -EINVAL, "rlimit NULL: -EINVAL");
	ok(fl_act_sigmask(a, NULL, 0) == -EINVAL && fl_act_sigdefault(a, NULL, 0) == -EINVAL, "signal sets NULL: -EINVAL");
	ok(fl_act_affinity(a, NULL, sizeof(cpus), 0) == -EINVAL && fl_act_affinity(a, &cpus, 0, 0) == -EINVAL &&
	   fl_act_affinity(a, &cpus, 3, 0) == -EINVAL,
	   "affinity NULL, size 0, odd size: -EINVAL");
	ok(fl_act_setgroups(a, 65537, (gid_t[1]){ 0 }, 0) == -EINVAL && fl_act_setgroups(a, 2, NULL, 0) == -EINVAL,
	   "setgroups of too many or NULL: -EINVAL");
	ok(fl_act_setgid(a, (gid_t)-1, 0) == -EINVAL && fl_act_setuid(a, (uid_t)-1, 0) == -EINVAL, "id -1: -EINVAL");
	ok(fl_act_pdeathsig(a, 0, 0) == -EINVAL && fl_act_pdeathsig(a, 65, 0) == -EINVAL &&
	   fl_act_pdeathsig(a, -1, 0) == -EINVAL,
	   "pdeathsig of no signal: -EINVAL");
	ok(fl_act_unshare(a, 0, 0) == -EINVAL && fl_act_unshare(a, CLONE_VM, 0) == -EINVAL &&
	   fl_act_unshare(a, CLONE_NEWUTS | CLONE_THREAD, 0) == -EINVAL,
	   "unshare of nothing or of non-namespace flags: -EINVAL");
	ok(fl_actions_count(a) == 0, "nothing was added by the refused calls");
	ok(fl_actions_count(NULL) == 0, "count(NULL): 0");
	fl_actions_free(a);
	fl_actions_free(NULL);

	fl_spec_new(&spec);
	ok(fl_spec_set_path(spec, "") == -EINVAL && fl_spec_set_path(spec, NULL) == -EINVAL, "set_path \"\" or NULL: -EINVAL");
	ok(fl_spec_set_path(spec, long_path) == -ENAMETOOLONG, "set_path of PATH_MAX bytes: -ENAMETOOLONG");
	ok(fl_spec_set_file(spec, "") == -ENOENT && fl_spec_set_file(spec, NULL) == -EINVAL, "set_file \"\": -ENOENT, NULL: -EINVAL");
	ok(fl_spec_set_file(spec, name) == -ENAMETOOLONG, "set_file of a name over NAME_MAX: -ENAMETOOLONG");
	ok(fl_spec_set_fd(spec, -1) == -EBADF, "set_fd -1: -EBADF");
	ok(fl_spec_set_flags(spec, 1u << 9) == -EINVAL, "set_flags with an unknown flag: -EINVAL");
	ok(fl_spec_set_engine(spec, -1) == -EINVAL && fl_spec_set_engine(spec, FL_ENGINE_COUNT) == -EINVAL,
	   "set_engine out of range: -EINVAL");
	for (int e = 0; e < FL_ENGINE_COUNT; e++)
		ok(fl_spec_set_engine(spec, e) == fl_engine_supported(e), "set_engine %s: %d, as fl_engine_supported",
		   fl_engine_name(e), fl_engine_supported(e));
	ok(fl_spec_path(spec) == NULL && fl_spec_path(NULL) == NULL, "no path yet");
	ok(fl_spec_set_path(spec, "/bin/true") == 0 && !strcmp(fl_spec_path(spec), "/bin/true"), "set_path");
	ok(fl_spec_actions(NULL) == NULL && fl_spec_actions(spec) != NULL, "fl_spec_actions");
	ok(fl_spec_set_argv(NULL, NULL) == -EINVAL && fl_spec_set_envp(NULL, NULL) == -EINVAL, "argv/envp without a template");
	fl_spec_free(spec);
	fl_spec_free(NULL);
}

static void test_describe(void)
{
	fl_actions *a;
	sigset_t set;
	cpu_set_t cpus;
	char buf[256];
	int idx[32], n = 0;
	static const char *const want[] = {
		"dup2 3 10", "close 4", "open 5 \"/dev/null\"", "chdir \"/nope\"", "fchdir 6", "closefrom 7",
		"umask 027", "setsid", "setpgid 0", "tcsetpgrp 8", "sigmask", "sigdefault", "rlimit 7",
		"priority 5", "affinity", "setuid 1000", "pdeathsig 9", "setgroups", "setgid 100",
		"no_new_privs", "unshare 0x4000000", "cgroup 9",
	};

	sigemptyset(&set);
	CPU_ZERO(&cpus);
	CPU_SET(0, &cpus);
	fl_actions_new(&a);
	idx[n++] = fl_act_dup2(a, 3, 10, 0);
	idx[n++] = fl_act_close(a, 4, FL_HARD);
	idx[n++] = fl_act_open(a, 5, "/dev/null", O_RDONLY, 0, 0);
	idx[n++] = fl_act_chdir(a, "/nope", 0);
	idx[n++] = fl_act_fchdir(a, 6, 0);
	idx[n++] = fl_act_closefrom(a, 7, 0);
	idx[n++] = fl_act_umask(a, 027, 0);
	idx[n++] = fl_act_setsid(a, 0);
	idx[n++] = fl_act_setpgid(a, 0, 0);
	idx[n++] = fl_act_tcsetpgrp(a, 8, 0);
	idx[n++] = fl_act_sigmask(a, &set, 0);
	idx[n++] = fl_act_sigdefault(a, &set, 0);
	idx[n++] = fl_act_rlimit(a, RLIMIT_NOFILE, &(struct rlimit){ 1, 2 }, 0);
	idx[n++] = fl_act_priority(a, 5, 0);
	idx[n++] = fl_act_affinity(a, &cpus, sizeof(cpus), 0);
	idx[n++] = fl_act_setuid(a, 1000, 0);
	idx[n++] = fl_act_pdeathsig(a, SIGKILL, 0);
	idx[n++] = fl_act_setgroups(a, 1, (gid_t[]){ 100 }, 0);
	idx[n++] = fl_act_setgid(a, 100, 0);
	idx[n++] = fl_act_no_new_privs(a, 0);
	idx[n++] = fl_act_unshare(a, CLONE_NEWUTS, 0);
	idx[n++] = fl_act_cgroup(a, 9, 0);
	ok(fl_actions_count(a) == n, "%d steps added", n);
	/* Indexes are the order of addition, whatever order the child runs them in. */
	for (int i = 0; i < n; i++) {
		int len = fl_actions_describe(a, i, buf, sizeof(buf));

		ok(idx[i] == i && len == (int)strlen(want[i]) && !strcmp(buf, want[i]), "describe %d: %s", i, buf);
	}
	ok(fl_actions_describe(a, n, buf, sizeof(buf)) == -ERANGE && fl_actions_describe(a, -1, buf, sizeof(buf)) == -ERANGE,
	   "describe out of range: -ERANGE");
	ok(fl_actions_describe(a, 3, NULL, 0) == (int)strlen("chdir \"/nope\""), "describe with no buffer: the length");
	ok(fl_actions_describe(a, 3, buf, 6) == (int)strlen("chdir \"/nope\"") && !strcmp(buf, "chdir"),
	   "describe into a small buffer: truncated, the full length");
	fl_actions_free(a);
}

/*
 * The run order, seen through which step fails, as a user without the
 * privilege: [0] chdir, [1] setuid, [2] umask, [3] setgroups.  Credentials
 * run as one group at the place of the first, setgroups first: the failure
 * is setgroups' (step 3), not setuid's (step 1).
 */
static void test_order(int e)
{
	const char *E = fl_engine_name(e);
	int status = -1;
	pid_t pid;

	fflush(stdout);
	pid = fork();
	if (pid == 0) {
		fl_spec *spec;
		fl_child child;
		fl_report rep;
		int ret;

		if (geteuid() == 0 && (setgroups(0, NULL) < 0 || setgid(65534) < 0 || setuid(65534) < 0))
			_exit(100);
		fl_spec_new(&spec);
		fl_spec_set_engine(spec, e);
		fl_spec_set_path(spec, "/bin/true");
		fl_act_chdir(fl_spec_actions(spec), "/", 0);
		fl_act_setuid(fl_spec_actions(spec), 54321, 0);
		fl_act_umask(fl_spec_actions(spec), 022, 0);
		fl_act_setgroups(fl_spec_actions(spec), 1, (gid_t[]){ 54321 }, 0);
		ret = spawn_exec(spec, NULL, &child, &rep);
		if (ret == -ENOTSUP)
			_exit(101);
		if (ret == 0) {
			fl_child_wait(&child, NULL);
			_exit(102);
		}
		_exit(ret == -EPERM && rep.step >= 0 ? rep.step : 103);
	}
	waitpid(pid, &status, 0);
	if (WIFEXITED(status) && WEXITSTATUS(status) == 101 && e == FL_ENGINE_POSIX) {
		skip("posix_spawn cannot express credentials", "%s: run order", E);
		return;
	}
	ok(WIFEXITED(status) && WEXITSTATUS(status) == 3,
	   "%s: setuid added before setgroups: setgroups runs first and fails, step 3 (got %d)", E,
	   WIFEXITED(status) ? WEXITSTATUS(status) : -1);
}

static void test_report_format(void)
{
	fl_spec *spec;
	fl_actions *call;
	fl_spawn_args args = { 0 };
	char buf[256];
	int len;

	fl_spec_new(&spec);
	fl_spec_set_path(spec, "/usr/bin/x");
	fl_act_chdir(fl_spec_actions(spec), "/a", 0);
	fl_act_umask(fl_spec_actions(spec), 022, 0);
	fl_actions_new(&call);
	fl_act_dup2(call, 3, 4, 0);
	args.actions = call;

#define FMT(err, step, a, want)                                                              \
	do {                                                                                 \
		len = fl_report_format(spec, a, &(fl_report){ err, step }, buf, sizeof(buf));  \
		ok(len == (int)strlen(want) && !strcmp(buf, want), "format: %s", buf);        \
	} while (0)
	FMT(ENOENT, 0, NULL, "step 0 (chdir \"/a\"): No such file or directory");
	FMT(EPERM, 1, NULL, "step 1 (umask 022): Operation not permitted");
	FMT(EBADF, 2, &args, "step 2 (dup2 3 4): Bad file descriptor");
	FMT(EBADF, 2, NULL, "step 2 (?): Bad file descriptor");
	FMT(EACCES, FL_STEP_EXEC, NULL, "exec \"/usr/bin/x\": Permission denied");
	FMT(EAGAIN, FL_STEP_SPAWN, NULL, "spawn \"/usr/bin/x\": Resource temporarily unavailable");
	FMT(ENOEXEC, FL_STEP_UNKNOWN, NULL, "setup or exec of \"/usr/bin/x\": Exec format error");
	FMT(0, FL_STEP_EXEC, NULL, "exec \"/usr/bin/x\": Success");
	len = fl_report_format(spec, NULL, &(fl_report){ ENOENT, 0 }, buf, 5);
	ok(len == (int)strlen("step 0 (chdir \"/a\"): No such file or directory") && !strcmp(buf, "step"),
	   "format into a small buffer: truncated, the full length");
	ok(fl_report_format(NULL, NULL, &(fl_report){ 0, 0 }, buf, sizeof(buf)) == -EINVAL &&
	   fl_report_format(spec, NULL, NULL, buf, sizeof(buf)) == -EINVAL,
	   "format without a template or report: -EINVAL");
	setenv("PATH", "/bin:/usr/bin", 1);
	fl_spec_set_file(spec, "true");
	FMT(ENOENT, FL_STEP_EXEC, NULL, "exec \"true\": No such file or directory");
#undef FMT
	fl_actions_free(call);
	fl_spec_free(spec);
}

static void test_names(void)
{
	int all = 1;

	for (int e = 0; e < FL_ENGINE_COUNT; e++) {
		const char *name = fl_engine_name(e);

		ok(name && fl_engine_from_name(name) == e, "engine %d is \"%s\" and back", e, name ? name : "(null)");
	}
	ok(fl_engine_name(-1) == NULL && fl_engine_name(FL_ENGINE_COUNT) == NULL, "no name out of range");
	ok(fl_engine_from_name("bogus") == -EINVAL && fl_engine_from_name(NULL) == -EINVAL &&
	   fl_engine_from_name("") == -EINVAL && fl_engine_from_name("Clone") == -EINVAL,
	   "unknown names: -EINVAL");
	ok(fl_engine_supported(-1) == -EINVAL && fl_engine_supported(FL_ENGINE_COUNT) == -EINVAL,
	   "supported out of range: -EINVAL");
#if TEST_TSAN
	/* TSan turns vfork into fork, so the library turns the engine off. */
	ok(fl_engine_supported(FL_ENGINE_VFORK) == -ENOSYS, "vfork is off under TSan");
#else
	ok(fl_engine_supported(FL_ENGINE_VFORK) == 0, "vfork is supported");
#endif
	ok(fl_engine_supported(FL_ENGINE_AUTO) == 0 && fl_engine_supported(FL_ENGINE_FORK) == 0 &&
	   fl_engine_supported(FL_ENGINE_POSIX) == 0 && fl_engine_supported(FL_ENGINE_CLONE) == 0,
	   "auto, fork, posix, clone are supported");
	ok(fl_engine_default() > FL_ENGINE_AUTO && fl_engine_supported(fl_engine_default()) == 0,
	   "the default is a supported engine: %s", fl_engine_name(fl_engine_default()));
	for (int f = 0; f < FL_FEAT_COUNT; f++)
		all &= fl_feature_name(f) != NULL && (fl_feature(f) == 0 || fl_feature(f) == 1);
	ok(all, "every feature has a name and a 0/1 answer");
	ok(fl_feature(-1) == -EINVAL && fl_feature(FL_FEAT_COUNT) == -EINVAL && fl_feature_name(FL_FEAT_COUNT) == NULL,
	   "unknown features: -EINVAL, no name");
	ok(fl_version() == FL_VERSION, "fl_version() == FL_VERSION (0x%x)", fl_version());
}

/* The copy of this program run with FORKLESS_ENGINE set: prints the default
 * twice and the engine an auto template's spawn used. */
static int child_mode(void)
{
	fl_spec *spec;
	fl_child child;
	int first = fl_engine_default(), ret;

	fl_spec_new(&spec);
	fl_spec_set_path(spec, "/bin/true");
	ret = fl_spawn(spec, NULL, &child, NULL);
	if (ret == 0)
		fl_child_wait(&child, NULL);
	printf("%s %s %s\n", fl_engine_name(first), fl_engine_name(fl_engine_default()),
	       ret == 0 ? fl_engine_name(child.engine) : "failed");
	fl_spec_free(spec);
	return 0;
}

/* Runs this program in child mode with FORKLESS_ENGINE=VALUE (NULL: unset);
 * its stdout and stderr into OUT and ERR. */
static int run_copy(const char *value, char *out, size_t outlen, char *err, size_t errlen)
{
	extern char **environ;
	char *argv[] = { (char *)"t-builder", (char *)"--default", NULL }, *envp[256], var[256];
	int po[2], pe[2], n = 0, status = -1, ret;
	fl_spec *spec;
	fl_child child;
	ssize_t len;

	for (char **e = environ; *e && n < 250; e++)
		if (strncmp(*e, "FORKLESS_ENGINE=", 16))
			envp[n++] = *e;
	if (value) {
		snprintf(var, sizeof(var), "FORKLESS_ENGINE=%s", value);
		envp[n++] = var;
	}
	envp[n] = NULL;
	pipe2(po, O_CLOEXEC);
	pipe2(pe, O_CLOEXEC);
	fl_spec_new(&spec);
	fl_spec_set_engine(spec, FL_ENGINE_FORK);
	fl_spec_set_path(spec, "/proc/self/exe");
	fl_act_dup2(fl_spec_actions(spec), po[1], 1, 0);
	fl_act_dup2(fl_spec_actions(spec), pe[1], 2, 0);
	ret = fl_spawn(spec, &(fl_spawn_args){ .argv = argv, .envp = envp }, &child, NULL);
	close(po[1]);
	close(pe[1]);
	len = read(po[0], out, outlen - 1);	/* small: one read */
	out[len > 0 ? len : 0] = 0;
	len = read(pe[0], err, errlen - 1);
	err[len > 0 ? len : 0] = 0;
	close(po[0]);
	close(pe[0]);
	if (ret == 0)
		fl_child_wait(&child, &status);
	fl_spec_free(spec);
	return ret == 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -1;
}

static int count_lines(const char *s)
{
	int n = 0;

	for (; *s; s++)
		n += *s == '\n';
	return n;
}

/* The first line of S, cut there. */
static const char *first_line(char *s)
{
	s[strcspn(s, "\n")] = 0;
	return s;
}

static void test_env(void)
{
	char out[256], err[1024], auto_out[256], want[256];
	int fds = fd_count(), ret, lines;

	ret = run_copy(NULL, auto_out, sizeof(auto_out), err, sizeof(err));
	first_line(auto_out);
	ok(ret == 0 && !*err && !strstr(auto_out, "auto") && !strstr(auto_out, "failed"),
	   "FORKLESS_ENGINE unset: a real engine (%s), no message", auto_out);
	ret = run_copy("auto", out, sizeof(out), err, sizeof(err));
	ok(ret == 0 && !*err && !strcmp(first_line(out), auto_out), "FORKLESS_ENGINE=auto: the same (%s)", out);
	ret = run_copy("", out, sizeof(out), err, sizeof(err));
	ok(ret == 0 && !*err && !strcmp(first_line(out), auto_out), "FORKLESS_ENGINE empty: the same (%s)", out);
	for_each_engine(e) {
		snprintf(want, sizeof(want), "%s %s %s", fl_engine_name(e), fl_engine_name(e), fl_engine_name(e));
		ret = run_copy(fl_engine_name(e), out, sizeof(out), err, sizeof(err));
		ok(ret == 0 && !*err && !strcmp(first_line(out), want),
		   "FORKLESS_ENGINE=%s: default and auto spawns use it (%s)", fl_engine_name(e), out);
	}
	ret = run_copy("bogus", out, sizeof(out), err, sizeof(err));
	ok(ret == 0 && !strcmp(first_line(out), auto_out), "FORKLESS_ENGINE=bogus: ignored, the default is used (%s)", out);
	lines = count_lines(err);
	ok(lines == 1 && strstr(err, "FORKLESS_ENGINE=bogus"), "... with one message on stderr (%d lines): %s", lines,
	   first_line(err));
	check_clean("FORKLESS_ENGINE copies", fds);
}

int main(int argc, char **argv)
{
	if (argc > 1 && !strcmp(argv[1], "--default"))
		return child_mode();
	test_validation();
	test_describe();
	for_each_engine(e)
		test_order(e);
	test_report_format();
	test_names();
	test_env();
	return done();
}
