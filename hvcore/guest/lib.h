/* hvguest: freestanding helpers. Everything here runs in KVM's instruction emulator on the
 * machines this project targets, so it stays simple: general registers only, no string
 * instructions the compiler might pick for speed, no SSE. */
#ifndef HVCORE_GUEST_LIB_H
#define HVCORE_GUEST_LIB_H

#include <stddef.h>
#include <stdint.h>

#define HV_MAX_MEMMAP 128

struct bootinfo {
	uint64_t mem_usable;  /* sum of e820 type 1 */
	const char *cmdline;  /* "" when none */
	uint64_t rsdp;        /* 0 when the loader gave none */
	uint64_t ram_top;     /* end of the RAM range holding 16 MiB (balloon.c's pool) */
};

static inline void outb(uint16_t port, uint8_t v)
{
	__asm__ volatile("outb %0, %1" : : "a"(v), "Nd"(port));
}

static inline void outw(uint16_t port, uint16_t v)
{
	__asm__ volatile("outw %0, %1" : : "a"(v), "Nd"(port));
}

static inline uint8_t inb(uint16_t port)
{
	uint8_t v;

	__asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(port));
	return v;
}

static inline uint16_t inw(uint16_t port)
{
	uint16_t v;

	__asm__ volatile("inw %1, %0" : "=a"(v) : "Nd"(port));
	return v;
}

static inline uint64_t rdtsc(void)
{
	uint32_t lo, hi;

	__asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
	return ((uint64_t)hi << 32) | lo;
}

static inline uint32_t mmio_read32(uint64_t addr)
{
	return *(volatile uint32_t *)(uintptr_t)addr;
}

static inline void mmio_write32(uint64_t addr, uint32_t v)
{
	*(volatile uint32_t *)(uintptr_t)addr = v;
}

static inline uint16_t rd16(const void *p)
{
	const uint8_t *b = p;

	return (uint16_t)(b[0] | (b[1] << 8));
}

static inline uint32_t rd32(const void *p)
{
	return (uint32_t)rd16(p) | ((uint32_t)rd16((const uint8_t *)p + 2) << 16);
}

static inline uint64_t rd64(const void *p)
{
	return (uint64_t)rd32(p) | ((uint64_t)rd32((const uint8_t *)p + 4) << 32);
}

/* A physical address as a pointer (memory is identity-mapped). The empty asm hides the
 * constant from GCC, which otherwise warns about reading "outside" a null object. */
static inline const void *phys(uint64_t pa)
{
	const void *p = (const void *)(uintptr_t)pa;

	__asm__("" : "+r"(p));
	return p;
}

void *memset(void *d, int c, size_t n);
void *memcpy(void *d, const void *s, size_t n);
int memcmp(const void *a, const void *b, size_t n);

void con_puts(const char *s);
void con_putu(uint64_t v);
int cmdline_has(const char *cmdline, const char *word);
/* entry.S: leaves kernel mode for good, running fn(arg) in user mode on stack_top. */
void hvguest_user_enter(void (*fn)(void *), void *arg, void *stack_top)
	__attribute__((noreturn));

/* acpi.c: processors from the MADT (or an MP table), the PM1a control port and S5 type */
unsigned acpi_cpus(uint64_t rsdp, uint32_t *apic_ids, unsigned max);
int acpi_poweroff(uint64_t rsdp);
/* FADT PM1a event block port and SCI interrupt; -1 when there is no PM1 block. */
int acpi_pm1(uint64_t rsdp, uint16_t *evt_port, unsigned *sci);

/* irq.c: the IDT (SCI, COM1, IRQ_SINT_VECTOR), the ACPI power button's routing with the
 * console echo if asked (-1: no button), and a wait, interrupts on, for the next interrupt. */
#define IRQ_SINT_VECTOR 0x50
void irq_init(void);
int irq_setup_power_button(uint64_t rsdp, int with_echo);
int irq_pressed(void);
void irq_wait(unsigned *seen);
/* Called with interrupts off each time the waiting CPU wakes, when set. */
extern void (*irq_idle)(void);

/* counter.c: hvguest.counter=1 */
void counter_tick(void);
void counter_poll(void);
/* storage.c: reads the 8-byte counter at byte 4096 of the first disk into *was and writes
 * value there (flushed); -1 without a disk or on an error. */
int storage_counter(uint64_t value, uint64_t *was);

/* smp.c */
unsigned smp_start(const uint32_t *apic_ids, unsigned n);

#endif
