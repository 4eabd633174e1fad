/*
 * Checkpoints and saved state (Hyper-V's standard checkpoints and Save-VM).
 *
 * STATE/vms/<Id>/checkpoints/tree is the one record of a VM's checkpoints; every change is
 * prepared under temporary names and committed by rewriting the tree atomically, last:
 *
 *   Checkpoint-VM: checkpoints/<C>.tmp/ gets config.xml (the definition), state.hvsav (the
 *   worker's save, for a running or paused VM) and disks.new (the differencing disks made for
 *   it, listed before they are made); the folder is renamed to <C>; the tree is written with
 *   C added and current; then vm.xml, whose drives now point at the new children.
 *   Restore-VMCheckpoint: the VM is turned off; fresh children of the checkpoint's layers are
 *   listed in checkpoints/restore.new and made; the tree is written (current = C); vm.xml;
 *   then the worker starts from C's state when C was taken running or paused.
 *   Remove-VMCheckpoint: the tree is written without it; its folder goes; then the disk
 *   layers nobody needs any more are merged (ckpt-disks.c).
 *
 * hvd_ckpt_startup, before anything runs, finishes or undoes what a crash interrupted: it
 * removes *.tmp folders and folders the tree does not name (and the disks their journals
 * list), rolls a committed checkpoint's vm.xml forward, and reports what it did.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <ftw.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "daemon/ckpt.h"
#include "daemon/procs.h"

#define TREE_MAGIC "hvkit-checkpoints 1"

void hvd_fault(const char *point)
{
	const char *f = getenv("HVKIT_FAULT");

	if (f && !strcmp(f, point))
		_exit(99);
}

/* ---- files ---- */

int hvd_fsync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC), rc = 0;

	if (fd < 0)
		return -errno;
	if (fsync(fd) < 0)
		rc = -errno;
	close(fd);
	return rc;
}

int hvd_write_file_atomic(const char *dir, const char *name, const char *buf, size_t len)
{
	char *tmp = NULL, *file = NULL;
	int fd, rc = 0;

	if (asprintf(&tmp, "%s/.%s.tmp", dir, name) < 0 || asprintf(&file, "%s/%s", dir, name) < 0)
		abort();
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		rc = -errno;
	while (rc == 0 && len) {
		ssize_t n = write(fd, buf, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			rc = -errno;
		else {
			buf += n;
			len -= (size_t)n;
		}
	}
	if (rc == 0 && fsync(fd) < 0)
		rc = -errno;
	if (fd >= 0 && close(fd) < 0 && rc == 0)
		rc = -errno;
	if (rc == 0 && rename(tmp, file) < 0)
		rc = -errno;
	if (rc == 0)
		rc = hvd_fsync_dir(dir);
	if (rc)
		unlink(tmp);
	free(tmp);
	free(file);
	return rc;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	return (flag == FTW_DP ? rmdir(path) : unlink(path)) < 0 ? -1 : 0;
}

static void rm_tree(const char *path)
{
	if (nftw(path, rm_entry, 8, FTW_DEPTH | FTW_PHYS) < 0 && errno != ENOENT)
		hvd_log(HVD_LOG_WARNING, "could not remove all of %s: %s", path, strerror(errno));
}

static char *vm_dir(struct hvd_store *s, const struct hvd_vm *vm)
{
	char *p;

	if (asprintf(&p, "%s/%s", s->vms_dir, vm->id) < 0)
		abort();
	return p;
}

static char *ck_dir(struct hvd_store *s, const struct hvd_vm *vm)
{
	char *p;

	if (asprintf(&p, "%s/%s/checkpoints", s->vms_dir, vm->id) < 0)
		abort();
	return p;
}

static bool is_uuid(const char *s, size_t len)
{
	size_t i;

	if (len != 36)
		return false;
	for (i = 0; i < 36; i++)
		if ((i == 8 || i == 13 || i == 18 || i == 23) ? s[i] != '-' : !strchr("0123456789abcdef", s[i]))
			return false;
	return true;
}

/* ---- the tree ---- */

void hvd_ckpt_tree_clear(struct ckpt_tree *t)
{
	size_t i;

	for (i = 0; i < t->n; i++)
		free(t->c[i].name);
	free(t->c);
	memset(t, 0, sizeof(*t));
}

static struct ckpt *tree_find(struct ckpt_tree *t, const char *id)
{
	size_t i;

	for (i = 0; id && *id && i < t->n; i++)
		if (!strcmp(t->c[i].id, id))
			return &t->c[i];
	return NULL;
}

/* One line: "checkpoint ID PARENT|- CREATED STATE NAME...". */
static int tree_line(struct ckpt_tree *t, char *line)
{
	char id[64], parent[64], state[12];
	long long created;
	int off = 0;
	struct ckpt *c;

	if (sscanf(line, "checkpoint %63s %63s %lld %11s %n", id, parent, &created, state, &off) != 4 || !off ||
	    !is_uuid(id, strlen(id)) || (strcmp(parent, "-") && !is_uuid(parent, strlen(parent))) || !line[off] ||
	    strlen(line + off) > 4 * HVD_MAX_NAME || t->n == CKPT_MAX || tree_find(t, id))
		return -EBADMSG;
	if (strcmp(state, "Off") && strcmp(state, "Running") && strcmp(state, "Paused") && strcmp(state, "Saved"))
		return -EBADMSG;
	c = realloc(t->c, (t->n + 1) * sizeof(*c));
	if (!c)
		abort();
	t->c = c;
	c = &t->c[t->n++];
	memset(c, 0, sizeof(*c));
	snprintf(c->id, sizeof(c->id), "%s", id);
	snprintf(c->parent, sizeof(c->parent), "%s", strcmp(parent, "-") ? parent : "");
	c->created_ns = created;
	snprintf(c->state, sizeof(c->state), "%s", state);
	c->name = strdup(line + off);
	if (!c->name)
		abort();
	return 0;
}

int hvd_ckpt_tree_load(const char *ckdir, struct ckpt_tree *t, char *err, size_t errlen)
{
	char *path, line[1024];
	FILE *f;
	int rc = 0, n = 0;
	size_t i;

	memset(t, 0, sizeof(*t));
	if (asprintf(&path, "%s/tree", ckdir) < 0)
		abort();
	f = fopen(path, "re");
	if (!f) {
		rc = errno == ENOENT ? 0 : -errno;
		if (rc)
			snprintf(err, errlen, "cannot read %s: %s", path, strerror(errno));
		free(path);
		return rc;
	}
	while (rc == 0 && fgets(line, sizeof(line), f)) {
		size_t len = strlen(line);

		if (!len || line[len - 1] != '\n') {
			rc = -EBADMSG;
			break;
		}
		line[len - 1] = '\0';
		if (n++ == 0)
			rc = strcmp(line, TREE_MAGIC) ? -EBADMSG : 0;
		else if (!strncmp(line, "current ", 8))
			rc = (!strcmp(line + 8, "-") || is_uuid(line + 8, strlen(line + 8)))
				     ? (snprintf(t->current, sizeof(t->current), "%s", strcmp(line + 8, "-") ? line + 8 : ""), 0)
				     : -EBADMSG;
		else
			rc = tree_line(t, line);
	}
	fclose(f);
	/* Parents and current must name checkpoints of the tree. */
	for (i = 0; rc == 0 && i < t->n; i++)
		if (t->c[i].parent[0] && !tree_find(t, t->c[i].parent))
			rc = -EBADMSG;
	if (rc == 0 && t->current[0] && !tree_find(t, t->current))
		rc = -EBADMSG;
	if (rc) {
		snprintf(err, errlen, "%s is damaged (line %d)", path, n);
		hvd_ckpt_tree_clear(t);
	}
	free(path);
	return rc;
}

static int tree_save(const char *ckdir, const struct ckpt_tree *t)
{
	size_t cap = 128 + t->n * 600, len = 0, i;
	char *buf = malloc(cap);
	int rc;

	if (!buf)
		abort();
	len += (size_t)snprintf(buf + len, cap - len, "%s\ncurrent %s\n", TREE_MAGIC, t->current[0] ? t->current : "-");
	for (i = 0; i < t->n; i++)
		len += (size_t)snprintf(buf + len, cap - len, "checkpoint %s %s %" PRId64 " %s %s\n", t->c[i].id,
					t->c[i].parent[0] ? t->c[i].parent : "-", t->c[i].created_ns, t->c[i].state,
					t->c[i].name);
	rc = len < cap ? hvd_write_file_atomic(ckdir, "tree", buf, len) : -E2BIG;
	free(buf);
	return rc;
}

int hvd_ckpt_config_load(const char *ckdir, const char *id, struct hvd_vm **out)
{
	char *path, *buf = NULL, *err = NULL;
	struct stat sb;
	int fd, rc = 0;

	*out = NULL;
	if (asprintf(&path, "%s/%s/config.xml", ckdir, id) < 0)
		abort();
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &sb) < 0 || sb.st_size > (1 << 20))
		rc = fd < 0 ? -errno : -E2BIG;
	if (rc == 0) {
		buf = malloc((size_t)sb.st_size + 1);
		if (!buf)
			abort();
		if (read(fd, buf, (size_t)sb.st_size) != sb.st_size)
			rc = -EIO;
	}
	if (rc == 0 && hvd_vm_from_xml(buf, (size_t)sb.st_size, out, &err) != 0) {
		hvd_log(HVD_LOG_ERROR, "%s: %s", path, err ? err : "invalid");
		rc = -EBADMSG;
	}
	if (fd >= 0)
		close(fd);
	free(err);
	free(buf);
	free(path);
	return rc;
}

