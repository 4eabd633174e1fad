/* VMBus channels at work: the guest's signals (read the ring, hand packets to the
 * service), packets to the guest, the services' timer thread, and the public calls. A vCPU
 * that signals does the host's work itself, under the one VMBus lock, in bounded batches;
 * so does a device thread that polls its ring (hv_channel_poll); nothing here waits for the
 * guest. */
#include "config.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "formats/vhdx/vhdx.h"
#include "hvcore/vmbus-priv.h"

#define PKT_DATA_INBAND 6
#define PKT_GPA_DIRECT 9
#define PKT_COMP 11

void hv_channel_fault(struct hv_channel *c)
{
	HV_STAT(c, bad_packets, 1);
	if (c->state == HV_CHANNEL_OPEN)
		c->state = HV_CHANNEL_FAULTED;
}

static void interrupt_guest(struct hv_channel *c)
{
	if (hv_synic_event(c->p, c->target_vp, HV_VMBUS_SINT, c->relid))
		HV_STAT(c, interrupts_out, 1);
}

/* What the guest put in the ring, a bounded batch at a time. A service that is not ready
 * stops it; either way what is left sets c->stalled, for serve or hv_channel_resume (the
 * guest signals only when it writes into an empty ring). */
static void drain(struct hv_channel *c)
{
	unsigned n;

	c->stalled = false;
	for (n = 0; n < 64 && c->state == HV_CHANNEL_OPEN; n++) {
		uint32_t before, off;
		int len;
		uint16_t type;

		if (c->vsp->ready && hv_ring_used(&c->in) && !c->vsp->ready(c)) {
			c->stalled = true;
			return;
		}
		before = hv_ring_free_bytes(&c->in);
		len = hv_ring_read(&c->in, c->buf, HV_MAX_PACKET);

		if (len < 0) {
			hv_channel_fault(c);
			return;
		}
		if (len == 0)
			return;
		if (n == 63)
			c->stalled = true; /* maybe more: looked at again */
		if (hv_ring_read_done(&c->in, before))
			interrupt_guest(c);
		type = hv_get16(c->buf);
		off = (uint32_t)hv_get16(c->buf + 2) * 8;
		HV_STAT(c, packets_in, 1);
		HV_STAT(c, bytes_in, (uint64_t)len - off);
		if (type == PKT_GPA_DIRECT && c->vsp->gpa_packet) {
			if (!c->vsp->gpa_packet(c, c->buf, (uint32_t)len))
				HV_STAT(c, bad_packets, 1);
			continue;
		}
		if ((type != PKT_DATA_INBAND && type != PKT_COMP) ||
		    !c->vsp->packet(c, c->buf + off, (uint32_t)len - off, hv_get64(c->buf + 8), type,
				    hv_get16(c->buf + 6)))
			HV_STAT(c, bad_packets, 1);
	}
}

static bool can_go_on(struct hv_channel *c)
{
	return c->stalled && c->state == HV_CHANNEL_OPEN && (!c->vsp->ready || c->vsp->ready(c));
}

/* A signal's work: the ring, then the service's after-work, which may free what the service
 * needed to take more; again while packets are left and the service can take them, 16
 * batches at most (then the timer's tick or the service's thread go on: hv_channel_resume). */
static void serve(struct hv_channel *c)
{
	unsigned round;

	for (round = 0; round < 16; round++) {
		drain(c);
		if (c->vsp->drained && c->state == HV_CHANNEL_OPEN)
			c->vsp->drained(c);
		if (!can_go_on(c))
			return;
	}
}

uint16_t hv_vmbus_signal(struct hv_partition *p, uint32_t conn_id)
{
	unsigned i;

	for (i = 0; i < HV_MAX_CHANNELS; i++) {
		struct hv_channel *c = (&p->hv->vmbus)->chan[i];

		if (c && c->sent && c->conn_id == conn_id) {
			HV_STAT(c, interrupts_in, 1);
			serve(c);
			return HV_STATUS_SUCCESS;
		}
	}
	return HV_STATUS_INVALID_CONNECTION_ID;
}

