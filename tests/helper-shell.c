// SPDX-License-Identifier: MIT
/*
 * A program that runs commands through system, popen, pclose and fclose by
 * glibc's names: glibc's own, or the preload shim's when LD_PRELOAD names
 * it.  tests/t-preload-shell.sh runs it both ways, under each engine, and
 * compares the reports.
 *
 *   helper-shell report DIR   every case, a report each; DIR is an empty scratch
 *                             directory (fifos and the children's reports)
 *   helper-shell noshell      system and popen where /bin/sh cannot run (the test
 *                             mounts /dev/null over it in a mount namespace of its own)
 *   helper-shell bench N      N calls each of system(":") and popen(":", "r") + pclose,
 *                             glibc's and the ones the names bind to, timed whole
 *
 * A report names what differs between runs by what it is: fds by the stream
 * they belong to, pipes by whose they are, the scratch directory as DIR.
 * The last line counts the calls that spawn a shell, for the trace check.
 */
#include <dlfcn.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/syscall.h>

#include "util.h"

static const char *state_helper, *dir;
static int n_system, n_popen;
static volatile sig_atomic_t caught[NSIG];

static void count(int sig)
{
	caught[sig]++;
}

static const char *disposition(int sig)
{
	struct sigaction sa;

	sigaction(sig, NULL, &sa);
	return sa.sa_handler == SIG_IGN ? "ignored" : sa.sa_handler == SIG_DFL ? "default" : "handled";
}

/* What a thread sees of its signals: its mask and the two system changes. */
static void show_signals(const char *who)
{
	sigset_t mask;

	pthread_sigmask(SIG_BLOCK, NULL, &mask);
	printf("%s: blocked", who);
	for (int sig = 1; sig < SIGRTMIN; sig++)
		if (sigismember(&mask, sig) == 1)
			printf(" %d", sig);
	printf("; INT %s, QUIT %s\n", disposition(SIGINT), disposition(SIGQUIT));
}

/* system and popen by name, counted (only calls that reach the spawn). */
static int run(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int run(const char *fmt, ...)
{
	char cmd[8192];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	__atomic_add_fetch(&n_system, 1, __ATOMIC_RELAXED);
	fflush(stdout);
	errno = 0;
	return system(cmd);
}

static FILE *open_cmd(const char *cmd, const char *mode)
{
	__atomic_add_fetch(&n_popen, 1, __ATOMIC_RELAXED);
	fflush(stdout);
	return popen(cmd, mode);
}

/*
 * The Sig lines of thread TID of this process, as "while read" in sh writes
 * them to OUT: what the caller of system looks like while it waits.  The
 * shell first waits until the thread is in wait4 (61) or waitid (247): until
 * then it may still be in the spawn, with every signal blocked.
 */
static const char *peek(char *buf, size_t len, pid_t tid, const char *out)
{
	snprintf(buf, len,
		 "i=0; until read n rest < /proc/%d/task/%d/syscall && [ \"$n\" = 61 -o \"$n\" = 247 ] || "
		 "[ $i = 1000000 ]; do i=$((i+1)); done; "
		 "while read k v; do case $k in SigBlk:|SigIgn:|SigCgt:) echo \"$k $v\";; esac; "
		 "done < /proc/%d/task/%d/status > %s/%s", getpid(), tid, getpid(), tid, dir, out);
	return buf;
}

static void show_file(const char *name)
{
	char path[4096], line[1024];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "re");
	if (!f) {
		printf("  (no %s)\n", name);
		return;
	}
	while (fgets(line, sizeof(line), f))
		printf("  %s", line);
	fclose(f);
}

/* ---- the fds a child holds, named ------------------------------------------ */

/* The caller's fds the reports name, with the inode of their pipe (kept:
 * a child may report after the stream is closed). */
struct known {
	int fd;
	ino_t pipe;
	const char *name;
};

static struct known known[16];
static int n_known;

static void know(int fd, const char *name)
{
	struct stat st;

	known[n_known++] = (struct known){ fd, fstat(fd, &st) == 0 && S_ISFIFO(st.st_mode) ? st.st_ino : 0, name };
}

