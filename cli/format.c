/*
 * Output: the per-type default views, Format-Table, Format-List, CSV and JSON, and
 * Out-Default, which picks among them as PowerShell does (a type with a view is a table;
 * other objects are a table up to four properties and a list beyond).
 */
#include "config.h"

#include <fnmatch.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "cli/cli.h"

enum col_transform { T_NONE, T_MB, T_SECONDS };

struct view_col {
	const char *header;
	const char *prop;
	enum col_transform t;
};

struct view {
	const char *type;
	struct view_col cols[10];
};

/* The default table of each type, Hyper-V's columns where Hyper-V has a view. */
static const struct view views[] = {
	{ "VirtualMachine",
	  { { "Name", "Name", T_NONE }, { "State", "State", T_NONE }, { "CPUUsage(%)", "CPUUsage", T_NONE },
	    { "MemoryAssigned(M)", "MemoryAssigned", T_MB }, { "Uptime", "Uptime", T_SECONDS },
	    { "Status", "Status", T_NONE }, { "Version", "Version", T_NONE } } },
	{ "VMCheckpoint",
	  { { "VMName", "VMName", T_NONE }, { "Name", "Name", T_NONE }, { "CheckpointType", "CheckpointType", T_NONE },
	    { "CreationTime", "CreationTime", T_NONE }, { "ParentCheckpointName", "ParentCheckpointName", T_NONE } } },
	{ "HardDiskDrive",
	  { { "VMName", "VMName", T_NONE }, { "ControllerType", "ControllerType", T_NONE },
	    { "ControllerNumber", "ControllerNumber", T_NONE }, { "ControllerLocation", "ControllerLocation", T_NONE },
	    { "DiskNumber", "DiskNumber", T_NONE }, { "Path", "Path", T_NONE } } },
	{ "VMProcessor",
	  { { "VMName", "VMName", T_NONE }, { "Count", "Count", T_NONE }, { "Reserve", "Reserve", T_NONE },
	    { "Maximum", "Maximum", T_NONE }, { "RelativeWeight", "RelativeWeight", T_NONE } } },
	{ "VMMemory",
	  { { "VMName", "VMName", T_NONE }, { "DynamicMemoryEnabled", "DynamicMemoryEnabled", T_NONE },
	    { "Minimum(M)", "Minimum", T_MB }, { "Startup(M)", "Startup", T_MB }, { "Maximum(M)", "Maximum", T_MB },
	    { "Buffer", "Buffer", T_NONE }, { "Priority", "Priority", T_NONE } } },
	{ "VMIntegrationComponent",
	  { { "VMName", "VMName", T_NONE }, { "Name", "Name", T_NONE }, { "Enabled", "Enabled", T_NONE },
	    { "PrimaryStatusDescription", "PrimaryStatusDescription", T_NONE }, { "Version", "Version", T_NONE } } },
	{ "VMBusChannel",
	  { { "VMName", "VMName", T_NONE }, { "ChannelId", "ChannelId", T_NONE }, { "Name", "Name", T_NONE },
	    { "State", "State", T_NONE }, { "PacketsIn", "PacketsIn", T_NONE }, { "PacketsOut", "PacketsOut", T_NONE },
	    { "BytesIn", "BytesIn", T_NONE }, { "BytesOut", "BytesOut", T_NONE },
	    { "InterruptsIn", "InterruptsIn", T_NONE }, { "InterruptsOut", "InterruptsOut", T_NONE } } },
	{ "VMSample",
	  { { "Time", "Time", T_NONE }, { "VMName", "VMName", T_NONE }, { "State", "State", T_NONE },
	    { "CPUUsage(%)", "CPUUsage", T_NONE }, { "MemoryAssigned(M)", "MemoryAssigned", T_MB },
	    { "Exits/s", "ExitsPerSecond", T_NONE }, { "VMBusPackets/s", "VMBusPacketsPerSecond", T_NONE },
	    { "VMBusBytes/s", "VMBusBytesPerSecond", T_NONE } } },
	{ "VMPool",
	  { { "Name", "Name", T_NONE }, { "MemberCount", "MemberCount", T_NONE }, { "RunningCount", "RunningCount", T_NONE },
	    { "DiskUsage(M)", "DiskUsage", T_MB }, { "RollbackOnStop", "RollbackOnStop", T_NONE },
	    { "ParentPath", "ParentPath", T_NONE } } },
	{ "VMEvent",
	  { { "Time", "Time", T_NONE }, { "EventType", "EventType", T_NONE }, { "VMName", "VMName", T_NONE },
	    { "User", "User", T_NONE } } },
};

