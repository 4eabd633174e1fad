/* libhvcore internals of the Hyper-V surface (hyperv.c), VMBus (vmbus.c, vmbus-ring.c) and
 * the VSPs (vsp-*.c). Not installed. One lock, hv->lock, guards everything here: it is held
 * only for short, non-blocking work (guest memory, one MSI ioctl), from vCPU threads, the
 * VMBus timer thread and the public calls. */
#ifndef HVCORE_VMBUS_PRIV_H
#define HVCORE_VMBUS_PRIV_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "hvcore/hv-priv.h"

/* TLFS 11 (SynIC): 16 SINTs, 256-byte message slots, 2048 event flags per SINT. */
#define HV_SINT_COUNT 16
#define HV_MSG_SIZE 256
#define HV_MSG_PAYLOAD 240
#define HV_EVENT_FLAGS 2048
#define HV_VMBUS_SINT 2
#define HV_PAGE 4096u
#define HV_HYPERCALL_PORT 0xe5
#define HV_MSG_QUEUE_MAX 256 /* queued messages per vCPU; more is a guest not reading */

/* Hypercall status codes (TLFS 3.8). */
#define HV_STATUS_SUCCESS 0
#define HV_STATUS_INVALID_HYPERCALL_CODE 2
#define HV_STATUS_INVALID_HYPERCALL_INPUT 3
#define HV_STATUS_INVALID_ALIGNMENT 4
#define HV_STATUS_INVALID_PARAMETER 5
#define HV_STATUS_INVALID_CONNECTION_ID 0x12
#define HV_STATUS_INSUFFICIENT_BUFFERS 0x13

struct hv_msg {
	struct hv_msg *next;
	uint32_t type;
	uint8_t len;
	uint8_t data[HV_MSG_PAYLOAD];
};

/* One per vCPU. */
struct hv_synic {
	uint64_t scontrol, simp, siefp, sint[HV_SINT_COUNT], vp_assist;
	struct hv_msg *head[HV_SINT_COUNT], *tail[HV_SINT_COUNT];
	unsigned queued;
};

/* A ring buffer in guest memory: a header page, then the data pages (GPADL order). The host
 * pointers were checked against guest RAM when the channel opened; RAM never moves. */
struct hv_ring {
	uint8_t *hdr;
	uint8_t **pages;
	uint32_t npages;
	uint32_t size; /* data bytes */
	uint32_t high; /* most bytes ever seen in use */
};

struct hv_channel;
struct vhdx;

/* A VMBus device provider: one file each, one entry in the vmbus.c table. */
struct hv_vsp {
	const char *name;
	const char *class_id;    /* lower-case GUID strings */
	const char *instance_id;
	int ic;                  /* enum hv_ic, or -1 */
	size_t priv_size;
	void (*opened)(struct hv_channel *c);          /* the host speaks first (IC negotiate) */
	/* One inband packet from the guest: data after the 16-byte descriptor. Returns false
	 * when the packet is malformed (counted as a bad packet). */
	bool (*packet)(struct hv_channel *c, const uint8_t *data, uint32_t len, uint64_t trans_id,
		       uint16_t type, uint16_t flags);
	void (*tick)(struct hv_channel *c, uint64_t now_ns); /* about every 100 ms while open */
	/* Optional, for devices that move data by guest page lists: one
	 * VM_PKT_DATA_USING_GPA_DIRECT packet, whole (descriptor, page ranges, data). */
	bool (*gpa_packet)(struct hv_channel *c, const uint8_t *pkt, uint32_t len);
	void (*drained)(struct hv_channel *c); /* after a guest signal was served */
	/* Optional: false while the service cannot take another packet (out of request slots);
	 * the rest stays in the ring, and is read once the service can (hv_channel_resume). */
	bool (*ready)(struct hv_channel *c);
	void (*destroy)(struct hv_channel *c); /* lock not held: stop threads, free priv's insides */
	const struct hv_ic_versions *ic_versions; /* IC providers: what they offer (restore) */
	/* Saved state beyond the IC framework's (vmbus-save.c), NULL when the provider keeps
	 * none: save writes at most max bytes and returns how many; load checks what it reads
	 * (a state file is outside input) and returns 0 or -EBADMSG. */
	size_t (*save)(const struct hv_channel *c, uint8_t *buf, size_t max);
	int (*load)(struct hv_channel *c, const uint8_t *data, size_t len);
};

struct hv_channel {
	struct hv_partition *p;
	const struct hv_vsp *vsp;
	void *priv;
	uint32_t relid, conn_id, gpadl, target_vp;
	enum hv_channel_state state;
	bool enabled;       /* wanted: offered when the guest asks */
	bool sent;          /* the offer went to the guest */
	bool released;      /* after a rescind: the guest sent RELID_RELEASED */
	bool reoffer;       /* enable came while the old relid was not released yet */
	bool listed;        /* offered at least once: reported by hv_partition_vmbus_channels */
	bool stats;         /* counters collected (not vmbus_no_stats) */
	bool stalled;       /* reading stopped with packets maybe left: the service was not
			     * ready, or a batch ended */
	struct hv_ring in;  /* guest to host */
	struct hv_ring out; /* host to guest */
	uint8_t *buf;       /* one packet read from the guest */
	struct hv_vmbus_channel_stats st;
};

