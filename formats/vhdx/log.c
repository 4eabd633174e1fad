/*
 * The metadata log (MS-VHDX 2.3).
 *
 * Replay: find the active sequence (2.3.3) and apply its descriptors, into the file for a
 * read-write open, into an in-memory overlay for a read-only one (footnote <5>: the data
 * cannot be read without it).  A non-empty LogGuid with no valid sequence is corruption, not
 * an empty log (QEMU opens such files anyway; we refuse).
 *
 * Writing: each commit is one self-contained entry (Tail = its own offset) written after
 * every earlier entry has been applied and flushed, so replaying only the newest valid entry
 * is always correct and a torn entry simply loses an unacknowledged flush.
 */
#include "config.h"

#include <stdlib.h>
#include <unistd.h>

#include "formats/vhdx/vhdx-internal.h"

#define SECTOR 4096u
#define MAX_OVERLAY 65536u

struct entry_info {
	bool valid;
	uint32_t length;
	uint32_t tail;
	uint64_t seq;
};

static uint32_t desc_sectors(uint32_t count)
{
	return (count + 2 + 127) / 128;
}

/* Validate the entry at log offset OFF of the doubled log image BUF (length 2 * L). */
static void check_entry(const struct vhdx *v, const uint8_t *buf, uint32_t L, uint32_t off,
			struct entry_info *ei)
{
	const uint8_t *e = buf + off;
	uint32_t len = le32(e + 8), count = le32(e + 24), ds;
	uint64_t seq = le64(e + 16);
	struct vhdx_guid g;

	memset(ei, 0, sizeof(*ei));
	if (le32(e) != SIG_LOGE || len < SECTOR || len % SECTOR || len > L || !seq)
		return;
	memcpy(g.b, e + 32, 16);
	if (!vhdx_guid_eq(&g, &v->hdr.log_guid))
		return;
	if (count > L / 32)
		return;
	ds = desc_sectors(count);
	if ((uint64_t)ds * SECTOR > len || le32(e + 12) % SECTOR || le32(e + 12) >= L)
		return;
	if (le32(e + 4) != vhdx_crc32c_zeroed(e, len, 4))
		return;
	uint32_t data = ds;
	for (uint32_t i = 0; i < count; i++) {
		const uint8_t *d = e + 64 + 32 * i;
		if (le64(d + 24) != seq)
			return;
		if (le32(d) == SIG_DESC) {
			const uint8_t *s = e + (size_t)data * SECTOR;
			if ((uint64_t)(data + 1) * SECTOR > len || le64(d + 16) % SECTOR)
				return;
			if (le32(s) != SIG_DATA || le32(s + 4) != (uint32_t)(seq >> 32) ||
			    le32(s + 4092) != (uint32_t)seq)
				return;
			data++;
		} else if (le32(d) == SIG_ZERO) {
			if (le64(d + 8) % SECTOR || le64(d + 16) % SECTOR)
				return;
		} else {
			return;
		}
	}
	ei->valid = true;
	ei->length = len;
	ei->tail = le32(e + 12);
	ei->seq = seq;
}

/* 2.3.3: the valid sequence with the highest head sequence number; false if none. */
static bool find_active(const struct entry_info *ei, uint32_t L, uint32_t *tail, uint32_t *head)
{
	uint64_t best = 0;

	for (uint32_t start = 0; start < L; start += SECTOR) {
		const struct entry_info *cur = &ei[start / SECTOR];
		uint32_t pos = start, h = start, walked = 0;
		if (!cur->valid)
			continue;
		for (;;) {
			uint32_t next = (pos + ei[pos / SECTOR].length) % L;
			walked += ei[pos / SECTOR].length;
			if (walked >= L || !ei[next / SECTOR].valid ||
			    ei[next / SECTOR].seq != ei[pos / SECTOR].seq + 1)
				break;
			pos = next;
			h = next;
		}
		/* the head's tail must be one of the entries walked from START */
		const struct entry_info *he = &ei[h / SECTOR];
		bool inside = false;
		for (uint32_t p = start, n = 0;; n += ei[p / SECTOR].length) {
			if (p == he->tail) {
				inside = true;
				break;
			}
			if (p == h || n >= L)
				break;
			p = (p + ei[p / SECTOR].length) % L;
		}
		if (inside && he->seq > best) {
			best = he->seq;
			*tail = he->tail;
			*head = h;
		}
	}
	return best != 0;
}

