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
/* <spawn.h> also gives sigset_t under a strict standard (-std=c11), where
 * <signal.h> does not. */
#include <spawn.h>
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
	FL_ENGINE_PRIMED,	/* the program itself, parked before main, makes them (no exec) */
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
#define FL_SPEC_NO_PIDFD	(1u << 2)	/* no pidfd in the child handle: handled by pid */

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
 * has exec'd (async engine: it exists; pool: it took the job; see
 * fl_child_wait_exec).  On
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
 * from fl_spawn only after the exec (all but async and pool) it returns at
 * once.
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

/* ---- async, batches, reaper, pool, zygote ---------------------------------- */

/*
 * The async engine (FL_ENGINE_ASYNC) returns from fl_spawn once the child
 * exists, before its setup and exec: fl_child_wait_exec (blocking),
 * fl_child_poll_exec (not blocking) or fl_child_exec_fd (an fd for an event
 * loop) tell how it went.  A child that fails is reaped by the library (on
 * the next spawn, or when its handle is asked), whether or not the handle is
 * ever asked.  argv and envp given to fl_spawn (and environ) are copied: they
 * may change as soon as it returns.  The template and the call's action list
 * are read by the child until it has exec'd: fl_spec_free and fl_actions_free
 * wait for that, and they must not be changed meanwhile.  fl_child_wait,
 * fl_child_trywait and fl_child_release first settle the exec outcome.
 */

/* Flag of fl_spec_set_flags: give each async or pooled child a pipe that
 * polls readable once it has exec'd or failed (fl_child_exec_fd).  Costs a
 * pipe per spawn, hence asked for: the pidfd polls readable only when the
 * child exits. */
#define FL_SPEC_EXEC_FD		(1u << 1)

/* The failing step of a zygote callback (fl_spawn_fn). */
#define FL_STEP_CALLBACK	(-4)

/* As fl_child_wait_exec without blocking: 0 once the child has exec'd, 1 while
 * it has neither exec'd nor failed, the child's -errno (with *REPORT filled,
 * the child reaped and the handle released) if it failed; -ECHILD for a
 * handle that holds no child.  Immediate for all engines but async and pool. */
int fl_child_poll_exec(fl_child *child, fl_report *report);

/* The read end of the child's exec pipe (FL_SPEC_EXEC_FD, async and pool): it
 * polls readable once the child has exec'd or failed; then call
 * fl_child_poll_exec, which closes it.  -ENOENT if the child has none (other
 * engines know the outcome when fl_spawn returns). */
int fl_child_exec_fd(const fl_child *child);

/* Does ENGINE's one-time setup now rather than in the first spawn: maps the
 * async engine's first stacks, fills the pool, starts the zygote.  Call it
 * early (the zygote is a fork of the process as it is at that moment).
 * Returns 0, -EINVAL for an unknown engine, -ENOSYS, or the setup's -errno. */
int fl_engine_warm(int engine);

/* Flags of fl_spawn_batch. */
#define FL_BATCH_NOWAIT		(1u << 0)	/* do not wait for async children's exec outcomes */

/*
 * Spawns N children.  Child i comes from SPECS[i] (NSPECS == N) or SPECS[0]
 * (NSPECS == 1: one template, N argument sets), with ARGS[i] (ARGS may be
 * NULL).  With the async engine all N are started before any outcome is
 * collected, so their execs overlap.  CHILDREN[i] and REPORTS[i] get each
 * child and outcome: REPORTS[i].error is 0 for a child that runs (or, with
 * FL_BATCH_NOWAIT, one whose outcome is still to come), else its errno, with
 * nothing left behind for it.  Returns how many children run, or -EINVAL
 * (N == 0, NSPECS neither 1 nor N, a NULL array).
 */
int fl_spawn_batch(size_t n, const fl_spec *const specs[], size_t nspecs, const fl_spawn_args args[],
		   unsigned flags, fl_child children[], fl_report reports[]);

/*
 * A reaper waits for any of many children: io_uring IORING_OP_WAITID (Linux
 * 6.7) where the kernel has it, else epoll on their pidfds (Linux 5.3).  It
 * is used from one thread at a time.
 */
typedef struct fl_reaper fl_reaper;

/* Flag of fl_reaper_new: use epoll even where io_uring could do it. */
#define FL_REAPER_EPOLL		(1u << 0)

/* A new reaper in *OUT.  Returns 0, -EINVAL (flags), -ENOMEM, -EMFILE, -ENOSYS
 * (no pidfds). */
