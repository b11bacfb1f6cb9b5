/* heap.c - malloc, calloc, realloc and free for the SDK's libc, and abort().
 *
 * A first-fit free list kept in address order, with neighbours merged on
 * free.  Every block has a 16-byte header and 16-byte aligned payload.  The
 * heap grows in steps of at least 64 KiB: on hv from the free RAM above the
 * image (the same frame pool as hv_paging.h's tables, so the two never
 * overlap), on the Linux target with brk(2).  Allocation is deterministic:
 * the same calls give the same addresses on every run. */
#include <hv_guest.h>
#include <hv_paging.h>
#include <stdlib.h>
#include <errno.h>

struct block {
    size_t size;                /* bytes, header included; a multiple of 16 */
    struct block *next;         /* free list only */
    uint32_t pad[2];
};

#define HEADER sizeof(struct block)
#define GROW (64u << 10)

static struct block *free_list;

static void *morecore(size_t bytes)
{
#ifdef HV_TARGET_LINUX
    static uint32_t brk_end;
    if (brk_end == 0)
        brk_end = (uint32_t)hv__linux_syscall3(45, 0, 0, 0);
    uint32_t start = (brk_end + 15) & ~15u;
    uint32_t want = start + (uint32_t)bytes;
    if (want < start || (uint32_t)hv__linux_syscall3(45, want, 0, 0) != want)
        return NULL;
    brk_end = want;
    return (void *)(uintptr_t)start;
#else
    return hv_frame_alloc_n((uint32_t)((bytes + HV_PAGE_SIZE - 1) / HV_PAGE_SIZE));
#endif
}

/* Put b on the free list in address order, merging with its neighbours. */
static void release(struct block *b)
{
    struct block **pp = &free_list, *prev = NULL;
    while (*pp && *pp < b) {
        prev = *pp;
        pp = &(*pp)->next;
    }
    b->next = *pp;
    *pp = b;
    if (b->next && (uint8_t *)b + b->size == (uint8_t *)b->next) {
        b->size += b->next->size;
        b->next = b->next->next;
    }
    if (prev && (uint8_t *)prev + prev->size == (uint8_t *)b) {
        prev->size += b->size;
        prev->next = b->next;
    }
}

void *malloc(size_t n)
{
    if (n > 0x7fff0000u) {
        errno = ENOMEM;
        return NULL;
    }
    size_t need = (n + HEADER + 15) & ~(size_t)15;
    for (int tries = 0; tries < 2; tries++) {
        for (struct block **pp = &free_list; *pp; pp = &(*pp)->next) {
            struct block *b = *pp;
            if (b->size < need)
                continue;
            if (b->size - need >= 2 * HEADER) {     /* split: keep the front free */
                b->size -= need;
                b = (struct block *)((uint8_t *)b + b->size);
                b->size = need;
            } else {
                *pp = b->next;
            }
            return (uint8_t *)b + HEADER;
        }
        size_t grow = need > GROW ? need : GROW;
        struct block *more = morecore(grow);
        if (!more)
            break;
        more->size = (grow + 15) & ~(size_t)15;
        release(more);
    }
    errno = ENOMEM;
    return NULL;
}

void free(void *p)
{
    if (p)
        release((struct block *)((uint8_t *)p - HEADER));
}

void *calloc(size_t count, size_t size)
{
    if (size && count > (size_t)-1 / size) {
        errno = ENOMEM;
        return NULL;
    }
    void *p = malloc(count * size);
    if (p)
        memset(p, 0, count * size);
    return p;
}

void *realloc(void *p, size_t n)
{
    if (!p)
        return malloc(n);
    if (n == 0) {
        free(p);
        return NULL;
    }
    struct block *b = (struct block *)((uint8_t *)p - HEADER);
    size_t have = b->size - HEADER;
    if (n <= have)
        return p;
    void *q = malloc(n);
    if (q) {
        memcpy(q, p, have);
        free(p);
    }
    return q;
}

/* abort(): the console is flushed and the guest exits with status 134, what
 * a shell reports for a process killed by SIGABRT (128 + 6). */
void abort(void)
{
    hv_exit(134);
}
