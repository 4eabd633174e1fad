/*
 * Parameter binding against the cmdlet table: names and unique prefixes, aliases,
 * positions, types; the common parameters; -WhatIf and -Confirm.
 */
#include "config.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "cli/cli.h"

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

/* The common parameters: -ErrorAction on every cmdlet, -WhatIf and -Confirm on those that
 * change something.  They bind after the cmdlet's own, as index CLI_MAX_PARAMS + k. */
static const struct cli_param common_params[] = {
	{ "ErrorAction", P_STRING, PF_NOPOS, 0, "EA", "Continue, Stop, SilentlyContinue or Ignore" },
	{ "WhatIf", P_SWITCH, PF_NOPOS, 0, "wi", "Say what would be done, and do nothing" },
	{ "Confirm", P_SWITCH, PF_NOPOS, 0, "cf", "Ask before acting (-Confirm:$false: never ask)" },
	{ "ComputerName", P_STRINGS, PF_NOPOS, 0, "cn", "Run against these hosts (names for ssh://NAME, or URIs); results carry PSComputerName" },
	{ NULL, 0, 0, 0, NULL, NULL },
};

const struct cli_param *cli_common_param(size_t k)
{
	return k < sizeof(common_params) / sizeof(common_params[0]) - 1 ? &common_params[k] : NULL;
}

static bool takes_common(const struct cli_cmdlet *c, size_t k)
{
	if (k == 3)
		return (c->flags & CLI_DAEMON) && !cli_param_named(c, "ComputerName");
	return k == 0 || (c->flags & CLI_CHANGES);
}

bool cli_param_named(const struct cli_cmdlet *c, const char *name)
{
	size_t i;

	for (i = 0; c->params[i].name; i++)
		if (!strcasecmp(c->params[i].name, name))
			return true;
	return false;
}

static const struct cli_param *param_at(const struct cli_cmdlet *c, int i)
{
	return i >= CLI_MAX_PARAMS ? &common_params[i - CLI_MAX_PARAMS] : &c->params[i];
}

static bool matches(const struct cli_param *p, const char *name, size_t len, bool prefix)
{
	if (prefix ? !strncasecmp(p->name, name, len) : !strcasecmp(p->name, name))
		return true;
	return name_in_list(p->aliases, name, len, prefix);
}

static int find_param(struct cli_ctx *ctx, const struct cli_cmdlet *c, const char *name)
{
	size_t len = strlen(name), i, nmatch = 0;
	int found = -1, pass;
	char list[512] = "";

	for (pass = 0; pass < 2; pass++) {
		bool prefix = pass == 1;

		for (i = 0; c->params[i].name; i++) {
			if (matches(&c->params[i], name, len, prefix)) {
				if (!prefix)
					return (int)i;
				found = (int)i;
				nmatch++;
				snprintf(list + strlen(list), sizeof(list) - strlen(list), " -%s", c->params[i].name);
			}
		}
		for (i = 0; common_params[i].name; i++) {
			if (takes_common(c, i) && matches(&common_params[i], name, len, prefix)) {
				if (!prefix)
					return CLI_MAX_PARAMS + (int)i;
				found = CLI_MAX_PARAMS + (int)i;
				nmatch++;
				snprintf(list + strlen(list), sizeof(list) - strlen(list), " -%s", common_params[i].name);
			}
		}
	}
	if (nmatch == 1)
		return found;
	if (nmatch > 1)
		cli_error(ctx, "Parameter cannot be processed because the parameter name '%s' is ambiguous. Possible matches include:%s.",
			  name, list);
	else
		cli_error(ctx, "A parameter cannot be found that matches parameter name '%s'. See: Get-Help %s", name,
			  c->name);
	return -1;
}

