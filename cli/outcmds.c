/*
 * The cmdlets at the end of a pipeline: formatting, conversion, output; and the ones that
 * describe hvctl itself (Get-Member, Get-Help, Get-Command).
 */
#include "config.h"

#include <errno.h>
#include <fnmatch.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"

static struct wire_value *format_output(struct wire_buf *text)
{
	struct wire_value *o = wire_object("FormatOutput");

	wire_object_set(o, "Text", wire_string_len(text->data ? (const char *)text->data : "", text->len));
	wire_buf_free(text);
	return o;
}

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

static int write_begin(struct cli_ctx *ctx, struct cli_stage *st)
{
	struct wire_value *v = cli_arg(&st->args, "InputObject"), *list = wire_list();
	size_t i;
	int rc = 0;

	if (v)
		cli_unroll(list, wire_value_ref(v));
	for (i = 0; i < list->list.n && rc == 0; i++)
		rc = cli_emit(ctx, st, wire_value_ref(list->list.items[i]));
	wire_value_unref(list);
	return rc < 0 ? -1 : 0;
}

static int write_process(struct cli_ctx *ctx, struct cli_stage *st, struct wire_value *item)
{
	return cli_emit(ctx, st, wire_value_ref(item)) < 0 ? -1 : 0;
}

static const struct cli_param write_params[] = {
	{ "InputObject", P_ANY, 0, 0, NULL, "The objects to write to the pipeline" },
	{ NULL, 0, 0, 0, NULL, NULL },
};

static const struct cli_param no_params[] = { { NULL, 0, 0, 0, NULL, NULL } };

static int out_null_process(struct cli_ctx *ctx, struct cli_stage *st, struct wire_value *item)
{
	return 0;
}

static int run_out_file(struct cli_ctx *ctx, const struct cli_bound *b, struct wire_value *in, struct wire_value *out)
{
	const char *path = cli_arg(b, "FilePath")->str.p;
	bool append = cli_switch(b, "Append");
	struct wire_buf text = { 0 };
	FILE *f;
	int rc = 0;

	if (cli_switch(b, "NoClobber") && !append && access(path, F_OK) == 0) {
		cli_error(ctx, "The file '%s' already exists (-NoClobber).", path);
		return -1;
	}
	if (!cli_should_process(ctx, b, "Output to File", path))
		return 0;
	f = fopen(path, append ? "a" : "w");
	if (!f) {
		cli_error(ctx, "Cannot open '%s': %s.", path, strerror(errno));
		return -1;
	}
	cli_render(OUT_TABLE, in, &text);
	if (text.len && fwrite(text.data, 1, text.len, f) != text.len)
		rc = -1;
	if (fclose(f) != 0)
		rc = -1;
	if (rc)
		cli_error(ctx, "Cannot write '%s': %s.", path, strerror(errno));
	wire_buf_free(&text);
	return rc;
}

static const struct cli_param out_file_params[] = {
	{ "FilePath", P_STRING, 0, PF_MANDATORY, "Path", "The file to write" },
	{ "Append", P_SWITCH, PF_NOPOS, 0, NULL, "Add to the end of the file" },
	{ "NoClobber", P_SWITCH, PF_NOPOS, 0, NULL, "Do not overwrite an existing file" },
	{ "Force", P_SWITCH, PF_NOPOS, 0, NULL, "Accepted for compatibility" },
	{ NULL, 0, 0, 0, NULL, NULL },
};

/* Write-Host writes to the terminal, not to the pipeline. */
static int write_host_begin(struct cli_ctx *ctx, struct cli_stage *st)
{
	struct wire_value *obj = cli_arg(&st->args, "Object"), *sep = cli_arg(&st->args, "Separator");
	struct wire_buf text = { 0 };
	size_t i;

	if (!obj)
		return 0; /* only what is piped in */
	if (obj->type == WIRE_LIST) {
		for (i = 0; i < obj->list.n; i++) {
			if (i)
				cli_display(sep ? sep : &(struct wire_value){ .refs = 1, .type = WIRE_STRING,
									      .str = { " ", 1 } }, &text);
			cli_display(obj->list.items[i], &text);
		}
	} else {
		cli_display(obj, &text);
	}
	if (!cli_switch(&st->args, "NoNewline"))
		wire_buf_put(&text, "\n", 1);
	fwrite(text.data, 1, text.len, ctx->out);
	fflush(ctx->out);
	wire_buf_free(&text);
	return 0;
}

static int write_host_process(struct cli_ctx *ctx, struct cli_stage *st, struct wire_value *item)
{
	struct wire_buf text = { 0 };

	cli_display(item, &text);
	if (!cli_switch(&st->args, "NoNewline"))
		wire_buf_put(&text, "\n", 1);
	fwrite(text.data, 1, text.len, ctx->out);
	fflush(ctx->out);
	wire_buf_free(&text);
	return 0;
}

