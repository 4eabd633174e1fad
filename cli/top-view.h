/*
 * hvtop's views of the model: plain-text frames (top-batch.c) and the terminal
 * (top-view.c draws, top-ui.c reads keys and runs actions).
 */
#ifndef HVKIT_TOP_VIEW_H
#define HVKIT_TOP_VIEW_H

#include <stddef.h>
#include <stdint.h>

#include "cli/top-conn.h"
#include "cli/top-model.h"

/* One table row and the header, as batch mode writes them (the terminal uses the same
 * columns, cut to its width). */
/* A table row and its header; the Pool column is there only when pools is set (some VM is in
 * a pool), so that 80 columns keep Status in view otherwise. */
void top_row_text(char *buf, size_t len, const struct top_vm *vm, bool pools);
void top_header_text(char *buf, size_t len, bool pools);
/* A running VM's per-vCPU usage and exit rates on one line. */
void top_cpus_text(char *buf, size_t len, const struct top_vm *vm);
/* The channel table's header, and one channel's rates. */
void top_chan_header(char *buf, size_t len);
void top_chan_text(char *buf, size_t len, const struct top_chan *c);
void top_event_time(char *buf, size_t len, int64_t ns); /* HH:MM:SS, UTC */

/* Batch mode: count frames (< 0: until killed), one every interval_ms.  0, or the
 * transport error that ended it. */
int top_batch_run(struct top_conn *t, struct top_model *m, int interval_ms, long count);

/* What the terminal shows: owned by top-ui.c, drawn by top-view.c. */
enum top_mode {
	TOP_MODE_TABLE,
	TOP_MODE_DETAIL,
	TOP_MODE_HELP,
	TOP_MODE_SORT,    /* the sort-column menu */
	TOP_MODE_FILTER,  /* typing the filter */
	TOP_MODE_CONFIRM, /* y/n for a destructive action */
};

struct top_ui {
	enum top_mode mode, back; /* back: the mode under a menu, help or question */
	char sel_id[128];   /* the selected VM, by Id, so it stays selected across resorts */
	size_t sel, scroll; /* row of the selection, first row shown */
	int sort_cursor;
	enum top_action confirm;
	char status[512];   /* the status line: the last action's hvctl command and outcome */
	char question[600]; /* the y/n question of TOP_MODE_CONFIRM */
	int status_error;
	const char *uri;
	int interval_ms;
	int color;          /* has_colors() and start_color() worked */
	int utf8;           /* the locale's character set is UTF-8 (sparkline blocks) */
};

/* Terminal views (top-view.c). */
void top_view_init(struct top_ui *ui);
void top_view_draw(const struct top_ui *ui, const struct top_model *m);
/* How many table rows fit on the screen now. */
size_t top_view_table_rows(void);

/* The interactive loop (top-ui.c): 0 on q, or a transport error. */
int top_ui_run(struct top_conn *t, struct top_model *m, const char *uri, int interval_ms, long count);

#endif
