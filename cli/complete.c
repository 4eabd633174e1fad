/*
 * Completion, for the interactive shell and for `hvctl __complete LINE` (behind the bash
 * and zsh scripts): cmdlet and function names, parameters (the cmdlet's and the common
 * ones), values of a parameter ($true/$false, -ErrorAction's, file names for paths) and,
 * live from hvd, the names of VMs.
 */
#include "config.h"

#include <ctype.h>
#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "cli/cli.h"

#define BREAKS "|;({"

/* The words of the command the cursor is in (after the last | ; ( or {), as offsets. */
struct cmdline {
	size_t start[64], len[64];
	size_t n;
};

static void split_command(const char *line, size_t end, struct cmdline *cl)
{
	size_t i = end, s;

	while (i > 0 && !strchr(BREAKS, line[i - 1]))
		i--;
	cl->n = 0;
	while (i < end && cl->n < 64) {
		while (i < end && isspace((unsigned char)line[i]))
			i++;
		if (i >= end)
			break;
		s = i;
		while (i < end && !isspace((unsigned char)line[i]))
			i++;
		cl->start[cl->n] = s;
		cl->len[cl->n] = i - s;
		cl->n++;
	}
}

static bool prefix_of(const char *word, size_t wlen, const char *name)
{
	return strlen(name) >= wlen && !strncasecmp(name, word, wlen);
}

static void complete_vm_names(struct cli_ctx *ctx, const char *word, size_t wlen, FILE *f)
{
	struct wire_value *reply = NULL, *args;
	int saved;
	size_t i;

	if (!ctx)
		return;
	saved = ctx->error_action;
	ctx->error_action = EA_IGNORE; /* no daemon: no names, and no noise */
	args = wire_object("Arguments");
	if (cli_call(ctx, WIRE_PROC_VM_LIST, args, &reply) == 0) {
		for (i = 0; i < reply->list.n; i++) {
			const char *name;

			if (wire_object_get_string(reply->list.items[i], "Name", &name) || !prefix_of(word, wlen, name))
				continue;
			if (strpbrk(name, " \t'\"$|;(){}#,`"))
				continue; /* would need quoting the completer cannot do mid-word */
			fprintf(f, "%s\n", name);
		}
	}
	wire_value_unref(reply);
	wire_value_unref(args);
	ctx->error_action = saved;
	ctx->conn_failed = false;
	ctx->no_connection = false;
}

static void complete_paths(const char *word, size_t wlen, FILE *f)
{
	char dir[4096], *slash;
	const char *base;
	struct dirent *e;
	DIR *d;

	snprintf(dir, sizeof(dir), "%.*s", (int)wlen, word);
	slash = strrchr(dir, '/');
	if (slash) {
		slash[1] = '\0';
		base = word + (slash - dir) + 1;
	} else {
		strcpy(dir, "./");
		base = word;
	}
	d = opendir(dir);
	if (!d)
		return;
	while ((e = readdir(d))) {
		size_t blen = wlen - (size_t)(base - word);
		struct stat st;
		char full[8192];

		if (e->d_name[0] == '.' && base[0] != '.')
			continue;
		if (strncmp(e->d_name, base, blen))
			continue;
		snprintf(full, sizeof(full), "%s%s", dir, e->d_name);
		fprintf(f, "%s%s%s\n", slash ? dir : "", e->d_name,
			stat(full, &st) == 0 && S_ISDIR(st.st_mode) ? "/" : "");
	}
	closedir(d);
}

static bool common_applies(const struct cli_cmdlet *c, size_t k)
{
	if (k == 3)
		return (c->flags & CLI_DAEMON) && !cli_param_named(c, "ComputerName");
	return k == 0 || (c->flags & CLI_CHANGES);
}

static bool names_a_vm(const struct cli_cmdlet *c, const struct cli_param *p)
{
	return (c->flags & CLI_DAEMON) && strcmp(c->name, "New-VM") &&
	       (!strcasecmp(p->name, "Name") || !strcasecmp(p->name, "VMName"));
}

