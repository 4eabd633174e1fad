/* Dynamic Memory VSP: the host side of Hyper-V's balloon protocol, as Linux's hv_balloon
 * drives it (drivers/hv/hv_balloon.c; layouts there, little-endian and packed). The guest
 * opens the channel and speaks first: DM_VERSION_REQUEST (2.0 WIN10, 1.0 WIN8, 0.3 WIN7)
 * -> DM_VERSION_RESPONSE, DM_CAPABILITIES_REPORT -> DM_CAPABILITIES_RESPONSE, then a
 * DM_STATUS_REPORT about every second (free and committed pages; committed includes the
 * pages in the balloon). The host moves the guest towards its target one transaction at a
 * time: DM_BALLOON_REQUEST (n pages) answered by DM_BALLOON_RESPONSEs carrying page ranges
 * (more_pages set on all but the last), or DM_UNBALLOON_REQUEST carrying ranges the guest
 * gave earlier, answered by one DM_UNBALLOON_RESPONSE.
 *
 * Memory model: the partition maps MaximumBytes of guest RAM; the guest is ballooned down
 * to its target (StartupBytes at first) as soon as its driver connects. Pages the guest
 * gives are released on the host at once (anonymous RAM: MADV_DONTNEED; a private mapping
 * of a state file: replaced by fresh anonymous memory, since MADV_DONTNEED would bring the
 * file's contents back; a shared memory file: a hole punched too), so they read as zeros
 * when given back. Hot-add is not used: the capability is accepted, never exercised
 * (VMBUS.md, Dynamic memory).
 *
 * The guest is hostile: every message's size and type are checked, ranges must lie in
 * guest RAM, outside the balloon, within what was asked; a refused message changes
 * nothing, is counted in `hostile` (and in the channel's bad packets), and the partition
 * runs on. */
#include "config.h"

#define _GNU_SOURCE 1
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "hvcore/vmbus-priv.h"

enum {
	DM_VERSION_REQUEST = 1,
	DM_VERSION_RESPONSE = 2,
	DM_CAPABILITIES_REPORT = 3,
	DM_CAPABILITIES_RESPONSE = 4,
	DM_STATUS_REPORT = 5,
	DM_BALLOON_REQUEST = 6,
	DM_BALLOON_RESPONSE = 7,
	DM_UNBALLOON_REQUEST = 8,
	DM_UNBALLOON_RESPONSE = 9,
	DM_MEM_HOT_ADD_REQUEST = 10,
	DM_MEM_HOT_ADD_RESPONSE = 11,
	DM_INFO_MESSAGE = 12,
};

#define DM_VERSION(maj, min) (((uint32_t)(maj) << 16) | (min))
#define DM_WIN7 DM_VERSION(0, 3)
#define DM_WIN8 DM_VERSION(1, 0)
#define DM_WIN10 DM_VERSION(2, 0)
#define DM_HDR 8
#define PAGE_SHIFT 12
#define RANGE_START_MASK ((1ULL << 40) - 1)
#define RANGE_CNT_MAX ((1u << 24) - 1)
#define MAX_RANGES 1024       /* per guest message: more is absurd, refused */
#define UNBALLOON_RANGES 128  /* per host message */
#define CHUNK_PAGES (256u << 8) /* 256 MiB per transaction */
#define SLACK_PAGES 256u      /* 1 MiB: closer than that is on target */
#define OP_TIMEOUT_NS 10000000000ULL
#define BACKOFF_NS 1000000000ULL /* after a short answer: the guest has no more free now */
#define MAX_COMMITTED (1ULL << 36) /* pages: 256 TiB, past anything real */

enum op { OP_IDLE, OP_UP, OP_DOWN };

