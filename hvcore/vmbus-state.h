/* libhvcore internals: the Hyper-V surface and VMBus in a saved-state file (sections 0x100
 * and 0x101, hvcore/STATEFILE.md), parsed. vmbus-state.c reads and checks the bytes (no
 * partition needed: the fuzz target runs it alone); vmbus-save.c writes them and rebuilds
 * the host objects from them. */
#ifndef HVCORE_VMBUS_STATE_H
#define HVCORE_VMBUS_STATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum {
	HV_SEC_HYPERV = 0x100, /* synthetic MSRs, SynIC registers and queued messages */
	HV_SEC_VMBUS = 0x101,  /* connection, GPADLs, channels and their providers */
};

/* Records of HV_SEC_HYPERV. */
enum {
	HV_REC_HV_PARTITION = 1, /* u64 guest OS id, u64 hypercall MSR, u64 reference ns, u64 0 */
	HV_REC_HV_SYNIC = 2,     /* u32 vp, u32 0, u64 SCONTROL SIMP SIEFP VP_ASSIST SINT0..15 */
	HV_REC_HV_MSG = 3,       /* u32 vp, u32 sint, u32 type, u32 len, 240 bytes: queue order */
};
#define HV_REC_HV_PARTITION_LEN 32
#define HV_REC_HV_SYNIC_LEN (8 + 8 * 20)
#define HV_REC_HV_MSG_LEN (16 + 240)

/* Records of HV_SEC_VMBUS. IC and PROVIDER records belong to the CHANNEL record before them. */
enum {
	HV_REC_VB_CONN = 1,     /* u32 version, u32 target vp, u32 flags, u32 next relid, u64 bad */
	HV_REC_VB_GPADL = 2,    /* u32 handle relid npages have next_msg 0, u64 pfns[have] */
	HV_REC_VB_CHANNEL = 3,  /* see STATEFILE.md */
	HV_REC_VB_IC = 4,       /* the integration-services framework's state of the channel */
	HV_REC_VB_PROVIDER = 5, /* the provider's own state, opaque here (hv_vsp save/load) */
};
#define HV_REC_VB_CONN_LEN 24
#define HV_REC_VB_CHANNEL_LEN 168
#define HV_REC_VB_IC_LEN 64
#define HV_SAVED_PROVIDER_MAX 65536

#define HV_SAVED_CONN_OFFERS 1u /* conn flags */
/* channel flags */
#define HV_SAVED_CH_ENABLED 1u
#define HV_SAVED_CH_SENT 2u
#define HV_SAVED_CH_RELEASED 4u
#define HV_SAVED_CH_REOFFER 8u
#define HV_SAVED_CH_LISTED 16u
#define HV_SAVED_CH_RINGS 32u /* the rings are in use: the GPADL, split at in_pages */
/* IC flags */
#define HV_SAVED_IC_CONTACT 1u /* last_contact_ns was set: contact_age_ns before the save */
#define HV_SAVED_IC_NEXT 2u    /* next_ns was set: due next_due_ns after the save */

#define HV_SAVED_MAX_GPADLS 64
#define HV_SAVED_MAX_CHANNELS 16
#define HV_SAVED_MAX_GPADL_PAGES 8192
#define HV_SAVED_MSG_QUEUE 256 /* per vCPU */

struct hv_saved_synic {
	uint64_t scontrol, simp, siefp, vp_assist, sint[16];
};

struct hv_saved_msg {
	uint32_t vp, sint, type, len;
	uint8_t data[240];
};

struct hv_saved_gpadl {
	uint32_t handle, relid, npages, have, next_msg;
	uint64_t *pfns; /* have */
};

struct hv_saved_ic {
	uint32_t fw_version, version, trans, flags;
	uint64_t trans_id, seq, contact_age_ns, next_due_ns;
	uint32_t pool, index, items;
};

struct hv_saved_channel {
	char instance_id[40]; /* NUL-terminated GUID string: which provider */
	uint32_t state, relid, conn_id, gpadl, target_vp, flags, in_pages, in_high, out_high;
	uint64_t packets_in, packets_out, bytes_in, bytes_out, interrupts_in, interrupts_out;
	uint64_t ring_full, throttled, bad_packets;
	uint32_t in_ring_size, out_ring_size, in_ring_high, out_ring_high;
	bool have_ic;
	struct hv_saved_ic ic;
	uint8_t *prov; /* HV_REC_VB_PROVIDER, NULL when none */
	uint32_t prov_len;
};

struct hv_saved_hv {
	uint32_t nvcpus;
	bool have_hyperv, have_vmbus, have_part, have_conn;
	uint64_t guest_os_id, hypercall, ref_ns;
	struct hv_saved_synic *synic; /* nvcpus */
	bool *synic_seen;
	struct hv_saved_msg *msgs;
	uint32_t nmsgs, maxmsgs;
	uint32_t version, target_vp, conn_flags, next_relid;
	uint64_t bad_messages;
	struct hv_saved_gpadl gpadls[HV_SAVED_MAX_GPADLS];
	uint32_t ngpadls;
	struct hv_saved_channel chans[HV_SAVED_MAX_CHANNELS];
	uint32_t nchans;
};

/* Parses one section of type HV_SEC_HYPERV or HV_SEC_VMBUS into *hv (made on first use, for
 * a partition of nvcpus). -EBADMSG malformed, -ENOTSUP an unknown required record. */
int hv_saved_hv_parse(struct hv_saved_hv **hv, uint32_t nvcpus, uint32_t type, const uint8_t *b, size_t len,
		      char *err, size_t errlen);
/* After every section: both sections there, every vCPU's SynIC, channels consistent with
 * the GPADLs they use. -EBADMSG otherwise. */
int hv_saved_hv_check(const struct hv_saved_hv *hv, char *err, size_t errlen);
void hv_saved_hv_free(struct hv_saved_hv *hv);

#endif