int fl_reaper_new(fl_reaper **out, unsigned flags);
/* Frees the reaper; the children it still holds are left unreaped, for
 * fl_child_wait.  NULL is allowed. */
void fl_reaper_free(fl_reaper *reaper);
/* Adds CHILD, which must stay valid, and not be waited for otherwise, until
 * the reaper reports it.  Returns 0, -ECHILD (no child in the handle), -ENOSYS
 * (epoll and a child with no pidfd), -ENOMEM. */
int fl_reaper_add(fl_reaper *reaper, fl_child *child);
/* Waits up to TIMEOUT_MS (-1: no limit, 0: do not block) for one of the
 * children to exit, reaps it as fl_child_wait would, and returns 1 with
 * *CHILD (the pointer given to fl_reaper_add) and *STATUS (waitpid style; may
 * be NULL; -1 if someone else reaped the child first).  Returns 0 on
 * timeout, -ECHILD if the reaper holds no child.  A signal does not end the
 * wait early. */
int fl_reaper_wait(fl_reaper *reaper, int timeout_ms, fl_child **child, int *status);
/* How many children the reaper holds. */
int fl_reaper_count(const fl_reaper *reaper);
/* An fd that polls readable when fl_reaper_wait has something to report. */
int fl_reaper_fd(const fl_reaper *reaper);
/* "io_uring" or "epoll". */
const char *fl_reaper_backend(const fl_reaper *reaper);

/*
 * The pool engine (FL_ENGINE_POOL): children made ahead of time, parked, each
 * woken with a job; the exec's outcome comes later, as for the async engine.
 * What a pooled child takes of the caller's state of the moment, when the
 * pool hands a spawn to the async engine, and what differs: fl_pool_set_size(3).
 */

/* Sets how many children the pool keeps parked (2 by default; 0 makes each
 * spawn make its child on the spot).  Extra parked children are ended now.
 * Returns the previous size, or -EINVAL (below 0 or above 1024). */
int fl_pool_set_size(int size);

/*
 * The zygote engine (FL_ENGINE_ZYGOTE): a single-threaded helper process,
 * forked from the caller, makes the children; they are the caller's own
 * children (clone3 CLONE_PARENT), waited for like any other, and take on the
 * caller's state of the moment of the spawn.  What they take, what stays the
 * zygote's, and the fds the engine needs: fl_zygote_start(3).
 */

/* Starts the zygote now, if it is not running: do it early, before the
 * process grows threads and memory (the zygote is a fork of it as it is).
 * Returns 0, or -errno (EMFILE, EAGAIN, ENOMEM). */
int fl_zygote_start(void);
/* Ends the zygote and reaps it.  The next zygote spawn starts another. */
void fl_zygote_stop(void);
/* The zygote's pid, or -1 when none runs. */
pid_t fl_zygote_pid(void);

/* The primed engine (FL_ENGINE_PRIMED): the program exec'd once, parked
 * before main, makes each child, which runs main without an exec; what such
 * a child differs in is fl_primed_stop(3)'s table.  fl_primed_stop ends
 * and reaps every image of the process not in use by a spawn at that
 * moment, and forgets the programs it refused; the next spawns prime again. */
void fl_primed_stop(void);

/*
 * As fl_spawn, through the zygote whatever the template's engine, with FN run
 * in the child after the actions and before exec: FN(copy of DATA, LEN).  It
 * runs with fork semantics, in a forked child of the zygote (not of the
 * caller: the caller's memory is as it was at fl_zygote_start, so FN must be
 * a function of the program and use only what existed then, or DATA), single
 * threaded, with every signal blocked; it may call any libc function.  It
 * returns 0 to go on, or -errno to fail the spawn at step FL_STEP_CALLBACK.
 * Errors: those of fl_spawn; -EINVAL for a NULL FN.
 */
int fl_spawn_fn(const fl_spec *spec, const fl_spawn_args *args, int (*fn)(void *data, size_t len),
		const void *data, size_t len, fl_child *child, fl_report *report);

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

