/* Partition life cycle: the KVM VM, guest RAM, irqchip, PIT, and the run / pause / stop
 * protocol with the vCPU threads. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "hvcore/vmbus-priv.h"

static void kick_handler(int sig)
{
	(void)sig;
}

/* The kick signal must interrupt KVM_RUN, so it needs a handler (not SIG_IGN, not the
 * default that kills) and no SA_RESTART. Leave a handler the program set alone. */
static int install_kick_handler(void)
{
	struct sigaction old, sa;

	if (sigaction(HV_KICK_SIGNAL, NULL, &old) < 0)
		return -errno;
	if (old.sa_handler != SIG_DFL && old.sa_handler != SIG_IGN)
		return 0;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = kick_handler;
	sigemptyset(&sa.sa_mask);
	if (sigaction(HV_KICK_SIGNAL, &sa, NULL) < 0)
		return -errno;
	return 0;
}

static int check_config(const struct hv_partition_config *cfg)
{
	if (!cfg || cfg->vcpus == 0 || cfg->mem_bytes < HV_MIN_MEM)
		return -EINVAL;
	if (cfg->mem_bytes & ((2ULL << 20) - 1))
		return -EINVAL;
	if (cfg->vcpus > HV_MAX_VCPUS)
		return -E2BIG;
	/* 1 TiB: far past anything these hosts give, and keeps the address math small. */
	if (cfg->mem_bytes > (1ULL << 40))
		return -E2BIG;
	return 0;
}

static int open_kvm(struct hv_partition *p, const char *path)
{
	int r;

	p->kvm_fd = open(path ? path : "/dev/kvm", O_RDWR | O_CLOEXEC);
	if (p->kvm_fd < 0)
		return -errno;
	if (ioctl(p->kvm_fd, KVM_GET_API_VERSION, 0) != KVM_API_VERSION)
		return -ENOTSUP;
	if (ioctl(p->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_IRQCHIP) <= 0 ||
	    ioctl(p->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_PIT2) <= 0 ||
	    ioctl(p->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_IMMEDIATE_EXIT) <= 0)
		return -ENOTSUP;
	r = ioctl(p->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_MAX_VCPUS);
	if (r <= 0)
		r = ioctl(p->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_NR_VCPUS);
	if (r > 0 && p->nvcpus > (unsigned)r)
		return -E2BIG;
	r = ioctl(p->kvm_fd, KVM_GET_VCPU_MMAP_SIZE, 0);
	if (r < (int)sizeof(struct kvm_run))
		return r < 0 ? -errno : -ENOTSUP;
	p->run_size = (size_t)r;
	p->vm_fd = ioctl(p->kvm_fd, KVM_CREATE_VM, 0);
	if (p->vm_fd < 0)
		return -errno;
	return 0;
}

static int set_slot(struct hv_partition *p, uint32_t slot, uint64_t gpa, uint64_t size,
		    void *host)
{
	struct kvm_userspace_memory_region mr = {
		.slot = slot,
		.guest_phys_addr = gpa,
		.memory_size = size,
		.userspace_addr = (uint64_t)(uintptr_t)host,
	};

	if (ioctl(p->vm_fd, KVM_SET_USER_MEMORY_REGION, &mr) < 0)
		return -errno;
	return 0;
}

/* RAM up to the MMIO hole sits at 0, the rest at 4 GiB. Not MAP_NORESERVE: a size the host
 * cannot give should fail here, not kill the worker later. */
