/* Heartbeat IC: the host sends a sequence number every second, the guest answers with it
 * plus one (Linux: heartbeat_onchannelcallback in drivers/hv/hv_util.c). The answer's time
 * is what hv_partition_ic_status reports as health. */
#include "config.h"

#include <string.h>

#include "hvcore/vmbus-priv.h"

#define ICMSGTYPE_HEARTBEAT 1
#define HB_BODY 40 /* u64 seq_num, u32 reserved[8] */
#define V(a, b) (((uint32_t)(a) << 16) | (b))

static const uint32_t fw[] = { V(3, 0), V(1, 0) };
static const uint32_t msg[] = { V(3, 0), V(1, 0) };
static const struct hv_ic_versions versions = { ICMSGTYPE_HEARTBEAT, fw, 2, msg, 2 };

static void opened(struct hv_channel *c)
{
	hv_ic_opened(c, &versions);
}

static void tick(struct hv_channel *c, uint64_t now)
{
	struct hv_ic_state *s = c->priv;
	uint8_t body[HB_BODY];

	if (!s->version || now < s->next_ns)
		return;
	s->next_ns = now + 1000000000ULL;
	memset(body, 0, sizeof(body));
	hv_put64(body, ++s->seq);
	(void)hv_ic_send(c, ICMSGTYPE_HEARTBEAT, body, sizeof(body));
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
		tick(c, hv_now_ns()); /* the first beat at once */
		return true;
	}
	if (t < 0 || blen < 8)
		return false;
	if (status == 0 && hv_get64(body) == s->seq + 1)
		s->last_contact_ns = hv_now_ns();
	return true;
}

const struct hv_vsp hv_vsp_heartbeat = {
	.name = "Heartbeat",
	.class_id = "57164f39-9115-4e78-ab55-382f3bd5422d",
	.instance_id = "fd149e91-82e0-4a7d-afa6-2a4166cbd7c0",
	.ic = HV_IC_HEARTBEAT,
	.priv_size = sizeof(struct hv_ic_state),
	.ic_versions = &versions,
	.opened = opened,
	.packet = packet,
	.tick = tick,
};
