// SPDX-License-Identifier: MIT
/*
 * forkless probe: the kernel features the library found (fl_feature), the
 * engines it can run, the default one, and the fallback each part of the
 * library takes here.  The fallbacks are derived from the features the way
 * the library documents its choices; the command sees only the public API.
 */
#include <getopt.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

/* The first kernel with each feature, as forkless.h documents them.  A
 * feature added to the enum later and not here prints without one. */
static const char *const min_kernel[] = {
	[FL_FEAT_CLONE3] = "5.3",
	[FL_FEAT_CLONE_PIDFD] = "5.2",
	[FL_FEAT_CLEAR_SIGHAND] = "5.5",
	[FL_FEAT_INTO_CGROUP] = "5.7",
	[FL_FEAT_PIDFD_OPEN] = "5.3",
	[FL_FEAT_PIDFD_SEND_SIGNAL] = "5.1",
	[FL_FEAT_WAITID_PIDFD] = "5.4",
	[FL_FEAT_CLOSE_RANGE] = "5.9",
	[FL_FEAT_EXECVEAT] = "3.19",
	[FL_FEAT_IOURING_WAITID] = "6.7",
	[FL_FEAT_PIDFD_INFO_EXIT] = "6.15",
};

static bool has(int feature)
{
	return fl_feature(feature) == 1;
}

/* One "what: how" line per part of the library whose way depends on the kernel. */
struct fallback {
	const char *what;
	char how[160];
};