/* ---- posix_spawn compatibility --------------------------------------------- */
/*
 * glibc's <spawn.h>, under the fl_ prefix, running on the engines: the same
 * prototypes, the same object types (posix_spawn_file_actions_t and
 * posix_spawnattr_t keep glibc's size and layout) and the same behaviour as
 * glibc 2.36's posix_spawn for everything a program or its child can observe,
 * glibc's oddities included (fl_posix_spawn(3) lists them).  Unlike the
 * rest of this header, and like <spawn.h>, these return 0 or a positive errno
 * value (never -errno); on failure errno is set to it too, as glibc's child
 * leaves it.  The preload shim (libforkless-preload.so) exports them under
 * glibc's own names and symbol versions.
 *
 * The engine: FL_ENGINE_AUTO (FORKLESS_ENGINE, else the clone engine), or
 * the one fl_posix_spawnattr_setengine_np names; the differences some
 * engines bring are in fl_posix_spawn(3).
 * FL_ENGINE_POSIX hands the call to glibc's own posix_spawn.
 *
 * Objects: a file-actions object must be filled by the fl_ functions (or by
 * the shim's), which keep a forkless action list behind a pointer in glibc's
 * spare fields; one filled by glibc's own functions is handed to glibc's
 * posix_spawn whole.  An object zeroed is an empty one, as in glibc.
 * Attribute objects are plain data, as in glibc (copy them freely).
 */

/* glibc 2.39's POSIX_SPAWN_SETCGROUP: the child starts in the cgroup v2
 * directory fl_posix_spawnattr_setcgroup_np gives (CLONE_INTO_CGROUP, Linux
 * 5.7; the engines without it write cgroup.procs from the child). */
#define FL_POSIX_SPAWN_SETCGROUP	0x100

/*
 * Spawns PATH (fl_posix_spawn) or FILE searched in PATH with execvp's rules
 * (fl_posix_spawnp: the search runs at each call) with the file actions FA
 * and attributes ATTRP (either may be NULL), argv ARGV and environment ENVP
 * (NULL: an empty one).  On success *PID (if PID is not NULL) gets the child,
 * which the caller reaps with waitpid.  Returns 0, or the error of the
 * failing step or of the exec (the child is reaped then and *PID is left
 * alone): EBADF, ENOENT, EACCES, ENOEXEC (no /bin/sh retry), E2BIG, EPERM,
 * EINVAL (a file-actions object filled by both glibc and forkless) ...;
 * EAGAIN or ENOMEM when no process could be made.
 */
int fl_posix_spawn(pid_t *__restrict pid, const char *__restrict path,
		   const posix_spawn_file_actions_t *fa, const posix_spawnattr_t *__restrict attrp,
		   char *const argv[], char *const envp[]);
int fl_posix_spawnp(pid_t *__restrict pid, const char *__restrict file,
		    const posix_spawn_file_actions_t *fa, const posix_spawnattr_t *__restrict attrp,
		    char *const argv[], char *const envp[]);

/* As fl_posix_spawn(p), but *PIDFD (if not NULL) gets a pidfd of the child
 * (close-on-exec; Linux 5.4), glibc 2.39's pidfd_spawn(p) for any glibc.  The
 * child is still the caller's to reap (waitid P_PIDFD).  Errors: those of
 * fl_posix_spawn, and ENOSYS (a kernel without pidfds; nothing is spawned). */
int fl_pidfd_spawn(int *__restrict pidfd, const char *__restrict path,
		   const posix_spawn_file_actions_t *fa, const posix_spawnattr_t *__restrict attrp,
		   char *const argv[], char *const envp[]);
int fl_pidfd_spawnp(int *__restrict pidfd, const char *__restrict file,
		    const posix_spawn_file_actions_t *fa, const posix_spawnattr_t *__restrict attrp,
		    char *const argv[], char *const envp[]);

/* The pid of the process PIDFD refers to, read from /proc as glibc 2.39's
 * pidfd_getpid does.  Returns the pid (> 0), or -errno (this one follows
 * forkless's convention): -EBADF (not a pidfd, or no /proc), -EREMOTE (the
 * process is in a pid namespace this one cannot see), -ESRCH (it has exited
 * and been reaped). */
pid_t fl_pidfd_getpid(int pidfd);

/*
 * File actions, run by the child in the order added, after the attributes'
 * steps.  Each returns 0 or a positive errno: EBADF for a fd below 0 or at or
 * above the RLIMIT_NOFILE soft limit (sysconf(_SC_OPEN_MAX)) at the time of
 * the call (addfchdir_np accepts any fd, as glibc does: its error comes from
 * the spawn), EINVAL for a NULL path, ENOMEM.  As glibc: an open first closes
 * FD, and the file keeps O_CLOEXEC only if it lands on FD directly; dup2 of a
 * fd onto itself clears FD_CLOEXEC; closing a fd that is not open is no error
 * unless the fd is at or above RLIMIT_NOFILE at spawn time.
 */