static void complete_value(struct cli_ctx *ctx, const struct cli_cmdlet *c, const struct cli_param *p,
			   const char *word, size_t wlen, FILE *f)
{
	static const char *const bools[] = { "$true", "$false", NULL };
	static const char *const actions[] = { "Continue", "Stop", "SilentlyContinue", "Ignore", NULL };
	const char *const *list = NULL;

	if (p->type == P_BOOL)
		list = bools;
	else if (!strcmp(p->name, "ErrorAction"))
		list = actions;
	else if (names_a_vm(c, p))
		complete_vm_names(ctx, word, wlen, f);
	else if (!strcasecmp(p->name, "Path") || !strcasecmp(p->name, "FilePath"))
		complete_paths(word, wlen, f);
	for (; list && *list; list++)
		if (prefix_of(word, wlen, *list))
			fprintf(f, "%s\n", *list);
}

/* The parameter a word such as -Na names (exact or unique prefix), or NULL. */
static const struct cli_param *param_named(const struct cli_cmdlet *c, const char *w, size_t len)
{
	const struct cli_param *found = NULL, *p;
	size_t i, n = 0;

	for (i = 0; c->params[i].name; i++) {
		if (strlen(c->params[i].name) == len && !strncasecmp(c->params[i].name, w, len))
			return &c->params[i];
		if (prefix_of(w, len, c->params[i].name)) {
			found = &c->params[i];
			n++;
		}
	}
	for (i = 0; (p = cli_common_param(i)); i++) {
		if (common_applies(c, i) && prefix_of(w, len, p->name)) {
			found = p;
			n++;
		}
	}
	return n == 1 ? found : NULL;
}

void cli_complete_words(struct cli_ctx *ctx, const char *line, FILE *f)
{
	size_t end = strlen(line), i, wlen = 0;
	const struct cli_cmdlet *c;
	const struct cli_param *p;
	struct cmdline cl;
	const char *word = line + end;
	char name[128];

	split_command(line, end, &cl);
	if (end && !isspace((unsigned char)line[end - 1]) && !strchr(BREAKS, line[end - 1]) && cl.n) {
		word = line + cl.start[cl.n - 1];
		wlen = cl.len[cl.n - 1];
		cl.n--; /* the word being completed is not one of the words before it */
	}
	if (cl.n == 0) {
		for (i = 0; (c = cli_cmdlet_at(i)); i++)
			if (prefix_of(word, wlen, c->name))
				fprintf(f, "%s\n", c->name);
		for (i = 0; ctx && i < ctx->nfunctions; i++)
			if (prefix_of(word, wlen, ctx->functions[i]->text))
				fprintf(f, "%s\n", ctx->functions[i]->text);
		return;
	}
	snprintf(name, sizeof(name), "%.*s", (int)cl.len[0], line + cl.start[0]);
	c = cli_cmdlet_find(name);
	if (!c)
		return;
	if (wlen && word[0] == '-') {
		for (i = 0; c->params[i].name; i++)
			if (prefix_of(word + 1, wlen - 1, c->params[i].name))
				fprintf(f, "-%s\n", c->params[i].name);
		for (i = 0; (p = cli_common_param(i)); i++)
			if (common_applies(c, i) && prefix_of(word + 1, wlen - 1, p->name))
				fprintf(f, "-%s\n", p->name);
		return;
	}
	/* A value: of the parameter just named, or else of the first positional one. */
	p = NULL;
	if (cl.n >= 2 && line[cl.start[cl.n - 1]] == '-') {
		p = param_named(c, line + cl.start[cl.n - 1] + 1, cl.len[cl.n - 1] - 1);
		if (p && p->type == P_SWITCH)
			p = NULL;
	} else if (cl.n == 1) {
		for (i = 0; c->params[i].name; i++)
			if (c->params[i].position == 0)
				p = &c->params[i];
	}
	if (p)
		complete_value(ctx, c, p, word, wlen, f);
}
