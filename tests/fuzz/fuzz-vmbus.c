/* libFuzzer target for the VMBus host's parsers of guest bytes: channel messages
 * (HvPostMessage payloads), GPADLs, ring buffers and IC packets, against a partition that
 * has guest RAM and a SynIC but no KVM. The input is a script of guest actions, each
 * op (1 byte), length (2 bytes LE), data:
 *   0/1 post a message on connection id 4/1     2 write guest RAM (4-byte offset, bytes)
 *   3 HvSignalEvent (4-byte connection id)      4 take the SINT2 message, write EOM
 *   5 write a synthetic MSR (4-byte index, 8-byte value)
 *   6 enable/disable a service (ic, on)         7 run the services' timers
 *   8 ask for a shutdown                        9 read every statistic
 *  10 set the balloon target (8-byte bytes) and read the balloon's status
 *  11 load a provider's saved state (1-byte channel slot, the record), as a restore does
 * The partition has 32 MiB of RAM, the Dynamic Memory channel (relid 6) and two SCSI disks
 * on controller 0 (locations 0 and 1, relid 7 after the four services, the loopback and the
 * balloon): small dynamic VHDX files made once per process in $TMPDIR, so storvsc packets
 * and SRBs (GPA-direct page lists, CDBs) are explored too; their I/O thread completes
 * asynchronously, and the partition's end waits for it.
 * Corpus: tests/data/vmbus/corpus (tests/fuzz/vmbus-corpus.py writes the seeds). */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "formats/vhdx/vhdx.h"

#include "hvcore/vmbus-priv.h"

#define RAM (32u << 20)
#define SIMP 0x1000u
#define SIEFP 0x2000u
#define HYPERCALL 0x3000u

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static volatile int sink; /* the calls' results: used, never judged */

static void msr(struct hv_vcpu *v, uint32_t index, uint64_t value)
{
	(void)hv_hyperv_msr(v, true, index, &value);
}

static char disk_path[2][256];

static void remove_disks(void)
{
	unlink(disk_path[0]);
	unlink(disk_path[1]);
}

static void make_disks(void)
{
	struct vhdx_create_opts o = { .type = VHDX_TYPE_DYNAMIC, .size = 4 << 20,
				      .block_size = 1 << 20 };
	const char *tmp = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
	unsigned i;

	if (disk_path[0][0])
		return;
	for (i = 0; i < 2; i++) {
		snprintf(disk_path[i], sizeof(disk_path[i]), "%s/hvkit-fuzz-vmbus-%ld-%u.vhdx", tmp,
			 (long)getpid(), i);
		unlink(disk_path[i]);
		if (i == 1)
			o.logical_sector_size = 4096;
		if (vhdx_create(disk_path[i], &o))
			abort();
	}
	atexit(remove_disks);
}

static struct hv_partition *fake_partition(struct hv_vcpu *v)
{
	struct hv_disk_config disks[2] = { { .path = disk_path[0] },
					   { .path = disk_path[1], .location = 1 } };
	struct hv_partition_config cfg = { .vcpus = 1, .vmbus_echo = 1, .dynamic_memory = 1, .disks = disks,
					   .ndisks = 2 };
	struct hv_partition *p = calloc(1, sizeof(*p));

	if (!p)
		abort();
	p->kvm_fd = p->vm_fd = -1; /* the SINT interrupts fail quietly */
	p->nvcpus = 1;
	p->mem_bytes = p->ram_low = RAM;
	p->ram = calloc(1, RAM);
	p->hv = calloc(1, sizeof(*p->hv));
	if (!p->ram || !p->hv)
		abort();
	pthread_mutex_init(&p->hv->lock, NULL);
	p->hv->synic = calloc(1, sizeof(*p->hv->synic));
	if (!p->hv->synic)
		abort();
	p->hv->on = true;
	make_disks();
	if (hv_vmbus_init(p, &cfg))
		abort();
	v->p = p;
	v->id = 0;
	msr(v, 0x40000000, 1);
	msr(v, 0x40000001, HYPERCALL | 1);
	msr(v, 0x40000083, SIMP | 1);
	msr(v, 0x40000082, SIEFP | 1);
	msr(v, 0x40000092, 0x50);
	msr(v, 0x40000080, 1);
	return p;
}

