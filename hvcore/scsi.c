/* The SCSI command set of a virtual disk, served from a VHDX chain through libvhdx: what
 * a Linux sd driver (and Windows' disk class driver) uses of SPC-4 and SBC-3. Every field
 * of a CDB comes from the guest: LBAs and lengths are checked against the disk and the
 * buffer before any I/O, and anything unknown is ILLEGAL REQUEST with its sense code. Data
 * moves through one buffer the caller owns (the controller scatters and gathers the guest's
 * pages), at most HV_SCSI_MAX_XFER bytes. */
#include "config.h"

#include <errno.h>
#include <string.h>

#include "hvcore/hv-priv.h"
#include "hvcore/scsi.h"

/* Operation codes (SPC-4 / SBC-3). */
enum {
	TEST_UNIT_READY = 0x00,
	REQUEST_SENSE = 0x03,
	INQUIRY = 0x12,
	MODE_SENSE_6 = 0x1a,
	START_STOP_UNIT = 0x1b,
	READ_CAPACITY_10 = 0x25,
	READ_10 = 0x28,
	WRITE_10 = 0x2a,
	SYNCHRONIZE_CACHE_10 = 0x35,
	UNMAP = 0x42,
	MODE_SENSE_10 = 0x5a,
	READ_16 = 0x88,
	WRITE_16 = 0x8a,
	SYNCHRONIZE_CACHE_16 = 0x91,
	SERVICE_ACTION_IN_16 = 0x9e,
	REPORT_LUNS = 0xa0,
};
#define SAI_READ_CAPACITY_16 0x10

/* Sense keys and additional sense codes (SPC-4 4.5.6). */
#define KEY_MEDIUM_ERROR 0x03
#define KEY_ILLEGAL_REQUEST 0x05
#define KEY_DATA_PROTECT 0x07
#define ASC_WRITE_ERROR 0x0c
#define ASC_UNRECOVERED_READ 0x11
#define ASC_INVALID_OPCODE 0x20
#define ASC_LBA_OUT_OF_RANGE 0x21
#define ASC_INVALID_FIELD_CDB 0x24
#define ASC_LUN_NOT_SUPPORTED 0x25
#define ASC_INVALID_FIELD_PARAM 0x26
#define ASC_WRITE_PROTECTED 0x27
#define ASC_SAVING_NOT_SUPPORTED 0x39

#define MAX_UNMAP_DESC 256
#define RESP_MAX 512 /* largest answer built here (mode pages, VPD) */

static void sense(struct hv_scsi_cmd *c, uint8_t key, uint8_t asc)
{
	c->status = HV_SAM_CHECK_CONDITION;
	c->xfer = 0;
	memset(c->sense, 0, sizeof(c->sense));
	c->sense[0] = 0x70; /* current error, fixed format */
	c->sense[2] = key;
	c->sense[7] = HV_SCSI_SENSE - 8;
	c->sense[12] = asc;
}

static void bad_cdb(struct hv_scsi_cmd *c)
{
	sense(c, KEY_ILLEGAL_REQUEST, ASC_INVALID_FIELD_CDB);
}

/* An answer of n bytes, cut to the allocation length and the buffer. */
static void reply(struct hv_scsi_cmd *c, const uint8_t *data, uint32_t n, uint32_t alloc)
{
	if (n > alloc)
		n = alloc;
	if (n > c->len)
		n = c->len;
	memcpy(c->buf, data, n);
	c->xfer = n;
}

static uint32_t get_be16(const uint8_t *b)
{
	return (uint32_t)b[0] << 8 | b[1];
}

static uint32_t get_be32(const uint8_t *b)
{
	return get_be16(b) << 16 | get_be16(b + 2);
}

static uint64_t get_be64(const uint8_t *b)
{
	return (uint64_t)get_be32(b) << 32 | get_be32(b + 4);
}

static void put_be16(uint8_t *b, uint32_t v)
{
	b[0] = (uint8_t)(v >> 8);
	b[1] = (uint8_t)v;
}

static void put_be32(uint8_t *b, uint32_t v)
{
	put_be16(b, v >> 16);
	put_be16(b + 2, v);
}

