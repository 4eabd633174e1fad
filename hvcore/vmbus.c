/* The VMBus host's connection: version negotiation, offers, GPADLs, open/close, rescind,
 * unload (the channel messages); vmbus-channel.c has the packets, timers and public calls. Message layouts are those of
 * include/linux/hyperv.h (struct vmbus_channel_*), all little-endian and packed; the flow is
 * the one Linux 6.1's hv_vmbus drives (notes/hyperv-surface.md). The guest is hostile: a
 * message shorter than its fields, with an unknown type, a relid or GPADL it does not own, a
 * page outside RAM or rings out of range is refused and counted; the partition runs on. */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hvcore/vmbus-priv.h"

enum {
	MSG_OFFERCHANNEL = 1,
	MSG_RESCIND_CHANNELOFFER = 2,
	MSG_REQUESTOFFERS = 3,
	MSG_ALLOFFERS_DELIVERED = 4,
	MSG_OPENCHANNEL = 5,
	MSG_OPENCHANNEL_RESULT = 6,
	MSG_CLOSECHANNEL = 7,
	MSG_GPADL_HEADER = 8,
	MSG_GPADL_BODY = 9,
	MSG_GPADL_CREATED = 10,
	MSG_GPADL_TEARDOWN = 11,
	MSG_GPADL_TORNDOWN = 12,
	MSG_RELID_RELEASED = 13,
	MSG_INITIATE_CONTACT = 14,
	MSG_VERSION_RESPONSE = 15,
	MSG_UNLOAD = 16,
	MSG_UNLOAD_RESPONSE = 17,
	MSG_MODIFYCHANNEL = 22,
	MSG_MODIFYCHANNEL_RESPONSE = 24,
};

#define CONN_ID_MESSAGE 1
#define CONN_ID_MESSAGE_4 4
#define CONN_ID_CHANNEL_BASE 0x10000 /* a channel's id for HvSignalEvent: base + relid */
#define VMB_VERSION(maj, min) (((uint32_t)(maj) << 16) | (min))
#define STATUS_UNSUCCESSFUL 0xc0000001u
#define OFFER_LEN 196
#define MAX_RELID 2047

/* Versions this host speaks, newest first: 5.x only on connection id 4 (with the SINT the
 * guest names), older ones on id 1. Below Windows 8 (2.4) the channel interrupts would go
 * through the shared interrupt page, which this host does not implement. */
static const uint32_t versions[] = {
	VMB_VERSION(5, 3), VMB_VERSION(5, 2), VMB_VERSION(5, 1), VMB_VERSION(5, 0),
	VMB_VERSION(4, 1), VMB_VERSION(4, 0), VMB_VERSION(3, 0), VMB_VERSION(2, 4),
};

/* Channel slot i holds vsps[i]; the IC slots match enum hv_ic. */
static const struct hv_vsp *const vsps[] = {
	&hv_vsp_heartbeat, &hv_vsp_shutdown, &hv_vsp_timesync, &hv_vsp_kvp, &hv_vsp_echo,
	&hv_vsp_balloon,
};
#define ECHO_SLOT 4
#define BALLOON_SLOT 5

static struct hv_vmbus *vb_of(struct hv_partition *p)
{
	return &p->hv->vmbus;
}

/* Text GUID to the wire layout: the first three fields little-endian, the rest in order. */
static void guid_wire(const char *s, uint8_t out[16])
{
	static const int order[16] = { 3, 2, 1, 0, 5, 4, 7, 6, 8, 9, 10, 11, 12, 13, 14, 15 };
	uint8_t b[16];
	unsigned i = 0;

	memset(b, 0, sizeof(b));
	for (; *s && i < 32; s++) {
		int v;

		if (*s == '-')
			continue;
		v = *s >= 'a' ? *s - 'a' + 10 : *s - '0';
		b[i / 2] = (uint8_t)(b[i / 2] | (v << (i % 2 ? 0 : 4)));
		i++;
	}
	for (i = 0; i < 16; i++)
		out[order[i]] = b[i];
}

static void send_msg(struct hv_partition *p, const uint8_t *m, size_t len)
{
	struct hv_vmbus *vb = vb_of(p);

	(void)hv_synic_post(p, vb->target_vp, HV_VMBUS_SINT, m, len);
}

