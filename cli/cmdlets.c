/*
 * The cmdlets hvd serves, and the one cmdlet table (this file's and pipeline.c's) from which
 * dispatch, Get-Help, completion and the man page check are all derived.
 */
#include "config.h"

#include <fnmatch.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "cli/cli.h"

/*
 * Which VMs a cmdlet is about: the names given to its VM parameter, else the VMs piped in
 * (VM objects by Id, strings by name), else, when all_by_default, every VM.  Returns the
 * arguments object for hvd, or NULL after reporting that no VM was named.
 */
static struct wire_value *vm_args(struct cli_ctx *ctx, const struct cli_bound *b, const char *param,
				  struct wire_value *in, bool all_by_default)
{
	struct wire_value *args = wire_object("Arguments"), *names = param ? cli_arg(b, param) : NULL;
	struct wire_value *ids, *pnames;
	size_t i, found;

	if (names) {
		wire_object_set(args, "Name", wire_value_ref(names));
		return args;
	}
	ids = wire_list();
	pnames = wire_list();
	for (i = 0; i < in->list.n; i++) {
		const struct wire_value *it = in->list.items[i], *id;

		id = wire_object_get(it, "VMId");
		if (!id)
			id = wire_object_get(it, "Id");
		if (id && id->type == WIRE_STRING)
			wire_list_append(ids, wire_value_ref((struct wire_value *)id));
		else if (it->type == WIRE_STRING)
			wire_list_append(pnames, wire_value_ref((struct wire_value *)it));
	}
	found = ids->list.n + pnames->list.n;
	if (ids->list.n)
		wire_object_set(args, "Id", wire_value_ref(ids));
	else if (pnames->list.n)
		wire_object_set(args, "Name", wire_value_ref(pnames));
	wire_value_unref(ids);
	wire_value_unref(pnames);
	if (found || all_by_default)
		return args;
	wire_value_unref(args);
	if (in->list.n)
		cli_error(ctx, "The objects piped in are not virtual machines (they have no VMId or Id).");
	else
		cli_error(ctx, "Name the virtual machine with -%s, or pipe VMs in (Get-VM web1 | %s ...).",
			  param ? param : "Name", ctx->cmdlet_name);
	return NULL;
}

/* Copies the bound parameters named in list (NULL-terminated) into the arguments. */
void cli_pass(const struct cli_bound *b, struct wire_value *args, const char *const *list)
{
	for (; list && *list; list++) {
		struct wire_value *v = cli_arg(b, *list);

		if (v)
			wire_object_set(args, *list, wire_value_ref(v));
	}
}

/*
 * -WhatIf and -Confirm for a change to the VMs args selects: when either is in play, the
 * VMs are looked up (one read), each is put to cli_should_process, and args is narrowed to
 * the Ids that may go ahead.  Returns false when none may (args is then consumed).
 */
static bool approve_vms(struct cli_ctx *ctx, const struct cli_bound *b, struct wire_value **args)
{
	bool must_ask = b->whatif || b->confirm == 1 ||
			(b->confirm == -1 && (b->cmdlet->flags & CLI_CONFIRM) && !cli_switch(b, "Force"));
	struct wire_value *sel, *reply = NULL, *ids;
	size_t i;

	if (!must_ask)
		return true;
	sel = wire_object("Arguments");
	if (wire_object_get(*args, "Id"))
		wire_object_set(sel, "Id", wire_value_ref(wire_object_get(*args, "Id")));
	else if (wire_object_get(*args, "Name"))
		wire_object_set(sel, "Name", wire_value_ref(wire_object_get(*args, "Name")));
	if (cli_call(ctx, WIRE_PROC_VM_LIST, sel, &reply)) {
		wire_value_unref(sel);
		wire_value_unref(*args);
		return false;
	}
	wire_value_unref(sel);
	ids = wire_list();
	for (i = 0; i < reply->list.n; i++) {
		const char *name = "", *id = "";
		char target[256];

		wire_object_get_string(reply->list.items[i], "Name", &name);
		wire_object_get_string(reply->list.items[i], "Id", &id);
		snprintf(target, sizeof(target), "%s", name);
		if (cli_should_process(ctx, b, b->cmdlet->name, target))
			wire_list_append(ids, wire_string(id));
	}
	wire_value_unref(reply);
	wire_object_remove(*args, "Name");
	wire_object_set(*args, "Id", ids);
	if (ids->list.n)
		return true;
	wire_value_unref(*args);
	return false;
}

/* Calls hvd and writes its objects out when show is set; consumes args. */
int cli_call_out(struct cli_ctx *ctx, uint32_t proc, struct wire_value *args, bool show, struct wire_value *out)
{
	struct wire_value *reply = NULL;
	size_t i;
	int rc;

	if (!args)
		return -1;
	rc = cli_call(ctx, proc, args, &reply);
	wire_value_unref(args);
	if (rc)
		return -1;
	for (i = 0; show && i < reply->list.n; i++)
		wire_list_append(out, wire_value_ref(reply->list.items[i]));
	wire_value_unref(reply);
	return 0;
}

static int run_get_vm(struct cli_ctx *ctx, const struct cli_bound *b, struct wire_value *in, struct wire_value *out)
{
	struct wire_value *args = wire_object("Arguments");

	if (cli_arg(b, "Name"))
		wire_object_set(args, "Name", wire_value_ref(cli_arg(b, "Name")));
	else if (cli_arg(b, "Id"))
		wire_object_set(args, "Id", wire_value_ref(cli_arg(b, "Id")));
	if (b->filter) /* a Where-Object after Get-VM, evaluated by hvd */
		wire_object_set(args, "Filter", wire_value_ref(b->filter));
	return cli_call_out(ctx, WIRE_PROC_VM_LIST, args, true, out);
}

static const struct cli_param get_vm_params[] = {
	{ "Name", P_STRINGS, 0, 0, "VMName", "Names of the VMs (wildcards allowed); default: all" },
	{ "Id", P_STRINGS, PF_NOPOS, 0, "VMId", "Ids of the VMs" },
	{ NULL, 0, 0, 0, NULL, NULL },
};

