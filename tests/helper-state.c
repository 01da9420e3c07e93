// SPDX-License-Identifier: MIT
/*
 * The child the tests spawn.  `helper-state state FILE` writes, one "key=value"
 * a line, what a process can observe of itself: fds, cwd, umask, signal mask
 * and dispositions, ids, groups, session and group, nice, affinity, rlimits,
 * no_new_privs, parent-death signal, cgroup, namespaces, argv and environment.
 * `helper-state exit N`, `helper-state sleep S`, `helper-state kill SIG` for
 * the handle tests.  It uses libc freely: it is an ordinary exec'd program.
 */
#include <dirent.h>
#include <fcntl.h>
#include <grp.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

extern char **environ;

/* Fds open at exec, with what they point to, listed before we open any. */
static int list_fds(char *buf, size_t len)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	size_t off = 0;
	int self = d ? dirfd(d) : -1;

	if (!d)
		return -1;
	while ((e = readdir(d))) {
		char link[512], target[512];
		ssize_t n;
		int fd = atoi(e->d_name);

		if (e->d_name[0] == '.' || fd == self)
			continue;
		snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
		n = readlink(link, target, sizeof(target) - 1);
		target[n > 0 ? n : 0] = 0;
		off += snprintf(buf + off, len - off, "fd.%d=%s cloexec=%d\n", fd, target,
				(fcntl(fd, F_GETFD) & FD_CLOEXEC) != 0);
		/* The open flags (O_APPEND, the access mode...), as fcntl reports them. */
		if (off < len)
			off += snprintf(buf + off, len - off, "fdflags.%d=%o\n", fd, fcntl(fd, F_GETFL));
		if (off >= len)
			break;
	}
	closedir(d);
	return 0;
}

static void copy_status_lines(FILE *out)
{
	static const char *const keys[] = { "SigBlk", "SigIgn", "SigCgt", "Umask", "NoNewPrivs",
					    "Uid", "Gid", "Groups", "Cpus_allowed_list", "Seccomp",
					    "Seccomp_filters", "CapInh", "CapPrm", "CapEff", "CapBnd",
					    "CapAmb" };
	FILE *f = fopen("/proc/self/status", "re");
	char line[1024];

	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
			size_t k = strlen(keys[i]);
			char *v;

			if (strncmp(line, keys[i], k) || line[k] != ':')
				continue;
			for (v = line + k + 1; *v == ' ' || *v == '\t'; v++)
				;
			for (char *t = v; *t; t++)
				if (*t == '\t')
					*t = ' ';
			fprintf(out, "%s=%s", keys[i], v);
		}
	}
	fclose(f);
}

static void state(const char *file)
{
	static char fds[65536];
	char cwd[4096], buf[4096];
	static const char *const ns[] = { "mnt", "net", "uts", "ipc", "pid", "user", "cgroup" };
	FILE *out;
	int pdeath = 0;

	list_fds(fds, sizeof(fds));
	out = fopen(file, "we");
	if (!out)
		exit(2);
	fputs(fds, out);
	fprintf(out, "cwd=%s\n", getcwd(cwd, sizeof(cwd)) ? cwd : "?");
	copy_status_lines(out);
	fprintf(out, "pid=%d\nppid=%d\npgid=%d\nsid=%d\n", getpid(), getppid(), getpgrp(), getsid(0));
	fprintf(out, "nice=%d\n", getpriority(PRIO_PROCESS, 0));
	{
		struct sched_param sp = { 0 };

		sched_getparam(0, &sp);
		fprintf(out, "sched=%d %d\n", sched_getscheduler(0), sp.sched_priority);
	}
	prctl(PR_GET_PDEATHSIG, &pdeath);
	fprintf(out, "pdeathsig=%d\n", pdeath);
	/* I/O priority (IOPRIO_WHO_PROCESS: 1), execution domain, timer slack. */
	fprintf(out, "ioprio=%ld\npersonality=%#x\ntimerslack=%d\n", syscall(SYS_ioprio_get, 1, 0),
		personality(0xffffffff), prctl(PR_GET_TIMERSLACK));
	for (int r = 0; r < RLIM_NLIMITS; r++) {
		struct rlimit rl;

		getrlimit(r, &rl);
		fprintf(out, "rlimit.%d=%llu %llu\n", r, (unsigned long long)rl.rlim_cur,
			(unsigned long long)rl.rlim_max);
	}
	for (int sig = 1; sig < NSIG; sig++) {
		struct sigaction sa;

		if (sigaction(sig, NULL, &sa) == 0 && sa.sa_handler == SIG_IGN)
			fprintf(out, "ignored.%d=1\n", sig);
	}
	for (size_t i = 0; i < sizeof(ns) / sizeof(ns[0]); i++) {
		char link[64];
		ssize_t n;

		snprintf(link, sizeof(link), "/proc/self/ns/%s", ns[i]);
		n = readlink(link, buf, sizeof(buf) - 1);
		buf[n > 0 ? n : 0] = 0;
		fprintf(out, "ns.%s=%s\n", ns[i], buf);
	}
	{
		FILE *f = fopen("/proc/self/cgroup", "re");

		while (f && fgets(buf, sizeof(buf), f))
			if (!strncmp(buf, "0::", 3))
				fprintf(out, "cgroup=%s", buf + 3);
		if (f)
			fclose(f);
	}
	for (int fd = 0; fd < 3; fd++) {
		pid_t pg = tcgetpgrp(fd);

		if (pg > 0)
			fprintf(out, "tcpgrp.%d=%d\n", fd, pg);
	}
	for (char **e = environ; *e; e++)
		fprintf(out, "env.%s\n", *e);
	fclose(out);
}

int main(int argc, char **argv)
{
	if (argc >= 3 && !strcmp(argv[1], "state")) {
		state(argv[2]);
		return 0;
	}
	if (argc >= 3 && !strcmp(argv[1], "exit"))
		return atoi(argv[2]);
	if (argc >= 3 && !strcmp(argv[1], "sleep")) {
		/* a test that dies must not leave us behind */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() == 1)
			return 1;
		sleep(atoi(argv[2]));
		return 0;
	}
	if (argc >= 3 && !strcmp(argv[1], "kill")) {
		signal(atoi(argv[2]), SIG_DFL);
		raise(atoi(argv[2]));
		return 3;
	}
	fprintf(stderr, "usage: helper-state state FILE | exit N | sleep S | kill SIG\n");
	return 2;
}