void hv_channel_resume(struct hv_channel *c)
{
	if (c->sent && can_go_on(c))
		serve(c);
}

void hv_channel_poll(struct hv_channel *c)
{
	pthread_mutex_lock(&c->p->hv->lock);
	if (c->sent && c->state == HV_CHANNEL_OPEN)
		serve(c);
	pthread_mutex_unlock(&c->p->hv->lock);
}

static int send_type(struct hv_channel *c, uint16_t type, const void *data, uint32_t len,
		     uint64_t trans_id)
{
	bool sig, masked;
	int r;

	if (c->state != HV_CHANNEL_OPEN)
		return -ENOTCONN;
	r = hv_ring_write(&c->out, type, 0, trans_id, data, len, &sig, &masked);
	if (r == -EAGAIN)
		HV_STAT(c, ring_full, 1);
	if (r == -EBADMSG)
		hv_channel_fault(c);
	if (r)
		return r;
	HV_STAT(c, packets_out, 1);
	HV_STAT(c, bytes_out, len);
	if (masked)
		HV_STAT(c, throttled, 1);
	if (sig)
		interrupt_guest(c);
	return 0;
}

int hv_channel_send(struct hv_channel *c, const void *data, uint32_t len, uint64_t trans_id)
{
	return send_type(c, PKT_DATA_INBAND, data, len, trans_id);
}

int hv_channel_send_comp(struct hv_channel *c, const void *data, uint32_t len, uint64_t trans_id)
{
	return send_type(c, PKT_COMP, data, len, trans_id);
}

void hv_vmbus_tick(struct hv_partition *p, uint64_t now)
{
	unsigned i;

	for (i = 0; i < HV_MAX_CHANNELS; i++) {
		struct hv_channel *c = (&p->hv->vmbus)->chan[i];

		if (c && c->state == HV_CHANNEL_OPEN && c->vsp->tick)
			c->vsp->tick(c, now);
		if (c)
			hv_channel_resume(c);
	}
}

/* The services' clock: heartbeats every second, time samples, KVP polls. */
static void *timer_main(void *arg)
{
	struct hv_partition *p = arg;
	struct hv_vmbus *vb = (&p->hv->vmbus);
	struct timespec ts;
	sigset_t set;

	sigfillset(&set);
	pthread_sigmask(SIG_SETMASK, &set, NULL);
	pthread_setname_np(pthread_self(), "vmbus");
	pthread_mutex_lock(&p->hv->lock);
	while (!vb->thread_stop) {
		hv_vmbus_tick(p, hv_now_ns());
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += 100000000;
		if (ts.tv_nsec >= 1000000000) {
			ts.tv_nsec -= 1000000000;
			ts.tv_sec++;
		}
		pthread_cond_timedwait(&vb->cond, &p->hv->lock, &ts);
	}
	pthread_mutex_unlock(&p->hv->lock);
	return NULL;
}

int hv_vmbus_start(struct hv_partition *p)
{
	struct hv_vmbus *vb = (&p->hv->vmbus);
	int r;

	if (!p->hv->on)
		return 0;
	r = -pthread_create(&vb->thread, NULL, timer_main, p);
	vb->thread_on = r == 0;
	return r;
}

void hv_vmbus_stop(struct hv_partition *p)
{
	struct hv_vmbus *vb = (&p->hv->vmbus);

	if (!p->hv->on || !vb->thread_on)
		return;
	pthread_mutex_lock(&p->hv->lock);
	vb->thread_stop = true;
	pthread_cond_broadcast(&vb->cond);
	pthread_mutex_unlock(&p->hv->lock);
	pthread_join(vb->thread, NULL);
	vb->thread_on = false;
}

/* Public calls. */

