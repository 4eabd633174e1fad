/*
 * Opening and closing an image: the order of MS-VHDX 2.3.3 (headers, then the log, before any
 * other structure is read), the parent chain, and the write session (2.2.2: new FileWriteGuid,
 * DataWriteGuid and LogGuid before the first change).
 */
#include "config.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <linux/magic.h>

#include "formats/vhdx/vhdx-internal.h"

void vhdx_free(struct vhdx *v)
{
	if (!v)
		return;
	vhdx_free(v->parent);
	if (v->pages)
		munmap(v->pages, v->pages_len);
	v->pages = NULL;
	vhdx_pages_forget(v);
	if (v->fd >= 0)
		close(v->fd);
	v->fd = -1;
	for (size_t i = 0; i < v->nov; i++)
		free(v->ov[i].data);
	free(v->ov);
	vhdx_kv_free(v->locator, v->nlocator);
	free(v->regions);
	if (v->bat_map_len)
		munmap(v->bat, v->bat_map_len);
	else
		free(v->bat);
	free(v->dirty);
	free(v->scratch);
	free(v->pending);
	free(v->parent_path);
	free(v->path);
	free(v);
}

static int load(struct vhdx *v)
{
	struct statfs sf;
	struct stat st;
	int r;

	if (fstat(v->fd, &st) < 0)
		return -errno;
	if (!S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode))
		return vhdx_fail(v, -EINVAL, "not a regular file");
	v->tmpfs = S_ISREG(st.st_mode) && fstatfs(v->fd, &sf) == 0 && sf.f_type == TMPFS_MAGIC;
	v->file_size = (uint64_t)st.st_size;
	if (v->file_size < VHDX_MIB)
		return vhdx_fail(v, -EBADMSG, "file too short for a VHDX header section (%llu bytes)",
				 (unsigned long long)v->file_size);
	r = vhdx_ident_read(v);
	if (r == 0)
		r = vhdx_header_read(v);
	if (r == 0)
		r = vhdx_log_replay(v);
	if (r == 0)
		r = vhdx_region_read(v);
	if (r == 0)
		r = vhdx_metadata_read(v);
	if (r == 0)
		r = vhdx_bat_read(v);
	if (r == 0 && v->has_parent && !(v->flags & VHDX_OPEN_NO_PARENT))
		r = vhdx_locator_open_parent(v);
	v->chain_tmpfs = v->tmpfs || (v->parent && v->parent->chain_tmpfs);
	if (r == 0 && (v->flags & VHDX_OPEN_RDWR)) {
		v->scratch = malloc(v->block_size);
		if (!v->scratch)
			return -ENOMEM;
		v->alloc_end = (v->file_size + VHDX_MIB - 1) & ~(VHDX_MIB - 1);
	}
	return r;
}

int vhdx_open_depth(const char *path, unsigned flags, unsigned depth, struct vhdx **out,
		    char *why, size_t why_len)
{
	struct vhdx *v;
	int r, mode;

	*out = NULL;
	v = calloc(1, sizeof(*v));
	if (!v)
		return -ENOMEM;
	v->fd = -1;
	v->flags = flags;
	v->depth = depth;
	v->path = strdup(path);
	if (!v->path) {
		r = -ENOMEM;
		goto out;
	}
	/* O_NOATIME: reading an image must not dirty its inode (on a journalling file system the
	 * atime update can wait for the journal, and nowait reads run where nothing may wait).
	 * Only the file's owner may ask for it: others open without. */
	mode = ((flags & VHDX_OPEN_RDWR) ? O_RDWR : O_RDONLY) | O_CLOEXEC;
	v->fd = open(path, mode | O_NOATIME);
	if (v->fd < 0 && errno == EPERM)
		v->fd = open(path, mode);
	if (v->fd < 0) {
		r = vhdx_fail(v, -errno, "%s", strerror(errno));
		goto out;
	}
	/* one writer at a time; readers are not locked out (a parent is read by its children) */
	if ((flags & VHDX_OPEN_RDWR) && flock(v->fd, LOCK_EX | LOCK_NB) < 0) {
		r = errno == EWOULDBLOCK ? vhdx_fail(v, -EBUSY, "in use by another writer")
					 : vhdx_fail(v, -errno, "cannot lock: %s", strerror(errno));
		goto out;
	}
	r = load(v);
	if (r == 0 && depth == 0) {
		vhdx_swap_probe(v);
		vhdx_pages_map(v);
	}
out:
	if (r < 0) {
		if (why && why_len)
			snprintf(why, why_len, "%s", v->why[0] ? v->why : strerror(-r));
		vhdx_free(v);
		return r;
	}
	*out = v;
	return 0;
}

