// SPDX-License-Identifier: MIT
/*
 * posix_spawn, differentially: every scenario of compat-scenarios.h (file
 * actions, attributes, exec errors, PATH search) runs through glibc's own
 * posix_spawn and through fl_posix_spawn, in this one process, under the
 * default engine and then under each engine in turn (chosen per call with
 * fl_posix_spawnattr_setengine_np, since FORKLESS_ENGINE is read once per
 * process); the reports must be equal: return value, errno, the child's whole
 * observable state, the files the actions left.  After each spawn: no fd
 * leaked, no zombie.
 */
#include "util.h"
#include "compat-scenarios.h"

static const struct spawn_api fl_api = {
	"forkless",
	fl_posix_spawn_file_actions_init, fl_posix_spawn_file_actions_destroy,
	fl_posix_spawn_file_actions_addopen, fl_posix_spawn_file_actions_addclose,
	fl_posix_spawn_file_actions_adddup2, fl_posix_spawn_file_actions_addchdir_np,
	fl_posix_spawn_file_actions_addfchdir_np, fl_posix_spawn_file_actions_addclosefrom_np,
	fl_posix_spawn_file_actions_addtcsetpgrp_np,
	fl_posix_spawnattr_init, fl_posix_spawnattr_destroy, fl_posix_spawnattr_setflags,
	fl_posix_spawnattr_setpgroup, fl_posix_spawnattr_setsigmask, fl_posix_spawnattr_setsigdefault,
	fl_posix_spawnattr_setschedparam, fl_posix_spawnattr_setschedpolicy, fl_posix_spawnattr_setengine_np,
	fl_posix_spawn, fl_posix_spawnp,
};

/* The first line where A and B differ, as diagnostics. */
static void show_difference(const char *a, const char *b)
{
	int line = 1;

	while (*a && *a == *b) {
		if (*a == '\n')
			line++;
		a++, b++;
	}
	while (line > 1 && a[-1] != '\n')
		a--, b--;
	diag("line %d: glibc:    %.*s", line, (int)strcspn(a, "\n"), a);
	diag("line %d: forkless: %.*s", line, (int)strcspn(b, "\n"), b);
}

int main(void)
{
	static char expect[1 << 17], got[1 << 17];
	int fds;

	if (sc_setup(helper_path()) < 0) {
		skip("no temporary directory or fds for the fixtures", "scenarios");
		return done();
	}
	/* The library's own lasting fds (the zygote's socket and pidfd) first. */
	for (int e = FL_ENGINE_AUTO + 1; e < FL_ENGINE_COUNT; e++)
		fl_engine_warm(e);
	fds = fd_count();
	for (size_t i = 0; i < N_SCENARIOS; i++) {
		const struct scenario *sc = &scenarios[i];

		if (sc->other_euid && geteuid() != 0) {
			skip("needs root to change the effective ids", "%s", sc->name);
			continue;
		}
		if (sc->fa[0].path && !strcmp(sc->fa[0].path, "@PTY") && !sc_pty[0]) {
			skip("no pseudo-terminal", "%s", sc->name);
			continue;
		}
		sc_run(&libc_api, sc, 0, expect, sizeof(expect));
		for (int e = FL_ENGINE_AUTO; e < FL_ENGINE_COUNT; e++) {
			const char *name = e ? fl_engine_name(e) : "default";

			if (e && fl_engine_supported(e) < 0)
				continue;
			sc_run(&fl_api, sc, e, got, sizeof(got));
			if (!ok(!strcmp(expect, got), "%s: %s", name, sc->name))
				show_difference(expect, got);
			if (e == FL_ENGINE_PRIMED)
				fl_primed_stop();	/* its images hold fds */
			ok(fd_count() == fds && !has_zombie(), "%s: %s: no fd leaked, no zombie", name, sc->name);
		}
	}
	sc_cleanup();
	return done();
}