/* FD is about to close: its number may be reused; its pipe keeps its name. */
static void forget(int fd)
{
	for (int i = 0; i < n_known; i++)
		if (known[i].fd == fd)
			known[i].fd = -1;
}

/* "pipe:[INODE]" of a known fd's pipe, as the child's /proc shows it. */
static const char *pipe_name(const char *target)
{
	unsigned long ino = strtoul(target + 6, NULL, 10);

	for (int i = 0; i < n_known; i++)
		if (known[i].pipe && known[i].pipe == ino)
			return known[i].name;
	return NULL;
}

/* 1 if this process's FD is TARGET. */
static int same_file(int fd, const char *target)
{
	char link[64], buf[4096];
	ssize_t n;

	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	n = readlink(link, buf, sizeof(buf) - 1);
	buf[n > 0 ? n : 0] = 0;
	return n > 0 && !strcmp(buf, target);
}

/* helper-state's report, the lines about fds and signals, fds named. */
static void show_state(FILE *f)
{
	char line[1024];

	while (fgets(line, sizeof(line), f)) {
		char *val = strchr(line, '='), *end, *flags;
		const char *name = NULL;
		int fd;

		line[strcspn(line, "\n")] = 0;
		if (!val)
			continue;
		if (!strncmp(line, "SigBlk=", 7) || !strncmp(line, "SigIgn=", 7) || !strncmp(line, "SigCgt=", 7) ||
		    !strncmp(line, "ignored.", 8)) {
			printf("  %s\n", line);
			continue;
		}
		if (strncmp(line, "fd.", 3))
			continue;
		fd = (int)strtol(line + 3, &end, 10);
		flags = strstr(val, " cloexec=");
		if (flags)
			*flags = 0;
		if (!strncmp(val + 1, "pipe:", 5))
			name = pipe_name(val + 1);
		/* fds past 2 by the parent's name for them: their numbers
		 * depend on what else the caller has open. */
		if (fd <= 2) {
			printf("  fd %d", fd);
		} else {
			int i = 0;

			while (i < n_known && known[i].fd != fd)
				i++;
			printf("  fd %s", i < n_known ? known[i].name : "not ours");
		}
		if (!name && !strncmp(val + 1, "pipe:", 5))
			name = "a pipe not ours";
		if (!name && fd <= 2 && same_file(fd, val + 1))
			name = "the caller's";	/* a file named by the run: stdout... */
		printf(" -> %s\n", name ? name : val + 1);
	}
}

static void state_by_system(const char *what)
{
	char path[4096];
	FILE *f;
	int status;

	snprintf(path, sizeof(path), "%s/state", dir);
	unlink(path);
	status = run("exec %s state %s", state_helper, path);
	printf("%s: status 0x%x\n", what, status);
	f = fopen(path, "re");
	if (f) {
		show_state(f);
		fclose(f);
	}
}

/* ---- the cases --------------------------------------------------------------- */

static void case_statuses(void)
{
	int status;

	printf("== statuses\n");
	__atomic_add_fetch(&n_system, 1, __ATOMIC_RELAXED);
	printf("system(NULL) = %d\n", system(NULL));
	printf("exit 0: 0x%x\n", run("exit 0"));
	printf("exit 3: 0x%x\n", run("exit 3"));
	printf("exit 255: 0x%x\n", run("exit 255"));
	printf("killed by TERM: 0x%x\n", run("kill -TERM $$"));
	printf("no such command: 0x%x\n", run("no-such-command-anywhere 2> /dev/null"));
	status = run("exit 300");
	printf("exit 300: exited %d with %d\n", WIFEXITED(status), WEXITSTATUS(status));
}

/* The shell's signals: SIGINT and SIGQUIT back to the caller's unless
 * ignored, handlers reset, the caller's mask without SIGCHLD. */
