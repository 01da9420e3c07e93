// SPDX-License-Identifier: MIT
/*
 * The zygote engine: a small single-threaded helper process, forked from the
 * caller early (fl_zygote_start, or the first spawn), makes the children.  A
 * spawn is a request over a SOCK_SEQPACKET socketpair; the fds the child needs
 * travel with it (SCM_RIGHTS), and the child's pidfd comes back the same way.
 *
 * Why: the caller's size never matters (the zygote's address space is the
 * caller's as it was at the start), and a user callback may run in the child
 * with fork semantics (fl_spawn_fn), which no CLONE_VM engine can offer.
 *
 * The zygote makes each child with clone3(CLONE_PARENT): the child is the
 * caller's own child, not the zygote's, so it is waited for, signalled and
 * reaped through its pidfd like any other (no exit-status relay is needed),
 * its parent pid is the caller's, and its exit sends the caller SIGCHLD.
 * Without a callback the zygote's child shares the zygote's memory (CLONE_VM |
 * CLONE_VFORK), as the clone engine's does the caller's; with one it is a
 * fork of the zygote, and reports a failure down a pipe.
 *
 * A child must look, at exec, like one the clone engine makes at the moment
 * of the spawn, but the zygote froze the caller's state at its start.  So the
 * request carries the caller's current state, and the child takes it on
 * before the actions: its fd table (the caller's fds that survive exec and the
 * ones the actions name, at their numbers, with their close-on-exec flags),
 * cwd, umask, signal mask, ignored signals, rlimits, nice value, scheduling
 * policy, CPU affinity, I/O priority, personality, timer slack,
 * no_new_privs, uids, gids and groups, capabilities (the five sets),
 * environment.  What stays the zygote's (the caller's at the start):
 * process group and session, namespaces, cgroup, root directory,
 * oom_score_adj (a /proc file: two more opens a spawn).  Seccomp
 * filters (and a real-time thread's timer slack of 0) cannot be given: a
 * caller whose are not the zygote's gets a new zygote, forked from it at
 * that spawn.
 *
 * The zygote ends with the caller: EOF on its socket, and PR_SET_PDEATHSIG
 * (with a parent recheck) when the main thread started it;
 * one that died (EOF or EPIPE on the socket) is reaped and started again, and
 * the request retried once.  After fork() the child process does not use
 * the parent's zygote: the zygote's children would be the parent's.
 */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <linux/prctl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "inflight.h"
#include "sys.h"

#define ZMAGIC 0x7a79676fu	/* "zygo" */
#define ZMORE 0x7a6d6f72u	/* a message that carries only more fds */
#define FDS_PER_MSG 250		/* under SCM_MAX_FD (253) */
#define NLIMITS 16		/* RLIM_NLIMITS on Linux */
#define CPUSET_BYTES 128	/* 1024 CPUs */
#define INLINE_MAX (128 * 1024)	/* larger requests travel in a memfd */
#define MAX_REQUEST (64u << 20)


/* ---- the request ---------------------------------------------------------- */

struct zact {
	uint8_t op, flags;
	int32_t fd, fd2;
	int64_t arg, arg2;
	uint64_t size;
	uint32_t data_off, data_len;
};

struct zreq {
	uint32_t magic, size;		/* size: the whole request, data included */
	uint32_t nfds;			/* fds sent with it: cwd?, then the table's real ones */
	uint8_t has_cwd, in_memfd, has_fn;
	int32_t exec_fd;		/* the template's fd, at its number in the table, or -1 */
	uint32_t spec_flags, job_flags;
	int32_t parent_pid, cgroup_step;
	uint64_t mask, ignored;
	uint32_t umask;
	int32_t nice;
	uint32_t ruid, euid, suid, fsuid, rgid, egid, sgid, fsgid;
	uint32_t ngroups, off_groups;
	uint8_t nnp;			/* no_new_privs */
	struct fl_caps caps;
	int32_t ioprio;			/* the spawning thread's I/O priority */
	uint32_t persona;		/* personality(2) */
	int64_t slack;			/* the timer slack, ns */
	uint32_t filters;		/* the caller's seccomp filters (read by the caller only) */
	struct fl_sched_attr sched;	/* the spawning thread's */
	struct rlimit limits[NLIMITS];
	uint8_t cpuset[CPUSET_BYTES];
	int32_t cpuset_len;
	uint32_t off_path, off_file, off_search;	/* 0: none */
	uint64_t search_next;
	uint8_t search_eacces, sh;
	uint32_t argc, off_argv, envc, off_envp;	/* strings, one after another */
	uint32_t nacts[2], off_acts[2], off_order[2];
	int32_t max_fd[2], cgroups[2];
	uint32_t ops[2];
	uint32_t ntable, off_table;	/* int32 pairs: target fd, FD_* below */
	uint64_t fn;			/* the callback's address in the zygote */
	uint32_t off_fn_data, fn_len;
};

/* Kinds of fd table entries.  A placeholder keeps the number of a caller's
 * close-on-exec fd that no step names taken, so an open step's file lands
 * where it would in the caller (the lowest free number); it is closed at
 * exec like the fd it stands for.  Only numbers up to the highest target of
 * a step need one. */
enum { FD_KEEP, FD_CLOEXEC_REAL, FD_PLACEHOLDER };

struct zreply {
	int32_t error, step, pid;
};

/* ---- what the zygote knows of itself (its state is the caller's at start) -- */

struct zself {
	struct rlimit limits[NLIMITS];
	int32_t nice;
	uint8_t cpuset[CPUSET_BYTES];
	int32_t cpuset_len;
	uint64_t ignored;
	uint32_t ruid, euid, suid, fsuid, rgid, egid, sgid, fsgid;
	uint32_t ngroups;
	gid_t groups[NGROUPS_MAX];
	bool nnp;
	struct fl_caps caps;
	struct fl_sched_attr sched;
	int32_t ioprio;
	uint32_t persona;
	int64_t slack;
};

/* ---- the caller's side: its current state --------------------------------- */

/* Fields of /proc/thread-self/status: umask, ignored signals, ids, groups,
 * no_new_privs, capabilities (one read instead of 64 rt_sigaction calls and
 * several others). */
struct status_info {
	uint32_t umask;
	uint64_t ignored;
	bool nnp;
	struct fl_caps caps;
	uint32_t filters;	/* Seccomp_filters (a kernel without them: 0) */
	uint32_t uid[4], gid[4];
	uint32_t ngroups;
	gid_t groups[NGROUPS_MAX];
};

