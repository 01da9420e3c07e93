// SPDX-License-Identifier: MIT
/*
 * posix_spawn compatibility: glibc's <spawn.h> ABI as fl_posix_spawn* (and,
 * through preload.c, under glibc's own names), running on the engines.
 *
 * The objects keep glibc's size and layout, so a program's own variables
 * work unchanged (LP64 offsets):
 *
 *   posix_spawn_file_actions_t, 80 bytes
 *     0   int __allocated, __used; void *__actions   glibc's own records: we
 *                                                     leave them 0 and NULL
 *     16  __pad[0..1]: struct fl_actions *            our list, NULL while empty
 *     24  __pad[2..15]                                unused
 *   posix_spawnattr_t, 336 bytes: plain data, as in glibc (a program may copy it)
 *     0   __flags, __pgrp, __sd, __ss, __sp, __policy   as glibc
 *     272 __pad[0]: the cgroup fd                       glibc 2.39's __cgroup
 *     332 __pad[15]: the engine                         ours; 0 is auto
 *
 * glibc keeps its array of records behind __actions the same way; we keep
 * ours in the spare ints instead, so that glibc's functions, should they ever
 * see one of our objects, find a valid empty one rather than our pointer.
 *
 * A spawn turns the attributes into a template's steps, in the order glibc
 * 2.36's child runs them (sysdeps/unix/sysv/linux/spawni.c): signal
 * dispositions, scheduling, setsid, setpgid, the effective ids; the file
 * actions follow as the call's own list; the signal mask applies at exec.
 */
#include <errno.h>
#include <fcntl.h>
#include <gnu/libc-version.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"
#include "sys.h"

struct fl_glibc_fa {
	int allocated, used;
	void *records;
	struct fl_actions *list;
	int spare[14];
} __attribute__((may_alias));

struct fl_glibc_attr {
	short flags;
	pid_t pgrp;
	sigset_t sd, ss;
	struct sched_param sp;
	int policy;
	int cgroup;
	int spare[14];
	int engine;
} __attribute__((may_alias));

_Static_assert(sizeof(struct fl_glibc_fa) == sizeof(posix_spawn_file_actions_t), "glibc's file actions");
_Static_assert(offsetof(struct fl_glibc_fa, list) == offsetof(posix_spawn_file_actions_t, __pad),
	       "our list sits in glibc's spare ints");
_Static_assert(sizeof(struct fl_glibc_attr) == sizeof(posix_spawnattr_t), "glibc's attributes");
_Static_assert(offsetof(struct fl_glibc_attr, cgroup) == offsetof(posix_spawnattr_t, __policy) + sizeof(int),
	       "glibc 2.39's __cgroup follows __policy");

#define ALL_FLAGS (POSIX_SPAWN_RESETIDS | POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGDEF | \
		   POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSCHEDPARAM | POSIX_SPAWN_SETSCHEDULER | \
		   POSIX_SPAWN_USEVFORK | POSIX_SPAWN_SETSID | FL_POSIX_SPAWN_SETCGROUP)

/* glibc's internal signals, SIGCANCEL (32) and SIGSETXID (33), as kernel mask bits. */
#define INTERNAL_SIGNALS (3ull << 31)

/* ---- glibc itself, for the posix engine --------------------------------- */

typedef int spawn_fn(pid_t *, const char *, const posix_spawn_file_actions_t *,
		     const posix_spawnattr_t *, char *const[], char *const[]);

static struct {
	spawn_fn *spawn[2][2];		/* [PATH search][GLIBC_2.2.5 ABI] */
	spawn_fn *pidfd_spawn[2];	/* glibc 2.39's, NULL before */
	__typeof__(posix_spawn_file_actions_init) *init;
	__typeof__(posix_spawn_file_actions_destroy) *destroy;
	__typeof__(posix_spawn_file_actions_addopen) *addopen;
	__typeof__(posix_spawn_file_actions_addclose) *addclose;
	__typeof__(posix_spawn_file_actions_adddup2) *adddup2;
	__typeof__(posix_spawn_file_actions_addchdir_np) *addchdir;
	__typeof__(posix_spawn_file_actions_addfchdir_np) *addfchdir;
	__typeof__(posix_spawn_file_actions_addclosefrom_np) *addclosefrom;
	__typeof__(posix_spawn_file_actions_addtcsetpgrp_np) *addtcsetpgrp;
} glibc;

