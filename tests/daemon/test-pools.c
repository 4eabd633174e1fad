/*
 * Integration: pools under a real hvd. Twenty hvguest partitions over one golden VHDX, each
 * counting on its own disk (hvguest.counter=1 writes at byte 4096 and prints what it read
 * there first), prove that every member sees the golden contents, writes only its own
 * differencing disk, and is returned to the golden contents by Reset-VMPoolMember; the golden
 * image is locked against writers and never changes; removing the pool leaves nothing behind.
 * The partition tests skip, with the reason, where /dev/kvm cannot be opened; the checks of
 * bad input run everywhere.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "formats/vhdx/vhdx.h"
#include "tests/daemon/harness.h"

#define GOLDEN_MARK 19088743ull /* what the golden image holds at byte 4096 */
#define GOLDEN2_MARK 4242424242ull

static bool have_kvm;

static char *run_ok(const struct hvd_instance *h, const char *script)
{
	struct run_result r;
	char *out;

	hvctl_run(h, NULL, script, &r, NULL);
	if (r.status != 0)
		fail_msg("hvctl -c '%s' exited %d:\n%s%s", script, r.status, r.out, r.err);
	out = r.out;
	r.out = NULL;
	run_result_free(&r);
	if (out[0] && out[strlen(out) - 1] == '\n')
		out[strlen(out) - 1] = '\0';
	return out;
}

/* Runs a script that must fail with exit status 1 and an error containing want. */
static void run_fails(const struct hvd_instance *h, const char *script, const char *want)
{
	struct run_result r;

	hvctl_run(h, NULL, script, &r, NULL);
	if (r.status != 1 || !strstr(r.err, want))
		fail_msg("hvctl -c '%s' exited %d, expected 1 and [%s]:\n%s%s", script, r.status, want, r.out, r.err);
	run_result_free(&r);
}

static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	long n;

	if (!f)
		return NULL;
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	buf = malloc((size_t)n + 1);
	assert_non_null(buf);
	if (fread(buf, 1, (size_t)n, f) != (size_t)n)
		n = 0;
	buf[n] = '\0';
	fclose(f);
	if (len)
		*len = (size_t)n;
	return buf;
}

/* A golden image: 8 MiB of a pattern with mark at byte 4096, made by hv-img from raw. */
static void make_golden(const struct hvd_instance *h, const char *path, uint64_t mark)
{
	char raw[600], *argv[] = { (char *)build_path("cli/hv-img"), "convert", "-O", "vhdx", raw, (char *)path, NULL };
	static uint8_t buf[8 << 20];
	struct run_result r;
	FILE *f;
	size_t i;

	for (i = 0; i < sizeof(buf); i++)
		buf[i] = (uint8_t)(i * 7 + (i >> 12));
	memcpy(buf + 4096, &mark, sizeof(mark));
	snprintf(raw, sizeof(raw), "%s/golden.raw", h->dir);
	f = fopen(raw, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(buf, 1, sizeof(buf), f), sizeof(buf));
	fclose(f);
	run_program(argv, NULL, &r);
	if (r.status != 0)
		fail_msg("hv-img convert: %s%s", r.out, r.err);
	run_result_free(&r);
	unlink(raw);
}

/* The 8 bytes at 4096 of an image, through its chain. */
static uint64_t mark_of(const char *path)
{
	struct vhdx *v = NULL;
	uint64_t m = 0;

	if (vhdx_open(path, 0, &v) != 0)
		fail_msg("cannot open %s", path);
	assert_int_equal(vhdx_read(v, &m, sizeof(m), 4096), 0);
	vhdx_free(v);
	return m;
}

/* Writes mark at byte 4096 of an image (a member's own disk, as its guest would). */
static void mark_set(const char *path, uint64_t mark)
{
	struct vhdx *v = NULL;

	if (vhdx_open(path, VHDX_OPEN_RDWR, &v) != 0)
		fail_msg("cannot open %s for writing", path);
	assert_int_equal(vhdx_write(v, &mark, sizeof(mark), 4096), 0);
	assert_int_equal(vhdx_flush(v), 0);
	vhdx_free(v);
}

static char *console_path(const struct hvd_instance *h, const char *vm)
{
	char script[160], *id, *p;

	snprintf(script, sizeof(script), "(Get-VM %s).Id", vm);
	id = run_ok(h, script);
	if (asprintf(&p, "%s/vms/%s/console.log", h->state, id) < 0)
		abort();
	free(id);
	return p;
}

/* Waits until the console of vm, from byte `from` on, has a run that printed a counter line;
 * returns the disk value of its first one (what the guest read on its disk before writing
 * it). */
static uint64_t first_counter(const struct hvd_instance *h, const char *vm, size_t from)
{
	char *path = console_path(h, vm), *text, *at;
	unsigned long long disk = 0;
	int i;

	for (i = 0; i < 600; i++) {
		struct timespec ts = { 0, 100000000 };
		size_t len = 0;

		text = slurp(path, &len);
		/* the first line of a run that started after from (an old run may print more) */
		at = text && len > from ? strstr(text + from, "hvguest: ready") : NULL;
		at = at ? strstr(at, "hvguest: counter mem=") : NULL;
		if (at && sscanf(at, "hvguest: counter mem=%*u disk=%llu", &disk) == 1) {
			free(text);
			free(path);
			return disk;
		}
		free(text);
		nanosleep(&ts, NULL);
	}
	fail_msg("%s printed no counter line after byte %zu", vm, from);
	return 0;
}

/* Waits for a counter line after byte from of vm's console (a write to its disk done). */
static void wait_counter_line(const struct hvd_instance *h, const char *vm, size_t from)
{
	char *path = console_path(h, vm), *text;
	int i;

	for (i = 0; i < 600; i++) {
		struct timespec ts = { 0, 100000000 };
		size_t len = 0;
		bool found;

		text = slurp(path, &len);
		found = text && len > from && strstr(text + from, "hvguest: counter mem=");
		free(text);
		if (found) {
			free(path);
			return;
		}
		nanosleep(&ts, NULL);
	}
	fail_msg("%s printed no counter line after byte %zu", vm, from);
}

