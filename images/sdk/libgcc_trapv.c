/*
 * libgcc_trapv.c - the checked arithmetic gcc calls under -ftrapv: signed
 * add, subtract, multiply, negate and absolute value of int (si) and
 * long long (di) operands, aborting on overflow as libgcc does.  An archive
 * member, linked only by guests built with -ftrapv.
 *
 * The checks use __builtin_*_overflow, which gcc expands inline, so this
 * file is safe to compile with -ftrapv itself (it has no plain signed
 * arithmetic that would call back into these).
 */
#include <stdlib.h>

int __addvsi3(int a, int b);
int __subvsi3(int a, int b);
int __mulvsi3(int a, int b);
int __negvsi2(int a);
int __absvsi2(int a);
long long __addvdi3(long long a, long long b);
long long __subvdi3(long long a, long long b);
long long __mulvdi3(long long a, long long b);
long long __negvdi2(long long a);
long long __absvdi2(long long a);

int __addvsi3(int a, int b)
{
    int r;

    if (__builtin_add_overflow(a, b, &r))
        abort();
    return r;
}

int __subvsi3(int a, int b)
{
    int r;

    if (__builtin_sub_overflow(a, b, &r))
        abort();
    return r;
}

int __mulvsi3(int a, int b)
{
    int r;

    if (__builtin_mul_overflow(a, b, &r))
        abort();
    return r;
}

int __negvsi2(int a)
{
    return __subvsi3(0, a);
}

int __absvsi2(int a)
{
    return a < 0 ? __negvsi2(a) : a;
}

long long __addvdi3(long long a, long long b)
{
    long long r;

    if (__builtin_add_overflow(a, b, &r))
        abort();
    return r;
}

long long __subvdi3(long long a, long long b)
{
    long long r;

    if (__builtin_sub_overflow(a, b, &r))
        abort();
    return r;
}

long long __mulvdi3(long long a, long long b)
{
    long long r;

    if (__builtin_mul_overflow(a, b, &r))
        abort();
    return r;
}

long long __negvdi2(long long a)
{
    return __subvdi3(0, a);
}

long long __absvdi2(long long a)
{
    return a < 0 ? __negvdi2(a) : a;
}
