/*
 * modules.c - list the multiboot boot modules the loader handed over
 * (hv run --module FILE[,CMDLINE], or QEMU's -initrd "FILE CMDLINE,..."):
 * each one's string, size, page alignment and first bytes.
 */
#include <hv_guest.h>

struct mb_module {
    uint32_t start, end, string, reserved;
};

int main(void)
{
    struct hv_multiboot_info *mb = hv_multiboot();
    if (!mb || !(mb->flags & HV_MB_INFO_MODS) || mb->mods_count == 0) {
        printf("no modules\n");
        return 0;
    }
    const struct mb_module *mods = (const struct mb_module *)(uintptr_t)mb->mods_addr;
    printf("%u modules\n", mb->mods_count);
    for (uint32_t k = 0; k < mb->mods_count; k++) {
        const struct mb_module *m = &mods[k];
        const unsigned char *p = (const unsigned char *)(uintptr_t)m->start;
        uint32_t size = m->end - m->start;
        printf("module %u: '%s' %u bytes, page aligned: %s, starts '", k,
               (const char *)(uintptr_t)m->string, size, (m->start & 0xfff) ? "no" : "yes");
        for (uint32_t i = 0; i < size && i < 16; i++)
            printf("%c", p[i] >= 32 && p[i] < 127 ? p[i] : '.');
        printf("'\n");
    }
    return 0;
}
