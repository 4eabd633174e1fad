/* vmbus-hostbench: the host's share of a VMBus round trip, without KVM and without the
 * instruction emulator. A simulated guest (this program, on a partition that has RAM and a
 * SynIC but no VM) connects, opens the loopback channel, then does round trips of a
 * 64-byte packet and streams 1 KiB packets, as hvguest.vmbusbench does; every host step is
 * the real code (HvSignalEvent handling, ring read, echo, ring write, event flag, interrupt
 * attempt: the MSI ioctl fails at once on the fake VM fd).
 *   vmbus-hostbench [-n BATCHES] [-b PACKETS]
 * Two partitions, statistics on and off, take turns batch by batch (which goes first
 * alternates), so a busy machine slows both alike. Prints the median batch of each, in
 * nanoseconds per packet: "on_rtt_ns=.. off_rtt_ns=.. on_stream_ns=.. off_stream_ns=..". */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "hvcore/vmbus-priv.h"

#define RAM (4u << 20)
#define SIMP 0x1000u
#define SIEFP 0x2000u
#define RING 0x10000u /* 6 pages: guest-to-host header + 2 data, host-to-guest header + 2 */
#define RSIZE 8192u

static struct hv_partition *p;
static struct hv_vcpu vcpu;
static struct hv_partition *parts[2];
static struct hv_vcpu vcpus[2];

static void msr(uint32_t index, uint64_t value)
{
	(void)hv_hyperv_msr(&vcpu, true, index, &value);
}

static void post(const void *m, uint32_t len)
{
	pthread_mutex_lock(&p->hv->lock);
	(void)hv_vmbus_post(p, 4, m, len);
	pthread_mutex_unlock(&p->hv->lock);
}

static void take_all(void)
{
	int i;

	for (i = 0; i < 16; i++) {
		memset(p->ram + SIMP + HV_VMBUS_SINT * HV_MSG_SIZE, 0, 4);
		msr(0x40000084, 0);
	}
}

static void setup(int no_stats)
{
	struct hv_partition_config cfg = { .vcpus = 1, .vmbus_echo = 1, .vmbus_no_stats = no_stats,
					   .ic_disabled = 0xf };
	uint8_t m[240];
	unsigned i;

	p = calloc(1, sizeof(*p));
	parts[no_stats] = p;
	p->kvm_fd = p->vm_fd = -1;
	p->nvcpus = 1;
	p->mem_bytes = p->ram_low = RAM;
	p->ram = calloc(1, RAM);
	p->hv = calloc(1, sizeof(*p->hv));
	pthread_mutex_init(&p->hv->lock, NULL);
	p->hv->synic = calloc(1, sizeof(*p->hv->synic));
	p->hv->on = true;
	if (hv_vmbus_init(p, &cfg))
		exit(1);
	vcpu.p = p;
	vcpu.id = 0;
	msr(0x40000000, 1);
	msr(0x40000083, SIMP | 1);
	msr(0x40000082, SIEFP | 1);
	msr(0x40000092, 0x50);
	msr(0x40000080, 1);
	memset(m, 0, sizeof(m));
	hv_put32(m, 14); /* INITIATE_CONTACT 5.3 */
	hv_put32(m + 8, 0x50003);
	m[16] = HV_VMBUS_SINT;
	post(m, 40);
	take_all();
	memset(m, 0, sizeof(m));
	hv_put32(m, 3); /* REQUESTOFFERS: the loopback channel is the only one, relid 1 */
	post(m, 8);
	take_all();
	memset(m, 0, sizeof(m));
	hv_put32(m, 8); /* GPADL_HEADER */
	hv_put32(m + 8, 1);
	hv_put32(m + 12, 0x100);
	hv_put16(m + 16, 8 + 6 * 8);
	hv_put16(m + 18, 1);
	hv_put32(m + 20, 6 * 4096);
	for (i = 0; i < 6; i++)
		hv_put64(m + 28 + 8 * i, RING / 4096 + i);
	post(m, 28 + 48);
	take_all();
	memset(m, 0, sizeof(m));
	hv_put32(m, 5); /* OPENCHANNEL */
	hv_put32(m + 8, 1);
	hv_put32(m + 16, 0x100);
	hv_put32(m + 24, 3);
	post(m, 148);
	take_all();
	vcpus[no_stats] = vcpu;
}

