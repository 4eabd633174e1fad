/* Partition save and restore: every vCPU's state, the in-kernel interrupt controllers, PIT
 * and clock, the devices the VMM emulates, and guest memory, into the file format of
 * statefile.c. The order of the KVM calls is the one that reproduced a running vCPU on these
 * hosts (notes/hyperv-surface.md, "Saving a partition"): LAPIC before MSRs, events last. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "hvcore/state.h"
#include "hvcore/vmbus-priv.h"

#define MSR_IA32_SPEC_CTRL 0x48
#define MSR_TSC_AUX 0xc0000103
#define XSTATE_BV_SSE 2

/* The MSRs to carry: KVM's list plus two it leaves out but accepts. */
static int msr_list(struct hv_partition *p, uint32_t *idx, uint32_t *n)
{
	struct kvm_msr_list *l = calloc(1, sizeof(*l) + (HV_STATE_MAX_MSRS - 2) * sizeof(uint32_t));
	uint32_t i, k = 0;
	bool aux = false, spec = false;

	if (!l)
		return -ENOMEM;
	l->nmsrs = HV_STATE_MAX_MSRS - 2;
	if (ioctl(p->kvm_fd, KVM_GET_MSR_INDEX_LIST, l) < 0) {
		free(l);
		return -errno;
	}
	for (i = 0; i < l->nmsrs; i++) {
		aux |= l->indices[i] == MSR_TSC_AUX;
		spec |= l->indices[i] == MSR_IA32_SPEC_CTRL;
		idx[k++] = l->indices[i];
	}
	if (!aux)
		idx[k++] = MSR_TSC_AUX;
	if (!spec)
		idx[k++] = MSR_IA32_SPEC_CTRL;
	*n = k;
	free(l);
	return 0;
}

/* Reads MSRs one batch at a time, leaving out the ones KVM refuses (it stops at the first). */
static uint32_t get_msrs(struct hv_vcpu *v, const uint32_t *idx, uint32_t n, struct kvm_msr_entry *out)
{
	struct {
		struct kvm_msrs h;
		struct kvm_msr_entry e[HV_STATE_MAX_MSRS];
	} m;
	uint32_t start = 0, got = 0, i;
	int r;

	while (start < n) {
		memset(&m, 0, sizeof(m));
		m.h.nmsrs = n - start;
		for (i = 0; i < m.h.nmsrs; i++)
			m.e[i].index = idx[start + i];
		r = ioctl(v->fd, KVM_GET_MSRS, &m);
		if (r < 0)
			r = 0;
		for (i = 0; i < (uint32_t)r; i++)
			out[got++] = m.e[i];
		start += (uint32_t)r + 1; /* skip the refused one */
	}
	return got;
}

static void set_msrs(struct hv_vcpu *v, const struct kvm_msr_entry *in, uint32_t n)
{
	struct {
		struct kvm_msrs h;
		struct kvm_msr_entry e[HV_STATE_MAX_MSRS];
	} m;
	uint32_t start = 0;
	int r;

	while (start < n) {
		memset(&m, 0, sizeof(m));
		m.h.nmsrs = n - start;
		memcpy(m.e, in + start, m.h.nmsrs * sizeof(m.e[0]));
		r = ioctl(v->fd, KVM_SET_MSRS, &m);
		start += (uint32_t)(r < 0 ? 0 : r) + 1;
	}
}

static int xsave_size(struct hv_partition *p)
{
	int r;

	if (ioctl(p->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_XSAVE) <= 0)
		return 0;
	r = ioctl(p->vm_fd, KVM_CHECK_EXTENSION, KVM_CAP_XSAVE2);
	return r > (int)sizeof(struct kvm_xsave) ? r : (int)sizeof(struct kvm_xsave);
}

#define GET(v, req, obj) (ioctl((v)->fd, (req), &(obj)) < 0 ? -errno : 0)

