/* ACPI fixed-hardware power management (PM1a event and control blocks named by the FADT)
 * and the two PC reset paths. Power-off and reset end the run. ACPI 6.4 4.8.3 (PM1
 * registers), 4.8.2.2.1 (fixed power button), 7.4.2 (\_S5). */
#include "config.h"

#include <string.h>
#include <sys/ioctl.h>

#include "hvcore/hv-priv.h"

#define PM1_STS 0
#define PM1_EN 2
#define PM1_CNT 4
#define PWRBTN (1u << 8) /* same bit in PM1_STS and PM1_EN */
#define SLP_EN (1u << 13)
#define SLP_TYP_SHIFT 10
#define SCI_EN 1u

void hv_pm_init(struct hv_pm *pm)
{
	memset(pm, 0, sizeof(*pm));
	pthread_mutex_init(&pm->lock, NULL);
	/* Always in ACPI mode: there is no SMI command port to switch. */
	pm->regs[PM1_CNT] = SCI_EN;
}

void hv_pm_destroy(struct hv_pm *pm)
{
	pthread_mutex_destroy(&pm->lock);
}

static void stop(struct hv_vcpu *v, enum hv_stop_reason reason)
{
	struct hv_stop_info info = { .reason = reason, .vcpu = (int)v->id };
	struct kvm_regs regs;

	if (ioctl(v->fd, KVM_GET_REGS, &regs) == 0)
		info.rip = regs.rip;
	info.exit_reason = KVM_EXIT_IO;
	hv_partition_request_stop(v->p, &info);
}

/* The SCI is level-triggered (MADT override): high while an enabled status bit is set. */
static void update_sci(struct hv_partition *p)
{
	struct hv_pm *pm = &p->pm;
	struct kvm_irq_level irq = { .irq = HV_SCI_IRQ };
	bool level = (hv_get16(pm->regs + PM1_STS) & hv_get16(pm->regs + PM1_EN)) != 0;

	if (level == pm->sci_level)
		return;
	irq.level = level;
	ioctl(p->vm_fd, KVM_IRQ_LINE, &irq);
	pm->sci_level = level;
}

void hv_pm_io(struct hv_vcpu *v, uint16_t port, bool is_write, uint8_t *data, unsigned size)
{
	struct hv_pm *pm = &v->p->pm;
	unsigned i, off = port - HV_PM_BASE;
	bool sleep = false;
	uint16_t cnt;

	pthread_mutex_lock(&pm->lock);
	for (i = 0; i < size; i++, off++) {
		if (off >= HV_PM_LEN) {
			if (!is_write)
				data[i] = 0xff;
			continue;
		}
		if (!is_write)
			data[i] = pm->regs[off];
		else if (off < PM1_EN)
			pm->regs[off] &= (uint8_t)~data[i]; /* status bits: write 1 to clear */
		else
			pm->regs[off] = data[i];
	}
	if (is_write) {
		cnt = hv_get16(pm->regs + PM1_CNT);
		if ((cnt & SLP_EN) && ((cnt >> SLP_TYP_SHIFT) & 7) == HV_S5_SLP_TYP)
			sleep = true;
		/* SLP_EN reads back as 0; SCI_EN stays set. */
		hv_put16(pm->regs + PM1_CNT, (uint16_t)((cnt & ~SLP_EN) | SCI_EN));
		update_sci(v->p);
	}
	pthread_mutex_unlock(&pm->lock);
	if (sleep)
		stop(v, HV_STOP_POWEROFF);
}

int hv_partition_power_button(struct hv_partition *p)
{
	struct hv_pm *pm = &p->pm;

	pthread_mutex_lock(&pm->lock);
	hv_put16(pm->regs + PM1_STS, (uint16_t)(hv_get16(pm->regs + PM1_STS) | PWRBTN));
	update_sci(p);
	pthread_mutex_unlock(&pm->lock);
	return 0;
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
