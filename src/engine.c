// SPDX-License-Identifier: MIT
/*
 * The engines: the table fl_spawn picks from, their names, the default
 * (FORKLESS_ENGINE), warming, and the helpers every engine calls around the
 * making of a child.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "internal.h"
#include "sys.h"

#if defined(__SANITIZE_THREAD__)
#define FL_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define FL_TSAN 1
#endif
#endif

/* Each engine makes the process (run) and, if it keeps anything ready
 * ahead of the spawns, prepares it (warm). */
static const struct {
	fl_engine_fn run;
	int (*warm)(void);
} engines[FL_ENGINE_COUNT] = {
	[FL_ENGINE_FORK] = { fl_engine_fork, NULL },
#ifndef FL_TSAN	/* TSan turns vfork into fork: the child's report would be lost */
	[FL_ENGINE_VFORK] = { fl_engine_vfork, NULL },
#endif
	[FL_ENGINE_POSIX] = { fl_engine_posix, NULL },
	[FL_ENGINE_CLONE] = { fl_engine_clone, NULL },
	[FL_ENGINE_ASYNC] = { fl_engine_async, fl_async_warm },
	[FL_ENGINE_POOL] = { fl_engine_pool, fl_pool_warm },
	[FL_ENGINE_ZYGOTE] = { fl_engine_zygote, fl_zygote_start },
#ifdef __x86_64__	/* the image renews the canary where x86_64 keeps it */
	[FL_ENGINE_PRIMED] = { fl_engine_primed, NULL },
#endif
};

bool fl_engine_implemented(int engine)
{
	return engine > FL_ENGINE_AUTO && engine < FL_ENGINE_COUNT && engines[engine].run;
}

int fl_engine_run(int engine, struct fl_job *job, fl_child *child)
{
	int ret = engines[engine].run(job, child);

	/* An engine that cannot make this child hands it to another, once. */
	if (ret > 0 && ret != engine && fl_engine_implemented(ret)) {
		child->engine = ret;
		ret = engines[ret].run(job, child);
	}
	return ret > 0 ? -EAGAIN : ret;
}

void fl_signals_block(struct fl_job *job, struct fl_saved *saved)
{
	uint64_t all = ~0ull;

	/* Cancellation too: the parent side must finish what it started.  The
	 * raw syscall, not pthread_sigmask: libc keeps its internal signals
	 * (SIGCANCEL, SIGSETXID) open, and their handlers must not run on the
	 * child's stack either. */
	pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &saved->cancel);
	sigemptyset(&saved->mask);
	fl_sys_sigprocmask(SIG_SETMASK, (const sigset_t *)&all, &saved->mask);
	memcpy(&job->mask, &saved->mask, sizeof(job->mask));
	saved->held = true;
}

/*
 * Whether the child may run with the caller's signal mask as it is, instead
 * of blocking every signal until exec: only where the kernel resets the
 * handlers (CLONE_CLEAR_SIGHAND through clone3), so no handler of the
 * caller's can run in the child, and only for steps that do not depend on
 * signals staying blocked.  Then a signal that reaches the child before exec
 * takes its default action there instead of just after exec: the same
 * outcome, for the child's mask is the caller's either way.  The steps that
 * need the block: tcsetpgrp (a background group takes the terminal only with
 * SIGTTOU blocked), a mask or dispositions for exec that differ from the
 * caller's (a signal the new mask blocks must stay pending for the program),
 * and the parent-death signal (sent to itself, it must wait for exec).  Not
 * compat.c's SIGIGNORE of glibc's internal signals 32 and 33: nothing sends
 * those to a process but glibc itself, to threads of the caller by tid.
 */
#define SIGNAL_SENSITIVE ((1u << FL_OP_TCSETPGRP) | (1u << FL_OP_SIGMASK) | (1u << FL_OP_SIGDEFAULT) | \
			  (1u << FL_OP_PDEATHSIG))
static bool mask_keepable(const struct fl_job *job)
{
	uint32_t ops = job->acts[0]->ops | (job->acts[1] ? job->acts[1]->ops : 0);

	return !(ops & SIGNAL_SENSITIVE) && !job->hook;
}