static int save_vcpu(struct hv_vcpu *v, struct hv_state_writer *w, const uint32_t *idx, uint32_t nidx,
		     int xsz)
{
	struct hv_saved_vcpu *s = calloc(1, sizeof(*s));
	uint8_t *msrbuf = NULL;
	uint32_t i, id = v->id;
	int r, khz;

	if (!s)
		return -ENOMEM;
	r = GET(v, KVM_GET_MP_STATE, s->mp);
	if (!r)
		r = GET(v, KVM_GET_REGS, s->regs);
	if (!r)
		r = GET(v, KVM_GET_SREGS, s->sregs);
	if (!r && xsz) {
		s->xsave = calloc(1, (size_t)xsz);
		if (!s->xsave)
			r = -ENOMEM;
		else if (ioctl(v->fd, xsz > (int)sizeof(struct kvm_xsave) ? KVM_GET_XSAVE2 : KVM_GET_XSAVE,
			       s->xsave) < 0)
			r = -errno;
	} else if (!r) {
		r = GET(v, KVM_GET_FPU, s->fpu);
	}
	if (!r && ioctl(v->p->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_XCRS) > 0)
		r = GET(v, KVM_GET_XCRS, s->xcrs);
	if (!r)
		r = GET(v, KVM_GET_DEBUGREGS, s->dregs);
	if (!r)
		r = GET(v, KVM_GET_LAPIC, s->lapic);
	if (!r)
		s->nmsrs = get_msrs(v, idx, nidx, s->msrs);
	if (!r)
		r = GET(v, KVM_GET_VCPU_EVENTS, s->events);
	msrbuf = calloc(1, 8 + 16 * (size_t)s->nmsrs);
	if (!r && !msrbuf)
		r = -ENOMEM;
	if (r)
		goto out;
	hv_state_rec(w, HV_REC_CPU_ID, &id, 4);
	hv_state_rec(w, HV_REC_CPU_MP_STATE, &s->mp, sizeof(s->mp));
	hv_state_rec(w, HV_REC_CPU_REGS, &s->regs, sizeof(s->regs));
	hv_state_rec(w, HV_REC_CPU_SREGS, &s->sregs, sizeof(s->sregs));
	if (xsz)
		hv_state_rec(w, HV_REC_CPU_XSAVE, s->xsave, (size_t)xsz);
	else
		hv_state_rec(w, HV_REC_CPU_FPU, &s->fpu, sizeof(s->fpu));
	hv_state_rec(w, HV_REC_CPU_XCRS, &s->xcrs, sizeof(s->xcrs));
	hv_state_rec(w, HV_REC_CPU_DEBUGREGS, &s->dregs, sizeof(s->dregs));
	hv_state_rec(w, HV_REC_CPU_LAPIC, &s->lapic, sizeof(s->lapic));
	hv_put32(msrbuf, s->nmsrs);
	for (i = 0; i < s->nmsrs; i++) {
		hv_put32(msrbuf + 8 + 16 * i, s->msrs[i].index);
		hv_put64(msrbuf + 16 + 16 * i, s->msrs[i].data);
	}
	hv_state_rec(w, HV_REC_CPU_MSRS, msrbuf, 8 + 16 * (size_t)s->nmsrs);
	hv_state_rec(w, HV_REC_CPU_EVENTS, &s->events, sizeof(s->events));
	khz = ioctl(v->fd, KVM_GET_TSC_KHZ, 0);
	if (khz > 0) {
		uint32_t k = (uint32_t)khz;

		hv_state_rec(w, HV_REC_CPU_TSC_KHZ, &k, 4);
	}
	hv_state_section_end(w, HV_SEC_VCPU, HV_SEC_F_REQUIRED);
out:
	free(msrbuf);
	free(s->xsave);
	free(s);
	return r;
}

