/* Fuzz target: a partition's saved-state file (hvcore/STATEFILE.md), as hv-worker reads it
 * before restoring. The input is the file up to its memory section; the memory itself is a
 * hole (the reader never looks into it), so the seeds stay small. */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "hvcore/hv-priv.h"
#include "hvcore/state.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct hv_state *st = NULL;
	char err[256];
	int fd = memfd_create("state", MFD_CLOEXEC);

	if (fd < 0)
		return 0;
	if (write(fd, data, size) == (ssize_t)size) {
		/* The length the header claims, as a hole, when it is sane. */
		if (size >= HV_STATE_HDR_LEN && hv_get64(data + 24) > size && hv_get64(data + 24) <= (4ULL << 30))
			(void)!ftruncate(fd, (off_t)hv_get64(data + 24));
		if (hv_state_read(fd, &st, err, sizeof(err)) == 0)
			hv_state_free(st);
	}
	close(fd);
	return 0;
}
