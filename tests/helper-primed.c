// SPDX-License-Identifier: MIT
/*
 * The primed engine's test child (t-primed): a dynamically linked program
 * that writes what a primed child must get right to the file argv[1] ("-":
 * nothing) and exits with argc.  Its constructor starts a thread
 * (HELPER_PRIMED_THREAD set), opens a fd (HELPER_PRIMED_FD set) or maps
 * shared memory (HELPER_PRIMED_SHARED set), start-ups an image must refuse.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sys/mman.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

extern char **environ;

static void *sleeper(void *arg)
{
	(void)arg;
	for (;;)
		pause();
	return NULL;
}

__attribute__((constructor)) static void start(void)
{
	pthread_t t;

	if (getenv("HELPER_PRIMED_THREAD"))
		pthread_create(&t, NULL, sleeper, NULL);
	if (getenv("HELPER_PRIMED_FD"))
		(void)open("/dev/null", O_RDONLY);
	if (getenv("HELPER_PRIMED_SHARED"))
		(void)mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
}

/* FILE's bytes with each NUL as '|'. */
static void put_file(FILE *out, const char *name, const char *file)
{
	char buf[65536];
	int fd = open(file, O_RDONLY | O_CLOEXEC);
	ssize_t n = fd < 0 ? -1 : read(fd, buf, sizeof(buf));

	if (fd >= 0)
		close(fd);
	fprintf(out, "%s=", name);
	for (ssize_t i = 0; i < n; i++)
		fputc(buf[i] ? buf[i] : '|', out);
	fputc('\n', out);
}

int main(int argc, char **argv)
{
	char fds[1024] = "";
	unsigned long canary;
	DIR *d;
	FILE *out;

	if (argc < 2 || !strcmp(argv[1], "-"))
		return argc;
	/* The fds first: the report's own is not the child's. */
	d = opendir("/proc/self/fd");
	for (struct dirent *e; d && (e = readdir(d));)
		if (e->d_name[0] != '.' && atoi(e->d_name) != dirfd(d) && strlen(fds) + 16 < sizeof(fds))
			strcat(strcat(fds, e->d_name), ",");
	if (d)
		closedir(d);
	out = fopen(argv[1], "we");
	if (!out)
		return 100;
	fprintf(out, "argc=%d\n", argc);
	for (int i = 0; i < argc; i++)
		fprintf(out, "argv=%s\n", argv[i]);
	for (char **e = environ; *e; e++)
		fprintf(out, "env=%s\n", *e);
	put_file(out, "cmdline", "/proc/self/cmdline");
	put_file(out, "environ", "/proc/self/environ");
	fprintf(out, "name=%s\nshort=%s\n", program_invocation_name, program_invocation_short_name);
	__asm__("mov %%fs:0x28, %0" : "=r"(canary));
	fprintf(out, "canary=%lx\n", canary);
	/* glibc signals a thread by the tid in its descriptor: ESRCH if the
	 * child kept the image's. */
	fprintf(out, "tid=%d\n", pthread_kill(pthread_self(), 0));
	fprintf(out, "ppid=%d\nfds=%s\n", (int)getppid(), fds);
	fclose(out);
	return argc;
}