static int save_vm(struct hv_partition *p, struct hv_state_writer *w)
{
	struct kvm_clock_data clock;
	struct kvm_pit_state2 pit;
	struct kvm_irqchip chip;
	uint32_t i;

	memset(&clock, 0, sizeof(clock));
	if (ioctl(p->vm_fd, KVM_GET_CLOCK, &clock) < 0)
		return -errno;
	if (ioctl(p->vm_fd, KVM_GET_PIT2, &pit) < 0)
		return -errno;
	hv_state_rec(w, HV_REC_VM_CLOCK, &clock, sizeof(clock));
	hv_state_rec(w, HV_REC_VM_PIT2, &pit, sizeof(pit));
	for (i = 0; i < 3; i++) {
		memset(&chip, 0, sizeof(chip));
		chip.chip_id = i;
		if (ioctl(p->vm_fd, KVM_GET_IRQCHIP, &chip) < 0)
			return -errno;
		hv_state_rec(w, HV_REC_VM_IRQCHIP, &chip, sizeof(chip));
	}
	hv_state_section_end(w, HV_SEC_VM, HV_SEC_F_REQUIRED);
	return 0;
}

static void save_devices(struct hv_partition *p, struct hv_state_writer *w)
{
	struct hv_serial *s = &p->serial;
	uint8_t d[HV_SAVED_SERIAL_LEN], pm[HV_SAVED_PM_LEN];

	pthread_mutex_lock(&s->lock);
	d[0] = s->ier, d[1] = s->iir_thre, d[2] = s->lcr, d[3] = s->mcr, d[4] = s->scr;
	d[5] = s->dll, d[6] = s->dlm, d[7] = s->fcr, d[8] = s->irq_level;
	hv_put16(d + 9, (uint16_t)s->rx_head);
	hv_put16(d + 11, (uint16_t)s->rx_len);
	hv_put16(d + 13, (uint16_t)s->out_len);
	memcpy(d + 15, s->rx, 256);
	memcpy(d + 15 + 256, s->out, 256);
	pthread_mutex_unlock(&s->lock);
	hv_state_rec(w, HV_REC_DEV_SERIAL, d, sizeof(d));
	pthread_mutex_lock(&p->pm.lock);
	memcpy(pm, p->pm.regs, 8);
	pm[8] = p->pm.sci_level;
	pthread_mutex_unlock(&p->pm.lock);
	hv_state_rec(w, HV_REC_DEV_PM, pm, sizeof(pm));
	hv_state_section_end(w, HV_SEC_DEVICES, HV_SEC_F_REQUIRED);
}

/* Every vCPU thread held (or none started yet): the state cannot move under the save. */
static bool quiet(struct hv_partition *p)
{
	bool ok;

	pthread_mutex_lock(&p->lock);
	ok = p->state == HV_STATE_NEW ||
	     (p->state == HV_STATE_RUNNING && __atomic_load_n(&p->pause_req, __ATOMIC_SEQ_CST) &&
	      !__atomic_load_n(&p->stopping, __ATOMIC_SEQ_CST) && p->paused == p->nvcpus);
	pthread_mutex_unlock(&p->lock);
	return ok;
}

static int64_t wall_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int hv_partition_save(struct hv_partition *p, int fd)
{
	struct hv_state_writer w;
	uint32_t idx[HV_STATE_MAX_MSRS], nidx = 0, i;
	int r, xsz;

	if (!p->loaded || !quiet(p))
		return -EBUSY;
	r = msr_list(p, idx, &nidx);
	if (r)
		return r;
	xsz = xsave_size(p);
	r = hv_state_writer_init(&w, fd, p->nvcpus + 5);
	if (r == 0)
		r = save_vm(p, &w);
	for (i = 0; r == 0 && i < p->nvcpus; i++)
		r = save_vcpu(&p->vcpus[i], &w, idx, nidx, xsz);
	/* The VMBus timer thread writes rings in guest memory: held off until memory is saved,
	 * so the rings and the host's view of them are of the same moment. */
	pthread_mutex_lock(&p->hv->lock);
	if (r == 0)
		r = hv_hyperv_save(p, &w);
	if (r == 0) {
		save_devices(p, &w);
		hv_state_memory(&w, p->ram, p->mem_bytes, p->ram_from_file ? p->ram_fd : -2, p->ram_file_off);
	}
	pthread_mutex_unlock(&p->hv->lock);
	if (r)
		w.error = r;
	return hv_state_writer_finish(&w, p->nvcpus, p->mem_bytes, wall_ns());
}

