/* Cortex-M port of the rig: the board's UART (runtime/platform) and its SysTick clock.
 * Runs unchanged on QEMU's MPS2/MPS3 models and on real boards whose platform layer
 * provides the same ek_uart_* / ek_clock_* functions. */
#include "ek_hil.h"
#include "ek_platform.h"

#ifndef EK_ICOUNT_SHIFT
#define EK_ICOUNT_SHIFT 0
#endif

int ek_hil_getc(void) { return ek_uart_getc(); }
void ek_hil_putc(uint8_t c) { ek_uart_putc(c); }
void ek_hil_flush(void) {} /* the UART has no buffer of ours to push */

uint64_t ek_hil_counter(void) { return ek_clock_instructions(); }

uint8_t ek_hil_counter_unit(void)
{
    /* Under QEMU -icount the SysTick ticks convert exactly to instructions; on silicon
     * they are core cycles. */
    return EK_ICOUNT_SHIFT >= 0 ? EK_HIL_UNIT_INSTRUCTIONS : EK_HIL_UNIT_CYCLES;
}

/* RAM is re-initialised at boot, so the boot count is unknown here; the host detects a
 * reboot through the session token instead (a command answered EK_HIL_E_NO_SESSION). */
uint32_t ek_hil_boot_count(void) { return 0u; }

void ek_hil_reboot(void)
{
    /* SCB->AIRCR = VECTKEY | SYSRESETREQ: a system reset (QEMU reloads the image). */
    *(volatile uint32_t *)0xE000ED0Cu = 0x05FA0004u;
    for (;;) {
    }
}

int main(void)
{
    ek_clock_start(); /* once: the server reads differences of a free-running count */
    ek_hil_serve();
    return 0;
}
