/* hvguest: a VMBus client that does what Linux 6.1's hv_vmbus does (drivers/hv/connection.c,
 * channel_mgmt.c, channel.c, ring_buffer.c): INITIATE_CONTACT from the newest version down,
 * REQUESTOFFERS, one GPADL per channel for both rings, OPENCHANNEL, then packets through the
 * rings with a fast HvSignalEvent on the channel's connection id. It runs in KVM's
 * instruction emulator, so loops stay short and it waits for interrupts, never spins. */
#include "hvcore/guest/vmbus.h"

enum { SVC_HEARTBEAT, SVC_SHUTDOWN, SVC_TIMESYNC, SVC_KVP, SVC_ECHO, SVC_BALLOON, SVC_SCSI,
       SVC_COUNT = SVC_SCSI + VMBUS_SCSI_MAX };

enum {
	MSG_OFFERCHANNEL = 1,
	MSG_RESCIND = 2,
	MSG_REQUESTOFFERS = 3,
	MSG_ALLOFFERS_DELIVERED = 4,
	MSG_OPENCHANNEL = 5,
	MSG_OPENCHANNEL_RESULT = 6,
	MSG_CLOSECHANNEL = 7,
	MSG_GPADL_HEADER = 8,
	MSG_GPADL_BODY = 9,
	MSG_GPADL_CREATED = 10,
	MSG_GPADL_TEARDOWN = 11,
	MSG_RELID_RELEASED = 13,
	MSG_INITIATE_CONTACT = 14,
	MSG_VERSION_RESPONSE = 15,
};

#define STATUS_INVALID_CONNECTION_ID 0x12
#define RING_PAGES 3 /* per direction: the header page and two data pages */
#define RING_SIZE ((RING_PAGES - 1) * 4096)
#define CH_PAGES (2 * RING_PAGES)
#define PKT_INBAND 6
#define PKT_GPA_DIRECT 9
#define SCSI_CLASS "ba6163d9-04a1-4d29-b605-72e2ffb1dc7f"
#define ECHO_LEN 64
#define STREAM_LEN 1024

static const char *const class_ids[SVC_COUNT] = {
	"57164f39-9115-4e78-ab55-382f3bd5422d", /* heartbeat */
	"0e0b6031-5213-4934-818b-38d90ced39db", /* shutdown */
	"9527e630-d0ae-497b-adce-e80ab0175caf", /* time sync */
	"a9a0f4e7-5a45-4d96-b827-8a841e8c03e6", /* KVP */
	"7b1d0f5e-3a9c-4e2b-8d6f-5c4a3b2e1f0d", /* hvkit loopback (bench) */
	"525074dc-8985-46e2-8057-a307dc18a502", /* dynamic memory (balloon.c) */
	SCSI_CLASS, SCSI_CLASS, SCSI_CLASS, SCSI_CLASS, /* synthetic SCSI controllers */
};

/* Linux's order (connection.c, vmbus_versions). */
static const uint32_t versions[] = {
	0x50003, 0x50002, 0x50001, 0x50000, 0x40001, 0x40000, 0x30000, 0x20004,
};

struct channel {
	int offered, open, rescinded, misbehave_target;
	uint32_t relid, conn_id, gpadl;
	uint8_t instance_last; /* hvkit's SCSI instance GUIDs end in the controller number */
};

static uint8_t rings[SVC_COUNT][CH_PAGES][4096] __attribute__((aligned(4096)));
static struct channel ch[SVC_COUNT];
static uint32_t msg_conn = 1, next_gpadl = 0xe1e10;
static uint8_t pkt[4096] __attribute__((aligned(8)));
static unsigned seen;

/* The SINT2 slot of the message page: take one message (its length), or -1. Freeing the
 * slot and then looking at msg_pending, with a barrier between, is TLFS 11.9.3. */
static int msg_take(uint8_t *out)
{
	volatile uint8_t *slot = hv_simp + VMBUS_SINT * 256;
	volatile uint32_t *type = (volatile uint32_t *)slot;
	unsigned i, len;

	if (*type == 0)
		return -1;
	len = slot[4] > 240 ? 240 : slot[4];
	for (i = 0; i < len; i++)
		out[i] = slot[16 + i];
	*type = 0;
	barrier_full();
	if (slot[5] & 1)
		hv_eom();
	return (int)len;
}

