/* test_alloc.c - tests of the first-fit allocator (alloc.c). */
#include <hv_test.h>

#include "alloc.h"

#define ARENA_SIZE 4096

static uint8_t arena[ARENA_SIZE] __attribute__((aligned(HEAP_ALIGN)));

static struct heap fresh_heap(void)
{
    struct heap h;

    heap_init(&h, arena, sizeof(arena));
    HV_ASSERT_EQ(h.size, (size_t)ARENA_SIZE);
    HV_ASSERT(heap_check(&h));
    return h;
}

HV_TEST(alloc_fresh_heap_is_one_free_block)
{
    struct heap h = fresh_heap();

    HV_ASSERT_EQ(heap_blocks(&h), 1u);
    HV_ASSERT_EQ(heap_free_bytes(&h), ARENA_SIZE - HEAP_HEADER);
    HV_ASSERT_EQ(heap_largest_free(&h), ARENA_SIZE - HEAP_HEADER);
}

HV_TEST(alloc_blocks_are_aligned_and_disjoint)
{
    struct heap h = fresh_heap();
    uint8_t *p[8];
    size_t sizes[8] = { 1, 3, 8, 9, 15, 16, 100, 7 };
    int i, j;

    for (i = 0; i < 8; i++) {
        p[i] = heap_alloc(&h, sizes[i]);
        HV_ASSERT_NE(p[i], NULL);
        HV_ASSERT_EQ((uintptr_t)p[i] % HEAP_ALIGN, 0u);
        HV_ASSERT_GE(p[i], arena);
        HV_ASSERT_LE(p[i] + sizes[i], arena + ARENA_SIZE);
        memset(p[i], 0x10 + i, sizes[i]);
    }
    for (i = 0; i < 8; i++)                 /* nobody overwrote anybody */
        for (j = 0; j < (int)sizes[i]; j++)
            HV_ASSERT_EQ(p[i][j], 0x10 + i);
    HV_ASSERT(heap_check(&h));
}

HV_TEST(alloc_zero_and_oversized_requests_fail)
{
    struct heap h = fresh_heap();

    HV_ASSERT_EQ(heap_alloc(&h, 0), NULL);
    HV_ASSERT_EQ(heap_alloc(&h, ARENA_SIZE), NULL);
    HV_ASSERT_EQ(heap_alloc(&h, ARENA_SIZE - HEAP_HEADER + 1), NULL);
    HV_ASSERT_EQ(heap_alloc(&h, SIZE_MAX), NULL);            /* no overflow on rounding */
    HV_ASSERT_EQ(heap_blocks(&h), 1u);
    HV_ASSERT_NE(heap_alloc(&h, ARENA_SIZE - HEAP_HEADER), NULL);   /* exactly fits */
    HV_ASSERT_EQ(heap_free_bytes(&h), 0u);
}

HV_TEST(alloc_exhaustion_then_full_recovery)
{
    struct heap h = fresh_heap();
    void *blocks[ARENA_SIZE / 32 + 1];       /* + the NULL that ends the loop */
    size_t n = 0, i;

    while ((blocks[n] = heap_alloc(&h, 24)) != NULL)        /* 32-byte blocks */
        n++;
    HV_ASSERT_EQ(n, (size_t)(ARENA_SIZE / 32));
    HV_ASSERT_EQ(heap_free_bytes(&h), 0u);
    HV_ASSERT_EQ(heap_alloc(&h, 1), NULL);
    for (i = 0; i < n; i++)
        heap_free(&h, blocks[i]);
    HV_ASSERT(heap_check(&h));
    HV_ASSERT_EQ(heap_blocks(&h), 1u);
    HV_ASSERT_EQ(heap_largest_free(&h), ARENA_SIZE - HEAP_HEADER);
}

