/*
 * The cmdlets hvd serves, and the one cmdlet table (this file's and pipeline.c's) from which
 * dispatch, Get-Help, completion and the man page check are all derived.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

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
static void pass(const struct cli_bound *b, struct wire_value *args, const char *const *list)
{
	for (; list && *list; list++) {
		struct wire_value *v = cli_arg(b, *list);

		if (v)
			wire_object_set(args, *list, wire_value_ref(v));
	}
}

/* Calls hvd and writes its objects out when show is set; consumes args. */
static int call_out(struct cli_ctx *ctx, uint32_t proc, struct wire_value *args, bool show, struct wire_value *out)
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
	return call_out(ctx, WIRE_PROC_VM_LIST, args, true, out);
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

	pass(b, args, names);
	return call_out(ctx, WIRE_PROC_VM_NEW, args, true, out);
}

static const struct cli_param new_vm_params[] = {
	{ "Name", P_STRING, 0, PF_MANDATORY, "VMName", "The new VM's name (1-100 characters, unique)" },
	{ "MemoryStartupBytes", P_INT, PF_NOPOS, 0, NULL, "Startup memory: a multiple of 2MB from 32MB to 12TB (default 512MB)" },
	{ "ProcessorCount", P_INT, PF_NOPOS, 0, NULL, "Virtual processors, 1-240 (default 1)" },
	{ "Path", P_STRING, PF_NOPOS, 0, NULL, "An absolute folder for the VM's files (default: in the state directory)" },
	{ "Generation", P_INT, PF_NOPOS, 0, NULL, "1 or 2 (default 2)" },
	{ "Notes", P_STRING, PF_NOPOS, 0, NULL, "Free text kept with the VM" },
	{ NULL, 0, 0, 0, NULL, NULL },
};

static bool confirm(struct cli_ctx *ctx, const char *what)
{
	char line[64];

	if (!ctx->interactive)
		return true;
	fprintf(stderr, "Confirm: %s? [Y] Yes  [N] No (default is \"N\"): ", what);
	fflush(stderr);
	if (!fgets(line, sizeof(line), stdin))
		return false;
	return line[0] == 'y' || line[0] == 'Y';
}

static int run_remove_vm(struct cli_ctx *ctx, const struct cli_bound *b, struct wire_value *in, struct wire_value *out)
{
	struct wire_value *args = vm_args(ctx, b, "Name", in, false), *names;
	struct wire_buf what = { 0 };

	if (!args)
		return -1;
	names = wire_object_get(args, "Name");
	wire_buf_printf(&what, "Remove virtual machine ");
	if (names)
		cli_display(names, &what);
	else
		wire_buf_printf(&what, "(%zu piped in)", in->list.n);
	wire_buf_put(&what, "", 1);
	if (!cli_switch(b, "Force") && !confirm(ctx, (const char *)what.data)) {
		wire_buf_free(&what);
		wire_value_unref(args);
		return 0;
	}
	wire_buf_free(&what);
	return call_out(ctx, WIRE_PROC_VM_REMOVE, args, cli_switch(b, "Passthru"), out);
}

static const struct cli_param remove_vm_params[] = {
	{ "Name", P_STRINGS, 0, 0, "VMName", "The VMs to remove (wildcards allowed), or pipe them in" },
	{ "Force", P_SWITCH, PF_NOPOS, 0, NULL, "Do not ask for confirmation" },
	{ "Passthru", P_SWITCH, PF_NOPOS, 0, NULL, "Output the removed VMs" },
	{ NULL, 0, 0, 0, NULL, NULL },
};

static int run_rename_vm(struct cli_ctx *ctx, const struct cli_bound *b, struct wire_value *in, struct wire_value *out)
{
	static const char *const names[] = { "NewName", NULL };
	struct wire_value *args = vm_args(ctx, b, "Name", in, false);

	if (args)
		pass(b, args, names);
	return call_out(ctx, WIRE_PROC_VM_RENAME, args, cli_switch(b, "Passthru"), out);
}

static const struct cli_param rename_vm_params[] = {
	{ "Name", P_STRINGS, 0, 0, "VMName", "The VM to rename, or pipe it in" },
	{ "NewName", P_STRING, 1, PF_MANDATORY, NULL, "Its new name" },
	{ "Passthru", P_SWITCH, PF_NOPOS, 0, NULL, "Output the renamed VM" },
	{ NULL, 0, 0, 0, NULL, NULL },
};

static int run_set_vm(struct cli_ctx *ctx, const struct cli_bound *b, struct wire_value *in, struct wire_value *out)
{
	static const char *const names[] = { "ProcessorCount", "MemoryStartupBytes", "MemoryMinimumBytes",
					     "MemoryMaximumBytes", "Notes", "NewVMName", NULL };
	struct wire_value *args = vm_args(ctx, b, "Name", in, false);

	if (!args)
		return -1;
	if (cli_switch(b, "DynamicMemory") && cli_switch(b, "StaticMemory")) {
		cli_error(ctx, "Give -DynamicMemory or -StaticMemory, not both.");
		wire_value_unref(args);
		return -1;
	}
	pass(b, args, names);
	if (cli_switch(b, "DynamicMemory"))
		wire_object_set(args, "DynamicMemory", wire_bool(true));
	if (cli_switch(b, "StaticMemory"))
		wire_object_set(args, "DynamicMemory", wire_bool(false));
	return call_out(ctx, WIRE_PROC_VM_SET, args, cli_switch(b, "Passthru"), out);
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
	{ "Passthru", P_SWITCH, PF_NOPOS, 0, NULL, "Output the changed VMs" },
	{ NULL, 0, 0, 0, NULL, NULL },
};