static const struct view *view_for(const struct wire_value *v)
{
	size_t i;

	if (v->type != WIRE_OBJECT)
		return NULL;
	for (i = 0; i < sizeof(views) / sizeof(views[0]); i++)
		if (!strcmp(views[i].type, v->obj.type_name))
			return &views[i];
	return NULL;
}

static bool is_format_output(const struct wire_value *v)
{
	return v->type == WIRE_OBJECT && !strcmp(v->obj.type_name, "FormatOutput");
}

static void cell(const struct wire_value *obj, const char *prop, enum col_transform t, struct wire_buf *out)
{
	const struct wire_value *v = obj->type == WIRE_OBJECT ? wire_object_get(obj, prop) : NULL;

	if (!v)
		return;
	if (t == T_MB && (v->type == WIRE_UINT || v->type == WIRE_INT)) {
		wire_buf_printf(out, "%llu", (unsigned long long)(v->type == WIRE_UINT ? v->u : (uint64_t)v->i) >> 20);
	} else if (t == T_SECONDS && v->type == WIRE_DURATION) {
		wire_duration_format(out, v->i - v->i % 1000000000);
	} else {
		cli_display(v, out);
	}
}

static bool numeric(const struct wire_value *obj, const char *prop)
{
	const struct wire_value *v = obj->type == WIRE_OBJECT ? wire_object_get(obj, prop) : NULL;

	return v && (v->type == WIRE_INT || v->type == WIRE_UINT || v->type == WIRE_DOUBLE);
}

/* Width in columns of UTF-8 text, counting each code point as one. */
static size_t text_width(const char *s, size_t len)
{
	size_t i, w = 0;

	for (i = 0; i < len; i++)
		if (((unsigned char)s[i] & 0xc0) != 0x80)
			w++;
	return w;
}

