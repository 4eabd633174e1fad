/* The Hyper-V surface in userspace: CPUID leaves 0x40000000-5, the synthetic MSRs (trapped
 * with an MSR filter), the hypercall page (a port write, since KVM takes VMCALL) and the
 * SynIC message and event pages. TLFS 6.0: 2 (CPUID), 3 (hypercalls), 11 (SynIC); the
 * facts this KVM needs are in /work/shared/notes/hyperv-surface.md. Everything read from
 * the guest is checked; a bad value gets #GP or an error status, never a host failure. */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>

#include "hvcore/vmbus-priv.h"

#define MSR_GUEST_OS_ID 0x40000000
#define MSR_HYPERCALL 0x40000001
#define MSR_VP_INDEX 0x40000002
#define MSR_TIME_REF_COUNT 0x40000020
#define MSR_REFERENCE_TSC 0x40000021
#define MSR_TSC_FREQUENCY 0x40000022
#define MSR_APIC_FREQUENCY 0x40000023
#define MSR_VP_ASSIST_PAGE 0x40000073
#define MSR_SCONTROL 0x40000080
#define MSR_SVERSION 0x40000081
#define MSR_SIEFP 0x40000082
#define MSR_SIMP 0x40000083
#define MSR_EOM 0x40000084
#define MSR_SINT0 0x40000090
#define MSR_TSC_INVARIANT_CONTROL 0x40000118
#define MSR_FILTER_BASE 0x40000000
#define MSR_FILTER_COUNT 0x200

#define SINT_MASKED (1ULL << 16)
#define PAGE_MASK (~(uint64_t)(HV_PAGE - 1))

#define HVCALL_POST_MESSAGE 0x5c
#define HVCALL_SIGNAL_EVENT 0x5d
#define HVCALL_FAST (1ULL << 16)

/* CPUID 0x40000003 EAX: SynIC (2), hypercall (5), VP index (6), frequency MSRs (11); EBX:
 * post messages (4), signal events (5); EDX: frequency MSRs (8). The reference counter MSR
 * answers (Linux's time sync reads it regardless) but is not offered (bit 1): without the
 * reference TSC page Linux would make it its clocksource, one exit per clock read.
 * 0x40000004 EAX bit 9: AutoEOI deprecated, required here (nothing can auto-EOI). */
#define FEAT_EAX ((1u << 2) | (1u << 5) | (1u << 6) | (1u << 11))
#define FEAT_EBX ((1u << 4) | (1u << 5))
#define FEAT_EDX (1u << 8)
#define HINT_DEPRECATE_AEOI (1u << 9)

uint64_t hv_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static void put_entry(struct kvm_cpuid_entry2 *e, uint32_t fn, uint32_t a, uint32_t b, uint32_t c,
		      uint32_t d)
{
	memset(e, 0, sizeof(*e));
	e->function = fn;
	e->eax = a;
	e->ebx = b;
	e->ecx = c;
	e->edx = d;
}

/* "Microsoft Hv" and no "KVMKVMKVM" anywhere: Linux picks the best-ranked hypervisor it
 * sees, and hv_vmbus refuses to load unless that is Hyper-V. */
void hv_hyperv_cpuid(struct hv_partition *p, struct kvm_cpuid_entry2 *e, uint32_t *n, uint32_t max)
{
	if (!p->hv || !p->hv->on || *n + 6 > max)
		return;
	put_entry(&e[(*n)++], 0x40000000, 0x40000005, 0x7263694d, 0x666f736f, 0x76482074);
	put_entry(&e[(*n)++], 0x40000001, 0x31237648, 0, 0, 0); /* "Hv#1" */
	put_entry(&e[(*n)++], 0x40000002, 17763, (10u << 16) | 0, 0, 0);
	put_entry(&e[(*n)++], 0x40000003, FEAT_EAX, FEAT_EBX, 0, FEAT_EDX);
	put_entry(&e[(*n)++], 0x40000004, HINT_DEPRECATE_AEOI, 0xffffffffu, 0, 0);
	put_entry(&e[(*n)++], 0x40000005, p->nvcpus, p->nvcpus, 0, 0);
}

