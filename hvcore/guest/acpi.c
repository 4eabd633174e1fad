/* hvguest: the firmware tables. ACPI 6.4 5.2 (RSDP, XSDT, MADT, FADT), 7.4.2 (\_S5), and the
 * Intel MultiProcessor Specification 1.4 tables QEMU's microvm offers when ACPI is off. */
#include "hvcore/guest/lib.h"

#define SLP_EN (1u << 13)

static uint8_t sum8(const uint8_t *p, uint32_t n)
{
	uint8_t s = 0;

	while (n--)
		s = (uint8_t)(s + *p++);
	return s;
}

/* Legacy scans walk up to 128 KiB in 16-byte steps inside the instruction emulator: keep
 * the loop to one 32-bit compare per step and check the rest only on a hit. */
static uint64_t scan(uint64_t from, uint64_t to, const char *sig, uint32_t siglen,
		     uint32_t sumlen)
{
	uint32_t want = rd32(sig);
	const volatile uint32_t *w;
	uint64_t a;

	for (a = from; a + sumlen <= to; a += 16) {
		w = phys(a);
		if (*w != want)
			continue;
		if (memcmp(phys(a), sig, siglen) == 0 && sum8(phys(a), sumlen) == 0)
			return a;
	}
	return 0;
}

static uint64_t find_rsdp(uint64_t given)
{
	uint64_t ebda = (uint64_t)rd16(phys(0x40e)) << 4;
	uint64_t r = 0;

	if (given)
		return given;
	if (ebda >= 0x80000 && ebda < 0xa0000)
		r = scan(ebda, ebda + 1024, "RSD PTR ", 8, 20);
	return r ? r : scan(0xe0000, 0x100000, "RSD PTR ", 8, 20);
}

/* The table with this signature from the XSDT (or RSDT), or 0. */
static uint64_t find_table(uint64_t rsdp, const char *sig)
{
	const uint8_t *r = phys(rsdp);
	uint64_t root;
	uint32_t len, i, esz;

	if (!rsdp || memcmp(r, "RSD PTR ", 8) != 0)
		return 0;
	if (r[15] >= 2 && rd64(r + 24)) {
		root = rd64(r + 24);
		esz = 8;
	} else {
		root = rd32(r + 16);
		esz = 4;
	}
	if (!root)
		return 0;
	len = rd32(phys(root + 4));
	for (i = 36; i + esz <= len; i += esz) {
		uint64_t t = esz == 8 ? rd64(phys(root + i)) : rd32(phys(root + i));

		if (t && memcmp(phys(t), sig, 4) == 0)
			return t;
	}
	return 0;
}

static unsigned madt_cpus(uint64_t madt, uint32_t *ids, unsigned max)
{
	const uint8_t *m = phys(madt);
	uint32_t len = rd32(m + 4), off = 44;
	unsigned n = 0;

	while (off + 2 <= len && m[off + 1] >= 2) {
		const uint8_t *e = m + off;

		if (e[0] == 0 && e[1] >= 8 && (rd32(e + 4) & 1) && n < max)
			ids[n++] = e[3];
		if (e[0] == 9 && e[1] >= 16 && (rd32(e + 8) & 1) && n < max)
			ids[n++] = rd32(e + 4);
		off += e[1];
	}
	return n;
}

static unsigned mptable_cpus(uint32_t *ids, unsigned max)
{
	uint64_t ebda = (uint64_t)rd16(phys(0x40e)) << 4;
	uint64_t fp = 0;
	const uint8_t *c;
	unsigned i, n = 0, count, off = 44;

	if (ebda >= 0x80000 && ebda < 0xa0000)
		fp = scan(ebda, ebda + 1024, "_MP_", 4, 16);
	if (!fp)
		fp = scan(0x9fc00, 0xa0000, "_MP_", 4, 16);
	if (!fp)
		fp = scan(0xf0000, 0x100000, "_MP_", 4, 16);
	if (!fp || !rd32(phys(fp + 4)))
		return 0;
	c = phys(rd32(phys(fp + 4)));
	if (memcmp(c, "PCMP", 4) != 0)
		return 0;
	count = rd16(c + 34);
	for (i = 0; i < count && off < rd16(c + 4); i++) {
		if (c[off] == 0) {
			if ((c[off + 3] & 1) && n < max)
				ids[n++] = c[off + 1];
			off += 20;
		} else {
			off += 8;
		}
	}
	return n;
}

unsigned acpi_cpus(uint64_t rsdp, uint32_t *ids, unsigned max)
{
	uint64_t madt = find_table(find_rsdp(rsdp), "APIC");

	if (madt)
		return madt_cpus(madt, ids, max);
	return mptable_cpus(ids, max);
}

/* SLP_TYPa from the DSDT's Name (_S5_, Package () { a, b, ... }). */
static int s5_type(uint64_t dsdt)
{
	const uint8_t *d = phys(dsdt);
	uint32_t len = rd32(d + 4), i;
	const uint8_t *p;

	for (i = 36; i + 12 <= len; i++) {
		if (memcmp(d + i, "_S5_", 4) != 0 || d[i + 4] != 0x12)
			continue;
		p = d + i + 5;
		p += 1 + (*p >> 6); /* PkgLength: lead byte plus 0-3 more */
		p++;                /* NumElements */
		if (*p == 0x0a)
			return p[1];
		if (*p <= 1)
			return *p;
		return -1;
	}
	return -1;
}

/* Hardware-reduced ACPI (QEMU's microvm): SLP_TYPx << 2 | SLP_EN into the FADT's sleep
 * control register, a GAS in memory or I/O space. ACPI 6.4 4.8.3.7. */
static int sleep_control(const uint8_t *f, int typ)
{
	uint8_t v = (uint8_t)(((unsigned)typ << 2) | 0x20);
	uint64_t addr;

	if (rd32(f + 4) < 256 || !(rd32(f + 112) & (1u << 20)))
		return -1;
	addr = rd64(f + 248);
	if (!addr)
		return -1;
	if (f[244] == 0)
		*(volatile uint8_t *)(uintptr_t)addr = v;
	else if (f[244] == 1)
		outb((uint16_t)addr, v);
	else
		return -1;
	return 0;
}

int acpi_poweroff(uint64_t rsdp)
{
	uint64_t fadt = find_table(find_rsdp(rsdp), "FACP");
	const uint8_t *f = phys(fadt);
	uint64_t dsdt;
	uint32_t port;
	int typ;

	if (!fadt)
		return -1;
	dsdt = rd32(f + 4) >= 148 && rd64(f + 140) ? rd64(f + 140) : rd32(f + 40);
	port = rd32(f + 64);
	if (!port && rd32(f + 4) >= 184 && f[172] == 1)
		port = (uint32_t)rd64(f + 176);
	typ = dsdt ? s5_type(dsdt) : -1;
	if (typ < 0)
		return -1;
	if (!port)
		return sleep_control(f, typ);
	outw((uint16_t)port, (uint16_t)(((unsigned)typ << 10) | SLP_EN));
	return 0;
}

int acpi_pm1(uint64_t rsdp, uint16_t *evt_port, unsigned *sci)
{
	uint64_t fadt = find_table(find_rsdp(rsdp), "FACP");
	const uint8_t *f = phys(fadt);

	if (!fadt || !rd32(f + 56) || (rd32(f + 112) & (1u << 4)))
		return -1; /* no PM1 block, or PWR_BUTTON says the button is not fixed-feature */
	*evt_port = (uint16_t)rd32(f + 56);
	*sci = rd16(f + 46);
	return 0;
}
