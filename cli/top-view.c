/*
 * hvtop's terminal view: draws the model and the UI state, reads nothing.  Layout, top to
 * bottom: title bar, column header, the table (or the detail view, the help, a menu), the
 * events pane, the status line (the last action's hvctl command), the key bar.  Everything
 * is cut to the screen's width, so 80x24 and smaller screens stay tidy.
 */
#include "config.h"

#include <curses.h>
#include <stdio.h>
#include <string.h>

#include "cli/top-view.h"

enum {
	PAIR_TITLE = 1,
	PAIR_HEADER,
	PAIR_RUNNING,
	PAIR_PAUSED,
	PAIR_BUSY,
	PAIR_ERROR,
	PAIR_SELECT,
	PAIR_KEY,
};

static int use_color;

void top_view_init(struct top_ui *ui)
{
	ui->color = 0;
	if (has_colors() && start_color() == OK) {
		use_default_colors();
		init_pair(PAIR_TITLE, COLOR_BLACK, COLOR_CYAN);
		init_pair(PAIR_HEADER, COLOR_BLACK, COLOR_GREEN);
		init_pair(PAIR_RUNNING, COLOR_GREEN, -1);
		init_pair(PAIR_PAUSED, COLOR_YELLOW, -1);
		init_pair(PAIR_BUSY, COLOR_CYAN, -1);
		init_pair(PAIR_ERROR, COLOR_RED, -1);
		init_pair(PAIR_SELECT, COLOR_BLACK, COLOR_CYAN);
		init_pair(PAIR_KEY, COLOR_BLACK, COLOR_CYAN);
		ui->color = 1;
	}
	use_color = ui->color;
}

/* An attribute with a monochrome stand-in. */
static attr_t look(int pair, attr_t mono)
{
	return use_color ? COLOR_PAIR(pair) : mono;
}

static attr_t state_look(const char *state)
{
	if (!strcmp(state, "Running"))
		return look(PAIR_RUNNING, A_BOLD);
	if (!strcmp(state, "Paused"))
		return look(PAIR_PAUSED, A_UNDERLINE);
	if (!strcmp(state, "Off"))
		return A_NORMAL;
	return look(PAIR_BUSY, A_BOLD);
}

/* Text at (y, 0) in attr, cut to the width and padded to it. */
static void line_at(int y, attr_t attr, const char *text)
{
	int w = COLS;

	attrset(attr);
	mvaddnstr(y, 0, text, w);
	if (getcurx(stdscr) < w && getcury(stdscr) == y)
		hline(' ', w - getcurx(stdscr));
	attrset(A_NORMAL);
}

static int events_height(void)
{
	return LINES >= 20 ? 6 : LINES >= 14 ? 4 : 0;
}

size_t top_view_table_rows(void)
{
	int n = LINES - 4 - events_height();

	return n > 0 ? (size_t)n : 0;
}

static void draw_title(const struct top_ui *ui, const struct top_model *m)
{
	char text[512], when[16];

	top_event_time(when, sizeof(when), m->sample_time_ns);
	snprintf(text, sizeof(text), " hvtop  VMs: %zu  running: %zu  sort: %s%s%s%s  %s  %s", m->nvms,
		 top_model_running(m), top_col_title(m->sort), m->reverse ? " (rev)" : "",
		 *m->filter ? "  filter: " : "", m->filter, when, ui->uri);
	line_at(0, look(PAIR_TITLE, A_REVERSE), text);
}

static void draw_table(const struct top_ui *ui, const struct top_model *m)
{
	size_t rows = top_view_table_rows(), i;
	char text[512];

	bool pools = top_model_has_pools(m);
	int status_x = pools ? 85 : 74;

	top_header_text(text, sizeof(text), pools);
	line_at(1, look(PAIR_HEADER, A_REVERSE), text);
	for (i = 0; i < rows; i++) {
		size_t r = ui->scroll + i;
		int y = 2 + (int)i;
		const struct top_vm *vm;

		if (r >= m->nrows) {
			move(y, 0);
			clrtoeol();
			continue;
		}
		vm = &m->vms[m->rows[r]];
		top_row_text(text, sizeof(text), vm, pools);
		if (r == ui->sel) {
			line_at(y, look(PAIR_SELECT, A_REVERSE), text);
			continue;
		}
		line_at(y, A_NORMAL, text);
		if (COLS > 16) {
			attrset(state_look(vm->state));
			mvaddnstr(y, 16, vm->state, COLS - 16 < 9 ? COLS - 16 : 9);
			attrset(A_NORMAL);
		}
		if (COLS > 59 && *vm->heartbeat && strcmp(vm->heartbeat, "OK")) {
			attrset(look(PAIR_ERROR, A_BOLD));
			mvaddnstr(y, 58, vm->heartbeat, COLS - 58 < 10 ? COLS - 58 : 10);
			attrset(A_NORMAL);
		}
		if (COLS > status_x + 1 && (vm->pending || strcmp(vm->status, "Operating normally"))) {
			attrset(vm->pending ? look(PAIR_BUSY, A_BOLD) : look(PAIR_ERROR, A_BOLD));
			mvaddnstr(y, status_x, vm->pending ? vm->pending : vm->status, COLS - status_x);
			attrset(A_NORMAL);
		}
	}
	if (!m->nrows && rows)
		mvaddnstr(2, 0, *m->filter ? " No VM matches the filter (/ to change it)." :
					    " No VMs. Make one with: hvctl -c 'New-VM NAME'", COLS);
}

