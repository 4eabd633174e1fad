/*
 * VM definitions: the model, and its vm.xml form (daemon/vm-schema.rng), read and written
 * with libxml2.  Loading validates against the schema and then the relations the schema
 * cannot say (memory sizes aligned, minimum <= startup <= maximum).
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <libxml/parser.h>
#include <libxml/relaxng.h>
#include <libxml/tree.h>
#include <libxml/xmlwriter.h>

#include "daemon/hvd.h"

#define VM_NS "urn:hvkit:vm:1"

extern const char hvd_vm_schema_text[];

const char *hvd_vm_schema(void)
{
	return hvd_vm_schema_text;
}

const char *hvd_ckpt_type_name(int type)
{
	switch (type) {
	case HVD_CKPT_STANDARD: return "Standard";
	case HVD_CKPT_PRODUCTION_ONLY: return "ProductionOnly";
	case HVD_CKPT_DISABLED: return "Disabled";
	default: return "Production";
	}
}

int hvd_ckpt_type_parse(const char *s)
{
	static const char *const names[] = { "Production", "Standard", "ProductionOnly", "Disabled" };
	int i;

	for (i = 0; i < 4; i++)
		if (!strcasecmp(s, names[i]))
			return i;
	return -1;
}

static void make_uuid(char out[37])
{
	unsigned char b[16];
	int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
	size_t got = 0;

	if (fd >= 0) {
		while (got < sizeof(b)) {
			ssize_t n = read(fd, b + got, sizeof(b) - got);

			if (n <= 0)
				break;
			got += (size_t)n;
		}
		close(fd);
	}
	if (got < sizeof(b))
		abort(); /* no randomness: refuse to make ids that could collide */
	b[6] = (b[6] & 0x0f) | 0x40; /* version 4 */
	b[8] = (b[8] & 0x3f) | 0x80; /* RFC 4122 variant */
	snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
		 b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12],
		 b[13], b[14], b[15]);
}

static char *xstrdup(const char *s)
{
	char *p = s ? strdup(s) : NULL;

	if (s && !p)
		abort();
	return p;
}

void hvd_vm_new_id(char out[37])
{
	make_uuid(out);
}

size_t hvd_utf8_chars(const char *s)
{
	size_t n = 0;

	for (; *s; s++)
		n += ((unsigned char)*s & 0xc0) != 0x80;
	return n;
}

/* The one rule for names, for the cmdlets (hvd_check_name) and for pool.xml alike. */
enum hvd_name_flaw hvd_name_flaw(const char *name)
{
	const unsigned char *p;
	bool blank = true;

	if (!name || !*name)
		return HVD_NAME_EMPTY;
	if (hvd_utf8_chars(name) > HVD_MAX_NAME)
		return HVD_NAME_LONG;
	for (p = (const unsigned char *)name; *p; p++) {
		if (*p < 0x20 || *p == 0x7f || strchr("*?[]", *p))
			return HVD_NAME_CHARS;
		if (*p != ' ')
			blank = false;
	}
	return blank ? HVD_NAME_BLANK : HVD_NAME_OK;
}

struct hvd_vm *hvd_vm_new(const char *name)
{
	struct hvd_vm *vm = calloc(1, sizeof(*vm));

	if (!vm)
		abort();
	make_uuid(vm->id);
	vm->name = xstrdup(name);
	vm->created_ns = hvd_now_ns();
	vm->generation = 2;
	vm->proc_count = 1;
	vm->proc_reserve = 0;
	vm->proc_maximum = 100;
	vm->proc_weight = 100;
	/* Hyper-V's defaults for a new VM. */
	vm->mem_startup = 512ull << 20;
	vm->mem_dynamic = false;
	vm->mem_minimum = 512ull << 20;
	vm->mem_maximum = 1ull << 40;
	vm->mem_buffer = 20;
	vm->mem_priority = 50;
	return vm;
}

struct hvd_vm *hvd_vm_dup(const struct hvd_vm *vm)
{
	struct hvd_vm *c = malloc(sizeof(*c));

