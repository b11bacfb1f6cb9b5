/* alloc.c - see alloc.h. */
#include "alloc.h"

#define USED 1u

struct block {
    uint32_t size_used;          /* block size (header included) | USED */
    uint32_t prev_size;          /* size of the block before, 0 for the first */
};

static uint32_t block_size(const struct block *b)
{
    return b->size_used & ~USED;
}

static bool block_used(const struct block *b)
{
    return b->size_used & USED;
}

static struct block *block_at(const struct heap *h, size_t offset)
{
    return offset < h->size ? (struct block *)(h->base + offset) : NULL;
}

static size_t offset_of(const struct heap *h, const struct block *b)
{
    return (size_t)((const uint8_t *)b - h->base);
}

static struct block *next_block(const struct heap *h, const struct block *b)
{
    return block_at(h, offset_of(h, b) + block_size(b));
}

static struct block *prev_block(const struct heap *h, const struct block *b)
{
    return b->prev_size ? block_at(h, offset_of(h, b) - b->prev_size) : NULL;
}

/* Give b a new size and tell the block after it. */
static void set_size(const struct heap *h, struct block *b, uint32_t size, bool used)
{
    struct block *next;

    b->size_used = size | (used ? USED : 0);
    next = next_block(h, b);
    if (next)
        next->prev_size = size;
}

void heap_init(struct heap *h, void *mem, size_t size)
{
    uintptr_t start = ((uintptr_t)mem + HEAP_ALIGN - 1) & ~(uintptr_t)(HEAP_ALIGN - 1);
    size_t lost = start - (uintptr_t)mem;

    h->base = (uint8_t *)start;
    h->size = size > lost ? (size - lost) & ~(size_t)(HEAP_ALIGN - 1) : 0;
    if (h->size < HEAP_MIN_BLOCK) {
        h->size = 0;
        return;
    }
    ((struct block *)h->base)->size_used = (uint32_t)h->size;
    ((struct block *)h->base)->prev_size = 0;
}

void *heap_alloc(struct heap *h, size_t n)
{
    struct block *b;
    size_t need;

    if (n == 0 || n > h->size)
        return NULL;
    need = HEAP_HEADER + ((n + HEAP_ALIGN - 1) & ~(size_t)(HEAP_ALIGN - 1));
    for (b = block_at(h, 0); b; b = next_block(h, b)) {
        uint32_t size = block_size(b);

        if (block_used(b) || size < need)
            continue;
        if (size - need >= HEAP_MIN_BLOCK) {
            struct block *rest = (struct block *)((uint8_t *)b + need);

            set_size(h, b, (uint32_t)need, true);         /* sets rest->prev_size */
            set_size(h, rest, size - (uint32_t)need, false);
        } else {
            b->size_used |= USED;
        }
        return (uint8_t *)b + HEAP_HEADER;
    }
    return NULL;
}

void heap_free(struct heap *h, void *p)
{
    struct block *b, *next, *prev;

    if (!p)
        return;
    b = (struct block *)((uint8_t *)p - HEAP_HEADER);
    b->size_used &= ~USED;
    next = next_block(h, b);
    if (next && !block_used(next))
        set_size(h, b, block_size(b) + block_size(next), false);
    prev = prev_block(h, b);
    if (prev && !block_used(prev))
        set_size(h, prev, block_size(prev) + block_size(b), false);
}

size_t heap_free_bytes(const struct heap *h)
{
    struct block *b;
    size_t total = 0;

    for (b = block_at(h, 0); b; b = next_block(h, b))
        if (!block_used(b))
            total += block_size(b) - HEAP_HEADER;
    return total;
}

size_t heap_largest_free(const struct heap *h)
{
    struct block *b;
    size_t best = 0;

    for (b = block_at(h, 0); b; b = next_block(h, b))
        if (!block_used(b) && block_size(b) - HEAP_HEADER > best)
            best = block_size(b) - HEAP_HEADER;
    return best;
}

size_t heap_blocks(const struct heap *h)
{
    struct block *b;
    size_t count = 0;

    for (b = block_at(h, 0); b; b = next_block(h, b))
        count++;
    return count;
}

bool heap_check(const struct heap *h)
{
    size_t offset = 0;
    uint32_t prev_size = 0;
    bool prev_free = false;

    while (offset < h->size) {
        const struct block *b = block_at(h, offset);
        uint32_t size = block_size(b);

        if (size < HEAP_MIN_BLOCK || size % HEAP_ALIGN || size > h->size - offset)
            return false;
        if (b->prev_size != prev_size)
            return false;
        if (prev_free && !block_used(b))
            return false;
        prev_free = !block_used(b);
        prev_size = size;
        offset += size;
    }
    return offset == h->size;
}
