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
#include <sys/wait.h>
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
	hv_put32(c + 64 + 32 * (nsec - 2), 0x1ff); /* the device section becomes a future one */
	fix_crcs(c);
	assert_int_equal(try_read(c, len, err, sizeof(err)), -ENOTSUP);
	assert_non_null(strstr(err, "required section of type 511"));
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

/* ---- a guest connected to VMBus (hvguest.counter=1 connects first, then counts) ---- */

static bool has_text(struct output *o, const char *s)
{
	bool r;

	pthread_mutex_lock(&o->lock);
	r = strstr(o->buf, s) != NULL;
	pthread_mutex_unlock(&o->lock);
	return r;
}

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

/* Heartbeat answered after `after` (CLOCK_MONOTONIC), within WAIT_S. */
static bool heartbeat_after(struct hv_partition *p, uint64_t after)
{
	struct hv_ic_status ic;
	int i;

	for (i = 0; i < WAIT_S * 20; i++) {
		if (hv_partition_ic_status(p, HV_IC_HEARTBEAT, &ic) == 0 && ic.health == HV_IC_OK &&
		    ic.last_contact_ns > after)
			return true;
		usleep(50000);
	}
	return false;
}

static bool channel_stats(struct hv_partition *p, const char *name, struct hv_vmbus_channel_stats *out)
{
	struct hv_vmbus_channel_stats st[8];
	int n = hv_partition_vmbus_channels(p, st, 8), i;

	for (i = 0; i < n && i < 8; i++)
		if (!strcmp(st[i].name, name)) {
			*out = st[i];
			return true;
		}
	return false;
}

/* Boots hvguest connected to VMBus and counting, saves it with the heartbeat healthy;
 * returns the state's fd, the last count and the heartbeat channel's counters at the save. */
static int saved_vmbus(unsigned vcpus, long *count, struct hv_vmbus_channel_stats *hb)
{
	struct runner r;
	char path[4096];
	int fd;

	runner_new(&r, vcpus, 64 * MIB);
	assert_int_equal(hv_partition_load_kernel_file(r.p, guest_path, NULL, "hvguest.counter=1"), 0);
	runner_start(&r);
	assert_true(wait_count(&r, 3, false) >= 3);
	assert_true(has_text(&r.out, "hvguest: vmbus version=5.3 channels=4\n"));
	assert_true(heartbeat_after(r.p, 0));
	assert_int_equal(hv_partition_pause(r.p), 0);
	fd = tmp_state(path, sizeof(path));
	assert_true(fd >= 0);
	unlink(path);
	assert_int_equal(hv_partition_save(r.p, fd), 0);
	*count = last_count(&r.out);
	assert_true(channel_stats(r.p, "Heartbeat", hb));
	runner_end(&r);
	return fd;
}

/* Restores fd into a new partition (ic_disabled as given) and checks the guest's VMBus works
 * on: heartbeat answered, channel counters growing from the saved ones, the counter going on,
 * and the shutdown service ending the run. No cmocka asserts: it also runs in a forked child.
 * Returns NULL or what went wrong. */
