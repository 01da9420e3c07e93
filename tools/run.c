// SPDX-License-Identifier: MIT
/*
 * forkless run [OPTIONS] -- CMD ARGS...: env, setsid, prlimit, setpriv, nice,
 * taskset, chdir and unshare in one tool.  Every setup step of the library is
 * an option; the steps run in the child in the order given (credentials
 * excepted: the library applies groups, gid, uid together, in that order).
 * The command then waits for the child and exits with its status, so it can
 * stand in front of any command in a script.
 *
 * Exit status: the child's; 128+N if signal N killed it; 127 when the spawn
 * failed (126 when the program was found but could not be executed, as shells
 * do), with the library's failure report on stderr; 125 for a bad option.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli.h"

/* The child, for the handler that passes signals on. */
static fl_child the_child;
static volatile sig_atomic_t child_live, forward_kernel_signals;

void usage_run(FILE *out)
{
	fprintf(out,
		"usage: forkless run [OPTIONS] [--] CMD [ARGS...]\n"
		"\n"
		"Runs CMD (searched in PATH like execvp) with the setup steps given as options,\n"
		"in the order given, waits for it and exits with its status (128+N if signal N\n"
		"killed it).  If a step or the exec fails, prints which one and why and exits 127\n"
		"(126 if CMD was found but could not be executed); 125 for a bad option.\n"
		"\n"
		"setup steps (run in the child, in order):\n"
		"  -C, --chdir DIR             change directory\n"
		"      --umask OCTAL           set the umask\n"
		"      --setsid                start a new session\n"
		"      --setpgid PGID          join process group PGID (0: a group of its own)\n"
		"      --tcsetpgrp FD          give the terminal on FD to the child's group\n"
		"      --nice N                set the nice value to N (absolute, -20..19)\n"
		"      --cpus LIST             CPU affinity, e.g. 0,1 or 0-3\n"
		"      --rlimit NAME=SOFT[:HARD]  a resource limit (nofile, nproc, core, as, cpu,\n"
		"                              fsize, stack, data, memlock, ...); a single value\n"
		"                              sets both; \"unlimited\"; SOFT: or :HARD keeps the other\n"
		"      --groups LIST           supplementary groups (names or numbers; \"\" for none)\n"
		"      --gid GID               the real, effective and saved group id\n"
		"      --uid UID               the real, effective and saved user id (only: the\n"
		"                              gid and groups stay this command's; see --user)\n"
		"      --user NAME             NAME's uid, primary gid and supplementary groups\n"
		"                              from the user database\n"
		"      --no-new-privs          set no_new_privs\n"
		"      --pdeathsig SIG         signal the child when this command dies\n"
		"      --unshare LIST          new namespaces: uts,ipc,net,mount,pid,user,cgroup,time\n"
		"      --cgroup DIR            move into the cgroup v2 directory DIR\n"
		"      --stdin FILE            open FILE read-only on fd 0\n"
		"      --stdout FILE           open FILE (created, truncated) on fd 1\n"
		"      --stderr FILE           open FILE (created, truncated) on fd 2\n"
		"      --open FD:MODE:FILE     open FILE on FD; MODE r, w (create, truncate), a (append), rw\n"
		"      --dup2 OLD:NEW          duplicate fd OLD onto NEW (OLD:OLD clears close-on-exec)\n"
		"      --close FD              close FD\n"
		"      --close-from N          close every fd >= N\n"
		"      --sigmask SIGS          the signal mask at exec (names or numbers, \"none\", \"all\")\n"
		"      --sigdefault SIGS       reset these signals to their default action (\"all\")\n"
		"      --hard                  the next step's failure is ignored\n"
		"\n"
		"environment and program (not steps):\n"
		"  -i, --env-clear             start from an empty environment\n"
		"  -e, --env NAME=VALUE        set a variable\n"
		"  -u, --unset NAME            remove a variable\n"
		"      --path                  search CMD in PATH like execvp (the default)\n"
		"      --no-path               run CMD as a path, without PATH search\n"
		"      --sh                    run a file the kernel cannot exec (ENOEXEC) with /bin/sh\n"
		"      --argv0 NAME            pass NAME as argv[0]\n"
		"      --engine NAME           the engine (fork, vfork, posix, clone, ...; default:\n"
		"                              FORKLESS_ENGINE or the fastest)\n"
		"\n"
		"While CMD runs, signals sent to this command (TERM, HUP, INT, QUIT, USR1, USR2) are\n"
		"passed on to it; those the terminal sends reach it directly.\n");
}

