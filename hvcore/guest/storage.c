/* hvguest: a storage client that speaks to the synthetic SCSI controller the way Linux's
 * hv_storvsc does (drivers/scsi/storvsc_drv.c): BEGIN_INITIALIZATION, QUERY_PROTOCOL_VERSION
 * 6.2, 6.0, 5.1, QUERY_PROPERTIES, END_INITIALIZATION, then EXECUTE_SRB, inband without data
 * and as a GPA-direct packet (one page range) with data. Per controller: REPORT LUNS; per
 * disk: INQUIRY, VPD page 0x83, READ CAPACITY (16), and one line
 *   hvguest: disk C:L size=BYTES
 * (C the controller number, L the location, i.e. the LUN). With hvguest.disktest=1 the
 * line ends in test=ok or test=fail WHY, after:
 *   - a 4 KiB pattern written at NPOINTS places spread over the whole disk: offset 0, every
 *     size/NPOINTS (rounded down to 4 KiB) and the last 4 KiB; one 64 KiB write from a
 *     buffer that starts 512 bytes into a page (17 pages) at size/2;
 *   - all of it read back and compared, SYNCHRONIZE CACHE (then "hvguest: disk C:L
 *     flushed"), UNMAP of the 4 KiB at point 1, which must then read as zeros, and a last
 *     SYNCHRONIZE CACHE.
 * Every 8-byte word holds pattern(disk offset): tests compute what the image must hold.
 * Requests go one at a time (queue depth 1): the guest runs in an instruction emulator,
 * where the host is never the bottleneck; only hvguest.udiskbench, in user mode, keeps
 * several in flight. */
#include "hvcore/guest/vmbus.h"

#define NPOINTS 64
#define CHUNK 4096
#define BIG (64 * 1024)
#define PAT_MUL 0x9e3779b97f4a7c15ULL

enum {
	VSTOR_COMPLETE_IO = 1,
	VSTOR_EXECUTE_SRB = 3,
	VSTOR_BEGIN_INIT = 7,
	VSTOR_END_INIT = 8,
	VSTOR_QUERY_VERSION = 9,
	VSTOR_QUERY_PROPERTIES = 10,
};

#define SRB 12 /* the vmscsi_request inside the 64-byte vstor_packet */
#define SRB_SUCCESS 0x01
#define SRB_INVALID_REQUEST 0x06
#define SRB_INVALID_LUN 0x20
#define SRB_AUTOSENSE_VALID 0x80
#define CHECK_CONDITION 0x02
#define DATA_WRITE 0
#define DATA_READ 1
#define DATA_NONE 2

struct ctl {
	int ch;
	unsigned num;
	uint64_t trans;
};

struct res {
	uint8_t srb_status, scsi_status, key, asc;
	uint32_t xfer;
};

static uint8_t data[BIG + 2 * 4096] __attribute__((aligned(4096)));

static uint64_t pattern(uint64_t off, uint64_t salt)
{
	return (off ^ salt) * PAT_MUL;
}

/* One request sent, as transaction trans. buf/len the data buffer (any alignment, at most 17
 * pages). */
static int send_srb(struct ctl *c, unsigned lun, const uint8_t *cdb, unsigned cdb_len,
		    uint8_t *buf, uint32_t len, int dir, uint64_t trans)
{
	uint8_t p[64];
	uint64_t pfns[VMBUS_MAX_PFNS];
	uint32_t off = (uint32_t)((uintptr_t)buf & 4095), n = (off + len + 4095) / 4096, k;

	memset(p, 0, sizeof(p));
	wr32(p, VSTOR_EXECUTE_SRB);
	wr32(p + 4, 1); /* REQUEST_COMPLETION_FLAG */
	wr16(p + SRB, 52);
	p[SRB + 6] = 0;   /* target */
	p[SRB + 7] = (uint8_t)lun;
	p[SRB + 8] = (uint8_t)cdb_len;
	p[SRB + 9] = 20;  /* sense buffer */
	p[SRB + 10] = (uint8_t)dir;
	wr32(p + SRB + 12, len);
	memcpy(p + SRB + 16, cdb, cdb_len > 16 ? 16 : cdb_len);
	wr32(p + SRB + 40, dir == DATA_READ ? 0x40 : dir == DATA_WRITE ? 0x80 : 0); /* srb_flags */
	wr32(p + SRB + 44, 60);                                                     /* timeout */
	if (!len)
		return vmbus_chan_send((unsigned)c->ch, p, 64, trans);
	for (k = 0; k < n; k++)
		pfns[k] = ((uint64_t)(uintptr_t)buf >> 12) + k;
	return vmbus_chan_send_gpa((unsigned)c->ch, p, 64, trans, off, len, pfns, n);
}

