/* SPDX-License-Identifier: MIT */
/*
 * Scenarios for the posix_spawn differential tests: each is a set of file
 * actions and attributes, a program and a PATH, run through an implementation
 * of <spawn.h> (glibc's own, forkless's fl_ one, or the preload shim's) and
 * reduced to a report: the return value, errno after a failure, whether *pid
 * was left alone, the child's exit status, everything the child saw of itself
 * (tests/helper-state, with its pid written as PID), and the files the
 * actions left behind.  Two implementations agree when the reports are equal.
 * Used by t-compat-diff.c (glibc against fl_, in one process, each engine)
 * and helper-compat.c (run with and without the shim by t-preload-diff.sh).
 */
#ifndef FL_COMPAT_SCENARIOS_H
#define FL_COMPAT_SCENARIOS_H

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

/* ---- one implementation of <spawn.h> -------------------------------------- */

typedef int api_spawn_fn(pid_t *, const char *, const posix_spawn_file_actions_t *,
			 const posix_spawnattr_t *, char *const[], char *const[]);

struct spawn_api {
	const char *name;
	int (*fa_init)(posix_spawn_file_actions_t *);
	int (*fa_destroy)(posix_spawn_file_actions_t *);
	int (*addopen)(posix_spawn_file_actions_t *, int, const char *, int, mode_t);
	int (*addclose)(posix_spawn_file_actions_t *, int);
	int (*adddup2)(posix_spawn_file_actions_t *, int, int);
	int (*addchdir)(posix_spawn_file_actions_t *, const char *);
	int (*addfchdir)(posix_spawn_file_actions_t *, int);
	int (*addclosefrom)(posix_spawn_file_actions_t *, int);
	int (*addtcsetpgrp)(posix_spawn_file_actions_t *, int);
	int (*attr_init)(posix_spawnattr_t *);
	int (*attr_destroy)(posix_spawnattr_t *);
	int (*setflags)(posix_spawnattr_t *, short);
	int (*setpgroup)(posix_spawnattr_t *, pid_t);
	int (*setsigmask)(posix_spawnattr_t *, const sigset_t *);
	int (*setsigdefault)(posix_spawnattr_t *, const sigset_t *);
	int (*setschedparam)(posix_spawnattr_t *, const struct sched_param *);
	int (*setschedpolicy)(posix_spawnattr_t *, int);
	int (*setengine)(posix_spawnattr_t *, int);	/* forkless's only */
	api_spawn_fn *spawn, *spawnp;
};

/* The names as the program sees them: glibc's, or the shim's under LD_PRELOAD. */
static const struct spawn_api libc_api = {
	"libc",
	posix_spawn_file_actions_init, posix_spawn_file_actions_destroy,
	posix_spawn_file_actions_addopen, posix_spawn_file_actions_addclose,
	posix_spawn_file_actions_adddup2, posix_spawn_file_actions_addchdir_np,
	posix_spawn_file_actions_addfchdir_np, posix_spawn_file_actions_addclosefrom_np,
	posix_spawn_file_actions_addtcsetpgrp_np,
	posix_spawnattr_init, posix_spawnattr_destroy, posix_spawnattr_setflags,
	posix_spawnattr_setpgroup, posix_spawnattr_setsigmask, posix_spawnattr_setsigdefault,
	posix_spawnattr_setschedparam, posix_spawnattr_setschedpolicy, NULL,
	posix_spawn, posix_spawnp,
};

/* ---- the scenarios ---------------------------------------------------------- */

enum { A_END, A_OPEN, A_CLOSE, A_DUP2, A_CHDIR, A_FCHDIR, A_CLOSEFROM, A_TCSETPGRP };

struct fa_step {
	int op;
	int fd, fd2;		/* fd2: dup2's newfd */
	const char *path;	/* "@PTY": the test's pseudo-terminal */
	int oflag;
	mode_t mode;
};

/* Fds the runner keeps open in the parent for the scenarios to use. */
#define FD_DATA		7	/* "data", not close-on-exec */
#define FD_DATA_CLOEXEC	8	/* "data", close-on-exec */
#define FD_SUBDIR	9	/* the directory "sub", close-on-exec */
#define FD_FREE		3	/* the lowest fd that is not open */

