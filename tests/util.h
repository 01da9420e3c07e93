/* SPDX-License-Identifier: MIT */
/* What the tests share: engines to loop over, spawning with captured output,
 * and the leak checks (fds, zombies) every test runs after each spawn. */
#ifndef FL_TEST_UTIL_H
#define FL_TEST_UTIL_H

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "forkless.h"
#include "tap.h"

/* The directory of the build (set by `make check`), for the helper programs. */
static __attribute__((unused)) const char *build_dir(void)
{
	const char *b = getenv("FL_BUILD");

	return b && *b ? b : "build";
}

/* Path of a program under the build directory, in a static buffer per call site. */
static __attribute__((unused)) const char *build_path(char *buf, size_t len, const char *name)
{
	snprintf(buf, len, "%s/%s", build_dir(), name);
	return buf;
}

/* Open fds of this process, not counting the one used to list them. */
static __attribute__((unused)) int fd_count(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0;

	if (!d)
		return -1;
	while ((e = readdir(d)))
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n - 1;
}

/* 1 if some child of this process is a zombie (left unreaped). */
static __attribute__((unused)) int has_zombie(void)
{
	siginfo_t si;

	si.si_pid = 0;
	if (waitid(P_ALL, 0, &si, WEXITED | WNOHANG | WNOWAIT) < 0)
		return 0;	/* ECHILD: no children at all */
	return si.si_pid != 0;
}

/* Loop over every engine this build and kernel can run. */
#define for_each_engine(e) \
	for (int e = FL_ENGINE_AUTO + 1; e < FL_ENGINE_COUNT; e++) \
		if (fl_engine_supported(e) == 0)

/* fl_spawn, then the exec's outcome (immediate for all engines but async). */
static __attribute__((unused)) int spawn_exec(const fl_spec *spec, const fl_spawn_args *args, fl_child *child, fl_report *report)
{
	int ret = fl_spawn(spec, args, child, report);

	if (ret < 0)
		return ret;
	return fl_child_wait_exec(child, report);
}

/* The state helper: prints what a child can observe of itself (see
 * tests/helper-state.c).  A template made by this points at it. */
static __attribute__((unused)) int state_spec(fl_spec **spec, int engine)
{
	char path[4096];
	int ret = fl_spec_new(spec);

	if (ret < 0)
		return ret;
	ret = fl_spec_set_path(*spec, build_path(path, sizeof(path), "tests/helper-state"));
	if (ret == 0 && engine)
		ret = fl_spec_set_engine(*spec, engine);
	return ret;
}

/*
 * Spawns SPEC (a state_spec) with ARGS, with argv { helper, "state", FILE }:
 * the helper writes its state to FILE, which is read into OUT.  The child is
 * waited for; *STATUS gets its wait status.  Returns the spawn's result.
 */
static __attribute__((unused)) int run_state(const fl_spec *spec, const fl_spawn_args *args, char *out, size_t outlen,
		     int *status, fl_report *report)
{
	char file[] = "/tmp/fl-state-XXXXXX", helper[4096];
	char *argv[] = { build_path(helper, sizeof(helper), "tests/helper-state") ? helper : NULL,
			 (char *)"state", file, NULL };
	fl_spawn_args a = args ? *args : (fl_spawn_args){ 0 };
	fl_child child;
	int fd = mkstemp(file), ret;
	ssize_t n;

	out[0] = 0;
	if (fd < 0)
		return -errno;
	close(fd);
	a.argv = argv;
	ret = spawn_exec(spec, &a, &child, report);
	if (ret == 0) {
		fl_child_wait(&child, status);
		fd = open(file, O_RDONLY | O_CLOEXEC);
		n = fd >= 0 ? read(fd, out, outlen - 1) : -1;
		out[n > 0 ? n : 0] = 0;
		if (fd >= 0)
			close(fd);
	}
	unlink(file);
	return ret;
}

/* The value of "KEY=value" line KEY in a state dump, into VAL; NULL if absent. */
static __attribute__((unused)) const char *state_get(const char *state, const char *key, char *val, size_t len)
{
	size_t klen = strlen(key);

	for (const char *line = state; line && *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL) {
		if (!strncmp(line, key, klen) && line[klen] == '=') {
			size_t vlen = strcspn(line + klen + 1, "\n");

			if (vlen >= len)
				vlen = len - 1;
			memcpy(val, line + klen + 1, vlen);
			val[vlen] = 0;
			return val;
		}
	}
	return NULL;
}

#endif
