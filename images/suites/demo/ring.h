/* ring.h - a byte ring buffer with free-running counters.
 *
 * The capacity is a power of two.  `head` counts every byte ever written and
 * `tail` every byte ever read; both wrap around at 2^32, and the length is
 * always head - tail.  So a full ring needs no spare slot, and the counters
 * may wrap without any special case. */
#ifndef DEMO_RING_H
#define DEMO_RING_H

#include <stdbool.h>
#include <stdint.h>

struct ring {
    uint8_t *buf;
    uint32_t mask;     /* capacity - 1 */
    uint32_t head;     /* bytes written so far (mod 2^32) */
    uint32_t tail;     /* bytes read so far (mod 2^32) */
};

/* Use storage[0 .. capacity) as an empty ring.  Returns 0, or -1 (and leaves
 * the ring unusable) when capacity is not a power of two. */
int ring_init(struct ring *r, uint8_t *storage, uint32_t capacity);

uint32_t ring_capacity(const struct ring *r);
uint32_t ring_len(const struct ring *r);
uint32_t ring_space(const struct ring *r);
bool ring_empty(const struct ring *r);
bool ring_full(const struct ring *r);

/* One byte in or out; false when the ring is full / empty. */
bool ring_push(struct ring *r, uint8_t byte);
bool ring_pop(struct ring *r, uint8_t *byte);

/* Up to n bytes in, out, or copied out without consuming them; each returns
 * how many bytes it moved. */
uint32_t ring_write(struct ring *r, const void *src, uint32_t n);
uint32_t ring_read(struct ring *r, void *dst, uint32_t n);
uint32_t ring_peek(const struct ring *r, void *dst, uint32_t n);

#endif /* DEMO_RING_H */
