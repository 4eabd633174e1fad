/*
 * Resize (the Virtual Disk Size item, MS-VHDX 2.6.2.2, and the BAT).  Growing appends BAT
 * entries (payload indexes do not depend on the size), moving the BAT to the end of the file
 * when its region is too small; shrinking is refused unless the cut-off range reads as zeros.
 * The size, region table and BAT change in one log entry.
 */
#include "config.h"

#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include "formats/vhdx/vhdx-internal.h"

static int cut_is_empty(struct vhdx *v, uint64_t from)
{
	size_t chunk = 1u << 20;
	uint8_t *buf = malloc(chunk);
	int r = 0;

	if (!buf)
		return -ENOMEM;
	for (uint64_t off = from; off < v->virtual_size && r == 0; off += chunk) {
		size_t n = v->virtual_size - off < chunk ? (size_t)(v->virtual_size - off) : chunk;
		r = vhdx_read(v, buf, n, off);
		if (r == 0 && (buf[0] || memcmp(buf, buf + 1, n - 1)))
			r = vhdx_fail(v, -ENOTEMPTY,
				      "cannot shrink: data at offset %llu of the cut-off range",
				      (unsigned long long)off);
	}
	free(buf);
	return r;
}

static int grow_table(struct vhdx *v, uint64_t entries)
{
	uint64_t old_sec = (v->bat_entries * 8 + 4095) / 4096, nsec = (entries * 8 + 4095) / 4096;
	uint64_t *bat;
	uint8_t *dirty;

	if (nsec <= old_sec)
		return 0;
	bat = realloc(v->bat, nsec * 4096);
	if (!bat)
		return -ENOMEM;
	v->bat = bat;
	memset(bat + old_sec * 512, 0, (nsec - old_sec) * 4096);
	dirty = realloc(v->dirty, (size_t)(nsec + 7) / 8 + 1);
	if (!dirty)
		return -ENOMEM;
	memset(dirty + (old_sec + 7) / 8, 0, (size_t)((nsec + 7) / 8 - (old_sec + 7) / 8) + 1);
	v->dirty = dirty;
	return 0;
}

/* Copy the BAT to a new, larger region at the end of the file and point the tables at it. */
static int move_bat(struct vhdx *v, uint64_t entries)
{
	uint64_t len = (entries * 8 + VHDX_MIB - 1) & ~(VHDX_MIB - 1), at;
	uint64_t nsec = (entries * 8 + 4095) / 4096;
	struct vhdx_region *rg = (struct vhdx_region *)v->bat_region;
	uint8_t *buf, *tab;
	off_t end = lseek(v->fd, 0, SEEK_END);
	int r;

	if (end < 0)
		return -errno;
	if (len > UINT32_MAX - VHDX_MIB)
		return -E2BIG;
	at = ((uint64_t)end + VHDX_MIB - 1) & ~(VHDX_MIB - 1);
	if (at < v->alloc_end)
		at = v->alloc_end;
	buf = calloc(1, nsec * 4096);
	tab = malloc(VHDX_REGION_SIZE);
	r = -ENOMEM;
	if (!buf || !tab)
		goto out;
	for (uint64_t i = 0; i < nsec * 512; i++)
		put64(buf + 8 * i, v->bat[i]);
	r = vhdx_pwrite(v, buf, nsec * 4096, at);
	if (r == 0 && ftruncate(v->fd, (off_t)(at + len)) < 0)
		r = -errno;
	if (r == 0)
		r = vhdx_sync(v);
	if (r < 0)
		goto out;
	v->alloc_end = at + len;
	if (v->alloc_end > v->file_size)
		v->file_size = v->alloc_end;
	rg->offset = at;
	rg->length = (uint32_t)len;
	vhdx_region_encode(v->regions, v->nregions, tab);
	r = vhdx_pending_patch(v, VHDX_REGION1_OFF, tab, VHDX_REGION_SIZE);
	if (r == 0)
		r = vhdx_pending_patch(v, VHDX_REGION2_OFF, tab, VHDX_REGION_SIZE);
out:
	free(buf);
	free(tab);
	return r;
}

/* Fixed disks stay fully allocated: new blocks are preallocated at the end. */
static int allocate_fixed(struct vhdx *v, uint64_t from, uint64_t to)
{
	off_t end = lseek(v->fd, 0, SEEK_END);
	uint64_t at;

	if (end < 0)
		return -errno;
	at = ((uint64_t)end + VHDX_MIB - 1) & ~(VHDX_MIB - 1);
	if (at < v->alloc_end)
		at = v->alloc_end;
	if (to > from && posix_fallocate(v->fd, (off_t)at, (off_t)((to - from) * v->block_size)))
		return -ENOSPC;
	for (uint64_t b = from; b < to; b++) {
		int r = vhdx_bat_set(v, vhdx_bat_index(v, b),
				     (at + (b - from) * v->block_size) | PAYLOAD_FULLY_PRESENT);
		if (r < 0)
			return r;
	}
	v->alloc_end = at + (to - from) * v->block_size;
	if (v->alloc_end > v->file_size)
		v->file_size = v->alloc_end;
	return 0;
}

int vhdx_resize(struct vhdx *v, uint64_t ns)
{
	uint64_t nb, cr, entries, old_nb = v->nblocks;
	uint8_t le[8];
	int r;

	if (!(v->flags & VHDX_OPEN_RDWR))
		return vhdx_fail(v, -EBADF, "image is open read-only");
	if (!ns || ns % v->lss)
		return vhdx_fail(v, -EINVAL, "size must be a non-zero multiple of %u", v->lss);
	if (ns > VHDX_MAX_SIZE)
		return vhdx_fail(v, -E2BIG, "size over 64 TiB");
	if (ns == v->virtual_size)
		return 0;
	if (ns < v->virtual_size && (r = cut_is_empty(v, ns)) < 0)
		return r;
	r = vhdx_session_begin(v, true);
	if (r < 0)
		return r;
	vhdx_geometry(ns, v->block_size, v->lss, v->has_parent, &nb, &cr, &entries);
	if (entries > v->bat_entries) {
		r = grow_table(v, entries);
		if (r == 0 && entries * 8 > v->bat_region->length)
			r = move_bat(v, entries);
	}
	if (r < 0)
		return r;
	/* entries that leave the disk are cleared, entries that join it start empty */
	uint64_t old_entries = v->bat_entries;
	v->bat_entries = entries > old_entries ? entries : old_entries;
	for (uint64_t i = entries; i < old_entries && r == 0; i++)
		r = vhdx_bat_set(v, i, 0);
	for (uint64_t i = old_entries; i < entries && r == 0; i++)
		r = vhdx_bat_set(v, i, 0);
	if (r == 0 && v->leave_allocated && !v->has_parent && nb > old_nb)
		r = allocate_fixed(v, old_nb, nb);
	put64(le, ns);
	if (r == 0)
		r = vhdx_pending_patch(v, v->meta_region->offset + v->item_off[ITEM_DISK_SIZE], le,
				       8);
	if (r == 0)
		r = vhdx_flush(v);
	if (r < 0)
		return r;
	v->virtual_size = ns;
	v->nblocks = nb;
	v->bat_entries = entries;
	return 0;
}