static void case_child_signals(void)
{
	struct sigaction h = { .sa_handler = count };
	sigset_t term;

	printf("== the shell's signals and mask\n");
	sigaction(SIGINT, &h, NULL);
	sigaction(SIGUSR2, &h, NULL);
	sigaction(SIGCHLD, &h, NULL);
	signal(SIGUSR1, SIG_IGN);
	sigemptyset(&term);
	sigaddset(&term, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &term, NULL);
	caught[SIGCHLD] = 0;
	state_by_system("INT handled, QUIT default, USR1 ignored, TERM blocked");
	printf("SIGCHLD caught after the call: %d\n", caught[SIGCHLD]);
	show_signals("caller after");
	signal(SIGINT, SIG_IGN);
	sigaction(SIGQUIT, &h, NULL);
	state_by_system("INT ignored, QUIT handled");
	show_signals("caller after");
	signal(SIGINT, SIG_DFL);
	signal(SIGQUIT, SIG_DFL);
	signal(SIGUSR1, SIG_DFL);
	signal(SIGUSR2, SIG_DFL);
	pthread_sigmask(SIG_UNBLOCK, &term, NULL);
}

/* The caller while system waits: INT and QUIT ignored (sent, they are
 * lost), CHLD blocked; after, as before, and the CHLD delivered. */
static void case_caller_signals(void)
{
	struct sigaction h = { .sa_handler = count };
	char cmd[2048];
	int status;

	printf("== the caller during system\n");
	sigaction(SIGINT, &h, NULL);
	sigaction(SIGQUIT, &h, NULL);
	sigaction(SIGCHLD, &h, NULL);
	caught[SIGINT] = caught[SIGQUIT] = caught[SIGCHLD] = 0;
	peek(cmd, sizeof(cmd), (pid_t)syscall(SYS_gettid), "peek");
	status = run("%s; kill -INT %d; kill -QUIT %d", cmd, getpid(), getpid());
	printf("status 0x%x\n", status);
	show_file("peek");
	printf("caught after: INT %d QUIT %d CHLD %d\n", caught[SIGINT], caught[SIGQUIT], caught[SIGCHLD]);
	show_signals("caller after");
	signal(SIGINT, SIG_DFL);
	signal(SIGQUIT, SIG_DFL);
}

struct sys_thread {
	pthread_t t;
	const char *peek_to, *tail;	/* the command: a peek at this thread, then TAIL */
	int rounds, status, err, wrong;
	sigset_t mask_after;
	const char *int_after, *quit_after;
};

static void *system_thread(void *arg)
{
	struct sys_thread *st = arg;
	char cmd[2048];

	if (st->peek_to)
		peek(cmd, sizeof(cmd), (pid_t)syscall(SYS_gettid), st->peek_to);
	else
		snprintf(cmd, sizeof(cmd), "true");
	for (int i = 0; i < (st->rounds ? st->rounds : 1); i++) {
		st->status = run("%s; %s", cmd, st->tail);
		st->err = errno;
		if (st->rounds && st->status != 0)
			st->wrong++;
	}
	pthread_sigmask(SIG_BLOCK, NULL, &st->mask_after);
	st->int_after = disposition(SIGINT);
	st->quit_after = disposition(SIGQUIT);
	return NULL;
}

static void show_thread(const char *who, const struct sys_thread *st)
{
	printf("%s: status 0x%x, after: SIGCHLD blocked %d, INT %s, QUIT %s\n", who, st->status,
	       sigismember(&st->mask_after, SIGCHLD), st->int_after, st->quit_after);
}

static int fifo(char *buf, size_t len, const char *name)
{
	snprintf(buf, len, "%s/%s", dir, name);
	unlink(buf);
	return mkfifo(buf, 0600);
}

/* Reads a line from the fifo PATH: blocks until a shell writes it. */
static long fifo_read(const char *path)
{
	char buf[64] = "";
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n = fd >= 0 ? read(fd, buf, sizeof(buf) - 1) : -1;

	if (fd >= 0)
		close(fd);
	buf[n > 0 ? n : 0] = 0;
	return atol(buf);
}

static void fifo_write(const char *path)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);

	if (fd >= 0 && write(fd, "go\n", 3) != 3)
		printf("fifo write: %s\n", strerror(errno));
	if (fd >= 0)
		close(fd);
}

/*
 * Threads in system at once.  A waits for a go from here; B runs and returns
 * while A still waits: B's SIGCHLD is unblocked again at once (glibc's fix
 * for BZ #30163), SIGINT and SIGQUIT stay ignored while A is in; when A
 * returns they are restored.  Then four threads, four calls each, at once.
 */