HV_TEST(alloc_free_null_is_harmless)
{
    struct heap h = fresh_heap();

    heap_free(&h, NULL);
    HV_ASSERT(heap_check(&h));
    HV_ASSERT_EQ(heap_blocks(&h), 1u);
}

HV_TEST(alloc_free_merges_with_the_next_block)
{
    struct heap h = fresh_heap();
    void *a = heap_alloc(&h, 64);
    void *b = heap_alloc(&h, 64);
    void *c = heap_alloc(&h, 64);

    HV_ASSERT_EQ(heap_blocks(&h), 4u);      /* a b c and the free rest */
    heap_free(&h, c);                       /* c joins the free rest */
    HV_ASSERT_EQ(heap_blocks(&h), 3u);
    heap_free(&h, b);
    HV_ASSERT_EQ(heap_blocks(&h), 2u);
    HV_ASSERT(heap_check(&h));
    (void)a;
}

HV_TEST(alloc_free_merges_with_the_previous_block)
{
    struct heap h = fresh_heap();
    void *a = heap_alloc(&h, 64);
    void *b = heap_alloc(&h, 64);
    void *c = heap_alloc(&h, 64);

    heap_free(&h, a);
    HV_ASSERT_EQ(heap_blocks(&h), 4u);
    heap_free(&h, b);                       /* b joins a */
    HV_ASSERT_EQ(heap_blocks(&h), 3u);
    HV_ASSERT_EQ(heap_largest_free(&h), ARENA_SIZE - HEAP_HEADER - 3 * (64 + HEAP_HEADER));
    HV_ASSERT_EQ(heap_free_bytes(&h), heap_largest_free(&h) + 2 * 64 + HEAP_HEADER);
    HV_ASSERT(heap_check(&h));
    (void)c;
}

HV_TEST(alloc_free_merges_both_sides_at_once)
{
    struct heap h = fresh_heap();
    void *a = heap_alloc(&h, 40);
    void *b = heap_alloc(&h, 40);
    void *c = heap_alloc(&h, 40);
    void *guard = heap_alloc(&h, 8);

    heap_free(&h, a);
    heap_free(&h, c);
    HV_ASSERT_EQ(heap_blocks(&h), 5u);      /* free a, b, free c, guard, rest */
    heap_free(&h, b);
    HV_ASSERT_EQ(heap_blocks(&h), 3u);      /* abc, guard, rest */
    HV_ASSERT(heap_check(&h));
    /* The merged hole takes a request as big as the three blocks together. */
    HV_ASSERT_EQ(heap_alloc(&h, 3 * 40 + 2 * HEAP_HEADER), a);
    (void)guard;
}

HV_TEST(alloc_first_fit_takes_the_earliest_hole)
{
    struct heap h = fresh_heap();
    void *p[6];
    int i;

    for (i = 0; i < 6; i++)
        p[i] = heap_alloc(&h, 32);
    heap_free(&h, p[1]);
    heap_free(&h, p[3]);
    HV_ASSERT_EQ(heap_alloc(&h, 16), p[1]);  /* the first hole that fits, */
    HV_ASSERT_EQ(heap_alloc(&h, 32), p[3]);  /* not the best one */
    HV_ASSERT(heap_check(&h));
}

HV_TEST(alloc_small_remainders_are_not_split_off)
{
    struct heap h = fresh_heap();
    void *a = heap_alloc(&h, 32);
    void *b = heap_alloc(&h, 32);
    size_t blocks;

    heap_free(&h, a);                       /* a 40-byte hole */
    blocks = heap_blocks(&h);
    /* 24 bytes need a 32-byte block; the 8 left over cannot be a block. */
    HV_ASSERT_EQ(heap_alloc(&h, 24), a);
    HV_ASSERT_EQ(heap_blocks(&h), blocks);
    HV_ASSERT(heap_check(&h));
    (void)b;
}

