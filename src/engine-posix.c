// SPDX-License-Identifier: MIT
/*
 * The posix engine: glibc's posix_spawn, the baseline.  Only for templates its
 * API can express; -ENOTSUP for the rest.  posix_spawn applies its attributes
 * (session, group, signals) before the file actions, whatever order the
 * template gave, and cannot say which step failed (FL_STEP_UNKNOWN).
 */
#include <errno.h>
#include <limits.h>
#include <spawn.h>
#include <string.h>

#include "internal.h"

#define POSIX_OPS ((1u << FL_OP_DUP2) | (1u << FL_OP_CLOSE) | (1u << FL_OP_OPEN) | \
		   (1u << FL_OP_CHDIR) | (1u << FL_OP_FCHDIR) | (1u << FL_OP_CLOSEFROM) | \
		   (1u << FL_OP_SETSID) | (1u << FL_OP_SETPGID) | (1u << FL_OP_TCSETPGRP) | \
		   (1u << FL_OP_SIGMASK) | (1u << FL_OP_SIGDEFAULT))

static int add_action(posix_spawn_file_actions_t *fa, posix_spawnattr_t *attr, short *aflags,
		      sigset_t *sigdef, const struct fl_action *a)
{
	switch (a->op) {
	case FL_OP_DUP2:
		return posix_spawn_file_actions_adddup2(fa, a->fd2, a->fd);
	case FL_OP_CLOSE:
		return posix_spawn_file_actions_addclose(fa, a->fd);
	case FL_OP_OPEN:
		return posix_spawn_file_actions_addopen(fa, a->fd, a->data, (int)a->arg, (mode_t)a->arg2);
	case FL_OP_CHDIR:
		return posix_spawn_file_actions_addchdir_np(fa, a->data);
	case FL_OP_FCHDIR:
		return posix_spawn_file_actions_addfchdir_np(fa, a->fd);
	case FL_OP_CLOSEFROM:
		return posix_spawn_file_actions_addclosefrom_np(fa, a->fd);
	case FL_OP_TCSETPGRP:
		return posix_spawn_file_actions_addtcsetpgrp_np(fa, a->fd);
	case FL_OP_SETSID:
		*aflags |= POSIX_SPAWN_SETSID;
		return 0;
	case FL_OP_SETPGID:
		*aflags |= POSIX_SPAWN_SETPGROUP;
		return posix_spawnattr_setpgroup(attr, (pid_t)a->arg);
	case FL_OP_SIGMASK:
		*aflags |= POSIX_SPAWN_SETSIGMASK;
		return posix_spawnattr_setsigmask(attr, a->data);
	case FL_OP_SIGDEFAULT:
		*aflags |= POSIX_SPAWN_SETSIGDEF;
		for (int sig = 1; sig < NSIG; sig++)
			if (sigismember(a->data, sig))
				sigaddset(sigdef, sig);
		return 0;
	}
	return ENOTSUP;
}

/*
 * A PATH-searched template whose file can no longer run (deleted or made
 * non-executable since the search): go on with the later entries, as the
 * child side does after a failed exec (child.c), so that this engine runs
 * what the others run.  posix_spawn cannot say whether ERR came from the
 * exec or from an action, so the file is probed first: if it still looks
 * runnable, ERR stands.  Returns the final error, 0 once a later one runs.
 */
static int spawn_later_entry(const struct fl_job *job, pid_t *pid, const posix_spawn_file_actions_t *fa,
			     const posix_spawnattr_t *attr, int err)
{
	const struct fl_spec *spec = job->spec;
	char candidate[PATH_MAX];
	size_t off = spec->search_next;
	bool eacces = spec->search_eacces;
	int probe, ret;

	if (!spec->search || !fl_search_skips(err) || !(probe = fl_search_probe(spec->path)))
		return err;
	if (probe == EACCES)
		eacces = true;
	if (off == FL_SEARCH_END)
		return eacces ? EACCES : ENOENT;
	ret = fl_search_path(spec->search, &off, spec->file, candidate, &eacces);
	if (ret < 0)
		return -ret;
	return posix_spawn(pid, candidate, fa, attr, job->argv, job->envp);
}

int fl_engine_posix(struct fl_job *job, fl_child *child)
{
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	sigset_t sigdef;
	short aflags = 0;
	pid_t pid;
	int err = 0;

	if (job->exec_fd >= 0 || job->sh_argv)
		return -ENOTSUP;
	for (int list = 0; list < 2; list++) {
		const struct fl_actions *acts = job->acts[list];

		if (!acts)
			continue;
		if (acts->ops & ~POSIX_OPS)
			return -ENOTSUP;
		for (int i = 0; i < acts->n; i++)
			if (acts->v[i].flags & FL_HARD)
				return -ENOTSUP;
	}
	sigemptyset(&sigdef);
	posix_spawn_file_actions_init(&fa);
	posix_spawnattr_init(&attr);
	for (int list = 0; list < 2 && !err; list++)
		for (int i = 0; job->acts[list] && i < job->acts[list]->n && !err; i++)
			err = add_action(&fa, &attr, &aflags, &sigdef, &job->acts[list]->v[job->acts[list]->order[i]]);
	if (!err && (aflags & POSIX_SPAWN_SETSIGDEF))
		err = posix_spawnattr_setsigdefault(&attr, &sigdef);
	if (!err)
		err = posix_spawnattr_setflags(&attr, aflags);
	if (!err)
		err = posix_spawn(&pid, job->spec->path, &fa, &attr, job->argv, job->envp);
	if (err)
		err = spawn_later_entry(job, &pid, &fa, &attr, err);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&attr);
	if (err) {
		job->slot.step = FL_STEP_UNKNOWN;
		return -err;
	}
	child->pid = pid;
	child->pidfd = fl_pidfd_for(job, pid);
	return 0;
}
