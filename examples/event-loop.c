// SPDX-License-Identifier: MIT
/*
 * Several children watched from one poll(2) loop: fl_child_fd gives each
 * child's pidfd, which polls readable once the child has exited; only then is
 * it reaped, so the loop never blocks on a child that still runs.  No SIGCHLD
 * handler, and no bare pid that could have been reused.
 *
 * Build: cc -Iinclude examples/event-loop.c build/libforkless.a -pthread
 */
#include <forkless.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>

#define N 3

int main(void)
{
	/* Each child sleeps, then exits with its own code. */
	static const char *const sleeps[N] = { "0.3", "0.1", "0.2" }, *const codes[N] = { "3", "1", "2" };
	fl_spec *spec;
	fl_child child[N];
	struct pollfd pfd[N];
	int running = 0, ret;

	if ((ret = fl_spec_new(&spec)) < 0 || (ret = fl_spec_set_file(spec, "sh")) < 0) {
		fprintf(stderr, "template: %s\n", strerror(-ret));
		return 1;
	}
	for (int i = 0; i < N; i++) {
		char *argv[] = { "sh", "-c", "sleep $1; exit $2", "sh", (char *)sleeps[i], (char *)codes[i], NULL };

		ret = fl_spawn(spec, &(fl_spawn_args){ .argv = argv }, &child[i], NULL);
		if (ret < 0) {
			fprintf(stderr, "spawn: %s\n", strerror(-ret));
			return 1;
		}
		pfd[i].fd = fl_child_fd(&child[i]);	/* the child's pidfd: do not close it */
		pfd[i].events = POLLIN;
		if (pfd[i].fd < 0) {
			fprintf(stderr, "no pidfd on this kernel (Linux 5.3+): %s\n", strerror(-pfd[i].fd));
			return 1;
		}
		running++;
	}
	while (running > 0) {
		if (poll(pfd, N, -1) < 0) {
			perror("poll");
			return 1;
		}
		for (int i = 0; i < N; i++) {
			int status;

			if (pfd[i].fd < 0 || !(pfd[i].revents & POLLIN))
				continue;
			fl_child_wait(&child[i], &status);	/* it has exited: does not block */
			printf("child %d (sleep %s) exited with %d\n", i, sleeps[i],
			       WIFEXITED(status) ? WEXITSTATUS(status) : -1);
			pfd[i].fd = -1;		/* poll ignores negative fds */
			running--;
		}
	}
	fl_spec_free(spec);
	return 0;
}
