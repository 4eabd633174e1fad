/*
 * The metadata region (MS-VHDX 2.6): a 64 KiB table of items, then the items.  It has no
 * checksum (the log protects it), so every entry is range-checked before use.
 */
#include "config.h"

#include <stdlib.h>

#include "formats/vhdx/vhdx-internal.h"

#define MAX_ENTRIES 2047u
#define MAX_ITEM VHDX_MIB
#define F_IS_USER 1u
#define F_IS_VIRTUAL_DISK 2u
#define F_IS_REQUIRED 4u

static const struct {
	struct vhdx_guid guid;
	uint32_t min_len;
	uint32_t flags; /* as written at creation (2.6.2) */
} items[NITEMS] = {
	[ITEM_FILE_PARAMS] = { { { 0x37, 0x67, 0xa1, 0xca, 0x36, 0xfa, 0x43, 0x4d, 0xb3, 0xb6,
				   0x33, 0xf0, 0xaa, 0x44, 0xe7, 0x6b } }, 8, F_IS_REQUIRED },
	[ITEM_DISK_SIZE] = { { { 0x24, 0x42, 0xa5, 0x2f, 0x1b, 0xcd, 0x76, 0x48, 0xb2, 0x11, 0x5d,
				 0xbe, 0xd8, 0x3b, 0xf4, 0xb8 } }, 8,
			     F_IS_REQUIRED | F_IS_VIRTUAL_DISK },
	[ITEM_DISK_ID] = { { { 0xab, 0x12, 0xca, 0xbe, 0xe6, 0xb2, 0x23, 0x45, 0x93, 0xef, 0xc3,
			       0x09, 0xe0, 0x00, 0xc7, 0x46 } }, 16,
			   F_IS_REQUIRED | F_IS_VIRTUAL_DISK },
	[ITEM_LSS] = { { { 0x1d, 0xbf, 0x41, 0x81, 0x6f, 0xa9, 0x09, 0x47, 0xba, 0x47, 0xf2, 0x33,
			   0xa8, 0xfa, 0xab, 0x5f } }, 4, F_IS_REQUIRED | F_IS_VIRTUAL_DISK },
	[ITEM_PSS] = { { { 0xc7, 0x48, 0xa3, 0xcd, 0x5d, 0x44, 0x71, 0x44, 0x9c, 0xc9, 0xe9, 0x88,
			   0x52, 0x51, 0xc5, 0x56 } }, 4, F_IS_REQUIRED | F_IS_VIRTUAL_DISK },
	[ITEM_LOCATOR] = { { { 0x2d, 0x5f, 0xd3, 0xa8, 0x0b, 0xb3, 0x4d, 0x45, 0xab, 0xf7, 0xd3,
			       0xd8, 0x48, 0x34, 0xab, 0x0c } }, 20, F_IS_REQUIRED },
};

static const char *const item_name[NITEMS] = {
	"File Parameters", "Virtual Disk Size", "Virtual Disk ID", "Logical Sector Size",
	"Physical Sector Size", "Parent Locator",
};

static int item_index(const struct vhdx_guid *g)
{
	for (int i = 0; i < NITEMS; i++)
		if (vhdx_guid_eq(g, &items[i].guid))
			return i;
	return -1;
}

static int check_values(struct vhdx *v)
{
	uint32_t bs = v->block_size;

	if (bs < VHDX_MIB || bs > 256 * VHDX_MIB || (bs & (bs - 1)))
		return vhdx_fail(v, -EBADMSG, "block size %u is not a power of 2 in 1..256 MiB", bs);
	if (v->lss != 512 && v->lss != 4096)
		return vhdx_fail(v, -EBADMSG, "logical sector size %u is not 512 or 4096", v->lss);
	if (v->pss != 512 && v->pss != 4096)
		return vhdx_fail(v, -EBADMSG, "physical sector size %u is not 512 or 4096", v->pss);
	if (!v->virtual_size || v->virtual_size > VHDX_MAX_SIZE || v->virtual_size % v->lss)
		return vhdx_fail(v, -EBADMSG,
				 "virtual size %llu is 0, over 64 TiB or not a multiple of the sector size",
				 (unsigned long long)v->virtual_size);
	return 0;
}

static int parse_item(struct vhdx *v, int which, const uint8_t *p, uint32_t len)
{
	if (len < items[which].min_len)
		return vhdx_fail(v, -EBADMSG, "metadata item %s is too short (%u bytes)",
				 item_name[which], len);
	switch (which) {
	case ITEM_FILE_PARAMS:
		v->block_size = le32(p);
		v->leave_allocated = le32(p + 4) & 1;
		v->has_parent = (le32(p + 4) >> 1) & 1;
		return 0;
	case ITEM_DISK_SIZE:
		v->virtual_size = le64(p);
		return 0;
	case ITEM_DISK_ID:
		memcpy(v->disk_id.b, p, 16);
		return 0;
	case ITEM_LSS:
		v->lss = le32(p);
		return 0;
	case ITEM_PSS:
		v->pss = le32(p);
		return 0;
	default:
		return vhdx_locator_parse(v, p, len);
	}
}