struct balloon {
	uint32_t version;        /* accepted, 0 none */
	bool caps;               /* capabilities accepted */
	bool can_balloon;        /* the guest's capability bit */
	uint64_t *map;           /* one bit per RAM page (host offset / 4096): in the balloon */
	uint64_t npages;
	uint64_t ballooned;
	uint64_t target;         /* pages, 0: none set (no ballooning) */
	enum op op;
	uint64_t op_pages, op_got, op_ns;
	uint32_t trans;
	uint64_t backoff_ns;     /* no balloon request before this: the guest gave less */
	uint64_t committed, avail, reports, last_report_ns;
	uint64_t ballooned_at_report; /* the report's committed counts these */
	uint64_t hostile, released, returned, timeouts;
};

static bool bit(const struct balloon *b, uint64_t i)
{
	return b->map[i / 64] >> (i % 64) & 1;
}

static void set_bit(struct balloon *b, uint64_t i, bool on)
{
	if (on)
		b->map[i / 64] |= 1ULL << (i % 64);
	else
		b->map[i / 64] &= ~(1ULL << (i % 64));
}

/* Moves *i to the next page in the balloon (whole empty words at a time); false past the end. */
static bool next_ballooned(const struct balloon *b, uint64_t *i)
{
	while (*i < b->npages) {
		if (!b->map[*i / 64])
			*i = (*i / 64 + 1) * 64;
		else if (!bit(b, *i))
			(*i)++;
		else
			return true;
	}
	return false;
}

static bool hostile(struct balloon *b)
{
	b->hostile++;
	return false;
}

static void put_hdr(uint8_t *m, uint16_t type, uint16_t size, uint32_t trans)
{
	memset(m, 0, size);
	hv_put16(m, type);
	hv_put16(m + 2, size);
	hv_put32(m + 4, trans);
}

/* Page index (host offset / 4096) of guest frame pfn..pfn+cnt, or -1 when not all RAM. */
static int64_t page_index(struct hv_partition *p, uint64_t pfn, uint64_t cnt)
{
	uint8_t *h;

	if (pfn > RANGE_START_MASK || cnt == 0 || cnt > RANGE_CNT_MAX)
		return -1;
	h = hv_partition_gpa(p, pfn << PAGE_SHIFT, cnt << PAGE_SHIFT);
	if (!h)
		return -1;
	return (int64_t)((uint64_t)(h - p->ram) >> PAGE_SHIFT);
}

static uint64_t index_pfn(const struct hv_partition *p, uint64_t i)
{
	uint64_t off = i << PAGE_SHIFT;

	return (off < p->ram_low ? off : HV_4G + (off - p->ram_low)) >> PAGE_SHIFT;
}

/* Gives pages back to the host so that the guest reads zeros there next time. */
static void release(struct hv_partition *p, uint64_t first, uint64_t n)
{
	uint8_t *h = p->ram + (first << PAGE_SHIFT);
	size_t len = (size_t)(n << PAGE_SHIFT);

	if (p->ram_from_file) {
		/* A private file mapping would fall back to the file's bytes: map fresh
		 * anonymous memory over it (KVM follows the change through its MMU notifier). */
		if (mmap(h, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1,
			 0) != MAP_FAILED)
			return;
	}
	if (p->ram_fd >= 0 && !p->ram_from_file)
		(void)fallocate(p->ram_fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
				(off_t)(p->ram_file_off + (first << PAGE_SHIFT)), (off_t)len);
	(void)madvise(h, len, MADV_DONTNEED);
}

static void send_balloon(struct hv_channel *c, struct balloon *b, uint64_t n)
{
	uint8_t m[16];

	put_hdr(m, DM_BALLOON_REQUEST, sizeof(m), ++b->trans);
	hv_put32(m + 8, (uint32_t)n);
	if (hv_channel_send(c, m, sizeof(m), 0) != 0)
		return;
	b->op = OP_UP;
	b->op_pages = n;
	b->op_got = 0;
	b->op_ns = hv_now_ns();
}

/* Ranges of ballooned pages, up to want pages, never across the MMIO hole; the pages leave
 * the balloon as the message goes out (the guest may use them on receipt). */
