/*
 * The checkpoint, saved-state and hard disk drive cmdlets: their part of the one cmdlet table
 * (cli_cmdlet_at walks it after cmdlets.c's), from which dispatch, Get-Help, completion and
 * the man page check are derived.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"

/*
 * One Arguments object per target, for cli_call_each: the VMs vmparam names (looked up, by
 * Id), else what is piped in: checkpoints (their VM and CheckpointId), drives (their VM,
 * controller and location), VMs, or names (sent as vmkey). NULL after reporting nothing named.
 */
static struct wire_value *targets(struct cli_ctx *ctx, const struct cli_bound *b, const char *vmparam,
				  const char *vmkey, struct wire_value *in)
{
	struct wire_value *names = cli_arg(b, vmparam), *list = wire_list(), *reply = NULL;
	size_t i;

	if (names) {
		struct wire_value *sel = wire_object("Arguments");

		wire_object_set(sel, "Name", wire_value_ref(names));
		if (cli_call(ctx, WIRE_PROC_VM_LIST, sel, &reply)) {
			wire_value_unref(sel);
			wire_value_unref(list);
			return NULL;
		}
		wire_value_unref(sel);
		for (i = 0; i < reply->list.n; i++) {
			const struct wire_value *id = wire_object_get(reply->list.items[i], "Id");
			struct wire_value *a = wire_object("Arguments");

			if (id)
				wire_object_set(a, "Id", wire_value_ref((struct wire_value *)id));
			wire_list_append(list, a);
		}
		wire_value_unref(reply);
		return list;
	}
	for (i = 0; i < in->list.n; i++) {
		const struct wire_value *it = in->list.items[i], *v;
		struct wire_value *a = wire_object("Arguments");

		if (it->type == WIRE_STRING) {
			wire_object_set(a, vmkey, wire_value_ref((struct wire_value *)it));
		} else if (it->type == WIRE_OBJECT && (v = wire_object_get(it, "VMId"))) {
			wire_object_set(a, "Id", wire_value_ref((struct wire_value *)v));
			if (!strcmp(it->obj.type_name, "VMCheckpoint") && (v = wire_object_get(it, "Id")))
				wire_object_set(a, "CheckpointId", wire_value_ref((struct wire_value *)v));
			if (!strcmp(it->obj.type_name, "HardDiskDrive")) {
				if ((v = wire_object_get(it, "ControllerNumber")))
					wire_object_set(a, "ControllerNumber", wire_value_ref((struct wire_value *)v));
				if ((v = wire_object_get(it, "ControllerLocation")))
					wire_object_set(a, "ControllerLocation", wire_value_ref((struct wire_value *)v));
			}
		} else if (it->type == WIRE_OBJECT && (v = wire_object_get(it, "Id"))) {
			wire_object_set(a, "Id", wire_value_ref((struct wire_value *)v));
		} else {
			wire_value_unref(a);
			continue;
		}
		wire_list_append(list, a);
	}
	if (list->list.n)
		return list;
	wire_value_unref(list);
	cli_error(ctx, "Name the virtual machine with -%s, or pipe it in.", vmparam);
	return NULL;
}

/* Copies the bound parameters named in names into each target; asks -WhatIf/-Confirm. */
static int each(struct cli_ctx *ctx, const struct cli_bound *b, struct wire_value *in, const char *vmparam,
		const char *vmkey, uint32_t proc, const char *const *names, bool show, struct wire_value *out)
{
	struct wire_value *list = targets(ctx, b, vmparam, vmkey, in), *go;
	size_t i;
	int rc;

	if (!list)
		return -1;
	go = wire_list();
	for (i = 0; i < list->list.n; i++) {
		struct wire_value *a = list->list.items[i];
		const char *target = "";

		for (const char *const *n = names; n && *n; n++)
			if (cli_arg(b, *n))
				wire_object_set(a, *n, wire_value_ref(cli_arg(b, *n)));
		if (wire_object_get_string(a, "Id", &target) && wire_object_get_string(a, vmkey, &target))
			target = "";
		if (cli_should_process(ctx, b, b->cmdlet->name, target))
			wire_list_append(go, wire_value_ref(a));
	}
	wire_value_unref(list);
	rc = cli_call_each(ctx, proc, go, show ? out : NULL);
	wire_value_unref(go);
	return rc;
}

static int run_checkpoint_vm(struct cli_ctx *ctx, const struct cli_bound *b, struct wire_value *in,
			     struct wire_value *out)
{
	static const char *const names[] = { "SnapshotName", NULL };

