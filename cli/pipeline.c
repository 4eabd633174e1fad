/*
 * The object-pipeline cmdlets: they work on any object without knowing its type.
 */
#include "config.h"

#include <fnmatch.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cli/cli.h"

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

/* The comparison a Where-Object stage makes, checked once in begin. */
static int where_begin(struct cli_ctx *ctx, struct cli_stage *st)
{
	const struct cli_bound *b = &st->args;
	size_t i, nops = 0;

	for (i = 0; i < sizeof(where_ops) / sizeof(where_ops[0]); i++)
		if (cli_switch(b, where_ops[i][0])) {
			st->count = (int64_t)i;
			nops++;
		}
	if (nops > 1) {
		cli_error(ctx, "Give one comparison operator, not several.");
		return -1;
	}
	if (!nops)
		st->count = -1;
	if (!cli_arg(b, "Property")) {
		cli_error(ctx, "Give a property and a comparison (Where-Object State -eq Off) or a script block.");
		return -1;
	}
	if (!cli_block_node(ctx, cli_arg(b, "Property")) && cli_arg(b, "Property")->type != WIRE_STRING) {
		cli_error(ctx, "-Property takes a property name or a script block.");
		return -1;
	}
	if (nops && !cli_arg(b, "Value")) {
		cli_error(ctx, "The comparison %s needs a value to compare with.", where_ops[st->count][1]);
		return -1;
	}
	return 0;
}