#define HV_MAX_GPADLS 64
#define HV_MAX_GPADL_PAGES 8192 /* 32 MiB: netvsc's receive buffer is 16 MiB */
#define HV_MAX_PACKET (64 * 1024)
#define HV_MAX_CHANNELS 12 /* 6 fixed slots (4 IC, echo, balloon), then the SCSI controllers */
#define HV_SCSI_SLOT 6

struct hv_gpadl {
	uint32_t handle, relid;
	uint32_t npages, have; /* pages announced, pages received */
	uint32_t next_msg;     /* GPADL_BODY message number expected */
	bool bad;              /* a page outside RAM was seen */
	uint64_t *pfns;
};

struct hv_vmbus {
	uint32_t version;      /* 0 until INITIATE_CONTACT succeeds */
	uint32_t target_vp;
	bool offers_requested;
	uint32_t next_relid;
	uint64_t bad_messages;
	struct hv_channel *chan[HV_MAX_CHANNELS];
	struct hv_gpadl gpadls[HV_MAX_GPADLS];
	pthread_t thread;
	bool thread_on;
	bool thread_stop;
	pthread_cond_t cond;
};

struct hv_hyperv {
	pthread_mutex_t lock;
	bool on;
	/* KVM_X86_SET_MSR_FILTER waits for an SRCU grace period (about 13 ms here, half of a
	 * partition's start): it runs in this thread while the rest is set up, and
	 * hv_hyperv_ready() waits for it before any vCPU runs. */
	pthread_t filter_thread;
	bool filter_pending;
	int filter_rc;
	uint64_t guest_os_id, hypercall, ref_base_ns;
	struct hv_synic *synic; /* nvcpus */
	struct hv_vmbus vmbus;
};

/* hyperv.c */
int hv_hyperv_init(struct hv_partition *p, const struct hv_partition_config *cfg);
void hv_hyperv_destroy(struct hv_partition *p);
/* Waits until the MSR filter is in place; its error, or 0. */
int hv_hyperv_ready(struct hv_partition *p);
void hv_hyperv_cpuid(struct hv_partition *p, struct kvm_cpuid_entry2 *e, uint32_t *n, uint32_t max);
bool hv_hyperv_msr(struct hv_vcpu *v, bool write, uint32_t index, uint64_t *data);
void hv_hyperv_hypercall(struct hv_vcpu *v);
/* With hv->lock held: queue/deliver one message to (vp, sint); set an event flag and
 * interrupt. Return false when the guest cannot take it (queue full, SynIC off). */
bool hv_synic_post(struct hv_partition *p, uint32_t vp, unsigned sint, const void *msg, size_t len);
bool hv_synic_event(struct hv_partition *p, uint32_t vp, unsigned sint, uint32_t flag);
uint64_t hv_now_ns(void);

/* vmbus.c (hv->lock held unless said) */
int hv_vmbus_init(struct hv_partition *p, const struct hv_partition_config *cfg);
void hv_vmbus_destroy(struct hv_partition *p);
int hv_vmbus_start(struct hv_partition *p);   /* the timer thread; lock not held */
void hv_vmbus_stop(struct hv_partition *p);   /* lock not held */
void hv_vmbus_tick(struct hv_partition *p, uint64_t now_ns); /* the services' timers */
/* A message the guest posted on a VMBus connection id: returns a hypercall status. */
uint16_t hv_vmbus_post(struct hv_partition *p, uint32_t conn_id, const uint8_t *msg, uint32_t len);
uint16_t hv_vmbus_signal(struct hv_partition *p, uint32_t conn_id);
/* Sends one inband packet to the guest. 0, -EAGAIN ring full, -ENOTCONN not open. */
int hv_channel_send(struct hv_channel *c, const void *data, uint32_t len, uint64_t trans_id);
/* The same as a completion packet (VM_PKT_COMP), how a VSP answers a guest's request. */
int hv_channel_send_comp(struct hv_channel *c, const void *data, uint32_t len, uint64_t trans_id);
void hv_channel_fault(struct hv_channel *c);
/* For a device's own thread that polls its channel (lock not held): serves what the guest
 * put in the ring, as its signal would. */
void hv_channel_poll(struct hv_channel *c);
/* Lock held: what stayed in the ring (the service was not ready, or a batch ended) is read
 * now if the service can take it: the guest does not signal for a ring that was not empty. */
void hv_channel_resume(struct hv_channel *c);
void hv_channel_offer(struct hv_channel *c);       /* a new relid, OFFERCHANNEL */
void hv_channel_rescind(struct hv_channel *c);     /* RESCIND_CHANNELOFFER, rings dropped */
void hv_channel_close_rings(struct hv_channel *c);

/* Channel counters, unless the partition said vmbus_no_stats. */
#define HV_STAT(c, field, n)                \
	do {                                \
		if ((c)->stats)             \
			(c)->st.field += (n); \
	} while (0)
