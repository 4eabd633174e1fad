/*
 * Corrupt images are an ordinary outcome: every structure damaged in turn gives a clear
 * error (-EBADMSG, -ENOTSUP for valid-but-unknown required parts), never a crash, and a
 * read-only open never writes to the file.
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

#include "formats/vhdx/vhdx-internal.h"
#include "tests/vhdx/helpers.h"

static char *dir;
static char base[4096], work[4096];

/* An 8 MiB dynamic image, 1 MiB blocks, data in blocks 1 and 5. */
static int setup(void **state)
{
	struct vhdx_create_opts o = { .type = VHDX_TYPE_DYNAMIC, .size = 8 * VHDX_MIB,
				      .block_size = VHDX_MIB };
	uint8_t buf[8192];
	struct vhdx *v;

	(void)state;
	dir = th_mkdtemp();
	if (!dir)
		return -1;
	snprintf(base, sizeof(base), "%s/base.vhdx", dir);
	snprintf(work, sizeof(work), "%s/work.vhdx", dir);
	if (vhdx_create(base, &o) < 0 || vhdx_open(base, VHDX_OPEN_RDWR, &v) < 0)
		return -1;
	th_fill(buf, sizeof(buf), 1);
	if (vhdx_write(v, buf, sizeof(buf), VHDX_MIB) < 0 ||
	    vhdx_write(v, buf, sizeof(buf), 5 * VHDX_MIB + 4096) < 0 || vhdx_close(v) < 0)
		return -1;
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	th_rmdir(dir);
	return 0;
}

static void fresh(void)
{
	assert_int_equal(th_sh("cp '%s' '%s'", base, work), 0);
}

static void poke(uint64_t off, const void *buf, size_t len)
{
	int fd = open(work, O_RDWR);

	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, buf, len, (off_t)off), (ssize_t)len);
	close(fd);
}

static void peek(uint64_t off, void *buf, size_t len)
{
	int fd = open(work, O_RDONLY);

	assert_true(fd >= 0);
	assert_int_equal(pread(fd, buf, len, (off_t)off), (ssize_t)len);
	close(fd);
}

static void poke32(uint64_t off, uint32_t v)
{
	uint8_t b[4];
	put32(b, v);
	poke(off, b, 4);
}

static void poke64(uint64_t off, uint64_t v)
{
	uint8_t b[8];
	put64(b, v);
	poke(off, b, 8);
}

/* Change a field of both headers and fix their checksums. */
static void header_field(size_t field, const void *val, size_t len)
{
	uint8_t h[VHDX_HEADER_SIZE];

	for (int i = 0; i < 2; i++) {
		uint64_t at = i ? VHDX_HEADER2_OFF : VHDX_HEADER1_OFF;
		peek(at, h, sizeof(h));
		memcpy(h + field, val, len);
		put32(h + 4, vhdx_crc32c_zeroed(h, sizeof(h), 4));
		poke(at, h, sizeof(h));
	}
}

/* Change bytes of both region tables and fix their checksums. */
static void region_field(size_t field, const void *val, size_t len)
{
	uint8_t *t = malloc(VHDX_REGION_SIZE);

	for (int i = 0; i < 2; i++) {
		uint64_t at = i ? VHDX_REGION2_OFF : VHDX_REGION1_OFF;
		peek(at, t, VHDX_REGION_SIZE);
		memcpy(t + field, val, len);
		put32(t + 4, vhdx_crc32c_zeroed(t, VHDX_REGION_SIZE, 4));
		poke(at, t, VHDX_REGION_SIZE);
	}
	free(t);
}

/* Open read-only expecting ERR; the file must be unchanged and reads must not crash. */
static void expect(int err)
{
	char before[65], after[65], why[256] = "";
	struct vhdx *v;
	int r;

	assert_int_equal(th_hash_file(work, before), 0);
	r = vhdx_open_detail(work, 0, &v, why, sizeof(why));
	if (r == 0) {
		uint8_t buf[65536];
		struct vhdx_info i;
		assert_int_equal(vhdx_info_get(v, &i), 0);
		for (uint64_t off = 0; off + sizeof(buf) <= i.virtual_size; off += VHDX_MIB)
			if (vhdx_read(v, buf, sizeof(buf), off) < 0)
				continue; /* failing is fine, crashing is not */
		vhdx_free(v);
	}
	if (r != err)
		fail_msg("expected %d, got %d (%s)", err, r, why);
	if (err)
		assert_true(why[0] != 0);
	assert_int_equal(th_hash_file(work, after), 0);
	assert_string_equal(before, after);
}

