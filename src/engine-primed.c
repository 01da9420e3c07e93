// SPDX-License-Identifier: MIT
/*
 * The primed engine, the caller's side: the program exec'd once with the
 * primed image's library preloaded (primed-image.c), parked before main;
 * each spawn asks that image for a child, which is the caller's own child
 * and enters main with the spawn's argv and environment.  The contract, and
 * every way a child differs from the program exec'd, is forkless-primed(7).
 *
 * Which image a spawn may use: start-up (the loader, the constructors)
 * reads the program and its libraries, the environment and the
 * credentials, so an image is keyed by what its start saw: the path and the
 * file's identity (device, inode, size, modification and change times),
 * the environment, the real and effective ids and the groups, the ignored
 * signals, the seccomp mode, RLIMIT_STACK, the personality, the process
 * group and session (which a child keeps from its image).  A spawn
 * that sees anything else primes another image.  A file the image maps
 * that changed on disk retires it.  Images are few (FL_PRIMED_IMAGES; the
 * least recently used goes), end with the caller (EOF on the channel, and
 * a parent-death signal when the main thread primed them), and a process
 * forked from the caller forgets them: their children would be the
 * parent's.
 *
 * A program that cannot be primed (static, a script, set-id or with file
 * capabilities, not started by glibc, threads or fds before main, no ready
 * report in time) is remembered as refused, and its spawns run on the clone
 * engine: fl_child.engine says which engine ran, FORKLESS_TRACE=FILE why.
 */
#include <dlfcn.h>
#include <elf.h>
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"
#include "primed.h"
#include "sys.h"
#include "zygote.h"

#ifndef FL_LIBDIR
#define FL_LIBDIR "/usr/local/lib"
#endif

#define FL_PRIMED_IMAGES 8		/* live images at most */
#define FL_PRIMED_ENTRIES 32		/* images and refusals remembered */
#define READY_TIMEOUT_MS 10000		/* a program's start-up, under load */
#define AGAIN_MAX 3			/* primings failed for a limit, then refused */

extern char **environ;

static const char *const reasons[FL_PRIMED_NREASONS] = {
	[FL_PRIMED_OK] = "primed",
	[FL_PRIMED_NO_THREADS] = "threads started before main",
	[FL_PRIMED_NO_FDS] = "fds opened before main",
	[FL_PRIMED_NO_SHARED] = "shared memory mapped before main",
	[FL_PRIMED_NO_TID] = "glibc's thread descriptor not understood",
	[FL_PRIMED_NO_MM] = "PR_SET_MM_MAP refused",
	[FL_PRIMED_NO_FILES] = "a mapped file could not be listed",
	[FL_PRIMED_NO_READY] = "no ready report (not started by glibc?)",
	[FL_PRIMED_STATIC] = "not a dynamically linked x86_64 ELF program",
	[FL_PRIMED_SCRIPT] = "a script",
	[FL_PRIMED_SETID] = "set-id or file capabilities",
	[FL_PRIMED_NOT_GLIBC] = "its entry does not call __libc_start_main",
	[FL_PRIMED_NO_LIB] = "libforkless-primed.so not found",
	[FL_PRIMED_TEMPLATE] = "a template the engine cannot serve",
	[FL_PRIMED_NOT_LISTED] = "not in FORKLESS_PRIMED",
	[FL_PRIMED_NOT_FOUND] = "not found in PATH",
	[FL_PRIMED_AGAIN] = "could not be primed now (a limit of the moment)",
	[FL_PRIMED_STEPS] = "a step changes what its exec would see (ids, namespaces, RLIMIT_STACK, the directory)",
};

/* ---- the key: what a program's start-up sees --------------------------------- */

struct key {
	struct fl_primed_file file;	/* the program's identity */
	uint64_t env_hash, ignored;
	uint32_t ids[4];		/* real and effective uid and gid */
	uint64_t groups;		/* a digest of the supplementary groups, in order */
	int32_t seccomp;
	uint32_t persona;
	pid_t pgid, sid;		/* the image's stay its children's */
	struct rlimit stack;
};

