/* 64-bit ELF kernels (the built-in guest, PVH kernels): PT_LOAD segments go to their
 * physical addresses; the vCPU enters e_entry already in 64-bit mode (hvcore.h). Every
 * offset and size is checked against the file and guest RAM before use. */
#include "config.h"

#include <errno.h>
#include <string.h>

#include "hvcore/hv-priv.h"

#define EHDR_SIZE 64
#define PHDR_SIZE 56
#define MAX_PHDRS 64
#define PT_LOAD 1
#define EM_X86_64 62
#define ET_EXEC 2

struct seg {
	uint64_t offset, vaddr, paddr, filesz, memsz;
};

static void read_phdr(const uint8_t *ph, uint32_t *type, struct seg *s)
{
	*type = hv_get32(ph);
	s->offset = hv_get64(ph + 8);
	s->vaddr = hv_get64(ph + 16);
	s->paddr = hv_get64(ph + 24);
	s->filesz = hv_get64(ph + 32);
	s->memsz = hv_get64(ph + 40);
}

static int check_header(const uint8_t *img, size_t len, uint64_t *phoff, unsigned *phnum)
{
	if (len < EHDR_SIZE)
		return -EBADMSG;
	if (img[4] == 1)
		return -ENOTSUP; /* 32-bit ELF */
	if (img[4] != 2 || img[5] != 1)
		return -EBADMSG;
	if (hv_get16(img + 18) != EM_X86_64 || hv_get16(img + 16) != ET_EXEC)
		return -ENOTSUP;
	*phoff = hv_get64(img + 32);
	*phnum = hv_get16(img + 56);
	if (hv_get16(img + 54) != PHDR_SIZE || *phnum == 0 || *phnum > MAX_PHDRS)
		return -EBADMSG;
	if (*phoff > len || (uint64_t)*phnum * PHDR_SIZE > len - *phoff)
		return -EBADMSG;
	return 0;
}

static int check_segment(struct hv_partition *p, const struct seg *s, size_t len)
{
	if (s->filesz > s->memsz || s->offset > len || s->filesz > len - s->offset)
		return -EBADMSG;
	if (s->paddr < HV_KERNEL_GPA)
		return -ENOTSUP;
	if (!hv_partition_gpa(p, s->paddr, s->memsz))
		return -E2BIG;
	return 0;
}

int hv_elf_load(struct hv_partition *p, const uint8_t *img, size_t len, const void *initrd,
		size_t initrd_len)
{
	uint64_t phoff, entry, entry_pa = 0, kernel_end = 0, initrd_gpa;
	unsigned phnum, i, loads = 0;
	bool entry_ok = false;
	struct seg s;
	uint32_t type;
	uint8_t *dst;
	int r;

	r = check_header(img, len, &phoff, &phnum);
	if (r)
		return r;
	entry = hv_get64(img + 24);
	/* Check everything before copying anything. */
	for (i = 0; i < phnum; i++) {
		read_phdr(img + phoff + (uint64_t)i * PHDR_SIZE, &type, &s);
		if (type != PT_LOAD)
			continue;
		r = check_segment(p, &s, len);
		if (r)
			return r;
		loads++;
		if (s.paddr + s.memsz > kernel_end)
			kernel_end = s.paddr + s.memsz;
		if (!entry_ok && entry >= s.vaddr && entry - s.vaddr < s.memsz) {
			entry_pa = entry - s.vaddr + s.paddr;
			entry_ok = true;
		}
		/* Linux's vmlinux gives the physical address of startup_64 as e_entry. */
		if (!entry_ok && !entry_pa && entry >= s.paddr && entry - s.paddr < s.memsz)
			entry_pa = entry;
	}
	if (!entry_ok && entry_pa)
		entry_ok = true;
	if (!loads || !entry_ok)
		return -EBADMSG;
	for (i = 0; i < phnum; i++) {
		read_phdr(img + phoff + (uint64_t)i * PHDR_SIZE, &type, &s);
		if (type != PT_LOAD)
			continue;
		dst = hv_partition_gpa(p, s.paddr, s.memsz);
		memcpy(dst, img + s.offset, s.filesz);
		memset(dst + s.filesz, 0, s.memsz - s.filesz);
	}
	r = hv_boot_place_initrd(p, initrd, initrd_len, HV_MMIO_HOLE, (kernel_end + 0xfff) & ~0xfffULL,
				 &initrd_gpa);
	if (r)
		return r;
	r = hv_boot_start_info(p, initrd_gpa, initrd_len);
	if (r)
		return r;
	r = hv_boot_zero_page(p, NULL, 0, initrd_gpa, initrd_len);
	if (r)
		return r;
	p->entry_rip = entry_pa;
	return 0;
}