static void *set_filter(void *arg)
{
	static const uint8_t deny[MSR_FILTER_COUNT / 8];
	struct hv_partition *p = arg;
	struct kvm_msr_filter f;

	memset(&f, 0, sizeof(f));
	f.flags = KVM_MSR_FILTER_DEFAULT_ALLOW;
	f.ranges[0].flags = KVM_MSR_FILTER_READ | KVM_MSR_FILTER_WRITE;
	f.ranges[0].nmsrs = MSR_FILTER_COUNT;
	f.ranges[0].base = MSR_FILTER_BASE;
	f.ranges[0].bitmap = (uint8_t *)deny;
	p->hv->filter_rc = ioctl(p->vm_fd, KVM_X86_SET_MSR_FILTER, &f) < 0 ? -errno : 0;
	return NULL;
}

int hv_hyperv_ready(struct hv_partition *p)
{
	if (!p->hv || !p->hv->filter_pending)
		return p->hv ? p->hv->filter_rc : 0;
	pthread_join(p->hv->filter_thread, NULL);
	p->hv->filter_pending = false;
	return p->hv->filter_rc;
}

/* Reads and writes of 0x40000000-0x400001ff leave KVM as KVM_EXIT_X86_RDMSR/WRMSR (the filter
 * itself is set in a thread: see struct hv_hyperv). */
static int setup_msr_filter(struct hv_partition *p)
{
	struct kvm_enable_cap cap = { .cap = KVM_CAP_X86_USER_SPACE_MSR };
	int r;

	if (ioctl(p->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_X86_USER_SPACE_MSR) <= 0 ||
	    ioctl(p->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_X86_MSR_FILTER) <= 0 ||
	    ioctl(p->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_SIGNAL_MSI) <= 0)
		return -ENOTSUP;
	cap.args[0] = KVM_MSR_EXIT_REASON_FILTER;
	if (ioctl(p->vm_fd, KVM_ENABLE_CAP, &cap) < 0)
		return -errno;
	r = -pthread_create(&p->hv->filter_thread, NULL, set_filter, p);
	if (r) {
		set_filter(p); /* no thread: wait for it here */
		return p->hv->filter_rc;
	}
	p->hv->filter_pending = true;
	return 0;
}

/* Disks live on the synthetic SCSI controller, a VMBus device. */
static int no_vmbus_for_disks(const struct hv_partition_config *cfg)
{
	if (cfg->why && cfg->why_len)
		snprintf(cfg->why, cfg->why_len, "disks need VMBus, which this partition has not");
	return -ENOTSUP;
}

/* A host whose KVM cannot trap MSRs gets a plain partition: the surface is left out
 * rather than failing the partition. */
int hv_hyperv_init(struct hv_partition *p, const struct hv_partition_config *cfg)
{
	struct hv_hyperv *hv;
	unsigned i;
	int r;

	hv = calloc(1, sizeof(*hv));
	if (!hv)
		return -ENOMEM;
	pthread_mutex_init(&hv->lock, NULL);
	p->hv = hv;
	if (cfg->vmbus_off && cfg->ndisks)
		return no_vmbus_for_disks(cfg);
	if (cfg->vmbus_off)
		return 0;
	hv->synic = calloc(p->nvcpus, sizeof(*hv->synic));
	if (!hv->synic)
		return -ENOMEM;
	for (i = 0; i < p->nvcpus; i++) {
		unsigned s;

		for (s = 0; s < HV_SINT_COUNT; s++)
			hv->synic[i].sint[s] = SINT_MASKED;
	}
	r = setup_msr_filter(p);
	if ((r == -ENOTSUP || r == -EINVAL) && cfg->ndisks)
		return no_vmbus_for_disks(cfg);
	if (r == -ENOTSUP || r == -EINVAL)
		return 0;
	if (r)
		return r;
	hv->on = true;
	hv->ref_base_ns = hv_now_ns();
	return hv_vmbus_init(p, cfg);
}

static void drop_queue(struct hv_synic *s)
{
	unsigned i;

	for (i = 0; i < HV_SINT_COUNT; i++) {
		while (s->head[i]) {
			struct hv_msg *m = s->head[i];

			s->head[i] = m->next;
			free(m);
		}
		s->tail[i] = NULL;
	}
	s->queued = 0;
}

