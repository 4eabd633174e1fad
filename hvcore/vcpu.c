/* vCPUs: one thread each, one exit-dispatch switch. */
#include "config.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "hvcore/vmbus-priv.h"

int hv_vcpu_create(struct hv_partition *p, unsigned id)
{
	struct hv_vcpu *v = &p->vcpus[id];
	void *run;
	int r;

	v->p = p;
	v->id = id;
	v->stats_fd = -1;
	v->fd = ioctl(p->vm_fd, KVM_CREATE_VCPU, (unsigned long)id);
	if (v->fd < 0) {
		r = -errno;
		return r == -EINVAL ? -E2BIG : r;
	}
	run = mmap(NULL, p->run_size, PROT_READ | PROT_WRITE, MAP_SHARED, v->fd, 0);
	if (run == MAP_FAILED)
		return -errno;
	v->run = run;
	r = hv_kvm_stats_open(v);
	if (r)
		return r;
	return hv_cpuid_set(v);
}

void hv_vcpu_destroy(struct hv_vcpu *v)
{
	if (v->stats_fd >= 0) {
		close(v->stats_fd);
		v->stats_fd = -1;
	}
	if (v->run) {
		munmap(v->run, v->p->run_size);
		v->run = NULL;
	}
	if (v->fd >= 0) {
		close(v->fd);
		v->fd = -1;
	}
}

/* immediate_exit makes a KVM_RUN that has not started yet return at once; the signal takes
 * out one that is already inside. Both are needed: either alone races. */
void hv_vcpu_kick(struct hv_vcpu *v)
{
	if (!v->run)
		return;
	__atomic_store_n(&v->run->immediate_exit, 1, __ATOMIC_SEQ_CST);
	if (__atomic_load_n(&v->started, __ATOMIC_SEQ_CST))
		pthread_kill(v->thread, HV_KICK_SIGNAL);
}

