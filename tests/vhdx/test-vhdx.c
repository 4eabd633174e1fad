/*
 * libvhdx unit tests on images it creates: geometry, reads and writes against an in-memory
 * model, differencing chains, the log (replay in memory and into the file) and read-only
 * opens that never write.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "formats/vhdx/vhdx-internal.h"
#include "tests/vhdx/helpers.h"

static char *dir;

static int setup(void **state)
{
	(void)state;
	dir = th_mkdtemp();
	return dir ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	th_rmdir(dir);
	return 0;
}

static char *tpath(const char *name)
{
	static char buf[8][4096];
	static int n;
	char *p = buf[n++ % 8];

	snprintf(p, 4096, "%s/%s", dir, name);
	return p;
}

static void create(const char *name, enum vhdx_type type, uint64_t size, uint32_t bs,
		   uint32_t lss, const char *parent)
{
	struct vhdx_create_opts o = { .type = type, .size = size, .block_size = bs,
				      .logical_sector_size = lss, .parent = parent };
	unlink(tpath(name));
	assert_int_equal(vhdx_create(tpath(name), &o), 0);
}

static struct vhdx *open_ok(const char *name, unsigned flags)
{
	char why[256];
	struct vhdx *v;
	int r = vhdx_open_detail(tpath(name), flags, &v, why, sizeof(why));

	if (r < 0)
		fail_msg("open %s: %s (%d)", name, why, r);
	return v;
}

static void test_crc32c(void **state)
{
	(void)state;
	assert_int_equal(vhdx_crc32c(0, "123456789", 9), 0xE3069283u);
	struct vhdx_guid g;
	char s[39];
	assert_int_equal(vhdx_guid_parse("{2DC27766-F623-4200-9D64-115E9BFD4A08}", &g), 0);
	assert_true(vhdx_guid_eq(&g, &VHDX_GUID_BAT));
	vhdx_guid_format(&g, s);
	assert_string_equal(s, "{2dc27766-f623-4200-9d64-115e9bfd4a08}");
	assert_int_equal(vhdx_guid_parse("2dc27766-f623-4200-9d64-115e9bfd4a0", &g), -EINVAL);
}

static void test_geometry(void **state)
{
	uint64_t nb, cr, e;

	(void)state;
	vhdx_geometry(VHDX_GIB, 32 * VHDX_MIB, 512, false, &nb, &cr, &e);
	assert_int_equal(cr, 128);
	assert_int_equal(nb, 32);
	assert_int_equal(e, 32);
	vhdx_geometry(8 * VHDX_GIB, 2 * VHDX_MIB, 512, true, &nb, &cr, &e);
	assert_int_equal(cr, 2048);
	assert_int_equal(e, 2 * 2049);
	vhdx_geometry(64 * VHDX_TIB, VHDX_MIB, 4096, false, &nb, &cr, &e);
	assert_int_equal(cr, 32768);
	assert_int_equal(e, nb + (nb - 1) / cr);
}

static void test_create_params(void **state)
{
	struct vhdx_create_opts o = { .type = VHDX_TYPE_DYNAMIC, .size = VHDX_GIB };

	(void)state;
	o.block_size = 3 * VHDX_MIB;
	assert_int_equal(vhdx_create(tpath("bad.vhdx"), &o), -EINVAL);
	o.block_size = 512 * VHDX_MIB;
	assert_int_equal(vhdx_create(tpath("bad.vhdx"), &o), -EINVAL);
	o.block_size = 0;
	o.size = 65 * VHDX_TIB;
	assert_int_equal(vhdx_create(tpath("bad.vhdx"), &o), -E2BIG);
	o.size = 1000;
	assert_int_equal(vhdx_create(tpath("bad.vhdx"), &o), -EINVAL);
	o.size = VHDX_GIB;
	o.logical_sector_size = 1024;
	assert_int_equal(vhdx_create(tpath("bad.vhdx"), &o), -EINVAL);
	assert_int_equal(access(tpath("bad.vhdx"), F_OK), -1);
	/* 64 TiB with 1 MiB blocks: the largest BAT there is */
	o.logical_sector_size = 0;
	o.size = 64 * VHDX_TIB;
	o.block_size = VHDX_MIB;
	assert_int_equal(vhdx_create(tpath("huge.vhdx"), &o), 0);
	struct vhdx *v = open_ok("huge.vhdx", VHDX_OPEN_RDWR);
	uint8_t buf[4096], back[4096];
	th_fill(buf, sizeof(buf), 7);
	assert_int_equal(vhdx_write(v, buf, sizeof(buf), 64 * VHDX_TIB - 4096), 0);
	assert_int_equal(vhdx_close(v), 0);
	v = open_ok("huge.vhdx", 0);
	assert_int_equal(vhdx_read(v, back, sizeof(back), 64 * VHDX_TIB - 4096), 0);
	assert_memory_equal(buf, back, sizeof(buf));
	vhdx_free(v);
	unlink(tpath("huge.vhdx"));
	/* existing files are never overwritten */
	create("exists.vhdx", VHDX_TYPE_DYNAMIC, VHDX_MIB, 0, 0, NULL);
	o.size = VHDX_MIB;
	assert_int_equal(vhdx_create(tpath("exists.vhdx"), &o), -EEXIST);
}

