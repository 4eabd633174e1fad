/*
 * hv-worker: runs one partition for hvd (Hyper-V's VMWP).  It builds the partition with
 * libhvcore, runs it in a thread of its own, writes the serial console to the VM's
 * console.log, and serves hvd over the wire protocol: on the socketpair hvd started it with
 * and on DIR/worker.sock, where a restarted hvd finds it again.  Every connection is told
 * of state changes, console output and a sample each second (events); when the partition
 * stops, the worker says why, leaves the reason in DIR/last-stop, and exits.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "hvcore/hvcore.h"
#include "wire-protocol/wire.h"

#define MAX_CONNS 8

struct conn {
	int fd;
	struct wire_buf in, out;
	uint32_t sub_serial;
};

struct worker {
	const char *dir, *id;
	struct hv_partition *part;
	pthread_t thread;
	struct hv_stop_info stop;
	int stop_pipe[2];    /* the partition thread writes one byte when the run ends */
	int console_pipe[2]; /* console bytes for the connections (the log gets them directly) */
	int log_fd;
	int listen_fd;
	struct conn conns[MAX_CONNS];
	size_t nconns;
	const char *state;
	int64_t start_ns;
	unsigned vcpus;
	uint64_t mem;
	uint64_t mem_max; /* dynamic memory: the partition maps this, mem is the startup target */
};

