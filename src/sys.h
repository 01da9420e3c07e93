/* SPDX-License-Identifier: MIT */
/*
 * Raw system calls and the kernel constants the build headers (Linux 6.1) may
 * lack.  The only place in forkless that issues a syscall by number.
 *
 * These wrappers return -errno and never touch errno: the child side runs on
 * the parent's thread pointer (CLONE_VM), so writing errno would write the
 * parent's memory.
 */
#ifndef FL_SYS_H
#define FL_SYS_H

#include <fcntl.h>
#include <linux/prctl.h>
#include <linux/sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <unistd.h>

/* ---- constants older headers lack --------------------------------------- */
#ifndef CLONE_PIDFD
#define CLONE_PIDFD 0x00001000
#endif
#ifndef CLONE_CLEAR_SIGHAND
#define CLONE_CLEAR_SIGHAND 0x100000000ULL
#endif
#ifndef CLONE_INTO_CGROUP
#define CLONE_INTO_CGROUP 0x200000000ULL
#endif
#ifndef P_PIDFD
#define P_PIDFD 3
#endif
#ifndef __NR_pidfd_send_signal
#define __NR_pidfd_send_signal 424
#endif
#ifndef __NR_pidfd_open
#define __NR_pidfd_open 434
#endif
#ifndef __NR_clone3
#define __NR_clone3 435
#endif
#ifndef __NR_close_range
#define __NR_close_range 436
#endif
#ifndef __NR_io_uring_setup
#define __NR_io_uring_setup 425
#endif
#ifndef __NR_io_uring_enter
#define __NR_io_uring_enter 426
#endif
#ifndef __NR_io_uring_register
#define __NR_io_uring_register 427
#endif
/* io_uring opcodes newer than the build headers' enum io_uring_op: WAITID
 * (Linux 6.7) is 50, after READ_MULTISHOT (49) in include/uapi/linux/io_uring.h. */
#define FL_IORING_OP_WAITID 50
#ifndef AT_EMPTY_PATH
#define AT_EMPTY_PATH 0x1000
#endif
#ifndef PR_SET_NO_NEW_PRIVS
#define PR_SET_NO_NEW_PRIVS 38
#endif
/* PIDFD_GET_INFO (Linux 6.13) and PIDFD_INFO_EXIT (6.15) */
#ifndef PIDFD_INFO_EXIT
#define PIDFD_INFO_EXIT (1UL << 3)
#endif

/* struct clone_args as of Linux 5.7 (CLONE_ARGS_SIZE_VER2), named our way so
 * it cannot clash with a newer header's. */
struct fl_clone_args {
	uint64_t flags;
	uint64_t pidfd;
	uint64_t child_tid;
	uint64_t parent_tid;
	uint64_t exit_signal;
	uint64_t stack;
	uint64_t stack_size;
	uint64_t tls;
	uint64_t set_tid;
	uint64_t set_tid_size;
	uint64_t cgroup;
};

/* The kernel's sigset: 64 signals on every arch we build for. */
#define FL_KSIGSET_SIZE 8

/* ---- the syscall instruction --------------------------------------------- */
#if defined(__x86_64__)
static inline long fl_sys6(long n, long a, long b, long c, long d, long e, long f)
{
	long ret;
	register long r10 __asm__("r10") = d;
	register long r8 __asm__("r8") = e;
	register long r9 __asm__("r9") = f;
	__asm__ volatile("syscall"
			 : "=a"(ret)
			 : "a"(n), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8), "r"(r9)
			 : "rcx", "r11", "memory");
	return ret;
}
#elif defined(__aarch64__)
static inline long fl_sys6(long n, long a, long b, long c, long d, long e, long f)
{
	register long x8 __asm__("x8") = n;
	register long x0 __asm__("x0") = a;
	register long x1 __asm__("x1") = b;
	register long x2 __asm__("x2") = c;
	register long x3 __asm__("x3") = d;
	register long x4 __asm__("x4") = e;
	register long x5 __asm__("x5") = f;
	__asm__ volatile("svc 0"
			 : "+r"(x0)
			 : "r"(x8), "r"(x1), "r"(x2), "r"(x3), "r"(x4), "r"(x5)
			 : "memory", "cc");
	return x0;
}
#else
#error "forkless: add this architecture's syscall instruction to src/sys.h"
#endif

