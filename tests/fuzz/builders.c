// SPDX-License-Identifier: MIT
/*
 * Fuzz target: the template and action builders.  The input is a program of
 * fl_spec_* and fl_act_* calls with hostile arguments (negative and huge
 * fds, huge sizes, NULLs, unknown flags, overlong paths, thousands of steps
 * through the repeat step), each result checked against what forkless.h
 * promises; then, if the input asks and its hash allows (fuzz.h), a spawn of
 * FZ_PROGRAM with the steps the builders accepted, waited for, with nothing
 * left behind.
 *
 * Input: byte 0 bit 0 asks for the spawn, its other bits say how; then steps, each an op byte (bit
 * 7: the call's own list rather than the template's) and its arguments.
 */
#include <fcntl.h>
#include <sys/resource.h>

#include "fuzz.h"

struct bstate {
	fl_spec *spec;
	fl_actions *extra;	/* the call's own list (fl_spawn_args.actions) */
	bool tcsetpgrp;		/* a terminal step: no spawn while we hold a tty */
	size_t bytes;		/* copied into steps so far, held under FZ_BUDGET */
	char path[8192];
	gid_t groups[65537];
	unsigned char cpus[1 << 17];	/* affinity sets up to 1 Mi CPUs */
};

/* Huge sets and lists are tried, but thousands of them would only measure
 * the machine's memory. */
#define FZ_BUDGET (64u << 20)

/* SIZE bytes for one more step, or a small size once the budget is spent. */
static size_t budget(struct bstate *s, size_t size)
{
	if (s->bytes + size > FZ_BUDGET)
		size = size % 64;
	s->bytes += size;
	return size;
}

enum { E_BADF = 1, E_INVAL = 2, E_NAMETOOLONG = 4 };

/* Errors the arguments call for; every one of them is allowed as the answer. */
static int path_errs(const char *path)
{
	if (!path)
		return E_INVAL;
	return strlen(path) >= PATH_MAX ? E_NAMETOOLONG : 0;
}

static int fd_errs(int fd)
{
	return fd < 0 ? E_BADF : 0;
}

static int flag_errs(unsigned flags)
{
	return flags & ~FL_HARD ? E_INVAL : 0;
}

/* An fl_act_* answer against the contract: with no reason to refuse, the
 * step's index (or -ENOMEM); else one of the errors its arguments call for,
 * and the list unchanged. */
static void check_add(struct fz *f, const fl_actions *list, int before, int ret, int errs, const char *what)
{
	int after = fl_actions_count(list);

	if (!errs) {
		if (ret != before && ret != -ENOMEM)
			fz_fail(f, "%s: valid step answered %d, want index %d", what, ret, before);
	} else if (!((errs & E_BADF && ret == -EBADF) || (errs & E_INVAL && ret == -EINVAL) ||
		     (errs & E_NAMETOOLONG && ret == -ENAMETOOLONG))) {
		fz_fail(f, "%s: answered %d where the arguments call for errors 0x%x", what, ret, errs);
	}
	if (after != before + (ret >= 0))
		fz_fail(f, "%s: list of %d holds %d after answer %d", what, before, after, ret);
}

/* A step whose one argument is an fd; its answer. */
static int fd_step(struct fz *f, fl_actions *list, int (*act)(fl_actions *, int, unsigned), const char *what)
{
	int n = fl_actions_count(list), fd = fz_fd(f);
	unsigned flags = fz_flags(f);
	int ret = act(list, fd, flags);

	check_add(f, list, n, ret, fd_errs(fd) | flag_errs(flags), what);
	return ret;
}

static void fill(struct fz *f, void *buf, size_t len)
{
	for (size_t i = 0; i < len; i++)
		((uint8_t *)buf)[i] = fz_u8(f);
}

/* fl_actions_describe of an index in range, out of range, into buffers
 * from none to roomy. */