void hv_hyperv_destroy(struct hv_partition *p)
{
	unsigned i;

	if (!p->hv)
		return;
	(void)hv_hyperv_ready(p);
	hv_vmbus_destroy(p);
	if (p->hv->synic)
		for (i = 0; i < p->nvcpus; i++)
			drop_queue(&p->hv->synic[i]);
	free(p->hv->synic);
	pthread_mutex_destroy(&p->hv->lock);
	free(p->hv);
	p->hv = NULL;
}

static void signal_sint(struct hv_partition *p, uint32_t vp, unsigned sint)
{
	struct kvm_msi msi;
	uint64_t v = p->hv->synic[vp].sint[sint];
	uint32_t vector = (uint32_t)(v & 0xff);

	if ((v & SINT_MASKED) || vector < 16)
		return;
	memset(&msi, 0, sizeof(msi));
	msi.address_lo = 0xfee00000u | (vp << 12);
	msi.data = vector;
	(void)ioctl(p->vm_fd, KVM_SIGNAL_MSI, &msi);
}

static bool sint_ready(const struct hv_synic *s, unsigned sint)
{
	return (s->scontrol & 1) && (s->simp & 1) && !(s->sint[sint] & SINT_MASKED);
}

/* TLFS 11.9.3: a busy slot gets msg_pending; the guest writes EOM after freeing it. The
 * second look at the type covers a guest that freed the slot while the flag went in. */
static bool slot_write(struct hv_partition *p, struct hv_synic *s, unsigned sint,
		       const struct hv_msg *m)
{
	uint8_t *slot = hv_partition_gpa(p, (s->simp & PAGE_MASK) + sint * HV_MSG_SIZE, HV_MSG_SIZE);
	uint32_t *type = (uint32_t *)slot;

	if (!slot)
		return false;
	if (__atomic_load_n(type, __ATOMIC_ACQUIRE) != 0) {
		__atomic_fetch_or(&slot[5], 1, __ATOMIC_SEQ_CST);
		if (__atomic_load_n(type, __ATOMIC_ACQUIRE) != 0)
			return false;
	}
	memset(slot + 4, 0, 12);
	slot[4] = m->len;
	memcpy(slot + 16, m->data, m->len);
	__atomic_store_n(type, m->type, __ATOMIC_RELEASE);
	return true;
}

static void flush(struct hv_partition *p, uint32_t vp, unsigned sint)
{
	struct hv_synic *s = &p->hv->synic[vp];
	struct hv_msg *m;

	while ((m = s->head[sint]) && sint_ready(s, sint) && slot_write(p, s, sint, m)) {
		s->head[sint] = m->next;
		if (!s->head[sint])
			s->tail[sint] = NULL;
		s->queued--;
		free(m);
		signal_sint(p, vp, sint);
	}
}

bool hv_synic_post(struct hv_partition *p, uint32_t vp, unsigned sint, const void *msg, size_t len)
{
	struct hv_synic *s;
	struct hv_msg *m;

	if (!p->hv->on || vp >= p->nvcpus || sint >= HV_SINT_COUNT || len > HV_MSG_PAYLOAD)
		return false;
	s = &p->hv->synic[vp];
	if (s->queued >= HV_MSG_QUEUE_MAX)
		return false;
	m = calloc(1, sizeof(*m));
	if (!m)
		return false;
	m->type = 1; /* any non-zero type: VMBus messages are told apart by their own header */
	m->len = (uint8_t)len;
	memcpy(m->data, msg, len);
	if (s->tail[sint])
		s->tail[sint]->next = m;
	else
		s->head[sint] = m;
	s->tail[sint] = m;
	s->queued++;
	flush(p, vp, sint);
	return true;
}

