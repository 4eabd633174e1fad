/* The synthetic SCSI controller: a storage VSP that Linux's hv_storvsc and Windows'
 * storvsc drive (drivers/scsi/storvsc_drv.c). Every packet is a struct vstor_packet: an
 * operation, flags, a status and, for the Windows 8 protocols (5.1, 6.0, 6.2, the only
 * ones offered), a 52-byte vmscsi_request (SRB) with the CDB and the sense data, 64 bytes
 * in all. The guest speaks first: BEGIN_INITIALIZATION, QUERY_PROTOCOL_VERSION (newest
 * first), QUERY_PROPERTIES, END_INITIALIZATION, each answered by a COMPLETE_IO carrying a
 * status; then EXECUTE_SRB, inband when no data moves, else a VM_PKT_DATA_USING_GPA_DIRECT
 * packet whose one page range holds the data buffer, answered by COMPLETE_IO with the SRB
 * status, the SCSI status, the bytes moved and the sense data.
 *
 * Threads: the vCPU that signals (hv->lock held) checks each request, page by page against
 * guest RAM. A plain READ or WRITE that libvhdx can do without blocking (the data in the page
 * cache, no allocation, no metadata) it does itself, between the image and the guest's pages,
 * when nothing is queued or running: the fast path. Everything else it queues; one I/O thread
 * per controller does the libvhdx work in queue order and completes under hv->lock. One
 * queue keeps SCSI's ordering simple: a SYNCHRONIZE CACHE runs after every command before it,
 * so its flush covers all of them, and a request done inline never overtakes a queued one.
 * Completions that find the guest's ring full wait in a backlog (the guest is asked to signal
 * when it has read, pending_send_sz) and go out, in order, before any later one. */
#include "config.h"

#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include "hvcore/scsi.h"
#include "hvcore/vmbus-priv.h"

enum {
	VSTOR_COMPLETE_IO = 1,
	VSTOR_REMOVE_DEVICE = 2,
	VSTOR_EXECUTE_SRB = 3,
	VSTOR_RESET_LUN = 4,
	VSTOR_RESET_ADAPTER = 5,
	VSTOR_RESET_BUS = 6,
	VSTOR_BEGIN_INITIALIZATION = 7,
	VSTOR_END_INITIALIZATION = 8,
	VSTOR_QUERY_PROTOCOL_VERSION = 9,
	VSTOR_QUERY_PROPERTIES = 10,
	VSTOR_ENUMERATE_BUS = 11,
	VSTOR_FCHBA_DATA = 12,
	VSTOR_CREATE_SUB_CHANNELS = 13,
};

/* struct vstor_packet: operation (0), flags (4), status (8), payload (12). */
#define VSTOR_PKT 64
#define V_OP 0
#define V_STATUS 8
#define V_PAYLOAD 12
/* struct vmscsi_request, from V_PAYLOAD (win8 size: 52). */
#define SRB_STATUS 2
#define SRB_SCSI_STATUS 3
#define SRB_TARGET 6
#define SRB_LUN 7
#define SRB_CDB_LEN 8
#define SRB_SENSE_LEN 9
#define SRB_XFER_LEN 12
#define SRB_CDB 16
#define SRB_SENSE_AREA 20 /* the CDB and the sense data share 20 bytes */

/* SRB status (Windows' srb.h, as storvsc_drv.c names them). */
#define SRB_SUCCESS 0x01
#define SRB_ERROR 0x04
#define SRB_INVALID_REQUEST 0x06
#define SRB_INVALID_LUN 0x20
#define SRB_AUTOSENSE_VALID 0x80

#define STATUS_UNSUCCESSFUL 0xc0000001u
#define STATUS_REVISION_MISMATCH 0xc0000059u
#define PROTO_WIN8 0x0501
#define PROTO_WIN8_1 0x0600
#define PROTO_WIN10 0x0602

/* GPA direct (struct vmbus_packet_mpb_array): the descriptor (16), reserved (16),
 * range count (20), then one hv_mpb_array: len (24), offset (28), pfns (32). */
#define MPB_RANGES 20
#define MPB_LEN 24
#define MPB_OFFSET 28
#define MPB_PFNS 32

#define MAX_PAGES (HV_SCSI_MAX_XFER / HV_PAGE + 1)
#define QUEUE_MAX 256
#define LAT_BUCKETS 48
/* The fast path holds hv->lock while it copies: larger requests go to the I/O thread. */
#define FAST_MAX (128u * 1024)
/* After a request the I/O thread may look for the next one a while before it sleeps: a guest
 * at queue depth 1 sends it within microseconds of its completion, and a wake-up through the
 * condition variable costs more than that. Adaptive, as QEMU's AioContext polling: the
 * window grows while requests come within POLL_MAX_NS of going idle, and shrinks to nothing
 * when they do not (a slow guest), since polling burns a CPU and, on a busy host, makes the
 * scheduler wake the thread later when it does sleep. */
#define POLL_MAX_NS 50000u
#define POLL_START_NS 4000u
/* Ring polling. A guest that signals every request pays a VM exit each time (tens of
 * microseconds on a nested host, a microsecond or two on bare metal): more than the request.
 * When two requests arrive within RING_POLL_NS of each other, the vCPU that took the second
 * wakes the I/O thread, which masks the request ring (the guest then writes without
 * signalling: Linux's hv_signal_on_write and hvguest look at the mask) and serves it as
 * requests come, until none has come for RING_POLL_NS; then it unmasks the ring, serves what
 * came meanwhile, and sleeps. Only on hosts with two or more CPUs, unless told otherwise
 * (hv_partition_config's scsi_poll): polling burns one. */
#define RING_POLL_NS 50000u

struct req {
	struct req *next;
	struct disk *disk;   /* NULL: no disk at that LUN */
	bool report_luns;
	uint8_t srb_status;  /* nonzero: refused before it reached the disk */
	uint32_t gen;        /* the channel opening it came in on */
	uint64_t trans_id, t0;
	uint8_t pkt[VSTOR_PKT];
	uint32_t off, len;   /* data: offset in the first page, bytes */
	uint32_t npages;
	uint8_t *pages[MAX_PAGES];
};