static void put_be64(uint8_t *b, uint64_t v)
{
	put_be32(b, (uint32_t)(v >> 32));
	put_be32(b + 4, (uint32_t)v);
}

/* The CDB is as long as its group says (SPC-4 4.2.5.1): a shorter one is malformed. */
static unsigned cdb_need(uint8_t op)
{
	switch (op >> 5) {
	case 0: return 6;
	case 1:
	case 2: return 10;
	case 4: return 16;
	default: return 12;
	}
}

bool hv_scsi_data_out(const uint8_t *cdb, unsigned cdb_len)
{
	return cdb_len && (cdb[0] == WRITE_10 || cdb[0] == WRITE_16 || cdb[0] == UNMAP);
}

static void hex(char *out, const uint8_t *b, unsigned n)
{
	static const char digits[] = "0123456789ABCDEF";
	unsigned i;

	for (i = 0; i < n; i++) {
		out[2 * i] = digits[b[i] >> 4];
		out[2 * i + 1] = digits[b[i] & 15];
	}
}

static void standard_inquiry(uint8_t *r, uint8_t peripheral)
{
	memset(r, 0, 36);
	r[0] = peripheral;
	r[2] = 0x06; /* SPC-4 */
	r[3] = 0x02; /* response data format 2 */
	r[4] = 36 - 5;
	r[7] = 0x02; /* CMDQUE */
	memcpy(r + 8, "Msft    ", 8);
	memcpy(r + 16, "Virtual Disk    ", 16);
	memcpy(r + 32, "1.0 ", 4);
}

/* VPD pages (SPC-4 7.8, SBC-3 6.6). Page 0x83 names the disk by its VHDX Virtual Disk ID
 * (MS-VHDX 2.6.2.5), which is what Hyper-V hands its guests too: an NAA IEEE Registered
 * Extended designator (Microsoft's OUI, then the ID) and a T10 vendor designator. */
static uint32_t vpd(const struct hv_scsi_disk *d, uint8_t page, uint8_t *r)
{
	static const uint8_t pages[] = { 0x00, 0x80, 0x83, 0xb0, 0xb1, 0xb2 };
	uint32_t n, gran = d->block_size && d->lbs ? d->block_size / d->lbs : 1;

	memset(r, 0, RESP_MAX);
	r[1] = page;
	switch (page) {
	case 0x00:
		memcpy(r + 4, pages, sizeof(pages));
		n = sizeof(pages);
		break;
	case 0x80:
		hex((char *)r + 4, d->id.b, 16);
		n = 32;
		break;
	case 0x83:
		r[4] = 0x01; /* binary */
		r[5] = 0x03; /* NAA, associated with the logical unit */
		r[7] = 16;
		r[8] = 0x60;
		r[9] = 0x02;
		r[10] = 0x24;
		r[11] = 0x80;
		memcpy(r + 12, d->id.b, 12);
		r[28] = 0x02; /* ASCII */
		r[29] = 0x01; /* T10 vendor ID */
		r[31] = 8 + 32;
		memcpy(r + 32, "Msft    ", 8);
		hex((char *)r + 40, d->id.b, 16);
		n = 24 + 44;
		break;
	case 0xb0:
		n = 0x3c;
		put_be16(r + 6, d->pbs > d->lbs ? d->pbs / d->lbs : 1);
		put_be32(r + 8, HV_SCSI_MAX_XFER / d->lbs);
		put_be32(r + 12, HV_SCSI_MAX_XFER / d->lbs);
		put_be32(r + 20, 0xffffffffu);       /* max unmap LBA count */
		put_be32(r + 24, MAX_UNMAP_DESC);
		put_be32(r + 28, gran);              /* optimal unmap granularity: a VHDX block */
		break;
	case 0xb1:
		n = 0x3c;
		put_be16(r + 4, 1); /* non-rotating medium */
		break;
	case 0xb2:
		n = 4;
		r[5] = 0x80 | 0x04; /* LBPU: UNMAP; LBPRZ 1: unmapped blocks read as zeros */
		r[6] = 0x02;        /* thin provisioned */
		break;
	default:
		return 0;
	}
	put_be16(r + 2, n);
	return n + 4;
}

