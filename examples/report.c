// SPDX-License-Identifier: MIT
/*
 * What a failed spawn reports: the errno and the step that failed, printed
 * with fl_report_format.  A linked step (flags 0) that fails aborts the
 * spawn; the same step with FL_HARD is skipped and the program runs.  The
 * per-call actions are numbered after the template's.  A failed child is
 * reaped by the library: there is nothing to wait for.
 *
 * Build: cc -Iinclude examples/report.c build/libforkless.a -pthread
 */
#include <forkless.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>

/* Spawns SPEC with ARGS and says what became of it. */
static void run(const fl_spec *spec, const fl_spawn_args *args)
{
	fl_child child;
	fl_report report;
	char msg[512];
	int status, ret;

	ret = fl_spawn(spec, args, &child, &report);
	if (ret == 0)	/* at once, but for the async engine */
		ret = fl_child_wait_exec(&child, &report);
	if (ret < 0) {
		fl_report_format(spec, args, &report, msg, sizeof(msg));
		printf("failed: %s\n", msg);
		return;
	}
	fl_child_wait(&child, &status);
	printf("ran, exited with %d\n", WIFEXITED(status) ? WEXITSTATUS(status) : -1);
}

int main(void)
{
	fl_spec *spec;
	fl_actions *linked, *hard;
	int ret;

	/* The template: "true", with one step of its own (index 0). */
	if ((ret = fl_spec_new(&spec)) < 0 || (ret = fl_spec_set_file(spec, "true")) < 0 ||
	    (ret = fl_act_umask(fl_spec_actions(spec), 022, 0)) < 0 ||
	    (ret = fl_actions_new(&linked)) < 0 || (ret = fl_actions_new(&hard)) < 0) {
		fprintf(stderr, "setup: %s\n", strerror(-ret));
		return 1;
	}
	/* Per-call steps: index 1 of the spawn, after the template's one. */
	fl_act_chdir(linked, "/nonexistent/dir", 0);
	fl_act_chdir(hard, "/nonexistent/dir", FL_HARD);

	run(spec, &(fl_spawn_args){ .actions = linked });
	run(spec, &(fl_spawn_args){ .actions = hard });

	/* A program that is not there fails at the exec step. */
	fl_spec_set_path(spec, "/nonexistent/program");
	run(spec, NULL);

	fl_actions_free(linked);
	fl_actions_free(hard);
	fl_spec_free(spec);
	return 0;
}