#define fl_sys0(n) fl_sys6((n), 0, 0, 0, 0, 0, 0)
#define fl_sys1(n, a) fl_sys6((n), (long)(a), 0, 0, 0, 0, 0)
#define fl_sys2(n, a, b) fl_sys6((n), (long)(a), (long)(b), 0, 0, 0, 0)
#define fl_sys3(n, a, b, c) fl_sys6((n), (long)(a), (long)(b), (long)(c), 0, 0, 0)
#define fl_sys4(n, a, b, c, d) fl_sys6((n), (long)(a), (long)(b), (long)(c), (long)(d), 0, 0)
#define fl_sys5(n, a, b, c, d, e) \
	fl_sys6((n), (long)(a), (long)(b), (long)(c), (long)(d), (long)(e), 0)

/* ---- named wrappers -------------------------------------------------------- */
static inline int fl_sys_close(int fd) { return (int)fl_sys1(__NR_close, fd); }
static inline int fl_sys_dup3(int o, int n, int f) { return (int)fl_sys3(__NR_dup3, o, n, f); }
static inline int fl_sys_fcntl(int fd, int cmd, long arg) { return (int)fl_sys3(__NR_fcntl, fd, cmd, arg); }
static inline int fl_sys_openat(int dfd, const char *p, int fl, int mode)
{
	return (int)fl_sys4(__NR_openat, dfd, p, fl, mode);
}
static inline long fl_sys_write(int fd, const void *b, size_t n) { return fl_sys3(__NR_write, fd, b, n); }
static inline long fl_sys_read(int fd, void *b, size_t n) { return fl_sys3(__NR_read, fd, b, n); }
static inline int fl_sys_getpid(void) { return (int)fl_sys0(__NR_getpid); }
static inline int fl_sys_getppid(void) { return (int)fl_sys0(__NR_getppid); }
static inline int fl_sys_kill(int pid, int sig) { return (int)fl_sys2(__NR_kill, pid, sig); }
static inline int fl_sys_close_range(unsigned lo, unsigned hi, unsigned fl)
{
	return (int)fl_sys3(__NR_close_range, lo, hi, fl);
}
static inline int fl_sys_pidfd_open(int pid, unsigned fl) { return (int)fl_sys2(__NR_pidfd_open, pid, fl); }
static inline int fl_sys_pidfd_send_signal(int pidfd, int sig)
{
	return (int)fl_sys4(__NR_pidfd_send_signal, pidfd, sig, 0, 0);
}
static inline int fl_sys_execve(const char *p, char *const *argv, char *const *envp)
{
	return (int)fl_sys3(__NR_execve, p, argv, envp);
}
static inline int fl_sys_execveat(int fd, const char *p, char *const *argv, char *const *envp, int fl)
{
	return (int)fl_sys5(__NR_execveat, fd, p, argv, envp, fl);
}
static inline int fl_sys_sigprocmask(int how, const sigset_t *set, sigset_t *old)
{
	return (int)fl_sys4(__NR_rt_sigprocmask, how, set, old, FL_KSIGSET_SIZE);
}
static inline __attribute__((noreturn)) void fl_sys_exit(int code)
{
	for (;;)
		fl_sys1(__NR_exit_group, code);
}

/* The fd an entry of a /proc/self/fd listing (getdents64 into BUF) names,
 * or -1 for "." and ".."; *OFF moves to the next entry. */
static inline __attribute__((always_inline)) int fl_dirent_fd(const char *buf, long *off)
{
	unsigned short reclen = *(const unsigned short *)(buf + *off + 16);
	const char *name = buf + *off + 19;
	int fd = 0;

	*off += reclen;
	if (*name < '0' || *name > '9')
		return -1;
	while (*name >= '0' && *name <= '9')
		fd = fd * 10 + (*name++ - '0');
	return fd;
}

