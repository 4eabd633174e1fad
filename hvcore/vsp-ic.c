/* The integration-services framework (Hyper-V "IC"): every IC packet is a pipe header
 * (flags, size), an icmsg header (framework version, message type, message version, body
 * size, status, transaction id, flags) and a body. The host negotiates first: it lists the
 * framework and message versions it speaks, newest first, and the guest answers with one of
 * each (Linux: vmbus_prep_negotiate_resp in drivers/hv/channel_mgmt.c). */
#include "config.h"

#include <errno.h>
#include <string.h>

#include "hvcore/vmbus-priv.h"

#define ICMSGTYPE_NEGOTIATE 0
#define ICFLAG_TRANSACTION 1
#define ICFLAG_REQUEST 2
#define ICFLAG_RESPONSE 4
#define IC_MAX_BODY 2600

int hv_ic_send(struct hv_channel *c, uint16_t type, const void *body, uint32_t body_len)
{
	struct hv_ic_state *s = c->priv;
	uint8_t pkt[HV_IC_HDR + IC_MAX_BODY];
	uint32_t fw = s->fw_version ? s->fw_version : (1u << 16);
	uint32_t ver = s->version ? s->version : (1u << 16);

	if (body_len > IC_MAX_BODY)
		return -E2BIG;
	memset(pkt, 0, HV_IC_HDR);
	hv_put32(pkt + 4, 20 + body_len);
	hv_put16(pkt + 8, (uint16_t)(fw >> 16));
	hv_put16(pkt + 10, (uint16_t)fw);
	hv_put16(pkt + 12, type);
	hv_put16(pkt + 14, (uint16_t)(ver >> 16));
	hv_put16(pkt + 16, (uint16_t)ver);
	hv_put16(pkt + 18, (uint16_t)body_len);
	pkt[24] = ++s->trans;
	pkt[25] = ICFLAG_TRANSACTION | ICFLAG_REQUEST;
	memcpy(pkt + HV_IC_HDR, body, body_len);
	return hv_channel_send(c, pkt, HV_IC_HDR + body_len, ++s->trans_id);
}

void hv_ic_opened(struct hv_channel *c, const struct hv_ic_versions *v)
{
	struct hv_ic_state *s = c->priv;
	uint8_t body[8 + 4 * 16];
	unsigned i, n = 0;

	s->offered = v;
	s->fw_version = s->version = 0;
	s->next_ns = 0;
	s->index = 0;
	memset(body, 0, sizeof(body));
	hv_put16(body, (uint16_t)v->nfw);
	hv_put16(body + 2, (uint16_t)v->nmsg);
	for (i = 0; i < v->nfw && n < 16; i++, n++) {
		hv_put16(body + 8 + 4 * n, (uint16_t)(v->fw[i] >> 16));
		hv_put16(body + 10 + 4 * n, (uint16_t)v->fw[i]);
	}
	for (i = 0; i < v->nmsg && n < 16; i++, n++) {
		hv_put16(body + 8 + 4 * n, (uint16_t)(v->msg[i] >> 16));
		hv_put16(body + 10 + 4 * n, (uint16_t)v->msg[i]);
	}
	(void)hv_ic_send(c, ICMSGTYPE_NEGOTIATE, body, 8 + 4 * n);
}

static bool offered(const uint32_t *list, unsigned n, uint32_t v)
{
	unsigned i;

	for (i = 0; i < n; i++)
		if (list[i] == v)
			return true;
	return false;
}

static uint32_t version_at(const uint8_t *b)
{
	return ((uint32_t)hv_get16(b) << 16) | hv_get16(b + 2);
}

/* The guest picks one framework and one message version from what we offered; counts of
 * 0 mean it speaks none of them (the service stays unnegotiated, not an error). */
static int negotiated(struct hv_channel *c, const uint8_t *body, uint32_t len)
{
	struct hv_ic_state *s = c->priv;
	const struct hv_ic_versions *v = s->offered;
	uint32_t fw, msg;

	if (!v || len < 8)
		return -1;
	if (hv_get16(body) == 0 || hv_get16(body + 2) == 0)
		return -2;
	if (len < 16 || hv_get16(body) != 1 || hv_get16(body + 2) != 1)
		return -1;
	fw = version_at(body + 8);
	msg = version_at(body + 12);
	if (!offered(v->fw, v->nfw, fw) || !offered(v->msg, v->nmsg, msg))
		return -1;
	s->fw_version = fw;
	s->version = msg;
	s->last_contact_ns = hv_now_ns();
	return -2;
}

int hv_ic_response(struct hv_channel *c, const uint8_t *d, uint32_t len, uint32_t *status,
		   const uint8_t **body, uint32_t *body_len)
{
	struct hv_ic_state *s = c->priv;
	uint16_t type;

	if (len < HV_IC_HDR || !(d[25] & ICFLAG_RESPONSE))
		return -1;
	type = hv_get16(d + 12);
	*status = hv_get32(d + 20);
	*body = d + HV_IC_HDR;
	*body_len = len - HV_IC_HDR;
	if (type == ICMSGTYPE_NEGOTIATE)
		return negotiated(c, *body, *body_len);
	if (!s->version || !s->offered || type != s->offered->icmsgtype)
		return -1;
	return type;
}
