/* hvtop's model: see top-model.h. */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "cli/top-model.h"

static const struct {
	const char *title, *key;
} columns[TOP_NCOLS] = {
	[TOP_COL_NAME] = { "Name", "name" },
	[TOP_COL_STATE] = { "State", "state" },
	[TOP_COL_CPU] = { "CPU%", "cpu" },
	[TOP_COL_MEMORY] = { "MemAssigned(M)", "memory" },
	[TOP_COL_UPTIME] = { "Uptime", "uptime" },
	[TOP_COL_HEARTBEAT] = { "Heartbeat", "heartbeat" },
	[TOP_COL_CHECKPOINTS] = { "Ckpt", "checkpoints" },
	[TOP_COL_POOL] = { "Pool", "pool" },
	[TOP_COL_STATUS] = { "Status", "status" },
};

bool top_model_has_pools(const struct top_model *m)
{
	for (size_t i = 0; i < m->nvms; i++)
		if (m->vms[i].pool && m->vms[i].pool[0])
			return true;
	return false;
}

const char *top_col_title(enum top_col c)
{
	return columns[c].title;
}

const char *top_col_key(enum top_col c)
{
	return columns[c].key;
}

int top_col_parse(const char *s, enum top_col *out)
{
	int i;

	for (i = 0; i < TOP_NCOLS; i++) {
		if (!strcasecmp(s, columns[i].key) || !strcasecmp(s, columns[i].title)) {
			*out = (enum top_col)i;
			return 0;
		}
	}
	return -EINVAL;
}

static char *xstrdup(const char *s)
{
	char *p = strdup(s ? s : "");

	if (!p)
		abort();
	return p;
}

/* Replaces *dst with a copy of s unless they are already equal (most samples change
 * nothing but numbers: no allocation then). */
static void set_str(char **dst, const char *s)
{
	if (!s)
		s = "";
	if (*dst && !strcmp(*dst, s))
		return;
	free(*dst);
	*dst = xstrdup(s);
}

void top_model_init(struct top_model *m)
{
	memset(m, 0, sizeof(*m));
	m->sort = TOP_COL_NAME;
}

static void vm_clear(struct top_vm *vm)
{
	free(vm->name);
	free(vm->id);
	free(vm->state);
	free(vm->status);
	free(vm->pending);
	free(vm->heartbeat);
	free(vm->pool);
	free(vm->cpus);
	free(vm->chans);
	wire_value_unref(vm->obj);
	memset(vm, 0, sizeof(*vm));
}

void top_model_free(struct top_model *m)
{
	size_t i;

	for (i = 0; i < m->nvms; i++)
		vm_clear(&m->vms[i]);
	free(m->vms);
	free(m->rows);
	memset(m, 0, sizeof(*m));
}

/* A number the daemon sends as int, uint, double or duration; 0 when absent or odd. */
static int64_t num(const struct wire_value *obj, const char *name)
{
	const struct wire_value *v = wire_object_get(obj, name);

	if (!v)
		return 0;
	switch (v->type) {
	case WIRE_INT:
	case WIRE_DURATION:
	case WIRE_TIMESTAMP:
		return v->i;
	case WIRE_UINT:
		return v->u > INT64_MAX ? INT64_MAX : (int64_t)v->u;
	case WIRE_DOUBLE:
		return v->d >= -9.2e18 && v->d <= 9.2e18 ? (int64_t)v->d : 0;
	default:
		return 0;
	}
}

static const char *str(const struct wire_value *obj, const char *name)
{
	const char *s = NULL;

	if (wire_object_get_string(obj, name, &s))
		return "";
	return s;
}

struct top_vm *top_model_find(struct top_model *m, const char *id)
{
	size_t i;

	for (i = 0; i < m->nvms; i++)
		if (!strcmp(m->vms[i].id, id))
			return &m->vms[i];
	return NULL;
}

static void history_push(struct top_vm *vm, int64_t cpu)
{
	uint8_t v = cpu < 0 ? 0 : cpu > 100 ? 100 : (uint8_t)cpu;

	if (vm->nhistory < TOP_HISTORY) {
		vm->history[vm->nhistory++] = v;
		return;
	}
	vm->history[vm->history_head] = v;
	vm->history_head = (vm->history_head + 1) % TOP_HISTORY;
}

unsigned top_vm_history(const struct top_vm *vm, uint8_t *out)
{
	unsigned i;

	for (i = 0; i < vm->nhistory; i++)
		out[i] = vm->history[(vm->history_head + i) % TOP_HISTORY];
	return vm->nhistory;
}

