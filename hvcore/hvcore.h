/* libhvcore: partitions on KVM.
 *
 * A partition is one KVM virtual machine: guest RAM, the in-kernel LAPIC/IOAPIC/PIT, one
 * thread per vCPU, a 16550 UART on COM1, ACPI tables, ACPI power-off and reset. Every
 * function returns 0 or a negative errno; the library never prints and never exits.
 *
 * Life cycle: hv_partition_new() -> hv_partition_load_*() -> hv_partition_run() (blocks until
 * the guest powers off, resets, crashes, or hv_partition_stop() is called from another
 * thread) -> hv_partition_free(). hv_partition_pause/resume/stop/console_input/vcpu_stats
 * may be called from any thread while hv_partition_run() blocks.
 *
 * Signals: vCPU threads are kicked out of KVM_RUN with HV_KICK_SIGNAL; hv_partition_new()
 * installs a do-nothing handler for it (without SA_RESTART) if the process has none.
 */
#ifndef HVCORE_HVCORE_H
#define HVCORE_HVCORE_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#define HV_WUR __attribute__((warn_unused_result))

#define HV_KICK_SIGNAL (SIGRTMIN + 3)

/* Largest partition the library builds (ACPI MADT size, APIC ids below 255). */
#define HV_MAX_VCPUS 64
#define HV_MIN_MEM (16ULL << 20)
#define HV_MAX_CMDLINE 4096

/* File name of the built-in guest, installed in $(pkgdatadir) (HVKIT_PKGDATADIR). */
#define HV_GUEST_NAME "hvguest"

/* Serial console output: called from vCPU threads with the UART lock held, so it must not
 * call back into the partition. */
typedef void hv_console_fn(void *opaque, const void *buf, size_t len);

/* A virtual disk on the synthetic SCSI controller (VMBUS.md, Storage). Hyper-V's
 * ControllerNumber and ControllerLocation: one SCSI channel per controller number in use,
 * the disk at LUN `location` of target 0. The VHDX is opened read-write (its parents
 * read-only) and locked against other writers for as long as the partition lives. */
#define HV_MAX_SCSI_CONTROLLERS 4
#define HV_MAX_SCSI_LOCATIONS 64
struct hv_disk_config {
	const char *path;
	unsigned controller; /* 0..HV_MAX_SCSI_CONTROLLERS-1 */
	unsigned location;   /* 0..HV_MAX_SCSI_LOCATIONS-1 */
	int read_only;       /* nonzero: opened read-only, writes get DATA PROTECT */
};

struct hv_partition_config {
	unsigned vcpus;         /* 1..min(HV_MAX_VCPUS, KVM's limit) */
	uint64_t mem_bytes;     /* guest RAM, >= HV_MIN_MEM, multiple of 2 MiB */
	hv_console_fn *console; /* COM1 output; NULL: write to console_fd */
	void *console_opaque;
	int console_fd;         /* used when console is NULL and console_fd > 0: a zeroed
				 * config drops the output instead of writing to stdin */
	const char *kvm_path;   /* NULL: /dev/kvm */
	unsigned ic_disabled;   /* bit (1u << enum hv_ic) set: that integration service is not
				 * offered at start */
	int vmbus_off;          /* nonzero: no Hyper-V surface and no VMBus at all (a plain KVM
				 * guest) */
	int vmbus_no_stats;     /* nonzero: channel counters not collected (for the
				 * statistics-cost bench) */
	int vmbus_echo;         /* nonzero: also offer the hvkit loopback channel that echoes
				 * what the guest sends (tests and bench/vmbus-bench.sh only) */
	const struct hv_disk_config *disks; /* ndisks entries, borrowed during _new only */
	unsigned ndisks;
	char *why;              /* optional: on a failure of hv_partition_new, a sentence naming
				 * what failed (a disk: its path and libvhdx's reason) */
	size_t why_len;
	int scsi_poll;          /* the SCSI controllers' I/O threads poll the request ring while
				 * a guest sends requests fast, so that it need not signal (an
				 * exit) for each: 0 when the host has 2 or more CPUs, 1 always,
				 * -1 never (vsp-storvsc.c) */
	int dynamic_memory;     /* nonzero: offer the Dynamic Memory (balloon) channel; mem_bytes
				 * is then MaximumBytes and hv_partition_balloon_target sets what
				 * the guest keeps (vsp-balloon.c) */
};