	return each(ctx, b, in, "Name", "Name", WIRE_PROC_VM_CHECKPOINT, names, cli_switch(b, "PassThru"), out);
}

/* Get-VMCheckpoint: by VM names, or for the VMs piped in. */
static int run_get_checkpoint(struct cli_ctx *ctx, const struct cli_bound *b, struct wire_value *in,
			      struct wire_value *out)
{
	struct wire_value *args = wire_object("Arguments"), *reply = NULL, *ids = wire_list();
	size_t i;
	int rc;

	if (cli_arg(b, "VMName"))
		wire_object_set(args, "VMName", wire_value_ref(cli_arg(b, "VMName")));
	for (i = 0; !cli_arg(b, "VMName") && i < in->list.n; i++) {
		const struct wire_value *it = in->list.items[i], *id = NULL;

		if (it->type == WIRE_OBJECT)
			id = wire_object_get(it, "VMId") ? wire_object_get(it, "VMId") : wire_object_get(it, "Id");
		if (id && id->type == WIRE_STRING)
			wire_list_append(ids, wire_value_ref((struct wire_value *)id));
	}
	if (ids->list.n)
		wire_object_set(args, "VMId", wire_value_ref(ids));
	wire_value_unref(ids);
	if (cli_arg(b, "Name"))
		wire_object_set(args, "Name", wire_value_ref(cli_arg(b, "Name")));
	rc = cli_call(ctx, WIRE_PROC_VM_CHECKPOINT_GET, args, &reply);
	wire_value_unref(args);
	if (rc)
		return -1;
	for (i = 0; i < reply->list.n; i++)
		wire_list_append(out, wire_value_ref(reply->list.items[i]));
	wire_value_unref(reply);
	return 0;
}

static int run_restore_checkpoint(struct cli_ctx *ctx, const struct cli_bound *b, struct wire_value *in,
				  struct wire_value *out)
{
	static const char *const names[] = { "Name", NULL };

	return each(ctx, b, in, "VMName", "VMName", WIRE_PROC_VM_CHECKPOINT_RESTORE, names, cli_switch(b, "PassThru"), out);
}

static int run_remove_checkpoint(struct cli_ctx *ctx, const struct cli_bound *b, struct wire_value *in,
				 struct wire_value *out)
{
	static const char *const names[] = { "Name", "IncludeAllChildCheckpoints", NULL };
	struct wire_value *list = NULL;
	size_t i;
	int rc;

	/* Piped checkpoints are removed by their Id. */
	if (!cli_arg(b, "VMName") && in->list.n) {
		list = targets(ctx, b, "VMName", "VMName", in);
		if (!list)
			return -1;
		for (i = 0; i < list->list.n; i++) {
			struct wire_value *a = list->list.items[i];
			const struct wire_value *id = wire_object_get(a, "CheckpointId");

			if (id)
				wire_object_set(a, "Name", wire_value_ref((struct wire_value *)id));
			if (cli_switch(b, "IncludeAllChildCheckpoints"))
				wire_object_set(a, "IncludeAllChildCheckpoints", wire_bool(true));
		}
		rc = cli_call_each(ctx, WIRE_PROC_VM_CHECKPOINT_REMOVE, list, cli_switch(b, "PassThru") ? out : NULL);
		wire_value_unref(list);
		return rc;
	}
	return each(ctx, b, in, "VMName", "VMName", WIRE_PROC_VM_CHECKPOINT_REMOVE, names, cli_switch(b, "PassThru"), out);
}

static int run_rename_checkpoint(struct cli_ctx *ctx, const struct cli_bound *b, struct wire_value *in,
				 struct wire_value *out)
{
	static const char *const names[] = { "Name", "NewName", NULL };

	return each(ctx, b, in, "VMName", "VMName", WIRE_PROC_VM_CHECKPOINT_RENAME, names, cli_switch(b, "PassThru"), out);
}

static int run_save_vm(struct cli_ctx *ctx, const struct cli_bound *b, struct wire_value *in, struct wire_value *out)
{
	return each(ctx, b, in, "Name", "Name", WIRE_PROC_VM_SAVE, NULL, cli_switch(b, "PassThru"), out);
}

static int run_remove_saved_state(struct cli_ctx *ctx, const struct cli_bound *b, struct wire_value *in,
				  struct wire_value *out)
{
	return each(ctx, b, in, "VMName", "VMName", WIRE_PROC_VM_SAVED_STATE_REMOVE, NULL, cli_switch(b, "PassThru"), out);
}

