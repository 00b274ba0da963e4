/* Private helpers of the _dsp kernels (Cortex-M4/M7/M33/M55 DSP extension).
 *
 * The int8 x int8 dot products use SMLAD (two 16x16 MACs per instruction).  The
 * activation side is widened once to int16 with the input offset added ("columns",
 * shared by every output channel); the weight side is widened on the fly with SXTB16,
 * which yields bytes (0,2) and, rotated, (1,3).  So that no repacking is needed, the
 * columns store each group of 4 values in the order x0 x2 x1 x3: then
 *   SMLAD(w02, x02) + SMLAD(w13, x13) = w0x0 + w1x1 + w2x2 + w3x3.
 *
 * Conv column buffers interleave EK_DSP_NPIX (6) pixels per group of 4 k, so one
 * pointer walks all of them with LDM: group g of pixel q at [EK_DSP_GSTRIDE * g + 4 q]
 * (int16 units); a K % 4 tail is one more group, reordered and zero-padded
 * (ek_dsp_pad_tail).  A plain column (FC) has group stride 4.  The matmul tile
 * (ek_dsp_tile_block, a naked routine that owns all 14 registers) is 1 channel x 6
 * pixels: per group 1 LDR + 2 SXTB16 + 3 LDM + 12 SMLAD = 18 instructions for 24 MACs,
 * and whole tiles are requantized in its registers (~8 instructions per output).
 * Performance currency is QEMU's instruction count (an LDM of 4 words is one
 * instruction); on silicon an LDM of n words takes about n + 1 cycles, like the LDRDs
 * it replaces, so the cycle gain is smaller than the instruction gain.
 */
#ifndef EK_ARM_DSP_H
#define EK_ARM_DSP_H
#include <arm_acle.h>
#include <string.h>

#include "ek_s8.h"

#define EK_DSP_NPIX 6
#define EK_DSP_GSTRIDE (4 * EK_DSP_NPIX) /* int16 per group of a 6-pixel buffer */

EK_INLINE uint32_t ek_ld32(const void *p) {  /* unaligned-safe 32-bit load (LDR on v7-M) */
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}
EK_INLINE void ek_st32(void *p, uint32_t v) { memcpy(p, &v, 4); }

EK_INLINE uint32_t ek_sxtb16(uint32_t x) { return (uint32_t)__sxtb16((int32_t)x); }
EK_INLINE uint32_t ek_sxtb16_ror8(uint32_t x) {  /* GCC 12 has no __ror/ror-form intrinsic */
    uint32_t r;
    __asm__("sxtb16 %0, %1, ror #8" : "=r"(r) : "r"(x));
    return r;
}
EK_INLINE int32_t ek_smlad(uint32_t a, uint32_t b, int32_t acc) {
    return __smlad((int32_t)a, (int32_t)b, acc);
}
EK_INLINE uint32_t ek_sadd16(uint32_t a, uint32_t b) { return (uint32_t)__sadd16((int32_t)a, (int32_t)b); }

/* ek_requant, bit for bit, in a few instructions (t = 31 - shift, P = acc * mult):
 *   shift <= -2 (t >= 33): floor((P + 2^(t-1)) / 2^t) == (floor(P / 2^32) + 2^(u-1)) >> u,
 *     u = t - 32, and floor(P / 2^32) is one SMMUL (|.| <= 2^30: the add cannot overflow);
 *   shift >= -1 (t <= 32): if acc << (shift + 1) fits int32, SMMULR of it is exactly
 *     floor((P * 2^k + 2^31) / 2^32) == floor((P + 2^(t-1)) / 2^t), k = shift + 1;
 *   otherwise the 64-bit reference. */