/* Hyper-V integration services, offered as VMBus channels (VMBUS.md). */
enum hv_ic { HV_IC_HEARTBEAT, HV_IC_SHUTDOWN, HV_IC_TIMESYNC, HV_IC_KVP, HV_IC_COUNT };

enum hv_stop_reason {
	HV_STOP_NONE = 0,
	HV_STOP_POWEROFF,     /* ACPI S5 through the FADT PM1a control port */
	HV_STOP_RESET,        /* port 0xcf9 or keyboard controller 0x64 */
	HV_STOP_REQUESTED,    /* hv_partition_stop() (Stop-VM -TurnOff) */
	HV_STOP_TRIPLE_FAULT, /* KVM_EXIT_SHUTDOWN */
	HV_STOP_INTERNAL_ERROR, /* KVM_EXIT_INTERNAL_ERROR: often an instruction KVM cannot emulate */
	HV_STOP_FAIL_ENTRY,   /* KVM_EXIT_FAIL_ENTRY */
	HV_STOP_UNHANDLED_EXIT, /* an exit reason the VMM does not handle */
	HV_STOP_HOST_ERROR,   /* KVM_RUN or another host call failed: see error */
};

struct hv_stop_info {
	enum hv_stop_reason reason;
	int vcpu;             /* vCPU that caused it, -1 when none */
	uint64_t rip;         /* guest RIP at the time, when vcpu >= 0 */
	uint32_t exit_reason; /* raw KVM exit reason */
	uint32_t suberror;    /* KVM internal error suberror */
	uint8_t insn[15];     /* instruction bytes KVM reported, if any */
	unsigned insn_len;
	int error;            /* negative errno for HV_STOP_HOST_ERROR */
};

struct hv_vcpu_stats {
	uint64_t exits;       /* every return from KVM_RUN */
	uint64_t io_exits;
	uint64_t mmio_exits;
	uint64_t intr_exits;  /* returns caused by a signal (pause, stop) */
	uint64_t other_exits;
	uint64_t run_ns;      /* wall time spent inside KVM_RUN */
	uint64_t cpu_ns;      /* CPU time of the vCPU thread (user + system) */
	/* KVM's own counters (binary stats), 0 where the host has none. They include exits KVM
	 * handles in the kernel; on nested, emulating KVMs insn_emulation is the big one. */
	uint64_t kvm_exits;
	uint64_t kvm_halt_exits;
	uint64_t kvm_insn_emulation;
};

struct hv_partition;

/* Creates the KVM VM, its memory, irqchip, PIT and vCPUs (not running yet). *out is owned by
 * the caller. -EINVAL bad config, -E2BIG vcpus over KVM's limit, -ENOMEM no memory,
 * -ENOENT/-EACCES /dev/kvm cannot be opened, -ENOTSUP KVM lacks a needed capability. A disk
 * that cannot be opened fails with libvhdx's errno (-EBUSY: in use by another writer,
 * -ENOENT, -EBADMSG ...) and cfg->why names the disk and the reason. */
HV_WUR int hv_partition_new(const struct hv_partition_config *cfg, struct hv_partition **out);

/* Loads a kernel image from memory: a 64-bit ELF (PVH note optional) or a Linux bzImage
 * (boot protocol 2.12+ with a 64-bit entry). Builds e820, ACPI tables, page tables and
 * the boot registers; cmdline may be NULL; initrd may be NULL. The buffers are copied.
 * -ENOEXEC not a known format, -EBADMSG corrupt image, -ENOTSUP valid but unsupported,
 * -E2BIG image, initrd or command line does not fit, -EALREADY already loaded.
 *
 * Entry state for an ELF: 64-bit mode at e_entry, the first 4 GiB identity-mapped with 2 MiB
 * pages, CS 0x10 DS/SS 0x18, interrupts off, RBX = PVH hvm_start_info (memmap, cmdline,
 * rsdp, initrd as module 0), RSI = Linux boot_params (e820, cmdline). For a bzImage: the
 * Linux 64-bit boot protocol, same mode, RIP = 0x100000 + 0x200, RSI = boot_params. */
