/* hv-variants: O0 O2 Os */
/*
 * mixed.c - a realistic C workload, built at -O0, -O2 and -Os.
 *
 * Whatever instructions gcc picks for sorting, formatting, 64-bit arithmetic
 * (through the SDK's __udivdi3 and friends), jump-table switches, function
 * pointers, recursion, structs passed and returned by value, bitfields and a
 * hash table, the hv run must print exactly what the real CPU prints.
 */
#include "conf.h"

/* ---- A deterministic generator (64-bit LCG and xorshift). ---------------- */

static u64 rng_state = 0x123456789abcdef1ULL;

static u32 rnd(void)
{
    rng_state = rng_state * 6364136223846793005ULL + 1442695040888963407ULL;
    return (u32)(rng_state >> 33) ^ (u32)(rng_state >> 7);
}

/* ---- Sorting with a comparator (quicksort + insertion sort). ------------ */

typedef int (*cmp_fn)(const void *, const void *);

static void swap_bytes(char *a, char *b, size_t n)
{
    while (n--) {
        char t = *a;
        *a++ = *b;
        *b++ = t;
    }
}

static void sort(void *base, size_t n, size_t size, cmp_fn cmp)
{
    char *b = base;

    while (n > 8) {
        char *pivot = b + (n / 2) * size;
        size_t i = 0, j = n - 1;

        swap_bytes(pivot, b + j * size, size);
        pivot = b + j * size;
        for (size_t k = 0; k < j; k++) {
            if (cmp(b + k * size, pivot) < 0) {
                swap_bytes(b + k * size, b + i * size, size);
                i++;
            }
        }
        swap_bytes(b + i * size, pivot, size);
        /* Recurse on the smaller side, loop on the larger. */
        if (i < n - i - 1) {
            sort(b, i, size, cmp);
            b += (i + 1) * size;
            n -= i + 1;
        } else {
            sort(b + (i + 1) * size, n - i - 1, size, cmp);
            n = i;
        }
    }
    for (size_t i = 1; i < n; i++)
        for (size_t j = i; j > 0 && cmp(b + (j - 1) * size, b + j * size) > 0; j--)
            swap_bytes(b + (j - 1) * size, b + j * size, size);
}

static int cmp_int(const void *a, const void *b)
{
    int x = *(const int *)a, y = *(const int *)b;

    return (x > y) - (x < y);
}

static int cmp_u64_desc(const void *a, const void *b)
{
    u64 x = *(const u64 *)a, y = *(const u64 *)b;

    return (x < y) - (x > y);
}

struct person {
    char name[12];
    short age;
    unsigned char grade;
    int score;
};

static int cmp_person(const void *a, const void *b)
{
    const struct person *p = a, *q = b;

    if (p->grade != q->grade)
        return p->grade - q->grade;
    if (p->age != q->age)
        return q->age - p->age;
    return strcmp(p->name, q->name);
}

static void test_sort(void)
{
    static int ints[200];
    static u64 longs[64];
    static struct person people[24];
    u32 h = HASH_INIT;

    for (int i = 0; i < 200; i++)
        ints[i] = (int)(rnd() % 2001) - 1000;
    sort(ints, 200, sizeof(int), cmp_int);
    for (int i = 0; i < 200; i++) {
        h = check(h, (u32)ints[i]);
        if (i && ints[i - 1] > ints[i])
            printf("sort: ints out of order at %d\n", i);
    }
    printf("sort ints: min %d max %d median %d hash %08x\n", ints[0], ints[199], ints[100], h);

    for (int i = 0; i < 64; i++)
        longs[i] = ((u64)rnd() << 32 | rnd()) >> (i % 40);
    sort(longs, 64, sizeof(u64), cmp_u64_desc);
    printf("sort u64: first %016llx last %016llx\n", (unsigned long long)longs[0],
           (unsigned long long)longs[63]);

    for (int i = 0; i < 24; i++) {
        snprintf(people[i].name, sizeof(people[i].name), "p%02u-%c%c", rnd() % 100,
                 'a' + (int)(rnd() % 26), 'a' + (int)(rnd() % 26));
        people[i].age = (short)(18 + rnd() % 60);
        people[i].grade = (unsigned char)(rnd() % 4);
        people[i].score = (int)(rnd() % 1000) - 500;
    }
    sort(people, 24, sizeof(struct person), cmp_person);
    for (int i = 0; i < 24; i += 5)
        printf("person %2d: %-10s age %2d grade %u score %5d\n", i, people[i].name,
               people[i].age, people[i].grade, people[i].score);
}

/* ---- Formatting. -------------------------------------------------------- */

