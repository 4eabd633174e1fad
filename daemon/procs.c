/*
 * The procedures hvd serves (wire-protocol/procedures.def), one handler each, and the one
 * table that maps them.  Arguments arrive as an object whose property names are the
 * cmdlet's parameter names, so every error can name the parameter the user typed.
 * PROTOCOL.md lists the arguments and replies of each procedure.
 */
#include "config.h"

#include <errno.h>
#include <fnmatch.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/sysinfo.h>
#include <unistd.h>

#include "daemon/hvd.h"
#include "daemon/procs.h"


const char *hvd_host_name(void)
{
	static char name[256];

	if (!name[0] && gethostname(name, sizeof(name) - 1) < 0)
		snprintf(name, sizeof(name), "localhost");
	return name;
}

/* A VM's object: built once and kept with the definition while the VM is off (a change
 * makes a new definition, and so a new object), so that listing many VMs costs no
 * allocation per VM; a running VM's live properties make it new each time. */
static struct wire_value *vm_object(const struct hvd_vm *vm)
{
	struct hvd_vm_live live;
	struct wire_value *o;
	const char *parent;
	int checkpoints;
	bool tree_changed = hvd_ckpt_summary(vm, &checkpoints, &parent);

	hvd_runtime_describe(vm, &live);
	if (vm->cached && tree_changed) {
		wire_value_unref(vm->cached);
		((struct hvd_vm *)vm)->cached = NULL;
	}
	if (vm->cached && !live.running && !vm->status)
		return wire_value_ref(vm->cached);
	o = wire_object("VirtualMachine");

	wire_object_add(o, "Name", wire_string(vm->name));
	wire_object_add(o, "Id", wire_string(vm->id));
	wire_object_add(o, "State", wire_string(live.state));
	wire_object_add(o, "CPUUsage", wire_int(live.cpu_usage));
	{
		const struct wire_value *m = hvd_memory_status(vm), *v;

		v = m ? wire_object_get(m, "Assigned") : NULL;
		wire_object_add(o, "MemoryAssigned", v ? wire_value_ref((struct wire_value *)v) : wire_uint(live.memory));
		v = m ? wire_object_get(m, "Demand") : NULL;
		wire_object_add(o, "MemoryDemand", v ? wire_value_ref((struct wire_value *)v) : wire_uint(0));
		wire_object_add(o, "MemoryStatus", wire_string(hvd_memory_health(vm)));
	}
	wire_object_add(o, "Uptime", wire_duration(live.uptime_ns));
	if (vm->load_error)
		wire_object_add(o, "Status", wire_stringf("The configuration could not be loaded: %s", vm->load_error));
	else
		wire_object_add(o, "Status", wire_string(vm->status ? vm->status : "Operating normally"));
	wire_object_add(o, "Version", wire_string("1.0"));
	wire_object_add(o, "Generation", wire_int(vm->generation));
	wire_object_add(o, "ProcessorCount", wire_int(vm->proc_count));
	wire_object_add(o, "MemoryStartup", wire_uint(vm->mem_startup));
	wire_object_add(o, "DynamicMemoryEnabled", wire_bool(vm->mem_dynamic));
	wire_object_add(o, "MemoryMinimum", wire_uint(vm->mem_minimum));
	wire_object_add(o, "MemoryMaximum", wire_uint(vm->mem_maximum));
	wire_object_add(o, "Notes", wire_string(vm->notes ? vm->notes : ""));
	wire_object_add(o, "Path", wire_string(vm->path ? vm->path : ""));
	wire_object_add(o, "CreationTime", wire_timestamp(vm->created_ns));
	wire_object_add(o, "ComputerName", wire_string(hvd_host_name()));
	wire_object_add(o, "VMName", wire_string(vm->name));
	wire_object_add(o, "VMId", wire_string(vm->id));
	wire_object_add(o, "KernelPath", wire_string(vm->kernel ? vm->kernel : ""));
	wire_object_add(o, "CheckpointType", wire_string(hvd_ckpt_type_name(vm->checkpoint_type)));
	wire_object_add(o, "ParentCheckpointName", parent ? wire_string(parent) : wire_null());
	wire_object_add(o, "CheckpointCount", wire_int(checkpoints));
	wire_object_add(o, "WorkerProcessId", live.running ? wire_int(live.pid) : wire_null());
	{
		const char *pool = vm->pool_id[0] ? hvd_pool_name(vm->pool_id) : NULL;

		wire_object_add(o, "PoolName", pool ? wire_string(pool) : wire_null());
	}
	if (!live.running && !vm->status)
		((struct hvd_vm *)vm)->cached = wire_value_ref(o);
	return o;
}

struct wire_value *hvd_vm_object(const struct hvd_vm *vm)
{
	return vm_object(vm);
}

struct wire_value *hvd_vm_reply(const struct hvd_vm *vm)
{
	struct wire_value *l = wire_list();

	wire_list_append(l, vm_object(vm));
	return l;
}

static struct wire_value *processor_object(const struct hvd_vm *vm)
{
	struct wire_value *o = wire_object("VMProcessor");

