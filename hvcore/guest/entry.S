/* hvguest entry points.
 *
 *  _start64     ELF e_entry: libhvcore enters here already in 64-bit mode with
 *               RBX = hvm_start_info and RSI = boot_params (either may be 0).
 *  pvh_start32  the PVH entry (XEN_ELFNOTE_PHYS32_ENTRY) QEMU uses: 32-bit protected mode,
 *               paging off, EBX = hvm_start_info. It switches to long mode on tables built
 *               at assembly time, so no loop runs in the instruction emulator.
 *  ap_tramp_*   16-bit code the BSP copies below 1 MiB for the SIPI; it goes through 32-bit
 *               protected mode to long mode and calls hvguest_ap_main().
 *  hvguest_user_enter  leaves kernel mode for good: user mode (CPL 3) at fn(arg).
 */
#include "hvcore/guest/hvguest.h"

#define CODE32 0x08
#define CODE64 0x10
#define DATA 0x18
#define USER_DATA 0x23   /* GDT entry 4, RPL 3 */
#define USER_CODE64 0x2b /* GDT entry 5, RPL 3 */
#define MSR_EFER 0xc0000080
#define EFER_LME 0x100
#define CR4_PAE 0x20
#define CR0_PE 0x1
#define CR0_PG 0x80000000

	.section .note.Xen, "a", @note
	.balign 4
	.long 4
	.long 4
	.long 18 /* XEN_ELFNOTE_PHYS32_ENTRY */
	.asciz "Xen"
	.long pvh_start32
	.balign 4

	.section .text.entry, "ax"
	.code32
	.globl pvh_start32
pvh_start32:
	cli
	cld
	mov %ebx, %esi
	lgdt gdt_ptr
	mov $DATA, %eax
	mov %eax, %ds
	mov %eax, %es
	mov %eax, %ss
	mov $boot_pml4, %eax
	mov %eax, %cr3
	mov $CR4_PAE, %eax
	mov %eax, %cr4
	mov $MSR_EFER, %ecx
	rdmsr
	or $EFER_LME, %eax
	wrmsr
	mov %cr0, %eax
	or $(CR0_PG | CR0_PE), %eax
	mov %eax, %cr0
	ljmp $CODE64, $from32

	.code64
from32:
	mov %esi, %ebx
	xor %esi, %esi
	jmp common

	.globl _start64
_start64:
	cli
	cld
common:
	mov $DATA, %eax
	mov %eax, %ds
	mov %eax, %es
	mov %eax, %ss
	lea bsp_stack_top(%rip), %rsp
	mov %rbx, %rdi
	call hvguest_main
halt:
	cli
	hlt
	jmp halt

ap_start64:
	mov $DATA, %eax
	mov %eax, %ds
	mov %eax, %es
	mov %eax, %ss
	mov $1, %eax
	lock xadd %eax, ap_next(%rip)
	cmp $HVGUEST_MAX_CPUS, %eax
	jae halt
	inc %eax
	shl $HVGUEST_AP_STACK_SHIFT, %rax
	lea ap_stacks(%rip), %rsp
	add %rax, %rsp
	call hvguest_ap_main
	jmp halt

/* hvguest_user_enter(fn = rdi, arg = rsi, stack top = rdx), never returns: on hvguest's own
 * GDT and page tables (both allow user mode), with interrupts off and IOPL 3 so that port
 * I/O (the console, the hypercall page's port, ACPI's power-off) still works. Why: on the
 * nested kvm_pvm hosts kernel-mode code runs in KVM's instruction emulator, user-mode code
 * natively, so a benchmark loop timed there measures the VMM rather than the emulator. There
 * is no way back: these hosts cannot deliver an interrupt or exception from user mode to a
 * guest kernel that is not PVM-aware (the partition shuts down), so fn ends the run itself. */
	.globl hvguest_user_enter
