/*
 * The VHD procedures (New-VHD, Get-VHD, Resize-VHD, Convert-VHD, Merge-VHD, Optimize-VHD,
 * Test-VHD) on libvhdx.  hvd runs as root and the files are the caller's: a path must be
 * absolute, and a file is made or changed only where the caller could write it himself
 * (owner, group and other bits of the file or its folder against SO_PEERCRED).  Nothing is
 * ever overwritten.  Each runs in a thread of its own (a conversion can take minutes): hvd's
 * loop goes on serving, and the caller gets the answer when the thread is done.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <pthread.h>
#include <unistd.h>

#include "daemon/hvd.h"
#include "daemon/procs.h"
#include "formats/vhdx/vhdx.h"

static const char *type_name(enum vhdx_type t)
{
	return t == VHDX_TYPE_FIXED ? "Fixed" : t == VHDX_TYPE_DYNAMIC ? "Dynamic" : "Differencing";
}

/* Whether the caller's mode bits allow `bits` (the read or write triple, as S_IRUSR or
 * S_IWUSR) on path, taking the first class that applies as the kernel does (owner, then
 * the caller's primary group, then others; supplementary groups and ACLs are not seen). */
static bool peer_may(const struct hvd_peer *peer, const char *path, mode_t user_bit)
{
	struct stat st;

	if (peer->uid == 0)
		return true;
	if (stat(path, &st) != 0)
		return false;
	if (st.st_uid == peer->uid)
		return st.st_mode & user_bit;
	if (st.st_gid == peer->gid)
		return st.st_mode & (user_bit >> 3);
	return st.st_mode & (user_bit >> 6);
}

/* Whether the caller may write path (what is there) or create it (in its folder). */
static bool may_write(const struct hvd_peer *peer, const char *path, bool create)
{
	char *copy = strdup(path);
	bool ok;

	if (!copy)
		abort();
	ok = peer_may(peer, create ? dirname(copy) : copy, S_IWUSR);
	free(copy);
	return ok;
}

/* A file hvd made for the caller is the caller's. */
static void give_to_caller(const struct hvd_peer *peer, const char *path)
{
	if (peer->uid != 0 && chown(path, peer->uid, peer->gid) < 0)
		hvd_log(HVD_LOG_WARNING, "cannot give %s to uid %u: %s", path, (unsigned)peer->uid, strerror(errno));
}

enum path_use { PATH_READ, PATH_WRITE, PATH_CREATE };

static int check_path(const struct hvd_peer *peer, const char *param, const char *path, enum path_use use,
		      struct wire_value **reply)
{
	bool create = use == PATH_CREATE;

	if (!path)
		return ERR(WIRE_E_INVALID_ARGUMENT, param, "-%s is needed.", param);
	if (path[0] != '/')
		return ERR(WIRE_E_INVALID_ARGUMENT, path, "Invalid value \"%s\" for parameter -%s: it must be an absolute path.",
			   path, param);
	if (create && access(path, F_OK) == 0)
		return ERR(WIRE_E_ALREADY_EXISTS, path, "The file %s already exists; hvd never overwrites one.", path);
	if (!create && access(path, F_OK) != 0)
		return ERR(WIRE_E_NOT_FOUND, path, "The file %s cannot be found: %s.", path, strerror(errno));
	if (use != PATH_READ && !may_write(peer, path, create))
		return ERR(WIRE_E_PERMISSION_DENIED, path, "%s: you (uid %u) may not write %s.", path,
			   (unsigned)peer->uid, create ? "in its folder" : "it");
	if (use != PATH_CREATE && !peer_may(peer, path, S_IRUSR))
		return ERR(WIRE_E_PERMISSION_DENIED, path, "%s: you (uid %u) may not read it.", path,
			   (unsigned)peer->uid);
	return 0;
}

static struct wire_value *vhd_object(const char *path, struct vhdx *v)
{
	struct wire_value *o = wire_object("VirtualHardDisk");
	struct vhdx_info info;
	char guid[39];

