/*
 * The object-pipeline cmdlets: they work on any object without knowing its type.
 */
#include "config.h"

#include <fnmatch.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cli/cli.h"

static struct wire_value *format_output(struct wire_buf *text)
{
	struct wire_value *o = wire_object("FormatOutput");

	wire_object_set(o, "Text", wire_string_len(text->data ? (const char *)text->data : "", text->len));
	wire_buf_free(text);
	return o;
}

/* Runs a script block on an item and reduces its output to one value. */
static struct wire_value *block_result(struct cli_ctx *ctx, const struct wire_value *blockv, struct wire_value *item)
{
	const struct cli_node *block = cli_block_node(ctx, blockv);
	struct wire_value *res, *v;

	if (!block || cli_exec_block(ctx, block, item, &res))
		return NULL;
	if (res->list.n == 1) {
		v = wire_value_ref(res->list.items[0]);
		wire_value_unref(res);
		return v;
	}
	if (res->list.n == 0) {
		wire_value_unref(res);
		return wire_null();
	}
	return res;
}

static const char *const where_ops[][2] = {
	{ "EQ", "-eq" }, { "NE", "-ne" }, { "GT", "-gt" }, { "GE", "-ge" }, { "LT", "-lt" }, { "LE", "-le" },
	{ "Like", "-like" }, { "NotLike", "-notlike" }, { "Match", "-match" }, { "NotMatch", "-notmatch" },
	{ "Contains", "-contains" }, { "NotContains", "-notcontains" }, { "In", "-in" }, { "NotIn", "-notin" },
};

static int run_where(struct cli_ctx *ctx, const struct cli_bound *b, struct wire_value *in, struct wire_value *out)
{
	struct wire_value *prop = cli_arg(b, "Property"), *value = cli_arg(b, "Value");
	const char *op = NULL;
	size_t i;

	for (i = 0; i < sizeof(where_ops) / sizeof(where_ops[0]); i++) {
		if (cli_switch(b, where_ops[i][0])) {
			if (op) {
				cli_error(ctx, "Give one comparison operator, not several.");
				return -1;
			}
			op = where_ops[i][1];
		}
	}
	if (!prop) {
		cli_error(ctx, "Give a property and a comparison (Where-Object State -eq Off) or a script block.");
		return -1;
	}
	if (op && !value) {
		cli_error(ctx, "The comparison %s needs a value to compare with.", op);
		return -1;
	}
	for (i = 0; i < in->list.n; i++) {
		struct wire_value *item = in->list.items[i], *v, *r = NULL;
		bool keep;

		if (cli_block_node(ctx, prop)) {
			v = block_result(ctx, prop, item);
			if (!v)
				return -1;
			keep = cli_truthy(v);
			wire_value_unref(v);
		} else {
			const struct wire_value *pv = prop->type == WIRE_STRING ? wire_object_get(item, prop->str.p) : NULL;
			struct wire_value *null = wire_null();

			if (prop->type != WIRE_STRING) {
				wire_value_unref(null);
				cli_error(ctx, "-Property takes a property name.");
				return -1;
			}
			if (!op) {
				keep = pv && cli_truthy(pv);
			} else if (cli_binary_op(ctx, op, pv ? pv : null, value, &r) == 0) {
				keep = cli_truthy(r);
				wire_value_unref(r);
			} else {
				wire_value_unref(null);
				return -1;
			}
			wire_value_unref(null);
		}
		if (keep)
			wire_list_append(out, wire_value_ref(item));
	}
	return 0;
}

