/* The simulated guest (sim-guest.h): vmbus-hostbench's setup, with rings big enough for a
 * few outstanding storvsc requests, packets of any VMBus type, and storvsc on top. */
#include "config.h"

#include <errno.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tests/hvcore/sim-guest.h"

#define SIMP 0x1000u
#define SIEFP 0x2000u
#define RING 0x10000u /* guest-to-host header + RPAGES, then host-to-guest header + RPAGES */
#define RPAGES 4u
#define RSIZE (RPAGES * 4096u)
#define GPADL 0x100u

#define PKT_INBAND 6
#define PKT_GPA_DIRECT 9
#define VSTOR_PKT 64
#define SRB 12 /* the vmscsi_request inside the vstor_packet */

static void msr(struct sim_guest *g, uint32_t index, uint64_t value)
{
	(void)hv_hyperv_msr(&g->vcpu, true, index, &value);
}

/* Posts a message and takes every message the host answered with (nothing reads them). */
static void post(struct sim_guest *g, const void *m, uint32_t len)
{
	int i;

	pthread_mutex_lock(&g->p->hv->lock);
	(void)hv_vmbus_post(g->p, 4, m, len);
	pthread_mutex_unlock(&g->p->hv->lock);
	for (i = 0; i < 16; i++) {
		memset(g->p->ram + SIMP + HV_VMBUS_SINT * HV_MSG_SIZE, 0, 4);
		msr(g, 0x40000084, 0); /* EOM */
	}
}

uint8_t *sim_guest_ram(struct sim_guest *g, uint64_t gpa)
{
	return g->p->ram + gpa;
}

void sim_guest_free(struct sim_guest *g)
{
	if (!g)
		return;
	if (g->p) {
		hv_hyperv_destroy(g->p);
		free(g->p->ram);
		free(g->p);
	}
	free(g);
}

int sim_guest_new(const struct hv_partition_config *cfg, struct sim_guest **out, char *why,
		  size_t why_len)
{
	struct hv_partition_config c = *cfg;
	struct sim_guest *g = calloc(1, sizeof(*g));
	struct hv_partition *p = calloc(1, sizeof(*p));
	uint8_t m[240];
	unsigned i;
	int r = -ENOMEM;

	*out = NULL;
	if (g)
		g->p = p;
	if (!g || !p || !(p->ram = calloc(1, SIM_RAM)) || !(p->hv = calloc(1, sizeof(*p->hv))) ||
	    !(p->hv->synic = calloc(1, sizeof(*p->hv->synic))))
		goto out;
	c.vcpus = 1;
	c.why = why;
	c.why_len = why_len;
	p->kvm_fd = p->vm_fd = -1;
	p->nvcpus = 1;
	p->mem_bytes = p->ram_low = SIM_RAM;
	pthread_mutex_init(&p->hv->lock, NULL);
	p->hv->on = true;
	r = hv_vmbus_init(p, &c);
	if (r)
		goto out;
	g->vcpu.p = p;
	msr(g, 0x40000000, 1);         /* guest OS id */
	msr(g, 0x40000083, SIMP | 1);
	msr(g, 0x40000082, SIEFP | 1);
	msr(g, 0x40000092, 0x50);      /* SINT2 */
	msr(g, 0x40000080, 1);         /* SCONTROL */
	memset(m, 0, sizeof(m));
	hv_put32(m, 14); /* INITIATE_CONTACT 5.3 */
	hv_put32(m + 8, 0x50003);
	m[16] = HV_VMBUS_SINT;
	post(g, m, 40);
	memset(m, 0, sizeof(m));
	hv_put32(m, 3); /* REQUESTOFFERS */
	post(g, m, 8);
	memset(m, 0, sizeof(m));
	hv_put32(m, 8); /* GPADL_HEADER: one range over both rings */
	hv_put32(m + 8, 1);
	hv_put32(m + 12, GPADL);
	hv_put16(m + 16, (uint16_t)(8 + 2 * (RPAGES + 1) * 8));
	hv_put16(m + 18, 1);
	hv_put32(m + 20, 2 * (RPAGES + 1) * 4096);
	for (i = 0; i < 2 * (RPAGES + 1); i++)
		hv_put64(m + 28 + 8 * i, RING / 4096 + i);
	post(g, m, 28 + 2 * (RPAGES + 1) * 8);
	memset(m, 0, sizeof(m));
	hv_put32(m, 5); /* OPENCHANNEL */
	hv_put32(m + 8, 1);
	hv_put32(m + 16, GPADL);
	hv_put32(m + 24, RPAGES + 1);
	post(g, m, 148);
	r = -ENOTCONN;
	for (i = 0; i < HV_MAX_CHANNELS; i++) {
		const struct hv_channel *ch = p->hv->vmbus.chan[i];

		if (ch && ch->sent && ch->relid == 1 && ch->state == HV_CHANNEL_OPEN)
			r = 0;
	}
out:
	if (r) {
		sim_guest_free(g);
		return r;
	}
	*out = g;
	return 0;
}