HV_TEST(alloc_fragmentation_blocks_a_large_request)
{
    struct heap h = fresh_heap();
    void *p[ARENA_SIZE / 128 + 1];
    size_t n = 0, i;

    while ((p[n] = heap_alloc(&h, 128 - HEAP_HEADER)) != NULL)
        n++;
    for (i = 0; i < n; i += 2)              /* free every other block */
        heap_free(&h, p[i]);
    HV_ASSERT_GE(heap_free_bytes(&h), (size_t)ARENA_SIZE / 2 - n * HEAP_HEADER);
    HV_ASSERT_EQ(heap_largest_free(&h), 128u - HEAP_HEADER);
    HV_ASSERT_EQ(heap_alloc(&h, 256), NULL);    /* plenty free, none of it together */
    for (i = 1; i < n; i += 2)
        heap_free(&h, p[i]);
    HV_ASSERT_EQ(heap_blocks(&h), 1u);
    HV_ASSERT_NE(heap_alloc(&h, 256), NULL);
}

HV_TEST(alloc_tiny_or_misaligned_arenas)
{
    static uint8_t small[64] __attribute__((aligned(8)));
    struct heap h;

    heap_init(&h, small, 15);               /* too small for one block */
    HV_ASSERT_EQ(h.size, 0u);
    HV_ASSERT_EQ(heap_alloc(&h, 1), NULL);
    heap_init(&h, small + 3, 40);           /* aligned up to small + 8: 35 -> 32 bytes */
    HV_ASSERT_EQ(h.base, small + 8);
    HV_ASSERT_EQ(h.size, 32u);
    HV_ASSERT_EQ(heap_alloc(&h, 24), small + 16);
    HV_ASSERT(heap_check(&h));
}

/* Random allocations and frees from an LCG; each block is filled with a
 * pattern that must survive until it is freed, and the structure must stay
 * consistent.  The seed comes from the test's caller. */
static void random_workload(uint32_t seed, unsigned ops)
{
    static uint8_t big[64 * 1024] __attribute__((aligned(HEAP_ALIGN)));
    struct slot { uint8_t *p; uint32_t n; uint8_t fill; } slots[64];
    struct heap h;
    unsigned i, failures = 0;

    memset(slots, 0, sizeof(slots));
    heap_init(&h, big, sizeof(big));
    for (i = 0; i < ops; i++) {
        struct slot *s;

        seed = seed * 1664525u + 1013904223u;
        s = &slots[(seed >> 8) % 64];
        if (s->p) {
            uint32_t k;
            for (k = 0; k < s->n; k++)
                if (s->p[k] != s->fill)
                    HV_FAIL("op %u: block %p byte %u is %u, expected %u", i, (void *)s->p,
                            (unsigned)k, s->p[k], s->fill);
            heap_free(&h, s->p);
            s->p = NULL;
        } else {
            s->n = 1 + (seed >> 20) % 2048;
            s->fill = (uint8_t)(seed >> 3);
            s->p = heap_alloc(&h, s->n);
            if (s->p)
                memset(s->p, s->fill, s->n);
            else
                failures++;
        }
        if (i % 1024 == 0 && !heap_check(&h))
            HV_FAIL("op %u: the heap is inconsistent", i);
    }
    for (i = 0; i < 64; i++)
        heap_free(&h, slots[i].p);
    HV_ASSERT(heap_check(&h));
    HV_ASSERT_EQ(heap_blocks(&h), 1u);
    HV_ASSERT_LT(failures, ops / 4);
}

HV_TEST_MARKED(alloc_random_workload, "slow")
{
    random_workload(2024, 100000);
}

/* Opt-in fuzzing: `hv run --cmdline "hv.test=alloc_fuzz demo.seed=7" ...`. */
HV_TEST(alloc_fuzz)
{
    const char *seed = hv_cmdline_value("demo.seed");

    if (!seed)
        HV_SKIP("no demo.seed=N on the command line");
    random_workload((uint32_t)strtoul(seed, NULL, 0), 20000);
}