static const struct cli_param where_params[] = {
	{ "Property", P_ANY, 0, 0, "FilterScript", "The property to test, or a script block that decides" },
	{ "Value", P_ANY, 1, 0, NULL, "The value to compare the property with" },
	{ "EQ", P_SWITCH, PF_NOPOS, 0, "IEQ", "Equal (case-insensitive)" },
	{ "NE", P_SWITCH, PF_NOPOS, 0, "INE", "Not equal" },
	{ "GT", P_SWITCH, PF_NOPOS, 0, NULL, "Greater than" },
	{ "GE", P_SWITCH, PF_NOPOS, 0, NULL, "Greater than or equal" },
	{ "LT", P_SWITCH, PF_NOPOS, 0, NULL, "Less than" },
	{ "LE", P_SWITCH, PF_NOPOS, 0, NULL, "Less than or equal" },
	{ "Like", P_SWITCH, PF_NOPOS, 0, NULL, "Wildcard match (* ? [])" },
	{ "NotLike", P_SWITCH, PF_NOPOS, 0, NULL, "No wildcard match" },
	{ "Match", P_SWITCH, PF_NOPOS, 0, NULL, "Regular expression match" },
	{ "NotMatch", P_SWITCH, PF_NOPOS, 0, NULL, "No regular expression match" },
	{ "Contains", P_SWITCH, PF_NOPOS, 0, NULL, "The property (a list) contains the value" },
	{ "NotContains", P_SWITCH, PF_NOPOS, 0, NULL, "The property does not contain the value" },
	{ "In", P_SWITCH, PF_NOPOS, 0, NULL, "The property is one of the values" },
	{ "NotIn", P_SWITCH, PF_NOPOS, 0, NULL, "The property is none of the values" },
	{ NULL, 0, 0, 0, NULL, NULL },
};

/* A property spec of Select-Object or Sort-Object evaluated on one item. */
static struct wire_value *property_of(struct cli_ctx *ctx, const struct wire_value *spec, struct wire_value *item)
{
	const struct wire_value *v;

	if (cli_block_node(ctx, spec))
		return block_result(ctx, spec, item);
	if (spec->type == WIRE_STRING) {
		v = wire_object_get(item, spec->str.p);
		return v ? wire_value_ref((struct wire_value *)v) : wire_null();
	}
	return wire_null();
}

static const struct wire_value *calc_part(const struct wire_value *h, const char *a, const char *b)
{
	const struct wire_value *v = wire_object_get(h, a);

	return v ? v : wire_object_get(h, b);
}

static int select_props(struct cli_ctx *ctx, const struct wire_value *props, struct wire_value *item,
			struct wire_value *out)
{
	struct wire_value *o;
	size_t i, k;

	o = wire_object(item->type == WIRE_OBJECT ? "Selected" : "Selected.Value");
	if (item->type == WIRE_OBJECT) {
		char *t;

		if (asprintf(&t, "Selected.%s", item->obj.type_name) < 0)
			abort();
		free(o->obj.type_name);
		o->obj.type_name = t;
	}
	for (i = 0; i < props->list.n; i++) {
		const struct wire_value *p = props->list.items[i];

		if (p->type == WIRE_STRING && strpbrk(p->str.p, "*?[")) {
			for (k = 0; item->type == WIRE_OBJECT && k < item->obj.n; k++)
				if (fnmatch(p->str.p, item->obj.props[k].name, FNM_CASEFOLD) == 0)
					wire_object_set(o, item->obj.props[k].name, wire_value_ref(item->obj.props[k].value));
		} else if (p->type == WIRE_STRING) {
			wire_object_set(o, p->str.p, property_of(ctx, p, item));
		} else if (p->type == WIRE_OBJECT && !strcmp(p->obj.type_name, "Hashtable")) {
			const struct wire_value *name = calc_part(p, "Name", "N"), *expr = calc_part(p, "Expression", "E");
			struct wire_value *v;

			if (!name)
				name = calc_part(p, "Label", "L");
			if (!name || name->type != WIRE_STRING || !expr) {
				cli_error(ctx, "A calculated property needs Name (or Label) and Expression: @{Name='X'; Expression={...}}.");
				wire_value_unref(o);
				return -1;
			}
			v = property_of(ctx, expr, item);
			if (!v) {
				wire_value_unref(o);
				return -1;
			}
			wire_object_set(o, name->str.p, v);
		} else {
			cli_error(ctx, "-Property takes property names or calculated properties @{Name=...; Expression=...}.");
			wire_value_unref(o);
			return -1;
		}
	}
	wire_list_append(out, o);
	return 0;
}

