/* SPDX-License-Identifier: MIT */
/*
 * The primed engine's two sides: the caller (engine-primed.c) and the image
 * (primed-image.c, the library preloaded into the program).  What they say
 * to each other at the start; the requests are the zygote's (zygote.h).
 */
#ifndef FL_PRIMED_H
#define FL_PRIMED_H

#include <stdint.h>
#include <sys/stat.h>

/* The image's environment carries "FORKLESS_PRIMED_IMAGE=<fd of the
 * channel>"; LD_PRELOAD names our library first, then the caller's own. */
#define FL_PRIMED_ENV "FORKLESS_PRIMED_IMAGE="
#define FL_PRIMED_CHANNEL 3	/* where the image finds its end of the channel */
#define FL_PRIMED_MAGIC 0x70726d64u	/* "prmd" */
#define FL_PRIMED_READY_MAX (64 * 1024)

/* Why an image refused to serve (the ready report's reason), or why the
 * caller did not prime: FORKLESS_TRACE names them (fl_primed_reason). */
enum {
	FL_PRIMED_OK = 0,
	FL_PRIMED_NO_THREADS,	/* threads started before main */
	FL_PRIMED_NO_FDS,	/* fds opened before main */
	FL_PRIMED_NO_SHARED,	/* shared memory mapped before main */
	FL_PRIMED_NO_TID,	/* glibc's thread descriptor not understood */
	FL_PRIMED_NO_MM,	/* PR_SET_MM_MAP refused */
	FL_PRIMED_NO_FILES,	/* a mapped file could not be listed (replaced?) */
	FL_PRIMED_NO_READY,	/* no ready report in time (not started by glibc?) */
	FL_PRIMED_STATIC,	/* not a dynamically linked ELF program */
	FL_PRIMED_SCRIPT,	/* a script (#!) */
	FL_PRIMED_SETID,	/* set-user-ID, set-group-ID or file capabilities */
	FL_PRIMED_NOT_GLIBC,	/* its entry does not call __libc_start_main */
	FL_PRIMED_NO_LIB,	/* libforkless-primed.so not found */
	FL_PRIMED_TEMPLATE,	/* a template the engine cannot serve (an fd, the /bin/sh retry) */
	FL_PRIMED_NOT_LISTED,	/* not in FORKLESS_PRIMED */
	FL_PRIMED_NOT_FOUND,	/* no runnable program in PATH */
	FL_PRIMED_AGAIN,	/* no fd, memory or process for the image now */
	FL_PRIMED_STEPS,	/* a step changes what the exec would see */
	FL_PRIMED_NREASONS
};

/* The ready report: this header, then NFILES records each followed by its
 * path (PATH_LEN bytes with the NUL). */
struct fl_primed_ready {
	uint32_t magic;
	int32_t reason;
	uint32_t nfiles;
};

/* A file's identity: what changes when it is replaced or rewritten. */
struct fl_primed_file {
	uint64_t dev, ino, size;
	int64_t mtime_ns, ctime_ns;
	uint32_t path_len;
};

static inline void fl_primed_file_of(struct fl_primed_file *f, const struct stat *st)
{
	f->dev = st->st_dev;
	f->ino = st->st_ino;
	f->size = (uint64_t)st->st_size;
	f->mtime_ns = (int64_t)st->st_mtim.tv_sec * 1000000000 + st->st_mtim.tv_nsec;
	f->ctime_ns = (int64_t)st->st_ctim.tv_sec * 1000000000 + st->st_ctim.tv_nsec;
}

static inline int fl_primed_file_same(const struct fl_primed_file *a, const struct fl_primed_file *b)
{
	return a->dev == b->dev && a->ino == b->ino && a->size == b->size && a->mtime_ns == b->mtime_ns &&
	       a->ctime_ns == b->ctime_ns;
}

#endif /* FL_PRIMED_H */
