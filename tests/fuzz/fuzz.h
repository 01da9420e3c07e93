/* SPDX-License-Identifier: MIT */
/*
 * What the fuzz targets share: reading the input as a stream of choices,
 * hostile argument values, the paths a spawned child may be given, the
 * rules for when an input may spawn, and how a broken rule is reported.
 *
 * A target is built two ways.  Under libFuzzer (make fuzz) its
 * LLVMFuzzerTestOneInput runs the input and a broken rule aborts, which
 * libFuzzer saves as a crash.  In tests/t-fuzz-replay.c (make check) the
 * same code replays the seed corpus and every saved crash: a broken rule is
 * a failed test point there.
 */
#ifndef FL_FUZZ_H
#define FL_FUZZ_H

#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>

#include "util.h"

/* The input, read front to back; past its end every read is 0, so any byte
 * string is a valid program. */
struct fz {
	const uint8_t *start;	/* the whole input */
	size_t size;
	const uint8_t *p;	/* what is left of it */
	size_t n;
	bool raw_path;		/* a path came from the input: the input must not spawn */
	bool big_used;		/* fz_argv gave out its big string */
	bool replay;		/* in t-fuzz-replay: report broken rules, do not abort */
	char why[256];		/* the first broken rule, in replay */
	int steps;		/* calls made, bounded so that one input stays fast */
};

/* Each add reorders the whole list (actions.c): n steps cost O(n^2). */
#define FZ_MAX_STEPS 2000

static __attribute__((unused)) uint8_t fz_u8(struct fz *f)
{
	uint8_t v = 0;

	if (f->n) {
		v = *f->p++;
		f->n--;
	}
	return v;
}

static __attribute__((unused)) uint32_t fz_u32(struct fz *f)
{
	uint32_t v = 0;

	for (int i = 0; i < 4; i++)
		v = v << 8 | fz_u8(f);
	return v;
}

static __attribute__((unused)) bool fz_more(const struct fz *f)
{
	return f->n > 0 && f->steps < FZ_MAX_STEPS;
}

/* A broken rule: abort under libFuzzer (a crash it saves), remembered for the
 * replay test. */
static __attribute__((unused)) __attribute__((format(printf, 2, 3))) void fz_fail(struct fz *f, const char *fmt, ...)
{
	va_list ap;

	if (f->replay && f->why[0])
		return;
	va_start(ap, fmt);
	vsnprintf(f->why, sizeof(f->why), fmt, ap);
	va_end(ap);
	if (!f->replay) {
		fprintf(stderr, "fuzz: broken rule: %s\n", f->why);
		abort();
	}
}

/* An fd: the small ones a process has, the edges of the fd space, or any. */
static __attribute__((unused)) int fz_fd(struct fz *f)
{
	static const int edge[] = { -1, -2, INT_MIN, INT_MAX, 1023, 1024, 65535, 65536, 1 << 20, 63, 64 };
	uint8_t b = fz_u8(f);

	if (b < 0x80)
		return b % 12;
	if (b < 0xf0)
		return edge[b % (sizeof(edge) / sizeof(edge[0]))];
	return (int)fz_u32(f);
}

/* A step flag: mostly none or FL_HARD, sometimes unknown bits. */
static __attribute__((unused)) unsigned fz_flags(struct fz *f)
{
	uint8_t b = fz_u8(f);

	if (b < 0xc0)
		return b & 1 ? FL_HARD : 0;
	return b < 0xf0 ? 1u << (b % 32) : fz_u32(f);
}

/* A size: the edges, or any 32-bit value. */
static __attribute__((unused)) size_t fz_size(struct fz *f, size_t max)
{
	static const size_t edge[] = { 0, 1, 2, 3, 7, 8, 16, 128, sizeof(cpu_set_t), 4096, 65535, 65536, 65537 };
	uint8_t b = fz_u8(f);
	size_t v = b < 0xe0 ? edge[b % (sizeof(edge) / sizeof(edge[0]))] : fz_u32(f);

	return v > max ? max : v;
}

