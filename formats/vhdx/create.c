/*
 * Creating images.  Layout follows Hyper-V's (log 1 MiB at 1 MiB, metadata at 2 MiB, BAT at
 * 3 MiB, payload after), both regions Required, and the headers are written last so that a
 * crash during creation leaves a file that no reader takes for an image.
 */
#include "config.h"

#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "formats/vhdx/vhdx-internal.h"

#define LOG_OFF VHDX_MIB
#define LOG_LEN VHDX_MIB
#define META_OFF (2 * VHDX_MIB)
#define META_LEN VHDX_MIB
#define BAT_OFF (3 * VHDX_MIB)

static bool pow2_in(uint64_t x, uint64_t lo, uint64_t hi)
{
	return x >= lo && x <= hi && !(x & (x - 1));
}

/* Relative path from directory FROM_DIR to TO (both absolute), Windows style. */
static char *relative_path(const char *from_dir, const char *to)
{
	size_t i = 0, common = 0, ups = 0;
	char *out;

	/* longest common prefix that ends on a component boundary of both */
	while (from_dir[i] && from_dir[i] == to[i]) {
		i++;
		if (to[i] == '/' && (from_dir[i] == '/' || !from_dir[i]))
			common = i;
	}
	for (const char *p = from_dir + common; *p; p++)
		if (*p != '/' && (p == from_dir || p[-1] == '/'))
			ups++;
	out = malloc(3 * ups + strlen(to) + 3);
	if (!out)
		return NULL;
	strcpy(out, ups ? "" : ".\\");
	for (size_t k = 0; k < ups; k++)
		strcat(out, "..\\");
	strcat(out, to + common + 1);
	for (char *c = out; *c; c++)
		if (*c == '/')
			*c = '\\';
	return out;
}

static int locator_for(const char *child, const char *parent_path, const struct vhdx *p,
		       struct vhdx_kv kv[4])
{
	char guid[39], *pabs, *cdir = NULL, *tmp;

	vhdx_guid_format(&p->hdr.data_write, guid);
	pabs = realpath(parent_path, NULL);
	tmp = strdup(child);
	if (!pabs || !tmp) {
		free(pabs);
		free(tmp);
		return -ENOMEM;
	}
	cdir = realpath(dirname(tmp), NULL);
	free(tmp);
	if (!cdir) {
		free(pabs);
		return -errno;
	}
	kv[0].key = strdup("parent_linkage");
	kv[0].value = strdup(guid);
	kv[1].key = strdup("relative_path");
	kv[1].value = relative_path(cdir, pabs);
	kv[2].key = strdup("absolute_win32_path");
	kv[2].value = pabs;
	/* present from the start so that a merge can set it in place (MS-VHDX 2.6.2.6 <12>) */
	kv[3].key = strdup("parent_linkage2");
	kv[3].value = strdup("{00000000-0000-0000-0000-000000000000}");
	free(cdir);
	for (int i = 0; i < 4; i++)
		if (!kv[i].key || !kv[i].value)
			return -ENOMEM;
	return 0;
}

static int write_all(int fd, const void *buf, size_t len, uint64_t off)
{
	const uint8_t *b = buf;

	while (len) {
		ssize_t n = pwrite(fd, b, len, (off_t)off);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		b += n;
		len -= (size_t)n;
		off += (uint64_t)n;
	}
	return 0;
}

/* The BAT of a fixed disk: every block present, in order after the BAT. */
static int write_fixed_bat(int fd, uint64_t nblocks, uint64_t cr, uint32_t bs, uint64_t data)
{
	uint8_t buf[4096];
	uint64_t idx = 0, total = nblocks + (nblocks ? (nblocks - 1) / cr : 0);
	int r;

	for (uint64_t base = 0; base < total; base += 512) {
		memset(buf, 0, sizeof(buf));
		for (unsigned i = 0; i < 512 && base + i < total; i++) {
			idx = base + i;
			if (idx % (cr + 1) == cr)
				continue; /* sector bitmap: not present */
			uint64_t b = idx - idx / (cr + 1);
			put64(buf + 8 * i, (data + b * bs) | PAYLOAD_FULLY_PRESENT);
		}
		r = write_all(fd, buf, sizeof(buf), BAT_OFF + base * 8);
		if (r < 0)
			return r;
	}
	return 0;
}

static int preallocate(int fd, uint64_t size)
{
	int r = posix_fallocate(fd, 0, (off_t)size);

	if (r == EOPNOTSUPP || r == EINVAL)
		return ftruncate(fd, (off_t)size) < 0 ? -errno : 0;
	return -r;
}

struct plan {
	struct vhdx_meta_new m;
	struct vhdx_kv kv[4];
	uint64_t nblocks, cr, entries, bat_len, data_off;
};

