/* Private helpers of the _dsp kernels (Cortex-M4/M7/M33/M55 DSP extension).
 *
 * The int8 x int8 dot products use SMLAD (two 16x16 MACs per instruction).  The
 * activation side is widened once to int16 with the input offset added ("columns",
 * shared by every output channel); the weight side is widened on the fly with SXTB16,
 * which yields bytes (0,2) and, rotated, (1,3).  So that no repacking is needed, the
 * columns store each group of 4 values in the order x0 x2 x1 x3: then
 *   SMLAD(w02, x02) + SMLAD(w13, x13) = w0x0 + w1x1 + w2x2 + w3x3.
 * Elements past the last whole group of 4 are stored in natural order.
 *
 * Two-pixel column buffers (conv) interleave the pixels per group of 4 so that one
 * pointer walks both: group g of pixel q at [8 g + 4 q], the tail (K % 4 values) of
 * pixel q at [2 k4 + 4 q] (k4 = K rounded down to 4).  A plain column has stride 4.
 */
#ifndef EK_ARM_DSP_H
#define EK_ARM_DSP_H
#include <arm_acle.h>
#include <string.h>

#include "ek_s8.h"

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

/* n int8 values (+offset) -> int16 column in the 0 2 1 3 group order, group g at
 * dst[g * stride] (stride 4: plain column; 8: one pixel of an interleaved pair). */
EK_INLINE void ek_dsp_widen_reordered(const int8_t *src, int16_t *dst, int32_t n, int32_t offset,
                                      int32_t stride) {
    const uint32_t off2 = ((uint32_t)(uint16_t)offset << 16) | (uint16_t)offset;
    int32_t i = 0;
    for (; i + 4 <= n; i += 4, dst += stride) {
        const uint32_t x = ek_ld32(src + i);
        ek_st32(dst, ek_sadd16(ek_sxtb16(x), off2));
        ek_st32(dst + 2, ek_sadd16(ek_sxtb16_ror8(x), off2));
    }
    for (int32_t j = 0; i < n; i++, j++) dst[j] = (int16_t)(src[i] + offset);
}

/* Where element k (of K, k4 = K & ~3) lives in a column of the given group stride. */
EK_INLINE int32_t ek_dsp_col_index(int32_t k, int32_t k4, int32_t stride) {
    static const int8_t perm[4] = {0, 2, 1, 3};
    return k < k4 ? (k >> 2) * stride + perm[k & 3] : (k4 >> 2) * stride + (k - k4);
}

/* acc + dot(w[0..K), col[0..K)) for one int8 row and one reordered int16 column. */
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

/* One group of 4 k of the 2x2 tile: 2 LDR + 4 SXTB16 + 2 LDRD + 8 SMLAD. */
#define EK_DSP_TILE_ASM                                  \
    "ldr %[t0], [%[wa], %[k]]\n"                        \
    "ldr %[t1], [%[wa]], #4\n"                          \
    "ldrd %[t2], %[t3], [%[c]], #16\n"                  \
    "sxtb16 %[t4], %[t1]\n"                             \
    "sxtb16 %[t1], %[t1], ror #8\n"                     \
    "smlad %[a0], %[t4], %[t2], %[a0]\n"                \
    "smlad %[a0], %[t1], %[t3], %[a0]\n"                \
    "sxtb16 %[t5], %[t0]\n"                             \
    "sxtb16 %[t0], %[t0], ror #8\n"                     \
    "smlad %[b0], %[t5], %[t2], %[b0]\n"                \
    "smlad %[b0], %[t0], %[t3], %[b0]\n"                \
    "ldrd %[t2], %[t3], [%[c], #-8]\n"                  \
    "smlad %[a1], %[t4], %[t2], %[a1]\n"                \
    "smlad %[a1], %[t1], %[t3], %[a1]\n"                \
    "smlad %[b1], %[t5], %[t2], %[b1]\n"                \
    "smlad %[b1], %[t0], %[t3], %[b1]\n"

#define EK_DSP_TILE_2X2(a0, b0, a1, b1, wa, c, K)                                            \
    do {                                                                                     \
        const uint32_t va_ = ek_ld32(wa), vb_ = ek_ld32((wa) + (K));                         \
        const uint32_t a02_ = ek_sxtb16(va_), a13_ = ek_sxtb16_ror8(va_);                    \
        const uint32_t b02_ = ek_sxtb16(vb_), b13_ = ek_sxtb16_ror8(vb_);                    \
        const uint32_t *cc_ = (const uint32_t *)(c);                                         \
        a0 = ek_smlad(a02_, cc_[0], a0);                                                     \
        a0 = ek_smlad(a13_, cc_[1], a0);                                                     \
        b0 = ek_smlad(b02_, cc_[0], b0);                                                     \
        b0 = ek_smlad(b13_, cc_[1], b0);                                                     \
        a1 = ek_smlad(a02_, cc_[2], a1);                                                     \
        a1 = ek_smlad(a13_, cc_[3], a1);                                                     \
        b1 = ek_smlad(b02_, cc_[2], b1);                                                     \
        b1 = ek_smlad(b13_, cc_[3], b1);                                                     \
    } while (0)