static int run_new_vm(struct cli_ctx *ctx, const struct cli_bound *b, struct wire_value *in, struct wire_value *out)
{
	static const char *const names[] = { "Name", "MemoryStartupBytes", "ProcessorCount", "Path", "Generation",
					     "Notes", NULL };
	struct wire_value *args = wire_object("Arguments");

	cli_pass(b, args, names);
	if (!cli_should_process(ctx, b, "New-VM", cli_arg(b, "Name")->str.p)) {
		wire_value_unref(args);
		return 0;
	}
	return cli_call_out(ctx, WIRE_PROC_VM_NEW, args, true, out);
}

static const struct cli_param new_vm_params[] = {
	{ "Name", P_STRING, 0, PF_MANDATORY, "VMName", "The new VM's name (1-100 characters, unique)" },
	{ "MemoryStartupBytes", P_INT, PF_NOPOS, 0, NULL, "Startup memory: a multiple of 2MB from 32MB to 12TB (default 512MB)" },
	{ "ProcessorCount", P_INT, PF_NOPOS, 0, NULL, "Virtual processors, 1-240 (default 1)" },
	{ "Path", P_STRING, PF_NOPOS, 0, NULL, "An absolute folder for the VM's files (default: in the state directory)" },
	{ "Generation", P_INT, PF_NOPOS, 0, NULL, "1 or 2 (default 2)" },
	{ "Notes", P_STRING, PF_NOPOS, 0, NULL, "Free text kept with the VM" },
	{ "Force", P_SWITCH, PF_NOPOS, 0, NULL, "Do not ask for confirmation" },
	{ NULL, 0, 0, 0, NULL, NULL },
};

static int run_remove_vm(struct cli_ctx *ctx, const struct cli_bound *b, struct wire_value *in, struct wire_value *out)
{
	struct wire_value *args = vm_args(ctx, b, "Name", in, false);

	if (!args)
		return -1;
	if (!approve_vms(ctx, b, &args))
		return 0;
	return cli_call_out(ctx, WIRE_PROC_VM_REMOVE, args, cli_switch(b, "PassThru"), out);
}

static const struct cli_param remove_vm_params[] = {
	{ "Name", P_STRINGS, 0, 0, "VMName", "The VMs to remove (wildcards allowed), or pipe them in" },
	{ "Force", P_SWITCH, PF_NOPOS, 0, NULL, "Do not ask for confirmation" },
	{ "PassThru", P_SWITCH, PF_NOPOS, 0, NULL, "Output the removed VMs" },
	{ NULL, 0, 0, 0, NULL, NULL },
};

static int run_rename_vm(struct cli_ctx *ctx, const struct cli_bound *b, struct wire_value *in, struct wire_value *out)
{
	static const char *const names[] = { "NewName", NULL };
	struct wire_value *args = vm_args(ctx, b, "Name", in, false);

	if (args)
		cli_pass(b, args, names);
	if (args && !approve_vms(ctx, b, &args))
		return 0;
	return cli_call_out(ctx, WIRE_PROC_VM_RENAME, args, cli_switch(b, "PassThru"), out);
}

static const struct cli_param rename_vm_params[] = {
	{ "Name", P_STRINGS, 0, 0, "VMName", "The VM to rename, or pipe it in" },
	{ "NewName", P_STRING, 1, PF_MANDATORY, NULL, "Its new name" },
	{ "PassThru", P_SWITCH, PF_NOPOS, 0, NULL, "Output the renamed VM" },
	{ "Force", P_SWITCH, PF_NOPOS, 0, NULL, "Do not ask for confirmation" },
	{ NULL, 0, 0, 0, NULL, NULL },
};

static int run_set_vm(struct cli_ctx *ctx, const struct cli_bound *b, struct wire_value *in, struct wire_value *out)
{
	static const char *const names[] = { "ProcessorCount", "MemoryStartupBytes", "MemoryMinimumBytes",
					     "MemoryMaximumBytes", "Notes", "NewVMName", "CheckpointType", NULL };
	struct wire_value *args = vm_args(ctx, b, "Name", in, false);

	if (!args)
		return -1;
	if (cli_switch(b, "DynamicMemory") && cli_switch(b, "StaticMemory")) {
		cli_error(ctx, "Give -DynamicMemory or -StaticMemory, not both.");
		wire_value_unref(args);
		return -1;
	}
	cli_pass(b, args, names);
	if (cli_switch(b, "DynamicMemory"))
		wire_object_set(args, "DynamicMemory", wire_bool(true));
	if (cli_switch(b, "StaticMemory"))
		wire_object_set(args, "DynamicMemory", wire_bool(false));
	if (args && !approve_vms(ctx, b, &args))
		return 0;
	return cli_call_out(ctx, WIRE_PROC_VM_SET, args, cli_switch(b, "PassThru"), out);
}

static const struct cli_param set_vm_params[] = {
	{ "Name", P_STRINGS, 0, 0, "VMName", "The VMs to change (wildcards allowed), or pipe them in" },
	{ "ProcessorCount", P_INT, PF_NOPOS, 0, NULL, "Virtual processors, 1-240" },
	{ "MemoryStartupBytes", P_INT, PF_NOPOS, 0, NULL, "Startup memory: a multiple of 2MB from 32MB to 12TB" },
	{ "MemoryMinimumBytes", P_INT, PF_NOPOS, 0, NULL, "Dynamic memory's minimum" },
	{ "MemoryMaximumBytes", P_INT, PF_NOPOS, 0, NULL, "Dynamic memory's maximum" },
	{ "DynamicMemory", P_SWITCH, PF_NOPOS, 0, NULL, "Turn dynamic memory on" },
	{ "StaticMemory", P_SWITCH, PF_NOPOS, 0, NULL, "Turn dynamic memory off" },
	{ "Notes", P_STRING, PF_NOPOS, 0, NULL, "Free text kept with the VM" },
	{ "NewVMName", P_STRING, PF_NOPOS, 0, NULL, "A new name" },
	{ "CheckpointType", P_STRING, PF_NOPOS, 0, NULL, "Production (default), Standard, ProductionOnly or Disabled" },
	{ "PassThru", P_SWITCH, PF_NOPOS, 0, NULL, "Output the changed VMs" },
	{ "Force", P_SWITCH, PF_NOPOS, 0, NULL, "Do not ask for confirmation" },
	{ NULL, 0, 0, 0, NULL, NULL },
};

static int run_get_processor(struct cli_ctx *ctx, const struct cli_bound *b, struct wire_value *in,
			     struct wire_value *out)
{
	return cli_call_out(ctx, WIRE_PROC_VM_PROCESSOR_GET, vm_args(ctx, b, "VMName", in, true), true, out);
}

