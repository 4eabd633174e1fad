/*
 * Payload I/O (MS-VHDX 2.5.1): reads resolve each block through the BAT, the sector bitmap
 * and the parent chain; writes allocate whole blocks at the end of the file and publish them
 * through the log on flush.
 */
#include "config.h"

#include <fcntl.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/sysinfo.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "formats/vhdx/vhdx-internal.h"

/* Commit the BAT before this many changed sectors pile up (a 1 MiB log holds ~250). */
#define MAX_DIRTY 64u

/* Read file bytes with the replayed-log overlay applied; -EBADMSG past the end of the file. */
int vhdx_pread(struct vhdx *v, void *buf, size_t len, uint64_t off)
{
	uint8_t *b = buf;
	size_t got = 0;

	if (off > v->file_size || len > v->file_size - off)
		return vhdx_fail(v, -EBADMSG,
				 "structure at offset %llu (%zu bytes) lies beyond the end of the file",
				 (unsigned long long)off, len);
	while (got < len) {
		ssize_t n = pread(v->fd, b + got, len - got, (off_t)(off + got));
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0) {
			/* only an in-memory replay makes the file longer than it is */
			memset(b + got, 0, len - got);
			break;
		}
		got += (size_t)n;
	}
	for (size_t i = 0; i < v->nov; i++) {
		const struct vhdx_overlay *o = &v->ov[i];
		uint64_t s = o->offset > off ? o->offset : off;
		uint64_t e = o->offset + o->length < off + len ? o->offset + o->length : off + len;
		if (s >= e)
			continue;
		if (o->data)
			memcpy(b + (s - off), o->data + (s - o->offset), e - s);
		else
			memset(b + (s - off), 0, e - s);
	}
	/* metadata changed in this session but not yet committed through the log */
	for (size_t i = 0; i < v->npending; i++) {
		const struct vhdx_pending *p = &v->pending[i];
		uint64_t s = p->offset > off ? p->offset : off;
		uint64_t e = p->offset + 4096 < off + len ? p->offset + 4096 : off + len;
		if (s < e)
			memcpy(b + (s - off), p->data + (s - p->offset), e - s);
	}
	return 0;
}

int vhdx_pwrite(struct vhdx *v, const void *buf, size_t len, uint64_t off)
{
	const uint8_t *b = buf;
	size_t done = 0;

	if (!(v->flags & VHDX_OPEN_RDWR))
		return -EBADF;
	while (done < len) {
		ssize_t n = pwrite(v->fd, b + done, len - done, (off_t)(off + done));
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		done += (size_t)n;
	}
	if (off + len > v->file_size)
		v->file_size = off + len;
	return 0;
}

int vhdx_sync(struct vhdx *v)
{
	return fdatasync(v->fd) < 0 ? -errno : 0;
}

static int read_parent(struct vhdx *v, uint8_t *buf, size_t n, uint64_t off)
{
	if (!v->parent) {
		if (v->has_parent)
			return vhdx_fail(v, -ENOENT, "the parent is needed but was not opened");
		memset(buf, 0, n);
		return 0;
	}
	/* a child may be larger than its parent: beyond the parent reads as zeros */
	uint64_t psize = v->parent->virtual_size;
	size_t inside = off >= psize ? 0 : (psize - off < n ? (size_t)(psize - off) : n);
	memset(buf + inside, 0, n - inside);
	if (!inside)
		return 0;
	int r = vhdx_read(v->parent, buf, inside, off);
	if (r < 0)
		vhdx_fail(v, r, "parent %s: %s", v->parent_path, v->parent->why);
	return r;
}