	if (!c)
		abort();
	*c = *vm;
	c->name = xstrdup(vm->name);
	c->notes = xstrdup(vm->notes);
	c->path = xstrdup(vm->path);
	c->load_error = xstrdup(vm->load_error);
	c->kernel = xstrdup(vm->kernel);
	c->initrd = xstrdup(vm->initrd);
	c->cmdline = xstrdup(vm->cmdline);
	c->status = xstrdup(vm->status);
	c->pool_parent = xstrdup(vm->pool_parent);
	c->cached = NULL;
	c->drives = vm->ndrives ? calloc(vm->ndrives, sizeof(*c->drives)) : NULL;
	if (vm->ndrives && !c->drives)
		abort();
	for (size_t i = 0; i < vm->ndrives; i++) {
		c->drives[i] = vm->drives[i];
		c->drives[i].path = xstrdup(vm->drives[i].path);
	}
	return c;
}

void hvd_vm_free(struct hvd_vm *vm)
{
	if (!vm)
		return;
	free(vm->name);
	free(vm->notes);
	free(vm->path);
	free(vm->load_error);
	free(vm->kernel);
	free(vm->initrd);
	free(vm->cmdline);
	free(vm->status);
	free(vm->pool_parent);
	wire_value_unref(vm->cached);
	for (size_t i = 0; i < vm->ndrives; i++)
		free(vm->drives[i].path);
	free(vm->drives);
	free(vm);
}

/* Collects libxml2's first error with its line. */
struct xml_errors {
	char msg[512];
};

/* Collects libxml2's errors, each with its line, joined by "; " (the schema validator's
 * first message is often the vaguest, so all are kept as far as they fit). */
static void xml_error(void *data, xmlErrorPtr e)
{
	struct xml_errors *errs = data;
	size_t n = strlen(errs->msg);

	if (!e || !e->message || n + 8 >= sizeof(errs->msg) || strstr(errs->msg, e->message))
		return;
	snprintf(errs->msg + n, sizeof(errs->msg) - n, "%sline %d: %s", n ? "; " : "", e->line, e->message);
	n = strlen(errs->msg);
	while (n && (errs->msg[n - 1] == '\n' || errs->msg[n - 1] == ' '))
		errs->msg[--n] = '\0';
}

static xmlRelaxNGPtr schema_get(void)
{
	static xmlRelaxNGPtr schema;
	xmlRelaxNGParserCtxtPtr pc;

	if (schema)
		return schema;
	pc = xmlRelaxNGNewMemParserCtxt(hvd_vm_schema_text, (int)strlen(hvd_vm_schema_text));
	if (!pc)
		return NULL;
	schema = xmlRelaxNGParse(pc);
	xmlRelaxNGFreeParserCtxt(pc);
	return schema;
}

const char *const hvd_ic_names[HVD_IC_COUNT] = { "Heartbeat", "Shutdown", "Time Synchronization",
						 "Key-Value Pair Exchange" };

static xmlNodePtr child(xmlNodePtr n, const char *name)
{
	for (n = n->children; n; n = n->next)
		if (n->type == XML_ELEMENT_NODE && strcmp((const char *)n->name, name) == 0)
			return n;
	return NULL;
}

static char *text_of(xmlNodePtr n)
{
	xmlChar *s = n ? xmlNodeGetContent(n) : NULL;
	char *r = xstrdup(s ? (const char *)s : "");

	xmlFree(s);
	return r;
}

static uint64_t attr_u64(xmlNodePtr n, const char *name)
{
	xmlChar *s = xmlGetProp(n, (const xmlChar *)name);
	uint64_t v = s ? strtoull((const char *)s, NULL, 10) : 0;

	xmlFree(s);
	return v;
}

static char *attr_str(xmlNodePtr n, const char *name)
{
	xmlChar *s = xmlGetProp(n, (const xmlChar *)name);
	char *r = s ? xstrdup((const char *)s) : NULL;

	xmlFree(s);
	return r;
}

static bool attr_bool(xmlNodePtr n, const char *name)
{
	xmlChar *s = xmlGetProp(n, (const xmlChar *)name);
	bool v = s && (strcmp((const char *)s, "true") == 0 || strcmp((const char *)s, "1") == 0);

	xmlFree(s);
	return v;
}