/* Random writes against a model; reopen in between; NAME must exist. */
static void model_run(const char *name, uint64_t size, unsigned rounds, uint32_t seed)
{
	uint8_t *model = calloc(1, size), *back = malloc(size), *buf = malloc(3 * VHDX_MIB);
	struct vhdx *v = open_ok(name, VHDX_OPEN_RDWR);

	assert_non_null(model);
	assert_non_null(back);
	/* start from what the image holds (a differencing child sees its parent) */
	assert_int_equal(vhdx_read(v, model, size, 0), 0);
	srand(seed);
	for (unsigned i = 0; i < rounds; i++) {
		uint64_t len = 1 + (uint64_t)rand() % (3 * VHDX_MIB - 1);
		if (i % 3 == 0)
			len = 512 * (1 + (uint64_t)rand() % 16);
		if (len > size)
			len = size;
		uint64_t off = ((uint64_t)rand() * 512) % (size - len + 1);
		if (i % 4 == 1) /* unaligned: edge sectors are partly old, partly new */
			off = (uint64_t)rand() % (size - len + 1);
		th_fill(buf, len, seed + i);
		memcpy(model + off, buf, len);
		assert_int_equal(vhdx_write(v, buf, len, off), 0);
		if (i % 7 == 3)
			assert_int_equal(vhdx_flush(v), 0);
		if (i % 11 == 5) {
			assert_int_equal(vhdx_close(v), 0);
			v = open_ok(name, VHDX_OPEN_RDWR);
		}
		if (i % 5 == 0) {
			uint64_t o2 = (uint64_t)rand() % size, l2 = (uint64_t)rand() % (size - o2);
			int r = vhdx_read(v, back, l2, o2);
			if (r < 0)
				fail_msg("read %llu at %llu: %s", (unsigned long long)l2,
					 (unsigned long long)o2, vhdx_why(v));
			assert_memory_equal(back, model + o2, l2);
		}
	}
	assert_int_equal(vhdx_close(v), 0);
	v = open_ok(name, 0);
	assert_int_equal(vhdx_read(v, back, size, 0), 0);
	assert_memory_equal(back, model, size);
	vhdx_free(v);
	free(model);
	free(back);
	free(buf);
}

static void test_dynamic_rw(void **state)
{
	(void)state;
	create("dyn.vhdx", VHDX_TYPE_DYNAMIC, 48 * VHDX_MIB + 512, VHDX_MIB, 512, NULL);
	model_run("dyn.vhdx", 48 * VHDX_MIB + 512, 120, 1);
}

static void test_dynamic_4k_rw(void **state)
{
	(void)state;
	create("dyn4k.vhdx", VHDX_TYPE_DYNAMIC, 40 * VHDX_MIB, 2 * VHDX_MIB, 4096, NULL);
	model_run("dyn4k.vhdx", 40 * VHDX_MIB, 80, 2);
	struct vhdx_info i;
	struct vhdx *v = open_ok("dyn4k.vhdx", 0);
	assert_int_equal(vhdx_info_get(v, &i), 0);
	assert_int_equal(i.logical_sector_size, 4096);
	vhdx_free(v);
}

static void test_fixed_rw(void **state)
{
	struct vhdx_info i;
	struct stat st;

	(void)state;
	create("fixed.vhdx", VHDX_TYPE_FIXED, 20 * VHDX_MIB, 0, 0, NULL);
	assert_int_equal(stat(tpath("fixed.vhdx"), &st), 0);
	/* really preallocated: every block present and backed by disk space */
	assert_true((uint64_t)st.st_blocks * 512 >= 20 * VHDX_MIB);
	model_run("fixed.vhdx", 20 * VHDX_MIB, 60, 3);
	struct vhdx *v = open_ok("fixed.vhdx", 0);
	assert_int_equal(vhdx_info_get(v, &i), 0);
	assert_int_equal(i.type, VHDX_TYPE_FIXED);
	assert_int_equal(i.blocks_allocated, i.blocks);
	assert_int_equal(i.file_size, 4 * VHDX_MIB + 20 * VHDX_MIB);
	vhdx_free(v);
}

