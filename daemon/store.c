/*
 * The state directory: STATE/vms/<Id>/vm.xml for every VM definition.  Every write is atomic
 * (temporary file, fsync, rename, fsync of the folder), so a crash leaves either the old or
 * the new definition, never half of one.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "daemon/hvd.h"

static char *path_join(const char *a, const char *b)
{
	char *p;

	if (asprintf(&p, "%s/%s", a, b) < 0)
		abort();
	return p;
}

int hvd_mkdir_p(const char *path, mode_t mode)
{
	char *p = strdup(path), *s;
	int rc = 0;

	if (!p)
		return -ENOMEM;
	for (s = p + 1; *s; s++) {
		if (*s != '/')
			continue;
		*s = '\0';
		if (mkdir(p, mode) < 0 && errno != EEXIST) {
			rc = -errno;
			break;
		}
		*s = '/';
	}
	if (rc == 0 && mkdir(p, mode) < 0 && errno != EEXIST)
		rc = -errno;
	free(p);
	return rc;
}

static int fsync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC), rc = 0;

	if (fd < 0)
		return -errno;
	if (fsync(fd) < 0)
		rc = -errno;
	close(fd);
	return rc;
}

static int read_file(const char *path, char **buf, size_t *len)
{
	struct stat st;
	int fd = open(path, O_RDONLY | O_CLOEXEC), rc = 0;
	size_t got = 0;

	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		rc = -EINVAL;
		goto out;
	}
	if (st.st_size > (1 << 20)) {
		rc = -E2BIG;
		goto out;
	}
	*buf = malloc((size_t)st.st_size + 1);
	if (!*buf)
		abort();
	while (got < (size_t)st.st_size) {
		ssize_t n = read(fd, *buf + got, (size_t)st.st_size - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			rc = n < 0 ? -errno : -EIO;
			free(*buf);
			*buf = NULL;
			goto out;
		}
		got += (size_t)n;
	}
	(*buf)[got] = '\0';
	*len = got;
out:
	close(fd);
	return rc;
}

static void store_append(struct hvd_store *s, struct hvd_vm *vm)
{
	if (s->n == s->cap) {
		s->cap = s->cap ? s->cap * 2 : 16;
		s->vms = realloc(s->vms, s->cap * sizeof(*s->vms));
		if (!s->vms)
			abort();
	}
	s->vms[s->n++] = vm;
}

static bool looks_like_id(const char *s)
{
	size_t i;

	if (strlen(s) != 36)
		return false;
	for (i = 0; i < 36; i++) {
		if (i == 8 || i == 13 || i == 18 || i == 23) {
			if (s[i] != '-')
				return false;
		} else if (!strchr("0123456789abcdef", s[i])) {
			return false;
		}
	}
	return true;
}

/* A definition that cannot be loaded is kept as an OffCritical VM that says why, so that an
 * administrator sees it (and can remove it) instead of it vanishing. */
static void load_one(struct hvd_store *s, const char *id)
{
	char *dir = path_join(s->vms_dir, id), *file = path_join(dir, "vm.xml");
	char *buf = NULL, *err = NULL;
	struct hvd_vm *vm = NULL;
	size_t len = 0;
	int rc = read_file(file, &buf, &len);

	if (rc)
		asprintf(&err, "cannot read %s: %s", file, strerror(-rc));
	else if (hvd_vm_from_xml(buf, len, &vm, &err) == 0 && strcmp(vm->id, id) != 0) {
		asprintf(&err, "%s: its id %s does not match its folder", file, vm->id);
		hvd_vm_free(vm);
		vm = NULL;
	} else if (!vm) {
		char *e = err;

		if (asprintf(&err, "%s: %s", file, e) < 0)
			abort();
		free(e);
	}
	if (!vm) {
		vm = hvd_vm_new(id);
		snprintf(vm->id, sizeof(vm->id), "%s", id);
		vm->path = strdup(dir);
		vm->load_error = err;
		err = NULL;
		hvd_log(HVD_LOG_ERROR, "VM %s not loaded: %s", id, vm->load_error);
	} else if (hvd_store_find_name(s, vm->name)) {
		hvd_log(HVD_LOG_WARNING, "VM %s has the same name as another VM: %s", id, vm->name);
	}
	store_append(s, vm);
	free(err);
	free(buf);
	free(file);
	free(dir);
}

