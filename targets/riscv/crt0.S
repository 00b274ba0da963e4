/* Bare-metal start for QEMU virt (RV32 or RV64): hart 0 sets gp/sp/mtvec, turns on the
 * FPU and the vector unit (mstatus.FS and VS = Initial; both trap when Off), zeroes .bss
 * and calls main; other harts park. A trap or a return from main exits QEMU through the
 * test finisher with a non-zero code, so a crash never hangs a test. */
    .section .text.init, "ax"
    .globl _start
_start:
    csrr t0, mhartid
    bnez t0, park
.option push
.option norelax
    la gp, __global_pointer$
.option pop
    la sp, __stack_top
    la t0, trap_entry
    csrw mtvec, t0
    li t0, (1 << 13) | (1 << 9)
    csrs mstatus, t0
    csrwi fcsr, 0
    la t0, __bss_start
    la t1, __bss_end
1:  bgeu t0, t1, 2f
    sw zero, 0(t0)
    addi t0, t0, 4
    j 1b
2:  call main
    call ek_rv_exit
park:
    wfi
    j park

    .align 4
trap_entry:
    csrr a0, mcause
    csrr a1, mepc
    call ek_rv_trap
    j park