static void inquiry(const struct hv_scsi_disk *d, struct hv_scsi_cmd *c)
{
	uint8_t r[RESP_MAX];
	uint32_t alloc = get_be16(c->cdb + 3), n;

	if (!(c->cdb[1] & 1)) {
		if (c->cdb[2]) {
			bad_cdb(c);
			return;
		}
		standard_inquiry(r, 0x00);
		reply(c, r, 36, alloc);
		return;
	}
	n = vpd(d, c->cdb[2], r);
	if (!n) {
		bad_cdb(c);
		return;
	}
	reply(c, r, n, alloc);
}

static uint64_t blocks(const struct hv_scsi_disk *d)
{
	return d->size / d->lbs;
}

static void read_capacity(const struct hv_scsi_disk *d, struct hv_scsi_cmd *c, bool sixteen)
{
	uint8_t r[32];
	uint64_t last = blocks(d) - 1;
	unsigned exp = 0;

	memset(r, 0, sizeof(r));
	if (!sixteen) {
		put_be32(r, last > 0xffffffffu ? 0xffffffffu : (uint32_t)last);
		put_be32(r + 4, d->lbs);
		reply(c, r, 8, 8);
		return;
	}
	while (d->pbs > d->lbs && (d->lbs << (exp + 1)) <= d->pbs && exp < 15)
		exp++;
	put_be64(r, last);
	put_be32(r + 8, d->lbs);
	r[13] = (uint8_t)exp;
	r[14] = 0x80 | 0x40; /* LBPME, LBPRZ */
	reply(c, r, 32, get_be32(c->cdb + 10));
}

/* Mode pages (SPC-4 7.5, SBC-3 6.5): caching (write cache on: durability comes with
 * SYNCHRONIZE CACHE, which is a vhdx_flush) and control. */
static void mode_sense(const struct hv_scsi_disk *d, struct hv_scsi_cmd *c, bool ten)
{
	uint8_t r[RESP_MAX], page = c->cdb[2] & 0x3f, pc = c->cdb[2] >> 6;
	uint32_t hdr = ten ? 8 : 4, n = hdr;
	uint32_t alloc = ten ? get_be16(c->cdb + 7) : c->cdb[4];

	if (pc == 3) {
		sense(c, KEY_ILLEGAL_REQUEST, ASC_SAVING_NOT_SUPPORTED);
		return;
	}
	if ((page != 0x08 && page != 0x0a && page != 0x3f) || c->cdb[3] != 0) {
		bad_cdb(c);
		return;
	}
	memset(r, 0, sizeof(r));
	if (page == 0x08 || page == 0x3f) {
		r[n] = 0x08;
		r[n + 1] = 0x12;
		if (pc != 1)
			r[n + 2] = 0x04; /* WCE */
		n += 20;
	}
	if (page == 0x0a || page == 0x3f) {
		r[n] = 0x0a;
		r[n + 1] = 0x0a;
		n += 12;
	}
	/* Device-specific parameter: WP, DPOFUA. */
	if (ten) {
		put_be16(r, n - 2);
		r[3] = (uint8_t)((d->read_only ? 0x80 : 0) | 0x10);
	} else {
		r[0] = (uint8_t)(n - 1);
		r[2] = (uint8_t)((d->read_only ? 0x80 : 0) | 0x10);
	}
	reply(c, r, n, alloc);
}

/* LBA and block count of READ/WRITE/SYNCHRONIZE CACHE (10) and (16). */
static void lba_count(const uint8_t *cdb, uint64_t *lba, uint64_t *n)
{
	if (cdb[0] == READ_10 || cdb[0] == WRITE_10) {
		*lba = get_be32(cdb + 2);
		*n = get_be16(cdb + 7);
	} else if (cdb[0] == SYNCHRONIZE_CACHE_10) {
		*lba = get_be32(cdb + 2);
		*n = get_be16(cdb + 7);
	} else {
		*lba = get_be64(cdb + 2);
		*n = get_be32(cdb + 10);
	}
}

static bool in_range(const struct hv_scsi_disk *d, uint64_t lba, uint64_t n)
{
	return lba <= blocks(d) && n <= blocks(d) - lba;
}

