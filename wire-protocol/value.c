/* The value model: construction, reference counting, access. */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "wire-protocol/wire.h"
#include "wire-protocol/wire-internal.h"

void *wire_xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);

	if (!p)
		abort();
	return p;
}

void *wire_xrealloc(void *old, size_t n)
{
	void *p = realloc(old, n ? n : 1);

	if (!p)
		abort();
	return p;
}

char *wire_xstrndup(const char *s, size_t len)
{
	char *p = wire_xmalloc(len + 1);

	memcpy(p, s, len);
	p[len] = '\0';
	return p;
}

static struct wire_value *value_new(enum wire_type t)
{
	struct wire_value *v = wire_xmalloc(sizeof(*v));

	memset(v, 0, sizeof(*v));
	v->refs = 1;
	v->type = t;
	return v;
}

struct wire_value *wire_null(void)
{
	return value_new(WIRE_NULL);
}

struct wire_value *wire_bool(bool b)
{
	struct wire_value *v = value_new(WIRE_BOOL);

	v->b = b;
	return v;
}

struct wire_value *wire_int(int64_t i)
{
	struct wire_value *v = value_new(WIRE_INT);

	v->i = i;
	return v;
}

struct wire_value *wire_uint(uint64_t u)
{
	struct wire_value *v = value_new(WIRE_UINT);

	v->u = u;
	return v;
}

struct wire_value *wire_double(double d)
{
	struct wire_value *v = value_new(WIRE_DOUBLE);

	v->d = d;
	return v;
}

struct wire_value *wire_string_len(const char *s, size_t len)
{
	struct wire_value *v = value_new(WIRE_STRING);

	v->str.p = wire_xstrndup(s, len);
	v->str.len = len;
	return v;
}

struct wire_value *wire_string(const char *s)
{
	return wire_string_len(s, strlen(s));
}

struct wire_value *wire_stringf(const char *fmt, ...)
{
	struct wire_value *v = value_new(WIRE_STRING);
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vasprintf(&v->str.p, fmt, ap);
	va_end(ap);
	if (n < 0)
		abort();
	v->str.len = (size_t)n;
	return v;
}

struct wire_value *wire_bytes(const void *p, size_t len)
{
	struct wire_value *v = value_new(WIRE_BYTES);

	v->str.p = wire_xstrndup(p, len);
	v->str.len = len;
	return v;
}

struct wire_value *wire_timestamp(int64_t ns)
{
	struct wire_value *v = value_new(WIRE_TIMESTAMP);

	v->i = ns;
	return v;
}

struct wire_value *wire_duration(int64_t ns)
{
	struct wire_value *v = value_new(WIRE_DURATION);

	v->i = ns;
	return v;
}

struct wire_value *wire_list(void)
{
	return value_new(WIRE_LIST);
}

struct wire_value *wire_object(const char *type_name)
{
	struct wire_value *v = value_new(WIRE_OBJECT);

	v->obj.type_name = wire_xstrndup(type_name, strlen(type_name));
	return v;
}

struct wire_value *wire_value_ref(struct wire_value *v)
{
	if (v)
		v->refs++;
	return v;
}

void wire_value_unref(struct wire_value *v)
{
	size_t i;

	if (!v || --v->refs > 0)
		return;
	switch (v->type) {
	case WIRE_STRING:
	case WIRE_BYTES:
		free(v->str.p);
		break;
	case WIRE_LIST:
		for (i = 0; i < v->list.n; i++)
			wire_value_unref(v->list.items[i]);
		free(v->list.items);
		break;
	case WIRE_OBJECT:
		for (i = 0; i < v->obj.n; i++) {
			free(v->obj.props[i].name);
			wire_value_unref(v->obj.props[i].value);
		}
		free(v->obj.props);
		free(v->obj.type_name);
		break;
	default:
		break;
	}
	free(v);
}

void wire_list_append(struct wire_value *list, struct wire_value *item)
{
	if (list->list.n == list->list.cap) {
		list->list.cap = list->list.cap ? list->list.cap * 2 : 8;
		list->list.items = wire_xrealloc(list->list.items, list->list.cap * sizeof(*list->list.items));
	}
	list->list.items[list->list.n++] = item;
}

static struct wire_prop *prop_find(const struct wire_value *obj, const char *name)
{
	size_t i;

	if (!obj || obj->type != WIRE_OBJECT)
		return NULL;
	for (i = 0; i < obj->obj.n; i++)
		if (strcasecmp(obj->obj.props[i].name, name) == 0)
			return &obj->obj.props[i];
	return NULL;
}

void wire_object_set(struct wire_value *obj, const char *name, struct wire_value *value)
{
	struct wire_prop *p = prop_find(obj, name);

	if (p) {
		wire_value_unref(p->value);
		p->value = value;
		return;
	}
	wire_object_add(obj, name, value);
}

void wire_object_add(struct wire_value *obj, const char *name, struct wire_value *value)
{
	if (obj->obj.n == obj->obj.cap) {
		obj->obj.cap = obj->obj.cap ? obj->obj.cap * 2 : 8;
		obj->obj.props = wire_xrealloc(obj->obj.props, obj->obj.cap * sizeof(*obj->obj.props));
	}
	obj->obj.props[obj->obj.n].name = wire_xstrndup(name, strlen(name));
	obj->obj.props[obj->obj.n].value = value;
	obj->obj.n++;
}

struct wire_value *wire_object_get(const struct wire_value *obj, const char *name)
{
	struct wire_prop *p = prop_find(obj, name);

	return p ? p->value : NULL;
}