int vhdx_open_detail(const char *path, unsigned flags, struct vhdx **out, char *why,
		     size_t why_len)
{
	return vhdx_open_depth(path, flags, 0, out, why, why_len);
}

int vhdx_open(const char *path, unsigned flags, struct vhdx **out)
{
	return vhdx_open_depth(path, flags, 0, out, NULL, 0);
}

const char *vhdx_why(const struct vhdx *v)
{
	return v ? v->why : "";
}

int vhdx_session_begin(struct vhdx *v, bool data_change)
{
	int r;

	if (v->session && (!data_change || v->data_changed))
		return 0;
	if (v->hdr.log_length < 2 * 4096)
		return vhdx_fail(v, -ENOTSUP, "image has no log to write through");
	r = vhdx_guid_generate(&v->hdr.file_write);
	if (r == 0 && !v->session) {
		r = vhdx_guid_generate(&v->hdr.log_guid);
		if (r == 0)
			r = vhdx_log_begin(v);
	}
	if (r == 0 && data_change)
		r = vhdx_guid_generate(&v->hdr.data_write);
	if (r == 0)
		r = vhdx_header_update(v);
	if (r < 0)
		return r;
	v->session = true;
	v->data_changed = v->data_changed || data_change;
	return 0;
}

int vhdx_close(struct vhdx *v)
{
	int r = 0;

	if (!v)
		return 0;
	if ((v->flags & VHDX_OPEN_RDWR) && v->session) {
		r = vhdx_flush(v);
		if (r == 0) {
			memset(&v->hdr.log_guid, 0, sizeof(v->hdr.log_guid));
			r = vhdx_header_update(v);
		}
	}
	vhdx_free(v);
	return r;
}

const struct vhdx *vhdx_parent_get(const struct vhdx *v)
{
	return v->parent;
}

int vhdx_info_get(const struct vhdx *v, struct vhdx_info *out)
{
	struct stat st;

	memset(out, 0, sizeof(*out));
	out->type = v->has_parent ? VHDX_TYPE_DIFFERENCING
		    : v->leave_allocated ? VHDX_TYPE_FIXED : VHDX_TYPE_DYNAMIC;
	out->virtual_size = v->virtual_size;
	out->block_size = v->block_size;
	out->logical_sector_size = v->lss;
	out->physical_sector_size = v->pss;
	out->file_size = fstat(v->fd, &st) == 0 ? (uint64_t)st.st_size : v->file_size;
	out->header_sequence = v->hdr.seq;
	out->disk_id = v->disk_id;
	out->data_write_guid = v->hdr.data_write;
	out->file_write_guid = v->hdr.file_write;
	out->log_guid = v->hdr.log_guid;
	out->log_offset = v->hdr.log_offset;
	out->log_length = v->hdr.log_length;
	out->bat_offset = v->bat_region->offset;
	out->bat_length = v->bat_region->length;
	out->metadata_offset = v->meta_region->offset;
	out->metadata_length = v->meta_region->length;
	out->blocks = v->nblocks;
	for (uint64_t b = 0; b < v->nblocks; b++) {
		unsigned s = BAT_STATE(v->bat[vhdx_bat_index(v, b)]);
		if (s == PAYLOAD_FULLY_PRESENT || s == PAYLOAD_PARTIALLY_PRESENT)
			out->blocks_allocated++;
	}
	out->log_replayed = v->log_replayed;
	snprintf(out->creator, sizeof(out->creator), "%s", v->creator);
	out->parent_path = v->parent_path;
	return 0;
}