static int read_status(struct status_info *st)
{
	char buf[4096], *line;
	int fd = open("/proc/thread-self/status", O_RDONLY | O_CLOEXEC);
	ssize_t n;
	int found = 0;

	if (fd < 0)
		return -errno;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -EIO;
	buf[n] = 0;
	st->ngroups = 0;
	st->filters = 0;
	for (line = buf; line && *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL) {
		if (!strncmp(line, "Umask:", 6)) {
			st->umask = (uint32_t)strtoul(line + 6, NULL, 8);
			found |= 1;
		} else if (!strncmp(line, "SigIgn:", 7)) {
			st->ignored = strtoull(line + 7, NULL, 16);
			found |= 2;
		} else if (!strncmp(line, "Cap", 3) && line[3] && line[4] && line[5] && line[6] == ':') {
			static const char *const sets[] = { "Inh", "Prm", "Eff", "Bnd", "Amb" };
			uint64_t *to[] = { &st->caps.inh, &st->caps.prm, &st->caps.eff, &st->caps.bnd, &st->caps.amb };

			for (int i = 0; i < 5; i++)
				if (!strncmp(line + 3, sets[i], 3)) {
					*to[i] = strtoull(line + 7, NULL, 16);
					found |= 64 << i;
				}
		} else if (!strncmp(line, "Seccomp_filters:", 16)) {
			st->filters = (uint32_t)strtoul(line + 16, NULL, 10);
		} else if (!strncmp(line, "NoNewPrivs:", 11)) {
			st->nnp = strtoul(line + 11, NULL, 10) != 0;
			found |= 32;
		} else if (!strncmp(line, "Uid:", 4) || !strncmp(line, "Gid:", 4)) {
			uint32_t *ids = line[0] == 'U' ? st->uid : st->gid;
			char *p = line + 4;

			for (int i = 0; i < 4; i++)
				ids[i] = (uint32_t)strtoul(p, &p, 10);
			found |= line[0] == 'U' ? 4 : 8;
		} else if (!strncmp(line, "Groups:", 7)) {
			char *p = line + 7, *end;

			for (;;) {
				unsigned long g = strtoul(p, &end, 10);

				if (end == p || st->ngroups == NGROUPS_MAX)
					break;
				st->groups[st->ngroups++] = (gid_t)g;
				p = end;
			}
			found |= 16;
		}
	}
	return found == 2047 ? 0 : -EIO;
}

/* The rlimits from /proc/self/limits: one read (~8 us here) instead of 16
 * prlimit calls (~17 us).  Its lines follow the RLIMIT_* numbers; the soft
 * and hard values start at columns 26 and 47 ("unlimited" or a number). */
static int parse_limits(struct rlimit *limits)
{
	char buf[4096], *line;
	int fd = open("/proc/self/limits", O_RDONLY | O_CLOEXEC), r = -1;
	ssize_t n;

	if (fd < 0)
		return -1;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = 0;
	for (line = buf; line && r < NLIMITS; line = strchr(line, '\n'), line = line ? line + 1 : NULL, r++) {
		rlim_t v[2];
		char *p;

		if (r < 0)
			continue;	/* the header */
		if (strlen(line) < 47)
			return -1;
		p = line + 25;
		for (int k = 0; k < 2; k++) {
			while (*p == ' ')
				p++;
			if (!strncmp(p, "unlimited", 9)) {
				v[k] = RLIM_INFINITY;
				p += 9;
			} else if (*p >= '0' && *p <= '9') {
				v[k] = strtoull(p, &p, 10);
			} else {
				return -1;
			}
		}
		limits[r].rlim_cur = v[0];
		limits[r].rlim_max = v[1];
	}
	return r == NLIMITS ? 0 : -1;
}

static void read_limits(struct rlimit *limits, int32_t *nice, uint8_t *cpuset, int32_t *cpuset_len)
{
	if (parse_limits(limits) < 0)
		for (int r = 0; r < NLIMITS; r++)
			if (fl_sys4(__NR_prlimit64, 0, r, NULL, &limits[r]) < 0)
				limits[r].rlim_cur = limits[r].rlim_max = RLIM_INFINITY;
	/* The raw getpriority: 20 - nice, never an ambiguous -1. */
	*nice = 20 - (int32_t)fl_sys2(__NR_getpriority, PRIO_PROCESS, 0);
	memset(cpuset, 0, CPUSET_BYTES);
	*cpuset_len = (int32_t)fl_sys3(__NR_sched_getaffinity, 0, CPUSET_BYTES, cpuset);
}

/* The calling thread's I/O priority, personality and timer slack. */
static void read_misc(int32_t *ioprio, uint32_t *persona, int64_t *slack)
{
	*ioprio = (int32_t)fl_sys2(__NR_ioprio_get, 1, 0);	/* IOPRIO_WHO_PROCESS, this thread */
	*persona = (uint32_t)fl_sys1(__NR_personality, 0xffffffff);
	*slack = fl_sys1(__NR_prctl, PR_GET_TIMERSLACK);
}

/* ---- the zygote's state, in the caller ------------------------------------ */

static pthread_mutex_t zlock = PTHREAD_MUTEX_INITIALIZER;
static int zsock = -1, zpidfd = -1;
static pid_t zpid = -1;
static uint32_t zfilters;	/* the seccomp filters it was forked with */
static int64_t zslack;		/* and timer slack */
static pthread_once_t zatfork_once = PTHREAD_ONCE_INIT;
static __thread struct {
	int (*fn)(void *, size_t);
	const void *data;
	size_t len;
} pending_fn;

/* The forked child is not the zygote's caller: its spawns would make
 * children of the parent.  It forgets the zygote (closing is all it takes:
 * the parent keeps its own end).  No prepare handler taking zlock: the
 * zygote itself is forked with zlock held.  A fork while another thread
 * held it leaves it held in the child, hence the new lock. */
static void zafter_fork_child(void)
{
	if (zsock >= 0)
		close(zsock);
	if (zpidfd >= 0)
		close(zpidfd);
	zsock = zpidfd = -1;
	zpid = -1;
	pthread_mutex_init(&zlock, NULL);
}

static void zregister_atfork(void)
{
	pthread_atfork(NULL, NULL, zafter_fork_child);
}

/* ---- the zygote process --------------------------------------------------- */

static struct zself self;
static char *zstack;

static void zself_read(void)
{
	struct status_info st;

	read_limits(self.limits, &self.nice, self.cpuset, &self.cpuset_len);
	if (read_status(&st) == 0) {
		self.ignored = st.ignored;
		self.ruid = st.uid[0], self.euid = st.uid[1], self.suid = st.uid[2], self.fsuid = st.uid[3];
		self.rgid = st.gid[0], self.egid = st.gid[1], self.sgid = st.gid[2], self.fsgid = st.gid[3];
		self.ngroups = st.ngroups;
		memcpy(self.groups, st.groups, st.ngroups * sizeof(gid_t));
		self.nnp = st.nnp;
		self.caps = st.caps;
	}
	fl_sys_sched_get(0, &self.sched);
	read_misc(&self.ioprio, &self.persona, &self.slack);
}