/* The result in a COMPLETE_IO (d, at least 64 bytes). */
static void res_of(const uint8_t *d, struct res *r)
{
	r->srb_status = d[SRB + 2];
	r->scsi_status = d[SRB + 3];
	r->xfer = rd32(d + SRB + 12);
	r->key = r->asc = 0;
	if (r->scsi_status == CHECK_CONDITION && (r->srb_status & SRB_AUTOSENSE_VALID)) {
		r->key = d[SRB + 16 + 2] & 15;
		r->asc = d[SRB + 16 + 12];
	}
}

/* One request, waited for (send_srb's buffer rules). */
static int exec(struct ctl *c, unsigned lun, const uint8_t *cdb, unsigned cdb_len, uint8_t *buf,
		uint32_t len, int dir, struct res *r)
{
	uint64_t want = ++c->trans, trans;
	const uint8_t *d;
	uint32_t dlen;
	int e;

	if (send_srb(c, lun, cdb, cdb_len, buf, len, dir, want) < 0)
		return -1;
	for (;;) {
		e = vmbus_chan_recv((unsigned)c->ch, &d, &dlen, &trans);
		if (e < 0)
			return -1;
		if (e == 0) {
			vmbus_wait();
			continue;
		}
		if (trans == want && dlen >= 64 && rd32(d) == VSTOR_COMPLETE_IO)
			break;
	}
	res_of(d, r);
	return 0;
}

static int ok(const struct res *r)
{
	return r->srb_status == SRB_SUCCESS && r->scsi_status == 0;
}

/* A non-SRB operation: its COMPLETE_IO's status, or -1. */
static int64_t vstor_op(struct ctl *c, uint32_t op, uint16_t version)
{
	uint8_t p[64];
	uint64_t want = ++c->trans, trans;
	const uint8_t *d;
	uint32_t dlen;
	int e;

	memset(p, 0, sizeof(p));
	wr32(p, op);
	wr32(p + 4, 1);
	wr16(p + 12, version);
	if (vmbus_chan_send((unsigned)c->ch, p, 64, want) < 0)
		return -1;
	for (;;) {
		e = vmbus_chan_recv((unsigned)c->ch, &d, &dlen, &trans);
		if (e < 0)
			return -1;
		if (e == 0) {
			vmbus_wait();
			continue;
		}
		if (trans == want && dlen >= 64)
			break;
	}
	if (rd32(d) != VSTOR_COMPLETE_IO)
		return -1;
	return rd32(d + 8);
}

static int negotiate(struct ctl *c)
{
	static const uint16_t versions[] = { 0x0602, 0x0600, 0x0501 };
	unsigned i;

	if (vstor_op(c, VSTOR_BEGIN_INIT, 0) != 0)
		return -1;
	for (i = 0; i < 3; i++)
		if (vstor_op(c, VSTOR_QUERY_VERSION, versions[i]) == 0)
			break;
	if (i == 3 || vstor_op(c, VSTOR_QUERY_PROPERTIES, 0) != 0 ||
	    vstor_op(c, VSTOR_END_INIT, 0) != 0)
		return -1;
	return 0;
}

static void cdb16(uint8_t *cdb, uint8_t op, uint64_t lba, uint32_t n)
{
	unsigned i;

	memset(cdb, 0, 16);
	cdb[0] = op;
	for (i = 0; i < 8; i++)
		cdb[2 + i] = (uint8_t)(lba >> (56 - 8 * i));
	for (i = 0; i < 4; i++)
		cdb[10 + i] = (uint8_t)(n >> (24 - 8 * i));
}

static void cdb10(uint8_t *cdb, uint8_t op, uint32_t lba, uint16_t n)
{
	memset(cdb, 0, 10);
	cdb[0] = op;
	cdb[2] = (uint8_t)(lba >> 24);
	cdb[3] = (uint8_t)(lba >> 16);
	cdb[4] = (uint8_t)(lba >> 8);
	cdb[5] = (uint8_t)lba;
	cdb[7] = (uint8_t)(n >> 8);
	cdb[8] = (uint8_t)n;
}