	if (vhdx_info_get(v, &info))
		memset(&info, 0, sizeof(info));
	vhdx_guid_format(&info.disk_id, guid);
	wire_object_add(o, "Path", wire_string(path));
	wire_object_add(o, "VhdFormat", wire_string("VHDX"));
	wire_object_add(o, "VhdType", wire_string(type_name(info.type)));
	wire_object_add(o, "FileSize", wire_uint(info.file_size));
	wire_object_add(o, "Size", wire_uint(info.virtual_size));
	wire_object_add(o, "MinimumSize", wire_null());
	wire_object_add(o, "LogicalSectorSize", wire_int(info.logical_sector_size));
	wire_object_add(o, "PhysicalSectorSize", wire_int(info.physical_sector_size));
	wire_object_add(o, "BlockSize", wire_int(info.block_size));
	wire_object_add(o, "ParentPath", wire_string(info.parent_path ? info.parent_path : ""));
	/* Hyper-V shows the identifier without braces, in capitals. */
	{
		char id[37];
		size_t i;

		for (i = 0; i < 36; i++)
			id[i] = (char)(guid[i + 1] >= 'a' && guid[i + 1] <= 'f' ? guid[i + 1] - 32 : guid[i + 1]);
		id[36] = '\0';
		wire_object_add(o, "DiskIdentifier", wire_string(id));
	}
	wire_object_add(o, "FragmentationPercentage", wire_null());
	wire_object_add(o, "Alignment", wire_int(1));
	wire_object_add(o, "Attached", wire_bool(false));
	wire_object_add(o, "ComputerName", wire_string(hvd_host_name()));
	return o;
}

static int open_error(int rc, const char *path, const char *why, struct wire_value **reply)
{
	return ERR(rc == -EBUSY ? WIRE_E_INVALID_STATE : rc == -ENOENT ? WIRE_E_NOT_FOUND : WIRE_E_INVALID_ARGUMENT, path,
		   "%s: %s", path, why && *why ? why : strerror(-rc));
}

/* Replies with the disk at path as Get-VHD shows it. */
static int reply_disk(const char *path, struct wire_value **reply)
{
	struct vhdx *v;
	char why[512] = "";
	int rc = vhdx_open_detail(path, 0, &v, why, sizeof(why));

	if (rc)
		return open_error(rc, path, why, reply);
	*reply = wire_list();
	wire_list_append(*reply, vhd_object(path, v));
	vhdx_free(v);
	return WIRE_OK;
}

static int size_arg(const struct wire_value *args, const char *name, uint64_t *out, struct wire_value **reply)
{
	int64_t v;
	int rc = wire_object_get_int(args, name, &v);

	*out = 0;
	if (rc == -ENOENT)
		return 0;
	if (rc || v < 0)
		return ERR(WIRE_E_INVALID_ARGUMENT, name, "Invalid value for parameter -%s: it must be a size in bytes.", name);
	*out = (uint64_t)v;
	return 0;
}

static int vhd_new(const struct hvd_peer *peer, const struct wire_value *args, struct wire_value **reply)
{
	struct vhdx_create_opts o = { 0 };
	const char *path = NULL, *type = "Dynamic", *parent = NULL;
	uint64_t size, block, lss, pss;
	int st, rc;

	if ((st = hvd_arg_string(args, "Path", 4096, &path, reply)) ||
	    (st = hvd_arg_string(args, "Type", 32, &type, reply)) ||
	    (st = hvd_arg_string(args, "ParentPath", 4096, &parent, reply)) ||
	    (st = size_arg(args, "SizeBytes", &size, reply)) || (st = size_arg(args, "BlockSizeBytes", &block, reply)) ||
	    (st = size_arg(args, "LogicalSectorSizeBytes", &lss, reply)) ||
	    (st = size_arg(args, "PhysicalSectorSizeBytes", &pss, reply)) || (st = check_path(peer, "Path", path, PATH_CREATE, reply)))
		return st;
	if (!type)
		type = parent ? "Differencing" : "Dynamic";
	o.type = !strcasecmp(type, "Fixed") ? VHDX_TYPE_FIXED : !strcasecmp(type, "Differencing") ? VHDX_TYPE_DIFFERENCING
											       : VHDX_TYPE_DYNAMIC;
	if ((o.type == VHDX_TYPE_DIFFERENCING) != (parent != NULL))
		return ERR(WIRE_E_INVALID_ARGUMENT, path, "A differencing disk needs -ParentPath, and only it takes one.");
	if (o.type != VHDX_TYPE_DIFFERENCING && !size)
		return ERR(WIRE_E_INVALID_ARGUMENT, path, "-SizeBytes is needed.");
	if (parent && (st = check_path(peer, "ParentPath", parent, PATH_READ, reply)) != 0)
		return st;
	if (block > UINT32_MAX || lss > UINT32_MAX || pss > UINT32_MAX)
		return ERR(WIRE_E_INVALID_ARGUMENT, path, "Block and sector sizes must fit in 32 bits.");
	o.size = size;
	o.block_size = (uint32_t)block;
	o.logical_sector_size = (uint32_t)lss;
	o.physical_sector_size = (uint32_t)pss;
	o.parent = parent;
	rc = vhdx_create(path, &o);
	if (rc == 0)
		give_to_caller(peer, path);
	if (rc)
		return ERR(rc == -EINVAL || rc == -ENOTSUP || rc == -E2BIG ? WIRE_E_INVALID_ARGUMENT : WIRE_E_RESOURCE, path,
			   "Cannot create %s: %s.", path,
			   rc == -EINVAL || rc == -E2BIG ? "a size, block size or sector size is not one VHDX allows (block 1-256 MiB, "
					   "a power of two; sectors 512 or 4096; size a multiple of the sector, up to 64 TiB)"
					 : strerror(-rc));
	hvd_log(HVD_LOG_INFO, "%s created %s (%s)", peer->user, path, type_name(o.type));
	return reply_disk(path, reply);
}

