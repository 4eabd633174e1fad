/* Partition save and restore on a real /dev/kvm: hvguest counts in memory
 * (hvguest.counter=1); a partition restored from a saved state continues from exactly the
 * count it was saved at, with 1 and 2 vCPUs; damaged state files are refused with a reason,
 * never a crash. Skips (exit 77) with the reason when /dev/kvm cannot be opened. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "hvcore/hvcore.h"
#include "hvcore/hv-priv.h"
#include "hvcore/state.h"

#define MIB (1ULL << 20)
#define WAIT_S 120 /* generous: the guest runs in an instruction emulator on a shared host */

static char guest_path[4096];

struct output {
	pthread_mutex_t lock;
	char buf[65536];
	size_t len;
};

static void on_console(void *opaque, const void *buf, size_t len)
{
	struct output *o = opaque;

	pthread_mutex_lock(&o->lock);
	if (len > sizeof(o->buf) - 1 - o->len)
		len = sizeof(o->buf) - 1 - o->len;
	memcpy(o->buf + o->len, buf, len);
	o->len += len;
	o->buf[o->len] = 0;
	pthread_mutex_unlock(&o->lock);
}

/* The count of the last complete counter line, or -1. */
static long last_count(struct output *o)
{
	const char *p, *key = "hvguest: counter mem=";
	long n = -1;

	pthread_mutex_lock(&o->lock);
	for (p = o->buf; (p = strstr(p, key)); p++)
		if (strchr(p, '\n'))
			n = strtol(p + strlen(key), NULL, 10);
	pthread_mutex_unlock(&o->lock);
	return n;
}

static long first_count(struct output *o)
{
	const char *p, *key = "hvguest: counter mem=";
	long n = -1;

	pthread_mutex_lock(&o->lock);
	p = strstr(o->buf, key);
	if (p && strchr(p, '\n'))
		n = strtol(p + strlen(key), NULL, 10);
	pthread_mutex_unlock(&o->lock);
	return n;
}

struct runner {
	struct hv_partition *p;
	struct output out;
	pthread_t thread;
	struct hv_stop_info why;
	int rc;
};

static void *run_main(void *arg)
{
	struct runner *r = arg;

	r->rc = hv_partition_run(r->p, &r->why);
	return NULL;
}

static void runner_new(struct runner *r, unsigned vcpus, uint64_t mem)
{
	struct hv_partition_config cfg = {
		.vcpus = vcpus, .mem_bytes = mem, .console = on_console, .console_opaque = &r->out,
	};

	memset(r, 0, sizeof(*r));
	pthread_mutex_init(&r->out.lock, NULL);
	assert_int_equal(hv_partition_new(&cfg, &r->p), 0);
}

static void runner_start(struct runner *r)
{
	assert_int_equal(pthread_create(&r->thread, NULL, run_main, r), 0);
}

static void runner_end(struct runner *r)
{
	(void)hv_partition_stop(r->p);
	pthread_join(r->thread, NULL);
	hv_partition_free(r->p);
	r->p = NULL;
}

/* Waits for a counter line with a count of at least n (first_only: the first line). */
static long wait_count(struct runner *r, long n, bool first_only)
{
	int i;

	for (i = 0; i < WAIT_S * 20; i++) {
		long c = first_only ? first_count(&r->out) : last_count(&r->out);

		if (c >= n)
			return c;
		usleep(50000);
	}
	return -1;
}

static int tmp_state(char *path, size_t len)
{
	const char *dir = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";

	snprintf(path, len, "%s/hvcore-save-XXXXXX", dir);
	return mkstemp(path);
}

/* Boots hvguest counting, saves it after a few ticks; returns the fd of the saved state and
 * the last count printed before the save. */
static int saved_counter(unsigned vcpus, uint64_t mem, long *count)
{
	struct runner r;
	char path[4096];
	int fd;

	runner_new(&r, vcpus, mem);
	assert_int_equal(hv_partition_load_kernel_file(r.p, guest_path, NULL, "hvguest.counter=1"), 0);
	runner_start(&r);
	assert_true(wait_count(&r, 3, false) >= 3);
	assert_int_equal(hv_partition_pause(r.p), 0);
	fd = tmp_state(path, sizeof(path));
	assert_true(fd >= 0);
	unlink(path);
	assert_int_equal(hv_partition_save(r.p, fd), 0);
	*count = last_count(&r.out);
	/* The partition goes on after a save. */
	assert_int_equal(hv_partition_resume(r.p), 0);
	assert_true(wait_count(&r, *count + 2, false) >= *count + 2);
	runner_end(&r);
	return fd;
}