static uint64_t be(const uint8_t *b, unsigned n)
{
	uint64_t v = 0;
	unsigned i;

	for (i = 0; i < n; i++)
		v = v << 8 | b[i];
	return v;
}

struct disk {
	struct ctl *c;
	unsigned lun;
	uint64_t size;
	uint32_t lbs;
	uint64_t salt;
};

/* The first disk found: hvguest.counter=1 keeps its disk counter there. */
static struct ctl *first_ctl;
static struct disk first_disk;

static void put_name(const struct disk *d)
{
	con_puts("hvguest: disk ");
	con_putu(d->c->num);
	con_puts(":");
	con_putu(d->lun);
}

/* A region [off, off + len) of the disk through READ or WRITE (16, or 10 when ten). */
static int io(struct disk *d, int write, uint64_t off, uint8_t *buf, uint32_t len, int ten)
{
	uint8_t cdb[16];
	struct res r;

	if (ten)
		cdb10(cdb, write ? 0x2a : 0x28, (uint32_t)(off / d->lbs), (uint16_t)(len / d->lbs));
	else
		cdb16(cdb, write ? 0x8a : 0x88, off / d->lbs, len / d->lbs);
	if (exec(d->c, d->lun, cdb, ten ? 10 : 16, buf, len, write ? DATA_WRITE : DATA_READ, &r))
		return -1;
	return ok(&r) && r.xfer == len ? 0 : -1;
}

static void fill(const struct disk *d, uint64_t off, uint8_t *buf, uint32_t len)
{
	uint32_t k;

	for (k = 0; k < len; k += 8)
		*(uint64_t *)(void *)(buf + k) = pattern(off + k, d->salt);
}

static int check(const struct disk *d, uint64_t off, const uint8_t *buf, uint32_t len, int zero)
{
	uint32_t k;

	for (k = 0; k < len; k += 8)
		if (*(const uint64_t *)(const void *)(buf + k) != (zero ? 0 : pattern(off + k, d->salt)))
			return -1;
	return 0;
}

static uint64_t point(const struct disk *d, unsigned i, unsigned n)
{
	uint64_t stride = (d->size / n) & ~(uint64_t)(CHUNK - 1);

	return i == n - 1 ? d->size - CHUNK : i * stride;
}

static int sync_cache(struct disk *d)
{
	uint8_t cdb[10];
	struct res r;

	memset(cdb, 0, sizeof(cdb));
	cdb[0] = 0x35;
	return exec(d->c, d->lun, cdb, 10, NULL, 0, DATA_NONE, &r) == 0 && ok(&r) ? 0 : -1;
}

static const char *disktest(struct disk *d)
{
	uint8_t *big = data + 512, cdb[10];
	unsigned i, n = NPOINTS;
	uint64_t mid = (d->size / 2) & ~(uint64_t)(CHUNK - 1), off;
	struct res r;

	if (d->size / CHUNK < n)
		n = (unsigned)(d->size / CHUNK);
	if (n < 3 || d->size < 2 * BIG)
		return "disk too small";
	for (i = 0; i < n; i++) {
		off = point(d, i, n);
		fill(d, off, data, CHUNK);
		if (io(d, 1, off, data, CHUNK, 0))
			return "write failed";
	}
	fill(d, mid, big, BIG);
	if (io(d, 1, mid, big, BIG, 1))
		return "64 KiB write failed";
	for (i = 0; i < n; i++) {
		off = point(d, i, n);
		memset(data, 0, CHUNK);
		if (io(d, 0, off, data, CHUNK, 0))
			return "read failed";
		if (check(d, off, data, CHUNK, 0))
			return "pattern mismatch";
	}
	memset(big, 0, BIG);
	if (io(d, 0, mid, big, BIG, 1) || check(d, mid, big, BIG, 0))
		return "64 KiB read back differs";
	if (sync_cache(d))
		return "flush failed";
	put_name(d);
	con_puts(" flushed\n");
	/* UNMAP the 4 KiB at point 1: a parameter list of one descriptor. */
	off = point(d, 1, n);
	memset(data, 0, 24);
	data[1] = 22;
	data[3] = 16;
	for (i = 0; i < 8; i++)
		data[8 + i] = (uint8_t)((off / d->lbs) >> (56 - 8 * i));
	data[16 + 2] = (uint8_t)((CHUNK / d->lbs) >> 8);
	data[16 + 3] = (uint8_t)(CHUNK / d->lbs);
	memset(cdb, 0, sizeof(cdb));
	cdb[0] = 0x42;
	cdb[8] = 24;
	if (exec(d->c, d->lun, cdb, 10, data, 24, DATA_WRITE, &r) || !ok(&r))
		return "unmap failed";
	memset(data, 0xff, CHUNK);
	if (io(d, 0, off, data, CHUNK, 0) || check(d, off, data, CHUNK, 1))
		return "unmapped range does not read as zeros";
	if (sync_cache(d))
		return "flush failed";
	return NULL;
}