static void test_baseline(void **state)
{
	(void)state;
	fresh();
	expect(0);
}

static void test_identifier(void **state)
{
	(void)state;
	fresh();
	poke(0, "vhdxfilX", 8);
	expect(-EBADMSG);
}

static void test_headers(void **state)
{
	uint8_t b[8];

	(void)state;
	fresh();
	poke32(VHDX_HEADER1_OFF + 100, 0x1234); /* one bad header: the other is used */
	expect(0);
	poke32(VHDX_HEADER2_OFF + 100, 0x1234);
	expect(-EBADMSG);
	fresh();
	poke32(VHDX_HEADER1_OFF, 0x64616566); /* signature */
	poke32(VHDX_HEADER2_OFF, 0x64616566);
	expect(-EBADMSG);
	fresh();
	put16(b, 2);
	header_field(66, b, 2); /* version */
	expect(-ENOTSUP);
	fresh();
	put64(b, VHDX_MIB + 4096);
	header_field(72, b, 8); /* log offset not aligned */
	expect(-EBADMSG);
	fresh();
	put64(b, 1ull << 40);
	header_field(72, b, 8); /* log beyond the file */
	expect(-EBADMSG);
	fresh();
	put32(b, 0xfff00000);
	header_field(68, b, 4); /* huge log length */
	expect(-EBADMSG);
	fresh();
	put64(b, 5); /* equal sequence numbers but different headers */
	header_field(8, b, 8);
	poke32(VHDX_HEADER1_OFF + 200, 0); /* same bytes: identical headers are fine */
	expect(0);
	{
		uint8_t h[VHDX_HEADER_SIZE];
		peek(VHDX_HEADER1_OFF, h, sizeof(h));
		h[40] ^= 1; /* DataWriteGuid differs */
		put32(h + 4, vhdx_crc32c_zeroed(h, sizeof(h), 4));
		poke(VHDX_HEADER1_OFF, h, sizeof(h));
	}
	expect(-EBADMSG);
}

static void test_dirty_log_garbage(void **state)
{
	struct vhdx_guid g;

	(void)state;
	fresh();
	assert_int_equal(vhdx_guid_generate(&g), 0);
	header_field(48, g.b, 16); /* a LogGuid, but no entry carries it */
	expect(-EBADMSG);
}

/* A dirty log (a write flushed, the BAT change never written home), every byte of its entry
 * header and descriptor damaged in turn: the open gives the old or the new state, or a clear
 * -EBADMSG, never anything else, and writes nothing. */
static void test_log_entries(void **state)
{
	uint8_t data[4096], zero[4096] = { 0 }, back[4096], orig;
	struct vhdx *v;
	char dirty[4096];
	int fd;

	(void)state;
	snprintf(dirty, sizeof(dirty), "%s/dirty.vhdx", dir);
	fresh();
	assert_int_equal(vhdx_open(work, VHDX_OPEN_RDWR, &v), 0);
	th_fill(data, sizeof(data), 77);
	assert_int_equal(vhdx_write(v, data, sizeof(data), 2 * VHDX_MIB), 0);
	assert_int_equal(vhdx_flush(v), 0);
	vhdx_free(v); /* "crash" */
	fd = open(work, O_RDWR);
	/* the BAT change never landed: block 2's entry (BAT at 3 MiB) back to empty */
	assert_int_equal(pwrite(fd, zero, 8, 3 * VHDX_MIB + 16), 8);
	close(fd);
	assert_int_equal(th_sh("cp '%s' '%s'", work, dirty), 0);
	/* the session's empty entry is at 0, the BAT entry right after it */
	for (uint64_t at = VHDX_MIB + 4096; at < VHDX_MIB + 4096 + 64 + 32; at++) {
		assert_int_equal(th_sh("cp '%s' '%s'", dirty, work), 0);
		peek(at, &orig, 1);
		orig ^= 0x41;
		poke(at, &orig, 1);
		char before[65], after[65];
		assert_int_equal(th_hash_file(work, before), 0);
		int r = vhdx_open(work, 0, &v);
		if (r == 0) {
			assert_int_equal(vhdx_read(v, back, sizeof(back), 2 * VHDX_MIB), 0);
			assert_true(memcmp(back, data, sizeof(back)) == 0 ||
				    memcmp(back, zero, sizeof(back)) == 0);
			vhdx_free(v);
		} else if (r != -EBADMSG) {
			fail_msg("log byte %llu: open gave %d", (unsigned long long)at, r);
		}
		assert_int_equal(th_hash_file(work, after), 0);
		assert_string_equal(before, after);
	}
}

