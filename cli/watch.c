/*
 * Watch-VM: live samples of running VMs until interrupted (Ctrl-C), -Count is reached, or
 * nothing downstream wants more (Select-Object -First).  hvd pushes one VMSamples event per
 * interval to each subscriber (Samples.Subscribe); this turns two consecutive totals into
 * rates per second, and writes each sample out as it comes when it goes to the screen.
 */
#include "config.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"

static volatile sig_atomic_t interrupted;

static void on_sigint(int sig)
{
	(void)sig;
	interrupted = 1;
}

static uint64_t uget(const struct wire_value *o, const char *name)
{
	const struct wire_value *v = o ? wire_object_get(o, name) : NULL;

	if (!v)
		return 0;
	if (v->type == WIRE_UINT)
		return v->u;
	if (v->type == WIRE_INT && v->i > 0)
		return (uint64_t)v->i;
	return 0;
}

/* The item of list whose property key equals the one of like (a number), or NULL. */
static const struct wire_value *find_like(const struct wire_value *list, const char *key, const struct wire_value *like)
{
	const struct wire_value *k = wire_object_get(like, key);
	size_t i;

	if (!list || list->type != WIRE_LIST || !k)
		return NULL;
	for (i = 0; i < list->list.n; i++) {
		const struct wire_value *o = wire_object_get(list->list.items[i], key);

		if (o && wire_value_equal(o, k))
			return list->list.items[i];
	}
	return NULL;
}

static double rate(uint64_t now, uint64_t before, double seconds)
{
	return now >= before && seconds > 0 ? (double)(now - before) / seconds : 0;
}

/* Per vCPU: usage in percent of one processor and exits per second. */
static struct wire_value *processors(const struct wire_value *now, const struct wire_value *before, double dt,
				     double *exits_total)
{
	struct wire_value *list = wire_list();
	size_t i;

	for (i = 0; now && now->type == WIRE_LIST && i < now->list.n; i++) {
		const struct wire_value *p = now->list.items[i], *q = find_like(before, "Index", p);
		struct wire_value *o = wire_object("VMProcessorRate");
		double exits = q ? rate(uget(p, "Exits"), uget(q, "Exits"), dt) : 0;

		wire_object_add(o, "Index", wire_uint(uget(p, "Index")));
		wire_object_add(o, "Usage", wire_double(q ? rate(uget(p, "CpuNs"), uget(q, "CpuNs"), dt) / 1e7 : 0));
		wire_object_add(o, "ExitsPerSecond", wire_double(exits));
		wire_object_add(o, "EmulatedInstructionsPerSecond",
				wire_double(q ? rate(uget(p, "EmulatedInstructions"), uget(q, "EmulatedInstructions"), dt) : 0));
		wire_object_add(o, "Exits", wire_uint(uget(p, "Exits")));
		*exits_total += exits;
		wire_list_append(list, o);
	}
	return list;
}

/* A SCSI controller's disks: their totals, with read and write rates beside them. */
static struct wire_value *disk_rates(const struct wire_value *now, const struct wire_value *before, double dt)
{
	static const char *const counters[] = { "ReadOperations", "WriteOperations", "ReadBytes", "WriteBytes" };
	struct wire_value *list = wire_list();
	size_t i, k;

	for (i = 0; now && now->type == WIRE_LIST && i < now->list.n; i++) {
		const struct wire_value *d = now->list.items[i], *q = NULL;
		struct wire_value *o = wire_object("VMDiskRate");

		if (d->type != WIRE_OBJECT) {
			wire_value_unref(o);
			continue;
		}
		for (k = 0; before && before->type == WIRE_LIST && k < before->list.n && !q; k++)
			if (wire_value_equal(wire_object_get(before->list.items[k], "ControllerLocation"),
					     wire_object_get(d, "ControllerLocation")))
				q = before->list.items[k];
		for (k = 0; k < d->obj.n; k++)
			wire_object_add(o, d->obj.props[k].name, wire_value_ref(d->obj.props[k].value));
		for (k = 0; k < sizeof(counters) / sizeof(counters[0]); k++) {
			char name[64];

			snprintf(name, sizeof(name), "%sPerSecond", counters[k]);
			wire_object_set(o, name, wire_double(q ? rate(uget(d, counters[k]), uget(q, counters[k]), dt) : 0));
		}
		wire_list_append(list, o);
	}
	return list;
}

