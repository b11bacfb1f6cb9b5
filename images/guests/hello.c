/* hello.c - the smallest useful guest: print one line, exit 0.
 *     hv cc images/guests/hello.c && hv run hello.elf */
#include <hv_guest.h>

int main(void)
{
    printf("Hello from an hv guest!\n");
    return 0;
}