static struct wire_value *as_list(struct wire_value *v)
{
	struct wire_value *l;

	if (!v || v->type == WIRE_LIST)
		return wire_value_ref(v);
	l = wire_list();
	wire_list_append(l, wire_value_ref(v));
	return l;
}

static int run_select(struct cli_ctx *ctx, const struct cli_bound *b, struct wire_value *in, struct wire_value *out)
{
	struct wire_value *props = as_list(cli_arg(b, "Property")), *exp = cli_arg(b, "ExpandProperty");
	struct wire_value *first = cli_arg(b, "First"), *last = cli_arg(b, "Last"), *skip = cli_arg(b, "Skip");
	struct wire_value *tmp = wire_list();
	size_t i, from = 0, to = in->list.n;
	int rc = 0;

	if (skip)
		from = skip->i < 0 ? 0 : (size_t)skip->i > to ? to : (size_t)skip->i;
	if (first && first->i >= 0 && from + (size_t)first->i < to)
		to = from + (size_t)first->i;
	if (last && last->i >= 0 && to - from > (size_t)last->i)
		from = to - (size_t)last->i;
	for (i = from; i < to && rc == 0; i++) {
		struct wire_value *item = in->list.items[i];

		if (exp) {
			const struct wire_value *v = wire_object_get(item, exp->str.p);

			if (!v) {
				cli_error(ctx, "Property \"%s\" cannot be found.", exp->str.p);
				rc = -1;
				break;
			}
			if (v->type == WIRE_LIST) {
				size_t k;

				for (k = 0; k < v->list.n; k++)
					wire_list_append(tmp, wire_value_ref(v->list.items[k]));
			} else {
				wire_list_append(tmp, wire_value_ref((struct wire_value *)v));
			}
		} else if (props && props->list.n) {
			rc = select_props(ctx, props, item, tmp);
		} else {
			wire_list_append(tmp, wire_value_ref(item));
		}
	}
	for (i = 0; rc == 0 && i < tmp->list.n; i++) {
		size_t k;
		bool dup = false;

		for (k = 0; cli_switch(b, "Unique") && k < out->list.n && !dup; k++)
			dup = wire_value_equal(out->list.items[k], tmp->list.items[i]);
		if (!dup)
			wire_list_append(out, wire_value_ref(tmp->list.items[i]));
	}
	wire_value_unref(tmp);
	wire_value_unref(props);
	return rc;
}

static const struct cli_param select_params[] = {
	{ "Property", P_ANY, 0, 0, NULL, "Properties to keep: names, wildcards or @{Name=...; Expression={...}}" },
	{ "ExpandProperty", P_STRING, PF_NOPOS, 0, NULL, "Output the values of this property instead" },
	{ "First", P_INT, PF_NOPOS, 0, NULL, "Keep only the first N objects" },
	{ "Last", P_INT, PF_NOPOS, 0, NULL, "Keep only the last N objects" },
	{ "Skip", P_INT, PF_NOPOS, 0, NULL, "Skip the first N objects" },
	{ "Unique", P_SWITCH, PF_NOPOS, 0, NULL, "Drop duplicates" },
	{ NULL, 0, 0, 0, NULL, NULL },
};

struct sort_item {
	struct wire_value *item;
	struct wire_value **keys;
	size_t index;
};

static size_t sort_nkeys;
static bool sort_desc;

static int sort_cmp(const void *pa, const void *pb)
{
	const struct sort_item *a = pa, *b = pb;
	size_t k;
	bool comparable;

	for (k = 0; k < sort_nkeys; k++) {
		int c = cli_compare(a->keys[k], b->keys[k], &comparable);

		if (c)
			return sort_desc ? -c : c;
	}
	return a->index < b->index ? -1 : a->index > b->index; /* stable */
}