/* One step each, written out in full: clang wants every field named. */
#define S_OPEN(f, p, o, m) { .op = A_OPEN, .fd = (f), .fd2 = 0, .path = (p), .oflag = (o), .mode = (m) }
#define S_STEP(o, f, f2, p) { .op = (o), .fd = (f), .fd2 = (f2), .path = (p), .oflag = 0, .mode = 0 }
#define S_CLOSE(f) S_STEP(A_CLOSE, f, 0, NULL)
#define S_DUP2(f, newfd) S_STEP(A_DUP2, f, newfd, NULL)
#define S_CHDIR(p) S_STEP(A_CHDIR, 0, 0, p)
#define S_FCHDIR(f) S_STEP(A_FCHDIR, f, 0, NULL)
#define S_CLOSEFROM(f) S_STEP(A_CLOSEFROM, f, 0, NULL)
#define S_TCSETPGRP(f) S_STEP(A_TCSETPGRP, f, 0, NULL)

struct scenario {
	const char *name;
	bool p;			/* posix_spawnp */
	const char *prog;	/* NULL: the state helper by its path; a name for spawnp */
	const char *path_env;	/* PATH for the call, "@" standing for the fixture directory */
	bool unset_path;	/* PATH unset for the call */
	bool no_fa, no_attr;	/* pass NULL */
	struct fa_step fa[8];
	short flags;
	pid_t pgrp;		/* -2: the test's own group */
	int sigdef[6], sigmask[6];	/* signal lists, 0-terminated; 32 and 33 set raw */
	bool mask_all;		/* the mask is every bit, internal signals too */
	int policy, prio;
	int nofile;		/* RLIMIT_NOFILE lowered to this around the call */
	bool other_euid;	/* euid and egid 1000 around the call (root only) */
};

#define W_PATH "@/p1:@/p2:@/p3:@/p4:@/p5"

