/*
 * The parent locator (MS-VHDX 2.6.2.6) and finding the parent on Linux.
 *
 * Resolution order is relative_path, volume_path, absolute_win32_path; Windows paths have
 * their backslashes turned into slashes, and the basename of every path is also tried beside
 * the child (real Hyper-V files name a C:\ path without the \\?\ prefix and a ".\" relative
 * path).  The parent's DataWriteGuid must equal parent_linkage or a non-zero parent_linkage2.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "formats/vhdx/vhdx-internal.h"

#define MAX_KV 256u

/* B04AEFB7-D19E-4A81-B789-25B8E9445913, the VHDX parent locator type */
static const struct vhdx_guid locator_type = { { 0xb7, 0xef, 0x4a, 0xb0, 0x9e, 0xd1, 0x81, 0x4a,
						  0xb7, 0x89, 0x25, 0xb8, 0xe9, 0x44, 0x59,
						  0x13 } };

void vhdx_kv_free(struct vhdx_kv *kv, size_t n)
{
	if (!kv)
		return;
	for (size_t i = 0; i < n; i++) {
		free(kv[i].key);
		free(kv[i].value);
	}
	free(kv);
}

int vhdx_locator_parse(struct vhdx *v, const uint8_t *p, size_t len)
{
	struct vhdx_guid type;
	uint16_t n;
	int r;

	memcpy(type.b, p, 16);
	if (!vhdx_guid_eq(&type, &locator_type))
		return vhdx_fail(v, -ENOTSUP, "parent locator of an unknown type");
	n = le16(p + 18);
	if (n > MAX_KV || 20 + 12 * (size_t)n > len)
		return vhdx_fail(v, -EBADMSG, "parent locator: %u entries do not fit", n);
	v->locator = calloc(n ? n : 1, sizeof(*v->locator));
	if (!v->locator)
		return -ENOMEM;
	for (uint16_t i = 0; i < n; i++) {
		const uint8_t *e = p + 20 + 12 * i;
		uint32_t ko = le32(e), vo = le32(e + 4);
		uint16_t kl = le16(e + 8), vl = le16(e + 10);
		if (!ko || !vo || !kl || !vl || ko > len || kl > len - ko || vo > len ||
		    vl > len - vo || (kl | vl) & 1)
			return vhdx_fail(v, -EBADMSG, "parent locator entry %u is out of range", i);
		v->locator[i].voff = vo;
		v->locator[i].vlen = vl;
		r = vhdx_utf16_to_utf8(p + ko, kl, &v->locator[i].key);
		if (r == 0)
			r = vhdx_utf16_to_utf8(p + vo, vl, &v->locator[i].value);
		v->nlocator = i + 1u;
		if (r < 0)
			return r;
	}
	if (!vhdx_locator_find(v, "parent_linkage"))
		return vhdx_fail(v, -EBADMSG, "parent locator has no parent_linkage");
	return 0;
}

long vhdx_locator_encode(const struct vhdx_kv *kv, size_t n, uint8_t *buf, size_t cap)
{
	size_t off = 20 + 12 * n;

	if (off > cap || n > MAX_KV)
		return -E2BIG;
	memcpy(buf, locator_type.b, 16);
	put16(buf + 18, (uint16_t)n);
	for (size_t i = 0; i < n; i++) {
		uint8_t *e = buf + 20 + 12 * i;
		long kl = vhdx_utf8_to_utf16(kv[i].key, buf + off, cap - off);
		if (kl <= 0 || kl > 0xffff)
			return kl < 0 ? kl : -EINVAL;
		put32(e, (uint32_t)off);
		put16(e + 8, (uint16_t)kl);
		off += (size_t)kl;
		long vl = vhdx_utf8_to_utf16(kv[i].value, buf + off, cap - off);
		if (vl <= 0 || vl > 0xffff)
			return vl < 0 ? vl : -EINVAL;
		put32(e + 4, (uint32_t)off);
		put16(e + 10, (uint16_t)vl);
		off += (size_t)vl;
	}
	return (long)off;
}

const char *vhdx_locator_find(const struct vhdx *v, const char *key)
{
	for (size_t i = 0; i < v->nlocator; i++)
		if (strcmp(v->locator[i].key, key) == 0)
			return v->locator[i].value;
	return NULL;
}

