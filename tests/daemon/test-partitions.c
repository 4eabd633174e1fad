/* Integration: real partitions of the built-in guest under a real hvd, on /dev/kvm.  Skipped,
 * with the reason, where /dev/kvm cannot be opened. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "tests/daemon/harness.h"


static char *run_ok(const struct hvd_instance *h, const char *script)
{
	struct run_result r;
	char *out;
	size_t n;

	hvctl_run(h, NULL, script, &r, NULL);
	if (r.status != 0)
		fail_msg("hvctl -c '%s' exited %d:\n%s%s", script, r.status, r.out, r.err);
	out = r.out;
	r.out = NULL;
	run_result_free(&r);
	n = strlen(out);
	if (n && out[n - 1] == '\n' && !memchr(out, '\n', n - 1))
		out[n - 1] = '\0'; /* one line: without its newline */
	return out;
}

static char *console_of(const struct hvd_instance *h, const char *vm)
{
	char script[128], path[600], *id, *text = NULL;
	FILE *f;
	long n;

	snprintf(script, sizeof(script), "(Get-VM %s).Id", vm);
	id = run_ok(h, script);
	snprintf(path, sizeof(path), "%s/vms/%s/console.log", h->state, id);
	free(id);
	f = fopen(path, "r");
	if (!f)
		return strdup("");
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	text = calloc(1, (size_t)n + 1);
	if (fread(text, 1, (size_t)n, f) != (size_t)n)
		text[0] = '\0';
	fclose(f);
	return text;
}

static int count(const char *hay, const char *needle)
{
	int n = 0;

	while ((hay = strstr(hay, needle))) {
		n++;
		hay++;
	}
	return n;
}

/* Waits (up to 60 s: the guest runs in KVM's instruction emulator here) for the console to
 * hold `times` ready lines. */
static char *wait_ready(const struct hvd_instance *h, const char *vm, int times)
{
	int i;

	for (i = 0; i < 600; i++) {
		char *c = console_of(h, vm);
		struct timespec ts = { 0, 100000000 };

		if (count(c, "hvguest: ready") >= times)
			return c;
		free(c);
		nanosleep(&ts, NULL);
	}
	fail_msg("%s did not print its ready line", vm);
	return NULL;
}

static char *state_of(const struct hvd_instance *h, const char *vm)
{
	char script[128];

	snprintf(script, sizeof(script), "(Get-VM %s).State", vm);
	return run_ok(h, script);
}

static void expect_state(const struct hvd_instance *h, const char *vm, const char *want)
{
	char *s = state_of(h, vm);

	assert_string_equal(s, want);
	free(s);
}

static void test_ready_lines(void **state)
{
	static const unsigned cpus[] = { 1, 2, 4 };
	struct hvd_instance *h = *state;
	size_t i;

	for (i = 0; i < 3; i++) {
		char script[256], name[16], want[64], *c, *line;
		unsigned long long mem;

		snprintf(name, sizeof(name), "r%u", cpus[i]);
		snprintf(script, sizeof(script), "New-VM %s -ProcessorCount %u -MemoryStartupBytes 256MB | Start-VM", name, cpus[i]);
		free(run_ok(h, script));
		c = wait_ready(h, name, 1);
		snprintf(want, sizeof(want), "hvguest: ready cpus=%u mem=", cpus[i]);
		line = strstr(c, want);
		assert_non_null(line);
		mem = strtoull(line + strlen(want), NULL, 10);
		/* What the guest found: the partition's usable RAM, a little under 256 MiB. */
		assert_true(mem <= 256ull << 20);
		assert_true(mem >= 250ull << 20);
		free(c);
		snprintf(script, sizeof(script), "(Get-VM %s).MemoryAssigned", name);
		c = run_ok(h, script);
		assert_string_equal(c, "268435456");
		free(c);
		expect_state(h, name, "Running");
	}
}