static void draw_events(const struct top_model *m)
{
	int h = events_height(), y0 = LINES - 2 - h, i;
	char text[256], when[16];

	if (!h)
		return;
	line_at(y0, look(PAIR_HEADER, A_REVERSE), " Events");
	for (i = 1; i < h; i++) {
		const struct top_event *e = top_model_event(m, (size_t)(i - 1));

		text[0] = '\0';
		if (e) {
			top_event_time(when, sizeof(when), e->time_ns);
			snprintf(text, sizeof(text), " %s %s", when, e->text);
		}
		line_at(y0 + i, A_NORMAL, text);
	}
}

static void draw_status(const struct top_ui *ui, const struct top_model *m)
{
	char text[700];

	if (ui->mode == TOP_MODE_FILTER) {
		snprintf(text, sizeof(text), "Filter (Enter: keep, Esc: clear): %s", m->filter);
		line_at(LINES - 2, A_BOLD, text);
		curs_set(1);
		move(LINES - 2, (int)strlen(text) < COLS ? (int)strlen(text) : COLS - 1);
		return;
	}
	curs_set(0);
	if (ui->mode == TOP_MODE_CONFIRM) {
		snprintf(text, sizeof(text), "%s [y/n]", ui->question);
		line_at(LINES - 2, look(PAIR_PAUSED, A_REVERSE) | A_BOLD, text);
		return;
	}
	line_at(LINES - 2, ui->status_error ? look(PAIR_ERROR, A_BOLD) : A_NORMAL, ui->status);
}

static void draw_keys(void)
{
	static const char *const keys[][2] = {
		{ "?", "Help" }, { "Enter", "Info" }, { "s", "Start" }, { "t", "Stop" }, { "T", "Off" },
		{ "p", "Pause" }, { "u", "Resume" }, { "C", "Ckpt" }, { "c", "Console" }, { "/", "Filter" },
		{ ">", "Sort" }, { "q", "Quit" },
	};
	size_t i;
	int x = 0;

	move(LINES - 1, 0);
	clrtoeol();
	for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		int need = (int)(strlen(keys[i][0]) + strlen(keys[i][1]) + 1);

		if (x + need > COLS)
			break;
		attrset(look(PAIR_KEY, A_REVERSE));
		mvaddstr(LINES - 1, x, keys[i][0]);
		attrset(A_NORMAL);
		addstr(keys[i][1]);
		x += need;
	}
}

/* One property's value as text. */
static void value_text(char *buf, size_t len, const char *name, const struct wire_value *v)
{
	struct wire_buf b = { 0 };

	switch (v->type) {
	case WIRE_NULL:
		snprintf(buf, len, "-");
		return;
	case WIRE_BOOL:
		snprintf(buf, len, "%s", v->b ? "True" : "False");
		return;
	case WIRE_INT:
		snprintf(buf, len, "%lld", (long long)v->i);
		return;
	case WIRE_UINT:
		if (!strncmp(name, "Memory", 6) && v->u >= (1u << 20))
			snprintf(buf, len, "%llu MB", (unsigned long long)(v->u >> 20));
		else
			snprintf(buf, len, "%llu", (unsigned long long)v->u);
		return;
	case WIRE_DOUBLE:
		snprintf(buf, len, "%g", v->d);
		return;
	case WIRE_STRING:
		snprintf(buf, len, "%s", v->str.p);
		return;
	case WIRE_TIMESTAMP:
		wire_timestamp_format(&b, v->i);
		break;
	case WIRE_DURATION:
		wire_duration_format(&b, v->i);
		break;
	default:
		snprintf(buf, len, "(%s)", wire_type_name(v->type));
		return;
	}
	snprintf(buf, len, "%.*s", (int)b.len, (const char *)b.data);
	wire_buf_free(&b);
}