static void send_unballoon(struct hv_channel *c, struct balloon *b, uint64_t want)
{
	struct hv_partition *p = c->p;
	uint8_t m[16 + 8 * UNBALLOON_RANGES];
	uint64_t i = 0, given = 0, low_pages = p->ram_low >> PAGE_SHIFT;
	uint32_t n = 0, k;
	uint64_t first[UNBALLOON_RANGES], cnt[UNBALLOON_RANGES];

	while (n < UNBALLOON_RANGES && given < want && next_ballooned(b, &i)) {
		uint64_t s, lim;

		s = i;
		lim = i < low_pages ? low_pages : b->npages;
		while (i < lim && bit(b, i) && i - s < RANGE_CNT_MAX && given + (i - s) < want)
			i++;
		first[n] = s;
		cnt[n] = i - s;
		given += i - s;
		n++;
	}
	if (!n)
		return;
	put_hdr(m, DM_UNBALLOON_REQUEST, (uint16_t)(16 + 8 * n), ++b->trans);
	hv_put32(m + 12, n);
	for (k = 0; k < n; k++)
		hv_put64(m + 16 + 8 * k, index_pfn(p, first[k]) | cnt[k] << 40);
	if (hv_channel_send(c, m, 16 + 8 * n, 0) != 0)
		return;
	for (k = 0; k < n; k++) {
		uint64_t j;

		for (j = first[k]; j < first[k] + cnt[k]; j++)
			set_bit(b, j, false);
	}
	b->ballooned -= given;
	b->returned += given;
	b->op = OP_DOWN;
	b->op_ns = hv_now_ns();
}

/* One transaction towards the target, when none is under way. */
static void step(struct hv_channel *c)
{
	struct balloon *b = c->priv;
	uint64_t assigned, now = hv_now_ns();

	if (!b->caps || !b->can_balloon || !b->target || !b->map ||
	    c->state != HV_CHANNEL_OPEN)
		return;
	if (b->op != OP_IDLE) {
		if (now - b->op_ns < OP_TIMEOUT_NS)
			return;
		b->op = OP_IDLE; /* a guest that stopped answering: ask again later */
		b->timeouts++;
	}
	assigned = b->npages - b->ballooned;
	if (assigned > b->target + SLACK_PAGES && now >= b->backoff_ns)
		send_balloon(c, b, assigned - b->target < CHUNK_PAGES ? assigned - b->target
								       : CHUNK_PAGES);
	else if (assigned + SLACK_PAGES < b->target && b->ballooned)
		send_unballoon(c, b, b->target - assigned < CHUNK_PAGES ? b->target - assigned
									 : CHUNK_PAGES);
}

static void opened(struct hv_channel *c)
{
	struct balloon *b = c->priv;

	/* A reopened channel starts a new negotiation; the balloon itself stays. */
	b->version = 0;
	b->caps = false;
	b->op = OP_IDLE;
	if (!b->map) {
		b->npages = c->p->mem_bytes >> PAGE_SHIFT;
		b->map = calloc((size_t)(b->npages + 63) / 64, sizeof(uint64_t));
	}
}

static void destroy(struct hv_channel *c)
{
	struct balloon *b = c->priv;

	free(b->map);
	b->map = NULL;
}

static bool version_request(struct hv_channel *c, struct balloon *b, const uint8_t *d, uint32_t n)
{
	uint32_t v;
	uint8_t m[16];

	if (n < 16)
		return hostile(b);
	v = hv_get32(d + 8);
	b->caps = false;
	b->version = (v == DM_WIN10 || v == DM_WIN8 || v == DM_WIN7) ? v : 0;
	put_hdr(m, DM_VERSION_RESPONSE, sizeof(m), hv_get32(d + 4));
	m[8] = b->version ? 1 : 0;
	(void)hv_channel_send(c, m, sizeof(m), 0);
	return true;
}