static void guid_wire(const char *s, uint8_t out[16])
{
	static const uint8_t order[16] = { 3, 2, 1, 0, 5, 4, 7, 6, 8, 9, 10, 11, 12, 13, 14, 15 };
	uint8_t b[16];
	unsigned i = 0;

	memset(b, 0, sizeof(b));
	for (; *s && i < 32; s++) {
		int v;

		if (*s == '-')
			continue;
		v = *s >= 'a' ? *s - 'a' + 10 : *s - '0';
		b[i / 2] = (uint8_t)(b[i / 2] | (v << (i % 2 ? 0 : 4)));
		i++;
	}
	for (i = 0; i < 16; i++)
		out[order[i]] = b[i];
}

static void take_offer(const uint8_t *m, int len)
{
	uint8_t g[16];
	unsigned i;

	if (len < 196)
		return;
	for (i = 0; i < SVC_COUNT; i++) {
		guid_wire(class_ids[i], g);
		if (memcmp(g, m + 8, 16) != 0 || ch[i].open)
			continue;
		/* Several SCSI controllers share a class: each offer takes its own slot. */
		if (i >= SVC_SCSI && ch[i].offered && ch[i].relid != rd32(m + 184))
			continue;
		ch[i].offered = 1;
		ch[i].rescinded = 0;
		ch[i].relid = rd32(m + 184);
		ch[i].conn_id = rd32(m + 192);
		ch[i].instance_last = m[24 + 15];
		if (i >= SVC_SCSI)
			break;
	}
}

/* Messages that can come at any time: offers (a service enabled again) and rescinds. */
static void async_msg(const uint8_t *m, int len)
{
	unsigned i;

	if (len < 8)
		return;
	if (rd32(m) == MSG_OFFERCHANNEL)
		take_offer(m, len);
	if (rd32(m) == MSG_RESCIND && len >= 12)
		for (i = 0; i < SVC_COUNT; i++)
			if (ch[i].offered && ch[i].relid == rd32(m + 8))
				ch[i].rescinded = 1;
}

/* The host answers every request it accepts; a refused one gets no answer, so only wait
 * for what must come. */
static int wait_for(uint32_t type, uint8_t *m)
{
	int n;

	for (;;) {
		n = msg_take(m);
		if (n >= 8 && rd32(m) == type)
			return n;
		if (n >= 0) {
			async_msg(m, n);
			continue;
		}
		irq_wait(&seen);
	}
}

static int contact(void)
{
	uint8_t m[240];
	unsigned i;
	int n;

	for (i = 0; i < sizeof(versions) / sizeof(versions[0]); i++) {
		uint32_t conn = versions[i] >= 0x50000 ? 4 : 1;

		memset(m, 0, 40);
		wr32(m, MSG_INITIATE_CONTACT);
		wr32(m + 8, versions[i]);
		wr32(m + 12, 0); /* VP index of this CPU */
		if (versions[i] >= 0x50000)
			m[16] = VMBUS_SINT;
		if (hv_post(conn, m, 40) == STATUS_INVALID_CONNECTION_ID)
			continue;
		n = wait_for(MSG_VERSION_RESPONSE, m);
		if (n >= 16 && m[8]) {
			msg_conn = versions[i] >= 0x50000 ? rd32(m + 12) : 1;
			return (int)i;
		}
	}
	return -1;
}

static void post(const void *m, uint32_t len)
{
	(void)hv_post(msg_conn, m, len);
}

/* GPADL_HEADER for pages of our memory (pfns given), waits for GPADL_CREATED: its status. */
static uint32_t gpadl_create(uint32_t relid, uint32_t handle, const uint64_t *pfns, unsigned n)
{
	uint8_t m[240];
	unsigned i;

	memset(m, 0, 28 + 8 * n);
	wr32(m, MSG_GPADL_HEADER);
	wr32(m + 8, relid);
	wr32(m + 12, handle);
	wr16(m + 16, (uint16_t)(8 + 8 * n));
	wr16(m + 18, 1);
	wr32(m + 20, n * 4096);
	for (i = 0; i < n; i++)
		wr64(m + 28 + 8 * i, pfns[i]);
	post(m, 28 + 8 * n);
	for (;;) {
		wait_for(MSG_GPADL_CREATED, m);
		if (rd32(m + 12) == handle)
			return rd32(m + 16);
	}
}