/* Everything a zygote child needs, laid out by the zygote from a request. */
struct zjob {
	struct fl_job job;
	struct fl_spec spec;
	struct fl_actions acts[2];
	const struct zreq *req;
	const char *base;		/* the request */
	int *fds;			/* received, in the zygote's numbering */
	int *moved;			/* the child's copies of them (the zygote's fds stay as they are) */
	int report_w;			/* callback mode: the report pipe's write end */
};

static FL_CHILD_SIDE int bytes_differ(const void *a, const void *b, size_t n)
{
	const unsigned char *x = a, *y = b;

	for (size_t i = 0; i < n; i++)
		if (x[i] != y[i])
			return 1;
	return 0;
}

/*
 * The zygote's child takes on the caller's state.  Child-side rules (see
 * child.c): raw syscalls, nothing written but our own job.  The fds: every
 * received one first goes above the highest target (so no target clobbers a
 * source), then everything below is closed, then each lands on its number
 * with its flag, then the rest above is closed but for the two the library
 * still needs (exec fd, report pipe), which are already above.
 */
static FL_CHILD_SIDE int take_state(struct zjob *z)
{
	const struct zreq *q = z->req;
	const int32_t *table = (const int32_t *)(z->base + q->off_table);
	int top = -1, filler = -1, next = q->has_cwd, ret;

	for (uint32_t i = 0; i < q->ntable; i++)
		if (table[2 * i] > top)
			top = table[2 * i];
	if (q->has_cwd && (ret = (int)fl_sys1(__NR_fchdir, z->fds[0])) < 0)
		return ret;
	for (uint32_t i = 0; i < q->nfds; i++) {
		int moved = fl_sys_fcntl(z->fds[i], F_DUPFD_CLOEXEC, top + 1);

		if (moved < 0)
			return moved;
		z->moved[i] = filler = moved;
	}
	if (z->report_w >= 0) {
		int moved = fl_sys_fcntl(z->report_w, F_DUPFD_CLOEXEC, top + 1);

		if (moved < 0)
			return moved;
		z->report_w = filler = moved;
	}
	if (top >= 0 && (ret = fl_sys_close_range(0, (unsigned)top, 0)) < 0)
		return ret;
	for (uint32_t i = 0; i < q->ntable; i++) {
		int kind = table[2 * i + 1];

		if (kind == FD_PLACEHOLDER) {
			if (filler < 0 && (filler = fl_sys_openat(AT_FDCWD, "/", O_PATH | O_CLOEXEC, 0)) < 0)
				return filler;
			ret = fl_sys_dup3(filler, table[2 * i], O_CLOEXEC);
		} else {
			ret = fl_sys_dup3(z->moved[next++], table[2 * i], kind == FD_CLOEXEC_REAL ? O_CLOEXEC : 0);
		}
		if (ret < 0)
			return ret;
	}
	z->job.exec_fd = q->exec_fd;
	z->job.report_fd = z->report_w;
	/* All that is left above the table: the moved copies, the zygote's
	 * own; the report pipe stays until exec. */
	if (z->report_w > top + 1)
		fl_sys_close_range((unsigned)top + 1, (unsigned)z->report_w - 1, 0);
	fl_sys_close_range((unsigned)(z->report_w > top ? z->report_w : top) + 1, ~0u, 0);

	fl_sys1(__NR_umask, q->umask);
	for (int r = 0; r < NLIMITS; r++)
		if (bytes_differ(&q->limits[r], &self.limits[r], sizeof(struct rlimit)) &&
		    (ret = (int)fl_sys4(__NR_prlimit64, 0, r, &q->limits[r], NULL)) < 0)
			return ret;
	if (q->nice != self.nice && (ret = (int)fl_sys3(__NR_setpriority, PRIO_PROCESS, 0, q->nice)) < 0)
		return ret;
	if (q->cpuset_len > 0 && (q->cpuset_len != self.cpuset_len ||
				  bytes_differ(q->cpuset, self.cpuset, (size_t)q->cpuset_len)) &&
	    (ret = (int)fl_sys3(__NR_sched_setaffinity, 0, q->cpuset_len, q->cpuset)) < 0)
		return ret;

	/* Dispositions: CLONE_CLEAR_SIGHAND made the handled ones default; the
	 * ignored ones are the zygote's, which were the caller's at the start. */
	for (int sig = 1; sig < 65; sig++) {
		uint64_t bit = 1ull << (sig - 1);
		struct fl_ksigaction sa = { .handler = (q->ignored & bit) ? SIG_IGN : SIG_DFL };

		if (sig == SIGKILL || sig == SIGSTOP || !((q->ignored ^ self.ignored) & bit))
			continue;
		fl_sys_sigaction(sig, &sa, NULL);
	}

	if (fl_sched_differ(&q->sched, &self.sched) && (ret = fl_sys_sched_set(&q->sched)) < 0)
		return ret;
	if (q->ioprio >= 0 && q->ioprio != self.ioprio &&
	    (ret = (int)fl_sys3(__NR_ioprio_set, 1, 0, q->ioprio)) < 0)
		return ret;
	if (q->persona != self.persona && (ret = (int)fl_sys1(__NR_personality, q->persona)) < 0)
		return ret;
	/* A slack of 0 (a real-time thread's) cannot be set: 0 means the default. */
	if (q->slack > 0 && q->slack != self.slack &&
	    (ret = (int)fl_sys2(__NR_prctl, PR_SET_TIMERSLACK, q->slack)) < 0)
		return ret;
	if (q->nnp && !self.nnp && (ret = (int)fl_sys2(__NR_prctl, PR_SET_NO_NEW_PRIVS, 1)) < 0)
		return ret;

	/* Credentials last: they can take away the right to do the rest.  The
	 * bounding set first, while CAP_SETPCAP is still there; the other
	 * capability sets once the ids are the caller's. */
	if ((ret = fl_caps_bounding(self.caps.bnd, q->caps.bnd)) < 0)
		return ret;
	if (q->ngroups != self.ngroups ||
	    bytes_differ(z->base + q->off_groups, self.groups, q->ngroups * sizeof(gid_t))) {
		ret = (int)fl_sys2(__NR_setgroups, q->ngroups, z->base + q->off_groups);
		if (ret < 0)
			return ret;
	}
	if ((q->rgid != self.rgid || q->egid != self.egid || q->sgid != self.sgid) &&
	    (ret = (int)fl_sys3(__NR_setresgid, q->rgid, q->egid, q->sgid)) < 0)
		return ret;
	if (q->fsgid != q->egid)
		fl_sys1(__NR_setfsgid, q->fsgid);
	if ((q->ruid != self.ruid || q->euid != self.euid || q->suid != self.suid) &&
	    (ret = (int)fl_sys3(__NR_setresuid, q->ruid, q->euid, q->suid)) < 0)
		return ret;
	if (q->fsuid != q->euid)
		fl_sys1(__NR_setfsuid, q->fsuid);
	return fl_caps_take(&q->caps, self.caps.amb);
}

