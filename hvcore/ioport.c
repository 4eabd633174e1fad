/* Port I/O: one table of devices, looked up on every KVM_EXIT_IO. */
#include "config.h"

#include <string.h>

#include "hvcore/vmbus-priv.h"

typedef void ioport_fn(struct hv_vcpu *v, uint16_t port, bool is_write, uint8_t *data,
		       unsigned size);

struct ioport_dev {
	uint16_t base;
	uint16_t len;
	ioport_fn *io;
};

static void serial_port(struct hv_vcpu *v, uint16_t port, bool is_write, uint8_t *data,
			unsigned size)
{
	unsigned i;

	/* A wider access is a run of byte accesses to consecutive registers. */
	for (i = 0; i < size && port + i < HV_COM1_BASE + 8; i++)
		hv_serial_io(v, (uint16_t)(port + i - HV_COM1_BASE), is_write, &data[i]);
}

/* Ports a PC guest pokes that need no behaviour: reads float, writes vanish. Listed so the
 * table says what the partition has on purpose. */
static void ignore_port(struct hv_vcpu *v, uint16_t port, bool is_write, uint8_t *data,
			unsigned size)
{
	if (!is_write)
		memset(data, 0xff, size);
}

static void hypercall_port(struct hv_vcpu *v, uint16_t port, bool is_write, uint8_t *data,
			   unsigned size)
{
	(void)port;
	(void)size;
	if (is_write)
		hv_hyperv_hypercall(v);
	else
		*data = 0xff;
}

static const struct ioport_dev devices[] = {
	{ 0x0060, 1, hv_kbd_io },   /* keyboard controller data */
	{ 0x0064, 1, hv_kbd_io },   /* keyboard controller command: 0xfe resets */
	{ 0x0080, 1, ignore_port }, /* POST diagnostics */
	{ HV_COM1_BASE, 8, serial_port },
	{ HV_PM_BASE, HV_PM_LEN, hv_pm_io },
	{ 0x0cf9, 1, hv_reset_io }, /* reset control register */
	{ HV_HYPERCALL_PORT, 1, hypercall_port }, /* the Hyper-V hypercall page's trap */
};

void hv_ioport_access(struct hv_vcpu *v, uint16_t port, bool is_write, uint8_t *data,
		      unsigned size)
{
	size_t i;

	for (i = 0; i < sizeof(devices) / sizeof(devices[0]); i++) {
		if (port >= devices[i].base && port < devices[i].base + devices[i].len) {
			devices[i].io(v, port, is_write, data, size);
			return;
		}
	}
	ignore_port(v, port, is_write, data, size);
}
