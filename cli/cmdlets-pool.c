/*
 * The pool cmdlets (New-, Get-, Remove-, Update-VMPool, Add- and Reset-VMPoolMember): their
 * part of the one cmdlet table, after cmdlets-ckpt.c's. A pool's members are ordinary VMs
 * (their PoolName says which pool), so every other cmdlet works on them as it is.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"

/* The pool names b's -param gives, else those piped in (strings, or objects' Name). */
static struct wire_value *pool_names(struct cli_ctx *ctx, const struct cli_bound *b, const char *param,
				     struct wire_value *in)
{
	struct wire_value *names = cli_arg(b, param), *list;
	size_t i;

	if (names) {
		if (names->type == WIRE_LIST)
			return wire_value_ref(names);
		list = wire_list();
		wire_list_append(list, wire_value_ref(names));
		return list;
	}
	list = wire_list();
	for (i = 0; i < in->list.n; i++) {
		const struct wire_value *it = in->list.items[i], *v = it;

		if (it->type == WIRE_OBJECT)
			v = wire_object_get(it, strcmp(it->obj.type_name, "VMPool") ? "PoolName" : "Name");
		if (v && v->type == WIRE_STRING)
			wire_list_append(list, wire_value_ref((struct wire_value *)v));
	}
	if (list->list.n)
		return list;
	wire_value_unref(list);
	cli_error(ctx, "Name the pool with -%s, or pipe it in.", param);
	return NULL;
}

/* A relative -ParentPath is taken from the working directory, as New-VHD takes its paths. */
static void path_abs(struct cli_ctx *ctx, struct wire_value *args)
{
	const char *parent = NULL;

	if (wire_object_get_string(args, "ParentPath", &parent) == 0 && parent)
		wire_object_set(args, "ParentPath", cli_path_abs(ctx, parent));
}

/* One call per pool named, each carrying the parameters in pass_names. */
static int per_pool(struct cli_ctx *ctx, const struct cli_bound *b, struct wire_value *in, const char *param,
		    const char *key, uint32_t proc, const char *const *pass_names, bool show, struct wire_value *out)
{
	struct wire_value *names = pool_names(ctx, b, param, in), *calls;
	size_t i;
	int rc;

	if (!names)
		return -1;
	calls = wire_list();
	for (i = 0; i < names->list.n; i++) {
		struct wire_value *a;

		if (!cli_should_process(ctx, b, b->cmdlet->name, names->list.items[i]->str.p))
			continue;
		a = wire_object("Arguments");
		wire_object_set(a, key, wire_value_ref(names->list.items[i]));
		cli_pass(b, a, pass_names);
		path_abs(ctx, a);
		wire_list_append(calls, a);
	}
	wire_value_unref(names);
	rc = cli_call_each(ctx, proc, calls, show ? out : NULL);
	wire_value_unref(calls);
	return rc;
}

static int run_new_pool(struct cli_ctx *ctx, const struct cli_bound *b, struct wire_value *in, struct wire_value *out)
{
	static const char *const names[] = { "Name", "ParentPath", "Count", "NamePrefix", "MemoryStartupBytes",
					     "ProcessorCount", NULL };
	struct wire_value *args = wire_object("Arguments");

	(void)in;
	cli_pass(b, args, names);
	path_abs(ctx, args);
	if (cli_switch(b, "RollbackOnStop"))
		wire_object_set(args, "RollbackOnStop", wire_bool(true));
	if (!cli_should_process(ctx, b, "New-VMPool", cli_arg(b, "Name")->str.p)) {
		wire_value_unref(args);
		return 0;
	}
	return cli_call_out(ctx, WIRE_PROC_POOL_NEW, args, true, out);
}

static int run_get_pool(struct cli_ctx *ctx, const struct cli_bound *b, struct wire_value *in, struct wire_value *out)
{
	static const char *const names[] = { "Name", NULL };
	struct wire_value *args = wire_object("Arguments");

	(void)in;
	cli_pass(b, args, names);
	return cli_call_out(ctx, WIRE_PROC_POOL_GET, args, true, out);
}

