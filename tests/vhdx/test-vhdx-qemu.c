/*
 * Interoperability with QEMU: images hvkit writes pass `qemu-img check` and read the same in
 * `qemu-img compare`/`convert`; images qemu-img writes read byte-exact through libvhdx and
 * hv-img.  Skips when qemu-img is absent.
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
#include <unistd.h>

#include <cmocka.h>

#include "tests/vhdx/helpers.h"

static char *dir;
static char hv_img[4096];

static int setup(void **state)
{
	(void)state;
	dir = th_mkdtemp();
	snprintf(hv_img, sizeof(hv_img), "%s/cli/hv-img",
		 getenv("top_builddir") ? getenv("top_builddir") : ".");
	return dir ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	th_rmdir(dir);
	return 0;
}

/* Write the same random extents into image NAME and into NAME.raw. */
static void fill_both(const char *name, uint64_t size, unsigned n, uint32_t seed)
{
	char p[4096], raw[4096];
	uint8_t *buf = malloc(2 * VHDX_MIB);
	struct vhdx *v;
	int fd;

	snprintf(p, sizeof(p), "%s/%s", dir, name);
	snprintf(raw, sizeof(raw), "%s/%s.raw", dir, name);
	fd = open(raw, O_RDWR | O_CREAT | O_TRUNC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, (off_t)size), 0);
	assert_int_equal(vhdx_open(p, VHDX_OPEN_RDWR, &v), 0);
	/* a child starts from what its parent holds */
	for (uint64_t off = 0; off < size; off += 2 * VHDX_MIB) {
		assert_int_equal(vhdx_read(v, buf, 2 * VHDX_MIB, off), 0);
		assert_int_equal(pwrite(fd, buf, 2 * VHDX_MIB, (off_t)off), 2 * VHDX_MIB);
	}
	srand(seed);
	for (unsigned i = 0; i < n; i++) {
		uint64_t len = 512 * (1 + (uint64_t)rand() % 4096);
		uint64_t off = 512 * ((uint64_t)rand() % ((size - len) / 512));
		th_fill(buf, len, seed * 1000 + i);
		assert_int_equal(vhdx_write(v, buf, len, off), 0);
		assert_int_equal(pwrite(fd, buf, len, (off_t)off), (ssize_t)len);
	}
	assert_int_equal(vhdx_close(v), 0);
	close(fd);
	free(buf);
}

static void need_qemu(void)
{
	if (!th_have("qemu-img")) {
		print_message("skipped: qemu-img is not installed\n");
		skip();
	}
}

static void create(const char *name, const char *opts, const char *size)
{
	assert_int_equal(th_sh("rm -f '%s/%s'; '%s' create %s%s '%s/%s' %s", dir, name, hv_img,
			       opts ? "-o " : "", opts ? opts : "", dir, name, size), 0);
}

static void qemu_agrees(const char *name)
{
	assert_int_equal(th_sh("qemu-img check -q '%s/%s'", dir, name), 0);
	assert_int_equal(th_sh("qemu-img compare -q -f vhdx -F raw '%s/%s' '%s/%s.raw'", dir, name,
			       dir, name), 0);
}

static void test_dynamic_read_by_qemu(void **state)
{
	(void)state;
	need_qemu();
	create("d.vhdx", "type=dynamic,block_size=1M", "64M");
	fill_both("d.vhdx", 64 * VHDX_MIB, 100, 1);
	qemu_agrees("d.vhdx");
	create("d32.vhdx", NULL, "100M");
	fill_both("d32.vhdx", 100 * VHDX_MIB, 30, 2);
	qemu_agrees("d32.vhdx");
}

static void test_fixed_read_by_qemu(void **state)
{
	(void)state;
	need_qemu();
	create("f.vhdx", "type=fixed,block_size=8M", "40M");
	fill_both("f.vhdx", 40 * VHDX_MIB, 50, 3);
	qemu_agrees("f.vhdx");
}

/* QEMU cannot open differencing images: flatten the chain with hv-img and compare. */
static void test_differencing_flattened(void **state)
{
	(void)state;
	need_qemu();
	create("base.vhdx", "block_size=2M", "32M");
	fill_both("base.vhdx", 32 * VHDX_MIB, 20, 4);
	assert_int_equal(th_sh("cd '%s' && '%s' create -b base.vhdx child.avhdx", dir, hv_img), 0);
	fill_both("child.avhdx", 32 * VHDX_MIB, 40, 5);
	assert_int_equal(th_sh("'%s' convert -O vhdx '%s/child.avhdx' '%s/flat.vhdx'", hv_img, dir,
			       dir), 0);
	assert_int_equal(th_sh("cp '%s/child.avhdx.raw' '%s/flat.vhdx.raw'", dir, dir), 0);
	qemu_agrees("flat.vhdx");
}

/* Images written by qemu-img read byte-exact here, in both directions of hv-img convert. */
static void test_qemu_images(void **state)
{
	static const char *const opts[] = { "block_size=1M", "subformat=fixed",
					    "block_state_zero=off,block_size=8M",
					    "log_size=2M" };
	(void)state;
	need_qemu();
	for (size_t i = 0; i < sizeof(opts) / sizeof(opts[0]); i++) {
		char a[65], b[65], p[4096];
		assert_int_equal(th_sh("cd '%s' && rm -f q.vhdx && qemu-img create -q -f vhdx -o %s "
				       "q.vhdx 50M && qemu-io -c 'write -P 0x5c 1M 3M' "
				       "-c 'write -P 0x11 17M 512' -c 'write -P 0x77 49M 1M' "
				       "q.vhdx >/dev/null && qemu-img convert -O raw q.vhdx q.raw",
				       dir, opts[i]), 0);
		snprintf(p, sizeof(p), "%s/q.raw", dir);
		assert_int_equal(th_hash_file(p, a), 0);
		struct vhdx *v;
		snprintf(p, sizeof(p), "%s/q.vhdx", dir);
		assert_int_equal(vhdx_open(p, 0, &v), 0);
		assert_int_equal(th_hash_vhdx(v, b), 0);
		vhdx_free(v);
		assert_string_equal(a, b);
		assert_int_equal(th_sh("cd '%s' && '%s' convert -O raw q.vhdx h.raw && cmp -s h.raw "
				       "q.raw", dir, hv_img), 0);
		assert_int_equal(th_sh("cd '%s' && rm -f h.vhdx && '%s' convert -O vhdx q.raw h.vhdx "
				       "&& qemu-img compare -q h.vhdx q.raw", dir, hv_img), 0);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_dynamic_read_by_qemu),
		cmocka_unit_test(test_fixed_read_by_qemu),
		cmocka_unit_test(test_differencing_flattened),
		cmocka_unit_test(test_qemu_images),
	};

	if (!th_have("qemu-img")) {
		printf("skipped: qemu-img is not installed\n");
		return 77;
	}
	return cmocka_run_group_tests(tests, setup, teardown);
}
