/* libhvwire: the value model, its encoding (golden files), hostile input, frames, JSON and
 * the client connection. */
#include "config.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "wire-protocol/conn.h"
#include "wire-protocol/wire.h"

static struct wire_value *sample_vm(void)
{
	struct wire_value *o = wire_object("VirtualMachine"), *tags = wire_list();

	wire_object_set(o, "Name", wire_string("web1"));
	wire_object_set(o, "State", wire_string("Off"));
	wire_object_set(o, "ProcessorCount", wire_int(2));
	wire_object_set(o, "MemoryStartup", wire_uint(536870912));
	wire_object_set(o, "CPUUsage", wire_double(12.5));
	wire_object_set(o, "DynamicMemoryEnabled", wire_bool(false));
	wire_object_set(o, "Uptime", wire_duration(93784500000000LL));
	wire_object_set(o, "CreationTime", wire_timestamp(1795660800000000000LL));
	wire_object_set(o, "Blob", wire_bytes("\x00\x01\xff", 3));
	wire_object_set(o, "Notes", wire_string("t\u00e9st \"q\"\n"));
	wire_list_append(tags, wire_null());
	wire_list_append(tags, wire_int(-1));
	wire_object_set(o, "Tags", tags);
	return o;
}

/* ---- golden files: tests/data/wire/<case>.hex holds the encoding, <case>.json its JSON ---- */

static char *data_path(const char *name)
{
	const char *dir = getenv("HVKIT_TESTDATA");
	char *p;

	assert_non_null(dir);
	assert_true(asprintf(&p, "%s/wire/%s", dir, name) > 0);
	return p;
}

static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf;
	long n;

	if (!f)
		return NULL;
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	buf = malloc((size_t)n + 1);
	assert_non_null(buf);
	assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
	buf[n] = '\0';
	fclose(f);
	*len = (size_t)n;
	return buf;
}

static void golden(const char *name, const char *text, size_t len)
{
	char *path = data_path(name), *want;
	size_t wlen = 0;

	if (getenv("REGENERATE")) {
		FILE *f = fopen(path, "wb");

		assert_non_null(f);
		fwrite(text, 1, len, f);
		fclose(f);
	}
	want = slurp(path, &wlen);
	if (!want)
		fail_msg("golden file %s is missing (run with REGENERATE=1 to write it)", path);
	if (wlen != len || memcmp(want, text, len) != 0)
		fail_msg("%s differs from the golden file:\n--- got ---\n%.*s\n--- want ---\n%s", path, (int)len, text,
			 want);
	free(want);
	free(path);
}

static void hex_of(const struct wire_buf *b, struct wire_buf *out)
{
	size_t i;

	for (i = 0; i < b->len; i++)
		wire_buf_printf(out, "%02x%s", b->data[i], (i + 1) % 32 == 0 || i + 1 == b->len ? "\n" : "");
}

static void check_golden_value(const char *name, struct wire_value *v)
{
	struct wire_buf enc = { 0 }, hex = { 0 }, json = { 0 };
	struct wire_value *back;
	char file[128];

	wire_value_encode(v, &enc);
	hex_of(&enc, &hex);
	snprintf(file, sizeof(file), "%s.hex", name);
	golden(file, (const char *)hex.data, hex.len);
	assert_int_equal(wire_value_decode(enc.data, enc.len, &back), 0);
	assert_true(wire_value_equal(v, back));
	wire_value_to_json(back, &json, 2, -1);
	wire_buf_put(&json, "\n", 1);
	snprintf(file, sizeof(file), "%s.json", name);
	golden(file, (const char *)json.data, json.len);
	wire_value_unref(back);
	wire_buf_free(&enc);
	wire_buf_free(&hex);
	wire_buf_free(&json);
	wire_value_unref(v);
}

static void test_golden_scalars(void **state)
{
	struct wire_value *l = wire_list();

	(void)state;
	wire_list_append(l, wire_null());
	wire_list_append(l, wire_bool(true));
	wire_list_append(l, wire_int(INT64_MIN));
	wire_list_append(l, wire_uint(UINT64_MAX));
	wire_list_append(l, wire_double(-0.25));
	wire_list_append(l, wire_string(""));
	wire_list_append(l, wire_duration(0));
	wire_list_append(l, wire_timestamp(0));
	check_golden_value("scalars", l);
}

static void test_golden_object(void **state)
{
	(void)state;
	check_golden_value("vm-object", sample_vm());
}