static int build(int fd, const struct plan *p, enum vhdx_type type)
{
	uint8_t *buf = calloc(1, META_LEN);
	struct vhdx_region rg[2];
	struct vhdx_header h = { 0 };
	int r;

	if (!buf)
		return -ENOMEM;
	r = vhdx_ident_write(fd, "hvkit " PACKAGE_VERSION);
	if (r == 0)
		r = vhdx_metadata_encode(&p->m, buf, META_LEN);
	if (r == 0)
		r = write_all(fd, buf, META_LEN, META_OFF);
	if (r == 0 && type == VHDX_TYPE_FIXED) {
		r = preallocate(fd, p->data_off + p->nblocks * p->m.block_size);
		if (r == 0)
			r = write_fixed_bat(fd, p->nblocks, p->cr, p->m.block_size, p->data_off);
	} else if (r == 0 && ftruncate(fd, (off_t)p->data_off) < 0) {
		r = -errno;
	}
	rg[0] = (struct vhdx_region){ VHDX_GUID_BAT, BAT_OFF, (uint32_t)p->bat_len, 1 };
	rg[1] = (struct vhdx_region){ VHDX_GUID_METADATA, META_OFF, META_LEN, 1 };
	memset(buf, 0, VHDX_REGION_SIZE);
	vhdx_region_encode(rg, 2, buf);
	if (r == 0)
		r = write_all(fd, buf, VHDX_REGION_SIZE, VHDX_REGION1_OFF);
	if (r == 0)
		r = write_all(fd, buf, VHDX_REGION_SIZE, VHDX_REGION2_OFF);
	if (r == 0 && fsync(fd) < 0)
		r = -errno;
	h.version = 1;
	h.log_offset = LOG_OFF;
	h.log_length = LOG_LEN;
	if (r == 0)
		r = vhdx_guid_generate(&h.file_write);
	if (r == 0)
		r = vhdx_guid_generate(&h.data_write);
	for (int i = 0; i < 2 && r == 0; i++) {
		h.seq = (uint64_t)i + 1;
		vhdx_header_encode(&h, buf);
		r = write_all(fd, buf, VHDX_HEADER_SIZE, i ? VHDX_HEADER2_OFF : VHDX_HEADER1_OFF);
	}
	if (r == 0 && fsync(fd) < 0)
		r = -errno;
	free(buf);
	return r;
}

static int plan_parent(const char *path, const struct vhdx_create_opts *o, struct plan *p)
{
	struct vhdx *par;
	int r = vhdx_open(o->parent, VHDX_OPEN_NO_PARENT, &par);

	if (r < 0)
		return r;
	p->m.virtual_size = par->virtual_size;
	p->m.lss = par->lss;
	p->m.pss = par->pss;
	p->m.disk_id = par->disk_id; /* 2.6.1.2: copy the IsVirtualDisk items */
	p->m.has_parent = true;
	if (o->size && o->size != par->virtual_size)
		r = -EINVAL;
	if (r == 0 && o->logical_sector_size && o->logical_sector_size != par->lss)
		r = -EINVAL;
	if (r == 0)
		r = locator_for(path, o->parent, par, p->kv);
	vhdx_free(par);
	p->m.locator = p->kv;
	p->m.nlocator = 4;
	return r;
}

int vhdx_create(const char *path, const struct vhdx_create_opts *o)
{
	struct plan p;
	int fd, r = 0;

	memset(&p, 0, sizeof(p));
	if (o->type != VHDX_TYPE_FIXED && o->type != VHDX_TYPE_DYNAMIC &&
	    o->type != VHDX_TYPE_DIFFERENCING)
		return -EINVAL;
	if ((o->type == VHDX_TYPE_DIFFERENCING) != (o->parent != NULL))
		return -EINVAL;
	p.m.block_size = o->block_size ? o->block_size
			 : o->type == VHDX_TYPE_DYNAMIC ? 32 * VHDX_MIB : 2 * VHDX_MIB;
	p.m.leave_allocated = o->type == VHDX_TYPE_FIXED;
	if (o->parent) {
		r = plan_parent(path, o, &p);
	} else {
		p.m.virtual_size = o->size;
		p.m.lss = o->logical_sector_size ? o->logical_sector_size : 512;
		p.m.pss = o->physical_sector_size ? o->physical_sector_size : 4096;
		r = vhdx_guid_generate(&p.m.disk_id);
	}
	if (r == 0 && o->physical_sector_size)
		p.m.pss = o->physical_sector_size;
	if (r == 0 && (!pow2_in(p.m.block_size, VHDX_MIB, 256 * VHDX_MIB) ||
		       (p.m.lss != 512 && p.m.lss != 4096) || (p.m.pss != 512 && p.m.pss != 4096) ||
		       !p.m.virtual_size || p.m.virtual_size % p.m.lss))
		r = -EINVAL;
	if (r == 0 && p.m.virtual_size > VHDX_MAX_SIZE)
		r = -E2BIG;
	if (r < 0)
		goto out;
	vhdx_geometry(p.m.virtual_size, p.m.block_size, p.m.lss, p.m.has_parent, &p.nblocks,
		      &p.cr, &p.entries);
	p.bat_len = (p.entries * 8 + VHDX_MIB - 1) & ~(VHDX_MIB - 1);
	if (p.bat_len > UINT32_MAX - VHDX_MIB) {
		r = -E2BIG;
		goto out;
	}
	p.data_off = BAT_OFF + p.bat_len;
	fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (fd < 0) {
		r = -errno;
		goto out;
	}
	r = build(fd, &p, o->type);
	close(fd);
	if (r < 0)
		unlink(path);
out:
	for (int i = 0; i < 4; i++) {
		free(p.kv[i].key);
		free(p.kv[i].value);
	}
	return r;
}
