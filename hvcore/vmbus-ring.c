/* VMBus ring buffers in guest memory. Each direction is a GPADL range: a header page
 * (write index, read index, interrupt mask, pending-send size, feature bits at 64) and the
 * data pages. A packet is a 16-byte descriptor (type, header and total length in 8-byte
 * units, flags, transaction id), its data padded to 8 bytes, and 8 bytes of "previous write
 * index". The guest owns one index of each ring and can write anything into it: every index
 * and length is checked before use, and a bad one is -EBADMSG, never a host fault. */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "hvcore/vmbus-priv.h"

#define R_WRITE 0
#define R_READ 4
#define R_MASK 8
#define R_PENDING 12
#define R_FEATURES 64
#define FEAT_PENDING_SEND_SZ 1u
#define DESC 16

static uint32_t hdr_load(const struct hv_ring *r, unsigned off)
{
	return __atomic_load_n((const uint32_t *)(r->hdr + off), __ATOMIC_ACQUIRE);
}

static void hdr_store(const struct hv_ring *r, unsigned off, uint32_t v)
{
	__atomic_store_n((uint32_t *)(r->hdr + off), v, __ATOMIC_RELEASE);
}

/* Takes the page list (consumes it, also on error). */
int hv_ring_setup(struct hv_ring *r, uint8_t **pages, uint32_t npages, bool host_writes)
{
	memset(r, 0, sizeof(*r));
	if (npages < 2 || npages > HV_MAX_GPADL_PAGES) {
		free(pages);
		return -EBADMSG;
	}
	r->hdr = pages[0];
	r->pages = pages;
	r->npages = npages;
	r->size = (npages - 1) * HV_PAGE;
	if (host_writes) {
		/* Linux zeroes the pages before the open; a guest that did not gets its ring
		 * checked like any other. The host reads pending_send_sz: say so. */
		hdr_store(r, R_FEATURES, hdr_load(r, R_FEATURES) | FEAT_PENDING_SEND_SZ);
	} else {
		/* The host reads this ring: its interrupt mask is the host's. Nobody polls it
		 * yet (also after a restore from a state saved while a device thread did). */
		hdr_store(r, R_MASK, 0);
	}
	if (hdr_load(r, R_WRITE) >= r->size || hdr_load(r, R_READ) >= r->size ||
	    ((hdr_load(r, R_WRITE) | hdr_load(r, R_READ)) & 7)) {
		hv_ring_free(r);
		return -EBADMSG;
	}
	return 0;
}

void hv_ring_free(struct hv_ring *r)
{
	free(r->pages);
	memset(r, 0, sizeof(*r));
}

static bool indexes(const struct hv_ring *r, uint32_t *w, uint32_t *rd)
{
	*w = *rd = 0;
	if (!r->hdr)
		return false;
	*w = hdr_load(r, R_WRITE);
	*rd = hdr_load(r, R_READ);
	return r->size && *w < r->size && *rd < r->size && !((*w | *rd) & 7);
}

uint32_t hv_ring_used(const struct hv_ring *r)
{
	uint32_t w, rd;

	if (!indexes(r, &w, &rd))
		return 0;
	return w >= rd ? w - rd : r->size - rd + w;
}

uint32_t hv_ring_free_bytes(const struct hv_ring *r)
{
	uint32_t w, rd;

	if (!indexes(r, &w, &rd))
		return 0;
	return w >= rd ? r->size - (w - rd) : rd - w;
}

/* off < size always; pages[1 + off / HV_PAGE] exists because size = (npages - 1) pages. */
static void copy_from(const struct hv_ring *r, uint32_t off, uint8_t *dst, uint32_t len)
{
	while (len) {
		uint32_t in = off % HV_PAGE, n = HV_PAGE - in;

		if (n > len)
			n = len;
		memcpy(dst, r->pages[1 + off / HV_PAGE] + in, n);
		dst += n;
		len -= n;
		off += n;
		if (off == r->size)
			off = 0;
	}
}

