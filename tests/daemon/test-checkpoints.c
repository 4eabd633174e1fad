/* Integration: checkpoints, saved state and hard disk drives with a real hvd and real
 * partitions of the built-in guest counting in memory (hvguest.counter=1), on /dev/kvm.
 * A restore must continue from exactly the count at the checkpoint; disks must read what they
 * held at each checkpoint, also after the middle one is removed (checked with hv-img and, on
 * the flattened image, qemu-img); a running guest that wrote its disk (hvguest.disktest=1) is
 * checkpointed while it runs: its worker switches to the new layer in the same pause as the
 * state save, and a restore gives back the checkpoint's disk and count; hvd and the worker
 * are killed at points during Checkpoint-VM and Remove-VMCheckpoint and afterwards the VM
 * starts, the tree is consistent and no file is orphaned. Skipped, with the reason, where
 * /dev/kvm cannot be opened.
 *
 * The test itself reads and writes disks through libvhdx only where no worker holds them (the
 * VM is off, or the file is a checkpoint's layer): a worker opens its disk read-write with an
 * exclusive flock, which refuses a second writer, while libvhdx's read-only open takes no lock
 * at all (children must read their parents) and would read a file changing underneath it. */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "formats/vhdx/vhdx.h"
#include "tests/daemon/harness.h"

#define MIB (1ull << 20)

static char *run_ok(const struct hvd_instance *h, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static char *run_ok(const struct hvd_instance *h, const char *fmt, ...)
{
	struct run_result r;
	char script[2048], *out;
	size_t n;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(script, sizeof(script), fmt, ap);
	va_end(ap);
	hvctl_run(h, NULL, script, &r, NULL);
	if (r.status != 0)
		fail_msg("hvctl -c '%s' exited %d:\n%s%s", script, r.status, r.out, r.err);
	out = r.out;
	r.out = NULL;
	run_result_free(&r);
	n = strlen(out);
	while (n && out[n - 1] == '\n')
		out[--n] = '\0';
	return out;
}

/* Runs a script expected to fail; returns its error output. */
static char *run_fail(const struct hvd_instance *h, const char *script)
{
	struct run_result r;
	char *err;

	hvctl_run(h, NULL, script, &r, NULL);
	if (r.status == 0)
		fail_msg("hvctl -c '%s' succeeded:\n%s", script, r.out);
	err = r.err;
	r.err = NULL;
	run_result_free(&r);
	return err;
}

static void vm_id(const struct hvd_instance *h, const char *vm, char out[64])
{
	char *id = run_ok(h, "(Get-VM %s).Id", vm);

	snprintf(out, 64, "%s", id);
	free(id);
}

static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "r");
	char *text;
	long n;

	if (!f)
		return strdup("");
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	text = calloc(1, (size_t)n + 1);
	if (fread(text, 1, (size_t)n, f) != (size_t)n)
		text[0] = '\0';
	fclose(f);
	if (len)
		*len = (size_t)n;
	return text;
}

static char *console_of(const struct hvd_instance *h, const char *id, size_t *len)
{
	char path[600];

	snprintf(path, sizeof(path), "%s/vms/%s/console.log", h->state, id);
	return slurp(path, len);
}

/* The count of the first (or last) complete counter line after offset from, or -1. */
static long count_in(const char *text, size_t from, bool last)
{
	const char *p, *key = "hvguest: counter mem=";
	long n = -1;

	if (strlen(text) < from)
		return -1;
	for (p = text + from; (p = strstr(p, key)); p++) {
		if (!strchr(p, '\n'))
			break;
		n = strtol(p + strlen(key), NULL, 10);
		if (!last)
			break;
	}
	return n;
}

/* Waits for a counter line at or after from with a count of at least n. */
static long wait_count(const struct hvd_instance *h, const char *id, size_t from, long n, bool first)
{
	int i;

	for (i = 0; i < 1200; i++) {
		char *c = console_of(h, id, NULL);
		long got = count_in(c, from, !first);
		struct timespec ts = { 0, 100000000 };

		free(c);
		if (got >= n)
			return got;
		nanosleep(&ts, NULL);
	}
	fail_msg("VM %s printed no counter line >= %ld", id, n);
	return -1;
}

static size_t console_len(const struct hvd_instance *h, const char *id)
{
	size_t len = 0;

	free(console_of(h, id, &len));
	return len;
}

static void new_counter_vm(const struct hvd_instance *h, const char *name)
{
	free(run_ok(h, "New-VM -Name %s -MemoryStartupBytes 64MB | Out-Null; "
		       "Set-VMFirmware %s -KernelCommandLine 'hvguest.counter=1' | Out-Null",
		    name, name));
}

/* Pauses the VM and says the last count it printed. */
static long pause_at(const struct hvd_instance *h, const char *name, const char *id)
{
	char *c;
	long k;

	free(run_ok(h, "Suspend-VM %s", name));
	c = console_of(h, id, NULL);
	k = count_in(c, 0, true);
	free(c);
	return k;
}

/* ---- disks through libvhdx ---- */

static char *drive_path(const struct hvd_instance *h, const char *vm)
{
	return run_ok(h, "(Get-VMHardDiskDrive %s).Path", vm);
}

