/* hvguest: the built-in guest. Reads its memory map, starts every processor the firmware
 * tables list, prints one ready line on COM1, connects to VMBus when the partition is
 * Hyper-V (one vmbus line), then answers the integration services and waits for the ACPI
 * power button or a shutdown request, and powers off. Command line: hvguest.poweroff=1
 * powers off at once, hvguest.reboot=1 resets, hvguest.echo=1 echoes console input while
 * waiting, hvguest.crash=triple|int3 crashes (for tests), hvguest.vmbus=0 leaves VMBus
 * alone, hvguest.misbehave=1 sends the host garbage on purpose, hvguest.vmbusbench=N
 * times the loopback channel and powers off, hvguest.counter=1 counts ten times a second
 * while waiting (counter.c), hvguest.memload=SIZE,SECONDS takes and holds memory and
 * hvguest.balloon=hostile breaks the balloon protocol on purpose (balloon.c). The disks on
 * the synthetic SCSI controllers are listed (storage.c); hvguest.disktest=1 tests them,
 * hvguest.scsimisbehave=1 sends malformed requests, hvguest.diskbench=S times I/O on the
 * first and powers off, hvguest.udiskbench=S does the same from user mode, polling
 * (storage.c). */
#include "hvcore/guest/vmbus.h"

#define COM1 0x3f8
#define PVH_MAGIC 0x336ec578u
#define E820_RAM 1

void hvguest_main(uint64_t start_info, uint64_t boot_params);

void *memset(void *d, int c, size_t n)
{
	volatile uint8_t *p = d;

	while (n--)
		*p++ = (uint8_t)c;
	return d;
}

void *memcpy(void *d, const void *s, size_t n)
{
	volatile uint8_t *p = d;
	const uint8_t *q = s;

	while (n--)
		*p++ = *q++;
	return d;
}

int memcmp(const void *a, const void *b, size_t n)
{
	const uint8_t *x = a, *y = b;

	for (; n; n--, x++, y++)
		if (*x != *y)
			return *x - *y;
	return 0;
}

/* No LSR polling: both our UART and QEMU's take bytes as fast as they come, and each
 * port access is a VM exit. */
void con_puts(const char *s)
{
	while (*s)
		outb(COM1, (uint8_t)*s++);
}