struct disk {
	struct hv_scsi_disk d;
	/* statistics, under qlock */
	uint64_t read_ops, write_ops, read_bytes, write_bytes, flushes, unmaps, errors;
	uint64_t inline_ops;
	uint32_t queued;
	uint64_t lat_sum, lat_n, hist[LAT_BUCKETS];
	/* the image's file system refuses RWF_NOWAIT reads, writes (under hv->lock) */
	bool no_fast_read, no_fast_write;
};

struct storvsc {
	unsigned controller;
	struct disk *disk[HV_MAX_SCSI_LOCATIONS]; /* by location */
	unsigned luns[HV_MAX_SCSI_LOCATIONS], nluns;
	uint32_t version;  /* negotiated, 0 none (under hv->lock) */
	uint32_t gen;      /* bumped at every open (under hv->lock) */
	struct req *backlog, *backlog_tail; /* completions waiting for room (under hv->lock) */

	pthread_mutex_t qlock;
	pthread_cond_t qcond;
	pthread_cond_t idle;            /* signalled when the queue is empty and nothing runs */
	bool locks, thread_on, stop;
	bool busy;                      /* the I/O thread holds a request (under qlock) */
	bool sleeping;                  /* the I/O thread waits on qcond (under qlock) */
	uint64_t poll_ns;               /* the I/O thread's polling window (its own) */
	bool may_poll;                  /* ring polling is on for this controller */
	bool polling;                   /* the I/O thread polls the masked ring (hv->lock) */
	bool poll_kick;                 /* a vCPU asks the I/O thread to poll (qlock) */
	bool draining;                  /* the I/O thread serves the ring (qlock) */
	uint64_t last_t0;               /* the last request's arrival time (hv->lock) */
	bool want_poll;                 /* it came within RING_POLL_NS of the one before
					 * (hv->lock) */
	const volatile uint32_t *poll_hdr; /* the polled ring's indexes (the I/O thread's) */
	pthread_t thread;
	struct req *head, *tail, *free; /* the queue and the free requests (under qlock) */
	struct req *reqs;
	uint8_t *bounce;                /* the I/O thread's data buffer */
};

static struct storvsc *st_of(struct hv_channel *c)
{
	return c->priv;
}

static void put_free(struct storvsc *s, struct req *r)
{
	pthread_mutex_lock(&s->qlock);
	if (r->disk)
		r->disk->queued--;
	r->next = s->free;
	s->free = r;
	pthread_mutex_unlock(&s->qlock);
}

/* Completions go out in order: the backlog first. With hv->lock held. */
static void flush_backlog(struct hv_channel *c)
{
	struct storvsc *s = st_of(c);

	while (s->backlog) {
		struct req *r = s->backlog;
		int e = 0;

		if (r->gen == s->gen && c->state == HV_CHANNEL_OPEN)
			e = hv_channel_send_comp(c, r->pkt, VSTOR_PKT, r->trans_id);
		if (e == -EAGAIN) {
			hv_ring_want_room(&c->out, VSTOR_PKT + 24);
			return;
		}
		s->backlog = r->next;
		if (!s->backlog)
			s->backlog_tail = NULL;
		put_free(s, r);
	}
	hv_ring_want_room(&c->out, 0);
}

static void backlog_add(struct storvsc *s, struct req *r)
{
	r->next = NULL;
	if (s->backlog_tail)
		s->backlog_tail->next = r;
	else
		s->backlog = r;
	s->backlog_tail = r;
}

/* With hv->lock held: the completion in r->pkt goes to the guest, or waits its turn. */
static void complete(struct hv_channel *c, struct req *r)
{
	backlog_add(st_of(c), r);
	flush_backlog(c);
}

/* A non-SRB answer: the guest's packet back with COMPLETE_IO and a status. */
static void answer(struct hv_channel *c, const uint8_t *d, uint32_t len, uint64_t trans,
		   uint32_t status)
{
	uint8_t p[VSTOR_PKT];

	memset(p, 0, sizeof(p));
	memcpy(p, d, len < VSTOR_PKT ? len : VSTOR_PKT);
	hv_put32(p + V_OP, VSTOR_COMPLETE_IO);
	hv_put32(p + 4, 0);
	hv_put32(p + V_STATUS, status);
	(void)hv_channel_send_comp(c, p, VSTOR_PKT, trans);
}

static void properties(struct hv_channel *c, const uint8_t *d, uint32_t len, uint64_t trans)
{
	uint8_t p[VSTOR_PKT];

	memset(p, 0, sizeof(p));
	memcpy(p, d, len < VSTOR_PKT ? len : VSTOR_PKT);
	memset(p + V_PAYLOAD, 0, VSTOR_PKT - V_PAYLOAD);
	hv_put32(p + V_OP, VSTOR_COMPLETE_IO);
	hv_put32(p + 4, 0);
	hv_put32(p + V_STATUS, 0);
	hv_put16(p + V_PAYLOAD + 4, 0);                  /* max_channel_cnt: no sub-channels */
	hv_put32(p + V_PAYLOAD + 8, 0);                  /* flags: not multi-channel */
	hv_put32(p + V_PAYLOAD + 12, HV_SCSI_MAX_XFER);  /* max_transfer_bytes */
	(void)hv_channel_send_comp(c, p, VSTOR_PKT, trans);
}

static struct req *take_req(struct storvsc *s)
{
	struct req *r;

	pthread_mutex_lock(&s->qlock);
	r = s->free;
	if (r)
		s->free = r->next;
	pthread_mutex_unlock(&s->qlock);
	if (r) {
		memset(r, 0, offsetof(struct req, pages));
		r->t0 = hv_now_ns();
		s->want_poll = s->last_t0 && r->t0 - s->last_t0 < RING_POLL_NS;
		s->last_t0 = r->t0;
	}
	return r;
}