static int run_get_memory(struct cli_ctx *ctx, const struct cli_bound *b, struct wire_value *in, struct wire_value *out)
{
	return cli_call_out(ctx, WIRE_PROC_VM_MEMORY_GET, vm_args(ctx, b, "VMName", in, true), true, out);
}

static const struct cli_param get_vmpart_params[] = {
	{ "VMName", P_STRINGS, 0, 0, "Name", "The VMs (wildcards allowed), or pipe them in; default: all" },
	{ NULL, 0, 0, 0, NULL, NULL },
};

static int run_set_processor(struct cli_ctx *ctx, const struct cli_bound *b, struct wire_value *in,
			     struct wire_value *out)
{
	static const char *const names[] = { "Count", "Reserve", "Maximum", "RelativeWeight", NULL };
	struct wire_value *args = vm_args(ctx, b, "VMName", in, false);

	if (args)
		cli_pass(b, args, names);
	if (args && !approve_vms(ctx, b, &args))
		return 0;
	return cli_call_out(ctx, WIRE_PROC_VM_PROCESSOR_SET, args, cli_switch(b, "PassThru"), out);
}

static const struct cli_param set_processor_params[] = {
	{ "VMName", P_STRINGS, 0, 0, "Name", "The VMs to change (wildcards allowed), or pipe them in" },
	{ "Count", P_INT, PF_NOPOS, 0, NULL, "Virtual processors, 1-240" },
	{ "Reserve", P_INT, PF_NOPOS, 0, NULL, "Percent of its processors' capacity kept for the VM, 0-100" },
	{ "Maximum", P_INT, PF_NOPOS, 0, NULL, "Percent of its processors' capacity the VM may use, 0-100" },
	{ "RelativeWeight", P_INT, PF_NOPOS, 0, NULL, "Share of the processors against other VMs, 1-10000" },
	{ "PassThru", P_SWITCH, PF_NOPOS, 0, NULL, "Output the changed settings" },
	{ "Force", P_SWITCH, PF_NOPOS, 0, NULL, "Do not ask for confirmation" },
	{ NULL, 0, 0, 0, NULL, NULL },
};

static int run_set_memory(struct cli_ctx *ctx, const struct cli_bound *b, struct wire_value *in, struct wire_value *out)
{
	static const char *const names[] = { "StartupBytes", "DynamicMemoryEnabled", "MinimumBytes", "MaximumBytes",
					     "Buffer", "Priority", NULL };
	struct wire_value *args = vm_args(ctx, b, "VMName", in, false);

	if (args)
		cli_pass(b, args, names);
	if (args && !approve_vms(ctx, b, &args))
		return 0;
	return cli_call_out(ctx, WIRE_PROC_VM_MEMORY_SET, args, cli_switch(b, "PassThru"), out);
}

static const struct cli_param set_memory_params[] = {
	{ "VMName", P_STRINGS, 0, 0, "Name", "The VMs to change (wildcards allowed), or pipe them in" },
	{ "StartupBytes", P_INT, PF_NOPOS, 0, NULL, "Startup memory: a multiple of 2MB from 32MB to 12TB" },
	{ "DynamicMemoryEnabled", P_BOOL, PF_NOPOS, 0, NULL, "$true or $false" },
	{ "MinimumBytes", P_INT, PF_NOPOS, 0, NULL, "Dynamic memory's minimum (at most StartupBytes)" },
	{ "MaximumBytes", P_INT, PF_NOPOS, 0, NULL, "Dynamic memory's maximum (at least StartupBytes)" },
	{ "Buffer", P_INT, PF_NOPOS, 0, NULL, "Percent of memory kept above demand, 5-2000" },
	{ "Priority", P_INT, PF_NOPOS, 0, NULL, "Who gets memory first when it is short, 0-100" },
	{ "PassThru", P_SWITCH, PF_NOPOS, 0, NULL, "Output the changed settings" },
	{ "Force", P_SWITCH, PF_NOPOS, 0, NULL, "Do not ask for confirmation" },
	{ NULL, 0, 0, 0, NULL, NULL },
};

/*
 * The lifecycle cmdlets act on each VM on its own: the VMs are looked up (one read), each is
 * put to -WhatIf/-Confirm, and one call per VM goes to hvd, all at once, with the bound
 * parameters named in pass_names copied in.
 */
int cli_per_vm(struct cli_ctx *ctx, const struct cli_bound *b, struct wire_value *in, uint32_t proc,
		  const char *const *pass_names, struct wire_value *out)
{
	struct wire_value *sel = vm_args(ctx, b, "Name", in, false);
	struct wire_value *vms = NULL, *calls;
	size_t i;
	int rc;

	if (!sel)
		return -1;
	rc = cli_call(ctx, WIRE_PROC_VM_LIST, sel, &vms);
	wire_value_unref(sel);
	if (rc)
		return -1;
	calls = wire_list();
	for (i = 0; i < vms->list.n; i++) {
		const char *name = "", *id = "";
		struct wire_value *a;

		wire_object_get_string(vms->list.items[i], "Name", &name);
		wire_object_get_string(vms->list.items[i], "Id", &id);
		if (!cli_should_process(ctx, b, b->cmdlet->name, name))
			continue;
		a = wire_object("Arguments");
		wire_object_add(a, "Id", wire_string(id));
		cli_pass(b, a, pass_names);
		wire_list_append(calls, a);
	}
	wire_value_unref(vms);
	rc = cli_call_each(ctx, proc, calls, cli_switch(b, "PassThru") ? out : NULL);
	wire_value_unref(calls);
	return rc;
}

static int run_start_vm(struct cli_ctx *ctx, const struct cli_bound *b, struct wire_value *in, struct wire_value *out)
{
	return cli_per_vm(ctx, b, in, WIRE_PROC_VM_START, NULL, out);
}

static int run_stop_vm(struct cli_ctx *ctx, const struct cli_bound *b, struct wire_value *in, struct wire_value *out)
{
	static const char *const names[] = { "TurnOff", "Force", NULL };

	return cli_per_vm(ctx, b, in, WIRE_PROC_VM_STOP, names, out);
}

static int run_restart_vm(struct cli_ctx *ctx, const struct cli_bound *b, struct wire_value *in, struct wire_value *out)
{
	return cli_per_vm(ctx, b, in, WIRE_PROC_VM_RESTART, NULL, out);
}