static void restore_and_check(int fd, unsigned vcpus, uint64_t mem, long count, unsigned flags)
{
	struct hv_state_info info;
	struct runner r;
	char err[256];

	assert_int_equal(hv_state_info_read(fd, &info, err, sizeof(err)), 0);
	assert_int_equal(info.vcpus, vcpus);
	assert_int_equal(info.mem_bytes, mem);
	runner_new(&r, vcpus, mem);
	assert_int_equal(hv_partition_restore(r.p, fd, flags, err, sizeof(err)), 0);
	runner_start(&r);
	assert_int_equal(wait_count(&r, 0, true), count + 1);
	/* and it keeps counting */
	assert_true(wait_count(&r, count + 3, false) >= count + 3);
	runner_end(&r);
}

static void test_counter_1cpu(void **state)
{
	long count;
	int fd = saved_counter(1, 64 * MIB, &count);

	(void)state;
	restore_and_check(fd, 1, 64 * MIB, count, 0);
	/* The same state twice: a checkpoint applied again. */
	restore_and_check(fd, 1, 64 * MIB, count, HV_RESTORE_VERIFY);
	close(fd);
}

static void test_counter_2cpu(void **state)
{
	long count;
	int fd = saved_counter(2, 128 * MIB, &count);

	(void)state;
	restore_and_check(fd, 2, 128 * MIB, count, 0);
	close(fd);
}

/* A restored partition (memory mapped from the file) saves and restores again. */
static void test_save_after_restore(void **state)
{
	struct runner r;
	char path[4096], err[256];
	long count, count2;
	int fd = saved_counter(1, 64 * MIB, &count), fd2;

	(void)state;
	runner_new(&r, 1, 64 * MIB);
	assert_int_equal(hv_partition_restore(r.p, fd, 0, err, sizeof(err)), 0);
	close(fd);
	runner_start(&r);
	assert_true(wait_count(&r, count + 3, false) >= count + 3);
	assert_int_equal(hv_partition_pause(r.p), 0);
	fd2 = tmp_state(path, sizeof(path));
	assert_true(fd2 >= 0);
	unlink(path);
	assert_int_equal(hv_partition_save(r.p, fd2), 0);
	count2 = last_count(&r.out);
	runner_end(&r);
	assert_int_equal(hv_state_verify(fd2, err, sizeof(err)), 0);
	restore_and_check(fd2, 1, 64 * MIB, count2, 0);
	close(fd2);
}

static void test_wrong_size(void **state)
{
	struct hv_partition_config cfg = { .vcpus = 1, .mem_bytes = 32 * MIB };
	struct hv_partition *p;
	char err[256];
	long count;
	int fd = saved_counter(1, 64 * MIB, &count);

	(void)state;
	assert_int_equal(hv_partition_new(&cfg, &p), 0);
	assert_int_equal(hv_partition_restore(p, fd, 0, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "vCPUs"));
	hv_partition_free(p);
	close(fd);
}

static uint8_t *slurp(int fd, size_t *len)
{
	struct stat sb;
	uint8_t *b;

	assert_int_equal(fstat(fd, &sb), 0);
	b = malloc((size_t)sb.st_size);
	assert_non_null(b);
	assert_int_equal(pread(fd, b, (size_t)sb.st_size, 0), sb.st_size);
	*len = (size_t)sb.st_size;
	return b;
}

static int memfd_of(const uint8_t *b, size_t len)
{
	char path[4096];
	int fd = tmp_state(path, sizeof(path));

	assert_true(fd >= 0);
	unlink(path);
	assert_int_equal(write(fd, b, len), (ssize_t)len);
	return fd;
}

/* Reads a damaged copy; returns the error and leaves the reason in err. */
static int try_read(const uint8_t *b, size_t len, char *err, size_t errlen)
{
	struct hv_state_info info;
	int fd = memfd_of(b, len), rc;

	err[0] = 0;
	rc = hv_state_info_read(fd, &info, err, errlen);
	close(fd);
	return rc;
}

static void fix_crcs(uint8_t *b)
{
	uint32_t n = hv_get32(b + 16);

	hv_put32(b + 56, hv_crc32c(0, b + 64, (size_t)n * 32));
	hv_put32(b + 60, hv_crc32c(0, b, 60));
}

/* HVKIT_STATE_SEED=FILE: leaves the fuzz seed there, the file up to its memory section. */
static void seed(const uint8_t *b, size_t len)
{
	const char *path = getenv("HVKIT_STATE_SEED");
	uint32_t i, n = hv_get32(b + 16);
	uint64_t end = len;
	FILE *f;

	if (!path)
		return;
	for (i = 0; i < n; i++)
		if (hv_get32(b + 64 + 32 * i) == HV_SEC_MEMORY)
			end = hv_get64(b + 64 + 32 * i + 8);
	f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(b, 1, (size_t)end, f), (size_t)end);
	fclose(f);
}