static void test_format(void)
{
    char buf[128];
    int n;

    n = snprintf(buf, sizeof(buf), "[%5d|%-5d|%05d|%+d|% d]", 42, -42, -42, 7, 7);
    printf("%s n=%d\n", buf, n);
    n = snprintf(buf, sizeof(buf), "[%x|%X|%#x|%08x|%o|%#o]", 0xbeefu, 0xbeefu, 255u, 0x1au,
                 8u, 8u);
    printf("%s n=%d\n", buf, n);
    n = snprintf(buf, sizeof(buf), "[%lld|%llu|%llx|%20lld]", -9223372036854775807LL - 1,
                 18446744073709551615ULL, 0x0123456789abcdefULL, 1234567890123LL);
    printf("%s n=%d\n", buf, n);
    n = snprintf(buf, sizeof(buf), "[%s|%10s|%-10s|%.3s|%c%c%%]", "abc", "right", "left",
                 "truncate", 'x', 'y');
    printf("%s n=%d\n", buf, n);
    n = snprintf(buf, 8, "%s", "this does not fit");
    printf("truncated '%s' n=%d\n", buf, n);
    n = snprintf(buf, sizeof(buf), "%d %d %d", -2147483647 - 1, 2147483647, 0);
    printf("%s n=%d\n", buf, n);
    n = snprintf(buf, sizeof(buf), "%hd %hhu %ld %lu %zu", (short)-3, (unsigned char)250,
                 -123456L, 123456UL, (size_t)77);
    printf("%s n=%d\n", buf, n);
}

/* ---- 64-bit arithmetic. ------------------------------------------------- */

static void test_int64(void)
{
    static const u64 us[] = {
        0, 1, 3, 10, 0xffffffffULL, 0x100000000ULL, 0x123456789abcdefULL,
        0x7fffffffffffffffULL, 0x8000000000000000ULL, 0xffffffffffffffffULL,
        1000000007ULL, 0xdeadbeefcafebabeULL,
    };
    u32 h = HASH_INIT;
    unsigned n = sizeof(us) / sizeof(us[0]);

    for (unsigned i = 0; i < n; i++) {
        for (unsigned j = 0; j < n; j++) {
            u64 a = us[i], b = us[j];
            int64_t sa = (int64_t)a, sb = (int64_t)b;

            h = check(h, (u32)(a * b) ^ (u32)((a * b) >> 32));
            h = check(h, (u32)(a + b) ^ (u32)((a - b) >> 32));
            if (b) {
                u64 q = a / b, r = a % b;

                h = check(h, (u32)q ^ (u32)(q >> 32));
                h = check(h, (u32)r ^ (u32)(r >> 32));
                if (q * b + r != a)
                    printf("u64 div identity broken %u %u\n", i, j);
            }
            if (sb && !(sa == INT64_MIN && sb == -1)) {
                int64_t q = sa / sb, r = sa % sb;

                h = check(h, (u32)q ^ (u32)((u64)q >> 32));
                h = check(h, (u32)r ^ (u32)((u64)r >> 32));
            }
            h = check(h, (u32)(a << (j * 5 % 64)) ^ (u32)((a << (j * 5 % 64)) >> 32));
            h = check(h, (u32)(a >> (j * 7 % 64)) ^ (u32)((a >> (j * 7 % 64)) >> 32));
            h = check(h, (u32)((u64)(sa >> (j * 11 % 64))));
            h = check(h, (u32)((a < b) | (sa < sb) << 1 | (a == b) << 2));
        }
    }
    printf("int64 grid %08x\n", h);
    printf("u64 %llu / %llu = %llu rem %llu\n", (unsigned long long)us[11],
           (unsigned long long)us[10], (unsigned long long)(us[11] / us[10]),
           (unsigned long long)(us[11] % us[10]));
    printf("s64 %lld / %lld = %lld rem %lld\n", (long long)-1234567890123456789LL,
           (long long)-9876543LL, (long long)(-1234567890123456789LL / -9876543LL),
           (long long)(-1234567890123456789LL % -9876543LL));
    {
        /* A 64-bit modular exponentiation through 128-bit-free mulmod. */
        u64 base = 0x1234567ULL, e = 65537, m = 0xffffffffbULL, r = 1;

        while (e) {
            if (e & 1)
                r = r * base % m;
            base = base * base % m;
            e >>= 1;
        }
        printf("powmod %llx\n", (unsigned long long)r);
    }
}

/* ---- Switch statements (jump tables) and function pointers. ------------- */

static int classify(int v)
{
    switch (v) {
    case 0: return 11;
    case 1: return 23;
    case 2: return 5;
    case 3: return -7;
    case 4: return 100;
    case 5: return 3 * v;
    case 6: return v << 4;
    case 7: return 1;
    case 8: return 88;
    case 9: return -1;
    case 10: return 1010;
    case 11: return 42;
    case 12: return v * v;
    case 13: return 13;
    case 14: return 0;
    case 16: return 16;
    case 17: return 71;
    case 19: return 91;
    default: return -v;
    }
}