static void test_lifecycle(void **state)
{
	struct hvd_instance *h = *state;
	struct run_result r;
	char *c;

	/* Without the shutdown service, a plain Stop-VM presses the power button (below). */
	free(run_ok(h, "New-VM life -MemoryStartupBytes 64MB | Out-Null; "
		       "Disable-VMIntegrationService -VMName life -Name Shutdown; Start-VM life"));
	free(wait_ready(h, "life", 1));
	free(run_ok(h, "Suspend-VM life"));
	expect_state(h, "life", "Paused");
	free(run_ok(h, "Resume-VM life"));
	expect_state(h, "life", "Running");
	/* Running VMs keep their processors and memory; Remove-VM wants them off. */
	hvctl_run(h, NULL, "Set-VMProcessor life -Count 2", &r, NULL);
	assert_int_equal(r.status, 1);
	assert_contains(r.err, "while it is running: the virtual machine must be off");
	run_result_free(&r);
	hvctl_run(h, NULL, "Remove-VM life -Force", &r, NULL);
	assert_int_equal(r.status, 1);
	assert_contains(r.err, "is running: turn it off first");
	run_result_free(&r);
	/* Processor limits: cgroup v2 enforces them where its cpu controller is enabled; either
	 * way Get-VMProcessor says which. */
	c = run_ok(h, "(Get-VMProcessor life).LimitsStatus");
	assert_true(!strncmp(c, "Enforced by ", 12) || !strncmp(c, "Not enforced: ", 14));
	free(c);
	free(run_ok(h, "Restart-VM life -Force"));
	expect_state(h, "life", "Running");
	free(wait_ready(h, "life", 2));
	/* Plain Stop-VM asks the guest (here, with no shutdown service: the ACPI power button);
	 * hvguest powers off. */
	free(run_ok(h, "Stop-VM life"));
	expect_state(h, "life", "Off");
	c = console_of(h, "life");
	assert_contains(c, "hvguest: power button");
	free(c);
	free(run_ok(h, "Start-VM life"));
	free(wait_ready(h, "life", 3));
	free(run_ok(h, "Stop-VM life -TurnOff"));
	expect_state(h, "life", "Off");
	c = run_ok(h, "(Get-VM life).Status");
	assert_string_equal(c, "Operating normally");
	free(c);
}

static void test_many_and_a_killed_worker(void **state)
{
	struct hvd_instance *h = *state;
	char *pid, *c;
	int i;

	free(run_ok(h, "foreach ($i in 1..8) { New-VM \"m$i\" -MemoryStartupBytes 32MB | Out-Null }; Get-VM m* | Start-VM"));
	for (i = 1; i <= 8; i++) {
		char name[8];

		snprintf(name, sizeof(name), "m%d", i);
		free(wait_ready(h, name, 1));
	}
	pid = run_ok(h, "(Get-VM m3).WorkerProcessId");
	assert_int_equal(kill(atoi(pid), SIGKILL), 0);
	free(pid);
	for (i = 0; i < 100; i++) {
		char *s = state_of(h, "m3");
		bool off = !strcmp(s, "Off");
		struct timespec ts = { 0, 20000000 };

		free(s);
		if (off)
			break;
		nanosleep(&ts, NULL);
	}
	expect_state(h, "m3", "Off");
	c = run_ok(h, "(Get-VM m3).Status");
	assert_contains(c, "ended unexpectedly: killed by signal 9");
	free(c);
	c = run_ok(h, "(Get-VM m* | Where-Object State -eq Running).Count");
	assert_string_equal(c, "7");
	free(c);
	/* hvd restarts and finds the seven again, and says which one died while it was away. */
	pid = run_ok(h, "(Get-VM m5).WorkerProcessId");
	hvd_stop(h, true);
	assert_int_equal(kill(atoi(pid), SIGKILL), 0);
	free(pid);
	{
		struct timespec ts = { 0, 200000000 };

		nanosleep(&ts, NULL);
	}
	hvd_start_again(h);
	c = run_ok(h, "(Get-VM m* | Where-Object State -eq Running).Count");
	assert_string_equal(c, "6");
	free(c);
	c = run_ok(h, "(Get-VM m5).Status");
	assert_contains(c, "Lost: its worker process ended while hvd was not running");
	free(c);
	free(run_ok(h, "Get-VM m* | Where-Object State -eq Running | Stop-VM -TurnOff"));
	c = run_ok(h, "(Get-VM m* | Where-Object State -eq Off).Count");
	assert_string_equal(c, "8");
	free(c);
}