/* ---- objects ---- */

static struct wire_value *ckpt_object(const struct hvd_vm *vm, const struct ckpt_tree *t, const struct ckpt *c,
				      const char *ckdir)
{
	struct wire_value *o = wire_object("VMCheckpoint");
	struct ckpt *parent = tree_find((struct ckpt_tree *)t, c->parent);
	struct hvd_vm *cfg = NULL;
	struct wire_value *drives = wire_list();
	size_t i;

	wire_object_add(o, "Name", wire_string(c->name));
	wire_object_add(o, "VMName", wire_string(vm->name));
	wire_object_add(o, "CheckpointType", wire_string("Standard"));
	wire_object_add(o, "CreationTime", wire_timestamp(c->created_ns));
	wire_object_add(o, "ParentCheckpointName", parent ? wire_string(parent->name) : wire_null());
	wire_object_add(o, "ParentCheckpointId", parent ? wire_string(parent->id) : wire_null());
	wire_object_add(o, "Id", wire_string(c->id));
	wire_object_add(o, "VMId", wire_string(vm->id));
	wire_object_add(o, "State", wire_string(c->state));
	wire_object_add(o, "IsCurrent", wire_bool(!strcmp(t->current, c->id)));
	wire_object_add(o, "Path", wire_stringf("%s/%s", ckdir, c->id));
	if (hvd_ckpt_config_load(ckdir, c->id, &cfg) == 0) {
		for (i = 0; i < cfg->ndrives; i++)
			wire_list_append(drives, wire_string(cfg->drives[i].path));
		wire_object_add(o, "ProcessorCount", wire_int(cfg->proc_count));
		wire_object_add(o, "MemoryStartup", wire_uint(cfg->mem_startup));
	}
	hvd_vm_free(cfg);
	wire_object_add(o, "HardDrives", drives);
	wire_object_add(o, "ComputerName", wire_string(hvd_host_name()));
	return o;
}

/* ---- selecting ---- */

static int one_vm(struct hvd *d, const struct wire_value *args, const char *param, struct hvd_vm **out,
		  struct wire_value **reply)
{
	struct wire_value *sel = wire_object("Arguments"), *errors = wire_list();
	const struct wire_value *v = wire_object_get(args, param), *id = wire_object_get(args, "Id");
	struct hvd_vm **vms = NULL;
	size_t n = 0;
	int st;

	if (id && !v)
		wire_object_set(sel, "Id", wire_value_ref((struct wire_value *)id));
	else if (v)
		wire_object_set(sel, "Name", wire_value_ref((struct wire_value *)v));
	if (!v && !id)
		st = ERR(WIRE_E_INVALID_ARGUMENT, NULL, "Name the virtual machine with -%s.", param);
	else
		st = hvd_vms_select(hvd_get_store(d), sel, &vms, &n, errors, reply);
	if (st == 0 && errors->list.n) {
		*reply = wire_value_ref(errors->list.items[0]);
		st = WIRE_E_NOT_FOUND;
	} else if (st == 0 && n != 1) {
		st = ERR(WIRE_E_INVALID_ARGUMENT, NULL, "%s",
			 n ? "Name one virtual machine at a time here." : "No virtual machine matches.");
	} else if (st == 0 && vms[0]->load_error) {
		st = ERR(WIRE_E_INVALID_STATE, vms[0]->id, "The configuration of VM %s could not be loaded.", vms[0]->id);
	} else if (st == 0) {
		*out = vms[0];
	}
	free(vms);
	wire_value_unref(sel);
	wire_value_unref(errors);
	return st;
}

/* One operation at a time per VM: a checkpoint half taken must not meet a restore. */
static char busy[64][37];

static bool busy_take(const char *id)
{
	size_t i, free_at = 64;

	for (i = 0; i < 64; i++) {
		if (!strcmp(busy[i], id))
			return false;
		if (!busy[i][0] && free_at == 64)
			free_at = i;
	}
	if (free_at == 64)
		return false;
	snprintf(busy[free_at], 37, "%s", id);
	return true;
}

static void busy_drop(const char *id)
{
	size_t i;

	for (i = 0; i < 64; i++)
		if (!strcmp(busy[i], id))
			busy[i][0] = '\0';
}

static int busy_error(const struct hvd_vm *vm, struct wire_value **reply)
{
	return ERR(WIRE_E_INVALID_STATE, vm->name,
		   "Another checkpoint operation on \"%s\" is in progress; try again when it has finished.", vm->name);
}

/* Replaces the store's definition of copy->id by copy (consumed), keeping its runtime. */
static struct hvd_vm *store_replace(struct hvd_store *s, struct hvd_vm *copy)
{
	size_t i;

	for (i = 0; i < s->n; i++) {
		if (!strcmp(s->vms[i]->id, copy->id)) {
			struct hvd_vm *old = s->vms[i];

			copy->worker = old->worker;
			copy->saved = old->saved;
			free(copy->status);
			copy->status = old->status ? strdup(old->status) : NULL;
			wire_value_unref(copy->cached);
			copy->cached = NULL;
			s->vms[i] = copy;
			hvd_vm_free(old);
			return copy;
		}
	}
	hvd_vm_free(copy);
	return NULL;
}

static void drop_cache(struct hvd_vm *vm)
{
	wire_value_unref(vm->cached);
	vm->cached = NULL;
}

/* ---- Checkpoint-VM ---- */

struct ckpt_op {
	struct hvd *d;
	uint64_t client;
	uint32_t serial, proc;
	char vm_id[37], id[37];
	char *name;
	char state[12];
	char *tmp, *final, *ckdir;
	int64_t created_ns;
	bool paused_restore;
	char *restore_state;
	struct ckpt_disk_move *moves; /* a running VM's: its worker made the children */
	size_t nmoves;
};

static void op_free(struct ckpt_op *op)
{
	if (!op)
		return;
	busy_drop(op->vm_id);
	free(op->name);
	free(op->tmp);
	free(op->final);
	free(op->ckdir);
	free(op->restore_state);
	hvd_ckpt_moves_free(op->moves, op->nmoves);
	free(op);
}

static void op_reply(struct ckpt_op *op, int status, struct wire_value *payload)
{
	hvd_reply_to(op->d, op->client, op->serial, op->proc, status, payload);
}

static void default_name(const struct hvd_vm *vm, int64_t ns, char *out, size_t len)
{
	time_t t = (time_t)(ns / 1000000000);
	struct tm tm;
	char when[64];

	localtime_r(&t, &tm);
	strftime(when, sizeof(when), "%m/%d/%Y - %H:%M:%S", &tm);
	snprintf(out, len, "%s - (%s)", vm->name, when);
}

