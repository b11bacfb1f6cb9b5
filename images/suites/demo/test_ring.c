/* test_ring.c - tests of the ring buffer (ring.c). */
#include <hv_test.h>

#include "ring.h"

static uint8_t storage[16];

static struct ring fresh_ring(void)
{
    struct ring r;

    HV_ASSERT_EQ(ring_init(&r, storage, sizeof(storage)), 0);
    return r;
}

HV_TEST(ring_starts_empty)
{
    struct ring r = fresh_ring();
    uint8_t byte = 0xAA;

    HV_ASSERT(ring_empty(&r));
    HV_ASSERT(!ring_full(&r));
    HV_ASSERT_EQ(ring_len(&r), 0u);
    HV_ASSERT_EQ(ring_space(&r), 16u);
    HV_ASSERT(!ring_pop(&r, &byte));
    HV_ASSERT_EQ(byte, 0xAA);            /* a failed pop leaves it alone */
}

HV_TEST(ring_is_fifo)
{
    struct ring r = fresh_ring();
    uint8_t byte;
    int i;

    for (i = 0; i < 10; i++)
        HV_ASSERT(ring_push(&r, (uint8_t)(100 + i)));
    HV_ASSERT_EQ(ring_len(&r), 10u);
    for (i = 0; i < 10; i++) {
        HV_ASSERT(ring_pop(&r, &byte));
        HV_ASSERT_EQ(byte, 100 + i);
    }
    HV_ASSERT(ring_empty(&r));
}

HV_TEST(ring_full_rejects_push)
{
    struct ring r = fresh_ring();
    uint8_t byte;
    int i;

    for (i = 0; i < 16; i++)
        HV_ASSERT(ring_push(&r, (uint8_t)i));
    HV_ASSERT(ring_full(&r));
    HV_ASSERT(!ring_push(&r, 99));
    HV_ASSERT_EQ(ring_len(&r), 16u);
    HV_ASSERT(ring_pop(&r, &byte));
    HV_ASSERT_EQ(byte, 0);               /* the rejected byte went nowhere */
    HV_ASSERT(ring_push(&r, 99));
}

HV_TEST(ring_bulk_write_is_cut_to_space)
{
    struct ring r = fresh_ring();
    uint8_t in[24], out[24];
    uint32_t i;

    for (i = 0; i < sizeof(in); i++)
        in[i] = (uint8_t)(i * 7);
    HV_ASSERT_EQ(ring_write(&r, in, 10), 10u);
    HV_ASSERT_EQ(ring_write(&r, in + 10, 14), 6u);
    HV_ASSERT_EQ(ring_write(&r, in, 1), 0u);
    HV_ASSERT_EQ(ring_read(&r, out, sizeof(out)), 16u);
    HV_ASSERT_MEMEQ(out, in, 16);
    HV_ASSERT_EQ(ring_read(&r, out, 1), 0u);
}

HV_TEST(ring_wraps_around_the_storage)
{
    struct ring r = fresh_ring();
    const char *text = "abcdefghijklmnop";
    char out[17] = { 0 };

    HV_ASSERT_EQ(ring_write(&r, "0123456789", 10), 10u);
    HV_ASSERT_EQ(ring_read(&r, out, 10), 10u);
    /* Now the next byte goes to storage[10]: 16 bytes wrap past the end. */
    HV_ASSERT_EQ(ring_write(&r, text, 16), 16u);
    HV_ASSERT_EQ(storage[10], 'a');
    HV_ASSERT_EQ(storage[0], 'g');
    HV_ASSERT_EQ(ring_read(&r, out, 16), 16u);
    HV_ASSERT_STREQ(out, text);
}

