/*
 * The two headers (MS-VHDX 2.2.2): the valid one with the larger sequence number is current.
 * Disk2VHD writes both byte-identical with the same sequence number; like QEMU we accept equal
 * numbers only when the headers are identical.
 */
#include "config.h"

#include "formats/vhdx/vhdx-internal.h"

static const uint64_t slot_off[2] = { VHDX_HEADER1_OFF, VHDX_HEADER2_OFF };

static void decode(const uint8_t *b, struct vhdx_header *h)
{
	h->seq = le64(b + 8);
	memcpy(h->file_write.b, b + 16, 16);
	memcpy(h->data_write.b, b + 32, 16);
	memcpy(h->log_guid.b, b + 48, 16);
	h->log_version = le16(b + 64);
	h->version = le16(b + 66);
	h->log_length = le32(b + 68);
	h->log_offset = le64(b + 72);
}

void vhdx_header_encode(const struct vhdx_header *h, uint8_t b[VHDX_HEADER_SIZE])
{
	memset(b, 0, VHDX_HEADER_SIZE);
	put32(b, SIG_HEAD);
	put64(b + 8, h->seq);
	memcpy(b + 16, h->file_write.b, 16);
	memcpy(b + 32, h->data_write.b, 16);
	memcpy(b + 48, h->log_guid.b, 16);
	put16(b + 64, h->log_version);
	put16(b + 66, h->version);
	put32(b + 68, h->log_length);
	put64(b + 72, h->log_offset);
	put32(b + 4, vhdx_crc32c(0, b, VHDX_HEADER_SIZE));
}

static bool valid(const uint8_t *b)
{
	return le32(b) == SIG_HEAD && le32(b + 4) == vhdx_crc32c_zeroed(b, VHDX_HEADER_SIZE, 4);
}

static int check_fields(struct vhdx *v, const struct vhdx_header *h)
{
	if (h->version != 1)
		return vhdx_fail(v, -ENOTSUP, "header version %u is not 1", h->version);
	if (h->log_version != 0 && !vhdx_guid_is_zero(&h->log_guid))
		return vhdx_fail(v, -ENOTSUP, "log version %u is not 0", h->log_version);
	if (h->log_length % VHDX_MIB || h->log_offset % VHDX_MIB)
		return vhdx_fail(v, -EBADMSG, "log offset/length not multiples of 1 MiB");
	if (h->log_length && h->log_offset < VHDX_MIB)
		return vhdx_fail(v, -EBADMSG, "log inside the header section");
	if (h->log_offset > v->file_size || h->log_length > v->file_size - h->log_offset)
		return vhdx_fail(v, -EBADMSG, "log (offset %llu, length %u) beyond the end of the file",
				 (unsigned long long)h->log_offset, h->log_length);
	return 0;
}

int vhdx_header_read(struct vhdx *v)
{
	uint8_t b[2][VHDX_HEADER_SIZE];
	struct vhdx_header h[2];
	bool ok[2];
	int r, cur;

	for (int i = 0; i < 2; i++) {
		r = vhdx_pread(v, b[i], VHDX_HEADER_SIZE, slot_off[i]);
		if (r < 0)
			return r;
		ok[i] = valid(b[i]);
		if (ok[i])
			decode(b[i], &h[i]);
	}
	if (!ok[0] && !ok[1])
		return vhdx_fail(v, -EBADMSG, "neither header is valid (bad signature or checksum)");
	if (ok[0] && ok[1]) {
		if (h[0].seq == h[1].seq && memcmp(b[0], b[1], VHDX_HEADER_SIZE) != 0)
			return vhdx_fail(v, -EBADMSG,
					 "both headers have sequence number %llu but differ",
					 (unsigned long long)h[0].seq);
		cur = h[1].seq > h[0].seq;
	} else {
		cur = ok[1];
	}
	r = check_fields(v, &h[cur]);
	if (r < 0)
		return r;
	v->hdr = h[cur];
	v->hdr_slot = (unsigned)cur;
	return 0;
}

/* 2.2.2.1: write seq+1 over the older slot, flush, and again, so that both slots are current. */
int vhdx_header_update(struct vhdx *v)
{
	uint8_t b[VHDX_HEADER_SIZE];
	int r;

	for (int i = 0; i < 2; i++) {
		unsigned slot = v->hdr_slot ^ 1;
		v->hdr.seq++;
		vhdx_header_encode(&v->hdr, b);
		r = vhdx_pwrite(v, b, sizeof(b), slot_off[slot]);
		if (r < 0)
			return r;
		r = vhdx_sync(v);
		if (r < 0)
			return r;
		v->hdr_slot = slot;
	}
	return 0;
}