static uint64_t hash_bytes(uint64_t h, const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		h = (h ^ (unsigned char)s[i]) * 0x100000001b3ull;
	return h;
}

static uint64_t hash_env(char *const *envp)
{
	uint64_t h = 0xcbf29ce484222325ull;

	for (int i = 0; envp[i]; i++)
		h = hash_bytes(h, envp[i], strlen(envp[i]) + 1);
	return h;
}

static bool same_env(char *const *a, char *const *b)
{
	int i;

	for (i = 0; a[i] && b[i]; i++)
		if (strcmp(a[i], b[i]))
			return false;
	return !a[i] && !b[i];
}

/* The ignored signals, in the kernel's bits: one /proc read, else one
 * rt_sigaction per signal (no fd free). */
static uint64_t ignored_signals(void)
{
	uint64_t set = 0;

	if (fl_state_ignored(&set) == 0)
		return set;
	for (int sig = 1; sig < 65; sig++) {
		struct fl_ksigaction old;

		if (fl_sys_sigaction(sig, NULL, &old) == 0 && old.handler == SIG_IGN)
			set |= 1ull << (sig - 1);
	}
	return set;
}

/* FNV-1a over the supplementary groups and their count; 0 if they could
 * not be read, which then matches only another such caller's key.  Not the
 * list itself: it can hold 65536 groups, too many for a key on the stack. */
static uint64_t groups_digest(void)
{
	gid_t small[64], *g = small;
	uint64_t h = 14695981039346656037ull;
	int n = getgroups(64, small);

	if (n < 0) {
		n = getgroups(0, NULL);
		g = n > 0 ? malloc((size_t)n * sizeof(gid_t)) : NULL;
		if (!g || (n = getgroups(n, g)) < 0) {
			free(g);
			return 0;
		}
	}
	for (int i = 0; i < n; i++)
		h = (h ^ (uint64_t)g[i]) * 1099511628211ull;
	h = (h ^ (uint64_t)n) * 1099511628211ull;
	if (g != small)
		free(g);
	return h;
}

static int make_key(struct key *k, const char *path, char *const *envp)
{
	struct stat st;
	uid_t r, e, s;
	gid_t rg, eg, sg;

	memset(k, 0, sizeof(*k));
	if (stat(path, &st) < 0)
		return -errno;
	fl_primed_file_of(&k->file, &st);
	k->env_hash = hash_env(envp);
	k->ignored = ignored_signals();
	getresuid(&r, &e, &s);
	getresgid(&rg, &eg, &sg);
	k->ids[0] = r, k->ids[1] = e, k->ids[2] = rg, k->ids[3] = eg;
	k->groups = groups_digest();
	k->seccomp = prctl(PR_GET_SECCOMP);
	k->persona = (uint32_t)personality(0xffffffff);
	k->pgid = getpgid(0);
	k->sid = getsid(0);
	getrlimit(RLIMIT_STACK, &k->stack);
	return 0;
}

static bool same_key(const struct key *a, const struct key *b)
{
	return a->env_hash == b->env_hash &&
	       a->ignored == b->ignored && !memcmp(a->ids, b->ids, sizeof(a->ids)) &&
	       a->groups == b->groups &&
	       a->seccomp == b->seccomp && a->persona == b->persona && a->pgid == b->pgid && a->sid == b->sid &&
	       a->stack.rlim_cur == b->stack.rlim_cur && a->stack.rlim_max == b->stack.rlim_max;
}

/* ---- the images --------------------------------------------------------------- */

enum { FREE, NEW, LIVE, REFUSED };

struct image {
	int state;
	int reason;		/* REFUSED: why */
	int refs;		/* spawns using it (not evicted meanwhile) */
	uint64_t used;		/* for LRU */
	unsigned long spawns;	/* children made, for FORKLESS_PRIMED_RENEW */
	int again;		/* primings failed in a row for a limit of the moment */
	char *path;
	char **env;		/* the environment it started with */
	struct key key;
	pid_t pid;
	int pidfd, sock;
	char *files;		/* the ready report's file records */
	uint32_t nfiles;
	pthread_mutex_t lock;	/* one request at a time */
};