/* Whether a writer (a worker) holds path's lock: a shared flock fails against it. */
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

static void disk_write(const char *path, uint64_t off, const char *text)
{
	struct vhdx *v = NULL;
	char buf[512] = { 0 };

	snprintf(buf, sizeof(buf), "%s", text);
	if (held(path))
		fail_msg("%s is held by a worker: turn its VM off before writing it", path);
	assert_int_equal(vhdx_open(path, VHDX_OPEN_RDWR, &v), 0);
	assert_int_equal(vhdx_write(v, buf, sizeof(buf), off), 0);
	assert_int_equal(vhdx_close(v), 0);
}

static void disk_expect(const char *path, uint64_t off, const char *text)
{
	struct vhdx *v = NULL;
	char buf[512];

	if (held(path))
		fail_msg("%s is held by a worker: turn its VM off before reading it", path);
	assert_int_equal(vhdx_open(path, 0, &v), 0);
	assert_int_equal(vhdx_read(v, buf, sizeof(buf), off), 0);
	vhdx_free(v);
	buf[511] = '\0';
	if (strcmp(buf, text))
		fail_msg("%s at %llu holds [%s], not [%s]", path, (unsigned long long)off, buf, text);
}

/* ---- consistency: the tree, the files, the disks ---- */

static int count_lines(const char *s, const char *prefix)
{
	int n = 0;

	for (; s && *s; s = strchr(s, '\n') ? strchr(s, '\n') + 1 : "")
		n += !strncmp(s, prefix, strlen(prefix));
	return n;
}

/* Every folder under checkpoints/ is in the tree and every checkpoint of the tree has its
 * folder; every .avhdx in the disk folder is on a chain of the VM or of a checkpoint. */
static int check_consistent(const struct hvd_instance *h, const char *id, const char *diskdir)
{
	char path[700], *tree, *chains;
	struct dirent *e;
	int n, folders = 0;
	DIR *d;

	snprintf(path, sizeof(path), "%s/vms/%s/checkpoints/tree", h->state, id);
	tree = slurp(path, NULL);
	n = count_lines(tree, "checkpoint ");
	snprintf(path, sizeof(path), "%s/vms/%s/checkpoints", h->state, id);
	d = opendir(path);
	while (d && (e = readdir(d))) {
		if (e->d_name[0] == '.' || !strcmp(e->d_name, "tree"))
			continue;
		if (!strstr(tree, e->d_name))
			fail_msg("orphan in checkpoints/: %s (tree:\n%s)", e->d_name, tree);
		folders++;
	}
	if (d)
		closedir(d);
	assert_int_equal(folders, n);
	if (diskdir) {
		chains = run_ok(h, "$v = Get-VM -Id %s; (Get-VMHardDiskDrive -VMName $v.Name).Path; "
				   "Get-VMCheckpoint -VMName $v.Name | ForEach-Object { $_.HardDrives }",
				id);
		d = opendir(diskdir);
		while (d && (e = readdir(d))) {
			char full[700], *walk;
			bool found = false;

			if (!strstr(e->d_name, ".avhdx"))
				continue;
			snprintf(full, sizeof(full), "%s/%s", diskdir, e->d_name);
			/* on a chain: named, or a parent of something named */
			for (walk = chains; *walk && !found;) {
				char one[700];
				size_t l = strcspn(walk, "\n");
				struct vhdx *v = NULL;
				const struct vhdx *p;

				snprintf(one, sizeof(one), "%.*s", (int)l, walk);
				walk += l + (walk[l] == '\n');
				if (vhdx_open(one, 0, &v) != 0)
					continue;
				for (p = v; p && !found; p = vhdx_parent_get(p)) {
					struct vhdx_info info;

					if (p == v)
						found = !strcmp(one, full);
					if (vhdx_info_get(p, &info) == 0 && info.parent_path &&
					    !strcmp(info.parent_path, full))
						found = true;
				}
				vhdx_free(v);
			}
			if (!found)
				fail_msg("orphan disk %s (chains:\n%s)", full, chains);
		}
		if (d)
			closedir(d);
		free(chains);
	}
	free(tree);
	return n;
}

static void fresh_disk(const char *dir, char *out, size_t len)
{
	char *argv[] = { (char *)build_path("cli/hv-img"), "create", "-o", "type=dynamic", out, "64M", NULL };
	struct run_result r;

	snprintf(out, len, "%s/d0.vhdx", dir);
	mkdir(dir, 0700);
	run_program(argv, NULL, &r);
	assert_int_equal(r.status, 0);
	run_result_free(&r);
}

/* ---- tests ---- */

