/*
 * VMBus and integration services: Get-VMBusChannel, Get-/Enable-/Disable-VMIntegrationService.
 * What a running partition's bus looks like comes from its worker's last sample (taken each
 * second); which services are on is part of the VM's definition, and a change reaches a
 * running worker at once (it offers or rescinds the channel).
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "daemon/procs.h"

static struct wire_value *with_vm(const struct hvd_vm *vm, const char *type, const struct wire_value *from)
{
	struct wire_value *o = wire_object(type);
	size_t k;

	wire_object_add(o, "VMName", wire_string(vm->name));
	wire_object_add(o, "VMId", wire_string(vm->id));
	for (k = 0; from && from->type == WIRE_OBJECT && k < from->obj.n; k++)
		if (strcasecmp(from->obj.props[k].name, "VMName") && strcasecmp(from->obj.props[k].name, "VMId"))
			wire_object_add(o, from->obj.props[k].name, wire_value_ref(from->obj.props[k].value));
	return o;
}

/* Every channel of a running VM, as its worker last counted them; nothing when it is off. */
static struct wire_value *channels_of(const struct hvd_vm *vm)
{
	const struct wire_value *sample = hvd_runtime_sample(vm);
	const struct wire_value *chans = sample ? wire_object_get(sample, "Channels") : NULL;
	struct wire_value *out = wire_list();
	size_t i;

	for (i = 0; chans && chans->type == WIRE_LIST && i < chans->list.n; i++)
		wire_list_append(out, with_vm(vm, "VMBusChannel", chans->list.items[i]));
	return out;
}

HVD_PROC(proc_vmbus_channels)
{
	(void)c;
	return hvd_vms_view(d, args, channels_of, true, reply);
}

/* One VMIntegrationComponent per service, as Hyper-V lists them. */
static struct wire_value *services_of(const struct hvd_vm *vm)
{
	const struct wire_value *sample = hvd_runtime_sample(vm);
	const struct wire_value *ics = sample ? wire_object_get(sample, "IntegrationServices") : NULL;
	struct wire_value *out = wire_list();
	size_t k, i;

	for (k = 0; k < HVD_IC_COUNT; k++) {
		struct wire_value *o = wire_object("VMIntegrationComponent");
		const struct wire_value *live = NULL;
		bool enabled = !(vm->ic_disabled & (1u << k));
		const char *health = "", *version = "";

		for (i = 0; ics && ics->type == WIRE_LIST && i < ics->list.n; i++) {
			const char *name = "";

			if (wire_object_get_string(ics->list.items[i], "Name", &name) == 0 && !strcmp(name, hvd_ic_names[k]))
				live = ics->list.items[i];
		}
		if (live && enabled) {
			wire_object_get_string(live, "Health", &health);
			wire_object_get_string(live, "Version", &version);
			if (!strcmp(health, "Disabled"))
				health = ""; /* turned on here, not yet offered there */
		}
		wire_object_add(o, "VMName", wire_string(vm->name));
		wire_object_add(o, "VMId", wire_string(vm->id));
		wire_object_add(o, "Name", wire_string(hvd_ic_names[k]));
		wire_object_add(o, "Enabled", wire_bool(enabled));
		wire_object_add(o, "PrimaryStatusDescription", wire_string(health));
		wire_object_add(o, "Version", wire_string(version));
		wire_object_add(o, "ChannelOpen", wire_bool(live && enabled && wire_object_get(live, "Open") &&
							   wire_object_get(live, "Open")->type == WIRE_BOOL &&
							   wire_object_get(live, "Open")->b));
		wire_list_append(out, o);
	}
	return out;
}

HVD_PROC(proc_ic_get)
{
	(void)c;
	return hvd_vms_view(d, args, services_of, true, reply);
}

struct ic_change {
	uint32_t mask; /* the services named */
	bool enable;
};

static int apply_ic(struct hvd_store *s, struct hvd_vm *vm, const void *arg, struct wire_value **reply)
{
	const struct ic_change *ch = arg;

	(void)s;
	(void)reply;
	if (ch->enable)
		vm->ic_disabled &= ~ch->mask;
	else
		vm->ic_disabled |= ch->mask;
	return 0;
}

/* Arguments: the VMs (Id or Name), Service (the services' names: one string or a list) and
 * Enabled.  Replies each changed VM's services. */
HVD_PROC(proc_ic_set)
{
	const struct wire_value *svc = wire_object_get(args, "Service");
	struct ic_change ch = { 0 };
	struct wire_value *names;
	size_t i, k;
	int st;

	if (wire_object_get_bool(args, "Enabled", &ch.enable) != 0)
		return ERR(WIRE_E_INVALID_ARGUMENT, NULL, "Say whether to enable the services (Enabled, a bool).");
	if (!svc || (svc->type != WIRE_STRING && svc->type != WIRE_LIST))
		return ERR(WIRE_E_INVALID_ARGUMENT, NULL, "Name the integration services (Service).");
	names = svc->type == WIRE_LIST ? wire_value_ref((struct wire_value *)svc) : wire_list();
	if (svc->type == WIRE_STRING)
		wire_list_append(names, wire_value_ref((struct wire_value *)svc));
	for (i = 0; i < names->list.n; i++) {
		const struct wire_value *n = names->list.items[i];

		for (k = 0; n->type == WIRE_STRING && k < HVD_IC_COUNT; k++)
			if (!strcasecmp(n->str.p, hvd_ic_names[k]))
				break;
		if (n->type != WIRE_STRING || k == HVD_IC_COUNT) {
			st = ERR(WIRE_E_INVALID_ARGUMENT, n->type == WIRE_STRING ? n->str.p : NULL,
				 "There is no integration service \"%s\": hvkit has Heartbeat, Shutdown, Time Synchronization "
				 "and Key-Value Pair Exchange.",
				 n->type == WIRE_STRING ? n->str.p : "(not a string)");
			wire_value_unref(names);
			return st;
		}
		ch.mask |= 1u << k;
	}
	wire_value_unref(names);
	st = hvd_vms_change(d, c, args, apply_ic, &ch, services_of, reply);
	if (st == WIRE_OK) {
		/* Running partitions follow at once: the worker offers or rescinds the channels. */
		struct hvd_store *s = hvd_get_store(d);

		for (i = 0; i < s->n; i++) {
			struct wire_value *a;
			const char *id = "";
			bool named = false;

			for (k = 0; k < (*reply)->list.n && !named; k++)
				named = wire_object_get_string((*reply)->list.items[k], "VMId", &id) == 0 &&
					!strcmp(id, s->vms[i]->id);
			if (!named || !s->vms[i]->worker)
				continue;
			a = wire_object("Arguments");
			wire_object_add(a, "Disabled", wire_int(s->vms[i]->ic_disabled));
			hvd_runtime_notify(s->vms[i], WIRE_PROC_WORKER_IC_SET, a);
		}
	}
	return st;
}