/* hvguest.scsimisbehave=1: requests a hostile guest could send; each must come back as
 * CHECK CONDITION with the right sense (or an SRB error), and change nothing. */
static const char *misbehave(struct disk *d)
{
	uint64_t blocks = d->size / d->lbs;
	uint8_t cdb[16];
	struct res r;

	memset(cdb, 0, sizeof(cdb));
	if (exec(d->c, d->lun, cdb, 0, NULL, 0, DATA_NONE, &r) || r.srb_status != SRB_INVALID_REQUEST)
		return "empty CDB accepted";
	cdb16(cdb, 0x88, blocks, 1);
	if (exec(d->c, d->lun, cdb, 16, data, 512, DATA_READ, &r) || r.asc != 0x21)
		return "read past the end accepted";
	fill(d, 0, data, CHUNK);
	cdb16(cdb, 0x8a, blocks - 1, 2);
	if (exec(d->c, d->lun, cdb, 16, data, 2 * d->lbs, DATA_WRITE, &r) || r.asc != 0x21)
		return "write across the end accepted";
	cdb16(cdb, 0x8a, 0xffffffffffffffffULL, 1);
	if (exec(d->c, d->lun, cdb, 16, data, d->lbs, DATA_WRITE, &r) || r.asc != 0x21)
		return "write at LBA 2^64-1 accepted";
	cdb10(cdb, 0x2a, 0, 16);
	if (exec(d->c, d->lun, cdb, 10, data, 8 * d->lbs, DATA_WRITE, &r) ||
	    r.key != 5 || r.asc != 0x24)
		return "write longer than its buffer accepted";
	memset(cdb, 0, sizeof(cdb));
	cdb[0] = 0xff;
	if (exec(d->c, d->lun, cdb, 6, NULL, 0, DATA_NONE, &r) || r.asc != 0x20)
		return "unknown opcode accepted";
	memset(cdb, 0, sizeof(cdb));
	cdb[0] = 0x12;
	cdb[1] = 1;
	cdb[2] = 0x55;
	cdb[4] = 64;
	if (exec(d->c, d->lun, cdb, 6, data, 64, DATA_READ, &r) || r.asc != 0x24)
		return "unknown VPD page accepted";
	memset(data, 0, 24);
	data[1] = 22;
	data[3] = 16;
	data[8] = 0x7f; /* LBA far past the end */
	data[19] = 8;
	memset(cdb, 0, sizeof(cdb));
	cdb[0] = 0x42;
	cdb[8] = 24;
	if (exec(d->c, d->lun, cdb, 10, data, 24, DATA_WRITE, &r) || r.asc != 0x21)
		return "unmap past the end accepted";
	cdb10(cdb, 0x2a, 0, 1);
	if (exec(d->c, 63, cdb, 10, data, 512, DATA_WRITE, &r) ||
	    (d->lun != 63 && r.asc != 0x25))
		return "write to an empty LUN accepted";
	return NULL;
}

/* The same requests broken at the VMBus level: pages outside RAM, a buffer shorter than
 * the SRB says. The host refuses them (SRB_STATUS_INVALID_REQUEST) and counts them. */
