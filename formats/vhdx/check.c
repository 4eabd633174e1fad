/*
 * Consistency check and repair.  vhdx_open() already refuses what cannot be read at all; this
 * looks at what it tolerates: blocks that overlap each other or the metadata structures,
 * blocks past the end of the file, fixed disks with missing blocks, partially present blocks
 * without a sector bitmap, and file space after the last structure in use (a leak).
 */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "formats/vhdx/vhdx-internal.h"

struct span {
	uint64_t start, len;
	uint64_t index; /* BAT index, or UINT64_MAX for a fixed structure */
};

struct ctx {
	struct vhdx *v;
	int repair;
	vhdx_report_fn report;
	void *opaque;
	struct vhdx_check_result *res;
	uint64_t used_end;
	bool tail_leak;
};

static void problem(struct ctx *c, bool fixed, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void problem(struct ctx *c, bool fixed, const char *fmt, ...)
{
	char msg[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	c->res->errors++;
	if (fixed) {
		c->res->fixed++;
		strncat(msg, " (repaired)", sizeof(msg) - strlen(msg) - 1);
	}
	if (c->report)
		c->report(c->opaque, msg);
}

static int cmp_span(const void *a, const void *b)
{
	const struct span *x = a, *y = b;

	return x->start < y->start ? -1 : x->start > y->start;
}

/* Drop the entry at INDEX (repair): payload reads as zeros, a bitmap becomes absent. */
static int drop(struct ctx *c, uint64_t index)
{
	struct vhdx *v = c->v;
	bool sb = index % (v->chunk_ratio + 1) == v->chunk_ratio;
	uint64_t e = sb ? SB_NOT_PRESENT : (v->leave_allocated || v->has_parent) ? PAYLOAD_ZERO
						: PAYLOAD_NOT_PRESENT;
	int r = vhdx_session_begin(v, true);

	return r < 0 ? r : vhdx_bat_set(v, index, e);
}

static int collect(struct ctx *c, struct span **out, size_t *n)
{
	struct vhdx *v = c->v;
	struct span *s = calloc(v->bat_entries + 4 + v->nregions, sizeof(*s));
	size_t k = 0;

	if (!s)
		return -ENOMEM;
	s[k++] = (struct span){ 0, VHDX_MIB, UINT64_MAX };
	if (v->hdr.log_length)
		s[k++] = (struct span){ v->hdr.log_offset, v->hdr.log_length, UINT64_MAX };
	for (uint32_t i = 0; i < v->nregions; i++)
		s[k++] = (struct span){ v->regions[i].offset, v->regions[i].length, UINT64_MAX };
	for (uint64_t i = 0; i < v->bat_entries; i++) {
		uint64_t e = v->bat[i];
		bool sb = i % (v->chunk_ratio + 1) == v->chunk_ratio;
		unsigned st = BAT_STATE(e);
		if (sb ? st != SB_PRESENT
		       : st != PAYLOAD_FULLY_PRESENT && st != PAYLOAD_PARTIALLY_PRESENT)
			continue;
		s[k++] = (struct span){ BAT_OFFSET(e), sb ? VHDX_SB_BLOCK_SIZE : v->block_size, i };
	}
	qsort(s, k, sizeof(*s), cmp_span);
	*out = s;
	*n = k;
	return 0;
}

static int check_spans(struct ctx *c, uint64_t real_size)
{
	struct vhdx *v = c->v;
	struct span *s = NULL;
	size_t n = 0;
	uint64_t end = 0, used_end = 0;
	int r = collect(c, &s, &n);

	for (size_t i = 0; r == 0 && i < n; i++) {
		bool bad = false;
		if (s[i].index != UINT64_MAX && s[i].start < end) {
			problem(c, c->repair, "BAT entry %llu at offset %llu overlaps other data",
				(unsigned long long)s[i].index, (unsigned long long)s[i].start);
			bad = true;
		} else if (s[i].index != UINT64_MAX && s[i].start + s[i].len > real_size) {
			/* the payload of a partial last block may legitimately stop short */
			uint64_t b = s[i].index - s[i].index / (v->chunk_ratio + 1);
			uint64_t need = b + 1 == v->nblocks && v->virtual_size % v->block_size
						? v->virtual_size % v->block_size : s[i].len;
			if (s[i].start + need > real_size) {
				problem(c, c->repair, "BAT entry %llu extends past the end of the file",
					(unsigned long long)s[i].index);
				bad = true;
			}
		} else if (s[i].index == UINT64_MAX && s[i].start < end) {
			problem(c, false, "metadata structures overlap at offset %llu",
				(unsigned long long)s[i].start);
		}
		if (bad) {
			if (c->repair)
				r = drop(c, s[i].index);
			continue;
		}
		/* gaps between structures are legal (QEMU leaves one before its first block) */
		if (s[i].start + s[i].len > end)
			end = s[i].start + s[i].len;
		used_end = end;
	}
	free(s);
	if (r == 0 && (real_size + VHDX_MIB - 1) / VHDX_MIB > (used_end + VHDX_MIB - 1) / VHDX_MIB) {
		c->res->leaks++;
		c->tail_leak = true;
	}
	c->used_end = used_end;
	return r;
}

static int check_blocks(struct ctx *c)
{
	struct vhdx *v = c->v;
	int r = 0;

	for (uint64_t b = 0; b < v->nblocks && r == 0; b++) {
		uint64_t idx = vhdx_bat_index(v, b), e = v->bat[idx];
		unsigned st = BAT_STATE(e);
		if (st == PAYLOAD_FULLY_PRESENT || st == PAYLOAD_PARTIALLY_PRESENT)
			c->res->allocated++;
		if (v->leave_allocated && !v->has_parent && st != PAYLOAD_FULLY_PRESENT)
			problem(c, false, "fixed disk: block %llu is not present (state %u)",
				(unsigned long long)b, st);
		if (st == PAYLOAD_PARTIALLY_PRESENT &&
		    BAT_STATE(v->bat[vhdx_sb_index(v, b / v->chunk_ratio)]) != SB_PRESENT) {
			problem(c, c->repair, "block %llu is partially present without a sector bitmap",
				(unsigned long long)b);
			if (c->repair)
				r = drop(c, idx);
		}
	}
	return r;
}

int vhdx_check(struct vhdx *v, int repair, vhdx_report_fn report, void *opaque,
	       struct vhdx_check_result *out)
{
	struct ctx c = { .v = v, .repair = repair && (v->flags & VHDX_OPEN_RDWR), .report = report,
			 .opaque = opaque, .res = out };
	off_t real = lseek(v->fd, 0, SEEK_END);
	int r;

	memset(out, 0, sizeof(*out));
	if (real < 0)
		return -errno;
	/* normal after a crash, not a corruption: any read-write open writes them home */
	if (v->log_replayed && !(v->flags & VHDX_OPEN_RDWR) && report)
		report(opaque, "note: the log holds changes not yet written home (replayed in "
			       "memory; a read-write open or check -r writes them)");
	r = check_blocks(&c);
	if (r == 0)
		r = check_spans(&c, (uint64_t)real);
	if (r == 0 && c.repair)
		r = vhdx_flush(v);
	/* only once no BAT entry on disk points there */
	if (r == 0 && c.repair && c.tail_leak) {
		vhdx_pages_forget(v);
		if (ftruncate(v->fd, (off_t)c.used_end) < 0)
			return -errno;
		v->alloc_end = (c.used_end + VHDX_MIB - 1) & ~(VHDX_MIB - 1);
		v->file_size = c.used_end;
		out->fixed++;
	}
	return r;
}