static void rw(struct hv_scsi_disk *d, struct hv_scsi_cmd *c, bool write)
{
	uint64_t lba, n, bytes;
	int r;

	lba_count(c->cdb, &lba, &n);
	c->kind = write ? HV_SCSI_WRITE : HV_SCSI_READ;
	if (!in_range(d, lba, n)) {
		sense(c, KEY_ILLEGAL_REQUEST, ASC_LBA_OUT_OF_RANGE);
		return;
	}
	bytes = n * d->lbs;
	if (bytes > HV_SCSI_MAX_XFER || bytes > c->len) {
		bad_cdb(c); /* more than the SRB's buffer holds */
		return;
	}
	if (write && d->read_only) {
		sense(c, KEY_DATA_PROTECT, ASC_WRITE_PROTECTED);
		return;
	}
	if (!n)
		return;
	if (write) {
		r = vhdx_write(d->v, c->buf, bytes, lba * d->lbs);
		if (r == 0 && (c->cdb[1] & 0x08)) /* FUA */
			r = vhdx_flush(d->v);
	} else {
		r = vhdx_read(d->v, c->buf, bytes, lba * d->lbs);
	}
	if (r) {
		sense(c, KEY_MEDIUM_ERROR, write ? ASC_WRITE_ERROR : ASC_UNRECOVERED_READ);
		return;
	}
	c->xfer = (uint32_t)bytes;
	c->bytes = bytes;
}

bool hv_scsi_rw_plain(const struct hv_scsi_disk *d, const uint8_t *cdb, unsigned cdb_len,
		      uint32_t buf_len, bool *write, uint64_t *off, uint32_t *bytes)
{
	uint64_t lba, n;

	if (!cdb_len || cdb_len < cdb_need(cdb[0]))
		return false;
	switch (cdb[0]) {
	case READ_10:
	case READ_16:
		*write = false;
		break;
	case WRITE_10:
	case WRITE_16:
		/* FUA needs a flush; DPO and the protection bits are ignored by rw() too */
		if (d->read_only || (cdb[1] & 0x08))
			return false;
		*write = true;
		break;
	default:
		return false;
	}
	lba_count(cdb, &lba, &n);
	if (!n || !in_range(d, lba, n) || n * d->lbs > HV_SCSI_MAX_XFER || n * d->lbs > buf_len)
		return false;
	*off = lba * d->lbs;
	*bytes = (uint32_t)(n * d->lbs);
	return true;
}

static void sync_cache(struct hv_scsi_disk *d, struct hv_scsi_cmd *c)
{
	uint64_t lba, n;

	lba_count(c->cdb, &lba, &n);
	c->kind = HV_SCSI_FLUSH;
	if (!in_range(d, lba, n)) {
		sense(c, KEY_ILLEGAL_REQUEST, ASC_LBA_OUT_OF_RANGE);
		return;
	}
	/* Everything acknowledged before this command went through the one queue before it:
	 * one flush of the image makes all of it durable. */
	if (!d->read_only && vhdx_flush(d->v))
		sense(c, KEY_MEDIUM_ERROR, ASC_WRITE_ERROR);
}

/* UNMAP parameter list (SBC-3 5.28): header of 8, descriptors of 16 (LBA, count). Every
 * descriptor is checked before any is applied. */
static void unmap(struct hv_scsi_disk *d, struct hv_scsi_cmd *c)
{
	uint32_t plen = get_be16(c->cdb + 7), dlen, i, nd;
	const uint8_t *p = c->buf;

	c->kind = HV_SCSI_UNMAP;
	if (d->read_only) {
		sense(c, KEY_DATA_PROTECT, ASC_WRITE_PROTECTED);
		return;
	}
	if (plen == 0)
		return;
	if (plen < 8 || plen > c->len) {
		bad_cdb(c);
		return;
	}
	dlen = get_be16(p + 2);
	if (dlen % 16 || dlen + 8 > plen || dlen / 16 > MAX_UNMAP_DESC) {
		sense(c, KEY_ILLEGAL_REQUEST, ASC_INVALID_FIELD_PARAM);
		return;
	}
	nd = dlen / 16;
	for (i = 0; i < nd; i++)
		if (!in_range(d, get_be64(p + 8 + 16 * i), get_be32(p + 16 + 16 * i))) {
			sense(c, KEY_ILLEGAL_REQUEST, ASC_LBA_OUT_OF_RANGE);
			return;
		}
	for (i = 0; i < nd; i++) {
		uint64_t lba = get_be64(p + 8 + 16 * i), n = get_be32(p + 16 + 16 * i);

		if (n && vhdx_discard(d->v, lba * d->lbs, n * d->lbs)) {
			sense(c, KEY_MEDIUM_ERROR, ASC_WRITE_ERROR);
			return;
		}
		c->bytes += n * d->lbs;
	}
	c->xfer = plen;
}

