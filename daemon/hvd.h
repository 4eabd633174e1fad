/* hvd, the management service: what its files share. */
#ifndef HVKIT_HVD_H
#define HVKIT_HVD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "wire-protocol/wire.h"

enum hvd_log_level { HVD_LOG_ERROR, HVD_LOG_WARNING, HVD_LOG_INFO, HVD_LOG_DEBUG };
void hvd_log(enum hvd_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int hvd_log_open(const char *path, enum hvd_log_level level, bool to_stderr);

/* A VM definition, as vm.xml holds it (daemon/vm-schema.rng). */
struct hvd_vm {
	char id[37];
	char *name;
	char *notes;
	char *path;        /* where the VM's own files go (New-VM -Path) */
	int64_t created_ns;
	int generation;
	uint32_t proc_count;
	uint32_t proc_reserve;  /* percent */
	uint32_t proc_maximum;  /* percent */
	uint32_t proc_weight;
	uint64_t mem_startup;
	bool mem_dynamic;
	uint64_t mem_minimum;
	uint64_t mem_maximum;
	uint32_t mem_buffer;   /* percent */
	uint32_t mem_priority; /* 0-100 */
	char *kernel, *initrd, *cmdline; /* Set-VMFirmware; NULL: the built-in guest */
	uint32_t ic_disabled; /* bit (1 << HVD_IC_*): integration service turned off */
	char *load_error; /* set when vm.xml could not be loaded: the VM is OffCritical */
	int checkpoint_type;       /* HVD_CKPT_* (Set-VM -CheckpointType) */
	struct hvd_drive *drives;  /* hard disk drives, by controller number and location */
	size_t ndrives;
	char pool_id[37];          /* the pool it is a member of ("": none; daemon/pool.c) */
	char *pool_parent;         /* a member's golden image: the parent of its disk */
	struct wire_value *cached; /* its VirtualMachine object while it is off (procs.c) */
	/* Runtime, not saved: shared by the copies a change makes. */
	struct hvd_worker *worker; /* its running partition, or NULL */
	char *status;              /* why it last stopped, when not by a request (daemon/runtime.c) */
	uint64_t mem_target_sent;  /* dynamic memory: the last target its worker was given (memory.c) */
	bool saved;                /* STATE/vms/<Id>/saved-state.hvsav holds it (Save-VM) */
};

/* Integration services, in libhvcore's order (enum hv_ic), by Hyper-V's names. */
enum { HVD_IC_HEARTBEAT, HVD_IC_SHUTDOWN, HVD_IC_TIMESYNC, HVD_IC_KVP, HVD_IC_COUNT };
extern const char *const hvd_ic_names[HVD_IC_COUNT];

/* A hard disk drive of a VM (Add-VMHardDiskDrive): only SCSI, as generation 2 VMs have. */
struct hvd_drive {
	uint32_t controller; /* ControllerNumber 0-3 */
	uint32_t location;   /* ControllerLocation 0-63 */
	char *path;          /* the disk the VM writes: the newest layer of its chain */
};
#define HVD_MAX_DRIVES 256

enum { HVD_CKPT_PRODUCTION = 0, HVD_CKPT_STANDARD, HVD_CKPT_PRODUCTION_ONLY, HVD_CKPT_DISABLED };
const char *hvd_ckpt_type_name(int type);
int hvd_ckpt_type_parse(const char *s); /* -1 when unknown */

/* Hyper-V's documented limits. */
#define HVD_MAX_NAME 100
#define HVD_MAX_NOTES 4096
#define HVD_MAX_VCPUS 240
#define HVD_MEM_ALIGN (2ull << 20)
#define HVD_MEM_MIN (32ull << 20)
#define HVD_MEM_MAX (12ull << 40)

struct hvd_store {
	char *state_dir;
	char *vms_dir;
	struct hvd_vm **vms;
	size_t n, cap;
};

int hvd_store_open(const char *state_dir, struct hvd_store **out);
/* mkdir -p: 0 when the folder is there at the end. */
int hvd_mkdir_p(const char *path, mode_t mode);
void hvd_store_free(struct hvd_store *s);
struct hvd_vm *hvd_store_find_id(struct hvd_store *s, const char *id);
struct hvd_vm *hvd_store_find_name(struct hvd_store *s, const char *name);
/* Writes the VM's vm.xml atomically (temporary file, fsync, rename, fsync of the folder). */
int hvd_store_save(struct hvd_store *s, const struct hvd_vm *vm) __attribute__((warn_unused_result));
/* Adds a new VM (consumes vm) and saves it. */
int hvd_store_add(struct hvd_store *s, struct hvd_vm *vm) __attribute__((warn_unused_result));
/* Deletes the VM's folder under the state dir and forgets it. */
int hvd_store_remove(struct hvd_store *s, struct hvd_vm *vm) __attribute__((warn_unused_result));
struct hvd_vm *hvd_vm_new(const char *name);
struct hvd_vm *hvd_vm_dup(const struct hvd_vm *vm);
void hvd_vm_new_id(char out[37]); /* a random (version 4) UUID */
void hvd_vm_free(struct hvd_vm *vm);
/* Length in characters (code points) of UTF-8 text that has been validated. */
size_t hvd_utf8_chars(const char *s);
/* What is wrong with name as a VM's (or a pool's) name, HVD_NAME_OK when nothing. */
enum hvd_name_flaw { HVD_NAME_OK, HVD_NAME_EMPTY, HVD_NAME_LONG, HVD_NAME_CHARS, HVD_NAME_BLANK };
enum hvd_name_flaw hvd_name_flaw(const char *name);
/* Parses a vm.xml document held in memory and validates it against the schema and the
 * limits above.  On error *err is a message naming the line and what was wrong. */
int hvd_vm_from_xml(const char *buf, size_t len, struct hvd_vm **out, char **err);
int hvd_vm_to_xml(const struct hvd_vm *vm, char **buf, size_t *len);
/* Ends the document libxml2's writer w has written into xb (bad: a step failed), frees both and
 * hands out the text (NUL-terminated) in buf, len. -EIO when a step failed. */
struct _xmlTextWriter;
struct _xmlBuffer;
int hvd_xml_take(struct _xmlTextWriter *w, struct _xmlBuffer *xb, int bad, char **buf, size_t *len);
const char *hvd_vm_schema(void);
/* The relations between memory settings the schema cannot express; message into err. */
int hvd_vm_check_memory(const struct hvd_vm *vm, char *err, size_t errlen);

/* Who is asking, from SO_PEERCRED. */
struct hvd_peer {
	uid_t uid;
	gid_t gid;
	pid_t pid;
	char user[64];
	const char *socket_path;
	bool read_only;
};

struct hvd;
struct hvd_client;

/* Procedures (daemon/procs.c).  A handler returns a wire status; on WIRE_OK *reply holds
 * the reply (a list of objects, ErrorRecord items being non-terminating errors), otherwise
 * an ErrorRecord. */
typedef int (*hvd_proc_fn)(struct hvd *d, struct hvd_client *c, const struct wire_value *args,
			   struct wire_value **reply);
hvd_proc_fn hvd_proc_handler(uint32_t procedure);

/* A handler's answer will come later, through hvd_reply_to (a partition starting...). */
#define HVD_DEFERRED (-1000)

/* Running partitions (daemon/runtime.c). */
struct pollfd;
struct hvd_worker;
struct hvd_vm_live {
	const char *state; /* Off, OffCritical, Starting, Running, Paused, Stopping */
	bool running;
	int64_t uptime_ns;
	int cpu_usage;     /* percent of its virtual processors */
	uint64_t memory;
	pid_t pid;
};
void hvd_runtime_init(void);
const char *hvd_guest_path(void);
size_t hvd_runtime_pollfds(struct pollfd *p, size_t max);
void hvd_runtime_handle(struct hvd *d, const struct pollfd *p, size_t n);
void hvd_runtime_tick(struct hvd *d);
void hvd_runtime_rediscover(struct hvd *d);
int hvd_runtime_start(struct hvd *d, struct hvd_vm *vm, uint64_t client, uint32_t serial, uint32_t proc,
		      struct wire_value **reply);
int hvd_runtime_stop(struct hvd *d, struct hvd_vm *vm, bool turn_off, bool force, bool restart, uint64_t client,
		     uint32_t serial, uint32_t proc, struct wire_value **reply);
/* Forwards a call to the VM's worker (consumes args); the client gets the VM when it is done. */
int hvd_runtime_forward(struct hvd *d, struct hvd_vm *vm, uint32_t worker_proc, struct wire_value *args,
			uint64_t client, uint32_t serial, uint32_t proc, struct wire_value **reply);
void hvd_runtime_describe(const struct hvd_vm *vm, struct hvd_vm_live *live);
/* Starts a VM's worker from a saved state (restore; NULL: boots), paused if asked. */
int hvd_runtime_start_from(struct hvd *d, struct hvd_vm *vm, const char *restore, bool paused, uint64_t client,
			   uint32_t serial, uint32_t proc, struct wire_value **reply);
/* hvd's own calls to a worker: done gets the reply (WIRE_OK) or an error and its record
 * (payload may be NULL), with the VM's id (the VM may be gone, or a new copy). */
typedef void (*hvd_worker_done_fn)(struct hvd *d, const char *vm_id, void *ctx, int status,
				   const struct wire_value *payload);
/* -ESRCH not running, -EBUSY too many calls at once (args consumed either way). */
int hvd_runtime_call(struct hvd *d, struct hvd_vm *vm, uint32_t worker_proc, struct wire_value *args,
		     hvd_worker_done_fn done, void *ctx);
/* Ends the VM's worker with SIGKILL and treats it as gone at once, without waiting for the
 * process to finish exiting (a pool reset, which throws the partition away). -ESRCH: none. */
int hvd_runtime_kill(struct hvd *d, struct hvd_vm *vm);
/* Turns the VM off and calls done once its worker is gone (at once when it has none). */
int hvd_runtime_when_off(struct hvd *d, struct hvd_vm *vm, hvd_worker_done_fn done, void *ctx);

/* Checkpoints and saved state (daemon/checkpoint.c). */
/* At startup: finishes or undoes what a crash interrupted, reports orphans, marks Saved VMs. */
void hvd_ckpt_startup(struct hvd_store *s);
const char *hvd_ckpt_saved_path(struct hvd *d, const struct hvd_vm *vm);
/* A VM started from its saved state: the state is used up. */
void hvd_ckpt_saved_consumed(struct hvd *d, struct hvd_vm *vm);
/* A VM's worker is gone: the disk layers a Remove-VMCheckpoint could not merge underneath it
 * are merged now. */
void hvd_ckpt_vm_off(struct hvd *d, struct hvd_vm *vm);
/* How many checkpoints the VM has and the one its state descends from (NULL: none; valid until
 * the next call); true when that changed since the last call for this VM. */
bool hvd_ckpt_summary(const struct hvd_vm *vm, int *count, const char **current);
/* Whether path is a disk a running VM's chain uses (then it cannot change); who in *vm_name. */
bool hvd_disk_in_use(struct hvd_store *s, const char *path, const struct hvd_vm *except, const char **vm_name);
int hvd_runtime_console_input(struct hvd_vm *vm, const struct wire_value *bytes);
size_t hvd_runtime_count(void);
/* The running VM's last sample from its worker (a WorkerStatus object: Processors, and the
 * VMBus's Channels and IntegrationServices), or NULL; borrowed, valid until the next event. */
const struct wire_value *hvd_runtime_sample(const struct hvd_vm *vm);
/* Dynamic memory (daemon/memory.c): the policy, run once a second; the budget (0: what the
 * host has available); a running VM's VMMemoryStatus from its worker (NULL without dynamic
 * memory) and Hyper-V's MemoryStatus word for it ("" when none). */
void hvd_memory_tick(struct hvd *d);
void hvd_memory_budget_set(uint64_t bytes);
const struct wire_value *hvd_memory_status(const struct hvd_vm *vm);
const char *hvd_memory_health(const struct hvd_vm *vm);
/* Tells a running VM's worker something without waiting for its answer (args consumed). */
void hvd_runtime_notify(struct hvd_vm *vm, uint32_t worker_proc, struct wire_value *args);
/* Processor limits through cgroup v2 (daemon/cgroup.c): true when enforced; note says. */
bool hvd_cgroup_apply(const struct hvd_vm *vm, pid_t pid, char *note, size_t notelen);
/* What the last application of a running VM's limits said, or NULL when it is off. */
const char *hvd_runtime_limits(const struct hvd_vm *vm, bool *enforced);
/* Applies a running VM's limits again after they changed. */
void hvd_runtime_limits_changed(struct hvd_vm *vm);
/* A reply holding the VM's object (procs.c). */
struct wire_value *hvd_vm_reply(const struct hvd_vm *vm);

/* Pools (daemon/pool.c): loaded at startup (members whose reset a crash interrupted get their
 * disk again); a pool's name by its id (NULL: none); whether path is a golden image a pool
 * uses (then it cannot change; which pool in *pool); a member's worker is gone. */
void hvd_pool_startup(struct hvd_store *s);
void hvd_pool_shutdown(void);
const char *hvd_pool_name(const char *pool_id);
bool hvd_pool_golden_in_use(const char *path, const char **pool);
void hvd_pool_vm_off(struct hvd *d, struct hvd_vm *vm);
/* At startup, once running workers are found again: vm has no worker, and lost says its worker
 * was running when hvd went down; stopped is when vm last stopped (its last-stop file; NULL:
 * never). A member that stopped while hvd was not running is rolled back as hvd_pool_vm_off
 * would have done. */
void hvd_pool_vm_found_off(struct hvd *d, struct hvd_vm *vm, bool lost,
			   const struct timespec *stopped);
/* A member was removed (Remove-VM): its disk files go too. */
void hvd_pool_vm_removed(const char *pool_id, const char *vm_id);

/* VHD operations run in threads (daemon/vhd.c): their answers come back through this fd. */
int hvd_vhd_init(void);
int hvd_vhd_fd(void);
void hvd_vhd_complete(struct hvd *d);

/* Where-Object filters evaluated for VM.List (daemon/filter.c). */
int hvd_filter_check(const struct wire_value *filter, struct wire_value **reply);
bool hvd_filter_keep(const struct wire_value *filter, const struct wire_value *obj);

/* Server (daemon/server.c). */
struct hvd_config {
	const char *socket_path;
	const char *ro_socket_path;
	const char *state_dir;
	int ready_fd; /* >= 0: write one 0 byte there and close it once listening */
	const char *group; /* owner group of the main socket (NULL: none) */
	bool group_given;  /* --group named it (a missing group is then an error to report) */
};
int hvd_server_run(struct hvd_config *cfg, struct hvd_store *store);
void hvd_server_stop(void);
const struct hvd_peer *hvd_client_peer(const struct hvd_client *c);
uint32_t hvd_client_serial(const struct hvd_client *c);
uint64_t hvd_client_id(const struct hvd_client *c);
/* Samples: every second, an event VMSamples {Time, VMs: [VirtualMachine...]} (procs.c). */
void hvd_client_samples(struct hvd_client *c, uint32_t serial, unsigned every_seconds);
struct wire_value *hvd_samples_event(struct hvd *d);
/* Answers a deferred call of a client that may have gone meanwhile (consumes payload). */
void hvd_reply_to(struct hvd *d, uint64_t client, uint32_t serial, uint32_t proc, int status,
		  struct wire_value *payload);
/* Console streams: a client attached to a VM's console gets its output as stream frames. */
void hvd_client_console(struct hvd_client *c, const char *vm_id, uint32_t serial);
void hvd_console_output(struct hvd *d, const char *vm_id, const void *buf, size_t len);
void hvd_console_end(struct hvd *d, const char *vm_id); /* the VM stopped: streams end */
/* Subscriptions. */
int hvd_client_subscribe(struct hvd_client *c, uint32_t serial);
void hvd_client_unsubscribe(struct hvd_client *c);
/* Sends an event (consumed) to every subscriber. */
void hvd_broadcast_event(struct hvd *d, struct wire_value *event);
struct hvd_store *hvd_get_store(struct hvd *d);
int64_t hvd_started_ns(const struct hvd *d);

/* Audit log (daemon/audit.c): one JSON line per mutating call. */
int hvd_audit_open(const char *state_dir);
void hvd_audit_record(const struct hvd_peer *peer, uint32_t procedure, const struct wire_value *args,
		      int status, const struct wire_value *reply);
void hvd_audit_close(void);

int64_t hvd_now_ns(void);

#endif