static void bad(struct hv_partition *p)
{
	vb_of(p)->bad_messages++;
}

static struct hv_channel *by_relid(struct hv_partition *p, uint32_t relid)
{
	unsigned i;

	for (i = 0; i < HV_MAX_CHANNELS; i++) {
		struct hv_channel *c = vb_of(p)->chan[i];

		if (c && c->sent && c->relid == relid)
			return c;
	}
	return NULL;
}

static uint32_t free_relid(struct hv_partition *p)
{
	uint32_t r;

	for (r = vb_of(p)->next_relid; r <= MAX_RELID; r++)
		if (!by_relid(p, r))
			break;
	if (r > MAX_RELID)
		for (r = 1; r <= MAX_RELID && by_relid(p, r); r++)
			;
	vb_of(p)->next_relid = r + 1 > MAX_RELID ? 1 : r + 1;
	return r;
}

void hv_channel_close_rings(struct hv_channel *c)
{
	if (c->in.high > c->st.in_ring_high)
		c->st.in_ring_high = c->in.high;
	if (c->out.high > c->st.out_ring_high)
		c->st.out_ring_high = c->out.high;
	hv_ring_free(&c->in);
	hv_ring_free(&c->out);
}

void hv_channel_offer(struct hv_channel *c)
{
	uint8_t m[OFFER_LEN];

	c->relid = free_relid(c->p);
	c->conn_id = CONN_ID_CHANNEL_BASE + c->relid;
	c->sent = c->listed = true;
	c->released = c->reoffer = false;
	c->state = HV_CHANNEL_OFFERED;
	c->st.relid = c->relid;
	memset(m, 0, sizeof(m));
	hv_put32(m, MSG_OFFERCHANNEL);
	guid_wire(c->vsp->class_id, m + 8);
	guid_wire(c->st.instance_id, m + 24);
	hv_put32(m + 184, c->relid);
	m[190] = 1; /* is_dedicated_interrupt: signal with our connection id, no shared page */
	hv_put32(m + 192, c->conn_id);
	send_msg(c->p, m, sizeof(m));
}

void hv_channel_rescind(struct hv_channel *c)
{
	uint8_t m[12];

	hv_channel_close_rings(c);
	c->state = HV_CHANNEL_RESCINDED;
	memset(m, 0, sizeof(m));
	hv_put32(m, MSG_RESCIND_CHANNELOFFER);
	hv_put32(m + 8, c->relid);
	send_msg(c->p, m, sizeof(m));
}

static void reply_version(struct hv_partition *p, bool ok, uint32_t conn_id)
{
	uint8_t m[16];

	memset(m, 0, sizeof(m));
	hv_put32(m, MSG_VERSION_RESPONSE);
	m[8] = ok;
	hv_put32(m + 12, conn_id);
	send_msg(p, m, sizeof(m));
}

/* INITIATE_CONTACT: version (8), target vCPU (12), interrupt page or msg_sint (16). */
static void initiate_contact(struct hv_partition *p, uint32_t conn_id, const uint8_t *m,
			     uint32_t len)
{
	struct hv_vmbus *vb = vb_of(p);
	uint32_t want, vp, sint = HV_VMBUS_SINT;
	bool known = false;
	unsigned i;

	if (len < 24) {
		bad(p);
		return;
	}
	want = hv_get32(m + 8);
	vp = hv_get32(m + 12);
	for (i = 0; i < sizeof(versions) / sizeof(versions[0]); i++)
		known |= versions[i] == want;
	if (vp >= p->nvcpus || vb->version) {
		bad(p); /* no such processor, or contact twice without an unload */
		return;
	}
	vb->target_vp = vp;
	if (want >= VMB_VERSION(5, 0))
		sint = m[16];
	/* 5.0 and later must come on connection id 4, older ones on 1 (hyperv.h). */
	if (!known || sint != HV_VMBUS_SINT ||
	    (want >= VMB_VERSION(5, 0)) != (conn_id == CONN_ID_MESSAGE_4)) {
		reply_version(p, false, 0);
		return;
	}
	vb->version = want;
	reply_version(p, true, want >= VMB_VERSION(5, 0) ? CONN_ID_MESSAGE_4 : CONN_ID_MESSAGE);
}