/* Bytes [within, within + n) of a partially present block: bitmap 1 = here, 0 = parent. */
static int read_partial(struct vhdx *v, uint64_t block, uint64_t e, uint8_t *buf,
			uint32_t within, size_t n, uint64_t voff)
{
	uint32_t first = within / v->lss, last = (uint32_t)((within + n - 1) / v->lss);
	uint32_t count = last - first + 1;
	uint8_t *bits = malloc(count / 8 + 2);
	int r, bit0;

	if (!bits)
		return -ENOMEM;
	bit0 = r = vhdx_bitmap_read(v, block, first, count, bits);
	for (uint32_t i = 0; i < count && r >= 0;) {
		uint32_t p = (uint32_t)bit0 + i;
		int here = (bits[p / 8] >> (p % 8)) & 1;
		uint32_t j = i + 1;
		while (j < count && (((bits[(bit0 + j) / 8] >> ((bit0 + j) % 8)) & 1) == here))
			j++;
		/* byte range of sectors [first+i, first+j) clipped to the request */
		uint64_t s = (uint64_t)(first + i) * v->lss, t = (uint64_t)(first + j) * v->lss;
		if (s < within)
			s = within;
		if (t > within + n)
			t = within + n;
		uint8_t *dst = buf + (s - within);
		if (here)
			r = vhdx_pread(v, dst, t - s, BAT_OFFSET(e) + s);
		else
			r = read_parent(v, dst, t - s, voff + (s - within));
		i = j;
	}
	free(bits);
	return r < 0 ? r : 0;
}

int vhdx_read(struct vhdx *v, void *buf, size_t len, uint64_t off)
{
	uint8_t *b = buf;
	int r = 0;

	if (off > v->virtual_size || len > v->virtual_size - off)
		return vhdx_fail(v, -EINVAL, "read beyond the end of the disk");
	while (len && r == 0) {
		uint64_t block = off / v->block_size;
		uint32_t within = (uint32_t)(off % v->block_size);
		size_t n = v->block_size - within < len ? v->block_size - within : len;
		uint64_t e = v->bat[vhdx_bat_index(v, block)];

		switch (BAT_STATE(e)) {
		case PAYLOAD_FULLY_PRESENT:
			r = vhdx_pread(v, b, n, BAT_OFFSET(e) + within);
			break;
		case PAYLOAD_PARTIALLY_PRESENT:
			r = read_partial(v, block, e, b, within, n, off);
			break;
		case PAYLOAD_NOT_PRESENT:
			r = read_parent(v, b, n, off);
			break;
		default:
			memset(b, 0, n);
		}
		b += n;
		off += n;
		len -= n;
	}
	return r;
}

static int allocate_len(struct vhdx *v, uint64_t len, uint64_t *where)
{
	off_t end = lseek(v->fd, 0, SEEK_END);

	if (end < 0)
		return -errno;
	uint64_t at = ((uint64_t)end + VHDX_MIB - 1) & ~(VHDX_MIB - 1);
	if (at < v->alloc_end)
		at = v->alloc_end;
	if (at + len > (1ull << 50))
		return -EFBIG;
	v->alloc_end = at + len;
	*where = at;
	return 0;
}

static int allocate(struct vhdx *v, uint64_t *where)
{
	return allocate_len(v, v->block_size, where);
}

/* LEN bytes at the end of the file that read as zeros (the file is extended over them). */
static int allocate_sparse(struct vhdx *v, uint64_t len, uint64_t *where)
{
	int r = allocate_len(v, len, where);

	if (r == 0 && ftruncate(v->fd, (off_t)(*where + len)) < 0)
		r = -errno;
	if (r == 0 && *where + len > v->file_size)
		v->file_size = *where + len;
	return r;
}

/* Does BLOCK (not present in this file) read as zeros everywhere? */
static bool reads_as_zeros(struct vhdx *v, uint64_t block, uint64_t e)
{
	uint64_t start = block * v->block_size, end = start + v->block_size;
	struct vhdx_extent x;

	if (BAT_STATE(e) == PAYLOAD_PARTIALLY_PRESENT)
		return false;
	if (BAT_STATE(e) != PAYLOAD_NOT_PRESENT || !v->has_parent)
		return true;
	if (!v->parent)
		return false;
	if (end > v->parent->virtual_size)
		end = v->parent->virtual_size;
	for (uint64_t off = start; off < end; off += x.length)
		if (vhdx_map(v->parent, off, end - off, &x) < 0 || x.kind != VHDX_EXTENT_ZERO)
			return false;
	return true;
}

/*
 * Write N bytes at WITHIN of a block that is not (fully) in this file: materialise it.  A
 * block whose old content is all zeros is allocated sparse (the file is extended, which
 * reads as zeros) and only the new bytes are written.
 */
