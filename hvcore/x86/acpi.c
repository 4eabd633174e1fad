/* Minimal ACPI tables: RSDP -> XSDT -> FADT (-> DSDT), MADT. ACPI 6.4: 5.2.5 RSDP,
 * 5.2.8 XSDT, 5.2.9 FADT, 5.2.12 MADT, 7.4.2 \_S5. The RSDP sits at 0xe0000, so the legacy
 * scan finds it as well as the pointers in boot_params and hvm_start_info. */
#include "config.h"

#include <errno.h>
#include <string.h>

#include "hvcore/vmbus-priv.h"

#define RSDP_GPA HV_ACPI_GPA
#define XSDT_GPA (HV_ACPI_GPA + 0x40)
#define FADT_GPA (HV_ACPI_GPA + 0x100)
#define MADT_GPA (HV_ACPI_GPA + 0x400)
#define DSDT_GPA (HV_ACPI_GPA + 0x800)
#define ACPI_SIZE 0x1000

#define HDR_LEN 36
#define FADT_LEN 276
#define GAS_IO 1

#define FADT_WBINVD (1u << 0)
#define FADT_PROC_C1 (1u << 2)
#define FADT_SLP_BUTTON (1u << 5)
#define FADT_RESET_REG_SUP (1u << 10)
#define IAPC_VGA_NOT_PRESENT (1u << 2)

static uint8_t checksum(const uint8_t *b, size_t len)
{
	uint8_t sum = 0;

	while (len--)
		sum = (uint8_t)(sum + *b++);
	return (uint8_t)-sum;
}

static void header(uint8_t *t, const char *sig, uint32_t len, uint8_t rev)
{
	memcpy(t, sig, 4);
	hv_put32(t + 4, len);
	t[8] = rev;
	memcpy(t + 10, "HVKIT ", 6);
	memcpy(t + 16, "HVKITPAR", 8);
	hv_put32(t + 24, 1);
	memcpy(t + 28, "HVKT", 4);
	hv_put32(t + 32, 1);
}

static void finish(uint8_t *t, uint32_t len)
{
	t[9] = 0;
	t[9] = checksum(t, len);
}

static void gas_io(uint8_t *g, uint8_t bits, uint8_t access, uint64_t port)
{
	g[0] = GAS_IO;
	g[1] = bits;
	g[2] = 0;
	g[3] = access;
	hv_put64(g + 4, port);
}

static void build_fadt(uint8_t *t)
{
	header(t, "FACP", FADT_LEN, 6);
	hv_put32(t + 40, (uint32_t)DSDT_GPA);
	hv_put16(t + 46, HV_SCI_IRQ);
	hv_put32(t + 56, HV_PM1A_EVT);
	hv_put32(t + 64, HV_PM1A_CNT);
	t[88] = 4; /* PM1_EVT_LEN */
	t[89] = 2; /* PM1_CNT_LEN */
	hv_put16(t + 109, IAPC_VGA_NOT_PRESENT);
	hv_put32(t + 112, FADT_WBINVD | FADT_PROC_C1 | FADT_SLP_BUTTON | FADT_RESET_REG_SUP);
	gas_io(t + 116, 8, 1, 0xcf9);
	t[128] = 0x06; /* hard reset through 0xcf9 */
	hv_put64(t + 140, DSDT_GPA);
	gas_io(t + 148, 32, 3, HV_PM1A_EVT);
	gas_io(t + 172, 16, 2, HV_PM1A_CNT);
	finish(t, FADT_LEN);
}

