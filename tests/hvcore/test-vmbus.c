/* VMBus end to end on a real /dev/kvm: hvguest connects, opens the four integration
 * services, answers heartbeats, shuts down when asked; services are rescinded and offered
 * again live; a guest sending garbage on purpose is counted and survived. Skips (exit 77)
 * with the reason when /dev/kvm cannot be opened. */
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
#include "tests/hvcore/guest-vm.h"

#define MIB (1ULL << 20)
#define WAIT_S 30

static struct guest_vm *vm_start(struct hv_partition_config *cfg, const char *cmdline)
{
	struct guest_vm *vm;

	if (!cfg->vcpus)
		cfg->vcpus = 2;
	if (!cfg->mem_bytes)
		cfg->mem_bytes = 64 * MIB;
	vm = guest_vm_new(cfg);
	guest_vm_boot(vm, cmdline);
	return vm;
}

static bool wait_output(struct guest_vm *vm, const char *s)
{
	return guest_vm_wait(vm, s, WAIT_S);
}

/* Ends the run (turned off if still going) and frees everything. */
static void vm_end(struct guest_vm *vm, enum hv_stop_reason want)
{
	guest_vm_end(vm, WAIT_S, want);
}
static enum hv_ic_health wait_health(struct guest_vm *vm, enum hv_ic ic, enum hv_ic_health want,
				     uint64_t after_ns)
{
	struct hv_ic_status st;
	int i;

	for (i = 0; i < WAIT_S * 20; i++) {
		assert_int_equal(hv_partition_ic_status(vm->p, ic, &st), 0);
		if (st.health == want && st.last_contact_ns > after_ns)
			break;
		usleep(50000);
	}
	return st.health;
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static const struct hv_vmbus_channel_stats *find(const struct hv_vmbus_channel_stats *st, int n,
						 const char *name)
{
	int i;

	for (i = 0; i < n; i++)
		if (strcmp(st[i].name, name) == 0)
			return &st[i];
	return NULL;
}

static void test_names(void **state)
{
	(void)state;
	assert_string_equal(hv_ic_name(HV_IC_HEARTBEAT), "Heartbeat");
	assert_string_equal(hv_ic_name(HV_IC_SHUTDOWN), "Shutdown");
	assert_string_equal(hv_ic_name(HV_IC_TIMESYNC), "Time Synchronization");
	assert_string_equal(hv_ic_name(HV_IC_KVP), "Key-Value Pair Exchange");
	assert_null(hv_ic_name(HV_IC_COUNT));
}

/* Connect, four channels, heartbeat OK, counters growing, shutdown through the service. */
static void test_connect_heartbeat_shutdown(void **state)
{
	struct hv_partition_config cfg = { .vcpus = 2 };
	struct hv_vmbus_channel_stats st[8], st2[8];
	const struct hv_vmbus_channel_stats *hb, *hb2;
	struct hv_vmbus_info info;
	struct hv_ic_status ic;
	struct guest_vm *vm;
	int n, i;

	(void)state;
	vm = vm_start(&cfg, NULL);
	assert_true(wait_output(vm, "hvguest: vmbus version=5.3 channels=4\n"));
	assert_int_equal(hv_partition_vmbus_info(vm->p, &info), 0);
	assert_int_equal(info.version, 0x50003);
	assert_int_equal(info.channels, 4);
	assert_int_equal(info.bad_messages, 0);
	assert_int_equal(wait_health(vm, HV_IC_HEARTBEAT, HV_IC_OK, 0), HV_IC_OK);
	for (i = 0; i < HV_IC_COUNT; i++) {
		assert_int_equal(wait_health(vm, (enum hv_ic)i, HV_IC_OK, 0), HV_IC_OK);
		assert_int_equal(hv_partition_ic_status(vm->p, (enum hv_ic)i, &ic), 0);
		assert_true(ic.enabled);
		assert_true(ic.open);
		assert_true(ic.last_contact_ns > 0);
	}
	assert_int_equal(hv_partition_ic_status(vm->p, HV_IC_HEARTBEAT, &ic), 0);
	assert_int_equal(ic.version, 0x30000);
	assert_int_equal(hv_partition_ic_status(vm->p, HV_IC_SHUTDOWN, &ic), 0);
	assert_int_equal(ic.version, 0x30002);
	assert_int_equal(hv_partition_ic_status(vm->p, HV_IC_TIMESYNC, &ic), 0);
	assert_int_equal(ic.version, 0x40000);
	assert_int_equal(hv_partition_ic_status(vm->p, HV_IC_KVP, &ic), 0);
	assert_int_equal(ic.version, 0x40000);
	assert_int_equal(hv_partition_ic_status(vm->p, HV_IC_COUNT, &ic), -EINVAL);

	n = hv_partition_vmbus_channels(vm->p, st, 8);
	assert_int_equal(n, 4);
	assert_int_equal(hv_partition_vmbus_channels(vm->p, st, 1), 4);
	hb = find(st, n, "Heartbeat");
	assert_non_null(hb);
	assert_string_equal(hb->interface_type, "57164f39-9115-4e78-ab55-382f3bd5422d");
	assert_int_equal(hb->state, HV_CHANNEL_OPEN);
	assert_true(hb->relid > 0);
	assert_true(hb->packets_out >= 2 && hb->packets_in >= 2); /* negotiate + a beat */
	assert_true(hb->bytes_in > 0 && hb->bytes_out > 0);
	assert_true(hb->interrupts_in > 0 && hb->interrupts_out > 0);
	assert_int_equal(hb->in_ring_size, 8192);
	assert_int_equal(hb->out_ring_size, 8192);
	assert_true(hb->out_ring_high > 0 && hb->in_ring_high > 0);
	assert_int_equal(hb->bad_packets, 0);
	assert_non_null(find(st, n, "Shutdown"));
	assert_non_null(find(st, n, "Time Synchronization"));
	assert_string_equal(find(st, n, "Key-Value Pair Exchange")->instance_id,
			    "242ff919-07db-4180-9c2e-b86cb68c8c55");
	usleep(2200000);
	assert_int_equal(hv_partition_vmbus_channels(vm->p, st2, 8), 4);
	hb2 = find(st2, 4, "Heartbeat");
	assert_true(hb2->packets_out >= hb->packets_out + 2);
	assert_true(hb2->packets_in >= hb->packets_in + 2);
	assert_int_equal(wait_health(vm, HV_IC_HEARTBEAT, HV_IC_OK, 0), HV_IC_OK);

	assert_int_equal(hv_partition_guest_shutdown(vm->p, 0, "test"), 0);
	vm_end(vm, HV_STOP_POWEROFF);
}

static void test_shutdown_output(void **state)
{
	struct hv_partition_config cfg = { .vcpus = 1 };
	struct guest_vm *vm;

	(void)state;
	vm = vm_start(&cfg, "hvguest.echo=1");
	assert_true(wait_output(vm, "hvguest: vmbus version=5.3 channels=4\n"));
	assert_int_equal(wait_health(vm, HV_IC_SHUTDOWN, HV_IC_OK, 0), HV_IC_OK);
	assert_int_equal(hv_partition_guest_shutdown(vm->p, 0, NULL), 0);
	assert_true(wait_output(vm, "hvguest: shutdown requested\n"));
	vm_end(vm, HV_STOP_POWEROFF);
}

static void test_shutdown_not_connected(void **state)
{
	struct hv_partition_config cfg = { .vcpus = 1, .mem_bytes = 32 * MIB, .console_fd = -1 };
	struct hv_partition *p = NULL;
	struct hv_vmbus_info info;

	(void)state;
	assert_int_equal(hv_partition_new(&cfg, &p), 0);
	assert_int_equal(hv_partition_guest_shutdown(p, 0, "x"), -ENOTCONN);
	assert_int_equal(hv_partition_vmbus_info(p, &info), 0);
	assert_int_equal(info.version, 0);
	assert_int_equal(info.channels, 0);
	hv_partition_free(p);
}

/* Disabling rescinds (the guest lets the channel go), enabling offers it again. */
static void test_rescind_reoffer(void **state)
{
	struct hv_partition_config cfg = { .vcpus = 2 };
	struct hv_vmbus_channel_stats st[8];
	struct hv_vmbus_info info;
	struct hv_ic_status ic;
	uint64_t t;
	struct guest_vm *vm;
	int n, i;

	(void)state;
	vm = vm_start(&cfg, NULL);
	assert_true(wait_output(vm, "channels=4\n"));
	assert_int_equal(wait_health(vm, HV_IC_HEARTBEAT, HV_IC_OK, 0), HV_IC_OK);
	assert_int_equal(hv_partition_ic_enable(vm->p, HV_IC_HEARTBEAT, 0), 0);
	assert_int_equal(hv_partition_ic_enable(vm->p, HV_IC_HEARTBEAT, 0), 0);
	assert_int_equal(hv_partition_ic_status(vm->p, HV_IC_HEARTBEAT, &ic), 0);
	assert_false(ic.enabled);
	assert_false(ic.open);
	assert_int_equal(ic.health, HV_IC_DISABLED);
	assert_int_equal(hv_partition_vmbus_info(vm->p, &info), 0);
	assert_int_equal(info.channels, 3);
	n = hv_partition_vmbus_channels(vm->p, st, 8);
	assert_int_equal(n, 4);
	assert_int_equal(find(st, n, "Heartbeat")->state, HV_CHANNEL_RESCINDED);
	usleep(300000); /* the guest releases the relid */
	t = now_ns();
	assert_int_equal(hv_partition_ic_enable(vm->p, HV_IC_HEARTBEAT, 1), 0);
	for (i = 0; i < WAIT_S * 20; i++) {
		assert_int_equal(hv_partition_ic_status(vm->p, HV_IC_HEARTBEAT, &ic), 0);
		if (ic.open)
			break;
		usleep(50000);
	}
	assert_true(ic.open);
	assert_int_equal(wait_health(vm, HV_IC_HEARTBEAT, HV_IC_OK, t), HV_IC_OK);
	assert_int_equal(hv_partition_vmbus_info(vm->p, &info), 0);
	assert_int_equal(info.channels, 4);
	assert_int_equal(info.bad_messages, 0);
	/* Rescinding the shutdown service makes the request impossible. */
	assert_int_equal(hv_partition_ic_enable(vm->p, HV_IC_SHUTDOWN, 0), 0);
	assert_int_equal(hv_partition_guest_shutdown(vm->p, 0, NULL), -ENOTCONN);
	assert_int_equal(hv_partition_ic_enable(vm->p, HV_IC_COUNT, 1), -EINVAL);
	assert_int_equal(hv_partition_power_button(vm->p), 0);
	vm_end(vm, HV_STOP_POWEROFF);
}

/* A guest that stops answering (paused here) loses its heartbeat health, and gets it back. */
static void test_heartbeat_lost(void **state)
{
	struct hv_partition_config cfg = { .vcpus = 1 };
	struct hv_ic_status ic;
	uint64_t t;
	struct guest_vm *vm;

	(void)state;
	vm = vm_start(&cfg, NULL);
	assert_true(wait_output(vm, "channels=4\n"));
	assert_int_equal(wait_health(vm, HV_IC_HEARTBEAT, HV_IC_OK, 0), HV_IC_OK);
	assert_int_equal(hv_partition_pause(vm->p), 0);
	sleep(4);
	assert_int_equal(hv_partition_ic_status(vm->p, HV_IC_HEARTBEAT, &ic), 0);
	assert_int_equal(ic.health, HV_IC_LOST_COMMUNICATION);
	assert_true(ic.open);
	t = now_ns();
	assert_int_equal(hv_partition_resume(vm->p), 0);
	assert_int_equal(wait_health(vm, HV_IC_HEARTBEAT, HV_IC_OK, t), HV_IC_OK);
	assert_int_equal(hv_partition_power_button(vm->p), 0);
	vm_end(vm, HV_STOP_POWEROFF);
}

static void test_ic_disabled_at_start(void **state)
{
	struct hv_partition_config cfg = { .vcpus = 1, .ic_disabled = 1u << HV_IC_KVP };
	struct hv_vmbus_channel_stats st[8];
	struct hv_ic_status ic;
	struct guest_vm *vm;

	(void)state;
	vm = vm_start(&cfg, NULL);
	assert_true(wait_output(vm, "hvguest: vmbus version=5.3 channels=3\n"));
	assert_int_equal(hv_partition_ic_status(vm->p, HV_IC_KVP, &ic), 0);
	assert_int_equal(ic.health, HV_IC_DISABLED);
	assert_int_equal(hv_partition_vmbus_channels(vm->p, st, 8), 3);
	assert_int_equal(hv_partition_ic_enable(vm->p, HV_IC_KVP, 1), 0);
	assert_int_equal(wait_health(vm, HV_IC_KVP, HV_IC_OK, 0), HV_IC_OK);
	assert_int_equal(hv_partition_vmbus_channels(vm->p, st, 8), 4);
	assert_int_equal(wait_health(vm, HV_IC_SHUTDOWN, HV_IC_OK, 0), HV_IC_OK);
	assert_int_equal(hv_partition_guest_shutdown(vm->p, 0, NULL), 0);
	vm_end(vm, HV_STOP_POWEROFF);
}

/* A plain KVM guest: no Hyper-V leaves, hvguest finds no VMBus and waits for the button. */
static void test_vmbus_off(void **state)
{
	struct hv_partition_config cfg = { .vcpus = 1, .vmbus_off = 1 };
	struct hv_vmbus_info info;
	struct hv_ic_status ic;
	struct guest_vm *vm;

	(void)state;
	vm = vm_start(&cfg, NULL);
	assert_true(wait_output(vm, "hvguest: ready"));
	usleep(200000);
	assert_false(guest_vm_has(vm, "vmbus"));
	assert_int_equal(hv_partition_vmbus_info(vm->p, &info), 0);
	assert_int_equal(info.version, 0);
	assert_int_equal(hv_partition_vmbus_channels(vm->p, NULL, 0), 0);
	assert_int_equal(hv_partition_ic_status(vm->p, HV_IC_HEARTBEAT, &ic), 0);
	assert_int_equal(ic.health, HV_IC_DISABLED);
	assert_int_equal(hv_partition_ic_enable(vm->p, HV_IC_HEARTBEAT, 1), -ENOTSUP);
	assert_int_equal(hv_partition_guest_shutdown(vm->p, 0, NULL), -ENOTCONN);
	assert_int_equal(hv_partition_power_button(vm->p), 0);
	vm_end(vm, HV_STOP_POWEROFF);
}

/* hvguest.vmbus=0: the surface is there, the guest does not connect. */
static void test_guest_skips_vmbus(void **state)
{
	struct hv_partition_config cfg = { .vcpus = 1 };
	struct hv_vmbus_info info;
	struct hv_ic_status ic;
	struct guest_vm *vm;

	(void)state;
	vm = vm_start(&cfg, "hvguest.vmbus=0");
	assert_true(wait_output(vm, "hvguest: ready"));
	usleep(300000);
	assert_false(guest_vm_has(vm, "vmbus"));
	assert_int_equal(hv_partition_vmbus_info(vm->p, &info), 0);
	assert_int_equal(info.version, 0);
	assert_int_equal(hv_partition_ic_status(vm->p, HV_IC_HEARTBEAT, &ic), 0);
	assert_int_equal(ic.health, HV_IC_NO_CONTACT);
	assert_int_equal(hv_partition_power_button(vm->p), 0);
	vm_end(vm, HV_STOP_POWEROFF);
}

/* Garbage on purpose: refused and counted, the partition and the heartbeat live on. */
static void test_misbehave(void **state)
{
	struct hv_partition_config cfg = { .vcpus = 2 };
	struct hv_vmbus_channel_stats st[8];
	const struct hv_vmbus_channel_stats *c;
	struct hv_vmbus_info info;
	struct hv_ic_status ic;
	uint64_t t;
	struct guest_vm *vm;
	int n;

	(void)state;
	vm = vm_start(&cfg, "hvguest.misbehave=1");
	assert_true(wait_output(vm, "hvguest: vmbus version=5.3 channels=3\n"));
	assert_true(wait_output(vm, "hvguest: misbehaved\n"));
	t = now_ns();
	assert_int_equal(hv_partition_vmbus_info(vm->p, &info), 0);
	/* unknown type, two short messages, GPADL outside RAM, two bad opens, two packets */
	assert_true(info.bad_messages >= 8);
	n = hv_partition_vmbus_channels(vm->p, st, 8);
	assert_int_equal(n, 4);
	c = find(st, n, "Time Synchronization");
	assert_int_equal(c->state, HV_CHANNEL_FAULTED);
	assert_true(c->bad_packets >= 1);
	c = find(st, n, "Key-Value Pair Exchange");
	assert_int_equal(c->state, HV_CHANNEL_OFFERED);
	assert_true(c->bad_packets >= 2);
	c = find(st, n, "Heartbeat");
	assert_int_equal(c->state, HV_CHANNEL_OPEN);
	assert_true(c->bad_packets >= 1);
	assert_int_equal(wait_health(vm, HV_IC_HEARTBEAT, HV_IC_OK, t), HV_IC_OK);
	assert_int_equal(hv_partition_ic_status(vm->p, HV_IC_KVP, &ic), 0);
	assert_false(ic.open);
	assert_int_equal(wait_health(vm, HV_IC_SHUTDOWN, HV_IC_OK, 0), HV_IC_OK);
	assert_int_equal(hv_partition_guest_shutdown(vm->p, 0, "after garbage"), 0);
	assert_true(wait_output(vm, "hvguest: shutdown requested\n"));
	vm_end(vm, HV_STOP_POWEROFF);
}

/* With statistics off the services work and the counters stay at zero. */
static void test_no_stats(void **state)
{
	struct hv_partition_config cfg = { .vcpus = 1, .vmbus_no_stats = 1 };
	struct hv_vmbus_channel_stats st[8];
	struct guest_vm *vm;
	int n, i;

	(void)state;
	vm = vm_start(&cfg, NULL);
	assert_true(wait_output(vm, "channels=4\n"));
	assert_int_equal(wait_health(vm, HV_IC_HEARTBEAT, HV_IC_OK, 0), HV_IC_OK);
	n = hv_partition_vmbus_channels(vm->p, st, 8);
	assert_int_equal(n, 4);
	for (i = 0; i < n; i++) {
		assert_int_equal(st[i].packets_in + st[i].packets_out + st[i].interrupts_in, 0);
		assert_int_equal(st[i].state, HV_CHANNEL_OPEN);
	}
	assert_int_equal(wait_health(vm, HV_IC_SHUTDOWN, HV_IC_OK, 0), HV_IC_OK);
	assert_int_equal(hv_partition_guest_shutdown(vm->p, 1, "reboot"), 0);
	vm_end(vm, HV_STOP_RESET);
}

/* The loopback channel (bench only) and hvguest.vmbusbench=N. */
static void test_loopback_bench(void **state)
{
	struct hv_partition_config cfg = { .vcpus = 1, .vmbus_echo = 1 };
	struct hv_vmbus_channel_stats st[8];
	const struct hv_vmbus_channel_stats *e;
	struct guest_vm *vm;
	int n;

	(void)state;
	vm = vm_start(&cfg, "hvguest.vmbusbench=20");
	assert_true(wait_output(vm, "hvguest: vmbus version=5.3 channels=5\n"));
	assert_true(wait_output(vm, "hvguest: vmbusbench n=20 rtt_ns="));
	n = hv_partition_vmbus_channels(vm->p, st, 8);
	assert_int_equal(n, 5);
	e = find(st, n, "hvkit Echo");
	assert_non_null(e);
	assert_int_equal(e->packets_in, 20 + 20 + 1);
	assert_int_equal(e->packets_out, 20 + 1);
	assert_int_equal(e->bytes_in, 21 * 64 + 20 * 1024);
	vm_end(vm, HV_STOP_POWEROFF);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_shutdown_not_connected),
		cmocka_unit_test(test_connect_heartbeat_shutdown),
		cmocka_unit_test(test_shutdown_output),
		cmocka_unit_test(test_rescind_reoffer),
		cmocka_unit_test(test_heartbeat_lost),
		cmocka_unit_test(test_ic_disabled_at_start),
		cmocka_unit_test(test_vmbus_off),
		cmocka_unit_test(test_guest_skips_vmbus),
		cmocka_unit_test(test_misbehave),
		cmocka_unit_test(test_no_stats),
		cmocka_unit_test(test_loopback_bench),
	};
	guest_vm_setup("VMBus needs a partition on KVM");
	return cmocka_run_group_tests(tests, NULL, NULL);
}