/* A signal number: valid ones, 0, the edges, or any. */
static __attribute__((unused)) int fz_signal(struct fz *f)
{
	uint8_t b = fz_u8(f);

	if (b < 0xc0)
		return b % 70;
	return b < 0xf0 ? (b & 1 ? -1 : INT_MAX) : (int)fz_u32(f);
}

/*
 * A path.  Most come from a table a spawned child may be given: /dev/null
 * and paths that cannot name anything the child could harm (missing,
 * directories, one byte under PATH_MAX, a relative name that exists
 * nowhere).  The rest are the input's own bytes (up to 8 KiB: overlong
 * paths), or NULL; such an input only builds, it never spawns, since an
 * open of any path as root could truncate a file or wake a device.
 */
static char fz_long[PATH_MAX + 2];
#define FZ_RELATIVE "fl-fuzz-nowhere"

static __attribute__((unused)) const char *fz_path(struct fz *f, char *buf, size_t len, bool *relative)
{
	static const char *const table[] = { "/dev/null", "/", "/nonexistent/dir/file", "", "/proc/self/fd",
					     FZ_RELATIVE, "/dev/null/x", "//dev//null", NULL, NULL };
	uint8_t b = fz_u8(f);
	size_t n;

	*relative = false;
	if (!fz_long[0]) {
		memset(fz_long, 'a', PATH_MAX + 1);
		fz_long[0] = '/';
	}
	if (b < 0xd0) {
		const char *p = table[b % 10];

		if (b % 10 == 8)	/* PATH_MAX - 1 bytes: accepted; the child's open fails */
			p = fz_long + 2;
		else if (b % 10 == 9)	/* PATH_MAX bytes: the builder refuses it */
			p = fz_long + 1;
		*relative = p[0] && p[0] != '/';
		return p;
	}
	if (b < 0xd8)
		return NULL;
	f->raw_path = true;
	n = fz_u8(f);
	if (b >= 0xf0)
		n = n << 5;	/* up to 8 KiB */
	if (n > len - 1)
		n = len - 1;
	if (n > f->n)
		n = f->n;	/* the zeros past the end would end the string there */
	memcpy(buf, f->p, n);
	buf[n] = 0;
	f->p += n;
	f->n -= n;
	return buf;
}

/* The oflag of an open: what the input says, less what could create a file
 * somewhere unknown when the path is relative (a step may have changed the
 * directory to any the fuzzer's fds name) and the input will spawn. */
static __attribute__((unused)) int fz_oflag(uint32_t v, bool relative)
{
	if (relative)
		v &= ~(uint32_t)(O_CREAT | O_TMPFILE | O_TRUNC | O_WRONLY | O_RDWR | O_APPEND);
	return (int)v;
}

/*
 * Spawning costs a process, where an input that only builds costs
 * microseconds, and coverage would soon have every input ask to spawn.  So
 * one input in FZ_SPAWN_ONE_IN that asks does, chosen by a hash of the whole
 * input: a mutant of a spawning input is no likelier to spawn than any
 * other, and a saved input replays the same way.
 */
#define FZ_SPAWN_ONE_IN 4

static __attribute__((unused)) bool fz_may_spawn(const struct fz *f)
{
	uint32_t h = 2166136261u;	/* FNV-1a */

	if (f->raw_path)
		return false;
	for (size_t i = 0; i < f->size; i++)
		h = (h ^ f->start[i]) * 16777619u;
	return h % FZ_SPAWN_ONE_IN == 0;
}

/* The program every spawning input runs: it must exit at once and harm
 * nothing whatever its argv (no --help or --version in FZ_ARGS). */
#define FZ_PROGRAM "/bin/true"

