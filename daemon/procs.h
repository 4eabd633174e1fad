/* What the procedure files of hvd share (procs.c: definitions; procs-run.c: running VMs). */
#ifndef HVKIT_HVD_PROCS_H
#define HVKIT_HVD_PROCS_H

#include "daemon/hvd.h"

/* Fails a handler with an ErrorRecord: return ERR(status, target, "format", ...). */
#define ERR(st, target, ...) (*reply = wire_error_record((st), (target), __VA_ARGS__), (st))

typedef struct wire_value *(*hvd_view_fn)(const struct hvd_vm *vm);
/* Edits a copy of a definition; the copy is checked and saved before it replaces it. */
typedef int (*hvd_change_fn)(struct hvd_store *s, struct hvd_vm *vm, const void *arg, struct wire_value **reply);

const char *hvd_host_name(void);
/* The VMs args selects (Id or Name; neither: all); names that match nothing go to errors. */
int hvd_vms_select(struct hvd_store *s, const struct wire_value *args, struct hvd_vm ***out, size_t *nout,
		   struct wire_value *errors, struct wire_value **reply);
/* A change must name its VMs. */
int hvd_vms_require(const struct wire_value *args, struct wire_value **reply);
/* A reply of view(vm) for each selected VM (honouring a Filter); a view that returns a list
 * gives several objects for one VM. */
int hvd_vms_view(struct hvd *d, const struct wire_value *args, hvd_view_fn view, bool skip_broken,
		 struct wire_value **reply);
/* Applies change to each selected VM, saving each, replying view(vm) for each. */
int hvd_vms_change(struct hvd *d, struct hvd_client *c, const struct wire_value *args, hvd_change_fn change,
		   const void *arg, hvd_view_fn view, struct wire_value **reply);
/* Optional arguments: *present says whether it was given; an error names the parameter. */
int hvd_arg_range(const struct wire_value *args, const char *name, uint64_t min, uint64_t max, bool *present,
		  uint64_t *out, struct wire_value **reply);
int hvd_arg_memory(const struct wire_value *args, const char *name, bool *present, uint64_t *out,
		   struct wire_value **reply);
/* A VM name Hyper-V would take (no control or wildcard characters, not blank, at most 100). */
int hvd_check_name(const char *param, const char *name, struct wire_value **reply);
/* Fails when another VM than self has this name. */
int hvd_name_taken(struct hvd_store *s, const char *name, const struct hvd_vm *self, struct wire_value **reply);
int hvd_arg_string(const struct wire_value *args, const char *name, size_t maxlen, const char **out,
		   struct wire_value **reply);

#define HVD_PROC(name) \
	int hvd_##name(struct hvd *d, struct hvd_client *c, const struct wire_value *args, struct wire_value **reply)
HVD_PROC(proc_vm_start);
HVD_PROC(proc_vm_stop);
HVD_PROC(proc_vm_restart);
HVD_PROC(proc_vm_suspend);
HVD_PROC(proc_vm_resume);
HVD_PROC(proc_firmware_get);
HVD_PROC(proc_firmware_set);
HVD_PROC(proc_console_attach);
HVD_PROC(proc_console_input);
HVD_PROC(proc_console_detach);
HVD_PROC(proc_vhd_new);
HVD_PROC(proc_vhd_get);
HVD_PROC(proc_vhd_resize);
HVD_PROC(proc_vhd_convert);
HVD_PROC(proc_vhd_merge);
HVD_PROC(proc_vhd_optimize);
HVD_PROC(proc_vhd_test);
HVD_PROC(proc_vmbus_channels);
HVD_PROC(proc_ic_get);
HVD_PROC(proc_ic_set);
HVD_PROC(proc_checkpoint);
HVD_PROC(proc_checkpoint_get);
HVD_PROC(proc_checkpoint_restore);
HVD_PROC(proc_checkpoint_remove);
HVD_PROC(proc_checkpoint_rename);
HVD_PROC(proc_vm_save);
HVD_PROC(proc_saved_state_remove);
HVD_PROC(proc_drive_add);
HVD_PROC(proc_drive_get);
HVD_PROC(proc_drive_remove);
HVD_PROC(proc_drive_set);
HVD_PROC(proc_pool_new);
HVD_PROC(proc_pool_get);
HVD_PROC(proc_pool_remove);
HVD_PROC(proc_pool_member_add);
HVD_PROC(proc_pool_member_reset);
HVD_PROC(proc_pool_update);
/* The one VM args names (Id or Name); an error when it names none or several. */
int hvd_vm_one(struct hvd *d, const struct wire_value *args, struct hvd_vm **out, struct wire_value **reply);
/* The VM's object (Get-VM). */
struct wire_value *hvd_vm_object(const struct hvd_vm *vm);
/* Announces a VM's creation, change or removal to subscribers ("Created", ...). */
void hvd_vm_event(struct hvd *d, struct hvd_client *c, const char *type, const struct hvd_vm *vm);

#endif
