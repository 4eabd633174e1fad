/* hvguest.counter=1: a counter in memory, incremented and printed ten times a second,
 * `hvguest: counter mem=N disk=M`, so a test can see that a restored partition continues
 * from exactly the saved state, memory and disk. M is what the first disk held (0 without
 * one); the memory counter is then written there. The tick is the local APIC timer in one-shot mode, re-armed on each
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
static volatile int counter_due;

/* With interrupts on, from the waiting loop: the line for the last tick. With a disk, the
 * counter the first disk held (what it read there) is printed as disk=, and the memory
 * counter is written in its place: a restored partition whose disk was restored with it
 * reads back a value just below its memory counter. */
void counter_poll(void)
{
	uint64_t disk = 0, mem;

	if (!counter_due)
		return;
	counter_due = 0;
	mem = counter_mem;
	if (storage_counter(mem, &disk) < 0)
		disk = 0;
	con_puts("hvguest: counter mem=");
	con_putu(mem);
	con_puts(" disk=");
	con_putu(disk);
	con_puts("\n");
}

void counter_tick(void)
{
	if (mmio_read32(LAPIC + LAPIC_TIMER_CUR) != 0)
		return; /* woken by something else: the timer is still running */
	counter_mem = counter_mem + 1;
	counter_due = 1;
	mmio_write32(LAPIC + LAPIC_TIMER_DIV, 0xb);
	mmio_write32(LAPIC + LAPIC_LVT_TIMER, TIMER_VECTOR);
	mmio_write32(LAPIC + LAPIC_TIMER_INIT, TICK_COUNT);
}