/* The last steps, once the state (if any) is in op->tmp: disks, rename, tree, vm.xml. */
static int ckpt_commit(struct ckpt_op *op, struct wire_value **reply)
{
	struct hvd_store *s = hvd_get_store(op->d);
	struct hvd_vm *vm = hvd_store_find_id(s, op->vm_id), *copy = NULL;
	struct ckpt_disk_move *moves = NULL;
	struct ckpt_tree t;
	char err[600] = "", *journal = NULL;
	size_t nmoves = 0;
	struct ckpt *c;
	int rc;

	if (!vm)
		return ERR(WIRE_E_NOT_FOUND, op->vm_id, "The virtual machine was removed meanwhile.");
	rc = hvd_ckpt_tree_load(op->ckdir, &t, err, sizeof(err));
	if (rc)
		return ERR(WIRE_E_INTERNAL, vm->name, "Cannot take a checkpoint of \"%s\": %s.", vm->name, err);
	copy = hvd_vm_dup(vm);
	if (asprintf(&journal, "%s/disks.new", op->tmp) < 0)
		abort();
	if (op->moves) /* the worker switched to them: they are the drives now */
		hvd_ckpt_moves_apply(copy, op->moves, op->nmoves);
	else
		rc = hvd_ckpt_disks_branch(copy, op->id, journal, &moves, &nmoves, err, sizeof(err));
	free(journal);
	if (rc) {
		hvd_vm_free(copy);
		hvd_ckpt_tree_clear(&t);
		return ERR(WIRE_E_RESOURCE, vm->name, "Cannot take a checkpoint of \"%s\": %s.", vm->name, err);
	}
	hvd_fault("checkpoint-after-disks");
	rc = hvd_fsync_dir(op->tmp);
	if (rc == 0 && rename(op->tmp, op->final) < 0)
		rc = -errno;
	if (rc == 0)
		rc = hvd_fsync_dir(op->ckdir);
	hvd_fault("checkpoint-after-rename");
	if (rc == 0) {
		c = realloc(t.c, (t.n + 1) * sizeof(*c));
		if (!c)
			abort();
		t.c = c;
		c = &t.c[t.n++];
		memset(c, 0, sizeof(*c));
		snprintf(c->id, sizeof(c->id), "%s", op->id);
		snprintf(c->parent, sizeof(c->parent), "%s", t.current);
		c->created_ns = op->created_ns;
		snprintf(c->state, sizeof(c->state), "%s", op->state);
		c->name = strdup(op->name);
		snprintf(t.current, sizeof(t.current), "%s", op->id);
		rc = tree_save(op->ckdir, &t); /* the commit */
	}
	if (rc) {
		rename(op->final, op->tmp);
		hvd_vm_free(copy);
		hvd_ckpt_tree_clear(&t);
		hvd_ckpt_moves_free(moves, nmoves);
		return ERR(WIRE_E_RESOURCE, vm->name, "Cannot take a checkpoint of \"%s\": %s.", vm->name, strerror(-rc));
	}
	hvd_fault("checkpoint-after-tree");
	if ((nmoves || op->nmoves) && (rc = hvd_store_save(s, copy)) != 0)
		hvd_log(HVD_LOG_ERROR, "VM %s: checkpoint %s taken, but vm.xml could not be updated (%s); it will be at the next start of hvd",
			vm->name, op->id, strerror(-rc));
	copy = store_replace(s, copy);
	hvd_log(HVD_LOG_INFO, "VM %s: checkpoint \"%s\" (%s) taken, %s", copy ? copy->name : op->vm_id, op->name, op->id,
		op->state);
	*reply = wire_list();
	if (copy)
		wire_list_append(*reply, ckpt_object(copy, &t, tree_find(&t, op->id), op->ckdir));
	hvd_ckpt_tree_clear(&t);
	hvd_ckpt_moves_free(moves, nmoves);
	return WIRE_OK;
}

static void ckpt_fail_cleanup(struct ckpt_op *op)
{
	struct hvd_vm *vm = hvd_store_find_id(hvd_get_store(op->d), op->vm_id);
	char *journal;

	/* The worker switched, the commit failed: no checkpoint, but the VM writes the new
	 * children now, so its definition follows (the old layers merge into them once it is off). */
	if (vm && op->moves) {
		struct hvd_vm *copy = hvd_vm_dup(vm);
		int rc;

		hvd_ckpt_moves_apply(copy, op->moves, op->nmoves);
		rc = hvd_store_save(hvd_get_store(op->d), copy);
		if (rc) {
			hvd_log(HVD_LOG_ERROR, "VM %s: its worker writes new disk layers, but vm.xml cannot say so: %s",
				vm->name, strerror(-rc));
			hvd_vm_free(copy);
		} else {
			vm = store_replace(hvd_get_store(op->d), copy);
		}
	}

	if (asprintf(&journal, "%s/disks.new", op->tmp) < 0)
		abort();
	if (vm)
		hvd_ckpt_journal_undo(vm, op->ckdir, journal);
	free(journal);
	rm_tree(op->tmp);
}

static void ckpt_saved(struct hvd *d, const char *vm_id, void *ctx, int status, const struct wire_value *payload)
{
	struct ckpt_op *op = ctx;
	struct wire_value *reply = NULL;
	const char *msg = "the worker failed";
	int st;

	(void)d;
	(void)vm_id;
	if (status != WIRE_OK) {
		/* The worker said no (it left every disk as it was) or is gone: nothing to adopt. */
		hvd_ckpt_moves_free(op->moves, op->nmoves);
		op->moves = NULL;
		op->nmoves = 0;
		wire_object_get_string(payload, "Message", &msg);
		ckpt_fail_cleanup(op);
		op_reply(op, WIRE_E_RESOURCE,
			 wire_error_record(WIRE_E_RESOURCE, op->vm_id, "Cannot take a checkpoint: the partition's state could not be saved: %s.",
					   msg));
		op_free(op);
		return;
	}
	if (op->moves) {
		const struct wire_value *disks = wire_object_get(payload, "Disks");

		if (!disks || disks->type != WIRE_LIST || disks->list.n != op->nmoves) {
			/* A worker that left Disks out did not switch: nothing to adopt. */
			hvd_ckpt_moves_free(op->moves, op->nmoves);
			op->moves = NULL;
			op->nmoves = 0;
			ckpt_fail_cleanup(op);
			op_reply(op, WIRE_E_RESOURCE,
				 wire_error_record(WIRE_E_RESOURCE, op->vm_id,
						   "Cannot take a checkpoint: the worker did not switch the disks to their new layers."));
			op_free(op);
			return;
		}
	}
	hvd_fault("checkpoint-after-save");
	st = ckpt_commit(op, &reply);
	if (st)
		ckpt_fail_cleanup(op);
	op_reply(op, st, reply);
	op_free(op);
}

static int check_type(const struct hvd_vm *vm, struct wire_value **reply)
{
	if (vm->checkpoint_type == HVD_CKPT_DISABLED)
		return ERR(WIRE_E_INVALID_STATE, vm->name,
			   "Checkpoints are disabled for \"%s\" (Set-VM -CheckpointType Standard or Production enables them).",
			   vm->name);
	if (vm->checkpoint_type == HVD_CKPT_PRODUCTION_ONLY)
		return ERR(WIRE_E_INVALID_STATE, vm->name,
			   "Cannot take a production checkpoint of \"%s\": the guest offers no integration service to freeze its file systems (Backup/VSS), and the checkpoint type is ProductionOnly. Use Set-VM -CheckpointType Production to fall back to a standard checkpoint.",
			   vm->name);
	return 0;
}

/* Worker.Save's Disks for a running VM's drives, planned (and journaled) in op. */
static int disks_for_worker(const struct hvd_vm *vm, struct ckpt_op *op, struct wire_value *args, char *err,
			    size_t errlen)
{
	struct wire_value *list;
	char *journal;
	size_t i;
	int rc;

	if (!vm->ndrives)
		return 0;
	if (asprintf(&journal, "%s/disks.new", op->tmp) < 0)
		abort();
	rc = hvd_ckpt_disks_plan(vm, op->id, journal, &op->moves, &op->nmoves, err, errlen);
	free(journal);
	if (rc)
		return rc;
	list = wire_list();
	for (i = 0; i < op->nmoves; i++) {
		struct wire_value *o = wire_object("WorkerDisk");

		wire_object_add(o, "ControllerNumber", wire_uint(op->moves[i].controller));
		wire_object_add(o, "ControllerLocation", wire_uint(op->moves[i].location));
		wire_object_add(o, "Path", wire_string(op->moves[i].child));
		wire_list_append(list, o);
	}
	wire_object_add(args, "Disks", list);
	return 0;
}

static int proc_checkpoint(struct hvd *d, struct hvd_client *cl, const struct wire_value *args,
			   struct wire_value **reply)
{
	struct hvd_store *s = hvd_get_store(d);
	struct hvd_vm_live live;
	struct hvd_vm *vm = NULL;
	struct ckpt_tree t;
	struct ckpt_op *op;
	const char *sname = NULL;
	char err[600], defname[300], *xml = NULL;
	size_t len;
	int st, rc;