static void test_golden_frame(void **state)
{
	struct wire_frame f = { .kind = WIRE_KIND_CALL, .serial = 7, .procedure = WIRE_PROC_VM_NEW };
	struct wire_buf enc = { 0 }, hex = { 0 };
	struct wire_frame back;

	(void)state;
	f.payload = wire_object("Arguments");
	wire_object_set(f.payload, "Name", wire_string("web1"));
	wire_object_set(f.payload, "MemoryStartupBytes", wire_int(536870912));
	assert_int_equal(wire_frame_encode(&f, &enc), 0);
	hex_of(&enc, &hex);
	golden("call-frame.hex", (const char *)hex.data, hex.len);
	assert_int_equal(wire_frame_decode(enc.data, enc.len, &back), 0);
	assert_int_equal(back.serial, 7);
	assert_int_equal(back.procedure, WIRE_PROC_VM_NEW);
	assert_int_equal(back.kind, WIRE_KIND_CALL);
	assert_true(wire_value_equal(f.payload, back.payload));
	wire_frame_clear(&back);
	wire_frame_clear(&f);
	wire_buf_free(&enc);
	wire_buf_free(&hex);
}

/* ---- hostile input ---- */

static void test_every_truncation_fails(void **state)
{
	struct wire_value *v = sample_vm(), *out;
	struct wire_buf enc = { 0 };
	size_t cut;

	(void)state;
	wire_value_encode(v, &enc);
	for (cut = 0; cut < enc.len; cut++) {
		int rc = wire_value_decode(enc.data, cut, &out);

		assert_int_equal(rc, -EBADMSG);
		assert_null(out);
	}
	/* One byte too many is as wrong as one too few. */
	wire_buf_put(&enc, "", 1);
	assert_int_equal(wire_value_decode(enc.data, enc.len, &out), -EBADMSG);
	wire_buf_free(&enc);
	wire_value_unref(v);
}

static int decode_bytes(const char *bytes, size_t len)
{
	struct wire_value *v = NULL;
	int rc = wire_value_decode((const uint8_t *)bytes, len, &v);

	wire_value_unref(v);
	return rc;
}

static void test_bad_values(void **state)
{
	(void)state;
	assert_int_equal(decode_bytes("\x0b", 1), -EBADMSG);                    /* unknown tag */
	assert_int_equal(decode_bytes("\x01\x02", 2), -EBADMSG);                /* bool 2 */
	assert_int_equal(decode_bytes("\x05\x01\x00\x00\x00\xff", 6), -EBADMSG); /* not UTF-8 */
	assert_int_equal(decode_bytes("\x05\x02\x00\x00\x00\xc0\x80", 7), -EBADMSG); /* overlong NUL */
	assert_int_equal(decode_bytes("\x05\x01\x00\x00\x00\x00", 6), -EBADMSG); /* NUL in a string */
	assert_int_equal(decode_bytes("\x05\x03\x00\x00\x00\xed\xa0\x80", 8), -EBADMSG); /* surrogate */
	assert_int_equal(decode_bytes("\x06\x01\x00\x00\x00\x00", 6), 0);        /* bytes may hold NUL */
	assert_int_equal(decode_bytes("\x05\xff\xff\xff\xff", 5), -EBADMSG);    /* length past the end */
	assert_int_equal(decode_bytes("\x09\xff\xff\xff\x7f\x00", 6), -EBADMSG); /* huge list count */
	assert_int_equal(decode_bytes("\x0a\x00\x00\x00\x00\xff\xff\xff\xff", 9), -EBADMSG); /* huge object */
	/* Two properties whose names differ only in case. */
	assert_int_equal(decode_bytes("\x0a\x00\x00\x00\x00\x02\x00\x00\x00\x01\x00\x00\x00" "a" "\x00\x01\x00\x00\x00" "A" "\x00", 21),
			 -EBADMSG);
	assert_int_equal(decode_bytes("\x0a\x00\x00\x00\x00\x02\x00\x00\x00\x01\x00\x00\x00" "a" "\x00\x01\x00\x00\x00" "b" "\x00", 21), 0);
	/* A property with an empty name. */
	assert_int_equal(decode_bytes("\x0a\x00\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00\x00\x00", 14), -EBADMSG);
}

