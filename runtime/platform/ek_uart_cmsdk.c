/* CMSDK APB UART (Arm MPS2/MPS3 boards and their QEMU models).
 * Registers: DATA +0x00, STATE +0x04 (bit0 TX full, bit1 RX full), CTRL +0x08
 * (bit0 TX enable, bit1 RX enable), BAUDDIV +0x10.  One byte each way, no FIFO. */
#include "ek_platform.h"

#ifndef EK_UART_BASE
#define EK_UART_BASE 0x40004000u
#endif
#ifndef EK_UART_BAUDDIV
#define EK_UART_BAUDDIV 16u  /* the smallest legal divider; QEMU ignores the rate */
#endif

#define UART_REG(off) (*(volatile uint32_t *)((uintptr_t)(EK_UART_BASE) + (off)))
#define UART_DATA UART_REG(0x00)
#define UART_STATE UART_REG(0x04)
#define UART_CTRL UART_REG(0x08)
#define UART_BAUDDIV UART_REG(0x10)

void ek_uart_init(void) {
    UART_BAUDDIV = EK_UART_BAUDDIV;
    UART_CTRL = 3u;  /* TX and RX enabled, no interrupts */
}

void ek_uart_putc(uint8_t c) {
    while (UART_STATE & 1u) {
    }
    UART_DATA = c;
}

void ek_uart_write(const void *buf, size_t n) {
    const uint8_t *p = (const uint8_t *)buf;
    for (size_t i = 0; i < n; i++) ek_uart_putc(p[i]);
}

void ek_uart_puts(const char *s) {
    while (*s) ek_uart_putc((uint8_t)*s++);
}

int ek_uart_rx_ready(void) { return (UART_STATE & 2u) != 0; }

uint8_t ek_uart_getc(void) {
    while (!(UART_STATE & 2u)) {
    }
    return (uint8_t)UART_DATA;
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
