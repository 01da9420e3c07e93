// SPDX-License-Identifier: MIT
/*
 * The primed image: build/libforkless-primed.so, preloaded into a program
 * that the primed engine (engine-primed.c) execs once, as the caller's child.
 * It replaces the program's main with its own (by interposing
 * __libc_start_main), so glibc loads and links everything and runs every
 * constructor as for any start, and then, where main would run, the image
 * parks: it checks that it can be copied safely, reports ready on the
 * channel the caller gave it, and serves requests.  For each one it makes a
 * child that is the caller's own child (CLONE_PARENT); the child takes the
 * caller's state and the spawn's actions, then enters the program's real
 * main with the spawn's argv and environment, and exits with what it
 * returns.  What a child still differs in from the program exec'd is the
 * table in forkless-primed(7).
 *
 * Nothing happens at load (no constructor): without FORKLESS_PRIMED_IMAGE in
 * the environment __libc_start_main only passes through.  x86_64 only: the
 * canary is the thread's (fs:0x28) there, a global of ld.so elsewhere.
 *
 * Rules: this file is built without stack protector (see the Makefile): the
 * child changes the canary under the frames of the image (ours, and glibc's
 * start-up, which never returns).
 */
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include "internal.h"
#include "primed.h"
#include "sys.h"
#include "zygote.h"

#ifndef __x86_64__
#error "the primed image renews the stack protector canary at fs:0x28 (x86_64)"
#endif

typedef int (*main_fn)(int, char **, char **);
typedef int (*start_fn)(main_fn, int, char **, void (*)(void), void (*)(void), void (*)(void), void *);

extern char **environ;

/* What the image learnt about itself at the park, for every child. */
static struct {
	main_fn main;		/* the program's */
	int channel;		/* the socket to the caller */
	long tid_off;		/* of the thread's tid in glibc's thread descriptor */
	void *robust;		/* glibc's robust mutex list head, and its size */
	size_t robust_len;
	char *stack;		/* where main's frame goes on the main stack */
	struct prctl_mm_map mm;	/* the process's layout for PR_SET_MM_MAP */
} park;

/* ---- the start: glibc calls us instead of main ---------------------------- */

static int park_main(int argc, char **argv, char **envp);
static int enter(struct fl_job *job);

/* Takes our variables out of the environment the program sees: ours, and
 * our library at the head of LD_PRELOAD (the rest of it was the caller's). */
static int take_env(char **envp)
{
	size_t pre = sizeof(FL_PRIMED_ENV) - 1, lp = sizeof("LD_PRELOAD=") - 1;
	int fd = -1, out = 0;

	for (int i = 0; envp[i]; i++) {
		char *e = envp[i];

		if (!strncmp(e, FL_PRIMED_ENV, pre)) {
			fd = atoi(e + pre);
			continue;
		}
		if (!strncmp(e, "LD_PRELOAD=", lp)) {
			/* Ours is the first word; a second word was the caller's. */
			char *rest = strchr(e + lp, ' ');

			if (!rest)
				continue;
			memmove(e + lp, rest + 1, strlen(rest + 1) + 1);
		}
		envp[out++] = e;
	}
	envp[out] = NULL;
	return fd;
}

/* glibc's entry, interposed: the same arguments, our main. */
__attribute__((visibility("default"))) int __libc_start_main(main_fn main, int argc, char **argv,
							     void (*init)(void), void (*fini)(void),
							     void (*rtld_fini)(void), void *stack_end);
__attribute__((visibility("default"))) int __libc_start_main(main_fn main, int argc, char **argv,
							     void (*init)(void), void (*fini)(void),
							     void (*rtld_fini)(void), void *stack_end)
{
	start_fn real = (start_fn)dlsym(RTLD_NEXT, "__libc_start_main");

	park.channel = take_env(argv + argc + 1);
	park.main = main;
	if (!real)
		_exit(127);
	return real(park.channel >= 0 ? park_main : main, argc, argv, init, fini, rtld_fini, stack_end);
}