static uint32_t open_msg(uint32_t relid, uint32_t gpadl, uint32_t down)
{
	uint8_t m[240];

	memset(m, 0, 148);
	wr32(m, MSG_OPENCHANNEL);
	wr32(m + 8, relid);
	wr32(m + 12, relid);
	wr32(m + 16, gpadl);
	wr32(m + 24, down);
	post(m, 148);
	for (;;) {
		wait_for(MSG_OPENCHANNEL_RESULT, m);
		if (rd32(m + 8) == relid)
			return rd32(m + 16);
	}
}

static int open_channel(unsigned i)
{
	uint64_t pfns[CH_PAGES];
	unsigned k;

	memset(rings[i][0], 0, 128);
	memset(rings[i][RING_PAGES], 0, 128);
	for (k = 0; k < CH_PAGES; k++)
		pfns[k] = (uint64_t)(uintptr_t)rings[i][k] >> 12;
	ch[i].gpadl = next_gpadl++;
	if (gpadl_create(ch[i].relid, ch[i].gpadl, pfns, CH_PAGES) != 0)
		return -1;
	if (open_msg(ch[i].relid, ch[i].gpadl, RING_PAGES) != 0)
		return -1;
	ch[i].open = 1;
	if (i == SVC_BALLOON)
		balloon_opened();
	return 0;
}

/* Rings: the guest-to-host one first (pages 0-2), then host-to-guest (3-5). Packets start
 * and end on 8-byte boundaries and the ring is a multiple of 8, so copies go a quadword at a
 * time: in the instruction emulator every instruction counts. */
typedef uint64_t u64_una __attribute__((aligned(1), may_alias));

static uint32_t put(uint8_t *buf, uint32_t off, const uint8_t *src, uint32_t len)
{
	uint32_t k;

	for (k = 0; k + 8 <= len; k += 8) {
		*(volatile uint64_t *)(buf + off) = src ? *(const u64_una *)(src + k) : 0;
		off += 8;
		if (off == RING_SIZE)
			off = 0;
	}
	if (k < len) { /* the tail of the data, zero-padded to the quadword */
		uint64_t q = 0;
		uint32_t i;

		for (i = 0; src && k + i < len; i++)
			q |= (uint64_t)src[k + i] << (8 * i);
		*(volatile uint64_t *)(buf + off) = q;
		off += 8;
		if (off == RING_SIZE)
			off = 0;
	}
	return off;
}

static uint32_t get(const uint8_t *buf, uint32_t off, uint8_t *dst, uint32_t len)
{
	uint32_t k;

	for (k = 0; k < len; k += 8) {
		*(u64_una *)(dst + k) = *(const volatile uint64_t *)(buf + off);
		off += 8;
		if (off == RING_SIZE)
			off = 0;
	}
	return off;
}

/* One packet: descriptor, then hlen bytes of header (GPA ranges, 8-aligned), then data. */
static int ring_send_hdr(unsigned i, uint16_t type, uint16_t flags, const uint8_t *hdr,
			 uint32_t hlen, const void *data, uint32_t len, uint64_t trans)
{
	volatile uint32_t *wi = (volatile uint32_t *)rings[i][0];
	volatile uint32_t *ri = wi + 1;
	uint8_t *buf = rings[i][1];
	uint32_t w = *wi, r = *ri, plen = 16 + hlen + ((len + 7) & ~7u), off;
	uint32_t avail = w >= r ? RING_SIZE - (w - r) : r - w;
	uint8_t desc[16], tail[8];

	if (plen + 8 >= avail)
		return -1;
	wr16(desc, type);
	wr16(desc + 2, (uint16_t)((16 + hlen) / 8));
	wr16(desc + 4, (uint16_t)(plen / 8));
	wr16(desc + 6, flags);
	wr64(desc + 8, trans);
	off = put(buf, w, desc, 16);
	if (hlen)
		off = put(buf, off, hdr, hlen);
	off = put(buf, off, data, len); /* pads to plen */
	wr64(tail, (uint64_t)w << 32);
	off = put(buf, off, tail, 8);
	barrier_full();
	*wi = off;
	barrier_full();
	/* As Linux's hv_signal_on_write: not while the host masks the ring (it is polling it),
	 * and only when the ring was empty (the host may be asleep on it). */
	if (!wi[2] && w == *ri)
		hv_signal(ch[i].conn_id);
	return 0;
}

