// SPDX-License-Identifier: MIT
/*
 * A child's stdout redirected into a pipe, and read by the parent: the
 * fl_act_dup2 step puts the pipe's write end on fd 1 in the child only.
 * Both pipe ends are close-on-exec, so the child keeps nothing but its fd 1,
 * and the parent sees end-of-file once the child has exited.
 *
 * Build: cc -Iinclude examples/redirect.c build/libforkless.a -pthread
 */
#define _GNU_SOURCE		/* pipe2 */
#include <fcntl.h>
#include <forkless.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

int main(void)
{
	char *argv[] = { "uname", "-s", NULL };
	char buf[256];
	fl_spec *spec;
	fl_child child;
	fl_report report;
	int p[2], status, ret;
	size_t len = 0;
	ssize_t n;

	if (pipe2(p, O_CLOEXEC) < 0) {
		perror("pipe2");
		return 1;
	}
	if ((ret = fl_spec_new(&spec)) < 0 || (ret = fl_spec_set_file(spec, "uname")) < 0 ||
	    (ret = fl_spec_set_argv(spec, argv)) < 0 ||
	    (ret = fl_act_dup2(fl_spec_actions(spec), p[1], 1, 0)) < 0) {
		fprintf(stderr, "template: %s\n", strerror(-ret));
		return 1;
	}
	ret = fl_spawn(spec, NULL, &child, &report);
	close(p[1]);		/* else the read below never sees end-of-file */
	if (ret < 0) {
		fl_report_format(spec, NULL, &report, buf, sizeof(buf));
		fprintf(stderr, "%s\n", buf);
		return 1;
	}
	while (len < sizeof(buf) - 1 && (n = read(p[0], buf + len, sizeof(buf) - 1 - len)) > 0)
		len += (size_t)n;
	buf[len] = 0;
	close(p[0]);
	fl_child_wait(&child, &status);
	printf("the child wrote: %s", buf);
	printf("and exited with %d\n", WIFEXITED(status) ? WEXITSTATUS(status) : -1);
	fl_spec_free(spec);
	return 0;
}