/* ---- parsing helpers --------------------------------------------------------- */

/* A signal by number, name ("TERM", "SIGTERM", any case) or RTMIN+N / RTMAX-N. */
static int parse_signal(const char *s)
{
	long n;

	if (cli_parse_long(s, 1, NSIG - 1, &n))
		return (int)n;
	if (!strncasecmp(s, "SIG", 3))
		s += 3;
	if (!strncasecmp(s, "RTMIN", 5) || !strncasecmp(s, "RTMAX", 5)) {
		bool max = !strncasecmp(s, "RTMAX", 5);
		int sig = max ? SIGRTMAX : SIGRTMIN;

		if (s[5] && !((s[5] == '+' && !max) || (s[5] == '-' && max)))
			return -1;
		if (s[5] && !cli_parse_long(s + 6, 0, SIGRTMAX - SIGRTMIN, &n))
			return -1;
		sig = s[5] ? (max ? sig - (int)n : sig + (int)n) : sig;
		return sig >= SIGRTMIN && sig <= SIGRTMAX ? sig : -1;
	}
	for (int sig = 1; sig < SIGRTMIN; sig++) {
		const char *abbrev = sigabbrev_np(sig);

		if (abbrev && !strcasecmp(s, abbrev))
			return sig;
	}
	return -1;
}

/* A comma-separated list of signals into SET; "all" and "none" too. */
static bool parse_sigset(const char *list, sigset_t *set)
{
	char *copy = strdup(list), *save = NULL;
	bool good = copy != NULL;

	sigemptyset(set);
	if (!strcasecmp(list, "all")) {
		free(copy);
		sigfillset(set);
		return true;
	}
	if (!strcasecmp(list, "none") || !*list) {
		free(copy);
		return true;
	}
	for (char *tok = good ? strtok_r(copy, ",", &save) : NULL; tok; tok = strtok_r(NULL, ",", &save)) {
		int sig = parse_signal(tok);

		if (sig < 0) {
			cli_error("run: no signal \"%s\"", tok);
			good = false;
			break;
		}
		sigaddset(set, sig);
	}
	free(copy);
	return good;
}

/* A user (GROUP false) or group id, by number or by name. */
static bool parse_id(const char *s, bool group, id_t *out)
{
	long n;

	if (cli_parse_long(s, 0, (long)(id_t)-2, &n)) {
		*out = (id_t)n;
		return true;
	}
	if (group) {
		struct group *gr = getgrnam(s);

		if (gr)
			*out = gr->gr_gid;
		return gr != NULL;
	} else {
		struct passwd *pw = getpwnam(s);

		if (pw)
			*out = pw->pw_uid;
		return pw != NULL;
	}
}

/*
 * --user NAME: what `setpriv --init-groups` and `runuser -u` give, resolved
 * here in the parent (the child may not read files or call NSS): NAME's
 * groups from the group database (getgrouplist, which puts the primary
 * group first), its primary gid, its uid, as three steps.  A number that
 * names no user is refused like an unknown name: without an entry there is
 * no primary group to take.  Prints its own errors.
 */