/* n values as bars from x on row y, scaled to top (0 still draws a low bar, so the line
 * shows); at most width of them, the newest. */
static void bars(const struct top_ui *ui, int y, int x, const uint32_t *v, unsigned n, uint32_t top, int width)
{
	static const char *const blocks[] = { "\u2581", "\u2582", "\u2583", "\u2584",
					      "\u2585", "\u2586", "\u2587", "\u2588" };
	static const char ascii[] = "_.:-=+*#";
	unsigned i = n > (unsigned)width ? n - (unsigned)width : 0;

	move(y, x);
	attrset(look(PAIR_RUNNING, A_BOLD));
	for (; i < n && getcurx(stdscr) + 1 < COLS; i++) {
		unsigned level = top ? (unsigned)((uint64_t)(v[i] > top ? top : v[i]) * 7 / top) : 0;

		if (ui->utf8)
			addstr(blocks[level]);
		else
			addch((chtype)(unsigned char)ascii[level]);
	}
	attrset(A_NORMAL);
}

static void draw_sparkline(const struct top_ui *ui, const struct top_vm *vm, int y)
{
	uint8_t h[TOP_HISTORY];
	uint32_t v[TOP_HISTORY];
	unsigned n = top_vm_history(vm, h), i, lo = 100, hi = 0, sum = 0;
	char text[128];

	for (i = 0; i < n; i++) {
		lo = h[i] < lo ? h[i] : lo;
		hi = h[i] > hi ? h[i] : hi;
		sum += h[i];
		v[i] = h[i];
	}
	snprintf(text, sizeof(text), " CPU%% over the last %u s: now %lld  min %u  avg %u  max %u", n,
		 (long long)vm->cpu, n ? lo : 0, n ? sum / n : 0, hi);
	line_at(y, A_BOLD, text);
	move(y + 1, 0);
	clrtoeol();
	mvaddstr(y + 1, 1, "|");
	bars(ui, y + 1, 2, v, n, 100, COLS - 4);
	if (getcurx(stdscr) + 1 < COLS)
		addstr("|");
}

/* Processors and VMBus channels of a running VM, from row y; returns the next free row. */
static int draw_bus(const struct top_ui *ui, const struct top_vm *vm, int y, int last)
{
	char text[512];
	size_t k;

	if (y > last)
		return y;
	if (!vm->ncpus && !vm->nchans) {
		mvaddnstr(y++, 0, " Not running: no processors or VMBus channels to show.", COLS);
		return y;
	}
	top_cpus_text(text, sizeof(text), vm);
	snprintf(text + strlen(text), sizeof(text) - strlen(text), "   heartbeat: %s",
		 *vm->heartbeat ? vm->heartbeat : "-");
	mvaddnstr(y++, 1, text, COLS - 1);
	if (y > last)
		return y;
	top_chan_header(text, sizeof(text));
	snprintf(text + strlen(text), sizeof(text) - strlen(text), "  packets/s, last %d s", TOP_HISTORY);
	line_at(y++, look(PAIR_HEADER, A_REVERSE), text);
	for (k = 0; k < vm->nchans && y <= last; k++) {
		const struct top_chan *c = &vm->chans[k];
		uint32_t h[TOP_HISTORY], top = 1;
		unsigned n = top_chan_history(c, h), i;
		int x;

		top_chan_text(text, sizeof(text), c);
		move(y, 0);
		clrtoeol();
		attrset(strcmp(c->state, "Open") ? look(PAIR_ERROR, A_BOLD) : A_NORMAL);
		mvaddnstr(y, 0, text, COLS);
		attrset(A_NORMAL);
		x = (int)strlen(text) + 2;
		for (i = 0; i < n; i++)
			top = h[i] > top ? h[i] : top;
		if (x + 8 < COLS)
			bars(ui, y, x, h, n, top, COLS - x - 1);
		y++;
	}
	return y;
}

/* Writes the VM's properties from row y on: short values two to a row (on 80 columns and
 * more), long ones a row each; returns the next free row. */
static int draw_properties(const struct top_vm *vm, int y, int last)
{
	int ncol = COLS >= 80 ? 2 : 1, colw = COLS / ncol, k = 0, pass;
	char text[512], value[400];
	size_t i;

	for (pass = 0; pass < 2; pass++) {
		for (i = 0; i < vm->obj->obj.n; i++) {
			const struct wire_prop *p = &vm->obj->obj.props[i];
			int isshort;

			if (!strcmp(p->name, "VMName") || !strcmp(p->name, "VMId"))
				continue; /* the same as Name and Id */
			value_text(value, sizeof(value), p->name, p->value);
			isshort = (int)strlen(value) + 18 < colw;
			if (isshort != (pass == 0))
				continue;
			if (y + (pass == 0 ? k / ncol : 0) > last)
				return y;
			snprintf(text, sizeof(text), " %-16s %s", p->name, value);
			if (pass == 0) {
				mvaddnstr(y + k / ncol, (k % ncol) * colw, text, colw - 1);
				k++;
			} else {
				mvaddnstr(y++, 0, text, COLS);
			}
		}
		if (pass == 0)
			y += (k + ncol - 1) / ncol;
	}
	return y;
}

