/*
 * Shared helpers: CRC-32C (MS-VHDX 2: Castagnoli, reflected, init and final xor all ones),
 * GUIDs in the on-disk mixed-endian form, UTF-16LE <-> UTF-8 and the failure detail.
 */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/random.h>

#include "formats/vhdx/vhdx-internal.h"

/* CRC-32C of one nibble, reflected polynomial 0x82F63B78. */
static const uint32_t crc_nibble[16] = {
	0x00000000, 0x105ec76f, 0x20bd8ede, 0x30e349b1, 0x417b1dbc, 0x5125dad3,
	0x61c69362, 0x7198540d, 0x82f63b78, 0x92a8fc17, 0xa24bb5a6, 0xb21572c9,
	0xc38d26c4, 0xd3d3e1ab, 0xe330a81a, 0xf36e6f75,
};

/* Continue a CRC-32C: pass 0 to start; the result is final (xor applied). */
uint32_t vhdx_crc32c(uint32_t crc, const void *buf, size_t len)
{
	const uint8_t *p = buf;

	crc = ~crc;
	while (len--) {
		crc ^= *p++;
		crc = (crc >> 4) ^ crc_nibble[crc & 15];
		crc = (crc >> 4) ^ crc_nibble[crc & 15];
	}
	return ~crc;
}

/* CRC of a structure whose 4-byte checksum field at CSUM_OFF counts as zero. */
uint32_t vhdx_crc32c_zeroed(const void *buf, size_t len, size_t csum_off)
{
	static const uint8_t zero[4];
	uint32_t crc;

	crc = vhdx_crc32c(0, buf, csum_off);
	crc = vhdx_crc32c(crc, zero, 4);
	return vhdx_crc32c(crc, (const uint8_t *)buf + csum_off + 4, len - csum_off - 4);
}

bool vhdx_guid_is_zero(const struct vhdx_guid *g)
{
	for (int i = 0; i < 16; i++)
		if (g->b[i])
			return false;
	return true;
}

bool vhdx_guid_eq(const struct vhdx_guid *a, const struct vhdx_guid *b)
{
	return memcmp(a->b, b->b, 16) == 0;
}

/* A random (version 4) GUID. */
int vhdx_guid_generate(struct vhdx_guid *g)
{
	size_t got = 0;

	while (got < 16) {
		ssize_t n = getrandom(g->b + got, 16 - got, 0);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		got += (size_t)n;
	}
	/* data3 is little-endian on disk: its high nibble is in byte 7 */
	g->b[7] = (uint8_t)((g->b[7] & 0x0f) | 0x40);
	g->b[8] = (uint8_t)((g->b[8] & 0x3f) | 0x80);
	return 0;
}

void vhdx_guid_format(const struct vhdx_guid *g, char buf[39])
{
	const uint8_t *b = g->b;

	snprintf(buf, 39, "{%08x-%04x-%04x-%02x%02x-%02x%02x%02x%02x%02x%02x}", le32(b), le16(b + 4),
		 le16(b + 6), b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]);
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Parse "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx", braces optional, any case. */
int vhdx_guid_parse(const char *s, struct vhdx_guid *out)
{
	uint8_t be[16];
	size_t n = strlen(s);
	int k = 0;

	if (n == 38 && s[0] == '{' && s[37] == '}') {
		s++;
		n = 36;
	}
	if (n != 36)
		return -EINVAL;
	for (size_t i = 0; i < 36; i++) {
		if (i == 8 || i == 13 || i == 18 || i == 23) {
			if (s[i] != '-')
				return -EINVAL;
			continue;
		}
		int hi = hexval(s[i]), lo = hexval(s[i + 1]);
		if (hi < 0 || lo < 0)
			return -EINVAL;
		be[k++] = (uint8_t)(hi << 4 | lo);
		i++;
	}
	/* text is big-endian throughout; disk stores the first three fields little-endian */
	uint8_t *b = out->b;
	b[0] = be[3], b[1] = be[2], b[2] = be[1], b[3] = be[0];
	b[4] = be[5], b[5] = be[4], b[6] = be[7], b[7] = be[6];
	memcpy(b + 8, be + 8, 8);
	return 0;
}

