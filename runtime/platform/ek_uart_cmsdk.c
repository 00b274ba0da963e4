/* CMSDK APB UART (Arm MPS2/MPS3 boards and their QEMU models).
 * Registers: DATA +0x00, STATE +0x04 (bit0 TX full, bit1 RX full), CTRL +0x08
 * (bit0 TX enable, bit1 RX enable), BAUDDIV +0x10.  One byte each way, no FIFO.
 * The byte-stream and number formatting on top of putc/getc: ek_uart_format.c. */
#include "ek_platform.h"

#ifndef EK_UART_STM32 /* the default UART; ek_uart_stm32.c replaces it on STM32 boards */

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

int ek_uart_rx_ready(void) { return (UART_STATE & 2u) != 0; }

uint8_t ek_uart_getc(void) {
    while (!(UART_STATE & 2u)) {
    }
    return (uint8_t)UART_DATA;
}

#endif