static const char *const drive_names[] = { "Path", "ControllerType", "ControllerNumber", "ControllerLocation",
					   "ToControllerNumber", "ToControllerLocation", NULL };

/* A change to drives replies one object per VM: its drive, or a list of them. */
static void unroll(struct wire_value *from, struct wire_value *out)
{
	size_t i, k;

	for (i = 0; i < from->list.n; i++) {
		const struct wire_value *o = from->list.items[i], *l = wire_object_get(o, "Drives");

		if (o->type == WIRE_OBJECT && !strcmp(o->obj.type_name, "HardDiskDrives") && l && l->type == WIRE_LIST)
			for (k = 0; k < l->list.n; k++)
				wire_list_append(out, wire_value_ref(l->list.items[k]));
		else
			wire_list_append(out, wire_value_ref(from->list.items[i]));
	}
}

static int drive_change(struct cli_ctx *ctx, const struct cli_bound *b, struct wire_value *in, uint32_t proc,
			struct wire_value *out)
{
	struct wire_value *got = wire_list();
	int rc = each(ctx, b, in, "VMName", "VMName", proc, drive_names, true, got);

	if (cli_switch(b, "PassThru"))
		unroll(got, out);
	wire_value_unref(got);
	return rc;
}

static int run_add_drive(struct cli_ctx *ctx, const struct cli_bound *b, struct wire_value *in, struct wire_value *out)
{
	return drive_change(ctx, b, in, WIRE_PROC_VM_DRIVE_ADD, out);
}

static int run_remove_drive(struct cli_ctx *ctx, const struct cli_bound *b, struct wire_value *in, struct wire_value *out)
{
	return drive_change(ctx, b, in, WIRE_PROC_VM_DRIVE_REMOVE, out);
}

static int run_set_drive(struct cli_ctx *ctx, const struct cli_bound *b, struct wire_value *in, struct wire_value *out)
{
	return drive_change(ctx, b, in, WIRE_PROC_VM_DRIVE_SET, out);
}

static int run_get_drive(struct cli_ctx *ctx, const struct cli_bound *b, struct wire_value *in, struct wire_value *out)
{
	struct wire_value *args = wire_object("Arguments"), *reply = NULL, *ids = wire_list();
	size_t i;
	int rc;

	if (cli_arg(b, "VMName"))
		wire_object_set(args, "VMName", wire_value_ref(cli_arg(b, "VMName")));
	for (i = 0; !cli_arg(b, "VMName") && i < in->list.n; i++) {
		const struct wire_value *it = in->list.items[i], *id = NULL;

		if (it->type == WIRE_OBJECT)
			id = wire_object_get(it, "VMId") ? wire_object_get(it, "VMId") : wire_object_get(it, "Id");
		if (id && id->type == WIRE_STRING)
			wire_list_append(ids, wire_value_ref((struct wire_value *)id));
	}
	if (ids->list.n)
		wire_object_set(args, "VMId", wire_value_ref(ids));
	wire_value_unref(ids);
	for (const char *const *n = drive_names; *n; n++)
		if (cli_arg(b, *n) && strcmp(*n, "Path"))
			wire_object_set(args, *n, wire_value_ref(cli_arg(b, *n)));
	rc = cli_call(ctx, WIRE_PROC_VM_DRIVE_GET, args, &reply);
	wire_value_unref(args);
	if (rc)
		return -1;
	for (i = 0; i < reply->list.n; i++)
		wire_list_append(out, wire_value_ref(reply->list.items[i]));
	wire_value_unref(reply);
	return 0;
}

static const struct cli_param checkpoint_params[] = {
	{ "Name", P_STRINGS, 0, 0, "VMName", "The VMs (wildcards allowed), or pipe them in" },
	{ "SnapshotName", P_STRING, 1, 0, NULL, "The checkpoint's name (default: \"VM - (date - time)\")" },
	{ "PassThru", P_SWITCH, PF_NOPOS, 0, NULL, "Output the new checkpoints" },
	{ NULL, 0, 0, 0, NULL, NULL },
};

static const struct cli_param get_checkpoint_params[] = {
	{ "VMName", P_STRINGS, 0, 0, NULL, "The VMs (wildcards allowed), or pipe them in; default: all" },
	{ "Name", P_STRINGS, 1, 0, NULL, "Checkpoint names (wildcards allowed) or Ids" },
	{ NULL, 0, 0, 0, NULL, NULL },
};

