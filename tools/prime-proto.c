// SPDX-License-Identifier: MIT
/*
 * The prototype of a primed start, as a yardstick: preloaded into a
 * program, it takes the program's main from __libc_start_main and, where
 * main would run, forks N copies one after another, each running main and
 * exiting, and times each fork + main + wait.  No request, no state, no fd
 * taken on: the floor of what any copy parked before main can cost on this
 * machine, beside which the primed engine's exactness is measured.
 *
 *   PRIME_PROTO_N=200 LD_PRELOAD=build/prime-proto.so /bin/true
 *   -> "prime-proto: /bin/true: 200 copies, fork + main + wait min 700 median 890 us"
 *
 * Nothing runs without PRIME_PROTO_N.  It and LD_PRELOAD are taken out of
 * the environment first, so a program that spawns does not pass either on.
 */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>
#include <sys/wait.h>

typedef int (*main_fn)(int, char **, char **);
typedef int (*start_fn)(main_fn, int, char **, void (*)(void), void (*)(void), void (*)(void), void *);

static main_fn real_main;
static long copies;

static double now_us(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1e6 + t.tv_nsec / 1e3;
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static int copy_main(int argc, char **argv, char **envp)
{
	double *t = malloc((size_t)copies * sizeof(*t));

	if (!t)
		return 127;
	for (long i = 0; i < copies; i++) {
		double start = now_us();
		pid_t pid = fork();

		if (pid == 0)
			exit(real_main(argc, argv, envp));
		if (pid < 0 || waitpid(pid, NULL, 0) < 0) {
			perror("prime-proto");
			return 127;
		}
		t[i] = now_us() - start;
	}
	qsort(t, (size_t)copies, sizeof(*t), cmp);
	fprintf(stderr, "prime-proto: %s: %ld copies, fork + main + wait min %.0f median %.0f us\n", argv[0], copies,
		t[0], t[copies / 2]);
	return 0;
}

__attribute__((visibility("default"))) int __libc_start_main(main_fn main, int argc, char **argv,
							     void (*init)(void), void (*fini)(void),
							     void (*rtld_fini)(void), void *stack_end);
__attribute__((visibility("default"))) int __libc_start_main(main_fn main, int argc, char **argv,
							     void (*init)(void), void (*fini)(void),
							     void (*rtld_fini)(void), void *stack_end)
{
	start_fn real = (start_fn)dlsym(RTLD_NEXT, "__libc_start_main");
	const char *n = getenv("PRIME_PROTO_N");

	if (!real)
		_exit(127);
	copies = n ? strtol(n, NULL, 10) : 0;
	unsetenv("PRIME_PROTO_N");
	unsetenv("LD_PRELOAD");
	real_main = main;
	return real(copies > 0 ? copy_main : main, argc, argv, init, fini, rtld_fini, stack_end);
}
