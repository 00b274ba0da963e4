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
 * pointer walks all of them with LDRD at fixed offsets: group g of pixel q at
 * [EK_DSP_GSTRIDE * g + 4 q] (int16 units); the tail (K % 4 values) of pixel q at
 * [EK_DSP_GSTRIDE * k4 / 4 + 4 q] (k4 = K rounded down to 4).  A plain column (FC) has
 * group stride 4.  The matmul tile is 1 channel x 6 pixels: per group 1 LDR + 2 SXTB16
 * + 6 LDRD + 12 SMLAD = 21 instructions for 24 MACs, in 13 registers (no spills).
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
        /* 6 instructions per group: LDR, 2 SXTB16, 2 SADD16, STRD (post-indexed); two
         * groups per trip. */
        uint32_t t0, t1, t2;
#define EK_WIDEN_ASM                               \
    "ldr %[t0], [%[s]], #4\n"                      \
    "sxtb16 %[t1], %[t0]\n"                        \
    "sxtb16 %[t2], %[t0], ror #8\n"                \
    "sadd16 %[t1], %[t1], %[o]\n"                  \
    "sadd16 %[t2], %[t2], %[o]\n"                  \
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

/* One group of the 1x6 tile; c walks the 6-pixel buffer (48 bytes per group). */
#define EK_DSP_TILE_ASM                                  \
    "ldr %[w], [%[wa]], #4\n"                            \
    "ldrd %[x0], %[x1], [%[c]], #48\n"                   \
    "sxtb16 %[t], %[w]\n"                                \
    "sxtb16 %[w], %[w], ror #8\n"                        \
    "smlad %[a0], %[t], %[x0], %[a0]\n"                  \
    "smlad %[a0], %[w], %[x1], %[a0]\n"                  \
    "ldrd %[x0], %[x1], [%[c], #-40]\n"                  \
    "smlad %[a1], %[t], %[x0], %[a1]\n"                  \
    "smlad %[a1], %[w], %[x1], %[a1]\n"                  \
    "ldrd %[x0], %[x1], [%[c], #-32]\n"                  \
    "smlad %[a2], %[t], %[x0], %[a2]\n"                  \
    "smlad %[a2], %[w], %[x1], %[a2]\n"                  \
    "ldrd %[x0], %[x1], [%[c], #-24]\n"                  \
    "smlad %[a3], %[t], %[x0], %[a3]\n"                  \
    "smlad %[a3], %[w], %[x1], %[a3]\n"                  \
    "ldrd %[x0], %[x1], [%[c], #-16]\n"                  \
    "smlad %[a4], %[t], %[x0], %[a4]\n"                  \
    "smlad %[a4], %[w], %[x1], %[a4]\n"                  \
    "ldrd %[x0], %[x1], [%[c], #-8]\n"                   \
    "smlad %[a5], %[t], %[x0], %[a5]\n"                  \
    "smlad %[a5], %[w], %[x1], %[a5]\n"

#define EK_DSP_TILE_OPERANDS                                                                       \
    : [a0] "+r"(a0), [a1] "+r"(a1), [a2] "+r"(a2), [a3] "+r"(a3), [a4] "+r"(a4),                   \
      [a5] "+r"(a5), [wa] "+r"(wa), [c] "+r"(c), [w] "=&r"(tw), [t] "=&r"(tt), [x0] "=&r"(x0),   \
      [x1] "=&r"(x1)

/* All out_c channels for n (1..6) consecutive pixels held in the 6-pixel buffer `col`;
 * pixel q's outputs at out + q * out_c. */