EK_INLINE int32_t ek_requant_dsp(int32_t acc, int32_t mult, int32_t shift) {
    int32_t r;
    if (shift <= -2) {
        const int32_t u = -1 - shift;
        __asm__("smmul %0, %1, %2" : "=r"(r) : "r"(acc), "r"(mult));
        return (r + (1 << (u - 1))) >> u;
    }
    const int32_t k = shift + 1;
    const int32_t up = (int32_t)((uint32_t)acc << k);
    if ((up >> k) != acc) return ek_requant(acc, mult, shift);
    __asm__("smmulr %0, %1, %2" : "=r"(r) : "r"(up), "r"(mult));
    return r;
}
EK_INLINE int8_t ek_output_stage_dsp(int32_t acc, int32_t mult, int32_t shift, int32_t out_offset,
                                     int32_t act_min, int32_t act_max) {
    return (int8_t)ek_clamp(ek_requant_dsp(acc, mult, shift) + out_offset, act_min, act_max);
}

/* n int8 values (+offset) -> int16 in the 0 2 1 3 group order, group g at
 * dst[g * stride] (stride 4: plain column; EK_DSP_GSTRIDE: one pixel of a 6-pixel
 * buffer).  The tail (n % 4) goes in natural order right after the last group slot. */
EK_INLINE void ek_dsp_widen_reordered(const int8_t *src, int16_t *dst, int32_t n, int32_t offset,
                                      int32_t stride) {
    const uint32_t off2 = ((uint32_t)(uint16_t)offset << 16) | (uint16_t)offset;
    int32_t g = n >> 2;
    if (stride == EK_DSP_GSTRIDE && g) {
        /* 4 instructions per group: LDR, 2 SXTAB16 (sign-extend + add the offset, per
         * halfword), STRD (post-indexed); two groups per trip. */
        uint32_t t0, t1, t2;
#define EK_WIDEN_ASM                               \
    "ldr %[t0], [%[s]], #4\n"                      \
    "sxtab16 %[t1], %[o], %[t0]\n"                 \
    "sxtab16 %[t2], %[o], %[t0], ror #8\n"         \
    "strd %[t1], %[t2], [%[d]], %[st]\n"
        if (g & 1) {
            __asm__ volatile(EK_WIDEN_ASM
                             : [s] "+r"(src), [d] "+r"(dst), [t0] "=&r"(t0), [t1] "=&r"(t1), [t2] "=&r"(t2)
                             : [o] "r"(off2), [st] "i"(2 * EK_DSP_GSTRIDE)
                             : "memory");
        }
        g >>= 1;
        if (g) {
            __asm__ volatile("1:\n" EK_WIDEN_ASM EK_WIDEN_ASM
                             "subs %[g], %[g], #1\n"
                             "bne 1b\n"
                             : [s] "+r"(src), [d] "+r"(dst), [g] "+r"(g), [t0] "=&r"(t0), [t1] "=&r"(t1),
                               [t2] "=&r"(t2)
                             : [o] "r"(off2), [st] "i"(2 * EK_DSP_GSTRIDE)
                             : "memory", "cc");
        }
#undef EK_WIDEN_ASM
    } else {
        for (; g > 0; g--, src += 4, dst += stride) {
            const uint32_t x = ek_ld32(src);
            ek_st32(dst, ek_sadd16(ek_sxtb16(x), off2));
            ek_st32(dst + 2, ek_sadd16(ek_sxtb16_ror8(x), off2));
        }
    }
    for (int32_t j = 0; j < (n & 3); j++) dst[j] = (int16_t)(src[j] + offset);
}

/* `groups` (>= 1) whole groups of 4 int8 (+offset, off2 = offset in both halfwords)
 * into one pixel's slots of a 6-pixel buffer; returns the next slot.  Inlined, so the
 * im2col of an interior pixel makes no calls: 4.5 instructions per group. */