	wire_object_add(o, "VMName", wire_string(vm->name));
	wire_object_add(o, "VMId", wire_string(vm->id));
	wire_object_add(o, "Count", wire_int(vm->proc_count));
	wire_object_add(o, "Reserve", wire_int(vm->proc_reserve));
	wire_object_add(o, "Maximum", wire_int(vm->proc_maximum));
	wire_object_add(o, "RelativeWeight", wire_int(vm->proc_weight));
	{
		bool enforced = false;
		const char *note = hvd_runtime_limits(vm, &enforced);

		wire_object_add(o, "LimitsEnforced", wire_bool(enforced));
		wire_object_add(o, "LimitsStatus", wire_string(note ? note : "Applied when the virtual machine runs."));
	}
	wire_object_add(o, "ComputerName", wire_string(hvd_host_name()));
	return o;
}

static struct wire_value *memory_object(const struct hvd_vm *vm)
{
	struct wire_value *o = wire_object("VMMemory");

	wire_object_add(o, "VMName", wire_string(vm->name));
	wire_object_add(o, "VMId", wire_string(vm->id));
	wire_object_add(o, "DynamicMemoryEnabled", wire_bool(vm->mem_dynamic));
	wire_object_add(o, "Minimum", wire_uint(vm->mem_minimum));
	wire_object_add(o, "Startup", wire_uint(vm->mem_startup));
	wire_object_add(o, "Maximum", wire_uint(vm->mem_maximum));
	wire_object_add(o, "Buffer", wire_int(vm->mem_buffer));
	wire_object_add(o, "Priority", wire_int(vm->mem_priority));
	wire_object_add(o, "ComputerName", wire_string(hvd_host_name()));
	return o;
}

static void emit_event(struct hvd *d, struct hvd_client *c, const char *type, const char *name,
		       const char *id, const char *old_name)
{
	struct wire_value *e = wire_object("VMEvent");

	wire_object_set(e, "EventType", wire_string(type));
	wire_object_set(e, "VMName", wire_string(name));
	wire_object_set(e, "VMId", wire_string(id));
	if (old_name)
		wire_object_set(e, "OldName", wire_string(old_name));
	wire_object_set(e, "Time", wire_timestamp(hvd_now_ns()));
	wire_object_set(e, "User", wire_string(hvd_client_peer(c)->user));
	hvd_broadcast_event(d, e);
}

void hvd_vm_event(struct hvd *d, struct hvd_client *c, const char *type, const struct hvd_vm *vm)
{
	emit_event(d, c, type, vm->name, vm->id, NULL);
}

static int by_name(const void *a, const void *b)
{
	const struct hvd_vm *x = *(struct hvd_vm *const *)a, *y = *(struct hvd_vm *const *)b;
	int c = strcasecmp(x->name, y->name);

	return c ? c : strcmp(x->id, y->id);
}

static bool has_wildcard(const char *s)
{
	return strpbrk(s, "*?[") != NULL;
}

/*
 * The VMs a call is about: "Id" (a string or a list of them) or "Name" (a string or a list of
 * names with wildcards); neither means all.  A name without wildcards that matches nothing
 * is a non-terminating error appended to errors, as Get-VM reports it.
 */
int hvd_vms_select(struct hvd_store *s, const struct wire_value *args, struct hvd_vm ***out,
		      size_t *nout, struct wire_value *errors, struct wire_value **reply)
{
	const struct wire_value *ids = wire_object_get(args, "Id"), *names = wire_object_get(args, "Name");
	const struct wire_value *sel = ids ? ids : names;
	const struct wire_value *const *items = &sel;
	size_t nitems = 1, i, k;
	struct hvd_vm **vms = calloc(s->n + 1, sizeof(*vms));
	bool *taken = calloc(s->n + 1, sizeof(*taken));
	size_t n = 0;

	if (!vms || !taken)
		abort();
	if (sel && sel->type == WIRE_LIST) {
		items = (const struct wire_value *const *)sel->list.items;
		nitems = sel->list.n;
	}
	if (!sel || sel->type == WIRE_NULL) {
		for (k = 0; k < s->n; k++)
			vms[n++] = s->vms[k];
		goto done;
	}
	for (i = 0; i < nitems; i++) {
		const struct wire_value *it = items[i];
		bool found = false;

		if (it->type != WIRE_STRING) {
			free(vms);
			free(taken);
			return ERR(WIRE_E_INVALID_ARGUMENT, NULL, "-%s takes strings, not a %s", ids ? "Id" : "Name",
				   wire_type_name(it->type));
		}
		for (k = 0; k < s->n; k++) {
			const struct hvd_vm *vm = s->vms[k];
			bool m = ids ? strcasecmp(vm->id, it->str.p) == 0
				     : fnmatch(it->str.p, vm->name, FNM_CASEFOLD) == 0;

			if (m) {
				found = true;
				if (!taken[k]) {
					taken[k] = true;
					vms[n++] = s->vms[k];
				}
			}
		}
		if (!found && (ids || !has_wildcard(it->str.p)))
			wire_list_append(errors, wire_error_record(WIRE_E_NOT_FOUND, it->str.p,
								   "Hyper-V was unable to find a virtual machine with %s \"%s\".",
								   ids ? "ID" : "name", it->str.p));
	}
done:
	free(taken);
	qsort(vms, n, sizeof(*vms), by_name); /* as Get-VM lists them: by name */
	*out = vms;
	*nout = n;
	return WIRE_OK;
}


int hvd_vms_view(struct hvd *d, const struct wire_value *args, hvd_view_fn view, bool skip_broken,
		     struct wire_value **reply)
{
	const struct wire_value *filter = wire_object_get(args, "Filter");
	struct wire_value *out, *errors;
	struct hvd_vm **vms;
	size_t n, i;
	int st = hvd_filter_check(filter, reply);

