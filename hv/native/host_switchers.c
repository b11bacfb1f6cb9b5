/*
 * host_switchers.c: the switchers this build of hv has, and finding one by
 * name.
 *
 * The emu (the interpreter) is always there and always first: it is the
 * reference every other switcher is tested against.  bt (the binary
 * translator) emits x86-64 code, so only an x86-64 host has it.
 */
#include <string.h>

#include "hv.h"

const struct hv_switcher_ops *const hv_switchers[] = {
    &hv_switcher_emu,
#ifdef HV_HAVE_BT
    &hv_switcher_bt,
#endif
    NULL,
};

const struct hv_switcher_ops *hv_switcher_find(const char *name)
{
    for (const struct hv_switcher_ops *const *ops = hv_switchers; *ops; ops++)
        if (strcmp(name, (*ops)->name) == 0)
            return *ops;
    return NULL;
}
