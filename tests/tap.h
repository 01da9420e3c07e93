/* SPDX-License-Identifier: MIT */
/* A minimal TAP producer for the tests: ok(), skip(), diag(), done(). */
#ifndef FL_TAP_H
#define FL_TAP_H

#include <stdarg.h>
#include <stdio.h>

static int tap_count, tap_failed;

static __attribute__((unused)) void tap_vline(const char *status, const char *fmt, va_list ap, const char *directive)
{
	printf("%s %d - ", status, ++tap_count);
	vprintf(fmt, ap);
	if (directive)
		printf(" # %s", directive);
	printf("\n");
	fflush(stdout);
}

/* One test point; returns COND so a caller can stop on failure. */
static __attribute__((unused)) __attribute__((format(printf, 4, 5))) int tap_ok(int cond, const char *file, int line, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	tap_vline(cond ? "ok" : "not ok", fmt, ap, NULL);
	va_end(ap);
	if (!cond) {
		tap_failed++;
		printf("#   failed at %s:%d\n", file, line);
		fflush(stdout);
	}
	return cond;
}
#define ok(cond, ...) tap_ok(!!(cond), __FILE__, __LINE__, __VA_ARGS__)

/* A test point that cannot run here, with the reason (a missing kernel feature). */
static __attribute__((unused)) __attribute__((format(printf, 2, 3))) void skip(const char *why, const char *fmt, ...)
{
	char directive[512];
	va_list ap;

	snprintf(directive, sizeof(directive), "SKIP %s", why);
	va_start(ap, fmt);
	tap_vline("ok", fmt, ap, directive);
	va_end(ap);
}

static __attribute__((unused)) __attribute__((format(printf, 1, 2))) void diag(const char *fmt, ...)
{
	va_list ap;

	printf("# ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
}

/* Prints the plan; the exit status for main. */
static __attribute__((unused)) int done(void)
{
	printf("1..%d\n", tap_count);
	fflush(stdout);
	return tap_failed ? 1 : 0;
}

#endif