/* glibc before 2.38 sets its internal signals to SIG_IGN in every child
 * (its loop over the signals treats them apart), and SIG_IGN survives exec;
 * 2.38 and later leave them alone where clone3 takes CLONE_CLEAR_SIGHAND
 * (asked at each spawn: a probe made with no fd free is not an answer). */
static bool glibc_before_2_38;
static pthread_once_t compat_once = PTHREAD_ONCE_INIT;

/*
 * In libforkless the <spawn.h> names are glibc's and are called directly.  In
 * the preload shim they are the shim's own (a direct call would come back to
 * it), so the shim looks glibc's up past itself.  The GLIBC_2.2.5 spawns are
 * only ever asked for by the shim.
 */
static void *glibc_sym(const char *name, bool old_abi, void *direct)
{
	return fl_preload_glibc_sym ? fl_preload_glibc_sym(name, old_abi) : direct;
}

static void compat_setup(void)
{
	unsigned major = 0, minor = 0;

	glibc.spawn[0][0] = glibc_sym("posix_spawn", false, (void *)posix_spawn);
	glibc.spawn[1][0] = glibc_sym("posix_spawnp", false, (void *)posix_spawnp);
	glibc.spawn[0][1] = glibc_sym("posix_spawn", true, NULL);
	glibc.spawn[1][1] = glibc_sym("posix_spawnp", true, NULL);
	glibc.pidfd_spawn[0] = glibc_sym("pidfd_spawn", false, NULL);
	glibc.pidfd_spawn[1] = glibc_sym("pidfd_spawnp", false, NULL);
	glibc.init = glibc_sym("posix_spawn_file_actions_init", false, (void *)posix_spawn_file_actions_init);
	glibc.destroy = glibc_sym("posix_spawn_file_actions_destroy", false,
				  (void *)posix_spawn_file_actions_destroy);
	glibc.addopen = glibc_sym("posix_spawn_file_actions_addopen", false,
				  (void *)posix_spawn_file_actions_addopen);
	glibc.addclose = glibc_sym("posix_spawn_file_actions_addclose", false,
				   (void *)posix_spawn_file_actions_addclose);
	glibc.adddup2 = glibc_sym("posix_spawn_file_actions_adddup2", false,
				  (void *)posix_spawn_file_actions_adddup2);
	glibc.addchdir = glibc_sym("posix_spawn_file_actions_addchdir_np", false,
				   (void *)posix_spawn_file_actions_addchdir_np);
	glibc.addfchdir = glibc_sym("posix_spawn_file_actions_addfchdir_np", false,
				    (void *)posix_spawn_file_actions_addfchdir_np);
	glibc.addclosefrom = glibc_sym("posix_spawn_file_actions_addclosefrom_np", false,
				       (void *)posix_spawn_file_actions_addclosefrom_np);
	glibc.addtcsetpgrp = glibc_sym("posix_spawn_file_actions_addtcsetpgrp_np", false,
				       (void *)posix_spawn_file_actions_addtcsetpgrp_np);

	sscanf(gnu_get_libc_version(), "%u.%u", &major, &minor);
	glibc_before_2_38 = major < 2 || (major == 2 && minor < 38);
}