static uint32_t build_madt(uint8_t *t, unsigned ncpus)
{
	uint32_t off = 44;
	unsigned i;

	hv_put32(t + 36, (uint32_t)HV_LAPIC_GPA);
	hv_put32(t + 40, 1); /* PCAT_COMPAT: the in-kernel irqchip has the 8259s too */
	for (i = 0; i < ncpus; i++, off += 8) {
		t[off] = 0; /* processor local APIC */
		t[off + 1] = 8;
		t[off + 2] = (uint8_t)i;
		t[off + 3] = (uint8_t)i;
		hv_put32(t + off + 4, 1);
	}
	t[off] = 1; /* I/O APIC */
	t[off + 1] = 12;
	t[off + 2] = (uint8_t)ncpus;
	hv_put32(t + off + 4, (uint32_t)HV_IOAPIC_GPA);
	hv_put32(t + off + 8, 0);
	off += 12;
	t[off] = 2; /* ISA IRQ 0 (PIT) is GSI 2 */
	t[off + 1] = 10;
	t[off + 3] = 0;
	hv_put32(t + off + 4, 2);
	off += 10;
	t[off] = 2; /* SCI: level, active high */
	t[off + 1] = 10;
	t[off + 3] = HV_SCI_IRQ;
	hv_put32(t + off + 4, HV_SCI_IRQ);
	hv_put16(t + off + 8, 0x000d);
	off += 10;
	t[off] = 4; /* local APIC NMI on LINT1, all processors */
	t[off + 1] = 6;
	t[off + 2] = 0xff;
	t[off + 5] = 1;
	off += 6;
	header(t, "APIC", off, 5);
	finish(t, off);
	return off;
}

/* Name (_S5, Package (4) { HV_S5_SLP_TYP, HV_S5_SLP_TYP, 0, 0 }) */
static const uint8_t dsdt_aml[] = {
	0x08, '_', 'S', '5', '_', 0x12, 0x08, 0x04,
	0x0a, HV_S5_SLP_TYP, 0x0a, HV_S5_SLP_TYP, 0x00, 0x00,
};

/* Scope (\_SB) { Device (VMBS) { Name (_HID, "VMBus") Name (_UID, 0)
 *   Name (_CRS, ResourceTemplate () { IRQNoFlags () { 5 } }) } }
 * Linux's hv_vmbus binds only through ACPI; on x86 its interrupts come through the SynIC
 * vector, so the IRQ resource is there only because the driver walks _CRS. */
static const uint8_t vmbus_aml[] = {
	0x10, 0x2d, '\\', '_', 'S', 'B', '_',
	0x5b, 0x82, 0x25, 'V', 'M', 'B', 'S',
	0x08, '_', 'H', 'I', 'D', 0x0d, 'V', 'M', 'B', 'u', 's', 0x00,
	0x08, '_', 'U', 'I', 'D', 0x00,
	0x08, '_', 'C', 'R', 'S', 0x11, 0x08, 0x0a, 0x05, 0x22, 0x20, 0x00, 0x79, 0x00,
};

int hv_acpi_build(struct hv_partition *p)
{
	uint8_t *base = hv_partition_gpa(p, HV_ACPI_GPA, ACPI_SIZE);
	uint8_t *rsdp, *xsdt, *dsdt;
	bool vmbus = p->hv && p->hv->on;
	uint32_t dlen = HDR_LEN + sizeof(dsdt_aml) + (vmbus ? sizeof(vmbus_aml) : 0);

	if (!base)
		return -E2BIG;
	/* The MADT must fit before the DSDT. */
	if (44 + 8 * p->nvcpus + 12 + 10 + 10 + 6 > DSDT_GPA - MADT_GPA)
		return -E2BIG;
	memset(base, 0, ACPI_SIZE);
	rsdp = base;
	xsdt = base + (XSDT_GPA - HV_ACPI_GPA);
	dsdt = base + (DSDT_GPA - HV_ACPI_GPA);

	header(dsdt, "DSDT", dlen, 2);
	memcpy(dsdt + HDR_LEN, dsdt_aml, sizeof(dsdt_aml));
	if (vmbus)
		memcpy(dsdt + HDR_LEN + sizeof(dsdt_aml), vmbus_aml, sizeof(vmbus_aml));
	finish(dsdt, dlen);
	build_fadt(base + (FADT_GPA - HV_ACPI_GPA));
	build_madt(base + (MADT_GPA - HV_ACPI_GPA), p->nvcpus);

	header(xsdt, "XSDT", HDR_LEN + 16, 1);
	hv_put64(xsdt + HDR_LEN, FADT_GPA);
	hv_put64(xsdt + HDR_LEN + 8, MADT_GPA);
	finish(xsdt, HDR_LEN + 16);

	memcpy(rsdp, "RSD PTR ", 8);
	memcpy(rsdp + 9, "HVKIT ", 6);
	rsdp[15] = 2;
	hv_put32(rsdp + 20, 36);
	hv_put64(rsdp + 24, XSDT_GPA);
	rsdp[8] = checksum(rsdp, 20);
	rsdp[32] = checksum(rsdp, 36);
	return 0;
}
