// SPDX-License-Identifier: MIT
/* Action lists: the setup steps a child runs before exec, validated here in
 * the parent where an error is cheap and clear. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define CRED_OPS ((1u << FL_OP_SETGROUPS) | (1u << FL_OP_SETGID) | (1u << FL_OP_SETUID))

void fl_actions_init(struct fl_actions *acts)
{
	memset(acts, 0, sizeof(*acts));
	acts->max_fd = -1;
}

void fl_actions_clear(struct fl_actions *acts)
{
	for (int i = 0; i < acts->n; i++)
		free(acts->v[i].data);
	free(acts->v);
	free(acts->order);
	fl_actions_init(acts);
}

FL_API int fl_actions_new(fl_actions **out)
{
	struct fl_actions *acts = malloc(sizeof(*acts));

	if (!acts)
		return -ENOMEM;
	fl_actions_init(acts);
	*out = acts;
	return 0;
}

FL_API void fl_actions_free(fl_actions *acts)
{
	if (!acts)
		return;
	fl_inflight_quiesce(acts);	/* async children not yet exec'd read it */
	fl_actions_clear(acts);
	free(acts);
}

FL_API int fl_actions_count(const fl_actions *acts)
{
	return acts ? acts->n : 0;
}

static int cred_rank(int op)
{
	return op == FL_OP_SETGROUPS ? 0 : op == FL_OP_SETGID ? 1 : 2;
}

/*
 * The run order, recomputed at each add so that a spawn computes nothing:
 * the order of addition, except that the credential steps all run at the
 * place of the first of them (groups, then gid, then uid: once the uid has
 * changed the others are no longer allowed) and parent-death signals run
 * after them (commit_creds() clears the signal when the ids change).
 */
static void reorder(struct fl_actions *acts)
{
	int k = 0, first_cred = -1;

	for (int i = 0; i < acts->n; i++)
		if ((1u << acts->v[i].op) & CRED_OPS) {
			first_cred = i;
			break;
		}
	for (int i = 0; i < acts->n; i++) {
		int op = acts->v[i].op;

		if (i == first_cred)
			for (int rank = 0; rank < 3; rank++)
				for (int j = i; j < acts->n; j++)
					if (((1u << acts->v[j].op) & CRED_OPS) &&
					    cred_rank(acts->v[j].op) == rank)
						acts->order[k++] = j;
		if (((1u << op) & CRED_OPS) || (op == FL_OP_PDEATHSIG && first_cred >= 0))
			continue;
		acts->order[k++] = i;
	}
	for (int i = 0; i < acts->n && first_cred >= 0; i++)
		if (acts->v[i].op == FL_OP_PDEATHSIG)
			acts->order[k++] = i;
}

/* Appends A with FLAGS (taking DATA's ownership even on failure); returns
 * its index.  FLAGS is checked as the caller gave it: struct fl_action keeps
 * only 8 bits, where an unknown high bit would vanish unrefused. */
static int add(struct fl_actions *acts, struct fl_action a, unsigned flags)
{
	if (!acts) {
		free(a.data);
		return -EINVAL;
	}
	if (flags & ~FL_HARD) {
		free(a.data);
		return -EINVAL;
	}
	a.flags = flags;
	if (acts->n == acts->cap) {
		int cap = acts->cap ? acts->cap * 2 : 8;
		struct fl_action *v = realloc(acts->v, cap * sizeof(*v));
		int *order;

		if (!v) {
			free(a.data);
			return -ENOMEM;
		}
		acts->v = v;
		order = realloc(acts->order, cap * sizeof(*order));
		if (!order) {
			free(a.data);
			return -ENOMEM;
		}
		acts->order = order;
		acts->cap = cap;
	}
	acts->v[acts->n++] = a;
	acts->ops |= 1u << a.op;
	if ((a.op == FL_OP_DUP2 || a.op == FL_OP_OPEN) && a.fd > acts->max_fd)
		acts->max_fd = a.fd;
	if (a.op == FL_OP_CGROUP)
		acts->cgroups++;
	reorder(acts);
	return acts->n - 1;
}

static int add_path(struct fl_actions *acts, struct fl_action a, unsigned flags, const char *path)
{
	if (!path)
		return -EINVAL;
	if (strlen(path) >= PATH_MAX)
		return -ENAMETOOLONG;
	a.data = strdup(path);
	if (!a.data)
		return -ENOMEM;
	return add(acts, a, flags);
}

static int add_copy(struct fl_actions *acts, struct fl_action a, unsigned flags, const void *src, size_t size)
{
	a.data = malloc(size ? size : 1);
	if (!a.data)
		return -ENOMEM;
	if (size)	/* an empty gid list may be NULL */
		memcpy(a.data, src, size);
	a.size = size;
	return add(acts, a, flags);
}

int fl_actions_push(struct fl_actions *acts, struct fl_action a, const void *data, size_t size)
{
	return data ? add_copy(acts, a, a.flags, data, size) : add(acts, a, a.flags);
}