static int run_remove_pool(struct cli_ctx *ctx, const struct cli_bound *b, struct wire_value *in, struct wire_value *out)
{
	static const char *const names[] = { "Force", NULL };

	return per_pool(ctx, b, in, "Name", "Name", WIRE_PROC_POOL_REMOVE, names, cli_switch(b, "PassThru"), out);
}

static int run_update_pool(struct cli_ctx *ctx, const struct cli_bound *b, struct wire_value *in, struct wire_value *out)
{
	static const char *const names[] = { "ParentPath", NULL };

	return per_pool(ctx, b, in, "Name", "Name", WIRE_PROC_POOL_UPDATE, names, cli_switch(b, "PassThru"), out);
}

static int run_add_member(struct cli_ctx *ctx, const struct cli_bound *b, struct wire_value *in, struct wire_value *out)
{
	static const char *const names[] = { "Count", NULL };

	return per_pool(ctx, b, in, "PoolName", "PoolName", WIRE_PROC_POOL_MEMBER_ADD, names, true, out);
}

/* Reset-VMPoolMember: the VMs named or piped, or every member of -PoolName. */
static int run_reset_member(struct cli_ctx *ctx, const struct cli_bound *b, struct wire_value *in, struct wire_value *out)
{
	struct wire_value *args, *reply = NULL, *members;
	size_t i, k;
	int rc;

	if (!cli_arg(b, "PoolName"))
		return cli_per_vm(ctx, b, in, WIRE_PROC_POOL_MEMBER_RESET, NULL, out);
	members = wire_list();
	args = wire_object("Arguments");
	wire_object_set(args, "Name", wire_value_ref(cli_arg(b, "PoolName")));
	rc = cli_call(ctx, WIRE_PROC_POOL_GET, args, &reply);
	wire_value_unref(args);
	if (rc) {
		wire_value_unref(members);
		return -1;
	}
	/* The member objects themselves: cli_per_vm takes their VMId (a bare string is a name). */
	for (i = 0; i < reply->list.n; i++) {
		const struct wire_value *l = wire_object_get(reply->list.items[i], "Members");

		for (k = 0; l && l->type == WIRE_LIST && k < l->list.n; k++)
			wire_list_append(members, wire_value_ref(l->list.items[k]));
	}
	wire_value_unref(reply);
	/* No members (or no such pool, reported already): nothing to reset. */
	rc = members->list.n ? cli_per_vm(ctx, b, members, WIRE_PROC_POOL_MEMBER_RESET, NULL, out) : 0;
	wire_value_unref(members);
	return rc;
}

static const struct cli_param new_pool_params[] = {
	{ "Name", P_STRING, 0, PF_MANDATORY, NULL, "The pool's name (unique)" },
	{ "ParentPath", P_STRING, 1, PF_MANDATORY, NULL, "The golden .vhdx every member's disk is a child of" },
	{ "Count", P_INT, PF_NOPOS, 0, NULL, "How many members, 1-1024 (default 1)" },
	{ "NamePrefix", P_STRING, PF_NOPOS, 0, NULL, "Members are named prefix + number (default: \"Name-\")" },
	{ "MemoryStartupBytes", P_INT, PF_NOPOS, 0, NULL, "Each member's memory (default 512MB)" },
	{ "ProcessorCount", P_INT, PF_NOPOS, 0, NULL, "Each member's virtual processors (default 1)" },
	{ "RollbackOnStop", P_SWITCH, PF_NOPOS, 0, NULL, "Throw a member's changes away whenever it stops" },
	{ "Force", P_SWITCH, PF_NOPOS, 0, NULL, "Do not ask for confirmation" },
	{ NULL, 0, 0, 0, NULL, NULL },
};

