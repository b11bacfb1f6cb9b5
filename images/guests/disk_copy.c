/* disk_copy.c - copy a disk through the block device and check the copy.
 *
 *     hv run --disk in.img --disk out.img disk_copy.elf    # device 0 -> device 1
 *     hv run --disk both.img disk_copy.elf                 # first half -> second half
 *
 * Reads device 0 sector by sector, computing its CRC-32, writes each sector
 * to the copy, flushes, reads the copy back and compares it with the source
 * sector by sector and by CRC.  Then it asks for sectors past the end, which
 * must fail with -34 (ERANGE).  Exit status 0 when everything matched, 1 on
 * a mismatch or an unexpected error, 2 without a disk. */
#include <hv_blk.h>

static uint8_t sector[HV_BLK_SECTOR_SIZE];
static uint8_t copy[HV_BLK_SECTOR_SIZE];
static uint32_t crc_table[256];

static void crc32_init(void)
{
    for (uint32_t n = 0; n < 256; n++) {
        uint32_t c = n;
        for (int k = 0; k < 8; k++)
            c = c & 1 ? 0xedb88320u ^ (c >> 1) : c >> 1;
        crc_table[n] = c;
    }
}

/* The running CRC-32 (IEEE, as zlib's crc32()), starting from 0. */
static uint32_t crc32_update(uint32_t crc, const uint8_t *p, size_t n)
{
    crc = ~crc;
    while (n--)
        crc = crc_table[(crc ^ *p++) & 0xff] ^ (crc >> 8);
    return ~crc;
}

static int fail(const char *what, uint64_t at, long r)
{
    printf("%s at sector %llu failed: %ld (%s)\n", what, (unsigned long long)at, r,
           hv_blk_strerror(r));
    return 1;
}

int main(void)
{
    uint64_t size0, size1, count, base;
    uint32_t src = 0, dst, crc_src = 0, crc_copy = 0, differ = 0;
    long r;

    crc32_init();
    r = hv_blk_size(0, &size0);
    if (r < 0) {
        printf("no disk 0: %ld (%s); attach one with hv run --disk FILE\n", r,
               hv_blk_strerror(r));
        return 2;
    }
    printf("disk 0: %llu sectors (%llu bytes)\n", (unsigned long long)size0,
           (unsigned long long)size0 * HV_BLK_SECTOR_SIZE);
    r = hv_blk_size(1, &size1);
    if (r == 0) {
        printf("disk 1: %llu sectors\n", (unsigned long long)size1);
        if (size1 < size0) {
            printf("disk 1 is smaller than disk 0\n");
            return 1;
        }
        dst = 1;
        count = size0;
        base = 0;
    } else if (r == -HV_ENODEV) {
        dst = 0;
        count = size0 / 2;
        base = count;
        printf("disk 1: none (%s): copying the first half of disk 0 into the second\n",
               hv_blk_strerror(r));
    } else {
        return fail("SIZE of disk 1", 0, r);
    }
    printf("copying %llu sectors: disk %u sectors 0..%llu -> disk %u sectors %llu..%llu\n",
           (unsigned long long)count, (unsigned)src,
           (unsigned long long)(count ? count - 1 : 0), (unsigned)dst,
           (unsigned long long)base, (unsigned long long)(base + (count ? count - 1 : 0)));

    for (uint64_t s = 0; s < count; s++) {
        if ((r = hv_blk_read(src, s, 1, sector)) < 0)
            return fail("read", s, r);
        crc_src = crc32_update(crc_src, sector, sizeof(sector));
        if ((r = hv_blk_write(dst, base + s, 1, sector)) < 0)
            return fail("write", base + s, r);
    }
    if ((r = hv_blk_flush(dst)) < 0)
        return fail("flush", 0, r);
    printf("read %llu sectors: crc32 0x%08x\n", (unsigned long long)count, (unsigned)crc_src);
    printf("wrote %llu sectors and flushed disk %u\n", (unsigned long long)count, (unsigned)dst);

    for (uint64_t s = 0; s < count; s++) {
        if ((r = hv_blk_read(dst, base + s, 1, copy)) < 0)
            return fail("read back", base + s, r);
        crc_copy = crc32_update(crc_copy, copy, sizeof(copy));
        if ((r = hv_blk_read(src, s, 1, sector)) < 0)
            return fail("read", s, r);
        differ += memcmp(sector, copy, sizeof(copy)) != 0;
    }
    printf("read back %llu sectors: crc32 0x%08x, %u sectors differ: %s\n",
           (unsigned long long)count, (unsigned)crc_copy, (unsigned)differ,
           crc_copy == crc_src && differ == 0 ? "match" : "MISMATCH");

    r = hv_blk_read(0, size0, 1, sector);
    printf("read of sector %llu (past the end): %ld (%s)\n", (unsigned long long)size0, r,
           hv_blk_strerror(r));
    long r2 = hv_blk_read(0, size0 ? size0 - 1 : 0, 2, sector);
    printf("read of 2 sectors from %llu (straddles the end): %ld (%s)\n",
           (unsigned long long)(size0 ? size0 - 1 : 0), r2, hv_blk_strerror(r2));

    if (crc_copy != crc_src || differ || r != -HV_ERANGE || r2 != -HV_ERANGE)
        return 1;
    printf("disk copy ok\n");
    return 0;
}
