/* SPDX-License-Identifier: MIT */
/*
 * forkless: start processes on Linux as fast as the kernel allows.
 *
 * Conventions (liburing's): every function returns 0 or a non-negative value on
 * success and -errno on failure; none reports through errno alone.  Objects are
 * opaque, except fl_child, which the caller owns so that a spawn needs no heap.
 * A template (fl_spec) may be spawned from many threads at once once it is
 * built; building and spawning the same template concurrently is not allowed.
 */
#ifndef FORKLESS_H
#define FORKLESS_H

#include <sched.h>
#include <signal.h>
#include <stddef.h>
#include <sys/resource.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

#define FL_VERSION_MAJOR 0
#define FL_VERSION_MINOR 1
#define FL_VERSION ((FL_VERSION_MAJOR << 16) | FL_VERSION_MINOR)

/* The version of the library in use at run time, as FL_VERSION encodes it. */
int fl_version(void);

/* ---- engines: ways of making the process -------------------------------- */

enum fl_engine {
	FL_ENGINE_AUTO = 0,	/* FORKLESS_ENGINE from the environment, else the fastest safe one */
	FL_ENGINE_FORK,		/* fork() + the child side: the reference slow path */
	FL_ENGINE_VFORK,	/* vfork() + the child side */
	FL_ENGINE_POSIX,	/* glibc posix_spawn: only for what its API can express */
	FL_ENGINE_CLONE,	/* clone3(CLONE_VM|CLONE_VFORK|CLONE_PIDFD|CLONE_CLEAR_SIGHAND) */
	FL_ENGINE_ASYNC,	/* clone3(CLONE_VM) without CLONE_VFORK: the caller goes on at once */
	FL_ENGINE_POOL,		/* children made ahead of time, woken with a job */
	FL_ENGINE_ZYGOTE,	/* a helper process started early makes the children */
	FL_ENGINE_COUNT
};

/* The engine's name ("clone", ...), or NULL for a value that names none. */
const char *fl_engine_name(int engine);

/* The engine called NAME ("auto" included); -EINVAL for an unknown name. */
int fl_engine_from_name(const char *name);

/* The engine FL_ENGINE_AUTO stands for in this process: FORKLESS_ENGINE if it
 * is set to a known name (read once; an unknown name is reported on stderr
 * once and ignored), else the fastest engine this kernel supports. */
int fl_engine_default(void);

/* 0 if ENGINE can run on this kernel; -ENOSYS if it cannot; -EINVAL if ENGINE
 * names no engine. */
int fl_engine_supported(int engine);

/* ---- actions: setup steps run in the child, in order, before exec -------- */

typedef struct fl_actions fl_actions;

/* Flags of every fl_act_* call. */
#define FL_HARD		(1u << 0)	/* a failure of this step is ignored (io_uring's hard link) */

/* A new, empty action list in *OUT.  Returns 0, or -ENOMEM. */
int fl_actions_new(fl_actions **out);
/* Frees the list.  NULL is allowed. */
void fl_actions_free(fl_actions *acts);
/* How many actions the list holds. */
int fl_actions_count(const fl_actions *acts);

/*
 * Each fl_act_* appends one step and returns its index in the list (>= 0), the
 * number a failure report names.  Errors, found here rather than in the child:
 * -EBADF for a negative fd, -EINVAL for a bad flag, signal or resource,
 * -ENAMETOOLONG for a path of PATH_MAX bytes or more, -ENOMEM.
 */
int fl_act_dup2(fl_actions *acts, int oldfd, int newfd, unsigned flags);	/* oldfd == newfd clears FD_CLOEXEC */
int fl_act_close(fl_actions *acts, int fd, unsigned flags);
int fl_act_open(fl_actions *acts, int fd, const char *path, int oflag, mode_t mode, unsigned flags);
int fl_act_chdir(fl_actions *acts, const char *path, unsigned flags);
int fl_act_fchdir(fl_actions *acts, int fd, unsigned flags);
int fl_act_closefrom(fl_actions *acts, int lowfd, unsigned flags);		/* every fd >= lowfd */
int fl_act_umask(fl_actions *acts, mode_t mask, unsigned flags);
int fl_act_setsid(fl_actions *acts, unsigned flags);
int fl_act_setpgid(fl_actions *acts, pid_t pgid, unsigned flags);		/* 0: the child's own pid */
int fl_act_tcsetpgrp(fl_actions *acts, int fd, unsigned flags);		/* the child's group takes the terminal */
int fl_act_sigmask(fl_actions *acts, const sigset_t *mask, unsigned flags);	/* the mask at exec */
int fl_act_sigdefault(fl_actions *acts, const sigset_t *set, unsigned flags);	/* these to SIG_DFL, ignored or not */
int fl_act_rlimit(fl_actions *acts, int resource, const struct rlimit *rl, unsigned flags);
int fl_act_priority(fl_actions *acts, int nice, unsigned flags);		/* setpriority(PRIO_PROCESS) */
int fl_act_affinity(fl_actions *acts, const cpu_set_t *set, size_t setsize, unsigned flags);
int fl_act_setgroups(fl_actions *acts, size_t n, const gid_t *groups, unsigned flags);
int fl_act_setgid(fl_actions *acts, gid_t gid, unsigned flags);
int fl_act_setuid(fl_actions *acts, uid_t uid, unsigned flags);
int fl_act_pdeathsig(fl_actions *acts, int sig, unsigned flags);
int fl_act_no_new_privs(fl_actions *acts, unsigned flags);
int fl_act_unshare(fl_actions *acts, int clone_flags, unsigned flags);		/* CLONE_NEW* */
int fl_act_cgroup(fl_actions *acts, int cgroup_dirfd, unsigned flags);		/* a cgroup v2 directory */