static FL_CHILD_SIDE int zygote_child(void *arg)
{
	struct zjob *z = arg;
	int ret = take_state(z);

	if (ret < 0) {
		z->job.slot.error = -ret;
		z->job.slot.step = FL_STEP_SPAWN;
		if (z->job.report_fd >= 0) {
			struct fl_slot rep = { -ret, FL_STEP_SPAWN };

			fl_sys_write(z->job.report_fd, &rep, sizeof(rep));
		}
		fl_sys_exit(127);
	}
	return fl_child_main(&z->job);
}

/* fl_job.hook in callback mode: the user's function, in the forked child. */
static int run_callback(struct fl_job *job)
{
	struct zjob *z = job->hook_arg;
	int (*fn)(void *, size_t) = (int (*)(void *, size_t))(uintptr_t)z->req->fn;

	return fn((void *)(z->base + z->req->off_fn_data), z->req->fn_len);
}

/* Points DST at the request's action list LIST. */
static int build_actions(struct fl_actions *dst, const struct zreq *q, const char *base, int list)
{
	const struct zact *src = (const struct zact *)(base + q->off_acts[list]);

	fl_actions_init(dst);
	dst->n = dst->cap = (int)q->nacts[list];
	dst->max_fd = q->max_fd[list];
	dst->cgroups = q->cgroups[list];
	dst->ops = q->ops[list];
	dst->order = (int *)(base + q->off_order[list]);
	if (!dst->n)
		return 0;
	dst->v = calloc((size_t)dst->n, sizeof(*dst->v));
	if (!dst->v)
		return -ENOMEM;
	for (int i = 0; i < dst->n; i++) {
		struct fl_action *a = &dst->v[i];

		a->op = src[i].op;
		a->flags = src[i].flags;
		a->fd = src[i].fd;
		a->fd2 = src[i].fd2;
		a->arg = (long)src[i].arg;
		a->arg2 = (long)src[i].arg2;
		a->size = (size_t)src[i].size;
		a->data = src[i].data_len ? (void *)(base + src[i].data_off) : NULL;
	}
	return 0;
}

/* A vector of COUNT strings laid one after another at OFF. */
static char **build_vector(const char *base, uint32_t off, uint32_t count)
{
	char **v = malloc((count + 1) * sizeof(char *));
	const char *s = base + off;

	if (!v)
		return NULL;
	for (uint32_t i = 0; i < count; i++) {
		v[i] = (char *)s;
		s += strlen(s) + 1;
	}
	v[count] = NULL;
	return v;
}

/* Closes the N fds received: usually the lowest numbers, one run, one call. */
static void close_all(const int *fds, int n)
{
	int lo = n ? fds[0] : 0, hi = lo;

	for (int i = 1; i < n; i++) {
		lo = fds[i] < lo ? fds[i] : lo;
		hi = fds[i] > hi ? fds[i] : hi;
	}
	if (n && hi - lo + 1 == n) {
		fl_sys_close_range((unsigned)lo, (unsigned)hi, 0);
		return;
	}
	for (int i = 0; i < n; i++)
		close(fds[i]);
}

/* Makes the child a request asks for; fills the reply.  Returns the child's
 * pidfd in the zygote, or -1. */
static int zygote_spawn(char *base, int *fds, struct zreply *rep)
{
	const struct zreq *q = (const struct zreq *)base;
	struct zjob *z = calloc(1, sizeof(*z));
	char **argv = NULL, **envp = NULL, **sh_argv = NULL;
	int pidfd = -1, pipefd[2] = { -1, -1 }, ret = -ENOMEM;
	long pid;

	rep->pid = -1;
	rep->step = FL_STEP_SPAWN;
	if (!z)
		goto out;
	z->req = q;
	z->base = base;
	z->fds = fds;
	z->moved = calloc(q->nfds + 1, sizeof(int));
	if (!z->moved)
		goto out;
	z->report_w = -1;
	z->spec.path = q->off_path ? base + q->off_path : NULL;
	z->spec.file = q->off_file ? base + q->off_file : NULL;
	z->spec.search = q->off_search ? base + q->off_search : NULL;
	z->spec.search_next = (size_t)q->search_next;
	z->spec.search_eacces = q->search_eacces;
	z->spec.flags = q->spec_flags;
	z->spec.exec_fd = q->exec_fd;
	if (build_actions(&z->acts[0], q, base, 0) < 0 || build_actions(&z->acts[1], q, base, 1) < 0)
		goto out;
	argv = build_vector(base, q->off_argv, q->argc);
	envp = build_vector(base, q->off_envp, q->envc);
	if (!argv || !envp)
		goto out;
	if (q->sh) {
		uint32_t n = (q->argc ? q->argc : 1) + 2;

		sh_argv = calloc(n, sizeof(char *));
		if (!sh_argv)
			goto out;
		sh_argv[0] = (char *)"/bin/sh";
		for (uint32_t i = 1; i < q->argc; i++)
			sh_argv[i + 1] = argv[i];
	}
	z->job.spec = &z->spec;
	z->job.argv = argv;
	z->job.envp = envp;
	z->job.sh_argv = sh_argv;
	z->job.acts[0] = &z->acts[0];
	z->job.acts[1] = q->nacts[1] ? &z->acts[1] : NULL;
	z->job.exec_fd = -1;
	z->job.cgroup_fd = -1;
	z->job.cgroup_step = q->cgroup_step;
	z->job.report_fd = -1;
	z->job.parent_pid = q->parent_pid;
	z->job.flags = fl_has(FL_FEAT_CLEAR_SIGHAND) ? FL_JOB_SIGHAND_CLEARED : 0;
	z->job.mask = q->mask;
	z->job.slot.error = 0;
	z->job.slot.step = FL_STEP_SPAWN;
	if (q->has_fn) {
		/* Fork semantics: the child has its own copy of the zygote, so it
		 * reports down a pipe (closed by exec: EOF means exec'd). */
		if (pipe2(pipefd, O_CLOEXEC) < 0) {
			ret = -errno;
			goto out;
		}
		z->report_w = pipefd[1];
		z->job.hook = run_callback;
		z->job.hook_arg = z;
	}

	{
		struct fl_clone_args ca = {
			.flags = CLONE_PARENT | CLONE_VFORK | CLONE_PIDFD | (q->has_fn ? 0 : CLONE_VM) |
				 (fl_has(FL_FEAT_CLEAR_SIGHAND) ? CLONE_CLEAR_SIGHAND : 0),
			.pidfd = (uintptr_t)&pidfd,
			.stack = (uintptr_t)zstack,
			.stack_size = FL_STACK_SIZE + FL_STACK_GUARD,
		};

		pid = fl_clone3(&ca, zygote_child, z);
	}
	if (pipefd[1] >= 0)
		close(pipefd[1]);
	if (pid < 0) {
		ret = (int)pid;
		goto out;
	}
	rep->pid = (int32_t)pid;
	ret = 0;
	if (q->has_fn) {
		struct fl_slot slot;
		long n;

		do
			n = fl_sys_read(pipefd[0], &slot, sizeof(slot));
		while (n == -EINTR);
		if (n == sizeof(slot)) {
			ret = -slot.error;
			rep->step = slot.step;
		}
	} else if (z->job.slot.error) {
		ret = -z->job.slot.error;
		rep->step = z->job.slot.step;
	}
out:
	if (pipefd[0] >= 0)
		close(pipefd[0]);
	rep->error = -ret;
	if (!ret)
		rep->step = 0;
	if (z) {
		free(z->acts[0].v);
		free(z->acts[1].v);
		free(z->moved);
	}
	free(z);
	free(argv);
	free(envp);
	free(sh_argv);
	return pidfd;
}