static int run_suspend_vm(struct cli_ctx *ctx, const struct cli_bound *b, struct wire_value *in, struct wire_value *out)
{
	return cli_per_vm(ctx, b, in, WIRE_PROC_VM_SUSPEND, NULL, out);
}

static int run_resume_vm(struct cli_ctx *ctx, const struct cli_bound *b, struct wire_value *in, struct wire_value *out)
{
	return cli_per_vm(ctx, b, in, WIRE_PROC_VM_RESUME, NULL, out);
}

static const struct cli_param lifecycle_params[] = {
	{ "Name", P_STRINGS, 0, 0, "VMName", "The VMs (wildcards allowed), or pipe them in" },
	{ "PassThru", P_SWITCH, PF_NOPOS, 0, NULL, "Output the VMs" },
	{ "Force", P_SWITCH, PF_NOPOS, 0, NULL, "Do not ask for confirmation" },
	{ NULL, 0, 0, 0, NULL, NULL },
};

static const struct cli_param stop_vm_params[] = {
	{ "Name", P_STRINGS, 0, 0, "VMName", "The VMs (wildcards allowed), or pipe them in" },
	{ "TurnOff", P_SWITCH, PF_NOPOS, 0, NULL, "Power off at once, as pulling the plug" },
	{ "Force", P_SWITCH, PF_NOPOS, 0, NULL, "Turn off a guest that does not shut down within 30 seconds" },
	{ "PassThru", P_SWITCH, PF_NOPOS, 0, NULL, "Output the VMs" },
	{ NULL, 0, 0, 0, NULL, NULL },
};

static int run_get_firmware(struct cli_ctx *ctx, const struct cli_bound *b, struct wire_value *in, struct wire_value *out)
{
	return cli_call_out(ctx, WIRE_PROC_VM_FIRMWARE_GET, vm_args(ctx, b, "VMName", in, true), true, out);
}

static int run_set_firmware(struct cli_ctx *ctx, const struct cli_bound *b, struct wire_value *in, struct wire_value *out)
{
	static const char *const names[] = { "KernelPath", "InitrdPath", "KernelCommandLine", NULL };
	struct wire_value *args = vm_args(ctx, b, "VMName", in, false);

	if (args)
		cli_pass(b, args, names);
	if (args && !approve_vms(ctx, b, &args))
		return 0;
	return cli_call_out(ctx, WIRE_PROC_VM_FIRMWARE_SET, args, cli_switch(b, "PassThru"), out);
}

static const struct cli_param set_firmware_params[] = {
	{ "VMName", P_STRINGS, 0, 0, "Name", "The VMs to change (wildcards allowed), or pipe them in" },
	{ "KernelPath", P_STRING, PF_NOPOS, 0, NULL, "An absolute path to a kernel (64-bit ELF or bzImage); '' for the built-in guest" },
	{ "InitrdPath", P_STRING, PF_NOPOS, 0, NULL, "An absolute path to an initrd; '' for none" },
	{ "KernelCommandLine", P_STRING, PF_NOPOS, 0, NULL, "The kernel's command line; '' for none" },
	{ "PassThru", P_SWITCH, PF_NOPOS, 0, NULL, "Output the changed settings" },
	{ "Force", P_SWITCH, PF_NOPOS, 0, NULL, "Do not ask for confirmation" },
	{ NULL, 0, 0, 0, NULL, NULL },
};

/* A path as hvd should see it: absolute (relative ones are taken from here when hvd is
 * local; over SSH they go as given and hvd says what it wants). */
struct wire_value *cli_path_abs(struct cli_ctx *ctx, const char *path)
{
	char cwd[4096];
	const char *uri = ctx->uri ? ctx->uri : getenv("HVKIT_HOST");

	if (path[0] == '/' || (uri && !strncmp(uri, "ssh://", 6)) || !getcwd(cwd, sizeof(cwd)))
		return wire_string(path);
	return wire_stringf("%s/%s", cwd, path);
}

/* One call per disk: the -Path values, or the disks (objects with a Path) and paths piped in;
 * bound parameters named in pass_names go along. */
static int per_vhd(struct cli_ctx *ctx, const struct cli_bound *b, struct wire_value *in, uint32_t proc,
		   const char *const *pass_names, bool show, struct wire_value *out)
{
	struct wire_value *paths = cli_arg(b, "Path"), *calls = wire_list(), *list = wire_list();
	size_t i;
	int rc;

	if (paths)
		cli_unroll(list, wire_value_ref(paths));
	for (i = 0; !paths && i < in->list.n; i++) {
		const struct wire_value *it = in->list.items[i], *p = wire_object_get(it, "Path");

		if (it->type == WIRE_OBJECT && strcmp(it->obj.type_name, "VirtualHardDisk"))
			continue; /* a VM's Path is its folder, not a disk */
		if (p && p->type == WIRE_STRING)
			wire_list_append(list, wire_value_ref((struct wire_value *)p));
		else if (it->type == WIRE_STRING)
			wire_list_append(list, wire_value_ref((struct wire_value *)it));
	}
	if (!list->list.n) {
		cli_error(ctx, "Name the disk with -Path, or pipe disks in.");
		wire_value_unref(list);
		wire_value_unref(calls);
		return -1;
	}
	for (i = 0; i < list->list.n; i++) {
		struct wire_value *a = wire_object("Arguments"), *dest = cli_arg(b, "DestinationPath"), *parent = cli_arg(b, "ParentPath");
		const char *path = list->list.items[i]->str.p;

		if (!cli_should_process(ctx, b, b->cmdlet->name, path)) {
			wire_value_unref(a);
			continue;
		}
		wire_object_add(a, "Path", cli_path_abs(ctx, path));
		cli_pass(b, a, pass_names);
		if (proc == WIRE_PROC_VHD_NEW)
			wire_object_add(a, "Type", wire_string(cli_switch(b, "Fixed") ? "Fixed"
							       : cli_switch(b, "Differencing") || cli_arg(b, "ParentPath")
								       ? "Differencing"
								       : "Dynamic"));
		if (dest)
			wire_object_set(a, "DestinationPath", cli_path_abs(ctx, dest->str.p));
		if (parent)
			wire_object_set(a, "ParentPath", cli_path_abs(ctx, parent->str.p));
		wire_list_append(calls, a);
	}
	rc = cli_call_each(ctx, proc, calls, show ? out : NULL);
	wire_value_unref(calls);
	wire_value_unref(list);
	return rc;
}