/* Stores a common parameter's value (consumed). */
static int bind_common(struct cli_ctx *ctx, struct cli_bound *b, int k, struct wire_value *v)
{
	static const char *const actions[] = { "Continue", "Stop", "SilentlyContinue", "Ignore" };
	int i, rc = 0;

	switch (k) {
	case 0:
		for (i = 0; i < 4; i++)
			if (!strcasecmp(v->str.p, actions[i]))
				b->error_action = i;
		if (b->error_action < 0) {
			cli_error(ctx, "Cannot bind parameter 'ErrorAction': \"%s\" is not one of Continue, Stop, SilentlyContinue, Ignore.",
				  v->str.p);
			rc = -1;
		}
		break;
	case 1:
		b->whatif = v->b;
		break;
	case 2:
		b->confirm = v->b;
		break;
	default:
		b->computers = wire_value_ref(v);
		break;
	}
	wire_value_unref(v);
	return rc;
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

int cli_bind(struct cli_ctx *ctx, const struct cli_cmdlet *c, const struct cli_node *cmd, struct cli_bound *b)
{
	const struct cli_node *positional[64];
	size_t npos = 0, i, k;
	int pi;

	memset(b, 0, sizeof(*b));
	b->cmdlet = c;
	b->confirm = -1;
	b->error_action = -1;
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
		p = param_at(c, pi);
		if (pi < CLI_MAX_PARAMS && b->values[pi]) {
			cli_error(ctx, "Cannot bind parameter because parameter '%s' is specified more than once.", p->name);
			return -1;
		}
		if (kid->nkids) {
			v = cli_eval(ctx, kid->kids[0]);
		} else if (p->type == P_SWITCH) {
			v = wire_bool(true);
		} else if (i + 1 < cmd->nkids && cmd->kids[i + 1]->kind != N_PARAM) {
			v = cli_eval(ctx, cmd->kids[++i]);
		} else {
			cli_error(ctx, "Missing an argument for parameter '%s'. Specify %s and try again.", p->name,
				  type_word(p->type));
			return -1;
		}
		if (!v || !(v = convert(ctx, p, v)))
			return -1;
		if (pi >= CLI_MAX_PARAMS) {
			if (bind_common(ctx, b, pi - CLI_MAX_PARAMS, v))
				return -1;
			continue;
		}
		b->values[pi] = v;
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

			v = cli_eval(ctx, positional[k]);
			if (v)
				cli_display(v, &s);
			wire_buf_put(&s, "", 1);
			cli_error(ctx, "A positional parameter cannot be found that accepts argument '%s'.",
				  (const char *)s.data);
			wire_buf_free(&s);
			wire_value_unref(v);
			return -1;
		}
		v = cli_eval(ctx, positional[k]);
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

void cli_unbind(struct cli_bound *b)
{
	size_t i;

	for (i = 0; i < CLI_MAX_PARAMS; i++)
		wire_value_unref(b->values[i]);
	wire_value_unref(b->filter);
	b->filter = NULL;
	wire_value_unref(b->computers);
	b->computers = NULL;
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


static bool stdin_is_terminal(void)
{
	return isatty(0) && isatty(2);
}

bool cli_should_process(struct cli_ctx *ctx, const struct cli_bound *b, const char *action, const char *target)
{
	bool ask = b->confirm == 1 || (b->confirm == -1 && (b->cmdlet->flags & CLI_CONFIRM) && !cli_switch(b, "Force"));
	char line[64];

	if (b->whatif) {
		fflush(ctx->out);
		fprintf(ctx->out, "What if: Performing the operation \"%s\" on target \"%s\".\n", action, target);
		return false;
	}
	if (!ask || ctx->yes_to_all)
		return true;
	if (ctx->no_to_all)
		return false;
	if (!stdin_is_terminal()) {
		cli_error(ctx, "%s on \"%s\" needs confirmation and there is no terminal to ask on: add %s.", action,
			  target, b->confirm == 1 ? "-Confirm:$false" : "-Force or -Confirm:$false");
		return false;
	}
	fflush(ctx->out);
	fprintf(stderr, "\nConfirm\nAre you sure you want to perform this action?\nPerforming the operation \"%s\" on target \"%s\".\n",
		action, target);
	for (;;) {
		fprintf(stderr, "[Y] Yes  [A] Yes to All  [N] No  [L] No to All (default is \"Y\"): ");
		fflush(stderr);
		if (!fgets(line, sizeof(line), stdin))
			return false;
		line[strcspn(line, "\r\n")] = '\0';
		if (!line[0] || !strcasecmp(line, "y") || !strcasecmp(line, "yes"))
			return true;
		if (!strcasecmp(line, "a")) {
			ctx->yes_to_all = true;
			return true;
		}
		if (!strcasecmp(line, "n") || !strcasecmp(line, "no"))
			return false;
		if (!strcasecmp(line, "l")) {
			ctx->no_to_all = true;
			return false;
		}
		/* Anything else is asked again, as PowerShell does. */
	}
}