static int run_sort(struct cli_ctx *ctx, const struct cli_bound *b, struct wire_value *in, struct wire_value *out)
{
	struct wire_value *props = as_list(cli_arg(b, "Property")), *self = NULL;
	struct sort_item *items = calloc(in->list.n + 1, sizeof(*items));
	size_t i, k, nkeys = props ? props->list.n : 1;
	int rc = 0;

	if (!items)
		abort();
	for (i = 0; i < in->list.n; i++) {
		items[i].item = in->list.items[i];
		items[i].index = i;
		items[i].keys = calloc(nkeys, sizeof(*items[i].keys));
		if (!items[i].keys)
			abort();
		for (k = 0; k < nkeys; k++) {
			if (!props) {
				/* No property: objects sort by their default display, scalars by value. */
				self = items[i].item;
				items[i].keys[k] = self->type == WIRE_OBJECT && wire_object_get(self, "Name")
							   ? wire_value_ref(wire_object_get(self, "Name"))
							   : wire_value_ref(self);
			} else {
				items[i].keys[k] = property_of(ctx, props->list.items[k], items[i].item);
			}
			if (!items[i].keys[k]) {
				items[i].keys[k] = wire_null();
				rc = -1;
			}
		}
	}
	sort_nkeys = nkeys;
	sort_desc = cli_switch(b, "Descending");
	if (rc == 0)
		qsort(items, in->list.n, sizeof(*items), sort_cmp);
	for (i = 0; i < in->list.n; i++) {
		if (rc == 0 && !(cli_switch(b, "Unique") && i > 0 && sort_cmp(&items[i - 1], &items[i]) == 0 &&
				 wire_value_equal(items[i - 1].item, items[i].item)))
			wire_list_append(out, wire_value_ref(items[i].item));
		for (k = 0; k < nkeys; k++)
			wire_value_unref(items[i].keys[k]);
		free(items[i].keys);
	}
	free(items);
	wire_value_unref(props);
	return rc;
}

static const struct cli_param sort_params[] = {
	{ "Property", P_ANY, 0, 0, NULL, "Sort keys: property names or script blocks, most significant first" },
	{ "Descending", P_SWITCH, PF_NOPOS, 0, NULL, "Largest first" },
	{ "Unique", P_SWITCH, PF_NOPOS, 0, NULL, "Drop duplicates" },
	{ NULL, 0, 0, 0, NULL, NULL },
};

static int run_format_table(struct cli_ctx *ctx, const struct cli_bound *b, struct wire_value *in,
			    struct wire_value *out)
{
	struct wire_buf text = { 0 };

	cli_format_table(in, cli_arg(b, "Property"), &text);
	wire_list_append(out, format_output(&text));
	return 0;
}

static const struct cli_param format_table_params[] = {
	{ "Property", P_STRINGS, 0, 0, NULL, "The columns, in order (wildcards allowed)" },
	{ "AutoSize", P_SWITCH, PF_NOPOS, 0, NULL, "Size columns to their contents (always done)" },
	{ NULL, 0, 0, 0, NULL, NULL },
};

static int run_format_list(struct cli_ctx *ctx, const struct cli_bound *b, struct wire_value *in,
			   struct wire_value *out)
{
	struct wire_buf text = { 0 };

	cli_format_list(in, cli_arg(b, "Property"), &text);
	wire_list_append(out, format_output(&text));
	return 0;
}

static const struct cli_param format_list_params[] = {
	{ "Property", P_STRINGS, 0, 0, NULL, "The properties to show (default: all)" },
	{ NULL, 0, 0, 0, NULL, NULL },
};