static void step(struct hv_partition *p, struct hv_vcpu *v, uint8_t op, const uint8_t *d,
		 size_t n)
{
	struct hv_vmbus_channel_stats st[HV_MAX_CHANNELS];
	struct hv_disk_stats ds[2];
	struct hv_vmbus_info info;
	struct hv_ic_status ic;
	struct hv_balloon_status bs;
	uint32_t off;
	unsigned i;

	switch (op % 12) {
	case 0:
	case 1:
		pthread_mutex_lock(&p->hv->lock);
		(void)hv_vmbus_post(p, op % 10 ? 1 : 4, d, n > HV_MSG_PAYLOAD ? HV_MSG_PAYLOAD
									 : (uint32_t)n);
		pthread_mutex_unlock(&p->hv->lock);
		break;
	case 2:
		if (n < 4)
			break;
		off = hv_get32(d) % RAM;
		n -= 4;
		if (n > RAM - off)
			n = RAM - off;
		memcpy(p->ram + off, d + 4, n);
		break;
	case 3:
		if (n < 4)
			break;
		pthread_mutex_lock(&p->hv->lock);
		(void)hv_vmbus_signal(p, hv_get32(d));
		pthread_mutex_unlock(&p->hv->lock);
		break;
	case 4:
		memset(p->ram + SIMP + HV_VMBUS_SINT * HV_MSG_SIZE, 0, 4);
		msr(v, 0x40000084, 0);
		break;
	case 5:
		if (n >= 12)
			msr(v, hv_get32(d), hv_get64(d + 4));
		break;
	case 6:
		if (n >= 2)
			sink += hv_partition_ic_enable(p, (enum hv_ic)(d[0] % (HV_IC_COUNT + 1)), d[1] & 1);
		break;
	case 7:
		pthread_mutex_lock(&p->hv->lock);
		hv_vmbus_tick(p, hv_now_ns() + (n ? (uint64_t)d[0] << 30 : 0));
		pthread_mutex_unlock(&p->hv->lock);
		break;
	case 8:
		sink += hv_partition_guest_shutdown(p, n && (d[0] & 1), "fuzz");
		break;
	case 9:
		sink += hv_partition_vmbus_info(p, &info);
		sink += hv_partition_vmbus_channels(p, st, HV_MAX_CHANNELS);
		sink += hv_partition_disk_stats(p, ds, n ? d[0] % 3 : 2);
		for (i = 0; i < HV_IC_COUNT; i++)
			sink += hv_partition_ic_status(p, (enum hv_ic)i, &ic);
		break;
	case 10:
		if (n >= 8)
			sink += hv_partition_balloon_target(p, hv_get64(d));
		sink += hv_partition_balloon_status(p, &bs);
		break;
	case 11:
		if (n >= 1) {
			struct hv_channel *c = p->hv->vmbus.chan[d[0] % HV_MAX_CHANNELS];

			pthread_mutex_lock(&p->hv->lock);
			if (c && c->vsp->load)
				sink += c->vsp->load(c, d + 1, n - 1);
			pthread_mutex_unlock(&p->hv->lock);
		}
		break;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct hv_vcpu v;
	struct hv_partition *p;

	memset(&v, 0, sizeof(v));
	p = fake_partition(&v);
	while (size >= 3) {
		uint8_t op = data[0];
		size_t n = hv_get16(data + 1);

		data += 3;
		size -= 3;
		if (n > size)
			n = size;
		step(p, &v, op, data, n);
		data += n;
		size -= n;
	}
	hv_hyperv_destroy(p);
	free(p->ram);
	free(p);
	return 0;
}