static void draw_detail(const struct top_ui *ui, const struct top_model *m)
{
	const struct top_vm *vm = NULL;
	int y, last = LINES - 3;
	char text[512];

	if (ui->sel < m->nrows)
		vm = &m->vms[m->rows[ui->sel]];
	for (y = 1; y <= last; y++) {
		move(y, 0);
		clrtoeol();
	}
	if (!vm || !vm->obj) {
		line_at(1, look(PAIR_HEADER, A_REVERSE), " The VM is gone. Esc: back to the table");
		return;
	}
	snprintf(text, sizeof(text), " %s  (Esc or Enter: back to the table)", vm->name);
	line_at(1, look(PAIR_HEADER, A_REVERSE), text);
	/* Room for the CPU sparkline and the bus below the properties. */
	y = draw_properties(vm, 2, last - 4 - (int)(vm->nchans ? vm->nchans + 2 : 1)) + 1;
	if (y + 1 <= last)
		draw_sparkline(ui, vm, y);
	draw_bus(ui, vm, y + 3, last);
}

static void draw_help(void)
{
	static const char *const text[] = {
		" hvtop: partitions on this host, live from hvd (man hvtop)",
		"",
		"  Up/Down PgUp/PgDn Home/End  select a VM",
		"  Enter        details of the selected VM: CPU% history, per-vCPU usage,",
		"               every VMBus channel's rates with a packets/s sparkline",
		"  s / t / T    Start-VM / Stop-VM (asks the guest) / Stop-VM -TurnOff",
		"  p / u        Suspend-VM (pause) / Resume-VM",
		"  C            Checkpoint-VM (a standard checkpoint; Ckpt counts them)",
		"  c            Connect-VMConsole (Ctrl-] comes back here)",
		"               t and T ask y/n first; the status line shows the hvctl command",
		"  F6 > <       choose the sort column      r  reverse the order",
		"  /            filter by name or state (Enter keeps it, Esc clears it)",
		"  ? F1         this help                   q  quit (Esc: back)",
		"",
		" Heartbeat: the guest's heartbeat service (red when not OK).",
		" Colours: Running green, Paused yellow, starting/stopping cyan, errors red.",
		"",
		" Press any key to go back.",
	};
	size_t i;
	int y;

	for (y = 1; y < LINES - 2; y++) {
		move(y, 0);
		clrtoeol();
	}
	for (i = 0; i < sizeof(text) / sizeof(text[0]) && (int)i + 1 < LINES - 2; i++)
		mvaddnstr((int)i + 1, 0, text[i], COLS);
}

static void draw_sort_menu(const struct top_ui *ui, const struct top_model *m)
{
	int i, w = 22, h = TOP_NCOLS + 2;

	if (LINES < h + 2 || COLS < w)
		return;
	attrset(look(PAIR_TITLE, A_REVERSE));
	mvaddnstr(2, 0, " Sort by (Enter, Esc) ", w);
	for (i = 0; i < TOP_NCOLS; i++) {
		char text[64];

		snprintf(text, sizeof(text), " %c %-18s", m->sort == (enum top_col)i ? '*' : ' ',
			 top_col_title((enum top_col)i));
		attrset(i == ui->sort_cursor ? look(PAIR_SELECT, A_REVERSE) | A_BOLD : look(PAIR_TITLE, A_REVERSE));
		mvaddnstr(3 + i, 0, text, w);
	}
	attrset(A_NORMAL);
}

void top_view_draw(const struct top_ui *ui, const struct top_model *m)
{
	enum top_mode under = ui->mode == TOP_MODE_TABLE || ui->mode == TOP_MODE_DETAIL ||
				      ui->mode == TOP_MODE_HELP ? ui->mode : ui->back;

	draw_title(ui, m);
	if (under == TOP_MODE_DETAIL) {
		draw_detail(ui, m);
	} else if (under == TOP_MODE_HELP) {
		draw_help();
	} else {
		draw_table(ui, m);
		draw_events(m);
	}
	if (ui->mode == TOP_MODE_SORT)
		draw_sort_menu(ui, m);
	draw_keys();
	draw_status(ui, m);
	wnoutrefresh(stdscr);
	doupdate();
}