static const char *check_vmbus_restore(int fd, unsigned vcpus, long count, const struct hv_vmbus_channel_stats *hb,
				       unsigned ic_disabled)
{
	struct hv_partition_config cfg = { .vcpus = vcpus, .mem_bytes = 64 * MIB, .ic_disabled = ic_disabled };
	struct hv_vmbus_channel_stats now;
	struct hv_vmbus_info info;
	struct runner r;
	const char *why = NULL;
	char err[256];
	uint64_t t;
	int i;

	memset(&r, 0, sizeof(r));
	pthread_mutex_init(&r.out.lock, NULL);
	cfg.console = on_console;
	cfg.console_opaque = &r.out;
	if (hv_partition_new(&cfg, &r.p) != 0)
		return "hv_partition_new failed";
	if (hv_partition_restore(r.p, fd, 0, err, sizeof(err)) != 0) {
		hv_partition_free(r.p);
		return "hv_partition_restore failed";
	}
	t = mono_ns();
	if (pthread_create(&r.thread, NULL, run_main, &r) != 0) {
		hv_partition_free(r.p);
		return "pthread_create failed";
	}
	if (wait_count(&r, 0, true) != count + 1)
		why = "the counter did not continue from the saved count";
	else if (!heartbeat_after(r.p, t))
		why = "no heartbeat answered after the restore";
	else if (hv_partition_vmbus_info(r.p, &info) != 0 || info.version != 0x50003 ||
		 info.channels != (ic_disabled ? 3u : 4u))
		why = "the VMBus connection was not restored";
	else if (!channel_stats(r.p, "Heartbeat", &now) || now.state != HV_CHANNEL_OPEN || now.relid != hb->relid ||
		 now.packets_out <= hb->packets_out || now.packets_in <= hb->packets_in ||
		 now.bytes_out <= hb->bytes_out)
		why = "the heartbeat channel's counters did not continue";
	else if (wait_count(&r, count + 3, false) < count + 3)
		why = "the counter stopped";
	if (why) {
		(void)hv_partition_stop(r.p);
		pthread_join(r.thread, NULL);
		hv_partition_free(r.p);
		return why;
	}
	if (ic_disabled & (1u << HV_IC_KVP)) {
		struct hv_ic_status ic;

		if (hv_partition_ic_status(r.p, HV_IC_KVP, &ic) != 0 || ic.health != HV_IC_DISABLED ||
		    !channel_stats(r.p, "Key-Value Pair Exchange", &now) || now.state != HV_CHANNEL_RESCINDED)
			why = "a service disabled in the new configuration was not rescinded";
	}
	if (!why && hv_partition_guest_shutdown(r.p, 0, "after restore") != 0)
		why = "the shutdown service refused the request";
	for (i = 0; !why && i < WAIT_S * 20 && !has_text(&r.out, "hvguest: shutdown requested\n"); i++)
		usleep(50000);
	if (!why && !has_text(&r.out, "hvguest: shutdown requested\n"))
		why = "the guest did not act on the shutdown request";
	if (why)
		(void)hv_partition_stop(r.p);
	pthread_join(r.thread, NULL);
	if (!why && (r.rc != 0 || r.why.reason != HV_STOP_POWEROFF))
		why = "the run did not end with a power-off";
	hv_partition_free(r.p);
	return why;
}

static void test_vmbus_restore(void **state)
{
	struct hv_vmbus_channel_stats hb;
	const char *why;
	long count;
	int fd = saved_vmbus(1, &count, &hb);

	(void)state;
	why = check_vmbus_restore(fd, 1, count, &hb, 0);
	if (why)
		fail_msg("in-process restore: %s", why);
	close(fd);
}

/* As hv-worker --restore does: a new process reads the file. */
static void test_vmbus_restore_new_process(void **state)
{
	struct hv_vmbus_channel_stats hb;
	long count;
	int fd = saved_vmbus(2, &count, &hb), status = 0;
	pid_t pid;

	(void)state;
	fflush(NULL);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		const char *why = check_vmbus_restore(fd, 2, count, &hb, 0);

		if (why)
			fprintf(stderr, "# child: %s\n", why);
		_exit(why ? 1 : 0);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	close(fd);
}

/* The new configuration disables KVP: restored, then rescinded; the rest goes on. A
 * partition without the Hyper-V surface refuses the state instead of losing it. */
static void test_vmbus_restore_config(void **state)
{
	struct hv_partition_config cfg = { .vcpus = 1, .mem_bytes = 64 * MIB, .vmbus_off = 1 };
	struct hv_vmbus_channel_stats hb;
	struct hv_partition *p;
	const char *why;
	char err[256];
	long count;
	int fd = saved_vmbus(1, &count, &hb);

	(void)state;
	why = check_vmbus_restore(fd, 1, count, &hb, 1u << HV_IC_KVP);
	if (why)
		fail_msg("restore with KVP disabled: %s", why);
	assert_int_equal(hv_partition_new(&cfg, &p), 0);
	assert_int_equal(hv_partition_restore(p, fd, 0, err, sizeof(err)), -ENOTSUP);
	assert_non_null(strstr(err, "Hyper-V"));
	hv_partition_free(p);
	close(fd);
}