/* The VM with this id: at hint when the daemon kept its order (the usual case, so a sample
 * of n VMs costs n comparisons, not n^2), else searched, else a new one. */
static struct top_vm *vm_slot(struct top_model *m, size_t hint, const char *id)
{
	struct top_vm *vm;

	if (hint < m->nvms && !strcmp(m->vms[hint].id, id))
		return &m->vms[hint];
	vm = top_model_find(m, id);
	if (vm)
		return vm;
	if (m->nvms == m->capvms) {
		m->capvms = m->capvms ? m->capvms * 2 : 16;
		m->vms = realloc(m->vms, m->capvms * sizeof(*m->vms));
		if (!m->vms)
			abort();
	}
	vm = &m->vms[m->nvms++];
	memset(vm, 0, sizeof(*vm));
	vm->id = xstrdup(id);
	return vm;
}

static void vm_update(struct top_vm *vm, struct wire_value *o)
{
	set_str(&vm->name, str(o, "Name"));
	set_str(&vm->state, str(o, "State"));
	set_str(&vm->status, str(o, "Status"));
	if (!vm->heartbeat)
		vm->heartbeat = xstrdup("");
	vm->cpu = num(o, "CPUUsage");
	vm->memory = (uint64_t)num(o, "MemoryAssigned");
	vm->uptime_ns = num(o, "Uptime");
	vm->checkpoints = num(o, "CheckpointCount");
	set_str(&vm->pool, str(o, "PoolName"));
	wire_value_unref(vm->obj);
	vm->obj = wire_value_ref(o);
	history_push(vm, vm->cpu);
	vm->seen = true;
}

unsigned top_chan_history(const struct top_chan *c, uint32_t *out)
{
	unsigned i;

	for (i = 0; i < c->nhistory; i++)
		out[i] = c->history[(c->history_head + i) % TOP_HISTORY];
	return c->nhistory;
}

static uint64_t unum(const struct wire_value *obj, const char *name)
{
	int64_t v = num(obj, name);

	return v > 0 ? (uint64_t)v : 0;
}

static double per_second(uint64_t now, uint64_t before, double dt)
{
	return dt > 0 && now >= before ? (double)(now - before) / dt : 0;
}

/* Per-vCPU usage and exits from the worker's totals. */
static void update_cpus(struct top_vm *vm, const struct wire_value *procs, double dt)
{
	size_t n = procs && procs->type == WIRE_LIST ? procs->list.n : 0, i;

	if (n != vm->ncpus) {
		free(vm->cpus);
		vm->cpus = calloc(n ? n : 1, sizeof(*vm->cpus));
		if (!vm->cpus)
			abort();
		vm->ncpus = n;
		dt = 0; /* nothing to compare with */
	}
	for (i = 0; i < n; i++) {
		const struct wire_value *p = procs->list.items[i];
		struct top_cpu *c = &vm->cpus[i];
		uint64_t cpu = unum(p, "CpuNs"), exits = unum(p, "Exits");

		c->usage = dt > 0 ? per_second(cpu, c->cpu_ns, dt) / 1e7 : 0;
		c->exits_rate = per_second(exits, c->exits, dt);
		c->cpu_ns = cpu;
		c->exits = exits;
	}
}

static struct top_chan *chan_slot(struct top_vm *vm, uint64_t id)
{
	size_t i;

	for (i = 0; i < vm->nchans; i++)
		if (vm->chans[i].id == id)
			return &vm->chans[i];
	vm->chans = realloc(vm->chans, (vm->nchans + 1) * sizeof(*vm->chans));
	if (!vm->chans)
		abort();
	memset(&vm->chans[vm->nchans], 0, sizeof(*vm->chans));
	vm->chans[vm->nchans].id = id;
	vm->chans[vm->nchans].nhistory = UINT32_MAX; /* new: no rates yet */
	return &vm->chans[vm->nchans++];
}