static void describe(struct fz *f, const fl_actions *list)
{
	static const size_t lens[] = { 0, 1, 2, 8, 64, 5000 };
	char buf[5000];
	int n = fl_actions_count(list), idx, ret;
	uint8_t b = fz_u8(f);
	size_t len = lens[fz_u8(f) % 6];

	idx = b < 0xc0 ? (n ? b % n : 0) : b < 0xe0 ? n : b < 0xf0 ? -1 : (int)fz_u32(f);
	ret = fl_actions_describe(list, idx, len ? buf : NULL, len);
	if (idx < 0 || idx >= n) {
		if (ret != -ERANGE)
			fz_fail(f, "describe %d of %d: %d, want -ERANGE", idx, n, ret);
		return;
	}
	if (ret < 0)
		fz_fail(f, "describe %d of %d: %d", idx, n, ret);
	else if (len && strlen(buf) != ((size_t)ret < len ? (size_t)ret : len - 1))
		fz_fail(f, "describe %d: wrote %zu bytes of %d into %zu", idx, strlen(buf), ret, len);
}

static void set_program(struct fz *f, struct bstate *s, uint8_t op)
{
	bool rel;
	const char *p;
	int ret, fd;

	switch (op % 3) {
	case 0:
		p = fz_path(f, s->path, sizeof(s->path), &rel);
		ret = fl_spec_set_path(s->spec, p);
		if (!p || !*p ? ret != -EINVAL : strlen(p) >= PATH_MAX ? ret != -ENAMETOOLONG :
		    ret != 0 && ret != -ENOMEM)
			fz_fail(f, "set_path: %d", ret);
		if (ret == 0 && strcmp(fl_spec_path(s->spec), p))
			fz_fail(f, "set_path: fl_spec_path is not the path set");
		break;
	case 1:
		p = fz_u8(f) & 1 ? "true" : fz_path(f, s->path, sizeof(s->path), &rel);
		ret = fl_spec_set_file(s->spec, p);
		if (!p ? ret != -EINVAL : !*p ? ret != -ENOENT : ret > 0)
			fz_fail(f, "set_file: %d", ret);
		if (ret == 0 && !fl_spec_path(s->spec))
			fz_fail(f, "set_file: found, but fl_spec_path is NULL");
		break;
	default:
		fd = fz_fd(f);
		ret = fl_spec_set_fd(s->spec, fd);
		if (fd < 0 ? ret != -EBADF : ret > 0)
			fz_fail(f, "set_fd %d: %d", fd, ret);
		if (ret == 0 && fl_spec_path(s->spec))
			fz_fail(f, "set_fd: fl_spec_path is not NULL");
	}
}

static char **vector(struct fz *f, char **buf, size_t max)
{
	static char *const env[] = { "A=1", "PATH=/nowhere", "", "=", NULL };
	uint8_t b = fz_u8(f);

	if (b < 0x40)
		return NULL;
	if (b < 0x80)
		return (char **)env + (b & 3);
	return fz_argv(f, buf, max);
}

/* Spec calls other than the program and the steps. */
static void spec_call(struct fz *f, struct bstate *s, uint8_t op)
{
	static char *vbuf[4097];
	unsigned flags;
	int ret, engine;

	switch (op % 4) {
	case 0:
		ret = fl_spec_set_argv(s->spec, vector(f, vbuf, 4097));
		if (ret != 0 && ret != -ENOMEM)
			fz_fail(f, "set_argv: %d", ret);
		break;
	case 1:
		ret = fl_spec_set_envp(s->spec, vector(f, vbuf, 4097));
		if (ret != 0 && ret != -ENOMEM)
			fz_fail(f, "set_envp: %d", ret);
		break;
	case 2:
		flags = fz_flags(f) | (fz_u8(f) & 1 ? FL_SPEC_EXEC_FD : 0);
		ret = fl_spec_set_flags(s->spec, flags);
		if (ret != (flags & ~(FL_SPEC_ENOEXEC_SH | FL_SPEC_EXEC_FD) ? -EINVAL : 0))
			fz_fail(f, "set_flags 0x%x: %d", flags, ret);
		break;
	default:
		engine = fz_engine(f);
		ret = fl_spec_set_engine(s->spec, engine);
		if (ret != fl_engine_supported(engine))
			fz_fail(f, "set_engine %d: %d, fl_engine_supported %d", engine, ret,
				fl_engine_supported(engine));
	}
}

