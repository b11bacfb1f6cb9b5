/* hv-variants: O0 O2 Os */
/*
 * mixed2.c - char and short arithmetic and the idioms gcc picks at -Os.
 *
 * CRCs, base64, UTF-8, itoa, run-length coding, division by constants
 * (multiply-high), saturating byte arithmetic, rotates and byte swaps that
 * gcc recognises, builtins (clz ctz popcount bswap parity), min/max (cmov),
 * packed structs and unaligned access, inline memset/memcpy (rep stos/movs
 * at -Os), variable-length arrays, 64-bit comparisons and shifts by
 * variable counts.
 */
#include "conf.h"

static u32 seed = 2463534242u;

static u32 xorshift(void)
{
    seed ^= seed << 13;
    seed ^= seed >> 17;
    seed ^= seed << 5;
    return seed;
}

/* ---- CRCs over bytes and shorts. -------------------------------------- */

static u8 crc8(const u8 *p, size_t n)
{
    u8 c = 0;

    while (n--) {
        c ^= *p++;
        for (int i = 0; i < 8; i++)
            c = (u8)(c & 0x80 ? (c << 1) ^ 0x07 : c << 1);
    }
    return c;
}

static u16 crc16_ccitt(const u8 *p, size_t n)
{
    u16 c = 0xffff;

    while (n--) {
        c ^= (u16)(*p++ << 8);
        for (int i = 0; i < 8; i++)
            c = (u16)(c & 0x8000 ? (c << 1) ^ 0x1021 : c << 1);
    }
    return c;
}

static u32 crc_table[256];

static u32 crc32(const u8 *p, size_t n)
{
    u32 c = 0xffffffffu;

    if (!crc_table[1]) {
        for (u32 i = 0; i < 256; i++) {
            u32 v = i;

            for (int k = 0; k < 8; k++)
                v = v & 1 ? (v >> 1) ^ 0xedb88320u : v >> 1;
            crc_table[i] = v;
        }
    }
    while (n--)
        c = crc_table[(c ^ *p++) & 0xff] ^ (c >> 8);
    return ~c;
}

static void test_crc(void)
{
    static const char msg[] = "The quick brown fox jumps over the lazy dog";
    static u8 data[300];

    for (int i = 0; i < 300; i++)
        data[i] = (u8)xorshift();
    printf("crc8 %02x crc16 %04x crc32 %08x\n", crc8((const u8 *)msg, strlen(msg)),
           crc16_ccitt((const u8 *)msg, strlen(msg)), crc32((const u8 *)msg, strlen(msg)));
    printf("random crc8 %02x crc16 %04x crc32 %08x\n", crc8(data, 300), crc16_ccitt(data, 300),
           crc32(data, 300));
    conf_checks += 6;
}

/* ---- Char and short arithmetic. ---------------------------------------- */

static u8 sat_add_u8(u8 a, u8 b)
{
    unsigned s = (unsigned)a + b;

    return (u8)(s > 255 ? 255 : s);
}

static int8_t sat_add_s8(int8_t a, int8_t b)
{
    int s = a + b;

    return (int8_t)(s > 127 ? 127 : s < -128 ? -128 : s);
}

static int16_t mul_q15(int16_t a, int16_t b)
{
    return (int16_t)(((int32_t)a * b + (1 << 14)) >> 15);
}