/* Receives one message with its fds into BUF/FDS.  Returns its length, 0 at
 * EOF, or -errno. */
static long recv_msg(int sock, void *buf, size_t len, int *fds, int maxfds, int *nfds)
{
	char cbuf[CMSG_SPACE(FDS_PER_MSG * sizeof(int))];
	struct iovec iov = { buf, len };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf,
			     .msg_controllen = sizeof(cbuf) };
	long n;

	*nfds = 0;
	do
		n = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
		int k = (int)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));

		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		for (int i = 0; i < k; i++) {
			int fd;

			memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
			if (*nfds < maxfds)
				fds[(*nfds)++] = fd;
			else
				close(fd);
		}
	}
	if (mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC))
		return -EMSGSIZE;
	return n;
}

static int send_msg(int sock, const void *buf, size_t len, const int *fds, int nfds)
{
	char cbuf[CMSG_SPACE(FDS_PER_MSG * sizeof(int))];
	struct iovec iov = { (void *)buf, len };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	long n;

	if (nfds) {
		struct cmsghdr *c;

		memset(cbuf, 0, sizeof(cbuf));
		mh.msg_control = cbuf;
		mh.msg_controllen = CMSG_SPACE(nfds * sizeof(int));
		c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(nfds * sizeof(int));
		memcpy(CMSG_DATA(c), fds, nfds * sizeof(int));
	}
	do
		n = sendmsg(sock, &mh, MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	return n < 0 ? -errno : 0;
}

static __attribute__((noreturn)) void zygote_main(int sock, pid_t caller, bool main_thread)
{
	static char inbuf[INLINE_MAX + sizeof(struct zreq)];
	uint64_t all = ~0ull;

	/* Ends with the caller: at EOF on the socket (every copy of the
	 * caller's end closed, which its death does), and by a parent-death
	 * signal, with the recheck for a caller that died before the prctl.
	 * That signal fires when the starting *thread* exits: only when the
	 * main thread started it, or a worker thread's end would kill it. */
	if (main_thread)
		prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != caller)
		_exit(0);
	/* Named, for ps and for tools that look at a process's children. */
	prctl(PR_SET_NAME, "forkless-zygote");
	/* No handler of the caller's ever runs here; the children get their
	 * mask from the request. */
	fl_sys_sigprocmask(SIG_SETMASK, (const sigset_t *)&all, NULL);
	/* Hold none of the caller's fds (a pipe's reader waits for every
	 * writer to close): only the socket stays. */
	if (sock > 0)
		fl_sys_close_range(0, (unsigned)sock - 1, 0);
	fl_sys_close_range((unsigned)sock + 1, ~0u, 0);
	zself_read();
	zstack = fl_stack_map();
	if (!zstack)
		_exit(1);

	for (;;) {
		int *fds, nfds, got, pidfd;
		struct zreply rep = { 0, FL_STEP_SPAWN, -1 };
		struct zreq *q;
		char *base = inbuf;
		size_t mapped = 0;
		long n;

		fds = NULL;
		{
			int first[FDS_PER_MSG];

			n = recv_msg(sock, inbuf, sizeof(inbuf), first, FDS_PER_MSG, &got);
			if (n == 0)
				_exit(0);	/* the caller closed its end */
			q = (struct zreq *)inbuf;
			if (n < (long)sizeof(uint32_t) * 3 || q->magic != ZMAGIC || q->nfds > (1u << 20)) {
				for (int i = 0; i < got; i++)
					close(first[i]);
				if (n < 0 && n != -EMSGSIZE)
					_exit(1);
				rep.error = EPROTO;
				send_msg(sock, &rep, sizeof(rep), NULL, 0);
				continue;
			}
			fds = malloc((q->nfds + 1) * sizeof(int));
			if (!fds)
				_exit(1);
			memcpy(fds, first, got * sizeof(int));
		}
		nfds = got;
		/* The rest of the fds, FDS_PER_MSG a message. */
		while (nfds < (int)q->nfds) {
			uint32_t tag;

			n = recv_msg(sock, &tag, sizeof(tag), fds + nfds, (int)q->nfds - nfds, &got);
			if (n <= 0)
				_exit(n == 0 ? 0 : 1);
			nfds += got;
		}
		if (q->in_memfd) {
			/* The request proper is in the memfd, the first fd. */
			struct stat st;

			if (nfds < 1 || fstat(fds[0], &st) < 0 || (uint64_t)st.st_size < sizeof(*q) ||
			    (uint64_t)st.st_size > MAX_REQUEST) {
				rep.error = EPROTO;
			} else {
				mapped = (size_t)st.st_size;
				base = mmap(NULL, mapped, PROT_READ | PROT_WRITE, MAP_PRIVATE, fds[0], 0);
				if (base == MAP_FAILED) {
					rep.error = ENOMEM;
					mapped = 0;
				}
			}
			close(fds[0]);
			memmove(fds, fds + 1, (size_t)(--nfds) * sizeof(int));
			q = (struct zreq *)base;
		}
		pidfd = -1;
		if (!rep.error)
			pidfd = zygote_spawn(base, fds, &rep);
		close_all(fds, nfds);
		free(fds);
		if (mapped)
			munmap(base, mapped);
		/* The caller reaps a failed child itself: it is its child. */
		send_msg(sock, &rep, sizeof(rep), pidfd >= 0 ? &pidfd : NULL, pidfd >= 0);
		if (pidfd >= 0)
			close(pidfd);
	}
}