static int64_t now_ns(int clock)
{
	struct timespec ts;

	clock_gettime(clock, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* From vCPU threads: never blocks.  The log keeps everything; the stream drops what a full
 * pipe cannot take. */
static void on_console(void *opaque, const void *buf, size_t len)
{
	struct worker *w = opaque;
	ssize_t n;

	if (w->log_fd >= 0)
		n = write(w->log_fd, buf, len);
	n = write(w->console_pipe[1], buf, len);
	(void)n;
}

static void *run_thread(void *arg)
{
	struct worker *w = arg;
	char one = 1;
	int rc = hv_partition_run(w->part, &w->stop);

	if (rc) {
		w->stop.reason = HV_STOP_HOST_ERROR;
		w->stop.error = rc;
	}
	if (write(w->stop_pipe[1], &one, 1) < 0)
		abort();
	return NULL;
}

static void send_frame(struct conn *c, uint8_t kind, uint32_t serial, uint32_t proc, int32_t status,
		       struct wire_value *payload)
{
	struct wire_frame f = { .kind = kind, .serial = serial, .procedure = proc, .status = status, .payload = payload };
	int rc = wire_frame_encode(&f, &c->out);

	(void)rc;
	wire_value_unref(payload);
}

static void broadcast(struct worker *w, struct wire_value *ev)
{
	size_t i;

	for (i = 0; i < w->nconns; i++)
		send_frame(&w->conns[i], WIRE_KIND_EVENT, w->conns[i].sub_serial, WIRE_PROC_WORKER_SUBSCRIBE, 0,
			   wire_value_ref(ev));
	wire_value_unref(ev);
}

static struct wire_value *event(const char *type)
{
	struct wire_value *e = wire_object("WorkerEvent");

	wire_object_add(e, "Type", wire_string(type));
	return e;
}

static uint64_t cpu_ns(struct worker *w)
{
	struct hv_vcpu_stats s;
	uint64_t sum = 0;
	unsigned i;

	for (i = 0; w->part && i < w->vcpus; i++)
		if (hv_partition_vcpu_stats(w->part, i, &s) == 0)
			sum += s.cpu_ns;
	return sum;
}

/* Per vCPU totals: hvd and its clients turn two samples into rates. */
static struct wire_value *processors(struct worker *w)
{
	struct wire_value *list = wire_list();
	struct hv_vcpu_stats s;
	unsigned i;

	for (i = 0; w->part && i < w->vcpus; i++) {
		struct wire_value *o;

		if (hv_partition_vcpu_stats(w->part, i, &s) != 0)
			continue;
		o = wire_object("VMProcessorSample");
		wire_object_add(o, "Index", wire_int(i));
		wire_object_add(o, "CpuNs", wire_uint(s.cpu_ns));
		wire_object_add(o, "RunNs", wire_uint(s.run_ns));
		wire_object_add(o, "Exits", wire_uint(s.exits));
		wire_object_add(o, "IoExits", wire_uint(s.io_exits));
		wire_object_add(o, "MmioExits", wire_uint(s.mmio_exits));
		wire_object_add(o, "KvmExits", wire_uint(s.kvm_exits));
		wire_object_add(o, "HaltExits", wire_uint(s.kvm_halt_exits));
		wire_object_add(o, "EmulatedInstructions", wire_uint(s.kvm_insn_emulation));
		wire_list_append(list, o);
	}
	return list;
}

static const char *channel_state(enum hv_channel_state s)
{
	switch (s) {
	case HV_CHANNEL_OFFERED: return "Offered";
	case HV_CHANNEL_OPEN: return "Open";
	case HV_CHANNEL_CLOSED: return "Closed";
	case HV_CHANNEL_RESCINDED: return "Rescinded";
	case HV_CHANNEL_FAULTED: return "Faulted";
	}
	return "Unknown";
}

static const char *ic_health(const struct hv_ic_status *st)
{
	if (!st->enabled)
		return "Disabled";
	switch (st->health) {
	case HV_IC_OK: return "OK";
	case HV_IC_LOST_COMMUNICATION: return "Lost Communication";
	case HV_IC_NO_CONTACT: return "No Contact";
	case HV_IC_DISABLED: return "Disabled";
	}
	return "Unknown";
}

#define SCSI_CLASS "ba6163d9-04a1-4d29-b605-72e2ffb1dc7f"

/* The disks of SCSI controller `controller` (every disk when it is -1), with their counters. */
static struct wire_value *disks_of(const struct hv_disk_stats *d, int n, long controller)
{
	struct wire_value *list = wire_list();
	int i;

	for (i = 0; i < n; i++) {
		struct wire_value *o;

		if (controller >= 0 && d[i].controller != (unsigned long)controller)
			continue;
		o = wire_object("VMDiskSample");
		wire_object_add(o, "ControllerNumber", wire_uint(d[i].controller));
		wire_object_add(o, "ControllerLocation", wire_uint(d[i].location));
		wire_object_add(o, "Path", wire_string(d[i].path));
		wire_object_add(o, "ReadOperations", wire_uint(d[i].read_ops));
		wire_object_add(o, "WriteOperations", wire_uint(d[i].write_ops));
		wire_object_add(o, "ReadBytes", wire_uint(d[i].read_bytes));
		wire_object_add(o, "WriteBytes", wire_uint(d[i].write_bytes));
		wire_object_add(o, "Flushes", wire_uint(d[i].flushes));
		wire_object_add(o, "Unmaps", wire_uint(d[i].unmaps));
		wire_object_add(o, "Errors", wire_uint(d[i].errors));
		wire_object_add(o, "QueueDepth", wire_uint(d[i].queue_depth));
		wire_object_add(o, "LatencyMean", wire_duration((int64_t)d[i].lat_mean_ns));
		wire_object_add(o, "Latency99", wire_duration((int64_t)d[i].lat_p99_ns));
		wire_list_append(list, o);
	}
	return list;
}

/* The VMBus as the worker sees it: the connection, every channel's counters (a SCSI
 * controller's with its disks'), and each integration service's health. */
static void vmbus_status(struct worker *w, struct wire_value *o)
{
	static struct hv_disk_stats disks[64];
	int ndisks = hv_partition_disk_stats(w->part, disks, sizeof(disks) / sizeof(disks[0]));
	struct hv_vmbus_channel_stats ch[32];
	struct hv_vmbus_info info;
	struct wire_value *bus, *list;
	int n, i;
	unsigned k;

	if (hv_partition_vmbus_info(w->part, &info) != 0)
		return;
	bus = wire_object("VMBusStatus");
	if (info.version)
		wire_object_add(bus, "Version", wire_stringf("%u.%u", info.version >> 16, info.version & 0xffff));
	else
		wire_object_add(bus, "Version", wire_string(""));
	wire_object_add(bus, "Channels", wire_int(info.channels));
	wire_object_add(bus, "BadMessages", wire_uint(info.bad_messages));
	wire_object_add(o, "VMBus", bus);
	list = wire_list();
	n = hv_partition_vmbus_channels(w->part, ch, sizeof(ch) / sizeof(ch[0]));
	for (i = 0; i < n && i < (int)(sizeof(ch) / sizeof(ch[0])); i++) {
		struct wire_value *c = wire_object("VMBusChannel");

		wire_object_add(c, "ChannelId", wire_uint(ch[i].relid));
		wire_object_add(c, "Name", wire_string(ch[i].name));
		wire_object_add(c, "InterfaceType", wire_string(ch[i].interface_type));
		wire_object_add(c, "InstanceId", wire_string(ch[i].instance_id));
		wire_object_add(c, "State", wire_string(channel_state(ch[i].state)));
		wire_object_add(c, "PacketsIn", wire_uint(ch[i].packets_in));
		wire_object_add(c, "PacketsOut", wire_uint(ch[i].packets_out));
		wire_object_add(c, "BytesIn", wire_uint(ch[i].bytes_in));
		wire_object_add(c, "BytesOut", wire_uint(ch[i].bytes_out));
		wire_object_add(c, "InterruptsIn", wire_uint(ch[i].interrupts_in));
		wire_object_add(c, "InterruptsOut", wire_uint(ch[i].interrupts_out));
		wire_object_add(c, "RingFull", wire_uint(ch[i].ring_full));
		wire_object_add(c, "Throttled", wire_uint(ch[i].throttled));
		wire_object_add(c, "BadPackets", wire_uint(ch[i].bad_packets));
		wire_object_add(c, "InRingSize", wire_uint(ch[i].in_ring_size));
		wire_object_add(c, "InRingUsed", wire_uint(ch[i].in_ring_used));
		wire_object_add(c, "InRingHighWater", wire_uint(ch[i].in_ring_high));
		wire_object_add(c, "OutRingSize", wire_uint(ch[i].out_ring_size));
		wire_object_add(c, "OutRingUsed", wire_uint(ch[i].out_ring_used));
		wire_object_add(c, "OutRingHighWater", wire_uint(ch[i].out_ring_high));
		if (!strcmp(ch[i].interface_type, SCSI_CLASS) && strlen(ch[i].instance_id) == 36)
			/* storvsc's instance GUID ends in its controller number */
			wire_object_add(c, "Disks", disks_of(disks, ndisks < 64 ? ndisks : 64,
							     strtol(ch[i].instance_id + 24, NULL, 16)));
		wire_list_append(list, c);
	}
	wire_object_add(o, "Channels", list);
	list = wire_list();
	for (k = 0; k < HV_IC_COUNT; k++) {
		struct hv_ic_status st;
		struct wire_value *c;

		if (hv_partition_ic_status(w->part, (enum hv_ic)k, &st) != 0)
			continue;
		c = wire_object("VMIntegrationServiceStatus");
		wire_object_add(c, "Name", wire_string(hv_ic_name((enum hv_ic)k)));
		wire_object_add(c, "Enabled", wire_bool(st.enabled));
		wire_object_add(c, "Open", wire_bool(st.open));
		wire_object_add(c, "Health", wire_string(ic_health(&st)));
		wire_object_add(c, "Version", st.version ? wire_stringf("%u.%u", st.version >> 16, st.version & 0xffff)
							 : wire_string(""));
		wire_object_add(c, "SecondsSinceContact",
				st.last_contact_ns ? wire_double((double)((uint64_t)now_ns(CLOCK_MONOTONIC) - st.last_contact_ns) / 1e9)
						   : wire_null());
		wire_list_append(list, c);
	}
	wire_object_add(o, "IntegrationServices", list);
}

/* This process's resident memory (VmRSS), which follows what the balloon gives back. */
static uint64_t resident_bytes(void)
{
	char line[256];
	unsigned long long kb = 0;
	FILE *f = fopen("/proc/self/status", "r");

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "VmRSS: %llu kB", &kb) == 1)
			break;
	fclose(f);
	return (uint64_t)kb * 1024;
}

