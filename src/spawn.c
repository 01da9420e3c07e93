// SPDX-License-Identifier: MIT
/* fl_spawn: prepares the job every engine runs, picks the engine, reports. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "internal.h"
#include "sys.h"

extern char **environ;

/* The one cgroup step of the spawn, which clone3 can do itself. */
static void find_cgroup(struct fl_job *job)
{
	const struct fl_actions *a0 = job->acts[0], *a1 = job->acts[1];
	int count = a0->cgroups + (a1 ? a1->cgroups : 0);

	job->cgroup_fd = job->cgroup_step = -1;
	if (count != 1)
		return;
	for (int list = 0, base = 0; list < 2 && job->acts[list]; base += job->acts[list++]->n)
		for (int i = 0; i < job->acts[list]->n; i++) {
			const struct fl_action *a = &job->acts[list]->v[i];

			/* A hard step's failure is ignored, which clone3 cannot do. */
			if (a->op == FL_OP_CGROUP && !(a->flags & FL_HARD)) {
				job->cgroup_fd = a->fd;
				job->cgroup_step = base + i;
				return;
			}
		}
}

static int argc_of(char *const *argv)
{
	int n = 0;

	while (argv[n])
		n++;
	return n;
}

/* fl_spawn, and fl_spawn_fn's callback FN (with its data) for the zygote;
 * JOB_FLAGS for the job (FL_JOB_*). */
static int spawn(const fl_spec *spec, const fl_spawn_args *args, int (*fn)(void *, size_t), const void *fn_data,
		 size_t fn_len, fl_child *child, fl_report *report, unsigned job_flags)
{
	struct fl_job job;
	char *default_argv[2], *sh_small[64], **sh_heap = NULL;
	int engine, ret;

	if (report)
		*report = (fl_report){ 0, FL_STEP_SPAWN };
	if (!spec || !child || (!spec->path && spec->exec_fd < 0)) {
		ret = -EINVAL;
		goto out;
	}
	memset(&job, 0, offsetof(struct fl_job, mask));
	job.flags = job_flags;
	job.spec = spec;
	job.fn = fn;
	job.fn_data = fn_data;
	job.fn_len = fn_len;
	job.argv = args && args->argv ? args->argv : spec->argv;
	if (!job.argv) {
		default_argv[0] = spec->path ? spec->path : (char *)"";
		default_argv[1] = NULL;
		job.argv = default_argv;
	}
	job.envp = args && args->envp ? args->envp : spec->envp ? spec->envp : environ;
	job.acts[0] = &spec->acts;
	job.acts[1] = args && args->actions && args->actions->n ? args->actions : NULL;
	job.exec_fd = spec->exec_fd;
	job.report_fd = -1;
	/* Only the parent-death step reads it: a syscall saved for the rest. */
	if ((spec->acts.ops | (job.acts[1] ? job.acts[1]->ops : 0)) & (1u << FL_OP_PDEATHSIG))
		job.parent_pid = getpid();
	job.slot.error = 0;
	job.slot.step = FL_STEP_SPAWN;
	find_cgroup(&job);

	if ((spec->flags & FL_SPEC_ENOEXEC_SH) && spec->exec_fd < 0) {
		/* { "/bin/sh", <path>, argv[1..], NULL }: the child fills in <path>.
		 * Heap only for a long argv, and only with this flag. */
		int argc = argc_of(job.argv), need = (argc ? argc : 1) + 2;

		job.sh_argv = sh_small;
		if (need > 64 && !(job.sh_argv = sh_heap = malloc(need * sizeof(char *)))) {
			ret = -ENOMEM;
			goto out;
		}
		job.sh_argv[0] = (char *)"/bin/sh";
		for (int i = 1; i < argc; i++)
			job.sh_argv[i + 1] = job.argv[i];
		job.sh_argv[(argc ? argc : 1) + 1] = NULL;
	}

	engine = spec->engine ? spec->engine : fl_engine_default();
	memset(child, 0, sizeof(*child));
	child->pid = -1;
	child->pidfd = -1;
	child->engine = engine;
	ret = fl_engine_run(engine, &job, child);
	free(sh_heap);
	if (report && ret < 0)
		*report = (fl_report){ -ret, job.slot.step };
out:
	if (ret < 0 && report)
		report->error = -ret;
	return ret;
}

FL_API int fl_spawn(const fl_spec *spec, const fl_spawn_args *args, fl_child *child, fl_report *report)
{
	return spawn(spec, args, NULL, NULL, 0, child, report, 0);
}

int fl_spawn_job(const fl_spec *spec, const fl_spawn_args *args, fl_child *child, fl_report *report,
		 unsigned job_flags)
{
	return spawn(spec, args, NULL, NULL, 0, child, report, job_flags);
}

FL_API int fl_spawn_fn(const fl_spec *spec, const fl_spawn_args *args, int (*fn)(void *data, size_t len),
		       const void *data, size_t len, fl_child *child, fl_report *report)
{
	struct fl_spec copy;

	if (report)
		*report = (fl_report){ EINVAL, FL_STEP_SPAWN };
	if (!spec || !fn || (len && !data) || len > FL_FN_DATA_MAX)
		return -EINVAL;
	/* The template as it is, on the zygote: a shallow copy, read only
	 * while the request is built. */
	copy = *spec;
	copy.engine = FL_ENGINE_ZYGOTE;
	return spawn(&copy, args, fn, data, len, child, report, 0);
}

/* Describes step INDEX of the spawn, looking in the template's list, then
 * in the call's. */
static int describe_step(const fl_spec *spec, const fl_spawn_args *args, int index, char *buf, size_t len)
{
	if (index < spec->acts.n)
		return fl_actions_describe(&spec->acts, index, buf, len);
	if (args && args->actions)
		return fl_actions_describe(args->actions, index - spec->acts.n, buf, len);
	return -ERANGE;
}

FL_API int fl_report_format(const fl_spec *spec, const fl_spawn_args *args, const fl_report *report,
			    char *buf, size_t len)
{
	const char *what = "?", *err;
	char step[PATH_MAX + 32];

	if (!spec || !report)
		return -EINVAL;
	err = report->error ? strerror(report->error) : "Success";
	if (spec->file)
		what = spec->file;
	else if (spec->path)
		what = spec->path;
	else if (spec->exec_fd >= 0)
		what = "(fd)";
	switch (report->step) {
	case FL_STEP_EXEC:
		return snprintf(buf, len, "exec \"%s\": %s", what, err);
	case FL_STEP_SPAWN:
		return snprintf(buf, len, "spawn \"%s\": %s", what, err);
	case FL_STEP_CALLBACK:
		return snprintf(buf, len, "callback before exec of \"%s\": %s", what, err);
	case FL_STEP_UNKNOWN:
		return snprintf(buf, len, "setup or exec of \"%s\": %s", what, err);
	}
	if (describe_step(spec, args, report->step, step, sizeof(step)) < 0)
		snprintf(step, sizeof(step), "?");
	return snprintf(buf, len, "step %d (%s): %s", report->step, step, err);
}