static void test_counter_restore(void **state)
{
	struct hvd_instance *h = *state;
	char id[64], *s;
	long k, k2, first;
	size_t from;

	new_counter_vm(h, "c1");
	vm_id(h, "c1", id);
	free(run_ok(h, "Start-VM c1"));
	wait_count(h, id, 0, 3, false);
	k = pause_at(h, "c1", id);
	free(run_ok(h, "Checkpoint-VM c1 -SnapshotName paused"));
	free(run_ok(h, "Resume-VM c1"));
	wait_count(h, id, 0, k + 5, false);
	/* a running checkpoint: the count is between what was printed before and after */
	s = console_of(h, id, NULL);
	k2 = count_in(s, 0, true);
	free(s);
	free(run_ok(h, "Checkpoint-VM c1 -SnapshotName running"));
	s = console_of(h, id, NULL);
	first = count_in(s, 0, true);
	free(s);
	wait_count(h, id, 0, first + 5, false);

	free(run_ok(h, "Suspend-VM c1")); /* nothing printed between here and the restore */
	from = console_len(h, id);
	free(run_ok(h, "Restore-VMCheckpoint -VMName c1 -Name paused"));
	s = run_ok(h, "(Get-VM c1).State");
	assert_string_equal(s, "Paused");
	free(s);
	free(run_ok(h, "Resume-VM c1"));
	assert_int_equal(wait_count(h, id, from, 0, true), k + 1);

	free(run_ok(h, "Suspend-VM c1"));
	from = console_len(h, id);
	free(run_ok(h, "Restore-VMCheckpoint -VMName c1 -Name running"));
	s = run_ok(h, "(Get-VM c1).State");
	assert_string_equal(s, "Running");
	free(s);
	{
		long got = wait_count(h, id, from, 0, true);

		assert_true(got >= k2 + 1 && got <= first + 1);
	}
	s = run_ok(h, "Get-VMSnapshot c1 | Where-Object IsCurrent | ForEach-Object { $_.Name }");
	assert_string_equal(s, "running");
	free(s);
	free(run_ok(h, "Stop-VM c1 -TurnOff"));
	assert_int_equal(check_consistent(h, id, NULL), 2);
}

/* Three checkpoints in a chain, with a disk, applied in any order; then the middle one goes. */
static void test_tree_and_disks(void **state)
{
	struct hvd_instance *h = *state;
	const char *names[3] = { "t1", "t2", "t3" };
	int order[] = { 1, 0, 2, 1, 0 };
	char id[64], disks[400], d0[500], *p, *s;
	long k[3];
	size_t i, from;

	snprintf(disks, sizeof(disks), "%s/disks", h->dir);
	fresh_disk(disks, d0, sizeof(d0));
	disk_write(d0, 0, "base");
	new_counter_vm(h, "c2");
	vm_id(h, "c2", id);
	free(run_ok(h, "Add-VMHardDiskDrive -VMName c2 -Path %s -ControllerType SCSI", d0));
	/* Each stage: written while off, then a paused checkpoint of the running VM (its worker
	 * makes the new layer), then off again for the next stage's writes. */
	for (i = 0; i < 3; i++) {
		char text[32];

		p = drive_path(h, "c2");
		snprintf(text, sizeof(text), "stage %zu", i);
		disk_write(p, 0, text);
		disk_write(p, (i + 1) * MIB, text);
		free(run_ok(h, "Start-VM c2"));
		assert_true(held(p));
		free(p);
		from = console_len(h, id);
		wait_count(h, id, from, 3, false);
		k[i] = pause_at(h, "c2", id);
		free(run_ok(h, "Checkpoint-VM c2 -SnapshotName %s", names[i]));
		free(run_ok(h, "Stop-VM c2 -TurnOff"));
	}
	p = drive_path(h, "c2");
	disk_write(p, 0, "after");
	free(p);
	for (i = 0; i < sizeof(order) / sizeof(order[0]); i++) {
		int c = order[i];
		char text[32];

		from = console_len(h, id);
		free(run_ok(h, "Restore-VMCheckpoint -VMName c2 -Name %s", names[c]));
		free(run_ok(h, "Resume-VM c2"));
		assert_int_equal(wait_count(h, id, from, 0, true), k[c] + 1);
		free(run_ok(h, "Stop-VM c2 -TurnOff"));
		p = drive_path(h, "c2");
		snprintf(text, sizeof(text), "stage %d", c);
		disk_expect(p, 0, text);
		disk_expect(p, (uint64_t)(c + 1) * MIB, text);
		/* writes after a restore go to a fresh layer: the checkpoint keeps its state */
		disk_write(p, 0, "scribble");
		free(p);
	}
	assert_int_equal(check_consistent(h, id, disks), 3);

	/* The middle one goes: its layer merges, t3 still reads stage 2, t1 stage 0. */
	free(run_ok(h, "Stop-VM c2 -TurnOff; Remove-VMCheckpoint -VMName c2 -Name t2"));
	s = run_ok(h, "Get-VMCheckpoint c2 | ForEach-Object { $_.Name + '<' + $_.ParentCheckpointName }");
	assert_string_equal(s, "t1<\nt3<t1");
	free(s);
	assert_int_equal(check_consistent(h, id, disks), 2);
	free(run_ok(h, "Restore-VMCheckpoint -VMName c2 -Name t3; Stop-VM c2 -TurnOff"));
	p = drive_path(h, "c2");
	disk_expect(p, 0, "stage 2");
	disk_expect(p, 1 * MIB, "stage 0");
	disk_expect(p, 2 * MIB, "stage 1");
	disk_expect(p, 3 * MIB, "stage 2");
	{
		/* the flattened chain, by hv-img and then qemu-img */
		char raw1[500], flat[500], raw2[500];
		char *conv[] = { (char *)build_path("cli/hv-img"), "convert", "-O", "raw", p, raw1, NULL };
		char *conv2[] = { (char *)build_path("cli/hv-img"), "convert", "-O", "vhdx", p, flat, NULL };
		char *check[] = { (char *)build_path("cli/hv-img"), "check", p, NULL };
		char *q[] = { "/usr/bin/qemu-img", "convert", "-f", "vhdx", "-O", "raw", flat, raw2, NULL };
		char *cmp[] = { "/usr/bin/cmp", raw1, raw2, NULL };
		struct run_result r;
		char *a;
		size_t la;

		snprintf(raw1, sizeof(raw1), "%s/flat1.raw", h->dir);
		snprintf(flat, sizeof(flat), "%s/flat.vhdx", h->dir);
		snprintf(raw2, sizeof(raw2), "%s/flat2.raw", h->dir);
		run_program(check, NULL, &r);
		assert_int_equal(r.status, 0);
		run_result_free(&r);
		run_program(conv, NULL, &r);
		assert_int_equal(r.status, 0);
		run_result_free(&r);
		a = slurp(raw1, &la);
		assert_true(la == 64 * MIB);
		assert_string_equal(a, "stage 2");
		assert_string_equal(a + 2 * MIB, "stage 1");
		free(a);
		run_program(conv2, NULL, &r);
		assert_int_equal(r.status, 0);
		run_result_free(&r);
		if (access("/usr/bin/qemu-img", X_OK) == 0) {
			run_program(q, NULL, &r);
			assert_int_equal(r.status, 0);
			run_result_free(&r);
			run_program(cmp, NULL, &r);
			assert_int_equal(r.status, 0);
			run_result_free(&r);
		} else {
			printf("qemu-img is not installed: the flattened image is checked with hv-img only\n");
		}
	}
	free(p);
	free(run_ok(h, "Restore-VMCheckpoint -VMName c2 -Name t1; Stop-VM c2 -TurnOff"));
	p = drive_path(h, "c2");
	disk_expect(p, 0, "stage 0");
	disk_expect(p, 2 * MIB, "");
	free(p);
	/* all of them, then the disk is back to one layer over the base */
	free(run_ok(h, "Remove-VMCheckpoint -VMName c2 -Name t1 -IncludeAllChildCheckpoints"));
	assert_int_equal(check_consistent(h, id, disks), 0);
	p = drive_path(h, "c2");
	disk_expect(p, 0, "stage 0");
	free(p);
}