static void enqueue(struct storvsc *s, struct req *r)
{
	pthread_mutex_lock(&s->qlock);
	if (r->disk)
		r->disk->queued++;
	r->next = NULL;
	if (s->tail)
		s->tail->next = r;
	else
		__atomic_store_n(&s->head, r, __ATOMIC_RELAXED); /* next_req peeks at it */
	s->tail = r;
	if (s->sleeping)
		pthread_cond_signal(&s->qcond);
	pthread_mutex_unlock(&s->qlock);
}

/* Guest pages <-> the bounce buffer, len bytes from the range's start. */
static void move(struct req *r, uint8_t *buf, uint32_t len, bool to_guest)
{
	uint32_t done = 0, i = 0, in = r->off;

	while (done < len && i < r->npages) {
		uint32_t n = HV_PAGE - in;

		if (n > len - done)
			n = len - done;
		if (to_guest)
			memcpy(r->pages[i] + in, buf + done, n);
		else
			memcpy(buf + done, r->pages[i] + in, n);
		done += n;
		in = 0;
		i++;
	}
}

/* The first len bytes of the guest's range as an iovec, pages that follow each other in
 * host memory merged; returns the entry count. */
static int guest_iov(const struct req *r, uint32_t len, struct iovec *iov)
{
	uint32_t done = 0, i = 0, in = r->off;
	int k = 0;

	while (done < len && i < r->npages) {
		uint32_t n = HV_PAGE - in;

		if (n > len - done)
			n = len - done;
		if (k && (uint8_t *)iov[k - 1].iov_base + iov[k - 1].iov_len == r->pages[i] + in) {
			iov[k - 1].iov_len += n;
		} else {
			iov[k].iov_base = r->pages[i] + in;
			iov[k].iov_len = n;
			k++;
		}
		done += n;
		in = 0;
		i++;
	}
	return k;
}

static unsigned bucket(uint64_t ns)
{
	unsigned b = 0;

	while (ns > 1 && b < LAT_BUCKETS - 1) {
		ns >>= 1;
		b++;
	}
	return b;
}

/* done_inline: the fast path's request, which never went through enqueue, still counts in
 * the queue depth until its completion leaves the backlog (put_free). */
static void account(struct storvsc *s, struct disk *k, const struct hv_scsi_cmd *cmd,
		    uint64_t ns, bool done_inline)
{
	pthread_mutex_lock(&s->qlock);
	if (cmd->status != HV_SAM_GOOD)
		k->errors++;
	else if (cmd->kind == HV_SCSI_READ) {
		k->read_ops++;
		k->read_bytes += cmd->bytes;
	} else if (cmd->kind == HV_SCSI_WRITE) {
		k->write_ops++;
		k->write_bytes += cmd->bytes;
	} else if (cmd->kind == HV_SCSI_FLUSH)
		k->flushes++;
	else if (cmd->kind == HV_SCSI_UNMAP)
		k->unmaps++;
	if (done_inline) {
		k->inline_ops++;
		k->queued++;
	}
	k->lat_sum += ns;
	k->lat_n++;
	k->hist[bucket(ns)]++;
	pthread_mutex_unlock(&s->qlock);
}

/* r->pkt becomes the COMPLETE_IO of a command that ran. */
static void finish(struct req *r, const struct hv_scsi_cmd *cmd)
{
	uint8_t *v = r->pkt + V_PAYLOAD;

	hv_put32(r->pkt + V_OP, VSTOR_COMPLETE_IO);
	hv_put32(r->pkt + 4, 0);
	hv_put32(r->pkt + V_STATUS, 0);
	v[SRB_SCSI_STATUS] = cmd->status;
	hv_put32(v + SRB_XFER_LEN, cmd->xfer);
	memset(v + SRB_CDB, 0, SRB_SENSE_AREA);
	if (cmd->status == HV_SAM_CHECK_CONDITION) {
		v[SRB_STATUS] = SRB_ERROR | SRB_AUTOSENSE_VALID;
		v[SRB_SENSE_LEN] = HV_SCSI_SENSE;
		memcpy(v + SRB_CDB, cmd->sense, HV_SCSI_SENSE);
	} else {
		v[SRB_STATUS] = SRB_SUCCESS;
		v[SRB_SENSE_LEN] = 0;
	}
}

/* Can READ and WRITE use the guest's pages as their buffer? Only when the range is one
 * piece of host memory; anything parsed from the buffer (UNMAP's list) is always copied
 * first, so a guest rewriting it meanwhile cannot change what was checked. */
static uint8_t *guest_buf(const struct req *r, const uint8_t *cdb, unsigned cdb_len)
{
	uint32_t i;

	if (!cdb_len || (cdb[0] != 0x28 && cdb[0] != 0x2a && cdb[0] != 0x88 && cdb[0] != 0x8a))
		return NULL;
	for (i = 1; i < r->npages; i++)
		if (r->pages[i] != r->pages[i - 1] + HV_PAGE)
			return NULL;
	return r->npages ? r->pages[0] + r->off : NULL;
}