static const struct cli_param restore_checkpoint_params[] = {
	{ "VMName", P_STRINGS, PF_NOPOS, 0, NULL, "The VM, or pipe its checkpoint in" },
	{ "Name", P_STRING, 0, 0, NULL, "The checkpoint to return to" },
	{ "PassThru", P_SWITCH, PF_NOPOS, 0, NULL, "Output the VM" },
	{ "Force", P_SWITCH, PF_NOPOS, 0, NULL, "Do not ask for confirmation" },
	{ NULL, 0, 0, 0, NULL, NULL },
};

static const struct cli_param remove_checkpoint_params[] = {
	{ "VMName", P_STRINGS, PF_NOPOS, 0, NULL, "The VM, or pipe its checkpoints in" },
	{ "Name", P_STRINGS, 0, 0, NULL, "The checkpoints (wildcards allowed)" },
	{ "IncludeAllChildCheckpoints", P_SWITCH, PF_NOPOS, 0, NULL, "Remove their descendants too" },
	{ "PassThru", P_SWITCH, PF_NOPOS, 0, NULL, "Output the removed checkpoints" },
	{ NULL, 0, 0, 0, NULL, NULL },
};

static const struct cli_param rename_checkpoint_params[] = {
	{ "VMName", P_STRINGS, PF_NOPOS, 0, NULL, "The VM, or pipe the checkpoint in" },
	{ "Name", P_STRING, 0, 0, NULL, "The checkpoint's name" },
	{ "NewName", P_STRING, 1, PF_MANDATORY, NULL, "Its new name" },
	{ "PassThru", P_SWITCH, PF_NOPOS, 0, NULL, "Output the renamed checkpoint" },
	{ NULL, 0, 0, 0, NULL, NULL },
};

static const struct cli_param save_vm_params[] = {
	{ "Name", P_STRINGS, 0, 0, "VMName", "The VMs (wildcards allowed), or pipe them in" },
	{ "PassThru", P_SWITCH, PF_NOPOS, 0, NULL, "Output the VMs" },
	{ NULL, 0, 0, 0, NULL, NULL },
};

static const struct cli_param saved_state_params[] = {
	{ "VMName", P_STRINGS, 0, 0, "Name", "The VMs, or pipe them in" },
	{ "PassThru", P_SWITCH, PF_NOPOS, 0, NULL, "Output the VMs" },
	{ NULL, 0, 0, 0, NULL, NULL },
};

static const struct cli_param drive_params[] = {
	{ "VMName", P_STRINGS, 0, 0, NULL, "The VMs, or pipe them (or their drives) in" },
	{ "Path", P_STRING, 1, 0, NULL, "The .vhdx (an absolute path)" },
	{ "ControllerType", P_STRING, PF_NOPOS, 0, NULL, "SCSI (the only kind)" },
	{ "ControllerNumber", P_INT, PF_NOPOS, 0, NULL, "SCSI controller 0-3 (default 0)" },
	{ "ControllerLocation", P_INT, PF_NOPOS, 0, NULL, "Location 0-63 on it (default: the first free one)" },
	{ "PassThru", P_SWITCH, PF_NOPOS, 0, NULL, "Output the drives" },
	{ NULL, 0, 0, 0, NULL, NULL },
};

static const struct cli_param get_drive_params[] = {
	{ "VMName", P_STRINGS, 0, 0, NULL, "The VMs (wildcards allowed), or pipe them in; default: all" },
	{ "ControllerType", P_STRING, PF_NOPOS, 0, NULL, "SCSI (the only kind)" },
	{ "ControllerNumber", P_INT, PF_NOPOS, 0, NULL, "Only drives on this controller" },
	{ "ControllerLocation", P_INT, PF_NOPOS, 0, NULL, "Only drives at this location" },
	{ NULL, 0, 0, 0, NULL, NULL },
};

