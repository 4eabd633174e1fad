/*
 * STATE/pools/<Id>/pool.xml, a pool's definition: one element whose attributes are its
 * settings.  It is read at every start of hvd, so every value is checked as if it came from
 * outside (a hand-edited or damaged file gives a sentence naming the attribute, never a
 * crash); tests/fuzz/fuzz-vmxml.c feeds it too.
 *
 *   <pool xmlns="urn:hvkit:pool:1" version="1" id="UUID" name="desk" parent="/golden.vhdx"
 *         prefix="desk-" memoryStartup="268435456" processorCount="1" rollbackOnStop="true"
 *         created="NS" nextIndex="21" parentLink="STATE/pools/UUID/golden-1.vhdx"/>
 * (parentLink optional: the pool's hard link to its golden image, which members name; STATE
 * is the state dir's canonical path, which the loader checks).
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/parser.h>
#include <libxml/tree.h>
#include <libxml/xmlwriter.h>

#include "daemon/hvd.h"
#include "daemon/pool.h"

void hvd_pool_free(struct hvd_pool *p)
{
	if (!p)
		return;
	free(p->name);
	free(p->parent);
	free(p->parent_link);
	free(p->prefix);
	free(p);
}

static char *attr(xmlNodePtr n, const char *name)
{
	xmlChar *v = xmlGetProp(n, (const xmlChar *)name);
	char *s = v ? strdup((const char *)v) : NULL;

	if (v && !s)
		abort();
	xmlFree(v);
	return s;
}

static bool uuid_ok(const char *s)
{
	static const char shape[] = "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx";
	size_t i;

	if (!s || strlen(s) != sizeof(shape) - 1)
		return false;
	for (i = 0; shape[i]; i++)
		if (shape[i] == '-' ? s[i] != '-' : !strchr("0123456789abcdef", s[i]))
			return false;
	return true;
}

/* A decimal number within [min, max] in attribute name. */
static int number(xmlNodePtr n, const char *name, uint64_t min, uint64_t max, uint64_t *out, char *err, size_t errlen)
{
	char *s = attr(n, name), *end = NULL;
	int rc = 0;

	/* strtoull alone would take leading blanks, a sign, and wrap a negative number. */
	errno = 0;
	*out = s && isdigit((unsigned char)*s) ? strtoull(s, &end, 10) : 0;
	if (!s || !isdigit((unsigned char)*s) || *end || errno || *out < min || *out > max) {
		snprintf(err, errlen, "attribute %s='%s' is not a whole number from %" PRIu64 " to %" PRIu64, name,
			 s ? s : "(missing)", min, max);
		rc = -EBADMSG;
	}
	free(s);
	return rc;
}

/* Whether s is "/.../pools/<id>/golden-N.vhdx" (N from 1, no leading zero, no ".." part):
 * the loader checks that the start is this state dir's. */
static bool link_ok(const char *s, const char *id)
{
	const char *name = strrchr(s, '/'), *n;
	size_t id_len = strlen(id), digits;

	if (s[0] != '/' || strstr(s, "/../") || !name ||
	    strncmp(name + 1, "golden-", 7))
		return false;
	n = name + 8;
	digits = strspn(n, "0123456789");
	if (digits < 1 || digits > 4 || n[0] == '0' || strcmp(n + digits, ".vhdx"))
		return false;
	return (size_t)(name - s) > id_len + 6 && !strncmp(name - id_len, id, id_len) &&
	       !strncmp(name - id_len - 7, "/pools/", 7);
}

static int from_root(xmlNodePtr root, struct hvd_pool *p, char *err, size_t errlen)
{
	uint64_t v;
	char *s;
	int rc;

	if (!root || strcmp((const char *)root->name, "pool") || !root->ns ||
	    strcmp((const char *)root->ns->href, "urn:hvkit:pool:1")) {
		snprintf(err, errlen, "the document is not a <pool> of urn:hvkit:pool:1");
		return -EBADMSG;
	}
	s = attr(root, "version");
	rc = s && !strcmp(s, "1") ? 0 : -EBADMSG;
	free(s);
	if (rc) {
		snprintf(err, errlen, "version must be 1");
		return rc;
	}
	s = attr(root, "id");
	if (!uuid_ok(s)) {
		snprintf(err, errlen, "id='%s' is not a UUID", s ? s : "(missing)");
		free(s);
		return -EBADMSG;
	}
	snprintf(p->id, sizeof(p->id), "%s", s);
	free(s);
	p->name = attr(root, "name");
	p->parent = attr(root, "parent");
	p->prefix = attr(root, "prefix");
	p->parent_link = attr(root, "parentLink");
	if (p->parent_link && !link_ok(p->parent_link, p->id)) {
		snprintf(err, errlen, "parentLink='%s' is not STATE/pools/%s/golden-N.vhdx", p->parent_link,
			 p->id);
		return -EBADMSG;
	}
	if (hvd_name_flaw(p->name) != HVD_NAME_OK) {
		snprintf(err, errlen,
			 "name='%s' is not a name New-VMPool takes (1 to %d characters, not blank, no control or "
			 "wildcard characters)", p->name ? p->name : "(missing)", HVD_MAX_NAME);
		return -EBADMSG;
	}
	if (!p->parent || p->parent[0] != '/') {
		snprintf(err, errlen, "parent='%s' is not an absolute path", p->parent ? p->parent : "(missing)");
		return -EBADMSG;
	}
	if (!p->prefix || strlen(p->prefix) > 400 || strpbrk(p->prefix, "*?[]")) {
		snprintf(err, errlen, "the member name prefix is missing, too long or has wildcards");
		return -EBADMSG;
	}
	if ((rc = number(root, "memoryStartup", 32ull << 20, 12ull << 40, &p->mem_startup, err, errlen)) ||
	    (rc = number(root, "processorCount", 1, 240, &v, err, errlen)))
		return rc;
	if (p->mem_startup % (2u << 20)) {
		snprintf(err, errlen, "memoryStartup='%" PRIu64 "' is not a multiple of 2 MiB",
			 p->mem_startup);
		return -EBADMSG;
	}
	p->proc_count = (uint32_t)v;
	if ((rc = number(root, "nextIndex", 1, HVD_POOL_INDEX_MAX, &v, err, errlen)))
		return rc;
	p->next_index = (uint32_t)v;
	if ((rc = number(root, "created", 0, INT64_MAX, &v, err, errlen)))
		return rc;
	p->created_ns = (int64_t)v;
	s = attr(root, "rollbackOnStop");
	if (!s || (strcmp(s, "true") && strcmp(s, "false"))) {
		snprintf(err, errlen, "rollbackOnStop='%s' is neither true nor false", s ? s : "(missing)");
		free(s);
		return -EBADMSG;
	}
	p->rollback_on_stop = !strcmp(s, "true");
	free(s);
	return 0;
}