	if (st)
		return st;
	out = wire_list();
	errors = wire_list();
	st = hvd_vms_select(hvd_get_store(d), args, &vms, &n, errors, reply);
	if (st) {
		wire_value_unref(out);
		wire_value_unref(errors);
		return st;
	}
	for (i = 0; i < n; i++) {
		struct wire_value *o;

		if (skip_broken && vms[i]->load_error)
			continue;
		o = view(vms[i]);
		if (o->type == WIRE_LIST) { /* several objects for one VM */
			size_t k;

			for (k = 0; k < o->list.n; k++)
				if (!filter || hvd_filter_keep(filter, o->list.items[k]))
					wire_list_append(out, wire_value_ref(o->list.items[k]));
			wire_value_unref(o);
		} else if (!filter || hvd_filter_keep(filter, o)) {
			wire_list_append(out, o);
		} else {
			wire_value_unref(o);
		}
	}
	for (i = 0; i < errors->list.n; i++)
		wire_list_append(out, wire_value_ref(errors->list.items[i]));
	wire_value_unref(errors);
	free(vms);
	*reply = out;
	return WIRE_OK;
}

static int proc_vm_list(struct hvd *d, struct hvd_client *c, const struct wire_value *args,
			struct wire_value **reply)
{
	return hvd_vms_view(d, args, vm_object, false, reply);
}

static int proc_processor_get(struct hvd *d, struct hvd_client *c, const struct wire_value *args,
			      struct wire_value **reply)
{
	return hvd_vms_view(d, args, processor_object, true, reply);
}

static int proc_memory_get(struct hvd *d, struct hvd_client *c, const struct wire_value *args,
			   struct wire_value **reply)
{
	return hvd_vms_view(d, args, memory_object, true, reply);
}

/* Reads an optional integer argument and checks its range; 0 when absent or good. */
int hvd_arg_range(const struct wire_value *args, const char *name, uint64_t min, uint64_t max,
		     bool *present, uint64_t *out, struct wire_value **reply)
{
	int64_t v;
	int rc = wire_object_get_int(args, name, &v);

	*present = rc == 0;
	if (rc == -ENOENT)
		return 0;
	if (rc)
		return ERR(WIRE_E_INVALID_ARGUMENT, name, "Invalid value for parameter -%s: it must be a whole number.",
			   name);
	if (v < 0 || (uint64_t)v < min || (uint64_t)v > max)
		return ERR(WIRE_E_INVALID_ARGUMENT, name,
			   "Invalid value %" PRId64 " for parameter -%s: it must be between %" PRIu64 " and %" PRIu64 ".",
			   v, name, min, max);
	*out = (uint64_t)v;
	return 0;
}

int hvd_arg_memory(const struct wire_value *args, const char *name, bool *present, uint64_t *out,
		      struct wire_value **reply)
{
	int64_t v;
	int rc = wire_object_get_int(args, name, &v);

	*present = rc == 0;
	if (rc == -ENOENT)
		return 0;
	if (rc)
		return ERR(WIRE_E_INVALID_ARGUMENT, name, "Invalid value for parameter -%s: it must be a size in bytes.",
			   name);
	if (v < (int64_t)HVD_MEM_MIN || (uint64_t)v > HVD_MEM_MAX)
		return ERR(WIRE_E_INVALID_ARGUMENT, name,
			   "Invalid value %" PRId64 " for parameter -%s: memory must be between 32MB (%llu) and 12TB (%llu).",
			   v, name, (unsigned long long)HVD_MEM_MIN, (unsigned long long)HVD_MEM_MAX);
	if ((uint64_t)v % HVD_MEM_ALIGN)
		return ERR(WIRE_E_INVALID_ARGUMENT, name,
			   "Invalid value %" PRId64 " for parameter -%s: memory must be a multiple of 2MB (2097152 bytes).",
			   v, name);
	*out = (uint64_t)v;
	return 0;
}

/* Whether text can live in vm.xml: XML 1.0 has no C0 controls but tab, CR and LF, and no
 * U+FFFE or U+FFFF. */
static bool xml_text(const char *s)
{
	const unsigned char *p;

	for (p = (const unsigned char *)s; *p; p++) {
		if (*p < 0x20 && *p != '\t' && *p != '\n' && *p != '\r')
			return false;
		if (p[0] == 0xef && p[1] == 0xbf && (p[2] == 0xbe || p[2] == 0xbf))
			return false;
	}
	return true;
}

int hvd_arg_string(const struct wire_value *args, const char *name, size_t maxlen, const char **out,
		      struct wire_value **reply)
{
	int rc = wire_object_get_string(args, name, out);

	if (rc == -ENOENT) {
		*out = NULL;
		return 0;
	}
	if (rc)
		return ERR(WIRE_E_INVALID_ARGUMENT, name, "Invalid value for parameter -%s: it must be a string.", name);
	if (!xml_text(*out))
		return ERR(WIRE_E_INVALID_ARGUMENT, name,
			   "Invalid value for parameter -%s: it contains control characters (only tab and line breaks are allowed).",
			   name);
	if (hvd_utf8_chars(*out) > maxlen)
		return ERR(WIRE_E_INVALID_ARGUMENT, name,
			   "Invalid value for parameter -%s: it is %zu characters long; the limit is %zu.", name,
			   hvd_utf8_chars(*out), maxlen);
	return 0;
}