static void test_bad_starts(void **state)
{
	static const struct {
		const char *script, *want;
	} cases[] = {
		{ "Set-VMFirmware bad -KernelPath DIR/garbage; Start-VM bad", "is neither a 64-bit ELF kernel nor a Linux bzImage" },
		{ "Set-VMFirmware bad -KernelPath ''; Set-VMFirmware bad -InitrdPath DIR/missing", "cannot read" },
		{ "Set-VMFirmware bad -InitrdPath ''; Set-VM bad -MemoryStartupBytes 11TB; Start-VM bad", "of memory to start and the host has" },
		{ "Set-VM bad -MemoryStartupBytes 32MB -ProcessorCount 240; Start-VM bad", "KVM cannot run that many virtual processors" },
	};
	struct hvd_instance *h = *state;
	char path[400], script[1024], *c;
	struct run_result r;
	FILE *f;
	size_t i;

	snprintf(path, sizeof(path), "%s/garbage", h->dir);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs("this is not a kernel\n", f);
	fclose(f);
	free(run_ok(h, "New-VM bad"));
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *at = strstr(cases[i].script, "DIR");

		if (at)
			snprintf(script, sizeof(script), "%.*s%s%s", (int)(at - cases[i].script), cases[i].script, h->dir, at + 3);
		else
			snprintf(script, sizeof(script), "%s", cases[i].script);
		hvctl_run(h, NULL, script, &r, NULL);
		if (r.status != 1 || !strstr(r.err, cases[i].want))
			fail_msg("%s: exit %d\n%s", script, r.status, r.err);
		run_result_free(&r);
		expect_state(h, "bad", "Off");
		c = run_ok(h, "(Get-VM bad).WorkerProcessId");
		assert_string_equal(c, "");
		free(c);
	}
	/* A guest that crashes: the VM is off and its Status says how, with the guest's RIP. */
	free(run_ok(h, "Set-VM bad -ProcessorCount 1; Set-VMFirmware bad -KernelCommandLine 'hvguest.crash=triple'; Start-VM bad"));
	for (i = 0; i < 600; i++) {
		char *s = state_of(h, "bad");
		bool off = !strcmp(s, "Off");
		struct timespec ts = { 0, 100000000 };

		free(s);
		if (off)
			break;
		nanosleep(&ts, NULL);
	}
	c = run_ok(h, "(Get-VM bad).Status");
	assert_contains(c, "Crashed: the guest triple-faulted");
	assert_contains(c, "RIP 0x");
	free(c);
}

static void test_console(void **state)
{
	struct hvd_instance *h = *state;
	char host[400], *argv[] = { (char *)build_path("cli/hvctl"), "-H", host, "-c", "Connect-VMConsole echo", NULL };
	struct run_result r;

	snprintf(host, sizeof(host), "unix://%s", h->sock);
	free(run_ok(h, "New-VM echo -MemoryStartupBytes 32MB | Out-Null; Set-VMFirmware echo -KernelCommandLine 'hvguest.echo=1'; Start-VM echo"));
	free(wait_ready(h, "echo", 1));
	run_program(argv, "typed into the console\n", &r);
	assert_int_equal(r.status, 0);
	assert_contains(r.out, "typed into the console");
	run_result_free(&r);
	free(run_ok(h, "Stop-VM echo -TurnOff"));
}

