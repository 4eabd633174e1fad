/* Fuzz target: a vm.xml definition, as hvd loads it from the state directory. */
#include "config.h"

#include <stdlib.h>

#include "daemon/hvd.h"

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
	return 0;
}