static void request_offers(struct hv_partition *p)
{
	struct hv_vmbus *vb = vb_of(p);
	uint8_t m[8];
	unsigned i;

	vb->offers_requested = true;
	for (i = 0; i < HV_MAX_CHANNELS; i++) {
		struct hv_channel *c = vb->chan[i];

		if (c && c->enabled && !c->sent)
			hv_channel_offer(c);
	}
	memset(m, 0, sizeof(m));
	hv_put32(m, MSG_ALLOFFERS_DELIVERED);
	send_msg(p, m, sizeof(m));
}

static struct hv_gpadl *find_gpadl(struct hv_partition *p, uint32_t handle)
{
	unsigned i;

	for (i = 0; i < HV_MAX_GPADLS; i++)
		if (handle && vb_of(p)->gpadls[i].handle == handle)
			return &vb_of(p)->gpadls[i];
	return NULL;
}

static void drop_gpadl(struct hv_gpadl *g)
{
	free(g->pfns);
	memset(g, 0, sizeof(*g));
}

static void gpadl_created(struct hv_partition *p, struct hv_gpadl *g)
{
	uint8_t m[20];
	uint32_t i, status = 0;

	for (i = 0; i < g->npages && !status; i++)
		if (g->pfns[i] >= (1ULL << 40) ||
		    !hv_partition_gpa(p, g->pfns[i] * HV_PAGE, HV_PAGE))
			status = STATUS_UNSUCCESSFUL;
	memset(m, 0, sizeof(m));
	hv_put32(m, MSG_GPADL_CREATED);
	hv_put32(m + 8, g->relid);
	hv_put32(m + 12, g->handle);
	hv_put32(m + 16, status);
	if (status) {
		bad(p); /* pages outside guest RAM: refused, forgotten */
		drop_gpadl(g);
	}
	send_msg(p, m, sizeof(m));
}

static void add_pfns(struct hv_gpadl *g, const uint8_t *src, uint32_t n)
{
	uint32_t i;

	for (i = 0; i < n; i++)
		g->pfns[g->have++] = hv_get64(src + 8 * i);
}

/* GPADL_HEADER: relid (8), handle (12), range_buflen (16), rangecount (18), then one
 * gpa_range: byte_count (20), byte_offset (24), pfns (28). */
static void gpadl_header(struct hv_partition *p, const uint8_t *m, uint32_t len)
{
	uint32_t relid, handle, buflen, count, offset, npages, here, i;
	struct hv_gpadl *g = NULL;

	if (len < 28) {
		bad(p);
		return;
	}
	relid = hv_get32(m + 8);
	handle = hv_get32(m + 12);
	buflen = hv_get16(m + 16); /* a u16: Linux lets it wrap for the largest GPADLs */
	count = hv_get32(m + 20);
	offset = hv_get32(m + 24);
	npages = (uint32_t)(((uint64_t)offset + count + HV_PAGE - 1) / HV_PAGE);
	here = (len - 28) / 8;
	if (!by_relid(p, relid) || !handle || find_gpadl(p, handle) || hv_get16(m + 18) != 1 ||
	    offset >= HV_PAGE || count == 0 || npages > HV_MAX_GPADL_PAGES ||
	    buflen != (uint16_t)(8 + 8 * npages) || here == 0 || here > npages) {
		bad(p);
		return;
	}
	for (i = 0; i < HV_MAX_GPADLS && !g; i++)
		if (!vb_of(p)->gpadls[i].handle)
			g = &vb_of(p)->gpadls[i];
	if (!g) {
		bad(p);
		return;
	}
	g->pfns = calloc(npages, sizeof(*g->pfns));
	if (!g->pfns)
		return;
	g->handle = handle;
	g->relid = relid;
	g->npages = npages;
	add_pfns(g, m + 28, here);
	if (g->have == g->npages)
		gpadl_created(p, g);
}

/* GPADL_BODY: message number (8), handle (12), pfns (16). */
static void gpadl_body(struct hv_partition *p, const uint8_t *m, uint32_t len)
{
	struct hv_gpadl *g;
	uint32_t n;

	if (len < 24) {
		bad(p);
		return;
	}
	g = find_gpadl(p, hv_get32(m + 12));
	n = (len - 16) / 8;
	if (!g || g->have == g->npages || n > g->npages - g->have) {
		bad(p);
		return;
	}
	add_pfns(g, m + 16, n);
	if (g->have == g->npages)
		gpadl_created(p, g);
}

