/*
 * Random 4 KiB I/O through libvhdx, for bench/vhdx-bench.sh: COUNT writes (then one flush)
 * or COUNT reads at offsets drawn from SEED, the same ones the script gives qemu-io.
 * Prints the operations per second.
 *
 *   vhdx-io write|read FILE COUNT SEED
 *   vhdx-io seqwrite|seqread FILE COUNT SEED   (64 KiB at a time from offset 0, wrapping;
 *                                               prints KiB per second; SEED unused)
 */
#include "config.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "formats/vhdx/vhdx.h"

static uint64_t next(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

int main(int argc, char **argv)
{
	struct vhdx_info info;
	struct vhdx *v;
	struct timespec a, b;
	static uint8_t buf[65536];
	bool wr, seq;
	size_t len;
	uint64_t pos = 0;
	long count;
	uint64_t seed;
	int r = 0;

	if (argc != 5) {
		fprintf(stderr, "usage: vhdx-io write|read|seqwrite|seqread FILE COUNT SEED\n");
		return 2;
	}
	seq = strncmp(argv[1], "seq", 3) == 0;
	wr = strcmp(argv[1] + (seq ? 3 : 0), "write") == 0;
	len = seq ? 65536 : 4096;
	count = atol(argv[3]);
	seed = strtoull(argv[4], NULL, 10) | 1;
	if (vhdx_open(argv[2], wr ? VHDX_OPEN_RDWR : 0, &v) < 0 || vhdx_info_get(v, &info) < 0) {
		fprintf(stderr, "vhdx-io: cannot open %s\n", argv[2]);
		return 1;
	}
	memset(buf, 0x5a, sizeof(buf));
	clock_gettime(CLOCK_MONOTONIC, &a);
	for (long i = 0; i < count && r == 0; i++) {
		uint64_t off = next(&seed) % (info.virtual_size / 4096) * 4096;

		if (seq) {
			off = pos;
			pos = pos + 2 * len > info.virtual_size ? 0 : pos + len;
		}
		r = wr ? vhdx_write(v, buf, len, off) : vhdx_read(v, buf, len, off);
	}
	if (r == 0 && wr)
		r = vhdx_flush(v);
	clock_gettime(CLOCK_MONOTONIC, &b);
	if (vhdx_close(v) < 0 || r < 0) {
		fprintf(stderr, "vhdx-io: I/O failed\n");
		return 1;
	}
	double s = (double)(b.tv_sec - a.tv_sec) + (double)(b.tv_nsec - a.tv_nsec) / 1e9;
	printf("%.0f\n", (double)count / s * (seq ? (double)len / 1024 : 1));
	return 0;
}
