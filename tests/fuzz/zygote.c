// SPDX-License-Identifier: MIT
/*
 * Fuzz target: the zygote's request parser (src/zygote-server.c), fed what
 * would arrive on its socket.  The input lays out a request as the caller's
 * side does (a program, argv, envp, steps with data, groups; inline or in a
 * memfd), then lies in it: bytes overwritten where the input says, the
 * message cut short or padded, and the fd table that follows sent in parts
 * whose numbers, kinds, fd counts and `last` flags the input chooses.
 *
 * The rules: the parser never crashes; a request it accepts is one whose
 * every offset, count and step lies inside it (checked again here, apart
 * from the parser's own checks); the job of an accepted request can be laid
 * out (fl_zreq_lay_out builds the child's job and frees it: nothing is ever
 * cloned here, so no input can make a child); and no fd it received stays
 * open once the request is done.
 */
#include <fcntl.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include "fuzz.h"
#include "zygote.h"

#define ZF_MAX 8192	/* the request the input lays out, at most */

struct zbuf {
	char p[ZF_MAX];
	size_t len;
};

static uint32_t zput(struct zbuf *b, const void *data, size_t len)
{
	size_t off = (b->len + 7) & ~(size_t)7;

	if (off + len > sizeof(b->p))
		return 0;
	if (data)
		memcpy(b->p + off, data, len);
	else
		memset(b->p + off, 0, len);
	b->len = off + len;
	return (uint32_t)off;
}

/* COUNT strings of the input, one after another. */
static uint32_t zput_strings(struct fz *f, struct zbuf *b, uint32_t count)
{
	char s[64];
	uint32_t off = (uint32_t)((b->len + 7) & ~(size_t)7);

	for (uint32_t i = 0; i < count; i++) {
		size_t n = fz_u8(f) % sizeof(s);

		for (size_t k = 0; k < n; k++)
			s[k] = (char)(fz_u8(f) | 1);	/* no NUL inside */
		s[n] = 0;
		if (i == 0)
			off = zput(b, s, n + 1);
		else if (b->len + n + 1 <= sizeof(b->p)) {
			memcpy(b->p + b->len, s, n + 1);
			b->len += n + 1;
		}
	}
	return off;
}

/* What the child reads of a step's data, as the parser must insist on. */
static uint64_t needs(const struct zact *a)
{
	switch (a->op) {
	case FL_OP_SIGMASK: case FL_OP_SIGDEFAULT:
		return 8;
	case FL_OP_SCHED:
		return sizeof(struct sched_param);
	case FL_OP_RLIMIT:
		return sizeof(struct rlimit);
	case FL_OP_SETGROUPS:
		return a->arg < 0 || a->arg > 65536 ? UINT64_MAX : (uint64_t)a->arg * sizeof(gid_t);
	default:
		return 0;
	}
}

static bool in_range(size_t len, uint64_t off, uint64_t n)
{
	return off <= len && n <= len - off;
}

static bool strings_in(const char *base, size_t len, uint32_t off, uint32_t count)
{
	const char *s = base + off, *end = base + len;

	if (count && off >= len)
		return false;
	for (uint32_t i = 0; i < count; i++) {
		const char *nul = memchr(s, 0, (size_t)(end - s));

		if (!nul)
			return false;
		s = nul + 1;
	}
	return true;
}

/* The oracle: what an accepted request must be. */
static void check_accepted(struct fz *f, const struct zin *in)
{
	const struct zreq *q = in->req;
	const char *why = NULL;

	if (q->size != in->len)
		why = "its size";
	else if ((q->off_path && !strings_in(in->base, in->len, q->off_path, 1)) ||
		 !strings_in(in->base, in->len, q->off_argv, q->argc) ||
		 !strings_in(in->base, in->len, q->off_envp, q->envc))
		why = "a string";
	else if (q->state.ngroups > q->groups_cap ||
		 !in_range(in->len, q->off_groups, (uint64_t)q->groups_cap * sizeof(gid_t)))
		why = "its groups";
	for (int l = 0; !why && l < 2; l++) {
		const struct zact *a = (const struct zact *)(in->base + q->off_acts[l]);
		const int *order = (const int *)(in->base + q->off_order[l]);

		if (!q->nacts[l])
			continue;
		if (!in_range(in->len, q->off_acts[l], (uint64_t)q->nacts[l] * sizeof(*a)) ||
		    !in_range(in->len, q->off_order[l], (uint64_t)q->nacts[l] * sizeof(int))) {
			why = "a step list";
			break;
		}
		for (uint32_t i = 0; i < q->nacts[l] && !why; i++)
			if (a[i].op >= FL_OP_COUNT || order[i] < 0 || (uint32_t)order[i] >= q->nacts[l] ||
			    !in_range(in->len, a[i].data_off, a[i].data_len) || a[i].data_len < needs(&a[i]))
				why = "a step";
	}
	for (uint32_t i = 1; !why && i < in->ntable; i++)
		if (in->table[2 * i] <= in->table[2 * i - 2])
			why = "its fd table's order";
	if (why)
		fz_fail(f, "the zygote accepted a request that lies in %s", why);
}

