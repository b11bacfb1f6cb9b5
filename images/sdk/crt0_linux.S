/*
 * crt0_linux.S - entry point for the Linux reference target (hv cc --linux).
 *
 * The same guest source runs as a static i386 Linux program, so the real
 * CPU produces the reference output for conformance tests.  Linux enters
 * with ESP pointing at argc, argv[0], ...; hv_linux_init turns the
 * arguments into the command line that hv_cmdline() returns.  Then main()
 * runs, the console is flushed, and the exit system call ends the process.
 */

#define SYS_EXIT 1

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
    call    hv_linux_init
    addl    $16, %esp
    call    main

    movl    %eax, %esi              /* callee-saved: survives hv_flush */
    call    hv_flush
    movl    $SYS_EXIT, %eax
    movl    %esi, %ebx
    int     $0x80
    hlt                             /* not reached */
    .size _start, . - _start

    .section .note.GNU-stack, "", @progbits
