/* hvguest: interrupts, just enough for the ACPI power button, a console echo and VMBus: an
 * IDT with one handler for the SCI, COM1 and the SynIC vector and a spurious vector, the
 * 8259s masked, both lines routed through the I/O APIC to this CPU. The handler only notes
 * that something happened; the waiting loop does the work. Intel SDM vol. 3 6.14.1 (64-bit gates); 82093AA
 * I/O APIC datasheet 3.2.4; 16550 receiver interrupts (IER bit 0, MCR OUT2). */
#include "hvcore/guest/lib.h"

#define LAPIC 0xfee00000ULL
#define LAPIC_ID 0x20
#define LAPIC_EOI 0xb0
#define LAPIC_LVT0 0x350
#define IOAPIC 0xfec00000ULL
#define SCI_VECTOR 0x30
#define COM1_VECTOR 0x31
#define COM1 0x3f8
#define COM1_IRQ 4
#define SPURIOUS_VECTOR 0xff
#define PWRBTN (1u << 8)
#define CODE64 0x10

void hvguest_irq(void);
extern const char irq_entry[], spurious_entry[];

static uint8_t idt[256 * 16] __attribute__((aligned(16)));
static volatile int pressed;
static volatile unsigned irq_count;
static uint16_t pm1_evt;
static int echo;
static int idt_loaded;
void (*irq_idle)(void);

/* One handler for both lines: look at every source, edge interrupts may coalesce. */
void hvguest_irq(void)
{
	uint16_t sts = pm1_evt ? inw(pm1_evt) : 0;

	irq_count++;
	if (sts & PWRBTN) {
		outw(pm1_evt, PWRBTN); /* write 1 to clear */
		pressed = 1;
	}
	while (echo && (inb(COM1 + 5) & 1))
		outb(COM1, inb(COM1));
	mmio_write32(LAPIC + LAPIC_EOI, 0);
}

static void set_gate(unsigned vec, const void *handler)
{
	uint64_t a = (uint64_t)(uintptr_t)handler;
	uint8_t *g = &idt[vec * 16];

	memset(g, 0, 16);
	g[0] = (uint8_t)a;
	g[1] = (uint8_t)(a >> 8);
	g[2] = CODE64;
	g[5] = 0x8e; /* present, DPL 0, 64-bit interrupt gate */
	g[6] = (uint8_t)(a >> 16);
	g[7] = (uint8_t)(a >> 24);
	g[8] = (uint8_t)(a >> 32);
	g[9] = (uint8_t)(a >> 40);
	g[10] = (uint8_t)(a >> 48);
	g[11] = (uint8_t)(a >> 56);
}

static void ioapic_write(uint32_t reg, uint32_t val)
{
	mmio_write32(IOAPIC, reg);
	mmio_write32(IOAPIC + 0x10, val);
}

void irq_init(void)
{
	struct __attribute__((packed)) {
		uint16_t limit;
		uint64_t base;
	} idtr = { sizeof(idt) - 1, (uint64_t)(uintptr_t)idt };

	if (idt_loaded)
		return;
	idt_loaded = 1;
	set_gate(SCI_VECTOR, irq_entry);
	set_gate(COM1_VECTOR, irq_entry);
	set_gate(IRQ_SINT_VECTOR, irq_entry);
	set_gate(SPURIOUS_VECTOR, spurious_entry);
	__asm__ volatile("lidt %0" : : "m"(idtr));
	outb(0x21, 0xff); /* mask both 8259s: everything comes through the I/O APIC */
	outb(0xa1, 0xff);
	mmio_write32(LAPIC + LAPIC_LVT0, 1u << 16);
}

int irq_pressed(void)
{
	return pressed;
}

/* Returns once an interrupt came after the one *seen counted (at once if one already did). */
void irq_wait(unsigned *seen)
{
	for (;;) {
		__asm__ volatile("cli");
		if (irq_idle)
			irq_idle();
		if (irq_count != *seen || pressed) {
			*seen = irq_count;
			__asm__ volatile("sti");
			return;
		}
		__asm__ volatile("sti; hlt"); /* sti's shadow makes the pair atomic */
	}
}

int irq_setup_power_button(uint64_t rsdp, int with_echo)
{
	uint32_t self = mmio_read32(LAPIC + LAPIC_ID) >> 24;
	uint16_t evt;
	unsigned sci;

	irq_init();
	if (acpi_pm1(rsdp, &evt, &sci) < 0 || sci > 23)
		return -1;
	pm1_evt = evt;
	/* Edge, active high: this KVM's local APIC never holds a level interrupt in service,
	 * so a level entry could fire again before the handler clears the status bit. */
	ioapic_write(0x11 + 2 * sci, self << 24);
	ioapic_write(0x10 + 2 * sci, SCI_VECTOR);
	outw((uint16_t)(pm1_evt + 2), PWRBTN); /* PM1_EN.PWRBTN_EN */
	if (with_echo) {
		echo = 1;
		ioapic_write(0x11 + 2 * COM1_IRQ, self << 24);
		ioapic_write(0x10 + 2 * COM1_IRQ, COM1_VECTOR);
		outb(COM1 + 4, 0x08); /* MCR.OUT2 gates the interrupt */
		outb(COM1 + 1, 0x01); /* IER: received data */
	}
	__asm__ volatile("sti");
	return 0;
}
