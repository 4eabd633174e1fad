/*
 * hvtop's interactive loop: one poll() over the terminal, the connection to hvd and the
 * pipe that finished actions come back on.  Keys change the UI state (top-view.h) or start
 * an action; the screen is redrawn once per interval and at once after a key, an event or an
 * action's outcome, never more (ncurses sends only what changed).
 */
#include "config.h"

#include <curses.h>
#include <errno.h>
#include <langinfo.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cli/top-view.h"

#define KEY_ESC 27
#define CTRL_L 12

enum { KEEP, QUIT };

static int64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static struct top_vm *selected(const struct top_ui *ui, struct top_model *m)
{
	return ui->sel < m->nrows ? &m->vms[m->rows[ui->sel]] : NULL;
}

/* Finds the selected VM again after the rows changed (by Id), and keeps it on screen. */
static void sync_selection(struct top_ui *ui, struct top_model *m)
{
	size_t i, rows = top_view_table_rows();
	struct top_vm *vm;

	for (i = 0; i < m->nrows; i++) {
		if (!strcmp(m->vms[m->rows[i]].id, ui->sel_id)) {
			ui->sel = i;
			break;
		}
	}
	if (ui->sel >= m->nrows)
		ui->sel = m->nrows ? m->nrows - 1 : 0;
	vm = selected(ui, m);
	snprintf(ui->sel_id, sizeof(ui->sel_id), "%s", vm ? vm->id : "");
	if (ui->sel < ui->scroll)
		ui->scroll = ui->sel;
	if (rows && ui->sel >= ui->scroll + rows)
		ui->scroll = ui->sel - rows + 1;
	if (ui->scroll + rows > m->nrows)
		ui->scroll = m->nrows > rows ? m->nrows - rows : 0;
}

static void move_selection(struct top_ui *ui, struct top_model *m, long by)
{
	long to = (long)ui->sel + by;
	struct top_vm *vm;

	if (to < 0 || !m->nrows)
		to = 0;
	else if (to >= (long)m->nrows)
		to = (long)m->nrows - 1;
	ui->sel = (size_t)to;
	vm = selected(ui, m);
	snprintf(ui->sel_id, sizeof(ui->sel_id), "%s", vm ? vm->id : "");
}