static size_t console_len(const struct hvd_instance *h, const char *vm)
{
	char *path = console_path(h, vm);
	struct stat st;
	size_t n = stat(path, &st) == 0 ? (size_t)st.st_size : 0;

	free(path);
	return n;
}

/* What a program that must succeed prints (the caller frees it). */
static char *program_out(char *const argv[])
{
	struct run_result r;
	char *out;

	run_program(argv, NULL, &r);
	assert_int_equal(r.status, 0);
	out = r.out;
	r.out = NULL;
	run_result_free(&r);
	return out;
}

/* The files under the state dir, one per line, but the daemon's own logs. */
static char *state_files(const struct hvd_instance *h)
{
	char *argv[] = { "/usr/bin/find", (char *)h->state, "-mindepth", "1", "-not", "-name", "hvd.log", "-not",
			 "-name", "audit.jsonl", "-not", "-name", "hvd.lock", NULL };

	return program_out(argv);
}

static char *member_disk(const struct hvd_instance *h, const char *vm)
{
	char script[200];

	snprintf(script, sizeof(script), "(Get-VMHardDiskDrive %s).Path", vm);
	return run_ok(h, script);
}

/* Twenty members over one golden image: ready, isolated, reset, locked, removed cleanly. */
static void test_pool_of_twenty(void **state)
{
	struct hvd_instance *h = *state;
	char golden[600], script[1400], *before, *after, *gbytes, *now, *out;
	size_t glen, nlen, from;
	int i;

	if (!have_kvm) {
		skip();
		return;
	}
	snprintf(golden, sizeof(golden), "%s/golden.vhdx", h->dir);
	make_golden(h, golden, GOLDEN_MARK);
	gbytes = slurp(golden, &glen);
	before = state_files(h);
	snprintf(script, sizeof(script),
		 "New-VMPool -Name desk -ParentPath %s -Count 20 -MemoryStartupBytes 64MB | "
		 "ForEach-Object { 'members=' + $_.MemberCount }",
		 golden);
	out = run_ok(h, script);
	assert_contains(out, "members=20");
	free(out);
	free(run_ok(h, "Set-VMFirmware desk-* -KernelCommandLine 'hvguest.counter=1'; Start-VM desk-*"));
	/* every member boots and sees the golden contents on its disk */
	for (i = 1; i <= 20; i++) {
		char vm[32];

		snprintf(vm, sizeof(vm), "desk-%d", i);
		assert_int_equal(first_counter(h, vm, 0), GOLDEN_MARK);
	}
	out = run_ok(h, "(Get-VMPool desk).RunningCount; (Get-VM desk-7).PoolName; "
			"Watch-VM desk-2 -Count 1 | ForEach-Object { 'watched ' + $_.VMName + ' ' + $_.State }");
	assert_contains(out, "20\ndesk\nwatched desk-2 Running");
	free(out);
	/* the golden image is locked against every writer */
	snprintf(script, sizeof(script), "Resize-VHD -Path %s -SizeBytes 16MB", golden);
	run_fails(h, script, "cannot change");
	{
		char *argv[] = { (char *)build_path("cli/hv-img"), "resize", golden, "16M", NULL };
		struct run_result r;

		run_program(argv, NULL, &r);
		assert_int_not_equal(r.status, 0);
		assert_contains(r.err, "in use");
		run_result_free(&r);
	}
	snprintf(script, sizeof(script), "Add-VMHardDiskDrive -VMName desk-1 -Path %s -ControllerLocation 5", golden);
	run_fails(h, script, "golden image of pool \"desk\"");
	/* reset: the running member comes back over the golden contents */
	from = console_len(h, "desk-3");
	free(run_ok(h, "Reset-VMPoolMember desk-3"));
	assert_int_equal(first_counter(h, "desk-3", from), GOLDEN_MARK);
	free(run_ok(h, "Stop-VM desk-* -TurnOff"));
	for (i = 1; i <= 20; i++) {
		char vm[32], *disk;

		snprintf(vm, sizeof(vm), "desk-%d", i);
		disk = member_disk(h, vm);
		if (mark_of(disk) == GOLDEN_MARK)
			fail_msg("%s's disk %s holds no counter of its own", vm, disk);
		free(disk);
	}
	assert_int_equal(mark_of(golden), GOLDEN_MARK);
	now = slurp(golden, &nlen);
	assert_int_equal(nlen, glen);
	assert_memory_equal(now, gbytes, glen);
	free(now);
	/* an off member reset reads as the golden image again */
	{
		char *disk = member_disk(h, "desk-5");

		free(run_ok(h, "Reset-VMPoolMember desk-5"));
		assert_int_equal(mark_of(disk), GOLDEN_MARK);
		free(disk);
	}
	/* deleting the pool leaves no file behind, and frees the golden image */
	free(run_ok(h, "Remove-VMPool desk -Force"));
	after = state_files(h);
	assert_string_equal(after, before);
	{
		int fd = open(golden, O_RDONLY);

		assert_true(fd >= 0);
		assert_int_equal(flock(fd, LOCK_EX | LOCK_NB), 0);
		close(fd);
	}
	now = slurp(golden, &nlen);
	assert_memory_equal(now, gbytes, glen);
	free(now);
	free(before);
	free(after);
	free(gbytes);
}

/* RollbackOnStop throws a member's changes away at every stop; Update-VMPool moves members to
 * a new golden image as they are reset; pools survive a restart of hvd. */
