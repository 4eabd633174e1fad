/*
 * The region table (MS-VHDX 2.2.3): where the BAT and the metadata live.  Table 1 is used
 * when valid, else its copy.  Unknown required regions refuse the open; unknown optional
 * ones are kept in v->regions so that rewrites preserve them.
 */
#include "config.h"

#include <stdlib.h>

#include "formats/vhdx/vhdx-internal.h"

#define MAX_ENTRIES 2047u

/* 2DC27766-F623-4200-9D64-115E9BFD4A08 and 8B7CA206-4790-4B9A-B8FE-575F050F886E, on-disk */
const struct vhdx_guid VHDX_GUID_BAT = { { 0x66, 0x77, 0xc2, 0x2d, 0x23, 0xf6, 0x00, 0x42, 0x9d,
					   0x64, 0x11, 0x5e, 0x9b, 0xfd, 0x4a, 0x08 } };
const struct vhdx_guid VHDX_GUID_METADATA = { { 0x06, 0xa2, 0x7c, 0x8b, 0x90, 0x47, 0x9a, 0x4b,
						0xb8, 0xfe, 0x57, 0x5f, 0x05, 0x0f, 0x88, 0x6e } };

static bool table_valid(const uint8_t *b)
{
	return le32(b) == SIG_REGI && le32(b + 4) == vhdx_crc32c_zeroed(b, VHDX_REGION_SIZE, 4) &&
	       le32(b + 8) <= MAX_ENTRIES;
}

static bool overlaps(uint64_t a, uint64_t alen, uint64_t b, uint64_t blen)
{
	return a < b + blen && b < a + alen;
}

static int check_entry(struct vhdx *v, const struct vhdx_region *r, uint32_t i)
{
	char g[39];

	vhdx_guid_format(&r->guid, g);
	if (r->offset % VHDX_MIB || r->offset < VHDX_MIB || r->length % VHDX_MIB || !r->length)
		return vhdx_fail(v, -EBADMSG, "region %s: offset/length not 1 MiB-aligned", g);
	if (r->offset > v->file_size || r->length > v->file_size - r->offset)
		return vhdx_fail(v, -EBADMSG, "region %s lies beyond the end of the file", g);
	if (v->hdr.log_length &&
	    overlaps(r->offset, r->length, v->hdr.log_offset, v->hdr.log_length))
		return vhdx_fail(v, -EBADMSG, "region %s overlaps the log", g);
	for (uint32_t j = 0; j < i; j++) {
		if (overlaps(r->offset, r->length, v->regions[j].offset, v->regions[j].length))
			return vhdx_fail(v, -EBADMSG, "regions overlap");
		if (vhdx_guid_eq(&r->guid, &v->regions[j].guid))
			return vhdx_fail(v, -EBADMSG, "region %s listed twice", g);
	}
	return 0;
}

static int parse(struct vhdx *v, const uint8_t *b)
{
	uint32_t n = le32(b + 8);
	int r;

	v->regions = calloc(n ? n : 1, sizeof(*v->regions));
	if (!v->regions)
		return -ENOMEM;
	for (uint32_t i = 0; i < n; i++) {
		const uint8_t *e = b + 16 + 32 * i;
		struct vhdx_region *rg = &v->regions[i];
		memcpy(rg->guid.b, e, 16);
		rg->offset = le64(e + 16);
		rg->length = le32(e + 24);
		rg->required = le32(e + 28);
		v->nregions = i + 1;
		r = check_entry(v, rg, i);
		if (r < 0)
			return r;
		if (vhdx_guid_eq(&rg->guid, &VHDX_GUID_BAT)) {
			v->bat_region = rg;
		} else if (vhdx_guid_eq(&rg->guid, &VHDX_GUID_METADATA)) {
			v->meta_region = rg;
		} else if (rg->required & 1) {
			char g[39];
			vhdx_guid_format(&rg->guid, g);
			return vhdx_fail(v, -ENOTSUP, "unknown required region %s", g);
		}
	}
	if (!v->bat_region || !v->meta_region)
		return vhdx_fail(v, -EBADMSG, "region table lacks the %s region",
				 v->bat_region ? "metadata" : "BAT");
	return 0;
}

int vhdx_region_read(struct vhdx *v)
{
	uint8_t *b = malloc(VHDX_REGION_SIZE);
	int r = -ENOMEM;

	if (!b)
		return r;
	r = vhdx_pread(v, b, VHDX_REGION_SIZE, VHDX_REGION1_OFF);
	if (r == 0 && !table_valid(b)) {
		r = vhdx_pread(v, b, VHDX_REGION_SIZE, VHDX_REGION2_OFF);
		if (r == 0 && !table_valid(b))
			r = vhdx_fail(v, -EBADMSG,
				      "neither region table is valid (bad signature, checksum or count)");
	}
	if (r == 0)
		r = parse(v, b);
	free(b);
	return r;
}

/* Encode N entries into a 64 KiB table at BUF. */
void vhdx_region_encode(const struct vhdx_region *rg, uint32_t n, uint8_t *b)
{
	memset(b, 0, VHDX_REGION_SIZE);
	put32(b, SIG_REGI);
	put32(b + 8, n);
	for (uint32_t i = 0; i < n; i++) {
		uint8_t *e = b + 16 + 32 * i;
		memcpy(e, rg[i].guid.b, 16);
		put64(e + 16, rg[i].offset);
		put32(e + 24, rg[i].length);
		put32(e + 28, rg[i].required);
	}
	put32(b + 4, vhdx_crc32c(0, b, VHDX_REGION_SIZE));
}