static void test_small_ints(void)
{
    static const int8_t sb[] = {-128, -127, -1, 0, 1, 2, 63, 64, 126, 127};
    static const int16_t sw[] = {-32768, -32767, -256, -1, 0, 1, 255, 256, 32766, 32767};
    u32 h = HASH_INIT;

    for (unsigned i = 0; i < 10; i++) {
        for (unsigned j = 0; j < 10; j++) {
            int8_t a = sb[i], b = sb[j];
            u8 ua = (u8)a, ub = (u8)b;
            int16_t x = sw[i], y = sw[j];
            u16 ux = (u16)x, uy = (u16)y;

            h = check(h, sat_add_u8(ua, ub) | (u32)(u8)sat_add_s8(a, b) << 8);
            h = check(h, (u32)(int8_t)(a * b) ^ (u32)(u8)(ua * ub) << 8);
            h = check(h, (u32)(int16_t)(x * y) ^ (u32)(u16)(ux * uy) << 16);
            h = check(h, (u32)(u16)mul_q15(x, y));
            if (b)
                h = check(h, (u32)(int8_t)(a / b) ^ (u32)(int8_t)(a % b) << 8);
            if (ub)
                h = check(h, (u32)(ua / ub) ^ (u32)(ua % ub) << 8);
            if (y && !(x == -32768 && y == -1))
                h = check(h, (u32)(u16)(x / y) ^ (u32)(u16)(x % y) << 16);
            if (uy)
                h = check(h, (u32)(ux / uy) ^ (u32)(ux % uy) << 16);
            h = check(h, (u32)((a < b) | (ua < ub) << 1 | (x < y) << 2 | (ux < uy) << 3 |
                               (a == (int8_t)x) << 4));
            h = check(h, (u32)(u8)(ua >> (j % 8)) ^ (u32)(u8)(a >> (j % 8)) << 8 ^
                             (u32)(u16)(x >> (i % 16)) << 16);
        }
    }
    printf("small ints %08x\n", h);
}

/* ---- Division and modulo by constants. -------------------------------- */

static void test_const_div(void)
{
    u32 h = HASH_INIT;

    for (u32 k = 0; k < 3000; k++) {
        u32 u = xorshift() >> (k % 32);
        int32_t s = (int32_t)xorshift() >> (k % 29);

        h = check(h, u / 3 + u / 7 * 3 + u / 10 * 5 + u / 1000 * 7 + u / 641);
        h = check(h, u % 3 + u % 7 * 3 + u % 10 * 5 + u % 1000 * 7 + u % 641);
        h = check(h, (u32)(s / 3 + s / 8 * 3 + s / -10 * 5 + s / 1000 * 7));
        h = check(h, (u32)(s % 3 + s % 8 * 3 + s % -10 * 5 + s % 1000 * 7));
        h = check(h, (u32)((u64)u * 0xcccccccdu >> 35));
    }
    printf("const div %08x\n", h);
}

/* ---- Rotates, swaps, builtins, min/max. --------------------------------- */

static u32 rotl32(u32 x, unsigned n) { return (x << (n & 31)) | (x >> (-n & 31)); }
static u16 rotr16(u16 x, unsigned n) { return (u16)((x >> (n & 15)) | (x << (-n & 15))); }
static u8 rotl8(u8 x, unsigned n) { return (u8)((x << (n & 7)) | (x >> (-n & 7))); }

static u32 swap32(u32 x)
{
    return (x >> 24) | ((x >> 8) & 0xff00) | ((x << 8) & 0xff0000) | (x << 24);
}

static u16 swap16(u16 x) { return (u16)((x >> 8) | (x << 8)); }

/* gcc turns __builtin_ctzll into a libgcc call (__ctzdi2) that the SDK
 * does not provide; split it into two 32-bit ones. */
static u32 ctz64(u64 w)
{
    return (u32)w ? (u32)__builtin_ctz((u32)w) : 32 + (u32)__builtin_ctz((u32)(w >> 32));
}

static int imin(int a, int b) { return a < b ? a : b; }
static u32 umax(u32 a, u32 b) { return a > b ? a : b; }