static int add_user(fl_actions *acts, const char *name, unsigned flags)
{
	struct passwd *pw;
	gid_t *groups = NULL;
	int n = 0, ret;
	long uid;

	errno = 0;
	pw = getpwnam(name);
	if (!pw && cli_parse_long(name, 0, (long)(uid_t)-2, &uid))
		pw = getpwuid((uid_t)uid);
	if (!pw) {
		/* getpwnam(3): these errnos, or none, mean the name is not there. */
		bool absent = !errno || errno == ENOENT || errno == ESRCH || errno == EBADF || errno == EPERM;

		cli_error("run: --user %s: %s", name, absent ? "no such user" : strerror(errno));
		return -EINVAL;
	}
	/* The first call only counts (n = 0 is too small: it returns -1). */
	getgrouplist(pw->pw_name, pw->pw_gid, NULL, &n);
	groups = malloc((n > 0 ? n : 1) * sizeof(*groups));
	if (!groups || getgrouplist(pw->pw_name, pw->pw_gid, groups, &n) < 0) {
		free(groups);
		cli_error("run: --user %s: cannot read its groups", name);
		return -ENOMEM;
	}
	ret = fl_act_setgroups(acts, (size_t)n, groups, flags);
	free(groups);
	if (ret >= 0)
		ret = fl_act_setgid(acts, pw->pw_gid, flags);
	if (ret >= 0)
		ret = fl_act_setuid(acts, pw->pw_uid, flags);
	if (ret < 0)
		cli_error("run: --user %s: %s", name, strerror(-ret));
	return ret;
}

/* "0,2-3" into SET. */
static bool parse_cpus(const char *list, cpu_set_t *set)
{
	const char *p = list;

	CPU_ZERO(set);
	while (*p) {
		char *end;
		long lo, hi;

		errno = 0;
		lo = strtol(p, &end, 10);
		if (end == p || errno || lo < 0)
			return false;
		hi = lo;
		if (*end == '-') {
			p = end + 1;
			hi = strtol(p, &end, 10);
			if (end == p || errno || hi < lo)
				return false;
		}
		if (hi >= CPU_SETSIZE)
			return false;
		for (long c = lo; c <= hi; c++)
			CPU_SET((int)c, set);
		if (*end == ',')
			end++;
		else if (*end)
			return false;
		p = end;
	}
	return CPU_COUNT(set) > 0;
}

static const struct {
	const char *name;
	int resource;
} rlimit_names[] = {
	{ "as", RLIMIT_AS }, { "core", RLIMIT_CORE }, { "cpu", RLIMIT_CPU },
	{ "data", RLIMIT_DATA }, { "fsize", RLIMIT_FSIZE }, { "locks", RLIMIT_LOCKS },
	{ "memlock", RLIMIT_MEMLOCK }, { "msgqueue", RLIMIT_MSGQUEUE }, { "nice", RLIMIT_NICE },
	{ "nofile", RLIMIT_NOFILE }, { "nproc", RLIMIT_NPROC }, { "rss", RLIMIT_RSS },
	{ "rtprio", RLIMIT_RTPRIO }, { "rttime", RLIMIT_RTTIME },
	{ "sigpending", RLIMIT_SIGPENDING }, { "stack", RLIMIT_STACK },
};

static bool parse_rlim_value(const char *s, size_t len, rlim_t *out)
{
	char buf[32];
	char *end;
	unsigned long long v;

	if (len == 0 || len >= sizeof(buf))
		return false;
	memcpy(buf, s, len);
	buf[len] = 0;
	if (!strcmp(buf, "unlimited") || !strcmp(buf, "infinity") || !strcmp(buf, "inf")) {
		*out = RLIM_INFINITY;
		return true;
	}
	if (buf[0] == '-')
		return false;
	errno = 0;
	v = strtoull(buf, &end, 10);
	if (errno || *end)
		return false;
	*out = (rlim_t)v;
	return true;
}