static int run_new_vhd(struct cli_ctx *ctx, const struct cli_bound *b, struct wire_value *in, struct wire_value *out)
{
	static const char *const names[] = { "SizeBytes", "BlockSizeBytes", "LogicalSectorSizeBytes",
					     "PhysicalSectorSizeBytes", NULL };
	int kinds = cli_switch(b, "Dynamic") + cli_switch(b, "Fixed") + cli_switch(b, "Differencing");

	if (kinds > 1) {
		cli_error(ctx, "Give one of -Dynamic, -Fixed and -Differencing.");
		return -1;
	}
	if ((cli_switch(b, "Dynamic") || cli_switch(b, "Fixed")) && cli_arg(b, "ParentPath")) {
		cli_error(ctx, "-ParentPath makes a differencing disk: leave out -Dynamic and -Fixed.");
		return -1;
	}
	if (cli_switch(b, "Differencing") && !cli_arg(b, "ParentPath")) {
		cli_error(ctx, "A differencing disk needs -ParentPath.");
		return -1;
	}
	return per_vhd(ctx, b, in, WIRE_PROC_VHD_NEW, names, true, out);
}

static const struct cli_param new_vhd_params[] = {
	{ "Path", P_STRINGS, 0, PF_MANDATORY, NULL, "The new .vhdx file (never an existing one)" },
	{ "SizeBytes", P_INT, 1, 0, NULL, "Its size (up to 64TB; a differencing disk takes its parent's)" },
	{ "Dynamic", P_SWITCH, PF_NOPOS, 0, NULL, "Space is taken as data is written (the default)" },
	{ "Fixed", P_SWITCH, PF_NOPOS, 0, NULL, "All space is taken at once" },
	{ "Differencing", P_SWITCH, PF_NOPOS, 0, NULL, "Changes over -ParentPath" },
	{ "ParentPath", P_STRING, PF_NOPOS, 0, NULL, "The parent of a differencing disk" },
	{ "BlockSizeBytes", P_INT, PF_NOPOS, 0, NULL, "1MB-256MB, a power of two (default 32MB; 2MB for fixed)" },
	{ "LogicalSectorSizeBytes", P_INT, PF_NOPOS, 0, NULL, "512 or 4096 (default 512)" },
	{ "PhysicalSectorSizeBytes", P_INT, PF_NOPOS, 0, NULL, "512 or 4096 (default 4096)" },
	{ NULL, 0, 0, 0, NULL, NULL },
};

static int run_get_vhd(struct cli_ctx *ctx, const struct cli_bound *b, struct wire_value *in, struct wire_value *out)
{
	return per_vhd(ctx, b, in, WIRE_PROC_VHD_GET, NULL, true, out);
}

static int run_test_vhd(struct cli_ctx *ctx, const struct cli_bound *b, struct wire_value *in, struct wire_value *out)
{
	return per_vhd(ctx, b, in, WIRE_PROC_VHD_TEST, NULL, true, out);
}

static int run_resize_vhd(struct cli_ctx *ctx, const struct cli_bound *b, struct wire_value *in, struct wire_value *out)
{
	static const char *const names[] = { "SizeBytes", NULL };

	return per_vhd(ctx, b, in, WIRE_PROC_VHD_RESIZE, names, cli_switch(b, "PassThru"), out);
}

static int run_convert_vhd(struct cli_ctx *ctx, const struct cli_bound *b, struct wire_value *in, struct wire_value *out)
{
	static const char *const names[] = { "VHDType", "BlockSizeBytes", NULL };

	return per_vhd(ctx, b, in, WIRE_PROC_VHD_CONVERT, names, cli_switch(b, "PassThru"), out);
}

static int run_merge_vhd(struct cli_ctx *ctx, const struct cli_bound *b, struct wire_value *in, struct wire_value *out)
{
	return per_vhd(ctx, b, in, WIRE_PROC_VHD_MERGE, NULL, cli_switch(b, "PassThru"), out);
}

static int run_optimize_vhd(struct cli_ctx *ctx, const struct cli_bound *b, struct wire_value *in, struct wire_value *out)
{
	return per_vhd(ctx, b, in, WIRE_PROC_VHD_OPTIMIZE, NULL, cli_switch(b, "PassThru"), out);
}

static const struct cli_param vhd_path_params[] = {
	{ "Path", P_STRINGS, 0, 0, NULL, "The .vhdx files, or pipe disks in" },
	{ NULL, 0, 0, 0, NULL, NULL },
};

static const struct cli_param resize_vhd_params[] = {
	{ "Path", P_STRINGS, 0, 0, NULL, "The .vhdx files, or pipe disks in" },
	{ "SizeBytes", P_INT, 1, PF_MANDATORY, NULL, "The new size (shrinking only over space without data)" },
	{ "PassThru", P_SWITCH, PF_NOPOS, 0, NULL, "Output the disks" },
	{ NULL, 0, 0, 0, NULL, NULL },
};

static const struct cli_param convert_vhd_params[] = {
	{ "Path", P_STRINGS, 0, 0, NULL, "The disk to convert (a chain is flattened)" },
	{ "DestinationPath", P_STRING, 1, PF_MANDATORY, NULL, "The new .vhdx file (never an existing one)" },
	{ "VHDType", P_STRING, PF_NOPOS, 0, NULL, "Dynamic (default) or Fixed" },
	{ "BlockSizeBytes", P_INT, PF_NOPOS, 0, NULL, "The new disk's block size" },
	{ "PassThru", P_SWITCH, PF_NOPOS, 0, NULL, "Output the new disk" },
	{ NULL, 0, 0, 0, NULL, NULL },
};

static const struct cli_param merge_vhd_params[] = {
	{ "Path", P_STRINGS, 0, 0, NULL, "The differencing disk to merge into its parent" },
	{ "DestinationPath", P_STRING, 1, 0, NULL, "Its parent (the only destination hvd merges into)" },
	{ "PassThru", P_SWITCH, PF_NOPOS, 0, NULL, "Output the parent" },
	{ NULL, 0, 0, 0, NULL, NULL },
};

static const struct cli_param optimize_vhd_params[] = {
	{ "Path", P_STRINGS, 0, 0, NULL, "The .vhdx files, or pipe disks in" },
	{ "PassThru", P_SWITCH, PF_NOPOS, 0, NULL, "Output the disks" },
	{ NULL, 0, 0, 0, NULL, NULL },
};