/* ---- a running guest's disk ---- */

#define MARK_OFF (MIB + 64 * 1024) /* between hvguest's disktest points (every MiB of 64) */

/* Waits for text on the VM's console. */
static void wait_text(const struct hvd_instance *h, const char *id, const char *text)
{
	int i;

	for (i = 0; i < 1200; i++) {
		char *c = console_of(h, id, NULL);
		struct timespec ts = { 0, 100000000 };
		bool found = strstr(c, text) != NULL;

		free(c);
		if (found)
			return;
		nanosleep(&ts, NULL);
	}
	fail_msg("VM %s never printed [%s]", id, text);
}

/* What hvguest's disktest leaves at off (storage.c): pattern(offset) in every 8-byte word
 * (controller 0, location 0). */
static void expect_guest_pattern(const char *path, uint64_t off)
{
	uint64_t salt = (uint64_t)1 << 48, word[512];
	struct vhdx *v = NULL;
	size_t k;

	assert_false(held(path));
	assert_int_equal(vhdx_open(path, 0, &v), 0);
	assert_int_equal(vhdx_read(v, word, sizeof(word), off), 0);
	vhdx_free(v);
	for (k = 0; k < 512; k++)
		if (word[k] != ((off + 8 * k) ^ salt) * 0x9e3779b97f4a7c15ULL)
			fail_msg("%s at %llu does not hold what the guest wrote", path, (unsigned long long)(off + 8 * k));
}

/* A guest that wrote its disk is checkpointed twice while it runs: each time its worker
 * switches to the new layer (Get-VMBusChannel shows it writing the child hvd names) and the
 * checkpoint keeps the layer; the guest runs on. A restore gives back the checkpoint's disk
 * (not what was written after) and count. A checkpoint removed while the VM runs leaves its
 * layer until the VM is off, then it is merged. */
