/* The synthetic SCSI controller end to end on a real /dev/kvm: hvguest finds two VHDX disks
 * (one dynamic, one differencing over a parent made here with libvhdx), runs its pattern
 * test and its malformed requests on both; afterwards the images hold exactly what the
 * guest wrote (read through libvhdx, and through qemu-img when it is installed), the parent
 * is untouched, every check-condition left the image alone. Data the guest flushed
 * survives a kill -9 of the process running the partition. A disk in use by another
 * writer fails the partition with a sentence naming it. A paused, quiesced partition moves a
 * disk to a new differencing child (a checkpoint), all or nothing. hvguest's user-mode disk
 * bench runs against ring polling. Skips (exit 77) without /dev/kvm. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "formats/vhdx/vhdx.h"
#include "hvcore/hvcore.h"
#include "tests/hvcore/guest-vm.h"

#define MIB (1ULL << 20)
#define WAIT_S 120
#define CHUNK 4096
#define BIG (64 * 1024)
#define NPOINTS 64

static char dir[64];

static char *path_of(const char *name)
{
	static char buf[64][128]; /* each call its own: tests keep several */
	static int k;
	char *b = buf[k++ % 64];

	snprintf(b, sizeof(buf[0]), "%s/%s", dir, name);
	return b;
}

/* What hvguest's disktest writes (hvcore/guest/storage.c): pattern(disk offset) in every
 * 8-byte word of 4 KiB at NPOINTS points and of 64 KiB at size/2, then point 1 unmapped. */
static uint64_t pattern(uint64_t off, unsigned ctl, unsigned lun)
{
	uint64_t salt = (uint64_t)(ctl * 64 + lun + 1) << 48;

	return (off ^ salt) * 0x9e3779b97f4a7c15ULL;
}

static void fill(uint8_t *img, uint64_t off, uint32_t len, unsigned ctl, unsigned lun)
{
	uint32_t k;

	for (k = 0; k < len; k += 8) {
		uint64_t v = pattern(off + k, ctl, lun);
		unsigned b;

		for (b = 0; b < 8; b++)
			img[off + k + b] = (uint8_t)(v >> (8 * b));
	}
}

static uint64_t point(uint64_t size, unsigned i, unsigned n)
{
	uint64_t stride = (size / n) & ~(uint64_t)(CHUNK - 1);

	return i == n - 1 ? size - CHUNK : i * stride;
}

/* base: the disk before the guest ran (modified in place). */
static void expect_guest(uint8_t *img, uint64_t size, unsigned ctl, unsigned lun, bool trimmed)
{
	unsigned i, n = size / CHUNK < NPOINTS ? (unsigned)(size / CHUNK) : NPOINTS;

	for (i = 0; i < n; i++)
		fill(img, point(size, i, n), CHUNK, ctl, lun);
	fill(img, (size / 2) & ~(uint64_t)(CHUNK - 1), BIG, ctl, lun);
	if (trimmed)
		memset(img + point(size, 1, n), 0, CHUNK);
}

static uint8_t *read_disk(const char *path, uint64_t *size)
{
	struct vhdx_info info;
	struct vhdx *v;
	uint8_t *buf;

	assert_int_equal(vhdx_open(path, 0, &v), 0);
	assert_int_equal(vhdx_info_get(v, &info), 0);
	*size = info.virtual_size;
	buf = malloc(info.virtual_size);
	assert_non_null(buf);
	assert_int_equal(vhdx_read(v, buf, info.virtual_size, 0), 0);
	vhdx_free(v);
	return buf;
}

static void create(const char *path, enum vhdx_type type, uint64_t size, const char *parent)
{
	struct vhdx_create_opts o = { .type = type, .size = size, .parent = parent };

	unlink(path);
	assert_int_equal(vhdx_create(path, &o), 0);
}

/* The parent of the differencing disk: a byte pattern every 256 KiB, 8 KiB long. */
static void parent_data(uint8_t *img, uint64_t size)
{
	uint64_t off;
	unsigned k;

	memset(img, 0, size);
	for (off = 0; off < size; off += 256 * 1024)
		for (k = 0; k < 8192; k++)
			img[off + k] = (uint8_t)(0xa5 ^ (off >> 18) ^ k);
}

static void make_parent(const char *path, uint64_t size)
{
	uint8_t *img = malloc(size);
	struct vhdx *v;

	assert_non_null(img);
	parent_data(img, size);
	create(path, VHDX_TYPE_DYNAMIC, size, NULL);
	assert_int_equal(vhdx_open(path, VHDX_OPEN_RDWR, &v), 0);
	assert_int_equal(vhdx_write(v, img, size, 0), 0);
	assert_int_equal(vhdx_close(v), 0);
	free(img);
}