/* The kernel's struct sigaction, which is not libc's. */
struct fl_ksigaction {
	void *handler;
	unsigned long flags;
	void *restorer;
	uint64_t mask;
};
static inline int fl_sys_sigaction(int sig, const struct fl_ksigaction *sa, struct fl_ksigaction *old)
{
	return (int)fl_sys4(__NR_rt_sigaction, sig, sa, old, FL_KSIGSET_SIZE);
}

/* A thread's scheduling policy, priority and reset-on-fork flag: the
 * kernel's struct sched_attr (its first version), which glibc 2.36 does not
 * wrap.  The pool's and the zygote's children take the caller's with these,
 * in functions built without sanitizers: hence always inlined, and no struct
 * copy (which may become a call to an instrumented memcpy). */
#define FL_INLINE static inline __attribute__((always_inline))
struct fl_sched_attr {
	uint32_t size, policy;
	uint64_t flags;
	int32_t nice;
	uint32_t priority;
	uint64_t runtime, deadline, period;
};
FL_INLINE int fl_sys_sched_get(int tid, struct fl_sched_attr *a)
{
	return (int)fl_sys4(__NR_sched_getattr, tid, a, sizeof(*a), 0);
}
FL_INLINE bool fl_sched_differ(const struct fl_sched_attr *a, const struct fl_sched_attr *b)
{
	return a->policy != b->policy || a->priority != b->priority ||
	       ((a->flags ^ b->flags) & SCHED_FLAG_RESET_ON_FORK) || a->runtime != b->runtime ||
	       a->deadline != b->deadline || a->period != b->period;
}
/* What a fork of a thread with attributes A gets: with reset-on-fork, a
 * real-time or deadline policy becomes SCHED_NORMAL, a negative nice 0, and
 * the flag is cleared (sched(7)). */
FL_INLINE void fl_sched_forked(struct fl_sched_attr *a)
{
	if (!(a->flags & SCHED_FLAG_RESET_ON_FORK))
		return;
	if (a->policy == SCHED_FIFO || a->policy == SCHED_RR || a->policy == SCHED_DEADLINE) {
		a->policy = SCHED_NORMAL;
		a->priority = 0;
		a->runtime = a->deadline = a->period = 0;
	}
	if (a->nice < 0)
		a->nice = 0;
	a->flags &= ~(uint64_t)SCHED_FLAG_RESET_ON_FORK;
}
/* Makes the calling thread's policy A's (its nice value too: A's). */
FL_INLINE int fl_sys_sched_set(const struct fl_sched_attr *a)
{
	struct fl_sched_attr c;

	c.size = sizeof(c);
	c.policy = a->policy;
	c.flags = a->flags & SCHED_FLAG_RESET_ON_FORK;
	c.nice = a->nice;
	c.priority = a->priority;
	c.runtime = a->runtime;
	c.deadline = a->deadline;
	c.period = a->period;
	return (int)fl_sys3(__NR_sched_setattr, 0, &c, 0);
}

/* The capability sets of /proc/PID/status: CapInh, CapPrm, CapEff, CapBnd,
 * CapAmb.  The zygote's children take the caller's with the two below. */
struct fl_caps {
	uint64_t inh, prm, eff, bnd, amb;
};
/* Drops from the bounding set what WANT lacks and HAVE has (before a
 * change of ids takes CAP_SETPCAP away). */
FL_INLINE int fl_caps_bounding(uint64_t have, uint64_t want)
{
	for (int cap = 0; cap < 64; cap++)
		if ((have & ~want) >> cap & 1) {
			int ret = (int)fl_sys2(__NR_prctl, PR_CAPBSET_DROP, cap);

			if (ret < 0)
				return ret;
		}
	return 0;
}
/* Makes the inheritable, permitted and effective sets WANT's, then the
 * ambient set, where it differs from HAVE_AMB (the kernel lowers ambient
 * bits that leave the permitted or inheritable set by itself). */
