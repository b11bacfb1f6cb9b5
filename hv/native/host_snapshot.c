/*
 * host_snapshot.c: a whole machine, saved and put back (reverse execution).
 *
 * A snapshot is everything the rest of a run depends on: guest RAM, the
 * host's state in struct hv_guest but not its live part (the clock and
 * timer, pending IRQs, halt, a hypercall waiting to be serviced, the gates,
 * every device's registers), the console and test results so far, and the switcher's own
 * state through its save op.  Restoring one and running on gives the same
 * console, instruction count and interrupt timing as the first time, which
 * the virtual clock makes exact.
 *
 * RAM is kept page by page.  A page that holds the same bytes as in the
 * machine's previous snapshot (or the one it was last restored to) is
 * shared with it, and a page of zeroes is not kept at all, so a snapshot
 * costs the pages the guest changed in between.  Finding them compares all
 * of RAM, a few milliseconds for 64 MiB: nothing is tracked while the guest
 * runs, so a run that never takes a snapshot pays nothing.
 *
 * Reference counts are only touched by the embedder's thread that holds
 * the machines idle (module.c: with the GIL).
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hv.h"

static const uint8_t zero_page[HV_PAGE_SIZE];

/*
 * Which pages of RAM were ever touched, as the kernel's page map says
 * (present or swapped out): one that never was holds zeroes, and reading
 * it to find that out would cost a page fault and map it.  A bit per page
 * in a malloc'd array, or NULL if the map cannot be read (then every page
 * is looked at).
 */
