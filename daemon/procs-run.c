/*
 * The procedures about running VMs: Start, Stop, Restart, Suspend, Resume, the firmware
 * (what a VM boots) and the serial console.  Most answers come later, from the worker
 * (daemon/runtime.c).
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemon/hvd.h"
#include "daemon/procs.h"

/* The one VM a lifecycle call is about: by Id, or by a Name that matches exactly one. */
int hvd_vm_one(struct hvd *d, const struct wire_value *args, struct hvd_vm **out, struct wire_value **reply)
{
	struct wire_value *errors = wire_list();
	struct hvd_vm **vms;
	size_t n;
	int st = hvd_vms_require(args, reply);

	if (st == 0)
		st = hvd_vms_select(hvd_get_store(d), args, &vms, &n, errors, reply);
	if (st) {
		wire_value_unref(errors);
		return st;
	}
	if (errors->list.n) {
		*reply = wire_value_ref(errors->list.items[0]);
		st = WIRE_E_NOT_FOUND;
	} else if (n != 1) {
		*reply = wire_error_record(WIRE_E_INVALID_ARGUMENT, NULL, "%s", n ? "Name one virtual machine at a time here."
										  : "No virtual machine matches.");
		st = WIRE_E_INVALID_ARGUMENT;
	} else if (vms[0]->load_error) {
		*reply = wire_error_record(WIRE_E_INVALID_STATE, vms[0]->id, "The configuration of VM %s could not be loaded.",
					   vms[0]->id);
		st = WIRE_E_INVALID_STATE;
	} else {
		*out = vms[0];
	}
	free(vms);
	wire_value_unref(errors);
	return st;
}

int hvd_proc_vm_start(struct hvd *d, struct hvd_client *c, const struct wire_value *args,
			 struct wire_value **reply)
{
	struct hvd_vm *vm;
	int st = hvd_vm_one(d, args, &vm, reply);

	if (st)
		return st;
	return hvd_runtime_start(d, vm, hvd_client_id(c), hvd_client_serial(c), WIRE_PROC_VM_START, reply);
}

static int stop_like(struct hvd *d, struct hvd_client *c, const struct wire_value *args, uint32_t proc,
		     bool restart, struct wire_value **reply)
{
	bool turn_off = false, force = false;
	struct hvd_vm *vm;
	int st = hvd_vm_one(d, args, &vm, reply);

	if (st)
		return st;
	wire_object_get_bool(args, "TurnOff", &turn_off);
	wire_object_get_bool(args, "Force", &force);
	return hvd_runtime_stop(d, vm, turn_off, force, restart, hvd_client_id(c), hvd_client_serial(c), proc, reply);
}

int hvd_proc_vm_stop(struct hvd *d, struct hvd_client *c, const struct wire_value *args, struct wire_value **reply)
{
	return stop_like(d, c, args, WIRE_PROC_VM_STOP, false, reply);
}

int hvd_proc_vm_restart(struct hvd *d, struct hvd_client *c, const struct wire_value *args,
			   struct wire_value **reply)
{
	return stop_like(d, c, args, WIRE_PROC_VM_RESTART, true, reply);
}

static int forward(struct hvd *d, struct hvd_client *c, const struct wire_value *args, uint32_t proc,
		   uint32_t worker_proc, const char *want, struct wire_value **reply)
{
	struct hvd_vm_live live;
	struct hvd_vm *vm;
	int st = hvd_vm_one(d, args, &vm, reply);

	if (st)
		return st;
	hvd_runtime_describe(vm, &live);
	if (strcmp(live.state, want)) {
		*reply = wire_error_record(WIRE_E_INVALID_STATE, vm->name, "\"%s\" is %s; this needs it %s.", vm->name,
					   live.state, want);
		return WIRE_E_INVALID_STATE;
	}
	return hvd_runtime_forward(d, vm, worker_proc, NULL, hvd_client_id(c), hvd_client_serial(c), proc, reply);
}

int hvd_proc_vm_suspend(struct hvd *d, struct hvd_client *c, const struct wire_value *args,
			   struct wire_value **reply)
{
	return forward(d, c, args, WIRE_PROC_VM_SUSPEND, WIRE_PROC_WORKER_PAUSE, "Running", reply);
}

int hvd_proc_vm_resume(struct hvd *d, struct hvd_client *c, const struct wire_value *args,
			  struct wire_value **reply)
{
	return forward(d, c, args, WIRE_PROC_VM_RESUME, WIRE_PROC_WORKER_RESUME, "Paused", reply);
}