/* The I/O thread's work on one request: the SCSI command, then its COMPLETE_IO in r->pkt. */
static void execute(struct storvsc *s, struct req *r)
{
	uint8_t *v = r->pkt + V_PAYLOAD;
	struct hv_scsi_cmd cmd;
	bool bounce;

	if (r->srb_status) {
		hv_put32(r->pkt + V_OP, VSTOR_COMPLETE_IO);
		hv_put32(r->pkt + 4, 0);
		hv_put32(r->pkt + V_STATUS, 0);
		v[SRB_STATUS] = r->srb_status;
		v[SRB_SCSI_STATUS] = 0;
		hv_put32(v + SRB_XFER_LEN, 0);
		return;
	}
	memset(&cmd, 0, sizeof(cmd));
	cmd.cdb = v + SRB_CDB;
	cmd.cdb_len = v[SRB_CDB_LEN];
	cmd.buf = r->disk ? guest_buf(r, cmd.cdb, cmd.cdb_len) : NULL;
	bounce = !cmd.buf;
	if (bounce)
		cmd.buf = s->bounce;
	cmd.len = r->len;
	if (bounce && hv_scsi_data_out(cmd.cdb, cmd.cdb_len))
		move(r, s->bounce, r->len, false);
	if (r->report_luns)
		hv_scsi_report_luns(s->luns, s->nluns, &cmd);
	else if (!r->disk)
		hv_scsi_no_lun(&cmd);
	else
		hv_scsi_exec(&r->disk->d, &cmd);
	if (bounce && cmd.status == HV_SAM_GOOD && cmd.xfer &&
	    !hv_scsi_data_out(cmd.cdb, cmd.cdb_len))
		move(r, s->bounce, cmd.xfer, true);
	finish(r, &cmd);
	if (r->disk)
		account(s, r->disk, &cmd, hv_now_ns() - r->t0, false);
}

/* The fast path, on the thread that took r off the ring (a vCPU, or the I/O thread polling
 * the ring; hv->lock held): a plain READ or WRITE
 * done at once when libvhdx can do it without blocking, straight between the image and the
 * guest's pages. Only while the I/O thread is idle with nothing queued: then it cannot touch
 * the image until srb queues again (only srb queues, under hv->lock, which we hold), and r
 * overtakes nothing. Returns false when r must be queued. */
static bool fast(struct hv_channel *c, struct req *r)
{
	struct storvsc *s = st_of(c);
	struct disk *k = r->disk;
	const uint8_t *v = r->pkt + V_PAYLOAD;
	struct iovec iov[MAX_PAGES];
	struct hv_scsi_cmd cmd;
	uint32_t bytes;
	uint64_t off;
	bool write, idle;
	int n, e;

	if (!k || r->srb_status ||
	    !hv_scsi_rw_plain(&k->d, v + SRB_CDB, v[SRB_CDB_LEN], r->len, &write, &off, &bytes) ||
	    bytes > FAST_MAX || (write ? k->no_fast_write : k->no_fast_read))
		return false;
	pthread_mutex_lock(&s->qlock);
	idle = !s->head && !s->busy;
	pthread_mutex_unlock(&s->qlock);
	if (!idle)
		return false;
	n = guest_iov(r, bytes, iov);
	e = write ? vhdx_writev_nowait(k->d.v, iov, n, off) : vhdx_readv_nowait(k->d.v, iov, n, off);
	if (e == -EOPNOTSUPP && write)
		k->no_fast_write = true;
	else if (e == -EOPNOTSUPP)
		k->no_fast_read = true;
	if (e)
		return false;
	memset(&cmd, 0, sizeof(cmd));
	cmd.status = HV_SAM_GOOD;
	cmd.kind = write ? HV_SCSI_WRITE : HV_SCSI_READ;
	cmd.xfer = bytes;
	cmd.bytes = bytes;
	finish(r, &cmd);
	account(s, k, &cmd, hv_now_ns() - r->t0, true);
	complete(c, r);
	return true;
}

/* The page range of a GPA-direct packet: one range, inside the packet's descriptor area,
 * at most MAX_PAGES pages, every page in guest RAM. Fills r; false when malformed. */
static bool take_range(struct hv_channel *c, struct req *r, const uint8_t *pkt, uint32_t plen)
{
	uint32_t off8 = (uint32_t)hv_get16(pkt + 2) * 8, len, off, n, i;

	if (off8 < MPB_PFNS || hv_get32(pkt + MPB_RANGES) != 1)
		return false;
	len = hv_get32(pkt + MPB_LEN);
	off = hv_get32(pkt + MPB_OFFSET);
	if (off >= HV_PAGE || len == 0 || len > HV_SCSI_MAX_XFER)
		return false;
	n = (off + len + HV_PAGE - 1) / HV_PAGE;
	if (n > MAX_PAGES || MPB_PFNS + 8 * n > off8 || off8 > plen)
		return false;
	for (i = 0; i < n; i++) {
		uint64_t pfn = hv_get64(pkt + MPB_PFNS + 8 * i);

		r->pages[i] = pfn < (1ULL << 40) ? hv_partition_gpa(c->p, pfn * HV_PAGE, HV_PAGE)
						 : NULL;
		if (!r->pages[i])
			return false;
	}
	r->npages = n;
	r->off = off;
	r->len = len;
	return true;
}

/* EXECUTE_SRB: checked here, done by the I/O thread. d is the vstor packet (len bytes);
 * pkt/plen the whole GPA-direct packet, or NULL for an inband one. A malformed SRB is
 * completed at once with SRB_STATUS_INVALID_REQUEST and counted as a bad packet. */
static bool srb(struct hv_channel *c, const uint8_t *d, uint32_t len, uint64_t trans,
		const uint8_t *pkt, uint32_t plen)
{
	struct storvsc *s = st_of(c);
	const uint8_t *v = d + V_PAYLOAD;
	struct req *r;
	bool ok = true;

	if (len < VSTOR_PKT || !s->version)
		return false;
	r = take_req(s);
	if (!r) /* cannot be: drain reads a packet only while ready() finds a free slot */
		return false;
	memcpy(r->pkt, d, VSTOR_PKT);
	r->trans_id = trans;
	r->gen = s->gen;
	if (pkt && !take_range(c, r, pkt, plen))
		ok = false;
	if (v[SRB_CDB_LEN] == 0 || v[SRB_CDB_LEN] > 16 ||
	    hv_get32(v + SRB_XFER_LEN) > r->len)
		ok = false;
	if (!ok)
		r->srb_status = SRB_INVALID_REQUEST;
	else if (v[SRB_TARGET] != 0 || v[SRB_LUN] >= HV_MAX_SCSI_LOCATIONS)
		r->srb_status = SRB_INVALID_LUN;
	else if (v[SRB_CDB_LEN] >= 1 && v[SRB_CDB] == 0xa0)
		r->report_luns = true;
	else
		r->disk = s->disk[v[SRB_LUN]];
	if (ok)
		r->len = hv_get32(v + SRB_XFER_LEN); /* the SRB's buffer: no more than it says */
	if (!fast(c, r))
		enqueue(s, r);
	return ok;
}