static void test_running_disks(void **state)
{
	struct hvd_instance *h = *state;
	char id[64], disks[400], d0[500], *s, *child, *child2, *p;
	long before, after, got;
	size_t from;
	int i;

	snprintf(disks, sizeof(disks), "%s/disks", h->dir);
	fresh_disk(disks, d0, sizeof(d0));
	disk_write(d0, MARK_OFF, "before");
	free(run_ok(h, "New-VM -Name r1 -MemoryStartupBytes 64MB | Out-Null; "
		       "Set-VMFirmware r1 -KernelCommandLine 'hvguest.counter=1 hvguest.disktest=1' | Out-Null; "
		       "Add-VMHardDiskDrive -VMName r1 -Path %s",
		    d0));
	vm_id(h, "r1", id);
	free(run_ok(h, "Start-VM r1"));
	wait_text(h, id, "hvguest: disk 0:0 size=67108864 test=ok");
	wait_count(h, id, 0, 3, false);
	s = console_of(h, id, NULL);
	before = count_in(s, 0, true);
	free(s);
	s = run_ok(h, "(Checkpoint-VM r1 -SnapshotName live -PassThru).State");
	assert_string_equal(s, "Running");
	free(s);
	s = console_of(h, id, NULL);
	after = count_in(s, 0, true);
	free(s);
	child = drive_path(h, "r1");
	assert_true(strcmp(child, d0) != 0 && strstr(child, ".avhdx"));
	assert_true(held(child));
	assert_false(held(d0)); /* the layer: read-only from now on */
	s = run_ok(h, "(Get-VMCheckpoint r1 -Name live).HardDrives");
	assert_string_equal(s, d0);
	free(s);
	/* the worker's next sample names the disk it writes now */
	for (i = 0; i < 200; i++) {
		struct timespec ts = { 0, 100000000 };
		bool now;

		s = run_ok(h, "(Get-VMBusChannel r1 | Where-Object Name -like *SCSI*).Disks | ForEach-Object { $_.Path }");
		now = !strcmp(s, child);
		if (!now && strcmp(s, d0))
			fail_msg("Get-VMBusChannel shows the disk at [%s]", s);
		free(s);
		if (now)
			break;
		nanosleep(&ts, NULL);
	}
	assert_true(i < 200);
	wait_count(h, id, 0, after + 3, false); /* it runs on */

	/* a second one, then removed while running: its layer stays until the VM is off */
	free(run_ok(h, "Checkpoint-VM r1 -SnapshotName live2"));
	child2 = drive_path(h, "r1");
	assert_true(held(child2));
	free(run_ok(h, "Remove-VMCheckpoint -VMName r1 -Name live2"));
	assert_int_equal(access(child, F_OK), 0);
	assert_true(held(child2));
	free(run_ok(h, "Stop-VM r1 -TurnOff"));
	p = drive_path(h, "r1");
	assert_string_equal(p, child2);
	free(p);
	assert_int_equal(access(child, F_OK), -1); /* merged into child2 */
	expect_guest_pattern(child2, 0);
	disk_write(child2, MARK_OFF, "after");
	assert_int_equal(check_consistent(h, id, disks), 1);

	from = console_len(h, id);
	free(run_ok(h, "Restore-VMCheckpoint -VMName r1 -Name live"));
	s = run_ok(h, "(Get-VM r1).State");
	assert_string_equal(s, "Running");
	free(s);
	got = wait_count(h, id, from, 0, true);
	assert_true(got >= before + 1 && got <= after + 1);
	/* The guest's disk counter came back with it: the first line after the restore reads
	 * what the checkpoint's layer held, just below the memory counter (a disk left at its
	 * newer state would read above it). Then both go on. */
	{
		char *c = console_of(h, id, NULL), *line = strstr(c + from, "hvguest: counter mem=");
		long mem, disk;

		assert_non_null(line);
		mem = strtol(line + strlen("hvguest: counter mem="), NULL, 10);
		assert_non_null(strstr(line, " disk="));
		disk = strtol(strstr(line, " disk=") + 6, NULL, 10);
		if (!(disk >= 1 && mem - disk >= 1 && mem - disk <= 3))
			fail_msg("after the restore: mem=%ld disk=%ld", mem, disk);
		free(c);
		wait_count(h, id, from, got + 3, false); /* disk I/O after the restore works */
	}
	free(run_ok(h, "Stop-VM r1 -TurnOff"));
	p = drive_path(h, "r1");
	assert_true(strcmp(p, d0) && strcmp(p, child2));
	disk_expect(p, MARK_OFF, "before");
	expect_guest_pattern(p, 0);
	expect_guest_pattern(p, 32 * MIB);
	free(p);
	assert_int_equal(check_consistent(h, id, disks), 1);
	free(child);
	free(child2);
}

static void test_save_vm_and_types(void **state)
{
	struct hvd_instance *h = *state;
	char id[64], *s;
	long k;
	size_t from;

	new_counter_vm(h, "c3");
	vm_id(h, "c3", id);
	free(run_ok(h, "Start-VM c3"));
	wait_count(h, id, 0, 3, false);
	free(run_ok(h, "Save-VM c3"));
	s = run_ok(h, "(Get-VM c3).State");
	assert_string_equal(s, "Saved");
	free(s);
	s = console_of(h, id, &from);
	k = count_in(s, 0, true);
	free(s);
	free(run_ok(h, "Checkpoint-VM c3 -SnapshotName saved"));
	free(run_ok(h, "Start-VM c3"));
	assert_int_equal(wait_count(h, id, from, 0, true), k + 1);

	/* checkpoint types */
	free(run_ok(h, "Set-VM c3 -CheckpointType Disabled"));
	s = run_fail(h, "Checkpoint-VM c3");
	assert_contains(s, "disabled");
	free(s);
	free(run_ok(h, "Set-VM c3 -CheckpointType ProductionOnly"));
	s = run_fail(h, "Checkpoint-VM c3");
	assert_contains(s, "production checkpoint");
	free(s);
	free(run_ok(h, "Set-VM c3 -CheckpointType Production"));
	s = run_ok(h, "(Checkpoint-VM c3 -SnapshotName prod -PassThru).CheckpointType");
	assert_string_equal(s, "Standard");
	free(s);
	s = run_fail(h, "Set-VM c3 -CheckpointType Sometimes");
	assert_contains(s, "Standard, Production, ProductionOnly or Disabled");
	free(s);
	/* the checkpoint of the saved VM restores it saved */
	free(run_ok(h, "Restore-VMCheckpoint -VMName c3 -Name saved"));
	s = run_ok(h, "(Get-VM c3).State");
	assert_string_equal(s, "Saved");
	free(s);
	free(run_ok(h, "Remove-VMSavedState c3; Rename-VMCheckpoint -VMName c3 -Name saved -NewName kept"));
	s = run_ok(h, "(Get-VM c3).State; (Get-VMCheckpoint c3 -Name kept).Name");
	assert_string_equal(s, "Off\nkept");
	free(s);
	assert_int_equal(check_consistent(h, id, NULL), 2);
}

