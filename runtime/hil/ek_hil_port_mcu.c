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

#ifdef EK_HIL_SEMIHOSTING
/* Emulators (and boards under a debugger) reach host files through semihosting: bulk
 * data at memory speed instead of ~KB/s over the emulated UART. Only compiled in when
 * asked for: on a board without a debugger a semihosting call is a fault. */
int32_t ek_hil_file_read(const char *path, uint8_t *dst, uint32_t n)
{
    int32_t h = ek_sh_open(path, EK_SH_READ_BINARY);
    if (h < 0)
        return -1;
    int32_t got = ek_sh_read(h, dst, n);
    ek_sh_close(h);
    return got;
}

int32_t ek_hil_file_write(const char *path, const uint8_t *src, uint32_t n)
{
    int32_t h = ek_sh_open(path, EK_SH_WRITE_BINARY);
    if (h < 0)
        return -1;
    int32_t put = ek_sh_write(h, src, n);
    return ek_sh_close(h) == 0 ? put : -1;
}
#endif

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