static bool caps_report(struct hv_channel *c, struct balloon *b, const uint8_t *d, uint32_t n)
{
	uint8_t m[16];

	if (n < 32 || !b->version)
		return hostile(b);
	b->can_balloon = d[8] & 1;
	b->caps = true;
	put_hdr(m, DM_CAPABILITIES_RESPONSE, sizeof(m), hv_get32(d + 4));
	m[8] = 1;
	(void)hv_channel_send(c, m, sizeof(m), 0);
	return true;
}

static bool status_report(struct balloon *b, const uint8_t *d, uint32_t n)
{
	uint64_t avail, committed;

	if (n < 48 || !b->caps)
		return hostile(b);
	avail = hv_get64(d + 8);
	committed = hv_get64(d + 16);
	if (avail > b->npages || committed > MAX_COMMITTED)
		return hostile(b);
	b->avail = avail;
	b->committed = committed;
	b->ballooned_at_report = b->ballooned;
	b->reports++;
	b->last_report_ns = hv_now_ns();
	return true;
}

/* Checks every range first and applies none of a message that fails. */
static bool balloon_response(struct hv_channel *c, struct balloon *b, const uint8_t *d,
			     uint32_t size)
{
	struct hv_partition *p = c->p;
	uint32_t count, k;
	uint64_t total = 0;
	bool more;

	if (b->op != OP_UP || size < 16)
		return hostile(b);
	more = d[12] & 1;
	count = hv_get32(d + 12) >> 1;
	if (count > MAX_RANGES || size != 16 + 8 * count)
		return hostile(b);
	for (k = 0; k < count; k++) {
		uint64_t r = hv_get64(d + 16 + 8 * k), cnt = r >> 40, j;
		int64_t first = page_index(p, r & RANGE_START_MASK, cnt);

		if (first < 0 || total + cnt > b->op_pages - b->op_got)
			return hostile(b);
		for (j = 0; j < cnt; j++)
			if (bit(b, (uint64_t)first + j))
				return hostile(b);
		total += cnt;
	}
	/* Ranges that overlap each other inside the message: undo and refuse. */
	for (k = 0; k < count; k++) {
		uint64_t r = hv_get64(d + 16 + 8 * k), cnt = r >> 40, j;
		uint64_t first = (uint64_t)page_index(p, r & RANGE_START_MASK, cnt);

		for (j = 0; j < cnt; j++) {
			if (bit(b, first + j)) {
				uint32_t u;

				while (j--)
					set_bit(b, first + j, false);
				for (u = 0; u < k; u++) {
					uint64_t ru = hv_get64(d + 16 + 8 * u), fu, q;

					fu = (uint64_t)page_index(p, ru & RANGE_START_MASK, ru >> 40);
					for (q = 0; q < (ru >> 40); q++)
						set_bit(b, fu + q, false);
				}
				return hostile(b);
			}
			set_bit(b, first + j, true);
		}
	}
	for (k = 0; k < count; k++) {
		uint64_t r = hv_get64(d + 16 + 8 * k), cnt = r >> 40;

		release(p, (uint64_t)page_index(p, r & RANGE_START_MASK, cnt), cnt);
	}
	b->ballooned += total;
	b->released += total;
	b->op_got += total;
	if (!more) {
		b->op = OP_IDLE;
		if (b->op_got < b->op_pages)
			b->backoff_ns = hv_now_ns() + BACKOFF_NS;
	}
	return true;
}

static bool packet(struct hv_channel *c, const uint8_t *d, uint32_t len, uint64_t trans_id,
		   uint16_t type, uint16_t flags)
{
	struct balloon *b = c->priv;
	uint16_t size;
	bool ok;

	(void)trans_id;
	(void)type;
	(void)flags;
	if (len < DM_HDR)
		return hostile(b);
	size = hv_get16(d + 2);
	if (size < DM_HDR || size > len)
		return hostile(b);
	switch (hv_get16(d)) {
	case DM_VERSION_REQUEST: ok = version_request(c, b, d, size); break;
	case DM_CAPABILITIES_REPORT: ok = caps_report(c, b, d, size); break;
	case DM_STATUS_REPORT: ok = status_report(b, d, size); break;
	case DM_BALLOON_RESPONSE: ok = balloon_response(c, b, d, size); break;
	case DM_UNBALLOON_RESPONSE:
		ok = b->op == OP_DOWN ? (b->op = OP_IDLE, true) : hostile(b);
		break;
	case DM_INFO_MESSAGE: ok = b->version != 0 || hostile(b); break;
	default: ok = hostile(b); break; /* host-to-guest types, hot-add never asked */
	}
	step(c);
	return ok;
}