EK_INLINE int16_t *ek_dsp_widen6(const int8_t *src, int16_t *dst, int32_t groups, uint32_t off2) {
    uint32_t t0, t1, t2;
#define EK_WIDEN6_ASM                              \
    "ldr %[t0], [%[s]], #4\n\t"                    \
    "sxtab16 %[t1], %[o], %[t0]\n\t"               \
    "sxtab16 %[t2], %[o], %[t0], ror #8\n\t"       \
    "strd %[t1], %[t2], [%[d]], #48\n\t"
    if (groups & 1) {
        __asm__ volatile(EK_WIDEN6_ASM
                         : [s] "+r"(src), [d] "+r"(dst), [t0] "=&r"(t0), [t1] "=&r"(t1), [t2] "=&r"(t2)
                         : [o] "r"(off2)
                         : "memory");
    }
    if (groups & 2) {
        __asm__ volatile(EK_WIDEN6_ASM EK_WIDEN6_ASM
                         : [s] "+r"(src), [d] "+r"(dst), [t0] "=&r"(t0), [t1] "=&r"(t1), [t2] "=&r"(t2)
                         : [o] "r"(off2)
                         : "memory");
    }
    groups >>= 2;
    if (groups) {
        __asm__ volatile("1:\n\t" EK_WIDEN6_ASM EK_WIDEN6_ASM EK_WIDEN6_ASM EK_WIDEN6_ASM
                         "subs %[g], %[g], #1\n\t"
                         "bne 1b\n\t"
                         : [s] "+r"(src), [d] "+r"(dst), [g] "+r"(groups), [t0] "=&r"(t0), [t1] "=&r"(t1),
                           [t2] "=&r"(t2)
                         : [o] "r"(off2)
                         : "memory", "cc");
    }
#undef EK_WIDEN6_ASM
    return dst;
}

/* Where element k (of K, k4 = K & ~3) lives in a column of the given group stride. */
EK_INLINE int32_t ek_dsp_col_index(int32_t k, int32_t k4, int32_t stride) {
    static const int8_t perm[4] = {0, 2, 1, 3};
    return k < k4 ? (k >> 2) * stride + perm[k & 3] : (k4 >> 2) * stride + (k - k4);
}

/* acc + dot(w[0..K), col[0..K)) for one int8 row and one plain reordered column. */
EK_INLINE int32_t ek_dsp_dot_row(const int8_t *w, const int16_t *col, int32_t K, int32_t acc) {
    const int32_t k4 = K & ~3;
    int32_t k = 0;
    for (; k < k4; k += 4) {
        const uint32_t v = ek_ld32(w + k);
        acc = ek_smlad(ek_sxtb16(v), ek_ld32(col + k), acc);
        acc = ek_smlad(ek_sxtb16_ror8(v), ek_ld32(col + k + 2), acc);
    }
    for (; k < K; k++) acc += w[k] * col[k];
    return acc;
}

/* The 1 channel x 6 pixel tile, for a block of channels, in one hand-scheduled routine
 * (naked: it owns all 14 usable registers, r7 included, whatever the frame-pointer
 * settings of the build).  Per group of 4 k: LDR + 2 SXTB16 + 3 LDM (4 words = 2 pixels'
 * x02,x13) + 12 SMLAD = 18 instructions for 24 MACs; the group loop is unrolled 4x
 * (groups % 4 first, one at a time), so the end test costs 3 per 96 MACs.
 * Registers: r0 weights, r1 column, r2/r3 the SXTB16 halves, r4-r7 LDM, r8-r12 + lr the
 * 6 accumulators (pixel order, so one STM writes them), which start at the bias.
 * Two ways out: acc != NULL stores the 6 sums per channel there; acc == NULL requantizes
 * in registers (ek_requant_dsp's SMMUL case, the zero point folded into the rounding
 * constant: (h + 2^(u-1) + (zp << u)) >> u, exact while u <= 22, see ek_dsp_fast_shifts)
 * and stores the 6 int8 outputs, ~10 instructions each instead of ~17 in C. */
typedef struct {
    const int8_t *w;        /*  0: first channel's row; rows are 4 * groups + w_skip apart */
    const int16_t *col;     /*  4: the 6-pixel interleaved buffer */
    int32_t groups;         /*  8: groups of 4 k (>= 1) */
    int32_t n_chan;         /* 12: channels in this block (>= 1) */
    int32_t w_skip;         /* 16: bytes from a row's last group to the next row */
    int32_t *acc;           /* 20: n_chan x 6 int32 out (pixel-minor), or NULL: requantize */
    const int32_t *bias;    /* 24: this block's first channel (NULL = 0) */
    const int32_t *mult;    /* 28: requantization (acc == NULL only), block's first channel */
    const int32_t *shift;   /* 32 */
    int8_t *out;            /* 36: block's first channel, pixel 0 */
    int32_t rc;             /* 40: 2 * (zp - lo) + 1: rounding + zero point - lo, in units of 2^(u-1) */
    int32_t lo;             /* 44: act_min */
    int32_t span;           /* 48: act_max - act_min (0..255) */
    int32_t out_c;          /* 52: bytes between pixels */
} ek_dsp_tile_job_t;