static __attribute__((unused)) char **fz_argv(struct fz *f, char **buf, size_t max)
{
	static char big[200000];
	static const char *const words[] = { "true", "", "x", "-", "--", "a b", big };
	size_t n = fz_size(f, max - 1);

	if (!big[0])
		memset(big, 'b', sizeof(big) - 1);	/* over MAX_ARG_STRLEN: E2BIG */
	for (size_t i = 0; i < n; i++) {
		uint8_t w = fz_u8(f);

		/* One big string an input: thousands would only measure memcpy. */
		buf[i] = (char *)words[w < 0xf0 || f->big_used ? w % 6 : 6];
		f->big_used |= buf[i] == big;
	}
	f->steps += n / 16;	/* a long vector costs as many steps to copy */
	buf[n] = NULL;
	return buf;
}

/*
 * The repeat step: the next LEN bytes of the input (up to 31) run as steps
 * TIMES times over (up to 4095), so that a short input makes thousands of
 * steps.  STEP runs one step of the target on STATE; NESTED tells the
 * repeat op itself, skipped inside the body.
 */
static __attribute__((unused)) void fz_repeat(struct fz *f, void *state, void (*step)(struct fz *, void *),
					      bool (*nested)(uint8_t op))
{
	size_t times = (size_t)fz_u8(f) << 4 | fz_u8(f) >> 4, len = fz_u8(f) % 32;
	struct fz body = *f;

	body.n = len < f->n ? len : f->n;
	f->p += body.n;
	f->n -= body.n;
	for (size_t i = 0; i < times && f->steps < FZ_MAX_STEPS; i++) {
		struct fz again = body;

		again.steps = f->steps;
		again.big_used = f->big_used;
		while (again.n && again.steps < FZ_MAX_STEPS) {
			if (nested(*again.p))
				fz_u8(&again);
			else
				step(&again, state);
		}
		f->steps = again.steps;
		f->raw_path |= again.raw_path;
		f->big_used |= again.big_used;
		if (again.why[0] && !f->why[0])
			memcpy(f->why, again.why, sizeof(f->why));
	}
}

/* Whether any fd of ours is a terminal, which a tcsetpgrp step could take
 * from the shell that runs us (a dup2 step may have moved it anywhere). */
static __attribute__((unused)) bool fz_holds_tty(void)
{
	for (int fd = 0; fd < 256; fd++)
		if (isatty(fd))
			return true;
	return false;
}

/* After a spawn that answered RET and whose child is reaped: the process has
 * FDS fds again and no zombie (forkless.h: a failed spawn leaves nothing). */
static __attribute__((unused)) void fz_check_clean(struct fz *f, int fds, int ret)
{
	if (fd_count() != fds)
		fz_fail(f, "spawn (answer %d) left %d fds, was %d", ret, fd_count(), fds);
	if (has_zombie())
		fz_fail(f, "spawn (answer %d) left a zombie", ret);
}

/* An engine number: each engine, auto, and numbers that name none. */
static __attribute__((unused)) int fz_engine(struct fz *f)
{
	uint8_t b = fz_u8(f);

	if (b < 0xf0)
		return b % FL_ENGINE_COUNT;
	return b & 1 ? -1 : FL_ENGINE_COUNT + (b & 0xe);
}

/* libFuzzer's entry points for the target RUN, left out of the replay test
 * (which includes every target): each engine is set up before the first
 * input, whose fds it would otherwise seem to leak. */
#ifdef FZ_REPLAY
#define FZ_TARGET(run)
#else
#define FZ_TARGET(run) \
	int LLVMFuzzerInitialize(int *argc, char ***argv); \
	int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size); \
	int LLVMFuzzerInitialize(int *argc, char ***argv) \
	{ \
		(void)argc, (void)argv; \
		for_each_engine(e) {} \
		return 0; \
	} \
	int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) \
	{ \
		struct fz f = { .start = data, .size = size, .p = data, .n = size }; \
		return run(&f); \
	}
#endif

#endif