/* Polls script until its output holds want (the guest runs in an emulator: up to 60 s). */
static char *wait_output(const struct hvd_instance *h, const char *script, const char *want)
{
	int i;

	for (i = 0; i < 240; i++) {
		char *out = run_ok(h, "%s", script);
		struct timespec ts = { 0, 250000000 };

		if (strstr(out, want))
			return out;
		free(out);
		nanosleep(&ts, NULL);
	}
	fail_msg("`%s` never printed [%s]", script, want);
	return NULL;
}

static unsigned long long heartbeat_in(const struct hvd_instance *h, const char *vm)
{
	char *out = run_ok(h, "(Get-VMBusChannel %s | Where-Object Name -eq Heartbeat).PacketsIn", vm);
	unsigned long long n = strtoull(out, NULL, 10);

	free(out);
	return n;
}

/* A running checkpoint holds the guest's VMBus too: after Restore-VMCheckpoint the heartbeat
 * is answered again (its counters going on from the checkpoint's), and a plain Stop-VM shuts
 * the guest down through its shutdown service. */
static void test_restore_vmbus(void **state)
{
	struct hvd_instance *h = *state;
	unsigned long long at_ckpt, n;
	char id[64], *s;
	size_t from;
	int i;

	new_counter_vm(h, "c5");
	vm_id(h, "c5", id);
	free(run_ok(h, "Start-VM c5"));
	wait_count(h, id, 0, 3, false);
	free(wait_output(h, "(Get-VMIntegrationService c5 -Name Heartbeat).PrimaryStatusDescription", "OK"));
	free(run_ok(h, "Checkpoint-VM c5 -SnapshotName live"));
	at_ckpt = heartbeat_in(h, "c5");
	assert_true(at_ckpt >= 2);
	from = console_len(h, id);
	free(run_ok(h, "Restore-VMCheckpoint -VMName c5 -Name live"));
	s = run_ok(h, "(Get-VM c5).State");
	assert_string_equal(s, "Running");
	free(s);
	wait_count(h, id, from, 0, true);
	n = heartbeat_in(h, "c5");
	for (i = 0; i < 240 && heartbeat_in(h, "c5") <= n; i++) {
		struct timespec ts = { 0, 250000000 };

		nanosleep(&ts, NULL);
	}
	assert_true(heartbeat_in(h, "c5") > n);
	free(wait_output(h, "(Get-VMIntegrationService c5 -Name Heartbeat).PrimaryStatusDescription", "OK"));
	s = run_ok(h, "(Get-VMBusChannel c5 | Where-Object Name -eq Heartbeat).State");
	assert_string_equal(s, "Open");
	free(s);
	free(run_ok(h, "Stop-VM c5"));
	free(wait_output(h, "(Get-VM c5).State", "Off"));
	s = console_of(h, id, NULL);
	assert_true(strlen(s) > from);
	assert_non_null(strstr(s + from, "hvguest: shutdown requested\n"));
	free(s);
}

static void test_corrupt_state(void **state)
{
	struct hvd_instance *h = *state;
	char id[64], path[700], *ck, *s;
	FILE *f;

	new_counter_vm(h, "c4");
	vm_id(h, "c4", id);
	free(run_ok(h, "Start-VM c4"));
	wait_count(h, id, 0, 2, false);
	free(run_ok(h, "Checkpoint-VM c4 -SnapshotName bad; Stop-VM c4 -TurnOff"));
	ck = run_ok(h, "(Get-VMCheckpoint c4).Path");
	snprintf(path, sizeof(path), "%s/state.hvsav", ck);
	f = fopen(path, "r+");
	assert_non_null(f);
	fseek(f, 200, SEEK_SET);
	fputs("garbage", f);
	fclose(f);
	s = run_fail(h, "Restore-VMCheckpoint -VMName c4 -Name bad");
	assert_contains(s, "cannot restore the saved state");
	assert_contains(s, "checksum");
	free(s);
	s = run_ok(h, "(Get-VM c4).State");
	assert_string_equal(s, "Off");
	free(s);
	assert_int_equal(truncate(path, 100), 0);
	s = run_fail(h, "Restore-VMCheckpoint -VMName c4 -Name bad");
	assert_contains(s, "truncated");
	free(s);
	free(ck);
	/* still usable: it boots afresh */
	free(run_ok(h, "Start-VM c4; Stop-VM c4 -TurnOff"));
}