bool wire_object_remove(struct wire_value *obj, const char *name)
{
	struct wire_prop *p = prop_find(obj, name);
	size_t i;

	if (!p)
		return false;
	i = (size_t)(p - obj->obj.props);
	free(p->name);
	wire_value_unref(p->value);
	memmove(p, p + 1, (obj->obj.n - i - 1) * sizeof(*p));
	obj->obj.n--;
	return true;
}

int wire_object_get_string(const struct wire_value *obj, const char *name, const char **out)
{
	const struct wire_value *v = wire_object_get(obj, name);

	if (!v)
		return -ENOENT;
	if (v->type != WIRE_STRING)
		return -EINVAL;
	*out = v->str.p;
	return 0;
}

int wire_object_get_int(const struct wire_value *obj, const char *name, int64_t *out)
{
	const struct wire_value *v = wire_object_get(obj, name);

	if (!v)
		return -ENOENT;
	switch (v->type) {
	case WIRE_INT:
		*out = v->i;
		return 0;
	case WIRE_UINT:
		if (v->u > INT64_MAX)
			return -EINVAL;
		*out = (int64_t)v->u;
		return 0;
	case WIRE_DOUBLE:
		if (v->d != v->d || v->d < -9.2e18 || v->d > 9.2e18 || v->d != (double)(int64_t)v->d)
			return -EINVAL;
		*out = (int64_t)v->d;
		return 0;
	default:
		return -EINVAL;
	}
}

int wire_object_get_bool(const struct wire_value *obj, const char *name, bool *out)
{
	const struct wire_value *v = wire_object_get(obj, name);

	if (!v)
		return -ENOENT;
	if (v->type != WIRE_BOOL)
		return -EINVAL;
	*out = v->b;
	return 0;
}

bool wire_value_equal(const struct wire_value *a, const struct wire_value *b)
{
	size_t i;

	if (a == b)
		return true;
	if (!a || !b || a->type != b->type)
		return false;
	switch (a->type) {
	case WIRE_NULL:
		return true;
	case WIRE_BOOL:
		return a->b == b->b;
	case WIRE_INT:
	case WIRE_TIMESTAMP:
	case WIRE_DURATION:
		return a->i == b->i;
	case WIRE_UINT:
		return a->u == b->u;
	case WIRE_DOUBLE:
		return a->d == b->d;
	case WIRE_STRING:
	case WIRE_BYTES:
		return a->str.len == b->str.len && memcmp(a->str.p, b->str.p, a->str.len) == 0;
	case WIRE_LIST:
		if (a->list.n != b->list.n)
			return false;
		for (i = 0; i < a->list.n; i++)
			if (!wire_value_equal(a->list.items[i], b->list.items[i]))
				return false;
		return true;
	case WIRE_OBJECT:
		if (a->obj.n != b->obj.n || strcmp(a->obj.type_name, b->obj.type_name) != 0)
			return false;
		for (i = 0; i < a->obj.n; i++)
			if (strcmp(a->obj.props[i].name, b->obj.props[i].name) != 0 ||
			    !wire_value_equal(a->obj.props[i].value, b->obj.props[i].value))
				return false;
		return true;
	}
	return false;
}

const char *wire_type_name(enum wire_type t)
{
	static const char *const names[] = {
		[WIRE_NULL] = "null", [WIRE_BOOL] = "bool", [WIRE_INT] = "int64",
		[WIRE_UINT] = "uint64", [WIRE_DOUBLE] = "double", [WIRE_STRING] = "string",
		[WIRE_BYTES] = "bytes", [WIRE_TIMESTAMP] = "timestamp", [WIRE_DURATION] = "duration",
		[WIRE_LIST] = "list", [WIRE_OBJECT] = "object",
	};

	return (unsigned)t < sizeof(names) / sizeof(names[0]) ? names[t] : "invalid";
}

struct wire_value *wire_error_record(enum wire_status status, const char *target, const char *fmt, ...)
{
	struct wire_value *rec = wire_object("ErrorRecord");
	char *msg = NULL;
	va_list ap;

	va_start(ap, fmt);
	if (vasprintf(&msg, fmt, ap) < 0)
		abort();
	va_end(ap);
	wire_object_set(rec, "Message", wire_string(msg));
	wire_object_set(rec, "Category", wire_string(wire_status_name(status)));
	if (target)
		wire_object_set(rec, "TargetObject", wire_string(target));
	free(msg);
	return rec;
}

const char *wire_status_name(enum wire_status s)
{
	switch (s) {
	case WIRE_OK: return "OK";
	case WIRE_E_INVALID_ARGUMENT: return "InvalidArgument";
	case WIRE_E_NOT_FOUND: return "ObjectNotFound";
	case WIRE_E_ALREADY_EXISTS: return "ResourceExists";
	case WIRE_E_PERMISSION_DENIED: return "PermissionDenied";
	case WIRE_E_INVALID_STATE: return "InvalidOperation";
	case WIRE_E_PROTOCOL: return "ProtocolError";
	case WIRE_E_UNKNOWN_PROCEDURE: return "NotImplemented";
	case WIRE_E_RESOURCE: return "ResourceUnavailable";
	case WIRE_E_INTERNAL: return "NotSpecified";
	case WIRE_E_CONNECTION: return "ConnectionError";
	}
	return "NotSpecified";
}

const struct wire_proc_info *wire_proc_lookup(uint32_t id)
{
	static const struct wire_proc_info procs[] = {
#define WIRE_PROC(num, sym, name, flags) { num, name, flags },
#include "wire-protocol/procedures.def"
#undef WIRE_PROC
	};
	size_t i;

	for (i = 0; i < sizeof(procs) / sizeof(procs[0]); i++)
		if (procs[i].id == id)
			return &procs[i];
	return NULL;
}