/* An entry's state is changed by the spawn that holds its lock and read by
 * lookup under the table's: one word, read and written whole. */
static int state_of(const struct image *im)
{
	return __atomic_load_n(&im->state, __ATOMIC_RELAXED);
}

static void set_state(struct image *im, int state)
{
	__atomic_store_n(&im->state, state, __ATOMIC_RELAXED);
}

static pthread_mutex_t table_lock = PTHREAD_MUTEX_INITIALIZER;
static struct image table[FL_PRIMED_ENTRIES];
static uint64_t clock_tick;


/* Ends an image: EOF makes it exit; then it is reaped. */
static void stop_image(struct image *im)
{
	if (im->sock >= 0)
		close(im->sock);
	if (im->pidfd >= 0) {
		siginfo_t si;

		/* A program still in its start-up may not read the channel yet. */
		if (state_of(im) != LIVE)
			fl_sys_pidfd_send_signal(im->pidfd, SIGKILL);
		while (waitid(P_PIDFD, im->pidfd, &si, WEXITED) < 0 && errno == EINTR)
			;
		close(im->pidfd);
	}
	im->sock = im->pidfd = -1;
	im->pid = -1;
}

static void clear_entry(struct image *im)
{
	free(im->path);
	free(im->env);
	free(im->files);
	im->path = NULL;
	im->env = NULL;
	im->files = NULL;
	im->nfiles = 0;
	im->again = 0;
	set_state(im, FREE);
}

/* After fork: the images are the parent's (their children would be its
 * children), so the child forgets them without touching them. */
static void forget_after_fork(void)
{
	pthread_mutex_init(&table_lock, NULL);
	for (int i = 0; i < FL_PRIMED_ENTRIES; i++) {
		struct image *im = &table[i];

		if (im->sock >= 0)
			close(im->sock);
		if (im->pidfd >= 0)
			close(im->pidfd);
		im->sock = im->pidfd = -1;
		pthread_mutex_init(&im->lock, NULL);
		im->refs = 0;
		clear_entry(im);
	}
}

static pthread_once_t setup = PTHREAD_ONCE_INIT, renew_once = PTHREAD_ONCE_INIT;

static void setup_once(void)
{
	for (int i = 0; i < FL_PRIMED_ENTRIES; i++) {
		table[i].sock = table[i].pidfd = -1;
		pthread_mutex_init(&table[i].lock, NULL);
	}
	pthread_atfork(NULL, NULL, forget_after_fork);
}

/* The entry for KEY (path, environment; the file's identity is checked
 * apart: a program replaced retires its image), made if missing, with a reference
 * taken; NULL if the table is full of busy entries. */
static struct image *lookup(const char *path, char *const *envp, const struct key *key)
{
	struct image *found = NULL, *victim = NULL;
	int live = 0;

	pthread_mutex_lock(&table_lock);
	for (int i = 0; i < FL_PRIMED_ENTRIES; i++) {
		struct image *im = &table[i];

		if (state_of(im) == FREE) {
			if (!victim || state_of(victim) != FREE)
				victim = im;
			continue;
		}
		live += state_of(im) == LIVE;
		if (!found && same_key(&im->key, key) && !strcmp(im->path, path) && same_env(im->env, envp))
			found = im;
		else if (!im->refs && (!victim || (state_of(victim) != FREE && im->used < victim->used)))
			victim = im;
	}
	if (!found && victim) {
		/* Over the cap of live images, the least recently used one goes
		 * (a refused entry costs nothing: those are kept longer). */
		if (state_of(victim) != FREE) {
			stop_image(victim);
			clear_entry(victim);
		} else if (live >= FL_PRIMED_IMAGES) {
			struct image *old = NULL;

			for (int i = 0; i < FL_PRIMED_ENTRIES; i++)
				if (state_of(&table[i]) == LIVE && !table[i].refs && (!old || table[i].used < old->used))
					old = &table[i];
			if (old) {
				stop_image(old);
				clear_entry(old);
			}
		}
		victim->path = strdup(path);
		if (victim->path && fl_vector_copy(envp, &victim->env) == 0) {
			victim->key = *key;
			set_state(victim, NEW);
			found = victim;
		} else {
			clear_entry(victim);
		}
	}
	if (found) {
		found->refs++;
		found->used = ++clock_tick;
	}
	pthread_mutex_unlock(&table_lock);
	return found;
}