static int run_get_host(struct cli_ctx *ctx, const struct cli_bound *b, struct wire_value *in, struct wire_value *out)
{
	return cli_call_out(ctx, WIRE_PROC_HOST_GET, wire_object("Arguments"), true, out);
}

static const struct cli_param no_params[] = { { NULL, 0, 0, 0, NULL, NULL } };

static const struct cli_param invoke_params[] = {
	{ "ComputerName", P_STRINGS, 0, PF_MANDATORY, "cn", "The hosts (names for ssh://NAME, or URIs), all at once" },
	{ "ScriptBlock", P_BLOCK, 1, PF_MANDATORY, NULL, "What to run on each" },
	{ NULL, 0, 0, 0, NULL, NULL },
};

static const struct cli_param enter_params[] = {
	{ "ComputerName", P_STRING, 0, PF_MANDATORY, "cn", "The host (a name for ssh://NAME, or a URI)" },
	{ NULL, 0, 0, 0, NULL, NULL },
};

static int run_get_vmbus_channel(struct cli_ctx *ctx, const struct cli_bound *b, struct wire_value *in,
				 struct wire_value *out)
{
	return cli_call_out(ctx, WIRE_PROC_VMBUS_CHANNELS, vm_args(ctx, b, "VMName", in, true), true, out);
}

static const struct cli_param get_vmbus_channel_params[] = {
	{ "VMName", P_STRINGS, 0, 0, "Name", "The VMs (wildcards allowed), or pipe them in; default: all" },
	{ NULL, 0, 0, 0, NULL, NULL },
};

/* See cli.h. */
bool cli_name_matches(const struct wire_value *patterns, const char *name)
{
	size_t i;

	if (!patterns)
		return true;
	if (patterns->type == WIRE_STRING)
		return fnmatch(patterns->str.p, name, FNM_CASEFOLD) == 0;
	for (i = 0; patterns->type == WIRE_LIST && i < patterns->list.n; i++)
		if (patterns->list.items[i]->type == WIRE_STRING &&
		    fnmatch(patterns->list.items[i]->str.p, name, FNM_CASEFOLD) == 0)
			return true;
	return false;
}

static int run_get_ic(struct cli_ctx *ctx, const struct cli_bound *b, struct wire_value *in, struct wire_value *out)
{
	const struct wire_value *names = cli_arg(b, "Name");
	struct wire_value *all = wire_list();
	size_t i;
	int rc = cli_call_out(ctx, WIRE_PROC_VM_IC_GET, vm_args(ctx, b, "VMName", in, true), true, all);

	for (i = 0; rc == 0 && i < all->list.n; i++) {
		const char *name = "";

		wire_object_get_string(all->list.items[i], "Name", &name);
		if (cli_name_matches(names, name))
			wire_list_append(out, wire_value_ref(all->list.items[i]));
	}
	wire_value_unref(all);
	return rc;
}

/* Enable-/Disable-VMIntegrationService: -Name and -VMName, or integration services piped in. */
static int set_ic(struct cli_ctx *ctx, const struct cli_bound *b, struct wire_value *in, struct wire_value *out,
		  bool enable)
{
	struct wire_value *names = cli_arg(b, "Name"), *args, *each;
	bool piped_services = false;
	size_t i;
	int rc;

	for (i = 0; i < in->list.n; i++)
		piped_services |= in->list.items[i]->type == WIRE_OBJECT &&
				  !strcmp(in->list.items[i]->obj.type_name, "VMIntegrationComponent");
	if (piped_services && !cli_arg(b, "VMName")) {
		/* Each service piped in names its VM and itself. */
		each = wire_list();
		for (i = 0; i < in->list.n; i++) {
			const struct wire_value *it = in->list.items[i], *id = wire_object_get(it, "VMId"),
						*name = wire_object_get(it, "Name");

			if (!id || !name)
				continue;
			args = wire_object("Arguments");
			wire_object_add(args, "Id", wire_value_ref((struct wire_value *)id));
			wire_object_add(args, "Service", wire_value_ref((struct wire_value *)name));
			wire_object_add(args, "Enabled", wire_bool(enable));
			wire_list_append(each, args);
		}
		{
			struct wire_value *all = wire_list();
			size_t k;

			rc = cli_call_each(ctx, WIRE_PROC_VM_IC_SET, each, all);
			/* -PassThru: just the services piped in, as they are now. */
			for (i = 0; cli_switch(b, "PassThru") && i < all->list.n; i++) {
				const struct wire_value *o = all->list.items[i];

				for (k = 0; k < in->list.n; k++)
					if (wire_value_equal(wire_object_get(o, "VMId"), wire_object_get(in->list.items[k], "VMId")) &&
					    wire_value_equal(wire_object_get(o, "Name"), wire_object_get(in->list.items[k], "Name"))) {
						wire_list_append(out, wire_value_ref(all->list.items[i]));
						break;
					}
			}
			wire_value_unref(all);
		}
		wire_value_unref(each);
		return rc;
	}
	if (!names) {
		cli_error(ctx, "Name the integration services with -Name (Heartbeat, Shutdown, Time Synchronization, "
			       "Key-Value Pair Exchange), or pipe them in from Get-VMIntegrationService.");
		return -1;
	}
	args = vm_args(ctx, b, "VMName", in, false);
	if (!args)
		return -1;
	wire_object_add(args, "Service", wire_value_ref(names));
	wire_object_add(args, "Enabled", wire_bool(enable));
	if (!approve_vms(ctx, b, &args))
		return 0;
	{
		struct wire_value *all = wire_list();

		rc = cli_call_out(ctx, WIRE_PROC_VM_IC_SET, args, true, all);
		for (i = 0; rc == 0 && cli_switch(b, "PassThru") && i < all->list.n; i++) {
			const char *name = "";

			wire_object_get_string(all->list.items[i], "Name", &name);
			if (cli_name_matches(names, name))
				wire_list_append(out, wire_value_ref(all->list.items[i]));
		}
		wire_value_unref(all);
	}
	return rc;
}

static int run_enable_ic(struct cli_ctx *ctx, const struct cli_bound *b, struct wire_value *in, struct wire_value *out)
{
	return set_ic(ctx, b, in, out, true);
}

static int run_disable_ic(struct cli_ctx *ctx, const struct cli_bound *b, struct wire_value *in, struct wire_value *out)
{
	return set_ic(ctx, b, in, out, false);
}

