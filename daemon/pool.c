/*
 * Pools: many partitions made from one golden image and rolled back to it (Remote Desktop
 * Services' pooled virtual desktops). A pool is a definition (pool.xml, pool-xml.c) and its
 * members, ordinary VMs whose vm.xml names the pool; each member's one disk is a differencing
 * child, STATE/pools/<PoolId>/<VMId>.vhdx, of the golden image, which no member ever writes.
 *
 * The golden image is opened here once and held with a shared lock for as long as a pool or a
 * member uses it: libvhdx writers (hv-img, hvd's own VHD operations) take an exclusive flock
 * and are refused, and QEMU is told in its own lock bytes that write and resize are not
 * shared. Workers read it through the page cache, which all of them share (its BAT too:
 * VHDX_OPEN_SHARE_PARENTS). The pool keeps a hard link to it in its own folder
 * (golden-N.vhdx, where the file system allows), and the members' disks name that link as
 * their parent: removing or replacing the user's file does not take the image from under
 * the pool. Images are told apart by inode, so a link and the user's path are one image.
 *
 * Reset throws a member's disk away: a new child is made beside it and renamed over it, so a
 * crash leaves either the old disk or the new one, never none.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "daemon/ckpt.h"
#include "daemon/pool.h"
#include "daemon/procs.h"
#include "formats/vhdx/vhdx.h"

#define POOL_MAX_COUNT 1024
/* QEMU's image locks (block/file-posix.c): a lock on byte 200 + n says "I do not share
 * permission n" (1 write, 3 resize); one on 100 + n says "I hold it". */
#define QEMU_LOCK_SHARED_BASE 200
#define QEMU_LOCK_PERM_BASE 100
#define QEMU_PERM_WRITE 1
#define QEMU_PERM_RESIZE 3

static struct hvd_pool **pools;
static size_t npools;
static char *pools_dir;
static struct hvd_store *store;

/* The golden images in use, each open once with its locks. */
struct golden {
	dev_t dev;
	ino_t ino;
	int fd;
	bool used;
};
static struct golden *goldens;
static size_t ngoldens;

static struct hvd_pool *pool_by_id(const char *id)
{
	for (size_t i = 0; i < npools; i++)
		if (!strcmp(pools[i]->id, id))
			return pools[i];
	return NULL;
}

static struct hvd_pool *pool_by_name(const char *name)
{
	for (size_t i = 0; i < npools; i++)
		if (!strcasecmp(pools[i]->name, name))
			return pools[i];
	return NULL;
}

const char *hvd_pool_name(const char *pool_id)
{
	struct hvd_pool *p = pool_by_id(pool_id);

	return p ? p->name : NULL;
}

static char *pool_dir(const struct hvd_pool *p)
{
	char *s;

	if (asprintf(&s, "%s/%s", pools_dir, p->id) < 0)
		abort();
	return s;
}

static char *member_disk(const char *pool_id, const char *vm_id)
{
	char *s;

	if (asprintf(&s, "%s/%s/%s.vhdx", pools_dir, pool_id, vm_id) < 0)
		abort();
	return s;
}

/* Calls fn(path, name, ctx) for each entry of folder dir (but . and ..) whose name matches
 * pattern (fnmatch, FNM_PERIOD: a leading dot only where the pattern has one). The folder's
 * path is never a pattern: it may hold any character. */
typedef void dir_fn(const char *path, const char *name, void *ctx);

static void dir_each(const char *dir, const char *pattern, dir_fn *fn, void *ctx)
{
	DIR *dh = opendir(dir);
	struct dirent *e;
	char *path;

	while (dh && (e = readdir(dh))) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..") ||
		    fnmatch(pattern, e->d_name, FNM_PERIOD))
			continue;
		if (asprintf(&path, "%s/%s", dir, e->d_name) < 0)
			abort();
		fn(path, e->d_name, ctx);
		free(path);
	}
	if (dh)
		closedir(dh);
}

/* ---- golden images: opened once, locked against writers ---- */

static int lock_byte(int fd, short type, off_t at, bool test, bool *held)
{
	struct flock fl = { .l_type = type, .l_whence = SEEK_SET, .l_start = at, .l_len = 1 };

	if (fcntl(fd, test ? F_OFD_GETLK : F_OFD_SETLK, &fl) < 0)
		return -errno;
	if (held)
		*held = fl.l_type != F_UNLCK;
	return 0;
}

/* Opens and locks a golden image; err says why not. */
static int golden_lock(const char *path, int *out, char *err, size_t errlen)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	bool qemu_writes = false;

	*out = -1;
	if (fd < 0) {
		snprintf(err, errlen, "cannot open %s: %s", path, strerror(errno));
		return -errno;
	}
	if (flock(fd, LOCK_SH | LOCK_NB) < 0) {
		int rc = -errno;

		snprintf(err, errlen, "%s is open for writing by another program", path);
		close(fd);
		return rc == -EWOULDBLOCK ? -EBUSY : rc;
	}
	/* A QEMU that writes the image holds a lock on its "write" permission byte. */
	if (lock_byte(fd, F_WRLCK, QEMU_LOCK_PERM_BASE + QEMU_PERM_WRITE, true, &qemu_writes) == 0 && qemu_writes) {
		snprintf(err, errlen, "%s is open for writing by a QEMU process", path);
		close(fd);
		return -EBUSY;
	}
	lock_byte(fd, F_RDLCK, QEMU_LOCK_SHARED_BASE + QEMU_PERM_WRITE, false, NULL);
	lock_byte(fd, F_RDLCK, QEMU_LOCK_SHARED_BASE + QEMU_PERM_RESIZE, false, NULL);
	*out = fd;
	return 0;
}

