/* Fuzz target: a partition's saved-state file (hvcore/STATEFILE.md), as hv-worker reads it
 * before restoring. The input is the file up to its memory section; the memory itself is a
 * hole (the reader never looks into it), so the seeds stay small. An input whose header byte
 * 44 (reserved) is 'F' gets its checksums recomputed first, so that the fuzzer also reaches
 * the records behind them. */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "hvcore/hv-priv.h"
#include "hvcore/state.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fix_checksums(uint8_t *b, size_t size)
{
	uint32_t n = hv_get32(b + 16), i;

	if (n > HV_STATE_MAX_SECTIONS || HV_STATE_HDR_LEN + (uint64_t)n * HV_STATE_SEC_LEN > size)
		return;
	for (i = 0; i < n; i++) {
		uint8_t *e = b + HV_STATE_HDR_LEN + (size_t)i * HV_STATE_SEC_LEN;
		uint64_t off = hv_get64(e + 8), len = hv_get64(e + 16);

		if (off <= size && len <= size - off)
			hv_put32(e + 24, hv_crc32c(0, b + off, (size_t)len));
	}
	hv_put32(b + 56, hv_crc32c(0, b + HV_STATE_HDR_LEN, (size_t)n * HV_STATE_SEC_LEN));
	hv_put32(b + 60, hv_crc32c(0, b, 60));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct hv_state *st = NULL;
	char err[256];
	uint8_t *b = malloc(size ? size : 1);
	int fd = memfd_create("state", MFD_CLOEXEC);

	if (fd < 0 || !b) {
		free(b);
		if (fd >= 0)
			close(fd);
		return 0;
	}
	memcpy(b, data, size);
	if (size >= HV_STATE_HDR_LEN && b[44] == 'F')
		fix_checksums(b, size);
	if (write(fd, b, size) == (ssize_t)size) {
		/* The length the header claims, as a hole, when it is sane. */
		if (size >= HV_STATE_HDR_LEN && hv_get64(b + 24) > size && hv_get64(b + 24) <= (4ULL << 30))
			(void)!ftruncate(fd, (off_t)hv_get64(b + 24));
		if (hv_state_read(fd, &st, err, sizeof(err)) == 0)
			hv_state_free(st);
	}
	close(fd);
	free(b);
	return 0;
}