static int run_to_json(struct cli_ctx *ctx, const struct cli_bound *b, struct wire_value *in, struct wire_value *out)
{
	struct wire_value *depth = cli_arg(b, "Depth");
	struct wire_buf text = { 0 };

	if (!in->list.n)
		return 0;
	if (depth && depth->i < 0) {
		cli_error(ctx, "Invalid value %lld for parameter -Depth: it must be 0 or more.", (long long)depth->i);
		return -1;
	}
	if (cli_switch(b, "AsArray") && in->list.n == 1)
		wire_value_to_json(in, &text, cli_switch(b, "Compress") ? 0 : 2, depth ? (int)depth->i + 1 : -1);
	else
		cli_format_json(in, depth ? (int)depth->i : -1, cli_switch(b, "Compress"), &text);
	wire_list_append(out, wire_string_len((const char *)text.data, text.len));
	wire_buf_free(&text);
	return 0;
}

static const struct cli_param to_json_params[] = {
	{ "Depth", P_INT, PF_NOPOS, 0, NULL, "Levels of nesting written out (default: all; no truncation)" },
	{ "Compress", P_SWITCH, PF_NOPOS, 0, NULL, "One line, no indentation" },
	{ "AsArray", P_SWITCH, PF_NOPOS, 0, NULL, "Always write an array" },
	{ NULL, 0, 0, 0, NULL, NULL },
};

static int run_to_csv(struct cli_ctx *ctx, const struct cli_bound *b, struct wire_value *in, struct wire_value *out)
{
	struct wire_buf text = { 0 };
	size_t start = 0, i;

	cli_format_csv(in, &text);
	for (i = 0; i < text.len; i++) {
		if (text.data[i] == '\n') {
			wire_list_append(out, wire_string_len((const char *)text.data + start, i - start));
			start = i + 1;
		}
	}
	wire_buf_free(&text);
	return 0;
}

static const struct cli_param to_csv_params[] = {
	{ "NoTypeInformation", P_SWITCH, PF_NOPOS, 0, NULL, "Accepted for compatibility (no type line is written)" },
	{ NULL, 0, 0, 0, NULL, NULL },
};

static int run_foreach(struct cli_ctx *ctx, const struct cli_bound *b, struct wire_value *in, struct wire_value *out)
{
	struct wire_value *proc = cli_arg(b, "Process");
	size_t i, k;

	for (i = 0; i < in->list.n; i++) {
		struct wire_value *r;

		if (proc->type == WIRE_STRING) {
			const struct wire_value *v = wire_object_get(in->list.items[i], proc->str.p);

			if (v)
				wire_list_append(out, wire_value_ref((struct wire_value *)v));
			continue;
		}
		if (!cli_block_node(ctx, proc)) {
			cli_error(ctx, "-Process takes a script block or a property name.");
			return -1;
		}
		if (cli_exec_block(ctx, cli_block_node(ctx, proc), in->list.items[i], &r))
			return -1;
		for (k = 0; k < r->list.n; k++)
			wire_list_append(out, wire_value_ref(r->list.items[k]));
		wire_value_unref(r);
	}
	return 0;
}

static const struct cli_param foreach_params[] = {
	{ "Process", P_ANY, 0, PF_MANDATORY, "MemberName", "A script block run for each object ($_), or a property name" },
	{ NULL, 0, 0, 0, NULL, NULL },
};

static int run_write(struct cli_ctx *ctx, const struct cli_bound *b, struct wire_value *in, struct wire_value *out)
{
	struct wire_value *v = cli_arg(b, "InputObject");
	size_t i;

	for (i = 0; i < in->list.n; i++)
		wire_list_append(out, wire_value_ref(in->list.items[i]));
	if (v && v->type == WIRE_LIST)
		for (i = 0; i < v->list.n; i++)
			wire_list_append(out, wire_value_ref(v->list.items[i]));
	else if (v)
		wire_list_append(out, wire_value_ref(v));
	return 0;
}

static const struct cli_param write_params[] = {
	{ "InputObject", P_ANY, 0, 0, NULL, "The objects to write to the pipeline" },
	{ NULL, 0, 0, 0, NULL, NULL },
};