static bool gpadl_in_use(struct hv_partition *p, uint32_t handle)
{
	unsigned i;

	for (i = 0; i < HV_MAX_CHANNELS; i++) {
		struct hv_channel *c = vb_of(p)->chan[i];

		if (c && c->in.size && c->gpadl == handle)
			return true;
	}
	return false;
}

static void gpadl_teardown(struct hv_partition *p, const uint8_t *m, uint32_t len)
{
	struct hv_gpadl *g;
	uint8_t r[12];

	if (len < 16 || !(g = find_gpadl(p, hv_get32(m + 12))) || gpadl_in_use(p, g->handle)) {
		bad(p);
		return;
	}
	memset(r, 0, sizeof(r));
	hv_put32(r, MSG_GPADL_TORNDOWN);
	hv_put32(r + 8, g->handle);
	drop_gpadl(g);
	send_msg(p, r, sizeof(r));
}

static void open_result(struct hv_partition *p, uint32_t relid, uint32_t openid, uint32_t status)
{
	uint8_t m[20];

	memset(m, 0, sizeof(m));
	hv_put32(m, MSG_OPENCHANNEL_RESULT);
	hv_put32(m + 8, relid);
	hv_put32(m + 12, openid);
	hv_put32(m + 16, status);
	send_msg(p, m, sizeof(m));
}

static uint8_t **page_list(struct hv_partition *p, const struct hv_gpadl *g, uint32_t from,
			   uint32_t n)
{
	uint8_t **pages = calloc(n, sizeof(*pages));
	uint32_t i;

	for (i = 0; pages && i < n; i++)
		pages[i] = hv_partition_gpa(p, g->pfns[from + i] * HV_PAGE, HV_PAGE);
	return pages;
}

/* OPENCHANNEL: relid (8), open id (12), ring GPADL (16), target VP (20), page offset of the
 * host-to-guest ring (24), user data (28..148). The guest-to-host ring comes first. */
static void open_channel(struct hv_partition *p, const uint8_t *m, uint32_t len)
{
	uint32_t relid, openid, vp, down;
	struct hv_channel *c;
	struct hv_gpadl *g;

	if (len < 28) {
		bad(p);
		return;
	}
	relid = hv_get32(m + 8);
	openid = hv_get32(m + 12);
	g = find_gpadl(p, hv_get32(m + 16));
	vp = hv_get32(m + 20);
	down = hv_get32(m + 24);
	c = by_relid(p, relid);
	if (!c || (c->state != HV_CHANNEL_OFFERED && c->state != HV_CHANNEL_CLOSED) || !g ||
	    g->have != g->npages || g->relid != relid || vp >= p->nvcpus || g->npages < 4 ||
	    down < 2 || down > g->npages - 2 || gpadl_in_use(p, g->handle)) {
		bad(p);
		if (c)
			HV_STAT(c, bad_packets, 1);
		open_result(p, relid, openid, STATUS_UNSUCCESSFUL);
		return;
	}
	if (hv_ring_setup(&c->in, page_list(p, g, 0, down), down, false) ||
	    hv_ring_setup(&c->out, page_list(p, g, down, g->npages - down), g->npages - down,
			  true)) {
		hv_channel_close_rings(c);
		bad(p);
		HV_STAT(c, bad_packets, 1);
		open_result(p, relid, openid, STATUS_UNSUCCESSFUL);
		return;
	}
	c->gpadl = g->handle;
	c->target_vp = vp;
	c->state = HV_CHANNEL_OPEN;
	c->st.in_ring_size = c->in.size;
	c->st.out_ring_size = c->out.size;
	open_result(p, relid, openid, 0);
	if (c->vsp->opened)
		c->vsp->opened(c);
}

static void close_channel(struct hv_partition *p, const uint8_t *m, uint32_t len)
{
	struct hv_channel *c;

	if (len < 12 || !(c = by_relid(p, hv_get32(m + 8)))) {
		bad(p);
		return;
	}
	hv_channel_close_rings(c);
	if (c->state == HV_CHANNEL_OPEN || c->state == HV_CHANNEL_FAULTED)
		c->state = HV_CHANNEL_CLOSED;
}

