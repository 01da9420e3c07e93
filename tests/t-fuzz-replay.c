// SPDX-License-Identifier: MIT
/*
 * The fuzz targets (tests/fuzz/) as a test: every input of their seed
 * corpus, and every input a fuzzing run found a fault with (kept in
 * tests/fuzz/regress/TARGET/, one file each, named for the fault), replayed
 * through the same code libFuzzer runs.  Here a broken rule is a failed test
 * point rather than an abort, and the build is the plain one (or make
 * asan's, make tsan's), not the fuzzer's.
 */
#define FZ_REPLAY
#include "fuzz/builders.c"
#include "fuzz/compat.c"
#include "fuzz/zygote.c"

#include <dirent.h>
#include <fcntl.h>

/* The directory this file was compiled from (make check runs in the tree). */
static void fuzz_dir(char *buf, size_t len)
{
	const char *slash = strrchr(__FILE__, '/');
	int n = slash ? (int)(slash - __FILE__) : 1;

	snprintf(buf, len, "%.*s/fuzz", n, slash ? __FILE__ : ".");
}

/* Reads FILE into *DATA (malloc'd); its size, or -1. */
static ssize_t slurp(const char *file, uint8_t **data)
{
	int fd = open(file, O_RDONLY | O_CLOEXEC);
	size_t cap = 4096, got = 0;
	ssize_t n;

	*data = NULL;
	if (fd < 0)
		return -1;
	*data = malloc(cap);
	while (*data && (n = read(fd, *data + got, cap - got)) > 0) {
		got += n;
		if (got == cap)
			*data = realloc(*data, cap *= 2);
	}
	close(fd);
	return *data ? (ssize_t)got : -1;
}

/*
 * Replays every file of DIR through RUN.  EACH: one test point per file
 * (the saved faults); else one for the directory (the corpus), with each
 * broken rule as a diagnostic.  Returns how many files it read, or -1 if DIR
 * cannot be read.
 */
static int replay_dir(const char *dir, int (*run)(struct fz *), bool each)
{
	struct dirent **names;
	int n = scandir(dir, &names, NULL, alphasort), files = 0, bad = 0;

	if (n < 0)
		return -1;
	for (int i = 0; i < n; i++) {
		char path[4096];
		uint8_t *data;
		ssize_t size;
		struct fz f = { .replay = true };

		if (names[i]->d_name[0] == '.') {
			free(names[i]);
			continue;
		}
		snprintf(path, sizeof(path), "%s/%s", dir, names[i]->d_name);
		free(names[i]);
		size = slurp(path, &data);
		files++;
		if (size < 0) {
			ok(0, "%s: %s", path, strerror(errno));
			continue;
		}
		f.start = f.p = data;
		f.size = f.n = (size_t)size;
		run(&f);
		free(data);
		if (each)
			ok(!f.why[0], "%s replays cleanly%s%s", path, f.why[0] ? ": " : "", f.why);
		else if (f.why[0] && ++bad)
			diag("%s: %s", path, f.why);
	}
	free(names);
	if (!each)
		ok(!bad, "%s: %d inputs replay cleanly (%d broke a rule)", dir, files, bad);
	return files;
}

int main(void)
{
	static const struct {
		const char *name;
		int (*run)(struct fz *);
	} targets[] = { { "builders", fuzz_builders }, { "compat", fuzz_compat }, { "zygote", fuzz_zygote } };
	char base[4096], dir[4200];

	fuzz_dir(base, sizeof(base));
	for_each_engine(e) {}
	for (size_t t = 0; t < sizeof(targets) / sizeof(targets[0]); t++) {
		int files;

		snprintf(dir, sizeof(dir), "%s/corpus/%s", base, targets[t].name);
		files = replay_dir(dir, targets[t].run, false);
		ok(files > 0, "%s: the seed corpus is there (%d inputs)", dir, files);
		snprintf(dir, sizeof(dir), "%s/regress/%s", base, targets[t].name);
		files = replay_dir(dir, targets[t].run, true);
		ok(files >= 0, "%s can be read", dir);
	}
	return done();
}
