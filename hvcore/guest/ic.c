/* hvguest: the integration services as Linux's hv_utils answers them (drivers/hv/hv_util.c,
 * hv_kvp.c): version negotiation, heartbeat (sequence + 1), shutdown (answer, then act),
 * time sync (acknowledged; hvguest keeps no wall clock), KVP enumeration of a few automatic
 * items. Every request is answered in place: same buffer, response flag set. */
#include "hvcore/guest/vmbus.h"

#define HDR 28 /* pipe header + icmsg header */
#define ICMSGTYPE_NEGOTIATE 0
#define ICMSGTYPE_HEARTBEAT 1
#define ICMSGTYPE_KVPEXCHANGE 2
#define ICMSGTYPE_SHUTDOWN 3
#define ICMSGTYPE_TIMESYNC 4
#define ICFLAG_TRANSACTION 1
#define ICFLAG_RESPONSE 4
#define HV_S_OK 0
#define HV_E_FAIL 0x80004005u
#define HV_S_CONT 0x80070103u
#define KVP_OP_ENUMERATE 3
#define KVP_POOL_AUTO 2
#define KVP_KEY 20     /* in the KVP body: operation, pool, pad, index, type, key size, value size */
#define KVP_VALUE (KVP_KEY + 512)
#define REG_SZ 1

/* Newest first, like Linux: framework 3.0/1.0; per service (hv_util.c, hv_kvp.c). */
static const uint32_t fw_versions[] = { 0x30000, 0x10000, 0 };
static const uint32_t svc_versions[5][5] = {
	{ 0x30000, 0x10000, 0 },                   /* heartbeat */
	{ 0x30002, 0x30001, 0x30000, 0x10000, 0 }, /* shutdown */
	{ 0x40000, 0x30000, 0x10000, 0 },          /* time sync */
	{ 0x40000, 0x30000, 0x10000, 0 },          /* KVP */
	{ 0 },
};

static const char *const kvp_items[][2] = {
	{ "FullyQualifiedDomainName", "hvguest" },
	{ "OSName", "hvguest" },
	{ "OSMajorVersion", "1" },
};

static uint32_t pick(const uint32_t *ours, const uint8_t *list, unsigned n)
{
	unsigned i, k;

	for (i = 0; ours[i]; i++)
		for (k = 0; k < n; k++)
			if (((uint32_t)rd16(list + 4 * k) << 16 | rd16(list + 4 * k + 2)) == ours[i])
				return ours[i];
	return 0;
}

static void negotiate(int svc, uint8_t *b, uint32_t blen)
{
	unsigned nfw, nmsg;
	uint32_t fw = 0, msg = 0;

	if (blen < 8)
		return;
	nfw = rd16(b);
	nmsg = rd16(b + 2);
	if (nfw + nmsg <= 16 && 8 + 4 * (nfw + nmsg) <= blen) {
		fw = pick(fw_versions, b + 8, nfw);
		msg = pick(svc_versions[svc], b + 8 + 4 * nfw, nmsg);
	}
	if (blen < 16 || !fw || !msg) {
		wr16(b, 0);
		wr16(b + 2, 0);
		return;
	}
	wr16(b, 1);
	wr16(b + 2, 1);
	wr16(b + 8, (uint16_t)(fw >> 16));
	wr16(b + 10, (uint16_t)fw);
	wr16(b + 12, (uint16_t)(msg >> 16));
	wr16(b + 14, (uint16_t)msg);
}

static uint32_t utf16(uint8_t *dst, const char *s)
{
	uint32_t n = 0;

	for (; s[n]; n++) {
		dst[2 * n] = (uint8_t)s[n];
		dst[2 * n + 1] = 0;
	}
	dst[2 * n] = dst[2 * n + 1] = 0;
	return 2 * (n + 1);
}

static uint32_t kvp(uint8_t *b, uint32_t blen)
{
	uint32_t idx;

	if (blen < KVP_VALUE + 64 || b[0] != KVP_OP_ENUMERATE || b[1] != KVP_POOL_AUTO)
		return HV_E_FAIL;
	idx = rd32(b + 4);
	if (idx >= sizeof(kvp_items) / sizeof(kvp_items[0]))
		return HV_S_CONT;
	wr32(b + 8, REG_SZ);
	wr32(b + 12, utf16(b + KVP_KEY, kvp_items[idx][0]));
	wr32(b + 16, utf16(b + KVP_VALUE, kvp_items[idx][1]));
	return HV_S_OK;
}

uint32_t ic_answer(int svc, uint8_t *d, uint32_t len, int *action)
{
	uint8_t *b = d + HDR;
	uint32_t blen = len - HDR, status = HV_S_OK, flags;

	if (len < HDR || svc < 0 || svc > 3)
		return 0;
	switch (rd16(d + 12)) {
	case ICMSGTYPE_NEGOTIATE:
		negotiate(svc, b, blen);
		break;
	case ICMSGTYPE_HEARTBEAT:
		if (blen >= 8)
			wr64(b, rd64(b) + 1);
		else
			status = HV_E_FAIL;
		break;
	case ICMSGTYPE_SHUTDOWN:
		if (blen < 12) {
			status = HV_E_FAIL;
			break;
		}
		flags = rd32(b + 8);
		if (flags <= 1)
			*action = 1;
		else if (flags <= 3)
			*action = 2;
		else
			status = HV_E_FAIL;
		break;
	case ICMSGTYPE_TIMESYNC:
		break;
	case ICMSGTYPE_KVPEXCHANGE:
		status = kvp(b, blen);
		break;
	default:
		status = HV_E_FAIL;
		break;
	}
	wr32(d + 20, status);
	d[25] = ICFLAG_TRANSACTION | ICFLAG_RESPONSE;
	return len;
}