static uint8_t *ram_touched(const struct hv_guest *g)
{
    uint32_t npages = g->live.ram_size / HV_PAGE_SIZE;
    uint64_t *map = malloc(npages * sizeof(uint64_t));
    uint8_t *bits = calloc(npages / 8 + 1, 1);
    int fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
    size_t want = npages * sizeof(uint64_t), got = 0;
    off_t at = (off_t)((uintptr_t)g->live.ram / HV_PAGE_SIZE * sizeof(uint64_t));
    while (fd >= 0 && map && got < want) {
        ssize_t n = pread(fd, (uint8_t *)map + got, want - got, at + (off_t)got);
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    if (fd >= 0)
        close(fd);
    if (!map || !bits || got < want) {
        free(map);
        free(bits);
        return NULL;
    }
    for (uint32_t p = 0; p < npages; p++)
        if (map[p] >> 62)                   /* bit 63 present, bit 62 swapped */
            bits[p / 8] |= (uint8_t)(1u << (p % 8));
    free(map);
    return bits;
}

static bool touched(const uint8_t *bits, uint32_t p)
{
    return !bits || (bits[p / 8] >> (p % 8)) & 1;
}

void hv_ram_image_unref(struct hv_ram_image *img)
{
    if (!img || --img->refs > 0)
        return;
    for (uint32_t p = 0; p < img->npages; p++)
        if (img->page[p] && --img->page[p]->refs == 0)
            free(img->page[p]);
    free(img);
}

/* RAM now, sharing what `prev` (maybe NULL) already holds. */
static struct hv_ram_image *ram_image_take(const struct hv_guest *g,
                                           const struct hv_ram_image *prev)
{
    uint32_t npages = g->live.ram_size / HV_PAGE_SIZE;
    struct hv_ram_image *img = calloc(1, sizeof(*img) + npages * sizeof(img->page[0]));
    if (!img)
        return NULL;
    img->refs = 1;
    img->npages = npages;
    uint8_t *bits = ram_touched(g);
    for (uint32_t p = 0; p < npages; p++) {
        if (!touched(bits, p))
            continue;                       /* zeroes */
        const uint8_t *src = g->live.ram + (size_t)p * HV_PAGE_SIZE;
        struct hv_ram_page *old = prev ? prev->page[p] : NULL;
        if (memcmp(src, old ? old->data : zero_page, HV_PAGE_SIZE) == 0) {
            if (old)
                old->refs++;
            img->page[p] = old;
            continue;
        }
        if (!old && memcmp(src, zero_page, HV_PAGE_SIZE) == 0)
            continue;
        struct hv_ram_page *copy = malloc(sizeof(*copy));
        if (!copy) {
            free(bits);
            hv_ram_image_unref(img);
            return NULL;
        }
        copy->refs = 1;
        memcpy(copy->data, src, HV_PAGE_SIZE);
        img->page[p] = copy;
        img->own++;
    }
    free(bits);
    return img;
}

/* Write back only the pages that differ: a page the guest never touched
 * stays unmapped when the image has zeroes there. */
static void ram_image_put(struct hv_guest *g, const struct hv_ram_image *img)
{
    uint8_t *bits = ram_touched(g);
    for (uint32_t p = 0; p < img->npages; p++) {
        uint8_t *dst = g->live.ram + (size_t)p * HV_PAGE_SIZE;
        if (!img->page[p] && !touched(bits, p))
            continue;                       /* zeroes in both */
        const uint8_t *want = img->page[p] ? img->page[p]->data : zero_page;
        if (memcmp(dst, want, HV_PAGE_SIZE) != 0)
            memcpy(dst, want, HV_PAGE_SIZE);
    }
    free(bits);
}

static char *dup_or_null(const char *s, bool *failed)
{
    if (!s)
        return NULL;
    char *d = strdup(s);
    *failed |= d == NULL;
    return d;
}

static void free_results(struct hv_test_result *r, size_t n)
{
    for (size_t k = 0; r && k < n; k++) {
        free(r[k].file);
        free(r[k].expr);
        free(r[k].lhs);
        free(r[k].rhs);
        free(r[k].message);
    }
    free(r);
}

/* Deep copies of n results (NULL for none); false if out of memory. */
static bool copy_results(struct hv_test_result **out, const struct hv_test_result *src,
                         size_t n)
{
    *out = NULL;
    if (n == 0)
        return true;
    struct hv_test_result *r = calloc(n, sizeof(*r));
    if (!r)
        return false;
    bool failed = false;
    for (size_t k = 0; k < n; k++) {
        r[k] = src[k];
        r[k].file = dup_or_null(src[k].file, &failed);
        r[k].expr = dup_or_null(src[k].expr, &failed);
        r[k].lhs = dup_or_null(src[k].lhs, &failed);
        r[k].rhs = dup_or_null(src[k].rhs, &failed);
        r[k].message = dup_or_null(src[k].message, &failed);
    }
    if (failed) {
        free_results(r, n);
        return false;
    }
    *out = r;
    return true;
}

void hv_snapshot_free(struct hv_snapshot *s)
{
    if (!s)
        return;
    hv_ram_image_unref(s->ram);
    free(s->console);
    free_results(s->results, s->guest.nresults);
    free(s->sw_state);
    free(s);
}

/*
 * A machine's state is all of struct hv_guest after its live part (hv.h:
 * struct hv_live, the first member): a snapshot copies that, and a restore
 * copies it back in one go and never touches g->live.  So the debugger's
 * debug_interrupt, set from another thread, is never written here.
 */
_Static_assert(offsetof(struct hv_guest, live) == 0, "struct hv_live comes first");
#define STATE_AT sizeof(struct hv_live)

static void copy_state(struct hv_guest *dst, const struct hv_guest *src)
{
    memcpy((uint8_t *)dst + STATE_AT, (const uint8_t *)src + STATE_AT,
           sizeof(struct hv_guest) - STATE_AT);
}

struct hv_snapshot *hv_snapshot_take(struct hv_guest *g)
{
    struct hv_snapshot *s = calloc(1, sizeof(*s));
    if (!s)
        return NULL;
    s->sw_ops = g->live.sw_ops;
    s->ram_size = g->live.ram_size;
    s->instructions = g->live.sw_ops->instructions(g->live.sw);
    copy_state(&s->guest, g);               /* s->guest.live stays zeroes */
    s->sw_size = g->live.sw_ops->state_size(g->live.sw);
    s->sw_state = malloc(s->sw_size);
    s->console = malloc(g->console_len ? g->console_len : 1);
    if (!s->sw_state || !s->console || !copy_results(&s->results, g->live.results, g->nresults))
        goto error;
    if (g->console_len)
        memcpy(s->console, g->live.console, g->console_len);
    g->live.sw_ops->save(g->live.sw, s->sw_state);
    s->ram = ram_image_take(g, g->live.ram_image);
    if (!s->ram)
        goto error;
    /* The machine's next snapshot shares pages with this one. */
    hv_ram_image_unref(g->live.ram_image);
    g->live.ram_image = s->ram;
    s->ram->refs++;
    return s;
error:
    s->guest.nresults = s->results ? g->nresults : 0;
    hv_snapshot_free(s);
    return NULL;
}

bool hv_snapshot_restore(struct hv_guest *g, const struct hv_snapshot *s)
{
    /* What can fail comes first, so that a failure changes nothing. */
    size_t len = s->guest.console_len;
    if (len > g->live.console_cap) {
        uint8_t *p = realloc(g->live.console, len);
        if (!p)
            return false;
        g->live.console = p;
        g->live.console_cap = len;
    }
    struct hv_test_result *results;
    if (!copy_results(&results, s->results, s->guest.nresults))
        return false;

    ram_image_put(g, s->ram);
    struct hv_ram_image *image = s->ram;
    image->refs++;
    hv_ram_image_unref(g->live.ram_image);
    free_results(g->live.results, g->nresults);

    copy_state(g, &s->guest);
    g->watch_touched = false;
    g->live.ram_image = image;
    g->live.results = results;
    g->live.results_cap = s->guest.nresults;
    if (len)
        memcpy(g->live.console, s->console, len);
    g->live.sw_ops->restore(g->live.sw, s->sw_state);
    /* What is watched now reads as it was: no change to report yet. */
    g->watch_icount = g->live.sw_ops->instructions(g->live.sw);
    for (uint32_t k = 0; k < g->live.nwatch; k++) {
        struct hv_watch *w = &g->live.watch[k];
        if (w->kind != HV_WATCH_WRITE)
            continue;
        memset(w->old, 0, w->len);
        hv_debug_copy(g, w->addr, w->old, w->len, false);
    }
    return true;
}

size_t hv_snapshot_bytes(const struct hv_snapshot *s)
{
    return sizeof(*s) + s->sw_size + s->guest.console_len +
           s->guest.nresults * sizeof(struct hv_test_result) +
           sizeof(*s->ram) + s->ram->npages * sizeof(s->ram->page[0]) +
           s->ram->own * sizeof(struct hv_ram_page);
}