static void test_depth_limit(void **state)
{
	struct wire_buf b = { 0 };
	int i;

	(void)state;
	for (i = 0; i <= WIRE_MAX_DEPTH; i++)
		wire_buf_put(&b, "\x09\x01\x00\x00\x00", 5);
	wire_buf_put(&b, "\x00", 1);
	assert_int_equal(decode_bytes((const char *)b.data, b.len), -E2BIG);
	/* One level less is fine. */
	assert_int_equal(decode_bytes((const char *)b.data + 5, b.len - 5), 0);
	wire_buf_free(&b);
}

static void test_frame_limits(void **state)
{
	uint8_t hdr[WIRE_HEADER_SIZE] = { 0 };
	struct wire_frame f;
	size_t n;
	uint32_t big = WIRE_FRAME_MAX + 1;

	(void)state;
	memcpy(hdr, &big, 4);
	assert_int_equal(wire_frame_peek(hdr, 4, &n), -E2BIG);
	big = 3;
	memcpy(hdr, &big, 4);
	assert_int_equal(wire_frame_peek(hdr, 4, &n), -EBADMSG);
	big = 100;
	memcpy(hdr, &big, 4);
	assert_int_equal(wire_frame_peek(hdr, sizeof(hdr), &n), 0);
	assert_int_equal(n, 0); /* needs more */
	big = WIRE_HEADER_SIZE;
	memcpy(hdr, &big, 4);
	hdr[4] = 99; /* version */
	hdr[5] = WIRE_KIND_CALL;
	assert_int_equal(wire_frame_decode(hdr, sizeof(hdr), &f), -EPROTO);
	hdr[4] = WIRE_VERSION;
	hdr[5] = 42;
	assert_int_equal(wire_frame_decode(hdr, sizeof(hdr), &f), -EPROTO);
	hdr[5] = WIRE_KIND_PING;
	assert_int_equal(wire_frame_decode(hdr, sizeof(hdr), &f), 0);
	assert_null(f.payload);
}

static void test_frame_encode_limit(void **state)
{
	struct wire_frame f = { .kind = WIRE_KIND_REPLY };
	struct wire_buf b = { 0 };
	char *big = malloc(WIRE_FRAME_MAX);

	(void)state;
	assert_non_null(big);
	memset(big, 'x', WIRE_FRAME_MAX);
	f.payload = wire_bytes(big, WIRE_FRAME_MAX);
	assert_int_equal(wire_frame_encode(&f, &b), -E2BIG);
	assert_int_equal(b.len, 0);
	wire_frame_clear(&f);
	wire_buf_free(&b);
	free(big);
}

/* ---- JSON ---- */

static void test_json_depth(void **state)
{
	struct wire_value *outer = wire_object("A"), *inner = wire_object("B"), *list = wire_list();
	struct wire_buf b = { 0 };

	(void)state;
	wire_object_set(inner, "X", wire_int(1));
	wire_object_set(outer, "Inner", inner);
	wire_list_append(list, outer);
	wire_value_to_json(list, &b, 0, 0);
	wire_buf_put(&b, "", 1);
	assert_string_equal((const char *)b.data, "[{\"Inner\":\"B\"}]");
	b.len = 0;
	wire_value_to_json(list, &b, 0, -1);
	wire_buf_put(&b, "", 1);
	assert_string_equal((const char *)b.data, "[{\"Inner\":{\"X\":1}}]");
	wire_buf_free(&b);
	wire_value_unref(list);
}

static void test_duration_format(void **state)
{
	struct wire_buf b = { 0 };

	(void)state;
	wire_duration_format(&b, 0);
	wire_duration_format(&b, -1500000000LL);
	wire_buf_put(&b, "", 1);
	assert_string_equal((const char *)b.data, "00:00:00-00:00:01.5000000");
	wire_buf_free(&b);
}

/* ---- the client connection, against a peer made of raw frames ---- */

static void send_raw(int fd, uint8_t kind, uint32_t serial, struct wire_value *payload)
{
	struct wire_frame f = { .kind = kind, .serial = serial, .payload = payload };
	struct wire_buf b = { 0 };

	assert_int_equal(wire_frame_encode(&f, &b), 0);
	assert_int_equal(write(fd, b.data, b.len), (ssize_t)b.len);
	wire_buf_free(&b);
	wire_value_unref(payload);
}