/* Watch-VM: samples at the interval asked for, per-vCPU rates, over both sockets. */
static void test_watch(void **state)
{
	struct hvd_instance *h = *state;
	struct run_result r;
	char ro[400], *out, *second;
	double t1, t2;

	free(run_ok(h, "New-VM w -ProcessorCount 2 -MemoryStartupBytes 64MB | Start-VM"));
	free(wait_ready(h, "w", 1));
	hvctl_run(h, NULL, "Watch-VM w -Count 2", &r, "-o", "jsonl", NULL);
	if (r.status)
		fail_msg("Watch-VM exited %d: %s%s", r.status, r.out, r.err);
	assert_int_equal(count(r.out, "\"VMName\":\"w\""), 2);
	assert_int_equal(count(r.out, "\"Index\":"), 4); /* two vCPUs in each sample */
	assert_int_equal(count(r.out, "\"ExitsPerSecond\":"), 6);
	run_result_free(&r);
	/* -Interval 2: the two samples are (at least) two ticks of a second apart. */
	hvctl_run(h, NULL, "Watch-VM w -Interval 2 -Count 2 | Select-Object Time", &r, "-o", "jsonl", NULL);
	assert_int_equal(r.status, 0);
	out = r.out;
	r.out = NULL;
	run_result_free(&r);
	second = strchr(out, '\n');
	assert_non_null(second);
	t1 = atof(strrchr(strtok(out, "\n"), ':') + 1);
	t2 = atof(strrchr(second + 1, ':') + 1);
	if (t2 < t1)
		t2 += 60;
	assert_true(t2 - t1 > 1.5);
	free(out);
	snprintf(ro, sizeof(ro), "unix://%s", h->ro_sock);
	hvctl_run(h, ro, "(Watch-VM w -Count 1).Processors.Count", &r, NULL);
	assert_int_equal(r.status, 0);
	assert_string_equal(r.out, "2\n");
	run_result_free(&r);
	hvctl_run(h, NULL, "Watch-VM w -Interval 0", &r, NULL);
	assert_int_equal(r.status, 1);
	assert_contains(r.err, "-Interval is a whole number of seconds");
	run_result_free(&r);
	free(run_ok(h, "Stop-VM w -TurnOff"));
}

/* Polls script until its output holds want (up to 60 s: the guest runs in an emulator). */
static char *wait_output(const struct hvd_instance *h, const char *script, const char *want)
{
	int i;

	for (i = 0; i < 240; i++) {
		char *out = run_ok(h, script);
		struct timespec ts = { 0, 250000000 };

		if (strstr(out, want))
			return out;
		free(out);
		nanosleep(&ts, NULL);
	}
	fail_msg("`%s` never printed [%s]", script, want);
	return NULL;
}

static unsigned long long heartbeat_packets(const struct hvd_instance *h)
{
	char *out = run_ok(h, "(Get-VMBusChannel v | Where-Object Name -eq Heartbeat).PacketsIn");
	unsigned long long n = strtoull(out, NULL, 10);

	free(out);
	return n;
}

/* VMBus end to end: hvguest connects, the integration services answer, the counters move,
 * services go and come back live, and Stop-VM shuts the guest down through its shutdown
 * service. */
