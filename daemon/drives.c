/*
 * Hard disk drives in VM definitions: Add-, Get-, Remove- and Set-VMHardDiskDrive. A drive is
 * a VHDX on a SCSI controller (number 0-3, location 0-63), kept in vm.xml and passed to the
 * worker (--disk), whose synthetic SCSI controller serves it to the guest; checkpoints give
 * every drive its differencing layers (ckpt-disks.c). A disk a running VM uses cannot be
 * attached to another VM.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "daemon/ckpt.h"
#include "daemon/procs.h"
#include "formats/vhdx/vhdx.h"

static struct wire_value *drive_object(const struct hvd_vm *vm, const struct hvd_drive *dr)
{
	struct wire_value *o = wire_object("HardDiskDrive");

	wire_object_add(o, "VMName", wire_string(vm->name));
	wire_object_add(o, "VMId", wire_string(vm->id));
	wire_object_add(o, "ControllerType", wire_string("SCSI"));
	wire_object_add(o, "ControllerNumber", wire_int(dr->controller));
	wire_object_add(o, "ControllerLocation", wire_int(dr->location));
	wire_object_add(o, "Path", wire_string(dr->path));
	wire_object_add(o, "Name", wire_stringf("Hard Drive on SCSI controller number %u at location %u", dr->controller,
						dr->location));
	wire_object_add(o, "Id", wire_stringf("Microsoft:%s\\SCSI\\%u\\%u\\D", vm->id, dr->controller, dr->location));
	wire_object_add(o, "DiskNumber", wire_null());
	wire_object_add(o, "ComputerName", wire_string(hvd_host_name()));
	return o;
}

struct drive_args {
	const char *path;
	bool has_number, has_location, has_to_number, has_to_location;
	int64_t number, location, to_number, to_location;
	struct hvd *d;
};

static int int_arg(const struct wire_value *args, const char *name, int64_t max, bool *has, int64_t *out,
		   struct wire_value **reply)
{
	int rc = wire_object_get_int(args, name, out);

	*has = rc == 0;
	if (rc == -ENOENT)
		return 0;
	if (rc || *out < 0 || *out > max)
		return ERR(WIRE_E_INVALID_ARGUMENT, name, "Invalid value for parameter -%s: it must be a whole number from 0 to %" PRId64 ".",
			   name, max);
	return 0;
}

static int read_args(const struct wire_value *args, struct drive_args *a, struct wire_value **reply)
{
	const char *type = NULL;
	int st;

	if ((st = hvd_arg_string(args, "Path", 4096, &a->path, reply)) ||
	    (st = hvd_arg_string(args, "ControllerType", 16, &type, reply)) ||
	    (st = int_arg(args, "ControllerNumber", 3, &a->has_number, &a->number, reply)) ||
	    (st = int_arg(args, "ControllerLocation", 63, &a->has_location, &a->location, reply)) ||
	    (st = int_arg(args, "ToControllerNumber", 3, &a->has_to_number, &a->to_number, reply)) ||
	    (st = int_arg(args, "ToControllerLocation", 63, &a->has_to_location, &a->to_location, reply)))
		return st;
	if (type && strcasecmp(type, "SCSI"))
		return ERR(WIRE_E_INVALID_ARGUMENT, type,
			   "Invalid value \"%s\" for parameter -ControllerType: hvkit's virtual machines have SCSI controllers only (as Hyper-V's generation 2).",
			   type);
	if (a->path && a->path[0] != '/')
		return ERR(WIRE_E_INVALID_ARGUMENT, a->path, "Invalid value \"%s\" for parameter -Path: it must be an absolute path.",
			   a->path);
	return 0;
}

static int check_disk(struct hvd *d, const struct hvd_vm *vm, const char *path, struct wire_value **reply)
{
	struct vhdx *v = NULL;
	char why[256] = "";
	const char *who = NULL;
	int rc = vhdx_open_detail(path, 0, &v, why, sizeof(why));

	if (rc)
		return ERR(rc == -ENOENT ? WIRE_E_NOT_FOUND : WIRE_E_INVALID_ARGUMENT, path, "Cannot attach %s: %s.", path,
			   why[0] ? why : strerror(-rc));
	vhdx_free(v);
	if (hvd_pool_golden_in_use(path, &who))
		return ERR(WIRE_E_INVALID_STATE, path,
			   "Cannot attach %s to \"%s\": it is the golden image of pool \"%s\", which no VM may write.", path,
			   vm->name, who);
	if (hvd_disk_in_use(hvd_get_store(d), path, vm, &who))
		return ERR(WIRE_E_INVALID_STATE, path,
			   "Cannot attach %s to \"%s\": it is in use by the running virtual machine \"%s\".", path, vm->name, who);
	return 0;
}

static struct hvd_drive *find(struct hvd_vm *vm, int64_t number, int64_t location)
{
	size_t i;

	for (i = 0; i < vm->ndrives; i++)
		if (vm->drives[i].controller == (uint32_t)number && vm->drives[i].location == (uint32_t)location)
			return &vm->drives[i];
	return NULL;
}

static int add_drive(struct hvd_store *s, struct hvd_vm *vm, const void *arg, struct wire_value **reply)
{
	const struct drive_args *a = arg;
	int64_t number = a->has_number ? a->number : 0, location = a->has_location ? a->location : -1;
	struct hvd_drive *dr;
	size_t i;
	int st;

	(void)s;
	if (!a->path)
		return ERR(WIRE_E_INVALID_ARGUMENT, "Path", "-Path is needed: the .vhdx to attach.");
	for (i = 0; i < vm->ndrives; i++)
		if (!strcmp(vm->drives[i].path, a->path))
			return ERR(WIRE_E_ALREADY_EXISTS, a->path, "%s is already attached to \"%s\".", a->path, vm->name);
	if ((st = check_disk(a->d, vm, a->path, reply)))
		return st;
	if (location < 0)
		for (location = 0; location < 64 && find(vm, number, location); location++)
			;
	if (location > 63)
		return ERR(WIRE_E_RESOURCE, vm->name, "SCSI controller %" PRId64 " of \"%s\" has no free location.", number,
			   vm->name);
	if (find(vm, number, location))
		return ERR(WIRE_E_ALREADY_EXISTS, vm->name,
			   "\"%s\" already has a drive on SCSI controller %" PRId64 " at location %" PRId64 ".", vm->name,
			   number, location);
	if (vm->ndrives == HVD_MAX_DRIVES)
		return ERR(WIRE_E_RESOURCE, vm->name, "\"%s\" has as many drives as it can.", vm->name);
	dr = realloc(vm->drives, (vm->ndrives + 1) * sizeof(*dr));
	if (!dr)
		abort();
	vm->drives = dr;
	dr = &vm->drives[vm->ndrives++];
	dr->controller = (uint32_t)number;
	dr->location = (uint32_t)location;
	dr->path = strdup(a->path);
	return 0;
}

static int pick(struct hvd_vm *vm, const struct drive_args *a, struct hvd_drive **out, struct wire_value **reply)
{
	size_t i;

	if (a->has_number && a->has_location) {
		*out = find(vm, a->number, a->location);
	} else if (a->path) {
		*out = NULL;
		for (i = 0; i < vm->ndrives; i++)
			if (!strcmp(vm->drives[i].path, a->path))
				*out = &vm->drives[i];
	} else {
		return ERR(WIRE_E_INVALID_ARGUMENT, NULL, "Name the drive with -ControllerNumber and -ControllerLocation.");
	}
	if (!*out)
		return ERR(WIRE_E_NOT_FOUND, vm->name, "\"%s\" has no such hard disk drive.", vm->name);
	return 0;
}

static int remove_drive(struct hvd_store *s, struct hvd_vm *vm, const void *arg, struct wire_value **reply)
{
	const struct drive_args *a = arg;
	struct drive_args sel = *a;
	struct hvd_drive *dr;
	int st;

	(void)s;
	if (a->has_number && a->has_location)
		sel.path = NULL;
	if ((st = pick(vm, &sel, &dr, reply)))
		return st;
	free(dr->path);
	memmove(dr, dr + 1, (size_t)(vm->drives + vm->ndrives - dr - 1) * sizeof(*dr));
	vm->ndrives--;
	return 0;
}

static int set_drive(struct hvd_store *s, struct hvd_vm *vm, const void *arg, struct wire_value **reply)
{
	const struct drive_args *a = arg;
	struct drive_args sel = *a;
	struct hvd_drive *dr;
	int st;

	(void)s;
	sel.path = NULL;
	if ((st = pick(vm, &sel, &dr, reply)))
		return st;
	if (a->path && strcmp(a->path, dr->path)) {
		if ((st = check_disk(a->d, vm, a->path, reply)))
			return st;
		free(dr->path);
		dr->path = strdup(a->path);
	}
	if (a->has_to_number || a->has_to_location) {
		int64_t n = a->has_to_number ? a->to_number : dr->controller;
		int64_t l = a->has_to_location ? a->to_location : dr->location;
		struct hvd_drive *there = find(vm, n, l);

		if (there && there != dr)
			return ERR(WIRE_E_ALREADY_EXISTS, vm->name,
				   "\"%s\" already has a drive on SCSI controller %" PRId64 " at location %" PRId64 ".",
				   vm->name, n, l);
		dr->controller = (uint32_t)n;
		dr->location = (uint32_t)l;
	}
	return 0;
}

/* The drives of one VM as a reply: what the change made. */
static struct wire_value *drives_view_of(const struct hvd_vm *vm, const struct drive_args *a)
{
	struct wire_value *l = wire_list();
	size_t i;

