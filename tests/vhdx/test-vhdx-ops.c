/*
 * Resize, merge and compact: the virtual disk must read the same before and after (within
 * the size that both have), and the result must pass vhdx_check (and qemu-img check).
 */
#include "config.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "tests/vhdx/helpers.h"

static char *dir;

static int setup(void **state)
{
	(void)state;
	if (!getenv("TMPDIR") && access("/dev/shm", W_OK) == 0)
		setenv("TMPDIR", "/dev/shm", 1);
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
	static char buf[4][4096];
	static int n;
	char *p = buf[n++ % 4];

	snprintf(p, 4096, "%s/%s", dir, name);
	return p;
}

static void create(const char *name, enum vhdx_type type, uint64_t size, uint32_t bs,
		   const char *parent)
{
	struct vhdx_create_opts o = { .type = type, .size = size, .block_size = bs,
				      .parent = parent ? tpath(parent) : NULL };
	unlink(tpath(name));
	assert_int_equal(vhdx_create(tpath(name), &o), 0);
}

static void write_at(const char *name, uint64_t off, size_t len, uint32_t seed)
{
	uint8_t *buf = malloc(len);
	struct vhdx *v;

	th_fill(buf, len, seed);
	assert_int_equal(vhdx_open(tpath(name), VHDX_OPEN_RDWR, &v), 0);
	assert_int_equal(vhdx_write(v, buf, len, off), 0);
	assert_int_equal(vhdx_close(v), 0);
	free(buf);
}

static uint8_t *read_all(const char *name, uint64_t size)
{
	uint8_t *buf = malloc(size);
	struct vhdx *v;

	assert_int_equal(vhdx_open(tpath(name), 0, &v), 0);
	assert_int_equal(vhdx_read(v, buf, size, 0), 0);
	vhdx_free(v);
	return buf;
}

static void clean(const char *name)
{
	struct vhdx_check_result res;
	struct vhdx *v;

	assert_int_equal(vhdx_open(tpath(name), 0, &v), 0);
	assert_int_equal(vhdx_check(v, 0, NULL, NULL, &res), 0);
	assert_int_equal(res.errors, 0);
	vhdx_free(v);
	if (th_have("qemu-img"))
		assert_int_equal(th_sh("qemu-img check -q '%s'", tpath(name)), 0);
}

static int resize(const char *name, uint64_t size)
{
	struct vhdx *v;
	int r;

	assert_int_equal(vhdx_open(tpath(name), VHDX_OPEN_RDWR, &v), 0);
	r = vhdx_resize(v, size);
	assert_int_equal(vhdx_close(v), 0);
	return r;
}

static void test_resize(void **state)
{
	uint8_t *a, *b;

	(void)state;
	create("r.vhdx", VHDX_TYPE_DYNAMIC, 16 * VHDX_MIB, VHDX_MIB, NULL);
	write_at("r.vhdx", 3 * VHDX_MIB + 100, 5000, 1);
	write_at("r.vhdx", 16 * VHDX_MIB - 4096, 4096, 2);
	a = read_all("r.vhdx", 16 * VHDX_MIB);
	/* grow far enough that the BAT has to move out of its 1 MiB region */
	assert_int_equal(resize("r.vhdx", 200 * VHDX_GIB), 0);
	clean("r.vhdx");
	b = read_all("r.vhdx", 16 * VHDX_MIB);
	assert_memory_equal(a, b, 16 * VHDX_MIB);
	free(b);
	write_at("r.vhdx", 150 * VHDX_GIB, 4096, 3);
	/* shrinking over data is refused, over zeros allowed */
	assert_int_equal(resize("r.vhdx", 100 * VHDX_GIB), -ENOTEMPTY);
	assert_int_equal(resize("r.vhdx", 150 * VHDX_GIB + 4096), 0);
	assert_int_equal(resize("r.vhdx", 16 * VHDX_MIB - 4096), -ENOTEMPTY);
	assert_int_equal(resize("r.vhdx", 15 * VHDX_MIB + 512), -ENOTEMPTY);
	clean("r.vhdx");
	b = read_all("r.vhdx", 16 * VHDX_MIB);
	assert_memory_equal(a, b, 16 * VHDX_MIB);
	free(b);
	assert_int_equal(resize("r.vhdx", 1000), -EINVAL);
	/* fixed disks stay fully allocated */
	create("rf.vhdx", VHDX_TYPE_FIXED, 4 * VHDX_MIB, VHDX_MIB, NULL);
	assert_int_equal(resize("rf.vhdx", 9 * VHDX_MIB), 0);
	clean("rf.vhdx");
	struct vhdx *v;
	struct vhdx_info i;
	assert_int_equal(vhdx_open(tpath("rf.vhdx"), 0, &v), 0);
	assert_int_equal(vhdx_info_get(v, &i), 0);
	assert_int_equal(i.blocks_allocated, 9);
	vhdx_free(v);
	free(a);
}

