/*
 * The disks of checkpoints: every checkpoint gives each of the VM's drives a new
 * differencing child (<base>_<GUID>.avhdx beside the disk, as Hyper-V names them) and the
 * disk it wrote until then becomes the checkpoint's layer, read-only from then on. A restore
 * gives each drive a fresh child of the checkpoint's layer. Removing a checkpoint merges its
 * layer, wherever it sits in the chain, into its one child (libvhdx), so a chain keeps one
 * file per checkpoint; files no definition needs any more are deleted. Only files hvd made
 * (the _<GUID>.avhdx ones) are ever merged or deleted: a user's base disk is left as it is.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "daemon/ckpt.h"
#include "formats/vhdx/vhdx.h"

#define OURS_PATTERN "*_[0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f]-*.avhdx"

static bool ours(const char *path)
{
	const char *b = strrchr(path, '/');

	b = b ? b + 1 : path;
	return strlen(b) > 43 && fnmatch(OURS_PATTERN, b, 0) == 0;
}

void hvd_ckpt_moves_free(struct ckpt_disk_move *m, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		free(m[i].layer);
		free(m[i].child);
	}
	free(m);
}

/* disk.vhdx or disk_<GUID>.avhdx -> disk_<new GUID>.avhdx, in the same folder. */
static char *child_name(const char *path)
{
	char id[37], *dir = strdup(path), *base = strdup(path), *b, *dot, *out;
	size_t len;

	if (!dir || !base)
		abort();
	b = basename(base);
	dot = strrchr(b, '.');
	if (dot)
		*dot = '\0';
	len = strlen(b);
	if (len > 37 && b[len - 37] == '_')
		b[len - 37] = '\0';
	hvd_vm_new_id(id);
	if (asprintf(&out, "%s/%s_%s.avhdx", dirname(dir), b, id) < 0)
		abort();
	free(dir);
	free(base);
	return out;
}

int hvd_ckpt_disks_plan(const struct hvd_vm *vm, const char *tag, const char *journal, struct ckpt_disk_move **moves,
			size_t *nmoves, char *err, size_t errlen)
{
	struct ckpt_disk_move *m;
	size_t i, cap = 64, len = 0;
	char *buf, *jd, *jn;
	int rc;

	*moves = NULL;
	*nmoves = 0;
	if (!vm->ndrives)
		return 0;
	m = calloc(vm->ndrives, sizeof(*m));
	buf = malloc(cap);
	if (!m || !buf)
		abort();
	len = (size_t)snprintf(buf, cap, "checkpoint %s\n", tag);
	for (i = 0; i < vm->ndrives; i++) {
		m[i].controller = vm->drives[i].controller;
		m[i].location = vm->drives[i].location;
		m[i].layer = strdup(vm->drives[i].path);
		m[i].child = child_name(vm->drives[i].path);
		while (cap - len < strlen(m[i].child) + 64) {
			cap *= 2;
			buf = realloc(buf, cap);
			if (!buf)
				abort();
		}
		len += (size_t)snprintf(buf + len, cap - len, "drive %u %u %s\n", m[i].controller, m[i].location,
					m[i].child);
	}
	/* The journal first: whatever happens next, the new files can be found again. */
	jd = strdup(journal);
	jn = strdup(journal);
	if (!jd || !jn)
		abort();
	rc = hvd_write_file_atomic(dirname(jd), basename(jn), buf, len);
	free(jd);
	free(jn);
	free(buf);
	if (rc) {
		snprintf(err, errlen, "cannot write %s: %s", journal, strerror(-rc));
		hvd_ckpt_moves_free(m, vm->ndrives);
		return rc;
	}
	*moves = m;
	*nmoves = vm->ndrives;
	return 0;
}

void hvd_ckpt_moves_apply(struct hvd_vm *vm, const struct ckpt_disk_move *m, size_t n)
{
	size_t i, k;

	for (i = 0; i < n; i++)
		for (k = 0; k < vm->ndrives; k++)
			if (vm->drives[k].controller == m[i].controller && vm->drives[k].location == m[i].location) {
				free(vm->drives[k].path);
				vm->drives[k].path = strdup(m[i].child);
				if (!vm->drives[k].path)
					abort();
			}
}

int hvd_ckpt_disks_branch(struct hvd_vm *vm, const char *tag, const char *journal, struct ckpt_disk_move **moves,
			  size_t *nmoves, char *err, size_t errlen)
{
	struct ckpt_disk_move *m;
	size_t i, n, made = 0;
	int rc;

	rc = hvd_ckpt_disks_plan(vm, tag, journal, &m, &n, err, errlen);
	for (i = 0; rc == 0 && i < n; i++, made++) {
		struct vhdx_create_opts o = { .type = VHDX_TYPE_DIFFERENCING, .parent = m[i].layer };

		rc = vhdx_create(m[i].child, &o);
		if (rc)
			snprintf(err, errlen, "cannot create the differencing disk %s for %s: %s", m[i].child, m[i].layer,
				 strerror(-rc));
	}
	if (rc) {
		for (i = 0; i < made; i++)
			unlink(m[i].child);
		hvd_ckpt_moves_free(m, n);
		*moves = NULL;
		*nmoves = 0;
		return rc;
	}
	hvd_ckpt_moves_apply(vm, m, n);
	*moves = m;
	*nmoves = n;
	return 0;
}

