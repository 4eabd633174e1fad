/*
 * The binary encoding of values and frames (PROTOCOL.md, Values and Frames).  Every integer
 * is little-endian.  The decoder treats its input as hostile: every length is checked
 * against the bytes that remain before anything is allocated or copied.
 */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "wire-protocol/wire.h"
#include "wire-protocol/wire-internal.h"

void wire_buf_reserve(struct wire_buf *b, size_t extra)
{
	size_t want = b->len + extra;

	if (want < b->len)
		abort();
	if (want <= b->cap)
		return;
	if (b->cap == 0)
		b->cap = 256;
	while (b->cap < want)
		b->cap *= 2;
	b->data = wire_xrealloc(b->data, b->cap);
}

void wire_buf_put(struct wire_buf *b, const void *p, size_t len)
{
	if (!len)
		return;
	wire_buf_reserve(b, len);
	memcpy(b->data + b->len, p, len);
	b->len += len;
}

void wire_buf_printf(struct wire_buf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		abort();
	wire_buf_reserve(b, (size_t)n + 1);
	va_start(ap, fmt);
	vsnprintf((char *)b->data + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
}

void wire_buf_consume(struct wire_buf *b, size_t n)
{
	if (n >= b->len) {
		b->len = 0;
		return;
	}
	memmove(b->data, b->data + n, b->len - n);
	b->len -= n;
}

void wire_buf_free(struct wire_buf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = b->cap = 0;
}

static void put_u8(struct wire_buf *b, uint8_t v)
{
	wire_buf_put(b, &v, 1);
}

static void put_u32(struct wire_buf *b, uint32_t v)
{
	uint8_t x[4] = { (uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24) };

	wire_buf_put(b, x, 4);
}

static void put_u64(struct wire_buf *b, uint64_t v)
{
	uint8_t x[8];
	int i;

	for (i = 0; i < 8; i++)
		x[i] = (uint8_t)(v >> (8 * i));
	wire_buf_put(b, x, 8);
}

static void put_str(struct wire_buf *b, const char *s, size_t len)
{
	put_u32(b, (uint32_t)len);
	wire_buf_put(b, s, len);
}

void wire_value_encode(const struct wire_value *v, struct wire_buf *out)
{
	uint64_t bits;
	size_t i;

	put_u8(out, (uint8_t)v->type);
	switch (v->type) {
	case WIRE_NULL:
		break;
	case WIRE_BOOL:
		put_u8(out, v->b ? 1 : 0);
		break;
	case WIRE_INT:
	case WIRE_TIMESTAMP:
	case WIRE_DURATION:
		put_u64(out, (uint64_t)v->i);
		break;
	case WIRE_UINT:
		put_u64(out, v->u);
		break;
	case WIRE_DOUBLE:
		memcpy(&bits, &v->d, 8);
		put_u64(out, bits);
		break;
	case WIRE_STRING:
	case WIRE_BYTES:
		put_str(out, v->str.p, v->str.len);
		break;
	case WIRE_LIST:
		put_u32(out, (uint32_t)v->list.n);
		for (i = 0; i < v->list.n; i++)
			wire_value_encode(v->list.items[i], out);
		break;
	case WIRE_OBJECT:
		put_str(out, v->obj.type_name, strlen(v->obj.type_name));
		put_u32(out, (uint32_t)v->obj.n);
		for (i = 0; i < v->obj.n; i++) {
			put_str(out, v->obj.props[i].name, strlen(v->obj.props[i].name));
			wire_value_encode(v->obj.props[i].value, out);
		}
		break;
	}
}

struct reader {
	const uint8_t *p;
	size_t left;
};

static int get_u8(struct reader *r, uint8_t *v)
{
	if (r->left < 1)
		return -EBADMSG;
	*v = r->p[0];
	r->p++;
	r->left--;
	return 0;
}

static int get_u32(struct reader *r, uint32_t *v)
{
	if (r->left < 4)
		return -EBADMSG;
	*v = (uint32_t)r->p[0] | (uint32_t)r->p[1] << 8 | (uint32_t)r->p[2] << 16 | (uint32_t)r->p[3] << 24;
	r->p += 4;
	r->left -= 4;
	return 0;
}

static int get_u64(struct reader *r, uint64_t *v)
{
	uint64_t x = 0;
	int i;

	if (r->left < 8)
		return -EBADMSG;
	for (i = 7; i >= 0; i--)
		x = x << 8 | r->p[i];
	*v = x;
	r->p += 8;
	r->left -= 8;
	return 0;
}

/* Strings must be valid UTF-8 (shortest form, no surrogates, no NUL): a name or a message
 * that reaches a terminal or a file is never a byte soup. */
static bool utf8_valid(const uint8_t *s, size_t len)
{
	size_t i = 0;

	while (i < len) {
		uint8_t c = s[i];
		uint32_t cp;
		size_t n, k;

		if (c == 0)
			return false;
		if (c < 0x80) {
			i++;
			continue;
		}
		if ((c & 0xe0) == 0xc0) {
			n = 1;
			cp = c & 0x1f;
		} else if ((c & 0xf0) == 0xe0) {
			n = 2;
			cp = c & 0x0f;
		} else if ((c & 0xf8) == 0xf0) {
			n = 3;
			cp = c & 0x07;
		} else {
			return false;
		}
		if (len - i <= n)
			return false;
		for (k = 1; k <= n; k++) {
			if ((s[i + k] & 0xc0) != 0x80)
				return false;
			cp = cp << 6 | (s[i + k] & 0x3f);
		}
		if ((n == 1 && cp < 0x80) || (n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) ||
		    cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return false;
		i += n + 1;
	}
	return true;
}

static int get_str(struct reader *r, bool text, const char **s, size_t *len)
{
	uint32_t n;
	int rc = get_u32(r, &n);

	if (rc)
		return rc;
	if (n > r->left)
		return -EBADMSG;
	if (text && !utf8_valid(r->p, n))
		return -EBADMSG;
	*s = (const char *)r->p;
	*len = n;
	r->p += n;
	r->left -= n;
	return 0;
}

static int decode(struct reader *r, int depth, struct wire_value **out);

static int decode_list(struct reader *r, int depth, struct wire_value *v)
{
	uint32_t n, i;
	int rc = get_u32(r, &n);

	if (rc)
		return rc;
	/* Every item takes at least its tag byte: a count the bytes cannot hold is a lie. */
	if (n > r->left)
		return -EBADMSG;
	v->list.items = wire_xmalloc((size_t)n * sizeof(*v->list.items));
	v->list.cap = n;
	for (i = 0; i < n; i++) {
		rc = decode(r, depth + 1, &v->list.items[i]);
		if (rc)
			return rc;
		v->list.n++;
	}
	return 0;
}

static int decode_object(struct reader *r, int depth, struct wire_value *v)
{
	const char *s;
	size_t len;
	uint32_t n, i;
	int rc = get_str(r, true, &s, &len);

	if (rc)
		return rc;
	free(v->obj.type_name);
	v->obj.type_name = wire_xstrndup(s, len);
	rc = get_u32(r, &n);
	if (rc)
		return rc;
	/* A property takes at least a 4-byte name length and a tag. */
	if (n > r->left / 5)
		return -EBADMSG;
	v->obj.props = wire_xmalloc((size_t)n * sizeof(*v->obj.props));
	v->obj.cap = n;
	for (i = 0; i < n; i++) {
		struct wire_value *pv;

		rc = get_str(r, true, &s, &len);
		if (rc)
			return rc;
		if (len == 0)
			return -EBADMSG;
		rc = decode(r, depth + 1, &pv);
		if (rc)
			return rc;
		v->obj.props[i].name = wire_xstrndup(s, len);
		v->obj.props[i].value = pv;
		v->obj.n++;
	}
	return 0;
}

static int cmp_name(const void *a, const void *b)
{
	return strcasecmp(*(char *const *)a, *(char *const *)b);
}

/* Property names are compared case-insensitively (wire_object_get): two that differ only
 * in case would make one of them unreachable, so an object with such a pair is refused. */
static int check_unique_names(const struct wire_value *v)
{
	char **names;
	size_t i, k;
	int rc = 0;

	if (v->obj.n < 2)
		return 0;
	if (v->obj.n <= 32) {
		/* Small objects, the usual ones: pairs, most told apart by length. */
		size_t len[32];

		for (i = 0; i < v->obj.n; i++)
			len[i] = strlen(v->obj.props[i].name);
		for (i = 0; i < v->obj.n; i++)
			for (k = i + 1; k < v->obj.n; k++)
				if (len[i] == len[k] && !strcasecmp(v->obj.props[i].name, v->obj.props[k].name))
					return -EBADMSG;
		return 0;
	}
	names = wire_xmalloc(v->obj.n * sizeof(*names));
	for (i = 0; i < v->obj.n; i++)
		names[i] = v->obj.props[i].name;
	qsort(names, v->obj.n, sizeof(*names), cmp_name);
	for (i = 1; i < v->obj.n && !rc; i++)
		if (strcasecmp(names[i - 1], names[i]) == 0)
			rc = -EBADMSG;
	free(names);
	return rc;
}

static int decode(struct reader *r, int depth, struct wire_value **out)
{
	struct wire_value *v = NULL;
	const char *s;
	size_t len;
	uint64_t x;
	uint8_t tag;
	int rc;

	*out = NULL;
	if (depth > WIRE_MAX_DEPTH)
		return -E2BIG;
	rc = get_u8(r, &tag);
	if (rc)
		return rc;
	switch (tag) {
	case WIRE_NULL:
		v = wire_null();
		break;
	case WIRE_BOOL:
		rc = get_u8(r, &tag);
		if (rc)
			return rc;
		if (tag > 1)
			return -EBADMSG;
		v = wire_bool(tag);
		break;
	case WIRE_INT:
	case WIRE_UINT:
	case WIRE_DOUBLE:
	case WIRE_TIMESTAMP:
	case WIRE_DURATION:
		rc = get_u64(r, &x);
		if (rc)
			return rc;
		v = wire_uint(x);
		v->type = (enum wire_type)tag;
		break;
	case WIRE_STRING:
	case WIRE_BYTES:
		rc = get_str(r, tag == WIRE_STRING, &s, &len);
		if (rc)
			return rc;
		v = tag == WIRE_STRING ? wire_string_len(s, len) : wire_bytes(s, len);
		break;
	case WIRE_LIST:
		v = wire_list();
		rc = decode_list(r, depth, v);
		break;
	case WIRE_OBJECT:
		v = wire_object("");
		rc = decode_object(r, depth, v);
		if (rc == 0)
			rc = check_unique_names(v);
		break;
	default:
		return -EBADMSG;
	}
	if (rc) {
		wire_value_unref(v);
		return rc;
	}
	*out = v;
	return 0;
}

int wire_value_decode(const uint8_t *p, size_t len, struct wire_value **out)
{
	struct reader r = { p, len };
	int rc = decode(&r, 0, out);

	if (rc == 0 && r.left != 0) {
		wire_value_unref(*out);
		*out = NULL;
		return -EBADMSG;
	}
	return rc;
}

static uint32_t rd32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

int wire_frame_peek(const uint8_t *p, size_t len, size_t *frame_len)
{
	uint32_t n;

	*frame_len = 0;
	if (len < 4)
		return 0;
	n = rd32(p);
	if (n > WIRE_FRAME_MAX)
		return -E2BIG;
	if (n < WIRE_HEADER_SIZE)
		return -EBADMSG;
	if (len >= n)
		*frame_len = n;
	return 0;
}

int wire_frame_decode(const uint8_t *p, size_t len, struct wire_frame *out)
{
	size_t n;
	int rc;

	memset(out, 0, sizeof(*out));
	rc = wire_frame_peek(p, len, &n);
	if (rc)
		return rc;
	if (n != len)
		return -EBADMSG;
	out->version = p[4];
	out->kind = p[5];
	out->flags = (uint16_t)(p[6] | p[7] << 8);
	out->serial = rd32(p + 8);
	out->procedure = rd32(p + 12);
	out->status = (int32_t)rd32(p + 16);
	if (out->version != WIRE_VERSION)
		return -EPROTO;
	if (out->kind < WIRE_KIND_CALL || out->kind > WIRE_KIND_PONG)
		return -EPROTO;
	if (len == WIRE_HEADER_SIZE)
		return 0;
	return wire_value_decode(p + WIRE_HEADER_SIZE, len - WIRE_HEADER_SIZE, &out->payload);
}

int wire_frame_encode(const struct wire_frame *f, struct wire_buf *out)
{
	size_t start = out->len, total;

	put_u32(out, 0);
	put_u8(out, f->version ? f->version : WIRE_VERSION);
	put_u8(out, f->kind);
	put_u8(out, (uint8_t)f->flags);
	put_u8(out, (uint8_t)(f->flags >> 8));
	put_u32(out, f->serial);
	put_u32(out, f->procedure);
	put_u32(out, (uint32_t)f->status);
	if (f->payload)
		wire_value_encode(f->payload, out);
	total = out->len - start;
	if (total > WIRE_FRAME_MAX) {
		out->len = start;
		return -E2BIG;
	}
	out->data[start] = (uint8_t)total;
	out->data[start + 1] = (uint8_t)(total >> 8);
	out->data[start + 2] = (uint8_t)(total >> 16);
	out->data[start + 3] = (uint8_t)(total >> 24);
	return 0;
}

void wire_frame_clear(struct wire_frame *f)
{
	wire_value_unref(f->payload);
	f->payload = NULL;
}