int vhdx_guid_from_text(const char *s, struct vhdx_guid *g)
{
	return vhdx_guid_parse(s, g);
}

static size_t utf8_put(char *o, uint32_t c)
{
	if (c < 0x80) {
		o[0] = (char)c;
		return 1;
	}
	if (c < 0x800) {
		o[0] = (char)(0xc0 | c >> 6);
		o[1] = (char)(0x80 | (c & 0x3f));
		return 2;
	}
	if (c < 0x10000) {
		o[0] = (char)(0xe0 | c >> 12);
		o[1] = (char)(0x80 | ((c >> 6) & 0x3f));
		o[2] = (char)(0x80 | (c & 0x3f));
		return 3;
	}
	o[0] = (char)(0xf0 | c >> 18);
	o[1] = (char)(0x80 | ((c >> 12) & 0x3f));
	o[2] = (char)(0x80 | ((c >> 6) & 0x3f));
	o[3] = (char)(0x80 | (c & 0x3f));
	return 4;
}

/* A NUL code unit ends the string early (the creator field is NUL-padded). */
int vhdx_utf16_to_utf8(const uint8_t *p, size_t len, char **out)
{
	size_t n = len / 2, o = 0;
	char *s = malloc(n * 3 + 1);

	*out = NULL;
	if (!s)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		uint32_t c = le16(p + 2 * i);
		if (c == 0)
			break;
		if (c >= 0xd800 && c < 0xdc00 && i + 1 < n) {
			uint32_t d = le16(p + 2 * i + 2);
			if (d >= 0xdc00 && d < 0xe000) {
				c = 0x10000 + ((c - 0xd800) << 10) + (d - 0xdc00);
				i++;
			} else {
				c = 0xfffd;
			}
		} else if (c >= 0xd800 && c < 0xe000) {
			c = 0xfffd;
		}
		o += utf8_put(s + o, c);
	}
	s[o] = 0;
	*out = s;
	return 0;
}

long vhdx_utf8_to_utf16(const char *s, uint8_t *buf, size_t cap)
{
	const uint8_t *p = (const uint8_t *)s;
	size_t o = 0;

	while (*p) {
		uint32_t c;
		int more;
		if (*p < 0x80)
			c = *p, more = 0;
		else if ((*p & 0xe0) == 0xc0)
			c = *p & 0x1f, more = 1;
		else if ((*p & 0xf0) == 0xe0)
			c = *p & 0x0f, more = 2;
		else if ((*p & 0xf8) == 0xf0)
			c = *p & 0x07, more = 3;
		else
			return -EINVAL;
		p++;
		for (int i = 0; i < more; i++, p++) {
			if ((*p & 0xc0) != 0x80)
				return -EINVAL;
			c = c << 6 | (*p & 0x3f);
		}
		if (c >= 0x10000) {
			if (o + 4 > cap)
				return -E2BIG;
			c -= 0x10000;
			put16(buf + o, (uint16_t)(0xd800 + (c >> 10)));
			put16(buf + o + 2, (uint16_t)(0xdc00 + (c & 0x3ff)));
			o += 4;
		} else {
			if (o + 2 > cap)
				return -E2BIG;
			put16(buf + o, (uint16_t)c);
			o += 2;
		}
	}
	return (long)o;
}

/* Record why V failed and return ERR, so callers write `return vhdx_fail(v, -EBADMSG, ...)`. */
int vhdx_fail(struct vhdx *v, int err, const char *fmt, ...)
{
	va_list ap;

	if (!v)
		return err;
	va_start(ap, fmt);
	vsnprintf(v->why, sizeof(v->why), fmt, ap);
	va_end(ap);
	return err;
}