/* Dynamic memory as hvd's policy (daemon/memory.c) reads it from the samples. */
static void memory_status(struct worker *w, struct wire_value *o)
{
	struct hv_balloon_status st;
	struct wire_value *m = wire_object("VMMemoryStatus");
	int dyn = w->part && hv_partition_balloon_status(w->part, &st) == 0;

	wire_object_add(m, "DynamicMemoryEnabled", wire_bool(dyn));
	wire_object_add(m, "Assigned", wire_uint(dyn ? st.assigned_bytes : w->mem));
	wire_object_add(m, "Target", wire_uint(dyn ? st.target_bytes : w->mem));
	wire_object_add(m, "Demand", wire_uint(dyn ? st.demand_bytes : 0));
	wire_object_add(m, "Maximum", wire_uint(dyn ? st.mem_bytes : w->mem));
	wire_object_add(m, "Connected", wire_bool(dyn && st.connected));
	wire_object_add(m, "Reports", wire_uint(dyn ? st.reports : 0));
	wire_object_add(m, "AvailablePages", wire_uint(dyn ? st.avail_pages : 0));
	wire_object_add(m, "BalloonPages", wire_uint(dyn ? st.balloon_pages : 0));
	wire_object_add(m, "Hostile", wire_uint(dyn ? st.hostile : 0));
	wire_object_add(m, "ResidentBytes", wire_uint(resident_bytes()));
	wire_object_add(o, "Memory", m);
}

static struct wire_value *status_object(struct worker *w)
{
	struct wire_value *o = wire_object("WorkerStatus");

	wire_object_add(o, "State", wire_string(w->state));
	wire_object_add(o, "Pid", wire_int(getpid()));
	wire_object_add(o, "StartTime", wire_timestamp(w->start_ns));
	wire_object_add(o, "CpuNs", wire_uint(cpu_ns(w)));
	wire_object_add(o, "ProcessorCount", wire_int(w->vcpus));
	wire_object_add(o, "MemoryBytes", wire_uint(w->mem));
	wire_object_add(o, "UsableRam", wire_uint(w->part ? hv_partition_usable_ram(w->part) : 0));
	wire_object_add(o, "Processors", processors(w));
	memory_status(w, o);
	if (w->part)
		vmbus_status(w, o);
	return o;
}

static void set_state(struct worker *w, const char *state)
{
	struct wire_value *e = event("State");

	w->state = state;
	wire_object_add(e, "State", wire_string(state));
	broadcast(w, e);
}

/* Why the partition stopped, in words an administrator can act on. */
static char *describe_stop(const struct hv_stop_info *s)
{
	char insn[64] = "", *out = NULL;
	unsigned i;
	int n = 0;

	for (i = 0; i < s->insn_len && n < (int)sizeof(insn) - 4; i++)
		n += snprintf(insn + n, sizeof(insn) - (size_t)n, "%s%02x", i ? " " : "", s->insn[i]);
	switch (s->reason) {
	case HV_STOP_POWEROFF:
		n = asprintf(&out, "The guest powered off.");
		break;
	case HV_STOP_RESET:
		n = asprintf(&out, "The guest reset.");
		break;
	case HV_STOP_REQUESTED:
		n = asprintf(&out, "Turned off.");
		break;
	case HV_STOP_TRIPLE_FAULT:
		n = asprintf(&out, "Crashed: the guest triple-faulted (vCPU %d, RIP 0x%llx).", s->vcpu,
			     (unsigned long long)s->rip);
		break;
	case HV_STOP_INTERNAL_ERROR:
		n = asprintf(&out, "Crashed: KVM could not run the guest's instruction (internal error %u, vCPU %d, RIP 0x%llx%s%s).",
			     s->suberror, s->vcpu, (unsigned long long)s->rip, insn[0] ? ", bytes " : "", insn);
		break;
	case HV_STOP_HOST_ERROR:
		n = asprintf(&out, "Crashed: the host failed to run the partition: %s.", strerror(-s->error));
		break;
	default:
		n = asprintf(&out, "Crashed: %s (vCPU %d, RIP 0x%llx, exit %u).", hv_stop_reason_name(s->reason), s->vcpu,
			     (unsigned long long)s->rip, s->exit_reason);
		break;
	}
	if (n < 0)
		abort();
	return out;
}