int hvd_vm_check_memory(const struct hvd_vm *vm, char *err, size_t errlen)
{
	const struct {
		const char *what;
		uint64_t v;
	} sizes[] = {
		{ "startup", vm->mem_startup },
		{ "minimum", vm->mem_minimum },
		{ "maximum", vm->mem_maximum },
	};
	size_t i;

	for (i = 0; i < 3; i++) {
		if (sizes[i].v % HVD_MEM_ALIGN) {
			snprintf(err, errlen, "memory %s %" PRIu64 " is not a multiple of 2 MB", sizes[i].what,
				 sizes[i].v);
			return -EINVAL;
		}
		if (sizes[i].v < HVD_MEM_MIN || sizes[i].v > HVD_MEM_MAX) {
			snprintf(err, errlen, "memory %s %" PRIu64 " is outside 32 MB to 12 TB", sizes[i].what,
				 sizes[i].v);
			return -EINVAL;
		}
	}
	if (vm->mem_dynamic && (vm->mem_minimum > vm->mem_startup || vm->mem_startup > vm->mem_maximum)) {
		snprintf(err, errlen,
			 "dynamic memory needs minimum (%" PRIu64 ") <= startup (%" PRIu64 ") <= maximum (%" PRIu64 ")",
			 vm->mem_minimum, vm->mem_startup, vm->mem_maximum);
		return -EINVAL;
	}
	return 0;
}

/* libxml2's schema validator says "failed to validate attributes" without naming one: these
 * checks, run after it failed, say which value is out of its range. */
static void explain_ranges(xmlNodePtr root, struct xml_errors *errs)
{
	static const struct {
		const char *elem, *attr;
		unsigned long long min, max;
	} ranges[] = {
		{ "processor", "count", 1, 240 }, { "processor", "reserve", 0, 100 },
		{ "processor", "maximum", 0, 100 }, { "processor", "relativeWeight", 1, 10000 },
		{ "memory", "buffer", 5, 2000 }, { "memory", "priority", 0, 100 },
	};
	size_t i, n;

	for (i = 0; root && i < sizeof(ranges) / sizeof(ranges[0]); i++) {
		xmlNodePtr el = child(root, ranges[i].elem);
		xmlChar *v = el ? xmlGetProp(el, (const xmlChar *)ranges[i].attr) : NULL;
		char *end = NULL;
		unsigned long long x;

		if (!v)
			continue;
		x = strtoull((const char *)v, &end, 10);
		n = strlen(errs->msg);
		if ((*end || !*v || x < ranges[i].min || x > ranges[i].max) && n + 8 < sizeof(errs->msg))
			snprintf(errs->msg + n, sizeof(errs->msg) - n, "; line %ld: %s %s='%s' is not a whole number from %llu to %llu",
				 xmlGetLineNo(el), ranges[i].elem, ranges[i].attr, (const char *)v, ranges[i].min,
				 ranges[i].max);
		xmlFree(v);
	}
}

static struct hvd_vm *vm_from_doc(xmlNodePtr root)
{
	struct hvd_vm *vm = calloc(1, sizeof(*vm));
	xmlNodePtr n;
	char *s;