hvguest_user_enter:
	cli
	lgdt gdt_ptr(%rip)
	lea boot_pml4(%rip), %rax
	mov %rax, %cr3
	mov $USER_DATA, %eax
	mov %eax, %ds
	mov %eax, %es
	and $~15, %rdx
	sub $8, %rdx            /* as after a call: fn never returns */
	movq $0, (%rdx)
	pushq $USER_DATA        /* ss */
	pushq %rdx              /* rsp */
	pushq $0x3002           /* rflags: IOPL 3, IF 0 */
	pushq $USER_CODE64      /* cs */
	pushq %rdi              /* rip */
	mov %rsi, %rdi
	iretq

/* Interrupt entries: save the registers the C ABI lets a callee clobber. On entry the CPU
 * has pushed 5 quadwords on a 16-byte aligned stack; 9 more keep the call aligned. */
	.globl irq_entry, spurious_entry
irq_entry:
	push %rax
	push %rcx
	push %rdx
	push %rsi
	push %rdi
	push %r8
	push %r9
	push %r10
	push %r11
	call hvguest_irq
	pop %r11
	pop %r10
	pop %r9
	pop %r8
	pop %rdi
	pop %rsi
	pop %rdx
	pop %rcx
	pop %rax
spurious_entry:
	iretq

	.code16
	.globl ap_tramp_start, ap_tramp_end, ap_tramp_cr3
ap_tramp_start:
	cli
	cld
	mov %cs, %ax
	mov %ax, %ds
	lgdtl (tramp_gdt_ptr - ap_tramp_start)
	mov %cr0, %eax
	or $CR0_PE, %eax
	mov %eax, %cr0
	ljmpl $CODE32, $(HVGUEST_TRAMP_GPA + tramp32 - ap_tramp_start)
	.code32
tramp32:
	mov $DATA, %eax
	mov %eax, %ds
	mov %eax, %es
	mov %eax, %ss
	mov $CR4_PAE, %eax
	mov %eax, %cr4
	mov (HVGUEST_TRAMP_GPA + ap_tramp_cr3 - ap_tramp_start), %eax
	mov %eax, %cr3
	mov $MSR_EFER, %ecx
	rdmsr
	or $EFER_LME, %eax
	wrmsr
	mov %cr0, %eax
	or $CR0_PG, %eax
	mov %eax, %cr0
	ljmp $CODE64, $ap_start64
	.balign 8
tramp_gdt_ptr:
	.word gdt_end - gdt - 1
	.long gdt
ap_tramp_cr3:
	.long 0
ap_tramp_end:

	.section .rodata
	.balign 16
gdt:
	.quad 0
	.quad 0x00cf9b000000ffff /* 0x08: 32-bit code */
	.quad 0x00af9b000000ffff /* 0x10: 64-bit code */
	.quad 0x00cf93000000ffff /* 0x18: data */
	.quad 0x00cff3000000ffff /* 0x20: user data (DPL 3) */
	.quad 0x00affb000000ffff /* 0x28: user 64-bit code (DPL 3) */
gdt_end:
gdt_ptr:
	.word gdt_end - gdt - 1
	.quad gdt

/* Identity map of the first 4 GiB with 2 MiB pages, filled in by the assembler; user mode
 * may use all of it (hvguest_user_enter). */
	.section .data.pagetables, "aw"
	.balign 4096
	.globl boot_pml4
boot_pml4:
	.quad boot_pdpt + 0x7
	.fill 511, 8, 0
boot_pdpt:
	.quad boot_pd + 0x7
	.quad boot_pd + 0x1000 + 0x7
	.quad boot_pd + 0x2000 + 0x7
	.quad boot_pd + 0x3000 + 0x7
	.fill 508, 8, 0
boot_pd:
	.set i, 0
	.rept 2048
	.quad (i << 21) | 0x87
	.set i, i + 1
	.endr

	.section .bss
	.balign 16
ap_next:
	.long 0
	.balign 4096
bsp_stack:
	.skip 16384
bsp_stack_top:
ap_stacks:
	.skip HVGUEST_MAX_CPUS << HVGUEST_AP_STACK_SHIFT
	.skip 1 << HVGUEST_AP_STACK_SHIFT

	.section .note.GNU-stack, "", @progbits