/* ---- restore ---- */

#define SET(v, req, obj) (ioctl((v)->fd, (req), &(obj)) < 0 ? -errno : 0)

static int restore_vcpu(struct hv_vcpu *v, struct hv_saved_vcpu *s, int xsz)
{
	int r;

	r = SET(v, KVM_SET_MP_STATE, s->mp);
	if (!r)
		r = SET(v, KVM_SET_REGS, s->regs);
	if (!r)
		r = SET(v, KVM_SET_SREGS, s->sregs);
	if (!r && s->xsave) {
		if ((int)s->xsave_len != xsz)
			return -ENOTSUP; /* another host's XSAVE layout */
		s->xsave[512] |= XSTATE_BV_SSE; /* or KVM ignores the xmm registers */
		if (ioctl(v->fd, KVM_SET_XSAVE, s->xsave) < 0)
			r = -errno;
	} else if (!r) {
		r = SET(v, KVM_SET_FPU, s->fpu);
	}
	if (!r && (s->have & (1u << HV_REC_CPU_XCRS)) && s->xcrs.nr_xcrs)
		r = SET(v, KVM_SET_XCRS, s->xcrs);
	if (!r && (s->have & (1u << HV_REC_CPU_DEBUGREGS)))
		r = SET(v, KVM_SET_DEBUGREGS, s->dregs);
	if (!r)
		r = SET(v, KVM_SET_LAPIC, s->lapic);
	if (!r)
		set_msrs(v, s->msrs, s->nmsrs);
	if (!r) {
		s->events.flags |= KVM_VCPUEVENT_VALID_NMI_PENDING | KVM_VCPUEVENT_VALID_SIPI_VECTOR;
		r = SET(v, KVM_SET_VCPU_EVENTS, s->events);
	}
	return r;
}

static int restore_vm(struct hv_partition *p, struct hv_state *st)
{
	unsigned i;

	st->clock.flags = 0; /* set the clock itself, not relative to the host's realtime */
	if (ioctl(p->vm_fd, KVM_SET_CLOCK, &st->clock) < 0)
		return -errno;
	for (i = 0; i < 3; i++)
		if (ioctl(p->vm_fd, KVM_SET_IRQCHIP, &st->chips[i]) < 0)
			return -errno;
	if (ioctl(p->vm_fd, KVM_SET_PIT2, &st->pit) < 0)
		return -errno;
	return 0;
}

static void restore_devices(struct hv_partition *p, const struct hv_state *st)
{
	const struct hv_saved_serial *d = &st->serial;
	struct hv_serial *s = &p->serial;

	if (st->have_serial) {
		s->ier = d->ier, s->iir_thre = d->iir_thre, s->lcr = d->lcr, s->mcr = d->mcr;
		s->scr = d->scr, s->dll = d->dll, s->dlm = d->dlm, s->fcr = d->fcr;
		s->irq_level = d->irq_level != 0;
		s->rx_head = d->rx_head;
		s->rx_len = d->rx_len;
		s->out_len = d->out_len;
		memcpy(s->rx, d->rx, sizeof(s->rx));
		memcpy(s->out, d->out, sizeof(s->out));
	}
	if (st->have_pm) {
		memcpy(p->pm.regs, st->pm.regs, sizeof(p->pm.regs));
		p->pm.sci_level = st->pm.sci_level != 0;
	}
}

/* Guest RAM becomes a private mapping of the file: nothing is read until the guest touches
 * it (about 20 us here, against 150 ms to read 256 MiB). Writes stay in the process. */