/* NAME=SOFT[:HARD], NAME=SOFT: or NAME=:HARD (prlimit's forms). */
static bool parse_rlimit(const char *arg, int *resource, struct rlimit *rl)
{
	const char *eq = strchr(arg, '='), *val, *colon;
	size_t nlen = eq ? (size_t)(eq - arg) : 0;

	*resource = -1;
	for (size_t i = 0; eq && i < sizeof(rlimit_names) / sizeof(rlimit_names[0]); i++)
		if (strlen(rlimit_names[i].name) == nlen && !strncasecmp(arg, rlimit_names[i].name, nlen))
			*resource = rlimit_names[i].resource;
	if (*resource < 0)
		return false;
	if (getrlimit(*resource, rl) < 0)
		return false;
	val = eq + 1;
	colon = strchr(val, ':');
	if (!colon)
		return parse_rlim_value(val, strlen(val), &rl->rlim_cur) &&
		       (rl->rlim_max = rl->rlim_cur, true);
	if (colon > val && !parse_rlim_value(val, (size_t)(colon - val), &rl->rlim_cur))
		return false;
	if (colon[1]) {
		if (!parse_rlim_value(colon + 1, strlen(colon + 1), &rl->rlim_max))
			return false;
		if (colon == val && rl->rlim_cur > rl->rlim_max)
			rl->rlim_cur = rl->rlim_max;	/* ":HARD" below the soft limit kept */
	}
	return colon > val || colon[1];
}

static int parse_unshare(const char *list)
{
	static const struct {
		const char *name;
		int flag;
	} ns[] = {
		{ "uts", CLONE_NEWUTS }, { "ipc", CLONE_NEWIPC }, { "net", CLONE_NEWNET },
		{ "mount", CLONE_NEWNS }, { "mnt", CLONE_NEWNS }, { "pid", CLONE_NEWPID },
		{ "user", CLONE_NEWUSER }, { "cgroup", CLONE_NEWCGROUP }, { "time", CLONE_NEWTIME },
		{ "files", CLONE_FILES }, { "fs", CLONE_FS }, { "sysvsem", CLONE_SYSVSEM },
	};
	int flags = 0;

	for (const char *p = list; *p;) {
		size_t len = strcspn(p, ",");
		size_t i;

		for (i = 0; i < sizeof(ns) / sizeof(ns[0]); i++)
			if (strlen(ns[i].name) == len && !strncmp(p, ns[i].name, len))
				break;
		if (i == sizeof(ns) / sizeof(ns[0]))
			return -1;
		flags |= ns[i].flag;
		p += len + (p[len] == ',');
	}
	return flags ? flags : -1;
}

/* "N:M" into two fds. */
static bool parse_fd_pair(const char *s, int *a, int *b)
{
	char *end;
	long x, y;

	errno = 0;
	x = strtol(s, &end, 10);
	if (end == s || *end != ':' || x < 0 || x > 1 << 30)
		return false;
	s = end + 1;
	y = strtol(s, &end, 10);
	if (end == s || *end || errno || y < 0 || y > 1 << 30)
		return false;
	*a = (int)x;
	*b = (int)y;
	return true;
}

/* "FD:MODE:FILE" */
static bool parse_open(const char *s, int *fd, int *oflag, const char **path)
{
	static const struct {
		const char *mode;
		int oflag;
	} modes[] = {
		{ "r", O_RDONLY }, { "w", O_WRONLY | O_CREAT | O_TRUNC },
		{ "a", O_WRONLY | O_CREAT | O_APPEND }, { "rw", O_RDWR | O_CREAT },
	};
	char *end;
	const char *mode;
	size_t mlen;
	long n;

	errno = 0;
	n = strtol(s, &end, 10);
	if (end == s || *end != ':' || errno || n < 0 || n > 1 << 30)
		return false;
	mode = end + 1;
	mlen = strcspn(mode, ":");
	if (mode[mlen] != ':' || !mode[mlen + 1])
		return false;
	for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++)
		if (strlen(modes[i].mode) == mlen && !strncmp(mode, modes[i].mode, mlen)) {
			*fd = (int)n;
			*oflag = modes[i].oflag;
			*path = mode + mlen + 1;
			return true;
		}
	return false;
}