	if ((st = one_vm(d, args, "Name", &vm, reply)) || (st = hvd_arg_string(args, "SnapshotName", HVD_MAX_NAME, &sname, reply)) ||
	    (st = check_type(vm, reply)))
		return st;
	if (sname && (!*sname || strchr(sname, '\n')))
		return ERR(WIRE_E_INVALID_ARGUMENT, "SnapshotName", "Invalid value for parameter -SnapshotName: a checkpoint needs a name.");
	hvd_runtime_describe(vm, &live);
	if (strcmp(live.state, "Off") && strcmp(live.state, "Running") && strcmp(live.state, "Paused") &&
	    strcmp(live.state, "Saved"))
		return ERR(WIRE_E_INVALID_STATE, vm->name, "Cannot take a checkpoint of \"%s\" while it is %s.", vm->name,
			   live.state);
	if (!busy_take(vm->id))
		return busy_error(vm, reply);
	op = calloc(1, sizeof(*op));
	if (!op)
		abort();
	op->d = d;
	op->client = hvd_client_id(cl);
	op->serial = hvd_client_serial(cl);
	op->proc = WIRE_PROC_VM_CHECKPOINT;
	snprintf(op->vm_id, sizeof(op->vm_id), "%s", vm->id);
	snprintf(op->state, sizeof(op->state), "%s", live.state);
	op->created_ns = hvd_now_ns();
	hvd_vm_new_id(op->id);
	default_name(vm, op->created_ns, defname, sizeof(defname));
	op->name = strdup(sname ? sname : defname);
	op->ckdir = ck_dir(s, vm);
	if (asprintf(&op->tmp, "%s/%s.tmp", op->ckdir, op->id) < 0 || asprintf(&op->final, "%s/%s", op->ckdir, op->id) < 0)
		abort();
	rc = hvd_ckpt_tree_load(op->ckdir, &t, err, sizeof(err));
	if (rc) {
		op_free(op);
		return ERR(WIRE_E_INTERNAL, vm->name, "Cannot take a checkpoint of \"%s\": %s.", vm->name, err);
	}
	len = t.n;
	hvd_ckpt_tree_clear(&t);
	if (len >= CKPT_MAX) {
		op_free(op);
		return ERR(WIRE_E_RESOURCE, vm->name, "\"%s\" has %d checkpoints, the most a virtual machine can have.", vm->name,
			   CKPT_MAX);
	}
	rc = hvd_mkdir_p(op->ckdir, 0700);
	if (rc == 0 && mkdir(op->tmp, 0700) < 0)
		rc = -errno;
	if (rc == 0)
		rc = hvd_vm_to_xml(vm, &xml, &len);
	if (rc == 0)
		rc = hvd_write_file_atomic(op->tmp, "config.xml", xml, len);
	free(xml);
	if (rc == 0 && !strcmp(live.state, "Saved")) {
		/* The saved state is immutable: the checkpoint shares it. */
		char *state;

		if (asprintf(&state, "%s/state.hvsav", op->tmp) < 0)
			abort();
		if (link(hvd_ckpt_saved_path(d, vm), state) < 0)
			rc = -errno;
		free(state);
	}
	if (rc) {
		rm_tree(op->tmp);
		op_free(op);
		return ERR(WIRE_E_RESOURCE, vm->name, "Cannot take a checkpoint of \"%s\": %s.", vm->name, strerror(-rc));
	}
	hvd_fault("checkpoint-after-config");
	if (!strcmp(live.state, "Running") || !strcmp(live.state, "Paused")) {
		struct wire_value *a = wire_object("Arguments");

		wire_object_add(a, "Path", wire_stringf("%s/state.hvsav", op->tmp));
		wire_object_add(a, "Stop", wire_bool(false));
		/* Its worker holds the disks: it makes the children and switches to them in the
		 * same pause as the save (the journal names them first). */
		rc = disks_for_worker(vm, op, a, err, sizeof(err));
		if (rc) {
			wire_value_unref(a);
			rm_tree(op->tmp);
			op_free(op);
			return ERR(WIRE_E_RESOURCE, vm->name, "Cannot take a checkpoint of \"%s\": %s.", vm->name, err);
		}
		rc = hvd_runtime_call(d, vm, WIRE_PROC_WORKER_SAVE, a, ckpt_saved, op);
		if (rc) {
			hvd_ckpt_moves_free(op->moves, op->nmoves);
			op->moves = NULL;
			op->nmoves = 0;
			ckpt_fail_cleanup(op);
			op_free(op);
			return ERR(WIRE_E_INVALID_STATE, vm->name, "Cannot take a checkpoint of \"%s\": %s.", vm->name,
				   rc == -EBUSY ? "too many requests at once" : "it is not running");
		}
		return HVD_DEFERRED;
	}
	st = ckpt_commit(op, reply);
	if (st)
		ckpt_fail_cleanup(op);
	op_free(op);
	return st;
}

/* ---- Get-VMCheckpoint ---- */

/* Depth-first, children by creation time: the order Hyper-V Manager draws the tree. */
static void walk(const struct hvd_vm *vm, const struct ckpt_tree *t, const char *parent, const char *ckdir,
		 const struct wire_value *names, struct wire_value *out, int depth)
{
	size_t i;

	if (depth > CKPT_MAX)
		return;
	for (i = 0; i < t->n; i++) {
		const struct ckpt *c = &t->c[i];
		bool keep = !names;

		if (strcmp(c->parent, parent))
			continue;
		if (names && names->type == WIRE_STRING)
			keep = fnmatch(names->str.p, c->name, FNM_CASEFOLD) == 0 || !strcasecmp(names->str.p, c->id);
		for (size_t k = 0; names && names->type == WIRE_LIST && k < names->list.n; k++)
			if (names->list.items[k]->type == WIRE_STRING &&
			    (fnmatch(names->list.items[k]->str.p, c->name, FNM_CASEFOLD) == 0 ||
			     !strcasecmp(names->list.items[k]->str.p, c->id)))
				keep = true;
		if (keep)
			wire_list_append(out, ckpt_object(vm, t, c, ckdir));
		walk(vm, t, c->id, ckdir, names, out, depth + 1);
	}
}

static int proc_checkpoint_get(struct hvd *d, struct hvd_client *cl, const struct wire_value *args,
			       struct wire_value **reply)
{
	struct hvd_store *s = hvd_get_store(d);
	const struct wire_value *vmnames = wire_object_get(args, "VMName"), *names = wire_object_get(args, "Name");
	struct wire_value *sel = wire_object("Arguments"), *out = wire_list();
	struct hvd_vm **vms = NULL;
	size_t n = 0, i;
	int st;

	(void)cl;
	if (vmnames)
		wire_object_set(sel, "Name", wire_value_ref((struct wire_value *)vmnames));
	else if (wire_object_get(args, "VMId"))
		wire_object_set(sel, "Id", wire_value_ref((struct wire_value *)wire_object_get(args, "VMId")));
	st = hvd_vms_select(s, sel, &vms, &n, out, reply);
	wire_value_unref(sel);
	if (st) {
		wire_value_unref(out);
		return st;
	}
	for (i = 0; i < n; i++) {
		struct ckpt_tree t;
		char err[600], *ckdir;
		size_t before = out->list.n;

		if (vms[i]->load_error)
			continue;
		ckdir = ck_dir(s, vms[i]);
		if (hvd_ckpt_tree_load(ckdir, &t, err, sizeof(err)))
			wire_list_append(out, wire_error_record(WIRE_E_INTERNAL, vms[i]->name, "%s", err));
		else
			walk(vms[i], &t, "", ckdir, names, out, 0);
		if (names && names->type == WIRE_STRING && out->list.n == before && strpbrk(names->str.p, "*?[") == NULL &&
		    vmnames)
			wire_list_append(out, wire_error_record(WIRE_E_NOT_FOUND, names->str.p,
								"\"%s\" has no checkpoint named \"%s\".", vms[i]->name,
								names->str.p));
		hvd_ckpt_tree_clear(&t);
		free(ckdir);
	}
	free(vms);
	*reply = out;
	return WIRE_OK;
}

/* The one checkpoint args names (Name, or Id) of vm; 0 with its index. */
static int one_ckpt(const struct hvd_vm *vm, struct ckpt_tree *t, const struct wire_value *args, size_t *at,
		    struct wire_value **reply)
{
	const char *name = NULL, *id = NULL;
	size_t i, hits = 0;