static void test_bits(void)
{
    u32 h = HASH_INIT;

    for (u32 k = 0; k < 1000; k++) {
        u32 x = xorshift(), y = xorshift();
        u64 w = (u64)x << 32 | y;

        h = check(h, rotl32(x, k) ^ rotr16((u16)x, k) ^ (u32)rotl8((u8)x, k) << 16);
        h = check(h, swap32(x) ^ __builtin_bswap32(y) ^ swap16((u16)x));
        if (x)
            h = check(h, (u32)__builtin_clz(x) | (u32)__builtin_ctz(x) << 8);
        if (w >> (k % 64))
            h = check(h, (u32)__builtin_clzll(w >> (k % 64)) | ctz64(w) << 8);
        h = check(h, (u32)__builtin_popcount(x) | (u32)__builtin_popcountll(w) << 8 |
                         (u32)__builtin_parity(y) << 16);
        h = check(h, (u32)imin((int)x, (int)y) ^ umax(x, y));
        h = check(h, (u32)(w >> (k % 64)) ^ (u32)(w << (k % 64) >> 32) ^
                         (u32)((int64_t)w >> (k % 64)));
        h = check(h, (u32)((w < (u64)k << 40) | ((int64_t)w < (int64_t)k << 40) << 1 |
                           (w == (u64)x) << 2));
        h = check(h, (u32)abs((int)x) ^ (u32)(x >> 31 ? -x : x));
    }
    printf("bits %08x\n", h);
}

/* ---- Text: base64, UTF-8, itoa, RLE, case. ------------------------------- */

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static size_t b64_encode(const u8 *in, size_t n, char *out)
{
    size_t o = 0;

    for (size_t i = 0; i < n; i += 3) {
        u32 v = (u32)in[i] << 16;

        if (i + 1 < n)
            v |= (u32)in[i + 1] << 8;
        if (i + 2 < n)
            v |= in[i + 2];
        out[o++] = b64[v >> 18];
        out[o++] = b64[(v >> 12) & 63];
        out[o++] = i + 1 < n ? b64[(v >> 6) & 63] : '=';
        out[o++] = i + 2 < n ? b64[v & 63] : '=';
    }
    out[o] = 0;
    return o;
}

static int b64_value(char c)
{
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
}

static size_t b64_decode(const char *in, u8 *out)
{
    size_t o = 0;
    u32 acc = 0;
    int bits = 0;

    for (; *in && *in != '='; in++) {
        acc = acc << 6 | (u32)b64_value(*in);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (u8)(acc >> bits);
        }
    }
    return o;
}