static void test_vmbus(void **state)
{
	struct hvd_instance *h = *state;
	struct run_result r;
	char ro[400], *out, *c;
	unsigned long long before;
	int i;

	free(run_ok(h, "New-VM v -MemoryStartupBytes 64MB | Start-VM"));
	free(wait_ready(h, "v", 1));
	free(wait_output(h, "(Get-VMIntegrationService v -Name Heartbeat).PrimaryStatusDescription", "OK"));
	out = run_ok(h, "Get-VMBusChannel v | Where-Object State -eq Open | Measure-Object | Select-Object -ExpandProperty Count");
	assert_string_equal(out, "4");
	free(out);
	c = console_of(h, "v");
	assert_contains(c, "hvguest: vmbus version=5.3 channels=4");
	free(c);
	out = run_ok(h, "(Get-VMIntegrationService v | Where-Object PrimaryStatusDescription -eq OK).Count");
	assert_string_equal(out, "4");
	free(out);
	/* The host asks for a heartbeat each second: the counters grow. */
	before = heartbeat_packets(h);
	for (i = 0; i < 40 && heartbeat_packets(h) <= before; i++) {
		struct timespec ts = { 0, 250000000 };

		nanosleep(&ts, NULL);
	}
	assert_true(heartbeat_packets(h) > before);
	hvctl_run(h, NULL, "Watch-VM v -Count 2", &r, "-o", "jsonl", NULL);
	assert_int_equal(r.status, 0);
	assert_int_equal(count(r.out, "\"ChannelId\":"), 8);
	assert_int_equal(count(r.out, "\"PacketsInPerSecond\":"), 8);
	run_result_free(&r);
	/* The read-only socket shows the bus but changes nothing. */
	snprintf(ro, sizeof(ro), "unix://%s", h->ro_sock);
	hvctl_run(h, ro, "(Get-VMBusChannel v).Count", &r, NULL);
	assert_int_equal(r.status, 0);
	assert_string_equal(r.out, "4\n");
	run_result_free(&r);
	hvctl_run(h, ro, "Disable-VMIntegrationService -VMName v -Name Heartbeat", &r, NULL);
	assert_int_equal(r.status, 1);
	assert_contains(r.err, "read-only socket");
	run_result_free(&r);
	hvctl_run(h, NULL, "Disable-VMIntegrationService -VMName v -Name Telepathy", &r, NULL);
	assert_int_equal(r.status, 1);
	assert_contains(r.err, "There is no integration service \"Telepathy\"");
	run_result_free(&r);
	/* Live: a service turned off is rescinded from the guest; turned on, offered again. */
	free(run_ok(h, "Disable-VMIntegrationService -VMName v -Name 'Key-Value Pair Exchange'"));
	free(wait_output(h, "Get-VMBusChannel v | Where-Object Name -like Key* | Select-Object -ExpandProperty State",
			 "Rescinded"));
	out = run_ok(h, "(Get-VMIntegrationService v -Name Key*).Enabled");
	assert_string_equal(out, "False");
	free(out);
	expect_state(h, "v", "Running");
	free(run_ok(h, "Get-VMIntegrationService v -Name Key* | Enable-VMIntegrationService"));
	free(wait_output(h, "(Get-VMIntegrationService v -Name Key*).PrimaryStatusDescription", "OK"));
	/* A graceful stop goes through the guest's shutdown service. */
	free(run_ok(h, "Stop-VM v"));
	expect_state(h, "v", "Off");
	c = console_of(h, "v");
	assert_contains(c, "hvguest: shutdown requested");
	free(c);
	/* The setting is kept: a service turned off stays off at the next start. */
	free(run_ok(h, "Disable-VMIntegrationService -VMName v -Name 'Time Synchronization'; Start-VM v"));
	free(wait_output(h, "(Get-VMIntegrationService v -Name Heartbeat).PrimaryStatusDescription", "OK"));
	out = run_ok(h, "(Get-VMBusChannel v | Where-Object Name -eq 'Time Synchronization').Count");
	assert_string_equal(out, "0");
	free(out);
	free(run_ok(h, "Stop-VM v -TurnOff"));
}

/* Storage through hvd: New-VHD, Add-VMHardDiskDrive, the guest's disk test on the synthetic
 * SCSI controller, the disk's counters in Get-VMBusChannel, the image clean afterwards
 * (qemu-img check when installed); while the VM runs its worker holds the disk and no other
 * VM can add it, nor can Optimize-VHD change it. */