static bool bad_signal(int sig)
{
	return sig <= 0 || sig >= NSIG;
}

FL_API int fl_act_dup2(fl_actions *acts, int oldfd, int newfd, unsigned flags)
{
	if (oldfd < 0 || newfd < 0)
		return -EBADF;
	return add(acts, (struct fl_action){ .op = FL_OP_DUP2, .fd = newfd, .fd2 = oldfd }, flags);
}

FL_API int fl_act_close(fl_actions *acts, int fd, unsigned flags)
{
	if (fd < 0)
		return -EBADF;
	return add(acts, (struct fl_action){ .op = FL_OP_CLOSE, .fd = fd }, flags);
}

FL_API int fl_act_open(fl_actions *acts, int fd, const char *path, int oflag, mode_t mode, unsigned flags)
{
	if (fd < 0)
		return -EBADF;
	return add_path(acts, (struct fl_action){ .op = FL_OP_OPEN, .fd = fd,
						  .arg = oflag, .arg2 = mode }, flags, path);
}

FL_API int fl_act_chdir(fl_actions *acts, const char *path, unsigned flags)
{
	return add_path(acts, (struct fl_action){ .op = FL_OP_CHDIR }, flags, path);
}

FL_API int fl_act_fchdir(fl_actions *acts, int fd, unsigned flags)
{
	if (fd < 0)
		return -EBADF;
	return add(acts, (struct fl_action){ .op = FL_OP_FCHDIR, .fd = fd }, flags);
}

FL_API int fl_act_closefrom(fl_actions *acts, int lowfd, unsigned flags)
{
	if (lowfd < 0)
		return -EBADF;
	return add(acts, (struct fl_action){ .op = FL_OP_CLOSEFROM, .fd = lowfd }, flags);
}

FL_API int fl_act_umask(fl_actions *acts, mode_t mask, unsigned flags)
{
	if (mask & ~0777)
		return -EINVAL;
	return add(acts, (struct fl_action){ .op = FL_OP_UMASK, .arg = mask }, flags);
}

FL_API int fl_act_setsid(fl_actions *acts, unsigned flags)
{
	return add(acts, (struct fl_action){ .op = FL_OP_SETSID }, flags);
}

FL_API int fl_act_setpgid(fl_actions *acts, pid_t pgid, unsigned flags)
{
	if (pgid < 0)
		return -EINVAL;
	return add(acts, (struct fl_action){ .op = FL_OP_SETPGID, .arg = pgid }, flags);
}

FL_API int fl_act_tcsetpgrp(fl_actions *acts, int fd, unsigned flags)
{
	if (fd < 0)
		return -EBADF;
	return add(acts, (struct fl_action){ .op = FL_OP_TCSETPGRP, .fd = fd }, flags);
}

FL_API int fl_act_sigmask(fl_actions *acts, const sigset_t *mask, unsigned flags)
{
	if (!mask)
		return -EINVAL;
	return add_copy(acts, (struct fl_action){ .op = FL_OP_SIGMASK }, flags, mask, sizeof(*mask));
}

FL_API int fl_act_sigdefault(fl_actions *acts, const sigset_t *set, unsigned flags)
{
	if (!set)
		return -EINVAL;
	return add_copy(acts, (struct fl_action){ .op = FL_OP_SIGDEFAULT }, flags, set, sizeof(*set));
}

FL_API int fl_act_rlimit(fl_actions *acts, int resource, const struct rlimit *rl, unsigned flags)
{
	if (!rl || resource < 0 || resource >= RLIM_NLIMITS || rl->rlim_cur > rl->rlim_max)
		return -EINVAL;
	return add_copy(acts, (struct fl_action){ .op = FL_OP_RLIMIT, .arg = resource }, flags,
			rl, sizeof(*rl));
}

FL_API int fl_act_priority(fl_actions *acts, int nice, unsigned flags)
{
	if (nice < -20 || nice > 19)
		return -EINVAL;
	return add(acts, (struct fl_action){ .op = FL_OP_PRIORITY, .arg = nice }, flags);
}

FL_API int fl_act_affinity(fl_actions *acts, const cpu_set_t *set, size_t setsize, unsigned flags)
{
	if (!set || setsize == 0 || setsize % sizeof(long))
		return -EINVAL;
	return add_copy(acts, (struct fl_action){ .op = FL_OP_AFFINITY }, flags, set, setsize);
}

FL_API int fl_act_setgroups(fl_actions *acts, size_t n, const gid_t *groups, unsigned flags)
{
	if (n > 65536 || (n && !groups))
		return -EINVAL;
	return add_copy(acts, (struct fl_action){ .op = FL_OP_SETGROUPS, .arg = (long)n }, flags,
			groups, n * sizeof(gid_t));
}

