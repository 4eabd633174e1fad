/* Dynamic memory end to end on a real /dev/kvm: hvguest's balloon client connects, the
 * guest is ballooned down to its target and the host's resident memory follows; under
 * hvguest.memload a small policy loop (the daemon's, in miniature) raises the target with
 * the demand and lowers it when the load ends; a guest breaking the protocol is refused,
 * counted, and still ballooned. Skips (exit 77) with the reason when /dev/kvm cannot be
 * opened. No timings are asserted: only where memory ends up. */
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
#include <unistd.h>

#include <cmocka.h>

#include "hvcore/hvcore.h"
#include "tests/hvcore/guest-vm.h"

#define MIB (1ULL << 20)
#define WAIT_S 60


static struct guest_vm *vm_start(uint64_t max, uint64_t startup, const char *cmdline)
{
	struct hv_partition_config cfg = { .vcpus = 1, .mem_bytes = max, .dynamic_memory = 1 };
	struct guest_vm *vm = guest_vm_new(&cfg);

	assert_int_equal(hv_partition_balloon_target(vm->p, startup), 0);
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

/* This process's resident memory, from /proc (the worker measures itself the same way). */
static uint64_t rss_bytes(void)
{
	char line[256];
	uint64_t kb = 0;
	FILE *f = fopen("/proc/self/status", "r");

	assert_non_null(f);
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "VmRSS: %lu kB", &kb) == 1)
			break;
	fclose(f);
	return kb * 1024;
}

static struct hv_balloon_status status(struct guest_vm *vm)
{
	struct hv_balloon_status st;

	assert_int_equal(hv_partition_balloon_status(vm->p, &st), 0);
	return st;
}

/* Waits until the guest holds within 2 MiB of want and no transaction is under way. */
static bool wait_assigned(struct guest_vm *vm, uint64_t want)
{
	struct hv_balloon_status st;
	int i;

	for (i = 0; i < WAIT_S * 20; i++) {
		st = status(vm);
		if (!st.busy && st.assigned_bytes <= want + 2 * MIB && st.assigned_bytes + 2 * MIB >= want)
			return true;
		usleep(50000);
	}
	printf("# assigned %lu, wanted %lu\n%s\n", (unsigned long)st.assigned_bytes,
	       (unsigned long)want, vm->out);
	return false;
}

static void test_off(void **state)
{
	struct hv_partition_config cfg = { .vcpus = 1, .mem_bytes = 64 * MIB, .console_fd = -1 };
	struct hv_balloon_status st;
	struct hv_partition *p;

	(void)state;
	assert_int_equal(hv_partition_new(&cfg, &p), 0);
	assert_int_equal(hv_partition_balloon_target(p, 32 * MIB), -ENOTSUP);
	assert_int_equal(hv_partition_balloon_status(p, &st), -ENOTSUP);
	hv_partition_free(p);
	cfg.dynamic_memory = 1;
	assert_int_equal(hv_partition_new(&cfg, &p), 0);
	assert_int_equal(hv_partition_balloon_target(p, 128 * MIB), -ERANGE);
	assert_int_equal(hv_partition_balloon_target(p, 1 * MIB), -ERANGE);
	assert_int_equal(hv_partition_balloon_status(p, &st), 0);
	assert_false(st.connected);
	assert_int_equal(st.assigned_bytes, 64 * MIB);
	hv_partition_free(p);
}

/* Startup 256 MB, Minimum 128 MB, Maximum 1 GB, Buffer 20 %: the load raises the
 * assignment towards demand plus buffer, the end of the load brings it back, and the
 * resident memory of this process follows both ways. */