static int run_get_processor(struct cli_ctx *ctx, const struct cli_bound *b, struct wire_value *in,
			     struct wire_value *out)
{
	return call_out(ctx, WIRE_PROC_VM_PROCESSOR_GET, vm_args(ctx, b, "VMName", in, true), true, out);
}

static int run_get_memory(struct cli_ctx *ctx, const struct cli_bound *b, struct wire_value *in, struct wire_value *out)
{
	return call_out(ctx, WIRE_PROC_VM_MEMORY_GET, vm_args(ctx, b, "VMName", in, true), true, out);
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
		pass(b, args, names);
	return call_out(ctx, WIRE_PROC_VM_PROCESSOR_SET, args, cli_switch(b, "Passthru"), out);
}

static const struct cli_param set_processor_params[] = {
	{ "VMName", P_STRINGS, 0, 0, "Name", "The VMs to change (wildcards allowed), or pipe them in" },
	{ "Count", P_INT, PF_NOPOS, 0, NULL, "Virtual processors, 1-240" },
	{ "Reserve", P_INT, PF_NOPOS, 0, NULL, "Percent of its processors' capacity kept for the VM, 0-100" },
	{ "Maximum", P_INT, PF_NOPOS, 0, NULL, "Percent of its processors' capacity the VM may use, 0-100" },
	{ "RelativeWeight", P_INT, PF_NOPOS, 0, NULL, "Share of the processors against other VMs, 1-10000" },
	{ "Passthru", P_SWITCH, PF_NOPOS, 0, NULL, "Output the changed settings" },
	{ NULL, 0, 0, 0, NULL, NULL },
};

static int run_set_memory(struct cli_ctx *ctx, const struct cli_bound *b, struct wire_value *in, struct wire_value *out)
{
	static const char *const names[] = { "StartupBytes", "DynamicMemoryEnabled", "MinimumBytes", "MaximumBytes",
					     "Buffer", "Priority", NULL };
	struct wire_value *args = vm_args(ctx, b, "VMName", in, false);

	if (args)
		pass(b, args, names);
	return call_out(ctx, WIRE_PROC_VM_MEMORY_SET, args, cli_switch(b, "Passthru"), out);
}

static const struct cli_param set_memory_params[] = {
	{ "VMName", P_STRINGS, 0, 0, "Name", "The VMs to change (wildcards allowed), or pipe them in" },
	{ "StartupBytes", P_INT, PF_NOPOS, 0, NULL, "Startup memory: a multiple of 2MB from 32MB to 12TB" },
	{ "DynamicMemoryEnabled", P_BOOL, PF_NOPOS, 0, NULL, "$true or $false" },
	{ "MinimumBytes", P_INT, PF_NOPOS, 0, NULL, "Dynamic memory's minimum (at most StartupBytes)" },
	{ "MaximumBytes", P_INT, PF_NOPOS, 0, NULL, "Dynamic memory's maximum (at least StartupBytes)" },
	{ "Buffer", P_INT, PF_NOPOS, 0, NULL, "Percent of memory kept above demand, 5-2000" },
	{ "Priority", P_INT, PF_NOPOS, 0, NULL, "Who gets memory first when it is short, 0-100" },
	{ "Passthru", P_SWITCH, PF_NOPOS, 0, NULL, "Output the changed settings" },
	{ NULL, 0, 0, 0, NULL, NULL },
};

static int run_get_host(struct cli_ctx *ctx, const struct cli_bound *b, struct wire_value *in, struct wire_value *out)
{
	return call_out(ctx, WIRE_PROC_HOST_GET, wire_object("Arguments"), true, out);
}

static const struct cli_param no_params[] = { { NULL, 0, 0, 0, NULL, NULL } };

const struct cli_cmdlet cli_daemon_cmdlets[] = {
	{ "Get-VM", NULL, "Gets virtual machines", get_vm_params, run_get_vm, true },
	{ "New-VM", NULL, "Defines a new virtual machine", new_vm_params, run_new_vm, true },
	{ "Remove-VM", NULL, "Deletes virtual machine definitions (their disks are kept)", remove_vm_params,
	  run_remove_vm, true },
	{ "Rename-VM", NULL, "Renames a virtual machine", rename_vm_params, run_rename_vm, true },
	{ "Set-VM", NULL, "Changes a virtual machine's settings", set_vm_params, run_set_vm, true },
	{ "Get-VMProcessor", NULL, "Gets the processor settings of virtual machines", get_vmpart_params,
	  run_get_processor, true },
	{ "Set-VMProcessor", NULL, "Changes the processor settings of virtual machines", set_processor_params,
	  run_set_processor, true },
	{ "Get-VMMemory", NULL, "Gets the memory settings of virtual machines", get_vmpart_params, run_get_memory, true },
	{ "Set-VMMemory", NULL, "Changes the memory settings of virtual machines", set_memory_params, run_set_memory,
	  true },
	{ "Get-VMHost", NULL, "Gets the host: processors, memory, paths", no_params, run_get_host, true },
	{ NULL, NULL, NULL, NULL, NULL, false },
};

const struct cli_cmdlet *cli_cmdlet_at(size_t i)
{
	size_t n = 0;

	while (cli_daemon_cmdlets[n].name)
		n++;
	if (i < n)
		return &cli_daemon_cmdlets[i];
	i -= n;
	for (n = 0; cli_pipeline_cmdlets[n].name; n++)
		if (n == i)
			return &cli_pipeline_cmdlets[n];
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
