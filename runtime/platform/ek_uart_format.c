/* What every UART driver shares: byte strings and number formatting on top of the
 * driver's ek_uart_putc / ek_uart_getc (ek_uart_cmsdk.c or ek_uart_stm32.c). */
#include "ek_platform.h"

void ek_uart_write(const void *buf, size_t n) {
    const uint8_t *p = (const uint8_t *)buf;
    for (size_t i = 0; i < n; i++) ek_uart_putc(p[i]);
}

void ek_uart_puts(const char *s) {
    while (*s) ek_uart_putc((uint8_t)*s++);
}

void ek_uart_read(void *buf, size_t n) {
    uint8_t *p = (uint8_t *)buf;
    for (size_t i = 0; i < n; i++) p[i] = ek_uart_getc();
}

void ek_uart_put_u64(uint64_t v) {
    char tmp[21];
    int i = 0;
    do {
        tmp[i++] = (char)('0' + (int)(v % 10u));
        v /= 10u;
    } while (v);
    while (i) ek_uart_putc((uint8_t)tmp[--i]);
}

void ek_uart_put_u32(uint32_t v) {
    char tmp[10];
    int i = 0;
    do {
        tmp[i++] = (char)('0' + v % 10u);
        v /= 10u;
    } while (v);
    while (i) ek_uart_putc((uint8_t)tmp[--i]);
}

void ek_uart_put_i32(int32_t v) {
    if (v < 0) {
        ek_uart_putc('-');
        ek_uart_put_u32(0u - (uint32_t)v);
    } else {
        ek_uart_put_u32((uint32_t)v);
    }
}

void ek_uart_put_hex32(uint32_t v) {
    for (int s = 28; s >= 0; s -= 4) ek_uart_putc((uint8_t)"0123456789abcdef"[(v >> s) & 15u]);
}