static void relid_released(struct hv_partition *p, const uint8_t *m, uint32_t len)
{
	struct hv_channel *c;

	if (len < 12 || !(c = by_relid(p, hv_get32(m + 8))) || c->state != HV_CHANNEL_RESCINDED) {
		bad(p);
		return;
	}
	hv_channel_close_rings(c);
	c->released = true;
	c->sent = false;
	if (c->reoffer && c->enabled && vb_of(p)->offers_requested)
		hv_channel_offer(c);
}

/* MODIFYCHANNEL: relid (8), new target VP (12). Linux sends it when a channel's interrupts
 * move to another CPU; from 5.3 on it waits for the response. */
static void modify_channel(struct hv_partition *p, const uint8_t *m, uint32_t len)
{
	struct hv_channel *c;
	uint8_t r[16];
	uint32_t vp, status = 0;

	if (len < 16 || !(c = by_relid(p, hv_get32(m + 8)))) {
		bad(p);
		return;
	}
	vp = hv_get32(m + 12);
	if (vp >= p->nvcpus) {
		bad(p);
		status = STATUS_UNSUCCESSFUL;
	} else {
		c->target_vp = vp;
	}
	if (vb_of(p)->version < VMB_VERSION(5, 3))
		return;
	memset(r, 0, sizeof(r));
	hv_put32(r, MSG_MODIFYCHANNEL_RESPONSE);
	hv_put32(r + 8, c->relid);
	hv_put32(r + 12, status);
	send_msg(p, r, sizeof(r));
}

static void unload(struct hv_partition *p)
{
	struct hv_vmbus *vb = vb_of(p);
	uint8_t m[8];
	unsigned i;

	for (i = 0; i < HV_MAX_CHANNELS; i++) {
		struct hv_channel *c = vb->chan[i];

		if (!c)
			continue;
		hv_channel_close_rings(c);
		c->sent = false;
		if (c->state != HV_CHANNEL_RESCINDED)
			c->state = HV_CHANNEL_OFFERED;
	}
	for (i = 0; i < HV_MAX_GPADLS; i++)
		drop_gpadl(&vb->gpadls[i]);
	vb->version = 0;
	vb->offers_requested = false;
	memset(m, 0, sizeof(m));
	hv_put32(m, MSG_UNLOAD_RESPONSE);
	send_msg(p, m, sizeof(m));
}

uint16_t hv_vmbus_post(struct hv_partition *p, uint32_t conn_id, const uint8_t *m, uint32_t len)
{
	struct hv_vmbus *vb = vb_of(p);
	uint32_t type;

	if (conn_id != CONN_ID_MESSAGE && conn_id != CONN_ID_MESSAGE_4)
		return HV_STATUS_INVALID_CONNECTION_ID;
	if (len < 8) {
		bad(p);
		return HV_STATUS_SUCCESS;
	}
	type = hv_get32(m);
	if (type == MSG_INITIATE_CONTACT) {
		initiate_contact(p, conn_id, m, len);
		return HV_STATUS_SUCCESS;
	}
	if (!vb->version) {
		bad(p); /* nothing but contact before contact */
		return HV_STATUS_SUCCESS;
	}
	switch (type) {
	case MSG_REQUESTOFFERS: request_offers(p); break;
	case MSG_GPADL_HEADER: gpadl_header(p, m, len); break;
	case MSG_GPADL_BODY: gpadl_body(p, m, len); break;
	case MSG_GPADL_TEARDOWN: gpadl_teardown(p, m, len); break;
	case MSG_OPENCHANNEL: open_channel(p, m, len); break;
	case MSG_CLOSECHANNEL: close_channel(p, m, len); break;
	case MSG_RELID_RELEASED: relid_released(p, m, len); break;
	case MSG_UNLOAD: unload(p); break;
	case MSG_MODIFYCHANNEL: modify_channel(p, m, len); break;
	default: bad(p); break;
	}
	return HV_STATUS_SUCCESS;
}

struct hv_channel *hv_vmbus_ic_channel(struct hv_partition *p, int ic)
{
	if (!p->hv || !p->hv->on || ic < 0 || ic >= HV_IC_COUNT)
		return NULL;
	return vb_of(p)->chan[ic];
}