static const struct scenario scenarios[] = {
	/* ---- nothing but the program ---- */
	{ .name = "plain, NULL actions and attributes", .no_fa = true, .no_attr = true },
	{ .name = "empty actions and attributes" },
	{ .name = "missing program", .prog = "/nonexistent/prog" },
	{ .name = "directory as program", .prog = "sub" },
	{ .name = "file without exec permission", .prog = "noexec" },
	{ .name = "ENOEXEC: no /bin/sh retry", .prog = "garbage" },
	{ .name = "script whose interpreter is missing", .prog = "badinterp" },
	{ .name = "script", .prog = "script" },
	{ .name = "empty path", .prog = "" },
	{ .name = "path of PATH_MAX bytes", .prog = "@LONG" },
	{ .name = "relative path", .prog = "p5/prog-late" },
	{ .name = "relative path after chdir", .prog = "./subprog", .fa = { S_CHDIR("sub") } },
	/* ---- file actions ---- */
	{ .name = "open creates at a free fd", .fa = { S_OPEN(5, "new", O_WRONLY | O_CREAT | O_TRUNC, 0666) } },
	{ .name = "open O_CLOEXEC lands on the lowest fd: closed at exec",
	  .fa = { S_OPEN(FD_FREE, "data", O_RDONLY | O_CLOEXEC, 0) } },
	{ .name = "open O_CLOEXEC moved to its fd: kept",
	  .fa = { S_OPEN(20, "data", O_RDONLY | O_CLOEXEC, 0) } },
	{ .name = "open over an open fd", .fa = { S_OPEN(1, "new", O_WRONLY | O_CREAT | O_APPEND, 0600) } },
	{ .name = "open over stdin, O_RDWR", .fa = { S_OPEN(0, "data", O_RDWR, 0) } },
	{ .name = "open missing file", .fa = { S_OPEN(5, "missing", O_RDONLY, 0) } },
	{ .name = "open in a missing directory", .fa = { S_OPEN(5, "nodir/new", O_WRONLY | O_CREAT, 0644) } },
	{ .name = "open of a directory for writing", .fa = { S_OPEN(5, "sub", O_WRONLY, 0) } },
	{ .name = "close an open fd", .fa = { S_CLOSE(FD_DATA) } },
	{ .name = "close a fd that is not open: no error", .fa = { S_CLOSE(30) } },
	{ .name = "close beyond a lowered RLIMIT_NOFILE: EBADF", .fa = { S_CLOSE(100) }, .nofile = 50 },
	{ .name = "dup2", .fa = { S_DUP2(FD_DATA, 12) } },
	{ .name = "dup2 of a close-on-exec fd", .fa = { S_DUP2(FD_DATA_CLOEXEC, 12) } },
	{ .name = "dup2 onto itself clears close-on-exec", .fa = { S_DUP2(FD_DATA_CLOEXEC, FD_DATA_CLOEXEC) } },
	{ .name = "dup2 onto itself of a fd that is not open", .fa = { S_DUP2(31, 31) } },
	{ .name = "dup2 from a fd that is not open", .fa = { S_DUP2(31, 5) } },
	{ .name = "chdir", .fa = { S_CHDIR("sub") } },
	{ .name = "chdir to a missing directory", .fa = { S_CHDIR("missing") } },
	{ .name = "chdir to a file", .fa = { S_CHDIR("data") } },
	{ .name = "chdir then open relative", .fa = { S_CHDIR("sub"),
					      S_OPEN(5, "new", O_WRONLY | O_CREAT, 0644) } },
	{ .name = "fchdir", .fa = { S_FCHDIR(FD_SUBDIR) } },
	{ .name = "fchdir of -1 (accepted when added)", .fa = { S_FCHDIR(-1) } },
	{ .name = "fchdir of a file", .fa = { S_FCHDIR(FD_DATA) } },
	{ .name = "closefrom 3", .fa = { S_CLOSEFROM(3) } },
	{ .name = "closefrom then dup2", .fa = { S_CLOSEFROM(3), S_DUP2(1, 6) } },
	{ .name = "dup2 then closefrom above it", .fa = { S_DUP2(FD_DATA, 4), S_CLOSEFROM(5) } },
	{ .name = "tcsetpgrp of a fd that is no terminal", .fa = { S_TCSETPGRP(FD_DATA) } },
	{ .name = "setsid, open a terminal, tcsetpgrp", .flags = POSIX_SPAWN_SETSID,
	  .fa = { S_OPEN(0, "@PTY", O_RDWR, 0), S_TCSETPGRP(0) } },
	{ .name = "a failing step stops the others",
	  .fa = { S_OPEN(5, "new", O_WRONLY | O_CREAT, 0644), S_CHDIR("missing"),
		  S_OPEN(6, "new2", O_WRONLY | O_CREAT, 0644) } },
	{ .name = "the actions run before a failing exec", .prog = "/nonexistent/prog",
	  .fa = { S_OPEN(5, "out", O_WRONLY | O_TRUNC, 0) } },
	/* ---- attributes ---- */
	{ .name = "setsigdef", .flags = POSIX_SPAWN_SETSIGDEF, .sigdef = { SIGUSR1, SIGUSR2, SIGINT } },
	{ .name = "setsigdef of glibc's internal signal 32", .flags = POSIX_SPAWN_SETSIGDEF, .sigdef = { 32 } },
	{ .name = "setsigmask", .flags = POSIX_SPAWN_SETSIGMASK, .sigmask = { SIGINT, SIGQUIT } },
	{ .name = "setsigmask, every bit", .flags = POSIX_SPAWN_SETSIGMASK, .mask_all = true },
	{ .name = "setsigmask empty", .flags = POSIX_SPAWN_SETSIGMASK },
	{ .name = "setpgroup 0", .flags = POSIX_SPAWN_SETPGROUP },
	{ .name = "setpgroup to the parent's group", .flags = POSIX_SPAWN_SETPGROUP, .pgrp = -2 },
	{ .name = "setpgroup to a group of another session", .flags = POSIX_SPAWN_SETPGROUP, .pgrp = 1 },
	{ .name = "setpgroup -1", .flags = POSIX_SPAWN_SETPGROUP, .pgrp = -1 },
	{ .name = "setsid", .flags = POSIX_SPAWN_SETSID },
	{ .name = "setsid and setpgroup 0", .flags = POSIX_SPAWN_SETSID | POSIX_SPAWN_SETPGROUP },
	{ .name = "resetids", .flags = POSIX_SPAWN_RESETIDS },
	{ .name = "resetids with other effective ids", .flags = POSIX_SPAWN_RESETIDS, .other_euid = true },
	{ .name = "other effective ids, no resetids", .other_euid = true },
	{ .name = "setschedparam, priority 0", .flags = POSIX_SPAWN_SETSCHEDPARAM },
	{ .name = "setschedparam, priority 5 under SCHED_OTHER", .flags = POSIX_SPAWN_SETSCHEDPARAM, .prio = 5 },
	{ .name = "setscheduler SCHED_FIFO 1", .flags = POSIX_SPAWN_SETSCHEDULER, .policy = SCHED_FIFO, .prio = 1 },
	{ .name = "setscheduler SCHED_RR 2 with setschedparam",
	  .flags = POSIX_SPAWN_SETSCHEDULER | POSIX_SPAWN_SETSCHEDPARAM, .policy = SCHED_RR, .prio = 2 },
	{ .name = "setscheduler SCHED_OTHER 0", .flags = POSIX_SPAWN_SETSCHEDULER },
	{ .name = "usevfork", .flags = POSIX_SPAWN_USEVFORK },
	{ .name = "attribute failure before the actions", .flags = POSIX_SPAWN_SETPGROUP, .pgrp = 1,
	  .fa = { S_OPEN(5, "new", O_WRONLY | O_CREAT, 0644) } },
	{ .name = "ninja's spawn", .flags = POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETPGROUP |
				     POSIX_SPAWN_USEVFORK,
	  .sigdef = { SIGINT, SIGHUP }, .sigmask = { SIGTERM },
	  .fa = { S_OPEN(0, "/dev/null", O_RDONLY, 0), S_DUP2(FD_DATA, 1), S_DUP2(FD_DATA, 2),
		  S_CLOSE(FD_DATA) } },
	/* ---- posix_spawnp ---- */
	{ .name = "spawnp found in the last PATH entry", .p = true, .prog = "prog-late", .path_env = W_PATH },
	{ .name = "spawnp: EACCES earlier, found later", .p = true, .prog = "prog-eacces", .path_env = W_PATH },
	{ .name = "spawnp: only without exec permission: EACCES", .p = true, .prog = "prog-noexec-only",
	  .path_env = W_PATH },
	{ .name = "spawnp: ENOEXEC earlier stops the search", .p = true, .prog = "prog-enoexec", .path_env = W_PATH },
	{ .name = "spawnp: missing interpreter earlier, found later", .p = true, .prog = "prog-badinterp",
	  .path_env = W_PATH },
	{ .name = "spawnp: not found", .p = true, .prog = "nothere", .path_env = W_PATH },
	{ .name = "spawnp: not found, last entry a file: ENOTDIR", .p = true, .prog = "nothere",
	  .path_env = "@/p1:@/data" },
	{ .name = "spawnp: not found, first entry a file: ENOENT", .p = true, .prog = "nothere",
	  .path_env = "@/data:@/p1" },
	{ .name = "spawnp: empty entry is the current directory", .p = true, .prog = "cwdprog",
	  .path_env = "@/p1::@/p2" },
	{ .name = "spawnp: relative entry after chdir", .p = true, .prog = "progR", .path_env = "rel:@/p1",
	  .fa = { S_CHDIR("sub") } },
	{ .name = "spawnp: relative entry, fchdir", .p = true, .prog = "progR", .path_env = "rel",
	  .fa = { S_FCHDIR(FD_SUBDIR) } },
	{ .name = "spawnp: relative entries found only in the child's cwd", .p = true, .prog = "progS",
	  .path_env = "only:elsewhere", .fa = { S_CHDIR("sub") } },
	{ .name = "spawnp: relative entry, no chdir", .p = true, .prog = "progR", .path_env = "rel:@/p1" },
	{ .name = "spawnp: PATH unset", .p = true, .prog = "true", .unset_path = true },
	{ .name = "spawnp: empty PATH", .p = true, .prog = "cwdprog", .path_env = "" },
	{ .name = "spawnp: a name with a slash", .p = true, .prog = "p5/prog-late", .path_env = "@/p1" },
	{ .name = "spawnp: empty name", .p = true, .prog = "", .path_env = W_PATH },
	{ .name = "spawnp: name longer than NAME_MAX", .p = true, .prog = "@NAMEMAX", .path_env = W_PATH },
	{ .name = "spawnp: resetids", .p = true, .prog = "prog-late", .path_env = W_PATH,
	  .flags = POSIX_SPAWN_RESETIDS, .other_euid = true },
	{ .name = "spawnp: resetids gives back the ids exec checks", .p = true, .prog = "prog-rootonly",
	  .path_env = W_PATH, .flags = POSIX_SPAWN_RESETIDS, .other_euid = true },
	{ .name = "spawnp: other effective ids skip an entry", .p = true, .prog = "prog-rootonly",
	  .path_env = W_PATH, .other_euid = true },
	{ .name = "spawnp not found: the actions ran", .p = true, .prog = "nothere", .path_env = W_PATH,
	  .fa = { S_OPEN(5, "out", O_WRONLY | O_TRUNC, 0) } },
	{ .name = "spawnp not found: a failing step wins", .p = true, .prog = "nothere", .path_env = W_PATH,
	  .fa = { S_FCHDIR(-1) } },
};