HV_WUR int hv_partition_load_kernel(struct hv_partition *p, const void *kernel, size_t kernel_len,
				    const void *initrd, size_t initrd_len, const char *cmdline);

/* Same, reading kernel_path and (if not NULL) initrd_path. -ENOENT etc. from open(). */
HV_WUR int hv_partition_load_kernel_file(struct hv_partition *p, const char *kernel_path,
					 const char *initrd_path, const char *cmdline);

/* Runs every vCPU in its own thread and blocks until the partition stops; *info (may be NULL)
 * says why. Returns 0 when the run ended (whatever the reason), -errno if it could not start.
 * A partition runs once: a second call returns -EALREADY. */
HV_WUR int hv_partition_run(struct hv_partition *p, struct hv_stop_info *info);

/* Ends a run from another thread: hv_partition_run returns with HV_STOP_REQUESTED. */
int hv_partition_stop(struct hv_partition *p);

/* Takes every vCPU out of the guest and holds it until resume. Returns once all are held.
 * -EINVAL if not running, -EALREADY if already paused. */
HV_WUR int hv_partition_pause(struct hv_partition *p);
HV_WUR int hv_partition_resume(struct hv_partition *p);

/* Presses the ACPI fixed-feature power button (PM1 PWRBTN_STS, then an SCI if the guest
 * enabled it): the polite way to ask a guest to shut down. The run ends only if the guest
 * powers off in answer. */
HV_WUR int hv_partition_power_button(struct hv_partition *p);

/* Queues bytes to COM1's receiver (the console's keyboard). Returns bytes taken (the FIFO
 * may be full), never blocks. */
HV_WUR int hv_partition_console_input(struct hv_partition *p, const void *buf, size_t len);

HV_WUR int hv_partition_vcpu_stats(struct hv_partition *p, unsigned vcpu,
				   struct hv_vcpu_stats *out);

unsigned hv_partition_vcpu_count(const struct hv_partition *p);

/* Sum of the usable (type 1) e820 ranges the partition gives its guest. */
uint64_t hv_partition_usable_ram(const struct hv_partition *p);

/* Host address of guest physical gpa..gpa+len, or NULL when not all in RAM. */
void *hv_partition_gpa(struct hv_partition *p, uint64_t gpa, uint64_t len);

/* Saved state (hvcore/save.c; the format is hvcore/STATEFILE.md). */
struct hv_state_info {
	unsigned vcpus;
	uint64_t mem_bytes;
	int64_t saved_ns; /* CLOCK_REALTIME when saved */
};

/* Writes the whole partition state into fd (a new, empty regular file; the caller syncs and
 * renames it): vCPUs, interrupt controllers, PIT, clock, devices and guest memory (zero
 * pages as holes). The partition must be paused (hv_partition_pause) or loaded and not yet
 * run; it is left as it was. -EBUSY otherwise. */
HV_WUR int hv_partition_save(struct hv_partition *p, int fd);

/* Reads the header of a saved state, checking every section but memory, so the caller can
 * build a partition of the right size. -EBADMSG corrupt, -ENOTSUP newer or unknown required
 * parts; err (may be NULL) gets a sentence saying what was wrong. */
HV_WUR int hv_state_info_read(int fd, struct hv_state_info *out, char *err, size_t errlen);

/* Checks a saved state completely, memory checksum included (reads the whole file). */
HV_WUR int hv_state_verify(int fd, char *err, size_t errlen);

/* Loads a saved state into a partition just made by hv_partition_new with the same vcpus and
 * mem_bytes (instead of hv_partition_load_*); hv_partition_run then continues the guest
 * where it was saved. Guest memory becomes a private mapping of fd (read on first touch; fd
 * may be closed afterwards, and the file must not change while the partition lives);
 * HV_RESTORE_VERIFY reads it in and checks its checksum instead. -EINVAL another size,
 * -EBADMSG/-ENOTSUP as hv_state_info_read, -EALREADY already loaded. */