void hv_scsi_exec(struct hv_scsi_disk *d, struct hv_scsi_cmd *c)
{
	uint8_t r[32];

	c->status = HV_SAM_GOOD;
	c->xfer = 0;
	c->kind = HV_SCSI_OTHER;
	c->bytes = 0;
	/* Groups 3, 6 and 7 are reserved or vendor-specific: none of ours is there. */
	if (c->cdb_len == 0 || (c->cdb[0] >> 5) == 3 || (c->cdb[0] >> 5) >= 6) {
		sense(c, KEY_ILLEGAL_REQUEST, ASC_INVALID_OPCODE);
		return;
	}
	if (c->cdb_len < cdb_need(c->cdb[0])) {
		bad_cdb(c);
		return;
	}
	switch (c->cdb[0]) {
	case TEST_UNIT_READY:
	case START_STOP_UNIT:
		break;
	case REQUEST_SENSE:
		memset(r, 0, sizeof(r));
		r[0] = 0x70;
		r[7] = HV_SCSI_SENSE - 8;
		reply(c, r, HV_SCSI_SENSE, c->cdb[4]);
		break;
	case INQUIRY: inquiry(d, c); break;
	case READ_CAPACITY_10: read_capacity(d, c, false); break;
	case SERVICE_ACTION_IN_16:
		if ((c->cdb[1] & 0x1f) != SAI_READ_CAPACITY_16)
			bad_cdb(c);
		else
			read_capacity(d, c, true);
		break;
	case MODE_SENSE_6: mode_sense(d, c, false); break;
	case MODE_SENSE_10: mode_sense(d, c, true); break;
	case READ_10:
	case READ_16: rw(d, c, false); break;
	case WRITE_10:
	case WRITE_16: rw(d, c, true); break;
	case SYNCHRONIZE_CACHE_10:
	case SYNCHRONIZE_CACHE_16: sync_cache(d, c); break;
	case UNMAP: unmap(d, c); break;
	default: sense(c, KEY_ILLEGAL_REQUEST, ASC_INVALID_OPCODE); break;
	}
}

/* SPC-4 6.33: an 8-byte header, then 8 bytes per LUN, single-level peripheral addressing
 * (bus 0, the LUN in byte 1). */
void hv_scsi_report_luns(const unsigned *luns, unsigned n, struct hv_scsi_cmd *c)
{
	uint8_t r[8 + 8 * 64];
	unsigned i;

	c->status = HV_SAM_GOOD;
	c->xfer = 0;
	c->kind = HV_SCSI_OTHER;
	c->bytes = 0;
	if (c->cdb_len < 12 || c->cdb[2] > 2 || get_be32(c->cdb + 6) < 16) {
		bad_cdb(c);
		return;
	}
	if (n > 64)
		n = 64;
	memset(r, 0, sizeof(r));
	put_be32(r, 8 * n);
	for (i = 0; i < n; i++)
		r[8 + 8 * i + 1] = (uint8_t)luns[i];
	reply(c, r, 8 + 8 * n, get_be32(c->cdb + 6));
}

void hv_scsi_no_lun(struct hv_scsi_cmd *c)
{
	uint8_t r[36];

	c->status = HV_SAM_GOOD;
	c->xfer = 0;
	c->kind = HV_SCSI_OTHER;
	c->bytes = 0;
	if (c->cdb_len >= 6 && c->cdb[0] == INQUIRY && !(c->cdb[1] & 1) && !c->cdb[2]) {
		standard_inquiry(r, 0x7f); /* not connected, no device type */
		reply(c, r, 36, get_be16(c->cdb + 3));
		return;
	}
	sense(c, KEY_ILLEGAL_REQUEST, ASC_LUN_NOT_SUPPORTED);
}
