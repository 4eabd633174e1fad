/* See guest-vm.h. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "tests/hvcore/guest-vm.h"

uint8_t *guest_img;
size_t guest_len;

static int read_guest(const char *path)
{
	struct stat st;
	ssize_t n;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	guest_len = (size_t)st.st_size;
	guest_img = malloc(guest_len);
	n = guest_img ? read(fd, guest_img, guest_len) : -1;
	close(fd);
	return n == (ssize_t)guest_len ? 0 : -1;
}

void guest_vm_setup(const char *why_kvm)
{
	const char *env = getenv("HVGUEST");
	char path[4096];
	int fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);

	if (fd < 0) {
		printf("SKIP: /dev/kvm cannot be opened (%s): %s\n", strerror(errno), why_kvm);
		exit(77);
	}
	close(fd);
	if (env && *env)
		snprintf(path, sizeof(path), "%s", env);
	else
		snprintf(path, sizeof(path), "%s/hvcore/guest/hvguest",
			 getenv("top_builddir") ? getenv("top_builddir") : ".");
	if (read_guest(path) < 0) {
		printf("FAIL: cannot read the built-in guest %s\n", path);
		exit(1);
	}
}

static void on_console(void *opaque, const void *buf, size_t len)
{
	struct guest_vm *vm = opaque;

	pthread_mutex_lock(&vm->lock);
	if (len > sizeof(vm->out) - 1 - vm->len)
		len = sizeof(vm->out) - 1 - vm->len;
	memcpy(vm->out + vm->len, buf, len);
	vm->len += len;
	vm->out[vm->len] = 0;
	pthread_mutex_unlock(&vm->lock);
}

static void *run_main(void *arg)
{
	struct guest_vm *vm = arg;

	vm->r = hv_partition_run(vm->p, &vm->info);
	__atomic_store_n(&vm->done, 1, __ATOMIC_SEQ_CST);
	return NULL;
}

struct guest_vm *guest_vm_new(struct hv_partition_config *cfg)
{
	struct guest_vm *vm = calloc(1, sizeof(*vm));
	char why[512] = "";

	assert_non_null(vm);
	pthread_mutex_init(&vm->lock, NULL);
	cfg->console = on_console;
	cfg->console_opaque = vm;
	cfg->console_fd = -1;
	if (!cfg->why) {
		cfg->why = why;
		cfg->why_len = sizeof(why);
	}
	if (hv_partition_new(cfg, &vm->p) && cfg->why == why)
		printf("# %s\n", why);
	if (cfg->why == why)
		cfg->why = NULL;
	assert_non_null(vm->p);
	return vm;
}

void guest_vm_boot(struct guest_vm *vm, const char *cmdline)
{
	assert_int_equal(hv_partition_load_kernel(vm->p, guest_img, guest_len, NULL, 0, cmdline), 0);
	guest_vm_start(vm);
}

void guest_vm_start(struct guest_vm *vm)
{
	assert_int_equal(pthread_create(&vm->t, NULL, run_main, vm), 0);
}

bool guest_vm_has(struct guest_vm *vm, const char *s)
{
	bool r;

	pthread_mutex_lock(&vm->lock);
	r = strstr(vm->out, s) != NULL;
	pthread_mutex_unlock(&vm->lock);
	return r;
}

bool guest_vm_wait(struct guest_vm *vm, const char *s, int seconds)
{
	int i;

	for (i = 0; i < seconds * 100 && !guest_vm_has(vm, s); i++)
		usleep(10000);
	if (!guest_vm_has(vm, s))
		printf("# waited for \"%s\", output:\n%s\n", s, vm->out);
	return guest_vm_has(vm, s);
}

void guest_vm_end(struct guest_vm *vm, int wait_s, enum hv_stop_reason want)
{
	int i;

	for (i = 0; i < wait_s * 100 && !__atomic_load_n(&vm->done, __ATOMIC_SEQ_CST); i++)
		usleep(10000);
	if (!__atomic_load_n(&vm->done, __ATOMIC_SEQ_CST))
		(void)hv_partition_stop(vm->p);
	pthread_join(vm->t, NULL);
	assert_int_equal(vm->r, 0);
	if (want != HV_STOP_NONE)
		assert_int_equal(vm->info.reason, want);
	hv_partition_free(vm->p);
	pthread_mutex_destroy(&vm->lock);
	free(vm);
}
