// SPDX-License-Identifier: MIT
/*
 * Spawning a prepared template allocates no heap memory.
 *
 * How we check it: this test program defines malloc, calloc, realloc, free
 * (and the aligned variants) itself.  They forward to glibc's own entry
 * points (__libc_malloc, ...) and count the calls made while a flag is set.
 * Being defined in the executable, they take the place of libc's for every
 * caller in the process: the library (linked in statically) and glibc
 * itself (its internal calls to malloc go through the same symbols).  After
 * one warm-up spawn (which may probe the kernel, map the thread's child
 * stack and so on, once), N spawns and waits are made with the flag set,
 * and the count must stay 0.  In a CLONE_VM child the counter is the
 * parent's memory, so an allocation on the child side would count too.
 *
 * Every engine is checked with templates of several kinds; the only
 * exception is the posix engine with setup steps: glibc's
 * posix_spawn_file_actions_add* functions allocate, per spawn, by design.
 */
#include <malloc.h>
#include <stdatomic.h>
#include <stdio.h>

#include "util.h"

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
/* The sanitizer's allocator replaces glibc's: our counting wrappers, which
 * forward to __libc_malloc, cannot stand in front of it. */
int main(void)
{
	printf("1..0 # SKIP a sanitizer build replaces malloc\n");
	return 0;
}
#else
extern void *__libc_malloc(size_t size);
extern void *__libc_calloc(size_t n, size_t size);
extern void *__libc_realloc(void *p, size_t size);
extern void __libc_free(void *p);
extern void *__libc_memalign(size_t align, size_t size);

static atomic_int counting, calls;

static void count(void)
{
	if (atomic_load_explicit(&counting, memory_order_relaxed))
		atomic_fetch_add(&calls, 1);
}

void *malloc(size_t size)
{
	count();
	return __libc_malloc(size);
}

void *calloc(size_t n, size_t size)
{
	count();
	return __libc_calloc(n, size);
}

void *realloc(void *p, size_t size)
{
	count();
	return __libc_realloc(p, size);
}

void free(void *p)
{
	if (p)
		count();
	__libc_free(p);
}

void *memalign(size_t align, size_t size)
{
	count();
	return __libc_memalign(align, size);
}

void *aligned_alloc(size_t align, size_t size)
{
	count();
	return __libc_memalign(align, size);
}

int posix_memalign(void **out, size_t align, size_t size)
{
	void *p;

	count();
	p = __libc_memalign(align, size);
	if (!p)
		return ENOMEM;
	*out = p;
	return 0;
}

#define SPAWNS 10

static int last_error;	/* of the last spawn that failed unexpectedly */

/* Warm-up, then SPAWNS spawns and waits counted; -1 if a spawn went wrong. */
static int allocations(const fl_spec *spec, const fl_spawn_args *args, int expect_error)
{
	fl_child child;
	fl_report rep;
	int status, bad = 0, n;

	for (int i = 0; i <= SPAWNS; i++) {
		int ret;

		if (i == 1)
			atomic_store(&counting, 1);
		ret = fl_spawn(spec, args, &child, &rep);
		if (ret == 0)
			ret = fl_child_wait_exec(&child, &rep);
		if (ret == 0) {
			ret = fl_child_wait(&child, &status);
			bad += ret != 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0 || expect_error;
		} else if (ret != expect_error) {
			bad++;
			last_error = ret;
		}
	}
	atomic_store(&counting, 0);
	n = atomic_exchange(&calls, 0);
	return bad ? -1 : n;
}

int main(void)
{

	char *argv[] = { (char *)helper_path(), (char *)"exit", (char *)"0", NULL };
	char *envp[] = { (char *)"A=1", NULL };
	char dir[] = "/tmp/fl-noalloc-XXXXXX", script[64];

	/* A script with no shebang, for the /bin/sh retry. */
	mkdtemp(dir);
	snprintf(script, sizeof(script), "%s/script", dir);
	write_file(script, "exit 0\n", 0755);

	/* The counter works: our own call and one made inside glibc count. */
	atomic_store(&counting, 1);
	{
		char *volatile p = malloc(16), *volatile q = strdup("x");

		free(p);
		free(q);
	}
	atomic_store(&counting, 0);
	ok(atomic_exchange(&calls, 0) == 4, "control: malloc, strdup (inside glibc), 2 free: 4 calls counted");

	for_each_engine(e) {
		const char *E = fl_engine_name(e);
		fl_spec *spec;
		fl_actions *call;
		int n, fds = fd_count();

		/* A path, no setup steps, environ at spawn. */
		state_spec(&spec, e);
		fl_spec_set_argv(spec, argv);
		n = allocations(spec, NULL, 0);
		ok(n == 0, "%s: %d spawns of a plain template: %d allocations", E, SPAWNS, n);

		/* With setup steps, and per-call argv, envp and steps. */
		fl_act_dup2(fl_spec_actions(spec), 2, 20, 0);
		fl_act_chdir(fl_spec_actions(spec), "/", 0);
		fl_act_close(fl_spec_actions(spec), 20, 0);
		fl_actions_new(&call);
		fl_act_open(call, 21, "/dev/null", O_RDONLY, 0, 0);
		n = allocations(spec, &(fl_spawn_args){ .argv = argv, .envp = envp, .actions = call }, 0);
		if (e == FL_ENGINE_POSIX)
			skip("glibc's posix_spawn_file_actions_add* allocate", "%s: with setup steps", E);
		else
			ok(n == 0, "%s: %d spawns with setup steps and per-call arguments: %d allocations", E, SPAWNS, n);
		if (e != FL_ENGINE_POSIX) {
			/* Steps posix cannot express, and a failing one. */
			fl_act_umask(fl_spec_actions(spec), 022, 0);
			fl_act_setsid(fl_spec_actions(spec), 0);
			fl_act_pdeathsig(fl_spec_actions(spec), SIGKILL, 0);
			fl_act_closefrom(fl_spec_actions(spec), 3, 0);
			n = allocations(spec, NULL, 0);
			ok(n == 0, "%s: with umask, setsid, pdeathsig, closefrom: %d allocations", E, n);
			fl_act_chdir(call, "/nonexistent", 0);
			n = allocations(spec, &(fl_spawn_args){ .actions = call }, -ENOENT);
			ok(n == 0, "%s: %d failing spawns (a step fails): %d allocations", E, SPAWNS, n);
		}
		fl_actions_free(call);
		fl_spec_free(spec);

		/* PATH-searched, and a missing program. */
		fl_spec_new(&spec);
		fl_spec_set_engine(spec, e);
		fl_spec_set_file(spec, "true");
		n = allocations(spec, NULL, 0);
		ok(n == 0, "%s: a PATH-searched template: %d allocations", E, n);
		fl_spec_set_path(spec, "/nonexistent/program");
		n = allocations(spec, NULL, -ENOENT);
		ok(n == 0, "%s: a missing program: %d allocations", E, n);

		/* The /bin/sh retry with a short argv. */
		fl_spec_set_path(spec, script);
		fl_spec_set_flags(spec, FL_SPEC_ENOEXEC_SH);
		n = allocations(spec, NULL, 0);
		if (n >= 0 || !cannot_express(e, last_error, "the /bin/sh retry"))
			ok(n == 0, "%s: the /bin/sh retry: %d allocations", E, n);
		fl_spec_free(spec);
		check_clean(E, fds);
	}
	unlink(script);
	rmdir(dir);
	return done();
}
#endif