#define HV_RESTORE_VERIFY 1u
#define HV_RESTORE_PAUSED 2u /* hv_partition_run starts it paused: hv_partition_resume runs it */
HV_WUR int hv_partition_restore(struct hv_partition *p, int fd, unsigned flags, char *err, size_t errlen);

const char *hv_stop_reason_name(enum hv_stop_reason r);

/* VMBus (VMBUS.md). Every function below may be called from any thread, also while
 * hv_partition_run() blocks; with vmbus_off they report nothing connected. */
struct hv_vmbus_info {
	uint32_t version;      /* negotiated, (major << 16) | minor; 0 = guest not connected */
	unsigned channels;     /* offered */
	uint64_t bad_messages; /* refused hostile messages, all channels (channel messages
				* and every channel's bad_packets) */
};

enum hv_channel_state {
	HV_CHANNEL_OFFERED,
	HV_CHANNEL_OPEN,
	HV_CHANNEL_CLOSED,
	HV_CHANNEL_RESCINDED,
	HV_CHANNEL_FAULTED, /* the guest broke the ring protocol: the host ignores the channel */
};

struct hv_vmbus_channel_stats {
	uint32_t relid;
	char name[32]; /* "Heartbeat", "Shutdown", "Time Synchronization", "Key-Value Pair Exchange" */
	char interface_type[37], instance_id[37]; /* lower-case GUID strings */
	enum hv_channel_state state;
	uint64_t packets_in, packets_out, bytes_in, bytes_out; /* in = guest to host */
	uint64_t interrupts_in, interrupts_out; /* guest's signals to the host; host's to the guest */
	uint64_t ring_full;   /* host writes that found no room in the host-to-guest ring */
	uint64_t throttled;   /* host signals left out because the guest masked its interrupt */
	uint64_t bad_packets; /* malformed packets or ring indexes from the guest */
	uint32_t in_ring_size, in_ring_used, in_ring_high;
	uint32_t out_ring_size, out_ring_used, out_ring_high;
};

HV_WUR int hv_partition_vmbus_info(struct hv_partition *p, struct hv_vmbus_info *out);

/* Fills up to max entries, returns how many channels there are (may exceed max). */
HV_WUR int hv_partition_vmbus_channels(struct hv_partition *p, struct hv_vmbus_channel_stats *out,
				       size_t max);

enum hv_ic_health { HV_IC_NO_CONTACT, HV_IC_OK, HV_IC_LOST_COMMUNICATION, HV_IC_DISABLED };

struct hv_ic_status {
	int enabled, open;
	enum hv_ic_health health;
	uint32_t version;         /* negotiated service version, (major << 16) | minor */
	uint64_t last_contact_ns; /* CLOCK_MONOTONIC of the last answer, 0 none */
};

/* Heartbeat health: the host asks every second; OK when the guest answered within about
 * 3 s, LOST_COMMUNICATION when it answered once but not recently, NO_CONTACT never. Other
 * services: OK once they answered. -EINVAL bad ic. */
HV_WUR int hv_partition_ic_status(struct hv_partition *p, enum hv_ic ic, struct hv_ic_status *out);

/* Live: enabling offers the channel, disabling rescinds it. -EINVAL bad ic, -ENOTSUP with
 * vmbus_off. */
HV_WUR int hv_partition_ic_enable(struct hv_partition *p, enum hv_ic ic, int on);

/* Asks the guest to shut down (or reboot) through the shutdown service; reason (may be
 * NULL) is shown to the guest. -ENOTCONN when that channel is not open, -EAGAIN when its
 * ring is full. */
HV_WUR int hv_partition_guest_shutdown(struct hv_partition *p, int reboot, const char *reason);

/* Per-disk statistics of the synthetic SCSI controllers. Latencies are from the request
 * leaving the ring to its completion going in (the host's share, queueing included);
 * lat_p99_ns is the upper edge of a power-of-two histogram bucket. */