static const struct cli_param get_pool_params[] = {
	{ "Name", P_STRINGS, 0, 0, NULL, "Pool names (wildcards allowed); default: all" },
	{ NULL, 0, 0, 0, NULL, NULL },
};

static const struct cli_param remove_pool_params[] = {
	{ "Name", P_STRINGS, 0, 0, NULL, "The pools, or pipe them in" },
	{ "Force", P_SWITCH, PF_NOPOS, 0, NULL, "Turn running members off; do not ask for confirmation" },
	{ "PassThru", P_SWITCH, PF_NOPOS, 0, NULL, "Output the removed pools" },
	{ NULL, 0, 0, 0, NULL, NULL },
};

static const struct cli_param update_pool_params[] = {
	{ "Name", P_STRINGS, 0, 0, NULL, "The pools, or pipe them in" },
	{ "ParentPath", P_STRING, 1, PF_MANDATORY, NULL, "The new golden .vhdx: members move to it as they are reset" },
	{ "PassThru", P_SWITCH, PF_NOPOS, 0, NULL, "Output the pools" },
	{ NULL, 0, 0, 0, NULL, NULL },
};

static const struct cli_param add_member_params[] = {
	{ "PoolName", P_STRINGS, 0, 0, NULL, "The pool, or pipe it in" },
	{ "Count", P_INT, 1, 0, NULL, "How many new members (default 1)" },
	{ NULL, 0, 0, 0, NULL, NULL },
};

static const struct cli_param reset_member_params[] = {
	{ "Name", P_STRINGS, 0, 0, "VMName", "The members (wildcards allowed), or pipe them in" },
	{ "PoolName", P_STRING, PF_NOPOS, 0, NULL, "Every member of this pool" },
	{ "PassThru", P_SWITCH, PF_NOPOS, 0, NULL, "Output the members" },
	{ "Force", P_SWITCH, PF_NOPOS, 0, NULL, "Do not ask for confirmation" },
	{ NULL, 0, 0, 0, NULL, NULL },
};

#define CHANGE (CLI_DAEMON | CLI_CHANGES)

const struct cli_cmdlet cli_pool_cmdlets[] = {
	{ .name = "New-VMPool", .synopsis = "Makes a pool of VMs, each with a differencing disk over one golden image",
	  .params = new_pool_params, .run = run_new_pool, .flags = CHANGE,
	  .example = "New-VMPool -Name desk -ParentPath /srv/golden.vhdx -Count 20 -MemoryStartupBytes 256MB -RollbackOnStop" },
	{ .name = "Get-VMPool", .synopsis = "Gets pools: their golden image, members, states and disk usage",
	  .params = get_pool_params, .run = run_get_pool, .flags = CLI_DAEMON,
	  .example = "Get-VMPool\n(Get-VMPool desk).Members | Format-Table" },
	{ .name = "Remove-VMPool", .synopsis = "Deletes pools, their members and the members' disks (the golden image stays)",
	  .params = remove_pool_params, .run = run_remove_pool, .flags = CHANGE | CLI_CONFIRM,
	  .example = "Remove-VMPool desk -Force" },
	{ .name = "Update-VMPool", .synopsis = "Moves pools to a new golden image (members move as they are reset)",
	  .params = update_pool_params, .run = run_update_pool, .flags = CHANGE,
	  .example = "Update-VMPool desk -ParentPath /srv/golden-v2.vhdx" },
	{ .name = "Add-VMPoolMember", .synopsis = "Adds members to a pool", .params = add_member_params,
	  .run = run_add_member, .flags = CHANGE, .example = "Add-VMPoolMember desk -Count 5" },
	{ .name = "Reset-VMPoolMember",
	  .synopsis = "Throws a member's disk away for a fresh one over the golden image (running members start again)",
	  .params = reset_member_params, .run = run_reset_member, .flags = CHANGE,
	  .example = "Reset-VMPoolMember desk-3\nReset-VMPoolMember -PoolName desk" },
	{ .name = NULL },
};