static int64_t mono_ns(void)
{
	return now_ns(CLOCK_MONOTONIC);
}

/* Worker.Save's Disks: {ControllerNumber, ControllerLocation, Path} per disk to move to a new
 * differencing child (made here: the worker holds the parent's write lock). */
static int save_disks(const struct wire_value *args, struct hv_disk_switch **out, unsigned *n, char *err,
		      size_t errlen)
{
	const struct wire_value *list = wire_object_get(args, "Disks");
	struct hv_disk_switch *sw;
	size_t i;

	*out = NULL;
	*n = 0;
	if (!list || list->type == WIRE_NULL)
		return 0;
	if (list->type != WIRE_LIST || list->list.n > HV_MAX_SCSI_CONTROLLERS * HV_MAX_SCSI_LOCATIONS) {
		snprintf(err, errlen, "Worker.Save's Disks must be a list of at most %u disks",
			 HV_MAX_SCSI_CONTROLLERS * HV_MAX_SCSI_LOCATIONS);
		return -EINVAL;
	}
	sw = calloc(list->list.n + 1, sizeof(*sw));
	if (!sw)
		return -ENOMEM;
	for (i = 0; i < list->list.n; i++) {
		const struct wire_value *o = list->list.items[i];
		int64_t c = -1, l = -1;
		const char *path = NULL;

		if (wire_object_get_int(o, "ControllerNumber", &c) || wire_object_get_int(o, "ControllerLocation", &l) ||
		    wire_object_get_string(o, "Path", &path) || c < 0 || c >= HV_MAX_SCSI_CONTROLLERS || l < 0 ||
		    l >= HV_MAX_SCSI_LOCATIONS || path[0] != '/') {
			snprintf(err, errlen, "Worker.Save's Disks[%zu] needs ControllerNumber, ControllerLocation and an "
					      "absolute Path", i);
			free(sw);
			return -EINVAL;
		}
		sw[i] = (struct hv_disk_switch){ .controller = (unsigned)c, .location = (unsigned)l, .path = path, .create = 1 };
	}
	*out = sw;
	*n = (unsigned)list->list.n;
	return 0;
}

/* The state into path (created, synced): 0, or -errno with err saying why. */
static int save_state(struct worker *w, const char *path, struct stat *sb, char *err, size_t errlen)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600), rc;

	rc = fd < 0 ? -errno : hv_partition_save(w->part, fd);
	if (getenv("HVKIT_FAULT") && !strcmp(getenv("HVKIT_FAULT"), "worker-save"))
		_exit(99); /* the crash tests: a worker that dies half way through a save */
	if (rc == 0 && fsync(fd) < 0)
		rc = -errno;
	if (rc == 0 && fstat(fd, sb) < 0)
		rc = -errno;
	if (fd >= 0 && close(fd) < 0 && rc == 0)
		rc = -errno;
	if (rc) {
		snprintf(err, errlen, "cannot save the partition to %s: %s", path, strerror(-rc));
		if (fd >= 0)
			unlink(path);
	}
	return rc;
}

/* Worker.Save: pause, let every disk request in flight complete and flush the disks, write the
 * whole partition state to Path (synced), move the Disks listed to their new differencing
 * children (a checkpoint of a running VM: the state and the checkpoint's disk layers agree),
 * then resume, or with Stop end the run (Save-VM). All or nothing: on a failure the state
 * file is removed, every disk stays on its old layer and the partition runs on. hvd names a
 * temporary file and renames it once it has the answer. The reply says how long the guest
 * stood still and which disks moved. */
static int save_partition(struct worker *w, const struct wire_value *args, struct wire_value **reply, char *err,
			  size_t errlen)
{
	const char *path = NULL;
	bool stop = false, was_paused = !strcmp(w->state, "Paused");
	int64_t t0 = mono_ns(), t1, t2;
	struct hv_disk_switch *sw = NULL;
	struct stat sb;
	unsigned nsw = 0, i;
	int rc;

	if (wire_object_get_string(args, "Path", &path) || path[0] != '/') {
		snprintf(err, errlen, "Worker.Save needs an absolute Path");
		return -EINVAL;
	}
	wire_object_get_bool(args, "Stop", &stop);
	if ((rc = save_disks(args, &sw, &nsw, err, errlen)) != 0)
		return rc;
	/* The run thread may not have started the vCPUs yet (a save right after Started):
	 * pause answers -EINVAL until it has, so give it a moment. */
	for (int tries = 0; !was_paused && (rc = hv_partition_pause(w->part)) == -EINVAL && tries < 200; tries++) {
		struct timespec ts = { 0, 5000000 };

		if (__atomic_load_n(&w->stop.reason, __ATOMIC_ACQUIRE) != HV_STOP_NONE)
			break; /* the run ended: there is nothing to pause */
		nanosleep(&ts, NULL);
	}
	if (!was_paused && rc != 0) {
		snprintf(err, errlen, "cannot pause the partition: %s", strerror(-rc));
		free(sw);
		return rc;
	}
	t1 = mono_ns();
	rc = hv_partition_disks_quiesce(w->part, err, errlen);
	if (rc && !err[0])
		snprintf(err, errlen, "cannot quiesce the disks: %s", strerror(-rc));
	if (rc == 0)
		rc = save_state(w, path, &sb, err, errlen);
	if (rc == 0 && nsw) {
		char why[1024] = "";

		if (getenv("HVKIT_FAULT") && !strcmp(getenv("HVKIT_FAULT"), "worker-switch"))
			_exit(99); /* the crash tests: state written, disks not switched */
		rc = hv_partition_disk_switch(w->part, sw, nsw, why, sizeof(why));
		if (rc) {
			snprintf(err, errlen, "cannot switch to the new disk layers: %s", why[0] ? why : strerror(-rc));
			unlink(path);
		}
	}
	t2 = mono_ns();
	if (rc == 0 && stop) {
		(void)hv_partition_stop(w->part);
	} else if (!was_paused) {
		int r2 = hv_partition_resume(w->part);

		(void)r2;
	}
	if (rc) {
		free(sw);
		return rc;
	}
	*reply = wire_object("WorkerSaved");
	wire_object_add(*reply, "Path", wire_string(path));
	wire_object_add(*reply, "FileBytes", wire_uint((uint64_t)sb.st_blocks * 512));
	wire_object_add(*reply, "SaveTime", wire_duration(t2 - t1));
	wire_object_add(*reply, "PausedTime", wire_duration(mono_ns() - t0));
	if (nsw) {
		struct wire_value *list = wire_list();

		for (i = 0; i < nsw; i++) {
			struct wire_value *o = wire_object("WorkerDisk");

			wire_object_add(o, "ControllerNumber", wire_uint(sw[i].controller));
			wire_object_add(o, "ControllerLocation", wire_uint(sw[i].location));
			wire_object_add(o, "Path", wire_string(sw[i].path));
			wire_list_append(list, o);
		}
		wire_object_add(*reply, "Disks", list);
	}
	free(sw);
	return 0;
}