static int term_width(void)
{
	struct winsize ws;

	if (isatty(1) && ioctl(1, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 20)
		return ws.ws_col;
	return 0;
}

struct column {
	const char *header;
	const char *prop;
	enum col_transform t;
	size_t width;
	bool right;
};

static void put_padded(struct wire_buf *out, const char *s, size_t len, size_t width, bool right, bool last)
{
	size_t w = text_width(s, len), pad = width > w ? width - w : 0;

	if (right)
		wire_buf_printf(out, "%*s", (int)pad, "");
	wire_buf_put(out, s, len);
	if (!right && !last)
		wire_buf_printf(out, "%*s", (int)pad, "");
}

/* Cuts a line to the terminal's width, so tables do not wrap. */
static void end_line(struct wire_buf *out, size_t line_start, int width)
{
	size_t len = out->len - line_start;

	while (len > 0 && out->data[line_start + len - 1] == ' ')
		len--;
	out->len = line_start + len;
	if (width > 0 && text_width((const char *)out->data + line_start, len) > (size_t)width) {
		size_t i = line_start, w = 0;

		while (i < out->len && w < (size_t)width - 3) {
			i++;
			while (i < out->len && (out->data[i] & 0xc0) == 0x80)
				i++;
			w++;
		}
		out->len = i;
		wire_buf_put(out, "...", 3);
	}
	wire_buf_put(out, "\n", 1);
}

static size_t columns_for(const struct wire_value *first, const struct wire_value *props, struct column *cols,
			  size_t max)
{
	const struct view *view = view_for(first);
	size_t n = 0, i;

	if (props && props->type == WIRE_LIST && props->list.n) {
		for (i = 0; i < props->list.n && n < max; i++) {
			const struct wire_value *p = props->list.items[i];

			if (p->type != WIRE_STRING)
				continue;
			if (strpbrk(p->str.p, "*?[") && first->type == WIRE_OBJECT) {
				size_t k;

				for (k = 0; k < first->obj.n && n < max; k++)
					if (fnmatch(p->str.p, first->obj.props[k].name, FNM_CASEFOLD) == 0)
						cols[n++] = (struct column){ first->obj.props[k].name, first->obj.props[k].name,
									     T_NONE, 0, false };
				continue;
			}
			cols[n++] = (struct column){ p->str.p, p->str.p, T_NONE, 0, false };
		}
		return n;
	}
	if (view) {
		for (i = 0; i < 10 && view->cols[i].header && n < max; i++)
			cols[n++] = (struct column){ view->cols[i].header, view->cols[i].prop, view->cols[i].t, 0, false };
		return n;
	}
	if (first->type == WIRE_OBJECT)
		for (i = 0; i < first->obj.n && n < max; i++)
			cols[n++] = (struct column){ first->obj.props[i].name, first->obj.props[i].name, T_NONE, 0, false };
	return n;
}

void cli_format_table(const struct wire_value *items, const struct wire_value *props, struct wire_buf *out)
{
	struct column cols[64];
	struct wire_buf tmp = { 0 };
	size_t ncols, i, k, line;
	int width = term_width();

	if (!items->list.n)
		return;
	ncols = columns_for(items->list.items[0], props, cols, 64);
	if (!ncols) {
		for (i = 0; i < items->list.n; i++) {
			cli_display(items->list.items[i], out);
			wire_buf_put(out, "\n", 1);
		}
		return;
	}
	for (k = 0; k < ncols; k++) {
		bool all_num = true, any = false;

		cols[k].width = text_width(cols[k].header, strlen(cols[k].header));
		for (i = 0; i < items->list.n; i++) {
			tmp.len = 0;
			cell(items->list.items[i], cols[k].prop, cols[k].t, &tmp);
			if (text_width((const char *)tmp.data, tmp.len) > cols[k].width)
				cols[k].width = text_width((const char *)tmp.data, tmp.len);
			if (tmp.len) {
				any = true;
				all_num &= numeric(items->list.items[i], cols[k].prop);
			}
		}
		cols[k].right = any && all_num;
	}
	line = out->len;
	for (k = 0; k < ncols; k++) {
		put_padded(out, cols[k].header, strlen(cols[k].header), cols[k].width, cols[k].right, k + 1 == ncols);
		if (k + 1 < ncols)
			wire_buf_put(out, " ", 1);
	}
	end_line(out, line, width);
	line = out->len;
	for (k = 0; k < ncols; k++) {
		size_t hw = text_width(cols[k].header, strlen(cols[k].header));

		if (cols[k].right)
			wire_buf_printf(out, "%*s", (int)(cols[k].width - hw), "");
		for (i = 0; i < hw; i++)
			wire_buf_put(out, "-", 1);
		if (!cols[k].right && k + 1 < ncols)
			wire_buf_printf(out, "%*s", (int)(cols[k].width - hw), "");
		if (k + 1 < ncols)
			wire_buf_put(out, " ", 1);
	}
	end_line(out, line, width);
	for (i = 0; i < items->list.n; i++) {
		line = out->len;
		for (k = 0; k < ncols; k++) {
			tmp.len = 0;
			cell(items->list.items[i], cols[k].prop, cols[k].t, &tmp);
			put_padded(out, tmp.data ? (const char *)tmp.data : "", tmp.len, cols[k].width, cols[k].right,
				   k + 1 == ncols);
			if (k + 1 < ncols)
				wire_buf_put(out, " ", 1);
		}
		end_line(out, line, width);
	}
	wire_buf_free(&tmp);
}

void cli_format_list(const struct wire_value *items, const struct wire_value *props, struct wire_buf *out)
{
	size_t i, k, w;

	for (i = 0; i < items->list.n; i++) {
		const struct wire_value *o = items->list.items[i];
		struct column cols[256];
		size_t ncols;

		if (o->type != WIRE_OBJECT) {
			cli_display(o, out);
			wire_buf_put(out, "\n", 1);
			continue;
		}
		if (props && props->type == WIRE_LIST && props->list.n) {
			ncols = columns_for(o, props, cols, 256);
		} else {
			/* A list shows every property, as Format-List * does. */
			ncols = 0;
			for (k = 0; k < o->obj.n && ncols < 256; k++)
				cols[ncols++] = (struct column){ o->obj.props[k].name, o->obj.props[k].name, T_NONE, 0, false };
		}
		for (w = 0, k = 0; k < ncols; k++)
			if (strlen(cols[k].header) > w)
				w = strlen(cols[k].header);
		if (i)
			wire_buf_put(out, "\n", 1);
		for (k = 0; k < ncols; k++) {
			wire_buf_printf(out, "%-*s : ", (int)w, cols[k].header);
			cell(o, cols[k].prop, cols[k].t, out);
			wire_buf_put(out, "\n", 1);
		}
	}
}

static void csv_field(struct wire_buf *out, const struct wire_value *v)
{
	struct wire_buf s = { 0 };
	size_t i;

	if (v)
		cli_display(v, &s);
	wire_buf_put(out, "\"", 1);
	for (i = 0; i < s.len; i++) {
		if (s.data[i] == '"')
			wire_buf_put(out, "\"", 1);
		wire_buf_put(out, &s.data[i], 1);
	}
	wire_buf_put(out, "\"", 1);
	wire_buf_free(&s);
}

void cli_format_csv(const struct wire_value *items, struct wire_buf *out)
{
	const struct wire_value *first;
	size_t i, k;

	if (!items->list.n)
		return;
	first = items->list.items[0];
	if (first->type != WIRE_OBJECT) {
		wire_buf_printf(out, "\"Value\"\n");
		for (i = 0; i < items->list.n; i++) {
			csv_field(out, items->list.items[i]);
			wire_buf_put(out, "\n", 1);
		}
		return;
	}
	for (k = 0; k < first->obj.n; k++) {
		struct wire_value *name = wire_string(first->obj.props[k].name);

		if (k)
			wire_buf_put(out, ",", 1);
		csv_field(out, name);
		wire_value_unref(name);
	}
	wire_buf_put(out, "\n", 1);
	for (i = 0; i < items->list.n; i++) {
		for (k = 0; k < first->obj.n; k++) {
			if (k)
				wire_buf_put(out, ",", 1);
			csv_field(out, wire_object_get(items->list.items[i], first->obj.props[k].name));
		}
		wire_buf_put(out, "\n", 1);
	}
}

/* ConvertTo-Json: one item is itself, several are an array, as PowerShell writes them. */
void cli_format_json(const struct wire_value *items, int depth, bool compress, struct wire_buf *out)
{
	const struct wire_value *v = items->list.n == 1 ? items->list.items[0] : items;

	wire_value_to_json(v, out, compress ? 0 : 2, depth);
}

static bool wants_table(const struct wire_value *v)
{
	return view_for(v) || (v->type == WIRE_OBJECT && v->obj.n <= 4);
}

void cli_render(enum cli_output mode, const struct wire_value *items, struct wire_buf *b)
{
	size_t i, j;

	if (!items->list.n)
		return;
	switch (mode) {
	case OUT_JSON:
		cli_format_json(items, -1, false, b);
		wire_buf_put(b, "\n", 1);
		return;
	case OUT_JSONL:
		for (i = 0; i < items->list.n; i++) {
			wire_value_to_json(items->list.items[i], b, 0, -1);
			wire_buf_put(b, "\n", 1);
		}
		return;
	case OUT_CSV:
		cli_format_csv(items, b);
		return;
	case OUT_TABLE:
	case OUT_LIST:
		break;
	}
	for (i = 0; i < items->list.n; i = j) {
		const struct wire_value *v = items->list.items[i];
		struct wire_value run = { .refs = 1, .type = WIRE_LIST };

		if (is_format_output(v)) {
			const struct wire_value *t = wire_object_get(v, "Text");

			if (t && t->type == WIRE_STRING)
				wire_buf_put(b, t->str.p, t->str.len);
			j = i + 1;
			continue;
		}
		if (v->type != WIRE_OBJECT) {
			cli_display(v, b);
			wire_buf_put(b, "\n", 1);
			j = i + 1;
			continue;
		}
		/* A run of objects of one type is formatted together. */
		for (j = i; j < items->list.n && items->list.items[j]->type == WIRE_OBJECT &&
			    !strcmp(items->list.items[j]->obj.type_name, v->obj.type_name);
		     j++)
			;
		run.list.items = &items->list.items[i];
		run.list.n = j - i;
		if (i)
			wire_buf_put(b, "\n", 1);
		if (mode == OUT_TABLE && wants_table(v))
			cli_format_table(&run, NULL, b);
		else
			cli_format_list(&run, NULL, b);
	}
}

void cli_out_part(struct cli_ctx *ctx, struct wire_value *items, bool continued)
{
	struct wire_buf b = { 0 };
	size_t skip = 0;

	if (!items->list.n)
		return;
	cli_render(ctx->output, items, &b);
	/* A table goes on under the header already written: drop the blank line, the header and
	 * its underline. */
	if (continued && (ctx->output == OUT_TABLE) && items->list.items[0]->type == WIRE_OBJECT &&
	    wants_table(items->list.items[0])) {
		const char *dashes = memmem(b.data, b.len, "\n-", 2);
		const char *eol = dashes ? memchr(dashes + 1, '\n', b.len - (size_t)(dashes + 1 - (const char *)b.data)) : NULL;

		if (eol)
			skip = (size_t)(eol + 1 - (const char *)b.data);
	}
	/* ... and the blank line a table ends with, until the end. */
	if (ctx->output == OUT_TABLE && b.len - skip >= 2 && b.data[b.len - 1] == '\n' && b.data[b.len - 2] == '\n')
		b.len--;
	if (b.len > skip)
		fwrite(b.data + skip, 1, b.len - skip, ctx->out);
	fflush(ctx->out);
	wire_buf_free(&b);
}

void cli_out_default(struct cli_ctx *ctx, struct wire_value *items)
{
	struct wire_buf b = { 0 };

	cli_render(ctx->output, items, &b);
	if (b.len)
		fwrite(b.data, 1, b.len, ctx->out);
	fflush(ctx->out);
	wire_buf_free(&b);
}
