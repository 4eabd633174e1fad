/*
 * Running a parsed script: statements (if, foreach, function, return, break, continue),
 * and pipelines whose stages stream objects one at a time, so that Select-Object -First can
 * stop the stages before it.
 */
#include "config.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cli/cli.h"

struct cli_pipe {
	struct cli_stage *stages;
	size_t n;
	struct wire_value *sink; /* what the last stage outputs */
	bool stopped;
	size_t stopper;          /* the stage that asked the ones before it to stop */
};

void cli_ctx_init(struct cli_ctx *ctx)
{
	memset(ctx, 0, sizeof(*ctx));
	ctx->out = stdout;
	ctx->error_action = -1;
}

void cli_ctx_free(struct cli_ctx *ctx)
{
	size_t i;

	cli_scope_pop(ctx, 0);
	free(ctx->vars);
	free(ctx->blocks);
	free(ctx->functions);
	if (ctx->session_host) {
		free((char *)ctx->uri);
		ctx->uri = ctx->session_uri;
		free(ctx->session_host);
		ctx->session_host = NULL;
	}
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

/* The error action in force: the running cmdlet's -ErrorAction, else
 * $ErrorActionPreference, else Continue. */
static int error_action(struct cli_ctx *ctx)
{
	static const char *const names[] = { "Continue", "Stop", "SilentlyContinue", "Ignore" };
	const struct wire_value *pref;
	int i;

	if (ctx->error_action >= 0)
		return ctx->error_action;
	pref = cli_var_get(ctx, "ErrorActionPreference");
	if (pref && pref->type == WIRE_STRING)
		for (i = 0; i < 4; i++)
			if (!strcasecmp(pref->str.p, names[i]))
				return i;
	return EA_CONTINUE;
}

void cli_error(struct cli_ctx *ctx, const char *fmt, ...)
{
	int action = error_action(ctx);
	va_list ap;

	if (action == EA_SILENTLY_CONTINUE || action == EA_IGNORE)
		return;
	fflush(ctx->out);
	if (ctx->origin && ctx->line)
		fprintf(stderr, "%s:%d:%d: ", ctx->origin, ctx->line, ctx->col);
	else if (ctx->line && !ctx->interactive && !ctx->cmdlet_name)
		fprintf(stderr, "line %d, column %d: ", ctx->line, ctx->col);
	if (ctx->cmdlet_name)
		fprintf(stderr, "%s: ", ctx->cmdlet_name);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	ctx->errors++;
	if (action == EA_STOP)
		ctx->stop_script = true;
}

void cli_error_record(struct cli_ctx *ctx, const struct wire_value *rec)
{
	const char *msg = "unknown error";

	if (wire_object_get_string(rec, "Message", &msg) != 0 && rec->type == WIRE_STRING)
		msg = rec->str.p;
	cli_error(ctx, "%s", msg);
}

/* ---- stages ---- */

/* What errors name while a stage runs: its cmdlet, its -ErrorAction, where it stands. */
static void enter(struct cli_ctx *ctx, const struct cli_stage *st)
{
	ctx->cmdlet_name = st->cmdlet ? st->cmdlet->name : st->function->text;
	ctx->error_action = st->args.error_action;
	ctx->line = st->node->line;
	ctx->col = st->node->col;
}

static int deliver(struct cli_ctx *ctx, struct cli_pipe *pipe, size_t to, struct wire_value *item)
{
	struct cli_stage *st;
	int rc;

	if (to == pipe->n) {
		wire_list_append(pipe->sink, item);
		return 0;
	}
	st = &pipe->stages[to];
	if (!st->cmdlet || !st->cmdlet->process) {
		wire_list_append(st->acc, item); /* a batch stage takes everything at its end */
		return 0;
	}
	enter(ctx, st);
	rc = st->cmdlet->process(ctx, st, item);
	wire_value_unref(item);
	return rc < 0 || ctx->stop_script ? -1 : 0;
}

int cli_emit(struct cli_ctx *ctx, struct cli_stage *st, struct wire_value *item)
{
	struct cli_pipe *pipe = st->pipe;
	const char *name = ctx->cmdlet_name;
	int action = ctx->error_action, line = ctx->line, col = ctx->col, rc;

	if (pipe->stopped && st->index < pipe->stopper) {
		wire_value_unref(item);
		return CLI_STOP;
	}
	if (item->type == WIRE_NULL) {
		wire_value_unref(item);
		return 0;
	}
	rc = deliver(ctx, pipe, st->index + 1, item);
	ctx->cmdlet_name = name;
	ctx->error_action = action;
	ctx->line = line;
	ctx->col = col;
	if (rc)
		return rc;
	return pipe->stopped && st->index < pipe->stopper ? CLI_STOP : 0;
}

void cli_flush_live(struct cli_ctx *ctx, struct cli_stage *st)
{
	struct cli_pipe *pipe = st->pipe;
	size_t i;

	if (st->index + 1 != pipe->n || !ctx->live_sink || pipe->sink != ctx->live_sink || !pipe->sink->list.n)
		return;
	cli_out_part(ctx, pipe->sink, ctx->live_started);
	ctx->live_started = true;
	for (i = 0; i < pipe->sink->list.n; i++)
		wire_value_unref(pipe->sink->list.items[i]);
	pipe->sink->list.n = 0;
}

void cli_stop_upstream(struct cli_ctx *ctx, struct cli_stage *st)
{
	(void)ctx;
	if (!st->pipe->stopped || st->index > st->pipe->stopper) {
		st->pipe->stopped = true;
		st->pipe->stopper = st->index;
	}
}

/* Feeds a list (consumed) into the first stage, as if a stage before it emitted it. */
static int feed(struct cli_ctx *ctx, struct cli_pipe *pipe, struct wire_value *list)
{
	size_t i;
	int rc = 0;

	for (i = 0; i < list->list.n && rc == 0; i++) {
		if (pipe->stopped)
			break;
		rc = deliver(ctx, pipe, 0, wire_value_ref(list->list.items[i]));
	}
	wire_value_unref(list);
	return rc;
}

static struct cli_node *find_function(struct cli_ctx *ctx, const char *name)
{
	size_t i;

	for (i = ctx->nfunctions; i-- > 0;)
		if (!strcasecmp(ctx->functions[i]->text, name))
			return ctx->functions[i];
	return NULL;
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

static int call_function(struct cli_ctx *ctx, struct cli_stage *st, const struct cli_node *cmd);

/* Sets up one stage: the cmdlet and its bound arguments, or a user function. */
static int stage_init(struct cli_ctx *ctx, struct cli_pipe *pipe, size_t i, const struct cli_node *cmd)
{
	struct cli_stage *st = &pipe->stages[i];

	st->pipe = pipe;
	st->index = i;
	st->node = cmd;
	ctx->line = cmd->line;
	ctx->col = cmd->col;
	st->acc = wire_list();
	st->args.error_action = -1;
	st->function = find_function(ctx, cmd->text);
	if (st->function)
		return 0;
	st->cmdlet = cli_cmdlet_find(cmd->text);
	if (!st->cmdlet) {
		const char *hint = closest_cmdlet(cmd->text);

		ctx->cmdlet_name = NULL;
		cli_error(ctx, "The term '%s' is not recognized as a name of a cmdlet or function.%s%s%s", cmd->text,
			  hint ? " Did you mean " : " Get-Command lists them.", hint ? hint : "", hint ? "?" : "");
		return -1;
	}
	ctx->cmdlet_name = st->cmdlet->name;
	return cli_bind(ctx, st->cmdlet, cmd, &st->args);
}

static int stage_end(struct cli_ctx *ctx, struct cli_stage *st, const struct cli_node *cmd)
{
	struct wire_value *out;
	size_t i;
	int rc = 0;

	enter(ctx, st);
	if (st->function)
		return call_function(ctx, st, cmd);
	if (st->cmdlet->end)
		return st->cmdlet->end(ctx, st);
	if (!st->cmdlet->run)
		return 0;
	out = wire_list();
	if (st->args.computers)
		rc = cli_run_on_hosts(ctx, st->cmdlet, &st->args, st->acc, out);
	else
		rc = st->cmdlet->run(ctx, &st->args, st->acc, out);
	for (i = 0; rc == 0 && i < out->list.n; i++)
		if ((rc = cli_emit(ctx, st, wire_value_ref(out->list.items[i]))) == CLI_STOP)
			rc = 0;
	wire_value_unref(out);
	return rc;
}

/* Get-VM | Where-Object Property -op Value: the daemon filters (one reply with only what
 * matches).  The Where-Object stage stays, so the result is the same either way. */
static void push_down_filter(struct cli_pipe *pipe)
{
	static const char *const ops[] = { "EQ", "NE", "GT", "GE", "LT", "LE", "Like", "NotLike", NULL };
	struct cli_stage *src = &pipe->stages[0], *where = &pipe->stages[1];
	const struct wire_value *prop, *value;
	struct wire_value *filter;
	size_t i;

	if (pipe->n < 2 || !src->cmdlet || !where->cmdlet || strcmp(src->cmdlet->name, "Get-VM") ||
	    strcmp(where->cmdlet->name, "Where-Object"))
		return;
	prop = cli_arg(&where->args, "Property");
	value = cli_arg(&where->args, "Value");
	if (!prop || prop->type != WIRE_STRING || !value || value->type == WIRE_LIST || value->type == WIRE_OBJECT)
		return;
	for (i = 0; ops[i]; i++)
		if (cli_switch(&where->args, ops[i]))
			break;
	if (!ops[i])
		return;
	filter = wire_object("Filter");
	wire_object_set(filter, "Property", wire_value_ref((struct wire_value *)prop));
	wire_object_set(filter, "Operator", wire_stringf("-%s", ops[i]));
	wire_object_set(filter, "Value", wire_value_ref((struct wire_value *)value));
	src->args.filter = filter;
}

int cli_run_pipeline(struct cli_ctx *ctx, const struct cli_node *pl, struct wire_value *sink)
{
	struct cli_pipe pipe = { .sink = sink };
	struct wire_value *first = NULL;
	const char *saved_name = ctx->cmdlet_name;
	int saved_action = ctx->error_action;
	size_t i, skip = 0;
	int rc = 0;

	ctx->yes_to_all = ctx->no_to_all = false; /* "to All" answers last one statement */
	if (pl->nkids && pl->kids[0]->kind != N_COMMAND) {
		first = cli_eval(ctx, pl->kids[0]);
		if (!first)
			return -1;
		skip = 1;
	}
	for (i = skip; i < pl->nkids; i++) {
		if (pl->kids[i]->kind != N_COMMAND) {
			cli_error(ctx, "line %d, column %d: expressions are only allowed as the first element of a pipeline",
				  pl->kids[i]->line, pl->kids[i]->col);
			wire_value_unref(first);
			return -1;
		}
	}
	pipe.n = pl->nkids - skip;
	pipe.stages = calloc(pipe.n + 1, sizeof(*pipe.stages));
	if (!pipe.stages)
		abort();
	for (i = 0; i < pipe.n && rc == 0; i++)
		rc = stage_init(ctx, &pipe, i, pl->kids[i + skip]);
	if (rc == 0 && !first)
		push_down_filter(&pipe);
	for (i = 0; i < pipe.n && rc == 0; i++) {
		struct cli_stage *st = &pipe.stages[i];

		if (st->cmdlet && st->cmdlet->begin) {
			enter(ctx, st);
			rc = st->cmdlet->begin(ctx, st);
		}
	}
	if (rc == 0 && first) {
		struct wire_value *list = wire_list();

		cli_unroll(list, first);
		first = NULL;
		if (pipe.n)
			rc = feed(ctx, &pipe, list);
		else
			cli_unroll(sink, list);
	}
	for (i = 0; i < pipe.n && rc == 0; i++)
		rc = stage_end(ctx, &pipe.stages[i], pl->kids[i + skip]);
	for (i = 0; i < pipe.n; i++) {
		cli_unbind(&pipe.stages[i].args);
		wire_value_unref(pipe.stages[i].acc);
	}
	free(pipe.stages);
	wire_value_unref(first);
	ctx->cmdlet_name = saved_name;
	ctx->error_action = saved_action;
	return rc < 0 || ctx->stop_script ? -1 : 0;
}

/* ---- functions ---- */

/* Binds a call's arguments to the function's parameters: -Name value or in order; the
 * rest are $args, the pipeline's input is $input. */
static int bind_function(struct cli_ctx *ctx, const struct cli_node *fn, const struct cli_node *cmd,
			 struct wire_value *input)
{
	const struct cli_node *params = fn->kids[0];
	struct wire_value **vals = calloc(params->nkids + 1, sizeof(*vals)), *rest = wire_list();
	size_t i, k, next_pos = 0;
	int rc = 0;

	if (!vals)
		abort();
	for (i = 0; i < cmd->nkids && rc == 0; i++) {
		const struct cli_node *kid = cmd->kids[i];
		struct wire_value *v;

		if (kid->kind == N_PARAM) {
			for (k = 0; k < params->nkids && strcasecmp(params->kids[k]->text, kid->text); k++)
				;
			if (k == params->nkids) {
				cli_error(ctx, "A parameter cannot be found that matches parameter name '%s' (function %s).",
					  kid->text, fn->text);
				rc = -1;
				break;
			}
			if (kid->nkids)
				v = cli_eval(ctx, kid->kids[0]);
			else if (i + 1 < cmd->nkids && cmd->kids[i + 1]->kind != N_PARAM)
				v = cli_eval(ctx, cmd->kids[++i]);
			else
				v = wire_bool(true);
			if (!v)
				rc = -1;
			wire_value_unref(vals[k]);
			vals[k] = v;
			continue;
		}
		v = cli_eval(ctx, kid);
		if (!v) {
			rc = -1;
			break;
		}
		while (next_pos < params->nkids && vals[next_pos])
			next_pos++;
		if (next_pos < params->nkids)
			vals[next_pos++] = v;
		else
			wire_list_append(rest, v);
	}
	for (k = 0; k < params->nkids; k++) {
		if (rc == 0 && !vals[k] && params->kids[k]->nkids)
			vals[k] = cli_eval(ctx, params->kids[k]->kids[0]);
		if (rc == 0)
			cli_var_set(ctx, params->kids[k]->text, vals[k] ? vals[k] : wire_null());
		else
			wire_value_unref(vals[k]);
	}
	free(vals);
	if (rc == 0) {
		cli_var_set(ctx, "args", rest);
		cli_var_set(ctx, "input", wire_value_ref(input));
	} else {
		wire_value_unref(rest);
	}
	return rc;
}

static int call_function(struct cli_ctx *ctx, struct cli_stage *st, const struct cli_node *cmd)
{
	const struct cli_node *fn = st->function;
	size_t saved_scope = ctx->scope_start, start = ctx->nvars, i;
	struct wire_value *out = wire_list();
	int rc;

	if (ctx->call_depth >= CLI_MAX_CALL_DEPTH) {
		cli_error(ctx, "The function %s calls itself (or others) more than %d deep.", fn->text, CLI_MAX_CALL_DEPTH);
		wire_value_unref(out);
		return -1;
	}
	ctx->call_depth++;
	ctx->scope_start = start;
	rc = bind_function(ctx, fn, cmd, st->acc);
	if (rc == 0)
		rc = cli_run_script(ctx, fn->kids[1]->kids[0], out);
	if (ctx->flow == FLOW_RETURN)
		ctx->flow = FLOW_NORMAL;
	cli_scope_pop(ctx, start);
	ctx->scope_start = saved_scope;
	ctx->call_depth--;
	for (i = 0; rc == 0 && i < out->list.n; i++)
		if ((rc = cli_emit(ctx, st, wire_value_ref(out->list.items[i]))) == CLI_STOP)
			rc = 0;
	wire_value_unref(out);
	return rc;
}

static void define_function(struct cli_ctx *ctx, const struct cli_node *fn)
{
	if (ctx->nfunctions == ctx->capfunctions) {
		ctx->capfunctions = ctx->capfunctions ? ctx->capfunctions * 2 : 8;
		ctx->functions = realloc(ctx->functions, ctx->capfunctions * sizeof(*ctx->functions));
		if (!ctx->functions)
			abort();
	}
	ctx->functions[ctx->nfunctions++] = (struct cli_node *)fn;
}

/* ---- statements ---- */

static int run_statement(struct cli_ctx *ctx, const struct cli_node *st, struct wire_value *out);

static int run_if(struct cli_ctx *ctx, const struct cli_node *n, struct wire_value *out)
{
	size_t i;

	for (i = 0; i + 1 < n->nkids; i += 2) {
		struct wire_value *c = wire_list();
		bool yes;

		if (cli_run_pipeline(ctx, n->kids[i], c)) {
			wire_value_unref(c);
			return -1;
		}
		c = cli_collapse(c);
		yes = cli_truthy(c);
		wire_value_unref(c);
		if (yes)
			return cli_run_script(ctx, n->kids[i + 1]->kids[0], out);
	}
	if (n->nkids % 2)
		return cli_run_script(ctx, n->kids[n->nkids - 1]->kids[0], out);
	return 0;
}

static int run_foreach(struct cli_ctx *ctx, const struct cli_node *n, struct wire_value *out)
{
	struct wire_value *items = wire_list();
	size_t i;
	int rc;

	rc = cli_run_pipeline(ctx, n->kids[0], items);
	for (i = 0; rc == 0 && i < items->list.n; i++) {
		cli_var_set(ctx, n->text, wire_value_ref(items->list.items[i]));
		rc = cli_run_script(ctx, n->kids[1]->kids[0], out);
		if (ctx->flow == FLOW_CONTINUE) {
			ctx->flow = FLOW_NORMAL;
		} else if (ctx->flow == FLOW_BREAK) {
			ctx->flow = FLOW_NORMAL;
			break;
		} else if (ctx->flow == FLOW_RETURN) {
			break;
		}
	}
	wire_value_unref(items);
	return rc;
}

static int run_statement(struct cli_ctx *ctx, const struct cli_node *st, struct wire_value *out)
{
	struct wire_value *v;
	int rc;

	ctx->line = st->kind == N_PIPELINE && st->nkids ? st->kids[0]->line : st->line;
	ctx->col = st->kind == N_PIPELINE && st->nkids ? st->kids[0]->col : st->col;

	switch (st->kind) {
	case N_ASSIGN:
		v = wire_list();
		if (cli_run_pipeline(ctx, st->kids[0], v)) {
			wire_value_unref(v);
			return -1;
		}
		v = cli_collapse(v);
		if (!strncasecmp(st->text, "env:", 4)) {
			struct wire_buf s = { 0 };

			cli_display(v, &s);
			wire_buf_put(&s, "", 1);
			setenv(st->text + 4, (const char *)s.data, 1);
			wire_buf_free(&s);
			wire_value_unref(v);
			return 0;
		}
		cli_var_set(ctx, st->text, v);
		return 0;
	case N_IF:
		return run_if(ctx, st, out);
	case N_FOREACH:
		return run_foreach(ctx, st, out);
	case N_FUNCTION:
		define_function(ctx, st);
		return 0;
	case N_RETURN:
		rc = st->nkids ? cli_run_pipeline(ctx, st->kids[0], out) : 0;
		ctx->flow = FLOW_RETURN;
		return rc;
	case N_BREAK:
		ctx->flow = FLOW_BREAK;
		return 0;
	case N_CONTINUE:
		ctx->flow = FLOW_CONTINUE;
		return 0;
	case N_ARRAY: /* param( ) outside a function: nothing to bind */
		return 0;
	default:
		return cli_run_pipeline(ctx, st, out);
	}
}

/* Runs statements; their output goes to collect, or statement by statement to Out-Default
 * when collect is NULL.  A failed statement does not stop the next (unless -ErrorAction Stop
 * said so); the result says whether any failed. */
int cli_run_script(struct cli_ctx *ctx, const struct cli_node *script, struct wire_value *collect)
{
	int failed = 0;
	size_t i;

	for (i = 0; i < script->nkids && !ctx->stop_script && ctx->flow == FLOW_NORMAL; i++) {
		struct wire_value *out = collect ? collect : wire_list(), *saved_sink = ctx->live_sink;
		bool saved_started = ctx->live_started;

		if (!collect) {
			ctx->live_sink = out;
			ctx->live_started = false;
		}
		if (run_statement(ctx, script->kids[i], out))
			failed = -1;
		if (!collect) {
			if (ctx->live_started)
				cli_out_part(ctx, out, true);
			else
				cli_out_default(ctx, out);
			wire_value_unref(out);
			ctx->live_sink = saved_sink;
			ctx->live_started = saved_started;
		}
	}
	return failed || ctx->stop_script ? -1 : 0;
}

int cli_exec_script(struct cli_ctx *ctx, const struct cli_node *script)
{
	int before = ctx->errors;
	int rc = cli_run_script(ctx, script, NULL);

	ctx->flow = FLOW_NORMAL;
	ctx->stop_script = false;
	return rc || ctx->errors > before ? -1 : 0;
}

int cli_exec_block(struct cli_ctx *ctx, const struct cli_node *block, struct wire_value *item,
		   struct wire_value **result)
{
	struct wire_value *saved = wire_value_ref(cli_var_get(ctx, "_")), *out = wire_list();
	int rc;

	cli_var_set(ctx, "_", wire_value_ref(item));
	rc = cli_run_script(ctx, block->kids[0], out);
	if (ctx->flow == FLOW_RETURN)
		ctx->flow = FLOW_NORMAL; /* return leaves the block, as in ForEach-Object */
	cli_var_set(ctx, "_", saved ? saved : wire_null());
	if (rc) {
		wire_value_unref(out);
		return -1;
	}
	*result = out;
	return 0;
}