static const char *misbehave_packets(struct disk *d)
{
	uint64_t pfns[2] = { 0xfffffff0ULL, 0xfffffff1ULL }, trans;
	uint8_t p[64];
	const uint8_t *a;
	uint32_t alen;
	int e, i;

	for (i = 0; i < 2; i++) {
		memset(p, 0, sizeof(p));
		wr32(p, VSTOR_EXECUTE_SRB);
		wr16(p + SRB, 52);
		p[SRB + 7] = (uint8_t)d->lun;
		p[SRB + 8] = 10;
		wr32(p + SRB + 12, i ? 8192 : 512);
		cdb10(p + SRB + 16, 0x2a, 0, 1);
		if (i) { /* good pages, but the SRB claims more than the range holds */
			pfns[0] = (uint64_t)(uintptr_t)data >> 12;
			e = vmbus_chan_send_gpa((unsigned)d->c->ch, p, 64, 0x5000 + (unsigned)i, 0, 512,
						pfns, 1);
		} else {
			e = vmbus_chan_send_gpa((unsigned)d->c->ch, p, 64, 0x5000, 0, 512, pfns, 1);
		}
		if (e < 0)
			return "could not send";
		for (;;) {
			e = vmbus_chan_recv((unsigned)d->c->ch, &a, &alen, &trans);
			if (e < 0)
				return "ring broken";
			if (e == 0) {
				vmbus_wait();
				continue;
			}
			if (trans == 0x5000 + (unsigned)i && alen >= 64)
				break;
		}
		if (a[SRB + 2] != SRB_INVALID_REQUEST)
			return i ? "short buffer accepted" : "pages outside RAM accepted";
	}
	return NULL;
}

