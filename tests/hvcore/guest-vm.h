/* What the libhvcore tests that boot the built-in guest share: the guest image, a partition
 * running it in a thread of its own, and its console output to wait on. cmocka asserts are
 * used, so these are for cmocka tests only. */
#ifndef HVKIT_TESTS_GUEST_VM_H
#define HVKIT_TESTS_GUEST_VM_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hvcore/hvcore.h"

struct guest_vm {
	struct hv_partition *p;
	pthread_t t;
	struct hv_stop_info info;
	int r, done;
	pthread_mutex_t lock;
	char out[16384]; /* the console, NUL-terminated; what does not fit is dropped */
	size_t len;
};

/* The built-in guest: $HVGUEST, else $top_builddir/hvcore/guest/hvguest. */
extern uint8_t *guest_img;
extern size_t guest_len;

/* For main(): exits 77 saying "/dev/kvm cannot be opened (...): <why>" when there is no KVM,
 * 1 when the guest cannot be read; else loads it into guest_img. */
void guest_vm_setup(const char *why_kvm);

/* A partition of cfg with the console hooked up (vCPUs and memory as cfg says; on a failure
 * the reason hv_partition_new gives is printed before the assert). */
struct guest_vm *guest_vm_new(struct hv_partition_config *cfg);
/* Loads the guest with cmdline and runs the partition in a thread. */
void guest_vm_boot(struct guest_vm *vm, const char *cmdline);
/* Runs the partition (loaded or restored already) in a thread. */
void guest_vm_start(struct guest_vm *vm);

bool guest_vm_has(struct guest_vm *vm, const char *s);
/* Waits up to seconds for s on the console; prints the console when it never came. */
bool guest_vm_wait(struct guest_vm *vm, const char *s, int seconds);

/* Gives the run up to wait_s seconds to end by itself, turns it off if it has not, checks
 * that it ran (and ended for reason want, unless HV_STOP_NONE) and frees everything. */
void guest_vm_end(struct guest_vm *vm, int wait_s, enum hv_stop_reason want);

#endif
