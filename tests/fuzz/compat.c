// SPDX-License-Identifier: MIT
/*
 * Fuzz target: the posix_spawn compatibility layer.  The input is a program
 * of fl_posix_spawn_file_actions_* and fl_posix_spawnattr_* calls with
 * hostile arguments (and, now and then, one of glibc's own add functions on
 * the same object, which the spawn must then refuse or hand to glibc), each
 * answer checked against forkless.h; then, if the input asks and its hash
 * allows (fuzz.h), fl_posix_spawn(p) or fl_pidfd_spawn(p) of FZ_PROGRAM,
 * reaped, with nothing left behind.
 *
 * Input: byte 0 bit 0 asks for the spawn, its other bits say which call;
 * then steps, each an op byte and its arguments.
 */
#include <fcntl.h>
#include <sched.h>
#include <spawn.h>
#include <sys/syscall.h>

#include "fuzz.h"

struct cstate {
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	bool ours, glibcs;	/* steps added by fl_posix_spawn_file_actions_*, by glibc's */
	bool tcsetpgrp;
	char path[8192];
};

/* glibc's __spawn_valid_fd, as forkless.h states the rule. */
static bool valid_fd(int fd)
{
	long max = sysconf(_SC_OPEN_MAX);

	return fd >= 0 && (max < 0 || fd < max);
}

/* A file-action answer: EBADF exactly when the fd is invalid (BADFD), else
 * EINVAL exactly for a NULL path, else 0 (or ENOMEM). */
static void check_fa(struct fz *f, struct cstate *s, int ret, bool badfd, bool nullpath, const char *what)
{
	int want = badfd ? EBADF : nullpath ? EINVAL : 0;

	if (ret != want && !(want == 0 && ret == ENOMEM))
		fz_fail(f, "%s: answered %d, want %d", what, ret, want);
	s->ours |= ret == 0;
}

static void fa_step(struct fz *f, struct cstate *s, uint8_t op)
{
	const char *path;
	int fd, fd2, ret;
	uint32_t v;
	bool rel;

	switch (op % 8) {
	case 0:
		fd = fz_fd(f), path = fz_path(f, s->path, sizeof(s->path), &rel), v = fz_u32(f);
		ret = fl_posix_spawn_file_actions_addopen(&s->fa, fd, path, fz_oflag(v, rel), fz_u32(f));
		check_fa(f, s, ret, !valid_fd(fd), !path, "addopen");
		break;
	case 1:
		fd = fz_fd(f);
		check_fa(f, s, fl_posix_spawn_file_actions_addclose(&s->fa, fd), !valid_fd(fd), false, "addclose");
		break;
	case 2:
		fd = fz_fd(f), fd2 = fz_fd(f);
		ret = fl_posix_spawn_file_actions_adddup2(&s->fa, fd, fd2);
		check_fa(f, s, ret, !valid_fd(fd) || !valid_fd(fd2), false, "adddup2");
		break;
	case 3:
		path = fz_path(f, s->path, sizeof(s->path), &rel);
		check_fa(f, s, fl_posix_spawn_file_actions_addchdir_np(&s->fa, path), false, !path, "addchdir");
		break;
	case 4:
		fd = fz_fd(f);	/* any fd: its error comes from the spawn */
		check_fa(f, s, fl_posix_spawn_file_actions_addfchdir_np(&s->fa, fd), false, false, "addfchdir");
		break;
	case 5:
		fd = fz_fd(f);
		ret = fl_posix_spawn_file_actions_addclosefrom_np(&s->fa, fd);
		check_fa(f, s, ret, !valid_fd(fd), false, "addclosefrom");
		break;
	case 6:
		fd = fz_fd(f);
		ret = fl_posix_spawn_file_actions_addtcsetpgrp_np(&s->fa, fd);
		check_fa(f, s, ret, !valid_fd(fd), false, "addtcsetpgrp");
		s->tcsetpgrp |= ret == 0;
		break;
	default:
		/* glibc's own function on the same object: a mixed object is
		 * refused at spawn, one of glibc's alone goes to glibc. */
		if (posix_spawn_file_actions_addclose(&s->fa, fz_u8(f) % 3) == 0)
			s->glibcs = true;
	}
}