	wire_object_get_string(args, "Name", &name);
	wire_object_get_string(args, "CheckpointId", &id);
	if (!name && !id)
		return ERR(WIRE_E_INVALID_ARGUMENT, NULL, "Name the checkpoint with -Name.");
	for (i = 0; i < t->n; i++)
		if ((id && !strcasecmp(t->c[i].id, id)) || (!id && !strcasecmp(t->c[i].name, name))) {
			*at = i;
			hits++;
		}
	if (hits == 0)
		return ERR(WIRE_E_NOT_FOUND, id ? id : name, "\"%s\" has no checkpoint %s \"%s\".", vm->name,
			   id ? "with Id" : "named", id ? id : name);
	if (hits > 1)
		return ERR(WIRE_E_INVALID_ARGUMENT, name, "\"%s\" has %zu checkpoints named \"%s\": name one by its Id.",
			   vm->name, hits, name);
	return 0;
}

/* ---- Restore-VMCheckpoint ---- */

static int restore_apply(struct ckpt_op *op, struct wire_value **reply);

static void restore_after_off(struct hvd *d, const char *vm_id, void *ctx, int status, const struct wire_value *payload)
{
	struct ckpt_op *op = ctx;
	struct wire_value *reply = NULL;
	int st;

	(void)d;
	(void)vm_id;
	(void)status;
	(void)payload;
	st = restore_apply(op, &reply);
	if (st != HVD_DEFERRED)
		op_reply(op, st, reply);
	op_free(op);
}

/* A copy of vm with the checkpoint's configuration (consumed) under the VM's own identity:
 * processors, memory, what it boots, its drives (the checkpoint's layers). */
static struct hvd_vm *with_config(const struct hvd_vm *vm, struct hvd_vm *cfg)
{
	struct hvd_vm *copy = hvd_vm_dup(vm);

	copy->proc_count = cfg->proc_count;
	copy->mem_startup = cfg->mem_startup;
	copy->mem_dynamic = cfg->mem_dynamic;
	copy->mem_minimum = cfg->mem_minimum;
	copy->mem_maximum = cfg->mem_maximum;
	free(copy->kernel);
	free(copy->initrd);
	free(copy->cmdline);
	copy->kernel = cfg->kernel ? strdup(cfg->kernel) : NULL;
	copy->initrd = cfg->initrd ? strdup(cfg->initrd) : NULL;
	copy->cmdline = cfg->cmdline ? strdup(cfg->cmdline) : NULL;
	for (size_t i = 0; i < copy->ndrives; i++)
		free(copy->drives[i].path);
	free(copy->drives);
	copy->drives = cfg->drives;
	copy->ndrives = cfg->ndrives;
	cfg->drives = NULL;
	cfg->ndrives = 0;
	hvd_vm_free(cfg);
	return copy;
}

static void cands_free(char **c, size_t n)
{
	while (n)
		free(c[--n]);
}

static int restore_apply(struct ckpt_op *op, struct wire_value **reply)
{
	char *cands[HVD_MAX_DRIVES];
	size_t ncands = 0;
	struct hvd_store *s = hvd_get_store(op->d);
	struct hvd_vm *vm = hvd_store_find_id(s, op->vm_id), *cfg = NULL, *copy;
	struct ckpt_disk_move *moves = NULL;
	struct ckpt_tree t;
	struct ckpt *c;
	char err[600], *journal, *state = NULL;
	size_t nmoves = 0;
	int rc, st;

	if (!vm)
		return ERR(WIRE_E_NOT_FOUND, op->vm_id, "The virtual machine was removed meanwhile.");
	if (vm->worker)
		return ERR(WIRE_E_INVALID_STATE, vm->name, "\"%s\" did not turn off.", vm->name);
	if ((rc = hvd_ckpt_tree_load(op->ckdir, &t, err, sizeof(err))) != 0)
		return ERR(WIRE_E_INTERNAL, vm->name, "Cannot restore a checkpoint of \"%s\": %s.", vm->name, err);
	c = tree_find(&t, op->id);
	if (!c) {
		hvd_ckpt_tree_clear(&t);
		return ERR(WIRE_E_NOT_FOUND, vm->name, "The checkpoint was removed meanwhile.");
	}
	if ((rc = hvd_ckpt_config_load(op->ckdir, op->id, &cfg)) != 0) {
		hvd_ckpt_tree_clear(&t);
		return ERR(WIRE_E_INTERNAL, vm->name, "Cannot restore checkpoint \"%s\": its configuration cannot be read (%s).",
			   c->name, strerror(-rc));
	}
	if (strcmp(c->state, "Off")) {
		if (asprintf(&state, "%s/%s/state.hvsav", op->ckdir, op->id) < 0)
			abort();
		if (access(state, R_OK) != 0) {
			rc = errno;
			hvd_ckpt_tree_clear(&t);
			hvd_vm_free(cfg);
			st = ERR(WIRE_E_INTERNAL, vm->name, "Cannot restore checkpoint \"%s\": its saved state %s cannot be read (%s).",
				 c->name, state, strerror(rc));
			free(state);
			return st;
		}
	}
	copy = with_config(vm, cfg);
	for (size_t i = 0; i < vm->ndrives; i++)
		cands[ncands++] = strdup(vm->drives[i].path);
	if (asprintf(&journal, "%s/restore.new", op->ckdir) < 0)
		abort();
	rc = hvd_ckpt_disks_branch(copy, op->id, journal, &moves, &nmoves, err, sizeof(err));
	if (rc) {
		hvd_ckpt_journal_undo(vm, op->ckdir, journal);
		unlink(journal);
		free(journal);
		free(state);
		hvd_vm_free(copy);
		hvd_ckpt_tree_clear(&t);
		cands_free(cands, ncands);
		return ERR(WIRE_E_RESOURCE, vm->name, "Cannot restore checkpoint \"%s\": %s.", op->name, err);
	}
	snprintf(t.current, sizeof(t.current), "%s", op->id);
	rc = tree_save(op->ckdir, &t); /* the commit */
	if (rc == 0)
		rc = hvd_store_save(s, copy);
	if (rc) {
		hvd_ckpt_journal_undo(vm, op->ckdir, journal);
		unlink(journal);
		free(journal);
		free(state);
		hvd_vm_free(copy);
		hvd_ckpt_tree_clear(&t);
		cands_free(cands, ncands);
		return ERR(WIRE_E_RESOURCE, vm->name, "Cannot restore checkpoint \"%s\": %s.", op->name, strerror(-rc));
	}
	hvd_fault("restore-after-commit");
	unlink(journal);
	free(journal);
	/* The disks the VM wrote since are no checkpoint's: they go (ckpt-disks.c keeps
	 * whatever a chain still needs). A saved state goes too. */
	copy = store_replace(s, copy);
	if (copy->saved) {
		unlink(hvd_ckpt_saved_path(op->d, copy));
		copy->saved = false;
	}
	hvd_ckpt_disks_collapse(copy, op->ckdir, cands, ncands);
	cands_free(cands, ncands);
	hvd_log(HVD_LOG_INFO, "VM %s: checkpoint \"%s\" (%s) restored", copy->name, op->name, op->id);
	st = WIRE_OK;
	if (!strcmp(c->state, "Saved")) {
		if (link(state, hvd_ckpt_saved_path(op->d, copy)) == 0)
			copy->saved = true;
		drop_cache(copy);
		*reply = wire_list();
		wire_list_append(*reply, ckpt_object(copy, &t, c, op->ckdir));
	} else if (state) {
		st = hvd_runtime_start_from(op->d, copy, state, !strcmp(c->state, "Paused"), op->client, op->serial, op->proc,
					    reply);
	} else {
		drop_cache(copy);
		*reply = wire_list();
		wire_list_append(*reply, ckpt_object(copy, &t, c, op->ckdir));
	}
	free(state);
	hvd_ckpt_tree_clear(&t);
	return st;
}

static int proc_checkpoint_restore(struct hvd *d, struct hvd_client *cl, const struct wire_value *args,
				   struct wire_value **reply)
{
	struct hvd_store *s = hvd_get_store(d);
	struct hvd_vm *vm = NULL;
	struct ckpt_tree t;
	struct ckpt_op *op;
	char err[600], *ckdir;
	size_t at;
	int st;

