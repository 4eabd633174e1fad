/* What the checkpoint files of hvd share (checkpoint.c: the tree and the procedures;
 * ckpt-disks.c: differencing disks per checkpoint and merges). */
#ifndef HVKIT_HVD_CKPT_H
#define HVKIT_HVD_CKPT_H

#include "daemon/hvd.h"

#define CKPT_MAX 50 /* Hyper-V's limit per VM */

struct ckpt {
	char id[37];
	char parent[37]; /* "" for a root */
	int64_t created_ns;
	char state[12];  /* the VM's state when taken: Off, Running, Paused, Saved */
	char *name;
};

/* STATE/vms/<Id>/checkpoints/tree, the one record of a VM's checkpoints (the commit point of
 * every change): the checkpoints, and which one the VM's current state descends from. */
struct ckpt_tree {
	char current[37]; /* "" when none */
	struct ckpt *c;
	size_t n;
};

/* A drive of a definition, moved to a new differencing child (checkpoint, restore). */
struct ckpt_disk_move {
	uint32_t controller, location;
	char *layer; /* what the drive pointed at (the checkpoint's layer, kept read-only) */
	char *child; /* the new differencing disk the drive now writes */
};

/* ckpt-disks.c */
/* The names of a differencing child for each of vm's drives (<base>_<GUID>.avhdx beside it),
 * listed (one per line) in journal, made by no one yet: a running VM's worker makes them
 * (Worker.Save's Disks), hvd_ckpt_disks_branch otherwise. */
int hvd_ckpt_disks_plan(const struct hvd_vm *vm, const char *tag, const char *journal, struct ckpt_disk_move **moves,
			size_t *nmoves, char *err, size_t errlen);
/* Points vm's drives at the moves' children. */
void hvd_ckpt_moves_apply(struct hvd_vm *vm, const struct ckpt_disk_move *m, size_t n);
/* Whether a writer (a worker's libvhdx) holds path's write lock now. */
bool hvd_ckpt_disk_held(const char *path);
/* Makes a differencing child of every drive's disk, named <base>_<tag>.avhdx beside it, and
 * points vm's drives at them. The new files are listed (one per line) in journal first, so
 * an interrupted operation can remove them. Undoes itself on failure; err says why. */
int hvd_ckpt_disks_branch(struct hvd_vm *vm, const char *tag, const char *journal, struct ckpt_disk_move **moves,
			  size_t *nmoves, char *err, size_t errlen);
void hvd_ckpt_moves_free(struct ckpt_disk_move *m, size_t n);
/* Deletes the files a journal lists that no definition uses (vm and the checkpoints' configs
 * under ckdir): what an interrupted operation left behind. Returns how many. */
int hvd_ckpt_journal_undo(const struct hvd_vm *vm, const char *ckdir, const char *journal);
/* After a restore or a removal: deletes the files hvd made among cands (and their parents)
 * that no definition reaches any more, and merges every layer no checkpoint names into its
 * one child (libvhdx), so a chain keeps one file per checkpoint. */
void hvd_ckpt_disks_collapse(struct hvd_vm *vm, const char *ckdir, char **cands, size_t ncands);
/* Whether path is one of vm's disks or a parent of one. */
bool hvd_ckpt_disk_in_chain(const struct hvd_vm *vm, const char *path);

/* At startup: a Restore-VMCheckpoint interrupted after its commit is finished (vm.xml
 * written from the checkpoint's configuration and checkpoints/restore.new), one interrupted
 * before it undone; a committed Checkpoint-VM whose vm.xml still names the checkpoint's layer
 * moves to the child it made (its disks.new). */
void hvd_ckpt_roll_forward(struct hvd_store *s, struct hvd_vm *vm, const char *ckdir, const struct ckpt_tree *t);

/* checkpoint.c */
const char *hvd_ckpt_saved_path_of(struct hvd_store *s, const struct hvd_vm *vm);
int hvd_ckpt_tree_load(const char *ckdir, struct ckpt_tree *t, char *err, size_t errlen);
void hvd_ckpt_tree_clear(struct ckpt_tree *t);
/* Loads a checkpoint's configuration (its config.xml). */
int hvd_ckpt_config_load(const char *ckdir, const char *id, struct hvd_vm **out);
int hvd_write_file_atomic(const char *dir, const char *name, const char *buf, size_t len);
int hvd_fsync_dir(const char *dir);
/* HVKIT_FAULT=point: hvd (or hv-worker) exits at once there; the crash tests use it. */
void hvd_fault(const char *point);

#endif