static void test_differencing_rw(void **state)
{
	uint8_t *a = malloc(8 * VHDX_MIB), *b = malloc(8 * VHDX_MIB);
	struct vhdx *v;

	(void)state;
	create("base.vhdx", VHDX_TYPE_DYNAMIC, 24 * VHDX_MIB, VHDX_MIB, 512, NULL);
	v = open_ok("base.vhdx", VHDX_OPEN_RDWR);
	th_fill(a, 8 * VHDX_MIB, 99);
	assert_int_equal(vhdx_write(v, a, 8 * VHDX_MIB, 4 * VHDX_MIB), 0);
	assert_int_equal(vhdx_close(v), 0);
	create("mid.avhdx", VHDX_TYPE_DIFFERENCING, 0, 0, 0, tpath("base.vhdx"));
	create("top.avhdx", VHDX_TYPE_DIFFERENCING, 0, 0, 0, tpath("mid.avhdx"));
	/* the chain reads as the base before any write */
	v = open_ok("top.avhdx", 0);
	assert_int_equal(vhdx_read(v, b, 8 * VHDX_MIB, 4 * VHDX_MIB), 0);
	assert_memory_equal(a, b, 8 * VHDX_MIB);
	vhdx_free(v);
	model_run("mid.avhdx", 24 * VHDX_MIB, 40, 4);
	/* writing the middle changed its DataWriteGuid: the top no longer matches */
	assert_int_equal(vhdx_open(tpath("top.avhdx"), 0, &v), -ESTALE);
	create("top2.avhdx", VHDX_TYPE_DIFFERENCING, 0, 0, 0, tpath("mid.avhdx"));
	model_run("top2.avhdx", 24 * VHDX_MIB, 40, 5);
	free(a);
	free(b);
}

/* Whether this process maps a file whose path ends in name (read-only, shared). */
static bool mapped_shared(const char *name)
{
	FILE *f = fopen("/proc/self/maps", "r");
	char line[4200];
	bool r = false;

	assert_non_null(f);
	while (!r && fgets(line, sizeof(line), f)) {
		char *perm = strchr(line, ' ');
		size_t n = strlen(line);

		if (n && line[n - 1] == '\n')
			line[--n] = '\0';
		r = perm && !strncmp(perm + 1, "r--s", 4) && n >= strlen(name) && !strcmp(line + n - strlen(name), name);
	}
	fclose(f);
	return r;
}

/* VHDX_OPEN_SHARE_PARENTS: the parents' BATs are the files' pages, not copies; reads through
 * the chain are the same, and the child itself (read-write) keeps its own copy. */
static void test_shared_parents(void **state)
{
	uint8_t *a = malloc(4 * VHDX_MIB), *b = malloc(4 * VHDX_MIB), c[4096];
	struct vhdx *v, *w;

	(void)state;
	create("sbase.vhdx", VHDX_TYPE_DYNAMIC, 24 * VHDX_MIB, VHDX_MIB, 512, NULL);
	v = open_ok("sbase.vhdx", VHDX_OPEN_RDWR);
	th_fill(a, 4 * VHDX_MIB, 7);
	assert_int_equal(vhdx_write(v, a, 4 * VHDX_MIB, 2 * VHDX_MIB), 0);
	assert_int_equal(vhdx_close(v), 0);
	create("schild.avhdx", VHDX_TYPE_DIFFERENCING, 0, 0, 0, tpath("sbase.vhdx"));
	create("schild2.avhdx", VHDX_TYPE_DIFFERENCING, 0, 0, 0, tpath("sbase.vhdx"));
	v = open_ok("schild.avhdx", VHDX_OPEN_RDWR | VHDX_OPEN_SHARE_PARENTS);
	w = open_ok("schild2.avhdx", VHDX_OPEN_SHARE_PARENTS);
	assert_true(mapped_shared("/sbase.vhdx"));
	assert_false(mapped_shared("/schild.avhdx"));
	assert_int_equal(vhdx_read(v, b, 4 * VHDX_MIB, 2 * VHDX_MIB), 0);
	assert_memory_equal(a, b, 4 * VHDX_MIB);
	memset(c, 0x5a, sizeof(c));
	assert_int_equal(vhdx_write(v, c, sizeof(c), 3 * VHDX_MIB), 0);
	assert_int_equal(vhdx_flush(v), 0);
	assert_int_equal(vhdx_read(w, b, 4 * VHDX_MIB, 2 * VHDX_MIB), 0);
	assert_memory_equal(a, b, 4 * VHDX_MIB); /* the other child still reads the parent */
	assert_int_equal(vhdx_read(v, b, sizeof(c), 3 * VHDX_MIB), 0);
	assert_memory_equal(c, b, sizeof(c));
	assert_int_equal(vhdx_close(v), 0);
	vhdx_free(w);
	assert_false(mapped_shared("/sbase.vhdx"));
	/* without the flag nothing is mapped */
	v = open_ok("schild.avhdx", 0);
	assert_false(mapped_shared("/sbase.vhdx"));
	vhdx_free(v);
	free(a);
	free(b);
}