int hv_partition_vmbus_info(struct hv_partition *p, struct hv_vmbus_info *out)
{
	unsigned i;

	memset(out, 0, sizeof(*out));
	if (!p->hv->on)
		return 0;
	pthread_mutex_lock(&p->hv->lock);
	out->version = (&p->hv->vmbus)->version;
	out->bad_messages = (&p->hv->vmbus)->bad_messages;
	for (i = 0; i < HV_MAX_CHANNELS; i++) {
		struct hv_channel *c = (&p->hv->vmbus)->chan[i];

		if (!c)
			continue;
		if (c->sent && c->state != HV_CHANNEL_RESCINDED)
			out->channels++;
		out->bad_messages += c->st.bad_packets;
	}
	pthread_mutex_unlock(&p->hv->lock);
	return 0;
}

int hv_partition_vmbus_channels(struct hv_partition *p, struct hv_vmbus_channel_stats *out,
				size_t max)
{
	size_t n = 0;
	unsigned i;

	if (!p->hv->on)
		return 0;
	pthread_mutex_lock(&p->hv->lock);
	for (i = 0; i < HV_MAX_CHANNELS; i++) {
		struct hv_channel *c = (&p->hv->vmbus)->chan[i];

		if (!c || !c->listed)
			continue;
		if (n < max) {
			out[n] = c->st;
			out[n].state = c->state;
			out[n].in_ring_used = hv_ring_used(&c->in);
			out[n].out_ring_used = hv_ring_used(&c->out);
			out[n].in_ring_high = c->in.high > c->st.in_ring_high ? c->in.high
									      : c->st.in_ring_high;
			out[n].out_ring_high = c->out.high > c->st.out_ring_high ? c->out.high
										 : c->st.out_ring_high;
		}
		n++;
	}
	pthread_mutex_unlock(&p->hv->lock);
	return (int)n;
}

int hv_partition_ic_status(struct hv_partition *p, enum hv_ic ic, struct hv_ic_status *out)
{
	struct hv_channel *c;
	const struct hv_ic_state *s;
	uint64_t now = hv_now_ns();

	if ((unsigned)ic >= HV_IC_COUNT)
		return -EINVAL;
	memset(out, 0, sizeof(*out));
	out->health = HV_IC_DISABLED;
	c = hv_vmbus_ic_channel(p, ic);
	if (!c)
		return 0;
	pthread_mutex_lock(&p->hv->lock);
	s = c->priv;
	out->enabled = c->enabled;
	out->open = c->state == HV_CHANNEL_OPEN;
	out->version = out->open ? s->version : 0;
	out->last_contact_ns = s->last_contact_ns;
	if (!c->enabled)
		out->health = HV_IC_DISABLED;
	else if (!s->last_contact_ns)
		out->health = HV_IC_NO_CONTACT;
	else if (ic != HV_IC_HEARTBEAT || now - s->last_contact_ns <= 3000000000ULL)
		out->health = out->open ? HV_IC_OK : HV_IC_LOST_COMMUNICATION;
	else
		out->health = HV_IC_LOST_COMMUNICATION;
	pthread_mutex_unlock(&p->hv->lock);
	return 0;
}

int hv_partition_ic_enable(struct hv_partition *p, enum hv_ic ic, int on)
{
	struct hv_channel *c;

	if ((unsigned)ic >= HV_IC_COUNT)
		return -EINVAL;
	c = hv_vmbus_ic_channel(p, ic);
	if (!c)
		return -ENOTSUP;
	pthread_mutex_lock(&p->hv->lock);
	if (on && !c->enabled) {
		c->enabled = true;
		if (c->state == HV_CHANNEL_RESCINDED && c->sent && !c->released)
			c->reoffer = true; /* offered again once the guest lets go of the old relid */
		else if ((&p->hv->vmbus)->offers_requested && !c->sent)
			hv_channel_offer(c);
	} else if (!on && c->enabled) {
		c->enabled = false;
		c->reoffer = false;
		if (c->sent && c->state != HV_CHANNEL_RESCINDED)
			hv_channel_rescind(c);
		else if (!c->sent)
			c->state = HV_CHANNEL_RESCINDED;
	}
	pthread_mutex_unlock(&p->hv->lock);
	return 0;
}

