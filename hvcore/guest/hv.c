/* hvguest: the Hyper-V surface as Linux uses it (arch/x86/hyperv/hv_init.c, drivers/hv/hv.c):
 * detect "Microsoft Hv", set a guest OS id, enable the hypercall page and the SynIC (message
 * page, event-flags page, SINT2 on our vector). TLFS 6.0 sections 2, 3 and 11. */
#include "hvcore/guest/vmbus.h"

#define MSR_GUEST_OS_ID 0x40000000
#define MSR_HYPERCALL 0x40000001
#define MSR_VP_INDEX 0x40000002
#define MSR_TIME_REF_COUNT 0x40000020
#define MSR_SCONTROL 0x40000080
#define MSR_SIEFP 0x40000082
#define MSR_SIMP 0x40000083
#define MSR_EOM 0x40000084
#define MSR_SINT0 0x40000090
#define HVCALL_POST_MESSAGE 0x5c
#define HVCALL_SIGNAL_EVENT 0x5d
#define HVCALL_FAST (1ULL << 16)
/* Open source OS (bit 63), "vendor" 0x7f, version 1 (TLFS 2.6). */
#define GUEST_OS_ID 0x807f000000010000ULL

static uint8_t hypercall_page[4096] __attribute__((aligned(4096)));
static uint8_t post_page[4096] __attribute__((aligned(4096)));
uint8_t hv_simp[4096] __attribute__((aligned(4096)));
uint8_t hv_siefp[4096] __attribute__((aligned(4096)));

static inline void cpuid(uint32_t leaf, uint32_t *a, uint32_t *b, uint32_t *c, uint32_t *d)
{
	__asm__ volatile("cpuid" : "=a"(*a), "=b"(*b), "=c"(*c), "=d"(*d) : "a"(leaf), "c"(0));
}

static inline void wrmsr(uint32_t msr, uint64_t v)
{
	__asm__ volatile("wrmsr" : : "c"(msr), "a"((uint32_t)v), "d"((uint32_t)(v >> 32)));
}

static inline uint64_t rdmsr(uint32_t msr)
{
	uint32_t lo, hi;

	__asm__ volatile("rdmsr" : "=a"(lo), "=d"(hi) : "c"(msr));
	return ((uint64_t)hi << 32) | lo;
}

uint64_t hv_ref_time(void)
{
	return rdmsr(MSR_TIME_REF_COUNT);
}

void hv_eom(void)
{
	wrmsr(MSR_EOM, 0);
}

int hv_setup(unsigned vector)
{
	uint32_t a, b, c, d;

	cpuid(0x40000000, &a, &b, &c, &d);
	if (a < 0x40000005 || b != 0x7263694d || c != 0x666f736f || d != 0x76482074)
		return -1;
	cpuid(0x40000003, &a, &b, &c, &d);
	if (!(a & (1u << 5)) || !(a & (1u << 2)) || !(b & (1u << 4)) || !(b & (1u << 5)))
		return -1;
	wrmsr(MSR_GUEST_OS_ID, GUEST_OS_ID);
	wrmsr(MSR_HYPERCALL, (uint64_t)(uintptr_t)hypercall_page | 1);
	if (!(rdmsr(MSR_HYPERCALL) & 1))
		return -1;
	wrmsr(MSR_SIMP, (uint64_t)(uintptr_t)hv_simp | 1);
	wrmsr(MSR_SIEFP, (uint64_t)(uintptr_t)hv_siefp | 1);
	wrmsr(MSR_SINT0 + VMBUS_SINT, vector);
	wrmsr(MSR_SCONTROL, 1);
	return 0;
}

/* The hypercall page's calling convention (TLFS 3.7): RCX control, RDX input, R8 output,
 * status in RAX. */
static uint64_t hv_call(uint64_t control, uint64_t in, uint64_t out)
{
	register uint64_t r8 __asm__("r8") = out;
	uint64_t status;

	__asm__ volatile("call *%[pg]"
			 : "=a"(status), "+c"(control), "+d"(in), "+r"(r8)
			 : [pg] "r"(hypercall_page)
			 : "memory", "cc", "r9", "r10", "r11");
	return status & 0xffff;
}

unsigned hv_post(uint32_t conn_id, const void *msg, uint32_t len)
{
	uint8_t *p = post_page;

	memset(p, 0, 16);
	p[0] = (uint8_t)conn_id;
	p[1] = (uint8_t)(conn_id >> 8);
	p[2] = (uint8_t)(conn_id >> 16);
	p[8] = 1;
	p[12] = (uint8_t)len;
	p[13] = (uint8_t)(len >> 8);
	memcpy(p + 16, msg, len > 240 ? 240 : len);
	return (unsigned)hv_call(HVCALL_POST_MESSAGE, (uint64_t)(uintptr_t)p, 0);
}

unsigned hv_signal(uint32_t conn_id)
{
	return (unsigned)hv_call(HVCALL_SIGNAL_EVENT | HVCALL_FAST, conn_id, 0);
}