#define N_SCENARIOS (sizeof(scenarios) / sizeof(scenarios[0]))

/* ---- the world the scenarios run in ------------------------------------------ */

static char sc_root[256];	/* a temporary directory: w/ (the fixtures, the cwd) and the state file */
static char sc_dir[300];	/* sc_root/w */
static char sc_state[300];	/* where the helper writes */
static char sc_helper[4096];	/* the state helper */
static char sc_pty[128];	/* the pseudo-terminal's slave */
static char **sc_envp;		/* the children's environment; NULL: environ */

static void sc_write(const char *name, const char *text, mode_t mode)
{
	int fd = open(name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);

	if (fd >= 0) {
		if (write(fd, text, strlen(text)) < 0)
			perror(name);
		close(fd);
	}
	chmod(name, mode);
}

/* Puts back what a scenario may change (the files it creates or truncates). */
static void sc_reset(void)
{
	static const char *const made[] = { "new", "new2", "sub/new", "out" };

	for (size_t i = 0; i < sizeof(made) / sizeof(made[0]); i++)
		unlink(made[i]);
	sc_write("out", "old content\n", 0644);
	/* Empty, and writable by a child under other ids. */
	sc_write(sc_state, "", 0666);
}

/* The parent's handler for SIGUSR2 and SIGHUP, which nothing sends. */
static void sc_handler(int sig)
{
	(void)sig;
	abort();
}