static void test_region_table(void **state)
{
	uint8_t b[32];
	struct vhdx_guid g;

	(void)state;
	fresh();
	poke32(VHDX_REGION1_OFF + 100, 7); /* table 1 bad: its copy is used */
	expect(0);
	poke32(VHDX_REGION2_OFF + 100, 7);
	expect(-EBADMSG);
	fresh();
	put32(b, 3000);
	region_field(8, b, 4); /* entry count */
	expect(-EBADMSG);
	fresh();
	put64(b, 1ull << 40);
	region_field(16 + 16, b, 8); /* BAT offset beyond the file */
	expect(-EBADMSG);
	fresh();
	put64(b, 2 * VHDX_MIB);
	region_field(16 + 16, b, 8); /* BAT on the metadata */
	expect(-EBADMSG);
	fresh();
	put64(b, VHDX_MIB);
	region_field(16 + 16, b, 8); /* BAT on the log */
	expect(-EBADMSG);
	fresh();
	put32(b, 12345);
	region_field(16 + 24, b, 4); /* length not a multiple of 1 MiB */
	expect(-EBADMSG);
	fresh();
	put32(b, 1);
	region_field(8, b, 4); /* the metadata region is missing */
	expect(-EBADMSG);
	/* an unknown region: refused if required, ignored otherwise */
	fresh();
	assert_int_equal(vhdx_guid_generate(&g), 0);
	memcpy(b, g.b, 16);
	put64(b + 16, 3 * VHDX_MIB);
	put32(b + 24, 0);
	put32(b + 28, 1);
	region_field(16 + 64, b, 32);
	put32(b, 3);
	region_field(8, b, 4);
	expect(-EBADMSG); /* its length 0 is invalid first */
	fresh();
	memcpy(b, g.b, 16);
	put64(b + 16, 6 * VHDX_MIB);
	put32(b + 24, VHDX_MIB);
	put32(b + 28, 1);
	region_field(16 + 64, b, 32);
	put32(b, 3);
	region_field(8, b, 4);
	expect(-EBADMSG); /* it overlaps a payload block? no: lies past EOF */
	assert_int_equal(truncate(work, 8 * VHDX_MIB), 0);
	expect(-ENOTSUP);
	put32(b, 0);
	region_field(16 + 64 + 28, b, 4);
	expect(0);
}

#define META (2 * VHDX_MIB)
#define ITEMS (META + 64 * 1024)

static void test_metadata(void **state)
{
	(void)state;
	fresh();
	poke(META, "metadatX", 8);
	expect(-EBADMSG);
	fresh();
	poke32(META + 10, 5000); /* entry count (u16 + reserved) */
	expect(-EBADMSG);
	fresh();
	poke32(META + 32 + 16, 100); /* first item inside the table */
	expect(-EBADMSG);
	fresh();
	poke32(META + 32 + 16, 0xfffffff0); /* first item far outside */
	expect(-EBADMSG);
	fresh();
	poke32(META + 32 + 20, 2 * VHDX_MIB); /* item longer than 1 MiB */
	expect(-EBADMSG);
	fresh();
	poke32(META + 32 + 20, 2); /* file parameters too short */
	expect(-EBADMSG);
	fresh();
	poke32(ITEMS, 3 * VHDX_MIB); /* block size not a power of 2 */
	expect(-EBADMSG);
	fresh();
	poke32(ITEMS, 512 * VHDX_MIB);
	expect(-EBADMSG);
	fresh();
	poke64(ITEMS + 8, 0); /* virtual size 0 */
	expect(-EBADMSG);
	fresh();
	poke64(ITEMS + 8, 65 * VHDX_TIB);
	expect(-EBADMSG);
	fresh();
	poke64(ITEMS + 8, 64 * VHDX_TIB); /* the BAT no longer fits its region */
	expect(-EBADMSG);
	fresh();
	poke32(ITEMS + 32, 1000); /* logical sector size */
	expect(-EBADMSG);
	fresh();
	poke32(ITEMS + 36, 0); /* physical sector size */
	expect(-EBADMSG);
	fresh();
	poke32(ITEMS + 4, 2); /* HasParent without a locator */
	expect(-EBADMSG);
	fresh();
	poke(META + 32, "\x01\x02", 2); /* the file parameters become an unknown required item */
	expect(-ENOTSUP);
	fresh();
	poke(META + 32 + 32 * 2, "\x01\x02", 2); /* disk id becomes unknown: required, missing */
	poke32(META + 32 + 32 * 2 + 24, 2);
	expect(-EBADMSG);
}

