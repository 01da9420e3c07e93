// SPDX-License-Identifier: MIT
/*
 * The image's request loop and the child's report, until the zygote's
 * transport and the shared state transfer replace the interim request
 * below (argv, environment, mask; fds 0-2 and the cwd).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "internal.h"
#include "primed.h"
#include "sys.h"

struct preq {
	uint32_t magic, argc, envc;
	uint64_t mask;
};

void fl_primed_started(struct fl_primed_child *c)
{
	struct fl_slot ok = { 0, 0 };

	fl_sys_write(c->report_fd, &ok, sizeof(ok));
	fl_sys_close(c->report_fd);
	fl_sys_sigprocmask(SIG_SETMASK, (const sigset_t *)&c->mask, NULL);
}

void fl_primed_fail(struct fl_primed_child *c, int err)
{
	struct fl_slot rep = { -err, FL_STEP_EXEC };

	fl_sys_write(c->report_fd, &rep, sizeof(rep));
	fl_sys_exit(127);
}

struct pjob {
	struct fl_primed_child c;
	int fds[4];
};

static int pchild(void *arg)
{
	struct pjob *j = arg;
	int ch = j->c.report_fd;

	for (int i = 0; i < 3; i++)
		if (fl_sys_dup3(j->fds[i], i, 0) < 0)
			fl_primed_fail(&j->c, -EBADF);
	if (fl_sys1(__NR_fchdir, j->fds[3]) < 0)
		fl_primed_fail(&j->c, -EBADF);
	fl_sys_close_range(3, (unsigned)ch - 1, 0);
	fl_sys_close_range((unsigned)ch + 1, ~0u, 0);
	fl_primed_enter(&j->c);
}

static char **vector(char **at, uint32_t n, char **out, const char *end)
{
	for (uint32_t i = 0; i < n; i++) {
		if (*at >= end)
			return NULL;
		out[i] = *at;
		*at += strnlen(*at, (size_t)(end - *at)) + 1;
	}
	out[n] = NULL;
	return out;
}

void fl_primed_serve(int channel)
{
	static char buf[1 << 20];
	char *stack = fl_stack_map();
	uint64_t all = ~0ull;

	fl_sys_sigprocmask(SIG_SETMASK, (const sigset_t *)&all, NULL);
	if (!stack)
		_exit(1);
	for (;;) {
		union { struct cmsghdr h; char b[CMSG_SPACE(4 * sizeof(int))]; } cm;
		struct iovec iov = { buf, sizeof(buf) - 1 };
		struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = &cm, .msg_controllen = sizeof(cm) };
		struct preq *q = (struct preq *)buf;
		struct pjob j;
		struct { int32_t error, step, pid; } rep = { EPROTO, FL_STEP_SPAWN, -1 };
		char **vec = NULL, *at;
		int pidfd = -1, nfds = 0;
		ssize_t n = recvmsg(channel, &msg, MSG_CMSG_CLOEXEC);

		if (n <= 0)
			_exit(0);
		buf[n] = 0;
		if (msg.msg_controllen && cm.h.cmsg_type == SCM_RIGHTS) {
			nfds = (int)((cm.h.cmsg_len - CMSG_LEN(0)) / sizeof(int));
			memcpy(j.fds, CMSG_DATA(&cm.h), (size_t)nfds * sizeof(int));
		}
		if (n >= (ssize_t)sizeof(*q) && q->magic == FL_PRIMED_MAGIC && nfds == 4 &&
		    q->argc < (1u << 20) && q->envc < (1u << 20) &&
		    (vec = malloc((q->argc + q->envc + 2) * sizeof(char *)))) {
			at = buf + sizeof(*q);
			j.c.argv = vector(&at, q->argc, vec, buf + n);
			j.c.envp = j.c.argv ? vector(&at, q->envc, vec + q->argc + 1, buf + n) : NULL;
			j.c.mask = q->mask;
			j.c.report_fd = channel;
			if (j.c.envp) {
				struct fl_clone_args ca = {
					.flags = CLONE_PARENT | CLONE_PIDFD,
					.pidfd = (uintptr_t)&pidfd,
					.stack = (uintptr_t)stack,
					.stack_size = FL_STACK_SIZE + FL_STACK_GUARD,
				};
				long pid = fl_clone3(&ca, pchild, &j);

				rep.error = pid < 0 ? (int)-pid : 0;
				rep.pid = (int32_t)pid;
			}
		}
		free(vec);
		for (int i = 0; i < nfds; i++)
			close(j.fds[i]);
		{
			union { struct cmsghdr h; char b[CMSG_SPACE(sizeof(int))]; } out;
			struct iovec riov = { &rep, sizeof(rep) };
			struct msghdr r = { .msg_iov = &riov, .msg_iovlen = 1 };

			if (pidfd >= 0) {
				r.msg_control = &out;
				r.msg_controllen = sizeof(out);
				out.h.cmsg_level = SOL_SOCKET;
				out.h.cmsg_type = SCM_RIGHTS;
				out.h.cmsg_len = CMSG_LEN(sizeof(int));
				memcpy(CMSG_DATA(&out.h), &pidfd, sizeof(int));
			}
			if (sendmsg(channel, &r, MSG_NOSIGNAL) < 0)
				_exit(0);
			if (pidfd >= 0)
				close(pidfd);
		}
	}
}
