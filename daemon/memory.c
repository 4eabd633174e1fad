/*
 * Dynamic memory: hvd's policy (Hyper-V's, as its documentation describes it). Once a second,
 * for each running VM with dynamic memory, the guest's demand (its committed memory, from the
 * worker's sample) gives a target of demand x (1 + Buffer%), clamped to [Minimum, Maximum].
 * When the targets together exceed the host's budget (--memory-budget, else what the host
 * has available plus what the VMs already hold), VMs are served in order of Priority, each
 * as long as those after it keep their Minimum: the lowest priorities yield first. Each target goes to the worker
 * (Worker.Memory.Set), whose balloon moves the guest towards it.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/hvd.h"

#define MIB (1ull << 20)
#define SLACK (4 * MIB) /* targets closer than this to the last one sent are not sent again */

static uint64_t budget_given; /* --memory-budget, 0: from the host */

void hvd_memory_budget_set(uint64_t bytes)
{
	budget_given = bytes;
}

static uint64_t uget(const struct wire_value *o, const char *name)
{
	const struct wire_value *v = o ? wire_object_get(o, name) : NULL;

	if (!v)
		return 0;
	return v->type == WIRE_UINT ? v->u : v->type == WIRE_INT && v->i > 0 ? (uint64_t)v->i : 0;
}

static uint64_t host_available(void)
{
	FILE *f = fopen("/proc/meminfo", "re");
	char line[256];
	unsigned long long kb = 0;

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "MemAvailable: %llu kB", &kb) == 1)
			break;
	fclose(f);
	return (uint64_t)kb * 1024;
}

/* The worker's dynamic-memory status, or NULL when the VM does not run with it. */
const struct wire_value *hvd_memory_status(const struct hvd_vm *vm)
{
	const struct wire_value *s = hvd_runtime_sample(vm), *m = s ? wire_object_get(s, "Memory") : NULL;
	const struct wire_value *dyn = m ? wire_object_get(m, "DynamicMemoryEnabled") : NULL;

	return dyn && dyn->type == WIRE_BOOL && dyn->b ? m : NULL;
}

const char *hvd_memory_health(const struct hvd_vm *vm)
{
	const struct wire_value *m = hvd_memory_status(vm);
	uint64_t assigned = uget(m, "Assigned"), demand = uget(m, "Demand");

	if (!m || !demand)
		return "";
	if (assigned < demand)
		return "Warning"; /* the guest wants more than it has */
	if (assigned < demand + demand / 100 * vm->mem_buffer / 2)
		return "Low"; /* less than half its buffer */
	return "OK";
}

struct want {
	struct hvd_vm *vm;
	uint64_t demand, target, floor, max;
};

static int by_priority(const void *a, const void *b)
{
	const struct want *x = a, *y = b;

	/* Highest Priority first. */
	return x->vm->mem_priority > y->vm->mem_priority ? -1 : x->vm->mem_priority < y->vm->mem_priority;
}

void hvd_memory_tick(struct hvd *d)
{
	struct hvd_store *s = hvd_get_store(d);
	struct want *w = calloc(s->n ? s->n : 1, sizeof(*w));
	uint64_t total = 0, held = 0, budget;
	size_t n = 0, i;

	if (!w)
		return;
	for (i = 0; i < s->n; i++) {
		struct hvd_vm *vm = s->vms[i];
		const struct wire_value *m = hvd_memory_status(vm);
		struct want *x;

		if (!m || !vm->mem_dynamic)
			continue;
		x = &w[n++];
		x->vm = vm;
		x->demand = uget(m, "Demand");
		x->max = uget(m, "Maximum");
		if (x->max > vm->mem_maximum || !x->max)
			x->max = vm->mem_maximum; /* a live Set-VMMemory may lower it; the mapping cannot grow */
		x->floor = vm->mem_minimum < x->max ? vm->mem_minimum : x->max;
		/* No report yet: keep what it started with. */
		x->target = x->demand ? x->demand + x->demand / 100 * vm->mem_buffer : vm->mem_startup;
		x->target = x->target < x->floor ? x->floor : x->target > x->max ? x->max : x->target;
		x->target &= ~(MIB - 1);
		total += x->target;
		held += uget(m, "Assigned");
	}
	budget = budget_given ? budget_given : host_available() + held;
	if (total > budget) {
		/* Short: in order of Priority, each VM gets what it wants as long as every VM after
		 * it can still have its Minimum; the lowest priorities yield first. */
		uint64_t floors = 0, left = budget;

		qsort(w, n, sizeof(*w), by_priority);
		for (i = 0; i < n; i++)
			floors += w[i].floor;
		for (i = 0; i < n; i++) {
			uint64_t rest = floors - w[i].floor, room = left > rest ? left - rest : 0;

			if (w[i].target > room)
				w[i].target = (room > w[i].floor ? room : w[i].floor) & ~(MIB - 1);
			left = left > w[i].target ? left - w[i].target : 0;
			floors = rest;
		}
	}
	for (i = 0; i < n; i++) {
		struct hvd_vm *vm = w[i].vm;

		if (vm->mem_target_sent && (w[i].target > vm->mem_target_sent ? w[i].target - vm->mem_target_sent
									  : vm->mem_target_sent - w[i].target) < SLACK)
			continue;
		vm->mem_target_sent = w[i].target;
		{
			struct wire_value *a = wire_object("Arguments");

			wire_object_add(a, "TargetBytes", wire_int((int64_t)w[i].target));
			hvd_runtime_notify(vm, WIRE_PROC_WORKER_MEMORY_SET, a);
		}
	}
	free(w);
}
