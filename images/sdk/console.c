/* console.c - the buffered console behind printf, puts and putchar.
 *
 * Each WRITE hypercall is a trip out of the guest, so bytes are gathered
 * and written a line at a time.  Output is flushed at every newline (so a
 * guest that is killed mid-run has still shown each finished line), when the
 * buffer is full, by hv_flush(), and by crt0 after main() returns. */
#include <hv_guest.h>

#include "hv_libc.h"

#define CONSOLE_BUFFER_SIZE 512

static char console_buf[CONSOLE_BUFFER_SIZE];
static size_t console_used;
static bool console_mid_line;    /* the last byte put was not a newline */

void hv_flush(void)
{
    size_t done = 0;

    while (done < console_used) {
        long n = hv_write(HV_STDOUT, console_buf + done, console_used - done);
        if (n <= 0)
            break;    /* the console refused; drop the rest, don't spin */
        done += (size_t)n;
    }
    console_used = 0;
}

void hv_console_put(const char *s, size_t n)
{
    while (n--) {
        char c = *s++;
        console_buf[console_used++] = c;
        console_mid_line = c != '\n';
        if (c == '\n' || console_used == CONSOLE_BUFFER_SIZE)
            hv_flush();
    }
}

bool hv_console_mid_line(void)
{
    return console_mid_line;
}

static void console_sink_put(struct hv_sink *sink, const char *s, size_t n)
{
    (void)sink;
    hv_console_put(s, n);
}

int vprintf(const char *fmt, va_list ap)
{
    struct hv_sink sink = { console_sink_put };

    return hv_vformat(&sink, fmt, ap);
}

int printf(const char *fmt, ...)
{
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vprintf(fmt, ap);
    va_end(ap);
    return n;
}

int putchar(int c)
{
    char ch = (char)c;

    hv_console_put(&ch, 1);
    return (unsigned char)ch;
}

int puts(const char *s)
{
    size_t n = strlen(s);

    hv_console_put(s, n);
    hv_console_put("\n", 1);
    return (int)n + 1;
}