static int setup_memory(struct hv_partition *p)
{
	void *m;
	int r;

	m = mmap(NULL, p->mem_bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (m == MAP_FAILED)
		return -ENOMEM;
	p->ram = m;
	p->ram_low = p->mem_bytes < HV_MMIO_HOLE ? p->mem_bytes : HV_MMIO_HOLE;
	p->ram_high = p->mem_bytes - p->ram_low;
	r = set_slot(p, 0, 0, p->ram_low, p->ram);
	if (r == 0 && p->ram_high)
		r = set_slot(p, 1, HV_4G, p->ram_high, p->ram + p->ram_low);
	return r;
}

static int setup_vm(struct hv_partition *p)
{
	struct kvm_pit_config pit = { .flags = 0 };

	/* Intel VMX needs these three pages below 4 GiB; other KVMs accept and ignore them. */
	if (ioctl(p->vm_fd, KVM_SET_TSS_ADDR, 0xfffbd000UL) < 0 && errno != ENOTTY)
		return -errno;
	if (ioctl(p->vm_fd, KVM_CREATE_IRQCHIP, 0) < 0)
		return -errno;
	if (ioctl(p->vm_fd, KVM_CREATE_PIT2, &pit) < 0)
		return -errno;
	return 0;
}

int hv_partition_new(const struct hv_partition_config *cfg, struct hv_partition **out)
{
	struct hv_partition *p;
	unsigned i;
	int r;

	*out = NULL;
	r = check_config(cfg);
	if (r)
		return r;
	r = install_kick_handler();
	if (r)
		return r;
	p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	p->kvm_fd = p->vm_fd = p->ram_fd = -1;
	p->nvcpus = cfg->vcpus;
	p->mem_bytes = cfg->mem_bytes;
	p->console = cfg->console;
	p->console_opaque = cfg->console_opaque;
	p->console_fd = cfg->console_fd;
	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->cond, NULL);
	hv_serial_init(&p->serial);
	hv_pm_init(&p->pm);
	p->vcpus = calloc(p->nvcpus, sizeof(*p->vcpus));
	if (!p->vcpus) {
		r = -ENOMEM;
		goto out;
	}
	for (i = 0; i < p->nvcpus; i++)
		p->vcpus[i].fd = p->vcpus[i].stats_fd = -1;
	r = open_kvm(p, cfg->kvm_path);
	if (r)
		goto out;
	r = setup_memory(p);
	if (r)
		goto out;
	r = setup_vm(p);
	if (r)
		goto out;
	r = hv_hyperv_init(p, cfg);
	if (r)
		goto out;
	r = hv_cpuid_init(p);
	if (r)
		goto out;
	for (i = 0; i < p->nvcpus && r == 0; i++)
		r = hv_vcpu_create(p, i);
	if (r)
		goto out;
	hv_e820_build(p);
	*out = p;
	p = NULL;
out:
	hv_partition_free(p);
	return r;
}

void hv_partition_free(struct hv_partition *p)
{
	unsigned i;

	if (!p)
		return;
	if (p->vcpus)
		for (i = 0; i < p->nvcpus; i++)
			hv_vcpu_destroy(&p->vcpus[i]);
	free(p->vcpus);
	free(p->cpuid);
	hv_hyperv_destroy(p);
	if (p->vm_fd >= 0)
		close(p->vm_fd);
	if (p->kvm_fd >= 0)
		close(p->kvm_fd);
	if (p->ram)
		munmap(p->ram, p->mem_bytes);
	if (p->ram_fd >= 0)
		close(p->ram_fd);
	hv_serial_destroy(&p->serial);
	hv_pm_destroy(&p->pm);
	pthread_cond_destroy(&p->cond);
	pthread_mutex_destroy(&p->lock);
	free(p);
}

void *hv_partition_gpa(struct hv_partition *p, uint64_t gpa, uint64_t len)
{
	if (len > p->mem_bytes)
		return NULL;
	if (gpa < p->ram_low && len <= p->ram_low - gpa)
		return p->ram + gpa;
	if (gpa >= HV_4G && gpa - HV_4G < p->ram_high && len <= p->ram_high - (gpa - HV_4G))
		return p->ram + p->ram_low + (gpa - HV_4G);
	return NULL;
}

unsigned hv_partition_vcpu_count(const struct hv_partition *p)
{
	return p->nvcpus;
}

uint64_t hv_partition_usable_ram(const struct hv_partition *p)
{
	uint64_t sum = 0;
	unsigned i;

	for (i = 0; i < p->ne820; i++)
		if (p->e820[i].type == E820_RAM)
			sum += p->e820[i].size;
	return sum;
}

static void kick_all(struct hv_partition *p)
{
	unsigned i;

	for (i = 0; i < p->nvcpus; i++)
		hv_vcpu_kick(&p->vcpus[i]);
}

