/* SPDX-License-Identifier: MIT */
/*
 * The zygote's wire format, read first: a request (struct zreq and the data
 * after it) goes from the caller to the zygote over a SOCK_SEQPACKET
 * socketpair with the fds the child needs (SCM_RIGHTS); the reply (struct
 * zreply) comes back with the child's pidfd.  zygote-client.c is the
 * caller's side, zygote-server.c the zygote's.
 */
#ifndef FL_ZYGOTE_H
#define FL_ZYGOTE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "state.h"

#define ZMAGIC 0x7a79676fu	/* "zygo" */
#define ZMORE 0x7a6d6f72u	/* a message that carries only more fds */
#define FDS_PER_MSG 250		/* under SCM_MAX_FD (253) */
#define INLINE_MAX (128 * 1024)	/* larger requests travel in a memfd */
#define MAX_REQUEST (64u << 20)


/* ---- the request ---------------------------------------------------------- */

struct zact {
	uint8_t op, flags;
	int32_t fd, fd2;
	int64_t arg, arg2;
	uint64_t size;
	uint32_t data_off, data_len;
};

struct zreq {
	uint32_t magic, size;		/* size: the whole request, data included */
	uint32_t nfds;			/* fds sent with it: cwd?, then the table's real ones */
	uint8_t has_cwd, in_memfd, has_fn;
	int32_t exec_fd;		/* the template's fd, at its number in the table, or -1 */
	uint32_t spec_flags, job_flags;
	int32_t parent_pid, cgroup_step;
	uint64_t mask, ignored;
	uint32_t umask;
	int32_t nice;
	uint32_t ruid, euid, suid, fsuid, rgid, egid, sgid, fsgid;
	uint32_t ngroups, off_groups;
	uint8_t nnp;			/* no_new_privs */
	struct fl_caps caps;
	int32_t ioprio;			/* the spawning thread's I/O priority */
	uint32_t persona;		/* personality(2) */
	int64_t slack;			/* the timer slack, ns */
	uint32_t filters;		/* the caller's seccomp filters (read by the caller only) */
	struct fl_sched_attr sched;	/* the spawning thread's */
	struct rlimit limits[NLIMITS];
	uint8_t cpuset[CPUSET_BYTES];
	int32_t cpuset_len;
	uint32_t off_path, off_file, off_search;	/* 0: none */
	uint64_t search_next;
	uint8_t search_eacces, sh;
	uint32_t argc, off_argv, envc, off_envp;	/* strings, one after another */
	uint32_t nacts[2], off_acts[2], off_order[2];
	int32_t max_fd[2], cgroups[2];
	uint32_t ops[2];
	uint32_t ntable, off_table;	/* int32 pairs: target fd, FD_* below */
	uint64_t fn;			/* the callback's address in the zygote */
	uint32_t off_fn_data, fn_len;
};

/* Kinds of fd table entries.  A placeholder keeps the number of a caller's
 * close-on-exec fd that no step names taken, so an open step's file lands
 * where it would in the caller (the lowest free number); it is closed at
 * exec like the fd it stands for.  Only numbers up to the highest target of
 * a step need one. */
enum { FD_KEEP, FD_CLOEXEC_REAL, FD_PLACEHOLDER };

struct zreply {
	int32_t error, step, pid;
};

/* One message with its fds: received into BUF/FDS (returns its length, 0 at
 * EOF, or -errno), or sent (0 or -errno). */
long fl_zmsg_recv(int sock, void *buf, size_t len, int *fds, int maxfds, int *nfds);
int fl_zmsg_send(int sock, const void *buf, size_t len, const int *fds, int nfds);

/* The zygote process: serves requests on SOCK until EOF; never returns. */
__attribute__((noreturn)) void fl_zygote_main(int sock, pid_t caller, bool main_thread);

#endif /* FL_ZYGOTE_H */