static bool packet(struct hv_channel *c, const uint8_t *d, uint32_t len, uint64_t trans,
		   uint16_t type, uint16_t flags)
{
	struct storvsc *s = st_of(c);
	uint32_t ver;

	(void)type;
	(void)flags;
	if (len < V_PAYLOAD)
		return false;
	switch (hv_get32(d + V_OP)) {
	case VSTOR_EXECUTE_SRB:
		return srb(c, d, len, trans, NULL, 0);
	case VSTOR_BEGIN_INITIALIZATION:
		s->version = 0;
		answer(c, d, len, trans, 0);
		return true;
	case VSTOR_QUERY_PROTOCOL_VERSION:
		if (len < V_PAYLOAD + 4)
			return false;
		ver = hv_get16(d + V_PAYLOAD);
		if (ver == PROTO_WIN10 || ver == PROTO_WIN8_1 || ver == PROTO_WIN8) {
			s->version = ver;
			answer(c, d, len, trans, 0);
		} else {
			answer(c, d, len, trans, STATUS_REVISION_MISMATCH);
		}
		return true;
	case VSTOR_QUERY_PROPERTIES:
		properties(c, d, len, trans);
		return true;
	case VSTOR_END_INITIALIZATION:
		answer(c, d, len, trans, s->version ? 0 : STATUS_UNSUCCESSFUL);
		return true;
	case VSTOR_RESET_LUN:
	case VSTOR_RESET_ADAPTER:
	case VSTOR_RESET_BUS:
		/* Nothing is ever lost here: every queued request completes. */
		answer(c, d, len, trans, 0);
		return true;
	case VSTOR_CREATE_SUB_CHANNELS:
		answer(c, d, len, trans, STATUS_UNSUCCESSFUL);
		return true;
	default:
		answer(c, d, len, trans, STATUS_UNSUCCESSFUL);
		return false;
	}
}

static bool gpa_packet(struct hv_channel *c, const uint8_t *pkt, uint32_t plen)
{
	uint32_t off8 = (uint32_t)hv_get16(pkt + 2) * 8;

	/* drain checked 16 <= off8 <= plen */
	if (plen - off8 < V_PAYLOAD || hv_get32(pkt + off8 + V_OP) != VSTOR_EXECUTE_SRB)
		return false;
	return srb(c, pkt + off8, plen - off8, hv_get64(pkt + 8), pkt, plen);
}

/* The I/O thread serves the ring as a guest's signal would; quiesce waits for it. */
static void serve_ring(struct hv_channel *c)
{
	struct storvsc *s = st_of(c);

	pthread_mutex_lock(&s->qlock);
	s->draining = true;
	pthread_mutex_unlock(&s->qlock);
	hv_channel_poll(c);
	pthread_mutex_lock(&s->qlock);
	s->draining = false;
	if (!s->head && !s->busy)
		pthread_cond_broadcast(&s->idle);
	pthread_mutex_unlock(&s->qlock);
}

/* Has the guest written to the polled ring? A racy look at its two indexes: serve_ring decides,
 * under the lock. The header stays in guest RAM even if the channel closes meanwhile. */
static bool ring_peek(const struct storvsc *s)
{
	const volatile uint32_t *h = s->poll_hdr;

	return h && h[0] != h[1];
}

/* Ring polling (RING_POLL_NS): returns once a request is queued for this thread, on stop, or
 * when the guest has sent nothing for the window. Spins yielding now and then, as next_req. */
static void poll_ring(struct hv_channel *c)
{
	struct storvsc *s = st_of(c);
	pthread_mutex_t *lock = &c->p->hv->lock;
	uint64_t last;
	unsigned idle = 0;

	pthread_mutex_lock(lock);
	if (c->state == HV_CHANNEL_OPEN && c->in.hdr) {
		s->poll_hdr = (const volatile uint32_t *)(const void *)c->in.hdr;
		s->polling = true;
		hv_ring_mask(&c->in, true);
	}
	pthread_mutex_unlock(lock);
	if (!s->poll_hdr)
		return;
	last = hv_now_ns();
	while (!__atomic_load_n(&s->head, __ATOMIC_RELAXED) &&
	       !__atomic_load_n(&s->stop, __ATOMIC_RELAXED)) {
		if (ring_peek(s)) {
			serve_ring(c);
			last = hv_now_ns();
			idle = 0;
			continue;
		}
		/* the clock only now and then (a read costs more than a look at the ring) */
		if (++idle % 32 == 0 && hv_now_ns() - last >= RING_POLL_NS)
			break;
		if (idle % 1024 == 0)
			sched_yield();
		else
			__builtin_ia32_pause();
	}
	pthread_mutex_lock(lock);
	s->polling = false;
	s->poll_hdr = NULL;
	if (c->state == HV_CHANNEL_OPEN)
		hv_ring_mask(&c->in, false);
	pthread_mutex_unlock(lock);
	serve_ring(c); /* what the guest wrote while it saw the mask */
}

/* The next request, or NULL when stopping. Polls (yielding the CPU: on a busy host the vCPU
 * that will send the next request may be waiting for this very CPU) up to s->poll_ns
 * before it sleeps, and sets the next window from how soon the request came. Woken to poll
 * the ring, it does that first. */
static struct req *next_req(struct hv_channel *c)
{
	struct storvsc *s = st_of(c);
	uint64_t t0 = hv_now_ns(), waited;
	struct req *r;