int hvd_store_open(const char *state_dir, struct hvd_store **out)
{
	struct hvd_store *s = calloc(1, sizeof(*s));
	struct dirent **names = NULL;
	int rc, n, i;

	if (!s)
		return -ENOMEM;
	s->state_dir = strdup(state_dir);
	s->vms_dir = path_join(state_dir, "vms");
	rc = hvd_mkdir_p(s->vms_dir, 0700);
	if (rc)
		goto fail;
	n = scandir(s->vms_dir, &names, NULL, alphasort);
	if (n < 0) {
		rc = -errno;
		goto fail;
	}
	for (i = 0; i < n; i++) {
		if (looks_like_id(names[i]->d_name))
			load_one(s, names[i]->d_name);
		else if (names[i]->d_name[0] != '.')
			hvd_log(HVD_LOG_WARNING, "%s/%s is not a VM folder; left alone", s->vms_dir,
				names[i]->d_name);
		free(names[i]);
	}
	free(names);
	*out = s;
	return 0;
fail:
	hvd_store_free(s);
	return rc;
}

void hvd_store_free(struct hvd_store *s)
{
	size_t i;

	if (!s)
		return;
	for (i = 0; i < s->n; i++)
		hvd_vm_free(s->vms[i]);
	free(s->vms);
	free(s->vms_dir);
	free(s->state_dir);
	free(s);
}

struct hvd_vm *hvd_store_find_id(struct hvd_store *s, const char *id)
{
	size_t i;

	for (i = 0; i < s->n; i++)
		if (strcasecmp(s->vms[i]->id, id) == 0)
			return s->vms[i];
	return NULL;
}

struct hvd_vm *hvd_store_find_name(struct hvd_store *s, const char *name)
{
	size_t i;

	for (i = 0; i < s->n; i++)
		if (!s->vms[i]->load_error && strcasecmp(s->vms[i]->name, name) == 0)
			return s->vms[i];
	return NULL;
}

static int write_all(int fd, const char *p, size_t len)
{
	while (len) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int hvd_store_save(struct hvd_store *s, const struct hvd_vm *vm)
{
	char *dir = path_join(s->vms_dir, vm->id), *file = path_join(dir, "vm.xml");
	char *tmp = path_join(dir, ".vm.xml.tmp"), *xml = NULL;
	size_t len;
	int fd = -1, rc;

	rc = hvd_vm_to_xml(vm, &xml, &len);
	if (rc)
		goto out;
	if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
		rc = -errno;
		goto out;
	}
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0) {
		rc = -errno;
		goto out;
	}
	rc = write_all(fd, xml, len);
	if (rc == 0 && fsync(fd) < 0)
		rc = -errno;
	if (close(fd) < 0 && rc == 0)
		rc = -errno;
	fd = -1;
	if (rc == 0 && rename(tmp, file) < 0)
		rc = -errno;
	if (rc == 0)
		rc = fsync_dir(dir);
	if (rc == 0)
		rc = fsync_dir(s->vms_dir);
	if (rc)
		unlink(tmp);
out:
	free(xml);
	free(tmp);
	free(file);
	free(dir);
	return rc;
}

int hvd_store_add(struct hvd_store *s, struct hvd_vm *vm)
{
	int rc = hvd_store_save(s, vm);

	if (rc) {
		char *dir = path_join(s->vms_dir, vm->id);

		rmdir(dir);
		free(dir);
		hvd_vm_free(vm);
		return rc;
	}
	store_append(s, vm);
	return 0;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	return (flag == FTW_DP ? rmdir(path) : unlink(path)) < 0 ? -1 : 0;
}

int hvd_store_remove(struct hvd_store *s, struct hvd_vm *vm)
{
	char *dir = path_join(s->vms_dir, vm->id), *file = path_join(dir, "vm.xml");
	size_t i;
	int rc = 0;

	/* The definition goes first: once vm.xml is gone the VM is gone, whatever is left. */
	if (unlink(file) < 0 && errno != ENOENT)
		rc = -errno;
	if (rc == 0 && nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS) < 0 && errno != ENOENT)
		hvd_log(HVD_LOG_WARNING, "could not remove all of %s: %s", dir, strerror(errno));
	if (rc == 0)
		fsync_dir(s->vms_dir);
	free(file);
	free(dir);
	if (rc)
		return rc;
	for (i = 0; i < s->n; i++) {
		if (s->vms[i] == vm) {
			memmove(&s->vms[i], &s->vms[i + 1], (s->n - i - 1) * sizeof(*s->vms));
			s->n--;
			break;
		}
	}
	hvd_vm_free(vm);
	return 0;
}