static void handle_call(struct worker *w, struct conn *c, struct wire_frame *f)
{
	char err[4400] = "";
	struct wire_value *reply = NULL;
	bool b = false;
	int rc = 0;

	switch (f->procedure) {
	case WIRE_PROC_WORKER_STATUS:
		reply = status_object(w);
		break;
	case WIRE_PROC_WORKER_SUBSCRIBE:
		c->sub_serial = f->serial;
		break;
	case WIRE_PROC_WORKER_STOP:
		if (wire_object_get_bool(f->payload, "TurnOff", &b) == 0 && b) {
			rc = hv_partition_stop(w->part);
		} else {
			/* The guest's shutdown service when it listens, else the ACPI power button. */
			rc = hv_partition_guest_shutdown(w->part, 0, "Stop-VM from hvd");
			if (rc != 0)
				rc = hv_partition_power_button(w->part);
			if (rc == 0)
				set_state(w, "Stopping");
		}
		break;
	case WIRE_PROC_WORKER_PAUSE:
		rc = hv_partition_pause(w->part);
		if (rc == 0)
			set_state(w, "Paused");
		break;
	case WIRE_PROC_WORKER_RESUME:
		rc = hv_partition_resume(w->part);
		if (rc == 0)
			set_state(w, "Running");
		break;
	case WIRE_PROC_WORKER_IC_SET: {
		int64_t mask = 0;
		unsigned k;

		if (wire_object_get_int(f->payload, "Disabled", &mask) != 0) {
			rc = -EINVAL;
			break;
		}
		for (k = 0; k < HV_IC_COUNT && rc == 0; k++) {
			struct hv_ic_status st;
			int on = !(mask & (1 << k));

			if (hv_partition_ic_status(w->part, (enum hv_ic)k, &st) == 0 && !st.enabled == !on)
				continue;
			rc = hv_partition_ic_enable(w->part, (enum hv_ic)k, on);
		}
		break;
	}
	case WIRE_PROC_WORKER_SAVE:
		rc = save_partition(w, f->payload, &reply, err, sizeof(err));
		break;
	case WIRE_PROC_WORKER_MEMORY_SET: {
		int64_t target = 0;

		rc = wire_object_get_int(f->payload, "TargetBytes", &target) || target <= 0
			     ? -EINVAL
			     : hv_partition_balloon_target(w->part, (uint64_t)target & ~4095ULL);
		break;
	}
	case WIRE_PROC_WORKER_CONSOLE_INPUT: {
		const struct wire_value *bytes = wire_object_get(f->payload, "Bytes");

		if (bytes && (bytes->type == WIRE_BYTES || bytes->type == WIRE_STRING))
			rc = hv_partition_console_input(w->part, bytes->str.p, bytes->str.len) < 0 ? -EIO : 0;
		break;
	}
	default:
		send_frame(c, WIRE_KIND_ERROR, f->serial, f->procedure, WIRE_E_UNKNOWN_PROCEDURE,
			   wire_error_record(WIRE_E_UNKNOWN_PROCEDURE, NULL, "hv-worker has no procedure %u", f->procedure));
		return;
	}
	if (rc < 0) {
		send_frame(c, WIRE_KIND_ERROR, f->serial, f->procedure, WIRE_E_INVALID_STATE,
			   wire_error_record(WIRE_E_INVALID_STATE, NULL, "%s", err[0] ? err : strerror(-rc)));
		return;
	}
	send_frame(c, WIRE_KIND_REPLY, f->serial, f->procedure, 0, reply ? reply : wire_list());
}