/* ---- starting and stopping, in the caller --------------------------------- */

static void stop_locked(void)
{
	if (zsock >= 0)
		close(zsock);	/* EOF: the zygote exits */
	zsock = -1;
	if (zpidfd >= 0) {
		siginfo_t si;

		while (waitid(P_PIDFD, zpidfd, &si, WEXITED) < 0 && errno == EINTR)
			;
		close(zpidfd);
	} else if (zpid > 0) {
		while (waitpid(zpid, NULL, 0) < 0 && errno == EINTR)
			;
	}
	zpidfd = -1;
	zpid = -1;
}

static int start_locked(void)
{
	int sv[2], ret;
	pid_t caller, pid;
	uint64_t all = ~0ull;
	sigset_t old;
	bool main_thread;

	if (zsock >= 0)
		return 0;
	caller = getpid();
	main_thread = syscall(SYS_gettid) == caller;
	{
		struct status_info st;

		zfilters = read_status(&st) == 0 ? st.filters : 0;
		zslack = prctl(PR_GET_TIMERSLACK);
	}
	pthread_once(&zatfork_once, zregister_atfork);
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
		return -errno;
	/* fork(), not a CLONE_VM clone: the zygote needs its own memory.  Its
	 * atfork handlers run, ours included (the zygote forgets this end).
	 * Every signal blocked across it: the zygote has the caller's
	 * handlers, and none may run there, not even before it blocks them
	 * itself for good. */
	fl_sys_sigprocmask(SIG_SETMASK, (const sigset_t *)&all, &old);
	pid = fork();
	if (pid == 0) {
		close(sv[0]);
		zygote_main(sv[1], caller, main_thread);
	}
	ret = errno;
	fl_sys_sigprocmask(SIG_SETMASK, &old, NULL);
	close(sv[1]);
	if (pid < 0) {
		close(sv[0]);
		return -ret;
	}
	zsock = sv[0];
	zpid = pid;
	zpidfd = fl_pidfd_for(pid);
	return 0;
}

FL_API int fl_zygote_start(void)
{
	int ret;

	pthread_mutex_lock(&zlock);
	ret = start_locked();
	pthread_mutex_unlock(&zlock);
	return ret;
}

FL_API void fl_zygote_stop(void)
{
	pthread_mutex_lock(&zlock);
	stop_locked();
	pthread_mutex_unlock(&zlock);
}

FL_API pid_t fl_zygote_pid(void)
{
	pid_t pid;

	pthread_mutex_lock(&zlock);
	pid = zsock >= 0 ? zpid : -1;
	pthread_mutex_unlock(&zlock);
	return pid;
}

/* ---- the request, built in the caller ------------------------------------- */

struct buf {
	char *p;
	size_t len, cap;
	int err;
};

static uint32_t put(struct buf *b, const void *data, size_t len)
{
	size_t off = (b->len + 7) & ~(size_t)7;

	if (off + len > b->cap) {
		size_t cap = b->cap ? b->cap : 4096;
		char *p;

		while (cap < off + len)
			cap *= 2;
		p = realloc(b->p, cap);
		if (!p) {
			b->err = -ENOMEM;
			return 0;
		}
		b->p = p;
		b->cap = cap;
	}
	if (data)
		memcpy(b->p + off, data, len);
	else
		memset(b->p + off, 0, len);
	b->len = off + len;
	return (uint32_t)off;
}

static uint32_t put_str(struct buf *b, const char *s)
{
	return s ? put(b, s, strlen(s) + 1) : 0;
}

/* Strings of V one after another; the count in *N. */
static uint32_t put_vector(struct buf *b, char *const *v, uint32_t *n)
{
	size_t total = 0;
	uint32_t off;
	char *p;

	for (*n = 0; v[*n]; (*n)++)
		total += strlen(v[*n]) + 1;
	off = put(b, NULL, total);
	if (b->err)
		return 0;
	p = b->p + off;
	for (uint32_t i = 0; i < *n; i++) {
		size_t len = strlen(v[i]) + 1;

		memcpy(p, v[i], len);
		p += len;
	}
	return off;
}

/* The data bytes of an action: a path is a string, the rest has a size. */
static size_t action_data_len(const struct fl_action *a)
{
	if (!a->data)
		return 0;
	if (!a->size && (a->op == FL_OP_OPEN || a->op == FL_OP_CHDIR))
		return strlen(a->data) + 1;
	return a->size;
}

static void put_actions(struct buf *b, struct zreq *q, const struct fl_actions *acts, int list)
{
	struct zact *za;
	uint32_t off;

	if (!acts || !acts->n)
		return;
	off = put(b, NULL, (size_t)acts->n * sizeof(struct zact));
	q = (struct zreq *)b->p;	/* put may move the buffer */
	q->nacts[list] = (uint32_t)acts->n;
	q->off_acts[list] = off;
	q->max_fd[list] = acts->max_fd;
	q->cgroups[list] = acts->cgroups;
	q->ops[list] = acts->ops;
	for (int i = 0; i < acts->n; i++) {
		const struct fl_action *a = &acts->v[i];
		size_t len = action_data_len(a);
		uint32_t data = len ? put(b, a->data, len) : 0;

		za = (struct zact *)(b->p + off) + i;
		*za = (struct zact){ a->op, a->flags, a->fd, a->fd2, a->arg, a->arg2, a->size, data, (uint32_t)len };
	}
	off = put(b, acts->order, (size_t)acts->n * sizeof(int));
	((struct zreq *)b->p)->off_order[list] = off;
}

