/*
 * libvhdx against images written by other tools (../shared/testdata/vhdx): the raw SHA-256
 * of each must match the table in the testdata README.  Skips when the data is absent.
 */
#include "config.h"

#include <errno.h>
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

/* Decompress NAME from the test data into the temporary dir as OUT. */
static void unpack(const char *name, const char *out)
{
	const char *td = th_testdata();
	const char *tool = strstr(name, ".bz2") ? "bzip2" : "gzip";

	if (!td)
		skip();
	assert_int_equal(th_sh("%s -dc '%s/%s' > '%s/%s'", tool, td, name, dir, out), 0);
}

static void check_hash(const char *file, const char *want, unsigned flags)
{
	char path[4096], hex[65], why[256];
	struct vhdx *v;
	int r;

	snprintf(path, sizeof(path), "%s/%s", dir, file);
	r = vhdx_open_detail(path, flags, &v, why, sizeof(why));
	if (r < 0)
		fail_msg("open %s: %s", file, why);
	assert_int_equal(th_hash_vhdx(v, hex), 0);
	assert_string_equal(hex, want);
	vhdx_free(v);
}

static void test_fixed(void **state)
{
	(void)state;
	unpack("dissect-fixed.vhdx.gz", "fixed.vhdx");
	check_hash("fixed.vhdx", "bc0be4623b15aa84216fb31ba24e3b621ec7f1c72d198c990ac0eced222d9f62",
		   0);
}

static void test_dynamic(void **state)
{
	(void)state;
	unpack("dissect-dynamic.vhdx.gz", "dynamic.vhdx");
	check_hash("dynamic.vhdx",
		   "8e2b5e9265d694b42b81819e3bff29770eff4ed0f4f9f311693ff3dbdc93efac", 0);
}

static void test_coreos(void **state)
{
	(void)state;
	unpack("coreos-hyperv-config2_base.vhdx.bz2", "coreos.vhdx");
	check_hash("coreos.vhdx",
		   "afce9cca367ebfa91a673d612bcb6fc32b12a80211207f7a7b1cd3aed3cac19d", 0);
}

static const char parent_name[] = "Generation 1_49C4BAF3-4B25-4406-8C4B-D39E65C32385.avhdx";

static void make_chain(void)
{
	char child[4096];

	if (!th_testdata())
		skip();
	snprintf(child, sizeof(child), "%s/chain/child.avhdx", dir);
	if (access(child, F_OK) == 0)
		return;
	if (!th_have("qemu-img") || !th_have("qemu-io") || !th_have("python3")) {
		print_message("skipped: the synthetic parent needs qemu-img, qemu-io and python3\n");
		skip();
	}
	assert_int_equal(th_sh("bash '%s/make-synthetic-parent.sh' '%s/chain' >/dev/null",
			       th_testdata(), dir), 0);
}

/* A real Hyper-V checkpoint disk: sector bitmaps, interleaved blocks, a bent locator. */
static void test_differencing_chain(void **state)
{
	(void)state;
	make_chain();
	check_hash("chain/" "Generation 1_49C4BAF3-4B25-4406-8C4B-D39E65C32385.avhdx",
		   "18a7425406b71e9f9e42b00e5cec0f2508dab57f7517138c7d9c3e83d5363720", 0);
	check_hash("chain/child.avhdx",
		   "728f0c1db1a605fa5014cda0ffaac3b0bed0632daf60f7684cd93382295bf220", 0);
}

static void test_differencing_locator(void **state)
{
	char path[4096];
	struct vhdx_info info;
	struct vhdx *v;
	uint8_t buf[4096];

	(void)state;
	make_chain();
	snprintf(path, sizeof(path), "%s/chain/child.avhdx", dir);
	assert_int_equal(vhdx_open(path, 0, &v), 0);
	assert_int_equal(vhdx_info_get(v, &info), 0);
	assert_int_equal(info.type, VHDX_TYPE_DIFFERENCING);
	assert_non_null(strstr(info.parent_path, parent_name));
	vhdx_free(v);

	/* without the parent, reads that need it fail cleanly */
	assert_int_equal(vhdx_open(path, VHDX_OPEN_NO_PARENT, &v), 0);
	assert_int_equal(vhdx_read(v, buf, sizeof(buf), 100 * VHDX_MIB), -ENOENT);
	vhdx_free(v);

	/* a parent whose DataWriteGuid differs is refused */
	assert_int_equal(th_sh("cd '%s/chain' && mv '%s' p.bak && qemu-img create -q -f vhdx '%s' "
			       "8G", dir, parent_name, parent_name), 0);
	assert_int_equal(vhdx_open(path, 0, &v), -ESTALE);
	/* and a missing one is not found */
	assert_int_equal(th_sh("cd '%s/chain' && rm '%s'", dir, parent_name), 0);
	assert_int_equal(vhdx_open(path, 0, &v), -ENOENT);
	assert_int_equal(th_sh("cd '%s/chain' && mv p.bak '%s'", dir, parent_name), 0);
}

/* Merging the real checkpoint disk into its parent gives a parent that reads as the chain. */
static void test_differencing_merge(void **state)
{
	char child[4096], parent[4096], hex[65];
	struct vhdx *v;

	(void)state;
	make_chain();
	assert_int_equal(th_sh("rm -rf '%s/merge' && cp -r '%s/chain' '%s/merge'", dir, dir, dir), 0);
	snprintf(child, sizeof(child), "%s/merge/child.avhdx", dir);
	snprintf(parent, sizeof(parent), "%s/merge/%s", dir, parent_name);
	assert_int_equal(vhdx_merge_into_parent(child), 0);
	assert_int_equal(access(child, F_OK), -1);
	assert_int_equal(vhdx_open(parent, 0, &v), 0);
	assert_int_equal(th_hash_vhdx(v, hex), 0);
	assert_string_equal(hex, "728f0c1db1a605fa5014cda0ffaac3b0bed0632daf60f7684cd93382295bf220");
	struct vhdx_check_result res;
	assert_int_equal(vhdx_check(v, 0, NULL, NULL, &res), 0);
	assert_int_equal(res.errors, 0);
	vhdx_free(v);
	assert_int_equal(th_sh("qemu-img check -q '%s'", parent), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fixed),
		cmocka_unit_test(test_dynamic),
		cmocka_unit_test(test_coreos),
		cmocka_unit_test(test_differencing_chain),
		cmocka_unit_test(test_differencing_locator),
		cmocka_unit_test(test_differencing_merge),
	};

	if (!th_testdata()) {
		printf("skipped: $HVKIT_SHARED/testdata/vhdx is absent\n");
		return 77;
	}
	return cmocka_run_group_tests(tests, setup, teardown);
}
