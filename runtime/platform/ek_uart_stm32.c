/* STM32 USART (the F7/L4/H7 register layout), e.g. USART3 of the NUCLEO-F746ZG, wired
 * to the ST-LINK's virtual COM port on PD8 (TX) / PD9 (RX).  Built only when the board
 * yaml says uart.kind: stm32-usart (edgesdk.package.arm.board_defines sets
 * EK_UART_STM32); otherwise ek_uart_cmsdk.c provides the same functions.
 * Registers (RM0385): CR1 +0x00 (UE bit0, RE bit2, TE bit3), BRR +0x0C, ISR +0x1C (RXNE
 * bit5, TXE bit7, ORE bit3), ICR +0x20 (ORECF bit3), RDR +0x24, TDR +0x28.
 * The pins and clocks are board wiring, so they are overridable defines; the defaults
 * are the NUCLEO-F746ZG's (USART3 on APB1, GPIOD pins 8/9, alternate function 7).
 * Compile-tested only: no STM32 board or STM32 emulator was available. */
#include "ek_platform.h"

#ifdef EK_UART_STM32

#ifndef EK_UART_BASE
#define EK_UART_BASE 0x40004800u /* USART3 */
#endif
#ifndef EK_UART_BRR
#define EK_UART_BRR 139u /* 16 MHz HSI (the reset clock) / 115200, oversampling by 16 */
#endif
#ifndef EK_STM32_RCC_BASE
#define EK_STM32_RCC_BASE 0x40023800u
#endif
#ifndef EK_STM32_UART_APB1EN
#define EK_STM32_UART_APB1EN (1u << 18) /* RCC_APB1ENR.USART3EN */
#endif
#ifndef EK_STM32_GPIO_BASE
#define EK_STM32_GPIO_BASE 0x40020C00u /* GPIOD */
#endif
#ifndef EK_STM32_GPIO_AHB1EN
#define EK_STM32_GPIO_AHB1EN (1u << 3) /* RCC_AHB1ENR.GPIODEN */
#endif
#ifndef EK_STM32_TX_PIN
#define EK_STM32_TX_PIN 8
#endif
#ifndef EK_STM32_RX_PIN
#define EK_STM32_RX_PIN 9
#endif
#ifndef EK_STM32_UART_AF
#define EK_STM32_UART_AF 7u
#endif

#define REG(base, off) (*(volatile uint32_t *)((uintptr_t)(base) + (off)))
#define RCC_AHB1ENR REG(EK_STM32_RCC_BASE, 0x30)
#define RCC_APB1ENR REG(EK_STM32_RCC_BASE, 0x40)
#define GPIO_MODER REG(EK_STM32_GPIO_BASE, 0x00)
#define GPIO_AFR(i) REG(EK_STM32_GPIO_BASE, 0x20 + 4 * (i))
#define USART_CR1 REG(EK_UART_BASE, 0x00)
#define USART_BRR REG(EK_UART_BASE, 0x0C)
#define USART_ISR REG(EK_UART_BASE, 0x1C)
#define USART_ICR REG(EK_UART_BASE, 0x20)
#define USART_RDR REG(EK_UART_BASE, 0x24)
#define USART_TDR REG(EK_UART_BASE, 0x28)

#define ISR_ORE (1u << 3)
#define ISR_RXNE (1u << 5)
#define ISR_TXE (1u << 7)
#define CR1_UE (1u << 0)
#define CR1_RE (1u << 2)
#define CR1_TE (1u << 3)

static void pin_alternate(int pin) {
    GPIO_MODER = (GPIO_MODER & ~(3u << (2 * pin))) | (2u << (2 * pin)); /* 10: alternate */
    const int r = pin >> 3, sh = 4 * (pin & 7);
    GPIO_AFR(r) = (GPIO_AFR(r) & ~(15u << sh)) | ((uint32_t)EK_STM32_UART_AF << sh);
}

void ek_uart_init(void) {
    if (USART_CR1 & CR1_UE) return; /* idempotent: a second call must not drop a byte */
    RCC_AHB1ENR |= EK_STM32_GPIO_AHB1EN;
    RCC_APB1ENR |= EK_STM32_UART_APB1EN;
    (void)RCC_APB1ENR; /* read back: the clock must be running before the first access */
    pin_alternate(EK_STM32_TX_PIN);
    pin_alternate(EK_STM32_RX_PIN);
    USART_BRR = EK_UART_BRR;
    USART_CR1 = CR1_TE | CR1_RE | CR1_UE; /* 8N1, no interrupts */
}

void ek_uart_putc(uint8_t c) {
    while (!(USART_ISR & ISR_TXE)) {
    }
    USART_TDR = c;
}

int ek_uart_rx_ready(void) {
    /* An overrun stops reception until ORE is cleared; the lost bytes are the host
     * protocol's business (CRC + retry), a stuck receiver would not be. */
    if (USART_ISR & ISR_ORE) USART_ICR = ISR_ORE;
    return (USART_ISR & ISR_RXNE) != 0;
}

uint8_t ek_uart_getc(void) {
    while (!ek_uart_rx_ready()) {
    }
    return (uint8_t)USART_RDR;
}

#endif