static int run_measure(struct cli_ctx *ctx, const struct cli_bound *b, struct wire_value *in, struct wire_value *out)
{
	struct wire_value *prop = cli_arg(b, "Property"), *o = wire_object("GenericMeasureInfo");
	double sum = 0, min = 0, max = 0;
	size_t i, n = 0;
	bool numeric = true;

	for (i = 0; i < in->list.n; i++) {
		const struct wire_value *v = prop ? wire_object_get(in->list.items[i], prop->str.p) : in->list.items[i];
		double x;

		if (!v)
			continue;
		n++;
		if (cli_to_double(v, &x)) {
			sum += x;
			if (n == 1 || x < min)
				min = x;
			if (n == 1 || x > max)
				max = x;
		} else {
			numeric = false; /* an error only if a statistic was asked for */
		}
	}
	if (!numeric && (cli_switch(b, "Sum") || cli_switch(b, "Average") || cli_switch(b, "Minimum") ||
			 cli_switch(b, "Maximum"))) {
		cli_error(ctx, "The property \"%s\" is not numeric.", prop ? prop->str.p : "(input)");
		wire_value_unref(o);
		return -1;
	}
	wire_object_set(o, "Count", wire_int((int64_t)n));
	wire_object_set(o, "Average", cli_switch(b, "Average") && n ? wire_double(sum / (double)n) : wire_null());
	wire_object_set(o, "Sum", cli_switch(b, "Sum") ? wire_double(sum) : wire_null());
	wire_object_set(o, "Maximum", cli_switch(b, "Maximum") && n ? wire_double(max) : wire_null());
	wire_object_set(o, "Minimum", cli_switch(b, "Minimum") && n ? wire_double(min) : wire_null());
	wire_object_set(o, "Property", prop ? wire_string(prop->str.p) : wire_null());
	wire_list_append(out, o);
	return 0;
}

static const struct cli_param measure_params[] = {
	{ "Property", P_STRING, 0, 0, NULL, "The property to measure (default: the objects themselves)" },
	{ "Sum", P_SWITCH, PF_NOPOS, 0, NULL, "The sum" },
	{ "Average", P_SWITCH, PF_NOPOS, 0, NULL, "The mean" },
	{ "Minimum", P_SWITCH, PF_NOPOS, 0, NULL, "The smallest" },
	{ "Maximum", P_SWITCH, PF_NOPOS, 0, NULL, "The largest" },
	{ NULL, 0, 0, 0, NULL, NULL },
};

static const struct cli_param no_params[] = { { NULL, 0, 0, 0, NULL, NULL } };

static int run_out_null(struct cli_ctx *ctx, const struct cli_bound *b, struct wire_value *in, struct wire_value *out)
{
	return 0;
}

static int run_get_member(struct cli_ctx *ctx, const struct cli_bound *b, struct wire_value *in, struct wire_value *out)
{
	size_t i, k, j;

	for (i = 0; i < in->list.n; i++) {
		const struct wire_value *o = in->list.items[i];
		bool seen = false;

		if (o->type != WIRE_OBJECT)
			continue;
		for (j = 0; j < i && !seen; j++)
			seen = in->list.items[j]->type == WIRE_OBJECT &&
			       !strcmp(in->list.items[j]->obj.type_name, o->obj.type_name);
		if (seen)
			continue;
		for (k = 0; k < o->obj.n; k++) {
			struct wire_value *m = wire_object("MemberDefinition");

			wire_object_set(m, "TypeName", wire_string(o->obj.type_name));
			wire_object_set(m, "Name", wire_string(o->obj.props[k].name));
			wire_object_set(m, "MemberType", wire_string("Property"));
			wire_object_set(m, "Definition", wire_stringf("%s %s", wire_type_name(o->obj.props[k].value->type),
								      o->obj.props[k].name));
			wire_list_append(out, m);
		}
	}
	return 0;
}

