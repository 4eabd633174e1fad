/*
 * hvtop's batch view (-b): plain-text frames on standard output, one per interval, for
 * scripts and tests.  A frame is a header line, the table, and the events that arrived since
 * the frame before, then an empty line:
 *
 *   hvtop 2026-11-26 03:31:02 UTC  VMs: 3  running: 1
 *   Name            State     CPU% MemAssigned(M)  Uptime     Heartbeat  Ckpt Status
 *   web1            Running      2             64  00:01:10   OK            1 Operating normally
 *   web1: vCPU% 0:2  exits/s 0:35
 *      Id Channel                 State     Packets/s in/out ...
 *       1 Heartbeat               Open            1/1       ...
 *   Events:
 *   03:31:01 web1 is Running
 */
#include "config.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "cli/top-conn.h"
#include "cli/top-view.h"

/* UTC wall-clock text: the time of day, or the full date and time. */
static void clock_text(char *buf, size_t len, int64_t ns, bool full)
{
	time_t s = (time_t)(ns / 1000000000);
	struct tm tm;
	size_t n = 0;

	if (gmtime_r(&s, &tm))
		n = full ? strftime(buf, len, "%Y-%m-%d %H:%M:%S UTC", &tm) : strftime(buf, len, "%H:%M:%S", &tm);
	if (!n)
		snprintf(buf, len, "?");
}

void top_event_time(char *buf, size_t len, int64_t ns)
{
	clock_text(buf, len, ns, false);
}

void top_row_text(char *buf, size_t len, const struct top_vm *vm, bool pools)
{
	char up[32], pool[16] = "";
	const char *status = vm->pending ? vm->pending : vm->status;

	top_format_uptime(up, sizeof(up), vm->uptime_ns);
	if (pools)
		snprintf(pool, sizeof(pool), "%-10.10s ", vm->pool ? vm->pool : "");
	snprintf(buf, len, "%-15.15s %-9.9s %4lld %14llu  %-10s %-10.10s %4lld %s%s", vm->name, vm->state,
		 (long long)vm->cpu, (unsigned long long)(vm->memory >> 20), up, vm->heartbeat ? vm->heartbeat : "",
		 (long long)vm->checkpoints, pool, status);
}

void top_header_text(char *buf, size_t len, bool pools)
{
	char pool[16] = "";

	if (pools)
		snprintf(pool, sizeof(pool), "%-10s ", top_col_title(TOP_COL_POOL));
	snprintf(buf, len, "%-15s %-9s %4s %14s  %-10s %-10s %4s %s%s", top_col_title(TOP_COL_NAME),
		 top_col_title(TOP_COL_STATE), top_col_title(TOP_COL_CPU), top_col_title(TOP_COL_MEMORY),
		 top_col_title(TOP_COL_UPTIME), top_col_title(TOP_COL_HEARTBEAT), top_col_title(TOP_COL_CHECKPOINTS),
		 pool, top_col_title(TOP_COL_STATUS));
}

void top_cpus_text(char *buf, size_t len, const struct top_vm *vm)
{
	size_t i;
	int n = snprintf(buf, len, "vCPU%%");

	for (i = 0; i < vm->ncpus && n > 0 && (size_t)n < len; i++)
		n += snprintf(buf + n, len - (size_t)n, " %zu:%.0f", i, vm->cpus[i].usage);
	for (i = 0; i < vm->ncpus && n > 0 && (size_t)n < len; i++)
		n += snprintf(buf + n, len - (size_t)n, "%s%zu:%.0f", i ? " " : "  exits/s ", i, vm->cpus[i].exits_rate);
}

void top_chan_header(char *buf, size_t len)
{
	snprintf(buf, len, "%3s %-23s %-9s %15s %17s %11s %s", "Id", "Channel", "State", "Packets/s in/out",
		 "Bytes/s in/out", "Intr/s", "Ring used in/out");
}

void top_chan_text(char *buf, size_t len, const struct top_chan *c)
{
	snprintf(buf, len, "%3llu %-23.23s %-9.9s %7.0f/%-7.0f %8.0f/%-8.0f %5.0f/%-5.0f %llu/%llu %llu/%llu",
		 (unsigned long long)c->id, c->name, c->state, c->rate[TOP_PKT_IN], c->rate[TOP_PKT_OUT],
		 c->rate[TOP_BYTES_IN], c->rate[TOP_BYTES_OUT], c->rate[TOP_INTR_IN], c->rate[TOP_INTR_OUT],
		 (unsigned long long)c->in_used, (unsigned long long)c->in_size, (unsigned long long)c->out_used,
		 (unsigned long long)c->out_size);
}

static void frame(FILE *out, const struct top_model *m, unsigned long *events_seen)
{
	char line[512], when[64];
	unsigned long fresh = m->events_total - *events_seen;
	size_t i;

	clock_text(when, sizeof(when), m->sample_time_ns, true);
	fprintf(out, "hvtop %s  VMs: %zu  running: %zu\n", when, m->nvms, top_model_running(m));
	top_header_text(line, sizeof(line), top_model_has_pools(m));
	fprintf(out, "%s\n", line);
	for (i = 0; i < m->nrows; i++) {
		top_row_text(line, sizeof(line), &m->vms[m->rows[i]], top_model_has_pools(m));
		fprintf(out, "%s\n", line);
	}
	/* Running VMs: their processors and VMBus channels. */
	for (i = 0; i < m->nrows; i++) {
		const struct top_vm *vm = &m->vms[m->rows[i]];
		size_t k;

		if (!vm->ncpus && !vm->nchans)
			continue;
		top_cpus_text(line, sizeof(line), vm);
		fprintf(out, "%s: %s\n", vm->name, line);
		if (vm->nchans) {
			top_chan_header(line, sizeof(line));
			fprintf(out, "  %s\n", line);
		}
		for (k = 0; k < vm->nchans; k++) {
			top_chan_text(line, sizeof(line), &vm->chans[k]);
			fprintf(out, "  %s\n", line);
		}
	}
	fprintf(out, "Events:%s\n", fresh ? "" : " none");
	if (fresh > m->nevents)
		fresh = m->nevents;
	while (fresh--) {
		const struct top_event *e = top_model_event(m, fresh);

		top_event_time(when, sizeof(when), e->time_ns);
		fprintf(out, "%s %s\n", when, e->text);
	}
	fprintf(out, "\n");
	fflush(out);
	*events_seen = m->events_total;
}

static int64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int top_batch_run(struct top_conn *t, struct top_model *m, int interval_ms, long count)
{
	unsigned long events_seen = 0;
	unsigned changed;
	long n;
	int rc;

	for (n = 0; count < 0 || n < count; n++) {
		int64_t due = mono_ms() + interval_ms;

		frame(stdout, m, &events_seen);
		if (count >= 0 && n + 1 >= count)
			break;
		do {
			int64_t left = due - mono_ms();

			rc = top_conn_pump(t, m, left > 0 ? (int)left : 0, &changed);
			if (rc)
				return rc;
		} while (mono_ms() < due);
	}
	return 0;
}
