/* libhvcore internals: shared by the core, the devices and x86/. Not installed. */
#ifndef HVCORE_HV_PRIV_H
#define HVCORE_HV_PRIV_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <linux/kvm.h>

#include "hvcore/hvcore.h"

/* Guest physical layout (x86/boot.c and x86/acpi.c fill it). The built-in guest puts its AP
 * trampoline at 0x8000, so nothing the loader writes may be there. */
#define HV_GDT_GPA 0x500ULL
#define HV_START_INFO_GPA 0x6000ULL /* PVH hvm_start_info, memmap, modules */
#define HV_ZERO_PAGE_GPA 0x7000ULL  /* Linux boot_params */
#define HV_PML4_GPA 0x9000ULL
#define HV_PDPT_GPA 0xa000ULL
#define HV_PD_GPA 0xb000ULL         /* four page directories: 4 GiB of 2 MiB pages */
#define HV_BOOT_STACK_GPA 0x1f000ULL
#define HV_CMDLINE_GPA 0x20000ULL
#define HV_EBDA_GPA 0x9fc00ULL
#define HV_ACPI_GPA 0xe0000ULL      /* RSDP first: found by the legacy scan too */
#define HV_ACPI_END 0x100000ULL
#define HV_KERNEL_GPA 0x100000ULL
#define HV_MMIO_HOLE 0xc0000000ULL  /* RAM above this goes to 4 GiB */
#define HV_4G 0x100000000ULL
#define HV_IOAPIC_GPA 0xfec00000ULL
#define HV_LAPIC_GPA 0xfee00000ULL

/* ACPI fixed-hardware ports (FADT) and the sleep type the DSDT's _S5 names. */
#define HV_PM_BASE 0x600
#define HV_PM1A_EVT (HV_PM_BASE + 0)
#define HV_PM1A_CNT (HV_PM_BASE + 4)
#define HV_PM_LEN 8
#define HV_S5_SLP_TYP 5
#define HV_SCI_IRQ 9
#define HV_COM1_BASE 0x3f8
#define HV_COM1_IRQ 4

#define E820_RAM 1
#define E820_RESERVED 2
#define HV_E820_MAX 8

struct hv_e820 {
	uint64_t addr;
	uint64_t size;
	uint32_t type;
};

struct hv_serial {
	pthread_mutex_t lock;
	uint8_t ier, iir_thre, lcr, mcr, scr, dll, dlm, fcr;
	uint8_t rx[256];
	unsigned rx_head, rx_len;
	uint8_t out[256];
	unsigned out_len;
	bool irq_level;
};

/* ACPI PM1a event (status, enable) and control registers. */
struct hv_pm {
	pthread_mutex_t lock;
	uint8_t regs[HV_PM_LEN]; /* 0-1 PM1_STS, 2-3 PM1_EN, 4-5 PM1_CNT */
	bool sci_level;
};

#define HV_KVM_STATS 3 /* exits, halt_exits, insn_emulation */

struct hv_vcpu {
	struct hv_partition *p;
	unsigned id;
	int fd;
	int stats_fd;                    /* KVM_GET_STATS_FD, -1 when the host has none */
	int64_t kstat_off[HV_KVM_STATS]; /* offsets in stats_fd, -1 when missing */
	struct kvm_run *run;
	pthread_t thread;
	bool started;  /* atomic: the thread handle may be signalled */
	bool joinable; /* run's own: still to be joined */
	struct hv_vcpu_stats stats; /* updated with relaxed atomics */
};

struct hv_hyperv;

struct hv_partition {
	int kvm_fd;
	int vm_fd;
	unsigned nvcpus;
	struct hv_vcpu *vcpus;
	size_t run_size;
	uint8_t *ram;
	bool ram_from_file; /* save.c: a private mapping of a state file, not anonymous memory */
	int ram_fd;         /* that file (-1 when none), at ram_file_off */
	uint64_t ram_file_off;
	uint64_t mem_bytes;
	uint64_t ram_low;  /* bytes mapped at GPA 0 */
	uint64_t ram_high; /* bytes mapped at GPA 4 GiB */
	struct hv_e820 e820[HV_E820_MAX];
	unsigned ne820;
	struct kvm_cpuid2 *cpuid;

	hv_console_fn *console;
	void *console_opaque;
	int console_fd;
	struct hv_serial serial;
	struct hv_pm pm;

	bool loaded;
	uint64_t entry_rip, entry_rsi, entry_rbx;

	pthread_mutex_t lock;
	pthread_cond_t cond;
	int state;          /* HV_STATE_* */
	int stopping;       /* atomic: run is ending */
	int pause_req;      /* atomic */
	unsigned paused;    /* vCPU threads held, under lock */
	unsigned exited;    /* vCPU threads finished, under lock */
	struct hv_stop_info stop;