/* Ring copies with wrap-around, memcpy in at most two pieces, as Linux's ring code does. */
static uint32_t ring_put(uint8_t *buf, uint32_t off, const void *src, uint32_t n)
{
	uint32_t first = n < RSIZE - off ? n : RSIZE - off;

	if (!n)
		return off;
	memcpy(buf + off, src, first);
	memcpy(buf, (const uint8_t *)src + first, n - first);
	return (off + n) % RSIZE;
}

static void ring_get(const uint8_t *buf, uint32_t off, void *dst, uint32_t n)
{
	uint32_t first = n < RSIZE - off ? n : RSIZE - off;

	memcpy(dst, buf + off, first);
	memcpy((uint8_t *)dst + first, buf, n - first);
}

/* One packet into the guest-to-host ring: descriptor, hdr (the rest of a GPA-direct
 * header), data, padding, the 8-byte trailer; then HvSignalEvent. -EAGAIN when full. */
static int send_pkt(struct sim_guest *g, uint16_t type, const void *hdr, uint32_t hlen,
		    const void *data, uint32_t len, uint64_t trans)
{
	uint8_t *rh = g->p->ram + RING, *buf = rh + 4096, desc[16], tail[16] = { 0 };
	uint32_t w = hv_get32(rh), rd = __atomic_load_n((uint32_t *)(rh + 4), __ATOMIC_ACQUIRE);
	uint32_t body = 16 + hlen + len, plen = (body + 7) & ~7u, off;
	uint32_t used = (w - rd + RSIZE) % RSIZE;

	if (used + plen + 8 >= RSIZE)
		return -EAGAIN;
	hv_put16(desc, type);
	hv_put16(desc + 2, (uint16_t)((16 + hlen) / 8));
	hv_put16(desc + 4, (uint16_t)(plen / 8));
	hv_put16(desc + 6, 1); /* completion requested */
	hv_put64(desc + 8, trans);
	off = ring_put(buf, w, desc, 16);
	off = ring_put(buf, off, hdr, hlen);
	off = ring_put(buf, off, data, len);
	/* the padding to 8 bytes, then the 8-byte trailer: the old write index in its high half */
	hv_put32(tail + (plen - body) + 4, w);
	off = ring_put(buf, off, tail, plen - body + 8);
	__atomic_store_n((uint32_t *)rh, off, __ATOMIC_RELEASE);
	/* As Linux's hv_signal_on_write: not while the host masks the ring (it polls), and
	 * only when the ring was empty (else the host is still at it). */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (__atomic_load_n((uint32_t *)(rh + 8), __ATOMIC_ACQUIRE) ||
	    w != __atomic_load_n((uint32_t *)(rh + 4), __ATOMIC_ACQUIRE))
		return 0;
	g->signals++;
	pthread_mutex_lock(&g->p->hv->lock);
	(void)hv_vmbus_signal(g->p, 0x10001);
	pthread_mutex_unlock(&g->p->hv->lock);
	return 0;
}

/* The next host-to-guest packet's payload (after its descriptor) into d, at most max bytes:
 * its length, 0 none, -EPROTO garbage. */