static void test_demand(void **state)
{
	const uint64_t min = 128 * MIB, max = 1024 * MIB, load = 400 * MIB;
	struct hv_balloon_status st;
	uint64_t peak = 0, rss_peak = 0, rss_idle, target;
	bool held = false;
	struct guest_vm *vm;
	int i;

	(void)state;
	vm = vm_start(max, 256 * MIB, "hvguest.memload=400M,4");
	assert_true(wait_output(vm, "hvguest: balloon version=2.0"));
	assert_true(wait_assigned(vm, 256 * MIB));
	for (i = 0; i < WAIT_S * 10 && !guest_vm_has(vm, "hvguest: memload done"); i++) {
		st = status(vm);
		target = st.demand_bytes + st.demand_bytes / 5;
		target = target < min ? min : target > max ? max : target;
		assert_int_equal(hv_partition_balloon_target(vm->p, target & ~(4096ULL - 1)), 0);
		if (getenv("BALLOON_DEBUG") && i % 10 == 0)
			printf("# a %lu d %lu r %lu busy %d t %lu\n", (unsigned long)st.assigned_bytes >> 20,
			       (unsigned long)st.demand_bytes >> 20, (unsigned long)st.reports, st.busy,
			       (unsigned long)target >> 20);
		if (st.assigned_bytes > peak)
			peak = st.assigned_bytes;
		if (guest_vm_has(vm, "hvguest: memload holding")) {
			uint64_t r = rss_bytes();

			held = true;
			if (r > rss_peak)
				rss_peak = r;
		}
		usleep(100000);
	}
	assert_true(held);
	assert_true(guest_vm_has(vm, "hvguest: memload holding bytes=419430400"));
	assert_true(peak >= load);
	assert_true(rss_peak >= load);
	/* Load over: demand falls to the guest's base, the target to Minimum. */
	for (i = 0; i < WAIT_S * 10; i++) {
		st = status(vm);
		target = st.demand_bytes + st.demand_bytes / 5;
		target = target < min ? min : target > max ? max : target;
		assert_int_equal(hv_partition_balloon_target(vm->p, target & ~(4096ULL - 1)), 0);
		if (!st.busy && st.assigned_bytes <= min + 2 * MIB && st.reports > 3)
			break;
		usleep(100000);
	}
	st = status(vm);
	if (st.assigned_bytes > min + 2 * MIB)
		printf("# assigned %lu demand %lu committed %lu avail %lu busy %d target %lu "
		       "timeouts %lu\n%s\n", (unsigned long)st.assigned_bytes,
		       (unsigned long)st.demand_bytes, (unsigned long)st.committed_pages,
		       (unsigned long)st.avail_pages, st.busy, (unsigned long)st.target_bytes,
		       (unsigned long)st.timeouts, vm->out);
	assert_true(st.assigned_bytes <= min + 2 * MIB);
	rss_idle = rss_bytes();
	printf("# peak assigned %lu MiB, rss held %lu MiB, rss after %lu MiB, released %lu MiB\n",
	       (unsigned long)(peak >> 20), (unsigned long)(rss_peak >> 20),
	       (unsigned long)(rss_idle >> 20), (unsigned long)(st.released_bytes >> 20));
	assert_true(rss_idle + load / 2 < rss_peak);
	assert_int_equal(st.hostile, 0);
	vm_end(vm);
}

/* Ranges outside RAM, absurd counts, unasked answers, unknown types: refused, counted; the
 * partition runs on and the balloon still reaches its target. */
static void test_hostile(void **state)
{
	struct hv_balloon_status st;
	struct guest_vm *vm;

	(void)state;
	vm = vm_start(256 * MIB, 128 * MIB, "hvguest.balloon=hostile");
	assert_true(wait_output(vm, "hvguest: balloon misbehaved"));
	assert_true(wait_assigned(vm, 128 * MIB));
	st = status(vm);
	/* absurd status, unasked unballoon response, unknown type, short packet, a range
	 * outside RAM, an absurd range count */
	assert_true(st.hostile >= 6);
	assert_true(st.reports >= 1);
	assert_false(__atomic_load_n(&vm->done, __ATOMIC_SEQ_CST));
	/* Given back: the guest takes the pages again. */
	assert_int_equal(hv_partition_balloon_target(vm->p, 200 * MIB), 0);
	assert_true(wait_assigned(vm, 200 * MIB));
	vm_end(vm);
}

/* The balloon is saved with the partition: after a restore the guest's driver is still
 * connected, the ballooned pages are still out, and the balloon goes on following its target
 * both ways (before the balloon was saved, a restored VM's dynamic memory stopped). */
static void test_restore(void **state)
{
	struct hv_partition_config cfg = { .vcpus = 1, .mem_bytes = 256 * MIB, .dynamic_memory = 1 };
	char path[] = "/tmp/hvkit-balloon-XXXXXX", err[256];
	struct hv_balloon_status st;
	struct guest_vm *vm;
	int fd;

	(void)state;
	vm = vm_start(256 * MIB, 128 * MIB, "");
	assert_true(wait_output(vm, "hvguest: balloon version=2.0"));
	assert_true(wait_assigned(vm, 128 * MIB));
	fd = mkstemp(path);
	assert_true(fd >= 0);
	unlink(path);
	assert_int_equal(hv_partition_pause(vm->p), 0);
	assert_int_equal(hv_partition_save(vm->p, fd), 0);
	assert_int_equal(hv_partition_resume(vm->p), 0);
	vm_end(vm);
	vm = guest_vm_new(&cfg);
	if (hv_partition_restore(vm->p, fd, 0, err, sizeof(err)) != 0)
		fail_msg("restore: %s", err);
	close(fd);
	guest_vm_start(vm);
	st = status(vm);
	assert_true(st.connected);
	assert_true(st.assigned_bytes <= 130 * MIB && st.assigned_bytes + 2 * MIB >= 128 * MIB);
	assert_int_equal(hv_partition_balloon_target(vm->p, 200 * MIB), 0);
	assert_true(wait_assigned(vm, 200 * MIB));
	assert_int_equal(hv_partition_balloon_target(vm->p, 96 * MIB), 0);
	assert_true(wait_assigned(vm, 96 * MIB));
	st = status(vm);
	assert_int_equal(st.hostile, 0);
	vm_end(vm);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_off),
		cmocka_unit_test(test_hostile),
		cmocka_unit_test(test_demand),
		cmocka_unit_test(test_restore),
	};

	guest_vm_setup("dynamic memory needs a partition on KVM");
	return cmocka_run_group_tests(tests, NULL, NULL);
}
