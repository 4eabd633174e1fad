/* hvguest: the Dynamic Memory client, answering as Linux's hv_balloon does
 * (drivers/hv/hv_balloon.c): DM_VERSION_REQUEST from 2.0 down, DM_CAPABILITIES_REPORT
 * (balloon yes, hot-add no), a DM_STATUS_REPORT every second (free pages, and committed
 * pages that include the ballooned ones, as the host expects), DM_BALLOON_REQUEST answered
 * with page ranges from its free memory (DM_BALLOON_RESPONSE, more_pages on all but the
 * last), DM_UNBALLOON_REQUEST taking pages back. Free memory is a small extent list over
 * RAM from 16 MiB up (the image, its stacks and the loader's tables sit below).
 *
 * hvguest.memload=SIZE,SECONDS (SIZE in bytes or with K, M, G): 3 s after the balloon
 * connects (or after VMBus without one) commits SIZE, takes pages
 * as they come free (the host sees the demand and gives memory back), touches each, holds
 * them SECONDS once all are there (or after 30 s, whatever it got), then frees them.
 * hvguest.balloon=hostile (or hvguest.misbehave=1): the host must refuse and count a few
 * broken messages, and ballooning still works. */
#include "hvcore/guest/vmbus.h"

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
};

#define POOL_BASE (16ULL << 20)
#define MAX_EXT 256
#define MAX_LOAD 64
#define RESP_RANGES 200
#define FLOOR_PAGES 256 /* free pages the balloon never takes */
#define SECOND 10000000ULL /* reference time units */
#define RANGE_CNT_MAX ((1u << 24) - 1)
#define LOAD_DELAY (3 * SECOND) /* after the balloon connects (or boot, without one) */

struct ext {
	uint64_t start, count; /* pfns */
};

static const uint32_t dm_versions[] = { 0x20000, 0x10000, 0x3 };
static struct ext ext[MAX_EXT], load[MAX_LOAD];
static unsigned next, nload, vi;
static uint64_t total_pages, pool_top, free_pages, ballooned, lost;
static uint64_t load_pages, load_have, load_secs, load_t0, hold_t0, next_report, quiet_t0;
static uint32_t trans = 1;
static int ready, hostile, load_state; /* 0 none, 1 taking, 2 holding, 3 done */
static uint8_t msg[16 + 8 * RESP_RANGES] __attribute__((aligned(8)));

static void add_free(uint64_t start, uint64_t count)
{
	unsigned i, k;

	if (!count)
		return;
	for (i = 0; i < next && ext[i].start < start; i++)
		;
	if (i > 0 && ext[i - 1].start + ext[i - 1].count == start) {
		ext[i - 1].count += count;
		if (i < next && start + count == ext[i].start) {
			ext[i - 1].count += ext[i].count;
			for (k = i; k + 1 < next; k++)
				ext[k] = ext[k + 1];
			next--;
		}
	} else if (i < next && start + count == ext[i].start) {
		ext[i].start = start;
		ext[i].count += count;
	} else if (next < MAX_EXT) {
		for (k = next; k > i; k--)
			ext[k] = ext[k - 1];
		ext[i].start = start;
		ext[i].count = count;
		next++;
	} else {
		lost += count; /* no room to remember them */
		return;
	}
	free_pages += count;
}

/* Up to want pages, contiguous, from the top of free memory: *start, returns the count. */
static uint64_t take(uint64_t want, uint64_t *start)
{
	struct ext *e;
	uint64_t n;

	if (!next || !want)
		return 0;
	e = &ext[next - 1];
	n = e->count < want ? e->count : want;
	if (n > RANGE_CNT_MAX)
		n = RANGE_CNT_MAX;
	e->count -= n;
	*start = e->start + e->count;
	if (!e->count)
		next--;
	free_pages -= n;
	return n;
}

static void hdr(uint8_t *m, uint16_t type, uint16_t size)
{
	memset(m, 0, size);
	wr16(m, type);
	wr16(m + 2, size);
	wr32(m + 4, trans++);
}

static void send_version(void)
{
	hdr(msg, DM_VERSION_REQUEST, 16);
	wr32(msg + 8, dm_versions[vi]);
	wr32(msg + 12, vi + 1 == sizeof(dm_versions) / sizeof(dm_versions[0]));
	vmbus_balloon_send(msg, 16);
}