static int write_new_block(struct vhdx *v, uint64_t block, const uint8_t *src, uint32_t within,
			   size_t n)
{
	uint64_t idx = vhdx_bat_index(v, block), e = v->bat[idx], at = 0;
	uint64_t start = block * v->block_size;
	const uint8_t *data = src;
	int r;

	if (reads_as_zeros(v, block, e)) {
		r = allocate_sparse(v, v->block_size, &at);
		if (r == 0 && n)
			r = vhdx_pwrite(v, src, n, at + within);
		return r < 0 ? r : vhdx_bat_set(v, idx, at | PAYLOAD_FULLY_PRESENT);
	}
	if (n != v->block_size) {
		uint64_t vis = v->virtual_size - start < v->block_size ? v->virtual_size - start
									 : v->block_size;
		memset(v->scratch, 0, v->block_size);
		r = vhdx_read(v, v->scratch, (size_t)vis, start);
		if (r < 0)
			return r;
		if (n)
			memcpy(v->scratch + within, src, n);
		data = v->scratch;
	}
	if (BAT_STATE(e) == PAYLOAD_PARTIALLY_PRESENT) {
		at = BAT_OFFSET(e); /* the unflushed state may be torn; the bitmap still rules */
	} else {
		r = allocate(v, &at);
		if (r < 0)
			return r;
	}
	r = vhdx_pwrite(v, data, v->block_size, at);
	if (r < 0)
		return r;
	return vhdx_bat_set(v, idx, at | PAYLOAD_FULLY_PRESENT);
}

/* Set the sector-bitmap bits of sectors [first, last] of BLOCK (committed with the BAT). */
static int bitmap_set(struct vhdx *v, uint64_t block, uint32_t first, uint32_t last)
{
	uint64_t se = v->bat[vhdx_sb_index(v, block / v->chunk_ratio)];
	uint64_t pos = (block % v->chunk_ratio) * v->sectors_per_block + first;
	uint32_t count = last - first + 1;
	size_t nbytes = (size_t)((pos % 8 + count + 7) / 8);
	uint8_t *bits = malloc(nbytes);
	int r;

	if (!bits)
		return -ENOMEM;
	r = vhdx_pread(v, bits, nbytes, BAT_OFFSET(se) + pos / 8);
	for (uint32_t i = 0; i < count && r == 0; i++) {
		uint64_t p = pos % 8 + i;
		bits[p / 8] |= (uint8_t)(1u << (p % 8));
	}
	if (r == 0)
		r = vhdx_pending_patch(v, BAT_OFFSET(se) + pos / 8, bits, nbytes);
	free(bits);
	return r;
}

/* Is sector S of a partially present BLOCK in this file? */
static int sector_here(struct vhdx *v, uint64_t block, uint32_t s)
{
	uint8_t bits[2];
	int bit0 = vhdx_bitmap_read(v, block, s, 1, bits);

	return bit0 < 0 ? bit0 : (bits[0] >> bit0) & 1;
}

/*
 * A write to a differencing disk's block that is not fully present: the block is (or
 * becomes) partially present and the sectors written are marked in the sector bitmap, as
 * Hyper-V does (2.5.1.1) and as readers that ignore FULLY_PRESENT in children expect.  Edge
 * sectors only partly written get the rest of their bytes from the parent first.
 */