int hvd_check_name(const char *param, const char *name, struct wire_value **reply)
{
	switch (hvd_name_flaw(name)) {
	case HVD_NAME_OK:
		return 0;
	case HVD_NAME_EMPTY:
		return ERR(WIRE_E_INVALID_ARGUMENT, param, "Invalid value for parameter -%s: a VM needs a name.", param);
	case HVD_NAME_LONG:
		return ERR(WIRE_E_INVALID_ARGUMENT, name,
			   "Invalid value for parameter -%s: a VM name can have at most %d characters.", param,
			   HVD_MAX_NAME);
	case HVD_NAME_CHARS:
		return ERR(WIRE_E_INVALID_ARGUMENT, name,
			   "Invalid value \"%s\" for parameter -%s: a VM name cannot contain control characters or the wildcard characters * ? [ ].",
			   name, param);
	case HVD_NAME_BLANK:
	default:
		return ERR(WIRE_E_INVALID_ARGUMENT, param, "Invalid value for parameter -%s: a VM name cannot be blank.",
			   param);
	}
}

int hvd_name_taken(struct hvd_store *s, const char *name, const struct hvd_vm *self,
		      struct wire_value **reply)
{
	const struct hvd_vm *other = hvd_store_find_name(s, name);

	if (other && other != self)
		return ERR(WIRE_E_ALREADY_EXISTS, name, "A virtual machine named \"%s\" already exists (Id %s).", name,
			   other->id);
	return 0;
}

static int save_error(int rc, const struct hvd_vm *vm, struct wire_value **reply)
{
	return ERR(WIRE_E_RESOURCE, vm->name, "Could not save the configuration of \"%s\": %s", vm->name,
		   strerror(-rc));
}

static int proc_vm_new(struct hvd *d, struct hvd_client *c, const struct wire_value *args,
		       struct wire_value **reply)
{
	struct hvd_store *s = hvd_get_store(d);
	const char *name, *path, *notes;
	uint64_t mem = 0, cpus = 0, gen = 0;
	bool has_mem, has_cpus, has_gen;
	struct hvd_vm *vm;
	int st;

	if ((st = hvd_arg_string(args, "Name", HVD_MAX_NAME, &name, reply)) ||
	    (st = hvd_check_name("Name", name, reply)) ||
	    (st = hvd_arg_string(args, "Path", 4096, &path, reply)) ||
	    (st = hvd_arg_string(args, "Notes", HVD_MAX_NOTES, &notes, reply)) ||
	    (st = hvd_arg_memory(args, "MemoryStartupBytes", &has_mem, &mem, reply)) ||
	    (st = hvd_arg_range(args, "ProcessorCount", 1, HVD_MAX_VCPUS, &has_cpus, &cpus, reply)) ||
	    (st = hvd_arg_range(args, "Generation", 1, 2, &has_gen, &gen, reply)) ||
	    (st = hvd_name_taken(s, name, NULL, reply)))
		return st;
	if (path && path[0] != '/')
		return ERR(WIRE_E_INVALID_ARGUMENT, path, "Invalid value \"%s\" for parameter -Path: it must be an absolute path.",
			   path);
	vm = hvd_vm_new(name);
	if (has_mem) {
		vm->mem_startup = mem;
		/* Hyper-V keeps the dynamic range around the startup size. */
		if (vm->mem_minimum > mem)
			vm->mem_minimum = mem;
	}
	if (has_cpus)
		vm->proc_count = (uint32_t)cpus;
	if (has_gen)
		vm->generation = (int)gen;
	if (notes)
		vm->notes = strdup(notes);
	if (path) {
		if (mkdir(path, 0755) < 0 && errno != EEXIST) {
			st = ERR(WIRE_E_RESOURCE, path, "Cannot create the folder \"%s\" given to -Path: %s", path,
				 strerror(errno));
			hvd_vm_free(vm);
			return st;
		}
		vm->path = strdup(path);
	} else if (asprintf(&vm->path, "%s/%s", s->vms_dir, vm->id) < 0) {
		abort();
	}
	st = hvd_store_add(s, vm);
	if (st)
		return ERR(WIRE_E_RESOURCE, name, "Could not save the new virtual machine \"%s\": %s", name,
			   strerror(-st));
	hvd_log(HVD_LOG_INFO, "%s created VM %s (%s)", hvd_client_peer(c)->user, vm->name, vm->id);
	emit_event(d, c, "Created", vm->name, vm->id, NULL);
	*reply = wire_list();
	wire_list_append(*reply, vm_object(vm));
	return WIRE_OK;
}

/*
 * Applies one change to every selected VM.  change() edits a copy; the copy is checked and
 * saved before it replaces the definition, so a failed write changes nothing.
 */

/* A call that changes VMs must name them: "all" is never implied. */
int hvd_vms_require(const struct wire_value *args, struct wire_value **reply)
{
	if (wire_object_get(args, "Id") || wire_object_get(args, "Name"))
		return 0;
	return ERR(WIRE_E_INVALID_ARGUMENT, NULL, "Name the virtual machines to change (Name or Id).");
}