static struct guest_vm *vm_start(struct hv_partition_config *cfg, const char *cmdline)
{
	struct guest_vm *vm;

	cfg->vcpus = 1;
	cfg->mem_bytes = 64 * MIB;
	vm = guest_vm_new(cfg);
	guest_vm_boot(vm, cmdline);
	return vm;
}

static bool wait_output(struct guest_vm *vm, const char *s)
{
	return guest_vm_wait(vm, s, WAIT_S);
}

static void vm_end(struct guest_vm *vm)
{
	guest_vm_end(vm, 0, HV_STOP_NONE);
}

static void same_as_qemu_raw(const char *vhdx, const uint8_t *want, uint64_t size)
{
	char cmd[512], raw[128];
	uint8_t *got;
	FILE *f;

	if (access("/usr/bin/qemu-img", X_OK) != 0) {
		printf("# qemu-img not installed: the dynamic disk is checked through libvhdx only\n");
		return;
	}
	snprintf(raw, sizeof(raw), "%s/dyn.raw", dir);
	snprintf(cmd, sizeof(cmd), "/usr/bin/qemu-img convert -O raw '%s' '%s'", vhdx, raw);
	assert_int_equal(system(cmd), 0);
	got = malloc(size);
	assert_non_null(got);
	f = fopen(raw, "rb");
	assert_non_null(f);
	assert_int_equal(fread(got, 1, size, f), size);
	assert_int_equal(fgetc(f), EOF);
	fclose(f);
	assert_memory_equal(got, want, size);
	free(got);
	unlink(raw);
}

static void check_clean(const char *path)
{
	struct vhdx_check_result res;
	struct vhdx *v;

	assert_int_equal(vhdx_open(path, 0, &v), 0);
	assert_int_equal(vhdx_check(v, 0, NULL, NULL, &res), 0);
	assert_int_equal(res.errors, 0);
	vhdx_free(v);
}

static void test_two_disks(void **state)
{
	struct hv_disk_config disks[2] = {
		{ .path = path_of("dyn.vhdx"), .controller = 0, .location = 0 },
		{ .path = path_of("child.vhdx"), .controller = 0, .location = 1 },
	};
	struct hv_partition_config cfg = { .disks = disks, .ndisks = 2 };
	struct hv_disk_stats ds[4];
	struct hv_vmbus_info info;
	uint8_t *want, *got;
	uint64_t size;
	struct guest_vm *vm;
	int n, i;

	(void)state;
	create(path_of("dyn.vhdx"), VHDX_TYPE_DYNAMIC, 64 * MIB, NULL);
	make_parent(path_of("parent.vhdx"), 16 * MIB);
	create(path_of("child.vhdx"), VHDX_TYPE_DIFFERENCING, 0, path_of("parent.vhdx"));
	vm = vm_start(&cfg, "hvguest.disktest=1 hvguest.scsimisbehave=1");
	assert_true(wait_output(vm, "hvguest: vmbus version=5.3 channels=5\n"));
	assert_true(wait_output(vm, "hvguest: disk 0:0 scsimisbehave=ok\n"));
	assert_true(wait_output(vm, "hvguest: disk 0:0 size=67108864 test=ok\n"));
	assert_true(wait_output(vm, "hvguest: disk 0:1 scsimisbehave=ok\n"));
	assert_true(wait_output(vm, "hvguest: disk 0:1 size=16777216 test=ok\n"));
	n = hv_partition_disk_stats(vm->p, ds, 4);
	assert_int_equal(n, 2);
	for (i = 0; i < 2; i++) {
		assert_int_equal(ds[i].controller, 0);
		assert_int_equal(ds[i].location, (unsigned)i);
		assert_string_equal(ds[i].path, disks[i].path);
		assert_int_equal(ds[i].write_ops, NPOINTS + 1);
		assert_int_equal(ds[i].write_bytes, NPOINTS * CHUNK + BIG);
		assert_true(ds[i].read_ops >= NPOINTS + 2);
		assert_int_equal(ds[i].flushes, 2);
		assert_int_equal(ds[i].unmaps, 1);
		assert_int_equal(ds[i].errors, 7); /* the malformed CDBs that reached the disk */
		assert_int_equal(ds[i].queue_depth, 0);
		assert_true(ds[i].lat_mean_ns > 0);
		assert_true(ds[i].lat_p99_ns >= ds[i].lat_mean_ns / 2);
	}
	assert_int_equal(hv_partition_vmbus_info(vm->p, &info), 0);
	assert_true(info.bad_messages >= 2); /* pages outside RAM, a short buffer: per disk */
	vm_end(vm);

	/* Exactly the guest's writes: the dynamic disk through libvhdx and qemu-img ... */
	want = calloc(1, 64 * MIB);
	assert_non_null(want);
	expect_guest(want, 64 * MIB, 0, 0, true);
	got = read_disk(path_of("dyn.vhdx"), &size);
	assert_int_equal(size, 64 * MIB);
	assert_memory_equal(got, want, size);
	free(got);
	same_as_qemu_raw(path_of("dyn.vhdx"), want, 64 * MIB);
	free(want);
	check_clean(path_of("dyn.vhdx"));
	/* ... the differencing chain through libvhdx, and the parent untouched. */
	want = malloc(16 * MIB);
	assert_non_null(want);
	parent_data(want, 16 * MIB);
	got = read_disk(path_of("parent.vhdx"), &size);
	assert_memory_equal(got, want, 16 * MIB);
	free(got);
	expect_guest(want, 16 * MIB, 0, 1, true);
	got = read_disk(path_of("child.vhdx"), &size);
	assert_int_equal(size, 16 * MIB);
	assert_memory_equal(got, want, size);
	free(got);
	free(want);
	check_clean(path_of("child.vhdx"));
}