static void case_threads(void)
{
	struct sys_thread a = { .peek_to = "peek-a" }, b = { .peek_to = "peek-b", .tail = "exit 4" };
	struct sys_thread many[4];
	char ready[1024], go[1024], tail[4096];
	int wrong = 0;

	printf("== threads in system at once\n");
	signal(SIGINT, SIG_IGN);	/* the shell must keep it ignored */
	signal(SIGQUIT, count);
	if (fifo(ready, sizeof(ready), "ready") < 0 || fifo(go, sizeof(go), "go") < 0) {
		printf("mkfifo: %s\n", strerror(errno));
		return;
	}
	snprintf(tail, sizeof(tail), "echo a > %s; read x < %s; exit 5", ready, go);
	a.tail = tail;
	pthread_create(&a.t, NULL, system_thread, &a);
	fifo_read(ready);
	pthread_create(&b.t, NULL, system_thread, &b);
	pthread_join(b.t, NULL);
	show_thread("B, returned while A waits", &b);
	show_file("peek-b");
	show_signals("main while A waits");
	fifo_write(go);
	pthread_join(a.t, NULL);
	show_thread("A", &a);
	show_file("peek-a");
	show_signals("main after");

	for (int i = 0; i < 4; i++) {
		many[i] = (struct sys_thread){ .rounds = 4, .tail = "exit 0" };
		pthread_create(&many[i].t, NULL, system_thread, &many[i]);
	}
	for (int i = 0; i < 4; i++) {
		pthread_join(many[i].t, NULL);
		wrong += many[i].wrong;
	}
	printf("4 threads, 4 calls each: %d wrong statuses\n", wrong);
	show_signals("main after");
	signal(SIGINT, SIG_DFL);
	signal(SIGQUIT, SIG_DFL);
}

/* Cancelled in its wait: the shell is killed and reaped, the dispositions
 * restored, the next call as any. */
static void case_cancel(void)
{
	struct sys_thread c = { 0 };
	char ready[1024], go[1024], tail[4096];
	void *res = NULL;
	long pid;

	printf("== a thread cancelled in system\n");
	signal(SIGINT, count);
	if (fifo(ready, sizeof(ready), "ready") < 0) {
		printf("mkfifo: %s\n", strerror(errno));
		return;
	}
	/* Killed, the shell never gets to write "survived"; its sleeping child
	 * dies with it (PR_SET_PDEATHSIG). */
	snprintf(tail, sizeof(tail), "echo $$ > %s; %s sleep 30; echo > %s/survived", ready, state_helper, dir);
	c.tail = tail;
	pthread_create(&c.t, NULL, system_thread, &c);
	pid = fifo_read(ready);
	pthread_cancel(c.t);
	pthread_join(c.t, &res);
	snprintf(go, sizeof(go), "%s/survived", dir);
	printf("cancelled %d, shell reaped %d, killed %d\n", res == PTHREAD_CANCELED,
	       pid > 0 && kill((pid_t)pid, 0) < 0 && errno == ESRCH, access(go, F_OK) < 0);
	show_signals("main after");
	printf("then exit 2: 0x%x\n", run("exit 2"));
	show_signals("main after");
	signal(SIGINT, SIG_DFL);
}

/* SIGCHLD ignored: the children reap themselves, the waits fail. */
static void case_chld_ignored(void)
{
	FILE *f;
	int ret;

	printf("== SIGCHLD ignored\n");
	signal(SIGCHLD, SIG_IGN);
	ret = run("exit 3");
	printf("system: %d %s\n", ret, ret == -1 ? strerror(errno) : "");
	f = open_cmd("exit 2", "r");
	errno = 0;
	ret = f ? pclose(f) : -2;
	printf("pclose: %d %s\n", ret, ret == -1 ? strerror(errno) : "");
	signal(SIGCHLD, SIG_DFL);
}

static int (*volatile close_any)(FILE *) = pclose;

