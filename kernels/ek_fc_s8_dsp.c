/* int8 fully connected for Cortex-M DSP: the input row is widened once to int16 (offset
 * added, 0213 order) in scratch; then 4 weight rows at a time are dotted with it
 * (fc4_rows), the remaining 0-3 rows 3 at a time in an inline-assembly loop: per group of 4 k, one LDRD of the input pair and per row LDR + 2 SXTB16
 * + 2 SMLAD (16 instructions for 12 MACs; every weight is used once, so it must be
 * widened once: about 0.75 MAC/instruction is the ceiling of batch-1 FC on this ISA).
 * Scratch: ek_fc_s8_scratch_bytes. */
#include "ek_arm_dsp.h"

#define EK_FC_ROW_ASM(a, w)                      \
    "ldr %[tw], [%[" w "]], #4\n"                \
    "sxtb16 %[tt], %[tw]\n"                      \
    "sxtb16 %[tw], %[tw], ror #8\n"              \
    "smlad %[" a "], %[tt], %[x0], %[" a "]\n"   \
    "smlad %[" a "], %[tw], %[x1], %[" a "]\n"

#define EK_FC_GROUP_ASM                          \
    "ldrd %[x0], %[x1], [%[xc]], #8\n"           \
    EK_FC_ROW_ASM("a0", "w0")                    \
    EK_FC_ROW_ASM("a1", "w1")                    \
    EK_FC_ROW_ASM("a2", "w2")

#define EK_FC_OPERANDS                                                                          \
    : [a0] "+r"(a0), [a1] "+r"(a1), [a2] "+r"(a2), [w0] "+r"(w0), [w1] "+r"(w1), [w2] "+r"(w2), \
      [xc] "+r"(xc), [x0] "=&r"(x0), [x1] "=&r"(x1), [tw] "=&r"(tw), [tt] "=&r"(tt)

/* 4 weight rows at a time (naked: all 14 registers): r0 = row 0 and r1 = row 2 walk
 * their rows (post-indexed), rows 1 and 3 are the same addresses + K (register offset),
 * so 4 rows need 3 registers; r3 walks the widened input, 2 groups (4 words) per LDM;
 * r8-r11 the sums.  Per group and row LDR + 2 SXTB16 + 2 SMLAD; per 4 groups 2 LDM and
 * the loop test: 85 instructions for 64 MACs (the 3-row loop above: 35 for 24). */
typedef struct {
    const int8_t *w;     /*  0: row 0 */
    int32_t K;           /*  4: bytes between rows */
    const int16_t *col;  /*  8: the widened input, group stride 4 */
    int32_t groups;      /* 12: K / 4 (>= 1) */
    int32_t *acc;        /* 16: 4 sums out */
} fc4_job_t;

#define FC4_ROW(acc, addr, xlo, xhi)       \
    "ldr r12, " addr "\n\t"                \
    "sxtb16 lr, r12\n\t"                   \
    "sxtb16 r12, r12, ror #8\n\t"          \
    "smlad " acc ", lr, " xlo ", " acc "\n\t" \
    "smlad " acc ", r12, " xhi ", " acc "\n\t"
#define FC4_GROUP(xlo, xhi)                           \
    FC4_ROW("r9", "[r0, r2]", xlo, xhi)         \
    FC4_ROW("r8", "[r0], #4", xlo, xhi)         \
    FC4_ROW("r11", "[r1, r2]", xlo, xhi)        \
    FC4_ROW("r10", "[r1], #4", xlo, xhi)

__attribute__((naked, noinline)) static void fc4_rows(const fc4_job_t *job) {
    /* stack: [sp] end of the one-at-a-time groups (row 0 address), [sp+4] end of row 0's
     * groups, [sp+8] acc */
    __asm__ volatile(
        "push {r4-r11, lr}\n\t"
        "sub sp, sp, #12\n\t"
        "ldr r1, [r0, #16]\n\t"
        "str r1, [sp, #8]\n\t"
        "ldr r2, [r0, #4]\n\t"
        "ldr r3, [r0, #8]\n\t"
        "ldr r4, [r0, #12]\n\t"
        "ldr r0, [r0]\n\t"
        "and r5, r4, #3\n\t"
        "add r5, r0, r5, lsl #2\n\t"
        "str r5, [sp]\n\t"
        "add r4, r0, r4, lsl #2\n\t"
        "str r4, [sp, #4]\n\t"
        "add r1, r0, r2, lsl #1\n\t"      /* row 2 */
        "movs r8, #0\n\t"
        "movs r9, #0\n\t"
        "mov r10, #0\n\t"
        "mov r11, #0\n\t"
        "cmp r0, r5\n\t"
        "beq 3f\n\t"
        "2:\n\t"
        "ldmia r3!, {r4, r5}\n\t" FC4_GROUP("r4", "r5")
        "ldr r12, [sp]\n\t"
        "cmp r0, r12\n\t"
        "bne 2b\n\t"
        "3:\n\t"
        "ldr r12, [sp, #4]\n\t"
        "cmp r0, r12\n\t"
        "beq 5f\n\t"
        "4:\n\t"
        "ldmia r3!, {r4, r5, r6, r7}\n\t" FC4_GROUP("r4", "r5") FC4_GROUP("r6", "r7")
        "ldmia r3!, {r4, r5, r6, r7}\n\t" FC4_GROUP("r4", "r5") FC4_GROUP("r6", "r7")
        "ldr r12, [sp, #4]\n\t"
        "cmp r0, r12\n\t"
        "bne 4b\n\t"
        "5:\n\t"
        "ldr r12, [sp, #8]\n\t"
        "stmia r12, {r8, r9, r10, r11}\n\t"
        "add sp, sp, #12\n\t"
        "pop {r4-r11, pc}\n\t");
}
#undef FC4_ROW
#undef FC4_GROUP

