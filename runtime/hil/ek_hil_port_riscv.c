/* RISC-V bare-metal port of the rig (QEMU virt and boards like it): the 16550 UART at
 * 0x10000000 polled for bytes, minstret as the counter, the SiFive test device
 * ("finisher", 0x100000) for a real reset. Linked with targets/riscv/crt0.S + platform.c
 * (edgesdk.package.riscv.compile_baremetal), which provide _start, ek_rv_putc and
 * ek_rv_instret.
 *
 * No semihosting here: inputs and outputs stream over the UART (a Fashion-MNIST image is
 * 3 KB, well under a second), so the server reports no EK_HIL_CAP_FILES. */
#include "ek_hil.h"
#include "ek_rv_platform.h"

#ifndef EK_RV_UART_BASE
#define EK_RV_UART_BASE 0x10000000u
#endif
#ifndef EK_RV_FINISHER_BASE
#define EK_RV_FINISHER_BASE 0x00100000u
#endif

#define UART ((volatile uint8_t *)EK_RV_UART_BASE)
#define UART_RBR 0 /* receive buffer (read) */
#define UART_FCR 2 /* FIFO control (write) */
#define UART_LSR 5 /* line status: bit 0 data ready */
#define LSR_DATA_READY 0x01u
#define FINISHER_RESET 0x7777u /* sifive_test: system reset (QEMU reloads the image) */

int ek_hil_getc(void)
{
    /* Busy-polls: the server has nothing else to do, and a wfi would need the PLIC set
     * up. Under -icount the poll loop counts instructions, but the counter is only read
     * around ek_model_run, so runs are unaffected. */
    while (!(UART[UART_LSR] & LSR_DATA_READY)) {
    }
    return UART[UART_RBR];
}

void ek_hil_putc(uint8_t c) { ek_rv_putc((char)c); } /* waits for THR empty */
void ek_hil_flush(void) {}                         /* nothing of ours is buffered */

uint64_t ek_hil_counter(void) { return ek_rv_instret(); }

/* minstret retires one per instruction: exact under QEMU -icount shift=0 and on silicon
 * alike (it is never a cycle count). */
uint8_t ek_hil_counter_unit(void) { return EK_HIL_UNIT_INSTRUCTIONS; }

/* RAM is reloaded with the image on reset, so no count survives; the host detects a
 * reboot through the session token (a command answered EK_HIL_E_NO_SESSION). */
uint32_t ek_hil_boot_count(void) { return 0u; }

void ek_hil_reboot(void)
{
    /* A system reset through the test device: QEMU reloads the ELF (fresh .data/.bss)
     * and starts again at _start. Were the device absent (the store has no effect), jump
     * to _start instead: crt0 re-zeroes .bss and the server's state lives there. */
    *(volatile uint32_t *)EK_RV_FINISHER_BASE = FINISHER_RESET;
    extern void _start(void);
    __asm__ volatile("fence" ::: "memory");
    _start();
}

/* The server needs strlen and targets/riscv/platform.c (memcpy/memset/memmove) has none.
 * The volatile read keeps clang from turning this loop back into a call to strlen. */
size_t strlen(const char *s)
{
    const volatile char *p = s;
    while (*p)
        p++;
    return (size_t)(p - s);
}

int main(void)
{
    UART[UART_FCR] = 0x07u; /* enable and clear the FIFOs: 16 bytes of slack on receive */
    ek_hil_serve();
    return 0;
}