static bool same_file(const char *a, const char *b)
{
	struct stat sa, sb;

	return a && b && stat(a, &sa) == 0 && stat(b, &sb) == 0 && sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

static struct golden *golden_find(const char *path)
{
	struct stat st;

	if (stat(path, &st) < 0)
		return NULL;
	for (size_t i = 0; i < ngoldens; i++)
		if (goldens[i].dev == st.st_dev && goldens[i].ino == st.st_ino)
			return &goldens[i];
	return NULL;
}

/* Holds path as a golden image (a no-op when it is held already). */
static int golden_take(const char *path, char *err, size_t errlen)
{
	struct golden *g = golden_find(path), *n;
	struct stat st;
	int fd, rc;

	if (g) {
		g->used = true;
		return 0;
	}
	rc = golden_lock(path, &fd, err, errlen);
	if (rc)
		return rc;
	if (fstat(fd, &st) < 0) {
		rc = -errno;
		close(fd);
		snprintf(err, errlen, "cannot stat %s: %s", path, strerror(-rc));
		return rc;
	}
	n = realloc(goldens, (ngoldens + 1) * sizeof(*goldens));
	if (!n)
		abort();
	goldens = n;
	goldens[ngoldens++] = (struct golden){ st.st_dev, st.st_ino, fd, true };
	return 0;
}

/* The image a pool's new and reset members get: its link when it has one. */
static const char *pool_golden(const struct hvd_pool *p)
{
	return p->parent_link ? p->parent_link : p->parent;
}

/* Gives a pool its own hard link to golden (golden-N.vhdx in its folder, which exists); none
 * (NULL, and the members name golden itself) where the file system will not link. */
static char *golden_link(const struct hvd_pool *p, const char *golden)
{
	char *link_path;
	unsigned k;

	for (k = 1; k < 10000; k++) {
		if (asprintf(&link_path, "%s/%s/golden-%u.vhdx", pools_dir, p->id, k) < 0)
			abort();
		if (link(golden, link_path) == 0)
			return link_path;
		free(link_path);
		if (errno != EEXIST) {
			hvd_log(HVD_LOG_INFO, "pool %s: no link to %s (%s): its members name it directly", p->name, golden,
				strerror(errno));
			return NULL;
		}
	}
	return NULL;
}

/* Whether stored (a path from pool.xml or vm.xml) names the link name (golden-N.vhdx) in the
 * folder of pool p. Decided by the last two parts of the path, never by the whole string:
 * stored paths may come from a run of hvd that spelled the state dir differently. */
static bool names_link(const struct hvd_pool *p, const char *stored, const char *name)
{
	size_t id_len = strlen(p->id), name_len = strlen(name), len = stored ? strlen(stored) : 0;
	const char *at;

	if (len < id_len + name_len + 2)
		return false;
	at = stored + len - name_len;
	return !strcmp(at, name) && at[-1] == '/' && !strncmp(at - 1 - id_len, p->id, id_len) &&
	       at[-2 - id_len] == '/';
}

static void link_prune(const char *path, const char *name, void *ctx)
{
	const struct hvd_pool *p = ctx;
	bool used = names_link(p, p->parent_link, name);

	for (size_t k = 0; !used && store && k < store->n; k++)
		used = !strcmp(store->vms[k]->pool_id, p->id) &&
		       names_link(p, store->vms[k]->pool_parent, name);
	if (!used)
		unlink(path);
}

/* Removes the pool's links that neither it nor a member uses any more. */
static void links_prune(const struct hvd_pool *p)
{
	char *dir = pool_dir(p);

	dir_each(dir, "golden-*.vhdx", link_prune, (void *)p);
	free(dir);
}

/* Takes every golden image a pool or a member uses and lets go of the others. */
static void goldens_refresh(void)
{
	char err[512];
	size_t i;

	for (i = 0; i < ngoldens; i++)
		goldens[i].used = false;
	for (i = 0; i < npools; i++) {
		links_prune(pools[i]);
		if (golden_take(pool_golden(pools[i]), err, sizeof(err)))
			hvd_log(HVD_LOG_WARNING, "pool %s: golden image not locked: %s", pools[i]->name, err);
	}
	for (i = 0; store && i < store->n; i++) {
		const struct hvd_vm *vm = store->vms[i];

		if (vm->pool_id[0] && vm->pool_parent && golden_take(vm->pool_parent, err, sizeof(err)))
			hvd_log(HVD_LOG_WARNING, "VM %s: golden image not locked: %s", vm->name, err);
	}
	for (i = 0; i < ngoldens;) {
		if (goldens[i].used) {
			i++;
			continue;
		}
		close(goldens[i].fd);
		goldens[i] = goldens[--ngoldens];
	}
}

bool hvd_pool_golden_in_use(const char *path, const char **pool)
{
	bool r = golden_find(path) != NULL;
	size_t i;

	if (r && pool) {
		*pool = "?";
		for (i = 0; i < npools; i++)
			if (same_file(pool_golden(pools[i]), path))
				*pool = pools[i]->name;
		for (i = 0; !strcmp(*pool, "?") && store && i < store->n; i++) {
			const struct hvd_vm *vm = store->vms[i];

			if (same_file(vm->pool_parent, path) && hvd_pool_name(vm->pool_id))
				*pool = hvd_pool_name(vm->pool_id);
		}
	}
	return r;
}

/* Whether a golden image can serve a pool: it opens, needs no log replay, and no VM writes
 * it (is any VM's own disk). */
static int golden_check(const char *path, struct wire_value **reply)
{
	char why[256] = "";
	struct vhdx *v = NULL;
	int rc;

	if (!path)
		return ERR(WIRE_E_INVALID_ARGUMENT, "ParentPath",
			   "-ParentPath is needed: the absolute path of the golden .vhdx the members are made from.");
	if (path[0] != '/')
		return ERR(WIRE_E_INVALID_ARGUMENT, path,
			   "Invalid value \"%s\" for parameter -ParentPath: give the absolute path of the golden .vhdx on the host hvd runs on.",
			   path);
	rc = vhdx_open_detail(path, VHDX_OPEN_NO_REPLAY, &v, why, sizeof(why));
	if (rc == -EBUSY)
		return ERR(WIRE_E_INVALID_STATE, path,
			   "%s has unwritten changes in its log: repair it first (hv-img check -r), then make the pool.", path);
	if (rc)
		return ERR(rc == -ENOENT ? WIRE_E_NOT_FOUND : WIRE_E_INVALID_ARGUMENT, path, "Cannot use %s as a golden image: %s.",
			   path, why[0] ? why : strerror(-rc));
	vhdx_free(v);
	for (size_t i = 0; i < store->n; i++) {
		const struct hvd_vm *vm = store->vms[i];

		for (size_t k = 0; k < vm->ndrives; k++)
			if (same_file(vm->drives[k].path, path))
				return ERR(WIRE_E_INVALID_STATE, path,
					   "Cannot use %s as a golden image: it is the disk of the virtual machine \"%s\", which writes it.",
					   path, vm->name);
	}
	return 0;
}

/* Checks a golden image and takes it (New-VMPool, Update-VMPool). */
static int golden_adopt(const char *path, struct wire_value **reply)
{
	char err[512];
	int st = golden_check(path, reply);

	if (st)
		return st;
	if (golden_take(path, err, sizeof(err))) {
		goldens_refresh();
		return ERR(WIRE_E_INVALID_STATE, path, "Cannot lock the golden image: %s.", err);
	}
	return 0;
}

/* ---- member disks ---- */

/* Makes path a new differencing child of parent: beside it first, then renamed over it. */
static int disk_fresh(const char *path, const char *parent, char *err, size_t errlen)
{
	struct vhdx_create_opts o = { .type = VHDX_TYPE_DIFFERENCING, .parent = parent };
	char *tmp, *dir, *slash;
	int rc;

	if (asprintf(&tmp, "%s.new", path) < 0)
		abort();
	unlink(tmp);
	rc = vhdx_create(tmp, &o);
	hvd_fault("pool-disk-made");
	if (rc == 0 && rename(tmp, path) < 0)
		rc = -errno;
	if (rc) {
		snprintf(err, errlen, "cannot make the differencing disk %s over %s: %s", path, parent, strerror(-rc));
		unlink(tmp);
		free(tmp);
		return rc;
	}
	free(tmp);
	dir = strdup(path);
	if (!dir)
		abort();
	slash = strrchr(dir, '/');
	if (slash)
		*slash = '\0';
	hvd_fsync_dir(dir);
	free(dir);
	return 0;
}

static void usage_add(const char *path, const char *name, void *ctx)
{
	struct stat st;

	(void)name;
	if (stat(path, &st) == 0)
		*(uint64_t *)ctx += (uint64_t)st.st_blocks * 512;
}

static void file_remove(const char *path, const char *name, void *ctx)
{
	(void)name;
	(void)ctx;
	unlink(path);
}

/* Calls fn for the files of the pool's folder named vm_id + tail (an fnmatch pattern; vm_id,
 * an id, has no pattern characters). */
static void member_files_each(const char *pool_id, const char *vm_id, const char *tail,
			      dir_fn *fn, void *ctx)
{
	char *dir, *pat;

	if (asprintf(&dir, "%s/%s", pools_dir, pool_id) < 0 ||
	    asprintf(&pat, "%s%s", vm_id, tail) < 0)
		abort();
	dir_each(dir, pat, fn, ctx);
	free(pat);
	free(dir);
}

/* Bytes of the member's files (its disk and any checkpoint layers beside it). */
static uint64_t member_usage(const char *pool_id, const char *vm_id)
{
	uint64_t sum = 0;

	member_files_each(pool_id, vm_id, "*.*vhdx", usage_add, &sum);
	return sum;
}

/* Removes the files of the pool's folder named vm_id + tail: tail MEMBER_FILES takes all of a
 * member's, its disk, checkpoint layers and a reset's new disk. */
#define MEMBER_FILES "*.*vhdx*"
static void member_files_remove(const char *pool_id, const char *vm_id, const char *tail)
{
	member_files_each(pool_id, vm_id, tail, file_remove, NULL);
}

static int pool_save(const struct hvd_pool *p)
{
	char *dir = pool_dir(p), *buf = NULL;
	size_t len = 0;
	int rc = hvd_mkdir_p(dir, 0755);

	if (rc == 0)
		rc = hvd_pool_to_xml(p, &buf, &len);
	if (rc == 0)
		rc = hvd_write_file_atomic(dir, "pool.xml", buf, len);
	free(buf);
	free(dir);
	return rc;
}

/* A new member of p (not saved in p: the caller saves next_index). */
static int member_new(struct hvd_pool *p, struct hvd_vm **out, struct wire_value **reply)
{
	char name[512], err[512], vm_id[37];
	struct hvd_vm *vm;
	char *disk;
	int rc;

	do {
		if (p->next_index >= HVD_POOL_INDEX_MAX)
			return ERR(WIRE_E_RESOURCE, p->name,
				   "Pool \"%s\" has given out every member number (up to %u).", p->name,
				   HVD_POOL_INDEX_MAX - 1);
		snprintf(name, sizeof(name), "%s%u", p->prefix, p->next_index++);
	} while (hvd_store_find_name(store, name));
	if (hvd_check_name("NamePrefix", name, reply))
		return WIRE_E_INVALID_ARGUMENT;
	vm = hvd_vm_new(name);
	vm->mem_startup = p->mem_startup;
	if (vm->mem_minimum > vm->mem_startup)
		vm->mem_minimum = vm->mem_startup;
	vm->proc_count = p->proc_count;
	snprintf(vm->pool_id, sizeof(vm->pool_id), "%s", p->id);
	vm->pool_parent = strdup(pool_golden(p));
	if (asprintf(&vm->path, "%s/%s", store->vms_dir, vm->id) < 0)
		abort();
	disk = member_disk(p->id, vm->id);
	rc = disk_fresh(disk, pool_golden(p), err, sizeof(err));
	if (rc) {
		free(disk);
		hvd_vm_free(vm);
		return ERR(WIRE_E_RESOURCE, name, "Cannot make pool member \"%s\": %s.", name, err);
	}
	vm->drives = calloc(1, sizeof(*vm->drives));
	if (!vm->drives)
		abort();
	vm->drives[0] = (struct hvd_drive){ 0, 0, disk };
	vm->ndrives = 1;
	hvd_fault("pool-member-disk");
	snprintf(vm_id, sizeof(vm_id), "%s", vm->id);
	rc = hvd_store_add(store, vm); /* frees vm when it fails */
	if (rc) {
		member_files_remove(p->id, vm_id, MEMBER_FILES);
		return ERR(WIRE_E_RESOURCE, name, "Cannot save pool member \"%s\": %s.", name, strerror(-rc));
	}
	*out = vm;
	return 0;
}

/* Removes a member's definition and files; the VM is off. */
static int member_remove(struct hvd *d, struct hvd_client *c, struct hvd_vm *vm)
{
	char pool_id[37], vm_id[37];
	int rc;

	snprintf(pool_id, sizeof(pool_id), "%s", vm->pool_id);
	snprintf(vm_id, sizeof(vm_id), "%s", vm->id);
	if (c)
		hvd_vm_event(d, c, "Removed", vm);
	rc = hvd_store_remove(store, vm);
	if (rc == 0)
		member_files_remove(pool_id, vm_id, MEMBER_FILES);
	return rc;
}

void hvd_pool_vm_removed(const char *pool_id, const char *vm_id)
{
	if (pool_id[0] && pools_dir) {
		member_files_remove(pool_id, vm_id, MEMBER_FILES);
		goldens_refresh();
	}
}

/* Gives an off member a fresh disk over its pool's golden image now. */
/* Saves vm with its drive k on path (NULL: kept) and its golden image parent (NULL: kept).
 * vm is changed in place, not replaced: callers (a worker's end) still hold it. */
static int member_save(struct hvd_vm *vm, size_t k, const char *path, const char *parent, char *err,
		       size_t errlen)
{
	struct hvd_vm *copy = hvd_vm_dup(vm);
	char *tmp;
	int rc;

	if (path) {
		free(copy->drives[k].path);
		copy->drives[k].path = strdup(path);
	}
	if (parent) {
		free(copy->pool_parent);
		copy->pool_parent = strdup(parent);
	}
	if ((path && !copy->drives[k].path) || (parent && !copy->pool_parent))
		abort();
	rc = hvd_store_save(store, copy);
	if (rc) {
		snprintf(err, errlen, "cannot save its definition: %s", strerror(-rc));
	} else {
		if (path) {
			tmp = vm->drives[k].path;
			vm->drives[k].path = copy->drives[k].path;
			copy->drives[k].path = tmp;
		}
		if (parent) {
			tmp = vm->pool_parent;
			vm->pool_parent = copy->pool_parent;
			copy->pool_parent = tmp;
		}
		wire_value_unref(vm->cached);
		vm->cached = NULL;
	}
	hvd_vm_free(copy);
	return rc;
}

/* The drive of vm on its pool disk, or on a checkpoint layer over it (<VMId>_<GUID>.avhdx,
 * which Remove-VMCheckpoint leaves as the drive); vm->ndrives when none is. */
static size_t member_drive(const struct hvd_vm *vm, const char *disk)
{
	size_t stem = strlen(disk) - strlen(".vhdx");

	for (size_t k = 0; k < vm->ndrives; k++)
		if (vm->drives[k].path && !strncmp(vm->drives[k].path, disk, stem) &&
		    (vm->drives[k].path[stem] == '.' || vm->drives[k].path[stem] == '_'))
			return k;
	return vm->ndrives;
}

/*
 * Gives an off member a fresh disk over its pool's golden image now. A member on a checkpoint
 * layer is put back on its disk first (a crash then leaves it on its old disk), since the
 * fresh disk would pull the layer's parent from under it; the layers go last. A saved
 * member's saved state goes only once the fresh disk is in place: a failure or a crash before
 * that leaves the member saved on its old disk. (On a layer the saved state goes before the
 * member leaves the layer, since its memory goes with the layer's contents.)
 */
static int member_reset(struct hvd *d, struct hvd_vm *vm, char *err, size_t errlen)
{
	struct hvd_pool *p = pool_by_id(vm->pool_id);
	char *disk;
	size_t k;
	int rc = 0;

	if (!p) {
		snprintf(err, errlen, "its pool is gone");
		return -ENOENT;
	}
	disk = member_disk(p->id, vm->id);
	k = member_drive(vm, disk);
	if (k < vm->ndrives && strcmp(vm->drives[k].path, disk)) {
		if (vm->saved)
			hvd_ckpt_saved_consumed(d, vm);
		rc = member_save(vm, k, disk, NULL, err, errlen);
	}
	if (rc == 0)
		rc = disk_fresh(disk, pool_golden(p), err, errlen);
	free(disk);
	if (rc == 0 && vm->saved)
		hvd_ckpt_saved_consumed(d, vm);
	if (rc == 0)
		member_files_remove(p->id, vm->id, "_*.avhdx");
	if (rc == 0 && (!vm->pool_parent || strcmp(vm->pool_parent, pool_golden(p)))) {
		rc = member_save(vm, 0, NULL, pool_golden(p), err, errlen);
		goldens_refresh();
	}
	return rc;
}

static int checkpoints_of(const struct hvd_vm *vm)
{
	const char *cur;
	int n = 0;

	hvd_ckpt_summary(vm, &n, &cur);
	return n;
}

void hvd_pool_vm_off(struct hvd *d, struct hvd_vm *vm)
{
	struct hvd_pool *p = vm->pool_id[0] ? pool_by_id(vm->pool_id) : NULL;
	char err[512];

	/* A saved member keeps the disk its saved memory goes with, and checkpoints hold layers. */
	if (!p || !p->rollback_on_stop || vm->worker || vm->saved || vm->load_error || checkpoints_of(vm))
		return;
	if (member_reset(d, vm, err, sizeof(err)))
		hvd_log(HVD_LOG_ERROR, "pool %s: could not roll %s back: %s", p->name, vm->name, err);
	else
		hvd_log(HVD_LOG_INFO, "pool %s: %s rolled back to %s", p->name, vm->name, p->parent);
}

void hvd_pool_vm_found_off(struct hvd *d, struct hvd_vm *vm, bool lost,
			   const struct timespec *stopped)
{
	struct hvd_pool *p = vm->pool_id[0] ? pool_by_id(vm->pool_id) : NULL;
	char *disk;
	struct stat st;
	size_t k;
	bool since = false;

	if (!p || !p->rollback_on_stop)
		return;
	/* Stopped since its disk was made: a live stop rolls back after last-stop is written. */
	disk = member_disk(p->id, vm->id);
	k = member_drive(vm, disk);
	if (!lost && stopped && k < vm->ndrives && stat(vm->drives[k].path, &st) == 0)
		since = st.st_mtim.tv_sec < stopped->tv_sec ||
			(st.st_mtim.tv_sec == stopped->tv_sec &&
			 st.st_mtim.tv_nsec <= stopped->tv_nsec);
	free(disk);
	if (lost || since)
		hvd_pool_vm_off(d, vm);
}

/* ---- objects ---- */

static struct wire_value *pool_object(const struct hvd_pool *p)
{
	struct wire_value *o = wire_object("VMPool"), *members = wire_list();
	uint64_t usage = 0;
	int64_t running = 0;

	for (size_t i = 0; i < store->n; i++) {
		const struct hvd_vm *vm = store->vms[i];
		struct wire_value *m;
		struct hvd_vm_live live;
		uint64_t u;

		if (strcmp(vm->pool_id, p->id))
			continue;
		hvd_runtime_describe(vm, &live);
		running += live.running;
		u = member_usage(p->id, vm->id);
		usage += u;
		m = wire_object("VMPoolMember");
		wire_object_add(m, "Name", wire_string(vm->name));
		wire_object_add(m, "VMId", wire_string(vm->id));
		wire_object_add(m, "State", wire_string(live.state));
		/* its golden image: the pool's, or the link that keeps an older one */
		wire_object_add(m, "ParentPath", same_file(vm->pool_parent, p->parent) ? wire_string(p->parent)
						 : vm->pool_parent ? wire_string(vm->pool_parent) : wire_null());
		wire_object_add(m, "UpToDate", wire_bool(vm->pool_parent && !strcmp(vm->pool_parent, pool_golden(p))));
		wire_object_add(m, "DiskUsage", wire_uint(u));
		wire_list_append(members, m);
	}
	wire_object_add(o, "Name", wire_string(p->name));
	wire_object_add(o, "Id", wire_string(p->id));
	wire_object_add(o, "ParentPath", wire_string(p->parent));
	wire_object_add(o, "MemberCount", wire_int((int64_t)members->list.n));
	wire_object_add(o, "RunningCount", wire_int(running));
	wire_object_add(o, "DiskUsage", wire_uint(usage));
	wire_object_add(o, "RollbackOnStop", wire_bool(p->rollback_on_stop));
	wire_object_add(o, "NamePrefix", wire_string(p->prefix));
	wire_object_add(o, "MemoryStartup", wire_uint(p->mem_startup));
	wire_object_add(o, "ProcessorCount", wire_int(p->proc_count));
	wire_object_add(o, "CreationTime", wire_timestamp(p->created_ns));
	wire_object_add(o, "Members", members);
	wire_object_add(o, "ComputerName", wire_string(hvd_host_name()));
	return o;
}

static int find_pool(const struct wire_value *args, const char *param, struct hvd_pool **out,
		     struct wire_value **reply)
{
	const char *name = NULL;
	int st = hvd_arg_string(args, param, 400, &name, reply);

	if (st)
		return st;
	if (!name)
		return ERR(WIRE_E_INVALID_ARGUMENT, param, "-%s is needed: the pool's name.", param);
	*out = pool_by_name(name);
	if (!*out)
		return ERR(WIRE_E_NOT_FOUND, name, "There is no pool named \"%s\".", name);
	return 0;
}

/* ---- procedures ---- */

static int count_arg(const struct wire_value *args, uint64_t *count, struct wire_value **reply)
{
	bool has = false;
	int st = hvd_arg_range(args, "Count", 1, POOL_MAX_COUNT, &has, count, reply);

	if (!st && !has)
		*count = 1;
	return st;
}

/* Makes count members of p, all or none; their objects go to out. */
static int members_add(struct hvd *d, struct hvd_client *c, struct hvd_pool *p, uint64_t count,
		       struct wire_value *out, struct wire_value **reply)
{
	struct hvd_vm **made = calloc(count, sizeof(*made));
	uint32_t first = p->next_index;
	uint64_t i;
	int st = 0, rc;

	if (!made)
		abort();
	for (i = 0; i < count && !st; i++) {
		st = member_new(p, &made[i], reply);
		if (i == 1)
			hvd_fault("pool-second-member");
	}
	if (!st && (rc = pool_save(p)) != 0)
		st = ERR(WIRE_E_RESOURCE, p->name, "Cannot save pool \"%s\": %s.", p->name, strerror(-rc));
	for (i = 0; i < count && made[i]; i++) {
		if (st) {
			member_remove(d, NULL, made[i]);
			continue;
		}
		hvd_vm_event(d, c, "Created", made[i]);
		if (out)
			wire_list_append(out, hvd_vm_object(made[i]));
	}
	if (st)
		p->next_index = first;
	free(made);
	return st;
}

/* Deletes a pool, whose members are gone. Its definition goes last: a crash before leaves the
 * pool, to be removed again, and stray files in its folder are cleaned at startup. */
static void pool_forget(struct hvd_pool *p)
{
	char *dir = pool_dir(p), *xml;

	if (asprintf(&xml, "%s/pool.xml", dir) < 0)
		abort();
	member_files_remove(p->id, "", MEMBER_FILES);
	hvd_fault("pool-files-removed");
	unlink(xml);
	rmdir(dir);
	hvd_fsync_dir(pools_dir);
	free(xml);
	free(dir);
	for (size_t i = 0; i < npools; i++)
		if (pools[i] == p)
			pools[i] = pools[--npools];
	hvd_pool_free(p);
	goldens_refresh();
}

HVD_PROC(proc_pool_new)
{
	const char *name = NULL, *parent = NULL, *prefix = NULL;
	bool has_mem, has_cpus, rollback = false;
	uint64_t count = 1, mem = 512ull << 20, cpus = 1;
	struct hvd_pool *p;
	struct wire_value *out;
	char pfx[512], last[600];
	int st;

	(void)d;
	if ((st = hvd_arg_string(args, "Name", 100, &name, reply)) || (st = hvd_check_name("Name", name, reply)) ||
	    (st = hvd_arg_string(args, "ParentPath", 4096, &parent, reply)) ||
	    (st = hvd_arg_string(args, "NamePrefix", 90, &prefix, reply)) || (st = count_arg(args, &count, reply)) ||
	    (st = hvd_arg_memory(args, "MemoryStartupBytes", &has_mem, &mem, reply)) ||
	    (st = hvd_arg_range(args, "ProcessorCount", 1, HVD_MAX_VCPUS, &has_cpus, &cpus, reply)))
		return st;
	if (!has_mem)
		mem = 512ull << 20;
	if (!has_cpus)
		cpus = 1;
	wire_object_get_bool(args, "RollbackOnStop", &rollback);
	if (pool_by_name(name))
		return ERR(WIRE_E_ALREADY_EXISTS, name, "A pool named \"%s\" already exists.", name);
	snprintf(pfx, sizeof(pfx), "%s", prefix ? prefix : name);
	if (!prefix)
		strncat(pfx, "-", sizeof(pfx) - strlen(pfx) - 1);
	if (strpbrk(pfx, "*?[]"))
		return ERR(WIRE_E_INVALID_ARGUMENT, pfx, "Invalid value \"%s\" for parameter -NamePrefix: no wildcard characters.",
			   pfx);
	/* The longest name the members get: too long is -Name's fault when the prefix is made
	 * from it (a -NamePrefix has at most 90 characters, which always leaves room). */
	snprintf(last, sizeof(last), "%s%" PRIu64, pfx, count);
	if (!prefix && hvd_name_flaw(last) == HVD_NAME_LONG)
		return ERR(WIRE_E_INVALID_ARGUMENT, name,
			   "Invalid value for parameter -Name: members are named after the pool, and \"%s\" would be longer than %d characters; give a shorter -Name, or a -NamePrefix.",
			   last, HVD_MAX_NAME);
	if ((st = golden_adopt(parent, reply)))
		return st;
	p = calloc(1, sizeof(*p));
	if (!p)
		abort();
	hvd_vm_new_id(p->id);
	p->name = strdup(name);
	p->parent = strdup(parent);
	p->prefix = strdup(pfx);
	p->mem_startup = mem;
	p->proc_count = (uint32_t)cpus;
	p->rollback_on_stop = rollback;
	p->created_ns = hvd_now_ns();
	p->next_index = 1;
	{
		struct hvd_pool **n = realloc(pools, (npools + 1) * sizeof(*pools));

		if (!n)
			abort();
		pools = n;
		pools[npools++] = p;
	}
	{
		char *dir = pool_dir(p);

		st = hvd_mkdir_p(dir, 0755);
		free(dir);
	}
	if (st == 0) {
		p->parent_link = golden_link(p, parent);
		hvd_fault("pool-linked");
		st = pool_save(p);
	}
	if (st != 0) {
		st = ERR(WIRE_E_RESOURCE, name, "Cannot save pool \"%s\": %s.", name, strerror(-st));
		pool_forget(p);
		return st;
	}
	if ((st = members_add(d, c, p, count, NULL, reply))) {
		pool_forget(p);
		return st;
	}
	hvd_log(HVD_LOG_INFO, "%s made pool %s: %" PRIu64 " members over %s", hvd_client_peer(c)->user, p->name, count,
		p->parent);
	out = wire_list();
	wire_list_append(out, pool_object(p));
	*reply = out;
	return WIRE_OK;
}

HVD_PROC(proc_pool_get)
{
	const struct wire_value *names = wire_object_get(args, "Name");
	struct wire_value *out = wire_list();
	size_t i, k;

	(void)d;
	(void)c;
	for (i = 0; i < npools; i++) {
		bool keep = !names || names->type == WIRE_NULL;

		if (names && names->type == WIRE_STRING)
			keep = fnmatch(names->str.p, pools[i]->name, FNM_CASEFOLD) == 0;
		for (k = 0; names && names->type == WIRE_LIST && k < names->list.n; k++)
			if (names->list.items[k]->type == WIRE_STRING && fnmatch(names->list.items[k]->str.p, pools[i]->name, FNM_CASEFOLD) == 0)
				keep = true;
		if (keep)
			wire_list_append(out, pool_object(pools[i]));
	}
	for (k = 0; names && k < (names->type == WIRE_LIST ? names->list.n : 1); k++) {
		const struct wire_value *it = names->type == WIRE_LIST ? names->list.items[k] : names;

		if (it->type == WIRE_STRING && !strpbrk(it->str.p, "*?[") && !pool_by_name(it->str.p))
			wire_list_append(out, wire_error_record(WIRE_E_NOT_FOUND, it->str.p, "There is no pool named \"%s\".",
								it->str.p));
	}
	*reply = out;
	return WIRE_OK;
}

HVD_PROC(proc_pool_member_add)
{
	struct hvd_pool *p;
	uint64_t count;
	struct wire_value *out;
	int st;

	if ((st = find_pool(args, "PoolName", &p, reply)) || (st = count_arg(args, &count, reply)))
		return st;
	out = wire_list();
	if ((st = members_add(d, c, p, count, out, reply))) {
		wire_value_unref(out);
		return st;
	}
	*reply = out;
	return WIRE_OK;
}

HVD_PROC(proc_pool_update)
{
	const char *parent = NULL;
	struct hvd_pool *p;
	char *old, *old_link;
	int st, rc;

	(void)d;
	if ((st = find_pool(args, "Name", &p, reply)) ||
	    (st = hvd_arg_string(args, "ParentPath", 4096, &parent, reply)) || (st = golden_adopt(parent, reply)))
		return st;
	old = p->parent;
	old_link = p->parent_link;
	p->parent = strdup(parent);
	p->parent_link = golden_link(p, parent);
	if ((rc = pool_save(p)) != 0) {
		if (p->parent_link)
			unlink(p->parent_link);
		free(p->parent);
		free(p->parent_link);
		p->parent = old;
		p->parent_link = old_link;
		goldens_refresh();
		return ERR(WIRE_E_RESOURCE, p->name, "Cannot save pool \"%s\": %s.", p->name, strerror(-rc));
	}
	hvd_log(HVD_LOG_INFO, "%s moved pool %s from %s to %s", hvd_client_peer(c)->user, p->name, old, parent);
	free(old);
	free(old_link);
	goldens_refresh();
	*reply = wire_list();
	wire_list_append(*reply, pool_object(p));
	return WIRE_OK;
}

/* ---- Remove-VMPool: its members turned off first with -Force ---- */

struct remove_op {
	struct hvd *d;
	uint64_t client;
	uint32_t serial;
	char pool_id[37];
	int waiting;
};

static int pool_remove_now(struct hvd *d, struct hvd_pool *p, struct wire_value **reply)
{
	struct wire_value *gone = pool_object(p);
	size_t i;
	int rc;

	for (i = store->n; i-- > 0;) {
		struct hvd_vm *vm = store->vms[i];

		if (strcmp(vm->pool_id, p->id))
			continue;
		if (vm->worker) {
			wire_value_unref(gone);
			return ERR(WIRE_E_INVALID_STATE, vm->name, "Pool member \"%s\" is running again.", vm->name);
		}
		if ((rc = member_remove(d, NULL, vm)) != 0) {
			wire_value_unref(gone);
			return ERR(WIRE_E_RESOURCE, p->name, "Cannot remove a member of pool \"%s\": %s.", p->name,
				   strerror(-rc));
		}
	}
	hvd_log(HVD_LOG_INFO, "pool %s removed", p->name);
	pool_forget(p);
	*reply = wire_list();
	wire_list_append(*reply, gone);
	return WIRE_OK;
}

static void removal_member_off(struct hvd *d, const char *vm_id, void *ctx, int status, const struct wire_value *payload)
{
	struct remove_op *op = ctx;
	struct hvd_pool *p;
	struct wire_value *reply = NULL;
	int st;

	(void)vm_id;
	(void)status;
	(void)payload;
	if (--op->waiting > 0)
		return;
	p = pool_by_id(op->pool_id);
	if (p)
		st = pool_remove_now(d, p, &reply);
	else
		st = WIRE_E_NOT_FOUND, reply = wire_error_record(WIRE_E_NOT_FOUND, op->pool_id, "The pool is gone.");
	hvd_reply_to(d, op->client, op->serial, WIRE_PROC_POOL_REMOVE, st, reply);
	free(op);
}

HVD_PROC(proc_pool_remove)
{
	struct hvd_pool *p;
	struct remove_op *op;
	bool force = false;
	size_t i, running = 0;
	int st;

	if ((st = find_pool(args, "Name", &p, reply)))
		return st;
	wire_object_get_bool(args, "Force", &force);
	for (i = 0; i < store->n; i++)
		running += !strcmp(store->vms[i]->pool_id, p->id) && store->vms[i]->worker;
	if (!running)
		return pool_remove_now(d, p, reply);
	if (!force)
		return ERR(WIRE_E_INVALID_STATE, p->name,
			   "Pool \"%s\" has %zu running member(s): turn them off first, or use -Force.", p->name, running);
	op = calloc(1, sizeof(*op));
	if (!op)
		abort();
	op->d = d;
	op->client = hvd_client_id(c);
	op->serial = hvd_client_serial(c);
	snprintf(op->pool_id, sizeof(op->pool_id), "%s", p->id);
	op->waiting = (int)running + 1;
	for (i = 0; i < store->n; i++)
		if (!strcmp(store->vms[i]->pool_id, p->id) && store->vms[i]->worker &&
		    hvd_runtime_when_off(d, store->vms[i], removal_member_off, op) != 0)
			op->waiting--; /* already being turned off by someone: checked again at the end */
	removal_member_off(d, NULL, op, WIRE_OK, NULL); /* the +1 */
	return HVD_DEFERRED;
}

/* ---- Reset-VMPoolMember ---- */

struct reset_op {
	uint64_t client;
	uint32_t serial;
	char name[4 * HVD_MAX_NAME + 1]; /* the member's (UTF-8), for the error when it is gone */
};

static void reset_after_off(struct hvd *d, const char *vm_id, void *ctx, int status, const struct wire_value *payload)
{
	struct reset_op *op = ctx;
	struct hvd_vm *vm = hvd_store_find_id(store, vm_id);
	struct hvd_pool *p = vm ? pool_by_id(vm->pool_id) : NULL;
	struct wire_value *reply = NULL;
	char err[512];
	int st;

	(void)status;
	(void)payload;
	if (!vm || !p) {
		st = WIRE_E_NOT_FOUND;
		reply = wire_error_record(st, op->name,
					  "Cannot reset \"%s\": it was removed with its pool while it was being reset.",
					  op->name);
	} else if (!p->rollback_on_stop && member_reset(d, vm, err, sizeof(err))) {
		/* (with RollbackOnStop its stop has reset it already) */
		st = WIRE_E_RESOURCE;
		reply = wire_error_record(st, vm->name, "Cannot reset \"%s\": %s.", vm->name, err);
	} else {
		st = hvd_runtime_start(d, vm, op->client, op->serial, WIRE_PROC_POOL_MEMBER_RESET, &reply);
	}
	if (st != HVD_DEFERRED)
		hvd_reply_to(d, op->client, op->serial, WIRE_PROC_POOL_MEMBER_RESET, st, reply);
	free(op);
}

HVD_PROC(proc_pool_member_reset)
{
	struct hvd_vm *vm;
	struct reset_op *op;
	char err[512], vm_id[37];
	int st, n;

	if ((st = hvd_vm_one(d, args, &vm, reply)))
		return st;
	if (!vm->pool_id[0] || !pool_by_id(vm->pool_id))
		return ERR(WIRE_E_INVALID_ARGUMENT, vm->name, "\"%s\" is not a member of a pool.", vm->name);
	if ((n = checkpoints_of(vm)) > 0)
		return ERR(WIRE_E_INVALID_STATE, vm->name,
			   "\"%s\" has %d checkpoint(s), which reset would orphan: remove them first (Remove-VMCheckpoint).",
			   vm->name, n);
	if (!vm->worker) {
		if (member_reset(d, vm, err, sizeof(err)))
			return ERR(WIRE_E_RESOURCE, vm->name, "Cannot reset \"%s\": %s.", vm->name, err);
		*reply = hvd_vm_reply(vm);
		return WIRE_OK;
	}
	op = calloc(1, sizeof(*op));
	if (!op)
		abort();
	op->client = hvd_client_id(c);
	op->serial = hvd_client_serial(c);
	snprintf(op->name, sizeof(op->name), "%s", vm->name);
	snprintf(vm_id, sizeof(vm_id), "%s", vm->id);
	/* The partition is thrown away: no need to wait for its process to finish exiting. The
	 * kill may end a forced Remove-VMPool waiting for this member, which frees vm and its
	 * pool: only the copied id is used after it. */
	if (hvd_runtime_kill(d, vm) == 0) {
		reset_after_off(d, vm_id, op, WIRE_OK, NULL);
		return HVD_DEFERRED;
	}
	if (hvd_runtime_when_off(d, vm, reset_after_off, op) != 0) {
		free(op);
		return ERR(WIRE_E_INVALID_STATE, vm->name, "\"%s\" is being turned off already.", vm->name);
	}
	return HVD_DEFERRED;
}

/* ---- startup ---- */

/*
 * Whether the parentLink pool.xml gave (its shape checked by the parser) is in this pool's
 * folder: exactly STATE/pools/<Id>/golden-N.vhdx, or that folder spelled otherwise by an hvd
 * that did not resolve its state dir, which is then respelled and saved.
 */
static bool link_here(struct hvd_pool *p)
{
	char *dir = pool_dir(p), *link_dir = strdup(p->parent_link), *want;
	bool ok;

	if (!link_dir)
		abort();
	*strrchr(link_dir, '/') = '\0';
	if (asprintf(&want, "%s%s", dir, strrchr(p->parent_link, '/')) < 0)
		abort();
	ok = !strcmp(link_dir, dir) || same_file(link_dir, dir);
	if (ok && strcmp(want, p->parent_link)) {
		hvd_log(HVD_LOG_INFO, "pool %s: its link %s is %s", p->name, p->parent_link, want);
		free(p->parent_link);
		p->parent_link = want;
		want = NULL;
		if (pool_save(p))
			hvd_log(HVD_LOG_WARNING, "pool %s: could not save its link's new spelling", p->name);
	}
	free(want);
	free(link_dir);
	free(dir);
	return ok;
}

static void load_pool(const char *id)
{
	char *file, *buf = NULL, err[256];
	struct hvd_pool *p = NULL, **n;
	size_t len = 0;
	FILE *f;

	if (asprintf(&file, "%s/%s/pool.xml", pools_dir, id) < 0)
		abort();
	f = fopen(file, "re");
	if (f) {
		buf = malloc(65 * 1024);
		if (!buf)
			abort();
		len = fread(buf, 1, 65 * 1024, f);
		fclose(f);
	}
	if (!f) {
		hvd_log(HVD_LOG_WARNING, "%s: %s", file, strerror(errno));
	} else if (hvd_pool_from_xml(buf, len, &p, err, sizeof(err))) {
		hvd_log(HVD_LOG_ERROR, "%s cannot be loaded: %s", file, err);
	} else if (strcmp(p->id, id)) {
		hvd_log(HVD_LOG_ERROR, "%s names another pool (%s)", file, p->id);
		hvd_pool_free(p);
		p = NULL;
	} else if (p->parent_link && !link_here(p)) {
		hvd_log(HVD_LOG_ERROR, "%s cannot be loaded: parentLink='%s' is not in the pool's folder %s/%s",
			file, p->parent_link, pools_dir, id);
		hvd_pool_free(p);
		p = NULL;
	}
	free(buf);
	free(file);
	if (!p)
		return;
	n = realloc(pools, (npools + 1) * sizeof(*pools));
	if (!n)
		abort();
	pools = n;
	pools[npools++] = p;
}

static void stray_remove(const char *path, const char *name, void *ctx)
{
	(void)name;
	hvd_log(HVD_LOG_INFO, "removing %s, %s", path, (const char *)ctx);
	unlink(path);
}

/* A member's file (<VMId>.vhdx, <VMId>_<GUID>.avhdx, ...) whose VM does not exist: New-VMPool,
 * Add-VMPoolMember or Remove-VMPool was interrupted between the disk and the definition. */
static void member_file_sweep(const char *path, const char *name, void *ctx)
{
	char vm_id[37];
	size_t n = strcspn(name, "._");

	(void)ctx;
	if (n != sizeof(vm_id) - 1 || !fnmatch("golden-*.vhdx", name, 0))
		return;
	snprintf(vm_id, sizeof(vm_id), "%.*s", (int)n, name);
	if (!hvd_store_find_id(store, vm_id))
		stray_remove(path, name, "the disk of a pool member that does not exist");
}

static bool pool_has_members(const char *id)
{
	for (size_t i = 0; i < store->n; i++)
		if (!strcmp(store->vms[i]->pool_id, id))
			return true;
	return false;
}

/*
 * Cleans what a crash of hvd left in a pool's folder: temporary files, a reset's new disk, the
 * disks of members that were never saved or already removed, and a folder that New-VMPool or
 * Remove-VMPool left without pool.xml and without members (its golden links with it). A
 * folder whose pool.xml is there but cannot be loaded is left alone; so is any file a VM may
 * use.
 */
static void pool_folder_sweep(const char *id)
{
	char *dir, *xml;

	if (asprintf(&dir, "%s/%s", pools_dir, id) < 0 || asprintf(&xml, "%s/pool.xml", dir) < 0)
		abort();
	dir_each(dir, ".*.tmp", stray_remove, "left by an interrupted write");
	/* A reset a crash interrupted leaves its new disk beside the old one: the old one stays. */
	dir_each(dir, "*.vhdx.new", stray_remove, "left by an interrupted reset");
	dir_each(dir, MEMBER_FILES, member_file_sweep, NULL);
	if (!pool_by_id(id) && access(xml, F_OK) != 0 && errno == ENOENT && !pool_has_members(id)) {
		dir_each(dir, "golden-*.vhdx", stray_remove, "the golden link of a pool that does not exist");
		if (rmdir(dir) == 0)
			hvd_log(HVD_LOG_INFO, "removed %s, the folder of a pool that does not exist", dir);
	}
	free(xml);
	free(dir);
}

void hvd_pool_startup(struct hvd_store *s)
{
	DIR *dir;
	struct dirent *e;
	char err[512];

	store = s;
	if (asprintf(&pools_dir, "%s/pools", s->state_dir) < 0)
		abort();
	hvd_mkdir_p(pools_dir, 0755);
	dir = opendir(pools_dir);
	while (dir && (e = readdir(dir)))
		if (e->d_name[0] != '.')
			load_pool(e->d_name);
	if (dir)
		rewinddir(dir);
	while (dir && (e = readdir(dir)))
		if (e->d_name[0] != '.')
			pool_folder_sweep(e->d_name);
	if (dir)
		closedir(dir);
	/* A member whose disk a crash took (between New-VMPool's steps) gets one again. */
	for (size_t i = 0; i < s->n; i++) {
		struct hvd_vm *vm = s->vms[i];
		struct hvd_pool *p = vm->pool_id[0] ? pool_by_id(vm->pool_id) : NULL;
		char *disk;

		if (vm->pool_id[0] && !p && !vm->load_error)
			hvd_log(HVD_LOG_WARNING, "VM %s names pool %s, which does not exist", vm->name, vm->pool_id);
		if (!p)
			continue;
		disk = member_disk(p->id, vm->id);
		if (access(disk, F_OK) != 0) {
			if (disk_fresh(disk, vm->pool_parent ? vm->pool_parent : pool_golden(p), err, sizeof(err)))
				hvd_log(HVD_LOG_ERROR, "pool %s: %s", p->name, err);
			else
				hvd_log(HVD_LOG_WARNING, "pool %s: %s had no disk: made a fresh one", p->name, vm->name);
		}
		free(disk);
	}
	goldens_refresh();
}

void hvd_pool_shutdown(void)
{
	for (size_t i = 0; i < npools; i++)
		hvd_pool_free(pools[i]);
	free(pools);
	pools = NULL;
	npools = 0;
	store = NULL;
	goldens_refresh();
	free(goldens);
	goldens = NULL;
	free(pools_dir);
	pools_dir = NULL;
}
