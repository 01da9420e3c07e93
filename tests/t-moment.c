// SPDX-License-Identifier: MIT
/*
 * The state of the moment: after the caller has changed what a child
 * inherits (cwd, umask, fds, dispositions, rlimits, scheduling policy,
 * affinity, I/O priority, personality, timer slack, groups, environment,
 * no_new_privs, nice, capabilities, seccomp filters), every
 * engine's child must be, at exec, what the clone engine's child is.  This matters most for the
 * engines whose children are made ahead of time or by another process
 * (pool, zygote, primed): they were warmed or primed before the changes.  The whole state the
 * helper prints is compared, line by line, but for the process's own ids.
 */
#include <grp.h>
#include <limits.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>

#define TEST_PRIMED 1	/* its images end before the fd count */
#include "util.h"

/* As a sandboxing root program might: CAP_SYS_BOOT out of every set (the
 * bounding one included), CAP_NET_BIND_SERVICE made inheritable and
 * ambient.  Irreversible. */
static int drop_caps(void)
{
	struct __user_cap_header_struct head = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct data[2];

	if (prctl(PR_CAPBSET_DROP, CAP_SYS_BOOT, 0, 0, 0) < 0 || syscall(SYS_capget, &head, data) < 0)
		return -errno;
	for (int i = 0; i < 2; i++) {
		uint32_t boot = CAP_SYS_BOOT / 32 == i ? 1u << (CAP_SYS_BOOT % 32) : 0;
		uint32_t bind = CAP_NET_BIND_SERVICE / 32 == i ? 1u << (CAP_NET_BIND_SERVICE % 32) : 0;

		data[i].effective &= ~boot;
		data[i].permitted &= ~boot;
		data[i].inheritable = (data[i].inheritable & ~boot) | bind;
	}
	if (syscall(SYS_capset, &head, data) < 0 ||
	    prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, CAP_NET_BIND_SERVICE, 0, 0) < 0)
		return -errno;
	return 0;
}

/* A seccomp filter that allows every call. */
static int add_filter(void)
{
	struct sock_filter allow = BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
	struct sock_fprog prog = { 1, &allow };

	return prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog, 0, 0) < 0 ? -errno : 0;
}

static void on_usr2(int sig)
{
	(void)sig;
}

/* The first line of A that B lacks, or NULL; the process's own pid and
 * parent pid differ by nature.  A points into a copy of the first text. */
static const char *first_difference(const char *a, const char *b, char *line, size_t len)
{
	const char *p = a;

	while (*p) {
		const char *end = strchr(p, '\n');
		size_t n = end ? (size_t)(end - p) : strlen(p);
		const char *q = b;
		bool found = false;

		if (strncmp(p, "pid=", 4) && strncmp(p, "ppid=", 5)) {
			while (*q && !found) {
				const char *qe = strchr(q, '\n');
				size_t qn = qe ? (size_t)(qe - q) : strlen(q);

				found = qn == n && !memcmp(p, q, n);
				q += qn + (qe != NULL);
			}
			if (!found) {
				snprintf(line, len, "%.*s", (int)n, p);
				return line;
			}
		}
		p += n + (end != NULL);
	}
	return NULL;
}

/* Clears the bits KNOWN of the SigIgn line of TEXT, in place. */
static void mask_sigign(char *text, unsigned long long known)
{
	char *line = strstr(text, "SigIgn="), hex[17];

	if (!line || strlen(line + 7) < 16)
		return;
	snprintf(hex, sizeof(hex), "%016llx", strtoull(line + 7, NULL, 16) & ~known);
	memcpy(line + 7, hex, 16);
}

/* What the caller changes; every change undone by undo(). */
struct moment {
	char cwd[PATH_MAX], dir[32];
	mode_t umask;
	struct rlimit nofile;
	struct sched_param param;
	int policy, fd, ioprio, persona, slack;
	cpu_set_t cpus;
};

