// SPDX-License-Identifier: MIT
/*
 * Credentials (needs root): setgroups, setgid and setuid run in that order
 * whatever order they were added in (setuid added first must not make the
 * others fail); the ids the child observes; a parent-death signal added
 * before the credentials survives them (the kernel clears it when the ids
 * change, so the library runs it after); a per-call step that needs the
 * privilege the template's steps gave up fails at its own index.
 */
#include <grp.h>
#include <stdio.h>

#include "util.h"

#define NOBODY 65534
#define OTHER_GID 100

static void test_order(int e)
{
	const char *E = fl_engine_name(e);
	gid_t groups[] = { NOBODY, OTHER_GID };
	char out[65536];
	fl_spec *spec;
	fl_report rep;
	int status, ret, fds = fd_count();

	/* Added in the worst order: uid first would forbid the other two. */
	state_spec(&spec, e);
	fl_act_setuid(fl_spec_actions(spec), NOBODY, 0);
	fl_act_setgid(fl_spec_actions(spec), NOBODY, 0);
	fl_act_setgroups(fl_spec_actions(spec), 2, groups, 0);
	ret = run_state(spec, NULL, out, sizeof(out), &status, &rep);
	if (!cannot_express(e, ret, "credentials")) {
		ok(ret == 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0,
		   "%s: setuid, setgid, setgroups added in that order: spawned (ret %d step %d)", E, ret, rep.step);
		ok(state_is(out, "Uid", "65534 65534 65534 65534"), "%s: real, effective, saved, fs uid 65534", E);
		ok(state_is(out, "Gid", "65534 65534 65534 65534"), "%s: gids 65534", E);
		/* The kernel keeps the list sorted. */
		ok(state_is(out, "Groups", "100 65534"), "%s: groups 100 65534", E);
	}
	fl_spec_free(spec);

	/* No supplementary groups at all. */
	state_spec(&spec, e);
	fl_act_setgid(fl_spec_actions(spec), NOBODY, 0);
	fl_act_setgroups(fl_spec_actions(spec), 0, NULL, 0);
	ret = run_state(spec, NULL, out, sizeof(out), &status, &rep);
	if (!cannot_express(e, ret, "credentials"))
		ok(ret == 0 && state_is(out, "Groups", "") && state_is(out, "Gid", "65534 65534 65534 65534") &&
		   state_is(out, "Uid", "0 0 0 0"),
		   "%s: setgid 65534 and no groups, uid untouched (ret %d)", E, ret);
	fl_spec_free(spec);

	/* Interleaved with other steps: they keep their place. */
	state_spec(&spec, e);
	fl_act_chdir(fl_spec_actions(spec), "/", 0);
	fl_act_setuid(fl_spec_actions(spec), NOBODY, 0);
	fl_act_umask(fl_spec_actions(spec), 077, 0);
	fl_act_setgid(fl_spec_actions(spec), OTHER_GID, 0);
	ret = run_state(spec, NULL, out, sizeof(out), &status, &rep);
	if (!cannot_express(e, ret, "credentials"))
		ok(ret == 0 && state_is(out, "Uid", "65534 65534 65534 65534") &&
		   state_is(out, "Gid", "100 100 100 100") && state_is(out, "Umask", "0077") && state_is(out, "cwd", "/"),
		   "%s: chdir, setuid, umask, setgid: all applied (ret %d step %d)", E, ret, rep.step);
	fl_spec_free(spec);
	check_clean(E, fds);
}

static void test_pdeathsig(int e)
{
	const char *E = fl_engine_name(e);
	char out[65536], val[64];
	fl_spec *spec;
	fl_report rep;
	int status, ret, fds = fd_count();

	state_spec(&spec, e);
	fl_act_pdeathsig(fl_spec_actions(spec), SIGKILL, 0);
	fl_act_setuid(fl_spec_actions(spec), NOBODY, 0);
	ret = run_state(spec, NULL, out, sizeof(out), &status, &rep);
	if (!cannot_express(e, ret, "pdeathsig and credentials"))
		ok(ret == 0 && state_get(out, "pdeathsig", val, sizeof(val)) && atoi(val) == SIGKILL &&
		   state_is(out, "Uid", "65534 65534 65534 65534"),
		   "%s: pdeathsig added before setuid survives it (ret %d, pdeathsig %s)", E, ret, val);
	fl_spec_free(spec);
	check_clean(E, fds);
}

static void test_failures(int e)
{
	const char *E = fl_engine_name(e);
	char out[65536];
	fl_spec *spec;
	fl_actions *call;
	fl_spawn_args args = { 0 };
	fl_report rep;
	int status, ret, fds = fd_count(), idx;

	/* The template drops root; the call's step needs it. */
	state_spec(&spec, e);
	fl_act_chdir(fl_spec_actions(spec), "/", 0);
	fl_act_setuid(fl_spec_actions(spec), NOBODY, 0);
	fl_actions_new(&call);
	idx = fl_act_setgid(call, OTHER_GID, 0);	/* (0 is allowed: still the real gid) */
	args.actions = call;
	ret = run_state(spec, &args, out, sizeof(out), &status, &rep);
	if (!cannot_express(e, ret, "credentials"))
		ok(idx == 0 && ret == -EPERM && rep.error == EPERM && rep.step == 2,
		   "%s: setgid 100 after the template's setuid: -EPERM at step 2 (ret %d step %d)", E, ret, rep.step);
	fl_actions_free(call);
	fl_spec_free(spec);

	/* Hard: the failure is ignored. */
	state_spec(&spec, e);
	fl_act_setuid(fl_spec_actions(spec), NOBODY, 0);
	fl_actions_new(&call);
	fl_act_setuid(call, 0, FL_HARD);
	args.actions = call;
	ret = run_state(spec, &args, out, sizeof(out), &status, &rep);
	if (!cannot_express(e, ret, "credentials"))
		ok(ret == 0 && state_is(out, "Uid", "65534 65534 65534 65534"),
		   "%s: a hard setuid 0 after dropping root is ignored (ret %d)", E, ret);
	fl_actions_free(call);
	fl_spec_free(spec);
	check_clean(E, fds);
}

int main(void)
{
	if (geteuid() != 0) {
		skip("needs root", "credentials");
		return done();
	}
	/* The helper must be reachable by uid 65534. */
	if (access(helper_path(), X_OK) < 0) {
		diag("%s: %s", helper_path(), strerror(errno));
		return 1;
	}
	for_each_engine(e) {
		test_order(e);
		test_pdeathsig(e);
		test_failures(e);
	}
	return done();
}
