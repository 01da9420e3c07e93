// SPDX-License-Identifier: MIT
/*
 * glibc 2.39's additions, for any glibc: fl_pidfd_spawn(p) hands back a
 * pidfd (close-on-exec, the caller's child, waitable through it), and
 * nothing on failure; fl_pidfd_getpid reads the pid back (ESRCH once reaped,
 * EBADF for what is no pidfd); POSIX_SPAWN_SETCGROUP starts the child in a
 * cgroup.  Under every engine.
 */
#include <sys/statfs.h>

#include "util.h"

#ifndef CGROUP2_SUPER_MAGIC
#define CGROUP2_SUPER_MAGIC 0x63677270
#endif

extern char **environ;

static posix_spawnattr_t *engine_attr(posix_spawnattr_t *attr, int engine)
{
	fl_posix_spawnattr_init(attr);
	fl_posix_spawnattr_setengine_np(attr, engine);
	return attr;
}

static void pidfds(int e, const char *name)
{
	char *argv[] = { (char *)helper_path(), (char *)"exit", (char *)"7", NULL };
	posix_spawnattr_t attr;
	siginfo_t si;
	int pidfd = -5, fds = fd_count(), ret;
	pid_t pid;

	ret = fl_pidfd_spawn(&pidfd, helper_path(), NULL, engine_attr(&attr, e), argv, environ);
	ok(ret == 0 && pidfd >= 0, "%s: pidfd_spawn gives a pidfd (%d)", name, ret);
	if (ret)
		return;
	ok(fcntl(pidfd, F_GETFD) == FD_CLOEXEC, "%s: the pidfd is close-on-exec", name);
	pid = fl_pidfd_getpid(pidfd);
	ok(pid > 0 && pid != getpid(), "%s: pidfd_getpid gives its pid (%d)", name, pid);
	si.si_pid = 0;
	ok(waitid(P_PIDFD, pidfd, &si, WEXITED) == 0 && si.si_pid == pid && si.si_code == CLD_EXITED &&
	   si.si_status == 7, "%s: the caller's child, waited through the pidfd (status %d)", name, si.si_status);
	ok(fl_pidfd_getpid(pidfd) == -ESRCH, "%s: pidfd_getpid once reaped: ESRCH", name);
	close(pidfd);

	pidfd = -5;
	errno = 0;
	ret = fl_pidfd_spawn(&pidfd, "/nonexistent", NULL, &attr, argv, environ);
	ok(ret == ENOENT && errno == ENOENT && pidfd == -5, "%s: failure: the error, *pidfd left alone", name);

	ret = fl_pidfd_spawnp(&pidfd, "true", NULL, &attr, argv, environ);
	ok(ret == 0 && waitid(P_PIDFD, pidfd, &si, WEXITED) == 0 && si.si_status == 0,
	   "%s: pidfd_spawnp searches PATH", name);
	if (ret == 0)
		close(pidfd);
	ret = fl_pidfd_spawn(NULL, "/bin/true", NULL, &attr, argv, environ);
	ok(ret == 0, "%s: a NULL pidfd pointer: spawned, the pidfd closed", name);
	/* Not waitpid(-1) until ECHILD: the pool's parked children and the
	 * zygote are children of ours too and do not exit.  The /bin/true
	 * becomes a zombie soon: reap what has exited. */
	for (int i = 0; i < 5000 && !has_zombie(); i++)
		usleep(1000);
	while (waitpid(-1, NULL, WNOHANG) > 0)
		;
	fl_primed_stop();	/* the primed engine's images hold fds */
	ok(fd_count() == fds && !has_zombie(), "%s: no fd leaked, no zombie", name);
}

static char cg_mount[512];	/* where the cgroup v2 hierarchy is mounted */

/* A new cgroup v2 directory under ours, or -1.  The hierarchy may be at
 * /sys/fs/cgroup or, on a hybrid system, elsewhere (/sys/fs/cgroup/unified). */