static const struct cli_param get_ic_params[] = {
	{ "VMName", P_STRINGS, 0, 0, NULL, "The VMs (wildcards allowed), or pipe them in; default: all" },
	{ "Name", P_STRINGS, 1, 0, NULL, "The services (wildcards allowed); default: all" },
	{ NULL, 0, 0, 0, NULL, NULL },
};

static const struct cli_param set_ic_params[] = {
	{ "Name", P_STRINGS, 0, 0, NULL, "The services: Heartbeat, Shutdown, Time Synchronization, Key-Value Pair Exchange" },
	{ "VMName", P_STRINGS, 1, 0, NULL, "The VMs (wildcards allowed), or pipe them in" },
	{ "PassThru", P_SWITCH, PF_NOPOS, 0, NULL, "Output the services changed" },
	{ "Force", P_SWITCH, PF_NOPOS, 0, NULL, "Do not ask for confirmation" },
	{ NULL, 0, 0, 0, NULL, NULL },
};

static const struct cli_param watch_params[] = {
	{ "Name", P_STRINGS, 0, 0, "VMName", "The running VMs to watch (wildcards allowed); default: all" },
	{ "Interval", P_INT, PF_NOPOS, 0, NULL, "Seconds between samples, 1-3600 (default 1)" },
	{ "Count", P_INT, PF_NOPOS, 0, NULL, "Stop after this many samples (default: until Ctrl-C)" },
	{ NULL, 0, 0, 0, NULL, NULL },
};

static const struct cli_param console_params[] = {
	{ "Name", P_STRING, 0, PF_MANDATORY, "VMName", "The VM whose console to attach to" },
	{ NULL, 0, 0, 0, NULL, NULL },
};

#define CHANGE (CLI_DAEMON | CLI_CHANGES)