struct hv_channel *hv_vmbus_ic_channel(struct hv_partition *p, int ic);

/* vmbus-ring.c: all offsets from the guest are checked; -EBADMSG means the ring is broken. */
int hv_ring_setup(struct hv_ring *r, uint8_t **pages, uint32_t npages, bool host_writes);
void hv_ring_free(struct hv_ring *r);
uint32_t hv_ring_used(const struct hv_ring *r);
/* Next packet into buf (descriptor included): its length, 0 none, -EBADMSG broken. */
int hv_ring_read(struct hv_ring *r, uint8_t *buf, uint32_t max);
/* After reading: true when the guest waits for room (pending_send_sz) and now has it. */
bool hv_ring_read_done(struct hv_ring *r, uint32_t before_free);
uint32_t hv_ring_free_bytes(const struct hv_ring *r);
/* The host waits for room to write bytes (0: no longer): the guest signals once it has
 * read enough (pending_send_sz). */
void hv_ring_want_room(struct hv_ring *r, uint32_t bytes);
/* The host polls this (guest-to-host) ring: the guest need not signal after writing to it
 * (Linux's hv_signal_on_write and hvguest look at the mask). Ends with a full barrier. */
void hv_ring_mask(struct hv_ring *r, bool on);
/* Writes descriptor + data; -EAGAIN no room, -EBADMSG broken; *signal says whether the
 * guest wants an interrupt (ring was empty and not masked); *masked the mask suppressed one. */
int hv_ring_write(struct hv_ring *r, uint16_t type, uint16_t flags, uint64_t trans_id,
		  const void *data, uint32_t len, bool *signal, bool *masked);

/* vsp-ic.c: the integration-services framework shared by the four ICs. */
struct hv_ic_versions;
struct hv_ic_state {
	const struct hv_ic_versions *offered;
	uint32_t fw_version, version; /* negotiated, 0 until then */
	uint64_t last_contact_ns;
	uint64_t next_ns;             /* when the service wants to send next */
	uint64_t seq;
	uint8_t trans;
	uint64_t trans_id;
	uint32_t pool, index;         /* KVP enumeration */
	unsigned items;               /* KVP items the guest reported */
};
struct hv_ic_versions {
	uint16_t icmsgtype;
	const uint32_t *fw;
	unsigned nfw;
	const uint32_t *msg;
	unsigned nmsg;
};
#define HV_IC_HDR 28 /* vmbuspipe_hdr (8) + icmsg_hdr (20) */
void hv_ic_opened(struct hv_channel *c, const struct hv_ic_versions *v);
/* Checks an IC response; returns its message type and body (after HV_IC_HDR), or -1. A
 * negotiate response is consumed here (returns -2). */
int hv_ic_response(struct hv_channel *c, const uint8_t *d, uint32_t len, uint32_t *status,
		   const uint8_t **body, uint32_t *body_len);
int hv_ic_send(struct hv_channel *c, uint16_t type, const void *body, uint32_t body_len);

extern const struct hv_vsp hv_vsp_heartbeat, hv_vsp_shutdown, hv_vsp_timesync, hv_vsp_kvp,
	hv_vsp_echo, hv_vsp_storvsc, hv_vsp_balloon;
/* vsp-storvsc.c: a SCSI controller's disks opened into c->priv (lock not held, before the
 * partition runs), poll as hv_partition_config's scsi_poll; on failure why names the disk. */
int hv_storvsc_init(struct hv_channel *c, unsigned controller, const struct hv_disk_config *disks,
		    unsigned ndisks, int poll, char *why, size_t why_len);
/* The vCPUs held (lock not held): waits for every queued request to complete, then flushes
 * every disk; on failure why names the disk. */
int hv_storvsc_quiesce(struct hv_channel *c, char *why, size_t why_len);
/* Quiesced: creates (sw->create) and opens the new layer of one disk into *out, checked to be
 * the same disk; on failure nothing is left behind (a file it created is removed) and why
 * names the disk. commit then makes the controller use v (consumed) and closes the old one. */
int hv_storvsc_switch_open(struct hv_channel *c, const struct hv_disk_switch *sw, struct vhdx **out,
			   char *why, size_t why_len);
void hv_storvsc_switch_commit(struct hv_channel *c, unsigned location, struct vhdx *v, const char *path);
/* With hv->lock held: appends each disk's statistics; returns the number of disks. */
size_t hv_storvsc_stats(struct hv_channel *c, struct hv_disk_stats *out, size_t max);
int hv_shutdown_request(struct hv_channel *c, int reboot, const char *reason);

/* vmbus-save.c: the Hyper-V and VMBus sections of a saved state (STATEFILE.md). save: hv->lock
 * held by the caller, nothing running. restore: into a partition just made, after its vCPUs
 * were restored; rebuilds every host object and checks what needs the partition. */
struct hv_state_writer;
struct hv_saved_hv;
int hv_hyperv_save(struct hv_partition *p, struct hv_state_writer *w);
int hv_hyperv_restore(struct hv_partition *p, const struct hv_saved_hv *s, char *err, size_t errlen);

#endif