static uint64_t rnd(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

/* hvguest.diskbench=S: S seconds each of random 4 KiB reads, random 4 KiB writes,
 * sequential 64 KiB reads and writes on the first disk, queue depth 1, timed with the
 * reference counter. */
static void bench(struct disk *d, uint64_t secs)
{
	static const char *const names[4] = { " randread_iops=", " randwrite_iops=",
					      " seqread_kib_s=", " seqwrite_kib_s=" };
	uint64_t s = 88172645463325252ULL, chunks = d->size / CHUNK, res[4];
	unsigned ph;

	for (ph = 0; ph < 4; ph++) {
		uint64_t t0 = hv_ref_time(), t, n = 0, seq = 0, len = ph < 2 ? CHUNK : BIG;

		do {
			uint64_t off;

			if (ph < 2) {
				off = rnd(&s) % chunks * CHUNK;
			} else {
				off = seq;
				seq = seq + BIG + BIG > d->size ? 0 : seq + BIG;
			}
			if (io(d, ph & 1, off, data, (uint32_t)len, 0)) {
				con_puts("hvguest: diskbench io failed\n");
				return;
			}
			n++;
			t = hv_ref_time();
		} while (t - t0 < secs * 10000000ULL);
		res[ph] = ph < 2 ? n * 10000000ULL / (t - t0)
				 : n * (BIG / 1024) * 10000000ULL / (t - t0);
	}
	con_puts("hvguest: diskbench");
	for (ph = 0; ph < 4; ph++) {
		con_puts(names[ph]);
		con_putu(res[ph]);
	}
	con_puts("\n");
}

/*
 * hvguest.udiskbench=S: the storage path timed without the instruction emulator. Kernel-mode
 * guest code runs in KVM's instruction emulator on the nested kvm_pvm hosts (DESIGN.md), user
 * mode natively: so this leaves kernel mode for good (hvguest_user_enter) and runs the loads
 * there as a polling driver would: interrupts off, completions polled from the ring (masked,
 * so the host does not interrupt), each load S seconds by the TSC (calibrated against the
 * reference counter before). Loads on the first disk: random 4 KiB reads and writes at queue
 * depth 1 and 8, sequential 64 KiB reads and writes at depth 1. Then one line
 *   hvguest: udiskbench randread_iops=N randwrite_iops=N seqread_kib_s=N seqwrite_kib_s=N
 *   qd8_randread_iops=N qd8_randwrite_iops=N
 * (or "hvguest: udiskbench io failed") and, as user mode cannot come back, an ACPI power-off
 * from there (port I/O; IOPL is 3). The guest does signal the host when the request ring is
 * not masked; the host masks it while it polls (storvsc's ring polling).
 */
struct ubench {
	struct disk d;
	uint64_t secs, tsc_per_ms, rsdp;
};

static uint64_t ustack[2048] __attribute__((aligned(16)));

static uint64_t tsc_per_ms(void)
{
	uint64_t r0 = hv_ref_time(), t0 = rdtsc(), r1;

	do
		r1 = hv_ref_time();
	while (r1 - r0 < 200000); /* 20 ms in 100 ns units */
	return (rdtsc() - t0) * 10000 / (r1 - r0);
}

/* One load for ticks TSC ticks: requests of len bytes, qd at a time, random (4 KiB aligned)
 * or sequential; the number done, or -1 when one failed. */
static int64_t uload(struct ubench *u, int write, int seq, uint32_t len, unsigned qd,
		     uint64_t ticks, uint64_t *took)
{
	struct disk *d = &u->d;
	struct res r;
	uint64_t s = 88172645463325252ULL, t0 = rdtsc(), seqoff = 0, sent = 0, done = 0, trans, off;
	uint8_t cdb[16];
	const uint8_t *a;
	uint32_t alen;
	int e;

	for (;;) {
		while (sent - done < qd && (!sent || rdtsc() - t0 < ticks)) {
			if (seq) {
				off = seqoff;
				seqoff = seqoff + 2 * (uint64_t)len > d->size ? 0 : seqoff + len;
			} else {
				off = rnd(&s) % (d->size / CHUNK) * CHUNK;
			}
			cdb16(cdb, write ? 0x8a : 0x88, off / d->lbs, len / d->lbs);
			if (send_srb(d->c, d->lun, cdb, 16, data + (sent % qd) * len, len,
				     write ? DATA_WRITE : DATA_READ, ++d->c->trans) < 0)
				return -1;
			sent++;
		}
		if (sent == done)
			break;
		e = vmbus_chan_recv((unsigned)d->c->ch, &a, &alen, &trans);
		if (e < 0)
			return -1;
		if (e == 0)
			continue; /* no pause: it would delay seeing the completion */
		if (trans != d->c->trans - (sent - done - 1) || alen < 64 ||
		    rd32(a) != VSTOR_COMPLETE_IO)
			return -1;
		res_of(a, &r);
		if (!ok(&r) || r.xfer != len)
			return -1;
		done++;
	}
	*took = rdtsc() - t0;
	return (int64_t)done;
}

static void urun(void *arg)
{
	static const struct {
		const char *name;
		int write, seq;
		uint32_t len;
		unsigned qd;
	} loads[] = {
		{ " randread_iops=", 0, 0, CHUNK, 1 },       { " randwrite_iops=", 1, 0, CHUNK, 1 },
		{ " seqread_kib_s=", 0, 1, BIG, 1 },         { " seqwrite_kib_s=", 1, 1, BIG, 1 },
		{ " qd8_randread_iops=", 0, 0, CHUNK, 8 },   { " qd8_randwrite_iops=", 1, 0, CHUNK, 8 },
	};
	struct ubench *u = arg;
	uint64_t res[6], took;
	unsigned i;

	vmbus_chan_poll_mode((unsigned)u->d.c->ch, 1);
	for (i = 0; i < 6; i++) {
		int64_t n = uload(u, loads[i].write, loads[i].seq, loads[i].len, loads[i].qd,
				  u->secs * 1000 * u->tsc_per_ms, &took);

		if (n < 0 || !took) {
			con_puts("hvguest: udiskbench io failed\n");
			break;
		}
		/* per second: n * tsc_per_ms * 1000 / took */
		res[i] = (uint64_t)n * u->tsc_per_ms * 1000 / took;
		if (loads[i].seq)
			res[i] *= BIG / 1024;
	}
	if (i == 6) {
		con_puts("hvguest: udiskbench");
		for (i = 0; i < 6; i++) {
			con_puts(loads[i].name);
			con_putu(res[i]);
		}
		con_puts("\n");
	}
	if (acpi_poweroff(u->rsdp) < 0)
		con_puts("hvguest: error no ACPI power-off\n");
	for (;;)
		__asm__ volatile("pause");
}

static void user_bench(const struct disk *d, const struct storage_opts *o)
{
	static struct ubench u;

	u.d = *d;
	u.secs = o->ubench_s;
	u.rsdp = o->rsdp;
	u.tsc_per_ms = tsc_per_ms();
	if (!u.tsc_per_ms || d->size < 4 * BIG) {
		con_puts("hvguest: udiskbench io failed\n");
		return;
	}
	hvguest_user_enter(urun, &u, ustack + sizeof(ustack) / sizeof(ustack[0]));
}

static int identify(struct disk *d)
{
	uint8_t cdb[16];
	struct res r;

	memset(cdb, 0, sizeof(cdb));
	cdb[0] = 0x12;
	cdb[4] = 36;
	if (exec(d->c, d->lun, cdb, 6, data, 36, DATA_READ, &r) || !ok(&r) || (data[0] & 0xe0))
		return -1;
	cdb[1] = 1;
	cdb[2] = 0x83;
	cdb[4] = 96;
	if (exec(d->c, d->lun, cdb, 6, data, 96, DATA_READ, &r) || !ok(&r) || data[1] != 0x83)
		return -1;
	memset(cdb, 0, sizeof(cdb));
	cdb[0] = 0x9e;
	cdb[1] = 0x10;
	cdb[13] = 32;
	if (exec(d->c, d->lun, cdb, 16, data, 32, DATA_READ, &r) || !ok(&r))
		return -1;
	d->lbs = (uint32_t)be(data + 8, 4);
	if (d->lbs != 512 && d->lbs != 4096)
		return -1;
	d->size = (be(data, 8) + 1) * d->lbs;
	d->salt = (uint64_t)(d->c->num * 64 + d->lun + 1) << 48;
	return 0;
}

static void controller(struct ctl *c, const struct storage_opts *o, int *benched)
{
	static uint8_t luns[8 + 8 * 64];
	uint8_t cdb[12];
	struct res r;
	uint32_t n, i;

	if (negotiate(c)) {
		con_puts("hvguest: disk controller ");
		con_putu(c->num);
		con_puts(" negotiation failed\n");
		return;
	}
	memset(cdb, 0, sizeof(cdb));
	cdb[0] = 0xa0;
	cdb[8] = (uint8_t)(sizeof(luns) >> 8);
	cdb[9] = (uint8_t)sizeof(luns);
	if (exec(c, 0, cdb, 12, luns, sizeof(luns), DATA_READ, &r) || !ok(&r))
		return;
	n = (uint32_t)be(luns, 4) / 8;
	for (i = 0; i < n && i < 64; i++) {
		struct disk d = { .c = c, .lun = luns[8 + 8 * i + 1] };
		const char *why = NULL;

		if (identify(&d)) {
			put_name(&d);
			con_puts(" identify failed\n");
			continue;
		}
		if (!first_ctl) { /* hvguest.counter=1 keeps its disk counter here */
			first_ctl = c;
			first_disk = d;
		}
		if (o->misbehave && !(why = misbehave(&d)))
			why = misbehave_packets(&d);
		if (o->misbehave) {
			put_name(&d);
			con_puts(why ? " scsimisbehave=fail " : " scsimisbehave=ok");
			con_puts(why ? why : "");
			con_puts("\n");
		}
		if (o->bench_s && !*benched) {
			*benched = 1;
			bench(&d, o->bench_s);
		}
		if (o->ubench_s && !*benched) {
			*benched = 1;
			user_bench(&d, o); /* returns only when it could not start */
		}
		why = o->test ? disktest(&d) : NULL;
		put_name(&d);
		con_puts(" size=");
		con_putu(d.size);
		if (o->test)
			con_puts(why ? " test=fail " : " test=ok");
		con_puts(why ? why : "");
		con_puts("\n");
	}
}

int storage_counter(uint64_t value, uint64_t *was)
{
	static uint8_t sector[4096] __attribute__((aligned(4096)));
	struct disk *d = &first_disk;

	if (!first_ctl || d->lbs == 0 || d->lbs > sizeof(sector) || d->size < 2 * CHUNK)
		return -1;
	/* The disk's second 4 KiB: hvguest.disktest's points leave it alone. */
	if (io(d, 0, CHUNK, sector, d->lbs, 0))
		return -1;
	*was = *(uint64_t *)(void *)sector;
	*(uint64_t *)(void *)sector = value;
	return io(d, 1, CHUNK, sector, d->lbs, 0) == 0 && sync_cache(d) == 0 ? 0 : -1;
}

void storage_run(const struct storage_opts *o)
{
	static struct ctl ctls[VMBUS_SCSI_MAX];
	int benched = 0;
	unsigned k;

	for (k = 0; k < VMBUS_SCSI_MAX; k++) {
		ctls[k].ch = vmbus_scsi_channel(k, &ctls[k].num);
		if (ctls[k].ch >= 0)
			controller(&ctls[k], o, &benched);
	}
	if ((o->bench_s || o->ubench_s) && !benched)
		con_puts(o->bench_s ? "hvguest: diskbench no disk\n" : "hvguest: udiskbench no disk\n");
}
