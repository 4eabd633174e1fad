/* ACPI fixed-hardware power management (PM1a event and control blocks named by the FADT)
 * and the two PC reset paths. Power-off and reset end the run; they never return to the
 * guest. ACPI 6.4 4.8.3 (PM1 registers), 7.4.2 (\_S5). */
#include "config.h"

#include <string.h>
#include <sys/ioctl.h>

#include "hvcore/hv-priv.h"

#define SLP_EN (1u << 13)
#define SLP_TYP_SHIFT 10
#define SCI_EN 1u

static void stop(struct hv_vcpu *v, enum hv_stop_reason reason)
{
	struct hv_stop_info info = { .reason = reason, .vcpu = (int)v->id };
	struct kvm_regs regs;

	if (ioctl(v->fd, KVM_GET_REGS, &regs) == 0)
		info.rip = regs.rip;
	info.exit_reason = KVM_EXIT_IO;
	hv_partition_request_stop(v->p, &info);
}

static uint32_t get_le(const uint8_t *data, unsigned size)
{
	uint32_t x = 0;
	unsigned i;

	for (i = 0; i < size && i < 4; i++)
		x |= (uint32_t)data[i] << (8 * i);
	return x;
}

void hv_pm_io(struct hv_vcpu *v, uint16_t port, bool is_write, uint8_t *data, unsigned size)
{
	uint32_t val;

	if (!is_write) {
		memset(data, 0, size);
		/* Always in ACPI mode: there is no SMI command port to switch. */
		if (port == HV_PM1A_CNT)
			data[0] = SCI_EN;
		return;
	}
	if (port != HV_PM1A_CNT || size < 2)
		return;
	val = get_le(data, size);
	if ((val & SLP_EN) && ((val >> SLP_TYP_SHIFT) & 7) == HV_S5_SLP_TYP)
		stop(v, HV_STOP_POWEROFF);
}

/* Port 0xcf9: bit 2 starts the reset (bit 1 picks hard or soft, both end the run). */
void hv_reset_io(struct hv_vcpu *v, uint16_t port, bool is_write, uint8_t *data, unsigned size)
{
	if (!is_write) {
		memset(data, 0, size);
		return;
	}
	if (data[0] & 0x04)
		stop(v, HV_STOP_RESET);
}

/* Just enough of an 8042 for the reset command 0xfe: an empty, ready controller. */
void hv_kbd_io(struct hv_vcpu *v, uint16_t port, bool is_write, uint8_t *data, unsigned size)
{
	if (!is_write) {
		memset(data, 0, size);
		return;
	}
	if (port == 0x64 && data[0] == 0xfe)
		stop(v, HV_STOP_RESET);
}