/* Fixtures, fds and signal state; 0, or -1 if the machine cannot have them. */
static int sc_setup(const char *helper)
{
	static const char *const dirs[] = { "sub", "sub/rel", "sub/only", "rel", "elsewhere",
					    "p1", "p2", "p3", "p4", "p5" };
	static const char *const helpers[] = { "sub/subprog", "sub/rel/progR", "sub/only/progS",
					       "p4/prog-badinterp",
					       "p4/prog-eacces", "p4/prog-enoexec", "p5/prog-late", "p5/prog-rootonly",
					       "cwdprog" };
	static const struct { const char *name, *text; mode_t mode; } files[] = {
		{ "data", "hello\n", 0644 },
		{ "noexec", "x\n", 0644 },
		{ "garbage", "\001\002 not a program\n", 0755 },
		{ "badinterp", "#!/nonexistent/interp\n", 0755 },
		{ "script", "#!/bin/sh\nexit 3\n", 0755 },
		{ "p1/prog-enoexec", "\001\002 not a program\n", 0755 },
		{ "p1/prog-badinterp", "#!/nonexistent/interp\n", 0755 },
		{ "p1/prog-eacces", "x\n", 0644 },
		{ "p3/prog-noexec-only", "x\n", 0644 },
		/* Relative PATH entries that mean other files in the parent's cwd. */
		{ "rel/progR", "#!/bin/sh\nexit 5\n", 0755 },
		{ "elsewhere/progS", "#!/bin/sh\nexit 6\n", 0755 },
		/* Runnable by root only: which one runs depends on the ids at exec. */
		{ "p1/prog-rootonly", "#!/bin/sh\nexit 7\n", 0700 },
	};
	struct sigaction sa = { .sa_handler = SIG_IGN };
	sigset_t mask;
	int master;

	snprintf(sc_helper, sizeof(sc_helper), "%s", helper);
	snprintf(sc_root, sizeof(sc_root), "/tmp/fl-compat-XXXXXX");
	if (!mkdtemp(sc_root))
		return -1;
	snprintf(sc_dir, sizeof(sc_dir), "%s/w", sc_root);
	snprintf(sc_state, sizeof(sc_state), "%s/state", sc_root);
	/* Others' children (other_euid) must reach the state file and helper. */
	chmod(sc_root, 0755);
	if (mkdir(sc_dir, 0755) < 0 || chdir(sc_dir) < 0)
		return -1;
	for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++)
		mkdir(dirs[i], 0755);
	for (size_t i = 0; i < sizeof(helpers) / sizeof(helpers[0]); i++)
		if (symlink(sc_helper, helpers[i]) < 0)
			return -1;
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++)
		sc_write(files[i].name, files[i].text, files[i].mode);
	sc_reset();

	/* The fds the scenarios name, at fixed numbers. */
	if (dup2(open("data", O_RDONLY | O_CLOEXEC), FD_DATA) < 0 ||
	    dup2(open("data", O_RDONLY | O_CLOEXEC), FD_DATA_CLOEXEC) < 0 ||
	    dup2(open("sub", O_RDONLY | O_DIRECTORY | O_CLOEXEC), FD_SUBDIR) < 0)
		return -1;
	fcntl(FD_DATA_CLOEXEC, F_SETFD, FD_CLOEXEC);
	fcntl(FD_SUBDIR, F_SETFD, FD_CLOEXEC);
	for (int fd = 3; fd < 7; fd++)
		close(fd);
	/* A pseudo-terminal, kept at fd 11 (close-on-exec). */
	master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (master >= 0 && grantpt(master) == 0 && unlockpt(master) == 0 &&
	    ptsname_r(master, sc_pty, sizeof(sc_pty)) == 0) {
		dup3(master, 11, O_CLOEXEC);
	}
	if (master >= 0 && master != 11)
		close(master);

	/* A parent with an ignored, a handled and a blocked signal, and a umask. */
	sigaction(SIGUSR1, &sa, NULL);
	sa.sa_handler = sc_handler;
	sigaction(SIGUSR2, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	umask(027);
	return 0;
}