static void test_storage(void **state)
{
	struct hvd_instance *h = *state;
	char disk[600], script[1600], *out, *c = NULL;
	struct run_result r;
	int i;

	snprintf(disk, sizeof(disk), "%s/s.vhdx", h->dir);
	snprintf(script, sizeof(script),
		 "New-VHD -Path %s -SizeBytes 64MB -Dynamic | Out-Null; New-VM s -MemoryStartupBytes 64MB | Out-Null; "
		 "New-VM s2 -MemoryStartupBytes 64MB | Out-Null; Add-VMHardDiskDrive -VMName s -Path %s; "
		 "Set-VMFirmware s -KernelCommandLine 'hvguest.disktest=1'; Start-VM s",
		 disk, disk);
	free(run_ok(h, script));
	for (i = 0; i < 1200; i++) {
		struct timespec ts = { 0, 100000000 };

		c = console_of(h, "s");
		if (strstr(c, "hvguest: disk 0:0 size=67108864 test="))
			break;
		free(c);
		c = NULL;
		nanosleep(&ts, NULL);
	}
	if (!c)
		fail_msg("the guest printed no disk line");
	assert_contains(c, "hvguest: disk 0:0 size=67108864 test=ok\n");
	free(c);
	/* the worker's samples: the SCSI channel with its disk, 64 points and one 64 KiB write */
	out = wait_output(h, "(Get-VMBusChannel s | Where-Object Name -like *SCSI*).Disks | "
			     "ForEach-Object { 'W' + $_.WriteOperations + ' ' + $_.Path }",
			  "W65 ");
	assert_contains(out, disk);
	free(out);
	snprintf(script, sizeof(script), "Add-VMHardDiskDrive -VMName s2 -Path %s", disk);
	hvctl_run(h, NULL, script, &r, NULL);
	assert_int_equal(r.status, 1);
	assert_contains(r.err, "in use by the running virtual machine \"s\"");
	run_result_free(&r);
	snprintf(script, sizeof(script), "Optimize-VHD -Path %s", disk);
	hvctl_run(h, NULL, script, &r, NULL);
	assert_int_equal(r.status, 1);
	assert_contains(r.err, "in use by the running virtual machine");
	run_result_free(&r);
	free(run_ok(h, "Stop-VM s -TurnOff"));
	if (access("/usr/bin/qemu-img", X_OK) == 0) {
		char *argv[] = { "/usr/bin/qemu-img", "check", "-f", "vhdx", disk, NULL };

		run_program(argv, NULL, &r);
		if (r.status != 0)
			fail_msg("qemu-img check %s:\n%s%s", disk, r.out, r.err);
		run_result_free(&r);
	} else {
		printf("qemu-img is not installed: the image is not checked by it\n");
	}
	/* off: the disk is free for the other VM */
	snprintf(script, sizeof(script), "Add-VMHardDiskDrive -VMName s2 -Path %s", disk);
	free(run_ok(h, script));
}

static unsigned long long assigned_of(const struct hvd_instance *h, const char *vm)
{
	char script[128], *out;
	unsigned long long v;

	snprintf(script, sizeof(script), "(Get-VM %s).MemoryAssigned", vm);
	out = run_ok(h, script);
	v = strtoull(out, NULL, 10);
	free(out);
	return v;
}

/* Dynamic memory through hvd: assignment follows the guest's demand plus its buffer and
 * falls back to Minimum; under a short budget the higher Priority keeps more; Set-VMMemory
 * applies to a running VM at once. */