#define EK_DSP_G1                         \
    "ldr r2, [r0], #4\n\t"                \
    "sxtb16 r3, r2\n\t"                   \
    "sxtb16 r2, r2, ror #8\n\t"           \
    "ldmia r1!, {r4, r5, r6, r7}\n\t"     \
    "smlad r8, r3, r4, r8\n\t"            \
    "smlad r8, r2, r5, r8\n\t"            \
    "smlad r9, r3, r6, r9\n\t"            \
    "smlad r9, r2, r7, r9\n\t"            \
    "ldmia r1!, {r4, r5, r6, r7}\n\t"     \
    "smlad r10, r3, r4, r10\n\t"          \
    "smlad r10, r2, r5, r10\n\t"          \
    "smlad r11, r3, r6, r11\n\t"          \
    "smlad r11, r2, r7, r11\n\t"          \
    "ldmia r1!, {r4, r5, r6, r7}\n\t"     \
    "smlad r12, r3, r4, r12\n\t"          \
    "smlad r12, r2, r5, r12\n\t"          \
    "smlad lr, r3, r6, lr\n\t"            \
    "smlad lr, r2, r7, lr\n\t"

/* r1 = m, r3 = u, r4 = rc << (u-1), r5 = lo, r6 = span: y - lo = (h + r4) >> u exactly
 * (SMMLA: h = floor(acc * m / 2^32) plus r4 in one instruction), USAT #8 clamps it to
 * [0, 255], a compare to [0, span] (skipped when span is 255), and lo goes back on.
 * ek_dsp_fast_shifts keeps u in 1..21, so h + r4 cannot overflow. */
#define EK_DSP_RQ(x)                      \
    "smmla " x ", " x ", r1, r4\n\t"      \
    "asr " x ", " x ", r3\n\t"            \
    "usat " x ", #8, " x "\n\t"           \
    "cmp " x ", r6\n\t"                   \
    "it gt\n\t"                           \
    "movgt " x ", r6\n\t"                 \
    "add " x ", " x ", r5\n\t"
/* span 255 (no activation bounds: lo = -128, act_max = 127): r4 is made (2 zp + 1) << (u-1),
 * so (h + r4) >> u is y itself and SSAT #8 is the whole clamp. */
#define EK_DSP_RQ_FULL(x)                 \
    "smmla " x ", " x ", r1, r4\n\t"      \
    "asr " x ", " x ", r3\n\t"            \
    "ssat " x ", #8, " x "\n\t"
/* act_max == 127 (a fused ReLU): USAT #8 is the lower clamp of y - lo, SSAT #8 after
 * adding lo back the upper one. */
#define EK_DSP_RQ_HI127(x)                \
    "smmla " x ", " x ", r1, r4\n\t"      \
    "asr " x ", " x ", r3\n\t"            \
    "usat " x ", #8, " x "\n\t"           \
    "add " x ", " x ", r5\n\t"            \
    "ssat " x ", #8, " x "\n\t"
#define EK_DSP_ST6                        \
    "strb r8, [r2]\n\t"                   \
    "strb r9, [r2, r7]\n\t"               \
    "add r2, r2, r7, lsl #1\n\t"          \
    "strb r10, [r2]\n\t"                  \
    "strb r11, [r2, r7]\n\t"              \
    "add r2, r2, r7, lsl #1\n\t"          \
    "strb r12, [r2]\n\t"                  \
    "strb lr, [r2, r7]\n\t"