/* ---- the checks, once, at the park ----------------------------------------- */

static long thread_pointer(void)
{
	long tp;

	__asm__("mov %%fs:0, %0" : "=r"(tp));
	return tp;
}

/* glibc's own description of its thread descriptor for libthread_db, where
 * exported (GLIBC_PRIVATE): { bits, count, offset } of a field. */
static const uint32_t *thread_db(const char *name)
{
	return dlvsym(RTLD_DEFAULT, name, "GLIBC_PRIVATE");
}

/* The offset of the thread's tid in glibc's descriptor (the field glibc's
 * fork has the kernel write with CLONE_CHILD_SETTID): the one place in the
 * descriptor that holds our tid, which in a single-threaded process is the
 * pid.  Found by looking, and checked against libthread_db's description
 * where glibc exports it; -1 unless found exactly once and both agree. */
static long find_tid(void)
{
	const uint32_t *size = thread_db("_thread_db_sizeof_pthread"), *desc = thread_db("_thread_db_pthread_tid");
	const char *tp = (const char *)thread_pointer();
	size_t len = size && *size <= 16384 ? *size : 1024;
	int tid = (int)fl_sys0(__NR_gettid);
	long found = -1;

	for (size_t off = 0; off + sizeof(int) <= len; off += sizeof(int)) {
		int v;

		memcpy(&v, tp + off, sizeof(v));
		if (v != tid)
			continue;
		if (found >= 0)
			return -1;
		found = (long)off;
	}
	if (found >= 0 && desc && (desc[0] != 32 || desc[2] != (uint32_t)found))
		return -1;
	return found;
}

/* The layout fields of /proc/self/stat (proc(5): 26-28 and 45-51) that
 * PR_SET_MM_MAP takes back whole. */
static int read_layout(struct prctl_mm_map *mm)
{
	char buf[2048], *p;
	unsigned long long v[52] = { 0 };
	int fd = open("/proc/self/stat", O_RDONLY | O_CLOEXEC), field;
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -EIO;
	buf[n] = 0;
	/* The name (field 2) may hold spaces and parentheses: start after the last ')'. */
	p = strrchr(buf, ')');
	if (!p)
		return -EIO;
	for (field = 3, p++; field < 52 && *p; field++) {
		while (*p == ' ')
			p++;
		v[field] = strtoull(p, NULL, 10);	/* 0 for the state letter (field 3) */
		while (*p && *p != ' ')
			p++;
	}
	if (field < 52)
		return -EIO;
	*mm = (struct prctl_mm_map){
		.start_code = v[26], .end_code = v[27], .start_stack = v[28],
		.start_data = v[45], .end_data = v[46], .start_brk = v[47],
		.arg_start = v[48], .arg_end = v[49], .env_start = v[50], .env_end = v[51],
		.exe_fd = (uint32_t)-1,
	};
	return 0;
}

/* Sets the process's argument and environment areas to [A, A+ALEN) and
 * [E, E+ELEN): what /proc/PID/cmdline and environ (and ps) show. */
static int set_areas(char *a, size_t alen, char *e, size_t elen)
{
	struct prctl_mm_map mm = park.mm;

	mm.brk = (uint64_t)fl_sys1(__NR_brk, 0);
	mm.arg_start = (uintptr_t)a;
	mm.arg_end = (uintptr_t)(a + alen);
	mm.env_start = (uintptr_t)e;
	mm.env_end = (uintptr_t)(e + elen);
	return (int)fl_sys5(__NR_prctl, PR_SET_MM, PR_SET_MM_MAP, &mm, sizeof(mm), 0);
}

