/* KVM's binary statistics (KVM_GET_STATS_FD, Documentation/virt/kvm/api.rst 4.133): the
 * per-vCPU counters KVM keeps itself, read by name. Hosts without it report none. */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "hvcore/hv-priv.h"

#define MAX_DESC 512
#define MAX_NAME 256

static const char *const wanted[HV_KVM_STATS] = { "exits", "halt_exits", "insn_emulation" };

/* Finds the data offsets of the counters in wanted[]; leaves the fd closed on failure. */
int hv_kvm_stats_open(struct hv_vcpu *v)
{
	struct kvm_stats_header h;
	struct kvm_stats_desc *d;
	size_t dsz;
	uint8_t *descs = NULL;
	unsigned i, j;
	int fd, r = 0;

	for (j = 0; j < HV_KVM_STATS; j++)
		v->kstat_off[j] = -1;
	v->stats_fd = -1;
	fd = ioctl(v->fd, KVM_GET_STATS_FD, 0);
	if (fd < 0)
		return 0; /* optional: older KVMs have none */
	if (pread(fd, &h, sizeof(h), 0) != (ssize_t)sizeof(h) || h.num_desc > MAX_DESC ||
	    h.name_size == 0 || h.name_size > MAX_NAME) {
		r = -EBADMSG;
		goto out;
	}
	dsz = sizeof(*d) + h.name_size;
	descs = malloc(dsz * h.num_desc);
	if (!descs) {
		r = -ENOMEM;
		goto out;
	}
	if (pread(fd, descs, dsz * h.num_desc, h.desc_offset) != (ssize_t)(dsz * h.num_desc)) {
		r = -EBADMSG;
		goto out;
	}
	for (i = 0; i < h.num_desc; i++) {
		d = (struct kvm_stats_desc *)(descs + i * dsz);
		if (d->size != 1 || (d->flags & KVM_STATS_TYPE_MASK) != KVM_STATS_TYPE_CUMULATIVE)
			continue;
		for (j = 0; j < HV_KVM_STATS; j++)
			if (strncmp(d->name, wanted[j], h.name_size) == 0)
				v->kstat_off[j] = (int64_t)h.data_offset + d->offset;
	}
	v->stats_fd = fd;
	fd = -1;
out:
	free(descs);
	if (fd >= 0)
		close(fd);
	return r == -ENOMEM ? r : 0;
}

void hv_kvm_stats_read(const struct hv_vcpu *v, uint64_t out[HV_KVM_STATS])
{
	unsigned j;

	for (j = 0; j < HV_KVM_STATS; j++) {
		out[j] = 0;
		if (v->stats_fd >= 0 && v->kstat_off[j] >= 0 &&
		    pread(v->stats_fd, &out[j], sizeof(out[j]), v->kstat_off[j]) != sizeof(out[j]))
			out[j] = 0;
	}
}
