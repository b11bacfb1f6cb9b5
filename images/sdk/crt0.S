/*
 * crt0.S - guest entry point for the hv target (Guest ABI v1).
 *
 * The host enters at _start in 32-bit protected mode, paging off,
 * interrupts off, flat segments, with
 *     EAX = 0x2BADB002   (multiboot v1 loader magic)
 *     EBX = gpa of the multiboot info block
 *     ESP = top of RAM.
 * .bss is already zero: the loader zeroes every PT_LOAD past p_filesz.
 * We record the handoff, set up the FPU and SSE as a Linux process has them,
 * and call hv__start_main (runtime.c), which builds
 * argc and argv from the command line and calls exit(main(...)): atexit
 * handlers, then the console flush, then EXIT with main's return value.
 */

#define MULTIBOOT_HEADER_MAGIC  0x1BADB002
/* bit 0: page-align modules, bit 1: we want mem_lower/mem_upper and the map */
#define MULTIBOOT_HEADER_FLAGS  0x00000003
#define BOOT_STACK_SIZE         16384
#define CR0_MP                  0x02
#define CR0_EM                  0x04
#define CR0_TS                  0x08
#define CR0_NE                  0x20
#define CR4_OSFXSR              0x200
#define CR4_OSXMMEXCPT          0x400
#define CPUID_FXSR              (1 << 24)
#define CPUID_SSE               (1 << 25)

/* The multiboot header, so QEMU -kernel (or GRUB) can boot this image too.
 * link.ld puts this section first, well inside the first 8 KiB of the file. */
    .section .multiboot, "a"
    .balign 4
    .long MULTIBOOT_HEADER_MAGIC
    .long MULTIBOOT_HEADER_FLAGS
    .long -(MULTIBOOT_HEADER_MAGIC + MULTIBOOT_HEADER_FLAGS)

    .text
    .globl _start
    .type _start, @function
_start:
    cld                             /* the C ABI expects DF clear */
    movl    %eax, hv_multiboot_magic
    movl    %ebx, hv_multiboot_info

    /* Are we under hv?  Its switchers answer CPUID leaf 0x40000000 with a
     * signature starting "hv-"; under QEMU or on a PC the SDK falls back to
     * the debug ports (hv_on_hv = 0). */
    movl    $0x40000000, %eax
    cpuid
    andl    $0x00ffffff, %ebx
    cmpl    $0x002d7668, %ebx       /* "hv-" */
    sete    hv_on_hv

    /* The FPU and SSE as a Linux process finds them: CR0.MP and NE set (an
     * unmasked x87 exception is #MF), EM and TS clear, the x87 as FNINIT
     * leaves it; and where CPUID has FXSR and SSE, CR4.OSFXSR and
     * OSXMMEXCPT set (SSE instructions run, #XM is delivered) with MXCSR
     * 0x1F80: every exception masked, round to nearest. */
    movl    %cr0, %eax
    andl    $~(CR0_EM | CR0_TS), %eax
    orl     $(CR0_MP | CR0_NE), %eax
    movl    %eax, %cr0
    fninit
    movl    $1, %eax
    cpuid
    andl    $(CPUID_FXSR | CPUID_SSE), %edx
    cmpl    $(CPUID_FXSR | CPUID_SSE), %edx
    jne     4f
    movl    %cr4, %eax
    orl     $(CR4_OSFXSR | CR4_OSXMMEXCPT), %eax
    movl    %eax, %cr4
    ldmxcsr mxcsr_default
4:

    /* hv gives us ESP = top of RAM.  Other multiboot loaders leave ESP
     * undefined, so if it does not point above the image, use our own. */
    cmpl    $hv_image_end, %esp
    ja      1f
    movl    $boot_stack_top, %esp
1:
    andl    $-16, %esp              /* SysV i386: 16-byte aligned at a call */
    xorl    %ebp, %ebp              /* end of the frame-pointer chain */
    subl    $12, %esp
    pushl   $0                      /* no initial stack to hand over */
    call    hv__start_main
2:
    jmp     2b                      /* hv__start_main does not return */
    .size _start, . - _start

    .section .rodata
    .balign 4
mxcsr_default:
    .long   0x1f80

    .bss
    .balign 16
boot_stack:
    .skip BOOT_STACK_SIZE
boot_stack_top:

    .section .note.GNU-stack, "", @progbits