static uint64_t file_sum(const char *name)
{
	char hex[65];

	assert_int_equal(th_hash_file(tpath(name), hex), 0);
	return strtoull(hex + 48, NULL, 16);
}

/* Leave NAME with a dirty log whose BAT change was never written home. */
static void make_dirty(const char *name, uint8_t *data, size_t len)
{
	struct vhdx *v;
	uint8_t zero[4096] = { 0 };
	int fd;

	create(name, VHDX_TYPE_DYNAMIC, 16 * VHDX_MIB, VHDX_MIB, 512, NULL);
	v = open_ok(name, VHDX_OPEN_RDWR);
	th_fill(data, len, 42);
	assert_int_equal(vhdx_write(v, data, len, 5 * VHDX_MIB), 0);
	assert_int_equal(vhdx_flush(v), 0);
	vhdx_free(v); /* a crash: the headers keep the LogGuid */
	fd = open(tpath(name), O_RDWR);
	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, zero, sizeof(zero), 3 * VHDX_MIB), sizeof(zero));
	close(fd);
}

static void test_log_replay(void **state)
{
	uint8_t data[8192], back[8192];
	struct vhdx_info i;
	struct vhdx *v;
	uint64_t before;

	(void)state;
	make_dirty("dirty.vhdx", data, sizeof(data));
	before = file_sum("dirty.vhdx");
	/* read-only: replayed in memory, the file untouched */
	v = open_ok("dirty.vhdx", 0);
	assert_int_equal(vhdx_info_get(v, &i), 0);
	assert_true(i.log_replayed);
	assert_int_equal(vhdx_read(v, back, sizeof(back), 5 * VHDX_MIB), 0);
	assert_memory_equal(data, back, sizeof(data));
	vhdx_free(v);
	assert_true(file_sum("dirty.vhdx") == before);
	assert_int_equal(vhdx_open(tpath("dirty.vhdx"), VHDX_OPEN_NO_REPLAY, &v), -EBUSY);
	/* read-write: replayed into the file, then the log is empty */
	v = open_ok("dirty.vhdx", VHDX_OPEN_RDWR);
	assert_int_equal(vhdx_close(v), 0);
	v = open_ok("dirty.vhdx", 0);
	assert_int_equal(vhdx_info_get(v, &i), 0);
	assert_false(i.log_replayed);
	assert_true(vhdx_guid_is_zero(&i.log_guid));
	assert_int_equal(vhdx_read(v, back, sizeof(back), 5 * VHDX_MIB), 0);
	assert_memory_equal(data, back, sizeof(data));
	vhdx_free(v);
}

