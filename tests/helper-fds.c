// SPDX-License-Identifier: MIT
/*
 * The stress and limit tests' child, built -static (no loader, no libc.so:
 * nothing of the caller's environment or of the dynamic linker opens fds in
 * it); and dynamically linked as helper-fds-dyn for the primed engine, which
 * refuses static programs (the loader closes the files it opened before
 * main, and the tests give it an empty environment).  Writes one line per open fd to fd 1, "<fd> <target>", then "end",
 * and exits 0; exits 1 if it cannot list.  Signals it was given blocked stay
 * blocked: a signal that kills it before "end" shows as a missing report.
 * With the argument "exit" it only exits 0 (a child that must run with no fd
 * free: listing needs one).
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	char out[8192], path[64], target[256];
	size_t len = 0;
	struct dirent *e;
	DIR *d;

	if (argc > 1 && !strcmp(argv[1], "exit"))
		return 0;
	d = opendir("/proc/self/fd");
	if (!d)
		return 1;
	while ((e = readdir(d))) {
		int fd = atoi(e->d_name);
		ssize_t n;

		if (e->d_name[0] == '.' || fd == dirfd(d))
			continue;
		snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
		n = readlink(path, target, sizeof(target) - 1);
		target[n > 0 ? n : 0] = 0;
		if (len + 300 < sizeof(out))
			len += snprintf(out + len, sizeof(out) - len, "%d %s\n", fd, target);
	}
	closedir(d);
	len += snprintf(out + len, sizeof(out) - len, "end\n");
	for (size_t off = 0; off < len;) {
		ssize_t n = write(1, out + off, len - off);

		if (n <= 0)
			return 1;
		off += n;
	}
	return 0;
}
