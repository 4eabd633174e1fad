/*
 * Crash consistency: a child process writes and flushes in a loop and is killed with SIGKILL
 * at a random moment, many times, on dynamic and on differencing disks.  (SIGKILL loses what
 * the process had not written yet, not what the kernel had not flushed: this tests the order
 * of our writes and the log, not the disk's.)  After each kill the image must open (read-only, with the
 * log replayed in memory, and read-write), pass vhdx_check (and qemu-img check when
 * installed), and hold every write that was acknowledged by a flush before the kill.
 */
#include "config.h"

#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "tests/vhdx/helpers.h"

#define SLOTS 96u
#define SIZE (64 * VHDX_MIB)
#define ROUNDS 30

static char *dir;

static int setup(void **state)
{
	(void)state;
	/* a SIGKILL keeps what reached the kernel, so tmpfs loses nothing the test needs and
	 * lets the writer get many more flushes done between kills */
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

/* Write I goes to slot(I): spread over blocks so early writes allocate and later overwrite. */
static unsigned slot(unsigned i)
{
	return (i * 37u) % SLOTS;
}

static uint64_t slot_off(unsigned s)
{
	return (uint64_t)(s % 64) * VHDX_MIB + (s / 64) * 256 * 1024 + (s % 7) * 4096;
}

static void child(const char *path, int fd)
{
	uint8_t buf[8192];
	struct vhdx *v;

	if (vhdx_open(path, VHDX_OPEN_RDWR, &v) < 0)
		_exit(2);
	for (unsigned i = 0;; i++) {
		th_fill(buf, sizeof(buf), i + 1);
		if (vhdx_write(v, buf, sizeof(buf), slot_off(slot(i))) < 0 || vhdx_flush(v) < 0)
			_exit(3);
		if (write(fd, &i, sizeof(i)) != sizeof(i))
			_exit(4);
	}
}

static void verify(const char *path, long acked)
{
	uint8_t buf[8192], want[8192], flight[8192];
	struct vhdx_check_result res;
	struct vhdx *v;
	char why[256];

	if (vhdx_open_detail(path, 0, &v, why, sizeof(why)) < 0)
		fail_msg("after the kill (%ld acknowledged): %s", acked, why);
	for (unsigned s = 0; s < SLOTS; s++) {
		long last = -1;
		for (long i = 0; i <= acked; i++)
			if (slot((unsigned)i) == s)
				last = i;
		assert_int_equal(vhdx_read(v, buf, sizeof(buf), slot_off(s)), 0);
		if (last >= 0)
			th_fill(want, sizeof(want), (uint32_t)last + 1);
		else
			memset(want, 0, sizeof(want));
		/* the write in flight at the kill may have landed, not at all or in part (a
		 * fatal signal can cut a write short between pages), sector by sector */
		if (slot((unsigned)(acked + 1)) == s)
			th_fill(flight, sizeof(flight), (uint32_t)(acked + 2));
		for (size_t o = 0; o < sizeof(buf); o += 4096) {
			bool ok = memcmp(buf + o, want + o, 4096) == 0 ||
				  (slot((unsigned)(acked + 1)) == s &&
				   memcmp(buf + o, flight + o, 4096) == 0);
			if (!ok)
				fail_msg("slot %u lost write %ld (%ld acknowledged)", s, last, acked);
		}
	}
	assert_int_equal(vhdx_check(v, 0, NULL, NULL, &res), 0);
	assert_int_equal(res.errors, 0);
	vhdx_free(v);
	assert_int_equal(vhdx_open(path, VHDX_OPEN_RDWR, &v), 0);
	assert_int_equal(vhdx_close(v), 0);
	if (th_have("qemu-img") && !strstr(path, ".avhdx")) /* QEMU cannot open children */
		assert_int_equal(th_sh("qemu-img check -q '%s'", path), 0);
}

static void test_sigkill(void **state)
{
	struct vhdx_create_opts o = { .type = VHDX_TYPE_DYNAMIC, .size = SIZE,
				      .block_size = VHDX_MIB };
	struct vhdx_create_opts diff = { .type = VHDX_TYPE_DIFFERENCING };
	char path[4096], base[4096];
	long total = 0;

	(void)state;
	srand((unsigned)time(NULL));
	snprintf(base, sizeof(base), "%s/base.vhdx", dir);
	diff.parent = base;
	for (int round = 0; round < ROUNDS; round++) {
		int p[2];
		/* odd rounds write a differencing child: sector bitmaps go through the log too */
		snprintf(path, sizeof(path), "%s/crash.%s", dir, round % 2 ? "avhdx" : "vhdx");
		unlink(path);
		if (round % 2) {
			unlink(base);
			assert_int_equal(vhdx_create(base, &o), 0);
			assert_int_equal(vhdx_create(path, &diff), 0);
		} else {
			assert_int_equal(vhdx_create(path, &o), 0);
		}
		assert_int_equal(pipe(p), 0);
		pid_t pid = fork();
		assert_true(pid >= 0);
		if (pid == 0) {
			close(p[0]);
			child(path, p[1]);
		}
		close(p[1]);
		struct timespec ts = { 0, (long)(1 + rand() % 150) * 1000000L };
		nanosleep(&ts, NULL);
		kill(pid, SIGKILL);
		int st;
		assert_int_equal(waitpid(pid, &st, 0), pid);
		assert_true(WIFSIGNALED(st));
		long acked = -1;
		unsigned i;
		while (read(p[0], &i, sizeof(i)) == sizeof(i))
			acked = i;
		close(p[0]);
		total += acked + 1;
		verify(path, acked);
	}
	print_message("%d kills, %ld acknowledged writes checked\n", ROUNDS, total);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sigkill),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