const struct cli_cmdlet cli_daemon_cmdlets[] = {
	{ .name = "Get-VM", .synopsis = "Gets virtual machines", .params = get_vm_params, .run = run_get_vm,
	  .flags = CLI_DAEMON, .example = "Get-VM\nGet-VM web* | Format-List Name, State, ProcessorCount" },
	{ .name = "New-VM", .synopsis = "Defines a new virtual machine", .params = new_vm_params, .run = run_new_vm,
	  .flags = CHANGE, .example = "New-VM -Name web1 -MemoryStartupBytes 512MB -ProcessorCount 2" },
	{ .name = "Remove-VM", .synopsis = "Deletes virtual machine definitions (their disks are kept)",
	  .params = remove_vm_params, .run = run_remove_vm, .flags = CHANGE | CLI_CONFIRM,
	  .example = "Remove-VM web1 -Force\nGet-VM test* | Remove-VM -WhatIf" },
	{ .name = "Rename-VM", .synopsis = "Renames a virtual machine", .params = rename_vm_params, .run = run_rename_vm,
	  .flags = CHANGE, .example = "Rename-VM web1 web01" },
	{ .name = "Set-VM", .synopsis = "Changes a virtual machine's settings", .params = set_vm_params, .run = run_set_vm,
	  .flags = CHANGE, .example = "Set-VM web1 -ProcessorCount 4 -Notes 'front end'" },
	{ .name = "Get-VMProcessor", .synopsis = "Gets the processor settings of virtual machines",
	  .params = get_vmpart_params, .run = run_get_processor, .flags = CLI_DAEMON, .example = "Get-VMProcessor web1" },
	{ .name = "Set-VMProcessor", .synopsis = "Changes the processor settings of virtual machines",
	  .params = set_processor_params, .run = run_set_processor, .flags = CHANGE,
	  .example = "Get-VM web* | Set-VMProcessor -Count 2 -Reserve 10 -Maximum 75" },
	{ .name = "Get-VMMemory", .synopsis = "Gets the memory settings of virtual machines", .params = get_vmpart_params,
	  .run = run_get_memory, .flags = CLI_DAEMON, .example = "Get-VMMemory web1" },
	{ .name = "Set-VMMemory", .synopsis = "Changes the memory settings of virtual machines",
	  .params = set_memory_params, .run = run_set_memory, .flags = CHANGE,
	  .example = "Set-VMMemory web1 -DynamicMemoryEnabled $true -MinimumBytes 256MB -MaximumBytes 2GB" },
	{ .name = "Start-VM", .synopsis = "Starts virtual machines", .params = lifecycle_params, .run = run_start_vm,
	  .flags = CHANGE, .example = "Start-VM web1\nGet-VM web* | Start-VM" },
	{ .name = "Stop-VM", .synopsis = "Shuts down (asks the guest) or turns off virtual machines",
	  .params = stop_vm_params, .run = run_stop_vm, .flags = CHANGE, .example = "Stop-VM web1\nStop-VM web* -TurnOff" },
	{ .name = "Restart-VM", .synopsis = "Resets virtual machines (turns them off and starts them)",
	  .params = lifecycle_params, .run = run_restart_vm, .flags = CHANGE | CLI_CONFIRM, .example = "Restart-VM web1 -Force" },
	{ .name = "Suspend-VM", .synopsis = "Pauses virtual machines", .params = lifecycle_params, .run = run_suspend_vm,
	  .flags = CHANGE, .example = "Suspend-VM web1" },
	{ .name = "Resume-VM", .synopsis = "Resumes paused virtual machines", .params = lifecycle_params,
	  .run = run_resume_vm, .flags = CHANGE, .example = "Resume-VM web1" },
	{ .name = "Get-VMFirmware", .synopsis = "Gets what virtual machines boot", .params = get_vmpart_params,
	  .run = run_get_firmware, .flags = CLI_DAEMON, .example = "Get-VMFirmware web1" },
	{ .name = "Set-VMFirmware", .synopsis = "Sets the kernel, initrd and command line virtual machines boot",
	  .params = set_firmware_params, .run = run_set_firmware, .flags = CHANGE,
	  .example = "Set-VMFirmware web1 -KernelPath /boot/vmlinuz -InitrdPath /boot/initrd.img -KernelCommandLine 'console=ttyS0'\n"
		     "Set-VMFirmware web1 -KernelCommandLine 'hvguest.poweroff=1'" },
	{ .name = "Get-VMBusChannel", .synopsis = "Gets the VMBus channels of running VMs, with their counters",
	  .params = get_vmbus_channel_params, .run = run_get_vmbus_channel, .flags = CLI_DAEMON,
	  .example = "Get-VMBusChannel web1\n"
		     "Get-VMBusChannel | Sort-Object PacketsIn -Descending | Select-Object -First 5 VMName, Name, PacketsIn" },
	{ .name = "Get-VMIntegrationService", .synopsis = "Gets the integration services of VMs and whether the guest answers",
	  .params = get_ic_params, .run = run_get_ic, .flags = CLI_DAEMON,
	  .example = "Get-VMIntegrationService web1\n"
		     "Get-VMIntegrationService web1 -Name Heartbeat | Select-Object PrimaryStatusDescription" },
	{ .name = "Enable-VMIntegrationService", .synopsis = "Turns integration services on (offered to the guest at once)",
	  .params = set_ic_params, .run = run_enable_ic, .flags = CHANGE,
	  .example = "Enable-VMIntegrationService -VMName web1 -Name Heartbeat\n"
		     "Get-VMIntegrationService web1 | Enable-VMIntegrationService" },
	{ .name = "Disable-VMIntegrationService", .synopsis = "Turns integration services off (rescinded from a running guest)",
	  .params = set_ic_params, .run = run_disable_ic, .flags = CHANGE,
	  .example = "Disable-VMIntegrationService -VMName web1 -Name 'Time Synchronization'" },
	{ .name = "Watch-VM", .synopsis = "Streams live samples of running VMs: CPU, exits and VMBus traffic per second",
	  .params = watch_params, .end = cli_watch_vm, .flags = CLI_DAEMON,
	  .example = "Watch-VM web1 -Interval 2\n"
		     "Watch-VM web1 -Count 5 | Select-Object -ExpandProperty Channels | Format-Table Name, PacketsInPerSecond" },
	{ .name = "Connect-VMConsole", .synopsis = "Attaches the terminal to a virtual machine's serial console (Ctrl-] leaves)",
	  .params = console_params, .run = cli_run_console, .flags = CLI_DAEMON, .example = "Connect-VMConsole web1" },
	{ .name = "New-VHD", .synopsis = "Creates a virtual hard disk (.vhdx)", .params = new_vhd_params, .run = run_new_vhd,
	  .flags = CHANGE, .example = "New-VHD -Path /srv/vm/web1.vhdx -SizeBytes 20GB -Dynamic\n"
				    "New-VHD /srv/vm/web1-test.avhdx -Differencing -ParentPath /srv/vm/web1.vhdx" },
	{ .name = "Get-VHD", .synopsis = "Gets virtual hard disks", .params = vhd_path_params, .run = run_get_vhd,
	  .flags = CLI_DAEMON, .example = "Get-VHD /srv/vm/web1.vhdx | Format-List" },
	{ .name = "Resize-VHD", .synopsis = "Changes a virtual hard disk's size", .params = resize_vhd_params,
	  .run = run_resize_vhd, .flags = CHANGE, .example = "Resize-VHD /srv/vm/web1.vhdx -SizeBytes 40GB" },
	{ .name = "Convert-VHD", .synopsis = "Copies a disk into a new one of another type (flattening a chain)",
	  .params = convert_vhd_params, .run = run_convert_vhd, .flags = CHANGE,
	  .example = "Convert-VHD /srv/vm/web1.vhdx /srv/vm/web1-fixed.vhdx -VHDType Fixed" },
	{ .name = "Merge-VHD", .synopsis = "Merges a differencing disk into its parent (and removes it)",
	  .params = merge_vhd_params, .run = run_merge_vhd, .flags = CHANGE, .example = "Merge-VHD /srv/vm/web1-test.avhdx" },
	{ .name = "Optimize-VHD", .synopsis = "Releases the blocks of a dynamic disk that read as zeros",
	  .params = optimize_vhd_params, .run = run_optimize_vhd, .flags = CHANGE, .example = "Optimize-VHD /srv/vm/web1.vhdx" },
	{ .name = "Test-VHD", .synopsis = "Checks a virtual hard disk (and its chain): True or False",
	  .params = vhd_path_params, .run = run_test_vhd, .flags = CLI_DAEMON, .example = "Test-VHD /srv/vm/web1.vhdx" },
	{ .name = "Invoke-Command", .aliases = "icm", .synopsis = "Runs a script block on several hosts at once",
	  .params = invoke_params, .run = cli_invoke_command, .flags = CLI_DAEMON,
	  .example = "Invoke-Command -ComputerName h1,h2 -ScriptBlock { Get-VM | Where-Object State -eq Running }" },
	{ .name = "Enter-PSSession", .aliases = "etsn", .synopsis = "Makes the prompt work on another host",
	  .params = enter_params, .run = cli_enter_session, .flags = CLI_DAEMON, .example = "Enter-PSSession h1" },
	{ .name = "Exit-PSSession", .aliases = "exsn", .synopsis = "Returns the prompt to the host it started on",
	  .params = no_params, .run = cli_exit_session, .example = "Exit-PSSession" },
	{ .name = "Get-VMHost", .synopsis = "Gets the host: processors, memory, paths", .params = no_params,
	  .run = run_get_host, .flags = CLI_DAEMON, .example = "Get-VMHost | Format-List" },
	{ .name = NULL },
};

/* The one table is four, by where the cmdlets live; this walks them in order. */
const struct cli_cmdlet *cli_cmdlet_at(size_t i)
{
	const struct cli_cmdlet *const tables[] = { cli_daemon_cmdlets, cli_checkpoint_cmdlets, cli_pool_cmdlets,
						    cli_pipeline_cmdlets, cli_output_cmdlets };
	size_t t, n;

	for (t = 0; t < sizeof(tables) / sizeof(tables[0]); t++) {
		for (n = 0; tables[t][n].name; n++)
			if (i-- == 0)
				return &tables[t][n];
	}
	return NULL;
}

static bool alias_of(const char *aliases, const char *name)
{
	size_t len = strlen(name);
	const char *s = aliases;

	while (s && *s) {
		const char *e = strchr(s, ',');
		size_t l = e ? (size_t)(e - s) : strlen(s);

		if (l == len && !strncasecmp(s, name, l))
			return true;
		s = e ? e + 1 : NULL;
	}
	return false;
}

const struct cli_cmdlet *cli_cmdlet_find(const char *name)
{
	const struct cli_cmdlet *c;
	size_t i;

	for (i = 0; (c = cli_cmdlet_at(i)); i++)
		if (!strcasecmp(c->name, name) || alias_of(c->aliases, name))
			return c;
	return NULL;
}