static int where_process(struct cli_ctx *ctx, struct cli_stage *st, struct wire_value *item)
{
	struct wire_value *prop = cli_arg(&st->args, "Property"), *v = NULL;
	bool keep;

	if (cli_block_node(ctx, prop)) {
		v = block_result(ctx, prop, item);
		if (!v)
			return -1;
		keep = cli_truthy(v);
	} else {
		const struct wire_value *pv = wire_object_get(item, prop->str.p);
		struct wire_value *null = wire_null();
		int rc = 0;

		if (st->count < 0)
			keep = pv && cli_truthy(pv);
		else if ((rc = cli_binary_op(ctx, where_ops[st->count][1], pv ? pv : null, cli_arg(&st->args, "Value"), &v)) == 0)
			keep = cli_truthy(v);
		wire_value_unref(null);
		if (rc)
			return -1;
	}
	wire_value_unref(v);
	if (!keep)
		return 0;
	return cli_emit(ctx, st, wire_value_ref(item)) < 0 ? -1 : 0;
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

/* Select-Object streams (and stops the stages before it after -First), except with -Last
 * or -Unique, which need the whole input and act at the end. */
static bool select_needs_all(const struct cli_bound *b)
{
	return cli_arg(b, "Last") || cli_switch(b, "Unique");
}

/* What Select-Object makes of one item, emitted or kept for the end. */
static int select_one(struct cli_ctx *ctx, struct cli_stage *st, struct wire_value *item, struct wire_value *out)
{
	const struct cli_bound *b = &st->args;
	struct wire_value *props = as_list(cli_arg(b, "Property")), *exp = cli_arg(b, "ExpandProperty");
	struct wire_value *made = wire_list();
	size_t k;
	int rc = 0;

	if (exp) {
		const struct wire_value *v = wire_object_get(item, exp->str.p);

		if (!v) {
			cli_error(ctx, "Property \"%s\" cannot be found.", exp->str.p);
			rc = -1;
		} else {
			cli_unroll(made, wire_value_ref((struct wire_value *)v));
		}
	} else if (props && props->list.n) {
		rc = select_props(ctx, props, item, made);
	} else {
		wire_list_append(made, wire_value_ref(item));
	}
	for (k = 0; rc == 0 && k < made->list.n; k++) {
		if (out)
			wire_list_append(out, wire_value_ref(made->list.items[k]));
		else if ((rc = cli_emit(ctx, st, wire_value_ref(made->list.items[k]))) == CLI_STOP)
			rc = 0;
	}
	wire_value_unref(made);
	wire_value_unref(props);
	return rc < 0 ? -1 : 0;
}

static int select_process(struct cli_ctx *ctx, struct cli_stage *st, struct wire_value *item)
{
	const struct cli_bound *b = &st->args;
	struct wire_value *first = cli_arg(b, "First"), *skip = cli_arg(b, "Skip");
	int64_t n = st->count++;

	if (select_needs_all(b)) {
		wire_list_append(st->acc, wire_value_ref(item));
		return 0;
	}
	if (skip && n < skip->i)
		return 0;
	if (first && n - (skip ? skip->i : 0) >= first->i)
		return 0;
	if (select_one(ctx, st, item, NULL))
		return -1;
	if (first && n - (skip ? skip->i : 0) + 1 >= first->i)
		cli_stop_upstream(ctx, st); /* enough: the stages before need not make more */
	return 0;
}

static int select_end(struct cli_ctx *ctx, struct cli_stage *st)
{
	const struct cli_bound *b = &st->args;
	struct wire_value *first = cli_arg(b, "First"), *last = cli_arg(b, "Last"), *skip = cli_arg(b, "Skip");
	struct wire_value *in = st->acc, *made;
	size_t i, k, from = 0, to = in->list.n;
	int rc = 0;

	if (!select_needs_all(b))
		return 0;
	made = wire_list();
	if (skip)
		from = skip->i < 0 ? 0 : (size_t)skip->i > to ? to : (size_t)skip->i;
	if (first && first->i >= 0 && from + (size_t)first->i < to)
		to = from + (size_t)first->i;
	if (last && last->i >= 0 && to - from > (size_t)last->i)
		from = to - (size_t)last->i;
	for (i = from; i < to && rc == 0; i++)
		rc = select_one(ctx, st, in->list.items[i], made);
	for (i = 0; rc == 0 && i < made->list.n; i++) {
		bool dup = false;

		/* -Unique keeps the first of equal objects. */
		for (k = 0; cli_switch(b, "Unique") && k < i && !dup; k++)
			dup = wire_value_equal(made->list.items[k], made->list.items[i]);
		if (!dup && (rc = cli_emit(ctx, st, wire_value_ref(made->list.items[i]))) == CLI_STOP)
			break;
	}
	wire_value_unref(made);
	return rc < 0 ? -1 : 0;
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

static int run_group(struct cli_ctx *ctx, const struct cli_bound *b, struct wire_value *in, struct wire_value *out)
{
	struct wire_value *props = as_list(cli_arg(b, "Property"));
	struct wire_value **keys = calloc(in->list.n + 1, sizeof(*keys));
	size_t i, k;
	int rc = 0;

	if (!keys)
		abort();
	for (i = 0; i < in->list.n && rc == 0; i++) {
		struct wire_value *key = wire_list();

		for (k = 0; props && k < props->list.n; k++) {
			struct wire_value *v = property_of(ctx, props->list.items[k], in->list.items[i]);

			if (!v) {
				rc = -1;
				break;
			}
			wire_list_append(key, v);
		}
		keys[i] = key;
	}
	/* Groups in the order their first member came, as PowerShell lists them. */
	for (i = 0; i < in->list.n && rc == 0; i++) {
		struct wire_value *group, *members, *name;
		struct wire_buf text = { 0 };
		bool seen = false;

		for (k = 0; k < i && !seen; k++)
			seen = cli_compare_lists(keys[k], keys[i]);
		if (seen)
			continue;
		members = wire_list();
		for (k = i; k < in->list.n; k++)
			if (cli_compare_lists(keys[k], keys[i]))
				wire_list_append(members, wire_value_ref(in->list.items[k]));
		for (k = 0; k < keys[i]->list.n; k++) {
			if (k)
				wire_buf_put(&text, ", ", 2);
			cli_display(keys[i]->list.items[k], &text);
		}
		name = wire_string_len(text.data ? (const char *)text.data : "", text.len);
		wire_buf_free(&text);
		group = wire_object("GroupInfo");
		wire_object_set(group, "Count", wire_int((int64_t)members->list.n));
		wire_object_set(group, "Name", name);
		wire_object_set(group, "Group", members);
		wire_object_set(group, "Values", wire_value_ref(keys[i]));
		wire_list_append(out, group);
	}
	for (i = 0; i < in->list.n; i++)
		wire_value_unref(keys[i]);
	free(keys);
	wire_value_unref(props);
	return rc;
}

static const struct cli_param group_params[] = {
	{ "Property", P_ANY, 0, PF_MANDATORY, NULL, "The properties (or script blocks) to group by" },
	{ NULL, 0, 0, 0, NULL, NULL },
};

static const struct cli_param sort_params[] = {
	{ "Property", P_ANY, 0, 0, NULL, "Sort keys: property names or script blocks, most significant first" },
	{ "Descending", P_SWITCH, PF_NOPOS, 0, NULL, "Largest first" },
	{ "Unique", P_SWITCH, PF_NOPOS, 0, NULL, "Drop duplicates" },
	{ NULL, 0, 0, 0, NULL, NULL },
};

static int foreach_process(struct cli_ctx *ctx, struct cli_stage *st, struct wire_value *item)
{
	struct wire_value *proc = cli_arg(&st->args, "Process"), *r;
	size_t k;
	int rc = 0;

	if (proc->type == WIRE_STRING) {
		const struct wire_value *v = wire_object_get(item, proc->str.p);

		return v && cli_emit(ctx, st, wire_value_ref((struct wire_value *)v)) < 0 ? -1 : 0;
	}
	if (!cli_block_node(ctx, proc)) {
		cli_error(ctx, "-Process takes a script block or a property name.");
		return -1;
	}
	if (cli_exec_block(ctx, cli_block_node(ctx, proc), item, &r))
		return -1;
	for (k = 0; k < r->list.n && rc == 0; k++)
		rc = cli_emit(ctx, st, wire_value_ref(r->list.items[k]));
	wire_value_unref(r);
	return rc < 0 ? -1 : 0;
}

static const struct cli_param foreach_params[] = {
	{ "Process", P_ANY, 0, PF_MANDATORY, "MemberName", "A script block run for each object ($_), or a property name" },
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

const struct cli_cmdlet cli_pipeline_cmdlets[] = {
	{ .name = "Where-Object", .aliases = "where,?", .synopsis = "Keeps the objects for which a condition holds",
	  .params = where_params, .begin = where_begin, .process = where_process,
	  .example = "Get-VM | Where-Object State -eq Off\nGet-VM | Where-Object { $_.ProcessorCount -ge 2 }" },
	{ .name = "Select-Object", .aliases = "select", .synopsis = "Picks properties, or the first or last objects",
	  .params = select_params, .process = select_process, .end = select_end,
	  .example = "Get-VM | Select-Object Name, @{Name='MemMB'; Expression={$_.MemoryStartup / 1MB}}\n"
		     "Get-VM | Select-Object -First 1 -ExpandProperty Name" },
	{ .name = "Sort-Object", .aliases = "sort", .synopsis = "Sorts objects by property values",
	  .params = sort_params, .run = run_sort, .example = "Get-VM | Sort-Object MemoryStartup, Name -Descending" },
	{ .name = "Group-Object", .aliases = "group", .synopsis = "Groups objects that have the same property values",
	  .params = group_params, .run = run_group, .example = "Get-VM | Group-Object State" },
	{ .name = "ForEach-Object", .aliases = "foreach,%", .synopsis = "Runs a script block for each object",
	  .params = foreach_params, .process = foreach_process, .example = "Get-VM | ForEach-Object { $_.Name.Length }" },
	{ .name = "Measure-Object", .aliases = "measure", .synopsis = "Counts objects and sums, averages or bounds a property",
	  .params = measure_params, .run = run_measure, .example = "Get-VM | Measure-Object -Property MemoryStartup -Sum" },
	{ .name = NULL },
};
