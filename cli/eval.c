/*
 * Expressions: values, variables (with function scopes), members, operators, script-block
 * values.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cli/cli.h"

/* Variables: the innermost function's own are those from ctx->scope_start on.  Reading
 * looks from the innermost outwards (PowerShell's dynamic scoping); assigning makes or
 * changes a variable of the innermost scope. */
void cli_var_set(struct cli_ctx *ctx, const char *name, struct wire_value *value)
{
	size_t i;

	for (i = ctx->scope_start; i < ctx->nvars; i++) {
		if (strcasecmp(ctx->vars[i].name, name) == 0) {
			wire_value_unref(ctx->vars[i].value);
			ctx->vars[i].value = value;
			return;
		}
	}
	if (ctx->nvars == ctx->capvars) {
		ctx->capvars = ctx->capvars ? ctx->capvars * 2 : 16;
		ctx->vars = realloc(ctx->vars, ctx->capvars * sizeof(*ctx->vars));
		if (!ctx->vars)
			abort();
	}
	ctx->vars[ctx->nvars].name = strdup(name);
	ctx->vars[ctx->nvars].value = value;
	ctx->nvars++;
}

struct wire_value *cli_var_get(struct cli_ctx *ctx, const char *name)
{
	size_t i;

	for (i = ctx->nvars; i-- > 0;)
		if (strcasecmp(ctx->vars[i].name, name) == 0)
			return ctx->vars[i].value;
	return NULL;
}

/* Drops the variables of scopes inside the one that starts at start. */
void cli_scope_pop(struct cli_ctx *ctx, size_t start)
{
	while (ctx->nvars > start) {
		ctx->nvars--;
		free(ctx->vars[ctx->nvars].name);
		wire_value_unref(ctx->vars[ctx->nvars].value);
	}
}

/* Script blocks travel as values: an object "ScriptBlock" whose Handle indexes the nodes the
 * context keeps (the syntax trees live as long as the context). */
static struct wire_value *block_value(struct cli_ctx *ctx, const struct cli_node *n)
{
	struct wire_value *v = wire_object("ScriptBlock");

	if (ctx->nblocks == ctx->capblocks) {
		ctx->capblocks = ctx->capblocks ? ctx->capblocks * 2 : 16;
		ctx->blocks = realloc(ctx->blocks, ctx->capblocks * sizeof(*ctx->blocks));
		if (!ctx->blocks)
			abort();
	}
	ctx->blocks[ctx->nblocks] = n;
	wire_object_set(v, "Handle", wire_uint(ctx->nblocks++));
	return v;
}

const struct cli_node *cli_block_node(struct cli_ctx *ctx, const struct wire_value *v)
{
	const struct wire_value *h;

	if (!v || v->type != WIRE_OBJECT || strcmp(v->obj.type_name, "ScriptBlock") != 0)
		return NULL;
	h = wire_object_get(v, "Handle");
	if (!h || h->type != WIRE_UINT || h->u >= ctx->nblocks)
		return NULL;
	return ctx->blocks[h->u];
}

/* Appends a value to a pipeline list, unrolling lists as PowerShell does. */
void cli_unroll(struct wire_value *list, struct wire_value *v)
{
	size_t i;

	if (!v)
		return;
	if (v->type == WIRE_LIST) {
		for (i = 0; i < v->list.n; i++)
			wire_list_append(list, wire_value_ref(v->list.items[i]));
		wire_value_unref(v);
		return;
	}
	if (v->type == WIRE_NULL) {
		wire_value_unref(v);
		return;
	}
	wire_list_append(list, v);
}

/* The value of a subexpression: nothing is $null, one item is itself, more are a list. */
struct wire_value *cli_collapse(struct wire_value *list)
{
	struct wire_value *v;

	if (list->list.n == 0) {
		wire_value_unref(list);
		return wire_null();
	}
	if (list->list.n == 1) {
		v = wire_value_ref(list->list.items[0]);
		wire_value_unref(list);
		return v;
	}
	return list;
}

static struct wire_value *member(struct cli_ctx *ctx, const struct wire_value *obj, const char *name)
{
	const struct wire_value *v;
	size_t i;

