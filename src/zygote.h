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

#include "internal.h"
#include "state.h"

#define ZMAGIC 0x7a79676fu	/* "zygo": a request */
#define ZTABLE 0x7a746162u	/* a part of its fd table */
#define FDS_PER_MSG 250		/* under SCM_MAX_FD (253) */
#define INLINE_MAX (128 * 1024)	/* larger requests travel in a memfd */
#define MAX_REQUEST (64u << 20)
#define MAX_TABLE (1u << 20)	/* fd table entries (the kernel's nr_open) */

/*
 * A spawn is, on the socket, in this order:
 * 1. the request: struct zreq and its data (or, when larger than
 *    INLINE_MAX, a struct zreq alone with in_memfd set and a memfd holding
 *    the whole request as its one fd);
 * 2. the caller's fd table at one instant, in parts (struct ztable and its
 *    entries), each with the fds its entries send; the first part sends
 *    the cwd first; the last has `last` set;
 * 3. back from the zygote: struct zreply, with the child's pidfd if the
 *    request asked for one.
 * 1 and 2 are sent by a snapshot: a clone of the spawning thread without
 * CLONE_FILES or CLONE_FS (zygote-client.c).
 */

struct zact {
	uint8_t op, flags;
	int32_t fd, fd2;
	int64_t arg, arg2;
	uint64_t size;
	uint32_t data_off, data_len;
};

struct zreq {
	uint32_t magic, size;		/* size: the whole request, data included */
	uint8_t in_memfd, has_fn, want_pidfd;
	int32_t exec_fd;		/* the template's fd, at its number in the table, or -1 */
	uint32_t spec_flags;
	int32_t parent_pid, cgroup_step;
	uint64_t mask;			/* the signal mask for exec */
	uint32_t umask;
	struct fl_state state;		/* see state.h */
	uint32_t off_groups, groups_cap;	/* state.ngroups of them, room for groups_cap */
	uint32_t off_path, off_file, off_search;	/* 0: none */
	uint64_t search_next;
	uint8_t search_eacces, sh;
	uint32_t argc, off_argv, envc, off_envp;	/* strings, one after another */
	uint32_t nacts[2], off_acts[2], off_order[2];
	int32_t max_fd[2], cgroups[2];
	uint32_t ops[2];
	uint64_t fn;			/* the callback's address in the zygote */
	uint32_t off_fn_data, fn_len;
};

/* A part of the fd table: N (number, kind) pairs follow. */
struct ztable {
	uint32_t magic, n, last;
};

/* Kinds of fd table entries.  A placeholder keeps the number of a caller's
 * close-on-exec fd that no step names taken, so an open step's file lands
 * where it would in the caller (the lowest free number); it is closed at
 * exec like the fd it stands for.  Only numbers up to the highest target of
 * a step need one. */
enum { FD_KEEP, FD_CLOEXEC_REAL, FD_PLACEHOLDER };

/* ZRESTART: the zygote made no child because its own state cannot become
 * the caller's (seccomp filters, a timer slack of 0); the caller starts a
 * zygote forked from itself now and asks that one. */
#define ZRESTART 1000

struct zreply {
	int32_t error, step, pid;
};

/* One message with its fds: received into BUF/FDS (returns its length, 0 at
 * EOF, or -errno; -EMSGSIZE if data or fds were cut: those received are in
 * FDS), or sent (0 or -errno).  Raw syscalls: the snapshot sends. */
long fl_zmsg_recv(int sock, void *buf, size_t len, int *fds, int maxfds, int *nfds);
int fl_zmsg_send(int sock, const void *buf, size_t len, const int *fds, int nfds);

/* The caller's side: sends JOB's request on SOCK (a server's socket, held
 * for this one exchange) through a snapshot of the calling thread, and
 * reads the reply: 0 with *REP and *PIDFD (-1 if none came), or -errno;
 * -EPIPE or -ECONNRESET when the server is gone. */
int fl_zreq_send(struct fl_job *job, int sock, struct zreply *rep, int *pidfd);
/* The spawn's result from REP: CHILD filled (0), or JOB's slot filled and
 * the failed child reaped (-errno). */
int fl_zreq_outcome(struct fl_job *job, fl_child *child, const struct zreply *rep, int pidfd);

/* A request as the zygote received it. */
struct zin {
	const struct zreq *req;		/* base, once received */
	char *base;			/* the request: the inline buffer or a mapping */
	size_t len, mapped;
	int32_t *table;			/* (number, kind) pairs, ascending */
	uint32_t ntable, table_cap;
	int *fds;			/* the cwd, then the table's real ones in order */
	int nfds, fds_cap;
	int error;			/* why no child can be made of it */
};

/* Receives the next request on SOCK with its fd table into IN, checked
 * whole before anything is built from it: in->error says why no child can
 * be made of it (EPROTO for a request that lies, EMFILE when no fd was left
 * for its fds).  0, or -1 at EOF or a broken socket.  fl_zreq_done closes
 * its fds and unmaps it; IN's arrays stay, grown, for the next request
 * (free table and fds when done with IN). */
int fl_zreq_recv(int sock, struct zin *in);
void fl_zreq_done(struct zin *in);
/* Lays out the job the child of a checked request would run, and frees it:
 * what a fuzz target of the request parser runs (no child is made).  0 or
 * -ENOMEM. */
int fl_zreq_lay_out(const struct zin *in);

/* The zygote process: serves requests on SOCK until EOF; never returns.
 * The primed image (primed-image.c) is served by the same loop with ENTER
 * set: its children are forks of it that, once the state and the steps are
 * taken, call ENTER (which never returns) instead of exec'ing, and report on
 * job->report_fd as the callback's do (EOF: started). */
__attribute__((noreturn)) void fl_zygote_main(int sock, pid_t caller, bool main_thread,
					      int (*enter)(struct fl_job *job));

#endif /* FL_ZYGOTE_H */
