/* libhvcore internals: the saved-state file (hvcore/STATEFILE.md), parsed. statefile.c reads
 * and writes the container; save.c moves the state between KVM and these structures. */
#ifndef HVCORE_STATE_H
#define HVCORE_STATE_H

#include <stdbool.h>
#include <stdint.h>
#include <linux/kvm.h>

#include "hvcore/vmbus-state.h"

#define HV_STATE_MAGIC "HVKITSAV"
#define HV_STATE_VERSION 1
#define HV_STATE_HDR_LEN 64
#define HV_STATE_SEC_LEN 32
#define HV_STATE_MAX_SECTIONS 1024
#define HV_STATE_MAX_SECTION (16u << 20) /* any section but memory */
#define HV_STATE_PAGE 4096

/* Section types. 0x100 and up: the Hyper-V surface and VMBus (vmbus-state.h). */
enum {
	HV_SEC_PARTITION = 1,
	HV_SEC_VM = 2,
	HV_SEC_VCPU = 3,
	HV_SEC_DEVICES = 4,
	HV_SEC_MEMORY = 5,
};
#define HV_SEC_F_REQUIRED 1u

/* Records inside VM, VCPU and DEVICES sections: {u32 kind, u32 len, data, pad to 8}.
 * Kinds with HV_REC_OPTIONAL set may be skipped by a reader that does not know them. */
#define HV_REC_OPTIONAL 0x80000000u
enum {
	HV_REC_VM_CLOCK = 1,
	HV_REC_VM_PIT2 = 2,
	HV_REC_VM_IRQCHIP = 3, /* struct kvm_irqchip; chip_id 0 PIC master, 1 slave, 2 IOAPIC */
};
enum {
	HV_REC_CPU_ID = 1, /* u32 vCPU index */
	HV_REC_CPU_MP_STATE = 2,
	HV_REC_CPU_REGS = 3,
	HV_REC_CPU_SREGS = 4,
	HV_REC_CPU_XSAVE = 5, /* as many bytes as KVM_CAP_XSAVE2 says (>= 4096) */
	HV_REC_CPU_FPU = 6,   /* when the host has no XSAVE */
	HV_REC_CPU_XCRS = 7,
	HV_REC_CPU_DEBUGREGS = 8,
	HV_REC_CPU_LAPIC = 9,
	HV_REC_CPU_MSRS = 10, /* u32 count, u32 0, then {u32 index, u32 0, u64 value} */
	HV_REC_CPU_EVENTS = 11,
	HV_REC_CPU_TSC_KHZ = 12 | HV_REC_OPTIONAL, /* u32, informational */
};
enum {
	HV_REC_DEV_SERIAL = 1,
	HV_REC_DEV_PM = 2,
};

#define HV_STATE_MAX_MSRS 256
#define HV_STATE_MAX_XSAVE (1u << 20)

struct hv_saved_vcpu {
	unsigned have; /* bit per HV_REC_CPU_* kind */
	uint32_t id;
	struct kvm_mp_state mp;
	struct kvm_regs regs;
	struct kvm_sregs sregs;
	uint8_t *xsave;
	uint32_t xsave_len;
	struct kvm_fpu fpu;
	struct kvm_xcrs xcrs;
	struct kvm_debugregs dregs;
	struct kvm_lapic_state lapic;
	struct kvm_vcpu_events events;
	uint32_t nmsrs;
	struct kvm_msr_entry msrs[HV_STATE_MAX_MSRS];
	uint32_t tsc_khz;
};

/* The UART as saved: registers, receive FIFO, the unsent part of the current output line. */
struct hv_saved_serial {
	uint8_t ier, iir_thre, lcr, mcr, scr, dll, dlm, fcr, irq_level;
	uint16_t rx_head, rx_len, out_len;
	uint8_t rx[256];
	uint8_t out[256];
};
#define HV_SAVED_SERIAL_LEN (9 + 6 + 256 + 256)

struct hv_saved_pm {
	uint8_t regs[8];
	uint8_t sci_level;
};
#define HV_SAVED_PM_LEN 9

struct hv_state {
	uint32_t version;
	int64_t saved_ns;
	uint32_t nvcpus;
	uint64_t mem_bytes;
	unsigned vm_have; /* bit 0 clock, 1 pit, 2..4 irqchips 0..2 */
	struct kvm_clock_data clock;
	struct kvm_pit_state2 pit;
	struct kvm_irqchip chips[3];
	struct hv_saved_vcpu *vcpus; /* nvcpus, in index order */
	bool have_serial, have_pm;
	struct hv_saved_serial serial;
	struct hv_saved_pm pm;
	uint64_t mem_off, mem_len; /* page-aligned offset and length in the file */
	uint32_t mem_crc;
	unsigned skipped; /* optional sections or records not understood */
	struct hv_saved_hv *hv; /* sections 0x100-0x101; NULL: saved without the Hyper-V surface */
};

uint32_t hv_crc32c(uint32_t crc, const void *buf, size_t len);

/* Reads and checks a state file (every section's checksum but memory's, every length).
 * -EBADMSG corrupt, -ENOTSUP a newer version or an unknown required section, -EIO/-errno
 * a read failed. err (may be NULL) gets a sentence saying what was wrong. */
int hv_state_read(int fd, struct hv_state **out, char *err, size_t errlen);
void hv_state_free(struct hv_state *st);

/* Writing: a builder of sections. */
struct hv_state_writer {
	int fd;
	uint64_t pos;
	uint32_t nsec;
	uint8_t *table; /* nsections entries */
	uint32_t maxsec;
	uint8_t *buf; /* the section being built */
	size_t len, cap;
	int error;
};
int hv_state_writer_init(struct hv_state_writer *w, int fd, unsigned nsections);
void hv_state_rec(struct hv_state_writer *w, uint32_t kind, const void *data, size_t len);
/* Ends the section being built (its records) and writes it. */
void hv_state_section_end(struct hv_state_writer *w, uint32_t type, uint32_t flags);
/* Writes the memory section from ram (len bytes), zero pages as holes. src_fd -2: ram is
 * anonymous memory, whose pages never touched need not be read; src_fd >= 0: ram is a
 * private mapping of that file at src_off, whose pages never touched over its holes need
 * not be read; -1: read every page. */
void hv_state_memory(struct hv_state_writer *w, const uint8_t *ram, uint64_t len, int src_fd, uint64_t src_off);
/* Writes the table and the header last; returns 0 or -errno. */
int hv_state_writer_finish(struct hv_state_writer *w, uint32_t nvcpus, uint64_t mem_bytes, int64_t now_ns);

#endif