/* Runs a partition in a child process, console to a pipe; kills it with SIGKILL once the
 * guest says its disk is flushed; the image must hold every write before the flush. */
static void test_flush_survives_kill(void **state)
{
	struct hv_disk_config disk = { .path = path_of("kill.vhdx"), .controller = 2, .location = 5 };
	char out[8192];
	size_t len = 0;
	int fds[2], status, i;
	uint8_t *got, *want;
	uint64_t size;
	pid_t pid;

	(void)state;
	create(disk.path, VHDX_TYPE_DYNAMIC, 32 * MIB, NULL);
	assert_int_equal(pipe(fds), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct hv_partition_config cfg = { .vcpus = 1, .mem_bytes = 64 * MIB,
						   .console_fd = fds[1], .disks = &disk, .ndisks = 1 };
		struct hv_partition *p;

		close(fds[0]);
		if (hv_partition_new(&cfg, &p) ||
		    hv_partition_load_kernel(p, guest_img, guest_len, NULL, 0, "hvguest.disktest=1") ||
		    hv_partition_run(p, NULL))
			_exit(3);
		_exit(0);
	}
	close(fds[1]);
	memset(out, 0, sizeof(out));
	while (len < sizeof(out) - 1 && !strstr(out, "hvguest: disk 2:5 flushed\n")) {
		ssize_t r = read(fds[0], out + len, sizeof(out) - 1 - len);

		if (r <= 0)
			break;
		len += (size_t)r;
	}
	kill(pid, SIGKILL);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	close(fds[0]);
	if (!strstr(out, "flushed"))
		printf("# output:\n%s\n", out);
	assert_non_null(strstr(out, "hvguest: disk 2:5 flushed\n"));
	assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
	/* Read-write: a dirty log is replayed, as the next start would. */
	{
		struct vhdx *v;

		assert_int_equal(vhdx_open(disk.path, VHDX_OPEN_RDWR, &v), 0);
		assert_int_equal(vhdx_close(v), 0);
	}
	got = read_disk(disk.path, &size);
	want = calloc(1, size);
	assert_non_null(want);
	expect_guest(want, size, 2, 5, false);
	/* The unmap of point 1 may have happened or not: take what is there. */
	for (i = 0; i < CHUNK; i++)
		want[point(size, 1, NPOINTS) + i] = got[point(size, 1, NPOINTS) + i];
	assert_memory_equal(got, want, size);
	free(got);
	free(want);
	check_clean(disk.path);
}

/* Whether a writer holds path's lock (a shared flock fails against it). */
static bool held(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	bool r = false;

	if (fd < 0)
		return false;
	if (flock(fd, LOCK_SH | LOCK_NB) < 0)
		r = errno == EWOULDBLOCK;
	close(fd);
	return r;
}

/* Once the guest says its disk is flushed, the partition is paused, quiesced and its disk moved
 * to a new differencing child, after refused attempts that leave nothing behind; the rest of
 * the guest's test (its UNMAP, its last flush) goes to the child; the parent keeps what was
 * written before the switch; the write lock moves with the disk; the counters carry on. */