static int restore_memory(struct hv_partition *p, int fd, const struct hv_state *st, bool copy)
{
	void *m;
	uint64_t done = 0;

	if (!copy) {
		m = mmap(p->ram, p->mem_bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_FIXED, fd,
			 (off_t)st->mem_off);
		if (m != MAP_FAILED) {
			p->ram_from_file = true;
			/* for the next save: pages still unread are the file's, holes are zeros */
			p->ram_fd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
			p->ram_file_off = st->mem_off;
			return 0;
		}
	}
	while (done < st->mem_len) {
		ssize_t n = pread(fd, p->ram + done, st->mem_len - done, (off_t)(st->mem_off + done));

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EBADMSG;
		done += (uint64_t)n;
	}
	if (hv_crc32c(0, p->ram, p->mem_bytes) != st->mem_crc)
		return -EBADMSG;
	return 0;
}

int hv_state_info_read(int fd, struct hv_state_info *out, char *err, size_t errlen)
{
	struct hv_state *st;
	int r = hv_state_read(fd, &st, err, errlen);

	if (r)
		return r;
	out->vcpus = st->nvcpus;
	out->mem_bytes = st->mem_bytes;
	out->saved_ns = st->saved_ns;
	hv_state_free(st);
	return 0;
}

int hv_partition_restore(struct hv_partition *p, int fd, unsigned flags, char *err, size_t errlen)
{
	struct hv_state *st;
	unsigned i;
	int r, xsz;

	if (err && errlen)
		err[0] = '\0';
	if (p->loaded || p->state != HV_STATE_NEW)
		return -EALREADY;
	r = hv_state_read(fd, &st, err, errlen);
	if (r)
		return r;
	if (st->nvcpus != p->nvcpus || st->mem_bytes != p->mem_bytes) {
		if (err && errlen)
			snprintf(err, errlen, "it holds a partition of %u vCPUs and %llu bytes, not %u and %llu",
				 st->nvcpus, (unsigned long long)st->mem_bytes, p->nvcpus,
				 (unsigned long long)p->mem_bytes);
		hv_state_free(st);
		return -EINVAL;
	}
	xsz = xsave_size(p);
	r = restore_memory(p, fd, st, flags & HV_RESTORE_VERIFY);
	if (r == -EBADMSG && err && errlen)
		snprintf(err, errlen, "the checksum of its memory does not match");
	if (!r)
		r = restore_vm(p, st);
	for (i = 0; r == 0 && i < p->nvcpus; i++)
		r = restore_vcpu(&p->vcpus[i], &st->vcpus[i], xsz);
	if (r == -ENOTSUP && err && errlen && !err[0])
		snprintf(err, errlen, "it was saved on a host with another XSAVE layout");
	if (!r && st->hv)
		r = hv_hyperv_restore(p, st->hv, err, errlen);
	if (!r) {
		restore_devices(p, st);
		p->loaded = true;
		if (flags & HV_RESTORE_PAUSED)
			__atomic_store_n(&p->pause_req, 1, __ATOMIC_SEQ_CST);
	}
	hv_state_free(st);
	return r;
}

int hv_state_verify(int fd, char *err, size_t errlen)
{
	struct hv_state *st;
	uint8_t *buf;
	uint64_t done = 0;
	uint32_t crc = 0;
	int r = hv_state_read(fd, &st, err, errlen);

	if (r)
		return r;
	buf = malloc(1 << 20);
	if (!buf) {
		hv_state_free(st);
		return -ENOMEM;
	}
	while (r == 0 && done < st->mem_len) {
		size_t want = st->mem_len - done > (1u << 20) ? 1u << 20 : (size_t)(st->mem_len - done);
		ssize_t n = pread(fd, buf, want, (off_t)(st->mem_off + done));

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			r = n < 0 ? -errno : -EBADMSG;
		else {
			crc = hv_crc32c(crc, buf, (size_t)n);
			done += (uint64_t)n;
		}
	}
	if (r == 0 && crc != st->mem_crc) {
		r = -EBADMSG;
		if (err && errlen)
			snprintf(err, errlen, "the checksum of its memory does not match");
	}
	free(buf);
	hv_state_free(st);
	return r;
}