static int write_partial(struct vhdx *v, uint64_t block, const uint8_t *src, uint32_t within,
			 size_t n)
{
	uint64_t idx = vhdx_bat_index(v, block), sidx = vhdx_sb_index(v, block / v->chunk_ratio);
	uint64_t start = block * v->block_size, at;
	uint32_t first = within / v->lss, last = (uint32_t)((within + n - 1) / v->lss);
	int r = 0;

	if (BAT_STATE(v->bat[sidx]) != SB_PRESENT) {
		r = allocate_sparse(v, VHDX_SB_BLOCK_SIZE, &at);
		if (r == 0)
			r = vhdx_bat_set(v, sidx, at | SB_PRESENT);
	}
	if (r == 0 && BAT_STATE(v->bat[idx]) != PAYLOAD_PARTIALLY_PRESENT) {
		r = allocate_sparse(v, v->block_size, &at);
		if (r == 0)
			r = vhdx_bat_set(v, idx, at | PAYLOAD_PARTIALLY_PRESENT);
	}
	uint32_t edges[2] = { first, last };
	for (int i = 0; i < 2 && r == 0; i++) {
		uint32_t s = edges[i];
		uint64_t so = (uint64_t)s * v->lss;
		if ((i == 1 && last == first) || (so >= within && so + v->lss <= within + n))
			continue;
		r = sector_here(v, block, s);
		if (r == 0) {
			r = read_parent(v, v->scratch, v->lss, start + so);
			if (r == 0)
				r = vhdx_pwrite(v, v->scratch, v->lss, BAT_OFFSET(v->bat[idx]) + so);
		} else if (r > 0) {
			r = 0;
		}
	}
	if (r == 0)
		r = vhdx_pwrite(v, src, n, BAT_OFFSET(v->bat[idx]) + within);
	if (r == 0)
		r = bitmap_set(v, block, first, last);
	return r;
}

int vhdx_write(struct vhdx *v, const void *buf, size_t len, uint64_t off)
{
	const uint8_t *b = buf;
	int r;

	if (!(v->flags & VHDX_OPEN_RDWR))
		return vhdx_fail(v, -EBADF, "image is open read-only");
	if (off > v->virtual_size || len > v->virtual_size - off)
		return vhdx_fail(v, -EINVAL, "write beyond the end of the disk");
	vhdx_pages_map(v);
	r = vhdx_session_begin(v, true);
	while (len && r == 0) {
		uint64_t block = off / v->block_size;
		uint32_t within = (uint32_t)(off % v->block_size);
		size_t n = v->block_size - within < len ? v->block_size - within : len;
		uint64_t e = v->bat[vhdx_bat_index(v, block)];

		if (BAT_STATE(e) == PAYLOAD_FULLY_PRESENT)
			r = vhdx_pwrite(v, b, n, BAT_OFFSET(e) + within);
		else if (v->has_parent && (BAT_STATE(e) == PAYLOAD_NOT_PRESENT ||
					   BAT_STATE(e) == PAYLOAD_PARTIALLY_PRESENT))
			r = write_partial(v, block, b, within, n);
		else
			r = write_new_block(v, block, b, within, n);
		if (r == 0 && v->ndirty + v->npending >= MAX_DIRTY)
			r = vhdx_flush(v);
		b += n;
		off += n;
		len -= n;
	}
	return r;
}

int vhdx_write_map(struct vhdx *v, uint64_t off, uint64_t len, uint64_t *file_off,
		   uint64_t *n)
{
	uint64_t block = off / v->block_size, idx = vhdx_bat_index(v, block);
	uint32_t within = (uint32_t)(off % v->block_size);
	int r;

	if (!(v->flags & VHDX_OPEN_RDWR))
		return vhdx_fail(v, -EBADF, "image is open read-only");
	if (!len || off > v->virtual_size || len > v->virtual_size - off)
		return vhdx_fail(v, -EINVAL, "range beyond the end of the disk");
	r = vhdx_session_begin(v, true);
	if (r == 0 && BAT_STATE(v->bat[idx]) != PAYLOAD_FULLY_PRESENT)
		r = write_new_block(v, block, NULL, 0, 0); /* keeps the content it reads as */
	if (r == 0 && v->ndirty + v->npending >= MAX_DIRTY)
		r = vhdx_flush(v);
	if (r < 0)
		return r;
	*file_off = BAT_OFFSET(v->bat[idx]) + within;
	*n = v->block_size - within < len ? v->block_size - within : len;
	return 0;
}

int vhdx_flush(struct vhdx *v)
{
	int r;

	if (!(v->flags & VHDX_OPEN_RDWR))
		return 0;
	r = vhdx_sync(v);
	if (r == 0)
		r = vhdx_bat_commit(v);
	return r;
}