static void test_pool_rollback_and_update(void **state)
{
	struct hvd_instance *h = *state;
	char golden[600], golden2[600], script[1400], *disk, *out;
	size_t from;

	if (!have_kvm) {
		skip();
		return;
	}
	snprintf(golden, sizeof(golden), "%s/golden.vhdx", h->dir);
	snprintf(golden2, sizeof(golden2), "%s/golden2.vhdx", h->dir);
	make_golden(h, golden, GOLDEN_MARK);
	make_golden(h, golden2, GOLDEN2_MARK);
	snprintf(script, sizeof(script),
		 "New-VMPool lab %s -Count 2 -NamePrefix lab -MemoryStartupBytes 64MB -RollbackOnStop | Out-Null; "
		 "Set-VMFirmware lab* -KernelCommandLine 'hvguest.counter=1'; Start-VM lab1",
		 golden);
	free(run_ok(h, script));
	assert_int_equal(first_counter(h, "lab1", 0), GOLDEN_MARK);
	from = console_len(h, "lab1");
	wait_counter_line(h, "lab1", from); /* it has written its own counter */
	disk = member_disk(h, "lab1");
	free(run_ok(h, "Stop-VM lab1 -TurnOff"));
	assert_int_equal(mark_of(disk), GOLDEN_MARK); /* rolled back */
	/* a new golden image: members move to it as they are reset */
	snprintf(script, sizeof(script), "Update-VMPool lab -ParentPath %s | Out-Null; "
		 "(Get-VMPool lab).Members | ForEach-Object { $_.Name + '=' + $_.UpToDate }", golden2);
	out = run_ok(h, script);
	assert_contains(out, "lab1=False");
	free(out);
	/* the old image stays locked while lab2 still uses it */
	snprintf(script, sizeof(script), "Optimize-VHD -Path %s", golden);
	run_fails(h, script, "golden image of pool \"lab\"");
	/* the user's file goes: the pool keeps its own link to the image */
	assert_int_equal(unlink(golden2), 0);
	hvd_stop(h, false);
	hvd_start_again(h);
	from = console_len(h, "lab1");
	free(run_ok(h, "Reset-VMPoolMember lab1; Start-VM lab1"));
	assert_int_equal(first_counter(h, "lab1", from), GOLDEN2_MARK);
	out = run_ok(h, "(Get-VMPool lab).Members | ForEach-Object { $_.Name + '=' + $_.UpToDate }");
	assert_contains(out, "lab1=True");
	assert_contains(out, "lab2=False");
	free(out);
	free(run_ok(h, "Stop-VM lab1 -TurnOff; Reset-VMPoolMember lab2"));
	/* nothing uses the first image now: it may change again */
	snprintf(script, sizeof(script), "Optimize-VHD -Path %s", golden);
	free(run_ok(h, script));
	/* and the pool's link to the first image is gone with its last user */
	{
		char *id = run_ok(h, "(Get-VMPool lab).Id"), pat[900];
		glob_t g;

		snprintf(pat, sizeof(pat), "%s/pools/%s/golden-*.vhdx", h->state, id);
		assert_int_equal(glob(pat, 0, NULL, &g), 0);
		assert_int_equal(g.gl_pathc, 1);
		globfree(&g);
		free(id);
	}
	free(run_ok(h, "Remove-VMPool lab -Force"));
	free(disk);
}

/* Bad input is refused with a sentence naming what was wrong; nothing is left behind. */
static void test_pool_errors(void **state)
{
	struct hvd_instance *h = *state;
	char golden[600], junk[600], script[1400], cwd[600], *before, *after, *out;
	FILE *f;

	snprintf(golden, sizeof(golden), "%s/golden.vhdx", h->dir);
	snprintf(junk, sizeof(junk), "%s/junk.vhdx", h->dir);
	make_golden(h, golden, GOLDEN_MARK);
	f = fopen(junk, "wb");
	assert_non_null(f);
	fputs("this is not a virtual disk\n", f);
	fclose(f);
	before = state_files(h);
	run_fails(h, "New-VMPool p /nonexistent/golden.vhdx", "/nonexistent/golden.vhdx");
	snprintf(script, sizeof(script), "New-VMPool p %s", junk);
	run_fails(h, script, "Cannot use");
	/* a relative -ParentPath is taken from the working directory, as New-VHD takes it */
	assert_non_null(getcwd(cwd, sizeof(cwd)));
	snprintf(script, sizeof(script), "%s/relative.vhdx", cwd);
	run_fails(h, "New-VMPool p relative.vhdx", script);
	/* a -Name too long for the member names it makes is blamed, not -NamePrefix */
	snprintf(script, sizeof(script), "New-VMPool %099d %s", 0, golden);
	run_fails(h, script, "Invalid value for parameter -Name: members are named after the pool");
	snprintf(script, sizeof(script), "New-VMPool p %s -Count 0", golden);
	run_fails(h, script, "-Count");
	snprintf(script, sizeof(script), "New-VMPool p %s -NamePrefix 'a*'", golden);
	run_fails(h, script, "-NamePrefix");
	after = state_files(h);
	assert_string_equal(after, before);
	free(after);
	/* a VM's own disk cannot be a golden image */
	snprintf(script, sizeof(script), "New-VM w -MemoryStartupBytes 64MB | Out-Null; Add-VMHardDiskDrive w -Path %s; "
		 "New-VMPool p %s", golden, golden);
	run_fails(h, script, "the disk of the virtual machine \"w\"");
	free(run_ok(h, "Remove-VMHardDiskDrive w -ControllerNumber 0 -ControllerLocation 0"));
	snprintf(script, sizeof(script), "New-VMPool p %s -Count 2 | Out-Null; New-VMPool p %s", golden, golden);
	run_fails(h, script, "already exists");
	run_fails(h, "Reset-VMPoolMember w", "not a member of a pool");
	run_fails(h, "Get-VMPool nosuch", "no pool named \"nosuch\"");
	run_fails(h, "Add-VMPoolMember nosuch", "no pool named");
	free(run_ok(h, "Add-VMPoolMember p 3 | Out-Null; if ((Get-VMPool p).MemberCount -ne 5) { throw 'count' }"));
	/* hvtop tags members with their pool */
	{
		char uri[400], *argv[] = { (char *)build_path("cli/hvtop"), "-b", "-n", "1", "-H", uri, NULL };
		struct run_result r;

		snprintf(uri, sizeof(uri), "unix://%s", h->sock);
		run_program(argv, NULL, &r);
		assert_int_equal(r.status, 0);
		assert_contains(r.out, " Ckpt Pool       Status\n");
		assert_contains(r.out, "    0 p          Operating normally\n");
		run_result_free(&r);
	}
	/* a member removed on its own takes its disk with it */
	free(run_ok(h, "Remove-VM p-1 -Force"));
	free(run_ok(h, "Remove-VMPool p -Force; Remove-VM w -Force"));
	assert_int_equal(chdir(h->dir), 0);
	out = run_ok(h, "New-VMPool rel golden.vhdx | ForEach-Object { $_.ParentPath }; "
			"Update-VMPool rel golden.vhdx -PassThru | ForEach-Object { $_.ParentPath }; "
			"Remove-VMPool rel -Force");
	assert_int_equal(chdir(cwd), 0);
	snprintf(script, sizeof(script), "%s\n%s", golden, golden);
	assert_string_equal(out, script);
	free(out);
	after = state_files(h);
	assert_string_equal(after, before);
	free(after);
	free(before);
}