static void add(struct fallback *fb, int *n, const char *what, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static void add(struct fallback *fb, int *n, const char *what, const char *fmt, ...)
{
	va_list ap;

	fb[*n].what = what;
	va_start(ap, fmt);
	vsnprintf(fb[*n].how, sizeof(fb[*n].how), fmt, ap);
	va_end(ap);
	(*n)++;
}

static int fallbacks(struct fallback *fb)
{
	bool clone3 = has(FL_FEAT_CLONE3), pidfd = has(FL_FEAT_CLONE_PIDFD);
	bool clear = clone3 && has(FL_FEAT_CLEAR_SIGHAND);
	int n = 0;

	if (clone3)
		add(fb, &n, "clone engine", "clone3(CLONE_VM|CLONE_VFORK%s%s) on a cached stack",
		    pidfd ? "|CLONE_PIDFD" : "", clear ? "|CLONE_CLEAR_SIGHAND" : "");
	else
		add(fb, &n, "clone engine", "clone() fallback (no usable clone3)%s",
		    pidfd ? " with CLONE_PIDFD" : "");
	add(fb, &n, "signal handlers in the child", "%s",
	    clear ? "reset by the kernel (CLONE_CLEAR_SIGHAND)"
		  : "reset one by one in the child (no CLONE_CLEAR_SIGHAND)");
	add(fb, &n, "pidfd of a child", "%s",
	    pidfd ? "returned by clone (CLONE_PIDFD)"
	    : has(FL_FEAT_PIDFD_OPEN) ? "pidfd_open after the spawn" : "none: children are handled by pid");
	add(fb, &n, "waiting", "%s", has(FL_FEAT_WAITID_PIDFD) ? "waitid(P_PIDFD)" : "waitid(P_PID)");
	add(fb, &n, "signalling", "%s", has(FL_FEAT_PIDFD_SEND_SIGNAL) ? "pidfd_send_signal" : "kill(pid)");
	add(fb, &n, "closefrom step", "%s", has(FL_FEAT_CLOSE_RANGE) ? "close_range" : "/proc/self/fd listing");
	add(fb, &n, "cgroup step", "%s",
	    clone3 && has(FL_FEAT_INTO_CGROUP) ? "CLONE_INTO_CGROUP in the clone engine, cgroup.procs in the others"
					       : "a write to cgroup.procs");
	add(fb, &n, "program by fd", "%s",
	    has(FL_FEAT_EXECVEAT) ? "execveat(AT_EMPTY_PATH)" : "unavailable (no execveat)");
	add(fb, &n, "reaping many children", "%s",
	    has(FL_FEAT_IOURING_WAITID) ? "io_uring IORING_OP_WAITID available"
					: "epoll on pidfds (no IORING_OP_WAITID)");
	return n;
}

/* Why the default engine is the one it is. */
static const char *default_why(const char *env, int def)
{
	static char buf[160];

	if (!env || !*env)
		return "FORKLESS_ENGINE unset: the fastest engine here";
	if (!strcmp(env, "auto"))
		return "FORKLESS_ENGINE=auto: the fastest engine here";
	if (fl_engine_from_name(env) == def)
		snprintf(buf, sizeof(buf), "chosen by FORKLESS_ENGINE=%s", env);
	else
		snprintf(buf, sizeof(buf), "FORKLESS_ENGINE=%.64s is not usable here and is ignored", env);
	return buf;
}

void usage_probe(FILE *out)
{
	fprintf(out,
		"usage: forkless probe [--json]\n"
		"\n"
		"Prints the kernel features forkless found, the engines it can run, the\n"
		"default engine (FORKLESS_ENGINE, else the fastest) and the fallback each\n"
		"part of the library takes on this kernel.\n");
}

int cmd_probe(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	struct fallback fb[16];
	const char *env = getenv("FORKLESS_ENGINE");
	char machine[512];
	bool json = false;
	int c, nfb, def;

	while ((c = getopt_long(argc, argv, "+jh", opts, NULL)) != -1) {
		switch (c) {
		case 'j':
			json = true;
			break;
		case 'h':
			usage_probe(stdout);
			return 0;
		default:
			usage_probe(stderr);
			return CLI_EXIT_USAGE;
		}
	}
	if (optind < argc) {
		cli_error("probe: unexpected argument \"%s\"", argv[optind]);
		return CLI_EXIT_USAGE;
	}
	cli_machine(machine, sizeof(machine));
	nfb = fallbacks(fb);
	def = fl_engine_default();

	if (json) {
		printf("{\n  \"version\": \"%d.%d\",\n  \"machine\": ", FL_VERSION_MAJOR, FL_VERSION_MINOR);
		json_string(stdout, machine);
		printf(",\n  \"features\": {");
		for (int f = 0; f < FL_FEAT_COUNT; f++) {
			printf("%s\n    ", f ? "," : "");
			json_string(stdout, fl_feature_name(f));
			printf(": %s", has(f) ? "true" : "false");
		}
		printf("\n  },\n  \"engines\": {");
		for (int e = FL_ENGINE_AUTO + 1, first = 1; e < FL_ENGINE_COUNT; e++, first = 0) {
			printf("%s\n    ", first ? "" : ",");
			json_string(stdout, fl_engine_name(e));
			printf(": %s", fl_engine_supported(e) == 0 ? "true" : "false");
		}
		printf("\n  },\n  \"default_engine\": ");
		json_string(stdout, fl_engine_name(def));
		printf(",\n  \"default_reason\": ");
		json_string(stdout, default_why(env, def));
		printf(",\n  \"FORKLESS_ENGINE\": ");
		if (env)
			json_string(stdout, env);
		else
			printf("null");
		printf(",\n  \"fallbacks\": {");
		for (int i = 0; i < nfb; i++) {
			printf("%s\n    ", i ? "," : "");
			json_string(stdout, fb[i].what);
			printf(": ");
			json_string(stdout, fb[i].how);
		}
		printf("\n  }\n}\n");
		return 0;
	}

	printf("forkless %d.%d on %s\n\n", FL_VERSION_MAJOR, FL_VERSION_MINOR, machine);
	printf("kernel features:\n");
	for (int f = 0; f < FL_FEAT_COUNT; f++) {
		const char *since = f < (int)(sizeof(min_kernel) / sizeof(min_kernel[0])) ? min_kernel[f] : NULL;

		printf("  %-22s %-4s", fl_feature_name(f), has(f) ? "yes" : "no");
		if (since)
			printf("  (Linux %s)", since);
		printf("\n");
	}
	printf("\nengines:\n");
	for (int e = FL_ENGINE_AUTO + 1; e < FL_ENGINE_COUNT; e++)
		printf("  %-8s %s%s\n", fl_engine_name(e),
		       fl_engine_supported(e) == 0 ? "supported" : "unavailable (this build or kernel)",
		       e == def ? ", the default" : "");
	printf("\ndefault engine: %s (%s)\n", fl_engine_name(def), default_why(env, def));
	printf("\nin use on this kernel:\n");
	for (int i = 0; i < nfb; i++)
		printf("  %-29s %s\n", fb[i].what, fb[i].how);
	return 0;
}