int hv_partition_guest_shutdown(struct hv_partition *p, int reboot, const char *reason)
{
	struct hv_channel *c = hv_vmbus_ic_channel(p, HV_IC_SHUTDOWN);
	int r;

	if (!c)
		return -ENOTCONN;
	pthread_mutex_lock(&p->hv->lock);
	if (c->state != HV_CHANNEL_OPEN || !((struct hv_ic_state *)c->priv)->version)
		r = -ENOTCONN;
	else
		r = hv_shutdown_request(c, reboot, reason);
	pthread_mutex_unlock(&p->hv->lock);
	return r;
}

int hv_partition_disk_stats(struct hv_partition *p, struct hv_disk_stats *out, size_t max)
{
	size_t n = 0;
	unsigned i;

	if (!p->hv->on)
		return 0;
	pthread_mutex_lock(&p->hv->lock);
	for (i = HV_SCSI_SLOT; i < HV_MAX_CHANNELS; i++) {
		struct hv_channel *c = (&p->hv->vmbus)->chan[i];

		if (c && c->vsp == &hv_vsp_storvsc)
			n += hv_storvsc_stats(c, n < max ? out + n : NULL, n < max ? max - n : 0);
	}
	pthread_mutex_unlock(&p->hv->lock);
	return (int)n;
}

static struct hv_channel *scsi_channel(struct hv_partition *p, unsigned controller)
{
	struct hv_channel *c;

	if (!p->hv->on || controller >= HV_MAX_SCSI_CONTROLLERS)
		return NULL;
	c = p->hv->vmbus.chan[HV_SCSI_SLOT + controller];
	return c && c->vsp == &hv_vsp_storvsc ? c : NULL;
}

int hv_partition_disks_quiesce(struct hv_partition *p, char *why, size_t why_len)
{
	unsigned i;
	int r = 0;

	if (!hv_partition_held(p))
		return -EBUSY;
	for (i = 0; i < HV_MAX_SCSI_CONTROLLERS && r == 0; i++) {
		struct hv_channel *c = scsi_channel(p, i);

		if (c)
			r = hv_storvsc_quiesce(c, why, why_len);
	}
	return r;
}

/* Two phases: every new layer opened (nothing visible to the guest changes yet), then every
 * controller switched; a failure in the first undoes the first. */
int hv_partition_disk_switch(struct hv_partition *p, const struct hv_disk_switch *sw, unsigned n,
			     char *why, size_t why_len)
{
	struct vhdx **v;
	unsigned i, j;
	int r = 0;

	if (!hv_partition_held(p))
		return -EBUSY;
	for (i = 0; i < n; i++)
		for (j = 0; j < i; j++)
			if (sw[i].controller == sw[j].controller && sw[i].location == sw[j].location) {
				snprintf(why, why_len, "disk %u:%u named twice", sw[i].controller, sw[i].location);
				return -EINVAL;
			}
	v = calloc(n ? n : 1, sizeof(*v));
	if (!v)
		return -ENOMEM;
	for (i = 0; i < n && r == 0; i++) {
		struct hv_channel *c = scsi_channel(p, sw[i].controller);

		if (!c) {
			snprintf(why, why_len, "disk %u:%u: no such disk", sw[i].controller, sw[i].location);
			r = -ENOENT;
		} else {
			r = hv_storvsc_switch_open(c, &sw[i], &v[i], why, why_len);
		}
	}
	if (r) {
		for (j = 0; j < n; j++) {
			if (!v[j])
				continue;
			vhdx_free(v[j]);
			if (sw[j].create)
				unlink(sw[j].path);
		}
		free(v);
		return r;
	}
	for (i = 0; i < n; i++)
		hv_storvsc_switch_commit(scsi_channel(p, sw[i].controller), sw[i].location, v[i], sw[i].path);
	free(v);
	return 0;
}
