/* alloc.h - a first-fit allocator over a caller-supplied arena.
 *
 * The arena is a sequence of blocks, each an 8-byte header and a payload.
 * A header records the block's size, whether it is in use, and the size of
 * the block before it (a boundary tag), so free() merges a block with both
 * neighbours in constant time and no two free blocks are ever adjacent.
 * Allocation walks the blocks from the start and takes the first free one
 * that fits, splitting off the rest when it is big enough to be a block. */
#ifndef DEMO_ALLOC_H
#define DEMO_ALLOC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HEAP_ALIGN 8             /* payload alignment and size granule */
#define HEAP_HEADER 8            /* bytes of header in front of each payload */
#define HEAP_MIN_BLOCK 16        /* a header and the smallest payload */

struct heap {
    uint8_t *base;               /* first block, HEAP_ALIGN aligned */
    size_t size;                 /* bytes of blocks, a multiple of HEAP_ALIGN */
};

/* Use mem[0 .. size) as an empty heap (one free block). */
void heap_init(struct heap *h, void *mem, size_t size);

/* n bytes, HEAP_ALIGN aligned; NULL when n is 0 or nothing fits. */
void *heap_alloc(struct heap *h, size_t n);

/* Give back a block from heap_alloc (NULL is ignored). */
void heap_free(struct heap *h, void *p);

/* Statistics, walking the blocks: payload bytes free in total, the largest
 * request that would succeed now, and the number of blocks (used and free). */
size_t heap_free_bytes(const struct heap *h);
size_t heap_largest_free(const struct heap *h);
size_t heap_blocks(const struct heap *h);

/* True when the block structure is consistent: sizes tile the arena exactly,
 * each boundary tag matches, and no two free blocks are adjacent. */
bool heap_check(const struct heap *h);

#endif /* DEMO_ALLOC_H */