/* Every VMBus channel's rates, and its packets-per-second history for the sparkline. */
static void update_chans(struct top_vm *vm, const struct wire_value *chans, double dt)
{
	static const char *const names[TOP_NRATES] = { "PacketsIn", "PacketsOut", "BytesIn",
						       "BytesOut", "InterruptsIn", "InterruptsOut" };
	size_t i, j, k;

	for (i = 0; i < vm->nchans; i++)
		vm->chans[i].seen = false;
	for (i = 0; chans && chans->type == WIRE_LIST && i < chans->list.n; i++) {
		const struct wire_value *o = chans->list.items[i];
		struct top_chan *c = chan_slot(vm, unum(o, "ChannelId"));
		bool fresh = c->nhistory == UINT32_MAX;
		uint32_t pps;

		if (fresh)
			c->nhistory = 0;
		snprintf(c->name, sizeof(c->name), "%s", str(o, "Name"));
		snprintf(c->state, sizeof(c->state), "%s", str(o, "State"));
		for (k = 0; k < TOP_NRATES; k++) {
			uint64_t t = unum(o, names[k]);

			c->rate[k] = fresh ? 0 : per_second(t, c->total[k], dt);
			c->total[k] = t;
		}
		c->in_used = unum(o, "InRingUsed");
		c->in_size = unum(o, "InRingSize");
		c->out_used = unum(o, "OutRingUsed");
		c->out_size = unum(o, "OutRingSize");
		c->seen = true;
		pps = (uint32_t)(c->rate[TOP_PKT_IN] + c->rate[TOP_PKT_OUT] + 0.5);
		if (c->nhistory < TOP_HISTORY) {
			c->history[c->nhistory++] = pps;
		} else {
			c->history[c->history_head] = pps;
			c->history_head = (c->history_head + 1) % TOP_HISTORY;
		}
	}
	for (i = j = 0; i < vm->nchans; i++) {
		if (!vm->chans[i].seen)
			continue;
		if (i != j)
			vm->chans[j] = vm->chans[i];
		j++;
	}
	vm->nchans = j;
}

/* A running VM's worker sample: processors, channels and the heartbeat's health. */
static void vm_detail(struct top_vm *vm, const struct wire_value *d, int64_t time_ns)
{
	const struct wire_value *ics = wire_object_get(d, "IntegrationServices");
	double dt = vm->detail_ns && time_ns > vm->detail_ns ? (double)(time_ns - vm->detail_ns) / 1e9 : 0;
	size_t i;

	update_cpus(vm, wire_object_get(d, "Processors"), dt);
	update_chans(vm, wire_object_get(d, "Channels"), dt);
	vm->detail_ns = time_ns;
	set_str(&vm->heartbeat, "");
	for (i = 0; ics && ics->type == WIRE_LIST && i < ics->list.n; i++)
		if (!strcmp(str(ics->list.items[i], "Name"), "Heartbeat"))
			set_str(&vm->heartbeat, str(ics->list.items[i], "Health"));
}

int top_model_samples(struct top_model *m, const struct wire_value *samples)
{
	const struct wire_value *vms;
	size_t i, j;

	if (!samples || samples->type != WIRE_OBJECT)
		return -EBADMSG;
	vms = wire_object_get(samples, "VMs");
	if (!vms || vms->type != WIRE_LIST)
		return -EBADMSG;
	for (i = 0; i < m->nvms; i++)
		m->vms[i].seen = false;
	for (i = 0; i < vms->list.n; i++) {
		struct wire_value *o = vms->list.items[i];
		const char *id;

		if (o->type != WIRE_OBJECT || wire_object_get_string(o, "Id", &id))
			continue;
		vm_update(vm_slot(m, i, id), o);
	}
	{
		const struct wire_value *details = wire_object_get(samples, "Details");
		int64_t now = num(samples, "Time");

		for (i = 0; i < m->nvms; i++)
			m->vms[i].detailed = false;
		for (i = 0; details && details->type == WIRE_LIST && i < details->list.n; i++) {
			struct top_vm *vm = top_model_find(m, str(details->list.items[i], "VMId"));

			if (vm && vm->seen) {
				vm_detail(vm, details->list.items[i], now);
				vm->detailed = true;
			}
		}
		for (i = 0; i < m->nvms; i++) {
			struct top_vm *vm = &m->vms[i];

			if (vm->detailed)
				continue;
			/* Not running (any more): nothing to show but the definition. */
			vm->detail_ns = 0;
			vm->ncpus = vm->nchans = 0;
			set_str(&vm->heartbeat, "");
		}
	}
	for (i = j = 0; i < m->nvms; i++) {
		if (!m->vms[i].seen) {
			vm_clear(&m->vms[i]);
			continue;
		}
		if (i != j)
			m->vms[j] = m->vms[i];
		j++;
	}
	m->nvms = j;
	m->sample_time_ns = num(samples, "Time");
	m->nsamples++;
	top_model_rows(m);
	return 0;
}

static void add_event(struct top_model *m, int64_t time_ns, const char *text)
{
	struct top_event *e;

	if (m->nevents < TOP_EVENTS) {
		e = &m->events[(m->first_event + m->nevents) % TOP_EVENTS];
		m->nevents++;
	} else {
		e = &m->events[m->first_event];
		m->first_event = (m->first_event + 1) % TOP_EVENTS;
	}
	e->time_ns = time_ns;
	snprintf(e->text, sizeof(e->text), "%s", text);
	m->events_total++;
}