	struct hv_hyperv *hv; /* Hyper-V surface and VMBus (vmbus-priv.h); never NULL once built */
};

enum { HV_STATE_NEW, HV_STATE_RUNNING, HV_STATE_DONE };

/* vcpu.c */
int hv_vcpu_create(struct hv_partition *p, unsigned id);
void *hv_vcpu_thread(void *arg);
void hv_vcpu_kick(struct hv_vcpu *v);
void hv_vcpu_destroy(struct hv_vcpu *v);

/* kvm-stats.c */
int hv_kvm_stats_open(struct hv_vcpu *v);
void hv_kvm_stats_read(const struct hv_vcpu *v, uint64_t out[HV_KVM_STATS]);

/* partition.c: every vCPU thread held by a pause (or none started yet); nothing the guest
 * does can reach a device. */
bool hv_partition_held(struct hv_partition *p);

/* partition.c: first stop reason wins; kicks every vCPU out. */
void hv_partition_request_stop(struct hv_partition *p, const struct hv_stop_info *info);

/* ioport.c: dispatch one port access to its device. */
void hv_ioport_access(struct hv_vcpu *v, uint16_t port, bool is_write, uint8_t *data,
		      unsigned size);

/* serial.c */
void hv_serial_init(struct hv_serial *s);
void hv_serial_destroy(struct hv_serial *s);
void hv_serial_io(struct hv_vcpu *v, uint16_t off, bool is_write, uint8_t *val);
void hv_serial_flush(struct hv_partition *p);
int hv_serial_input(struct hv_partition *p, const uint8_t *buf, size_t len);

/* pm.c: ACPI PM1 block, reset port 0xcf9, keyboard controller reset. */
void hv_pm_init(struct hv_pm *pm);
void hv_pm_destroy(struct hv_pm *pm);
void hv_pm_io(struct hv_vcpu *v, uint16_t port, bool is_write, uint8_t *data, unsigned size);
void hv_reset_io(struct hv_vcpu *v, uint16_t port, bool is_write, uint8_t *data, unsigned size);
void hv_kbd_io(struct hv_vcpu *v, uint16_t port, bool is_write, uint8_t *data, unsigned size);

/* x86/cpuid.c */
int hv_cpuid_init(struct hv_partition *p);
int hv_cpuid_set(struct hv_vcpu *v);

/* x86/boot.c */
void hv_e820_build(struct hv_partition *p);
int hv_boot_page_tables(struct hv_partition *p);
int hv_boot_regs(struct hv_vcpu *v);
int hv_boot_cmdline(struct hv_partition *p, const char *cmdline);
int hv_boot_zero_page(struct hv_partition *p, const uint8_t *setup_hdr, size_t hdr_len,
		      uint64_t initrd_gpa, uint64_t initrd_len);
int hv_boot_start_info(struct hv_partition *p, uint64_t initrd_gpa, uint64_t initrd_len);
int hv_boot_place_initrd(struct hv_partition *p, const void *initrd, size_t len, uint64_t max_end,
			 uint64_t kernel_end, uint64_t *gpa);

/* x86/acpi.c */
int hv_acpi_build(struct hv_partition *p);

/* x86/elf.c and x86/bzimage.c: copy the image into guest memory and set entry_*. */
int hv_elf_load(struct hv_partition *p, const uint8_t *img, size_t len, const void *initrd,
		size_t initrd_len);
int hv_bzimage_load(struct hv_partition *p, const uint8_t *img, size_t len, const void *initrd,
		    size_t initrd_len);
bool hv_bzimage_probe(const uint8_t *img, size_t len);

static inline void hv_put16(uint8_t *b, uint16_t v)
{
	b[0] = (uint8_t)v;
	b[1] = (uint8_t)(v >> 8);
}

static inline void hv_put32(uint8_t *b, uint32_t v)
{
	hv_put16(b, (uint16_t)v);
	hv_put16(b + 2, (uint16_t)(v >> 16));
}

static inline void hv_put64(uint8_t *b, uint64_t v)
{
	hv_put32(b, (uint32_t)v);
	hv_put32(b + 4, (uint32_t)(v >> 32));
}

static inline uint16_t hv_get16(const uint8_t *b)
{
	return (uint16_t)(b[0] | (b[1] << 8));
}

static inline uint32_t hv_get32(const uint8_t *b)
{
	return (uint32_t)hv_get16(b) | ((uint32_t)hv_get16(b + 2) << 16);
}

static inline uint64_t hv_get64(const uint8_t *b)
{
	return (uint64_t)hv_get32(b) | ((uint64_t)hv_get32(b + 4) << 32);
}

#endif
