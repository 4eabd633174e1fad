/* Time synchronization IC: the host's wall clock, in 100 ns units since 1601, once as a
 * SYNC right after negotiation and then as a SAMPLE every 5 s. Message version 4 adds the
 * partition reference time (Linux: timesync_onchannelcallback, struct ictimesync_ref_data). */
#include "config.h"

#include <string.h>
#include <time.h>

#include "hvcore/vmbus-priv.h"

#define ICMSGTYPE_TIMESYNC 4
#define FLAG_SYNC 1
#define FLAG_SAMPLE 2
#define WLTIMEDELTA 116444736000000000ULL /* 1601 to 1970 in 100 ns */
#define SAMPLE_NS 5000000000ULL
#define V(a, b) (((uint32_t)(a) << 16) | (b))

static const uint32_t fw[] = { V(3, 0), V(1, 0) };
static const uint32_t msg[] = { V(4, 0), V(3, 0), V(1, 0) };
static const struct hv_ic_versions versions = { ICMSGTYPE_TIMESYNC, fw, 2, msg, 3 };

static void opened(struct hv_channel *c)
{
	hv_ic_opened(c, &versions);
}

static void tick(struct hv_channel *c, uint64_t now)
{
	struct hv_ic_state *s = c->priv;
	uint8_t body[25];
	struct timespec ts;
	uint64_t t;

	if (!s->version || now < s->next_ns)
		return;
	clock_gettime(CLOCK_REALTIME, &ts);
	t = WLTIMEDELTA + (uint64_t)ts.tv_sec * 10000000ULL + (uint64_t)ts.tv_nsec / 100;
	memset(body, 0, sizeof(body));
	hv_put64(body, t);
	if (s->version >= V(4, 0)) {
		hv_put64(body + 8, (now - c->p->hv->ref_base_ns) / 100);
		body[16] = s->next_ns ? FLAG_SAMPLE : FLAG_SYNC;
		(void)hv_ic_send(c, ICMSGTYPE_TIMESYNC, body, 24);
	} else {
		body[24] = s->next_ns ? FLAG_SAMPLE : FLAG_SYNC;
		(void)hv_ic_send(c, ICMSGTYPE_TIMESYNC, body, 25);
	}
	s->next_ns = now + SAMPLE_NS;
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
		s->next_ns = 0;
		tick(c, hv_now_ns());
		return true;
	}
	if (t < 0)
		return false;
	s->last_contact_ns = hv_now_ns();
	return true;
}

const struct hv_vsp hv_vsp_timesync = {
	.name = "Time Synchronization",
	.class_id = "9527e630-d0ae-497b-adce-e80ab0175caf",
	.instance_id = "2dd1ce17-079e-403c-b352-a1921ee207ee",
	.ic = HV_IC_TIMESYNC,
	.priv_size = sizeof(struct hv_ic_state),
	.ic_versions = &versions,
	.opened = opened,
	.packet = packet,
	.tick = tick,
};
