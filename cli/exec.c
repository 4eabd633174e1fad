/*
 * Running a parsed script: statements, pipelines (each stage gets the whole output of the
 * one before), parameter binding against the cmdlet table, expressions and variables.
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cli/cli.h"

void cli_ctx_init(struct cli_ctx *ctx)
{
	memset(ctx, 0, sizeof(*ctx));
	ctx->out = stdout;
}

void cli_ctx_free(struct cli_ctx *ctx)
{
	size_t i;

	for (i = 0; i < ctx->nvars; i++) {
		free(ctx->vars[i].name);
		wire_value_unref(ctx->vars[i].value);
	}
	free(ctx->vars);
	free(ctx->blocks);
	for (i = 0; i < ctx->nscripts; i++)
		cli_node_free(ctx->scripts[i]);
	free(ctx->scripts);
	wire_conn_free(ctx->conn);
	ctx->conn = NULL;
}

void cli_ctx_keep(struct cli_ctx *ctx, struct cli_node *script)
{
	if (ctx->nscripts == ctx->capscripts) {
		ctx->capscripts = ctx->capscripts ? ctx->capscripts * 2 : 16;
		ctx->scripts = realloc(ctx->scripts, ctx->capscripts * sizeof(*ctx->scripts));
		if (!ctx->scripts)
			abort();
	}
	ctx->scripts[ctx->nscripts++] = script;
}

void cli_error(struct cli_ctx *ctx, const char *fmt, ...)
{
	va_list ap;

	fflush(ctx->out);
	if (ctx->cmdlet_name)
		fprintf(stderr, "%s: ", ctx->cmdlet_name);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	ctx->errors++;
}

void cli_error_record(struct cli_ctx *ctx, const struct wire_value *rec)
{
	const char *msg = "unknown error";

	if (wire_object_get_string(rec, "Message", &msg) != 0 && rec->type == WIRE_STRING)
		msg = rec->str.p;
	cli_error(ctx, "%s", msg);
}

void cli_var_set(struct cli_ctx *ctx, const char *name, struct wire_value *value)
{
	size_t i;

	for (i = 0; i < ctx->nvars; i++) {
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

static struct wire_value *eval(struct cli_ctx *ctx, const struct cli_node *n);
static struct wire_value *run_pipeline(struct cli_ctx *ctx, const struct cli_node *pl);
static int run_script(struct cli_ctx *ctx, const struct cli_node *script, struct wire_value *collect);

/* Appends a value to a pipeline list, unrolling lists as PowerShell does. */
static void emit(struct wire_value *list, struct wire_value *v)
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
static struct wire_value *collapse(struct wire_value *list)
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
		break;
	case WIRE_LIST:
		if (!strcasecmp(name, "Count") || !strcasecmp(name, "Length"))
			return wire_int((int64_t)obj->list.n);
		{
			/* Member enumeration: the property of every item. */
			struct wire_value *out = wire_list();

			for (i = 0; i < obj->list.n; i++)
				emit(out, member(ctx, obj->list.items[i], name));
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
		struct wire_value *part = eval(ctx, n->kids[i]);

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
		struct wire_value *k = eval(ctx, n->kids[i]), *v;
		struct wire_buf name = { 0 };

		if (!k) {
			wire_value_unref(h);
			return NULL;
		}
		v = eval(ctx, n->kids[i + 1]);
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

static struct wire_value *eval(struct cli_ctx *ctx, const struct cli_node *n)
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
		a = eval(ctx, n->kids[0]);
		if (!a)
			return NULL;
		r = member(ctx, a, n->text);
		wire_value_unref(a);
		return r;
	case N_INDEX:
		a = eval(ctx, n->kids[0]);
		b = a ? eval(ctx, n->kids[1]) : NULL;
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
			a = eval(ctx, n->kids[i]);
			if (!a) {
				wire_value_unref(r);
				return NULL;
			}
			wire_list_append(r, a);
		}
		return r;
	case N_SUBEXPR:
		r = wire_list();
		if (run_script(ctx, n->kids[0], r)) {
			wire_value_unref(r);
			return NULL;
		}
		return n->text ? r : collapse(r); /* @(...) is always a list */
	case N_BLOCK:
		return block_value(ctx, n);
	case N_HASH:
		return hash(ctx, n);
	case N_BINARY:
		a = eval(ctx, n->kids[0]);
		if (!a)
			return NULL;
		if (!strcmp(n->text, "-and") || !strcmp(n->text, "-or")) {
			bool t = cli_truthy(a);

			wire_value_unref(a);
			if (t == !strcmp(n->text, "-or"))
				return wire_bool(t);
			b = eval(ctx, n->kids[1]);
			if (!b)
				return NULL;
			r = wire_bool(cli_truthy(b));
			wire_value_unref(b);
			return r;
		}
		b = eval(ctx, n->kids[1]);
		if (b && cli_binary_op(ctx, n->text, a, b, &r) != 0)
			r = NULL;
		wire_value_unref(a);
		wire_value_unref(b);
		return r;
	case N_UNARY:
		a = eval(ctx, n->kids[0]);
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
		r = run_pipeline(ctx, n);
		return r ? collapse(r) : NULL;
	case N_SCRIPT:
	case N_ASSIGN:
	case N_COMMAND:
	case N_PARAM:
		break;
	}
	cli_error(ctx, "line %d, column %d: this cannot be used as a value", n->line, n->col);
	return NULL;
}

