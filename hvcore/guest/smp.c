/* hvguest: starting the application processors through the local APIC (xAPIC MMIO):
 * INIT, SIPI, SIPI to each APIC id the tables list, as Intel SDM vol. 3 10.4.4 describes,
 * then wait for each to check in. */
#include "hvcore/guest/hvguest.h"
#include "hvcore/guest/lib.h"

#define LAPIC 0xfee00000ULL
#define LAPIC_ID 0x20
#define LAPIC_SVR 0xf0
#define LAPIC_ICR_LO 0x300
#define LAPIC_ICR_HI 0x310
#define ICR_INIT 0x4500
#define ICR_SIPI 0x4600
#define TIMEOUT_CYCLES 6000000000ULL

void hvguest_ap_main(void);

extern const uint8_t ap_tramp_start[], ap_tramp_end[];
extern uint32_t ap_tramp_cr3;

static volatile uint32_t cpus_up = 1;

void hvguest_ap_main(void)
{
	__atomic_fetch_add(&cpus_up, 1, __ATOMIC_SEQ_CST);
}

static void ipi(uint32_t apic_id, uint32_t icr)
{
	mmio_write32(LAPIC + LAPIC_ICR_HI, apic_id << 24);
	mmio_write32(LAPIC + LAPIC_ICR_LO, icr);
}

static void copy_trampoline(void)
{
	uint8_t *dst = (uint8_t *)(uintptr_t)HVGUEST_TRAMP_GPA;
	size_t len = (size_t)(ap_tramp_end - ap_tramp_start);
	uint64_t cr3;

	__asm__ volatile("mov %%cr3, %0" : "=r"(cr3));
	memcpy(dst, ap_tramp_start, len);
	*(volatile uint32_t *)(dst + ((const uint8_t *)&ap_tramp_cr3 - ap_tramp_start)) =
		(uint32_t)cr3;
}

/* Returns how many processors run, the BSP included. */
unsigned smp_start(const uint32_t *ids, unsigned n)
{
	uint32_t self = mmio_read32(LAPIC + LAPIC_ID) >> 24;
	unsigned i, want = 1;
	uint64_t t0;

	copy_trampoline();
	mmio_write32(LAPIC + LAPIC_SVR, 0x1ff); /* software enable, spurious vector 0xff */
	for (i = 0; i < n; i++) {
		if (ids[i] == self || ids[i] > 0xff)
			continue;
		ipi(ids[i], ICR_INIT);
		ipi(ids[i], ICR_SIPI | HVGUEST_SIPI_VECTOR);
		ipi(ids[i], ICR_SIPI | HVGUEST_SIPI_VECTOR);
		want++;
	}
	t0 = rdtsc();
	while (cpus_up < want && rdtsc() - t0 < TIMEOUT_CYCLES)
		;
	return cpus_up;
}
