/* hvguest.counter=1: a counter in memory, incremented and printed ten times a second,
 * `hvguest: counter mem=N disk=M`, so a test can see that a restored partition continues
 * from exactly the saved state. disk= stays 0 until the guest has a storage client (synthetic
 * SCSI, issue 6). The tick is the local APIC timer in one-shot mode, re-armed on each
 * tick; it assumes KVM's 1 GHz APIC bus clock (the default of every KVM). */
#include "hvcore/guest/lib.h"

#define LAPIC 0xfee00000ULL
#define LAPIC_LVT_TIMER 0x320
#define LAPIC_TIMER_INIT 0x380
#define LAPIC_TIMER_CUR 0x390
#define LAPIC_TIMER_DIV 0x3e0
#define TIMER_VECTOR 0x30 /* irq.c's shared handler: it only acknowledges */
#define TICK_COUNT 100000000u /* 100 ms at 1 GHz, divide by 1 */

static volatile uint64_t counter_mem;
static volatile uint64_t counter_disk;

void counter_tick(void)
{
	if (mmio_read32(LAPIC + LAPIC_TIMER_CUR) != 0)
		return; /* woken by something else: the timer is still running */
	counter_mem = counter_mem + 1;
	con_puts("hvguest: counter mem=");
	con_putu(counter_mem);
	con_puts(" disk=");
	con_putu(counter_disk);
	con_puts("\n");
	mmio_write32(LAPIC + LAPIC_TIMER_DIV, 0xb);
	mmio_write32(LAPIC + LAPIC_LVT_TIMER, TIMER_VECTOR);
	mmio_write32(LAPIC + LAPIC_TIMER_INIT, TICK_COUNT);
}