static void release(struct image *im)
{
	pthread_mutex_lock(&table_lock);
	im->refs--;
	pthread_mutex_unlock(&table_lock);
}

/* ---- refusals made before priming ------------------------------------------------ */

/* Whether the dynamic symbols of the ELF file FD import NAME. */
static bool imports(int fd, const Elf64_Ehdr *eh, const char *name)
{
	Elf64_Shdr *sh = NULL;
	bool found = false;
	size_t n = eh->e_shnum;

	if (!n || eh->e_shentsize != sizeof(Elf64_Shdr) || n > 4096 || !(sh = malloc(n * sizeof(*sh))) ||
	    pread(fd, sh, n * sizeof(*sh), (off_t)eh->e_shoff) != (ssize_t)(n * sizeof(*sh)))
		goto out;
	for (size_t i = 0; i < n && !found; i++) {
		Elf64_Shdr *str;
		Elf64_Sym *syms;
		char *strs;

		if (sh[i].sh_type != SHT_DYNSYM || sh[i].sh_link >= n || sh[i].sh_size > (64u << 20))
			continue;
		str = &sh[sh[i].sh_link];
		if (str->sh_size > (64u << 20))
			continue;
		syms = malloc(sh[i].sh_size);
		strs = malloc(str->sh_size + 1);
		if (syms && strs && pread(fd, syms, sh[i].sh_size, (off_t)sh[i].sh_offset) == (ssize_t)sh[i].sh_size &&
		    pread(fd, strs, str->sh_size, (off_t)str->sh_offset) == (ssize_t)str->sh_size) {
			strs[str->sh_size] = 0;
			for (size_t k = 0; k < sh[i].sh_size / sizeof(Elf64_Sym); k++)
				if (syms[k].st_shndx == SHN_UNDEF && syms[k].st_name < str->sh_size &&
				    !strcmp(strs + syms[k].st_name, name))
					found = true;
		}
		free(syms);
		free(strs);
	}
out:
	free(sh);
	return found;
}

/* 0 if the program at PATH may be primed, else a FL_PRIMED_* reason. */
static int refuse_file(const char *path)
{
	Elf64_Ehdr eh;
	struct stat st;
	int fd = open(path, O_RDONLY | O_CLOEXEC), reason = FL_PRIMED_STATIC;
	bool interp = false;

	if (fd < 0)
		return errno == EMFILE || errno == ENFILE || errno == ENOMEM ? FL_PRIMED_AGAIN : FL_PRIMED_STATIC;
	if (fstat(fd, &st) < 0 || pread(fd, &eh, sizeof(eh), 0) < 2)
		goto out;
	if (!memcmp(&eh, "#!", 2)) {
		reason = FL_PRIMED_SCRIPT;
		goto out;
	}
	if ((st.st_mode & (S_ISUID | S_ISGID)) || fgetxattr(fd, "security.capability", NULL, 0) > 0) {
		reason = FL_PRIMED_SETID;
		goto out;
	}
	if (memcmp(eh.e_ident, ELFMAG, SELFMAG) || eh.e_ident[EI_CLASS] != ELFCLASS64 || eh.e_machine != EM_X86_64 ||
	    eh.e_phentsize != sizeof(Elf64_Phdr) || eh.e_phnum > 256)
		goto out;
	for (int i = 0; i < eh.e_phnum; i++) {
		Elf64_Phdr ph;

		if (pread(fd, &ph, sizeof(ph), (off_t)(eh.e_phoff + i * sizeof(ph))) != sizeof(ph))
			goto out;
		interp |= ph.p_type == PT_INTERP;
	}
	if (!interp)
		goto out;
	reason = imports(fd, &eh, "__libc_start_main") ? FL_PRIMED_OK : FL_PRIMED_NOT_GLIBC;
out:
	close(fd);
	return reason;
}