int vhdx_discard(struct vhdx *v, uint64_t off, uint64_t len)
{
	int r;

	if (!(v->flags & VHDX_OPEN_RDWR))
		return vhdx_fail(v, -EBADF, "image is open read-only");
	if (off > v->virtual_size || len > v->virtual_size - off)
		return -EINVAL;
	r = vhdx_session_begin(v, true);
	while (len && r == 0) {
		uint64_t block = off / v->block_size, idx = vhdx_bat_index(v, block);
		uint32_t within = (uint32_t)(off % v->block_size);
		size_t n = v->block_size - within < len ? v->block_size - within : (size_t)len;
		uint64_t e = v->bat[idx];
		bool whole = n == v->block_size ||
			     (within == 0 && off + n == v->virtual_size);

		if (whole && !v->leave_allocated) {
			/* 2.5.1.1: ZERO reads as zeros and hides the parent */
			if (BAT_STATE(e) != PAYLOAD_ZERO)
				r = vhdx_bat_set(v, idx, PAYLOAD_ZERO);
			if (r == 0 && BAT_STATE(e) == PAYLOAD_FULLY_PRESENT) {
				fallocate(v->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
					  (off_t)BAT_OFFSET(e), v->block_size);
				vhdx_pages_forget(v);
			}
		} else if (BAT_STATE(e) != PAYLOAD_ZERO &&
			   (BAT_STATE(e) != PAYLOAD_NOT_PRESENT || v->has_parent)) {
			memset(v->scratch, 0, n);
			r = vhdx_write(v, v->scratch, n, off);
		}
		off += n;
		len -= n;
	}
	return r;
}

static int map_partial(struct vhdx *v, uint64_t block, uint64_t e, uint64_t off, uint64_t len,
		       struct vhdx_extent *out)
{
	uint32_t within = (uint32_t)(off % v->block_size);
	uint32_t first = within / v->lss, count = (uint32_t)((within + len - 1) / v->lss) - first + 1;
	uint8_t *bits = malloc(count / 8 + 2);
	int bit0, here;
	uint32_t j = 1;

	if (!bits)
		return -ENOMEM;
	bit0 = vhdx_bitmap_read(v, block, first, count, bits);
	if (bit0 < 0) {
		free(bits);
		return bit0;
	}
	here = bits[0] >> bit0 & 1;
	while (j < count && ((bits[(bit0 + j) / 8] >> ((bit0 + j) % 8)) & 1) == here)
		j++;
	free(bits);
	uint64_t end = (uint64_t)(first + j) * v->lss - within + off;
	if (end > off + len)
		end = off + len;
	if (!here) {
		int r = vhdx_map(v->parent, off, end - off, out);
		out->depth++;
		return r;
	}
	out->offset = off;
	out->length = end - off;
	out->kind = VHDX_EXTENT_DATA;
	out->depth = 0;
	out->file_offset = BAT_OFFSET(e) + within;
	return 0;
}

int vhdx_map(struct vhdx *v, uint64_t off, uint64_t len, struct vhdx_extent *out)
{
	uint64_t block = off / v->block_size;
	uint32_t within = (uint32_t)(off % v->block_size);
	uint64_t e;

	if (off >= v->virtual_size || !len)
		return -EINVAL;
	if (len > v->virtual_size - off)
		len = v->virtual_size - off;
	if (len > v->block_size - within)
		len = v->block_size - within;
	e = v->bat[vhdx_bat_index(v, block)];
	out->offset = off;
	out->length = len;
	out->kind = VHDX_EXTENT_ZERO;
	out->depth = 0;
	out->file_offset = UINT64_MAX;
	switch (BAT_STATE(e)) {
	case PAYLOAD_FULLY_PRESENT:
		out->kind = VHDX_EXTENT_DATA;
		out->file_offset = BAT_OFFSET(e) + within;
		return 0;
	case PAYLOAD_PARTIALLY_PRESENT:
		if (!v->parent)
			return -ENOENT;
		return map_partial(v, block, e, off, len, out);
	case PAYLOAD_NOT_PRESENT:
		if (v->parent && off < v->parent->virtual_size) {
			int r = vhdx_map(v->parent, off, len, out);
			out->depth++;
			return r;
		}
		if (v->has_parent && !v->parent)
			return -ENOENT;
		return 0;
	default:
		return 0;
	}
}