static int vhd_get(const struct hvd_peer *peer, const struct wire_value *args, struct wire_value **reply)
{
	const char *path;
	int st;

	if ((st = hvd_arg_string(args, "Path", 4096, &path, reply)) || (st = check_path(peer, "Path", path, PATH_READ, reply)))
		return st;
	return reply_disk(path, reply);
}

/* Opens the disk read-write for a change; on failure, the error reply is made. */
static int open_rw(const struct hvd_peer *peer, const struct wire_value *args, const char **path, struct vhdx **v,
		   struct wire_value **reply)
{
	char why[512] = "";
	int st, rc;

	if ((st = hvd_arg_string(args, "Path", 4096, path, reply)) || (st = check_path(peer, "Path", *path, PATH_WRITE, reply)))
		return st;
	rc = vhdx_open_detail(*path, VHDX_OPEN_RDWR, v, why, sizeof(why));
	return rc ? open_error(rc, *path, why, reply) : 0;
}

static int finish(struct vhdx *v, const char *path, const char *what, struct wire_value **reply)
{
	int rc = vhdx_close(v);

	if (rc)
		return ERR(WIRE_E_RESOURCE, path, "%s of %s did not finish: %s.", what, path, strerror(-rc));
	return reply_disk(path, reply);
}

static int vhd_resize(const struct hvd_peer *peer, const struct wire_value *args, struct wire_value **reply)
{
	const char *path;
	uint64_t size;
	struct vhdx *v;
	int st, rc;

	if ((st = size_arg(args, "SizeBytes", &size, reply)))
		return st;
	if (!size)
		return ERR(WIRE_E_INVALID_ARGUMENT, NULL, "-SizeBytes is needed.");
	if ((st = open_rw(peer, args, &path, &v, reply)))
		return st;
	rc = vhdx_resize(v, size);
	if (rc) {
		st = ERR(rc == -ENOTEMPTY ? WIRE_E_INVALID_STATE : WIRE_E_INVALID_ARGUMENT, path,
			 rc == -ENOTEMPTY ? "Cannot shrink %s to %llu bytes: data lies beyond that size."
					  : "Cannot resize %s to %llu bytes: %s.",
			 path, (unsigned long long)size, rc == -ENOTEMPTY ? "" : strerror(-rc));
		vhdx_free(v);
		return st;
	}
	return finish(v, path, "Resizing", reply);
}

static int vhd_optimize(const struct hvd_peer *peer, const struct wire_value *args, struct wire_value **reply)
{
	const char *path;
	uint64_t released = 0;
	struct vhdx *v;
	int st, rc;

	if ((st = open_rw(peer, args, &path, &v, reply)))
		return st;
	rc = vhdx_compact(v, &released);
	if (rc) {
		st = ERR(WIRE_E_RESOURCE, path, "Cannot optimize %s: %s.", path, strerror(-rc));
		vhdx_free(v);
		return st;
	}
	hvd_log(HVD_LOG_INFO, "%s optimized %s: %llu blocks released", peer->user, path,
		(unsigned long long)released);
	return finish(v, path, "Optimizing", reply);
}

struct problems {
	struct wire_value *list;
};

static void note_problem(void *opaque, const char *problem)
{
	struct problems *p = opaque;

	if (p->list->list.n < 100)
		wire_list_append(p->list, wire_string(problem));
}

