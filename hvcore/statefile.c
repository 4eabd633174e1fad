/* The saved-state container (hvcore/STATEFILE.md): a header, a table of sections, and the
 * sections, each with its CRC-32C. Reading treats the file as hostile: every offset and
 * length is checked against the file before use, and a bad file is -EBADMSG with a sentence
 * in err, never a crash. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hvcore/hv-priv.h"
#include "hvcore/state.h"

/* ---- CRC-32C (Castagnoli), with SSE 4.2 where the host has it ---- */

static uint32_t crc_table[256];

static void crc_init(void)
{
	uint32_t i, k, c;

	for (i = 0; i < 256; i++) {
		c = i;
		for (k = 0; k < 8; k++)
			c = (c >> 1) ^ (0x82f63b78u & (0u - (c & 1)));
		crc_table[i] = c;
	}
}

static uint32_t crc_soft(uint32_t crc, const uint8_t *p, size_t len)
{
	while (len--)
		crc = crc_table[(crc ^ *p++) & 0xff] ^ (crc >> 8);
	return crc;
}

__attribute__((target("sse4.2"))) static uint32_t crc_hw(uint32_t crc, const uint8_t *p, size_t len)
{
	uint64_t c = crc, v;

	while (len && ((uintptr_t)p & 7)) {
		c = __builtin_ia32_crc32qi((uint32_t)c, *p++);
		len--;
	}
	while (len >= 8) {
		memcpy(&v, p, 8);
		c = __builtin_ia32_crc32di(c, v);
		p += 8;
		len -= 8;
	}
	while (len--)
		c = __builtin_ia32_crc32qi((uint32_t)c, *p++);
	return (uint32_t)c;
}

static int crc_mode; /* 0 unknown, 1 soft, 2 hardware */
/* The register after a zero page: linear in the register, so four tables of 256. */
static uint32_t zero_page_op[4][256];

static void crc_setup(void)
{
	static const uint8_t zeros[HV_STATE_PAGE];
	uint32_t basis[32];
	int i, k, b;

	if (__atomic_load_n(&crc_mode, __ATOMIC_ACQUIRE))
		return;
	crc_init();
	for (i = 0; i < 32; i++)
		basis[i] = crc_soft(1u << i, zeros, sizeof(zeros));
	for (k = 0; k < 4; k++)
		for (b = 0; b < 256; b++) {
			uint32_t v = 0;

			for (i = 0; i < 8; i++)
				if (b & (1 << i))
					v ^= basis[8 * k + i];
			zero_page_op[k][b] = v;
		}
	__builtin_cpu_init();
	__atomic_store_n(&crc_mode, __builtin_cpu_supports("sse4.2") ? 2 : 1, __ATOMIC_RELEASE);
}

/* The CRC register (not inverted) over buf. */
static uint32_t crc_raw(uint32_t r, const void *buf, size_t len)
{
	return crc_mode == 2 ? crc_hw(r, buf, len) : crc_soft(r, buf, len);
}

static uint32_t crc_raw_zero_page(uint32_t r)
{
	return zero_page_op[0][r & 0xff] ^ zero_page_op[1][(r >> 8) & 0xff] ^ zero_page_op[2][(r >> 16) & 0xff] ^
	       zero_page_op[3][r >> 24];
}

uint32_t hv_crc32c(uint32_t crc, const void *buf, size_t len)
{
	crc_setup();
	return ~crc_raw(~crc, buf, len);
}

/* ---- writing ---- */

static uint64_t align_up(uint64_t v, uint64_t a)
{
	return (v + a - 1) & ~(a - 1);
}