static int overlay_add(struct vhdx *v, uint64_t off, uint64_t len, const uint8_t *data)
{
	struct vhdx_overlay *n;

	if (v->nov >= MAX_OVERLAY)
		return vhdx_fail(v, -E2BIG, "log: too many replayed sectors to hold in memory");
	n = realloc(v->ov, (v->nov + 1) * sizeof(*n));
	if (!n)
		return -ENOMEM;
	v->ov = n;
	n[v->nov].offset = off;
	n[v->nov].length = len;
	n[v->nov].data = NULL;
	if (data) {
		n[v->nov].data = malloc(len);
		if (!n[v->nov].data)
			return -ENOMEM;
		memcpy(n[v->nov].data, data, len);
	}
	v->nov++;
	return 0;
}

static int apply(struct vhdx *v, uint64_t off, uint64_t len, const uint8_t *data)
{
	if (off > (1ull << 50) || len > (1ull << 40))
		return vhdx_fail(v, -EBADMSG, "log: descriptor targets offset %llu beyond any file",
				 (unsigned long long)off);
	if (off + len > v->file_size)
		v->file_size = off + len;
	if (!(v->flags & VHDX_OPEN_RDWR))
		return overlay_add(v, off, len, data);
	if (data)
		return pwrite(v->fd, data, len, (off_t)off) == (ssize_t)len ? 0 : -EIO;
	static const uint8_t zero[SECTOR];
	for (uint64_t done = 0; done < len; done += SECTOR)
		if (pwrite(v->fd, zero, SECTOR, (off_t)(off + done)) != SECTOR)
			return -EIO;
	return 0;
}

static int replay_entry(struct vhdx *v, const uint8_t *e)
{
	uint32_t count = le32(e + 24), data = desc_sectors(count);
	uint8_t sector[SECTOR];
	int r = 0;

	for (uint32_t i = 0; i < count && r == 0; i++) {
		const uint8_t *d = e + 64 + 32 * i;
		if (le32(d) == SIG_ZERO) {
			r = apply(v, le64(d + 16), le64(d + 8), NULL);
			continue;
		}
		const uint8_t *s = e + (size_t)data++ * SECTOR;
		memcpy(sector, d + 8, 8);                /* LeadingBytes */
		memcpy(sector + 8, s + 8, 4084);
		memcpy(sector + 4092, d + 4, 4);         /* TrailingBytes */
		r = apply(v, le64(d + 16), SECTOR, sector);
	}
	return r;
}

static int replay(struct vhdx *v, const uint8_t *buf, const struct entry_info *ei, uint32_t L,
		  uint32_t tail, uint32_t head, uint64_t real_size)
{
	const uint8_t *he = buf + head;
	uint64_t flushed = le64(he + 48), last = le64(he + 56);
	int r;

	if (real_size < flushed)
		return vhdx_fail(v, -EBADMSG,
				 "file is truncated: %llu bytes, the log says at least %llu",
				 (unsigned long long)real_size, (unsigned long long)flushed);
	for (uint32_t pos = tail, n = 0;; n++) {
		r = replay_entry(v, buf + pos);
		if (r < 0)
			return r;
		if (pos == head || n > L / SECTOR)
			break;
		pos = (pos + ei[pos / SECTOR].length) % L;
	}
	if (last > (1ull << 50))
		return vhdx_fail(v, -EBADMSG, "log: LastFileOffset %llu is absurd",
				 (unsigned long long)last);
	if (last > v->file_size)
		v->file_size = last;
	if (v->flags & VHDX_OPEN_RDWR) {
		if (last > real_size && ftruncate(v->fd, (off_t)last) < 0)
			return -errno;
		r = vhdx_sync(v);
		if (r < 0)
			return r;
		/* 2.3.3: the log is empty once applied */
		memset(&v->hdr.log_guid, 0, sizeof(v->hdr.log_guid));
		r = vhdx_guid_generate(&v->hdr.file_write);
		if (r == 0)
			r = vhdx_header_update(v);
	}
	return r;
}

int vhdx_log_replay(struct vhdx *v)
{
	uint32_t L = v->hdr.log_length, tail = 0, head = 0;
	uint64_t real_size = v->file_size;
	struct entry_info *ei = NULL;
	uint8_t *buf = NULL;
	int r;

	if (vhdx_guid_is_zero(&v->hdr.log_guid))
		return 0;
	if (!(v->flags & VHDX_OPEN_RDWR) && (v->flags & VHDX_OPEN_NO_REPLAY))
		return vhdx_fail(v, -EBUSY, "the log needs replaying");
	if (L < SECTOR)
		return vhdx_fail(v, -EBADMSG, "log is dirty but has no space");
	/* the header check bounds L by the file size; doubled so wrapped entries are linear */
	buf = malloc((size_t)L * 2);
	ei = calloc(L / SECTOR, sizeof(*ei));
	r = -ENOMEM;
	if (!buf || !ei)
		goto out;
	r = vhdx_pread(v, buf, L, v->hdr.log_offset);
	if (r < 0)
		goto out;
	memcpy(buf + L, buf, L);
	for (uint32_t off = 0; off < L; off += SECTOR)
		check_entry(v, buf, L, off, &ei[off / SECTOR]);
	if (!find_active(ei, L, &tail, &head)) {
		r = vhdx_fail(v, -EBADMSG, "the log is dirty but holds no valid entry sequence");
		goto out;
	}
	r = replay(v, buf, ei, L, tail, head, real_size);
	if (r == 0)
		v->log_replayed = true;
out:
	free(buf);
	free(ei);
	return r;
}