bool hvd_ckpt_disk_held(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC), held = 0;

	if (fd < 0)
		return false;
	/* A shared lock fails only against a writer's exclusive one (libvhdx's flock); it is
	 * dropped at once. */
	if (flock(fd, LOCK_SH | LOCK_NB) < 0)
		held = errno == EWOULDBLOCK;
	close(fd);
	return held;
}

/* ---- who uses which file ---- */

struct pathset {
	char **p;
	size_t n, cap;
};

static bool set_has(const struct pathset *s, const char *path)
{
	size_t i;

	for (i = 0; i < s->n; i++)
		if (!strcmp(s->p[i], path))
			return true;
	return false;
}

static void set_add(struct pathset *s, const char *path)
{
	if (!path || set_has(s, path))
		return;
	if (s->n == s->cap) {
		s->cap = s->cap ? s->cap * 2 : 16;
		s->p = realloc(s->p, s->cap * sizeof(*s->p));
		if (!s->p)
			abort();
	}
	s->p[s->n] = strdup(path);
	if (!s->p[s->n])
		abort();
	s->n++;
}

static void set_free(struct pathset *s)
{
	size_t i;

	for (i = 0; i < s->n; i++)
		free(s->p[i]);
	free(s->p);
	memset(s, 0, sizeof(*s));
}

/* A disk's path as its children name it: canonical when it exists. */
static char *canon(const char *path)
{
	char buf[PATH_MAX], *r = realpath(path, buf);

	r = strdup(r ? r : path);
	if (!r)
		abort();
	return r;
}

/* Every file of the chain under path, with each file's parent (edges[i] -> parent[i]). */
struct graph {
	struct pathset files, parents; /* parents.p[i] is "" for a base */
};

static void graph_add_chain(struct graph *g, const char *path)
{
	char *c = canon(path);
	int depth = 0;

	while (c && depth++ < VHDX_MAX_CHAIN && !set_has(&g->files, c)) {
		struct vhdx *v = NULL;
		struct vhdx_info info;
		char *up = NULL;

		if (vhdx_open(c, 0, &v) != 0)
			break;
		if (vhdx_info_get(v, &info) == 0 && info.parent_path)
			up = canon(info.parent_path);
		vhdx_free(v);
		set_add(&g->files, c);
		if (g->parents.n == g->parents.cap) {
			g->parents.cap = g->parents.cap ? g->parents.cap * 2 : 16;
			g->parents.p = realloc(g->parents.p, g->parents.cap * sizeof(char *));
			if (!g->parents.p)
				abort();
		}
		g->parents.p[g->parents.n++] = strdup(up ? up : "");
		free(c);
		c = up;
	}
	free(c);
}

static void graph_free(struct graph *g)
{
	set_free(&g->files);
	set_free(&g->parents);
}

static size_t children(const struct graph *g, const char *path, size_t *only)
{
	size_t i, n = 0;

	for (i = 0; i < g->files.n; i++)
		if (!strcmp(g->parents.p[i], path)) {
			n++;
			*only = i;
		}
	return n;
}

/* What the VM and its checkpoints name: their drives. */
static void referenced(const struct hvd_vm *vm, const char *ckdir, struct pathset *refs)
{
	struct ckpt_tree t;
	char err[600];
	size_t i, k;

	for (i = 0; i < vm->ndrives; i++) {
		char *c = canon(vm->drives[i].path);

		set_add(refs, c);
		free(c);
	}
	if (hvd_ckpt_tree_load(ckdir, &t, err, sizeof(err)))
		return;
	for (i = 0; i < t.n; i++) {
		struct hvd_vm *cfg;

		if (hvd_ckpt_config_load(ckdir, t.c[i].id, &cfg))
			continue;
		for (k = 0; k < cfg->ndrives; k++) {
			char *c = canon(cfg->drives[k].path);

			set_add(refs, c);
			free(c);
		}
		hvd_vm_free(cfg);
	}
	hvd_ckpt_tree_clear(&t);
}

int hvd_ckpt_journal_undo(const struct hvd_vm *vm, const char *ckdir, const char *journal)
{
	struct pathset refs = { 0 };
	FILE *f = fopen(journal, "re");
	char line[4400];
	int n = 0;

	if (!f)
		return 0;
	referenced(vm, ckdir, &refs);
	while (fgets(line, sizeof(line), f)) {
		unsigned a, b;
		int off = 0;
		size_t len = strlen(line);

		if (len && line[len - 1] == '\n')
			line[len - 1] = '\0';
		if (sscanf(line, "drive %u %u %n", &a, &b, &off) != 2 || !off || !ours(line + off))
			continue;
		{
			char *c = canon(line + off);

			/* A file a worker writes is no leftover, whatever the definitions say. */
			if (!set_has(&refs, c) && !hvd_ckpt_disk_held(line + off) && unlink(line + off) == 0)
				n++;
			free(c);
		}
	}
	fclose(f);
	set_free(&refs);
	return n;
}

