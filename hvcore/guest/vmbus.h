/* hvguest: the Hyper-V surface (hv.c) and the VMBus client (vmbus.c, ic.c). */
#ifndef HVCORE_GUEST_VMBUS_H
#define HVCORE_GUEST_VMBUS_H

#include "hvcore/guest/lib.h"

#define VMBUS_SINT 2

/* balloon.c: the Dynamic Memory client (hvguest.memload=, hvguest.balloon=hostile). */
void balloon_setup(const struct bootinfo *bi);
void balloon_opened(void);
void balloon_packet(const uint8_t *d, uint32_t len);
void balloon_poll(void);
/* vmbus.c: one packet on the balloon channel; waits for ring room. */
void vmbus_balloon_send(const void *d, uint32_t len);

extern uint8_t hv_simp[4096], hv_siefp[4096];

/* hv.c */
int hv_setup(unsigned vector); /* 0, or -1 when this is not Hyper-V */
unsigned hv_post(uint32_t conn_id, const void *msg, uint32_t len); /* hypercall status */
unsigned hv_signal(uint32_t conn_id);
uint64_t hv_ref_time(void); /* 100 ns units */
void hv_eom(void);

/* vmbus.c */
struct vmbus_opts {
	int misbehave;
	uint64_t bench; /* round trips for hvguest.vmbusbench=N, 0 none */
};
/* Connects, opens every channel it knows, prints the vmbus line. -1 when not possible. */
int vmbus_start(const struct vmbus_opts *o);
/* Work after an interrupt: messages, ring packets. Returns 1 shut down, 2 reboot asked. */
int vmbus_poll(void);

/* The storage client's use of the channels (vmbus.c): slot k of VMBUS_SCSI_MAX SCSI
 * channels (its channel index, or -1 when not open; *controller from the instance GUID);
 * inband packets with completion requested, GPA-direct packets of one page range; one
 * packet from the host (1, 0 none, -1 broken ring); an interrupt wait. */
#define VMBUS_SCSI_MAX 4
#define VMBUS_MAX_PFNS 17
int vmbus_scsi_channel(unsigned k, unsigned *controller);
int vmbus_chan_send(unsigned i, const void *data, uint32_t len, uint64_t trans);
int vmbus_chan_send_gpa(unsigned i, const void *data, uint32_t len, uint64_t trans,
			uint32_t buf_off, uint32_t buf_len, const uint64_t *pfns, unsigned n);
int vmbus_chan_recv(unsigned i, const uint8_t **data, uint32_t *len, uint64_t *trans);
/* on: the guest polls channel i for what the host sends, so it masks its interrupts. */
void vmbus_chan_poll_mode(unsigned i, int on);
void vmbus_wait(void);

/* storage.c: the disks on every SCSI controller (hvguest.disktest, .scsimisbehave,
 * .diskbench). */
struct storage_opts {
	int test, misbehave;
	uint64_t bench_s;  /* hvguest.diskbench=S */
	uint64_t ubench_s; /* hvguest.udiskbench=S: in user mode, then power-off */
	uint64_t rsdp;
};
void storage_run(const struct storage_opts *o);

/* ic.c: answers one IC request in place (the packet's data); returns the length to send
 * back, 0 for none. *action: 1 shut down, 2 reboot. */
struct channel;
uint32_t ic_answer(int service, uint8_t *d, uint32_t len, int *action);



static inline void wr16(void *p, uint16_t v)
{
	uint8_t *b = p;

	b[0] = (uint8_t)v;
	b[1] = (uint8_t)(v >> 8);
}

static inline void wr32(void *p, uint32_t v)
{
	wr16(p, (uint16_t)v);
	wr16((uint8_t *)p + 2, (uint16_t)(v >> 16));
}

static inline void wr64(void *p, uint64_t v)
{
	wr32(p, (uint32_t)v);
	wr32((uint8_t *)p + 4, (uint32_t)(v >> 32));
}

/* A full barrier the instruction emulator runs (no mfence: it is an SSE2 instruction). */
static inline void barrier_full(void)
{
	__asm__ volatile("lock; addl $0, (%%rsp)" : : : "memory", "cc");
}
#endif
