/*
 * libhvwire: the value model shared by the wire and the shell's pipeline, its binary
 * encoding, frames and the procedure catalogue.  PROTOCOL.md is the normative description;
 * this header is its C face.
 *
 * Ownership: values are reference counted.  Constructors return a value with one reference
 * owned by the caller; functions that "consume" an argument take over that reference.
 * Allocation failure of the small allocations made by constructors aborts (the decoder bounds
 * every size by the bytes it was given before it allocates, so hostile input cannot make it
 * ask for more than a frame's worth of memory).
 */
#ifndef HVKIT_WIRE_H
#define HVKIT_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define WIRE_MUST_CHECK __attribute__((warn_unused_result))

enum wire_type {
	WIRE_NULL = 0,
	WIRE_BOOL = 1,
	WIRE_INT = 2,       /* int64 */
	WIRE_UINT = 3,      /* uint64 */
	WIRE_DOUBLE = 4,
	WIRE_STRING = 5,    /* UTF-8, no NUL inside */
	WIRE_BYTES = 6,
	WIRE_TIMESTAMP = 7, /* ns since 1970-01-01 UTC */
	WIRE_DURATION = 8,  /* ns */
	WIRE_LIST = 9,
	WIRE_OBJECT = 10,
};

struct wire_value;

struct wire_prop {
	char *name;
	struct wire_value *value;
};

struct wire_value {
	unsigned refs;
	enum wire_type type;
	union {
		bool b;
		int64_t i; /* WIRE_INT, WIRE_TIMESTAMP, WIRE_DURATION */
		uint64_t u;
		double d;
		struct {
			char *p; /* NUL-terminated for strings (and, harmlessly, for bytes) */
			size_t len;
		} str;
		struct {
			struct wire_value **items;
			size_t n, cap;
		} list;
		struct {
			char *type_name;
			struct wire_prop *props;
			size_t n, cap;
		} obj;
	};
};

/* Limits of the encoding (PROTOCOL.md, Limits). */
#define WIRE_MAX_DEPTH 64
#define WIRE_FRAME_MAX (16u << 20)
#define WIRE_HEADER_SIZE 20
#define WIRE_VERSION 1

struct wire_value *wire_null(void);
struct wire_value *wire_bool(bool b);
struct wire_value *wire_int(int64_t i);
struct wire_value *wire_uint(uint64_t u);
struct wire_value *wire_double(double d);
struct wire_value *wire_string(const char *s);
struct wire_value *wire_string_len(const char *s, size_t len);
struct wire_value *wire_stringf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
struct wire_value *wire_bytes(const void *p, size_t len);
struct wire_value *wire_timestamp(int64_t ns);
struct wire_value *wire_duration(int64_t ns);
struct wire_value *wire_list(void);
struct wire_value *wire_object(const char *type_name);

struct wire_value *wire_value_ref(struct wire_value *v);
void wire_value_unref(struct wire_value *v);

/* Appends to a list; consumes item. */
void wire_list_append(struct wire_value *list, struct wire_value *item);
/* Sets a property, replacing one of the same name (compared case-insensitively, as
 * PowerShell does); new properties keep the order they were added in.  Consumes value. */
void wire_object_set(struct wire_value *obj, const char *name, struct wire_value *value);
/* Appends a property without looking for one of the same name: for builders that know
 * their names are distinct (decoders refuse objects that repeat a name).  Consumes value. */
void wire_object_add(struct wire_value *obj, const char *name, struct wire_value *value);
/* Borrowed pointer to the property's value, or NULL. Case-insensitive. */
struct wire_value *wire_object_get(const struct wire_value *obj, const char *name);
/* Removes a property; returns whether it was there. */
bool wire_object_remove(struct wire_value *obj, const char *name);

/* Typed readers for objects received from outside: 0, -ENOENT when absent, -EINVAL when the
 * property has another type or a value that does not fit. */
int wire_object_get_string(const struct wire_value *obj, const char *name, const char **out);
int wire_object_get_int(const struct wire_value *obj, const char *name, int64_t *out);
int wire_object_get_bool(const struct wire_value *obj, const char *name, bool *out);

/* Deep equality (doubles compare by value, objects by type name and properties in order). */
bool wire_value_equal(const struct wire_value *a, const struct wire_value *b);
const char *wire_type_name(enum wire_type t);