	if (!vm)
		abort();
	s = text_of(child(root, "id"));
	snprintf(vm->id, sizeof(vm->id), "%s", s);
	free(s);
	vm->name = text_of(child(root, "name"));
	n = child(root, "notes");
	vm->notes = n ? text_of(n) : NULL;
	vm->path = text_of(child(root, "path"));
	s = text_of(child(root, "generation"));
	vm->generation = atoi(s);
	free(s);
	s = text_of(child(root, "created"));
	vm->created_ns = strtoll(s, NULL, 10);
	free(s);
	n = child(root, "processor");
	vm->proc_count = (uint32_t)attr_u64(n, "count");
	vm->proc_reserve = (uint32_t)attr_u64(n, "reserve");
	vm->proc_maximum = (uint32_t)attr_u64(n, "maximum");
	vm->proc_weight = (uint32_t)attr_u64(n, "relativeWeight");
	n = child(root, "memory");
	vm->mem_startup = attr_u64(n, "startup");
	vm->mem_dynamic = attr_bool(n, "dynamic");
	vm->mem_minimum = attr_u64(n, "minimum");
	vm->mem_maximum = attr_u64(n, "maximum");
	vm->mem_buffer = (uint32_t)attr_u64(n, "buffer");
	vm->mem_priority = (uint32_t)attr_u64(n, "priority");
	for (n = root->children; n; n = n->next) {
		char *name;
		size_t k;

		if (n->type != XML_ELEMENT_NODE || strcmp((const char *)n->name, "integration-service"))
			continue;
		name = attr_str(n, "name");
		for (k = 0; name && k < HVD_IC_COUNT; k++)
			if (!strcmp(name, hvd_ic_names[k]))
				vm->ic_disabled |= 1u << k;
		free(name);
	}
	n = child(root, "firmware");
	if (n) {
		vm->kernel = attr_str(n, "kernel");
		vm->initrd = attr_str(n, "initrd");
		vm->cmdline = attr_str(n, "cmdline");
	}
	n = child(root, "checkpoints");
	if (n) {
		s = attr_str(n, "type");
		vm->checkpoint_type = hvd_ckpt_type_parse(s ? s : "");
		if (vm->checkpoint_type < 0)
			vm->checkpoint_type = HVD_CKPT_PRODUCTION;
		free(s);
	}
	for (n = root->children; n; n = n->next) {
		struct hvd_drive *dr;

		if (n->type != XML_ELEMENT_NODE || strcmp((const char *)n->name, "drive") || vm->ndrives == HVD_MAX_DRIVES)
			continue;
		dr = realloc(vm->drives, (vm->ndrives + 1) * sizeof(*dr));
		if (!dr)
			abort();
		vm->drives = dr;
		dr = &vm->drives[vm->ndrives++];
		dr->controller = (uint32_t)attr_u64(n, "controllerNumber");
		dr->location = (uint32_t)attr_u64(n, "controllerLocation");
		dr->path = attr_str(n, "path");
	}
	n = child(root, "pool");
	if (n) {
		s = attr_str(n, "id");
		snprintf(vm->pool_id, sizeof(vm->pool_id), "%s", s ? s : "");
		free(s);
		vm->pool_parent = attr_str(n, "parent");
	}
	return vm;
}

int hvd_vm_from_xml(const char *buf, size_t len, struct hvd_vm **out, char **err)
{
	struct xml_errors errs = { { 0 } };
	xmlParserCtxtPtr pc = NULL;
	xmlRelaxNGValidCtxtPtr vc = NULL;
	xmlRelaxNGPtr schema;
	xmlDocPtr doc = NULL;
	struct hvd_vm *vm = NULL;
	char rel[256];
	int rc = -EBADMSG;

	*out = NULL;
	*err = NULL;
	if (len > (1u << 20)) {
		*err = xstrdup("the definition is larger than 1 MiB");
		return -E2BIG;
	}
	schema = schema_get();
	if (!schema) {
		*err = xstrdup("the built-in schema does not compile");
		return -EINVAL;
	}
	pc = xmlNewParserCtxt();
	if (!pc)
		abort();
	xmlSetStructuredErrorFunc(&errs, xml_error);
	doc = xmlCtxtReadMemory(pc, buf, (int)len, "vm.xml", NULL, XML_PARSE_NONET | XML_PARSE_NOBLANKS);
	if (!doc) {
		if (!errs.msg[0])
			snprintf(errs.msg, sizeof(errs.msg), "not well-formed XML");
		goto out;
	}
	vc = xmlRelaxNGNewValidCtxt(schema);
	if (!vc)
		abort();
	xmlRelaxNGSetValidStructuredErrors(vc, xml_error, &errs);
	if (xmlRelaxNGValidateDoc(vc, doc) != 0) {
		if (!errs.msg[0])
			snprintf(errs.msg, sizeof(errs.msg), "does not match the vm.xml schema");
		explain_ranges(xmlDocGetRootElement(doc), &errs);
		goto out;
	}
	vm = vm_from_doc(xmlDocGetRootElement(doc));
	if (hvd_vm_check_memory(vm, rel, sizeof(rel))) {
		snprintf(errs.msg, sizeof(errs.msg), "%s", rel);
		goto out;
	}
	*out = vm;
	vm = NULL;
	rc = 0;
out:
	xmlSetStructuredErrorFunc(NULL, NULL);
	if (rc)
		*err = xstrdup(errs.msg);
	hvd_vm_free(vm);
	if (vc)
		xmlRelaxNGFreeValidCtxt(vc);
	xmlFreeDoc(doc);
	xmlFreeParserCtxt(pc);
	return rc;
}