/* Test-VHD: True when the disk (and its chain) opens and checks clean; the problems
 * otherwise, as non-terminating errors. */
static int vhd_test(const struct hvd_peer *peer, const struct wire_value *args, struct wire_value **reply)
{
	struct vhdx_check_result res = { 0 };
	struct problems p = { wire_list() };
	const char *path;
	char why[512] = "";
	struct vhdx *v;
	size_t i;
	int st, rc;

	if ((st = hvd_arg_string(args, "Path", 4096, &path, reply)) || (st = check_path(peer, "Path", path, PATH_READ, reply))) {
		wire_value_unref(p.list);
		return st;
	}
	*reply = wire_list();
	rc = vhdx_open_detail(path, 0, &v, why, sizeof(why));
	if (rc == 0) {
		rc = vhdx_check(v, 0, note_problem, &p, &res);
		vhdx_free(v);
	} else {
		note_problem(&p, why[0] ? why : strerror(-rc));
	}
	for (i = 0; i < p.list->list.n; i++)
		wire_list_append(*reply, wire_error_record(WIRE_E_INVALID_ARGUMENT, path, "%s: %s", path,
							   p.list->list.items[i]->str.p));
	wire_list_append(*reply, wire_bool(rc == 0 && res.errors == 0 && p.list->list.n == 0));
	wire_value_unref(p.list);
	return WIRE_OK;
}

static int vhd_merge(const struct hvd_peer *peer, const struct wire_value *args, struct wire_value **reply)
{
	const char *path, *dest = NULL, *parent;
	struct vhdx *v;
	char why[512] = "", *parent_copy;
	struct vhdx_info info;
	int st, rc;

	if ((st = hvd_arg_string(args, "Path", 4096, &path, reply)) ||
	    (st = hvd_arg_string(args, "DestinationPath", 4096, &dest, reply)) ||
	    (st = check_path(peer, "Path", path, PATH_WRITE, reply)))
		return st;
	rc = vhdx_open_detail(path, 0, &v, why, sizeof(why));
	if (rc)
		return open_error(rc, path, why, reply);
	if (vhdx_info_get(v, &info) || info.type != VHDX_TYPE_DIFFERENCING || !info.parent_path) {
		vhdx_free(v);
		return ERR(WIRE_E_INVALID_ARGUMENT, path, "%s is not a differencing disk: there is nothing to merge into.", path);
	}
	parent = info.parent_path;
	parent_copy = strdup(parent);
	vhdx_free(v);
	if (dest && strcmp(dest, parent_copy)) {
		st = ERR(WIRE_E_INVALID_ARGUMENT, dest, "hvd merges a disk into its parent (%s) only, not into %s.", parent_copy,
			 dest);
		free(parent_copy);
		return st;
	}
	if (!may_write(peer, parent_copy, false) || !may_write(peer, path, true)) {
		st = ERR(WIRE_E_PERMISSION_DENIED, parent_copy, "Merging needs you to write %s and to remove %s.", parent_copy,
			 path);
		free(parent_copy);
		return st;
	}
	rc = vhdx_merge_into_parent(path);
	if (rc) {
		st = ERR(WIRE_E_RESOURCE, path, "Cannot merge %s into %s: %s.", path, parent_copy, strerror(-rc));
		free(parent_copy);
		return st;
	}
	hvd_log(HVD_LOG_INFO, "%s merged %s into %s", peer->user, path, parent_copy);
	st = reply_disk(parent_copy, reply);
	free(parent_copy);
	return st;
}

/* Copies what src holds (its whole chain, flattened) into dst, extent by extent. */
static int copy_disk(struct vhdx *src, struct vhdx *dst, uint64_t size)
{
	size_t buflen = 1 << 20;
	char *buf = malloc(buflen);
	uint64_t off = 0;
	int rc = 0;

	if (!buf)
		return -ENOMEM;
	while (rc == 0 && off < size) {
		struct vhdx_extent e;

		rc = vhdx_map(src, off, size - off, &e);
		if (rc || e.length == 0)
			break;
		if (e.kind == VHDX_EXTENT_DATA) {
			uint64_t done = 0;

			while (rc == 0 && done < e.length) {
				size_t n = e.length - done > buflen ? buflen : (size_t)(e.length - done);

				rc = vhdx_read(src, buf, n, off + done);
				if (rc == 0)
					rc = vhdx_write(dst, buf, n, off + done);
				done += n;
			}
		}
		off += e.length;
	}
	free(buf);
	return rc ? rc : vhdx_flush(dst);
}

