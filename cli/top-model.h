/*
 * hvtop's model: what the dashboard knows about the host, built from the daemon's sample
 * stream (Samples.Subscribe: every VM's object once a second) and its events
 * (Events.Subscribe), plus the order and filter the user chose.  The views (top-view.c for
 * the terminal, top-batch.c for plain text) only read it.  It knows nothing of ncurses or
 * of sockets, so batch mode and the tests share it.
 */
#ifndef HVKIT_TOP_MODEL_H
#define HVKIT_TOP_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "wire-protocol/wire.h"

/* CPU% samples kept per VM for the sparkline (one per sample, so a minute). */
#define TOP_HISTORY 60
/* Events kept for the events pane. */
#define TOP_EVENTS 64

enum top_col {
	TOP_COL_NAME,
	TOP_COL_STATE,
	TOP_COL_CPU,
	TOP_COL_MEMORY,
	TOP_COL_UPTIME,
	TOP_COL_HEARTBEAT,
	TOP_COL_CHECKPOINTS,
	TOP_COL_POOL,
	TOP_COL_STATUS,
	TOP_NCOLS
};

/* A vCPU of a running VM: totals from the last sample and rates over the last interval. */
struct top_cpu {
	uint64_t cpu_ns, exits;
	double usage;      /* percent of one host processor */
	double exits_rate; /* per second */
};

/* Counters of a VMBus channel that hvtop shows as rates. */
enum { TOP_PKT_IN, TOP_PKT_OUT, TOP_BYTES_IN, TOP_BYTES_OUT, TOP_INTR_IN, TOP_INTR_OUT, TOP_NRATES };

struct top_chan {
	uint64_t id;
	char name[32], state[12];
	uint64_t total[TOP_NRATES];
	double rate[TOP_NRATES]; /* per second */
	uint64_t in_used, in_size, out_used, out_size;
	uint32_t history[TOP_HISTORY]; /* packets per second, both ways, oldest first once full */
	unsigned nhistory, history_head;
	bool seen;
};

struct top_vm {
	char *name, *id, *state, *status;
	int64_t cpu;       /* CPUUsage, percent */
	uint64_t memory;   /* MemoryAssigned, bytes */
	int64_t uptime_ns; /* Uptime */
	struct wire_value *obj; /* the last VirtualMachine object (one reference), for details */
	char *pending;     /* the action in flight on this VM ("Start-VM"), or NULL */
	uint8_t history[TOP_HISTORY]; /* CPU%, oldest first once full */
	unsigned nhistory, history_head;
	bool seen;         /* in the last sample */
	char *heartbeat;   /* the heartbeat service's health ("OK", "No Contact", ...), "" when off */
	int64_t checkpoints; /* CheckpointCount */
	char *pool;          /* PoolName, "" when in no pool */
	struct top_cpu *cpus; /* from the worker's sample, while running */
	size_t ncpus;
	struct top_chan *chans;
	size_t nchans;
	int64_t detail_ns; /* sample time of cpus and chans */
	bool detailed;     /* the last sample had them */
};

struct top_event {
	int64_t time_ns;
	char text[192];
};

struct top_model {
	struct top_vm *vms;
	size_t nvms, capvms;
	int64_t sample_time_ns; /* Time of the last sample */
	unsigned long nsamples;
	struct top_event events[TOP_EVENTS]; /* a ring: events[(first + i) % TOP_EVENTS] */
	size_t nevents, first_event;
	unsigned long events_total; /* ever added, so a view can tell which are new */
	/* What the views show: indexes into vms, filtered and sorted by top_model_rows(). */
	size_t *rows;
	size_t nrows;
	enum top_col sort;
	bool reverse;
	char filter[64];
};

void top_model_init(struct top_model *m);
/* Whether any VM is a member of a pool (then the table has a Pool column). */
bool top_model_has_pools(const struct top_model *m);
void top_model_free(struct top_model *m);
/* Takes in a VMSamples object (borrowed): VMs are added, updated and, when gone from the
 * sample, removed; each VM's CPU% history grows by one.  -EBADMSG when it is not one. */
int top_model_samples(struct top_model *m, const struct wire_value *samples);
/* Takes in a VMEvent object (borrowed): adds a line to the events and updates the VM's
 * state or name at once, so the table need not wait for the next sample. */
void top_model_vm_event(struct top_model *m, const struct wire_value *ev);
/* Adds a line of hvtop's own (an action's outcome) to the events. */
void top_model_note(struct top_model *m, int64_t time_ns, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* The i-th most recent event (0: the newest), or NULL. */
const struct top_event *top_model_event(const struct top_model *m, size_t i);
/* Recomputes rows from the filter and the sort order. */
void top_model_rows(struct top_model *m);
struct top_vm *top_model_find(struct top_model *m, const char *id);
size_t top_model_running(const struct top_model *m);
/* A column's name as the table's header shows it, and as -s takes it (key). */
const char *top_col_title(enum top_col c);
const char *top_col_key(enum top_col c);
int top_col_parse(const char *s, enum top_col *out);
/* "1.02:03:04" (days.hours:minutes:seconds, days only when there are some). */
void top_format_uptime(char *buf, size_t len, int64_t ns);
/* The CPU% history, oldest first, into out (up to TOP_HISTORY); returns how many. */
unsigned top_vm_history(const struct top_vm *vm, uint8_t *out);
/* A channel's packets-per-second history, oldest first; returns how many. */
unsigned top_chan_history(const struct top_chan *c, uint32_t *out);

#endif
