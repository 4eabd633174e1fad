/*
 * Compact: payload blocks that read as all zeros are released (state ZERO, which reads as
 * zeros in any disk and hides the parent in a differencing one, MS-VHDX 2.5.1.1), their
 * space punched, and the file cut after the last structure still in use.
 */
#include "config.h"

#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include "formats/vhdx/vhdx-internal.h"

static uint64_t used_end(const struct vhdx *v)
{
	uint64_t end = v->hdr.log_offset + v->hdr.log_length;

	for (uint32_t i = 0; i < v->nregions; i++)
		if (v->regions[i].offset + v->regions[i].length > end)
			end = v->regions[i].offset + v->regions[i].length;
	for (uint64_t i = 0; i < v->bat_entries; i++) {
		bool sb = i % (v->chunk_ratio + 1) == v->chunk_ratio;
		unsigned st = BAT_STATE(v->bat[i]);
		uint64_t len = sb ? VHDX_SB_BLOCK_SIZE : v->block_size;
		if ((sb && st == SB_PRESENT) ||
		    (!sb && (st == PAYLOAD_FULLY_PRESENT || st == PAYLOAD_PARTIALLY_PRESENT)))
			if (BAT_OFFSET(v->bat[i]) + len > end)
				end = BAT_OFFSET(v->bat[i]) + len;
	}
	return end;
}

int vhdx_compact(struct vhdx *v, uint64_t *released)
{
	uint64_t *freed = NULL;
	size_t nfreed = 0;
	int r;

	*released = 0;
	if (!(v->flags & VHDX_OPEN_RDWR))
		return vhdx_fail(v, -EBADF, "image is open read-only");
	if (v->leave_allocated && !v->has_parent)
		return vhdx_fail(v, -ENOTSUP, "a fixed disk keeps every block allocated");
	r = vhdx_flush(v);
	freed = calloc(v->nblocks ? v->nblocks : 1, sizeof(*freed));
	if (!freed)
		return -ENOMEM;
	for (uint64_t b = 0; b < v->nblocks && r == 0; b++) {
		uint64_t idx = vhdx_bat_index(v, b), e = v->bat[idx], start = b * v->block_size;
		uint64_t vis = v->virtual_size - start < v->block_size ? v->virtual_size - start
									 : v->block_size;
		if (BAT_STATE(e) != PAYLOAD_FULLY_PRESENT)
			continue;
		r = vhdx_pread(v, v->scratch, (size_t)vis, BAT_OFFSET(e));
		if (r < 0 || v->scratch[0] || memcmp(v->scratch, v->scratch + 1, (size_t)vis - 1))
			continue;
		r = vhdx_session_begin(v, false);
		if (r == 0)
			r = vhdx_bat_set(v, idx, PAYLOAD_ZERO);
		freed[nfreed++] = BAT_OFFSET(e);
	}
	if (r == 0)
		r = vhdx_flush(v);
	/* only after the BAT on disk no longer names them */
	if (nfreed)
		vhdx_pages_forget(v);
	for (size_t i = 0; i < nfreed && r == 0; i++)
		if (fallocate(v->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)freed[i],
			      v->block_size) < 0 && errno != EOPNOTSUPP)
			r = -errno;
	if (r == 0 && nfreed) {
		uint64_t end = (used_end(v) + VHDX_MIB - 1) & ~(VHDX_MIB - 1);
		off_t cur = lseek(v->fd, 0, SEEK_END);
		if (cur > 0 && (uint64_t)cur > end && ftruncate(v->fd, (off_t)end) == 0) {
			v->alloc_end = end;
			v->file_size = end;
		}
	}
	*released = nfreed;
	free(freed);
	return r;
}
