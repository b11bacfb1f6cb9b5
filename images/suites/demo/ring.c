/* hv-cflags: -g */
/* ring.c - see ring.h. */
#include <string.h>

#include "ring.h"

int ring_init(struct ring *r, uint8_t *storage, uint32_t capacity)
{
    r->buf = NULL;
    r->mask = 0;
    r->head = r->tail = 0;
    if (capacity == 0 || (capacity & (capacity - 1)) != 0)
        return -1;
    r->buf = storage;
    r->mask = capacity - 1;
    return 0;
}

uint32_t ring_capacity(const struct ring *r)
{
    return r->buf ? r->mask + 1 : 0;
}

uint32_t ring_len(const struct ring *r)
{
    return r->head - r->tail;
}

uint32_t ring_space(const struct ring *r)
{
    return ring_capacity(r) - ring_len(r);
}

bool ring_empty(const struct ring *r)
{
    return r->head == r->tail;
}

bool ring_full(const struct ring *r)
{
    return ring_space(r) == 0;
}

bool ring_push(struct ring *r, uint8_t byte)
{
    if (ring_full(r))
        return false;
    r->buf[r->head++ & r->mask] = byte;
    return true;
}

bool ring_pop(struct ring *r, uint8_t *byte)
{
    if (ring_empty(r))
        return false;
    *byte = r->buf[r->tail++ & r->mask];
    return true;
}

/* Copy n bytes out of the ring starting at counter `from`, in at most two
 * pieces (up to the end of the storage, then from its start). */
static void copy_out(const struct ring *r, uint32_t from, uint8_t *dst, uint32_t n)
{
    uint32_t at = from & r->mask;
    uint32_t first = r->mask + 1 - at;

    if (first > n)
        first = n;
    memcpy(dst, r->buf + at, first);
    memcpy(dst + first, r->buf, n - first);
}

uint32_t ring_write(struct ring *r, const void *src, uint32_t n)
{
    const uint8_t *p = src;
    uint32_t at = r->head & r->mask;
    uint32_t first;

    if (n > ring_space(r))
        n = ring_space(r);
    first = r->mask + 1 - at;
    if (first > n)
        first = n;
    memcpy(r->buf + at, p, first);
    memcpy(r->buf, p + first, n - first);
    r->head += n;
    return n;
}

uint32_t ring_peek(const struct ring *r, void *dst, uint32_t n)
{
    if (n > ring_len(r))
        n = ring_len(r);
    copy_out(r, r->tail, dst, n);
    return n;
}

uint32_t ring_read(struct ring *r, void *dst, uint32_t n)
{
    n = ring_peek(r, dst, n);
    r->tail += n;
    return n;
}