/* A setter, then its getter: the value set comes back. */
static void attr_step(struct fz *f, struct cstate *s, uint8_t op)
{
	static const int policies[] = { SCHED_OTHER, SCHED_FIFO, SCHED_RR, SCHED_BATCH, SCHED_IDLE, -1, 7 };
	const short known = POSIX_SPAWN_RESETIDS | POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGDEF |
			    POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSCHEDPARAM | POSIX_SPAWN_SETSCHEDULER |
			    POSIX_SPAWN_USEVFORK | POSIX_SPAWN_SETSID | FL_POSIX_SPAWN_SETCGROUP;
	struct sched_param sp, sp2;
	sigset_t set, set2;
	short flags, flags2;
	int v, v2, ret;
	pid_t pg;

	switch (op % 7) {
	case 0:
		flags = fz_u8(f) < 0xe0 ? (short)(fz_u8(f) << 8 | fz_u8(f)) & known : (short)(fz_u8(f) << 8 | fz_u8(f));
		if (fl_posix_spawnattr_getflags(&s->attr, &flags2) != 0)
			fz_fail(f, "getflags failed");
		ret = fl_posix_spawnattr_setflags(&s->attr, flags);
		if (ret != (flags & ~known ? EINVAL : 0))
			fz_fail(f, "setflags 0x%x: %d", (unsigned short)flags, ret);
		if (ret == 0 && (fl_posix_spawnattr_getflags(&s->attr, &flags2) != 0 || flags2 != flags))
			fz_fail(f, "getflags: not the flags set");
		break;
	case 1:
		pg = fz_u8(f) < 0x80 ? 0 : (pid_t)fz_u32(f);
		if (fl_posix_spawnattr_setpgroup(&s->attr, pg) != 0 ||
		    fl_posix_spawnattr_getpgroup(&s->attr, &v) != 0 || v != pg)
			fz_fail(f, "pgroup %d did not come back", pg);
		break;
	case 2:
	case 3:
		memset(&set, fz_u8(f) & 1 ? 0xff : 0, sizeof(set));
		for (int i = fz_u8(f) % 16; i > 0; i--)
			((uint8_t *)&set)[i % sizeof(set)] = fz_u8(f);
		if (op % 7 == 2)
			ret = fl_posix_spawnattr_setsigmask(&s->attr, &set) ||
			      fl_posix_spawnattr_getsigmask(&s->attr, &set2);
		else
			ret = fl_posix_spawnattr_setsigdefault(&s->attr, &set) ||
			      fl_posix_spawnattr_getsigdefault(&s->attr, &set2);
		if (ret || memcmp(&set, &set2, sizeof(set)))
			fz_fail(f, "signal set did not come back");
		break;
	case 4:
		memset(&sp, 0, sizeof(sp));
		sp.sched_priority = fz_u8(f) < 0xc0 ? fz_u8(f) % 101 - 1 : (int)fz_u32(f);
		if (fl_posix_spawnattr_setschedparam(&s->attr, &sp) != 0 ||
		    fl_posix_spawnattr_getschedparam(&s->attr, &sp2) != 0 || sp2.sched_priority != sp.sched_priority)
			fz_fail(f, "schedparam did not come back");
		break;
	case 5:
		v = fz_u8(f) < 0xf0 ? policies[fz_u8(f) % 7] : (int)fz_u32(f);
		ret = fl_posix_spawnattr_setschedpolicy(&s->attr, v);
		if (ret != (v == SCHED_OTHER || v == SCHED_FIFO || v == SCHED_RR ? 0 : EINVAL))
			fz_fail(f, "setschedpolicy %d: %d", v, ret);
		if (ret == 0 && (fl_posix_spawnattr_getschedpolicy(&s->attr, &v2) != 0 || v2 != v))
			fz_fail(f, "schedpolicy did not come back");
		break;
	default:
		if (fz_u8(f) & 1) {
			v = fz_fd(f);
			if (fl_posix_spawnattr_setcgroup_np(&s->attr, v) != 0 ||
			    fl_posix_spawnattr_getcgroup_np(&s->attr, &v2) != 0 || v2 != v)
				fz_fail(f, "cgroup fd did not come back");
		} else {
			v = fz_engine(f);
			ret = fl_posix_spawnattr_setengine_np(&s->attr, v);
			if (ret != (fl_engine_supported(v) < 0 ? EINVAL : 0))
				fz_fail(f, "setengine_np %d: %d", v, ret);
			if (ret == 0 && (fl_posix_spawnattr_getengine_np(&s->attr, &v2) != 0 || v2 != v))
				fz_fail(f, "engine did not come back");
		}
	}
}

