/*
 * The Block Allocation Table and sector bitmaps (MS-VHDX 2.4, 2.5).  Payload entries and
 * sector-bitmap entries are interleaved: one SB entry after every chunk_ratio payload
 * entries.  The whole table is held in memory; changes are marked per 4 KiB sector and go to
 * disk through the log (vhdx_bat_commit).
 */
#include "config.h"

#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "formats/vhdx/vhdx-internal.h"

#define ENTRIES_PER_SECTOR 512u

void vhdx_geometry(uint64_t vsize, uint32_t block_size, uint32_t lss, bool diff,
		   uint64_t *nblocks, uint64_t *chunk_ratio, uint64_t *entries)
{
	uint64_t cr = ((uint64_t)1 << 23) * lss / block_size;
	uint64_t nb = (vsize + block_size - 1) / block_size;
	uint64_t sb = (nb + cr - 1) / cr;

	*nblocks = nb;
	*chunk_ratio = cr;
	if (diff)
		*entries = sb * (cr + 1);
	else
		*entries = nb ? nb + (nb - 1) / cr : 0;
}

static int check_payload(struct vhdx *v, uint64_t block, uint64_t e)
{
	unsigned st = BAT_STATE(e);

	switch (st) {
	case PAYLOAD_NOT_PRESENT:
	case PAYLOAD_UNDEFINED:
	case PAYLOAD_ZERO:
	case PAYLOAD_UNMAPPED:
	case PAYLOAD_UNMAPPED_V095:
		return 0;
	case PAYLOAD_PARTIALLY_PRESENT:
		if (!v->has_parent)
			return vhdx_fail(v, -EBADMSG,
					 "BAT: block %llu partially present in a disk without parent",
					 (unsigned long long)block);
		/* fall through */
	case PAYLOAD_FULLY_PRESENT:
		if (BAT_OFFSET(e) < VHDX_MIB || BAT_OFFSET(e) >= v->file_size)
			return vhdx_fail(v, -EBADMSG,
					 "BAT: block %llu at offset %llu outside the file",
					 (unsigned long long)block,
					 (unsigned long long)BAT_OFFSET(e));
		return 0;
	default:
		return vhdx_fail(v, -EBADMSG, "BAT: block %llu has reserved state %u",
				 (unsigned long long)block, st);
	}
}

static int check_sb(struct vhdx *v, uint64_t chunk, uint64_t e)
{
	unsigned st = BAT_STATE(e);

	if (st == SB_NOT_PRESENT)
		return 0;
	if (st != SB_PRESENT || !v->has_parent)
		return vhdx_fail(v, -EBADMSG, "BAT: sector bitmap %llu has invalid state %u",
				 (unsigned long long)chunk, st);
	if (BAT_OFFSET(e) < VHDX_MIB || BAT_OFFSET(e) > v->file_size ||
	    v->file_size - BAT_OFFSET(e) < VHDX_SB_BLOCK_SIZE)
		return vhdx_fail(v, -EBADMSG, "BAT: sector bitmap %llu outside the file",
				 (unsigned long long)chunk);
	return 0;
}

/*
 * A parent opened for sharing (VHDX_OPEN_MAP_BAT) reads its BAT straight from the page cache:
 * every process reading the same parent shares those pages instead of holding a copy. Only
 * where the file's bytes are the table as this host reads it: read-only, no log replayed in
 * memory, little-endian, page-aligned and inside the file. Otherwise (0, nothing mapped) the
 * table is copied as usual.
 */
static int map_bat(struct vhdx *v, uint64_t nsec)
{
	long page = sysconf(_SC_PAGESIZE);
	size_t len = (size_t)nsec * 4096;
	void *m;

	if (!(v->flags & VHDX_OPEN_MAP_BAT) || (v->flags & VHDX_OPEN_RDWR) || v->nov || !nsec ||
	    __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__ || page <= 0 || v->bat_region->offset % (uint64_t)page ||
	    v->bat_region->offset > v->file_size || v->file_size - v->bat_region->offset < len)
		return 0;
	m = mmap(NULL, len, PROT_READ, MAP_SHARED, v->fd, (off_t)v->bat_region->offset);
	if (m == MAP_FAILED)
		return 0;
	v->bat = m;
	v->bat_map_len = len;
	return 0;
}

int vhdx_bat_read(struct vhdx *v)
{
	uint64_t need, nsec;
	int r;

	vhdx_geometry(v->virtual_size, v->block_size, v->lss, v->has_parent, &v->nblocks,
		      &v->chunk_ratio, &v->bat_entries);
	v->sectors_per_block = v->block_size / v->lss;
	need = v->bat_entries * 8;
	if (need > v->bat_region->length)
		return vhdx_fail(v, -EBADMSG, "BAT region (%u bytes) too small for %llu entries",
				 v->bat_region->length, (unsigned long long)v->bat_entries);
	/* whole sectors, so that commits can write them back unchanged */
	nsec = (need + 4095) / 4096;
	v->dirty = calloc((size_t)(nsec + 7) / 8 + 1, 1);
	if (!v->dirty)
		return -ENOMEM;
	r = map_bat(v, nsec);
	if (r < 0)
		return r;
	if (!v->bat_map_len) {
		v->bat = calloc(nsec ? nsec : 1, 4096);
		if (!v->bat)
			return -ENOMEM;
		r = vhdx_pread(v, v->bat, (size_t)nsec * 4096, v->bat_region->offset);
		if (r < 0)
			return r;
		for (uint64_t i = 0; i < nsec * ENTRIES_PER_SECTOR; i++)
			v->bat[i] = le64(&v->bat[i]);
	}
	for (uint64_t i = 0; i < v->bat_entries; i++) {
		uint64_t cr1 = v->chunk_ratio + 1;
		if (i % cr1 == v->chunk_ratio)
			r = check_sb(v, i / cr1, v->bat[i]);
		else
			r = check_payload(v, i - i / cr1, v->bat[i]);
		if (r < 0)
			return r;
	}
	return 0;
}