EK_INLINE void ek_dsp_mat_cols(const ek_conv_s8_params_t *p, int32_t K, const int8_t *weights,
                               const int32_t *bias, const int32_t *multiplier, const int32_t *shift,
                               const int16_t *col, int32_t n, int8_t *out) {
    const int32_t k4 = K & ~3, groups = k4 >> 2, tail = K - k4;
    const int16_t *tails = col + EK_DSP_GSTRIDE * groups;
    const int32_t out_c = p->out_c;
    for (int32_t oc = 0; oc < out_c; oc++) {
        const int8_t *wa = weights + (size_t)oc * K;
        const int16_t *c = col;
        int32_t a0 = 0, a1 = 0, a2 = 0, a3 = 0, a4 = 0, a5 = 0;
        uint32_t tw, tt, x0, x1;
#ifdef __OPTIMIZE__
        if (groups & 1) {
            __asm__ volatile(EK_DSP_TILE_ASM EK_DSP_TILE_OPERANDS : : "memory");
        }
        if (groups >> 1) {
            /* The end pointer stays in memory: with it in a register the asm needs 13,
             * more than GCC can give when r7 is the frame pointer (some M55 builds). */
            const int8_t *wend = wa + 8 * (groups >> 1);
            __asm__ volatile("1:\n" EK_DSP_TILE_ASM EK_DSP_TILE_ASM
                             "ldr %[x0], %[wend]\n"
                             "cmp %[wa], %[x0]\n"
                             "bne 1b\n" EK_DSP_TILE_OPERANDS
                             : [wend] "m"(wend)
                             : "memory", "cc");
        }
#else
        /* -O0 cannot give the assembly its 12 registers: the same tile in C. */
        (void)tw, (void)tt, (void)x0, (void)x1;
        for (int32_t g = 0; g < groups; g++, wa += 4, c += EK_DSP_GSTRIDE) {
            const uint32_t v = ek_ld32(wa), w02 = ek_sxtb16(v), w13 = ek_sxtb16_ror8(v);
            const uint32_t *cw = (const uint32_t *)c;
            a0 = ek_smlad(w13, cw[1], ek_smlad(w02, cw[0], a0));
            a1 = ek_smlad(w13, cw[3], ek_smlad(w02, cw[2], a1));
            a2 = ek_smlad(w13, cw[5], ek_smlad(w02, cw[4], a2));
            a3 = ek_smlad(w13, cw[7], ek_smlad(w02, cw[6], a3));
            a4 = ek_smlad(w13, cw[9], ek_smlad(w02, cw[8], a4));
            a5 = ek_smlad(w13, cw[11], ek_smlad(w02, cw[10], a5));
        }
#endif
        for (int32_t j = 0; j < tail; j++) {
            const int32_t wv = wa[j];
            a0 += wv * tails[j];
            a1 += wv * tails[4 + j];
            a2 += wv * tails[8 + j];
            a3 += wv * tails[12 + j];
            a4 += wv * tails[16 + j];
            a5 += wv * tails[20 + j];
        }
        const int32_t b = bias ? bias[oc] : 0, m = multiplier[oc], s = shift[oc];
        const int32_t zp = p->output_offset, lo = p->act_min, hi = p->act_max;
        int8_t *y = out + oc;
        if (s <= -2) {
            /* ek_requant_dsp's fast case, with the per-channel constants hoisted */
            const int32_t u = -1 - s, r = 1 << (u - 1);
#define EK_DSP_OUT(q, aq)                                                          \
            do {                                                                   \
                int32_t h_;                                                        \
                __asm__("smmul %0, %1, %2" : "=r"(h_) : "r"(aq + b), "r"(m));      \
                *yq = (int8_t)ek_clamp(((h_ + r) >> u) + zp, lo, hi);              \
                yq += out_c;                                                       \
            } while (0)
            int8_t *yq = y;
            if (n == EK_DSP_NPIX) {  /* the usual whole tile: no per-output checks */
                EK_DSP_OUT(0, a0);
                EK_DSP_OUT(1, a1);
                EK_DSP_OUT(2, a2);
                EK_DSP_OUT(3, a3);
                EK_DSP_OUT(4, a4);
                EK_DSP_OUT(5, a5);
                continue;
            }
            const int32_t acc6[EK_DSP_NPIX] = {a0, a1, a2, a3, a4, a5};
            for (int32_t q = 0; q < n; q++) EK_DSP_OUT(q, acc6[q]);
#undef EK_DSP_OUT
            continue;
        }
#define EK_DSP_OUT(q, aq) \
        if (n > q) y[(size_t)q * out_c] = ek_output_stage(aq + b, m, s, zp, lo, hi)
        EK_DSP_OUT(0, a0);
        EK_DSP_OUT(1, a1);
        EK_DSP_OUT(2, a2);
        EK_DSP_OUT(3, a3);
        EK_DSP_OUT(4, a4);
        EK_DSP_OUT(5, a5);
#undef EK_DSP_OUT
    }
}
#endif