	if ((st = one_vm(d, args, "VMName", &vm, reply)))
		return st;
	ckdir = ck_dir(s, vm);
	if (hvd_ckpt_tree_load(ckdir, &t, err, sizeof(err))) {
		free(ckdir);
		return ERR(WIRE_E_INTERNAL, vm->name, "%s", err);
	}
	st = one_ckpt(vm, &t, args, &at, reply);
	if (st || !busy_take(vm->id)) {
		hvd_ckpt_tree_clear(&t);
		free(ckdir);
		return st ? st : busy_error(vm, reply);
	}
	op = calloc(1, sizeof(*op));
	if (!op)
		abort();
	op->d = d;
	op->client = hvd_client_id(cl);
	op->serial = hvd_client_serial(cl);
	op->proc = WIRE_PROC_VM_CHECKPOINT_RESTORE;
	snprintf(op->vm_id, sizeof(op->vm_id), "%s", vm->id);
	snprintf(op->id, sizeof(op->id), "%s", t.c[at].id);
	op->name = strdup(t.c[at].name);
	op->ckdir = ckdir;
	hvd_ckpt_tree_clear(&t);
	if (vm->worker) {
		if (hvd_runtime_when_off(d, vm, restore_after_off, op) == 0)
			return HVD_DEFERRED;
		op_free(op);
		return ERR(WIRE_E_INVALID_STATE, vm->name, "\"%s\" is being stopped already.", vm->name);
	}
	st = restore_apply(op, reply);
	op_free(op);
	return st;
}

/* ---- Remove-VMCheckpoint, Rename-VMCheckpoint ---- */

static bool below(const struct ckpt_tree *t, const struct ckpt *c, const char *ancestor)
{
	int guard = 0;

	while (c && guard++ <= CKPT_MAX) {
		if (!strcmp(c->id, ancestor))
			return true;
		c = tree_find((struct ckpt_tree *)t, c->parent);
	}
	return false;
}

static int proc_checkpoint_remove(struct hvd *d, struct hvd_client *cl, const struct wire_value *args,
				  struct wire_value **reply)
{
	struct hvd_store *s = hvd_get_store(d);
	const struct wire_value *names = wire_object_get(args, "Name");
	bool subtree = false, *gone;
	struct hvd_vm *vm = NULL;
	struct ckpt_tree t;
	struct wire_value *out;
	char err[600], *ckdir, *cands[HVD_MAX_DRIVES];
	size_t i, k, ngone = 0, ncands = 0;
	int st, rc;

	(void)cl;
	if ((st = one_vm(d, args, "VMName", &vm, reply)))
		return st;
	wire_object_get_bool(args, "IncludeAllChildCheckpoints", &subtree);
	if (!names || (names->type != WIRE_STRING && names->type != WIRE_LIST))
		return ERR(WIRE_E_INVALID_ARGUMENT, NULL, "Name the checkpoints to remove with -Name.");
	ckdir = ck_dir(s, vm);
	if (hvd_ckpt_tree_load(ckdir, &t, err, sizeof(err))) {
		free(ckdir);
		return ERR(WIRE_E_INTERNAL, vm->name, "%s", err);
	}
	if (!busy_take(vm->id)) {
		hvd_ckpt_tree_clear(&t);
		free(ckdir);
		return busy_error(vm, reply);
	}
	out = wire_list();
	gone = calloc(t.n + 1, sizeof(*gone));
	if (!gone)
		abort();
	for (i = 0; i < t.n; i++) {
		bool m = false;

		for (k = 0; k < (names->type == WIRE_LIST ? names->list.n : 1); k++) {
			const struct wire_value *nm = names->type == WIRE_LIST ? names->list.items[k] : names;

			if (nm->type == WIRE_STRING &&
			    (fnmatch(nm->str.p, t.c[i].name, FNM_CASEFOLD) == 0 || !strcasecmp(nm->str.p, t.c[i].id)))
				m = true;
		}
		if (m)
			gone[i] = true;
	}
	if (subtree)
		for (i = 0; i < t.n; i++)
			for (k = 0; k < t.n; k++)
				if (gone[k] && below(&t, &t.c[i], t.c[k].id))
					gone[i] = true;
	for (i = 0; i < t.n; i++)
		ngone += gone[i];
	if (!ngone && names->type == WIRE_STRING && !strpbrk(names->str.p, "*?[")) {
		st = ERR(WIRE_E_NOT_FOUND, names->str.p, "\"%s\" has no checkpoint named \"%s\".", vm->name, names->str.p);
		goto out;
	}
	/* Children of a removed checkpoint hang from its nearest kept ancestor; so does "now". */
	for (i = 0; i < t.n; i++) {
		struct ckpt *p = tree_find(&t, t.c[i].parent);
		int guard = 0;

		while (p && gone[p - t.c] && guard++ <= CKPT_MAX)
			p = tree_find(&t, p->parent);
		snprintf(t.c[i].parent, sizeof(t.c[i].parent), "%s", p ? p->id : "");
	}
	{
		struct ckpt *p = tree_find(&t, t.current);
		int guard = 0;

		while (p && gone[p - t.c] && guard++ <= CKPT_MAX)
			p = tree_find(&t, p->parent);
		snprintf(t.current, sizeof(t.current), "%s", p ? p->id : "");
	}
	{
		struct ckpt_tree removed = { .current = "" };
		size_t nr = 0;

		removed.c = calloc(ngone + 1, sizeof(*removed.c));
		if (!removed.c)
			abort();
		for (i = t.n; i-- > 0;) {
			if (!gone[i])
				continue;
			wire_list_append(out, ckpt_object(vm, &t, &t.c[i], ckdir));
			removed.c[nr++] = t.c[i];
			memmove(&t.c[i], &t.c[i + 1], (t.n - i - 1) * sizeof(t.c[0]));
			t.n--;
		}
		removed.n = nr;
		rc = tree_save(ckdir, &t); /* the commit */
		if (rc) {
			hvd_ckpt_tree_clear(&removed);
			st = ERR(WIRE_E_RESOURCE, vm->name, "Cannot remove the checkpoints of \"%s\": %s.", vm->name, strerror(-rc));
			goto out;
		}
		hvd_fault("remove-after-tree");
		for (i = 0; i < nr; i++) {
			struct hvd_vm *cfg = NULL;

			if (hvd_ckpt_config_load(ckdir, removed.c[i].id, &cfg) == 0)
				for (k = 0; k < cfg->ndrives && ncands < HVD_MAX_DRIVES; k++)
					cands[ncands++] = strdup(cfg->drives[k].path);
			hvd_vm_free(cfg);
		}
		for (i = 0; i < nr; i++) {
			char *dir;

			if (asprintf(&dir, "%s/%s", ckdir, removed.c[i].id) < 0)
				abort();
			rm_tree(dir);
			free(dir);
			hvd_log(HVD_LOG_INFO, "VM %s: checkpoint \"%s\" (%s) removed", vm->name, removed.c[i].name, removed.c[i].id);
		}
		hvd_ckpt_tree_clear(&removed);
	}
	hvd_fsync_dir(ckdir);
	hvd_fault("remove-before-merge");
	hvd_ckpt_disks_collapse(vm, ckdir, cands, ncands);
	st = WIRE_OK;
out:
	cands_free(cands, ncands);
	busy_drop(vm->id);
	free(gone);
	hvd_ckpt_tree_clear(&t);
	free(ckdir);
	if (st)
		wire_value_unref(out);
	else
		*reply = out;
	return st;
}

static int proc_checkpoint_rename(struct hvd *d, struct hvd_client *cl, const struct wire_value *args,
				  struct wire_value **reply)
{
	struct hvd_store *s = hvd_get_store(d);
	struct hvd_vm *vm = NULL;
	const char *newname = NULL;
	struct ckpt_tree t;
	char err[600], *ckdir;
	size_t at;
	int st, rc;

	(void)cl;
	if ((st = one_vm(d, args, "VMName", &vm, reply)) ||
	    (st = hvd_arg_string(args, "NewName", HVD_MAX_NAME, &newname, reply)))
		return st;
	if (!newname || !*newname || strchr(newname, '\n'))
		return ERR(WIRE_E_INVALID_ARGUMENT, "NewName", "Invalid value for parameter -NewName: a checkpoint needs a name.");
	ckdir = ck_dir(s, vm);
	if (hvd_ckpt_tree_load(ckdir, &t, err, sizeof(err))) {
		free(ckdir);
		return ERR(WIRE_E_INTERNAL, vm->name, "%s", err);
	}
	st = one_ckpt(vm, &t, args, &at, reply);
	if (st == 0 && !busy_take(vm->id))
		st = busy_error(vm, reply);
	if (st == 0) {
		free(t.c[at].name);
		t.c[at].name = strdup(newname);
		rc = tree_save(ckdir, &t);
		busy_drop(vm->id);
		if (rc)
			st = ERR(WIRE_E_RESOURCE, vm->name, "Cannot rename the checkpoint: %s.", strerror(-rc));
		else {
			*reply = wire_list();
			wire_list_append(*reply, ckpt_object(vm, &t, &t.c[at], ckdir));
		}
	}
	hvd_ckpt_tree_clear(&t);
	free(ckdir);
	return st;
}