/* Our list as a glibc object, through glibc's own add functions. */
static int to_glibc(const struct fl_actions *list, posix_spawn_file_actions_t *out)
{
	int err = glibc.init(out);

	for (int i = 0; !err && i < list->n; i++) {
		const struct fl_action *a = &list->v[i];

		switch (a->op) {
		case FL_OP_OPEN:
			err = glibc.addopen(out, a->fd, a->data, (int)a->arg, (mode_t)a->arg2);
			break;
		case FL_OP_CLOSE_SPAWN:
			err = glibc.addclose(out, a->fd);
			break;
		case FL_OP_DUP2:
			err = glibc.adddup2(out, a->fd2, a->fd);
			break;
		case FL_OP_CHDIR:
			err = glibc.addchdir(out, a->data);
			break;
		case FL_OP_FCHDIR:
			err = glibc.addfchdir(out, a->fd);
			break;
		case FL_OP_CLOSEFROM:
			err = glibc.addclosefrom(out, a->fd);
			break;
		case FL_OP_TCSETPGRP:
			err = glibc.addtcsetpgrp(out, a->fd);
			break;
		default:
			err = EINVAL;
		}
	}
	if (err)
		glibc.destroy(out);
	return err;
}

/* The posix engine, and objects glibc's own functions filled: glibc's spawn. */
/* -EMFILE (or ENFILE) if no fd can be opened now: pidfd_spawn's pidfd would
 * have none, so no child is made (glibc 2.39's clone3 fails the same way). */
