/* SPDX-License-Identifier: MIT */
/* What the parts of the `forkless` command share.  The command uses only the
 * public API (forkless.h), like any other program would. */
#ifndef FL_CLI_H
#define FL_CLI_H

#include <stdbool.h>
#include <stdio.h>

#include "forkless.h"

/* Exit codes of the command's own failures, as env(1), timeout(1) and
 * chroot(1) use them, so they do not clash with the child's 126 and 127. */
#define CLI_EXIT_USAGE 125

/* The subcommands: each gets argv from its own name on and returns main's
 * exit status. */
int cmd_bench(int argc, char **argv);
int cmd_run(int argc, char **argv);
int cmd_probe(int argc, char **argv);

/* Their usage texts, for `forkless help CMD` and for option errors. */
void usage_bench(FILE *out);
void usage_run(FILE *out);
void usage_probe(FILE *out);

/* The program name for messages ("forkless"). */
extern const char *cli_name;

/* "forkless: " + the message + "\n" on stderr. */
void cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Parses a whole decimal integer into *OUT within [MIN, MAX]; false if the
 * text is not one. */
bool cli_parse_long(const char *text, long min, long max, long *out);

/* Prints S as a JSON string (quotes and escapes included). */
void json_string(FILE *out, const char *s);

/* One line describing the machine: CPU model, CPUs, kernel, glibc. */
void cli_machine(char *buf, size_t len);

#endif