struct hv_disk_stats {
	unsigned controller, location;
	char path[256];
	uint64_t read_ops, write_ops, read_bytes, write_bytes;
	uint64_t flushes, unmaps, errors; /* errors: commands answered with CHECK CONDITION */
	uint64_t inline_ops;              /* of all commands, those done on the vCPU that took
					     them from the ring (the fast path, no I/O thread) */
	uint32_t queue_depth;             /* requests taken from the ring, not yet completed */
	uint64_t lat_mean_ns, lat_p99_ns; /* over every completed command, 0 before any */
};

/* Fills up to max entries (controller, then location order); returns how many disks the
 * partition has. */
HV_WUR int hv_partition_disk_stats(struct hv_partition *p, struct hv_disk_stats *out, size_t max);

/* The disks while the partition is held (hv_partition_pause, or loaded and not yet run):
 * quiesce waits until no request of any SCSI controller is in flight (taken from the ring and
 * not completed) and flushes every disk, so the images hold everything the guest was told
 * is written. Call it before hv_partition_save: a saved state and its disks then agree.
 * -EBUSY not held; a flush error is returned and why (may be NULL) names the disk. */
HV_WUR int hv_partition_disks_quiesce(struct hv_partition *p, char *why, size_t why_len);

/* A disk's new backing: path, a differencing child of the disk's current layer (a checkpoint).
 * With create, it is made first (-EEXIST if it exists); else it must exist already. */
struct hv_disk_switch {
	unsigned controller, location;
	const char *path; /* absolute, shorter than 256 bytes */
	int create;
};

/* Quiesced and held: every disk of sw[0..n) moves to its new layer, all or none. Each new
 * layer is created or opened (read-write, locked) and checked to be the same disk (size,
 * sector size, Virtual Disk ID, with a parent) before any disk moves; then the controllers
 * use them and the old layers are closed (they stay as the new ones' read-only parents).
 * On failure no disk moved, the files made here are removed, and why names the disk.
 * -EBUSY not held, -EINVAL a disk named twice or a bad path, -ENOENT no such disk, or
 * libvhdx's errno. */
HV_WUR int hv_partition_disk_switch(struct hv_partition *p, const struct hv_disk_switch *sw, unsigned n,
				    char *why, size_t why_len);

/* Hyper-V's names: "Heartbeat", "Shutdown", "Time Synchronization", "Key-Value Pair
 * Exchange"; NULL for a bad value. */
const char *hv_ic_name(enum hv_ic ic);

/* Dynamic memory (vsp-balloon.c, VMBUS.md). The partition maps mem_bytes (MaximumBytes);
 * the guest's balloon driver gives pages back until it holds the target, and takes them
 * again when the target rises. Pages the guest gives are released on the host. */
struct hv_balloon_status {
	int connected;           /* the guest negotiated version and capabilities */
	int busy;                /* a balloon or unballoon transaction is under way */
	uint32_t version;        /* protocol, (major << 16) | minor; 0 none */
	uint64_t mem_bytes;      /* guest RAM mapped (MaximumBytes) */
	uint64_t target_bytes;   /* what the host wants the guest to hold */
	uint64_t assigned_bytes; /* mem_bytes less the balloon */
	uint64_t balloon_pages;  /* 4 KiB pages the guest gave and holds no more */
	uint64_t committed_pages, avail_pages; /* the guest's last status report */
	uint64_t demand_bytes;   /* committed less the balloon; 0 before the first report */
	uint64_t reports;        /* status reports taken */
	uint64_t last_report_ns; /* CLOCK_MONOTONIC, 0 none */
	uint64_t hostile;        /* refused guest messages */
	uint64_t released_bytes, returned_bytes; /* totals: given up by the guest, given back */
	uint64_t timeouts;       /* transactions the guest never finished */
};

/* Sets the target (bytes, HV_MIN_MEM..mem_bytes; rounded down to pages) and starts moving
 * towards it. -ENOTSUP without dynamic_memory, -ERANGE out of range. */
HV_WUR int hv_partition_balloon_target(struct hv_partition *p, uint64_t bytes);
HV_WUR int hv_partition_balloon_status(struct hv_partition *p, struct hv_balloon_status *out);

/* Frees a partition that is not running (hv_partition_run has returned or never ran).
 * hv_partition_free(NULL) does nothing. */
void hv_partition_free(struct hv_partition *p);

#endif