/* Output stage for the tile kernels. */
#define EK_DSP_STORE(out, acc, oc) \
    (out) = ek_output_stage((acc), multiplier[oc], shift[oc], p->output_offset, p->act_min, p->act_max)

/* The matmul core shared by conv2d and conv1x1: all out_c channels for one pixel (two
 * == 0: `col` is a plain column) or two pixels (two == 1: `col` is an interleaved pair).
 * Weights OHWI rows of K int8.  Inner tile: 2 channels x 2 pixels. */
EK_INLINE void ek_dsp_mat_cols(const ek_conv_s8_params_t *p, int32_t K, const int8_t *weights,
                               const int32_t *bias, const int32_t *multiplier, const int32_t *shift,
                               const int16_t *col, int two, int8_t *out0, int8_t *out1) {
    const int32_t k4 = K & ~3;
    const int16_t *tail0 = col + 2 * k4, *tail1 = tail0 + 4;
    int32_t oc = 0;
    if (two) {
        for (; oc + 2 <= p->out_c; oc += 2) {
            const int8_t *wa = weights + (size_t)oc * K;
            int32_t a0 = bias ? bias[oc] : 0, b0 = bias ? bias[oc + 1] : 0;
            int32_t a1 = a0, b1 = b0;
            const int16_t *c = col;
            int32_t groups = k4 >> 2;
            if (groups & 1) {
                EK_DSP_TILE_2X2(a0, b0, a1, b1, wa, c, K);
                wa += 4;
                c += 8;
            }
            groups >>= 1;
            if (groups) {
                /* GCC 12 spills and splits the LDRDs of this loop: assembly, 2 groups per trip. */
                const int8_t *wend = wa + 8 * groups;
                uint32_t t0, t1, t2, t3, t4, t5;
                __asm__ volatile(
                    "1:\n" EK_DSP_TILE_ASM EK_DSP_TILE_ASM
                    "cmp %[wa], %[wend]\n"
                    "bne 1b\n"
                    : [a0] "+r"(a0), [b0] "+r"(b0), [a1] "+r"(a1), [b1] "+r"(b1), [wa] "+r"(wa), [c] "+r"(c),
                      [t0] "=&r"(t0), [t1] "=&r"(t1), [t2] "=&r"(t2), [t3] "=&r"(t3), [t4] "=&r"(t4),
                      [t5] "=&r"(t5)
                    : [k] "r"(K), [wend] "r"(wend)
                    : "memory", "cc");
            }
            for (int32_t j = 0; j < K - k4; j++) {
                const int32_t wav = wa[j], wbv = wa[K + j];
                a0 += wav * tail0[j];
                b0 += wbv * tail0[j];
                a1 += wav * tail1[j];
                b1 += wbv * tail1[j];
            }
            EK_DSP_STORE(out0[oc], a0, oc);
            EK_DSP_STORE(out0[oc + 1], b0, oc + 1);
            EK_DSP_STORE(out1[oc], a1, oc);
            EK_DSP_STORE(out1[oc + 1], b1, oc + 1);
        }
        if (oc < p->out_c) {  /* odd last channel, two pixels */
            const int8_t *w = weights + (size_t)oc * K;
            int32_t a0 = bias ? bias[oc] : 0, a1 = a0;
            const uint32_t *c = (const uint32_t *)col;
            for (int32_t k = 0; k < k4; k += 4, c += 4) {
                const uint32_t v = ek_ld32(w + k);
                const uint32_t w02 = ek_sxtb16(v), w13 = ek_sxtb16_ror8(v);
                a0 = ek_smlad(w02, c[0], a0);
                a0 = ek_smlad(w13, c[1], a0);
                a1 = ek_smlad(w02, c[2], a1);
                a1 = ek_smlad(w13, c[3], a1);
            }
            for (int32_t j = 0; j < K - k4; j++) {
                a0 += w[k4 + j] * tail0[j];
                a1 += w[k4 + j] * tail1[j];
            }
            EK_DSP_STORE(out0[oc], a0, oc);
            EK_DSP_STORE(out1[oc], a1, oc);
        }
        return;
    }
    for (; oc < p->out_c; oc++) {  /* a lone last pixel */
        const int32_t a0 = ek_dsp_dot_row(weights + (size_t)oc * K, col, K, bias ? bias[oc] : 0);
        EK_DSP_STORE(out0[oc], a0, oc);
    }
}
#endif