static int pwrite_all(int fd, const void *buf, size_t len, uint64_t off)
{
	const uint8_t *p = buf;

	while (len) {
		ssize_t n = pwrite(fd, p, len, (off_t)off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -EIO;
		p += n;
		len -= (size_t)n;
		off += (uint64_t)n;
	}
	return 0;
}

int hv_state_writer_init(struct hv_state_writer *w, int fd, unsigned nsections)
{
	memset(w, 0, sizeof(*w));
	w->fd = fd;
	w->maxsec = nsections;
	w->table = calloc(nsections, HV_STATE_SEC_LEN);
	if (!w->table)
		return -ENOMEM;
	w->pos = align_up(HV_STATE_HDR_LEN + (uint64_t)nsections * HV_STATE_SEC_LEN, 8);
	/* An old file of the same name must not lend this one its tail. */
	if (ftruncate(fd, 0) < 0)
		return -errno;
	return 0;
}

static void grow(struct hv_state_writer *w, size_t more)
{
	size_t cap = w->cap ? w->cap : 4096;
	uint8_t *b;

	if (w->error || w->len + more <= w->cap)
		return;
	while (cap < w->len + more)
		cap *= 2;
	b = realloc(w->buf, cap);
	if (!b) {
		w->error = -ENOMEM;
		return;
	}
	w->buf = b;
	w->cap = cap;
}

void hv_state_rec(struct hv_state_writer *w, uint32_t kind, const void *data, size_t len)
{
	size_t padded = (size_t)align_up(len, 8);

	grow(w, 8 + padded);
	if (w->error)
		return;
	hv_put32(w->buf + w->len, kind);
	hv_put32(w->buf + w->len + 4, (uint32_t)len);
	memcpy(w->buf + w->len + 8, data, len);
	memset(w->buf + w->len + 8 + len, 0, padded - len);
	w->len += 8 + padded;
}

static void table_entry(struct hv_state_writer *w, uint32_t type, uint32_t flags, uint64_t off, uint64_t len,
			uint32_t crc)
{
	uint8_t *e;

	if (w->nsec == w->maxsec) {
		w->error = -E2BIG;
		return;
	}
	e = w->table + (size_t)w->nsec++ * HV_STATE_SEC_LEN;
	hv_put32(e, type);
	hv_put32(e + 4, flags);
	hv_put64(e + 8, off);
	hv_put64(e + 16, len);
	hv_put32(e + 24, crc);
	hv_put32(e + 28, 0);
}

void hv_state_section_end(struct hv_state_writer *w, uint32_t type, uint32_t flags)
{
	int r;

	if (!w->error) {
		r = pwrite_all(w->fd, w->buf, w->len, w->pos);
		if (r)
			w->error = r;
		else
			table_entry(w, type, flags, w->pos, w->len, hv_crc32c(0, w->buf, w->len));
		w->pos = align_up(w->pos + w->len, 8);
	}
	w->len = 0;
}

/* One pass over a page: its CRC and whether it is all zeros. */
__attribute__((target("sse4.2"))) static uint32_t page_crc_hw(uint32_t r, const uint8_t *p, bool *zero)
{
	uint64_t c = r, v, acc = 0;
	size_t i;

	for (i = 0; i < HV_STATE_PAGE; i += 8) {
		memcpy(&v, p + i, 8);
		acc |= v;
		c = __builtin_ia32_crc32di(c, v);
	}
	*zero = acc == 0;
	return (uint32_t)c;
}

static uint32_t page_crc(uint32_t r, const uint8_t *p, bool *zero)
{
	const uint64_t *q = (const uint64_t *)(const void *)p;
	uint64_t acc = 0;
	size_t i;

	if (crc_mode == 2)
		return page_crc_hw(r, p, zero);
	for (i = 0; i < HV_STATE_PAGE / 8; i++)
		acc |= q[i];
	*zero = acc == 0;
	return acc ? crc_soft(r, p, HV_STATE_PAGE) : crc_raw_zero_page(r);
}

#define PM_PRESENT (1ull << 63)
#define PM_SWAPPED (1ull << 62)
#define CHUNK_PAGES 512

/* Which pages of [p, p + CHUNK_PAGES pages) were ever touched (present or swapped), from
 * /proc/self/pagemap; false when that cannot be read (then every page counts as touched). */
static bool touched_pages(int pm, const uint8_t *p, size_t npages, uint64_t *flags)
{
	off_t off = (off_t)((uintptr_t)p / HV_STATE_PAGE * 8);

	return pm >= 0 && pread(pm, flags, npages * 8, off) == (ssize_t)(npages * 8);
}

/* Zero pages stay holes: a fresh partition's memory is mostly zeros, and the mapping that
 * restores it reads holes as zeros. Pages of anonymous memory the guest never touched are
 * not even read (reading would map them). */
/* Whether the file holds no data at [off, off + page): a hole, read as zeros. The cursor
 * remembers the data extent last found, so a walk upwards costs few lseeks. */
struct holes {
	int fd;
	uint64_t data, data_end; /* the next data extent at or after the last query */
	bool valid, none;        /* none: no data after it */
};

static bool in_hole(struct holes *h, uint64_t off)
{
	off_t d, e;

	if (h->fd < 0)
		return false;
	if (!h->valid || off >= h->data_end) {
		d = lseek(h->fd, (off_t)off, SEEK_DATA);
		if (d < 0 && errno == ENXIO) {
			h->none = true;
			h->valid = true;
			return true;
		}
		e = d < 0 ? -1 : lseek(h->fd, d, SEEK_HOLE);
		if (d < 0 || e < 0) {
			h->fd = -1; /* no SEEK_DATA here: read everything */
			return false;
		}
		h->data = (uint64_t)d;
		h->data_end = (uint64_t)e;
		h->valid = true;
		h->none = false;
	}
	if (h->none)
		return true;
	return off + HV_STATE_PAGE <= h->data;
}

void hv_state_memory(struct hv_state_writer *w, const uint8_t *ram, uint64_t len, int src_fd, uint64_t src_off)
{
	struct holes holes = { .fd = src_fd >= 0 ? src_fd : -1 };
	bool anon = src_fd == -2;
	uint64_t off = align_up(w->pos, HV_STATE_PAGE), i, run = 0, run_len = 0;
	uint64_t flags[CHUNK_PAGES];
	uint32_t r;
	bool have_flags = false;
	int pm = -1, rc;

	if (w->error)
		return;
	crc_setup();
	r = ~0u;
	if (anon || holes.fd >= 0)
		pm = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
	for (i = 0; i < len; i += HV_STATE_PAGE) {
		uint64_t page = i / HV_STATE_PAGE;
		bool zero;

		if (page % CHUNK_PAGES == 0) {
			size_t n = (size_t)((len - i) / HV_STATE_PAGE);

			have_flags = touched_pages(pm, ram + i, n < CHUNK_PAGES ? n : CHUNK_PAGES, flags);
		}
		if (have_flags && !(flags[page % CHUNK_PAGES] & (PM_PRESENT | PM_SWAPPED)) &&
		    (anon || in_hole(&holes, src_off + i))) {
			zero = true;
			r = crc_raw_zero_page(r);
		} else {
			r = page_crc(r, ram + i, &zero);
		}
		if (!zero && run_len == 0)
			run = i;
		if (!zero)
			run_len += HV_STATE_PAGE;
		if ((zero || i + HV_STATE_PAGE >= len || run_len >= (8u << 20)) && run_len) {
			rc = pwrite_all(w->fd, ram + run, run_len, off + run);
			if (rc) {
				w->error = rc;
				break;
			}
			run_len = 0;
		}
	}
	if (pm >= 0)
		close(pm);
	if (w->error)
		return;
	table_entry(w, HV_SEC_MEMORY, HV_SEC_F_REQUIRED, off, len, ~r);
	w->pos = off + len;
}

int hv_state_writer_finish(struct hv_state_writer *w, uint32_t nvcpus, uint64_t mem_bytes, int64_t now_ns)
{
	uint8_t h[HV_STATE_HDR_LEN];
	int r = w->error;

	if (r == 0 && ftruncate(w->fd, (off_t)w->pos) < 0)
		r = -errno;
	if (r == 0)
		r = pwrite_all(w->fd, w->table, (size_t)w->nsec * HV_STATE_SEC_LEN, HV_STATE_HDR_LEN);
	if (r == 0) {
		memset(h, 0, sizeof(h));
		memcpy(h, HV_STATE_MAGIC, 8);
		hv_put32(h + 8, HV_STATE_VERSION);
		hv_put32(h + 12, HV_STATE_HDR_LEN);
		hv_put32(h + 16, w->nsec);
		hv_put32(h + 20, HV_STATE_SEC_LEN);
		hv_put64(h + 24, w->pos);
		hv_put64(h + 32, (uint64_t)now_ns);
		hv_put32(h + 40, nvcpus);
		hv_put64(h + 48, mem_bytes);
		hv_put32(h + 56, hv_crc32c(0, w->table, (size_t)w->nsec * HV_STATE_SEC_LEN));
		hv_put32(h + 60, hv_crc32c(0, h, 60));
		r = pwrite_all(w->fd, h, sizeof(h), 0);
	}
	free(w->table);
	free(w->buf);
	w->table = w->buf = NULL;
	return r;
}

/* ---- reading ---- */

static int fail(char *err, size_t errlen, int rc, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static int fail(char *err, size_t errlen, int rc, const char *fmt, ...)
{
	va_list ap;

	if (err && errlen) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return rc;
}

static int pread_all(int fd, void *buf, size_t len, uint64_t off)
{
	uint8_t *p = buf;

	while (len) {
		ssize_t n = pread(fd, p, len, (off_t)off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -EBADMSG; /* shorter than it says */
		p += n;
		len -= (size_t)n;
		off += (uint64_t)n;
	}
	return 0;
}

void hv_state_free(struct hv_state *st)
{
	uint32_t i;

	if (!st)
		return;
	for (i = 0; st->vcpus && i < st->nvcpus; i++)
		free(st->vcpus[i].xsave);
	free(st->vcpus);
	hv_saved_hv_free(st->hv);
	free(st);
}

struct rec {
	uint32_t kind, len;
	const uint8_t *data;
};

/* Next record of a section body; 1 got one, 0 end, -1 malformed. */
static int next_rec(const uint8_t *b, size_t len, size_t *pos, struct rec *r)
{
	size_t left;

	if (*pos == len)
		return 0;
	left = len - *pos;
	if (left < 8)
		return -1;
	r->kind = hv_get32(b + *pos);
	r->len = hv_get32(b + *pos + 4);
	if (r->len > left - 8)
		return -1;
	r->data = b + *pos + 8;
	*pos += 8 + (size_t)r->len;
	/* Padding to 8 may be cut off at the very end only. */
	*pos = *pos + ((8 - (r->len & 7)) & 7) > len ? len : *pos + ((8 - (r->len & 7)) & 7);
	return 1;
}

#define COPY_REC(dst, r) \
	((r)->len == sizeof(dst) ? (memcpy(&(dst), (r)->data, sizeof(dst)), 0) : -1)

static int parse_vm(struct hv_state *st, const uint8_t *b, size_t len, char *err, size_t errlen)
{
	struct kvm_irqchip chip;
	size_t pos = 0;
	struct rec r;
	int k;

	while ((k = next_rec(b, len, &pos, &r)) == 1) {
		int bad = 0;

		switch (r.kind) {
		case HV_REC_VM_CLOCK:
			bad = COPY_REC(st->clock, &r);
			st->vm_have |= 1;
			break;
		case HV_REC_VM_PIT2:
			bad = COPY_REC(st->pit, &r);
			st->vm_have |= 2;
			break;
		case HV_REC_VM_IRQCHIP:
			bad = COPY_REC(chip, &r);
			if (!bad && chip.chip_id > 2)
				bad = -1;
			if (!bad) {
				st->chips[chip.chip_id] = chip;
				st->vm_have |= 4u << chip.chip_id;
			}
			break;
		default:
			if (!(r.kind & HV_REC_OPTIONAL))
				return fail(err, errlen, -ENOTSUP, "the VM section holds a record of unknown kind %u",
					    r.kind);
			st->skipped++;
		}
		if (bad)
			return fail(err, errlen, -EBADMSG, "the VM section's record %u has the wrong size (%u bytes)",
				    r.kind, r.len);
	}
	if (k < 0)
		return fail(err, errlen, -EBADMSG, "the VM section's records overrun it");
	if (st->vm_have != 0x1f)
		return fail(err, errlen, -EBADMSG, "the VM section lacks the clock, PIT or an interrupt controller");
	return 0;
}

static int cpu_rec(struct hv_saved_vcpu *v, const struct rec *r)
{
	uint32_t i, n;

	switch (r->kind) {
	case HV_REC_CPU_ID:
		return r->len == 4 ? (v->id = hv_get32(r->data), 0) : -1;
	case HV_REC_CPU_MP_STATE: return COPY_REC(v->mp, r);
	case HV_REC_CPU_REGS: return COPY_REC(v->regs, r);
	case HV_REC_CPU_SREGS: return COPY_REC(v->sregs, r);
	case HV_REC_CPU_FPU: return COPY_REC(v->fpu, r);
	case HV_REC_CPU_XCRS: return COPY_REC(v->xcrs, r);
	case HV_REC_CPU_DEBUGREGS: return COPY_REC(v->dregs, r);
	case HV_REC_CPU_LAPIC: return COPY_REC(v->lapic, r);
	case HV_REC_CPU_EVENTS: return COPY_REC(v->events, r);
	case HV_REC_CPU_TSC_KHZ:
		return r->len == 4 ? (v->tsc_khz = hv_get32(r->data), 0) : -1;
	case HV_REC_CPU_XSAVE:
		if (r->len < sizeof(struct kvm_xsave) || r->len > HV_STATE_MAX_XSAVE || v->xsave)
			return -1;
		v->xsave = malloc(r->len);
		if (!v->xsave)
			return -1;
		memcpy(v->xsave, r->data, r->len);
		v->xsave_len = r->len;
		return 0;
	case HV_REC_CPU_MSRS:
		if (r->len < 8)
			return -1;
		n = hv_get32(r->data);
		if (n > HV_STATE_MAX_MSRS || r->len != 8 + 16 * n)
			return -1;
		for (i = 0; i < n; i++) {
			v->msrs[i].index = hv_get32(r->data + 8 + 16 * i);
			v->msrs[i].data = hv_get64(r->data + 16 + 16 * i);
		}
		v->nmsrs = n;
		return 0;
	}
	return -2;
}

#define CPU_NEEDED                                                                                     \
	((1u << HV_REC_CPU_ID) | (1u << HV_REC_CPU_MP_STATE) | (1u << HV_REC_CPU_REGS) |                  \
	 (1u << HV_REC_CPU_SREGS) | (1u << HV_REC_CPU_LAPIC) | (1u << HV_REC_CPU_MSRS) |                  \
	 (1u << HV_REC_CPU_EVENTS))

static int parse_vcpu(struct hv_state *st, bool *seen, const uint8_t *b, size_t len, char *err, size_t errlen)
{
	struct hv_saved_vcpu *v = calloc(1, sizeof(*v));
	size_t pos = 0;
	struct rec r;
	int k, rc = 0;

	if (!v)
		return -ENOMEM;
	while ((k = next_rec(b, len, &pos, &r)) == 1) {
		int bad = cpu_rec(v, &r);

		if (bad == -2 && (r.kind & HV_REC_OPTIONAL)) {
			st->skipped++;
			continue;
		}
		if (bad == -2) {
			rc = fail(err, errlen, -ENOTSUP, "a vCPU section holds a record of unknown kind %u", r.kind);
			goto out;
		}
		if (bad) {
			rc = fail(err, errlen, -EBADMSG, "a vCPU section's record %u is malformed (%u bytes)", r.kind,
				  r.len);
			goto out;
		}
		v->have |= 1u << (r.kind & 31);
	}
	if (k < 0) {
		rc = fail(err, errlen, -EBADMSG, "a vCPU section's records overrun it");
		goto out;
	}
	if ((v->have & CPU_NEEDED) != CPU_NEEDED ||
	    !(v->have & ((1u << HV_REC_CPU_XSAVE) | (1u << HV_REC_CPU_FPU)))) {
		rc = fail(err, errlen, -EBADMSG, "a vCPU section lacks part of the processor state");
		goto out;
	}
	if (v->id >= st->nvcpus || seen[v->id]) {
		rc = fail(err, errlen, -EBADMSG, "vCPU section %u is out of range or repeated", v->id);
		goto out;
	}
	seen[v->id] = true;
	st->vcpus[v->id] = *v;
	v->xsave = NULL;
out:
	free(v->xsave);
	free(v);
	return rc;
}

static int parse_devices(struct hv_state *st, const uint8_t *b, size_t len, char *err, size_t errlen)
{
	struct hv_saved_serial *s = &st->serial;
	size_t pos = 0;
	struct rec r;
	int k;

	while ((k = next_rec(b, len, &pos, &r)) == 1) {
		if (r.kind == HV_REC_DEV_SERIAL) {
			const uint8_t *d = r.data;

			if (r.len != HV_SAVED_SERIAL_LEN)
				return fail(err, errlen, -EBADMSG, "the serial port's state has the wrong size");
			s->ier = d[0], s->iir_thre = d[1], s->lcr = d[2], s->mcr = d[3], s->scr = d[4];
			s->dll = d[5], s->dlm = d[6], s->fcr = d[7], s->irq_level = d[8];
			s->rx_head = hv_get16(d + 9);
			s->rx_len = hv_get16(d + 11);
			s->out_len = hv_get16(d + 13);
			memcpy(s->rx, d + 15, 256);
			memcpy(s->out, d + 15 + 256, 256);
			if (s->rx_head >= 256 || s->rx_len > 256 || s->out_len >= 256)
				return fail(err, errlen, -EBADMSG, "the serial port's FIFO state is out of range");
			st->have_serial = true;
		} else if (r.kind == HV_REC_DEV_PM) {
			if (r.len != HV_SAVED_PM_LEN)
				return fail(err, errlen, -EBADMSG, "the power management state has the wrong size");
			memcpy(st->pm.regs, r.data, 8);
			st->pm.sci_level = r.data[8];
			st->have_pm = true;
		} else if (r.kind & HV_REC_OPTIONAL) {
			st->skipped++;
		} else {
			return fail(err, errlen, -ENOTSUP, "the device section holds a record of unknown kind %u", r.kind);
		}
	}
	if (k < 0)
		return fail(err, errlen, -EBADMSG, "the device section's records overrun it");
	return 0;
}

static int check_header(const uint8_t *h, uint64_t size, struct hv_state *st, uint32_t *nsec, char *err,
			size_t errlen)
{
	uint64_t flen;

	if (memcmp(h, HV_STATE_MAGIC, 8) != 0)
		return fail(err, errlen, -EBADMSG, "it is not an hvkit saved-state file (or it was never completed)");
	if (hv_get32(h + 60) != hv_crc32c(0, h, 60))
		return fail(err, errlen, -EBADMSG, "its header checksum does not match");
	st->version = hv_get32(h + 8);
	if (st->version != HV_STATE_VERSION)
		return fail(err, errlen, -ENOTSUP, "it is of format version %u; this hvkit reads version %u",
			    st->version, HV_STATE_VERSION);
	if (hv_get32(h + 12) != HV_STATE_HDR_LEN || hv_get32(h + 20) != HV_STATE_SEC_LEN)
		return fail(err, errlen, -EBADMSG, "its header gives unexpected sizes");
	*nsec = hv_get32(h + 16);
	flen = hv_get64(h + 24);
	st->saved_ns = (int64_t)hv_get64(h + 32);
	st->nvcpus = hv_get32(h + 40);
	st->mem_bytes = hv_get64(h + 48);
	if (*nsec == 0 || *nsec > HV_STATE_MAX_SECTIONS)
		return fail(err, errlen, -EBADMSG, "it claims %u sections", *nsec);
	if (flen > size)
		return fail(err, errlen, -EBADMSG, "it is truncated: %llu bytes of %llu", (unsigned long long)size,
			    (unsigned long long)flen);
	if (st->nvcpus == 0 || st->nvcpus > HV_MAX_VCPUS || st->mem_bytes < HV_MIN_MEM ||
	    st->mem_bytes > (1ULL << 40) || (st->mem_bytes & ((2ULL << 20) - 1)))
		return fail(err, errlen, -EBADMSG, "it describes an impossible partition (%u vCPUs, %llu bytes)",
			    st->nvcpus, (unsigned long long)st->mem_bytes);
	if (HV_STATE_HDR_LEN + (uint64_t)*nsec * HV_STATE_SEC_LEN > flen)
		return fail(err, errlen, -EBADMSG, "its section table runs past its end");
	return 0;
}

static int one_section(int fd, struct hv_state *st, bool *seen, const uint8_t *e, uint64_t flen,
		       unsigned *have, char *err, size_t errlen)
{
	uint32_t type = hv_get32(e), flags = hv_get32(e + 4), crc = hv_get32(e + 24);
	uint64_t off = hv_get64(e + 8), len = hv_get64(e + 16);
	bool hvsec;
	uint8_t *b;
	int rc;

	if (off > flen || len > flen - off)
		return fail(err, errlen, -EBADMSG, "section of type %u lies outside the file", type);
	if (type == HV_SEC_MEMORY) {
		if ((off & (HV_STATE_PAGE - 1)) || len != st->mem_bytes || (*have & (1u << type)))
			return fail(err, errlen, -EBADMSG, "the memory section is misplaced or of the wrong size");
		st->mem_off = off;
		st->mem_len = len;
		st->mem_crc = crc;
		*have |= 1u << type;
		return 0;
	}
	hvsec = type == HV_SEC_HYPERV || type == HV_SEC_VMBUS;
	if (type != HV_SEC_VM && type != HV_SEC_VCPU && type != HV_SEC_DEVICES && !hvsec) {
		if (flags & HV_SEC_F_REQUIRED)
			return fail(err, errlen, -ENOTSUP,
				    "it holds a required section of type %u that this hvkit does not know", type);
		st->skipped++;
		return 0;
	}
	if (len > HV_STATE_MAX_SECTION)
		return fail(err, errlen, -EBADMSG, "section of type %u is too large (%llu bytes)", type,
			    (unsigned long long)len);
	if (type != HV_SEC_VCPU && !hvsec && (*have & (1u << type)))
		return fail(err, errlen, -EBADMSG, "section of type %u is repeated", type);
	b = malloc(len ? len : 1);
	if (!b)
		return -ENOMEM;
	rc = pread_all(fd, b, len, off);
	if (rc == 0 && hv_crc32c(0, b, len) != crc)
		rc = fail(err, errlen, -EBADMSG, "the checksum of section of type %u does not match", type);
	else if (rc)
		rc = fail(err, errlen, rc, "cannot read it: %s", strerror(-rc));
	else if (type == HV_SEC_VM)
		rc = parse_vm(st, b, len, err, errlen);
	else if (type == HV_SEC_VCPU)
		rc = parse_vcpu(st, seen, b, len, err, errlen);
	else if (hvsec)
		rc = hv_saved_hv_parse(&st->hv, st->nvcpus, type, b, len, err, errlen);
	else
		rc = parse_devices(st, b, len, err, errlen);
	free(b);
	if (!hvsec)
		*have |= 1u << type;
	return rc;
}

int hv_state_read(int fd, struct hv_state **out, char *err, size_t errlen)
{
	uint8_t h[HV_STATE_HDR_LEN], *table = NULL;
	struct hv_state *st;
	bool *seen = NULL;
	unsigned have = 0;
	uint32_t nsec = 0, i;
	struct stat sb;
	int rc;

	*out = NULL;
	if (fstat(fd, &sb) < 0)
		return fail(err, errlen, -errno, "cannot read it: %s", strerror(errno));
	if ((uint64_t)sb.st_size < HV_STATE_HDR_LEN)
		return fail(err, errlen, -EBADMSG, "it is too short to be a saved state (%lld bytes)",
			    (long long)sb.st_size);
	st = calloc(1, sizeof(*st));
	if (!st)
		return -ENOMEM;
	rc = pread_all(fd, h, sizeof(h), 0);
	if (rc == 0)
		rc = check_header(h, (uint64_t)sb.st_size, st, &nsec, err, errlen);
	if (rc)
		goto out;
	table = malloc((size_t)nsec * HV_STATE_SEC_LEN);
	st->vcpus = calloc(st->nvcpus, sizeof(*st->vcpus));
	seen = calloc(st->nvcpus, sizeof(*seen));
	if (!table || !st->vcpus || !seen) {
		rc = -ENOMEM;
		goto out;
	}
	rc = pread_all(fd, table, (size_t)nsec * HV_STATE_SEC_LEN, HV_STATE_HDR_LEN);
	if (rc == 0 && hv_get32(h + 56) != hv_crc32c(0, table, (size_t)nsec * HV_STATE_SEC_LEN))
		rc = fail(err, errlen, -EBADMSG, "its section table checksum does not match");
	for (i = 0; rc == 0 && i < nsec; i++)
		rc = one_section(fd, st, seen, table + (size_t)i * HV_STATE_SEC_LEN, hv_get64(h + 24), &have, err,
				 errlen);
	if (rc)
		goto out;
	for (i = 0; i < st->nvcpus; i++)
		if (!seen[i]) {
			rc = fail(err, errlen, -EBADMSG, "the state of vCPU %u is missing", i);
			goto out;
		}
	if (st->hv) {
		rc = hv_saved_hv_check(st->hv, err, errlen);
		if (rc)
			goto out;
	}
	if (!(have & (1u << HV_SEC_VM)) || !(have & (1u << HV_SEC_MEMORY)) || !(have & (1u << HV_SEC_DEVICES)))
		rc = fail(err, errlen, -EBADMSG, "it lacks the %s section",
			  !(have & (1u << HV_SEC_VM)) ? "VM" : !(have & (1u << HV_SEC_MEMORY)) ? "memory" : "device");
out:
	free(table);
	free(seen);
	if (rc)
		hv_state_free(st);
	else
		*out = st;
	return rc;
}