static int run_get_help(struct cli_ctx *ctx, const struct cli_bound *b, struct wire_value *in, struct wire_value *out)
{
	struct wire_value *name = cli_arg(b, "Name");
	const struct cli_cmdlet *c = name ? cli_cmdlet_find(name->str.p) : NULL;
	char *text = NULL;
	size_t len = 0;
	FILE *f;

	if (name && !c) {
		cli_error(ctx, "Get-Help cannot find help for '%s': it is not a cmdlet. Get-Command lists them.", name->str.p);
		return -1;
	}
	f = open_memstream(&text, &len);
	if (!f)
		abort();
	if (c) {
		cli_help_cmdlet(c, f);
	} else {
		size_t i;

		fprintf(f, "hvctl runs Hyper-V's cmdlets against hvd. Cmdlets:\n\n");
		for (i = 0; (c = cli_cmdlet_at(i)); i++)
			fprintf(f, "  %-24s %s\n", c->name, c->synopsis);
		fprintf(f, "\nGet-Help NAME shows one cmdlet's parameters; man hvkit-cmdlets has them all.\n");
	}
	fclose(f);
	{
		struct wire_buf t = { (uint8_t *)text, len, len };

		wire_list_append(out, format_output(&t));
	}
	return 0;
}

static const struct cli_param help_params[] = {
	{ "Name", P_STRING, 0, 0, NULL, "The cmdlet to describe" },
	{ NULL, 0, 0, 0, NULL, NULL },
};

static int run_get_command(struct cli_ctx *ctx, const struct cli_bound *b, struct wire_value *in, struct wire_value *out)
{
	struct wire_value *name = cli_arg(b, "Name");
	const struct cli_cmdlet *c;
	size_t i;

	for (i = 0; (c = cli_cmdlet_at(i)); i++) {
		struct wire_value *o;

		if (name && fnmatch(name->str.p, c->name, FNM_CASEFOLD) != 0)
			continue;
		o = wire_object("CommandInfo");
		wire_object_set(o, "CommandType", wire_string("Cmdlet"));
		wire_object_set(o, "Name", wire_string(c->name));
		wire_object_set(o, "Source", wire_string(c->daemon ? "hvd" : "hvctl"));
		wire_object_set(o, "Synopsis", wire_string(c->synopsis));
		wire_list_append(out, o);
	}
	return 0;
}

static const struct cli_param command_params[] = {
	{ "Name", P_STRING, 0, 0, NULL, "Only the cmdlets whose names match (wildcards allowed)" },
	{ NULL, 0, 0, 0, NULL, NULL },
};

const struct cli_cmdlet cli_pipeline_cmdlets[] = {
	{ "Where-Object", "where,?", "Keeps the objects for which a condition holds", where_params, run_where, false },
	{ "Select-Object", "select", "Picks properties, or the first or last objects", select_params, run_select, false },
	{ "Sort-Object", "sort", "Sorts objects by property values", sort_params, run_sort, false },
	{ "ForEach-Object", "foreach,%", "Runs a script block for each object", foreach_params, run_foreach, false },
	{ "Measure-Object", "measure", "Counts objects and sums, averages or bounds a property", measure_params,
	  run_measure, false },
	{ "Format-Table", "ft", "Shows objects as a table", format_table_params, run_format_table, false },
	{ "Format-List", "fl", "Shows each property of each object on its own line", format_list_params,
	  run_format_list, false },
	{ "ConvertTo-Json", NULL, "Converts objects to JSON (no depth truncation by default)", to_json_params,
	  run_to_json, false },
	{ "ConvertTo-Csv", NULL, "Converts objects to CSV lines", to_csv_params, run_to_csv, false },
	{ "Write-Output", "echo,write", "Writes objects to the pipeline", write_params, run_write, false },
	{ "Out-Null", NULL, "Discards its input", no_params, run_out_null, false },
	{ "Get-Member", "gm", "Lists the properties of the objects' types", no_params, run_get_member, false },
	{ "Get-Help", "help", "Describes a cmdlet and its parameters", help_params, run_get_help, false },
	{ "Get-Command", "gcm", "Lists the cmdlets", command_params, run_get_command, false },
	{ NULL, NULL, NULL, NULL, NULL, false },
};
