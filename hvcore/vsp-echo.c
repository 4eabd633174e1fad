/* hvkit's loopback channel, offered only with vmbus_echo (tests, bench/vmbus-bench.sh): a
 * packet whose first word is 1 comes back unchanged with its transaction id; any other is
 * consumed. It measures the VMBus path itself, not a device. */
#include "config.h"

#include "hvcore/vmbus-priv.h"

#define ECHO_OP_ECHO 1

static bool packet(struct hv_channel *c, const uint8_t *d, uint32_t len, uint64_t trans_id,
		   uint16_t type, uint16_t flags)
{
	(void)type;
	(void)flags;
	if (len < 4)
		return false;
	if (hv_get32(d) == ECHO_OP_ECHO)
		(void)hv_channel_send(c, d, len, trans_id);
	return true;
}

const struct hv_vsp hv_vsp_echo = {
	.name = "hvkit Echo",
	.class_id = "7b1d0f5e-3a9c-4e2b-8d6f-5c4a3b2e1f0d",
	.instance_id = "7b1d0f5e-3a9c-4e2b-8d6f-000000000001",
	.ic = -1,
	.packet = packet,
};