static void case_popen_modes(void)
{
	static const char *const modes[] = { "r", "re", "er", "rr", "w", "we", "", "rw", "wr", "rb", "r+", "x" };
	char line[256] = "";
	FILE *f;

	printf("== popen's modes\n");
	for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
		int cloexec, ok_mode = !strchr(modes[i], 'b') && !strchr(modes[i], '+') && !strchr(modes[i], 'x') &&
			      (!!strchr(modes[i], 'r') ^ !!strchr(modes[i], 'w'));

		if (ok_mode)
			__atomic_add_fetch(&n_popen, 1, __ATOMIC_RELAXED);
		errno = 0;
		f = popen("exit 1", modes[i]);
		if (!f) {
			printf("\"%s\": NULL, %s\n", modes[i], strerror(errno));
			continue;
		}
		cloexec = (fcntl(fileno(f), F_GETFD) & FD_CLOEXEC) != 0;
		printf("\"%s\": close-on-exec %d, pclose 0x%x\n", modes[i], cloexec, pclose(f));
	}
	f = open_cmd("echo hello; exit 7", "r");
	if (f && fgets(line, sizeof(line), f))
		printf("read: %s", line);
	printf("pclose: 0x%x\n", f ? pclose(f) : -2);
	f = open_cmd("read x; exit ${#x}", "w");
	if (f)
		fputs("abcd\n", f);
	printf("wrote abcd, pclose: 0x%x\n", f ? pclose(f) : -2);
	f = open_cmd("no-such-command-anywhere 2> /dev/null", "r");
	printf("no such command, pclose: 0x%x\n", f ? pclose(f) : -2);
	f = open_cmd("exit 5", "r");
	printf("fclose of a popen stream: 0x%x\n", f ? fclose(f) : -2);
	/* Its fd closed behind its back: the close fails, the child is left. */
	f = open_cmd("echo $$; exit 6", "r");
	if (f && fgets(line, sizeof(line), f)) {
		pid_t pid = atoi(line);
		int status = -1, ret;

		close(fileno(f));
		errno = 0;
		ret = pclose(f);
		printf("pclose with its fd closed: %d %s, ", ret, strerror(errno));
		ret = waitpid(pid, &status, 0) == pid;
		printf("its child left: %d, status 0x%x\n", ret, status);
	}
	/* Through a pointer: the compiler rightly calls this a mismatch, and
	 * glibc answers it as fclose. */
	f = fopen("/dev/null", "r");
	printf("pclose of a stream popen did not make: %d\n", f ? close_any(f) : -2);
	printf("zombies left %d\n", has_zombie());
}

/* pclose of a write stream whose reader is gone: the flush fails (EPIPE,
 * SIGPIPE ignored) and the child's status is 0: pclose says -1. */
static void case_pclose_epipe(void)
{
	char ready[1024], cmd[2048];
	FILE *f;
	int ret;

	printf("== pclose whose flush fails\n");
	if (fifo(ready, sizeof(ready), "ready") < 0)
		return;
	signal(SIGPIPE, SIG_IGN);
	snprintf(cmd, sizeof(cmd), "exec 0<&-; echo > %s", ready);
	f = open_cmd(cmd, "w");
	if (!f)
		return;
	fputs("data", f);
	fifo_read(ready);
	errno = 0;
	ret = pclose(f);
	printf("pclose: %d %s\n", ret, ret == -1 ? strerror(errno) : "");
	signal(SIGPIPE, SIG_DFL);
}

/* The fds each popen child holds: its own pipe, the caller's fds that are
 * not close-on-exec, never the streams of earlier popen calls. */