/* Offset of the first record of kind in the section of type, or 0. */
static size_t find_rec(const uint8_t *b, uint32_t type, uint32_t kind)
{
	uint32_t i, n = hv_get32(b + 16);

	for (i = 0; i < n; i++) {
		const uint8_t *e = b + 64 + 32 * i;
		uint64_t off = hv_get64(e + 8), end = off + hv_get64(e + 16);

		if (hv_get32(e) != type)
			continue;
		while (off + 8 <= end) {
			uint32_t k = hv_get32(b + off), l = hv_get32(b + off + 4);

			if (k == kind)
				return (size_t)off;
			off += 8 + ((l + 7) & ~7u);
		}
	}
	return 0;
}

/* Rewrites a record and every checksum, as a forger would. */
static void fix_all_crcs(uint8_t *b)
{
	uint32_t i, n = hv_get32(b + 16);

	for (i = 0; i < n; i++) {
		uint8_t *e = b + 64 + 32 * i;

		if (hv_get32(e) != HV_SEC_MEMORY)
			hv_put32(e + 24, hv_crc32c(0, b + hv_get64(e + 8), hv_get64(e + 16)));
	}
	fix_crcs(b);
}

static int try_restore(const uint8_t *b, size_t len, char *err, size_t errlen)
{
	struct hv_partition_config cfg = { .vcpus = 1, .mem_bytes = 64 * MIB };
	struct hv_partition *p;
	int fd = memfd_of(b, len), rc;

	assert_int_equal(hv_partition_new(&cfg, &p), 0);
	err[0] = 0;
	rc = hv_partition_restore(p, fd, 0, err, errlen);
	hv_partition_free(p);
	close(fd);
	return rc;
}

/* Forged VMBus sections: refused with a reason, never a crash. */
static void test_vmbus_corrupt(void **state)
{
	struct hv_vmbus_channel_stats hb;
	uint8_t *b, *c;
	size_t len, off;
	char err[256];
	long count;
	int fd = saved_vmbus(1, &count, &hb);

	(void)state;
	b = slurp(fd, &len);
	close(fd);
	if (getenv("HVKIT_STATE_SEED_VMBUS")) {
		setenv("HVKIT_STATE_SEED", getenv("HVKIT_STATE_SEED_VMBUS"), 1);
		seed(b, len);
		unsetenv("HVKIT_STATE_SEED");
	}
	c = malloc(len);
	assert_non_null(c);
	assert_int_equal(try_read(b, len, err, sizeof(err)), 0);

	off = find_rec(b, HV_SEC_VMBUS, HV_REC_VB_CHANNEL);
	assert_true(off > 0);
	memcpy(c, b, len);
	hv_put32(c + off + 8 + 56, 99); /* target vCPU */
	fix_all_crcs(c);
	assert_int_equal(try_read(c, len, err, sizeof(err)), -EBADMSG);
	assert_non_null(strstr(err, "impossible state"));

	off = find_rec(b, HV_SEC_VMBUS, HV_REC_VB_GPADL);
	assert_true(off > 0);
	memcpy(c, b, len);
	hv_put64(c + off + 8 + 24, (64 * MIB) / 4096 + 5); /* a page past RAM */
	fix_all_crcs(c);
	assert_int_equal(try_read(c, len, err, sizeof(err)), 0); /* RAM is the partition's */
	assert_int_equal(try_restore(c, len, err, sizeof(err)), -EBADMSG);
	assert_non_null(strstr(err, "outside guest RAM"));
	memcpy(c, b, len);
	hv_put32(c + off + 8 + 12, 100000); /* more pages than announced */
	fix_all_crcs(c);
	assert_int_equal(try_read(c, len, err, sizeof(err)), -EBADMSG);

	off = find_rec(b, HV_SEC_HYPERV, HV_REC_HV_SYNIC);
	assert_true(off > 0);
	memcpy(c, b, len);
	hv_put32(c + off, 0x7fffffff); /* an unknown required record */
	fix_all_crcs(c);
	assert_int_equal(try_read(c, len, err, sizeof(err)), -ENOTSUP);
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
		cmocka_unit_test(test_vmbus_restore),
		cmocka_unit_test(test_vmbus_restore_new_process),
		cmocka_unit_test(test_vmbus_restore_config),
		cmocka_unit_test(test_vmbus_corrupt),
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
