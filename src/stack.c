// SPDX-License-Identifier: MIT
/* The child's stack for the clone engine: one per thread, mapped on first use
 * and kept, so a spawn maps nothing (glibc 2.36 maps and unmaps 36 KiB per
 * posix_spawn).  One per thread is enough because CLONE_VFORK
 * holds the thread until the child has exec'd or exited. */
#include <pthread.h>
#include <sys/mman.h>

#include "internal.h"

static pthread_key_t stack_key;
static pthread_once_t stack_once = PTHREAD_ONCE_INIT;
static __thread char *thread_stack;

static void unmap_stack(void *base)
{
	munmap(base, FL_STACK_SIZE + FL_STACK_GUARD);
}

static void make_key(void)
{
	pthread_key_create(&stack_key, unmap_stack);
}

/* A stack with a guard page below it, or NULL. */
char *fl_stack_map(void)
{
	char *base = mmap(NULL, FL_STACK_SIZE + FL_STACK_GUARD, PROT_READ | PROT_WRITE,
			  MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);

	if (base == MAP_FAILED)
		return NULL;
	if (mprotect(base, FL_STACK_GUARD, PROT_NONE) < 0) {
		munmap(base, FL_STACK_SIZE + FL_STACK_GUARD);
		return NULL;
	}
	return base;
}

char *fl_stack_of_thread(void)
{
	if (!thread_stack) {
		pthread_once(&stack_once, make_key);
		thread_stack = fl_stack_map();
		if (thread_stack)
			pthread_setspecific(stack_key, thread_stack);
	}
	return thread_stack;
}