	/* Racy peeks, only to decide when to take the lock: it decides for real. */
	while (s->poll_ns && !__atomic_load_n(&s->head, __ATOMIC_RELAXED) &&
	       !__atomic_load_n(&s->stop, __ATOMIC_RELAXED) && hv_now_ns() - t0 < s->poll_ns)
		sched_yield();
	pthread_mutex_lock(&s->qlock);
	for (;;) {
		while (!s->head && !s->stop && !s->poll_kick) {
			s->sleeping = true;
			pthread_cond_wait(&s->qcond, &s->qlock);
			s->sleeping = false;
		}
		if (s->head || s->stop)
			break;
		s->poll_kick = false;
		pthread_mutex_unlock(&s->qlock);
		poll_ring(c);
		t0 = hv_now_ns();
		pthread_mutex_lock(&s->qlock);
	}
	r = s->head;
	if (r) {
		s->head = r->next;
		if (!s->head)
			s->tail = NULL;
		s->busy = true;
	}
	pthread_mutex_unlock(&s->qlock);
	if (!r)
		return NULL;
	/* from going idle to the request's arrival, not to the wake-up, which may be late */
	waited = r->t0 > t0 ? r->t0 - t0 : 0;
	if (waited > POLL_MAX_NS)
		s->poll_ns /= 2; /* polling would not have caught it */
	else if (waited > s->poll_ns)
		s->poll_ns = s->poll_ns ? 2 * s->poll_ns : POLL_START_NS;
	if (s->poll_ns > POLL_MAX_NS)
		s->poll_ns = POLL_MAX_NS;
	if (s->poll_ns < POLL_START_NS / 2)
		s->poll_ns = 0;
	return r;
}

static void *io_main(void *arg)
{
	struct hv_channel *c = arg;
	struct storvsc *s = st_of(c);
	char name[16];
	sigset_t set;
	struct req *r;

	sigfillset(&set);
	pthread_sigmask(SIG_SETMASK, &set, NULL);
	snprintf(name, sizeof(name), "scsi%u", s->controller);
	pthread_setname_np(pthread_self(), name);
	while ((r = next_req(c))) {
		execute(s, r);
		/* Idle again before the guest can see the completion: its next request may
		 * then take the fast path. */
		pthread_mutex_lock(&c->p->hv->lock);
		complete(c, r);
		pthread_mutex_lock(&s->qlock);
		s->busy = false;
		if (!s->head)
			pthread_cond_broadcast(&s->idle);
		pthread_mutex_unlock(&s->qlock);
		hv_channel_resume(c); /* its request slot may be what the ring waited for */
		pthread_mutex_unlock(&c->p->hv->lock);
	}
	return NULL;
}

/* A new opening: whatever was queued for the old rings is dropped when it completes. */
static void opened(struct hv_channel *c)
{
	struct storvsc *s = st_of(c);

	s->gen++;
	s->version = 0;
	flush_backlog(c);
}

/* After the guest's signal (or the I/O thread's serve): completions waiting for room go
 * out; a request that came soon after the one before starts ring polling. */
static void drained(struct hv_channel *c)
{
	struct storvsc *s = st_of(c);
	bool want = s->want_poll;

	flush_backlog(c);
	s->want_poll = false;
	if (!s->may_poll || s->polling || !want)
		return;
	pthread_mutex_lock(&s->qlock);
	if (!s->poll_kick) {
		s->poll_kick = true;
		if (s->sleeping)
			pthread_cond_signal(&s->qcond);
	}
	pthread_mutex_unlock(&s->qlock);
}

/* Another request slot is free: the ring is read only while one is (drain leaves the rest
 * there, and the guest waits for room as for a busy host). */
static bool ready(struct hv_channel *c)
{
	struct storvsc *s = st_of(c);
	bool ok;

	pthread_mutex_lock(&s->qlock);
	ok = s->free != NULL;
	pthread_mutex_unlock(&s->qlock);
	return ok;
}

static void tick(struct hv_channel *c, uint64_t now)
{
	(void)now;
	flush_backlog(c);
}

static void destroy(struct hv_channel *c)
{
	struct storvsc *s = st_of(c);
	unsigned i;

	if (!s)
		return;
	if (s->thread_on) {
		pthread_mutex_lock(&s->qlock);
		__atomic_store_n(&s->stop, true, __ATOMIC_RELAXED);
		pthread_cond_signal(&s->qcond);
		pthread_mutex_unlock(&s->qlock);
		pthread_join(s->thread, NULL);
		s->thread_on = false;
	}
	for (i = 0; i < HV_MAX_SCSI_LOCATIONS; i++) {
		if (!s->disk[i])
			continue;
		/* vhdx_close flushes: what the guest wrote stays, even unflushed. */
		if (vhdx_close(s->disk[i]->d.v) < 0) {
			/* nothing left to tell: the partition is going away */
		}
		free(s->disk[i]);
		s->disk[i] = NULL;
	}
	if (s->locks) {
		pthread_mutex_destroy(&s->qlock);
		pthread_cond_destroy(&s->qcond);
		pthread_cond_destroy(&s->idle);
		s->locks = false;
	}
	free(s->reqs);
	free(s->bounce);
	s->reqs = NULL;
	s->bounce = NULL;
}