int hvd_vms_change(struct hvd *d, struct hvd_client *c, const struct wire_value *args, hvd_change_fn change,
		       const void *arg, hvd_view_fn view, struct wire_value **reply)
{
	struct hvd_store *s = hvd_get_store(d);
	struct wire_value *out;
	struct hvd_vm **vms;
	size_t n, i, k;
	int st = hvd_vms_require(args, reply);

	if (st)
		return st;
	out = wire_list();
	st = hvd_vms_select(s, args, &vms, &n, out, reply);
	if (st) {
		wire_value_unref(out);
		return st;
	}
	for (i = 0; i < n; i++) {
		struct hvd_vm *vm = vms[i], *copy;
		struct wire_value *err = NULL;
		char *old_name;
		char msg[256];

		if (vm->load_error) {
			wire_list_append(out, wire_error_record(WIRE_E_INVALID_STATE, vm->id,
								"The configuration of VM %s could not be loaded (%s); only Remove-VM works on it.",
								vm->id, vm->load_error));
			continue;
		}
		copy = hvd_vm_dup(vm);
		st = change(s, copy, arg, &err);
		if (st == 0 && vm->worker && (copy->proc_count != vm->proc_count || copy->mem_startup != vm->mem_startup)) {
			err = wire_error_record(WIRE_E_INVALID_STATE, vm->name,
						"Cannot change the %s of \"%s\" while it is running: the virtual machine must be off.",
						copy->proc_count != vm->proc_count ? "processor count" : "startup memory", vm->name);
			st = WIRE_E_INVALID_STATE;
		}
		if (st == 0 && hvd_vm_check_memory(copy, msg, sizeof(msg))) {
			err = wire_error_record(WIRE_E_INVALID_ARGUMENT, vm->name, "Cannot change \"%s\": %s.", vm->name, msg);
			st = WIRE_E_INVALID_ARGUMENT;
		}
		if (st == 0 && (st = hvd_store_save(s, copy)) != 0)
			save_error(st, vm, &err);
		if (st) {
			wire_list_append(out, err);
			hvd_vm_free(copy);
			continue;
		}
		old_name = strcmp(vm->name, copy->name) ? strdup(vm->name) : NULL;
		for (k = 0; k < s->n; k++)
			if (s->vms[k] == vm)
				s->vms[k] = copy;
		if (copy->worker && (copy->proc_maximum != vm->proc_maximum || copy->proc_weight != vm->proc_weight))
			hvd_runtime_limits_changed(copy);
		hvd_vm_free(vm);
		emit_event(d, c, old_name ? "Renamed" : "Changed", copy->name, copy->id, old_name);
		free(old_name);
		{
			struct wire_value *o = view(copy);
			size_t j;

			if (o->type != WIRE_LIST) {
				wire_list_append(out, o);
				continue;
			}
			for (j = 0; j < o->list.n; j++) /* several objects for one VM */
				wire_list_append(out, wire_value_ref(o->list.items[j]));
			wire_value_unref(o);
		}
	}
	free(vms);
	*reply = out;
	return WIRE_OK;
}

struct vm_settings {
	const char *notes, *new_name;
	int checkpoint_type; /* -1: unchanged */
	bool has_cpus, has_mem, has_dyn, has_min, has_max;
	uint64_t cpus, mem, min, max;
	bool dyn;
};

static int apply_settings(struct hvd_store *s, struct hvd_vm *vm, const void *arg, struct wire_value **reply)
{
	const struct vm_settings *set = arg;
	int st;

	if (set->new_name) {
		if ((st = hvd_name_taken(s, set->new_name, hvd_store_find_id(s, vm->id), reply)))
			return st;
		free(vm->name);
		vm->name = strdup(set->new_name);
	}
	if (set->notes) {
		free(vm->notes);
		vm->notes = strdup(set->notes);
	}
	if (set->has_cpus)
		vm->proc_count = (uint32_t)set->cpus;
	if (set->has_mem)
		vm->mem_startup = set->mem;
	if (set->has_dyn)
		vm->mem_dynamic = set->dyn;
	if (set->has_min)
		vm->mem_minimum = set->min;
	if (set->has_max)
		vm->mem_maximum = set->max;
	if (set->checkpoint_type >= 0)
		vm->checkpoint_type = set->checkpoint_type;
	return 0;
}

static int read_dynamic(const struct wire_value *args, const char *name, struct vm_settings *set,
			struct wire_value **reply)
{
	int rc = wire_object_get_bool(args, name, &set->dyn);

	set->has_dyn = rc == 0;
	if (rc && rc != -ENOENT)
		return ERR(WIRE_E_INVALID_ARGUMENT, name, "Invalid value for parameter -%s: it must be $true or $false.", name);
	return 0;
}

static int proc_vm_set(struct hvd *d, struct hvd_client *c, const struct wire_value *args,
		       struct wire_value **reply)
{
	struct vm_settings set = { .checkpoint_type = -1 };
	const char *ctype = NULL;
	int st;

	if ((st = hvd_arg_string(args, "CheckpointType", 32, &ctype, reply)))
		return st;
	if (ctype && (set.checkpoint_type = hvd_ckpt_type_parse(ctype)) < 0)
		return ERR(WIRE_E_INVALID_ARGUMENT, ctype,
			   "Invalid value \"%s\" for parameter -CheckpointType: it must be Standard, Production, ProductionOnly or Disabled.",
			   ctype);
	if ((st = hvd_arg_string(args, "Notes", HVD_MAX_NOTES, &set.notes, reply)) ||
	    (st = hvd_arg_string(args, "NewVMName", HVD_MAX_NAME, &set.new_name, reply)) ||
	    (set.new_name && (st = hvd_check_name("NewVMName", set.new_name, reply))) ||
	    (st = hvd_arg_range(args, "ProcessorCount", 1, HVD_MAX_VCPUS, &set.has_cpus, &set.cpus, reply)) ||
	    (st = hvd_arg_memory(args, "MemoryStartupBytes", &set.has_mem, &set.mem, reply)) ||
	    (st = hvd_arg_memory(args, "MemoryMinimumBytes", &set.has_min, &set.min, reply)) ||
	    (st = hvd_arg_memory(args, "MemoryMaximumBytes", &set.has_max, &set.max, reply)) ||
	    (st = read_dynamic(args, "DynamicMemory", &set, reply)))
		return st;
	return hvd_vms_change(d, c, args, apply_settings, &set, vm_object, reply);
}

