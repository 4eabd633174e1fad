/* The Hyper-V and VMBus sections of a saved-state file (STATEFILE.md, 0x100 and 0x101), read
 * into struct hv_saved_hv. A state file is outside input: every count, length, index and
 * cross-reference (a channel's GPADL, relids, vCPU numbers) is checked here, before any host
 * object exists; what needs the partition (pages inside RAM, the providers present) is
 * checked again by vmbus-save.c. A bad section is -EBADMSG with a sentence, never a crash. */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hvcore/hv-priv.h"
#include "hvcore/vmbus-state.h"

#define MAX_RELID 2047
#define CONN_ID_CHANNEL_BASE 0x10000
#define REC_OPTIONAL 0x80000000u
#define CHANNEL_STATE_MAX 4 /* HV_CHANNEL_FAULTED */

static int fail(char *err, size_t errlen, int rc, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static int fail(char *err, size_t errlen, int rc, const char *fmt, ...)
{
	va_list ap;

	if (err && errlen) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return rc;
}

/* Next {u32 kind, u32 len, data, pad to 8} record: 1 got one, 0 end, -1 malformed. */
static int next_rec(const uint8_t *b, size_t len, size_t *pos, uint32_t *kind, const uint8_t **data,
		    uint32_t *rlen)
{
	size_t left, pad;

	if (*pos == len)
		return 0;
	left = len - *pos;
	if (left < 8)
		return -1;
	*kind = hv_get32(b + *pos);
	*rlen = hv_get32(b + *pos + 4);
	if (*rlen > left - 8)
		return -1;
	*data = b + *pos + 8;
	*pos += 8 + (size_t)*rlen;
	pad = (8 - (*rlen & 7)) & 7;
	*pos = *pos + pad > len ? len : *pos + pad;
	return 1;
}

static struct hv_saved_hv *saved_new(uint32_t nvcpus)
{
	struct hv_saved_hv *hv = calloc(1, sizeof(*hv));

	if (!hv)
		return NULL;
	hv->nvcpus = nvcpus;
	hv->maxmsgs = nvcpus * HV_SAVED_MSG_QUEUE;
	hv->synic = calloc(nvcpus, sizeof(*hv->synic));
	hv->synic_seen = calloc(nvcpus, sizeof(*hv->synic_seen));
	if (!hv->synic || !hv->synic_seen) {
		hv_saved_hv_free(hv);
		return NULL;
	}
	return hv;
}

void hv_saved_hv_free(struct hv_saved_hv *hv)
{
	uint32_t i;

	if (!hv)
		return;
	for (i = 0; i < hv->ngpadls; i++)
		free(hv->gpadls[i].pfns);
	for (i = 0; i < hv->nchans; i++)
		free(hv->chans[i].prov);
	free(hv->msgs);
	free(hv->synic);
	free(hv->synic_seen);
	free(hv);
}

static int hyperv_rec(struct hv_saved_hv *hv, uint32_t kind, const uint8_t *d, uint32_t len, char *err,
		      size_t errlen)
{
	struct hv_saved_msg *m;
	uint32_t vp, i;

	switch (kind) {
	case HV_REC_HV_PARTITION:
		if (len != HV_REC_HV_PARTITION_LEN || hv->have_part)
			return fail(err, errlen, -EBADMSG, "the Hyper-V partition record is malformed or repeated");
		hv->guest_os_id = hv_get64(d);
		hv->hypercall = hv_get64(d + 8);
		hv->ref_ns = hv_get64(d + 16);
		hv->have_part = true;
		return 0;
	case HV_REC_HV_SYNIC:
		if (len != HV_REC_HV_SYNIC_LEN)
			return fail(err, errlen, -EBADMSG, "a SynIC record has the wrong size (%u bytes)", len);
		vp = hv_get32(d);
		if (vp >= hv->nvcpus || hv->synic_seen[vp])
			return fail(err, errlen, -EBADMSG, "SynIC record for vCPU %u is out of range or repeated", vp);
		hv->synic[vp].scontrol = hv_get64(d + 8);
		hv->synic[vp].simp = hv_get64(d + 16);
		hv->synic[vp].siefp = hv_get64(d + 24);
		hv->synic[vp].vp_assist = hv_get64(d + 32);
		for (i = 0; i < 16; i++)
			hv->synic[vp].sint[i] = hv_get64(d + 40 + 8 * i);
		hv->synic_seen[vp] = true;
		return 0;
	case HV_REC_HV_MSG:
		if (len != HV_REC_HV_MSG_LEN)
			return fail(err, errlen, -EBADMSG, "a queued SynIC message has the wrong size (%u bytes)", len);
		if (hv->nmsgs >= hv->maxmsgs)
			return fail(err, errlen, -EBADMSG, "it holds more queued SynIC messages than a partition can");
		if (!hv->msgs) {
			hv->msgs = calloc(hv->maxmsgs, sizeof(*hv->msgs));
			if (!hv->msgs)
				return -ENOMEM;
		}
		m = &hv->msgs[hv->nmsgs];
		m->vp = hv_get32(d);
		m->sint = hv_get32(d + 4);
		m->type = hv_get32(d + 8);
		m->len = hv_get32(d + 12);
		if (m->vp >= hv->nvcpus || m->sint >= 16 || m->type == 0 || m->len > 240)
			return fail(err, errlen, -EBADMSG, "a queued SynIC message names vCPU %u, SINT %u, length %u",
				    m->vp, m->sint, m->len);
		memcpy(m->data, d + 16, m->len);
		hv->nmsgs++;
		return 0;
	}
	return -2;
}

static int gpadl_rec(struct hv_saved_hv *hv, const uint8_t *d, uint32_t len, char *err, size_t errlen)
{
	struct hv_saved_gpadl *g;
	uint32_t i;

	if (hv->ngpadls >= HV_SAVED_MAX_GPADLS || len < 24)
		return fail(err, errlen, -EBADMSG, "a GPADL record is malformed or one too many");
	g = &hv->gpadls[hv->ngpadls];
	g->handle = hv_get32(d);
	g->relid = hv_get32(d + 4);
	g->npages = hv_get32(d + 8);
	g->have = hv_get32(d + 12);
	g->next_msg = hv_get32(d + 16);
	if (!g->handle || !g->npages || g->npages > HV_SAVED_MAX_GPADL_PAGES || g->have > g->npages ||
	    len != 24 + 8 * (uint64_t)g->have)
		return fail(err, errlen, -EBADMSG, "GPADL %u has impossible page counts", g->handle);
	for (i = 0; i < hv->ngpadls; i++)
		if (hv->gpadls[i].handle == g->handle)
			return fail(err, errlen, -EBADMSG, "GPADL %u is repeated", g->handle);
	g->pfns = calloc(g->npages, sizeof(*g->pfns));
	if (!g->pfns)
		return -ENOMEM;
	hv->ngpadls++; /* owns pfns from here */
	for (i = 0; i < g->have; i++) {
		g->pfns[i] = hv_get64(d + 24 + 8 * i);
		if (g->pfns[i] >= (1ULL << 40) - 1)
			return fail(err, errlen, -EBADMSG, "GPADL %u names a page beyond any RAM", g->handle);
	}
	return 0;
}

static int channel_rec(struct hv_saved_hv *hv, const uint8_t *d, uint32_t len, char *err, size_t errlen)
{
	struct hv_saved_channel *c;
	unsigned i;

	if (hv->nchans >= HV_SAVED_MAX_CHANNELS || len != HV_REC_VB_CHANNEL_LEN)
		return fail(err, errlen, -EBADMSG, "a channel record is malformed or one too many");
	c = &hv->chans[hv->nchans++];
	memcpy(c->instance_id, d, 40);
	if (memchr(c->instance_id, 0, 40) == NULL)
		return fail(err, errlen, -EBADMSG, "a channel record names no provider");
	c->state = hv_get32(d + 40);
	c->relid = hv_get32(d + 44);
	c->conn_id = hv_get32(d + 48);
	c->gpadl = hv_get32(d + 52);
	c->target_vp = hv_get32(d + 56);
	c->flags = hv_get32(d + 60);
	c->in_pages = hv_get32(d + 64);
	c->in_high = hv_get32(d + 68);
	c->out_high = hv_get32(d + 72);
	c->packets_in = hv_get64(d + 80);
	c->packets_out = hv_get64(d + 88);
	c->bytes_in = hv_get64(d + 96);
	c->bytes_out = hv_get64(d + 104);
	c->interrupts_in = hv_get64(d + 112);
	c->interrupts_out = hv_get64(d + 120);
	c->ring_full = hv_get64(d + 128);
	c->throttled = hv_get64(d + 136);
	c->bad_packets = hv_get64(d + 144);
	c->in_ring_size = hv_get32(d + 152);
	c->out_ring_size = hv_get32(d + 156);
	c->in_ring_high = hv_get32(d + 160);
	c->out_ring_high = hv_get32(d + 164);
	if (c->state > CHANNEL_STATE_MAX || c->target_vp >= hv->nvcpus || (c->flags & ~63u))
		return fail(err, errlen, -EBADMSG, "channel %s has an impossible state", c->instance_id);
	if ((c->flags & HV_SAVED_CH_SENT) &&
	    (c->relid == 0 || c->relid > MAX_RELID || c->conn_id != CONN_ID_CHANNEL_BASE + c->relid))
		return fail(err, errlen, -EBADMSG, "channel %s has relid %u", c->instance_id, c->relid);
	for (i = 0; i + 1 < hv->nchans; i++) {
		const struct hv_saved_channel *o = &hv->chans[i];

		if (!strcmp(o->instance_id, c->instance_id))
			return fail(err, errlen, -EBADMSG, "channel %s is repeated", c->instance_id);
		if ((o->flags & c->flags & HV_SAVED_CH_SENT) && o->relid == c->relid)
			return fail(err, errlen, -EBADMSG, "two channels share relid %u", c->relid);
	}
	return 0;
}

static int ic_rec(struct hv_saved_hv *hv, const uint8_t *d, uint32_t len, char *err, size_t errlen)
{
	struct hv_saved_channel *c = hv->nchans ? &hv->chans[hv->nchans - 1] : NULL;
	struct hv_saved_ic *s;

	if (!c || c->have_ic || len != HV_REC_VB_IC_LEN)
		return fail(err, errlen, -EBADMSG, "an integration-service record is malformed or misplaced");
	s = &c->ic;
	s->fw_version = hv_get32(d);
	s->version = hv_get32(d + 4);
	s->trans = hv_get32(d + 8);
	s->flags = hv_get32(d + 12);
	s->trans_id = hv_get64(d + 16);
	s->seq = hv_get64(d + 24);
	s->contact_age_ns = hv_get64(d + 32);
	s->next_due_ns = hv_get64(d + 40);
	s->pool = hv_get32(d + 48);
	s->index = hv_get32(d + 52);
	s->items = hv_get32(d + 56);
	if (s->trans > 255 || (s->flags & ~3u) || s->index > 4096 || s->items > 4096 ||
	    (!s->version) != (!s->fw_version))
		return fail(err, errlen, -EBADMSG, "the integration-service state of %s is impossible",
			    c->instance_id);
	c->have_ic = true;
	return 0;
}

static int provider_rec(struct hv_saved_hv *hv, const uint8_t *d, uint32_t len, char *err, size_t errlen)
{
	struct hv_saved_channel *c = hv->nchans ? &hv->chans[hv->nchans - 1] : NULL;

	if (!c || c->prov || len > HV_SAVED_PROVIDER_MAX)
		return fail(err, errlen, -EBADMSG, "a provider record is malformed or misplaced");
	c->prov = malloc(len ? len : 1);
	if (!c->prov)
		return -ENOMEM;
	memcpy(c->prov, d, len);
	c->prov_len = len;
	return 0;
}

static int vmbus_rec(struct hv_saved_hv *hv, uint32_t kind, const uint8_t *d, uint32_t len, char *err,
		     size_t errlen)
{
	switch (kind) {
	case HV_REC_VB_CONN:
		if (len != HV_REC_VB_CONN_LEN || hv->have_conn)
			return fail(err, errlen, -EBADMSG, "the VMBus connection record is malformed or repeated");
		hv->version = hv_get32(d);
		hv->target_vp = hv_get32(d + 4);
		hv->conn_flags = hv_get32(d + 8);
		hv->next_relid = hv_get32(d + 12);
		hv->bad_messages = hv_get64(d + 16);
		if (hv->target_vp >= hv->nvcpus || hv->next_relid == 0 || hv->next_relid > MAX_RELID ||
		    (hv->conn_flags & ~HV_SAVED_CONN_OFFERS))
			return fail(err, errlen, -EBADMSG, "the VMBus connection record is out of range");
		hv->have_conn = true;
		return 0;
	case HV_REC_VB_GPADL: return gpadl_rec(hv, d, len, err, errlen);
	case HV_REC_VB_CHANNEL: return channel_rec(hv, d, len, err, errlen);
	case HV_REC_VB_IC: return ic_rec(hv, d, len, err, errlen);
	case HV_REC_VB_PROVIDER: return provider_rec(hv, d, len, err, errlen);
	}
	return -2;
}

int hv_saved_hv_parse(struct hv_saved_hv **hvp, uint32_t nvcpus, uint32_t type, const uint8_t *b, size_t len,
		      char *err, size_t errlen)
{
	const char *what = type == HV_SEC_HYPERV ? "Hyper-V" : "VMBus";
	struct hv_saved_hv *hv = *hvp;
	const uint8_t *d;
	uint32_t kind, rlen;
	size_t pos = 0;
	int k, rc;

	if (!hv) {
		hv = *hvp = saved_new(nvcpus);
		if (!hv)
			return -ENOMEM;
	}
	if ((type == HV_SEC_HYPERV && hv->have_hyperv) || (type == HV_SEC_VMBUS && hv->have_vmbus))
		return fail(err, errlen, -EBADMSG, "the %s section is repeated", what);
	if (type == HV_SEC_HYPERV)
		hv->have_hyperv = true;
	else
		hv->have_vmbus = true;
	while ((k = next_rec(b, len, &pos, &kind, &d, &rlen)) == 1) {
		rc = type == HV_SEC_HYPERV ? hyperv_rec(hv, kind, d, rlen, err, errlen)
					   : vmbus_rec(hv, kind, d, rlen, err, errlen);
		if (rc == -2 && (kind & REC_OPTIONAL))
			continue;
		if (rc == -2)
			return fail(err, errlen, -ENOTSUP, "the %s section holds a record of unknown kind %u", what,
				    kind);
		if (rc)
			return rc;
	}
	if (k < 0)
		return fail(err, errlen, -EBADMSG, "the %s section's records overrun it", what);
	return 0;
}

static const struct hv_saved_gpadl *find_gpadl(const struct hv_saved_hv *hv, uint32_t handle)
{
	uint32_t i;

	for (i = 0; i < hv->ngpadls; i++)
		if (hv->gpadls[i].handle == handle)
			return &hv->gpadls[i];
	return NULL;
}

int hv_saved_hv_check(const struct hv_saved_hv *hv, char *err, size_t errlen)
{
	uint32_t i, j;

	if (!hv->have_hyperv || !hv->have_vmbus || !hv->have_part || !hv->have_conn)
		return fail(err, errlen, -EBADMSG, "it lacks part of the Hyper-V or VMBus state");
	for (i = 0; i < hv->nvcpus; i++)
		if (!hv->synic_seen[i])
			return fail(err, errlen, -EBADMSG, "the SynIC state of vCPU %u is missing", i);
	for (i = 0; i < hv->nchans; i++) {
		const struct hv_saved_channel *c = &hv->chans[i];
		const struct hv_saved_gpadl *g;

		if (!(c->flags & HV_SAVED_CH_RINGS))
			continue;
		g = find_gpadl(hv, c->gpadl);
		if (!(c->flags & HV_SAVED_CH_SENT) || !g || g->have != g->npages || g->relid != c->relid ||
		    g->npages < 4 || c->in_pages < 2 || c->in_pages > g->npages - 2)
			return fail(err, errlen, -EBADMSG, "the rings of channel %s do not match GPADL %u",
				    c->instance_id, c->gpadl);
		for (j = 0; j < i; j++)
			if ((hv->chans[j].flags & HV_SAVED_CH_RINGS) && hv->chans[j].gpadl == c->gpadl)
				return fail(err, errlen, -EBADMSG, "two channels use GPADL %u", c->gpadl);
	}
	return 0;
}
