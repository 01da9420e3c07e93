// SPDX-License-Identifier: MIT
/*
 * A template built once and spawned many times, each call with its own argv,
 * each child waited for.  "echo" is searched in PATH once, when the template
 * is built, not at every spawn.
 *
 * Build: cc -Iinclude examples/spawn-template.c build/libforkless.a -pthread
 */
#include <forkless.h>
#include <stdio.h>
#include <sys/wait.h>

int main(void)
{
	fl_spec *spec;
	int status;

	if (fl_spec_new(&spec) < 0 || fl_spec_set_file(spec, "echo") < 0)
		return 1;
	for (int i = 1; i <= 3; i++) {
		char n[16], msg[512], *argv[] = { "echo", "call", n, NULL };
		fl_spawn_args args = { .argv = argv };	/* this call's argv */
		fl_child child;
		fl_report report;

		snprintf(n, sizeof(n), "%d", i);
		fflush(stdout);		/* the child writes to the same stdout */
		if (fl_spawn(spec, &args, &child, &report) < 0) {
			fl_report_format(spec, &args, &report, msg, sizeof(msg));
			fprintf(stderr, "%s\n", msg);
			return 1;
		}
		fl_child_wait(&child, &status);
		printf("call %d: exited with %d\n", i, WEXITSTATUS(status));
	}
	fl_spec_free(spec);
	return 0;
}