static int proc_vm_rename(struct hvd *d, struct hvd_client *c, const struct wire_value *args,
			  struct wire_value **reply)
{
	struct vm_settings set = { .checkpoint_type = -1 };
	int st;

	if ((st = hvd_arg_string(args, "NewName", HVD_MAX_NAME, &set.new_name, reply)) ||
	    (st = hvd_check_name("NewName", set.new_name, reply)))
		return st;
	return hvd_vms_change(d, c, args, apply_settings, &set, vm_object, reply);
}

struct proc_settings {
	bool has_count, has_reserve, has_max, has_weight;
	uint64_t count, reserve, max, weight;
};

static int apply_processor(struct hvd_store *s, struct hvd_vm *vm, const void *arg, struct wire_value **reply)
{
	const struct proc_settings *p = arg;

	if (p->has_count)
		vm->proc_count = (uint32_t)p->count;
	if (p->has_reserve)
		vm->proc_reserve = (uint32_t)p->reserve;
	if (p->has_max)
		vm->proc_maximum = (uint32_t)p->max;
	if (p->has_weight)
		vm->proc_weight = (uint32_t)p->weight;
	return 0;
}

static int proc_processor_set(struct hvd *d, struct hvd_client *c, const struct wire_value *args,
			      struct wire_value **reply)
{
	struct proc_settings p = { 0 };
	int st;

	if ((st = hvd_arg_range(args, "Count", 1, HVD_MAX_VCPUS, &p.has_count, &p.count, reply)) ||
	    (st = hvd_arg_range(args, "Reserve", 0, 100, &p.has_reserve, &p.reserve, reply)) ||
	    (st = hvd_arg_range(args, "Maximum", 0, 100, &p.has_max, &p.max, reply)) ||
	    (st = hvd_arg_range(args, "RelativeWeight", 1, 10000, &p.has_weight, &p.weight, reply)))
		return st;
	return hvd_vms_change(d, c, args, apply_processor, &p, processor_object, reply);
}

struct mem_settings {
	struct vm_settings vm;
	bool has_buffer, has_priority;
	uint64_t buffer, priority;
};

static int apply_memory(struct hvd_store *s, struct hvd_vm *vm, const void *arg, struct wire_value **reply)
{
	const struct mem_settings *m = arg;

	apply_settings(s, vm, &m->vm, reply);
	if (m->has_buffer)
		vm->mem_buffer = (uint32_t)m->buffer;
	if (m->has_priority)
		vm->mem_priority = (uint32_t)m->priority;
	return 0;
}

static int proc_memory_set(struct hvd *d, struct hvd_client *c, const struct wire_value *args,
			   struct wire_value **reply)
{
	struct mem_settings m;
	int st;

	memset(&m, 0, sizeof(m));
	m.vm.checkpoint_type = -1;
	if ((st = hvd_arg_memory(args, "StartupBytes", &m.vm.has_mem, &m.vm.mem, reply)) ||
	    (st = hvd_arg_memory(args, "MinimumBytes", &m.vm.has_min, &m.vm.min, reply)) ||
	    (st = hvd_arg_memory(args, "MaximumBytes", &m.vm.has_max, &m.vm.max, reply)) ||
	    (st = read_dynamic(args, "DynamicMemoryEnabled", &m.vm, reply)) ||
	    (st = hvd_arg_range(args, "Buffer", 5, 2000, &m.has_buffer, &m.buffer, reply)) ||
	    (st = hvd_arg_range(args, "Priority", 0, 100, &m.has_priority, &m.priority, reply)))
		return st;
	return hvd_vms_change(d, c, args, apply_memory, &m, memory_object, reply);
}

static int proc_vm_remove(struct hvd *d, struct hvd_client *c, const struct wire_value *args,
			  struct wire_value **reply)
{
	struct hvd_store *s = hvd_get_store(d);
	struct wire_value *out;
	struct hvd_vm **vms;
	size_t n, i;
	int st = hvd_vms_require(args, reply);