/* ---- parameter binding ---- */

static bool name_in_list(const char *list, const char *name, size_t len, bool prefix)
{
	const char *s = list;

	while (s && *s) {
		const char *e = strchr(s, ',');
		size_t l = e ? (size_t)(e - s) : strlen(s);

		if (prefix ? (len <= l && !strncasecmp(s, name, len)) : (len == l && !strncasecmp(s, name, l)))
			return true;
		s = e ? e + 1 : NULL;
	}
	return false;
}

static int find_param(struct cli_ctx *ctx, const struct cli_cmdlet *c, const char *name)
{
	size_t len = strlen(name), i, nmatch = 0;
	int found = -1;
	char matches[512] = "";

	for (i = 0; c->params[i].name; i++)
		if (!strcasecmp(c->params[i].name, name) || name_in_list(c->params[i].aliases, name, len, false))
			return (int)i;
	for (i = 0; c->params[i].name; i++) {
		if (!strncasecmp(c->params[i].name, name, len) || name_in_list(c->params[i].aliases, name, len, true)) {
			found = (int)i;
			nmatch++;
			snprintf(matches + strlen(matches), sizeof(matches) - strlen(matches), " -%s", c->params[i].name);
		}
	}
	if (nmatch == 1)
		return found;
	if (nmatch > 1)
		cli_error(ctx, "Parameter cannot be processed because the parameter name '%s' is ambiguous. Possible matches include:%s.",
			  name, matches);
	else
		cli_error(ctx, "A parameter cannot be found that matches parameter name '%s'. See: Get-Help %s", name,
			  c->name);
	return -1;
}

static const char *type_word(enum cli_ptype t)
{
	switch (t) {
	case P_STRING: return "a string";
	case P_STRINGS: return "one or more strings";
	case P_INT: return "a whole number (size literals such as 512MB allowed)";
	case P_SWITCH: return "a switch";
	case P_BOOL: return "$true or $false";
	case P_BLOCK: return "a script block { ... }";
	case P_ANY: return "a value";
	}
	return "a value";
}

/* Converts an argument to the parameter's type; consumes v. */
static struct wire_value *convert(struct cli_ctx *ctx, const struct cli_param *p, struct wire_value *v)
{
	struct wire_value *r = NULL;
	struct wire_buf b = { 0 };
	int64_t i;
	size_t k;