/* The image's library: $FORKLESS_PRIMED_LIB, else beside libforkless (or
 * the preload shim), else beside the program (a build tree), else LIBDIR. */
static char lib_path[PATH_MAX];

static bool lib_at(const char *dir, size_t len)
{
	if (len + sizeof("/libforkless-primed.so") > sizeof(lib_path))
		return false;
	snprintf(lib_path, sizeof(lib_path), "%.*s/libforkless-primed.so", (int)len, dir);
	return access(lib_path, R_OK) == 0;
}

static void find_lib(void)
{
	const char *env = getenv("FORKLESS_PRIMED_LIB"), *slash;
	char exe[PATH_MAX];
	Dl_info info;
	ssize_t n;

	if (env && *env && strlen(env) < sizeof(lib_path)) {
		snprintf(lib_path, sizeof(lib_path), "%s", env);
		return;
	}
	if (dladdr((void *)find_lib, &info) && info.dli_fname && (slash = strrchr(info.dli_fname, '/')) &&
	    lib_at(info.dli_fname, (size_t)(slash - info.dli_fname)))
		return;
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n > 0) {
		exe[n] = 0;
		if ((slash = strrchr(exe, '/')) && lib_at(exe, (size_t)(slash - exe)))
			return;
	}
	if (lib_at(FL_LIBDIR, strlen(FL_LIBDIR)))
		return;
	lib_path[0] = 0;
}

static const char *primed_lib(void)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;

	pthread_once(&once, find_lib);
	return lib_path[0] ? lib_path : NULL;
}

/* FORKLESS_PRIMED=name,name,/path: only these programs are primed (a name
 * matches the last part of the path). */
static char *only_list;

static void read_only_list(void)
{
	const char *v = getenv("FORKLESS_PRIMED");

	only_list = v && *v ? strdup(v) : NULL;
}

static bool wanted(const char *path)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	const char *base = strrchr(path, '/'), *p;

	pthread_once(&once, read_only_list);
	if (!only_list)
		return true;
	base = base ? base + 1 : path;
	for (p = only_list; *p;) {
		size_t len = strcspn(p, ",");

		if ((len == strlen(path) && !strncmp(p, path, len)) || (len == strlen(base) && !strncmp(p, base, len)))
			return true;
		p += len + (p[len] == ',');
	}
	return false;
}

/* FORKLESS_PRIMED_RENEW=N: an image makes N children, then a new one is
 * primed (the children of one image share its layout: see the man page).
 * 0 or unset: no bound. */
static unsigned long renew_after;

static void read_renew(void)
{
	const char *v = getenv("FORKLESS_PRIMED_RENEW");

	renew_after = v && *v ? strtoul(v, NULL, 10) : 0;
}