static void tick(struct hv_channel *c, uint64_t now)
{
	(void)now;
	step(c);
}

/*
 * Saved with the partition (STATEFILE.md, provider record): the negotiation, the transaction
 * under way, the target, and which pages are in the balloon, as ranges. Without it a restored
 * partition's balloon would wait for a negotiation its guest finished long ago, and dynamic
 * memory would stop for that VM. The ballooned pages themselves were zero at the save (they
 * were released), so the restored memory has holes there.
 *   u32 1, u32 protocol version, u8 caps, u8 can_balloon, u8 op, u8 flags, u32 transaction,
 *   u64 op pages, u64 op got, u64 pages, u64 ballooned, u64 target, u32 ranges, then per
 *   range u64 first page, u64 count.
 * Flags bit 0: the ranges did not fit the record; the restored balloon starts unconnected
 * (as before it was saved at all), so the restore itself still works.
 */
#define SAVE_LOST 1u
#define SAVE_HDR 64

static size_t save(const struct hv_channel *c, uint8_t *buf, size_t max)
{
	const struct balloon *b = c->priv;
	uint64_t i = 0;
	uint32_t n = 0;
	size_t at = SAVE_HDR;

	if (max < SAVE_HDR)
		return 0;
	memset(buf, 0, SAVE_HDR);
	hv_put32(buf, 1);
	hv_put32(buf + 4, b->version);
	buf[8] = b->caps;
	buf[9] = b->can_balloon;
	buf[10] = (uint8_t)b->op;
	hv_put32(buf + 12, b->trans);
	hv_put64(buf + 16, b->op_pages);
	hv_put64(buf + 24, b->op_got);
	hv_put64(buf + 32, b->npages);
	hv_put64(buf + 40, b->ballooned);
	hv_put64(buf + 48, b->target);
	while (b->map && next_ballooned(b, &i)) {
		uint64_t s;

		for (s = i; i < b->npages && bit(b, i); i++)
			;
		if (max - at < 16) {
			buf[11] = SAVE_LOST;
			hv_put32(buf + 56, 0);
			return SAVE_HDR;
		}
		hv_put64(buf + at, s);
		hv_put64(buf + at + 8, i - s);
		at += 16;
		n++;
	}
	hv_put32(buf + 56, n);
	return at;
}

static int load(struct hv_channel *c, const uint8_t *d, size_t len)
{
	struct balloon *b = c->priv;
	uint64_t npages = c->p->mem_bytes >> PAGE_SHIFT, sum = 0, k;
	uint32_t n, ver;

	if (len < SAVE_HDR || hv_get32(d) != 1)
		return -EBADMSG;
	ver = hv_get32(d + 4);
	n = hv_get32(d + 56);
	if ((ver && ver != DM_WIN10 && ver != DM_WIN8 && ver != DM_WIN7) || d[10] > OP_DOWN ||
	    hv_get64(d + 32) != npages || len != SAVE_HDR + 16ull * n || hv_get64(d + 24) > hv_get64(d + 16) ||
	    hv_get64(d + 48) > npages)
		return -EBADMSG;
	if (d[11] & SAVE_LOST) {
		b->version = 0;
		b->caps = false;
		b->op = OP_IDLE;
		return n == 0 && len == SAVE_HDR ? 0 : -EBADMSG;
	}
	if (!b->map) {
		b->npages = npages;
		b->map = calloc((size_t)(npages + 63) / 64, sizeof(uint64_t));
		if (!b->map)
			return -ENOMEM;
	}
	memset(b->map, 0, (size_t)(npages + 63) / 64 * sizeof(uint64_t));
	for (k = 0; k < n; k++) {
		uint64_t first = hv_get64(d + SAVE_HDR + 16 * k), cnt = hv_get64(d + SAVE_HDR + 16 * k + 8), j;

		if (!cnt || first > npages || cnt > npages - first)
			return -EBADMSG;
		for (j = first; j < first + cnt; j++) {
			if (bit(b, j))
				return -EBADMSG; /* ranges that overlap */
			set_bit(b, j, true);
		}
		sum += cnt;
	}
	if (sum != hv_get64(d + 40))
		return -EBADMSG;
	b->version = ver;
	b->caps = d[8] != 0;
	b->can_balloon = d[9] != 0;
	b->op = (enum op)d[10];
	b->trans = hv_get32(d + 12);
	b->op_pages = hv_get64(d + 16);
	b->op_got = hv_get64(d + 24);
	b->op_ns = hv_now_ns();
	b->ballooned = sum;
	b->target = hv_get64(d + 48);
	return 0;
}