static int count_threads(void)
{
	char buf[4096], *p;
	int fd = open("/proc/self/status", O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -1;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = 0;
	p = strstr(buf, "\nThreads:");
	return p ? atoi(p + 9) : -1;
}

/* True if the program holds no fd but 0, 1, 2 and the channel: a fd a
 * constructor opened would be shared by every child. */
static bool only_our_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *ent;
	bool ok = true;

	if (!d)
		return false;
	while ((ent = readdir(d))) {
		int fd = atoi(ent->d_name);

		if (ent->d_name[0] == '.' || fd <= 2 || fd == park.channel || fd == dirfd(d))
			continue;
		ok = false;
	}
	closedir(d);
	return ok;
}

/* The files the image maps (the program, the loader, the libraries), for
 * the caller, which retires the image when one is replaced.  Appended to
 * the ready report after its header; returns the new length. */
static size_t list_files(char *buf, size_t len, size_t used, uint32_t *count)
{
	FILE *maps = fopen("/proc/self/maps", "re");
	char line[PATH_MAX + 128], last[PATH_MAX] = "";

	if (!maps)
		return 0;
	while (fgets(line, sizeof(line), maps)) {
		char *path = strchr(line, '/');
		struct fl_primed_file f;
		struct stat st;
		size_t plen;

		if (!path)
			continue;
		path[strcspn(path, "\n")] = 0;
		if (!strcmp(path, last))
			continue;
		snprintf(last, sizeof(last), "%s", path);
		plen = strlen(path) + 1;
		/* A mapping of a file replaced meanwhile says " (deleted)": no stat matches. */
		if (stat(path, &st) < 0 || used + sizeof(f) + plen > len) {
			fclose(maps);
			return 0;
		}
		fl_primed_file_of(&f, &st);
		f.path_len = (uint32_t)plen;
		memcpy(buf + used, &f, sizeof(f));
		memcpy(buf + used + sizeof(f), path, plen);
		used += sizeof(f) + plen;
		(*count)++;
	}
	fclose(maps);
	return used;
}

/* True if the program maps nothing shared: a shared mapping made before
 * main (glibc's test harness makes one to count failures across fork)
 * would be shared by every child, where each program exec'd has its own. */
static bool only_private_maps(void)
{
	FILE *maps = fopen("/proc/self/maps", "re");
	char line[PATH_MAX + 128], perm[5];
	bool ok = maps != NULL;

	while (ok && fgets(line, sizeof(line), maps))
		ok = sscanf(line, "%*x-%*x %4s", perm) != 1 || perm[3] != 's';
	if (maps)
		fclose(maps);
	return ok;
}

/* The checks; 0, or the FL_PRIMED_NO_* reason to refuse. */
static int check(void)
{
	struct prctl_mm_map mm;

	if (count_threads() != 1)
		return FL_PRIMED_NO_THREADS;
	if (!only_our_fds())
		return FL_PRIMED_NO_FDS;
	if (!only_private_maps())
		return FL_PRIMED_NO_SHARED;
	if ((park.tid_off = find_tid()) < 0)
		return FL_PRIMED_NO_TID;
	if (fl_sys3(__NR_get_robust_list, 0, &park.robust, &park.robust_len) < 0)
		return FL_PRIMED_NO_TID;
	/* The layout is read now and given back as it is by each child; a
	 * kernel without PR_SET_MM_MAP (CONFIG_CHECKPOINT_RESTORE) fails the
	 * same call here. */
	if (read_layout(&park.mm) < 0)
		return FL_PRIMED_NO_MM;
	mm = park.mm;
	mm.brk = (uint64_t)fl_sys1(__NR_brk, 0);
	if (fl_sys5(__NR_prctl, PR_SET_MM, PR_SET_MM_MAP, &mm, sizeof(mm), 0) < 0)
		return FL_PRIMED_NO_MM;
	return 0;
}

/* Reports ready (with the files mapped) or the reason for refusing. */
static int report(int reason)
{
	static char buf[FL_PRIMED_READY_MAX];
	struct fl_primed_ready r = { .magic = FL_PRIMED_MAGIC, .reason = reason };
	size_t len = sizeof(r);

	if (!reason) {
		len = list_files(buf, sizeof(buf), sizeof(r), &r.nfiles);
		if (!len) {
			r.reason = reason = FL_PRIMED_NO_FILES;
			r.nfiles = 0;
			len = sizeof(r);
		}
	}
	memcpy(buf, &r, sizeof(r));
	if (send(park.channel, buf, len, MSG_NOSIGNAL) != (ssize_t)len)
		return -1;
	return reason ? -1 : 0;
}

