/* Bare-metal platform for QEMU virt RISC-V: 16550 UART output, exit through the SiFive
 * test finisher, retired-instruction counter, a bump allocator over the free RAM. */
#ifndef EK_RV_PLATFORM_H
#define EK_RV_PLATFORM_H
#include <stddef.h>
#include <stdint.h>

void ek_rv_putc(char c);
void ek_rv_puts(const char *s);
void ek_rv_put_u64(uint64_t v);          /* decimal */
void ek_rv_put_hex32(uint32_t v);        /* 8 hex digits */
void ek_rv_exit(int code) __attribute__((noreturn));
uint64_t ek_rv_instret(void);            /* minstret: exact under qemu -icount shift=0 */
void *ek_rv_alloc(size_t bytes);         /* 64-byte aligned, never freed (test drivers) */
#endif