static int open_disk(struct storvsc *s, const struct hv_disk_config *dc, char *why,
		     size_t why_len)
{
	char detail[256] = "";
	struct vhdx_info info;
	struct disk *k;
	int r;

	if (s->disk[dc->location]) {
		if (why && why_len)
			snprintf(why, why_len, "two disks at SCSI %u:%u", dc->controller, dc->location);
		return -EINVAL;
	}
	if (strlen(dc->path) >= sizeof(k->d.path)) {
		if (why && why_len)
			snprintf(why, why_len, "disk %u:%u: its path is longer than %zu bytes", dc->controller,
				 dc->location, sizeof(k->d.path) - 1);
		return -ENAMETOOLONG;
	}
	k = calloc(1, sizeof(*k));
	if (!k)
		return -ENOMEM;
	r = vhdx_open_detail(dc->path, (dc->read_only ? 0 : VHDX_OPEN_RDWR) | VHDX_OPEN_SHARE_PARENTS, &k->d.v, detail,
			     sizeof(detail));
	if (r == 0 && (r = vhdx_info_get(k->d.v, &info)) == 0 &&
	    ((info.logical_sector_size != 512 && info.logical_sector_size != 4096) ||
	     info.virtual_size < info.logical_sector_size ||
	     info.virtual_size % info.logical_sector_size)) {
		snprintf(detail, sizeof(detail), "a logical sector size of %u bytes is not supported",
			 info.logical_sector_size);
		r = -ENOTSUP;
	}
	if (r) {
		if (why && why_len)
			snprintf(why, why_len, "disk %u:%u %s: %s", dc->controller, dc->location,
				 dc->path, detail[0] ? detail : strerror(-r));
		vhdx_free(k->d.v);
		free(k);
		return r;
	}
	snprintf(k->d.path, sizeof(k->d.path), "%s", dc->path);
	k->d.location = dc->location;
	k->d.read_only = dc->read_only != 0;
	k->d.size = info.virtual_size;
	k->d.lbs = info.logical_sector_size;
	k->d.pbs = info.physical_sector_size ? info.physical_sector_size : info.logical_sector_size;
	k->d.block_size = info.block_size;
	k->d.id = info.disk_id;
	s->disk[dc->location] = k;
	return 0;
}

int hv_storvsc_init(struct hv_channel *c, unsigned controller, const struct hv_disk_config *disks,
		    unsigned ndisks, int poll, char *why, size_t why_len)
{
	struct storvsc *s = st_of(c);
	unsigned i;
	int r;

	s->controller = controller;
	s->may_poll = poll > 0 || (poll == 0 && sysconf(_SC_NPROCESSORS_ONLN) >= 2);
	pthread_mutex_init(&s->qlock, NULL);
	pthread_cond_init(&s->qcond, NULL);
	pthread_cond_init(&s->idle, NULL);
	s->locks = true;
	for (i = 0; i < ndisks; i++) {
		if (disks[i].controller != controller)
			continue;
		r = open_disk(s, &disks[i], why, why_len);
		if (r)
			return r;
	}
	for (i = 0; i < HV_MAX_SCSI_LOCATIONS; i++)
		if (s->disk[i])
			s->luns[s->nluns++] = i;
	s->reqs = calloc(QUEUE_MAX, sizeof(*s->reqs));
	s->bounce = malloc(HV_SCSI_MAX_XFER);
	if (!s->reqs || !s->bounce)
		return -ENOMEM;
	for (i = 0; i < QUEUE_MAX; i++) {
		s->reqs[i].next = s->free;
		s->free = &s->reqs[i];
	}
	r = -pthread_create(&s->thread, NULL, io_main, c);
	s->thread_on = r == 0;
	return r;
}

/* Waits until every request taken from the ring has completed, then makes every disk's
 * writes durable. The caller holds the vCPUs, so nothing new comes in meanwhile. */
int hv_storvsc_quiesce(struct hv_channel *c, char *why, size_t why_len)
{
	struct storvsc *s = st_of(c);
	unsigned i;
	int r = 0;

	pthread_mutex_lock(&s->qlock);
	while (s->thread_on && (s->head || s->busy || s->draining))
		pthread_cond_wait(&s->idle, &s->qlock);
	for (i = 0; i < HV_MAX_SCSI_LOCATIONS && r == 0; i++) {
		struct disk *k = s->disk[i];

		if (!k || k->d.read_only || (r = vhdx_flush(k->d.v)) == 0)
			continue;
		if (why && why_len)
			snprintf(why, why_len, "disk %u:%u %s: cannot flush: %s", s->controller, i, k->d.path,
				 vhdx_why(k->d.v)[0] ? vhdx_why(k->d.v) : strerror(-r));
	}
	pthread_mutex_unlock(&s->qlock);
	return r;
}

int hv_storvsc_switch_open(struct hv_channel *c, const struct hv_disk_switch *sw, struct vhdx **out,
			   char *why, size_t why_len)
{
	struct storvsc *s = st_of(c);
	const struct disk *k = sw->location < HV_MAX_SCSI_LOCATIONS ? s->disk[sw->location] : NULL;
	char detail[600] = "";
	struct vhdx_info info;
	bool made = false;
	int r = 0;

	*out = NULL;
	if (!k) {
		snprintf(why, why_len, "disk %u:%u: no such disk", sw->controller, sw->location);
		return -ENOENT;
	}
	if (!sw->path || sw->path[0] != '/' || strlen(sw->path) >= sizeof(k->d.path)) {
		snprintf(why, why_len, "disk %u:%u: the new layer needs an absolute path of less than %zu bytes",
			 sw->controller, sw->location, sizeof(k->d.path));
		return -EINVAL;
	}
	if (sw->create) {
		struct vhdx_create_opts o = { .type = VHDX_TYPE_DIFFERENCING, .parent = k->d.path };

		r = vhdx_create(sw->path, &o);
		made = r == 0;
		if (r)
			snprintf(detail, sizeof(detail), "cannot create it over %s: %s", k->d.path, strerror(-r));
	}
	if (r == 0)
		r = vhdx_open_detail(sw->path, (k->d.read_only ? 0 : VHDX_OPEN_RDWR) | VHDX_OPEN_SHARE_PARENTS, out, detail,
				      sizeof(detail));
	/* The new layer must be the same disk to the guest: size, sectors, identity. */
	if (r == 0 && (r = vhdx_info_get(*out, &info)) == 0 &&
	    (info.virtual_size != k->d.size || info.logical_sector_size != k->d.lbs ||
	     memcmp(&info.disk_id, &k->d.id, sizeof(info.disk_id)) || !info.parent_path)) {
		snprintf(detail, sizeof(detail), "it is not a differencing child of %s", k->d.path);
		r = -EINVAL;
	}
	if (r) {
		vhdx_free(*out);
		*out = NULL;
		if (made)
			unlink(sw->path);
		snprintf(why, why_len, "disk %u:%u: %s: %s", sw->controller, sw->location, sw->path,
			 detail[0] ? detail : strerror(-r));
	}
	return r;
}