static void use(int which)
{
	p = parts[which];
	vcpu = vcpus[which];
}

static void guest_write(const uint8_t *d, uint32_t len)
{
	uint8_t *hdr = p->ram + RING, *buf = hdr + 4096;
	uint32_t w = hv_get32(hdr), plen = 16 + ((len + 7) & ~7u), off, k;
	uint8_t desc[16];

	hv_put16(desc, 6);
	hv_put16(desc + 2, 2);
	hv_put16(desc + 4, (uint16_t)(plen / 8));
	hv_put16(desc + 6, 0);
	hv_put64(desc + 8, 1);
	off = w;
	for (k = 0; k < 16; k++, off = (off + 1) % RSIZE)
		buf[off] = desc[k];
	for (k = 0; k < plen - 16; k++, off = (off + 1) % RSIZE)
		buf[off] = k < len ? d[k] : 0;
	for (k = 0; k < 8; k++, off = (off + 1) % RSIZE)
		buf[off] = k >= 4 ? (uint8_t)(w >> (8 * (k - 4))) : 0;
	__atomic_store_n((uint32_t *)hdr, off, __ATOMIC_RELEASE);
	pthread_mutex_lock(&p->hv->lock);
	(void)hv_vmbus_signal(p, 0x10001);
	pthread_mutex_unlock(&p->hv->lock);
}

static int guest_read(void)
{
	uint8_t *hdr = p->ram + RING + 3 * 4096, *buf = hdr + 4096;
	uint32_t w = __atomic_load_n((uint32_t *)hdr, __ATOMIC_ACQUIRE), r = hv_get32(hdr + 4);
	uint32_t plen;

	if (w == r)
		return 0;
	plen = (uint32_t)hv_get16(buf + (r + 4) % RSIZE) * 8; /* len8 never straddles here */
	hv_put32(hdr + 4, (r + plen + 8) % RSIZE);
	return 1;
}

static double now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double median(double *v, unsigned n)
{
	qsort(v, n, sizeof(*v), cmp);
	return v[n / 2];
}

/* One batch on the current partition: ns per packet. */
static double batch(int stream, unsigned long k)
{
	uint8_t d[1024];
	unsigned long i;
	double t0;

	memset(d, 0, sizeof(d));
	hv_put32(d, stream ? 0 : 1);
	t0 = now_ns();
	for (i = 0; i < k; i++) {
		guest_write(d, stream ? sizeof(d) : 64);
		if (!stream && !guest_read()) {
			fprintf(stderr, "vmbus-hostbench: no echo\n");
			exit(1);
		}
	}
	return (now_ns() - t0) / (double)k;
}

int main(int argc, char **argv)
{
	unsigned long n = 100, k = 5000;
	double *v[4];
	unsigned long i;
	int opt, s, first;

	while ((opt = getopt(argc, argv, "n:b:")) != -1) {
		switch (opt) {
		case 'n': n = strtoul(optarg, NULL, 0); break;
		case 'b': k = strtoul(optarg, NULL, 0); break;
		default: fprintf(stderr, "usage: vmbus-hostbench [-n BATCHES] [-b PACKETS]\n"); return 2;
		}
	}
	if (!n || !k)
		return 2;
	setup(0);
	setup(1);
	for (s = 0; s < 4; s++)
		v[s] = calloc(n, sizeof(double));
	for (i = 0; i < n; i++) {
		for (first = 0; first < 2; first++) {
			int which = (int)((i + (unsigned long)first) % 2); /* 0 stats on, 1 off */

			use(which);
			v[which][i] = batch(0, k);
			v[2 + which][i] = batch(1, k);
		}
	}
	printf("on_rtt_ns=%.1f off_rtt_ns=%.1f on_stream_ns=%.1f off_stream_ns=%.1f\n",
	       median(v[0], (unsigned)n), median(v[1], (unsigned)n), median(v[2], (unsigned)n),
	       median(v[3], (unsigned)n));
	for (s = 0; s < 2; s++) {
		hv_hyperv_destroy(parts[s]);
		free(parts[s]->ram);
		free(parts[s]);
	}
	for (s = 0; s < 4; s++)
		free(v[s]);
	return 0;
}
