/* Shutdown IC: the host asks, the guest answers and then shuts down or reboots (Linux:
 * shutdown_onchannelcallback in drivers/hv/hv_util.c; flags 0/1 shut down, 2/3 reboot). */
#include "config.h"

#include <string.h>

#include "hvcore/vmbus-priv.h"

#define ICMSGTYPE_SHUTDOWN 3
#define SD_BODY (12 + 2048) /* reason code, timeout, flags, display message */
#define SD_FLAG_REBOOT 2
#define V(a, b) (((uint32_t)(a) << 16) | (b))

static const uint32_t fw[] = { V(3, 0), V(1, 0) };
static const uint32_t msg[] = { V(3, 2), V(3, 1), V(3, 0), V(1, 0) };
static const struct hv_ic_versions versions = { ICMSGTYPE_SHUTDOWN, fw, 2, msg, 4 };

static void opened(struct hv_channel *c)
{
	hv_ic_opened(c, &versions);
}

int hv_shutdown_request(struct hv_channel *c, int reboot, const char *reason)
{
	uint8_t body[SD_BODY];
	size_t n = reason ? strlen(reason) : 0;

	memset(body, 0, sizeof(body));
	hv_put32(body + 8, reboot ? SD_FLAG_REBOOT : 0);
	if (n > 2047)
		n = 2047;
	if (n)
		memcpy(body + 12, reason, n);
	return hv_ic_send(c, ICMSGTYPE_SHUTDOWN, body, sizeof(body));
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
	if (t == -2)
		return true;
	if (t < 0)
		return false;
	s->last_contact_ns = hv_now_ns();
	return true;
}

const struct hv_vsp hv_vsp_shutdown = {
	.name = "Shutdown",
	.class_id = "0e0b6031-5213-4934-818b-38d90ced39db",
	.instance_id = "b6650ff7-33bc-4840-8048-e0676786f393",
	.ic = HV_IC_SHUTDOWN,
	.priv_size = sizeof(struct hv_ic_state),
	.ic_versions = &versions,
	.opened = opened,
	.packet = packet,
};
