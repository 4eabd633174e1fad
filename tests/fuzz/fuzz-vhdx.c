/*
 * libFuzzer target for libvhdx: open + read (read-only, with the in-memory log replay), then
 * a read-write open that replays into the file and writes.
 *
 * VHDX files are megabytes of mostly zeros, so the input is a sparse description of the
 * file rather than the file itself: records of u32 offset (LE, taken modulo 64 MiB), u16
 * length, then that many bytes (fewer if the input ends).  A record with length 0 sets the
 * file size.  tests/vhdx/vhdx2corpus.py turns an image into this form.
 */
#include "config.h"

#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "formats/vhdx/vhdx.h"

#define SPAN (64u << 20)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int build_file(const uint8_t *data, size_t size)
{
	int fd = memfd_create("fuzz-vhdx", MFD_CLOEXEC);

	if (fd < 0)
		return -1;
	while (size >= 6) {
		uint32_t off = (uint32_t)(data[0] | data[1] << 8 | data[2] << 16 |
					  (uint32_t)data[3] << 24) % SPAN;
		size_t len = (size_t)(data[4] | data[5] << 8);
		data += 6;
		size -= 6;
		if (len == 0) {
			if (ftruncate(fd, off) < 0)
				break;
			continue;
		}
		if (len > size)
			len = size;
		if (pwrite(fd, data, len, off) != (ssize_t)len)
			break;
		data += len;
		size -= len;
	}
	return fd;
}

static void exercise_read(struct vhdx *v)
{
	struct vhdx_info info;
	struct vhdx_extent e;
	static uint8_t buf[64 * 1024];

	if (vhdx_info_get(v, &info) < 0)
		return;
	/* the start of up to 64 blocks, and the very end of the disk */
	for (uint64_t b = 0; b < info.blocks && b < 64; b++) {
		uint64_t off = b * info.block_size;
		size_t n = info.virtual_size - off < sizeof(buf) ? (size_t)(info.virtual_size - off)
								   : sizeof(buf);
		if (vhdx_read(v, buf, n, off) < 0)
			break;
		if (vhdx_map(v, off, n, &e) < 0)
			break;
	}
	if (vhdx_read(v, buf, 512, info.virtual_size - 512) < 0)
		return;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char path[64];
	struct vhdx *v;
	int fd = build_file(data, size);

	if (fd < 0)
		return 0;
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	if (vhdx_open(path, VHDX_OPEN_NO_PARENT, &v) == 0) {
		exercise_read(v);
		struct vhdx_check_result res;
		if (vhdx_check(v, 0, NULL, NULL, &res) < 0)
			res.errors = 1;
		vhdx_free(v);
	}
	if (vhdx_open(path, VHDX_OPEN_NO_PARENT | VHDX_OPEN_RDWR, &v) == 0) {
		struct vhdx_info info;
		static uint8_t buf[8192];
		memset(buf, 0xa5, sizeof(buf));
		/* block allocation grows the in-memory file: only for small blocks */
		if (vhdx_info_get(v, &info) == 0 && info.block_size <= (4u << 20) &&
		    info.virtual_size >= sizeof(buf) && info.type != VHDX_TYPE_DIFFERENCING) {
			if (vhdx_write(v, buf, sizeof(buf), info.virtual_size / 2 & ~511ull) == 0)
				exercise_read(v);
		}
		if (vhdx_close(v) < 0)
			v = NULL;
	}
	close(fd);
	return 0;
}