__attribute__((naked, noinline, unused)) static void ek_dsp_tile_block(const ek_dsp_tile_job_t *job) {
    /* stack: [sp] job, [sp+4] channels left, [sp+8] acc cursor, [sp+12] column address
     * where the one-at-a-time groups end, [sp+16] where all groups end (the column
     * pointer advances 48 bytes a group whatever the channel, so the loop ends are set
     * once per call), [sp+20] column start, [sp+24] bias cursor, [sp+28] channel index,
     * [sp+32] w_skip */
    __asm__ volatile(
        "push {r4-r11, lr}\n\t"
        "sub sp, sp, #36\n\t"
        "str r0, [sp]\n\t"
        "ldr r1, [r0, #12]\n\t"
        "str r1, [sp, #4]\n\t"
        "ldr r1, [r0, #20]\n\t"
        "str r1, [sp, #8]\n\t"
        "ldr r1, [r0, #24]\n\t"
        "str r1, [sp, #24]\n\t"
        "ldr r1, [r0, #16]\n\t"
        "str r1, [sp, #32]\n\t"
        "movs r1, #0\n\t"
        "str r1, [sp, #28]\n\t"
        "ldr r1, [r0, #4]\n\t"
        "str r1, [sp, #20]\n\t"
        "ldr r3, [r0, #8]\n\t"
        "and r4, r3, #3\n\t"
        "add r4, r4, r4, lsl #1\n\t"
        "add r4, r1, r4, lsl #4\n\t"
        "str r4, [sp, #12]\n\t"
        "add r3, r3, r3, lsl #1\n\t"
        "add r3, r1, r3, lsl #4\n\t"
        "str r3, [sp, #16]\n\t"
        "ldr r0, [r0]\n\t"
        "1:\n\t"                          /* next channel */
        "ldr r1, [sp, #20]\n\t"
        "ldr r2, [sp, #24]\n\t"
        "movs r3, #0\n\t"
        "cbz r2, 7f\n\t"
        "ldr r3, [r2], #4\n\t"
        "str r2, [sp, #24]\n\t"
        "7:\n\t"
        "mov r8, r3\n\t"
        "mov r9, r3\n\t"
        "mov r10, r3\n\t"
        "mov r11, r3\n\t"
        "mov r12, r3\n\t"
        "mov lr, r3\n\t"
        "ldr r4, [sp, #12]\n\t"
        "cmp r1, r4\n\t"
        "beq 3f\n\t"
        "2:\n\t" EK_DSP_G1            /* groups % 4, one at a time */
        "ldr r4, [sp, #12]\n\t"
        "cmp r1, r4\n\t"
        "bne 2b\n\t"
        "3:\n\t"
        "ldr r4, [sp, #16]\n\t"
        "cmp r1, r4\n\t"
        "beq 5f\n\t"
        "4:\n\t" EK_DSP_G1 EK_DSP_G1 EK_DSP_G1 EK_DSP_G1
        "ldr r4, [sp, #16]\n\t"
        "cmp r1, r4\n\t"
        "bne 4b\n\t"
        "5:\n\t"
        "ldr r2, [sp, #8]\n\t"
        "cbz r2, 8f\n\t"
        "stmia r2!, {r8, r9, r10, r11, r12, lr}\n\t"
        "str r2, [sp, #8]\n\t"
        "b 9f\n\t"
        "8:\n\t"                          /* requantize and store 6 int8 */
        "ldr r2, [sp]\n\t"
        "ldr r7, [sp, #28]\n\t"           /* channel index i */
        "ldr r1, [r2, #28]\n\t"
        "ldr r1, [r1, r7, lsl #2]\n\t"    /* m */
        "ldr r3, [r2, #32]\n\t"
        "ldr r3, [r3, r7, lsl #2]\n\t"
        "mvns r3, r3\n\t"                 /* u = -1 - shift */
        "ldr r4, [r2, #36]\n\t"
        "add r4, r4, r7\n\t"              /* out + i */
        "adds r7, r7, #1\n\t"
        "str r7, [sp, #28]\n\t"
        "add r7, r2, #40\n\t"
        "mov r2, r4\n\t"
        "ldmia r7, {r4, r5, r6, r7}\n\t"  /* rc, lo, span, out_c */
        "lsls r4, r4, r3\n\t"
        "asrs r4, r4, #1\n\t"             /* rc << (u - 1) */
        "cmp r6, #255\n\t"
        "beq 10f\n\t"
        "add r6, r6, r5\n\t"            /* act_max */
        "cmp r6, #127\n\t"
        "beq 11f\n\t"
        "sub r6, r6, r5\n\t"            /* span again */
        EK_DSP_RQ("r8") EK_DSP_RQ("r9") EK_DSP_RQ("r10") EK_DSP_RQ("r11") EK_DSP_RQ("r12") EK_DSP_RQ("lr")
        EK_DSP_ST6
        "b 9f\n\t"
        "10:\n\t"                         /* no activation bounds: r4 += lo << u (2 lo in units of 2^(u-1)) */
        "lsl r6, r5, r3\n\t"
        "add r4, r4, r6\n\t"
        EK_DSP_RQ_FULL("r8") EK_DSP_RQ_FULL("r9") EK_DSP_RQ_FULL("r10") EK_DSP_RQ_FULL("r11")
        EK_DSP_RQ_FULL("r12") EK_DSP_RQ_FULL("lr")
        EK_DSP_ST6
        "b 9f\n\t"
        "11:\n\t"                         /* act_max == 127 */
        EK_DSP_RQ_HI127("r8") EK_DSP_RQ_HI127("r9") EK_DSP_RQ_HI127("r10") EK_DSP_RQ_HI127("r11")
        EK_DSP_RQ_HI127("r12") EK_DSP_RQ_HI127("lr")
        EK_DSP_ST6
        "9:\n\t"
        "ldr r2, [sp, #32]\n\t"
        "add r0, r0, r2\n\t"
        "ldr r2, [sp, #4]\n\t"
        "subs r2, r2, #1\n\t"
        "str r2, [sp, #4]\n\t"
        "bne 1b\n\t"
        "add sp, sp, #36\n\t"
        "pop {r4-r11, pc}\n\t");
}
#undef EK_DSP_G1
#undef EK_DSP_RQ
#undef EK_DSP_RQ_FULL
#undef EK_DSP_RQ_HI127
#undef EK_DSP_ST6