/* Whether an action names FD as an fd the caller has (and the child needs). */
static bool names_fd(const struct fl_job *job, int fd)
{
	for (int list = 0; list < 2; list++) {
		const struct fl_actions *acts = job->acts[list];

		for (int i = 0; acts && i < acts->n; i++) {
			const struct fl_action *a = &acts->v[i];

			switch (a->op) {
			case FL_OP_DUP2:
				if (a->fd2 == fd || a->fd == fd)
					return true;
				break;
			case FL_OP_CLOSEFROM: case FL_OP_UMASK: case FL_OP_SETSID: case FL_OP_SETPGID:
			case FL_OP_SIGMASK: case FL_OP_SIGDEFAULT: case FL_OP_RLIMIT: case FL_OP_PRIORITY:
			case FL_OP_AFFINITY: case FL_OP_SETGROUPS: case FL_OP_SETGID: case FL_OP_SETUID:
			case FL_OP_PDEATHSIG: case FL_OP_NO_NEW_PRIVS: case FL_OP_UNSHARE: case FL_OP_CHDIR:
				break;
			default:	/* close, open, fchdir, tcsetpgrp, cgroup, and steps to come */
				if (a->fd == fd)
					return true;
			}
		}
	}
	return false;
}

/* The fds to send: grown as needed, kept per thread like the request
 * buffer, so a spawn allocates nothing once the thread has made one. */
struct fdvec {
	int *v;
	int n, cap;
};

static int fdvec_add(struct fdvec *f, int fd)
{
	if (f->n == f->cap) {
		int cap = f->cap ? 2 * f->cap : 64;
		int *v = realloc(f->v, (size_t)cap * sizeof(int));

		if (!v)
			return -ENOMEM;
		f->v = v;
		f->cap = cap;
	}
	f->v[f->n++] = fd;
	return 0;
}

/*
 * The caller's fd table as the child needs it, appended to B as (number,
 * kind) pairs; the fds to send appended to FDS.  Sent: every fd without
 * close-on-exec (it survives the exec), every fd a step names, the
 * template's exec fd.  A placeholder for the other close-on-exec fds up to
 * the highest fd a step makes (see FD_PLACEHOLDER).  The library's own
 * transient fds (the listing's, the cwd's) are opened outside this scan.
 */
