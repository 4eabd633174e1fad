/*
 * The Where-Object filters hvctl sends with VM.List ("Filter": {Property, Operator, Value}),
 * so that a large listing sends only what matches.  The shell filters again with its full
 * PowerShell rules; this side drops an object only when the comparison is certain (numbers
 * with numbers, text with text, booleans with booleans) and keeps it otherwise.
 */
#include "config.h"

#include <errno.h>
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "daemon/hvd.h"

static const char *const ops[] = { "-eq", "-ne", "-gt", "-ge", "-lt", "-le", "-like", "-notlike", NULL };

int hvd_filter_check(const struct wire_value *filter, struct wire_value **reply)
{
	const char *prop, *op;
	const struct wire_value *value;
	size_t i;

	if (!filter)
		return 0;
	if (filter->type != WIRE_OBJECT || wire_object_get_string(filter, "Property", &prop) ||
	    wire_object_get_string(filter, "Operator", &op) || !(value = wire_object_get(filter, "Value"))) {
		*reply = wire_error_record(WIRE_E_INVALID_ARGUMENT, NULL,
					   "Filter must be an object with Property, Operator and Value");
		return WIRE_E_INVALID_ARGUMENT;
	}
	for (i = 0; ops[i]; i++)
		if (!strcasecmp(op, ops[i]))
			return 0;
	*reply = wire_error_record(WIRE_E_INVALID_ARGUMENT, op, "Filter operator %s is not one of -eq -ne -gt -ge -lt -le -like -notlike", op);
	return WIRE_E_INVALID_ARGUMENT;
}

static bool number(const struct wire_value *v, long double *out)
{
	switch (v->type) {
	case WIRE_INT:
	case WIRE_DURATION:
	case WIRE_TIMESTAMP:
		*out = (long double)v->i;
		return true;
	case WIRE_UINT:
		*out = (long double)v->u;
		return true;
	case WIRE_DOUBLE:
		*out = (long double)v->d;
		return true;
	default:
		return false;
	}
}

/* -1, 0, 1, or 2 when the two cannot be compared with certainty. */
static int compare(const struct wire_value *a, const struct wire_value *b)
{
	long double x, y;

	if (number(a, &x) && number(b, &y))
		return x < y ? -1 : x > y;
	if (a->type == WIRE_STRING && b->type == WIRE_STRING) {
		int c = strcasecmp(a->str.p, b->str.p);

		return c < 0 ? -1 : c > 0;
	}
	if (a->type == WIRE_BOOL && b->type == WIRE_BOOL)
		return (int)a->b - (int)b->b;
	return 2;
}

bool hvd_filter_keep(const struct wire_value *filter, const struct wire_value *obj)
{
	const struct wire_value *value = wire_object_get(filter, "Value"), *pv;
	const char *prop, *op;
	int c;

	if (!filter || wire_object_get_string(filter, "Property", &prop) || wire_object_get_string(filter, "Operator", &op))
		return true;
	pv = wire_object_get(obj, prop);
	if (!pv)
		return true; /* the shell decides what a missing property means */
	if (!strcasecmp(op, "-like") || !strcasecmp(op, "-notlike")) {
		if (pv->type != WIRE_STRING || value->type != WIRE_STRING)
			return true;
		return (fnmatch(value->str.p, pv->str.p, FNM_CASEFOLD) == 0) == !strcasecmp(op, "-like");
	}
	c = compare(pv, value);
	if (c == 2)
		return true;
	if (!strcasecmp(op, "-eq"))
		return c == 0;
	if (!strcasecmp(op, "-ne"))
		return c != 0;
	if (!strcasecmp(op, "-gt"))
		return c > 0;
	if (!strcasecmp(op, "-ge"))
		return c >= 0;
	if (!strcasecmp(op, "-lt"))
		return c < 0;
	return c <= 0;
}