/* A growable byte buffer; allocation failure aborts. */
struct wire_buf {
	uint8_t *data;
	size_t len, cap;
};
void wire_buf_reserve(struct wire_buf *b, size_t extra);
void wire_buf_put(struct wire_buf *b, const void *p, size_t len);
void wire_buf_printf(struct wire_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void wire_buf_consume(struct wire_buf *b, size_t n); /* drops n bytes from the front */
void wire_buf_free(struct wire_buf *b);

/* Binary encoding (PROTOCOL.md, Values). */
void wire_value_encode(const struct wire_value *v, struct wire_buf *out);
/* Decodes exactly len bytes into one value.  -EBADMSG for malformed input, -E2BIG past a
 * limit (depth).  Never reads outside [p, p+len). */
int wire_value_decode(const uint8_t *p, size_t len, struct wire_value **out) WIRE_MUST_CHECK;

/* JSON text (RFC 8259).  Objects become JSON objects of their properties (the type name is
 * not written), timestamps ISO 8601 strings, durations strings like PowerShell's TimeSpan
 * ("1.02:03:04.5000000"), bytes base64.  depth < 0: no limit; otherwise objects nested
 * more than depth levels below the top one (lists do not count) are written as their type
 * name, as PowerShell's ConvertTo-Json writes them.  indent 0: one line. */
void wire_value_to_json(const struct wire_value *v, struct wire_buf *out, int indent, int depth);
void wire_json_string(struct wire_buf *out, const char *s, size_t len);
/* PowerShell-like display forms, used by the shell and by JSON for durations. */
void wire_duration_format(struct wire_buf *out, int64_t ns);
void wire_timestamp_format(struct wire_buf *out, int64_t ns); /* ISO 8601, UTC */

/* Frames (PROTOCOL.md, Frames). */
enum wire_kind {
	WIRE_KIND_CALL = 1,
	WIRE_KIND_REPLY = 2,
	WIRE_KIND_ERROR = 3,
	WIRE_KIND_EVENT = 4,
	WIRE_KIND_STREAM = 5,
	WIRE_KIND_STREAM_END = 6,
	WIRE_KIND_PING = 7,
	WIRE_KIND_PONG = 8,
};

/* Status of a reply or error frame: the error category (PROTOCOL.md, Errors). */
enum wire_status {
	WIRE_OK = 0,
	WIRE_E_INVALID_ARGUMENT = 1,
	WIRE_E_NOT_FOUND = 2,
	WIRE_E_ALREADY_EXISTS = 3,
	WIRE_E_PERMISSION_DENIED = 4,
	WIRE_E_INVALID_STATE = 5,
	WIRE_E_PROTOCOL = 6,
	WIRE_E_UNKNOWN_PROCEDURE = 7,
	WIRE_E_RESOURCE = 8,
	WIRE_E_INTERNAL = 9,
	WIRE_E_CONNECTION = 10, /* made by a client when the transport fails; never sent */
};
const char *wire_status_name(enum wire_status s);

struct wire_frame {
	uint8_t version;
	uint8_t kind;
	uint16_t flags;
	uint32_t serial;
	uint32_t procedure;
	int32_t status;
	struct wire_value *payload; /* owned; NULL when the frame carries none */
};

/* Looks at the first bytes of a stream: 0 with *frame_len = 0 when more bytes are needed,
 * 0 with *frame_len set when a whole frame of that length is there, -E2BIG when the
 * announced length passes WIRE_FRAME_MAX (checked before anything is allocated),
 * -EBADMSG when it is shorter than a header. */
int wire_frame_peek(const uint8_t *p, size_t len, size_t *frame_len) WIRE_MUST_CHECK;
/* Decodes one whole frame of exactly len bytes.  -EPROTO for an unknown version or kind,
 * -EBADMSG for a malformed payload. */
int wire_frame_decode(const uint8_t *p, size_t len, struct wire_frame *out) WIRE_MUST_CHECK;
/* Appends the encoding of a frame; -E2BIG when it would pass WIRE_FRAME_MAX (nothing is
 * appended then). */
int wire_frame_encode(const struct wire_frame *f, struct wire_buf *out) WIRE_MUST_CHECK;
void wire_frame_clear(struct wire_frame *f);

/* An error record, the payload of an error frame: object "ErrorRecord" with Message,
 * Category (the status name), TargetObject (optional). Consumes nothing. */
struct wire_value *wire_error_record(enum wire_status status, const char *target, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* The procedure catalogue (wire-protocol/procedures.def). */
enum wire_proc_flags {
	WIRE_PROC_READ = 1,   /* allowed on the read-only socket */
	WIRE_PROC_MUTATE = 2, /* changes state: refused on the read-only socket, audited */
};
enum wire_proc {
#define WIRE_PROC(id, sym, name, flags) WIRE_PROC_##sym = id,
#include "wire-protocol/procedures.def"
#undef WIRE_PROC
};
struct wire_proc_info {
	uint32_t id;
	const char *name;
	unsigned flags;
};
const struct wire_proc_info *wire_proc_lookup(uint32_t id);

#endif
