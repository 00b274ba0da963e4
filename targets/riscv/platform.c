/* Bare-metal platform for QEMU virt (see include/ek_rv_platform.h). */
#include "ek_rv_platform.h"

#define UART0 ((volatile uint8_t *)0x10000000u)  /* 16550: THR +0, LSR +5 (bit 5 THR empty) */
#define FINISHER ((volatile uint32_t *)0x00100000u)

void ek_rv_putc(char c) {
    while (!(UART0[5] & 0x20)) {
    }
    UART0[0] = (uint8_t)c;
}

void ek_rv_puts(const char *s) {
    while (*s) ek_rv_putc(*s++);
}

void ek_rv_put_u64(uint64_t v) {
    char buf[24];
    int n = 0;
    do {
        buf[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    while (n) ek_rv_putc(buf[--n]);
}

void ek_rv_put_hex32(uint32_t v) {
    for (int s = 28; s >= 0; s -= 4) ek_rv_putc("0123456789abcdef"[(v >> s) & 15]);
}

void ek_rv_exit(int code) {
    /* 0x5555 = pass; (code << 16) | 0x3333 = fail with that exit status */
    *FINISHER = code == 0 ? 0x5555u : (((uint32_t)code << 16) | 0x3333u);
    for (;;) {
    }
}

uint64_t ek_rv_instret(void) {
#if __riscv_xlen == 32
    uint32_t hi, lo, hi2;
    do {
        __asm__ volatile("csrr %0, minstreth" : "=r"(hi));
        __asm__ volatile("csrr %0, minstret" : "=r"(lo));
        __asm__ volatile("csrr %0, minstreth" : "=r"(hi2));
    } while (hi != hi2);
    return ((uint64_t)hi << 32) | lo;
#else
    uint64_t v;
    __asm__ volatile("csrr %0, minstret" : "=r"(v));
    return v;
#endif
}

extern char __heap_start[], __heap_end[];
static char *heap_next = __heap_start;

void *ek_rv_alloc(size_t bytes) {
    char *p = (char *)(((uintptr_t)heap_next + 63) & ~(uintptr_t)63);
    if (p + bytes > __heap_end) {
        ek_rv_puts("ek_rv_alloc: out of RAM\n");
        ek_rv_exit(4);
    }
    heap_next = p + bytes;
    return p;
}

void ek_rv_trap(uintptr_t cause, uintptr_t epc) {
    ek_rv_puts("TRAP mcause=");
    ek_rv_put_hex32((uint32_t)cause);
    ek_rv_puts(" mepc=");
    ek_rv_put_hex32((uint32_t)epc);
    uintptr_t tval;
    __asm__ volatile("csrr %0, mtval" : "=r"(tval));
    ek_rv_puts(" mtval=");
    ek_rv_put_hex32((uint32_t)tval);
    ek_rv_putc('\n');
    ek_rv_exit(3);
}

/* expf for code that calls libm (TVM-generated objects do): 2^k * poly(r), |r| <= ln2/2 */
float expf(float x) {
    if (x != x) return x;
    if (x < -104.0f) return 0.0f;
    if (x > 88.7f) return 1.0f / 0.0f;
    float kf = x * 1.44269504f;
    int k = (int)(kf < 0 ? kf - 0.5f : kf + 0.5f);
    float r = (x - (float)k * 0.693145752f) - (float)k * 1.42860677e-6f;
    float p = 1.0f + r * (1.0f + r * (0.5f + r * (0.166666672f + r * (0.0416666679f +
              r * (0.00833333377f + r * 0.00138888892f)))));
    union { float f; int32_t i; } u = {p};
    if (k < -126) { /* subnormal result: scale in two steps */
        u.i += (k + 64) << 23;
        return u.f * 5.42101086e-20f; /* 2^-64 */
    }
    u.i += k << 23;
    return u.f;
}

/* the compiler may emit calls to these even with -ffreestanding */
void *memset(void *d, int c, size_t n) {
    volatile uint8_t *p = d; /* volatile: keep clang from turning this into a memset call */
    while (n--) *p++ = (uint8_t)c;
    return d;
}
void *memcpy(void *d, const void *s, size_t n) {
    volatile uint8_t *p = d;
    const uint8_t *q = s;
    while (n--) *p++ = *q++;
    return d;
}
void *memmove(void *d, const void *s, size_t n) {
    volatile uint8_t *p = d;
    const uint8_t *q = s;
    if (p < q) {
        while (n--) *p++ = *q++;
    } else {
        p += n;
        q += n;
        while (n--) *--p = *--q;
    }
    return d;
}
