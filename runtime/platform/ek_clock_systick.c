/* Instruction (QEMU -icount) or cycle (silicon) clock from SysTick.
 * DWT CYCCNT is not emulated by QEMU, SysTick is: with CLKSOURCE=1 it runs at the core
 * clock, and under -icount shift=N each instruction is 2^N ns of virtual time.  SysTick
 * is only 24 bits, so its interrupt counts reloads and long runs are measured exactly. */
#include "ek_platform.h"

#ifndef EK_CPU_HZ
#define EK_CPU_HZ 25000000u
#endif
#ifndef EK_ICOUNT_SHIFT
#define EK_ICOUNT_SHIFT 0
#endif

#define SYST_CSR (*(volatile uint32_t *)0xE000E010u)
#define SYST_RVR (*(volatile uint32_t *)0xE000E014u)
#define SYST_CVR (*(volatile uint32_t *)0xE000E018u)
/* Overridable so that a test can force many wraps in a short run. */
#ifndef EK_SYSTICK_RELOAD
#define EK_SYSTICK_RELOAD 0x00FFFFFFu
#endif
#define SYST_RELOAD ((uint32_t)(EK_SYSTICK_RELOAD))

static volatile uint32_t g_reloads;

void SysTick_Handler(void) { g_reloads++; }

void ek_clock_start(void) {
    SYST_CSR = 0u;
    SYST_RVR = SYST_RELOAD;
    SYST_CVR = 0u;          /* any write clears the counter and COUNTFLAG */
    g_reloads = 0u;
    SYST_CSR = 7u;          /* ENABLE | TICKINT | CLKSOURCE=core clock */
}

uint64_t ek_clock_ticks(void) {
    uint32_t n, v;
    /* Re-read if the reload interrupt ran between the two reads.  (Call from thread mode
     * with interrupts enabled: a wrap is then counted the moment it happens.) */
    do {
        n = g_reloads;
        v = SYST_CVR;
    } while (n != g_reloads);
    /* After start the counter is 0; the first tick loads RELOAD, and it reaches 0 again
     * (the interrupt) after RELOAD + 1 ticks.  So a reading v != 0 is RELOAD + 1 - v ticks
     * into the current period; v == 0 is the start of a period. */
    return (uint64_t)n * (SYST_RELOAD + 1u) + (v ? (uint64_t)(SYST_RELOAD + 1u - v) : 0u);
}

uint64_t ek_clock_instructions(void) {
#if EK_ICOUNT_SHIFT >= 0
    /* instructions = ticks * 1e9 / (2^N * f) */
    return ek_clock_ticks() * 1000000000ull / ((uint64_t)EK_CPU_HZ << EK_ICOUNT_SHIFT);
#else
    return ek_clock_ticks();  /* silicon: core cycles */
#endif
}

uint32_t ek_clock_instructions_per_tick(void) {
#if EK_ICOUNT_SHIFT >= 0
    return (uint32_t)((1000000000ull + ((uint64_t)EK_CPU_HZ << EK_ICOUNT_SHIFT) / 2) /
                      ((uint64_t)EK_CPU_HZ << EK_ICOUNT_SHIFT));
#else
    return 1u;
#endif
}