const struct top_event *top_model_event(const struct top_model *m, size_t i)
{
	if (i >= m->nevents)
		return NULL;
	return &m->events[(m->first_event + m->nevents - 1 - i) % TOP_EVENTS];
}

void top_model_note(struct top_model *m, int64_t time_ns, const char *fmt, ...)
{
	char text[192];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	add_event(m, time_ns, text);
}

void top_model_vm_event(struct top_model *m, const struct wire_value *ev)
{
	const char *type = str(ev, "EventType"), *name = str(ev, "VMName"), *state = str(ev, "State");
	struct top_vm *vm = top_model_find(m, str(ev, "VMId"));
	char text[192];

	if (!strcmp(type, "StateChanged"))
		snprintf(text, sizeof(text), "%s is %s", name, state);
	else if (!strcmp(type, "Renamed"))
		snprintf(text, sizeof(text), "%s renamed to %s", str(ev, "OldName"), name);
	else
		snprintf(text, sizeof(text), "%s %s%s%s", name, type, *str(ev, "User") ? " by " : "",
			 str(ev, "User"));
	add_event(m, num(ev, "Time"), text);
	if (!vm)
		return;
	if (!strcmp(type, "StateChanged") && *state)
		set_str(&vm->state, state);
	if (!strcmp(type, "Renamed") && *name)
		set_str(&vm->name, name);
	top_model_rows(m);
}

size_t top_model_running(const struct top_model *m)
{
	size_t i, n = 0;

	for (i = 0; i < m->nvms; i++)
		if (!strcmp(m->vms[i].state, "Running"))
			n++;
	return n;
}

void top_format_uptime(char *buf, size_t len, int64_t ns)
{
	int64_t s = ns > 0 ? ns / 1000000000 : 0;

	if (s >= 86400)
		snprintf(buf, len, "%lld.%02d:%02d:%02d", (long long)(s / 86400), (int)(s % 86400 / 3600),
			 (int)(s % 3600 / 60), (int)(s % 60));
	else
		snprintf(buf, len, "%02d:%02d:%02d", (int)(s / 3600), (int)(s % 3600 / 60), (int)(s % 60));
}

static const struct top_model *sorting; /* qsort has no context argument in C11 */

static int cmp_int(int64_t a, int64_t b)
{
	return a < b ? -1 : a > b;
}

static int cmp_rows(const void *pa, const void *pb)
{
	const struct top_vm *a = &sorting->vms[*(const size_t *)pa], *b = &sorting->vms[*(const size_t *)pb];
	int c = 0;

	switch (sorting->sort) {
	case TOP_COL_NAME:
		break;
	case TOP_COL_STATE:
		c = strcasecmp(a->state, b->state);
		break;
	case TOP_COL_CPU:
		c = cmp_int(a->cpu, b->cpu);
		break;
	case TOP_COL_MEMORY:
		c = a->memory < b->memory ? -1 : a->memory > b->memory;
		break;
	case TOP_COL_UPTIME:
		c = cmp_int(a->uptime_ns, b->uptime_ns);
		break;
	case TOP_COL_HEARTBEAT:
		c = strcasecmp(a->heartbeat, b->heartbeat);
		break;
	case TOP_COL_CHECKPOINTS:
		c = cmp_int(a->checkpoints, b->checkpoints);
		break;
	case TOP_COL_POOL:
		c = strcasecmp(a->pool, b->pool);
		break;
	case TOP_COL_STATUS:
		c = strcasecmp(a->status, b->status);
		break;
	case TOP_NCOLS:
		break;
	}
	if (!c)
		c = strcasecmp(a->name, b->name);
	if (!c)
		c = strcmp(a->id, b->id);
	return sorting->reverse ? -c : c;
}

static bool matches(const struct top_vm *vm, const char *filter)
{
	return !*filter || strcasestr(vm->name, filter) || strcasestr(vm->state, filter);
}

void top_model_rows(struct top_model *m)
{
	size_t i;

	free(m->rows);
	m->rows = calloc(m->nvms ? m->nvms : 1, sizeof(*m->rows));
	if (!m->rows)
		abort();
	m->nrows = 0;
	for (i = 0; i < m->nvms; i++)
		if (matches(&m->vms[i], m->filter))
			m->rows[m->nrows++] = i;
	sorting = m;
	qsort(m->rows, m->nrows, sizeof(*m->rows), cmp_rows);
	sorting = NULL;
}