/*
 * Order: the steps run in the order they were added, with two exceptions that
 * keep credentials coherent.  setgroups, setgid and setuid run in that order,
 * all at the place of the first of them; a parent-death signal runs after the
 * credentials (the kernel clears it when they change).  fds given to the
 * builder (fchdir, tcsetpgrp, cgroup) are used as they are at spawn time; the
 * list does not own them.  A cgroup step is done by clone3's CLONE_INTO_CGROUP
 * (Linux 5.7) where the engine can, else by writing to cgroup.procs.
 */

/* Describes action INDEX of ACTS into BUF, e.g. `chdir "/nope"`.  Returns the
 * length snprintf would have written, or -ERANGE for an index out of range. */
int fl_actions_describe(const fl_actions *acts, int index, char *buf, size_t len);

/* ---- templates ------------------------------------------------------------ */

typedef struct fl_spec fl_spec;

/* Flags of fl_spec_set_flags. */
#define FL_SPEC_ENOEXEC_SH	(1u << 0)	/* retry an ENOEXEC failure with /bin/sh, as execvp does */

/* A new, empty template in *OUT.  Returns 0, or -ENOMEM. */
int fl_spec_new(fl_spec **out);
/* Frees the template (and the fd it holds for fl_spec_set_fd).  NULL is allowed. */
void fl_spec_free(fl_spec *spec);

/* The program, by path.  -EINVAL for "", -ENAMETOOLONG. */
int fl_spec_set_path(fl_spec *spec, const char *path);

/*
 * The program, by name, searched now in the caller's PATH with execvp's rules:
 * a name with a '/' is a path; an empty PATH entry is the current directory; no
 * PATH means "/bin:/usr/bin"; an entry that does not exist or is not a
 * directory is skipped; a file found but not executable is remembered and its
 * -EACCES wins over -ENOENT if nothing runnable is found.  The result is kept:
 * later spawns exec the path found (so a binary replaced there later is the one
 * that runs), and if that exec fails in a way execvp would skip, the child
 * goes on with the later PATH entries.  Returns 0, -ENOENT, -EACCES,
 * -ENAMETOOLONG.
 */
int fl_spec_set_file(fl_spec *spec, const char *file);

/* The program, by an open fd (execveat with AT_EMPTY_PATH, Linux 3.19).  The
 * template keeps a close-on-exec duplicate of FD: a script run this way fails
 * with ENOENT, because its interpreter cannot reopen it.  -EBADF. */
int fl_spec_set_fd(fl_spec *spec, int fd);

/* The path the template will exec, or NULL if none is set or it runs an fd. */
const char *fl_spec_path(const fl_spec *spec);

/* argv, copied.  Unset, argv is { program, NULL }. */
int fl_spec_set_argv(fl_spec *spec, char *const argv[]);
/* envp, copied; NULL means the caller's environ at the moment of each spawn. */
int fl_spec_set_envp(fl_spec *spec, char *const envp[]);
int fl_spec_set_flags(fl_spec *spec, unsigned flags);
/* The engine to use (FL_ENGINE_AUTO by default).  -EINVAL, -ENOSYS. */
int fl_spec_set_engine(fl_spec *spec, int engine);
/* The template's own action list, to add steps to. */
fl_actions *fl_spec_actions(fl_spec *spec);

/* ---- spawning -------------------------------------------------------------- */

/* The handle of a child.  The caller owns the memory; pid and pidfd may be
 * read, the rest is the library's. */
