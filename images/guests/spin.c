/* spin.c - loop forever, so the host's timeout has something to stop. */
#include <hv_guest.h>

int main(void)
{
    volatile uint32_t counter = 0;

    printf("spinning\n");
    for (;;)
        counter++;
}