/* 1 when every channel's shift suits the in-register requantization (u = -1 - shift in
 * 1..21: the SMMUL path of ek_requant_dsp, and |h| + |rc << (u-1)| < 2^30 + 2^29). */
EK_INLINE int32_t ek_dsp_fast_shifts(const int32_t *shift, int32_t n) {
    for (int32_t i = 0; i < n; i++)
        if (shift[i] > -2 || shift[i] < -22) return 0;
    return 1;
}

#define EK_DSP_BLOCK 8  /* channels per ek_dsp_tile_block call: 8 x 6 int32 on the stack */
#define EK_DSP_ROW_MAX 256 /* K up to which a K % 4 != 0 last weight row is padded on the stack */

/* Rewrites the K % 4 tail of a column (natural order at `tail_slot`) as one more
 * reordered group, zero-padded, so that the tile treats it as a whole group. */
EK_INLINE void ek_dsp_pad_tail(int16_t *tail_slot, int32_t tail) {
    int16_t v[4] = {0, 0, 0, 0};
    for (int32_t j = 0; j < tail; j++) v[j] = tail_slot[j];
    tail_slot[0] = v[0];
    tail_slot[1] = v[2];
    tail_slot[2] = v[1];
    tail_slot[3] = v[3];
}

/* All out_c channels for n (1..6) consecutive pixels held in the 6-pixel buffer `col`;
 * pixel q's outputs at out + q * out_c.  `fast`: ek_dsp_fast_shifts of all channels
 * (whole tiles are then requantized inside the tile routine).  When K % 4 != 0 the
 * column's tail must be a zero-padded reordered group (ek_dsp_pad_tail): the tile reads
 * it with the next 4-byte word of each weight row, whose bytes past K meet zeros.  The
 * very last row has no next row to borrow from (an over-read past the weights): a
 * zero-padded copy of it goes through the tile (K <= EK_DSP_ROW_MAX), else its tail is
 * done in C. */