/* The NULL object each call may be given. */
static void null_calls(struct fz *f, struct bstate *s)
{
	fl_report r = { ENOENT, FL_STEP_EXEC };
	char buf[64];

	if (fl_act_close(NULL, 1, 0) != -EINVAL || fl_act_setsid(NULL, 0) != -EINVAL ||
	    fl_actions_count(NULL) != 0 || fl_actions_describe(NULL, 0, buf, sizeof(buf)) != -ERANGE)
		fz_fail(f, "a NULL action list was not refused");
	if (fl_spec_set_path(NULL, "/bin/true") != -EINVAL || fl_spec_set_argv(NULL, NULL) != -EINVAL ||
	    fl_spec_actions(NULL) || fl_spec_path(NULL) || fl_spec_set_engine(NULL, 0) != -EINVAL)
		fz_fail(f, "a NULL template was not refused");
	if (fl_report_format(NULL, NULL, &r, buf, sizeof(buf)) != -EINVAL ||
	    fl_report_format(s->spec, NULL, NULL, buf, sizeof(buf)) != -EINVAL)
		fz_fail(f, "fl_report_format took a NULL");
	fl_actions_free(NULL);
	fl_spec_free(NULL);
}

static bool is_repeat(uint8_t op)
{
	return (op & 0x7f) % 32 == 31;
}