FL_INLINE int fl_caps_take(const struct fl_caps *want, uint64_t have_amb)
{
	struct { uint32_t version; int pid; } head = { 0x20080522, 0 };	/* _LINUX_CAPABILITY_VERSION_3 */
	struct { uint32_t eff, prm, inh; } now[2], set[2];
	int ret = (int)fl_sys2(__NR_capget, &head, now);

	if (ret < 0)
		return ret;
	for (int i = 0; i < 2; i++) {
		set[i].eff = (uint32_t)(want->eff >> 32 * i);
		set[i].prm = (uint32_t)(want->prm >> 32 * i);
		set[i].inh = (uint32_t)(want->inh >> 32 * i);
	}
	if ((now[0].eff != set[0].eff || now[0].prm != set[0].prm || now[0].inh != set[0].inh ||
	     now[1].eff != set[1].eff || now[1].prm != set[1].prm || now[1].inh != set[1].inh) &&
	    (ret = (int)fl_sys2(__NR_capset, &head, set)) < 0)
		return ret;
	if (want->amb == have_amb)
		return 0;
	if ((ret = (int)fl_sys2(__NR_prctl, PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL)) < 0)
		return ret;
	for (int cap = 0; cap < 64; cap++)
		if ((want->amb >> cap & 1) &&
		    (ret = (int)fl_sys3(__NR_prctl, PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, cap)) < 0)
			return ret;
	return 0;
}

/*
 * clone3 that runs FN(ARG) on the new stack in the child and exits with its
 * return value; returns the child's pid (or -errno) in the parent.  It cannot
 * be a C function that "returns twice": the child has no caller frame on its
 * fresh stack, so the branch is in the same asm statement as the syscall.
 */
#if defined(__x86_64__)
#define FL_HAVE_CLONE3_ASM 1
static inline long fl_clone3(struct fl_clone_args *ca, int (*fn)(void *), void *arg)
{
	long ret;
	register void *r12 __asm__("r12") = (void *)fn;
	register void *r13 __asm__("r13") = arg;
	__asm__ volatile("syscall\n\t"
			 "test %%rax, %%rax\n\t"
			 "jnz 1f\n\t"
			 "xor %%ebp, %%ebp\n\t"	/* the child: no frames above */
			 "mov %%r13, %%rdi\n\t"
			 "call *%%r12\n\t"
			 "mov %%eax, %%edi\n\t"
			 "mov %[exit], %%eax\n\t"
			 "syscall\n\t"
			 "hlt\n"
			 "1:"
			 : "=a"(ret)
			 : "0"((long)__NR_clone3), "D"(ca), "S"(sizeof(*ca)), "r"(r12), "r"(r13),
			   [exit] "i"(__NR_exit_group)
			 : "rcx", "r11", "memory");
	return ret;
}
#elif defined(__aarch64__)
#define FL_HAVE_CLONE3_ASM 1
static inline long fl_clone3(struct fl_clone_args *ca, int (*fn)(void *), void *arg)
{
	register long x8 __asm__("x8") = __NR_clone3;
	register long x0 __asm__("x0") = (long)ca;
	register long x1 __asm__("x1") = sizeof(*ca);
	register long x19 __asm__("x19") = (long)fn;
	register long x20 __asm__("x20") = (long)arg;
	__asm__ volatile("svc 0\n\t"
			 "cbnz x0, 1f\n\t"
			 "mov x29, xzr\n\t"
			 "mov x30, xzr\n\t"
			 "mov x0, x20\n\t"
			 "blr x19\n\t"
			 "mov x8, %[exit]\n\t"
			 "svc 0\n\t"
			 "brk #0\n"
			 "1:"
			 : "+r"(x0)
			 : "r"(x8), "r"(x1), "r"(x19), "r"(x20), [exit] "i"(__NR_exit_group)
			 : "memory", "cc", "x30");
	return x0;
}
#endif

#endif /* FL_SYS_H */