HV_TEST(ring_counters_wrap_at_2_pow_32)
{
    struct ring r = fresh_ring();
    uint8_t in[12] = "hello world", out[12];

    r.head = r.tail = 0xFFFFFFFAu;       /* six bytes before the counters wrap */
    HV_ASSERT_EQ(ring_write(&r, in, sizeof(in)), 12u);
    HV_ASSERT_LT(r.head, r.tail);        /* head wrapped, tail did not */
    HV_ASSERT_EQ(ring_len(&r), 12u);
    HV_ASSERT_EQ(ring_space(&r), 4u);
    HV_ASSERT_EQ(ring_read(&r, out, sizeof(out)), 12u);
    HV_ASSERT_MEMEQ(out, in, sizeof(in));
    HV_ASSERT(ring_empty(&r));
    HV_ASSERT_EQ(r.tail, 6u);
}

HV_TEST(ring_peek_does_not_consume)
{
    struct ring r = fresh_ring();
    char out[4] = { 0 };

    ring_write(&r, "xyz", 3);
    HV_ASSERT_EQ(ring_peek(&r, out, 2), 2u);
    HV_ASSERT_STREQ(out, "xy");
    HV_ASSERT_EQ(ring_len(&r), 3u);
    HV_ASSERT_EQ(ring_peek(&r, out, 10), 3u);
    HV_ASSERT_STREQ(out, "xyz");
    HV_ASSERT_EQ(ring_read(&r, out, 3), 3u);
    HV_ASSERT_EQ(ring_peek(&r, out, 1), 0u);
}

HV_TEST(ring_rejects_bad_capacities)
{
    struct ring r;
    static uint8_t big[4096];

    HV_ASSERT_EQ(ring_init(&r, big, 0), -1);
    HV_ASSERT_EQ(ring_init(&r, big, 3), -1);
    HV_ASSERT_EQ(ring_init(&r, big, 4095), -1);
    HV_ASSERT_EQ(ring_capacity(&r), 0u);
    HV_ASSERT(!ring_push(&r, 1));        /* a rejected ring stays unusable */
    HV_ASSERT_EQ(ring_init(&r, big, 1), 0);
    HV_ASSERT_EQ(ring_init(&r, big, 4096), 0);
    HV_ASSERT_EQ(ring_capacity(&r), 4096u);
}

/* Capacities that are not a power of two are not supported yet (the
 * free-running counters need them).  Expected to fail until they are. */
HV_TEST_MARKED(ring_accepts_any_capacity, "xfail")
{
    struct ring r;
    static uint8_t odd[100];

    HV_ASSERT_EQ(ring_init(&r, odd, sizeof(odd)), 0);
    HV_ASSERT_EQ(ring_capacity(&r), 100u);
}

/* A producer and a consumer moving a few million bytes through a small ring
 * in chunks of changing sizes; every byte must come out in order. */
HV_TEST_MARKED(ring_stress_producer_consumer, "slow")
{
    static uint8_t buf[64];
    struct ring r;
    uint8_t chunk[48];
    uint32_t produced = 0, consumed = 0, rounds = 0, seed = 12345;
    const uint32_t total = 3u << 20;

    HV_ASSERT_EQ(ring_init(&r, buf, sizeof(buf)), 0);
    r.head = r.tail = 0xFFFF0000u;       /* cross the counter wrap on the way */
    while (consumed < total) {
        uint32_t i, n, want;

        seed = seed * 1103515245u + 12345u;
        want = (seed >> 16) % sizeof(chunk) + 1;
        for (i = 0; i < want; i++)
            chunk[i] = (uint8_t)(produced + i);
        n = ring_write(&r, chunk, want);
        HV_ASSERT_LE(n, want);
        produced += n;

        seed = seed * 1103515245u + 12345u;
        want = (seed >> 16) % sizeof(chunk) + 1;
        n = ring_read(&r, chunk, want);
        for (i = 0; i < n; i++) {
            if (chunk[i] != (uint8_t)(consumed + i))
                HV_FAIL("byte %u came out as %u, expected %u", (unsigned)(consumed + i),
                        chunk[i], (unsigned)(uint8_t)(consumed + i));
        }
        consumed += n;
        HV_ASSERT_EQ(ring_len(&r), produced - consumed);
        rounds++;
    }
    HV_ASSERT_GT(rounds, 10000u);
}