static const struct cli_param set_drive_params[] = {
	{ "VMName", P_STRINGS, 0, 0, NULL, "The VMs, or pipe their drives in" },
	{ "ControllerType", P_STRING, PF_NOPOS, 0, NULL, "SCSI (the only kind)" },
	{ "ControllerNumber", P_INT, PF_NOPOS, 0, NULL, "The drive's controller" },
	{ "ControllerLocation", P_INT, PF_NOPOS, 0, NULL, "The drive's location" },
	{ "Path", P_STRING, PF_NOPOS, 0, NULL, "Another .vhdx for the drive" },
	{ "ToControllerNumber", P_INT, PF_NOPOS, 0, NULL, "Move it to this controller" },
	{ "ToControllerLocation", P_INT, PF_NOPOS, 0, NULL, "Move it to this location" },
	{ "PassThru", P_SWITCH, PF_NOPOS, 0, NULL, "Output the drives" },
	{ NULL, 0, 0, 0, NULL, NULL },
};

#define CHANGE (CLI_DAEMON | CLI_CHANGES)

const struct cli_cmdlet cli_checkpoint_cmdlets[] = {
	{ .name = "Checkpoint-VM", .synopsis = "Takes a checkpoint (configuration, state, memory and disks) of VMs",
	  .params = checkpoint_params, .run = run_checkpoint_vm, .flags = CHANGE,
	  .example = "Checkpoint-VM web1 -SnapshotName 'before upgrade'" },
	{ .name = "Get-VMCheckpoint", .aliases = "Get-VMSnapshot", .synopsis = "Gets the checkpoints of VMs (a tree)",
	  .params = get_checkpoint_params, .run = run_get_checkpoint, .flags = CLI_DAEMON,
	  .example = "Get-VMCheckpoint -VMName web1 | Format-Table Name, ParentCheckpointName, CreationTime, IsCurrent" },
	{ .name = "Restore-VMCheckpoint", .aliases = "Restore-VMSnapshot",
	  .synopsis = "Returns a VM to a checkpoint, running if it was running",
	  .params = restore_checkpoint_params, .run = run_restore_checkpoint, .flags = CHANGE,
	  .example = "Restore-VMCheckpoint -VMName web1 -Name 'before upgrade'" },
	{ .name = "Remove-VMCheckpoint", .aliases = "Remove-VMSnapshot",
	  .synopsis = "Deletes checkpoints, merging their disk layers", .params = remove_checkpoint_params,
	  .run = run_remove_checkpoint, .flags = CHANGE,
	  .example = "Remove-VMCheckpoint -VMName web1 -Name 'before upgrade' -IncludeAllChildCheckpoints" },
	{ .name = "Rename-VMCheckpoint", .aliases = "Rename-VMSnapshot", .synopsis = "Renames a checkpoint",
	  .params = rename_checkpoint_params, .run = run_rename_checkpoint, .flags = CHANGE,
	  .example = "Rename-VMCheckpoint -VMName web1 -Name 'before upgrade' -NewName 'v1.0'" },
	{ .name = "Save-VM", .synopsis = "Saves running VMs' state to disk and turns them off (Start-VM resumes them)",
	  .params = save_vm_params, .run = run_save_vm, .flags = CHANGE, .example = "Save-VM web1" },
	{ .name = "Remove-VMSavedState", .synopsis = "Discards the saved state of VMs (they start afresh)",
	  .params = saved_state_params, .run = run_remove_saved_state, .flags = CHANGE,
	  .example = "Remove-VMSavedState -VMName web1" },
	{ .name = "Add-VMHardDiskDrive", .synopsis = "Attaches a virtual hard disk to a VM's SCSI controller",
	  .params = drive_params, .run = run_add_drive, .flags = CHANGE,
	  .example = "Add-VMHardDiskDrive -VMName web1 -Path /srv/vm/web1.vhdx -ControllerType SCSI" },
	{ .name = "Get-VMHardDiskDrive", .synopsis = "Gets the hard disk drives of VMs", .params = get_drive_params,
	  .run = run_get_drive, .flags = CLI_DAEMON, .example = "Get-VMHardDiskDrive web1 | Format-Table" },
	{ .name = "Remove-VMHardDiskDrive", .synopsis = "Detaches hard disk drives from VMs (the files are kept)",
	  .params = drive_params, .run = run_remove_drive, .flags = CHANGE,
	  .example = "Get-VMHardDiskDrive web1 -ControllerLocation 1 | Remove-VMHardDiskDrive" },
	{ .name = "Set-VMHardDiskDrive", .synopsis = "Changes a hard disk drive's disk or place",
	  .params = set_drive_params, .run = run_set_drive, .flags = CHANGE,
	  .example = "Set-VMHardDiskDrive web1 -ControllerNumber 0 -ControllerLocation 0 -Path /srv/vm/other.vhdx" },
	{ .name = NULL },
};