/* Starts h's hvd (stopped) again with the fault point fault armed: it exits there. */
static void start_faulty(struct hvd_instance *h, const char *fault)
{
	/* hvd reads HVKIT_FAULT from the environment it starts with */
	setenv("HVKIT_FAULT", fault, 1);
	hvd_start_again(h);
	unsetenv("HVKIT_FAULT");
}

/* Runs a script during which hvd must go away (a fault point), and waits until it is gone. */
static void run_crashes(struct hvd_instance *h, const char *script)
{
	struct run_result r;

	hvctl_run(h, NULL, script, &r, NULL);
	if (r.status != 3)
		fail_msg("hvctl -c '%s' exited %d, expected 3 (hvd gone):\n%s%s", script, r.status, r.out, r.err);
	run_result_free(&r);
	hvd_stop(h, true);
}

/* Starts h's hvd (stopped) with fault armed and makes pool name of four members over golden,
 * during which hvd goes away. */
static void new_pool_crashes(struct hvd_instance *h, const char *fault, const char *name, const char *golden)
{
	char script[1400];

	start_faulty(h, fault);
	snprintf(script, sizeof(script), "New-VMPool %s %s -Count 4", name, golden);
	run_crashes(h, script);
}

/* hvd killed in the middle of New-VMPool and of a reset: after a restart the pool holds the
 * members it had made, every member has a disk that opens, nothing stray is left, and the
 * pool can be removed without a trace. */
static void test_pool_crashes(void **state)
{
	struct hvd_instance *h = *state;
	char golden[600], *before, *after, *out, *disk;

	snprintf(golden, sizeof(golden), "%s/golden.vhdx", h->dir);
	make_golden(h, golden, GOLDEN_MARK);
	before = state_files(h);
	hvd_stop(h, false);
	new_pool_crashes(h, "pool-second-member", "c", golden);
	start_faulty(h, "pool-disk-made");
	out = run_ok(h, "(Get-VMPool c).MemberCount");
	assert_string_equal(out, "2");
	free(out);
	disk = member_disk(h, "c-1");
	assert_int_equal(mark_of(disk), GOLDEN_MARK);
	run_crashes(h, "Reset-VMPoolMember c-1");
	hvd_start_again(h);
	assert_int_equal(mark_of(disk), GOLDEN_MARK); /* the old disk, whole */
	{
		char stray[700];

		snprintf(stray, sizeof(stray), "%s.new", disk);
		assert_int_not_equal(access(stray, F_OK), 0);
	}
	free(run_ok(h, "Reset-VMPoolMember c-1; Add-VMPoolMember c | Out-Null; Remove-VMPool c -Force"));
	after = state_files(h);
	assert_string_equal(after, before);
	free(after);
	free(before);
	free(disk);
}

/* Restarts h's hvd with its state dir spelled as spelling, run from folder cwd (NULL: here). */
static void restart_as(struct hvd_instance *h, const char *spelling, const char *cwd)
{
	char saved[sizeof(h->state)], here[4096];

	hvd_stop(h, false);
	assert_non_null(getcwd(here, sizeof(here)));
	snprintf(saved, sizeof(saved), "%s", h->state);
	snprintf(h->state, sizeof(h->state), "%s", spelling);
	if (cwd)
		assert_int_equal(chdir(cwd), 0);
	hvd_start_again(h);
	assert_int_equal(chdir(here), 0);
	snprintf(h->state, sizeof(h->state), "%s", saved);
}

static size_t golden_links(const struct hvd_instance *h, const char *pool)
{
	char script[200], pat[900], *id;
	size_t n = 0;
	glob_t g;

	snprintf(script, sizeof(script), "(Get-VMPool %s).Id", pool);
	id = run_ok(h, script);
	snprintf(pat, sizeof(pat), "%s/pools/%s/golden-*.vhdx", h->state, id);
	if (glob(pat, 0, NULL, &g) == 0) {
		n = g.gl_pathc;
		globfree(&g);
	}
	free(id);
	return n;
}

/* The state dir spelled another way at each start of hvd (relative, with a trailing slash,
 * through a symlink) is the same state: pools load, keep their golden links, members start. */
static void test_pool_state_dir_spelling(void **state)
{
	struct hvd_instance *h = *state;
	char golden[600], script[1400], spelled[700], *out;

	snprintf(golden, sizeof(golden), "%s/golden.vhdx", h->dir);
	make_golden(h, golden, GOLDEN_MARK);
	restart_as(h, "state", h->dir);
	snprintf(script, sizeof(script), "New-VMPool sp %s -Count 2 -MemoryStartupBytes 64MB | Out-Null",
		 golden);
	free(run_ok(h, script));
	assert_int_equal(golden_links(h, "sp"), 1);
	snprintf(spelled, sizeof(spelled), "%s/", h->state);
	restart_as(h, spelled, NULL);
	out = run_ok(h, "(Get-VMPool sp).MemberCount");
	assert_string_equal(out, "2");
	free(out);
	assert_int_equal(golden_links(h, "sp"), 1);
	snprintf(spelled, sizeof(spelled), "%s/state-link", h->dir);
	assert_int_equal(symlink(h->state, spelled), 0);
	restart_as(h, spelled, NULL);
	assert_int_equal(golden_links(h, "sp"), 1);
	if (have_kvm) {
		free(run_ok(h, "Set-VMFirmware sp-1 -KernelCommandLine 'hvguest.counter=1'; "
				"Start-VM sp-1"));
		assert_int_equal(first_counter(h, "sp-1", 0), GOLDEN_MARK);
		free(run_ok(h, "Stop-VM sp-1 -TurnOff"));
	}
	snprintf(spelled, sizeof(spelled), "%s", h->state);
	restart_as(h, spelled, NULL);
	assert_int_equal(golden_links(h, "sp"), 1);
	free(run_ok(h, "Remove-VMPool sp -Force"));
}

