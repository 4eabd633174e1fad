/*
 * hv-img: main, shared helpers, `info` and `create`.
 *
 *   hv-img info [--output human|json] FILE
 *   hv-img create [-o type=dynamic|fixed,block_size=32M,logical_sector_size=512,...] FILE SIZE
 *   hv-img create -b PARENT CHILD
 *   hv-img convert|check|resize|merge|compact|map ...  (see hv-img(1))
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/hv-img.h"

int img_error(int err, const char *fmt, ...)
{
	va_list ap;

	fputs("hv-img: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	if (err < 0)
		fprintf(stderr, ": %s", strerror(-err));
	fputc('\n', stderr);
	return IMG_ERR;
}

int img_parse_size(const char *s, uint64_t *out)
{
	char *end;
	unsigned long long n;
	int shift = 0;

	errno = 0;
	n = strtoull(s, &end, 10);
	if (errno || end == s || *s == '-')
		return -EINVAL;
	switch (*end) {
	case 'k': case 'K': shift = 10; end++; break;
	case 'm': case 'M': shift = 20; end++; break;
	case 'g': case 'G': shift = 30; end++; break;
	case 't': case 'T': shift = 40; end++; break;
	case 'b': case 'B': end++; break;
	default: break;
	}
	if (shift && (*end == 'B' || *end == 'b'))
		end++;
	if (*end || (shift && n > (UINT64_MAX >> shift)))
		return -EINVAL;
	*out = (uint64_t)n << shift;
	return 0;
}

void img_human(uint64_t v, char *buf, size_t len)
{
	static const char *const unit[] = { "B", "KiB", "MiB", "GiB", "TiB", "PiB" };
	double d = (double)v;
	int u = 0;

	while (d >= 1024 && u < 5) {
		d /= 1024;
		u++;
	}
	if (u == 0)
		snprintf(buf, len, "%llu B", (unsigned long long)v);
	else
		snprintf(buf, len, "%.3g %s", d, unit[u]);
}

int img_open(const char *path, unsigned flags, struct vhdx **out)
{
	char why[256];
	int r = vhdx_open_detail(path, flags, out, why, sizeof(why));

	if (r < 0)
		fprintf(stderr, "hv-img: %s: %s\n", path, why);
	return r;
}

void img_progress(bool enabled, uint64_t done, uint64_t total)
{
	if (!enabled || !isatty(STDOUT_FILENO) || !total)
		return;
	printf("\r    (%.2f/100%%)", 100.0 * (double)done / (double)total);
	if (done >= total)
		putchar('\n');
	fflush(stdout);
}

int img_parse_create_opts(const char *s, struct vhdx_create_opts *o)
{
	char *copy = strdup(s), *save = NULL;
	int r = 0;

	if (!copy)
		return -ENOMEM;
	for (char *kv = strtok_r(copy, ",", &save); kv && r == 0; kv = strtok_r(NULL, ",", &save)) {
		char *val = strchr(kv, '=');
		uint64_t n = 0;
		if (!val) {
			r = -EINVAL;
			break;
		}
		*val++ = 0;
		if (strcmp(kv, "type") == 0 || strcmp(kv, "subformat") == 0) {
			if (strcmp(val, "dynamic") == 0)
				o->type = VHDX_TYPE_DYNAMIC;
			else if (strcmp(val, "fixed") == 0)
				o->type = VHDX_TYPE_FIXED;
			else
				r = -EINVAL;
			continue;
		}
		r = img_parse_size(val, &n);
		if (r < 0 || n > UINT32_MAX) {
			r = -EINVAL;
		} else if (strcmp(kv, "block_size") == 0) {
			o->block_size = (uint32_t)n;
		} else if (strcmp(kv, "logical_sector_size") == 0) {
			o->logical_sector_size = (uint32_t)n;
		} else if (strcmp(kv, "physical_sector_size") == 0) {
			o->physical_sector_size = (uint32_t)n;
		} else {
			img_error(0, "unknown option '%s'", kv);
			r = -EINVAL;
		}
	}
	if (r < 0)
		img_error(0, "invalid -o option list '%s' (type=dynamic|fixed, block_size=SIZE, "
			  "logical_sector_size=512|4096, physical_sector_size=512|4096)", s);
	free(copy);
	return r;
}

static const char *type_name(enum vhdx_type t)
{
	return t == VHDX_TYPE_FIXED ? "fixed" : t == VHDX_TYPE_DYNAMIC ? "dynamic" : "differencing";
}

void img_json_str(const char *s)
{
	putchar('"');
	for (; s && *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\')
			printf("\\%c", c);
		else if (c < 0x20)
			printf("\\u%04x", c);
		else
			putchar(c);
	}
	putchar('"');
}

static uint64_t disk_usage(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 ? (uint64_t)st.st_blocks * 512 : 0;
}

static void info_json(const char *path, const struct vhdx *v, const struct vhdx_info *i)
{
	char dw[39], fw[39], lg[39], id[39];
	const char *k, *val;

	vhdx_guid_format(&i->data_write_guid, dw);
	vhdx_guid_format(&i->file_write_guid, fw);
	vhdx_guid_format(&i->log_guid, lg);
	vhdx_guid_format(&i->disk_id, id);
	printf("{\n    \"filename\": ");
	img_json_str(path);
	printf(",\n    \"format\": \"vhdx\",\n    \"virtual-size\": %llu,\n",
	       (unsigned long long)i->virtual_size);
	printf("    \"actual-size\": %llu,\n    \"file-size\": %llu,\n",
	       (unsigned long long)disk_usage(path), (unsigned long long)i->file_size);
	printf("    \"cluster-size\": %u,\n    \"dirty-flag\": %s,\n", i->block_size,
	       i->log_replayed ? "true" : "false");
	if (i->parent_path) {
		printf("    \"backing-filename\": ");
		img_json_str(i->parent_path);
		printf(",\n");
	}
	printf("    \"format-specific\": {\n        \"type\": \"vhdx\",\n        \"data\": {\n");
	printf("            \"vhd-type\": \"%s\",\n", type_name(i->type));
	printf("            \"block-size\": %u,\n", i->block_size);
	printf("            \"logical-sector-size\": %u,\n", i->logical_sector_size);
	printf("            \"physical-sector-size\": %u,\n", i->physical_sector_size);
	printf("            \"disk-identifier\": \"%s\",\n", id);
	printf("            \"data-write-guid\": \"%s\",\n", dw);
	printf("            \"file-write-guid\": \"%s\",\n", fw);
	printf("            \"log-guid\": \"%s\",\n", lg);
	printf("            \"header-sequence\": %llu,\n", (unsigned long long)i->header_sequence);
	printf("            \"log-replayed\": %s,\n", i->log_replayed ? "true" : "false");
	printf("            \"blocks\": %llu,\n", (unsigned long long)i->blocks);
	printf("            \"blocks-allocated\": %llu,\n",
	       (unsigned long long)i->blocks_allocated);
	printf("            \"creator\": ");
	img_json_str(i->creator);
	printf(",\n            \"parent-locator\": {");
	for (size_t n = 0; vhdx_locator_entry(v, n, &k, &val) == 0; n++) {
		printf("%s\n                ", n ? "," : "");
		img_json_str(k);
		printf(": ");
		img_json_str(val);
	}
	printf("%s}\n        }\n    }\n}\n", vhdx_locator_entry(v, 0, &k, &val) == 0
						 ? "\n            " : "");
}

static void info_human(const char *path, const struct vhdx *v, const struct vhdx_info *i)
{
	char h[32], d[32], g[39];
	const char *k, *val;

	img_human(i->virtual_size, h, sizeof(h));
	img_human(disk_usage(path), d, sizeof(d));
	printf("image: %s\nfile format: vhdx\nvirtual size: %s (%llu bytes)\ndisk size: %s\n",
	       path, h, (unsigned long long)i->virtual_size, d);
	printf("cluster_size: %u\n", i->block_size);
	if (i->parent_path)
		printf("backing file: %s\n", i->parent_path);
	printf("Format specific information:\n");
	printf("    vhd type: %s\n", type_name(i->type));
	printf("    block size: %u\n", i->block_size);
	printf("    logical sector size: %u\n", i->logical_sector_size);
	printf("    physical sector size: %u\n", i->physical_sector_size);
	vhdx_guid_format(&i->disk_id, g);
	printf("    disk identifier: %s\n", g);
	vhdx_guid_format(&i->data_write_guid, g);
	printf("    data write guid: %s\n", g);
	printf("    blocks allocated: %llu of %llu\n", (unsigned long long)i->blocks_allocated,
	       (unsigned long long)i->blocks);
	printf("    creator: %s\n", i->creator);
	if (i->log_replayed)
		printf("    log: dirty, replayed in memory\n");
	for (size_t n = 0; vhdx_locator_entry(v, n, &k, &val) == 0; n++)
		printf("    parent locator: %s = %s\n", k, val);
}

static int cmd_info(int argc, char **argv)
{
	static const struct option lo[] = { { "output", required_argument, NULL, 'O' },
					    { "help", no_argument, NULL, 'h' },
					    { NULL, 0, NULL, 0 } };
	struct vhdx_info info;
	struct vhdx *v;
	bool json = false;
	int c, r;

	while ((c = getopt_long(argc, argv, "f:h", lo, NULL)) != -1) {
		if (c == 'O' && (strcmp(optarg, "json") == 0 || strcmp(optarg, "human") == 0))
			json = strcmp(optarg, "json") == 0;
		else if (c != 'f')
			return img_error(0, "usage: hv-img info [--output human|json] FILE");
	}
	if (optind != argc - 1)
		return img_error(0, "usage: hv-img info [--output human|json] FILE");
	if (img_open(argv[optind], 0, &v) < 0)
		return IMG_ERR;
	r = vhdx_info_get(v, &info);
	if (r == 0 && json)
		info_json(argv[optind], v, &info);
	else if (r == 0)
		info_human(argv[optind], v, &info);
	vhdx_free(v);
	return r < 0 ? img_error(r, "%s", argv[optind]) : IMG_OK;
}

static int cmd_create(int argc, char **argv)
{
	const char *usage = "usage: hv-img create [-o OPTIONS] FILE SIZE | create -b PARENT CHILD";
	struct vhdx_create_opts o = { .type = VHDX_TYPE_DYNAMIC };
	int c, r;

	while ((c = getopt(argc, argv, "o:b:f:F:q")) != -1) {
		switch (c) {
		case 'o':
			if (img_parse_create_opts(optarg, &o) < 0)
				return IMG_ERR;
			break;
		case 'b':
			o.parent = optarg;
			break;
		case 'f':
			if (strcmp(optarg, "vhdx") != 0)
				return img_error(0, "only -f vhdx is supported");
			break;
		case 'F':
		case 'q':
			break;
		default:
			return img_error(0, "%s", usage);
		}
	}
	if (o.parent) {
		o.type = VHDX_TYPE_DIFFERENCING;
		if (optind < argc - 2 || optind > argc - 1)
			return img_error(0, "%s", usage);
		if (optind == argc - 2 && img_parse_size(argv[argc - 1], &o.size) < 0)
			return img_error(0, "invalid size '%s'", argv[argc - 1]);
	} else {
		if (optind != argc - 2)
			return img_error(0, "%s", usage);
		if (img_parse_size(argv[argc - 1], &o.size) < 0)
			return img_error(0, "invalid size '%s'", argv[argc - 1]);
	}
	r = vhdx_create(argv[optind], &o);
	if (r == -EINVAL)
		return img_error(0, "%s: invalid parameters (size a multiple of the logical sector "
			       "size, block size a power of 2 in 1M..256M, sectors 512 or 4096)",
			       argv[optind]);
	if (r < 0)
		return img_error(r, "%s", argv[optind]);
	return IMG_OK;
}

static const struct {
	const char *name;
	int (*fn)(int, char **);
	const char *summary;
} commands[] = {
	{ "info", cmd_info, "info [--output human|json] FILE" },
	{ "create", cmd_create, "create [-o type=dynamic|fixed,block_size=S,logical_sector_size=S,"
				"physical_sector_size=S] FILE SIZE | create -b PARENT CHILD" },
	{ "convert", img_cmd_convert, "convert [-p] [-O raw|vhdx] [-o OPTIONS] SRC DST" },
	{ "check", img_cmd_check, "check [-r] [--output human|json] FILE" },
	{ "resize", img_cmd_resize, "resize FILE [+|-]SIZE" },
	{ "merge", img_cmd_merge, "merge CHILD  (into its parent; CHILD is removed)" },
	{ "compact", img_cmd_compact, "compact FILE" },
	{ "map", img_cmd_map, "map [--output human|json] FILE" },
};

static void usage(FILE *f)
{
	fprintf(f, "usage: hv-img COMMAND [ARGS]\n\ncommands:\n");
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(f, "  hv-img %s\n", commands[i].summary);
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return IMG_ERR;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
	    strcmp(argv[1], "help") == 0) {
		usage(stdout);
		return IMG_OK;
	}
	if (strcmp(argv[1], "--version") == 0) {
		printf("hv-img (hvkit) %s\n", PACKAGE_VERSION);
		return IMG_OK;
	}
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (strcmp(argv[1], commands[i].name) == 0)
			return commands[i].fn(argc - 1, argv + 1);
	img_error(0, "unknown command '%s'", argv[1]);
	usage(stderr);
	return IMG_ERR;
}