/* Per VMBus channel: the totals hvd sent, with a rate beside each counter. */
static struct wire_value *channels(const struct wire_value *now, const struct wire_value *before, double dt,
				   double *packets, double *bytes)
{
	static const char *const counters[] = { "PacketsIn", "PacketsOut", "BytesIn", "BytesOut", "InterruptsIn",
						"InterruptsOut" };
	struct wire_value *list = wire_list();
	size_t i, k;

	for (i = 0; now && now->type == WIRE_LIST && i < now->list.n; i++) {
		const struct wire_value *c = now->list.items[i], *q = find_like(before, "ChannelId", c);
		struct wire_value *o = wire_object("VMBusChannelRate");

		if (c->type != WIRE_OBJECT) {
			wire_value_unref(o);
			continue;
		}
		for (k = 0; k < c->obj.n; k++)
			wire_object_add(o, c->obj.props[k].name, wire_value_ref(c->obj.props[k].value));
		for (k = 0; k < sizeof(counters) / sizeof(counters[0]); k++) {
			char name[64];
			double r = q ? rate(uget(c, counters[k]), uget(q, counters[k]), dt) : 0;

			snprintf(name, sizeof(name), "%sPerSecond", counters[k]);
			wire_object_set(o, name, wire_double(r));
			if (k < 2)
				*packets += r;
			else if (k < 4)
				*bytes += r;
		}
		if (wire_object_get(c, "Disks"))
			wire_object_set(o, "Disks", disk_rates(wire_object_get(c, "Disks"), q ? wire_object_get(q, "Disks") : NULL, dt));
		wire_list_append(list, o);
	}
	return list;
}

/* The VMDetail of the VM with that Id, or NULL. */
static const struct wire_value *find_vm(const struct wire_value *details, const char *id)
{
	size_t i;

	for (i = 0; details && details->type == WIRE_LIST && i < details->list.n; i++) {
		const char *a = "";

		if (wire_object_get_string(details->list.items[i], "VMId", &a) == 0 && !strcmp(a, id))
			return details->list.items[i];
	}
	return NULL;
}

/* One VMSample per running VM of the event that the names select; *previous (the last
 * event) is replaced by this one. */
static int emit_samples(struct cli_ctx *ctx, struct cli_stage *st, const struct wire_value *names,
			struct wire_value *ev, struct wire_value **previous, int64_t *left)
{
	const struct wire_value *vms = wire_object_get(ev, "VMs"), *details = wire_object_get(ev, "Details");
	const struct wire_value *t = wire_object_get(ev, "Time"), *pt = *previous ? wire_object_get(*previous, "Time") : NULL;
	const struct wire_value *pdetails = *previous ? wire_object_get(*previous, "Details") : NULL;
	double dt = t && pt && t->type == WIRE_TIMESTAMP && pt->type == WIRE_TIMESTAMP ? (double)(t->i - pt->i) / 1e9 : 0;
	size_t i;
	int rc = 0;

