// SPDX-License-Identifier: MIT
/*
 * forkless: the command.  `forkless bench` measures process creation the
 * io_uring_spawn talk's way, `forkless run` starts one program with setup
 * steps given as options, `forkless probe` says what the kernel offers.  This
 * file dispatches and holds the few helpers the subcommands share.
 */
#include <errno.h>
#include <gnu/libc-version.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "cli.h"

const char *cli_name = "forkless";

void cli_error(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", cli_name);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

bool cli_parse_long(const char *text, long min, long max, long *out)
{
	char *end;
	long v;

	if (!text || !*text)
		return false;
	errno = 0;
	v = strtol(text, &end, 10);
	if (errno || *end || v < min || v > max)
		return false;
	*out = v;
	return true;
}

void json_string(FILE *out, const char *s)
{
	fputc('"', out);
	for (; s && *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			fprintf(out, "\\%c", c);
		else if (c < 0x20)
			fprintf(out, "\\u%04x", c);
		else
			fputc(c, out);
	}
	fputc('"', out);
}

void cli_machine(char *buf, size_t len)
{
	char line[256], model[128] = "unknown CPU";
	struct utsname u;
	FILE *f = fopen("/proc/cpuinfo", "re");

	while (f && fgets(line, sizeof(line), f)) {
		char *colon = strchr(line, ':');

		if (colon && !strncmp(line, "model name", 10)) {
			snprintf(model, sizeof(model), "%s", colon + 2);
			model[strcspn(model, "\n")] = 0;
			break;
		}
	}
	if (f)
		fclose(f);
	if (uname(&u) < 0)
		strcpy(u.release, "?"), strcpy(u.machine, "?");
	snprintf(buf, len, "%s, %ld CPUs, Linux %s %s, glibc %s", model, sysconf(_SC_NPROCESSORS_ONLN),
		 u.release, u.machine, gnu_get_libc_version());
}

static void version(void)
{
	int v = fl_version();

	printf("forkless %d.%d (library %d.%d at run time)\n", FL_VERSION_MAJOR, FL_VERSION_MINOR,
	       v >> 16, v & 0xffff);
}

static void usage(FILE *out)
{
	fprintf(out,
		"usage: forkless COMMAND [OPTIONS]\n"
		"\n"
		"  bench [OPTIONS]             time process creation: every engine beside glibc\n"
		"  run [OPTIONS] -- CMD ARGS   run CMD with setup steps given as options\n"
		"  probe [--json]              the kernel features found and the fallbacks in use\n"
		"  help [COMMAND]              this text, or a command's options\n"
		"  --version                   the version\n"
		"\n"
		"`forkless help bench`, `forkless help run`: their options.  man forkless(1).\n");
}

static int help(int argc, char **argv)
{
	if (argc < 2) {
		usage(stdout);
		return 0;
	}
	if (!strcmp(argv[1], "bench"))
		usage_bench(stdout);
	else if (!strcmp(argv[1], "run"))
		usage_run(stdout);
	else if (!strcmp(argv[1], "probe"))
		usage_probe(stdout);
	else {
		cli_error("no command \"%s\"", argv[1]);
		usage(stderr);
		return CLI_EXIT_USAGE;
	}
	return 0;
}

int main(int argc, char **argv)
{
	const char *cmd = argc > 1 ? argv[1] : NULL;

	if (!cmd) {
		usage(stderr);
		return CLI_EXIT_USAGE;
	}
	if (!strcmp(cmd, "bench"))
		return cmd_bench(argc - 1, argv + 1);
	if (!strcmp(cmd, "run"))
		return cmd_run(argc - 1, argv + 1);
	if (!strcmp(cmd, "probe"))
		return cmd_probe(argc - 1, argv + 1);
	if (!strcmp(cmd, "help") || !strcmp(cmd, "--help") || !strcmp(cmd, "-h"))
		return help(argc - 1, argv + 1);
	if (!strcmp(cmd, "--version") || !strcmp(cmd, "version") || !strcmp(cmd, "-V")) {
		version();
		return 0;
	}
	cli_error("no command \"%s\"", cmd);
	usage(stderr);
	return CLI_EXIT_USAGE;
}