static int parse_table(struct vhdx *v, const uint8_t *tab, const uint8_t *region, uint32_t rlen)
{
	uint32_t n = le16(tab + 10), seen = 0;
	const uint8_t *loc = NULL;
	uint32_t loc_len = 0;
	int r;

	if (le64(tab) != SIG_META)
		return vhdx_fail(v, -EBADMSG, "metadata table has no \"metadata\" signature");
	if (n > MAX_ENTRIES)
		return vhdx_fail(v, -EBADMSG, "metadata table has %u entries (max 2047)", n);
	for (uint32_t i = 0; i < n; i++) {
		const uint8_t *e = tab + 32 + 32 * i;
		struct vhdx_guid g;
		uint32_t off = le32(e + 16), len = le32(e + 20), fl = le32(e + 24);
		memcpy(g.b, e, 16);
		int which = item_index(&g);
		if (len > MAX_ITEM || (len && (off < VHDX_METATABLE_SIZE || off > rlen ||
					       len > rlen - off)))
			return vhdx_fail(v, -EBADMSG,
					 "metadata item %u (offset %u, length %u) is out of range", i,
					 off, len);
		if (which < 0) {
			if (fl & F_IS_REQUIRED) {
				char s[39];
				vhdx_guid_format(&g, s);
				return vhdx_fail(v, -ENOTSUP, "unknown required metadata item %s", s);
			}
			continue;
		}
		if (seen & (1u << which))
			return vhdx_fail(v, -EBADMSG, "metadata item %s listed twice",
					 item_name[which]);
		seen |= 1u << which;
		v->item_off[which] = off;
		if (which == ITEM_LOCATOR) {
			loc = region + off, loc_len = len;
			continue;
		}
		r = parse_item(v, which, region + off, len);
		if (r < 0)
			return r;
	}
	for (int i = 0; i < ITEM_LOCATOR; i++)
		if (!(seen & (1u << i)))
			return vhdx_fail(v, -EBADMSG, "metadata item %s is missing", item_name[i]);
	if (v->has_parent) {
		if (!loc)
			return vhdx_fail(v, -EBADMSG, "differencing disk without a parent locator");
		r = parse_item(v, ITEM_LOCATOR, loc, loc_len);
		if (r < 0)
			return r;
	}
	return check_values(v);
}

int vhdx_metadata_read(struct vhdx *v)
{
	uint32_t rlen = v->meta_region->length;
	uint8_t *buf;
	int r;

	/* the region lies inside the file (region.c), so its size is bounded by the file's */
	buf = malloc(rlen);
	if (!buf)
		return -ENOMEM;
	r = vhdx_pread(v, buf, rlen, v->meta_region->offset);
	if (r == 0) {
		if (rlen < VHDX_METATABLE_SIZE)
			r = vhdx_fail(v, -EBADMSG, "metadata region too small");
		else
			r = parse_table(v, buf, buf, rlen);
	}
	free(buf);
	return r;
}

static void put_entry(uint8_t *tab, uint32_t i, int which, uint32_t off, uint32_t len)
{
	uint8_t *e = tab + 32 + 32 * i;

	memcpy(e, items[which].guid.b, 16);
	put32(e + 16, off);
	put32(e + 20, len);
	put32(e + 24, items[which].flags);
}

/* Build the metadata region of a new or rewritten image into BUF (LEN bytes, zeroed). */
int vhdx_metadata_encode(const struct vhdx_meta_new *m, uint8_t *buf, size_t len)
{
	uint32_t off = VHDX_METATABLE_SIZE, n = 0;
	uint8_t *p = buf + off;

	if (len < VHDX_MIB)
		return -EINVAL;
	put64(buf, SIG_META);
	put32(p, m->block_size);
	put32(p + 4, (m->leave_allocated ? 1u : 0) | (m->has_parent ? 2u : 0));
	put_entry(buf, n++, ITEM_FILE_PARAMS, off, 8);
	put64(p + 8, m->virtual_size);
	put_entry(buf, n++, ITEM_DISK_SIZE, off + 8, 8);
	memcpy(p + 16, m->disk_id.b, 16);
	put_entry(buf, n++, ITEM_DISK_ID, off + 16, 16);
	put32(p + 32, m->lss);
	put_entry(buf, n++, ITEM_LSS, off + 32, 4);
	put32(p + 36, m->pss);
	put_entry(buf, n++, ITEM_PSS, off + 36, 4);
	if (m->has_parent) {
		long l = vhdx_locator_encode(m->locator, m->nlocator, p + 40,
					     len - VHDX_METATABLE_SIZE - 40);
		if (l < 0)
			return (int)l;
		put_entry(buf, n++, ITEM_LOCATOR, off + 40, (uint32_t)l);
	}
	put16(buf + 10, (uint16_t)n);
	return 0;
}