typedef struct fl_child {
	pid_t pid;
	int pidfd;		/* -1 where the kernel has no pidfd (before Linux 5.3) */
	int engine;		/* the engine that made it */
	unsigned _state;
	void *_priv[2];
} fl_child;

/* Where a spawn failed. */
typedef struct fl_report {
	int error;		/* a positive errno, 0 for success */
	int step;		/* the index of the failing action, or an FL_STEP_* */
} fl_report;

#define FL_STEP_EXEC	(-1)	/* the exec itself */
#define FL_STEP_SPAWN	(-2)	/* making the process, in the parent */
#define FL_STEP_UNKNOWN	(-3)	/* an engine that cannot tell (posix) */

/* Per-call changes to a template; any field may be NULL.  Extra actions run
 * after the template's and are numbered after them. */
typedef struct fl_spawn_args {
	char *const *argv;
	char *const *envp;
	const fl_actions *actions;
} fl_spawn_args;

/*
 * Starts a child from SPEC.  On success fills *CHILD and returns 0: the child
 * has exec'd (for the async engine: it exists; see fl_child_wait_exec).  On
 * failure returns -errno, fills *REPORT (if not NULL) with the error and the
 * step, and leaves nothing behind: the failed child is reaped, no fd is left
 * open.  Errors: those of the failing action or of execve (ENOENT, EACCES,
 * ENOEXEC, E2BIG, ...), EAGAIN or ENOMEM for process creation, EINVAL for a
 * template with no program, ENOTSUP for a template the engine cannot express.
 */
int fl_spawn(const fl_spec *spec, const fl_spawn_args *args, fl_child *child, fl_report *report);

/* Formats REPORT as `step 3 (chdir "/nope"): No such file or directory` or
 * `exec "/usr/bin/x": Permission denied` into BUF.  ARGS as given to the spawn
 * (may be NULL).  Returns the length snprintf would have written. */
int fl_report_format(const fl_spec *spec, const fl_spawn_args *args, const fl_report *report,
		     char *buf, size_t len);

/* ---- the child handle ------------------------------------------------------ */

/* Waits until the child has exec'd or failed.  For the engines that return
 * from fl_spawn only after the exec (all but async) it returns at once.
 * Returns 0 once exec'd; on failure -errno with *REPORT (if not NULL) filled,
 * the child reaped and the handle released. */
int fl_child_wait_exec(fl_child *child, fl_report *report);

/* Waits for the child to exit, reaps it and releases the handle.  *STATUS (if
 * not NULL) gets a waitpid(2)-style status.  Returns 0, -ECHILD, -EINTR. */
int fl_child_wait(fl_child *child, int *status);
/* As fl_child_wait without blocking: 1 if reaped, 0 if it still runs. */
int fl_child_trywait(fl_child *child, int *status);
/* Sends SIG through the pidfd (pidfd_send_signal, Linux 5.1), never by a bare
 * pid where a pidfd exists.  Returns 0, -ESRCH once the child is reaped. */
int fl_child_kill(const fl_child *child, int sig);
/* A fd that polls readable once the child exits (the pidfd), or -ENOSYS. */
int fl_child_fd(const fl_child *child);
/* Forgets the child without waiting (closes the pidfd); it is left for the
 * caller's own waitpid or SIGCHLD handling. */
void fl_child_release(fl_child *child);

/* ---- kernel features ------------------------------------------------------- */

enum fl_feature {
	FL_FEAT_CLONE3 = 0,		/* Linux 5.3 */
	FL_FEAT_CLONE_PIDFD,		/* 5.2 */
	FL_FEAT_CLEAR_SIGHAND,		/* 5.5 */
	FL_FEAT_INTO_CGROUP,		/* 5.7 */
	FL_FEAT_PIDFD_OPEN,		/* 5.3 */
	FL_FEAT_PIDFD_SEND_SIGNAL,	/* 5.1 */
	FL_FEAT_WAITID_PIDFD,		/* 5.4 */
	FL_FEAT_CLOSE_RANGE,		/* 5.9 */
	FL_FEAT_EXECVEAT,		/* 3.19 */
	FL_FEAT_IOURING_WAITID,		/* 6.7 */
	FL_FEAT_PIDFD_INFO_EXIT,	/* 6.15 */
	FL_FEAT_COUNT
};

/* 1 if the running kernel has FEATURE, 0 if not (probed once, then cached);
 * -EINVAL for an unknown feature. */
int fl_feature(int feature);
/* The feature's name ("clone3", ...), or NULL. */
const char *fl_feature_name(int feature);

#ifdef __cplusplus
}
#endif

#endif /* FORKLESS_H */