	for (i = 0; rc == 0 && vms && vms->type == WIRE_LIST && i < vms->list.n; i++) {
		const struct wire_value *vm = vms->list.items[i], *d, *pd, *v;
		const char *name = "", *state = "", *id = "";
		struct wire_value *o;
		double exits = 0, packets = 0, bytes = 0;

		wire_object_get_string(vm, "Name", &name);
		wire_object_get_string(vm, "State", &state);
		if (!cli_name_matches(names, name) || strcmp(state, "Off") == 0)
			continue;
		wire_object_get_string(vm, "Id", &id);
		d = find_vm(details, id);
		pd = find_vm(pdetails, id);
		o = wire_object("VMSample");
		if (t)
			wire_object_add(o, "Time", wire_value_ref((struct wire_value *)t));
		wire_object_add(o, "VMName", wire_string(name));
		wire_object_add(o, "State", wire_string(state));
		if ((v = wire_object_get(vm, "CPUUsage")))
			wire_object_add(o, "CPUUsage", wire_value_ref((struct wire_value *)v));
		if ((v = wire_object_get(vm, "MemoryAssigned")))
			wire_object_add(o, "MemoryAssigned", wire_value_ref((struct wire_value *)v));
		if ((v = wire_object_get(vm, "Heartbeat")))
			wire_object_add(o, "Heartbeat", wire_value_ref((struct wire_value *)v));
		{
			struct wire_value *procs = processors(d ? wire_object_get(d, "Processors") : NULL,
							      pd ? wire_object_get(pd, "Processors") : NULL, pd ? dt : 0, &exits);
			struct wire_value *chans = channels(d ? wire_object_get(d, "Channels") : NULL,
							    pd ? wire_object_get(pd, "Channels") : NULL, pd ? dt : 0, &packets,
							    &bytes);

			wire_object_add(o, "ExitsPerSecond", wire_double(exits));
			wire_object_add(o, "VMBusPacketsPerSecond", wire_double(packets));
			wire_object_add(o, "VMBusBytesPerSecond", wire_double(bytes));
			wire_object_add(o, "Processors", procs);
			wire_object_add(o, "Channels", chans);
		}
		rc = cli_emit(ctx, st, o);
		if (rc == 0 && *left > 0 && --*left == 0)
			rc = CLI_STOP;
	}
	if (rc == 0)
		cli_flush_live(ctx, st);
	wire_value_unref(*previous);
	*previous = wire_value_ref(ev);
	return rc;
}

int cli_watch_vm(struct cli_ctx *ctx, struct cli_stage *st)
{
	const struct cli_bound *b = &st->args;
	const struct wire_value *names = cli_arg(b, "Name"), *iv = cli_arg(b, "Interval"), *cnt = cli_arg(b, "Count");
	struct wire_value *args = wire_object("Arguments"), *reply = NULL, *previous = NULL;
	struct sigaction sa = { .sa_handler = on_sigint }, old;
	int64_t interval = iv && iv->type == WIRE_INT ? iv->i : 1, left = cnt && cnt->type == WIRE_INT ? cnt->i : 0;
	int rc;

	if (interval < 1 || interval > 3600) {
		wire_value_unref(args);
		cli_error(ctx, "-Interval is a whole number of seconds from 1 to 3600, not %lld.", (long long)interval);
		return -1;
	}
	if (cnt && left < 1) {
		wire_value_unref(args);
		cli_error(ctx, "-Count is at least 1.");
		return -1;
	}
	wire_object_add(args, "Interval", wire_int(interval));
	rc = cli_call(ctx, WIRE_PROC_SAMPLES_SUBSCRIBE, args, &reply);
	wire_value_unref(args);
	if (rc)
		return -1;
	if (reply->list.n)
		previous = wire_value_ref(reply->list.items[0]); /* the baseline for the first rates */
	wire_value_unref(reply);
	interrupted = 0;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, &old); /* no SA_RESTART: the wait below returns on Ctrl-C */
	rc = 0;
	while (rc == 0 && !interrupted) {
		struct wire_frame f;
		int r = wire_conn_next_event(ctx->conn, 1000, &f);

		if (r == -EAGAIN || r == -EINTR)
			continue;
		if (r < 0) {
			cli_error(ctx, "The connection to hvd ended: %s.", strerror(-r));
			rc = -1;
			break;
		}
		if (f.kind == WIRE_KIND_EVENT && f.procedure == WIRE_PROC_SAMPLES_SUBSCRIBE && f.payload &&
		    f.payload->type == WIRE_OBJECT)
			rc = emit_samples(ctx, st, names, f.payload, &previous, &left);
		wire_frame_clear(&f);
	}
	sigaction(SIGINT, &old, NULL);
	wire_value_unref(previous);
	{
		struct wire_value *u = wire_object("Arguments"), *r = NULL;

		if (cli_call(ctx, WIRE_PROC_EVENTS_UNSUBSCRIBE, u, &r) == 0)
			wire_value_unref(r);
		wire_value_unref(u);
	}
	if (interrupted)
		ctx->stop_script = true; /* Ctrl-C ends the script, as in PowerShell */
	return rc < 0 ? -1 : 0;
}