void hv_partition_request_stop(struct hv_partition *p, const struct hv_stop_info *info)
{
	pthread_mutex_lock(&p->lock);
	if (!__atomic_load_n(&p->stopping, __ATOMIC_SEQ_CST)) {
		p->stop = *info;
		__atomic_store_n(&p->stopping, 1, __ATOMIC_SEQ_CST);
		pthread_cond_broadcast(&p->cond);
		kick_all(p);
	}
	pthread_mutex_unlock(&p->lock);
}

int hv_partition_stop(struct hv_partition *p)
{
	struct hv_stop_info info = { .reason = HV_STOP_REQUESTED, .vcpu = -1 };

	hv_partition_request_stop(p, &info);
	return 0;
}

static void join_started(struct hv_partition *p)
{
	unsigned i;

	/* From here on nobody may look at the thread handles (kicks, CPU clocks). */
	pthread_mutex_lock(&p->lock);
	for (i = 0; i < p->nvcpus; i++)
		__atomic_store_n(&p->vcpus[i].joinable, __atomic_load_n(&p->vcpus[i].started,
									 __ATOMIC_SEQ_CST),
				 __ATOMIC_SEQ_CST);
	for (i = 0; i < p->nvcpus; i++)
		__atomic_store_n(&p->vcpus[i].started, false, __ATOMIC_SEQ_CST);
	pthread_mutex_unlock(&p->lock);
	for (i = 0; i < p->nvcpus; i++) {
		if (p->vcpus[i].joinable) {
			pthread_join(p->vcpus[i].thread, NULL);
			p->vcpus[i].joinable = false;
		}
	}
}

int hv_partition_run(struct hv_partition *p, struct hv_stop_info *info)
{
	struct hv_stop_info fail = { .reason = HV_STOP_HOST_ERROR, .vcpu = -1 };
	unsigned i;
	int r;

	if (!p->loaded)
		return -ENOEXEC;
	pthread_mutex_lock(&p->lock);
	if (p->state != HV_STATE_NEW) {
		pthread_mutex_unlock(&p->lock);
		return -EALREADY;
	}
	p->state = HV_STATE_RUNNING;
	pthread_mutex_unlock(&p->lock);

	r = hv_hyperv_ready(p);
	if (r) {
		pthread_mutex_lock(&p->lock);
		p->state = HV_STATE_DONE;
		pthread_mutex_unlock(&p->lock);
		return r;
	}
	for (i = 0; i < p->nvcpus; i++) {
		r = -pthread_create(&p->vcpus[i].thread, NULL, hv_vcpu_thread, &p->vcpus[i]);
		if (r) {
			fail.error = r;
			hv_partition_request_stop(p, &fail);
			join_started(p);
			pthread_mutex_lock(&p->lock);
			p->state = HV_STATE_DONE;
			pthread_mutex_unlock(&p->lock);
			return r;
		}
		__atomic_store_n(&p->vcpus[i].started, true, __ATOMIC_SEQ_CST);
	}
	/* Without its timer thread VMBus only loses heartbeats and time samples: run anyway. */
	(void)hv_vmbus_start(p);
	pthread_mutex_lock(&p->lock);
	while (!__atomic_load_n(&p->stopping, __ATOMIC_SEQ_CST))
		pthread_cond_wait(&p->cond, &p->lock);
	pthread_mutex_unlock(&p->lock);
	hv_vmbus_stop(p);
	join_started(p);
	hv_serial_flush(p);
	pthread_mutex_lock(&p->lock);
	p->state = HV_STATE_DONE;
	if (info)
		*info = p->stop;
	pthread_mutex_unlock(&p->lock);
	return 0;
}

int hv_partition_pause(struct hv_partition *p)
{
	int r = 0;

	pthread_mutex_lock(&p->lock);
	if (p->state != HV_STATE_RUNNING || __atomic_load_n(&p->stopping, __ATOMIC_SEQ_CST)) {
		r = -EINVAL;
	} else if (__atomic_load_n(&p->pause_req, __ATOMIC_SEQ_CST)) {
		r = -EALREADY;
	} else {
		__atomic_store_n(&p->pause_req, 1, __ATOMIC_SEQ_CST);
		kick_all(p);
		while (p->paused + p->exited < p->nvcpus &&
		       !__atomic_load_n(&p->stopping, __ATOMIC_SEQ_CST))
			pthread_cond_wait(&p->cond, &p->lock);
	}
	pthread_mutex_unlock(&p->lock);
	return r;
}