int fl_posix_spawn_file_actions_init(posix_spawn_file_actions_t *fa);
int fl_posix_spawn_file_actions_destroy(posix_spawn_file_actions_t *fa);
int fl_posix_spawn_file_actions_addopen(posix_spawn_file_actions_t *__restrict fa, int fd,
					const char *__restrict path, int oflag, mode_t mode);
int fl_posix_spawn_file_actions_addclose(posix_spawn_file_actions_t *fa, int fd);
int fl_posix_spawn_file_actions_adddup2(posix_spawn_file_actions_t *fa, int fd, int newfd);
int fl_posix_spawn_file_actions_addchdir_np(posix_spawn_file_actions_t *__restrict fa,
					    const char *__restrict path);
int fl_posix_spawn_file_actions_addfchdir_np(posix_spawn_file_actions_t *fa, int fd);
int fl_posix_spawn_file_actions_addclosefrom_np(posix_spawn_file_actions_t *fa, int from);
int fl_posix_spawn_file_actions_addtcsetpgrp_np(posix_spawn_file_actions_t *fa, int tcfd);

/*
 * Attributes, applied by the child in glibc's order before the file actions:
 * signal defaults (POSIX_SPAWN_SETSIGDEF), scheduling (SETSCHEDPARAM alone:
 * sched_setparam; with SETSCHEDULER: sched_setscheduler), SETSID, SETPGROUP,
 * RESETIDS (effective uid, then gid, set to the real ones); the signal mask
 * (SETSIGMASK, glibc's internal signals 32 and 33 left out) at exec.
 * USEVFORK is accepted and means nothing, as in glibc.  The getters and
 * setters return 0; setflags returns EINVAL for an unknown flag,
 * setschedpolicy for a policy other than SCHED_OTHER, SCHED_FIFO, SCHED_RR
 * (glibc's rule), setengine_np for an engine this build cannot run.
 */
int fl_posix_spawnattr_init(posix_spawnattr_t *attr);
int fl_posix_spawnattr_destroy(posix_spawnattr_t *attr);
int fl_posix_spawnattr_getflags(const posix_spawnattr_t *__restrict attr, short *__restrict flags);
int fl_posix_spawnattr_setflags(posix_spawnattr_t *attr, short flags);
int fl_posix_spawnattr_getpgroup(const posix_spawnattr_t *__restrict attr, pid_t *__restrict pgroup);
int fl_posix_spawnattr_setpgroup(posix_spawnattr_t *attr, pid_t pgroup);
int fl_posix_spawnattr_getsigmask(const posix_spawnattr_t *__restrict attr, sigset_t *__restrict mask);
int fl_posix_spawnattr_setsigmask(posix_spawnattr_t *__restrict attr, const sigset_t *__restrict mask);
int fl_posix_spawnattr_getsigdefault(const posix_spawnattr_t *__restrict attr, sigset_t *__restrict set);
int fl_posix_spawnattr_setsigdefault(posix_spawnattr_t *__restrict attr, const sigset_t *__restrict set);
int fl_posix_spawnattr_getschedparam(const posix_spawnattr_t *__restrict attr,
				     struct sched_param *__restrict param);
int fl_posix_spawnattr_setschedparam(posix_spawnattr_t *__restrict attr,
				     const struct sched_param *__restrict param);
int fl_posix_spawnattr_getschedpolicy(const posix_spawnattr_t *__restrict attr, int *__restrict policy);
int fl_posix_spawnattr_setschedpolicy(posix_spawnattr_t *attr, int policy);
/* glibc 2.39's cgroup attribute: a cgroup v2 directory fd, used with
 * FL_POSIX_SPAWN_SETCGROUP (the fd stays the caller's). */
int fl_posix_spawnattr_getcgroup_np(const posix_spawnattr_t *__restrict attr, int *__restrict cgroup);
int fl_posix_spawnattr_setcgroup_np(posix_spawnattr_t *attr, int cgroup);
/* forkless's own: the engine for spawns with this attribute object
 * (FL_ENGINE_AUTO, the default, as described above).  Kept in the last
 * spare int of glibc's structure, which glibc never reads. */
int fl_posix_spawnattr_getengine_np(const posix_spawnattr_t *__restrict attr, int *__restrict engine);
int fl_posix_spawnattr_setengine_np(posix_spawnattr_t *attr, int engine);

#ifdef __cplusplus
}
#endif

#endif /* FORKLESS_H */