static uint32_t copy_to(const struct hv_ring *r, uint32_t off, const uint8_t *src, uint32_t len)
{
	while (len) {
		uint32_t in = off % HV_PAGE, n = HV_PAGE - in;

		if (n > len)
			n = len;
		if (src) {
			memcpy(r->pages[1 + off / HV_PAGE] + in, src, n);
			src += n;
		} else {
			memset(r->pages[1 + off / HV_PAGE] + in, 0, n);
		}
		len -= n;
		off += n;
		if (off == r->size)
			off = 0;
	}
	return off;
}

int hv_ring_read(struct hv_ring *r, uint8_t *buf, uint32_t max)
{
	uint32_t w, rd, avail, plen, off8;
	uint8_t desc[DESC];

	if (!indexes(r, &w, &rd))
		return -EBADMSG;
	avail = w >= rd ? w - rd : r->size - rd + w;
	if (avail == 0)
		return 0;
	if (avail > r->high)
		r->high = avail;
	/* The guest moves its write index only after a whole packet is in. */
	if (avail < DESC + 8)
		return -EBADMSG;
	copy_from(r, rd, desc, DESC);
	off8 = hv_get16(desc + 2);
	plen = (uint32_t)hv_get16(desc + 4) * 8;
	if (off8 * 8 < DESC || off8 * 8 > plen || plen + 8 > avail || plen > max)
		return -EBADMSG;
	copy_from(r, rd, buf, plen);
	/* The guest may rewrite the descriptor while we copy: keep the one we checked. */
	memcpy(buf, desc, DESC);
	hdr_store(r, R_READ, (rd + plen + 8) % r->size);
	return (int)plen;
}

void hv_ring_mask(struct hv_ring *r, bool on)
{
	if (r->hdr)
		hdr_store(r, R_MASK, on);
	/* Unmasking, the caller reads the write index next: not before the guest can see the
	 * mask cleared (the guest writes its index, then reads the mask). */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
}

void hv_ring_want_room(struct hv_ring *r, uint32_t bytes)
{
	if (r->hdr)
		hdr_store(r, R_PENDING, bytes);
}

bool hv_ring_read_done(struct hv_ring *r, uint32_t before_free)
{
	uint32_t pending = hdr_load(r, R_PENDING), now;

	if (!pending)
		return false;
	now = hv_ring_free_bytes(r);
	return now > pending && before_free <= pending;
}

int hv_ring_write(struct hv_ring *r, uint16_t type, uint16_t flags, uint64_t trans_id,
		  const void *data, uint32_t len, bool *signal, bool *masked)
{
	uint32_t w, rd, avail, plen, total, off;
	uint8_t desc[DESC], tail[8];

	*signal = *masked = false;
	if (!indexes(r, &w, &rd))
		return -EBADMSG;
	if (len > HV_MAX_PACKET)
		return -E2BIG;
	plen = DESC + ((len + 7) & ~7u);
	total = plen + 8;
	avail = w >= rd ? r->size - (w - rd) : rd - w;
	if (total >= avail) /* one gap keeps a full ring from looking empty */
		return -EAGAIN;
	hv_put16(desc, type);
	hv_put16(desc + 2, DESC / 8);
	hv_put16(desc + 4, (uint16_t)(plen / 8));
	hv_put16(desc + 6, flags);
	hv_put64(desc + 8, trans_id);
	off = copy_to(r, w, desc, DESC);
	off = copy_to(r, off, data, len);
	off = copy_to(r, off, NULL, plen - DESC - len);
	hv_put64(tail, (uint64_t)w << 32);
	off = copy_to(r, off, tail, 8);
	hdr_store(r, R_WRITE, off);
	if (r->size - avail + total > r->high)
		r->high = r->size - avail + total;
	/* Signal only when the guest could have gone to sleep on an empty ring. */
	if (w == hdr_load(r, R_READ)) {
		if (hdr_load(r, R_MASK))
			*masked = true;
		else
			*signal = true;
	}
	return 0;
}