static void recv_raw(int fd, struct wire_frame *f)
{
	uint8_t buf[4096];
	size_t have = 0, want = 4, n = 0;

	/* Exactly one frame: the length first, then the rest. */
	while (have < want) {
		ssize_t r = read(fd, buf + have, want - have);

		assert_true(r > 0);
		have += (size_t)r;
		if (have == 4) {
			assert_int_equal(wire_frame_peek(buf, have, &n), 0);
			want = (size_t)buf[0] | (size_t)buf[1] << 8;
			assert_true(want <= sizeof(buf));
		}
	}
	assert_int_equal(wire_frame_peek(buf, have, &n), 0);
	assert_int_equal(have, n);
	assert_int_equal(wire_frame_decode(buf, n, f), 0);
}

static void test_conn_overlap_events_ping(void **state)
{
	struct wire_conn *c;
	struct wire_frame f, ev;
	struct wire_value *payload;
	uint32_t s1, s2;
	int32_t st;
	int sv[2];

	(void)state;
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	assert_int_equal(wire_conn_from_fds(sv[0], sv[0], &c), 0);
	assert_int_equal(wire_conn_send(c, WIRE_PROC_VM_LIST, NULL, &s1), 0);
	assert_int_equal(wire_conn_send(c, WIRE_PROC_HOST_GET, NULL, &s2), 0);
	assert_int_not_equal(s1, s2);
	recv_raw(sv[1], &f);
	assert_int_equal(f.serial, s1);
	wire_frame_clear(&f);
	recv_raw(sv[1], &f);
	assert_int_equal(f.serial, s2);
	wire_frame_clear(&f);
	/* The peer pings, sends an event, answers the second call, then the first. */
	send_raw(sv[1], WIRE_KIND_PING, 99, NULL);
	send_raw(sv[1], WIRE_KIND_EVENT, 1000, wire_string("created"));
	send_raw(sv[1], WIRE_KIND_REPLY, s2, wire_string("second"));
	send_raw(sv[1], WIRE_KIND_ERROR, s1, wire_error_record(WIRE_E_NOT_FOUND, NULL, "first"));
	assert_int_equal(wire_conn_wait(c, s1, &st, &payload), 0);
	assert_int_equal(st, WIRE_E_INTERNAL); /* an error frame without a status */
	wire_value_unref(payload);
	assert_int_equal(wire_conn_wait(c, s2, &st, &payload), 0);
	assert_int_equal(st, WIRE_OK);
	assert_string_equal(payload->str.p, "second");
	wire_value_unref(payload);
	assert_int_equal(wire_conn_next_event(c, 1000, &ev), 0);
	assert_int_equal(ev.kind, WIRE_KIND_EVENT);
	assert_string_equal(ev.payload->str.p, "created");
	wire_frame_clear(&ev);
	/* The ping was answered. */
	recv_raw(sv[1], &f);
	assert_int_equal(f.kind, WIRE_KIND_PONG);
	assert_int_equal(f.serial, 99);
	wire_frame_clear(&f);
	assert_int_equal(wire_conn_next_event(c, 10, &ev), -EAGAIN);
	/* The peer goes away: a clear error, not a hang. */
	close(sv[1]);
	assert_int_equal(wire_conn_next_event(c, 1000, &ev), -ECONNRESET);
	assert_int_equal(wire_conn_call(c, WIRE_PROC_HELLO, NULL, &st, &payload), -ECONNRESET);
	wire_conn_free(c);
}

static void test_conn_hostile_peer(void **state)
{
	struct wire_conn *c;
	struct wire_value *payload;
	uint32_t s;
	int32_t st;
	int sv[2];
	uint32_t huge = WIRE_FRAME_MAX + 1;

	(void)state;
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	assert_int_equal(wire_conn_from_fds(sv[0], sv[0], &c), 0);
	assert_int_equal(wire_conn_send(c, WIRE_PROC_VM_LIST, NULL, &s), 0);
	assert_int_equal(write(sv[1], &huge, 4), 4);
	assert_int_equal(wire_conn_wait(c, s, &st, &payload), -E2BIG);
	wire_conn_free(c);
	close(sv[1]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_golden_scalars),
		cmocka_unit_test(test_golden_object),
		cmocka_unit_test(test_golden_frame),
		cmocka_unit_test(test_every_truncation_fails),
		cmocka_unit_test(test_bad_values),
		cmocka_unit_test(test_depth_limit),
		cmocka_unit_test(test_frame_limits),
		cmocka_unit_test(test_frame_encode_limit),
		cmocka_unit_test(test_json_depth),
		cmocka_unit_test(test_duration_format),
		cmocka_unit_test(test_conn_overlap_events_ping),
		cmocka_unit_test(test_conn_hostile_peer),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