/* Waits until hvd's log says it has taken a call of proc (hvd logs calls at debug level). */
static void wait_call_logged(const struct hvd_instance *h, const char *proc)
{
	char path[400], want[100], *text;
	int i;

	snprintf(path, sizeof(path), "%s/hvd.log", h->state);
	snprintf(want, sizeof(want), "call %s ", proc);
	for (i = 0; i < 600; i++) {
		struct timespec ts = { 0, 50000000 };
		bool found;

		text = slurp(path, NULL);
		found = text && strstr(text, want);
		free(text);
		if (found)
			return;
		nanosleep(&ts, NULL);
	}
	fail_msg("hvd took no call of %s", proc);
}

/* The process id of vm's worker (it runs). */
static pid_t worker_pid(const struct hvd_instance *h, const char *vm)
{
	char script[160], *out;
	pid_t pid;

	snprintf(script, sizeof(script), "(Get-VM %s).WorkerProcessId", vm);
	out = run_ok(h, script);
	pid = (pid_t)atoi(out);
	free(out);
	assert_true(pid > 0);
	return pid;
}

/* Makes the golden image h->dir/golden.vhdx (its path into golden), pool name over it with
 * the further New-VMPool parameters params, and starts member vm counting on its disk. */
static void pool_counting(const struct hvd_instance *h, char *golden, size_t len, const char *name,
			  const char *params, const char *vm)
{
	char script[1400];

	snprintf(golden, len, "%s/golden.vhdx", h->dir);
	make_golden(h, golden, GOLDEN_MARK);
	snprintf(script, sizeof(script),
		 "New-VMPool %s %s -MemoryStartupBytes 64MB %s | Out-Null; "
		 "Set-VMFirmware %s -KernelCommandLine 'hvguest.counter=1'; Start-VM %s", name, golden, params, vm, vm);
	free(run_ok(h, script));
}

/* Reset-VMPoolMember of a member that a forced Remove-VMPool is waiting for: killing the
 * member ends the removal, which takes the member and the pool; the reset says so. */
static void test_pool_reset_during_removal(void **state)
{
	struct hvd_instance *h = *state;
	char golden[600], *out;
	struct run_result r;
	pid_t worker, remover;
	int st;

	if (!have_kvm) {
		skip();
		return;
	}
	pool_counting(h, golden, sizeof(golden), "rr", "", "rr-1");
	wait_counter_line(h, "rr-1", 0);
	worker = worker_pid(h, "rr-1");
	/* the worker cannot answer the removal's turn-off: the removal waits */
	assert_int_equal(kill(worker, SIGSTOP), 0);
	remover = fork();
	assert_true(remover >= 0);
	if (remover == 0) {
		hvctl_run(h, NULL, "Remove-VMPool rr -Force", &r, NULL);
		_exit(r.status);
	}
	wait_call_logged(h, "Pool.Remove");
	hvctl_run(h, NULL, "Reset-VMPoolMember rr-1", &r, NULL);
	if (r.status != 1 || !strstr(r.err, "\"rr-1\": it was removed with its pool"))
		fail_msg("Reset-VMPoolMember exited %d:\n%s%s", r.status, r.out, r.err);
	run_result_free(&r);
	assert_int_equal(waitpid(remover, &st, 0), remover);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	out = run_ok(h, "(Get-VMPool).Count; (Get-VM).Count");
	assert_string_equal(out, "0\n0");
	free(out);
}

/* The files in a pool's folder, one per line, in order. */
static char *pool_files(const struct hvd_instance *h, const char *pool)
{
	char script[200], dir[900], *id, *argv[] = { "/bin/ls", dir, NULL };

	snprintf(script, sizeof(script), "(Get-VMPool %s).Id", pool);
	id = run_ok(h, script);
	snprintf(dir, sizeof(dir), "%s/pools/%s", h->state, id);
	free(id);
	return program_out(argv);
}

/* A member whose definition cannot be saved is refused with a sentence, and its new disk
 * does not stay behind. */
static void test_pool_member_save_fails(void **state)
{
	struct hvd_instance *h = *state;
	char golden[600], script[1400], vms[700], moved[700], *before, *after, *out;
	int fd;

	snprintf(golden, sizeof(golden), "%s/golden.vhdx", h->dir);
	make_golden(h, golden, GOLDEN_MARK);
	snprintf(script, sizeof(script), "New-VMPool sf %s | Out-Null", golden);
	free(run_ok(h, script));
	before = pool_files(h, "sf");
	/* vms/ a plain file: no definition can be written there (root ignores modes) */
	snprintf(vms, sizeof(vms), "%s/vms", h->state);
	snprintf(moved, sizeof(moved), "%s/vms.moved", h->state);
	assert_int_equal(rename(vms, moved), 0);
	fd = open(vms, O_WRONLY | O_CREAT | O_EXCL, 0600);
	assert_true(fd >= 0);
	close(fd);
	run_fails(h, "Add-VMPoolMember sf", "Cannot save pool member \"sf-2\"");
	assert_int_equal(unlink(vms), 0);
	assert_int_equal(rename(moved, vms), 0);
	after = pool_files(h, "sf");
	assert_string_equal(after, before);
	out = run_ok(h, "(Get-VMPool sf).MemberCount");
	assert_string_equal(out, "1");
	free(out);
	free(run_ok(h, "Remove-VMPool sf -Force"));
	free(before);
	free(after);
}