static void change(struct moment *m)
{
	struct rlimit low;
	struct sched_param zero = { 0 };
	cpu_set_t one;

	getcwd(m->cwd, sizeof(m->cwd));
	strcpy(m->dir, "/tmp/fl-moment-XXXXXX");
	mkdtemp(m->dir);
	chdir(m->dir);
	m->umask = umask(027);
	signal(SIGUSR1, SIG_IGN);
	signal(SIGUSR2, on_usr2);
	getrlimit(RLIMIT_NOFILE, &m->nofile);
	low = m->nofile;
	low.rlim_cur = 300;
	setrlimit(RLIMIT_NOFILE, &low);
	m->policy = sched_getscheduler(0);
	sched_getparam(0, &m->param);
	sched_setscheduler(0, SCHED_BATCH, &zero);
	sched_getaffinity(0, sizeof(m->cpus), &m->cpus);
	CPU_ZERO(&one);
	for (int c = 0; c < CPU_SETSIZE; c++)
		if (CPU_ISSET(c, &m->cpus)) {
			CPU_SET(c, &one);
			break;
		}
	sched_setaffinity(0, sizeof(one), &one);
	/* The idle I/O class (as `ionice -c3` gives), no address space
	 * randomization (as `setarch -R`), a coarser timer slack. */
	m->ioprio = (int)syscall(SYS_ioprio_get, 1, 0);
	syscall(SYS_ioprio_set, 1, 0, 3 << 13);
	m->persona = personality(0xffffffff);
	personality((unsigned long)m->persona | ADDR_NO_RANDOMIZE);
	m->slack = prctl(PR_GET_TIMERSLACK);
	prctl(PR_SET_TIMERSLACK, 1000000);
	setenv("FL_MOMENT", "changed", 1);
	m->fd = open("/dev/null", O_RDONLY);	/* no close-on-exec: every child has it */
}

static void undo(struct moment *m)
{
	close(m->fd);
	unsetenv("FL_MOMENT");
	prctl(PR_SET_TIMERSLACK, m->slack);
	personality((unsigned long)m->persona);
	syscall(SYS_ioprio_set, 1, 0, m->ioprio);
	sched_setaffinity(0, sizeof(m->cpus), &m->cpus);
	sched_setscheduler(0, m->policy, &m->param);
	setrlimit(RLIMIT_NOFILE, &m->nofile);
	signal(SIGUSR2, SIG_DFL);
	signal(SIGUSR1, SIG_DFL);
	umask(m->umask);
	chdir(m->cwd);
	rmdir(m->dir);
}

/* This process's "KEY:" line of /proc/self/status, its value into VAL. */
static const char *own_status(const char *key, char *val, size_t len)
{
	char line[1024];
	size_t k = strlen(key);
	FILE *f = fopen("/proc/self/status", "re");

	snprintf(val, len, "?");
	while (f && fgets(line, sizeof(line), f))
		if (!strncmp(line, key, k) && line[k] == ':') {
			snprintf(val, len, "%s", line + k + 1 + strspn(line + k + 1, " \t"));
			val[strcspn(val, "\n")] = 0;
		}
	if (f)
		fclose(f);
	return val;
}

/*
 * The primed engine's child right after the caller added a seccomp filter,
 * its image primed before (by the comparisons before): the image cannot
 * give its children a filter it lacks, so the first filter (the seccomp
 * mode changes) primes another image and a second one restarts the image
 * (the request's ZRESTART).  The child must be the primed engine's, run,
 * and have the caller's filters.
 */
static void primed_after_filter(const char *what)
{
	static char out[65536];
	char want[64], mode[64], exe[PATH_MAX];
	fl_spec *spec;
	int ret, status = -1, engine = 0, before, after;

	if (fl_engine_supported(FL_ENGINE_PRIMED) < 0 || !engine_wanted(FL_ENGINE_PRIMED) ||
	    !realpath(helper_path(), exe))
		return;
	before = pidfd_held_running(exe);
	state_spec(&spec, FL_ENGINE_PRIMED);
	ret = run_state_engine(spec, NULL, out, sizeof(out), &status, NULL, &engine);
	fl_spec_free(spec);
	after = pidfd_held_running(exe);
	diag("primed, %s: images of the helper: %d before the spawn, %d after", what, before, after);
	ok(ret == 0 && engine == FL_ENGINE_PRIMED && WIFEXITED(status) && WEXITSTATUS(status) == 0,
	   "primed, %s: the primed engine made the child, which ran (spawn %d, made by %s, status %#x)", what, ret,
	   fl_engine_name(engine), status);
	own_status("Seccomp_filters", want, sizeof(want));
	own_status("Seccomp", mode, sizeof(mode));
	ok(state_is(out, "Seccomp_filters", want) && state_is(out, "Seccomp", mode),
	   "primed, %s: the child has the caller's seccomp mode and filters (mode %s, %s filters)", what, mode, want);
}