bool hv_synic_event(struct hv_partition *p, uint32_t vp, unsigned sint, uint32_t flag)
{
	struct hv_synic *s;
	uint32_t *w, old;
	uint8_t *page;

	if (!p->hv->on || vp >= p->nvcpus || sint >= HV_SINT_COUNT || flag >= HV_EVENT_FLAGS)
		return false;
	s = &p->hv->synic[vp];
	if (!(s->scontrol & 1) || !(s->siefp & 1))
		return false;
	page = hv_partition_gpa(p, (s->siefp & PAGE_MASK) + sint * HV_MSG_SIZE, HV_MSG_SIZE);
	if (!page)
		return false;
	w = (uint32_t *)(page + (flag / 32) * 4);
	old = __atomic_fetch_or(w, 1u << (flag % 32), __ATOMIC_SEQ_CST);
	(void)old;
	signal_sint(p, vp, sint);
	return true;
}

/* The hypercall page: endbr64 (for kernels built with IBT), a write to the trapped port,
 * ret. The emulator here runs all three. */
static void write_hypercall_page(struct hv_partition *p, uint64_t msr)
{
	static const uint8_t stub[] = { 0xf3, 0x0f, 0x1e, 0xfa, 0xe6, HV_HYPERCALL_PORT, 0xc3 };
	uint8_t *pg = hv_partition_gpa(p, msr & PAGE_MASK, HV_PAGE);

	if (pg)
		memcpy(pg, stub, sizeof(stub));
}

static uint64_t tsc_hz(struct hv_vcpu *v)
{
	int khz = ioctl(v->fd, KVM_GET_TSC_KHZ, 0);

	return khz > 0 ? (uint64_t)khz * 1000 : 0;
}

static bool msr_read(struct hv_vcpu *v, uint32_t index, uint64_t *data)
{
	struct hv_hyperv *hv = v->p->hv;
	struct hv_synic *s = &hv->synic[v->id];

	switch (index) {
	case MSR_GUEST_OS_ID: *data = hv->guest_os_id; return true;
	case MSR_HYPERCALL: *data = hv->hypercall; return true;
	case MSR_VP_INDEX: *data = v->id; return true;
	case MSR_TIME_REF_COUNT: *data = (hv_now_ns() - hv->ref_base_ns) / 100; return true;
	case MSR_REFERENCE_TSC: *data = 0; return true;
	case MSR_TSC_FREQUENCY: *data = tsc_hz(v); return true;
	case MSR_APIC_FREQUENCY: *data = 1000000000ULL; return true; /* KVM's 1 ns APIC bus */
	case MSR_VP_ASSIST_PAGE: *data = s->vp_assist; return true;
	case MSR_SCONTROL: *data = s->scontrol; return true;
	case MSR_SVERSION: *data = 1; return true;
	case MSR_SIEFP: *data = s->siefp; return true;
	case MSR_SIMP: *data = s->simp; return true;
	case MSR_EOM: *data = 0; return true;
	case MSR_TSC_INVARIANT_CONTROL: *data = 0; return true;
	}
	if (index >= MSR_SINT0 && index < MSR_SINT0 + HV_SINT_COUNT) {
		*data = s->sint[index - MSR_SINT0];
		return true;
	}
	return false;
}

static void flush_all(struct hv_partition *p, uint32_t vp)
{
	unsigned i;

	for (i = 0; i < HV_SINT_COUNT; i++)
		if (p->hv->synic[vp].head[i])
			flush(p, vp, i);
}

static bool msr_write(struct hv_vcpu *v, uint32_t index, uint64_t data)
{
	struct hv_hyperv *hv = v->p->hv;
	struct hv_synic *s = &hv->synic[v->id];

	switch (index) {
	case MSR_GUEST_OS_ID:
		hv->guest_os_id = data;
		if (!data)
			hv->hypercall &= ~1ULL;
		return true;
	case MSR_HYPERCALL:
		/* TLFS 3.13: enabling needs a guest OS id first; the locked bit (1) stays 0. */
		hv->hypercall = data & (PAGE_MASK | 1);
		if (!hv->guest_os_id)
			hv->hypercall &= ~1ULL;
		if (hv->hypercall & 1)
			write_hypercall_page(v->p, hv->hypercall);
		return true;
	case MSR_REFERENCE_TSC:
	case MSR_TSC_INVARIANT_CONTROL:
		return true;
	case MSR_VP_ASSIST_PAGE: s->vp_assist = data & (PAGE_MASK | 1); return true;
	case MSR_SCONTROL: s->scontrol = data & 1; break;
	case MSR_SIEFP: s->siefp = data & (PAGE_MASK | 1); break;
	case MSR_SIMP: s->simp = data & (PAGE_MASK | 1); break;
	case MSR_EOM: break;
	default:
		if (index >= MSR_SINT0 && index < MSR_SINT0 + HV_SINT_COUNT) {
			/* vector, masked, auto-EOI (accepted, meaningless here), polling */
			s->sint[index - MSR_SINT0] = data & (0xffULL | (7ULL << 16));
			break;
		}
		return false;
	}
	flush_all(v->p, v->id);
	return true;
}