#define BAT (3 * VHDX_MIB)

static void test_bat(void **state)
{
	(void)state;
	fresh();
	poke64(BAT + 8, 4 * VHDX_MIB | 4); /* reserved state */
	expect(-EBADMSG);
	fresh();
	poke64(BAT + 8, (1ull << 40) | 6); /* block beyond the file */
	expect(-EBADMSG);
	fresh();
	poke64(BAT + 8, 6); /* block at offset 0 */
	expect(-EBADMSG);
	fresh();
	poke64(BAT + 16, 4 * VHDX_MIB | 7); /* partially present in a dynamic disk */
	expect(-EBADMSG);
	fresh();
	poke64(BAT + 16, 4 * VHDX_MIB | 5); /* the draft "unmapped" value reads as zeros */
	expect(0);
}

static void test_truncated(void **state)
{
	static const uint64_t sizes[] = { 0, 100, 64 * 1024, 200 * 1024, VHDX_MIB,
					   2 * VHDX_MIB + 4096, 3 * VHDX_MIB };
	(void)state;
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		fresh();
		assert_int_equal(truncate(work, (off_t)sizes[i]), 0);
		expect(-EBADMSG);
	}
	/* a block cut short: the open succeeds (the block starts inside), the read fails */
	fresh();
	assert_int_equal(truncate(work, 5 * VHDX_MIB + 4096), 0);
	struct vhdx *v;
	uint8_t buf[8192];
	assert_int_equal(vhdx_open(work, 0, &v), 0);
	assert_int_equal(vhdx_read(v, buf, sizeof(buf), 5 * VHDX_MIB + 4096), -EBADMSG);
	assert_int_equal(vhdx_read(v, buf, 4096, VHDX_MIB), 0);
	struct vhdx_check_result res;
	assert_int_equal(vhdx_check(v, 0, NULL, NULL, &res), 0);
	assert_true(res.errors > 0);
	vhdx_free(v);
}

static void test_check_repair(void **state)
{
	struct vhdx_check_result res;
	struct vhdx *v;

	(void)state;
	fresh();
	assert_int_equal(vhdx_open(work, 0, &v), 0);
	assert_int_equal(vhdx_check(v, 0, NULL, NULL, &res), 0);
	assert_int_equal(res.errors, 0);
	assert_int_equal(res.allocated, 2);
	vhdx_free(v);
	/* two blocks at one offset */
	poke64(BAT + 3 * 8, 4 * VHDX_MIB | 6);
	assert_int_equal(vhdx_open(work, 0, &v), 0);
	assert_int_equal(vhdx_check(v, 0, NULL, NULL, &res), 0);
	assert_int_equal(res.errors, 1);
	vhdx_free(v);
	assert_int_equal(vhdx_open(work, VHDX_OPEN_RDWR, &v), 0);
	assert_int_equal(vhdx_check(v, 1, NULL, NULL, &res), 0);
	assert_int_equal(res.fixed, 1);
	assert_int_equal(vhdx_close(v), 0);
	assert_int_equal(vhdx_open(work, 0, &v), 0);
	assert_int_equal(vhdx_check(v, 0, NULL, NULL, &res), 0);
	assert_int_equal(res.errors, 0);
	vhdx_free(v);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_baseline),
		cmocka_unit_test(test_identifier),
		cmocka_unit_test(test_headers),
		cmocka_unit_test(test_dirty_log_garbage),
		cmocka_unit_test(test_log_entries),
		cmocka_unit_test(test_region_table),
		cmocka_unit_test(test_metadata),
		cmocka_unit_test(test_bat),
		cmocka_unit_test(test_truncated),
		cmocka_unit_test(test_check_repair),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