static void step(struct fz *f, void *state)
{
	struct bstate *s = state;
	uint8_t op = fz_u8(f);
	fl_actions *list = op & 0x80 ? s->extra : fl_spec_actions(s->spec);
	int n = fl_actions_count(list), ret, fd, fd2, errs;
	unsigned flags;
	const char *path;
	uint32_t v;
	bool rel;
	sigset_t set;
	struct rlimit rl;
	size_t size;

	f->steps++;
	switch ((op & 0x7f) % 32) {
	case 0:
		fd = fz_fd(f), fd2 = fz_fd(f), flags = fz_flags(f);
		ret = fl_act_dup2(list, fd, fd2, flags);
		check_add(f, list, n, ret, fd_errs(fd) | fd_errs(fd2) | flag_errs(flags), "dup2");
		break;
	case 1:
		fd_step(f, list, fl_act_close, "close");
		break;
	case 2:
		fd = fz_fd(f), path = fz_path(f, s->path, sizeof(s->path), &rel);
		v = fz_u32(f), flags = fz_flags(f);
		ret = fl_act_open(list, fd, path, fz_oflag(v, rel), fz_u32(f), flags);
		check_add(f, list, n, ret, fd_errs(fd) | path_errs(path) | flag_errs(flags), "open");
		break;
	case 3:
		path = fz_path(f, s->path, sizeof(s->path), &rel), flags = fz_flags(f);
		ret = fl_act_chdir(list, path, flags);
		check_add(f, list, n, ret, path_errs(path) | flag_errs(flags), "chdir");
		break;
	case 4:
		fd_step(f, list, fl_act_fchdir, "fchdir");
		break;
	case 5:
		fd_step(f, list, fl_act_closefrom, "closefrom");
		break;
	case 6:
		v = fz_u8(f) < 0xc0 ? fz_u32(f) & 0777 : fz_u32(f), flags = fz_flags(f);
		ret = fl_act_umask(list, v, flags);
		check_add(f, list, n, ret, (v & ~0777u ? E_INVAL : 0) | flag_errs(flags), "umask");
		break;
	case 7:
	case 19:	/* the steps with no argument */
		flags = fz_flags(f);
		ret = ((op & 0x7f) % 32 == 7 ? fl_act_setsid : fl_act_no_new_privs)(list, flags);
		check_add(f, list, n, ret, flag_errs(flags), "setsid or no_new_privs");
		break;
	case 8:
		v = fz_u8(f) < 0x80 ? 0 : fz_u32(f), flags = fz_flags(f);
		ret = fl_act_setpgid(list, (pid_t)v, flags);
		check_add(f, list, n, ret, ((pid_t)v < 0 ? E_INVAL : 0) | flag_errs(flags), "setpgid");
		break;
	case 9:
		s->tcsetpgrp |= fd_step(f, list, fl_act_tcsetpgrp, "tcsetpgrp") >= 0;
		break;
	case 10:
	case 11:
		memset(&set, fz_u8(f) & 1 ? 0xff : 0, sizeof(set));
		fill(f, &set, fz_u8(f) % 16);
		rel = fz_u8(f) < 0x10, flags = fz_flags(f);
		if ((op & 0x7f) % 32 == 10)
			ret = fl_act_sigmask(list, rel ? NULL : &set, flags);
		else
			ret = fl_act_sigdefault(list, rel ? NULL : &set, flags);
		check_add(f, list, n, ret, (rel ? E_INVAL : 0) | flag_errs(flags), "signal set");
		break;
	case 12: {
		static const rlim_t vals[] = { 0, 1, 3, 1024, RLIM_INFINITY, RLIM_INFINITY - 1 };
		int res = fz_u8(f) < 0xe0 ? (int)(fz_u8(f) % (RLIM_NLIMITS + 2)) - 1 : (int)fz_u32(f);

		rl.rlim_cur = vals[fz_u8(f) % 6];
		rl.rlim_max = vals[fz_u8(f) % 6];
		rel = fz_u8(f) < 0x10, flags = fz_flags(f);
		ret = fl_act_rlimit(list, res, rel ? NULL : &rl, flags);
		errs = rel || res < 0 || res >= RLIM_NLIMITS || rl.rlim_cur > rl.rlim_max ? E_INVAL : 0;
		check_add(f, list, n, ret, errs | flag_errs(flags), "rlimit");
		break;
	}
	case 13:
		v = fz_u8(f) < 0xc0 ? (uint32_t)(fz_u8(f) % 44) - 22 : fz_u32(f), flags = fz_flags(f);
		ret = fl_act_priority(list, (int)v, flags);
		check_add(f, list, n, ret, ((int)v < -20 || (int)v > 19 ? E_INVAL : 0) | flag_errs(flags), "priority");
		break;
	case 14:
		size = budget(s, fz_size(f, sizeof(s->cpus)));
		fill(f, s->cpus, size < 64 ? size : 64);
		rel = fz_u8(f) < 0x10, flags = fz_flags(f);
		ret = fl_act_affinity(list, rel ? NULL : (cpu_set_t *)s->cpus, size, flags);
		errs = rel || !size || size % sizeof(long) ? E_INVAL : 0;
		check_add(f, list, n, ret, errs | flag_errs(flags), "affinity");
		break;
	case 15:
		size = fz_size(f, 70000);
		size = budget(s, size * sizeof(gid_t)) / sizeof(gid_t);
		fill(f, s->groups, size < 16 ? size * sizeof(gid_t) : 16 * sizeof(gid_t));
		rel = fz_u8(f) < 0x10, flags = fz_flags(f);
		ret = fl_act_setgroups(list, size, rel ? NULL : s->groups, flags);
		errs = size > 65536 || (size && rel) ? E_INVAL : 0;
		check_add(f, list, n, ret, errs | flag_errs(flags), "setgroups");
		break;
	case 16:
	case 17: {
		static const uint32_t ids[] = { 0, 1000, 65534, UINT32_MAX };

		v = fz_u8(f) < 0xe0 ? ids[fz_u8(f) % 4] : fz_u32(f), flags = fz_flags(f);
		if ((op & 0x7f) % 32 == 16)
			ret = fl_act_setgid(list, v, flags);
		else
			ret = fl_act_setuid(list, v, flags);
		check_add(f, list, n, ret, (v == UINT32_MAX ? E_INVAL : 0) | flag_errs(flags), "setid");
		break;
	}
	case 18:
		fd = fz_signal(f), flags = fz_flags(f);	/* fd: the signal */
		ret = fl_act_pdeathsig(list, fd, flags);
		check_add(f, list, n, ret, (fd <= 0 || fd >= 65 ? E_INVAL : 0) | flag_errs(flags), "pdeathsig");
		break;
	case 20: {
		static const int bits[] = { CLONE_FILES, CLONE_FS, CLONE_NEWCGROUP, CLONE_NEWIPC, CLONE_NEWNET,
					    CLONE_NEWNS, CLONE_NEWPID, CLONE_NEWTIME, CLONE_NEWUSER, CLONE_NEWUTS,
					    CLONE_SYSVSEM };
		int all = 0, cf = 0;
		uint8_t b = fz_u8(f);

		for (int i = 0; i < 11; i++)
			all |= bits[i];
		if (b < 0xe0)
			for (int i = 0; i < 8; i++)
				cf |= b >> i & 1 ? bits[(i + fz_u8(f)) % 11] : 0;
		else
			cf = (int)fz_u32(f);
		flags = fz_flags(f);
		ret = fl_act_unshare(list, cf, flags);
		check_add(f, list, n, ret, (!cf || cf & ~all ? E_INVAL : 0) | flag_errs(flags), "unshare");
		break;
	}
	case 21:
		fd_step(f, list, fl_act_cgroup, "cgroup");
		break;
	case 22:
		describe(f, list);
		break;
	case 23:
	case 24:
	case 25:
		set_program(f, s, op);
		break;
	case 26:
	case 27:
		spec_call(f, s, (uint8_t)(op + fz_u8(f)));
		break;
	case 28:
		/* A new call list: the old one freed with its steps. */
		fl_actions_free(s->extra);
		if (fl_actions_new(&s->extra) < 0)
			fz_fail(f, "fl_actions_new failed");
		break;
	case 29:
		null_calls(f, s);
		break;
	case 30:
		break;
	default:
		fz_repeat(f, s, step, is_repeat);
	}
}