EK_INLINE void ek_dsp_mat_cols(const ek_conv_s8_params_t *p, int32_t K, const int8_t *weights,
                               const int32_t *bias, const int32_t *multiplier, const int32_t *shift,
                               const int16_t *col, int32_t n, int8_t *out, int32_t fast) {
    const int32_t k4 = K & ~3, groups = k4 >> 2, tail = K - k4;
    const int16_t *tails = col + EK_DSP_GSTRIDE * groups;
    const int32_t out_c = p->out_c, zp = p->output_offset, lo = p->act_min, hi = p->act_max;
    const int32_t in_regs = fast && n == EK_DSP_NPIX;
    int32_t acc[EK_DSP_BLOCK * EK_DSP_NPIX];
    /* with a tail: one more (padded) group, and the row pointer steps back 4 - tail */
    ek_dsp_tile_job_t job = {weights, col, groups + (tail != 0), 0, tail ? tail - 4 : 0, acc,
                             bias, multiplier, shift, out, 2 * (zp - lo) + 1, lo, hi - lo, out_c};
    /* requantizing in registers needs no acc buffer: all channels in one call */
    const int32_t block = in_regs ? out_c : EK_DSP_BLOCK;
    for (int32_t oc0 = 0; oc0 < out_c; oc0 += block) {
        const int32_t nb = out_c - oc0 < block ? out_c - oc0 : block;
        const int32_t last_tail = tail && oc0 + nb == out_c;  /* last row: tail in C */
        job.w = weights + (size_t)oc0 * K;
        job.n_chan = nb - last_tail;
        job.acc = in_regs ? (int32_t *)0 : acc;
        job.bias = bias ? bias + oc0 : bias;
        job.mult = multiplier + oc0;
        job.shift = shift + oc0;
        job.out = out + oc0;
        if (job.n_chan && job.groups) ek_dsp_tile_block(&job);
        int32_t j0 = in_regs ? nb - last_tail : 0;  /* channels still to requantize in C */
        if (last_tail && K <= EK_DSP_ROW_MAX) {
            /* the last row, copied and zero-padded to whole groups, through the tile too */
            int8_t row[EK_DSP_ROW_MAX + 4];
            const int8_t *src = weights + (size_t)(out_c - 1) * K;
            int32_t e = 0;
            for (; e + 4 <= K; e += 4) ek_st32(row + e, ek_ld32(src + e));
            for (; e < K; e++) row[e] = src[e];
            for (; e & 3; e++) row[e] = 0;
            ek_dsp_tile_job_t one = job;
            one.w = row;
            one.n_chan = 1;
            one.acc = in_regs ? (int32_t *)0 : acc + EK_DSP_NPIX * (nb - 1);
            one.bias = bias ? bias + out_c - 1 : bias;
            one.mult = multiplier + out_c - 1;
            one.shift = shift + out_c - 1;
            one.out = out + out_c - 1;
            ek_dsp_tile_block(&one);
            if (in_regs) j0 = nb;
        } else if (last_tail) {
            const int32_t oc = out_c - 1;
            int32_t *a = acc + EK_DSP_NPIX * (in_regs ? 0 : nb - 1);
            const int32_t b = bias ? bias[oc] : 0;
            if (groups) {
                ek_dsp_tile_job_t one = {weights + (size_t)oc * K, col, groups, 1, 0, a, bias ? bias + oc : bias};
                ek_dsp_tile_block(&one);
            } else {
                for (int32_t q = 0; q < EK_DSP_NPIX; q++) a[q] = b;
            }
            static const int8_t perm[4] = {0, 2, 1, 3};
            const int8_t *wt = weights + (size_t)oc * K + k4;
            for (int32_t t = 0; t < tail; t++)
                for (int32_t q = 0; q < EK_DSP_NPIX; q++) a[q] += wt[t] * tails[4 * q + perm[t]];
        } else if (!job.groups) {  /* K == 0 cannot happen; keeps the tile's groups >= 1 */
            continue;
        }
        for (int32_t j = j0; j < nb; j++) {
            const int32_t oc = oc0 + j;
            const int32_t *a = acc + EK_DSP_NPIX * (j - j0);  /* bias included */
            const int32_t m = multiplier[oc], s = shift[oc];
            int8_t *yq = out + oc;
            for (int32_t q = 0; q < n; q++, yq += out_c) *yq = ek_output_stage_dsp(a[q], m, s, zp, lo, hi);
        }
    }
}
#endif