/* main, as glibc calls it in the image: after every constructor, on the
 * main stack, with nothing of the program's on it yet. */
static int park_main(int argc, char **argv, char **envp)
{
	char here;

	(void)argc;
	(void)argv;
	(void)envp;
	/* The child's main gets its frame below ours, with room for the
	 * few words between (16-byte aligned, as the ABI wants at a call). */
	park.stack = (char *)(((uintptr_t)&here - 256) & ~(uintptr_t)15);
	if (report(check()) < 0)
		_exit(0);
	/* The zygote's loop; the spawn that made the image set its parent-death
	 * signal where the caller wanted one. */
	fl_zygote_main(park.channel, getppid(), false, enter);
}

/* ---- the child: from a copy of the image to the program's main ----------- */

/* Runs FN(ARG) with the stack pointer at SP; never returns. */
static __attribute__((noreturn)) void call_on_stack(char *sp, void (*fn)(void *), void *arg)
{
	__asm__ volatile("mov %0, %%rsp\n\t"
			 "xor %%ebp, %%ebp\n\t"
			 "call *%1\n\t"
			 "hlt"
			 :
			 : "r"(sp), "r"(fn), "D"(arg)
			 : "memory");
	__builtin_unreachable();
}

/* Copies the strings of V one after another to AT; the pointers to OUT. */
static char *lay_out(char *at, char *const *v, int n, char **out)
{
	for (int i = 0; i < n; i++) {
		size_t len = strlen(v[i]) + 1;

		memcpy(at, v[i], len);
		out[i] = at;
		at += len;
	}
	out[n] = NULL;
	return at;
}

static size_t strings_len(char *const *v, int *n)
{
	size_t len = 0;

	for (*n = 0; v[*n]; (*n)++)
		len += strlen(v[*n]) + 1;
	return len;
}

/* What main needs, in the child's own memory: the request it came from
 * may sit in frames of the main stack that main's frame will cover. */
static struct {
	int argc;
	char **argv, **envp;
	uint64_t mask;
	int report_fd;
} entry;

/* A failure before main: reported as the exec's would be, then exit 127
 * (the caller reaps the child). */
static __attribute__((noreturn)) void fail(int report_fd, int err)
{
	struct fl_slot rep = { -err, FL_STEP_EXEC };

	fl_sys_write(report_fd, &rep, sizeof(rep));
	fl_sys_exit(127);
}

/* Lays argv and the environment out in one new anonymous area and makes
 * it the process's argument and environment areas (/proc/PID/cmdline and
 * environ, ps): the strings first, then the vectors main gets. */
static int lay_out_args(char *const *av, char *const *ev)
{
	int argc, envc;
	size_t alen = strings_len(av, &argc), elen = strings_len(ev, &envc);
	size_t strings = (alen + elen + 7) & ~(size_t)7;
	size_t size = strings + (size_t)(argc + envc + 2) * sizeof(char *);
	char *area = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (area == MAP_FAILED)
		return -ENOMEM;
	entry.argc = argc;
	entry.argv = (char **)(area + strings);
	entry.envp = entry.argv + argc + 1;
	lay_out(area, av, argc, entry.argv);
	lay_out(area + alen, ev, envc, entry.envp);
	/* A kernel that refuses leaves the image's: checked at the park. */
	set_areas(area, alen, area + alen, elen);
	return 0;
}

/* On the main stack, in the child: glibc's names for argv and the
 * environment, the report (EOF: started), the spawn's mask, main. */