static uint64_t now_ns(clockid_t clk)
{
	struct timespec ts;

	clock_gettime(clk, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static void stat_add(uint64_t *c, uint64_t n)
{
	__atomic_store_n(c, __atomic_load_n(c, __ATOMIC_RELAXED) + n, __ATOMIC_RELAXED);
}

static uint64_t guest_rip(struct hv_vcpu *v)
{
	struct kvm_regs regs;

	if (ioctl(v->fd, KVM_GET_REGS, &regs) < 0)
		return 0;
	return regs.rip;
}

static void crash(struct hv_vcpu *v, enum hv_stop_reason reason, int error)
{
	struct hv_stop_info info = {
		.reason = reason,
		.vcpu = (int)v->id,
		.exit_reason = v->run->exit_reason,
		.error = error,
	};
	unsigned n;

	info.rip = guest_rip(v);
	if (v->run->exit_reason == KVM_EXIT_INTERNAL_ERROR) {
		info.suberror = v->run->internal.suberror;
		/* Linux 5.16+: the bytes KVM failed on, in the emulation_failure overlay. */
		if (info.suberror == KVM_INTERNAL_ERROR_EMULATION && v->run->internal.ndata >= 3 &&
		    (v->run->emulation_failure.flags &
		     KVM_INTERNAL_ERROR_EMULATION_FLAG_INSTRUCTION_BYTES)) {
			n = v->run->emulation_failure.insn_size;
			if (n > sizeof(info.insn))
				n = sizeof(info.insn);
			memcpy(info.insn, v->run->emulation_failure.insn_bytes, n);
			info.insn_len = n;
		}
	}
	hv_partition_request_stop(v->p, &info);
}

static void event(struct hv_vcpu *v, enum hv_stop_reason reason)
{
	struct hv_stop_info info = { .reason = reason, .vcpu = (int)v->id };

	info.rip = guest_rip(v);
	info.exit_reason = v->run->exit_reason;
	hv_partition_request_stop(v->p, &info);
}

static void do_io(struct hv_vcpu *v)
{
	struct kvm_run *run = v->run;
	uint8_t *data = (uint8_t *)run + run->io.data_offset;
	uint32_t i;

	if (run->io.size != 1 && run->io.size != 2 && run->io.size != 4)
		return;
	if (run->io.data_offset + (uint64_t)run->io.count * run->io.size > v->p->run_size)
		return;
	for (i = 0; i < run->io.count; i++, data += run->io.size)
		hv_ioport_access(v, run->io.port, run->io.direction == KVM_EXIT_IO_OUT, data,
				 run->io.size);
}

/* Nothing is mapped as MMIO yet: reads float high, writes are dropped. */
static void do_mmio(struct hv_vcpu *v)
{
	if (!v->run->mmio.is_write)
		memset(v->run->mmio.data, 0xff, sizeof(v->run->mmio.data));
}

/* The one exit-dispatch switch. Returns false when the thread should stop. */
static bool dispatch(struct hv_vcpu *v)
{
	struct hv_vcpu_stats *s = &v->stats;

	switch (v->run->exit_reason) {
	case KVM_EXIT_IO:
		stat_add(&s->io_exits, 1);
		do_io(v);
		return true;
	case KVM_EXIT_MMIO:
		stat_add(&s->mmio_exits, 1);
		do_mmio(v);
		return true;
	case KVM_EXIT_INTR:
		stat_add(&s->intr_exits, 1);
		return true;
	case KVM_EXIT_X86_RDMSR:
	case KVM_EXIT_X86_WRMSR: {
		/* Only the Hyper-V range is filtered to us; anything else there is #GP. */
		uint64_t data = v->run->msr.data;

		stat_add(&s->other_exits, 1);
		v->run->msr.error = hv_hyperv_msr(v, v->run->exit_reason == KVM_EXIT_X86_WRMSR,
						  v->run->msr.index, &data) ? 0 : 1;
		v->run->msr.data = data;
		return true;
	}
	case KVM_EXIT_HLT:
		/* Only without an in-kernel LAPIC; ours has one. Treat as a stop. */
		stat_add(&s->other_exits, 1);
		crash(v, HV_STOP_UNHANDLED_EXIT, 0);
		return false;
	case KVM_EXIT_SHUTDOWN:
		stat_add(&s->other_exits, 1);
		crash(v, HV_STOP_TRIPLE_FAULT, 0);
		return false;
	case KVM_EXIT_INTERNAL_ERROR:
		stat_add(&s->other_exits, 1);
		crash(v, HV_STOP_INTERNAL_ERROR, 0);
		return false;
	case KVM_EXIT_FAIL_ENTRY:
		stat_add(&s->other_exits, 1);
		crash(v, HV_STOP_FAIL_ENTRY, 0);
		return false;
	case KVM_EXIT_SYSTEM_EVENT:
		stat_add(&s->other_exits, 1);
		event(v, v->run->system_event.type == KVM_SYSTEM_EVENT_RESET ? HV_STOP_RESET
									      : HV_STOP_POWEROFF);
		return false;
	default:
		stat_add(&s->other_exits, 1);
		crash(v, HV_STOP_UNHANDLED_EXIT, 0);
		return false;
	}
}

/* Holds the thread while a pause is requested. Returns false when the run is ending. */
static bool wait_if_paused(struct hv_vcpu *v)
{
	struct hv_partition *p = v->p;

	if (!__atomic_load_n(&p->pause_req, __ATOMIC_SEQ_CST))
		return true;
	pthread_mutex_lock(&p->lock);
	p->paused++;
	pthread_cond_broadcast(&p->cond);
	while (__atomic_load_n(&p->pause_req, __ATOMIC_SEQ_CST) &&
	       !__atomic_load_n(&p->stopping, __ATOMIC_SEQ_CST))
		pthread_cond_wait(&p->cond, &p->lock);
	p->paused--;
	pthread_mutex_unlock(&p->lock);
	return !__atomic_load_n(&p->stopping, __ATOMIC_SEQ_CST);
}

static void thread_done(struct hv_vcpu *v)
{
	struct hv_partition *p = v->p;

	__atomic_store_n(&v->stats.cpu_ns, now_ns(CLOCK_THREAD_CPUTIME_ID), __ATOMIC_RELAXED);
	pthread_mutex_lock(&p->lock);
	p->exited++;
	pthread_cond_broadcast(&p->cond);
	pthread_mutex_unlock(&p->lock);
}

/* vCPU threads take only the kick: the program's own signals go to its other threads,
 * and a program that blocks the kick signal everywhere still gets working pause/stop. */
static void thread_setup(struct hv_vcpu *v)
{
	char name[16];
	sigset_t set;

	sigfillset(&set);
	sigdelset(&set, HV_KICK_SIGNAL);
	sigdelset(&set, SIGSEGV);
	sigdelset(&set, SIGBUS);
	sigdelset(&set, SIGFPE);
	sigdelset(&set, SIGILL);
	pthread_sigmask(SIG_SETMASK, &set, NULL);
	snprintf(name, sizeof(name), "vcpu%u", v->id);
	pthread_setname_np(pthread_self(), name);
}

void *hv_vcpu_thread(void *arg)
{
	struct hv_vcpu *v = arg;
	struct hv_partition *p = v->p;
	bool completing = false; /* an exit handled: KVM finishes it on the next KVM_RUN */
	uint64_t t0;
	int r, err;

	thread_setup(v);
	for (;;) {
		/* A pause holds the thread only once KVM has finished the last exit's instruction
		 * (the kick's immediate_exit makes that KVM_RUN return at once): its state is
		 * then complete for hv_partition_save. */
		if (__atomic_load_n(&p->stopping, __ATOMIC_SEQ_CST) || (!completing && !wait_if_paused(v)))
			break;
		completing = false;
		t0 = now_ns(CLOCK_MONOTONIC);
		r = ioctl(v->fd, KVM_RUN, 0);
		err = errno;
		stat_add(&v->stats.run_ns, now_ns(CLOCK_MONOTONIC) - t0);
		stat_add(&v->stats.exits, 1);
		if ((v->stats.exits & 255) == 0)
			__atomic_store_n(&v->stats.cpu_ns, now_ns(CLOCK_THREAD_CPUTIME_ID),
					 __ATOMIC_RELAXED);
		if (r < 0) {
			/* EINTR: kicked; EAGAIN: an AP woken by INIT/SIPI. Both mean retry. */
			if (err == EINTR || err == EAGAIN) {
				__atomic_store_n(&v->run->immediate_exit, 0, __ATOMIC_SEQ_CST);
				stat_add(&v->stats.intr_exits, 1);
				continue;
			}
			crash(v, HV_STOP_HOST_ERROR, -err);
			break;
		}
		completing = true;
		if (!dispatch(v))
			break;
	}
	thread_done(v);
	return NULL;
}