const struct hv_vsp hv_vsp_balloon = {
	.save = save,
	.load = load,
	.name = "Dynamic Memory",
	.class_id = "525074dc-8985-46e2-8057-a307dc18a502",
	.instance_id = "4b1e8d2a-6c3f-4e7a-9d5b-2f8c1a0e7d64",
	.ic = -1,
	.priv_size = sizeof(struct balloon),
	.opened = opened,
	.packet = packet,
	.tick = tick,
	.destroy = destroy,
};

static struct hv_channel *balloon_channel(struct hv_partition *p)
{
	unsigned i;

	if (!p->hv || !p->hv->on)
		return NULL;
	for (i = 0; i < HV_MAX_CHANNELS; i++) {
		struct hv_channel *c = p->hv->vmbus.chan[i];

		if (c && c->vsp == &hv_vsp_balloon)
			return c;
	}
	return NULL;
}

int hv_partition_balloon_target(struct hv_partition *p, uint64_t bytes)
{
	struct hv_channel *c = balloon_channel(p);
	struct balloon *b;

	if (!c)
		return -ENOTSUP;
	if (bytes < HV_MIN_MEM || bytes > p->mem_bytes)
		return -ERANGE;
	pthread_mutex_lock(&p->hv->lock);
	b = c->priv;
	b->target = bytes >> PAGE_SHIFT;
	step(c);
	pthread_mutex_unlock(&p->hv->lock);
	return 0;
}

int hv_partition_balloon_status(struct hv_partition *p, struct hv_balloon_status *out)
{
	struct hv_channel *c = balloon_channel(p);
	const struct balloon *b;

	memset(out, 0, sizeof(*out));
	if (!c)
		return -ENOTSUP;
	pthread_mutex_lock(&p->hv->lock);
	b = c->priv;
	out->connected = b->caps && c->state == HV_CHANNEL_OPEN;
	out->version = b->version;
	out->mem_bytes = p->mem_bytes;
	out->target_bytes = b->target ? b->target << PAGE_SHIFT : p->mem_bytes;
	out->balloon_pages = b->ballooned;
	out->assigned_bytes = p->mem_bytes - (b->ballooned << PAGE_SHIFT);
	out->committed_pages = b->committed;
	out->avail_pages = b->avail;
	out->demand_bytes = b->reports && b->committed > b->ballooned_at_report
				    ? (b->committed - b->ballooned_at_report) << PAGE_SHIFT
				    : 0;
	out->reports = b->reports;
	out->last_report_ns = b->last_report_ns;
	out->busy = b->op != OP_IDLE;
	out->hostile = b->hostile;
	out->released_bytes = b->released << PAGE_SHIFT;
	out->returned_bytes = b->returned << PAGE_SHIFT;
	out->timeouts = b->timeouts;
	pthread_mutex_unlock(&p->hv->lock);
	return 0;
}