static bool is_repeat_c(uint8_t op)
{
	return op % 16 == 15;
}

static void cstep(struct fz *f, void *state)
{
	struct cstate *s = state;
	uint8_t op = fz_u8(f);

	f->steps++;
	switch (op % 16) {
	case 0: case 1: case 2: case 3: case 4: case 5: case 6: case 7:
		fa_step(f, s, op >> 4 | (op & 7) << 4);
		break;
	case 8: case 9: case 10: case 11: case 12:
		attr_step(f, s, fz_u8(f));
		break;
	case 13:
		/* Starting over: destroy, then init, as a program reusing the object. */
		if (fl_posix_spawn_file_actions_destroy(&s->fa) != 0 || fl_posix_spawn_file_actions_init(&s->fa) != 0)
			fz_fail(f, "file actions destroy and init failed");
		s->ours = s->glibcs = s->tcsetpgrp = false;
		break;
	case 14:
		if (fl_posix_spawnattr_destroy(&s->attr) != 0 || fl_posix_spawnattr_init(&s->attr) != 0)
			fz_fail(f, "attributes destroy and init failed");
		break;
	default:
		fz_repeat(f, s, cstep, is_repeat_c);
	}
}

static void cspawn(struct fz *f, struct cstate *s, uint8_t how)
{
	static char *const argv[] = { "true", "x", NULL }, *const env[] = { "A=1", NULL };
	int fds, ret, out = -1, saved_errno = 12345, status;
	bool pidfd = how & 1, search = how & 2;
	const char *prog = search ? "true" : FZ_PROGRAM;
	siginfo_t si;

	if (s->tcsetpgrp && fz_holds_tty())
		return;
	/* The spawn must not run FZ_PROGRAM elsewhere in PATH. */
	if (search && setenv("PATH", "/bin:/usr/bin", 1) < 0)
		return;
	fds = fd_count();
	errno = saved_errno;
	if (pidfd)
		ret = (search ? fl_pidfd_spawnp : fl_pidfd_spawn)(&out, prog, &s->fa, how & 4 ? &s->attr : NULL,
								   how & 8 ? argv : NULL, how & 16 ? env : NULL);
	else
		ret = (search ? fl_posix_spawnp : fl_posix_spawn)(&out, prog, &s->fa, how & 4 ? &s->attr : NULL,
								   how & 8 ? argv : NULL, how & 16 ? env : NULL);
	if (ret < 0)
		fz_fail(f, "spawn answered %d: posix_spawn's errors are positive", ret);
	if (ret == 0 && errno != saved_errno)
		fz_fail(f, "a spawn that worked changed errno to %d", errno);
	if (ret > 0 && errno != ret)
		fz_fail(f, "a spawn that failed with %d left errno %d", ret, errno);
	if (s->ours && s->glibcs && ret != EINVAL)
		fz_fail(f, "file actions from both glibc and forkless: %d, want EINVAL", ret);
	if (ret == 0 && pidfd) {
		if (waitid(P_PIDFD, out, &si, WEXITED) != 0)
			fz_fail(f, "pidfd %d: waitid failed: %s", out, strerror(errno));
		close(out);
	} else if (ret == 0 && (out <= 0 || waitpid(out, &status, 0) != out)) {
		fz_fail(f, "pid %d could not be reaped", out);
	}
	fz_check_clean(f, fds, ret);
}

int fuzz_compat(struct fz *f);

int fuzz_compat(struct fz *f)
{
	static struct cstate s;
	uint8_t how = fz_u8(f);

	s.ours = s.glibcs = s.tcsetpgrp = false;
	fl_posix_spawn_file_actions_init(&s.fa);
	fl_posix_spawnattr_init(&s.attr);
	while (fz_more(f))
		cstep(f, &s);
	if (how & 1 && fz_may_spawn(f))
		cspawn(f, &s, how >> 1);
	if (fl_posix_spawn_file_actions_destroy(&s.fa) != 0 || fl_posix_spawnattr_destroy(&s.attr) != 0)
		fz_fail(f, "destroy failed");
	return 0;
}

FZ_TARGET(fuzz_compat)