static int start_sleep_begin(struct cli_ctx *ctx, struct cli_stage *st)
{
	struct wire_value *s = cli_arg(&st->args, "Seconds"), *ms = cli_arg(&st->args, "Milliseconds");
	int64_t total;
	struct timespec ts;

	if ((s && (s->i < 0 || s->i > 86400)) || (ms && (ms->i < 0 || ms->i > 86400000))) {
		cli_error(ctx, "Start-Sleep takes 0 to 86400 seconds.");
		return -1;
	}
	total = (s ? s->i * 1000 : 0) + (ms ? ms->i : 0);
	if (total > 86400000) {
		cli_error(ctx, "Start-Sleep takes 0 to 86400 seconds.");
		return -1;
	}
	ts.tv_sec = total / 1000;
	ts.tv_nsec = (total % 1000) * 1000000;
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
	return 0;
}

static const struct cli_param start_sleep_params[] = {
	{ "Seconds", P_INT, 0, 0, NULL, "How long to wait, in seconds" },
	{ "Milliseconds", P_INT, PF_NOPOS, 0, NULL, "How long to wait, in milliseconds (added)" },
	{ NULL, 0, 0, 0, NULL, NULL },
};

static const struct cli_param write_host_params[] = {
	{ "Object", P_ANY, 0, 0, NULL, "What to write (a list is joined with spaces)" },
	{ "NoNewline", P_SWITCH, PF_NOPOS, 0, NULL, "No line break at the end" },
	{ "Separator", P_STRING, PF_NOPOS, 0, NULL, "Put between the items of a list" },
	{ NULL, 0, 0, 0, NULL, NULL },
};

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
		wire_object_set(o, "Source", wire_string(c->flags & CLI_DAEMON ? "hvd" : "hvctl"));
		wire_object_set(o, "Synopsis", wire_string(c->synopsis));
		wire_list_append(out, o);
	}
	return 0;
}

static const struct cli_param command_params[] = {
	{ "Name", P_STRING, 0, 0, NULL, "Only the cmdlets whose names match (wildcards allowed)" },
	{ NULL, 0, 0, 0, NULL, NULL },
};


const struct cli_cmdlet cli_output_cmdlets[] = {
	{ .name = "Format-Table", .aliases = "ft", .synopsis = "Shows objects as a table", .params = format_table_params,
	  .run = run_format_table, .example = "Get-VM | Format-Table Name, State, ProcessorCount" },
	{ .name = "Format-List", .aliases = "fl", .synopsis = "Shows each property of each object on its own line",
	  .params = format_list_params, .run = run_format_list, .example = "Get-VM web1 | Format-List *" },
	{ .name = "ConvertTo-Json", .synopsis = "Converts objects to JSON (no depth truncation by default)",
	  .params = to_json_params, .run = run_to_json, .example = "Get-VM | ConvertTo-Json -Depth 1 -Compress" },
	{ .name = "ConvertTo-Csv", .synopsis = "Converts objects to CSV lines", .params = to_csv_params,
	  .run = run_to_csv, .example = "Get-VM | Select-Object Name, State | ConvertTo-Csv" },
	{ .name = "Out-File", .synopsis = "Writes objects, formatted as on screen, to a file", .params = out_file_params,
	  .run = run_out_file, .flags = CLI_CHANGES, .example = "Get-VM | Out-File -FilePath vms.txt" },
	{ .name = "Out-Null", .synopsis = "Discards its input", .params = no_params, .process = out_null_process,
	  .example = "New-VM web1 | Out-Null" },
	{ .name = "Write-Output", .aliases = "echo,write", .synopsis = "Writes objects to the pipeline",
	  .params = write_params, .begin = write_begin, .process = write_process, .example = "Write-Output 1, 2, 3" },
	{ .name = "Write-Host", .synopsis = "Writes text to the terminal (not to the pipeline)",
	  .params = write_host_params, .begin = write_host_begin, .process = write_host_process, .example = "Write-Host \"done: $n VMs\"" },
	{ .name = "Start-Sleep", .aliases = "sleep", .synopsis = "Waits", .params = start_sleep_params,
	  .begin = start_sleep_begin, .example = "Start-Sleep 2\nStart-Sleep -Milliseconds 500" },
	{ .name = "Get-Member", .aliases = "gm", .synopsis = "Lists the properties of the objects' types",
	  .params = no_params, .run = run_get_member, .example = "Get-VM | Get-Member" },
	{ .name = "Get-Help", .aliases = "help", .synopsis = "Describes a cmdlet, its parameters and examples",
	  .params = help_params, .run = run_get_help, .example = "Get-Help Set-VMProcessor" },
	{ .name = "Get-Command", .aliases = "gcm", .synopsis = "Lists the cmdlets", .params = command_params,
	  .run = run_get_command, .example = "Get-Command *-VM" },
	{ .name = NULL },
};