static void sc_cleanup(void)
{
	char cmd[512];

	if (!sc_root[0])
		return;
	if (chdir("/") == 0) {
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", sc_root);
		if (system(cmd) != 0)
			fprintf(stderr, "could not remove %s\n", sc_root);
	}
}

/* "@" in S as the fixture directory, into BUF. */
static const char *sc_expand(const char *s, char *buf, size_t len)
{
	size_t off = 0;

	for (; *s && off + 1 < len; s++) {
		if (*s == '@')
			off += snprintf(buf + off, len - off, "%s", sc_dir);
		else
			buf[off++] = *s;
		if (off >= len)
			off = len - 1;
	}
	buf[off] = 0;
	return buf;
}

static void sigs_of(const int *list, sigset_t *set)
{
	memset(set, 0, sizeof(*set));	/* raw: sigaddset refuses glibc's 32 and 33 */
	for (; *list; list++)
		((unsigned long *)set)[0] |= 1ul << (*list - 1);
}

/* A line of a state dump, with what differs from run to run named: the
 * child's pid as PID, ours as PARENT, the temporary directory as ROOT. */
static void sc_put_state_line(char *out, size_t len, size_t *off, const char *line, size_t n, pid_t pid)
{
	char pidstr[32], ppidstr[32], key[64], *root;
	const char *eq = memchr(line, '=', n);
	size_t rlen = strlen(sc_root);

	snprintf(pidstr, sizeof(pidstr), "%d", pid);
	snprintf(ppidstr, sizeof(ppidstr), "%d", getpid());
	if (eq && (size_t)(eq - line) < sizeof(key)) {
		memcpy(key, line, eq - line);
		key[eq - line] = 0;
		if ((!strcmp(key, "pid") || !strcmp(key, "pgid") || !strcmp(key, "sid") ||
		     !strncmp(key, "tcpgrp.", 7)) &&
		    (size_t)(line + n - eq - 1) == strlen(pidstr) && !strncmp(eq + 1, pidstr, strlen(pidstr))) {
			*off += snprintf(out + *off, len - *off, "  %s=PID\n", key);
			return;
		}
		if (!strcmp(key, "ppid") && !strncmp(eq + 1, ppidstr, strlen(ppidstr))) {
			*off += snprintf(out + *off, len - *off, "  ppid=PARENT\n");
			return;
		}
	}
	root = rlen ? memmem(line, n, sc_root, rlen) : NULL;
	if (root)
		*off += snprintf(out + *off, len - *off, "  %.*sROOT%.*s\n", (int)(root - line), line,
				 (int)(n - (root - line) - rlen), root + rlen);
	else
		*off += snprintf(out + *off, len - *off, "  %.*s\n", (int)n, line);
}

