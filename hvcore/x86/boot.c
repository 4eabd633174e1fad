/* x86 boot: the e820 map, identity page tables, GDT and the registers that put the boot
 * vCPU straight into 64-bit mode, plus the two hand-over blocks a kernel reads: Linux's
 * boot_params ("zero page", Documentation/arch/x86/boot.rst, zero-page.rst) and PVH's
 * hvm_start_info (xen/include/public/arch-x86/hvm/start_info.h). */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hvcore/hv-priv.h"

#define BOOT_CS 0x10
#define BOOT_DS 0x18

#define CR0_PE 0x1ULL
#define CR0_MP 0x2ULL
#define CR0_ET 0x10ULL
#define CR0_NE 0x20ULL
#define CR0_WP 0x10000ULL
#define CR0_PG 0x80000000ULL
#define CR4_PAE 0x20ULL
#define EFER_LME 0x100ULL
#define EFER_LMA 0x400ULL

#define PTE_P 0x1ULL
#define PTE_W 0x2ULL
#define PTE_PS 0x80ULL

/* boot_params offsets (zero-page.rst) */
#define ZP_ACPI_RSDP 0x070
#define ZP_EXT_RAMDISK_IMAGE 0x0c0
#define ZP_EXT_RAMDISK_SIZE 0x0c4
#define ZP_EXT_CMD_LINE_PTR 0x0c8
#define ZP_E820_ENTRIES 0x1e8
#define ZP_HDR 0x1f1
#define ZP_HDR_MAGIC 0x202
#define ZP_TYPE_OF_LOADER 0x210
#define ZP_LOADFLAGS 0x211
#define ZP_RAMDISK_IMAGE 0x218
#define ZP_RAMDISK_SIZE 0x21c
#define ZP_HEAP_END_PTR 0x224
#define ZP_CMD_LINE_PTR 0x228
#define ZP_E820_TABLE 0x2d0
#define ZP_E820_MAX 128

#define LOADED_HIGH 0x01
#define CAN_USE_HEAP 0x80

/* hvm_start_info layout, version 1 */
#define PVH_MAGIC 0x336ec578u
#define SI_MEMMAP_GPA (HV_START_INFO_GPA + 0x40)
#define SI_MODLIST_GPA (HV_START_INFO_GPA + 0x200)

static void e820_add(struct hv_partition *p, uint64_t addr, uint64_t size, uint32_t type)
{
	if (p->ne820 < HV_E820_MAX && size)
		p->e820[p->ne820++] = (struct hv_e820){ addr, size, type };
}

void hv_e820_build(struct hv_partition *p)
{
	p->ne820 = 0;
	e820_add(p, 0, HV_EBDA_GPA, E820_RAM);
	e820_add(p, HV_EBDA_GPA, 0xa0000 - HV_EBDA_GPA, E820_RESERVED);
	e820_add(p, HV_ACPI_GPA, HV_ACPI_END - HV_ACPI_GPA, E820_RESERVED);
	e820_add(p, HV_KERNEL_GPA, p->ram_low - HV_KERNEL_GPA, E820_RAM);
	e820_add(p, HV_4G, p->ram_high, E820_RAM);
}

int hv_boot_page_tables(struct hv_partition *p)
{
	static const uint64_t gdt[] = {
		0, 0,
		0x00af9b000000ffffULL, /* 0x10: 64-bit code */
		0x00cf93000000ffffULL, /* 0x18: data */
	};
	uint8_t *pml4 = hv_partition_gpa(p, HV_PML4_GPA, 4096);
	uint8_t *pdpt = hv_partition_gpa(p, HV_PDPT_GPA, 4096);
	uint8_t *pd = hv_partition_gpa(p, HV_PD_GPA, 4 * 4096);
	uint8_t *g = hv_partition_gpa(p, HV_GDT_GPA, sizeof(gdt));
	unsigned i;

	if (!pml4 || !pdpt || !pd || !g)
		return -E2BIG;
	memset(pml4, 0, 4096);
	memset(pdpt, 0, 4096);
	hv_put64(pml4, HV_PDPT_GPA | PTE_P | PTE_W);
	for (i = 0; i < 4; i++)
		hv_put64(pdpt + 8 * i, (HV_PD_GPA + 4096ULL * i) | PTE_P | PTE_W);
	for (i = 0; i < 4 * 512; i++)
		hv_put64(pd + 8 * i, ((uint64_t)i << 21) | PTE_P | PTE_W | PTE_PS);
	for (i = 0; i < sizeof(gdt) / sizeof(gdt[0]); i++)
		hv_put64(g + 8 * i, gdt[i]);
	return 0;
}

static void flat_segment(struct kvm_segment *s, uint16_t sel, uint8_t type, bool code)
{
	memset(s, 0, sizeof(*s));
	s->base = 0;
	s->limit = 0xffffffff;
	s->selector = sel;
	s->type = type;
	s->present = 1;
	s->s = 1;
	s->g = 1;
	s->l = code;
	s->db = !code;
}