/* Reset-VMPoolMember -PoolName resets every member of that pool and no other VM. */
static void test_pool_reset_by_pool(void **state)
{
	struct hvd_instance *h = *state;
	char golden[600], script[1400], *disk[3];
	int i;

	snprintf(golden, sizeof(golden), "%s/golden.vhdx", h->dir);
	make_golden(h, golden, GOLDEN_MARK);
	snprintf(script, sizeof(script), "New-VMPool rp %s -Count 2 | Out-Null; New-VMPool other %s | Out-Null",
		 golden, golden);
	free(run_ok(h, script));
	disk[0] = member_disk(h, "rp-1");
	disk[1] = member_disk(h, "rp-2");
	disk[2] = member_disk(h, "other-1");
	for (i = 0; i < 3; i++)
		mark_set(disk[i], GOLDEN2_MARK);
	free(run_ok(h, "Reset-VMPoolMember -PoolName rp"));
	assert_int_equal(mark_of(disk[0]), GOLDEN_MARK);
	assert_int_equal(mark_of(disk[1]), GOLDEN_MARK);
	assert_int_equal(mark_of(disk[2]), GOLDEN2_MARK);
	run_fails(h, "Reset-VMPoolMember -PoolName nosuch", "no pool named \"nosuch\"");
	free(run_ok(h, "Remove-VMPool rp, other -Force"));
	for (i = 0; i < 3; i++)
		free(disk[i]);
}

/* Puts tests/data/daemon/vmxml-corpus/<seed> in place as the pool.xml of pool CORPUS_POOL
 * (with parentLink, when given, in this state dir's pool folder) and starts hvd again. */
#define CORPUS_POOL "e98aa761-31b7-468d-a934-355c7c8296eb"
static void pool_xml_load(struct hvd_instance *h, const char *seed, const char *link)
{
	char path[900], *text;
	const char *data = getenv("HVKIT_TESTDATA");
	FILE *f;

	snprintf(path, sizeof(path), "%s/daemon/vmxml-corpus/%s", data ? data : "tests/data", seed);
	text = slurp(path, NULL);
	if (!text)
		fail_msg("cannot read %s", path);
	hvd_stop(h, false);
	snprintf(path, sizeof(path), "%s/pools/%s", h->state, CORPUS_POOL);
	mkdir(path, 0755);
	snprintf(path, sizeof(path), "%s/pools/%s/pool.xml", h->state, CORPUS_POOL);
	f = fopen(path, "w");
	assert_non_null(f);
	if (link) {
		char *end = strstr(text, "/>");

		assert_non_null(end);
		fprintf(f, "%.*s parentLink=\"%s/pools/%s/%s\"/>\n", (int)(end - text), text, h->state,
			CORPUS_POOL, link);
	} else {
		fputs(text, f);
	}
	fclose(f);
	free(text);
	hvd_start_again(h);
}

/* pool.xml is held to the cmdlets' rules: every bad value is refused at load with a sentence
 * in hvd.log naming it, and the pool is not loaded. */
static void test_pool_xml_refused(void **state)
{
	static const struct {
		const char *seed, *why;
	} bad[] = {
		{ "pool-memory-unaligned.xml", "memoryStartup='67109888' is not a multiple of 2 MiB" },
		{ "pool-name-wildcard.xml", "name='desk*' is not a name New-VMPool takes" },
		{ "pool-name-blank.xml", "name='   ' is not a name New-VMPool takes" },
		{ "pool-link-outside.xml", "parentLink='/srv/golden-1.vhdx' is not STATE/pools/" },
		{ "pool-link-other-state.xml",
		  "parentLink='/var/lib/other/pools/" CORPUS_POOL "/golden-1.vhdx' is not in" },
		{ "pool-index-wrap.xml", "attribute nextIndex='4294967295' is not a whole number" },
		{ "pool-index-sign.xml", "attribute nextIndex='+4' is not a whole number" },
	};
	struct hvd_instance *h = *state;
	char log[400], *text, *out;
	size_t i;

	snprintf(log, sizeof(log), "%s/hvd.log", h->state);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		pool_xml_load(h, bad[i].seed, NULL);
		text = slurp(log, NULL);
		assert_non_null(text);
		if (!strstr(text, bad[i].why))
			fail_msg("%s: hvd.log does not say [%s]:\n%s", bad[i].seed, bad[i].why, text);
		free(text);
		out = run_ok(h, "(Get-VMPool).Count");
		assert_string_equal(out, "0");
		free(out);
	}
	/* the same pool with good values loads; its link is its own folder's */
	pool_xml_load(h, "pool-valid.xml", "golden-12.vhdx");
	out = run_ok(h, "(Get-VMPool desk).Id");
	assert_string_equal(out, CORPUS_POOL);
	free(out);
	/* a pool that has given out every member number refuses a new member */
	pool_xml_load(h, "pool-index-last.xml", NULL);
	run_fails(h, "Add-VMPoolMember desk", "has given out every member number");
}

/* A member left on a checkpoint layer (Checkpoint-VM, then Remove-VMCheckpoint, leaves its
 * drive on <VMId>_<GUID>.avhdx over <VMId>.vhdx): a reset puts it back on a fresh
 * <VMId>.vhdx and deletes the layer, rather than renewing the base under the layer. */
static void test_pool_reset_checkpoint_layer(void **state)
{
	struct hvd_instance *h = *state;
	char golden[600], script[1400], base[900], *id, *disk, *files;

	snprintf(golden, sizeof(golden), "%s/golden.vhdx", h->dir);
	make_golden(h, golden, GOLDEN_MARK);
	snprintf(script, sizeof(script), "New-VMPool ck %s -MemoryStartupBytes 64MB | Out-Null; "
		 "Checkpoint-VM ck-1 -SnapshotName one; Remove-VMCheckpoint -VMName ck-1 -Name one", golden);
	free(run_ok(h, script));
	id = run_ok(h, "(Get-VM ck-1).Id");
	disk = member_disk(h, "ck-1");
	if (!strstr(disk, ".avhdx"))
		fail_msg("ck-1's drive %s is no checkpoint layer: nothing to test", disk);
	mark_set(disk, GOLDEN2_MARK);
	free(disk);
	free(run_ok(h, "Reset-VMPoolMember ck-1"));
	disk = member_disk(h, "ck-1");
	snprintf(base, sizeof(base), "%s.vhdx", id);
	assert_contains(disk, base);
	assert_int_equal(mark_of(disk), GOLDEN_MARK);
	files = pool_files(h, "ck");
	if (strstr(files, ".avhdx"))
		fail_msg("a checkpoint layer is left in the pool's folder:\n%s", files);
	free(files);
	if (have_kvm) {
		free(run_ok(h, "Set-VMFirmware ck-1 -KernelCommandLine 'hvguest.counter=1'; Start-VM ck-1"));
		assert_int_equal(first_counter(h, "ck-1", 0), GOLDEN_MARK);
	}
	free(run_ok(h, "Remove-VMPool ck -Force"));
	free(disk);
	free(id);
}

