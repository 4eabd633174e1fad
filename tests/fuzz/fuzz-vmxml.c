/* Fuzz target: a vm.xml or pool.xml definition, as hvd loads them from the state directory. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "daemon/hvd.h"
#include "daemon/pool.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

void hvd_log(enum hvd_log_level level, const char *fmt, ...)
{
	(void)level;
	(void)fmt;
}

int64_t hvd_now_ns(void)
{
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct hvd_vm *vm = NULL;
	char *err = NULL, *xml = NULL;
	size_t len;

	if (hvd_vm_from_xml((const char *)data, size, &vm, &err) == 0) {
		/* What loads must save and load again to the same definition. */
		struct hvd_vm *again = NULL;
		char *err2 = NULL;

		if (hvd_vm_to_xml(vm, &xml, &len) != 0 || hvd_vm_from_xml(xml, len, &again, &err2) != 0)
			abort();
		hvd_vm_free(again);
		free(err2);
	}
	hvd_vm_free(vm);
	free(err);
	free(xml);
	xml = NULL;
	{
		struct hvd_pool *p = NULL, *again = NULL;
		char why[256];

		if (hvd_pool_from_xml((const char *)data, size, &p, why, sizeof(why)) == 0) {
			if (hvd_pool_to_xml(p, &xml, &len) != 0 ||
			    hvd_pool_from_xml(xml, len, &again, why, sizeof(why)) != 0 || strcmp(p->id, again->id) ||
			    strcmp(p->parent, again->parent) || p->next_index != again->next_index)
				abort();
			hvd_pool_free(again);
		}
		hvd_pool_free(p);
		free(xml);
	}
	return 0;
}