static const char *opname(unsigned char c)
{
    switch (c) {
    case 'a': return "add";
    case 'b': return "branch";
    case 'c': return "call";
    case 'd': return "div";
    case 'e': return "enter";
    case 'f': return "fault";
    case 'g': return "gate";
    case 'h': return "halt";
    case 'i': return "int";
    case 'j': return "jmp";
    default: return "?";
    }
}

typedef u32 (*binop)(u32, u32);

static u32 op_add(u32 a, u32 b) { return a + b; }
static u32 op_sub(u32 a, u32 b) { return a - b; }
static u32 op_mul(u32 a, u32 b) { return a * b; }
static u32 op_xor(u32 a, u32 b) { return a ^ b; }
static u32 op_rot(u32 a, u32 b) { return (a << (b & 31)) | (a >> ((32 - (b & 31)) & 31)); }
static u32 op_div(u32 a, u32 b) { return b ? a / b : 0xffffffffu; }
static u32 op_mod(u32 a, u32 b) { return b ? a % b : a; }
static u32 op_sdiv(u32 a, u32 b)
{
    int32_t x = (int32_t)a, y = (int32_t)b;

    if (!y || (x == INT32_MIN && y == -1))
        return 0;
    return (u32)(x / y);
}

static const binop ops[] = {op_add, op_sub, op_mul, op_xor, op_rot, op_div, op_mod, op_sdiv};

static void test_switch_fnptr(void)
{
    u32 h = HASH_INIT;
    char line[64];
    size_t pos = 0;

    for (int v = -3; v < 25; v++)
        h = check(h, (u32)classify(v));
    printf("switch hash %08x c(12)=%d c(18)=%d\n", h, classify(12), classify(18));
    for (const char *p = "abcdefghijz"; *p; p++)
        pos += (size_t)snprintf(line + pos, sizeof(line) - pos, "%s ", opname((unsigned char)*p));
    printf("ops: %s\n", line);

    h = HASH_INIT;
    for (unsigned k = 0; k < 2000; k++) {
        u32 a = rnd(), b = k & 7 ? rnd() : rnd() % 5;

        h = check(h, ops[(a ^ k) % 8](a, b));
    }
    printf("fnptr hash %08x\n", h);
}

/* ---- Recursion. -------------------------------------------------------------- */

static u32 fib(u32 n) { return n < 2 ? n : fib(n - 1) + fib(n - 2); }

static u32 ackermann(u32 m, u32 n)
{
    if (m == 0)
        return n + 1;
    if (n == 0)
        return ackermann(m - 1, 1);
    return ackermann(m - 1, ackermann(m, n - 1));
}

struct node {
    int key;
    struct node *left, *right;
};

static struct node pool[512];
static int pool_used;

static struct node *insert(struct node *t, int key)
{
    if (!t) {
        struct node *n = &pool[pool_used++];

        n->key = key;
        n->left = n->right = 0;
        return n;
    }
    if (key < t->key)
        t->left = insert(t->left, key);
    else if (key > t->key)
        t->right = insert(t->right, key);
    return t;
}

static int depth(const struct node *t)
{
    int l, r;

    if (!t)
        return 0;
    l = depth(t->left);
    r = depth(t->right);
    return 1 + (l > r ? l : r);
}

static u32 walk(const struct node *t, u32 h)
{
    if (!t)
        return h;
    h = walk(t->left, h);
    h = hash_u32(h, (u32)t->key);
    return walk(t->right, h);
}

static void hanoi(int n, int from, int to, int via, u32 *moves, u32 *h)
{
    if (!n)
        return;
    hanoi(n - 1, from, via, to, moves, h);
    ++*moves;
    *h = hash_u32(*h, (u32)(from * 3 + to));
    hanoi(n - 1, via, to, from, moves, h);
}

static void test_recursion(void)
{
    struct node *root = 0;
    u32 moves = 0, h = HASH_INIT;

    printf("fib(24)=%u ackermann(2,3)=%u ackermann(3,3)=%u\n", fib(24), ackermann(2, 3),
           ackermann(3, 3));
    for (int i = 0; i < 400; i++)
        root = insert(root, (int)(rnd() % 10000));
    printf("bst nodes %d depth %d inorder %08x\n", pool_used, depth(root), walk(root, HASH_INIT));
    hanoi(12, 0, 2, 1, &moves, &h);
    printf("hanoi(12) moves %u hash %08x\n", moves, h);
    conf_checks += 5;
}

