/*
 * crt0_linux.S - entry point for the Linux reference target (hv cc --linux).
 *
 * The same guest source runs as a static i386 Linux program, so the real
 * CPU produces the reference output for conformance tests.  Linux enters
 * with ESP pointing at argc, argv[0], ...; hv__start_main (runtime.c) turns
 * the arguments into the command line that hv_cmdline() returns and into
 * main's argc and argv, and calls exit(main(...)): atexit handlers, the
 * console flush, then the exit system call.
 */

    .text
    .globl _start
    .type _start, @function
_start:
    cld
    xorl    %ebp, %ebp
    movl    %esp, %eax
    andl    $-16, %esp
    subl    $12, %esp               /* keep 16-byte alignment at the call */
    pushl   %eax
    call    hv__start_main
    hlt                             /* not reached */
    .size _start, . - _start

    .section .note.GNU-stack, "", @progbits