/* Reads and handles what a connection sent; false when it is gone or talks nonsense. */
static bool conn_read(struct worker *w, struct conn *c)
{
	ssize_t n;

	wire_buf_reserve(&c->in, 65536);
	n = read(c->fd, c->in.data + c->in.len, 65536);
	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return true;
	if (n <= 0)
		return false;
	c->in.len += (size_t)n;
	for (;;) {
		struct wire_frame f;
		size_t len;

		if (wire_frame_peek(c->in.data, c->in.len, &len) || len == 0)
			return wire_frame_peek(c->in.data, c->in.len, &len) == 0;
		if (wire_frame_decode(c->in.data, len, &f)) {
			wire_frame_clear(&f);
			return false;
		}
		wire_buf_consume(&c->in, len);
		if (f.kind == WIRE_KIND_CALL)
			handle_call(w, c, &f);
		else if (f.kind == WIRE_KIND_PING)
			send_frame(c, WIRE_KIND_PONG, f.serial, 0, 0, NULL);
		wire_frame_clear(&f);
	}
}

static void conn_flush(struct conn *c)
{
	while (c->out.len) {
		ssize_t n = send(c->fd, c->out.data, c->out.len, MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n <= 0)
			return;
		wire_buf_consume(&c->out, (size_t)n);
	}
}

static void conn_drop(struct worker *w, size_t i)
{
	close(w->conns[i].fd);
	wire_buf_free(&w->conns[i].in);
	wire_buf_free(&w->conns[i].out);
	w->conns[i] = w->conns[--w->nconns];
}

static void conn_add(struct worker *w, int fd)
{
	if (w->nconns == MAX_CONNS) {
		close(fd);
		return;
	}
	memset(&w->conns[w->nconns], 0, sizeof(w->conns[0]));
	w->conns[w->nconns++].fd = fd;
}

static int listen_control(struct worker *w)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd;

	if ((size_t)snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/worker.sock", w->dir) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	unlink(sa.sun_path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 4) < 0) {
		int rc = -errno;

		close(fd);
		return rc;
	}
	return fd;
}

static void write_last_stop(struct worker *w, const char *text)
{
	char path[4200], tmp[4200];
	int fd;

	snprintf(path, sizeof(path), "%s/last-stop", w->dir);
	snprintf(tmp, sizeof(tmp), "%s/.last-stop.tmp", w->dir);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return;
	if (write(fd, text, strlen(text)) < 0 || fsync(fd) < 0 || rename(tmp, path) < 0)
		unlink(tmp);
	close(fd);
}

static void sample(struct worker *w)
{
	struct wire_value *e = event("Sample");

	wire_object_add(e, "Status", status_object(w));
	broadcast(w, e);
}

/* The main loop: connections, console output, samples, until the partition stops. */
static void serve(struct worker *w)
{
	int64_t next_sample = now_ns(CLOCK_MONOTONIC) + 1000000000, stopped_at = 0;
	bool stopped = false;

	while (!stopped || w->nconns) {
		struct pollfd p[MAX_CONNS + 3];
		size_t i, n = 0;
		int64_t wait = (next_sample - now_ns(CLOCK_MONOTONIC)) / 1000000;

		p[n++] = (struct pollfd){ .fd = w->listen_fd, .events = POLLIN };
		p[n++] = (struct pollfd){ .fd = w->console_pipe[0], .events = POLLIN };
		p[n++] = (struct pollfd){ .fd = stopped ? -1 : w->stop_pipe[0], .events = POLLIN };
		for (i = 0; i < w->nconns; i++)
			p[n++] = (struct pollfd){ .fd = w->conns[i].fd,
						  .events = (short)(POLLIN | (w->conns[i].out.len ? POLLOUT : 0)) };
		bool unsent = false;

		for (i = 0; i < w->nconns; i++)
			unsent |= w->conns[i].out.len > 0;
		/* Once stopped, only what is still unsent is waited for. */
		if (poll(p, n, stopped ? (unsent ? 2000 : 0) : (int)(wait < 0 ? 0 : wait)) < 0 && errno != EINTR)
			break;
		if (stopped && !(p[1].revents & POLLIN)) {
			bool pending = false;

			for (i = 0; i < w->nconns; i++)
				pending |= w->conns[i].out.len > 0;
			/* Everything said, or a connection that does not read gave up on: done. */
			if (!pending || now_ns(CLOCK_MONOTONIC) - stopped_at > 2000000000)
				break;
		}
		if (p[0].revents & POLLIN) {
			int fd = accept4(w->listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);

			if (fd >= 0)
				conn_add(w, fd);
		}
		if (p[1].revents & POLLIN) {
			char buf[4096];
			ssize_t len = read(w->console_pipe[0], buf, sizeof(buf));

			if (len > 0) {
				struct wire_value *e = event("Console");

				wire_object_add(e, "Bytes", wire_bytes(buf, (size_t)len));
				broadcast(w, e);
			}
		}
		if (!stopped && (p[2].revents & POLLIN)) {
			char one, *why = describe_stop(&w->stop);
			struct wire_value *e = event("Stopped");

			if (read(w->stop_pipe[0], &one, 1) < 0)
				one = 0;
			pthread_join(w->thread, NULL);
			stopped = true;
			stopped_at = now_ns(CLOCK_MONOTONIC);
			w->state = "Off";
			write_last_stop(w, why);
			wire_object_add(e, "Reason", wire_string(hv_stop_reason_name(w->stop.reason)));
			wire_object_add(e, "Crashed", wire_bool(w->stop.reason >= HV_STOP_TRIPLE_FAULT));
			wire_object_add(e, "Reset", wire_bool(w->stop.reason == HV_STOP_RESET));
			wire_object_add(e, "Message", wire_string(why));
			wire_object_add(e, "Rip", wire_uint(w->stop.rip));
			free(why);
			/* Console bytes still in the pipe go out before the news of the stop. */
			for (;;) {
				char buf[4096];
				ssize_t len = read(w->console_pipe[0], buf, sizeof(buf));
				struct wire_value *ce;

				if (len <= 0)
					break;
				ce = event("Console");
				wire_object_add(ce, "Bytes", wire_bytes(buf, (size_t)len));
				broadcast(w, ce);
			}
			broadcast(w, e);
		}
		for (i = w->nconns; i-- > 0;) {
			short re = p[3 + i].revents;

			if ((re & (POLLIN | POLLHUP | POLLERR)) && !conn_read(w, &w->conns[i])) {
				conn_drop(w, i);
				continue;
			}
			conn_flush(&w->conns[i]);
		}
		if (!stopped && now_ns(CLOCK_MONOTONIC) >= next_sample) {
			sample(w);
			next_sample += 1000000000;
		}
	}
}

