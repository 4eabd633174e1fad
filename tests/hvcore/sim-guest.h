/* A simulated guest for the host's VMBus code, without KVM: a partition that has RAM and a
 * SynIC but no VM, on which this process plays the guest (connects, opens the first channel
 * offered, writes packets into its ring and signals, reads what the host puts back). Every
 * host step is the real code; interrupts fail at once on the missing VM fd. For the
 * synthetic SCSI controller it also speaks storvsc (hvcore/guest/storage.c does the same in
 * the real guest). Used by test-storvsc and storvsc-hostbench; no cmocka here. */
#ifndef HVKIT_TESTS_SIM_GUEST_H
#define HVKIT_TESTS_SIM_GUEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hvcore/vmbus-priv.h"

#define SIM_RAM (16u << 20)
#define SIM_DATA 0x100000u /* guest RAM from here on is the caller's (data buffers) */

struct sim_guest {
	struct hv_partition *p;
	struct hv_vcpu vcpu;
	uint64_t trans;
	uint64_t signals; /* HvSignalEvent calls (the packets sent while the ring was masked
			   * had none) */
	bool nowait;      /* a full ring makes sim_scsi_submit return 0, not wait for room */
};

/* A partition of cfg (ic_disabled and vmbus_echo are the caller's: the channel opened is
 * relid 1, the first one offered) with the VMBus connected and that channel open. 0 or
 * -errno; why (may be NULL) gets hv_vmbus_init's reason. */
int sim_guest_new(const struct hv_partition_config *cfg, struct sim_guest **out, char *why,
		  size_t why_len);
void sim_guest_free(struct sim_guest *g);
/* Guest RAM at gpa (inside SIM_RAM). */
uint8_t *sim_guest_ram(struct sim_guest *g, uint64_t gpa);

/* The result of one SRB, as the guest sees its COMPLETE_IO. */
struct sim_srb_res {
	uint64_t trans;
	uint8_t srb_status, scsi_status, sense_key;
	uint32_t xfer;
};

/* BEGIN_INITIALIZATION .. END_INITIALIZATION (protocol 6.2): 0 or -EPROTO. */
int sim_scsi_init(struct sim_guest *g);
/* The guest polls for its completions (as hvguest's diskbench): it masks the host-to-guest
 * ring, so the host does not interrupt it; or, off, it takes interrupts again. */
void sim_guest_poll_completions(struct sim_guest *g, bool on);
/* The services' timer, once (the partition has no timer thread). */
void sim_guest_tick(struct sim_guest *g);
/* Sends one SRB for lun with cdb, the data buffer len bytes at gpa (len 0: inband), and
 * signals; returns its transaction id. Does not wait for it; waits for room in the ring,
 * unless g->nowait (then 0: not sent). */
uint64_t sim_scsi_submit(struct sim_guest *g, unsigned lun, const uint8_t *cdb, unsigned cdb_len,
			 uint64_t gpa, uint32_t len);
/* The next completion: 1 with *res filled, 0 when there is none (yet), -EPROTO on garbage. */
int sim_scsi_poll(struct sim_guest *g, struct sim_srb_res *res);
/* Waits (spinning, up to 10 s) for the next completion: 0 or -ETIMEDOUT / -EPROTO. */
int sim_scsi_wait(struct sim_guest *g, struct sim_srb_res *res);
/* READ (16) or WRITE (16) of nblocks blocks of lbs bytes at lba, from or into gpa, sent
 * (sim_scsi_submit); its transaction id. */
uint64_t sim_scsi_rw_submit(struct sim_guest *g, unsigned lun, bool write, uint64_t lba,
			    uint32_t nblocks, uint32_t lbs, uint64_t gpa);
/* The same, waited for. 0 when it completed GOOD with every byte moved, -EIO otherwise (res says how). */
int sim_scsi_rw(struct sim_guest *g, unsigned lun, bool write, uint64_t lba, uint32_t nblocks,
		uint32_t lbs, uint64_t gpa, struct sim_srb_res *res);

#endif