/* Returns false for an MSR the partition does not have: the guest gets #GP. */
bool hv_hyperv_msr(struct hv_vcpu *v, bool write, uint32_t index, uint64_t *data)
{
	struct hv_hyperv *hv = v->p->hv;
	bool ok;

	if (!hv || !hv->on)
		return false;
	pthread_mutex_lock(&hv->lock);
	ok = write ? msr_write(v, index, *data) : msr_read(v, index, data);
	pthread_mutex_unlock(&hv->lock);
	return ok;
}

/* HvPostMessage input (TLFS 11.10.1): connection id, reserved, message type, payload size,
 * 240 payload bytes, 8-aligned in guest memory. */
static uint16_t post_message(struct hv_partition *p, uint64_t gpa)
{
	const uint8_t *in;
	uint32_t type, size;

	if (gpa & 7)
		return HV_STATUS_INVALID_ALIGNMENT;
	in = hv_partition_gpa(p, gpa, 16 + HV_MSG_PAYLOAD);
	if (!in)
		return HV_STATUS_INVALID_PARAMETER;
	type = hv_get32(in + 8);
	size = hv_get32(in + 12);
	if (type == 0 || (type & 0x80000000u) || size > HV_MSG_PAYLOAD)
		return HV_STATUS_INVALID_PARAMETER;
	return hv_vmbus_post(p, hv_get32(in) & 0xffffff, in + 16, size);
}

static uint16_t hypercall(struct hv_partition *p, uint64_t control, uint64_t in, uint64_t out)
{
	uint16_t code = (uint16_t)control;
	const uint8_t *m;

	(void)out;
	if (control & 0xfff00000000ULL) /* rep counts: neither call is a rep call */
		return HV_STATUS_INVALID_HYPERCALL_INPUT;
	switch (code) {
	case HVCALL_POST_MESSAGE:
		if (control & HVCALL_FAST)
			return HV_STATUS_INVALID_HYPERCALL_INPUT;
		return post_message(p, in);
	case HVCALL_SIGNAL_EVENT:
		if (!(control & HVCALL_FAST)) {
			if (in & 7)
				return HV_STATUS_INVALID_ALIGNMENT;
			m = hv_partition_gpa(p, in, 8);
			if (!m)
				return HV_STATUS_INVALID_PARAMETER;
			in = hv_get64(m);
		}
		return hv_vmbus_signal(p, (uint32_t)in & 0xffffff);
	}
	return HV_STATUS_INVALID_HYPERCALL_CODE;
}

/* The guest called the hypercall page: RCX control, RDX input (GPA or fast value), R8
 * output; the status goes to RAX. The port write itself is completed by KVM on re-entry. */
void hv_hyperv_hypercall(struct hv_vcpu *v)
{
	struct hv_hyperv *hv = v->p->hv;
	struct kvm_regs regs;
	uint16_t status;

	if (!hv || !hv->on || ioctl(v->fd, KVM_GET_REGS, &regs) < 0)
		return;
	pthread_mutex_lock(&hv->lock);
	if (!(hv->hypercall & 1))
		status = HV_STATUS_INVALID_HYPERCALL_CODE;
	else
		status = hypercall(v->p, regs.rcx, regs.rdx, regs.r8);
	pthread_mutex_unlock(&hv->lock);
	regs.rax = status;
	(void)ioctl(v->fd, KVM_SET_REGS, &regs);
}