/* Only the boot vCPU gets registers: the others wait in KVM for the guest's INIT/SIPI. */
int hv_boot_regs(struct hv_vcpu *v)
{
	struct hv_partition *p = v->p;
	struct kvm_sregs sregs;
	struct kvm_regs regs;

	if (ioctl(v->fd, KVM_GET_SREGS, &sregs) < 0)
		return -errno;
	flat_segment(&sregs.cs, BOOT_CS, 0xb, true);
	flat_segment(&sregs.ds, BOOT_DS, 0x3, false);
	sregs.es = sregs.fs = sregs.gs = sregs.ss = sregs.ds;
	sregs.gdt.base = HV_GDT_GPA;
	sregs.gdt.limit = 4 * 8 - 1;
	sregs.cr0 = CR0_PE | CR0_MP | CR0_ET | CR0_NE | CR0_WP | CR0_PG;
	sregs.cr3 = HV_PML4_GPA;
	sregs.cr4 = CR4_PAE;
	sregs.efer = EFER_LME | EFER_LMA;
	if (ioctl(v->fd, KVM_SET_SREGS, &sregs) < 0)
		return -errno;
	memset(&regs, 0, sizeof(regs));
	regs.rflags = 0x2;
	regs.rip = p->entry_rip;
	regs.rsi = p->entry_rsi;
	regs.rbx = p->entry_rbx;
	regs.rsp = HV_BOOT_STACK_GPA;
	if (ioctl(v->fd, KVM_SET_REGS, &regs) < 0)
		return -errno;
	return 0;
}

int hv_boot_cmdline(struct hv_partition *p, const char *cmdline)
{
	size_t n = cmdline ? strlen(cmdline) : 0;
	uint8_t *dst = hv_partition_gpa(p, HV_CMDLINE_GPA, HV_MAX_CMDLINE);

	if (n >= HV_MAX_CMDLINE)
		return -E2BIG;
	if (!dst)
		return -E2BIG;
	memset(dst, 0, HV_MAX_CMDLINE);
	if (n)
		memcpy(dst, cmdline, n);
	return 0;
}

/* setup_hdr: the kernel's setup header from 0x1f1 (bzImage), or NULL for an ELF. */
int hv_boot_zero_page(struct hv_partition *p, const uint8_t *setup_hdr, size_t hdr_len,
		      uint64_t initrd_gpa, uint64_t initrd_len)
{
	uint8_t *zp = hv_partition_gpa(p, HV_ZERO_PAGE_GPA, 4096);
	unsigned i;

	if (!zp)
		return -E2BIG;
	memset(zp, 0, 4096);
	if (setup_hdr) {
		if (hdr_len > 4096 - ZP_HDR)
			return -EBADMSG;
		memcpy(zp + ZP_HDR, setup_hdr, hdr_len);
	} else {
		memcpy(zp + ZP_HDR_MAGIC, "HdrS", 4);
	}
	zp[ZP_TYPE_OF_LOADER] = 0xff;
	zp[ZP_LOADFLAGS] |= LOADED_HIGH | CAN_USE_HEAP;
	hv_put16(zp + ZP_HEAP_END_PTR, 0xfe00 - 0x200);
	hv_put32(zp + ZP_CMD_LINE_PTR, (uint32_t)HV_CMDLINE_GPA);
	hv_put32(zp + ZP_EXT_CMD_LINE_PTR, 0);
	hv_put32(zp + ZP_RAMDISK_IMAGE, (uint32_t)initrd_gpa);
	hv_put32(zp + ZP_RAMDISK_SIZE, (uint32_t)initrd_len);
	hv_put32(zp + ZP_EXT_RAMDISK_IMAGE, (uint32_t)(initrd_gpa >> 32));
	hv_put32(zp + ZP_EXT_RAMDISK_SIZE, (uint32_t)(initrd_len >> 32));
	hv_put64(zp + ZP_ACPI_RSDP, HV_ACPI_GPA);
	zp[ZP_E820_ENTRIES] = (uint8_t)p->ne820;
	for (i = 0; i < p->ne820 && i < ZP_E820_MAX; i++) {
		uint8_t *e = zp + ZP_E820_TABLE + 20 * i;

		hv_put64(e, p->e820[i].addr);
		hv_put64(e + 8, p->e820[i].size);
		hv_put32(e + 16, p->e820[i].type);
	}
	p->entry_rsi = HV_ZERO_PAGE_GPA;
	return 0;
}