static __attribute__((noreturn)) void enter_main(void *arg)
{
	char *slash;

	(void)arg;
	environ = entry.envp;
	program_invocation_name = entry.argc ? entry.argv[0] : (char *)"";
	slash = strrchr(program_invocation_name, '/');
	program_invocation_short_name = slash ? slash + 1 : program_invocation_name;
	fl_sys_close(entry.report_fd);
	fl_sys_sigprocmask(SIG_SETMASK, (const sigset_t *)&entry.mask, NULL);
	exit(park.main(entry.argc, entry.argv, entry.envp));
}

/* What exec would do to the fd table: close every close-on-exec fd (the
 * caller's ones the request kept in their places, the report pipe's
 * neighbours) but KEEP, the report, closed once main is entered.  Raw
 * syscalls, as child.c's close_from: the listing is read again from the
 * top after a pass that closed something. */
static int close_on_exec(int keep)
{
	char buf[1024];
	int dir = fl_sys_openat(AT_FDCWD, "/proc/self/fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0), closed;
	struct rlimit was, room;
	bool raised = false;
	long n;

	if (dir == -EMFILE && fl_sys4(__NR_prlimit64, 0, RLIMIT_NOFILE, NULL, &was) == 0 &&
	    was.rlim_cur < was.rlim_max) {
		/* The steps took the last number (exec needs none): room for
		 * the listing, given back after. */
		room = was;
		room.rlim_cur++;
		raised = fl_sys4(__NR_prlimit64, 0, RLIMIT_NOFILE, &room, NULL) == 0;
		dir = fl_sys_openat(AT_FDCWD, "/proc/self/fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
	}
	if (dir < 0)
		return dir;
	do {
		closed = 0;
		fl_sys3(__NR_lseek, dir, 0, SEEK_SET);
		while ((n = fl_sys3(__NR_getdents64, dir, buf, sizeof(buf))) > 0)
			for (long off = 0; off < n;) {
				int fd = fl_dirent_fd(buf, &off);

				if (fd >= 0 && fd != dir && fd != keep && fl_sys_fcntl(fd, F_GETFD, 0) > 0 &&
				    fl_sys_close(fd) == 0)
					closed++;
			}
	} while (closed && n == 0);
	fl_sys_close(dir);
	if (raised)
		fl_sys4(__NR_prlimit64, 0, RLIMIT_NOFILE, &was, NULL);
	return n < 0 ? (int)n : 0;
}

/*
 * The child's way into main, run by child.c once the caller's state and the
 * spawn's steps are taken (fl_job.hook; never returns).  First glibc's
 * per-thread state, which a raw clone leaves as the image's and glibc's
 * fork would have fixed; raw syscalls until then:
 * - the tid in the thread descriptor (mutexes, raise, pthread_kill use it);
 * - the robust mutex list: the kernel gives a new process none;
 * - the stack protector canary, renewed so that children of one image do
 *   not share it: only the image's frames, which never return, were
 *   entered with the old one.
 * pthread_atfork handlers do not run: an exec'd program runs none either
 * (what that leaves shared is in forkless-primed(7)).
 */
static int enter(struct fl_job *job)
{
	uint64_t canary;
	int ret;

	*(int *)(thread_pointer() + park.tid_off) = (int)fl_sys0(__NR_gettid);
	fl_sys2(__NR_set_robust_list, park.robust, park.robust_len);
	if (fl_sys3(__NR_getrandom, &canary, sizeof(canary), 0) != sizeof(canary))
		fail(job->report_fd, -EIO);
	/* glibc's rule: the low byte is zero, so a string overflow stops at it. */
	canary &= ~(uint64_t)0xff;
	__asm__ volatile("mov %0, %%fs:0x28" : : "r"(canary) : "memory");
	if ((ret = close_on_exec(job->report_fd)) < 0 || (ret = lay_out_args(job->argv, job->envp)) < 0)
		fail(job->report_fd, ret);
	entry.mask = job->mask;
	entry.report_fd = job->report_fd;
	call_on_stack(park.stack, enter_main, NULL);
}