	if (st)
		return st;
	out = wire_list();
	st = hvd_vms_select(s, args, &vms, &n, out, reply);
	if (st) {
		wire_value_unref(out);
		return st;
	}
	for (i = 0; i < n; i++) {
		struct hvd_vm *vm = vms[i];
		struct wire_value *gone;
		const char *name;
		char pool_id[37], vm_id[37];

		if (vm->worker) {
			wire_list_append(out, wire_error_record(WIRE_E_INVALID_STATE, vm->name,
								"\"%s\" is running: turn it off first (Stop-VM -TurnOff).", vm->name));
			continue;
		}
		gone = vm_object(vm);
		snprintf(pool_id, sizeof(pool_id), "%s", vm->pool_id);
		snprintf(vm_id, sizeof(vm_id), "%s", vm->id);
		st = hvd_store_remove(s, vm);
		if (st == 0)
			hvd_pool_vm_removed(pool_id, vm_id);
		if (st) {
			wire_list_append(out, wire_error_record(WIRE_E_RESOURCE, vm->name,
								"Could not remove \"%s\": %s", vm->name, strerror(-st)));
			wire_value_unref(gone);
			continue;
		}
		name = wire_object_get(gone, "Name")->str.p;
		hvd_log(HVD_LOG_INFO, "%s removed VM %s", hvd_client_peer(c)->user, name);
		emit_event(d, c, "Removed", name, wire_object_get(gone, "Id")->str.p, NULL);
		wire_list_append(out, gone);
	}
	free(vms);
	*reply = out;
	return WIRE_OK;
}

static int proc_host_get(struct hvd *d, struct hvd_client *c, const struct wire_value *args,
			 struct wire_value **reply)
{
	struct hvd_store *s = hvd_get_store(d);
	struct wire_value *h = wire_object("VMHost");
	struct sysinfo si;
	char *vhd;

	wire_object_set(h, "ComputerName", wire_string(hvd_host_name()));
	wire_object_set(h, "Name", wire_string(hvd_host_name()));
	wire_object_set(h, "LogicalProcessorCount", wire_int(sysconf(_SC_NPROCESSORS_ONLN)));
	if (sysinfo(&si) == 0)
		wire_object_set(h, "MemoryCapacity", wire_uint((uint64_t)si.totalram * si.mem_unit));
	wire_object_set(h, "VirtualMachinePath", wire_string(s->vms_dir));
	if (asprintf(&vhd, "%s/disks", s->state_dir) < 0)
		abort();
	wire_object_set(h, "VirtualHardDiskPath", wire_string(vhd));
	free(vhd);
	wire_object_set(h, "VirtualMachineCount", wire_int((int64_t)s->n));
	wire_object_set(h, "KvmAvailable", wire_bool(access("/dev/kvm", R_OK | W_OK) == 0));
	wire_object_set(h, "HvkitVersion", wire_string(PACKAGE_VERSION));
	wire_object_set(h, "ProtocolVersion", wire_int(WIRE_VERSION));
	wire_object_set(h, "DaemonStartTime", wire_timestamp(hvd_started_ns(d)));
	*reply = wire_list();
	wire_list_append(*reply, h);
	return WIRE_OK;
}

static int proc_hello(struct hvd *d, struct hvd_client *c, const struct wire_value *args,
		      struct wire_value **reply)
{
	const struct hvd_peer *p = hvd_client_peer(c);
	struct wire_value *o = wire_object("Hello");

	wire_object_set(o, "Daemon", wire_string("hvd"));
	wire_object_set(o, "Version", wire_string(PACKAGE_VERSION));
	wire_object_set(o, "ProtocolVersion", wire_int(WIRE_VERSION));
	wire_object_set(o, "User", wire_string(p->user));
	wire_object_set(o, "ReadOnly", wire_bool(p->read_only));
	*reply = wire_list();
	wire_list_append(*reply, o);
	return WIRE_OK;
}

static int proc_subscribe(struct hvd *d, struct hvd_client *c, const struct wire_value *args,
			  struct wire_value **reply)
{
	hvd_client_subscribe(c, hvd_client_serial(c));
	*reply = wire_list();
	return WIRE_OK;
}

static int proc_samples_subscribe(struct hvd *d, struct hvd_client *c, const struct wire_value *args,
				  struct wire_value **reply)
{
	int64_t every = 1;

	if (wire_object_get(args, "Interval") && (wire_object_get_int(args, "Interval", &every) || every < 1 || every > 3600)) {
		*reply = wire_error_record(WIRE_E_INVALID_ARGUMENT, NULL,
					   "Interval is a whole number of seconds from 1 to 3600.");
		return WIRE_E_INVALID_ARGUMENT;
	}
	hvd_client_samples(c, hvd_client_serial(c), (unsigned)every);
	*reply = wire_list();
	wire_list_append(*reply, hvd_samples_event(d)); /* the first sample at once */
	return WIRE_OK;
}

struct wire_value *hvd_samples_event(struct hvd *d)
{
	struct hvd_store *s = hvd_get_store(d);
	struct wire_value *e = wire_object("VMSamples"), *vms = wire_list();
	size_t i;

	struct wire_value *details = wire_list();

	for (i = 0; i < s->n; i++) {
		const struct wire_value *sample = hvd_runtime_sample(s->vms[i]);
		static const char *const parts[] = { "Processors", "VMBus", "Channels", "IntegrationServices" };
		struct wire_value *o;
		size_t k;

		wire_list_append(vms, vm_object(s->vms[i]));
		if (!sample)
			continue;
		/* What a running partition's worker measured: per-vCPU and per-channel totals. */
		o = wire_object("VMDetail");
		wire_object_add(o, "VMId", wire_string(s->vms[i]->id));
		wire_object_add(o, "VMName", wire_string(s->vms[i]->name));
		for (k = 0; k < sizeof(parts) / sizeof(parts[0]); k++)
			if (wire_object_get(sample, parts[k]))
				wire_object_add(o, parts[k], wire_value_ref((struct wire_value *)wire_object_get(sample, parts[k])));
		wire_list_append(details, o);
	}
	wire_object_add(e, "Time", wire_timestamp(hvd_now_ns()));
	wire_object_add(e, "VMs", vms);
	wire_object_add(e, "Details", details);
	return e;
}