static struct hv_channel *channel_new(struct hv_partition *p, const struct hv_partition_config *cfg,
				      unsigned slot, const struct hv_vsp *vsp)
{
	struct hv_channel *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	vb_of(p)->chan[slot] = c;
	c->p = p;
	c->stats = !cfg->vmbus_no_stats;
	c->vsp = vsp;
	c->enabled = vsp->ic < 0 || !(cfg->ic_disabled & (1u << vsp->ic));
	c->buf = malloc(HV_MAX_PACKET);
	c->priv = calloc(1, vsp->priv_size ? vsp->priv_size : 1);
	if (!c->buf || !c->priv)
		return NULL;
	snprintf(c->st.name, sizeof(c->st.name), "%s", vsp->name);
	snprintf(c->st.interface_type, sizeof(c->st.interface_type), "%s", vsp->class_id);
	snprintf(c->st.instance_id, sizeof(c->st.instance_id), "%s", vsp->instance_id);
	return c;
}

/* One synthetic SCSI channel per controller number that has disks; the instance GUID ends
 * in the controller number, so a guest sees the same controller across boots. */
static int scsi_init(struct hv_partition *p, const struct hv_partition_config *cfg)
{
	unsigned ctl, i;
	int r;

	for (i = 0; i < cfg->ndisks; i++)
		if (!cfg->disks || !cfg->disks[i].path ||
		    cfg->disks[i].controller >= HV_MAX_SCSI_CONTROLLERS ||
		    cfg->disks[i].location >= HV_MAX_SCSI_LOCATIONS)
			return -EINVAL;
	for (ctl = 0; ctl < HV_MAX_SCSI_CONTROLLERS; ctl++) {
		struct hv_channel *c;
		bool any = false;

		for (i = 0; i < cfg->ndisks; i++)
			any |= cfg->disks[i].controller == ctl;
		if (!any)
			continue;
		c = channel_new(p, cfg, HV_SCSI_SLOT + ctl, &hv_vsp_storvsc);
		if (!c)
			return -ENOMEM;
		snprintf(c->st.instance_id + 24, sizeof(c->st.instance_id) - 24, "%012x", ctl);
		r = hv_storvsc_init(c, ctl, cfg->disks, cfg->ndisks, cfg->scsi_poll, cfg->why,
				    cfg->why_len);
		if (r)
			return r;
	}
	return 0;
}

int hv_vmbus_init(struct hv_partition *p, const struct hv_partition_config *cfg)
{
	struct hv_vmbus *vb = vb_of(p);
	unsigned i;

	vb->next_relid = 1;
	pthread_cond_init(&vb->cond, NULL);
	for (i = 0; i < sizeof(vsps) / sizeof(vsps[0]); i++) {
		if (i == ECHO_SLOT && !cfg->vmbus_echo)
			continue;
		if (i == BALLOON_SLOT && !cfg->dynamic_memory)
			continue;
		if (!channel_new(p, cfg, i, vsps[i]))
			return -ENOMEM;
	}
	return scsi_init(p, cfg);
}

void hv_vmbus_destroy(struct hv_partition *p)
{
	struct hv_vmbus *vb = vb_of(p);
	unsigned i;

	if (!p->hv->on)
		return;
	for (i = 0; i < HV_MAX_CHANNELS; i++) {
		struct hv_channel *c = vb->chan[i];

		if (c && c->vsp->destroy)
			c->vsp->destroy(c); /* device threads first: they may still take the lock */
	}
	for (i = 0; i < HV_MAX_CHANNELS; i++) {
		struct hv_channel *c = vb->chan[i];

		if (!c)
			continue;
		hv_channel_close_rings(c); /* destroy ran in the loop above */
		free(c->buf);
		free(c->priv);
		free(c);
		vb->chan[i] = NULL;
	}
	for (i = 0; i < HV_MAX_GPADLS; i++)
		drop_gpadl(&vb->gpadls[i]);
	pthread_cond_destroy(&vb->cond);
}

const char *hv_ic_name(enum hv_ic ic)
{
	if ((unsigned)ic >= HV_IC_COUNT)
		return NULL;
	return vsps[ic]->name;
}