/* One line to $FORKLESS_TRACE when a spawn does not run primed. */
static void trace(const char *path, int reason)
{
	const char *to = getenv("FORKLESS_TRACE");
	char line[PATH_MAX + 128];
	int fd, len, saved = errno;

	if (!to || !*to)
		return;
	len = snprintf(line, sizeof(line), "forkless-primed: %s: %s: clone engine used\n", path, reasons[reason]);
	if (len >= (int)sizeof(line))
		len = sizeof(line) - 1;
	fd = open(to, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
	if (fd >= 0) {
		ssize_t w = write(fd, line, (size_t)len);

		(void)w;
		close(fd);
	}
	errno = saved;
}

/* ---- priming ------------------------------------------------------------------------ */

/* Waits for the image's ready report; 0 or a FL_PRIMED_* reason. */
static int wait_ready(struct image *im)
{
	struct pollfd p = { im->sock, POLLIN, 0 };
	struct fl_primed_ready r;
	char *buf = malloc(FL_PRIMED_READY_MAX);
	ssize_t n;
	int ret;

	if (!buf)
		return FL_PRIMED_NO_READY;
	do
		ret = poll(&p, 1, READY_TIMEOUT_MS);
	while (ret < 0 && errno == EINTR);
	n = ret > 0 ? recv(im->sock, buf, FL_PRIMED_READY_MAX, MSG_DONTWAIT) : -1;
	if (n < (ssize_t)sizeof(r)) {
		free(buf);
		return FL_PRIMED_NO_READY;
	}
	memcpy(&r, buf, sizeof(r));
	if (r.magic != FL_PRIMED_MAGIC || r.reason < 0 || r.reason >= FL_PRIMED_NREASONS) {
		free(buf);
		return FL_PRIMED_NO_READY;
	}
	if (r.reason) {
		free(buf);
		return r.reason;
	}
	im->nfiles = r.nfiles;
	im->files = malloc((size_t)n - sizeof(r) + 1);
	if (!im->files) {
		free(buf);
		return FL_PRIMED_NO_FILES;
	}
	memcpy(im->files, buf + sizeof(r), (size_t)n - sizeof(r));
	free(buf);
	return 0;
}

/* Whether the image that sent no ready report was killed by a signal (a
 * limit of the moment, RLIMIT_AS, a signal sent to it) rather than refusing
 * or running on without our library. */
static bool killed(const struct image *im)
{
	struct pollfd p = { im->pidfd, POLLIN, 0 };
	siginfo_t si = { 0 };

	if (im->pidfd < 0 || poll(&p, 1, 100) <= 0 ||
	    waitid(P_PIDFD, (id_t)im->pidfd, &si, WEXITED | WNOHANG | WNOWAIT) < 0)
		return false;
	return si.si_code == CLD_KILLED || si.si_code == CLD_DUMPED;
}

/* Starts the image of IM (its path and environment) on the clone engine:
 * argv is the program's name alone (what its constructors see), fds 0-2
 * are /dev/null (a caller's pipe must not stay open for as long as the
 * image lives), the channel is fd 3, every signal is blocked.  0, or a
 * FL_PRIMED_* reason (FL_PRIMED_AGAIN: a limit of the moment, not the
 * program's). */
static int prime(struct image *im, const char *argv0)
{
	const char *lib = primed_lib();
	char *argv[2] = { (char *)argv0, NULL }, **envp = NULL, chan[64], *preload = NULL;
	fl_spec *spec = NULL;
	fl_actions *acts;
	fl_child child;
	size_t n = 0;
	int sv[2] = { -1, -1 }, reason = FL_PRIMED_AGAIN;
	sigset_t all;

	if (!lib)
		return FL_PRIMED_NO_LIB;
	sigfillset(&all);
	while (im->env[n])
		n++;
	envp = calloc(n + 3, sizeof(char *));
	if (!envp || fl_spec_new(&spec) < 0 || socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
		goto out;
	/* Our library first in LD_PRELOAD, the caller's own after it. */
	n = 0;
	for (char **e = im->env; *e; e++) {
		if (!strncmp(*e, "LD_PRELOAD=", 11)) {
			if (asprintf(&preload, "LD_PRELOAD=%s %s", lib, *e + 11) < 0)
				goto out;
			continue;
		}
		envp[n++] = *e;
	}
	if (!preload && asprintf(&preload, "LD_PRELOAD=%s", lib) < 0) {
		preload = NULL;
		goto out;
	}
	envp[n++] = preload;
	snprintf(chan, sizeof(chan), "%s%d", FL_PRIMED_ENV, FL_PRIMED_CHANNEL);
	envp[n++] = chan;
	envp[n] = NULL;
	acts = fl_spec_actions(spec);
	if (fl_spec_set_path(spec, im->path) < 0 || fl_spec_set_argv(spec, argv) < 0 ||
	    fl_spec_set_envp(spec, envp) < 0 || fl_spec_set_engine(spec, FL_ENGINE_CLONE) < 0 ||
	    fl_act_open(acts, 0, "/dev/null", O_RDONLY, 0, 0) < 0 ||
	    fl_act_open(acts, 1, "/dev/null", O_WRONLY, 0, 0) < 0 ||
	    fl_act_open(acts, 2, "/dev/null", O_WRONLY, 0, 0) < 0 ||
	    fl_act_dup2(acts, sv[1], FL_PRIMED_CHANNEL, 0) < 0 ||
	    fl_act_closefrom(acts, FL_PRIMED_CHANNEL + 1, 0) < 0 ||
	    /* No signal sent to the caller's group kills it in its start
	     * (each child gets the spawn's mask). */
	    fl_act_sigmask(acts, &all, 0) < 0)
		goto out;
	/* The parent-death signal follows the thread that made the child: only
	 * the main thread's ending is the caller's. */
	if (syscall(SYS_gettid) == getpid() && fl_act_pdeathsig(acts, SIGKILL, 0) < 0)
		goto out;
	if (fl_spawn(spec, NULL, &child, NULL) < 0)
		goto out;
	close(sv[1]);
	sv[1] = -1;
	im->sock = sv[0];
	sv[0] = -1;
	im->pid = child.pid;
	im->pidfd = child.pidfd;
	reason = wait_ready(im);
	if (reason == FL_PRIMED_NO_READY && killed(im))
		reason = FL_PRIMED_AGAIN;
out:
	if (sv[0] >= 0)
		close(sv[0]);
	if (sv[1] >= 0)
		close(sv[1]);
	fl_spec_free(spec);
	free(preload);
	free(envp);
	return reason;
}

/* False if a file the image maps changed on disk since it started. */
static bool files_same(const struct image *im)
{
	const char *p = im->files;

	for (uint32_t i = 0; i < im->nfiles; i++) {
		struct fl_primed_file was, now;
		struct stat st;

		memcpy(&was, p, sizeof(was));
		if (stat(p + sizeof(was), &st) < 0)
			return false;
		fl_primed_file_of(&now, &st);
		now.path_len = was.path_len;
		if (!fl_primed_file_same(&was, &now))
			return false;
		p += sizeof(was) + was.path_len;
	}
	return true;
}

/* ---- a spawn --------------------------------------------------------------------------- */

/* The program a spawn would run: the template's path, or for a PATH search
 * whose first candidate is not runnable (posix_spawnp leaves the search to
 * the child), the entry the search finds now, in FOUND.  NULL if none. */
static const char *program_of(const struct fl_spec *spec, char *found)
{
	size_t off = spec->search_next;
	bool eacces = false;

	if (!spec->search || !fl_search_probe(spec->path))
		return spec->path;
	if (off == FL_SEARCH_END || fl_search_path(spec->search, &off, spec->file, found, &eacces) < 0)
		return NULL;
	return found;
}

/* Why a spawn cannot be primed whatever the program; 0 if it can be. */
/* Whether a step of ACTS changes what the program's exec and start would
 * see, which its image saw as the caller's: the credentials, the
 * namespaces, the stack limit (the layout), and for a RELATIVE path the
 * directory it is found in.  (posix_spawn's RESETIDS, which GNU make asks
 * for, changes nothing here: a caller whose real and effective ids differ
 * is refused before.) */
static bool steps_change_start(const struct fl_actions *acts, bool relative)
{
	unsigned ops = 1u << FL_OP_SETUID | 1u << FL_OP_SETGID | 1u << FL_OP_SETGROUPS | 1u << FL_OP_UNSHARE;

	if (!acts)
		return false;
	if (relative)
		ops |= 1u << FL_OP_CHDIR | 1u << FL_OP_FCHDIR;
	if (acts->ops & ops)
		return true;
	for (int i = 0; (acts->ops & 1u << FL_OP_RLIMIT) && i < acts->n; i++)
		if (acts->v[i].op == FL_OP_RLIMIT && acts->v[i].arg == RLIMIT_STACK)
			return true;
	return false;
}

static int refuse_job(const struct fl_job *job, const char *path)
{
	if (job->spec->exec_fd >= 0 || !job->spec->path)
		return FL_PRIMED_TEMPLATE;
	if (!path)
		return FL_PRIMED_NOT_FOUND;
	if (!wanted(path))
		return FL_PRIMED_NOT_LISTED;
	if (steps_change_start(job->acts[0], path[0] != '/') || steps_change_start(job->acts[1], path[0] != '/'))
		return FL_PRIMED_STEPS;
	return 0;
}

/* The clone engine makes the child instead (fl_engine_run). */
static int fall_back(struct fl_job *job, const char *path, int reason)
{
	trace(path ? path : job->spec->file ? job->spec->file : "(fd)", reason);
	return FL_ENGINE_CLONE;
}

FL_API void fl_primed_stop(void)
{
	pthread_once(&setup, setup_once);
	pthread_mutex_lock(&table_lock);
	for (int i = 0; i < FL_PRIMED_ENTRIES; i++)
		if (state_of(&table[i]) != FREE && !table[i].refs) {
			stop_image(&table[i]);
			clear_entry(&table[i]);
		}
	pthread_mutex_unlock(&table_lock);
}

int fl_engine_primed(struct fl_job *job, fl_child *child)
{
	char found[PATH_MAX];
	const char *path = job->spec->exec_fd < 0 && job->spec->path ? program_of(job->spec, found) : NULL;
	struct image *im;
	struct key key;
	struct zreply rep;
	int reason = refuse_job(job, path), ret, pidfd = -1, cancel;

	if (reason)
		return fall_back(job, path, reason);
	pthread_once(&setup, setup_once);
	if (make_key(&key, path, job->envp) < 0)
		return fall_back(job, path, FL_PRIMED_STATIC);
	im = lookup(path, job->envp, &key);
	if (!im)
		return fall_back(job, path, FL_PRIMED_NO_READY);
	/* A cancellation inside the exchange would leave the protocol half
	 * way: not here. */
	pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &cancel);
	pthread_mutex_lock(&im->lock);
	if (!fl_primed_file_same(&im->key.file, &key.file)) {
		/* The program replaced on disk: its image or refusal retires. */
		stop_image(im);
		free(im->files);
		im->files = NULL;
		set_state(im, NEW);
		im->key.file = key.file;
	}
	pthread_once(&renew_once, read_renew);
	for (int attempt = 0;; attempt++) {
		if (state_of(im) == LIVE && (!files_same(im) || (renew_after && im->spawns >= renew_after))) {
			/* A program or library replaced on disk, or the image
			 * made FORKLESS_PRIMED_RENEW children: a new image. */
			stop_image(im);
			free(im->files);
			im->files = NULL;
			set_state(im, NEW);
		}
		if (state_of(im) == NEW) {
			reason = refuse_file(path);
			if (!reason && (key.ids[0] != key.ids[1] || key.ids[2] != key.ids[3]))
				reason = FL_PRIMED_SETID;	/* the loader would run in secure mode */
			if (!reason)
				reason = prime(im, job->argv[0] ? job->argv[0] : path);
			if (reason) {
				stop_image(im);
				/* A limit of the moment is not the program's: asked
				 * again next time, but not for ever. */
				im->again = reason == FL_PRIMED_AGAIN ? im->again + 1 : 0;
				set_state(im, reason == FL_PRIMED_AGAIN && im->again < AGAIN_MAX ? NEW : REFUSED);
				im->reason = reason;
			} else {
				set_state(im, LIVE);
				im->spawns = 0;
				im->again = 0;
			}
		}
		if (state_of(im) != LIVE) {
			reason = im->reason;
			pthread_mutex_unlock(&im->lock);
			release(im);
			pthread_setcancelstate(cancel, NULL);
			return fall_back(job, path, reason);
		}
		ret = fl_zreq_send(job, im->sock, &rep, &pidfd);
		im->spawns++;
		if (attempt || !(ret == -EPIPE || ret == -ECONNRESET || (ret == 0 && rep.error == ZRESTART)))
			break;
		/* The image died (killed, out of memory), or cannot give this
		 * caller's state (seccomp filters added since): a new one, once. */
		stop_image(im);
		free(im->files);
		im->files = NULL;
		set_state(im, NEW);
	}
	pthread_mutex_unlock(&im->lock);
	release(im);
	pthread_setcancelstate(cancel, NULL);
	if (ret < 0)
		return ret;
	return fl_zreq_outcome(job, child, &rep, pidfd);
}