static int sc_name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The files under DIR (relative), sorted, with mode, size and first bytes. */
static void sc_world(const char *dir, char *out, size_t len, size_t *off)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char *names[64];
	int n = 0;

	if (!d)
		return;
	while ((e = readdir(d)) && n < 64)
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			names[n++] = strdup(e->d_name);
	closedir(d);
	qsort(names, n, sizeof(names[0]), sc_name_cmp);
	for (int i = 0; i < n; i++) {
		char path[512], head[17] = "";
		struct stat st;

		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		if (lstat(path, &st) == 0) {
			if (S_ISREG(st.st_mode)) {
				int fd = open(path, O_RDONLY | O_CLOEXEC);
				ssize_t got = fd >= 0 ? read(fd, head, 16) : -1;

				head[got > 0 ? got : 0] = 0;
				for (char *c = head; *c; c++)
					if (*c < ' ')
						*c = '.';
				if (fd >= 0)
					close(fd);
			}
			*off += snprintf(out + *off, len - *off, "  file %s %o %lld %s\n", path,
					 (unsigned)st.st_mode, (long long)st.st_size, head);
			if (S_ISDIR(st.st_mode))
				sc_world(path, out, len, off);
		}
		free(names[i]);
	}
}

/*
 * Runs scenario SC through API (with ENGINE, for forkless's, if not 0) and
 * writes its report into OUT.  Returns the spawn's result.
 */