void fl_signals_hold(struct fl_job *job, struct fl_saved *saved)
{
#ifdef FL_HAVE_CLONE3_ASM
	if (fl_has(FL_FEAT_CLONE3) && fl_has(FL_FEAT_CLEAR_SIGHAND) && mask_keepable(job)) {
		saved->held = false;
		job->flags |= FL_JOB_MASK_KEPT;
		return;
	}
#endif
	fl_signals_block(job, saved);
}

void fl_signals_restore(const struct fl_saved *saved)
{
	if (!saved->held)
		return;
	fl_sys_sigprocmask(SIG_SETMASK, &saved->mask, NULL);
	pthread_setcancelstate(saved->cancel, NULL);
}

void fl_reap_failed(pid_t pid, int pidfd)
{
	siginfo_t si;
	int ret;

	do
		ret = pidfd >= 0 ? waitid(P_PIDFD, pidfd, &si, WEXITED) : waitid(P_PID, pid, &si, WEXITED);
	while (ret < 0 && errno == EINTR);
	if (pidfd >= 0)
		close(pidfd);
}

bool fl_job_pidfd_at_clone(const struct fl_job *job)
{
	return fl_has(FL_FEAT_CLONE_PIDFD) && !(job->spec->flags & FL_SPEC_NO_PIDFD) &&
	       !(job->flags & FL_JOB_LATE_PIDFD);
}

int fl_pidfd_for(const struct fl_job *job, pid_t pid)
{
	int fd;

	/* Safe from pid reuse: the child is ours and not reaped yet.  pidfds
	 * are close-on-exec always.  None for posix_spawn's callers, who reap
	 * by pid: a spawn then needs no free fd, as glibc's. */
	if (!fl_has(FL_FEAT_PIDFD_OPEN) || (job && (job->spec->flags & FL_SPEC_NO_PIDFD)))
		return -1;
	fd = fl_sys_pidfd_open(pid, 0);
	return fd < 0 ? -1 : fd;
}

/* ---- engines by name ------------------------------------------------------- */

static const char *const engine_names[FL_ENGINE_COUNT] = {
	[FL_ENGINE_AUTO] = "auto", [FL_ENGINE_FORK] = "fork", [FL_ENGINE_VFORK] = "vfork",
	[FL_ENGINE_POSIX] = "posix", [FL_ENGINE_CLONE] = "clone", [FL_ENGINE_ASYNC] = "async",
	[FL_ENGINE_POOL] = "pool", [FL_ENGINE_ZYGOTE] = "zygote", [FL_ENGINE_PRIMED] = "primed",
};

FL_API const char *fl_engine_name(int engine)
{
	if (engine < 0 || engine >= FL_ENGINE_COUNT)
		return NULL;
	return engine_names[engine];
}

FL_API int fl_engine_from_name(const char *name)
{
	for (int e = 0; name && e < FL_ENGINE_COUNT; e++)
		if (!strcmp(name, engine_names[e]))
			return e;
	return -EINVAL;
}

FL_API int fl_engine_supported(int engine)
{
	if (engine < 0 || engine >= FL_ENGINE_COUNT)
		return -EINVAL;
	if (engine == FL_ENGINE_AUTO)
		return 0;
	return fl_engine_implemented(engine) ? 0 : -ENOSYS;
}

static int default_engine;
static pthread_once_t default_once = PTHREAD_ONCE_INIT;

static void pick_default(void)
{
	const char *name = getenv("FORKLESS_ENGINE");
	int engine = name && *name ? fl_engine_from_name(name) : FL_ENGINE_AUTO;

	if (engine < 0 || fl_engine_supported(engine) < 0) {
		fprintf(stderr, "forkless: FORKLESS_ENGINE=%s is not an engine this build can use; using auto\n",
			name);
		engine = FL_ENGINE_AUTO;
	}
	/* auto: the clone engine runs everywhere (clone() where clone3 is not). */
	default_engine = engine == FL_ENGINE_AUTO ? FL_ENGINE_CLONE : engine;
}

FL_API int fl_engine_default(void)
{
	pthread_once(&default_once, pick_default);
	return default_engine;
}

FL_API int fl_engine_warm(int engine)
{
	int ret = fl_engine_supported(engine);

	if (ret < 0)
		return ret;
	if (engine == FL_ENGINE_AUTO)
		engine = fl_engine_default();
	return engines[engine].warm ? engines[engine].warm() : 0;
}
