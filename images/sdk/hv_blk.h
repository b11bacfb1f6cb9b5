/*
 * hv_blk.h - the block device (a disk image file attached with
 * `hv run --disk FILE`), reached through NOTIFY (docs/abi.md, "Devices").
 *
 *     #include <hv_blk.h>
 *
 *     static uint8_t sector[HV_BLK_SECTOR_SIZE];
 *
 *     int main(void)
 *     {
 *         uint64_t sectors;
 *
 *         if (hv_blk_size(0, &sectors) < 0)
 *             return 1;                    // no disk attached
 *         if (hv_blk_read(0, 0, 1, sector) < 0)
 *             return 1;
 *         printf("%llu sectors, first byte 0x%02x\n",
 *                (unsigned long long)sectors, sector[0]);
 *         return 0;
 *     }
 *
 * Devices are numbered from 0 in the order the run lists them (each --disk
 * is one).  Every call builds a 32-byte request and passes its physical
 * address to NOTIFY; the host handles it synchronously, so the data is in
 * place when the call returns.  Request and buffer addresses are physical:
 * with paging on they must be identity-mapped (the SDK's helpers keep the
 * stack and the image that way; see hv_paging.h).
 *
 * Every call returns 0 or a negative error:
 *     -HV_ENODEV  no device with that index
 *     -HV_EINVAL  bad op
 *     -HV_ERANGE  sector + count past the end of the disk (nothing moved)
 *     -HV_EROFS   WRITE to a disk attached read-only (--disk-readonly)
 *     -HV_EIO     the host's read, write or fsync failed
 *     -HV_ENOSYS  on the Linux target (no devices there)
 */
#ifndef HV_BLK_H
#define HV_BLK_H

#include <hv_guest.h>

#define HV_BLK_SECTOR_SIZE   512u

/* Request ops. */
#define HV_BLK_READ          0
#define HV_BLK_WRITE         1
#define HV_BLK_FLUSH         2
#define HV_BLK_SIZE          3

/* Errors (negated in return values). */
#define HV_EIO               5
#define HV_ENODEV            19
#define HV_EROFS             30
#define HV_ERANGE            34

/* The request NOTIFY hands to the block device (little-endian, 32 bytes). */
struct hv_blk_request {
    uint32_t device;     /* 0: the device index (every NOTIFY request starts so) */
    uint32_t op;         /* 4: HV_BLK_READ, _WRITE, _FLUSH, _SIZE */
    uint64_t sector;     /* 8: first sector; SIZE writes the disk's size here */
    uint32_t count;      /* 16: sectors (0 is a no-op) */
    uint32_t buffer;     /* 20: gpa of count * 512 bytes */
    uint32_t reserved[2];    /* 24, 28: 0 */
};

_Static_assert(sizeof(struct hv_blk_request) == 32, "a block request is 32 bytes");
_Static_assert(offsetof(struct hv_blk_request, device) == 0, "hv_blk_request.device");
_Static_assert(offsetof(struct hv_blk_request, op) == 4, "hv_blk_request.op");
_Static_assert(offsetof(struct hv_blk_request, sector) == 8, "hv_blk_request.sector");
_Static_assert(offsetof(struct hv_blk_request, count) == 16, "hv_blk_request.count");
_Static_assert(offsetof(struct hv_blk_request, buffer) == 20, "hv_blk_request.buffer");
_Static_assert(offsetof(struct hv_blk_request, reserved) == 24, "hv_blk_request.reserved");

/* Fill in req and hand it to the device; returns the device's result. */
static inline long hv_blk_submit(struct hv_blk_request *req)
{
    return hv_notify(HV_GPA(req));
}

static inline long hv_blk__request(uint32_t dev, uint32_t op, uint64_t sector,
                                   uint32_t count, const void *buf)
{
    struct hv_blk_request req = {
        .device = dev, .op = op, .sector = sector, .count = count,
        .buffer = HV_GPA(buf), .reserved = { 0, 0 },
    };

    return hv_blk_submit(&req);
}

/* Read count sectors from sector on into buf (count * 512 bytes). */
static inline long hv_blk_read(uint32_t dev, uint64_t sector, uint32_t count, void *buf)
{
    return hv_blk__request(dev, HV_BLK_READ, sector, count, buf);
}

/* Write count sectors from buf to the disk, from sector on. */
static inline long hv_blk_write(uint32_t dev, uint64_t sector, uint32_t count,
                                const void *buf)
{
    return hv_blk__request(dev, HV_BLK_WRITE, sector, count, buf);
}

/* Make the writes so far durable (fsync of the image file). */
static inline long hv_blk_flush(uint32_t dev)
{
    return hv_blk__request(dev, HV_BLK_FLUSH, 0, 0, NULL);
}

/* The disk's size in 512-byte sectors (a partial last sector does not
 * count) into *sectors; 0 there on an error. */
static inline long hv_blk_size(uint32_t dev, uint64_t *sectors)
{
    struct hv_blk_request req = {
        .device = dev, .op = HV_BLK_SIZE, .sector = 0, .count = 0,
        .buffer = 0, .reserved = { 0, 0 },
    };
    long r = hv_blk_submit(&req);

    *sectors = r == 0 ? ((volatile struct hv_blk_request *)&req)->sector : 0;
    return r;
}

/* A short name for an error this header returns ("ERANGE"), or "?". */
static inline const char *hv_blk_strerror(long err)
{
    switch (err < 0 ? -err : err) {
    case 0: return "ok";
    case HV_EIO: return "EIO";
    case HV_ENODEV: return "ENODEV";
    case HV_EINVAL: return "EINVAL";
    case HV_EROFS: return "EROFS";
    case HV_ERANGE: return "ERANGE";
    case HV_ENOSYS: return "ENOSYS";
    }
    return "?";
}

#endif /* HV_BLK_H */