/* ---- Structs by value, bitfields. -------------------------------------- */

struct vec {
    int x, y, z;
    short w[5];
    char tag;
};

static struct vec vec_add(struct vec a, struct vec b)
{
    struct vec r = a;

    r.x += b.x;
    r.y += b.y;
    r.z += b.z;
    for (int i = 0; i < 5; i++)
        r.w[i] = (short)(a.w[i] * b.w[i]);
    r.tag = (char)(a.tag ^ b.tag);
    return r;
}

static struct vec vec_scale(struct vec v, int k)
{
    v.x *= k;
    v.y *= k;
    v.z *= k;
    return v;
}

struct packed_flags {
    unsigned kind : 3;
    unsigned present : 1;
    signed delta : 5;
    unsigned count : 12;
    unsigned big : 11;
};

struct big {
    u32 words[40];
};

static struct big big_fill(u32 seed)
{
    struct big b;

    for (int i = 0; i < 40; i++)
        b.words[i] = seed * (u32)(i + 1) ^ (seed >> 3);
    return b;
}

static u32 big_sum(struct big b)
{
    u32 s = 0;

    for (int i = 0; i < 40; i++)
        s = s * 31 + b.words[i];
    return s;
}

static void test_structs(void)
{
    struct vec a = {1, -2, 3, {100, -200, 300, 400, -32768}, 'a'};
    struct vec b = {10, 20, -30, {3, 3, -3, 100, 1}, 'b'};
    struct vec c = vec_scale(vec_add(a, b), -3);
    struct packed_flags pf[8];
    struct big bg = big_fill(0x9e3779b9);
    u32 h = HASH_INIT;

    printf("vec %d %d %d w %d %d %d %d %d tag %d\n", c.x, c.y, c.z, c.w[0], c.w[1], c.w[2],
           c.w[3], c.w[4], c.tag);
    memset(pf, 0, sizeof(pf));
    for (int i = 0; i < 8; i++) {
        pf[i].kind = (unsigned)i * 3u;
        pf[i].present = (unsigned)i & 1u;
        pf[i].delta = i - 20 + i * 5;
        pf[i].count = (unsigned)i * 1000u;
        pf[i].big = 0x7ffu - (unsigned)i;
    }
    for (int i = 0; i < 8; i++) {
        h = check(h, pf[i].kind | pf[i].present << 3 | (u32)(pf[i].delta & 0x1f) << 4);
        h = check(h, pf[i].count ^ (u32)pf[i].big << 12 ^ (u32)(int32_t)pf[i].delta);
    }
    printf("bitfields %08x pf[5] kind %u delta %d count %u big %u\n", h, pf[5].kind,
           pf[5].delta, pf[5].count, pf[5].big);
    printf("big struct %08x\n", big_sum(bg));
}

/* ---- A small hash table with string keys (open addressing). ----------- */

#define HT_SIZE 256

struct entry {
    char key[16];
    int value;
    int used;
};

static struct entry table[HT_SIZE];

static u32 str_hash(const char *s)
{
    u32 h = 5381;

    while (*s)
        h = h * 33 ^ (unsigned char)*s++;
    return h;
}

static struct entry *ht_find(const char *key, int create)
{
    u32 i = str_hash(key) % HT_SIZE;

    for (int probes = 0; probes < HT_SIZE; probes++, i = (i + 1) % HT_SIZE) {
        struct entry *e = &table[i];

        if (!e->used) {
            if (!create)
                return 0;
            e->used = 1;
            strncpy(e->key, key, sizeof(e->key) - 1);
            return e;
        }
        if (!strcmp(e->key, key))
            return e;
    }
    return 0;
}

static void test_hash_table(void)
{
    static const char *const words[] = {"alpha", "beta", "gamma", "delta", "epsilon", "zeta",
                                        "eta", "theta", "iota", "kappa", "lambda", "mu"};
    char key[16];
    int found = 0, missing = 0;
    u32 h = HASH_INIT;

    for (int i = 0; i < 150; i++) {
        snprintf(key, sizeof(key), "%s%d", words[i % 12], i / 12);
        ht_find(key, 1)->value += i;
    }
    for (int i = 0; i < 300; i++) {
        struct entry *e;

        snprintf(key, sizeof(key), "%s%d", words[i % 12], i / 12 - 2);
        e = ht_find(key, 0);
        if (e) {
            found++;
            h = check(h, (u32)e->value);
        } else {
            missing++;
        }
    }
    printf("hash table found %d missing %d values %08x\n", found, missing, h);
}

int main(void)
{
    test_sort();
    test_format();
    test_int64();
    test_switch_fnptr();
    test_recursion();
    test_structs();
    test_hash_table();
    return conf_done("mixed");
}