static void test_dynamic_memory(void **state)
{
	struct hvd_instance *h = *state;
	unsigned long long peak = 0, a, hi, lo;
	char *out;
	int i;

	hvd_stop(h, false);
	h->extra[0] = "--memory-budget";
	h->extra[1] = "700M";
	hvd_start_again(h);
	free(run_ok(h, "New-VM dm -MemoryStartupBytes 256MB | Out-Null; "
		       "Set-VMMemory dm -DynamicMemoryEnabled $true -MinimumBytes 128MB -MaximumBytes 1GB -Buffer 20; "
		       "Set-VMFirmware dm -KernelCommandLine 'hvguest.memload=400M,8'; Start-VM dm"));
	free(wait_ready(h, "dm", 1));
	for (i = 0; i < 240 && peak < (450ull << 20); i++) {
		struct timespec ts = { 0, 250000000 };

		a = assigned_of(h, "dm");
		peak = a > peak ? a : peak;
		nanosleep(&ts, NULL);
	}
	if (peak < (450ull << 20)) /* 400 MB of demand and a 20% buffer */
		fail_msg("MemoryAssigned peaked at %llu", peak);
	out = run_ok(h, "(Get-VM dm).MemoryStatus");
	assert_true(!strcmp(out, "OK") || !strcmp(out, "Low") || !strcmp(out, "Warning"));
	free(out);
	for (i = 0; i < 240 && (a = assigned_of(h, "dm")) > (128ull << 20); i++) {
		struct timespec ts = { 0, 250000000 };

		nanosleep(&ts, NULL);
	}
	assert_int_equal(a, 128ull << 20); /* the load is over: back to Minimum */
	/* Live: a higher Minimum is given at once. */
	free(run_ok(h, "Set-VMMemory dm -MinimumBytes 256MB"));
	for (i = 0; i < 120 && (a = assigned_of(h, "dm")) < (256ull << 20); i++) {
		struct timespec ts = { 0, 250000000 };

		nanosleep(&ts, NULL);
	}
	assert_int_equal(a, 256ull << 20);
	free(run_ok(h, "Stop-VM dm -TurnOff"));
	/* Two competing for 700 MB: both want 480 MB; Priority decides. */
	free(run_ok(h, "New-VM hi -MemoryStartupBytes 128MB | Out-Null; New-VM lo -MemoryStartupBytes 128MB | Out-Null; "
		       "Set-VMMemory hi, lo -DynamicMemoryEnabled $true -MinimumBytes 64MB -MaximumBytes 1GB -Buffer 20; "
		       "Set-VMMemory hi -Priority 90; Set-VMMemory lo -Priority 10; "
		       "Set-VMFirmware hi, lo -KernelCommandLine 'hvguest.memload=400M,30'; Start-VM hi, lo"));
	for (i = 0; i < 240; i++) {
		struct timespec ts = { 0, 250000000 };

		hi = assigned_of(h, "hi");
		lo = assigned_of(h, "lo");
		if (hi >= (450ull << 20))
			break;
		nanosleep(&ts, NULL);
	}
	if (!(hi >= (450ull << 20) && lo <= (700ull << 20) - hi + (8ull << 20)))
		fail_msg("under a 700 MB budget: hi %llu, lo %llu", hi, lo);
	free(run_ok(h, "Stop-VM hi, lo -TurnOff"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_ready_lines, hvd_setup, hvd_teardown),
		cmocka_unit_test_setup_teardown(test_lifecycle, hvd_setup, hvd_teardown),
		cmocka_unit_test_setup_teardown(test_many_and_a_killed_worker, hvd_setup, hvd_teardown),
		cmocka_unit_test_setup_teardown(test_bad_starts, hvd_setup, hvd_teardown),
		cmocka_unit_test_setup_teardown(test_console, hvd_setup, hvd_teardown),
		cmocka_unit_test_setup_teardown(test_watch, hvd_setup, hvd_teardown),
		cmocka_unit_test_setup_teardown(test_vmbus, hvd_setup, hvd_teardown),
		cmocka_unit_test_setup_teardown(test_storage, hvd_setup, hvd_teardown),
		cmocka_unit_test_setup_teardown(test_dynamic_memory, hvd_setup, hvd_teardown),
	};
	int fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);

	if (fd < 0) {
		printf("SKIP: partitions need hardware virtualization and /dev/kvm cannot be opened: %s\n", strerror(errno));
		return 77;
	}
	close(fd);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
