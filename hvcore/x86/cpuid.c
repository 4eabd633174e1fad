/* CPUID: KVM's supported list, trimmed, with each vCPU's APIC id patched in. Bits this
 * nested KVM cannot honour still show through from the host; clearing them at least keeps
 * a well-behaved guest from choosing them (see DESIGN.md, Guests on these machines). */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#include "hvcore/vmbus-priv.h"

#define MAX_ENTRIES 256

/* Leaf 1 ECX: CX16, POPCNT, XSAVE, OSXSAVE, AVX, RDRAND; the hypervisor bit is set. CX16
 * is honoured here and matters: Linux 6.1's SLUB uses cmpxchg16b when it is offered, and the
 * emulator cannot run it (seen: KVM_EXIT_INTERNAL_ERROR right after SMP setup). */
#define L1_ECX_CLEAR ((1u << 13) | (1u << 23) | (1u << 26) | (1u << 27) | (1u << 28) | (1u << 30))
#define L1_ECX_HYPERVISOR (1u << 31)
/* Leaf 7.0 EBX: SMEP, SMAP (their instructions are missing from the emulator). */
#define L7_EBX_CLEAR ((1u << 7) | (1u << 20))

int hv_cpuid_init(struct hv_partition *p)
{
	struct kvm_cpuid2 *c;
	uint32_t i, n = 0;

	c = calloc(1, sizeof(*c) + MAX_ENTRIES * sizeof(c->entries[0]));
	if (!c)
		return -ENOMEM;
	c->nent = MAX_ENTRIES;
	if (ioctl(p->kvm_fd, KVM_GET_SUPPORTED_CPUID, c) < 0) {
		free(c);
		return -errno;
	}
	for (i = 0; i < c->nent; i++) {
		struct kvm_cpuid_entry2 *e = &c->entries[i];

		/* KVM's own paravirt leaves go: the VMM presents itself differently. */
		if (e->function >= 0x40000000 && e->function < 0x40010000)
			continue;
		if (e->function == 1) {
			e->ecx &= ~L1_ECX_CLEAR;
			e->ecx |= L1_ECX_HYPERVISOR;
		}
		if (e->function == 7 && e->index == 0)
			e->ebx &= ~L7_EBX_CLEAR;
		if (e->function == 0xd) /* XSAVE state enumeration: no XSAVE offered */
			continue;
		c->entries[n++] = *e;
	}
	hv_hyperv_cpuid(p, c->entries, &n, MAX_ENTRIES);
	c->nent = n;
	p->cpuid = c;
	return 0;
}

int hv_cpuid_set(struct hv_vcpu *v)
{
	const struct kvm_cpuid2 *src = v->p->cpuid;
	struct kvm_cpuid2 *c;
	size_t sz = sizeof(*c) + src->nent * sizeof(c->entries[0]);
	uint32_t i;
	int r = 0;

	c = malloc(sz);
	if (!c)
		return -ENOMEM;
	memcpy(c, src, sz);
	for (i = 0; i < c->nent; i++) {
		struct kvm_cpuid_entry2 *e = &c->entries[i];

		if (e->function == 1)
			e->ebx = (e->ebx & 0x00ffffffu) | (v->id << 24);
		if (e->function == 0xb || e->function == 0x1f)
			e->edx = v->id;
	}
	if (ioctl(v->fd, KVM_SET_CPUID2, c) < 0)
		r = -errno;
	free(c);
	return r;
}