/* A saved member whose reset fails (hvd killed once the new disk is made, before it is in
 * place) stays saved on its old disk: the saved state goes only with the disk it belongs to. */
static void test_pool_reset_keeps_saved_state(void **state)
{
	struct hvd_instance *h = *state;
	char golden[600], script[1400], saved[900], *id, *disk, *out;
	FILE *f;

	snprintf(golden, sizeof(golden), "%s/golden.vhdx", h->dir);
	make_golden(h, golden, GOLDEN_MARK);
	snprintf(script, sizeof(script), "New-VMPool sv %s | Out-Null", golden);
	free(run_ok(h, script));
	id = run_ok(h, "(Get-VM sv-1).Id");
	disk = member_disk(h, "sv-1");
	mark_set(disk, GOLDEN2_MARK);
	/* a saved state as Save-VM leaves it: hvd tells a saved VM by the file */
	hvd_stop(h, false);
	snprintf(saved, sizeof(saved), "%s/vms/%s/saved-state.hvsav", h->state, id);
	f = fopen(saved, "w");
	assert_non_null(f);
	fputs("saved memory\n", f);
	fclose(f);
	start_faulty(h, "pool-disk-made");
	out = run_ok(h, "(Get-VM sv-1).State");
	assert_string_equal(out, "Saved");
	free(out);
	run_crashes(h, "Reset-VMPoolMember sv-1");
	hvd_start_again(h);
	out = run_ok(h, "(Get-VM sv-1).State");
	assert_string_equal(out, "Saved");
	free(out);
	assert_int_equal(access(saved, F_OK), 0);
	assert_int_equal(mark_of(disk), GOLDEN2_MARK); /* its old disk, which the state goes with */
	/* a reset that completes discards it */
	out = run_ok(h, "Reset-VMPoolMember sv-1; (Get-VM sv-1).State");
	assert_string_equal(out, "Off");
	free(out);
	assert_int_equal(mark_of(disk), GOLDEN_MARK);
	free(run_ok(h, "Remove-VMPool sv -Force"));
	free(disk);
	free(id);
}

/* The one folder in h's pools folder (hvd not running: no Get-VMPool to ask). */
static void only_pool_dir(const struct hvd_instance *h, char *out, size_t len)
{
	char pools[400];
	struct dirent *e;
	DIR *d;
	int n = 0;

	snprintf(pools, sizeof(pools), "%s/pools", h->state);
	d = opendir(pools);
	assert_non_null(d);
	while ((e = readdir(d)))
		if (e->d_name[0] != '.' && ++n)
			snprintf(out, len, "%s/%s", pools, e->d_name);
	closedir(d);
	assert_int_equal(n, 1);
}

/* hvd killed in New-VMPool after the pool's folder and golden link are made, between a
 * member's disk and its definition, and in Remove-VMPool once the files are gone; a write of
 * pool.xml cut short: the next start removes the strays (and says so in its log), the pool
 * that was being removed can be removed again, and nothing is left. */
static void test_pool_crash_leftovers(void **state)
{
	struct hvd_instance *h = *state;
	char golden[600], dir[700], tmp[800], log[400], *before, *after, *out, *text;
	FILE *f;

	snprintf(golden, sizeof(golden), "%s/golden.vhdx", h->dir);
	snprintf(log, sizeof(log), "%s/hvd.log", h->state);
	make_golden(h, golden, GOLDEN_MARK);
	before = state_files(h);
	hvd_stop(h, false);
	new_pool_crashes(h, "pool-linked", "a", golden);
	only_pool_dir(h, dir, sizeof(dir)); /* a folder with a golden link and no pool.xml */
	new_pool_crashes(h, "pool-member-disk", "b", golden);
	hvd_start_again(h);
	assert_int_equal(access(dir, F_OK), -1); /* folder of pool a */
	out = run_ok(h, "(Get-VMPool).Name; (Get-VM).Count");
	assert_string_equal(out, "b\n0");
	free(out);
	out = pool_files(h, "b");
	assert_string_equal(out, "golden-1.vhdx\npool.xml\n"); /* the member disk without a member is gone */
	free(out);
	text = slurp(log, NULL);
	assert_non_null(text);
	assert_contains(text, "the disk of a pool member that does not exist");
	assert_contains(text, "the folder of a pool that does not exist");
	free(text);
	/* a pool.xml write cut short, and a removal cut short before pool.xml */
	hvd_stop(h, false);
	only_pool_dir(h, dir, sizeof(dir));
	snprintf(tmp, sizeof(tmp), "%s/.pool.xml.tmp", dir);
	f = fopen(tmp, "w");
	assert_non_null(f);
	fputs("<pool", f);
	fclose(f);
	start_faulty(h, "pool-files-removed");
	free(run_ok(h, "Add-VMPoolMember b | Out-Null"));
	run_crashes(h, "Remove-VMPool b -Force");
	hvd_start_again(h);
	assert_int_equal(access(tmp, F_OK), -1);
	out = run_ok(h, "(Get-VMPool).Name; (Get-VM).Count");
	assert_string_equal(out, "b\n0");
	free(out);
	free(run_ok(h, "Remove-VMPool b -Force"));
	after = state_files(h);
	assert_string_equal(after, before);
	free(after);
	free(before);
}

/* A state dir under a folder whose name is a glob pattern (br[1]): hvd finds the pool's files
 * by name, not by a pattern made from the path, so usage is counted, a reset's stray is
 * removed at startup, and Remove-VMPool leaves nothing behind. */