static int make_cgroup(char *dir, size_t len)
{
	char line[1024] = "", mnt[512], type[64];
	struct statfs sf;
	FILE *f = fopen("/proc/self/mounts", "re");

	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "%*s %511s %63s", mnt, type) == 2 && !strcmp(type, "cgroup2")) {
			snprintf(cg_mount, sizeof(cg_mount), "%s", mnt);
			break;
		}
	if (f)
		fclose(f);
	f = fopen("/proc/self/cgroup", "re");
	while (f && fgets(line, sizeof(line), f) && strncmp(line, "0::", 3))
		;
	if (f)
		fclose(f);
	if (!cg_mount[0] || strncmp(line, "0::", 3) || statfs(cg_mount, &sf) < 0 || sf.f_type != CGROUP2_SUPER_MAGIC)
		return -1;
	line[strcspn(line, "\n")] = 0;
	if (snprintf(dir, len, "%s%s%sfl-compat-%d", cg_mount, line + 3, line[3 + 1] ? "/" : "", getpid()) >=
	    (int)len || mkdir(dir, 0755) < 0)
		return -1;
	return open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
}

static void cgroups(int e, const char *name, int cgfd, const char *dir)
{
	char *argv[] = { (char *)helper_path(), (char *)"state", (char *)"", NULL };
	char file[] = "/tmp/fl-cg-XXXXXX", state[65536], want[600], val[512];
	posix_spawnattr_t attr;
	int fd = mkstemp(file), pidfd = -1, fds, ret;
	siginfo_t si;
	ssize_t n;

	if (fd < 0)
		return;
	close(fd);
	argv[2] = file;
	fds = fd_count();
	engine_attr(&attr, e);
	fl_posix_spawnattr_setflags(&attr, FL_POSIX_SPAWN_SETCGROUP);
	fl_posix_spawnattr_setcgroup_np(&attr, cgfd);
	ret = fl_pidfd_spawn(&pidfd, helper_path(), NULL, &attr, argv, environ);
	if (e == FL_ENGINE_POSIX && ret == ENOTSUP) {
		skip("posix_spawn cannot express a cgroup (glibc before 2.39)", "%s: SETCGROUP", name);
	} else {
		ok(ret == 0, "%s: SETCGROUP spawn (%s)", name, strerror(ret));
		if (ret == 0) {
			waitid(P_PIDFD, pidfd, &si, WEXITED);
			close(pidfd);
			fd = open(file, O_RDONLY | O_CLOEXEC);
			n = fd >= 0 ? read(fd, state, sizeof(state) - 1) : -1;
			state[n > 0 ? n : 0] = 0;
			if (fd >= 0)
				close(fd);
			snprintf(want, sizeof(want), "%s", dir + strlen(cg_mount));
			ok(state_get(state, "cgroup", val, sizeof(val)) && !strcmp(val, want),
			   "%s: the child started in the cgroup (%s)", name, val);
		}
	}
	/* A fd that is no cgroup directory: an error, nothing left behind. */
	fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	fl_posix_spawnattr_setcgroup_np(&attr, fd);
	ret = fl_pidfd_spawn(&pidfd, helper_path(), NULL, &attr, argv, environ);
	close(fd);
	ok(ret != 0, "%s: SETCGROUP with /dev/null: an error (%s)", name, strerror(ret));
	fl_primed_stop();
	ok(fd_count() == fds && !has_zombie(), "%s: cgroup: no fd leaked, no zombie", name);
	unlink(file);
}

int main(void)
{
	char cgdir[1024];
	int cgfd;

	ok(fl_pidfd_getpid(-1) == -EBADF, "pidfd_getpid(-1): EBADF");
	ok(fl_pidfd_getpid(1 << 20) == -EBADF, "pidfd_getpid of a fd not open: EBADF");
	ok(fl_pidfd_getpid(0) == -EBADF, "pidfd_getpid of a fd that is no pidfd: EBADF");
	if (!fl_feature(FL_FEAT_WAITID_PIDFD)) {
		skip("no waitid(P_PIDFD) (Linux 5.4)", "pidfd_spawn");
		return done();
	}
	cgfd = make_cgroup(cgdir, sizeof(cgdir));
	for (int e = FL_ENGINE_AUTO; e < FL_ENGINE_COUNT; e++) {
		const char *name = e ? fl_engine_name(e) : "default";

		if (e && fl_engine_warm(e) < 0)
			continue;
		pidfds(e, name);
		if (cgfd >= 0)
			cgroups(e, name, cgfd, cgdir);
		else
			skip("no writable cgroup v2 hierarchy", "%s: SETCGROUP", name);
	}
	if (cgfd >= 0) {
		close(cgfd);
		rmdir(cgdir);
	}
	return done();
}