FL_API int fl_act_setgid(fl_actions *acts, gid_t gid, unsigned flags)
{
	if (gid == (gid_t)-1)
		return -EINVAL;
	return add(acts, (struct fl_action){ .op = FL_OP_SETGID, .arg = gid }, flags);
}

FL_API int fl_act_setuid(fl_actions *acts, uid_t uid, unsigned flags)
{
	if (uid == (uid_t)-1)
		return -EINVAL;
	return add(acts, (struct fl_action){ .op = FL_OP_SETUID, .arg = uid }, flags);
}

FL_API int fl_act_pdeathsig(fl_actions *acts, int sig, unsigned flags)
{
	if (bad_signal(sig))
		return -EINVAL;
	return add(acts, (struct fl_action){ .op = FL_OP_PDEATHSIG, .arg = sig }, flags);
}

FL_API int fl_act_no_new_privs(fl_actions *acts, unsigned flags)
{
	return add(acts, (struct fl_action){ .op = FL_OP_NO_NEW_PRIVS }, flags);
}

FL_API int fl_act_unshare(fl_actions *acts, int clone_flags, unsigned flags)
{
	const int allowed = CLONE_FILES | CLONE_FS | CLONE_NEWCGROUP | CLONE_NEWIPC | CLONE_NEWNET |
			    CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWTIME | CLONE_NEWUSER | CLONE_NEWUTS |
			    CLONE_SYSVSEM;

	if (!clone_flags || (clone_flags & ~allowed))
		return -EINVAL;
	return add(acts, (struct fl_action){ .op = FL_OP_UNSHARE, .arg = clone_flags }, flags);
}

FL_API int fl_act_cgroup(fl_actions *acts, int cgroup_dirfd, unsigned flags)
{
	if (cgroup_dirfd < 0)
		return -EBADF;
	return add(acts, (struct fl_action){ .op = FL_OP_CGROUP, .fd = cgroup_dirfd }, flags);
}

static const char *const op_names[FL_OP_COUNT] = {
	[FL_OP_DUP2] = "dup2", [FL_OP_CLOSE] = "close", [FL_OP_OPEN] = "open",
	[FL_OP_CHDIR] = "chdir", [FL_OP_FCHDIR] = "fchdir", [FL_OP_CLOSEFROM] = "closefrom",
	[FL_OP_UMASK] = "umask", [FL_OP_SETSID] = "setsid", [FL_OP_SETPGID] = "setpgid",
	[FL_OP_TCSETPGRP] = "tcsetpgrp", [FL_OP_SIGMASK] = "sigmask",
	[FL_OP_SIGDEFAULT] = "sigdefault", [FL_OP_RLIMIT] = "rlimit", [FL_OP_PRIORITY] = "priority",
	[FL_OP_AFFINITY] = "affinity", [FL_OP_SETGROUPS] = "setgroups", [FL_OP_SETGID] = "setgid",
	[FL_OP_SETUID] = "setuid", [FL_OP_PDEATHSIG] = "pdeathsig",
	[FL_OP_NO_NEW_PRIVS] = "no_new_privs", [FL_OP_UNSHARE] = "unshare", [FL_OP_CGROUP] = "cgroup",
	[FL_OP_CLOSE_SPAWN] = "close", [FL_OP_SCHED] = "sched", [FL_OP_RESETIDS] = "resetids",
	[FL_OP_SIGIGNORE] = "sigignore",
};

FL_API int fl_actions_describe(const fl_actions *acts, int index, char *buf, size_t len)
{
	const struct fl_action *a;
	const char *name;

	if (!acts || index < 0 || index >= acts->n)
		return -ERANGE;
	a = &acts->v[index];
	name = op_names[a->op];
	switch (a->op) {
	case FL_OP_DUP2:
		return snprintf(buf, len, "%s %d %d", name, a->fd2, a->fd);
	case FL_OP_OPEN:
		return snprintf(buf, len, "%s %d \"%s\"", name, a->fd, (char *)a->data);
	case FL_OP_CHDIR:
		return snprintf(buf, len, "%s \"%s\"", name, (char *)a->data);
	case FL_OP_CLOSE: case FL_OP_FCHDIR: case FL_OP_CLOSEFROM: case FL_OP_TCSETPGRP:
	case FL_OP_CGROUP: case FL_OP_CLOSE_SPAWN:
		return snprintf(buf, len, "%s %d", name, a->fd);
	case FL_OP_UMASK:
		return snprintf(buf, len, "%s %03lo", name, a->arg);
	case FL_OP_SETPGID: case FL_OP_PRIORITY: case FL_OP_SETGID: case FL_OP_SETUID:
	case FL_OP_PDEATHSIG: case FL_OP_RLIMIT: case FL_OP_SCHED:
		return snprintf(buf, len, "%s %ld", name, a->arg);
	case FL_OP_UNSHARE:
		return snprintf(buf, len, "%s 0x%lx", name, a->arg);
	default:
		return snprintf(buf, len, "%s", name);
	}
}