static struct wire_value *firmware_object(const struct hvd_vm *vm)
{
	struct wire_value *o = wire_object("VMFirmware");

	wire_object_add(o, "VMName", wire_string(vm->name));
	wire_object_add(o, "VMId", wire_string(vm->id));
	wire_object_add(o, "KernelPath", wire_string(vm->kernel ? vm->kernel : ""));
	wire_object_add(o, "InitrdPath", wire_string(vm->initrd ? vm->initrd : ""));
	wire_object_add(o, "KernelCommandLine", wire_string(vm->cmdline ? vm->cmdline : ""));
	wire_object_add(o, "BootsBuiltInGuest", wire_bool(!vm->kernel));
	wire_object_add(o, "ComputerName", wire_string(hvd_host_name()));
	return o;
}

int hvd_proc_firmware_get(struct hvd *d, struct hvd_client *c, const struct wire_value *args,
			     struct wire_value **reply)
{
	return hvd_vms_view(d, args, firmware_object, true, reply);
}

struct fw_settings {
	const char *kernel, *initrd, *cmdline;
};

static void replace(char **field, const char *value)
{
	if (!value)
		return;
	free(*field);
	*field = *value ? strdup(value) : NULL; /* "" clears it */
}

static int apply_firmware(struct hvd_store *s, struct hvd_vm *vm, const void *arg, struct wire_value **reply)
{
	const struct fw_settings *fw = arg;

	replace(&vm->kernel, fw->kernel);
	replace(&vm->initrd, fw->initrd);
	replace(&vm->cmdline, fw->cmdline);
	return 0;
}

static int check_file(const char *param, const char *path, struct wire_value **reply)
{
	if (!path || !*path)
		return 0;
	if (path[0] != '/')
		return ERR(WIRE_E_INVALID_ARGUMENT, path, "Invalid value \"%s\" for parameter -%s: it must be an absolute path.",
			   path, param);
	if (access(path, R_OK) != 0)
		return ERR(WIRE_E_NOT_FOUND, path, "Invalid value for parameter -%s: cannot read %s: %s.", param, path,
			   strerror(errno));
	return 0;
}

int hvd_proc_firmware_set(struct hvd *d, struct hvd_client *c, const struct wire_value *args,
			     struct wire_value **reply)
{
	struct fw_settings fw = { 0 };
	int st;

	if ((st = hvd_arg_string(args, "KernelPath", 4096, &fw.kernel, reply)) ||
	    (st = hvd_arg_string(args, "InitrdPath", 4096, &fw.initrd, reply)) ||
	    (st = hvd_arg_string(args, "KernelCommandLine", 4095, &fw.cmdline, reply)) ||
	    (st = check_file("KernelPath", fw.kernel, reply)) || (st = check_file("InitrdPath", fw.initrd, reply)))
		return st;
	return hvd_vms_change(d, c, args, apply_firmware, &fw, firmware_object, reply);
}

int hvd_proc_console_attach(struct hvd *d, struct hvd_client *c, const struct wire_value *args,
			       struct wire_value **reply)
{
	struct hvd_vm *vm;
	int st = hvd_vm_one(d, args, &vm, reply);

	if (st)
		return st;
	hvd_client_console(c, vm->id, hvd_client_serial(c));
	*reply = hvd_vm_reply(vm);
	return WIRE_OK;
}

int hvd_proc_console_input(struct hvd *d, struct hvd_client *c, const struct wire_value *args,
			      struct wire_value **reply)
{
	const struct wire_value *bytes = wire_object_get(args, "Bytes");
	struct hvd_vm *vm;
	int st = hvd_vm_one(d, args, &vm, reply);

	if (st)
		return st;
	if (!bytes || (bytes->type != WIRE_BYTES && bytes->type != WIRE_STRING) || bytes->str.len > 4096)
		return ERR(WIRE_E_INVALID_ARGUMENT, NULL, "Bytes must be up to 4096 bytes of console input.");
	if (hvd_runtime_console_input(vm, bytes))
		return ERR(WIRE_E_INVALID_STATE, vm->name, "\"%s\" is not running.", vm->name);
	*reply = wire_list();
	return WIRE_OK;
}

int hvd_proc_console_detach(struct hvd *d, struct hvd_client *c, const struct wire_value *args,
			       struct wire_value **reply)
{
	hvd_client_console(c, NULL, 0);
	*reply = wire_list();
	return WIRE_OK;
}