	for (i = 0; i < vm->ndrives; i++) {
		const struct hvd_drive *dr = &vm->drives[i];

		if (a && a->has_number && dr->controller != (uint32_t)a->number)
			continue;
		if (a && a->has_location && dr->location != (uint32_t)a->location)
			continue;
		wire_list_append(l, drive_object(vm, dr));
	}
	return l;
}

/* hvd_vms_change wants one object per VM: the drives go in a list the CLI unrolls. */
static struct wire_value *vm_drives_view(const struct hvd_vm *vm)
{
	struct wire_value *l = drives_view_of(vm, NULL), *o;

	if (l->list.n == 1) {
		o = wire_value_ref(l->list.items[0]);
		wire_value_unref(l);
		return o;
	}
	o = wire_object("HardDiskDrives");
	wire_object_add(o, "VMName", wire_string(vm->name));
	wire_object_add(o, "Drives", l);
	return o;
}

static int change(struct hvd *d, struct hvd_client *c, const struct wire_value *args, hvd_change_fn fn,
		  struct wire_value **reply)
{
	struct wire_value *sel = wire_object("Arguments");
	const struct wire_value *names = wire_object_get(args, "VMName");
	struct drive_args a = { .d = d };
	int st;

	if ((st = read_args(args, &a, reply))) {
		wire_value_unref(sel);
		return st;
	}
	if (names)
		wire_object_set(sel, "Name", wire_value_ref((struct wire_value *)names));
	else if (wire_object_get(args, "Id"))
		wire_object_set(sel, "Id", wire_value_ref((struct wire_value *)wire_object_get(args, "Id")));
	else if (wire_object_get(args, "VMId"))
		wire_object_set(sel, "Id", wire_value_ref((struct wire_value *)wire_object_get(args, "VMId")));
	st = hvd_vms_change(d, c, sel, fn, &a, vm_drives_view, reply);
	wire_value_unref(sel);
	return st;
}