	switch (p->type) {
	case P_ANY:
		return v;
	case P_STRING:
		if (v->type == WIRE_STRING)
			return v;
		if (v->type != WIRE_LIST && v->type != WIRE_OBJECT && v->type != WIRE_NULL) {
			cli_display(v, &b);
			r = wire_string_len(b.data ? (const char *)b.data : "", b.len);
		}
		break;
	case P_STRINGS:
		r = wire_list();
		if (v->type == WIRE_LIST) {
			for (k = 0; k < v->list.n && r; k++) {
				const struct wire_value *it = v->list.items[k];

				if (it->type == WIRE_OBJECT || it->type == WIRE_LIST || it->type == WIRE_NULL) {
					wire_value_unref(r);
					r = NULL;
					break;
				}
				b.len = 0;
				cli_display(it, &b);
				wire_list_append(r, wire_string_len(b.data ? (const char *)b.data : "", b.len));
			}
		} else if (v->type != WIRE_OBJECT && v->type != WIRE_NULL) {
			cli_display(v, &b);
			wire_list_append(r, wire_string_len(b.data ? (const char *)b.data : "", b.len));
		} else {
			wire_value_unref(r);
			r = NULL;
		}
		break;
	case P_INT:
		if (cli_to_int(v, &i) == 0)
			r = wire_int(i);
		break;
	case P_SWITCH:
	case P_BOOL:
		if (v->type == WIRE_BOOL)
			return v;
		if (v->type == WIRE_INT && (v->i == 0 || v->i == 1))
			r = wire_bool(v->i);
		break;
	case P_BLOCK:
		if (v->type == WIRE_OBJECT && !strcmp(v->obj.type_name, "ScriptBlock"))
			return v;
		break;
	}
	if (!r) {
		b.len = 0;
		cli_display(v, &b);
		wire_buf_put(&b, "", 1);
		cli_error(ctx, "Cannot bind parameter '%s': the value \"%s\" is not %s.", p->name, (const char *)b.data,
			  type_word(p->type));
	}
	wire_buf_free(&b);
	wire_value_unref(v);
	return r;
}

static int bind(struct cli_ctx *ctx, const struct cli_cmdlet *c, const struct cli_node *cmd, struct cli_bound *b)
{
	const struct cli_node *positional[64];
	size_t npos = 0, i, k;
	int pi;

	memset(b, 0, sizeof(*b));
	b->cmdlet = c;
	for (i = 0; i < cmd->nkids; i++) {
		const struct cli_node *kid = cmd->kids[i];
		const struct cli_param *p;
		struct wire_value *v;

		if (kid->kind != N_PARAM) {
			if (npos == 64) {
				cli_error(ctx, "too many positional arguments");
				return -1;
			}
			positional[npos++] = kid;
			continue;
		}
		pi = find_param(ctx, c, kid->text);
		if (pi < 0)
			return -1;
		p = &c->params[pi];
		if (b->values[pi]) {
			cli_error(ctx, "Cannot bind parameter because parameter '%s' is specified more than once.", p->name);
			return -1;
		}
		if (kid->nkids) {
			v = eval(ctx, kid->kids[0]);
		} else if (p->type == P_SWITCH) {
			v = wire_bool(true);
		} else if (i + 1 < cmd->nkids && cmd->kids[i + 1]->kind != N_PARAM) {
			v = eval(ctx, cmd->kids[++i]);
		} else {
			cli_error(ctx, "Missing an argument for parameter '%s'. Specify %s and try again.", p->name,
				  type_word(p->type));
			return -1;
		}
		if (!v || !(b->values[pi] = convert(ctx, p, v)))
			return -1;
	}
	for (k = 0; k < npos; k++) {
		struct wire_value *v;
		int best = -1;

		for (i = 0; c->params[i].name; i++)
			if (c->params[i].position >= 0 && !b->values[i] &&
			    (best < 0 || c->params[i].position < c->params[best].position))
				best = (int)i;
		if (best < 0) {
			struct wire_buf s = { 0 };

			v = eval(ctx, positional[k]);
			if (v)
				cli_display(v, &s);
			wire_buf_put(&s, "", 1);
			cli_error(ctx, "A positional parameter cannot be found that accepts argument '%s'.",
				  (const char *)s.data);
			wire_buf_free(&s);
			wire_value_unref(v);
			return -1;
		}
		v = eval(ctx, positional[k]);
		if (!v || !(b->values[best] = convert(ctx, &c->params[best], v)))
			return -1;
	}
	for (i = 0; c->params[i].name; i++) {
		if ((c->params[i].flags & PF_MANDATORY) && !b->values[i]) {
			cli_error(ctx, "Cannot process command because of one or more missing mandatory parameters: %s.",
				  c->params[i].name);
			return -1;
		}
	}
	return 0;
}

static void unbind(struct cli_bound *b)
{
	size_t i;

	for (i = 0; i < CLI_MAX_PARAMS; i++)
		wire_value_unref(b->values[i]);
}

struct wire_value *cli_arg(const struct cli_bound *b, const char *name)
{
	size_t i;

	for (i = 0; b->cmdlet->params[i].name; i++)
		if (!strcasecmp(b->cmdlet->params[i].name, name))
			return b->values[i];
	return NULL;
}

bool cli_switch(const struct cli_bound *b, const char *name)
{
	const struct wire_value *v = cli_arg(b, name);

	return v && v->type == WIRE_BOOL && v->b;
}