static void say(struct top_ui *ui, int error, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void say(struct top_ui *ui, int error, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(ui->status, sizeof(ui->status), fmt, ap);
	va_end(ap);
	ui->status_error = error;
}

static void run_action(struct top_ui *ui, struct top_conn *t, struct top_model *m, enum top_action a)
{
	const struct top_action_info *info = top_action_info(a);
	struct top_vm *vm = selected(ui, m);
	char cmd[600], pending[64];
	int rc;

	if (!vm) {
		say(ui, 1, "No VM selected.");
		return;
	}
	top_action_command(cmd, sizeof(cmd), a, vm->name);
	rc = top_action_run(t, a, vm->id, vm->name);
	if (rc) {
		say(ui, 1, "%s: cannot start it: %s", cmd, strerror(-rc));
		return;
	}
	snprintf(pending, sizeof(pending), "%s%s%s pending", info->cmdlet, *info->option ? " " : "", info->option);
	free(vm->pending);
	vm->pending = strdup(pending);
	say(ui, 0, "%s  (pending)", cmd);
}

static void ask(struct top_ui *ui, struct top_model *m, enum top_action a)
{
	const struct top_action_info *info = top_action_info(a);
	struct top_vm *vm = selected(ui, m);
	char cmd[600];

	if (!vm) {
		say(ui, 1, "No VM selected.");
		return;
	}
	top_action_command(cmd, sizeof(cmd), a, vm->name);
	snprintf(ui->question, sizeof(ui->question), "%s %.100s%s? %.400s", info->verb, vm->name, info->after, cmd);
	ui->confirm = a;
	ui->back = ui->mode;
	ui->mode = TOP_MODE_CONFIRM;
}

static void take_results(struct top_ui *ui, struct top_conn *t, struct top_model *m)
{
	struct top_result *r;

	while ((r = top_action_take(t))) {
		struct top_vm *vm = top_model_find(m, r->vm_id);
		char cmd[600];

		top_action_command(cmd, sizeof(cmd), r->action, r->vm_name);
		if (vm) {
			free(vm->pending);
			vm->pending = NULL;
		}
		if (r->rc) {
			say(ui, 1, "%s: failed: %s", cmd, strerror(-r->rc));
		} else if (r->status != WIRE_OK) {
			say(ui, 1, "%s: %s", cmd, r->message ? r->message : "failed");
			top_model_note(m, m->sample_time_ns, "%s: %s", top_action_info(r->action)->cmdlet,
				       r->message ? r->message : "failed");
		} else {
			say(ui, 0, "%s  (done)", cmd);
		}
		top_result_free(r);
	}
}

/* The hvctl beside this hvtop (same build or install), else the one on PATH. */
static void hvctl_path(char *buf, size_t len)
{
	char self[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	char *slash;

	if (n > 0) {
		self[n] = '\0';
		slash = strrchr(self, '/');
		if (slash) {
			*slash = '\0';
			snprintf(buf, len, "%s/hvctl", self);
			if (access(buf, X_OK) == 0)
				return;
		}
	}
	snprintf(buf, len, "hvctl");
}

/* Connect-VMConsole through hvctl, with the screen handed over; the subscriptions are kept
 * drained meanwhile, so hvd never has to hold a long queue for us. */
static int console(struct top_ui *ui, struct top_conn *t, struct top_model *m)
{
	struct top_vm *vm = selected(ui, m);
	char script[600], cmd[600], hvctl[PATH_MAX + 8];
	struct sigaction ign = { .sa_handler = SIG_IGN }, old;
	unsigned changed;
	pid_t pid;
	int st = 0, rc = 0;

	if (!vm) {
		say(ui, 1, "No VM selected.");
		return 0;
	}
	top_hvctl_script(script, sizeof(script), "Connect-VMConsole", vm->name, "");
	top_hvctl_command(cmd, sizeof(cmd), "Connect-VMConsole", vm->name, "");
	hvctl_path(hvctl, sizeof(hvctl));
	def_prog_mode();
	endwin();
	printf("hvtop: %s (Ctrl-] comes back to hvtop)\n", cmd);
	fflush(stdout);
	sigaction(SIGINT, &ign, &old);
	pid = fork();
	if (pid == 0) {
		sigaction(SIGINT, &old, NULL);
		execlp(hvctl, "hvctl", "-H", t->uri, "-c", script, (char *)NULL);
		_exit(127);
	}
	while (pid > 0 && waitpid(pid, &st, WNOHANG) == 0 && rc == 0)
		rc = top_conn_pump(t, m, 200, &changed);
	if (pid > 0 && rc)
		waitpid(pid, &st, 0);
	sigaction(SIGINT, &old, NULL);
	reset_prog_mode();
	clearok(curscr, TRUE);
	if (pid < 0)
		say(ui, 1, "%s: cannot fork: %s", cmd, strerror(errno));
	else if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
		say(ui, 0, "%s  (left the console)", cmd);
	else
		say(ui, 1, "%s: exited with status %d", cmd, WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st));
	return rc;
}

static void sort_key(struct top_ui *ui, struct top_model *m, int ch)
{
	switch (ch) {
	case KEY_UP:
	case 'k':
		ui->sort_cursor = ui->sort_cursor > 0 ? ui->sort_cursor - 1 : TOP_NCOLS - 1;
		return;
	case KEY_DOWN:
	case 'j':
	case '>':
	case KEY_F(6):
		ui->sort_cursor = (ui->sort_cursor + 1) % TOP_NCOLS;
		return;
	case '\n':
	case '\r':
	case KEY_ENTER:
		m->sort = (enum top_col)ui->sort_cursor;
		top_model_rows(m);
		break;
	default:
		break;
	}
	ui->mode = ui->back;
}

static void filter_key(struct top_ui *ui, struct top_model *m, int ch)
{
	size_t n = strlen(m->filter);

	if (ch == KEY_ESC) {
		m->filter[0] = '\0';
		ui->mode = ui->back;
	} else if (ch == '\n' || ch == '\r' || ch == KEY_ENTER) {
		ui->mode = ui->back;
	} else if (ch == KEY_BACKSPACE || ch == 127 || ch == 8) {
		if (n)
			m->filter[n - 1] = '\0';
	} else if (ch >= 32 && ch < 127 && n + 1 < sizeof(m->filter)) {
		m->filter[n] = (char)ch;
		m->filter[n + 1] = '\0';
	}
	top_model_rows(m);
}

/* Keys of the table and the detail view. */
static int view_key(struct top_ui *ui, struct top_conn *t, struct top_model *m, int ch)
{
	long page = (long)top_view_table_rows();
	int a;

	switch (ch) {
	case 'q':
		return QUIT;
	case KEY_UP:
	case 'k':
		move_selection(ui, m, -1);
		return KEEP;
	case KEY_DOWN:
	case 'j':
		move_selection(ui, m, 1);
		return KEEP;
	case KEY_PPAGE:
		move_selection(ui, m, -(page > 1 ? page - 1 : 1));
		return KEEP;
	case KEY_NPAGE:
		move_selection(ui, m, page > 1 ? page - 1 : 1);
		return KEEP;
	case KEY_HOME:
		move_selection(ui, m, -(long)m->nrows);
		return KEEP;
	case KEY_END:
		move_selection(ui, m, (long)m->nrows);
		return KEEP;
	case '\n':
	case '\r':
	case KEY_ENTER:
		ui->mode = ui->mode == TOP_MODE_DETAIL ? TOP_MODE_TABLE : TOP_MODE_DETAIL;
		return KEEP;
	case KEY_ESC:
		ui->mode = TOP_MODE_TABLE;
		return KEEP;
	case '?':
	case 'h':
	case KEY_F(1):
		ui->back = ui->mode;
		ui->mode = TOP_MODE_HELP;
		return KEEP;
	case '>':
	case '<':
	case KEY_F(6):
		ui->back = ui->mode;
		ui->mode = TOP_MODE_SORT;
		ui->sort_cursor = (int)m->sort;
		return KEEP;
	case 'r':
		m->reverse = !m->reverse;
		top_model_rows(m);
		return KEEP;
	case '/':
		ui->back = ui->mode;
		ui->mode = TOP_MODE_FILTER;
		return KEEP;
	case 'c':
		console(ui, t, m); /* a connection it lost ends the main loop's next pump */
		return KEEP;
	default:
		break;
	}
	for (a = 0; a < TOP_NACTIONS; a++) {
		const struct top_action_info *info = top_action_info((enum top_action)a);

		if (ch != info->key)
			continue;
		if (info->confirm)
			ask(ui, m, (enum top_action)a);
		else
			run_action(ui, t, m, (enum top_action)a);
	}
	return KEEP;
}

static int key(struct top_ui *ui, struct top_conn *t, struct top_model *m, int ch)
{
	if (ch == KEY_RESIZE || ch == CTRL_L) {
		clearok(curscr, TRUE);
		return KEEP;
	}
	switch (ui->mode) {
	case TOP_MODE_HELP:
		ui->mode = ui->back == TOP_MODE_DETAIL ? TOP_MODE_DETAIL : TOP_MODE_TABLE;
		return ch == 'q' ? QUIT : KEEP;
	case TOP_MODE_SORT:
		sort_key(ui, m, ch);
		return KEEP;
	case TOP_MODE_FILTER:
		filter_key(ui, m, ch);
		return KEEP;
	case TOP_MODE_CONFIRM:
		ui->mode = ui->back;
		if (ch == 'y' || ch == 'Y')
			run_action(ui, t, m, ui->confirm);
		else
			say(ui, 0, "Cancelled.");
		return KEEP;
	default:
		return view_key(ui, t, m, ch);
	}
}

static void curses_start(struct top_ui *ui)
{
	initscr();
	cbreak();
	noecho();
	nonl();
	keypad(stdscr, TRUE);
	nodelay(stdscr, TRUE);
	set_escdelay(25);
	curs_set(0);
	top_view_init(ui);
	ui->utf8 = !strcmp(nl_langinfo(CODESET), "UTF-8");
}

int top_ui_run(struct top_conn *t, struct top_model *m, const char *uri, int interval_ms, long count)
{
	struct top_ui ui = { .mode = TOP_MODE_TABLE, .back = TOP_MODE_TABLE, .uri = uri, .interval_ms = interval_ms };
	int64_t next = mono_ms() + interval_ms;
	bool dirty = true;
	long frames = 0;
	int rc = 0, ch;

	curses_start(&ui);
	say(&ui, 0, "Connected to %s%s.  ? or F1: help", uri,
	    t->read_only ? " (read-only socket: actions will be refused)" : "");
	for (;;) {
		struct pollfd p[3] = { { .fd = 0, .events = POLLIN },
				       { .fd = top_conn_fd(t), .events = POLLIN },
				       { .fd = top_conn_result_fd(t), .events = POLLIN } };
		int64_t now;
		unsigned changed = 0;

		if (dirty) {
			sync_selection(&ui, m);
			top_view_draw(&ui, m);
			dirty = false;
		}
		now = mono_ms();
		if (poll(p, 3, next > now ? (int)(next - now) : 0) < 0 && errno != EINTR) {
			rc = -errno;
			break;
		}
		if (mono_ms() >= next) {
			next += interval_ms;
			if (next < mono_ms())
				next = mono_ms() + interval_ms;
			dirty = true;
			if (count > 0 && ++frames >= count)
				break;
		}
		rc = top_conn_pump(t, m, 0, &changed);
		if (rc)
			break;
		if (changed & 2)
			dirty = true;
		while ((ch = getch()) != ERR) {
			dirty = true;
			if (key(&ui, t, m, ch) == QUIT)
				goto out;
		}
		if (p[2].fd >= 0 && (p[2].revents & POLLIN)) {
			take_results(&ui, t, m);
			dirty = true;
		}
	}
out:
	endwin();
	return rc;
}