	switch (obj->type) {
	case WIRE_OBJECT:
		v = wire_object_get(obj, name);
		if (v)
			return wire_value_ref((struct wire_value *)v);
		if (!strcmp(obj->obj.type_name, "Hashtable") && !strcasecmp(name, "Count"))
			return wire_int((int64_t)obj->obj.n);
		break;
	case WIRE_LIST:
		if (!strcasecmp(name, "Count") || !strcasecmp(name, "Length"))
			return wire_int((int64_t)obj->list.n);
		{
			/* Member enumeration: the property of every item. */
			struct wire_value *out = wire_list();

			for (i = 0; i < obj->list.n; i++)
				cli_unroll(out, member(ctx, obj->list.items[i], name));
			return out;
		}
	case WIRE_STRING:
		if (!strcasecmp(name, "Length"))
			return wire_int((int64_t)obj->str.len);
		break;
	case WIRE_DURATION:
		if (!strcasecmp(name, "TotalSeconds"))
			return wire_double((double)obj->i / 1e9);
		if (!strcasecmp(name, "TotalMilliseconds"))
			return wire_double((double)obj->i / 1e6);
		break;
	default:
		break;
	}
	if (!strcasecmp(name, "Count"))
		return wire_int(obj->type == WIRE_NULL ? 0 : 1);
	return wire_null();
}

static struct wire_value *expand_string(struct cli_ctx *ctx, const struct cli_node *n)
{
	struct wire_buf b = { 0 };
	struct wire_value *v;
	size_t i;

	for (i = 0; i < n->nkids; i++) {
		struct wire_value *part = cli_eval(ctx, n->kids[i]);

		if (!part) {
			wire_buf_free(&b);
			return NULL;
		}
		if (part->type == WIRE_LIST) {
			size_t k;

			for (k = 0; k < part->list.n; k++) {
				if (k)
					wire_buf_put(&b, " ", 1);
				cli_display(part->list.items[k], &b);
			}
		} else {
			cli_display(part, &b);
		}
		wire_value_unref(part);
	}
	v = wire_string_len(b.data ? (const char *)b.data : "", b.len);
	wire_buf_free(&b);
	return v;
}

static struct wire_value *variable(struct cli_ctx *ctx, const struct cli_node *n)
{
	struct wire_value *v;

	if (!strcasecmp(n->text, "true"))
		return wire_bool(true);
	if (!strcasecmp(n->text, "false"))
		return wire_bool(false);
	if (!strcasecmp(n->text, "null"))
		return wire_null();
	if (!strncasecmp(n->text, "env:", 4)) {
		const char *e = getenv(n->text + 4);

		return e ? wire_string(e) : wire_null();
	}
	v = cli_var_get(ctx, n->text);
	return v ? wire_value_ref(v) : wire_null();
}

static struct wire_value *hash(struct cli_ctx *ctx, const struct cli_node *n)
{
	struct wire_value *h = wire_object("Hashtable");
	size_t i;

	for (i = 0; i + 1 < n->nkids; i += 2) {
		struct wire_value *k = cli_eval(ctx, n->kids[i]), *v;
		struct wire_buf name = { 0 };

		if (!k) {
			wire_value_unref(h);
			return NULL;
		}
		v = cli_eval(ctx, n->kids[i + 1]);
		if (!v) {
			wire_value_unref(k);
			wire_value_unref(h);
			return NULL;
		}
		cli_display(k, &name);
		wire_buf_put(&name, "", 1);
		wire_object_set(h, (const char *)name.data, v);
		wire_buf_free(&name);
		wire_value_unref(k);
	}
	return h;
}

/* a..b: the whole numbers from a to b, counting down when b < a (at most a million). */
static struct wire_value *range(struct cli_ctx *ctx, const struct wire_value *a, const struct wire_value *b)
{
	struct wire_value *r;
	int64_t x, y, i;