/* Why the partition could not start, in words. */
static const char *failure(int rc, bool created, const char *kernel, const char *initrd,
			   const char *why)
{
	static char msg[8400];

	if (!created && why[0]) { /* a disk: hvcore names it and says libvhdx's reason */
		snprintf(msg, sizeof(msg), "cannot attach %s", why);
		return msg;
	}
	if (!created) {
		switch (rc) {
		case -ENOMEM:
			snprintf(msg, sizeof(msg), "the host cannot give the partition its memory");
			break;
		case -E2BIG:
			snprintf(msg, sizeof(msg), "KVM cannot run that many virtual processors");
			break;
		case -ENOENT:
		case -EACCES:
			snprintf(msg, sizeof(msg), "cannot open /dev/kvm: %s", strerror(-rc));
			break;
		default:
			snprintf(msg, sizeof(msg), "cannot create the partition: %s", strerror(-rc));
		}
		return msg;
	}
	switch (rc) {
	case -ENOEXEC:
		snprintf(msg, sizeof(msg), "%s is neither a 64-bit ELF kernel nor a Linux bzImage", kernel);
		break;
	case -EBADMSG:
		snprintf(msg, sizeof(msg), "%s is a damaged kernel image", kernel);
		break;
	case -E2BIG:
		snprintf(msg, sizeof(msg), "the kernel, initrd or command line does not fit in the partition's memory");
		break;
	case -ENOTSUP:
		snprintf(msg, sizeof(msg), "%s is a kind of kernel image hvkit cannot boot", kernel);
		break;
	default:
		snprintf(msg, sizeof(msg), "cannot load %s%s%s: %s", kernel, initrd ? " or " : "", initrd ? initrd : "",
			 strerror(-rc));
	}
	return msg;
}

/* --restore: a partition of the saved state's size, continuing where it was saved. */
static int restore_partition(struct worker *w, struct hv_partition_config *cfg, const char *path, bool paused,
			     char *why, size_t whylen)
{
	struct hv_state_info info;
	char err[256] = "";
	int fd = open(path, O_RDONLY | O_CLOEXEC), rc;

	if (fd < 0) {
		rc = -errno;
		snprintf(why, whylen, "cannot open the saved state %s: %s", path, strerror(errno));
		return rc;
	}
	rc = hv_state_info_read(fd, &info, err, sizeof(err));
	if (rc == 0) {
		cfg->vcpus = w->vcpus = info.vcpus;
		cfg->mem_bytes = w->mem = info.mem_bytes;
		rc = hv_partition_new(cfg, &w->part);
		if (rc) {
			close(fd);
			return rc; /* failure() says why */
		}
		rc = hv_partition_restore(w->part, fd, paused ? HV_RESTORE_PAUSED : 0, err, sizeof(err));
	}
	close(fd);
	if (rc)
		snprintf(why, whylen, "cannot restore the saved state %s: %s", path,
			 err[0] ? err : strerror(-rc));
	return rc;
}

/* CONTROLLER:LOCATION:PATH; the path may itself hold colons. */
static int parse_disk(const char *arg, struct hv_disk_config *d)
{
	char *end;
	unsigned long c, l;

	c = strtoul(arg, &end, 10);
	if (end == arg || *end != ':' || c >= HV_MAX_SCSI_CONTROLLERS)
		return -1;
	arg = end + 1;
	l = strtoul(arg, &end, 10);
	if (end == arg || *end != ':' || l >= HV_MAX_SCSI_LOCATIONS || !end[1])
		return -1;
	d->controller = (unsigned)c;
	d->location = (unsigned)l;
	d->path = end + 1;
	d->read_only = 0;
	return 0;
}

