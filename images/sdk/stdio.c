/* stdio.c - FILE streams over the console (an archive member).
 *
 * There are three streams and no files.  stdout is the console buffer that
 * printf uses, so the two interleave exactly.  stderr is unbuffered: each
 * call flushes stdout's buffer first (so the console shows both in the order
 * they were written) and then writes with fd 2, which hv puts on the same
 * console and Linux on the process's stderr.  stdin reads the bytes COM1
 * has received (hv run --serial-in FILE) on hv, and fd 0 on Linux; it
 * reaches EOF when no byte is waiting.  fopen() sets errno to ENOENT and
 * returns NULL. */
#include <hv_guest.h>
#include <errno.h>

#include "hv_libc.h"

enum { STREAM_EOF = 1, STREAM_ERROR = 2 };

struct hv_file {
    int fd;
    int state;          /* STREAM_EOF | STREAM_ERROR */
    int pushed;         /* a byte given back by ungetc, or EOF */
};

static FILE streams[3] = { { 0, 0, EOF }, { 1, 0, EOF }, { 2, 0, EOF } };
FILE *stdin = &streams[0];
FILE *stdout = &streams[1];
FILE *stderr = &streams[2];

/* ---- Output. ------------------------------------------------------------- */

static int stream_write(FILE *f, const char *s, size_t n)
{
    if (f == stdout) {
        hv_console_put(s, n);
        return 0;
    }
    if (f == stderr) {
        hv_flush();
        while (n) {
            long done = hv_write(HV_STDERR, s, n);
            if (done <= 0)
                break;
            s += done;
            n -= (size_t)done;
        }
        if (!n)
            return 0;
    }
    f->state |= STREAM_ERROR;       /* stdin, or the console refused */
    errno = EBADF;
    return EOF;
}

size_t fwrite(const void *p, size_t size, size_t n, FILE *f)
{
    if (size == 0 || n == 0)
        return 0;
    return stream_write(f, p, size * n) == 0 ? n : 0;
}

int fputs(const char *s, FILE *f)
{
    return stream_write(f, s, strlen(s));
}

int fputc(int c, FILE *f)
{
    char ch = (char)c;

    return stream_write(f, &ch, 1) == 0 ? (unsigned char)ch : EOF;
}

int putc(int c, FILE *f)
{
    return fputc(c, f);
}

/* vfprintf gathers a call's output so stderr gets one write per chunk of
 * 256 bytes rather than one per piece of the format. */
struct stream_sink {
    struct hv_sink sink;
    FILE *f;
    int failed;
    size_t used;
    char buf[256];
};

static void stream_sink_drain(struct stream_sink *s)
{
    if (s->used && stream_write(s->f, s->buf, s->used) != 0)
        s->failed = 1;
    s->used = 0;
}

static void stream_sink_put(struct hv_sink *sink, const char *p, size_t n)
{
    struct stream_sink *s = (struct stream_sink *)sink;

    while (n) {
        size_t room = sizeof(s->buf) - s->used, k = n < room ? n : room;
        memcpy(s->buf + s->used, p, k);
        s->used += k;
        p += k;
        n -= k;
        if (s->used == sizeof(s->buf))
            stream_sink_drain(s);
    }
}

int vfprintf(FILE *f, const char *fmt, va_list ap)
{
    struct stream_sink s;
    int n;

    if (f == stdout)
        return vprintf(fmt, ap);
    s.sink.put = stream_sink_put;
    s.f = f;
    s.failed = 0;
    s.used = 0;
    n = hv_vformat(&s.sink, fmt, ap);
    stream_sink_drain(&s);
    return s.failed ? -1 : n;
}

int fprintf(FILE *f, const char *fmt, ...)
{
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vfprintf(f, fmt, ap);
    va_end(ap);
    return n;
}

int fflush(FILE *f)
{
    (void)f;            /* stdout's buffer is the only one */
    hv_flush();
    return 0;
}