void con_putu(uint64_t v)
{
	char buf[24];
	int i = 23;

	buf[i] = 0;
	do {
		buf[--i] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	con_puts(&buf[i]);
}

/* True when the command line holds word as a whole space-separated token. */
int cmdline_has(const char *c, const char *word)
{
	size_t n = 0;

	while (word[n])
		n++;
	while (*c) {
		while (*c == ' ')
			c++;
		if (memcmp(c, word, n) == 0 && (c[n] == 0 || c[n] == ' '))
			return 1;
		while (*c && *c != ' ')
			c++;
	}
	return 0;
}

static void ram_range(struct bootinfo *bi, uint64_t addr, uint64_t size)
{
	bi->mem_usable += size;
	if (addr <= (16ULL << 20) && addr + size > (16ULL << 20))
		bi->ram_top = addr + size;
}

/* PVH hvm_start_info: memmap entries are {addr, size, type, reserved}, 24 bytes. */
static int from_start_info(uint64_t si, struct bootinfo *bi)
{
	const uint8_t *s = phys(si);
	const uint8_t *mm;
	uint32_t i, n;

	if (!si || rd32(s) != PVH_MAGIC)
		return 0;
	if (rd64(s + 24))
		bi->cmdline = phys(rd64(s + 24));
	bi->rsdp = rd64(s + 32);
	if (rd32(s + 4) < 1 || !rd64(s + 40))
		return 0; /* version 0 has no memmap: try boot_params */
	mm = phys(rd64(s + 40));
	n = rd32(s + 48);
	for (i = 0; i < n && i < HV_MAX_MEMMAP; i++)
		if (rd32(mm + 24 * i + 16) == E820_RAM)
			ram_range(bi, rd64(mm + 24 * i), rd64(mm + 24 * i + 8));
	return 1;
}

/* Linux boot_params: e820 count at 0x1e8, table of 20-byte entries at 0x2d0. */
static int from_boot_params(uint64_t bp, struct bootinfo *bi)
{
	const uint8_t *b = phys(bp);
	unsigned i, n;

	if (!bp || memcmp(b + 0x202, "HdrS", 4) != 0)
		return 0;
	if (rd32(b + 0x228))
		bi->cmdline = phys(rd32(b + 0x228));
	if (!bi->rsdp)
		bi->rsdp = rd64(b + 0x70);
	n = b[0x1e8];
	for (i = 0; i < n && i < 128; i++)
		if (rd32(b + 0x2d0 + 20 * i + 16) == E820_RAM)
			ram_range(bi, rd64(b + 0x2d0 + 20 * i), rd64(b + 0x2d0 + 20 * i + 8));
	return 1;
}

/* The number after a "word=" token, or 0. */
static uint64_t cmdline_num(const char *c, const char *word)
{
	size_t n = 0;
	uint64_t v = 0;

	while (word[n])
		n++;
	while (*c) {
		while (*c == ' ')
			c++;
		if (memcmp(c, word, n) == 0) {
			for (c += n; *c >= '0' && *c <= '9'; c++)
				v = v * 10 + (uint64_t)(*c - '0');
			return v;
		}
		while (*c && *c != ' ')
			c++;
	}
	return 0;
}

static void halt_forever(void)
{
	for (;;)
		__asm__ volatile("cli; hlt");
}

static void crash(const char *how)
{
	static const uint16_t empty_idt[5];

	if (cmdline_has(how, "hvguest.crash=int3"))
		__asm__ volatile("int3");
	/* No IDT: the #UD becomes a double, then a triple fault. */
	__asm__ volatile("lidt %0; ud2" : : "m"(empty_idt));
}

/* Until the power button or the host's shutdown service says to stop. */
static void wait_for_the_end(const struct bootinfo *bi)
{
	struct vmbus_opts o = {
		.misbehave = cmdline_has(bi->cmdline, "hvguest.misbehave=1"),
		.bench = cmdline_num(bi->cmdline, "hvguest.vmbusbench="),
	};
	balloon_setup(bi);
	/* VMBus first: its line must not land inside echoed console input. */
	int vmbus = !cmdline_has(bi->cmdline, "hvguest.vmbus=0") && vmbus_start(&o) == 0;
	struct storage_opts so = {
		.test = cmdline_has(bi->cmdline, "hvguest.disktest=1"),
		.misbehave = cmdline_has(bi->cmdline, "hvguest.scsimisbehave=1"),
		.bench_s = cmdline_num(bi->cmdline, "hvguest.diskbench="),
		.ubench_s = cmdline_num(bi->cmdline, "hvguest.udiskbench="),
		.rsdp = bi->rsdp,
	};
	int button;
	unsigned seen = 0;
	int a;

	if (vmbus)
		storage_run(&so);
	button = irq_setup_power_button(bi->rsdp, cmdline_has(bi->cmdline, "hvguest.echo=1"));
	if (o.bench || so.bench_s || so.ubench_s)
		return;
	if (button < 0 && !vmbus)
		halt_forever();
	for (;;) {
		if (irq_pressed()) {
			con_puts("hvguest: power button\n");
			return;
		}
		if (vmbus && (a = vmbus_poll()) != 0) {
			if (a == 2) {
				con_puts("hvguest: reboot requested\n");
				outb(0xcf9, 0x06);
			}
			con_puts("hvguest: shutdown requested\n");
			return;
		}
		counter_poll();
		irq_wait(&seen);
	}
}

void hvguest_main(uint64_t start_info, uint64_t boot_params)
{
	static uint32_t apic_ids[64];
	struct bootinfo bi = { .cmdline = "" };
	unsigned n, up;

	if (!from_start_info(start_info, &bi) && !from_boot_params(boot_params, &bi)) {
		con_puts("hvguest: error no memory map\n");
		halt_forever();
	}
	if (cmdline_has(bi.cmdline, "hvguest.crash=triple") ||
	    cmdline_has(bi.cmdline, "hvguest.crash=int3"))
		crash(bi.cmdline);
	n = acpi_cpus(bi.rsdp, apic_ids, 64);
	up = n ? smp_start(apic_ids, n) : 1;
	con_puts("hvguest: ready cpus=");
	con_putu(up);
	con_puts(" mem=");
	con_putu(bi.mem_usable);
	con_puts("\n");
	if (cmdline_has(bi.cmdline, "hvguest.reboot=1")) {
		outb(0xcf9, 0x06);
		outb(0x64, 0xfe);
	}
	if (cmdline_has(bi.cmdline, "hvguest.counter=1"))
		irq_idle = counter_tick;
	if (!cmdline_has(bi.cmdline, "hvguest.poweroff=1"))
		wait_for_the_end(&bi);
	if (acpi_poweroff(bi.rsdp) < 0)
		con_puts("hvguest: error no ACPI power-off\n");
	halt_forever();
}
