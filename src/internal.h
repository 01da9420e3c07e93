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
	/* posix_spawn's own steps (compat.c), never made by fl_act_*:
	 * CLOSE_SPAWN closes as glibc's posix_spawn does (a fd that is not open
	 * is an error only at or above RLIMIT_NOFILE); SCHED is sched_setparam
	 * (arg -1) or sched_setscheduler (arg the policy) with data the
	 * sched_param; RESETIDS sets the effective uid, then gid, to the real
	 * ones; SIGIGNORE sets arg's signals (kernel mask bits) to SIG_IGN,
	 * errors ignored. */
	FL_OP_CLOSE_SPAWN, FL_OP_SCHED, FL_OP_RESETIDS, FL_OP_SIGIGNORE,
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
/* Appends A as given, without the fl_act_* checks, with a copy of DATA (SIZE
 * bytes; none if DATA is NULL): for compat.c, whose steps must fail in the
 * child where glibc's do (fchdir of -1, a chdir path of PATH_MAX bytes...).
 * Returns the index, or -ENOMEM. */
int fl_actions_push(struct fl_actions *acts, struct fl_action a, const void *data, size_t size);

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

/* An internal flag of fl_spec (compat.c): the /bin/sh retry of glibc's old
 * posix_spawn (symbol version GLIBC_2.2.5), which gives sh the name as the
 * caller passed it (not the PATH entry found) and reports sh's own exec error. */
#define FL_SPEC_SH_AS_GIVEN	(1u << 31)

/* A NULL-terminated copy of V in one allocation (pointers, then strings)
 * in *OUT, for free().  0 or -ENOMEM. */
int fl_vector_copy(char *const v[], char ***out);

/* PATH search (execvp's rules), shared by fl_spec_set_file and the engines
 * that cannot search in the child.  fl_search_path looks for FILE in the
 * list SEARCH from offset *OFF on: 0 with the first runnable candidate in
 * BUF (PATH_MAX bytes) and *OFF at the entry after it (FL_SEARCH_END after
 * the last), else -EACCES or -ENOENT; *EACCES records a candidate found but
 * not executable.  fl_search_probe: 0 if CANDIDATE looks runnable, else the
 * errno its exec would skip with. */
bool fl_search_skips(int err);
int fl_search_probe(const char *candidate);
int fl_search_path(const char *search, size_t *off, const char *file, char *buf, bool *eacces);

/* ---- the job: everything the child side needs, prepared before clone ---- */
struct fl_slot {
	int error;
	int step;
};

#define FL_JOB_SIGHAND_CLEARED	(1u << 0)	/* the kernel reset the handlers (CLONE_CLEAR_SIGHAND) */
#define FL_JOB_IN_CGROUP	(1u << 1)	/* clone3 placed the child in its cgroup */
#define FL_JOB_MASK_KEPT	(1u << 2)	/* the child runs with the caller's mask, its mask at exec */
#define FL_JOB_LATE_PIDFD	(1u << 3)	/* clone, async: no CLONE_PIDFD; the caller opens it (batch.c) */

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
	/* zygote: run after the actions, before exec (FL_STEP_CALLBACK on failure) */
	int (*hook)(struct fl_job *job);
	void *hook_arg;
	/* fl_spawn_fn's callback and its data, for the zygote to run */
	int (*fn)(void *data, size_t len);
	const void *fn_data;
	size_t fn_len;
	uint64_t mask;		/* the caller's mask, in the kernel's 64 bits: the child's at exec */
	volatile struct fl_slot slot;	/* written by the child only on failure */
};

/* Code of ours that runs in a child between clone and exec, outside child.c
 * (the pool's parked children, the zygote's children, the state transfer):
 * not instrumented, no stack protector, as child.c, which the Makefile builds so. */
#if defined(__clang__)
#define FL_CHILD_SIDE __attribute__((no_sanitize("address", "undefined", "thread"), no_stack_protector, noinline))
#else
#define FL_CHILD_SIDE __attribute__((no_sanitize_address, no_sanitize_undefined, no_sanitize_thread, \
				     optimize("no-stack-protector"), noinline))
#endif

/* fl_spawn with FL_JOB_* flags for the job (batch.c). */
int fl_spawn_job(const fl_spec *spec, const fl_spawn_args *args, fl_child *child, fl_report *report,
		 unsigned job_flags);

/* child.c: runs the actions and execs; never returns.  The only code run
 * between clone and exec. */
int fl_child_main(void *job);

/* ---- engines (engine-*.c), each a leaf ------------------------------------ */
/*
 * An engine makes the process for a prepared job.  It returns 0 with *child
 * filled when the child has exec'd; when the child failed it returns the
 * child's -errno with job->slot filled, having reaped the child; when it could
 * not make the process it returns -errno with job->slot.step == FL_STEP_SPAWN.
 * An engine that cannot make this particular child (the pool for a caller
 * whose state it cannot give) returns, having done nothing, the positive
 * number of the engine that should (fl_engine_run does so).
 */
typedef int (*fl_engine_fn)(struct fl_job *job, fl_child *child);