static void test_corrupt(void **state)
{
	uint8_t *b, *c;
	size_t len, i;
	uint32_t nsec;
	char err[256];
	long count;
	int fd = saved_counter(1, 32 * MIB, &count), rc;

	(void)state;
	b = slurp(fd, &len);
	seed(b, len);
	c = malloc(len);
	assert_non_null(c);
	assert_int_equal(try_read(b, len, err, sizeof(err)), 0);

	assert_int_equal(try_read(b, 10, err, sizeof(err)), -EBADMSG);
	assert_non_null(strstr(err, "too short"));
	assert_int_equal(try_read(b, len / 2, err, sizeof(err)), -EBADMSG);
	assert_non_null(strstr(err, "truncated"));
	memset(c, 0, len);
	assert_int_equal(try_read(c, len, err, sizeof(err)), -EBADMSG);
	assert_non_null(strstr(err, "not an hvkit saved-state file"));

	/* A flipped bit anywhere before memory is caught by a checksum. */
	nsec = hv_get32(b + 16);
	for (i = 0; i < nsec; i++) {
		uint64_t off = hv_get64(b + 64 + 32 * i + 8), slen = hv_get64(b + 64 + 32 * i + 16);

		if (hv_get32(b + 64 + 32 * i) == HV_SEC_MEMORY)
			continue;
		memcpy(c, b, len);
		c[off + slen / 2] ^= 0x10;
		assert_int_equal(try_read(c, len, err, sizeof(err)), -EBADMSG);
		assert_non_null(strstr(err, "checksum"));
	}
	memcpy(c, b, len);
	c[70] ^= 1; /* the table */
	assert_int_equal(try_read(c, len, err, sizeof(err)), -EBADMSG);
	memcpy(c, b, len);
	c[30] ^= 1; /* the header */
	assert_int_equal(try_read(c, len, err, sizeof(err)), -EBADMSG);

	/* A newer version, and an unknown required section, are refused as unsupported. */
	memcpy(c, b, len);
	hv_put32(c + 8, 2);
	fix_crcs(c);
	assert_int_equal(try_read(c, len, err, sizeof(err)), -ENOTSUP);
	assert_non_null(strstr(err, "version 2"));
	memcpy(c, b, len);
	hv_put32(c + 64 + 32 * (nsec - 2), 0x100); /* the device section becomes a VMBus one */
	fix_crcs(c);
	assert_int_equal(try_read(c, len, err, sizeof(err)), -ENOTSUP);
	assert_non_null(strstr(err, "required section of type 256"));
	/* the same, optional: skipped, and then the device section is missing */
	hv_put32(c + 64 + 32 * (nsec - 2) + 4, 0);
	fix_crcs(c);
	assert_int_equal(try_read(c, len, err, sizeof(err)), -EBADMSG);
	assert_non_null(strstr(err, "device section"));
	/* a section pointing past the end */
	memcpy(c, b, len);
	hv_put64(c + 64 + 8, (uint64_t)len - 4);
	fix_crcs(c);
	assert_int_equal(try_read(c, len, err, sizeof(err)), -EBADMSG);

	/* Memory is checked on demand (restore maps it lazily). */
	memcpy(c, b, len);
	for (i = 0; i < nsec; i++)
		if (hv_get32(b + 64 + 32 * i) == HV_SEC_MEMORY)
			c[hv_get64(b + 64 + 32 * i + 8) + 0x100000] ^= 0xff;
	close(fd);
	fd = memfd_of(c, len);
	rc = hv_state_verify(fd, err, sizeof(err));
	assert_int_equal(rc, -EBADMSG);
	assert_non_null(strstr(err, "memory"));
	close(fd);
	free(b);
	free(c);
}

/* Saving needs a quiet partition: a running one is refused. */
static void test_save_running(void **state)
{
	struct runner r;
	char path[4096];
	int fd;

	(void)state;
	runner_new(&r, 1, 32 * MIB);
	assert_int_equal(hv_partition_load_kernel_file(r.p, guest_path, NULL, "hvguest.counter=1"), 0);
	runner_start(&r);
	assert_true(wait_count(&r, 1, false) >= 1);
	fd = tmp_state(path, sizeof(path));
	unlink(path);
	assert_int_equal(hv_partition_save(r.p, fd), -EBUSY);
	close(fd);
	runner_end(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_counter_1cpu),
		cmocka_unit_test(test_counter_2cpu),
		cmocka_unit_test(test_save_after_restore),
		cmocka_unit_test(test_wrong_size),
		cmocka_unit_test(test_corrupt),
		cmocka_unit_test(test_save_running),
	};
	const char *env = getenv("HVGUEST");
	int fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);

	if (fd < 0) {
		printf("SKIP: /dev/kvm cannot be opened (%s): saving a partition needs KVM\n", strerror(errno));
		return 77;
	}
	close(fd);
	snprintf(guest_path, sizeof(guest_path), "%s",
		 env && *env ? env : "hvcore/guest/hvguest");
	if (access(guest_path, R_OK) != 0) {
		printf("FAIL: cannot read the built-in guest %s\n", guest_path);
		return 1;
	}
	return cmocka_run_group_tests(tests, NULL, NULL);
}