static int sc_run(const struct spawn_api *api, const struct scenario *sc, int engine, char *out, size_t len)
{
	char prog[PATH_MAX + 16], pathbuf[1024], *old_path = NULL, *argv[4];
	const char *path_env = NULL;
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	struct rlimit saved_nofile;
	bool use_attr = !sc->no_attr || (api->setengine && engine);
	size_t off = 0;
	pid_t pid = -777;
	int ret = 0, err = 0, status = -1;

	sc_reset();
	/* The program and argv. */
	if (!sc->prog)
		snprintf(prog, sizeof(prog), "%s", sc_helper);
	else if (!strcmp(sc->prog, "@LONG"))
		snprintf(prog, sizeof(prog), "/%0*d", PATH_MAX, 0);
	else if (!strcmp(sc->prog, "@NAMEMAX"))
		snprintf(prog, sizeof(prog), "%0*d", NAME_MAX + 1, 0);
	else
		snprintf(prog, sizeof(prog), "%s", sc->prog);
	argv[0] = prog;
	argv[1] = (char *)"state";
	argv[2] = sc_state;
	argv[3] = NULL;

	/* The file actions. */
	if (!sc->no_fa) {
		ret = api->fa_init(&fa);
		for (const struct fa_step *s = sc->fa; !ret && s->op != A_END; s++) {
			const char *path = s->path && !strcmp(s->path, "@PTY") ? sc_pty : s->path;

			switch (s->op) {
			case A_OPEN: ret = api->addopen(&fa, s->fd, path, s->oflag, s->mode); break;
			case A_CLOSE: ret = api->addclose(&fa, s->fd); break;
			case A_DUP2: ret = api->adddup2(&fa, s->fd, s->fd2); break;
			case A_CHDIR: ret = api->addchdir(&fa, path); break;
			case A_FCHDIR: ret = api->addfchdir(&fa, s->fd); break;
			case A_CLOSEFROM: ret = api->addclosefrom(&fa, s->fd); break;
			case A_TCSETPGRP: ret = api->addtcsetpgrp(&fa, s->fd); break;
			}
		}
		if (ret) {
			off += snprintf(out + off, len - off, "add failed: %d\n", ret);
			api->fa_destroy(&fa);
			return ret;
		}
	}
	/* The attributes. */
	if (use_attr) {
		sigset_t set;
		struct sched_param sp = { .sched_priority = sc->prio };

		api->attr_init(&attr);
		ret = api->setflags(&attr, sc->flags);
		api->setpgroup(&attr, sc->pgrp == -2 ? getpgrp() : sc->pgrp);
		sigs_of(sc->sigdef, &set);
		api->setsigdefault(&attr, &set);
		sigs_of(sc->sigmask, &set);
		if (sc->mask_all)
			memset(&set, 0xff, sizeof(set));
		api->setsigmask(&attr, &set);
		api->setschedparam(&attr, &sp);
		api->setschedpolicy(&attr, sc->policy);
		if (api->setengine && engine)
			ret = ret ? ret : api->setengine(&attr, engine);
	}

	/* Around the call: PATH, the fd limit, the effective ids. */
	if (getenv("PATH"))
		old_path = strdup(getenv("PATH"));
	if (sc->unset_path)
		unsetenv("PATH");
	else if (sc->path_env)
		setenv("PATH", path_env = sc_expand(sc->path_env, pathbuf, sizeof(pathbuf)), 1);
	if (sc->nofile) {
		struct rlimit rl;

		getrlimit(RLIMIT_NOFILE, &saved_nofile);
		rl = saved_nofile;
		rl.rlim_cur = sc->nofile;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	if (sc->other_euid && (setresgid(-1, 1000, -1) < 0 || setresuid(-1, 1000, -1) < 0))
		ret = ret ? ret : -1;

	if (!ret) {
		errno = 0;
		ret = (sc->p ? api->spawnp : api->spawn)(&pid, prog, sc->no_fa ? NULL : &fa,
							  use_attr ? &attr : NULL, argv, sc_envp ? sc_envp : environ);
		err = errno;
	}

	if (sc->other_euid && (setresuid(-1, 0, -1) < 0 || setresgid(-1, 0, -1) < 0))
		abort();	/* the rest of the test would run under the wrong ids */
	if (sc->nofile)
		setrlimit(RLIMIT_NOFILE, &saved_nofile);
	if (old_path)
		setenv("PATH", old_path, 1);
	free(old_path);
	if (!sc->no_fa)
		api->fa_destroy(&fa);
	if (use_attr)
		api->attr_destroy(&attr);
	(void)path_env;

	/* The report. */
	if (ret == 0) {
		waitpid(pid, &status, 0);
		off += snprintf(out + off, len - off, "ret=0 status=0x%x\n", status);
	} else {
		off += snprintf(out + off, len - off, "ret=%d errno=%d pid %s\n", ret, err,
				pid == -777 ? "left alone" : "CHANGED");
	}
	if (ret == 0) {	/* empty unless the program was the state helper */
		char state[65536];
		int fd = open(sc_state, O_RDONLY | O_CLOEXEC);
		ssize_t n = fd >= 0 ? read(fd, state, sizeof(state) - 1) : -1;

		if (fd >= 0)
			close(fd);
		state[n > 0 ? n : 0] = 0;
		for (char *line = state; *line;) {
			size_t l = strcspn(line, "\n");

			sc_put_state_line(out, len, &off, line, l, pid);
			line += l + (line[l] == '\n');
		}
	}
	sc_world(".", out, len, &off);
	return ret;
}

#endif