static int ring_send(unsigned i, uint16_t type, const void *data, uint32_t len, uint64_t trans)
{
	return ring_send_hdr(i, type, 0, NULL, 0, data, len, trans);
}

static int send(unsigned i, const void *data, uint32_t len, uint64_t trans)
{
	return ring_send(i, PKT_INBAND, data, len, trans);
}

/* One packet from the host-to-guest ring into pkt: its length, 0 none, -1 broken. */
static int ring_recv(unsigned i)
{
	volatile uint32_t *wi = (volatile uint32_t *)rings[i][RING_PAGES];
	volatile uint32_t *ri = wi + 1;
	const uint8_t *buf = rings[i][RING_PAGES + 1];
	uint32_t w = *wi, r = *ri, avail, plen, off;

	if (w == r)
		return 0;
	if (w >= RING_SIZE || r >= RING_SIZE)
		return -1;
	avail = w > r ? w - r : RING_SIZE - r + w;
	off = get(buf, r, pkt, 16);
	plen = (uint32_t)rd16(pkt + 4) * 8;
	if (plen < 16 || plen + 8 > avail || plen > sizeof(pkt))
		return -1;
	(void)get(buf, off, pkt + 16, plen - 16);
	barrier_full();
	*ri = (r + plen + 8) % RING_SIZE;
	return (int)plen;
}

void vmbus_balloon_send(const void *d, uint32_t len)
{
	unsigned tries;

	/* The host drains the ring on every signal: a full ring empties quickly. */
	for (tries = 0; ch[SVC_BALLOON].open && tries < 1000; tries++) {
		if (send(SVC_BALLOON, d, len, 0) == 0)
			return;
		hv_signal(ch[SVC_BALLOON].conn_id);
	}
}

static int drain(unsigned i)
{
	int n, action = 0;

	while ((n = ring_recv(i)) > 0) {
		uint32_t off = (uint32_t)rd16(pkt + 2) * 8, reply;
		int a = 0;

		if (off > (uint32_t)n)
			continue;
		if (i == SVC_BALLOON) {
			balloon_packet(pkt + off, (uint32_t)n - off);
			continue;
		}
		reply = ic_answer((int)i, pkt + off, (uint32_t)n - off, &a);
		if (reply)
			(void)send(i, pkt + off, reply, rd64(pkt + 8));
		if (a)
			action = a;
	}
	return action;
}

/* Linux on a rescind: close, tear the GPADL down, give the relid back. */
static void let_go(unsigned i)
{
	uint8_t m[16];

	memset(m, 0, sizeof(m));
	if (ch[i].open) {
		wr32(m, MSG_CLOSECHANNEL);
		wr32(m + 8, ch[i].relid);
		post(m, 12);
		wr32(m, MSG_GPADL_TEARDOWN);
		wr32(m + 12, ch[i].gpadl);
		post(m, 16);
	}
	wr32(m, MSG_RELID_RELEASED);
	wr32(m + 8, ch[i].relid);
	post(m, 12);
	ch[i].open = ch[i].offered = ch[i].rescinded = 0;
}

int vmbus_poll(void)
{
	uint8_t m[240];
	unsigned i;
	int n, action = 0, a;

	while ((n = msg_take(m)) >= 0)
		async_msg(m, n);
	for (i = 0; i < SVC_COUNT; i++) {
		if (ch[i].rescinded)
			let_go(i);
		if (i == SVC_ECHO || i >= SVC_SCSI) /* the loopback and the disks are served by their clients */
			continue;
		if (ch[i].offered && !ch[i].open && !ch[i].misbehave_target)
			(void)open_channel(i);
		if (ch[i].open && (a = drain(i)))
			action = a;
	}
	balloon_poll();
	return action;
}