	if (cli_to_int(a, &x) || cli_to_int(b, &y)) {
		cli_error(ctx, "The range operator .. takes whole numbers.");
		return NULL;
	}
	if ((x > y ? (uint64_t)x - (uint64_t)y : (uint64_t)y - (uint64_t)x) >= 1000000) {
		cli_error(ctx, "The range %lld..%lld has more than a million numbers.", (long long)x, (long long)y);
		return NULL;
	}
	r = wire_list();
	for (i = x;; i += x <= y ? 1 : -1) {
		wire_list_append(r, wire_int(i));
		if (i == y)
			break;
	}
	return r;
}

struct wire_value *cli_eval(struct cli_ctx *ctx, const struct cli_node *n)
{
	struct wire_value *a, *b, *r = NULL;
	size_t i;

	switch (n->kind) {
	case N_LITERAL:
		return wire_value_ref(n->value);
	case N_STRING_EXPAND:
		return expand_string(ctx, n);
	case N_VARIABLE:
		return variable(ctx, n);
	case N_MEMBER:
		a = cli_eval(ctx, n->kids[0]);
		if (!a)
			return NULL;
		r = member(ctx, a, n->text);
		wire_value_unref(a);
		return r;
	case N_INDEX:
		a = cli_eval(ctx, n->kids[0]);
		b = a ? cli_eval(ctx, n->kids[1]) : NULL;
		if (a && b) {
			int64_t ix;

			if (a->type == WIRE_LIST && cli_to_int(b, &ix) == 0) {
				if (ix < 0)
					ix += (int64_t)a->list.n;
				r = ix >= 0 && (size_t)ix < a->list.n ? wire_value_ref(a->list.items[ix]) : wire_null();
			} else if (a->type == WIRE_OBJECT && b->type == WIRE_STRING) {
				r = member(ctx, a, b->str.p);
			} else if (cli_to_int(b, &ix) == 0 && (ix == 0 || ix == -1)) {
				r = wire_value_ref(a);
			} else {
				r = wire_null();
			}
		}
		wire_value_unref(a);
		wire_value_unref(b);
		return r;
	case N_ARRAY:
		r = wire_list();
		for (i = 0; i < n->nkids; i++) {
			a = cli_eval(ctx, n->kids[i]);
			if (!a) {
				wire_value_unref(r);
				return NULL;
			}
			wire_list_append(r, a);
		}
		return r;
	case N_SUBEXPR:
		r = wire_list();
		if (cli_run_script(ctx, n->kids[0], r)) {
			wire_value_unref(r);
			return NULL;
		}
		return n->text ? r : cli_collapse(r); /* @(...) is always a list */
	case N_BLOCK:
		return block_value(ctx, n);
	case N_HASH:
		return hash(ctx, n);
	case N_BINARY:
		a = cli_eval(ctx, n->kids[0]);
		if (!a)
			return NULL;
		if (!strcmp(n->text, "-and") || !strcmp(n->text, "-or")) {
			bool t = cli_truthy(a);

			wire_value_unref(a);
			if (t == !strcmp(n->text, "-or"))
				return wire_bool(t);
			b = cli_eval(ctx, n->kids[1]);
			if (!b)
				return NULL;
			r = wire_bool(cli_truthy(b));
			wire_value_unref(b);
			return r;
		}
		b = cli_eval(ctx, n->kids[1]);
		if (b && !strcmp(n->text, ".."))
			r = range(ctx, a, b);
		else if (b && cli_binary_op(ctx, n->text, a, b, &r) != 0)
			r = NULL;
		wire_value_unref(a);
		wire_value_unref(b);
		return r;
	case N_UNARY:
		a = cli_eval(ctx, n->kids[0]);
		if (!a)
			return NULL;
		if (!strcmp(n->text, "-")) {
			struct wire_value *zero = wire_int(0);

			if (cli_binary_op(ctx, "-", zero, a, &r) != 0)
				r = NULL;
			wire_value_unref(zero);
		} else {
			r = wire_bool(!cli_truthy(a));
		}
		wire_value_unref(a);
		return r;
	case N_PIPELINE:
		r = wire_list();
		if (cli_run_pipeline(ctx, n, r)) {
			wire_value_unref(r);
			return NULL;
		}
		return cli_collapse(r);
	default:
		break;
	}
	cli_error(ctx, "line %d, column %d: this cannot be used as a value", n->line, n->col);
	return NULL;
}