/* ENGINE's child and the clone engine's, made one after the other now. */
static void compare(int e, const char *what)
{
	const char *E = fl_engine_name(e);
	static char out[65536], ref[65536];
	char line[512];
	const char *diff;
	fl_spec *spec, *clone;
	int ret, ret_ref;

	state_spec(&spec, e);
	state_spec(&clone, FL_ENGINE_CLONE);
	ret = run_state(spec, NULL, out, sizeof(out), &(int){ 0 }, NULL);
	ret_ref = run_state(clone, NULL, ref, sizeof(ref), &(int){ 0 }, NULL);
	if (cannot_express(e, ret, "the state of the moment")) {
		fl_spec_free(spec);
		fl_spec_free(clone);
		return;
	}
	/* Known differences: glibc's posix_spawn child ignores signals 32 and
	 * 33 whatever the caller does (glibc 2.36); under TSan the runtime's
	 * handler for 33 makes the fork engine's child reset it (t-signals). */
	if (e == FL_ENGINE_POSIX || (TEST_TSAN && e == FL_ENGINE_FORK)) {
		unsigned long long known = e == FL_ENGINE_POSIX ? 3ull << 31 : 1ull << 32;

		mask_sigign(out, known);
		mask_sigign(ref, known);
	}
	diff = first_difference(ref, out, line, sizeof(line));
	if (!diff)
		diff = first_difference(out, ref, line, sizeof(line));
	ok(ret == 0 && ret_ref == 0 && !diff, "%s, %s: the child's state is the clone engine's child's%s%s", E, what,
	   diff ? "; differs at: " : "", diff ? diff : "");
	fl_spec_free(spec);
	fl_spec_free(clone);
}

int main(void)
{
	struct moment m;
	int fds, ret;

	/* Every engine warmed first (the pool filled, the zygote started),
	 * then the caller changes, then the children are made. */
	for_each_engine(e) {
	}
	fds = fd_count();
	change(&m);
	for_each_engine(e)
		compare(e, "after the changes");
	undo(&m);
	for_each_engine(e)
		compare(e, "after undoing them");

	/* Other supplementary groups (the pool then makes its child on the
	 * spot: see fl_pool_set_size(3)), and back. */
	if (geteuid() == 0) {
		gid_t saved[256];
		int n = getgroups(256, saved);

		setgroups(2, (gid_t[]){ 4242, 4343 });
		for_each_engine(e)
			compare(e, "after setgroups");
		setgroups(n > 0 ? (size_t)n : 0, saved);
		for_each_engine(e)
			compare(e, "after setgroups back");
	} else {
		skip("needs root to change the supplementary groups", "children after setgroups");
	}

	/* A real-time policy with reset-on-fork: a fork gets SCHED_OTHER. */
	{
		struct sched_param rt = { 1 }, param;
		int policy = sched_getscheduler(0);

		sched_getparam(0, &param);
		if (sched_setscheduler(0, SCHED_FIFO | SCHED_RESET_ON_FORK, &rt) == 0) {
			for_each_engine(e)
				compare(e, "under SCHED_FIFO with reset-on-fork");
			sched_setscheduler(0, policy, &param);
		} else {
			skip("a real-time policy is not allowed here", "children under SCHED_FIFO with reset-on-fork");
		}
	}

	/* Irreversible, hence last: no_new_privs, a nicer nice value, then a
	 * seccomp filter (one that allows everything), then a second one. */
	prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
	setpriority(PRIO_PROCESS, 0, getpriority(PRIO_PROCESS, 0) + 1);
	for_each_engine(e)
		compare(e, "after no_new_privs and nice +1");
	ret = geteuid() == 0 ? drop_caps() : -EPERM;
	if (ret == -EPERM) {
		skip("needs root with CAP_SETPCAP to change the capabilities", "children after a change of capabilities");
	} else {
		ok(ret == 0, "capabilities changed: CAP_SYS_BOOT dropped, CAP_NET_BIND_SERVICE ambient (%d)", ret);
		for_each_engine(e)
			compare(e, "after a change of capabilities");
	}
	ret = add_filter();
	if (ret == -EINVAL) {
		skip("the kernel has no seccomp filters", "children after a seccomp filter");
	} else {
		ok(ret == 0, "a seccomp filter added (%d)", ret);
		primed_after_filter("after a seccomp filter");
		for_each_engine(e)
			compare(e, "after a seccomp filter");
		ok(add_filter() == 0, "a second seccomp filter added");
		primed_after_filter("after a second seccomp filter");
		for_each_engine(e)
			if (e != FL_ENGINE_POOL)	/* documented: fl_pool_set_size(3) */
				compare(e, "after a second seccomp filter");
	}

	fl_primed_stop();	/* its images hold fds */
	ok(fd_count() == fds, "no fd leaked (%d, was %d)", fd_count(), fds);
	ok(!has_zombie(), "no zombie");
	return done();
}