static int vhd_convert(const struct hvd_peer *peer, const struct wire_value *args, struct wire_value **reply)
{
	const char *path, *dest, *type = NULL;
	struct vhdx_create_opts o = { 0 };
	struct vhdx *src, *dst = NULL;
	struct vhdx_info info;
	char why[512] = "";
	uint64_t block;
	bool made;
	int st, rc;

	if ((st = hvd_arg_string(args, "Path", 4096, &path, reply)) ||
	    (st = hvd_arg_string(args, "DestinationPath", 4096, &dest, reply)) ||
	    (st = hvd_arg_string(args, "VHDType", 32, &type, reply)) || (st = size_arg(args, "BlockSizeBytes", &block, reply)) ||
	    (st = check_path(peer, "DestinationPath", dest, PATH_CREATE, reply)))
		return st;
	if ((st = check_path(peer, "Path", path, PATH_READ, reply)))
		return st;
	rc = vhdx_open_detail(path, 0, &src, why, sizeof(why));
	if (rc)
		return open_error(rc, path, why, reply);
	if (vhdx_info_get(src, &info) || block > UINT32_MAX) {
		vhdx_free(src);
		return ERR(WIRE_E_INVALID_ARGUMENT, path, "Cannot convert %s with that block size.", path);
	}
	o.type = type && !strcasecmp(type, "Fixed") ? VHDX_TYPE_FIXED : VHDX_TYPE_DYNAMIC;
	if (type && strcasecmp(type, "Fixed") && strcasecmp(type, "Dynamic")) {
		vhdx_free(src);
		return ERR(WIRE_E_INVALID_ARGUMENT, type, "-VHDType is Fixed or Dynamic (a converted disk stands alone).");
	}
	o.size = info.virtual_size;
	o.block_size = (uint32_t)block;
	o.logical_sector_size = info.logical_sector_size;
	o.physical_sector_size = info.physical_sector_size;
	rc = vhdx_create(dest, &o);
	made = rc == 0;
	if (made)
		give_to_caller(peer, dest);
	if (rc == 0)
		rc = vhdx_open(dest, VHDX_OPEN_RDWR, &dst);
	if (rc == 0)
		rc = copy_disk(src, dst, info.virtual_size);
	if (dst && vhdx_close(dst) && rc == 0)
		rc = -EIO;
	vhdx_free(src);
	if (rc) {
		if (made) /* only what this call made */
			unlink(dest);
		return ERR(WIRE_E_RESOURCE, dest, "Cannot convert %s to %s: %s.", path, dest, strerror(-rc));
	}
	hvd_log(HVD_LOG_INFO, "%s converted %s to %s", peer->user, path, dest);
	return reply_disk(dest, reply);
}

/* ---- running them off hvd's loop ---- */

typedef int (*vhd_fn)(const struct hvd_peer *peer, const struct wire_value *args, struct wire_value **reply);

struct vhd_job {
	uint64_t client;
	uint32_t serial, proc;
	struct hvd_peer peer;
	struct wire_value *args; /* the thread's own copy */
	vhd_fn fn;
	int status;
	struct wire_value *reply;
};

static int done_pipe[2] = { -1, -1 };

int hvd_vhd_init(void)
{
	hvd_host_name(); /* set up its buffer here, not in two threads at once */
	if (pipe2(done_pipe, O_CLOEXEC | O_NONBLOCK) < 0)
		return -errno;
	return 0;
}

int hvd_vhd_fd(void)
{
	return done_pipe[0];
}

static void *job_main(void *arg)
{
	struct vhd_job *j = arg;

	j->status = j->fn(&j->peer, j->args, &j->reply);
	while (write(done_pipe[1], &j, sizeof(j)) < 0 && errno == EINTR)
		;
	return NULL;
}

/* Values are not shared between threads: the job gets a copy of its arguments. */
static struct wire_value *deep_copy(const struct wire_value *v)
{
	struct wire_buf b = { 0 };
	struct wire_value *copy = NULL;

	if (!v)
		return wire_object("Arguments");
	wire_value_encode(v, &b);
	if (wire_value_decode(b.data, b.len, &copy))
		copy = wire_object("Arguments");
	wire_buf_free(&b);
	return copy;
}