int hvd_vm_to_xml(const struct hvd_vm *vm, char **buf, size_t *len)
{
	xmlBufferPtr xb = xmlBufferCreate();
	xmlTextWriterPtr w;
	int ok = 0;
	size_t k;

	if (!xb)
		return -ENOMEM;
	w = xmlNewTextWriterMemory(xb, 0);
	if (!w) {
		xmlBufferFree(xb);
		return -ENOMEM;
	}
	xmlTextWriterSetIndent(w, 1);
	xmlTextWriterSetIndentString(w, (const xmlChar *)"  ");
	ok |= xmlTextWriterStartDocument(w, NULL, "UTF-8", NULL) < 0;
	ok |= xmlTextWriterStartElementNS(w, NULL, (const xmlChar *)"vm", (const xmlChar *)VM_NS) < 0;
	ok |= xmlTextWriterWriteAttribute(w, (const xmlChar *)"version", (const xmlChar *)"1") < 0;
	ok |= xmlTextWriterWriteElement(w, (const xmlChar *)"id", (const xmlChar *)vm->id) < 0;
	ok |= xmlTextWriterWriteElement(w, (const xmlChar *)"name", (const xmlChar *)vm->name) < 0;
	if (vm->notes)
		ok |= xmlTextWriterWriteElement(w, (const xmlChar *)"notes", (const xmlChar *)vm->notes) < 0;
	ok |= xmlTextWriterWriteElement(w, (const xmlChar *)"path", (const xmlChar *)vm->path) < 0;
	ok |= xmlTextWriterWriteFormatElement(w, (const xmlChar *)"generation", "%d", vm->generation) < 0;
	ok |= xmlTextWriterWriteFormatElement(w, (const xmlChar *)"created", "%" PRId64, vm->created_ns) < 0;
	ok |= xmlTextWriterStartElement(w, (const xmlChar *)"processor") < 0;
	ok |= xmlTextWriterWriteFormatAttribute(w, (const xmlChar *)"count", "%u", vm->proc_count) < 0;
	ok |= xmlTextWriterWriteFormatAttribute(w, (const xmlChar *)"reserve", "%u", vm->proc_reserve) < 0;
	ok |= xmlTextWriterWriteFormatAttribute(w, (const xmlChar *)"maximum", "%u", vm->proc_maximum) < 0;
	ok |= xmlTextWriterWriteFormatAttribute(w, (const xmlChar *)"relativeWeight", "%u", vm->proc_weight) < 0;
	ok |= xmlTextWriterEndElement(w) < 0;
	ok |= xmlTextWriterStartElement(w, (const xmlChar *)"memory") < 0;
	ok |= xmlTextWriterWriteFormatAttribute(w, (const xmlChar *)"startup", "%" PRIu64, vm->mem_startup) < 0;
	ok |= xmlTextWriterWriteAttribute(w, (const xmlChar *)"dynamic",
					  (const xmlChar *)(vm->mem_dynamic ? "true" : "false")) < 0;
	ok |= xmlTextWriterWriteFormatAttribute(w, (const xmlChar *)"minimum", "%" PRIu64, vm->mem_minimum) < 0;
	ok |= xmlTextWriterWriteFormatAttribute(w, (const xmlChar *)"maximum", "%" PRIu64, vm->mem_maximum) < 0;
	ok |= xmlTextWriterWriteFormatAttribute(w, (const xmlChar *)"buffer", "%u", vm->mem_buffer) < 0;
	ok |= xmlTextWriterWriteFormatAttribute(w, (const xmlChar *)"priority", "%u", vm->mem_priority) < 0;
	ok |= xmlTextWriterEndElement(w) < 0;
	for (k = 0; k < HVD_IC_COUNT; k++) {
		if (!(vm->ic_disabled & (1u << k)))
			continue;
		ok |= xmlTextWriterStartElement(w, (const xmlChar *)"integration-service") < 0;
		ok |= xmlTextWriterWriteAttribute(w, (const xmlChar *)"name", (const xmlChar *)hvd_ic_names[k]) < 0;
		ok |= xmlTextWriterWriteAttribute(w, (const xmlChar *)"enabled", (const xmlChar *)"false") < 0;
		ok |= xmlTextWriterEndElement(w) < 0;
	}
	if (vm->kernel || vm->initrd || vm->cmdline) {
		ok |= xmlTextWriterStartElement(w, (const xmlChar *)"firmware") < 0;
		if (vm->kernel)
			ok |= xmlTextWriterWriteAttribute(w, (const xmlChar *)"kernel", (const xmlChar *)vm->kernel) < 0;
		if (vm->initrd)
			ok |= xmlTextWriterWriteAttribute(w, (const xmlChar *)"initrd", (const xmlChar *)vm->initrd) < 0;
		if (vm->cmdline)
			ok |= xmlTextWriterWriteAttribute(w, (const xmlChar *)"cmdline", (const xmlChar *)vm->cmdline) < 0;
		ok |= xmlTextWriterEndElement(w) < 0;
	}
	if (vm->checkpoint_type != HVD_CKPT_PRODUCTION) {
		ok |= xmlTextWriterStartElement(w, (const xmlChar *)"checkpoints") < 0;
		ok |= xmlTextWriterWriteAttribute(w, (const xmlChar *)"type",
						  (const xmlChar *)hvd_ckpt_type_name(vm->checkpoint_type)) < 0;
		ok |= xmlTextWriterEndElement(w) < 0;
	}
	for (size_t i = 0; i < vm->ndrives; i++) {
		ok |= xmlTextWriterStartElement(w, (const xmlChar *)"drive") < 0;
		ok |= xmlTextWriterWriteAttribute(w, (const xmlChar *)"controllerType", (const xmlChar *)"SCSI") < 0;
		ok |= xmlTextWriterWriteFormatAttribute(w, (const xmlChar *)"controllerNumber", "%u", vm->drives[i].controller) < 0;
		ok |= xmlTextWriterWriteFormatAttribute(w, (const xmlChar *)"controllerLocation", "%u", vm->drives[i].location) < 0;
		ok |= xmlTextWriterWriteAttribute(w, (const xmlChar *)"path", (const xmlChar *)vm->drives[i].path) < 0;
		ok |= xmlTextWriterEndElement(w) < 0;
	}
	if (vm->pool_id[0]) {
		ok |= xmlTextWriterStartElement(w, (const xmlChar *)"pool") < 0;
		ok |= xmlTextWriterWriteAttribute(w, (const xmlChar *)"id", (const xmlChar *)vm->pool_id) < 0;
		if (vm->pool_parent)
			ok |= xmlTextWriterWriteAttribute(w, (const xmlChar *)"parent", (const xmlChar *)vm->pool_parent) < 0;
		ok |= xmlTextWriterEndElement(w) < 0;
	}
	return hvd_xml_take(w, xb, ok, buf, len);
}

int hvd_xml_take(struct _xmlTextWriter *w, struct _xmlBuffer *xb, int bad, char **buf, size_t *len)
{
	bad |= xmlTextWriterEndDocument(w) < 0;
	xmlFreeTextWriter(w);
	if (bad) {
		xmlBufferFree(xb);
		return -EIO;
	}
	*len = (size_t)xmlBufferLength(xb);
	*buf = malloc(*len + 1);
	if (!*buf)
		abort();
	memcpy(*buf, xmlBufferContent(xb), *len);
	(*buf)[*len] = '\0';
	xmlBufferFree(xb);
	return 0;
}