static int fd_free(void)
{
	int fd = open("/", O_PATH | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	close(fd);
	return 0;
}

static int via_glibc(int *out, const char *file, const posix_spawn_file_actions_t *fa,
		     const posix_spawnattr_t *attr, char *const argv[], char *const envp[], unsigned how)
{
	const struct fl_glibc_fa *g = (const void *)fa;
	const struct fl_glibc_attr *a = (const void *)attr;
	bool path = how & FL_COMPAT_PATH, old = how & FL_COMPAT_SHELL;
	posix_spawn_file_actions_t copy;
	pid_t pid;
	int err = 0;

	if (g && g->list) {
		err = to_glibc(g->list, &copy);
		fa = &copy;
	}
	if (err)
		return err;
	if ((how & FL_COMPAT_PIDFD) && glibc.pidfd_spawn[path]) {
		err = glibc.pidfd_spawn[path](out, file, fa, attr, argv, envp);
	} else if (a && (a->flags & FL_POSIX_SPAWN_SETCGROUP)) {
		err = ENOTSUP;	/* a glibc before 2.39 would ignore the flag */
	} else if (!glibc.spawn[path][old]) {
		err = ENOSYS;
	} else if (!(err = (how & FL_COMPAT_PIDFD) ? -fd_free() : 0)) {
		err = glibc.spawn[path][old](&pid, file, fa, attr, argv, envp);
		if (!err && (how & FL_COMPAT_PIDFD)) {
			/* glibc before 2.39 has no pidfd_spawn: a pidfd for the child
			 * just made, race-free since it is ours and not reaped. */
			int pidfd = fl_sys_pidfd_open(pid, 0);

			if (pidfd < 0) {
				kill(pid, SIGKILL);
				fl_reap_failed(pid, -1);
				err = -pidfd;
			} else if (out) {
				*out = pidfd;
			} else {
				close(pidfd);
			}
		} else if (!err && out) {
			*out = pid;
		}
	}
	if (fa == &copy)
		glibc.destroy(&copy);
	return err;
}

/* ---- the engines ---------------------------------------------------------- */

/* The attributes as steps, in the order of glibc's child. */
static int attr_steps(struct fl_actions *acts, const struct fl_glibc_attr *a)
{
	short flags = a ? a->flags : 0;
	uint64_t dfl = 0, ign;
	int ret = 0;

	/* clone3 does it before anything else where the engine can (CLONE_INTO_CGROUP). */
	if (flags & FL_POSIX_SPAWN_SETCGROUP)
		ret = fl_actions_push(acts, (struct fl_action){ .op = FL_OP_CGROUP, .fd = a->cgroup }, NULL, 0);
	if (ret >= 0 && (flags & POSIX_SPAWN_SETSIGDEF)) {
		memcpy(&dfl, &a->sd, sizeof(dfl));
		ret = fl_actions_push(acts, (struct fl_action){ .op = FL_OP_SIGDEFAULT }, &a->sd, sizeof(a->sd));
	}
	ign = INTERNAL_SIGNALS & ~dfl;
	if (ret >= 0 && ign && (glibc_before_2_38 || !fl_has(FL_FEAT_CLEAR_SIGHAND)))
		ret = fl_actions_push(acts, (struct fl_action){ .op = FL_OP_SIGIGNORE, .arg = (long)ign }, NULL, 0);
	/* glibc: SETSCHEDPARAM alone is sched_setparam; with SETSCHEDULER (or
	 * SETSCHEDULER alone) sched_setscheduler with the policy. */
	if (ret >= 0 && (flags & (POSIX_SPAWN_SETSCHEDPARAM | POSIX_SPAWN_SETSCHEDULER)))
		ret = fl_actions_push(acts, (struct fl_action){ .op = FL_OP_SCHED,
				      .arg = flags & POSIX_SPAWN_SETSCHEDULER ? a->policy : -1 },
				      &a->sp, sizeof(a->sp));
	if (ret >= 0 && (flags & POSIX_SPAWN_SETSID))
		ret = fl_actions_push(acts, (struct fl_action){ .op = FL_OP_SETSID }, NULL, 0);
	/* Unchecked here: a bad group fails in the child, as in glibc. */
	if (ret >= 0 && (flags & POSIX_SPAWN_SETPGROUP))
		ret = fl_actions_push(acts, (struct fl_action){ .op = FL_OP_SETPGID, .arg = a->pgrp }, NULL, 0);
	if (ret >= 0 && (flags & POSIX_SPAWN_RESETIDS))
		ret = fl_actions_push(acts, (struct fl_action){ .op = FL_OP_RESETIDS }, NULL, 0);
	if (ret >= 0 && (flags & POSIX_SPAWN_SETSIGMASK)) {
		/* glibc's sigprocmask never blocks its internal signals. */
		sigset_t ss = a->ss;
		uint64_t word;

		memcpy(&word, &ss, sizeof(word));
		word &= ~INTERNAL_SIGNALS;
		memcpy(&ss, &word, sizeof(word));
		ret = fl_actions_push(acts, (struct fl_action){ .op = FL_OP_SIGMASK }, &ss, sizeof(ss));
	}
	return ret < 0 ? ret : 0;
}

/*
 * What to exec.  posix_spawn: the path as given, even "" or one too long,
 * whose exec then fails after the file actions ran, as in glibc.
 *
 * posix_spawnp: the template's search as the child side runs it (child.c:
 * after an exec that fails in a way execvp skips, it goes on with the later
 * PATH entries), from the first entry on: one execve per entry, as glibc's
 * child, so every glibc rule holds by construction (relative entries mean
 * what they mean after a chdir step, RESETIDS changes the ids exec checks,
 * a step's error comes before the search's).  Not fl_spec_set_file's probe
 * in the parent: a failed execve costs no more than a failed stat (the
 * kernel opens the file before it builds anything), so the probe's stat
 * and access check of the entry found, then its exec, would make the
 * search dearer than glibc's.  FIRST holds
 * the first candidate; nothing is allocated, and the strings stay the
 * caller's (the call returns once the child has exec'd or failed).
 */
static void set_program(struct fl_spec *spec, const char *file, unsigned how, char first[PATH_MAX])
{
	const char *path;
	size_t entry, flen, len;

	if (!(how & FL_COMPAT_PATH) || !*file || strchr(file, '/') || (flen = strlen(file)) > NAME_MAX) {
		spec->path = (char *)file;	/* exec's own ENOENT, ENAMETOOLONG... */
		return;
	}
	path = getenv("PATH");
	if (!path)
		path = "/bin:/usr/bin";		/* glibc's CS_PATH */
	entry = strcspn(path, ":");
	spec->file = (char *)file;
	spec->search = (char *)path;
	spec->search_eacces = false;
	if (entry + 1 + flen >= PATH_MAX) {
		/* An entry too long to join: "" fails with ENOENT, which the
		 * search skips, and the child goes on from the first entry. */
		spec->path = (char *)"";
		spec->search_next = 0;
		return;
	}
	/* An empty entry is the current directory, as in child.c. */
	memcpy(first, path, entry);
	len = entry;
	if (entry)
		first[len++] = '/';
	memcpy(first + len, file, flen + 1);
	spec->path = first;
	spec->search_next = path[entry] ? entry + 1 : FL_SEARCH_END;
}

/* The engine that made (or would have made) this thread's last child: what
 * FORKLESS_TRACE records (an engine may hand a spawn to another). */
static __thread int engine_ran;

int fl_compat_engine_ran(void)
{
	return engine_ran;
}

/* pidfd_spawn's child has no pidfd (an engine that opens it after the fact
 * lost the last free fd to another thread): one more try, else the child is
 * killed and reaped and the call fails as glibc's would have, before it. */
static int pidfd_or_kill(fl_child *child)
{
	child->pidfd = fl_pidfd_for(NULL, child->pid);
	if (child->pidfd >= 0)
		return 0;
	fl_child_kill(child, SIGKILL);
	fl_child_wait(child, NULL);
	return -EMFILE;
}

static int via_engine(int engine, int *out, const char *file, const struct fl_glibc_fa *g,
		      const struct fl_glibc_attr *a, char *const argv[], char *const envp[], unsigned how)
{
	fl_spawn_args args = { argv, envp, g ? g->list : NULL };
	char first[PATH_MAX];
	/* The template lives on this stack: the call returns only once the
	 * child has exec'd or failed, so no child reads it after (an allocated
	 * one cost a calloc and a free per call). */
	struct fl_spec spec_mem = { .exec_fd = -1 }, *spec = &spec_mem;
	fl_child child;
	int ret;

	fl_actions_init(&spec->acts);
	spec->engine = engine;
	if (how & FL_COMPAT_SHELL)
		spec->flags = FL_SPEC_ENOEXEC_SH | FL_SPEC_SH_AS_GIVEN;
	if (!(how & FL_COMPAT_PIDFD))
		spec->flags |= FL_SPEC_NO_PIDFD;	/* the caller reaps by pid */
	set_program(spec, file, how, first);
	ret = attr_steps(&spec->acts, a);
	if (ret == 0 && (how & FL_COMPAT_PIDFD))
		ret = fd_free();
	if (ret == 0) {
		ret = fl_spawn(spec, &args, &child, NULL);
		engine_ran = child.engine;
	}
	if (ret == 0)
		ret = fl_child_wait_exec(&child, NULL);	/* at once but for async engines */
	if (ret == 0 && (how & FL_COMPAT_PIDFD) && child.pidfd < 0)
		ret = pidfd_or_kill(&child);
	if (ret == 0) {
		if ((how & FL_COMPAT_PIDFD) && out) {
			*out = child.pidfd;
			child.pidfd = -1;	/* the caller's now */
		} else if (!(how & FL_COMPAT_PIDFD) && out) {
			*out = child.pid;
		}
		fl_child_release(&child);
	}
	fl_inflight_quiesce(spec);
	fl_actions_clear(&spec->acts);
	return -ret;
}

/* The engine for a spawn: the attribute's, else FORKLESS_ENGINE's or the
 * default.  The zygote's children are the caller's own (CLONE_PARENT), so
 * waitpid reaps them as posix_spawn's callers expect. */
static int engine_of(const struct fl_glibc_attr *a)
{
	return a && a->engine ? a->engine : fl_engine_default();
}

int fl_compat_spawn(int *out, const char *file, const posix_spawn_file_actions_t *fa,
		    const posix_spawnattr_t *attr, char *const argv[], char *const envp[], unsigned how)
{
	static char *const empty[] = { NULL };
	const struct fl_glibc_fa *g = (const void *)fa;
	const struct fl_glibc_attr *a = (const void *)attr;
	int engine = engine_of(a), saved = errno, err;

	engine_ran = engine;
	pthread_once(&compat_once, compat_setup);
	/* NULL is an empty list for execve; glibc would crash on a NULL argv. */
	if (!argv)
		argv = empty;
	if (!envp)
		envp = empty;
	if ((how & FL_COMPAT_PIDFD) && (err = fl_probe(FL_FEAT_WAITID_PIDFD)) <= 0)
		err = err ? -err : ENOSYS;	/* glibc 2.39 asks for the same before anything */
	else if (g && g->records && g->list)
		err = EINVAL;	/* filled by glibc's functions and ours */
	else if (a && (a->flags & FL_POSIX_SPAWN_SETCGROUP) && a->cgroup < 0)
		/* glibc 2.39 hands clone3 the int as a u64, above INT_MAX, and
		 * the kernel refuses it; its setter takes any value. */
		err = EINVAL;
	else if (engine == FL_ENGINE_POSIX || (g && g->records)) {
		engine_ran = FL_ENGINE_POSIX;
		err = via_glibc(out, file, fa, attr, argv, envp, how);
	}
	else
		err = via_engine(engine, out, file, g, a, argv, envp, how);
	/* glibc's child writes errno in the caller's thread (CLONE_VM, same
	 * TLS), so after a failure errno holds the error (some programs print
	 * it with perror); after a success it is as it was. */
	errno = err ? err : saved;
	return err;
}

FL_API int fl_posix_spawn(pid_t *__restrict pid, const char *__restrict path,
			  const posix_spawn_file_actions_t *fa, const posix_spawnattr_t *__restrict attrp,
			  char *const argv[], char *const envp[])
{
	return fl_compat_spawn(pid, path, fa, attrp, argv, envp, 0);
}

FL_API int fl_posix_spawnp(pid_t *__restrict pid, const char *__restrict file,
			   const posix_spawn_file_actions_t *fa, const posix_spawnattr_t *__restrict attrp,
			   char *const argv[], char *const envp[])
{
	return fl_compat_spawn(pid, file, fa, attrp, argv, envp, FL_COMPAT_PATH);
}

FL_API int fl_pidfd_spawn(int *__restrict pidfd, const char *__restrict path,
			  const posix_spawn_file_actions_t *fa, const posix_spawnattr_t *__restrict attrp,
			  char *const argv[], char *const envp[])
{
	return fl_compat_spawn(pidfd, path, fa, attrp, argv, envp, FL_COMPAT_PIDFD);
}

FL_API int fl_pidfd_spawnp(int *__restrict pidfd, const char *__restrict file,
			   const posix_spawn_file_actions_t *fa, const posix_spawnattr_t *__restrict attrp,
			   char *const argv[], char *const envp[])
{
	return fl_compat_spawn(pidfd, file, fa, attrp, argv, envp, FL_COMPAT_PIDFD | FL_COMPAT_PATH);
}

/* The "Pid:" line of a pidfd's fdinfo, as glibc 2.39 reads it: -1 for a
 * process that has exited (and been reaped), 0 for one in a pid namespace
 * this one cannot see. */
FL_API pid_t fl_pidfd_getpid(int pidfd)
{
	char name[64], buf[1024];
	const char *line;
	ssize_t n, got = 0;
	long pid = 0;
	bool neg = false;
	int fd;

	if (pidfd < 0)
		return -EBADF;
	snprintf(name, sizeof(name), "/proc/self/fdinfo/%d", pidfd);
	fd = open(name, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -EBADF;
	while (got < (ssize_t)sizeof(buf) - 1 && (n = read(fd, buf + got, sizeof(buf) - 1 - got)) > 0)
		got += n;
	close(fd);
	buf[got] = 0;
	for (line = buf; strncmp(line, "Pid:", 4); line++) {
		line = strchr(line, '\n');
		if (!line)
			return -EBADF;	/* not a pidfd */
	}
	for (line += 4; *line == ' ' || *line == '\t'; line++)
		;
	if (*line == '-') {
		neg = true;
		line++;
	}
	if (*line < '0' || *line > '9')
		return -EBADF;
	for (; *line >= '0' && *line <= '9' && pid <= INT_MAX; line++)
		pid = pid * 10 + (*line - '0');
	if ((*line && *line != '\n') || pid > INT_MAX || (neg && pid != 1))
		return -EBADF;
	if (neg)
		return -ESRCH;
	return pid ? (pid_t)pid : -EREMOTE;
}

/* ---- file actions --------------------------------------------------------- */

/* glibc's __spawn_valid_fd: what POSIX asks, checked when the step is added. */
static bool valid_fd(int fd)
{
	long max = sysconf(_SC_OPEN_MAX);

	return fd >= 0 && (max < 0 || fd < max);
}

static int fa_add(posix_spawn_file_actions_t *fa, struct fl_action a, const void *data, size_t size)
{
	struct fl_glibc_fa *g = (void *)fa;

	if (!g->list && fl_actions_new(&g->list) < 0)
		return ENOMEM;
	return fl_actions_push(g->list, a, data, size) < 0 ? ENOMEM : 0;
}

FL_API int fl_posix_spawn_file_actions_init(posix_spawn_file_actions_t *fa)
{
	memset(fa, 0, sizeof(*fa));
	return 0;
}

FL_API int fl_posix_spawn_file_actions_destroy(posix_spawn_file_actions_t *fa)
{
	struct fl_glibc_fa *g = (void *)fa;

	fl_actions_free(g->list);
	g->list = NULL;
	if (g->records) {	/* glibc's functions filled it: glibc frees that */
		pthread_once(&compat_once, compat_setup);
		return glibc.destroy(fa);
	}
	return 0;
}

FL_API int fl_posix_spawn_file_actions_addopen(posix_spawn_file_actions_t *__restrict fa, int fd,
					       const char *__restrict path, int oflag, mode_t mode)
{
	if (!valid_fd(fd))
		return EBADF;
	if (!path)
		return EINVAL;
	return fa_add(fa, (struct fl_action){ .op = FL_OP_OPEN, .fd = fd, .arg = oflag, .arg2 = mode },
		      path, strlen(path) + 1);
}

FL_API int fl_posix_spawn_file_actions_addclose(posix_spawn_file_actions_t *fa, int fd)
{
	if (!valid_fd(fd))
		return EBADF;
	return fa_add(fa, (struct fl_action){ .op = FL_OP_CLOSE_SPAWN, .fd = fd }, NULL, 0);
}

FL_API int fl_posix_spawn_file_actions_adddup2(posix_spawn_file_actions_t *fa, int fd, int newfd)
{
	if (!valid_fd(fd) || !valid_fd(newfd))
		return EBADF;
	return fa_add(fa, (struct fl_action){ .op = FL_OP_DUP2, .fd = newfd, .fd2 = fd }, NULL, 0);
}

FL_API int fl_posix_spawn_file_actions_addchdir_np(posix_spawn_file_actions_t *__restrict fa,
						   const char *__restrict path)
{
	if (!path)
		return EINVAL;
	return fa_add(fa, (struct fl_action){ .op = FL_OP_CHDIR }, path, strlen(path) + 1);
}

FL_API int fl_posix_spawn_file_actions_addfchdir_np(posix_spawn_file_actions_t *fa, int fd)
{
	/* glibc checks nothing here: fchdir(-1) fails in the child. */
	return fa_add(fa, (struct fl_action){ .op = FL_OP_FCHDIR, .fd = fd }, NULL, 0);
}

FL_API int fl_posix_spawn_file_actions_addclosefrom_np(posix_spawn_file_actions_t *fa, int from)
{
	if (!valid_fd(from))
		return EBADF;
	return fa_add(fa, (struct fl_action){ .op = FL_OP_CLOSEFROM, .fd = from }, NULL, 0);
}

FL_API int fl_posix_spawn_file_actions_addtcsetpgrp_np(posix_spawn_file_actions_t *fa, int tcfd)
{
	if (!valid_fd(tcfd))
		return EBADF;
	return fa_add(fa, (struct fl_action){ .op = FL_OP_TCSETPGRP, .fd = tcfd }, NULL, 0);
}

/* ---- attributes ----------------------------------------------------------- */

#define ATTR(p) ((struct fl_glibc_attr *)(p))
#define CATTR(p) ((const struct fl_glibc_attr *)(p))

FL_API int fl_posix_spawnattr_init(posix_spawnattr_t *attr)
{
	memset(attr, 0, sizeof(*attr));
	return 0;
}

FL_API int fl_posix_spawnattr_destroy(posix_spawnattr_t *attr)
{
	(void)attr;
	return 0;
}

FL_API int fl_posix_spawnattr_getflags(const posix_spawnattr_t *__restrict attr, short *__restrict flags)
{
	*flags = CATTR(attr)->flags;
	return 0;
}

FL_API int fl_posix_spawnattr_setflags(posix_spawnattr_t *attr, short flags)
{
	if (flags & ~ALL_FLAGS)
		return EINVAL;
	ATTR(attr)->flags = flags;
	return 0;
}

FL_API int fl_posix_spawnattr_getpgroup(const posix_spawnattr_t *__restrict attr, pid_t *__restrict pgroup)
{
	*pgroup = CATTR(attr)->pgrp;
	return 0;
}

FL_API int fl_posix_spawnattr_setpgroup(posix_spawnattr_t *attr, pid_t pgroup)
{
	ATTR(attr)->pgrp = pgroup;
	return 0;
}

FL_API int fl_posix_spawnattr_getsigmask(const posix_spawnattr_t *__restrict attr, sigset_t *__restrict mask)
{
	*mask = CATTR(attr)->ss;
	return 0;
}

FL_API int fl_posix_spawnattr_setsigmask(posix_spawnattr_t *__restrict attr, const sigset_t *__restrict mask)
{
	ATTR(attr)->ss = *mask;
	return 0;
}

FL_API int fl_posix_spawnattr_getsigdefault(const posix_spawnattr_t *__restrict attr, sigset_t *__restrict set)
{
	*set = CATTR(attr)->sd;
	return 0;
}

FL_API int fl_posix_spawnattr_setsigdefault(posix_spawnattr_t *__restrict attr, const sigset_t *__restrict set)
{
	ATTR(attr)->sd = *set;
	return 0;
}

FL_API int fl_posix_spawnattr_getschedparam(const posix_spawnattr_t *__restrict attr,
					    struct sched_param *__restrict param)
{
	*param = CATTR(attr)->sp;
	return 0;
}

FL_API int fl_posix_spawnattr_setschedparam(posix_spawnattr_t *__restrict attr,
					    const struct sched_param *__restrict param)
{
	ATTR(attr)->sp = *param;
	return 0;
}

FL_API int fl_posix_spawnattr_getschedpolicy(const posix_spawnattr_t *__restrict attr, int *__restrict policy)
{
	*policy = CATTR(attr)->policy;
	return 0;
}

FL_API int fl_posix_spawnattr_setschedpolicy(posix_spawnattr_t *attr, int policy)
{
	/* glibc's rule: not SCHED_BATCH nor SCHED_IDLE, which it has since. */
	if (policy != SCHED_OTHER && policy != SCHED_FIFO && policy != SCHED_RR)
		return EINVAL;
	ATTR(attr)->policy = policy;
	return 0;
}

FL_API int fl_posix_spawnattr_getcgroup_np(const posix_spawnattr_t *__restrict attr, int *__restrict cgroup)
{
	*cgroup = CATTR(attr)->cgroup;
	return 0;
}

FL_API int fl_posix_spawnattr_setcgroup_np(posix_spawnattr_t *attr, int cgroup)
{
	ATTR(attr)->cgroup = cgroup;
	return 0;
}

FL_API int fl_posix_spawnattr_getengine_np(const posix_spawnattr_t *__restrict attr, int *__restrict engine)
{
	*engine = CATTR(attr)->engine;
	return 0;
}

FL_API int fl_posix_spawnattr_setengine_np(posix_spawnattr_t *attr, int engine)
{
	if (fl_engine_supported(engine) < 0)
		return EINVAL;
	ATTR(attr)->engine = engine;
	return 0;
}