/* On purpose, for tests (hvguest.misbehave=1): everything a hostile guest could send, each
 * of which the host must refuse and count while the other channels keep working. */
static void misbehave(void)
{
	uint8_t m[240];
	uint64_t pfns[CH_PAGES];
	volatile uint32_t *wi;
	unsigned k;

	memset(m, 0, sizeof(m));
	wr32(m, 99); /* unknown message type */
	post(m, 8);
	wr32(m, MSG_OPENCHANNEL); /* too short for its fields */
	post(m, 12);
	wr32(m, MSG_GPADL_BODY);
	post(m, 8);
	(void)hv_post(msg_conn, m, 300); /* payload larger than a message */
	(void)hv_signal(0xabcdef);       /* nobody's connection id */
	if (ch[SVC_KVP].offered && !ch[SVC_KVP].open) {
		/* A GPADL over pages far outside guest RAM: refused with a failed status. */
		for (k = 0; k < CH_PAGES; k++)
			pfns[k] = 0xfffff000ULL + k;
		(void)gpadl_create(ch[SVC_KVP].relid, next_gpadl++, pfns, CH_PAGES);
		/* Good pages, but a ring with its write index far out of range, then a ring
		 * split past the GPADL's end: both opens refused. */
		for (k = 0; k < CH_PAGES; k++)
			pfns[k] = (uint64_t)(uintptr_t)rings[SVC_KVP][k] >> 12;
		ch[SVC_KVP].gpadl = next_gpadl++;
		wr32(rings[SVC_KVP][0], 0x7ffffff8);
		if (gpadl_create(ch[SVC_KVP].relid, ch[SVC_KVP].gpadl, pfns, CH_PAGES) == 0) {
			(void)open_msg(ch[SVC_KVP].relid, ch[SVC_KVP].gpadl, RING_PAGES);
			(void)open_msg(ch[SVC_KVP].relid, ch[SVC_KVP].gpadl, 100);
		}
		ch[SVC_KVP].misbehave_target = 1;
	}
	/* A packet of an unknown type on the heartbeat: counted, the channel lives on. */
	if (ch[SVC_HEARTBEAT].open)
		(void)ring_send(SVC_HEARTBEAT, 0x55, m, 16, 1);
	/* Garbage in the time-sync ring: a descriptor longer than the ring. The host gives
	 * up on that channel only. */
	if (ch[SVC_TIMESYNC].open) {
		wi = (volatile uint32_t *)rings[SVC_TIMESYNC][0];
		memset(m, 0xee, 16);
		(void)put(rings[SVC_TIMESYNC][1], *wi, m, 16);
		barrier_full();
		*wi = (*wi + 24) % RING_SIZE;
		hv_signal(ch[SVC_TIMESYNC].conn_id);
		ch[SVC_TIMESYNC].misbehave_target = 1;
		ch[SVC_TIMESYNC].open = 0;
	}
	con_puts("hvguest: misbehaved\n");
}

/* hvguest.vmbusbench=N: N round trips of a 64-byte packet through the loopback channel,
 * then N 1 KiB packets one way and one round trip to see them all taken. Times come from
 * the partition reference counter (100 ns) and measure the instruction emulator as much as
 * the VMM. */
static void bench(uint64_t n)
{
	uint8_t d[STREAM_LEN];
	uint64_t t0, t1, t2, i;

	if (!ch[SVC_ECHO].open) {
		con_puts("hvguest: vmbusbench no loopback channel\n");
		return;
	}
	memset(d, 0, sizeof(d));
	t0 = hv_ref_time();
	for (i = 0; i < n; i++) {
		wr32(d, 1);
		if (send(SVC_ECHO, d, ECHO_LEN, i) < 0)
			break;
		while (ring_recv(SVC_ECHO) == 0)
			irq_wait(&seen);
	}
	t1 = hv_ref_time();
	wr32(d, 0);
	for (i = 0; i < n; i++)
		while (send(SVC_ECHO, d, STREAM_LEN, i) < 0)
			hv_signal(ch[SVC_ECHO].conn_id);
	wr32(d, 1);
	(void)send(SVC_ECHO, d, ECHO_LEN, n);
	while (ring_recv(SVC_ECHO) == 0)
		irq_wait(&seen);
	t2 = hv_ref_time();
	con_puts("hvguest: vmbusbench n=");
	con_putu(n);
	con_puts(" rtt_ns=");
	con_putu(n && t1 > t0 ? (t1 - t0) * 100 / n : 0);
	con_puts(" stream_kib_s=");
	con_putu(t2 > t1 ? n * STREAM_LEN * 10000000ULL / (t2 - t1) / 1024 : 0);
	con_puts("\n");
}