static void no_print(void *ctx, const char *fmt, ...)
{
	(void)ctx;
	(void)fmt;
}

int hvd_pool_from_xml(const char *buf, size_t len, struct hvd_pool **out, char *err, size_t errlen)
{
	struct hvd_pool *p;
	xmlDocPtr doc;
	int rc;

	*out = NULL;
	if (len > 64 * 1024) {
		snprintf(err, errlen, "the definition is larger than 64 KiB");
		return -E2BIG;
	}
	xmlSetGenericErrorFunc(NULL, no_print);
	doc = xmlReadMemory(buf, (int)len, "pool.xml", NULL, XML_PARSE_NONET | XML_PARSE_NOBLANKS | XML_PARSE_NOERROR |
				    XML_PARSE_NOWARNING);
	if (!doc) {
		snprintf(err, errlen, "not well-formed XML");
		return -EBADMSG;
	}
	p = calloc(1, sizeof(*p));
	if (!p)
		abort();
	rc = from_root(xmlDocGetRootElement(doc), p, err, errlen);
	xmlFreeDoc(doc);
	if (rc) {
		hvd_pool_free(p);
		return rc;
	}
	*out = p;
	return 0;
}

int hvd_pool_to_xml(const struct hvd_pool *p, char **buf, size_t *len)
{
	xmlBufferPtr xb = xmlBufferCreate();
	xmlTextWriterPtr w = xb ? xmlNewTextWriterMemory(xb, 0) : NULL;
	int bad = 0;

	if (!w)
		abort();
	bad |= xmlTextWriterStartDocument(w, NULL, "UTF-8", NULL) < 0;
	bad |= xmlTextWriterStartElementNS(w, NULL, (const xmlChar *)"pool", (const xmlChar *)"urn:hvkit:pool:1") < 0;
	bad |= xmlTextWriterWriteAttribute(w, (const xmlChar *)"version", (const xmlChar *)"1") < 0;
	bad |= xmlTextWriterWriteAttribute(w, (const xmlChar *)"id", (const xmlChar *)p->id) < 0;
	bad |= xmlTextWriterWriteAttribute(w, (const xmlChar *)"name", (const xmlChar *)p->name) < 0;
	bad |= xmlTextWriterWriteAttribute(w, (const xmlChar *)"parent", (const xmlChar *)p->parent) < 0;
	bad |= xmlTextWriterWriteAttribute(w, (const xmlChar *)"prefix", (const xmlChar *)p->prefix) < 0;
	if (p->parent_link)
		bad |= xmlTextWriterWriteAttribute(w, (const xmlChar *)"parentLink", (const xmlChar *)p->parent_link) < 0;
	bad |= xmlTextWriterWriteFormatAttribute(w, (const xmlChar *)"memoryStartup", "%" PRIu64, p->mem_startup) < 0;
	bad |= xmlTextWriterWriteFormatAttribute(w, (const xmlChar *)"processorCount", "%u", p->proc_count) < 0;
	bad |= xmlTextWriterWriteAttribute(w, (const xmlChar *)"rollbackOnStop",
					   (const xmlChar *)(p->rollback_on_stop ? "true" : "false")) < 0;
	bad |= xmlTextWriterWriteFormatAttribute(w, (const xmlChar *)"created", "%" PRId64, p->created_ns) < 0;
	bad |= xmlTextWriterWriteFormatAttribute(w, (const xmlChar *)"nextIndex", "%u", p->next_index) < 0;
	bad |= xmlTextWriterEndElement(w) < 0;
	return hvd_xml_take(w, xb, bad, buf, len);
}