static void test_disk_switch(void **state)
{
	struct hv_disk_config disk = { .path = path_of("sw.vhdx"), .controller = 1, .location = 2 };
	struct hv_partition_config cfg = { .disks = &disk, .ndisks = 1 };
	struct hv_disk_switch sw[2] = { { 1, 2, path_of("sw-child.avhdx"), 1 }, { 1, 2, path_of("sw-b.avhdx"), 1 } };
	struct hv_disk_switch bad[2] = { { 1, 2, path_of("sw-child.avhdx"), 1 }, { 0, 0, path_of("sw-b.avhdx"), 1 } };
	struct hv_disk_switch other = { 1, 2, path_of("sw-other.vhdx"), 0 };
	struct hv_disk_stats ds;
	char why[512] = "";
	uint8_t *want, *got;
	uint64_t size, p1 = point(16 * MIB, 1, NPOINTS);
	struct guest_vm *vm;

	(void)state;
	create(disk.path, VHDX_TYPE_DYNAMIC, 16 * MIB, NULL);
	create(other.path, VHDX_TYPE_DYNAMIC, 16 * MIB, NULL);
	unlink(sw[0].path);
	unlink(sw[1].path);
	vm = vm_start(&cfg, "hvguest.disktest=1");
	assert_true(wait_output(vm, "hvguest: disk 1:2 flushed\n"));
	assert_int_equal(hv_partition_disk_switch(vm->p, sw, 1, why, sizeof(why)), -EBUSY); /* running */
	assert_int_equal(hv_partition_pause(vm->p), 0);
	assert_int_equal(hv_partition_disks_quiesce(vm->p, why, sizeof(why)), 0);
	assert_int_equal(hv_partition_disk_switch(vm->p, sw, 2, why, sizeof(why)), -EINVAL);
	assert_non_null(strstr(why, "disk 1:2 named twice"));
	assert_int_equal(hv_partition_disk_switch(vm->p, bad, 2, why, sizeof(why)), -ENOENT);
	assert_non_null(strstr(why, "disk 0:0"));
	assert_int_equal(access(bad[0].path, F_OK), -1); /* made, then removed */
	assert_int_equal(access(bad[1].path, F_OK), -1);
	assert_int_equal(hv_partition_disk_switch(vm->p, &other, 1, why, sizeof(why)), -EINVAL);
	assert_non_null(strstr(why, "not a differencing child"));
	assert_int_equal(access(other.path, F_OK), 0); /* not ours: left alone */
	assert_true(held(disk.path));
	assert_int_equal(hv_partition_disk_switch(vm->p, sw, 1, why, sizeof(why)), 0);
	assert_false(held(disk.path));
	assert_true(held(sw[0].path));
	assert_int_equal(hv_partition_resume(vm->p), 0);
	assert_true(wait_output(vm, "hvguest: disk 1:2 size=16777216 test=ok\n"));
	assert_int_equal(hv_partition_disk_stats(vm->p, &ds, 1), 1);
	assert_string_equal(ds.path, sw[0].path);
	assert_int_equal(ds.write_ops, NPOINTS + 1);
	assert_int_equal(ds.flushes, 2);
	assert_int_equal(ds.unmaps, 1);
	vm_end(vm);
	assert_false(held(sw[0].path));

	/* The parent: everything before the switch (the UNMAP may have come just before it). */
	want = calloc(1, 16 * MIB);
	assert_non_null(want);
	expect_guest(want, 16 * MIB, 1, 2, false);
	got = read_disk(disk.path, &size);
	memcpy(want + p1, got + p1, CHUNK);
	assert_memory_equal(got, want, 16 * MIB);
	free(got);
	/* The chain: all of it. */
	memset(want, 0, 16 * MIB);
	expect_guest(want, 16 * MIB, 1, 2, true);
	got = read_disk(sw[0].path, &size);
	assert_memory_equal(got, want, 16 * MIB);
	free(got);
	free(want);
	check_clean(disk.path);
	check_clean(sw[0].path);
}

/* hvguest.udiskbench=1: hvguest's storage client in user mode (natively, even on hosts that
 * emulate guest kernel code), polling its completions, against the controller with ring
 * polling on. Checked: all six loads finish with a count (no timings are compared), the
 * guest powers off from user mode, no request failed, and ring polling took over: the guest
 * signalled fewer than half of its requests and was interrupted for almost none. */