/* ---- waiting ------------------------------------------------------------------ */

/* Passes a signal sent to this command on to the child.  One the kernel sent
 * (a terminal's ^C, ^\, hangup) already reached the child through its process
 * group, unless the child left the group (--setsid, --setpgid): then it is
 * passed on too.  fl_child_kill is one pidfd_send_signal, safe here. */
static void pass_on(int sig, siginfo_t *si, void *ctx)
{
	(void)ctx;
	if (!child_live)
		return;
	if (si->si_code == SI_KERNEL && !forward_kernel_signals)
		return;
	fl_child_kill(&the_child, sig);
}

static const int passed_signals[] = { SIGTERM, SIGHUP, SIGINT, SIGQUIT, SIGUSR1, SIGUSR2 };

static void catch_signals(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = pass_on;
	sa.sa_flags = SA_SIGINFO | SA_RESTART;
	sigemptyset(&sa.sa_mask);
	for (size_t i = 0; i < sizeof(passed_signals) / sizeof(passed_signals[0]); i++)
		sigaction(passed_signals[i], &sa, NULL);
}

/* The exit status a shell would give for a spawn that failed. */
static int failure_status(const fl_report *rep)
{
	bool at_exec = rep->step == FL_STEP_EXEC || rep->step == FL_STEP_UNKNOWN;

	switch (rep->error) {
	case EACCES: case ENOEXEC: case EISDIR: case EPERM: case ETXTBSY:
		return at_exec ? 126 : 127;
	}
	return 127;
}

/* ---- the command -------------------------------------------------------------- */

enum {
	OPT_UMASK = 256, OPT_SETSID, OPT_SETPGID, OPT_TCSETPGRP, OPT_NICE, OPT_CPUS, OPT_RLIMIT, OPT_GROUPS, OPT_GID,
	OPT_UID, OPT_NNP, OPT_PDEATHSIG, OPT_UNSHARE, OPT_CGROUP, OPT_STDIN, OPT_STDOUT, OPT_STDERR, OPT_OPEN,
	OPT_DUP2, OPT_CLOSE, OPT_CLOSEFROM, OPT_SIGMASK, OPT_SIGDEFAULT, OPT_HARD, OPT_PATH, OPT_NOPATH, OPT_SH,
	OPT_ARGV0, OPT_ENGINE, OPT_USER,
};

static const struct option run_opts[] = {
	{ "chdir", required_argument, NULL, 'C' },
	{ "umask", required_argument, NULL, OPT_UMASK },
	{ "setsid", no_argument, NULL, OPT_SETSID },
	{ "setpgid", required_argument, NULL, OPT_SETPGID },
	{ "tcsetpgrp", required_argument, NULL, OPT_TCSETPGRP },
	{ "nice", required_argument, NULL, OPT_NICE },
	{ "cpus", required_argument, NULL, OPT_CPUS },
	{ "rlimit", required_argument, NULL, OPT_RLIMIT },
	{ "groups", required_argument, NULL, OPT_GROUPS },
	{ "gid", required_argument, NULL, OPT_GID },
	{ "uid", required_argument, NULL, OPT_UID },
	{ "user", required_argument, NULL, OPT_USER },
	{ "no-new-privs", no_argument, NULL, OPT_NNP },
	{ "pdeathsig", required_argument, NULL, OPT_PDEATHSIG },
	{ "unshare", required_argument, NULL, OPT_UNSHARE },
	{ "cgroup", required_argument, NULL, OPT_CGROUP },
	{ "stdin", required_argument, NULL, OPT_STDIN },
	{ "stdout", required_argument, NULL, OPT_STDOUT },
	{ "stderr", required_argument, NULL, OPT_STDERR },
	{ "open", required_argument, NULL, OPT_OPEN },
	{ "dup2", required_argument, NULL, OPT_DUP2 },
	{ "close", required_argument, NULL, OPT_CLOSE },
	{ "close-from", required_argument, NULL, OPT_CLOSEFROM },
	{ "sigmask", required_argument, NULL, OPT_SIGMASK },
	{ "sigdefault", required_argument, NULL, OPT_SIGDEFAULT },
	{ "hard", no_argument, NULL, OPT_HARD },
	{ "env-clear", no_argument, NULL, 'i' },
	{ "env", required_argument, NULL, 'e' },
	{ "unset", required_argument, NULL, 'u' },
	{ "path", no_argument, NULL, OPT_PATH },
	{ "no-path", no_argument, NULL, OPT_NOPATH },
	{ "sh", no_argument, NULL, OPT_SH },
	{ "argv0", required_argument, NULL, OPT_ARGV0 },
	{ "engine", required_argument, NULL, OPT_ENGINE },
	{ "help", no_argument, NULL, 'h' },
	{ 0 }
};

