/* setjmp.h - non-local jumps: the buffer holds EBX, ESI, EDI, EBP, ESP and
 * the return address. */
#ifndef HV_SDK_SETJMP_H
#define HV_SDK_SETJMP_H

typedef unsigned long jmp_buf[6];

__attribute__((returns_twice)) int setjmp(jmp_buf env);
__attribute__((noreturn)) void longjmp(jmp_buf env, int value);

#endif /* HV_SDK_SETJMP_H */