static void case_popen_fds(void)
{
	int fds = fd_count(), plain = open("/dev/null", O_RDONLY), saved = fcntl(0, F_DUPFD_CLOEXEC, 20);
	char cmd[4096];
	FILE *w1, *r1, *f;

	printf("== the fds of popen children\n");
	know(plain, "a plain fd");
	snprintf(cmd, sizeof(cmd), "exec %s state /dev/stdout", state_helper);
	w1 = open_cmd("read x", "w");
	r1 = open_cmd("exit 0", "r");
	if (!w1 || !r1)
		return;
	know(fileno(w1), "stream w1");
	know(fileno(r1), "stream r1");
	f = open_cmd(cmd, "r");
	if (f) {
		know(fileno(f), "its own stream");
		printf("a child while w1 and r1 are open:\n");
		show_state(f);
		forget(fileno(f));
		printf("pclose: 0x%x\n", pclose(f));
	}
	fputs("x\n", w1);
	forget(fileno(w1));
	printf("pclose w1: 0x%x\n", pclose(w1));
	forget(fileno(r1));
	printf("pclose r1: 0x%x\n", pclose(r1));

	/* stdin closed: a read stream takes fd 0; a later write stream's
	 * child gets its pipe on fd 0 by dup2, and fd 0 is not closed after. */
	close(0);
	r1 = open_cmd("exit 0", "r");
	printf("r1 on fd 0: %d\n", r1 && fileno(r1) == 0);
	snprintf(cmd, sizeof(cmd), "exec %s state %s/state", state_helper, dir);
	w1 = open_cmd(cmd, "w");
	if (r1 && w1) {
		char path[4096];

		know(fileno(w1), "stream w1");
		forget(fileno(w1));
		printf("pclose w1: 0x%x\n", pclose(w1));
		snprintf(path, sizeof(path), "%s/state", dir);
		f = fopen(path, "re");
		if (f) {
			/* fd 0 is w1's pipe: named by its inode, w1 is gone */
			printf("its fds:\n");
			show_state(f);
			fclose(f);
		}
	}
	if (r1)
		printf("pclose r1: 0x%x\n", pclose(r1));

	/* stdin closed: a write stream's pipe has its child's end on fd 0
	 * already; it is moved, and the child gets it on 0 all the same. */
	w1 = open_cmd("read x; exit ${#x}", "w");
	if (w1) {
		fputs("abc\n", w1);
		printf("write stream with fd 0 free: pclose 0x%x\n", pclose(w1));
	}
	dup2(saved, 0);
	close(saved);
	forget(plain);
	close(plain);
	printf("fds left as before: %d\n", fd_count() == fds);
}

/* Threads opening streams at once, half of them close-on-exec: no child
 * ever holds another's stream. */
struct popen_thread {
	pthread_t t;
	const char *mode;
	char fds[2048];
	ino_t own;
	int status;
};

static pthread_barrier_t barrier;
static ino_t inodes[8];

static void *popen_thread(void *arg)
{
	struct popen_thread *pt = arg;
	char cmd[4096], line[1024];
	struct stat st;
	FILE *f;
	size_t off = 0;

	snprintf(cmd, sizeof(cmd), "exec %s state /dev/stdout", state_helper);
	f = open_cmd(cmd, pt->mode);
	if (f && fstat(fileno(f), &st) == 0)
		pt->own = st.st_ino;
	/* Every stream open before any is read or closed. */
	pthread_barrier_wait(&barrier);
	while (f && fgets(line, sizeof(line), f))
		if (!strncmp(line, "fd.", 3) && off < sizeof(pt->fds))
			off += snprintf(pt->fds + off, sizeof(pt->fds) - off, "%s", line);
	pthread_barrier_wait(&barrier);
	pt->status = f ? pclose(f) : -2;
	return NULL;
}

static void case_popen_threads(void)
{
	struct popen_thread pts[8];

	printf("== threads in popen at once\n");
	pthread_barrier_init(&barrier, NULL, 8);
	for (int i = 0; i < 8; i++) {
		pts[i] = (struct popen_thread){ .mode = i % 2 ? "re" : "r" };
		pthread_create(&pts[i].t, NULL, popen_thread, &pts[i]);
	}
	for (int i = 0; i < 8; i++) {
		pthread_join(pts[i].t, NULL);
		inodes[i] = pts[i].own;
	}
	for (int i = 0; i < 8; i++) {
		int own = 0, others = 0, plain = 0;

		for (char *l = pts[i].fds; (l = strstr(l, "fd.")); l++) {
			unsigned long ino = 0;
			char *p = strstr(l, "pipe:[");

			if (!p || p > strchr(l, '\n')) {
				plain++;
				continue;
			}
			ino = strtoul(p + 6, NULL, 10);
			for (int k = 0; k < 8; k++)
				if (inodes[k] == ino)
					*(k == i ? &own : &others) += 1;
		}
		printf("thread %d (\"%s\"): status 0x%x, fds: own pipe %d, other streams %d, others %d\n", i,
		       pts[i].mode, pts[i].status, own, others, plain);
	}
	pthread_barrier_destroy(&barrier);
}

