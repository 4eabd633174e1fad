/* The Hyper-V surface and VMBus in a saved partition (STATEFILE.md, sections 0x100 and 0x101).
 * KVM knows nothing of them (notes/hyperv-surface.md, "Saving a partition"), so the VMM saves
 * what it keeps in userspace: the synthetic MSRs, the SynIC registers and the messages still
 * queued, the VMBus connection, every GPADL with its pages, every channel with the host's
 * share of its rings, its provider's state and its counters. Guest memory holds the rest
 * (message and event pages, ring contents and indexes). Restore rebuilds the host objects
 * from GPAs, never from saved host pointers, checks every page against this partition's RAM,
 * and turns the saved times into times relative to now so the timers carry on. */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hvcore/state.h"
#include "hvcore/vmbus-priv.h"

/* ---- save ---- */

static void save_hyperv(struct hv_partition *p, struct hv_state_writer *w, uint64_t now)
{
	struct hv_hyperv *hv = p->hv;
	uint8_t b[HV_REC_HV_MSG_LEN];
	uint32_t vp, i;

	memset(b, 0, sizeof(b));
	hv_put64(b, hv->guest_os_id);
	hv_put64(b + 8, hv->hypercall);
	hv_put64(b + 16, now - hv->ref_base_ns);
	hv_state_rec(w, HV_REC_HV_PARTITION, b, HV_REC_HV_PARTITION_LEN);
	for (vp = 0; vp < p->nvcpus; vp++) {
		const struct hv_synic *s = &hv->synic[vp];

		memset(b, 0, sizeof(b));
		hv_put32(b, vp);
		hv_put64(b + 8, s->scontrol);
		hv_put64(b + 16, s->simp);
		hv_put64(b + 24, s->siefp);
		hv_put64(b + 32, s->vp_assist);
		for (i = 0; i < HV_SINT_COUNT; i++)
			hv_put64(b + 40 + 8 * i, s->sint[i]);
		hv_state_rec(w, HV_REC_HV_SYNIC, b, HV_REC_HV_SYNIC_LEN);
	}
	for (vp = 0; vp < p->nvcpus; vp++)
		for (i = 0; i < HV_SINT_COUNT; i++) {
			const struct hv_msg *m;

			for (m = hv->synic[vp].head[i]; m; m = m->next) {
				memset(b, 0, sizeof(b));
				hv_put32(b, vp);
				hv_put32(b + 4, i);
				hv_put32(b + 8, m->type);
				hv_put32(b + 12, m->len);
				memcpy(b + 16, m->data, m->len);
				hv_state_rec(w, HV_REC_HV_MSG, b, HV_REC_HV_MSG_LEN);
			}
		}
	hv_state_section_end(w, HV_SEC_HYPERV, HV_SEC_F_REQUIRED);
}

static void save_ic(const struct hv_channel *c, struct hv_state_writer *w, uint64_t now)
{
	const struct hv_ic_state *s = c->priv;
	uint8_t b[HV_REC_VB_IC_LEN];
	uint32_t flags = 0;

	memset(b, 0, sizeof(b));
	hv_put32(b, s->fw_version);
	hv_put32(b + 4, s->version);
	hv_put32(b + 8, s->trans);
	if (s->last_contact_ns) {
		flags |= HV_SAVED_IC_CONTACT;
		hv_put64(b + 32, now > s->last_contact_ns ? now - s->last_contact_ns : 0);
	}
	if (s->next_ns) {
		flags |= HV_SAVED_IC_NEXT;
		hv_put64(b + 40, s->next_ns > now ? s->next_ns - now : 0);
	}
	hv_put32(b + 12, flags);
	hv_put64(b + 16, s->trans_id);
	hv_put64(b + 24, s->seq);
	hv_put32(b + 48, s->pool);
	hv_put32(b + 52, s->index);
	hv_put32(b + 56, s->items);
	hv_state_rec(w, HV_REC_VB_IC, b, sizeof(b));
}

