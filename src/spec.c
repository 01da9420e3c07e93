// SPDX-License-Identifier: MIT
/* Templates: what to run, resolved and laid out once, spawned many times. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"

FL_API int fl_version(void)
{
	return FL_VERSION;
}

FL_API int fl_spec_new(fl_spec **out)
{
	struct fl_spec *spec = calloc(1, sizeof(*spec));

	if (!spec)
		return -ENOMEM;
	spec->exec_fd = -1;
	fl_actions_init(&spec->acts);
	*out = spec;
	return 0;
}

/* Forgets the program, whichever way it was given. */
static void clear_program(struct fl_spec *spec)
{
	free(spec->path);
	free(spec->file);
	free(spec->search);
	spec->path = spec->file = spec->search = NULL;
	spec->search_next = 0;
	spec->search_eacces = false;
	if (spec->exec_fd >= 0)
		close(spec->exec_fd);
	spec->exec_fd = -1;
}

FL_API void fl_spec_free(fl_spec *spec)
{
	if (!spec)
		return;
	fl_inflight_quiesce(spec);	/* async children not yet exec'd read it */
	clear_program(spec);
	free(spec->argv);
	free(spec->envp);
	fl_actions_clear(&spec->acts);
	free(spec);
}

FL_API int fl_spec_set_path(fl_spec *spec, const char *path)
{
	char *copy;

	if (!spec || !path || !*path)
		return -EINVAL;
	if (strlen(path) >= PATH_MAX)
		return -ENAMETOOLONG;
	copy = strdup(path);
	if (!copy)
		return -ENOMEM;
	clear_program(spec);
	spec->path = copy;
	return 0;
}

/* The errors for which execvp goes on with the next PATH entry (child.c
 * has the same list). */
bool fl_search_skips(int err)
{
	return err == ENOENT || err == ENOTDIR || err == ESTALE || err == ENODEV ||
	       err == ETIMEDOUT || err == EACCES;
}

/*
 * Would execve(candidate) fail in a way the search skips?  Answers with one
 * stat and one access check instead of an execve per entry.
 * 0: try this one; a skipping errno otherwise.
 */
int fl_search_probe(const char *candidate)
{
	struct stat st;

	if (stat(candidate, &st) < 0)
		return fl_search_skips(errno) ? errno : 0;
	if (!S_ISREG(st.st_mode) || faccessat(AT_FDCWD, candidate, X_OK, AT_EACCESS) < 0)
		return EACCES;
	return 0;
}

int fl_search_path(const char *search, size_t *off, const char *file, char *buf, bool *eacces)
{
	size_t flen = strlen(file);

	for (;;) {
		const char *dir = search + *off;
		size_t dlen = strcspn(dir, ":");
		int err = ENOENT;	/* an entry too long to join is skipped */

		*off = dir[dlen] ? *off + dlen + 1 : FL_SEARCH_END;
		/* An empty entry is the current directory. */
		if (dlen + 1 + flen < PATH_MAX) {
			if (dlen) {
				memcpy(buf, dir, dlen);
				buf[dlen] = '/';
				memcpy(buf + dlen + 1, file, flen + 1);
			} else {
				memcpy(buf, file, flen + 1);
			}
			err = fl_search_probe(buf);
			if (!err)
				return 0;
			if (err == EACCES)
				*eacces = true;
		}
		/* As execvp: EACCES if an entry gave it, else the last entry's error. */
		if (*off == FL_SEARCH_END)
			return *eacces ? -EACCES : -err;
	}
}

FL_API int fl_spec_set_file(fl_spec *spec, const char *file)
{
	const char *path_env;
	char candidate[PATH_MAX], *path, *fcopy, *search;
	size_t off = 0;
	bool eacces = false;
	int ret;

	if (!spec || !file)
		return -EINVAL;
	if (!*file)
		return -ENOENT;
	if (strchr(file, '/'))
		return fl_spec_set_path(spec, file);
	if (strlen(file) > NAME_MAX)
		return -ENAMETOOLONG;
	path_env = getenv("PATH");
	if (!path_env)
		path_env = "/bin:/usr/bin";	/* glibc's default when PATH is unset */

	ret = fl_search_path(path_env, &off, file, candidate, &eacces);
	if (ret < 0)
		return ret;
	path = strdup(candidate);
	fcopy = strdup(file);
	search = strdup(path_env);
	if (!path || !fcopy || !search) {
		free(path), free(fcopy), free(search);
		return -ENOMEM;
	}
	clear_program(spec);
	spec->path = path;
	spec->file = fcopy;
	spec->search = search;
	spec->search_next = off;
	spec->search_eacces = eacces;
	return 0;
}

FL_API int fl_spec_set_fd(fl_spec *spec, int fd)
{
	int copy;

	if (!spec)
		return -EINVAL;
	if (fd < 0)
		return -EBADF;
	copy = fcntl(fd, F_DUPFD_CLOEXEC, 0);
	if (copy < 0)
		return -errno;
	clear_program(spec);
	spec->exec_fd = copy;
	return 0;
}

FL_API const char *fl_spec_path(const fl_spec *spec)
{
	return spec ? spec->path : NULL;
}

int fl_vector_copy(char *const v[], char ***out)
{
	size_t n = 0, bytes = 0;
	char **copy, *p;

	for (; v[n]; n++)
		bytes += strlen(v[n]) + 1;
	copy = malloc((n + 1) * sizeof(char *) + bytes);
	if (!copy)
		return -ENOMEM;
	p = (char *)(copy + n + 1);
	for (size_t i = 0; i < n; i++) {
		size_t len = strlen(v[i]) + 1;

		copy[i] = memcpy(p, v[i], len);
		p += len;
	}
	copy[n] = NULL;
	*out = copy;
	return 0;
}

FL_API int fl_spec_set_argv(fl_spec *spec, char *const argv[])
{
	char **copy = NULL;
	int ret;

	if (!spec)
		return -EINVAL;
	if (argv && (ret = fl_vector_copy(argv, &copy)) < 0)
		return ret;
	free(spec->argv);
	spec->argv = copy;
	return 0;
}

FL_API int fl_spec_set_envp(fl_spec *spec, char *const envp[])
{
	char **copy = NULL;
	int ret;

	if (!spec)
		return -EINVAL;
	if (envp && (ret = fl_vector_copy(envp, &copy)) < 0)
		return ret;
	free(spec->envp);
	spec->envp = copy;
	return 0;
}

FL_API int fl_spec_set_flags(fl_spec *spec, unsigned flags)
{
	if (!spec || (flags & ~(FL_SPEC_ENOEXEC_SH | FL_SPEC_EXEC_FD | FL_SPEC_NO_PIDFD)))
		return -EINVAL;
	spec->flags = flags;
	return 0;
}

FL_API int fl_spec_set_engine(fl_spec *spec, int engine)
{
	int ret;

	if (!spec)
		return -EINVAL;
	ret = fl_engine_supported(engine);
	if (ret < 0)
		return ret;
	spec->engine = engine;
	return 0;
}

FL_API fl_actions *fl_spec_actions(fl_spec *spec)
{
	return spec ? &spec->acts : NULL;
}