static void encode_entry(struct vhdx *v, uint8_t *e, uint32_t len, const uint64_t *offsets,
			 const uint8_t *data, uint32_t count, uint64_t file_size)
{
	uint32_t ds = desc_sectors(count);
	uint64_t seq = v->log_seq;

	memset(e, 0, (size_t)ds * SECTOR);
	put32(e, SIG_LOGE);
	put32(e + 8, len);
	put32(e + 12, (uint32_t)v->log_pos);
	put64(e + 16, seq);
	put32(e + 24, count);
	memcpy(e + 32, v->hdr.log_guid.b, 16);
	put64(e + 48, file_size);
	put64(e + 56, file_size);
	for (uint32_t i = 0; i < count; i++) {
		uint8_t *d = e + 64 + 32 * i;
		uint8_t *s = e + (size_t)(ds + i) * SECTOR;
		const uint8_t *src = data + (size_t)i * SECTOR;
		put32(d, SIG_DESC);
		memcpy(d + 4, src + 4092, 4);
		memcpy(d + 8, src, 8);
		put64(d + 16, offsets[i]);
		put64(d + 24, seq);
		put32(s, SIG_DATA);
		put32(s + 4, (uint32_t)(seq >> 32));
		memcpy(s + 8, src + 8, 4084);
		put32(s + 4092, (uint32_t)seq);
	}
	put32(e + 4, vhdx_crc32c(0, e, len));
}

/* One entry of COUNT sectors: write it, flush, write the sectors home, flush. */
static int write_one(struct vhdx *v, const uint64_t *offsets, const uint8_t *data,
		     uint32_t count)
{
	uint32_t L = v->hdr.log_length;
	uint32_t len = (desc_sectors(count) + count) * SECTOR;
	uint64_t file_size;
	uint8_t *e;
	int r;

	off_t end = lseek(v->fd, 0, SEEK_END);
	if (end < 0)
		return -errno;
	file_size = (uint64_t)end;
	if (v->log_pos + len > L)
		v->log_pos = 0;
	e = malloc(len);
	if (!e)
		return -ENOMEM;
	v->log_seq++;
	encode_entry(v, e, len, offsets, data, count, file_size);
	r = vhdx_pwrite(v, e, len, v->hdr.log_offset + v->log_pos);
	free(e);
	if (r == 0)
		r = vhdx_sync(v);
	for (uint32_t i = 0; i < count && r == 0; i++)
		r = vhdx_pwrite(v, data + (size_t)i * SECTOR, SECTOR, offsets[i]);
	if (r == 0)
		r = vhdx_sync(v);
	if (r == 0)
		v->log_pos = (v->log_pos + len) % L;
	return r;
}

int vhdx_log_write(struct vhdx *v, const uint64_t *offsets, const uint8_t *data, size_t count)
{
	uint32_t slots = v->hdr.log_length / SECTOR;
	uint32_t per;
	int r;

	if (slots < 2 || vhdx_guid_is_zero(&v->hdr.log_guid))
		return vhdx_fail(v, -ENOTSUP, "image has no usable log");
	per = slots - desc_sectors(slots);
	while (count) {
		uint32_t n = count < per ? (uint32_t)count : per;
		r = write_one(v, offsets, data, n);
		if (r < 0)
			return r;
		offsets += n;
		data += (size_t)n * SECTOR;
		count -= n;
	}
	return 0;
}

/*
 * Start a log under a new LogGuid: one empty entry, written before the headers name the
 * GUID, so a crash at any later point leaves a log with a valid (possibly empty) sequence.
 */
int vhdx_log_begin(struct vhdx *v)
{
	if (v->hdr.log_length / SECTOR < 2)
		return vhdx_fail(v, -ENOTSUP, "image has no usable log");
	v->log_pos = 0;
	v->log_seq = 0;
	return write_one(v, NULL, NULL, 0);
}