static void save_channel(const struct hv_channel *c, struct hv_state_writer *w, uint64_t now)
{
	uint8_t b[HV_REC_VB_CHANNEL_LEN];
	uint32_t flags = 0;

	flags |= c->enabled ? HV_SAVED_CH_ENABLED : 0;
	flags |= c->sent ? HV_SAVED_CH_SENT : 0;
	flags |= c->released ? HV_SAVED_CH_RELEASED : 0;
	flags |= c->reoffer ? HV_SAVED_CH_REOFFER : 0;
	flags |= c->listed ? HV_SAVED_CH_LISTED : 0;
	flags |= c->in.size ? HV_SAVED_CH_RINGS : 0;
	memset(b, 0, sizeof(b));
	snprintf((char *)b, 40, "%s", c->st.instance_id);
	hv_put32(b + 40, (uint32_t)c->state);
	hv_put32(b + 44, c->relid);
	hv_put32(b + 48, c->conn_id);
	hv_put32(b + 52, c->gpadl);
	hv_put32(b + 56, c->target_vp);
	hv_put32(b + 60, flags);
	hv_put32(b + 64, c->in.size ? c->in.npages : 0);
	hv_put32(b + 68, c->in.high);
	hv_put32(b + 72, c->out.high);
	hv_put64(b + 80, c->st.packets_in);
	hv_put64(b + 88, c->st.packets_out);
	hv_put64(b + 96, c->st.bytes_in);
	hv_put64(b + 104, c->st.bytes_out);
	hv_put64(b + 112, c->st.interrupts_in);
	hv_put64(b + 120, c->st.interrupts_out);
	hv_put64(b + 128, c->st.ring_full);
	hv_put64(b + 136, c->st.throttled);
	hv_put64(b + 144, c->st.bad_packets);
	hv_put32(b + 152, c->st.in_ring_size);
	hv_put32(b + 156, c->st.out_ring_size);
	hv_put32(b + 160, c->st.in_ring_high);
	hv_put32(b + 164, c->st.out_ring_high);
	hv_state_rec(w, HV_REC_VB_CHANNEL, b, sizeof(b));
	if (c->vsp->ic >= 0)
		save_ic(c, w, now);
	if (c->vsp->save) {
		uint8_t *buf = malloc(HV_SAVED_PROVIDER_MAX);

		if (!buf) {
			w->error = -ENOMEM;
			return;
		}
		hv_state_rec(w, HV_REC_VB_PROVIDER, buf, c->vsp->save(c, buf, HV_SAVED_PROVIDER_MAX));
		free(buf);
	}
}

static int save_vmbus(struct hv_partition *p, struct hv_state_writer *w, uint64_t now)
{
	struct hv_vmbus *vb = &p->hv->vmbus;
	uint8_t b[HV_REC_VB_CONN_LEN], *g;
	unsigned i;

	memset(b, 0, sizeof(b));
	hv_put32(b, vb->version);
	hv_put32(b + 4, vb->target_vp);
	hv_put32(b + 8, vb->offers_requested ? HV_SAVED_CONN_OFFERS : 0);
	hv_put32(b + 12, vb->next_relid);
	hv_put64(b + 16, vb->bad_messages);
	hv_state_rec(w, HV_REC_VB_CONN, b, sizeof(b));
	for (i = 0; i < HV_MAX_GPADLS; i++) {
		const struct hv_gpadl *gp = &vb->gpadls[i];
		uint32_t k;

		if (!gp->handle)
			continue;
		g = malloc(24 + 8 * (size_t)gp->have);
		if (!g)
			return -ENOMEM;
		memset(g, 0, 24);
		hv_put32(g, gp->handle);
		hv_put32(g + 4, gp->relid);
		hv_put32(g + 8, gp->npages);
		hv_put32(g + 12, gp->have);
		hv_put32(g + 16, gp->next_msg);
		for (k = 0; k < gp->have; k++)
			hv_put64(g + 24 + 8 * k, gp->pfns[k]);
		hv_state_rec(w, HV_REC_VB_GPADL, g, 24 + 8 * (size_t)gp->have);
		free(g);
	}
	for (i = 0; i < HV_MAX_CHANNELS; i++)
		if (vb->chan[i])
			save_channel(vb->chan[i], w, now);
	hv_state_section_end(w, HV_SEC_VMBUS, HV_SEC_F_REQUIRED);
	return 0;
}