static void test_drives(void **state)
{
	struct hvd_instance *h = *state;
	char disks[400], d0[500], *s;

	snprintf(disks, sizeof(disks), "%s/disks", h->dir);
	fresh_disk(disks, d0, sizeof(d0));
	new_counter_vm(h, "a");
	new_counter_vm(h, "b");
	free(run_ok(h, "Add-VMHardDiskDrive -VMName a -Path %s -ControllerLocation 3", d0));
	s = run_ok(h, "Get-VMHardDiskDrive a | ForEach-Object { $_.ControllerType + ' ' + $_.ControllerNumber + ' ' + $_.ControllerLocation }");
	assert_string_equal(s, "SCSI 0 3");
	free(s);
	free(run_ok(h, "Set-VMHardDiskDrive a -ControllerNumber 0 -ControllerLocation 3 -ToControllerLocation 1"));
	s = run_ok(h, "(Get-VMHardDiskDrive a).ControllerLocation");
	assert_string_equal(s, "1");
	free(s);
	s = run_fail(h, "Add-VMHardDiskDrive -VMName a -Path /nonexistent/x.vhdx");
	assert_contains(s, "Cannot attach");
	free(s);
	s = run_fail(h, "Add-VMHardDiskDrive -VMName a -Path /tmp/x.vhdx -ControllerType IDE");
	assert_contains(s, "SCSI controllers only");
	free(s);
	free(run_ok(h, "Start-VM a"));
	{
		char script[700];

		snprintf(script, sizeof(script), "Add-VMHardDiskDrive -VMName b -Path %s", d0);
		s = run_fail(h, script);
		assert_contains(s, "in use by the running virtual machine \"a\"");
		free(s);
		snprintf(script, sizeof(script), "Resize-VHD -Path %s -SizeBytes 128MB", d0);
		s = run_fail(h, script);
		assert_contains(s, "in use by the running virtual machine");
		free(s);
	}
	free(run_ok(h, "Checkpoint-VM a -SnapshotName one"));
	{
		char *cur = drive_path(h, "a"), script[800];

		snprintf(script, sizeof(script), "Merge-VHD -Path %s", cur);
		s = run_fail(h, script);
		assert_contains(s, "in use by the running virtual machine");
		free(s);
		free(cur);
	}
	free(run_ok(h, "Stop-VM a -TurnOff; Add-VMHardDiskDrive -VMName b -Path %s", d0));
	free(run_ok(h, "Get-VMHardDiskDrive a | Remove-VMHardDiskDrive"));
	s = run_ok(h, "(Get-VMHardDiskDrive a | Measure-Object).Count");
	assert_string_equal(s, "0");
	free(s);
}

/* ---- crashes ---- */

static void restart(struct hvd_instance *h, const char *fault)
{
	hvd_stop(h, true);
	if (fault)
		setenv("HVKIT_FAULT", fault, 1);
	else
		unsetenv("HVKIT_FAULT");
	hvd_start_again(h);
}

/* The VM starts and counts after whatever happened. */
static void starts(struct hvd_instance *h, const char *name, const char *id)
{
	size_t from;

	free(run_ok(h, "Stop-VM %s -TurnOff", name));
	from = console_len(h, id);
	free(run_ok(h, "Start-VM %s", name));
	wait_count(h, id, from, 1, true);
}

static void test_crash_checkpoint(void **state)
{
	struct hvd_instance *h = *state;
	static const char *const points[] = { "checkpoint-after-config", "worker-save", "worker-switch",
					      "checkpoint-after-save", "checkpoint-after-disks", "checkpoint-after-rename",
					      "checkpoint-after-tree" };
	char id[64], disks[400], d0[500];
	int before, after;
	size_t i;

	snprintf(disks, sizeof(disks), "%s/disks", h->dir);
	fresh_disk(disks, d0, sizeof(d0));
	new_counter_vm(h, "f1");
	vm_id(h, "f1", id);
	free(run_ok(h, "Add-VMHardDiskDrive -VMName f1 -Path %s", d0));
	for (i = 0; i < sizeof(points) / sizeof(points[0]); i++) {
		struct run_result r;
		char *p;

		restart(h, points[i]);
		free(run_ok(h, "Stop-VM f1 -TurnOff; Start-VM f1"));
		wait_count(h, id, console_len(h, id), 1, true);
		before = check_consistent(h, id, disks);
		hvctl_run(h, NULL, "Checkpoint-VM f1 -SnapshotName crash", &r, NULL);
		run_result_free(&r);
		restart(h, NULL);
		after = check_consistent(h, id, disks);
		/* the checkpoint is there once the tree was written, else not at all */
		if (!strcmp(points[i], "checkpoint-after-tree"))
			assert_int_equal(after, before + 1);
		else
			assert_int_equal(after, before);
		/* Whatever happened, the worker (if it lives) writes the drive hvd names. */
		p = drive_path(h, "f1");
		if (strncmp(points[i], "worker-", 7)) {
			assert_true(held(p));
		}
		free(run_ok(h, "Stop-VM f1 -TurnOff"));
		disk_write(p, 0, points[i]); /* the VM's disk is writable and not a layer */
		free(p);
		starts(h, "f1", id);
		free(run_ok(h, "Get-VMCheckpoint f1 | Out-Null"));
	}
	/* a restore to each checkpoint left still works */
	free(run_ok(h, "Get-VMCheckpoint f1 | Select-Object -First 1 | Restore-VMCheckpoint"));
	check_consistent(h, id, disks);
}

