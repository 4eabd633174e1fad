/* Linux bzImage, 64-bit boot protocol (Documentation/arch/x86/boot.rst): the protected-mode
 * kernel goes to 1 MiB and is entered at +0x200 in 64-bit mode with RSI = boot_params. Needs
 * protocol 2.12+ with XLF_KERNEL_64; older kernels are refused as unsupported. */
#include "config.h"

#include <errno.h>
#include <string.h>

#include "hvcore/hv-priv.h"

#define OFF_SETUP_SECTS 0x1f1
#define OFF_BOOT_FLAG 0x1fe
#define OFF_JUMP 0x200
#define OFF_HEADER 0x202
#define OFF_VERSION 0x206
#define OFF_INITRD_ADDR_MAX 0x22c
#define OFF_XLOADFLAGS 0x236
#define OFF_CMDLINE_SIZE 0x238
#define OFF_INIT_SIZE 0x260
#define HDR_MIN_END 0x264
#define XLF_KERNEL_64 0x1
#define ENTRY_64 0x200

bool hv_bzimage_probe(const uint8_t *img, size_t len)
{
	return len >= OFF_HEADER + 4 && hv_get16(img + OFF_BOOT_FLAG) == 0xaa55 &&
	       memcmp(img + OFF_HEADER, "HdrS", 4) == 0;
}

static int cmdline_fits(struct hv_partition *p, uint32_t max)
{
	const char *c = hv_partition_gpa(p, HV_CMDLINE_GPA, HV_MAX_CMDLINE);

	if (!c)
		return -E2BIG;
	return strnlen(c, HV_MAX_CMDLINE) <= max ? 0 : -E2BIG;
}

int hv_bzimage_load(struct hv_partition *p, const uint8_t *img, size_t len, const void *initrd,
		    size_t initrd_len)
{
	uint64_t setup_size, hdr_end, klen, need, initrd_gpa, max_end;
	unsigned setup_sects;
	uint8_t *dst;
	int r;

	if (len < HDR_MIN_END)
		return -EBADMSG;
	if (hv_get16(img + OFF_VERSION) < 0x020c)
		return -ENOTSUP;
	if (!(hv_get16(img + OFF_XLOADFLAGS) & XLF_KERNEL_64))
		return -ENOTSUP;
	setup_sects = img[OFF_SETUP_SECTS] ? img[OFF_SETUP_SECTS] : 4;
	setup_size = (setup_sects + 1ULL) * 512;
	hdr_end = OFF_HEADER + (uint64_t)img[OFF_JUMP + 1];
	if (setup_size >= len || hdr_end > setup_size || hdr_end < HDR_MIN_END)
		return -EBADMSG;
	klen = len - setup_size;
	need = hv_get32(img + OFF_INIT_SIZE);
	if (need < klen)
		need = klen;
	dst = hv_partition_gpa(p, HV_KERNEL_GPA, need);
	if (!dst)
		return -E2BIG;
	r = cmdline_fits(p, hv_get32(img + OFF_CMDLINE_SIZE));
	if (r)
		return r;
	memcpy(dst, img + setup_size, klen);
	max_end = (uint64_t)hv_get32(img + OFF_INITRD_ADDR_MAX) + 1;
	r = hv_boot_place_initrd(p, initrd, initrd_len, max_end,
				 (HV_KERNEL_GPA + need + 0xfff) & ~0xfffULL, &initrd_gpa);
	if (r)
		return r;
	r = hv_boot_zero_page(p, img + OFF_SETUP_SECTS, hdr_end - OFF_SETUP_SECTS, initrd_gpa,
			      initrd_len);
	if (r)
		return r;
	p->entry_rip = HV_KERNEL_GPA + ENTRY_64;
	p->entry_rbx = 0;
	return 0;
}
