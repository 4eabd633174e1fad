/* Key-Value Pair Exchange IC: after negotiation the host enumerates the guest's automatic
 * pool (OS name, version, host name...) item by item until the guest answers with an error
 * (HV_S_CONT past the last item), and again every 30 s. Message layout: struct hv_kvp_msg
 * of include/uapi/linux/hyperv.h (operation, pool, then index and one key/value record). */
#include "config.h"

#include <string.h>

#include "hvcore/vmbus-priv.h"

#define ICMSGTYPE_KVPEXCHANGE 2
#define KVP_OP_ENUMERATE 3
#define KVP_POOL_AUTO 2
#define KVP_BODY (4 + 4 + 12 + 512 + 2048)
#define KVP_MAX_ITEMS 64
#define POLL_NS 30000000000ULL
#define V(a, b) (((uint32_t)(a) << 16) | (b))

static const uint32_t fw[] = { V(3, 0), V(1, 0) };
static const uint32_t msg[] = { V(4, 0), V(3, 0) };
static const struct hv_ic_versions versions = { ICMSGTYPE_KVPEXCHANGE, fw, 2, msg, 2 };

static void opened(struct hv_channel *c)
{
	hv_ic_opened(c, &versions);
}

static void enumerate(struct hv_channel *c)
{
	struct hv_ic_state *s = c->priv;
	uint8_t body[KVP_BODY];

	memset(body, 0, sizeof(body));
	body[0] = KVP_OP_ENUMERATE;
	body[1] = KVP_POOL_AUTO;
	hv_put32(body + 4, s->index);
	(void)hv_ic_send(c, ICMSGTYPE_KVPEXCHANGE, body, sizeof(body));
}

static void tick(struct hv_channel *c, uint64_t now)
{
	struct hv_ic_state *s = c->priv;

	if (!s->version || !s->next_ns || now < s->next_ns)
		return;
	s->next_ns = 0;
	s->index = 0;
	enumerate(c);
}

static bool packet(struct hv_channel *c, const uint8_t *d, uint32_t len, uint64_t trans_id,
		   uint16_t type, uint16_t flags)
{
	struct hv_ic_state *s = c->priv;
	const uint8_t *body;
	uint32_t status, blen;
	int t = hv_ic_response(c, d, len, &status, &body, &blen);

	(void)trans_id;
	(void)type;
	(void)flags;
	if (t == -2) {
		s->index = 0;
		if (s->version)
			enumerate(c);
		return true;
	}
	if (t < 0 || blen < 8)
		return false;
	s->last_contact_ns = hv_now_ns();
	if (status == 0 && s->index + 1 < KVP_MAX_ITEMS) {
		if (s->index + 1 > s->items)
			s->items = s->index + 1;
		s->index++;
		enumerate(c);
	} else {
		s->next_ns = hv_now_ns() + POLL_NS;
	}
	return true;
}

const struct hv_vsp hv_vsp_kvp = {
	.name = "Key-Value Pair Exchange",
	.class_id = "a9a0f4e7-5a45-4d96-b827-8a841e8c03e6",
	.instance_id = "242ff919-07db-4180-9c2e-b86cb68c8c55",
	.ic = HV_IC_KVP,
	.priv_size = sizeof(struct hv_ic_state),
	.ic_versions = &versions,
	.opened = opened,
	.packet = packet,
	.tick = tick,
};