int vhdx_bat_set(struct vhdx *v, uint64_t index, uint64_t entry)
{
	if (index >= v->bat_entries)
		return -EINVAL;
	v->bat[index] = entry;
	uint64_t sec = index / ENTRIES_PER_SECTOR;
	if (!(v->dirty[sec / 8] & (1u << (sec % 8)))) {
		v->dirty[sec / 8] |= (uint8_t)(1u << (sec % 8));
		v->ndirty++;
	}
	return 0;
}

/* Log, then write in place, every changed BAT sector (2.3: log, flush, write, flush). */
int vhdx_bat_commit(struct vhdx *v)
{
	uint64_t nsec = (v->bat_entries * 8 + 4095) / 4096;
	uint64_t *offs = NULL;
	uint8_t *data = NULL;
	size_t n = 0;
	int r = -ENOMEM;

	if (!v->ndirty && !v->npending)
		return 0;
	offs = calloc(v->ndirty + v->npending, sizeof(*offs));
	data = malloc((v->ndirty + v->npending) * 4096);
	if (!offs || !data)
		goto out;
	/* metadata and region changes first, so one entry carries them with the BAT */
	for (size_t i = 0; i < v->npending; i++) {
		offs[n] = v->pending[i].offset;
		memcpy(data + n * 4096, v->pending[i].data, 4096);
		n++;
	}
	for (uint64_t s = 0; s < nsec && n < v->ndirty + v->npending; s++) {
		if (!(v->dirty[s / 8] & (1u << (s % 8))))
			continue;
		offs[n] = v->bat_region->offset + s * 4096;
		for (unsigned i = 0; i < ENTRIES_PER_SECTOR; i++)
			put64(data + n * 4096 + 8 * i, v->bat[s * ENTRIES_PER_SECTOR + i]);
		n++;
	}
	r = vhdx_log_write(v, offs, data, n);
	if (r < 0)
		goto out;
	memset(v->dirty, 0, (size_t)(nsec + 7) / 8);
	v->ndirty = 0;
	free(v->pending);
	v->pending = NULL;
	v->npending = 0;
out:
	free(offs);
	free(data);
	return r;
}

/*
 * Read the sector-bitmap bits of sectors [first, first + count) of BLOCK into BITS (at least
 * count / 8 + 2 bytes).  Returns the bit position of sector FIRST in BITS[0] (0..7).
 */
int vhdx_bitmap_read(struct vhdx *v, uint64_t block, uint32_t first, uint32_t count,
		     uint8_t *bits)
{
	uint64_t chunk = block / v->chunk_ratio;
	uint64_t e = v->bat[vhdx_sb_index(v, chunk)];
	uint64_t pos = (block % v->chunk_ratio) * v->sectors_per_block + first;
	size_t nbytes = (size_t)((pos % 8 + count + 7) / 8);
	int r;

	if (BAT_STATE(e) != SB_PRESENT)
		return vhdx_fail(v, -EBADMSG,
				 "block %llu is partially present but its sector bitmap is not",
				 (unsigned long long)block);
	r = vhdx_pread(v, bits, nbytes, BAT_OFFSET(e) + pos / 8);
	if (r < 0)
		return r;
	return (int)(pos % 8);
}

static struct vhdx_pending *pending_sector(struct vhdx *v, uint64_t sector_off)
{
	struct vhdx_pending *p;

	for (size_t i = 0; i < v->npending; i++)
		if (v->pending[i].offset == sector_off)
			return &v->pending[i];
	p = realloc(v->pending, (v->npending + 1) * sizeof(*p));
	if (!p)
		return NULL;
	v->pending = p;
	p = &v->pending[v->npending];
	p->offset = sector_off;
	if (vhdx_pread(v, p->data, 4096, sector_off) < 0)
		return NULL;
	v->npending++;
	return p;
}

int vhdx_pending_patch(struct vhdx *v, uint64_t off, const void *data, size_t len)
{
	const uint8_t *d = data;

	while (len) {
		uint64_t sec = off & ~4095ull;
		size_t n = 4096 - (size_t)(off - sec) < len ? 4096 - (size_t)(off - sec) : len;
		struct vhdx_pending *p = pending_sector(v, sec);
		if (!p)
			return -ENOMEM;
		memcpy(p->data + (off - sec), d, n);
		off += n;
		d += n;
		len -= n;
	}
	return 0;
}
