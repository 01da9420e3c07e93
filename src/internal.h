/* SPDX-License-Identifier: MIT */
/* What the parts of forkless share and users never see. */
#ifndef FL_INTERNAL_H
#define FL_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include "forkless.h"

#define FL_API __attribute__((visibility("default")))

/* ---- actions (actions.c) ----------------------------------------------- */
enum fl_op {
	FL_OP_DUP2, FL_OP_CLOSE, FL_OP_OPEN, FL_OP_CHDIR, FL_OP_FCHDIR, FL_OP_CLOSEFROM,
	FL_OP_UMASK, FL_OP_SETSID, FL_OP_SETPGID, FL_OP_TCSETPGRP, FL_OP_SIGMASK,
	FL_OP_SIGDEFAULT, FL_OP_RLIMIT, FL_OP_PRIORITY, FL_OP_AFFINITY, FL_OP_SETGROUPS,
	FL_OP_SETGID, FL_OP_SETUID, FL_OP_PDEATHSIG, FL_OP_NO_NEW_PRIVS, FL_OP_UNSHARE,
	FL_OP_CGROUP,
	FL_OP_COUNT
};

struct fl_action {
	uint8_t op;
	uint8_t flags;		/* FL_HARD */
	int fd;			/* the fd acted on, or the target of dup2/open */
	int fd2;		/* dup2's oldfd */
	long arg;		/* oflag, mask, pgid, nice, resource, id, signal, clone flags */
	long arg2;		/* open's mode */
	void *data;		/* owned: a path, sigset_t, struct rlimit, cpu set, gid list */
	size_t size;		/* of data, for cpu sets and gid lists */
};

struct fl_actions {
	struct fl_action *v;
	int *order;		/* the order the child runs them in: see forkless.h */
	int n, cap;
	int max_fd;		/* the highest fd an action creates (dup2/open target), or -1 */
	int cgroups;		/* how many cgroup steps */
	uint32_t ops;		/* a bit per enum fl_op present */
};

void fl_actions_init(struct fl_actions *acts);
void fl_actions_clear(struct fl_actions *acts);

/* ---- templates (spec.c) ------------------------------------------------ */
struct fl_spec {
	char *path;		/* what to exec; for a PATH search, the entry found */
	int exec_fd;		/* for execveat, else -1 */
	char *file;		/* the name searched for, or NULL */
	char *search;		/* PATH as it was, for the entries after the one found */
	size_t search_next;	/* offset in search of the entries after it, or: */
#define FL_SEARCH_END ((size_t)-1)	/* the entry found was the last */
	bool search_eacces;	/* an earlier entry was found but not executable */
	char **argv;		/* NULL: { path, NULL } */
	char **envp;		/* NULL: environ at spawn time */
	unsigned flags;
	int engine;
	struct fl_actions acts;
};

/* ---- the job: everything the child side needs, prepared before clone ---- */
struct fl_slot {
	int error;
	int step;
};

#define FL_JOB_SIGHAND_CLEARED	(1u << 0)	/* the kernel reset the handlers (CLONE_CLEAR_SIGHAND) */
#define FL_JOB_IN_CGROUP	(1u << 1)	/* clone3 placed the child in its cgroup */

struct fl_job {
	const struct fl_spec *spec;
	char *const *argv;
	char *const *envp;
	char **sh_argv;		/* ENOEXEC retry: { "/bin/sh", path, argv[1..], NULL } */
	const struct fl_actions *acts[2];	/* the template's, then the call's */
	int exec_fd;		/* the template's fd for execveat, or -1; the child may move it */
	int cgroup_fd;		/* the one cgroup step's fd, or -1 */
	int cgroup_step;	/* and its index */
	int report_fd;		/* fork engine: the pipe the child reports on, else -1 */
	int parent_pid;		/* for the parent-death recheck */
	unsigned flags;
	uint64_t mask;		/* the caller's mask, in the kernel's 64 bits: the child's at exec */
	volatile struct fl_slot slot;	/* written by the child only on failure */
};

/* child.c: runs the actions and execs; never returns.  The only code run
 * between clone and exec. */
int fl_child_main(void *job);

/* ---- engines (engine-*.c) ---------------------------------------------- */
/*
 * An engine makes the process for a prepared job.  It returns 0 with *child
 * filled when the child has exec'd; when the child failed it returns the
 * child's -errno with job->slot filled, having reaped the child; when it could
 * not make the process it returns -errno with job->slot.step == FL_STEP_SPAWN.
 */
typedef int (*fl_engine_fn)(struct fl_job *job, fl_child *child);

int fl_engine_fork(struct fl_job *job, fl_child *child);
int fl_engine_vfork(struct fl_job *job, fl_child *child);
int fl_engine_posix(struct fl_job *job, fl_child *child);
int fl_engine_clone(struct fl_job *job, fl_child *child);

bool fl_engine_implemented(int engine);

/* spawn.c helpers the engines share.  Around the making of a child the
 * calling thread blocks every signal (so no handler runs on the child's
 * stack) and cancellation; the mask it had becomes the child's (job->mask). */
struct fl_saved {
	sigset_t mask;
	int cancel;
};
void fl_signals_block(struct fl_job *job, struct fl_saved *saved);
void fl_signals_restore(const struct fl_saved *saved);
/* Reaps a child that failed before exec (it exits at once with 127). */
void fl_reap_failed(pid_t pid, int pidfd);
/* A pidfd for a child just made by a call that returns none, or -1. */
int fl_pidfd_for(pid_t pid);

/* ---- stack.c: child stacks ----------------------------------------------- */
#define FL_STACK_SIZE (64 * 1024)	/* the child side needs a few KiB: see child.c */
#define FL_STACK_GUARD 4096
char *fl_stack_map(void);		/* base of a guarded stack, or NULL */
char *fl_stack_of_thread(void);		/* the calling thread's, kept */

/* ---- probe.c ------------------------------------------------------------ */
bool fl_has(enum fl_feature f);

#endif /* FL_INTERNAL_H */