int hv_hyperv_save(struct hv_partition *p, struct hv_state_writer *w)
{
	uint64_t now = hv_now_ns();

	if (!p->hv || !p->hv->on)
		return 0;
	save_hyperv(p, w, now);
	return save_vmbus(p, w, now);
}

/* ---- restore ---- */

static int rfail(char *err, size_t errlen, int rc, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static int rfail(char *err, size_t errlen, int rc, const char *fmt, ...)
{
	va_list ap;

	if (err && errlen) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return rc;
}

static struct hv_channel *channel_of(struct hv_partition *p, const char *instance_id)
{
	unsigned i;

	for (i = 0; i < HV_MAX_CHANNELS; i++) {
		struct hv_channel *c = p->hv->vmbus.chan[i];

		if (c && !strcmp(c->st.instance_id, instance_id))
			return c;
	}
	return NULL;
}

static bool listed(const uint32_t *l, unsigned n, uint32_t v)
{
	unsigned i;

	for (i = 0; i < n; i++)
		if (l[i] == v)
			return true;
	return false;
}

/* Everything that needs the partition, before anything is changed. */
static int check(struct hv_partition *p, const struct hv_saved_hv *s, char *err, size_t errlen)
{
	uint32_t i, k;

	for (i = 0; i < s->ngpadls; i++)
		for (k = 0; k < s->gpadls[i].have; k++)
			if (!hv_partition_gpa(p, s->gpadls[i].pfns[k] * HV_PAGE, HV_PAGE))
				return rfail(err, errlen, -EBADMSG, "GPADL %u names a page outside guest RAM",
					     s->gpadls[i].handle);
	for (i = 0; i < s->nchans; i++) {
		const struct hv_saved_channel *sc = &s->chans[i];
		struct hv_channel *c = channel_of(p, sc->instance_id);
		const struct hv_ic_versions *v;

		if (!c)
			return rfail(err, errlen, -ENOTSUP,
				     "it holds VMBus channel %s, which this partition does not provide",
				     sc->instance_id);
		if (sc->have_ic != (c->vsp->ic >= 0) || (sc->prov && !c->vsp->load))
			return rfail(err, errlen, -EBADMSG, "the provider state of channel %s does not fit it",
				     c->vsp->name);
		v = c->vsp->ic_versions;
		if (sc->have_ic && sc->ic.version &&
		    (!v || !listed(v->fw, v->nfw, sc->ic.fw_version) || !listed(v->msg, v->nmsg, sc->ic.version)))
			return rfail(err, errlen, -EBADMSG, "channel %s negotiated a version this host never offers",
				     c->vsp->name);
	}
	return 0;
}

static int restore_hyperv(struct hv_partition *p, const struct hv_saved_hv *s, uint64_t now)
{
	struct hv_hyperv *hv = p->hv;
	uint32_t vp, i;

	hv->guest_os_id = s->guest_os_id;
	hv->hypercall = s->hypercall & (~(uint64_t)(HV_PAGE - 1) | 1);
	hv->ref_base_ns = now - s->ref_ns; /* the reference counter goes on from where it was */
	for (vp = 0; vp < p->nvcpus; vp++) {
		struct hv_synic *d = &hv->synic[vp];
		const struct hv_saved_synic *ss = &s->synic[vp];

		d->scontrol = ss->scontrol & 1;
		d->simp = ss->simp & (~(uint64_t)(HV_PAGE - 1) | 1);
		d->siefp = ss->siefp & (~(uint64_t)(HV_PAGE - 1) | 1);
		d->vp_assist = ss->vp_assist & (~(uint64_t)(HV_PAGE - 1) | 1);
		for (i = 0; i < HV_SINT_COUNT; i++)
			d->sint[i] = ss->sint[i] & (0xffULL | (7ULL << 16));
	}
	/* Queued messages wait, in order, for the guest to free their slot (EOM). */
	for (i = 0; i < s->nmsgs; i++) {
		const struct hv_saved_msg *sm = &s->msgs[i];
		struct hv_synic *d = &hv->synic[sm->vp];
		struct hv_msg *m;

		if (d->queued >= HV_MSG_QUEUE_MAX)
			return -EBADMSG;
		m = calloc(1, sizeof(*m));
		if (!m)
			return -ENOMEM;
		m->type = sm->type;
		m->len = (uint8_t)sm->len;
		memcpy(m->data, sm->data, sm->len);
		if (d->tail[sm->sint])
			d->tail[sm->sint]->next = m;
		else
			d->head[sm->sint] = m;
		d->tail[sm->sint] = m;
		d->queued++;
	}
	return 0;
}

static int restore_gpadls(struct hv_partition *p, const struct hv_saved_hv *s)
{
	struct hv_vmbus *vb = &p->hv->vmbus;
	uint32_t i;

	for (i = 0; i < s->ngpadls; i++) {
		const struct hv_saved_gpadl *sg = &s->gpadls[i];
		struct hv_gpadl *g = &vb->gpadls[i];

		g->pfns = calloc(sg->npages, sizeof(*g->pfns));
		if (!g->pfns)
			return -ENOMEM;
		memcpy(g->pfns, sg->pfns, sg->have * sizeof(*g->pfns));
		g->handle = sg->handle;
		g->relid = sg->relid;
		g->npages = sg->npages;
		g->have = sg->have;
		g->next_msg = sg->next_msg;
	}
	return 0;
}

static uint8_t **pages_of(struct hv_partition *p, const struct hv_gpadl *g, uint32_t from, uint32_t n)
{
	uint8_t **pages = calloc(n, sizeof(*pages));
	uint32_t i;

	for (i = 0; pages && i < n; i++)
		pages[i] = hv_partition_gpa(p, g->pfns[from + i] * HV_PAGE, HV_PAGE);
	return pages;
}

static const struct hv_gpadl *gpadl_of(struct hv_partition *p, uint32_t handle)
{
	unsigned i;

	for (i = 0; i < HV_MAX_GPADLS; i++)
		if (handle && p->hv->vmbus.gpadls[i].handle == handle)
			return &p->hv->vmbus.gpadls[i];
	return NULL;
}

/* The host's view of the rings comes back from the GPADL; the indexes are in guest memory
 * and are checked like at open. Rings that fail the check fault the channel, as a guest that
 * broke them while running would. */
static int restore_rings(struct hv_partition *p, struct hv_channel *c, const struct hv_saved_channel *sc)
{
	const struct hv_gpadl *g = gpadl_of(p, sc->gpadl);
	uint8_t **in, **out;

	in = pages_of(p, g, 0, sc->in_pages);
	out = pages_of(p, g, sc->in_pages, g->npages - sc->in_pages);
	if (!in || !out) {
		free(in);
		free(out);
		return -ENOMEM;
	}
	if (hv_ring_setup(&c->in, in, sc->in_pages, false) ||
	    hv_ring_setup(&c->out, out, g->npages - sc->in_pages, true)) {
		hv_ring_free(&c->in);
		hv_ring_free(&c->out);
		c->st.bad_packets++;
		if (c->state == HV_CHANNEL_OPEN)
			c->state = HV_CHANNEL_FAULTED;
		return 0;
	}
	c->in.high = sc->in_high <= c->in.size ? sc->in_high : c->in.size;
	c->out.high = sc->out_high <= c->out.size ? sc->out_high : c->out.size;
	return 0;
}

static void restore_ic(struct hv_channel *c, const struct hv_saved_channel *sc, uint64_t now)
{
	struct hv_ic_state *s = c->priv;
	const struct hv_saved_ic *si = &sc->ic;

	memset(s, 0, sizeof(*s));
	if (si->version || (sc->flags & HV_SAVED_CH_RINGS))
		s->offered = c->vsp->ic_versions;
	s->fw_version = si->fw_version;
	s->version = si->version;
	s->trans = (uint8_t)si->trans;
	s->trans_id = si->trans_id;
	s->seq = si->seq;
	s->pool = si->pool;
	s->index = si->index;
	s->items = si->items;
	if (si->flags & HV_SAVED_IC_CONTACT)
		s->last_contact_ns = si->contact_age_ns < now ? now - si->contact_age_ns : 1;
	/* A timer that was due while the partition sat saved fires on the first tick. */
	if (si->flags & HV_SAVED_IC_NEXT)
		s->next_ns = now + (si->next_due_ns < 1000000000ULL ? si->next_due_ns : 1000000000ULL) + 1;
}

static int restore_channel(struct hv_partition *p, struct hv_channel *c, const struct hv_saved_channel *sc,
			   uint64_t now)
{
	int r = 0;

	c->state = (enum hv_channel_state)sc->state;
	c->relid = sc->relid;
	c->conn_id = sc->conn_id;
	c->gpadl = sc->gpadl;
	c->target_vp = sc->target_vp;
	c->enabled = sc->flags & HV_SAVED_CH_ENABLED;
	c->sent = sc->flags & HV_SAVED_CH_SENT;
	c->released = sc->flags & HV_SAVED_CH_RELEASED;
	c->reoffer = sc->flags & HV_SAVED_CH_REOFFER;
	c->listed = sc->flags & HV_SAVED_CH_LISTED;
	c->st.relid = sc->relid;
	c->st.packets_in = sc->packets_in;
	c->st.packets_out = sc->packets_out;
	c->st.bytes_in = sc->bytes_in;
	c->st.bytes_out = sc->bytes_out;
	c->st.interrupts_in = sc->interrupts_in;
	c->st.interrupts_out = sc->interrupts_out;
	c->st.ring_full = sc->ring_full;
	c->st.throttled = sc->throttled;
	c->st.bad_packets = sc->bad_packets;
	c->st.in_ring_size = sc->in_ring_size;
	c->st.out_ring_size = sc->out_ring_size;
	c->st.in_ring_high = sc->in_ring_high;
	c->st.out_ring_high = sc->out_ring_high;
	if (sc->flags & HV_SAVED_CH_RINGS)
		r = restore_rings(p, c, sc);
	if (r == 0 && sc->have_ic)
		restore_ic(c, sc, now);
	if (r == 0 && sc->prov)
		r = c->vsp->load(c, sc->prov, sc->prov_len);
	return r;
}

/* A service the new configuration turns off (or on) is rescinded (or offered) as if
 * Disable-/Enable-VMIntegrationService came right after the restore. */
static void reconcile(struct hv_partition *p, const bool *want)
{
	int ic;

	for (ic = 0; ic < HV_IC_COUNT; ic++) {
		struct hv_channel *c = hv_vmbus_ic_channel(p, ic);

		if (c && c->enabled != want[ic] && hv_partition_ic_enable(p, (enum hv_ic)ic, want[ic]) != 0)
			continue; /* cannot fail for a channel that exists */
	}
}

int hv_hyperv_restore(struct hv_partition *p, const struct hv_saved_hv *s, char *err, size_t errlen)
{
	struct hv_vmbus *vb;
	bool want[HV_IC_COUNT];
	uint64_t now = hv_now_ns();
	uint32_t i;
	int r, ic;

	if (!p->hv || !p->hv->on)
		return rfail(err, errlen, -ENOTSUP,
			     "it was saved with the Hyper-V surface and VMBus on; this partition has them off");
	r = check(p, s, err, errlen);
	if (r)
		return r;
	for (ic = 0; ic < HV_IC_COUNT; ic++) {
		struct hv_channel *c = hv_vmbus_ic_channel(p, ic);

		want[ic] = c && c->enabled;
	}
	vb = &p->hv->vmbus;
	r = restore_hyperv(p, s, now);
	if (r == 0)
		r = restore_gpadls(p, s);
	if (r == 0) {
		vb->version = s->version;
		vb->target_vp = s->target_vp;
		vb->offers_requested = s->conn_flags & HV_SAVED_CONN_OFFERS;
		vb->next_relid = s->next_relid;
		vb->bad_messages = s->bad_messages;
	}
	for (i = 0; r == 0 && i < s->nchans; i++)
		r = restore_channel(p, channel_of(p, s->chans[i].instance_id), &s->chans[i], now);
	if (r)
		return rfail(err, errlen, r, "its VMBus state cannot be rebuilt: %s", strerror(-r));
	reconcile(p, want);
	return 0;
}