static void spawn(struct fz *f, struct bstate *s, uint8_t how)
{
	static char *const argv[] = { "true", "x", NULL }, *const envs[][2] = { { NULL }, { "A=1", NULL } };
	const fl_actions *mine = fl_spec_actions(s->spec);
	fl_spawn_args args = { NULL, NULL, how & 1 ? s->extra : NULL };
	int fds, ret, status, total;
	fl_report rep = { -1, 99 };
	fl_child child;
	char buf[256];

	if (s->tcsetpgrp && fz_holds_tty())
		return;
	if (fl_spec_set_path(s->spec, FZ_PROGRAM) != 0)
		fz_fail(f, "set_path " FZ_PROGRAM " failed");
	if (how & 2)
		args.argv = (char **)argv;
	if (how & 4)
		args.envp = envs[how >> 3 & 1];
	total = fl_actions_count(mine) + (args.actions ? fl_actions_count(args.actions) : 0);
	fds = fd_count();
	ret = fl_spawn(s->spec, &args, &child, &rep);
	if (ret == 0)
		ret = fl_child_wait_exec(&child, &rep);
	if (ret == 0) {
		if (fl_child_wait(&child, &status) != 0)
			fz_fail(f, "spawned, but fl_child_wait failed");
	} else {
		if (ret > 0 || rep.error != -ret)
			fz_fail(f, "spawn answered %d, report error %d", ret, rep.error);
		if (rep.step < FL_STEP_CALLBACK || rep.step >= total)
			fz_fail(f, "spawn failed at step %d of %d", rep.step, total);
		if (fl_report_format(s->spec, &args, &rep, buf, sizeof(buf)) < 0)
			fz_fail(f, "fl_report_format of step %d failed", rep.step);
	}
	fz_check_clean(f, fds, ret);
}

int fuzz_builders(struct fz *f);

int fuzz_builders(struct fz *f)
{
	static struct bstate s;
	uint8_t how = fz_u8(f);

	s.tcsetpgrp = false;
	s.bytes = 0;
	if (fl_spec_new(&s.spec) < 0 || fl_actions_new(&s.extra) < 0) {
		fz_fail(f, "cannot make a template and a list");
		return 0;
	}
	while (fz_more(f))
		step(f, &s);
	if (how & 1 && fz_may_spawn(f))
		spawn(f, &s, how >> 1);
	fl_actions_free(s.extra);
	fl_spec_free(s.spec);
	return 0;
}

FZ_TARGET(fuzz_builders)
