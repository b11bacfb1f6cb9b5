/* big_console.c - 100 000 bytes of console output in 100-byte lines, for
 * tests of output streaming and buffering. */
#include <hv_guest.h>

#define TOTAL_BYTES 100000
#define LINE_BYTES 100

int main(void)
{
    char line[LINE_BYTES + 1];
    int lines = TOTAL_BYTES / LINE_BYTES;

    for (int i = 0; i < lines; i++) {
        /* "line NNNNN " then letters, padded to 99 bytes, then a newline. */
        int n = snprintf(line, sizeof(line), "line %05d ", i);
        for (; n < LINE_BYTES - 1; n++)
            line[n] = (char)('a' + (i + n) % 26);
        line[LINE_BYTES - 1] = '\n';
        line[LINE_BYTES] = 0;
        printf("%s", line);
    }
    return 0;
}
