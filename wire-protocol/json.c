/* JSON text from values, and the display forms of timestamps and durations. */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "wire-protocol/wire.h"

void wire_json_string(struct wire_buf *out, const char *s, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	size_t i;

	wire_buf_put(out, "\"", 1);
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		switch (c) {
		case '"': wire_buf_put(out, "\\\"", 2); break;
		case '\\': wire_buf_put(out, "\\\\", 2); break;
		case '\n': wire_buf_put(out, "\\n", 2); break;
		case '\r': wire_buf_put(out, "\\r", 2); break;
		case '\t': wire_buf_put(out, "\\t", 2); break;
		default:
			if (c < 0x20 || c == 0x7f) {
				char esc[6] = { '\\', 'u', '0', '0', hex[c >> 4], hex[c & 15] };

				wire_buf_put(out, esc, 6);
			} else {
				wire_buf_put(out, &s[i], 1);
			}
		}
	}
	wire_buf_put(out, "\"", 1);
}

void wire_duration_format(struct wire_buf *out, int64_t ns)
{
	uint64_t a, ticks, secs;

	if (ns < 0) {
		wire_buf_put(out, "-", 1);
		a = (uint64_t)0 - (uint64_t)ns;
	} else {
		a = (uint64_t)ns;
	}
	/* .NET TimeSpan form: [d.]hh:mm:ss[.fffffff], 100 ns ticks. */
	ticks = (a / 100) % 10000000;
	secs = a / 1000000000;
	if (secs >= 86400)
		wire_buf_printf(out, "%llu.", (unsigned long long)(secs / 86400));
	wire_buf_printf(out, "%02u:%02u:%02u", (unsigned)(secs / 3600 % 24), (unsigned)(secs / 60 % 60),
			(unsigned)(secs % 60));
	if (ticks)
		wire_buf_printf(out, ".%07llu", (unsigned long long)ticks);
}

void wire_timestamp_format(struct wire_buf *out, int64_t ns)
{
	int64_t sec = ns / 1000000000, frac = ns % 1000000000;
	time_t t;
	struct tm tm;
	char s[64];

	if (frac < 0) {
		frac += 1000000000;
		sec--;
	}
	t = (time_t)sec;
	if (!gmtime_r(&t, &tm)) {
		wire_buf_printf(out, "@%lld", (long long)ns);
		return;
	}
	strftime(s, sizeof(s), "%Y-%m-%dT%H:%M:%S", &tm);
	wire_buf_printf(out, "%s.%07lldZ", s, (long long)(frac / 100));
}

static void base64(struct wire_buf *out, const unsigned char *p, size_t len)
{
	static const char tbl[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t i;

	for (i = 0; i + 2 < len; i += 3) {
		char q[4] = { tbl[p[i] >> 2], tbl[(p[i] & 3) << 4 | p[i + 1] >> 4],
			      tbl[(p[i + 1] & 15) << 2 | p[i + 2] >> 6], tbl[p[i + 2] & 63] };
		wire_buf_put(out, q, 4);
	}
	if (len - i == 1) {
		char q[4] = { tbl[p[i] >> 2], tbl[(p[i] & 3) << 4], '=', '=' };
		wire_buf_put(out, q, 4);
	} else if (len - i == 2) {
		char q[4] = { tbl[p[i] >> 2], tbl[(p[i] & 3) << 4 | p[i + 1] >> 4], tbl[(p[i + 1] & 15) << 2], '=' };
		wire_buf_put(out, q, 4);
	}
}

static void newline(struct wire_buf *out, int indent, int level)
{
	if (!indent)
		return;
	wire_buf_put(out, "\n", 1);
	wire_buf_printf(out, "%*s", indent * level, "");
}

static void to_json(const struct wire_value *v, struct wire_buf *out, int indent, int depth, int level, int pad)
{
	struct wire_buf tmp = { 0 };
	size_t i;

	switch (v->type) {
	case WIRE_NULL:
		wire_buf_put(out, "null", 4);
		return;
	case WIRE_BOOL:
		wire_buf_printf(out, "%s", v->b ? "true" : "false");
		return;
	case WIRE_INT:
		wire_buf_printf(out, "%lld", (long long)v->i);
		return;
	case WIRE_UINT:
		wire_buf_printf(out, "%llu", (unsigned long long)v->u);
		return;
	case WIRE_DOUBLE:
		if (isfinite(v->d))
			wire_buf_printf(out, "%.17g", v->d);
		else
			wire_buf_put(out, "null", 4);
		return;
	case WIRE_STRING:
		wire_json_string(out, v->str.p, v->str.len);
		return;
	case WIRE_BYTES:
		base64(&tmp, (const unsigned char *)v->str.p, v->str.len);
		wire_json_string(out, (const char *)tmp.data, tmp.len);
		break;
	case WIRE_TIMESTAMP:
		wire_timestamp_format(&tmp, v->i);
		wire_json_string(out, (const char *)tmp.data, tmp.len);
		break;
	case WIRE_DURATION:
		wire_duration_format(&tmp, v->i);
		wire_json_string(out, (const char *)tmp.data, tmp.len);
		break;
	case WIRE_LIST:
		/* A list does not count as a level: its items sit at the list's own depth. */
		wire_buf_put(out, "[", 1);
		for (i = 0; i < v->list.n; i++) {
			if (i)
				wire_buf_put(out, ",", 1);
			newline(out, indent, pad + 1);
			to_json(v->list.items[i], out, indent, depth, level, pad + 1);
		}
		if (v->list.n)
			newline(out, indent, pad);
		wire_buf_put(out, "]", 1);
		return;
	case WIRE_OBJECT:
		if (depth >= 0 && level > depth) {
			wire_json_string(out, v->obj.type_name, strlen(v->obj.type_name));
			return;
		}
		wire_buf_put(out, "{", 1);
		for (i = 0; i < v->obj.n; i++) {
			if (i)
				wire_buf_put(out, ",", 1);
			newline(out, indent, pad + 1);
			wire_json_string(out, v->obj.props[i].name, strlen(v->obj.props[i].name));
			wire_buf_put(out, indent ? ": " : ":", indent ? 2 : 1);
			to_json(v->obj.props[i].value, out, indent, depth, level + 1, pad + 1);
		}
		if (v->obj.n)
			newline(out, indent, pad);
		wire_buf_put(out, "}", 1);
		return;
	}
	wire_buf_free(&tmp);
}

void wire_value_to_json(const struct wire_value *v, struct wire_buf *out, int indent, int depth)
{
	to_json(v, out, indent, depth, 0, 0);
}