static int proc_unsubscribe(struct hvd *d, struct hvd_client *c, const struct wire_value *args,
			    struct wire_value **reply)
{
	hvd_client_unsubscribe(c);
	*reply = wire_list();
	return WIRE_OK;
}

hvd_proc_fn hvd_proc_handler(uint32_t procedure)
{
	static const struct {
		uint32_t id;
		hvd_proc_fn fn;
	} table[] = {
		{ WIRE_PROC_HELLO, proc_hello },
		{ WIRE_PROC_EVENTS_SUBSCRIBE, proc_subscribe },
		{ WIRE_PROC_EVENTS_UNSUBSCRIBE, proc_unsubscribe },
		{ WIRE_PROC_SAMPLES_SUBSCRIBE, proc_samples_subscribe },
		{ WIRE_PROC_HOST_GET, proc_host_get },
		{ WIRE_PROC_VM_LIST, proc_vm_list },
		{ WIRE_PROC_VM_NEW, proc_vm_new },
		{ WIRE_PROC_VM_REMOVE, proc_vm_remove },
		{ WIRE_PROC_VM_RENAME, proc_vm_rename },
		{ WIRE_PROC_VM_SET, proc_vm_set },
		{ WIRE_PROC_VM_PROCESSOR_GET, proc_processor_get },
		{ WIRE_PROC_VM_PROCESSOR_SET, proc_processor_set },
		{ WIRE_PROC_VM_MEMORY_GET, proc_memory_get },
		{ WIRE_PROC_VM_MEMORY_SET, proc_memory_set },
		{ WIRE_PROC_VM_START, hvd_proc_vm_start },
		{ WIRE_PROC_VM_STOP, hvd_proc_vm_stop },
		{ WIRE_PROC_VM_RESTART, hvd_proc_vm_restart },
		{ WIRE_PROC_VM_SUSPEND, hvd_proc_vm_suspend },
		{ WIRE_PROC_VM_RESUME, hvd_proc_vm_resume },
		{ WIRE_PROC_VM_FIRMWARE_GET, hvd_proc_firmware_get },
		{ WIRE_PROC_VMBUS_CHANNELS, hvd_proc_vmbus_channels },
		{ WIRE_PROC_VM_IC_GET, hvd_proc_ic_get },
		{ WIRE_PROC_VM_IC_SET, hvd_proc_ic_set },
		{ WIRE_PROC_VM_FIRMWARE_SET, hvd_proc_firmware_set },
		{ WIRE_PROC_VM_CONSOLE_ATTACH, hvd_proc_console_attach },
		{ WIRE_PROC_VM_CONSOLE_INPUT, hvd_proc_console_input },
		{ WIRE_PROC_VM_CONSOLE_DETACH, hvd_proc_console_detach },
		{ WIRE_PROC_VHD_NEW, hvd_proc_vhd_new },
		{ WIRE_PROC_VHD_GET, hvd_proc_vhd_get },
		{ WIRE_PROC_VHD_RESIZE, hvd_proc_vhd_resize },
		{ WIRE_PROC_VHD_CONVERT, hvd_proc_vhd_convert },
		{ WIRE_PROC_VHD_MERGE, hvd_proc_vhd_merge },
		{ WIRE_PROC_VHD_OPTIMIZE, hvd_proc_vhd_optimize },
		{ WIRE_PROC_VHD_TEST, hvd_proc_vhd_test },
		{ WIRE_PROC_VM_CHECKPOINT, hvd_proc_checkpoint },
		{ WIRE_PROC_VM_CHECKPOINT_GET, hvd_proc_checkpoint_get },
		{ WIRE_PROC_VM_CHECKPOINT_RESTORE, hvd_proc_checkpoint_restore },
		{ WIRE_PROC_VM_CHECKPOINT_REMOVE, hvd_proc_checkpoint_remove },
		{ WIRE_PROC_VM_CHECKPOINT_RENAME, hvd_proc_checkpoint_rename },
		{ WIRE_PROC_VM_SAVE, hvd_proc_vm_save },
		{ WIRE_PROC_VM_SAVED_STATE_REMOVE, hvd_proc_saved_state_remove },
		{ WIRE_PROC_VM_DRIVE_ADD, hvd_proc_drive_add },
		{ WIRE_PROC_VM_DRIVE_GET, hvd_proc_drive_get },
		{ WIRE_PROC_VM_DRIVE_REMOVE, hvd_proc_drive_remove },
		{ WIRE_PROC_VM_DRIVE_SET, hvd_proc_drive_set },
		{ WIRE_PROC_POOL_NEW, hvd_proc_pool_new },
		{ WIRE_PROC_POOL_GET, hvd_proc_pool_get },
		{ WIRE_PROC_POOL_REMOVE, hvd_proc_pool_remove },
		{ WIRE_PROC_POOL_MEMBER_ADD, hvd_proc_pool_member_add },
		{ WIRE_PROC_POOL_MEMBER_RESET, hvd_proc_pool_member_reset },
		{ WIRE_PROC_POOL_UPDATE, hvd_proc_pool_update },
	};
	size_t i;

	for (i = 0; i < sizeof(table) / sizeof(table[0]); i++)
		if (table[i].id == procedure)
			return table[i].fn;
	return NULL;
}