static int recv_pkt(struct sim_guest *g, uint8_t *d, uint32_t max, uint64_t *trans)
{
	uint8_t *rh = g->p->ram + RING + (RPAGES + 1) * 4096, *buf = rh + 4096, desc[16];
	uint32_t w = __atomic_load_n((uint32_t *)rh, __ATOMIC_ACQUIRE), r = hv_get32(rh + 4);
	uint32_t off8, len8;

	if (w == r)
		return 0;
	ring_get(buf, r, desc, 16);
	off8 = (uint32_t)hv_get16(desc + 2) * 8;
	len8 = (uint32_t)hv_get16(desc + 4) * 8;
	if (off8 < 16 || len8 < off8 || len8 - off8 > max || len8 + 8 > RSIZE)
		return -EPROTO;
	ring_get(buf, (r + off8) % RSIZE, d, len8 - off8);
	*trans = hv_get64(desc + 8);
	__atomic_store_n((uint32_t *)(rh + 4), (r + len8 + 8) % RSIZE, __ATOMIC_RELEASE);
	return (int)(len8 - off8);
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* A non-SRB storvsc operation, answered at once by the vCPU path: its status, or -1. */
static int64_t vstor_op(struct sim_guest *g, uint32_t op, uint16_t version)
{
	uint8_t p[VSTOR_PKT], d[VSTOR_PKT];
	uint64_t trans;

	memset(p, 0, sizeof(p));
	hv_put32(p, op);
	hv_put32(p + 4, 1);
	hv_put16(p + 12, version);
	if (send_pkt(g, PKT_INBAND, NULL, 0, p, sizeof(p), ++g->trans) ||
	    recv_pkt(g, d, sizeof(d), &trans) != VSTOR_PKT || trans != g->trans || hv_get32(d) != 1)
		return -1;
	return hv_get32(d + 8);
}

void sim_guest_tick(struct sim_guest *g)
{
	pthread_mutex_lock(&g->p->hv->lock);
	hv_vmbus_tick(g->p, hv_now_ns());
	pthread_mutex_unlock(&g->p->hv->lock);
}

void sim_guest_poll_completions(struct sim_guest *g, bool on)
{
	__atomic_store_n((uint32_t *)(g->p->ram + RING + (RPAGES + 1) * 4096 + 8), on,
			 __ATOMIC_SEQ_CST);
}

int sim_scsi_init(struct sim_guest *g)
{
	if (vstor_op(g, 7, 0) != 0 || vstor_op(g, 9, 0x0602) != 0 || vstor_op(g, 10, 0) != 0 ||
	    vstor_op(g, 8, 0) != 0)
		return -EPROTO;
	return 0;
}

uint64_t sim_scsi_submit(struct sim_guest *g, unsigned lun, const uint8_t *cdb, unsigned cdb_len,
			 uint64_t gpa, uint32_t len)
{
	uint8_t p[VSTOR_PKT], hdr[16 + 8 * 130];
	uint32_t off = (uint32_t)(gpa & 4095), n = (off + len + 4095) / 4096, k;
	uint64_t t = ++g->trans;

	memset(p, 0, sizeof(p));
	hv_put32(p, 3); /* EXECUTE_SRB */
	hv_put32(p + 4, 1);
	hv_put16(p + SRB, 52);
	p[SRB + 7] = (uint8_t)lun;
	p[SRB + 8] = (uint8_t)cdb_len;
	p[SRB + 9] = 20;
	hv_put32(p + SRB + 12, len);
	memcpy(p + SRB + 16, cdb, cdb_len > 16 ? 16 : cdb_len);
	if (!len || n > 130) {
		while (send_pkt(g, PKT_INBAND, NULL, 0, p, sizeof(p), t) == -EAGAIN)
			if (g->nowait)
				return 0;
		return t;
	}
	hv_put32(hdr, 0);     /* reserved */
	hv_put32(hdr + 4, 1); /* one range */
	hv_put32(hdr + 8, len);
	hv_put32(hdr + 12, off);
	for (k = 0; k < n; k++)
		hv_put64(hdr + 16 + 8 * k, gpa / 4096 + k);
	while (send_pkt(g, PKT_GPA_DIRECT, hdr, 16 + 8 * n, p, sizeof(p), t) == -EAGAIN)
		if (g->nowait)
			return 0;
	return t;
}

int sim_scsi_poll(struct sim_guest *g, struct sim_srb_res *res)
{
	uint8_t d[VSTOR_PKT];
	int n = recv_pkt(g, d, sizeof(d), &res->trans);

	if (n <= 0)
		return n;
	if (n != VSTOR_PKT || hv_get32(d) != 1)
		return -EPROTO;
	res->srb_status = d[SRB + 2];
	res->scsi_status = d[SRB + 3];
	res->xfer = hv_get32(d + SRB + 12);
	res->sense_key = res->scsi_status == 2 ? (d[SRB + 16 + 2] & 15) : 0;
	return 1;
}

int sim_scsi_wait(struct sim_guest *g, struct sim_srb_res *res)
{
	uint64_t until = 0;
	unsigned n = 0;
	int r;

	/* Spinning, and yielding now and then, as a vCPU that halts would: the host's threads
	 * may need this CPU. The clock is read only once there is something to wait for (the
	 * fast path's completion is usually in the ring already). */
	while ((r = sim_scsi_poll(g, res)) == 0) {
		if (!until)
			until = now_ns() + 10000000000u;
		else if (now_ns() > until)
			return -ETIMEDOUT;
		if (++n % 32 == 0)
			sched_yield();
		else
			__builtin_ia32_pause();
	}
	return r < 0 ? r : 0;
}

uint64_t sim_scsi_rw_submit(struct sim_guest *g, unsigned lun, bool write, uint64_t lba,
			    uint32_t nblocks, uint32_t lbs, uint64_t gpa)
{
	uint8_t cdb[16];
	int k;

	memset(cdb, 0, sizeof(cdb));
	cdb[0] = write ? 0x8a : 0x88;
	for (k = 0; k < 8; k++)
		cdb[2 + k] = (uint8_t)(lba >> (56 - 8 * k));
	for (k = 0; k < 4; k++)
		cdb[10 + k] = (uint8_t)(nblocks >> (24 - 8 * k));
	return sim_scsi_submit(g, lun, cdb, 16, gpa, nblocks * lbs);
}

int sim_scsi_rw(struct sim_guest *g, unsigned lun, bool write, uint64_t lba, uint32_t nblocks,
		uint32_t lbs, uint64_t gpa, struct sim_srb_res *res)
{
	uint64_t t = sim_scsi_rw_submit(g, lun, write, lba, nblocks, lbs, gpa);
	int r = sim_scsi_wait(g, res);

	if (r)
		return r;
	return res->trans == t && res->srb_status == 1 && res->scsi_status == 0 &&
			       res->xfer == nblocks * lbs
		       ? 0
		       : -EIO;
}
