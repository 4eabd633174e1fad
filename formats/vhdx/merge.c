/*
 * Merging a differencing child into its parent (MS-VHDX 2.6.2.6, footnote <12>): the new
 * DataWriteGuid of the parent is first stored in the child's parent_linkage2, so that a crash
 * in the middle leaves a chain that still opens and reads as before (the parent then holds
 * some of the child's sectors, which the child hides anyway); running the merge again
 * finishes it.  The child is deleted at the end, as Merge-VHD does.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "formats/vhdx/vhdx-internal.h"

/* Point the child's parent_linkage2 at G, in place, through the log. */
static int set_linkage2(struct vhdx *c, const struct vhdx_guid *g)
{
	uint8_t u16[128];
	char text[39];
	long n;

	vhdx_guid_format(g, text);
	n = vhdx_utf8_to_utf16(text, u16, sizeof(u16));
	for (size_t i = 0; i < c->nlocator; i++) {
		struct vhdx_kv *kv = &c->locator[i];
		if (strcmp(kv->key, "parent_linkage2") != 0 || kv->vlen != (uint32_t)n)
			continue;
		uint64_t at = c->meta_region->offset + c->item_off[ITEM_LOCATOR] + kv->voff;
		int r = vhdx_session_begin(c, false);
		if (r == 0)
			r = vhdx_pending_patch(c, at, u16, (size_t)n);
		return r < 0 ? r : vhdx_flush(c);
	}
	return -ENOENT; /* no slot for it: the merge is not crash-safe */
}

/* Copy the sectors of BLOCK the child holds into P. */
static int merge_block(struct vhdx *c, struct vhdx *p, uint64_t b, uint8_t *buf)
{
	uint64_t e = c->bat[vhdx_bat_index(c, b)], start = b * c->block_size;
	uint64_t vis = c->virtual_size - start < c->block_size ? c->virtual_size - start
								 : c->block_size;
	int r = 0;

	switch (BAT_STATE(e)) {
	case PAYLOAD_NOT_PRESENT:
		return 0;
	case PAYLOAD_FULLY_PRESENT:
		r = vhdx_pread(c, buf, (size_t)vis, BAT_OFFSET(e));
		return r < 0 ? r : vhdx_write(p, buf, (size_t)vis, start);
	case PAYLOAD_PARTIALLY_PRESENT:
		break;
	default:
		/* the child reads zeros here, whatever the parent holds */
		return vhdx_discard(p, start, vis);
	}
	uint32_t count = (uint32_t)(vis / c->lss);
	uint8_t *bits = malloc(count / 8 + 2);
	int bit0;

	if (!bits)
		return -ENOMEM;
	bit0 = r = vhdx_bitmap_read(c, b, 0, count, bits);
	for (uint32_t i = 0; i < count && r >= 0;) {
		uint32_t j = i;
		while (j < count && (bits[(bit0 + j) / 8] >> ((bit0 + j) % 8) & 1))
			j++;
		if (j > i) {
			size_t off = (size_t)i * c->lss, len = (size_t)(j - i) * c->lss;
			r = vhdx_pread(c, buf, len, BAT_OFFSET(e) + off);
			if (r == 0)
				r = vhdx_write(p, buf, len, start + off);
		}
		i = j + 1;
	}
	free(bits);
	return r < 0 ? r : 0;
}

/* replace: the merged parent takes the child's DataWriteGuid and then its place (rename),
 * so the child's own children, which name it by path and that GUID, open it unchanged. */
static int merge(const char *child_path, bool replace)
{
	struct vhdx *c = NULL, *p = NULL;
	struct vhdx_guid g;
	uint8_t *buf = NULL;
	char *parent_path = NULL;
	int r;

	r = vhdx_open(child_path, VHDX_OPEN_RDWR, &c);
	if (r < 0)
		return r;
	if (!c->parent) {
		r = -EINVAL;
		goto out;
	}
	if (replace) {
		g = c->hdr.data_write;
		parent_path = strdup(c->parent_path);
		r = parent_path ? 0 : -ENOMEM;
	} else {
		r = vhdx_guid_generate(&g);
	}
	if (r == 0)
		r = set_linkage2(c, &g);
	if (r < 0 && r != -ENOENT)
		goto out;
	r = vhdx_open(c->parent_path, VHDX_OPEN_RDWR, &p);
	if (r < 0)
		goto out;
	/* the parent's new identity is the one the child already accepts */
	r = vhdx_session_begin(p, false);
	if (r == 0) {
		p->hdr.data_write = g;
		p->data_changed = true;
		r = vhdx_header_update(p);
	}
	if (r == 0 && c->virtual_size > p->virtual_size)
		r = vhdx_resize(p, c->virtual_size);
	buf = malloc(c->block_size);
	if (!buf && r == 0)
		r = -ENOMEM;
	for (uint64_t b = 0; b < c->nblocks && r == 0; b++)
		r = merge_block(c, p, b, buf);
	if (r == 0) {
		r = vhdx_close(p);
		p = NULL;
	}
	if (r == 0) {
		r = vhdx_close(c);
		c = NULL;
		if (r == 0 && (replace ? rename(parent_path, child_path) : unlink(child_path)) < 0)
			r = -errno;
	}
out:
	free(parent_path);
	free(buf);
	vhdx_free(p);
	vhdx_free(c);
	return r;
}

int vhdx_merge_into_parent(const char *child_path)
{
	return merge(child_path, false);
}

int vhdx_merge_into_parent_replace(const char *child_path)
{
	return merge(child_path, true);
}