void hv_storvsc_switch_commit(struct hv_channel *c, unsigned location, struct vhdx *v, const char *path)
{
	struct storvsc *s = st_of(c);
	struct disk *k = s->disk[location];
	struct vhdx *old;

	pthread_mutex_lock(&s->qlock);
	old = k->d.v;
	k->d.v = v;
	k->no_fast_read = k->no_fast_write = false; /* the new layer may be elsewhere */
	snprintf(k->d.path, sizeof(k->d.path), "%s", path);
	pthread_mutex_unlock(&s->qlock);
	/* Flushed already: closing marks its log clean and gives up the write lock; from now on
	 * it is read only as the new layer's parent. */
	if (vhdx_close(old) < 0) {
		/* its data was durable before the switch: nothing is lost */
	}
}

size_t hv_storvsc_stats(struct hv_channel *c, struct hv_disk_stats *out, size_t max)
{
	struct storvsc *s = st_of(c);
	size_t n = 0;
	unsigned i, b;

	pthread_mutex_lock(&s->qlock);
	for (i = 0; i < HV_MAX_SCSI_LOCATIONS; i++) {
		const struct disk *k = s->disk[i];
		struct hv_disk_stats *o;
		uint64_t seen = 0;

		if (!k)
			continue;
		if (n++ >= max)
			continue;
		o = &out[n - 1];
		memset(o, 0, sizeof(*o));
		o->controller = s->controller;
		o->location = i;
		snprintf(o->path, sizeof(o->path), "%s", k->d.path);
		o->read_ops = k->read_ops;
		o->write_ops = k->write_ops;
		o->read_bytes = k->read_bytes;
		o->write_bytes = k->write_bytes;
		o->flushes = k->flushes;
		o->unmaps = k->unmaps;
		o->errors = k->errors;
		o->inline_ops = k->inline_ops;
		o->queue_depth = k->queued;
		if (!k->lat_n)
			continue;
		o->lat_mean_ns = k->lat_sum / k->lat_n;
		for (b = 0; b < LAT_BUCKETS; b++) {
			seen += k->hist[b];
			if (seen * 100 >= k->lat_n * 99)
				break;
		}
		o->lat_p99_ns = b >= 63 ? UINT64_MAX : (2ULL << b);
	}
	pthread_mutex_unlock(&s->qlock);
	return n;
}

/* Saved with the partition (vmbus-save.c): the protocol version the guest negotiated, without
 * which a restored controller would refuse the guest's requests as if it had never
 * initialised; then the completions still waiting for room in the guest's ring (requests are
 * never in flight at a save: hv_storvsc_quiesce), a count and, each, the transaction id and
 * the 64-byte COMPLETE_IO. They exist only here: without them a restored guest would wait
 * for those requests for ever. A record of the version alone (older state files) loads too. */
#define SAVED_COMP (8 + VSTOR_PKT)

static size_t save(const struct hv_channel *c, uint8_t *buf, size_t max)
{
	const struct storvsc *s = c->priv;
	const struct req *r;
	uint32_t n = 0;

	for (r = s->backlog; r; r = r->next)
		if (r->gen == s->gen)
			n++;
	if (max < 8 + (size_t)n * SAVED_COMP)
		return 0; /* cannot be: at most QUEUE_MAX of them */
	hv_put32(buf, s->version);
	hv_put32(buf + 4, n);
	buf += 8;
	for (r = s->backlog; r; r = r->next) {
		if (r->gen != s->gen)
			continue;
		hv_put64(buf, r->trans_id);
		memcpy(buf + 8, r->pkt, VSTOR_PKT);
		buf += SAVED_COMP;
	}
	return 8 + (size_t)n * SAVED_COMP;
}

static int load(struct hv_channel *c, const uint8_t *data, size_t len)
{
	struct storvsc *s = st_of(c);
	uint32_t ver, n = 0, i;

	if (len != 4 && len < 8)
		return -EBADMSG;
	ver = hv_get32(data);
	if (ver && ver != PROTO_WIN10 && ver != PROTO_WIN8_1 && ver != PROTO_WIN8)
		return -EBADMSG;
	if (len > 4)
		n = hv_get32(data + 4);
	if (n > QUEUE_MAX || (len > 4 && len != 8 + (size_t)n * SAVED_COMP) || (n && !ver))
		return -EBADMSG;
	for (i = 0; i < n; i++)
		if (hv_get32(data + 8 + (size_t)i * SAVED_COMP + 8 + V_OP) != VSTOR_COMPLETE_IO)
			return -EBADMSG;
	s->version = ver;
	for (i = 0; i < n; i++) {
		const uint8_t *e = data + 8 + (size_t)i * SAVED_COMP;
		struct req *r = take_req(s);

		if (!r)
			return -EBADMSG;
		r->trans_id = hv_get64(e);
		memcpy(r->pkt, e + 8, VSTOR_PKT);
		r->gen = s->gen;
		backlog_add(s, r);
	}
	return 0;
}

const struct hv_vsp hv_vsp_storvsc = {
	.save = save,
	.load = load,
	.name = "Synthetic SCSI Controller",
	.class_id = "ba6163d9-04a1-4d29-b605-72e2ffb1dc7f",
	.instance_id = "d8b9a5a0-6b52-4cbe-9c3f-000000000000", /* the last field: controller */
	.ic = -1,
	.priv_size = sizeof(struct storvsc),
	.opened = opened,
	.packet = packet,
	.tick = tick,
	.gpa_packet = gpa_packet,
	.drained = drained,
	.ready = ready,
	.destroy = destroy,
};
