/* multiboot.c - print the multiboot v1 handoff the guest was given:
 * the loader magic from EAX, memory sizes, command line and memory map. */
#include <hv_guest.h>

static const char *mmap_type_name(uint32_t type)
{
    switch (type) {
    case HV_MB_MEMORY_AVAILABLE: return "available";
    case HV_MB_MEMORY_RESERVED: return "reserved";
    default: return "other";
    }
}

static void print_mmap(const struct hv_multiboot_info *mb)
{
    struct hv_multiboot_mmap_entry *e;

    for (e = hv_mmap_first(mb); e; e = hv_mmap_next(mb, e)) {
        printf("mmap: base=0x%09llx len=0x%09llx type=%u (%s)\n",
               (unsigned long long)e->addr, (unsigned long long)e->len,
               (unsigned)e->type, mmap_type_name(e->type));
    }
}

int main(void)
{
    const struct hv_multiboot_info *mb = hv_multiboot();

    printf("magic: 0x%08x (%s)\n", (unsigned)hv_multiboot_magic,
           mb ? "multiboot" : "not multiboot");
    if (!mb)
        return 1;
    printf("flags: 0x%08x\n", (unsigned)mb->flags);
    if (mb->flags & HV_MB_INFO_MEMORY)
        printf("mem_lower: %u KiB\nmem_upper: %u KiB\n",
               (unsigned)mb->mem_lower, (unsigned)mb->mem_upper);
    printf("cmdline: \"%s\"\n", hv_cmdline());
    if (mb->flags & HV_MB_INFO_MEM_MAP)
        print_mmap(mb);
    else
        printf("mmap: none\n");
    return 0;
}