void perror(const char *s)
{
    const char *msg = strerror(errno);

    if (s && *s)
        fprintf(stderr, "%s: %s\n", s, msg);
    else
        fprintf(stderr, "%s\n", msg);
}

/* ---- Input. -------------------------------------------------------------- */

/* The next byte of stdin, or EOF when there is none (yet). */
static int read_byte(void)
{
#ifdef HV_TARGET_LINUX
    unsigned char c;
    long n = hv__linux_syscall3(3, 0, (unsigned long)(uintptr_t)&c, 1);  /* read */
    if (n == 1)
        return c;
    if (n < 0) {
        stdin->state |= STREAM_ERROR;
        errno = (int)-n;
        return EOF;
    }
#else
    if (hv_inb(0x3F8 + 5) & 1)              /* COM1 LSR: data ready */
        return hv_inb(0x3F8);
#endif
    stdin->state |= STREAM_EOF;
    return EOF;
}

int fgetc(FILE *f)
{
    int c;

    if (f != stdin) {
        f->state |= STREAM_ERROR;
        errno = EBADF;
        return EOF;
    }
    if (f->pushed != EOF) {
        c = f->pushed;
        f->pushed = EOF;
        return c;
    }
    hv_flush();         /* a prompt shows before the program waits */
    return read_byte();
}

int getc(FILE *f)
{
    return fgetc(f);
}

int getchar(void)
{
    return fgetc(stdin);
}

int ungetc(int c, FILE *f)
{
    if (c == EOF || f->pushed != EOF)
        return EOF;
    f->pushed = (unsigned char)c;
    f->state &= ~STREAM_EOF;
    return f->pushed;
}

char *fgets(char *s, int size, FILE *f)
{
    int n = 0;

    while (n < size - 1) {
        int c = fgetc(f);
        if (c == EOF)
            break;
        s[n++] = (char)c;
        if (c == '\n')
            break;
    }
    if (n == 0 || size <= 0)
        return NULL;
    s[n] = 0;
    return s;
}

size_t fread(void *p, size_t size, size_t n, FILE *f)
{
    unsigned char *d = p;
    size_t want = size * n, got = 0;

    if (size == 0)
        return 0;
    for (; got < want; got++) {
        int c = fgetc(f);
        if (c == EOF)
            break;
        d[got] = (unsigned char)c;
    }
    return got / size;
}

int feof(FILE *f)
{
    return (f->state & STREAM_EOF) != 0;
}

int ferror(FILE *f)
{
    return (f->state & STREAM_ERROR) != 0;
}

void clearerr(FILE *f)
{
    f->state = 0;
}

int fileno(FILE *f)
{
    return f->fd;
}

/* ---- Files: there are none. ---------------------------------------------- */

FILE *fopen(const char *path, const char *mode)
{
    (void)path;
    errno = mode && mode[0] && strchr("rwa", mode[0]) ? ENOENT : EINVAL;
    return NULL;
}

FILE *freopen(const char *path, const char *mode, FILE *f)
{
    (void)f;
    return fopen(path, mode);
}

int fclose(FILE *f)
{
    return fflush(f);
}

int remove(const char *path)
{
    (void)path;
    errno = ENOENT;
    return -1;
}

int rename(const char *from, const char *to)
{
    (void)from;
    (void)to;
    errno = ENOENT;
    return -1;
}

int fseek(FILE *f, long offset, int whence)
{
    (void)f;
    (void)offset;
    (void)whence;
    errno = ESPIPE;     /* the console is not seekable */
    return -1;
}

long ftell(FILE *f)
{
    (void)f;
    errno = ESPIPE;
    return -1;
}

void rewind(FILE *f)
{
    clearerr(f);
}

int setvbuf(FILE *f, char *buf, int mode, size_t size)
{
    (void)f;
    (void)buf;
    (void)mode;
    (void)size;
    return 0;           /* the buffering stays as described above */
}

void setbuf(FILE *f, char *buf)
{
    (void)f;
    (void)buf;
}