static int collect_fds(const struct fl_job *job, struct buf *b, struct fdvec *fds, uint32_t *ntable)
{
	char dbuf[4096];
	int dir = open("/proc/self/fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int high = job->acts[0]->max_fd;
	long n;

	if (job->acts[1] && job->acts[1]->max_fd > high)
		high = job->acts[1]->max_fd;
	if (dir < 0)
		return -errno;
	*ntable = 0;
	while ((n = fl_sys3(__NR_getdents64, dir, dbuf, sizeof(dbuf))) > 0) {
		for (long off = 0; off < n;) {
			struct dirent64 *d = (struct dirent64 *)(dbuf + off);
			int32_t entry[2];
			int fd, flags;
			char *end;

			off += d->d_reclen;
			fd = (int)strtol(d->d_name, &end, 10);
			if (*end || end == d->d_name || fd == dir)
				continue;
			flags = fcntl(fd, F_GETFD);
			if (flags < 0)
				continue;
			entry[0] = fd;
			if (!(flags & FD_CLOEXEC))
				entry[1] = FD_KEEP;
			else if (fd == job->exec_fd || names_fd(job, fd))
				entry[1] = FD_CLOEXEC_REAL;
			else if (fd <= high)
				entry[1] = FD_PLACEHOLDER;
			else
				continue;
			if (entry[1] != FD_PLACEHOLDER && fdvec_add(fds, fd) < 0) {
				close(dir);
				return -ENOMEM;
			}
			put(b, entry, sizeof(entry));
			(*ntable)++;
		}
	}
	close(dir);
	return n < 0 ? (int)n : b->err;
}

/* Builds the request for JOB: the data into B, the fds to send into FDS
 * (the cwd's first, opened here: *CWD, for the caller to close). */
static int build_request(const struct fl_job *job, struct buf *b, struct fdvec *fds, int *cwd)
{
	const struct fl_spec *spec = job->spec;
	struct status_info st;
	struct zreq *q;
	uint32_t off, n, ntable = 0;
	int ret;

	b->len = 0;
	b->err = 0;
	fds->n = 0;
	ret = read_status(&st);
	if (ret < 0)
		return ret;
	put(b, NULL, sizeof(struct zreq));
	if (b->err)
		return b->err;
	q = (struct zreq *)b->p;
	q->magic = ZMAGIC;
	q->umask = st.umask;
	q->ignored = st.ignored;
	q->nnp = st.nnp;
	q->caps = st.caps;
	q->filters = st.filters;
	read_misc(&q->ioprio, &q->persona, &q->slack);
	q->ruid = st.uid[0], q->euid = st.uid[1], q->suid = st.uid[2], q->fsuid = st.uid[3];
	q->rgid = st.gid[0], q->egid = st.gid[1], q->sgid = st.gid[2], q->fsgid = st.gid[3];
	read_limits(q->limits, &q->nice, q->cpuset, &q->cpuset_len);
	if (fl_sys_sched_get(0, &q->sched) == 0) {
		/* The clone engine's child is a fork of this thread. */
		fl_sched_forked(&q->sched);
		q->nice = q->sched.nice;
	}
	q->spec_flags = spec->flags;
	q->parent_pid = job->parent_pid;
	q->cgroup_step = job->cgroup_step;
	q->exec_fd = job->exec_fd;
	fl_sys_sigprocmask(SIG_BLOCK, NULL, (sigset_t *)&q->mask);
	q->search_next = spec->search_next;
	q->search_eacces = spec->search_eacces;
	q->sh = job->sh_argv != NULL;
	q->ngroups = st.ngroups;

	off = put(b, st.groups, st.ngroups * sizeof(gid_t));
	((struct zreq *)b->p)->off_groups = off;
	off = put_str(b, spec->path);
	((struct zreq *)b->p)->off_path = off;
	off = put_str(b, spec->file);
	((struct zreq *)b->p)->off_file = off;
	off = put_str(b, spec->search);
	((struct zreq *)b->p)->off_search = off;
	off = put_vector(b, job->argv, &n);
	((struct zreq *)b->p)->off_argv = off, ((struct zreq *)b->p)->argc = n;
	off = put_vector(b, job->envp, &n);
	((struct zreq *)b->p)->off_envp = off, ((struct zreq *)b->p)->envc = n;
	put_actions(b, (struct zreq *)b->p, job->acts[0], 0);
	put_actions(b, (struct zreq *)b->p, job->acts[1], 1);
	if (pending_fn.fn) {
		off = put(b, pending_fn.data, pending_fn.len);
		q = (struct zreq *)b->p;
		q->has_fn = 1;
		q->fn = (uintptr_t)pending_fn.fn;
		q->off_fn_data = off;
		q->fn_len = (uint32_t)pending_fn.len;
	}

	/* The cwd first, then the table's real fds in table order. */
	if (fdvec_add(fds, -1) < 0)
		return -ENOMEM;
	off = put(b, NULL, 0);
	ret = collect_fds(job, b, fds, &ntable);
	if (ret < 0)
		return ret;
	/* Opened after the listing: the library's fd must not be in the table. */
	*cwd = open(".", O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (*cwd >= 0) {
		fds->v[0] = *cwd;
	} else {
		memmove(fds->v, fds->v + 1, (size_t)(--fds->n) * sizeof(int));
	}
	q = (struct zreq *)b->p;
	q->has_cwd = *cwd >= 0;
	q->off_table = off;
	q->ntable = ntable;
	q->nfds = (uint32_t)fds->n;
	q->size = (uint32_t)b->len;
	return b->err;
}

/* Sends the request and reads the reply.  -EPIPE or -ECONNRESET: the zygote
 * is gone. */
static int exchange(struct buf *b, int *fds, int nfds, struct zreply *rep, int *pidfd)
{
	struct zreq *q = (struct zreq *)b->p;
	int first = nfds < FDS_PER_MSG ? nfds : FDS_PER_MSG, memfd = -1, ret;
	int got;
	long n;

	ret = b->len <= INLINE_MAX ? send_msg(zsock, b->p, b->len, fds, first) : -EMSGSIZE;
	if (ret == -EMSGSIZE) {
		/* Too big for one datagram: the request goes in a memfd, sent as
		 * the first fd, with the header alone in the message. */
		int *with = malloc((size_t)(nfds + 1) * sizeof(int));
		struct zreq head = *q;

		memfd = memfd_create("forkless-zygote", MFD_CLOEXEC);
		if (!with || memfd < 0 || write(memfd, b->p, b->len) != (ssize_t)b->len) {
			free(with);
			if (memfd >= 0)
				close(memfd);
			return -ENOMEM;
		}
		with[0] = memfd;
		memcpy(with + 1, fds, (size_t)nfds * sizeof(int));
		head.in_memfd = 1;
		head.nfds = (uint32_t)nfds + 1;
		nfds++;
		first = nfds < FDS_PER_MSG ? nfds : FDS_PER_MSG;
		ret = send_msg(zsock, &head, sizeof(head), with, first);
		for (int sent = first; ret == 0 && sent < nfds; sent += FDS_PER_MSG) {
			uint32_t tag = ZMORE;
			int k = nfds - sent < FDS_PER_MSG ? nfds - sent : FDS_PER_MSG;

			ret = send_msg(zsock, &tag, sizeof(tag), with + sent, k);
		}
		free(with);
		close(memfd);
	} else {
		for (int sent = first; ret == 0 && sent < nfds; sent += FDS_PER_MSG) {
			uint32_t tag = ZMORE;
			int k = nfds - sent < FDS_PER_MSG ? nfds - sent : FDS_PER_MSG;

			ret = send_msg(zsock, &tag, sizeof(tag), fds + sent, k);
		}
	}
	if (ret < 0)
		return ret == -ENOTCONN ? -EPIPE : ret;
	n = recv_msg(zsock, rep, sizeof(*rep), pidfd, 1, &got);
	if (n == 0)
		return -ECONNRESET;
	if (n < 0)
		return (int)n;
	if (!got)
		*pidfd = -1;
	return n == sizeof(*rep) ? 0 : -EPROTO;
}

/* Each thread's request buffer and fd list, kept from spawn to spawn. */
struct ztls {
	struct buf b;
	struct fdvec fds;
};

static pthread_key_t tls_key;
static pthread_once_t tls_once = PTHREAD_ONCE_INIT;
static __thread struct ztls *tls;

static void tls_free(void *arg)
{
	struct ztls *t = arg;

	free(t->b.p);
	free(t->fds.v);
	free(t);
}

static void tls_make_key(void)
{
	pthread_key_create(&tls_key, tls_free);
}

int fl_engine_zygote(struct fl_job *job, fl_child *child)
{
	struct zreply rep;
	int cwd = -1, pidfd = -1, ret, cancel;

	if (!tls) {
		pthread_once(&tls_once, tls_make_key);
		tls = calloc(1, sizeof(*tls));
		if (!tls)
			return -ENOMEM;
		pthread_setspecific(tls_key, tls);
	}
	/* A cancellation inside the exchange would leave the protocol half
	 * way: not here. */
	pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &cancel);
	ret = build_request(job, &tls->b, &tls->fds, &cwd);
	if (ret == 0) {
		const struct zreq *q = (const struct zreq *)tls->b.p;

		pthread_mutex_lock(&zlock);
		/* What no child can be given: seccomp filters, and a timer slack
		 * of 0 (a real-time thread's, kept by a fork with reset-on-fork:
		 * prctl takes 0 for "the default").  If the calling thread's are
		 * not the zygote's, a zygote forked from it now has them. */
		if (zsock >= 0 && (q->filters != zfilters || (q->slack == 0) != (zslack == 0)))
			stop_locked();
		for (int attempt = 0; attempt < 2; attempt++) {
			ret = start_locked();
			if (ret < 0)
				break;
			ret = exchange(&tls->b, tls->fds.v, tls->fds.n, &rep, &pidfd);
			if (ret != -EPIPE && ret != -ECONNRESET)
				break;
			/* It died (killed, crashed): reap it, start another, once. */
			stop_locked();
		}
		pthread_mutex_unlock(&zlock);
	}
	if (cwd >= 0)
		close(cwd);
	pthread_setcancelstate(cancel, NULL);
	if (ret < 0)
		return ret;
	if (rep.error) {
		job->slot.error = rep.error;
		job->slot.step = rep.step;
		if (rep.pid > 0)
			fl_reap_failed(rep.pid, pidfd);
		else if (pidfd >= 0)
			close(pidfd);
		return -rep.error;
	}
	child->pid = rep.pid;
	child->pidfd = pidfd >= 0 ? pidfd : fl_pidfd_for(rep.pid);
	return 0;
}

FL_API int fl_spawn_fn(const fl_spec *spec, const fl_spawn_args *args, int (*fn)(void *data, size_t len),
		       const void *data, size_t len, fl_child *child, fl_report *report)
{
	struct fl_spec copy;
	int ret;

	if (report)
		*report = (fl_report){ EINVAL, FL_STEP_SPAWN };
	if (!spec || !fn || (len && !data) || len > MAX_REQUEST / 2)
		return -EINVAL;
	/* The template as it is, on the zygote: a shallow copy, read only
	 * while the request is built. */
	copy = *spec;
	copy.engine = FL_ENGINE_ZYGOTE;
	pending_fn.fn = fn;
	pending_fn.data = data;
	pending_fn.len = len;
	ret = fl_spawn(&copy, args, child, report);
	pending_fn.fn = NULL;
	return ret;
}