static void send_status(void)
{
	hdr(msg, DM_STATUS_REPORT, 48);
	wr64(msg + 8, free_pages);
	wr64(msg + 16, total_pages - free_pages + (load_pages - load_have));
	vmbus_balloon_send(msg, 48);
}

void balloon_opened(void)
{
	vi = 0;
	ready = 0;
	send_version();
}

static void misbehave(void)
{
	hdr(msg, DM_STATUS_REPORT, 48); /* more free pages than the partition has */
	wr64(msg + 8, 1ULL << 50);
	vmbus_balloon_send(msg, 48);
	hdr(msg, DM_UNBALLOON_RESPONSE, 8); /* nothing was asked */
	vmbus_balloon_send(msg, 8);
	hdr(msg, 77, 16); /* no such message */
	vmbus_balloon_send(msg, 16);
	hdr(msg, DM_STATUS_REPORT, 48); /* claims more bytes than the packet holds */
	wr16(msg + 2, 400);
	vmbus_balloon_send(msg, 48);
	con_puts("hvguest: balloon misbehaved\n");
}

/* A balloon request, hostile first when asked: a range outside RAM, an absurd count. */
static void balloon_up(uint64_t want)
{
	uint64_t s, n, rng[RESP_RANGES];
	unsigned k;
	int more = 1;

	if (hostile == 1) {
		hdr(msg, DM_BALLOON_RESPONSE, 24);
		wr32(msg + 12, 1 | 1u << 1);
		wr64(msg + 16, 0xfffff0000ULL | 1ULL << 40);
		vmbus_balloon_send(msg, 24);
		hdr(msg, DM_BALLOON_RESPONSE, 16);
		wr32(msg + 12, 1 | 5000u << 1);
		vmbus_balloon_send(msg, 16);
		hostile = 2;
	}
	while (more) {
		for (k = 0; k < RESP_RANGES; k++) {
			if (want == 0 || free_pages <= FLOOR_PAGES)
				break;
			n = take(want < free_pages - FLOOR_PAGES ? want : free_pages - FLOOR_PAGES, &s);
			if (!n)
				break;
			rng[k] = s | n << 40;
			want -= n;
			ballooned += n;
		}
		more = k == RESP_RANGES && want && free_pages > FLOOR_PAGES;
		hdr(msg, DM_BALLOON_RESPONSE, (uint16_t)(16 + 8 * k));
		wr32(msg + 12, (uint32_t)more | k << 1);
		for (n = 0; n < k; n++)
			wr64(msg + 16 + 8 * n, rng[n]);
		vmbus_balloon_send(msg, 16 + 8 * k);
	}
}

static void balloon_down(const uint8_t *d, uint32_t len)
{
	uint32_t k, n = rd32(d + 12);
	uint64_t lo = POOL_BASE >> 12, hi = pool_top;

	for (k = 0; k < n && 16 + 8 * k + 8 <= len; k++) {
		uint64_t r = rd64(d + 16 + 8 * k), s = r & ((1ULL << 40) - 1), c = r >> 40;

		if (s < lo || s + c > hi || c > ballooned)
			continue; /* not ours to take */
		add_free(s, c);
		ballooned -= c;
	}
	if (!(rd32(d + 8) & 1)) {
		hdr(msg, DM_UNBALLOON_RESPONSE, 8);
		vmbus_balloon_send(msg, 8);
	}
}