static int report(void)
{
	case_statuses();
	case_child_signals();
	case_caller_signals();
	case_threads();
	case_cancel();
	case_chld_ignored();
	case_popen_modes();
	case_pclose_epipe();
	case_popen_fds();
	case_popen_threads();
	printf("== end: zombies %d\n", has_zombie());
	printf("calls that spawn: system %d popen %d\n", n_system, n_popen);
	return 0;
}

static int noshell(void)
{
	FILE *f;
	int ret;

	errno = 0;
	ret = system("exit 0");
	printf("system: 0x%x %s\n", ret, strerror(errno));
	printf("system(NULL): %d\n", system(NULL));
	errno = 0;
	f = popen("exit 0", "r");
	printf("popen: %s %s\n", f ? "a stream" : "NULL", strerror(errno));
	if (f)
		pclose(f);
	printf("zombies left %d\n", has_zombie());
	return 0;
}

/* ---- bench ------------------------------------------------------------------- */

typedef int system_fn(const char *);
typedef FILE *popen_fn(const char *, const char *);
typedef int pclose_fn(FILE *);

/* One call: system(":"), or popen(":", "r") and pclose; its time in us. */
static double one(system_fn *sys, popen_fn *op, pclose_fn *cl)
{
	double t0 = now_us();
	FILE *f;

	if (sys)
		return sys(":") == 0 ? now_us() - t0 : -1;
	f = op(":", "r");
	return f && cl(f) == 0 ? now_us() - t0 : -1;
}

/* N calls each of system(":") and popen(":", "r") + pclose, glibc's own
 * (found in libc.so.6 by version) and the ones the names bind to (the
 * shim's under LD_PRELOAD), interleaved so that the machine's load touches
 * all alike: the whole call, shell included, min and median in us. */
static int bench(int n)
{
	void *libc = dlopen("libc.so.6", RTLD_NOW | RTLD_NOLOAD);
	const char *by_name = getenv("LD_PRELOAD") ? "the shim's" : "by name (glibc's)";
	struct {
		const char *what, *whose;
		system_fn *sys;
		popen_fn *op;
		pclose_fn *cl;
		double *t;
	} m[4] = {
		{ "system", "glibc's", libc ? (system_fn *)dlvsym(libc, "system", "GLIBC_2.2.5") : NULL, NULL, NULL, NULL },
		{ "system", by_name, system, NULL, NULL, NULL },
		{ "popen + pclose", "glibc's", NULL, libc ? (popen_fn *)dlvsym(libc, "popen", "GLIBC_2.2.5") : NULL,
		  libc ? (pclose_fn *)dlvsym(libc, "pclose", "GLIBC_2.2.5") : NULL, NULL },
		{ "popen + pclose", by_name, NULL, popen, pclose, NULL },
	};

	if (n < 1 || !m[0].sys || !m[2].op || !m[2].cl)
		return 1;
	for (int k = 0; k < 4; k++)
		if (!(m[k].t = calloc(n, sizeof(double))))
			return 1;
	for (int i = 0; i < n; i++)
		for (int k = 0; k < 4; k++)
			if ((m[k].t[i] = one(m[k].sys, m[k].op, m[k].cl)) < 0)
				return 1;
	printf("%d calls each of system(\":\") and popen(\":\", \"r\") + pclose, us\n", n);
	for (int k = 0; k < 4; k++) {
		qsort(m[k].t, n, sizeof(double), cmp_double);
		printf("%-16s %-18s min %8.1f  median %8.1f\n", m[k].what, m[k].whose, m[k].t[0], m[k].t[n / 2]);
	}
	return 0;
}

int main(int argc, char **argv)
{
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	state_helper = helper_path();
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc >= 3 && !strcmp(argv[1], "report")) {
		dir = argv[2];
		return report();
	}
	if (argc >= 2 && !strcmp(argv[1], "noshell"))
		return noshell();
	if (argc >= 3 && !strcmp(argv[1], "bench"))
		return bench(atoi(argv[2]));
	fprintf(stderr, "usage: helper-shell report DIR | noshell | bench N\n");
	return 2;
}
