/* outfile.c - temporary file next to the target, fsync, rename; sets replaced together. */
#include "outfile.h"

#include <stdio.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "outfile_internal.h"

static char *dir_of(const char *path)
{
	const char *sl = strrchr(path, '/');
	if (!sl)
		return strdup(".");
	if (sl == path)
		return strdup("/");
	return strndup(path, (size_t)(sl - path));
}

int eng_out_check(const char *path, eng_err *err)
{
	struct stat sb;
	if (!*path)
		return eng_err_set(err, ENG_EINPUT, "empty output path");
	char *folder = dir_of(path);
	if (folder) /* temporary files of dead runs go as soon as a run names the folder */
		eng_out_clean_stale(folder);
	free(folder);
	if (lstat(path, &sb) == 0) {
		if (S_ISREG(sb.st_mode) || S_ISLNK(sb.st_mode))
			return 0;
		return eng_err_set(err, ENG_EINPUT, "output '%s' is %s, not a file: name a file",
		                   path, eng_err_file_kind(sb.st_mode));
	}
	if (errno != ENOENT && errno != ENOTDIR)
		return eng_err_set(err, ENG_EIO, "output '%s': %s", path, strerror(errno));
	char *dir = dir_of(path);
	if (!dir)
		return eng_err_set(err, ENG_ENOMEM, "out of memory");
	int rc = 0;
	if (stat(dir, &sb) != 0)
		rc = eng_err_set(err, errno == ENOENT || errno == ENOTDIR ? ENG_EINPUT : ENG_EIO,
		                 "output '%s': folder '%s': %s", path, dir, strerror(errno));
	else if (!S_ISDIR(sb.st_mode))
		rc = eng_err_set(err, ENG_EINPUT, "output '%s': '%s' is %s, not a folder", path,
		                 dir, eng_err_file_kind(sb.st_mode));
	free(dir);
	return rc;
}

void eng_out_clean_stale(const char *dir)
{
	DIR *d = opendir(dir);
	if (!d)
		return;
	size_t pl = strlen(ENG_OUT_TMP_PREFIX);
	struct dirent *e;
	while ((e = readdir(d))) {
		if (strncmp(e->d_name, ENG_OUT_TMP_PREFIX, pl) != 0)
			continue;
		char *end;
		long pid = strtol(e->d_name + pl, &end, 10);
		if (end == e->d_name + pl || *end != '-' || pid <= 0 || pid == (long)getpid())
			continue;
		if (kill((pid_t)pid, 0) == 0 || errno != ESRCH)
			continue; /* its process may still be writing it */
		unlinkat(dirfd(d), e->d_name, 0);
	}
	closedir(d);
}

static int make_temp(eng_outset *s, const char *path, int *fd, eng_err *err)
{
	if (s->n >= ENG_OUT_MAX)
		return eng_err_set(err, ENG_EINTERNAL, "too many outputs in one set");
	int rc = eng_out_check(path, err);
	if (rc)
		return rc;
	char *dir = dir_of(path);
	const char *base = strrchr(path, '/');
	base = base ? base + 1 : path;
	size_t n = strlen(dir ? dir : "") + strlen(ENG_OUT_TMP_PREFIX) + 96;
	char *tmp = dir ? malloc(n) : NULL, *copy = strdup(path);
	if (!tmp || !copy) {
		free(dir), free(tmp), free(copy);
		return eng_err_set(err, ENG_ENOMEM, "out of memory");
	}
	eng_out_clean_stale(dir);
	snprintf(tmp, n, "%s/%s%ld-%.60s.XXXXXX", dir, ENG_OUT_TMP_PREFIX, (long)getpid(), base);
	free(dir);
	*fd = mkstemp(tmp);
	if (*fd < 0) {
		int e = errno;
		free(tmp), free(copy);
		return eng_err_set(err, e == ENOENT || e == ENOTDIR ? ENG_EINPUT : ENG_EIO,
		                   "create a temporary file next to '%s': %s", path, strerror(e));
	}
	mode_t um = umask(0); /* mkstemp makes 0600; an output is as readable as any file */
	umask(um);
	fchmod(*fd, 0666 & ~um);
	s->it[s->n].path = copy;
	s->it[s->n].tmp = tmp;
	s->it[s->n].f = NULL;
	s->n++;
	return 0;
}

int eng_out_open(eng_outset *s, const char *path, FILE **f, eng_err *err)
{
	int fd, rc = make_temp(s, path, &fd, err);
	*f = NULL;
	if (rc)
		return rc;
	eng_out_item *it = &s->it[s->n - 1];
	if (!(it->f = fdopen(fd, "wb"))) {
		close(fd);
		return eng_err_set(err, ENG_EIO, "open '%s': %s", it->tmp, strerror(errno));
	}
	setvbuf(it->f, NULL, _IOFBF, 1 << 16);
	*f = it->f;
	return 0;
}

int eng_out_reserve(eng_outset *s, const char *path, const char **tmp, eng_err *err)
{
	int fd, rc = make_temp(s, path, &fd, err);
	*tmp = NULL;
	if (rc)
		return rc;
	close(fd);
	*tmp = s->it[s->n - 1].tmp;
	return 0;
}