/* ---- Save-VM ---- */

const char *hvd_ckpt_saved_path_of(struct hvd_store *s, const struct hvd_vm *vm)
{
	static char path[4200];

	snprintf(path, sizeof(path), "%s/%s/saved-state.hvsav", s->vms_dir, vm->id);
	return path;
}

const char *hvd_ckpt_saved_path(struct hvd *d, const struct hvd_vm *vm)
{
	return hvd_ckpt_saved_path_of(hvd_get_store(d), vm);
}

void hvd_ckpt_saved_consumed(struct hvd *d, struct hvd_vm *vm)
{
	char *dir = vm_dir(hvd_get_store(d), vm);

	unlink(hvd_ckpt_saved_path(d, vm));
	hvd_fsync_dir(dir);
	free(dir);
	vm->saved = false;
	drop_cache(vm);
}

static void saved_off(struct hvd *d, const char *vm_id, void *ctx, int status, const struct wire_value *payload)
{
	struct ckpt_op *op = ctx;
	struct hvd_vm *vm = hvd_store_find_id(hvd_get_store(d), vm_id);

	(void)status;
	(void)payload;
	if (vm) {
		drop_cache(vm);
		op_reply(op, WIRE_OK, hvd_vm_reply(vm));
	} else {
		op_reply(op, WIRE_E_NOT_FOUND, wire_error_record(WIRE_E_NOT_FOUND, vm_id, "The virtual machine is gone."));
	}
	op_free(op);
}

static void saved_done(struct hvd *d, const char *vm_id, void *ctx, int status, const struct wire_value *payload)
{
	struct ckpt_op *op = ctx;
	struct hvd_vm *vm = hvd_store_find_id(hvd_get_store(d), vm_id);
	const char *msg = "the worker failed";
	char *dir;
	int rc = 0;

	if (status != WIRE_OK || !vm) {
		wire_object_get_string(payload, "Message", &msg);
		unlink(op->tmp);
		op_reply(op, WIRE_E_RESOURCE,
			 wire_error_record(WIRE_E_RESOURCE, vm_id, "Cannot save the virtual machine: %s.", msg));
		op_free(op);
		return;
	}
	hvd_fault("save-after-state");
	if (rename(op->tmp, hvd_ckpt_saved_path(d, vm)) < 0)
		rc = -errno;
	dir = vm_dir(hvd_get_store(d), vm);
	if (rc == 0)
		rc = hvd_fsync_dir(dir);
	free(dir);
	if (rc == 0) {
		vm->saved = true;
		drop_cache(vm);
		hvd_log(HVD_LOG_INFO, "VM %s saved", vm->name);
	} else {
		hvd_log(HVD_LOG_ERROR, "VM %s: its saved state could not be kept: %s", vm->name, strerror(-rc));
	}
	/* The worker ends its run after a save with Stop: answer once it is gone. */
	if (hvd_runtime_when_off(d, vm, saved_off, op) != 0) {
		op_reply(op, WIRE_OK, hvd_vm_reply(vm));
		op_free(op);
	}
}

static int proc_vm_save(struct hvd *d, struct hvd_client *cl, const struct wire_value *args, struct wire_value **reply)
{
	struct hvd_vm_live live;
	struct hvd_vm *vm = NULL;
	struct wire_value *a;
	struct ckpt_op *op;
	char *dir;
	int st;

	if ((st = one_vm(d, args, "Name", &vm, reply)))
		return st;
	hvd_runtime_describe(vm, &live);
	if (strcmp(live.state, "Running") && strcmp(live.state, "Paused"))
		return ERR(WIRE_E_INVALID_STATE, vm->name, "Cannot save \"%s\": it is %s.", vm->name, live.state);
	if (!busy_take(vm->id))
		return busy_error(vm, reply);
	op = calloc(1, sizeof(*op));
	if (!op)
		abort();
	op->d = d;
	op->client = hvd_client_id(cl);
	op->serial = hvd_client_serial(cl);
	op->proc = WIRE_PROC_VM_SAVE;
	snprintf(op->vm_id, sizeof(op->vm_id), "%s", vm->id);
	dir = vm_dir(hvd_get_store(d), vm);
	if (asprintf(&op->tmp, "%s/.saved-state.tmp", dir) < 0)
		abort();
	free(dir);
	a = wire_object("Arguments");
	wire_object_add(a, "Path", wire_string(op->tmp));
	wire_object_add(a, "Stop", wire_bool(true));
	if (hvd_runtime_call(d, vm, WIRE_PROC_WORKER_SAVE, a, saved_done, op) != 0) {
		op_free(op);
		return ERR(WIRE_E_INVALID_STATE, vm->name, "Cannot save \"%s\" now.", vm->name);
	}
	return HVD_DEFERRED;
}

static int proc_saved_state_remove(struct hvd *d, struct hvd_client *cl, const struct wire_value *args,
				   struct wire_value **reply)
{
	struct hvd_vm *vm = NULL;
	int st;

	(void)cl;
	if ((st = one_vm(d, args, "VMName", &vm, reply)))
		return st;
	if (!vm->saved)
		return ERR(WIRE_E_INVALID_STATE, vm->name, "\"%s\" has no saved state.", vm->name);
	hvd_ckpt_saved_consumed(d, vm);
	hvd_log(HVD_LOG_INFO, "VM %s: saved state removed", vm->name);
	*reply = hvd_vm_reply(vm);
	return WIRE_OK;
}

/* ---- startup ---- */

static struct hvd_vm *save_and_replace(struct hvd_store *s, struct hvd_vm *copy, const char *what)
{
	int rc = hvd_store_save(s, copy);

	if (rc) {
		hvd_log(HVD_LOG_ERROR, "VM %s: cannot finish %s: %s", copy->name, what, strerror(-rc));
		hvd_vm_free(copy);
		return NULL;
	}
	hvd_log(HVD_LOG_WARNING, "VM %s: finished %s that a crash interrupted", copy->name, what);
	return store_replace(s, copy);
}

/* "drive C L PATH" lines of a journal: the child PATH for drive (C, L). */
static void journal_apply(const char *journal, struct hvd_vm *vm, const struct hvd_vm *layers, bool held_only,
			  bool *changed)
{
	FILE *f = fopen(journal, "re");
	char line[4400];

	while (f && fgets(line, sizeof(line), f)) {
		unsigned a, b;
		int off = 0;
		size_t len = strlen(line), i;

		if (len && line[len - 1] == '\n')
			line[len - 1] = '\0';
		if (sscanf(line, "drive %u %u %n", &a, &b, &off) != 2 || !off || access(line + off, F_OK) != 0 ||
		    (held_only && !hvd_ckpt_disk_held(line + off)))
			continue;
		for (i = 0; i < vm->ndrives; i++) {
			if (vm->drives[i].controller != a || vm->drives[i].location != b)
				continue;
			/* Only a drive still on the checkpoint's layer moves: writing a layer
			 * would change the checkpoint. */
			for (size_t k = 0; layers && k < layers->ndrives; k++)
				if (layers->drives[k].controller == a && layers->drives[k].location == b &&
				    !strcmp(layers->drives[k].path, vm->drives[i].path)) {
					free(vm->drives[i].path);
					vm->drives[i].path = strdup(line + off);
					*changed = true;
				}
		}
	}
	if (f)
		fclose(f);
}

static char *journal_checkpoint(const char *journal)
{
	FILE *f = fopen(journal, "re");
	char line[128], *id = NULL;

	if (f && fgets(line, sizeof(line), f) && !strncmp(line, "checkpoint ", 11) && is_uuid(line + 11, 36))
		id = strndup(line + 11, 36);
	if (f)
		fclose(f);
	return id;
}

void hvd_ckpt_roll_forward(struct hvd_store *s, struct hvd_vm *vm, const char *ckdir, const struct ckpt_tree *t)
{
	char *rj, *id, *dj;
	struct hvd_vm *cfg = NULL, *copy;
	bool changed = false;

	if (asprintf(&rj, "%s/restore.new", ckdir) < 0)
		abort();
	id = journal_checkpoint(rj);
	if (id && !strcmp(id, t->current) && hvd_ckpt_config_load(ckdir, id, &cfg) == 0) {
		/* committed: the restore's vm.xml may not have been written */
		struct hvd_vm *layers = hvd_vm_dup(cfg);

		copy = with_config(vm, cfg);
		journal_apply(rj, copy, layers, false, &changed);
		hvd_vm_free(layers);
		vm = save_and_replace(s, copy, "a Restore-VMCheckpoint");
	} else if (access(rj, F_OK) == 0) {
		int k = hvd_ckpt_journal_undo(vm, ckdir, rj);

		hvd_log(HVD_LOG_WARNING, "VM %s: undid an interrupted Restore-VMCheckpoint (%d new disk(s) removed)", vm->name, k);
	}
	unlink(rj);
	free(rj);
	free(id);
	if (!vm || !t->current[0] || hvd_ckpt_config_load(ckdir, t->current, &cfg) != 0)
		return;
	if (asprintf(&dj, "%s/%s/disks.new", ckdir, t->current) < 0)
		abort();
	copy = hvd_vm_dup(vm);
	changed = false;
	journal_apply(dj, copy, cfg, false, &changed);
	hvd_vm_free(cfg);
	free(dj);
	if (changed)
		save_and_replace(s, copy, "a Checkpoint-VM");
	else
		hvd_vm_free(copy);
}

