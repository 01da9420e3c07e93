// SPDX-License-Identifier: MIT
/* The basics under every engine: a child runs, reports its exit status, and
 * a failed exec reports which step failed; nothing leaks. */
#include "util.h"

int main(void)
{
	for_each_engine(e) {
		fl_spec *spec;
		fl_child child;
		fl_report rep;
		char out[65536], val[256];
		int status = -1, fds = fd_count(), ret;

		ok(state_spec(&spec, e) == 0, "%s: template", fl_engine_name(e));
		ret = run_state(spec, NULL, out, sizeof(out), &status, &rep);
		ok(ret == 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0, "%s: spawn and exit 0 (ret %d)",
		   fl_engine_name(e), ret);
		ok(state_get(out, "ppid", val, sizeof(val)) && atoi(val) == getpid(), "%s: child of this process",
		   fl_engine_name(e));
		fl_spec_set_path(spec, "/nonexistent/program");
		ret = spawn_exec(spec, NULL, &child, &rep);
		ok(ret == -ENOENT && rep.error == ENOENT &&
		   step_is(e, rep.step, FL_STEP_EXEC),
		   "%s: missing program: ENOENT at exec (ret %d step %d)", fl_engine_name(e), ret, rep.step);
		fl_spec_free(spec);
		ok(fd_count() == fds, "%s: no fd leaked", fl_engine_name(e));
		ok(!has_zombie(), "%s: no zombie", fl_engine_name(e));
	}
	return done();
}
