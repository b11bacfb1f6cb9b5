/*
 * libc_extras.c - the SDK's heap, qsort/bsearch, setjmp/longjmp, alloca,
 * ctype.h, inttypes.h, errno and abort(), run as an hv guest and as a Linux
 * program (tests/test_sdk.py compares the two).  Nothing printed depends on
 * addresses.
 */
#include <hv_guest.h>
#include <stdlib.h>
#include <errno.h>
#include <setjmp.h>
#include <ctype.h>
#include <inttypes.h>
#include <alloca.h>
#include <memory.h>
#include <sys/types.h>

static int cmp_int(const void *a, const void *b)
{
    int x = *(const int *)a, y = *(const int *)b;
    return (x > y) - (x < y);
}

static jmp_buf env;
static int depth;

static void dive(int n)
{
    volatile char pad[64];
    pad[0] = (char)n;
    if (n == 0)
        longjmp(env, depth);
    if (n > 0) {
        depth++;
        dive(n - 1);
    }
    (void)pad;
}

int main(void)
{
    /* The heap: many sizes, frees in a scrambled order, reuse, realloc. */
    enum { N = 300 };
    static unsigned char *p[N];
    static size_t sz[N];
    uint32_t seed = 12345, sum = 0;
    for (int round = 0; round < 4; round++) {
        for (int k = 0; k < N; k++) {
            seed = seed * 1103515245u + 12345u;
            sz[k] = (seed >> 8) % (round == 3 ? 70000 : 900) + 1;
            p[k] = malloc(sz[k]);
            if (!p[k] || ((uintptr_t)p[k] & 15)) {
                printf("malloc failed or misaligned\n");
                return 1;
            }
            memset(p[k], k & 0xff, sz[k]);
        }
        for (int k = 0; k < N; k++) {
            int j = (k * 7 + round) % N;
            if (p[j]) {
                for (size_t b = 0; b < sz[j]; b++)
                    sum += p[j][b] != (j & 0xff);
                if (k % 3 == 0) {
                    p[j] = realloc(p[j], sz[j] * 2);
                    for (size_t b = 0; b < sz[j]; b++)
                        sum += p[j][b] != (j & 0xff);
                }
                free(p[j]);
                p[j] = NULL;
            }
        }
    }
    printf("heap: %u corrupted bytes\n", sum);
    int *z = calloc(1000, sizeof(int)), nz = 0;
    for (int k = 0; k < 1000; k++)
        nz += z[k] != 0;
    printf("calloc: %d nonzero; huge calloc %s errno %d\n", nz,
           calloc(0x40000000u, 16) ? "succeeded" : "failed", errno);
    free(z);
    free(NULL);

    int v[50];
    for (int k = 0; k < 50; k++)
        v[k] = (int)((k * 7919u) % 101) - 50;
    qsort(v, 50, sizeof(int), cmp_int);
    for (int k = 0; k < 50; k += 7)
        printf("%d ", v[k]);
    int key = v[33];
    int *hit = bsearch(&key, v, 50, sizeof(int), cmp_int);
    int miss = 1000;
    printf("\nbsearch: %d %s\n", hit ? *hit : -1,
           bsearch(&miss, v, 50, sizeof(int), cmp_int) ? "found 1000?" : "no 1000");

    int r = setjmp(env);
    if (r == 0) {
        dive(10);
        printf("not reached\n");
    }
    printf("longjmp returned %d\n", r);

    char *a = alloca(100);
    memset(a, 'x', 99);
    a[99] = 0;
    printf("alloca %zu, ctype %d%d%d%d %c%c\n", strlen(a), isdigit('7'), isalpha('_'),
           isspace('\t'), ispunct('!'), toupper('q'), tolower('Q'));
    int64_t big = -1234567890123ll;
    uint64_t ubig = 0xfedcba9876543210ull;
    printf("%" PRId64 " %" PRIx64 " %" PRIu32 "\n", big, ubig, (uint32_t)4000000000u);
    ssize_t s = -1;
    printf("ssize_t %d\n", (int)s);
    abort();
}