static void startup_vm(struct hvd_store *s, size_t at)
{
	struct hvd_vm *vm = s->vms[at];
	char *dir = vm_dir(s, vm), *ckdir = ck_dir(s, vm), *p, err[600];
	struct dirent **names = NULL;
	struct ckpt_tree t;
	int n, i;

	if (asprintf(&p, "%s/.saved-state.tmp", dir) < 0)
		abort();
	if (unlink(p) == 0)
		hvd_log(HVD_LOG_WARNING, "VM %s: removed an incomplete saved state (Save-VM was interrupted)", vm->name);
	free(p);
	vm->saved = access(hvd_ckpt_saved_path_of(s, vm), F_OK) == 0;
	if (hvd_ckpt_tree_load(ckdir, &t, err, sizeof(err))) {
		hvd_log(HVD_LOG_ERROR, "VM %s: %s; its checkpoint files are left alone", vm->name, err);
		goto out;
	}
	/* What a crash interrupted after a commit is finished; before one, undone. */
	hvd_ckpt_roll_forward(s, vm, ckdir, &t);
	vm = s->vms[at];
	n = scandir(ckdir, &names, NULL, alphasort);
	for (i = 0; i < n; i++) {
		const char *e = names[i]->d_name;
		size_t len = strlen(e);
		bool tmp = len == 40 && !strcmp(e + 36, ".tmp") && is_uuid(e, 36);

		if (tmp || (is_uuid(e, len) && !tree_find(&t, e))) {
			char *path, *journal;
			struct hvd_vm *cfg = NULL;
			int k;

			if (asprintf(&path, "%s/%s", ckdir, e) < 0 || asprintf(&journal, "%s/disks.new", path) < 0)
				abort();
			/* A running VM's worker switched to the children, and hvd died before the
			 * commit: no checkpoint, but the worker writes them, so the drives follow. */
			if (hvd_ckpt_config_load(ckdir, e, &cfg) == 0) {
				struct hvd_vm *copy = hvd_vm_dup(vm);
				bool changed = false;

				journal_apply(journal, copy, cfg, true, &changed);
				hvd_vm_free(cfg);
				if (changed && save_and_replace(s, copy, "a Checkpoint-VM of a running VM (without the checkpoint)"))
					vm = s->vms[at];
				else if (!changed)
					hvd_vm_free(copy);
			}
			k = hvd_ckpt_journal_undo(vm, ckdir, journal);
			rm_tree(path);
			hvd_log(HVD_LOG_WARNING, "VM %s: removed %s checkpoint files %s (and %d disk(s) made for it)", vm->name,
				tmp ? "incomplete" : "orphaned", path, k);
			free(journal);
			free(path);
		}
		free(names[i]);
	}
	free(names);
	for (size_t k = 0; k < t.n; k++) {
		if (asprintf(&p, "%s/%s/config.xml", ckdir, t.c[k].id) < 0)
			abort();
		if (access(p, R_OK) != 0)
			hvd_log(HVD_LOG_ERROR, "VM %s: the files of checkpoint \"%s\" (%s) are missing", vm->name, t.c[k].name,
				t.c[k].id);
		free(p);
	}
	/* Merges a crash interrupted are finished (libvhdx's merge resumes where it stopped). */
	if (vm->ndrives)
		hvd_ckpt_disks_collapse(vm, ckdir, NULL, 0);
	hvd_ckpt_tree_clear(&t);
out:
	free(dir);
	free(ckdir);
}

/* What Get-VM shows of each VM's checkpoints, kept per VM and read again only when its tree
 * file changed (a stat per VM and sample, not a parse). */
struct ckpt_summary {
	char id[37];
	int64_t mtime_ns;
	off_t size;
	int count;
	char *current; /* the name of the checkpoint the VM's state descends from, or NULL */
};
static struct ckpt_summary *summaries;
static size_t nsummaries;
static char *summary_vms_dir;

bool hvd_ckpt_summary(const struct hvd_vm *vm, int *count, const char **current)
{
	struct ckpt_summary *e = NULL;
	struct stat st;
	char path[4200];
	size_t i;
	bool changed;

	*count = 0;
	*current = NULL;
	if (!summary_vms_dir)
		return false;
	for (i = 0; i < nsummaries && !e; i++)
		if (!strcmp(summaries[i].id, vm->id))
			e = &summaries[i];
	if (!e) {
		summaries = realloc(summaries, (nsummaries + 1) * sizeof(*summaries));
		if (!summaries)
			abort();
		e = &summaries[nsummaries++];
		memset(e, 0, sizeof(*e));
		snprintf(e->id, sizeof(e->id), "%s", vm->id);
		e->mtime_ns = -1;
	}
	snprintf(path, sizeof(path), "%s/%s/checkpoints/tree", summary_vms_dir, vm->id);
	if (stat(path, &st) != 0)
		memset(&st, 0, sizeof(st));
	changed = e->mtime_ns != (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec || e->size != st.st_size;
	if (changed) {
		struct ckpt_tree t;
		char err[300], dir[4200];
		const struct ckpt *c;

		e->mtime_ns = (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
		e->size = st.st_size;
		free(e->current);
		e->current = NULL;
		e->count = 0;
		snprintf(dir, sizeof(dir), "%s/%s/checkpoints", summary_vms_dir, vm->id);
		if (hvd_ckpt_tree_load(dir, &t, err, sizeof(err)) == 0) {
			e->count = (int)t.n;
			if (t.current[0] && (c = tree_find(&t, t.current)))
				e->current = strdup(c->name);
			hvd_ckpt_tree_clear(&t);
		}
	}
	*count = e->count;
	*current = e->current;
	return changed;
}

void hvd_ckpt_startup(struct hvd_store *s)
{
	size_t i;

	free(summary_vms_dir);
	summary_vms_dir = strdup(s->vms_dir);
	for (i = 0; i < s->n; i++)
		if (!s->vms[i]->load_error)
			startup_vm(s, i);
}

void hvd_ckpt_vm_off(struct hvd *d, struct hvd_vm *vm)
{
	char *ckdir;

	if (!vm->ndrives || vm->worker || vm->load_error)
		return;
	ckdir = ck_dir(hvd_get_store(d), vm);
	hvd_ckpt_disks_collapse(vm, ckdir, NULL, 0);
	free(ckdir);
}

/* ---- procedures ---- */

int hvd_proc_checkpoint(struct hvd *d, struct hvd_client *c, const struct wire_value *a, struct wire_value **r)
{
	return proc_checkpoint(d, c, a, r);
}

int hvd_proc_checkpoint_get(struct hvd *d, struct hvd_client *c, const struct wire_value *a, struct wire_value **r)
{
	return proc_checkpoint_get(d, c, a, r);
}

int hvd_proc_checkpoint_restore(struct hvd *d, struct hvd_client *c, const struct wire_value *a, struct wire_value **r)
{
	return proc_checkpoint_restore(d, c, a, r);
}

int hvd_proc_checkpoint_remove(struct hvd *d, struct hvd_client *c, const struct wire_value *a, struct wire_value **r)
{
	return proc_checkpoint_remove(d, c, a, r);
}

int hvd_proc_checkpoint_rename(struct hvd *d, struct hvd_client *c, const struct wire_value *a, struct wire_value **r)
{
	return proc_checkpoint_rename(d, c, a, r);
}

int hvd_proc_vm_save(struct hvd *d, struct hvd_client *c, const struct wire_value *a, struct wire_value **r)
{
	return proc_vm_save(d, c, a, r);
}

int hvd_proc_saved_state_remove(struct hvd *d, struct hvd_client *c, const struct wire_value *a, struct wire_value **r)
{
	return proc_saved_state_remove(d, c, a, r);
}
