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

#include "inflight.h"
#include "sys.h"

#if defined(__SANITIZE_THREAD__)
#define FL_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define FL_TSAN 1
#endif
#endif

static const fl_engine_fn engines[FL_ENGINE_COUNT] = {
	[FL_ENGINE_FORK] = fl_engine_fork,
#ifndef FL_TSAN	/* TSan turns vfork into fork: the child's report would be lost */
	[FL_ENGINE_VFORK] = fl_engine_vfork,
#endif
	[FL_ENGINE_POSIX] = fl_engine_posix,
	[FL_ENGINE_CLONE] = fl_engine_clone,
	[FL_ENGINE_ASYNC] = fl_engine_async,
	[FL_ENGINE_POOL] = fl_engine_pool,
	[FL_ENGINE_ZYGOTE] = fl_engine_zygote,
};

bool fl_engine_implemented(int engine)
{
	return engine > FL_ENGINE_AUTO && engine < FL_ENGINE_COUNT && engines[engine];
}

int fl_engine_run(int engine, struct fl_job *job, fl_child *child)
{
	return engines[engine](job, child);
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
}

void fl_signals_restore(const struct fl_saved *saved)
{
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

int fl_pidfd_for(pid_t pid)
{
	int fd;

	/* Safe from pid reuse: the child is ours and not reaped yet.  pidfds
	 * are close-on-exec always. */
	if (!fl_has(FL_FEAT_PIDFD_OPEN))
		return -1;
	fd = fl_sys_pidfd_open(pid, 0);
	return fd < 0 ? -1 : fd;
}

/* ---- engines by name ------------------------------------------------------- */

static const char *const engine_names[FL_ENGINE_COUNT] = {
	[FL_ENGINE_AUTO] = "auto", [FL_ENGINE_FORK] = "fork", [FL_ENGINE_VFORK] = "vfork",
	[FL_ENGINE_POSIX] = "posix", [FL_ENGINE_CLONE] = "clone", [FL_ENGINE_ASYNC] = "async",
	[FL_ENGINE_POOL] = "pool", [FL_ENGINE_ZYGOTE] = "zygote",
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
	switch (engine == FL_ENGINE_AUTO ? fl_engine_default() : engine) {
	case FL_ENGINE_ASYNC: {
		/* A few blocks mapped and touched, so the first spawns pay no
		 * mmap or page faults. */
		struct fl_block *blk[4] = { NULL };

		for (int i = 0; i < 4; i++)
			blk[i] = fl_block_get();
		fl_async_lock_take();
		for (int i = 0; i < 4; i++)
			if (blk[i])
				fl_block_put_locked(blk[i]);
		pthread_mutex_unlock(&fl_async_lock);
		return 0;
	}
	case FL_ENGINE_POOL:
		return fl_pool_fill();
	case FL_ENGINE_ZYGOTE:
		return fl_zygote_start();
	default:
		return 0;
	}
}