int hvd_proc_drive_add(struct hvd *d, struct hvd_client *c, const struct wire_value *args, struct wire_value **reply)
{
	return change(d, c, args, add_drive, reply);
}

int hvd_proc_drive_remove(struct hvd *d, struct hvd_client *c, const struct wire_value *args, struct wire_value **reply)
{
	return change(d, c, args, remove_drive, reply);
}

int hvd_proc_drive_set(struct hvd *d, struct hvd_client *c, const struct wire_value *args, struct wire_value **reply)
{
	return change(d, c, args, set_drive, reply);
}

int hvd_proc_drive_get(struct hvd *d, struct hvd_client *c, const struct wire_value *args, struct wire_value **reply)
{
	struct wire_value *sel = wire_object("Arguments"), *out = wire_list();
	const struct wire_value *names = wire_object_get(args, "VMName");
	struct drive_args a = { .d = d };
	struct hvd_vm **vms = NULL;
	size_t n = 0, i, k;
	int st;

	(void)c;
	if ((st = read_args(args, &a, reply))) {
		wire_value_unref(sel);
		wire_value_unref(out);
		return st;
	}
	if (names)
		wire_object_set(sel, "Name", wire_value_ref((struct wire_value *)names));
	else if (wire_object_get(args, "VMId"))
		wire_object_set(sel, "Id", wire_value_ref((struct wire_value *)wire_object_get(args, "VMId")));
	st = hvd_vms_select(hvd_get_store(d), sel, &vms, &n, out, reply);
	wire_value_unref(sel);
	if (st) {
		wire_value_unref(out);
		return st;
	}
	for (i = 0; i < n; i++) {
		struct wire_value *l;

		if (vms[i]->load_error)
			continue;
		l = drives_view_of(vms[i], &a);
		for (k = 0; k < l->list.n; k++)
			wire_list_append(out, wire_value_ref(l->list.items[k]));
		wire_value_unref(l);
	}
	free(vms);
	*reply = out;
	return WIRE_OK;
}
