/* The bare-metal Cortex-M platform layer: UART, instruction/cycle clock, semihosting
 * exit and file I/O.  Used by generated firmware, the host-in-the-loop firmware, the
 * kernel checker and the benchmarks.  No allocation, no libc needed.
 *
 * Build-time configuration (edgesdk.package.arm.compile_firmware passes these from the
 * board yaml; the defaults are the mps2 boards):
 *   EK_UART_BASE     UART base address                (board: uart.base)
 *   EK_UART_BAUDDIV  CMSDK BAUDDIV (clock / baud)     (board: clock_hz / serial.baud)
 *   EK_UART_STM32    set for uart.kind stm32-usart: ek_uart_stm32.c replaces the CMSDK
 *                    driver (EK_UART_BRR = uart.clock_hz / serial.baud; pins/clocks
 *                    EK_STM32_*, defaults NUCLEO-F746ZG USART3 on PD8/PD9)
 *   EK_CPU_HZ        SysTick clock, Hz                (board: clock_hz)
 *   EK_ICOUNT_SHIFT  QEMU -icount shift=N, or -1 on real silicon (the clock then counts
 *                    cycles instead of instructions)
 *   EK_SEMIHOSTING   1 under QEMU; 0 for real boards (no debugger: ek_exit parks the core,
 *                    ek_sh_* return -1)
 */
#ifndef EK_PLATFORM_H
#define EK_PLATFORM_H
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- UART (ek_uart_cmsdk.c or ek_uart_stm32.c; strings/numbers: ek_uart_format.c) ---- */
void ek_uart_init(void);                          /* idempotent; startup calls it */
void ek_uart_putc(uint8_t c);                     /* blocks while TX is full */
void ek_uart_write(const void *buf, size_t n);
void ek_uart_puts(const char *s);                 /* no newline added */
int ek_uart_rx_ready(void);                       /* 1 if a byte is waiting */
uint8_t ek_uart_getc(void);                       /* blocks until a byte arrives */
void ek_uart_read(void *buf, size_t n);           /* blocks until n bytes arrived */
/* Small formatters (no printf on the device). */
void ek_uart_put_u32(uint32_t v);                 /* decimal */
void ek_uart_put_i32(int32_t v);
void ek_uart_put_u64(uint64_t v);
void ek_uart_put_hex32(uint32_t v);               /* 8 hex digits, no prefix */

/* ---- clock: SysTick, extended to 64 bits by counting reloads in its interrupt ----
 * ek_clock_start() re-arms the counter (call it before each measurement); the readers
 * return what elapsed since.  Under QEMU -icount shift=N every instruction takes 2^N ns,
 * so instructions = ticks * 1e9 / (2^N * EK_CPU_HZ): exact up to one tick
 * (1e9 / (2^N * EK_CPU_HZ) instructions, 40 at 25 MHz with shift=0). */
void ek_clock_start(void);
uint64_t ek_clock_ticks(void);
uint64_t ek_clock_instructions(void);             /* ticks converted; cycles on silicon */
uint32_t ek_clock_instructions_per_tick(void);    /* resolution of the above (rounded) */

/* ---- exit and semihosting (needs a debugger or QEMU -semihosting) ---- */
void ek_exit(int code) __attribute__((noreturn)); /* SYS_EXIT_EXTENDED; spins if ignored */
enum { EK_SH_READ_BINARY = 1, EK_SH_WRITE_BINARY = 5, EK_SH_APPEND_BINARY = 9 };
int32_t ek_sh_open(const char *path, int32_t mode);          /* handle, or -1 */
int32_t ek_sh_close(int32_t handle);
int32_t ek_sh_read(int32_t handle, void *buf, uint32_t n);    /* bytes read */
int32_t ek_sh_write(int32_t handle, const void *buf, uint32_t n); /* bytes written */
int32_t ek_sh_flen(int32_t handle);                           /* file length or -1 */
void ek_sh_write0(const char *s);                             /* to the debugger console */

/* Exit codes of the fault handlers (firmware's own codes stay below 100). */
enum {
    EK_EXIT_HARDFAULT = 103, EK_EXIT_MEMMANAGE = 104, EK_EXIT_BUSFAULT = 105,
    EK_EXIT_USAGEFAULT = 106, EK_EXIT_UNHANDLED_IRQ = 107, EK_EXIT_STACK_OVERFLOW = 108,
};

#ifdef __cplusplus
}
#endif
#endif