static void test_merge(void **state)
{
	uint8_t *a, *b;

	(void)state;
	create("p.vhdx", VHDX_TYPE_DYNAMIC, 24 * VHDX_MIB, VHDX_MIB, NULL);
	write_at("p.vhdx", 0, 6 * VHDX_MIB, 10);
	create("m.avhdx", VHDX_TYPE_DIFFERENCING, 0, 0, "p.vhdx");
	write_at("m.avhdx", VHDX_MIB + 512, 3 * VHDX_MIB, 11);
	create("t.avhdx", VHDX_TYPE_DIFFERENCING, 0, 0, "m.avhdx");
	write_at("t.avhdx", 5 * VHDX_MIB - 512, 1024, 12);
	struct vhdx *v;
	assert_int_equal(vhdx_open(tpath("t.avhdx"), VHDX_OPEN_RDWR, &v), 0);
	assert_int_equal(vhdx_discard(v, 2 * VHDX_MIB, 2 * VHDX_MIB), 0);
	assert_int_equal(vhdx_close(v), 0);
	a = read_all("t.avhdx", 24 * VHDX_MIB);
	/* the middle level into the base: the top still reads the same */
	assert_int_equal(vhdx_merge_into_parent(tpath("m.avhdx")), 0);
	assert_int_equal(access(tpath("m.avhdx"), F_OK), -1);
	clean("p.vhdx");
	/* the top's parent is gone now; merge it into a fresh copy of the chain instead */
	free(a);
	create("m.avhdx", VHDX_TYPE_DIFFERENCING, 0, 0, "p.vhdx");
	write_at("m.avhdx", 7 * VHDX_MIB, 2 * VHDX_MIB, 13);
	assert_int_equal(vhdx_open(tpath("m.avhdx"), VHDX_OPEN_RDWR, &v), 0);
	assert_int_equal(vhdx_discard(v, 0, VHDX_MIB), 0);
	assert_int_equal(vhdx_close(v), 0);
	a = read_all("m.avhdx", 24 * VHDX_MIB);
	assert_int_equal(vhdx_merge_into_parent(tpath("m.avhdx")), 0);
	b = read_all("p.vhdx", 24 * VHDX_MIB);
	assert_memory_equal(a, b, 24 * VHDX_MIB);
	clean("p.vhdx");
	assert_int_equal(vhdx_merge_into_parent(tpath("p.vhdx")), -EINVAL);
	free(a);
	free(b);
}

/* A merge killed at a random moment: the chain still opens and reads as before, or the
 * merge finished and the parent reads as the chain did; running it again finishes it. */
static void test_merge_killed(void **state)
{
	uint8_t *want, *got;
	struct vhdx *v;
	int finished = 0;

	(void)state;
	srand((unsigned)time(NULL));
	for (int round = 0; round < 12; round++) {
		create("kp.vhdx", VHDX_TYPE_DYNAMIC, 48 * VHDX_MIB, VHDX_MIB, NULL);
		write_at("kp.vhdx", 0, 20 * VHDX_MIB, 30);
		create("kc.avhdx", VHDX_TYPE_DIFFERENCING, 0, 0, "kp.vhdx");
		write_at("kc.avhdx", 512, 30 * VHDX_MIB, 31);
		want = read_all("kc.avhdx", 48 * VHDX_MIB);
		pid_t pid = fork();
		assert_true(pid >= 0);
		if (pid == 0)
			_exit(vhdx_merge_into_parent(tpath("kc.avhdx")) == 0 ? 0 : 1);
		struct timespec ts = { 0, (long)(rand() % 25) * 1000000L };
		nanosleep(&ts, NULL);
		kill(pid, SIGKILL);
		int st;
		assert_int_equal(waitpid(pid, &st, 0), pid);
		if (access(tpath("kc.avhdx"), F_OK) == 0) {
			got = read_all("kc.avhdx", 48 * VHDX_MIB);
			assert_memory_equal(want, got, 48 * VHDX_MIB);
			free(got);
			assert_int_equal(vhdx_merge_into_parent(tpath("kc.avhdx")), 0);
		} else {
			finished++;
		}
		got = read_all("kp.vhdx", 48 * VHDX_MIB);
		assert_memory_equal(want, got, 48 * VHDX_MIB);
		free(got);
		free(want);
		assert_int_equal(vhdx_open(tpath("kp.vhdx"), 0, &v), 0);
		struct vhdx_check_result res;
		assert_int_equal(vhdx_check(v, 0, NULL, NULL, &res), 0);
		assert_int_equal(res.errors, 0);
		vhdx_free(v);
	}
	print_message("12 merges killed, %d had finished before the kill\n", finished);
}

static void test_compact(void **state)
{
	uint8_t *a, *b, zero[65536] = { 0 };
	struct stat before, after;
	struct vhdx *v;
	uint64_t released;

	(void)state;
	create("c.vhdx", VHDX_TYPE_DYNAMIC, 32 * VHDX_MIB, VHDX_MIB, NULL);
	write_at("c.vhdx", 0, 12 * VHDX_MIB, 20);
	assert_int_equal(vhdx_open(tpath("c.vhdx"), VHDX_OPEN_RDWR, &v), 0);
	for (uint64_t off = 4 * VHDX_MIB; off < 12 * VHDX_MIB; off += sizeof(zero))
		assert_int_equal(vhdx_write(v, zero, sizeof(zero), off), 0);
	assert_int_equal(vhdx_close(v), 0);
	a = read_all("c.vhdx", 32 * VHDX_MIB);
	assert_int_equal(stat(tpath("c.vhdx"), &before), 0);
	assert_int_equal(vhdx_open(tpath("c.vhdx"), VHDX_OPEN_RDWR, &v), 0);
	assert_int_equal(vhdx_compact(v, &released), 0);
	assert_int_equal(vhdx_close(v), 0);
	assert_int_equal(released, 8);
	assert_int_equal(stat(tpath("c.vhdx"), &after), 0);
	assert_true(after.st_size < before.st_size);
	b = read_all("c.vhdx", 32 * VHDX_MIB);
	assert_memory_equal(a, b, 32 * VHDX_MIB);
	clean("c.vhdx");
	free(a);
	free(b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_resize),
		cmocka_unit_test(test_merge),
		cmocka_unit_test(test_merge_killed),
		cmocka_unit_test(test_compact),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