/* Lays out a request of the input's choosing in B. */
static void lay_out(struct fz *f, struct zbuf *b)
{
	struct zreq *q;
	uint32_t off, n;

	b->len = 0;
	zput(b, NULL, sizeof(*q));
	q = (struct zreq *)b->p;
	q->magic = ZMAGIC;
	q->exec_fd = -1;
	q->cgroup_step = -1;
	q->state.slack = 50000;
	q->groups_cap = fz_u8(f) % 5;
	q->state.ngroups = q->groups_cap ? fz_u8(f) % (q->groups_cap + 1) : 0;
	q->off_groups = zput(b, NULL, q->groups_cap * sizeof(gid_t));
	q->off_path = zput(b, FZ_PROGRAM, sizeof(FZ_PROGRAM));
	n = 1 + fz_u8(f) % 4;
	q->off_argv = zput_strings(f, b, n);
	q->argc = n;
	n = fz_u8(f) % 4;
	q->off_envp = zput_strings(f, b, n);
	q->envc = n;
	q->sh = fz_u8(f) & 1;
	for (int l = 0; l < 2; l++) {
		uint32_t k = fz_u8(f) % 6;
		struct zact acts[6];
		int order[6];

		if (!k)
			continue;
		for (uint32_t i = 0; i < k; i++) {
			uint8_t len = fz_u8(f) % 24;
			char data[24];

			for (uint8_t j = 0; j < len; j++)
				data[j] = (char)fz_u8(f);
			if (len)
				data[len - 1] = 0;
			acts[i] = (struct zact){ .op = fz_u8(f) % (FL_OP_COUNT + 1), .flags = fz_u8(f) & 1,
						 .fd = (int8_t)fz_u8(f), .fd2 = (int8_t)fz_u8(f),
						 .arg = (int8_t)fz_u8(f), .data_len = len };
			acts[i].data_off = len ? zput(b, data, len) : 0;
			order[i] = (int)i;
		}
		off = zput(b, acts, k * sizeof(acts[0]));
		q = (struct zreq *)b->p;
		q->nacts[l] = k;
		q->off_acts[l] = off;
		q->off_order[l] = zput(b, order, k * sizeof(int));
	}
	q = (struct zreq *)b->p;
	q->size = (uint32_t)b->len;
	/* The lies: bytes overwritten, anywhere. */
	for (int k = fz_u8(f) % 8; k > 0; k--) {
		uint16_t at = (uint16_t)(fz_u8(f) << 8 | fz_u8(f));

		b->p[at % b->len] = (char)fz_u8(f);
	}
}

/* Sends the request in B on SOCK: inline, cut, padded or in a memfd. */
static void send_request(struct fz *f, int sock, struct zbuf *b)
{
	uint8_t how = fz_u8(f) % 8;

	if (how == 0) {
		int memfd = memfd_create("fl-fuzz", MFD_CLOEXEC);
		struct zreq head;

		if (memfd < 0 || write(memfd, b->p, b->len) != (ssize_t)b->len) {
			if (memfd >= 0)
				close(memfd);
			return;
		}
		memcpy(&head, b->p, sizeof(head));
		head.in_memfd = 1;
		fl_zmsg_send(sock, &head, sizeof(head), &memfd, 1);
		close(memfd);
	} else if (how == 1) {
		fl_zmsg_send(sock, b->p, fz_u8(f) % (b->len + 1), NULL, 0);
	} else if (how == 2 && b->len + 64 <= sizeof(b->p)) {
		fl_zmsg_send(sock, b->p, b->len + fz_u8(f) % 64, NULL, 0);
	} else {
		fl_zmsg_send(sock, b->p, b->len, NULL, 0);
	}
}

/* The fd table's parts, each with as many fds as the input says. */
static void send_table(struct fz *f, int sock, int null)
{
	int parts = 1 + fz_u8(f) % 3, number = -1;

	for (int p = 0; p < parts; p++) {
		int32_t part[3 + 2 * 8];
		struct ztable *t = (struct ztable *)part;
		int fds[10], nfds = p == 0, want;
		uint32_t n = fz_u8(f) % 9;

		t->magic = fz_u8(f) == 0xff ? 0 : ZTABLE;
		t->n = n;
		t->last = p == parts - 1 ? fz_u8(f) != 0xfe : 0;
		for (uint32_t i = 0; i < n; i++) {
			number += fz_u8(f) % 4;	/* 0: a repeat, out of order */
			part[3 + 2 * i] = number;
			part[3 + 2 * i + 1] = fz_u8(f) % 4;	/* 3: no such kind */
			nfds += part[3 + 2 * i + 1] != FD_PLACEHOLDER;
		}
		want = nfds + (int)(fz_u8(f) % 3) - 1;	/* one short, right, one over */
		want = want < 0 ? 0 : want > 10 ? 10 : want;
		for (int i = 0; i < want; i++)
			fds[i] = null;
		fl_zmsg_send(sock, part, sizeof(*t) + n * 2 * sizeof(int32_t), fds, want);
	}
}

static int fuzz_zygote(struct fz *f)
{
	static struct zbuf b;
	struct zin in = { 0 };
	int sv[2], null, before = fd_count();

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
		return 0;
	null = open("/dev/null", O_RDONLY | O_CLOEXEC);
	/* One or two requests back to back: the second must be read whole
	 * whatever the first was. */
	for (int r = 0, count = 1 + (fz_u8(f) & 1); r < count && null >= 0; r++) {
		lay_out(f, &b);
		send_request(f, sv[0], &b);
		send_table(f, sv[0], null);
	}
	close(sv[0]);
	while (fl_zreq_recv(sv[1], &in) == 0) {
		if (!in.error) {
			check_accepted(f, &in);
			if (fl_zreq_lay_out(&in) < 0)
				fz_fail(f, "an accepted request could not be laid out");
		}
		fl_zreq_done(&in);
	}
	close(sv[1]);
	free(in.table);		/* kept from request to request, as the zygote keeps them */
	free(in.fds);
	if (null >= 0)
		close(null);
	if (fd_count() != before)
		fz_fail(f, "the parser left %d fds open, was %d", fd_count(), before);
	return 0;
}

FZ_TARGET(fuzz_zygote)