static void test_user_bench(void **state)
{
	struct hv_disk_config disk = { .path = path_of("ubench.vhdx") };
	struct hv_partition_config cfg = { .disks = &disk, .ndisks = 1, .scsi_poll = 1 };
	struct hv_vmbus_channel_stats ch[16];
	const char *line, *keys[] = { "randread_iops=", "randwrite_iops=", "seqread_kib_s=",
				      "seqwrite_kib_s=", "qd8_randread_iops=", "qd8_randwrite_iops=" };
	struct hv_disk_stats ds;
	struct guest_vm *vm;
	uint64_t ops;
	int n, i, scsi = -1;

	(void)state;
	create(disk.path, VHDX_TYPE_DYNAMIC, 64 * MIB, NULL);
	vm = vm_start(&cfg, "hvguest.udiskbench=1");
	assert_true(wait_output(vm, "hvguest: udiskbench randread_iops="));
	pthread_mutex_lock(&vm->lock);
	line = strstr(vm->out, "hvguest: udiskbench ");
	for (i = 0; i < 6; i++) {
		const char *k = strstr(line, keys[i]);

		assert_non_null(k);
		assert_true(strtoull(k + strlen(keys[i]), NULL, 10) > 0);
	}
	pthread_mutex_unlock(&vm->lock);
	for (i = 0; i < WAIT_S * 10 && !__atomic_load_n(&vm->done, __ATOMIC_ACQUIRE); i++)
		usleep(100000);
	assert_int_equal(hv_partition_disk_stats(vm->p, &ds, 1), 1);
	assert_int_equal(ds.errors, 0);
	ops = ds.read_ops + ds.write_ops;
	assert_true(ds.read_ops > 0 && ds.write_ops > 0);
	n = hv_partition_vmbus_channels(vm->p, ch, 16);
	for (i = 0; i < n && i < 16; i++)
		if (!strcmp(ch[i].name, "Synthetic SCSI Controller"))
			scsi = i;
	assert_true(scsi >= 0);
	print_message("# udiskbench: %llu requests, %llu guest signals, %llu interrupts\n",
		      (unsigned long long)ops, (unsigned long long)ch[scsi].interrupts_in,
		      (unsigned long long)ch[scsi].interrupts_out);
	assert_true(ch[scsi].interrupts_in < ops / 2);
	assert_true(ch[scsi].interrupts_out < ops / 100);
	guest_vm_end(vm, WAIT_S, HV_STOP_POWEROFF);
	check_clean(disk.path);
}

static void test_disk_errors(void **state)
{
	struct hv_disk_config disk = { .path = path_of("busy.vhdx") };
	struct hv_partition_config cfg = { .vcpus = 1, .mem_bytes = 64 * MIB, .disks = &disk,
					   .ndisks = 1 };
	struct hv_partition *p = NULL;
	struct hv_disk_config two[2] = { { .path = path_of("busy.vhdx") },
					 { .path = path_of("dyn.vhdx") } };
	char why[512] = "";
	struct vhdx *v;

	(void)state;
	create(disk.path, VHDX_TYPE_DYNAMIC, 8 * MIB, NULL);
	cfg.why = why;
	cfg.why_len = sizeof(why);
	assert_int_equal(vhdx_open(disk.path, VHDX_OPEN_RDWR, &v), 0);
	assert_int_equal(hv_partition_new(&cfg, &p), -EBUSY);
	assert_null(p);
	assert_non_null(strstr(why, "disk 0:0 "));
	assert_non_null(strstr(why, disk.path));
	assert_non_null(strstr(why, "in use"));
	vhdx_free(v);
	disk.path = path_of("missing.vhdx");
	assert_int_equal(hv_partition_new(&cfg, &p), -ENOENT);
	assert_non_null(strstr(why, "missing.vhdx"));
	disk.path = path_of("busy.vhdx");
	disk.location = 64;
	assert_int_equal(hv_partition_new(&cfg, &p), -EINVAL);
	cfg.disks = two; /* both at 0:0 */
	cfg.ndisks = 2;
	assert_int_equal(hv_partition_new(&cfg, &p), -EINVAL);
	assert_non_null(strstr(why, "two disks at SCSI 0:0"));
	cfg.ndisks = 1;
	cfg.vmbus_off = 1;
	assert_int_equal(hv_partition_new(&cfg, &p), -ENOTSUP);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_disk_errors),
		cmocka_unit_test(test_two_disks),
		cmocka_unit_test(test_flush_survives_kill),
		cmocka_unit_test(test_disk_switch),
		cmocka_unit_test(test_user_bench),
	};
	char cmd[128];
	int r;

	guest_vm_setup("disks need a partition on KVM");
	snprintf(dir, sizeof(dir), "%s/hvkit-storvsc-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	if (!mkdtemp(dir)) {
		printf("FAIL: cannot make a temporary directory\n");
		return 1;
	}
	r = cmocka_run_group_tests(tests, NULL, NULL);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		printf("# could not remove %s\n", dir);
	return r;
}