int fl_engine_fork(struct fl_job *job, fl_child *child);
int fl_engine_vfork(struct fl_job *job, fl_child *child);
int fl_engine_posix(struct fl_job *job, fl_child *child);
int fl_engine_clone(struct fl_job *job, fl_child *child);
int fl_engine_async(struct fl_job *job, fl_child *child);
int fl_engine_pool(struct fl_job *job, fl_child *child);
int fl_engine_zygote(struct fl_job *job, fl_child *child);
int fl_engine_primed(struct fl_job *job, fl_child *child);
/* What fl_engine_warm does for the engines that keep something ready. */
int fl_async_warm(void);
int fl_pool_warm(void);

/* engine.c: the table. */
bool fl_engine_implemented(int engine);
/* Runs the job on ENGINE (implemented, not auto); child->engine says which
 * engine made the child in the end. */
int fl_engine_run(int engine, struct fl_job *job, fl_child *child);
/* The largest data fl_spawn_fn takes (it travels in the zygote's request). */
#define FL_FN_DATA_MAX (32u << 20)

/* engine.c: helpers the engines share.  Around the making of a child the
 * calling thread blocks every signal (so no handler runs on the child's
 * stack) and cancellation; the mask it had becomes the child's (job->mask).
 * fl_signals_hold does so only where the child needs it: where clone3 clears
 * the handlers and no step depends on the block, it blocks nothing and marks
 * the job FL_JOB_MASK_KEPT (the child keeps the caller's mask to exec).
 * fl_signals_restore undoes either. */
struct fl_saved {
	sigset_t mask;
	int cancel;
	bool held;
};
void fl_signals_block(struct fl_job *job, struct fl_saved *saved);
void fl_signals_hold(struct fl_job *job, struct fl_saved *saved);
void fl_signals_restore(const struct fl_saved *saved);
/* Reaps a child that failed before exec (it exits at once with 127). */
void fl_reap_failed(pid_t pid, int pidfd);
/* A pidfd for a child just made by a call that returns none, or -1 (and
 * none for a JOB whose template asks for none). */
int fl_pidfd_for(const struct fl_job *job, pid_t pid);
/* Whether an engine that can ask clone for a pidfd asks for JOB's child:
 * not for posix_spawn's callers, who reap by pid (no fd is then needed, as
 * with glibc), nor in a batch, which opens them once all have started. */
bool fl_job_pidfd_at_clone(const struct fl_job *job);

/* ---- stack.c: child stacks ----------------------------------------------- */
#define FL_STACK_SIZE (64 * 1024)	/* the child side needs a few KiB: see child.c */
#define FL_STACK_GUARD 4096
char *fl_stack_map(void);		/* base of a guarded stack, or NULL */
char *fl_stack_of_thread(void);		/* the calling thread's, kept */

/* ---- inflight.c: children still on our memory (async, pool) ------------------ */
/* An async or pooled child's exec outcome, for the handle calls (wait.c).
 * Returns 0 (exec'd, or not such a child), 1 if not known yet and !BLOCK,
 * or the child's -errno: then *REPORT and *STATUS (the exit status of the
 * child, which the library reaped) are filled and the handle is done. */
int fl_inflight_settle(fl_child *child, bool block, fl_report *report, int *status);
/* Waits until no async child still reads OWNER (a template or action list). */
void fl_inflight_quiesce(const void *owner);
/* Opens the pidfd of a child started with FL_JOB_LATE_PIDFD (fl_pidfd_for)
 * into the handle, and into its record if it is an async one (the library
 * reaps a failed child through it).  None if the child was reaped already. */
void fl_inflight_late_pidfd(fl_child *child);
/* wait.c: a waitpid(2) status from a reaped child's siginfo; and a handle
 * whose child is reaped (its pidfd closed). */
#define FL_CHILD_REAPED 1u
int fl_status_of(const siginfo_t *si);
void fl_child_done(fl_child *child);

/* ---- probe.c ------------------------------------------------------------ */
bool fl_has(enum fl_feature f);
/* 1 if F is there, 0 if the kernel lacks it, -errno if the probe could not
 * tell (the error it met: EMFILE with no fd free, EAGAIN, ENOMEM). */
int fl_probe(enum fl_feature f);

/* ---- compat.c: posix_spawn's ABI, for fl_posix_spawn* and the preload shim */
#define FL_COMPAT_PATH	(1u << 0)	/* posix_spawnp: search PATH */
#define FL_COMPAT_SHELL	(1u << 1)	/* glibc's GLIBC_2.2.5 ABI: ENOEXEC retried with /bin/sh */
#define FL_COMPAT_PIDFD	(1u << 2)	/* pidfd_spawn: *OUT gets a pidfd, not a pid */
/* The one spawn behind them all.  Returns 0 or a positive errno (errno is
 * set to it too on failure, as glibc's child leaves it). */
/* The engine that made the calling thread's last fl_compat_spawn child. */
int fl_compat_engine_ran(void);
int fl_compat_spawn(int *out, const char *file, const posix_spawn_file_actions_t *fa,
		    const posix_spawnattr_t *attr, char *const argv[], char *const envp[], unsigned how);
/* Defined by the preload shim only (preload.c), where the <spawn.h> names
 * are its own: glibc's function NAME, its current version or (OLD_ABI) the
 * GLIBC_2.2.5 one, looked up past the shim.  NULL in libforkless itself. */
void *fl_preload_glibc_sym(const char *name, bool old_abi) __attribute__((weak, visibility("hidden")));

#endif /* FL_INTERNAL_H */