int hv_boot_start_info(struct hv_partition *p, uint64_t initrd_gpa, uint64_t initrd_len)
{
	uint8_t *si = hv_partition_gpa(p, HV_START_INFO_GPA, 0x400);
	uint8_t *mm, *mod;
	unsigned i;

	if (!si)
		return -E2BIG;
	mm = si + (SI_MEMMAP_GPA - HV_START_INFO_GPA);
	mod = si + (SI_MODLIST_GPA - HV_START_INFO_GPA);
	memset(si, 0, 0x400);
	hv_put32(si, PVH_MAGIC);
	hv_put32(si + 4, 1);
	if (initrd_len) {
		hv_put32(si + 12, 1);
		hv_put64(si + 16, SI_MODLIST_GPA);
		hv_put64(mod, initrd_gpa);
		hv_put64(mod + 8, initrd_len);
	}
	hv_put64(si + 24, HV_CMDLINE_GPA);
	hv_put64(si + 32, HV_ACPI_GPA);
	hv_put64(si + 40, SI_MEMMAP_GPA);
	hv_put32(si + 48, p->ne820);
	for (i = 0; i < p->ne820; i++) {
		hv_put64(mm + 24 * i, p->e820[i].addr);
		hv_put64(mm + 24 * i + 8, p->e820[i].size);
		hv_put32(mm + 24 * i + 16, p->e820[i].type);
	}
	p->entry_rbx = HV_START_INFO_GPA;
	return 0;
}

/* The initrd goes as high as allowed below max_end and the MMIO hole, above the kernel. */
int hv_boot_place_initrd(struct hv_partition *p, const void *initrd, size_t len, uint64_t max_end,
			 uint64_t kernel_end, uint64_t *gpa)
{
	uint64_t top = p->ram_low < max_end ? p->ram_low : max_end;
	uint64_t at;
	void *dst;

	*gpa = 0;
	if (!len)
		return 0;
	if (len > top || top - len < kernel_end)
		return -E2BIG;
	at = (top - len) & ~0xfffULL;
	if (at < kernel_end)
		return -E2BIG;
	dst = hv_partition_gpa(p, at, len);
	if (!dst)
		return -E2BIG;
	memcpy(dst, initrd, len);
	*gpa = at;
	return 0;
}

static bool is_elf(const uint8_t *img, size_t len)
{
	return len >= 4 && memcmp(img, "\177ELF", 4) == 0;
}

int hv_partition_load_kernel(struct hv_partition *p, const void *kernel, size_t kernel_len,
			     const void *initrd, size_t initrd_len, const char *cmdline)
{
	const uint8_t *img = kernel;
	int r;

	if (p->loaded)
		return -EALREADY;
	if (!kernel || (initrd_len && !initrd))
		return -EINVAL;
	r = hv_boot_cmdline(p, cmdline);
	if (r)
		return r;
	r = hv_acpi_build(p);
	if (r)
		return r;
	if (is_elf(img, kernel_len))
		r = hv_elf_load(p, img, kernel_len, initrd, initrd_len);
	else if (hv_bzimage_probe(img, kernel_len))
		r = hv_bzimage_load(p, img, kernel_len, initrd, initrd_len);
	else
		r = -ENOEXEC;
	if (r)
		return r;
	r = hv_boot_page_tables(p);
	if (r)
		return r;
	r = hv_boot_regs(&p->vcpus[0]);
	if (r)
		return r;
	p->loaded = true;
	return 0;
}

/* Reads a whole file, up to max bytes. */
static int read_file(const char *path, size_t max, uint8_t **out, size_t *len)
{
	struct stat st;
	uint8_t *buf = NULL;
	size_t got = 0;
	ssize_t n;
	int fd, r = 0;

	*out = NULL;
	*len = 0;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0) {
		r = -errno;
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		r = -EINVAL;
		goto out;
	}
	if ((uint64_t)st.st_size > max) {
		r = -E2BIG;
		goto out;
	}
	buf = malloc(st.st_size ? (size_t)st.st_size : 1);
	if (!buf) {
		r = -ENOMEM;
		goto out;
	}
	while (got < (size_t)st.st_size) {
		n = read(fd, buf + got, (size_t)st.st_size - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			r = n < 0 ? -errno : -EIO;
			goto out;
		}
		got += (size_t)n;
	}
	*out = buf;
	*len = got;
	buf = NULL;
out:
	free(buf);
	close(fd);
	return r;
}

int hv_partition_load_kernel_file(struct hv_partition *p, const char *kernel_path,
				  const char *initrd_path, const char *cmdline)
{
	uint8_t *k = NULL, *i = NULL;
	size_t klen = 0, ilen = 0;
	int r;

	r = read_file(kernel_path, p->mem_bytes, &k, &klen);
	if (r == 0 && initrd_path)
		r = read_file(initrd_path, p->mem_bytes, &i, &ilen);
	if (r == 0)
		r = hv_partition_load_kernel(p, k, klen, i, ilen, cmdline);
	free(k);
	free(i);
	return r;
}
