/*
 * irq_entry.S - the SDK's interrupt and exception entry stubs (hv target).
 *
 * One stub per vector 0..255, each in its own 16-byte slot from
 * hv_irq_stubs on (the stub of vector v is at hv_irq_stubs + 16 * v), so a
 * gate for v points at that address (hv_irq_install in irq.c).
 *
 * The host delivers at ring 0 on the current stack, pushing EFLAGS, CS,
 * EIP and, for the CPU exceptions 8, 10-14 and 17, an error code.  A stub
 * pushes a 0 where there is no error code, then its vector, and jumps to
 * the common part, which saves the general registers with pushal.  That
 * makes a struct hv_irq_frame (hv_irq.h) on the stack:
 *
 *     frame+0   edi esi ebp esp ebx edx ecx eax   (pushal)
 *     frame+32  vector
 *     frame+36  error code (or the stub's 0)
 *     frame+40  eip, cs, eflags                    (pushed by the host)
 *
 * and calls hv_irq_dispatch(frame).  The dispatcher returns the frame to
 * resume: the same one, or another context's, saved earlier on another
 * stack.  The common part moves ESP to it, restores the registers, drops
 * the vector and error code, and irets.
 *
 * A software `int n` never pushes an error code: `int $14` and the like
 * (vectors 8, 10-14, 17) would reach their stub one word short.  Those
 * vectors are for the CPU's exceptions only.
 */

    .text

/* 256 stubs.  The slot size (16) is what hv_irq_stub() in irq.c assumes;
 * the longest stub (push $0, push imm32, jmp rel32) is 12 bytes. */
    .balign 16
    .globl hv_irq_stubs
    .type hv_irq_stubs, @function
hv_irq_stubs:
    .set hv_vec, 0
    .rept 256
    .balign 16
    .if (hv_vec == 8) || ((hv_vec >= 10) && (hv_vec <= 14)) || (hv_vec == 17)
    /* the CPU pushed the error code */
    .else
    pushl   $0                      /* stands in for the error code */
    .endif
    pushl   $hv_vec
    jmp     hv_irq_common
    .set hv_vec, hv_vec + 1
    .endr
    .size hv_irq_stubs, . - hv_irq_stubs

    .type hv_irq_common, @function
hv_irq_common:
    pushal
    cld                             /* the C ABI wants DF clear */
    movl    %esp, %eax              /* the frame */
    andl    $-16, %esp              /* SysV i386: 16-byte aligned at the call */
    subl    $12, %esp
    pushl   %eax
    call    hv_irq_dispatch         /* returns the frame to resume */
    movl    %eax, %esp
    popal
    addl    $8, %esp                /* the vector and the error code */
    iret
    .size hv_irq_common, . - hv_irq_common

/*
 * Where a task made by hv_irq_frame_new() "returns" to when its entry
 * function returns, with its int result in EAX.  The stack then holds
 *     [esp+0] the entry's argument   [esp+4] exit_fn
 * so put the result where the argument was and call exit_fn(result); it
 * must not return (if it does, spin).
 */
    .globl hv_irq_task_return
    .type hv_irq_task_return, @function
hv_irq_task_return:
    movl    4(%esp), %ecx
    movl    %eax, (%esp)
    call    *%ecx
1:
    jmp     1b
    .size hv_irq_task_return, . - hv_irq_task_return

    .section .note.GNU-stack, "", @progbits