/* ---- collapsing ---- */

/* The parent a disk names, canonical; NULL for a base disk or one that does not open. */
static char *parent_of(const char *path)
{
	struct vhdx *v = NULL;
	struct vhdx_info info;
	char *up = NULL;

	if (vhdx_open(path, 0, &v) != 0)
		return NULL;
	if (vhdx_info_get(v, &info) == 0 && info.parent_path)
		up = canon(info.parent_path);
	vhdx_free(v);
	return up;
}

void hvd_ckpt_disks_collapse(struct hvd_vm *vm, const char *ckdir, char **cands, size_t ncands)
{
	struct pathset refs = { 0 };
	struct graph g = { { 0 }, { 0 } }, live = { { 0 }, { 0 } };
	size_t i, only = 0;
	bool again = true;
	int rounds = 0;

	/* A running VM's worker reads every layer of its drives' chains and writes the top one:
	 * a merge there would write a file underneath it (libvhdx writes the parent and renames
	 * it over the child). Those merges wait until it is off (hvd_ckpt_vm_off, or the next
	 * start of hvd); a worker hvd does not know of yet is found by its write lock. */
	for (i = 0; i < vm->ndrives; i++)
		if (vm->worker || hvd_ckpt_disk_held(vm->drives[i].path))
			graph_add_chain(&live, vm->drives[i].path);

	/* Files hvd made that nothing reaches any more go, and so do their parents that become
	 * unreachable: the branch a restore left, a removed checkpoint's layer with no child. */
	referenced(vm, ckdir, &refs);
	for (i = 0; i < refs.n; i++)
		graph_add_chain(&g, refs.p[i]);
	for (i = 0; i < ncands; i++) {
		char *c = canon(cands[i]);
		int depth = 0;

		while (c && ours(c) && !set_has(&g.files, c) && depth++ < VHDX_MAX_CHAIN) {
			char *up = parent_of(c);

			if (unlink(c) == 0)
				hvd_log(HVD_LOG_INFO, "VM %s: removed disk layer %s, which nothing needs any more", vm->name, c);
			free(c);
			c = up;
		}
		free(c);
	}
	/* A layer nobody names with one child: the two become one file (libvhdx merge). */
	while (again && rounds++ < 2 * CKPT_MAX) {
		again = false;
		for (i = 0; i < g.files.n && !again; i++) {
			const char *f = g.files.p[i];
			int rc;

			if (!ours(f) || set_has(&refs, f) || children(&g, f, &only) != 1)
				continue;
			if (set_has(&live.files, f) || set_has(&live.files, g.files.p[only])) {
				hvd_log(HVD_LOG_INFO, "VM %s: disk layer %s is merged into %s once the VM is off", vm->name,
					f, g.files.p[only]);
				continue;
			}
			hvd_fault("collapse-before-merge");
			rc = vhdx_merge_into_parent_replace(g.files.p[only]);
			if (rc) {
				hvd_log(HVD_LOG_ERROR, "VM %s: cannot merge %s into %s: %s", vm->name, g.files.p[only], f,
					strerror(-rc));
				continue;
			}
			hvd_log(HVD_LOG_INFO, "VM %s: merged disk layer %s into %s", vm->name, f, g.files.p[only]);
			again = true;
		}
		if (again) {
			set_free(&refs);
			graph_free(&g);
			referenced(vm, ckdir, &refs);
			for (i = 0; i < refs.n; i++)
				graph_add_chain(&g, refs.p[i]);
		}
	}
	set_free(&refs);
	graph_free(&g);
	graph_free(&live);
}

bool hvd_ckpt_disk_in_chain(const struct hvd_vm *vm, const char *path)
{
	struct graph g = { { 0 }, { 0 } };
	char *c = canon(path);
	bool r = false;
	size_t i;

	for (i = 0; i < vm->ndrives; i++)
		graph_add_chain(&g, vm->drives[i].path);
	r = set_has(&g.files, c);
	for (i = 0; !r && i < vm->ndrives; i++) {
		char *d = canon(vm->drives[i].path);

		r = !strcmp(d, c);
		free(d);
	}
	graph_free(&g);
	free(c);
	return r;
}

bool hvd_disk_in_use(struct hvd_store *s, const char *path, const struct hvd_vm *except, const char **vm_name)
{
	size_t i;

	for (i = 0; i < s->n; i++) {
		const struct hvd_vm *vm = s->vms[i];

		if (vm == except || !vm->worker || !vm->ndrives || (except && !strcmp(vm->id, except->id)))
			continue;
		if (hvd_ckpt_disk_in_chain(vm, path)) {
			if (vm_name)
				*vm_name = vm->name;
			return true;
		}
	}
	return false;
}
