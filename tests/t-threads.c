// SPDX-License-Identifier: MIT
/*
 * Eight threads spawning at once from one template, through each engine: a
 * few hundred spawns, each with its own argv (the exit code says whose it
 * was) and a per-call action; all succeed, each child is the one asked for,
 * and afterwards no fd is left open and no zombie remains.  Failing spawns
 * are mixed in (a missing directory) to run the error path concurrently too.
 */
#include <pthread.h>
#include <stdio.h>

#include "util.h"

#define THREADS 8
#define PER_THREAD 24

struct worker {
	const fl_spec *spec;
	int engine, id, ok, wrong, failed, failed_right;
	pthread_barrier_t *start;
};

static void *work(void *arg)
{
	struct worker *w = arg;
	char code[16], *argv[] = { (char *)helper_path(), (char *)"exit", code, NULL };
	fl_actions *good, *bad;

	fl_actions_new(&good);
	fl_act_chdir(good, "/", 0);
	fl_actions_new(&bad);
	fl_act_chdir(bad, "/nonexistent", 0);
	pthread_barrier_wait(w->start);
	for (int i = 0; i < PER_THREAD; i++) {
		fl_spawn_args args = { .argv = argv, .actions = good };
		fl_report rep;
		int status, ret, want = w->id * PER_THREAD + i;

		snprintf(code, sizeof(code), "%d", want % 256);
		if (i % 8 == 7) {	/* a failing one now and then */
			args.actions = bad;
			ret = spawn_wait(w->spec, &args, &status, &rep);
			w->failed++;
			w->failed_right += ret == -ENOENT &&
					    step_is(w->engine, rep.step, 0);
			continue;
		}
		ret = spawn_wait(w->spec, &args, &status, &rep);
		if (ret == 0 && WIFEXITED(status) && WEXITSTATUS(status) == want % 256)
			w->ok++;
		else
			w->wrong++;
	}
	fl_actions_free(good);
	fl_actions_free(bad);
	return NULL;
}

int main(void)
{
	for_each_engine(e) {
		const char *E = fl_engine_name(e);
		struct worker w[THREADS];
		pthread_t t[THREADS];
		pthread_barrier_t start;
		fl_spec *spec;
		int fds = fd_count(), good = 0, wrong = 0, failed = 0, failed_right = 0;

		state_spec(&spec, e);
		pthread_barrier_init(&start, NULL, THREADS);
		for (int i = 0; i < THREADS; i++) {
			w[i] = (struct worker){ .spec = spec, .engine = e, .id = i, .start = &start };
			pthread_create(&t[i], NULL, work, &w[i]);
		}
		for (int i = 0; i < THREADS; i++) {
			pthread_join(t[i], NULL);
			good += w[i].ok;
			wrong += w[i].wrong;
			failed += w[i].failed;
			failed_right += w[i].failed_right;
		}
		pthread_barrier_destroy(&start);
		fl_spec_free(spec);
		ok(good == THREADS * PER_THREAD - failed && !wrong,
		   "%s: %d threads, %d spawns: %d ran the right child, %d wrong", E, THREADS, THREADS * PER_THREAD, good,
		   wrong);
		ok(failed_right == failed, "%s: %d failing spawns reported ENOENT at their step (%d right)", E, failed,
		   failed_right);
		check_clean(E, fds);
	}
	return done();
}