/* For the storage client (storage.c). */
int vmbus_scsi_channel(unsigned k, unsigned *controller)
{
	if (k >= VMBUS_SCSI_MAX || !ch[SVC_SCSI + k].open)
		return -1;
	*controller = ch[SVC_SCSI + k].instance_last;
	return (int)(SVC_SCSI + k);
}

int vmbus_chan_send(unsigned i, const void *data, uint32_t len, uint64_t trans)
{
	return ring_send_hdr(i, PKT_INBAND, 1, NULL, 0, data, len, trans);
}

/* VM_PKT_DATA_USING_GPA_DIRECT: reserved, one range (byte count, offset, pfns), data. */
int vmbus_chan_send_gpa(unsigned i, const void *data, uint32_t len, uint64_t trans,
			uint32_t buf_off, uint32_t buf_len, const uint64_t *pfns, unsigned n)
{
	uint8_t hdr[16 + 8 * VMBUS_MAX_PFNS];
	unsigned k;

	if (n > VMBUS_MAX_PFNS)
		return -1;
	wr32(hdr, 0);
	wr32(hdr + 4, 1);
	wr32(hdr + 8, buf_len);
	wr32(hdr + 12, buf_off);
	for (k = 0; k < n; k++)
		wr64(hdr + 16 + 8 * k, pfns[k]);
	return ring_send_hdr(i, PKT_GPA_DIRECT, 1, hdr, 16 + 8 * n, data, len, trans);
}

int vmbus_chan_recv(unsigned i, const uint8_t **data, uint32_t *len, uint64_t *trans)
{
	int n = ring_recv(i);
	uint32_t off;

	if (n <= 0)
		return n;
	off = (uint32_t)rd16(pkt + 2) * 8;
	if (off > (uint32_t)n)
		return -1;
	*data = pkt + off;
	*len = (uint32_t)n - off;
	*trans = rd64(pkt + 8);
	return 1;
}

void vmbus_chan_poll_mode(unsigned i, int on)
{
	volatile uint32_t *hdr = (volatile uint32_t *)rings[i][RING_PAGES];

	hdr[2] = on ? 1 : 0; /* interrupt_mask of the host-to-guest ring */
	barrier_full();
}

void vmbus_wait(void)
{
	irq_wait(&seen);
}

int vmbus_start(const struct vmbus_opts *o)
{
	uint8_t m[240];
	unsigned i, opened = 0;
	int v;

	irq_init();
	if (hv_setup(IRQ_SINT_VECTOR) < 0)
		return -1;
	__asm__ volatile("sti");
	v = contact();
	if (v < 0) {
		con_puts("hvguest: vmbus no version\n");
		return -1;
	}
	memset(m, 0, 8);
	wr32(m, MSG_REQUESTOFFERS);
	post(m, 8);
	(void)wait_for(MSG_ALLOFFERS_DELIVERED, m);
	for (i = 0; i < SVC_COUNT; i++) {
		if (!ch[i].offered || (o->misbehave && i == SVC_KVP))
			continue;
		if (open_channel(i) == 0)
			opened++;
	}
	con_puts("hvguest: vmbus version=");
	con_putu(versions[v] >> 16);
	con_puts(".");
	con_putu(versions[v] & 0xffff);
	con_puts(" channels=");
	con_putu(opened);
	con_puts("\n");
	if (o->misbehave)
		misbehave();
	if (o->bench)
		bench(o->bench);
	return 0;
}
