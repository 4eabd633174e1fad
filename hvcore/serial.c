/* 16550A UART on COM1 (0x3f8, IRQ 4). Output goes to the partition's console callback or
 * fd, a line at a time; input comes from hv_partition_console_input(). The IRQ is an edge
 * pulse when an interrupt becomes pending: this KVM's LAPIC re-fires held level lines. */
#include "config.h"

#include <errno.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "hvcore/hv-priv.h"

#define UART_RX 0
#define UART_IER 1
#define UART_IIR 2
#define UART_LCR 3
#define UART_MCR 4
#define UART_LSR 5
#define UART_MSR 6
#define UART_SCR 7

#define IER_RDI 0x01
#define IER_THRI 0x02
#define IIR_NONE 0x01
#define IIR_THRI 0x02
#define IIR_RDI 0x04
#define IIR_FIFO 0xc0
#define LCR_DLAB 0x80
#define LSR_DR 0x01
#define LSR_THRE 0x20
#define LSR_TEMT 0x40
#define MCR_OUT2 0x08
#define MCR_LOOP 0x10
#define FCR_ENABLE 0x01
#define FCR_CLEAR_RX 0x02

void hv_serial_init(struct hv_serial *s)
{
	memset(s, 0, sizeof(*s));
	pthread_mutex_init(&s->lock, NULL);
	s->mcr = MCR_OUT2;
}

void hv_serial_destroy(struct hv_serial *s)
{
	pthread_mutex_destroy(&s->lock);
}

static void write_all(int fd, const uint8_t *buf, size_t len)
{
	ssize_t n;

	while (len > 0) {
		n = write(fd, buf, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return;
		buf += n;
		len -= (size_t)n;
	}
}

/* Called with the lock held. */
static void flush_locked(struct hv_partition *p)
{
	struct hv_serial *s = &p->serial;

	if (s->out_len == 0)
		return;
	if (p->console)
		p->console(p->console_opaque, s->out, s->out_len);
	else if (p->console_fd > 0)
		write_all(p->console_fd, s->out, s->out_len);
	s->out_len = 0;
}

void hv_serial_flush(struct hv_partition *p)
{
	pthread_mutex_lock(&p->serial.lock);
	flush_locked(p);
	pthread_mutex_unlock(&p->serial.lock);
}

static uint8_t iir(const struct hv_serial *s)
{
	uint8_t fifo = (s->fcr & FCR_ENABLE) ? IIR_FIFO : 0;

	if ((s->ier & IER_RDI) && s->rx_len)
		return fifo | IIR_RDI;
	if ((s->ier & IER_THRI) && s->iir_thre)
		return fifo | IIR_THRI;
	return fifo | IIR_NONE;
}

static void update_irq(struct hv_partition *p)
{
	struct kvm_irq_level irq = { .irq = HV_COM1_IRQ };
	bool now = !(iir(&p->serial) & IIR_NONE) && (p->serial.mcr & MCR_OUT2);

	if (now && !p->serial.irq_level) {
		irq.level = 1;
		ioctl(p->vm_fd, KVM_IRQ_LINE, &irq);
		irq.level = 0;
		ioctl(p->vm_fd, KVM_IRQ_LINE, &irq);
	}
	p->serial.irq_level = now;
}

static uint8_t msr(const struct hv_serial *s)
{
	if (!(s->mcr & MCR_LOOP))
		return 0xb0; /* DCD, DSR, CTS */
	return (uint8_t)(((s->mcr & 0x01) << 5) | ((s->mcr & 0x02) << 3) |
			 ((s->mcr & 0x04) << 4) | ((s->mcr & 0x08) << 4));
}

static void put_out(struct hv_partition *p, uint8_t c)
{
	struct hv_serial *s = &p->serial;

	s->out[s->out_len++] = c;
	if (c == '\n' || s->out_len == sizeof(s->out))
		flush_locked(p);
}

static void do_write(struct hv_partition *p, uint16_t off, uint8_t val)
{
	struct hv_serial *s = &p->serial;
	bool dlab = s->lcr & LCR_DLAB;

	switch (off) {
	case UART_RX:
		if (dlab) {
			s->dll = val;
		} else {
			if (!(s->mcr & MCR_LOOP))
				put_out(p, val);
			else if (s->rx_len < sizeof(s->rx))
				s->rx[(s->rx_head + s->rx_len++) % sizeof(s->rx)] = val;
			s->iir_thre = 1;
		}
		break;
	case UART_IER:
		if (dlab) {
			s->dlm = val;
		} else {
			if ((val & IER_THRI) && !(s->ier & IER_THRI))
				s->iir_thre = 1;
			s->ier = val & 0x0f;
		}
		break;
	case UART_IIR:
		s->fcr = val;
		if (val & FCR_CLEAR_RX)
			s->rx_len = 0;
		break;
	case UART_LCR: s->lcr = val; break;
	case UART_MCR: s->mcr = val & 0x1f; break;
	case UART_SCR: s->scr = val; break;
	default: break;
	}
}

static uint8_t do_read(struct hv_serial *s, uint16_t off)
{
	bool dlab = s->lcr & LCR_DLAB;
	uint8_t v;

	switch (off) {
	case UART_RX:
		if (dlab)
			return s->dll;
		if (!s->rx_len)
			return 0;
		v = s->rx[s->rx_head];
		s->rx_head = (s->rx_head + 1) % sizeof(s->rx);
		s->rx_len--;
		return v;
	case UART_IER: return dlab ? s->dlm : s->ier;
	case UART_IIR:
		v = iir(s);
		if ((v & 0x0f) == IIR_THRI)
			s->iir_thre = 0;
		return v;
	case UART_LCR: return s->lcr;
	case UART_MCR: return s->mcr;
	case UART_LSR: return (uint8_t)(LSR_THRE | LSR_TEMT | (s->rx_len ? LSR_DR : 0));
	case UART_MSR: return msr(s);
	case UART_SCR: return s->scr;
	default: return 0xff;
	}
}

void hv_serial_io(struct hv_vcpu *v, uint16_t off, bool is_write, uint8_t *val)
{
	struct hv_partition *p = v->p;

	pthread_mutex_lock(&p->serial.lock);
	if (is_write)
		do_write(p, off, *val);
	else
		*val = do_read(&p->serial, off);
	update_irq(p);
	pthread_mutex_unlock(&p->serial.lock);
}

int hv_serial_input(struct hv_partition *p, const uint8_t *buf, size_t len)
{
	struct hv_serial *s = &p->serial;
	size_t n = 0;

	pthread_mutex_lock(&s->lock);
	while (n < len && s->rx_len < sizeof(s->rx)) {
		s->rx[(s->rx_head + s->rx_len++) % sizeof(s->rx)] = buf[n];
		n++;
	}
	update_irq(p);
	pthread_mutex_unlock(&s->lock);
	return (int)n;
}