static void test_log_corrupt(void **state)
{
	uint8_t data[4096], junk[64];
	struct vhdx *v;
	int fd;

	(void)state;
	make_dirty("badlog.vhdx", data, sizeof(data));
	/* a torn newest entry: the one before it (the session's empty start) is replayed */
	fd = open(tpath("badlog.vhdx"), O_RDWR);
	memset(junk, 0x5a, sizeof(junk));
	assert_int_equal(pwrite(fd, junk, sizeof(junk), VHDX_MIB + 4096 + 100), sizeof(junk));
	close(fd);
	uint8_t back[4096], zero[4096] = { 0 };
	assert_int_equal(vhdx_open(tpath("badlog.vhdx"), 0, &v), 0);
	assert_int_equal(vhdx_read(v, back, sizeof(back), 5 * VHDX_MIB), 0);
	assert_memory_equal(back, zero, sizeof(back));
	vhdx_free(v);
	/* every entry damaged: a dirty log with no valid sequence must not open */
	fd = open(tpath("badlog.vhdx"), O_RDWR);
	assert_int_equal(pwrite(fd, junk, sizeof(junk), VHDX_MIB + 100), sizeof(junk));
	close(fd);
	assert_int_equal(vhdx_open(tpath("badlog.vhdx"), 0, &v), -EBADMSG);
	assert_int_equal(vhdx_open(tpath("badlog.vhdx"), VHDX_OPEN_RDWR, &v), -EBADMSG);
	/* a file shorter than the entry's FlushedFileOffset is truncated */
	make_dirty("trunclog.vhdx", data, sizeof(data));
	assert_int_equal(truncate(tpath("trunclog.vhdx"), 4 * VHDX_MIB + 4096), 0);
	assert_int_equal(vhdx_open(tpath("trunclog.vhdx"), 0, &v), -EBADMSG);
}

static void test_readonly_never_writes(void **state)
{
	uint8_t buf[4096];
	struct vhdx *v;
	uint64_t before;

	(void)state;
	create("ro.vhdx", VHDX_TYPE_DYNAMIC, 8 * VHDX_MIB, VHDX_MIB, 512, NULL);
	before = file_sum("ro.vhdx");
	v = open_ok("ro.vhdx", 0);
	assert_int_equal(vhdx_write(v, buf, sizeof(buf), 0), -EBADF);
	assert_int_equal(vhdx_discard(v, 0, 4096), -EBADF);
	assert_int_equal(vhdx_flush(v), 0);
	assert_int_equal(vhdx_close(v), 0);
	assert_true(file_sum("ro.vhdx") == before);
}

static void test_one_writer(void **state)
{
	struct vhdx *a, *b;

	(void)state;
	create("lock.vhdx", VHDX_TYPE_DYNAMIC, 8 * VHDX_MIB, VHDX_MIB, 512, NULL);
	a = open_ok("lock.vhdx", VHDX_OPEN_RDWR);
	assert_int_equal(vhdx_open(tpath("lock.vhdx"), VHDX_OPEN_RDWR, &b), -EBUSY);
	b = open_ok("lock.vhdx", 0); /* readers are not locked out */
	vhdx_free(b);
	assert_int_equal(vhdx_close(a), 0);
	b = open_ok("lock.vhdx", VHDX_OPEN_RDWR);
	assert_int_equal(vhdx_close(b), 0);
}

static void test_discard(void **state)
{
	uint8_t *buf = malloc(4 * VHDX_MIB), *back = malloc(4 * VHDX_MIB);
	struct vhdx *v;

	(void)state;
	create("trim.vhdx", VHDX_TYPE_DYNAMIC, 8 * VHDX_MIB, VHDX_MIB, 512, NULL);
	v = open_ok("trim.vhdx", VHDX_OPEN_RDWR);
	th_fill(buf, 4 * VHDX_MIB, 5);
	assert_int_equal(vhdx_write(v, buf, 4 * VHDX_MIB, 0), 0);
	assert_int_equal(vhdx_discard(v, 512 * 1024, 2 * VHDX_MIB), 0);
	memset(buf + 512 * 1024, 0, 2 * VHDX_MIB);
	assert_int_equal(vhdx_close(v), 0);
	v = open_ok("trim.vhdx", 0);
	assert_int_equal(vhdx_read(v, back, 4 * VHDX_MIB, 0), 0);
	assert_memory_equal(buf, back, 4 * VHDX_MIB);
	struct vhdx_extent e;
	assert_int_equal(vhdx_map(v, VHDX_MIB, VHDX_MIB, &e), 0);
	assert_int_equal(e.kind, VHDX_EXTENT_ZERO);
	vhdx_free(v);
	free(buf);
	free(back);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_crc32c),
		cmocka_unit_test(test_geometry),
		cmocka_unit_test(test_create_params),
		cmocka_unit_test(test_shared_parents),
		cmocka_unit_test(test_dynamic_rw),
		cmocka_unit_test(test_dynamic_4k_rw),
		cmocka_unit_test(test_fixed_rw),
		cmocka_unit_test(test_differencing_rw),
		cmocka_unit_test(test_log_replay),
		cmocka_unit_test(test_log_corrupt),
		cmocka_unit_test(test_readonly_never_writes),
		cmocka_unit_test(test_discard),
		cmocka_unit_test(test_one_writer),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