EK_NOIPA void ek_fc_s8_dsp(const ek_fc_s8_params_t *p, const int8_t *input, const int8_t *weights,
                           const int32_t *bias, const int32_t *multiplier, const int32_t *shift,
                           int8_t *output, void *scratch) {
    const int32_t K = p->in_features, k4 = K & ~3, groups = k4 >> 2;
    const int32_t zp = p->output_offset, lo = p->act_min, hi = p->act_max;
    int16_t *col = (int16_t *)scratch;
    for (int32_t b = 0; b < p->batch; b++) {
        ek_dsp_widen_reordered(input + (size_t)b * K, col, K, p->input_offset, 4);
        int8_t *y = output + (size_t)b * p->out_features;
        int32_t m = 0;
        if (groups) {
            int32_t acc[4];
            fc4_job_t job = {weights, K, col, groups, acc};
            for (; m + 4 <= p->out_features; m += 4) {
                job.w = weights + (size_t)m * K;
                fc4_rows(&job);
                const int16_t *xt = col + k4;
                for (int32_t r = 0; r < 4; r++) {
                    const int8_t *wt = job.w + (size_t)r * K + k4;
                    int32_t a = acc[r] + (bias ? bias[m + r] : 0);
                    for (int32_t j = 0; j < K - k4; j++) a += wt[j] * xt[j];  /* K % 4 tail */
                    y[m + r] = ek_output_stage_dsp(a, multiplier[m + r], shift[m + r], zp, lo, hi);
                }
            }
        }
        for (; m + 3 <= p->out_features; m += 3) {
            const int8_t *w0 = weights + (size_t)m * K, *w1 = w0 + K, *w2 = w1 + K;
            const int16_t *xc = col;
            int32_t a0 = 0, a1 = 0, a2 = 0;
            uint32_t x0, x1, tw, tt;
#ifdef __OPTIMIZE__
            if (groups & 1) __asm__ volatile(EK_FC_GROUP_ASM EK_FC_OPERANDS : : "memory");
            if (groups >> 1) {
                const int8_t *wend = w0 + 8 * (groups >> 1);
                __asm__ volatile("1:\n" EK_FC_GROUP_ASM EK_FC_GROUP_ASM
                                 "ldr %[x0], %[wend]\n"
                                 "cmp %[w0], %[x0]\n"
                                 "bne 1b\n" EK_FC_OPERANDS
                                 : [wend] "m"(wend)
                                 : "memory", "cc");
            }
#else
            (void)x0, (void)x1, (void)tw, (void)tt;
            for (int32_t g = 0; g < groups; g++, w0 += 4, w1 += 4, w2 += 4, xc += 4) {
                const uint32_t c02 = ek_ld32(xc), c13 = ek_ld32(xc + 2);
                const uint32_t v0 = ek_ld32(w0), v1 = ek_ld32(w1), v2 = ek_ld32(w2);
                a0 = ek_smlad(ek_sxtb16_ror8(v0), c13, ek_smlad(ek_sxtb16(v0), c02, a0));
                a1 = ek_smlad(ek_sxtb16_ror8(v1), c13, ek_smlad(ek_sxtb16(v1), c02, a1));
                a2 = ek_smlad(ek_sxtb16_ror8(v2), c13, ek_smlad(ek_sxtb16(v2), c02, a2));
            }
#endif
            for (int32_t j = 0; j < K - k4; j++) {  /* the K % 4 tail, natural order */
                a0 += w0[j] * xc[j];
                a1 += w1[j] * xc[j];
                a2 += w2[j] * xc[j];
            }
            const int32_t acc[3] = {a0, a1, a2};
            for (int32_t r = 0; r < 3; r++)
                y[m + r] = ek_output_stage_dsp(acc[r] + (bias ? bias[m + r] : 0), multiplier[m + r], shift[m + r],
                                               zp, lo, hi);
        }
        for (; m < p->out_features; m++) {
            const int32_t a = ek_dsp_dot_row(weights + (size_t)m * K, col, K, bias ? bias[m] : 0);
            y[m] = ek_output_stage_dsp(a, multiplier[m], shift[m], zp, lo, hi);
        }
    }
}