static const char *closest_cmdlet(const char *name)
{
	const struct cli_cmdlet *c;
	size_t i, best_len = 0;
	const char *best = NULL;

	for (i = 0; (c = cli_cmdlet_at(i)); i++) {
		size_t k = 0;

		while (c->name[k] && name[k] && tolower((unsigned char)c->name[k]) == tolower((unsigned char)name[k]))
			k++;
		if (k > best_len) {
			best_len = k;
			best = c->name;
		}
	}
	return best_len >= 4 ? best : NULL;
}

static struct wire_value *run_command(struct cli_ctx *ctx, const struct cli_node *cmd, struct wire_value *input)
{
	const struct cli_cmdlet *c = cli_cmdlet_find(cmd->text);
	const char *saved = ctx->cmdlet_name;
	struct wire_value *out;
	struct cli_bound b;
	int rc;

	if (!c) {
		const char *hint = closest_cmdlet(cmd->text);

		ctx->cmdlet_name = NULL;
		cli_error(ctx, "The term '%s' is not recognized as a name of a cmdlet (line %d, column %d).%s%s%s",
			  cmd->text, cmd->line, cmd->col, hint ? " Did you mean " : " Get-Command lists them.",
			  hint ? hint : "", hint ? "?" : "");
		ctx->cmdlet_name = saved;
		return NULL;
	}
	ctx->cmdlet_name = c->name;
	if (bind(ctx, c, cmd, &b)) {
		unbind(&b);
		ctx->cmdlet_name = saved;
		return NULL;
	}
	out = wire_list();
	rc = c->run(ctx, &b, input, out);
	unbind(&b);
	ctx->cmdlet_name = saved;
	if (rc) {
		wire_value_unref(out);
		return NULL;
	}
	return out;
}

static struct wire_value *run_pipeline(struct cli_ctx *ctx, const struct cli_node *pl)
{
	struct wire_value *data = wire_list();
	size_t i;

	for (i = 0; i < pl->nkids; i++) {
		const struct cli_node *el = pl->kids[i];
		struct wire_value *next;

		if (el->kind == N_COMMAND) {
			next = run_command(ctx, el, data);
		} else if (i == 0) {
			struct wire_value *v = eval(ctx, el);

			next = v ? wire_list() : NULL;
			if (v)
				emit(next, v);
		} else {
			cli_error(ctx, "line %d, column %d: expressions are only allowed as the first element of a pipeline",
				  el->line, el->col);
			next = NULL;
		}
		wire_value_unref(data);
		if (!next)
			return NULL;
		data = next;
	}
	return data;
}

/* Runs statements; their output goes to collect, or to Out-Default when collect is NULL. */
static int run_script(struct cli_ctx *ctx, const struct cli_node *script, struct wire_value *collect)
{
	int failed = 0;
	size_t i;

	for (i = 0; i < script->nkids; i++) {
		const struct cli_node *st = script->kids[i];
		struct wire_value *out;

		if (st->kind == N_ASSIGN) {
			out = run_pipeline(ctx, st->kids[0]);
			if (!out) {
				failed = -1;
				continue;
			}
			cli_var_set(ctx, st->text, collapse(out));
			continue;
		}
		out = run_pipeline(ctx, st);
		if (!out) {
			failed = -1;
			if (collect)
				return -1;
			continue;
		}
		if (collect) {
			emit(collect, out);
		} else {
			cli_out_default(ctx, out);
			wire_value_unref(out);
		}
	}
	return failed;
}

int cli_exec_script(struct cli_ctx *ctx, const struct cli_node *script)
{
	int before = ctx->errors;
	int rc = run_script(ctx, script, NULL);

	return rc || ctx->errors > before ? -1 : 0;
}

int cli_exec_block(struct cli_ctx *ctx, const struct cli_node *block, struct wire_value *item,
		   struct wire_value **result)
{
	struct wire_value *saved = cli_var_get(ctx, "_"), *out = wire_list();
	int rc;

	wire_value_ref(saved);
	cli_var_set(ctx, "_", wire_value_ref(item));
	rc = run_script(ctx, block->kids[0], out);
	cli_var_set(ctx, "_", saved ? saved : wire_null());
	if (rc) {
		wire_value_unref(out);
		return -1;
	}
	*result = out;
	return 0;
}
