/* Cortex-M startup for edgesdk firmware: the vector table and the reset handler.
 * Reset: set up the stack limit (v8-M), enable the FPU (and MVE on v8.1-M: both are the
 * CP10/CP11 bits of CPACR), copy .data from flash, zero .bss, init the UART, run main,
 * and exit (semihosting) with main's return value.  Faults print and exit non-zero
 * (runtime/platform/ek_faults.c). */
#include <stdint.h>

#include "ek_platform.h"

extern uint32_t __data_load__, __data_start__, __data_end__, __bss_start__, __bss_end__;
extern uint32_t __stack_top__, __stack_limit__;
extern int main(void);
void ek_fault_entry(void);
void SysTick_Handler(void);

#define SCB_CPACR (*(volatile uint32_t *)0xE000ED88u)
#define SCB_VTOR (*(volatile uint32_t *)0xE000ED08u)
#define SCB_SHCSR (*(volatile uint32_t *)0xE000ED24u)
#define SCB_CCR (*(volatile uint32_t *)0xE000ED14u)

__attribute__((noreturn)) void Reset_Handler(void);

/* Newlib-free libc hooks some objects may still reference (abort on assert, etc.). */
__attribute__((weak, noreturn)) void abort(void) { ek_exit(EK_EXIT_UNHANDLED_IRQ); }

static void default_irq(void) { ek_fault_entry(); }

/* 16 system exceptions + 32 external IRQs (all reported as an unexpected interrupt). */
typedef void (*vector_t)(void);
__attribute__((section(".vectors"), used)) const vector_t ek_vector_table[16 + 32] = {
    (vector_t)&__stack_top__,
    Reset_Handler,
    ek_fault_entry,  /* NMI */
    ek_fault_entry,  /* HardFault */
    ek_fault_entry,  /* MemManage */
    ek_fault_entry,  /* BusFault */
    ek_fault_entry,  /* UsageFault */
    ek_fault_entry,  /* SecureFault (v8-M) */
    0, 0, 0,
    default_irq,     /* SVCall */
    default_irq,     /* DebugMonitor */
    0,
    default_irq,     /* PendSV */
    SysTick_Handler,
    [16 ... 47] = default_irq,
};

void Reset_Handler(void) {
#if defined(__ARM_ARCH_8M_MAIN__) || defined(__ARM_ARCH_8_1M_MAIN__) || (__ARM_ARCH >= 8)
    /* Hardware stack-overflow check: a push below the stack section is a UsageFault. */
    __asm__ volatile("msr msplim, %0" ::"r"(&__stack_limit__));
#endif
    SCB_VTOR = (uint32_t)(uintptr_t)ek_vector_table;
#if defined(__ARM_FP) || defined(__ARM_FEATURE_MVE)
    SCB_CPACR |= (0xFu << 20);  /* CP10 + CP11 full access: FPU, and MVE on the M55 */
    __asm__ volatile("dsb\n isb" ::: "memory");
#endif
    /* Separate MemManage/BusFault/UsageFault handlers name the fault precisely. */
    SCB_SHCSR |= (7u << 16);
    SCB_CCR |= (1u << 4);  /* DIV_0_TRP: an integer division by zero faults */

    uint32_t *src = &__data_load__;
    for (uint32_t *dst = &__data_start__; dst < &__data_end__;) *dst++ = *src++;
    for (uint32_t *dst = &__bss_start__; dst < &__bss_end__;) *dst++ = 0u;

    ek_uart_init();
    int rc = main();
    ek_exit(rc);
}