static void test_pool_state_dir_metacharacters(void **state)
{
	struct hvd_instance *h = *state;
	char golden[600], script[1400], odd[400], stray[900], *before, *after, *out, *disk;
	FILE *f;

	snprintf(golden, sizeof(golden), "%s/golden.vhdx", h->dir);
	make_golden(h, golden, GOLDEN_MARK);
	hvd_stop(h, false);
	snprintf(odd, sizeof(odd), "%s/br[1]", h->dir);
	assert_int_equal(mkdir(odd, 0755), 0);
	strncat(odd, "/state", sizeof(odd) - strlen(odd) - 1);
	assert_int_equal(rename(h->state, odd), 0);
	snprintf(h->state, sizeof(h->state), "%s", odd);
	hvd_start_again(h);
	before = state_files(h);
	snprintf(script, sizeof(script), "New-VMPool mc %s -Count 2 | Out-Null; (Get-VMPool mc).DiskUsage", golden);
	out = run_ok(h, script);
	if (strtoull(out, NULL, 10) == 0)
		fail_msg("pool mc uses no disk space: [%s]", out);
	free(out);
	disk = member_disk(h, "mc-1");
	mark_set(disk, GOLDEN2_MARK);
	free(run_ok(h, "Reset-VMPoolMember mc-1"));
	assert_int_equal(mark_of(disk), GOLDEN_MARK);
	hvd_stop(h, false);
	snprintf(stray, sizeof(stray), "%s.new", disk);
	f = fopen(stray, "w");
	assert_non_null(f);
	fclose(f);
	hvd_start_again(h);
	assert_int_equal(access(stray, F_OK), -1);
	out = run_ok(h, "Remove-VMPool mc -Force; (Get-VMPool).Count");
	assert_string_equal(out, "0");
	free(out);
	after = state_files(h);
	assert_string_equal(after, before);
	free(after);
	free(before);
	free(disk);
}

/* Waits until process pid has ended (gone, or a zombie no one has reaped yet). */
static void wait_process_gone(pid_t pid)
{
	char path[64], *text;
	int i;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	for (i = 0; i < 600; i++) {
		struct timespec ts = { 0, 10000000 };
		char *end;

		text = slurp(path, NULL);
		end = text ? strrchr(text, ')') : NULL;
		if (!text || (end && end[1] == ' ' && end[2] == 'Z')) {
			free(text);
			return;
		}
		free(text);
		nanosleep(&ts, NULL);
	}
	fail_msg("process %d did not end", (int)pid);
}

/* A member of a RollbackOnStop pool whose worker ends while hvd is not running (both killed)
 * is rolled back when hvd starts again: a fresh disk over the golden contents. */
static void test_pool_rollback_while_down(void **state)
{
	struct hvd_instance *h = *state;
	char golden[600], *disk, *out;
	struct stat before, after;
	pid_t worker;

	if (!have_kvm) {
		skip();
		return;
	}
	pool_counting(h, golden, sizeof(golden), "rd", "-Count 2 -RollbackOnStop", "rd-1");
	assert_int_equal(first_counter(h, "rd-1", 0), GOLDEN_MARK);
	wait_counter_line(h, "rd-1", console_len(h, "rd-1")); /* it has written its own counter */
	disk = member_disk(h, "rd-1");
	worker = worker_pid(h, "rd-1");
	assert_int_equal(stat(disk, &before), 0);
	hvd_stop(h, true);
	assert_int_equal(kill(worker, SIGKILL), 0);
	wait_process_gone(worker);
	if (mark_of(disk) == GOLDEN_MARK)
		fail_msg("rd-1 wrote no counter of its own on %s: nothing to roll back", disk);
	hvd_start_again(h);
	out = run_ok(h, "(Get-VM rd-1).State");
	assert_string_equal(out, "Off");
	free(out);
	assert_int_equal(stat(disk, &after), 0);
	assert_int_not_equal(after.st_ino, before.st_ino);
	assert_int_equal(mark_of(disk), GOLDEN_MARK);
	/* a member that was off already is left as it was */
	out = member_disk(h, "rd-2");
	assert_int_equal(stat(out, &before), 0);
	hvd_stop(h, false);
	hvd_start_again(h);
	assert_int_equal(stat(out, &after), 0);
	assert_int_equal(after.st_ino, before.st_ino);
	free(out);
	free(run_ok(h, "Remove-VMPool rd -Force"));
	free(disk);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_pool_errors, hvd_setup, hvd_teardown),
		cmocka_unit_test_setup_teardown(test_pool_crashes, hvd_setup, hvd_teardown),
		cmocka_unit_test_setup_teardown(test_pool_crash_leftovers, hvd_setup, hvd_teardown),
		cmocka_unit_test_setup_teardown(test_pool_of_twenty, hvd_setup, hvd_teardown),
		cmocka_unit_test_setup_teardown(test_pool_rollback_and_update, hvd_setup, hvd_teardown),
		cmocka_unit_test_setup_teardown(test_pool_state_dir_spelling, hvd_setup, hvd_teardown),
		cmocka_unit_test_setup_teardown(test_pool_reset_during_removal, hvd_setup, hvd_teardown),
		cmocka_unit_test_setup_teardown(test_pool_member_save_fails, hvd_setup, hvd_teardown),
		cmocka_unit_test_setup_teardown(test_pool_reset_by_pool, hvd_setup, hvd_teardown),
		cmocka_unit_test_setup_teardown(test_pool_xml_refused, hvd_setup, hvd_teardown),
		cmocka_unit_test_setup_teardown(test_pool_reset_checkpoint_layer, hvd_setup, hvd_teardown),
		cmocka_unit_test_setup_teardown(test_pool_reset_keeps_saved_state, hvd_setup, hvd_teardown),
		cmocka_unit_test_setup_teardown(test_pool_state_dir_metacharacters, hvd_setup, hvd_teardown),
		cmocka_unit_test_setup_teardown(test_pool_rollback_while_down, hvd_setup, hvd_teardown),
	};
	int fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);

	have_kvm = fd >= 0;
	if (fd >= 0)
		close(fd);
	else
		printf("SKIP: the pool partition tests need hardware virtualization and /dev/kvm cannot be opened: %s\n",
		       strerror(errno));
	return cmocka_run_group_tests(tests, NULL, NULL);
}