static void usage(void)
{
	fprintf(stderr, "Usage: hv-worker --dir DIR --id ID --cpus N --memory BYTES --kernel FILE\n"
			"                 [--initrd FILE] [--cmdline TEXT] [--control-fd FD] [--ic-disabled MASK]\n"
			"                 [--memory-maximum BYTES] [--disk CONTROLLER:LOCATION:PATH]...\n"
			"       hv-worker --dir DIR --id ID --cpus N --memory BYTES --restore STATE [--paused] ...\n"
			"Runs one partition for hvd; not meant to be started by hand (see hv-worker(8)).\n");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "dir", required_argument, NULL, 'd' },   { "id", required_argument, NULL, 'i' },
		{ "cpus", required_argument, NULL, 'c' },  { "memory", required_argument, NULL, 'm' },
		{ "kernel", required_argument, NULL, 'k' }, { "initrd", required_argument, NULL, 'r' },
		{ "cmdline", required_argument, NULL, 'a' }, { "control-fd", required_argument, NULL, 'f' },
		{ "ic-disabled", required_argument, NULL, 'I' },
		{ "memory-maximum", required_argument, NULL, 'M' },
		{ "restore", required_argument, NULL, 's' }, { "paused", no_argument, NULL, 'p' },
		{ "disk", required_argument, NULL, 'D' },
		{ "help", no_argument, NULL, 'h' },        { NULL, 0, NULL, 0 },
	};
	struct worker w = { .log_fd = -1, .listen_fd = -1, .state = "Starting" };
	struct hv_partition_config cfg = { 0 };
	const char *kernel = NULL, *initrd = NULL, *cmdline = NULL, *restore = NULL;
	static struct hv_disk_config disks[HV_MAX_SCSI_CONTROLLERS * HV_MAX_SCSI_LOCATIONS];
	char logpath[4200], why[1024] = "";
	int c, rc, control = -1;
	bool paused = false;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'd': w.dir = optarg; break;
		case 'i': w.id = optarg; break;
		case 'c': w.vcpus = (unsigned)strtoul(optarg, NULL, 10); break;
		case 'm': w.mem = strtoull(optarg, NULL, 10); break;
		case 'M': w.mem_max = strtoull(optarg, NULL, 10); break;
		case 'k': kernel = optarg; break;
		case 'r': initrd = optarg; break;
		case 'a': cmdline = optarg; break;
		case 'f': control = atoi(optarg); break;
		case 'I': cfg.ic_disabled = (unsigned)strtoul(optarg, NULL, 0) & ((1u << HV_IC_COUNT) - 1); break;
		case 's': restore = optarg; break;
		case 'p': paused = true; break;
		case 'D':
			if (cfg.ndisks == sizeof(disks) / sizeof(disks[0]) ||
			    parse_disk(optarg, &disks[cfg.ndisks]) < 0) {
				fprintf(stderr, "hv-worker: --disk %s: want CONTROLLER:LOCATION:PATH, "
						"controller 0-%u, location 0-%u\n", optarg,
					HV_MAX_SCSI_CONTROLLERS - 1, HV_MAX_SCSI_LOCATIONS - 1);
				return 2;
			}
			cfg.ndisks++;
			break;
		default: usage(); return 2;
		}
	}
	if (!w.dir || !w.id || !w.vcpus || !w.mem || (!kernel && !restore)) {
		usage();
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	w.start_ns = now_ns(CLOCK_REALTIME);
	if (pipe2(w.stop_pipe, O_CLOEXEC) < 0 || pipe2(w.console_pipe, O_CLOEXEC | O_NONBLOCK) < 0)
		return 1;
	if (control >= 0) {
		fcntl(control, F_SETFD, FD_CLOEXEC);
		conn_add(&w, control);
	}
	snprintf(logpath, sizeof(logpath), "%s/console.log", w.dir);
	w.log_fd = open(logpath, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
	cfg.vcpus = w.vcpus;
	cfg.mem_bytes = w.mem;
	if (w.mem_max > w.mem) { /* dynamic memory: map Maximum, balloon down to Startup */
		cfg.mem_bytes = w.mem_max;
		cfg.dynamic_memory = 1;
	}
	cfg.console = on_console;
	cfg.console_opaque = &w;
	cfg.disks = disks;
	cfg.why = why;
	cfg.why_len = sizeof(why);
	if (restore)
		rc = restore_partition(&w, &cfg, restore, paused, why, sizeof(why));
	else
		rc = hv_partition_new(&cfg, &w.part);
	if (rc == 0 && !restore && cfg.dynamic_memory)
		rc = hv_partition_balloon_target(w.part, w.mem);
	if (rc == 0)
		why[0] = 0;
	if (rc == 0 && !restore)
		rc = hv_partition_load_kernel_file(w.part, kernel, initrd, cmdline);
	if (rc == 0) {
		w.listen_fd = listen_control(&w);
		if (w.listen_fd < 0) {
			struct wire_value *e = event("Failed");

			wire_object_add(e, "Errno", wire_int(-w.listen_fd));
			wire_object_add(e, "Message", wire_stringf("cannot listen on %s/worker.sock: %s", w.dir,
								   strerror(-w.listen_fd)));
			broadcast(&w, e);
			if (w.nconns)
				conn_flush(&w.conns[0]);
			hv_partition_free(w.part);
			return 1;
		}
	}
	if (rc == 0 && (rc = -pthread_create(&w.thread, NULL, run_thread, &w)) == 0) {
		struct wire_value *e = event("Started");

		wire_object_add(e, "Pid", wire_int(getpid()));
		wire_object_add(e, "UsableRam", wire_uint(hv_partition_usable_ram(w.part)));
		wire_object_add(e, "Restored", wire_bool(restore != NULL));
		w.state = "Running";
		broadcast(&w, e);
		if (restore && paused)
			set_state(&w, "Paused");
		serve(&w);
	} else {
		struct wire_value *e = event("Failed");

		wire_object_add(e, "Errno", wire_int(-rc));
		wire_object_add(e, "Message", wire_string(w.part && why[0] ? why : failure(rc, w.part != NULL, kernel, initrd, why)));
		broadcast(&w, e);
		if (w.nconns)
			conn_flush(&w.conns[0]);
	}
	if (w.listen_fd >= 0) {
		snprintf(logpath, sizeof(logpath), "%s/worker.sock", w.dir);
		unlink(logpath);
	}
	hv_partition_free(w.part);
	return rc ? 1 : 0;
}