static void drop(eng_out_item *it)
{
	if (it->f)
		fclose(it->f);
	if (it->tmp) {
		/* a reserved file may have gained SQLite side files */
		size_t n = strlen(it->tmp) + 16;
		char *side = malloc(n);
		unlink(it->tmp);
		for (int k = 0; side && k < 3; k++) {
			snprintf(side, n, "%s%s", it->tmp,
			         (const char *[]){"-wal", "-shm", "-journal"}[k]);
			unlink(side);
		}
		free(side);
	}
	free(it->tmp);
	free(it->path);
	memset(it, 0, sizeof *it);
}

void eng_out_abort(eng_outset *s)
{
	for (int i = 0; i < s->n; i++)
		drop(&s->it[i]);
	s->n = 0;
}

static int sync_close(eng_out_item *it, eng_err *err)
{
	int ok = 1, e = 0;
	if (it->f) {
		ok = fflush(it->f) == 0 && fsync(fileno(it->f)) == 0;
		e = errno;
		ok = fclose(it->f) == 0 && ok;
		e = e ? e : errno;
		it->f = NULL;
	} else {
		int fd = open(it->tmp, O_RDONLY);
		ok = fd >= 0 && fsync(fd) == 0;
		e = errno;
		if (fd >= 0)
			close(fd);
	}
	if (!ok)
		return eng_err_set(err, ENG_EIO, "write '%s': %s", it->path, strerror(e));
	return 0;
}

/* rename(2), or the test's fault (outfile_internal.h) */
int (*eng_out_rename_hook)(const char *from, const char *to) = rename;

static void sync_dir_of(const char *path)
{
	char *dir = dir_of(path);
	int dfd = dir ? open(dir, O_RDONLY | O_DIRECTORY) : -1;
	if (dfd >= 0) {
		fsync(dfd);
		close(dfd);
	}
	free(dir);
}

/* A hard link to target's current file (regular file or symlink: link(2) does not follow it) under
 * a temporary name of this process, so a failed set can put it back; *bak = NULL when there is
 * no target. 0 or ENG_EIO. */
static int keep_old(const char *path, char **bak, eng_err *err)
{
	*bak = NULL;
	struct stat sb;
	if (lstat(path, &sb) != 0)
		return 0;
	char *dir = dir_of(path);
	const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
	size_t n = (dir ? strlen(dir) : 0) + strlen(base) + 64;
	char *b = dir ? malloc(n) : NULL;
	for (int tries = 0; b && tries < 100; tries++) {
		snprintf(b, n, "%s/%s%ld-old-%d-%s", dir, ENG_OUT_TMP_PREFIX, (long)getpid(), tries,
		         base);
		if (link(path, b) == 0) {
			free(dir);
			*bak = b;
			return 0;
		}
		if (errno != EEXIST)
			break;
	}
	int e = b ? errno : ENOMEM;
	free(b);
	free(dir);
	return eng_err_set(err, ENG_EIO, "keep '%s' until its set is replaced: %s", path,
	                   strerror(e));
}

int eng_out_commit(eng_outset *s, eng_err *err)
{
	int rc = 0, done = 0;
	char *bak[ENG_OUT_MAX] = {0};
	for (int i = 0; i < s->n && !rc; i++)
		rc = sync_close(&s->it[i], err);
	for (int i = 0; i < s->n && !rc; i++)
		rc = eng_out_check(s->it[i].path, err); /* not turned into a directory meanwhile */
	for (int i = 0; i < s->n && !rc && s->n > 1; i++) /* a set: the old files, to put back */
		rc = keep_old(s->it[i].path, &bak[i], err);
	for (; done < s->n && !rc; done++) {
		eng_out_item *it = &s->it[done];
		if (eng_out_rename_hook(it->tmp, it->path) != 0) {
			rc = eng_err_set(err, ENG_EIO, "rename '%s' to '%s': %s", it->tmp, it->path,
			                 strerror(errno));
			break;
		}
		free(it->tmp);
		it->tmp = NULL;
	}
	if (rc) /* the outputs already replaced go back to what they were: none of the set is new */
		for (int i = 0; i < done; i++) {
			if (bak[i] ? rename(bak[i], s->it[i].path) == 0
			           : unlink(s->it[i].path) == 0) {
				free(bak[i]);
				bak[i] = NULL;
			}
		}
	for (int i = 0; i < s->n; i++) {
		if (bak[i])
			unlink(bak[i]);
		free(bak[i]);
		if (i < done)
			sync_dir_of(s->it[i].path);
	}
	eng_out_abort(s);
	return rc;
}

int eng_out_write(const char *path, int (*fn)(FILE *f, void *ctx, eng_err *err), void *ctx,
                  eng_err *err)
{
	eng_outset s = {0};
	FILE *f;
	int rc = eng_out_open(&s, path, &f, err);
	if (!rc)
		rc = fn(f, ctx, err);
	if (!rc && ferror(f))
		rc = eng_err_set(err, ENG_EIO, "write '%s': %s", path, strerror(errno));
	if (!rc)
		return eng_out_commit(&s, err);
	eng_out_abort(&s);
	return rc;
}

const char *eng_tmp_dir(void)
{
	const char *d = getenv("TMPDIR");
	return d && *d ? d : "/tmp";
}
