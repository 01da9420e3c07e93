// SPDX-License-Identifier: MIT
/*
 * firstinsn: the child `forkless bench` times (the io_uring_spawn talk's
 * method).  Its first instructions read CLOCK_MONOTONIC with a raw
 * clock_gettime syscall and write the 16-byte struct timespec to fd 3, which
 * the benchmark leaves open (not close-on-exec) so that every method, glibc's
 * and forkless's alike, hands it to the child without a setup step of its own.
 * Then exit_group(0), or exit_group(1) if the write did not take all 16 bytes
 * (fd 3 closed, say), so the benchmark can tell a child that timed nothing.
 *
 * No libc, no vDSO, no stack frame: _start is written in assembly so that the
 * clock read really is the first thing the process does; a C _start would
 * let the compiler put a prologue in front of it.  The Makefile builds it with
 * -nostdlib -static, so the kernel jumps straight here, with no dynamic
 * loader in between.  x86_64 and aarch64.
 */

#define FIRSTINSN_FD 3	/* keep in step with BENCH_FD in tools/bench.c */

#define STR_(x) #x
#define STR(x) STR_(x)

#if defined(__x86_64__)
/* clock_gettime 228, write 1, exit_group 231; the timespec goes just below
 * the initial stack pointer, which the kernel leaves 16-byte aligned. */
__asm__(
	".text\n"
	".globl _start\n"
	".type _start, @function\n"
	"_start:\n"
	"	mov $228, %eax\n"
	"	mov $1, %edi\n"			/* CLOCK_MONOTONIC */
	"	sub $16, %rsp\n"
	"	mov %rsp, %rsi\n"
	"	syscall\n"
	"	mov $1, %eax\n"
	"	mov $" STR(FIRSTINSN_FD) ", %edi\n"
	"	mov %rsp, %rsi\n"
	"	mov $16, %edx\n"
	"	syscall\n"
	"	xor %edi, %edi\n"
	"	cmp $16, %rax\n"
	"	setne %dil\n"			/* 0 if all 16 bytes went out, else 1 */
	"	mov $231, %eax\n"
	"	syscall\n"
	"	hlt\n"
	".size _start, . - _start\n");
#elif defined(__aarch64__)
/* clock_gettime 113, write 64, exit_group 94 (the generic syscall table). */
__asm__(
	".text\n"
	".globl _start\n"
	".type _start, %function\n"
	"_start:\n"
	"	sub sp, sp, #16\n"
	"	mov x0, #1\n"			/* CLOCK_MONOTONIC */
	"	mov x1, sp\n"
	"	mov x8, #113\n"
	"	svc #0\n"
	"	mov x0, #" STR(FIRSTINSN_FD) "\n"
	"	mov x1, sp\n"
	"	mov x2, #16\n"
	"	mov x8, #64\n"
	"	svc #0\n"
	"	cmp x0, #16\n"
	"	cset x0, ne\n"			/* 0 if all 16 bytes went out, else 1 */
	"	mov x8, #94\n"
	"	svc #0\n"
	"	brk #0\n"
	".size _start, . - _start\n");
#else
#error "firstinsn: only x86_64 and aarch64 are written; add this arch's three syscalls"
#endif