static void test_crash_remove(void **state)
{
	struct hvd_instance *h = *state;
	static const char *const points[] = { "remove-after-tree", "remove-before-merge", "collapse-before-merge" };
	char id[64], disks[400], d0[500];
	size_t i;

	snprintf(disks, sizeof(disks), "%s/disks", h->dir);
	fresh_disk(disks, d0, sizeof(d0));
	new_counter_vm(h, "f2");
	vm_id(h, "f2", id);
	free(run_ok(h, "Add-VMHardDiskDrive -VMName f2 -Path %s", d0));
	for (i = 0; i < sizeof(points) / sizeof(points[0]); i++) {
		struct run_result r;
		char *p, text[64];
		int n;

		/* three checkpoints, the middle one's disk marked */
		free(run_ok(h, "Checkpoint-VM f2 -SnapshotName x1"));
		p = drive_path(h, "f2");
		snprintf(text, sizeof(text), "middle %zu", i);
		disk_write(p, 4 * MIB, text);
		free(p);
		free(run_ok(h, "Checkpoint-VM f2 -SnapshotName x2; Checkpoint-VM f2 -SnapshotName x3"));
		restart(h, points[i]);
		hvctl_run(h, NULL, "Remove-VMCheckpoint -VMName f2 -Name x2", &r, NULL);
		run_result_free(&r);
		restart(h, NULL);
		n = check_consistent(h, id, disks);
		assert_int_equal(n, 2);
		p = drive_path(h, "f2");
		disk_expect(p, 4 * MIB, text);
		free(p);
		free(run_ok(h, "Restore-VMCheckpoint -VMName f2 -Name x3"));
		p = drive_path(h, "f2");
		disk_expect(p, 4 * MIB, text);
		free(p);
		starts(h, "f2", id);
		free(run_ok(h, "Stop-VM f2 -TurnOff; Remove-VMCheckpoint -VMName f2 -Name x1 -IncludeAllChildCheckpoints"));
		assert_int_equal(check_consistent(h, id, disks), 0);
	}
}

/* An orphan left by something else is found and reported at startup. */
static void test_orphans_reported(void **state)
{
	struct hvd_instance *h = *state;
	char id[64], path[700], *log;

	new_counter_vm(h, "o1");
	vm_id(h, "o1", id);
	snprintf(path, sizeof(path), "%s/vms/%s/checkpoints", h->state, id);
	mkdir(path, 0700);
	snprintf(path, sizeof(path), "%s/vms/%s/checkpoints/11111111-2222-4333-8444-555555555555", h->state, id);
	mkdir(path, 0700);
	snprintf(path, sizeof(path), "%s/vms/%s/checkpoints/21111111-2222-4333-8444-555555555555.tmp", h->state, id);
	mkdir(path, 0700);
	restart(h, NULL);
	assert_int_equal(check_consistent(h, id, NULL), 0);
	snprintf(path, sizeof(path), "%s/hvd.log", h->state);
	log = slurp(path, NULL);
	if (*log) {
		assert_contains(log, "orphaned checkpoint files");
		assert_contains(log, "incomplete checkpoint files");
	}
	free(log);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_counter_restore, hvd_setup, hvd_teardown),
		cmocka_unit_test_setup_teardown(test_tree_and_disks, hvd_setup, hvd_teardown),
		cmocka_unit_test_setup_teardown(test_running_disks, hvd_setup, hvd_teardown),
		cmocka_unit_test_setup_teardown(test_save_vm_and_types, hvd_setup, hvd_teardown),
		cmocka_unit_test_setup_teardown(test_restore_vmbus, hvd_setup, hvd_teardown),
		cmocka_unit_test_setup_teardown(test_corrupt_state, hvd_setup, hvd_teardown),
		cmocka_unit_test_setup_teardown(test_drives, hvd_setup, hvd_teardown),
		cmocka_unit_test_setup_teardown(test_crash_checkpoint, hvd_setup, hvd_teardown),
		cmocka_unit_test_setup_teardown(test_crash_remove, hvd_setup, hvd_teardown),
		cmocka_unit_test_setup_teardown(test_orphans_reported, hvd_setup, hvd_teardown),
	};
	int fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);

	if (fd < 0) {
		printf("SKIP: checkpoints need partitions, and /dev/kvm cannot be opened: %s\n", strerror(errno));
		return 77;
	}
	close(fd);
	unsetenv("HVKIT_FAULT");
	return cmocka_run_group_tests(tests, NULL, NULL);
}