int vhdx_locator_entry(const struct vhdx *v, size_t i, const char **key, const char **value)
{
	if (i >= v->nlocator)
		return -ENOENT;
	*key = v->locator[i].key;
	*value = v->locator[i].value;
	return 0;
}

static char *unix_path(const char *win)
{
	char *s = strdup(win);

	if (!s)
		return NULL;
	for (char *c = s; *c; c++)
		if (*c == '\\')
			*c = '/';
	return s;
}

/* Candidate N for the parent, in resolution order; NULL when there are no more. */
static char *candidate(const struct vhdx *v, int n)
{
	static const char *const keys[3] = { "relative_path", "volume_path", "absolute_win32_path" };
	const char *dir_end = strrchr(v->path, '/');
	int dirlen = dir_end ? (int)(dir_end - v->path) : 1;
	const char *dir = dir_end ? v->path : ".";
	const char *val = vhdx_locator_find(v, keys[n % 3]);
	char *u, *out = NULL;
	int r;

	if (!val || !*val)
		return strdup("");
	u = unix_path(val);
	if (!u)
		return NULL;
	if (n == 0 && u[0] != '/') {
		const char *rel = u;
		while (rel[0] == '.' && rel[1] == '/')
			rel += 2;
		if (dir_end)
			r = asprintf(&out, "%.*s/%s", dirlen, dir, rel);
		else
			r = asprintf(&out, "%s", rel);
		if (r < 0)
			out = NULL;
	} else if (n == 2 && u[0] == '/') {
		out = strdup(u);
	} else if (n >= 3) {
		const char *base = strrchr(u, '/');
		base = base ? base + 1 : u;
		if (!*base)
			out = strdup("");
		else if ((dir_end ? asprintf(&out, "%.*s/%s", dirlen, dir, base)
				  : asprintf(&out, "%s", base)) < 0)
			out = NULL;
	} else {
		out = strdup("");
	}
	free(u);
	return out;
}

static bool linkage_matches(const struct vhdx *v, const struct vhdx *p)
{
	const char *keys[2] = { "parent_linkage", "parent_linkage2" };

	for (int i = 0; i < 2; i++) {
		const char *s = vhdx_locator_find(v, keys[i]);
		struct vhdx_guid g;
		if (s && vhdx_guid_parse(s, &g) == 0 && !vhdx_guid_is_zero(&g) &&
		    vhdx_guid_eq(&g, &p->hdr.data_write))
			return true;
	}
	return false;
}

int vhdx_locator_open_parent(struct vhdx *v)
{
	int err = -ENOENT;
	char why[200] = "";

	if (v->depth + 1 >= VHDX_MAX_CHAIN)
		return vhdx_fail(v, -ELOOP, "differencing chain deeper than %d", VHDX_MAX_CHAIN);
	for (int n = 0; n < 6; n++) {
		char *c = candidate(v, n);
		struct vhdx *p = NULL;
		int r;
		if (!c)
			return -ENOMEM;
		if (!*c || access(c, F_OK) != 0) {
			free(c);
			continue;
		}
		r = vhdx_open_depth(c, (v->flags & VHDX_OPEN_SHARE_PARENTS) ? VHDX_OPEN_SHARE_PARENTS | VHDX_OPEN_MAP_BAT : 0,
				    v->depth + 1, &p, why, sizeof(why));
		if (r == 0 && !linkage_matches(v, p)) {
			snprintf(why, sizeof(why), "%s", c);
			r = -ESTALE;
			vhdx_free(p);
			p = NULL;
		}
		if (r == 0) {
			v->parent = p;
			v->parent_path = c;
			return 0;
		}
		free(c);
		if (err == -ENOENT || r == -ESTALE)
			err = r;
	}
	if (err == -ENOENT)
		return vhdx_fail(v, err, "parent not found (relative_path \"%s\")",
				 vhdx_locator_find(v, "relative_path") ?: "");
	if (err == -ESTALE)
		return vhdx_fail(v, err, "parent %s does not match parent_linkage %s", why,
				 vhdx_locator_find(v, "parent_linkage"));
	return vhdx_fail(v, err, "parent: %s", why);
}