static int run_async(struct hvd_client *c, const struct wire_value *args, uint32_t proc, vhd_fn fn,
		     struct wire_value **reply)
{
	struct vhd_job *j = calloc(1, sizeof(*j));
	pthread_attr_t attr;
	pthread_t t;
	int rc;

	if (!j)
		abort();
	j->client = hvd_client_id(c);
	j->serial = hvd_client_serial(c);
	j->proc = proc;
	j->peer = *hvd_client_peer(c);
	j->args = deep_copy(args);
	j->fn = fn;
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	rc = pthread_create(&t, &attr, job_main, j);
	pthread_attr_destroy(&attr);
	if (rc) {
		wire_value_unref(j->args);
		free(j);
		return ERR(WIRE_E_RESOURCE, NULL, "Cannot start the operation: %s.", strerror(rc));
	}
	return HVD_DEFERRED;
}

void hvd_vhd_complete(struct hvd *d)
{
	struct vhd_job *j;

	while (read(done_pipe[0], &j, sizeof(j)) == (ssize_t)sizeof(j)) {
		hvd_reply_to(d, j->client, j->serial, j->proc, j->status, j->reply);
		wire_value_unref(j->args);
		free(j);
	}
}

#define VHD_ASYNC(name, proc)                                                                        \
	HVD_PROC(proc_vhd_##name)                                                                    \
	{                                                                                            \
		(void)d;                                                                             \
		return run_async(c, args, proc, vhd_##name, reply);                                  \
	}
/* A disk a running partition uses (its drives' chains) cannot change underneath it. */
#define VHD_ASYNC_IDLE(name, proc)                                                                   \
	HVD_PROC(proc_vhd_##name)                                                                    \
	{                                                                                            \
		int st = not_in_use(d, args, proc == WIRE_PROC_VHD_MERGE, proc == WIRE_PROC_VHD_CONVERT, reply);                   \
		return st ? st : run_async(c, args, proc, vhd_##name, reply);                        \
	}

static int not_in_use(struct hvd *d, const struct wire_value *args, bool with_parent, bool reads_only,
		      struct wire_value **reply)
{
	const char *path = NULL, *who = NULL;
	struct vhdx *v = NULL;
	struct vhdx_info info;
	bool busy;

	if (wire_object_get_string(args, "Path", &path) || path[0] != '/')
		return 0; /* the operation reports it */
	/* A golden image never changes while a pool uses it (its members' disks depend on it);
	 * Convert-VHD only reads its source. */
	if (!reads_only && hvd_pool_golden_in_use(path, &who))
		return ERR(WIRE_E_INVALID_STATE, path,
			   "%s is the golden image of pool \"%s\": it cannot change while the pool uses it (Update-VMPool moves the pool to another).",
			   path, who);
	busy = hvd_disk_in_use(hvd_get_store(d), path, NULL, &who);
	if (!busy && with_parent && vhdx_open(path, 0, &v) == 0) {
		if (vhdx_info_get(v, &info) == 0 && info.parent_path)
			busy = hvd_disk_in_use(hvd_get_store(d), info.parent_path, NULL, &who);
		vhdx_free(v);
	}
	if (busy)
		return ERR(WIRE_E_INVALID_STATE, path, "%s is in use by the running virtual machine \"%s\": turn it off first.",
			   path, who);
	if (with_parent && vhdx_open(path, 0, &v) == 0) {
		if (vhdx_info_get(v, &info) == 0 && info.parent_path && hvd_pool_golden_in_use(info.parent_path, &who))
			busy = true;
		vhdx_free(v);
		if (busy)
			return ERR(WIRE_E_INVALID_STATE, path,
				   "Merging %s would write the golden image of pool \"%s\", which cannot change while the pool uses it.",
				   path, who);
	}
	return 0;
}

VHD_ASYNC(new, WIRE_PROC_VHD_NEW)
VHD_ASYNC(get, WIRE_PROC_VHD_GET)
VHD_ASYNC_IDLE(resize, WIRE_PROC_VHD_RESIZE)
VHD_ASYNC_IDLE(convert, WIRE_PROC_VHD_CONVERT)
VHD_ASYNC_IDLE(merge, WIRE_PROC_VHD_MERGE)
VHD_ASYNC_IDLE(optimize, WIRE_PROC_VHD_OPTIMIZE)
VHD_ASYNC(test, WIRE_PROC_VHD_TEST)