static size_t utf8_encode(u32 cp, char *out)
{
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xc0 | cp >> 6);
        out[1] = (char)(0x80 | (cp & 0x3f));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xe0 | cp >> 12);
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
        out[2] = (char)(0x80 | (cp & 0x3f));
        return 3;
    }
    out[0] = (char)(0xf0 | cp >> 18);
    out[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
    out[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
    out[3] = (char)(0x80 | (cp & 0x3f));
    return 4;
}

static u32 utf8_decode(const char **p)
{
    const unsigned char *s = (const unsigned char *)*p;
    u32 cp;
    int extra;

    if (s[0] < 0x80) { cp = s[0]; extra = 0; }
    else if (s[0] < 0xe0) { cp = s[0] & 0x1f; extra = 1; }
    else if (s[0] < 0xf0) { cp = s[0] & 0x0f; extra = 2; }
    else { cp = s[0] & 0x07; extra = 3; }
    for (int i = 1; i <= extra; i++)
        cp = cp << 6 | (s[i] & 0x3f);
    *p += extra + 1;
    return cp;
}

static char *itoa_base(int64_t v, unsigned base, char *buf)
{
    char tmp[72];
    int n = 0, neg = v < 0;
    u64 u = neg ? -(u64)v : (u64)v;

    do {
        tmp[n++] = "0123456789abcdefghijklmnopqrstuvwxyz"[u % base];
        u /= base;
    } while (u);
    if (neg)
        tmp[n++] = '-';
    for (int i = 0; i < n; i++)
        buf[i] = tmp[n - 1 - i];
    buf[n] = 0;
    return buf;
}

static size_t rle(const char *in, char *out)
{
    size_t o = 0;

    while (*in) {
        char c = *in;
        int run = 0;

        while (*in == c && run < 9) {
            in++;
            run++;
        }
        out[o++] = (char)('0' + run);
        out[o++] = c;
    }
    out[o] = 0;
    return o;
}

static void test_text(void)
{
    static const char text[] = "Hello, hv! \x01\x02\xff bytes and more bytes...";
    char enc[128], buf[80];
    u8 dec[96];
    size_t n = b64_encode((const u8 *)text, sizeof(text) - 1, enc), m;

    m = b64_decode(enc, dec);
    printf("b64 %s (%u) round trip %s\n", enc, (unsigned)n,
           m == sizeof(text) - 1 && !memcmp(dec, text, m) ? "ok" : "BAD");
    {
        static const u32 cps[] = {0x41, 0xe9, 0x3b1, 0x20ac, 0xfeff, 0x1f600, 0x10ffff};
        char u8buf[40];
        const char *p = u8buf;
        size_t len = 0;
        u32 h = HASH_INIT;

        for (unsigned i = 0; i < 7; i++)
            len += utf8_encode(cps[i], u8buf + len);
        u8buf[len] = 0;
        for (unsigned i = 0; i < len; i++)
            printf("%02x", (unsigned char)u8buf[i]);
        while (*p)
            h = check(h, utf8_decode(&p));
        printf(" utf8 len %u decoded %08x\n", (unsigned)len, h);
    }
    printf("itoa %s %s %s %s\n", itoa_base(-1234567890123LL, 10, buf),
           itoa_base(255, 2, buf + 20), itoa_base(INT64_MIN, 16, buf + 40),
           itoa_base(123456789, 36, buf + 60));
    rle("aaabccddddddddddddeffffg", buf);
    printf("rle %s\n", buf);
    {
        char s[] = "MiXeD CaSe 123 zZ";

        for (char *p = s; *p; p++)
            *p = (char)(*p >= 'a' && *p <= 'z' ? *p - 32 : *p >= 'A' && *p <= 'Z' ? *p + 32 : *p);
        printf("case %s\n", s);
    }
    conf_checks += 5;
}

/* ---- Memory idioms: packed structs, unaligned, memset/memcpy, VLAs. ---- */

struct __attribute__((packed)) wire {
    u8 type;
    u32 length;
    u16 port;
    u64 cookie;
    char name[5];
};

struct blob {
    u32 a[17];
    u8 tail[3];
};

static u32 vla_sum(unsigned n)
{
    u16 v[n];
    u32 s = 0;

    for (unsigned i = 0; i < n; i++)
        v[i] = (u16)(i * 2654435761u >> 16);
    for (unsigned i = n; i-- > 0;)
        s = s * 3 + v[i];
    return s;
}

static void test_memory(void)
{
    static u8 raw[64];
    struct wire w;
    struct blob b1, b2;
    u32 h = HASH_INIT, v;

    memset(&w, 0, sizeof(w));
    w.type = 7;
    w.length = 0xa1b2c3d4;
    w.port = 8080;
    w.cookie = 0x0102030405060708ULL;
    memcpy(w.name, "abcde", 5);
    memcpy(raw + 1, &w, sizeof(w));
    for (unsigned i = 0; i < sizeof(w) + 2; i++)
        h = check(h, raw[i]);
    memcpy(&v, raw + 2, 4);
    printf("packed size %u hash %08x unaligned %08x port %u\n", (unsigned)sizeof(w), h, v,
           ((struct wire *)(raw + 1))->port);

    memset(&b1, 0x5a, sizeof(b1));
    for (int i = 0; i < 17; i++)
        b1.a[i] += (u32)i;
    b2 = b1;
    b2.tail[1] = 1;
    h = HASH_INIT;
    for (int i = 0; i < 17; i++)
        h = check(h, b2.a[i]);
    printf("blob %08x tail %02x%02x%02x cmp %d\n", h, b2.tail[0], b2.tail[1], b2.tail[2],
           memcmp(&b1, &b2, sizeof(b1)) < 0);
    printf("vla %08x %08x\n", vla_sum(10), vla_sum(333));
    memmove(raw + 4, raw, 40);
    memmove(raw, raw + 9, 30);
    h = HASH_INIT;
    for (int i = 0; i < 64; i++)
        h = check(h, raw[i]);
    printf("memmove %08x\n", h);
}

int main(void)
{
    test_crc();
    test_small_ints();
    test_const_div();
    test_bits();
    test_text();
    test_memory();
    return conf_done("mixed2");
}