bool hv_partition_held(struct hv_partition *p)
{
	bool ok;

	pthread_mutex_lock(&p->lock);
	ok = p->state == HV_STATE_NEW ||
	     (p->state == HV_STATE_RUNNING && __atomic_load_n(&p->pause_req, __ATOMIC_SEQ_CST) &&
	      !__atomic_load_n(&p->stopping, __ATOMIC_SEQ_CST) && p->paused == p->nvcpus);
	pthread_mutex_unlock(&p->lock);
	return ok;
}

int hv_partition_resume(struct hv_partition *p)
{
	int r = 0;

	pthread_mutex_lock(&p->lock);
	if (p->state != HV_STATE_RUNNING)
		r = -EINVAL;
	else if (!__atomic_load_n(&p->pause_req, __ATOMIC_SEQ_CST))
		r = -EALREADY;
	else {
		__atomic_store_n(&p->pause_req, 0, __ATOMIC_SEQ_CST);
		pthread_cond_broadcast(&p->cond);
	}
	pthread_mutex_unlock(&p->lock);
	return r;
}

int hv_partition_console_input(struct hv_partition *p, const void *buf, size_t len)
{
	return hv_serial_input(p, buf, len);
}

/* A guest spinning inside KVM makes no exits, so the thread's CPU clock is read live while
 * it runs; the value its thread stored last is the answer once it has stopped. */
static uint64_t thread_cpu_ns(struct hv_partition *p, struct hv_vcpu *v, uint64_t stored)
{
	struct timespec ts;
	clockid_t clk;

	pthread_mutex_lock(&p->lock);
	if (__atomic_load_n(&v->started, __ATOMIC_SEQ_CST) &&
	    pthread_getcpuclockid(v->thread, &clk) == 0 && clock_gettime(clk, &ts) == 0)
		stored = (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
	pthread_mutex_unlock(&p->lock);
	return stored;
}

int hv_partition_vcpu_stats(struct hv_partition *p, unsigned vcpu, struct hv_vcpu_stats *out)
{
	const struct hv_vcpu_stats *s;
	uint64_t k[HV_KVM_STATS];

	if (vcpu >= p->nvcpus)
		return -EINVAL;
	hv_kvm_stats_read(&p->vcpus[vcpu], k);
	out->kvm_exits = k[0];
	out->kvm_halt_exits = k[1];
	out->kvm_insn_emulation = k[2];
	s = &p->vcpus[vcpu].stats;
	out->exits = __atomic_load_n(&s->exits, __ATOMIC_RELAXED);
	out->io_exits = __atomic_load_n(&s->io_exits, __ATOMIC_RELAXED);
	out->mmio_exits = __atomic_load_n(&s->mmio_exits, __ATOMIC_RELAXED);
	out->intr_exits = __atomic_load_n(&s->intr_exits, __ATOMIC_RELAXED);
	out->other_exits = __atomic_load_n(&s->other_exits, __ATOMIC_RELAXED);
	out->run_ns = __atomic_load_n(&s->run_ns, __ATOMIC_RELAXED);
	out->cpu_ns = __atomic_load_n(&s->cpu_ns, __ATOMIC_RELAXED);
	out->cpu_ns = thread_cpu_ns(p, &p->vcpus[vcpu], out->cpu_ns);
	return 0;
}

const char *hv_stop_reason_name(enum hv_stop_reason r)
{
	switch (r) {
	case HV_STOP_NONE: return "none";
	case HV_STOP_POWEROFF: return "power-off";
	case HV_STOP_RESET: return "reset";
	case HV_STOP_REQUESTED: return "turned off";
	case HV_STOP_TRIPLE_FAULT: return "triple fault";
	case HV_STOP_INTERNAL_ERROR: return "KVM internal error";
	case HV_STOP_FAIL_ENTRY: return "VM entry failed";
	case HV_STOP_UNHANDLED_EXIT: return "unhandled exit";
	case HV_STOP_HOST_ERROR: return "host error";
	}
	return "unknown";
}
