/* Fault handlers: print what happened on the UART and exit with a code, so that a crash
 * under QEMU (or a board with a debugger) ends the run at once instead of hanging CI. */
#include "ek_platform.h"

#define SCB_CFSR (*(volatile uint32_t *)0xE000ED28u)
#define SCB_HFSR (*(volatile uint32_t *)0xE000ED2Cu)
#define SCB_MMFAR (*(volatile uint32_t *)0xE000ED34u)
#define SCB_BFAR (*(volatile uint32_t *)0xE000ED38u)

/* Called with the stacked exception frame (r0-r3, r12, lr, pc, xpsr). */
__attribute__((used, noreturn)) void ek_fault_report(const uint32_t *frame, uint32_t exc_return,
                                                      uint32_t ipsr) {
    static const char *const names[] = {"?", "?", "NMI", "HardFault", "MemManage",
                                        "BusFault", "UsageFault", "SecureFault"};
    uint32_t n = ipsr & 0x1FFu;
    ek_uart_init();
    ek_uart_puts("\r\nEK FAULT ");
    ek_uart_puts(n < 8 ? names[n] : "IRQ");
    ek_uart_puts(" exc=");
    ek_uart_put_u32(n);
    ek_uart_puts(" pc=0x");
    ek_uart_put_hex32(frame[6]);
    ek_uart_puts(" lr=0x");
    ek_uart_put_hex32(frame[5]);
    ek_uart_puts(" cfsr=0x");
    ek_uart_put_hex32(SCB_CFSR);
    ek_uart_puts(" hfsr=0x");
    ek_uart_put_hex32(SCB_HFSR);
    ek_uart_puts(" bfar=0x");
    ek_uart_put_hex32(SCB_BFAR);
    ek_uart_puts(" exc_return=0x");
    ek_uart_put_hex32(exc_return);
    ek_uart_puts("\r\n");
    int code = EK_EXIT_UNHANDLED_IRQ;
    if (n == 3) code = EK_EXIT_HARDFAULT;
    else if (n == 4) code = EK_EXIT_MEMMANAGE;
    else if (n == 5) code = EK_EXIT_BUSFAULT;
    else if (n == 6) code = EK_EXIT_USAGEFAULT;
    ek_exit(code);
}

/* Pick the stack the faulting code used (MSP or PSP) and hand its frame to C. */
__attribute__((naked)) void ek_fault_entry(void) {
    __asm__ volatile(
        "tst lr, #4\n"
        "ite eq\n"
        "mrseq r0, msp\n"
        "mrsne r0, psp\n"
        "mov r1, lr\n"
        "mrs r2, ipsr\n"
        "b ek_fault_report\n");
}