void balloon_packet(const uint8_t *d, uint32_t len)
{
	if (len < 8)
		return;
	switch (rd16(d)) {
	case DM_VERSION_RESPONSE:
		if (len >= 16 && (d[8] & 1)) {
			hdr(msg, DM_CAPABILITIES_REPORT, 32);
			wr64(msg + 8, 1); /* balloon, no hot-add */
			wr64(msg + 24, ~0ULL);
			vmbus_balloon_send(msg, 32);
		} else if (++vi < sizeof(dm_versions) / sizeof(dm_versions[0])) {
			send_version();
		}
		break;
	case DM_CAPABILITIES_RESPONSE:
		if (len < 16 || !(d[8] & 1) || ready)
			break;
		ready = 1;
		quiet_t0 = hv_ref_time();
		con_puts("hvguest: balloon version=");
		con_putu(dm_versions[vi] >> 16);
		con_puts(".");
		con_putu(dm_versions[vi] & 0xffff);
		con_puts(" pages=");
		con_putu(total_pages);
		con_puts("\n");
		send_status();
		if (hostile)
			misbehave();
		break;
	case DM_BALLOON_REQUEST:
		if (len >= 16)
			balloon_up(rd32(d + 8));
		break;
	case DM_UNBALLOON_REQUEST:
		if (len >= 16)
			balloon_down(d, len);
		break;
	case DM_MEM_HOT_ADD_REQUEST:
		hdr(msg, DM_MEM_HOT_ADD_RESPONSE, 16); /* none added */
		vmbus_balloon_send(msg, 16);
		break;
	}
}

static void touch(uint64_t s, uint64_t n)
{
	uint64_t i;

	for (i = 0; i < n; i++)
		*(volatile uint64_t *)(uintptr_t)((s + i) << 12) = s + i;
}

static void memload(uint64_t now)
{
	uint64_t s, n;
	unsigned i;

	if (load_state == 0) {
		if (now - quiet_t0 < LOAD_DELAY)
			return; /* let the host settle the guest at its target first */
		load_state = 1;
		load_t0 = now;
		con_puts("hvguest: memload start bytes=");
		con_putu(load_pages << 12);
		con_puts("\n");
	}
	while (load_state == 1 && load_have < load_pages && nload < MAX_LOAD &&
	       (n = take(load_pages - load_have, &s)) != 0) {
		touch(s, n);
		load[nload].start = s;
		load[nload++].count = n;
		load_have += n;
	}
	if (load_state == 1 && (load_have == load_pages || nload == MAX_LOAD ||
				now - load_t0 > 30 * SECOND)) {
		load_state = 2;
		hold_t0 = now;
		con_puts("hvguest: memload holding bytes=");
		con_putu(load_have << 12);
		con_puts("\n");
	}
	if (load_state == 2 && now - hold_t0 >= load_secs * SECOND) {
		for (i = 0; i < nload; i++)
			add_free(load[i].start, load[i].count);
		nload = 0;
		load_pages = load_have = 0;
		load_state = 3;
		con_puts("hvguest: memload done\n");
	}
}

void balloon_poll(void)
{
	uint64_t now = hv_ref_time();

	if (!quiet_t0)
		quiet_t0 = now;
	if (load_pages && load_state < 3)
		memload(now);
	if (ready && now >= next_report) {
		next_report = now + SECOND;
		send_status();
	}
}

/* "hvguest.memload=600M,10": bytes and seconds, 0 when absent. */
static void parse_memload(const char *c)
{
	static const char word[] = "hvguest.memload=";
	uint64_t v = 0, secs = 0;

	const char *start = c;

	for (; *c; c++)
		if ((c == start || c[-1] == ' ') && memcmp(c, word, sizeof(word) - 1) == 0)
			break;
	if (!*c)
		return;
	for (c += sizeof(word) - 1; *c >= '0' && *c <= '9'; c++)
		v = v * 10 + (uint64_t)(*c - '0');
	if (*c == 'K' || *c == 'k')
		v <<= 10;
	else if (*c == 'M' || *c == 'm')
		v <<= 20;
	else if (*c == 'G' || *c == 'g')
		v <<= 30;
	while (*c && *c != ',' && *c != ' ')
		c++;
	if (*c == ',')
		for (c++; *c >= '0' && *c <= '9'; c++)
			secs = secs * 10 + (uint64_t)(*c - '0');
	load_pages = v >> 12;
	load_secs = secs;
}

void balloon_setup(const struct bootinfo *bi)
{
	total_pages = bi->mem_usable >> 12;
	pool_top = bi->ram_top >> 12;
	if (bi->ram_top > POOL_BASE)
		add_free(POOL_BASE >> 12, (bi->ram_top - POOL_BASE) >> 12);
	hostile = cmdline_has(bi->cmdline, "hvguest.balloon=hostile") ||
		  cmdline_has(bi->cmdline, "hvguest.misbehave=1");
	parse_memload(bi->cmdline);
}
