/* atexit.c - functions run by exit() and on return from main, last
 * registered first, before the console is flushed (an archive member: only
 * a program that calls atexit links it, and exit() finds it by a weak
 * reference). */
#include <hv_guest.h>
#include <errno.h>

#define ATEXIT_MAX 64           /* C requires room for at least 32 */

static void (*handlers[ATEXIT_MAX])(void);
static int registered;

int atexit(void (*fn)(void))
{
    if (registered == ATEXIT_MAX) {
        errno = ENOMEM;
        return -1;
    }
    handlers[registered++] = fn;
    return 0;
}

void hv__run_atexit(void);

void hv__run_atexit(void)
{
    /* A handler may itself call atexit or exit: take each off the table
     * before calling it, so none runs twice. */
    while (registered > 0)
        handlers[--registered]();
}