/* Adds the step an option names to ACTS; returns the library's result, or
 * -EINVAL after printing why for an argument that does not parse. */
static int add_step(fl_actions *acts, int opt, const char *arg, unsigned flags, int *cgroup_fd)
{
	struct rlimit rl;
	sigset_t set;
	cpu_set_t cpus;
	long n;
	int a, b, resource, oflag;
	const char *path;
	id_t id;

	switch (opt) {
	case 'C':
		return fl_act_chdir(acts, arg, flags);
	case OPT_UMASK: {
		char *end;

		errno = 0;
		n = strtol(arg, &end, 8);
		if (!*arg || *end || errno || n < 0 || n > 0777)
			break;
		return fl_act_umask(acts, (mode_t)n, flags);
	}
	case OPT_SETSID:
		forward_kernel_signals = 1;
		return fl_act_setsid(acts, flags);
	case OPT_SETPGID:
		if (!cli_parse_long(arg, 0, INT32_MAX, &n))
			break;
		forward_kernel_signals = 1;
		return fl_act_setpgid(acts, (pid_t)n, flags);
	case OPT_TCSETPGRP:
		if (!cli_parse_long(arg, 0, INT32_MAX, &n))
			break;
		return fl_act_tcsetpgrp(acts, (int)n, flags);
	case OPT_NICE:
		if (!cli_parse_long(arg, -20, 19, &n))
			break;
		return fl_act_priority(acts, (int)n, flags);
	case OPT_CPUS:
		if (!parse_cpus(arg, &cpus))
			break;
		return fl_act_affinity(acts, &cpus, sizeof(cpus), flags);
	case OPT_RLIMIT:
		if (!parse_rlimit(arg, &resource, &rl))
			break;
		return fl_act_rlimit(acts, resource, &rl, flags);
	case OPT_GROUPS: {
		gid_t groups[256];
		size_t count = 0;
		char *copy = strdup(arg), *save = NULL;
		bool good = copy != NULL;
		int ret;

		for (char *tok = good ? strtok_r(copy, ",", &save) : NULL; tok; tok = strtok_r(NULL, ",", &save))
			if (count == sizeof(groups) / sizeof(groups[0]) || !parse_id(tok, true, &groups[count++]))
				good = false;
		free(copy);
		if (!good)
			break;
		ret = fl_act_setgroups(acts, count, groups, flags);
		return ret;
	}
	case OPT_GID:
		if (!parse_id(arg, true, &id))
			break;
		return fl_act_setgid(acts, (gid_t)id, flags);
	case OPT_UID:
		if (!parse_id(arg, false, &id))
			break;
		return fl_act_setuid(acts, (uid_t)id, flags);
	case OPT_USER:
		return add_user(acts, arg, flags);
	case OPT_NNP:
		return fl_act_no_new_privs(acts, flags);
	case OPT_PDEATHSIG:
		if ((a = parse_signal(arg)) < 0)
			break;
		return fl_act_pdeathsig(acts, a, flags);
	case OPT_UNSHARE:
		if ((a = parse_unshare(arg)) < 0)
			break;
		return fl_act_unshare(acts, a, flags);
	case OPT_CGROUP:
		/* Open here, in the parent: the step takes a directory fd.  It stays
		 * open (close-on-exec) until the spawn is over. */
		if (*cgroup_fd >= 0) {
			cli_error("run: only one --cgroup");
			return -EINVAL;
		}
		*cgroup_fd = open(arg, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (*cgroup_fd < 0) {
			cli_error("run: --cgroup %s: %s", arg, strerror(errno));
			return -errno;
		}
		return fl_act_cgroup(acts, *cgroup_fd, flags);
	case OPT_STDIN:
		return fl_act_open(acts, 0, arg, O_RDONLY, 0, flags);
	case OPT_STDOUT:
	case OPT_STDERR:
		return fl_act_open(acts, opt == OPT_STDOUT ? 1 : 2, arg, O_WRONLY | O_CREAT | O_TRUNC, 0666, flags);
	case OPT_OPEN:
		if (!parse_open(arg, &a, &oflag, &path))
			break;
		return fl_act_open(acts, a, path, oflag, 0666, flags);
	case OPT_DUP2:
		if (!parse_fd_pair(arg, &a, &b))
			break;
		return fl_act_dup2(acts, a, b, flags);
	case OPT_CLOSE:
		if (!cli_parse_long(arg, 0, INT32_MAX, &n))
			break;
		return fl_act_close(acts, (int)n, flags);
	case OPT_CLOSEFROM:
		if (!cli_parse_long(arg, 0, INT32_MAX, &n))
			break;
		return fl_act_closefrom(acts, (int)n, flags);
	case OPT_SIGMASK:
	case OPT_SIGDEFAULT:
		if (!parse_sigset(arg, &set))
			break;
		return opt == OPT_SIGMASK ? fl_act_sigmask(acts, &set, flags) : fl_act_sigdefault(acts, &set, flags);
	default:
		return -ENOENT;		/* not a step */
	}
	return -EINVAL;
}

static const char *option_name(int opt)
{
	for (const struct option *o = run_opts; o->name; o++)
		if (o->val == opt)
			return o->name;
	return "?";
}

/* The environment options, applied to this process's own environment in the
 * order given, so that PATH search sees the new PATH (as env(1) does) and the
 * child gets the result as the caller's environment. */
static bool apply_env(int opt, const char *arg)
{
	if (opt == 'i')
		return clearenv() == 0;
	if (opt == 'u') {
		if (!*arg || strchr(arg, '=')) {
			cli_error("run: --unset %s: not a variable name", arg);
			return false;
		}
		return unsetenv(arg) == 0;
	}
	if (!strchr(arg, '=') || arg[0] == '=') {
		cli_error("run: --env %s: not NAME=VALUE", arg);
		return false;
	}
	return putenv((char *)arg) == 0;
}

int cmd_run(int argc, char **argv)
{
	fl_spec *spec = NULL;
	fl_actions *acts;
	fl_report rep = { 0, FL_STEP_SPAWN };
	const char *argv0 = NULL;
	char msg[8192];
	bool hard = false, search = true;
	int c, ret, status, engine = FL_ENGINE_AUTO, cgroup_fd = -1, exit_code = CLI_EXIT_USAGE;
	unsigned spec_flags = 0;

	/* The default engine reads FORKLESS_ENGINE once: read it now, before the
	 * options change the environment meant for the child. */
	fl_engine_default();
	if (fl_spec_new(&spec) < 0) {
		cli_error("run: out of memory");
		return CLI_EXIT_USAGE;
	}
	acts = fl_spec_actions(spec);
	optind = 1;
	while ((c = getopt_long(argc, argv, "+C:ie:u:h", run_opts, NULL)) != -1) {
		unsigned flags = hard ? FL_HARD : 0;

		switch (c) {
		case 'h':
			usage_run(stdout);
			exit_code = 0;
			goto out;
		case '?':
			usage_run(stderr);
			goto out;
		case OPT_HARD:
			if (hard) {
				cli_error("run: --hard twice in a row");
				goto out;
			}
			hard = true;
			continue;
		case 'i': case 'e': case 'u':
			if (!apply_env(c, optarg))
				goto out;
			break;
		case OPT_PATH:
		case OPT_NOPATH:
			search = c == OPT_PATH;
			break;
		case OPT_SH:
			spec_flags |= FL_SPEC_ENOEXEC_SH;
			break;
		case OPT_ARGV0:
			argv0 = optarg;
			break;
		case OPT_ENGINE:
			engine = fl_engine_from_name(optarg);
			if (engine < 0 || fl_engine_supported(engine) < 0) {
				cli_error("run: --engine %s: %s", optarg,
					  engine < 0 ? "no such engine" : "not available in this build or on this kernel");
				goto out;
			}
			break;
		default:
			ret = add_step(acts, c, optarg, flags, &cgroup_fd);
			if (ret == -EINVAL && c != OPT_CGROUP && c != OPT_USER)	/* those two say why */
				cli_error("run: --%s %s: not a valid value", option_name(c), optarg ? optarg : "");
			else if (ret < 0 && c != OPT_CGROUP && c != OPT_USER)
				cli_error("run: --%s: %s", option_name(c), strerror(-ret));
			if (ret < 0)
				goto out;
			hard = false;
			continue;
		}
		if (hard) {
			cli_error("run: --hard must come just before a setup step, not --%s", option_name(c));
			goto out;
		}
	}
	if (hard) {
		cli_error("run: --hard must come just before a setup step");
		goto out;
	}
	if (optind >= argc) {
		cli_error("run: no command given");
		usage_run(stderr);
		goto out;
	}

	/* The program: PATH search happens here, once, in this process. */
	ret = search ? fl_spec_set_file(spec, argv[optind]) : fl_spec_set_path(spec, argv[optind]);
	if (ret < 0) {
		fl_report early = { -ret, FL_STEP_EXEC };

		cli_error("exec \"%s\": %s", argv[optind], strerror(-ret));
		exit_code = failure_status(&early);
		goto out;
	}
	if (argv0)
		argv[optind] = (char *)argv0;
	if ((ret = fl_spec_set_argv(spec, argv + optind)) < 0 || (ret = fl_spec_set_flags(spec, spec_flags)) < 0 ||
	    (engine && (ret = fl_spec_set_engine(spec, engine)) < 0)) {
		cli_error("run: %s", strerror(-ret));
		goto out;
	}

	fflush(NULL);
	ret = fl_spawn(spec, NULL, &the_child, &rep);
	if (ret == 0) {
		child_live = 1;
		catch_signals();
		ret = fl_child_wait_exec(&the_child, &rep);
	}
	if (ret < 0) {
		child_live = 0;
		fl_report_format(spec, NULL, &rep, msg, sizeof(msg));
		cli_error("%s%s", msg, ret == -ENOTSUP ? " (this engine cannot express these options)" : "");
		exit_code = failure_status(&rep);
		goto out;
	}
	do
		ret = fl_child_wait(&the_child, &status);
	while (ret == -EINTR);
	child_live = 0;
	if (ret < 0) {
		cli_error("run: wait: %s", strerror(-ret));
		exit_code = CLI_EXIT_USAGE;
	} else if (WIFSIGNALED(status)) {
		exit_code = 128 + WTERMSIG(status);
	} else {
		exit_code = WEXITSTATUS(status);
	}
out:
	if (cgroup_fd >= 0)
		close(cgroup_fd);
	fl_spec_free(spec);
	return exit_code;
}
